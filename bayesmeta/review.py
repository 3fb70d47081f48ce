"""The review's analysis plan, end to end: what ``bayesmeta reproduce`` runs.

For every outcome of an :class:`~bayesmeta.table.EffectTable`:

1. DerSimonian-Laird random effects (RevMan 5's method) and REML with Knapp-Hartung, with
   RevMan's subgroup analysis by the plan's subgroup variable;
2. the Bayesian random-effects model for all outcomes at once (:class:`MultiOutcome`: one
   compile, one sampling run);
3. Bayesian and frequentist meta-regressions on the moderator sets the plan names, where the
   moderators vary;
4. posterior predictive checks, and the comparison with the published DL estimates.

What is run comes from a :class:`~bayesmeta.plan.ReviewPlan` (the peer-support review's is
``load_plan("peer_support")``); :func:`read_review` reads its data and :func:`published_table`
its published table. The result is a :class:`ReviewAnalysis`, which :mod:`bayesmeta.report`
writes out.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayesmeta.errors import ConvergenceWarning, NotEstimableWarning
from bayesmeta.frequentist import FrequentistResult, rma, subgroup_analysis
from bayesmeta.models.base import DEFAULT_TARGET_ACCEPT
from bayesmeta.plan import Outcome, Regression, ReviewPlan
from bayesmeta.table import EffectTable

__all__ = [
    "ReviewAnalysis",
    "analyse_review",
    "default_plan",
    "published_table",
    "read_review",
]


Progress = Callable[[str], None]


@dataclass
class RegressionFit:
    """A meta-regression of one outcome on some moderators, Bayesian and REML side by side."""

    outcome: str
    moderators: list[str]
    bayes: Any  # Result
    reml: FrequentistResult

    def table(self, ci_prob: float = 0.95) -> pd.DataFrame:
        """One row per coefficient: REML estimate and CI beside the posterior median and CrI."""
        from bayesmeta.results import interval, stack_draws

        rows = []
        names = ["intercept (mu)", *self.moderators]
        beta = stack_draws(self.bayes.posterior["beta"])
        draws = [self.bayes.draws("mu"), *(beta[:, j] for j in range(beta.shape[1]))]
        for j, (name, d) in enumerate(zip(names, draws, strict=True)):
            lo, hi = interval(d, ci_prob)
            rows.append(
                {
                    "outcome": self.outcome,
                    "coefficient": name,
                    "reml_estimate": float(self.reml.beta[j]),
                    "reml_ci_lb": float(self.reml.ci_lb[j]),
                    "reml_ci_ub": float(self.reml.ci_ub[j]),
                    "reml_pval": float(self.reml.pval[j]),
                    "bayes_median": float(np.median(d)),
                    "bayes_ci_lb": lo,
                    "bayes_ci_ub": hi,
                    "p_positive": float(np.mean(d > 0)),
                }
            )
        return pd.DataFrame(rows)


@dataclass
class ReviewAnalysis:
    """Everything the review's analysis plan produced, ready for a report.

    Attributes
    ----------
    table
        The data analysed.
    data_label
        Where the data came from, as shown in the report ("SIMULATED" for the bundled review).
    simulated
        True for simulated data: every output says so.
    frequentist
        One row per outcome and estimator (DL; REML + Knapp-Hartung).
    subgroups
        RevMan's subgroup analysis by organisational-support level, where both levels occur.
    result
        The Bayesian multi-outcome :class:`~bayesmeta.results.Result`.
    comparison
        :meth:`Result.compare` with the published estimates.
    regressions
        Meta-regressions by outcome.
    ppc
        Per-trial posterior predictive p-values
        (:func:`bayesmeta.checks.posterior_predictive_pvalues`).
    ppc_verdicts
        Per-outcome verdicts in words (:func:`bayesmeta.checks.ppc_summary`).
    timings
        Seconds spent in each stage.
    plan
        The review plan the analysis followed (labels, subgroup variable, moderators, title).

    Examples
    --------
    >>> from bayesmeta import datasets
    >>> from bayesmeta.sheet import read_sheet
    >>> table = read_sheet(datasets.load_peer_support_simulated())
    >>> sns = table.for_outcome("social_network_support")
    >>> analysis = analyse_review(sns, data_label="bundled SIMULATED review", simulated=True,
    ...                           draws=500, chains=2)
    >>> isinstance(analysis, ReviewAnalysis), analysis.simulated
    (True, True)
    >>> analysis.frequentist["outcome"].unique().tolist()
    ['social_network_support']
    >>> analysis.converged
    True
    """

    table: EffectTable
    data_label: str
    simulated: bool
    frequentist: pd.DataFrame
    subgroups: pd.DataFrame
    result: Any
    comparison: pd.DataFrame
    regressions: list[RegressionFit] = field(default_factory=list)
    ppc: pd.DataFrame = field(default_factory=pd.DataFrame)
    ppc_verdicts: pd.DataFrame = field(default_factory=pd.DataFrame)
    published: pd.DataFrame | None = None
    model_averaging: pd.DataFrame = field(default_factory=pd.DataFrame)
    reproduction: pd.DataFrame = field(default_factory=pd.DataFrame)
    bf_sensitivity: pd.DataFrame = field(default_factory=pd.DataFrame)
    timings: dict[str, float] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    plan: ReviewPlan | None = None
    #: Values derived from the fields, computed once (see :meth:`derived`).
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def derived(self, key: str, compute: Callable[[], Any]) -> Any:
        """Return ``compute()``, computed once for this analysis and kept under ``key``.

        For values the report's figures and tables share (an outcome's rows, the priors, the
        shrinkage table); the analysis is not meant to change after it is made.
        """
        if key not in self._derived:
            self._derived[key] = compute()
        return self._derived[key]

    @property
    def converged(self) -> bool:
        """True when every Bayesian fit passed its engine's diagnostics."""
        fits = [self.result, *(r.bayes for r in self.regressions)]
        return all(f.diagnostics().ok for f in fits)

    def convergence_problems(self) -> list[str]:
        """Diagnostic problems of every Bayesian fit, prefixed with the fit's name.

        Examples
        --------
        >>> from bayesmeta import datasets
        >>> from bayesmeta.sheet import read_sheet
        >>> table = read_sheet(datasets.load_peer_support_simulated())
        >>> sns = table.for_outcome("social_network_support")
        >>> analysis = analyse_review(sns, data_label="bundled SIMULATED review", simulated=True,
        ...                           draws=500, chains=2)
        >>> analysis.convergence_problems()
        []
        """
        out = [f"all outcomes: {p}" for p in self.result.diagnostics().problems]
        for r in self.regressions:
            out += [
                f"{r.outcome} ~ {' + '.join(r.moderators)}: {p}"
                for p in r.bayes.diagnostics().problems
            ]
        return out

    def regression_table(self, ci_prob: float = 0.95) -> pd.DataFrame:
        """All meta-regression coefficients, one row each.

        Examples
        --------
        >>> from bayesmeta.plan import load_plan
        >>> plan = load_plan("peer_support")
        >>> table, label, simulated = read_review(plan)
        >>> sns = table.for_outcome("social_network_support")
        >>> analysis = analyse_review(sns, plan=plan, data_label=label, simulated=simulated,
        ...                           draws=500, chains=2)
        >>> reg = analysis.regression_table()
        >>> reg["coefficient"].tolist()
        ['intercept (mu)', 'org_support_higher']
        """
        if not self.regressions:
            return pd.DataFrame()
        return pd.concat([r.table(ci_prob) for r in self.regressions], ignore_index=True)


def frequentist_table(
    table: EffectTable,
    fits: Any = (("DL", "z"), ("REML", "knha")),
    mods: list[str] | None = None,
) -> pd.DataFrame:
    """One row per outcome, estimator and coefficient: k, estimate, SE, CI, tau2, I2, Q, PIs.

    Parameters
    ----------
    table
        An :class:`~bayesmeta.table.EffectTable`.
    fits
        (method, test) pairs, metafor's codes.
    mods
        Moderator columns for a meta-regression (one row per coefficient, the intercept
        first); ``None`` for the pooled effect. The prediction intervals are given for the pooled
        effect only: ``pi_lb``/``pi_ub`` as metafor 3.8 (normal quantile; t with k - 1 df under
        Knapp-Hartung), ``pi_t_lb``/``pi_t_ub`` with t on k - 2 df (Higgins, Thompson &
        Spiegelhalter 2009; the Cochrane Handbook and RevMan; NaN below 3 trials).

    Examples
    --------
    >>> import pandas as pd
    >>> tab = EffectTable(pd.DataFrame({"study": list("abc"), "yi": [0.1, 0.4, 0.2],
    ...                                 "vi": [0.02, 0.03, 0.01]}))
    >>> frequentist_table(tab)[["method", "coef", "k"]].values.tolist()
    [['DL', 'intrcpt', 3], ['REML+KH', 'intrcpt', 3]]
    """
    rows = []
    for outcome, sub in table.by_outcome():
        for method, test in fits:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotEstimableWarning)
                r = rma(sub, mods=mods or None, method=method, test=test)
                pt = r.predict(pi_type="t") if r.p == 1 else None
            pi = (r.pi_lb, r.pi_ub) if r.p == 1 else (math.nan, math.nan)
            pi_t = (
                (float(np.ravel(pt.pi_lb)[0]), float(np.ravel(pt.pi_ub)[0]))
                if pt is not None
                else (math.nan, math.nan)
            )
            note = trial_note(r.k)
            if test == "knha" and r.k - r.p < 1:
                note = f"{method}+KH needs k > {r.p} (Knapp-Hartung uses k - {r.p} df)"
            for j, coef in enumerate(r.coef_names):
                rows.append(
                    {
                        "outcome": outcome,
                        "method": method + ("+KH" if test == "knha" else ""),
                        "coef": coef,
                        "k": r.k,
                        "estimate": float(r.beta[j]),
                        "se": float(r.se[j]),
                        "ci_lb": float(r.ci_lb[j]),
                        "ci_ub": float(r.ci_ub[j]),
                        "pval": float(r.pval[j]),
                        "tau2": r.tau2,
                        "I2": r.I2,
                        "QE": r.QE,
                        "QEp": r.QEp,
                        "pi_lb": pi[0],
                        "pi_ub": pi[1],
                        "pi_t_lb": pi_t[0],
                        "pi_t_ub": pi_t[1],
                        "note": note,
                    }
                )
    return pd.DataFrame(rows)


def trial_note(k: int) -> str:
    """Return a warning in words for outcomes with too few trials; empty from 3 trials on.

    Shown beside the outcome in the CLI table, the JSON output and the report.

    Examples
    --------
    >>> trial_note(1)
    '1 trial: no pooling; the Bayesian interval is driven by the tau prior'
    >>> trial_note(5)
    ''
    """
    if k == 1:
        return "1 trial: no pooling; the Bayesian interval is driven by the tau prior"
    if k == 2:
        return "2 trials: heterogeneity barely estimable; intervals depend on the tau prior"
    return ""


#: Ratio measures are analysed (and their numbers printed) as logarithms.
LOG_SCALE: dict[str, str] = {"OR": "log OR", "RR": "log RR"}


def scale_of(measure: str) -> str:
    """Name the scale on which numbers of ``measure`` are analysed and printed.

    Examples
    --------
    >>> scale_of("RR"), scale_of("SMD")
    ('log RR', 'SMD')
    """
    return LOG_SCALE.get(str(measure), str(measure))


def outcome_priors(table: EffectTable) -> dict[str, tuple[Any, Any]]:
    """Return (mu prior, tau prior) of every outcome, as the review's random-effects fit has them.

    Examples
    --------
    >>> from bayesmeta import datasets
    >>> from bayesmeta.sheet import read_sheet
    >>> table = read_sheet(datasets.load_peer_support_simulated())
    >>> outcome_priors(table)["recovery"]
    (Normal(mu=0, sigma=1), HalfNormal(scale=0.5))
    """
    from bayesmeta.models import MultiOutcome

    pri = MultiOutcome(table).priors
    return {o: (pri["mu"][o], pri["tau"][o]) for o in table.outcomes}


def model_averaging_table(
    table: EffectTable, priors: dict[str, tuple[Any, Any]] | None = None, ci_prob: float = 0.95
) -> pd.DataFrame:
    """Tabulate exact Bayesian model averaging per outcome (is there an effect? heterogeneity?).

    One row per outcome: posterior probabilities of the four models (``p_m00`` ... ``p_m11``,
    see :mod:`bayesmeta.bma`), the inclusion Bayes factors ``bf_effect`` and
    ``bf_heterogeneity`` (BF10), the evidence in words, and the model-averaged posterior of
    ``mu`` (mean, equal-tailed interval; the point mass at 0 included).

    Parameters
    ----------
    table
        The review's data.
    priors
        Outcome -> (mu prior, tau prior); default the priors of the review's random-effects fit.
    ci_prob
        Interval probability.

    Examples
    --------
    >>> from bayesmeta import datasets
    >>> from bayesmeta.sheet import read_sheet
    >>> table = read_sheet(datasets.load_peer_support_simulated())
    >>> bma = model_averaging_table(table.for_outcome("recovery"))
    >>> bma.columns[:4].tolist()
    ['outcome', 'k', 'bf_effect', 'evidence_effect']
    """
    from bayesmeta.bma import model_average

    priors = priors or outcome_priors(table)
    rows = []
    for outcome, sub in table.by_outcome():
        mu_prior, tau_prior = priors[outcome]
        bma = model_average(sub.yi, sub.sei, tau_prior=tau_prior, mu_prior=mu_prior)
        words = bma.statements()
        summ = bma.summary(ci_prob)
        rows.append(
            {
                "outcome": outcome,
                "k": sub.k,
                "bf_effect": bma.bf_effect,
                "evidence_effect": words["effect"],
                "bf_heterogeneity": bma.bf_heterogeneity,
                "evidence_heterogeneity": words["heterogeneity"],
                "p_effect": summ["p_effect"],
                "mu_mean": summ["mean"],
                "mu_ci_lb": summ["ci_lb"],
                "mu_ci_ub": summ["ci_ub"],
                **{f"p_{m}": float(p) for m, p in bma.models["post_prob"].items()},
            }
        )
    return pd.DataFrame(rows)


#: Multipliers of the default prior scales in the Bayes-factor sensitivity analysis.
BF_SENSITIVITY_FACTORS: tuple[float, ...] = (0.5, 1.0, 2.0)


def bf_sensitivity_table(
    table: EffectTable,
    priors: dict[str, tuple[Any, Any]] | None = None,
    factors: tuple[float, ...] = BF_SENSITIVITY_FACTORS,
) -> pd.DataFrame:
    """How the Bayes factor for an effect depends on the prior scales, per outcome.

    Bayes factors depend on the priors more than posteriors do (a wider ``mu`` prior predicts
    larger effects and so favours "no effect"). Each row: one outcome with the ``mu`` prior's
    and the ``tau`` prior's scale multiplied by a factor from ``factors`` (normal and
    half-normal priors; other families keep their scale), the inclusion BF10 for an effect and
    its words.

    Examples
    --------
    >>> from bayesmeta import datasets
    >>> from bayesmeta.sheet import read_sheet
    >>> table = read_sheet(datasets.load_peer_support_simulated())
    >>> sens = bf_sensitivity_table(table.for_outcome("recovery"))
    >>> len(sens), sens.columns[:3].tolist()
    (9, ['outcome', 'mu_scale', 'tau_scale'])
    """
    from bayesmeta.bma import model_average

    priors = priors or outcome_priors(table)
    rows = []
    for outcome, sub in table.by_outcome():
        mu_prior, tau_prior = priors[outcome]
        for fm in factors:
            for ft in factors:
                mp, tp = _scaled(mu_prior, fm), _scaled(tau_prior, ft)
                if mp is None or tp is None:
                    continue
                bma = model_average(sub.yi, sub.sei, tau_prior=tp, mu_prior=mp)
                rows.append(
                    {
                        "outcome": outcome,
                        "mu_scale": fm,
                        "tau_scale": ft,
                        "mu_prior": str(mp),
                        "tau_prior": str(tp),
                        "bf_effect": bma.bf_effect,
                        "evidence_effect": bma.statements()["effect"],
                    }
                )
    return pd.DataFrame(rows)


def _scaled(prior: Any, factor: float) -> Any:
    """Return the prior with its scale times ``factor`` (normal, half-normal), else None."""
    from bayesmeta.priors import HalfNormal, Normal

    if factor == 1.0:
        return prior
    if isinstance(prior, Normal):
        return Normal(prior.mu, prior.sigma * factor)
    if isinstance(prior, HalfNormal):
        return HalfNormal(prior.scale * factor)
    return None


def subgroup_table(
    table: EffectTable,
    column: str | None,
    published: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """RevMan's subgroup analysis (DL within subgroups, chi-square test between) per outcome.

    ``column`` is the subgroup variable (a column of ``table.data``; None or absent: an empty
    table). Outcomes where only one level occurs are left out. With ``published`` (a table
    like ``datasets.load_white2020().published`` with ``subgroup_variable`` and ``subgroup``
    columns), the published subgroup estimates are set beside the re-computed ones.

    Examples
    --------
    >>> from bayesmeta import datasets
    >>> from bayesmeta.sheet import read_sheet
    >>> table = read_sheet(datasets.load_peer_support_simulated())
    >>> sg = subgroup_table(table, "org_support_level",
    ...                     published=datasets.load_white2020().published)
    >>> row = sg[(sg.outcome == "social_network_support") & (sg.subgroup == "lower")].iloc[0]
    >>> float(row["published_estimate"]), int(row["k"])
    (0.5, 1)
    """
    rows = []
    if column is None or column not in table.data.columns:
        return pd.DataFrame()
    for outcome, sub in table.by_outcome():
        groups = sub.data[column].astype(str)
        if groups.nunique() < 2:
            continue
        sg = subgroup_analysis(sub.yi, sub.vi, groups, method="DL")
        frame = sg.to_frame().reset_index()
        frame.insert(0, "outcome", outcome)
        frame["Q_between"] = sg.Q_between
        frame["df_between"] = sg.df
        frame["p_between"] = sg.pval
        rows.append(frame)
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    if published is not None and not out.empty and "subgroup_variable" in published.columns:
        pub = published[published["subgroup_variable"] == column]
        pub = pub[["outcome", "subgroup", "estimate", "ci_lb", "ci_ub"]].rename(
            columns={c: f"published_{c}" for c in ("estimate", "ci_lb", "ci_ub")}
        )
        out = out.merge(pub, on=["outcome", "subgroup"], how="left")
    return out


def _regression_sets(sub: EffectTable, regressions: tuple[Regression, ...]) -> list[list[str]]:
    """Return the plan's moderator sets estimable for this outcome.

    A set is fitted when the outcome has at least its ``min_k`` trials, every moderator in it
    varies, and the design (intercept and moderators) has full column rank.
    """
    sets: list[list[str]] = []
    data = sub.data
    for reg in regressions:
        mods = list(reg.moderators)
        if sub.k < reg.min_k or not all(m in data.columns for m in mods):
            continue
        if not all(data[m].nunique() >= 2 for m in mods):
            continue
        X = np.column_stack([np.ones(sub.k), data[mods].to_numpy(float)])
        if np.linalg.matrix_rank(X) == X.shape[1]:
            sets.append(mods)
    return sets


def _sampling(draws: int, tune: int, chains: int, target_accept: float | None) -> dict[str, Any]:
    """Collect the settings shared by every Bayesian fit (default ``target_accept`` filled)."""
    if target_accept is None:
        target_accept = DEFAULT_TARGET_ACCEPT
    return {"draws": draws, "tune": tune, "chains": chains, "target_accept": target_accept}


#: Bayesian meta-regressions already fitted, by (outcome, moderators).
Joint = dict[tuple[str, tuple[str, ...]], Any]


def _fit_random_effects(
    table: EffectTable,
    engine: str,
    seed: int,
    sampling: dict[str, Any],
    say: Progress,
    regressions: tuple[Regression, ...] = (),
) -> tuple[Any, Joint]:
    """Fit the Bayesian random-effects model of all outcomes at once.

    With ``engine="nuts"`` the meta-regression ``regressions`` are sampled in the same run
    (:func:`_joint_nuts`: one compilation, one sampling run) and returned for
    :func:`_fit_regressions`; otherwise the second item is empty.
    """
    from bayesmeta.models import MultiOutcome

    if engine == "nuts":
        sets = _sets(table, regressions)
        say(
            f"bayesian (nuts): random effects of {len(table.outcomes)} outcomes and {len(sets)} "
            "meta-regressions in one model, one sampling run"
        )
        results = _joint_nuts(table, sets, seed, sampling, with_random_effects=True)
        return results[0], {(o, tuple(m)): r for (o, m), r in zip(sets, results[1:], strict=True)}
    say(f"bayesian ({engine}): random effects, all {len(table.outcomes)} outcomes in one model")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # collected in the result instead
        result = MultiOutcome(table).fit(
            sampling["draws"], engine=engine, random_seed=seed, **_kw(sampling)
        )
    return result, {}


def _sets(table: EffectTable, regressions: tuple[Regression, ...]) -> list[tuple[str, list[str]]]:
    """Every (outcome, moderators) meta-regression of the plan estimable in ``table``."""
    return [(o, m) for o, sub in table.by_outcome() for m in _regression_sets(sub, regressions)]


def _averaging_tables(table: EffectTable, say: Progress) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tabulate model averaging and its Bayes-factor sensitivity under the random-effects priors."""
    say("model averaging: evidence for an effect and for heterogeneity, per outcome (exact)")
    priors = outcome_priors(table)  # the priors of the random-effects fit
    return model_averaging_table(table, priors), bf_sensitivity_table(table, priors)


def _fit_regressions(
    table: EffectTable,
    engine: str,
    seed: int,
    sampling: dict[str, Any],
    say: Progress,
    regressions: tuple[Regression, ...] = (),
    joint: Joint | None = None,
) -> list[RegressionFit]:
    """Fit the Bayesian and REML + Knapp-Hartung meta-regressions of every outcome.

    Bayesian fits found in ``joint`` (the NUTS run of :func:`_fit_random_effects`) are used as
    they are. With ``engine="nuts"`` and no ``joint``, the meta-regressions are sampled in one
    joint run of their own.
    """
    from bayesmeta.models import MetaRegression

    if joint is None and engine == "nuts":
        sets = _sets(table, regressions)
        if sets:
            say(f"bayesian (nuts): {len(sets)} meta-regressions in one model, one sampling run")
            results = _joint_nuts(table, sets, seed, sampling, with_random_effects=False)
            joint = {(o, tuple(m)): r for (o, m), r in zip(sets, results, strict=True)}
    joint = joint or {}
    fits: list[RegressionFit] = []
    for i, (outcome, sub) in enumerate(table.by_outcome()):
        for mods in _regression_sets(sub, regressions):
            say(f"meta-regression: {outcome} ~ {' + '.join(mods)}")
            bayes = joint.get((outcome, tuple(mods)))
            if bayes is None:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    bayes = MetaRegression(sub, mods=mods).fit(
                        sampling["draws"],
                        engine=engine,
                        random_seed=seed + 1 + i,
                        **_kw(sampling),
                    )
            reml = rma(sub, mods=mods, method="REML", test="knha")
            fits.append(RegressionFit(outcome, list(mods), bayes, reml))
    return fits


def _joint_nuts(
    table: EffectTable,
    sets: list[tuple[str, list[str]]],
    seed: int,
    sampling: dict[str, Any],
    *,
    with_random_effects: bool,
) -> list[Any]:
    """Fit [MultiOutcome(table) if asked] + one MetaRegression per set in one NUTS run.

    One compilation and one sampling run (:class:`bayesmeta.models.joint.JointFit`) instead of
    one per fit; each fit's posterior is that of its own model (no parameter is shared).
    """
    from bayesmeta.models import MetaRegression, MultiOutcome
    from bayesmeta.models.joint import JointFit

    models: list[Any] = [MultiOutcome(table)] if with_random_effects else []
    models += [MetaRegression(table.for_outcome(o), mods=mods) for o, mods in sets]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # collected in the results instead
        return JointFit(models).fit(sampling["draws"], random_seed=seed, **_kw(sampling))


def _run_checks(
    result: Any, seed: int, published: pd.DataFrame | None, say: Progress
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run the posterior predictive checks and compare with the published estimates."""
    from bayesmeta import checks

    say("checks: posterior predictive, comparison with published estimates")
    ppc = checks.posterior_predictive_pvalues(result, random_seed=seed)
    verdicts = checks.ppc_summary(result, random_seed=seed)
    return ppc, verdicts, result.compare(published=published)


def analyse_review(
    table: EffectTable,
    *,
    plan: ReviewPlan | None = None,
    data_label: str = "",
    simulated: bool = False,
    published: pd.DataFrame | None = None,
    seed: int = 20201103,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    target_accept: float | None = None,
    regressions: bool = True,
    engine: str = "auto",
    progress: Progress | None = None,
) -> ReviewAnalysis:
    """Run the review's analysis plan on ``table``.

    Parameters
    ----------
    table
        The review's data, one row per trial and outcome (e.g. from :func:`read_review`).
    plan
        The review plan (:func:`bayesmeta.plan.load_plan`): labels, subgroup variable and
        moderator sets; default :func:`default_plan` (no subgroups or meta-regressions).
    data_label, simulated
        Provenance shown in every output.
    published
        Published pooled estimates (``outcome``, ``subgroup``, ``estimate``, ``ci_lb``,
        ``ci_ub``), e.g. ``datasets.load_white2020().published``.
    seed
        Seed of every random draw: the same seed gives the same numbers.
    draws, tune, chains, target_accept
        Settings for every Bayesian fit (``target_accept``: NUTS only, default
        :data:`bayesmeta.models.base.DEFAULT_TARGET_ACCEPT`).
    regressions
        Fit the meta-regressions the plan names.
    engine
        ``"auto"`` (default: exact independent draws for these normal-normal models),
        ``"exact"`` or ``"nuts"`` (nutpie or PyMC NUTS); see :meth:`BaseModel.fit`.
    progress
        Called with a short status line before each stage.

    Returns
    -------
    ReviewAnalysis

    Examples
    --------
    >>> from bayesmeta.plan import load_plan
    >>> plan = load_plan("peer_support")
    >>> table, label, simulated = read_review(plan)
    >>> sns = table.for_outcome("social_network_support")
    >>> analysis = analyse_review(sns, plan=plan, data_label=label, simulated=simulated,
    ...                           draws=500, chains=2)
    >>> analysis.table.k, analysis.result.engine, len(analysis.regressions)
    (4, 'exact', 1)
    """
    say = progress or (lambda _msg: None)
    plan = plan if plan is not None else default_plan(table)
    column = plan.subgroup.column if plan.subgroup is not None else None
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    say(f"frequentist: DL and REML+KH for {len(table.outcomes)} outcomes")
    freq, subgroups = frequentist_table(table), subgroup_table(table, column, published)
    timings["frequentist"] = time.perf_counter() - t0

    sampling = _sampling(draws, tune, chains, target_accept)
    t0 = time.perf_counter()
    wanted = plan.regressions if regressions else ()
    result, joint = _fit_random_effects(table, engine, seed, sampling, say, wanted)
    timings["bayesian_random_effects"] = time.perf_counter() - t0  # with NUTS: the joint run

    fits: list[RegressionFit] = []
    if regressions:
        t0 = time.perf_counter()
        joint_fits = joint if engine == "nuts" else None
        fits = _fit_regressions(table, engine, seed, sampling, say, wanted, joint_fits)
        timings["meta_regression"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    bma, bf_sens = _averaging_tables(table, say)
    timings["model_averaging"] = time.perf_counter() - t0

    ppc, verdicts, comparison = _run_checks(result, seed, published, say)
    return ReviewAnalysis(
        table=table,
        data_label=data_label,
        simulated=simulated,
        frequentist=freq,
        subgroups=subgroups,
        result=result,
        comparison=comparison,
        regressions=fits,
        ppc=ppc,
        ppc_verdicts=verdicts,
        published=published,
        model_averaging=bma,
        bf_sensitivity=bf_sens,
        timings=timings,
        settings=_settings(result, seed, engine, sampling),
        plan=plan,
    )


def _settings(result: Any, seed: int, engine: str, sampling: dict[str, Any]) -> dict[str, Any]:
    """Provenance of the Bayesian fits: the engine used and the settings that applied to it."""
    out: dict[str, Any] = {
        "seed": seed,
        "engine_requested": engine,
        "engine": result.engine,
        "engine_reason": result.sampling.get("engine_reason", ""),
        "draws": sampling["draws"],
        "chains": sampling["chains"],
    }
    if result.engine == "nuts":
        out.update(sampler=result.sampler, tune=sampling["tune"])
        out["target_accept"] = sampling["target_accept"]
    else:
        out["quadrature"] = result.diagnostics().to_dict()["method"]
    return out


def _kw(sampling: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sampling.items() if k != "draws"}


def fmt_ci(est: float, lb: float, ub: float, digits: int = 2) -> str:
    """``"0.12 (-0.05, 0.30)"``; an empty string when the estimate or its interval is missing."""
    if any(v is None or not math.isfinite(v) for v in (est, lb, ub)):
        return ""
    return f"{est:.{digits}f} ({lb:.{digits}f}, {ub:.{digits}f})"


def default_plan(table: EffectTable, title: str = "Bayesian meta-analysis") -> ReviewPlan:
    """Return a plan for a table without one: its outcomes, no subgroups or moderators.

    Examples
    --------
    >>> import pandas as pd
    >>> tab = EffectTable(pd.DataFrame({"study": list("abc"), "yi": [0.1, 0.4, 0.2],
    ...                                 "vi": [0.02, 0.03, 0.01]}), measure="SMD")
    >>> plan = default_plan(tab)
    >>> [(o.name, o.measure, o.direction) for o in plan.outcomes]
    [('overall', 'SMD', 'higher')]
    """
    outcomes = []
    for outcome, sub in table.by_outcome():
        measure = str(sub.data["measure"].iloc[0]) if "measure" in sub.data else "GEN"
        outcomes.append(Outcome(outcome, outcome, measure, sub.direction()))
    return ReviewPlan(title=title, outcomes=tuple(outcomes))


def read_review(
    plan: ReviewPlan, data: str | None = None, *, source: str | None = None
) -> tuple[EffectTable, str, bool]:
    """Read a review's extraction sheet as its plan declares it.

    Parameters
    ----------
    plan
        The review plan.
    data
        An extraction sheet (CSV); default the plan's ``[data] sheet`` (a bundled dataset or
        a CSV beside the plan).
    source
        Name of the data in error messages.

    Returns
    -------
    (EffectTable, str, bool)
        The table, the data label shown in every output, and whether the data are simulated.

    Raises
    ------
    DataError
        When neither ``data`` nor the plan names a sheet, and every error of
        :func:`bayesmeta.sheet.read_sheet`.

    Examples
    --------
    >>> from bayesmeta.plan import load_plan
    >>> table, label, simulated = read_review(load_plan("peer_support"))
    >>> table.k, simulated, label.startswith("bundled SIMULATED")
    (46, True, True)
    """
    from bayesmeta import datasets
    from bayesmeta.errors import DataError
    from bayesmeta.sheet import read_sheet

    if data is not None:
        table = read_sheet(data, convention=plan.convention, source=source, plan=plan)
        return table, f"extraction sheet {data}", False
    sheet = plan.data
    if sheet is None:
        raise DataError(
            "the review plan names no data ([data] sheet = ...); give --data sheet.csv",
            source=plan.source,
        )
    if sheet.bundled:
        frame = datasets.load(sheet.name)
        table = read_sheet(frame, convention=plan.convention, source=sheet.name, plan=plan)
    else:
        table = read_sheet(sheet.path, convention=plan.convention, plan=plan)  # type: ignore[arg-type]
    return table, sheet.label, sheet.simulated


def published_table(plan: ReviewPlan) -> pd.DataFrame | None:
    """Return the plan's published table (``outcome``, ``estimate``, ``ci_lb``, ...), or None.

    Examples
    --------
    >>> from bayesmeta.plan import load_plan
    >>> pub = published_table(load_plan("peer_support"))
    >>> pub.loc[0, "outcome"], float(pub.loc[0, "estimate"])
    ('social_network_support', 0.09)
    """
    from bayesmeta import datasets
    from bayesmeta.errors import DataError
    from bayesmeta.table import read_csv

    pub = plan.published
    if pub is None:
        return None
    if pub.bundled:
        return datasets.load(pub.name)
    frame = read_csv(pub.path)  # type: ignore[arg-type]
    missing = [c for c in ("outcome", "estimate", "ci_lb", "ci_ub") if c not in frame.columns]
    if missing:
        raise DataError(
            f"the published table needs columns outcome, estimate, ci_lb, ci_ub; missing "
            f"{missing} (the review plan's [published] table)",
            column=missing[0],
            source=str(pub.path),
        )
    for col in ("estimate", "ci_lb", "ci_ub"):
        text = frame[col].fillna("").astype(str).str.strip()
        num = pd.to_numeric(text.where(text != "", None), errors="coerce")
        bad = (text != "") & num.isna()
        if bad.any():
            raise DataError(
                f"line {bad.idxmax()}: column {col!r} holds {text[bad].iloc[0]!r}, not a number; "
                "give published estimates and CI bounds as plain numbers (blank when unknown)",
                column=col,
                source=str(pub.path),
            )
        frame[col] = num.astype(float)
    return frame.reset_index(drop=True)
