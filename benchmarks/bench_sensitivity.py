"""Prior-sensitivity sweep: 20 tau priors on one outcome of the bundled review (exact engine).

Uses ``bayesmeta.sensitivity.prior_sensitivity(engine="exact")`` when that module exists, else 20
``exact_posterior`` calls (and says so). Baselines: 20 separate ``exact_posterior`` + summary
calls; one batch call of the 20 priors is not possible (the batch shares one prior).
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))  # last: never shadow a package

from _util import emit, median, timings

from bayesmeta import datasets, exact_posterior
from bayesmeta.sheet import read_sheet

OUTCOME = "quality_of_life"
PRIORS = [f"half_normal({s})" for s in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5, 2.0)] + [
    f"half_cauchy({s})" for s in (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0)
]


def main() -> None:
    warnings.simplefilter("ignore")
    table = read_sheet(datasets.load_peer_support_simulated()).for_outcome(OUTCOME)
    y, s = table.yi, table.sei
    have = importlib.util.find_spec("bayesmeta.sensitivity") is not None
    api = "bayesmeta.sensitivity.prior_sensitivity(engine='exact')"
    sweep = None
    if have:
        try:
            from bayesmeta.sensitivity import prior_sensitivity

            def sweep() -> object:
                return prior_sensitivity(table, PRIORS, engine="exact")

            out = sweep()
            n_rows = len(out)
        except Exception as err:  # the module is being written: fall back, say why
            api = f"20 exact_posterior calls (sensitivity.py failed: {type(err).__name__})"
            sweep = None
    if sweep is None:
        if not have:
            api = "20 exact_posterior calls (bayesmeta.sensitivity not present)"
        n_rows = len(PRIORS)

        def sweep() -> object:
            return [
                exact_posterior(y, s, tau_prior=p, mu_prior="normal(0, 1)").summary()
                for p in PRIORS
            ]

    t = timings(sweep, 7)
    t_loop = timings(
        lambda: [
            exact_posterior(y, s, tau_prior=p, mu_prior="normal(0, 1)").summary() for p in PRIORS
        ],
        7,
    )
    emit(
        {
            "api": api,
            "outcome": OUTCOME,
            "k": int(table.k),
            "n_priors": len(PRIORS),
            "rows": n_rows,
            "sweep_s": median(t),
            "loop_s": median(t_loop),
            "repeats": 7,
        }
    )


if __name__ == "__main__":
    main()
