"""Tests of bayesmeta.sheet: the researcher's extraction sheet."""

from __future__ import annotations

import doctest
import re
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import bayesmeta.sheet as sheet_module
from bayesmeta.effect_sizes import escalc
from bayesmeta.errors import DataError, ModelSpecError, NotEstimableWarning
from bayesmeta.plan import ReviewPlan, load_plan, plan_from_dict
from bayesmeta.sheet import (
    read_sheet,
    sheet_columns,
    template_columns,
    write_template,
)
from bayesmeta.table import EffectTable

SHEETS = Path(__file__).parent / "data" / "sheets"
GOOD = SHEETS / "good.csv"
DOCS = Path(__file__).parents[1] / "docs" / "extraction-sheet.md"
PEER_SUPPORT = resources.files("bayesmeta") / "datasets" / "plans" / "peer_support.toml"


def _sheet_plan() -> ReviewPlan:
    """The bundled peer-support plan's moderators and subgroup, with the test sheets' outcomes."""
    raw = tomllib.loads(PEER_SUPPORT.read_text(encoding="utf-8"))
    raw["outcomes"] = {
        "recovery": {"measure": "SMD", "direction": "higher"},
        "hospitalised": {"measure": "OR", "direction": "lower"},
        "employment": {"measure": "RR", "direction": "higher"},
    }
    del raw["data"], raw["published"]
    return plan_from_dict(raw, source="sheet-plan")


PLAN = _sheet_plan()
MODERATORS = [m.name for m in PLAN.moderators]


def test_doctests() -> None:
    result = doctest.testmod(sheet_module)
    assert result.failed == 0 and result.attempted > 0


# ------------------------------------------------------------------------- template


def test_column_dictionary_is_complete_and_ordered() -> None:
    cols = sheet_columns()
    assert list(cols) == template_columns()
    assert template_columns()[:5] == ["study", "outcome", "outcome_type", "measure", "direction"]
    for name, spec in cols.items():
        assert spec["description"], name
        assert spec["type"] in {"string", "number", "integer", "category"}, name
        if spec["type"] == "category":
            assert spec["values"], name
    cols["study"]["description"] = "changed"
    assert sheet_columns()["study"]["description"] != "changed"


def test_write_template_is_header_only(tmp_path: Path) -> None:
    p = write_template(tmp_path / "sheet.csv")
    text = p.read_text(encoding="utf-8")
    assert text == ",".join(template_columns()) + "\n"
    frame = pd.read_csv(p)
    assert list(frame.columns) == template_columns() and frame.empty


def test_write_template_refuses_to_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "sheet.csv"
    p.write_text("my precious data\n")
    with pytest.raises(OSError, match="left untouched"):  # OutputError, an OSError
        write_template(p)
    assert p.read_text() == "my precious data\n"
    with pytest.raises(OSError, match="left untouched"):  # not a template: never replaced
        write_template(p, overwrite=True)
    assert p.read_text() == "my precious data\n"
    q = write_template(tmp_path / "empty.csv")
    write_template(q, overwrite=True)  # an empty template may be replaced
    assert q.read_text().startswith("study,")
    assert sorted(x.name for x in tmp_path.iterdir()) == ["empty.csv", "sheet.csv"]


def test_bundled_template_matches_write_template(tmp_path: Path) -> None:
    """The bundled template is the bundled peer-support plan's."""
    bundled = resources.files("bayesmeta.datasets").joinpath("extraction_template.csv")
    written = write_template(tmp_path / "t.csv", plan=load_plan("peer_support"))
    assert bundled.read_text(encoding="utf-8") == written.read_text()


def test_template_round_trips(tmp_path: Path) -> None:
    """An empty template filled in with rows reads like the same rows in any sheet."""
    p = write_template(tmp_path / "sheet.csv", plan=PLAN)
    with pytest.raises(DataError, match="no data rows"):
        read_sheet(p, plan=PLAN)
    body = GOOD.read_text(encoding="utf-8").split("\n", 1)[1]
    with p.open("a", encoding="utf-8") as fh:
        fh.write(body)
    filled = read_sheet(p, plan=PLAN)
    pd.testing.assert_frame_equal(filled.data, read_sheet(GOOD, plan=PLAN).data)


def test_docs_describe_every_column() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for col in template_columns():
        assert f"`{col}`" in text, col
    for col in template_columns(load_plan("peer_support")) + MODERATORS:
        assert f"`{col}`" in text, col


def test_plan_columns_follow_the_standard_ones(tmp_path: Path) -> None:
    plan = load_plan("peer_support")
    cols = sheet_columns(plan)
    assert list(cols)[: len(template_columns())] == template_columns()
    extra = list(cols)[len(template_columns()) :]
    assert extra == [*(f"org_support_{i}" for i in (1, 2, 3)), "org_support_level", "peer_role"]
    assert cols["org_support_level"]["values"]["higher"] == "Higher organisational support"
    p = write_template(tmp_path / "sheet.csv", plan=plan)
    assert p.read_text(encoding="utf-8") == ",".join(template_columns(plan)) + "\n"


# ------------------------------------------------------------------------- a good sheet


@pytest.fixture(scope="module")
def good() -> EffectTable:
    return read_sheet(GOOD, plan=PLAN)


def _rows(tab: EffectTable, outcome: str) -> pd.DataFrame:
    return tab.data[tab.data["outcome"] == outcome]


@pytest.mark.parametrize("convention", ["metafor", "revman"])
def test_good_sheet_continuous_rows_match_escalc(convention: str) -> None:
    tab = read_sheet(GOOD, convention=convention)
    es = escalc(
        "SMD",
        m1i=[38.2, 41.0],
        sd1i=[10.5, 11.2],
        n1i=[60, 45],
        m2i=[35.9, 40.1],
        sd2i=[11.0, 10.8],
        n2i=[58, 47],
        convention=convention,
    )
    rec = _rows(tab, "recovery")
    np.testing.assert_allclose(rec["yi"].to_numpy()[:2], es.yi, rtol=0, atol=1e-14)
    np.testing.assert_allclose(rec["vi"].to_numpy()[:2], es.vi, rtol=0, atol=1e-14)
    # a continuous row with a ready estimate instead of arm data; its arm sizes are kept
    assert rec["yi"].iloc[2] == 0.25
    assert rec["vi"].iloc[2] == pytest.approx(0.04, abs=1e-15)
    assert rec["n1i"].iloc[2] == 50
    assert tab.data.attrs["convention"] == convention


@pytest.mark.parametrize("convention", ["metafor", "revman"])
def test_good_sheet_dichotomous_rows_match_escalc(convention: str) -> None:
    tab = read_sheet(GOOD, convention=convention)
    es = escalc("OR", ai=[20, 0], n1i=[70, 40], ci=[22, 3], n2i=[71, 41], convention=convention)
    hosp = _rows(tab, "hospitalised")
    np.testing.assert_allclose(hosp["yi"], es.yi, rtol=0, atol=1e-14)
    np.testing.assert_allclose(hosp["vi"], es.vi, rtol=0, atol=1e-14)
    assert hosp["measure"].unique().tolist() == ["OR"]
    assert hosp["direction"].unique().tolist() == ["lower"]


def test_good_sheet_generic_rows(good: EffectTable) -> None:
    emp = _rows(good, "employment")
    np.testing.assert_array_equal(emp["yi"], [0.18, -0.05])
    np.testing.assert_allclose(emp["vi"], [0.09**2, 0.12**2], rtol=1e-15)
    np.testing.assert_allclose(emp["sei"], [0.09, 0.12], rtol=1e-15)
    assert emp["measure"].unique().tolist() == ["RR"]


def test_good_sheet_structure_and_moderators(good: EffectTable) -> None:
    assert good.k == 7
    assert good.outcomes == ["recovery", "hospitalised", "employment"]
    assert good.moderators == MODERATORS
    d = good.data
    # level derived from the indicators where blank (Beta: 0,1,0 -> lower; Alpha: 1,1,0 -> higher)
    assert d["org_support_level"].tolist() == [
        "higher",
        "lower",
        "higher",
        "higher",
        "lower",
        "higher",
        "lower",
    ]
    np.testing.assert_array_equal(d["org_support_higher"], [1, 0, 1, 1, 0, 1, 0])
    np.testing.assert_array_equal(d["peer_add_on"], [0, 1, 1, 0, 1, 0, 0])
    for col in MODERATORS:
        assert d[col].dtype == np.float64
        assert set(d[col]) <= {0.0, 1.0}
    np.testing.assert_array_equal(d["follow_up_months"], [12, 6, 12, 12, 6, 12, 24])
    assert d["outcome_type"].tolist()[:4] == ["continuous"] * 3 + ["dichotomous"]


def test_dataframe_input_gives_the_same_table(good: EffectTable) -> None:
    frame = pd.read_csv(GOOD)
    tab = read_sheet(frame, plan=PLAN)
    pd.testing.assert_frame_equal(tab.data, good.data)


def test_headers_and_values_are_case_insensitive(tmp_path: Path) -> None:
    text = GOOD.read_text()
    header, body = text.split("\n", 1)
    body = body.replace(",SMD,higher,", ",smd,Higher,").replace(",continuous,", ",Continuous,")
    p = tmp_path / "s.csv"
    p.write_text(header.upper() + "\n" + body.replace(",add-on", ",Add On"))
    pd.testing.assert_frame_equal(read_sheet(p, plan=PLAN).data, read_sheet(GOOD, plan=PLAN).data)


def test_extra_columns_are_kept(tmp_path: Path) -> None:
    frame = pd.read_csv(GOOD)
    frame["risk_of_bias"] = ["low", "high", "low", "low", "high", "low", "some"]
    tab = read_sheet(frame)
    assert tab.data["risk_of_bias"].tolist()[:2] == ["low", "high"]
    assert "risk_of_bias" not in tab.moderators


def test_sheet_without_moderators_or_optional_columns() -> None:
    frame = pd.read_csv(GOOD)[["study", "outcome", "outcome_type", "measure", "direction"]]
    frame = frame.assign(yi=0.1, sei=0.2)
    frame["outcome_type"] = "generic"
    frame["measure"] = frame["outcome"].map(
        {"recovery": "SMD", "hospitalised": "OR", "employment": "RR"}
    )
    tab = read_sheet(frame)
    assert tab.moderators == []
    assert tab.k == 7


def test_without_a_plan_extra_columns_are_text() -> None:
    tab = read_sheet(GOOD)
    assert tab.moderators == []
    assert tab.data["org_support_1"].tolist()[:2] == ["1", "0"]
    assert tab.data["peer_role"].tolist()[:2] == ["substitute", "add-on"]


def test_a_declared_moderator_missing_from_the_sheet_is_named() -> None:
    frame = pd.read_csv(GOOD).drop(columns=["org_support_2"])
    with pytest.raises(
        DataError,
        match=r"column 'org_support_2', declared by the review plan "
        r"sheet-plan \(\[moderators.org_support_2\]\), is missing",
    ) as info:
        read_sheet(frame, plan=PLAN)
    assert info.value.column == "org_support_2"


def test_plan_checks_each_outcome_s_measure_and_direction() -> None:
    frame = pd.read_csv(GOOD)
    frame.loc[0:2, "direction"] = "Lower"
    with pytest.raises(DataError) as info:
        read_sheet(frame, plan=PLAN)
    msg = str(info.value)
    assert msg.startswith("rows 1 (study 'Alpha 2001'") and "3 (study 'Gamma 2010'" in msg
    assert "'direction' is 'lower' but the review plan" in msg
    assert "sheet-plan says [outcomes.recovery] direction = 'higher'" in msg
    assert info.value.column == "direction"


def test_an_undeclared_outcome_is_named_with_the_plan() -> None:
    frame = pd.read_csv(GOOD)
    frame.loc[6, "outcome"] = "housing"
    with pytest.raises(
        DataError,
        match=r"row 7 .*'housing' is not an outcome of the review "
        r"plan sheet-plan",
    ) as info:
        read_sheet(frame, plan=PLAN)
    assert info.value.column == "outcome"


def test_not_estimable_rows_are_dropped_with_a_warning() -> None:
    frame = pd.read_csv(GOOD)
    frame.loc[4, ["ai", "ci"]] = 0  # Beta 2005, hospitalised: no events in either arm
    with pytest.warns(NotEstimableWarning, match=r"row 5 \(study 'Beta 2005'"):
        tab = read_sheet(frame, convention="revman")
    assert tab.k == 6
    assert _rows(tab, "hospitalised")["study"].tolist() == ["Alpha 2001"]


def test_unknown_convention() -> None:
    with pytest.raises(ModelSpecError, match="convention"):
        read_sheet(GOOD, convention="stata")


# ------------------------------------------------------------------------- bad sheets

BAD = [
    ("missing_column.csv", 1, "direction", "missing required column"),
    ("text_in_numeric.csv", 3, "m1i", "'about 40'"),
    ("negative_sd.csv", 4, "sd2i", "must be > 0"),
    ("zero_sd.csv", 2, "sd1i", "must be > 0"),
    ("small_n.csv", 3, "n1i", ">= 2"),
    ("events_exceed.csv", 2, "ai", "exceeds the arm total"),
    ("events_negative.csv", 4, "ci", ">= 0"),
    ("unknown_outcome_type.csv", 3, "outcome_type", "unknown value(s) ['binary']"),
    ("unknown_measure.csv", 2, "measure", "unknown value(s) ['SMDD']"),
    ("measure_type_mismatch.csv", 3, "measure", "does not fit outcome_type 'continuous'"),
    ("unknown_direction.csv", 4, "direction", "unknown value(s) ['up']"),
    ("mixed_measures.csv", 4, "measure", "differs within outcome 'recovery'"),
    ("mixed_directions.csv", 3, "direction", "differs within outcome 'recovery'"),
    ("no_data.csv", 3, "m1i", "neither arm data"),
    ("partial_arms.csv", 3, "sd2i", "blank on a row with other arm-level data"),
    ("arms_and_ready.csv", 3, "yi", "not both"),
    ("duplicate.csv", 4, "study", "repeats a (study, outcome) pair"),
    ("generic_with_arms.csv", 3, "outcome_type", "arm-level cells are filled"),
    ("bad_sei.csv", 3, "sei", "must be > 0"),
    ("not_snake_case.csv", 3, "outcome", "'quality_of_life'"),
    ("blank_line.csv", 5, "n2i", ">= 2"),
]
#: Sheets whose error is in a column the review plan declares (read with PLAN).
BAD_WITH_PLAN = [
    (
        "level_disagrees.csv",
        3,
        "org_support_level",
        "disagrees with moderator 'org_support_higher'",
    ),
    ("indicator_not_binary.csv", 3, "org_support_2", "must be 0 (not met) or 1 (met)"),
    ("trial_inconsistent.csv", 4, "peer_role", "same value on every row of the trial"),
    ("unknown_peer_role.csv", 3, "peer_role", "unknown value(s) ['peer']"),
]


@pytest.mark.parametrize(
    ("name", "line", "column", "phrase", "plan"),
    [(*b, None) for b in BAD] + [(*b, PLAN) for b in BAD_WITH_PLAN],
    ids=[b[0] for b in BAD + BAD_WITH_PLAN],
)
def test_bad_sheet_names_line_and_column(
    name: str, line: int, column: str, phrase: str, plan: ReviewPlan | None
) -> None:
    path = SHEETS / name
    with pytest.raises(DataError) as info:
        read_sheet(path, plan=plan)
    msg = str(info.value)
    assert msg.startswith(f"{path}: "), msg
    assert re.search(rf"\bline {line}\b", msg), msg
    assert f"{column!r}" in msg, msg
    assert phrase in msg, msg
    assert info.value.column == column
    assert info.value.source == str(path)


def test_error_rows_are_zero_based_data_positions() -> None:
    with pytest.raises(DataError) as info:
        read_sheet(SHEETS / "negative_sd.csv")
    assert info.value.rows == [2]
    with pytest.raises(DataError) as info:
        read_sheet(SHEETS / "blank_line.csv")  # the blank line is not a data row
    assert info.value.rows == [2]


def test_error_names_study_and_outcome() -> None:
    with pytest.raises(DataError, match=r"line 4 \(study 'C', outcome 'recovery'\)"):
        read_sheet(SHEETS / "negative_sd.csv")


def test_dataframe_errors_name_one_based_rows() -> None:
    frame = pd.read_csv(SHEETS / "negative_sd.csv")
    with pytest.raises(DataError, match=r"^row 3 \(study 'C'") as info:
        read_sheet(frame)
    assert info.value.column == "sd2i"


def test_source_overrides_the_name_in_messages() -> None:
    with pytest.raises(DataError, match=r"^my sheet: line 4"):
        read_sheet(SHEETS / "negative_sd.csv", source="my sheet")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "empty"),
        (b"study;outcome;yi\nA;x;1\n", "delimiter"),
        (b"\xff\xfe\x00s\x00t", "binary"),
        (b"study,outcome\xe9\n", "UTF-8"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match):
        read_sheet(p)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        read_sheet(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="folder"):
        read_sheet(tmp_path)


def test_too_many_fields_names_the_line(tmp_path: Path) -> None:
    lines = GOOD.read_text().splitlines()
    lines[2] = lines[2].replace("41.0,", "41,0,", 1)  # a decimal comma on line 3
    p = tmp_path / "s.csv"
    p.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"line 3: 22 fields but the header has 21"):
        read_sheet(p)


def test_bom_and_windows_line_endings(tmp_path: Path) -> None:
    p = tmp_path / "s.csv"
    p.write_bytes(b"\xef\xbb\xbf" + GOOD.read_text().replace("\n", "\r\n").encode())
    pd.testing.assert_frame_equal(read_sheet(p, plan=PLAN).data, read_sheet(GOOD, plan=PLAN).data)


def test_missing_arm_column_for_rows_that_need_it() -> None:
    frame = pd.read_csv(GOOD).drop(columns=["sd2i"])
    with pytest.raises(DataError, match=r"missing required column\(s\) \['sd2i'\]") as info:
        read_sheet(frame)
    assert info.value.column == "sd2i"


def test_partly_rated_indicators() -> None:
    frame = pd.read_csv(GOOD)
    frame.loc[6, "org_support_3"] = np.nan
    with pytest.raises(DataError, match=r"row 7 .*'org_support_3' is blank") as info:
        read_sheet(frame, plan=PLAN)
    assert info.value.column == "org_support_3"


def test_duplicate_columns_after_case_folding() -> None:
    frame = pd.read_csv(GOOD)
    frame.insert(1, "Study", frame["study"])
    with pytest.raises(DataError, match=r"\['study'\] appear more than once") as info:
        read_sheet(frame)
    assert info.value.column == "study"


def test_frame_with_any_index_and_dtypes(good: EffectTable) -> None:
    frame = pd.read_csv(GOOD)
    frame.index = [10, 20, 30, 40, 50, 60, 70]
    frame["n1i"] = frame["n1i"].astype("Int64")
    frame["measure"] = frame["measure"].astype("category")
    pd.testing.assert_frame_equal(read_sheet(frame, plan=PLAN).data, good.data)


def test_cells_of_the_other_row_type_are_refused() -> None:
    frame = pd.read_csv(GOOD)
    frame.loc[1, "ai"] = 3  # Beta 2005, recovery: a continuous row
    with pytest.raises(DataError, match=r"row 2 .*'ai' is filled on a continuous row") as info:
        read_sheet(frame)
    assert info.value.column == "ai"
