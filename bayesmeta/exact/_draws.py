r"""Independent posterior draws from the quadrature rule (inverse CDF on tau, then normals).

1. :math:`u \sim U(0, 1)` and :math:`\tau = F^{-1}(u)`, with :math:`F` the posterior CDF of
   :math:`\tau` from the same rule that gives the deterministic summaries (partial panels
   integrated afresh, quantiles by safeguarded Newton, so to ~1e-12).
2. :math:`b \mid \tau, y \sim N(\hat b(\tau), P(\tau)^{-1})`.
3. :math:`\theta_i \mid b, \tau, y \sim N(B_i y_i + (1 - B_i) x_i^\top b, s_i^2 B_i)`,
   :math:`B_i = \tau^2 / (s_i^2 + \tau^2)`, and :math:`z_i = (\theta_i - x_i^\top b)/\tau`
   computed in a form that stays finite as :math:`\tau \to 0`.
4. :math:`z_{new} \sim N(0, 1)` (so :math:`\theta_{new} = x_0^\top b + \tau z_{new}`) and the
   replicates :math:`y^{rep}_i \sim N(\theta_i, s_i^2)`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.polynomial import legendre

from bayesmeta.exact._rule import _GL_N, _GL_W, _GL_X, FloatArray, _cond, _Grid, _tau_quantile

_TAIL = 1e-6  # beyond these tail probabilities draws of tau use the rule's exact quantiles
_U_MIN = 1e-300  # uniforms are kept inside (0, 1): F^-1(0) would be the support's lower end


def _sqrtm(C: FloatArray) -> FloatArray:
    """Return L with L L' = C for each matrix of a stack (Cholesky; eigen if not PD)."""
    if C.shape[-1] == 1:
        return np.sqrt(np.maximum(C, 0.0))
    try:
        return np.linalg.cholesky(C)
    except np.linalg.LinAlgError:
        vals, vecs = np.linalg.eigh(C)
        return vecs * np.sqrt(np.maximum(vals, 0.0))[..., None, :]


def _panel_legendre(g: _Grid) -> FloatArray:
    """Legendre coefficients (P, N) of each panel's density of t, in u in [-1, 1].

    The density at the panel's Gauss nodes is W / (H/2 w); the degree-(N-1) interpolant through
    them has ``c_l = (2l + 1)/2 sum_m w_m f_m P_l(x_m)`` (discrete orthogonality of the rule),
    and integrates to the panel's mass exactly as the rule does.
    """
    half = g.H[0] / 2
    f = g.W[0].reshape(g.P, _GL_N) / (half * _GL_W)
    P = legendre.legvander(_GL_X, _GL_N - 1)  # (N nodes, N degrees)
    return (f * _GL_W) @ P * (2 * np.arange(_GL_N) + 1) / 2


def _tau_inverse_cdf(g: _Grid, q: FloatArray) -> FloatArray:
    """Return tau at posterior probabilities q (n,).

    The panel comes from its cumulative mass, then Newton steps (guarded by bisection) solve
    for the integral of the panel's Legendre interpolant: no new likelihood evaluations. In the
    far tails (q or 1 - q below ``_TAIL``), where a panel's interpolant is coarse, the rule's own
    quantile solver takes over, so F(tau) = q holds to ~1e-11 for every draw (tested).
    """
    cum = g.cum[0]
    j = np.clip(np.searchsorted(cum, q, side="right") - 1, 0, g.P - 1)
    c = _panel_legendre(g)[j]  # (n, N)
    half = g.H[0] / 2
    # antiderivative from -1: P_0 -> u + 1, P_l -> (P_{l+1} - P_{l-1}) / (2l + 1)
    ci = np.zeros((q.size, _GL_N + 1))
    ci[:, 0] += c[:, 0]
    ci[:, 1] += c[:, 0]
    for ell in range(1, _GL_N):
        ci[:, ell + 1] += c[:, ell] / (2 * ell + 1)
        ci[:, ell - 1] -= c[:, ell] / (2 * ell + 1)
    target = (q - cum[j]) / half
    lo, hi = -np.ones(q.size), np.ones(q.size)
    u = np.clip(2 * target / np.maximum(2 * c[:, 0], 1e-300) - 1, -1.0, 1.0)
    for _ in range(50):
        d = legendre.legval(u, ci.T, tensor=False) - target
        lo, hi = np.where(d < 0, u, lo), np.where(d >= 0, u, hi)
        dens = legendre.legval(u, c.T, tensor=False)
        un = u - d / np.where(dens > 0, dens, np.inf)
        un = np.where((un > lo) & (un < hi), un, 0.5 * (lo + hi))
        done = np.abs(un - u) < 1e-13
        u = un
        if done.all():
            break
    t = g.t_lo[0] + (j + (u + 1) / 2) * g.H[0]
    tau = np.exp(g.x_of_t(t[None, :])[0])
    tail = (q < _TAIL) | (q > 1 - _TAIL)
    if tail.any():
        tau[tail] = _tau_quantile(g, q[tail][None, :])[0]
    return tau


def _draw(
    g: _Grid, y: FloatArray, s: FloatArray, X: FloatArray, n: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Draws for the one analysis of ``g``; keys as in :func:`bayesmeta.exact.draw_posterior`."""
    k, p = X.shape
    u = np.clip(rng.uniform(size=n), _U_MIN, 1 - 2**-53)
    with np.errstate(all="ignore"):
        tau = _tau_inverse_cdf(g, u)
        _, bhat, Pinv = _cond((tau * tau)[None, :], g.data, g.spec)
    L = _sqrtm(Pinv[0])
    e = rng.standard_normal((n, p))
    b = bhat[0] + np.einsum("nij,nj->ni", L, e)
    xb = b @ X.T  # (n, k)
    s2 = (s * s)[None, :]
    t2 = (tau * tau)[:, None]
    v = s2 + t2
    B = t2 / v
    eps = rng.standard_normal((n, k))
    theta = B * y[None, :] + (1 - B) * xb + np.sqrt(s2 * B) * eps
    z = tau[:, None] * (y[None, :] - xb) / v + s[None, :] / np.sqrt(v) * eps
    implied = predictive_draws(b, tau, theta, y, s, rng)
    return {"tau": tau, "b": b, "theta": theta, "z": z, **implied}


def predictive_draws(
    b: FloatArray,
    tau: FloatArray,
    theta: FloatArray,
    y: FloatArray,
    s: FloatArray,
    rng: np.random.Generator,
) -> dict[str, FloatArray]:
    """Return what posterior draws of a normal-normal analysis imply (exact or NUTS alike).

    From draws of the coefficients ``b`` (n, p; intercept first), ``tau`` (n,) and the study
    effects ``theta`` (n, k): a new study's effect ``theta_new = b0 + tau z_new`` (``z_new``
    standard normal, independent of the data), replicates ``y_rep ~ N(theta, s^2)`` and the
    pointwise log-likelihood ``log N(y | theta, s^2)``. ``rng`` draws ``z_new`` first, then the
    replicates.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> out = predictive_draws(np.zeros((5, 1)), np.ones(5), np.zeros((5, 2)), np.zeros(2),
    ...                        np.ones(2), rng)
    >>> sorted(out), out["y_rep"].shape, round(float(out["loglik"][0, 0]), 6)
    (['loglik', 'theta_new', 'y_rep', 'z_new'], (5, 2), -0.918939)
    """
    z_new = rng.standard_normal(tau.size)
    y_rep = theta + s[None, :] * rng.standard_normal(theta.shape)
    loglik = -0.5 * np.log(2 * math.pi * s**2)[None, :] - 0.5 * ((y[None, :] - theta) / s) ** 2
    return {
        "z_new": z_new,
        "theta_new": b[:, 0] + tau * z_new,
        "y_rep": y_rep,
        "loglik": loglik,
    }
