"""Command line: ``bayesmeta fit`` on the BCG trials (default engine) as a whole process.

Baseline (same run, interleaved): ``python -c "import numpy, scipy, pandas, xarray"``. Every
command is timed as a fresh process, minimum of ``REPEATS`` runs (the minimum is the run least
disturbed by other jobs), in wall-clock time and in CPU time (user + system, which other jobs on
a busy machine disturb less). Also timed: ``bayesmeta fit --help``; the floor, the baseline
plus ``scipy.special`` (the exact engine's normal integrals, the frequentist p-values and
quantiles), which the fit needs whatever bayesmeta does; and the floor plus the bayesmeta
modules the fit imports, which splits what the fit adds above the floor into importing
bayesmeta and the work itself. ``scipy.optimize`` is not on the fit's path: the Q-profile
interval of tau2, which needs its root finder, is computed when first read and the fit's tables
do not show it. Finally ``python -X importtime`` of the fit names the heaviest imports the
baseline does not make, and which heavy packages load at all.

Bytecode caching is on, in a temporary folder (``PYTHONPYCACHEPREFIX``), as for an installed
package; nothing is written into the source tree.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))  # last: never shadow a package

from _util import emit

ROOT = Path(__file__).resolve().parents[1]
BCG = ROOT / "bayesmeta" / "datasets" / "bcg.csv"
FIT = [
    "-m", "bayesmeta.cli", "fit", str(BCG), "--measure", "RR",
    "--columns", "study=trial,ai=tpos,bi=tneg,ci=cpos,di=cneg", "--quiet",
]  # fmt: skip
BASE_IMPORTS = "import numpy, scipy, pandas, xarray"
FLOOR_IMPORTS = BASE_IMPORTS + ", scipy.special"
#: The bayesmeta modules ``bayesmeta fit`` imports (cli and those its fit command imports).
BAYESMETA_IMPORTS = "bayesmeta.cli, bayesmeta.models, bayesmeta.review, bayesmeta.results"
COMMANDS = {
    "base": ["-c", BASE_IMPORTS],
    "fit": FIT,
    "help": ["-m", "bayesmeta.cli", "fit", "--help"],
    "floor_special": ["-c", FLOOR_IMPORTS],
    "floor_bayesmeta": ["-c", f"{FLOOR_IMPORTS}; import {BAYESMETA_IMPORTS}"],
}
#: Packages that must not load on this path (PyMC, plots, MCMC diagnostics, Dask) or did before.
HEAVY = (
    "pymc", "pytensor", "matplotlib", "arviz", "numba", "dask", "scipy.stats", "scipy.optimize",
)  # fmt: skip
REPEATS = 9
TOP = 12
_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _env(pycache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": pycache}


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one process running ``args``."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, *args], check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT
    )
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def _importtime(args: list[str], env: dict[str, str]) -> dict[str, int]:
    """Self import time (microseconds) of every module ``args`` imports, from -X importtime."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    return {m[4]: int(m[1]) for m in map(_LINE.match, proc.stderr.splitlines()) if m}


def _group(module: str) -> str:
    """Package a module's import time is credited to (scipy and bayesmeta by subpackage)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in ("scipy", "bayesmeta") else parts[0]


def _heaviest(env: dict[str, str]) -> tuple[list[tuple[str, float]], list[str]]:
    """Heaviest imports of the fit beyond the baseline's (ms, -X importtime self time, median
    of 3), and which of HEAVY the fit process loads."""
    runs = []
    for _ in range(3):
        base = _importtime(COMMANDS["base"], env)
        fit = _importtime(FIT, env)
        extra: Counter[str] = Counter()
        for mod, us in fit.items():
            if mod not in base:
                extra[_group(mod)] += us
        runs.append(extra)
    groups = set().union(*runs)
    med = {g: sorted(r.get(g, 0) for r in runs)[1] / 1e3 for g in groups}
    top = sorted(med.items(), key=lambda kv: -kv[1])[:TOP]
    loaded = [h for h in HEAVY if h in fit]
    return [(g, round(ms, 1)) for g, ms in top], loaded


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bayesmeta-pycache-") as pycache:
        env = _env(pycache)
        for args in COMMANDS.values():  # warm: bytecode written, files cached
            _run(args, env)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in COMMANDS}
        for _ in range(REPEATS):  # interleaved, so load changes hit every command alike
            for name, args in COMMANDS.items():
                times[name].append(_run(args, env))
        top, loaded = _heaviest(env)
    best = {name: min(w for w, _ in ts) for name, ts in times.items()}
    cpu = {name: min(c for _, c in ts) for name, ts in times.items()}
    emit(
        {
            "repeats": REPEATS,
            **{f"{name}_s": v for name, v in best.items()},
            **{f"{name}_cpu_s": v for name, v in cpu.items()},
            "ratio": best["fit"] / best["base"],
            "cpu_ratio": cpu["fit"] / cpu["base"],
            "floor_ratio": best["floor_special"] / best["base"],
            "floor_cpu_ratio": cpu["floor_special"] / cpu["base"],
            "heaviest_ms": top,
            "heavy_loaded": loaded,
        }
    )


if __name__ == "__main__":
    main()
