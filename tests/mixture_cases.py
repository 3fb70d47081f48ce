"""Hard normal mixtures shared by the tests of the exact engine's mixture solvers."""

from __future__ import annotations

import numpy as np

#: Probabilities solved for: the median, a 95% interval and far tails.
HARD_PROBS = (0.5, 0.025, 0.975, 0.001, 0.999)


def hard_mixtures(
    rng: np.random.Generator, R: int, N: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """R mixtures of N components: Dirichlet(0.3) weights (many tiny), means and sds over two
    orders of magnitude (skewed, multimodal and near-degenerate rows). Returns W, m, s (R, N)."""
    W = rng.dirichlet(np.ones(N) * 0.3, size=R)
    m = rng.normal(0, 1, size=(R, N)) * rng.uniform(0.01, 3, size=(R, 1))
    s = rng.uniform(0.02, 1.5, size=(R, N))
    return W, m, s
