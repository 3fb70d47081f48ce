r"""Model checks for fitted meta-analyses: posterior predictive checks, PSIS-LOO, prior predictive.

========================================= ==========================================================
:func:`posterior_predictive_pvalues`      one row per trial: observed estimate, predictive median
                                          and 95% interval, two-sided predictive p-value
:func:`ppc_summary`                       per outcome, a verdict in plain words and a check of
                                          the spread between trials (SD test statistic)
:func:`loo`                               PSIS-LOO (ArviZ 1): elpd, SE, p_loo, Pareto k per trial
:func:`compare_models`                    LOO comparison of several fits to the same data
                                          (``az.compare``), Pareto-k warnings carried
:func:`prior_predictive_summary`          what the priors imply for ``mu``, ``tau``,
                                          ``theta_new`` and ``y`` before seeing the data
========================================= ==========================================================

Replicated data
---------------
For trial :math:`i` with standard error :math:`s_i` two kinds of replicate are offered:

* ``predictive="mixed"`` (default): a *new* study effect for the same trial,
  :math:`y_i^{rep} = \mu + x_i^\top\beta + \tau z + s_i e`, :math:`z, e \sim N(0,1)`, one draw per
  posterior draw (Marshall & Spiegelhalter 2007, "mixed predictive" check). The trial's own
  :math:`\theta_i` is not used, so an outlying trial cannot pull its own replicate towards
  itself: this check detects outliers.
* ``predictive="posterior"``: the replicate of the fitted trial, :math:`y_i^{rep} = \theta_i +
  s_i e`, from the result's ``posterior_predictive`` group. Because :math:`\theta_i` is shrunk
  only partly away from :math:`y_i`, this check is conservative (p-values pile up near 1).

For the binomial model the replicates are event counts per arm, with the treatment arm's log
odds :math:`\alpha_i + \mu + \tau z` (mixed) or :math:`\alpha_i + \theta_i` (posterior).

The predictive p-value of trial :math:`i` is :math:`p_i^{+} = P(y_i^{rep} > y_i) +
\tfrac12 P(y_i^{rep} = y_i)` (the mid-p, which matters for counts only) and its two-sided version
:math:`2\min(p_i^{+}, 1 - p_i^{+})`. Posterior predictive p-values use the data twice and are
not uniform under the model; read them as a screen, not a test.

LOO
---
For the normal-likelihood models (common effect, random effects, meta-regression,
multi-outcome) :func:`loo` by default uses the log-likelihood with each trial's effect
integrated out, :math:`\log N(y_i \mid \mu + x_i^\top\beta, s_i^2 + \tau^2)`: leave-one-*trial*-out
prediction of a new trial's estimate. Importance sampling is far more stable for it than for the
conditional likelihood :math:`N(y_i \mid \theta_i, s_i^2)` stored in the result (whose
:math:`\theta_i` is informed mostly by :math:`y_i` itself, so Pareto k is often above 0.7);
``integrated=False`` uses the stored one. For the binomial model the log-likelihood of a trial is
the sum over its two arms (conditional on :math:`\theta_i` and the baseline :math:`\alpha_i`).

See also: R bayesmeta's ``plot(..., which = 'predictive')``; loo::loo, loo::loo_compare.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from bayesmeta import _dims as D
from bayesmeta._registry import BINOMIAL, COMMON_EFFECT, MULTI_OUTCOME, NORMAL_MODELS
from bayesmeta.errors import ModelSpecError

if TYPE_CHECKING:
    import xarray as xr

    from bayesmeta.models.base import BaseModel
    from bayesmeta.results import Result

__all__ = [
    "BAD_K",
    "LooResult",
    "compare_models",
    "loo",
    "posterior_predictive_pvalues",
    "ppc_summary",
    "prior_predictive_summary",
]

#: Pareto k above which a PSIS-LOO term is unreliable (Vehtari et al. 2024).
BAD_K = 0.7
#: Kinds of replicated data for the posterior predictive checks.
PREDICTIVES: tuple[str, ...] = ("mixed", "posterior")
_QUANTILES = (0.025, 0.25, 0.5, 0.75, 0.975)


# ------------------------------------------------------------------------------------------------
# draws of the model's pieces


def _stack(da: Any, *trailing: Any) -> np.ndarray:
    """(chain, draw, ...) DataArray -> float array (chain, draw, *trailing)."""
    return np.asarray(da.transpose(D.CHAIN, D.DRAW, *trailing).values, dtype=float)


def _model_name(result: Result) -> str:
    return result.model_name


def _normal_parts(result: Result) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD of the study effects, each (chain, draw, k): ``mu (+ X beta)`` and ``tau``.

    Rows follow the table (one per estimate).
    """
    post = result.posterior
    name = _model_name(result)
    k = result.table.k
    if name == MULTI_OUTCOME:
        index = {o: i for i, o in enumerate(result.outcomes)}
        idx = np.array([index[o] for o in result.table.data["outcome"]], dtype=int)
        mu = _stack(post[D.MU], D.OUTCOME)[..., idx]
        tau = _stack(post[D.TAU], D.OUTCOME)[..., idx]
        return mu, tau
    mu = _stack(post[D.MU])[..., None] * np.ones(k)
    tau = _stack(post[D.TAU])[..., None] * np.ones(k) if D.TAU in post else np.zeros_like(mu)
    if D.BETA in post:
        X = result.design()
        if X is None:
            raise ModelSpecError(
                "the result has coefficients beta but no moderator matrix X in constant_data; "
                "refit it with this bayesmeta"
            )
        beta = _stack(post[D.BETA], D.MODERATOR)
        mu = mu + np.einsum("cdm,km->cdk", beta, X)
    return mu, tau


def _binomial_counts(result: Result) -> tuple[np.ndarray, np.ndarray]:
    """Observed events (k, 2) and arm totals (k, 2), arms (treatment, control)."""
    obs = np.asarray(result.idata["observed_data"][D.Y].values, dtype=float)
    n = result.arm_totals()
    if n is None:
        raise ModelSpecError(
            "the binomial result has no arm totals n in constant_data; refit it with this bayesmeta"
        )
    return obs, n


def _expit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def _replicates(result: Result, predictive: str, rng: np.random.Generator) -> np.ndarray:
    """Replicated data, shape (S, k) for normal models and (S, k, 2) for the binomial one."""
    if predictive not in PREDICTIVES:
        raise ModelSpecError(f"predictive must be one of {PREDICTIVES}, got {predictive!r}")
    name = _model_name(result)
    if name == BINOMIAL:
        _, n = _binomial_counts(result)
        if predictive == "posterior" and "posterior_predictive" in result.idata.children:
            rep = _stack(result.idata["posterior_predictive"][D.Y], D.STUDY, D.ARM)
            return rep.reshape(-1, *rep.shape[2:])
        post = result.posterior
        alpha = _stack(post["alpha"], D.STUDY).reshape(-1, n.shape[0])
        if predictive == "posterior":
            theta = _stack(post[D.THETA], D.STUDY).reshape(-1, n.shape[0])
        else:
            mu = _stack(post[D.MU]).reshape(-1, 1)
            tau = _stack(post[D.TAU]).reshape(-1, 1)
            theta = mu + tau * rng.standard_normal(alpha.shape)
        p = np.stack([_expit(alpha + theta), _expit(alpha)], axis=-1)
        return rng.binomial(n.astype(np.int64), p).astype(float)
    if name not in NORMAL_MODELS:
        raise ModelSpecError(f"no predictive checks for model {name!r}")
    sei = result.table.sei
    if predictive == "posterior":
        if "posterior_predictive" in result.idata.children:
            da = result.idata["posterior_predictive"][D.Y]
            dim = next(d for d in da.dims if d not in (D.CHAIN, D.DRAW))
            rep = _stack(da, dim)
            return rep.reshape(-1, rep.shape[-1])
        dim = D.ESTIMATE if name == MULTI_OUTCOME else D.STUDY
        theta = _stack(result.posterior[D.THETA], dim).reshape(-1, sei.size)
        return theta + sei * rng.standard_normal(theta.shape)
    mu, tau = _normal_parts(result)
    mu, tau = mu.reshape(-1, sei.size), tau.reshape(-1, sei.size)
    sd = np.sqrt(tau**2 + sei**2)
    return mu + sd * rng.standard_normal(mu.shape)


def _pvals(rep: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mid-p ``P(rep > obs) + P(rep = obs) / 2`` and its two-sided version, per column."""
    upper = np.mean(rep > obs, axis=0) + 0.5 * np.mean(rep == obs, axis=0)
    return upper, np.minimum(1.0, 2 * np.minimum(upper, 1 - upper))


# ------------------------------------------------------------------------------------------------
# posterior predictive checks


def posterior_predictive_pvalues(
    result: Result, *, predictive: str = "mixed", random_seed: int | None = None
) -> pd.DataFrame:
    """Trial-by-trial posterior predictive check.

    Parameters
    ----------
    result
        A fitted :class:`~bayesmeta.results.Result`.
    predictive
        ``"mixed"`` (default; a new effect for the trial, detects outliers) or ``"posterior"``
        (the stored replicates of the fitted trial; conservative). See the module docstring.
    random_seed
        Seed of the replicates drawn here (``"mixed"``, or ``"posterior"`` without a stored
        ``posterior_predictive`` group).

    Returns
    -------
    pandas.DataFrame
        One row per estimate (per trial and arm for the binomial model, with an ``arm``
        column): ``study``, ``outcome``, ``y_obs``, ``pred_median``, ``pred_lb``, ``pred_ub``
        (95% equal-tailed predictive interval), ``p_greater`` (mid-p
        :math:`P(y^{rep} > y) + P(y^{rep} = y)/2`), ``p_value`` (two-sided,
        ``2 * min(p_greater, 1 - p_greater)``) and ``outside_95``. ``df.attrs`` records
        ``predictive`` and ``draws``.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
    ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
    >>> res = RandomEffects(tab).fit(200, random_seed=1)
    >>> ppc = posterior_predictive_pvalues(res, random_seed=1)
    >>> ppc[["study", "y_obs", "outside_95"]].values.tolist()
    [['a', 0.1, False], ['b', 0.3, False], ['c', 0.2, False], ['d', 0.5, False]]
    >>> bool(ppc["p_value"].between(0, 1).all())
    True
    """
    rng = np.random.default_rng(random_seed)
    rep = _replicates(result, predictive, rng)
    df = result.table.data
    if _model_name(result) == BINOMIAL:
        obs, _ = _binomial_counts(result)
        k = obs.shape[0]
        rep2 = rep.reshape(rep.shape[0], -1)
        obs2 = obs.reshape(-1)
        study = np.repeat(df["study"].to_numpy(), 2)
        outcome = np.repeat(df["outcome"].to_numpy(), 2)
        arm: np.ndarray | None = np.tile(np.array(D.ARMS), k)
    else:
        obs2 = result.table.yi
        rep2 = rep
        study, outcome, arm = df["study"].to_numpy(), df["outcome"].to_numpy(), None
    q = np.quantile(rep2, [0.025, 0.5, 0.975], axis=0)
    upper, two = _pvals(rep2, obs2)
    out = pd.DataFrame({"study": study, "outcome": outcome})
    if arm is not None:
        out[D.ARM] = arm
    out["y_obs"] = obs2
    out["pred_median"] = q[1]
    out["pred_lb"] = q[0]
    out["pred_ub"] = q[2]
    out["p_greater"] = upper
    out["p_value"] = two
    out["outside_95"] = (obs2 < q[0]) | (obs2 > q[2])
    out.attrs.update(predictive=predictive, draws=int(rep2.shape[0]))
    return out


def _sd_stat(result: Result, obs: np.ndarray, rep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the spread statistic: SD across trials of the estimates (binomial: log ORs)."""
    if _model_name(result) != BINOMIAL:
        return np.std(obs, ddof=1, axis=-1), np.std(rep, ddof=1, axis=-1)
    _, n = _binomial_counts(result)

    def log_or(events: np.ndarray) -> np.ndarray:
        a, c = events[..., 0], events[..., 1]
        b, d = n[:, 0] - a, n[:, 1] - c
        zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
        h = np.where(zero, 0.5, 0.0)  # metafor's add = 1/2 to tables with a zero cell
        out: np.ndarray = np.log((a + h) * (d + h) / ((b + h) * (c + h)))
        return out

    return np.std(log_or(obs), ddof=1, axis=-1), np.std(log_or(rep), ddof=1, axis=-1)


def ppc_summary(
    result: Result, *, predictive: str = "mixed", random_seed: int | None = None
) -> pd.DataFrame:
    r"""Posterior predictive checks per outcome, in words a reviewer can read.

    Two checks: how many trials lie outside their 95% predictive interval (about 5% are
    expected by chance), and whether the model reproduces the spread between trials: the SD of
    the estimates across trials (binomial model: of the empirical log odds ratios, 1/2 added
    to tables with a zero cell), observed against replicated, with the predictive p-value
    :math:`P(SD(y^{rep}) \ge SD(y))`. A p-value near 0 means the trials disagree more than the
    model allows (heterogeneity understated, or an outlier); near 1, less (a prior that forces
    heterogeneity, or overestimated standard errors).

    Returns
    -------
    pandas.DataFrame
        One row per outcome: ``outcome``, ``k``, ``n_outside`` (trials with an estimate or an
        arm outside its interval), ``expected_outside`` (0.05 k), ``outside_studies``,
        ``verdict`` ("no misfit detected" or "k trial(s) outside their 95% predictive
        interval"), ``sd_obs``, ``sd_rep_median``, ``p_sd``, ``sd_verdict`` and ``text``
        (both checks in one paragraph).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
    ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
    >>> res = RandomEffects(tab).fit(200, random_seed=1)
    >>> out = ppc_summary(res, random_seed=1)
    >>> out[["outcome", "k", "n_outside", "verdict"]].values.tolist()
    [['overall', 4, 0, 'no misfit detected']]
    >>> 0 <= float(out["p_sd"].iloc[0]) <= 1
    True
    """
    rng = np.random.default_rng(random_seed)
    rep = _replicates(result, predictive, rng)
    per = posterior_predictive_pvalues(result, predictive=predictive, random_seed=random_seed)
    binomial = _model_name(result) == BINOMIAL
    obs_all = _binomial_counts(result)[0] if binomial else result.table.yi
    outcome_col = result.table.data["outcome"].to_numpy()
    rows = []
    for o in result.outcomes:
        sel = outcome_col == o
        k = int(sel.sum())
        sub = per[per["outcome"] == o]
        studies = list(dict.fromkeys(sub.loc[sub["outside_95"], "study"].astype(str)))
        n_out = len(studies)
        if n_out == 0:
            verdict = "no misfit detected"
        else:
            verdict = (
                f"{n_out} trial{'s' if n_out > 1 else ''} outside their 95% predictive interval"
            )
        if k >= 2:
            t_obs, t_rep = _sd_stat(result, obs_all[sel], rep[:, sel])
            t_obs_f = float(t_obs)
            p_sd = float(np.mean(t_rep >= t_obs_f))
            sd_med = float(np.median(t_rep))
        else:
            t_obs_f = p_sd = sd_med = math.nan
        sd_verdict = _sd_words(p_sd)
        scale = " (log odds ratios)" if binomial else ""
        where = f": {', '.join(studies)}" if studies else ""
        text = (
            f"{o}: {n_out} of {k} trials lie outside their 95% predictive interval "
            f"(about {0.05 * k:.1f} expected by chance){where}. "
        )
        if math.isfinite(p_sd):
            text += (
                f"Spread between trials{scale}: observed SD {t_obs_f:.3g}, replicated SD "
                f"median {sd_med:.3g}, P(replicated SD >= observed) = {p_sd:.2f}: {sd_verdict}."
            )
        else:
            text += "The spread between trials cannot be checked with one trial."
        rows.append(
            {
                "outcome": o,
                "k": k,
                "n_outside": n_out,
                "expected_outside": 0.05 * k,
                "outside_studies": studies,
                "verdict": verdict,
                "sd_obs": t_obs_f,
                "sd_rep_median": sd_med,
                "p_sd": p_sd,
                "sd_verdict": sd_verdict,
                "text": text,
            }
        )
    out = pd.DataFrame(rows)
    out.attrs.update(predictive=predictive)
    return out


def _sd_words(p: float) -> str:
    if not math.isfinite(p):
        return "not checked"
    if p < 0.05:
        return "the trials disagree more than the model predicts"
    if p > 0.95:
        return "the trials agree more closely than the model predicts"
    return "the model reproduces the spread between trials"


# ------------------------------------------------------------------------------------------------
# LOO


@dataclass(frozen=True)
class LooResult:
    """PSIS-LOO estimate of a fit's out-of-sample predictive accuracy.

    Attributes
    ----------
    elpd
        Expected log pointwise predictive density (sum over trials); higher is better.
    se
        Its standard error.
    p_loo
        Effective number of parameters.
    pareto_k
        Pareto k per trial (index: study; ``(outcome, study)`` for multi-outcome fits).
    n_bad_k
        Trials with ``k > 0.7`` (:data:`BAD_K`), whose terms are unreliable.
    good_k
        ArviZ's sample-size dependent threshold ``min(1 - 1/log10(S), 0.7)``.
    warning
        Empty if every k is fine; else what is wrong and what to do.
    pointwise
        One row per trial: ``study``, ``outcome``, ``elpd_i``, ``pareto_k``.
    integrated
        Whether the trial effects were integrated out of the log-likelihood.
    elpd_data
        ArviZ's ``ELPDDataLOO`` (pointwise), for :func:`arviz.compare` and ArviZ's plots.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
    ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
    >>> res = RandomEffects(tab).fit(200, random_seed=1)
    >>> out = loo(res)
    >>> isinstance(out, LooResult), out.ok, out.integrated
    (True, True, True)
    >>> out.pointwise.columns.tolist()
    ['study', 'outcome', 'elpd_i', 'pareto_k']
    """

    elpd: float
    se: float
    p_loo: float
    pareto_k: pd.Series
    n_bad_k: int
    good_k: float
    warning: str
    pointwise: pd.DataFrame
    integrated: bool
    elpd_data: Any = field(repr=False, compare=False)

    def __str__(self) -> str:
        text = (
            f"PSIS-LOO over {len(self.pareto_k)} trials: elpd_loo {self.elpd:.2f} "
            f"(SE {self.se:.2f}), p_loo {self.p_loo:.2f}; {self.n_bad_k} Pareto k > {BAD_K}"
        )
        return text + (f"\n{self.warning}" if self.warning else "")

    @property
    def ok(self) -> bool:
        """Whether every Pareto k is at most 0.7."""
        return self.n_bad_k == 0


def _row_labels(result: Result) -> tuple[np.ndarray, np.ndarray]:
    df = result.table.data
    return df["study"].astype(str).to_numpy(), df["outcome"].astype(str).to_numpy()


def _loglik_tree(result: Result, integrated: bool) -> tuple[xr.DataTree, bool]:
    """Return a DataTree with ``posterior`` and a ``log_likelihood`` of ``y``, one per trial."""
    import xarray as xr

    name = _model_name(result)
    post = result.posterior.to_dataset()
    chains, draws = int(post.sizes[D.CHAIN]), int(post.sizes[D.DRAW])
    coords = {D.CHAIN: post[D.CHAIN].values, D.DRAW: post[D.DRAW].values}
    if integrated and name in NORMAL_MODELS:
        mu, tau = _normal_parts(result)
        v = result.table.sei**2 + tau**2
        ll = -0.5 * (np.log(2 * math.pi * v) + (result.table.yi - mu) ** 2 / v)
        used_integrated = True
    else:
        ll_da = _stored_loglik(result)
        extra = [d for d in ll_da.dims if d not in (D.CHAIN, D.DRAW)]
        ll = np.asarray(ll_da.transpose(D.CHAIN, D.DRAW, *extra).values, dtype=float)
        ll = ll.reshape(chains, draws, result.table.k, -1).sum(-1)  # binomial: sum the arms
        used_integrated = name == COMMON_EFFECT  # no trial effects to integrate
    da = xr.DataArray(
        ll,
        dims=(D.CHAIN, D.DRAW, D.ESTIMATE),
        coords={**coords, D.ESTIMATE: np.arange(result.table.k)},
    )
    tree = xr.DataTree.from_dict({"posterior": post, "log_likelihood": xr.Dataset({D.Y: da})})
    return tree, used_integrated


def _stored_loglik(result: Result) -> Any:
    if "log_likelihood" in result.idata.children and D.Y in result.idata["log_likelihood"]:
        return result.idata["log_likelihood"][D.Y]
    raise ModelSpecError(
        "the result has no log_likelihood group (every fit stores one); "
        + (
            "use integrated=True"
            if _model_name(result) in NORMAL_MODELS
            else "refit the model to compute it"
        )
    )


def loo(result: Result, *, integrated: bool = True) -> LooResult:
    """Pareto-smoothed importance-sampling leave-one-out cross-validation (ArviZ 1).

    Parameters
    ----------
    result
        A fitted :class:`~bayesmeta.results.Result` (its ``log_likelihood`` group is needed
        with ``integrated=False`` and for the binomial model; every fit stores one).
    integrated
        For normal-likelihood models, integrate each trial's effect out of its likelihood
        (leave-one-trial-out prediction of a new trial; see the module docstring). ``False``
        uses the conditional likelihood stored in the result.

    Returns
    -------
    LooResult

    See also: loo::loo; arviz.loo.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
    ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
    >>> res = RandomEffects(tab).fit(200, random_seed=1)
    >>> out = loo(res)
    >>> round(out.elpd, 1), out.n_bad_k
    (0.2, 0)
    """
    import arviz as az

    tree, used = _loglik_tree(result, integrated)
    with warnings.catch_warnings():
        # ArviZ warns about k > good_k in general terms; LooResult.warning says which trials
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        elpd = az.loo(tree, pointwise=True, var_name=D.Y)
    k = np.asarray(elpd.pareto_k.values, dtype=float)
    studies, outcomes = _row_labels(result)
    multi = len(result.outcomes) > 1
    index: pd.Index = (
        pd.MultiIndex.from_arrays([outcomes, studies], names=["outcome", "study"])
        if multi
        else pd.Index(studies, name="study")
    )
    pareto = pd.Series(k, index=index, name="pareto_k")
    pointwise = pd.DataFrame(
        {
            "study": studies,
            "outcome": outcomes,
            "elpd_i": np.asarray(elpd.elpd_i.values, dtype=float),
            "pareto_k": k,
        }
    )
    bad = k > BAD_K
    n_bad = int(bad.sum())
    warning = ""
    if n_bad:
        labels = [
            f"{s} ({o})" if multi else s for s, o in zip(studies[bad], outcomes[bad], strict=True)
        ]
        warning = (
            f"{n_bad} trial(s) with Pareto k > {BAD_K}: {', '.join(labels)}. Their leave-one-out "
            "terms are unreliable (PSIS-LOO then tends to overstate elpd); the posterior "
            "changes a lot without them. "
            + (
                "Use integrated=True, or refit"
                if not used and _model_name(result) in NORMAL_MODELS
                else "Refit"
            )
            + " without each of them (arviz.reloo, or K-fold CV) before relying on the "
            "comparison, and check those trials for errors or outlying results."
        )
    return LooResult(
        elpd=float(elpd.elpd),
        se=float(elpd.se),
        p_loo=float(elpd.p),
        pareto_k=pareto,
        n_bad_k=n_bad,
        good_k=float(elpd.good_k),
        warning=warning,
        pointwise=pointwise,
        integrated=used,
        elpd_data=elpd,
    )


def _data_key(result: Result) -> tuple[str, tuple[float, ...]]:
    """Describe what the likelihood models: estimates (normal models) or counts (binomial)."""
    if _model_name(result) == BINOMIAL:
        return "counts", tuple(_binomial_counts(result)[0].ravel().tolist())
    t = result.table
    return "estimates", tuple(np.concatenate([t.yi, t.sei]).tolist())


def compare_models(
    results: Mapping[str, Result], *, integrated: bool = True, method: str = "stacking"
) -> pd.DataFrame:
    """Compare fits to the same data by PSIS-LOO (``arviz.compare``).

    Parameters
    ----------
    results
        Model name -> fitted result; at least two, all fitted to the same data (the same
        estimates and standard errors, or for binomial fits the same counts: a binomial fit
        and a normal-approximation fit model different data and cannot be compared by LOO).
    integrated
        Passed to :func:`loo`.
    method
        ArviZ's weighting method: ``"stacking"`` (default), ``"BB-pseudo-BMA"``, ``"pseudo-BMA"``.

    Returns
    -------
    pandas.DataFrame
        Indexed by model name, best first: ``rank`` (0 = best), ``elpd_loo``, ``p_loo``,
        ``elpd_diff`` (ArviZ 1's sign: this model's elpd minus the best one's, so <= 0),
        ``se``, ``dse`` (SE of the difference), ``weight``, ``n_bad_k`` and ``warning``
        (each model's Pareto-k warning, empty if none). ``df.attrs["warnings"]`` lists them.

    Notes
    -----
    With few trials the SE of a difference is itself uncertain and a difference concentrated
    in one or two trials gives a large ``dse``; ArviZ flags ``N < 100``. Read ``elpd_diff``
    beside the per-trial terms (:attr:`LooResult.pointwise`).

    See also: loo::loo_compare; arviz.compare.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
    ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
    >>> narrow = RandomEffects(tab, priors={"tau": "half_normal(0.1)"}).fit(200, random_seed=1)
    >>> wide = RandomEffects(tab, priors={"tau": "half_normal(1)"}).fit(200, random_seed=1)
    >>> cmp = compare_models({"narrow": narrow, "wide": wide})
    >>> sorted(cmp.index.tolist()), int(cmp["rank"].min())
    (['narrow', 'wide'], 0)
    >>> bool(abs(cmp["weight"].sum() - 1) < 1e-6)
    True
    """
    import arviz as az

    if not isinstance(results, Mapping) or len(results) < 2:
        raise ModelSpecError("compare_models needs a mapping name -> Result with >= 2 fits")
    keys = {name: _data_key(r) for name, r in results.items()}
    first = next(iter(keys.values()))
    differ = [n for n, key in keys.items() if key != first]
    if differ:
        raise ModelSpecError(
            f"models {differ} were fitted to different data than {next(iter(keys))!r}; LOO "
            "compares predictions of the same observations (binomial fits model the counts, "
            "the normal models the estimates)"
        )
    loos = {name: loo(r, integrated=integrated) for name, r in results.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        table = az.compare(
            {n: v.elpd_data for n, v in loos.items()}, method=method, round_to="none"
        )
    out = pd.DataFrame(
        {
            "rank": table["rank"].astype(int),
            "elpd_loo": table["elpd"].astype(float),
            "p_loo": table["p"].astype(float),
            "elpd_diff": table["elpd_diff"].astype(float),
            "se": table["se"].astype(float),
            "dse": table["dse"].astype(float),
            "weight": table["weight"].astype(float),
        },
        index=pd.Index([str(i) for i in table.index], name="model"),
    )
    out["n_bad_k"] = [loos[n].n_bad_k for n in out.index]
    out["warning"] = [loos[n].warning for n in out.index]
    out.attrs["warnings"] = {n: v.warning for n, v in loos.items() if v.warning}
    return out


# ------------------------------------------------------------------------------------------------
# prior predictive


def prior_predictive_summary(
    model: BaseModel, draws: int = 500, *, random_seed: int | None = None
) -> pd.DataFrame:
    """Summarise what the priors imply: quantiles of ``mu``, ``tau``, ``theta_new``, ``y``.

    ``y`` pools the prior predictive draws of every trial of the outcome (its spread combines
    the priors with the trials' standard errors). Ratio measures are on the log scale. For the
    binomial model ``y`` is the number of events per arm (``y[treatment]``, ``y[control]``).

    Parameters
    ----------
    model
        An unfitted model (:class:`~bayesmeta.models.BaseModel`).
    draws
        Prior predictive draws.
    random_seed
        Seed.

    Returns
    -------
    pandas.DataFrame
        Index (``outcome``, ``quantity``); columns ``q2.5``, ``q25``, ``q50``, ``q75``,
        ``q97.5`` and ``description``.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
    ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
    >>> pp = prior_predictive_summary(RandomEffects(tab), 200, random_seed=1)
    >>> pp.columns.tolist()[:4]
    ['q2.5', 'q25', 'q50', 'q75']
    """
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 2:
        raise ModelSpecError(f"draws must be an integer >= 2, got {draws!r}")
    tree = model.sample_prior_predictive(draws, random_seed=random_seed)
    prior, pp = tree["prior"], tree["prior_predictive"]
    table = model.table
    outcomes = table.outcomes
    outcome_col = table.data["outcome"].to_numpy()
    rows: list[dict[str, Any]] = []
    desc = {
        D.MU: "average effect",
        D.TAU: "between-trial SD (heterogeneity)",
        D.THETA_NEW: "true effect in a new trial",
        D.Y: "a trial's observed estimate (all trials pooled)",
    }
    cols = [f"q{100 * q:g}" for q in _QUANTILES]
    for o in outcomes:
        for var in (D.MU, D.TAU, D.THETA_NEW):
            if var not in prior:
                continue
            da = prior[var]
            if D.OUTCOME in da.dims:
                da = da.sel({D.OUTCOME: o})
            x = np.asarray(da.values, dtype=float).ravel()
            rows.append(
                {"outcome": o, "quantity": var, **_quantiles(x, cols), "description": desc[var]}
            )
        y = np.asarray(pp[D.Y].values, dtype=float)
        y = y.reshape(-1, *pp[D.Y].shape[2:])
        if y.ndim == 3:  # binomial: (draws, study, arm)
            for j, arm in enumerate(D.ARMS):
                rows.append(
                    {
                        "outcome": o,
                        "quantity": f"y[{arm}]",
                        **_quantiles(y[..., j].ravel(), cols),
                        "description": f"events in the {arm} arm of a trial (all trials pooled)",
                    }
                )
        else:
            x = y[:, outcome_col == o].ravel()
            rows.append(
                {"outcome": o, "quantity": D.Y, **_quantiles(x, cols), "description": desc[D.Y]}
            )
    out = pd.DataFrame(rows).set_index(["outcome", "quantity"])
    out.attrs.update(draws=draws, model=model.name)
    return out


def _quantiles(x: np.ndarray, cols: list[str]) -> dict[str, float]:
    q = np.quantile(x, _QUANTILES)
    return {c: float(v) for c, v in zip(cols, q, strict=True)}
