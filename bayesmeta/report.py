"""Write a :class:`~bayesmeta.review.ReviewAnalysis` as a report a reviewer can read.

The report folder holds ``index.html`` (self-contained: images embedded), ``report.md``, the
figures (PNG and SVG), the tables (CSV) and the posteriors (NetCDF, readable with
:meth:`bayesmeta.results.Result.load`). It is written to a temporary folder beside the target
and moved into place at the end (:mod:`bayesmeta._output`), so a failed or interrupted run leaves
the previous report intact and no half-written one, and a folder holding anything but a previous
bayesmeta report is never replaced.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesmeta._stats import critical_value
from bayesmeta._version import __version__
from bayesmeta.plan import ReviewPlan
from bayesmeta.review import (
    ReviewAnalysis,
    default_plan,
    fmt_ci,
    outcome_priors,
    scale_of,
    trial_note,
)

__all__ = ["evidence_table", "side_by_side", "write_report"]

_RATIO = ("OR", "RR")


def _plan(analysis: ReviewAnalysis) -> ReviewPlan:
    """Return the plan the analysis followed (labels, subgroup variable, title)."""
    return analysis.plan if analysis.plan is not None else default_plan(analysis.table)


def _label(analysis: ReviewAnalysis, outcome: str) -> str:
    return _plan(analysis).label(outcome)


def _favours(analysis: ReviewAnalysis) -> tuple[str, str]:
    plan = _plan(analysis)
    return (f"Favours {plan.comparator}", f"Favours {plan.intervention}")


def side_by_side(analysis: ReviewAnalysis) -> pd.DataFrame:
    """Return the headline table: one row per outcome, each method's estimate and 95% interval.

    Columns: outcome, measure, k, published DL, DL on data, REML+KH, posterior median (95%
    CrI), tau (95% CrI), P(favours intervention), 95% prediction interval (Bayesian). Ratio
    measures are shown on the ratio scale.

    Examples
    --------
    >>> from bayesmeta import datasets
    >>> from bayesmeta.plan import load_plan
    >>> from bayesmeta.review import analyse_review, read_review
    >>> plan = load_plan("peer_support")
    >>> table, label, simulated = read_review(plan)
    >>> sns = table.for_outcome("social_network_support")
    >>> analysis = analyse_review(sns, plan=plan, data_label=label, simulated=simulated,
    ...                           draws=500, chains=2)
    >>> tab = side_by_side(analysis)
    >>> tab.columns[:5].tolist()
    ['Outcome', 'Measure', 'k', 'Published DL', 'DL (data)']
    >>> tab["Outcome"].tolist()
    ['Social network support']
    """
    rows = []
    favours = f"P(favours {_plan(analysis).intervention_short})"
    for _, r in analysis.comparison.iterrows():
        tf = math.exp if r["measure"] in _RATIO else (lambda v: v)

        def ci(prefix: str, r: Any = r, tf: Any = tf) -> str:
            est = r.get(f"{prefix}_estimate", math.nan)
            if est is None or not math.isfinite(est):
                return ""
            return fmt_ci(tf(est), tf(r[f"{prefix}_ci_lb"]), tf(r[f"{prefix}_ci_ub"]))

        rows.append(
            {
                "Outcome": _label(analysis, r["outcome"]),
                "Measure": r["measure"],
                "k": int(r["k"]),
                "Published DL": ci("published") or "n/a",
                "DL (data)": ci("dl"),
                "REML+KH": ci("reml_kh"),
                "Posterior median (95% CrI)": fmt_ci(
                    tf(r["mu_median"]), tf(r["mu_ci_lb"]), tf(r["mu_ci_ub"])
                ),
                "tau (95% CrI)": fmt_ci(r["tau_median"], r["tau_ci_lb"], r["tau_ci_ub"]),
                favours: f"{r['p_benefit']:.2f}",
                "95% PI (Bayes)": f"({tf(r['pi_lb']):.2f}, {tf(r['pi_ub']):.2f})",
                "95% PI (DL, t)": _pi_t(analysis, r["outcome"], tf),
                "Note": trial_note(int(r["k"])),
            }
        )
        if not rows[-1]["REML+KH"]:
            rows[-1]["REML+KH"] = "not estimable (k = 1)" if int(r["k"]) == 1 else "n/a"
    return pd.DataFrame(rows)


def _pi_t(analysis: ReviewAnalysis, outcome: str, tf: Any) -> str:
    """DL's prediction interval with t on k - 2 df (Higgins et al. 2009), or why there is none."""
    freq = analysis.frequentist
    row = freq[(freq["outcome"] == outcome) & (freq["method"] == "DL")].iloc[0]
    lb, ub = float(row["pi_t_lb"]), float(row["pi_t_ub"])
    if not (math.isfinite(lb) and math.isfinite(ub)):
        return "needs k >= 3"
    return f"({tf(lb):.2f}, {tf(ub):.2f})"


def evidence_table(analysis: ReviewAnalysis) -> pd.DataFrame:
    """One row per outcome: the DL result as published beside the evidence in words.

    Examples
    --------
    >>> from bayesmeta import datasets
    >>> from bayesmeta.sheet import read_sheet
    >>> from bayesmeta.review import analyse_review
    >>> table = read_sheet(datasets.load_peer_support_simulated())
    >>> analysis = analyse_review(table.for_outcome("days_in_hospital"), draws=200, chains=2)
    >>> evidence_table(analysis).iloc[0]["Effect (model averaging)"]
    'moderate evidence of no effect (BF01 = 7.69)'
    """
    bma = analysis.model_averaging.set_index("outcome")
    side = side_by_side(analysis).set_index("Outcome")
    rows = []
    for outcome in analysis.table.outcomes:
        b = bma.loc[outcome]
        k = analysis.table.for_outcome(outcome).k
        rows.append(
            {
                "Outcome": _label(analysis, outcome),
                "k": k,
                "DL (data)": side.loc[_label(analysis, outcome), "DL (data)"],
                "Effect (model averaging)": b["evidence_effect"],
                "P(effect)": f"{b['p_effect']:.2f}",
                "Heterogeneity": b["evidence_heterogeneity"],
                "Note": trial_note(k),
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- figures


def _sub(analysis: ReviewAnalysis, outcome: str) -> Any:
    """Return the outcome's rows of the table (an EffectTable), computed once per report."""
    return analysis.derived(f"table:{outcome}", lambda: analysis.table.for_outcome(outcome))


def _priors(analysis: ReviewAnalysis) -> dict[str, tuple[Any, Any]]:
    priors: dict[str, tuple[Any, Any]] = analysis.derived(
        "priors", lambda: outcome_priors(analysis.table)
    )
    return priors


def _watermark(analysis: ReviewAnalysis) -> str | None:
    return "SIMULATED DATA" if analysis.simulated else None


def _axis_title(measure: str) -> str:
    """Return the x-axis title naming the scale, as RevMan does."""
    names = {"OR": "Odds ratio", "RR": "Risk ratio", "SMD": "Std. mean difference"}
    name = names.get(measure, "Mean difference" if measure == "MD" else str(measure))
    return f"{name} (IV, Random, 95% CI)" + (", log scale" if measure in _RATIO else "")


def _forest(analysis: ReviewAnalysis, outcome: str) -> Any:
    from bayesmeta.plots import forest_plot
    from bayesmeta.plots.subgroup_forest import overall_effect_text

    sub = _sub(analysis, outcome)
    measure = str(sub.data["measure"].iloc[0])
    dl = analysis.result.frequentist[outcome]["DL"]  # the fit beside the posterior
    z = critical_value(0.95)
    trials = pd.DataFrame(
        {
            "study": sub.data["study"].to_numpy(),
            "yi": sub.yi,
            "ci_lb": sub.yi - z * sub.sei,
            "ci_ub": sub.yi + z * sub.sei,
            "weight": dl.weights,
        }
    )
    comp = analysis.comparison.set_index("outcome").loc[outcome]
    summaries = pd.DataFrame(
        [
            {
                "label": "DL random effects (95% CI)",
                "estimate": float(dl.beta[0]),
                "ci_lb": float(dl.ci_lb[0]),
                "ci_ub": float(dl.ci_ub[0]),
                "kind": "diamond",
            },
            {
                "label": "Bayesian random effects (median, 95% CrI)",
                "estimate": comp["mu_median"],
                "ci_lb": comp["mu_ci_lb"],
                "ci_ub": comp["mu_ci_ub"],
                "kind": "bayes",
            },
            {
                "label": "Bayesian 95% prediction interval",
                "estimate": math.nan,
                "ci_lb": comp["pi_lb"],
                "ci_ub": comp["pi_ub"],
                "kind": "prediction",
            },
        ]
    )
    shr = analysis.derived("shrinkage", analysis.result.shrinkage)
    shr = shr[shr["outcome"] == outcome]
    het = (
        f"Heterogeneity (DL): tau² = {dl.tau2:.3f}; I² = {dl.I2:.0f}%; Q = {dl.QE:.2f}, "
        f"df = {dl.k - 1} ({_p(dl.QEp)})"
        if sub.k > 1
        else None
    )
    title = f"{_label(analysis, outcome)} ({measure})"
    if analysis.simulated:
        title += " - SIMULATED DATA"
    return forest_plot(
        trials,
        summaries,
        measure=measure,
        direction=sub.direction(),
        labels=_favours(analysis),
        title=title,
        exponentiate=measure in _RATIO,
        shrunken=shr,
        heterogeneity=het if het is None else het + "\n" + overall_effect_text(dl),
        xlabel=_axis_title(measure),
        watermark=_watermark(analysis),
    )


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _ppc_figure(
    analysis: ReviewAnalysis, outcome: str, replicates: tuple[np.ndarray, np.ndarray]
) -> Any:
    """PPC figure drawn from the replicates the tables use (``replicates``, see _figures)."""
    from bayesmeta.plots import ppc_plot

    y_all, rep = replicates
    mask = (analysis.table.data["outcome"] == outcome).to_numpy()
    sub = analysis.table.data[mask]
    use = mask.sum() > 2
    verdicts = analysis.ppc_verdicts.set_index("outcome")
    p_sd = float(verdicts["p_sd"].loc[outcome]) if use else None
    return ppc_plot(
        y_all[mask],
        rep[:, mask],
        study_labels=sub["study"].astype(str).tolist(),
        title=f"Posterior predictive check: {_label(analysis, outcome)}",
        statistic="sd" if use else None,
        p_value=p_sd,
        watermark=_watermark(analysis),
    )


def _regression_figure(analysis: ReviewAnalysis, fit: Any) -> Any:
    from bayesmeta.plots import bubble_plot
    from bayesmeta.results import interval, stack_draws

    sub = _sub(analysis, fit.outcome)
    mod = fit.moderators[0]
    x = sub.data[mod].to_numpy(float)
    mu = fit.bayes.draws("mu")
    b = stack_draws(fit.bayes.posterior["beta"])[:, 0]
    grid = (
        np.array([0.0, 1.0])
        if set(np.unique(x)) <= {0.0, 1.0}
        else np.linspace(x.min(), x.max(), 50)
    )
    line = np.array([np.median(mu + b * g) for g in grid])
    bands = np.array([interval(mu + b * g, 0.95) for g in grid])
    label = _moderator_label(analysis, mod)
    values = next((m.values for m in _plan(analysis).moderators if m.name == mod), ("0", "1"))
    return bubble_plot(
        x,
        sub.yi,
        sub.vi,
        fit_line=(grid, line),
        band=(grid, bands[:, 0], bands[:, 1]),
        xlabel=label[:1].upper() + label[1:],
        ylabel=scale_of(str(sub.data["measure"].iloc[0])),
        labels=sub.data["study"].astype(str).tolist(),
        title=f"{_label(analysis, fit.outcome)}: effect by {label}",
        categories=values,
        watermark=_watermark(analysis),
    )


def _tau_figure(analysis: ReviewAnalysis) -> Any:
    from bayesmeta.plots import tau_density_plot

    outcomes = analysis.result.outcomes
    priors = _priors(analysis)
    measures = analysis.table.data.groupby("outcome")["measure"].first()
    lab = _plan(analysis).label
    draws = {lab(o): analysis.result.draws("tau", o) for o in outcomes}
    return tau_density_plot(
        draws,
        prior={lab(o): priors[o][1].pdf for o in outcomes},
        scales={lab(o): scale_of(str(measures[o])) for o in outcomes},
        title="Between-trial SD (tau): prior (dashed) and posterior",
        watermark=_watermark(analysis),
    )


def _subgroup_figure(analysis: ReviewAnalysis, outcome: str) -> Any:
    """Draw RevMan's subgroup forest plot by the plan's subgroup variable (None with one level).

    With the Bayesian subgroup means of the meta-regression and the published estimates.
    """
    from bayesmeta.plots import subgroup_forest_plot

    plan = _plan(analysis)
    sg = plan.subgroup
    sub = _sub(analysis, outcome)
    if sg is None or sg.column not in sub.data.columns or sub.data[sg.column].nunique() < 2:
        return None
    measure = str(sub.data["measure"].iloc[0])
    studies = sub.data.assign(subgroup=sub.data[sg.column].astype(str))
    published = f"Published ({plan.published.label})" if plan.published else "Published"
    return subgroup_forest_plot(
        studies,
        subgroup_order=list(sg.levels),
        subgroup_labels={lv: sg.label(lv) for lv in sg.levels},
        measure=measure,
        exponentiate=measure in _RATIO,
        direction=sub.direction(),
        labels=_favours(analysis),
        bayes=_subgroup_bayes(analysis, outcome),
        published=_subgroup_published(analysis, outcome, measure),
        published_label=published,
        title=f"{_label(analysis, outcome)} by {sg.name} ({measure})",
        xlabel=_axis_title(measure),
        watermark=_watermark(analysis),
    )


def _subgroup_bayes(analysis: ReviewAnalysis, outcome: str) -> pd.DataFrame | None:
    """Posterior of the subgroup means mu + beta x at x = 1 and 0 of the subgroup's moderator.

    Only for a subgroup variable coded by a 0/1 moderator (``[subgroup] moderator``) whose
    meta-regression was fitted.
    """
    from bayesmeta.results import stack_draws

    plan = _plan(analysis)
    if plan.subgroup is None or plan.subgroup.moderator is None:
        return None
    mod = plan.moderator(plan.subgroup.moderator)
    fit = next(
        (f for f in analysis.regressions if f.outcome == outcome and f.moderators == [mod.name]),
        None,
    )
    if fit is None:
        return None
    mu, b = fit.bayes.draws("mu"), stack_draws(fit.bayes.posterior["beta"])[:, 0]
    rows = []
    for name, x in ((mod.values[1], 1.0), (mod.values[0], 0.0)):
        d = mu + b * x
        lb, med, ub = np.quantile(d, [0.025, 0.5, 0.975])
        rows.append({"subgroup": name, "estimate": med, "ci_lb": lb, "ci_ub": ub})
    return pd.DataFrame(rows)


def _subgroup_published(
    analysis: ReviewAnalysis, outcome: str, measure: str
) -> pd.DataFrame | None:
    pub = analysis.published
    sg = _plan(analysis).subgroup
    if pub is None or sg is None or "subgroup_variable" not in pub.columns:
        return None
    rows = pub[(pub["outcome"] == outcome) & (pub["subgroup_variable"] == sg.column)]
    if rows.empty:
        return None
    out = rows[["subgroup", "estimate", "ci_lb", "ci_ub"]].astype({"subgroup": str}).copy()
    if measure in _RATIO:  # published ratios -> the analysis' log scale
        out[["estimate", "ci_lb", "ci_ub"]] = np.log(out[["estimate", "ci_lb", "ci_ub"]])
    return out


def _leave1out_figure(analysis: ReviewAnalysis, outcome: str) -> Any:
    """Leave-one-out forest plot (DL and the exact Bayesian posterior of mu), k >= 3."""
    from bayesmeta.influence import bayesian_leave1out, leave1out
    from bayesmeta.plots import leave1out_plot

    sub = _sub(analysis, outcome)
    if sub.k < 3:
        return None
    mu_prior, tau_prior = _priors(analysis)[outcome]
    dl = analysis.result.frequentist[outcome]["DL"]
    bayes = bayesian_leave1out(
        sub.yi, sub.sei, tau_prior=tau_prior, mu_prior=mu_prior, labels=list(dl.labels)
    )
    measure = str(sub.data["measure"].iloc[0])
    return leave1out_plot(
        leave1out(dl),
        bayes,
        xlabel=scale_of(measure),
        title=f"{_label(analysis, outcome)}: leave one trial out (DL and Bayesian)",
    )


@dataclass(frozen=True)
class _Job:
    """One figure of the report: its section (an outcome or None), caption, file and maker.

    With ``figure=False``, a step that writes its own files (``make`` returns nothing).
    """

    outcome: str | None
    caption: str
    path: Path  # without suffix
    make: Callable[[], Any]  # the Figure, or None where the figure does not apply
    figure: bool = True


_TAU = "tau densities"


def _write_posteriors(analysis: ReviewAnalysis, folder: Path) -> None:
    """Write every posterior as NetCDF, readable with :meth:`bayesmeta.results.Result.load`."""
    analysis.result.to_netcdf(folder / "random_effects.nc")
    for fit in analysis.regressions:
        fit.bayes.to_netcdf(folder / f"regression_{fit.outcome}_{'_'.join(fit.moderators)}.nc")


def _figure_jobs(analysis: ReviewAnalysis, folder: Path) -> list[_Job]:
    """Every figure of the report, in report order.

    The posterior predictive replicates are drawn once, with the seed the review's tables used
    (:func:`bayesmeta.plots.predictive_replicates`), so each PPC figure shows the table's check.
    """
    from bayesmeta.plots import predictive_replicates

    replicates = predictive_replicates(analysis.result, random_seed=analysis.settings["seed"])
    # the inputs several figures share, computed here once (forked workers inherit them)
    analysis.derived("shrinkage", analysis.result.shrinkage)
    _priors(analysis)
    for outcome in analysis.table.outcomes:
        _sub(analysis, outcome)
    jobs = []
    for outcome in analysis.table.outcomes:
        makers: list[tuple[str, str, Any]] = [
            (f"Subgroups by {_subgroup_name(analysis)} (RevMan layout)", "subgroups",
             lambda o=outcome: _subgroup_figure(analysis, o)),
            ("Forest plot", "forest", lambda o=outcome: _forest(analysis, o)),
            ("Posterior predictive check", "ppc",
             lambda o=outcome: _ppc_figure(analysis, o, replicates)),
            ("Leave one trial out", "leave1out", lambda o=outcome: _leave1out_figure(analysis, o)),
        ]  # fmt: skip
        for fit in analysis.regressions:
            if fit.outcome == outcome and len(fit.moderators) == 1:
                makers.append(
                    (f"Meta-regression on {_moderator_label(analysis, fit.moderators[0])}",
                     "regression",
                     lambda f=fit: _regression_figure(analysis, f))
                )  # fmt: skip
        jobs += [_Job(outcome, c, folder / f"{name}_{outcome}", m) for c, name, m in makers]
    jobs.append(_Job(None, _TAU, folder / "tau_densities", lambda: _tau_figure(analysis)))
    return jobs


#: Seconds without any job finishing after which the figure workers count as stuck and the rest
#: is drawn in this process. A figure takes well under a second; a forked worker could hang only
#: if another thread of the parent held a lock at the fork (pyarrow's allocator runs one).
STALL_SECONDS = 120.0
#: Figure format of the report: PNG at the figures' own dpi (150), embedded in the HTML page.
FIGURE_FORMAT = "png"
#: The jobs of the reports being drawn, by token; forked workers inherit them (see _Figures).
_JOBS: dict[int, list[_Job]] = {}


def _draw(token: int, i: int) -> tuple[int, str | None]:
    """Draw and save job ``i`` of report ``token``; return (i, the file written or None)."""
    from bayesmeta.plots import save_figure

    job = _JOBS[token][i]
    fig = job.make()
    if fig is None or not job.figure:
        return i, None
    return i, str(save_figure(fig, job.path, formats=(FIGURE_FORMAT,))[0])


#: Figures a worker draws between two garbage collections (see _worker_init).
_COLLECT_EVERY = 8
_DRAWN = [0]  # jobs done by this worker process


def _worker_init() -> None:
    """Leave SIGINT to the parent (which ends the workers); die on SIGTERM; collect garbage rarely.

    The heap inherited from the parent (imports, fits: some 200,000 objects) is frozen out of
    the garbage collector, and collections run every :data:`_COLLECT_EVERY` jobs instead of
    whenever allocations pass a threshold: the figures' many small objects otherwise trigger
    full collections costing about a tenth of the drawing time.
    """
    import gc
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gc.freeze()
    gc.disable()


def _worker_draw(token: int, i: int) -> tuple[int, str | None]:
    """Run :func:`_draw` in a worker, collecting the figures' reference cycles now and then."""
    import gc

    try:
        return _draw(token, i)
    finally:
        _DRAWN[0] += 1
        if _DRAWN[0] % _COLLECT_EVERY == 0:
            gc.collect()


def figure_workers() -> int:
    """Return the number of processes drawing the report's figures: one per available core (<= 8).

    Figures are drawn in worker processes forked from the running one, so they start at once
    with everything imported; where ``fork`` is not available or safe (not Linux) they are
    drawn in this process. ``BAYESMETA_FIGURE_WORKERS`` overrides the number (1: no workers).
    """
    import multiprocessing
    import sys

    env = os.environ.get("BAYESMETA_FIGURE_WORKERS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(
                f"BAYESMETA_FIGURE_WORKERS={env!r} is not a whole number; set it to 1 or more"
            ) from None
    if not sys.platform.startswith("linux") or "fork" not in (
        multiprocessing.get_all_start_methods()
    ):
        return 1
    return max(1, min(8, len(os.sched_getaffinity(0))))


class _Figures:
    """Draw the report's figures and write its NetCDF files, in worker processes if given.

    Workers are forked after the fits (nothing is imported or fitted again) and write each
    file themselves, while the caller writes the tables. An exception in a worker (a
    ``KeyboardInterrupt`` included) is raised here, by :meth:`collect`, as is a worker that
    died (``BrokenProcessPool``); the workers are ended on any exit (:meth:`close`). The files
    do not depend on the worker that writes them.
    """

    def __init__(
        self, analysis: ReviewAnalysis, folder: Path, posteriors: Path, workers: int
    ) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.analysis = analysis
        # the NetCDF files (one step: HDF5 is imported once) and the slowest figure lead
        self.jobs = [
            _Job(None, "posteriors", posteriors, lambda: _write_posteriors(analysis, posteriors),
                 figure=False),
            *_figure_jobs(analysis, folder),
        ]  # fmt: skip
        self.token = id(self)
        _JOBS[self.token] = self.jobs
        self.pool: Any = None
        self.futures: list[Any] = []
        workers = min(workers, len(self.jobs))
        if workers > 1:
            self.pool = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init
            )
            order = [0, len(self.jobs) - 1, *range(1, len(self.jobs) - 1)]
            self.futures = [self.pool.submit(_worker_draw, self.token, i) for i in order]

    def _results(self) -> Iterator[tuple[int, str | None]]:
        from concurrent.futures import FIRST_COMPLETED, wait

        if self.pool is None:  # in this process, in report order
            for i in range(len(self.jobs)):
                yield _draw(self.token, i)
            return
        pending, done = set(self.futures), set[int]()
        while pending:
            finished, pending = wait(pending, timeout=STALL_SECONDS, return_when=FIRST_COMPLETED)
            if not finished:  # the workers are stuck: end them, draw the rest here
                self._stop_workers()
                warnings.warn(
                    f"no figure finished in {STALL_SECONDS:.0f} s in the worker processes; the "
                    f"remaining {len(self.jobs) - len(done)} are drawn in this process (set "
                    "BAYESMETA_FIGURE_WORKERS=1 to always draw here)",
                    stacklevel=2,
                )
                for i in range(len(self.jobs)):
                    if i not in done:
                        yield _draw(self.token, i)
                return
            for future in finished:
                i, path = future.result()  # a worker's exception is raised here
                done.add(i)
                yield i, path

    def collect(self, say: Callable[[str], None]) -> tuple[dict[str, list[tuple[str, Path]]], Path]:
        """Wait for every job; return (outcome -> [(caption, file)], the tau figure's file)."""
        from bayesmeta._output import stage

        outcomes = list(dict.fromkeys(j.outcome for j in self.jobs if j.outcome is not None))
        left = {o: sum(j.outcome == o for j in self.jobs) for o in outcomes}
        paths: dict[int, str | None] = {}
        done = 0
        for i, path in self._results():
            paths[i] = path
            outcome = self.jobs[i].outcome
            if not self.jobs[i].figure:
                say(f"{self.jobs[i].caption} (NetCDF) written")
            elif outcome is not None:
                left[outcome] -= 1
                if not left[outcome]:
                    done += 1
                    say(f"figures {done}/{len(outcomes)}: {_label(self.analysis, outcome)}")
                    stage("figures")
        figs: dict[str, list[tuple[str, Path]]] = {o: [] for o in outcomes}
        for i, job in enumerate(self.jobs):
            if job.outcome is not None and paths[i] is not None:
                figs[job.outcome].append((job.caption, Path(str(paths[i]))))
        tau = next(i for i, job in enumerate(self.jobs) if job.caption == _TAU)
        return figs, Path(str(paths[tau]))

    def close(self, ok: bool) -> None:
        """End the workers (at once unless every job was collected) and forget the jobs.

        On failure the workers are terminated and waited for, so none writes into the report's
        temporary folder after it is removed.
        """
        _JOBS.pop(self.token, None)
        if self.pool is None:
            return
        if ok:
            self.pool.shutdown(wait=True)
            return
        self._stop_workers()

    def _stop_workers(self) -> None:
        """Terminate the workers and wait for them; later jobs run in this process."""
        if self.pool is None:
            return
        processes = list(getattr(self.pool, "_processes", {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            proc.terminate()
        for proc in processes:
            proc.join()
        self.pool = None


# ---------------------------------------------------------------------------- writing


def write_report(
    analysis: ReviewAnalysis,
    out: str | os.PathLike[str],
    *,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Write the report folder ``out`` (replaced atomically) and return its path.

    The report is written to a temporary sibling folder and moved into place once complete
    (:func:`bayesmeta._output.output_folder`): ``out`` may be a new path, an empty folder or a
    previous bayesmeta report (its ``.bayesmeta-manifest.json`` lists every file it wrote); a
    regular file, a folder holding other files, or a report whose files were edited is refused
    before anything is written. An interrupted or failed run leaves the previous report intact
    and no temporary folder behind.

    The figures (PNG, at the figures' 150 dpi) and the NetCDF files are written by worker
    processes forked after the fits, one per available core (:func:`figure_workers`;
    ``BAYESMETA_FIGURE_WORKERS=1`` writes everything in this process), while this process writes
    the tables; the files are the same either way. ``progress`` hears of each outcome's figures
    as they are done.

    The CSV tables are spreadsheet-safe: a text cell starting with ``=``, ``+``, ``-`` or ``@``
    (e.g. a study label) gets a leading ``'`` so a spreadsheet shows it instead of running it as a
    formula; numbers are written unchanged (:func:`bayesmeta._output.spreadsheet_safe`).

    Parameters
    ----------
    analysis
        The analysis to report.
    out
        Target folder. An existing report there is replaced only once the new one is complete.
    force
        Replace a previous report whose files were edited; files it did not write are kept.
    progress
        Called with a short status line as each group of figures and tables is written.

    Returns
    -------
    pathlib.Path
        The report folder.

    Raises
    ------
    OutputError
        ``out`` may not be written (``exit_code`` 2) or writing failed (``exit_code`` 3).

    Examples
    --------
    >>> from bayesmeta import datasets
    >>> from bayesmeta.sheet import read_sheet
    >>> table = read_sheet(datasets.load_peer_support_simulated())
    >>> sns = table.for_outcome("social_network_support")
    >>> from bayesmeta.review import analyse_review
    >>> analysis = analyse_review(sns, data_label="bundled SIMULATED review", simulated=True,
    ...                           draws=500, chains=2)
    >>> import os, tempfile
    >>> with tempfile.TemporaryDirectory() as d:  # doctest: +SKIP
    ...     path = write_report(analysis, os.path.join(d, "report"))
    ...     sorted(os.listdir(path))
    ['figures', 'index.html', 'posteriors', 'provenance.json', 'report.md', 'tables']
    """
    import matplotlib

    from bayesmeta._output import output_folder, stage, write_csv

    matplotlib.use("Agg", force=False)

    say = progress or (lambda _msg: None)
    with output_folder(out, force=force) as tmp:
        say(f"figures for {len(analysis.table.outcomes)} outcomes and the posteriors (NetCDF)")
        for folder in ("figures", "tables", "posteriors"):
            (tmp / folder).mkdir()
        figures = _Figures(analysis, tmp / "figures", tmp / "posteriors", figure_workers())
        ok = False
        try:
            stage("figures")
            if figures.pool is None:  # figures and NetCDF written here, before the rest
                figs, tau_png = figures.collect(say)
            # with workers, the tables are written while they draw the figures and the NetCDF
            say("tables")
            table = side_by_side(analysis)
            regression = analysis.regression_table()
            diag = _diagnostics_table(analysis)
            write_csv(table, tmp / "tables" / "side_by_side.csv")
            write_csv(analysis.comparison, tmp / "tables" / "comparison.csv")
            write_csv(analysis.frequentist, tmp / "tables" / "frequentist.csv")
            write_csv(analysis.subgroups, tmp / "tables" / "subgroups.csv")
            write_csv(regression, tmp / "tables" / "meta_regression.csv")
            write_csv(analysis.ppc, tmp / "tables" / "ppc.csv")
            write_csv(diag, tmp / "tables" / "diagnostics.csv")
            write_csv(analysis.model_averaging, tmp / "tables" / "model_averaging.csv")
            write_csv(analysis.bf_sensitivity, tmp / "tables" / "bf_sensitivity.csv")
            if not analysis.reproduction.empty:
                write_csv(analysis.reproduction, tmp / "tables" / "published_reproduced.csv")
            if figures.pool is not None:
                figs, tau_png = figures.collect(say)
            ok = True
        finally:
            figures.close(ok)
        say("the report pages")
        verdicts = analysis.ppc_verdicts[["outcome", "k", "verdict", "sd_verdict", "text"]]
        meta = _provenance(analysis)
        (tmp / "provenance.json").write_text(json.dumps(meta, indent=1, default=str))
        sections = _sections(analysis, table, verdicts, regression, diag)
        md = _markdown(sections, analysis, figs, tau_png, tmp, meta)
        (tmp / "report.md").write_text(md, encoding="utf-8")
        (tmp / "index.html").write_text(
            _html(sections, analysis, figs, tau_png, meta), encoding="utf-8"
        )
    return Path(out).resolve()


def _diagnostics_table(analysis: ReviewAnalysis) -> pd.DataFrame:
    """One row per Bayesian fit with the checks of the engine that drew it.

    NUTS fits: sampler, divergences, R-hat, ESS. Exact fits: the quadrature's accuracy check
    (method, whether every refinement converged, the largest change between refinements, the
    most nodes used); R-hat, divergences and
    target_accept do not apply to independent draws and are left out.
    """
    rows = []
    fits = [("Random effects (all outcomes)", analysis.result)] + [
        (f"{_label(analysis, f.outcome)} ~ {' + '.join(f.moderators)}", f.bayes)
        for f in analysis.regressions
    ]
    for name, res in fits:
        d = res.diagnostics()
        row: dict[str, Any] = {"fit": name, "engine": d.engine}
        if d.engine == "exact":
            checks = list(d.checks.values())
            row.update(
                quadrature=d.method,
                converged=all(bool(c.get("converged")) for c in checks),
                max_change=max((float(c.get("max_change", 0.0)) for c in checks), default=0.0),
                max_nodes=max((int(c.get("nodes", 0)) for c in checks), default=0),
            )
        else:
            row.update(
                sampler=d.sampler,
                divergences=d.divergences,
                max_rhat=round(d.max_rhat, 4),
                min_ess_bulk=round(d.min_ess_bulk),
                min_ess_tail=round(d.min_ess_tail),
            )
        row["verdict"] = "ok" if d.ok else "; ".join(d.problems)
        rows.append(row)
    out = pd.DataFrame(rows)
    return out[[c for c in out.columns if c != "verdict"] + ["verdict"]]


def _diagnostics_intro(diag: pd.DataFrame) -> str:
    """Say what the diagnostics table checks, for the engines it shows."""
    engines = set(diag["engine"]) if "engine" in diag else set()
    parts = ["Checks of the engine that drew each posterior."]
    if "exact" in engines:
        parts.append(
            "Exact engine: independent draws from an adaptive quadrature of the "
            "heterogeneity's posterior, checked by whether successive refinements of the rule "
            "agreed (converged, largest relative change)."
        )
    if "nuts" in engines:
        parts.append("NUTS: divergent transitions, R-hat and effective sample sizes.")
    return " ".join(parts)


def _provenance(analysis: ReviewAnalysis) -> dict[str, Any]:
    import platform
    from importlib.metadata import version  # no import of PyMC or ArviZ just for a version

    return {
        "data": analysis.data_label,
        "plan": _plan(analysis).source,
        "simulated": analysis.simulated,
        "bayesmeta": __version__,
        "pymc": version("pymc"),
        "arviz": version("arviz"),
        "python": platform.python_version(),
        "settings": analysis.settings,
        "timings_seconds": {k: round(v, 2) for k, v in analysis.timings.items()},
        "k_rows": analysis.table.k,
        "outcomes": analysis.table.outcomes,
    }


_SIM_BANNER = (
    "SIMULATED DATA: these numbers come from a simulated dataset with the structure of the review, "
    "generated from its published summaries. They are not the trials' results."
)


def _md_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "_none_\n"
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for v in r.to_numpy():
            if isinstance(v, float):
                cells.append("" if math.isnan(v) else f"{v:.3g}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _intro(analysis: ReviewAnalysis) -> str:
    plan = _plan(analysis)
    return _INTRO.format(short=plan.intervention_short, intervention=plan.intervention)


def _subgroup_name(analysis: ReviewAnalysis) -> str:
    sg = _plan(analysis).subgroup
    return sg.name if sg is not None else "subgroup"


def _moderator_label(analysis: ReviewAnalysis, name: str) -> str:
    try:
        return _plan(analysis).moderator(name).label
    except KeyError:
        return name


def _regression_heading(analysis: ReviewAnalysis) -> str:
    """Name the plan's moderator sets: a single moderator by its label, a set by its names."""
    sets = [r.moderators for r in _plan(analysis).regressions]
    if not sets:
        return "Meta-regression"
    names = [_moderator_label(analysis, s[0]) if len(s) == 1 else " + ".join(s) for s in sets]
    return "Meta-regression on " + "; ".join(names)


_INTRO = (
    "Published DL: the review's DerSimonian-Laird estimate (RevMan 5). DL and REML+KH: "
    "re-computed on these data. Bayesian: random-effects model of all outcomes fitted together "
    "(posterior median, 95% equal-tailed credible interval); P(favours {short}) is the posterior "
    "probability that the average effect favours {intervention}; the prediction intervals are for "
    "the effect in a new trial: Bayesian (posterior predictive) and DL with t on k - 2 df "
    "(Higgins, Thompson & Spiegelhalter 2009; the Cochrane Handbook and RevMan), which needs at "
    "least 3 trials. Note flags outcomes with 1 or 2 trials. Ratio measures on the ratio scale. "
    "The engine is named under Provenance."
)


def _sections(
    analysis: ReviewAnalysis,
    table: pd.DataFrame,
    verdicts: pd.DataFrame,
    regression: pd.DataFrame,
    diag: pd.DataFrame,
) -> list[tuple[str, str, pd.DataFrame]]:
    """(heading, introduction, table) of every tabular section, in report order."""
    return [
        ("Pooled effects, side by side", _intro(analysis), table),
        (
            f"Subgroups by {_subgroup_name(analysis)} (RevMan's test)"
            if _plan(analysis).subgroup is not None
            else "Subgroups (the review plan declares no subgroup variable)",
            _SUBGROUP_INTRO.format(name=_subgroup_name(analysis)),
            _labelled(analysis, analysis.subgroups.round(3)),
        ),
        (
            _regression_heading(analysis),
            _REGRESSION_INTRO,
            _labelled(analysis, regression.round(3)),
        ),
        *(
            [("Published numbers re-computed", _REPRODUCTION_INTRO, _reproduction(analysis))]
            if not analysis.reproduction.empty
            else []
        ),
        (
            "Is there an effect at all? Bayesian model averaging",
            _BMA_INTRO,
            evidence_table(analysis),
        ),
        ("Prior sensitivity of the Bayes factors", _BF_SENS_INTRO, _bf_sensitivity(analysis)),
        ("Posterior predictive checks", "", _labelled(analysis, verdicts)),
        ("Diagnostics", _diagnostics_intro(diag), diag),
    ]


_REPRODUCTION_INTRO = (
    "Every number the paper publishes for a named outcome, re-computed from the data with "
    "DerSimonian-Laird as RevMan 5 does, and compared at the paper's rounding."
)


def _reproduction(analysis: ReviewAnalysis) -> pd.DataFrame:
    """Return the reproduction check, one row per published number, with readable columns."""
    rep = analysis.reproduction
    return pd.DataFrame(
        {
            "Outcome": rep["outcome"].map(_plan(analysis).label),
            "Subgroup": rep["subgroup"],
            "Quantity": rep["quantity"],
            "Published": rep["published"].map(lambda v: f"{v:g}"),
            "Re-computed": rep["recomputed_rounded"].map(lambda v: f"{v:g}"),
            "Reproduced": rep["reproduced"].map({True: "yes", False: "**no**"}),
            "Difference": rep["difference"].map(lambda v: f"{float(v):+.4f}"),
        }
    )


_BMA_INTRO = (
    "Exact Bayesian model averaging over four models per outcome (effect 0 or free x "
    "heterogeneity 0 or free; bayesmeta.bma), with the random-effects fit's priors. The "
    "inclusion Bayes factor weighs the models with an effect against those without; it can tell "
    "evidence of no effect from absence of evidence, which a confidence interval cannot. Words "
    "follow Lee & Wagenmakers (2013, Table 7.1): BF 1-3 inconclusive, 3-10 moderate, 10-30 "
    "strong, 30-100 very strong, above 100 extreme. P(effect) is the posterior probability of "
    "the models with an effect (equal prior model probabilities)."
)
_BF_SENS_INTRO = (
    "Bayes factors depend on the priors more than posteriors do. BF10 for an effect with the "
    "scales of the mu and tau priors halved, kept and doubled (a wider mu prior predicts larger "
    "effects and so favours no effect)."
)


def _bf_sensitivity(analysis: ReviewAnalysis) -> pd.DataFrame:
    """BF10 for an effect per outcome (rows) and prior scale pair (columns)."""
    sens = analysis.bf_sensitivity
    if sens.empty:
        return sens
    wide = sens.assign(
        scales=[
            f"mu x{m:g}, tau x{t:g}" for m, t in zip(sens.mu_scale, sens.tau_scale, strict=True)
        ]
    ).pivot(index="outcome", columns="scales", values="bf_effect")
    wide = wide.reindex(analysis.table.outcomes).map(lambda v: f"{v:.3g}")
    wide.index = [_label(analysis, o) for o in wide.index]
    return wide.rename_axis("Outcome").reset_index()


_SUBGROUP_INTRO = (
    "DerSimonian-Laird within each level of {name}, and RevMan's chi-square test for subgroup "
    "differences (Q_between); published_* are the review's own subgroup estimates where the text "
    "gives them. Estimates on the analysis scale (log scale for ratio measures)."
)
_REGRESSION_INTRO = (
    "Intercept = the effect where every moderator is 0; each slope is the change per unit of its "
    "moderator (for a 0/1 moderator, the difference between 1 and 0). REML with Knapp-Hartung "
    "beside the Bayesian posterior median and 95% credible interval; p_positive = posterior "
    "probability that the coefficient is above 0. Analysis scale (log scale for ratio measures)."
)


def _labelled(analysis: ReviewAnalysis, frame: pd.DataFrame) -> pd.DataFrame:
    """Replace outcome keys by their display names."""
    if frame.empty or "outcome" not in frame.columns:
        return frame
    out = frame.copy()
    out["outcome"] = out["outcome"].map(_plan(analysis).label)
    return out


def _markdown(
    sections: list[tuple[str, str, pd.DataFrame]],
    analysis: ReviewAnalysis,
    figs: dict[str, list[tuple[str, Path]]],
    tau_png: Path,
    root: Path,
    meta: dict[str, Any],
) -> str:
    out = [f"# {_plan(analysis).title}\n"]
    if analysis.simulated:
        out.append(f"> **{_SIM_BANNER}**\n")
    out.append(f"Data: {analysis.data_label}. Generated by bayesmeta {__version__}.\n")
    for heading, intro, frame in sections:
        out.append(f"\n## {heading}\n")
        if intro:
            out.append(intro + "\n")
        out.append(_md_table(frame))
    out.append("\n## Figures\n")
    out.append(_figure_count(figs) + "\n")
    for outcome, items in figs.items():
        out.append(f"\n### {_label(analysis, outcome)}\n")
        for caption, path in items:
            out.append(f"![{caption}]({path.relative_to(root)})\n")
    out.append(f"\n![tau densities]({tau_png.relative_to(root)})\n")
    out.append("\n## Provenance\n")
    out.append("```json\n" + json.dumps(meta, indent=1, default=str) + "\n```\n")
    return "\n".join(out)


def _figure_count(figs: dict[str, list[tuple[str, Path]]]) -> str:
    """Say how many figures the report holds and where (the tau figure included)."""
    n = sum(len(items) for items in figs.values()) + 1
    return f"{n} figures, each a {FIGURE_FORMAT.upper()} file in figures/."


def _html_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p><em>none</em></p>"
    return df.to_html(
        index=False, border=0, classes="tbl", float_format=lambda v: f"{v:.3g}", na_rep=""
    )


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"/></figure>'


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1150px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.banner{background:#fff3cd;border:2px solid #d39e00;padding:.8em 1em;font-weight:600}
table.tbl{border-collapse:collapse;font-size:.85em;margin:.5em 0;display:block;overflow-x:auto}
table.tbl th,table.tbl td{border-bottom:1px solid #e5e5e5;padding:.3em .6em;text-align:left}
table.tbl th{background:#f5f5f5}figure{margin:1em 0}img{max-width:100%}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:.8em}
"""


def _html(
    sections: list[tuple[str, str, pd.DataFrame]],
    analysis: ReviewAnalysis,
    figs: dict[str, list[tuple[str, Path]]],
    tau_png: Path,
    meta: dict[str, Any],
) -> str:
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>bayesmeta report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(_plan(analysis).title)}</h1>",
    ]
    if analysis.simulated:
        parts.append(f"<p class='banner'>{html.escape(_SIM_BANNER)}</p>")
    parts.append(
        f"<p>Data: {html.escape(analysis.data_label)}. Generated by bayesmeta {__version__}.</p>"
    )
    for heading, intro, frame in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if intro:
            parts.append(f"<p>{html.escape(intro)}</p>")
        parts.append(_html_table(frame))
    parts.append("<h2>Figures</h2>")
    parts.append(f"<p>{html.escape(_figure_count(figs))}</p>")
    for outcome, items in figs.items():
        parts.append(f"<h3>{html.escape(_label(analysis, outcome))}</h3>")
        parts += [_img(path, caption) for caption, path in items]
    parts.append("<h3>Between-trial heterogeneity</h3>")
    parts.append(_img(tau_png, "tau densities"))
    parts.append("<h2>Provenance</h2>")
    parts.append(f"<pre>{html.escape(json.dumps(meta, indent=1, default=str))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts)
