r"""Every outcome of a review in one model: outcome-specific mean and heterogeneity.

Rows of the table are indexed by the ``estimate`` dimension; :math:`o(j)` is the outcome of row
:math:`j`:

.. math::

    y_j \mid \theta_j &\sim N(\theta_j, s_j^2) \\
    \theta_j &= \mu_{o(j)} + \tau_{o(j)} z_j, \quad z_j \sim N(0, 1) \\
    \theta_{\text{new}, o} &= \mu_o + \tau_o z_{\text{new}, o}

with independent priors on :math:`\mu_o` and :math:`\tau_o`, so each outcome's posterior is the
one its own random-effects model would give; fitting them together costs one compilation instead
of one per outcome. With ``pool_tau=True`` the heterogeneities share information:
:math:`\log \tau_o = m + s\,\eta_o`, :math:`\eta_o \sim N(0, 1)`, with priors on :math:`m`
(``tau_log_mean``) and :math:`s` (``tau_log_sd``). Pooling needs one effect measure.

Estimates of one study on different outcomes are treated as independent (within-study
correlations are rarely reported).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from bayesmeta import _dims as D
from bayesmeta.errors import ModelSpecError
from bayesmeta.models.base import (
    Z_NEW,
    BaseModel,
    Z,
    _as_prior,
    _check_target,
    default_priors,
    vector_prior,
)
from bayesmeta.models.exact_sampler import ExactUnit, location_obstacle
from bayesmeta.models.random_effects import PARAMETERIZATIONS
from bayesmeta.priors import HalfNormal, Normal, Prior
from bayesmeta.table import EffectTable

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["ESTIMATE_OUTCOME", "ESTIMATE_STUDY", "MultiOutcome"]

#: Non-index coordinates along ``estimate`` naming each row's study and outcome.
ESTIMATE_STUDY = "estimate_study"
ESTIMATE_OUTCOME = "estimate_outcome"
TAU_LOG_MEAN = "tau_log_mean"
TAU_LOG_SD = "tau_log_sd"
ETA = "tau_z"


class MultiOutcome(BaseModel):
    """All outcomes of a table in one random-effects model.

    Parameters
    ----------
    table
        An :class:`~bayesmeta.table.EffectTable` with one or more outcomes.
    priors
        ``"mu"`` and ``"tau"``: one prior for every outcome or a mapping outcome -> prior
        (one family per parameter across outcomes). Defaults follow each outcome's measure. With
        ``pool_tau=True``: ``"tau_log_mean"`` (default ``Normal(log(0.674 s), 1)``, where ``s``
        is the measure's default half-normal scale, so the median matches) and ``"tau_log_sd"``
        (default ``HalfNormal(0.5)``) instead of ``"tau"``.
    parameterization
        ``"noncentered"`` (default) or ``"centered"``.
    pool_tau
        Partially pool ``log(tau)`` across outcomes.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable
    >>> df = pd.DataFrame({"study": ["a", "b", "a", "b"], "outcome": ["x", "x", "y", "y"],
    ...                    "yi": [0.1, 0.3, -0.2, 0.1], "vi": [0.01, 0.02, 0.02, 0.03]})
    >>> MultiOutcome(EffectTable(df, measure="SMD")).priors["tau"]
    {'x': HalfNormal(scale=0.5), 'y': HalfNormal(scale=0.5)}
    """

    name: ClassVar[str] = "multi_outcome"
    prior_names: ClassVar[dict[str, str]] = {
        D.MU: "mu",
        D.TAU: "tau",
        TAU_LOG_MEAN: "mu",
        TAU_LOG_SD: "tau",
    }

    def __init__(
        self,
        table: EffectTable,
        *,
        priors: Mapping[str, Any] | None = None,
        parameterization: str = "noncentered",
        pool_tau: bool = False,
    ) -> None:
        if parameterization not in PARAMETERIZATIONS:
            raise ModelSpecError(
                f"parameterization must be one of {PARAMETERIZATIONS}, got {parameterization!r}"
            )
        self.parameterization = parameterization
        self.pool_tau = bool(pool_tau)
        if isinstance(table, EffectTable):
            self.outcomes: list[str] = table.outcomes
            self.measures = {
                o: _one_measure(t.data["measure"].unique(), o) for o, t in table.by_outcome()
            }
            if self.pool_tau and len(set(self.measures.values())) > 1:
                raise ModelSpecError(
                    f"pool_tau=True needs one effect measure, the outcomes have {self.measures}; "
                    "heterogeneities on different scales cannot share a distribution"
                )
        super().__init__(table, priors=priors)
        wrong = [D.TAU] if self.pool_tau else [TAU_LOG_MEAN, TAU_LOG_SD]
        given = [k for k in wrong if k in self.user_priors]
        if given:
            raise ModelSpecError(
                f"priors {given} do not apply with pool_tau={self.pool_tau}; "
                + (
                    "with pooling, set 'tau_log_mean' and 'tau_log_sd'"
                    if self.pool_tau
                    else "set 'tau' (or pool_tau=True)"
                )
            )

    # ------------------------------------------------------------------ priors
    def _parse_prior(self, key: str, value: Any) -> Any:
        if key in (D.MU, D.TAU) and isinstance(value, Mapping) and "family" not in value:
            unknown = [o for o in value if o not in self.outcomes]
            if unknown:
                raise ModelSpecError(
                    f"priors[{key!r}] names outcome(s) {unknown}; the table has {self.outcomes}"
                )
            out = {}
            for o, v in value.items():
                p = _as_prior(f"{key}[{o}]", v)
                _check_target(f"{key}[{o}]", p, self.prior_names[key])
                out[str(o)] = p
            return out
        return super()._parse_prior(key, value)

    def _default_priors(self) -> dict[str, Any]:
        per = {}
        for o, t in self.table.by_outcome():
            given = [v for v in (D.MU, D.TAU) if self._given(v, o)]
            if self.pool_tau:  # tau comes from the pooled distribution, not a per-outcome prior
                given = [v for v in given if v != D.TAU]
            per[o] = default_priors(self.measures[o], t.sei, t.sample_sizes(), given=given)
        out: dict[str, Any] = {D.MU: {o: per[o][D.MU] for o in self.outcomes if D.MU in per[o]}}
        if self.pool_tau:
            tau0 = per[self.outcomes[0]][D.TAU]
            scale = tau0.scale if isinstance(tau0, HalfNormal) else 1.0
            out[TAU_LOG_MEAN] = Normal(round(math.log(0.674 * scale), 3), 1.0)
            out[TAU_LOG_SD] = HalfNormal(0.5)
        else:
            out[D.TAU] = {o: per[o][D.TAU] for o in self.outcomes if D.TAU in per[o]}
        return out

    @property
    def priors(self) -> dict[str, Any]:
        """The priors in use, ``mu`` and ``tau`` as dicts outcome -> prior.

        The class defaults updated with the user's; a single prior given for ``mu`` or ``tau``
        applies to every outcome, a dict to the outcomes it names.

        Examples
        --------
        >>> import pandas as pd
        >>> from bayesmeta import EffectTable
        >>> df = pd.DataFrame({"study": ["a", "b", "a", "b"], "outcome": ["x", "x", "y", "y"],
        ...                    "yi": [0.1, 0.3, -0.2, 0.1], "vi": [0.01, 0.02, 0.02, 0.03]})
        >>> tab = EffectTable(df, measure="SMD")
        >>> MultiOutcome(tab, priors={"tau": {"y": "half_normal(1)"}}).priors["tau"]
        {'x': HalfNormal(scale=0.5), 'y': HalfNormal(scale=1)}
        """
        merged = self._default_priors()
        for key, value in self.user_priors.items():
            if key in (D.MU, D.TAU):
                if isinstance(value, Prior):
                    merged[key] = dict.fromkeys(self.outcomes, value)
                else:
                    merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
        return merged

    def _options(self) -> dict[str, Any]:
        return {"parameterization": self.parameterization, "pool_tau": self.pool_tau}

    # ------------------------------------------------------------------ exact engine
    def _exact_obstacle(self) -> str | None:
        if self.pool_tau:
            return "pool_tau=True (the outcomes' heterogeneities share one distribution)"
        return location_obstacle(list(self.priors[D.MU].values()))

    def _exact_units(self) -> list[tuple[str, ExactUnit]]:
        pri = self.priors
        return [
            (o, ExactUnit(t.yi, t.sei, np.ones((t.k, 1)), [pri[D.MU][o]], pri[D.TAU][o]))
            for o, t in ((o, self.table.for_outcome(o)) for o in self.outcomes)
        ]

    def _exact_layout(self) -> dict[str, Any]:
        return {"multi": True}

    # ------------------------------------------------------------------ PyMC
    def _coords(self) -> dict[str, list[Any]]:
        return {D.OUTCOME: list(self.outcomes), D.ESTIMATE: list(range(self.table.k))}

    def _define(self) -> None:
        import pymc as pm

        priors = self.priors
        index = {o: i for i, o in enumerate(self.outcomes)}
        idx = np.array([index[o] for o in self.table.data["outcome"]], dtype=int)
        sei = pm.Data(D.SEI, self.table.sei, dims=D.ESTIMATE)
        mu = vector_prior(D.MU, [priors[D.MU][o] for o in self.outcomes], D.OUTCOME)
        if self.pool_tau:
            m = priors[TAU_LOG_MEAN].to_pymc(TAU_LOG_MEAN)
            s = priors[TAU_LOG_SD].to_pymc(TAU_LOG_SD)
            eta = pm.Normal(ETA, 0.0, 1.0, dims=D.OUTCOME)
            tau = pm.Deterministic(D.TAU, pm.math.exp(m + s * eta), dims=D.OUTCOME)
        else:
            tau = vector_prior(D.TAU, [priors[D.TAU][o] for o in self.outcomes], D.OUTCOME)
        if self.parameterization == "noncentered":
            z = pm.Normal(Z, 0.0, 1.0, dims=D.ESTIMATE)
            theta = pm.Deterministic(D.THETA, mu[idx] + tau[idx] * z, dims=D.ESTIMATE)
        else:
            theta = pm.Normal(D.THETA, mu[idx], tau[idx], dims=D.ESTIMATE)
        z_new = pm.Normal(Z_NEW, 0.0, 1.0, dims=D.OUTCOME)
        pm.Deterministic(D.THETA_NEW, mu + tau * z_new, dims=D.OUTCOME)
        pm.Normal(D.Y, theta, sei, observed=self.table.yi, dims=D.ESTIMATE)

    def _post_process(self, idata: xr.DataTree) -> None:
        labels = {
            ESTIMATE_STUDY: (D.ESTIMATE, self.table.data["study"].astype(str).to_numpy()),
            ESTIMATE_OUTCOME: (D.ESTIMATE, self.table.data["outcome"].astype(str).to_numpy()),
        }
        for name in list(idata.children):
            node = idata[name]
            if D.ESTIMATE in node.dims:
                idata[name] = node.to_dataset().assign_coords(labels)


def _one_measure(values: Any, outcome: str) -> str:
    vals = list(values)
    if len(vals) != 1:
        raise ModelSpecError(f"outcome {outcome!r} mixes measures {vals}; use one per outcome")
    return str(vals[0])
