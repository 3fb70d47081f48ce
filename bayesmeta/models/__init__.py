"""Bayesian meta-analysis models built with PyMC, sharing one lazy lifecycle.

============================== ===================================================================
:class:`RandomEffects`          normal-normal random effects, one outcome
:class:`CommonEffect`           common (fixed) effect, tau = 0; the reference in LOO comparisons
:class:`MetaRegression`         random effects with study-level moderators
:class:`MultiOutcome`           every outcome of a review in one model (outcome-specific mu, tau)
:class:`Binomial`               2x2 counts with a binomial likelihood (log odds ratio)
============================== ===================================================================

Each model stores configuration only; ``build()`` gives the ``pm.Model`` and
``fit(engine="auto" | "exact" | "nuts")`` a :class:`~bayesmeta.results.Result`. PyMC is imported
when a model is built, not on import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bayesmeta._registry import registered
from bayesmeta.models.base import BaseModel, default_priors, default_sampler
from bayesmeta.models.binomial import Binomial
from bayesmeta.models.common_effect import CommonEffect
from bayesmeta.models.multi_outcome import MultiOutcome
from bayesmeta.models.random_effects import RandomEffects
from bayesmeta.models.regression import MetaRegression

if TYPE_CHECKING:
    from bayesmeta.results import Result

__all__ = [
    "MODELS",
    "BaseModel",
    "Binomial",
    "CommonEffect",
    "MetaRegression",
    "MultiOutcome",
    "RandomEffects",
    "default_priors",
    "default_sampler",
    "from_result",
]

#: Model classes by the name in their spec.
MODELS: dict[str, type[BaseModel]] = registered()


def from_result(result: Result) -> BaseModel:
    """Return the (unfitted) model a result was fitted with, rebuilt from its spec and table.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable, RandomEffects
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
    ...                                 "vi": [0.01, 0.02, 0.015, 0.03]}), measure="SMD")
    >>> res = RandomEffects(tab, priors={"tau": "half_cauchy(0.5)"}).fit(100, random_seed=1)
    >>> from_result(res)
    RandomEffects(k=4, mu=Normal(mu=0, sigma=1), tau=HalfCauchy(scale=0.5))
    """
    return BaseModel.from_spec(result.spec, result.table)
