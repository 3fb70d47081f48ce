"""The ``bayesmeta`` command line.

``bayesmeta reproduce`` runs a review plan (:mod:`bayesmeta.plan`; by default the bundled
peer-support plan on its SIMULATED sheet) and writes the report; ``bayesmeta fit`` runs the same
machinery on any dataset; ``bayesmeta compare`` sets a saved result beside a published table.

Exit codes: 0 ok; 2 bad input (the message names file, row and column; no traceback) or a bad
output path (refused before any work: a file, a folder with other files, an edited report without
``--force``, a parent that is a file, no permission, a read-only file system, a name too long);
3 a fit failed or did not converge (with what to try), or the output could not be finished (disk
full, file-size limit); 130 interrupted (SIGINT, Ctrl-C); 143 terminated (SIGTERM). On every
error and signal the previous report is left as it was and no temporary folder remains.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import signal
import sys
import time
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bayesmeta import _output
from bayesmeta._version import __version__
from bayesmeta.errors import BayesMetaError, DataError, FitError, ModelSpecError, OutputError

if TYPE_CHECKING:  # pandas and the analysis modules load in the command that uses them
    import pandas as pd

__all__ = ["main"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_FIT_FAILED = 3
EXIT_BAD_OUTPUT = 2
EXIT_WRITE_FAILED = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

_MEASURES = ("SMD", "MD", "OR", "RR", "RD", "generic")
#: The bundled SIMULATED review whose published numbers ``reproduce`` re-computes one by one.
_RECONSTRUCTION = "peer_support_simulated"


class _Progress:
    """Per-stage status lines on stderr, with elapsed time (silent with --quiet/--json)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.t0 = time.perf_counter()

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def _emit_json(obj: Any) -> None:
    def default(v: Any) -> Any:
        if hasattr(v, "item"):
            return v.item()
        return str(v)

    text = json.dumps(obj, indent=1, default=default, allow_nan=True)
    print(text.replace("NaN", "null"))


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    recs = df.to_dict(orient="records")
    return [
        {str(k): (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in recs
    ]


# ---------------------------------------------------------------------------- reproduce


def _cmd_reproduce(args: argparse.Namespace) -> int:
    import pandas as pd

    from bayesmeta.plan import load_plan
    from bayesmeta.report import evidence_table, side_by_side, write_report
    from bayesmeta.review import analyse_review, published_table, read_review

    say = _Progress(args.quiet or args.json)
    _output.check_target(args.out, force=args.force)  # refuse before any work starts
    _defer_dask_detection()
    _output.stage("read")
    plan = load_plan(args.plan)
    table, label, simulated = read_review(plan, args.data)
    say(f"plan: {plan.source}")
    say(f"data: {label}: {table.k} rows, {len(table.outcomes)} outcomes")
    published = published_table(plan)
    _output.stage("fit")
    analysis = analyse_review(
        table,
        plan=plan,
        data_label=label,
        simulated=simulated,
        published=published,
        seed=args.seed,
        draws=args.draws,
        tune=args.tune,
        engine=args.engine,
        progress=say,
    )
    bundled = plan.data is not None and plan.data.name == _RECONSTRUCTION and plan.data.bundled
    if args.data is None and bundled:  # the bundled reconstruction: every published number
        from bayesmeta.reconstruct import reproduction_check

        analysis.reproduction = reproduction_check()
    say(f"writing the report to {args.out}")
    out = write_report(analysis, args.out, force=args.force, progress=say)
    table_df = side_by_side(analysis)
    evidence = evidence_table(analysis)
    problems = analysis.convergence_problems()
    if args.json:
        _emit_json(
            {
                "data": label,
                "plan": plan.source,
                "simulated": simulated,
                "report": str(out),
                "outcomes": _records(analysis.comparison),
                "frequentist": _records(analysis.frequentist),
                "evidence": _records(analysis.model_averaging),
                "published_reproduced": _records(analysis.reproduction),
                "meta_regression": _records(analysis.regression_table()),
                "convergence_problems": problems,
            }
        )
    else:
        if simulated:
            print("SIMULATED DATA - not the trials' results")
        print(f"Data: {label}")
        with pd.option_context("display.width", 250, "display.max_columns", 20):
            print(table_df.to_string(index=False))
            print(
                "\nIs there an effect? (exact Bayesian model averaging; Lee & Wagenmakers' words)"
            )
            cols = ["Outcome", "k", "DL (data)", "Effect (model averaging)", "P(effect)"]
            print(evidence[cols].to_string(index=False))
        rep = analysis.reproduction
        if not rep.empty:
            n_ok = int(rep["reproduced"].sum())
            print(
                f"\nPublished numbers re-computed from the data (DL, RevMan 5): {n_ok} of "
                f"{len(rep)} reproduced at the paper's rounding"
            )
            for _, r in rep[~rep["reproduced"]].iterrows():
                print(
                    f"  not reproduced: {r['outcome']} {r['subgroup']} {r['quantity']}: "
                    f"published {r['published']:g}, re-computed {r['recomputed']:.4g}"
                )
        print(f"\nReport: {out / 'index.html'}")
    return _convergence_exit(problems)


def _convergence_exit(problems: list[str]) -> int:
    if not problems:
        return EXIT_OK
    print("bayesmeta: the fit's checks reported problems:", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    print(
        "What to try: --draws 2000 --tune 2000, or a tighter tau prior (--tau-prior); the "
        "report was written and lists every diagnostic.",
        file=sys.stderr,
    )
    return EXIT_FIT_FAILED


# ---------------------------------------------------------------------------- fit


def _parse_columns(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise ModelSpecError(
                f"--columns entry {part!r} must look like ours=yours, e.g. study=trial,ai=tpos"
            )
        ours, theirs = (s.strip() for s in part.split("=", 1))
        out[ours] = theirs
    return out


def _is_sheet(frame: pd.DataFrame) -> bool:
    """Whether a CSV is an extraction sheet (one row per trial and outcome, arm data)."""
    cols = {str(c).strip().lower() for c in frame.columns}
    return {"study", "outcome", "outcome_type"} <= cols


#: Standard data columns whose names may be replaced by the user's in error messages.
_DATA_COLUMNS = frozenset(
    ("yi", "vi", "sei", "m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ai", "bi", "ci", "di")
)


def _user_columns(err: DataError, columns: dict[str, str]) -> DataError:
    """Return the error with the standard column names replaced by the user's (``--columns``)."""
    msg = str(err)
    for ours, theirs in columns.items():
        mapped = f"{theirs} (--columns {ours}={theirs})"
        msg = msg.replace(f"'{ours}'", f"'{mapped}'")
        if ours in _DATA_COLUMNS:  # names that never occur in the prose of a message
            msg = re.sub(rf"(?<![\w']){re.escape(ours)}(?![\w'])", mapped, msg)
    if msg == str(err):
        return err
    column = columns.get(err.column or "", err.column)
    return DataError(msg, rows=err.rows, column=column)


def _load_fit_table(args: argparse.Namespace) -> Any:
    from bayesmeta.table import read_csv

    frame = read_csv(args.data)
    if _is_sheet(frame):
        from bayesmeta.sheet import read_sheet

        return read_sheet(args.data, convention=args.convention)
    columns = _parse_columns(args.columns)
    try:
        return _effect_table(args, frame, columns)
    except DataError as err:
        raise _user_columns(err, columns) from None


def _effect_table(args: argparse.Namespace, frame: pd.DataFrame, columns: dict[str, str]) -> Any:
    from bayesmeta.table import EffectTable

    mods = [m.strip() for m in args.mods.split(",")] if args.mods else []
    kwargs: dict[str, Any] = {"source": args.data, "line_offset": 2, "moderators": mods}
    if args.direction:
        kwargs["direction"] = args.direction
    arm_cols = {"m1i", "ai"} & (set(frame.columns) | set(columns))
    if args.measure and args.measure != "generic" and arm_cols:
        return EffectTable.from_arms(
            frame, args.measure, columns=columns, convention=args.convention, **kwargs
        )
    return EffectTable.from_frame(frame, columns=columns, measure=args.measure, **kwargs)


def _cmd_fit(args: argparse.Namespace) -> int:
    import pandas as pd

    from bayesmeta.models import Binomial, MetaRegression, MultiOutcome, RandomEffects
    from bayesmeta.review import frequentist_table

    say = _Progress(args.quiet or args.json)
    if args.out:
        _output.check_target(args.out, force=args.force)  # refuse before any work starts
    _output.stage("read")
    table = _load_fit_table(args)
    if args.outcome:
        table = table.for_outcome(args.outcome)
    priors = {
        k: v for k, v in (("tau", args.tau_prior), ("mu", args.mu_prior)) if v is not None
    } or None
    say(f"data: {args.data}: {table.k} rows, outcomes {table.outcomes}")
    if args.model == "regression":
        if not table.moderators:
            raise ModelSpecError("--model regression needs --mods column[,column...]")
        model: Any = MetaRegression(table, mods=table.moderators, priors=priors)
    elif args.model == "binomial":
        model = Binomial(table, priors=priors)
    elif len(table.outcomes) > 1:
        model = MultiOutcome(table, priors=priors)
    else:
        model = RandomEffects(table, priors=priors)
    say(f"fitting {type(model).__name__} ({args.engine}, {args.draws} draws x 4 chains)")
    from bayesmeta.errors import ConvergenceWarning

    _defer_dask_detection()
    _output.stage("fit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported below, with what to do
        result = model.fit(args.draws, engine=args.engine, random_seed=args.seed, tune=args.tune)
    comp = _with_scale(result.compare(), table)
    freq = _with_scale(
        frequentist_table(
            table,
            fits=(("DL", "z"), ("REML", "z"), ("REML", "knha")),
            mods=table.moderators if args.model == "regression" else None,
        ),
        table,
    )
    if args.out:
        say(f"writing {args.out}")
        with _output.output_folder(args.out, force=args.force) as tmp:
            result.to_netcdf(tmp / "posterior.nc")
            _output.write_csv(comp, tmp / "comparison.csv")
            _output.write_csv(freq, tmp / "frequentist.csv")
    problems = result.diagnostics().problems
    if args.json:
        _emit_json(
            {
                "model": model.spec(),
                "frequentist": _records(freq),
                "bayesian": _records(comp),
                "convergence_problems": problems,
            }
        )
    else:
        scales = ", ".join(sorted(set(freq["scale"])))
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print(
                f"Estimates on the {scales} scale"
                + (" (exponentiate for the ratio)" if "log" in scales else "")
            )
            print("Frequentist (metafor conventions; PI t = Higgins et al. 2009, k - 2 df):")
            print(freq.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
            print(
                f"\nBayesian ({result.engine} engine; posterior median, 95% equal-tailed interval):"
            )
            cols = ["outcome", "scale", "k", "mu_median", "mu_ci_lb", "mu_ci_ub", "tau_median"]
            cols += ["tau_ci_lb", "tau_ci_ub", "p_benefit", "pi_lb", "pi_ub", "note"]
            print(comp[cols].to_string(index=False, float_format=lambda v: f"{v:.4f}"))
            if args.model == "regression":
                print("\n" + result.summary().to_string(float_format=lambda v: f"{v:.4f}"))
    return _convergence_exit(problems)


def _defer_dask_detection() -> None:
    """Let xarray tell that no array is a Dask array without importing Dask (fit, reproduce).

    With Dask installed, xarray imports ``dask`` and ``dask.array`` the first time it wraps any
    array, only to ask whether the array is a Dask array or collection; that costs a quarter of
    a second, longer than the whole exact fit. Until Dask is imported no object can be either, so
    both questions are answered from ``sys.modules`` and handed to xarray once Dask is loaded.
    Nothing changes if xarray's internals differ (Dask is then imported as before).
    """
    try:
        from xarray.namedarray import pycompat
        from xarray.namedarray import utils as xr_utils
    except ImportError:  # pragma: no cover - another xarray layout
        return
    found = getattr(pycompat, "_cached_duck_array_modules", None)
    original = getattr(xr_utils, "is_dask_collection", None)
    if "dask" in sys.modules or not isinstance(found, dict) or original is None:
        return
    if getattr(original, "_bayesmeta_deferred", False) or "dask" in found:
        return
    cache: dict[str, Any] = found

    class _DaskArrayType:
        """xarray's record of ``dask``: no array type until ``dask.array`` is imported."""

        @property
        def type(self) -> tuple[type, ...]:
            return self._real().type if "dask.array" in sys.modules else ()

        def __getattr__(self, name: str) -> Any:  # module, version, available: load Dask
            return getattr(self._real(), name)

        @staticmethod
        def _real() -> Any:
            real = pycompat.DuckArrayModule("dask")
            cache["dask"] = real
            return real

    def is_dask_collection(x: object) -> bool:
        return "dask" in sys.modules and bool(original(x))

    is_dask_collection._bayesmeta_deferred = True  # type: ignore[attr-defined]
    cache["dask"] = _DaskArrayType()
    xr_utils.is_dask_collection = is_dask_collection  # type: ignore[assignment]


def _with_scale(frame: pd.DataFrame, table: Any) -> pd.DataFrame:
    """Add the scale of each outcome's numbers (e.g. ``log RR``) and, if missing, the trial note."""
    from bayesmeta.review import scale_of, trial_note

    measures = table.data.groupby("outcome")["measure"].first()
    out = frame.copy()
    out.insert(1, "scale", out["outcome"].map(lambda o: scale_of(measures[o])))
    if "note" not in out.columns and "k" in out.columns:
        out["note"] = out["k"].map(lambda k: trial_note(int(k)))
    return out


# ---------------------------------------------------------------------------- compare


def _cmd_compare(args: argparse.Namespace) -> int:
    import pandas as pd

    from bayesmeta.results import Result
    from bayesmeta.table import read_csv

    result = Result.load(args.result)
    published = read_csv(args.published)
    missing = [c for c in ("outcome", "estimate", "ci_lb", "ci_ub") if c not in published.columns]
    if missing:
        raise DataError(
            f"the published table needs columns outcome, estimate, ci_lb, ci_ub; missing {missing}",
            source=args.published,
            column=missing[0],
        )
    for c in ("estimate", "ci_lb", "ci_ub"):
        published[c] = pd.to_numeric(published[c], errors="coerce")
    comp = result.compare(published=published)
    for msg in _compare_warnings(comp, published, result.outcomes):
        print(f"bayesmeta: warning: {msg}", file=sys.stderr)
    comp = _with_scale(comp, result.table)
    comp["reproduced"] = _reproduced(comp)
    comp["difference"] = comp["dl_estimate"] - comp["published_estimate"]
    if args.json:
        _emit_json(_records(comp))
    else:
        cols = ["outcome", "scale", "k", "published_estimate", "published_ci_lb"]
        cols += ["published_ci_ub", "dl_estimate", "dl_ci_lb", "dl_ci_ub", "reproduced"]
        cols += ["difference", "mu_median", "mu_ci_lb", "mu_ci_ub"]
        print(comp[cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return EXIT_OK


def _reproduced(comp: pd.DataFrame) -> pd.Series:
    """Whether DL gives the published estimate and CI at two decimals (None without one)."""
    import pandas as pd

    out: list[bool | None] = []
    for _, r in comp.iterrows():
        pub = [float(r.get(f"published_{c}", math.nan)) for c in ("estimate", "ci_lb", "ci_ub")]
        if not all(math.isfinite(v) for v in pub):
            out.append(None)
            continue
        ours = [r[f"dl_{c}"] for c in ("estimate", "ci_lb", "ci_ub")]
        out.append(all(round(a, 2) == round(b, 2) for a, b in zip(ours, pub, strict=True)))
    return pd.Series(out, index=comp.index, dtype=object)


def _compare_warnings(
    comp: pd.DataFrame, published: pd.DataFrame, outcomes: list[str]
) -> list[str]:
    """Warn of published outcomes that match nothing, and of ratios beside log values."""
    from bayesmeta.review import LOG_SCALE, scale_of

    out = []
    unmatched = sorted(set(published["outcome"].astype(str)) - set(outcomes))
    if unmatched:
        out.append(
            f"published outcome(s) {unmatched} match no outcome of the result and are ignored; "
            f"the result's outcomes are {outcomes}"
        )
    for _, r in comp.iterrows():
        lb = float(r.get("published_ci_lb", math.nan))
        est = float(r.get("published_estimate", math.nan))
        if r["measure"] in LOG_SCALE and math.isfinite(lb) and lb > 0 and est > 0:
            dl = r["dl_estimate"]
            if abs(math.log(est) - dl) < abs(est - dl):
                out.append(
                    f"{r['outcome']}: the published {r['measure']} {est:g} (CI lower bound "
                    f"{lb:g} > 0) looks like a ratio, but the result is on the "
                    f"{scale_of(r['measure'])} scale; give the published values as "
                    "logarithms (log of the ratio and of its CI bounds)"
                )
    return out


# ---------------------------------------------------------------------------- parser


_FORCE_HELP = (
    "replace a previous bayesmeta report at --out even if its files were edited (files it did "
    "not write are kept; a folder that is not a bayesmeta report is never replaced)"
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bayesmeta",
        description="Bayesian and frequentist meta-analysis (PyMC, metafor-exact estimators).",
    )
    p.add_argument("--version", action="version", version=f"bayesmeta {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    common.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    common.add_argument(
        "--verbose", action="store_true", help="show PyMC/PyTensor messages (silenced by default)"
    )
    common.add_argument("--seed", type=int, default=20201103, help="random seed (default 20201103)")
    sampling = argparse.ArgumentParser(add_help=False)
    sampling.add_argument("--draws", type=int, default=1000, help="posterior draws per chain")
    sampling.add_argument("--tune", type=int, default=1000, help="tuning steps per chain")
    sampling.add_argument(
        "--engine",
        choices=("auto", "exact", "nuts"),
        default="auto",
        help="auto (default): exact independent draws where the model allows, NUTS otherwise",
    )

    r = sub.add_parser(
        "reproduce",
        parents=[common, sampling],
        help="a review's analysis plan and report (default: the bundled peer-support review)",
        description="Run a review plan on an extraction sheet and write the report. Default: "
        "the bundled peer-support plan on its bundled SIMULATED sheet; --data alone runs the "
        "peer-support plan on your sheet; --plan runs any review (docs/guide/plans.md).",
    )
    r.add_argument(
        "--plan",
        default="peer_support",
        help="review plan (TOML or JSON: outcomes, subgroup variable, moderators, published "
        "table) or a bundled plan's name (default %(default)s)",
    )
    r.add_argument(
        "--data",
        default=None,
        help="extraction sheet (CSV, docs/extraction-sheet.md); default: the plan's [data] sheet",
    )
    r.add_argument("--out", default="bayesmeta-report", help="report folder (default %(default)s)")
    r.add_argument("--force", action="store_true", help=_FORCE_HELP)
    r.set_defaults(func=_cmd_reproduce)

    f = sub.add_parser("fit", parents=[common, sampling], help="fit any dataset")
    f.add_argument(
        "data",
        help="CSV: ready effects (study, yi, vi or sei), arm-level columns, or an extraction sheet",
    )
    f.add_argument("--measure", choices=_MEASURES, default=None, help="effect measure")
    f.add_argument("--columns", default=None, help="renaming ours=yours,... e.g. study=trial")
    f.add_argument("--convention", choices=("metafor", "revman"), default="metafor")
    f.add_argument("--direction", choices=("higher", "lower"), default=None)
    f.add_argument("--outcome", default=None, help="fit this outcome only")
    f.add_argument("--model", choices=("re", "binomial", "regression"), default="re")
    f.add_argument("--mods", default=None, help="moderator columns, comma-separated")
    f.add_argument("--tau-prior", default=None, help="e.g. 'half_normal(0.5)'")
    f.add_argument("--mu-prior", default=None, help="e.g. 'normal(0, 10)'")
    f.add_argument("--out", default=None, help="folder for posterior.nc and tables")
    f.add_argument("--force", action="store_true", help=_FORCE_HELP)
    f.set_defaults(func=_cmd_fit)

    c = sub.add_parser("compare", parents=[common], help="a saved result against a published table")
    c.add_argument("result", help="posterior NetCDF written by fit or reproduce")
    c.add_argument("--published", required=True, help="CSV with outcome, estimate, ci_lb, ci_ub")
    c.set_defaults(func=_cmd_compare)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code.

    Examples
    --------
    >>> import contextlib, io
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     code = main(["fit", "no-such-file.csv"])
    >>> code, err.getvalue().strip()
    (2, 'bayesmeta: error: no-such-file.csv: file does not exist')
    >>> out = io.StringIO()
    >>> with contextlib.redirect_stdout(out):
    ...     try:
    ...         main(["--help"])
    ...     except SystemExit as stop:
    ...         print(stop.code)
    >>> out.getvalue().splitlines()[0], out.getvalue().splitlines()[-1]
    ('usage: bayesmeta [-h] [--version] {reproduce,fit,compare} ...', '0')
    """
    args = _parser().parse_args(argv)
    with _output.signal_guard():
        try:
            code = _run(args)
        except KeyboardInterrupt as err:  # SIGINT/SIGTERM, or Ctrl-C outside the guard
            got = _output.acknowledge()
            code = _interrupted(got if got is not None else getattr(err, "signum", signal.SIGINT))
        signum = _output.acknowledge()
        if signum is not None and code < EXIT_INTERRUPTED:  # a signal a library swallowed
            code = _interrupted(signum)
    return code


def _interrupted(signum: int) -> int:
    name = signal.Signals(signum).name
    print(
        f"bayesmeta: {'interrupted' if signum == signal.SIGINT else 'terminated'} ({name}); "
        "nothing was written or replaced",
        file=sys.stderr,
    )
    return 128 + int(signum)


def _quiet_libraries() -> None:
    """Silence PyMC/PyTensor/nutpie log lines and library warnings (``--verbose`` keeps them)."""
    import logging

    for name in ("pymc", "pytensor", "nutpie", "numba", "arviz"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for module in ("pymc", "pytensor", "nutpie", "arviz", "numba", "xarray"):
        warnings.filterwarnings("ignore", module=module)


def _run(args: argparse.Namespace) -> int:
    if not getattr(args, "verbose", False):
        _quiet_libraries()
    try:
        return int(args.func(args))
    except OutputError as err:
        print(f"bayesmeta: error: {err}", file=sys.stderr)
        return err.exit_code
    except (DataError, ModelSpecError) as err:
        print(f"bayesmeta: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FitError as err:
        print(f"bayesmeta: fit failed: {err}", file=sys.stderr)
        return EXIT_FIT_FAILED
    except BayesMetaError as err:
        print(f"bayesmeta: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
