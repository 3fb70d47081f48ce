"""Model checks: CommonEffect, posterior predictive p-values, PSIS-LOO and LOO comparison.

Fits are session-scoped, small (4 chains x 500 draws) and seeded; everything that samples is
marked ``slow``.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bayesmeta import EffectTable, checks, datasets, exact
from bayesmeta.errors import ConvergenceWarning, ModelSpecError
from bayesmeta.models import (
    MODELS,
    BaseModel,
    Binomial,
    CommonEffect,
    MetaRegression,
    MultiOutcome,
    RandomEffects,
)
from bayesmeta.priors import HalfNormal, Normal, Prior
from bayesmeta.results import Result

BCG_COLUMNS = {"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}
SAMPLER = "nutpie"
try:  # pragma: no cover - depends on the environment
    import nutpie  # noqa: F401
except ImportError:  # pragma: no cover
    SAMPLER = "pymc"

FIT = {"draws": 500, "engine": "nuts", "tune": 500, "chains": 4, "nuts_sampler": SAMPLER}


def eight_schools() -> EffectTable:
    return EffectTable.from_frame(
        datasets.load_eight_schools(), columns={"study": "school", "yi": "y", "sei": "sigma"}
    )


def bcg(measure: str = "RR") -> EffectTable:
    return EffectTable.from_arms(
        datasets.load_bcg(), measure, columns=BCG_COLUMNS, moderators=["ablat"]
    )


def with_outlier() -> EffectTable:
    """10 homogeneous SMD trials (true effect about 0.2), trial s5 replaced by an outlier."""
    rng = np.random.default_rng(7)
    se = rng.uniform(0.1, 0.2, 10)
    y = rng.normal(0.2 + rng.normal(0, 0.05, 10), se)
    y[4] = 1.6
    frame = pd.DataFrame({"study": [f"s{i + 1}" for i in range(10)], "yi": y, "sei": se})
    return EffectTable(frame, measure="SMD")


def fit(model: BaseModel, seed: int) -> Result:
    with warnings.catch_warnings():  # small draw counts: ESS / R-hat warnings are expected
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(random_seed=seed, **FIT)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def schools_fit() -> Result:
    tab = eight_schools()
    return fit(RandomEffects(tab, priors={"mu": "normal(0, 100)", "tau": "half_cauchy(5)"}), 1)


@pytest.fixture(scope="session")
def bcg_fits() -> dict[str, Result]:
    return {"random": fit(RandomEffects(bcg()), 2), "common": fit(CommonEffect(bcg()), 2)}


@pytest.fixture(scope="session")
def outlier_fit() -> Result:
    return fit(RandomEffects(with_outlier()), 3)


# ------------------------------------------------------------------------------------------------
# CommonEffect (fast)


def test_common_effect_is_configuration_only_and_round_trips() -> None:
    model = CommonEffect(bcg())
    assert model.priors == {"mu": Normal(0.0, 2.5)}
    spec = json.loads(json.dumps(model.spec()))
    assert spec["model"] == "common_effect" and MODELS["common_effect"] is CommonEffect
    again = BaseModel.from_spec(spec, bcg())
    assert isinstance(again, CommonEffect) and again.priors == model.priors
    pm_model = model.build()
    assert [v.name for v in pm_model.free_RVs] == ["mu"]
    assert {v.name for v in pm_model.deterministics} == {"tau", "theta", "theta_new"}


def test_common_effect_rejects_tau_prior_and_many_outcomes() -> None:
    with pytest.raises(ModelSpecError, match="unknown prior 'tau'"):
        CommonEffect(bcg(), priors={"tau": "half_normal(1)"})
    frame = pd.DataFrame(
        {"study": ["a", "b", "a", "b"], "outcome": ["x", "x", "y", "y"], "yi": [0.1, 0.2] * 2,
         "vi": [0.01] * 4}
    )  # fmt: skip
    with pytest.raises(ModelSpecError, match="one outcome"):
        CommonEffect(EffectTable(frame, measure="SMD"))


def test_compare_needs_two_fits() -> None:
    with pytest.raises(ModelSpecError, match=">= 2 fits"):
        checks.compare_models({})


def test_prior_predictive_summary_quantiles() -> None:
    out = checks.prior_predictive_summary(RandomEffects(bcg()), draws=400, random_seed=1)
    assert list(out.index.get_level_values("quantity")) == ["mu", "tau", "theta_new", "y"]
    q = out[["q2.5", "q25", "q50", "q75", "q97.5"]].to_numpy()
    assert np.all(np.diff(q, axis=1) >= 0)
    # mu ~ Normal(0, 2.5): central 95% about +-4.9; tau ~ HalfNormal(1): median about 0.67
    assert out.loc[("overall", "mu"), "q97.5"] == pytest.approx(4.9, abs=0.8)
    assert out.loc[("overall", "tau"), "q50"] == pytest.approx(0.674, abs=0.15)
    assert out.loc[("overall", "tau"), "q2.5"] >= 0
    with pytest.raises(ModelSpecError, match="draws"):
        checks.prior_predictive_summary(RandomEffects(bcg()), draws=1)


# ------------------------------------------------------------------------------------------------
# checks read the Result alone (fast: exact fits)


def test_checks_never_rebuild_a_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    model = MetaRegression(bcg(), mods=["ablat"], center=True)
    fits = {
        "regression": model.fit(200, random_seed=1),
        "random": RandomEffects(bcg()).fit(200, random_seed=1),
    }
    fits["regression"].to_netcdf(tmp_path / "reg.nc")
    loaded = Result.load(tmp_path / "reg.nc")

    def rebuilt(*args: Any, **kwargs: Any) -> None:
        pytest.fail("a check rebuilt the model")

    monkeypatch.setattr(BaseModel, "from_spec", classmethod(rebuilt))
    monkeypatch.setattr(BaseModel, "build", rebuilt)
    for res in (fits["regression"], loaded):
        df = checks.posterior_predictive_pvalues(res, random_seed=1)
        assert len(df) == res.table.k
        assert checks.ppc_summary(res, random_seed=1)["k"].tolist() == [res.table.k]
        assert math.isfinite(checks.loo(res).elpd)
        assert math.isfinite(checks.loo(res, integrated=False).elpd)
    pd.testing.assert_frame_equal(
        checks.posterior_predictive_pvalues(loaded, random_seed=1),
        checks.posterior_predictive_pvalues(fits["regression"], random_seed=1),
    )
    cmp = checks.compare_models(fits)
    assert sorted(cmp.index) == ["random", "regression"]
    assert loaded.heterogeneity().loc[("overall", "I2"), "median"] == pytest.approx(
        fits["regression"].heterogeneity().loc[("overall", "I2"), "median"]
    )


# ------------------------------------------------------------------------------------------------
# LOO (slow: they need fits)


@pytest.mark.slow
def test_loo_eight_schools_finite_with_k_per_school(schools_fit: Result, tmp_path: Path) -> None:
    res = checks.loo(schools_fit)
    assert math.isfinite(res.elpd) and math.isfinite(res.se) and res.se > 0
    assert 0 < res.p_loo < 8
    assert list(res.pareto_k.index) == list("ABCDEFGH")
    assert np.isfinite(res.pareto_k.to_numpy()).all()
    assert res.n_bad_k == int((res.pareto_k > checks.BAD_K).sum())
    assert res.integrated and (res.warning == "") == res.ok
    assert res.pointwise["elpd_i"].sum() == pytest.approx(res.elpd)
    schools_fit.to_netcdf(tmp_path / "fit.nc")  # the saved result alone suffices
    assert checks.loo(Result.load(tmp_path / "fit.nc")).elpd == pytest.approx(res.elpd)
    cond = checks.loo(schools_fit, integrated=False)
    assert not cond.integrated and math.isfinite(cond.elpd)


def _exact_loo(table: EffectTable, tau_prior: Prior, mu_prior: Normal) -> np.ndarray:
    """Exact leave-one-out log predictive densities from the exact engine's marginal likelihoods:
    log p(y_i | y_-i) = log p(y) - log p(y_-i)."""

    def log_ml(y: np.ndarray, s: np.ndarray) -> float:
        return exact.exact_posterior(
            y, s, tau_prior=tau_prior, mu_prior=mu_prior
        ).log_marginal_likelihood

    y, s = table.yi, table.sei
    full = log_ml(y, s)
    return np.array([full - log_ml(np.delete(y, i), np.delete(s, i)) for i in range(y.size)])


@pytest.mark.slow
def test_integrated_loo_agrees_with_exact_leave_one_out(bcg_fits: dict[str, Result]) -> None:
    """PSIS on the integrated likelihood reproduces exact LOO (refits by quadrature)."""
    res = checks.loo(bcg_fits["random"])
    assert res.n_bad_k == 0
    ref = _exact_loo(bcg(), HalfNormal(1.0), Normal(0.0, 2.5))
    assert res.elpd == pytest.approx(ref.sum(), abs=0.5)
    np.testing.assert_allclose(res.pointwise["elpd_i"], ref, atol=0.2)
    # the conditional likelihood (theta_i given) is hopeless for PSIS here
    assert checks.loo(bcg_fits["random"], integrated=False).n_bad_k >= 3


@pytest.mark.slow
def test_compare_prefers_random_effects_on_bcg(bcg_fits: dict[str, Result]) -> None:
    table = checks.compare_models(bcg_fits)
    assert list(table.index) == ["random", "common"]
    assert list(table.columns[:7]) == [
        "rank", "elpd_loo", "p_loo", "elpd_diff", "se", "dse", "weight"
    ]  # fmt: skip
    common = table.loc["common"]
    assert table.loc["random", "rank"] == 0 and table.loc["random", "elpd_diff"] == 0
    # ArviZ 1 sign: elpd_model - elpd_best. The difference (about 70-80) exceeds its SE, but
    # not 2 SE: it sits in trials 4 and 8, so dse is large. Exact LOO gives 79.2 / 42.8 = 1.85.
    assert common["elpd_diff"] < -40 and -common["elpd_diff"] > common["dse"]
    # the common-effect fit is so bad that PSIS fails on the influential trials: carried
    assert common["n_bad_k"] >= 1 and "Pareto k" in common["warning"]
    assert table.attrs["warnings"].keys() == {"common"}


@pytest.mark.slow
def test_compare_rejects_fits_to_different_data(
    bcg_fits: dict[str, Result], schools_fit: Result
) -> None:
    with pytest.raises(ModelSpecError, match="different data"):
        checks.compare_models({"bcg": bcg_fits["random"], "schools": schools_fit})


# ------------------------------------------------------------------------------------------------
# posterior predictive checks (slow)


@pytest.mark.slow
@pytest.mark.parametrize("predictive", ["mixed", "posterior"])
def test_ppc_pvalues_are_probabilities(schools_fit: Result, predictive: str) -> None:
    df = checks.posterior_predictive_pvalues(schools_fit, predictive=predictive, random_seed=1)
    assert list(df.columns) == [
        "study", "outcome", "y_obs", "pred_median", "pred_lb", "pred_ub", "p_greater",
        "p_value", "outside_95",
    ]  # fmt: skip
    assert list(df["study"]) == list("ABCDEFGH")
    assert df["p_value"].between(0, 1).all() and df["p_greater"].between(0, 1).all()
    np.testing.assert_allclose(
        df["p_value"], 2 * np.minimum(df["p_greater"], 1 - df["p_greater"]), atol=1e-12
    )
    assert (df["pred_lb"] < df["pred_median"]).all() and (df["pred_median"] < df["pred_ub"]).all()
    assert df.attrs["draws"] == 2000
    same = checks.posterior_predictive_pvalues(schools_fit, predictive=predictive, random_seed=1)
    pd.testing.assert_frame_equal(same, df)


@pytest.mark.slow
def test_injected_outlier_is_flagged(outlier_fit: Result) -> None:
    df = checks.posterior_predictive_pvalues(outlier_fit, random_seed=1)
    flagged = df.loc[df["outside_95"], "study"].tolist()
    assert flagged == ["s5"]
    assert df.set_index("study").loc["s5", "p_value"] < 0.05
    summary = checks.ppc_summary(outlier_fit, random_seed=1).iloc[0]
    assert summary["verdict"] == "1 trial outside their 95% predictive interval"
    assert summary["outside_studies"] == ["s5"] and "s5" in summary["text"]
    assert checks.loo(outlier_fit).pareto_k.idxmax() == "s5"


@pytest.mark.slow
def test_ppc_summary_words(bcg_fits: dict[str, Result]) -> None:
    good = checks.ppc_summary(bcg_fits["random"], random_seed=1).iloc[0]
    assert good["verdict"] == "no misfit detected"
    assert 0.05 < good["p_sd"] < 0.95
    assert "reproduces the spread" in good["text"]
    bad = checks.ppc_summary(bcg_fits["common"], random_seed=1).iloc[0]
    assert bad["n_outside"] >= 3 and bad["p_sd"] < 0.05
    assert "disagree more than the model predicts" in bad["text"]


@pytest.mark.slow
def test_multi_outcome_ppc_has_one_row_per_estimate() -> None:
    rng = np.random.default_rng(5)
    rows = []
    for o, mu in (("qol", 0.3), ("pain", -0.2)):
        for i in range(6):
            se = rng.uniform(0.12, 0.3)
            rows.append({"study": f"s{i}", "outcome": o, "yi": rng.normal(mu, se), "sei": se})
    tab = EffectTable(pd.DataFrame(rows), measure="SMD")
    res = fit(MultiOutcome(tab), 4)
    df = checks.posterior_predictive_pvalues(res, random_seed=1)
    assert len(df) == tab.k and list(df["outcome"]) == list(tab.data["outcome"])
    assert df["p_value"].between(0, 1).all()
    summary = checks.ppc_summary(res, random_seed=1)
    assert list(summary["outcome"]) == ["qol", "pain"] and list(summary["k"]) == [6, 6]
    lr = checks.loo(res)
    assert lr.pareto_k.index.names == ["outcome", "study"] and len(lr.pareto_k) == tab.k


@pytest.mark.slow
def test_binomial_checks_per_arm_and_per_trial() -> None:
    tab = EffectTable.from_arms(datasets.load_bcg(), "OR", columns=BCG_COLUMNS)
    res = fit(Binomial(tab), 6)
    df = checks.posterior_predictive_pvalues(res, random_seed=1)
    assert len(df) == 2 * tab.k and set(df["arm"]) == {"treatment", "control"}
    assert (df["y_obs"] == np.round(df["y_obs"])).all() and df["p_value"].between(0, 1).all()
    lr = checks.loo(res)  # one term per trial: the two arms summed
    assert len(lr.pareto_k) == tab.k and math.isfinite(lr.elpd)
