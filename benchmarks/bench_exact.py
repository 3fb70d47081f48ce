"""Exact engine: one analysis at k = 2..50, and 10,000 analyses vectorised.

Baselines (same run): ``rma(method="REML")`` on the same data for single fits (the cost of a
frequentist table row); a loop of single ``exact_posterior`` calls for the vectorised batch
(timed on 200 analyses, scaled to 10,000).
"""

from __future__ import annotations

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
        t_fit = timings(lambda y=y, s=s: exact_posterior(y, s, tau_prior=TAU, mu_prior=MU), 15)
        t_mt = timings(lambda y=y, s=s: _mu_tau(y, s), 15)
        t_exact = timings(
            lambda y=y, s=s: exact_posterior(y, s, tau_prior=TAU, mu_prior=MU).summary(), 15
        )
        t_rma = timings(lambda y=y, s=s: rma(y, sei=s, method="REML"), 15)
        single.append(
            {
                "k": k,
                "fit_s": median(t_fit),
                "mu_tau_s": median(t_mt),
                "summary_s": median(t_exact),
                "rma_reml_s": median(t_rma),
                "repeats": 15,
            }
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
