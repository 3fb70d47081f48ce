"""Normal mixtures over the quadrature nodes: CDF, density, quantiles, modes, intervals."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy import special

from bayesmeta.exact import _kernels
from bayesmeta.exact._rule import FloatArray, _clip

_SQRT2PI = math.sqrt(2 * math.pi)

# ------------------------------------------------------------------------------------------------
# normal mixtures (mu, theta_new, theta_i), vectorised over rows R
# ------------------------------------------------------------------------------------------------


def _mix_eval(
    W: FloatArray,
    m: FloatArray,
    s: FloatArray,
    x: FloatArray,
    what: str = "cdf",
    upper: NDArray[np.bool_] | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """CDF, density and density derivative of the mixtures at x (R, Q).

    ``what``: "cdf" (CDF only), "cdfpdf" (CDF and density), "pdf1" (density and derivative),
    "all". Where ``upper`` (R, Q) is True the first item is the upper tail 1 - CDF instead,
    summed from the components' own upper tails (exact to rounding where it is small).
    """
    z = (x[..., None] - m[:, None, :]) / s[:, None, :]
    Wb = W[:, None, :]
    zt = z if upper is None else np.where(upper[..., None], -z, z)
    F = (Wb * special.ndtr(zt)).sum(-1) if what != "pdf1" else np.zeros(x.shape)
    if what == "cdf":
        return F, F, F
    phi = Wb * np.exp(-0.5 * z * z) / (math.sqrt(2 * math.pi) * s[:, None, :])
    f = phi.sum(-1)
    d = (-(phi * z) / s[:, None, :]).sum(-1) if what in ("pdf1", "all") else f
    return F, f, d


def _mix_cdf(W: FloatArray, m: FloatArray, s: FloatArray, x: FloatArray) -> FloatArray:
    """sum_j W_j Phi((x - m_j)/s_j) for x of shape (R, Q)."""
    return _mix_eval(W, m, s, x, "cdf")[0]


def _mix_sf(W: FloatArray, m: FloatArray, s: FloatArray, x: FloatArray) -> FloatArray:
    """sum_j W_j Phi((m_j - x)/s_j) = 1 - CDF for x of shape (R, Q), exact where it is small."""
    return _mix_eval(W, m, s, x, "cdf", np.ones(x.shape, dtype=bool))[0]


def _mix_pdf(
    W: FloatArray, m: FloatArray, s: FloatArray, x: FloatArray, deriv: bool = False
) -> tuple[FloatArray, FloatArray]:
    _, f, d = _mix_eval(W, m, s, x, "pdf1" if deriv else "cdfpdf")
    return f, (d if deriv else np.zeros_like(f))


def _mix_start(
    W: FloatArray, m: FloatArray, s: FloatArray, q: FloatArray
) -> tuple[FloatArray, FloatArray]:
    r"""Return starting points (R, Q) for the quantile solver and each row's length scale (R,).

    The scale is :math:`\sqrt{s_{med}^2 + \sum_j W_j (m_j - \bar m)^2}` with :math:`s_{med}`
    the weighted median of the component sds (finite for heavy-tailed mixtures too). The start
    is the Cornish-Fisher expansion with the mixture's skewness :math:`\gamma_1` and excess
    kurtosis :math:`\gamma_2` where these are moderate (:math:`|\gamma_1| < 1`,
    :math:`|\gamma_2| < 3`: then it is within a few hundredths of an sd of the root), else
    the normal approximation with that scale.
    """
    R = W.shape[0]
    mean = (W * m).sum(1)
    order = np.argsort(s, axis=1)
    cw = np.cumsum(np.take_along_axis(W, order, 1), 1)
    s_med = np.take_along_axis(s, order, 1)[np.arange(R), np.argmax(cw >= 0.5, 1)]
    d = m - mean[:, None]
    d2, s2 = d * d, s * s
    scale = np.sqrt(s_med**2 + (W * d2).sum(1))
    var = (W * (s2 + d2)).sum(1)
    with np.errstate(all="ignore"):
        g1 = (W * d * (d2 + 3 * s2)).sum(1) / var**1.5
        g2 = (W * (d2 * d2 + 6 * d2 * s2 + 3 * s2 * s2)).sum(1) / (var * var) - 3
    z = special.ndtri(q)
    ok = (np.abs(g1) < 1) & (np.abs(g2) < 3)
    g1c, g2c = np.where(ok, g1, 0.0)[:, None], np.where(ok, g2, 0.0)[:, None]
    z2 = z * z
    cf = z + (z2 - 1) * g1c / 6 + (z2 - 3) * z * g2c / 24 - (2 * z2 - 5) * z * g1c**2 / 36
    x = np.where(ok[:, None], mean[:, None] + np.sqrt(var)[:, None] * cf,
                 mean[:, None] + scale[:, None] * z)  # fmt: skip
    return x, scale


def _mix_quantile(W: FloatArray, m: FloatArray, s: FloatArray, q: FloatArray) -> FloatArray:
    """Quantiles (R, Q) by Halley steps safeguarded by bisection on a bracket.

    Each entry stops at its own convergence: a step below ``1e-12`` of the scale, or a Halley
    step below ``1e-7`` of the local length scale ``min(scale, 1/(sqrt(2 pi) f))`` (the error
    after a Halley step is of the order of that step cubed over the length squared). Rows whose
    entries have all converged drop out of the evaluations. Quantiles above the median solve
    1 - F(x) = 1 - q on the upper tail, so that they keep their digits as q nears 1 (1 - q is
    exact for q >= 0.5; F itself cannot resolve less than a unit in the last place of 1).
    """
    x, scale = _mix_start(W, m, s, q)
    kern = _kernels.loaded()
    if kern is not None:  # the compiled twin: the same iteration per entry
        c = np.ascontiguousarray
        return kern.mix_quantile(c(W), c(m), c(s), c(q), c(x), c(scale))
    R = W.shape[0]
    live = W > 0
    big = np.where(live, m + 40 * s, -np.inf).max(1)
    small = np.where(live, m - 40 * s, np.inf).min(1)
    lo = np.broadcast_to(small[:, None], q.shape).copy()
    hi = np.broadcast_to(big[:, None], q.shape).copy()
    x = _clip(x, lo, hi)
    sc = scale[:, None]
    done = np.zeros(q.shape, dtype=bool)
    act = np.arange(R)
    for _ in range(100):
        if act.size < R:
            Wa, ma, sa, qa, xa, la, ha, sca = (
                W[act],
                m[act],
                s[act],
                q[act],
                x[act],
                lo[act],
                hi[act],
                sc[act],
            )
        else:
            Wa, ma, sa, qa, xa, la, ha, sca = W, m, s, q, x, lo, hi, sc
        up = qa > 0.5
        F, f, dd = _mix_eval(Wa, ma, sa, xa, "all", up)
        d = np.where(up, (1 - qa) - F, F - qa)  # F - q either way
        la = np.where(d < 0, xa, la)
        ha = np.where(d >= 0, xa, ha)
        pos = f > 0
        newton = np.where(pos, d / np.where(pos, f, 1.0), np.inf)
        # Halley's correction where it is small (near the root); Newton's step elsewhere
        corr = np.where(pos, newton * dd / np.where(pos, 2 * f, 1.0), np.inf)
        halley = np.abs(corr) < 0.5
        xn = xa - np.where(halley, newton / np.where(halley, 1 - corr, 1.0), newton)
        bad = ~((xn >= la) & (xn <= ha))
        xn = np.where(bad, 0.5 * (la + ha), xn)
        step = np.abs(xn - xa)
        width = np.minimum(sca, 1 / (_SQRT2PI * f))  # a local length scale of the density
        small = halley & ~bad & (step <= 1e-7 * width)
        conv = (step <= 1e-12 * (np.abs(xa) + sca)) | (d == 0) | small
        da = done[act]
        xn = np.where(da, xa, xn)
        conv |= da
        x[act], lo[act], hi[act], done[act] = xn, la, ha, conv
        if done.all():
            break
        act = act[~conv.all(1)]
    return x


def _mix_mode(W: FloatArray, m: FloatArray, s: FloatArray, x0: FloatArray) -> FloatArray:
    """Mode by Newton steps on the log density, from x0 (R,) (e.g. the median).

    Each row stops at its own convergence: a step below ``1e-12`` of the scale, or a Newton
    step below ``1e-7`` of the local width of the peak, ``(-(log f)'')**-1/2`` (the error after
    it is of the order of that step squared over the width).
    """
    kern = _kernels.loaded()
    if kern is not None:  # the compiled twin: the same iteration per row
        c = np.ascontiguousarray
        return kern.mix_mode(c(W), c(m), c(s), c(x0, dtype=np.float64))
    R = W.shape[0]
    scale = np.sqrt((W * s * s).sum(1))
    scale = np.where(np.isfinite(scale), scale, s.min(1))
    x = x0.copy()
    act = np.arange(R)
    inv_s = 1 / s
    for _ in range(60):
        if act.size < R:
            Wa, ma, ia, xa, sca = W[act], m[act], inv_s[act], x[act], scale[act]
        else:
            Wa, ma, ia, xa, sca = W, m, inv_s, x, scale
        z = (xa[:, None] - ma) * ia
        phi = Wa * np.exp(-0.5 * z * z) * ia
        f = phi.sum(1)
        d1 = -(phi * z * ia).sum(1) / f
        d2 = (phi * (z * z - 1) * (ia * ia)).sum(1) / f - d1 * d1
        newton = d2 < 0
        step = np.where(newton, -d1 / np.where(newton, d2, -1.0), np.sign(d1) * 0.25 * sca)
        step = _clip(np.nan_to_num(step), -sca, sca)
        xa = xa + step
        x[act] = xa
        a = np.abs(step)
        width = 1 / np.sqrt(np.where(newton, -d2, np.inf))  # local width of the peak
        conv = (a <= 1e-12 * (np.abs(xa) + sca)) | (newton & (a <= 1e-7 * width))
        if conv.all():
            break
        act = act[~conv]
    return x


def _mix_hdi(
    W: FloatArray, m: FloatArray, s: FloatArray, prob: float, eti: FloatArray
) -> FloatArray:
    """Shortest interval (R, 2) by Newton on (F(b) - F(a) - prob, log f(a) - log f(b))."""
    a, b = eti[:, 0].copy(), eti[:, 1].copy()
    done = np.zeros(a.shape, dtype=bool)  # each row stops at its own convergence
    for _ in range(60):
        xs = np.stack([a, b], 1)
        F, f, d = _mix_eval(W, m, s, xs, "all")
        r1 = F[:, 1] - F[:, 0] - prob
        r2 = np.log(f[:, 0]) - np.log(f[:, 1])
        j11, j12 = -f[:, 0], f[:, 1]
        j21, j22 = d[:, 0] / f[:, 0], -d[:, 1] / f[:, 1]
        det = j11 * j22 - j12 * j21
        det = np.where(det != 0, det, 1.0)
        da = -(r1 * j22 - j12 * r2) / det
        db = -(j11 * r2 - j21 * r1) / det
        width = b - a
        da = _clip(np.nan_to_num(da), -0.25 * width, 0.25 * width)
        db = _clip(np.nan_to_num(db), -0.25 * width, 0.25 * width)
        da, db = np.where(done, 0.0, da), np.where(done, 0.0, db)
        a, b = a + da, b + db
        done |= np.abs(da) + np.abs(db) <= 1e-12 * (np.abs(a) + np.abs(b) + width)
        if done.all():
            break
    return np.stack([a, b], 1)


def _mix_interval(
    W: FloatArray, m: FloatArray, s: FloatArray, prob: float, kind: str
) -> FloatArray:
    a = (1 - prob) / 2
    eti = _mix_quantile(W, m, s, np.tile([[a, 1 - a]], (W.shape[0], 1)))
    return eti if kind == "eti" else _mix_hdi(W, m, s, prob, eti)


#: Components of weight up to this are left out of a summary's quantiles, modes and shortest
#: intervals: the mass dropped (< 1e-15 with a few hundred nodes) is below every tolerance.
_WMIN = 1e-18


def _mix_table(
    W: FloatArray, M: FloatArray, S: FloatArray, prob: float, kind: str
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Mean, sd, median, mode (R,) and interval (R, 2) of mixtures sharing the weights W (N,).

    Mean and sd from every component; the rest from those of weight above ``_WMIN``. With the
    compiled kernels loaded, all but the shortest interval come from one call (``mix_table``:
    the same computation as here, row by row).
    """
    a = (1 - prob) / 2
    kern = _kernels.loaded()
    keep = W > _WMIN
    with np.errstate(all="ignore"):
        if kern is not None:  # the compiled twin
            probs = np.array([0.5, a, 1 - a])
            c = np.ascontiguousarray
            mean, sd, qs, modes = kern.mix_table(
                c(np.broadcast_to(W, M.shape)),
                c(M),
                c(S),
                probs,
                special.ndtri(probs),
                _WMIN,
                True,
            )
        else:
            mean = (W * M).sum(1)
            sd = np.sqrt((W * (S**2 + (M - mean[:, None]) ** 2)).sum(1))
        if kern is None or kind == "hdi":
            Mk, Sk = M[:, keep], S[:, keep]
            Wk = np.broadcast_to(W[keep], Mk.shape)
        if kern is None:
            qs = _mix_quantile(Wk, Mk, Sk, np.tile([[0.5, a, 1 - a]], (M.shape[0], 1)))
            modes = _mix_mode(Wk, Mk, Sk, qs[:, 0])
        iv = _mix_hdi(Wk, Mk, Sk, prob, qs[:, 1:]) if kind == "hdi" else qs[:, 1:]
    return mean, sd, qs[:, 0], modes, iv
