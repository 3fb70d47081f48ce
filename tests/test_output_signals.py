"""SIGINT and SIGTERM at every stage of a run: exit 130 / 143, no traceback, the previous report
byte-identical, no temporary folder left. Real signals to a ``bayesmeta`` subprocess, paused at
the stage by ``BAYESMETA_PAUSE_AT`` (bayesmeta._output.stage)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.output_support import (
    ROOT,
    SIGNALS,
    assert_clean_failure,
    env,
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


def _fit_nuts_args(tmp_path):
    from bayesmeta import datasets

    datasets.load_bcg().to_csv(tmp_path / "bcg.csv", index=False)
    return [
        "fit", "bcg.csv", "--measure", "RR", "--direction", "lower", "--engine", "nuts",
        "--columns", "study=trial,ai=tpos,bi=tneg,ci=cpos,di=cneg", "--out", "report",
    ]  # fmt: skip


HOOK = [sys.executable, str(ROOT / "tests" / "output_compile_hook.py")]


@pytest.mark.slow
def test_sigint_from_outside_while_compiling_a_model(tmp_path):
    pytest.importorskip("nutpie")
    report = previous_report(tmp_path)
    before = snapshot(report)
    args = _fit_nuts_args(tmp_path)
    code, err = signal_at(args, tmp_path, "compile", signal.SIGINT, command=HOOK, delay=1.0)
    _check(tmp_path, report, before, code, err, 130)


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "expected"), SIGNALS, ids=["INT", "TERM"])
def test_signal_inside_a_compiler_callback(tmp_path, sig, expected):
    """The signal arrives while llvmlite's ctypes callback runs (numba finalising nutpie's
    model): the handler's exception is dropped there by Python, so it is delivered again until
    it lands; the run used to go on and exit 0 (or 3) with 'Exception ignored ...'."""
    pytest.importorskip("nutpie")
    report = previous_report(tmp_path)
    before = snapshot(report)
    done = subprocess.run(
        [*HOOK, *_fit_nuts_args(tmp_path)],
        cwd=tmp_path,
        env=env(BAYESMETA_TEST_SIGNAL_IN_CALLBACK=signal.Signals(sig).name[3:]),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "stage compile-callback" in done.stderr, done.stderr
    _check(tmp_path, report, before, done.returncode, done.stderr, expected)
