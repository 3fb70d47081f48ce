"""numba twins of the exact engine's hot loops (imported only by ``_kernels``; see there)."""

from __future__ import annotations

import math

import numba
import numpy as np

jit = numba.njit(cache=True, nogil=True, error_model="numpy")
log2pi = math.log(2 * math.pi)
sqrt2pi = math.sqrt(2 * math.pi)
sqrt1_2 = math.sqrt(0.5)
_ZFAR = 8.3  # ndtr(8.3) rounds to 1.0 in double precision


@jit
def loglik1(tau2, Y, S2, p0, m0):
    """``_rule._loglik1`` without padding: log L(tau), muhat(tau), V(tau) at tau2 (M, T).

    ``sum_i log v_i`` is taken as the log of a running product, rescaled (one log per node
    instead of k; the product is flushed into the sum long before it could overflow).
    """
    M, T = tau2.shape
    K = Y.shape[1]
    ll = np.empty((M, T))
    mh = np.empty((M, T))
    V = np.empty((M, T))
    w = np.empty(K)
    half_lp0 = 0.5 * math.log(p0) if p0 > 0 else 0.0
    for i in range(M):
        for j in range(T):
            t2 = tau2[i, j]
            sw = 0.0
            swy = 0.0
            logv = 0.0
            prod = 1.0
            for c in range(K):
                v = S2[i, c] + t2
                wc = 1.0 / v
                w[c] = wc
                sw += wc
                swy += wc * Y[i, c]
                prod *= v
                if prod > 1e200 or prod < 1e-200:
                    logv += math.log(prod)
                    prod = 1.0
            logv += math.log(prod)
            sw = sw + p0
            mu = (swy + p0 * m0) / sw
            q = 0.0
            for c in range(K):
                r = Y[i, c] - mu
                q += w[c] * r * r
            val = -0.5 * logv - 0.5 * math.log(sw) - 0.5 * q - 0.5 * K * log2pi
            if p0 > 0:
                val += half_lp0 - 0.5 * p0 * (m0 - mu) ** 2
            else:
                val += 0.5 * log2pi
            ll[i, j] = val
            mh[i, j] = mu
            V[i, j] = 1.0 / sw
    return ll, mh, V


@jit
def ndtr(a):
    """Return the normal CDF by erf/erfc, as ``scipy.special.ndtr`` (agrees to rounding)."""
    x = a * sqrt1_2
    z = abs(x)
    if z < sqrt1_2:
        return 0.5 + 0.5 * math.erf(x)
    y = 0.5 * math.erfc(z)
    return 1.0 - y if x > 0 else y


@jit
def _eval(W, m, inv_s, wn, x):
    """CDF, density and its derivative of one mixture at x (as ``_mixtures._mix_eval``).

    ``inv_s = 1/s`` and ``wn = W/(sqrt(2 pi) s)`` per component. Components more than ``_ZFAR``
    sds away add their weight (above) or nothing (below) to the CDF, which is what ``ndtr``
    gives there to double precision (within 5e-17 of 0 or 1), and under 2e-15 of their
    weight / sd to the density: left out.
    """
    F = 0.0
    f = 0.0
    d = 0.0
    for c in range(W.shape[0]):
        wc = W[c]
        if wc == 0.0:
            continue
        z = (x - m[c]) * inv_s[c]
        if z > _ZFAR:
            F += wc
            continue
        if z < -_ZFAR:
            continue
        F += wc * ndtr(z)
        phi = wn[c] * math.exp(-0.5 * z * z)
        f += phi
        d -= phi * z * inv_s[c]
    return F, f, d


@jit
def mix_quantile(W, m, s, q, x0, scale):
    """``_mixtures._mix_quantile`` from the starts ``x0`` (R, Q) and scales (R,) it computes."""
    R, N = W.shape
    Q = q.shape[1]
    out = np.empty((R, Q))
    for r in range(R):
        big = -np.inf
        small = np.inf
        for c in range(N):
            if W[r, c] > 0:
                big = max(big, m[r, c] + 40 * s[r, c])
                small = min(small, m[r, c] - 40 * s[r, c])
        sc = scale[r]
        inv_s = 1.0 / s[r]
        wn = W[r] * inv_s / sqrt2pi
        for j in range(Q):
            qq = q[r, j]
            lo = small
            hi = big
            x = x0[r, j]
            x = min(max(x, lo), hi)
            for _ in range(100):
                F, f, dd = _eval(W[r], m[r], inv_s, wn, x)
                dv = F - qq
                if dv < 0:
                    lo = x
                else:
                    hi = x
                pos = f > 0
                newton = dv / f if pos else np.inf
                corr = newton * dd / (2 * f) if pos else np.inf
                halley = abs(corr) < 0.5
                xn = x - (newton / (1 - corr) if halley else newton)
                bad = not (xn >= lo and xn <= hi)
                if bad:
                    xn = 0.5 * (lo + hi)
                step = abs(xn - x)
                width = min(sc, 1 / (sqrt2pi * f))
                small_step = halley and (not bad) and step <= 1e-7 * width
                conv = (step <= 1e-12 * (abs(x) + sc)) or dv == 0 or small_step
                x = xn
                if conv:
                    break
            out[r, j] = x
    return out


@jit
def mix_mode(W, m, s, x0):
    R, N = W.shape
    out = np.empty(R)
    for r in range(R):
        scale = 0.0
        smin = np.inf
        for c in range(N):
            scale += W[r, c] * s[r, c] * s[r, c]
            smin = min(smin, s[r, c])
        scale = math.sqrt(scale)
        if not np.isfinite(scale):
            scale = smin
        x = x0[r]
        for _ in range(60):
            f = 0.0
            a1 = 0.0
            a2 = 0.0
            for c in range(N):
                ia = 1.0 / s[r, c]
                z = (x - m[r, c]) * ia
                phi = W[r, c] * math.exp(-0.5 * z * z) * ia
                f += phi
                a1 += phi * z * ia
                a2 += phi * (z * z - 1) * (ia * ia)
            d1 = -a1 / f
            d2 = a2 / f - d1 * d1
            newton = d2 < 0
            if newton:
                step = -d1 / d2
            else:
                step = (1.0 if d1 > 0 else (-1.0 if d1 < 0 else 0.0)) * 0.25 * scale
            if np.isnan(step):
                step = 0.0
            elif np.isinf(step):
                step = 1.7976931348623157e308 if step > 0 else -1.7976931348623157e308
            step = min(max(step, -scale), scale)
            x = x + step
            a = abs(step)
            width = 1 / math.sqrt(-d2) if newton else 0.0
            conv = (a <= 1e-12 * (abs(x) + scale)) or (newton and a <= 1e-7 * width)
            if conv:
                break
        out[r] = x
    return out


@jit
def _eval3(W, m, inv_s, wn, x):
    """``_eval`` plus the second derivative of the density (same components left out)."""
    F = 0.0
    f = 0.0
    d = 0.0
    d2 = 0.0
    for c in range(W.shape[0]):
        wc = W[c]
        if wc == 0.0:
            continue
        z = (x - m[c]) * inv_s[c]
        if z > _ZFAR:
            F += wc
            continue
        if z < -_ZFAR:
            continue
        F += wc * ndtr(z)
        phi = wn[c] * math.exp(-0.5 * z * z)
        f += phi
        d -= phi * z * inv_s[c]
        d2 += phi * (z * z - 1.0) * inv_s[c] * inv_s[c]
    return F, f, d, d2


@jit
def mix_quantile4(W, m, s, q, x0, scale):
    """``mix_quantile`` with Householder's fourth-order step where it takes Halley's.

    The step ``newton (1 - corr) / (1 - 2 corr + newton**2 f'' / (6 f))`` (``corr`` Halley's
    correction) uses the density's second derivative as well. The error after such a step of
    size h is of the order of h**4 / width**3, so a step below ``1e-5`` of the local length
    scale (Halley's: ``1e-7``, error h**3 / width**2) leaves ~1e-20 of it: from the usual starts
    most quantiles take two evaluations of the mixture instead of three. Starts, brackets and
    bisection fallback are ``mix_quantile``'s; the root agrees with it to rounding.
    """
    R, N = W.shape
    Q = q.shape[1]
    out = np.empty((R, Q))
    for r in range(R):
        big = -np.inf
        small = np.inf
        for c in range(N):
            if W[r, c] > 0:
                big = max(big, m[r, c] + 40 * s[r, c])
                small = min(small, m[r, c] - 40 * s[r, c])
        sc = scale[r]
        inv_s = 1.0 / s[r]
        wn = W[r] * inv_s / sqrt2pi
        for j in range(Q):
            qq = q[r, j]
            lo = small
            hi = big
            x = x0[r, j]
            x = min(max(x, lo), hi)
            for _ in range(100):
                F, f, dd, d2 = _eval3(W[r], m[r], inv_s, wn, x)
                dv = F - qq
                if dv < 0:
                    lo = x
                else:
                    hi = x
                pos = f > 0
                newton = dv / f if pos else np.inf
                corr = newton * dd / (2 * f) if pos else np.inf
                high = abs(corr) < 0.5
                if high:
                    den = 1 - 2 * corr + newton * newton * d2 / (6 * f)
                    high = den > 0.25
                xn = x - (newton * (1 - corr) / den if high else newton)
                bad = not (xn >= lo and xn <= hi)
                if bad:
                    xn = 0.5 * (lo + hi)
                step = abs(xn - x)
                width = min(sc, 1 / (sqrt2pi * f))
                small_step = high and (not bad) and step <= 1e-5 * width
                conv = (step <= 1e-12 * (abs(x) + sc)) or dv == 0 or small_step
                x = xn
                if conv:
                    break
            out[r, j] = x
    return out
