"""Every script in examples/ runs to completion (with tiny draw counts where it samples)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script):
    env = {**os.environ, "BAYESMETA_EXAMPLE_DRAWS": "50", "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip(), "an example should print its result"


def test_there_are_examples():
    assert EXAMPLES
