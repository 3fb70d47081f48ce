r"""Exact (independent) posterior draws for the normal-normal models, without MCMC.

For the random-effects model and the meta-regression with normal (or flat) priors on the
coefficients, everything but :math:`\tau` integrates out in closed form. Given :math:`\tau`, with
:math:`V = \mathrm{diag}(s_i^2 + \tau^2)` and coefficient prior :math:`b \sim N(m_0,
\Lambda_0^{-1})` (:math:`\Lambda_0` zero for flat components),

.. math::

    P = X^\top V^{-1} X + \Lambda_0, \quad h = X^\top V^{-1} y + \Lambda_0 m_0, \quad
    b \mid \tau, y \sim N(P^{-1}h, P^{-1}),

    \log p(y \mid \tau) = c - \tfrac12 \log|V| - \tfrac12 \log|P|
        - \tfrac12 (y^\top V^{-1} y + m_0^\top\Lambda_0 m_0 - h^\top P^{-1} h).

So :math:`p(\tau \mid y) \propto p(\tau)\,p(y \mid \tau)` is evaluated on a fine grid (``GRID``
cells of :math:`t \in (0, 1)`, :math:`\tau = S\,t/(1-t)`, with :math:`S` the median standard
error), :math:`\tau` is drawn from the piecewise-constant density, then :math:`b \mid \tau`,
:math:`\theta_i \mid b, \tau, y \sim N\big((y_i/s_i^2 + x_i^\top b/\tau^2)/w_i, 1/w_i\big)` with
:math:`w_i = 1/s_i^2 + 1/\tau^2`, :math:`\theta_{new} = \mu + \tau z`, and the replicates
:math:`y^{rep}_i \sim N(\theta_i, s_i^2)`.

The draws are independent, so there is nothing to tune and nothing to diverge; they are laid
out as ``chains`` x ``draws`` so the usual diagnostics (R-hat, ESS) apply and read as a check.
The discretisation error of the grid is far below the Monte Carlo error of any practical number
of draws (``tests/test_exact_sampler.py`` compares with :func:`bayesmeta.exact.exact_posterior`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesmeta import _dims as D
from bayesmeta.errors import FitError, ModelSpecError
from bayesmeta.priors import Flat, Normal, Prior

if TYPE_CHECKING:
    import xarray as xr

    from bayesmeta.models.base import BaseModel
    from bayesmeta.results import Result

__all__ = ["ENGINES", "GRID", "fit_with", "sample_exact", "supports_exact"]

#: How a model may be fitted: "auto" (exact draws where the model allows, NUTS otherwise),
#: "exact" or "nuts".
ENGINES: tuple[str, ...] = ("auto", "exact", "nuts")

#: Number of grid cells for the marginal posterior of tau.
GRID = 4096
_MODELS = ("random_effects", "meta_regression", "multi_outcome")


def supports_exact(model: BaseModel) -> bool:
    """Whether :func:`sample_exact` can draw from this model's posterior.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abc"), "yi": [0.1, 0.3, 0.2],
    ...                                 "vi": [0.01, 0.02, 0.015]}), measure="SMD")
    >>> supports_exact(RandomEffects(tab))
    True
    """
    if model.name not in _MODELS:
        return False
    if model.spec().get("options", {}).get("pool_tau"):
        return False
    return all(isinstance(p, (Normal, Flat)) for p in _location_priors(model))


def _location_priors(model: BaseModel) -> list[Prior]:
    pri = model.priors
    out: list[Prior] = []
    for key in (D.MU, D.BETA):
        v = pri.get(key)
        if v is None:
            continue
        if isinstance(v, dict):
            out += list(v.values())
        elif isinstance(v, (list, tuple)):
            out += list(v)
        else:
            out.append(v)
    return out


def _per_outcome(value: Any, outcome: str) -> Any:
    return value[outcome] if isinstance(value, dict) else value


def _draw_unit(
    y: np.ndarray,
    s: np.ndarray,
    X: np.ndarray,
    coef_priors: list[Prior],
    tau_prior: Prior,
    n: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Exact draws for one analysis: tau (n,), b (n, p), theta (n, k), y_rep (n, k), z_new (n,)."""
    k, p = X.shape
    lam0 = np.array([0.0 if isinstance(q, Flat) else 1.0 / q.sigma**2 for q in coef_priors])  # type: ignore[attr-defined]
    m0 = np.array([0.0 if isinstance(q, Flat) else q.mu for q in coef_priors])  # type: ignore[attr-defined]
    S = float(np.median(s))
    t = (np.arange(GRID) + 0.5) / GRID
    tau_grid = S * t / (1 - t)
    jac = S / (1 - t) ** 2
    lp = _log_marginal(y, s, X, lam0, m0, tau_grid) + np.asarray(tau_prior.logpdf(tau_grid))
    lp = lp + np.log(jac)
    if not np.isfinite(lp).any():
        raise FitError("the posterior of tau is zero everywhere on the grid; check the priors")
    lp[~np.isfinite(lp)] = -np.inf
    w = np.exp(lp - lp.max())
    if w[-1] > 1e-8 * w.sum():
        raise FitError(
            "the posterior of tau has too much mass in its tail to be normalised; it is probably "
            "improper (e.g. an improper tau prior with too few studies): use a proper tau prior"
        )
    cell = rng.choice(GRID, size=n, p=w / w.sum())
    tt = (cell + rng.uniform(size=n)) / GRID
    tau = S * tt / (1 - tt)

    V = s[None, :] ** 2 + tau[:, None] ** 2  # (n, k)
    Wt = 1.0 / V
    P = np.einsum("ki,nk,kj->nij", X, Wt, X) + np.diag(lam0)[None]
    h = np.einsum("ki,nk->ni", X, Wt * y[None, :]) + (lam0 * m0)[None]
    L = np.linalg.cholesky(P)
    mean = np.linalg.solve(P, h[..., None])[..., 0]
    # b = mean + L^{-T} e, so that cov = (L L^T)^{-1} = P^{-1}
    e = rng.standard_normal((n, p))
    b = mean + np.linalg.solve(np.swapaxes(L, 1, 2), e[..., None])[..., 0]
    xb = b @ X.T  # (n, k)
    prec = 1.0 / s[None, :] ** 2 + 1.0 / tau[:, None] ** 2
    theta_mean = (y[None, :] / s[None, :] ** 2 + xb / tau[:, None] ** 2) / prec
    theta = theta_mean + rng.standard_normal((n, k)) / np.sqrt(prec)
    z_new = rng.standard_normal(n)
    y_rep = theta + s[None, :] * rng.standard_normal((n, k))
    loglik = -0.5 * np.log(2 * math.pi * s**2)[None, :] - 0.5 * ((y[None, :] - theta) / s) ** 2
    return {
        "tau": tau,
        "b": b,
        "theta": theta,
        "z": (theta - xb) / tau[:, None],
        "z_new": z_new,
        "theta_new": b[:, 0] + tau * z_new,
        "y_rep": y_rep,
        "loglik": loglik,
    }


def _log_marginal(
    y: np.ndarray,
    s: np.ndarray,
    X: np.ndarray,
    lam0: np.ndarray,
    m0: np.ndarray,
    tau: np.ndarray,
) -> np.ndarray:
    """Log p(y | tau) up to a constant, vectorised over the tau grid."""
    V = s[None, :] ** 2 + tau[:, None] ** 2
    Wt = 1.0 / V
    P = np.einsum("ki,gk,kj->gij", X, Wt, X) + np.diag(lam0)[None]
    h = np.einsum("ki,gk->gi", X, Wt * y[None, :]) + (lam0 * m0)[None]
    sign, logdet = np.linalg.slogdet(P)
    quad = np.einsum("gi,gi->g", h, np.linalg.solve(P, h[..., None])[..., 0])
    out = (
        -0.5 * np.sum(np.log(V), axis=1)
        - 0.5 * logdet
        - 0.5 * (np.sum(Wt * y[None, :] ** 2, axis=1) + float(np.sum(lam0 * m0**2)) - quad)
    )
    out[sign <= 0] = -np.inf
    return np.asarray(out, dtype=float)


def sample_exact(
    model: BaseModel,
    draws: int = 1000,
    *,
    chains: int = 4,
    random_seed: int | None = None,
) -> Result:
    """Independent exact posterior draws for a normal-normal model, as a :class:`Result`.

    Works for :class:`RandomEffects`, :class:`MetaRegression` and :class:`MultiOutcome` (without
    ``pool_tau``) whose priors on ``mu`` and ``beta`` are :class:`Normal` or :class:`Flat`; the
    ``tau`` prior may be any prior. The result has the same groups and variables as a NUTS fit
    (posterior, posterior_predictive, log_likelihood, observed and constant data, and a
    ``sample_stats`` group with no divergences), so every :class:`Result` method applies.

    Parameters
    ----------
    model
        The configured model.
    draws, chains
        ``chains`` x ``draws`` independent draws.
    random_seed
        Seed: the same seed gives identical draws.

    Raises
    ------
    ModelSpecError
        The model is not normal-normal or has a non-normal prior on a coefficient.
    FitError
        The posterior is improper.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
    ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
    >>> res = sample_exact(RandomEffects(tab), 500, random_seed=1)
    >>> res.diagnostics().divergences
    0
    """
    from bayesmeta.results import Result

    if not supports_exact(model):
        raise ModelSpecError(
            f"the exact sampler needs a normal-normal model ({', '.join(_MODELS)}, no pool_tau) "
            "with normal or flat priors on mu and beta; fit this model with NUTS instead"
        )
    rng = np.random.default_rng(random_seed)
    n = draws * chains
    table = model.table
    pri = model.priors
    multi = model.name == "multi_outcome"
    outcomes = table.outcomes
    units = []
    for o in outcomes:
        sub = table.for_outcome(o) if multi else table
        X = np.ones((sub.k, 1))
        coef = [_per_outcome(pri[D.MU], o)]
        if model.name == "meta_regression":
            mods = list(model.mods)  # type: ignore[attr-defined]
            Xm: np.ndarray = model.X  # type: ignore[attr-defined]
            X = np.column_stack([X, Xm.astype(float)])
            coef += [pri[D.BETA][m] for m in mods]
        units.append(_draw_unit(sub.yi, sub.sei, X, coef, _per_outcome(pri[D.TAU], o), n, rng))
    idata = _to_datatree(model, units, draws, chains)
    sampling = {
        "nuts_sampler": "exact",
        "draws": draws,
        "tune": 0,
        "chains": chains,
        "random_seed": random_seed,
        "grid": GRID,
    }
    return Result(idata, spec=model.spec(), table=table, sampling=sampling)


def fit_with(
    model: BaseModel,
    engine: str = "auto",
    draws: int = 1000,
    *,
    random_seed: int | None = None,
    **nuts_kwargs: Any,
) -> Result:
    """Fit ``model`` with the exact sampler or NUTS.

    ``engine="auto"`` uses :func:`sample_exact` when :func:`supports_exact` says the model allows
    it (normal-normal models with normal or flat priors on the coefficients) and NUTS
    (:meth:`BaseModel.fit`) otherwise; ``"exact"`` insists on the exact sampler; ``"nuts"`` always
    runs NUTS with ``nuts_kwargs`` (``tune``, ``chains``, ``target_accept``, ...).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abc"), "yi": [0.1, 0.3, 0.2],
    ...                                 "vi": [0.01, 0.02, 0.015]}), measure="SMD")
    >>> fit_with(RandomEffects(tab), "auto", 200, random_seed=3).nuts_sampler
    'exact'
    """
    if engine not in ENGINES:
        raise ModelSpecError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "exact" or (engine == "auto" and supports_exact(model)):
        chains = int(nuts_kwargs.get("chains", 4))
        return sample_exact(model, draws, chains=chains, random_seed=random_seed)
    return model.fit(draws, random_seed=random_seed, **nuts_kwargs)


def _to_datatree(
    model: BaseModel, units: list[dict[str, np.ndarray]], draws: int, chains: int
) -> xr.DataTree:
    import xarray as xr

    def cd(a: np.ndarray) -> np.ndarray:
        return a.reshape((chains, draws, *a.shape[1:]))

    table = model.table
    coords: dict[str, Any] = {D.CHAIN: np.arange(chains), D.DRAW: np.arange(draws)}
    multi = model.name == "multi_outcome"
    if multi:
        row = D.ESTIMATE
        row_coords = {
            D.ESTIMATE: np.arange(table.k),
            "estimate_study": (D.ESTIMATE, table.data["study"].to_numpy(str)),
            "estimate_outcome": (D.ESTIMATE, table.data["outcome"].to_numpy(str)),
        }
        scalar = {D.OUTCOME: np.array(table.outcomes)}
        post = {
            D.MU: cd(np.stack([u["b"][:, 0] for u in units], axis=1)),
            D.TAU: cd(np.stack([u["tau"] for u in units], axis=1)),
            "z_new": cd(np.stack([u["z_new"] for u in units], axis=1)),
            D.THETA_NEW: cd(np.stack([u["theta_new"] for u in units], axis=1)),
        }
        per_row = {
            D.THETA: cd(np.concatenate([u["theta"] for u in units], axis=1)),
            "z": cd(np.concatenate([u["z"] for u in units], axis=1)),
        }
        yrep = cd(np.concatenate([u["y_rep"] for u in units], axis=1))
        ll = cd(np.concatenate([u["loglik"] for u in units], axis=1))
        # rows of the table are grouped by outcome in units; restore table order
        order = np.concatenate(
            [np.flatnonzero(table.data["outcome"].to_numpy() == o) for o in table.outcomes]
        )
        inv = np.empty_like(order)
        inv[order] = np.arange(order.size)
        per_row = {k: v[..., inv] for k, v in per_row.items()}
        yrep, ll = yrep[..., inv], ll[..., inv]
        scalar_dims: tuple[str, ...] = (D.OUTCOME,)
    else:
        row = D.STUDY
        row_coords = {D.STUDY: np.array(table.studies)}
        scalar = {}
        u = units[0]
        post = {
            D.MU: cd(u["b"][:, 0]),
            D.TAU: cd(u["tau"]),
            "z_new": cd(u["z_new"]),
            D.THETA_NEW: cd(u["theta_new"]),
        }
        per_row = {D.THETA: cd(u["theta"]), "z": cd(u["z"])}
        yrep, ll = cd(u["y_rep"]), cd(u["loglik"])
        scalar_dims = ()
    sd = (D.CHAIN, D.DRAW)
    data_vars: dict[str, Any] = {k: (sd + scalar_dims, v) for k, v in post.items()}
    data_vars.update({k: ((*sd, row), v) for k, v in per_row.items()})
    if not multi and units[0]["b"].shape[1] > 1:
        mods = list(getattr(model, "mods", []))
        scalar[D.MODERATOR] = np.array(mods)
        data_vars[D.BETA] = ((*sd, D.MODERATOR), cd(units[0]["b"][:, 1:]))
    all_coords = {**coords, **row_coords, **scalar}
    posterior = xr.Dataset(data_vars, coords=all_coords)
    pp = xr.Dataset({D.Y: ((*sd, row), yrep)}, coords={**coords, **row_coords})
    loglik = xr.Dataset({D.Y: ((*sd, row), ll)}, coords={**coords, **row_coords})
    observed = xr.Dataset({D.Y: ((row,), table.yi)}, coords=row_coords)
    constant = xr.Dataset({"sei": ((row,), table.sei)}, coords=row_coords)
    stats = xr.Dataset({"diverging": (sd, np.zeros((chains, draws), dtype=bool))}, coords=coords)
    for ds in (posterior, pp, loglik, stats):
        ds.attrs.update(inference_library="bayesmeta.exact", sample_dims=["chain", "draw"])
    return xr.DataTree.from_dict(
        {
            "posterior": posterior,
            "posterior_predictive": pp,
            "log_likelihood": loglik,
            "observed_data": observed,
            "constant_data": constant,
            "sample_stats": stats,
        }
    )
