"""Tests of bayesmeta.simulate: the simulated review with the structure of White et al. (2020)."""

from __future__ import annotations

import dataclasses
import doctest
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesmeta.datasets as ds
import bayesmeta.simulate as sim
from bayesmeta.errors import ModelSpecError
from bayesmeta.frequentist import rma
from bayesmeta.plan import load_plan
from bayesmeta.reconstruct import ORG_INDICATORS
from bayesmeta.sheet import read_sheet, template_columns
from bayesmeta.simulate import (
    DEFAULT_SEED,
    GENERATING_CALL,
    SimulationSpec,
    simulate_review,
    simulate_trials,
    to_csv_text,
)

BUNDLED = "peer_support_simulated"
TRIAL_LEVEL = (*ORG_INDICATORS, "org_support_level", "peer_role", "follow_up_months")


@pytest.fixture(scope="module")
def review() -> pd.DataFrame:
    return simulate_review()


@pytest.fixture(scope="module")
def trials() -> pd.DataFrame:
    return simulate_trials()


@pytest.fixture(scope="module")
def white():  # type: ignore[no-untyped-def]
    return ds.load_white2020()


def _bundled_text(suffix: str) -> str:
    return resources.files("bayesmeta.datasets").joinpath(BUNDLED + suffix).read_text("utf-8")


def test_doctests() -> None:
    result = doctest.testmod(sim)
    assert result.failed == 0 and result.attempted > 0


# ------------------------------------------------------------------------- determinism


def test_same_seed_same_frame(review: pd.DataFrame) -> None:
    again = simulate_review(seed=DEFAULT_SEED)
    pd.testing.assert_frame_equal(again, review)
    assert again.attrs == review.attrs
    pd.testing.assert_frame_equal(simulate_trials(), simulate_trials(seed=DEFAULT_SEED))


def test_different_seed_different_frame(review: pd.DataFrame) -> None:
    other = simulate_review(seed=DEFAULT_SEED + 1)
    assert not other.equals(review)
    assert to_csv_text(other) != to_csv_text(review)


# ------------------------------------------------------------------------- structure


def test_trials(trials: pd.DataFrame, white) -> None:  # type: ignore[no-untyped-def]
    assert len(trials) == white.metadata["n_trials"] == 19
    assert int(trials["n_randomised"].sum()) == white.metadata["n_participants"] == 3329
    assert int(trials["contributes"].sum()) == white.metadata["n_trials_meta_analysis"] == 14
    assert (trials["n1_randomised"] + trials["n2_randomised"] == trials["n_randomised"]).all()
    assert trials["study"].tolist() == [f"Trial {i:02d} (simulated)" for i in range(1, 20)]
    assert (trials["n_outcomes"] > 0).tolist() == trials["contributes"].tolist()
    assert set(trials["org_support_level"]) == {"higher", "lower"}
    assert set(trials["peer_role"]) == {"substitute", "add-on"}


def test_sheet_shape_and_labels(review: pd.DataFrame, trials: pd.DataFrame) -> None:
    assert list(review.columns) == template_columns(load_plan("peer_support"))
    assert review["study"].str.endswith("(simulated)").all()
    assert review["study"].nunique() == 14
    assert set(review["study"]) == set(trials.loc[trials["contributes"], "study"])
    assert review[["yi", "sei"]].isna().all().all()
    assert review.attrs["simulated"] is True
    assert "SIMULATED" in review.attrs["note"] and "not the trials' results" in review.attrs["note"]
    assert review.attrs["seed"] == DEFAULT_SEED
    json.dumps(review.attrs)  # JSON-able


def test_outcomes_and_directions(review: pd.DataFrame, white) -> None:  # type: ignore[no-untyped-def]
    expected = white.outcomes[["outcome", "direction", "type"]].astype(str)
    assert list(dict.fromkeys(review["outcome"])) == expected["outcome"].tolist()
    got = review.groupby("outcome", sort=False)[["direction", "outcome_type"]].agg(set)
    for row in expected.itertuples(index=False):
        assert got.loc[row.outcome, "direction"] == {row.direction}
        assert got.loc[row.outcome, "outcome_type"] == {row.type}
    hosp = review[review["outcome"] == "hospitalised"]
    assert hosp[["m1i", "sd1i", "m2i", "sd2i"]].isna().all().all()
    assert hosp[["ai", "ci"]].notna().all().all()
    assert (review.loc[review["outcome"] != "hospitalised", ["ai", "ci"]].isna()).all().all()


def test_k_per_outcome(review: pd.DataFrame) -> None:
    k = review.groupby("outcome").size()
    published = {
        "social_network_support": 4,
        "empowerment": 4,
        "hospitalised": 5,
        "satisfaction_with_services": 2,
        "days_in_hospital": 5,  # unnamed_B
    }
    for name, value in published.items():
        assert k[name] == value, name
    assert k.between(2, 7).all()
    spec = SimulationSpec()
    assert {o.name: o.k for o in spec.outcomes} == k.to_dict()


def test_indicators_consistent_with_level(review: pd.DataFrame, trials: pd.DataFrame) -> None:
    for frame in (review, trials):
        met = frame[list(ORG_INDICATORS)].sum(axis=1)
        assert frame[list(ORG_INDICATORS)].isin([0, 1]).all().all()
        assert ((met >= 2) == (frame["org_support_level"] == "higher")).all()


def test_trial_level_columns_agree_with_the_trials(
    review: pd.DataFrame, trials: pd.DataFrame
) -> None:
    merged = review.merge(trials, on="study", suffixes=("", "_trial"))
    for col in TRIAL_LEVEL:
        assert (merged[col].astype(str) == merged[f"{col}_trial"].astype(str)).all(), col
    assert (merged["n1i"] <= merged["n1_randomised"]).all()
    assert (merged["n2i"] <= merged["n2_randomised"]).all()
    assert (merged["n1i"] >= 3).all() and (merged["n2i"] >= 3).all()


def test_levels_mixed_within_outcomes(review: pd.DataFrame) -> None:
    levels = review.groupby("outcome")["org_support_level"].agg(set)
    k = review.groupby("outcome").size()
    for name in k[k >= 3].index:
        assert levels[name] == {"higher", "lower"}, name
    sn = review[review["outcome"] == "social_network_support"]
    assert sorted(sn["org_support_level"]) == ["higher", "higher", "higher", "lower"]
    # add-on peer support increased social network support in the review: the lower-support
    # (true SMD 0.50) trial is add-on
    assert sn.loc[sn["org_support_level"] == "lower", "peer_role"].tolist() == ["add-on"]


def test_follow_up_ranges_honoured(review: pd.DataFrame) -> None:
    emp = review.loc[review["outcome"] == "empowerment", "follow_up_months"]
    assert emp.between(6, 12).all()
    days = review.loc[review["outcome"] == "days_in_hospital", "follow_up_months"]
    assert days.between(9, 24).all()


def test_values_plausible(review: pd.DataFrame) -> None:
    spec = SimulationSpec()
    for o in spec.outcomes:
        rows = review[review["outcome"] == o.name]
        if o.outcome_type == "dichotomous":
            assert (rows["ai"] <= rows["n1i"]).all() and (rows["ci"] <= rows["n2i"]).all()
            risk = rows["ci"].sum() / rows["n2i"].sum()
            assert 0.15 < risk < 0.45
            continue
        low = -np.inf if o.bounds[0] is None else o.bounds[0]
        high = np.inf if o.bounds[1] is None else o.bounds[1]
        for col in ("m1i", "m2i"):
            assert rows[col].between(low, high).all(), (o.name, col)
        assert (rows[["sd1i", "sd2i"]] > 0).all().all()


# ------------------------------------------------------------------------- the bundled copy


def test_bundled_csv_is_the_reconstruction_not_a_random_draw(review: pd.DataFrame) -> None:
    """The bundled file is bayesmeta.reconstruct's; tests/test_reconstruct.py re-finds it."""
    assert _bundled_text(".csv") != to_csv_text(review)
    assert GENERATING_CALL == "bayesmeta.reconstruct.reconstruct_review(seed=20201103)"


@pytest.mark.parametrize("convention", ["metafor", "revman"])
def test_bundled_csv_reads_as_a_sheet(convention: str, tmp_path: Path) -> None:
    path = tmp_path / "sim.csv"
    path.write_text(_bundled_text(".csv"), encoding="utf-8")
    tab = read_sheet(path, convention=convention, plan=load_plan("peer_support"))
    assert len(tab.outcomes) == 11
    assert tab.k == 46
    assert len(tab.studies) == 14
    assert tab.moderators[:2] == ["org_support_higher", "peer_add_on"]
    assert np.isfinite(tab.yi).all() and (tab.vi > 0).all()
    assert tab.direction("general_psychiatric_symptoms") == "lower"
    assert set(tab.for_outcome("hospitalised").data["measure"]) == {"OR"}


def test_bundled_json_says_simulated_and_matches_the_csv() -> None:
    info = json.loads(_bundled_text(".json"))
    assert info["name"] == BUNDLED
    for key in ("title", "description", "source"):
        assert "SIMULATED" in info[key], key
    assert "not the trials' results" in info["description"].lower().replace("NOT", "not")
    assert GENERATING_CALL in info["source"]
    header = _bundled_text(".csv").split("\n", 1)[0].split(",")
    assert list(info["columns"]) == header
    assert any("SIMULATED" in note for note in info["notes"])
    assert "calibrated reconstruction" in info["title"]


def test_bundled_dataset_loads_with_its_dictionary(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the name registered in bayesmeta.datasets, load() and read_sheet() agree."""
    if BUNDLED not in ds.list_datasets():
        monkeypatch.setattr(ds, "_DATASETS", (*ds._DATASETS, BUNDLED))
    frame = ds.load(BUNDLED)
    assert frame.shape == (46, 21)
    assert str(frame["org_support_level"].dtype) == "category"
    tab = read_sheet(frame)
    assert len(tab.outcomes) == 11
    from bayesmeta.reconstruct import reconstruct_review

    pd.testing.assert_frame_equal(tab.data, read_sheet(reconstruct_review()).data)


# ------------------------------------------------------------------------- the spec


def test_spec_defaults_come_from_the_published_summaries(white) -> None:  # type: ignore[no-untyped-def]
    spec = SimulationSpec()
    meta = white.metadata
    assert (spec.n_trials, spec.n_contributing, spec.n_participants) == (
        meta["n_trials"],
        meta["n_trials_meta_analysis"],
        meta["n_participants"],
    )
    sn = spec.outcome("social_network_support")
    assert (sn.k, sn.effect, sn.i2) == (4, 0.09, 0.67)
    assert (sn.effect_lower, sn.effect_higher, sn.k_lower) == (0.50, -0.04, 1)
    assert "published" in sn.basis
    assert spec.outcome("empowerment").follow_up_range == (6, 12)
    assert spec.outcome("days_in_hospital").follow_up_range == (9, 24)
    hosp = spec.outcome("hospitalised")
    assert (hosp.measure, hosp.effect, hosp.baseline_risk) == ("OR", 0.0, 0.30)
    assert spec.outcome("recovery").basis.startswith("stated defaults")
    for o in spec.outcomes:
        if o.name in ("recovery", "empowerment"):
            assert 0.1 <= o.effect <= 0.2
        if o.name in ("general_psychiatric_symptoms", "depression_anxiety", "days_in_hospital"):
            assert o.effect == 0.0


def test_spec_json_round_trip() -> None:
    spec = SimulationSpec()
    data = json.loads(json.dumps(spec.to_dict()))
    back = SimulationSpec.from_dict(data)
    assert back == spec
    pd.testing.assert_frame_equal(simulate_review(back), simulate_review(spec))


def test_spec_changes_are_used() -> None:
    spec = SimulationSpec().replace_outcome("recovery", k=7)
    assert (simulate_review(spec)["outcome"] == "recovery").sum() == 7
    spec = dataclasses.replace(SimulationSpec(), label="Sim trial {} (simulated)")
    assert simulate_review(spec)["study"].str.startswith("Sim trial").all()


def test_main_writes_the_bundled_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sim.csv"
    assert sim.main(["--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == _bundled_text(".csv")
    assert sim.main(["--dump-spec"]) == 0
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(capsys.readouterr().out)
    assert sim.main(["--spec", str(spec_file), "--seed", "1"]) == 0
    assert capsys.readouterr().out == to_csv_text(simulate_review(seed=1))


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"n_contributing": 20}, "n_contributing"),
        ({"label": "Trial {:02d}"}, "simulated"),
        ({"n_participants": 100}, "n_participants"),
        ({"retention": (0.9, 0.5)}, "retention"),
    ],
)
def test_spec_validation(change: dict[str, object], match: str) -> None:
    with pytest.raises(ModelSpecError, match=match):
        dataclasses.replace(SimulationSpec(), **change)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"k": 15}, "k must be"),
        ({"i2": 1.0}, "i2"),
        ({"measure": "OR"}, "measure"),
        ({"effect_lower": None}, "both effect_higher and effect_lower"),
        ({"k_lower": 5}, "k_lower"),
    ],
)
def test_outcome_spec_validation(change: dict[str, object], match: str) -> None:
    with pytest.raises(ModelSpecError, match=match):
        SimulationSpec().replace_outcome("social_network_support", **change)


# ------------------------------------------------------------------------- statistics


def _huge(outcome_changes: dict[str, object], k: int = 2000) -> SimulationSpec:
    sn = dataclasses.replace(
        SimulationSpec().outcome("social_network_support"),
        k=k,
        k_lower=None,
        lower_role=None,
        **outcome_changes,  # type: ignore[arg-type]
    )
    return SimulationSpec(n_trials=k, n_contributing=k, n_participants=175 * k, outcomes=(sn,))


def test_huge_k_recovers_the_pooled_smd_and_i2() -> None:
    spec = _huge({"effect_higher": None, "effect_lower": None})
    tab = read_sheet(simulate_review(spec, seed=1))
    res = rma(tab, method="DL")
    assert res.k == 2000
    assert float(res.beta[0]) == pytest.approx(0.09, abs=0.02)
    assert res.I2 == pytest.approx(67, abs=5)


def test_huge_k_recovers_the_subgroup_effects() -> None:
    tab = read_sheet(simulate_review(_huge({}), seed=2))
    d = tab.data
    for level, truth in (("lower", 0.50), ("higher", -0.04)):
        rows = d["org_support_level"] == level
        res = rma(d.loc[rows, "yi"].to_numpy(), d.loc[rows, "vi"].to_numpy(), method="DL")
        assert res.k > 300
        assert float(res.beta[0]) == pytest.approx(truth, abs=0.02), level
