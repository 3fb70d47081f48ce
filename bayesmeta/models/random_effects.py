r"""The normal-normal random-effects model (one outcome).

.. math::

    y_i \mid \theta_i &\sim N(\theta_i, s_i^2), \qquad i = 1, \dots, k \\
    \theta_i &= \mu + \tau z_i, \quad z_i \sim N(0, 1) \quad \text{(non-centred)} \\
    \theta_{\text{new}} &= \mu + \tau z_{\text{new}}, \quad z_{\text{new}} \sim N(0, 1) \\
    \mu &\sim p(\mu), \quad \tau \sim p(\tau)

with the standard errors :math:`s_i` treated as known. The centred parameterisation draws
:math:`\theta_i \sim N(\mu, \tau^2)` directly; it samples badly when the data say little about
the :math:`\theta_i` (small :math:`\tau` against the :math:`s_i`) and is offered for comparison.

See ``models/random-effects/README.md`` for the default priors and their justification.

See also: R bayesmeta::bayesmeta; metafor::rma (the frequentist counterpart).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from bayesmeta import _dims as D
from bayesmeta.errors import ModelSpecError
from bayesmeta.models.base import Z_NEW, BaseModel, Z, default_priors
from bayesmeta.models.exact_sampler import ExactUnit, location_obstacle
from bayesmeta.table import EffectTable

__all__ = ["PARAMETERIZATIONS", "RandomEffects", "check_parameterization"]

#: Parameterisations of the study effects.
PARAMETERIZATIONS: tuple[str, ...] = ("noncentered", "centered")


def _single_outcome(table: EffectTable, model: str) -> None:
    if len(table.outcomes) != 1:
        raise ModelSpecError(
            f"{model} takes one outcome but the table holds {len(table.outcomes)} "
            f"({', '.join(table.outcomes)}); fit table.for_outcome(name), or all at once with "
            "MultiOutcome(table)"
        )


def check_parameterization(value: str) -> str:
    """Return ``value`` if it is a known parameterisation, else raise :class:`ModelSpecError`.

    Examples
    --------
    >>> check_parameterization("centered")
    'centered'
    """
    if value not in PARAMETERIZATIONS:
        raise ModelSpecError(f"parameterization must be one of {PARAMETERIZATIONS}, got {value!r}")
    return value


def _measure(table: EffectTable) -> str:
    measures = table.data["measure"].unique()
    if len(measures) != 1:
        raise ModelSpecError(f"the outcome mixes measures {list(measures)}; use one measure")
    return str(measures[0])


class RandomEffects(BaseModel):
    """Bayesian random-effects meta-analysis of one outcome.

    Parameters
    ----------
    table
        An :class:`~bayesmeta.table.EffectTable` holding one outcome.
    priors
        Overrides of the default priors, keys ``"mu"`` and ``"tau"``; values are
        :class:`~bayesmeta.priors.Prior` objects or specs like ``"half_normal(0.5)"``.
        Defaults depend on the table's measure (see :func:`~bayesmeta.models.base.default_priors`).
    parameterization
        ``"noncentered"`` (default) or ``"centered"``.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable
    >>> tab = EffectTable(pd.DataFrame({"study": ["a", "b", "c"], "yi": [0.1, 0.3, 0.2],
    ...                                 "vi": [0.01, 0.02, 0.015]}), measure="SMD")
    >>> model = RandomEffects(tab, priors={"tau": "half_normal(0.3)"})
    >>> model.priors
    {'mu': Normal(mu=0, sigma=1), 'tau': HalfNormal(scale=0.3)}
    >>> model.spec()["options"]
    {'parameterization': 'noncentered'}

    See also: R bayesmeta::bayesmeta.
    """

    name: ClassVar[str] = "random_effects"

    def __init__(
        self,
        table: EffectTable,
        *,
        priors: Mapping[str, Any] | None = None,
        parameterization: str = "noncentered",
    ) -> None:
        if isinstance(table, EffectTable):
            _single_outcome(table, type(self).__name__)
            self.measure = _measure(table)
        super().__init__(table, priors=priors)
        self.parameterization = check_parameterization(parameterization)

    def _default_priors(self) -> dict[str, Any]:
        given = [v for v in (D.MU, D.TAU) if self._given(v)]
        return dict(
            default_priors(self.measure, self.table.sei, self.table.sample_sizes(), given=given)
        )

    def _options(self) -> dict[str, Any]:
        return {"parameterization": self.parameterization}

    def _coords(self) -> dict[str, list[Any]]:
        return {D.STUDY: self.table.studies}

    # ------------------------------------------------------------------ exact engine
    def _coefficient_priors(self) -> list[Any]:
        """Priors of the location coefficients, intercept first."""
        return [self.priors[D.MU]]

    def _design(self) -> np.ndarray:
        """Design matrix of the exact engine, the intercept first."""
        return np.ones((self.table.k, 1))

    def _exact_obstacle(self) -> str | None:
        return location_obstacle(self._coefficient_priors())

    def _exact_units(self) -> list[tuple[str, ExactUnit]]:
        t = self.table
        unit = ExactUnit(
            t.yi, t.sei, self._design(), self._coefficient_priors(), self.priors[D.TAU]
        )
        return [(t.outcomes[0], unit)]

    def _linear_predictor(self, mu: Any) -> Any:
        """Return the mean of the study effects (``mu``; meta-regression adds ``X @ beta``)."""
        return mu

    def _define(self) -> None:
        import pymc as pm

        priors = self.priors
        sei = pm.Data(D.SEI, self.table.sei, dims=D.STUDY)
        mu = priors[D.MU].to_pymc(D.MU)
        tau = priors[D.TAU].to_pymc(D.TAU)
        center = self._linear_predictor(mu)
        if self.parameterization == "noncentered":
            z = pm.Normal(Z, 0.0, 1.0, dims=D.STUDY)
            theta = pm.Deterministic(D.THETA, center + tau * z, dims=D.STUDY)
        else:
            theta = pm.Normal(D.THETA, center, tau, dims=D.STUDY)
        z_new = pm.Normal(Z_NEW, 0.0, 1.0)
        pm.Deterministic(D.THETA_NEW, mu + tau * z_new)
        pm.Normal(D.Y, theta, sei, observed=self.table.yi, dims=D.STUDY)
