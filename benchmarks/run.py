"""Run every benchmark and write docs/benchmarks.md (``make bench``; about 10 minutes on 2 cores).

Each benchmark runs in its own process (``bench_*.py``, results handed back as one JSON line),
so peak memory belongs to one job and compile caches can be made cold with
``PYTENSOR_FLAGS=base_compiledir=<fresh dir>``. Every figure is a median over repeats and is shown
beside its baseline measured in the same run.

Usage: ``python benchmarks/run.py [--quick]`` (``--quick`` skips the slow NUTS baseline and the
cold-cache run; for trying the script, not for the published page).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "docs" / "benchmarks.md"
MARK = "BENCH-JSON:"
PACKAGES = ("numpy", "scipy", "pandas", "pymc", "pytensor", "numba", "nutpie", "arviz", "dask",
            "distributed")  # fmt: skip


def run(script: str, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one benchmark module in a fresh interpreter; return its JSON result (+ wall time)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        # -P: the script's folder is not put first on sys.path, so a module here (e.g. one named
        # like an installed package) cannot shadow what numba or PyMC import
        [sys.executable, "-P", str(HERE / script), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        check=False,
    )
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"benchmark {script} {' '.join(args)} failed ({proc.returncode})")
    res: dict[str, Any] = json.loads(lines[-1][len(MARK) :])
    res["process_wall_s"] = wall
    print(f"  {script} {' '.join(args)}: {wall:.1f} s", flush=True)
    return res


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.1f} GB"
    except (OSError, ValueError, IndexError):
        pass
    versions = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            versions[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            versions[p] = "not installed"
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "os": platform.platform(),
        "versions": versions,
        "commit": commit or "?",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def verdict(value: float, target: float) -> str:
    if value <= target:
        return f"**met** ({value:.3g} <= {target:g})"
    return f"**missed** by {value / target:.1f}x ({value:.3g} > {target:g})"


def main() -> None:
    quick = "--quick" in sys.argv
    t_all = time.perf_counter()
    load0 = os.getloadavg()
    info = machine()
    print("benchmarks (each in its own process):", flush=True)
    exact = run("bench_exact.py")
    sens = run("bench_sensitivity.py")
    cli = run("bench_cli_import.py")
    batch_local = run("bench_batch.py", "local")
    # 1,000,000 analyses on the cluster (about 2 minutes here); --quick: 100,000
    batch_cluster = run("bench_batch.py", "cluster", "100000" if quick else "1000000")
    fast = [run("bench_nuts.py", "fast") for _ in range(3)]
    auto = [run("bench_nuts.py", "auto") for _ in range(3)]
    reproduce = run("bench_reproduce.py")
    cold = None
    naive = None
    if not quick:
        with tempfile.TemporaryDirectory(prefix="bayesmeta-cold-") as tmp:
            env = {
                "PYTENSOR_FLAGS": f"base_compiledir={tmp}/pytensor",  # numba cache too
                "NUMBA_CACHE_DIR": f"{tmp}/numba",
            }
            cold = run("bench_nuts.py", "fast", env=env)
        naive = run("bench_nuts.py", "naive")
    load1 = os.getloadavg()
    text = render(
        info, load0, load1, exact, sens, batch_local, batch_cluster, fast, cold, naive, auto, cli,
        reproduce,
    )  # fmt: skip
    text += f"\nThe whole suite took {time.perf_counter() - t_all:.0f} s.\n"
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")


def nuts_section(
    fast: list[dict[str, Any]], cold: dict[str, Any] | None, naive: dict[str, Any] | None
) -> list[str]:
    """The page's section on the NUTS path (lines), from bench_nuts.py's results."""
    med = statistics.median
    L: list[str] = []
    a = L.append
    fast_total = med([f["total_s"] for f in fast])
    a("## NUTS path: the bundled review\n")
    f0 = fast[0]
    a(
        f"The bundled SIMULATED review: {f0['n_outcomes']} outcomes (k = 2..7). "
        '`reproduce --engine nuts` (`analyse_review(engine="nuts")`) fits the random-effects '
        f"model of every outcome and the review's {f0['n_regressions']} meta-regressions "
        "(`org_support_higher` where estimable, the three indicators where estimable) as ONE "
        "joint model (`bayesmeta.models.joint.JointFit`): the fits share no parameter, so each "
        "fit's posterior is that of its own model, and the review makes "
        f"{f0['n_compiles']} compilation and one sampling run. Default draws: 4 chains x (1000 "
        "tuning + 1000 draws), target_accept 0.99; log-likelihood, posterior predictive and "
        "diagnostics of every fit, the review's checks and tables and `convergence_problems()` "
        f"({f0['n_fits']} results). Sampler: {f0['sampler']}. Times are for a whole fresh "
        "process, imports included; the report (figures, HTML) is not written here. "
        "`summary()` of every result, which `reproduce` does not call, is timed apart "
        "(not in the total).\n"
    )
    a(
        "| run | total (s) | imports (s) | compile (s, CPU) | sampling (s, CPU) | rest of the "
        "joint fit (s) | rest of the review (s) | summaries, apart (s) | convergence warnings | "
        "load at start / end | peak RSS (MB) |"
    )
    a("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [(f"warm {i + 1}", f) for i, f in enumerate(fast)]
    if cold is not None:
        rows.append(("cold compile cache", cold))
    for name, f in rows:
        a(
            f"| {name} | {f['total_s']:.1f} | {f['import_s']:.1f} | {f['compile_s']:.1f} "
            f"({f['compile_cpu_s']:.1f}) | {f['sample_s']:.1f} ({f['sample_cpu_s']:.1f}) | "
            f"{f['bayes_rest_s']:.1f} | {f['review_rest_s']:.1f} | {f['summary_s']:.1f} | "
            f"{f['convergence_warnings']} | {f['load_start']:.1f} / {f['load_end']:.1f} | "
            f"{f['peak_rss_mb']:.0f} |"
        )
    a("")
    if naive is not None:
        a(
            f"Baseline, the naive loop: {naive['n_fits']} separate PyMC models (one per outcome "
            "and one per meta-regression, the same fits), each with a default `pm.sample()` and "
            "`pm.sample_posterior_predictive`; PyMC chose the sampler: "
            f"**{', '.join(naive['sampler'])}**. One run (it is the slow part of the suite): "
            f"**{naive['total_s']:.1f} s** in total ({naive['per_fit_median_s']:.1f} s median "
            f"per fit; peak RSS {naive['peak_rss_mb']:.0f} MB; load {naive['load_start']:.1f} / "
            f"{naive['load_end']:.1f}). Ratio naive / bayesmeta's way (warm median): "
            f"**{naive['total_s'] / fast_total:.2f}x** (above 1: bayesmeta faster).\n"
        )
    a("Where the time goes (CPU seconds are less sensitive to other jobs than wall seconds):\n")
    a(
        "- Compilation: two numba C callbacks (log density with gradient, and the expansion to "
        "the stored variables) are compiled in every process; PyTensor's disk cache serves the "
        "inner graph functions, the callbacks themselves cannot be cached. The joint model is "
        "built from constants and compiled frozen (nutpie's `freeze_model`): no data inputs to "
        "unpack (about 9 -> 4 s CPU with nutpie's callbacks), and its callbacks are "
        "`bayesmeta.models._nutpie_frozen.compile_frozen`'s, which copy element by element "
        "instead of compiling numba's shape-error message (about 4 -> 2 s CPU; the same draws)."
    )
    a(
        "- Sampling: about 120 leapfrog steps per iteration at target_accept 0.99 (small steps "
        "for the funnels of the k = 2-4 outcomes; the shared step size is set by the hardest "
        "fit), 4 chains x 2000 iterations on up to one thread per CPU (the draws do not depend "
        "on the thread count)."
    )
    a(
        "- Rest of the joint fit: one result per fit from the joint draws (`theta`, "
        "`theta_new`, posterior predictive and log-likelihood by numpy/scipy instead of "
        "`pm.sample_posterior_predictive` and `pm.compute_log_likelihood`, which took ~1 s per "
        "fit), and every fit's R-hat/ESS (ArviZ, one call per statistic on all fits' variables "
        "stacked, `compute_diagnostics_many`). Divergences and E-BFMI belong to the joint run "
        "and are reported for every fit in it."
    )
    a(
        "- Rest of the review: frequentist fits, exact model averaging, the checks, and "
        "`convergence_problems()`, which reads every fit's kept diagnostics (`Result."
        "diagnostics()` keeps them under a digest of the draws and recomputes when they "
        "change).\n"
        "- Summaries (apart): `Result.summary()` of every result is ArviZ's `summary` per "
        "variable (ESS, R-hat, MCSE), about 0.2-0.3 s per result.\n"
    )

    return L


def reproduce_row(r: dict[str, Any]) -> str:
    """The targets-table row of bench_reproduce: reproduce end to end <= 3x the import baseline."""
    ratio = r["reproduce_median_s"] / r["base_median_s"]
    return (
        f"| reproduce end to end <= 3x import baseline | {r['reproduce_median_s']:.1f} s vs "
        f"{r['base_median_s']:.1f} s for `import bayesmeta, pymc, matplotlib.pyplot` "
        f"({ratio:.1f}x, medians of {r['repeats']}; {r['figure_files']} figure files) | "
        f"{verdict(ratio, 3)} (x) |"
    )


def reproduce_section(r: dict[str, Any]) -> list[str]:
    """The section of bench_reproduce: the report end to end beside its import baseline."""
    formats = ", ".join(str(f).upper() for f in r["figure_formats"])
    return [
        "## The report end to end (`bayesmeta reproduce`)\n",
        "`bayesmeta reproduce --out <new folder>` on the bundled review as a whole process "
        "(process start, imports, every fit and check, every figure, the NetCDF posteriors, the "
        'tables and the HTML/Markdown pages), interleaved with its baseline `python -c "import '
        f'bayesmeta, pymc, matplotlib.pyplot"`; {r["repeats"]} runs each. CPU: user + system '
        f"seconds of the process and its figure workers ({r['workers']} here), less sensitive to "
        f"other jobs on the machine than wall time. Load average (1 min) {r['load_start']:.2f} "
        f"at the start, {r['load_end']:.2f} at the end.\n",
        "| run | min (s) | median (s) | CPU, median (s) |",
        "|---|---|---|---|",
        f"| import baseline | {r['base_min_s']:.2f} | {r['base_median_s']:.2f} | "
        f"{r['base_cpu_median_s']:.2f} |",
        f"| `bayesmeta reproduce` | {r['reproduce_min_s']:.2f} | {r['reproduce_median_s']:.2f} | "
        f"{r['reproduce_cpu_median_s']:.2f} |",
        f"| ratio | {r['ratio_min']:.1f}x | {r['ratio_median']:.1f}x | "
        f"{r['reproduce_cpu_median_s'] / r['base_cpu_median_s']:.1f}x |",
        "",
        f"The report began to be written {r['report_start_median_s']:.1f} s after the process "
        f"started (median; imports and fits before it). It holds {r['figure_files']} figure "
        f"files ({formats}), {r['figures_in_html']} figures embedded in `index.html`, "
        f"{r['report_mb']:.1f} MB in all.\n",
    ]


def render(
    info: dict[str, Any],
    load0: tuple[float, float, float],
    load1: tuple[float, float, float],
    exact: dict[str, Any],
    sens: dict[str, Any],
    bl: dict[str, Any],
    bc: dict[str, Any],
    fast: list[dict[str, Any]],
    cold: dict[str, Any] | None,
    naive: dict[str, Any] | None,
    auto: list[dict[str, Any]],
    cli: dict[str, Any],
    reproduce: dict[str, Any],
) -> str:
    med = statistics.median
    L: list[str] = []
    a = L.append
    a("# Benchmarks\n")
    a("*Generated by `make bench` (`benchmarks/run.py`); do not edit by hand.* Every figure is a")
    a("median over repeats (the count is given), measured in one run of the suite, beside a")
    a("baseline measured in the same run. Each benchmark runs in its own Python process.\n")
    a("## Machine\n")
    v = info["versions"]
    a(f"- {info['cpu']}, {info['cores']} cores, {info['memory']} RAM; {info['os']}")
    a(f"- load average (1 min) at start / end: {load0[0]:.2f} / {load1[0]:.2f}; a load above the")
    a("  core count means other jobs shared the CPUs and the timings are inflated accordingly")
    a(f"- bayesmeta {info['commit']}, {info['date']}")
    a("- " + ", ".join(f"{k} {val}" for k, val in v.items()) + "\n")

    # summary table ------------------------------------------------------------------------
    s20 = [r for r in exact["single"] if r["k"] <= 20]
    worst_np = max(r["summary_numpy"]["min"] for r in s20) * 1e3
    worst_c = max(r["summary_compiled"]["min"] for r in s20) * 1e3
    worst_reg_np = max(r["summary_numpy"]["min"] for r in exact["regression"]) * 1e3
    worst_reg_c = max(r["summary_compiled"]["min"] for r in exact["regression"]) * 1e3
    b = exact["batch"]
    fast_fit = med([f["fit_s"] for f in fast])
    fast_total = med([f["total_s"] for f in fast])
    a("## Targets\n")
    a("| target | measured | verdict |")
    a("|---|---|---|")
    a(
        f"| exact, one analysis, full `summary()` (mu, tau, tau2, theta_new, every theta_i), "
        f"k <= 20: <= 1 ms | compiled kernels loaded {worst_c:.2f} ms; numpy only (a fresh "
        f"process) {worst_np:.2f} ms (worst k, min of {s20[0]['repeats']}) | compiled "
        f"{verdict(worst_c, 1)}; numpy {verdict(worst_np, 1)} |"
    )
    a(f"| exact, one analysis: >= 1000x R bayesmeta 3.4, same run | {_r_ratio(exact)}")
    a(
        f"| exact meta-regression `summary()`, 1 moderator, k <= 20: <= 2 ms | compiled "
        f"{worst_reg_c:.2f} ms; numpy {worst_reg_np:.2f} ms (worst k) | compiled "
        f"{verdict(worst_reg_c, 2)}; numpy {verdict(worst_reg_np, 2)} |"
    )
    a(
        f"| exact, {b['n']:,} analyses vectorised: <= 10 s | {b['batch_s']:.1f} s | "
        f"{verdict(b['batch_s'], 10)} |"
    )
    a(
        f"| {bl['n']:,} analyses (k 2..20), DL + exact, one process: <= 5 s, peak < 1 GB | "
        f"{bl['dl_exact_s']:.1f} s (first run, kernels loading included: "
        f"{bl['dl_exact_first_s']:.1f} s), peak RSS {bl['peak_rss_mb']:.0f} MB | time "
        f"{verdict(bl['dl_exact_s'], 5)}; memory {verdict(bl['peak_rss_mb'], 1024)} (MB) |"
    )
    same = "same numbers" if bc["same_numbers"] else "**numbers differ**"
    a(
        f"| {bc['n']:,} analyses on a LocalCluster (2 workers x 1 thread): <= 60 s, same numbers "
        f"as one process | {bc['dl_exact_s']:.0f} s; {same} (largest relative difference "
        f"{bc['max_rel_diff_vs_one_process']:.1g} over {bc['checked_analyses']:,} analyses "
        f"refitted here) | {verdict(bc['dl_exact_s'], 60)} |"
    )
    a(
        f"| NUTS, whole review warm (`reproduce --engine nuts` without the report): <= 20 s | "
        f"{fast_total:.1f} s per process, min {min(f['total_s'] for f in fast):.1f} s "
        f"({fast_fit:.1f} s review, {med([f['fit_cpu_s'] for f in fast]):.1f} s of "
        f"it CPU; {med([f['import_s'] for f in fast]):.1f} s imports) | "
        f"{verdict(fast_total, 20)} |"
    )
    if cold is not None:
        a(
            f"| NUTS, whole review, cold compile cache: <= 60 s | {cold['total_s']:.1f} s | "
            f"{verdict(cold['total_s'], 60)} |"
        )
    if naive is not None:
        ratio = naive["total_s"] / fast_total
        ok = "**met**" if ratio >= 5 else f"**missed** ({ratio:.1f}x < 5x)"
        a(
            f"| NUTS, >= 5x faster than the naive loop | {ratio:.1f}x ({naive['total_s']:.0f} s "
            f"vs {fast_total:.1f} s) | {ok} |"
        )
    auto_total = med([f["total_s"] for f in auto])
    auto_fit = med([f["fit_s"] for f in auto])
    a(
        f"| whole review, bayesmeta's default engine (`reproduce --engine auto`: exact draws, "
        f"same models): <= 20 s | {auto_total:.1f} s per process ({auto_fit:.1f} s fitting) | "
        f"{verdict(auto_total, 20)} |"
    )
    if naive is not None:
        ratio = naive["total_s"] / auto_total
        ok = "**met**" if ratio >= 5 else f"**missed** ({ratio:.1f}x < 5x)"
        a(
            f"| default engine >= 5x faster than the naive NUTS loop | {ratio:.1f}x "
            f"({naive['total_s']:.0f} s vs {auto_total:.1f} s) | {ok} |"
        )
    a(reproduce_row(reproduce))
    a(
        f"| prior sensitivity, 20 tau priors: <= 1 s | {sens['sweep_s']:.2f} s | "
        f"{verdict(sens['sweep_s'], 1)} |"
    )
    a(
        f"| `bayesmeta fit` on bcg (default engine), whole process: <= 1.3x `import numpy, scipy, "
        f"pandas, xarray` | {cli['fit_s']:.2f} s vs {cli['base_s']:.2f} s, **{cli['ratio']:.2f}x** "
        f"(CPU {cli['cpu_ratio']:.2f}x; floor: baseline + scipy.special "
        f"{cli['floor_ratio']:.2f}x) | "
        f"{verdict(cli['ratio'], 1.3)} |"
    )
    peak = max(f["peak_rss_mb"] for f in fast)
    a(
        f"| memory: review posteriors + summaries < 1 GB resident | peak {peak:.0f} MB | "
        f"{verdict(peak, 1024)} (MB) |"
    )
    a(
        f"| memory: batch streams | peak {bl['peak_rss_mb']:.0f} MB for {bl['n']:,} analyses "
        f"(input table {bl['input_mb']:.0f} MB, result {bl['result_mb']:.0f} MB) | "
        "only summary rows are kept |\n"
    )

    L += reproduce_section(reproduce)

    L += exact_section(exact)

    # NUTS -----------------------------------------------------------------------------------
    L += nuts_section(fast, cold, naive)

    # sensitivity ----------------------------------------------------------------------------
    a("## Prior sensitivity\n")
    a(
        f"{sens['n_priors']} tau priors (half-normal and half-Cauchy, 10 scales each) on "
        f"`{sens['outcome']}` (k = {sens['k']}) through {sens['api']}, median of "
        f"{sens['repeats']}: **{sens['sweep_s']:.2f} s**. Baselines: a loop of "
        f"`exact_posterior(...).summary()` {sens['loop_s']:.2f} s"
        + (
            f"; 20 NUTS fits at the naive per-fit median of this run would take about "
            f"{20 * naive['per_fit_median_s']:.0f} s "
            f"({20 * naive['per_fit_median_s'] / sens['sweep_s']:.0f}x)."
            if naive is not None
            else "."
        )
        + "\n"
    )

    # command line -----------------------------------------------------------------------------
    a(render_cli(cli))

    L += batch_section(bl, bc)
    return "\n".join(L)


def _r_ratio(exact: dict[str, Any]) -> str:
    """R bayesmeta's time over ours (same data, same run), as a table cell pair."""
    r = exact.get("r_bayesmeta", {})
    if "skipped" in r:
        return f"R not timed: {r['skipped']} | not measured |"
    ours = {row["k"]: row for row in exact["single"]}
    parts, worst = [], math.inf
    for row in r["rows"]:
        mine = ours[row["k"]]
        rc = row["min_s"] / mine["summary_compiled"]["min"]
        rn = row["min_s"] / mine["summary_numpy"]["min"]
        worst = min(worst, rc)
        parts.append(f"k = {row['k']}: R {row['min_s']:.2f} s, {rc:,.0f}x (numpy {rn:,.0f}x)")
    ok = "**met**" if worst >= 1000 else f"**missed** ({worst:,.0f}x < 1000x at worst)"
    return f"{'; '.join(parts)} (compiled kernels; R bayesmeta {r['version']}) | {ok} (compiled) |"


def exact_section(exact: dict[str, Any]) -> list[str]:
    """The exact engine's section of the page."""
    L: list[str] = []
    a = L.append
    single, b = exact["single"], exact["batch"]
    rr = {row["k"]: row for row in exact.get("r_bayesmeta", {}).get("rows", [])}
    a("## Exact engine (`bayesmeta.exact`)\n")
    a(
        "One analysis (`exact_posterior`, tau ~ HN(0.5), mu ~ N(0, 1)), **minimum** of "
        f"{single[0]['repeats']} calls (the least disturbed run on this shared machine). Two "
        "paths with the same numbers (tested to 1e-12): *numpy* (all a fresh process uses for "
        "one analysis) and *compiled* (numba twins of every step from data to summary table, used "
        "once a batch of "
        '2,000 or more analyses has loaded them, or with `BAYESMETA_NUMBA=1`). "posterior" '
        'builds the quadrature rule; "summary" adds `summary()` (mean, sd, median, mode, '
        "interval of mu, tau, tau2, theta_new and every theta_i). Baselines on the same data: "
        '`rma(method="REML")`, and R bayesmeta (`bayesmeta(y, sigma, tau.prior = function(t) '
        "dhalfnormal(t, 0.5), mu.prior = c(0, 1))` + `summary`), minimum of "
        f"{exact.get('r_bayesmeta', {}).get('repeats', 0)} runs.\n"
    )
    a(
        "| k | posterior numpy / compiled (ms) | summary numpy (ms) | summary compiled (ms) | "
        "rma REML (ms) | R bayesmeta (s) | R / summary compiled |"
    )
    a("|---|---|---|---|---|---|---|")
    for r in single:
        rk = rr.get(r["k"])
        r_s = f"{rk['min_s']:.2f}" if rk else "-"
        ratio = f"{rk['min_s'] / r['summary_compiled']['min']:,.0f}x" if rk else "-"
        a(
            f"| {r['k']} | {r['fit_numpy']['min'] * 1e3:.2f} / "
            f"{r['fit_compiled']['min'] * 1e3:.2f} | {r['summary_numpy']['min'] * 1e3:.2f} | "
            f"{r['summary_compiled']['min'] * 1e3:.2f} | {r['rma_reml']['min'] * 1e3:.2f} | "
            f"{r_s} | {ratio} |"
        )
    a("")
    c = exact["cold"]
    a(
        "Cold costs, each in a fresh process: `import bayesmeta.exact` "
        f"{c['warm_cache']['import_exact_s']:.2f} s (numba not imported); first summary "
        f"(numpy) {c['warm_cache']['first_summary_numpy_s'] * 1e3:.1f} ms; loading the compiled "
        f"kernels {c['warm_cache']['import_numba_s']:.2f} s (importing numba) + "
        f"{c['warm_cache']['first_summary_compiled_s']:.2f} s (first compiled summary: loading "
        "the cached machine code) with numba's disk cache filled, or "
        f"{c['empty_cache']['import_numba_s']:.2f} s + "
        f"{c['empty_cache']['first_summary_compiled_s']:.1f} s when it compiles into an empty "
        "cache (once per machine and numba version). This is why one analysis in a fresh "
        "process (the CLI) stays in numpy, and why batches load the kernels only from 2,000 "
        "analyses up.\n"
    )
    a(
        "Exact meta-regression, one moderator (`exact_posterior(y, s, X=[1, x], "
        "beta_prior=N(0, 1))`, full `summary()`), minimum of "
        f"{exact['regression'][0]['repeats']}:\n"
    )
    a("| k | summary numpy (ms) | summary compiled (ms) | rma REML with the moderator (ms) |")
    a("|---|---|---|---|")
    for r in exact["regression"]:
        a(
            f"| {r['k']} | {r['summary_numpy']['min'] * 1e3:.2f} | "
            f"{r['summary_compiled']['min'] * 1e3:.2f} | {r['rma_reml']['min'] * 1e3:.2f} |"
        )
    a("")
    bcg = exact["bcg_summary"]
    a(
        "Where the time goes: cProfile over 200 full `summary()` calls on the 13 BCG trials "
        f"(one call takes {bcg['numpy']['min'] * 1e3:.2f} ms numpy, "
        f"{bcg['compiled']['min'] * 1e3:.2f} ms compiled, minimum of 201; the profiler "
        "inflates Python-level costs), top entries by own time per call:\n"
    )
    for tag in ("numpy", "compiled"):
        a(f"| {tag}: function | calls | own (ms) | cumulative (ms) |")
        a("|---|---|---|---|")
        for row in exact["profile"][tag]:
            a(
                f"| `{row['where']}` | {row['calls']:.0f} | {row['own_ms']:.3f} | "
                f"{row['cum_ms']:.3f} |"
            )
        a("")
    a(
        "What a compiled summary is made of: the rule (`locate`, `trange`, `rule`, "
        "`functionals`: the log likelihood at the search grid and at 160-320 nodes times k "
        "studies), the tau summary (`tau_summary`: five quantiles and two modes in one call) and "
        "the mixture table (`mix_table`: about 3(k + 2) quantiles of mixtures of the ~150 "
        "components of non-negligible weight, each from one or two evaluations of the CDF with a "
        "nine-term local expansion of the density, SIMD over the components, and one mode per "
        "mixture), each one compiled "
        "call; the rest is Python's assembly of the pandas table and the checks of which moments "
        "exist. The numpy path runs the same steps as vectorised numpy on small arrays, driven "
        "round by round in Python; that per-call overhead is why it stays near 3 ms.\n"
    )
    a(
        f"Vectorised: `exact_posterior_batch` on {b['n']:,} simulated analyses (k uniform on "
        f"{b['k_range'][0]}..{b['k_range'][1]}; compiled kernels), minimum of {b['repeats']} "
        f"runs: **{b['batch_s']:.1f} s** ({b['batch_s'] / b['n'] * 1e3:.2f} ms per analysis, "
        "with mu, tau, tau2, theta_new summaries). Baseline: a loop of "
        f"`exact_posterior(...).summary()` (numpy), timed on {b['loop_n_timed']} analyses and "
        f"scaled: {b['loop_s_scaled']:.0f} s, so the batch is "
        f"**{b['loop_s_scaled'] / b['batch_s']:.1f}x** faster.\n"
    )
    return L


def batch_section(bl: dict[str, Any], bc: dict[str, Any]) -> list[str]:
    """The section on many meta-analyses (local and cluster)."""
    L: list[str] = []
    a = L.append
    a("## Many meta-analyses (`bayesmeta.batch.fit_many`)\n")
    a(
        f"{bl['n']:,} simulated analyses (k uniform on 2..20, {bl['rows']:,} rows) in one "
        f"process; {bc['n']:,} on a LocalCluster:\n"
    )
    a("| where | analyses | methods | time (s) | per analysis (ms) | peak RSS (MB) |")
    a("|---|---|---|---|---|---|")
    a(
        f"| this process | {bl['n']:,} | DL | {bl['dl_s']:.1f} | "
        f"{bl['dl_s'] / bl['n'] * 1e3:.3f} | |"
    )
    a(
        f"| this process, {bl['threads']} threads | {bl['n']:,} | DL + exact (best of 2, CPU "
        f"{bl['dl_exact_cpu_s']:.1f} s; first, loading the kernels: "
        f"{bl['dl_exact_first_s']:.1f} s) | {bl['dl_exact_s']:.1f} | "
        f"{bl['dl_exact_s'] / bl['n'] * 1e3:.3f} | {bl['peak_rss_mb']:.0f} |"
    )
    a(
        f"| this process, 1 thread | {bl['n']:,} | DL + exact | "
        f"{bl['dl_exact_1thread_s']:.1f} | {bl['dl_exact_1thread_s'] / bl['n'] * 1e3:.3f} | |"
    )
    a(
        f"| LocalCluster, 2 worker processes x 1 thread | {bc['n']:,} | DL + exact | "
        f"{bc['dl_exact_s']:.1f} | {bc['dl_exact_s'] / bc['n'] * 1e3:.3f} | client "
        f"{bc['peak_rss_mb']:.0f}, worker {bc['worker_peak_rss_mb']:.0f} |"
    )
    a("")
    a(
        f"Load average (1 min) before / after: this process {bl['load_before']:.2f} / "
        f"{bl['load_after']:.2f}, cluster {bc['load_before']:.2f} / {bc['load_after']:.2f}. "
        "CPU seconds of the cluster's workers (user + system): "
        + ", ".join(
            f"{u:.0f} + {s:.1f}"
            for u, s in zip(bc["worker_user_s"], bc["worker_sys_s"], strict=True)
        )
        + ". In this process the exact blocks run on one thread per core (the compiled "
        "kernels release the GIL; the numbers do not depend on the thread count).\n"
    )
    pr = bl.get("profile") or {}
    if pr:
        rest = 1 - pr["ll_share"] - pr["mix_share"]
        a(
            f"Where the time goes: one thread of `exact_posterior_batch` on {pr['analyses']:,} "
            f"of these analyses takes {pr['us_per_analysis']:.0f} us per analysis. "
            f"{pr['ll_share']:.0%} is the log likelihood of tau (`loglik1`, compiled, SIMD "
            "over nodes: "
            f"{pr['ll_terms_per_analysis']:,.0f} node-study terms per analysis, at the search "
            f"grid and at the rule's nodes of both levels, {pr['ll_ns_per_term']:.1f} ns each, "
            "with two logarithms per node); "
            f"{pr['mix_share']:.0%} is the mixture quantiles (`mix_table`, compiled: "
            f"{pr['quantiles_per_analysis']:.0f} quantiles of ~{pr['comps_per_quantile']:.0f} "
            f"components each, {pr['mix_ns_per_comp']:.1f} ns per component and quantile: "
            "about 1.5 evaluations of the CDF and nine derivatives of the density, with exp "
            "and the normal CDF as polynomials, no libm call, so the loop over components is "
            "SIMD too); "
            f"{rest:.0%} is the rest (the rule's construction, the tau summaries and the "
            "assembly of rows, vectorised numpy over each block). Both compiled loops do the "
            "arithmetic the rule asks for, once; a rule with fewer nodes would be faster still "
            "but would change the numbers the engine is tested against, so the rule stays as "
            "it is.\n"
        )
    a(
        f'Baseline: a pandas `groupby` loop of `rma(method="DL")` and '
        f"`exact_posterior(...).summary()` per analysis, timed on 500 and scaled: "
        f"{bl['loop_s_scaled']:.0f} s, so `fit_many` is "
        f"**{bl['loop_s_scaled'] / bl['dl_exact_s']:.1f}x** faster in one process. Only one "
        f"summary row per analysis is kept (the result is {bl['result_mb']:.0f} MB); peak "
        "memory is the input table plus one chunk's work.\n"
    )
    a(
        f"On the cluster the inputs are generated inside the workers ({bc['partitions']} "
        f"partitions of {bc['analyses_per_partition']:,} analyses, `dd.from_map`, indexed by the "
        "analysis with known divisions, so `fit_many` needs no shuffle) and only summary rows "
        f"return ({bc['result_mb']:.0f} MB). Same numbers: the first and last partitions "
        f"({bc['checked_analyses']:,} analyses) refitted in one process differ from the "
        f"cluster's rows by at most {bc['max_rel_diff_vs_one_process']:.1g} (relative). "
        "`make bench` runs 1,000,000 analyses there (`--quick`: 100,000).\n"
    )
    a("### Your own 1,000,000 meta-analyses on a cluster\n")
    a(
        "Store the long table (`meta_analysis`, `yi`, `vi`) as Parquet where the workers can read "
        "it and pass a Dask DataFrame. Written sorted by the key and read with "
        '`index="meta_analysis", calculate_divisions=True`, every analysis sits in one '
        "partition and is fitted where it lies; otherwise Dask first shuffles rows by the key:\n"
    )
    a("```python")
    a("import dask.dataframe as dd")
    a("from distributed import Client")
    a("from bayesmeta.batch import fit_many")
    a("")
    a('client = Client("tcp://scheduler:8786")  # or a dask-jobqueue / dask-kubernetes cluster')
    a('frame = dd.read_parquet("s3://bucket/simulation/", index="meta_analysis",')
    a("                        calculate_divisions=True)")
    a('out = fit_many(frame, method=["DL", "exact"], tau_prior="half_normal(0.5)",')
    a("               scheduler=client)")
    a('out.to_parquet("results.parquet")  # one row per meta-analysis')
    a("```\n")
    per = bc["dl_exact_s"] / bc["n"]
    a(
        f"At this run's LocalCluster rate ({per * 1e3:.3f} ms per analysis on 2 cores) the work "
        "is independent per partition, so on N cores expect roughly "
        f"{per * 2 * 1e6:.0f} / N s per 1,000,000 analyses plus scheduling and I/O.\n"
    )
    return L


def render_cli(cli: dict[str, Any]) -> str:
    """The command line section: ``bayesmeta fit`` as a process beside the import baseline."""
    rows = [
        ('`python -c "import numpy, scipy, pandas, xarray"` (baseline)', "base"),
        ("baseline + `scipy.special` (floor)", "floor_special"),
        ("floor + the bayesmeta modules the fit imports", "floor_bayesmeta"),
        ("`bayesmeta fit bcg.csv --measure RR ...` (exact engine, both tables)", "fit"),
        ("`bayesmeta fit --help`", "help"),
    ]
    L = ["## Command line (`bayesmeta fit`)\n"]
    L.append(
        "Each command is a fresh process, minimum of "
        f"{cli['repeats']} interleaved runs, bytecode cached as for an installed package "
        "(`benchmarks/bench_cli_import.py`). CPU time (user + system) is shown beside wall time "
        "because other jobs on a busy machine disturb it less.\n"
    )
    L += ["| command | wall (s) | / baseline | CPU (s) | / baseline |", "|---|---|---|---|---|"]
    for name, key in rows:
        w, c = cli[f"{key}_s"], cli[f"{key}_cpu_s"]
        L.append(
            f"| {name} | {w:.2f} | {w / cli['base_s']:.2f}x | {c:.2f} | "
            f"{c / cli['base_cpu_s']:.2f}x |"
        )
    loaded = ", ".join(cli["heavy_loaded"]) or "none"
    heaviest = ", ".join(f"{g} {ms:.0f}" for g, ms in cli["heaviest_ms"])
    L.append(
        "\nOf PyMC, PyTensor, matplotlib, ArviZ, numba, Dask, scipy.stats and scipy.optimize the "
        f"fit loads: "
        f"**{loaded}**. Heaviest imports beyond the baseline's (`python -X importtime` self time, "
        f"ms, median of 3; importtime inflates them): {heaviest}.\n"
    )
    if cli["ratio"] <= 1.3:
        why = "What sets the floor"
    else:
        why = "Why 1.3x is out of reach" if cli["floor_ratio"] > 1.3 else "Why the fit misses 1.3x"
    room = 1.3 * cli["base_s"] - cli["floor_special_s"]
    L.append(
        f"{why}: the fit needs `scipy.special` (the exact engine's normal integrals; t and "
        "chi-square p-values and quantiles of the frequentist table). Importing it loads "
        "`scipy.linalg` and scipy's array-API layer (which imports `numpy.f2py` and "
        "`numpy.testing`); that import alone is the floor row above, "
        f"{cli['floor_ratio']:.2f}x the baseline, "
        + (
            f"which leaves {room:.2f} s for all of bayesmeta within 1.3x. "
            if room > 0
            else "already above 1.3x. "
        )
        + "`scipy.optimize` is not "
        "imported: the Q-profile interval of tau2, which needs its root finder, is computed when "
        "first read (as metafor's `confint`), and the fit's tables do not show it. Above the "
        f"floor, importing bayesmeta's modules adds "
        f"{cli['floor_bayesmeta_s'] - cli['floor_special_s']:.2f} s and reading the CSV, the "
        "exact fit, the frequentist fits and printing the rest "
        f"({cli['fit_s'] - cli['floor_bayesmeta_s']:.2f} s in this run).\n"
    )
    return "\n".join(L)


if __name__ == "__main__":
    main()
