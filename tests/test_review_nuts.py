"""The review through NUTS: every Bayesian fit in one joint run (bayesmeta.models.joint.JointFit).

Fast tests check that each fit's result from the joint run has the layout of the model's own NUTS
fit and that its groups agree with its draws; the review makes exactly one compilation and one
sampling run. The slow test checks, at the default NUTS settings, that every fit's posterior from
the joint run equals the exact engine's within Monte Carlo error (pooled over seeds, as in
tests/test_nuts_defaults.py).
"""

from __future__ import annotations

import copy
import importlib.util
import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import stats

from bayesmeta import EffectTable
from bayesmeta import results as results_module
from bayesmeta.errors import ModelSpecError
from bayesmeta.models import Binomial, MetaRegression, MultiOutcome, RandomEffects
from bayesmeta.models.joint import JointFit
from bayesmeta.plan import load_plan
from bayesmeta.results import compute_diagnostics, compute_diagnostics_many
from bayesmeta.review import _sets, analyse_review, read_review

SAMPLER = "nutpie" if importlib.util.find_spec("nutpie") else "pymc"
#: Small runs for the layout tests: enough draws for every group, not for inference.
SMALL = {"tune": 100, "chains": 2, "nuts_sampler": SAMPLER}
#: theta, theta_new and the log-likelihood are arithmetic on the draws: float64 rounding only.
ARITH_TOL = 1e-12
#: The bundled review's plan: its moderators and meta-regression sets.
PLAN = load_plan("peer_support")


@pytest.fixture(scope="module")
def review() -> EffectTable:
    return read_review(PLAN)[0]


def _models(table: EffectTable) -> list:
    """The review's Bayesian fits: random effects of every outcome, then the regressions."""
    sets = _sets(table, PLAN.regressions)
    return [MultiOutcome(table), *(MetaRegression(table.for_outcome(o), mods=m) for o, m in sets)]


@pytest.fixture(scope="module")
def joint_small(review: EffectTable) -> tuple[list, list]:
    models = _models(review)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return models, JointFit(models).fit(100, random_seed=3, **SMALL)


def _layout(tree) -> dict:
    """Groups, and per group its variables with dims and its coordinate names."""
    return {
        g: (
            {v: tree[g][v].dims for v in tree[g].data_vars} if g != "sample_stats" else None,
            sorted(tree[g].coords),
        )
        for g in tree.children
    }


@pytest.mark.parametrize("which", [0, 1, 2])
def test_joint_results_have_the_layout_of_the_models_own_fits(joint_small, which) -> None:
    models, results = joint_small
    model, joint = models[which], results[which]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own = model.fit(100, engine="nuts", random_seed=3, **SMALL)
    assert _layout(joint.idata) == _layout(own.idata)
    assert joint.engine == own.engine == "nuts" and joint.sampler == own.sampler
    assert joint.spec == own.spec
    assert joint.summary().index.tolist() == own.summary().index.tolist()
    assert set(joint.idata["sample_stats"].data_vars) == set(own.idata["sample_stats"].data_vars)
    assert joint.sampling["joint"]["fits"] == len(models)


def test_joint_groups_follow_the_draws(joint_small) -> None:
    """theta = mu + X beta + tau z, theta_new = mu + tau z_new, log N(y | theta, sei), y_rep."""
    _, results = joint_small
    for res in results:
        post = res.posterior
        theta = post["theta"].values
        sei = res.idata["constant_data"]["sei"].values
        y = res.idata["observed_data"]["y"].values
        if "outcome" in post["mu"].dims:
            col = res.table.data["outcome"].to_numpy()
            pos = np.array([res.outcomes.index(o) for o in col])
            center = post["mu"].values[..., pos]
            scale = post["tau"].values[..., pos]
        else:
            center, scale = post["mu"].values[..., None], post["tau"].values[..., None]
            if "beta" in post:
                X = res.idata["constant_data"]["X"].values
                center = center + np.einsum("cdm,km->cdk", post["beta"].values, X)
        np.testing.assert_allclose(theta, center + scale * post["z"].values, atol=ARITH_TOL)
        np.testing.assert_allclose(
            post["theta_new"].values,
            post["mu"].values + post["tau"].values * post["z_new"].values,
            atol=ARITH_TOL,
        )
        ll = res.idata["log_likelihood"]["y"].values
        np.testing.assert_allclose(ll, stats.norm.logpdf(y, theta, sei), atol=ARITH_TOL)
        resid = (res.idata["posterior_predictive"]["y"].values - theta) / sei
        # standard-normal replicate noise: mean 0 and sd 1 within 5 standard errors
        n = resid.size
        assert abs(resid.mean()) < 5 / np.sqrt(n)
        assert abs(resid.std() - 1) < 5 / np.sqrt(2 * n)


def test_joint_diagnostics_equal_each_fits_own(joint_small) -> None:
    """The one-pass diagnostics JointFit hands each result equal a fresh per-fit computation."""
    _, results = joint_small
    for res in results:
        par = res.spec["options"]["parameterization"]
        fresh = compute_diagnostics(res.idata, par, res.sampler)
        assert res.diagnostics() == fresh
        assert res._diagnostics_cache is not None  # kept by JointFit, not recomputed


def test_diagnostics_of_many_posteriors_equal_each_alone(joint_small) -> None:
    """Stacking trees of different lengths: each tree's numbers are its own."""
    _, results = joint_small
    trees = [results[0].idata, results[1].idata.isel(draw=slice(0, 60)), results[2].idata]
    pars, samplers = ["noncentered"] * 3, [SAMPLER] * 3
    many = compute_diagnostics_many(trees, pars, samplers)
    alone = [compute_diagnostics(t, "noncentered", SAMPLER) for t in trees]
    assert many == alone
    assert many[1].draws == 60 * results[1].posterior.sizes["chain"] != many[0].draws


def test_diagnostics_are_kept_until_the_draws_change(joint_small, monkeypatch) -> None:
    _, results = joint_small
    res = copy.deepcopy(results[1])
    first = res.diagnostics()
    calls = []
    monkeypatch.setattr(results_module, "compute_diagnostics", lambda *a: calls.append(a) or first)
    kept = list(first.problems)
    first.problems.append("edited by the caller")
    assert res.diagnostics().problems == kept  # a copy: callers cannot edit the kept answer
    assert calls == []
    res.idata["posterior"]["mu"].values[0, 0] += 1.0  # edited in place
    res.diagnostics()
    assert len(calls) == 1
    res.idata["sample_stats"] = res.idata["sample_stats"].to_dataset().isel(draw=slice(1, None))
    res.diagnostics()
    assert len(calls) == 2


def test_joint_fits_are_independent_blocks(review: EffectTable) -> None:
    """Each analysis reads only its own rows: the logp splits into the separate models'."""
    models = _models(review)[:3]
    joint = JointFit(models).build()
    point = joint.initial_point()
    rng = np.random.default_rng(5)
    point = {k: v + rng.normal(0, 0.3, np.shape(v)) for k, v in point.items()}
    total = joint.compile_logp()(point)
    # the same values, split among the models' own PyMC models
    parts = 0.0
    r = a = c = 0
    for m in models:
        own = m.build()
        n_a = len(m.outcomes) if isinstance(m, MultiOutcome) else 1
        k, p = m.table.k, len(getattr(m, "mods", []))
        vals = {
            "mu": point["mu"][a : a + n_a],
            "tau_log__": point["tau_log__"][a : a + n_a],
            "z": point["z"][r : r + k],
            "z_new": np.zeros(n_a),
        }
        if p:
            vals["beta"] = point["beta"][c : c + p]
        if n_a == 1:
            vals["mu"], vals["tau_log__"], vals["z_new"] = (
                vals["mu"][0],
                vals["tau_log__"][0],
                np.float64(0.0),
            )
        z_new_logp = n_a * stats.norm.logpdf(0.0)  # the own models also hold z_new
        if isinstance(m, MultiOutcome):  # rows of the own model are in table order
            col = m.table.data["outcome"].to_numpy()
            order = np.concatenate([np.flatnonzero(col == o) for o in m.outcomes])
            z = np.empty(k)
            z[order] = vals["z"]
            vals["z"] = z
        parts += float(own.compile_logp()(vals)) - z_new_logp
        r, a, c = r + k, a + n_a, c + p
    assert float(total) == pytest.approx(parts, rel=1e-10)


def test_joint_fit_refuses_what_it_cannot_fit(review: EffectTable) -> None:
    sub = review.for_outcome("recovery")
    frame = pd.DataFrame(
        {"study": list("abc"), "ai": [3, 5, 2], "bi": [17, 25, 23], "ci": [6, 8, 4],
         "di": [14, 22, 21]}
    )  # fmt: skip
    cases = [
        ([Binomial(EffectTable.from_arms(frame, "OR"))], "fit 0: JointFit takes"),
        ([RandomEffects(sub, parameterization="centered")], "noncentered"),
        ([MultiOutcome(sub, pool_tau=True)], "pool_tau=False"),
        (
            [RandomEffects(sub), RandomEffects(sub, priors={"tau": "half_cauchy(0.5)"})],
            "one prior family for 'tau'",
        ),
        ([], "at least one model"),
    ]
    for models, message in cases:
        with pytest.raises(ModelSpecError, match=message):
            JointFit(models)


def test_review_nuts_compiles_and_samples_once(review: EffectTable, monkeypatch) -> None:
    if SAMPLER != "nutpie":
        pytest.skip("counts nutpie's compilations")
    import nutpie

    from bayesmeta.models import _nutpie_frozen, base

    base.clear_compile_cache()
    calls = {"compile": 0, "sample": 0}
    compile_, sample = nutpie.compile_pymc_model, nutpie.sample
    frozen = _nutpie_frozen.compile_frozen

    def counted(name, fn):
        def wrapper(*args, **kwargs):
            out = fn(*args, **kwargs)
            calls[name] += out is not None  # compile_frozen's None: nutpie compiles instead
            return out

        return wrapper

    monkeypatch.setattr(nutpie, "compile_pymc_model", counted("compile", compile_))
    monkeypatch.setattr(_nutpie_frozen, "compile_frozen", counted("compile", frozen))
    monkeypatch.setattr(nutpie, "sample", counted("sample", sample))
    analysis = analyse_review(
        review, plan=PLAN, engine="nuts", draws=100, tune=100, chains=2, seed=4
    )
    assert calls == {"compile": 1, "sample": 1}
    n_fits = 1 + len(_sets(review, PLAN.regressions))
    assert len(analysis.regressions) == n_fits - 1 == 10
    for fit in [analysis.result, *(r.bayes for r in analysis.regressions)]:
        assert fit.engine == "nuts" and fit.sampling["joint"]["fits"] == n_fits
    # every fit's diagnostics are its own: problems carry the fit's name
    assert isinstance(analysis.convergence_problems(), list)
    assert analysis.settings["engine"] == "nuts"


def test_frozen_compile_gives_nutpies_draws(review: EffectTable, monkeypatch) -> None:
    """compile_frozen's callbacks and nutpie's own give the same draws and stats for a seed."""
    if SAMPLER != "nutpie":
        pytest.skip("compares two nutpie compilations")
    from bayesmeta.models import _nutpie_frozen, base

    models = _models(review)[:3]
    runs, compiled = [], []
    frozen = _nutpie_frozen.compile_frozen

    def kept(model):
        compiled.append(frozen(model))
        return compiled[-1]

    for light in (True, False):
        base.clear_compile_cache()
        monkeypatch.setattr(_nutpie_frozen, "compile_frozen", kept if light else lambda m: None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs.append(JointFit(models).fit(100, random_seed=8, **SMALL))
    base.clear_compile_cache()
    assert len(compiled) == 1 and compiled[0] is not None  # the light callbacks did run
    for light, own in zip(*runs, strict=True):
        for group in ("posterior", "sample_stats"):
            a, b = light.idata[group].to_dataset(), own.idata[group].to_dataset()
            timing = [v for v in a.data_vars if "time" in str(v)]  # wall-clock stats differ
            xr.testing.assert_equal(a.drop_vars(timing), b.drop_vars(timing))  # attrs: dates


def test_joint_fit_with_pymc_nuts_gives_the_same_layout(review: EffectTable) -> None:
    models = _models(review)[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kw = {"tune": 30, "chains": 1, "random_seed": 2, "nuts_sampler": "pymc"}
        res = JointFit(models).fit(30, **kw)
        own = models[1].fit(30, engine="nuts", **kw)
    assert res[1].sampler == "pymc" and res[1].engine == "nuts"
    assert _layout(res[1].idata).keys() == _layout(own.idata).keys()
    assert _layout(res[1].idata)["posterior"] == _layout(own.idata)["posterior"]
    assert "diverging" in res[1].idata["sample_stats"]


def test_regressions_alone_take_one_joint_run(review: EffectTable) -> None:
    """_fit_regressions without a preceding joint run makes its own (regressions only)."""
    from bayesmeta import review as rv

    sampling = rv._sampling(30, 30, 1, None)
    fits = rv._fit_regressions(review, "nuts", 5, sampling, lambda _m: None, PLAN.regressions)
    assert len(fits) == 10
    assert {f.bayes.sampling["joint"]["fits"] for f in fits} == {10}
    assert all(f.bayes.model_name == "meta_regression" for f in fits)


# ------------------------------------------------------------------------------------------------
# slow: the joint run at the defaults against the exact engine

#: Allowed distance from the exact value, in pooled Monte Carlo standard errors. About 220
#: comparisons (11 outcomes x mu, tau and 10 regressions x mu, tau, beta; mean and 3 quantiles
#: each): 4 standard errors keep the chance of one false alarm near 1% (Bonferroni).
Z_MAX = 4.0
#: As in tests/test_nuts_defaults.py: the seeds' estimates must scatter by about one MCSE.
MCSE_HONESTY = 2.0
SEEDS = (21, 22, 23, 24)
QUANTILES = (0.05, 0.5, 0.95)
#: Exact draws for the reference: 50x a NUTS run's, so its own error is small (and included).
EXACT_DRAWS = 50_000


def _stats(idata, var: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(estimate, ArviZ MCSE) per element of ``var``: mean and quantiles."""
    da = idata["posterior"][var]
    x = da.transpose("chain", "draw", ...).values
    x = x.reshape(-1, *x.shape[2:])
    out = {"mean": (x.mean(axis=0), np.asarray(az.mcse(idata, var_names=[var])[var].values))}
    for q in QUANTILES:
        mc = az.mcse(idata, var_names=[var], method="quantile", prob=q)[var].values
        out[f"q{q}"] = (np.quantile(x, q, axis=0), np.asarray(mc))
    return out


@pytest.mark.slow
def test_joint_review_at_defaults_matches_exact(review: EffectTable) -> None:
    models = _models(review)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        runs = [JointFit(models).fit(random_seed=s, nuts_sampler=SAMPLER) for s in SEEDS]
        exact = [m.fit(EXACT_DRAWS, engine="exact", random_seed=1) for m in models]
    failures, devs = [], []
    for i, (model, ref) in enumerate(zip(models, exact, strict=True)):
        for var in ("mu", "tau", "beta"):
            if var not in ref.posterior:
                continue
            want = _stats(ref.idata, var)
            per_seed = [_stats(run[i].idata, var) for run in runs]
            for stat, (value, ref_mcse) in want.items():
                est = np.array([p[stat][0] for p in per_seed])
                mcse = np.array([p[stat][1] for p in per_seed])
                pooled = np.sqrt(np.sum(mcse**2, axis=0)) / len(SEEDS)
                z = (est.mean(axis=0) - value) / np.sqrt(pooled**2 + ref_mcse**2)
                devs += list(((est - est.mean(axis=0)) / mcse).ravel())
                for j in np.flatnonzero(np.abs(np.ravel(z)) > Z_MAX):
                    failures.append(
                        f"fit {i} ({type(model).__name__}) {var}[{j}] {stat}: "
                        f"{np.ravel(est.mean(axis=0))[j]:.4f} vs exact {np.ravel(value)[j]:.4f} "
                        f"(z = {np.ravel(z)[j]:.1f})"
                    )
    assert not failures, failures
    assert np.mean(np.square(devs)) < MCSE_HONESTY
