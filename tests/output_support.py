"""Helpers of the output-protocol tests (tests/test_output_*.py): CLI subprocesses, a small
previous report shared by the tests, snapshots and leftover checks."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    e.pop("BAYESMETA_PAUSE_AT", None)
    e.update(extra)
    return e


def run_cli(args: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bayesmeta.cli", *args],
        cwd=cwd,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def small_sheet(folder: Path) -> Path:
    """The bundled sheet cut to one outcome: a report with a handful of figures."""
    from bayesmeta import datasets

    frame = datasets.load_peer_support_simulated()
    path = folder / "small.csv"
    frame[frame["outcome"] == "social_network_support"].to_csv(path, index=False)
    return path


@functools.cache
def _previous_report() -> Path:
    work = Path(tempfile.mkdtemp(prefix="bayesmeta-prev-"))
    small_sheet(work)
    done = run_cli(["reproduce", "--data", "small.csv", "--out", "report", "--quiet"], work)
    assert done.returncode == 0, done.stderr
    return work


def previous_report(dest: Path) -> Path:
    """A copy in ``dest`` of one report written by ``bayesmeta reproduce`` (shared), and
    ``dest/small.csv``; returns ``dest/report``."""
    src = _previous_report()
    shutil.copy2(src / "small.csv", dest / "small.csv")
    shutil.copytree(src / "report", dest / "report", symlinks=True)
    return dest / "report"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def leftovers(folder: Path) -> list[str]:
    """Temporary folders, lock files or swap names left in ``folder``."""
    tags = (".bayesmeta-tmp-", ".bayesmeta-lock", ".swap")
    return [p.name for p in folder.iterdir() if any(t in p.name for t in tags)]


def assert_clean_failure(proc: Any, stderr: str, code: int) -> None:
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr, stderr
    assert "Exception ignored" not in stderr, stderr


def signal_at(
    args: list[str],
    cwd: Path,
    stage: str,
    sig: int,
    *,
    command: list[str] | None = None,
    delay: float = 0.0,
) -> tuple[int, str]:
    """Run the CLI paused at ``stage`` (BAYESMETA_PAUSE_AT), send ``sig`` there; (code, stderr).

    ``command`` replaces ``python -m bayesmeta.cli`` (e.g. a hook script that announces a stage
    itself); ``delay`` waits after the announcement before signalling.
    """
    cmd = command or [sys.executable, "-m", "bayesmeta.cli"]
    proc = subprocess.Popen(
        [*cmd, *args],
        cwd=cwd,
        env=env(BAYESMETA_PAUSE_AT=f"{stage}:60"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 240
    for line in proc.stderr:
        seen.append(line)
        if line.strip() == f"bayesmeta: stage {stage}":
            break
        if time.monotonic() > deadline:  # pragma: no cover
            break
    else:  # pragma: no cover - the run ended without reaching the stage
        proc.wait()
        raise AssertionError(f"stage {stage} never reached:\n{''.join(seen)}")
    time.sleep(delay)
    proc.send_signal(sig)
    try:
        rest = proc.stderr.read()
        code = proc.wait(timeout=120)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
        raise
    return code, "".join(seen) + rest


SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143)]
