r"""Numpy helpers shared by the frequentist core and the batch fitter.

One implementation each of: the fixed-effect moments behind Cochran's Q, the DerSimonian-Laird and
equal-effects estimators (vectorised over many analyses: row ``m`` of ``Y``/``V`` is one
analysis), Higgins and Thompson's typical within-study variance with :math:`I^2`/:math:`H^2`, and
the critical values of confidence and prediction intervals (from :mod:`scipy.stats`).

With :math:`W = \mathrm{diag}(1/v_i)` and :math:`P = W - WX(X^\top WX)^{-1}X^\top W`:
:math:`Q_E = y^\top P y`, :math:`\hat\tau^2_{DL} = \max\{0, (Q_E - (k-p))/\mathrm{tr}P\}` and the
typical within-study variance :math:`\tilde v = (k-p)/\mathrm{tr}P`. For :math:`X = 1`,
:math:`\mathrm{tr}P = \sum w - \sum w^2/\sum w` and
:math:`\sum_{ij}P_{ij}^2 = \sum w^2 - 2\sum w^3/\sum w + (\sum w^2)^2/(\sum w)^2`, so no
:math:`k \times k` matrix is formed.

The module imports only numpy and scipy.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FEMoments",
    "critical_value",
    "dl_tau2",
    "fe_moments",
    "i2_h2",
    "i2_h2_from_q",
    "knha_scale",
    "pi_df",
    "pool_intercept",
    "typical_variance",
]

FloatArray = NDArray[np.float64]

#: Prediction-interval types of :func:`bayesmeta.frequentist.rma` (metafor 4's ``pi.type`` names).
PI_TYPES: tuple[str, ...] = ("z", "t")


class FEMoments(NamedTuple):
    r"""Cochran's Q, :math:`\mathrm{tr}P` and :math:`\sum_{ij} P_{ij}^2` per analysis."""

    QE: FloatArray
    trP: FloatArray
    sPP: FloatArray


def fe_moments(Y: ArrayLike, V: ArrayLike, X: ArrayLike | None = None) -> FEMoments:
    r"""Fixed-effect (weights :math:`1/v_i`) moments of many analyses at once.

    Parameters
    ----------
    Y, V
        Estimates and sampling variances, shape ``(M, k)`` (``M`` analyses of ``k`` studies) or
        ``(k,)`` for one analysis.
    X
        Full model matrix (intercept column included), shape ``(k, p)`` or ``(M, k, p)``;
        ``None`` for the intercept-only model (closed form, no :math:`k \times k` matrix).

    Returns
    -------
    FEMoments
        ``QE`` :math:`= y^\top P y` (not truncated), ``trP``, ``sPP``; arrays of shape ``(M,)``.

    Examples
    --------
    >>> m = fe_moments([[0.1, 0.3, 0.5]], [[0.01, 0.02, 0.04]])
    >>> [round(float(x[0]), 6) for x in m]
    [3.714286, 100.0, 5714.285714]
    """
    Yb = np.atleast_2d(np.asarray(Y, dtype=float))
    w = 1.0 / np.atleast_2d(np.asarray(V, dtype=float))
    if X is None:
        sw = w.sum(1)
        u = w / sw[:, None]  # normalised weights: no overflow of sum(w^3) at extreme scales
        su2 = (u * u).sum(1)
        ybar = (u * Yb).sum(1)
        QE = (w * (Yb - ybar[:, None]) ** 2).sum(1)
        trP = sw * (1 - su2)
        sPP = sw**2 * (su2 - 2 * (u**3).sum(1) + su2**2)
        return FEMoments(QE, trP, sPP)
    Xb = np.asarray(X, dtype=float)
    if Xb.ndim == 2:
        Xb = np.broadcast_to(Xb, (w.shape[0], *Xb.shape))
    XtW = np.swapaxes(Xb, 1, 2) * w[:, None, :]
    inv = np.linalg.inv(XtW @ Xb)
    P = -np.swapaxes(XtW, 1, 2) @ inv @ XtW
    idx = np.arange(w.shape[1])
    P[:, idx, idx] += w
    QE = np.einsum("mi,mij,mj->m", Yb, P, Yb)
    return FEMoments(QE, np.trace(P, axis1=1, axis2=2), (P * P).sum((1, 2)))


def dl_tau2(moments: FEMoments, df: int | ArrayLike) -> tuple[FloatArray, FloatArray]:
    r"""DerSimonian-Laird :math:`\hat\tau^2` and its standard error, as metafor.

    :math:`\hat\tau^2 = \max\{0, (Q_E - d)/\mathrm{tr}P\}` with :math:`d = k - p`, and
    :math:`SE^2 = (2d + 4\hat\tau^2\,\mathrm{tr}P + 2\hat\tau^4\sum P_{ij}^2)/(\mathrm{tr}P)^2`.

    See also: ``metafor::rma.uni(method = "DL")``.

    Examples
    --------
    >>> tau2, se = dl_tau2(fe_moments([0.1, 0.3, 0.5], [0.01, 0.02, 0.04]), 2)
    >>> round(float(tau2[0]), 6)
    0.017143
    """
    QE, trP, sPP = moments
    d = np.asarray(df, dtype=float)
    tau2 = np.maximum(0.0, (QE - d) / trP)
    se = np.sqrt((2 * d + 4 * tau2 * trP + 2 * tau2**2 * sPP) / trP**2)
    return tau2, se


def typical_variance(vi: ArrayLike, X: ArrayLike | None = None) -> float | FloatArray:
    r"""Higgins and Thompson's typical within-study variance, as metafor uses for I2 and H2.

    :math:`\tilde v = (k - p)/\mathrm{tr}(P)`, :math:`P = W - WX(X^\top WX)^{-1}X^\top W`,
    :math:`W = \mathrm{diag}(1/v_i)`; intercept-only:
    :math:`\tilde v = (k-1)\sum w_i/\{(\sum w_i)^2 - \sum w_i^2\}`. NaN when :math:`k \le p`.

    Parameters
    ----------
    vi
        Sampling variances: ``(k,)`` for one analysis (returns a float) or ``(M, k)`` for ``M``
        intercept-only analyses (returns an array).
    X
        Moderators *without* the intercept column, ``(k, m)`` (one analysis only).

    See also: metafor's ``vt`` in ``rma.uni`` (Higgins & Thompson 2002, eq. 9).

    Examples
    --------
    >>> round(typical_variance([0.1, 0.2, 0.3]), 6)
    0.183333
    """
    v = np.asarray(vi, dtype=float)
    one = v.ndim == 1
    k = v.shape[-1]
    design = None
    if X is not None:
        if not one:
            raise ValueError(
                "typical_variance with moderators takes one analysis, vi of shape (k,)"
            )
        mods = np.asarray(X, dtype=float).reshape(k, -1)
        design = np.column_stack([np.ones(k), mods])
    p = 1 if design is None else design.shape[1]
    if k <= p:
        out = np.full(1 if one else v.shape[0], math.nan)
    else:
        out = (k - p) / fe_moments(np.zeros_like(np.atleast_2d(v)), v, design).trP
    return float(out[0]) if one else out


def i2_h2(tau2: ArrayLike, vt: ArrayLike) -> tuple[FloatArray, FloatArray]:
    r"""Compute :math:`I^2` and :math:`H^2` from :math:`\tau^2` and the typical variance.

    :math:`I^2 = 100\,\tau^2/(\tilde v + \tau^2)` (percent), :math:`H^2 = \tau^2/\tilde v + 1`.

    Examples
    --------
    >>> [float(x) for x in i2_h2(0.1, 0.1)]
    [50.0, 2.0]
    """
    t = np.asarray(tau2, dtype=float)
    v = np.asarray(vt, dtype=float)
    return 100 * t / (v + t), t / v + 1


def i2_h2_from_q(QE: ArrayLike, df: int | ArrayLike) -> tuple[FloatArray, FloatArray]:
    r""":math:`I^2 = \max\{0, 100(Q - d)/Q\}` (0 when :math:`Q = 0`) and :math:`H^2 = Q/d`.

    The equal-effects model's (and Mantel-Haenszel's) heterogeneity, from Q alone.

    Examples
    --------
    >>> [float(x) for x in i2_h2_from_q(4.0, 2)]
    [50.0, 2.0]
    """
    q = np.asarray(QE, dtype=float)
    d = np.asarray(df, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        I2 = np.where(q > 0, np.maximum(0.0, 100 * (q - d) / q), 0.0)
    return I2, q / d


def pool_intercept(
    Y: ArrayLike, V: ArrayLike, tau2: ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Inverse-variance pooled mean of many intercept-only analyses given :math:`\tau^2`.

    Returns :math:`\hat\mu = \sum w_iy_i/\sum w_i`, its variance :math:`1/\sum w_i` and the
    weighted residual sum :math:`\sum w_i(y_i - \hat\mu)^2` (Knapp-Hartung's numerator), with
    :math:`w_i = 1/(v_i + \tau^2)`.

    Examples
    --------
    >>> mu, vb, rss = pool_intercept([[0.0, 1.0]], [[1.0, 1.0]], [0.0])
    >>> float(mu[0]), float(vb[0]), float(rss[0])
    (0.5, 0.5, 0.5)
    """
    Yb = np.atleast_2d(np.asarray(Y, dtype=float))
    wr = 1.0 / (np.atleast_2d(np.asarray(V, dtype=float)) + np.asarray(tau2, float)[:, None])
    swr = wr.sum(1)
    mu = (wr * Yb).sum(1) / swr
    return mu, 1.0 / swr, (wr * (Yb - mu[:, None]) ** 2).sum(1)


def knha_scale(rss: ArrayLike, df: int) -> FloatArray:
    r"""Knapp-Hartung scale factor :math:`s^2 = \sum w_i r_i^2/(k-p)`, as metafor.

    0 if the sum is ~0 (all estimates equal); NaN without residual df.

    Examples
    --------
    >>> float(knha_scale(3.0, 2))
    1.5
    """
    r = np.asarray(rss, dtype=float)
    if df <= 0:
        return np.full(r.shape, math.nan)
    return np.where(r <= np.finfo(float).eps, 0.0, r / df)


def critical_value(level: float, df: int | None = None) -> float:
    r"""Two-sided critical value: :math:`z_{1-\alpha/2}`, or :math:`t_{1-\alpha/2,\,df}`.

    ``df`` of ``None`` means the normal; ``df < 1`` gives NaN (no interval).

    Examples
    --------
    >>> round(critical_value(0.95), 6), round(critical_value(0.95, 4), 6)
    (1.959964, 2.776445)
    """
    # the functions behind scipy.stats' norm.isf and t.isf (scipy.stats is slow to import)
    from scipy import special

    alpha = 1.0 - level
    if df is None:
        return float(-special.ndtri(alpha / 2))
    if df < 1:
        return math.nan
    return float(-special.stdtrit(df, alpha / 2))


def pi_df(pi_type: str, test: str, k: int, p: int) -> int | None:
    r"""Degrees of freedom of the prediction interval (``None`` = normal quantile).

    - ``"z"`` (metafor 3.8's only interval, metafor's ``pi.type = "default"``): the critical value
      of the confidence interval, so the normal under ``test="z"`` and :math:`t_{k-p}` under
      ``test="knha"``.
    - ``"t"`` (Higgins, Thompson & Spiegelhalter 2009; Riley et al. 2011; Cochrane Handbook,
      RevMan): :math:`t_{k-p-1}` under either test; :math:`k - 2` for the intercept-only model.
      metafor's ``predict(res, pi.type = "riley")``.

    Examples
    --------
    >>> pi_df("z", "z", 10, 1), pi_df("z", "knha", 10, 1), pi_df("t", "z", 10, 1)
    (None, 9, 8)
    """
    if pi_type == "t":
        return k - p - 1
    return k - p if test == "knha" else None
