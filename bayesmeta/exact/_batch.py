"""Exact posteriors of many intercept-only meta-analyses at once (vectorised)."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import special

from bayesmeta.errors import DataError, ModelSpecError
from bayesmeta.exact import _kernels
from bayesmeta.exact._mixtures import _WMIN, _mix_hdi, _mix_quantile, _mix_sf
from bayesmeta.exact._posterior import (
    _as_prior,
    _check_kind,
    _check_proper,
    exact_posterior,  # noqa: F401 (the doctests use it)
)
from bayesmeta.exact._rule import FloatArray, _Data, _fit_grids, _Grid, _Spec, _tau_summary
from bayesmeta.priors import Flat, Prior

__all__ = ["exact_posterior_batch"]


def exact_posterior_batch(
    Y: ArrayLike,
    S: ArrayLike,
    *,
    tau_prior: Prior | str | dict[str, Any],
    mu_prior: Prior | str | dict[str, Any] | None = None,
    ci_prob: float = 0.95,
    ci_kind: str = "eti",
    rtol: float = 1e-7,
    block: int = 256,
    workers: int | None = None,
) -> pd.DataFrame:
    """Exact posteriors of many meta-analyses at once (vectorised), e.g. for simulation studies.

    Parameters
    ----------
    Y, S
        Arrays of shape (M, K_max): one meta-analysis per row, ragged ``k`` padded with NaN in
        both arrays (the same cells).
    tau_prior, mu_prior, rtol
        As in :func:`exact_posterior`, shared by all analyses.
    ci_prob, ci_kind
        Credible intervals: equal-tailed or shortest.
    block
        Analyses processed together (memory ~ block * k * nodes * 8 bytes per temporary).
        Analyses of equal ``k`` are processed together, their studies packed (no padding), so
        each row has the numbers of a lone :func:`exact_posterior` fit of that analysis.
        From ``AUTO_MIN_ANALYSES`` (2,000) analyses on, the hottest loops run compiled (numba,
        if installed; ``BAYESMETA_NUMBA=0`` keeps numpy, ``=1`` compiles always); the numbers
        agree with numpy's to 1e-12.
    workers
        Threads that fit the blocks (default: one per core available to this process; 1 runs
        them in this thread). The compiled loops and numpy's array operations release the GIL,
        so the blocks run in parallel; each block is independent of the others, so the numbers
        are the same bit for bit whatever the number of threads.

    Returns
    -------
    pandas.DataFrame
        One row per analysis: ``k``, ``log_marginal_likelihood`` (NaN for improper priors),
        ``prob_mu_gt_0``, and for ``mu``, ``tau``, ``tau2``, ``theta_new`` the columns
        ``<param>_mean``, ``_sd``, ``_median``, ``_ci_lb``, ``_ci_ub`` (the credible
        interval, named like every interval of the package); ``n_nodes``.
        Each row equals :func:`exact_posterior` on that analysis (same rule, same numbers).

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[0.1, 0.3, -0.2], [0.5, 0.4, np.nan]])
    >>> S = np.array([[0.1, 0.2, 0.15], [0.2, 0.3, np.nan]])
    >>> out = exact_posterior_batch(Y, S, tau_prior="half_normal(0.5)")
    >>> out["k"].tolist()
    [3, 2]
    >>> one = exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)")
    >>> bool(np.isclose(out["mu_mean"].iloc[0], one.mu.mean))
    True
    """
    _check_kind(ci_prob, ci_kind)
    Ya = np.asarray(Y, dtype=float)
    Sa = np.asarray(S, dtype=float)
    if Ya.ndim == 1:
        Ya, Sa = Ya[None, :], Sa[None, :]
    if Ya.ndim != 2 or Ya.shape != Sa.shape:
        raise DataError(f"Y and S must be 2-D with equal shapes, got {Ya.shape} and {Sa.shape}")
    present = ~np.isnan(Ya)
    if np.any(present != ~np.isnan(Sa)):
        r, c = np.argwhere(present != ~np.isnan(Sa))[0]
        raise DataError(
            f"Y and S must be NaN in the same cells; row {r + 1}, column {c + 1} (1-based) differ",
            rows=[int(r)],
            column="S",
        )
    if np.any(present & ~np.isfinite(Ya)):
        r = int(np.argwhere(present & ~np.isfinite(Ya))[0, 0])
        raise DataError(f"Y must be finite; row {r + 1} (1-based) is not", rows=[r], column="Y")
    if np.any(present & ~((Sa > 0) & np.isfinite(Sa))):
        r = int(np.argwhere(present & ~((Sa > 0) & np.isfinite(Sa)))[0, 0])
        raise DataError(
            f"S must be finite and > 0; row {r + 1} (1-based) is not", rows=[r], column="S"
        )
    kk = present.sum(1)
    if np.any(kk == 0):
        r = int(np.flatnonzero(kk == 0)[0])
        raise DataError(f"row {r + 1} (1-based) has no studies", rows=[r], column="Y")
    tp = _as_prior(tau_prior, "tau", "tau_prior")
    mp = _as_prior(Flat() if mu_prior is None else mu_prior, "mu", "mu_prior")
    spec = _Spec(tp, mp)
    _check_proper(spec, kk, " for some analyses")
    Mtot = Ya.shape[0]
    _kernels.ensure(Mtot)  # compiled loops for a large batch (numba, if installed)
    cols = ["k", "log_marginal_likelihood", "prob_mu_gt_0"]
    for p in ("mu", "tau", "tau2", "theta_new"):
        cols += [f"{p}_{c}" for c in ("mean", "sd", "median", "ci_lb", "ci_ub")]
    cols.append("n_nodes")
    out = np.full((Mtot, len(cols)), np.nan)
    ci = {c: i for i, c in enumerate(cols)}
    out[:, ci["k"]] = kk
    proper = spec.proper
    a = (1 - ci_prob) / 2
    # analyses of equal k together, studies packed to the left: no padding, and every row's
    # numbers are those of a lone fit of that analysis
    order = np.argsort(~present, axis=1, kind="stable")
    by_k = np.argsort(kk, kind="stable")
    bounds = np.flatnonzero(np.diff(kk[by_k])) + 1
    blocks = [
        grp[b0 : b0 + block] for grp in np.split(by_k, bounds) for b0 in range(0, grp.size, block)
    ]

    def fit_block(sl: NDArray[np.intp]) -> None:
        k = int(kk[sl[0]])
        cols_ = order[sl, :k]
        ys = np.take_along_axis(Ya[sl], cols_, axis=1)
        ss = np.take_along_axis(Sa[sl], cols_, axis=1)
        data = _Data(ys, ss * ss, np.ones(ys.shape), kk[sl])
        with np.errstate(all="ignore"):  # numpy's error state is per thread
            for idx, g in _fit_grids(data, spec, rtol):
                _batch_summaries(g, out, sl[idx], ci, spec, proper, ci_prob, ci_kind, a)

    _run_blocks(fit_block, blocks, _n_threads(workers, len(blocks)))
    df = pd.DataFrame(out, columns=cols)
    df["k"] = df["k"].astype(int)
    df["n_nodes"] = df["n_nodes"].astype(int)
    return df


def _n_threads(workers: int | None, n_blocks: int) -> int:
    """Threads for ``n_blocks`` blocks: ``workers`` (default: the cores this process may use)."""
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        workers = workers or os.cpu_count() or 1
    elif isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ModelSpecError(f"workers must be a positive integer or None, got {workers!r}")
    return max(1, min(workers, n_blocks))


def _run_blocks(fit: Callable[[Any], None], blocks: list[Any], threads: int) -> None:
    """``fit`` each block, in this thread or on a pool (errors re-raised here)."""
    if threads == 1:
        for b in blocks:
            fit(b)
        return
    with ThreadPoolExecutor(threads, thread_name_prefix="bayesmeta-exact") as pool:
        for _ in pool.map(fit, blocks):
            pass


def _batch_summaries(
    g: _Grid,
    out: FloatArray,
    rows: NDArray[np.intp],
    ci: dict[str, int],
    spec: _Spec,
    proper: bool,
    ci_prob: float,
    ci_kind: str,
    a: float,
) -> None:
    M = rows.size
    k = g.data.k
    e1 = spec.moment_exists(1, k)
    e2 = spec.moment_exists(2, k)
    normal = spec.p0 > 0
    out[rows, ci["n_nodes"]] = g.t.shape[1]
    if proper:
        out[rows, ci["log_marginal_likelihood"]] = g.logZ
    # mixtures: mu and theta_new stacked
    tau = g.tau
    Mx = np.vstack([g.muhat, g.muhat])
    Sx = np.vstack([np.sqrt(g.V), np.sqrt(g.V + tau * tau)])
    Wx = np.vstack([g.W, g.W])
    # as ExactPosterior.summary: components of weight <= _WMIN left out of the quantiles
    Wq = np.where(Wx > _WMIN, Wx, 0.0)
    qs = _quantiles(Wx, Mx, Sx, np.array([0.5, a, 1 - a]))
    iv = _mix_hdi(Wq, Mx, Sx, ci_prob, qs[:, 1:]) if ci_kind == "hdi" else qs[:, 1:]
    mean = (Wx * Mx).sum(1)
    sd = np.sqrt((Wx * (Sx**2 + (Mx - mean[:, None]) ** 2)).sum(1))
    has_mean = np.concatenate([e1 | normal, e1])
    has_var = np.concatenate([e2 | normal, e2])
    mean = np.where(has_mean, mean, np.nan)
    sd = np.where(has_var, sd, np.inf)
    for j, p in enumerate(("mu", "theta_new")):
        r = slice(j * M, (j + 1) * M)
        out[rows, ci[f"{p}_mean"]] = mean[r]
        out[rows, ci[f"{p}_sd"]] = sd[r]
        out[rows, ci[f"{p}_median"]] = qs[r, 0]
        out[rows, ci[f"{p}_ci_lb"]] = iv[r, 0]
        out[rows, ci[f"{p}_ci_ub"]] = iv[r, 1]
    out[rows, ci["prob_mu_gt_0"]] = _mix_sf(g.W, g.muhat, np.sqrt(g.V), np.zeros((M, 1)))[:, 0]
    # tau and tau2
    ts = _tau_summary(g, ci_prob, ci_kind, modes=False)
    for p in ("tau", "tau2"):
        for c in ("mean", "sd", "median"):
            out[rows, ci[f"{p}_{c}"]] = ts[f"{p}_{c}"]
        out[rows, ci[f"{p}_ci_lb"]] = ts[f"{p}_lower"]
        out[rows, ci[f"{p}_ci_ub"]] = ts[f"{p}_upper"]


def _quantiles(W: FloatArray, m: FloatArray, s: FloatArray, q: FloatArray) -> FloatArray:
    """Quantiles q (Q,) of each row's mixture (R, Q), components of weight <= ``_WMIN`` left out.

    Compiled (if loaded): the single summary's kernel ``mix_table`` without modes, so a batch
    row and a lone :func:`exact_posterior` summary solve alike; else ``_mix_quantile``.
    """
    kern = _kernels.loaded()
    if kern is None:
        Wq = np.where(W > _WMIN, W, 0.0)
        return _mix_quantile(Wq, m, s, np.tile(q, (W.shape[0], 1)))
    c = np.ascontiguousarray
    return kern.mix_table(c(W), c(m), c(s), q, special.ndtri(q), _WMIN, False)[2]
