"""Helpers shared by the benchmark modules: timing, peak memory, JSON hand-off to run.py."""

from __future__ import annotations

import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

MARK = "BENCH-JSON:"


def timings(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn``."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def peak_rss_mb() -> float:
    """Peak resident set size of this process, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def emit(result: dict[str, Any]) -> None:
    """Print the result for run.py (one marked JSON line on stdout)."""
    sys.stdout.write(MARK + json.dumps(result) + "\n")
    sys.stdout.flush()


def simulate(n: int, k_lo: int, k_hi: int, seed: int) -> tuple[Any, Any, Any]:
    """n meta-analyses with k ~ U{k_lo..k_hi}: (Y, S) NaN-padded and a long table."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    ks = rng.integers(k_lo, k_hi + 1, size=n)
    K = int(ks.max())
    S = rng.uniform(0.1, 0.5, size=(n, K))
    mu = rng.normal(0.2, 0.2, size=(n, 1))
    tau = np.abs(rng.normal(0, 0.2, size=(n, 1)))
    Y = rng.normal(mu, np.sqrt(S**2 + tau**2))
    mask = np.arange(K)[None, :] < ks[:, None]
    Y[~mask] = np.nan
    S[~mask] = np.nan
    rows, cols = np.nonzero(mask)
    long = pd.DataFrame({"meta_analysis": rows, "yi": Y[rows, cols], "vi": S[rows, cols] ** 2})
    return Y, S, long
