"""What the command line prints and writes: scales named, small outcomes flagged, compare's
warnings, extraction sheets recognised, the user's column names in errors, --version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bayesmeta import datasets
from bayesmeta._version import __version__
from bayesmeta.cli import main

HARD = Path(__file__).parent / "data" / "hard"
BCG_COLUMNS = "study=trial,ai=tpos,bi=tneg,ci=cpos,di=cneg"


@pytest.fixture(scope="module")
def bcg_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bcg") / "bcg.csv"
    datasets.load_bcg().to_csv(path, index=False)
    return path


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"bayesmeta {__version__}"


def test_fit_names_the_scale_and_gives_the_t_prediction_interval(
    bcg_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["fit", str(bcg_csv), "--measure", "RR", "--columns", BCG_COLUMNS,
                 "--draws", "100", "--json"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert {r["scale"] for r in out["frequentist"]} == {"log RR"}
    assert out["bayesian"][0]["scale"] == "log RR"
    dl = next(r for r in out["frequentist"] if r["method"] == "DL")
    assert dl["pi_t_lb"] < dl["pi_lb"] < dl["estimate"] < dl["pi_ub"] < dl["pi_t_ub"]
    main(["fit", str(bcg_csv), "--measure", "RR", "--columns", BCG_COLUMNS, "--draws", "100"])
    text = capsys.readouterr().out
    assert "log RR scale (exponentiate for the ratio)" in text


def test_errors_name_the_users_columns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = datasets.load_bcg()
    frame.loc[2, "tpos"] = -1
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    code = main(["fit", str(path), "--measure", "RR", "--columns", BCG_COLUMNS])
    err = capsys.readouterr().err
    assert code == 2 and "tpos (--columns ai=tpos)" in err and "Traceback" not in err


def test_fit_reads_an_extraction_sheet(capsys: pytest.CaptureFixture[str]) -> None:
    sheet = Path(datasets.__file__).parent / "peer_support_simulated.csv"
    code = main(["fit", str(sheet), "--outcome", "recovery", "--draws", "100", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["bayesian"][0]["outcome"] == "recovery" and out["bayesian"][0]["scale"] == "SMD"


def test_compare_warns_on_ratios_beside_logs_and_unmatched_names(
    bcg_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fit"
    main(["fit", str(bcg_csv), "--measure", "OR", "--columns", BCG_COLUMNS, "--draws", "100",
          "--out", str(out), "--quiet"])  # fmt: skip
    published = tmp_path / "published.csv"
    published.write_text(
        "outcome,estimate,ci_lb,ci_ub\noverall,0.47,0.32,0.69\nmortality,0.9,0.8,1.1\n"
    )
    capsys.readouterr()
    code = main(["compare", str(out / "posterior.nc"), "--published", str(published), "--json"])
    cap = capsys.readouterr()
    assert code == 0
    assert "looks like a ratio" in cap.err and "log OR" in cap.err
    assert "['mortality'] match no outcome" in cap.err
    row = json.loads(cap.out)[0]
    assert row["reproduced"] is False and row["scale"] == "log OR"


@pytest.mark.slow
def test_one_trial_outcome_flagged_in_table_json_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sheet = HARD / "sheet_bom_crlf_unicode.csv"  # "hospitalised" has one trial
    note = "1 trial: no pooling; the Bayesian interval is driven by the tau prior"
    plan = tmp_path / "plan.toml"  # the sheet's outcomes; it has no moderators
    plan.write_text(
        'title = "Hard sheet"\n[outcomes.recovery]\nmeasure = "SMD"\ndirection = "higher"\n'
        '[outcomes.hospitalised]\nmeasure = "OR"\ndirection = "lower"\n',
        encoding="utf-8",
    )
    code = main(["reproduce", "--data", str(sheet), "--plan", str(plan), "--out",
                 str(tmp_path / "r"), "--json", "--draws", "200"])  # fmt: skip
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    hosp = [r for r in out["frequentist"] if r["outcome"] == "hospitalised"]
    assert hosp and all(r["note"] == note or "needs k >" in r["note"] for r in hosp)
    assert "not estimable" not in json.dumps(out["outcomes"])  # numbers, not nan pairs
    report = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert note in report and "not estimable (k = 1)" in report
    code = main(
        [
            "reproduce",
            "--data",
            str(sheet),
            "--plan",
            str(plan),
            "--out",
            str(tmp_path / "r2"),
            "--draws",
            "200",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0 and note[:30] in text and "(nan, nan)" not in text
