"""EffectTable: the validated long table of effect estimates every analysis starts from.

One row per estimate: ``study``, ``outcome``, ``yi``, ``vi`` (and ``sei``), the outcome's
``direction`` ("higher" or "lower" values favour the intervention), the ``measure``, optional
moderators and optional arm-level columns. Validation happens at construction and names the
offending rows (by their line in the source file when the table came from a CSV).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayesmeta.effect_sizes import escalc
from bayesmeta.errors import DataError, ModelSpecError, NotEstimableWarning

__all__ = ["DIRECTIONS", "EffectTable"]

#: Allowed values of ``direction``: which values of the outcome favour the intervention.
DIRECTIONS: tuple[str, ...] = ("higher", "lower")
_CORE = ("study", "outcome", "yi", "vi", "sei", "direction", "measure")
_ARM_COLUMNS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i", "ai", "bi", "ci", "di")
_DEFAULT_OUTCOME = "overall"


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
    ) -> None:
        self.source = source
        self._offset = line_offset
        df = data.copy()
        df.columns = [str(c).strip() for c in df.columns]
        self._check_columns(df)
        df = df.reset_index(drop=True)
        if "outcome" not in df.columns:
            df["outcome"] = _DEFAULT_OUTCOME
        df["study"] = self._text_column(df, "study")
        df["outcome"] = self._text_column(df, "outcome")
        yi = self._numeric(df, "yi")
        if "vi" in df.columns and df["vi"].notna().any():
            vi = self._numeric(df, "vi")
            self._positive(vi, "vi")
        else:
            sei = self._numeric(df, "sei")
            self._positive(sei, "sei")
            vi = sei**2
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
        """Read a CSV (UTF-8, optional byte-order mark) and build the table.

        Errors name the file and its line numbers (the header is line 1).

        Examples
        --------
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "d.csv")
        >>> _ = open(p, "w").write("study,yi,vi\\na,0.1,0.01\\nb,0.2,0.02\\n")
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
            raise DataError(str(err), rows=err.rows, column=err.column, source=source) from None
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

    def direction(self, outcome: str | None = None) -> str:
        """Which values favour the intervention for ``outcome`` ("higher" or "lower")."""
        rows = self.data if outcome is None else self.data[self.data["outcome"] == outcome]
        vals = rows["direction"].unique()
        if len(vals) != 1:
            raise ModelSpecError(
                f"outcome {outcome!r} has directions {list(vals)}; name one outcome"
            )
        return str(vals[0])

    def for_outcome(self, outcome: str) -> EffectTable:
        """The rows of one outcome, as a new table.

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
        """Iterate over (outcome, table of that outcome)."""
        for o in self.outcomes:
            yield o, self.for_outcome(o)

    def _subset(self, sub: pd.DataFrame) -> EffectTable:
        new = object.__new__(EffectTable)
        new.source = self.source
        new._offset = self._offset
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
        word = "line" if self._offset != 1 else "row"
        parts = []
        for i in idx[:10]:
            label = ""
            if df is not None and "study" in df.columns:
                label = f" (study {df['study'].iloc[i]!r})"
            parts.append(f"{i + self._offset}{label}")
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
                f"column {col!r} is empty at {self._where(bad.to_numpy())}; every row needs one",
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

    def _positive(self, arr: np.ndarray, col: str) -> None:
        bad = arr <= 0
        if bad.any():
            raise DataError(
                f"column {col!r} must be > 0 at {self._where(bad)}; a sampling variance or "
                "standard error of zero or less is impossible",
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
                    f"direction not given for outcome(s) {sorted(unknown)}", column="direction"
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
            raise DataError(
                f"outcome(s) {mixed} have both directions; one outcome has one direction",
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


def read_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV for an EffectTable, turning file problems into :class:`DataError`.

    Handles a UTF-8 byte-order mark and Windows line endings; rejects folders, missing files,
    empty or binary files with a message naming the file.
    """
    p = Path(path)
    if not p.exists():
        raise DataError("file does not exist", source=str(path))
    if p.is_dir():
        raise DataError("is a folder, not a CSV file", source=str(path))
    try:
        frame = pd.read_csv(p, encoding="utf-8-sig", dtype=str, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise DataError(
            "the file is empty; expected a header row and data", source=str(path)
        ) from None
    except (UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DataError(
            f"cannot be read as a UTF-8 comma-separated file ({type(exc).__name__}: {exc})",
            source=str(path),
        ) from None
    if frame.shape[1] == 1 and any(sep in frame.columns[0] for sep in (";", "\t")):
        raise DataError(
            f"has a single column {frame.columns[0]!r}: the delimiter looks like ';' or tab; "
            "save it comma-separated",
            source=str(path),
        )
    if frame.empty:
        raise DataError("has a header but no data rows", source=str(path))
    return frame
