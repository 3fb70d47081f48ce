"""The exact engine of ``Model.fit`` (models/exact_sampler.py) against exact_posterior and NUTS."""

from __future__ import annotations

import numpy as np
import pytest

from bayesmeta import (
    Binomial,
    EffectTable,
    MetaRegression,
    ModelSpecError,
    MultiOutcome,
    RandomEffects,
    datasets,
    exact_posterior,
)
from bayesmeta.priors import Flat, HalfCauchy, HalfNormal, Normal

#: Draws for the exact comparisons: 4 x 10,000 independent draws give a Monte Carlo SE of a
#: central quantile of about 1.25 / sqrt(40,000) posterior SDs; we allow 4 MC standard errors
#: computed from the draws themselves (az-free: the draws are independent).
DRAWS = 10_000
N_MCSE = 4.0


#: The eight schools carry no sample sizes, so a measure with units needs its priors given
#: (R bayesmeta's first example: mu ~ N(0, 50^2), tau ~ half-Cauchy(25)).
SCHOOL_PRIORS = {"mu": Normal(0.0, 50.0), "tau": HalfCauchy(25.0)}


def _eight_schools():
    es = datasets.load_eight_schools()
    return EffectTable(
        es.rename(columns={"school": "study", "y": "yi", "sigma": "sei"}), measure="generic"
    )


def _quantile_mcse(draws, q):
    """Monte Carlo SE of an empirical quantile of independent draws (asymptotic formula)."""
    from scipy.stats import gaussian_kde

    x = np.quantile(draws, q)
    dens = float(gaussian_kde(draws[:: max(1, draws.size // 20000)])(x)[0])
    return np.sqrt(q * (1 - q) / draws.size) / dens


@pytest.mark.parametrize(
    ("tau_prior", "mu_prior"),
    [(HalfCauchy(25.0), Normal(0.0, 50.0)), (HalfNormal(10.0), Flat())],
    ids=["halfcauchy25-normal50", "halfnormal10-flat"],
)
def test_quantiles_match_exact_engine(tau_prior, mu_prior):
    tab = _eight_schools()
    res = RandomEffects(tab, priors={"tau": tau_prior, "mu": mu_prior}).fit(
        DRAWS, engine="exact", random_seed=11
    )
    assert res.engine == "exact"
    ex = exact_posterior(tab.yi, tab.sei, tau_prior=tau_prior, mu_prior=mu_prior)
    for var, post in (("mu", ex.mu), ("tau", ex.tau), ("theta_new", ex.theta_new)):
        d = res.draws(var)
        for q in (0.025, 0.25, 0.5, 0.75, 0.975):
            got, want = np.quantile(d, q), float(post.quantile(q))
            assert abs(got - want) < N_MCSE * _quantile_mcse(d, q), (var, q, got, want)
    theta_a = res.posterior["theta"].sel(study="A").values.ravel()
    assert abs(theta_a.mean() - ex.theta(0).mean) < N_MCSE * theta_a.std() / np.sqrt(theta_a.size)


def test_same_seed_same_draws_and_a_quadrature_check():
    tab = _eight_schools()
    a = RandomEffects(tab, priors=SCHOOL_PRIORS).fit(200, engine="exact", random_seed=5)
    b = RandomEffects(tab, priors=SCHOOL_PRIORS).fit(200, engine="exact", random_seed=5)
    np.testing.assert_array_equal(a.draws("tau"), b.draws("tau"))
    diag = a.diagnostics()
    # an exact fit reports the quadrature's accuracy, not R-hat or divergences
    assert diag.engine == "exact" and diag.ok and not hasattr(diag, "divergences")
    assert "Gauss-Legendre" in diag.method
    check = diag.checks["overall"]
    assert check["converged"] and check["max_change"] <= check["rtol"] and check["nodes"] > 0
    assert "sample_stats" not in a.idata.children
    # "auto" takes the exact engine for this model, with the same draws
    auto = RandomEffects(tab, priors=SCHOOL_PRIORS).fit(200, random_seed=5)
    assert auto.engine == "exact" and "normal-normal" in auto.sampling["engine_reason"]
    np.testing.assert_array_equal(auto.draws("tau"), a.draws("tau"))


def test_multi_outcome_matches_single_outcome_fits():
    from bayesmeta.sheet import read_sheet

    tab = read_sheet(datasets.load_peer_support_simulated())
    multi = MultiOutcome(tab).fit(4000, engine="exact", random_seed=1)
    sub = tab.for_outcome("recovery")
    single = RandomEffects(sub).fit(4000, engine="exact", random_seed=2)
    for var in ("mu", "tau"):
        m, s = multi.draws(var, "recovery"), single.draws(var)
        se = np.hypot(m.std(), s.std()) / np.sqrt(m.size)
        assert abs(np.median(m) - np.median(s)) < 5 * 1.25 * se
    # row order of theta follows the table
    shr = multi.shrinkage()
    assert list(shr["study"]) == list(tab.data["study"])


def test_meta_regression_on_bcg_near_reml():
    tab = EffectTable.from_arms(
        datasets.load_bcg(),
        "RR",
        columns={"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"},
        moderators=["ablat"],
    )
    model = MetaRegression(tab, mods=["ablat"], priors={"mu": Flat(), "beta": Flat()})
    res = model.fit(4000, engine="exact", random_seed=3)
    beta = res.posterior["beta"].values.ravel()
    # metafor: rma(yi, vi, mods = ~ ablat, data = dat, method = "REML") gives -0.0291
    # (models/rma/reference.json, bcg_logRR_ablat_REML_z); the posterior mean under flat
    # priors sits close to it.
    assert abs(beta.mean() - (-0.0291)) < 0.005


@pytest.mark.slow
def test_meta_regression_agrees_with_nuts():
    tab = EffectTable.from_arms(
        datasets.load_bcg(),
        "RR",
        columns={"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"},
        moderators=["ablat"],
    )
    model = MetaRegression(tab, mods=["ablat"])
    ex = model.fit(10_000, engine="exact", random_seed=4)
    nuts = model.fit(1000, engine="nuts", random_seed=4, nuts_sampler="nutpie")
    assert nuts.engine == "nuts" and nuts.sampler == "nutpie"
    import arviz as az

    for var in ("mu", "tau"):
        mcse = float(az.mcse(nuts.idata, var_names=[var], method="median")[var])
        diff = abs(np.median(ex.draws(var)) - np.median(nuts.draws(var)))
        assert diff < 4 * mcse + 0.01, (var, diff, mcse)


def test_engine_choice_and_refusals(monkeypatch):
    tab = _eight_schools()
    assert RandomEffects(tab, priors=SCHOOL_PRIORS).resolve_engine("auto")[0] == "exact"
    assert MultiOutcome(tab, priors=SCHOOL_PRIORS).resolve_engine("auto")[0] == "exact"
    pooled = MultiOutcome(tab, pool_tau=True, priors={"mu": SCHOOL_PRIORS["mu"]})
    assert pooled.resolve_engine("auto")[0] == "nuts"
    with pytest.raises(ModelSpecError, match="pool_tau"):
        pooled.fit(10, engine="exact")
    assert RandomEffects(tab, priors=SCHOOL_PRIORS).resolve_engine("nuts")[0] == "nuts"
    with pytest.raises(ModelSpecError, match="unknown engine"):
        RandomEffects(tab, priors=SCHOOL_PRIORS).fit(10, engine="gibbs")
    bcg = datasets.load_bcg()
    counts = EffectTable.from_arms(
        bcg,
        "OR",
        columns={"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"},
    )
    used, reason = Binomial(counts).resolve_engine("auto")
    assert used == "nuts" and "binomial likelihood" in reason
    from bayesmeta.models import BaseModel

    monkeypatch.setattr(BaseModel, "build", lambda self: pytest.fail("built a model"))
    with pytest.raises(ModelSpecError, match=r"engine='exact' cannot fit this Binomial.*'auto'"):
        Binomial(counts).fit(10, engine="exact")


def test_saved_and_loaded(tmp_path):
    from bayesmeta.results import Result

    res = RandomEffects(_eight_schools(), priors=SCHOOL_PRIORS).fit(100, random_seed=9)
    res.to_netcdf(tmp_path / "r.nc")
    back = Result.load(tmp_path / "r.nc")
    np.testing.assert_array_equal(back.draws("mu"), res.draws("mu"))
    assert back.engine == "exact" and back.sampler is None and "nuts_sampler" not in back.sampling
    assert back.sampling == res.sampling
    assert back.diagnostics() == res.diagnostics()


def test_multi_outcome_summary_has_every_parameter():
    from bayesmeta.sheet import read_sheet

    tab = read_sheet(datasets.load_peer_support_simulated())
    res = MultiOutcome(tab).fit(200, engine="exact", random_seed=1)
    s = res.summary()
    n_out = len(tab.outcomes)
    assert len(s) == 3 * n_out + tab.k  # mu, tau, theta_new per outcome; theta per row
    assert s.attrs["ci_prob"] == 0.95


def test_meta_regression_recovers_coefficients_at_nominal_rate():
    """Calibration: parameters drawn from the priors, data from the model, 95% CrI coverage.

    With parameters drawn from the prior, a correct posterior covers the truth with exactly the
    nominal probability (Cook, Gelman & Rubin 2006). 300 replicates: the coverage of beta and mu
    must lie within 3 binomial SDs of 0.95 (+-0.038).
    """
    import pandas as pd

    rng = np.random.default_rng(2020)
    n_rep, k = 300, 8
    hits = {"mu": 0, "beta": 0}
    for r in range(n_rep):
        x = np.r_[np.zeros(k // 2), np.ones(k // 2)]
        sei = rng.uniform(0.1, 0.4, k)
        mu, beta, tau = rng.normal(0, 1), rng.normal(0, 0.5), abs(rng.normal(0, 0.3))
        y = rng.normal(mu + beta * x + tau * rng.standard_normal(k), sei)
        tab = EffectTable(
            pd.DataFrame({"study": [f"s{i}" for i in range(k)], "yi": y, "sei": sei, "x": x}),
            measure="SMD",
            moderators=["x"],
        )
        model = MetaRegression(
            tab,
            mods=["x"],
            priors={"mu": Normal(0, 1), "tau": HalfNormal(0.3), "beta": Normal(0, 0.5)},
        )
        res = model.fit(250, engine="exact", random_seed=r)
        b = res.posterior["beta"].values.ravel()
        m = res.draws("mu")
        hits["beta"] += np.quantile(b, 0.025) <= beta <= np.quantile(b, 0.975)
        hits["mu"] += np.quantile(m, 0.025) <= mu <= np.quantile(m, 0.975)
    band = 3 * np.sqrt(0.95 * 0.05 / n_rep)
    for name, h in hits.items():
        assert abs(h / n_rep - 0.95) < band, (name, h / n_rep)


def _bcg_ablat():
    return EffectTable.from_arms(
        datasets.load_bcg(),
        "RR",
        columns={"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"},
        moderators=["ablat"],
    )


def test_meta_regression_result_carries_its_design_matrix():
    model = MetaRegression(_bcg_ablat(), mods=["ablat"], center=True)
    res = model.fit(50, random_seed=1)
    X = res.idata["constant_data"]["X"]
    assert X.dims == ("study", "moderator") and list(X["moderator"].values) == ["ablat"]
    np.testing.assert_allclose(res.design(), model.X)
    assert res.moderators == ["ablat"] and res.model_name == "meta_regression"
    assert res.idata.attrs["bayesmeta_model"] == "meta_regression"
    assert res.idata.attrs["bayesmeta_spec_version"] == 1


def test_format_1_files_are_upgraded_on_load(tmp_path, monkeypatch):
    """Files written before the engine field: ``nuts_sampler`` held "exact", X was missing."""
    import bayesmeta.results as results

    model = MetaRegression(_bcg_ablat(), mods=["ablat"], center=True)
    res = model.fit(50, random_seed=1)
    old = results.Result(
        res.idata.copy(),
        spec=res.spec,
        table=res.table,
        sampling={"nuts_sampler": "exact", "draws": 50, "tune": 0, "chains": 4, "grid": 4096},
    )
    del old.idata["constant_data"]["X"]
    old.idata.attrs = {}
    monkeypatch.setattr(results, "_FORMAT_VERSION", 1)
    old.to_netcdf(tmp_path / "old.nc")
    monkeypatch.undo()
    back = results.Result.load(tmp_path / "old.nc")
    assert back.engine == "exact" and "nuts_sampler" not in back.sampling
    np.testing.assert_allclose(back.design(), model.X)
    assert back.moderators == ["ablat"]
    diag = back.diagnostics()  # no quadrature check was recorded: said, not invented
    assert diag.engine == "exact" and not diag.ok and "older bayesmeta" in diag.problems[0]
    old_nuts = results.Result(
        res.idata.copy(), spec=res.spec, table=res.table, sampling={"nuts_sampler": "nutpie"}
    )
    monkeypatch.setattr(results, "_FORMAT_VERSION", 1)
    old_nuts.to_netcdf(tmp_path / "old_nuts.nc")
    monkeypatch.undo()
    back = results.Result.load(tmp_path / "old_nuts.nc")
    assert back.engine == "nuts" and back.sampler == "nutpie"
