"""The command line: output and exit codes."""

from __future__ import annotations

import json

from bayesmeta.cli import EXIT_BAD_INPUT, EXIT_OK, main


def test_reproduce_prints_dl_and_reml(capsys):
    assert main(["reproduce", "--quiet"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "DL" in out and "REML+KH" in out


def test_fit_json(tmp_path, capsys):
    p = tmp_path / "d.csv"
    p.write_text("study,yi,vi\nA,0.1,0.01\nB,0.5,0.02\nC,0.3,0.02\n", encoding="utf-8")
    assert main(["fit", str(p), "--method", "DL", "--json"]) == EXIT_OK
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["method"] == "DL" and rows[0]["k"] == 3


def test_bad_input_exits_2_with_line(tmp_path, capsys):
    p = tmp_path / "d.csv"
    p.write_text("study,yi,vi\nA,0.1,0.01\nB,abc,0.02\n", encoding="utf-8")
    assert main(["fit", str(p)]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "d.csv" in err and "line 3" in err and "'yi'" in err and "Traceback" not in err
