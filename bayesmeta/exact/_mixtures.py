"""Normal mixtures over the quadrature nodes: CDF, density, quantiles, modes, intervals."""

from __future__ import annotations

import math

import numpy as np
from scipy import special

from bayesmeta.exact._rule import FloatArray

# ------------------------------------------------------------------------------------------------
# normal mixtures (mu, theta_new, theta_i), vectorised over rows R
# ------------------------------------------------------------------------------------------------


def _mix_eval(
    W: FloatArray, m: FloatArray, s: FloatArray, x: FloatArray, what: str = "cdf"
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """CDF, density and density derivative of the mixtures at x (R, Q).

    ``what``: "cdf" (CDF only), "cdfpdf" (CDF and density), "pdf1" (density and derivative),
    "all".
    """
    z = (x[..., None] - m[:, None, :]) / s[:, None, :]
    Wb = W[:, None, :]
    F = (Wb * special.ndtr(z)).sum(-1) if what != "pdf1" else np.zeros(x.shape)
    if what == "cdf":
        return F, F, F
    phi = Wb * np.exp(-0.5 * z * z) / (math.sqrt(2 * math.pi) * s[:, None, :])
    f = phi.sum(-1)
    d = (-(phi * z) / s[:, None, :]).sum(-1) if what in ("pdf1", "all") else f
    return F, f, d


def _mix_cdf(W: FloatArray, m: FloatArray, s: FloatArray, x: FloatArray) -> FloatArray:
    """sum_j W_j Phi((x - m_j)/s_j) for x of shape (R, Q)."""
    return _mix_eval(W, m, s, x, "cdf")[0]


def _mix_pdf(
    W: FloatArray, m: FloatArray, s: FloatArray, x: FloatArray, deriv: bool = False
) -> tuple[FloatArray, FloatArray]:
    _, f, d = _mix_eval(W, m, s, x, "pdf1" if deriv else "cdfpdf")
    return f, (d if deriv else np.zeros_like(f))


def _mix_quantile(W: FloatArray, m: FloatArray, s: FloatArray, q: FloatArray) -> FloatArray:
    """Quantiles (R, Q) by Newton steps safeguarded by bisection on a bracket."""
    live = W > 0
    big = np.where(live, m + 40 * s, -np.inf).max(1)
    small = np.where(live, m - 40 * s, np.inf).min(1)
    lo = np.broadcast_to(small[:, None], q.shape).copy()
    hi = np.broadcast_to(big[:, None], q.shape).copy()
    # start: normal approximation using the weighted median of component sds
    mean = (W * m).sum(1)
    order = np.argsort(s, axis=1)
    cw = np.cumsum(np.take_along_axis(W, order, 1), 1)
    s_med = np.take_along_axis(s, order, 1)[np.arange(W.shape[0]), np.argmax(cw >= 0.5, 1)]
    scale = np.sqrt(s_med**2 + (W * (m - mean[:, None]) ** 2).sum(1))
    x = mean[:, None] + scale[:, None] * special.ndtri(q)
    x = np.clip(x, lo, hi)
    for _ in range(100):
        F, f, _ = _mix_eval(W, m, s, x, "cdfpdf")
        d = F - q
        lo = np.where(d < 0, x, lo)
        hi = np.where(d >= 0, x, hi)
        xn = x - d / np.where(f > 0, f, np.inf)
        bad = ~((xn >= lo) & (xn <= hi))
        xn = np.where(bad, 0.5 * (lo + hi), xn)
        conv = (np.abs(xn - x) <= 1e-12 * (np.abs(x) + scale[:, None])) | (d == 0)
        x = xn
        if conv.all():
            break
    return x


def _mix_mode(W: FloatArray, m: FloatArray, s: FloatArray, x0: FloatArray) -> FloatArray:
    """Mode by Newton steps on the log density, from x0 (R,) (e.g. the median)."""
    scale = np.sqrt((W * s * s).sum(1))
    scale = np.where(np.isfinite(scale), scale, s.min(1))
    x = x0.copy()
    for _ in range(60):
        z = (x[:, None] - m) / s
        phi = W * np.exp(-0.5 * z * z) / s
        f = phi.sum(1)
        d1 = -(phi * z / s).sum(1) / f
        d2 = (phi * (z * z - 1) / (s * s)).sum(1) / f - d1 * d1
        step = np.where(d2 < 0, -d1 / np.where(d2 < 0, d2, -1.0), np.sign(d1) * 0.25 * scale)
        step = np.clip(np.nan_to_num(step), -scale, scale)
        x = x + step
        if np.all(np.abs(step) <= 1e-12 * (np.abs(x) + scale)):
            break
    return x


def _mix_hdi(
    W: FloatArray, m: FloatArray, s: FloatArray, prob: float, eti: FloatArray
) -> FloatArray:
    """Shortest interval (R, 2) by Newton on (F(b) - F(a) - prob, log f(a) - log f(b))."""
    a, b = eti[:, 0].copy(), eti[:, 1].copy()
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
        da = np.clip(np.nan_to_num(da), -0.25 * width, 0.25 * width)
        db = np.clip(np.nan_to_num(db), -0.25 * width, 0.25 * width)
        a, b = a + da, b + db
        if np.all(np.abs(da) + np.abs(db) <= 1e-12 * (np.abs(a) + np.abs(b) + width)):
            break
    return np.stack([a, b], 1)


def _mix_interval(
    W: FloatArray, m: FloatArray, s: FloatArray, prob: float, kind: str
) -> FloatArray:
    a = (1 - prob) / 2
    eti = _mix_quantile(W, m, s, np.tile([[a, 1 - a]], (W.shape[0], 1)))
    return eti if kind == "eti" else _mix_hdi(W, m, s, prob, eti)
