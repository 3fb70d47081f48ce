r"""Effect sizes from arm-level data: ``yi`` and ``vi`` per study, metafor- or RevMan-5-style.

This is the numpy core behind every table of effect sizes in bayesmeta. It takes plain array-likes
(one element per study) and returns an :class:`EffectSizes` with the estimates ``yi``, their
sampling variances ``vi`` and, per study, whether a continuity correction was added
(``corrected``) and whether an estimate exists at all (``estimable``).

Two conventions are offered:

``"metafor"`` (default)
    Reproduces ``metafor::escalc()`` (version 3.8) to rounding error, including its options
    ``vtype``, ``add``, ``to`` and ``drop00``. Pinned by ``models/escalc/reference.json``.
``"revman"``
    Reproduces Review Manager 5 (Deeks & Higgins, *Statistical algorithms in Review Manager 5*,
    2010): Hedges' g with the approximate small-sample correction and RevMan's variance, and
    RevMan's fixed zero-cell rules. Its options cannot be changed, as in RevMan.

Measures (arm 1 is the experimental arm, arm 2 the comparator; positive values favour arm 1
having the larger mean or the higher risk):

========  ==================================  ==============================================
measure   effect                              inputs
========  ==================================  ==============================================
``SMD``   standardised mean difference        ``m1i, sd1i, n1i, m2i, sd2i, n2i``
          (Hedges' g)
``MD``    mean difference                     ``m1i, sd1i, n1i, m2i, sd2i, n2i``
``OR``    log odds ratio                      ``ai, bi, ci, di`` or ``ai, n1i, ci, n2i``
``RR``    log risk ratio                      as for ``OR``
``RD``    risk difference                     as for ``OR``
========  ==================================  ==============================================

For 2x2 tables ``ai``/``ci`` are the events and ``bi``/``di`` the non-events in arms 1 and 2;
``n1i = ai + bi`` and ``n2i = ci + di`` are the arm totals. Either form may be given per arm
(and both, if they agree).

Formulas
--------
With :math:`N = n_1 + n_2`, :math:`m = N - 2`, pooled SD
:math:`s_p = \sqrt{((n_1-1)s_1^2 + (n_2-1)s_2^2)/m}` and :math:`d = (\bar x_1 - \bar x_2)/s_p`:

**SMD, metafor.** :math:`g = J(m)\,d` with the exact :func:`hedges_correction` :math:`J`, and

- ``LS``  (default): :math:`v = 1/n_1 + 1/n_2 + g^2/(2N)`
- ``UB``:  :math:`v = 1/n_1 + 1/n_2 + \{1 - (m-2)/(m J^2)\}\,g^2` (unbiased)
- ``LS2``: :math:`v = J^2\{1/n_1 + 1/n_2 + d^2/(2N)\}`
- ``AV``:  :math:`v = 1/n_1 + 1/n_2 + \bar g^2/(2N)` with
  :math:`\bar g = \sum_i N_i g_i / \sum_i N_i` the sample-size weighted mean over studies
  (so each ``vi`` depends on all rows).

**SMD, RevMan 5** (Deeks & Higgins 2010): :math:`g = d\{1 - 3/(4N - 9)\}`,
:math:`v = N/(n_1 n_2) + g^2/\{2(N - 3.94)\}`. For at least 10 per arm it is within
:math:`10^{-3}` of the exact g for :math:`|d| \le 5`.

**MD** (both conventions): :math:`y = \bar x_1 - \bar x_2`;
``LS``/``UB``: :math:`v = s_1^2/n_1 + s_2^2/n_2`; ``HO``: :math:`v = s_p^2(1/n_1 + 1/n_2)`.

**2x2** with cells :math:`a, b, c, d` after any correction, :math:`p_1 = a/n_1`,
:math:`p_2 = c/n_2`:

- ``OR``: :math:`y = \operatorname{logit} p_1 - \operatorname{logit} p_2`,
  :math:`v = 1/a + 1/b + 1/c + 1/d`
- ``RR``: :math:`y = \log p_1 - \log p_2`, :math:`v = 1/a - 1/n_1 + 1/c - 1/n_2`
- ``RD``: :math:`y = p_1 - p_2`; ``LS``: :math:`v = p_1 q_1/n_1 + p_2 q_2/n_2`;
  ``UB``: denominators :math:`n_j - 1`; ``AV``: :math:`p_j` replaced by the
  :math:`n_j`-weighted mean over studies.

Zero cells. metafor adds ``add`` to the tables selected by ``to`` for every 2x2 measure,
``RD`` included. A result that is infinite or undefined (e.g. :math:`\log 0`) becomes
``NaN`` in both ``yi`` and ``vi``, and a negative ``vi`` becomes ``NaN``, as metafor recodes
them to ``NA``. A zero variance that metafor returns as 0 (``RD`` of a double-zero study
with ``to="none"``) is kept as 0.

RevMan 5 adds 0.5 to every cell of a table with a zero cell for ``OR`` and ``RR``, and
marks studies with no events, or only events, in both arms "not estimable". For ``RD``
RevMan adds nothing; a study whose RD variance is 0 (both arms at 0% or 100%, e.g. a
double-zero study) has no inverse-variance weight, so it is returned not estimable here.
RevMan can still count such a study in a Mantel-Haenszel RD analysis, which this function
does not compute; use ``convention="metafor"`` to keep it with a continuity correction.

References: Viechtbauer W (2010). Conducting meta-analyses in R with the metafor package.
*Journal of Statistical Software* 36(3). Deeks JJ, Higgins JPT (2010). *Statistical algorithms in
Review Manager 5*. The Cochrane Collaboration.

The module imports only numpy and ``scipy.special``; bad data raise
:class:`~bayesmeta.errors.DataError` naming the argument and the (1-based) rows, bad options raise
:class:`~bayesmeta.errors.ModelSpecError` listing the valid choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import gammaln

from bayesmeta.errors import DataError, ModelSpecError

__all__ = [
    "CONVENTIONS",
    "MEASURES",
    "TO_CHOICES",
    "VTYPES",
    "EffectSizes",
    "escalc",
    "hedges_correction",
]

MEASURES: tuple[str, ...] = ("SMD", "MD", "OR", "RR", "RD")
"""Measures :func:`escalc` computes."""

CONVENTIONS: tuple[str, ...] = ("metafor", "revman")
"""Conventions :func:`escalc` follows."""

TO_CHOICES: tuple[str, ...] = ("only0", "all", "if0all", "none")
"""Values of ``to``: which 2x2 tables receive the continuity correction ``add``."""

VTYPES: dict[str, tuple[str, ...]] = {
    "SMD": ("LS", "UB", "LS2", "AV"),
    "MD": ("LS", "UB", "HO"),
    "OR": ("LS",),
    "RR": ("LS",),
    "RD": ("LS", "UB", "AV"),
}
"""Variance types per measure under ``convention="metafor"``; the first is metafor's default."""

_CONTINUOUS = ("SMD", "MD")
_BINARY = ("OR", "RR", "RD")
_CONTINUOUS_ARGS = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")
_BINARY_ARGS = ("ai", "bi", "ci", "di", "n1i", "n2i")
_MAX_ROWS_SHOWN = 10

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class EffectSizes:
    r"""Per-study effect sizes and sampling variances, as returned by :func:`escalc`.

    The arrays are read-only and all of length ``k`` (the number of studies).

    Attributes
    ----------
    yi
        Effect size estimates (log scale for ``OR`` and ``RR``). ``NaN`` where not estimable.
    vi
        Sampling variances of ``yi``. ``NaN`` where not estimable.
    measure
        ``"SMD"``, ``"MD"``, ``"OR"``, ``"RR"`` or ``"RD"``.
    convention
        ``"metafor"`` or ``"revman"``.
    corrected
        True for studies that received a non-zero continuity correction (2x2 measures only).
    estimable
        False for studies without a usable estimate; exactly those where ``yi`` or ``vi`` is
        ``NaN``. Under ``"metafor"`` these are the rows where ``metafor::escalc`` returns ``NA``
        (e.g. a zero cell with ``to="none"``, or a double-zero study with ``drop00=True``).
        Under ``"revman"`` they are RevMan's "not estimable" studies: for ``OR``/``RR`` no
        events, or only events, in both arms; for any measure a study whose variance is 0
        (e.g. ``RD`` of a double-zero study).
    vtype
        The variance type used (``None`` under ``"revman"``).
    add, to, drop00
        The zero-cell settings used for 2x2 measures (``None`` for ``SMD``/``MD``).
    labels
        Study labels, if given.

    Examples
    --------
    >>> es = escalc("MD", m1i=[10.0], sd1i=[2.0], n1i=[20], m2i=[8.0], sd2i=[3.0], n2i=[25])
    >>> float(es.yi[0]), round(float(es.sei[0]), 4)
    (2.0, 0.7483)
    """

    yi: FloatArray
    vi: FloatArray
    measure: str
    convention: str
    corrected: BoolArray
    estimable: BoolArray
    vtype: str | None = None
    add: float | None = None
    to: str | None = None
    drop00: bool | None = None
    labels: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        arrays = {}
        for name, dtype in (
            ("yi", np.float64),
            ("vi", np.float64),
            ("corrected", np.bool_),
            ("estimable", np.bool_),
        ):
            arr = np.array(getattr(self, name), dtype=dtype, copy=True)
            if arr.ndim != 1:
                raise ValueError(f"EffectSizes.{name} must be one-dimensional")
            arr.setflags(write=False)
            arrays[name] = arr
            object.__setattr__(self, name, arr)
        k = arrays["yi"].shape[0]
        if any(a.shape[0] != k for a in arrays.values()):
            raise ValueError("EffectSizes arrays must all have the same length")
        if self.labels is not None and len(self.labels) != k:
            raise ValueError("EffectSizes.labels must have one label per study")

    @property
    def sei(self) -> FloatArray:
        """Standard errors, ``sqrt(vi)``."""
        return np.sqrt(self.vi)

    @property
    def k(self) -> int:
        """Number of studies (rows), estimable or not."""
        return int(self.yi.shape[0])

    def __len__(self) -> int:
        return self.k

    @property
    def settings(self) -> dict[str, Any]:
        """The options that produced these values, as a JSON-native dict."""
        return {
            "measure": self.measure,
            "convention": self.convention,
            "vtype": self.vtype,
            "add": self.add,
            "to": self.to,
            "drop00": self.drop00,
        }


def hedges_correction(m: ArrayLike) -> FloatArray:
    r"""Exact small-sample bias correction factor of Hedges' g.

    .. math::

        J(m) = \frac{\Gamma(m/2)}{\sqrt{m/2}\,\Gamma((m-1)/2)}
             = \exp\{\log\Gamma(m/2) - \tfrac12\log(m/2) - \log\Gamma((m-1)/2)\},

    with :math:`m = n_1 + n_2 - 2` degrees of freedom. ``NaN`` for :math:`m \le 1`, as in metafor.
    The familiar approximation is :math:`J(m) \approx 1 - 3/(4m - 1)`.

    Parameters
    ----------
    m
        Degrees of freedom.

    Returns
    -------
    numpy.ndarray
        :math:`J(m)`, between 0 and 1.

    See also: metafor's internal ``.cmicalc``.

    Examples
    --------
    >>> bool(np.isclose(hedges_correction(2.0)[0], 1 / np.sqrt(np.pi)))
    True
    >>> np.round(hedges_correction([18.0, 1.0]), 6)
    array([0.957646,      nan])
    """
    m = np.atleast_1d(np.asarray(m, dtype=np.float64))
    out = np.full(m.shape, np.nan)
    ok = m > 1
    mm = m[ok]
    out[ok] = np.exp(gammaln(mm / 2) - np.log(np.sqrt(mm / 2)) - gammaln((mm - 1) / 2))
    return out


def escalc(
    measure: str,
    *,
    m1i: ArrayLike | None = None,
    sd1i: ArrayLike | None = None,
    n1i: ArrayLike | None = None,
    m2i: ArrayLike | None = None,
    sd2i: ArrayLike | None = None,
    n2i: ArrayLike | None = None,
    ai: ArrayLike | None = None,
    bi: ArrayLike | None = None,
    ci: ArrayLike | None = None,
    di: ArrayLike | None = None,
    convention: str = "metafor",
    vtype: str | None = None,
    add: float | None = None,
    to: str | None = None,
    drop00: bool | None = None,
    labels: Sequence[Any] | None = None,
) -> EffectSizes:
    r"""Compute effect sizes ``yi`` and sampling variances ``vi`` from arm-level data.

    Parameters
    ----------
    measure
        ``"SMD"`` (Hedges' g), ``"MD"``, ``"OR"`` (log odds ratio), ``"RR"`` (log risk ratio) or
        ``"RD"`` (risk difference).
    m1i, sd1i, n1i, m2i, sd2i, n2i
        Means, standard deviations (> 0) and sizes (>= 2) of arms 1 and 2 (``SMD``, ``MD``).
        Sizes need not be integers (effective sample sizes are accepted).
        For 2x2 measures ``n1i``/``n2i`` are the arm totals and may replace ``bi``/``di``.
    ai, bi, ci, di
        2x2 cell counts: events and non-events in arm 1 (``ai``, ``bi``) and arm 2 (``ci``,
        ``di``); non-negative integers, arm totals >= 1.
    convention
        ``"metafor"`` (default) or ``"revman"`` (Review Manager 5).
    vtype
        Variance type, ``convention="metafor"`` only; ``None`` takes metafor's default ``"LS"``.
        ``SMD``: ``"LS"``, ``"UB"``, ``"LS2"``, ``"AV"``; ``MD``: ``"LS"``, ``"UB"``, ``"HO"``;
        ``RD``: ``"LS"``, ``"UB"``, ``"AV"``; ``OR``/``RR``: ``"LS"``.
    add, to, drop00
        Zero-cell handling for 2x2 measures, ``convention="metafor"`` only (RevMan's rules are
        fixed). ``add`` (default 1/2) is added to every cell of the tables selected by ``to``:
        ``"only0"`` (default) tables with at least one zero cell, ``"all"`` every table,
        ``"if0all"`` every table if any table has a zero cell, ``"none"`` no table.
        ``drop00=True`` (default False) makes tables with no events, or only events, in both arms
        not estimable.
    labels
        Study labels, one per row, used in error messages and kept on the result.

    Returns
    -------
    EffectSizes
        ``yi``, ``vi``, ``corrected``, ``estimable`` and the settings used.

    Raises
    ------
    ModelSpecError
        Unknown ``measure``, ``convention``, ``vtype`` or ``to``; an option that does not apply.
    DataError
        Missing or surplus inputs, inputs of different lengths or length 0, non-numeric or
        non-finite values, SD <= 0, arm size < 2 (``SMD``/``MD``), negative or non-integer
        counts, events > arm total, empty arms, ``n1i != ai + bi``.

    The formulas, zero-cell rules and references are in the module docstring
    (:mod:`bayesmeta.effect_sizes`).

    See also: metafor::escalc

    Examples
    --------
    Hedges' g for two trials, metafor's exact correction and RevMan's approximation:

    >>> data = dict(m1i=[55.0, 27.0], sd1i=[47.0, 7.0], n1i=[155, 31],
    ...             m2i=[75.0, 29.0], sd2i=[64.0, 4.0], n2i=[156, 32])
    >>> es = escalc("SMD", **data)
    >>> np.round(es.yi, 4), np.round(es.vi, 4)
    (array([-0.3552, -0.3479]), array([0.0131, 0.0645]))
    >>> np.round(escalc("SMD", **data, convention="revman").yi, 4)
    array([-0.3552, -0.3479])

    Log odds ratios from events and totals; the double-zero study is corrected by metafor and
    not estimable under RevMan:

    >>> es = escalc("OR", ai=[4, 0, 0], n1i=[123, 50, 40], ci=[11, 3, 0], n2i=[139, 48, 45])
    >>> np.round(es.yi, 3), es.corrected
    (array([-0.939, -2.05 ,  0.116]), array([False,  True,  True]))
    >>> escalc("OR", ai=[4, 0, 0], n1i=[123, 50, 40], ci=[11, 3, 0], n2i=[139, 48, 45],
    ...        convention="revman").estimable
    array([ True,  True, False])
    """
    measure, convention = _check_options_basic(measure, convention)
    labs = _check_labels(labels)
    given = dict(
        m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, ai=ai, bi=bi, ci=ci, di=di
    )
    supplied = {name: value for name, value in given.items() if value is not None}

    if measure in _CONTINUOUS:
        if add is not None or to is not None or drop00 is not None:
            raise ModelSpecError(
                f"add, to and drop00 apply to 2x2 measures ({', '.join(_BINARY)}) only; "
                f"remove them for measure {measure!r}."
            )
        vt = _resolve_vtype(measure, convention, vtype)
        arrays = _collect(measure, supplied, _CONTINUOUS_ARGS, labs)
        return _continuous(measure, convention, vt, arrays, labs)

    vt = _resolve_vtype(measure, convention, vtype)
    add_, to_, drop00_ = _resolve_zero_rules(measure, convention, add, to, drop00)
    arrays = _collect(measure, supplied, _BINARY_ARGS, labs)
    a, b, c, d = _cells(arrays, labs)
    return _binary(measure, convention, vt, add_, to_, drop00_, a, b, c, d, labs)


# ---------------------------------------------------------------------------------------------
# option checks


def _check_options_basic(measure: Any, convention: Any) -> tuple[str, str]:
    if not isinstance(measure, str) or measure not in MEASURES:
        raise ModelSpecError(
            f"Unknown measure {measure!r}; choose one of {', '.join(map(repr, MEASURES))}."
        )
    if not isinstance(convention, str) or convention not in CONVENTIONS:
        raise ModelSpecError(
            f"Unknown convention {convention!r}; choose one of {', '.join(map(repr, CONVENTIONS))}."
        )
    return measure, convention


def _resolve_vtype(measure: str, convention: str, vtype: Any) -> str | None:
    if convention == "revman":
        if vtype is not None:
            raise ModelSpecError(
                f"vtype={vtype!r} cannot be combined with convention='revman', which has one "
                "variance formula per measure; leave vtype=None or use convention='metafor'."
            )
        return None
    valid = VTYPES[measure]
    if vtype is None:
        return valid[0]
    if not isinstance(vtype, str) or vtype not in valid:
        raise ModelSpecError(
            f"Unknown vtype {vtype!r} for measure {measure!r}; choose one of "
            f"{', '.join(map(repr, valid))} (or None for the default {valid[0]!r})."
        )
    return vtype


def _resolve_zero_rules(
    measure: str, convention: str, add: Any, to: Any, drop00: Any
) -> tuple[float, str, bool]:
    if convention == "revman":
        if add is not None or to is not None or drop00 is not None:
            raise ModelSpecError(
                "RevMan 5's zero-cell rules are fixed (0.5 added to tables with a zero cell for "
                "OR and RR, nothing for RD); leave add, to and drop00 as None or use "
                "convention='metafor'."
            )
        if measure == "RD":
            return 0.0, "none", False
        return 0.5, "only0", True
    if add is None:
        add_ = 0.5
    else:
        if isinstance(add, bool) or not isinstance(add, int | float | np.integer | np.floating):
            raise ModelSpecError(f"add must be a non-negative number, got {add!r}.")
        add_ = float(add)
        if not np.isfinite(add_) or add_ < 0:
            raise ModelSpecError(f"add must be a finite number >= 0, got {add!r}.")
    if to is None:
        to_ = "only0"
    elif not isinstance(to, str) or to not in TO_CHOICES:
        raise ModelSpecError(
            f"Unknown to={to!r}; choose one of {', '.join(map(repr, TO_CHOICES))}."
        )
    else:
        to_ = to
    if drop00 is None:
        drop00_ = False
    elif isinstance(drop00, bool | np.bool_):
        drop00_ = bool(drop00)
    else:
        raise ModelSpecError(f"drop00 must be True or False, got {drop00!r}.")
    return add_, to_, drop00_


def _check_labels(labels: Any) -> tuple[str, ...] | None:
    if labels is None:
        return None
    if isinstance(labels, str | bytes):
        raise DataError(
            "labels must be a sequence of study labels, one per row, not a single string.",
            column="labels",
        )
    try:
        return tuple(str(x) for x in labels)
    except TypeError:
        raise DataError(
            f"labels must be a sequence of study labels, got {type(labels).__name__}.",
            column="labels",
        ) from None


# ---------------------------------------------------------------------------------------------
# data checks


def _rows_text(idx: NDArray[np.intp], labels: tuple[str, ...] | None) -> str:
    shown = idx[:_MAX_ROWS_SHOWN]
    parts = [
        f"{i + 1} ({labels[i]!r})" if labels is not None else str(i + 1) for i in shown.tolist()
    ]
    more = f" and {idx.size - shown.size} more" if idx.size > shown.size else ""
    noun = "row" if idx.size == 1 else "rows"
    return f"{noun} {', '.join(parts)}{more}"


def _fail(
    mask: BoolArray, column: str, problem: str, todo: str, labels: tuple[str, ...] | None
) -> None:
    """Raise a DataError naming `column` and the rows where `mask` is True, if any."""
    if not mask.any():
        return
    idx = np.flatnonzero(mask)
    raise DataError(
        f"{column}: {problem} in {_rows_text(idx, labels)} (1-based). {todo}",
        rows=idx.tolist(),
        column=column,
    )


def _raise_non_numeric(name: str, value: Any, labels: tuple[str, ...] | None) -> NoReturn:
    """Error path only: find the entries of `value` that are not numbers and name their rows."""
    obj = np.asarray(value, dtype=object)
    if obj.ndim == 1:
        bad = []
        for i, x in enumerate(obj.tolist()):
            if x is None:
                continue
            try:
                float(x)
            except (TypeError, ValueError):
                bad.append(i)
        if bad:
            idx = np.asarray(bad, dtype=np.intp)
            raise DataError(
                f"{name}: non-numeric value {obj[idx[0]]!r} in {_rows_text(idx, labels)} "
                "(1-based). Convert the column to numbers (e.g. strip units or footnote marks).",
                rows=bad,
                column=name,
            )
    raise DataError(
        f"{name} must be numeric (a 1-D array of numbers); convert it before calling escalc.",
        column=name,
    )


def _collect(
    measure: str,
    supplied: dict[str, ArrayLike],
    allowed: tuple[str, ...],
    labels: tuple[str, ...] | None,
) -> dict[str, FloatArray]:
    surplus = [name for name in supplied if name not in allowed]
    if surplus:
        raise DataError(
            f"{', '.join(surplus)} {'is' if len(surplus) == 1 else 'are'} not used by measure "
            f"{measure!r}, which takes {', '.join(allowed)}; remove "
            f"{'it' if len(surplus) == 1 else 'them'} or choose another measure.",
            column=surplus[0],
        )
    if measure in _CONTINUOUS:
        missing = [name for name in _CONTINUOUS_ARGS if name not in supplied]
        needs = ", ".join(_CONTINUOUS_ARGS)
    else:
        missing = [name for name in ("ai", "ci") if name not in supplied]
        if "bi" not in supplied and "n1i" not in supplied:
            missing.append("bi (or n1i)")
        if "di" not in supplied and "n2i" not in supplied:
            missing.append("di (or n2i)")
        needs = "ai, bi, ci, di or ai, n1i, ci, n2i"
    if missing:
        raise DataError(
            f"measure {measure!r} needs {needs}; missing: {', '.join(missing)}. "
            "Supply every required array.",
            column=missing[0].split(" ")[0],
        )

    arrays: dict[str, FloatArray] = {}
    for name, value in supplied.items():
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            _raise_non_numeric(name, value, labels)
        if arr.ndim == 0:
            arr = arr.reshape(1)
        if arr.ndim != 1:
            raise DataError(
                f"{name} must be one-dimensional (one value per study), got shape {arr.shape}.",
                column=name,
            )
        arrays[name] = arr

    lengths = {name: arr.shape[0] for name, arr in arrays.items()}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{name}={n}" for name, n in lengths.items())
        first = next(iter(lengths.values()))
        odd = next(name for name, n in lengths.items() if n != first)
        raise DataError(
            f"Inputs differ in length ({detail}); give one value per study in every array.",
            column=odd,
        )
    k = next(iter(lengths.values()))
    if k == 0:
        raise DataError(
            "Inputs have length 0; give at least one study.", column=next(iter(lengths))
        )
    if labels is not None and len(labels) != k:
        raise DataError(
            f"labels has {len(labels)} entries but the data have {k} rows; give one label per "
            "study.",
            column="labels",
        )
    for name, arr in arrays.items():
        _fail(
            ~np.isfinite(arr),
            name,
            "missing or non-finite value (NaN/inf)",
            "Fill in the value or drop the study before calling escalc.",
            labels,
        )
    return arrays


def _cells(
    arrays: dict[str, FloatArray], labels: tuple[str, ...] | None
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Check 2x2 inputs and return the four cells a, b, c, d."""
    for name, arr in arrays.items():
        _fail(
            arr != np.floor(arr),
            name,
            "non-integer count",
            "2x2 cells and arm totals must be whole numbers of participants.",
            labels,
        )
        _fail(
            arr < 0,
            name,
            "negative count",
            "Counts of participants cannot be negative.",
            labels,
        )
    cells = []
    for ev, nonev, tot in (("ai", "bi", "n1i"), ("ci", "di", "n2i")):
        e = arrays[ev]
        if tot in arrays:
            n = arrays[tot]
            _fail(
                e > n,
                ev,
                f"events exceed the arm total {tot}",
                f"Check {ev} and {tot}; events must be between 0 and the arm total.",
                labels,
            )
            if nonev in arrays:
                _fail(
                    arrays[nonev] != n - e,
                    tot,
                    f"{tot} != {ev} + {nonev}",
                    f"Give either {nonev} (non-events) or {tot} (arm total), or make them agree.",
                    labels,
                )
            ne = n - e
        else:
            ne = arrays[nonev]
        _fail(
            e + ne < 1,
            tot if tot in arrays else nonev,
            f"empty arm ({ev} + {nonev} = 0)",
            "Every arm needs at least one participant; drop the study or fix its counts.",
            labels,
        )
        cells += [e, ne]
    a, b, c, d = (x.copy() for x in cells)
    return a, b, c, d


# ---------------------------------------------------------------------------------------------
# computation


def _continuous(
    measure: str,
    convention: str,
    vtype: str | None,
    x: dict[str, FloatArray],
    labels: tuple[str, ...] | None,
) -> EffectSizes:
    for name in ("sd1i", "sd2i"):
        _fail(
            x[name] <= 0,
            name,
            "standard deviation <= 0",
            "Standard deviations must be positive; check for a standard error or a typo.",
            labels,
        )
    for name in ("n1i", "n2i"):
        _fail(
            x[name] < 2,
            name,
            "arm size < 2",
            "A standard deviation needs at least 2 participants per arm; drop the study.",
            labels,
        )
    m1, s1, n1, m2, s2, n2 = (x[name] for name in _CONTINUOUS_ARGS)
    n = n1 + n2
    df = n - 2
    sp2 = ((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / df
    k = n.shape[0]

    if measure == "MD":
        yi = m1 - m2
        if vtype == "HO":
            vi = sp2 * (1 / n1 + 1 / n2)
        else:  # "LS", "UB", and RevMan: unequal variances
            vi = s1**2 / n1 + s2**2 / n2
    else:
        d = (m1 - m2) / np.sqrt(sp2)
        if convention == "revman":
            yi = d * (1 - 3 / (4 * n - 9))
            vi = n / (n1 * n2) + yi**2 / (2 * (n - 3.94))
        else:
            j = hedges_correction(df)
            yi = j * d
            if vtype == "LS":
                vi = 1 / n1 + 1 / n2 + yi**2 / (2 * n)
            elif vtype == "UB":
                vi = 1 / n1 + 1 / n2 + (1 - (df - 2) / (df * j**2)) * yi**2
            elif vtype == "LS2":
                vi = j**2 * (1 / n1 + 1 / n2 + d**2 / (2 * n))
            else:  # "AV"
                gbar = np.sum(yi * n) / np.sum(n)
                vi = 1 / n1 + 1 / n2 + gbar**2 / (2 * n)
    return EffectSizes(
        yi=yi,
        vi=vi,
        measure=measure,
        convention=convention,
        corrected=np.zeros(k, dtype=bool),
        estimable=np.ones(k, dtype=bool),
        vtype=vtype,
        labels=labels,
    )


def _wmean(x: FloatArray, w: FloatArray) -> float:
    """Weighted mean over the rows where both x and w are defined (metafor's ``.wmean``)."""
    ok = ~(np.isnan(x) | np.isnan(w))
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.sum(x[ok] * w[ok]) / np.sum(w[ok]))


def _binary(
    measure: str,
    convention: str,
    vtype: str | None,
    add: float,
    to: str,
    drop00: bool,
    a: FloatArray,
    b: FloatArray,
    c: FloatArray,
    d: FloatArray,
    labels: tuple[str, ...] | None,
) -> EffectSizes:
    k = a.shape[0]
    dropped = np.zeros(k, dtype=bool)
    if drop00:
        dropped = ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))
        for cell in (a, b, c, d):
            cell[dropped] = np.nan
    has_zero = ((a == 0) | (b == 0) | (c == 0) | (d == 0)) & ~dropped
    if to == "all" or (to == "if0all" and has_zero.any()):
        gets_add = ~dropped
    elif to == "only0" or to == "if0all":
        gets_add = has_zero
    else:  # "none"
        gets_add = np.zeros(k, dtype=bool)
    for cell in (a, b, c, d):
        cell[gets_add] += add
    corrected = gets_add & (add != 0)

    with np.errstate(divide="ignore", invalid="ignore"):
        n1 = a + b
        n2 = c + d
        p1 = a / n1
        p2 = c / n2
        if measure == "OR":
            yi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2))
            vi = 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RR":
            yi = np.log(p1) - np.log(p2)
            vi = 1 / a - 1 / n1 + 1 / c - 1 / n2
        else:  # "RD"
            yi = p1 - p2
            if vtype == "UB":
                vi = p1 * (1 - p1) / (n1 - 1) + p2 * (1 - p2) / (n2 - 1)
            elif vtype == "AV":
                q1 = _wmean(p1, n1)
                q2 = _wmean(p2, n2)
                vi = q1 * (1 - q1) / n1 + q2 * (1 - q2) / n2
            else:  # "LS" and RevMan
                vi = p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2

    # metafor recodes +-Inf and NaN in either to NA in both, and negative variances to NA.
    bad = ~np.isfinite(yi) | ~np.isfinite(vi)
    if convention == "revman":
        bad |= vi == 0  # no inverse-variance weight: RevMan's "not estimable"
    yi = np.where(bad, np.nan, yi)
    vi = np.where(bad | (vi < 0), np.nan, vi)
    estimable = ~(np.isnan(yi) | np.isnan(vi))
    return EffectSizes(
        yi=yi,
        vi=vi,
        measure=measure,
        convention=convention,
        corrected=corrected,
        estimable=estimable,
        vtype=vtype,
        add=add,
        to=to,
        drop00=drop00,
        labels=labels,
    )
