"""Prior sensitivity: the exact engine reproduces exact_posterior per prior; NUTS agrees (slow)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from bayesmeta import EffectTable, datasets, exact
from bayesmeta.errors import ConvergenceWarning, ModelSpecError
from bayesmeta.priors import Flat, HalfCauchy, HalfNormal, LogNormal, LogStudentT, Normal, Uniform
from bayesmeta.sensitivity import (
    DEFAULT_SENSITIVITY_PRIORS,
    default_sensitivity_priors,
    prior_sensitivity,
)

BCG_COLUMNS = {"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}
SCHOOL_PRIORS = {
    "HN(5)": HalfNormal(5.0),
    "HC(5)": HalfCauchy(5.0),
    "HC(25)": HalfCauchy(25.0),
    "U(0, 50)": Uniform(0.0, 50.0),
}


def eight_schools() -> EffectTable:
    return EffectTable.from_frame(
        datasets.load_eight_schools(),
        columns={"study": "school", "yi": "y", "sei": "sigma"},
        direction="higher",
    )


def bcg(measure: str = "RR") -> EffectTable:
    return EffectTable.from_arms(
        datasets.load_bcg(), measure, columns=BCG_COLUMNS, direction="lower"
    )


def _check_row_against_exact(row: pd.Series, table: EffectTable, tau_prior, mu_prior) -> None:
    post = exact.exact_posterior(table.yi, table.sei, tau_prior=tau_prior, mu_prior=mu_prior)
    lo, hi = post.mu.interval(0.95)
    tlo, thi = post.tau.interval(0.95)
    plo, phi = post.theta_new.interval(0.95)
    expected = {
        "mu_median": post.mu.median,
        "mu_ci_lb": lo,
        "mu_ci_ub": hi,
        "tau_median": post.tau.median,
        "tau_ci_lb": tlo,
        "tau_ci_ub": thi,
        "pi_lb": plo,
        "pi_ub": phi,
    }
    for col, value in expected.items():
        assert row[col] == pytest.approx(value, rel=1e-10, abs=1e-10), col
    side = "greater" if table.direction() == "higher" else "less"
    assert row["p_benefit"] == pytest.approx(post.prob("mu", 0.0, side), abs=1e-10)
    if tau_prior.is_proper and mu_prior.is_proper:
        assert row["log_ml"] == pytest.approx(post.log_marginal_likelihood, rel=1e-10)
        assert row["bf01_tau"] == pytest.approx(post.bayes_factor("tau"), rel=1e-8)
    else:
        assert math.isnan(row["log_ml"]) and math.isnan(row["bf01_tau"])


def test_exact_engine_equals_exact_posterior_per_prior_eight_schools() -> None:
    table = eight_schools()
    mu_prior = Normal(0.0, 100.0)
    df = prior_sensitivity(table, SCHOOL_PRIORS, mu_prior=mu_prior)
    assert list(df["prior"]) == list(SCHOOL_PRIORS) and set(df["engine"]) == {"exact"}
    for (_, row), tau_prior in zip(df.iterrows(), SCHOOL_PRIORS.values(), strict=True):
        _check_row_against_exact(row, table, tau_prior, mu_prior)
    assert df.attrs["ci_prob"] == 0.95


def test_exact_engine_default_priors_bcg_honours_direction() -> None:
    table = bcg("OR")
    df = prior_sensitivity(table)
    assert list(df["prior"]) == list(default_sensitivity_priors("OR"))
    assert set(df["mu_prior"]) == {"Normal(mu=0, sigma=2.5)"}
    for (_, row), tau_prior in zip(
        df.iterrows(), default_sensitivity_priors("OR").values(), strict=True
    ):
        _check_row_against_exact(row, table, tau_prior, Normal(0.0, 2.5))
    # BCG lowers the risk: P(benefit) = P(mu < 0) is near 1 under every prior
    assert (df["p_benefit"] > 0.99).all()
    # the evidence for heterogeneity is overwhelming whatever the prior
    assert (df["bf01_tau"] < 1e-20).all()


def test_flat_mu_prior_has_no_marginal_likelihood() -> None:
    table = eight_schools()
    df = prior_sensitivity(table, [HalfNormal(5.0)], mu_prior="flat")
    _check_row_against_exact(df.iloc[0], table, HalfNormal(5.0), Flat())
    assert df.loc[0, "prior"] == "HalfNormal(scale=5)"


def test_several_outcomes_batched_like_one_at_a_time() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for o, k, direction in (("qol", 7, "higher"), ("pain", 4, "lower"), ("mood", 9, "higher")):
        for i in range(k):
            se = rng.uniform(0.1, 0.3)
            rows.append(
                {"study": f"s{i}", "outcome": o, "yi": rng.normal(0.2, 0.3), "sei": se,
                 "direction": direction}
            )  # fmt: skip
    table = EffectTable(pd.DataFrame(rows), measure="SMD")
    df = prior_sensitivity(table, ["half_normal(0.5)", "half_cauchy(0.5)"])
    assert list(df["outcome"]) == ["qol", "qol", "pain", "pain", "mood", "mood"]
    for _, row in df.iterrows():
        sub = table.for_outcome(row["outcome"])
        prior = HalfNormal(0.5) if row["prior"].startswith("HalfNormal") else HalfCauchy(0.5)
        _check_row_against_exact(row, sub, prior, Normal(0.0, 1.0))


def test_default_priors_by_measure() -> None:
    assert len(DEFAULT_SENSITIVITY_PRIORS) == 6
    assert isinstance(default_sensitivity_priors("OR")["Turner 2015 (general)"], LogNormal)
    assert isinstance(default_sensitivity_priors("SMD")["Rhodes 2015 (general)"], LogStudentT)
    assert list(default_sensitivity_priors("RR")) == list(DEFAULT_SENSITIVITY_PRIORS)
    with pytest.raises(ModelSpecError, match="units"):
        prior_sensitivity(eight_schools())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tau_priors": ["normal(0, 1)"]}, "not a prior for a scale"),
        ({"tau_priors": []}, "empty"),
        ({"tau_priors": ["half_normal(1)", "half_normal(1)"]}, "twice"),
        ({"tau_priors": ["nonsense(1)"]}, "unknown"),
        ({"engine": "gibbs"}, "engine"),
        ({"model": "binomial", "engine": "exact"}, "normal-normal model only"),
        ({"mu_prior": "half_normal(1)"}, "normal or flat"),
        ({"ci_prob": 1.5}, "ci_prob"),
    ],
)
def test_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ModelSpecError, match=match):
        prior_sensitivity(bcg(), **kwargs)


@pytest.mark.slow
def test_nuts_agrees_with_exact_within_mc_error() -> None:
    table = eight_schools()
    prior = {"HN(5)": HalfNormal(5.0)}
    mu_prior = Normal(0.0, 100.0)
    ex = prior_sensitivity(table, prior, mu_prior=mu_prior).iloc[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        nu = prior_sensitivity(
            table, prior, mu_prior=mu_prior, engine="nuts", draws=500, tune=500, random_seed=8
        ).iloc[0]
    assert nu["engine"] == "nuts" and math.isnan(nu["log_ml"])
    # 2000 draws: MC error of a median or 2.5% quantile is a few % of the posterior width;
    # allow 10% of the width of the 95% interval
    for p in ("mu", "tau"):
        width = ex[f"{p}_ci_ub"] - ex[f"{p}_ci_lb"]
        assert abs(nu[f"{p}_median"] - ex[f"{p}_median"]) < 0.1 * width, p
        assert abs(nu[f"{p}_ci_ub"] - ex[f"{p}_ci_ub"]) < 0.15 * width, p
    assert abs(nu["pi_lb"] - ex["pi_lb"]) < 0.15 * (ex["pi_ub"] - ex["pi_lb"])
    assert nu["p_benefit"] == pytest.approx(ex["p_benefit"], abs=0.03)
