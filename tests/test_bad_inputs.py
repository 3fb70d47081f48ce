"""A corpus of malformed inputs: each gives a bayesmeta exception or exit code 2, never a traceback.

``tests/data/bad/table/`` holds long tables (``bayesmeta fit``, :meth:`EffectTable.from_csv`),
``tests/data/bad/sheet/`` extraction sheets (``bayesmeta reproduce --data``,
:func:`read_sheet`). For every file the error must name the file, the line (the header is line
1; blank lines and quoted line breaks count) and the column where there is one. Python inputs
(DataFrames and arrays handed to the API) are checked the same way at the end.
"""

from __future__ import annotations

import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bayesmeta import EffectTable, escalc, rma
from bayesmeta.cli import main
from bayesmeta.errors import BayesMetaError, DataError, ModelSpecError, NotEstimableWarning
from bayesmeta.sheet import read_sheet

BAD = Path(__file__).parent / "data" / "bad"

# name -> (column named, line named, fragment of the message, extra `bayesmeta fit` arguments)
TABLE_CASES: dict[str, tuple[str | None, int | None, str, list[str]]] = {
    "empty": (None, None, "empty", []),
    "blank_lines_only": (None, None, "empty", []),
    "bom_only": (None, None, "empty", []),
    "binary": (None, None, "binary", []),
    "latin1": (None, 3, "not UTF-8", []),
    "semicolon": (None, 1, "delimiter", []),
    "tab": (None, 1, "delimiter", []),
    "missing_header": ("study", None, "missing required column", []),
    "header_only": (None, None, "no data rows", []),
    "duplicated_columns": ("yi", 1, "more than once", []),
    "unquoted_comma": (None, 3, "unquoted comma", []),
    "unterminated_quote": (None, 3, "quote", []),
    "text_in_yi": ("yi", 4, "non-numeric", []),
    "decimal_comma": ("yi", 3, "decimal mark", []),
    "inf_yi": ("yi", 3, "infinite", []),
    "nan_vi": ("vi", 3, "missing", []),
    "blank_vi": ("vi", 3, "missing", []),
    "all_blank_vi": ("vi", 2, "missing", []),
    "negative_vi": ("vi", 3, "> 0", []),
    "zero_sei": ("sei", 3, "> 0", []),
    "duplicate_rows": ("study", 4, "duplicate", []),
    "unknown_direction": ("direction", 3, "'higher' or 'lower'", []),
    "mixed_direction": ("direction", 3, "both directions", []),
    "empty_study": ("study", 3, "empty", []),
    "blank_line_before_error": ("vi", 5, "> 0", []),
    "quoted_newline_before_error": ("vi", 4, "> 0", []),
    "huge_yi": ("yi", 3, "rescale", []),
    "tiny_vi": ("vi", 3, "rescale", []),
    "negative_sd": ("sd1i", 3, "standard deviation", ["--measure", "SMD"]),
    "events_exceed_n": ("ai", 3, "exceed", ["--measure", "OR"]),
    "no_estimable_rows": (
        None,
        None,
        "no row has an estimable",
        ["--measure", "OR", "--convention", "revman"],
    ),
    "text_moderator": ("dose", None, "3 levels", ["--mods", "dose", "--model", "regression"]),
}

SHEET_CASES: dict[str, tuple[str | None, int | None, str]] = {
    "empty": (None, None, "empty"),
    "binary": (None, None, "binary"),
    "latin1": (None, 3, "not UTF-8"),
    "semicolon": (None, 1, "delimiter"),
    "missing_header": ("study", 1, "missing required column"),
    "missing_column": ("direction", 1, "missing required column"),
    "header_only": (None, None, "no data rows"),
    "duplicated_columns": ("sei", 1, "more than once"),
    "unquoted_comma": (None, 3, "unquoted comma"),
    "unterminated_quote": (None, 3, "quote"),
    "text_in_numeric": ("sd2i", 3, "text"),
    "inf_in_numeric": ("m1i", 3, "non-finite"),
    "negative_sd": ("sd1i", 3, "> 0"),
    "events_exceed_n": ("ai", 3, "exceeds"),
    "duplicate_trial": ("study", 4, "repeats"),
    "unknown_direction": ("direction", 3, "unknown value"),
    "blank_line_before_error": ("sd1i", 5, "> 0"),
    "quoted_newline_before_error": ("sd1i", 4, "> 0"),
}


def _table_kwargs(extra: list[str]) -> dict[str, Any]:
    """The Python-API equivalent of the extra CLI arguments."""
    opts = dict(zip(extra[::2], extra[1::2], strict=True))
    return {k.lstrip("-"): v for k, v in opts.items()}


def _load_table(path: Path, extra: list[str]) -> EffectTable:
    from bayesmeta.table import read_csv

    kw = _table_kwargs(extra)
    frame = read_csv(path)
    if "measure" in kw:
        return EffectTable.from_arms(
            frame, kw["measure"], convention=kw.get("convention", "metafor"), source=str(path)
        )
    mods = [kw["mods"]] if "mods" in kw else None
    return EffectTable.from_frame(frame, source=str(path), moderators=mods)


def _check_error(err: BayesMetaError, path: Path, column: str | None, line: int | None) -> None:
    text = str(err)
    assert str(path) in text, text
    if column is not None:
        assert getattr(err, "column", None) == column, (err.column, text)  # type: ignore[attr-defined]
        assert repr(column) in text or f"{column}:" in text or column in text, text
    if line is not None:
        assert names_line(text, line), text


def names_line(text: str, line: int) -> bool:
    """Whether the message names ``line`` (alone or in a list: "lines 2 (study 'a'), 4 ...")."""
    return re.search(rf"\blines? (?:[^;.]*?[ ,])?{line}\b", text) is not None


def test_corpus_is_complete() -> None:
    """Every file in the corpus has an expectation, and every expectation a file."""
    assert {p.stem for p in (BAD / "table").glob("*.csv")} == set(TABLE_CASES)
    assert {p.stem for p in (BAD / "sheet").glob("*.csv")} == set(SHEET_CASES)


@pytest.mark.parametrize("name", sorted(TABLE_CASES))
def test_bad_table_raises_data_error(name: str) -> None:
    column, line, fragment, extra = TABLE_CASES[name]
    path = BAD / "table" / f"{name}.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotEstimableWarning)
        with pytest.raises(DataError, match=None) as info:
            _load_table(path, extra)
    assert fragment in str(info.value), str(info.value)
    _check_error(info.value, path, column, line)


@pytest.mark.parametrize("name", sorted(TABLE_CASES))
def test_bad_table_cli_exits_2(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    column, line, fragment, extra = TABLE_CASES[name]
    path = BAD / "table" / f"{name}.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotEstimableWarning)
        code = main(["fit", str(path), "--quiet", *extra])
    out = capsys.readouterr()
    assert code == 2, out.err
    assert "Traceback" not in out.err and out.out == ""
    assert out.err.startswith("bayesmeta: error: ") and fragment in out.err
    assert str(path) in out.err
    if line is not None:
        assert names_line(out.err, line), out.err
    if column is not None:
        assert column in out.err


@pytest.mark.parametrize("name", sorted(SHEET_CASES))
def test_bad_sheet_raises_data_error(name: str) -> None:
    column, line, fragment = SHEET_CASES[name]
    path = BAD / "sheet" / f"{name}.csv"
    with pytest.raises(DataError) as info:
        read_sheet(path)
    assert fragment in str(info.value), str(info.value)
    _check_error(info.value, path, column, line)


@pytest.mark.parametrize("name", sorted(SHEET_CASES))
def test_bad_sheet_cli_exits_2(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, line, fragment = SHEET_CASES[name]
    path = BAD / "sheet" / f"{name}.csv"
    out_dir = tmp_path / "report"
    code = main(["reproduce", "--data", str(path), "--quiet", "--out", str(out_dir)])
    out = capsys.readouterr()
    assert code == 2, out.err
    assert "Traceback" not in out.err and fragment in out.err and str(path) in out.err
    if line is not None:
        assert names_line(out.err, line), out.err
    assert not out_dir.exists(), "no partial report for bad input"


@pytest.mark.parametrize("command", ["fit", "reproduce"])
@pytest.mark.parametrize("kind", ["folder", "missing"])
def test_path_that_is_a_folder_or_missing(
    command: str, kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "data.csv"
    if kind == "folder":
        path.mkdir()
    argv = ["fit", str(path)] if command == "fit" else ["reproduce", "--data", str(path)]
    assert main([*argv, "--quiet", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err
    assert ("folder" in err) if kind == "folder" else ("does not exist" in err)
    with pytest.raises(DataError, match="folder" if kind == "folder" else "does not exist"):
        EffectTable.from_csv(path)
    with pytest.raises(DataError, match="folder" if kind == "folder" else "does not exist"):
        read_sheet(path)


@pytest.mark.parametrize(
    "argv",
    [
        ["fit", str(BAD / "table" / "binary.csv")],
        ["fit", str(BAD / "table" / "unquoted_comma.csv")],
        ["reproduce", "--data", str(BAD / "sheet" / "latin1.csv")],
        ["fit", str(BAD / "table" / "no-such-file.csv")],
    ],
)
def test_console_script_prints_no_traceback(argv: list[str], tmp_path: Path) -> None:
    """The installed command, in its own process: exit 2, one line of error, no traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "bayesmeta.cli", *argv, "--quiet", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith("bayesmeta: error: ")


# ------------------------------------------------------------------------------------------------
# Python inputs


FRAME_CASES: list[tuple[str, pd.DataFrame, dict[str, Any], str | None, str]] = [
    (
        "text in yi",
        pd.DataFrame({"study": ["a", "b"], "yi": [0.1, "x"], "vi": [0.01, 0.02]}),
        {},
        "yi",
        "row 2",
    ),
    (
        "negative vi",
        pd.DataFrame({"study": ["a", "b"], "yi": [0.1, 0.2], "vi": [0.01, -1.0]}),
        {},
        "vi",
        "row 2",
    ),
    (
        "inf vi",
        pd.DataFrame({"study": ["a", "b"], "yi": [0.1, 0.2], "vi": [np.inf, 0.02]}),
        {},
        "vi",
        "row 1",
    ),
    (
        "duplicate rows",
        pd.DataFrame({"study": ["a", "a"], "yi": [0.1, 0.2], "vi": [0.01, 0.02]}),
        {},
        "study",
        "rows 1",
    ),
    (
        "duplicated columns",
        pd.DataFrame([["a", 0.1, 0.2, 0.01]], columns=["study", "yi", "yi", "vi"]),
        {},
        "yi",
        "duplicated",
    ),
    (
        "unknown direction",
        pd.DataFrame({"study": ["a", "b"], "yi": [0.1, 0.2], "vi": [0.01, 0.02]}),
        {"direction": "up"},
        "direction",
        "'higher' or 'lower'",
    ),
    (
        "direction for another outcome",
        pd.DataFrame({"study": ["a", "b"], "yi": [0.1, 0.2], "vi": [0.01, 0.02]}),
        {"direction": {"pain": "lower"}},
        "direction",
        "not given",
    ),
    (
        "no rows",
        pd.DataFrame({"study": [], "yi": [], "vi": []}),
        {},
        None,
        "no rows",
    ),
    (
        "all-blank vi without sei",
        pd.DataFrame({"study": ["a", "b"], "yi": [0.1, 0.2], "vi": [None, None]}),
        {},
        "vi",
        "missing",
    ),
]


@pytest.mark.parametrize(
    ("frame", "kwargs", "column", "fragment"),
    [c[1:] for c in FRAME_CASES],
    ids=[c[0] for c in FRAME_CASES],
)
def test_bad_frames(
    frame: pd.DataFrame, kwargs: dict[str, Any], column: str | None, fragment: str
) -> None:
    with pytest.raises(DataError, match=fragment) as info:
        EffectTable(frame, **kwargs)
    assert info.value.column == column


ARM_CASES: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("negative SD", "SMD", {"sd1i": [1.0, -2.0]}, "sd1i", "row 2"),
    ("events > n", "OR", {"ai": [3, 60]}, "ai", "row 2"),
    ("NaN count", "OR", {"ci": [np.nan, 2]}, "ci", "row 1"),
    ("text count", "RR", {"ai": ["3", "three"]}, "ai", "row 2"),
    ("non-integer events", "OR", {"ai": [3.5, 2]}, "ai", "row 1"),
    ("arm of size 1", "MD", {"n1i": [1, 20]}, "n1i", "row 1"),
]
_CONT = {"m1i": [1.0, 2.0], "sd1i": [1.0, 1.0], "n1i": [20, 20]}
_CONT |= {"m2i": [0.5, 1.0], "sd2i": [1.0, 1.0], "n2i": [20, 20]}
_BIN = {"ai": [3, 4], "n1i": [50, 50], "ci": [5, 2], "n2i": [50, 50]}


@pytest.mark.parametrize(
    ("measure", "override", "column", "fragment"),
    [c[1:] for c in ARM_CASES],
    ids=[c[0] for c in ARM_CASES],
)
def test_bad_arm_arrays(measure: str, override: dict[str, Any], column: str, fragment: str) -> None:
    data = dict(_CONT if measure in ("SMD", "MD") else _BIN) | override
    with pytest.raises(DataError, match=fragment) as info:
        escalc(measure, **data)
    assert info.value.column == column


@pytest.mark.parametrize(
    ("args", "kwargs", "exc"),
    [
        (([0.1, np.nan], [0.01, 0.02]), {}, DataError),
        (([0.1, 0.2], [0.01, 0.0]), {}, DataError),
        (([0.1, 0.2], [0.01]), {}, DataError),
        (([], []), {}, DataError),
        ((["a", "b"], [0.01, 0.02]), {}, DataError),
        (([0.1, 0.2], [0.01, 0.02]), {"method": "XX"}, ModelSpecError),
        (([0.1, 0.2], [0.01, 0.02]), {"test": "t"}, ModelSpecError),
        (([0.1, 0.2], [0.01, 0.02]), {"level": 95}, ModelSpecError),
        (([0.1, 0.2, 0.3], [0.01, 0.02, 0.03]), {"mods": [1, 1, 1]}, ModelSpecError),
    ],
)
def test_bad_rma_arguments(args: tuple[Any, ...], kwargs: dict[str, Any], exc: type) -> None:
    with pytest.raises(exc):
        rma(*args, **kwargs)


def test_too_many_estimates_for_one_rma_is_a_clear_fit_error() -> None:
    """rma's k x k matrices: beyond 5000 estimates a FitError says how to split, rather than a
    MemoryError (or minutes of swapping)."""
    from bayesmeta.errors import FitError

    k = 5001
    with pytest.raises(FitError, match="at most 5000"):
        rma(np.zeros(k), np.ones(k), method="DL")
