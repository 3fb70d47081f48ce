"""Command line: ``bayesmeta reproduce`` end to end as a whole process (the bundled review).

Process start, imports, every fit, every figure, the NetCDF posteriors, the tables and the
HTML/Markdown pages, timed from outside. Baseline (same run, interleaved):
``python -c "import bayesmeta, pymc, matplotlib.pyplot"``, the imports any report needs. The
target is reproduce <= 3x the baseline. Also: CPU seconds of each process (user + system, its
children included), when the report writing began (from the progress lines), and the figure
files the report wrote.
"""

from __future__ import annotations

import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parent))  # last: never shadow a package

from _util import emit, median

ROOT = Path(__file__).resolve().parents[1]
BASE = ["-c", "import bayesmeta, pymc, matplotlib.pyplot"]
REPEATS = 5
#: A progress line of the command line: "[   3.9s] writing the report to ...".
_LINE = re.compile(r"^\[\s*([0-9.]+)s\] (.*)$")


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(args: list[str]) -> tuple[float, float, str]:
    """Run ``python <args>``; return (wall s, CPU s of it and its children, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    c0, t0 = _cpu(), time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env=env,
    )  # fmt: skip
    return time.perf_counter() - t0, _cpu() - c0, proc.stderr


def _report_start(stderr: str) -> float:
    """Seconds from process start to "writing the report" (imports and fits before it)."""
    for line in stderr.splitlines():
        m = _LINE.match(line.strip())
        if m and m.group(2).startswith("writing the report"):
            return float(m.group(1))
    return float("nan")


def main() -> None:
    base, base_cpu, rep, rep_cpu, start = [], [], [], [], []
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bayesmeta-bench-reproduce-") as tmp:
        _run(BASE)  # warm the file cache
        for i in range(REPEATS):
            out = Path(tmp) / f"report{i}"
            wall, cpu, _ = _run(BASE)
            base.append(wall)
            base_cpu.append(cpu)
            wall, cpu, err = _run(["-m", "bayesmeta.cli", "reproduce", "--out", str(out)])
            rep.append(wall)
            rep_cpu.append(cpu)
            start.append(_report_start(err))
        figures = sorted(p.name for p in (out / "figures").iterdir())
        html = (out / "index.html").read_text(encoding="utf-8")
        size_mb = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    emit(
        {
            "base_min_s": min(base),
            "base_median_s": median(base),
            "base_cpu_median_s": median(base_cpu),
            "reproduce_min_s": min(rep),
            "reproduce_median_s": median(rep),
            "reproduce_cpu_median_s": median(rep_cpu),
            "report_start_median_s": median(start),
            "ratio_min": min(rep) / min(base),
            "ratio_median": median(rep) / median(base),
            "figure_files": len(figures),
            "figure_formats": sorted({Path(f).suffix.lstrip(".") for f in figures}),
            "figures_in_html": html.count("<img "),
            "report_mb": size_mb,
            "repeats": REPEATS,
            "load_start": load0,
            "load_end": os.getloadavg()[0],
            "workers": len(os.sched_getaffinity(0)),
        }
    )


if __name__ == "__main__":
    main()
