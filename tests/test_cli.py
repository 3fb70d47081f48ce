"""The command line: exit codes and messages for bad input (the full runs are in test_review)."""

from __future__ import annotations

from bayesmeta.cli import EXIT_BAD_INPUT, main


def test_fit_bad_input_exits_2_with_line(tmp_path, capsys):
    p = tmp_path / "d.csv"
    p.write_text("study,yi,vi\nA,0.1,0.01\nB,abc,0.02\n", encoding="utf-8")
    assert main(["fit", str(p)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "d.csv" in err and "line 3" in err and "'yi'" in err and "Traceback" not in err


def test_fit_missing_file_exits_2(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope.csv")]) == EXIT_BAD_INPUT
    assert "does not exist" in capsys.readouterr().err


def test_bad_columns_option_exits_2(tmp_path, capsys):
    p = tmp_path / "d.csv"
    p.write_text("study,yi,vi\nA,0.1,0.01\nB,0.2,0.02\n", encoding="utf-8")
    assert main(["fit", str(p), "--columns", "study"]) == EXIT_BAD_INPUT
    assert "ours=yours" in capsys.readouterr().err
