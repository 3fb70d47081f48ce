"""NUTS at its defaults against exact references (the lesson: test at the defaults users run).

Normal-normal model: RandomEffects(...).fit(engine="nuts") with nothing else set, against the exact
quadrature engine, for k in {2, 3, 5, 10, 30} and half-normal and half-Cauchy tau priors. Binomial
model: Binomial(...).fit() at its defaults against the deterministic integration pinned in
models/binomial/reference.json. Each comparison allows 3 Monte Carlo standard errors from ArviZ
(pooled over seeds); the MCSEs themselves are checked against the spread over seeds.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pytest

from bayesmeta import EffectTable
from bayesmeta.exact import exact_posterior
from bayesmeta.models import Binomial, RandomEffects

pytestmark = pytest.mark.slow

#: Allowed distance from the exact value, in pooled Monte Carlo standard errors.
Z_MAX = 3.0
#: The MCSEs are honest when the seeds' estimates scatter around their mean by about one MCSE:
#: the mean squared standardised deviation must stay below this (chi-square; 1 when honest).
MCSE_HONESTY = 2.0
SEEDS = (11, 12, 13, 14)
QUANTILES = (0.05, 0.5, 0.95)
KS = (2, 3, 5, 10, 30)
TAU_PRIORS = ("half_normal(0.5)", "half_cauchy(0.5)")
MU_PRIOR = "normal(0, 4)"


def _data(k: int) -> EffectTable:
    rng = np.random.default_rng(1000 + k)
    sei = rng.uniform(0.1, 0.3, k)
    yi = rng.normal(-0.2, np.sqrt(sei**2 + 0.15**2))
    frame = pd.DataFrame({"study": [f"s{i}" for i in range(k)], "yi": yi, "sei": sei})
    return EffectTable(frame, measure="OR")


def _estimates(idata, var: str) -> dict[str, tuple[float, float]]:
    """(estimate, ArviZ MCSE) of the mean and quantiles of ``var``."""
    x = idata.posterior[var].values.ravel()
    out = {"mean": (float(x.mean()), float(az.mcse(idata, var_names=[var], method="mean")[var]))}
    for q in QUANTILES:
        mc = float(az.mcse(idata, var_names=[var], method="quantile", prob=q)[var])
        out[f"q{q}"] = (float(np.quantile(x, q)), mc)
    return out


def _compare(fits: list, exact: dict[str, dict[str, float]]) -> tuple[list[str], list[float]]:
    """Failures beyond Z_MAX pooled MCSE, and the standardised seed deviations."""
    failures, devs = [], []
    for var, ref in exact.items():
        per_seed = [_estimates(f, var) for f in fits]
        for stat, value in ref.items():
            est = np.array([p[stat][0] for p in per_seed])
            mcse = np.array([p[stat][1] for p in per_seed])
            pooled = float(np.sqrt(np.sum(mcse**2)) / len(fits))
            z = (est.mean() - value) / pooled
            devs += list((est - est.mean()) / mcse)
            if abs(z) > Z_MAX:
                failures.append(
                    f"{var} {stat}: {est.mean():.4f} vs exact {value:.4f} (z = {z:.1f})"
                )
    return failures, devs


def _exact_reference(post) -> dict[str, dict[str, float]]:
    out = {}
    for var in ("mu", "tau"):
        d = getattr(post, var)
        out[var] = {"mean": d.mean, **{f"q{q}": float(d.quantile(q)) for q in QUANTILES}}
    return out


@pytest.mark.parametrize("tau_prior", TAU_PRIORS)
@pytest.mark.parametrize("k", KS)
def test_nuts_at_defaults_matches_exact(k, tau_prior):
    tab = _data(k)
    priors = {"tau": tau_prior, "mu": MU_PRIOR}
    exact = exact_posterior(tab.yi, tab.sei, tau_prior=tau_prior, mu_prior=MU_PRIOR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [
            RandomEffects(tab, priors=priors).fit(engine="nuts", random_seed=s).idata for s in SEEDS
        ]
    failures, devs = _compare(fits, _exact_reference(exact))
    assert not failures, failures
    assert np.mean(np.square(devs)) < MCSE_HONESTY


BINOMIAL = {
    c["id"]: c
    for c in json.loads(
        (Path(__file__).parents[1] / "models" / "binomial" / "reference.json").read_text()
    )["cases"]
}


@pytest.mark.parametrize("case_id", ["moderate", "rare_zero_cell"])
def test_binomial_at_defaults_matches_numerical_integration(case_id):
    case = BINOMIAL[case_id]
    d = case["data"]
    frame = pd.DataFrame({"study": [f"s{i}" for i in range(len(d["ai"]))], **d})
    tab = EffectTable.from_arms(frame, "OR")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [Binomial(tab).fit(random_seed=s).idata for s in SEEDS]
    ref = {
        var: {
            "mean": case["posterior"][var]["mean"],
            **{f"q{q}": case["posterior"][var]["quantiles"][str(q)] for q in QUANTILES},
        }
        for var in ("mu", "tau")
    }
    failures, devs = _compare(fits, ref)
    assert not failures, failures
    assert np.mean(np.square(devs)) < MCSE_HONESTY
