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

So :math:`p(\tau \mid y) \propto p(\tau)\,p(y \mid \tau)` is one-dimensional: the exact core
(:func:`bayesmeta.exact.draw_posterior`) integrates it with its adaptive Gauss-Legendre rule,
draws :math:`\tau` by inverting that rule's CDF at uniform numbers, then :math:`b \mid \tau`,
:math:`\theta_i \mid b, \tau, y` and :math:`\theta_{new} = x^\top b + \tau z` in closed form, and
the replicates :math:`y^{rep}_i \sim N(\theta_i, s_i^2)`. Deterministic summaries come from the same
rule (:func:`bayesmeta.exact.exact_posterior`), so draws and summaries cannot disagree beyond
Monte Carlo error.

The draws are independent, so there is nothing to tune and nothing to diverge; they are laid
out as ``chains`` x ``draws`` so that a result reads the same whichever engine produced it.
The rule's own accuracy check (whether successive refinements agreed to ``rtol``, the largest
change between the last two, the number of panels and nodes) is recorded per outcome in
``Result.sampling["quadrature"]`` and read by ``Result.diagnostics()``. Improper posteriors are
refused before any computation (:class:`~bayesmeta.errors.ModelSpecError`).

This module is the exact engine behind ``BaseModel.fit(engine="exact")`` (and ``"auto"``): the
models describe each analysis as an :class:`ExactUnit`, :func:`draw` draws from it and
:func:`to_datatree` lays the draws out as a NUTS fit's groups. It imports neither the models
nor the results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesmeta import _dims as D
from bayesmeta.exact import draw_posterior
from bayesmeta.priors import Flat, Normal, Prior

if TYPE_CHECKING:
    import xarray as xr

    from bayesmeta.table import EffectTable

__all__ = ["ExactUnit", "draw", "location_obstacle", "to_datatree"]


@dataclass(frozen=True)
class ExactUnit:
    """One normal-normal analysis for the exact engine.

    Attributes
    ----------
    y, s
        Estimates and their standard errors, length ``k``.
    X
        Design matrix ``(k, p)``, first column the intercept.
    coef_priors
        Normal or flat priors of the ``p`` coefficients (intercept first).
    tau_prior
        Prior of tau (any proper or improper prior with a log density).

    Examples
    --------
    >>> from bayesmeta.priors import HalfNormal, Normal
    >>> unit = ExactUnit(np.array([0.1, 0.3]), np.array([0.1, 0.2]), np.ones((2, 1)),
    ...                  [Normal(0, 1)], HalfNormal(0.5))
    >>> unit.X.shape
    (2, 1)
    """

    y: np.ndarray
    s: np.ndarray
    X: np.ndarray
    coef_priors: list[Prior]
    tau_prior: Prior


def location_obstacle(priors: list[Prior]) -> str | None:
    """Why the exact engine cannot take these location priors (None when it can).

    Examples
    --------
    >>> from bayesmeta.priors import Flat, HalfNormal, Normal
    >>> location_obstacle([Normal(0, 1), Flat()]) is None
    True
    >>> location_obstacle([HalfNormal(1)])
    'a non-normal prior on a coefficient (HalfNormal(scale=1))'
    """
    bad = [p for p in priors if not isinstance(p, (Normal, Flat))]
    if bad:
        return f"a non-normal prior on a coefficient ({bad[0]})"
    return None


def draw(unit: ExactUnit, n: int, rng: np.random.Generator) -> dict[str, Any]:
    """``n`` independent posterior draws of one analysis, and the quadrature's accuracy check.

    The one call into the exact core (:func:`bayesmeta.exact.draw_posterior`): ``tau`` (n,),
    ``b`` (n, p), ``theta`` (n, k), ``y_rep`` (n, k), ``z_new`` (n,), ``z``, ``theta_new`` and
    ``loglik``; ``check`` holds the rule's accuracy numbers (``method``, ``converged``,
    ``max_change``, ``rtol``, ``panels``, ``nodes``).

    Examples
    --------
    >>> from bayesmeta.priors import HalfNormal, Normal
    >>> unit = ExactUnit(np.array([0.1, 0.3, 0.2]), np.array([0.1, 0.2, 0.15]),
    ...                  np.ones((3, 1)), [Normal(0, 1)], HalfNormal(0.5))
    >>> out = draw(unit, 100, np.random.default_rng(1))
    >>> out["theta"].shape, out["check"]["converged"]
    ((100, 3), True)
    """
    core = draw_posterior(unit.y, unit.s, unit.X, unit.coef_priors, unit.tau_prior, n, rng)
    acc = core.pop("accuracy")
    check = {
        "method": acc["method"],
        "converged": bool(acc["converged"]),
        "max_change": float(acc["max_change"]),
        "rtol": float(acc["rtol"]),
        "panels": int(acc["panels"]),
        "nodes": int(acc["n_nodes"]),
    }
    return {**core, "check": check}


def to_datatree(
    table: EffectTable,
    units: list[dict[str, Any]],
    draws: int,
    chains: int,
    *,
    multi: bool = False,
    moderators: list[str] | None = None,
    X: np.ndarray | None = None,
) -> xr.DataTree:
    """Lay the draws of :func:`draw` out as a NUTS fit's DataTree.

    Groups ``posterior``, ``posterior_predictive``, ``log_likelihood``, ``observed_data`` and
    ``constant_data`` (``sei``, and for a meta-regression the moderator matrix ``X`` with dims
    ``(study, moderator)``). No ``sample_stats``: there is no sampler.

    Parameters
    ----------
    table
        The effect table.
    units
        One :func:`draw` output per outcome (multi-outcome) or a single one.
    draws, chains
        Layout of the ``chains * draws`` draws.
    multi
        Rows on the ``estimate`` dimension with per-outcome ``mu``, ``tau`` (a
        :class:`~bayesmeta.models.MultiOutcome` fit); else rows on ``study``.
    moderators, X
        A meta-regression's moderator names and matrix (without the intercept).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable
    >>> from bayesmeta.priors import HalfNormal, Normal
    >>> tab = EffectTable(pd.DataFrame({"study": list("abc"), "yi": [0.1, 0.3, 0.2],
    ...                                 "vi": [0.01, 0.04, 0.02]}), measure="SMD")
    >>> unit = ExactUnit(tab.yi, tab.sei, np.ones((3, 1)), [Normal(0, 1)], HalfNormal(0.5))
    >>> tree = to_datatree(tab, [draw(unit, 20, np.random.default_rng(1))], 10, 2)
    >>> sorted(tree.children)  # doctest: +NORMALIZE_WHITESPACE
    ['constant_data', 'log_likelihood', 'observed_data', 'posterior', 'posterior_predictive']
    >>> tree["posterior"]["theta"].dims
    ('chain', 'draw', 'study')
    """
    import xarray as xr

    def cd(a: np.ndarray) -> np.ndarray:
        return a.reshape((chains, draws, *a.shape[1:]))

    sd = (D.CHAIN, D.DRAW)
    coords: dict[str, Any] = {D.CHAIN: np.arange(chains), D.DRAW: np.arange(draws)}
    if multi:
        row, row_coords, scalar, post, per_row = _multi_layout(table, units)
        scalar_dims: tuple[str, ...] = (D.OUTCOME,)
    else:
        row, row_coords, scalar, post, per_row = _single_layout(table, units[0])
        scalar_dims = ()
    data_vars: dict[str, Any] = {k: (sd + scalar_dims, cd(v)) for k, v in post.items()}
    data_vars.update({k: ((*sd, row), cd(v)) for k, v in per_row.items() if k in _ROW_VARS})
    constant: dict[str, Any] = {D.SEI: ((row,), table.sei)}
    if not multi and units[0]["b"].shape[1] > 1:
        scalar[D.MODERATOR] = np.array(list(moderators or []))
        data_vars[D.BETA] = ((*sd, D.MODERATOR), cd(units[0]["b"][:, 1:]))
        constant[D.X] = ((row, D.MODERATOR), np.asarray(X, dtype=float))
    row_c = {**coords, **row_coords}
    groups = {
        "posterior": xr.Dataset(data_vars, coords={**row_c, **scalar}),
        "posterior_predictive": xr.Dataset({D.Y: ((*sd, row), cd(per_row["y_rep"]))}, row_c),
        "log_likelihood": xr.Dataset({D.Y: ((*sd, row), cd(per_row["loglik"]))}, row_c),
        "observed_data": xr.Dataset({D.Y: ((row,), table.yi)}, coords=row_coords),
        "constant_data": xr.Dataset(
            constant, coords={**row_coords, **{k: v for k, v in scalar.items() if k != D.OUTCOME}}
        ),
    }
    for name in ("posterior", "posterior_predictive", "log_likelihood"):
        groups[name].attrs.update(inference_library="bayesmeta.exact", sample_dims=list(sd))
    return xr.DataTree.from_dict(groups)


# per-row variables of the posterior (the rest of a layout's per-row arrays go elsewhere)
_ROW_VARS = (D.THETA, D.Z)


def _single_layout(
    table: EffectTable, u: dict[str, Any]
) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Rows on ``study``: (row dim, row coords, scalar coords, scalar vars, per-row arrays)."""
    post = {D.MU: u["b"][:, 0], D.TAU: u["tau"], D.Z_NEW: u["z_new"], D.THETA_NEW: u["theta_new"]}
    per_row = {k: u[k] for k in (D.THETA, D.Z, "y_rep", "loglik")}
    return D.STUDY, {D.STUDY: np.array(table.studies)}, {}, post, per_row


def _multi_layout(
    table: EffectTable, units: list[dict[str, Any]]
) -> tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Rows on ``estimate``, one unit per outcome, in the table's row order."""
    post = {
        D.MU: np.stack([u["b"][:, 0] for u in units], axis=1),
        D.TAU: np.stack([u["tau"] for u in units], axis=1),
        D.Z_NEW: np.stack([u["z_new"] for u in units], axis=1),
        D.THETA_NEW: np.stack([u["theta_new"] for u in units], axis=1),
    }
    # rows are grouped by outcome in the units; restore the table's order
    outcome_col = table.data["outcome"].to_numpy()
    order = np.concatenate([np.flatnonzero(outcome_col == o) for o in table.outcomes])
    inv = np.empty_like(order)
    inv[order] = np.arange(order.size)
    per_row = {
        k: np.concatenate([u[k] for u in units], axis=1)[..., inv]
        for k in (D.THETA, D.Z, "y_rep", "loglik")
    }
    row_coords = {D.ESTIMATE: np.arange(table.k)}
    return D.ESTIMATE, row_coords, {D.OUTCOME: np.array(table.outcomes)}, post, per_row
