"""The NUTS path on the bundled simulated review.

Modes (one process each, run by run.py; ``PYTENSOR_FLAGS=base_compiledir=<fresh dir>`` for cold):

- ``fast``: what ``bayesmeta reproduce --engine nuts`` runs (``analyse_review(engine="nuts")``,
  without writing the report): random effects for every outcome (``MultiOutcome``) and every
  meta-regression of the review (``org_support_higher`` where estimable, the three indicators
  where estimable) as ONE joint model (``bayesmeta.models.joint.JointFit``): one compilation,
  one sampling run; default draws (4 chains x 1000 + 1000 tuning), log-likelihood, posterior
  predictive, diagnostics per fit, the checks and tables of the review and
  ``convergence_problems()``. Reports each step (wall and CPU seconds): compile, sampling, the
  rest of the joint fit (per-fit results and diagnostics), the review's other stages; and,
  timed apart (``reproduce`` does not call it), ``summary()`` of every result.
- ``auto``: the same ``analyse_review`` with ``engine="auto"`` (the default): exact independent
  draws (no MCMC) for these normal-normal models (``bayesmeta.models.exact_sampler``).
- ``naive``: what a user would write: one PyMC model per outcome and per meta-regression (the
  same fits as ``fast``), each with a default ``pm.sample()`` and
  ``pm.sample_posterior_predictive``; PyMC picks the sampler.
"""

from __future__ import annotations

import os
import sys
import time
import warnings

T_START = time.perf_counter()

from pathlib import Path  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parent))  # last: never shadow a package

from _util import emit, peak_rss_mb  # noqa: E402


def _plan():  # type: ignore[no-untyped-def]
    from bayesmeta.plan import load_plan

    return load_plan("peer_support")


def _review():  # type: ignore[no-untyped-def]
    from bayesmeta.review import read_review

    return read_review(_plan())[0]


def _fits(table):  # type: ignore[no-untyped-def]
    """(outcome, moderators) of every Bayesian fit of the review; moderators [] = random effects."""
    from bayesmeta.review import _sets

    out = [(o, []) for o in table.outcomes]
    out += _sets(table, _plan().regressions)
    return out


def _timed(module, name: str, steps: dict[str, float], key: str) -> None:  # type: ignore[no-untyped-def]
    """Wrap ``module.name`` to add its wall and CPU seconds to ``steps[key]`` (and its calls)."""
    fn = getattr(module, name)

    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        t0, c0 = time.perf_counter(), time.process_time()
        out = None
        try:
            out = fn(*args, **kwargs)
            return out
        finally:
            steps[key] = steps.get(key, 0.0) + time.perf_counter() - t0
            steps[key + "_cpu"] = steps.get(key + "_cpu", 0.0) + time.process_time() - c0
            steps[key + "_n"] = steps.get(key + "_n", 0) + (out is not None)

    setattr(module, name, wrapper)


def fast(engine: str = "nuts") -> dict[str, object]:
    import pymc  # noqa: F401

    from bayesmeta import datasets
    from bayesmeta.errors import ConvergenceWarning
    from bayesmeta.review import analyse_review

    t_import = time.perf_counter() - T_START
    steps: dict[str, float] = {}
    if engine == "nuts":
        import nutpie

        from bayesmeta.models import _nutpie_frozen

        # a compilation: bayesmeta's light callbacks or, where they do not apply, nutpie's own
        _timed(_nutpie_frozen, "compile_frozen", steps, "compile")
        _timed(nutpie, "compile_pymc_model", steps, "compile")
        _timed(nutpie, "sample", steps, "sample")
    table = _review()
    published = datasets.load_white2020().published
    load0 = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        analysis = analyse_review(
            table, plan=_plan(), data_label="bundled SIMULATED review", simulated=True,
            published=published, engine=engine,
        )  # fmt: skip
        n_warn = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    t_analyse = time.perf_counter() - t0
    problems = analysis.convergence_problems()  # as `reproduce` does before writing the report
    t_fit = time.perf_counter() - t0
    cpu_fit = time.process_time() - c0
    t_total = time.perf_counter() - T_START
    cpu_total = time.process_time()  # the whole process (all threads), imports included
    # not part of `reproduce`: summary() of every result, timed apart
    t1 = time.perf_counter()
    results = [analysis.result, *(r.bayes for r in analysis.regressions)]
    summaries = [r.summary() for r in results]
    t_summary = time.perf_counter() - t1
    bayes = analysis.timings["bayesian_random_effects"] + analysis.timings.get("meta_regression", 0)
    compile_s, sample_s = steps.get("compile", 0.0), steps.get("sample", 0.0)
    return {
        "import_s": t_import,
        "fit_s": t_fit,
        "fit_cpu_s": cpu_fit,
        "total_s": t_total,
        "total_cpu_s": cpu_total,
        "analyse_s": t_analyse,
        "bayesian_s": bayes,
        "compile_s": compile_s,
        "compile_cpu_s": steps.get("compile_cpu", 0.0),
        "sample_s": sample_s,
        "sample_cpu_s": steps.get("sample_cpu", 0.0),
        "bayes_rest_s": bayes - compile_s - sample_s,
        "review_rest_s": t_fit - bayes,
        "summary_s": t_summary,
        "stages": analysis.timings,
        "n_compiles": int(steps.get("compile_n", 0)),
        "n_outcomes": len(table.outcomes),
        "n_regressions": len(analysis.regressions),
        "n_fits": len(results),
        "sampler": analysis.result.sampler or analysis.result.engine,
        "convergence_warnings": n_warn,
        "convergence_problems": len(problems),
        "summary_rows": sum(len(s) for s in summaries),
        "peak_rss_mb": peak_rss_mb(),
        "load_start": load0,
        "load_end": os.getloadavg()[0],
    }


def naive() -> dict[str, object]:
    import numpy as np
    import pymc as pm

    t_import = time.perf_counter() - T_START
    table = _review()
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    per_fit = []
    samplers = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for o, mods in _fits(table):
            d = table.for_outcome(o).data
            t1 = time.perf_counter()
            with pm.Model():
                mu = pm.Normal("mu", 0, 2.5 if d["measure"].iloc[0] == "OR" else 1)
                tau = pm.HalfNormal("tau", 1 if d["measure"].iloc[0] == "OR" else 0.5)
                z = pm.Normal("z", 0, 1, shape=len(d))
                mean = mu
                if mods:
                    beta = pm.Normal("beta", 0, 2, shape=len(mods))
                    mean = mu + pm.math.dot(d[mods].to_numpy(dtype=float), beta)
                theta = pm.Deterministic("theta", mean + tau * z)
                pm.Normal("y", theta, d["sei"].to_numpy(), observed=d["yi"].to_numpy())
                idata = pm.sample(progressbar=False, random_seed=1)
                pm.sample_posterior_predictive(idata, progressbar=False, random_seed=1)
            per_fit.append(time.perf_counter() - t1)
            lib = idata["sample_stats"].attrs.get("inference_library", "?")
            samplers.add(str(lib))
    return {
        "import_s": t_import,
        "fit_s": time.perf_counter() - t0,
        "total_s": time.perf_counter() - T_START,
        "n_fits": len(per_fit),
        "per_fit_median_s": float(np.median(per_fit)),
        "per_fit_s": per_fit,
        "sampler": sorted(samplers),
        "peak_rss_mb": peak_rss_mb(),
        "load_start": load0,
        "load_end": os.getloadavg()[0],
    }


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "fast"
    res = naive() if mode == "naive" else fast("auto" if mode == "auto" else "nuts")
    res["mode"] = mode
    emit(res)
