"""SIGINT and SIGTERM at every stage of a run: exit 130 / 143, no traceback, the previous report
byte-identical, no temporary folder left. Real signals to a ``bayesmeta`` subprocess, paused at
the stage by ``BAYESMETA_PAUSE_AT`` (bayesmeta._output.stage)."""

from __future__ import annotations

import shutil
import sys

import pytest

from tests.output_support import (
    ROOT,
    SIGNALS,
    assert_clean_failure,
    leftovers,
    previous_report,
    signal_at,
    snapshot,
)


class _Code:
    def __init__(self, code: int) -> None:
        self.returncode = code


def _check(tmp_path, report, before, code, err, expected):
    assert_clean_failure(_Code(code), err, expected)
    assert ("interrupted" if expected == 130 else "terminated") in err
    assert snapshot(report) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(("sig", "expected"), SIGNALS, ids=["INT", "TERM"])
@pytest.mark.parametrize("stage", ["read", "fit", "figures"])
def test_signal_at_stage_keeps_previous_report(tmp_path, stage, sig, expected):
    report = previous_report(tmp_path)
    before = snapshot(report)
    args = ["reproduce", "--data", "small.csv", "--out", "report"]
    code, err = signal_at(args, tmp_path, stage, sig)
    _check(tmp_path, report, before, code, err, expected)


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "expected"), SIGNALS, ids=["INT", "TERM"])
def test_signal_while_moving_into_place(tmp_path, sig, expected):
    report = previous_report(tmp_path)
    before = snapshot(report)
    args = ["reproduce", "--data", "small.csv", "--out", "report"]
    code, err = signal_at(args, tmp_path, "move", sig)
    _check(tmp_path, report, before, code, err, expected)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cc") is None and shutil.which("gcc") is None, reason="no C")
@pytest.mark.parametrize(("sig", "expected"), SIGNALS, ids=["INT", "TERM"])
def test_signal_while_compiling_a_model(tmp_path, sig, expected):
    """nutpie compiles with numba; a KeyboardInterrupt raised inside llvmlite's ctypes callback
    used to be printed as 'Exception ignored' and dropped, and the run exited 0."""
    pytest.importorskip("nutpie")
    from bayesmeta import datasets

    report = previous_report(tmp_path)
    before = snapshot(report)
    datasets.load_bcg().to_csv(tmp_path / "bcg.csv", index=False)
    args = [
        "fit", "bcg.csv", "--measure", "RR", "--direction", "lower", "--engine", "nuts",
        "--columns", "study=trial,ai=tpos,bi=tneg,ci=cpos,di=cneg", "--out", "report",
    ]  # fmt: skip
    hook = [sys.executable, str(ROOT / "tests" / "output_compile_hook.py")]
    code, err = signal_at(args, tmp_path, "compile", sig, command=hook, delay=1.0)
    _check(tmp_path, report, before, code, err, expected)
