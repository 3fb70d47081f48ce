"""The ``bayesmeta`` command line.

Exit codes: 0 ok; 2 bad input (the message names file, row and column; no traceback);
3 a fit failed or did not converge.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import pandas as pd

from bayesmeta.errors import BayesMetaError, DataError, FitError, ModelSpecError

__all__ = ["frequentist_table", "main"]

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_FIT_FAILED = 3

#: The frequentist analyses reported side by side: the review's published method (DL with a
#: normal test) and the modern default (REML with Knapp-Hartung).
DEFAULT_FITS: tuple[tuple[str, str], ...] = (("DL", "z"), ("REML", "knha"))


def frequentist_table(table: Any, fits: Sequence[tuple[str, str]] = DEFAULT_FITS) -> pd.DataFrame:
    """One row per outcome and estimator: k, estimate, CI, tau2, I2, Q, prediction interval.

    Parameters
    ----------
    table
        An :class:`~bayesmeta.table.EffectTable`.
    fits
        (method, test) pairs, metafor's codes.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable
    >>> tab = EffectTable(pd.DataFrame({"study": list("abc"), "yi": [0.1, 0.4, 0.2],
    ...                                 "vi": [0.02, 0.03, 0.01]}))
    >>> frequentist_table(tab)[["method", "k"]].values.tolist()
    [['DL', 3], ['REML+KH', 3]]
    """
    from bayesmeta.errors import NotEstimableWarning
    from bayesmeta.frequentist import rma

    rows = []
    for outcome, sub in table.by_outcome():
        for method, test in fits:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotEstimableWarning)
                r = rma(sub, method=method, test=test)
            rows.append(
                {
                    "outcome": outcome,
                    "method": method + ("+KH" if test == "knha" else ""),
                    "k": r.k,
                    "estimate": float(r.beta[0]),
                    "ci_lb": float(r.ci_lb[0]),
                    "ci_ub": float(r.ci_ub[0]),
                    "pval": float(r.pval[0]),
                    "tau2": r.tau2,
                    "I2": r.I2,
                    "QE": r.QE,
                    "QEp": r.QEp,
                    "pi_lb": r.pi_lb,
                    "pi_ub": r.pi_ub,
                }
            )
    return pd.DataFrame(rows)


def _print_table(df: pd.DataFrame, as_json: bool) -> None:
    if as_json:
        print(json.dumps(df.to_dict(orient="records"), indent=1, default=float))
        return
    fmt = df.copy()
    fmt["estimate (95% CI)"] = [
        f"{e:6.2f} ({lb:6.2f}, {ub:6.2f})"
        for e, lb, ub in zip(df.estimate, df.ci_lb, df.ci_ub, strict=True)
    ]
    fmt["95% PI"] = [
        f"({lb:6.2f}, {ub:6.2f})" if pd.notna(lb) else ""
        for lb, ub in zip(df.pi_lb, df.pi_ub, strict=True)
    ]
    fmt["tau2"] = df.tau2.map(lambda v: f"{v:.3f}" if pd.notna(v) else "n/e")
    fmt["I2 %"] = df.I2.map(lambda v: f"{v:.0f}" if pd.notna(v) else "n/e")
    cols = ["outcome", "method", "k", "estimate (95% CI)", "tau2", "I2 %", "95% PI"]
    print(fmt[cols].to_string(index=False))


def _load_sheet(path: str | None) -> tuple[Any, str]:
    """The review's data: an extraction sheet, or the bundled SIMULATED review by default."""
    from bayesmeta import datasets
    from bayesmeta.sheet import read_sheet

    if path is None:
        table = read_sheet(datasets.load_peer_support_simulated(), source="peer_support_simulated")
        return (
            table,
            "bundled SIMULATED peer-support review (simulated data, not the trials' results)",
        )
    return read_sheet(path), path


def _load_table(path: str, args: argparse.Namespace) -> Any:
    """A long table of ready effects (study, yi, vi or sei, ...) for ``bayesmeta fit``."""
    from bayesmeta.table import EffectTable

    return EffectTable.from_csv(path, direction=args.direction)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    table, label = _load_sheet(args.data)
    df = frequentist_table(table)
    if not args.json:
        print(f"Data: {label}")
    _print_table(df, args.json)
    return EXIT_OK


def _cmd_fit(args: argparse.Namespace) -> int:
    table = _load_table(args.data, args)
    if args.outcome:
        table = table.for_outcome(args.outcome)
    df = frequentist_table(table, fits=[(args.method, args.test)])
    _print_table(df, args.json)
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bayesmeta", description="Bayesian and frequentist meta-analysis."
    )
    sub = p.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="machine-readable output")
    common.add_argument("--quiet", action="store_true", help="no progress messages")
    common.add_argument("--seed", type=int, default=20201103, help="random seed")
    common.add_argument(
        "--direction",
        choices=("higher", "lower"),
        default=None,
        help="which values favour the intervention (if the data have no direction column)",
    )
    r = sub.add_parser("reproduce", parents=[common], help="the review's analysis plan")
    r.add_argument("--data", default=None, help="extraction sheet (CSV); default: bundled data")
    r.add_argument("--out", default="bayesmeta-report", help="report folder")
    r.set_defaults(func=_cmd_reproduce)
    f = sub.add_parser("fit", parents=[common], help="fit one dataset")
    f.add_argument("data", help="CSV with study, yi, vi or sei (and outcome, moderators)")
    f.add_argument("--outcome", default=None)
    f.add_argument("--method", default="REML")
    f.add_argument("--test", default="z", choices=("z", "knha"))
    f.set_defaults(func=_cmd_fit)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (DataError, ModelSpecError) as err:
        print(f"bayesmeta: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FitError as err:
        print(f"bayesmeta: fit failed: {err}", file=sys.stderr)
        return EXIT_FIT_FAILED
    except BayesMetaError as err:  # pragma: no cover - every subclass is handled above
        print(f"bayesmeta: error: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
