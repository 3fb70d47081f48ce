"""RevMan 5's subgroup forest plot: inputs -> statistics -> rows -> layout -> drawing -> labels.

Studies are grouped under subgroup headings. Each study row shows the optional arm data
(mean, SD and total per arm, or events and total), its weight in the overall analysis and
its estimate with 95% CI, drawn as a square (area proportional to the weight). Each
subgroup ends with a subtotal row (summed arm totals and weights, the pooled estimate as a
diamond), its heterogeneity line (Tau², Chi², df, P, I²) and the test for its overall
effect (Z, P). The total row and its two lines follow, then the test for subgroup
differences (Chi², df, P, I²) as :func:`bayesmeta.frequentist.subgroup_analysis` computes
it. Optional second row sets show Bayesian meta-regression subgroup means (accent circles
on credible intervals) and published subgroup estimates (open grey diamonds).

Texts carry gids: ``subgroup-heading``, ``study-label``, ``arm-data``, ``weight``,
``estimate`` (``estimate-ci``), ``subtotal-label``, ``total-label``, ``heterogeneity``,
``overall-effect``, ``subgroup-differences``, ``bayes-heading``, ``bayes-label``,
``published-heading``, ``published-label``, ``header``, ``plot-header``, ``favours``;
glyphs ``study-square``, ``subtotal-diamond``, ``total-diamond``, ``bayes-point``,
``published-diamond``, ``null-line``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from bayesmeta._stats import critical_value
from bayesmeta.errors import DataError
from bayesmeta.plots import _glyphs as G
from bayesmeta.plots._layout import (
    ACCENT,
    BLACK,
    FS,
    FS_FAV,
    FS_SMALL,
    GREY,
    MAX_LABEL,
    WIDTH,
    Measure,
    as_frame,
    check_choice,
    check_order,
    fmt,
    interval_parts,
    measure,
    numeric,
    require,
    revman_p,
    style,
    truncate,
)

__all__ = [
    "ARM_COLUMNS",
    "heterogeneity_text",
    "overall_effect_text",
    "subgroup_forest_plot",
    "subgroup_test_text",
]

if TYPE_CHECKING:
    from bayesmeta.frequentist import FrequentistResult, SubgroupResult

Arr = np.ndarray
#: Arm-data columns (metafor's names) and their headers, per kind of outcome.
ARM_COLUMNS = {
    "continuous": (("m1i", "sd1i", "n1i"), ("m2i", "sd2i", "n2i"), ("Mean", "SD", "Total")),
    "binary": (("ai", "n1i"), ("ci", "n2i"), ("Events", "Total")),
}
_METHOD_NAMES = {"DL": "IV, Random", "EE": "IV, Fixed", "FE": "IV, Fixed"}
_MARGIN, _GAP, _CELL_GAP = 0.08, 0.16, 0.09
_ROW_IN = 0.19
_INDENT = 0.0


@dataclass
class _Row:
    """One row of the table: what it shows and which glyph it draws."""

    kind: str  # heading, study, subtotal, total, note, set-heading, bayes, published, blank
    label: str = ""
    gid: str = ""
    cells: tuple[str, ...] = ()
    weight: str = ""
    parts: G.Parts = ("", "", "")
    est: float = math.nan
    lo: float = math.nan
    hi: float = math.nan
    side: float = 0.0
    colour: str = BLACK


@dataclass(frozen=True)
class _Stats:
    groups: dict[str, FrequentistResult]
    overall: FrequentistResult
    test: SubgroupResult | None  # None: one group, a plain forest plot


@dataclass(frozen=True)
class _Cols:
    """x positions in inches."""

    x_label: float
    cell_x: tuple[float, ...]  # right edges of the arm cells
    arm_centres: tuple[float, float]
    x_wt: float
    col: G.IntervalColumn
    xs: tuple[float, float, float]
    x_plot: float
    plot_w: float
    width: float


# ----------------------------------------------------------------------------- inputs
def _arm_kind(df: pd.DataFrame, arms: str | None) -> str | None:
    if arms is not None:
        check_choice(arms, ("continuous", "binary", "none"), "arms")
        if arms == "none":
            return None
        t, c, _ = ARM_COLUMNS[arms]
        require(df, (*t, *c), "studies")
        return arms
    for kind, (t, c, _) in ARM_COLUMNS.items():  # the columns present and filled in
        if all(col in df.columns and df[col].notna().any() for col in (*t, *c)):
            return kind
    return None


def _sg_inputs(
    studies: pd.DataFrame, subgroup_order: Sequence[str] | None, arms: str | None
) -> tuple[pd.DataFrame, list[str], str | None]:
    df = as_frame(studies, "studies")
    require(df, ("study", "yi", "vi"), "studies")
    if len(df) == 0:
        raise DataError("studies has no rows", column="study")
    df = df.assign(yi=numeric(df, "yi", "studies"), vi=numeric(df, "vi", "studies"))
    if np.any(df["vi"].to_numpy() <= 0):
        raise DataError("studies: column 'vi' must be > 0", column="vi")
    if "subgroup" not in df.columns:  # RevMan's plain forest plot: one group, no headings
        df["subgroup"] = ""
    df["subgroup"] = df["subgroup"].astype(str)
    found = list(dict.fromkeys(df["subgroup"]))
    order = [str(s) for s in subgroup_order] if subgroup_order is not None else found
    if sorted(order) != sorted(found):
        raise DataError(
            f"subgroup_order {order} does not list the subgroups found {found}", column="subgroup"
        )
    kind = _arm_kind(df, arms)
    if kind is not None:
        t, c, _ = ARM_COLUMNS[kind]
        for col in (*t, *c):
            df[col] = numeric(df, col, "studies", allow_nan=True)
    return df, order, kind


def _sg_stats(df: pd.DataFrame, order: list[str], method: str) -> _Stats:
    """DerSimonian-Laird (or ``method``) fits per subgroup and overall, and RevMan's test."""
    from bayesmeta.frequentist import NotEstimableWarning, rma, subgroup_analysis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotEstimableWarning)
        overall = rma(df["yi"].to_numpy(), df["vi"].to_numpy(), method=method)
        if len(order) < 2:
            return _Stats({order[0]: overall}, overall, None)
        test = subgroup_analysis(df["yi"], df["vi"], df["subgroup"], method=method)
    return _Stats({g: test.groups[g] for g in order}, overall, test)


def _ext_frame(obj: object, name: str) -> pd.DataFrame | None:
    if obj is None:
        return None
    df = as_frame(obj, name)
    require(df, ("subgroup", "estimate", "ci_lb", "ci_ub"), name)
    est, lo, hi = (numeric(df, c, name) for c in ("estimate", "ci_lb", "ci_ub"))
    check_order(lo, hi, name, "ci_lb")
    return df.assign(estimate=est, ci_lb=lo, ci_ub=hi)


# ----------------------------------------------------------------------------- text
def heterogeneity_text(fit: FrequentistResult) -> str:
    """Return RevMan's heterogeneity line of a random-effects fit.

    Examples
    --------
    >>> from bayesmeta.frequentist import rma
    >>> heterogeneity_text(rma([0.1, 0.3, 0.35, 0.6], [0.04, 0.02, 0.05, 0.03], method="DL"))
    'Heterogeneity: Tau² = 0.01; Chi² = 3.77, df = 3 (P = 0.29); I² = 20%'
    """
    if fit.k < 2:
        return "Heterogeneity: Not applicable"
    return (
        f"Heterogeneity: Tau² = {fit.tau2:.2f}; Chi² = {fit.QE:.2f}, df = {fit.k - 1} "
        f"({revman_p(fit.QEp)}); I² = {fit.I2:.0f}%"
    )


def overall_effect_text(fit: FrequentistResult) -> str:
    """Return RevMan's "Test for overall effect: Z = 1.23 (P = 0.22)"."""
    z, p = abs(float(fit.zval[0])), float(fit.pval[0])
    return f"Test for overall effect: Z = {z:.2f} ({revman_p(p)})"


def subgroup_test_text(test: SubgroupResult) -> str:
    """Return RevMan's "Test for subgroup differences: Chi² = 3.44, df = 1 (P = 0.06), I² = 70.9%".

    Examples
    --------
    >>> from bayesmeta.frequentist import subgroup_analysis
    >>> subgroup_test_text(subgroup_analysis([0.1, 0.2, 0.5, 0.7], [0.02] * 4, list("aabb")))
    'Test for subgroup differences: Chi² = 10.12, df = 1 (P = 0.001), I² = 90.1%'
    """
    return (
        f"Test for subgroup differences: Chi² = {test.Q_between:.2f}, df = {test.df} "
        f"({revman_p(test.pval)}), I² = {test.I2_between:.1f}%"
    )


def _cell(v: float, integer: bool) -> str:
    if not np.isfinite(v):
        return ""
    return f"{round(v)}" if integer else fmt(v, 2)


def _arm_cells(row: pd.Series, kind: str | None) -> tuple[str, ...]:
    if kind is None:
        return ()
    t, c, _ = ARM_COLUMNS[kind]
    integer = kind == "binary"
    return tuple(_cell(float(row[col]), integer or col.startswith("n")) for col in (*t, *c))


def _arm_totals(sub: pd.DataFrame, kind: str | None) -> tuple[str, ...]:
    """Subtotal cells: summed events and totals (blank means and SDs)."""
    if kind is None:
        return ()
    t, c, _ = ARM_COLUMNS[kind]
    out = []
    for col in (*t, *c):
        summed = col.startswith("n") or kind == "binary"
        out.append(_cell(float(sub[col].sum(min_count=1)), True) if summed else "")
    return tuple(out)


# ----------------------------------------------------------------------------- rows
def _study_rows(
    df: pd.DataFrame,
    g: str,
    st: _Stats,
    kind: str | None,
    tf: Callable[[float], float],
    digits: int,
) -> list[_Row]:
    w = st.overall.weights
    wmax = float(np.max(w)) if np.max(w) > 0 else 1.0
    rows = []
    for i in np.flatnonzero(df["subgroup"].to_numpy() == g):
        r = df.iloc[i]
        y, se = float(r["yi"]), math.sqrt(float(r["vi"]))
        z = critical_value(0.95)
        est, lo, hi = tf(y), tf(y - z * se), tf(y + z * se)
        rows.append(
            _Row(
                "study", truncate(r["study"], MAX_LABEL), "study-label", _arm_cells(r, kind),
                f"{w[i]:.1f}%", interval_parts(est, lo, hi, digits), est, lo, hi,
                side=max(3.0, 10.0 * math.sqrt(w[i] / wmax)),
            )
        )  # fmt: skip
    return rows


def _pooled_row(
    kind: str, label: str, fit: FrequentistResult, cells: tuple[str, ...], weight: float,
    tf: Callable[[float], float], digits: int,
) -> _Row:  # fmt: skip
    est, lo, hi = (tf(float(a[0])) for a in (fit.beta, fit.ci_lb, fit.ci_ub))
    gid = "subtotal-label" if kind == "subtotal" else "total-label"
    return _Row(kind, label, gid, cells, f"{weight:.1f}%", interval_parts(est, lo, hi, digits),
                est, lo, hi)  # fmt: skip


def _extra_rows(
    frame: pd.DataFrame | None, heading: str, kind: str, names: Mapping[str, str],
    tf: Callable[[float], float], digits: int,
) -> list[_Row]:  # fmt: skip
    """Return the second row set: Bayesian subgroup means or published estimates."""
    if frame is None or len(frame) == 0:
        return []
    colour = ACCENT if kind == "bayes" else GREY
    rows = [_Row("blank"), _Row("set-heading", heading, f"{kind}-heading", colour=colour)]
    for _, r in frame.iterrows():
        est, lo, hi = (tf(float(r[c])) for c in ("estimate", "ci_lb", "ci_ub"))
        label = names.get(str(r["subgroup"]), str(r["subgroup"]))
        rows.append(_Row(kind, truncate(label, MAX_LABEL), f"{kind}-label",
                         parts=interval_parts(est, lo, hi, digits), est=est, lo=lo, hi=hi,
                         colour=colour))  # fmt: skip
    return rows


def _sg_rows(
    df: pd.DataFrame, order: list[str], st: _Stats, kind: str | None,
    names: Mapping[str, str], tf: Callable[[float], float], digits: int,
    extra: list[_Row],
) -> list[_Row]:  # fmt: skip
    """Every row of the table, top to bottom."""
    ci = f"{round(100 * st.overall.level):g}% CI"
    rows: list[_Row] = []
    w = st.overall.weights
    for g in order if st.test is not None else []:
        sel = df["subgroup"].to_numpy() == g
        fit = st.groups[g]
        rows.append(_Row("heading", truncate(names.get(g, g), MAX_LABEL), "subgroup-heading"))
        rows += _study_rows(df, g, st, kind, tf, digits)
        cells = _arm_totals(df[sel], kind)
        rows.append(_pooled_row("subtotal", f"Subtotal ({ci})", fit, cells, float(w[sel].sum()),
                                tf, digits))  # fmt: skip
        rows.append(_Row("note", heterogeneity_text(fit), "heterogeneity"))
        rows.append(_Row("note", overall_effect_text(fit), "overall-effect"))
        rows.append(_Row("blank"))
    if st.test is None:
        rows += _study_rows(df, order[0], st, kind, tf, digits)
    rows.append(_pooled_row("total", f"Total ({ci})", st.overall, _arm_totals(df, kind), 100.0,
                            tf, digits))  # fmt: skip
    rows.append(_Row("note", heterogeneity_text(st.overall), "heterogeneity"))
    rows.append(_Row("note", overall_effect_text(st.overall), "overall-effect"))
    if st.test is not None:
        rows.append(_Row("note", subgroup_test_text(st.test), "subgroup-differences"))
    return rows + extra


# ----------------------------------------------------------------------------- layout
def _font(row: _Row) -> tuple[float, str]:
    if row.kind == "note":
        return FS_SMALL, "normal"
    bold = row.kind in ("heading", "subtotal", "total", "set-heading")
    return FS, "bold" if bold else "normal"


def _sg_columns(
    rows: list[_Row], kind: str | None, m: Measure, arm_names: tuple[str, str],
    ci_header: tuple[str, str],
) -> _Cols:  # fmt: skip
    """Column positions: label, arm cells, weight, interval; the rest is the plot."""
    label_w = max(
        [m.width(r.label, *_font(r)) for r in rows if r.kind != "note"]
        + [m.width("Study or Subgroup", weight="bold")]
    )
    note_w = m.widest([r.label for r in rows if r.kind == "note"], FS_SMALL)
    x = _MARGIN + label_w + _GAP
    cell_x: list[float] = []
    centres: list[float] = []
    if kind is not None:
        heads = ARM_COLUMNS[kind][2]
        n = len(heads)
        for arm in range(2):
            start = x
            for j in range(n):
                texts = [r.cells[arm * n + j] for r in rows if r.cells]
                bold = [r.cells[arm * n + j] for r in rows if r.cells and r.kind != "study"]
                cw = max(m.widest(texts, FS_SMALL), m.widest(bold, FS_SMALL, "bold"),
                         m.width(heads[j], FS_SMALL, "bold"))  # fmt: skip
                x += cw
                cell_x.append(x)
                x += _CELL_GAP
            centres.append((start + x - _CELL_GAP) / 2)
            x += _GAP - _CELL_GAP
    wt_w = max(
        m.widest([r.weight for r in rows], FS_SMALL, "bold"), m.width("Weight", FS_SMALL, "bold")
    )
    x_wt = x + wt_w
    body = [(r.parts, _font(r)[1], FS) for r in rows if any(r.parts)]
    col = G.IntervalColumn.fit(m, body, max(ci_header, key=lambda s: m.width(s, weight="bold")))
    xs = col.xs(x_wt + _GAP)
    x_plot = max(xs[2], _MARGIN + note_w) + _GAP + 0.1
    width = max(WIDTH, x_plot + 2.2 + _MARGIN)
    arm_c = (centres[0], centres[1]) if centres else (0.0, 0.0)
    return _Cols(_MARGIN, tuple(cell_x), arm_c, x_wt, col, xs, x_plot,
                 width - x_plot - _MARGIN, width)  # fmt: skip


def _favours_room(
    c: _Cols, lim: tuple[float, float], null: float, log: bool, fav: tuple[str, str], m: Measure
) -> _Cols:
    """Widen the figure where a favours label, hanging off the null, would pass its edge."""
    f = np.log
    frac = (
        (f(null) - f(lim[0])) / (f(lim[1]) - f(lim[0]))
        if log
        else ((null - lim[0]) / (lim[1] - lim[0]))
    )
    x_null = c.x_plot + float(np.clip(frac, 0.0, 1.0)) * c.plot_w
    over = x_null + G.FAVOURS_GAP + m.width(fav[1], FS_FAV) - (c.width - _MARGIN)
    return replace(c, width=c.width + over) if over > 0 else c


# ----------------------------------------------------------------------------- drawing
def _draw_row(
    ax: Axes, wr: G.Writer, r: _Row, y: float, c: _Cols, lim: tuple[float, float]
) -> None:
    size, weight = _font(r)
    kw: dict[str, Any] = {"fontsize": size, "weight": weight, "color": r.colour}
    if r.kind == "note":
        wr.text(c.x_label, y, r.label, r.gid, fontsize=FS_SMALL)
        return
    wr.text(c.x_label, y, r.label, r.gid, **kw)
    for x, s in zip(c.cell_x, r.cells, strict=False):
        wr.text(x, y, s, "arm-data", ha="right", fontsize=FS_SMALL, weight=weight)
    wr.text(c.x_wt, y, r.weight, "weight", ha="right", fontsize=FS_SMALL, weight=weight)
    if any(r.parts):
        wr.interval(c.xs, y, r.parts, "estimate", **kw)
    if r.kind == "study":
        G.hline(ax, r.lo, r.hi, y, lim, color=BLACK, lw=0.9, zorder=2)
        if lim[0] <= r.est <= lim[1]:
            ax.plot([r.est], [y], marker="s", ms=r.side, color=BLACK, mew=0, zorder=3,
                    gid="study-square")  # fmt: skip
    elif r.kind in ("subtotal", "total"):
        G.diamond(ax, r.est, r.lo, r.hi, y, BLACK, f"{r.kind}-diamond", half_height=0.36)
    elif r.kind == "bayes":
        G.bayes_point(ax, r.est, r.lo, r.hi, y, lim, r.colour, "bayes-point")
    elif r.kind == "published":
        G.diamond(ax, r.est, r.lo, r.hi, y, r.colour, "published-diamond", filled=False)


def _header(fig: Figure, wr: G.Writer, c: _Cols, kind: str | None, arm_names: tuple[str, str],
            ci_header: tuple[str, str], y_top: float) -> None:  # fmt: skip
    y2, y1 = y_top - 0.7, y_top - 1.55
    bold = {"weight": "bold"}
    wr.text(c.x_label, y2, "Study or Subgroup", "header", **bold)
    if kind is not None:
        heads = ARM_COLUMNS[kind][2]
        for arm in range(2):
            wr.text(c.arm_centres[arm], y1, arm_names[arm], "header", ha="center", **bold)
        for j, x in enumerate(c.cell_x):
            wr.text(x, y2, heads[j % len(heads)], "header", ha="right", fontsize=FS_SMALL, **bold)
    wr.text(c.x_wt, y2, "Weight", "header", ha="right", fontsize=FS_SMALL, **bold)
    mid = (c.xs[0] - c.col.est_w + c.xs[2]) / 2
    plot_mid = c.x_plot + c.plot_w / 2
    for x, gid in ((mid, "header"), (plot_mid, "plot-header")):
        wr.text(x, y1, ci_header[0], gid, ha="center", **bold)
        wr.text(x, y2, ci_header[1], gid, ha="center", **bold)
    fig.add_artist(Line2D([c.x_label, c.width - _MARGIN], [y_top, y_top], transform=wr.blend,
                          color=BLACK, lw=0.6, clip_on=False))  # fmt: skip


def _sg_table(
    studies: pd.DataFrame,
    subgroup_order: Sequence[str] | None,
    subgroup_labels: Mapping[str, str] | None,
    arms: str | None,
    method: str,
    direction: str,
    exponentiate: bool,
    digits: int,
    bayes: tuple[pd.DataFrame | None, str],
    published: tuple[pd.DataFrame | None, str],
) -> tuple[list[_Row], str | None]:
    """Check the inputs, pool each subgroup and write every row; return rows and arm kind."""
    check_choice(direction, ("higher", "lower"), "direction")
    df, order, kind = _sg_inputs(studies, subgroup_order, arms)
    names = {str(k): str(v) for k, v in (subgroup_labels or {}).items()}
    tf: Callable[[float], float] = math.exp if exponentiate else float
    st = _sg_stats(df, order, method)
    extra = _extra_rows(_ext_frame(bayes[0], "bayes"), bayes[1], "bayes", names, tf, digits)
    extra += _extra_rows(_ext_frame(published[0], "published"), published[1], "published",
                         names, tf, digits)  # fmt: skip
    return _sg_rows(df, order, st, kind, names, tf, digits, extra), kind


def _sg_axes(
    c: _Cols, n: int, title: str | None, lim: tuple[float, float], null: float,
    exponentiate: bool, m: Measure,
) -> tuple[Figure, Axes, G.Writer]:  # fmt: skip
    """Make the figure for ``n`` rows, its effect axis and a text writer on it."""
    bottom_in, top_in = 0.62, 0.5 + (0.3 if title else 0.0)
    height = top_in + (n + 0.1) * _ROW_IN + bottom_in
    fig = Figure(figsize=(c.width, height), dpi=m.dpi)
    ax = fig.add_axes((c.x_plot / c.width, bottom_in / height, c.plot_w / c.width,
                       (n + 0.1) * _ROW_IN / height))  # fmt: skip
    ax.set_ylim(n - 0.5, -0.6)
    G.effect_axis(ax, lim, null, exponentiate=exponentiate, width_in=c.plot_w, m=m)
    return fig, ax, G.Writer(fig, ax)


def _sg_layout(
    rows: list[_Row], kind: str | None, m: Measure,
    texts: tuple[tuple[str, str], tuple[str, str], tuple[str, str], str], null: float,
    exponentiate: bool, xlim: tuple[float, float] | None,
) -> tuple[_Cols, tuple[float, float], tuple[str, str]]:  # fmt: skip
    """Measure the columns, choose the axis limits and place the favours labels.

    ``texts`` holds the arm names, the interval header, the favours labels and the direction.
    """
    arm_names, ci_header, labels, direction = texts
    c = _sg_columns(rows, kind, m, arm_names, ci_header)
    lim = G.data_limits([np.array([r.lo, r.hi]) for r in rows], null, exponentiate, xlim)
    fav = G.favours_sides(labels, direction)
    return _favours_room(c, lim, null, exponentiate, fav, m), lim, fav


def _sg_label(
    fig: Figure, ax: Axes, wr: G.Writer, c: _Cols,
    head: tuple[str | None, tuple[str, str], tuple[str, str]], null: float,
    fav: tuple[str, str], titles: tuple[str | None, str | None, str | None],
) -> None:  # fmt: skip
    """Add the column headers, favours labels, axis title (default: the measure), title, mark.

    ``head`` holds the arm kind, the arm names and the interval header.
    """
    kind, arm_names, ci_header = head
    title, xlabel, watermark = titles
    _header(fig, wr, c, kind, arm_names, ci_header, -0.6)
    G.favours(ax, null, *fav)
    ax.set_xlabel(
        xlabel or f"{ci_header[0]} ({ci_header[1]})", labelpad=G.AXIS_TITLE_PAD, fontsize=FS_SMALL
    )
    G.title(fig, title, c.x_label)
    G.watermark(fig, watermark)


def subgroup_forest_plot(
    studies: pd.DataFrame,
    *,
    subgroup_order: Sequence[str] | None = None,
    subgroup_labels: Mapping[str, str] | None = None,
    measure: str = "SMD",
    exponentiate: bool = False,
    direction: str = "higher",
    labels: tuple[str, str] = ("Favours control", "Favours intervention"),
    arm_names: tuple[str, str] = ("Intervention", "Control"),
    arms: str | None = None,
    method: str = "DL",
    bayes: pd.DataFrame | None = None,
    bayes_label: str = "Bayesian meta-regression (median, 95% CrI)",
    published: pd.DataFrame | None = None,
    published_label: str = "Published estimates",
    title: str | None = None,
    xlabel: str | None = None,
    xlim: tuple[float, float] | None = None,
    digits: int = 2,
    watermark: str | None = None,
) -> Figure:
    r"""Subgroup forest plot in RevMan 5's layout (without subgroups: its plain forest plot).

    Study rows (arm data, weight, estimate and 95% CI) under subgroup headings, a subtotal
    diamond with its heterogeneity and overall-effect lines per subgroup, the total and the
    test for subgroup differences (:func:`bayesmeta.frequentist.subgroup_analysis`);
    optionally Bayesian and published subgroup estimates. The full layout and the artists'
    gids are described in :mod:`bayesmeta.plots.subgroup_forest`.

    Parameters
    ----------
    studies
        One row per study: ``study``, ``yi``, ``vi`` (on the analysis scale: log OR for odds
        ratios), ``subgroup`` (leave it out, or give one value, for RevMan's plain forest plot:
        studies, total, heterogeneity and Z test), and optionally the arm data in metafor's
        names: ``m1i, sd1i, n1i, m2i, sd2i, n2i`` (continuous) or ``ai, n1i, ci, n2i`` (events
        and totals; arm 1 is the intervention).
    subgroup_order
        Order of the subgroups (default: order of first appearance).
    subgroup_labels
        Subgroup value -> heading text (e.g. ``{"higher": "Higher organisational support"}``);
        also used for the second row sets.
    measure
        Name of the effect measure, in the column header and the axis title.
    exponentiate
        Show ``exp()`` of the estimates on a log axis with the null at 1 (ratio measures).
    direction
        ``"higher"`` if values above the null favour the intervention, ``"lower"`` otherwise.
    labels
        ``(control, intervention)`` texts of the "favours" labels.
    arm_names
        Headers of the two arms' columns.
    arms
        ``"continuous"``, ``"binary"``, ``"none"`` or ``None`` (detect from the columns).
    method
        Estimator of tau² within subgroups and overall (RevMan: ``"DL"``).
    bayes
        Optional ``subgroup``, ``estimate``, ``ci_lb``, ``ci_ub`` (analysis scale): e.g. the
        Bayesian meta-regression's posterior median and credible interval of each subgroup's
        mean effect.
    bayes_label
        Heading of that row set.
    published
        Optional published estimates, same columns (``subgroup`` may be e.g. ``"Overall"``).
    published_label
        Heading of that row set.
    title
        Optional title.
    xlabel
        Axis title; default names the scale: ``"SMD (IV, Random, 95% CI)"``.
    xlim
        Optional axis limits on the displayed scale.
    digits
        Decimals of the estimates.
    watermark
        Optional mark across the figure, e.g. ``"SIMULATED DATA"``.

    Returns
    -------
    matplotlib.figure.Figure
        At least 7 inches wide, at :data:`~bayesmeta.plots.DPI` dots per inch.

    Raises
    ------
    DataError
        Missing columns, non-numbers, ``vi <= 0``, or ``subgroup_order`` that does not list
        the subgroups.
    ModelSpecError
        Bad ``direction`` or ``arms``.

    See Also
    --------
    bayesmeta.frequentist.subgroup_analysis, forest_plot

    Examples
    --------
    >>> import pandas as pd
    >>> studies = pd.DataFrame({
    ...     "study": ["Ahmed 2019", "Brown 2020", "Chen 2021", "Diaz 2022"],
    ...     "yi": [0.30, 0.12, 0.55, -0.10], "vi": [0.02, 0.03, 0.04, 0.02],
    ...     "subgroup": ["higher", "higher", "lower", "lower"]})
    >>> fig = subgroup_forest_plot(studies, subgroup_labels={"higher": "Higher support",
    ...                                                      "lower": "Lower support"})
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "subgroup-heading"]
    ['Higher support', 'Lower support']
    >>> sum(p.get_gid() == "subtotal-diamond" for p in fig.axes[0].patches)
    2
    """
    rows, kind = _sg_table(studies, subgroup_order, subgroup_labels, arms, method, direction,
                           exponentiate, digits, (bayes, bayes_label),
                           (published, published_label))  # fmt: skip
    ci_header = (measure, f"{_METHOD_NAMES.get(method, method)}, 95% CI")
    null, m = (1.0 if exponentiate else 0.0), measure_()
    c, lim, fav = _sg_layout(rows, kind, m, (arm_names, ci_header, labels, direction),
                             null, exponentiate, xlim)  # fmt: skip
    with style(m.family):
        fig, ax, wr = _sg_axes(c, len(rows), title, lim, null, exponentiate, m)
        for y, r in enumerate(rows):
            _draw_row(ax, wr, r, float(y), c, lim)
        titles = (title, xlabel, watermark)
        _sg_label(fig, ax, wr, c, (kind, arm_names, ci_header), null, fav, titles)
    return fig


measure_ = measure  # `measure` is shadowed by subgroup_forest_plot's argument
