"""EffectTable: the validated long table of effect estimates every analysis starts from.

One row per estimate: ``study``, ``outcome``, ``yi``, ``vi`` (and ``sei``), the outcome's
``direction`` ("higher" or "lower" values favour the intervention), the ``measure``, optional
moderators and optional arm-level columns. Validation happens at construction and names the
offending rows (by their line in the source file when the table came from a CSV).
"""

from __future__ import annotations

import csv
import io
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesmeta.effect_sizes import escalc
from bayesmeta.errors import DataError, ModelSpecError, NotEstimableWarning

__all__ = ["DIRECTIONS", "EffectTable", "unit_information_sd"]

#: Allowed values of ``direction``: which values of the outcome favour the intervention.
DIRECTIONS: tuple[str, ...] = ("higher", "lower")
_CORE = ("study", "outcome", "yi", "vi", "sei", "direction", "measure")
_ARM_COLUMNS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ai", "bi", "ci", "di")
_DEFAULT_OUTCOME = "overall"
#: Largest |yi| and range of vi that the numerical cores handle in double precision (as
#: bayesmeta.frequentist; squares and products of weights must neither overflow nor vanish).
_MAX_ABS_YI = 1e100
_VI_RANGE = (1e-100, 1e100)


class EffectTable:
    """A validated long table of effect estimates, one row per (study, outcome).

    Build it with :meth:`from_frame`, :meth:`from_csv` or :meth:`from_arms`, or directly from a
    DataFrame that already uses the standard column names.

    Parameters
    ----------
    data
        A DataFrame with columns ``study``, ``yi`` and ``vi`` or ``sei``; optionally ``outcome``
        (default ``"overall"``), ``direction``, ``measure``, moderators, arm-level columns.
    moderators
        Columns to treat as study-level moderators (must be numeric or 0/1 coded; text columns
        with two levels are coded 0/1 with the first level in sorted order as 0).
    direction
        Which values favour the intervention, ``"higher"`` or ``"lower"``: one value for all
        outcomes, or a mapping outcome -> value. Overrides a ``direction`` column.
    measure
        The effect measure (e.g. ``"SMD"``, ``"OR"``) if no ``measure`` column is present.
    source
        Where the data came from (a file name), used in error messages.
    line_offset
        Added to the 0-based row position to give the line named in errors (2 for a CSV with a
        header: the first data row is line 2).
    lines
        The line of the source file on which each row starts (overrides ``line_offset``). By
        default taken from the index of a frame read by :func:`read_csv` (named ``"line"``), so
        errors stay right after blank lines or quoted line breaks.

    Raises
    ------
    DataError
        Missing columns, non-numeric or non-finite values, ``vi <= 0``, duplicate
        (study, outcome) rows, unknown directions.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"study": ["a", "b", "c"], "yi": [0.1, 0.3, 0.2],
    ...                    "vi": [0.01, 0.02, 0.015]})
    >>> tab = EffectTable(df, measure="SMD", direction="higher")
    >>> tab.k, tab.outcomes
    (3, ['overall'])
    """

    def __init__(
        self,
        data: pd.DataFrame,
        *,
        moderators: Sequence[str] | None = None,
        direction: str | Mapping[str, str] | None = None,
        measure: str | None = None,
        source: str | None = None,
        line_offset: int = 1,
        lines: Sequence[int] | None = None,
    ) -> None:
        self.source = source
        self._offset = line_offset
        if lines is None and data.index.name == "line":
            lines = _frame_lines(data, line_offset)  # a frame from read_csv: the index is lines
        self._lines = [int(n) for n in lines] if lines is not None else None
        if self._lines is not None and len(self._lines) != len(data):
            raise ModelSpecError(f"lines has {len(self._lines)} entries for {len(data)} rows")
        df = data.copy()
        df.columns = [str(c).strip() for c in df.columns]
        self._check_columns(df)
        if df.empty:
            raise DataError("the table has no rows; give at least one estimate", source=source)
        df = df.reset_index(drop=True)
        if "outcome" not in df.columns:
            df["outcome"] = _DEFAULT_OUTCOME
        df["study"] = self._text_column(df, "study")
        df["outcome"] = self._text_column(df, "outcome")
        yi = self._numeric(df, "yi")
        # vi if given (and, when sei is also a column, filled in somewhere), else sei
        if "vi" in df.columns and ("sei" not in df.columns or df["vi"].notna().any()):
            vi = self._numeric(df, "vi")
            self._positive(vi, "vi", df)
        else:
            sei = self._numeric(df, "sei")
            self._positive(sei, "sei", df)
            vi = sei**2
        self._in_range(yi, vi, df)
        df["yi"], df["vi"], df["sei"] = yi, vi, np.sqrt(vi)
        if measure is not None:
            df["measure"] = measure
        elif "measure" not in df.columns:
            df["measure"] = "generic"
        df["direction"] = self._directions(df, direction)
        dup = df.duplicated(["study", "outcome"], keep=False)
        if dup.any():
            raise DataError(
                f"duplicate (study, outcome) rows at {self._where(dup.to_numpy(), df)}; each study "
                "may report each outcome once (combine arms or follow-ups before pooling)",
                rows=np.flatnonzero(dup).tolist(),
                column="study",
                source=source,
            )
        self.moderators: list[str] = []
        for m in moderators or []:
            if m not in df.columns:
                raise DataError(
                    f"moderator {m!r} is not a column; available columns: {list(df.columns)}",
                    column=m,
                    source=source,
                )
            df[m] = self._moderator(df, m)
            self.moderators.append(m)
        front = [c for c in _CORE if c in df.columns]
        self.data: pd.DataFrame = df[front + [c for c in df.columns if c not in front]]

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        columns: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> EffectTable:
        """Build from a DataFrame whose columns are renamed by ``columns`` (standard -> yours).

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"trial": ["a", "b"], "g": [0.2, 0.4], "se": [0.1, 0.2]})
        >>> EffectTable.from_frame(df, columns={"study": "trial", "yi": "g", "sei": "se"}).k
        2
        """
        return cls(_rename(frame, columns, kwargs.get("source")), **kwargs)

    @classmethod
    def from_csv(
        cls,
        path: str | os.PathLike[str],
        *,
        columns: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> EffectTable:
        r"""Read a CSV (UTF-8, optional byte-order mark) and build the table.

        Errors name the file and its line numbers (the header is line 1).

        Examples
        --------
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
        >>> _ = open(p, "w").write("study,yi,vi\na,0.1,0.01\nb,0.2,0.02\n")
        >>> EffectTable.from_csv(p).k
        2
        """
        frame = read_csv(path)
        kwargs.setdefault("source", str(path))
        kwargs.setdefault("line_offset", 2)
        return cls.from_frame(frame, columns=columns, **kwargs)

    @classmethod
    def from_arms(
        cls,
        frame: pd.DataFrame,
        measure: str,
        *,
        columns: Mapping[str, str] | None = None,
        convention: str = "metafor",
        vtype: str | None = None,
        **kwargs: Any,
    ) -> EffectTable:
        """Compute effect sizes from arm-level columns, then build the table.

        Arm columns use metafor's names: ``m1i, sd1i, n1i, m2i, sd2i, n2i`` for continuous
        outcomes; ``ai, bi, ci, di`` (or ``ai, n1i, ci, n2i``) for 2x2 counts. Arm 1 is the
        intervention. The arm columns are kept in the table.

        Parameters
        ----------
        frame
            The arm-level data.
        measure
            ``"SMD"``, ``"MD"``, ``"OR"``, ``"RR"`` or ``"RD"``.
        columns
            Renaming, standard name -> your column.
        convention
            ``"metafor"`` or ``"revman"`` (see :func:`bayesmeta.effect_sizes.escalc`).
        vtype
            Variance type for SMD, as metafor's.
        **kwargs
            Passed to :class:`EffectTable`.

        Examples
        --------
        >>> from bayesmeta import datasets
        >>> tab = EffectTable.from_arms(datasets.load_bcg(), "RR",
        ...     columns={"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"})
        >>> round(float(tab.data.yi[0]), 4)
        -0.8893
        """
        source = kwargs.get("source")
        df = _rename(frame, columns, source)
        arms: dict[str, Any] = {c: df[c] for c in _ARM_COLUMNS if c in df.columns}
        labels = df["study"].astype(str).tolist() if "study" in df.columns else None
        try:
            es = escalc(measure, convention=convention, vtype=vtype, labels=labels, **arms)
        except DataError as err:
            msg = str(err)
            lines = _frame_lines(df, kwargs.get("line_offset", 1))
            if lines is not None and err.rows:
                # escalc counts rows from 1; name the file's lines instead
                shown = ", ".join(
                    f"{lines[i]}" + (f" ({labels[i]!r})" if labels else "") for i in err.rows[:10]
                )
                more = f" and {len(err.rows) - 10} more" if len(err.rows) > 10 else ""
                where = f"at line{'s' if len(err.rows) > 1 else ''} {shown}{more}"
                msg = re.sub(r"in rows? .*? \(1-based\)", lambda _: where, msg, count=1)
            raise DataError(msg, rows=err.rows, column=err.column, source=source) from None
        df = df.copy()
        df["yi"], df["vi"] = es.yi, es.vi
        bad = ~np.isfinite(es.yi)
        if bad.any():
            study = df["study"] if "study" in df.columns else pd.Series([], dtype=str)
            names: list[str] = [str(s) for s in study.to_numpy()[bad]] if len(study) else []
            warnings.warn(
                f"{int(bad.sum())} row(s) have no estimable {measure} and are left out "
                f"(e.g. no events in either arm): {', '.join(names[:10])}",
                NotEstimableWarning,
                stacklevel=2,
            )
            if bad.all():
                raise DataError(
                    f"no row has an estimable {measure} (e.g. no events, or only events, in "
                    "both arms of every study); nothing can be pooled",
                    rows=np.flatnonzero(bad).tolist(),
                    source=source,
                )
            df = df.loc[~bad]
        return cls(df, measure=measure, **kwargs)

    # ---------------------------------------------------------------- accessors
    @property
    def k(self) -> int:
        """Number of rows (estimates)."""
        return len(self.data)

    def __len__(self) -> int:
        return self.k

    @property
    def studies(self) -> list[str]:
        """Study labels in order of first appearance."""
        return list(dict.fromkeys(self.data["study"]))

    @property
    def outcomes(self) -> list[str]:
        """Outcome names in order of first appearance."""
        return list(dict.fromkeys(self.data["outcome"]))

    @property
    def yi(self) -> np.ndarray:
        """Effect estimates."""
        return self.data["yi"].to_numpy(float)

    @property
    def vi(self) -> np.ndarray:
        """Sampling variances."""
        return self.data["vi"].to_numpy(float)

    @property
    def sei(self) -> np.ndarray:
        """Standard errors."""
        return self.data["sei"].to_numpy(float)

    def sample_sizes(self) -> np.ndarray:
        """Participants per row: ``ni``, else ``n1i + n2i``, else ``ai + bi + ci + di``.

        ``nan`` where a row gives none of them (e.g. an estimate with its standard error only).

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"study": ["a", "b"], "yi": [1.0, 2.0], "sei": [0.5, 0.4],
        ...                    "n1i": [20, 30], "n2i": [21, None]})
        >>> EffectTable(df, measure="MD").sample_sizes()
        array([41., nan])
        """
        d = self.data

        def col(name: str, low: float) -> np.ndarray:
            if name not in d.columns:
                return np.full(len(d), np.nan)
            x = pd.to_numeric(d[name], errors="coerce").to_numpy(float)
            return np.where(x >= low, x, np.nan)

        n = col("ni", 1)
        n = np.where(np.isnan(n), col("n1i", 1) + col("n2i", 1), n)
        cells = sum(col(c, 0) for c in ("ai", "bi", "ci", "di"))  # a zero cell is a count
        return np.where(np.isnan(n), cells, n)

    def direction(self, outcome: str | None = None) -> str:
        """Return which values favour the intervention for ``outcome``: "higher" or "lower".

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"study": ["a", "b"], "yi": [0.1, 0.2], "vi": [0.01, 0.02]})
        >>> EffectTable(df, direction="lower").direction()
        'lower'
        """
        rows = self.data if outcome is None else self.data[self.data["outcome"] == outcome]
        vals = rows["direction"].unique()
        if len(vals) != 1:
            raise ModelSpecError(
                f"outcome {outcome!r} has directions {list(vals)}; name one outcome"
            )
        return str(vals[0])

    def for_outcome(self, outcome: str) -> EffectTable:
        """Return the rows of one outcome, as a new table.

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"study": ["a", "a"], "outcome": ["x", "y"], "yi": [0.1, 0.2],
        ...                    "vi": [0.01, 0.02]})
        >>> EffectTable(df).for_outcome("y").k
        1
        """
        if outcome not in self.outcomes:
            raise ModelSpecError(f"unknown outcome {outcome!r}; the table has {self.outcomes}")
        sub = self.data[self.data["outcome"] == outcome]
        return self._subset(sub)

    def by_outcome(self) -> Iterator[tuple[str, EffectTable]]:
        """Iterate over (outcome, table of that outcome).

        Examples
        --------
        >>> import pandas as pd
        >>> df = pd.DataFrame({"study": ["a", "a"], "outcome": ["x", "y"], "yi": [0.1, 0.2],
        ...                    "vi": [0.01, 0.02]})
        >>> [(o, t.k) for o, t in EffectTable(df).by_outcome()]
        [('x', 1), ('y', 1)]
        """
        for o in self.outcomes:
            yield o, self.for_outcome(o)

    def _subset(self, sub: pd.DataFrame) -> EffectTable:
        new = object.__new__(EffectTable)
        new.source = self.source
        new._offset = self._offset
        new._lines = None
        new.moderators = list(self.moderators)
        new.data = sub
        return new

    def __repr__(self) -> str:
        return (
            f"EffectTable(k={self.k}, studies={len(self.studies)}, outcomes={self.outcomes}, "
            f"moderators={self.moderators})"
        )

    # ---------------------------------------------------------------- validation helpers
    def _where(self, mask: np.ndarray, df: pd.DataFrame | None = None) -> str:
        idx = np.flatnonzero(mask)
        lines = getattr(self, "_lines", None)  # tables rebuilt from a saved result have none
        word = "line" if self._offset != 1 or lines is not None else "row"
        parts = []
        for i in idx[:10]:
            label = ""
            if df is not None and "study" in df.columns:
                label = f" (study {df['study'].iloc[i]!r})"
            parts.append(f"{lines[i] if lines is not None else i + self._offset}{label}")
        more = f" and {len(idx) - 10} more" if len(idx) > 10 else ""
        return f"{word}{'s' if len(idx) > 1 else ''} {', '.join(parts)}{more}"

    def _check_columns(self, df: pd.DataFrame) -> None:
        dupcols = df.columns[df.columns.duplicated()].tolist()
        if dupcols:
            raise DataError(
                f"duplicated column names {dupcols}; rename them",
                column=dupcols[0],
                source=self.source,
            )
        missing = [c for c in ("study", "yi") if c not in df.columns]
        if "vi" not in df.columns and "sei" not in df.columns:
            missing.append("vi or sei")
        if missing:
            raise DataError(
                f"missing required column(s) {missing}; found {list(df.columns)}. Rename your "
                "columns or pass columns={'yi': 'your_name', ...}",
                column=missing[0],
                source=self.source,
            )

    def _text_column(self, df: pd.DataFrame, col: str) -> pd.Series:
        s = df[col]
        bad = s.isna() | (s.astype(str).str.strip() == "")
        if bad.any():
            raise DataError(
                f"column {col!r} is empty at {self._where(bad.to_numpy())} (blank or NA); "
                "every row needs one",
                rows=np.flatnonzero(bad).tolist(),
                column=col,
                source=self.source,
            )
        return s.astype(str).str.strip()

    def _numeric(self, df: pd.DataFrame, col: str) -> np.ndarray:
        raw = df[col]
        num = pd.to_numeric(raw, errors="coerce")
        text = num.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if text.any():
            i = int(np.flatnonzero(text.to_numpy())[0])
            raise DataError(
                f"column {col!r} has non-numeric values at {self._where(text.to_numpy(), df)} "
                f"(first: {raw.iloc[i]!r}); use numbers with '.' as decimal mark",
                rows=np.flatnonzero(text).tolist(),
                column=col,
                source=self.source,
            )
        arr = num.to_numpy(dtype=float)
        bad = ~np.isfinite(arr)
        if bad.any():
            raise DataError(
                f"column {col!r} has missing or infinite values at {self._where(bad, df)}; "
                "supply them or drop those rows",
                rows=np.flatnonzero(bad).tolist(),
                column=col,
                source=self.source,
            )
        return arr

    def _positive(self, arr: np.ndarray, col: str, df: pd.DataFrame | None = None) -> None:
        bad = arr <= 0
        if bad.any():
            raise DataError(
                f"column {col!r} must be > 0 at {self._where(bad, df)}; a sampling variance or "
                "standard error of zero or less is impossible",
                rows=np.flatnonzero(bad).tolist(),
                column=col,
                source=self.source,
            )

    def _in_range(self, yi: np.ndarray, vi: np.ndarray, df: pd.DataFrame) -> None:
        """Values whose squares overflow (or vanish) in double precision cannot be pooled."""
        for col, bad in (
            ("yi", np.abs(yi) > _MAX_ABS_YI),
            ("vi" if "vi" in df.columns else "sei", (vi < _VI_RANGE[0]) | (vi > _VI_RANGE[1])),
        ):
            if bad.any():
                raise DataError(
                    f"column {col!r} is out of the range that can be pooled at "
                    f"{self._where(bad, df)} (|yi| <= {_MAX_ABS_YI:g}, {_VI_RANGE[0]:g} <= vi <= "
                    f"{_VI_RANGE[1]:g}); rescale the data (e.g. change the outcome's units)",
                    rows=np.flatnonzero(bad).tolist(),
                    column=col,
                    source=self.source,
                )

    def _directions(self, df: pd.DataFrame, direction: str | Mapping[str, str] | None) -> pd.Series:
        if direction is None:
            if "direction" not in df.columns:
                return pd.Series("higher", index=df.index)
            d = df["direction"].astype(str).str.strip().str.lower()
        elif isinstance(direction, str):
            d = pd.Series(direction.lower(), index=df.index)
        else:
            unknown = set(df["outcome"]) - set(direction)
            if unknown:
                raise DataError(
                    f"direction not given for outcome(s) {sorted(unknown)}",
                    column="direction",
                    source=self.source,
                )
            d = df["outcome"].map(direction).astype(str).str.lower()
        bad = ~d.isin(DIRECTIONS)
        if bad.any():
            raise DataError(
                f"direction must be 'higher' or 'lower' (which values favour the intervention); "
                f"got {sorted(set(d[bad]))} at {self._where(bad.to_numpy())}",
                rows=np.flatnonzero(bad).tolist(),
                column="direction",
                source=self.source,
            )
        per_outcome = d.groupby(df["outcome"]).nunique()
        mixed = per_outcome[per_outcome > 1].index.tolist()
        if mixed:
            first = d.groupby(df["outcome"]).transform("first")
            odd = (df["outcome"].isin(mixed) & (d != first)).to_numpy()
            raise DataError(
                f"outcome(s) {mixed} have both directions: {self._where(odd, df)} differ from "
                "the outcome's first row; one outcome has one direction",
                rows=np.flatnonzero(odd).tolist(),
                column="direction",
                source=self.source,
            )
        return d

    def _moderator(self, df: pd.DataFrame, col: str) -> pd.Series:
        s = df[col]
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype) or s.dtype == bool:
            num = pd.to_numeric(s, errors="coerce")
            if num.notna().all():
                return num.astype(float)
            levels = sorted(s.dropna().astype(str).unique())
            if s.isna().any():
                raise DataError(
                    f"moderator {col!r} is missing at {self._where(s.isna().to_numpy(), df)}",
                    rows=np.flatnonzero(s.isna()).tolist(),
                    column=col,
                    source=self.source,
                )
            if len(levels) != 2:
                raise DataError(
                    f"moderator {col!r} is text with {len(levels)} levels {levels}; code it as "
                    "numbers or 0/1 indicator columns",
                    column=col,
                    source=self.source,
                )
            return (s.astype(str) == levels[1]).astype(float)
        return pd.Series(self._numeric(df, col), index=df.index)


def unit_information_sd(sei: np.ndarray, n: np.ndarray) -> float:
    r"""Unit-information standard deviation :math:`\sqrt{\sum n_i / \sum s_i^{-2}}`.

    The within-study standard deviation of one participant's outcome implied by the studies'
    standard errors and sizes (Röver, Bender, Dias et al. 2021, *Research Synthesis Methods*
    12:448-474, section 2.3): at :math:`\tau = 0` the pooled estimate's standard error is both
    :math:`(\sum s_i^{-2})^{-1/2}` and :math:`\sigma_u / \sqrt{\sum n_i}`.

    See also: R bayesmeta::uisd.

    Raises
    ------
    ModelSpecError
        Sizes missing, not positive, or of another length than ``sei``.

    Examples
    --------
    >>> round(unit_information_sd(np.array([0.2, 0.1]), np.array([100, 400])), 6)
    2.0
    """
    s = np.asarray(sei, dtype=float)
    nn = np.asarray(n, dtype=float)
    if nn.shape != s.shape or not np.all(np.isfinite(nn)) or np.any(nn <= 0):
        raise ModelSpecError("the unit-information SD needs a positive sample size for every study")
    return float(np.sqrt(nn.sum() / np.sum(s**-2.0)))


def _frame_lines(frame: pd.DataFrame, line_offset: int) -> list[int] | None:
    """Return the file lines of a frame's rows: the read_csv index, else position + offset."""
    if frame.index.name == "line" and pd.api.types.is_integer_dtype(frame.index):
        return [int(n) for n in frame.index]
    if line_offset != 1:
        return [i + line_offset for i in range(len(frame))]
    return None


def _rename(
    frame: pd.DataFrame, columns: Mapping[str, str] | None, source: str | None
) -> pd.DataFrame:
    if not columns:
        return frame
    missing = [theirs for theirs in columns.values() if theirs not in frame.columns]
    if missing:
        raise DataError(
            f"column(s) {missing} named in the column mapping are not in the data; found "
            f"{list(frame.columns)}",
            column=missing[0],
            source=source,
        )
    return frame.rename(columns={theirs: ours for ours, theirs in columns.items()})


#: Cells read as missing, as pandas' ``read_csv`` does by default.
_NA_CELLS = frozenset(
    "#N/A|#N/A N/A|#NA|-1.#IND|-1.#QNAN|-NaN|-nan|1.#IND|1.#QNAN|<NA>|N/A|NA|NULL|NaN|None|"
    "n/a|nan|null".split("|")
)


def read_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    r"""Read a CSV for an EffectTable, turning file problems into :class:`DataError`.

    Handles a UTF-8 byte-order mark, Windows line endings, quoted fields (with commas or line
    breaks), blank lines and trailing empty columns; rejects folders, missing, empty and binary
    files, a ';' or tab delimiter, duplicated column names and rows with more fields than the
    header, naming the file and line. Cells are text; blank cells and pandas' default NA
    markers (``NA``, ``NaN``, ``NULL``, ...) are missing.

    Returns
    -------
    pandas.DataFrame
        One row per data record, indexed by the line of the file on which the record starts
        (the header is line 1).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
    >>> _ = open(p, "w").write('study,yi,vi\n\n"Smith, 2001",0.1,0.01\n')
    >>> frame = read_csv(p)
    >>> frame.index.tolist(), frame.study.tolist()
    ([3], ['Smith, 2001'])
    """
    src = str(path)
    p = Path(path)
    if not p.exists():
        raise DataError("file does not exist", source=src)
    if p.is_dir():
        raise DataError("is a folder, not a CSV file", source=src)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot be read ({exc.strerror or exc})", source=src) from None
    if b"\x00" in raw:
        raise DataError("is a binary file, not a CSV; save it as 'CSV UTF-8'", source=src)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"line {line}: not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as "
            "'CSV UTF-8 (comma delimited)'",
            source=src,
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    last = 0
    try:
        for rec in reader:
            if any(c.strip() for c in rec):
                records.append((last + 1, rec))
            last = reader.line_num
    except csv.Error as exc:
        raise DataError(
            f"line {last + 1}: cannot be read as CSV ({exc}); check the quotes: a quoted field "
            'must end with a quote, and a quote inside it is written ""',
            source=src,
        ) from None
    if not records:
        raise DataError("the file is empty; expected a header row and data", source=src)
    head_line, head = records[0]
    header = [c.strip() or f"Unnamed: {j}" for j, c in enumerate(head)]
    while len(header) > 1 and header[-1].startswith("Unnamed: ") and not head[-1].strip():
        header.pop()  # trailing empty columns (a spreadsheet's stray commas)
    if len(header) == 1 and any(sep in header[0] for sep in (";", "\t")):
        raise DataError(
            f"line {head_line} has a single column {header[0]!r}: the delimiter looks like ';' "
            "or tab; save it comma-separated",
            source=src,
        )
    dup = sorted({c for c in header if header.count(c) > 1})
    if dup:
        raise DataError(
            f"line {head_line} (header): column(s) {dup} appear more than once; keep one of each",
            column=dup[0],
            source=src,
        )
    width = len(header)
    rows: list[list[Any]] = []
    lines: list[int] = []
    for line, rec in records[1:]:
        if len(rec) > max(width, len(head)) or any(c.strip() for c in rec[width:]):
            raise DataError(
                f"line {line}: {len(rec)} fields but the header has {width}; look for an "
                "unquoted comma (e.g. a decimal comma or a comma in a study label)",
                rows=[len(rows)],
                source=src,
            )
        cells = rec[:width] + [""] * (width - len(rec))
        rows.append([None if c.strip() in _NA_CELLS or not c.strip() else c for c in cells])
        lines.append(line)
    if not rows:
        raise DataError("has a header but no data rows", source=src)
    frame = pd.DataFrame(rows, columns=header, index=pd.Index(lines, name="line"), dtype=object)
    return frame
