r"""Many meta-analyses at once: a long table in, one tidy row per meta-analysis out.

:func:`fit_many` fits every meta-analysis of a long table (one row per estimate, a
``meta_analysis`` key naming the analysis each row belongs to): a simulation study, or every
outcome of many reviews. Each analysis gets the frequentist summaries of :func:`~bayesmeta.rma`
(metafor's field names) and/or the exact Bayesian summaries of
:func:`~bayesmeta.exact.exact_posterior_batch`; no posterior is kept, only its summary row, so
memory stays bounded by one chunk of analyses.

Cores, all plain numpy:

- ``"EE"`` and ``"DL"`` are closed-form and vectorised over all analyses with the same ``k``
  (no padding, so a row's numbers do not depend on which other analyses share its chunk).
- The iterative estimators (``"REML"``, ``"ML"``, ``"PM"``, ``"HE"``, ``"SJ"``) call
  :func:`~bayesmeta.rma` once per analysis, so they give exactly its numbers, at about 1-7 ms
  per analysis: for hundreds of thousands of analyses prefer ``"DL"`` and/or ``"exact"``.
- ``"exact"`` runs the vectorised quadrature engine, one call per chunk, whose blocks of
  analyses with equal ``k`` run on ``workers`` threads (the compiled loops and numpy release
  the GIL; the numbers do not depend on the thread count); for a chunk of 2,000 analyses or
  more its hottest loops run compiled (numba, if installed; same numbers to 1e-12).

Where it runs: in this process by default (no Dask needed), or on a Dask cluster when
``scheduler`` is given (an address such as ``"tcp://10.0.0.5:8786"`` or a
``distributed.Client``). Then the table becomes a Dask DataFrame partitioned by the key
(``dask.dataframe.from_pandas`` on the sorted key, or ``shuffle(on=key)`` for a Dask DataFrame
input), each partition is fitted by ``map_partitions`` on the workers (one thread per task: the
cluster's worker threads are the parallelism), and each partition's summary rows come straight
back to the caller. Local and distributed runs give the same numbers (to 1e-12: the compiled
kernels, where a chunk loads them, differ from numpy only in rounding).

Running 1,000,000 meta-analyses on a cluster
---------------------------------------------
Write the long table as Parquet where the workers can read it (shared disk or object store),
then hand a Dask DataFrame to :func:`fit_many`; the rows never pass through the client::

    import dask.dataframe as dd
    from distributed import Client
    from bayesmeta.batch import fit_many

    client = Client("tcp://scheduler:8786")          # or dask_jobqueue / dask_kubernetes
    frame = dd.read_parquet("s3://bucket/sim/*.parquet", columns=["meta_analysis", "yi", "vi"])
    out = fit_many(frame, method=["DL", "exact"], tau_prior="half_normal(0.5)",
                   scheduler=client)                # pandas DataFrame, one row per analysis
    out.to_parquet("results.parquet")

With ``chunk_size`` analyses per partition (default 20,000), 1,000,000 analyses make 50 tasks.
A Dask DataFrame indexed by the key with known divisions (as above with
``dd.read_parquet(..., index="meta_analysis", calculate_divisions=True)`` of a table written
sorted by the key) is fitted partition by partition without a shuffle. Timings on a 2-core
machine are in ``docs/benchmarks.md``; the work is embarrassingly parallel, so wall time falls
roughly with the number of worker cores.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import math
import os
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from bayesmeta._stats import (
    PI_TYPES,
    critical_value,
    dl_tau2,
    fe_moments,
    i2_h2,
    i2_h2_from_q,
    knha_scale,
    pi_df,
    pool_intercept,
)
from bayesmeta.errors import DataError, FitError, ModelSpecError, NotEstimableWarning
from bayesmeta.exact import _as_prior, _Spec, exact_posterior_batch
from bayesmeta.frequentist import METHODS, TESTS, rma
from bayesmeta.priors import Flat

if TYPE_CHECKING:  # pragma: no cover
    from distributed import Client

__all__ = ["EXACT_COLUMNS", "FREQUENTIST_COLUMNS", "fit_many"]

#: Columns of the frequentist summary (metafor's names; ``pi_lb``/``pi_ub`` from ``predict``).
FREQUENTIST_COLUMNS: tuple[str, ...] = (
    "beta", "se", "zval", "pval", "ci_lb", "ci_ub", "pi_lb", "pi_ub",
    "tau2", "se_tau2", "I2", "H2", "QE", "QEp",
)  # fmt: skip
#: Columns of the exact Bayesian summary (:func:`~bayesmeta.exact.exact_posterior_batch`'s; the
#: credible interval named ``ci_lb``/``ci_ub`` like every other interval).
EXACT_COLUMNS: tuple[str, ...] = (
    "log_marginal_likelihood", "prob_mu_gt_0",
    *(f"{p}_{s}" for p in ("mu", "tau", "tau2", "theta_new")
      for s in ("mean", "sd", "median", "ci_lb", "ci_ub")),
    "n_nodes",
)  # fmt: skip

_VECTORISED = ("EE", "DL")
_VI_RATIO_WARN = 1e7  # as frequentist.rma


@dataclass(frozen=True)
class _Config:
    """Everything a worker needs: plain, picklable values."""

    key: str
    freq: str | None
    exact: bool
    test: str
    pi_type: str
    tau_prior: Any
    mu_prior: Any
    ci_prob: float
    ci_kind: str
    rtol: float
    workers: int | None = None

    def columns(self) -> list[str]:
        cols = [self.key, "k"]
        if self.freq is not None:
            cols += FREQUENTIST_COLUMNS
        if self.exact:
            cols += EXACT_COLUMNS
        return [*cols, "note"]


def fit_many(
    frame: Any,
    *,
    key: str = "meta_analysis",
    yi: str = "yi",
    vi: str | None = None,
    sei: str | None = None,
    method: str | Sequence[str] = "REML",
    test: str = "z",
    pi_type: str = "z",
    tau_prior: Any = None,
    mu_prior: Any = None,
    ci_prob: float = 0.95,
    ci_kind: str = "eti",
    rtol: float = 1e-7,
    scheduler: str | Client | None = None,
    chunk_size: int = 20_000,
    workers: int | None = None,
    **removed: Any,
) -> pd.DataFrame:
    r"""Fit many meta-analyses and return one tidy row per analysis.

    Parameters
    ----------
    frame
        Long table, one row per estimate: a :class:`pandas.DataFrame`, or a
        ``dask.dataframe.DataFrame`` (needs ``scheduler``; rows of one analysis may sit in
        different partitions, and are then shuffled together; a frame indexed by ``key`` with
        known divisions is fitted partition by partition without a shuffle).
    key
        Column naming the meta-analysis each row belongs to (any sortable values).
    yi
        Column of effect estimates.
    vi, sei
        Column of sampling variances or of standard errors (give at most one; by default
        ``"vi"`` if the table has it, else ``"sei"``).
    method
        A frequentist estimator (metafor's codes: ``"EE"``/``"FE"``, ``"DL"``, ``"REML"``,
        ``"ML"``, ``"PM"``, ``"HE"``, ``"SJ"``), ``"exact"`` (the exact Bayesian posterior), or a
        list with one frequentist code and ``"exact"`` for both.
    test, pi_type
        As :func:`~bayesmeta.rma`: ``"z"`` or ``"knha"``; prediction interval ``"z"`` (metafor
        3.8) or ``"t"`` (:math:`t_{k-2}`, Higgins et al. 2009; NaN with a note when k < 3).
    tau_prior, mu_prior
        Priors of the exact posterior, as :func:`~bayesmeta.exact.exact_posterior`
        (``tau_prior`` is required with ``"exact"``; ``mu_prior`` defaults to flat).
    ci_prob
        Probability of every interval: the confidence and prediction intervals of the
        frequentist method and the credible intervals of ``"exact"`` (default 0.95). It replaces
        the former ``level=``, which now raises a ``ModelSpecError`` naming ``ci_prob``.
    ci_kind, rtol
        Credible intervals (``"eti"`` or ``"hdi"``) and quadrature tolerance of the exact engine.
    scheduler
        ``None`` (default): run here, in chunks of ``chunk_size`` analyses. A Dask scheduler
        address or a ``distributed.Client``: run on that cluster.
    chunk_size
        Analyses per chunk (local) or per Dask partition (about; an analysis is never split).
    workers
        Threads of the exact engine per chunk (see
        :func:`~bayesmeta.exact.exact_posterior_batch`). ``None`` (default): every core of
        this process when run here; 1 per Dask task (the cluster's worker threads are the
        parallelism there). The numbers do not depend on it.

    Returns
    -------
    pandas.DataFrame
        One row per meta-analysis, sorted by ``key``: the key, ``k``, then for a frequentist
        method ``beta, se, zval, pval, ci_lb, ci_ub, pi_lb, pi_ub, tau2, se_tau2, I2, H2, QE,
        QEp`` (metafor's names; ``pi_*`` the prediction interval), for ``"exact"`` the columns of
        :func:`~bayesmeta.exact.exact_posterior_batch` (``mu_mean`` ... ``theta_new_ci_ub``,
        ``prob_mu_gt_0``, ``log_marginal_likelihood``, ``n_nodes``), and ``note``: empty, or
        what could not be estimated for that analysis (e.g. ``tau2`` with ``k = 1``, an exact
        posterior that is improper) and any warning its fit raised. Such analyses are reported
        with NaN entries, never dropped.

    Raises
    ------
    DataError
        ``frame`` is not a table, a column is missing, a value is missing, non-finite or (for
        ``vi``/``sei``) not positive; errors name the 1-based row and the column.
    ModelSpecError
        Unknown method, test or pi_type, two frequentist methods, ``level=`` (use
        ``ci_prob``), ``"exact"`` without ``tau_prior``, bad priors or options.

    See also: metafor::rma (one analysis); :func:`~bayesmeta.exact.exact_posterior_batch`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"meta_analysis": ["a", "a", "a", "b", "b"],
    ...                    "yi": [0.1, 0.3, 0.2, -0.1, 0.4],
    ...                    "vi": [0.01, 0.02, 0.015, 0.03, 0.02]})
    >>> out = fit_many(df, method=["DL", "exact"], tau_prior="half_normal(0.5)")
    >>> out[["meta_analysis", "k", "beta", "tau2"]].round(4)
      meta_analysis  k    beta  tau2
    0             a  3  0.1769   0.0
    1             b  2  0.1600   0.1
    >>> round(float(out["mu_mean"].iloc[0]), 4)
    0.1882
    """
    if removed:
        _reject_removed(removed)
    cfg = _configure(
        key, method, test, pi_type, tau_prior, mu_prior, ci_prob, ci_kind, rtol, chunk_size,
        workers,
    )  # fmt: skip
    if _is_dask_frame(frame):
        if scheduler is None:
            raise ModelSpecError(
                "a Dask DataFrame needs scheduler= (an address or a distributed.Client); for a "
                "local run pass frame.compute()"
            )
        whole = _partitioned_by_key(frame, key)
        data = _select_columns(frame.reset_index() if whole else frame, key, yi, vi, sei)
        return _run_dask(data, cfg, scheduler, chunk_size, presorted=False, whole=whole)
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"frame must be a pandas or Dask DataFrame, got {type(frame).__name__}")
    data = _select_columns(frame, key, yi, vi, sei)
    _validate(data, key)
    order = np.argsort(pd.factorize(data[key], sort=True)[0], kind="stable")
    data = data.iloc[order].reset_index(drop=True)
    if scheduler is not None:
        return _run_dask(data, cfg, scheduler, chunk_size, presorted=True)
    return _run_local(data, cfg, chunk_size)


# ------------------------------------------------------------------------------------------------
# configuration and validation
# ------------------------------------------------------------------------------------------------


def _reject_removed(removed: dict[str, Any]) -> None:
    """Raise a clear error for ``level=`` (renamed ``ci_prob``), Python's for anything else."""
    if "level" in removed:
        raise ModelSpecError(
            f"fit_many's level= is now ci_prob= (one probability for the confidence, prediction "
            f"and credible intervals): pass ci_prob={removed['level']!r}"
        )
    raise TypeError(f"fit_many() got an unexpected keyword argument {next(iter(removed))!r}")


def _configure(
    key: str,
    method: str | Sequence[str],
    test: str,
    pi_type: str,
    tau_prior: Any,
    mu_prior: Any,
    ci_prob: float,
    ci_kind: str,
    rtol: float,
    chunk_size: int,
    workers: int | None,
) -> _Config:
    methods = [method] if isinstance(method, str) else list(method)
    if not methods or not all(isinstance(m, str) for m in methods):
        raise ModelSpecError(f"method must be a string or a list of strings, got {method!r}")
    known = (*METHODS, "FE", "exact")
    bad = [m for m in methods if m not in known]
    if bad:
        raise ModelSpecError(f"unknown method {bad[0]!r}; choose from {', '.join(known)}")
    freq = ["EE" if m == "FE" else m for m in methods if m != "exact"]
    if len(freq) > 1:
        raise ModelSpecError(
            f"give at most one frequentist method (got {freq}); call fit_many once per method"
        )
    exact = "exact" in methods
    if test not in TESTS:
        raise ModelSpecError(f"test must be one of {TESTS}, got {test!r}")
    if pi_type not in PI_TYPES:
        raise ModelSpecError(f"pi_type must be one of {PI_TYPES}, got {pi_type!r}")
    if ci_kind not in ("eti", "hdi"):
        raise ModelSpecError(f"ci_kind must be 'eti' or 'hdi', got {ci_kind!r}")
    if not (0 < ci_prob < 1):
        raise ModelSpecError(f"ci_prob must be in (0, 1), got {ci_prob!r}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ModelSpecError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise ModelSpecError(f"workers must be a positive integer or None, got {workers!r}")
    tp: Any = None
    mp: Any = None
    if exact:
        if tau_prior is None:
            raise ModelSpecError(
                "method 'exact' needs tau_prior, e.g. tau_prior='half_normal(0.5)' for SMDs"
            )
        # parse now so bad priors fail before any work; ship the JSON-able dicts to workers
        tp = _as_prior(tau_prior, "tau", "tau_prior").to_dict()
        mp = _as_prior(Flat() if mu_prior is None else mu_prior, "mu", "mu_prior").to_dict()
    elif tau_prior is not None or mu_prior is not None:
        raise ModelSpecError("tau_prior and mu_prior apply only with method 'exact'")
    return _Config(
        key, freq[0] if freq else None, exact, test, pi_type, tp, mp, float(ci_prob),
        ci_kind, float(rtol), workers,
    )  # fmt: skip


def _is_dask_frame(frame: Any) -> bool:
    mod = type(frame).__module__
    return mod.startswith("dask") and hasattr(frame, "map_partitions")


def _select_columns(frame: Any, key: str, yi: str, vi: str | None, sei: str | None) -> Any:
    """Return the three columns (renamed ``yi``, ``vi``), checking that they exist."""
    cols = list(frame.columns)
    if vi is not None and sei is not None:
        raise ModelSpecError("give at most one of vi= and sei=")
    if vi is None and sei is None:
        if "vi" in cols:
            vi = "vi"
        elif "sei" in cols:
            sei = "sei"
        else:
            raise DataError(
                f"the table has neither a 'vi' nor a 'sei' column; name the variance column "
                f"with vi=... or the standard-error column with sei=... (columns: {cols})",
                column="vi",
            )
    for name, what in ((key, "key"), (yi, "yi"), (vi, "vi"), (sei, "sei")):
        if name is not None and name not in cols:
            raise DataError(
                f"column {name!r} ({what}=) is not in the table; columns: {cols}", column=name
            )
    spread = vi if vi is not None else sei
    assert spread is not None
    out = frame[[key, yi, spread]]
    out.columns = [key, "yi", "vi" if vi is not None else "sei"]
    if sei is not None:
        out = out.assign(vi=out["sei"] ** 2).drop(columns="sei")
    return out


def _validate(data: pd.DataFrame, key: str, where: str = "") -> None:
    """Missing keys, non-numeric, non-finite or non-positive values; 1-based rows in messages."""
    if data[key].isna().any():
        rows = np.flatnonzero(data[key].isna().to_numpy())
        raise DataError(
            f"column {key!r} is missing at row(s) {_rows(rows)}{where}; every estimate needs the "
            "meta-analysis it belongs to",
            rows=rows.tolist(),
            column=key,
        )
    for col in ("yi", "vi"):
        try:
            x = data[col].to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"column {col!r} is not numeric{where}", column=col) from None
        bad = ~np.isfinite(x) if col == "yi" else ~(np.isfinite(x) & (x > 0))
        if bad.any():
            rows = np.flatnonzero(bad)
            need = "finite" if col == "yi" else "finite and > 0"
            raise DataError(
                f"{col} must be {need}; row(s) {_rows(rows)}{where} are not "
                f"(meta-analysis {data[key].iloc[rows[0]]!r})",
                rows=rows.tolist(),
                column=col,
            )


def _rows(idx: NDArray[np.intp]) -> str:
    shown = ", ".join(str(int(i) + 1) for i in idx[:5])
    return shown + (f" and {idx.size - 5} more" if idx.size > 5 else "")


# ------------------------------------------------------------------------------------------------
# drivers
# ------------------------------------------------------------------------------------------------


def _run_local(data: pd.DataFrame, cfg: _Config, chunk_size: int) -> pd.DataFrame:
    codes = pd.factorize(data[cfg.key], sort=True)[0]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    bounds = [*starts[::chunk_size].tolist(), len(data)]
    parts = [_fit_chunk(data.iloc[a:b], cfg) for a, b in itertools.pairwise(bounds) if b > a]
    return _finish(parts or [_fit_chunk(data.iloc[:0], cfg)], cfg)


def _run_dask(
    data: Any,
    cfg: _Config,
    scheduler: Any,
    chunk_size: int,
    *,
    presorted: bool,
    whole: bool = False,
) -> pd.DataFrame:
    import dask.dataframe as dd
    from distributed import Client

    meta = _fit_chunk(_empty_input(cfg.key, data), cfg)
    if presorted:  # a sorted pandas table: from_pandas cuts partitions between keys
        n_groups = int(data[cfg.key].nunique())
        nparts = max(1, math.ceil(n_groups / chunk_size))
        ddf = dd.from_pandas(data.set_index(cfg.key), npartitions=nparts, sort=True)
        ddf = ddf.reset_index()
    elif whole:  # each analysis already in one partition: no shuffle
        ddf = data
    else:  # a Dask table: bring each analysis's rows into one partition
        nparts = max(1, int(data.npartitions))
        ddf = data.shuffle(on=cfg.key, npartitions=nparts)
    # one thread per task by default: the cluster's worker threads are the parallelism
    part_cfg = replace(cfg, workers=cfg.workers or 1)
    res = ddf.map_partitions(_fit_partition, part_cfg, meta=meta)
    # each partition's rows straight to this process (not concatenated on a worker first)
    tasks = res.to_delayed()
    if isinstance(scheduler, str):
        with Client(scheduler) as client:
            parts = client.gather(client.compute(tasks))
    else:
        parts = scheduler.gather(scheduler.compute(tasks))
    dtype = data[cfg.key].dtype
    for p in parts:  # Dask may store text keys as its own string dtype: give them back
        p[cfg.key] = p[cfg.key].astype(dtype)
    parts = [p for p in parts if len(p)] or [meta]
    return _finish(parts, cfg)


def _partitioned_by_key(data: Any, key: str) -> bool:
    """Return whether a Dask table keeps each analysis in one partition.

    So it does when its index is the key and its divisions are known (``set_index(key)``, or
    ``read_parquet(..., index=key, calculate_divisions=True)`` of a table written sorted by key).
    """
    return bool(data.index.name == key and data.known_divisions)


def _empty_input(key: str, data: Any) -> pd.DataFrame:
    dtype = data[key].dtype
    return pd.DataFrame(
        {key: pd.Series([], dtype=dtype), "yi": np.array([], float), "vi": np.array([], float)}
    )


def _fit_partition(part: pd.DataFrame, cfg: _Config) -> pd.DataFrame:
    """One Dask partition: rows of whole analyses, in any order."""
    _validate(part, cfg.key, " (in a Dask partition)")
    order = np.argsort(pd.factorize(part[cfg.key], sort=True)[0], kind="stable")
    with _heap_for_temporaries():
        return _fit_chunk(part.iloc[order], cfg)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
_MMAP_DEFAULT, _MMAP_MAX = 128 * 1024, 32 * 2**20  # glibc's default and largest mmap threshold
_HEAP: dict[str, Any] = {"lock": threading.Lock(), "users": 0, "libc": None}


@contextlib.contextmanager
def _heap_for_temporaries() -> Iterator[None]:
    """Let glibc reuse freed numpy temporaries while a partition is fitted on a Dask worker.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_`` set (65536), which also turns
    off glibc's dynamic mmap threshold: every array above 128 kB is then mapped and unmapped
    anew, and the page faults made the exact fits a third slower. While any partition is being
    fitted in this process the mmap and trim thresholds are raised; afterwards the values of
    the environment come back and the heap is trimmed, so the worker's memory falls as Dask
    intends. Elsewhere (no such variable, not glibc) nothing changes.
    """
    trim = os.environ.get("MALLOC_TRIM_THRESHOLD_", "")
    libc = _glibc() if trim.isdigit() else None
    if libc is None:
        yield
        return
    with _HEAP["lock"]:
        _HEAP["users"] += 1
        if _HEAP["users"] == 1:
            libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_MAX)
            libc.mallopt(_M_TRIM_THRESHOLD, 4 * _MMAP_MAX)
    try:
        yield
    finally:
        with _HEAP["lock"]:
            _HEAP["users"] -= 1
            if _HEAP["users"] == 0:
                mmap = os.environ.get("MALLOC_MMAP_THRESHOLD_", "")
                libc.mallopt(_M_MMAP_THRESHOLD, int(mmap) if mmap.isdigit() else _MMAP_DEFAULT)
                libc.mallopt(_M_TRIM_THRESHOLD, int(trim))
                libc.malloc_trim(0)


def _glibc() -> Any:
    """Return the C library if it is glibc (``mallopt``, ``malloc_trim``), else None."""
    if _HEAP["libc"] is None:
        try:
            libc = ctypes.CDLL("libc.so.6")
            ok = hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")
            _HEAP["libc"] = libc if ok else False
        except OSError:
            _HEAP["libc"] = False
    return _HEAP["libc"] or None


def _finish(parts: list[pd.DataFrame], cfg: _Config) -> pd.DataFrame:
    """One table of all parts, sorted by the key; copies only where needed (1e6 rows: 300 MB)."""
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    parts.clear()  # the parts' memory goes as soon as the table is made
    if not out[cfg.key].is_monotonic_increasing:
        out = out.sort_values(cfg.key, kind="stable").reset_index(drop=True)
    out["k"] = out["k"].astype(np.int64)
    if cfg.exact:
        out["n_nodes"] = out["n_nodes"].astype(np.int64)
    out["note"] = out["note"].astype(object).astype(str)
    cols = cfg.columns()
    return out if list(out.columns) == cols else out[cols]


# ------------------------------------------------------------------------------------------------
# one chunk: whole analyses, rows sorted by key (within an analysis in the input order)
# ------------------------------------------------------------------------------------------------


def _fit_chunk(part: pd.DataFrame, cfg: _Config) -> pd.DataFrame:
    codes, keys = pd.factorize(part[cfg.key], sort=True)
    y = part["yi"].to_numpy(dtype=float)
    v = part["vi"].to_numpy(dtype=float)
    G = len(keys)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.array([])
    starts = starts.astype(np.intp)
    kk = np.diff(np.r_[starts, len(codes)]).astype(np.int64)
    cols: dict[str, Any] = {cfg.key: pd.Series(keys, dtype=part[cfg.key].dtype), "k": kk}
    notes: list[list[str]] = [[] for _ in range(G)]
    if cfg.freq is not None:
        cols.update(_frequentist(y, v, starts, kk, cfg, notes))
    if cfg.exact:
        cols.update(_exact(y, v, starts, kk, cfg, notes))
    cols["note"] = np.array(["; ".join(n) for n in notes], dtype=object)
    return pd.DataFrame(cols)


def _by_k(starts: NDArray[np.intp], kk: NDArray[np.int64]) -> dict[int, NDArray[np.intp]]:
    """Analyses grouped by their number of studies."""
    return {int(k): np.flatnonzero(kk == k) for k in np.unique(kk)}


def _block(
    x: NDArray[np.float64], starts: NDArray[np.intp], idx: NDArray[np.intp], k: int
) -> NDArray[np.float64]:
    """(len(idx), k) array of the rows of analyses ``idx`` (each with k rows)."""
    return x[starts[idx][:, None] + np.arange(k)]


def _frequentist(
    y: NDArray[np.float64],
    v: NDArray[np.float64],
    starts: NDArray[np.intp],
    kk: NDArray[np.int64],
    cfg: _Config,
    notes: list[list[str]],
) -> dict[str, NDArray[np.float64]]:
    G = kk.size
    out = {c: np.full(G, np.nan) for c in FREQUENTIST_COLUMNS}
    assert cfg.freq is not None
    for k, idx in _by_k(starts, kk).items():
        if cfg.freq in _VECTORISED and k >= 2:
            res = _closed_form(_block(y, starts, idx, k), _block(v, starts, idx, k), cfg)
            for c in FREQUENTIST_COLUMNS:
                out[c][idx] = res[c]
            vb = _block(v, starts, idx, k)
            for g in idx[vb.max(1) / vb.min(1) >= _VI_RATIO_WARN]:
                notes[g].append("ratio of largest to smallest vi is extremely large")
            if cfg.pi_type == "t" and k < 3:
                for g in idx:
                    notes[g].append("t prediction interval needs k >= 3 (k - 2 df)")
            continue
        for g in idx:
            sl = slice(int(starts[g]), int(starts[g]) + k)
            _one_rma(y[sl], v[sl], cfg, out, g, notes[g])
    return out


def _one_rma(
    y: NDArray[np.float64],
    v: NDArray[np.float64],
    cfg: _Config,
    out: dict[str, NDArray[np.float64]],
    g: int,
    note: list[str],
) -> None:
    assert cfg.freq is not None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = rma(y, v, method=cfg.freq, test=cfg.test, level=cfg.ci_prob, pi_type=cfg.pi_type)
        except FitError as err:
            note.append(f"{cfg.freq} failed: {err}")
            return
    for w in caught:
        msg = str(w.message)
        if issubclass(w.category, NotEstimableWarning) and msg.startswith("a single study"):
            msg = "k = 1: tau2 not estimable"
        if msg not in note:
            note.append(msg)
    vals = {
        "beta": res.beta[0], "se": res.se[0], "zval": res.zval[0], "pval": res.pval[0],
        "ci_lb": res.ci_lb[0], "ci_ub": res.ci_ub[0], "tau2": res.tau2, "se_tau2": res.se_tau2,
        "I2": res.I2, "H2": res.H2, "QE": res.QE, "QEp": res.QEp,
    }  # fmt: skip
    pred = res.predict()
    vals["pi_lb"], vals["pi_ub"] = pred.pi_lb[0], pred.pi_ub[0]
    for c, val in vals.items():
        out[c][g] = val


def _closed_form(
    Y: NDArray[np.float64], V: NDArray[np.float64], cfg: _Config
) -> dict[str, NDArray[np.float64]]:
    r"""EE or DL for M intercept-only analyses with the same k >= 2 (rows of ``Y``, ``V``).

    The formulas of :func:`~bayesmeta.frequentist.rma` with :math:`X = 1`, from the same core
    (:mod:`bayesmeta._stats`): no :math:`k \times k` matrix is formed.
    """
    M, k = Y.shape
    df = k - 1
    mom = fe_moments(Y, V)
    if cfg.freq == "DL":
        tau2, se_tau2 = dl_tau2(mom, df)
        I2, H2 = i2_h2(tau2, df / mom.trP)
    else:
        tau2, se_tau2 = np.zeros(M), np.full(M, np.nan)
        I2, H2 = i2_h2_from_q(np.maximum(0.0, mom.QE), df)
    beta, vb, rss = pool_intercept(Y, V, tau2)
    dfs = df if cfg.test == "knha" else None
    if dfs is not None:
        vb = knha_scale(rss, df) * vb
    crit = critical_value(cfg.ci_prob, dfs)
    crit_pi = critical_value(cfg.ci_prob, pi_df(cfg.pi_type, cfg.test, k, 1))
    se = np.sqrt(vb)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = beta / se
    pval = 2 * (stats.t.sf(np.abs(z), dfs) if dfs is not None else stats.norm.sf(np.abs(z)))
    spi = np.sqrt(vb + tau2)
    QE = np.maximum(0.0, mom.QE)
    return {
        "beta": beta, "se": se, "zval": z, "pval": pval,
        "ci_lb": beta - crit * se, "ci_ub": beta + crit * se,
        "pi_lb": beta - crit_pi * spi, "pi_ub": beta + crit_pi * spi,
        "tau2": tau2, "se_tau2": se_tau2, "I2": I2, "H2": H2,
        "QE": QE, "QEp": stats.chi2.sf(QE, df),
    }  # fmt: skip


def _exact(
    y: NDArray[np.float64],
    v: NDArray[np.float64],
    starts: NDArray[np.intp],
    kk: NDArray[np.int64],
    cfg: _Config,
    notes: list[list[str]],
) -> dict[str, NDArray[np.float64]]:
    G = kk.size
    out = {c: np.full(G, np.nan) for c in EXACT_COLUMNS}
    out["n_nodes"] = np.zeros(G)
    tp = _as_prior(cfg.tau_prior, "tau", "tau_prior")
    mp = _as_prior(cfg.mu_prior, "mu", "mu_prior")
    spec = _Spec(tp, mp)
    proper = spec.moment_exists(0, kk)
    for g in np.flatnonzero(~proper):
        notes[g].append(
            f"exact: posterior improper with k = {kk[g]} under tau_prior={tp}, mu_prior={mp}"
        )
    idx = np.flatnonzero(proper)
    if idx.size == 0:
        return out
    # one call for the whole chunk (NaN-padded rows): its blocks of equal k share the threads
    K = int(kk[idx].max())
    cells = np.arange(K)
    inside = cells < kk[idx, None]
    at = np.where(inside, starts[idx, None] + cells, 0)
    Y = np.where(inside, y[at], np.nan)
    S = np.where(inside, np.sqrt(v[at]), np.nan)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = exact_posterior_batch(
            Y, S, tau_prior=tp, mu_prior=mp, ci_prob=cfg.ci_prob, ci_kind=cfg.ci_kind,
            rtol=cfg.rtol, workers=cfg.workers,
        )  # fmt: skip
    for c in EXACT_COLUMNS:
        out[c][idx] = res[c].to_numpy(dtype=float)
    if caught:  # quadrature did not reach rtol for some: name it on those with most nodes
        msg = "; ".join(sorted({str(w.message) for w in caught}))
        nodes = res["n_nodes"].to_numpy()
        for g in idx[nodes == nodes.max()]:
            notes[g].append(msg)
    return out
