"""Bundled example datasets, each with a column dictionary and its source.

Every dataset is a CSV file (UTF-8, comma separated, one header row) beside a JSON "column
dictionary" of the same name, both inside this package, read with :mod:`importlib.resources` so they
work from an installed wheel. The JSON holds ``name``, ``title``, ``description``, ``source`` (full
citation and how the table was obtained), ``license``, ``columns`` and ``notes``. Each entry of
``columns`` has a ``description`` and a ``type``, and may have a ``unit``, ``values`` (the levels
of a category, each with its meaning), ``ordered`` (an ordered category) and ``missing`` (the
column may have missing cells). The ``type`` fixes the dtype the column is read with:

========== ======================================================
``type``   dtype
========== ======================================================
string     ``str``
integer    ``int64`` (``Int64`` when ``missing`` is true)
number     ``float64``
category   ``pandas.CategoricalDtype`` with the levels of ``values``
========== ======================================================

The datasets:

``bcg``
    13 BCG vaccine trials as 2x2 tables (Colditz et al., 1994), from R's metadat ``dat.bcg``.
``normand1999``
    9 studies of length of hospital stay after stroke, means and SDs (Normand, 1999), from R's
    metadat ``dat.normand1999``.
``eight_schools``
    Rubin's (1981) eight schools: effect ``y`` and standard error ``sigma``.
``white2020_published``, ``white2020_studies``, ``white2020_outcomes``
    What is available to us of White et al. (2020), a review of one-to-one peer support in mental
    health services: its pooled estimates, two rows of its table of trials, and its eleven outcomes
    with the direction that favours peer support. No trial-level outcome data.
``peer_support_simulated``
    A SIMULATED review with the structure of White et al. (2020), in the shape of an extraction
    sheet (read it with :func:`bayesmeta.sheet.read_sheet`): 14 of 19 simulated trials, eleven
    outcomes. A calibrated reconstruction, ``bayesmeta.reconstruct.reconstruct_review(
    seed=20201103)``: its DL analysis reproduces the published numbers at the paper's rounding
    (``bayesmeta.reconstruct.reproduction_check()``); not the trials' results.

``bcg.csv`` and ``normand1999.csv`` were written by ``export_metadat.R`` in this folder, kept for
provenance; the package never needs R.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pandas as pd

from bayesmeta.errors import DataError

__all__ = [
    "White2020",
    "describe",
    "list_datasets",
    "load",
    "load_bcg",
    "load_eight_schools",
    "load_normand1999",
    "load_peer_support_simulated",
    "load_white2020",
]

_DATASETS: tuple[str, ...] = (
    "bcg",
    "normand1999",
    "eight_schools",
    "white2020_published",
    "white2020_studies",
    "white2020_outcomes",
    "peer_support_simulated",
)
_WHITE2020_REVIEW = "white2020_review.json"


def list_datasets() -> list[str]:
    """Return the names of the bundled datasets.

    Returns
    -------
    list of str
        Names accepted by :func:`load` and :func:`describe`.

    Examples
    --------
    >>> from bayesmeta import datasets
    >>> datasets.list_datasets()[:3]
    ['bcg', 'normand1999', 'eight_schools']
    """
    return list(_DATASETS)


def describe(name: str) -> dict[str, Any]:
    """Return the column dictionary of a dataset: its columns, source, licence and notes.

    Parameters
    ----------
    name
        A name from :func:`list_datasets`.

    Returns
    -------
    dict
        The dataset's JSON column dictionary (a fresh copy on every call), with keys ``name``,
        ``title``, ``description``, ``source``, ``license``, ``columns`` and ``notes``. The
        ``white2020_*`` tables also carry ``review``: the review's metadata (citation, search
        dates, numbers of trials and participants, method, organisational-support rule, caveats).

    Raises
    ------
    DataError
        If ``name`` is not a bundled dataset.

    Examples
    --------
    >>> from bayesmeta import datasets
    >>> info = datasets.describe("bcg")
    >>> info["columns"]["ablat"]["unit"]
    'degrees'
    >>> datasets.describe("white2020_outcomes")["review"]["n_trials"]
    19
    """
    _check_name(name)
    info = _read_json(f"{name}.json")
    if name.startswith("white2020_"):
        info["review"] = _read_json(_WHITE2020_REVIEW)
    return info


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset as a data frame with the dtypes its column dictionary documents.

    Parameters
    ----------
    name
        A name from :func:`list_datasets`.

    Returns
    -------
    pandas.DataFrame
        One row per line of the CSV file, columns in file order. ``.attrs["source"]`` holds the
        citation and ``.attrs["name"]`` the dataset name; :func:`describe` gives the rest.

    Raises
    ------
    DataError
        If ``name`` is not a bundled dataset, or (a packaging bug) the file disagrees with its
        column dictionary.

    See Also
    --------
    describe : the column dictionary and source of a dataset.

    Examples
    --------
    >>> from bayesmeta import datasets
    >>> bcg = datasets.load("bcg")
    >>> bcg.shape
    (13, 9)
    >>> int(bcg.loc[0, "tpos"])
    4
    >>> str(bcg["tpos"].dtype)
    'int64'
    """
    info = describe(name)
    columns: dict[str, dict[str, Any]] = info["columns"]
    filename = f"{name}.csv"
    read_dtypes = {col: _read_dtype(spec) for col, spec in columns.items()}
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    try:
        df = pd.read_csv(
            io.StringIO(text), dtype=read_dtypes, keep_default_na=False, na_values=[""]
        )
    except (ValueError, TypeError) as exc:
        raise DataError(f"cannot read with documented dtypes: {exc}", source=filename) from exc
    if list(df.columns) != list(columns):
        raise DataError(
            f"columns {list(df.columns)} differ from the column dictionary's {list(columns)}",
            source=filename,
        )
    for col, spec in columns.items():
        df[col] = _finish_column(df[col], spec, filename)
    df.attrs["name"] = name
    df.attrs["source"] = info["source"]
    return df


def load_bcg() -> pd.DataFrame:
    """Load the BCG vaccine trials (Colditz et al., 1994), as in R's ``metadat::dat.bcg``.

    Returns
    -------
    pandas.DataFrame
        13 rows: ``trial``, ``author``, ``year``, ``tpos``, ``tneg``, ``cpos``, ``cneg``,
        ``ablat``, ``alloc``. See ``describe("bcg")``.

    Examples
    --------
    >>> from bayesmeta.datasets import load_bcg
    >>> bcg = load_bcg()
    >>> int(bcg["tpos"].sum())
    1065
    """
    return load("bcg")


def load_normand1999() -> pd.DataFrame:
    """Load the stroke length-of-stay studies (Normand, 1999), as in ``metadat::dat.normand1999``.

    Returns
    -------
    pandas.DataFrame
        9 rows: ``study``, ``source``, ``n1i``, ``m1i``, ``sd1i``, ``n2i``, ``m2i``, ``sd2i``
        (group 1 specialist care, group 2 routine care; days). See ``describe("normand1999")``.

    Examples
    --------
    >>> from bayesmeta.datasets import load_normand1999
    >>> df = load_normand1999()
    >>> df.loc[0, "source"]
    'Edinburgh'
    """
    return load("normand1999")


def load_eight_schools() -> pd.DataFrame:
    """Load Rubin's (1981) eight schools: coaching effects ``y`` and standard errors ``sigma``.

    Returns
    -------
    pandas.DataFrame
        8 rows: ``school`` (A to H), ``y``, ``sigma``. See ``describe("eight_schools")``.

    Examples
    --------
    >>> from bayesmeta.datasets import load_eight_schools
    >>> schools = load_eight_schools()
    >>> float(schools.loc[0, "y"]), float(schools.loc[0, "sigma"])
    (28.39, 14.9)
    """
    return load("eight_schools")


def load_peer_support_simulated() -> pd.DataFrame:
    """Load the SIMULATED peer-support review, an extraction sheet with White et al.'s structure.

    The data are a calibrated reconstruction, ``bayesmeta.reconstruct.reconstruct_review(
    seed=20201103)``: SIMULATED trial-level data whose DerSimonian-Laird analysis reproduces the
    published numbers of White et al. (2020) at the paper's rounding. They are not the trials'
    results, and every study label says "(simulated)".

    Returns
    -------
    pandas.DataFrame
        46 rows, one per (simulated trial, outcome), in the columns of
        :func:`bayesmeta.sheet.template_columns`. See ``describe("peer_support_simulated")``.

    Examples
    --------
    >>> from bayesmeta.datasets import load_peer_support_simulated
    >>> from bayesmeta.sheet import read_sheet
    >>> sim = load_peer_support_simulated()
    >>> sim["study"].nunique(), sim["outcome"].nunique()
    (14, 11)
    >>> len(read_sheet(sim).outcomes)
    11
    """
    return load("peer_support_simulated")


@dataclass(frozen=True, eq=False)
class White2020:
    """What is available to us of White et al. (2020), peer support in mental health services.

    Equality is identity (data frames have no single truth value), so instances hash by identity.

    Attributes
    ----------
    published
        The pooled estimates as published, one row per estimate (``white2020_published``).
    studies
        Trial characteristics, the two rows of the paper's Table 1 available to us
        (``white2020_studies``).
    outcomes
        The eleven outcomes with type, measure and the direction favouring peer support
        (``white2020_outcomes``).
    metadata
        The review's metadata: citation, doi, search dates, numbers of trials and participants,
        method, organisational-support rule, sign convention and caveats.

    Examples
    --------
    >>> from bayesmeta.datasets import load_white2020
    >>> w = load_white2020()
    >>> len(w.outcomes), w.metadata["n_participants"]
    (11, 3329)
    """

    published: pd.DataFrame
    studies: pd.DataFrame
    outcomes: pd.DataFrame
    metadata: dict[str, Any]


def load_white2020() -> White2020:
    """Load the three White et al. (2020) tables and the review's metadata together.

    Returns
    -------
    White2020
        ``published``, ``studies``, ``outcomes`` (as from :func:`load`) and ``metadata``.

    Examples
    --------
    >>> from bayesmeta.datasets import load_white2020
    >>> w = load_white2020()
    >>> w.metadata["n_trials"], w.metadata["n_trials_meta_analysis"]
    (19, 14)
    >>> snsupport = w.published[w.published["outcome"] == "social_network_support"]
    >>> snsupport["estimate"].tolist()
    [0.09, 0.5, -0.04]
    """
    return White2020(
        published=load("white2020_published"),
        studies=load("white2020_studies"),
        outcomes=load("white2020_outcomes"),
        metadata=_read_json(_WHITE2020_REVIEW),
    )


def _check_name(name: str) -> None:
    if name not in _DATASETS:
        raise DataError(f"unknown dataset {name!r}; available: {', '.join(_DATASETS)}")


def _read_json(filename: str) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def _read_dtype(spec: dict[str, Any]) -> str:
    """Return the dtype for ``read_csv``; categories are read as strings and converted after."""
    kind = spec["type"]
    if kind in ("string", "category"):
        return "str"
    if kind == "integer":
        return "Int64" if spec.get("missing", False) else "int64"
    if kind == "number":
        return "float64"
    raise DataError(f"unknown column type {kind!r} in a column dictionary")


def _finish_column(col: pd.Series, spec: dict[str, Any], filename: str) -> pd.Series:
    """Convert categories and check missing cells against the column dictionary."""
    missing = col.isna()
    if missing.any() and not spec.get("missing", False):
        raise DataError(
            "missing values in a column documented as complete",
            rows=[int(i) for i in missing.to_numpy().nonzero()[0]],
            column=str(col.name),
            source=filename,
        )
    if spec["type"] != "category":
        return col
    levels = list(spec["values"])
    unknown = ~missing & ~col.isin(levels)
    if unknown.any():
        raise DataError(
            f"values {sorted(set(col[unknown]))} are not among the documented levels {levels}",
            rows=[int(i) for i in unknown.to_numpy().nonzero()[0]],
            column=str(col.name),
            source=filename,
        )
    return col.astype(pd.CategoricalDtype(levels, ordered=bool(spec.get("ordered", False))))
