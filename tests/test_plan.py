"""The review plan as data (bayesmeta.plan): loading, checking, and a second review run by it.

The second review is examples/bcg_review/ (plan.toml + sheet.csv): the BCG vaccine trials with
the method of allocation as the subgroup variable and absolute latitude as a numeric moderator.
Its DL numbers are pinned to metafor 3.8 by examples/bcg_review/make_reference.R
(examples/bcg_review/reference.json).
"""

from __future__ import annotations

import base64
import doctest
import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import bayesmeta.plan as plan_module
from bayesmeta import datasets
from bayesmeta.cli import EXIT_BAD_INPUT, EXIT_OK, main
from bayesmeta.errors import DataError
from bayesmeta.plan import bundled_plans, load_plan, plan_from_dict
from bayesmeta.reconstruct import ORG_INDICATORS, PEER_ROLES
from bayesmeta.review import published_table, read_review
from tests.conftest import ROOT

BCG = ROOT / "examples" / "bcg_review"
REFERENCE = json.loads((BCG / "reference.json").read_text(encoding="utf-8"))
PEER_SUPPORT = resources.files("bayesmeta") / "datasets" / "plans" / "peer_support.toml"
#: The report's CSV tables hold floats written by repr and read back exactly; the package's DL
#: agrees with metafor to ~1e-12 relative (models/rma), so 1e-9 leaves room and still catches
#: any wrong subgroup, wrong measure or wrong sign.
METAFOR_RTOL = 1e-9


def test_doctests() -> None:
    result = doctest.testmod(plan_module)
    assert result.failed == 0 and result.attempted > 0


# ---------------------------------------------------------------------------- the bundled plan


def test_bundled_plan_declares_the_case_study() -> None:
    plan = load_plan("peer_support")
    assert bundled_plans() == ["peer_support"]
    assert plan.source.endswith("peer_support.toml")
    assert len(plan.outcomes) == 11 and plan.label("hospitalised") == "Hospitalised"
    assert plan.outcome("hospitalised").measure == "OR"  # type: ignore[union-attr]
    higher = plan.moderator("org_support_higher")
    assert (higher.kind, higher.at_least, higher.of) == ("at_least", 2, ORG_INDICATORS)
    role = plan.moderator("peer_add_on")
    assert (role.column, role.levels, role.equals) == ("peer_role", PEER_ROLES, "add-on")
    assert plan.subgroup is not None and plan.subgroup.column == "org_support_level"
    assert plan.subgroup.moderator == "org_support_higher"
    assert plan.data is not None and plan.data.bundled and plan.data.simulated
    assert plan.published is not None and plan.published.name == "white2020_published"


def test_bundled_plan_ships_in_the_package_data() -> None:
    """hatch builds the wheel from the bayesmeta/ folder: every file in it, the plan included."""
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert tomllib.loads(text)["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "bayesmeta"
    ]
    assert PEER_SUPPORT.is_file()


def test_json_plan_equals_toml_plan(tmp_path: Path) -> None:
    raw = tomllib.loads(PEER_SUPPORT.read_text(encoding="utf-8"))
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    toml_plan, json_plan = load_plan("peer_support"), load_plan(path)
    assert json_plan.outcomes == toml_plan.outcomes
    assert json_plan.moderators == toml_plan.moderators
    assert json_plan.regressions == toml_plan.regressions
    assert json_plan.subgroup == toml_plan.subgroup


# ---------------------------------------------------------------------------- errors


def _raw() -> dict[str, Any]:
    return tomllib.loads((BCG / "plan.toml").read_text(encoding="utf-8"))


def _write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path


def _edit(raw: dict[str, Any], keys: str, value: Any) -> dict[str, Any]:
    *parents, last = keys.split(".")
    node = raw
    for k in parents:
        node = node[k]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return raw


_DELETE = object()

#: (dotted key to set, value, key named in the message, what the message says)
BAD_PLANS = [
    ("colour", "red", "colour", "allowed keys: title, intervention"),
    ("outcomes.tuberculosis.units", "cases", "units", "allowed keys: label, measure, direction"),
    ("outcomes.tuberculosis.measure", "HAZARD", "outcomes.tuberculosis.measure", "one of SMD, MD"),
    ("outcomes.tuberculosis.direction", "down", "outcomes.tuberculosis.direction", "higher, lower"),
    ("outcomes.tuberculosis.measure", "SMD", "outcomes.tuberculosis.measure", "does not fit"),
    ("title", _DELETE, "title", "is missing"),
    ("outcomes", {}, "outcomes", "declares no outcome"),
    ("moderators.ablat", "ordinal", "moderators.ablat.type", "one of binary, numeric"),
    ("moderators.hot", {"at_least": 2, "of": ["ablat"]}, "moderators.hot.at_least", "from 1 to 1"),
    ("moderators.hot", {"at_least": 1, "of": ["lat"]}, "moderators.hot.of", "'lat'"),
    ("moderators.hot", {"at_least": 1, "of": ["ablat"]}, "moderators.hot.of", "numeric"),
    ("moderators.hot", {"label": "x"}, "moderators.hot", "neither a type nor a derivation"),
    ("moderators.alloc", "binary", "subgroup.column", "also a moderator's name"),
    ("regressions", [{"moderators": ["year"]}], "regressions[1].moderators", "'year'"),
    ("regressions", [{"moderators": ["ablat"], "min_k": 2}], "regressions[1].min_k", ">= 3"),
    ("subgroup.levels", [], "subgroup.levels", "non-empty list"),
    ("subgroup.moderator", "ablat", "subgroup.moderator", "not a declared 0/1 moderator"),
    ("subgroup.labels", {"quasi": "Quasi"}, "quasi", "allowed keys: random, alternate"),
    ("data.sheet", "nowhere.csv", "data.sheet", "neither a bundled dataset nor a file"),
    ("published", {"table": "pub.csv"}, "published.table", "relative to the plan file"),
    ("data.simulated", "yes", "data.simulated", "true or false"),
    ("convention", "stata", "convention", "metafor, revman"),
]


@pytest.mark.parametrize(
    ("keys", "value", "named", "says"), BAD_PLANS, ids=[f"{b[0]}={b[1]!r}" for b in BAD_PLANS]
)
def test_bad_plan_names_file_and_key(
    tmp_path: Path, keys: str, value: Any, named: str, says: str
) -> None:
    raw = _raw()
    raw["data"]["sheet"] = str(BCG / "sheet.csv")
    path = _write(tmp_path, _edit(raw, keys, value))
    with pytest.raises(DataError) as info:
        load_plan(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: "), msg
    assert f"'{named}'" in msg, msg
    assert says in msg, msg
    assert info.value.source == str(path)


def test_unknown_key_lists_the_allowed_ones(tmp_path: Path) -> None:
    raw = _edit(_raw(), "subgroup.colum", "alloc")
    raw["data"]["sheet"] = str(BCG / "sheet.csv")
    with pytest.raises(DataError) as info:
        load_plan(_write(tmp_path, raw))
    assert "unknown key 'colum' in [subgroup]; allowed keys: column, name, levels, labels, " in str(
        info.value
    )
    assert info.value.column == "colum"


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "plan.toml"
    path.write_text('title = "x"\n[outcomes.a\nmeasure = "SMD"\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"plan.toml: not a valid TOML plan: .*line 2"):
        load_plan(path)


def test_missing_plan_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope.toml.*neither a file nor a bundled plan"):
        load_plan(tmp_path / "nope.toml")


def test_a_declared_moderator_missing_from_the_sheet(tmp_path: Path, capsys) -> None:
    sheet = tmp_path / "sheet.csv"
    pd.read_csv(BCG / "sheet.csv").drop(columns=["ablat"]).to_csv(sheet, index=False)
    with pytest.raises(DataError) as info:
        read_review(load_plan(BCG / "plan.toml"), str(sheet))
    msg = str(info.value)
    assert msg.startswith(f"{sheet}: line 1 (header): column 'ablat', declared by the review plan ")
    assert f"{BCG / 'plan.toml'} ([moderators.ablat]), is missing from the sheet" in msg
    assert info.value.column == "ablat"
    argv = ["reproduce", "--plan", str(BCG / "plan.toml"), "--data", str(sheet)]
    assert main([*argv, "--quiet", "--out", str(tmp_path / "r")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "'ablat'" in err and "plan.toml" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_an_unknown_subgroup_level_is_named(tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    frame = pd.read_csv(BCG / "sheet.csv")
    frame.loc[3, "alloc"] = "quasi"
    frame.to_csv(sheet, index=False)
    with pytest.raises(DataError, match=r"line 5 .*'alloc' has unknown value\(s\) \['quasi'\]"):
        read_review(load_plan(BCG / "plan.toml"), str(sheet))


def test_published_table_from_a_csv_beside_the_plan(tmp_path: Path) -> None:
    raw = _raw()
    raw["data"]["sheet"] = str(BCG / "sheet.csv")
    raw["published"] = {"table": "published.csv", "label": "A paper"}
    (tmp_path / "published.csv").write_text(
        "outcome,estimate,ci_lb,ci_ub\ntuberculosis,-0.71,-1.06,-0.36\n", encoding="utf-8"
    )
    plan = load_plan(_write(tmp_path, raw))
    pub = published_table(plan)
    assert pub is not None and pub["estimate"].tolist() == [-0.71]
    (tmp_path / "published.csv").write_text("outcome,estimate\ntuberculosis,-0.71\n")
    with pytest.raises(DataError, match=r"published.csv: the published table needs .*'ci_lb'"):
        published_table(plan)
    (tmp_path / "published.csv").write_text(
        "outcome,estimate,ci_lb,ci_ub\ntuberculosis,-0.71,-1.06,-0.36\nhiv,0.4O,0.1,0.7\n"
    )
    with pytest.raises(DataError, match=r"line 3: column 'estimate' holds '0.4O', not a number"):
        published_table(plan)


def test_plan_from_dict_defaults() -> None:
    outcomes = {"pain": {"measure": "md", "direction": "lower"}}
    plan = plan_from_dict({"title": "T", "outcomes": outcomes})
    assert plan.outcomes[0].measure == "MD" and plan.subgroup is None
    assert plan.moderators == () and plan.regressions == () and plan.data is None
    assert plan.sheet_columns() == []


# ---------------------------------------------------------------------------- a second review


def test_bcg_sheet_is_the_bundled_bcg_data() -> None:
    """examples/bcg_review/sheet.csv holds datasets.load_bcg() as an extraction sheet."""
    sheet, bcg = pd.read_csv(BCG / "sheet.csv"), datasets.load_bcg()
    assert sheet["study"].tolist() == (bcg["author"] + " " + bcg["year"].astype(str)).tolist()
    assert sheet["ai"].tolist() == bcg["tpos"].tolist()
    assert (sheet["n1i"] - sheet["ai"]).tolist() == bcg["tneg"].tolist()
    assert sheet["ci"].tolist() == bcg["cpos"].tolist()
    assert (sheet["n2i"] - sheet["ci"]).tolist() == bcg["cneg"].tolist()
    assert sheet["alloc"].tolist() == bcg["alloc"].astype(str).tolist()
    assert sheet["ablat"].tolist() == bcg["ablat"].tolist()


@pytest.fixture(scope="module")
def bcg_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bcg") / "report"
    argv = ["reproduce", "--plan", str(BCG / "plan.toml"), "--data", str(BCG / "sheet.csv")]
    code = main([*argv, "--out", str(out), "--draws", "200", "--engine", "auto", "--quiet"])
    assert code == EXIT_OK
    return out


@pytest.mark.slow
def test_bcg_report_shows_the_subgroup_forest_plot(bcg_report: Path) -> None:
    png = bcg_report / "figures" / "subgroups_tuberculosis.png"
    assert png.stat().st_size > 10_000 and not png.with_suffix(".svg").exists()  # PNG only
    html = (bcg_report / "index.html").read_text(encoding="utf-8")
    embedded = base64.b64encode(png.read_bytes()).decode("ascii")
    assert (
        f'<img alt="Subgroups by allocation (RevMan layout)" src="data:image/png;base64,{embedded}"'
        in html
    )
    md = (bcg_report / "report.md").read_text(encoding="utf-8")
    assert "(figures/subgroups_tuberculosis.png)" in md
    for text in (html, md):
        assert "Bayesian re-analysis: BCG vaccine against tuberculosis" in text
        assert "Subgroups by allocation (RevMan&#x27;s test)" in text or (
            "Subgroups by allocation (RevMan's test)" in text
        )
        assert "SIMULATED" not in text
        assert "peer support" not in text.lower() and "organisational" not in text
    side = pd.read_csv(bcg_report / "tables" / "side_by_side.csv")
    assert side["Outcome"].tolist() == ["Tuberculosis"] and "P(favours BCG)" in side.columns


@pytest.mark.slow
def test_bcg_report_dl_numbers_equal_metafor(bcg_report: Path) -> None:
    freq = pd.read_csv(bcg_report / "tables" / "frequentist.csv")
    dl = freq[freq["method"] == "DL"].iloc[0]
    ref = REFERENCE["overall"]
    assert int(dl["k"]) == ref["k"]
    for col in ("estimate", "se", "ci_lb", "ci_ub", "tau2", "I2", "QE"):
        assert dl[col] == pytest.approx(ref[col], rel=METAFOR_RTOL), col
    sg = pd.read_csv(bcg_report / "tables" / "subgroups.csv").set_index("subgroup")
    assert sorted(sg.index) == sorted(REFERENCE["subgroups"])
    for level, ref in REFERENCE["subgroups"].items():
        assert int(sg.loc[level, "k"]) == ref["k"]
        for col in ("estimate", "se", "ci_lb", "ci_ub", "tau2", "QE"):
            assert sg.loc[level, col] == pytest.approx(ref[col], rel=METAFOR_RTOL), (level, col)
    between = REFERENCE["between"]
    assert (sg["Q_between"] == sg["Q_between"].iloc[0]).all()
    assert sg["Q_between"].iloc[0] == pytest.approx(between["Q"], rel=METAFOR_RTOL)
    assert sg["df_between"].iloc[0] == between["df"]
    assert sg["p_between"].iloc[0] == pytest.approx(between["pval"], rel=METAFOR_RTOL)


@pytest.mark.slow
def test_bcg_report_meta_regresses_latitude(bcg_report: Path) -> None:
    reg = pd.read_csv(bcg_report / "tables" / "meta_regression.csv")
    assert reg["coefficient"].tolist() == ["intercept (mu)", "ablat"]
    assert (bcg_report / "figures" / "regression_tuberculosis.png").exists()
    assert (bcg_report / "posteriors" / "regression_tuberculosis_ablat.nc").exists()


@pytest.mark.slow
def test_data_alone_keeps_the_bundled_plan(tmp_path: Path, capsys) -> None:
    sheet = tmp_path / "small.csv"
    frame = datasets.load_peer_support_simulated()
    frame[frame["outcome"] == "social_network_support"].to_csv(sheet, index=False)
    argv = ["reproduce", "--data", str(sheet), "--json", "--draws", "100"]
    assert main([*argv, "--out", str(tmp_path / "r")]) == EXIT_OK
    doc = json.loads(capsys.readouterr().out)
    assert doc["plan"].endswith("peer_support.toml") and doc["simulated"] is False
    assert doc["published_reproduced"] == []  # the reproduction check is the bundled data's
    md = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert md.startswith(
        "# Bayesian re-analysis: one-to-one peer support in mental health services"
    )
    assert "(figures/subgroups_social_network_support.png)" in md
    assert "Subgroups by organisational support (RevMan's test)" in md


def test_derived_moderators_count_sheet_columns_only() -> None:
    raw = tomllib.loads(PEER_SUPPORT.read_text(encoding="utf-8"))
    del raw["data"], raw["published"]
    raw["moderators"]["both"] = {"at_least": 2, "of": ["org_support_higher", "peer_add_on"]}
    with pytest.raises(DataError, match=r"'moderators.both.of' names 'org_support_higher', "
                       r"another derived moderator"):  # fmt: skip
        plan_from_dict(raw, source="p.toml")
    raw["moderators"]["both"] = {"at_least": 2, "of": ["org_support_1", "peer_add_on"]}
    plan = plan_from_dict(raw, source="p.toml")  # a category level counts
    assert plan.moderator("both").of == ("org_support_1", "peer_add_on")
    raw["moderators"]["peer_role"] = "binary"
    with pytest.raises(DataError, match=r"'moderators.peer_role' has the name of the category"):
        plan_from_dict(raw, source="p.toml")


def test_a_plan_may_not_rename_a_standard_column(tmp_path: Path) -> None:
    raw = _raw()
    raw["moderators"] = {"yi": "numeric"}
    raw["regressions"] = []
    raw["data"]["sheet"] = str(BCG / "sheet.csv")
    plan = load_plan(_write(tmp_path, raw))
    with pytest.raises(DataError, match=r"declares 'yi', a standard sheet column"):
        read_review(plan)
