"""Tests of bayesmeta.datasets: the bundled tables, their column dictionaries and the loaders."""

from __future__ import annotations

import csv
import doctest
import io
import math
from collections.abc import Callable
from importlib import resources

import numpy as np
import pandas as pd
import pytest

import bayesmeta.datasets as ds
from bayesmeta.errors import DataError

NAMES = [
    "bcg",
    "normand1999",
    "eight_schools",
    "white2020_published",
    "white2020_studies",
    "white2020_outcomes",
    "peer_support_simulated",
]

# The documented columns and dtypes, written out independently of the JSON files.
# "str" is pandas' string dtype; ("category", levels, ordered) a categorical.
EXPECTED: dict[str, dict[str, object]] = {
    "bcg": {
        "trial": "int64",
        "author": "str",
        "year": "int64",
        "tpos": "int64",
        "tneg": "int64",
        "cpos": "int64",
        "cneg": "int64",
        "ablat": "int64",
        "alloc": ("category", ["random", "alternate", "systematic"], False),
    },
    "normand1999": {
        "study": "int64",
        "source": "str",
        "n1i": "int64",
        "m1i": "float64",
        "sd1i": "float64",
        "n2i": "int64",
        "m2i": "float64",
        "sd2i": "float64",
    },
    "eight_schools": {"school": "str", "y": "float64", "sigma": "float64"},
    "white2020_published": {
        "outcome": "str",
        "subgroup_variable": ("category", ["org_support_level"], False),
        "subgroup": ("category", ["all", "lower", "higher"], False),
        "k": "Int64",
        "n_participants": "Int64",
        "measure": ("category", ["SMD"], False),
        "estimate": "float64",
        "ci_lb": "float64",
        "ci_ub": "float64",
        "i2_percent": "float64",
        "follow_up_months_min": "Int64",
        "follow_up_months_max": "Int64",
        "note": "str",
    },
    "white2020_studies": {
        "ref": "int64",
        "first_author": "str",
        "year": "int64",
        "country": "str",
        "design": "str",
        "n_intervention": "int64",
        "n_control": "int64",
        "peer_role": ("category", ["substitute", "add-on"], False),
        "org_support_level": ("category", ["lower", "higher"], True),
        "longest_follow_up_months": "int64",
        "outcomes_measured": "str",
    },
    "white2020_outcomes": {
        "outcome": "str",
        "label": "str",
        "type": ("category", ["continuous", "dichotomous"], False),
        "measure": ("category", ["SMD"], False),
        "direction": ("category", ["higher", "lower"], False),
        "note": "str",
    },
    "peer_support_simulated": {
        "study": "str",
        "outcome": "str",
        "outcome_type": ("category", ["continuous", "dichotomous"], False),
        "measure": ("category", ["SMD", "OR"], False),
        "direction": ("category", ["higher", "lower"], False),
        "m1i": "float64",
        "sd1i": "float64",
        "n1i": "int64",
        "m2i": "float64",
        "sd2i": "float64",
        "n2i": "int64",
        "ai": "Int64",
        "ci": "Int64",
        "yi": "float64",
        "sei": "float64",
        "follow_up_months": "int64",
        "org_support_1": "int64",
        "org_support_2": "int64",
        "org_support_3": "int64",
        "org_support_level": ("category", ["higher", "lower"], False),
        "peer_role": ("category", ["substitute", "add-on"], False),
    },
}

DIRECTIONS = {
    "quality_of_life": "higher",
    "social_network_support": "higher",
    "empowerment": "higher",
    "recovery": "higher",
    "satisfaction_with_services": "higher",
    "working_alliance_client": "higher",
    "working_alliance_staff": "higher",
    "general_psychiatric_symptoms": "lower",
    "depression_anxiety": "lower",
    "days_in_hospital": "lower",
    "hospitalised": "lower",
}


def _csv_header(name: str) -> list[str]:
    text = resources.files("bayesmeta.datasets").joinpath(f"{name}.csv").read_text("utf-8")
    return next(csv.reader(io.StringIO(text)))


# --- the registry -------------------------------------------------------------------------------


def test_list_datasets() -> None:
    assert ds.list_datasets() == NAMES


@pytest.mark.parametrize("call", [ds.load, ds.describe])
def test_unknown_name_is_a_data_error_naming_the_choices(call: Callable[[str], object]) -> None:
    with pytest.raises(DataError, match=r"unknown dataset 'bgc'; available: bcg, normand1999"):
        call("bgc")


# --- every dataset: columns, dtypes, dictionary -------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_columns_and_dtypes_are_as_documented(name: str) -> None:
    df = ds.load(name)
    assert list(df.columns) == list(EXPECTED[name])
    for col, want in EXPECTED[name].items():
        got = df[col].dtype
        if isinstance(want, tuple):
            _, levels, ordered = want
            assert isinstance(got, pd.CategoricalDtype), col
            assert list(got.categories) == levels, col
            assert got.ordered is ordered, col
        elif want == "str":
            assert pd.api.types.is_string_dtype(got), col
            assert all(isinstance(v, str) for v in df[col].dropna()), col
        else:
            assert got == want, (col, got)


@pytest.mark.parametrize("name", NAMES)
def test_every_csv_column_is_in_the_dictionary_and_vice_versa(name: str) -> None:
    info = ds.describe(name)
    assert _csv_header(name) == list(info["columns"])
    for col, spec in info["columns"].items():
        assert spec["description"].strip(), col
        assert spec["type"] in {"string", "integer", "number", "category"}, col
        assert (spec["type"] == "category") == ("values" in spec), col


@pytest.mark.parametrize("name", NAMES)
def test_dictionary_has_the_documented_keys(name: str) -> None:
    info = ds.describe(name)
    for key in ("name", "title", "description", "source", "license", "columns", "notes"):
        assert key in info, key
    assert info["name"] == name
    assert isinstance(info["notes"], list) and info["notes"]
    for key in ("title", "description", "source", "license"):
        assert isinstance(info[key], str) and info[key].strip(), key


@pytest.mark.parametrize("name", NAMES)
def test_missing_cells_only_where_documented(name: str) -> None:
    df = ds.load(name)
    for col, spec in ds.describe(name)["columns"].items():
        if not spec.get("missing", False):
            assert df[col].notna().all(), col


@pytest.mark.parametrize("name", NAMES)
def test_source_attr_is_the_citation(name: str) -> None:
    df = ds.load(name)
    assert df.attrs["source"] == ds.describe(name)["source"]
    assert df.attrs["name"] == name


def test_describe_returns_a_fresh_copy() -> None:
    ds.describe("bcg")["columns"].clear()
    assert "tpos" in ds.describe("bcg")["columns"]


def test_package_data_files_are_found_by_importlib_resources() -> None:
    root = resources.files("bayesmeta.datasets")
    files = {p.name for p in root.iterdir()}
    for name in NAMES:
        assert f"{name}.csv" in files
        assert f"{name}.json" in files
    assert "white2020_review.json" in files
    assert "export_metadat.R" in files


def test_doctests_pass() -> None:
    result = doctest.testmod(ds, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# --- spot values --------------------------------------------------------------------------------


def test_bcg_values() -> None:
    bcg = ds.load_bcg()
    assert len(bcg) == 13
    assert bcg["trial"].tolist() == list(range(1, 14))
    first = bcg.iloc[0]
    assert (first["author"], first["year"], first["tpos"], first["tneg"]) == (
        "Aronson",
        1948,
        4,
        119,
    )
    assert (first["cpos"], first["cneg"], first["ablat"], first["alloc"]) == (11, 128, 44, "random")
    assert bcg["tpos"].sum() == 1065
    assert bcg["alloc"].value_counts().to_dict() == {"random": 7, "systematic": 4, "alternate": 2}


def test_normand1999_values() -> None:
    df = ds.load_normand1999()
    assert len(df) == 9
    assert df.loc[0, "source"] == "Edinburgh"
    assert df.loc[0, ["n1i", "m1i", "sd1i", "n2i", "m2i", "sd2i"]].tolist() == [
        155,
        55,
        47,
        156,
        75,
        64,
    ]
    assert df["n1i"].sum() == 548
    assert df["n2i"].sum() == 610


def test_eight_schools_values() -> None:
    df = ds.load_eight_schools()
    assert df["school"].tolist() == list("ABCDEFGH")
    assert df["y"].tolist() == [28.39, 7.94, -2.75, 6.82, -0.64, 0.63, 18.01, 12.16]
    assert df["sigma"].tolist() == [14.9, 10.2, 16.3, 11.0, 9.4, 11.4, 10.4, 17.6]
    assert math.isclose(df["y"].sum(), 70.56, abs_tol=1e-9)
    assert math.isclose(df["sigma"].sum(), 101.2, abs_tol=1e-9)


def test_white2020_social_network_rows_exactly() -> None:
    pub = ds.load("white2020_published")
    sns = pub[pub["outcome"] == "social_network_support"].set_index("subgroup", drop=False)
    assert sns["subgroup"].tolist() == ["all", "lower", "higher"]
    assert sns.loc["all", ["estimate", "ci_lb", "ci_ub", "i2_percent"]].tolist() == [
        0.09,
        -0.25,
        0.42,
        67.0,
    ]
    assert sns.loc["all", "k"] == 4
    assert pd.isna(sns.loc["all", "subgroup_variable"])
    assert sns.loc["lower", ["estimate", "ci_lb", "ci_ub"]].tolist() == [0.50, 0.14, 0.87]
    assert sns.loc["higher", ["estimate", "ci_lb", "ci_ub"]].tolist() == [-0.04, -0.37, 0.28]
    assert sns.loc["lower", "k"] == 1
    assert sns.loc["higher", "k"] == 3
    assert (sns.loc[["lower", "higher"], "subgroup_variable"] == "org_support_level").all()
    assert (sns["measure"] == "SMD").all()


def test_white2020_published_keeps_every_row_and_note() -> None:
    pub = ds.load("white2020_published")
    assert pub["outcome"].tolist() == [
        "social_network_support",
        "social_network_support",
        "social_network_support",
        "unnamed_A",
        "empowerment",
        "hospitalised",
        "unnamed_B",
        "satisfaction_with_services",
        "unnamed_C",
        "unnamed_D",
    ]
    assert pub["note"].notna().all()
    emp = pub[pub["outcome"] == "empowerment"].iloc[0]
    assert (emp["k"], emp["n_participants"]) == (4, 519)
    assert (emp["follow_up_months_min"], emp["follow_up_months_max"]) == (6, 12)
    b = pub[pub["outcome"] == "unnamed_B"].iloc[0]
    assert (b["follow_up_months_min"], b["follow_up_months_max"]) == (9, 24)
    hosp = pub[pub["outcome"] == "hospitalised"].iloc[0]
    assert pd.isna(hosp["measure"]) and "not available" in hosp["note"]
    assert pub["i2_percent"].dropna().tolist() == [67.0, 21.0, 38.0, 53.0]
    # named outcomes are among the review's eleven
    named = set(pub["outcome"]) - {f"unnamed_{c}" for c in "ABCD"}
    assert named <= set(DIRECTIONS)


def test_white2020_estimates_lie_in_their_intervals() -> None:
    pub = ds.load("white2020_published").dropna(subset=["estimate"])
    assert ((pub["ci_lb"] <= pub["estimate"]) & (pub["estimate"] <= pub["ci_ub"])).all()


def test_white2020_outcomes() -> None:
    out = ds.load("white2020_outcomes")
    assert len(out) == 11
    assert out["outcome"].is_unique
    assert dict(zip(out["outcome"], out["direction"].astype(str), strict=True)) == DIRECTIONS
    assert out["outcome"].tolist() == list(DIRECTIONS)
    typed = dict(zip(out["outcome"], out["type"].astype(str), strict=True))
    assert typed.pop("hospitalised") == "dichotomous"
    assert set(typed.values()) == {"continuous"}
    cont = out[out["type"] == "continuous"]
    assert (cont["measure"] == "SMD").all()
    hosp = out[out["outcome"] == "hospitalised"].iloc[0]
    assert pd.isna(hosp["measure"])
    assert "not available" in hosp["note"]
    assert out["label"].str.len().gt(0).all()


def test_white2020_studies() -> None:
    st = ds.load("white2020_studies")
    assert len(st) == 2
    assert st["first_author"].tolist() == ["Solomon", "Klein"]
    assert st["year"].tolist() == [1995, 1998]
    assert st["ref"].tolist() == [23, 28]
    assert st["n_intervention"].tolist() == [48, 10]
    assert st["n_control"].tolist() == [48, 51]
    assert st["peer_role"].astype(str).tolist() == ["substitute", "add-on"]
    assert st["org_support_level"].astype(str).tolist() == ["higher", "higher"]
    assert (st["org_support_level"] > "lower").all()  # ordered: lower < higher
    assert st["longest_follow_up_months"].tolist() == [24, 6]


def test_load_white2020_bundles_tables_and_review_metadata() -> None:
    w = ds.load_white2020()
    pd.testing.assert_frame_equal(w.published, ds.load("white2020_published"))
    pd.testing.assert_frame_equal(w.studies, ds.load("white2020_studies"))
    pd.testing.assert_frame_equal(w.outcomes, ds.load("white2020_outcomes"))
    meta = w.metadata
    assert meta == ds.describe("white2020_published")["review"]
    assert meta["doi"] == "10.1186/s12888-020-02923-3"
    assert (meta["n_trials"], meta["n_participants"], meta["n_trials_meta_analysis"]) == (
        19,
        3329,
        14,
    )
    assert meta["search"]["to"] == "2019-06-13"
    assert "DerSimonian-Laird" in meta["method"] and "RevMan 5" in meta["method"]
    assert "at least 2 of the 3" in meta["org_support_rule"]
    caveats = " ".join(meta["caveats"])
    assert "not available" in caveats and "S/A" in caveats and "legend" in caveats
    with pytest.raises(AttributeError):
        w.published = w.studies  # type: ignore[misc]


def test_white2020_tables_share_the_review_metadata() -> None:
    reviews = [ds.describe(n)["review"] for n in NAMES if n.startswith("white2020_")]
    assert len(reviews) == 3 and all(r == reviews[0] for r in reviews)
    assert "review" not in ds.describe("bcg")


def test_numeric_columns_are_finite_where_present() -> None:
    for name in NAMES:
        df = ds.load(name)
        for col in df.select_dtypes("number"):
            values = df[col].dropna().to_numpy(dtype=float)
            assert np.isfinite(values).all(), (name, col)


# --- the checks that guard the bundled files ----------------------------------------------------


def test_undocumented_category_level_is_a_data_error() -> None:
    col = pd.Series(["random", "cluster"], name="alloc", dtype="str")
    spec = {"type": "category", "values": {"random": "", "systematic": ""}}
    with pytest.raises(DataError, match=r"\['cluster'\] are not among") as err:
        ds._finish_column(col, spec, "bcg.csv")
    assert err.value.rows == [1] and err.value.column == "alloc"


def test_missing_cell_in_complete_column_is_a_data_error() -> None:
    col = pd.Series([1.0, np.nan], name="y")
    with pytest.raises(DataError, match="documented as complete") as err:
        ds._finish_column(col, {"type": "number"}, "eight_schools.csv")
    assert err.value.rows == [1]
