"""bayesmeta: Bayesian meta-analysis with PyMC, beside metafor-exact frequentist estimators.

The top level imports neither PyMC nor matplotlib; they load when a Bayesian model or a plot is
first used. Its public names load on first access, so the command line imports only what it uses.

Examples
--------
>>> from bayesmeta import EffectTable, datasets, rma
>>> tab = EffectTable.from_arms(datasets.load_bcg(), "RR",
...     columns={"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"})
>>> res = rma(tab, method="DL")
>>> round(res.tau2, 4)
0.3088
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bayesmeta._version import __version__
from bayesmeta.errors import (
    BayesMetaError,
    ConvergenceWarning,
    DataError,
    FitError,
    ModelSpecError,
    NotEstimableWarning,
)

if TYPE_CHECKING:
    from bayesmeta import checks, datasets, sensitivity
    from bayesmeta.batch import fit_many
    from bayesmeta.effect_sizes import EffectSizes, escalc
    from bayesmeta.exact import ExactPosterior, exact_posterior
    from bayesmeta.frequentist import FrequentistResult, rma, rma_mh, subgroup_analysis
    from bayesmeta.models import (
        Binomial,
        CommonEffect,
        MetaRegression,
        MultiOutcome,
        RandomEffects,
    )
    from bayesmeta.results import Result
    from bayesmeta.sensitivity import prior_sensitivity
    from bayesmeta.table import EffectTable

#: Where each public name lives; imported on first access (PEP 562), so ``import bayesmeta`` and
#: the command line load only what they use.
_LAZY = {
    "checks": "bayesmeta.checks",
    "datasets": "bayesmeta.datasets",
    "sensitivity": "bayesmeta.sensitivity",
    "fit_many": "bayesmeta.batch",
    "EffectSizes": "bayesmeta.effect_sizes",
    "escalc": "bayesmeta.effect_sizes",
    "ExactPosterior": "bayesmeta.exact",
    "exact_posterior": "bayesmeta.exact",
    "FrequentistResult": "bayesmeta.frequentist",
    "rma": "bayesmeta.frequentist",
    "rma_mh": "bayesmeta.frequentist",
    "subgroup_analysis": "bayesmeta.frequentist",
    "Binomial": "bayesmeta.models",
    "CommonEffect": "bayesmeta.models",
    "MetaRegression": "bayesmeta.models",
    "MultiOutcome": "bayesmeta.models",
    "RandomEffects": "bayesmeta.models",
    "Result": "bayesmeta.results",
    "prior_sensitivity": "bayesmeta.sensitivity",
    "EffectTable": "bayesmeta.table",
}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module 'bayesmeta' has no attribute {name!r}")
    module = importlib.import_module(where)
    value = module if where == f"bayesmeta.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BayesMetaError",
    "Binomial",
    "CommonEffect",
    "ConvergenceWarning",
    "DataError",
    "EffectSizes",
    "EffectTable",
    "ExactPosterior",
    "FitError",
    "FrequentistResult",
    "MetaRegression",
    "ModelSpecError",
    "MultiOutcome",
    "NotEstimableWarning",
    "RandomEffects",
    "Result",
    "__version__",
    "checks",
    "datasets",
    "escalc",
    "exact_posterior",
    "fit_many",
    "prior_sensitivity",
    "rma",
    "rma_mh",
    "sensitivity",
    "subgroup_analysis",
]
