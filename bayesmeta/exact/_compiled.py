"""numba twins of the exact engine's hot paths (imported only by ``_kernels``; see there).

One analysis' summary is a few calls here: the rule (``locate``, ``trange``, ``rule``,
``functionals``), ``tau_summary`` and ``mix_table``; a batch of analyses uses ``loglik1`` and
``mix_table`` (rows of many analyses stacked) too.
"""

from __future__ import annotations

import math

import numba
import numpy as np

jit = numba.njit(cache=True, nogil=True, error_model="numpy")
#: for the scalar functions of a loop that must vectorise (numba inlines them in its own IR)
jit_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")
log2pi = math.log(2 * math.pi)
sqrt2pi = math.sqrt(2 * math.pi)


@jit
def loglik1(tau2, Y, S2, p0, m0):
    """``_rule._loglik1`` without padding: log L(tau), muhat(tau), V(tau) at tau2 (M, T).

    Every node gets bit for bit what ``_ll1`` gives it (the same operations in the same
    order), but the loops run studies outer and nodes inner, so the work over nodes is
    vectorised; the running product of the v's is checked for all nodes at once after each
    study and flushed, node by node and exactly where ``_ll1`` flushes, only when one left range.
    """
    M, T = tau2.shape
    K = Y.shape[1]
    ll = np.empty((M, T))
    mh = np.empty((M, T))
    V = np.empty((M, T))
    W = np.empty((K, T))  # 1 / v, kept for the second pass
    sw = np.empty(T)
    swy = np.empty(T)
    prod = np.empty(T)
    logv = np.empty(T)
    q = np.empty(T)
    for i in range(M):
        t2 = tau2[i]
        sw[:] = 0.0
        swy[:] = 0.0
        prod[:] = 1.0
        logv[:] = 0.0
        for c in range(K):
            _ll1_study(S2[i, c], Y[i, c], t2, W[c], sw, swy, prod, logv)
        mu = mh[i]
        Vi = V[i]
        for j in range(T):
            s = sw[j] + p0
            sw[j] = s
            mu[j] = (swy[j] + p0 * m0) / s
            Vi[j] = 1.0 / s
        q[:] = 0.0
        for c in range(K):
            yc = Y[i, c]
            Wc = W[c]
            for j in range(T):
                r = yc - mu[j]
                q[j] += Wc[j] * r * r
        _ll1_finish(logv, prod, sw, q, mu, K, p0, m0, ll[i])
    return ll, mh, V


@jit
def _ll1_study(s2c, yc, t2, Wc, sw, swy, prod, logv):
    """``loglik1``: add one study (variance ``s2c``, estimate ``yc``) at every node ``t2``."""
    bad = False
    for j in range(t2.shape[0]):
        v = s2c + t2[j]
        wc = 1.0 / v
        Wc[j] = wc
        sw[j] += wc
        swy[j] += wc * yc
        p = prod[j] * v
        prod[j] = p
        bad |= (p > 1e200) | (p < 1e-200)
    if bad:  # rare: flush the nodes whose product left range (as ``_ll1`` does)
        for j in range(t2.shape[0]):
            p = prod[j]
            if p > 1e200 or p < 1e-200:
                logv[j] += math.log(p)
                prod[j] = 1.0


@jit
def _ll1_finish(logv, prod, sw, q, mu, K, p0, m0, ll):
    """``loglik1``: log L(tau) per node from the sums (``_ll1``'s last lines)."""
    for j in range(sw.shape[0]):
        lv = logv[j] + math.log(prod[j])
        val = -0.5 * lv - 0.5 * math.log(sw[j]) - 0.5 * q[j] - 0.5 * K * log2pi
        if p0 > 0:
            val += 0.5 * math.log(p0) - 0.5 * p0 * (m0 - mu[j]) ** 2
        else:
            val += 0.5 * log2pi
        ll[j] = val


#: exp(t) for t <= 0 as 2**k exp(r): 2**-j from this table (j = 0..1075, then 0) and exp(r),
#: |r| <= ln(2)/2, from its Taylor polynomial of degree 13 (truncation below 4e-18); no call to
#: libm, so a loop over components of a mixture vectorises (``_eval_taylor``)
_POW2 = np.array([math.ldexp(1.0, -j) for j in range(1076)] + [0.0])
_INV_LN2 = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # fdlibm's split of ln 2: hi has 32 significant bits
_LN2_LO = 1.90821492927058770002e-10
_F = [1.0 / math.factorial(n) for n in range(14)]
_F3, _F4, _F5, _F6, _F7, _F8, _F9, _F10, _F11, _F12, _F13 = _F[3:]

# The normal CDF from exp(-z**2/2): W. J. Cody's rational Chebyshev approximations (ANORM,
# ACM TOMS 19 (1993) 22-32, algorithm 715; the same coefficients as R's pnorm.c), for
# |z| <= 0.67448975 (A/B in z**2), <= sqrt(32) (C/D in |z|) and beyond (P/Q in 1/z**2)
_A0, _A1, _A2, _A3, _A4 = (
    2.2352520354606839287, 161.02823106855587881, 1067.6894854603709582,
    18154.981253343561249, 0.065682337918207449113,
)  # fmt: skip
_B0, _B1, _B2, _B3 = (
    47.20258190468824187, 976.09855173777669322, 10260.932208618978205, 45507.789335026729956,
)  # fmt: skip
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8 = (
    0.39894151208813466764, 8.8831497943883759412, 93.506656132177855979,
    597.27027639480026226, 2494.5375852903726711, 6848.1904505362823326,
    11602.651437647350124, 9842.7148383839780218, 1.0765576773720192317e-8,
)  # fmt: skip
_D0, _D1, _D2, _D3, _D4, _D5, _D6, _D7 = (
    22.266688044328115691, 235.38790178262499861, 1519.377599407554805, 6485.558298266760755,
    18615.571640885098091, 34900.952721145977266, 38912.003286093271411, 19685.429676859990727,
)  # fmt: skip
_P0, _P1, _P2, _P3, _P4, _P5 = (
    0.21589853405795699, 0.1274011611602473639, 0.022235277870649807,
    0.001421619193227893466, 2.9112874951168792e-5, 0.02307344176494017303,
)  # fmt: skip
_Q0, _Q1, _Q2, _Q3, _Q4 = (
    1.28426009614491121, 0.468238212480865118, 0.0659881378689285515,
    0.00378239633202758244, 7.29751555083966205e-5,
)  # fmt: skip
_ZCLIP = 40.0  # exp(-z**2/2) is 0 in double precision beyond |z| = 38.6


@jit_inline
def exp_neg(t):
    """Return exp(t) for t <= 0 to about a unit in the last place, vectorisable (``_POW2``)."""
    t = -800.0 if t < -800.0 else t  # exp underflows to 0 long before; NaN stays NaN
    k = math.floor(t * _INV_LN2 + 0.5)
    r = (t - k * _LN2_HI) - k * _LN2_LO
    e = _F12 + r * _F13
    for c in (_F11, _F10, _F9, _F8, _F7, _F6, _F5, _F4, _F3, 0.5, 1.0, 1.0):
        e = c + r * e
    # the table's index, kept in range whatever t is (NaN gives index 0 and a NaN result)
    j = -k if -k <= 1076.0 else 1076.0
    j = j if j >= 0.0 else 0.0
    return _POW2[int(j)] * e


@jit_inline
def ndtr_e(z, e):
    """Return the normal CDF at z given ``e = exp(-z*z/2)`` (Cody's approximations, above).

    All three ranges are computed and one is selected, without branches, so that a loop over
    many z vectorises; agrees with ``scipy.special.ndtr`` to 2.3e-16 absolute.
    """
    y = abs(z)
    z2 = z * z
    small = y <= 0.67448975
    mid = y <= 5.656854248
    n1 = ((((_A4 * z2 + _A0) * z2 + _A1) * z2 + _A2) * z2 + _A3) * z
    d1 = (((z2 + _B0) * z2 + _B1) * z2 + _B2) * z2 + _B3
    n2 = _C8 * y
    d2 = y
    for cn, cd in ((_C0, _D0), (_C1, _D1), (_C2, _D2), (_C3, _D3), (_C4, _D4), (_C5, _D5)):
        n2 = (n2 + cn) * y
        d2 = (d2 + cd) * y
    n2 = (n2 + _C6) * y + _C7
    d2 = (d2 + _D6) * y + _D7
    iz = 1.0 / (z2 if not mid else 1.0)
    n3 = ((((_P5 * iz + _P0) * iz + _P1) * iz + _P2) * iz + _P3) * iz + _P4
    d3 = ((((iz + _Q0) * iz + _Q1) * iz + _Q2) * iz + _Q3) * iz + _Q4
    # beyond sqrt(32): (1/sqrt(2 pi) - iz n3/d3)/y, as one quotient
    num = n1 if small else (n2 if mid else d3 / sqrt2pi - iz * n3)
    den = d1 if small else (d2 if mid else y * d3)
    t = num / den
    return 0.5 + t if small else (e * t if z < 0 else 1.0 - e * t)


@jit
def _bracket(W, m, s):
    """Return the bracket of one mixture's quantiles: 40 sds beyond its outer components."""
    big = -np.inf
    small = np.inf
    for c in range(W.shape[0]):
        if W[c] > 0:
            big = max(big, m[c] + 40 * s[c])
            small = min(small, m[c] - 40 * s[c])
    return small, big


@jit
def mix_quantile(W, m, s, q, x0, scale):
    """``_mixtures._mix_quantile`` from the starts ``x0`` (R, Q) and scales (R,) it computes."""
    R = W.shape[0]
    Q = q.shape[1]
    out = np.empty((R, Q))
    der = np.empty(_NDER)
    work = np.empty((3, W.shape[1]))
    for r in range(R):
        small, big = _bracket(W[r], m[r], s[r])
        inv_s = 1.0 / s[r]
        wn = W[r] * inv_s / sqrt2pi
        for j in range(Q):
            xrj = x0[r, j]
            out[r, j] = _quantile_row(
                W[r], m[r], inv_s, wn, q[r, j], xrj, scale[r], small, big, der, work
            )
    return out


@jit
def mix_mode(W, m, s, x0):
    """``_mixtures._mix_mode`` from the starts ``x0`` (R,)."""
    R = W.shape[0]
    out = np.empty(R)
    for r in range(R):
        out[r] = _mode_row(W[r], m[r], s[r], x0[r])
    return out


# ------------------------------------------------------------------------------------------------
# one analysis' summary: the mixture table and the tau solvers, each one call
# ------------------------------------------------------------------------------------------------


@jit
def _insertion_argsort(s):
    """Return the indices that sort s, by insertion (compiles far faster than ``np.argsort``).

    Ties may come in another order than ``np.argsort``'s (their value is the same). Serves
    only the rare mixtures whose sds are not monotone along the nodes.
    """
    n = s.shape[0]
    order = np.arange(n)
    for i in range(1, n):
        j = i
        oi = order[i]
        while j > 0 and s[order[j - 1]] > s[oi]:
            order[j] = order[j - 1]
            j -= 1
        order[j] = oi
    return order


@jit
def _mix_start_row(W, m, s, z):
    """``_mixtures._mix_start`` for one row: starting points (Q,) for the quantiles z, scale.

    The weighted median of the sds walks the nodes in their own order when the sds are
    monotone along them (as ``np.argsort`` would order them; the usual case, about 99 rows in
    100: the sd of a mixture over tau changes monotonically with tau), else sorts them.
    """
    N = W.shape[0]
    mean = 0.0
    for c in range(N):
        mean += W[c] * m[c]
    up = True
    down = True
    for c in range(1, N):
        if s[c] < s[c - 1]:
            up = False
        elif s[c] > s[c - 1]:
            down = False
    if up:
        order = np.arange(N)
    elif down:
        order = np.arange(N - 1, -1, -1)
    else:
        order = _insertion_argsort(s)
    cw = 0.0
    s_med = s[order[0]]
    for j in range(N):
        cw += W[order[j]]
        if cw >= 0.5:
            s_med = s[order[j]]
            break
    sd2 = 0.0
    var = 0.0
    m3 = 0.0
    m4 = 0.0
    for c in range(N):
        d = m[c] - mean
        d2 = d * d
        s2 = s[c] * s[c]
        sd2 += W[c] * d2
        var += W[c] * (s2 + d2)
        m3 += W[c] * d * (d2 + 3 * s2)
        m4 += W[c] * (d2 * d2 + 6 * d2 * s2 + 3 * s2 * s2)
    scale = math.sqrt(s_med * s_med + sd2)
    g1 = m3 / var**1.5
    g2 = m4 / (var * var) - 3
    ok = abs(g1) < 1 and abs(g2) < 3
    Q = z.shape[0]
    x0 = np.empty(Q)
    for j in range(Q):
        zj = z[j]
        if ok:
            z2 = zj * zj
            cf = zj + (z2 - 1) * g1 / 6 + (z2 - 3) * zj * g2 / 24 - (2 * z2 - 5) * zj * g1**2 / 36
            x0[j] = mean + math.sqrt(var) * cf
        else:
            x0[j] = mean + scale * zj
    return x0, scale


@jit
def _quantile_row(W, m, inv_s, wn, qq, x, sc, lo, hi, der, work):
    """One quantile of one mixture from x in the bracket [lo, hi] (``_mixtures._mix_quantile``).

    Halley steps (Newton's far from the root) safeguarded by bisection, stopping as numpy does;
    the density and its derivative from ``_eval_taylor`` (its first two orders).
    """
    x = min(max(x, lo), hi)
    for _ in range(100):
        dv = _eval_taylor(W, m, inv_s, wn, x, qq, der, work)
        f, dd = der[0], der[1]
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
    return x


@jit
def _mode_row(W, m, s, x):
    """Return the mode of one mixture from x (``_mixtures._mix_mode``): Newton on log f."""
    N = W.shape[0]
    scale = 0.0
    smin = np.inf
    for c in range(N):
        scale += W[c] * s[c] * s[c]
        smin = min(smin, s[c])
    scale = math.sqrt(scale)
    if not np.isfinite(scale):
        scale = smin
    for _ in range(60):
        f = 0.0
        a1 = 0.0
        a2 = 0.0
        for c in range(N):
            ia = 1.0 / s[c]
            z = (x - m[c]) * ia
            phi = W[c] * math.exp(-0.5 * z * z) * ia
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
        if (a <= 1e-12 * (abs(x) + scale)) or (newton and a <= 1e-7 * width):
            break
    return x


#: Derivatives of the density summed per evaluation for the local expansion of a mixture's CDF
#: (``_eval_taylor`` writes out exactly this many).
_NDER = 9


@jit
def _eval_taylor(W, m, inv_s, wn, x, qq, d, work):
    """Return F(x) - qq for one mixture's CDF F; its density's derivatives into d (0.._NDER-1).

    Above the median (qq > 0.5) as (1 - qq) - (1 - F(x)), the upper tail summed from the
    components' own upper tails, so that it keeps its digits as qq nears 1 (1 - qq is exact).
    The n-th derivative of a normal density is ``(-1/s)**n He_n(z)`` times it (probabilists'
    Hermite polynomials). ``inv_s = 1/s`` and ``wn = W/(sqrt(2 pi) s)`` per component; work
    (3, >= N) is scratch. Two loops, each on SIMD lanes: the first takes every component's z,
    density and CDF term (``exp_neg``, ``ndtr_e``: no libm call, no branch; z clipped at
    ``_ZCLIP``, where both are exact), the second sums them (``_hermite_sums``).
    """
    n = W.shape[0]
    z, p, f = work[0, :n], work[1, :n], work[2, :n]
    upper = qq > 0.5
    for c in range(n):
        zc = (x - m[c]) * inv_s[c]
        zc = -_ZCLIP if zc < -_ZCLIP else (_ZCLIP if zc > _ZCLIP else zc)  # NaN stays NaN
        e = exp_neg(-0.5 * zc * zc)
        z[c] = zc
        p[c] = wn[c] * e
        f[c] = W[c] * ndtr_e(-zc if upper else zc, e)
    F = _hermite_sums(z, p, f, inv_s, d)
    return (1.0 - qq) - F if upper else F - qq


@numba.njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc", "contract"})
def _hermite_sums(z, p, f, inv_s, d):
    """Return sum(f); d[n] = sum of p u**n He_n(z), u = -inv_s (``_eval_taylor``'s sums).

    Written out for the nine orders so that the sums stay in registers and the products do
    not wait on each other; the sums may be reassociated (fastmath), so they vectorise.
    """
    F = 0.0
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = a8 = 0.0
    for c in range(z.shape[0]):
        F += f[c]
        zc = z[c]
        pc = p[c]
        u = -inv_s[c]
        z2 = zc * zc
        z4 = z2 * z2
        z6 = z4 * z2
        u2 = u * u
        u4 = u2 * u2
        pu = pc * u
        pu2 = pc * u2
        pu4 = pc * u4
        a0 += pc
        a1 += pu * zc
        a2 += pu2 * (z2 - 1)
        a3 += (pu2 * u) * (zc * (z2 - 3))
        a4 += pu4 * (z4 - 6 * z2 + 3)
        a5 += (pu4 * u) * (zc * (z4 - 10 * z2 + 15))
        a6 += (pu4 * u2) * (z6 - 15 * z4 + 45 * z2 - 15)
        a7 += (pu4 * u2 * u) * (zc * (z6 - 21 * z4 + 105 * z2 - 105))
        a8 += (pu4 * u4) * (z4 * z4 - 28 * z6 + 210 * z4 - 420 * z2 + 105)
    d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7], d[8] = a0, a1, a2, a3, a4, a5, a6, a7, a8
    return F


@jit
def _taylor_root(g0, d, delta, eps):
    """Root near ``delta`` of g0 + sum_n d[n] delta**(n+1)/(n+1)! (Newton on the polynomial).

    Returns the root and the size of its last term (an estimate of what the expansion leaves
    out), or NaN where Newton does not settle.
    """
    for _ in range(30):
        g = g0
        gp = 0.0
        tn = 1.0  # delta**n / n!
        for n in range(_NDER):
            gp += d[n] * tn
            g += d[n] * tn * delta / (n + 1)
            tn *= delta / (n + 1)
        if not gp > 0:
            return np.nan, np.inf
        step = g / gp
        delta -= step
        if abs(step) <= eps * abs(delta):
            last = abs(d[_NDER - 1]) * abs(delta) ** _NDER
            for n in range(2, _NDER + 1):
                last /= n
            return delta, last
    return np.nan, np.inf


@jit
def _quantile_taylor(W, m, inv_s, wn, qq, x, sc, lo, hi, d, work):
    """One quantile of one mixture: the root of F(x) = qq that ``_quantile_row`` finds.

    Each evaluation sums the CDF and ``_NDER`` derivatives of the density at x; the root of
    that local expansion is taken when what the expansion leaves out is below 1e-16 of the
    local length scale (then the answer agrees with the Halley iteration's to rounding),
    else the next evaluation is at that root if it lies in the bracket (a far better point
    than a Halley step, so about one evaluation in ten is saved; once per quantile), else
    after a Halley step (bisection outside the bracket).
    """
    x = min(max(x, lo), hi)
    stepped = False
    for _ in range(100):
        dv = _eval_taylor(W, m, inv_s, wn, x, qq, d, work)
        f = d[0]
        if dv == 0:
            return x, x
        if dv < 0:
            lo = x
        else:
            hi = x
        width = min(sc, 1 / (sqrt2pi * f)) if f > 0 else sc
        pos = f > 0
        newton = dv / f if pos else np.inf
        corr = newton * d[1] / (2 * f) if pos else np.inf
        halley = abs(corr) < 0.5
        if halley:
            delta, last = _taylor_root(dv, d, -newton / (1 - corr), 1e-15)
            xn = x + delta
            if xn >= lo and xn <= hi:
                if last <= 1e-16 * f * width or abs(delta) <= 1e-12 * (abs(x) + sc):
                    return xn, x
                if not stepped:  # once; should the root be poor, Halley's safeguarded steps
                    stepped = True
                    x = xn
                    continue
        xn = x - (newton / (1 - corr) if halley else newton)
        if not (xn >= lo and xn <= hi):
            xn = 0.5 * (lo + hi)
        if abs(xn - x) <= 1e-12 * (abs(x) + sc):
            return xn, x
        x = xn
    return x, x


@jit
def _mode_taylor(d, delta, limit, scale):
    """``_mode_row``'s Newton steps from ``delta`` on the expansion d (``_eval_taylor``).

    The density and its first two derivatives come from the expansion (accurate near its
    centre), so the steps are those ``_mode_row`` takes from the same start. Returns the
    point reached (relative to the expansion's centre), or NaN where the steps leave
    ``[-limit, limit]`` or do not settle. A start for ``_mode_row``, not the mode itself.
    """
    for _ in range(60):
        f = 0.0
        f1 = 0.0
        f2 = 0.0
        tn = 1.0  # delta**n / n!
        for n in range(_NDER):
            f += d[n] * tn
            if n + 1 < _NDER:
                f1 += d[n + 1] * tn
            if n + 2 < _NDER:
                f2 += d[n + 2] * tn
            tn *= delta / (n + 1)
        d1 = f1 / f
        d2 = f2 / f - d1 * d1
        newton = d2 < 0
        if newton:
            step = -d1 / d2
        else:
            step = (1.0 if d1 > 0 else (-1.0 if d1 < 0 else 0.0)) * 0.25 * scale
        if not np.isfinite(step):
            return np.nan
        step = min(max(step, -scale), scale)
        delta += step
        if not abs(delta) <= limit:
            return np.nan
        if newton and abs(step) <= 1e-7 / math.sqrt(-d2):
            return delta
    return np.nan


@jit
def mix_table(W, m, s, q, z, wmin, modes):
    """Mean, sd, quantiles and (if ``modes``) mode at the median ``q[0]`` of mixtures.

    W, m and s (R, N): one mixture per row (rows of one analysis share their weights; a batch
    stacks the rows of many), q (Q,) with ``z = ndtri(q)``. Mean and sd use every component;
    quantiles and modes only those of weight above ``wmin``, gathered once per row (as
    ``_posterior._mixture_table_arrays`` does): ``_mix_start``, ``_mix_quantile`` and
    ``_mix_mode`` per row, in one call. Without ``modes`` the mode column is NaN.
    """
    R, N = m.shape
    Q = q.shape[0]
    mean = np.empty(R)
    sd = np.empty(R)
    qs = np.empty((R, Q))
    mode = np.full(R, np.nan)
    Wb = np.empty(N)
    mb = np.empty(N)
    sb = np.empty(N)
    ib = np.empty(N)
    wb = np.empty(N)
    der = np.empty(_NDER)
    work = np.empty((3, N))
    for r in range(R):
        mu = 0.0
        for c in range(N):
            mu += W[r, c] * m[r, c]
        v = 0.0
        for c in range(N):
            d = m[r, c] - mu
            v += W[r, c] * (s[r, c] * s[r, c] + d * d)
        mean[r] = mu
        sd[r] = math.sqrt(v)
        n = 0
        for c in range(N):
            if W[r, c] > wmin:
                Wb[n] = W[r, c]
                mb[n] = m[r, c]
                sb[n] = s[r, c]
                ib[n] = 1.0 / s[r, c]
                wb[n] = W[r, c] * ib[n] / sqrt2pi
                n += 1
        Wk, mk, sk, inv_s, wn = Wb[:n], mb[:n], sb[:n], ib[:n], wb[:n]
        x0, sc = _mix_start_row(Wk, mk, sk, z)
        small, big = _bracket(Wk, mk, sk)
        xm = 0.0
        dm = np.empty(_NDER)
        for j in range(Q):
            qs[r, j], xe = _quantile_taylor(
                Wk, mk, inv_s, wn, q[j], x0[j], sc, small, big, der, work
            )
            if j == 0:  # the median: keep the expansion there for the mode's start
                xm = xe
                dm[:] = der
        if not modes:
            continue
        # the mode from the median, as _mode_row's steps would go there, while they stay
        # within half the narrowest component's sd of the expansion's centre (where its nine
        # terms are accurate to about 1e-7, ample for steps that _mode_row then polishes)
        msc = 0.0
        smin = np.inf
        for j in range(n):
            msc += Wk[j] * sk[j] * sk[j]
            smin = min(smin, sk[j])
        msc = math.sqrt(msc)
        limit = 0.5 * min(smin, 1 / (sqrt2pi * dm[0]))
        delta = _mode_taylor(dm, qs[r, 0] - xm, limit, msc) if dm[0] > 0 else np.nan
        mode[r] = _mode_row(Wk, mk, sk, xm + delta if np.isfinite(delta) else qs[r, 0])
    return mean, sd, qs, mode


@jit
def _ll1(t2, Y, S2, p0, m0):
    """One node of ``loglik1``: log L(tau), muhat(tau), V(tau) at tau**2 = t2, one analysis.

    ``sum_i log v_i`` is taken as the log of a running product, rescaled (one log per node
    instead of k; the product is flushed into the sum long before it could overflow).
    ``loglik1`` repeats this arithmetic for many nodes at once and must stay bit for bit the
    same (the tests check it node by node): change both together.
    """
    K = Y.shape[0]
    sw = 0.0
    swy = 0.0
    logv = 0.0
    prod = 1.0
    for c in range(K):
        v = S2[c] + t2
        wc = 1.0 / v
        sw += wc
        swy += wc * Y[c]
        prod *= v
        if prod > 1e200 or prod < 1e-200:
            logv += math.log(prod)
            prod = 1.0
    logv += math.log(prod)
    sw = sw + p0
    mu = (swy + p0 * m0) / sw
    q = 0.0
    for c in range(K):
        r = Y[c] - mu
        q += (1.0 / (S2[c] + t2)) * r * r
    val = -0.5 * logv - 0.5 * math.log(sw) - 0.5 * q - 0.5 * K * log2pi
    if p0 > 0:
        val += 0.5 * math.log(p0) - 0.5 * p0 * (m0 - mu) ** 2
    else:
        val += 0.5 * log2pi
    return val, mu, 1.0 / sw


@jit
def _ll2_node(t2, Y, S2, X, lam0, m0, const):
    """``_rule._loglik_design`` at one node, two columns (its closed form).

    Returns log L, b_hat (2) and P^-1 (entries 00, 01, 11); where P is not numerically
    positive definite, ``-inf`` and the identity, as numpy.
    """
    K = Y.shape[0]
    p00 = 0.0
    p01 = 0.0
    p10 = 0.0
    p11 = 0.0
    h0 = 0.0
    h1 = 0.0
    logv = 0.0
    for c in range(K):
        v = S2[c] + t2
        w = 1.0 / v
        x0 = X[c, 0]
        x1 = X[c, 1]
        p00 += w * (x0 * x0)
        p01 += w * (x0 * x1)
        p10 += w * (x1 * x0)
        p11 += w * (x1 * x1)
        wy = w * Y[c]
        h0 += wy * x0
        h1 += wy * x1
        logv += math.log(v)
    p00 += lam0[0]
    p11 += lam0[1]
    h0 += lam0[0] * m0[0]
    h1 += lam0[1] * m0[1]
    b = 0.5 * (p01 + p10)
    det = p00 * p11 - b * b
    bad = not (det > 0 and np.isfinite(det))
    if bad:
        i00, i01, i11 = 1.0, 0.0, 1.0
    else:
        i00, i01, i11 = p11 / det, -b / det, p00 / det
    b0 = i00 * h0 + i01 * h1
    b1 = i01 * h0 + i11 * h1
    q = 0.0
    for c in range(K):
        r = Y[c] - (b0 * X[c, 0] + b1 * X[c, 1])
        q += (1.0 / (S2[c] + t2)) * r * r
    q += lam0[0] * (b0 - m0[0]) ** 2 + lam0[1] * (b1 - m0[1]) ** 2
    ll = -np.inf if bad else -0.5 * (logv + math.log(det) + q + const)
    return ll, b0, b1, i00, i01, i11


@jit
def _logprior(tau, prior, scale):
    """Return log p(tau), tau >= 0: 0 half-normal, 1 half-Cauchy, 2 exponential (as numpy)."""
    z = tau / scale
    if prior == 0:
        return (0.5 * math.log(2.0 / math.pi) - z * z / 2.0) - math.log(scale)
    if prior == 1:
        return (math.log(2.0 / math.pi) - math.log1p(z * z)) - math.log(scale)
    return -z - math.log(scale)


@jit
def _ell(x, Y, S2, X, lam0, m0, const, prior, scale):
    """``_rule._ell`` at one x = log tau: x + log p(tau) + log L(tau).

    ``prior``: 0 half-normal, 1 half-Cauchy, 2 exponential, each with ``scale`` (the closed
    forms of ``_rule._Spec.tau_logpdf``). ``X`` with no columns: the intercept-only model with
    ``p0 = lam0[0]``, ``m0 = m0[0]``; else two columns (``const`` as in ``_loglik_design``).
    """
    tau = math.exp(x)
    lp = _logprior(tau, prior, scale)
    if X.shape[1] == 0:
        ll = _ll1(tau * tau, Y, S2, lam0[0], m0[0])[0]
    else:
        ll = _ll2_node(tau * tau, Y, S2, X, lam0, m0, const)[0]
    return x + lp + ll


@jit
def tau_solve(cum, t_lo, t_hi, xhat, sig, logZ, q, gl_x, gl_w, Y, S2, X, lam0, m0, const,
              prior, scale):  # fmt: skip
    """``_rule._quantile_solver`` for every row and probability in q (M, Q): t (M, Q)."""
    M, Q = q.shape
    P = cum.shape[1] - 1
    G = gl_x.shape[0]
    out = np.empty((M, Q))
    for i in range(M):
        H = (t_hi[i] - t_lo[i]) / P
        for j in range(Q):
            qq = q[i, j]
            p = -1
            for b in range(P + 1):
                if cum[i, b] <= qq:
                    p += 1
            p = min(max(p, 0), P - 1)
            lo = t_lo[i] + p * H
            hi = lo + H
            c0 = cum[i, p]
            c1 = cum[i, p + 1]
            frac = (qq - c0) / (c1 - c0) if c1 > c0 else 0.5
            t = lo + min(max(frac, 0.0), 1.0) * H
            for _ in range(40):
                tc = min(max(t, t_lo[i]), t_hi[i])
                pp = int(min(max(math.floor((tc - t_lo[i]) / H), 0), P - 1))
                a = t_lo[i] + pp * H
                half = (tc - a) / 2
                part = 0.0
                for g in range(G):
                    node = a + half * (gl_x[g] + 1)
                    e = _ell(xhat[i] + sig[i] * math.sinh(node), Y[i], S2[i], X[i], lam0, m0,
                             const[i], prior, scale)  # fmt: skip
                    part += math.exp(e + math.log(sig[i] * math.cosh(node)) - logZ[i]) * gl_w[g]
                part *= half
                e = _ell(xhat[i] + sig[i] * math.sinh(tc), Y[i], S2[i], X[i], lam0, m0, const[i],
                         prior, scale)  # fmt: skip
                dens = math.exp(e + math.log(sig[i] * math.cosh(tc)) - logZ[i])
                F = min(max(cum[i, pp] + part, 0.0), 1.0)
                d = F - qq
                if d < 0:
                    lo = t
                else:
                    hi = t
                step = d / dens if dens > 0 else np.inf
                tn = t - step
                bad = not (tn >= lo and tn <= hi)
                if bad:
                    tn = 0.5 * (lo + hi)
                a_step = abs(tn - t)
                conv = a_step < 1e-12 * (1 + abs(t)) or d == 0 or (not bad and a_step < 1e-7)
                t = tn
                if conv:
                    break
            out[i, j] = t
    return out


@jit
def tau_mode(x_nodes, ell_nodes, c, lo_val, hi_val, xlo, xhi, fd, xtol, Y, S2, X, lam0, m0,
             const, prior, scale):  # fmt: skip
    """``_rule._mode_solver`` of tau (c=0) or tau**2 (c=1) per row: log tau and its density.

    Returns x (M,) and the log density there (the boundaries are weighed by the caller).
    """
    M, N = x_nodes.shape
    xs = np.empty(M)
    best = np.empty(M)
    for i in range(M):
        gmax = -np.inf
        x = x_nodes[i, 0]
        for n in range(N):
            gv = ell_nodes[i, n] - (1 + c) * x_nodes[i, n]
            if gv > gmax:
                gmax = gv
                x = x_nodes[i, n]
        settled = lo_val[i] >= gmax - 1e-12 or hi_val[i] >= gmax
        for _ in range(0 if settled else 30):
            f = np.empty(3)
            for h in range(3):
                xx = x + (h - 1) * fd
                f[h] = _ell(xx, Y[i], S2[i], X[i], lam0, m0, const[i], prior, scale) - (1 + c) * xx
            d1 = (f[2] - f[0]) / (2 * fd)
            d2 = (f[2] - 2 * f[1] + f[0]) / fd**2
            if d2 < 0:
                step = -d1 / d2
            else:
                step = (1.0 if d1 > 0 else (-1.0 if d1 < 0 else 0.0)) * 0.1
            step = min(max(step, -1.0), 1.0) if np.isfinite(step) else 0.0
            xn = min(max(x + step, xlo), xhi)
            conv = abs(xn - x) < xtol
            x = xn
            if conv:
                break
        xs[i] = x
        best[i] = _ell(x, Y[i], S2[i], X[i], lam0, m0, const[i], prior, scale) - (1 + c) * x
    return xs, best


@jit
def loglik2(tau2, Y, S2, X, lam0, m0, const):
    """``_rule._loglik_design`` without padding for two columns: ll, bhat, Pinv at tau2 (M, T).

    ``_ll2_node`` at every node.
    """
    M, T = tau2.shape
    ll = np.empty((M, T))
    bhat = np.empty((M, T, 2))
    Pinv = np.empty((M, T, 2, 2))
    for i in range(M):
        for j in range(T):
            ll[i, j], b0, b1, i00, i01, i11 = _ll2_node(tau2[i, j], Y[i], S2[i], X[i], lam0, m0,
                                                        const[i])  # fmt: skip
            bhat[i, j, 0] = b0
            bhat[i, j, 1] = b1
            Pinv[i, j, 0, 0] = i00
            Pinv[i, j, 0, 1] = i01
            Pinv[i, j, 1, 0] = i01
            Pinv[i, j, 1, 1] = i11
    return ll, bhat, Pinv


# ------------------------------------------------------------------------------------------------
# the rule: locate the posterior of log tau, truncate it, lay the nodes (``_rule``'s steps)
# ------------------------------------------------------------------------------------------------


@jit
def _parabola(grid, ell, h):
    """``_rule._parabola`` for one row: vertex and width of the parabola at the best point."""
    n = grid.shape[0]
    j = 0
    best = -np.inf
    for i in range(n):
        v = ell[i] if np.isfinite(ell[i]) else -np.inf
        if v > best:
            best = v
            j = i
    j = min(max(j, 1), n - 2)
    lm = ell[j - 1] if np.isfinite(ell[j - 1]) else -np.inf
    l0 = ell[j] if np.isfinite(ell[j]) else -np.inf
    lp = ell[j + 1] if np.isfinite(ell[j + 1]) else -np.inf
    c = (lp - 2 * l0 + lm) / (h * h)
    good = np.isfinite(c) and c < 0
    shift = -(lp - lm) / (2 * h * c) if good else 0.0
    shift = min(max(shift, -h), h)
    sig = 1 / math.sqrt(-c) if good else 1.0
    return grid[j] + shift, min(max(sig, 1e-3), 4.0)


@jit
def locate(xc, xlo, xhi, Y, S2, X, lam0, m0, const, prior, scale):
    """``_rule._locate`` from the log median standard errors xc (M,): xhat, sig (M,)."""
    M = xc.shape[0]
    xhat = np.empty(M)
    sig = np.empty(M)
    grid = np.empty(201)
    ell = np.empty(201)
    g7 = np.empty(7)
    e7 = np.empty(7)
    for i in range(M):
        for n in range(201):
            grid[n] = min(max(xc[i] + (-50.0 + n * 0.5), xlo), xhi)
            ell[n] = _ell(grid[n], Y[i], S2[i], X[i], lam0, m0, const[i], prior, scale)
        xh, sg = _parabola(grid, ell, 0.5)
        for _ in range(2):
            for n in range(7):
                g7[n] = min(max(xh + sg * ((n - 3) * 0.5), xlo), xhi)
                e7[n] = _ell(g7[n], Y[i], S2[i], X[i], lam0, m0, const[i], prior, scale)
            xh, sg = _parabola(g7, e7, sg * 0.5)
        xhat[i] = xh
        sig[i] = sg
    return xhat, sig


@jit
def trange(xhat, sig, rmax, xlo, xhi, drop, Y, S2, X, lam0, m0, const, prior, scale):
    """``_rule._range``: the truncation [t_lo, t_hi] (M,) where the integrand matters."""
    M = xhat.shape[0]
    n = 65
    t_lo = np.empty(M)
    t_hi = np.empty(M)
    g = np.empty(n)
    for i in range(M):
        tcl = math.asinh((xlo - xhat[i]) / sig[i])
        tch = math.asinh((xhi - xhat[i]) / sig[i])
        gmax = -np.inf
        for j in range(n):
            tt = min(max(-16.0 + j * 0.5, tcl), tch)
            x = xhat[i] + sig[i] * math.sinh(tt)
            e = _ell(x, Y[i], S2[i], X[i], lam0, m0, const[i], prior, scale)
            v = e + math.log(math.cosh(tt)) + rmax[i] * max(x - xhat[i], 0.0)
            g[j] = v if np.isfinite(v) else -np.inf
            gmax = max(gmax, g[j])
        first = 0
        while first < n - 1 and not (g[first] >= gmax - drop):
            first += 1
        last = n - 1
        while last > 0 and not (g[last] >= gmax - drop):
            last -= 1
        t_lo[i] = max(-16.0 + max(first - 1, 0) * 0.5, tcl)
        t_hi[i] = min(-16.0 + min(last + 1, n - 1) * 0.5, tch)
    return t_lo, t_hi


@jit
def rule(xhat, sig, t_lo, t_hi, P, gl_x, gl_w, Y, S2, X, lam0, m0, const, prior, scale):
    """``_rule._rule``: nodes, log tau, log density, weights, log Z, panel masses, b_hat, P^-1.

    One or two coefficients (``X`` with no columns: intercept only).
    """
    M = xhat.shape[0]
    G = gl_x.shape[0]
    N = P * G
    p = 1 if X.shape[2] == 0 else 2
    t = np.empty((M, N))
    xs = np.empty((M, N))
    ell = np.empty((M, N))
    W = np.empty((M, N))
    logZ = np.empty(M)
    cum = np.empty((M, P + 1))
    bhat = np.empty((M, N, p))
    Pinv = np.empty((M, N, p, p))
    for i in range(M):
        H = (t_hi[i] - t_lo[i]) / P
        mx = -np.inf
        for b in range(P):
            start = t_lo[i] + H * b
            for g in range(G):
                n = b * G + g
                tn = start + (H / 2) * (gl_x[g] + 1)
                x = xhat[i] + sig[i] * math.sinh(tn)
                tau = math.exp(x)
                if p == 1:
                    ll, mu, V = _ll1(tau * tau, Y[i], S2[i], lam0[0], m0[0])
                    bhat[i, n, 0] = mu
                    Pinv[i, n, 0, 0] = V
                else:
                    ll, b0, b1, i00, i01, i11 = _ll2_node(tau * tau, Y[i], S2[i], X[i], lam0, m0,
                                                          const[i])  # fmt: skip
                    bhat[i, n, 0] = b0
                    bhat[i, n, 1] = b1
                    Pinv[i, n, 0, 0] = i00
                    Pinv[i, n, 0, 1] = i01
                    Pinv[i, n, 1, 0] = i01
                    Pinv[i, n, 1, 1] = i11
                e = x + _logprior(tau, prior, scale) + ll
                lw = math.log((H / 2) * gl_w[g]) + e + math.log(sig[i] * math.cosh(tn))
                lw = lw if np.isfinite(lw) else -np.inf
                t[i, n] = tn
                xs[i, n] = x
                ell[i, n] = e
                W[i, n] = lw
                mx = max(mx, lw)
        sw = 0.0
        for n in range(N):
            W[i, n] = math.exp(W[i, n] - mx)
            sw += W[i, n]
        logZ[i] = mx + math.log(sw)
        cum[i, 0] = 0.0
        for b in range(P):
            panel = 0.0
            for g in range(G):
                W[i, b * G + g] /= sw
                panel += W[i, b * G + g]
            cum[i, b + 1] = cum[i, b] + panel
    return t, xs, ell, W, logZ, cum, bhat, Pinv


@jit
def tau_summary(cum, t_lo, t_hi, xhat, sig, logZ, q, gl_x, gl_w, x_nodes, ell_nodes, xlo, xhi, fd,
                xtol, Y, S2, X, lam0, m0, const, prior, scale):  # fmt: skip
    """``tau_solve`` and both ``tau_mode`` of ``_rule._tau_summary`` in one call.

    For the priors here (support [0, inf)) the boundary log densities are those at tau = 0
    (``_rule._tau_boundary_logdens``: tau**2's density is infinite there when tau's is finite)
    and -inf above. Returns t (M, Q), the modes' x and log densities (M, 2) and the boundary
    log densities at 0 (M, 2), for c = 0 (tau) and 1 (tau**2).
    """
    M = xhat.shape[0]
    args = (Y, S2, X, lam0, m0, const, prior, scale)
    t = tau_solve(cum, t_lo, t_hi, xhat, sig, logZ, q, gl_x, gl_w, *args)
    lo = np.empty((M, 2))
    hi = np.full(M, -np.inf)
    for i in range(M):
        if X.shape[2] == 0:
            ll = _ll1(0.0, Y[i], S2[i], lam0[0], m0[0])[0]
        else:
            ll = _ll2_node(0.0, Y[i], S2[i], X[i], lam0, m0, const[i])[0]
        base = ll + _logprior(0.0, prior, scale)
        lo[i, 0] = base
        lo[i, 1] = np.inf if np.isfinite(base) else -np.inf
    x = np.empty((M, 2))
    best = np.empty((M, 2))
    for c in range(2):
        xc, bc = tau_mode(x_nodes, ell_nodes, c, lo[:, c].copy(), hi, xlo, xhi, fd, xtol, *args)
        x[:, c] = xc
        best[:, c] = bc
    return t, x, best, lo


@jit
def functionals(W, x, bhat, Pinv, logZ, vscale, e1x, e2x, lam_pos):
    """``_rule._functionals``: the integrals compared between refinement levels (M, 4 + 2p)."""
    M, N = W.shape
    p = bhat.shape[2]
    out = np.empty((M, 4 + 2 * p))
    for i in range(M):
        e1 = 0.0
        e2 = 0.0
        ex = 0.0
        for n in range(N):
            tau = math.exp(x[i, n])
            wt = W[i, n] * tau
            e1 += wt
            e2 += wt * tau
            ex += W[i, n] * x[i, n]
        e1 = e1 if e1x[i] else 0.0
        e2 = e2 if e2x[i] else 0.0
        out[i, 0] = logZ[i]
        out[i, 1] = ex
        out[i, 2] = math.log(e1 if e1 > 0 else 1.0)
        out[i, 3] = math.log(e2 if e2 > 0 else 1.0)
        for j in range(p):
            ev = 0.0
            eb = 0.0
            for n in range(N):
                ev += W[i, n] * Pinv[i, n, j, j]
                eb += W[i, n] * bhat[i, n, j]
            ev = ev if (e2x[i] or lam_pos[j]) else 0.0
            out[i, 4 + j] = math.log(ev if ev > 0 else 1.0)
            out[i, 4 + p + j] = eb / vscale[i, j]
    return out
