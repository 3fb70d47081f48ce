"""Sampler trouble is reported, saved results read back exactly or fail clearly, seeds reproduce.

* Diagnostics: divergences, R-hat, ESS and E-BFMI problems each produce a ConvergenceWarning
  that says what to do (checked on constructed draws, fast, and on a real funnel, slow).
* A model whose log-probability is not finite at the start gives a FitError, not a PyMC
  traceback; a KeyboardInterrupt during sampling reaches the caller unchanged (the CLI turns it
  into exit 130, writing nothing).
* ``Result.to_netcdf``/``load`` round-trip values, coords, spec, table and sampling settings;
  truncated, empty, foreign and damaged files raise ``ResultFileError``.
* The same seed gives bit-identical posteriors in two separate processes (exact sampler: fast;
  NUTS: slow).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayesmeta import EffectTable
from bayesmeta._registry import SPEC_VERSION
from bayesmeta.errors import (
    BayesMetaError,
    ConvergenceWarning,
    FitError,
    NotEstimableWarning,
    ResultFileError,
)
from bayesmeta.models import BaseModel, RandomEffects, from_result
from bayesmeta.results import Result, compute_diagnostics

ROOT = Path(__file__).resolve().parent.parent


def small_table() -> EffectTable:
    frame = pd.DataFrame(
        {
            "study": ["Müller 2003", "张伟 2010", "Smith, J 2001", "D", "E"],
            "yi": [0.10, 0.30, 0.35, 0.62, 0.05],
            "sei": [0.20, 0.15, 0.22, 0.18, 0.25],
        }
    )
    return EffectTable(frame, measure="SMD", direction="higher")


@pytest.fixture(scope="module")
def exact_result() -> Result:
    return RandomEffects(small_table()).fit(500, chains=2, random_seed=5)


# ------------------------------------------------------------------------------------------------
# diagnostics on constructed draws


def _tree(
    posterior: dict[str, np.ndarray], diverging: np.ndarray | None = None, energy: Any = None
) -> xr.DataTree:
    chains, draws = next(iter(posterior.values())).shape[:2]
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    post = xr.Dataset({k: (("chain", "draw"), v) for k, v in posterior.items()}, coords=coords)
    stats: dict[str, Any] = {}
    if diverging is not None:
        stats["diverging"] = (("chain", "draw"), diverging)
    if energy is not None:
        stats["energy"] = (("chain", "draw"), energy)
    return xr.DataTree.from_dict(
        {"posterior": post, "sample_stats": xr.Dataset(stats, coords=coords)}
    )


def test_divergences_are_counted_and_explained() -> None:
    rng = np.random.default_rng(1)
    div = np.zeros((4, 500), dtype=bool)
    div[1, 10:17] = True
    d = compute_diagnostics(_tree({"mu": rng.normal(size=(4, 500))}, diverging=div))
    assert d.divergences == 7 and not d.ok
    assert any("7 divergent" in p and "target_accept" in p for p in d.problems)
    centered = compute_diagnostics(
        _tree({"mu": rng.normal(size=(4, 500))}, diverging=div), parameterization="centered"
    )
    assert any("noncentered" in p for p in centered.problems)


def test_chains_that_disagree_give_rhat_problem() -> None:
    rng = np.random.default_rng(2)
    mu = rng.normal(size=(4, 500)) + np.array([0.0, 0.0, 0.0, 3.0])[:, None]
    d = compute_diagnostics(_tree({"mu": mu}))
    assert d.max_rhat > 1.1
    assert any("R-hat" in p and "tune" in p for p in d.problems)


def test_sticky_chains_give_ess_problem() -> None:
    rng = np.random.default_rng(3)
    x = np.zeros((4, 500))
    for t in range(1, 500):  # AR(1) with phi = 0.995: a handful of effective draws
        x[:, t] = 0.995 * x[:, t - 1] + rng.normal(size=4) * 0.1
    d = compute_diagnostics(_tree({"mu": x}))
    assert d.min_ess_bulk < 400
    assert any("effective sample size" in p for p in d.problems)


def test_low_bfmi_is_reported() -> None:
    rng = np.random.default_rng(4)
    # energy as a slow random walk: the energy transitions are tiny against its marginal spread
    energy = np.cumsum(rng.normal(size=(4, 500)) * 0.05, axis=1) + rng.normal(size=(4, 1))
    d = compute_diagnostics(_tree({"mu": rng.normal(size=(4, 500))}, energy=energy))
    assert d.min_bfmi < 0.3
    assert any("E-BFMI" in p for p in d.problems)


def test_problems_reach_the_user_as_warnings(exact_result: Result) -> None:
    """A Result whose draws have problems warns on check, once per problem."""
    rng = np.random.default_rng(5)
    bad = exact_result.idata.copy()
    mu = bad["posterior"]["mu"].values.copy()
    mu[1] += 5.0  # the second chain somewhere else
    bad["posterior"] = bad["posterior"].to_dataset().assign(mu=(("chain", "draw"), mu))
    diverging = rng.random(mu.shape) < 0.02
    bad["sample_stats"] = xr.Dataset({"diverging": (("chain", "draw"), diverging)})
    nuts = {"engine": "nuts", "sampler": "nutpie"}
    res = Result(bad, spec=exact_result.spec, table=exact_result.table, sampling=nuts)
    with pytest.warns(ConvergenceWarning) as rec:
        diag = res._warn_diagnostics()
    assert len(rec) == len(diag.problems) >= 2
    text = " ".join(str(r.message) for r in rec)
    assert "divergent" in text and "R-hat" in text


def test_exact_fit_warns_about_its_quadrature_not_about_chains(exact_result: Result) -> None:
    """An exact result is judged by its quadrature's accuracy check, never by R-hat."""
    bad = exact_result.idata.copy()
    mu = bad["posterior"]["mu"].values.copy()
    mu[1] += 5.0  # chains of independent draws cannot disagree; R-hat is not consulted
    bad["posterior"] = bad["posterior"].to_dataset().assign(mu=(("chain", "draw"), mu))
    res = Result(bad, spec=exact_result.spec, table=exact_result.table,
                 sampling=exact_result.sampling)  # fmt: skip
    assert res.diagnostics().ok
    sampling = json.loads(json.dumps(exact_result.sampling))
    sampling["quadrature"]["outcomes"]["overall"].update(converged=False, max_change=1e-3)
    res = Result(bad, spec=exact_result.spec, table=exact_result.table, sampling=sampling)
    with pytest.warns(ConvergenceWarning, match="quadrature over tau did not converge") as rec:
        diag = res._warn_diagnostics()
    assert len(rec) == len(diag.problems) == 1 and diag.engine == "exact"


# ------------------------------------------------------------------------------------------------
# a fit that cannot start, a fit that is interrupted


class _Impossible(RandomEffects):
    """A random-effects model with a -inf log-probability term: no starting point is valid."""

    def _define(self) -> None:
        import pymc as pm
        import pytensor.tensor as pt

        super()._define()
        pm.Potential("impossible", pt.constant(-np.inf))


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["pymc", "nutpie"])
def test_non_finite_logp_at_start_is_a_fit_error(sampler: str) -> None:
    pytest.importorskip(sampler)
    with pytest.raises(FitError) as info:
        _Impossible(small_table()).fit(
            20, engine="nuts", tune=20, chains=1, random_seed=1, nuts_sampler=sampler
        )
    msg = str(info.value)
    assert "_Impossible.fit failed" in msg
    assert "initial" in msg.lower() or "starting point" in msg.lower()
    assert isinstance(info.value, BayesMetaError)


@pytest.mark.slow
def test_fit_error_message_has_no_backtrace() -> None:
    pytest.importorskip("nutpie")
    with pytest.raises(FitError) as info:
        _Impossible(small_table()).fit(
            20, engine="nuts", tune=20, chains=1, random_seed=1, nuts_sampler="nutpie"
        )
    assert "backtrace" not in str(info.value).lower()


@pytest.mark.parametrize("sampler", ["pymc", "nutpie"])
def test_keyboard_interrupt_during_sampling_propagates(
    sampler: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C is not swallowed, not wrapped as a FitError, and returns no partial Result."""
    import pymc as pm

    import bayesmeta.models.base as base

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(pm, "sample", interrupted)
    if hasattr(base, "_nutpie_sample"):
        monkeypatch.setattr(base, "_nutpie_sample", interrupted)
    with pytest.raises(KeyboardInterrupt):
        RandomEffects(small_table()).fit(20, engine="nuts", tune=20, chains=1, nuts_sampler=sampler)


def test_keyboard_interrupt_in_cli_fit_exits_130_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bayesmeta.cli import main

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(BaseModel, "fit", interrupted)
    csv = tmp_path / "d.csv"
    small_table().data[["study", "yi", "vi"]].to_csv(csv, index=False)
    out = tmp_path / "out"
    code = main(["fit", str(csv), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code in (130, 3)
    assert "Traceback" not in err and "interrupt" in err.lower()
    assert not (out / "posterior.nc").exists()


# ------------------------------------------------------------------------------------------------
# saved results


def test_netcdf_round_trip_is_exact(exact_result: Result, tmp_path: Path) -> None:
    path = tmp_path / "r.nc"
    exact_result.to_netcdf(path)
    back = Result.load(path)
    xr.testing.assert_identical(back.idata, exact_result.idata)
    for group in exact_result.idata.children:
        a, b = exact_result.idata[group].to_dataset(), back.idata[group].to_dataset()
        for name in a.variables:
            assert a[name].dtype == b[name].dtype, (group, name)
            np.testing.assert_array_equal(a[name].values, b[name].values)
    assert list(back.posterior["theta"].coords["study"].values) == small_table().studies
    assert back.spec == exact_result.spec and back.spec["version"] == SPEC_VERSION
    assert back.sampling == exact_result.sampling
    pd.testing.assert_frame_equal(back.table.data, exact_result.table.data)
    assert back.table.moderators == exact_result.table.moderators
    pd.testing.assert_frame_equal(back.summary(), exact_result.summary())
    assert from_result(back).spec() == from_result(exact_result).spec()
    assert back.engine == exact_result.engine == "exact"
    # saved again, the file reads back identical once more
    back.to_netcdf(tmp_path / "again.nc")
    xr.testing.assert_identical(Result.load(tmp_path / "again.nc").idata, back.idata)


def _damaged_attrs(path: Path, tmp_path: Path, **changes: Any) -> Path:
    """A copy of a saved result with root attributes changed (None deletes)."""
    tree = xr.open_datatree(path, engine="h5netcdf").load()
    attrs = dict(tree.attrs)
    for k, v in changes.items():
        if v is None:
            attrs.pop(k, None)
        else:
            attrs[k] = v
    tree.attrs = attrs
    out = tmp_path / f"damaged_{len(list(tmp_path.iterdir()))}.nc"
    tree.to_netcdf(out, engine="h5netcdf")
    return out


def test_truncated_foreign_and_damaged_files(exact_result: Result, tmp_path: Path) -> None:
    good = tmp_path / "good.nc"
    exact_result.to_netcdf(good)
    size = good.stat().st_size
    for frac in (0.0, 0.1, 0.5, 0.99):
        cut = tmp_path / f"cut_{frac}.nc"
        shutil.copyfile(good, cut)
        with open(cut, "r+b") as fh:
            fh.truncate(int(size * frac))
        with pytest.raises(ResultFileError, match=str(cut.name)):
            Result.load(cut)
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ResultFileError, match="cannot be read"):
        Result.load(garbage)
    csv = tmp_path / "table.nc"
    csv.write_text("study,yi,vi\na,0.1,0.01\n")
    with pytest.raises(ResultFileError):
        Result.load(csv)
    folder = tmp_path / "folder.nc"
    folder.mkdir()
    with pytest.raises(ResultFileError):
        Result.load(folder)
    foreign = tmp_path / "foreign.nc"
    xr.DataTree(xr.Dataset({"a": ("x", [1.0, 2.0])})).to_netcdf(foreign, engine="h5netcdf")
    with pytest.raises(ResultFileError, match="not a bayesmeta result"):
        Result.load(foreign)
    with pytest.raises(ResultFileError, match="damaged"):
        Result.load(_damaged_attrs(good, tmp_path, spec="{not json"))
    with pytest.raises(ResultFileError, match="damaged"):
        Result.load(_damaged_attrs(good, tmp_path, table=None))
    with pytest.raises(ResultFileError, match="newer"):
        Result.load(_damaged_attrs(good, tmp_path, bayesmeta_format_version=99))


def test_result_file_errors_reach_the_cli_as_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bayesmeta.cli import main

    bad = tmp_path / "posterior.nc"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    pub = tmp_path / "pub.csv"
    pub.write_text("outcome,estimate,ci_lb,ci_ub\noverall,0.1,0,0.2\n")
    assert main(["compare", str(bad), "--published", str(pub)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(bad) in err


def test_spec_version_of_saved_results(exact_result: Result, tmp_path: Path) -> None:
    """The spec records SPEC_VERSION; a file from an older spec version (there is none yet:
    SPEC_VERSION is 1) is read as it is, since version 1 is the first."""
    good = tmp_path / "good.nc"
    exact_result.to_netcdf(good)
    spec = dict(exact_result.spec, version=SPEC_VERSION)
    back = Result.load(_damaged_attrs(good, tmp_path, spec=json.dumps(spec)))
    assert back.spec["version"] == SPEC_VERSION == 1


def test_newer_spec_version_is_refused(exact_result: Result, tmp_path: Path) -> None:
    good = tmp_path / "good.nc"
    exact_result.to_netcdf(good)
    spec = dict(exact_result.spec, version=SPEC_VERSION + 1)
    with pytest.raises(ResultFileError, match="version"):
        Result.load(_damaged_attrs(good, tmp_path, spec=json.dumps(spec)))


# ------------------------------------------------------------------------------------------------
# reproducibility across processes

_FIT_SCRIPT = """
import sys, warnings
import numpy as np
from tests.test_robustness import small_table
from bayesmeta.models import RandomEffects
engine, out = sys.argv[1], sys.argv[2]
model = RandomEffects(small_table())
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    if engine == "exact":
        res = model.fit(400, engine="exact", chains=2, random_seed=123)
    else:
        res = model.fit(300, engine="nuts", tune=300, chains=2, random_seed=123,
                        nuts_sampler=engine)
post = res.posterior.to_dataset()
np.savez(out, **{k: post[k].values for k in ("mu", "tau", "theta", "theta_new")},
         y_rep=res.idata["posterior_predictive"]["y"].values)
"""


def _fit_in_subprocess(engine: str, out: Path) -> dict[str, np.ndarray]:
    proc = subprocess.run(
        [sys.executable, "-c", _FIT_SCRIPT, engine, str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    with np.load(out) as z:
        return {k: z[k] for k in z.files}


def _assert_bit_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].tobytes() == b[k].tobytes(), k


def test_same_seed_same_draws_in_two_processes_exact(tmp_path: Path) -> None:
    a = _fit_in_subprocess("exact", tmp_path / "a.npz")
    b = _fit_in_subprocess("exact", tmp_path / "b.npz")
    _assert_bit_identical(a, b)


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["nutpie", "pymc"])
def test_same_seed_same_draws_in_two_processes_nuts(sampler: str, tmp_path: Path) -> None:
    pytest.importorskip(sampler)
    a = _fit_in_subprocess(sampler, tmp_path / "a.npz")
    b = _fit_in_subprocess(sampler, tmp_path / "b.npz")
    _assert_bit_identical(a, b)
    assert not np.array_equal(a["mu"][0], a["mu"][1]), "chains must differ from each other"


@pytest.mark.slow
def test_real_funnel_reports_divergences() -> None:
    """Centred parameterisation, few studies with large SEs: the funnel makes NUTS diverge,
    and the fit says so (it does not return quietly)."""
    frame = pd.DataFrame({"study": list("ABCDEFGH"), "yi": [28.0, 8, -3, 7, -1, 1, 18, 12]}).assign(
        sei=[15.0, 10, 16, 11, 9, 11, 10, 18]
    )
    tab = EffectTable(frame, measure="MD")
    model = RandomEffects(tab, priors={"mu": "normal(0, 5)", "tau": "half_cauchy(5)"},
                          parameterization="centered")  # fmt: skip
    with pytest.warns(ConvergenceWarning) as rec:
        # PyMC's usual target_accept (the package's default, 0.99, is there to avoid this)
        res = model.fit(500, engine="nuts", tune=300, chains=2, random_seed=3, target_accept=0.8)
    diag = res.diagnostics()
    assert diag.divergences > 0
    assert any("divergent" in str(r.message) for r in rec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotEstimableWarning)
        assert res.summary().loc["tau", "r_hat"] > 0  # the result is still usable


# ------------------------------------------------------------------------------------------------
# simulation-based calibration (benchmarks/sbc.py runs the same with many more replicates)


def test_sbc_exact_engine_is_calibrated() -> None:
    from benchmarks.sbc import exact_sbc, uniformity

    for k in (2, 6):
        u = exact_sbc(k, 300, seed=7)
        for name, values in u.items():
            check = uniformity(values)
            assert check.ok, (k, name, check)


def test_sbc_detects_a_wrong_prior() -> None:
    """The negative control: analysing with tau ~ HN(0.1) data simulated with HN(0.5)."""
    from benchmarks.sbc import exact_sbc, uniformity

    u = exact_sbc(5, 300, seed=7, analysis_tau_scale=0.1)
    assert uniformity(u["tau"]).ks_p < 1e-6


@pytest.mark.slow
@pytest.mark.parametrize(("model", "reps"), [("random_effects", 16), ("binomial", 10)])
def test_sbc_nuts_ranks_look_uniform(model: str, reps: int) -> None:
    """Few replicates (CI time): catches gross miscalibration (a wrong sign, scale or prior),
    not subtle bias; docs/validation/sbc.md has the long run."""
    from benchmarks.sbc import nuts_sbc, ranks_to_u, uniformity

    ranks, L, trouble = nuts_sbc(model, reps, seed=11)
    assert L == 100
    rng = np.random.default_rng(0)
    for name in ("mu", "tau"):
        u = ranks_to_u(ranks[name], L, rng)
        assert uniformity(u).ks_p > 0.001, (name, ranks[name])
        assert 0.2 < u.mean() < 0.8, (name, ranks[name])
    assert trouble["divergent_fits"] <= reps // 4
