"""Names of dimensions and variables, defined once for the whole package.

These match R's bayesmeta and ArviZ's eight-schools example, which users compare against.
"""

from __future__ import annotations

from typing import Final

# Dimensions
STUDY: Final = "study"
OUTCOME: Final = "outcome"
ESTIMATE: Final = "estimate"  # one row of an EffectTable
MODERATOR: Final = "moderator"
ARM: Final = "arm"  # the two arms of a 2x2 table (binomial model)
CHAIN: Final = "chain"
DRAW: Final = "draw"

# Variables
MU: Final = "mu"
TAU: Final = "tau"
THETA: Final = "theta"
THETA_NEW: Final = "theta_new"
BETA: Final = "beta"
Y: Final = "y"
Z: Final = "z"  # the standard-normal study effects of the non-centred parameterisation
Z_NEW: Final = "z_new"  # ... and of a new study

# Data variables of the ``constant_data`` group
SEI: Final = "sei"  # standard errors of the estimates
X: Final = "X"  # moderator matrix as used by the model (no intercept), dims (study, moderator)
N: Final = "n"  # arm totals of a binomial fit, dims (study, arm)

#: The arms of a 2x2 table, in the order of the ``arm`` dimension.
ARMS: Final = ("treatment", "control")
