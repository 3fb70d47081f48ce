"""Exact engine: one analysis at k = 2..50, meta-regression, and 10,000 analyses vectorised.

Baselines (same run): ``rma(method="REML")`` on the same data for single fits (the cost of a
frequentist table row); a loop of single ``exact_posterior`` calls for the vectorised batch
(timed on 200 analyses, scaled to 10,000). Also the profile of the full ``summary()`` on the BCG
trials (cProfile, 200 calls; top entries by own time) and the exact meta-regression summary
(one moderator, k <= 20).
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import warnings
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))  # last: never shadow a package

import numpy as np
from _util import emit, median, simulate, timings

from bayesmeta import exact_posterior, rma
from bayesmeta.exact import exact_posterior_batch

TAU, MU = "half_normal(0.5)", "normal(0, 1)"
KS = (2, 5, 10, 20, 30, 50)
REG_KS = (5, 10, 20)
REPEATS = 51


def _bcg() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log risk ratios, standard errors and absolute latitude of the 13 BCG trials."""
    from bayesmeta.datasets import load

    d = load("bcg")
    a, b, c, dd = (d[x].to_numpy(float) for x in ("tpos", "tneg", "cpos", "cneg"))
    y = np.log((a / (a + b)) / (c / (c + dd)))
    s = np.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + dd))
    return y, s, d["ablat"].to_numpy(float)


def _profile(n: int = 200, top: int = 12) -> list[dict[str, object]]:
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


def main() -> None:
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(1)
    single = []
    exact_posterior([0.1, 0.2], [0.1, 0.2], tau_prior=TAU).summary()  # import/warm-up
    for k in KS:
        s = rng.uniform(0.1, 0.5, k)
        y = rng.normal(0.2, np.sqrt(s**2 + 0.04))
        t_fit = timings(lambda y=y, s=s: exact_posterior(y, s, tau_prior=TAU, mu_prior=MU), REPEATS)
        t_mt = timings(lambda y=y, s=s: _mu_tau(y, s), REPEATS)
        t_exact = timings(
            lambda y=y, s=s: exact_posterior(y, s, tau_prior=TAU, mu_prior=MU).summary(), REPEATS
        )
        t_rma = timings(lambda y=y, s=s: rma(y, sei=s, method="REML"), REPEATS)
        single.append(
            {
                "k": k,
                "fit_s": median(t_fit),
                "mu_tau_s": median(t_mt),
                "summary_s": median(t_exact),
                "rma_reml_s": median(t_rma),
                "repeats": REPEATS,
            }
        )
    # exact meta-regression, one moderator: full summary (coefficients, tau, tau2, thetas)
    regression = []
    for k in REG_KS:
        s = rng.uniform(0.1, 0.5, k)
        x = rng.uniform(0, 1, k)
        y = rng.normal(0.2 + 0.3 * x, np.sqrt(s**2 + 0.04))
        X = np.column_stack([np.ones(k), x])
        t_reg = timings(
            lambda y=y, s=s, X=X: exact_posterior(
                y, s, X=X, tau_prior=TAU, beta_prior=MU
            ).summary(),
            REPEATS,
        )
        t_rma = timings(lambda y=y, s=s, X=X: rma(y, sei=s, mods=X[:, 1:], method="REML"), REPEATS)
        regression.append(
            {"k": k, "summary_s": median(t_reg), "rma_reml_s": median(t_rma), "repeats": REPEATS}
        )
    y_bcg, s_bcg, _ = _bcg()
    t_bcg = timings(
        lambda: exact_posterior(y_bcg, s_bcg, tau_prior=TAU, mu_prior=MU).summary(), 201
    )
    n = 10_000
    Y, S, _ = simulate(n, 2, 20, seed=2)
    t_batch = timings(lambda: exact_posterior_batch(Y, S, tau_prior=TAU, mu_prior=MU), 3)
    m = 200
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
            "bcg_summary_s": median(t_bcg),
            "profile": _profile(),
            "batch": {
                "n": n,
                "k_range": [2, 20],
                "batch_s": median(t_batch),
                "batch_all": t_batch,
                "loop_s_scaled": median(t_loop) * n / m,
                "loop_n_timed": m,
                "repeats": 3,
            },
        }
    )


if __name__ == "__main__":
    main()
