"""fit_many on 100,000 simulated meta-analyses (k = 2..20): locally and on a Dask LocalCluster.

Run as ``bench_batch.py local`` or ``bench_batch.py cluster`` (one process each, so the peak
resident memory belongs to one run). Baseline (same run): the loop a user would write, pandas
``groupby`` with ``rma(method="DL")`` and ``exact_posterior`` per analysis, timed on 500
analyses and scaled to 100,000.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))  # last: never shadow a package

import numpy as np
from _util import emit, peak_rss_mb, simulate

from bayesmeta import exact_posterior, rma
from bayesmeta.batch import fit_many

N = 100_000
TAU, MU = "half_normal(0.5)", "normal(0, 1)"


def main(mode: str) -> None:
    warnings.simplefilter("ignore")
    _, _, long = simulate(N, 2, 20, seed=3)
    input_mb = long.memory_usage(deep=True).sum() / 2**20
    rss_before = peak_rss_mb()
    out: dict[str, object] = {"mode": mode, "n": N, "rows": len(long), "input_mb": input_mb}
    kw = {"method": ["DL", "exact"], "tau_prior": TAU, "mu_prior": MU}
    if mode == "local":
        t0 = time.perf_counter()
        fit_many(long, method="DL")
        out["dl_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = fit_many(long, **kw)
        out["dl_exact_s"] = time.perf_counter() - t0
        sub = long[long["meta_analysis"] < 500]
        t0 = time.perf_counter()
        for _, g in sub.groupby("meta_analysis"):
            rma(g["yi"].to_numpy(), g["vi"].to_numpy(), method="DL")
            exact_posterior(
                g["yi"].to_numpy(), np.sqrt(g["vi"].to_numpy()), tau_prior=TAU, mu_prior=MU
            ).summary()
        out["loop_s_scaled"] = (time.perf_counter() - t0) * N / 500
    else:
        from distributed import Client, LocalCluster

        with (
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            Client(cluster) as client,
        ):
            t0 = time.perf_counter()
            res = fit_many(long, scheduler=client, chunk_size=10_000, **kw)
            out["dl_exact_s"] = time.perf_counter() - t0
            workers = client.run(peak_rss_mb)
            out["worker_peak_rss_mb"] = max(workers.values())
    out["result_rows"] = len(res)
    out["result_mb"] = res.memory_usage(deep=True).sum() / 2**20
    out["peak_rss_mb"] = peak_rss_mb()
    out["rss_after_data_mb"] = rss_before
    emit(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "local")
