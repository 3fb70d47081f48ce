"""Simulation-based calibration (SBC) of the random-effects and binomial models.

Writes ``docs/validation/sbc.md``. SBC (Talts et al. 2018): draw parameters from the prior,
data from the model given them, fit the model, and record where the true value falls in its
posterior. If the fitting is right, that position is uniform over replicates; a bias shows as
a slope, an over- or under-dispersed posterior as a U or a hump.

* **Exact engine, normal-normal model** (:func:`bayesmeta.exact.exact_posterior`): the
  position is the posterior CDF at the truth, u = F(truth | y), computed by quadrature with no
  Monte Carlo error, so thousands of replicates are cheap. A *negative control* analyses the
  same data with a wrong tau prior and must fail.
* **NUTS, normal-normal** (:class:`bayesmeta.models.RandomEffects`) and **NUTS, binomial**
  (:class:`bayesmeta.models.Binomial`): the rank of the truth among L thinned posterior draws,
  uniform on 0..L.

Uniformity is judged by a chi-square test on equal-width bins and a Kolmogorov-Smirnov test
(ranks are mapped to (rank + U) / (L + 1), U uniform, which is exactly uniform under
calibration).

Usage: ``python benchmarks/sbc.py [--exact-replicates N] [--nuts-replicates N]
[--binomial-replicates N] [--seed S] [--out PATH]`` (defaults 2000 / 200 / 100: about 8
minutes on 2 cores, most of it NUTS). ``tests/test_robustness.py`` runs the same functions
with few replicates.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = ROOT / "docs" / "validation" / "sbc.md"

#: Priors used to simulate and to fit (bayesmeta's SMD defaults for the normal-normal model).
MU_PRIOR = (0.0, 1.0)  # Normal(mean, sd)
TAU_SCALE = 0.5  # HalfNormal(scale)
#: Binomial model: narrower than the log-OR defaults so that simulated trials are not all-or-none.
BIN_MU_PRIOR = (0.0, 1.0)
BIN_TAU_SCALE = 0.5
BIN_ALPHA_PRIOR = (-1.0, 1.0)


@dataclass(frozen=True)
class Uniformity:
    """A uniformity check of SBC positions u in (0, 1)."""

    n: int
    counts: list[int]
    chi2_p: float
    ks_p: float

    @property
    def ok(self) -> bool:
        return min(self.chi2_p, self.ks_p) > 0.001


def uniformity(u: np.ndarray, bins: int = 10) -> Uniformity:
    """Chi-square (equal-width bins) and Kolmogorov-Smirnov tests of uniformity of ``u``."""
    u = np.asarray(u, dtype=float)
    counts, _ = np.histogram(u, bins=bins, range=(0.0, 1.0))
    chi2_p = float(stats.chisquare(counts).pvalue)
    ks_p = float(stats.kstest(u, "uniform").pvalue)
    return Uniformity(int(u.size), counts.tolist(), chi2_p, ks_p)


def ranks_to_u(ranks: np.ndarray, L: int, rng: np.random.Generator) -> np.ndarray:
    """Ranks in 0..L to exactly-uniform positions (rank + U) / (L + 1)."""
    return (np.asarray(ranks, dtype=float) + rng.random(len(ranks))) / (L + 1)


# ------------------------------------------------------------------------------------------------
# exact engine


def _standard_errors(k: int, rng: np.random.Generator) -> np.ndarray:
    n = rng.integers(10, 101, size=(k, 2))
    return np.sqrt(1 / n[:, 0] + 1 / n[:, 1])


def exact_sbc(
    k: int, reps: int, seed: int, analysis_tau_scale: float = TAU_SCALE
) -> dict[str, np.ndarray]:
    """Posterior CDF at the true mu, tau and theta_1 over ``reps`` prior-predictive reviews.

    Data are simulated with tau ~ HalfNormal(``TAU_SCALE``); ``analysis_tau_scale`` sets the
    prior used to analyse them (a different value is the negative control).
    """
    from bayesmeta.exact import exact_posterior
    from bayesmeta.priors import HalfNormal, Normal

    rng = np.random.default_rng([seed, k])
    tau_prior, mu_prior = HalfNormal(analysis_tau_scale), Normal(*MU_PRIOR)
    out: dict[str, list[float]] = {"mu": [], "tau": [], "theta_1": []}
    for _ in range(reps):
        mu = rng.normal(*MU_PRIOR)
        tau = abs(rng.normal(0.0, TAU_SCALE))
        s = _standard_errors(k, rng)
        theta = mu + tau * rng.standard_normal(k)
        y = theta + s * rng.standard_normal(k)
        post = exact_posterior(y, s, tau_prior=tau_prior, mu_prior=mu_prior)
        out["mu"].append(float(post.mu.cdf(mu)))
        out["tau"].append(float(post.tau.cdf(tau)))
        out["theta_1"].append(float(post.theta(0).cdf(theta[0])))
    return {key: np.array(val) for key, val in out.items()}


# ------------------------------------------------------------------------------------------------
# NUTS


def _fit_quietly(model: Any, draws: int, seed: int) -> Any:
    from bayesmeta.errors import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", UserWarning)
        return model.fit(
            draws, engine="nuts", tune=400, chains=2, random_seed=seed, target_accept=0.9
        )


def nuts_sbc(
    model: str, reps: int, seed: int, k: int = 5, draws: int = 300, thin: int = 6
) -> tuple[dict[str, np.ndarray], int, dict[str, int]]:
    """Ranks of the true mu and tau among L = chains * draws / thin NUTS draws.

    ``model`` is ``"random_effects"`` (normal-normal, k studies with standard errors as in
    :func:`exact_sbc`) or ``"binomial"`` (k two-arm trials of 50 + 50 participants,
    baseline log odds alpha_i ~ Normal(-1, 1)). Returns the ranks, L and how many fits had
    divergences or an R-hat of mu or tau above 1.01.
    """
    from bayesmeta import EffectTable
    from bayesmeta.models import Binomial, RandomEffects
    from bayesmeta.priors import HalfNormal, Normal

    rng = np.random.default_rng([seed, k, 1 if model == "binomial" else 0])
    studies = [f"s{i}" for i in range(k)]
    ranks: dict[str, list[int]] = {"mu": [], "tau": []}
    trouble = {"divergent_fits": 0, "rhat_fits": 0}
    L = 0
    for _ in range(reps):
        if model == "random_effects":
            mu, tau = rng.normal(*MU_PRIOR), abs(rng.normal(0.0, TAU_SCALE))
            s = _standard_errors(k, rng)
            y = mu + tau * rng.standard_normal(k) + s * rng.standard_normal(k)
            tab = EffectTable(pd.DataFrame({"study": studies, "yi": y, "sei": s}), measure="SMD")
            fitted = RandomEffects(
                tab, priors={"mu": Normal(*MU_PRIOR), "tau": HalfNormal(TAU_SCALE)}
            )
        else:
            mu, tau = rng.normal(*BIN_MU_PRIOR), abs(rng.normal(0.0, BIN_TAU_SCALE))
            alpha = rng.normal(*BIN_ALPHA_PRIOR, size=k)
            theta = mu + tau * rng.standard_normal(k)
            n = 50
            a = rng.binomial(n, 1 / (1 + np.exp(-(alpha + theta))))
            c = rng.binomial(n, 1 / (1 + np.exp(-alpha)))
            frame = pd.DataFrame({"study": studies, "ai": a, "n1i": n, "ci": c, "n2i": n})
            tab = EffectTable.from_arms(frame, "OR")
            fitted = Binomial(
                tab,
                priors={
                    "mu": Normal(*BIN_MU_PRIOR),
                    "tau": HalfNormal(BIN_TAU_SCALE),
                    "alpha": Normal(*BIN_ALPHA_PRIOR),
                },
            )
        res = _fit_quietly(fitted, draws, seed=int(rng.integers(2**31)))
        import arviz as az

        diag = res.diagnostics()
        rhat = az.rhat(res.idata, var_names=["mu", "tau"])
        trouble["divergent_fits"] += int(diag.divergences > 0)
        trouble["rhat_fits"] += int(max(float(rhat[v]) for v in ("mu", "tau")) > 1.01)
        for name, truth in (("mu", mu), ("tau", tau)):
            d = res.posterior[name].values[:, ::thin].ravel()
            L = d.size
            ranks[name].append(int(np.sum(d < truth)))
    return {key: np.array(val) for key, val in ranks.items()}, L, trouble


# ------------------------------------------------------------------------------------------------
# report


def _row(label: str, u: Uniformity) -> str:
    flag = "yes" if u.ok else "**no**"
    counts = " ".join(str(c) for c in u.counts)
    return f"| {label} | {u.n} | {u.chi2_p:.3f} | {u.ks_p:.3f} | {flag} | {counts} |"


READING = """## Reading the results

- The exact engine is calibrated for mu, tau and a study effect at every k (2000 replicates
  each), and the negative control shows the check has power: a prior on tau five times too
  narrow is rejected at once.
- The NUTS fits are calibrated within what a few hundred replicates can resolve. They are
  short runs on purpose (2 chains x 300 draws): with so few draws an R-hat above the strict
  1.01 threshold is common, and a few fits have divergences (small tau, where even the
  non-centred funnel is tight). bayesmeta reports both as a ConvergenceWarning; they do not
  bias the ranks visibly here. For a real analysis use the defaults (4 chains x 1000 draws)
  or the exact engine.
"""

_HEAD = [
    "| check | replicates | chi-square p | KS p | uniform? | counts in 10 bins of u |",
    "|---|---|---|---|---|---|",
]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--exact-replicates", type=int, default=2000)
    p.add_argument("--nuts-replicates", type=int, default=200)
    p.add_argument("--binomial-replicates", type=int, default=100)
    p.add_argument("--seed", type=int, default=20240611)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    lines = [
        "# Simulation-based calibration",
        "",
        f"*Generated by `benchmarks/sbc.py` (seed {args.seed}, {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d}; run time in the last line). Rerun it to regenerate "
        "this page; `tests/test_robustness.py` runs the same checks with fewer replicates on "
        "every test run.*",
        "",
        "Simulation-based calibration (Talts et al. 2018): draw the parameters from the prior, "
        "the data from the model, fit, and record where the true value falls in its posterior "
        "(u in (0, 1)). A correct fit makes u uniform over replicates. A bias shows as a slope "
        "in the bin counts, a posterior that is too narrow as a U, one that is too wide as a "
        "hump. A check passes when both the chi-square test on 10 equal bins and the "
        "Kolmogorov-Smirnov test give p > 0.001 (with about 15 checks, a false alarm somewhere "
        "has probability ~1.5%).",
        "",
        "## Normal-normal model, exact engine",
        "",
        f"mu ~ Normal({MU_PRIOR[0]:g}, {MU_PRIOR[1]:g}), tau ~ HalfNormal({TAU_SCALE:g}) "
        "(bayesmeta's SMD defaults); each study's arms have 10 to 100 participants, "
        "se = sqrt(1/n1 + 1/n2). u is the exact posterior CDF at the truth "
        "(`exact_posterior(...).mu.cdf(mu)`), so there is no Monte Carlo error in u. "
        "theta_1 is the first study's effect.",
        "",
        *_HEAD,
    ]
    for k in (2, 5, 10):
        u = exact_sbc(k, args.exact_replicates, args.seed)
        for name in ("mu", "tau", "theta_1"):
            lines.append(_row(f"k = {k}, {name}", uniformity(u[name])))
        print(f"exact k={k} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    bad = exact_sbc(5, args.exact_replicates, args.seed, analysis_tau_scale=0.1)
    lines += [
        "",
        "**Negative control** (the test can fail): the same k = 5 data analysed with "
        "tau ~ HalfNormal(0.1) instead of HalfNormal(0.5). The true tau then sits too high in "
        "its posterior (counts pile up in the top bins):",
        "",
        *_HEAD,
        _row("k = 5, tau, wrong prior", uniformity(bad["tau"])),
        _row("k = 5, mu, wrong prior", uniformity(bad["mu"])),
        "",
    ]
    for model, reps, title in (
        ("random_effects", args.nuts_replicates, "Normal-normal model, NUTS (`RandomEffects`)"),
        ("binomial", args.binomial_replicates, "Binomial model, NUTS (`Binomial`)"),
    ):
        if reps <= 0:
            continue
        ranks, L, trouble = nuts_sbc(model, reps, args.seed)
        if model == "random_effects":
            setup = (
                f"k = 5 studies as above; mu ~ Normal({MU_PRIOR[0]:g}, {MU_PRIOR[1]:g}), "
                f"tau ~ HalfNormal({TAU_SCALE:g})."
            )
        else:
            setup = (
                "k = 5 two-arm trials of 50 + 50 participants; log odds ratio mu ~ "
                f"Normal({BIN_MU_PRIOR[0]:g}, {BIN_MU_PRIOR[1]:g}), tau ~ "
                f"HalfNormal({BIN_TAU_SCALE:g}), control-arm log odds alpha_i ~ "
                f"Normal({BIN_ALPHA_PRIOR[0]:g}, {BIN_ALPHA_PRIOR[1]:g}) (narrower than the "
                "defaults, so that simulated trials are not all-or-none)."
            )
        lines += [
            f"## {title}",
            "",
            setup + f" nutpie NUTS, 2 chains x 300 draws after 400 tuning steps, "
            f"target_accept = 0.9, thinned to L = {L} draws; u = (rank + U)/(L + 1). Fits with "
            f"divergences: {trouble['divergent_fits']} of {reps}; with R-hat of mu or tau > 1.01: "
            f"{trouble['rhat_fits']}.",
            "",
            *_HEAD,
        ]
        for name in ("mu", "tau"):
            lines.append(_row(name, uniformity(ranks_to_u(ranks[name], L, rng))))
        lines.append("")
        print(f"{model} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    minutes = (time.perf_counter() - t0) / 60
    lines += [READING, f"Run time: {minutes:.1f} min.", ""]
    args.out.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Uniformity", "exact_sbc", "nuts_sbc", "ranks_to_u", "uniformity"]
