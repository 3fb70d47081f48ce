r"""Several normal-normal fits in one NUTS run: one compilation, one sampling run.

A review fits the random-effects model of every outcome and meta-regressions of some outcomes
on moderators. Fitted one by one, NUTS compiles the log density of every fit (seconds each)
and samples each for a fraction of a second. :class:`JointFit` places the fits side by side in
one ``pm.Model``: each fit keeps its own parameters and data,

.. math::

    y_j \mid \theta_j &\sim N(\theta_j, s_j^2) \\
    \theta_j &= \mu_{a(j)} + x_j^\top \beta_{a(j)} + \tau_{a(j)} z_j, \quad z_j \sim N(0, 1)

where :math:`a(j)` is the analysis of row :math:`j` (one per outcome of a
:class:`~bayesmeta.models.MultiOutcome`, one per :class:`~bayesmeta.models.RandomEffects` or
:class:`~bayesmeta.models.MetaRegression`) and :math:`\beta_a` its coefficients (none for a
random-effects analysis: the design holds zeros there). The analyses share no parameter, so the
joint posterior is the product of the fits' posteriors and each fit's marginal is exactly that
of its own model; NUTS explores them together with one step size and a mass matrix adapted per
parameter.

The data and the priors' parameters are constants of the graph and the model is compiled
frozen (nutpie's ``freeze_model``): the compiled wrapper then has no data inputs to unpack,
which roughly halves its compile time, and PyTensor folds the constants. The compiled log
density is cached on disk by PyTensor (and in memory by
:func:`bayesmeta.models.base._nutpie_sample`) under the graph, data included, so re-running a
review compiles from the warm cache; different data or priors compile anew.

After sampling, each fit gets the :class:`~bayesmeta.results.Result` its own ``fit(engine=
"nuts")`` would give: the same variables and dims (``mu``, ``tau``, ``z``, ``theta``,
``theta_new``, ``beta``), ``log_likelihood`` and ``posterior_predictive`` of ``y``, observed and
constant data, and the joint run's ``sample_stats``. ``theta`` and ``theta_new`` are computed
from the draws, the new-study effects ``z_new`` (independent of the data, so their posterior is
their standard-normal prior) are drawn directly, as are the replicates ``y_rep ~ N(theta, s^2)``.
R-hat and ESS are each fit's own; divergences and E-BFMI belong to the joint run and are
reported for every fit it contains.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from bayesmeta import _dims as D
from bayesmeta._registry import NUTS
from bayesmeta.errors import FitError, ModelSpecError
from bayesmeta.models.base import (
    COMPILE_CACHE_SIZE,
    DEFAULT_TARGET_ACCEPT,
    BaseModel,
    _check_fit_args,
    _nutpie_sample,
    _nuts_settings,
    _text_stats,
    default_sampler,
    vector_prior,
)
from bayesmeta.models.exact_sampler import to_datatree
from bayesmeta.models.multi_outcome import MultiOutcome
from bayesmeta.models.random_effects import RandomEffects
from bayesmeta.models.regression import MetaRegression
from bayesmeta.priors import Prior

if TYPE_CHECKING:
    import pymc as pm
    import xarray as xr

    from bayesmeta.results import Result

__all__ = ["JointFit"]

# dims of the joint model (internal: each fit's result uses the package's dims)
ANALYSIS = "analysis"
COEFFICIENT = "coefficient"
ROW = "row"
# shared variables of the joint model
_Y, _SEI, _DESIGN, _INDEX = "y", "sei", "design", "analysis_index"


@dataclass(frozen=True)
class _Analysis:
    """One normal-normal analysis of a fit: its rows, moderators and priors."""

    fit: int  # index of the fit (model) it belongs to
    label: str
    y: np.ndarray
    s: np.ndarray
    X: np.ndarray  # (k, p) moderators without the intercept; p = 0 for random effects
    mu_prior: Prior
    tau_prior: Prior
    beta_priors: list[Prior]


def _analyses(i: int, model: BaseModel) -> list[_Analysis]:
    """Return the analyses of one fit, in the order its result lays them out."""
    if isinstance(model, MultiOutcome):
        if model.pool_tau or model.parameterization != "noncentered":
            raise ModelSpecError(
                f"fit {i}: JointFit takes MultiOutcome(pool_tau=False, "
                "parameterization='noncentered') only; fit this model on its own"
            )
        pri, t = model.priors, model.table
        col = t.data["outcome"].to_numpy()
        out = []
        for o in model.outcomes:
            rows = np.flatnonzero(col == o)
            out.append(
                _Analysis(i, f"{i}:{o}", t.yi[rows], t.sei[rows], np.zeros((rows.size, 0)),
                          pri[D.MU][o], pri[D.TAU][o], [])
            )  # fmt: skip
        return out
    if isinstance(model, RandomEffects) and type(model) in (RandomEffects, MetaRegression):
        if model.parameterization != "noncentered":
            raise ModelSpecError(
                f"fit {i}: JointFit takes the noncentered parameterisation only; fit this model "
                "on its own"
            )
        pri, t = model.priors, model.table
        label = f"{i}:{t.outcomes[0]}"
        X, betas = np.zeros((t.k, 0)), []
        if isinstance(model, MetaRegression):
            X, betas = model.X.astype(float), [pri[D.BETA][m] for m in model.mods]
            label += f"~{'+'.join(model.mods)}"
        return [_Analysis(i, label, t.yi, t.sei, X, pri[D.MU], pri[D.TAU], betas)]
    raise ModelSpecError(
        f"fit {i}: JointFit takes RandomEffects, MetaRegression and MultiOutcome models, got "
        f"{type(model).__name__}; fit it on its own"
    )


def _one_family(name: str, priors: list[Prior]) -> type[Prior]:
    families = {type(p) for p in priors}
    if len(families) != 1:
        raise ModelSpecError(
            f"JointFit needs one prior family for {name!r} across all fits, got "
            f"{sorted({type(p).__name__ for p in priors})}; fit the models on their own"
        )
    return families.pop()


class JointFit:
    """Fit several normal-normal models with one NUTS compilation and one sampling run.

    Parameters
    ----------
    models
        Unfitted :class:`~bayesmeta.models.RandomEffects`,
        :class:`~bayesmeta.models.MetaRegression` and :class:`~bayesmeta.models.MultiOutcome`
        models (non-centred, no ``pool_tau``), each with its own table and priors. Priors of one
        parameter (``mu``, ``tau``, ``beta``) must share one family across the models (values
        may differ).

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
    ...                                 "vi": [0.01, 0.02, 0.015, 0.03], "x": [0, 1, 0, 1]}),
    ...                   measure="SMD", moderators=["x"])
    >>> joint = JointFit([RandomEffects(tab), MetaRegression(tab, mods=["x"])])
    >>> joint.n_analyses, joint.n_coefficients, joint.n_rows
    (2, 1, 8)
    >>> results = joint.fit(random_seed=1)  # doctest: +SKIP
    """

    def __init__(self, models: Sequence[BaseModel]) -> None:
        models = list(models)
        if not models:
            raise ModelSpecError("JointFit needs at least one model")
        self.models = models
        self.analyses = [a for i, m in enumerate(models) for a in _analyses(i, m)]
        self.n_analyses = len(self.analyses)
        self.n_rows = sum(a.y.size for a in self.analyses)
        self.n_coefficients = sum(a.X.shape[1] for a in self.analyses)
        _one_family(D.MU, [a.mu_prior for a in self.analyses])
        _one_family(D.TAU, [a.tau_prior for a in self.analyses])
        if self.n_coefficients:
            _one_family(D.BETA, [p for a in self.analyses for p in a.beta_priors])

    def __repr__(self) -> str:
        return (
            f"JointFit({len(self.models)} fits, {self.n_analyses} analyses, "
            f"{self.n_coefficients} coefficients, {self.n_rows} rows)"
        )

    # ------------------------------------------------------------------ model
    def _arrays(self) -> dict[str, np.ndarray]:
        """Flat data: estimates, SEs, row -> analysis, the block design of the coefficients."""
        index = np.concatenate([np.full(a.y.size, i) for i, a in enumerate(self.analyses)])
        design = np.zeros((self.n_rows, self.n_coefficients))
        r = c = 0
        for a in self.analyses:
            k, p = a.X.shape
            design[r : r + k, c : c + p] = a.X
            r, c = r + k, c + p
        return {
            _Y: np.concatenate([a.y for a in self.analyses]),
            _SEI: np.concatenate([a.s for a in self.analyses]),
            _INDEX: index.astype(np.int64),
            _DESIGN: design,
        }

    def build(self) -> pm.Model:
        """Return the joint ``pm.Model`` (dims ``analysis``, ``coefficient``, ``row``).

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable
        >>> tab = EffectTable(pd.DataFrame({"study": list("abc"), "yi": [0.1, 0.3, 0.2],
        ...                                 "vi": [0.01, 0.02, 0.015]}), measure="SMD")
        >>> model = JointFit([RandomEffects(tab)]).build()
        >>> sorted(v.name for v in model.free_RVs)
        ['mu', 'tau', 'z']
        """
        import pymc as pm

        arr = self._arrays()
        coords = {
            ANALYSIS: [a.label for a in self.analyses],
            COEFFICIENT: [f"{a.label}:{j}" for a in self.analyses for j in range(a.X.shape[1])],
            ROW: list(range(self.n_rows)),
        }
        idx = arr[_INDEX]
        with pm.Model(coords=coords) as model:
            mu = vector_prior(D.MU, [a.mu_prior for a in self.analyses], ANALYSIS)
            tau = vector_prior(D.TAU, [a.tau_prior for a in self.analyses], ANALYSIS)
            z = pm.Normal(D.Z, 0.0, 1.0, dims=ROW)
            center = mu[idx]
            if self.n_coefficients:
                priors = [p for a in self.analyses for p in a.beta_priors]
                beta = vector_prior(D.BETA, priors, COEFFICIENT)
                center = center + pm.math.dot(arr[_DESIGN], beta)
            pm.Normal(D.Y, center + tau[idx] * z, arr[_SEI], observed=arr[_Y], dims=ROW)
        return model

    # ------------------------------------------------------------------ fit
    def fit(
        self,
        draws: int = 1000,
        *,
        chains: int = 4,
        random_seed: int | None = None,
        tune: int = 1000,
        cores: int | None = None,
        nuts_sampler: str | None = None,
        target_accept: float = DEFAULT_TARGET_ACCEPT,
        progressbar: bool = False,
    ) -> list[Result]:
        """Sample every fit in one NUTS run; return one result per model, in order.

        Arguments as :meth:`bayesmeta.models.BaseModel.fit` with ``engine="nuts"``, except
        ``cores``: by default nutpie runs the chains on up to as many threads as there are
        CPUs (the draws do not depend on it: each chain has its own seed), PyMC's NUTS on one
        process. Each
        result's diagnostics are checked (problems raised as
        :class:`~bayesmeta.errors.ConvergenceWarning`, prefixed by nothing: the caller knows
        which fit is which); ``result.sampling["joint"]`` describes the run.
        """
        _check_fit_args(draws, tune, chains, 0, nuts_sampler, target_accept)
        s_fit, s_rest = (int(s) for s in np.random.SeedSequence(random_seed).generate_state(2))
        sampler = default_sampler() if nuts_sampler is None else nuts_sampler
        if cores is None:
            cores = min(chains, os.cpu_count() or 1) if sampler == "nutpie" else 1
        idata = self._sample(draws, tune, chains, cores, s_fit, sampler, target_accept, progressbar)
        sampling = {
            "engine": NUTS,
            "engine_reason": (
                f"engine='nuts' requested; one NUTS run for {len(self.models)} fits "
                f"({self.n_analyses} analyses)"
            ),
            **_nuts_settings(sampler, draws, tune, chains, random_seed, target_accept),
            "joint": {
                "fits": len(self.models),
                "analyses": self.n_analyses,
                "coefficients": self.n_coefficients,
                "rows": self.n_rows,
            },
        }
        return self._split(idata, np.random.default_rng(s_rest), sampling)

    def _sample(
        self,
        draws: int,
        tune: int,
        chains: int,
        cores: int,
        seed: int,
        sampler: str,
        target_accept: float,
        progressbar: bool,
    ) -> xr.DataTree:
        import pymc as pm

        model = self.build()
        try:
            if sampler == "nutpie" and COMPILE_CACHE_SIZE > 0:
                idata = _nutpie_sample(
                    model, model, draws, tune, chains, cores, seed, float(target_accept),
                    progressbar, freeze=True,
                )  # fmt: skip
            else:
                with model:
                    idata = pm.sample(
                        draws, tune=tune, chains=chains, cores=cores, random_seed=seed,
                        nuts_sampler=sampler, progressbar=progressbar,
                        compute_convergence_checks=False,
                        nuts={"target_accept": float(target_accept)},
                    )  # fmt: skip
        except Exception as exc:  # the sampler could not start or crashed
            first = (str(exc).strip().splitlines() or [""])[0]
            raise FitError(
                f"JointFit.fit failed in {sampler} NUTS: {type(exc).__name__}: {first}. Fit the "
                "models one by one to find the one at fault"
            ) from exc
        _text_stats(idata)
        return idata

    def _split(
        self, idata: xr.DataTree, rng: np.random.Generator, sampling: dict[str, Any]
    ) -> list[Result]:
        """One result per model from the joint draws, laid out as the model's own fit."""
        from bayesmeta.results import compute_diagnostics_many

        post = idata["posterior"]
        chains, draws = int(post.sizes[D.CHAIN]), int(post.sizes[D.DRAW])

        def flat(name: str) -> np.ndarray:
            da = post[name]
            rest = [d for d in da.dims if d not in (D.CHAIN, D.DRAW)]
            arr = np.asarray(da.transpose(D.CHAIN, D.DRAW, *rest).values, dtype=float)
            return arr.reshape(chains * draws, *arr.shape[2:])

        mu, tau, z = flat(D.MU), flat(D.TAU), flat(D.Z)
        beta = flat(D.BETA) if self.n_coefficients else np.zeros((chains * draws, 0))
        units: list[list[dict[str, np.ndarray]]] = [[] for _ in self.models]
        r = c = 0
        for i, a in enumerate(self.analyses):
            k, p = a.X.shape
            units[a.fit].append(
                _unit(a, mu[:, i], tau[:, i], beta[:, c : c + p], z[:, r : r + k], rng)
            )
            r, c = r + k, c + p
        stats = idata["sample_stats"]
        library = stats.attrs.get("inference_library", sampling["sampler"])
        trees = []
        for model, fit_units in zip(self.models, units, strict=True):
            layout: dict[str, Any] = {"multi": isinstance(model, MultiOutcome)}
            if isinstance(model, MetaRegression):
                layout.update(moderators=list(model.mods), X=model.X)
            tree = to_datatree(model.table, fit_units, draws, chains, **layout)
            for name in ("posterior", "posterior_predictive", "log_likelihood"):
                tree[name].attrs["inference_library"] = library
            tree["sample_stats"] = stats.copy()
            trees.append(tree)
        # R-hat and ESS of every fit in one pass over all their variables
        diags = compute_diagnostics_many(
            trees,
            [m.spec().get("options", {}).get("parameterization") for m in self.models],
            [sampling["sampler"]] * len(trees),
        )
        return [
            model._finish(tree, dict(sampling), diag)
            for model, tree, diag in zip(self.models, trees, diags, strict=True)
        ]


def _unit(
    a: _Analysis,
    mu: np.ndarray,
    tau: np.ndarray,
    beta: np.ndarray,
    z: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """One analysis's draws in the layout of :func:`~bayesmeta.models.exact_sampler.draw`."""
    from bayesmeta.exact import predictive_draws

    b = np.column_stack([mu, beta])
    theta = mu[:, None] + beta @ a.X.T + tau[:, None] * z
    return {"b": b, "tau": tau, "z": z, "theta": theta,
            **predictive_draws(b, tau, theta, a.y, a.s, rng)}  # fmt: skip
