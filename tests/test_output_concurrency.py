"""Two processes writing one output folder at once end with one complete output (the later one)
or a clear refusal, never a mixture: 20 rounds of two writer subprocesses (tests/output_writer.py,
the protocol of every bayesmeta writer on a tiny report)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bayesmeta._output import _inspect
from tests.output_support import ROOT, env, leftovers, previous_report

ROUNDS = 20


def _wait(path: Path, timeout: float = 60) -> str:
    t0 = time.monotonic()
    while not path.exists():
        assert time.monotonic() - t0 < timeout, f"{path.name} never came"
        time.sleep(0.005)
    return path.read_text()


def test_two_writers_never_mix(tmp_path):
    sync = tmp_path / "sync"
    sync.mkdir()
    parent = tmp_path / "out"
    parent.mkdir()
    target = parent / "report"
    script = str(ROOT / "tests" / "output_writer.py")
    procs = [
        subprocess.Popen(
            [sys.executable, script, str(target), w, str(ROUNDS), str(sync)],
            env=env(),
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in ("A", "B")
    ]
    try:
        for r in range(ROUNDS):
            (sync / f"go-{r}").touch()
            status = {w: _wait(sync / f"done-{r}-{w}") for w in ("A", "B")}
            assert all(s == "ok" or "another bayesmeta run" in s for s in status.values()), status
            assert "ok" in status.values()
            assert _inspect(target)[0] == "report"  # manifest matches every file
            texts = {p.read_text() for p in target.rglob("f*.txt")}
            assert len(list(target.rglob("f*.txt"))) == 5 and len(texts) == 1, texts
            writer, rnd = texts.pop().split("\n")[0].split()
            assert int(rnd) == r and status[writer] == "ok"
            assert leftovers(parent) == []
    finally:
        for p in procs:
            p.wait(timeout=60)
    for p in procs:
        assert p.returncode == 0 and "Traceback" not in (p.stderr.read() if p.stderr else "")


@pytest.mark.slow
def test_two_cli_runs_to_one_folder(tmp_path):
    """End to end: two ``bayesmeta reproduce`` at once into a previous report."""
    report = previous_report(tmp_path)
    args = [sys.executable, "-m", "bayesmeta.cli", "reproduce", "--data", "small.csv"]
    procs = [
        subprocess.Popen(
            [*args, "--seed", str(seed), "--quiet", "--json", "--out", "report"],
            cwd=tmp_path,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    for code, err in results:
        assert code == 0 or (code == 2 and "another bayesmeta run" in err), err
        assert "Traceback" not in err
    assert _inspect(report)[0] == "report" and leftovers(tmp_path) == []
    seeds = {json.loads((report / "provenance.json").read_text())["settings"]["seed"]}
    assert seeds <= {1, 2}
