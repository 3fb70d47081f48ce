"""Tests of bayesmeta.reconstruct: the calibrated reconstruction of White et al. (2020).

The bundled ``peer_support_simulated.csv`` must (1) be re-found from its seed, (2) reproduce the
published social network support figures by a hand-written RevMan SMD and DL in plain numpy, and
(3) reproduce every published number of ``TARGETS`` through the package's own ``rma`` and
``subgroup_analysis``.
"""

from __future__ import annotations

import doctest
import io
from importlib import resources

import numpy as np
import pandas as pd
import pytest

import bayesmeta.reconstruct as rec
from bayesmeta.datasets import load_peer_support_simulated, load_white2020
from bayesmeta.frequentist import rma, subgroup_analysis
from bayesmeta.plan import load_plan
from bayesmeta.reconstruct import ORG_INDICATORS
from bayesmeta.sheet import read_sheet, template_columns
from bayesmeta.simulate import to_csv_text

SNS = "social_network_support"


def _bundled_text() -> str:
    return (
        resources.files("bayesmeta.datasets")
        .joinpath("peer_support_simulated.csv")
        .read_text("utf-8")
    )


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    """The bundled CSV read with plain pandas (no package code)."""
    return pd.read_csv(io.StringIO(_bundled_text()))


def test_doctests() -> None:
    result = doctest.testmod(rec, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0 and result.attempted > 0


# ------------------------------------------------------------------------- determinism


def test_bundled_csv_is_refound_from_its_seed() -> None:
    assert to_csv_text(rec.reconstruct_review(seed=rec.RECONSTRUCTION_SEED)) == _bundled_text(), (
        "peer_support_simulated.csv differs from reconstruct_review(); regenerate it with "
        "`python -m bayesmeta.simulate --out bayesmeta/datasets/peer_support_simulated.csv`"
    )


def test_generator_is_deterministic_and_labels_simulated() -> None:
    rec._reconstruct.cache_clear()
    again = rec.reconstruct_review()
    assert to_csv_text(again) == _bundled_text()
    assert again.attrs["simulated"] is True and again.attrs["reconstructed"] is True
    assert "SIMULATED" in again.attrs["note"] and "not the trials' results" in again.attrs["note"]
    assert again["study"].str.endswith("(simulated)").all()
    assert list(again.columns) == template_columns(load_plan("peer_support"))


# ------------------------------------------------------------------------- by hand, in numpy


def _revman_smd(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """RevMan 5's SMD: Hedges' g with the approximate correction, and its variance."""
    m1, s1, n1, m2, s2, n2 = (
        rows[c].to_numpy(float) for c in ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")
    )
    n = n1 + n2
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n - 2))
    g = (m1 - m2) / sp * (1 - 3 / (4 * n - 9))
    v = n / (n1 * n2) + g**2 / (2 * (n - 3.94))
    return g, v


def _dl_by_hand(y: np.ndarray, v: np.ndarray) -> tuple[float, float, float, float]:
    """DerSimonian-Laird: estimate, 95% CI, I² in percent."""
    w = 1 / v
    k = y.size
    q = float(np.sum(w * (y - np.sum(w * y) / w.sum()) ** 2))
    tau2 = max(0.0, (q - (k - 1)) / (w.sum() - np.sum(w**2) / w.sum())) if k > 1 else 0.0
    ws = 1 / (v + tau2)
    mu = float(np.sum(ws * y) / ws.sum())
    se = float(ws.sum() ** -0.5)
    i2 = max(0.0, (q - (k - 1)) / q) * 100 if k > 1 else 0.0
    return mu, mu - 1.959964 * se, mu + 1.959964 * se, i2


def _r2(x: float) -> str:
    return f"{x:.2f}"


def test_social_network_support_by_hand_equals_the_published(raw: pd.DataFrame) -> None:
    sn = raw[raw["outcome"] == SNS]
    g, v = _revman_smd(sn)
    lower = (sn["org_support_level"] == "lower").to_numpy()
    est, lb, ub, i2 = _dl_by_hand(g, v)
    assert (len(sn), _r2(est), _r2(lb), _r2(ub), round(i2)) == (4, "0.09", "-0.25", "0.42", 67)
    est, lb, ub, _ = _dl_by_hand(g[lower], v[lower])
    assert (int(lower.sum()), _r2(est), _r2(lb), _r2(ub)) == (1, "0.50", "0.14", "0.87")
    est, lb, ub, _ = _dl_by_hand(g[~lower], v[~lower])
    assert (int((~lower).sum()), _r2(est), _r2(lb), _r2(ub)) == (3, "-0.04", "-0.37", "0.28")


def test_social_network_support_matches_the_published_table(raw: pd.DataFrame) -> None:
    """The same, against the bundled white2020_published rows rather than typed-in numbers."""
    pub = load_white2020().published
    pub = pub[pub["outcome"] == SNS]
    sn = raw[raw["outcome"] == SNS]
    g, v = _revman_smd(sn)
    for row in pub.itertuples(index=False):
        sel = np.ones(len(sn), bool)
        if row.subgroup != "all":
            sel = (sn["org_support_level"] == row.subgroup).to_numpy()
        est, lb, ub, i2 = _dl_by_hand(g[sel], v[sel])
        assert int(sel.sum()) == row.k
        assert [_r2(est), _r2(lb), _r2(ub)] == [
            _r2(row.estimate),
            _r2(row.ci_lb),
            _r2(row.ci_ub),
        ], row.subgroup
        if pd.notna(row.i2_percent):
            assert round(i2) == row.i2_percent


# ------------------------------------------------------------------------- through the package


@pytest.mark.parametrize("convention", ["revman", "metafor"])
def test_every_target_reproduced_by_the_package(convention: str) -> None:
    check = rec.reproduction_check(
        load_peer_support_simulated(), trials=rec.reconstruct_trials(), convention=convention
    )
    assert len(check) == len(rec.TARGETS)
    bad = check[~check["reproduced"]]
    assert bad.empty, bad.to_string()
    assert set(check.columns) >= {"published", "recomputed", "reproduced", "difference"}


def test_rma_and_subgroup_analysis_on_the_bundled_sheet() -> None:
    tab = read_sheet(load_peer_support_simulated(), convention="revman")
    d = tab.data[tab.data["outcome"] == SNS]
    r = rma(d["yi"].to_numpy(), d["vi"].to_numpy(), method="DL")
    assert (_r2(float(r.beta[0])), _r2(float(r.ci_lb[0])), _r2(float(r.ci_ub[0]))) == (
        "0.09",
        "-0.25",
        "0.42",
    )
    assert round(r.I2) == 67 and r.QEp < 0.05
    sg = subgroup_analysis(d["yi"], d["vi"], d["org_support_level"].astype(str), method="DL")
    frame = sg.to_frame()
    assert frame.loc["higher", ["estimate", "ci_lb", "ci_ub"]].round(2).tolist() == [
        -0.04,
        -0.37,
        0.28,
    ]
    assert frame.loc["lower", ["estimate", "ci_lb", "ci_ub"]].round(2).tolist() == [0.5, 0.14, 0.87]
    role = subgroup_analysis(d["yi"], d["vi"], d["peer_role"].astype(str), method="DL")
    assert role.pval < 0.05
    assert role.groups["add-on"].beta[0] > role.groups["substitute"].beta[0]


def test_check_flags_a_sheet_that_disagrees(raw: pd.DataFrame) -> None:
    bad = raw.copy()
    rows = bad.index[bad["outcome"] == SNS]
    bad.loc[rows[0], "m1i"] += 2.0  # move one trial's mean
    check = rec.reproduction_check(bad)
    sn = check[(check["outcome"] == SNS) & (check["subgroup"] == "all")]
    assert not sn["reproduced"].all()
    assert "n_trials" not in set(check["quantity"])  # no trials table given
    est = sn[sn["quantity"] == "estimate"].iloc[0]
    assert est["difference"] == pytest.approx(est["recomputed"] - 0.09)


# ------------------------------------------------------------------------- structure


def test_trials_and_design() -> None:
    trials = rec.reconstruct_trials()
    assert len(trials) == 19 and int(trials["n_randomised"].sum()) == 3329
    assert int(trials["contributes"].sum()) == 14
    first, second = trials.iloc[0], trials.iloc[1]
    studies = load_white2020().studies
    for t, s in ((first, studies.iloc[0]), (second, studies.iloc[1])):
        assert (t["n1_randomised"], t["n2_randomised"]) == (s["n_intervention"], s["n_control"])
        assert t["peer_role"] == s["peer_role"] and t["org_support_level"] == s["org_support_level"]
        assert t["follow_up_months"] == s["longest_follow_up_months"]
    met = trials[list(ORG_INDICATORS)].sum(axis=1)
    assert ((met >= 2) == (trials["org_support_level"] == "higher")).all()


def test_analysed_sizes_fit_the_randomised(raw: pd.DataFrame) -> None:
    trials = rec.reconstruct_trials().set_index("study")
    merged = raw.merge(trials, left_on="study", right_index=True, suffixes=("", "_trial"))
    assert (merged["n1i"] <= merged["n1_randomised"]).all()
    assert (merged["n2i"] <= merged["n2_randomised"]).all()
    assert (merged["n1i"] >= 5).all() and (merged["n2i"] >= 5).all()
    retention = (merged["n1i"] + merged["n2i"]) / merged["n_randomised"]
    assert retention.between(0.6, 1.0).all()


def test_values_plausible(raw: pd.DataFrame) -> None:
    for name, (_, _, sd, (lo, hi)) in rec._SCALES.items():
        rows = raw[raw["outcome"] == name]
        for col in ("m1i", "m2i"):
            assert (
                rows[col].between(-np.inf if lo is None else lo, np.inf if hi is None else hi).all()
            )
        ratio = rows[["sd1i", "sd2i"]].to_numpy() / sd
        assert ((ratio > 0.5) & (ratio < 2)).all(), name
    hosp = raw[raw["outcome"] == "hospitalised"]
    risk = hosp["ci"].sum() / hosp["n2i"].sum()
    assert 0.15 < risk < 0.45


def test_json_keeps_the_trials_of_the_search() -> None:
    kept = rec.bundled_trials()
    found = rec.reconstruct_trials()[list(rec.TRIAL_COLUMNS)]
    pd.testing.assert_frame_equal(kept, found, check_dtype=False)
    assert rec.trials_records(found) == describe_trials()


def describe_trials() -> list[dict[str, object]]:
    from bayesmeta.datasets import describe

    return list(describe("peer_support_simulated")["trials"])


def test_default_check_uses_the_bundled_sheet_and_trials() -> None:
    check = rec.reproduction_check()
    assert len(check) == len(rec.TARGETS) and check["reproduced"].all()
    review = check[check["outcome"] == "review"].set_index("quantity")["recomputed"]
    assert review.to_dict() == {
        "n_trials": 19,
        "n_participants": 3329,
        "n_trials_meta_analysis": 14,
        "n_outcomes": 11,
    }


def test_another_seed_gives_other_data_that_still_reproduce() -> None:
    other = rec.reconstruct_review(seed=3)
    assert to_csv_text(other) != _bundled_text()
    check = rec.reproduction_check(other, trials=rec.reconstruct_trials(seed=3))
    assert check["reproduced"].all()
