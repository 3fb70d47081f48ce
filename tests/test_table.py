"""EffectTable: construction, validation messages, accessors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayesmeta import DataError, EffectTable, ModelSpecError, datasets, rma


def _df(**over):
    d = {"study": ["A", "B", "C"], "yi": [0.1, 0.3, 0.2], "vi": [0.01, 0.02, 0.015]}
    d.update(over)
    return pd.DataFrame(d)


def test_minimal_table_defaults():
    tab = EffectTable(_df())
    assert tab.outcomes == ["overall"]
    assert tab.direction() == "higher"
    np.testing.assert_allclose(tab.sei, np.sqrt([0.01, 0.02, 0.015]))


def test_sei_only_gives_vi():
    tab = EffectTable(pd.DataFrame({"study": ["A", "B"], "yi": [0.1, 0.2], "sei": [0.1, 0.2]}))
    np.testing.assert_allclose(tab.vi, [0.01, 0.04])


@pytest.mark.parametrize(
    ("frame", "pattern"),
    [
        (_df().drop(columns="yi"), r"missing required column\(s\) \['yi'\]"),
        (_df().drop(columns="vi"), "vi or sei"),
        (_df(yi=[0.1, "abc", 0.2]), r"'yi' has non-numeric values at row 2 \(study 'B'\)"),
        (_df(yi=[0.1, np.nan, 0.2]), r"'yi' has missing or infinite values at row 2"),
        (_df(vi=[0.01, -0.02, 0.015]), r"'vi' must be > 0 at row 2"),
        (
            _df(study=["A", "A", "C"]),
            r"duplicate \(study, outcome\) rows at rows 1 \(study 'A'\), 2",
        ),
        (_df(direction=["up", "up", "up"]), "direction must be 'higher' or 'lower'"),
        (_df(study=["A", None, "C"]), "'study' is empty at row 2"),
    ],
)
def test_validation_names_row_and_column(frame, pattern):
    with pytest.raises(DataError, match=pattern):
        EffectTable(frame)


def test_csv_errors_name_file_and_line(tmp_path):
    p = tmp_path / "sheet.csv"
    p.write_text("study,yi,vi\nA,0.1,0.01\nB,0.2,-1\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"sheet.csv: column 'vi' must be > 0 at line 3"):
        EffectTable.from_csv(p)


def test_csv_bom_and_crlf(tmp_path):
    p = tmp_path / "s.csv"
    p.write_bytes('\ufeffstudy,yi,vi\r\nÄ,0.1,0.01\r\n"B, jr",0.2,0.02\r\n'.encode())
    tab = EffectTable.from_csv(p)
    assert tab.studies == ["Ä", "B, jr"]


@pytest.mark.parametrize(
    ("content", "pattern"),
    [(b"", "empty"), (b"study;yi;vi\nA;1;1\n", "delimiter"), (b"study,yi,vi\n", "no data rows")],
)
def test_csv_malformed(tmp_path, content, pattern):
    p = tmp_path / "bad.csv"
    p.write_bytes(content)
    with pytest.raises(DataError, match=pattern):
        EffectTable.from_csv(p)


def test_csv_missing_and_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        EffectTable.from_csv(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="folder"):
        EffectTable.from_csv(tmp_path)


def test_column_mapping_and_moderators():
    df = pd.DataFrame(
        {"trial": list("ABCD"), "g": [0.1, 0.4, 0.2, 0.5], "se": [0.1] * 4, "lvl": list("hlhl")}
    )
    tab = EffectTable.from_frame(
        df, columns={"study": "trial", "yi": "g", "sei": "se"}, moderators=["lvl"]
    )
    assert tab.data["lvl"].tolist() == [0.0, 1.0, 0.0, 1.0]  # 'h' < 'l': l coded 1
    res = rma(tab, mods=["lvl"], method="EE")
    assert res.coef_names == ("intrcpt", "lvl")
    with pytest.raises(ModelSpecError, match="not columns of the table"):
        rma(tab, mods=["nope"])


def test_outcomes_split_and_multi_outcome_guard():
    df = pd.DataFrame(
        {
            "study": ["A", "B", "A", "B"],
            "outcome": ["x", "x", "y", "y"],
            "yi": [0.1, 0.2, 0.3, 0.4],
            "vi": [0.01] * 4,
        }
    )
    tab = EffectTable(df, direction={"x": "higher", "y": "lower"})
    assert tab.outcomes == ["x", "y"]
    assert tab.for_outcome("y").direction() == "lower"
    with pytest.raises(DataError, match="holds 2 outcomes"):
        rma(tab)
    with pytest.raises(ModelSpecError, match="unknown outcome"):
        tab.for_outcome("z")


def test_from_arms_matches_escalc_and_rma():
    bcg = datasets.load_bcg()
    tab = EffectTable.from_arms(
        bcg,
        "RR",
        columns={"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"},
    )
    assert tab.k == 13 and "tpos" not in tab.data.columns and "ai" in tab.data.columns
    assert rma(tab, method="DL").tau2 == pytest.approx(0.308760262862376, rel=1e-9)


def test_sample_sizes_from_ni_arms_or_cells():
    df = pd.DataFrame(
        {
            "study": ["a", "b", "c", "d"],
            "yi": [0.1, 0.2, 0.3, 0.4],
            "vi": [0.1, 0.1, 0.1, 0.1],
            "ni": [50, None, None, None],
            "n1i": [None, 10, None, None],
            "n2i": [None, 12, None, None],
            "ai": [None, None, 0, None],
            "bi": [None, None, 20, None],
            "ci": [None, None, 3, None],
            "di": [None, None, 17, None],
        }
    )
    n = EffectTable(df, measure="OR").sample_sizes()
    np.testing.assert_array_equal(n[:3], [50, 22, 40])
    assert np.isnan(n[3])


def test_unit_information_sd_matches_r_bayesmeta_definition():
    # uisd(n, sigma) = sqrt(sum(n) / sum(sigma^-2)) (R bayesmeta 3.4, man/uisd.Rd)
    from bayesmeta.table import unit_information_sd

    sei = np.array([0.3, 0.25, 0.5])
    n = np.array([40, 60, 15])
    assert unit_information_sd(sei, n) == pytest.approx(np.sqrt(115 / np.sum(sei**-2.0)), rel=1e-15)
    with pytest.raises(ModelSpecError, match="sample size"):
        unit_information_sd(sei, np.array([40, np.nan, 15]))
