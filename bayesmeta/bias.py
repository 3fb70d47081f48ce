r"""Small-study effects: Egger-type regression tests, Begg's rank correlation, trim-and-fill.

Each function takes a fitted :class:`~bayesmeta.frequentist.FrequentistResult` (from
:func:`~bayesmeta.frequentist.rma`) and reproduces metafor 3.8's function of the same name:
:func:`regtest` (``metafor::regtest``), :func:`ranktest` (``metafor::ranktest``) and
:func:`trimfill` (``metafor::trimfill``), with metafor's field names. Reference values:
``models/small-study/``.

These are tests of funnel-plot *asymmetry*. As the Cochrane Handbook (section 10.4.3.1) warns,
they have low power, should not be used with fewer than 10 studies, and asymmetry need not be
publication bias (it can come from heterogeneity, chance, or the choice of effect measure).
With ``k < 10`` every function here still computes its result, but issues a
:class:`SmallStudyWarning` and records the message in the result's ``warnings``.

See also: metafor::regtest, metafor::ranktest, metafor::trimfill.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from bayesmeta.errors import DataError, ModelSpecError, SmallStudyWarning
from bayesmeta.frequentist import FrequentistResult, rma

__all__ = [
    "MIN_STUDIES",
    "LmFit",
    "RanktestResult",
    "RegtestResult",
    "SmallStudyWarning",
    "TrimfillResult",
    "ranktest",
    "regtest",
    "trimfill",
]

FloatArray = NDArray[np.float64]

#: Fewest studies for which the Cochrane Handbook (10.4.3.1) considers tests for funnel-plot
#: asymmetry meaningful; below it the functions warn (:class:`SmallStudyWarning`).
MIN_STUDIES = 10

_PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
#: Predictors whose value tends to 0 for an infinitely large study: the intercept is then the
#: "limit estimate" (metafor's ``est``).
_LIMIT_PREDICTORS = ("sei", "vi", "ninv", "sqrtninv")


def _small_k(k: int, what: str) -> list[str]:
    """Warn (and return the message) when k is below :data:`MIN_STUDIES`."""
    if k >= MIN_STUDIES:
        return []
    msg = (
        f"{what} with k = {k} studies: the Cochrane Handbook (10.4.3.1) advises against tests "
        f"for funnel-plot asymmetry with fewer than {MIN_STUDIES} studies (too little power to "
        "tell chance from real asymmetry); the result is computed but should not be relied on"
    )
    warnings.warn(msg, SmallStudyWarning, stacklevel=3)
    return [msg]


def _check_fit(fit: Any, what: str) -> FrequentistResult:
    if not isinstance(fit, FrequentistResult):
        raise ModelSpecError(
            f"{what} needs a fitted model from bayesmeta.frequentist.rma(), got "
            f"{type(fit).__name__}"
        )
    return fit


def _refit(yi: FloatArray, vi: FloatArray, **kwargs: Any) -> FrequentistResult:
    """Re-fit internally, with warnings silenced as metafor's ``suppressWarnings``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return rma(yi, vi, **kwargs)


# --------------------------------------------------------------------------------------------
# regtest


@dataclass(frozen=True)
class LmFit:
    r"""Weighted least-squares fit :math:`y = X\beta + e`, :math:`\mathrm{Var}(e_i) = \phi v_i`.

    The classical Egger regression (``regtest(model="lm")``), as R's
    ``summary(lm(yi ~ X - 1, weights = 1/vi))``: ``sigma`` is the residual standard error
    :math:`\sqrt{\hat\phi}` and ``tval``/``pval`` use t with ``df_residual`` degrees of freedom.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesmeta.frequentist import rma
    >>> fit = rma([0.1, 0.3, 0.35, 0.6, 0.2], [0.04, 0.02, 0.05, 0.03, 0.01], method="DL")
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     lm = regtest(fit, model="lm").fit
    >>> lm.coef_names, lm.df_residual
    (('intrcpt', 'sei'), 3)
    """

    beta: FloatArray
    se: FloatArray
    tval: FloatArray
    pval: FloatArray
    sigma: float
    df_residual: int
    coef_names: tuple[str, ...]


@dataclass(frozen=True)
class RegtestResult:
    """Result of :func:`regtest` (metafor's ``regtest`` object).

    Attributes
    ----------
    model, predictor
        ``"rma"`` or ``"lm"``; the predictor added to the model.
    zval, pval
        Test statistic of the predictor's coefficient (a t value under ``model="lm"`` or a
        Knapp-Hartung base fit, then ``dfs`` holds its degrees of freedom; ``None`` for z) and
        its two-sided p-value.
    est, ci_lb, ci_ub
        The limit estimate (the intercept: the effect expected in a study of infinite size)
        with its confidence interval; ``NaN`` for predictors ``"ni"``/``"sqrtni"`` or a base fit
        with moderators (metafor returns ``NULL``).
    fit
        The fitted regression: a :class:`~bayesmeta.frequentist.FrequentistResult`
        (``model="rma"``) or an :class:`LmFit`.
    method, k
        The tau^2 estimator of the fit; the number of studies.
    warnings
        Warnings issued (e.g. :class:`SmallStudyWarning` when ``k < 10``).

    Examples
    --------
    >>> import warnings
    >>> from bayesmeta.frequentist import rma
    >>> fit = rma([0.1, 0.3, 0.35, 0.6, 0.2], [0.04, 0.02, 0.05, 0.03, 0.01], method="DL")
    >>> with warnings.catch_warnings(record=True):
    ...     res = regtest(fit)
    >>> res.stat, len(res.warnings)
    ('z', 1)
    """

    model: str
    predictor: str
    zval: float
    pval: float
    dfs: int | None
    est: float
    ci_lb: float
    ci_ub: float
    fit: FrequentistResult | LmFit = field(repr=False)
    method: str
    k: int
    warnings: tuple[str, ...] = ()

    @property
    def stat(self) -> str:
        """Name of the test statistic: ``"z"`` or ``"t"``."""
        return "z" if self.dfs is None else "t"

    def __str__(self) -> str:
        kind = (
            "weighted regression with multiplicative dispersion"
            if self.model == "lm"
            else (f"meta-regression (tau^2 estimator: {self.method})")
        )
        df = "" if self.dfs is None else f", df = {self.dfs}"
        lines = [
            "Regression test for funnel plot asymmetry",
            f"model: {kind}; predictor: {self.predictor}",
            f"test: {self.stat} = {self.zval:.4f}{df}, p = {self.pval:.4g}",
        ]
        if np.isfinite(self.est):
            lines.append(
                f"limit estimate (as {self.predictor} -> 0): b = {self.est:.4f} "
                f"(CI: {self.ci_lb:.4f}, {self.ci_ub:.4f})"
            )
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])


def _predictor_values(predictor: str, vi: FloatArray, ni: ArrayLike | None, k: int) -> FloatArray:
    if predictor == "sei":
        return np.sqrt(vi)
    if predictor == "vi":
        return vi.copy()
    if ni is None:
        raise ModelSpecError(
            f"predictor {predictor!r} needs the sample sizes: pass ni= (one total sample size "
            "per study)"
        )
    n = np.asarray(ni, dtype=float)
    if n.ndim != 1 or n.size != k:
        raise DataError(f"ni must have one value per study ({k}), got shape {n.shape}", column="ni")
    if not np.all(np.isfinite(n) & (n > 0)):
        raise DataError("ni must be finite and > 0", column="ni")
    return {
        "ni": n,
        "ninv": 1.0 / n,
        "sqrtni": np.sqrt(n),
        "sqrtninv": 1.0 / np.sqrt(n),
    }[predictor]


def _wls_lm(
    X: FloatArray, y: FloatArray, w: FloatArray
) -> tuple[FloatArray, FloatArray, float, int]:
    """Weighted least squares as R's ``lm(weights = w)``: coefficients, SEs, sigma, df."""
    sw = np.sqrt(w)
    Q, R = np.linalg.qr(X * sw[:, None])
    beta = np.linalg.solve(R, Q.T @ (y * sw))
    df = X.shape[0] - X.shape[1]
    resid = (y - X @ beta) * sw
    sigma2 = float(resid @ resid) / df if df > 0 else math.nan
    Rinv = np.linalg.inv(R)
    se = np.sqrt(sigma2 * np.sum(Rinv**2, axis=1))
    return beta, se, math.sqrt(sigma2), df


def _regtest_design(
    fit: FrequentistResult, predictor: str, ni: ArrayLike | None
) -> tuple[FloatArray, FloatArray]:
    """Return the predictor and the base design with it appended, checked to be fittable."""
    k = fit.k
    x = _predictor_values(predictor, fit.vi, ni, k)
    X = np.column_stack([fit.X, x])
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ModelSpecError(
            f"the design is no longer of full rank after adding the predictor {predictor!r} "
            "(e.g. all studies have the same variance); the test cannot be fitted"
        )
    if k <= X.shape[1]:
        raise ModelSpecError(
            f"regtest needs more studies (k = {k}) than coefficients ({X.shape[1]})"
        )
    return x, X


_RegtestFit = tuple[FrequentistResult | LmFit, float, float, int | None, tuple[float, float, float]]


def _regtest_rma(
    fit: FrequentistResult, predictor: str, x: FloatArray, X: FloatArray, limit: bool
) -> _RegtestFit:
    """Fit the ``model="rma"`` regression test: ``(fit, stat, p, df, (est, ci_lb, ci_ub))``."""
    p = fit.p
    mods = {name: fit.X[:, j] for j, name in enumerate(fit.coef_names[1:], start=1)}
    mods[predictor] = x
    res = rma(
        fit.yi,
        fit.vi,
        mods=mods,
        method=fit.method,
        test=fit.test,
        level=fit.level,
        labels=fit.labels,
    )
    lim = (math.nan, math.nan, math.nan)
    if limit:
        lim = (float(res.beta[0]), float(res.ci_lb[0]), float(res.ci_ub[0]))
    return res, float(res.zval[p]), float(res.pval[p]), res.dfs, lim


def _regtest_lm(
    fit: FrequentistResult, predictor: str, x: FloatArray, X: FloatArray, limit: bool
) -> _RegtestFit:
    """Fit Egger's weighted least-squares test: ``(fit, stat, p, df, (est, ci_lb, ci_ub))``."""
    p = fit.p
    beta, se, sigma, df = _wls_lm(X, fit.yi, 1.0 / fit.vi)
    tval = beta / se
    pv = 2 * stats.t.sf(np.abs(tval), df)
    res = LmFit(beta, se, tval, pv, sigma, df, (*fit.coef_names, predictor))
    lim = (math.nan, math.nan, math.nan)
    if limit:
        crit = float(stats.t.isf((1.0 - fit.level) / 2, df))
        est = float(beta[0])
        lim = (est, est - crit * float(se[0]), est + crit * float(se[0]))
    return res, float(tval[p]), float(pv[p]), df, lim


def regtest(
    fit: FrequentistResult,
    model: str = "rma",
    predictor: str = "sei",
    *,
    ni: ArrayLike | None = None,
) -> RegtestResult:
    r"""Regression test for funnel-plot asymmetry (Egger's test and its variants).

    The predictor :math:`x_i` (by default the standard error :math:`\sqrt{v_i}`) is added to
    the base fit's design matrix and its coefficient :math:`\beta_x` is tested against 0.

    - ``model="rma"``: the meta-regression :math:`y_i = x_i^{\top}\beta + \beta_x x_i + u_i +
      e_i` with the base fit's tau^2 estimator, test (z or Knapp-Hartung) and level
      (see :func:`~bayesmeta.frequentist.rma`).
    - ``model="lm"``: Egger et al.'s (1997) classical test, weighted least squares with weights
      :math:`1/v_i` and a multiplicative dispersion :math:`\phi`,
      :math:`\mathrm{Var}(y_i) = \phi v_i`; :math:`\hat\phi` is the residual mean square and
      :math:`t = \hat\beta_x / SE(\hat\beta_x)` has :math:`k - p - 1` degrees of freedom.

    For the predictors ``"sei"``, ``"vi"``, ``"ninv"`` and ``"sqrtninv"`` on an intercept-only
    base fit the intercept is the *limit estimate* ``est`` (the effect as the predictor
    tends to 0, i.e. in an infinitely large study), with its confidence interval
    (z or Knapp-Hartung under ``"rma"``, t with :math:`k - 2` df under ``"lm"``).

    Parameters
    ----------
    fit
        The base model, from :func:`~bayesmeta.frequentist.rma` (moderators allowed; they are
        kept in the regression).
    model
        ``"rma"`` (default) or ``"lm"``.
    predictor
        ``"sei"`` (default), ``"vi"``, ``"ni"``, ``"ninv"`` (``1/ni``), ``"sqrtni"`` or
        ``"sqrtninv"`` (``1/sqrt(ni)``).
    ni
        Total sample size of each study, needed for the ``ni`` predictors.

    Returns
    -------
    RegtestResult

    Raises
    ------
    ModelSpecError
        Unknown ``model``/``predictor``, ``ni`` missing, or a predictor collinear with the
        design (e.g. all ``vi`` equal).

    Warns
    -----
    SmallStudyWarning
        When ``k < 10`` (the result is still computed and records the warning).

    Notes
    -----
    Egger M, Davey Smith G, Schneider M, Minder C (1997). BMJ 315:629-634. Sterne JAC, Egger M
    (2005), in Publication Bias in Meta-Analysis, Wiley, chapter 6.

    See also: metafor::regtest.

    Examples
    --------
    >>> from bayesmeta import datasets, escalc, rma
    >>> bcg = datasets.load_bcg()
    >>> es = escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> res = regtest(rma(es.yi, es.vi, method="REML"))
    >>> round(res.zval, 4), round(res.pval, 4), round(res.est, 4)
    (-0.8033, 0.4218, -0.5104)
    >>> egger = regtest(rma(es.yi, es.vi, method="REML"), model="lm")
    >>> egger.dfs
    11
    """
    fit = _check_fit(fit, "regtest")
    if model not in ("rma", "lm"):
        raise ModelSpecError(f"model must be 'rma' or 'lm', got {model!r}")
    if predictor not in _PREDICTORS:
        raise ModelSpecError(f"predictor must be one of {_PREDICTORS}, got {predictor!r}")
    x, X = _regtest_design(fit, predictor, ni)
    notes = _small_k(fit.k, "regtest")
    limit = predictor in _LIMIT_PREDICTORS and fit.p == 1
    fitter = _regtest_rma if model == "rma" else _regtest_lm
    res, zval, pval, dfs, (est, ci_lb, ci_ub) = fitter(fit, predictor, x, X, limit)
    return RegtestResult(
        model=model,
        predictor=predictor,
        zval=zval,
        pval=pval,
        dfs=dfs,
        est=est,
        ci_lb=ci_lb,
        ci_ub=ci_ub,
        fit=res,
        method=fit.method,
        k=fit.k,
        warnings=tuple(notes),
    )


# --------------------------------------------------------------------------------------------
# ranktest


@dataclass(frozen=True)
class RanktestResult:
    """Result of :func:`ranktest` (metafor's ``ranktest`` object).

    Attributes
    ----------
    tau
        Kendall's tau (tau-b) between the standardised deviates and the sampling variances.
    pval
        Two-sided p-value: exact (Kendall's null distribution) or the normal approximation.
    exact
        Whether the p-value is the exact one (it is not when there are ties).
    k, warnings
        The number of studies; warnings issued.

    Examples
    --------
    >>> from bayesmeta.frequentist import rma
    >>> import warnings
    >>> fit = rma([0.1, 0.3, 0.35, 0.6, 0.2], [0.04, 0.02, 0.05, 0.03, 0.01], method="DL")
    >>> with warnings.catch_warnings(record=True):
    ...     res = ranktest(fit)
    >>> res.exact, res.k
    (True, 5)
    """

    tau: float
    pval: float
    exact: bool
    k: int
    warnings: tuple[str, ...] = ()

    def __str__(self) -> str:
        how = "exact" if self.exact else "normal approximation"
        lines = [
            "Rank correlation test for funnel plot asymmetry",
            f"Kendall's tau = {self.tau:.4f}, p = {self.pval:.4g} ({how})",
        ]
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])


def _kendall_tau_b(x: FloatArray, y: FloatArray) -> float:
    """Kendall's tau-b, as R's ``cor(x, y, method = "kendall")``."""
    sx = np.sign(x[:, None] - x[None, :])
    sy = np.sign(y[:, None] - y[None, :])
    iu = np.triu_indices(x.size, 1)
    num = float(np.sum((sx * sy)[iu]))
    den = math.sqrt(float(np.sum(sx[iu] != 0)) * float(np.sum(sy[iu] != 0)))
    return num / den if den > 0 else math.nan


def _kendall_null_cdf(n: int) -> FloatArray:
    """CDF of the number of concordant pairs among n untied pairs (no-association null).

    The count has the Mahonian distribution (inversions of a random permutation):
    ``p_n(q) = (1/n) sum_{j=0}^{n-1} p_{n-1}(q - j)``; R's ``C_pKendall`` counts the same.
    """
    p = np.ones(1)
    for m in range(2, n + 1):
        c = np.concatenate([[0.0], np.cumsum(p)])  # c[i] = sum p[:i]
        size = p.size + m - 1
        idx = np.arange(size)
        hi = np.minimum(idx + 1, p.size)
        lo = np.maximum(idx - m + 1, 0)
        p = (c[hi] - c[lo]) / m
    return np.asarray(np.cumsum(p), dtype=float)


def ranktest(fit: FrequentistResult, *, exact: bool = True) -> RanktestResult:
    r"""Begg and Mazumdar's rank correlation test for funnel-plot asymmetry.

    With the equal-effects estimate :math:`\bar y = \sum w_i y_i / \sum w_i`, :math:`w_i =
    1/v_i` (whatever the base fit's method, as metafor), the standardised deviates are
    :math:`y_i^* = (y_i - \bar y)/\sqrt{v_i^*}`, :math:`v_i^* = v_i - 1/\sum w_j`, and the
    test is Kendall's tau between :math:`y_i^*` and :math:`v_i` (R's ``cor.test(yi.star, vi,
    method = "kendall", exact = exact)``).

    The p-value is exact (from the null distribution of the number of concordant pairs) when
    ``exact=True`` and there are no ties; otherwise the normal approximation with R's tie
    correction of the variance of Kendall's S (and a warning when an exact value was asked for).

    Parameters
    ----------
    fit
        The base model, from :func:`~bayesmeta.frequentist.rma` (only its ``yi``, ``vi`` are
        used).
    exact
        Exact p-value if there are no ties (default, as metafor).

    Returns
    -------
    RanktestResult

    Warns
    -----
    SmallStudyWarning
        When ``k < 10``.

    Notes
    -----
    Begg CB, Mazumdar M (1994). Operating characteristics of a rank correlation test for
    publication bias. Biometrics 50:1088-1101.

    See also: metafor::ranktest.

    Examples
    --------
    >>> from bayesmeta import datasets, escalc, rma
    >>> bcg = datasets.load_bcg()
    >>> es = escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> res = ranktest(rma(es.yi, es.vi))
    >>> round(res.tau, 4), round(res.pval, 4)
    (0.0256, 0.9524)
    """
    fit = _check_fit(fit, "ranktest")
    yi, vi = fit.yi, fit.vi
    n = yi.size
    if n < 2:
        raise ModelSpecError(f"ranktest needs at least 2 studies, got {n}")
    notes = _small_k(n, "ranktest")
    wi = 1.0 / vi
    theta = float(np.sum(wi * yi) / np.sum(wi))
    vstar = vi - 1.0 / float(np.sum(wi))
    ystar = (yi - theta) / np.sqrt(vstar)
    r = _kendall_tau_b(ystar, vi)
    ties = min(np.unique(ystar).size, np.unique(vi).size) < n
    if not np.isfinite(r):
        return RanktestResult(math.nan, math.nan, False, n, tuple(notes))
    if exact and not ties:
        q = round((r + 1) * n * (n - 1) / 4)
        cdf = _kendall_null_cdf(n)
        cdf0 = np.r_[0.0, cdf]  # cdf0[t + 1] = P(T <= t), P(T <= -1) = 0
        pv = 1.0 - float(cdf0[q]) if q > n * (n - 1) / 4 else float(cdf0[q + 1])
        return RanktestResult(r, min(2 * pv, 1.0), True, n, tuple(notes))
    if exact and ties:
        msg = "ranktest: cannot compute an exact p-value with ties; using the normal approximation"
        warnings.warn(msg, UserWarning, stacklevel=2)
        notes.append(msg)
    tx = np.unique(ystar, return_counts=True)[1]
    ty = np.unique(vi, return_counts=True)[1]
    tx, ty = tx[tx > 1].astype(float), ty[ty > 1].astype(float)
    T0 = n * (n - 1) / 2
    T1 = float(np.sum(tx * (tx - 1))) / 2
    T2 = float(np.sum(ty * (ty - 1))) / 2
    S = r * math.sqrt((T0 - T1) * (T0 - T2))
    v0 = n * (n - 1) * (2 * n + 5)
    vt = float(np.sum(tx * (tx - 1) * (2 * tx + 5)))
    vu = float(np.sum(ty * (ty - 1) * (2 * ty + 5)))
    v1 = float(np.sum(tx * (tx - 1))) * float(np.sum(ty * (ty - 1)))
    v2 = float(np.sum(tx * (tx - 1) * (tx - 2))) * float(np.sum(ty * (ty - 1) * (ty - 2)))
    var_s = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1))
    if n > 2:
        var_s += v2 / (9 * n * (n - 1) * (n - 2))
    z = S / math.sqrt(var_s)
    pv = 2 * min(float(stats.norm.cdf(z)), float(stats.norm.sf(z)))
    return RanktestResult(r, pv, False, n, tuple(notes))


# --------------------------------------------------------------------------------------------
# trimfill


@dataclass(frozen=True)
class TrimfillResult:
    """Result of :func:`trimfill` (metafor's ``rma.uni.trimfill`` object).

    Attributes
    ----------
    k0, se_k0
        Estimated number of missing studies and its standard error (metafor's ``se.k0``;
        ``NaN`` where its variance formula goes negative, as metafor).
    side
        ``"left"`` or ``"right"``: where the missing studies are imputed.
    estimator
        ``"L0"`` or ``"R0"``.
    p_k0
        For ``R0``, the p-value of the test of no missing studies, :math:`2^{-(k_0 + 1)}`;
        ``NaN`` for ``L0``.
    fit
        The model fitted to the observed and filled studies (the base fit when ``k0 = 0``).
    yi, vi, fill, labels
        The data of ``fit``: observed studies first, then the ``k0`` filled ones
        (``fill`` True, labelled ``"Filled 1"``, ...).
    iterations, k
        Iterations of the trim-and-fill algorithm; the number of observed studies.
    warnings
        Warnings issued (e.g. :class:`SmallStudyWarning` when ``k < 10``).

    Examples
    --------
    >>> from bayesmeta import datasets, escalc, rma
    >>> bcg = datasets.load_bcg()
    >>> es = escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> tf = trimfill(rma(es.yi, es.vi, method="DL"))
    >>> tf.k0, tf.side, int(tf.fill.sum()), tf.fit.k
    (1, 'right', 1, 14)
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    p_k0: float
    fit: FrequentistResult = field(repr=False)
    yi: FloatArray = field(repr=False)
    vi: FloatArray = field(repr=False)
    fill: NDArray[np.bool_] = field(repr=False)
    labels: tuple[str, ...] = field(repr=False)
    iterations: int
    k: int
    warnings: tuple[str, ...] = ()

    @property
    def filled_yi(self) -> FloatArray:
        """Estimates of the imputed studies."""
        return self.yi[self.fill]

    @property
    def filled_vi(self) -> FloatArray:
        """Sampling variances of the imputed studies."""
        return self.vi[self.fill]

    def __str__(self) -> str:
        lines = [
            f"Estimated number of missing studies on the {self.side} side: {self.k0} "
            f"(SE = {self.se_k0:.4f}; estimator {self.estimator})",
        ]
        if self.estimator == "R0":
            lines.append(f"Test of H0 (no missing studies on the {self.side} side): "
                         f"p = {self.p_k0:.4g}")  # fmt: skip
        lines.append(str(self.fit))
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])


def _choose_side(fit: FrequentistResult) -> str:
    """Choose the side as metafor: slope of yi on sqrt(vi) (fit's method) < 0 -> 'right'."""
    res = _refit(fit.yi, fit.vi, mods={"sei": np.sqrt(fit.vi)}, method=fit.method)
    return "right" if res.beta[1] < 0 else "left"


def _check_trimfill_args(
    fit: Any, estimator: str, side: str | None, test: str | None, maxiter: int
) -> tuple[FrequentistResult, list[str]]:
    """Check the arguments of :func:`trimfill`: the checked base fit and small-k notes."""
    fit = _check_fit(fit, "trimfill")
    if estimator not in ("L0", "R0"):
        raise ModelSpecError(f"estimator must be 'L0' or 'R0', got {estimator!r}")
    if side not in (None, "left", "right"):
        raise ModelSpecError(f"side must be 'left', 'right' or None, got {side!r}")
    if test not in (None, "z", "knha"):
        raise ModelSpecError(f"test must be 'z', 'knha' or None, got {test!r}")
    if fit.p != 1:
        raise ModelSpecError("trim-and-fill applies only to models without moderators")
    if fit.k == 1:
        raise ModelSpecError("trim-and-fill needs more than one study (k = 1)")
    if not (isinstance(maxiter, int) and maxiter >= 1):
        raise ModelSpecError(f"maxiter must be a positive integer, got {maxiter!r}")
    return fit, _small_k(fit.k, "trimfill")


def _flip_to_right(
    fit: FrequentistResult, side: str | None
) -> tuple[str, float, FloatArray, FloatArray]:
    """Choose the side and sort the estimates so that missing studies would be on the right.

    Returns the side, its sign (``-1`` for ``"right"``) and the flipped, sorted ``yi`` and
    their ``vi``.
    """
    if side is None:
        side = _choose_side(fit)
    sgn = -1.0 if side == "right" else 1.0
    ix = np.argsort(sgn * fit.yi, kind="stable")
    return side, sgn, (sgn * fit.yi)[ix], fit.vi[ix]


def _k0_step(yc: FloatArray, estimator: str) -> tuple[float, float]:
    """Return the raw ``k0`` estimate and its standard error from centred estimates ``yc``."""
    k = yc.size
    ranks = np.empty(k)
    ranks[np.argsort(np.abs(yc), kind="stable")] = np.arange(1, k + 1)
    signed = np.sign(yc) * ranks
    if estimator == "R0":
        neg = -signed[signed < 0]
        k0_raw = float(k - (neg.max() if neg.size else -math.inf) - 1)
        if not np.isfinite(k0_raw):
            k0_raw = float(k)  # no study below the estimate: every one is "missing"
        return k0_raw, math.sqrt(2 * max(0.0, k0_raw) + 2)
    sr = float(signed[signed > 0].sum())
    k0_raw = (4 * sr - k * (k + 1)) / (2 * k - 1)
    var_sr = (
        k * (k + 1) * (2 * k + 1)
        + 10 * k0_raw**3
        + 27 * k0_raw**2
        + 17 * k0_raw
        - 18 * k * k0_raw**2
        - 18 * k * k0_raw
        + 6 * k**2 * k0_raw
    ) / 24
    return k0_raw, (4 * math.sqrt(var_sr) / (2 * k - 1) if var_sr >= 0 else math.nan)


def _trimfill_iterate(
    yi: FloatArray, vi: FloatArray, method: str, estimator: str, maxiter: int
) -> tuple[int, float, float, int]:
    """Iterate trim-and-fill on sorted, flipped estimates: ``(k0, se_k0, mu, iterations)``."""
    from bayesmeta.errors import FitError

    k = yi.size
    k0, k0_prev, it = 0, -1, 0
    beta = math.nan
    se_k0 = math.nan
    while k0 != k0_prev:
        k0_prev = k0
        it += 1
        if it > maxiter:
            raise FitError(f"trim-and-fill did not converge in {maxiter} iterations")
        beta = float(_refit(yi[: k - k0], vi[: k - k0], method=method).beta[0])
        k0_raw, se_raw = _k0_step(yi - beta, estimator)
        # R's round() rounds half to even, like Python's
        k0 = max(0, round(k0_raw))
        se_k0 = max(0.0, se_raw) if np.isfinite(se_raw) else math.nan
        # metafor would fail on an empty trimmed set; keep at least one study
        k0 = min(k0, k - 1)
    return k0, se_k0, beta, it


def _trimfill_refit(
    fit: FrequentistResult,
    yi: FloatArray,
    vi: FloatArray,
    k0: int,
    beta: float,
    sgn: float,
    test: str | None,
) -> tuple[FloatArray, FloatArray, tuple[str, ...], FrequentistResult, np.ndarray]:
    """Fill the ``k0`` mirrored studies and re-fit: ``(yi, vi, labels, fit, fill mask)``."""
    k = yi.size
    if k0 > 0:
        # mirror the k0 most extreme studies about the last estimate, in the original scale
        mirrored = sgn * (2 * beta - yi[k - k0 :])
        y_all = np.concatenate([fit.yi, mirrored])
        v_all = np.concatenate([fit.vi, vi[k - k0 :]])
        labels = (*fit.labels, *(f"Filled {i + 1}" for i in range(k0)))
        new = _refit(
            y_all, v_all, method=fit.method, test=test or "z", level=0.95 if test is None
            else fit.level, labels=labels,
        )  # fmt: skip
        fill = np.r_[np.zeros(fit.k, bool), np.ones(k0, bool)]
    else:
        y_all, v_all, labels = fit.yi.copy(), fit.vi.copy(), tuple(fit.labels)
        new = fit if test in (None, fit.test) else _refit(
            y_all, v_all, method=fit.method, test=test, level=fit.level, labels=labels
        )  # fmt: skip
        fill = np.zeros(fit.k, bool)
    return y_all, v_all, labels, new, fill


def trimfill(
    fit: FrequentistResult,
    estimator: str = "L0",
    side: str | None = None,
    *,
    maxiter: int = 100,
    test: str | None = None,
) -> TrimfillResult:
    r"""Duval and Tweedie's trim-and-fill method.

    On the side where studies are thought missing (``side``; by default chosen as metafor
    does: the side opposite to the sign of the slope of :math:`y_i` on :math:`\sqrt{v_i}` in
    a meta-regression with the base fit's method, i.e. ``"right"`` if the slope is negative),
    the algorithm iterates, with the estimates :math:`y_{(1)} \le \dots \le y_{(k)}` sorted
    so that missing studies would be on the right:

    1. fit the model (same tau^2 estimator) to the :math:`k - k_0` smallest estimates,
       giving :math:`\hat\mu`;
    2. rank :math:`|y_i - \hat\mu|` over all k studies (ties by position) and sign the ranks;
    3. ``L0``: with :math:`S_r` the sum of positive signed ranks,
       :math:`k_0 = (4 S_r - k(k+1)) / (2k - 1)`;
       ``R0``: :math:`k_0 = k - \gamma^* - 1`, :math:`\gamma^*` the length of the rightmost
       run of positive ranks (k minus the largest negative rank);
    4. round :math:`k_0` (at least 0) and repeat until it no longer changes.

    The :math:`k_0` largest studies are then mirrored about the last :math:`\hat\mu`
    (:math:`2\hat\mu - y_i`, same :math:`v_i`) and the model is re-fitted to all
    :math:`k + k_0` studies. Standard errors of :math:`k_0`: ``L0``
    :math:`4\sqrt{\mathrm{Var}(S_r)}/(2k - 1)` with metafor's variance formula; ``R0``
    :math:`\sqrt{2 k_0 + 2}`.

    Parameters
    ----------
    fit
        An intercept-only model from :func:`~bayesmeta.frequentist.rma`.
    estimator
        ``"L0"`` (default) or ``"R0"``.
    side
        ``"left"``, ``"right"``, or ``None`` to choose as metafor does.
    maxiter
        Largest number of iterations (a :class:`~bayesmeta.errors.FitError` beyond).
    test
        Test of the re-fitted model. ``None`` (default) does what metafor 3.8 does: the
        filled model uses ``test="z"`` whatever the base fit's test (its re-fit does not pass
        it on), and when ``k0 = 0`` the base fit itself is returned.

    Returns
    -------
    TrimfillResult

    Raises
    ------
    ModelSpecError
        A base fit with moderators, ``k = 1``, or bad arguments.
    FitError
        No convergence within ``maxiter`` iterations.

    Warns
    -----
    SmallStudyWarning
        When ``k < 10``.

    Notes
    -----
    Duval S, Tweedie R (2000). Trim and fill: a simple funnel-plot-based method of testing and
    adjusting for publication bias in meta-analysis. Biometrics 56:455-463. Duval S, Tweedie R
    (2000). A nonparametric "trim and fill" method of accounting for publication bias in
    meta-analysis. JASA 95:89-98. The adjusted estimate is a sensitivity analysis, not a
    corrected effect: it assumes that the asymmetry is caused by suppressed studies.

    See also: metafor::trimfill.

    Examples
    --------
    >>> from bayesmeta import datasets, escalc, rma
    >>> bcg = datasets.load_bcg()
    >>> es = escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> tf = trimfill(rma(es.yi, es.vi, method="DL"))
    >>> tf.k0, round(float(tf.fit.beta[0]), 4), round(tf.se_k0, 4)
    (1, -0.6561, 2.4528)
    """
    fit, notes = _check_trimfill_args(fit, estimator, side, test, maxiter)
    side, sgn, yi, vi = _flip_to_right(fit, side)
    k0, se_k0, beta, it = _trimfill_iterate(yi, vi, fit.method, estimator, maxiter)
    y_all, v_all, labels, new, fill = _trimfill_refit(fit, yi, vi, k0, beta, sgn, test)
    return TrimfillResult(
        k0=k0,
        se_k0=se_k0,
        side=side,
        estimator=estimator,
        p_k0=0.5 ** (k0 + 1) if estimator == "R0" else math.nan,
        fit=new,
        yi=y_all,
        vi=v_all,
        fill=fill,
        labels=labels,
        iterations=it,
        k=fit.k,
        warnings=tuple(notes),
    )
