"""Where output may go: a new path, an empty folder or an unedited previous bayesmeta output.
A regular file, a folder with other files or an edited report is refused (exit 2) before any
work starts; --force replaces an edited report but never deletes files it did not write."""

from __future__ import annotations

import pandas as pd
import pytest

from bayesmeta import EffectTable, RandomEffects
from bayesmeta._output import MANIFEST, check_target, output_folder
from bayesmeta.cli import EXIT_BAD_OUTPUT, main
from bayesmeta.errors import OutputError
from tests.output_support import leftovers, snapshot


def _report(path, text="v1"):
    with output_folder(path, force=True) as tmp:
        (tmp / "index.html").write_text(text)
        (tmp / "tables").mkdir()
        (tmp / "tables" / "t.csv").write_text("a,b\n1,2\n")
    return path


def test_issue_session_folder_with_a_thesis_is_left_alone(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mydir").mkdir()
    (tmp_path / "mydir" / "thesis.docx").write_text("keep me\n")
    assert main(["reproduce", "--out", "mydir"]) == EXIT_BAD_OUTPUT
    err = capsys.readouterr().err
    assert "mydir" in err and "thesis.docx" in err and "Traceback" not in err
    assert [p.name for p in (tmp_path / "mydir").iterdir()] == ["thesis.docx"]
    assert (tmp_path / "mydir" / "thesis.docx").read_text() == "keep me\n"


def test_issue_session_a_notes_file_is_left_alone(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mynotes.txt").write_text("notes\n")
    assert main(["reproduce", "--out", "mynotes.txt"]) == EXIT_BAD_OUTPUT
    err = capsys.readouterr().err
    assert "mynotes.txt" in err and "is a file" in err
    assert (tmp_path / "mynotes.txt").read_text() == "notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mynotes.txt"]


def test_force_never_takes_a_folder_that_is_not_a_report(tmp_path, capsys):
    (tmp_path / "mydir").mkdir()
    (tmp_path / "mydir" / "thesis.docx").write_text("keep me")
    out = str(tmp_path / "mydir")
    assert main(["reproduce", "--out", out, "--force"]) == EXIT_BAD_OUTPUT
    assert main(["fit", "no-such.csv", "--out", out]) == EXIT_BAD_OUTPUT  # fit --out too
    assert "thesis.docx" in capsys.readouterr().err
    assert snapshot(tmp_path / "mydir") == {"thesis.docx": b"keep me"}


def test_new_path_empty_folder_and_previous_report_are_written(tmp_path):
    _report(tmp_path / "a" / "b" / "new")  # parents made
    (tmp_path / "empty").mkdir()
    _report(tmp_path / "empty")
    rep = _report(tmp_path / "rep", "v1")
    _report(rep, "v2")  # an unedited report is replaced
    assert (rep / "index.html").read_text() == "v2"
    assert (rep / MANIFEST).exists() and (tmp_path / "empty" / "tables" / "t.csv").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("edit", ["change", "delete", "add"])
def test_edited_report_is_refused_and_force_keeps_added_files(tmp_path, edit):
    rep = _report(tmp_path / "rep")
    if edit == "change":
        (rep / "index.html").write_text("my edits")
    elif edit == "delete":
        (rep / "tables" / "t.csv").unlink()
    else:
        (rep / "tables" / "mine.xlsx").write_bytes(b"my own work")
    before = snapshot(rep)
    with pytest.raises(OutputError, match="edited") as info:
        _report_no_force(rep)
    assert info.value.exit_code == 2 and "--force" in str(info.value)
    assert snapshot(rep) == before
    _report(rep, "v2")  # force=True
    assert (rep / "index.html").read_text() == "v2"
    if edit == "add":
        assert (rep / "tables" / "mine.xlsx").read_bytes() == b"my own work"
        with pytest.raises(OutputError, match=r"mine\.xlsx"):  # still not the report's own
            _report_no_force(rep)
        _report(rep, "v3")  # so a later --force keeps it again
        assert (rep / "tables" / "mine.xlsx").read_bytes() == b"my own work"
    assert leftovers(tmp_path) == []


def _report_no_force(path):
    with output_folder(path) as tmp:
        (tmp / "index.html").write_text("v3")


def test_refusal_comes_before_any_work(tmp_path, capsys):
    (tmp_path / "notes").write_text("x")
    # a sheet that does not exist: the output check speaks first
    code = main(
        ["reproduce", "--data", str(tmp_path / "none.csv"), "--out", str(tmp_path / "notes")]
    )
    assert code == EXIT_BAD_OUTPUT and "is a file" in capsys.readouterr().err


def test_check_target_names_the_path(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.txt").write_text("x")
    with pytest.raises(OutputError) as info:
        check_target(tmp_path / "d")
    assert info.value.path == str(tmp_path / "d") and info.value.exit_code == 2
    assert isinstance(info.value, OSError)


def _result():
    tab = EffectTable(
        pd.DataFrame({"study": list("abcd"), "yi": [0.1, 0.3, 0.2, 0.5],
                      "vi": [0.01, 0.02, 0.015, 0.03]}),
        measure="SMD",
    )  # fmt: skip
    return RandomEffects(tab).fit(100, engine="exact", random_seed=1)


def test_to_netcdf_replaces_a_result_but_never_another_file(tmp_path):
    res = _result()
    res.to_netcdf(tmp_path / "fit.nc")
    res.to_netcdf(tmp_path / "fit.nc")  # a bayesmeta result: replaced
    (tmp_path / "data.nc").write_bytes(b"not a result")
    with pytest.raises(OutputError, match="not a bayesmeta result") as info:
        res.to_netcdf(tmp_path / "data.nc")
    assert info.value.exit_code == 2
    assert (tmp_path / "data.nc").read_bytes() == b"not a result"
    with pytest.raises(OutputError) as info:
        res.to_netcdf(tmp_path / "data.nc" / "x.nc")  # parent is a file
    assert info.value.cause is not None and info.value.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.nc", "fit.nc"]


def test_temporaries_of_killed_runs_are_removed(tmp_path):
    import os
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    stale = tmp_path / f".rep.bayesmeta-tmp-{dead}-abc123"
    recent = tmp_path / f".rep.bayesmeta-tmp-{dead}-xyz789"
    for p in (stale, recent):
        p.mkdir()
        (p / "index.html").write_text("half")
    os.utime(stale, (1e9, 1e9))
    _report(tmp_path / "rep")
    assert not stale.exists() and recent.exists()  # a recent one may belong to another machine
