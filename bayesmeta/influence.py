r"""Influence of single studies: leave-one-out and cumulative meta-analysis (also Bayesian).

:func:`leave1out` and :func:`cumul` re-fit a :func:`~bayesmeta.frequentist.rma` model without
each study in turn, or adding the studies one at a time, and report every field of metafor 3.8's
``leave1out`` / ``cumul`` (estimate, se, zval, pval, ci_lb, ci_ub, Q, Qp, tau2, I2, H2).
Reference values: ``models/influence/``. :func:`bayesian_leave1out` is the Bayesian analogue:
the exact posterior of :math:`\mu` (no MCMC, :func:`~bayesmeta.exact.exact_posterior_batch`)
without each study.

See also: metafor::leave1out, metafor::cumul.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from bayesmeta.errors import BayesMetaError, DataError, ModelSpecError
from bayesmeta.exact import exact_posterior, exact_posterior_batch
from bayesmeta.frequentist import FrequentistResult, rma
from bayesmeta.priors import Prior

__all__ = ["BayesianLeaveOneOut", "InfluenceResult", "bayesian_leave1out", "cumul", "leave1out"]

FloatArray = NDArray[np.float64]

_FIELDS = ("estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q", "Qp", "tau2", "I2", "H2")


@dataclass(frozen=True)
class InfluenceResult:
    """Re-fits of a meta-analysis on subsets of its studies (:func:`leave1out`, :func:`cumul`).

    One entry per row: for ``kind="leave1out"`` row i omits study i; for ``kind="cumul"`` row
    i pools the first i studies in the cumulative order (``labels`` is in that order: the study
    added at that step).

    Attributes
    ----------
    kind
        ``"leave1out"`` or ``"cumul"``.
    labels
        Study labels, one per row.
    estimate, se, zval, pval, ci_lb, ci_ub
        The pooled estimate with its standard error, test statistic (a t value under
        Knapp-Hartung, with ``k_i - 1`` df) and confidence interval.
    Q, Qp, tau2, I2, H2
        Heterogeneity of each re-fit (``tau2`` is 0 for equal-effects fits; metafor omits
        the column then, and :meth:`to_frame` does too).
    order
        Positions (0-based) of the rows' studies in the base fit.
    method, test, level
        Settings shared with the base fit.
    full
        The base fit, for reference lines.

    Examples
    --------
    >>> from bayesmeta.frequentist import rma
    >>> fit = rma([0.1, 0.3, 0.35, 0.6], [0.04, 0.02, 0.05, 0.03], method="DL")
    >>> res = leave1out(fit)
    >>> res.kind, res.labels, res.estimate.shape
    ('leave1out', ('1', '2', '3', '4'), (4,))
    """

    kind: str
    labels: tuple[str, ...]
    estimate: FloatArray
    se: FloatArray
    zval: FloatArray
    pval: FloatArray
    ci_lb: FloatArray
    ci_ub: FloatArray
    Q: FloatArray
    Qp: FloatArray
    tau2: FloatArray
    I2: FloatArray
    H2: FloatArray
    order: NDArray[np.intp]
    method: str
    test: str
    level: float
    full: FrequentistResult = field(repr=False)

    def to_frame(self) -> pd.DataFrame:
        """Return the results as a table, with metafor's columns (``tval`` under Knapp-Hartung).

        Examples
        --------
        >>> from bayesmeta.frequentist import rma
        >>> fit = rma([0.1, 0.3, 0.35, 0.6], [0.04, 0.02, 0.05, 0.03], method="DL")
        >>> list(leave1out(fit).to_frame().columns)[:4]
        ['estimate', 'se', 'zval', 'pval']
        """
        cols: dict[str, FloatArray] = {}
        for name in _FIELDS:
            if name == "tau2" and self.method == "EE":
                continue
            key = "tval" if (name == "zval" and self.test == "knha") else name
            cols[key] = getattr(self, name)
        return pd.DataFrame(cols, index=pd.Index(list(self.labels), name="study"))

    def __str__(self) -> str:
        return self.to_frame().to_string(float_format=lambda v: f"{v:.4f}")


def _one_study(y: float, v: float, level: float) -> tuple[float, ...]:
    """Fit one study as metafor's rma.uni: equal effects, z (tau2 0, Q 0, I2 0, H2 1)."""
    se = math.sqrt(v)
    z = y / se
    crit = float(stats.norm.isf((1 - level) / 2))
    p = float(2 * stats.norm.sf(abs(z)))
    return (y, se, z, p, y - crit * se, y + crit * se, 0.0, 1.0, 0.0, 0.0, 1.0)


def _row(y: FloatArray, v: FloatArray, fit: FrequentistResult) -> tuple[float, ...]:
    if y.size == 1:
        return _one_study(float(y[0]), float(v[0]), fit.level)
    try:
        with warnings.catch_warnings():  # metafor: suppressWarnings(), try()
            warnings.simplefilter("ignore")
            r = rma(y, v, method=fit.method, test=fit.test, level=fit.level)
    except BayesMetaError:
        return (math.nan,) * len(_FIELDS)
    lb, ub = sorted((float(r.ci_lb[0]), float(r.ci_ub[0])))
    return (
        float(r.beta[0]),
        float(r.se[0]),
        float(r.zval[0]),
        float(r.pval[0]),
        lb,
        ub,
        r.QE,
        r.QEp,
        r.tau2,
        r.I2,
        r.H2,
    )


def _check(fit: Any, what: str) -> FrequentistResult:
    if not isinstance(fit, FrequentistResult):
        raise ModelSpecError(
            f"{what} needs a fitted model from bayesmeta.frequentist.rma(), got "
            f"{type(fit).__name__}"
        )
    if fit.p != 1:
        raise ModelSpecError(f"{what} applies only to models without moderators")
    return fit


def _result(
    kind: str, rows: list[tuple[float, ...]], order: NDArray[np.intp], fit: FrequentistResult
) -> InfluenceResult:
    arr = np.array(rows, dtype=float).reshape(len(rows), len(_FIELDS))
    cols = {name: arr[:, j] for j, name in enumerate(_FIELDS)}
    return InfluenceResult(
        kind=kind,
        labels=tuple(fit.labels[i] for i in order),
        order=order,
        method=fit.method,
        test=fit.test,
        level=fit.level,
        full=fit,
        **cols,
    )


def leave1out(fit: FrequentistResult) -> InfluenceResult:
    r"""Leave-one-out analysis: the model re-fitted without each study in turn.

    Row i is :func:`~bayesmeta.frequentist.rma` on the :math:`k - 1` studies other than i,
    with the base fit's tau^2 estimator, test and level, reporting
    :math:`\hat\mu_{(-i)}`, its SE, test, CI, :math:`Q_{(-i)}` with its p-value,
    :math:`\hat\tau^2_{(-i)}`, :math:`I^2_{(-i)}` and :math:`H^2_{(-i)}`. A re-fit that fails
    gives a row of NaN (as metafor's ``try``). With :math:`k = 2`, each re-fit has one
    study: as metafor, it is an equal-effects z fit (:math:`\tau^2 = 0`, :math:`Q = 0`).

    Parameters
    ----------
    fit
        An intercept-only model from :func:`~bayesmeta.frequentist.rma` (``k >= 2``).

    Returns
    -------
    InfluenceResult

    Raises
    ------
    ModelSpecError
        A fit with moderators, or ``k = 1``.

    See also: metafor::leave1out.

    Examples
    --------
    >>> from bayesmeta import datasets, escalc, rma
    >>> bcg = datasets.load_bcg()
    >>> es = escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> l1o = leave1out(rma(es.yi, es.vi, method="DL"))
    >>> round(float(l1o.estimate[0]), 4), round(float(l1o.tau2[0]), 4)
    (-0.7051, 0.3122)
    """
    fit = _check(fit, "leave1out")
    if fit.k == 1:
        raise ModelSpecError("leave1out needs more than one study (k = 1)")
    rows = []
    for i in range(fit.k):
        keep = np.arange(fit.k) != i
        rows.append(_row(fit.yi[keep], fit.vi[keep], fit))
    return _result("leave1out", rows, np.arange(fit.k), fit)


def _sort_order(order: ArrayLike, decreasing: bool) -> NDArray[np.intp]:
    """R's ``order(order, decreasing = decreasing)``: stable, ties keep the data order."""
    key = np.asarray(order)
    if key.ndim != 1:
        raise DataError("order must be one-dimensional", column="order")
    try:
        codes = np.unique(key, return_inverse=True)[1].ravel()
    except TypeError:
        raise DataError("order values must be comparable (numbers or strings)") from None
    if key.dtype.kind == "f" and np.isnan(key).any():
        raise DataError("order has missing values (NaN)", column="order")
    return np.argsort(-codes if decreasing else codes, kind="stable")


def cumul(
    fit: FrequentistResult, order: ArrayLike | None = None, *, decreasing: bool = False
) -> InfluenceResult:
    r"""Cumulative meta-analysis: the model re-fitted as studies are added one at a time.

    The studies are sorted by ``order`` (a sort key, e.g. the publication year, as in metafor
    3.8: ``order(order, decreasing)``, ties keeping the data order); row i is
    :func:`~bayesmeta.frequentist.rma` on the first i studies, with the base fit's tau^2
    estimator, test and level. The first row (one study) is, as in metafor, an equal-effects z
    fit: the study's own estimate and normal-theory CI, :math:`\tau^2 = 0`, :math:`Q = 0`,
    :math:`I^2 = 0`, :math:`H^2 = 1`.

    Parameters
    ----------
    fit
        An intercept-only model from :func:`~bayesmeta.frequentist.rma`.
    order
        One sort key per study (numbers or strings); ``None`` keeps the data order.
    decreasing
        Sort the key from largest to smallest.

    Returns
    -------
    InfluenceResult
        ``labels[i]`` is the study added at step i; ``order`` its position in the base fit.

    Raises
    ------
    ModelSpecError
        A fit with moderators.
    DataError
        ``order`` of the wrong length or with missing values.

    See also: metafor::cumul.

    Examples
    --------
    >>> from bayesmeta import datasets, escalc, rma
    >>> bcg = datasets.load_bcg()
    >>> es = escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> cu = cumul(rma(es.yi, es.vi, method="DL"), order=bcg.year)
    >>> round(float(cu.estimate[-1]), 4), round(float(cu.I2[1]), 4)
    (-0.7141, 0.0)
    """
    fit = _check(fit, "cumul")
    if order is None:
        idx = np.arange(fit.k)
    else:
        key = np.asarray(order)
        if key.shape != (fit.k,):
            raise DataError(
                f"order has {key.size} values but the fit has {fit.k} studies", column="order"
            )
        idx = _sort_order(key, decreasing)
    y, v = fit.yi[idx], fit.vi[idx]
    rows = [_row(y[: i + 1], v[: i + 1], fit) for i in range(fit.k)]
    return _result("cumul", rows, idx.astype(np.intp), fit)


# --------------------------------------------------------------------------------------------
# Bayesian leave-one-out


@dataclass(frozen=True)
class BayesianLeaveOneOut:
    """Exact posterior summaries of ``mu`` without each study (:func:`bayesian_leave1out`).

    Attributes
    ----------
    labels
        Study labels; row i omits study i.
    mean, sd, median, lower, upper
        Posterior of ``mu`` without study i: mean, SD, median and the ``ci_prob`` credible
        interval.
    prob_gt_0
        Posterior probability that ``mu > 0`` without study i.
    tau_median
        Posterior median of ``tau`` without study i.
    full
        The same summaries with all studies (a dict with the keys above).
    ci_prob, ci_kind, tau_prior, mu_prior
        Interval settings and priors.

    Examples
    --------
    >>> res = bayesian_leave1out([0.1, 0.3, -0.2, 0.4], [0.1, 0.2, 0.15, 0.2],
    ...                          tau_prior="half_normal(0.5)")
    >>> res.labels, res.mean.shape
    (('1', '2', '3', '4'), (4,))
    """

    labels: tuple[str, ...]
    mean: FloatArray
    sd: FloatArray
    median: FloatArray
    lower: FloatArray
    upper: FloatArray
    prob_gt_0: FloatArray
    tau_median: FloatArray
    full: dict[str, float]
    ci_prob: float
    ci_kind: str
    tau_prior: Prior
    mu_prior: Prior

    def to_frame(self) -> pd.DataFrame:
        """One row per omitted study: mean, sd, median, lower, upper, prob_gt_0, tau_median.

        Examples
        --------
        >>> res = bayesian_leave1out([0.1, 0.3, -0.2, 0.4], [0.1, 0.2, 0.15, 0.2],
        ...                          tau_prior="half_normal(0.5)")
        >>> list(res.to_frame().columns)
        ['mean', 'sd', 'median', 'lower', 'upper', 'prob_gt_0', 'tau_median']
        """
        cols = ("mean", "sd", "median", "lower", "upper", "prob_gt_0", "tau_median")
        return pd.DataFrame(
            {c: getattr(self, c) for c in cols}, index=pd.Index(list(self.labels), name="study")
        )

    def __str__(self) -> str:
        return self.to_frame().to_string(float_format=lambda v: f"{v:.4f}")


def _inputs(
    yi: Any, sei: ArrayLike | None, labels: Sequence[str] | None
) -> tuple[FloatArray, FloatArray, tuple[str, ...]]:
    if isinstance(yi, FrequentistResult):
        if sei is not None:
            raise ModelSpecError("give either a fitted model or yi with sei, not both")
        if yi.p != 1:
            raise ModelSpecError("bayesian_leave1out applies only to models without moderators")
        return yi.yi, np.sqrt(yi.vi), tuple(labels or yi.labels)
    if hasattr(yi, "data") and hasattr(yi, "outcomes"):  # an EffectTable
        if sei is not None:
            raise ModelSpecError("give either an EffectTable or yi with sei, not both")
        if len(yi.outcomes) != 1:
            raise ModelSpecError(
                f"the table has {len(yi.outcomes)} outcomes; pass table.for_outcome(name)"
            )
        return yi.yi, yi.sei, tuple(labels or (str(s) for s in yi.data["study"]))
    if sei is None:
        raise ModelSpecError("give sei (standard errors) with yi")
    y = np.asarray(yi, dtype=float)
    s = np.asarray(sei, dtype=float)
    if y.ndim != 1 or y.shape != s.shape:
        raise DataError(f"yi and sei must be 1-D of equal length, got {y.shape} and {s.shape}")
    labs = tuple(str(v) for v in labels) if labels is not None else tuple(
        str(i + 1) for i in range(y.size)
    )  # fmt: skip
    return y, s, labs


def bayesian_leave1out(
    yi: ArrayLike | FrequentistResult | Any,
    sei: ArrayLike | None = None,
    *,
    tau_prior: Prior | str | dict[str, Any],
    mu_prior: Prior | str | dict[str, Any] | None = None,
    labels: Sequence[str] | None = None,
    ci_prob: float = 0.95,
    ci_kind: str = "eti",
) -> BayesianLeaveOneOut:
    r"""Exact posterior of ``mu`` without each study (Bayesian leave-one-out), no MCMC.

    For each i, the normal-normal model :math:`y_j \sim N(\mu, s_j^2 + \tau^2)` is fitted to
    the studies :math:`j \ne i` with the given priors, and the marginal posterior
    :math:`p(\mu \mid y_{(-i)})` (a normal mixture over :math:`\tau`; see
    :mod:`bayesmeta.exact`) is summarised. Comparing each row with ``full`` shows how much one
    study moves the pooled estimate, as :func:`leave1out` does for the frequentist fit.

    Parameters
    ----------
    yi, sei
        Estimates and standard errors; or a fitted model from
        :func:`~bayesmeta.frequentist.rma` (intercept-only) or a one-outcome
        :class:`~bayesmeta.table.EffectTable` as ``yi`` (then no ``sei``).
    tau_prior, mu_prior
        Priors on ``tau`` and ``mu`` as in :func:`~bayesmeta.exact.exact_posterior` (``mu``
        flat by default).
    labels
        Study labels (default: the fit's or table's, else ``"1"``, ``"2"``, ...).
    ci_prob, ci_kind
        Credible interval probability and kind (``"eti"`` or ``"hdi"``).

    Returns
    -------
    BayesianLeaveOneOut

    Raises
    ------
    ModelSpecError
        Bad priors, or a posterior that is improper once a study is left out (e.g. flat
        priors with ``k - 1 < 3``), fewer than 2 studies.

    See also: R bayesmeta::bayesmeta (applied to each subset); metafor::leave1out.

    Examples
    --------
    >>> from bayesmeta import datasets, escalc
    >>> bcg = datasets.load_bcg()
    >>> es = escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> res = bayesian_leave1out(es.yi, es.sei, tau_prior="half_normal(1)",
    ...                          mu_prior="normal(0, 2.5)")
    >>> round(res.full["mean"], 3), round(float(res.mean[0]), 3)
    (-0.711, -0.703)
    """
    y, s, labs = _inputs(yi, sei, labels)
    k = y.size
    if k < 2:
        raise ModelSpecError(f"bayesian_leave1out needs at least 2 studies, got {k}")
    if len(labs) != k:
        raise DataError(f"labels has {len(labs)} entries but yi has {k}", column="labels")
    post = exact_posterior(y, s, tau_prior=tau_prior, mu_prior=mu_prior)  # validates priors
    Y = np.vstack([np.where(np.eye(k, dtype=bool), np.nan, y[None, :]), y[None, :]])
    S = np.vstack([np.where(np.eye(k, dtype=bool), np.nan, s[None, :]), s[None, :]])
    tab = exact_posterior_batch(
        Y, S, tau_prior=post.tau_prior, mu_prior=post.mu_prior, ci_prob=ci_prob, ci_kind=ci_kind
    )
    cols = {
        "mean": "mu_mean",
        "sd": "mu_sd",
        "median": "mu_median",
        "lower": "mu_ci_lb",
        "upper": "mu_ci_ub",
        "prob_gt_0": "prob_mu_gt_0",
        "tau_median": "tau_median",
    }
    vals = {c: tab[src].to_numpy(float) for c, src in cols.items()}
    full = {c: float(v[-1]) for c, v in vals.items()}
    return BayesianLeaveOneOut(
        labels=labs,
        full=full,
        ci_prob=ci_prob,
        ci_kind=ci_kind,
        tau_prior=post.tau_prior,
        mu_prior=post.mu_prior,
        **{c: v[:-1] for c, v in vals.items()},
    )
