"""Command line: ``bayesmeta fit`` on the BCG trials (default engine) as a whole process.

Baseline (same run, interleaved): ``python -c "import numpy, scipy, pandas, xarray"``. Also
``import bayesmeta.cli`` alone, and which heavy packages the fit process imports with their
import time (``python -X importtime``), so a regression names its cause.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))  # last: never shadow a package

from _util import emit, median

ROOT = Path(__file__).resolve().parents[1]
BCG = ROOT / "bayesmeta" / "datasets" / "bcg.csv"
FIT = [
    "-m", "bayesmeta.cli", "fit", str(BCG), "--measure", "RR",
    "--columns", "study=trial,ai=tpos,bi=tneg,ci=cpos,di=cneg", "--quiet",
]  # fmt: skip
BASE = ["-c", "import numpy, scipy, pandas, xarray"]
CLI = ["-c", "import bayesmeta.cli"]
HEAVY = (
    "pymc", "pytensor", "matplotlib", "arviz", "numba", "dask.array", "scipy.stats",
    "scipy.special", "scipy.optimize", "xarray", "pandas",
)  # fmt: skip
REPEATS = 7


def _run(args: list[str], **kw: object) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, *args], check=True, stdout=subprocess.DEVNULL, env=env, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - t0


def _heavy_imports() -> dict[str, float]:
    """Heavy packages the fit process loads, each with its own import time over the baseline.

    Presence: ``sys.modules`` after the fit; cost: importing the package alone after numpy,
    scipy, pandas and xarray (so shared dependencies count once, in the baseline).
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['bayesmeta', *{FIT[2:]!r}]\n"
        "try:\n"
        "    runpy.run_module('bayesmeta.cli', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"sys.stderr.write(' '.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, env=env
    )
    present = res.stderr.strip().splitlines()[-1].split() if res.stderr.strip() else []
    out: dict[str, float] = {}
    for mod in present:
        if mod in ("pandas", "xarray"):
            continue
        timer = (
            "import numpy, scipy, pandas, xarray, time\n"
            f"t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"
        )
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", timer], check=True, capture_output=True, text=True
                ).stdout
            )
            for _ in range(3)
        ]
        out[mod] = median(runs)
    return out


def main() -> None:
    base, fit, cli = [], [], []
    _run(FIT)  # warm the file cache
    for _ in range(REPEATS):
        base.append(_run(BASE))
        fit.append(_run(FIT))
        cli.append(_run(CLI))
    emit(
        {
            "base_s": median(base),
            "fit_s": median(fit),
            "import_cli_s": median(cli),
            "ratio": median(fit) / median(base),
            "repeats": REPEATS,
            "heavy_imports_s": _heavy_imports(),
        }
    )


if __name__ == "__main__":
    main()
