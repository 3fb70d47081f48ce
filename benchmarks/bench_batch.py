"""fit_many on many simulated meta-analyses (k = 2..20): in one process and on a LocalCluster.

``bench_batch.py local [N]`` (default 100,000 analyses): DL alone, then DL + exact in one
process (one fresh process per mode, so the peak resident memory belongs to one run); the first
exact run includes loading the compiled kernels, then the best of two runs on every core
(``workers=None``) and one run on one thread (``workers=1``), each with its CPU time. The
machine may be shared: the load average before and after is recorded. Baseline (same run): the
loop a user would write, pandas ``groupby`` with ``rma(method="DL")`` and ``exact_posterior``
per analysis, timed on 500 analyses and scaled to N. Where the time goes: one thread of
``exact_posterior_batch`` on the first 20,000 analyses with its two compiled inner loops timed
and their work counted (terms of the log likelihood, components per mixture quantile).

``bench_batch.py cluster [N]`` (default 1,000,000): DL + exact on a ``LocalCluster`` of 2
worker processes x 1 thread. The inputs are generated inside the workers (``dd.from_map``, one
seeded block of analyses per partition, indexed by the analysis with known divisions, so
``fit_many`` fits partition by partition without a shuffle) and only the summary rows travel
back, partition by partition. The workers' CPU time (user and system, from ``getrusage``)
tells computing from waiting for a core. The first and last partitions are then fitted again in
this process: the cluster's rows must equal them to 1e-12.
"""

from __future__ import annotations

import os
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent))  # last: never shadow a package

import numpy as np
import pandas as pd
from _util import emit, peak_rss_mb, simulate

from bayesmeta import exact_posterior, rma
from bayesmeta.batch import fit_many

TAU, MU = "half_normal(0.5)", "normal(0, 1)"
KW: dict[str, Any] = {"method": ["DL", "exact"], "tau_prior": TAU, "mu_prior": MU}
PART = 20_000  # analyses per partition on the cluster
AGREE = 1e-12  # cluster rows vs this process: the same code on the same numbers


def _part(i: int) -> pd.DataFrame:
    """Block ``i`` of the cluster run: PART analyses with k ~ U{2..20}, seeded by ``i``."""
    rng = np.random.default_rng([2026, i])
    ks = rng.integers(2, 21, size=PART)
    n = int(ks.sum())
    ids = np.repeat(np.arange(i * PART, (i + 1) * PART), ks)
    s = rng.uniform(0.1, 0.5, size=n)
    mu = np.repeat(rng.normal(0.2, 0.2, size=PART), ks)
    tau = np.repeat(np.abs(rng.normal(0, 0.2, size=PART)), ks)
    y = rng.normal(mu, np.sqrt(s**2 + tau**2))
    return pd.DataFrame({"yi": y, "vi": s**2}, index=pd.Index(ids, name="meta_analysis"))


def _cpu() -> tuple[float, float]:
    """User and system CPU seconds of this process so far (all its threads)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def _timed(fn: Any) -> tuple[Any, float, float]:
    """Result, wall seconds and CPU seconds (user + system) of ``fn()``."""
    c0, t0 = sum(_cpu()), time.perf_counter()
    res = fn()
    return res, time.perf_counter() - t0, sum(_cpu()) - c0


def _where_the_time_goes(Y: np.ndarray, S: np.ndarray) -> dict[str, float]:
    """One thread of the exact batch, its two compiled inner loops timed and their work counted.

    The log likelihood of tau (``loglik1``: one term per node and study) and the mixture
    quantiles (``mix_table``: the components of non-negligible weight per quantile); the rest
    is the rule's construction, the tau summaries and the assembly of the rows.
    """
    from bayesmeta.exact import _kernels, exact_posterior_batch

    kern = _kernels.ensure()
    if kern is None:
        return {}
    n = {"ll_terms": 0.0, "ll_s": 0.0, "quantiles": 0.0, "comps": 0.0, "mix_s": 0.0}
    ll0, mt0 = kern.loglik1, kern.mix_table

    def loglik1(tau2: Any, y: Any, s2: Any, p0: float, m0: float) -> Any:
        t0 = time.perf_counter()
        res = ll0(tau2, y, s2, p0, m0)
        n["ll_s"] += time.perf_counter() - t0
        n["ll_terms"] += tau2.size * y.shape[1]
        return res

    def mix_table(W: Any, m: Any, s: Any, q: Any, z: Any, wmin: float, modes: bool) -> Any:
        t0 = time.perf_counter()
        res = mt0(W, m, s, q, z, wmin, modes)
        n["mix_s"] += time.perf_counter() - t0
        n["quantiles"] += W.shape[0] * q.shape[0]
        n["comps"] += float((W > wmin).sum()) * q.shape[0]
        return res

    kern.loglik1, kern.mix_table = loglik1, mix_table
    try:
        t0 = time.perf_counter()
        exact_posterior_batch(Y, S, tau_prior=TAU, mu_prior=MU, workers=1)
        total = time.perf_counter() - t0
    finally:
        kern.loglik1, kern.mix_table = ll0, mt0
    m = Y.shape[0]
    return {
        "analyses": m,
        "us_per_analysis": total / m * 1e6,
        "ll_terms_per_analysis": n["ll_terms"] / m,
        "ll_ns_per_term": n["ll_s"] / n["ll_terms"] * 1e9,
        "ll_share": n["ll_s"] / total,
        "quantiles_per_analysis": n["quantiles"] / m,
        "comps_per_quantile": n["comps"] / n["quantiles"],
        "mix_ns_per_comp": n["mix_s"] / n["comps"] * 1e9,
        "mix_share": n["mix_s"] / total,
    }


def _local(n: int) -> dict[str, Any]:
    Y, S, long = simulate(n, 2, 20, seed=3)
    out: dict[str, Any] = {"n": n, "rows": len(long), "load_before": os.getloadavg()[0]}
    out["input_mb"] = long.memory_usage(deep=True).sum() / 2**20
    out["rss_after_data_mb"] = peak_rss_mb()
    t0 = time.perf_counter()
    fit_many(long, method="DL")
    out["dl_s"] = time.perf_counter() - t0
    # the first includes loading the compiled kernels
    res, out["dl_exact_first_s"], _ = _timed(lambda: fit_many(long, **KW))
    runs = [_timed(lambda: fit_many(long, **KW))[1:] for _ in range(2)]
    out["dl_exact_s"], out["dl_exact_cpu_s"] = min(runs)
    out["threads"] = len(os.sched_getaffinity(0))
    _, out["dl_exact_1thread_s"], out["dl_exact_1thread_cpu_s"] = _timed(
        lambda: fit_many(long, workers=1, **KW)
    )
    sub = long[long["meta_analysis"] < 500]
    t0 = time.perf_counter()
    for _, g in sub.groupby("meta_analysis"):
        rma(g["yi"].to_numpy(), g["vi"].to_numpy(), method="DL")
        exact_posterior(
            g["yi"].to_numpy(), np.sqrt(g["vi"].to_numpy()), tau_prior=TAU, mu_prior=MU
        ).summary()
    out["loop_s_scaled"] = (time.perf_counter() - t0) * n / 500
    out["result_rows"] = len(res)
    out["result_mb"] = res.memory_usage(deep=True).sum() / 2**20
    out["profile"] = _where_the_time_goes(Y[:20_000], S[:20_000])
    out["load_after"] = os.getloadavg()[0]
    return out


def _cluster(n: int) -> dict[str, Any]:
    import dask.dataframe as dd
    from distributed import Client, LocalCluster

    nparts = max(1, n // PART)
    n = nparts * PART
    divisions = [*(i * PART for i in range(nparts)), n - 1]
    out: dict[str, Any] = {"n": n, "partitions": nparts, "analyses_per_partition": PART}
    out["load_before"] = os.getloadavg()[0]
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        frame = dd.from_map(_part, range(nparts), meta=_part(0).iloc[:0], divisions=divisions)
        cpu0 = client.run(_cpu)
        t0 = time.perf_counter()
        res = fit_many(frame, scheduler=client, **KW)
        out["dl_exact_s"] = time.perf_counter() - t0
        cpu1 = client.run(_cpu)
        out["worker_user_s"] = [round(cpu1[w][0] - cpu0[w][0], 2) for w in sorted(cpu0)]
        out["worker_sys_s"] = [round(cpu1[w][1] - cpu0[w][1], 2) for w in sorted(cpu0)]
        out["worker_peak_rss_mb"] = max(client.run(peak_rss_mb).values())
        out["load_after"] = os.getloadavg()[0]
    out["result_rows"] = len(res)
    out["result_mb"] = res.memory_usage(deep=True).sum() / 2**20
    # the same analyses in this process: first and last partition
    worst = 0.0
    cols = [c for c in res.columns if c not in ("meta_analysis", "note")]
    for i in sorted({0, nparts - 1}):
        local = fit_many(_part(i).reset_index(), **KW)
        got = res[res["meta_analysis"].between(i * PART, (i + 1) * PART - 1)]
        a = local[cols].to_numpy(float)
        b = got[cols].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), "NaN pattern differs"
        fin = np.isfinite(a)
        worst = max(worst, float((np.abs(a - b)[fin] / np.maximum(1, np.abs(a[fin]))).max()))
    out["checked_analyses"] = PART * len({0, nparts - 1})
    out["max_rel_diff_vs_one_process"] = worst
    out["same_numbers"] = worst <= AGREE
    return out


def main(mode: str, n: int | None) -> None:
    warnings.simplefilter("ignore")
    if mode == "local":
        out = _local(n or 100_000)
    else:
        out = _cluster(n or 1_000_000)
    out["mode"] = mode
    out["peak_rss_mb"] = peak_rss_mb()
    emit(out)


if __name__ == "__main__":
    main(
        sys.argv[1] if len(sys.argv) > 1 else "local",
        int(sys.argv[2]) if len(sys.argv) > 2 else None,
    )
