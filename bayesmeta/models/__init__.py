"""Bayesian meta-analysis models built with PyMC, sharing one lazy lifecycle.

============================== ===================================================================
:class:`RandomEffects`          normal-normal random effects, one outcome
:class:`CommonEffect`           common (fixed) effect, tau = 0; the reference in LOO comparisons
:class:`MetaRegression`         random effects with study-level moderators
:class:`MultiOutcome`           every outcome of a review in one model (outcome-specific mu, tau)
:class:`Binomial`               2x2 counts with an exact binomial likelihood (log odds ratio)
============================== ===================================================================

Each model stores configuration only; ``build()`` gives the ``pm.Model`` and ``fit()`` a
:class:`~bayesmeta.results.Result`. PyMC is imported when a model is built, not on import.
"""

from __future__ import annotations

from bayesmeta.models.base import BaseModel, default_priors, default_sampler
from bayesmeta.models.binomial import Binomial
from bayesmeta.models.common_effect import CommonEffect
from bayesmeta.models.multi_outcome import MultiOutcome
from bayesmeta.models.random_effects import RandomEffects
from bayesmeta.models.regression import MetaRegression

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
]

#: Model classes by the name in their spec.
MODELS: dict[str, type[BaseModel]] = {
    cls.name: cls for cls in (RandomEffects, MetaRegression, MultiOutcome, Binomial, CommonEffect)
}
