"""bayesmeta: Bayesian meta-analysis with PyMC, beside metafor-exact frequentist estimators.

The top level imports neither PyMC nor matplotlib; they load when a Bayesian model or a plot is
first used.

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

from bayesmeta import checks, datasets, sensitivity
from bayesmeta._version import __version__
from bayesmeta.batch import fit_many
from bayesmeta.effect_sizes import EffectSizes, escalc
from bayesmeta.errors import (
    BayesMetaError,
    ConvergenceWarning,
    DataError,
    FitError,
    ModelSpecError,
    NotEstimableWarning,
)
from bayesmeta.exact import ExactPosterior, exact_posterior
from bayesmeta.frequentist import FrequentistResult, rma, rma_mh, subgroup_analysis
from bayesmeta.models import Binomial, CommonEffect, MetaRegression, MultiOutcome, RandomEffects
from bayesmeta.results import Result
from bayesmeta.sensitivity import prior_sensitivity
from bayesmeta.table import EffectTable

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
