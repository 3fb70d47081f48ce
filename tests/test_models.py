"""Bayesian models: lifecycle, specs, validation (fast), and fits checked against references (slow).

The slow tests share session-scoped fits with fixed seeds and small draw counts.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayesmeta import EffectTable, datasets, rma
from bayesmeta._stats import typical_variance
from bayesmeta.errors import ConvergenceWarning, ModelSpecError, ResultFileError
from bayesmeta.exact import exact_posterior
from bayesmeta.models import (
    BaseModel,
    Binomial,
    MetaRegression,
    MultiOutcome,
    RandomEffects,
    default_priors,
)
from bayesmeta.priors import Flat, HalfCauchy, HalfNormal, Normal
from bayesmeta.results import Result, interval

BCG_COLUMNS = {"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}
SAMPLER = "nutpie"  # explicit, so draws are reproducible (falls back below if not installed)

try:  # pragma: no cover - depends on the environment
    import nutpie  # noqa: F401
except ImportError:  # pragma: no cover
    SAMPLER = "pymc"


# ------------------------------------------------------------------------------------------------
# tables


def eight_schools() -> EffectTable:
    return EffectTable.from_frame(
        datasets.load_eight_schools(), columns={"study": "school", "yi": "y", "sei": "sigma"}
    )


def bcg(measure: str = "RR") -> EffectTable:
    return EffectTable.from_arms(
        datasets.load_bcg(), measure, columns=BCG_COLUMNS, moderators=["ablat"]
    )


def simulated_three_outcomes(seed: int = 20240611) -> EffectTable:
    """3 SMD outcomes x 8 studies, true mu = (0.3, -0.2, 0.0), tau = (0.1, 0.2, 0.05)."""
    rng = np.random.default_rng(seed)
    rows = []
    for o, mu, tau, direction in (
        ("qol", 0.3, 0.1, "higher"),
        ("symptoms", -0.2, 0.2, "lower"),
        ("support", 0.0, 0.05, "higher"),
    ):
        for i in range(8):
            se = rng.uniform(0.12, 0.3)
            theta = rng.normal(mu, tau)
            rows.append(
                {
                    "study": f"s{i}",
                    "outcome": o,
                    "yi": rng.normal(theta, se),
                    "sei": se,
                    "direction": direction,
                }
            )
    return EffectTable(pd.DataFrame(rows), measure="SMD")


SCHOOL_PRIORS = {"mu": Normal(0, 50), "tau": HalfCauchy(25)}


# ------------------------------------------------------------------------------------------------
# fast: lifecycle, spec, validation


def test_init_stores_configuration_only(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: Any) -> None:
        raise AssertionError("build() called")

    monkeypatch.setattr(BaseModel, "build", boom)
    model = RandomEffects(eight_schools(), priors=SCHOOL_PRIORS)
    assert model.priors == {"mu": Normal(0, 50), "tau": HalfCauchy(25)}
    assert model.spec()["model"] == "random_effects"
    repr(model)


def test_build_random_effects_named_vars_and_dims() -> None:
    model = RandomEffects(eight_schools(), priors=SCHOOL_PRIORS).build()
    assert set(model.coords) == {"study"}
    assert list(model.coords["study"]) == list("ABCDEFGH")
    for name in ("mu", "tau", "theta", "theta_new", "y", "sei", "z", "z_new"):
        assert name in model.named_vars
    dims = model.named_vars_to_dims
    assert dims["theta"] == ("study",) and dims["y"] == ("study",)
    assert not any("_dim_" in d for ds in dims.values() for d in ds)
    centred = RandomEffects(eight_schools(), parameterization="centered", priors=SCHOOL_PRIORS)
    assert "z" not in centred.build().named_vars


def test_build_regression_multi_binomial_dims() -> None:
    reg = MetaRegression(bcg(), mods=["ablat"]).build()
    assert list(reg.coords["moderator"]) == ["ablat"]
    assert reg.named_vars_to_dims["beta"] == ("moderator",)
    assert reg.named_vars_to_dims["X"] == ("study", "moderator")

    multi = MultiOutcome(simulated_three_outcomes()).build()
    assert list(multi.coords["outcome"]) == ["qol", "symptoms", "support"]
    assert len(multi.coords["estimate"]) == 24
    assert multi.named_vars_to_dims["mu"] == ("outcome",)
    assert multi.named_vars_to_dims["theta"] == ("estimate",)
    assert multi.named_vars_to_dims["theta_new"] == ("outcome",)
    pooled = MultiOutcome(simulated_three_outcomes(), pool_tau=True).build()
    assert pooled.named_vars_to_dims["tau"] == ("outcome",)

    binom = Binomial(bcg("OR")).build()
    assert binom.named_vars_to_dims["y"] == ("study", "arm")
    assert binom.named_vars_to_dims["alpha"] == ("study",)


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomEffects(
            eight_schools(), priors={"mu": "normal(0, 50)", "tau": "half_cauchy(25)"}
        ),
        lambda: RandomEffects(bcg(), parameterization="centered"),
        lambda: MetaRegression(
            bcg(), mods=["ablat"], center=True, priors={"tau": "half_normal(0.5)"}
        ),
        lambda: MetaRegression(bcg(), mods=["ablat"], priors={"beta": {"ablat": "flat"}}),
        lambda: MultiOutcome(simulated_three_outcomes(), priors={"mu": {"qol": "normal(0, 2)"}}),
        lambda: MultiOutcome(simulated_three_outcomes(), pool_tau=True),
        lambda: Binomial(bcg("OR"), priors={"alpha": "normal(0, 10)"}),
    ],
)
def test_spec_round_trips_through_json(make: Any) -> None:
    model = make()
    spec = model.spec()
    text = json.dumps(spec)
    again = BaseModel.from_spec(json.loads(text), model.table)
    assert type(again) is type(model)
    assert again.spec() == spec


def test_default_priors_by_measure() -> None:
    assert default_priors("SMD", np.array([0.1]))["tau"] == HalfNormal(0.5)
    assert default_priors("OR", np.array([0.1]))["tau"] == HalfNormal(1.0)
    assert default_priors("RR", np.array([0.1]))["mu"] == Normal(0, 2.5)
    # a measure with units and no sample sizes: no guess, the two ways out named
    with pytest.raises(ModelSpecError, match=r"sample sizes.*or give priors for 'mu' and 'tau'"):
        RandomEffects(eight_schools()).fit()
    assert RandomEffects(eight_schools(), priors=SCHOOL_PRIORS).priors == SCHOOL_PRIORS
    with pytest.raises(ModelSpecError, match="give priors for 'tau'"):
        RandomEffects(eight_schools(), priors={"mu": "normal(0, 50)"}).fit()
    # unknown measure names are refused, not treated as MD
    for measure in ("logOR", "lnOR"):
        tab = EffectTable(bcg().data[["study", "yi", "vi"]], measure=measure)
        with pytest.raises(ModelSpecError, match="known measures: SMD, OR, RR, RD, MD, generic"):
            RandomEffects(tab).fit()
    beta = MetaRegression(bcg(), mods=["ablat"]).priors["beta"]
    assert beta == {"ablat": Normal(0, 0.17)}


def test_user_priors_merge_with_defaults() -> None:
    model = RandomEffects(bcg(), priors={"tau": "half_normal(0.3)"})
    assert model.priors == {"mu": Normal(0, 2.5), "tau": HalfNormal(0.3)}
    multi = MultiOutcome(simulated_three_outcomes(), priors={"tau": {"qol": HalfNormal(0.2)}})
    assert multi.priors["tau"]["qol"] == HalfNormal(0.2)
    assert multi.priors["tau"]["symptoms"] == HalfNormal(0.5)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: RandomEffects(bcg(), priors={"sigma": "half_normal(1)"}), "unknown prior 'sigma'"),
        (lambda: RandomEffects(bcg(), priors={"tau": "half_normal(-1)"}), r"priors\['tau'\]"),
        (lambda: RandomEffects(bcg(), priors={"tau": "normal(0, 1)"}), "scale"),
        (lambda: RandomEffects(bcg(), priors={"mu": "half_normal(1)"}), "location"),
        (lambda: RandomEffects(bcg(), priors={"tau": "banana(1)"}), "unknown prior family"),
        (lambda: RandomEffects(bcg(), parameterization="funnel"), "parameterization"),
        (lambda: RandomEffects(simulated_three_outcomes()), "MultiOutcome"),
        (lambda: MetaRegression(bcg(), mods=["latitude"]), "mods: moderator"),
        (lambda: MetaRegression(bcg(), mods=[]), "mods"),
        (lambda: MetaRegression(_with_constant(bcg()), mods=["const"]), "constant"),
        (lambda: MetaRegression(bcg(), mods=["ablat"], priors={"beta": "half_normal(1)"}), "beta"),
        (
            lambda: MetaRegression(bcg(), mods=["ablat"], priors={"beta": {"x": "flat"}}),
            "not among",
        ),
        (lambda: MultiOutcome(simulated_three_outcomes(), priors={"mu": {"nope": "flat"}}), "nope"),
        (
            lambda: MultiOutcome(
                simulated_three_outcomes(), pool_tau=True, priors={"tau": "half_normal(1)"}
            ),
            "pool_tau",
        ),
        (lambda: Binomial(bcg("RR")), "log odds ratio"),
        (lambda: Binomial(eight_schools()), "log odds ratio"),
    ],
)
def test_bad_specs_raise_before_compiling(
    make: Any, match: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BaseModel, "build", lambda self: pytest.fail("compiled a bad spec"))
    with pytest.raises(ModelSpecError, match=match):
        make()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nuts_sampler": "stan"}, "nuts_sampler"),
        ({"target_accept": 1.5}, "target_accept"),
        ({"chains": 0}, "chains"),
        ({"engine": "gibbs"}, "unknown engine"),
        ({"prior_draws": -1}, "prior_draws"),
    ],
)
def test_bad_fit_arguments_raise_before_compiling(
    kwargs: dict[str, Any], match: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(BaseModel, "build", lambda self: pytest.fail("compiled"))
    with pytest.raises(ModelSpecError, match=match):
        RandomEffects(bcg()).fit(10, **kwargs)


def test_auto_engine_per_model() -> None:
    from bayesmeta.models import CommonEffect

    tab = bcg("OR")
    cases = {
        RandomEffects(tab): "exact",
        MetaRegression(tab, mods=["ablat"]): "exact",
        MultiOutcome(tab): "exact",
        MultiOutcome(simulated_three_outcomes(), pool_tau=True): "nuts",
        Binomial(tab): "nuts",
        CommonEffect(tab): "nuts",
    }
    for model, engine in cases.items():
        used, reason = model.resolve_engine()
        assert used == engine, (model, reason)
        assert reason.startswith("auto")


def test_exact_fit_with_prior_draws() -> None:
    res = RandomEffects(eight_schools(), priors=SCHOOL_PRIORS).fit(
        100, chains=2, random_seed=3, prior_draws=50
    )
    assert res.engine == "exact" and res.sampling["chains"] == 2
    assert res.idata["prior"]["tau"].shape == (1, 50)
    assert res.idata["prior_predictive"]["y"].shape == (1, 50, 8)
    assert res.posterior["mu"].shape == (2, 100)
    assert {"tune", "target_accept", "sampler"}.isdisjoint(res.sampling)


def _with_constant(table: EffectTable) -> EffectTable:
    df = table.data.copy()
    df["const"] = 1.0
    return EffectTable(df, moderators=["ablat", "const"])


def test_interval_and_typical_variance() -> None:
    x = np.random.default_rng(1).exponential(size=20_000)
    lo, hi = interval(x, 0.95, "hdi")
    assert lo < 0.01 and abs(hi - (-math.log(0.05))) < 0.1
    tab = bcg()
    I2 = rma(tab, method="REML").I2
    vt = typical_variance(tab.vi)
    tau2 = rma(tab, method="REML").tau2
    assert 100 * tau2 / (tau2 + vt) == pytest.approx(I2, rel=1e-10)


def test_load_rejects_foreign_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ResultFileError, match="no such file"):
        Result.load(tmp_path / "missing.nc")
    text = tmp_path / "notes.nc"
    text.write_text("not netcdf")
    with pytest.raises(ResultFileError, match="cannot be read"):
        Result.load(text)
    foreign = tmp_path / "foreign.nc"
    xr.DataTree(xr.Dataset({"a": ("x", [1.0, 2.0])})).to_netcdf(foreign, engine="h5netcdf")
    with pytest.raises(ResultFileError, match="not a bayesmeta result"):
        Result.load(foreign)


# ------------------------------------------------------------------------------------------------
# slow: real sampling (session-scoped fits, fixed seeds)


@pytest.fixture(scope="session")
def schools_fit() -> Result:
    model = RandomEffects(eight_schools(), priors=SCHOOL_PRIORS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # judged by the test itself
        return model.fit(
            2000,
            engine="nuts",
            tune=1000,
            chains=4,
            random_seed=8,
            nuts_sampler=SAMPLER,
            prior_draws=200,
        )


@pytest.fixture(scope="session")
def multi_fit() -> Result:
    return MultiOutcome(simulated_three_outcomes()).fit(
        1000,
        engine="nuts",
        tune=1000,
        chains=4,
        random_seed=3,
        nuts_sampler=SAMPLER,
    )


# R bayesmeta 3.4 on eight schools, mu ~ N(0, 50^2), tau ~ half-Cauchy(25)
# (/work/shared/reference/eight-schools-bayesmeta.md; Röver 2020, J Stat Softw 93(6)).
SCHOOLS_REF = {
    ("mu", 0.5): 7.962961,
    ("tau", 0.5): 4.758539,
    ("theta_new", 0.5): 7.926819,
    ("tau", 0.025): 0.2199559,
    ("tau", 0.975): 18.0531718,
}


@pytest.mark.slow
def test_eight_schools_nuts_agrees_with_bayesmeta(schools_fit: Result) -> None:
    import arviz as az

    idata = schools_fit.idata
    assert schools_fit.engine == "nuts" and schools_fit.sampler == SAMPLER
    assert schools_fit.sampling["engine_reason"] == "engine='nuts' requested"
    diag = schools_fit.diagnostics()
    assert diag.engine == "nuts" and diag.sampler == SAMPLER and diag.max_rhat < 1.01
    for (var, prob), ref in SCHOOLS_REF.items():
        est = float(np.quantile(schools_fit.draws(var), prob))
        mcse = float(az.mcse(idata, var_names=[var], method="quantile", prob=prob)[var])
        assert abs(est - ref) < 3 * mcse, (var, prob, est, ref, mcse)
    mu = schools_fit.draws("mu")
    mcse_mean = float(az.mcse(idata, var_names=["mu"], method="mean")["mu"])
    assert abs(mu.mean() - 7.985729) < 3 * mcse_mean
    mcse_sd = float(az.mcse(idata, var_names=["mu"], method="sd")["mu"])
    assert abs(mu.std(ddof=1) - 4.995762) < 3 * mcse_sd
    # P(mu > 0) = 0.9487521 in R bayesmeta; binomial MC error with ESS draws
    ess = float(az.ess(idata, var_names=["mu"], method="tail")["mu"])
    p = schools_fit.prob_benefit()
    assert abs(p - 0.9487521) < 3 * math.sqrt(0.95 * 0.05 / ess)


@pytest.mark.slow
def test_result_holds_all_groups(schools_fit: Result) -> None:
    groups = set(schools_fit.idata.children)
    assert {
        "posterior",
        "sample_stats",
        "log_likelihood",
        "posterior_predictive",
        "observed_data",
        "constant_data",
        "prior",
        "prior_predictive",
    } <= groups
    assert schools_fit.idata["posterior_predictive"]["y"].dims == ("chain", "draw", "study")
    assert schools_fit.idata["log_likelihood"]["y"].shape == (4, 2000, 8)
    assert schools_fit.frequentist["overall"]["DL"].tau2 == 0.0


@pytest.mark.slow
def test_summary_is_95_percent_with_median(schools_fit: Result) -> None:
    s = schools_fit.summary()
    assert s.attrs == {"ci_prob": 0.95, "ci_kind": "eti"}
    assert list(s.columns[:8]) == [
        "mean",
        "sd",
        "median",
        "ci_lb",
        "ci_ub",
        "ess_bulk",
        "ess_tail",
        "r_hat",
    ]
    tau = schools_fit.draws("tau")
    assert s.loc["tau", "ci_ub"] == pytest.approx(np.quantile(tau, 0.975), rel=1e-6)
    assert s.loc["tau", "median"] == pytest.approx(np.median(tau), rel=1e-9)
    assert "theta[A]" in s.index
    hdi = schools_fit.summary(ci_kind="hdi")
    assert hdi.loc["tau", "ci_lb"] < s.loc["tau", "ci_lb"]


@pytest.mark.slow
def test_heterogeneity_shrinkage_and_benefit(schools_fit: Result) -> None:
    het = schools_fit.heterogeneity()
    assert list(het.loc["overall"].index) == ["tau", "tau2", "I2", "H2", "theta_new"]
    assert 0 <= het.loc[("overall", "I2"), "ci_lb"] < het.loc[("overall", "I2"), "ci_ub"] < 100
    assert het.loc[("overall", "tau2"), "median"] == pytest.approx(
        het.loc[("overall", "tau"), "median"] ** 2, rel=1e-3
    )
    shr = schools_fit.shrinkage()
    assert list(shr["study"]) == list("ABCDEFGH")
    # shrinkage pulls school A's 28.4 towards the mean (R bayesmeta: median 10.09)
    assert 5 < shr.loc[0, "median"] < 15
    p = schools_fit.prob_benefit()
    lower = schools_fit.table.data.assign(direction="lower")
    flipped = Result(
        schools_fit.idata, spec=schools_fit.spec, table=EffectTable(lower), sampling={}
    )
    assert flipped.prob_benefit() == pytest.approx(1 - p, abs=1e-12)


@pytest.mark.slow
def test_netcdf_round_trip_is_exact(schools_fit: Result, tmp_path: Path) -> None:
    path = tmp_path / "schools.nc"
    schools_fit.to_netcdf(path)
    back = Result.load(path)
    xr.testing.assert_identical(back.idata, schools_fit.idata)
    assert back.spec == schools_fit.spec
    assert back.sampling == schools_fit.sampling
    pd.testing.assert_frame_equal(back.table.data, schools_fit.table.data)
    pd.testing.assert_frame_equal(back.summary(), schools_fit.summary())
    truncated = tmp_path / "truncated.nc"
    shutil.copyfile(path, truncated)
    with open(truncated, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)
    with pytest.raises(ResultFileError):
        Result.load(truncated)


@pytest.mark.slow
def test_same_seed_gives_identical_draws() -> None:
    model = RandomEffects(bcg())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # short chains, on purpose
        kw = {"tune": 300, "chains": 2, "random_seed": 11, "nuts_sampler": SAMPLER}
        a = model.fit(300, engine="nuts", **kw)  # type: ignore[arg-type]
        b = model.fit(300, engine="nuts", **kw)  # type: ignore[arg-type]
    # equal draws; only the attributes (creation time, sampling time) differ
    xr.testing.assert_equal(a.posterior.to_dataset(), b.posterior.to_dataset())
    xr.testing.assert_equal(
        a.idata["posterior_predictive"].to_dataset(), b.idata["posterior_predictive"].to_dataset()
    )


@pytest.mark.slow
def test_bad_fit_raises_convergence_warning() -> None:
    model = RandomEffects(eight_schools(), priors=SCHOOL_PRIORS, parameterization="centered")
    with pytest.warns(ConvergenceWarning) as record:
        res = model.fit(100, engine="nuts", tune=10, chains=2, random_seed=1, nuts_sampler=SAMPLER)
    messages = " ".join(str(r.message) for r in record)
    assert "target_accept" in messages or "draws" in messages
    assert not res.diagnostics().ok


@pytest.mark.slow
def test_meta_regression_bcg_matches_metafor_slope() -> None:
    model = MetaRegression(
        bcg(),
        mods=["ablat"],
        priors={"mu": Normal(0, 100), "tau": HalfCauchy(5), "beta": Flat()},
    )
    res = model.fit(
        1000,
        engine="nuts",
        tune=1000,
        chains=4,
        random_seed=5,
        nuts_sampler=SAMPLER,
    )
    beta = res.posterior["beta"].sel(moderator="ablat").values.mean()
    assert abs(beta - (-0.0291)) < 0.05
    assert res.frequentist["overall"]["REML"].beta[1] == pytest.approx(-0.0291, abs=1e-4)
    assert "beta[ablat]" in res.summary().index
    het = res.heterogeneity()
    assert het.loc[("overall", "I2"), "median"] < 100


@pytest.mark.slow
def test_multi_outcome_matches_single_fits(multi_fit: Result) -> None:
    diag = multi_fit.diagnostics()
    assert diag.divergences == 0, diag.problems
    table = multi_fit.table
    post = multi_fit.posterior
    assert list(post["theta"].coords["estimate_outcome"].values[:2]) == ["qol", "qol"]
    for outcome, sub in table.by_outcome():
        single = RandomEffects(sub).fit(
            1000,
            engine="nuts",
            tune=1000,
            chains=4,
            random_seed=4,
            nuts_sampler=SAMPLER,
        )
        m_multi = multi_fit.draws("mu", outcome)
        m_single = single.draws("mu")
        sd = m_single.std()
        assert abs(np.median(m_multi) - np.median(m_single)) < 0.15 * sd, outcome
    cmp = multi_fit.compare(
        published=pd.DataFrame(
            {
                "outcome": ["qol", "qol"],
                "subgroup": ["all", "lower"],
                "estimate": [0.3, 0.9],
                "ci_lb": [0.1, 0.5],
                "ci_ub": [0.5, 1.3],
            }
        )
    )
    assert list(cmp["outcome"]) == ["qol", "symptoms", "support"]
    assert cmp.loc[0, "published_estimate"] == 0.3
    assert math.isnan(cmp.loc[1, "published_estimate"])
    # "symptoms" favours lower values: P(benefit) = P(mu < 0)
    mu_sym = multi_fit.draws("mu", "symptoms")
    assert cmp.loc[1, "p_benefit"] == pytest.approx(np.mean(mu_sym < 0))
    for col in ("dl_estimate", "reml_kh_ci_lb", "mu_median", "tau_ci_ub", "pi_lb"):
        assert np.isfinite(cmp[col]).all()
    het = multi_fit.heterogeneity()
    assert set(het.index.get_level_values("outcome")) == {"qol", "symptoms", "support"}
    with pytest.raises(ModelSpecError, match="outcome"):
        multi_fit.prob_benefit()


@pytest.mark.slow
def test_binomial_bcg_near_frequentist() -> None:
    tab = bcg("OR")
    res = Binomial(tab).fit(  # engine="auto": NUTS, and the result says so
        1000, tune=1000, chains=4, random_seed=2, nuts_sampler=SAMPLER
    )
    assert res.engine == "nuts" and res.sampler == SAMPLER
    assert "binomial likelihood" in res.sampling["engine_reason"]
    n = res.idata["constant_data"]["n"]
    assert n.dims == ("study", "arm") and list(n["arm"].values) == ["treatment", "control"]
    np.testing.assert_array_equal(res.arm_totals()[:, 0], [a + b for a, b in zip(
        tab.data["ai"], tab.data["bi"], strict=True)])  # fmt: skip
    mu = np.median(res.draws("mu"))
    assert abs(mu - rma(tab, method="REML").beta[0]) < 0.2
    assert res.idata["log_likelihood"]["y"].dims == ("chain", "draw", "study", "arm")


@pytest.mark.slow
def test_eight_schools_nuts_quantiles_agree_with_exact_engine(schools_fit: Result) -> None:
    import arviz as az

    from bayesmeta.exact import exact_posterior

    tab = schools_fit.table
    exact = exact_posterior(tab.yi, tab.sei, tau_prior=HalfCauchy(25), mu_prior=Normal(0, 50))
    for var in ("mu", "tau", "theta_new"):
        dist = getattr(exact, var)
        for prob in (0.025, 0.5, 0.975):
            ref = float(dist.quantile(prob))
            est = float(np.quantile(schools_fit.draws(var), prob))
            mcse = float(
                az.mcse(schools_fit.idata, var_names=[var], method="quantile", prob=prob)[var]
            )
            assert abs(est - ref) < 3 * mcse, (var, prob, est, ref, mcse)


# ------------------------------------------------------------------------------------------------
# default priors for measures with units: scaled by the unit-information SD (issue: priors that
# do not depend on trial size)
def _md_table(se: float, sigma: float = 10.0) -> EffectTable:
    """Six MD trials (effects -6, -2, 1, 3, 7, 10), balanced arms giving standard error ``se``."""
    n_arm = round(2 * sigma**2 / se**2)
    frame = pd.DataFrame(
        {
            "study": list("abcdef"),
            "yi": [-6.0, -2.0, 1.0, 3.0, 7.0, 10.0],
            "sei": [se] * 6,
            "n1i": [n_arm] * 6,
            "n2i": [n_arm] * 6,
        }
    )
    return EffectTable(frame, measure="MD")


def test_md_default_priors_are_scaled_by_the_unit_information_sd() -> None:
    # sigma = 10 per participant: the unit-information SD is 2 sigma = 20 whatever the trial size
    for se in (2.0, 1.0, 0.3):
        assert RandomEffects(_md_table(se)).priors == {
            "mu": Normal(0, 20),
            "tau": HalfNormal(10),
        }


@pytest.mark.parametrize("se", [2.0, 1.0, 0.3])
def test_md_default_posterior_does_not_shrink_with_trial_size(se: float) -> None:
    tab = _md_table(se)
    reml = rma(tab, method="REML")
    lo, hi = np.sqrt(reml.tau2_ci_lb), np.sqrt(reml.tau2_ci_ub)  # Q-profile CI of tau
    pri = RandomEffects(tab).priors
    post = exact_posterior(tab.yi, tab.sei, tau_prior=pri["tau"], mu_prior=pri["mu"])
    assert lo <= post.tau.median <= hi
    mu_lb, mu_ub = post.mu.interval(0.95)
    assert mu_lb < 0 < mu_ub  # bigger trials alone do not make the pooled effect "significant"


def test_binomial_refuses_a_flat_baseline_prior() -> None:
    # with a flat prior on alpha, a double-zero study leaves its baseline unbounded: improper
    with pytest.raises(ModelSpecError, match="baselines need a proper prior"):
        Binomial(bcg("OR"), priors={"alpha": "flat"})


def test_binomial_reference_converges_to_the_normal_approximation() -> None:
    """The deterministic integration of the binomial model (models/binomial/make_reference.py)
    agrees with the normal-normal model on empirical log odds ratios when counts are large."""
    import json
    from pathlib import Path

    ref = json.loads((Path(__file__).parents[1] / "models/binomial/reference.json").read_text())
    case = next(c for c in ref["cases"] if c["id"] == "moderate_x100")
    for var in ("mu", "tau"):
        ours, normal = case["posterior"][var], case["normal_normal"][var]
        # the normal approximation's error at n ~ 5000 per arm, plus the integration's own
        assert ours["mean"] == pytest.approx(normal["mean"], abs=2e-3)
        for q in ("0.025", "0.5", "0.975"):
            assert ours["quantiles"][q] == pytest.approx(normal["quantiles"][q], abs=3e-3)
    assert case["refinement_change"] < 1e-3
