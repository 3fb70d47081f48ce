"""The NUTS path on the bundled simulated review.

Modes (one process each, run by run.py; ``PYTENSOR_FLAGS=compiledir=<fresh dir>`` for cold):

- ``fast``: what bayesmeta offers. Random effects for every outcome in ONE model
  (``MultiOutcome``), then the organisational-support meta-regression (moderator
  ``org_support_higher``) for every outcome where it is estimable (k >= 3 and the moderator
  varies), each ``MetaRegression.fit`` reusing compiled models of the same structure
  (``bayesmeta.models.base``); default draws (4 chains x 1000 + 1000 tuning), log-likelihood
  and posterior predictive included; ``summary()`` of every result.
- ``auto``: what ``bayesmeta reproduce`` runs by default: the same models through
  ``model.fit(engine="auto")``, i.e. exact independent draws (no MCMC) for these
  normal-normal models (``bayesmeta.models.exact_sampler``).
- ``naive``: what a user would write: one PyMC model per outcome and per regression, each with
  a default ``pm.sample()`` and ``pm.sample_posterior_predictive``; PyMC picks the sampler.
"""

from __future__ import annotations

import sys
import time
import warnings

T_START = time.perf_counter()

from pathlib import Path  # noqa: E402

sys.path.append(str(Path(__file__).resolve().parent))  # last: never shadow a package

from _util import emit, peak_rss_mb  # noqa: E402

MOD = "org_support_higher"


def _review():  # type: ignore[no-untyped-def]
    from bayesmeta import datasets
    from bayesmeta.plan import load_plan
    from bayesmeta.sheet import read_sheet

    return read_sheet(datasets.load_peer_support_simulated(), plan=load_plan("peer_support"))


def _regression_outcomes(table):  # type: ignore[no-untyped-def]
    out = []
    for o, sub in table.by_outcome():
        x = sub.data[MOD]
        if sub.k >= 3 and x.nunique() > 1:
            out.append(o)
    return out


def fast(engine: str = "nuts") -> dict[str, object]:
    import pymc  # noqa: F401

    from bayesmeta.errors import ConvergenceWarning
    from bayesmeta.models import MetaRegression, MultiOutcome

    t_import = time.perf_counter() - T_START
    table = _review()
    t0 = time.perf_counter()
    n_warn = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        multi = MultiOutcome(table).fit(engine=engine, random_seed=1)
        t_multi = time.perf_counter() - t0
        regs = {}
        per_reg = []
        for o in _regression_outcomes(table):
            t1 = time.perf_counter()
            model = MetaRegression(table.for_outcome(o), mods=[MOD])
            regs[o] = model.fit(engine=engine, random_seed=1)
            per_reg.append(time.perf_counter() - t1)
        n_warn = sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    summaries = [multi.summary(), *(r.summary() for r in regs.values())]
    t_fit = time.perf_counter() - t0
    return {
        "import_s": t_import,
        "fit_s": t_fit,
        "total_s": time.perf_counter() - T_START,
        "multi_s": t_multi,
        "regression_s": per_reg,
        "n_outcomes": len(table.outcomes),
        "n_regressions": len(regs),
        "sampler": multi.sampler or multi.engine,
        "convergence_warnings": n_warn,
        "summary_rows": sum(len(s) for s in summaries),
        "peak_rss_mb": peak_rss_mb(),
    }


def naive() -> dict[str, object]:
    import numpy as np
    import pymc as pm

    t_import = time.perf_counter() - T_START
    table = _review()
    t0 = time.perf_counter()
    per_fit = []
    samplers = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [(o, False) for o in table.outcomes]
        fits += [(o, True) for o in _regression_outcomes(table)]
        for o, reg in fits:
            d = table.for_outcome(o).data
            t1 = time.perf_counter()
            with pm.Model():
                mu = pm.Normal("mu", 0, 2.5 if d["measure"].iloc[0] == "OR" else 1)
                tau = pm.HalfNormal("tau", 1 if d["measure"].iloc[0] == "OR" else 0.5)
                z = pm.Normal("z", 0, 1, shape=len(d))
                mean = mu
                if reg:
                    beta = pm.Normal("beta", 0, 2)
                    mean = mu + beta * d[MOD].to_numpy(dtype=float)
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
    }


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "fast"
    res = naive() if mode == "naive" else fast("auto" if mode == "auto" else "nuts")
    res["mode"] = mode
    emit(res)
