"""Spreadsheet safety of the CSV tables: text cells a spreadsheet would run as a formula (leading
``=``, ``+``, ``-``, ``@``, tab, carriage return) get a leading ``'``; numbers are untouched."""

from __future__ import annotations

import inspect

import pandas as pd
import pytest

from bayesmeta import report
from bayesmeta._output import spreadsheet_safe, write_csv


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("-0.04 (-0.37, 0.28)", "'-0.04 (-0.37, 0.28)"),
        ("Smith 2019", "Smith 2019"),
        ("-0.5", "-0.5"),  # a number written as text stays a number
        ("", ""),
    ],
)
def test_text_cells(cell, written):
    assert spreadsheet_safe(cell) == written


def test_numbers_and_missing_values_untouched(tmp_path):
    frame = pd.DataFrame(
        {
            "study": ["=1+1", "@me", "Ok"],
            "outcome": ["-dangerous", "+x", "fine"],
            "yi": [-0.25, 0.5, float("nan")],
            "k": [-3, 4, 5],
        }
    )
    path = tmp_path / "t.csv"
    write_csv(frame, path)
    back = pd.read_csv(path)
    assert back["study"].tolist() == ["'=1+1", "'@me", "Ok"]
    assert back["outcome"].tolist() == ["'-dangerous", "'+x", "fine"]
    pd.testing.assert_series_equal(back["yi"], frame["yi"])
    pd.testing.assert_series_equal(back["k"], frame["k"])
    assert frame["study"].tolist() == ["=1+1", "@me", "Ok"]  # the caller's frame unchanged
    assert path.read_text().splitlines()[1] == "'=1+1,'-dangerous,-0.25,-3"


def test_every_report_table_goes_through_the_safe_writer():
    src = inspect.getsource(report.write_report)
    assert ".to_csv(" not in src and src.count("write_csv(") >= 7
