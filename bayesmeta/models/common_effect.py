r"""The common-effect (fixed-effect) model: every study estimates the same effect.

.. math::

    y_i \mid \mu &\sim N(\mu, s_i^2), \qquad i = 1, \dots, k \\
    \mu &\sim p(\mu)

with the standard errors :math:`s_i` treated as known. It is the random-effects model with
:math:`\tau = 0`; the posterior stores ``tau`` (identically 0), ``theta`` (every study's true
effect, equal to ``mu``) and ``theta_new`` (= ``mu``) as deterministic variables so that
:class:`~bayesmeta.results.Result`'s summaries read the same for both models. Its main use is as
the reference in a LOO comparison (:func:`bayesmeta.checks.compare_models`): is the extra
flexibility of a random-effects model supported by out-of-sample prediction?

See also: metafor::rma(method = "EE"); R bayesmeta::bayesmeta with ``tau.prior`` concentrated at
0.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from bayesmeta import _dims as D
from bayesmeta.models.base import BaseModel, default_priors
from bayesmeta.models.random_effects import _measure, _single_outcome
from bayesmeta.table import EffectTable

__all__ = ["CommonEffect"]


class CommonEffect(BaseModel):
    """Bayesian common-effect meta-analysis of one outcome (``tau = 0``).

    Parameters
    ----------
    table
        An :class:`~bayesmeta.table.EffectTable` holding one outcome.
    priors
        Override of the default prior on ``"mu"`` (the only parameter); a
        :class:`~bayesmeta.priors.Prior` or a spec such as ``"normal(0, 1)"``. The default
        depends on the measure, as for :class:`~bayesmeta.models.RandomEffects`.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable
    >>> tab = EffectTable(pd.DataFrame({"study": ["a", "b", "c"], "yi": [0.1, 0.3, 0.2],
    ...                                 "vi": [0.01, 0.02, 0.015]}), measure="SMD")
    >>> CommonEffect(tab).priors
    {'mu': Normal(mu=0, sigma=1)}
    >>> CommonEffect(tab, priors={"tau": "half_normal(0.5)"})
    Traceback (most recent call last):
    ...
    bayesmeta.errors.ModelSpecError: unknown prior 'tau' for CommonEffect; known: mu

    See also: metafor::rma(method = "EE").
    """

    name: ClassVar[str] = "common_effect"
    prior_names: ClassVar[dict[str, str]] = {D.MU: "mu"}

    def __init__(self, table: EffectTable, *, priors: Mapping[str, Any] | None = None) -> None:
        if isinstance(table, EffectTable):
            _single_outcome(table, type(self).__name__)
            self.measure = _measure(table)
        super().__init__(table, priors=priors)

    def _exact_obstacle(self) -> str | None:
        return "a model without tau (the exact engine integrates over tau)"

    def _default_priors(self) -> dict[str, Any]:
        given = [D.TAU, *([D.MU] if self._given(D.MU) else [])]
        n = self.table.sample_sizes()
        return dict(default_priors(self.measure, self.table.sei, n, given=given))

    def _coords(self) -> dict[str, list[Any]]:
        return {D.STUDY: self.table.studies}

    def _define(self) -> None:
        import pymc as pm
        import pytensor.tensor as pt

        sei = pm.Data(D.SEI, self.table.sei, dims=D.STUDY)
        mu = self.priors[D.MU].to_pymc(D.MU)
        pm.Deterministic(D.TAU, pt.zeros_like(mu))
        pm.Deterministic(D.THETA, mu * pt.ones_like(sei), dims=D.STUDY)
        pm.Deterministic(D.THETA_NEW, mu + 0.0)
        pm.Normal(D.Y, mu, sei, observed=self.table.yi, dims=D.STUDY)
