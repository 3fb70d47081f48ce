"""The quadrature rule over tau for the normal-normal model with a design matrix."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import special

from bayesmeta.errors import ConvergenceWarning
from bayesmeta.exact import _kernels
from bayesmeta.priors import Exponential, HalfCauchy, HalfNormal, Normal, Prior

FloatArray = NDArray[np.float64]

_LOG2PI = math.log(2 * math.pi)
_GL_N = 10
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_GL_N)
_XMIN, _XMAX = -700.0, 300.0  # log(tau) limits: tau**4 stays finite, tau**2 may underflow to 0
_DROP = 50.0  # truncate where the integrand is below exp(-_DROP) of its maximum
_P0, _PMAX = 8, 512  # panels at the first and the last refinement level
_FD = 1e-4  # finite-difference step in log(tau) for the log-density derivatives
# Newton steps on the mode of tau stop below this (in log tau): the finite-difference derivatives
# carry the log density's rounding (~1e-14, more with a design matrix) divided by _FD**2 into the
# curvature, so steps of ~1e-10 are noise and the iteration would otherwise wander there until its
# cap; the error left is of that noise's order.
_MODE_XTOL = 1e-9


def _clip(a: Any, lo: Any, hi: Any) -> Any:
    """``np.clip`` without its Python-level dispatch (same values, NaN kept)."""
    return np.minimum(np.maximum(a, lo), hi)


# ------------------------------------------------------------------------------------------------
# model pieces
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """Priors of one model: ``tau_prior``, and per column of the design a Normal or Flat prior.

    ``coef`` is ``None`` for the intercept-only model (one column of ones, prior ``mu_prior``).
    """

    tau_prior: Prior
    mu_prior: Prior
    coef: tuple[Prior, ...] | None = None

    @cached_property
    def coef_priors(self) -> tuple[Prior, ...]:
        return self.coef if self.coef is not None else (self.mu_prior,)

    @cached_property
    def m0(self) -> float:
        return float(self.mu_prior.mu) if isinstance(self.mu_prior, Normal) else 0.0

    @cached_property
    def p0(self) -> float:
        """Prior precision of mu (0 for a flat prior)."""
        return 1 / float(self.mu_prior.sigma) ** 2 if isinstance(self.mu_prior, Normal) else 0.0

    @cached_property
    def m0v(self) -> FloatArray:
        """Prior means of the coefficients (0 for flat ones), shape (p,)."""
        return np.array([float(q.mu) if isinstance(q, Normal) else 0.0 for q in self.coef_priors])

    @cached_property
    def lam0(self) -> FloatArray:
        """Prior precisions of the coefficients (0 for flat ones), shape (p,)."""
        return np.array(
            [1 / float(q.sigma) ** 2 if isinstance(q, Normal) else 0.0 for q in self.coef_priors]
        )

    @cached_property
    def p_flat(self) -> int:
        """Number of coefficients with a flat prior."""
        return int(np.sum(self.lam0 == 0))

    @cached_property
    def tau_logpdf(self) -> Callable[[FloatArray], FloatArray]:
        """``tau_prior.logpdf`` for ``tau >= 0`` without its per-call checks (same formula).

        Closed forms (scipy's standardised log densities) for the common families; any other
        prior goes through its own ``logpdf``.
        """
        p = self.tau_prior
        if type(p) not in (HalfNormal, HalfCauchy, Exponential):
            return p.logpdf
        scale = float(p.scale)  # type: ignore[attr-defined]
        lsc = math.log(scale)
        if type(p) is HalfNormal:
            c = 0.5 * np.log(2.0 / np.pi)

            def logpdf(tau: FloatArray) -> FloatArray:
                z = tau / scale
                return np.where(tau >= 0, (c - z * z / 2.0) - lsc, -np.inf)

        elif type(p) is HalfCauchy:
            c = np.log(2.0 / np.pi)

            def logpdf(tau: FloatArray) -> FloatArray:
                z = tau / scale
                return np.where(tau >= 0, (c - special.log1p(z * z)) - lsc, -np.inf)

        else:

            def logpdf(tau: FloatArray) -> FloatArray:
                return np.where(tau >= 0, -(tau / scale) - lsc, -np.inf)

        return logpdf

    @cached_property
    def tail(self) -> tuple[float, float]:
        """The tau prior's tail ``(alpha, beta)``."""
        a, b = self.tau_prior.tail
        return float(a), float(b)

    @cached_property
    def lo(self) -> float:
        return self.tau_prior.support[0]

    @cached_property
    def hi(self) -> float:
        return self.tau_prior.support[1]

    @cached_property
    def xlo(self) -> float:
        return max(_XMIN, math.log(self.lo)) if self.lo > 0 else _XMIN

    @cached_property
    def xhi(self) -> float:
        return min(_XMAX, math.log(self.hi)) if math.isfinite(self.hi) else _XMAX

    @cached_property
    def tau_proper(self) -> bool:
        """Whether the tau prior integrates to one (bounded support or a tail beyond 1/tau)."""
        if math.isfinite(self.hi):
            return True
        alpha, beta = self.tail
        return bool(alpha > 1 or (alpha == 1 and beta > 1))

    @cached_property
    def proper(self) -> bool:
        """Whether every prior is proper (then the normalising constant is p(y))."""
        return self.tau_proper and self.p_flat == 0

    def moment_exists(self, r: float, k: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether E[tau**r | y] is finite, from the tails of prior and likelihood.

        The likelihood decays like ``tau**-(k - p_flat)``, ``p_flat`` the number of coefficients
        with a flat prior (intercept-only: ``tau**-(k-1)`` with a flat mu prior, ``tau**-k``
        with a normal one).
        """
        kk = np.asarray(k)
        key = (r, kk.shape, kk.tobytes()) if kk.size <= 64 else None
        memo = self._moment_memo
        if key is not None and key in memo:
            return memo[key]
        alpha, beta = self.tail
        a = alpha + (kk - self.p_flat)
        out = np.asarray((a - r > 1) | ((a - r == 1) & (beta > 1)))
        if key is not None and len(memo) < 4096:
            out.setflags(write=False)
            memo[key] = out
        return out

    @cached_property
    def _moment_memo(self) -> dict[Any, NDArray[np.bool_]]:
        return {}


def _loglik1(
    tau2: FloatArray, Y: FloatArray, S2: FloatArray, mask: FloatArray | None, spec: _Spec
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Intercept-only log L(tau) with mu integrated out, muhat(tau) and V(tau) (fast path).

    ``tau2`` has shape (M, ...); ``Y``, ``S2``, ``mask`` (M, K) with padding masked out
    (``mask=None``: no padding).
    """
    M, K = Y.shape
    kern = _kernels.loaded() if mask is None else None
    if kern is not None:  # the compiled twin (same arithmetic, one fused loop)
        f64 = np.float64
        t2 = np.ascontiguousarray(tau2.reshape(M, -1), dtype=f64)
        Yc, S2c = np.ascontiguousarray(Y, dtype=f64), np.ascontiguousarray(S2, dtype=f64)
        out = kern.loglik1(t2, Yc, S2c, float(spec.p0), float(spec.m0))
        return out[0].reshape(tau2.shape), out[1].reshape(tau2.shape), out[2].reshape(tau2.shape)
    extra = tau2.ndim - 1
    shp = (M,) + (1,) * extra + (K,)
    Yb, S2b = Y.reshape(shp), S2.reshape(shp)
    v = S2b + tau2[..., None]
    add = np.add.reduce
    if mask is None:
        w = 1.0 / v
        logv = add(np.log(v), axis=-1)
        k: Any = float(K)
    else:
        Mb = mask.reshape(shp)
        w = Mb / v
        logv = add(Mb * np.log(v), axis=-1)
        k = add(mask, axis=-1).reshape((M,) + (1,) * extra)
    sw = add(w, axis=-1) + spec.p0
    muhat = (add(w * Yb, axis=-1) + spec.p0 * spec.m0) / sw
    r = Yb - muhat[..., None]
    q = add(w * r * r, axis=-1)
    ll = -0.5 * logv - 0.5 * np.log(sw) - 0.5 * q - 0.5 * k * _LOG2PI
    if spec.p0 > 0:
        ll += 0.5 * math.log(spec.p0) - 0.5 * spec.p0 * (spec.m0 - muhat) ** 2
    else:
        ll += 0.5 * _LOG2PI
    return ll, muhat, 1 / sw


def _loglik_design(
    tau2: FloatArray, data: _Data, spec: _Spec
) -> tuple[FloatArray, FloatArray, FloatArray]:
    r"""Log L(tau) with the coefficients integrated out, b_hat(tau) and P(tau)^-1, design X.

    With :math:`W = V^{-1}`, :math:`P = X^\top W X + \Lambda_0`, :math:`h = X^\top W y +
    \Lambda_0 m_0`, :math:`\hat b = P^{-1} h`:

    .. math::

        \log L = -\tfrac12\big[k \log 2\pi + \log|V| + \log|P| - p_{flat} \log 2\pi
            - \textstyle\sum_{normal} \log\lambda_{0j}
            + (y - X\hat b)^\top W (y - X\hat b) + (\hat b - m_0)^\top \Lambda_0
            (\hat b - m_0)\big]

    ``tau2`` (M, ...) -> ``ll`` (M, ...), ``bhat`` (M, ..., p), ``Pinv`` (M, ..., p, p). Where
    ``P`` is not numerically positive definite (tau**2 overflowing with flat coefficients)
    ``ll`` is ``-inf``. With the compiled kernels loaded, two columns and no padding, the
    compiled twin (``loglik2``) computes the same closed form.
    """
    X = data.X
    assert X is not None and data.XX is not None
    M, _, p = X.shape
    tshape = tau2.shape
    t2 = tau2.reshape(M, -1)
    T = t2.shape[1]
    lam0, m0 = spec.lam0, spec.m0v
    const = (data.k[:, None] - spec.p_flat) * _LOG2PI - np.log(lam0[lam0 > 0]).sum()
    kern = _kernels.loaded() if p == 2 and data.maskv is None else None
    if kern is not None:  # the compiled twin of the two-column closed form below
        c = np.ascontiguousarray
        ll, bhat, Pinv = kern.loglik2(
            c(t2, dtype=np.float64), c(data.Y), c(data.S2), c(X), lam0, m0, c(const[:, 0])
        )
        return ll.reshape(tshape), bhat.reshape(*tshape, p), Pinv.reshape(*tshape, p, p)
    v = data.S2[:, None, :] + t2[..., None]  # (M, T, K)
    w = 1.0 / v if data.maskv is None else data.mask[:, None, :] / v
    P = np.matmul(w, data.XX).reshape(M, T, p, p) + np.diag(lam0)
    h = np.matmul(w * data.Y[:, None, :], X) + lam0 * m0  # (M, T, p)
    if p == 2:  # closed form (the common one-moderator case)
        a, b, d = P[..., 0, 0], 0.5 * (P[..., 0, 1] + P[..., 1, 0]), P[..., 1, 1]
        det = a * d - b * b
        bad = ~((det > 0) & np.isfinite(det))
        det = np.where(bad, 1.0, det)
        logdet = np.log(det)
        Pinv = np.stack([d, -b, -b, a], axis=-1).reshape(M, T, 2, 2) / det[..., None, None]
        Pinv = np.where(bad[..., None, None], np.eye(2), Pinv)
    else:
        sign, logdet = np.linalg.slogdet(P)
        bad = ~((sign > 0) & np.isfinite(logdet))
        P = np.where(bad[..., None, None], np.eye(p), P)
        Pinv = np.linalg.inv(P)
        Pinv = 0.5 * (Pinv + np.swapaxes(Pinv, -1, -2))
    bhat = np.matmul(Pinv, h[..., None])[..., 0]
    r = data.Y[:, None, :] - np.matmul(bhat, np.swapaxes(X, -1, -2))
    q = (w * r * r).sum(-1) + (lam0 * (bhat - m0) ** 2).sum(-1)
    logv = np.log(v).sum(-1) if data.maskv is None else (data.mask[:, None, :] * np.log(v)).sum(-1)
    ll = -0.5 * (logv + logdet + q + const)
    ll = np.where(bad, -np.inf, ll)
    return ll.reshape(tshape), bhat.reshape(*tshape, p), Pinv.reshape(*tshape, p, p)


_PRIOR_CODES = {HalfNormal: 0, HalfCauchy: 1, Exponential: 2}
#: The compiled rule and tau solvers serve at most this many analyses at once: they remove
#: numpy's per-call overhead, which dominates for one analysis, but evaluate their
#: transcendentals one at a time, so for large blocks numpy's vectorised path is faster.
_COMPILED_MAX_ROWS = 4


def _compiled_model(data: _Data, spec: _Spec) -> tuple[Any, tuple[Any, ...]] | None:
    """Return the compiled kernels and the model arguments of their rule and tau solvers.

    None (numpy computes) when the kernels are not loaded, the tau prior has no closed form in
    them (half-normal, half-Cauchy, exponential), the analyses are padded or more than
    ``_COMPILED_MAX_ROWS``, or the design has more than two columns.
    """
    kern = _kernels.loaded()
    memo = data.compiled
    if memo is not None and memo[0] is kern and memo[1] is spec:
        return memo[2]
    out = _compiled_args(data, spec, kern)
    data.compiled = (kern, spec, out)
    return out


def _compiled_args(data: _Data, spec: _Spec, kern: Any) -> tuple[Any, tuple[Any, ...]] | None:
    """:func:`_compiled_model` without its memo."""
    code = _PRIOR_CODES.get(type(spec.tau_prior))
    M, K = data.Y.shape
    if kern is None or code is None or data.maskv is not None or M > _COMPILED_MAX_ROWS:
        return None
    if data.X is None:
        X = np.zeros((M, K, 0))
        lam0, m0, const = np.array([spec.p0]), np.array([spec.m0]), np.zeros(M)
    elif data.X.shape[2] == 2:
        X, lam0, m0 = np.ascontiguousarray(data.X), spec.lam0, spec.m0v
        const = (data.k - spec.p_flat) * _LOG2PI - np.log(lam0[lam0 > 0]).sum()
    else:
        return None
    c = np.ascontiguousarray
    scale = float(spec.tau_prior.scale)  # type: ignore[attr-defined]
    return kern, (c(data.Y), c(data.S2), X, lam0, m0, c(const, dtype=np.float64), code, scale)


def _cond(tau2: FloatArray, data: _Data, spec: _Spec) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Log L(tau), b_hat(tau) (..., p) and P(tau)^-1 (..., p, p) for either kind of model."""
    if data.X is None:
        ll, muhat, V = _loglik1(tau2, data.Y, data.S2, data.maskv, spec)
        return ll, muhat[..., None], V[..., None, None]
    return _loglik_design(tau2, data, spec)


def _ll(tau2: FloatArray, data: _Data, spec: _Spec) -> FloatArray:
    """Log L(tau) only."""
    if data.X is None:
        return _loglik1(tau2, data.Y, data.S2, data.maskv, spec)[0]
    return _loglik_design(tau2, data, spec)[0]


@dataclass
class _Data:
    Y: FloatArray  # (M, K), padding 0
    S2: FloatArray  # (M, K), padding 1
    mask: FloatArray  # (M, K) 1.0 / 0.0
    k: NDArray[np.int64]  # (M,)
    X: FloatArray | None = None  # (M, K, p) design; None: intercept only (fast path)
    maskv: FloatArray | None = field(init=False, repr=False)  # mask, or None without padding

    XX: FloatArray | None = field(init=False, repr=False)  # (M, K, p * p) products x_i x_i'
    # the last _compiled_model answer: (kernels, spec, answer), reused for the same two objects
    compiled: tuple[Any, Any, Any] | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.maskv = None if bool(self.mask.all()) else self.mask
        if self.X is None:
            self.XX = None
        else:
            M, K, p = self.X.shape
            self.XX = (self.X[..., :, None] * self.X[..., None, :]).reshape(M, K, p * p)

    def take(self, idx: NDArray[np.intp]) -> _Data:
        X = None if self.X is None else self.X[idx]
        return _Data(self.Y[idx], self.S2[idx], self.mask[idx], self.k[idx], X)


def _ell(x: FloatArray, data: _Data, spec: _Spec) -> FloatArray:
    """Log posterior density of x = log(tau), unnormalised (includes the Jacobian tau)."""
    tau = np.exp(x)
    return x + spec.tau_logpdf(tau) + _ll(tau * tau, data, spec)


# ------------------------------------------------------------------------------------------------
# the grid
# ------------------------------------------------------------------------------------------------


@dataclass
class _Grid:
    """Quadrature rule for M analyses sharing the panel count ``P`` (arrays lead with M)."""

    data: _Data
    spec: _Spec
    xhat: FloatArray
    sig: FloatArray
    t_lo: FloatArray
    t_hi: FloatArray
    P: int
    t: FloatArray  # (M, N) nodes
    x: FloatArray  # log tau at nodes
    ell: FloatArray  # log posterior density of x at nodes (unnormalised)
    W: FloatArray  # normalised weights, sum to 1
    logZ: FloatArray  # (M,) log of integral p(tau) L(tau) dtau
    bhat: FloatArray  # (M, N, p) conditional posterior means of the coefficients
    Pinv: FloatArray  # (M, N, p, p) their conditional covariances
    cum: FloatArray  # (M, P + 1) posterior mass left of each panel boundary
    converged: NDArray[np.bool_] = field(default_factory=lambda: np.ones(0, dtype=bool))
    delta: FloatArray = field(default_factory=lambda: np.zeros(0))  # last change between levels

    @property
    def muhat(self) -> FloatArray:
        """Conditional mean of the first coefficient (mu in the intercept-only model)."""
        return self.bhat[..., 0]

    @property
    def V(self) -> FloatArray:
        """Conditional variance of the first coefficient."""
        return self.Pinv[..., 0, 0]

    @property
    def H(self) -> FloatArray:
        return (self.t_hi - self.t_lo) / self.P

    @property
    def tau(self) -> FloatArray:
        return np.exp(self.x)

    def take(self, idx: NDArray[np.intp]) -> _Grid:
        return _Grid(
            self.data.take(idx), self.spec, self.xhat[idx], self.sig[idx], self.t_lo[idx],
            self.t_hi[idx], self.P, self.t[idx], self.x[idx], self.ell[idx], self.W[idx],
            self.logZ[idx], self.bhat[idx], self.Pinv[idx], self.cum[idx], self.converged[idx],
            self.delta[idx],
        )  # fmt: skip

    # x <-> t maps ------------------------------------------------------------------------------
    def x_of_t(self, t: FloatArray) -> FloatArray:
        sh = (-1,) + (1,) * (t.ndim - 1)
        return self.xhat.reshape(sh) + self.sig.reshape(sh) * np.sinh(t)

    def t_of_x(self, x: FloatArray) -> FloatArray:
        sh = (-1,) + (1,) * (x.ndim - 1)
        return np.arcsinh((x - self.xhat.reshape(sh)) / self.sig.reshape(sh))

    def logdens_t(self, t: FloatArray) -> FloatArray:
        """Log of the normalised posterior density of t."""
        sh = (-1,) + (1,) * (t.ndim - 1)
        x = self.x_of_t(t)
        return (
            _ell(x, self.data, self.spec)
            + np.log(self.sig.reshape(sh) * np.cosh(t))
            - self.logZ.reshape(sh)
        )


def _locate(data: _Data, spec: _Spec) -> tuple[FloatArray, FloatArray]:
    """Mode and curvature width of the posterior of log(tau), per analysis."""
    xc = np.log(_median_se(data))
    comp = _compiled_model(data, spec)
    if comp is not None:  # the compiled twin of the three rounds below
        kern, args = comp
        return kern.locate(np.ascontiguousarray(xc), spec.xlo, spec.xhi, *args)
    h = 0.5
    grid = _clip(xc[:, None] + np.arange(-50.0, 50.0 + h / 2, h), spec.xlo, spec.xhi)
    xhat, sig = _parabola(grid, _ell(grid, data, spec), h)
    for _ in range(2):
        offs = np.arange(-3, 4) * 0.5
        grid = _clip(xhat[:, None] + sig[:, None] * offs, spec.xlo, spec.xhi)
        xhat, sig = _parabola(grid, _ell(grid, data, spec), sig * 0.5)
    return xhat, sig


def _median_se(data: _Data) -> FloatArray:
    """Median standard error of each analysis (padding excluded), as ``np.nanmedian``."""
    if data.maskv is None:
        srt = np.sort(np.sqrt(data.S2), axis=1)
    else:
        srt = np.sort(np.where(data.mask > 0, np.sqrt(data.S2), np.inf), axis=1)
    k = data.k
    rows = np.arange(k.size)
    lo = srt[rows, (k - 1) // 2]
    hi = srt[rows, k // 2]
    return np.where(k % 2 == 1, lo, (lo + hi) / 2)


def _parabola(
    grid: FloatArray, ell: FloatArray, h: FloatArray | float
) -> tuple[FloatArray, FloatArray]:
    M, n = grid.shape
    ell = np.where(np.isfinite(ell), ell, -np.inf)
    j = _clip(np.argmax(ell, axis=1), 1, n - 2)
    rows = np.arange(M)
    lm, l0, lp = ell[rows, j - 1], ell[rows, j], ell[rows, j + 1]
    h = np.broadcast_to(np.asarray(h, dtype=float), (M,))
    c = (lp - 2 * l0 + lm) / (h * h)
    good = np.isfinite(c) & (c < 0)
    c_safe = np.where(good, c, -1.0)
    shift = np.where(good, -(lp - lm) / (2 * h * c_safe), 0.0)
    shift = _clip(shift, -h, h)
    xhat = grid[rows, j] + shift
    sig = np.where(good, 1 / np.sqrt(-c_safe), 1.0)
    return xhat, _clip(sig, 1e-3, 4.0)


def _range(
    data: _Data, spec: _Spec, xhat: FloatArray, sig: FloatArray, rmax: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Return the truncation [t_lo, t_hi] where the integrand (times tau**rmax) matters."""
    comp = _compiled_model(data, spec)
    if comp is not None:  # the compiled twin
        kern, args = comp
        f = np.ascontiguousarray
        return kern.trange(f(xhat), f(sig), f(rmax, dtype=np.float64), spec.xlo, spec.xhi, _DROP,
                           *args)  # fmt: skip
    t = np.arange(-16.0, 16.0 + 0.25, 0.5)
    tcl = np.arcsinh((spec.xlo - xhat) / sig)
    tch = np.arcsinh((spec.xhi - xhat) / sig)
    tt = _clip(t[None, :], tcl[:, None], tch[:, None])
    x = xhat[:, None] + sig[:, None] * np.sinh(tt)
    g = _ell(x, data, spec) + np.log(np.cosh(tt)) + rmax[:, None] * np.maximum(x - xhat[:, None], 0)
    g = np.where(np.isfinite(g), g, -np.inf)
    ok = g >= g.max(axis=1, keepdims=True) - _DROP
    n = t.size
    first = np.argmax(ok, axis=1)
    last = n - 1 - np.argmax(ok[:, ::-1], axis=1)
    t_lo = np.maximum(t[np.maximum(first - 1, 0)], tcl)
    t_hi = np.minimum(t[np.minimum(last + 1, n - 1)], tch)
    return t_lo, t_hi


def _rule(
    data: _Data,
    spec: _Spec,
    xhat: FloatArray,
    sig: FloatArray,
    t_lo: FloatArray,
    t_hi: FloatArray,
    P: int,
) -> _Grid:
    comp = _compiled_model(data, spec)
    if comp is not None:  # the compiled twin
        kern, args = comp
        f = np.ascontiguousarray
        t, x, ell, W, logZ, cum, bhat, Pinv = kern.rule(
            f(xhat), f(sig), f(t_lo), f(t_hi), P, _GL_X, _GL_W, *args
        )
        return _Grid(data, spec, xhat, sig, t_lo, t_hi, P, t, x, ell, W, logZ, bhat, Pinv, cum)
    M = xhat.size
    H = (t_hi - t_lo) / P
    starts = t_lo[:, None] + H[:, None] * np.arange(P)  # (M, P)
    t = (starts[:, :, None] + (H[:, None, None] / 2) * (_GL_X + 1)).reshape(M, -1)
    gw = np.broadcast_to((H[:, None, None] / 2) * _GL_W, (M, P, _GL_N)).reshape(M, -1)
    x = xhat[:, None] + sig[:, None] * np.sinh(t)
    tau = np.exp(x)
    ll, bhat, Pinv = _cond(tau * tau, data, spec)
    ell = x + spec.tau_logpdf(tau) + ll
    logw = np.log(gw) + ell + np.log(sig[:, None] * np.cosh(t))
    logw = np.where(np.isfinite(logw), logw, -np.inf)
    mx = logw.max(axis=1)
    w = np.exp(logw - mx[:, None])
    sw = w.sum(axis=1)
    logZ = mx + np.log(sw)
    W = w / sw[:, None]
    panel = W.reshape(M, P, _GL_N).sum(-1)
    cum = np.concatenate([np.zeros((M, 1)), np.cumsum(panel, axis=1)], axis=1)
    return _Grid(data, spec, xhat, sig, t_lo, t_hi, P, t, x, ell, W, logZ, bhat, Pinv, cum)


def _vscale(data: _Data, spec: _Spec, xhat: FloatArray) -> FloatArray:
    """Return a level-independent scale for b: its conditional sd at the tau posterior's core."""
    _, _, v0 = _cond(np.exp(2 * xhat)[:, None], data, spec)
    return np.sqrt(np.diagonal(v0[:, 0], axis1=-2, axis2=-1))  # (M, p)


def _functionals(g: _Grid, vscale: FloatArray, ex: tuple[Any, Any]) -> FloatArray:
    """Key integrals whose agreement between levels decides convergence (scaled, (M, 4 + 2p)).

    log Z, E[log tau], log E[tau], log E[tau**2], and per coefficient log E[var(b_j | tau)] and
    E[b_j] in units of its conditional sd at the core of the tau posterior (``vscale``, from
    :func:`_vscale`). ``ex``: whether E[tau] and E[tau**2] exist, per analysis.
    """
    e1x, e2x = ex
    comp = _compiled_model(g.data, g.spec)
    if comp is not None:  # the compiled twin
        f = np.ascontiguousarray
        return comp[0].functionals(
            f(g.W), f(g.x), f(g.bhat), f(g.Pinv), f(g.logZ), f(vscale), f(e1x, dtype=bool),
            f(e2x, dtype=bool), g.spec.lam0 > 0,
        )  # fmt: skip
    tau = g.tau
    W = g.W
    e1 = np.where(e1x, (W * tau).sum(1), 0.0)
    e2 = np.where(e2x, (W * tau * tau).sum(1), 0.0)
    if g.data.X is None:
        var = g.Pinv[..., 0]  # (M, N, 1)
    else:
        var = np.diagonal(g.Pinv, axis1=-2, axis2=-1)  # (M, N, p)
    ok = e2x[:, None] | (g.spec.lam0 > 0)[None, :]
    ev = np.where(ok, (W[..., None] * var).sum(1), 0.0)
    cols = [
        g.logZ[:, None],
        (W * g.x).sum(1)[:, None],
        np.log(np.where(e1 > 0, e1, 1.0))[:, None],
        np.log(np.where(e2 > 0, e2, 1.0))[:, None],
        np.log(np.where(ev > 0, ev, 1.0)),
        (W[..., None] * g.bhat).sum(1) / vscale,
    ]
    return np.concatenate(cols, axis=1)


def _fit_grids(data: _Data, spec: _Spec, rtol: float) -> list[tuple[NDArray[np.intp], _Grid]]:
    """Adaptive rules for all analyses; returns (indices, grid) groups sharing a panel count."""
    M = data.Y.shape[0]
    xhat, sig = _locate(data, spec)
    rmax = np.zeros(M)
    for r in (1, 2, 4):
        rmax = np.where(spec.moment_exists(r, data.k), float(r), rmax)
    t_lo, t_hi = _range(data, spec, xhat, sig, rmax)
    groups: list[tuple[NDArray[np.intp], _Grid]] = []
    active = np.arange(M)
    P = _P0
    vscale = _vscale(data, spec, xhat)
    ex = (spec.moment_exists(1, data.k), spec.moment_exists(2, data.k))
    prev = _rule(data, spec, xhat, sig, t_lo, t_hi, P)
    prev_f = _functionals(prev, vscale, ex)
    while active.size:
        whole = active.size == M
        sub = data if whole else data.take(active)
        cur = _rule(sub, spec, xhat[active], sig[active], t_lo[active], t_hi[active], 2 * P)
        sub_ex = ex if whole else (ex[0][active], ex[1][active])
        cur_f = _functionals(cur, vscale if whole else vscale[active], sub_ex)
        diff = np.abs(cur_f - prev_f).max(axis=1)
        cur.delta = diff
        done = diff <= rtol
        last = 2 * P >= _PMAX
        if last:
            done[:] = True
            cur.converged = diff <= rtol
            if not cur.converged.all():
                warnings.warn(
                    f"exact posterior: quadrature did not reach rtol={rtol:g} for "
                    f"{int((~cur.converged).sum())} analysis(es) with {2 * P} panels",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        else:
            cur.converged = np.ones(active.size, dtype=bool)
        if done.all():
            groups.append((active, cur))
            break
        if done.any():
            groups.append((active[done], cur.take(np.flatnonzero(done))))
        keep = np.flatnonzero(~done)
        active = active[keep]
        prev_f = cur_f[keep]
        P *= 2
    return groups


# ------------------------------------------------------------------------------------------------
# tau: cdf, quantile, mode, intervals (vectorised over analyses)
# ------------------------------------------------------------------------------------------------


def _tau_cdf_t(g: _Grid, t: FloatArray, with_density: bool = False) -> Any:
    """Posterior CDF at t (shape (M, Q)), integrating the partial panel afresh.

    With ``with_density``, also the normalised density of t there (same evaluation).
    """
    t_lo = g.t_lo[:, None]
    t = np.minimum(np.maximum(t, t_lo), g.t_hi[:, None])
    H = g.H[:, None]
    p = np.minimum(np.maximum(np.floor((t - t_lo) / H), 0), g.P - 1).astype(np.intp)
    a = t_lo + p * H
    half = (t - a) / 2
    nodes = a[..., None] + half[..., None] * (_GL_X + 1)
    if with_density:
        nodes = np.concatenate([nodes, t[..., None]], axis=-1)
    vals = np.exp(g.logdens_t(nodes))
    part = np.add.reduce(vals[..., :_GL_N] * _GL_W, axis=-1) * half
    base = g.cum[np.arange(p.shape[0])[:, None], p]
    F = np.minimum(np.maximum(base + part, 0.0), 1.0)
    return (F, vals[..., _GL_N]) if with_density else F


def _solve_quantiles(g: _Grid, q: FloatArray) -> FloatArray:
    """Solve F(t) = q for t (M, Q): compiled when it can be, else :func:`_quantile_solver`."""
    comp = _compiled_model(g.data, g.spec)
    if comp is None:
        return _drive(g, [_quantile_solver(g, q)])[0]
    kern, args = comp
    c = np.ascontiguousarray
    return kern.tau_solve(
        c(g.cum), c(g.t_lo), c(g.t_hi), c(g.xhat), c(g.sig), c(g.logZ), c(q, dtype=np.float64),
        _GL_X, _GL_W, *args,
    )  # fmt: skip


# Solvers over tau are generators: each yields the points x = log tau (M, n) where it needs the
# log posterior density, receives ``_ell`` there, and returns its result. ``_drive`` runs several
# in lockstep with one ``_ell`` evaluation per round (the values are elementwise, so each solver
# sees exactly what it would alone).
_Solver = Generator[FloatArray, FloatArray, FloatArray]


def _drive(g: _Grid, solvers: list[_Solver]) -> list[FloatArray]:
    """Run the solvers to completion, sharing one ``_ell`` call per round; their results."""
    results: list[Any] = [None] * len(solvers)
    reqs: dict[int, FloatArray] = {}
    for i, gen in enumerate(solvers):
        try:
            reqs[i] = next(gen)
        except StopIteration as e:
            results[i] = e.value
    while reqs:
        keys = list(reqs)
        xs = [reqs[i] for i in keys]
        ell = _ell(xs[0] if len(xs) == 1 else np.concatenate(xs, axis=1), g.data, g.spec)
        j = 0
        new: dict[int, FloatArray] = {}
        for i, x in zip(keys, xs, strict=True):
            n = x.shape[1]
            try:
                new[i] = solvers[i].send(ell[:, j : j + n])
            except StopIteration as e:
                results[i] = e.value
            j += n
        reqs = new
    return results


def _quantile_solver(g: _Grid, q: FloatArray) -> _Solver:
    """Solve F(t) = q for t (shape (M, Q)); safeguarded Newton within the bracketing panel.

    Each entry stops at its own convergence (so an analysis gets the same answer alone or in a
    batch): a step below ``1e-12``, or a Newton step below ``1e-7`` (t is standardised, so the
    error left is of the order of that step squared). F(t) integrates the partial panel
    afresh, as :func:`_tau_cdf_t`.
    """
    cum = g.cum
    M = cum.shape[0]
    rows = np.arange(M)[:, None]
    p = _clip((cum[:, None, :] <= q[..., None]).sum(-1) - 1, 0, g.P - 1)
    H = g.H[:, None]
    t_lo, t_hi = g.t_lo[:, None], g.t_hi[:, None]
    lo = t_lo + p * H
    hi = lo + H
    c0 = cum[rows, p]
    c1 = cum[rows, p + 1]
    frac = np.where(c1 > c0, (q - c0) / np.where(c1 > c0, c1 - c0, 1.0), 0.5)
    t = lo + _clip(frac, 0.0, 1.0) * H
    done = np.zeros(q.shape, dtype=bool)
    lsig = g.sig[:, None, None]
    logZ = g.logZ[:, None, None]
    for _ in range(40):
        # F and the density at t, as _tau_cdf_t(g, t, with_density=True)
        tc = np.minimum(np.maximum(t, t_lo), t_hi)
        pp = np.minimum(np.maximum(np.floor((tc - t_lo) / H), 0), g.P - 1).astype(np.intp)
        a = t_lo + pp * H
        half = (tc - a) / 2
        nodes = a[..., None] + half[..., None] * (_GL_X + 1)
        nodes = np.concatenate([nodes, tc[..., None]], axis=-1)
        x = g.x_of_t(nodes)
        ell = yield x.reshape(M, -1)
        vals = np.exp(ell.reshape(nodes.shape) + np.log(lsig * np.cosh(nodes)) - logZ)
        part = np.add.reduce(vals[..., :_GL_N] * _GL_W, axis=-1) * half
        F = np.minimum(np.maximum(cum[rows, pp] + part, 0.0), 1.0)
        dens = vals[..., _GL_N]
        d = F - q
        lo = np.where(d < 0, t, lo)
        hi = np.where(d >= 0, t, hi)
        step = np.where(dens > 0, d / np.where(dens > 0, dens, 1.0), np.inf)
        tn = t - step
        bad = ~((tn >= lo) & (tn <= hi))
        tn = np.where(bad, 0.5 * (lo + hi), tn)
        a_step = np.abs(tn - t)
        # a Newton step below 1e-7 leaves an error of order its square (t is standardised)
        conv = (a_step < 1e-12 * (1 + np.abs(t))) | (d == 0) | (~bad & (a_step < 1e-7))
        t = np.where(done, t, tn)
        done |= conv
        if done.all():
            break
    return t


def _tau_quantile_t(g: _Grid, q: FloatArray) -> FloatArray:
    """Solve F(t) = q for t (shape (M, Q)); see :func:`_quantile_solver`."""
    return _solve_quantiles(g, q)


def _tau_logdens_x(g: _Grid, x: FloatArray, c: int) -> FloatArray:
    """Log density of tau**(1+c) as a function of x = log tau (up to a constant)."""
    return _ell(x, g.data, g.spec) - (1 + c) * x


def _tau_boundary_base(g: _Grid) -> tuple[FloatArray | None, FloatArray | None]:
    """``log L + log p(tau)`` at the support's lower/upper bound (``None``: unbounded)."""
    spec = g.spec
    M = g.xhat.size
    out: list[FloatArray | None] = []
    for b in (spec.lo, spec.hi):
        if not math.isfinite(b):
            out.append(None)
            continue
        ll = _ll(np.full((M, 1), b * b), g.data, spec)
        out.append(ll[:, 0] + float(spec.tau_prior.logpdf(b)))
    return out[0], out[1]


def _tau_boundary_logdens(
    g: _Grid, c: int, base: tuple[FloatArray | None, FloatArray | None] | None = None
) -> tuple[FloatArray, FloatArray]:
    """Log density (as in _tau_logdens_x, same constant) at the support's lower/upper bound.

    ``base``: :func:`_tau_boundary_base` if known.
    """
    spec = g.spec
    M = g.xhat.size
    base = _tau_boundary_base(g) if base is None else base
    out = []
    for b, val in zip((spec.lo, spec.hi), base, strict=True):
        if val is None:
            out.append(np.full(M, -np.inf))
        elif b == 0:
            out.append(np.where(np.isfinite(val), np.inf, -np.inf) if c > 0 else val)
        else:
            out.append(val - c * math.log(b))
    return out[0], out[1]


def _mode_solver(g: _Grid, c: int, lo_val: FloatArray, hi_val: FloatArray) -> _Solver:
    """Posterior mode of tau (c=0) or tau**2 (c=1), as tau; boundary log densities given.

    Newton steps on the log density of x = log tau with finite-difference derivatives, from
    the best node; each row stops at its own convergence (a step below ``_MODE_XTOL``).
    """
    spec = g.spec
    M = g.xhat.size
    rows = np.arange(M)
    G = g.ell - (1 + c) * g.x
    x = g.x[rows, np.argmax(G, axis=1)][:, None]
    settled = (lo_val >= G.max(axis=1) - 1e-12) | (hi_val >= G.max(axis=1))
    for _ in range(0 if settled.all() else 30):
        xs = np.concatenate([x - _FD, x, x + _FD], axis=1)
        f0 = (yield xs) - (1 + c) * xs
        d1 = (f0[:, 2] - f0[:, 0]) / (2 * _FD)
        d2 = (f0[:, 2] - 2 * f0[:, 1] + f0[:, 0]) / _FD**2
        step = np.where(d2 < 0, -d1 / np.where(d2 < 0, d2, -1.0), np.sign(d1) * 0.1)
        step = np.where(np.isfinite(step), _clip(step, -1.0, 1.0), 0.0)
        xn = _clip(x[:, 0] + step, spec.xlo, spec.xhi)
        conv = np.abs(xn - x[:, 0]) < _MODE_XTOL
        x = np.where(settled, x[:, 0], xn)[:, None]
        settled = settled | conv
        if settled.all():
            break
    best = ((yield x) - (1 + c) * x)[:, 0]
    return _mode_at_bounds(spec, x[:, 0], best, lo_val, hi_val)


def _mode_at_bounds(
    spec: _Spec, x: FloatArray, best: FloatArray, lo_val: FloatArray, hi_val: FloatArray
) -> FloatArray:
    """Return the mode as tau: exp(x), or a support bound of log density at least ``best``."""
    mode = np.exp(x)
    # a boundary within rounding of the interior optimum wins (e.g. tau = 1e-28 vs 0)
    mode = np.where(lo_val >= best - 1e-12, spec.lo, mode)
    best = np.maximum(best, lo_val)
    return np.where(hi_val > best, spec.hi, mode)


def _solve_mode(g: _Grid, c: int, lo_val: FloatArray, hi_val: FloatArray) -> FloatArray:
    """Mode of tau (c=0) or tau**2 (c=1) as tau: compiled when it can be, else numpy."""
    comp = _compiled_model(g.data, g.spec)
    if comp is None:
        return _drive(g, [_mode_solver(g, c, lo_val, hi_val)])[0]
    kern, args = comp
    spec, f = g.spec, np.ascontiguousarray
    x, best = kern.tau_mode(f(g.x), f(g.ell), c, f(lo_val, dtype=np.float64),
                            f(hi_val, dtype=np.float64), spec.xlo, spec.xhi, _FD, _MODE_XTOL,
                            *args)  # fmt: skip
    return _mode_at_bounds(spec, x, best, lo_val, hi_val)


def _tau_mode(g: _Grid, c: int = 0) -> FloatArray:
    """Posterior mode of tau (c=0) or tau**2 (c=1), as tau."""
    return _solve_mode(g, c, *_tau_boundary_logdens(g, c))


def _tau_quantile(g: _Grid, q: FloatArray) -> FloatArray:
    t = _tau_quantile_t(g, q)
    out = np.exp(g.x_of_t(t))
    out = np.where(q <= 0, g.spec.lo, out)
    return np.where(q >= 1, g.spec.hi, out)


def _tau_interval(
    g: _Grid, prob: float, kind: str, c: int = 0, qs: FloatArray | None = None
) -> tuple[FloatArray, FloatArray]:
    """ETI or shortest interval for tau (c=0) or tau**2 (c=1), returned on the tau scale.

    ``qs``: the tau quantiles at ``(a, 1 - a, prob, 1 - prob)``, ``a = (1 - prob)/2``, if known.
    """
    M = g.xhat.size
    a = (1 - prob) / 2
    if qs is None:
        probs = [[a, 1 - a, prob, 1 - prob]] if kind == "hdi" else [[a, 1 - a]]
        qs = _tau_quantile(g, np.tile(probs, (M, 1)))
    eti = qs[:, :2]
    if kind == "eti":
        return eti[:, 0], eti[:, 1]
    spec = g.spec
    # boundary cases: density at a support bound at least that at the other end
    ends = qs[:, 2:4]
    lo_val, hi_val = _tau_boundary_logdens(g, c)
    with np.errstate(all="ignore"):
        f_hi_end = _tau_logdens_x(g, np.log(ends[:, :1]), c)[:, 0]
        f_lo_end = _tau_logdens_x(g, np.log(ends[:, 1:]), c)[:, 0]
    at_lo = lo_val >= f_hi_end - 1e-12
    at_hi = (~at_lo) & (hi_val >= f_lo_end)
    # interior: Newton on (F(b) - F(a) - prob, G(a) - G(b)) in x = log tau
    xa, xb = np.log(eti[:, 0]), np.log(eti[:, 1])
    settled = at_lo | at_hi
    for _ in range(0 if settled.all() else 40):
        xs = np.stack([xa, xb], axis=1)
        ts = g.t_of_x(xs)
        F = _tau_cdf_t(g, ts)
        fx = np.exp(_ell(xs, g.data, spec) - g.logZ[:, None])  # density of x
        Gm = _tau_logdens_x(g, np.concatenate([xs - _FD, xs, xs + _FD], axis=1), c)
        Gp = (Gm[:, 4:6] - Gm[:, 0:2]) / (2 * _FD)
        r1 = F[:, 1] - F[:, 0] - prob
        r2 = Gm[:, 2] - Gm[:, 3]
        j11, j12 = -fx[:, 0], fx[:, 1]
        j21, j22 = Gp[:, 0], -Gp[:, 1]
        det = j11 * j22 - j12 * j21
        det = np.where(det != 0, det, 1.0)
        da = -(r1 * j22 - j12 * r2) / det
        db = -(j11 * r2 - j21 * r1) / det
        width = xb - xa
        da = _clip(np.nan_to_num(da), -0.5 * width, 0.5 * width)
        db = _clip(np.nan_to_num(db), -0.5 * width, 0.5 * width)
        xa = np.where(settled, xa, _clip(xa + da, spec.xlo, spec.xhi))
        xb = np.where(settled, xb, _clip(xb + db, spec.xlo, spec.xhi))
        settled = settled | (np.abs(da) + np.abs(db) < 1e-12)  # each row stops on its own
        if settled.all():
            break
    lower = np.where(at_lo, spec.lo, np.where(at_hi, ends[:, 1], np.exp(xa)))
    upper = np.where(at_lo, ends[:, 0], np.where(at_hi, spec.hi, np.exp(xb)))
    return lower, upper


def _tau_summary(g: _Grid, prob: float, kind: str, modes: bool = True) -> dict[str, FloatArray]:
    """mean, sd, median, mode, lower, upper of tau and tau2 for all analyses of ``g``."""
    M = g.xhat.size
    k = g.data.k
    a = (1 - prob) / 2
    probs = [[0.5, a, 1 - a, prob, 1 - prob]] if kind == "hdi" else [[0.5, a, 1 - a]]
    q = np.tile(probs, (M, 1))
    comp = _compiled_model(g.data, g.spec)
    if comp is not None and modes:  # compiled: quantiles and both modes in one call
        kern, args = comp
        f = np.ascontiguousarray
        t, xm, best, lo_val = kern.tau_summary(
            f(g.cum), f(g.t_lo), f(g.t_hi), f(g.xhat), f(g.sig), f(g.logZ), q, _GL_X, _GL_W,
            f(g.x), f(g.ell), g.spec.xlo, g.spec.xhi, _FD, _MODE_XTOL, *args,
        )  # fmt: skip
        hi_val = np.full(M, -np.inf)
        res = [t] + [_mode_at_bounds(g.spec, xm[:, c], best[:, c], lo_val[:, c], hi_val)
                     for c in (0, 1)]  # fmt: skip
    elif comp is not None:
        res = [_solve_quantiles(g, q)]
    else:  # numpy: the solvers share one evaluation of the log density per round
        base = _tau_boundary_base(g) if modes else None
        solvers = [_quantile_solver(g, q)]
        if modes:
            solvers += [_mode_solver(g, c, *_tau_boundary_logdens(g, c, base)) for c in (0, 1)]
        res = _drive(g, solvers)
    qs = np.exp(g.x_of_t(res[0]))
    qs = np.where(q <= 0, g.spec.lo, qs)
    qs = np.where(q >= 1, g.spec.hi, qs)
    tau = g.tau
    m1 = (g.W * tau).sum(1)
    m2 = (g.W * tau**2).sum(1)
    out: dict[str, FloatArray] = {}
    for c, p in ((0, "tau"), (1, "tau2")):
        r = c + 1
        mean = m1 if c == 0 else m2
        sd = np.sqrt((g.W * (tau**r - mean[:, None]) ** 2).sum(1))
        out[f"{p}_mean"] = np.where(g.spec.moment_exists(r, k), mean, np.inf)
        out[f"{p}_sd"] = np.where(g.spec.moment_exists(2 * r, k), sd, np.inf)
        out[f"{p}_median"] = qs[:, 0] ** r
        if modes:
            out[f"{p}_mode"] = res[1 + c] ** r
        if c == 1 and kind == "eti":
            lo, hi = out["tau_lower"], out["tau_upper"]
            out["tau2_lower"], out["tau2_upper"] = lo**2, hi**2
        else:
            lo, hi = _tau_interval(g, prob, kind, c, qs[:, 1:])
            out[f"{p}_lower"], out[f"{p}_upper"] = lo**r, hi**r
    return out
