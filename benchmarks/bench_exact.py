"""Exact engine: one analysis at k = 2..50, meta-regression, 10,000 analyses vectorised, R.

Every time is the minimum over repeats (the least disturbed run on a shared machine; the median
is kept beside it). Each single-analysis figure is taken twice in this process: with numpy
only (``BAYESMETA_NUMBA=0``: what a fresh process does for one analysis) and with the compiled
kernels (``BAYESMETA_NUMBA=1``: what every call does once a batch has loaded them). The cold
costs of the kernels (importing numba and loading the cached machine code, and compiling into
an empty cache) are measured in fresh processes.

Baselines (same run): ``rma(method="REML")`` on the same data; R bayesmeta 3.4
(``bayesmeta(y, sigma, tau.prior = function(t) dhalfnormal(t, 0.5), mu.prior = c(0, 1))`` +
``summary``) on the same data for k = 5, 10, 20 when ``Rscript`` and the package are installed;
a loop of single ``exact_posterior`` calls for the vectorised batch (timed on 200 analyses,
scaled to 10,000). Also cProfile's top entries of the full ``summary()`` on the BCG trials.
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parent))  # last: never shadow a package

import numpy as np
from _util import emit, median, simulate, timings

from bayesmeta import exact_posterior, rma
from bayesmeta.exact import exact_posterior_batch

TAU, MU = "half_normal(0.5)", "normal(0, 1)"
KS = (2, 5, 10, 20, 30, 50)
REG_KS = (5, 10, 20)
R_KS = (5, 10, 20)
REPEATS = 51
R_REPEATS = 2  # R bayesmeta takes seconds per analysis


def _bcg() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log risk ratios, standard errors and absolute latitude of the 13 BCG trials."""
    from bayesmeta.datasets import load

    d = load("bcg")
    a, b, c, dd = (d[x].to_numpy(float) for x in ("tpos", "tneg", "cpos", "cneg"))
    y = np.log((a / (a + b)) / (c / (c + dd)))
    s = np.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + dd))
    return y, s, d["ablat"].to_numpy(float)


def _mode(setting: str) -> None:
    os.environ["BAYESMETA_NUMBA"] = setting


def _timed(fn: Callable[[], Any], repeats: int) -> dict[str, float]:
    ts = timings(fn, repeats)
    return {"min": min(ts), "median": median(ts)}


def _profile(n: int = 200, top: int = 10) -> list[dict[str, object]]:
    """Top entries (own time) of cProfile over ``n`` full summaries of the BCG trials."""
    y, s, _ = _bcg()
    exact_posterior(y, s, tau_prior=TAU, mu_prior=MU).summary()
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        exact_posterior(y, s, tau_prior=TAU, mu_prior=MU).summary()
    prof.disable()
    st = pstats.Stats(prof)
    rows = []
    for (file, line, func), (_cc, nc, tt, ct, _callers) in st.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(file).name}:{line}({func})" if line else func
        rows.append(
            {"where": where, "calls": nc / n, "own_ms": 1e3 * tt / n, "cum_ms": 1e3 * ct / n}
        )
    rows.sort(key=lambda r: -float(r["own_ms"]))  # type: ignore[arg-type]
    return rows[:top]


def _mu_tau(y: np.ndarray, s: np.ndarray) -> None:
    """What a results table needs: mean and 95% interval of mu, median and interval of tau."""
    post = exact_posterior(y, s, tau_prior=TAU, mu_prior=MU)
    _ = post.mu.mean, post.mu.interval(), post.tau.median, post.tau.interval()


def _single(rng: np.random.Generator) -> tuple[list[dict[str, Any]], dict[int, tuple]]:
    rows, data = [], {}
    for k in KS:
        s = rng.uniform(0.1, 0.5, k)
        y = rng.normal(0.2, np.sqrt(s**2 + 0.04))
        data[k] = (y, s)
        row: dict[str, Any] = {"k": k, "repeats": REPEATS}
        for setting, tag in (("0", "numpy"), ("1", "compiled")):
            _mode(setting)
            exact_posterior(y, s, tau_prior=TAU, mu_prior=MU).summary()  # warm-up
            row[f"fit_{tag}"] = _timed(
                lambda y=y, s=s: exact_posterior(y, s, tau_prior=TAU, mu_prior=MU), REPEATS
            )
            row[f"mu_tau_{tag}"] = _timed(lambda y=y, s=s: _mu_tau(y, s), REPEATS)
            row[f"summary_{tag}"] = _timed(
                lambda y=y, s=s: exact_posterior(y, s, tau_prior=TAU, mu_prior=MU).summary(),
                REPEATS,
            )
        row["rma_reml"] = _timed(lambda y=y, s=s: rma(y, sei=s, method="REML"), REPEATS)
        rows.append(row)
    return rows, data


def _regression(rng: np.random.Generator) -> list[dict[str, Any]]:
    rows = []
    for k in REG_KS:
        s = rng.uniform(0.1, 0.5, k)
        x = rng.uniform(0, 1, k)
        y = rng.normal(0.2 + 0.3 * x, np.sqrt(s**2 + 0.04))
        X = np.column_stack([np.ones(k), x])
        row: dict[str, Any] = {"k": k, "repeats": REPEATS}
        for setting, tag in (("0", "numpy"), ("1", "compiled")):
            _mode(setting)

            def fit(y=y, s=s, X=X) -> None:  # type: ignore[no-untyped-def]
                exact_posterior(y, s, X=X, tau_prior=TAU, beta_prior=MU).summary()

            fit()
            row[f"summary_{tag}"] = _timed(fit, REPEATS)
        row["rma_reml"] = _timed(
            lambda y=y, s=s, X=X: rma(y, sei=s, mods=X[:, 1:], method="REML"), REPEATS
        )
        rows.append(row)
    return rows


_R_CODE = """
suppressMessages(library(bayesmeta))
out <- c()
for (case in cases) {
  ts <- c()
  for (r in seq_len(%(repeats)d)) {
    t0 <- proc.time()[["elapsed"]]
    fit <- bayesmeta(case$y, case$s, tau.prior = function(t) dhalfnormal(t, scale = 0.5),
                     mu.prior = c(0, 1))
    invisible(capture.output(summary(fit)))
    ts <- c(ts, proc.time()[["elapsed"]] - t0)
  }
  out <- c(out, sprintf('{"k": %%d, "min_s": %%.6f, "median_s": %%.6f}', length(case$y),
                        min(ts), median(ts)))
}
cat("R-JSON:[", paste(out, collapse = ","), "]\\n", sep = "")
cat("R-VERSION:", as.character(packageVersion("bayesmeta")), "\\n", sep = "")
"""


def _r_bayesmeta(data: dict[int, tuple]) -> dict[str, Any]:
    """R bayesmeta + summary on the same data (k in R_KS), or why it was skipped."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        return {"skipped": "Rscript is not installed"}

    def vec(v: np.ndarray) -> str:
        return "c(" + ", ".join(f"{x:.17g}" for x in v) + ")"

    cases = ", ".join(
        f"list(y = {vec(y)}, s = {vec(s)})" for k, (y, s) in sorted(data.items()) if k in R_KS
    )
    code = f"cases <- list({cases})\n" + _R_CODE % {"repeats": R_REPEATS}
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as f:
        f.write(code)
    try:
        proc = subprocess.run([rscript, f.name], capture_output=True, text=True, check=False)
    finally:
        os.unlink(f.name)
    lines = {
        ln.split(":", 1)[0]: ln.split(":", 1)[1] for ln in proc.stdout.splitlines() if ":" in ln
    }
    if proc.returncode != 0 or "R-JSON" not in lines:
        return {"skipped": f"R bayesmeta failed: {proc.stderr.strip()[-300:]}"}
    return {"version": lines.get("R-VERSION", "?").strip(), "rows": json.loads(lines["R-JSON"]),
            "repeats": R_REPEATS}  # fmt: skip


_COLD = """
import time
t0 = time.perf_counter()
from bayesmeta.exact import _kernels, exact_posterior
t1 = time.perf_counter()
exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)").summary()
t2 = time.perf_counter()
kern = _kernels.ensure()
t3 = time.perf_counter()
import os
os.environ["BAYESMETA_NUMBA"] = "1"
exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)").summary()
t4 = time.perf_counter()
print("COLD:", t1 - t0, t2 - t1, t3 - t2, t4 - t3)
"""


def _cold() -> dict[str, Any]:
    """Fresh processes: import + first summary (numpy); numba import; first compiled summary."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bayesmeta-numba-") as tmp:
        # the first process compiles into the empty cache, the second loads from it
        for name in ("empty_cache", "warm_cache"):
            proc = subprocess.run(
                [sys.executable, "-c", _COLD],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, "BAYESMETA_NUMBA": "auto", "NUMBA_CACHE_DIR": tmp},
            )
            vals = next(ln for ln in proc.stdout.splitlines() if ln.startswith("COLD:"))
            imp, first, numba_load, first_compiled = map(float, vals.split()[1:])
            out[name] = {
                "import_exact_s": imp,
                "first_summary_numpy_s": first,
                "import_numba_s": numba_load,
                "first_summary_compiled_s": first_compiled,
            }
    return out


def main() -> None:
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(1)
    exact_posterior([0.1, 0.2], [0.1, 0.2], tau_prior=TAU).summary()  # import/warm-up
    cold = _cold()
    single, data = _single(rng)
    regression = _regression(rng)
    r_res = _r_bayesmeta(data)
    y_bcg, s_bcg, _ = _bcg()
    bcg = {}
    profiles = {}
    for setting, tag in (("0", "numpy"), ("1", "compiled")):
        _mode(setting)
        bcg[tag] = _timed(
            lambda: exact_posterior(y_bcg, s_bcg, tau_prior=TAU, mu_prior=MU).summary(), 201
        )
        profiles[tag] = _profile()
    os.environ.pop("BAYESMETA_NUMBA")  # the batch decides by its size (it loads the kernels)
    n = 10_000
    Y, S, _ = simulate(n, 2, 20, seed=2)
    t_batch = timings(lambda: exact_posterior_batch(Y, S, tau_prior=TAU, mu_prior=MU), 3)
    m = 200
    _mode("0")
    t_loop = timings(
        lambda: [
            exact_posterior(
                Y[i][~np.isnan(Y[i])], S[i][~np.isnan(S[i])], tau_prior=TAU, mu_prior=MU
            ).summary()
            for i in range(m)
        ],
        3,
    )
    emit(
        {
            "single": single,
            "regression": regression,
            "r_bayesmeta": r_res,
            "cold": cold,
            "bcg_summary": bcg,
            "profile": profiles,
            "batch": {
                "n": n,
                "k_range": [2, 20],
                "batch_s": min(t_batch),
                "batch_all": t_batch,
                "loop_s_scaled": min(t_loop) * n / m,
                "loop_n_timed": m,
                "repeats": 3,
            },
        }
    )


if __name__ == "__main__":
    main()
