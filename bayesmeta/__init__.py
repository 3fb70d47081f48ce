"""bayesmeta: Bayesian meta-analysis with PyMC, beside metafor-exact frequentist estimators."""

from __future__ import annotations

__version__ = "0.1.0"
