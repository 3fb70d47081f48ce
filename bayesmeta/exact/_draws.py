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

from bayesmeta.exact._rule import FloatArray, _cond, _Grid, _tau_quantile

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


def _draw(
    g: _Grid, y: FloatArray, s: FloatArray, X: FloatArray, n: int, rng: np.random.Generator
) -> dict[str, Any]:
    """Draws for the one analysis of ``g``; keys as in :func:`bayesmeta.exact.draw_posterior`."""
    k, p = X.shape
    u = np.clip(rng.uniform(size=n), _U_MIN, 1 - 2**-53)
    with np.errstate(all="ignore"):
        tau = _tau_quantile(g, u[None, :])[0]
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
    z_new = rng.standard_normal(n)
    y_rep = theta + s[None, :] * rng.standard_normal((n, k))
    loglik = -0.5 * np.log(2 * math.pi * s**2)[None, :] - 0.5 * ((y[None, :] - theta) / s) ** 2
    return {
        "tau": tau,
        "b": b,
        "theta": theta,
        "y_rep": y_rep,
        "z_new": z_new,
        "z": z,
        "theta_new": b[:, 0] + tau * z_new,
        "loglik": loglik,
    }
