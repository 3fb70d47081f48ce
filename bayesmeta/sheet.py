r"""The researcher's extraction sheet: one row per trial and outcome, in the shape RevMan holds.

A sheet is a CSV file (or a DataFrame) with one row per (trial, outcome). Each row carries either
arm-level data (means, SDs and sizes of a continuous outcome; events and totals of a dichotomous
one) or a ready effect estimate ``yi`` with its standard error ``sei`` (RevMan's "generic inverse
variance" rows). :func:`read_sheet` checks every cell, computes ``yi`` and ``vi`` with
:func:`~bayesmeta.effect_sizes.escalc` for each outcome, and returns an
:class:`~bayesmeta.table.EffectTable` with the trial-level moderators coded 0/1.

Errors are :class:`~bayesmeta.errors.DataError`\\ s naming the file, the line (the header is line
1), the study and outcome, the column, and what to do. :func:`sheet_columns` is the column
dictionary; :func:`write_template` writes an empty sheet (header only). ``docs/extraction-sheet.md``
is the user guide, with a filled-in example.

Examples
--------
>>> import pandas as pd
>>> sheet = pd.DataFrame({
...     "study": ["Trial A", "Trial B", "Trial A"],
...     "outcome": ["recovery", "recovery", "hospitalised"],
...     "outcome_type": ["continuous", "continuous", "dichotomous"],
...     "measure": ["SMD", "SMD", "OR"],
...     "direction": ["higher", "higher", "lower"],
...     "m1i": [38.2, 41.0, None], "sd1i": [10.5, 11.2, None], "n1i": [60, 45, 70],
...     "m2i": [35.9, 40.1, None], "sd2i": [11.0, 10.8, None], "n2i": [58, 47, 71],
...     "ai": [None, None, 20], "ci": [None, None, 22],
... })
>>> tab = read_sheet(sheet)
>>> tab.outcomes, tab.k
(['recovery', 'hospitalised'], 3)
>>> round(float(tab.data.yi[0]), 4)
0.2126
"""

from __future__ import annotations

import copy
import os
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesmeta.effect_sizes import CONVENTIONS, escalc
from bayesmeta.errors import DataError, ModelSpecError, NotEstimableWarning
from bayesmeta.plan import MEASURES_BY_TYPE, OUTCOME_TYPES, ReviewPlan
from bayesmeta.table import DIRECTIONS, EffectTable, read_csv

__all__ = [
    "MEASURES_BY_TYPE",
    "OUTCOME_TYPES",
    "read_sheet",
    "sheet_columns",
    "template_columns",
    "write_template",
]

_REQUIRED = ("study", "outcome", "outcome_type", "measure", "direction")
_ARMS: dict[str, tuple[str, ...]] = {
    "continuous": ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),
    "dichotomous": ("ai", "n1i", "ci", "n2i"),
}
_CORE_ARMS: dict[str, tuple[str, ...]] = {
    "continuous": ("m1i", "sd1i", "m2i", "sd2i"),
    "dichotomous": ("ai", "ci"),
}
_READY = ("yi", "sei")
_NUMERIC = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ai", "ci", "yi", "sei", "follow_up_months")
_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_MAX_SHOWN = 10

_COLUMNS: dict[str, dict[str, Any]] = {
    "study": {
        "description": "trial label, the same on every row of the trial (e.g. 'Solomon 1995')",
        "type": "string",
        "rows": "all",
    },
    "outcome": {
        "description": "outcome key in snake_case (e.g. 'quality_of_life'); rows with the same "
        "key are pooled together",
        "type": "string",
        "rows": "all",
    },
    "outcome_type": {
        "description": "kind of data on the row",
        "type": "category",
        "values": {
            "continuous": "arm means, SDs and sizes in m1i, sd1i, n1i, m2i, sd2i, n2i",
            "dichotomous": "arm events and totals in ai, n1i, ci, n2i",
            "generic": "a ready effect estimate yi with its standard error sei",
        },
        "rows": "all",
    },
    "measure": {
        "description": "effect measure, one per outcome: SMD or MD (continuous), OR, RR or RD "
        "(dichotomous); for generic rows the measure of yi (also HR, IRR, or GEN for any other)",
        "type": "category",
        "values": {
            "SMD": "standardised mean difference (Hedges' g)",
            "MD": "mean difference, in the outcome's units",
            "OR": "odds ratio (log scale for yi)",
            "RR": "risk ratio (log scale for yi)",
            "RD": "risk difference",
            "HR": "hazard ratio (generic rows; log scale)",
            "IRR": "incidence rate ratio (generic rows; log scale)",
            "GEN": "any other measure (generic rows), on its analysis scale",
        },
        "rows": "all",
    },
    "direction": {
        "description": "which values of the outcome favour the intervention, one per outcome",
        "type": "category",
        "values": {
            "higher": "higher values (a positive SMD, a ratio above 1) favour the intervention",
            "lower": "lower values (a negative SMD, a ratio below 1) favour the intervention",
        },
        "rows": "all",
    },
    "m1i": {"description": "mean, intervention arm", "type": "number", "rows": "continuous"},
    "sd1i": {
        "description": "standard deviation (> 0), intervention arm; not a standard error",
        "type": "number",
        "rows": "continuous",
    },
    "n1i": {
        "description": "participants analysed in the intervention arm (>= 2 for continuous "
        "rows); the arm total for dichotomous rows",
        "type": "number",
        "unit": "participants",
        "rows": "continuous, dichotomous",
    },
    "m2i": {"description": "mean, control arm", "type": "number", "rows": "continuous"},
    "sd2i": {
        "description": "standard deviation (> 0), control arm; not a standard error",
        "type": "number",
        "rows": "continuous",
    },
    "n2i": {
        "description": "participants analysed in the control arm (>= 2 for continuous rows); "
        "the arm total for dichotomous rows",
        "type": "number",
        "unit": "participants",
        "rows": "continuous, dichotomous",
    },
    "ai": {
        "description": "participants with the event, intervention arm (0 to n1i)",
        "type": "integer",
        "unit": "participants",
        "rows": "dichotomous",
    },
    "ci": {
        "description": "participants with the event, control arm (0 to n2i)",
        "type": "integer",
        "unit": "participants",
        "rows": "dichotomous",
    },
    "yi": {
        "description": "ready effect estimate, intervention minus (or over) control, on the "
        "measure's analysis scale (log for ratios)",
        "type": "number",
        "rows": "generic (or a continuous/dichotomous row without arm data)",
    },
    "sei": {
        "description": "standard error of yi (> 0)",
        "type": "number",
        "rows": "generic (or a continuous/dichotomous row without arm data)",
    },
    "follow_up_months": {
        "description": "follow-up of the data on the row (the review used each trial's longest)",
        "type": "number",
        "unit": "months",
        "rows": "optional",
    },
}


def sheet_columns(plan: ReviewPlan | None = None) -> dict[str, dict[str, Any]]:
    """Return the sheet's column dictionary, in template order.

    Each entry has ``description``, ``type`` (``string``, ``number``, ``integer``,
    ``category``), ``rows`` (which rows use the column) and, where they apply, ``values`` (the
    allowed values and their meaning) and ``unit``. With a review ``plan``, the columns it
    declares (moderators, the subgroup variable) follow the standard ones. A fresh copy on every
    call.

    Examples
    --------
    >>> cols = sheet_columns()
    >>> list(cols)[:5]
    ['study', 'outcome', 'outcome_type', 'measure', 'direction']
    >>> from bayesmeta.plan import load_plan
    >>> cols = sheet_columns(load_plan("peer_support"))
    >>> sorted(cols["peer_role"]["values"]), cols["org_support_1"]["type"]
    (['add-on', 'substitute'], 'integer')
    """
    out = copy.deepcopy(_COLUMNS)
    if plan is not None:
        out.update(_plan_columns(plan))
    return out


def _plan_columns(plan: ReviewPlan) -> dict[str, dict[str, Any]]:
    """Column dictionary entries of the sheet columns a plan declares."""
    out: dict[str, dict[str, Any]] = {}
    why = f"declared by the review plan ({plan.source}); trial level"
    for m in plan.moderators:
        if m.kind == "numeric":
            out[m.name] = {"description": f"{m.label}: a number", "type": "number", "rows": why}
        elif m.kind == "binary":
            out[m.name] = {
                "description": f"{m.label}: 0 or 1",
                "type": "integer",
                "values": {"0": m.values[0], "1": m.values[1]},
                "rows": why,
            }
    sg = plan.subgroup
    if sg is not None:
        derived = f"; derived from {sg.moderator} when blank" if sg.moderator else ""
        out[sg.column] = {
            "description": f"subgroup variable: {sg.name}{derived}",
            "type": "category",
            "values": {lv: sg.label(lv) for lv in sg.levels},
            "rows": why,
        }
    for m in plan.moderators:
        if m.kind == "level" and m.column is not None:
            out[m.column] = {
                "description": f"{m.label}; gives moderator {m.name} (1 = {m.equals})",
                "type": "category",
                "values": {lv: lv for lv in m.levels},
                "rows": why,
            }
    return {c: out[c] for c in plan.sheet_columns()}


def template_columns(plan: ReviewPlan | None = None) -> list[str]:
    """Return the template's header: every column of :func:`sheet_columns`, in order.

    Examples
    --------
    >>> from bayesmeta.plan import load_plan
    >>> template_columns()[:3], "org_support_level" in template_columns()
    (['study', 'outcome', 'outcome_type'], False)
    >>> template_columns(load_plan("peer_support"))[-2:]
    ['org_support_level', 'peer_role']
    """
    return list(sheet_columns(plan))


def write_template(
    path: str | os.PathLike[str], *, plan: ReviewPlan | None = None, overwrite: bool = False
) -> Path:
    """Write an empty extraction sheet: the header row only, as a UTF-8 CSV.

    Parameters
    ----------
    path
        Where to write it.
    plan
        A review plan whose declared columns (moderators, subgroup variable) are added.
    overwrite
        Replace an existing file that is itself an empty template (a header row of sheet
        columns and no data). Any other file is never replaced, so a filled-in sheet is not lost.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    OutputError
        If ``path`` exists (and ``overwrite`` is False or it holds more than an empty template),
        or cannot be written. ``OutputError`` is an ``OSError``.

    Examples
    --------
    >>> import tempfile, os
    >>> p = write_template(os.path.join(tempfile.mkdtemp(), "sheet.csv"))
    >>> p.read_text().splitlines()[0].split(",")[:3]
    ['study', 'outcome', 'outcome_type']
    """
    from bayesmeta._output import replace_file

    known = {c.lower() for c in template_columns(plan)}

    def empty_template(p: Path) -> bool:
        if not overwrite:
            return False
        try:
            lines = [ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError):
            return False
        return len(lines) == 1 and {c.strip().lower() for c in lines[0].split(",")} <= known

    text = ",".join(template_columns(plan)) + "\n"
    return replace_file(
        path,
        lambda tmp: tmp.write_text(text, encoding="utf-8"),
        may_replace=empty_template,
        what="an empty bayesmeta template that overwrite=True may replace",
    )


def read_sheet(
    path_or_frame: str | os.PathLike[str] | pd.DataFrame,
    *,
    convention: str = "metafor",
    source: str | None = None,
    plan: ReviewPlan | None = None,
) -> EffectTable:
    r"""Read and check an extraction sheet; compute effect sizes; return an EffectTable.

    Parameters
    ----------
    path_or_frame
        A CSV file (UTF-8, comma separated, header row) or a DataFrame with the sheet's columns
        (see :func:`sheet_columns`). Column names are matched ignoring case and surrounding
        spaces; columns not in the dictionary are kept unchanged. Wholly blank rows are skipped.
    convention
        How ``escalc`` computes arm-level effect sizes: ``"metafor"`` (default) or ``"revman"``
        (Review Manager 5: Hedges' g with the approximate correction, RevMan's zero-cell rules).
    source
        Name used in error messages (default: the file's path).
    plan
        A :class:`~bayesmeta.plan.ReviewPlan`: its outcomes (every sheet outcome must be
        declared, with the plan's ``measure``, ``direction`` and, where the plan gives it,
        ``outcome_type``), its moderators (0/1 or numeric columns, and derived ones) and
        its subgroup column are read and checked. Without a plan the sheet has no moderators
        and any extra column is kept as text.

    Returns
    -------
    EffectTable
        One row per sheet row with an estimable effect: ``study``, ``outcome``, ``yi``, ``vi``,
        ``sei``, ``measure``, ``direction``, ``outcome_type``, the numeric arm columns and
        ``follow_up_months``; with a ``plan``, its moderators (as floats, registered in
        ``table.moderators`` in the plan's order), the subgroup column and the category columns
        of derived moderators (as text). ``table.data.attrs["convention"]`` records the
        convention.

    Raises
    ------
    DataError
        With the line (CSV; the header is line 1) or 1-based row (DataFrame), the study and
        outcome, and the column: a missing required column; text in a numeric column; an SD
        <= 0; an arm size < 2 (continuous) or < 1 (dichotomous); events < 0, > the arm total or
        not whole; an unknown outcome_type, measure or direction; a measure that does not fit
        the outcome_type; an outcome with more than one measure or direction; a row with
        neither arm data nor ``yi``/``sei``, or with both; ``sei`` <= 0; a duplicated (study,
        outcome). With a plan: an undeclared outcome, or one whose measure, direction or
        outcome_type differs from the plan; a declared moderator or subgroup column missing
        from the sheet or blank; a 0/1 moderator not 0 or 1; an unknown category; a subgroup
        level that disagrees with its coding moderator; a trial-level column that differs
        between a trial's rows.
    ModelSpecError
        Unknown ``convention``.

    Warns
    -----
    NotEstimableWarning
        Rows whose effect cannot be estimated (e.g. no events in either arm under
        ``convention="revman"``) are left out, naming their lines.

    Notes
    -----
    The effect sizes are those of :func:`bayesmeta.effect_sizes.escalc` on each outcome's
    arm-level rows, with arm 1 the intervention. A row with a ready ``yi``/``sei`` gives
    :math:`v_i = \mathrm{sei}^2`. Category cells match the plan's levels ignoring case, spaces,
    ``-`` and ``_`` (``Add on`` is ``add-on``).

    See also: :func:`write_template`, :meth:`bayesmeta.table.EffectTable.from_arms`.

    Examples
    --------
    >>> from bayesmeta import datasets
    >>> from bayesmeta.plan import load_plan
    >>> table = read_sheet(datasets.load_peer_support_simulated(), plan=load_plan("peer_support"))
    >>> len(table.outcomes), table.moderators[:2]
    (11, ['org_support_higher', 'peer_add_on'])
    """
    if convention not in CONVENTIONS:
        raise ModelSpecError(
            f"unknown convention {convention!r}; choose one of {', '.join(map(repr, CONVENTIONS))}"
        )
    if isinstance(path_or_frame, pd.DataFrame):
        frame = _frame_as_text(path_or_frame)
        lines = np.arange(1, len(frame) + 1)
        sheet = _Sheet(frame, lines, source=source, word="row")
    else:
        src = source if source is not None else str(path_or_frame)
        frame, line_list = _read_csv_lines(path_or_frame, src)
        sheet = _Sheet(frame, np.asarray(line_list), source=src, word="line")
    return sheet.to_table(convention, plan)


# ------------------------------------------------------------------------------------ reading


def _frame_as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as stripped text, missing cells as ''; duplicate names are kept for the check."""
    cells = {}
    for j in range(frame.shape[1]):
        s = frame.iloc[:, j]
        cells[j] = [_cell_text(v) for v in s.astype(object).where(s.notna(), "").tolist()]
    out = pd.DataFrame(cells, index=range(len(frame)), dtype=object)
    out.columns = [str(c) for c in frame.columns]
    return out


def _cell_text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v).strip()


def _read_csv_lines(path: str | os.PathLike[str], source: str) -> tuple[pd.DataFrame, list[int]]:
    """Read a CSV as stripped text cells ('' when blank), keeping the line of each record.

    File-level problems (missing, folder, binary, not UTF-8, bad quotes, wrong delimiter,
    duplicated columns, extra fields) are :func:`bayesmeta.table.read_csv`'s.
    """
    try:
        frame = read_csv(path)
    except DataError as err:
        raise DataError(str(err).removeprefix(f"{path}: "), rows=err.rows, column=err.column,
                        source=source) from None  # fmt: skip
    unnamed = [j + 1 for j, c in enumerate(frame.columns) if str(c).startswith("Unnamed: ")]
    if unnamed:
        raise DataError(
            f"line 1 (header): column(s) {unnamed} have no name; line 1 must be the header row "
            "(does the file start with data? bayesmeta.sheet.write_template writes the header)",
            source=source,
        )
    lines = [int(i) for i in frame.index]
    text = frame.apply(lambda col: col.map(lambda v: "" if v is None else str(v).strip()))
    return text.reset_index(drop=True).astype(object), lines


# ------------------------------------------------------------------------------------ checking


class _Sheet:
    """The sheet as text cells with line numbers, checked column by column."""

    def __init__(self, frame: pd.DataFrame, lines: np.ndarray, *, source: str | None, word: str):
        cols = [str(c).strip().lower() for c in frame.columns]
        dup = sorted({c for c in cols if cols.count(c) > 1})
        self.source = source
        self.word = word
        if dup:
            raise DataError(
                f"{self._header()}: column(s) {dup} appear more than once; keep one of each",
                column=dup[0],
                source=source,
            )
        frame = frame.copy()
        frame.columns = cols
        blank = np.array([not any(str(v) for v in row) for row in frame.itertuples(index=False)])
        if blank.any():
            frame = frame.loc[~blank].reset_index(drop=True)
            lines = lines[~blank]
        if frame.empty:
            raise DataError("the sheet has no data rows", source=source)
        self.df = frame
        self.lines = lines
        self.n = len(frame)

    # ------------------------------------------------------------ messages
    def _header(self) -> str:
        return "line 1 (header)" if self.word == "line" else "the columns"

    def _where(self, idx: Sequence[int] | np.ndarray) -> str:
        idx = np.asarray(idx, dtype=int)
        parts = []
        for i in idx[:_MAX_SHOWN]:
            label = ""
            if "study" in self.df.columns and "outcome" in self.df.columns:
                label = (
                    f" (study {self.df['study'].iat[i]!r}, outcome {self.df['outcome'].iat[i]!r})"
                )
            parts.append(f"{self.lines[i]}{label}")
        more = f" and {idx.size - _MAX_SHOWN} more" if idx.size > _MAX_SHOWN else ""
        return f"{self.word}{'s' if idx.size > 1 else ''} {', '.join(parts)}{more}"

    def fail(self, mask: np.ndarray, column: str, problem: str, todo: str) -> None:
        """Raise a DataError for the rows where ``mask`` holds, if any."""
        idx = np.flatnonzero(mask)
        if idx.size == 0:
            return
        raise DataError(
            f"{self._where(idx)}: column {column!r} {problem}. {todo}",
            rows=idx.tolist(),
            column=column,
            source=self.source,
        )

    def missing_columns(self, missing: list[str], why: str) -> None:
        if missing:
            raise DataError(
                f"{self._header()}: missing required column(s) {missing} ({why}); add them to "
                f"the header (bayesmeta.sheet.write_template writes every column)",
                column=missing[0],
                source=self.source,
            )

    # ------------------------------------------------------------ cell access
    def text(self, col: str) -> pd.Series:
        if col not in self.df.columns:
            return pd.Series([""] * self.n, dtype=object)
        return self.df[col].astype(str).str.strip()

    def filled(self, col: str) -> np.ndarray:
        return (self.text(col) != "").to_numpy()

    def numbers(self, col: str) -> np.ndarray:
        """Return the column as floats (NaN where blank); text raises a DataError with the line."""
        s = self.text(col)
        num = pd.to_numeric(s.where(s != "", None), errors="coerce").to_numpy(dtype=float)
        bad = (s != "").to_numpy() & ~np.isfinite(num)
        if bad.any():
            first = s.iat[int(np.flatnonzero(bad)[0])]
            self.fail(
                bad,
                col,
                f"holds text or a non-finite value where a number is needed (first: {first!r})",
                "Enter a plain number with '.' as the decimal mark, or leave the cell blank",
            )
        return num

    def choice(
        self, col: str, allowed: Sequence[str], aliases: dict[str, str] | None = None
    ) -> pd.Series:
        s = self.text(col).str.lower()
        if aliases:
            s = s.map(lambda v: aliases.get(v, v))
        bad = ((s != "") & ~s.isin(list(allowed))).to_numpy()
        if bad.any():
            got = sorted(set(s[bad]))
            self.fail(
                bad,
                col,
                f"has unknown value(s) {got}",
                f"Use one of {', '.join(map(repr, allowed))}",
            )
        return s

    # ------------------------------------------------------------ the whole sheet
    def to_table(self, convention: str, plan: ReviewPlan | None = None) -> EffectTable:
        self.missing_columns(
            [c for c in _REQUIRED if c not in self.df.columns], "needed on every sheet"
        )
        study, outcome = self._keys()
        otype, measure, direction = self._row_kinds()
        if plan is not None:
            self._check_plan(
                plan, outcome, {"outcome_type": otype, "measure": measure, "direction": direction}
            )
        nums = {c: self.numbers(c) for c in _NUMERIC}
        arm_rows = self._data_source(otype, nums)
        self._check_values(otype, arm_rows, nums)
        self._check_outcomes(outcome, measure, direction)
        self._check_duplicates(study, outcome)
        mods = _PlanColumns(self, plan).read(study) if plan is not None else {}

        yi = np.full(self.n, np.nan)
        vi = np.full(self.n, np.nan)
        ready = ~arm_rows
        yi[ready] = nums["yi"][ready]
        vi[ready] = nums["sei"][ready] ** 2
        for out in dict.fromkeys(outcome):
            rows = np.flatnonzero((outcome == out).to_numpy() & arm_rows)
            if rows.size:
                yi[rows], vi[rows] = self._escalc(
                    rows, str(measure.iat[rows[0]]), otype, nums, convention
                )

        keep = np.isfinite(yi) & np.isfinite(vi)
        if not keep.all():
            warnings.warn(
                f"{self.source + ': ' if self.source else ''}effect not estimable at "
                f"{self._where(np.flatnonzero(~keep))} (e.g. no events, or only events, in "
                "both arms); these rows are left out",
                NotEstimableWarning,
                stacklevel=3,
            )
        data = pd.DataFrame(
            {
                "study": study,
                "outcome": outcome,
                "yi": yi,
                "vi": vi,
                "measure": measure,
                "direction": direction,
                "outcome_type": otype,
            }
        )
        for c in ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ai", "ci", "follow_up_months"):
            if c in self.df.columns:
                data[c] = nums[c]
        for name, values in mods.items():
            data[name] = values
        known = set(_COLUMNS) | set(data.columns)
        for c in self.df.columns:
            if c not in known:
                data[c] = self.df[c].to_numpy()
        data = data.loc[keep].reset_index(drop=True)
        if data.empty:
            raise DataError("no row of the sheet has an estimable effect", source=self.source)
        registered = [m.name for m in plan.moderators] if plan is not None else []
        table = EffectTable(data, moderators=registered, source=self.source)
        table.data.attrs["convention"] = convention
        return table

    def _keys(self) -> tuple[pd.Series, pd.Series]:
        for col in ("study", "outcome"):
            self.fail(
                ~self.filled(col), col, "is empty", "Every row needs a study label and an outcome"
            )
        study = self.text("study")
        outcome = self.text("outcome")
        bad = ~outcome.str.match(_SNAKE).to_numpy()
        if bad.any():
            first = str(outcome.iat[int(np.flatnonzero(bad)[0])])
            hint = re.sub(r"[^a-z0-9]+", "_", first.lower()).strip("_")
            self.fail(
                bad,
                "outcome",
                f"must be a snake_case key (lower-case letters, digits and '_'), got {first!r}",
                f"Write e.g. {hint!r}",
            )
        return study, outcome

    def _row_kinds(self) -> tuple[pd.Series, pd.Series, pd.Series]:
        for col in ("outcome_type", "measure", "direction"):
            self.fail(~self.filled(col), col, "is empty", "Fill it in on every row")
        otype = self.choice("outcome_type", OUTCOME_TYPES)
        measure = self.text("measure").str.upper()
        every = MEASURES_BY_TYPE["generic"]
        bad = ~measure.isin(list(every)).to_numpy()
        if bad.any():
            self.fail(
                bad,
                "measure",
                f"has unknown value(s) {sorted(set(measure[bad]))}",
                f"Use one of {', '.join(every)} (see the column dictionary)",
            )
        for kind, allowed in MEASURES_BY_TYPE.items():
            wrong = ((otype == kind) & ~measure.isin(list(allowed))).to_numpy()
            self.fail(
                wrong,
                "measure",
                f"does not fit outcome_type {kind!r}",
                f"A {kind} row takes {', '.join(allowed)}",
            )
        direction = self.choice("direction", DIRECTIONS)
        return otype, measure, direction

    def _data_source(self, otype: pd.Series, nums: dict[str, np.ndarray]) -> np.ndarray:
        """Return True where the row's effect comes from arm data, False where from yi/sei."""
        present = set(self.df.columns)
        arm_rows = np.zeros(self.n, dtype=bool)
        has_ready = np.isfinite(nums["yi"]) | np.isfinite(nums["sei"])
        for kind in ("continuous", "dichotomous", "generic"):
            rows = (otype == kind).to_numpy()
            if not rows.any():
                continue
            arms = _ARMS.get(kind, ())
            # n1i/n2i alone do not make a row arm-level: they may record a generic row's sizes.
            core = _CORE_ARMS.get(kind, _CORE_ARMS["continuous"] + _CORE_ARMS["dichotomous"])
            any_arm = np.zeros(self.n, dtype=bool)
            for c in core:
                any_arm |= np.isfinite(nums[c])
            every_core = _CORE_ARMS["continuous"] + _CORE_ARMS["dichotomous"]
            other_arms = [c for c in every_core if c not in arms] if kind != "generic" else []
            for c in other_arms:
                self.fail(
                    rows & np.isfinite(nums[c]),
                    c,
                    f"is filled on a {kind} row",
                    f"A {kind} row uses {', '.join(arms)}; clear {c} or correct outcome_type",
                )
            if kind == "generic":
                self.fail(
                    rows & any_arm,
                    "outcome_type",
                    "is 'generic' but arm-level cells are filled",
                    "Generic rows take yi and sei only: clear the arm cells, or set the "
                    "outcome_type to continuous or dichotomous",
                )
            else:
                self.fail(
                    rows & any_arm & has_ready,
                    "yi",
                    "is filled on a row that also has arm-level data",
                    "Give either the arm data or yi and sei, not both (clear one)",
                )
                missing_cols = [c for c in arms if c not in present]
                if (rows & any_arm).any():
                    self.missing_columns(missing_cols, f"{kind} rows with arm data need {arms}")
                for c in arms:
                    self.fail(
                        rows & any_arm & ~np.isfinite(nums[c]),
                        c,
                        "is blank on a row with other arm-level data",
                        f"A {kind} row needs all of {', '.join(arms)}",
                    )
            use_arms = rows & any_arm
            need_ready = rows & ~any_arm
            neither = need_ready & ~has_ready
            what = f"arm data ({', '.join(arms)}) nor " if arms else ""
            self.fail(
                neither,
                "yi" if kind == "generic" else arms[0],
                f"is blank: the row has neither {what}a ready estimate (yi, sei)",
                "Fill in the row's data or delete the row",
            )
            if need_ready.any():
                self.missing_columns(
                    [c for c in _READY if c not in present], "rows without arm data need yi, sei"
                )
            for c in _READY:
                self.fail(
                    need_ready & ~np.isfinite(nums[c]),
                    c,
                    "is blank",
                    "A ready estimate needs both yi and its standard error sei",
                )
            arm_rows |= use_arms
        return arm_rows

    def _check_values(
        self, otype: pd.Series, arm_rows: np.ndarray, nums: dict[str, np.ndarray]
    ) -> None:
        cont = arm_rows & (otype == "continuous").to_numpy()
        dich = arm_rows & (otype == "dichotomous").to_numpy()
        ready = ~arm_rows
        for c in ("sd1i", "sd2i"):
            self.fail(
                cont & (nums[c] <= 0),
                c,
                "must be > 0 (a standard deviation)",
                "Check for a typo, or an SE or CI entered as an SD (SD = SE * sqrt(n))",
            )
        for c in ("n1i", "n2i"):
            self.fail(
                cont & (nums[c] < 2),
                c,
                "must be >= 2 (an arm's SD needs at least 2 participants)",
                "Check the arm size, or leave the trial out of this outcome",
            )
            self.fail(
                dich & ((nums[c] < 1) | (nums[c] != np.floor(nums[c]))),
                c,
                "must be a whole number >= 1 (the arm total)",
                "Enter the number of participants in the arm",
            )
        for ev, tot in (("ai", "n1i"), ("ci", "n2i")):
            e = nums[ev]
            self.fail(
                dich & ((e < 0) | (e != np.floor(e))),
                ev,
                "must be a whole number >= 0 (participants with the event)",
                "Enter a count of participants",
            )
            self.fail(
                dich & (e > nums[tot]),
                ev,
                f"exceeds the arm total {tot}",
                f"Events must be between 0 and {tot}; check whether the columns are swapped",
            )
        self.fail(
            ready & (nums["sei"] <= 0),
            "sei",
            "must be > 0 (a standard error)",
            "Check the value; a standard error of zero or less is impossible",
        )
        self.fail(
            nums["follow_up_months"] < 0,
            "follow_up_months",
            "must be >= 0",
            "Enter the follow-up in months, or leave it blank",
        )

    def _check_outcomes(self, outcome: pd.Series, measure: pd.Series, direction: pd.Series) -> None:
        for col, values, what in (
            ("measure", measure, "one effect measure"),
            ("direction", direction, "one direction"),
        ):
            for out in dict.fromkeys(outcome):
                rows = (outcome == out).to_numpy()
                seen = list(dict.fromkeys(values[rows]))
                if len(seen) > 1:
                    first = values[rows].iat[0]
                    self.fail(
                        rows & (values != first).to_numpy(),
                        col,
                        f"differs within outcome {out!r} ({', '.join(map(repr, seen))}; the "
                        f"outcome's first row has {first!r})",
                        f"Each outcome is pooled on {what}: make the rows agree, or give the "
                        "rows a different outcome key",
                    )

    def _check_duplicates(self, study: pd.Series, outcome: pd.Series) -> None:
        keys = pd.DataFrame({"s": study, "o": outcome})
        self.fail(
            keys.duplicated(keep="first").to_numpy(),
            "study",
            "repeats a (study, outcome) pair already on an earlier row",
            "Each trial reports each outcome once: combine arms, keep the longest follow-up, "
            "or give the rows different outcome keys",
        )

    def _check_plan(
        self, plan: ReviewPlan, outcome: pd.Series, values: dict[str, pd.Series]
    ) -> None:
        """Check that every outcome is declared, with the plan's type, measure and direction."""
        declared = {o.name: o for o in plan.outcomes}
        unknown = ~outcome.isin(list(declared)).to_numpy()
        if unknown.any():
            first = str(outcome.iat[int(np.flatnonzero(unknown)[0])])
            self.fail(
                unknown,
                "outcome",
                f"{first!r} is not an outcome of the review plan {plan.source} (its outcomes: "
                f"{', '.join(declared)})",
                f"Declare it as [outcomes.{first}] in the plan, or correct the key",
            )
        for col, cells in values.items():
            planned = outcome.map(lambda o, c=col: getattr(declared[o], c) or "")
            differs = (planned != "").to_numpy() & (cells != planned).to_numpy()
            if differs.any():
                i = int(np.flatnonzero(differs)[0])
                self.fail(
                    differs,
                    col,
                    f"is {cells.iat[i]!r} but the review plan {plan.source} says "
                    f"[outcomes.{outcome.iat[i]}] {col} = {planned.iat[i]!r}",
                    "Correct the sheet or the plan",
                )

    def _escalc(
        self,
        rows: np.ndarray,
        measure: str,
        otype: pd.Series,
        nums: dict[str, np.ndarray],
        convention: str,
    ) -> tuple[np.ndarray, np.ndarray]:
        kind = str(otype.iat[rows[0]])
        arms = {c: nums[c][rows] for c in _ARMS[kind]}
        labels = self.text("study").to_numpy()[rows].tolist()
        try:
            es = escalc(measure, convention=convention, labels=labels, **arms)
        except DataError as err:  # pragma: no cover - the checks above come first
            bad = rows[err.rows] if err.rows else rows
            raise DataError(
                f"{self._where(bad)}: {err}", rows=list(bad), column=err.column, source=self.source
            ) from None
        return np.asarray(es.yi), np.asarray(es.vi)


def _category_key(value: str) -> str:
    """Return a category cell as compared with the plan's levels: no case, spaces, '-' or '_'."""
    return re.sub(r"[\s_-]+", "", value.lower())


class _PlanColumns:
    """The trial-level columns a review plan declares: moderators and the subgroup variable."""

    def __init__(self, sheet: _Sheet, plan: ReviewPlan) -> None:
        self.sheet = sheet
        self.plan = plan

    def require(self, column: str, key: str) -> None:
        """Check that a declared column is in the sheet and filled on every row."""
        s = self.sheet
        if column not in s.df.columns:
            raise DataError(
                f"{s._header()}: column {column!r}, declared by the review plan {self.plan.source} "
                f"([{key}]), is missing from the sheet; add the column (one value per trial) or "
                "remove it from the plan",
                column=column,
                source=s.source,
            )
        s.fail(
            ~s.filled(column),
            column,
            f"is blank (the review plan {self.plan.source} declares it: [{key}])",
            "Fill it in for every trial, or remove it from the plan",
        )

    def category(self, column: str, levels: tuple[str, ...], key: str) -> np.ndarray:
        """Return the column's cells as the plan's spelling of its levels ('' where blank)."""
        s = self.sheet
        cells = s.text(column)
        spelled = {_category_key(lv): lv for lv in levels}
        out = cells.map(lambda v: spelled.get(_category_key(v), v) if v else "")
        bad = (out != "").to_numpy() & ~out.isin(list(levels)).to_numpy()
        s.fail(
            bad,
            column,
            f"has unknown value(s) {sorted(set(out[bad]))}",
            f"Use one of {', '.join(map(repr, levels))} (the review plan's [{key}])",
        )
        return out.to_numpy(dtype=object)

    def read(self, study: pd.Series) -> dict[str, np.ndarray]:
        """Return the moderators (floats) and the text columns they and the subgroup use."""
        s = self.sheet
        standard = [c for c in (*self.plan.sheet_columns(), *self._names()) if c in _COLUMNS]
        if standard:
            raise DataError(
                f"the review plan {self.plan.source} declares {standard[0]!r}, a standard sheet "
                "column, as a moderator or subgroup variable; give it another name in the plan",
                column=standard[0],
                source=s.source,
            )
        out: dict[str, np.ndarray] = {}
        trial_level: list[str] = []
        for m in self.plan.moderators:
            if m.kind in ("binary", "numeric"):
                self.require(m.name, f"moderators.{m.name}")
                num = s.numbers(m.name)
                if m.binary:
                    s.fail(
                        ~np.isin(num, (0.0, 1.0)),
                        m.name,
                        f"must be 0 ({m.values[0]}) or 1 ({m.values[1]})",
                        "Enter 0 or 1",
                    )
                out[m.name] = num
                trial_level.append(m.name)
            elif m.kind == "level" and m.column is not None:
                key = f"moderators.{m.name}"
                self.require(m.column, key)
                out[m.column] = self.category(m.column, m.levels, key)
                out[m.name] = (out[m.column] == m.equals).astype(float)
                trial_level.append(m.column)
        for m in self.plan.moderators:
            if m.kind == "at_least":
                met = sum(out[c] for c in m.of)
                out[m.name] = (np.asarray(met) >= m.at_least).astype(float)
        if self.plan.subgroup is not None:
            out[self.plan.subgroup.column] = self.subgroup(out)
            trial_level.append(self.plan.subgroup.column)
        for col in trial_level:
            vals = pd.Series(out[col]).astype(str)
            first = vals.groupby(study.to_numpy()).transform("first")
            s.fail(
                (vals != first).to_numpy(),
                col,
                "differs from the value on the trial's first row",
                "It describes the trial, so give it the same value on every row of the trial",
            )
        return out

    def _names(self) -> list[str]:
        return [m.name for m in self.plan.moderators]

    def subgroup(self, mods: dict[str, np.ndarray]) -> np.ndarray:
        """Return the subgroup column: given, or derived from its coding moderator where blank."""
        s, sg = self.sheet, self.plan.subgroup
        assert sg is not None
        if sg.moderator is None:
            self.require(sg.column, "subgroup")
            return self.category(sg.column, sg.levels, "subgroup")
        m = self.plan.moderator(sg.moderator)
        derived = np.where(mods[m.name] == 1.0, m.values[1], m.values[0]).astype(object)
        given = self.category(sg.column, sg.levels, "subgroup")
        filled = given != ""
        s.fail(
            filled & (given != derived),
            sg.column,
            f"disagrees with moderator {m.name!r} ({m.values[1]!r} when it is 1: {m.label}; "
            f"review plan {self.plan.source})",
            "Correct the moderator's columns or the subgroup, or leave the subgroup blank to "
            "derive it",
        )
        return derived
