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
CHAIN: Final = "chain"
DRAW: Final = "draw"

# Variables
MU: Final = "mu"
TAU: Final = "tau"
THETA: Final = "theta"
THETA_NEW: Final = "theta_new"
BETA: Final = "beta"
Y: Final = "y"
