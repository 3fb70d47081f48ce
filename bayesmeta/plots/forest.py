"""Forest plot in the RevMan / metafor layout: inputs -> layout -> drawing -> labelling.

The layout is computed in inches from the widths of the texts measured at the figure's dpi
with its fonts, so columns never overlap and the figure is exactly 7 in wide (wider only if
the labels and numbers leave less than 1.8 in for the plot). Rows are 0.21 in (down to
0.18 in for 40 trials), 0.30 in with shrunken estimates. Artists carry gids for
programmatic access: ``study-label``, ``summary-label``, ``estimate`` (and
``estimate-ci``), ``shrunken-estimate``, ``summary-estimate``, ``weight``, ``header``,
``favours``, ``heterogeneity``, ``null-line``, ``trial-square``, ``shrunken-point``,
``summary-diamond``, ``summary-bayes``, ``summary-prediction``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import NDArray
from scipy import stats

from bayesmeta.errors import DataError, ModelSpecError
from bayesmeta.plots import _glyphs as G
from bayesmeta.plots._layout import (
    ACCENT,
    BLACK,
    FS_FAV,
    FS_SMALL,
    MAX_SUMMARY,
    WIDTH,
    Measure,
    as_frame,
    check_choice,
    check_order,
    interval_parts,
    measure,
    numeric,
    require,
    style,
    truncate,
    wrap,
)

__all__ = ["forest_plot"]

_KINDS = ("diamond", "bayes", "prediction")
_GAP = 0.14  # inches between columns
_MARGIN = 0.08  # inches at the figure's left and right edges
Arr = NDArray[np.float64]


@dataclass
class _Inputs:
    """Validated numbers on the displayed scale, and the texts of every row."""

    k: int
    yi: Arr
    lb: Arr
    ub: Arr
    side: Arr  # square side in points
    trial_labels: list[str]
    trial_text: list[G.Parts]
    weight_text: list[str]
    has_weight: bool
    sm: pd.DataFrame | None
    sum_labels: list[str] = field(default_factory=list)
    sum_text: list[G.Parts] = field(default_factory=list)
    sh: tuple[Arr, Arr, Arr] | None = None
    sh_text: list[G.Parts] = field(default_factory=list)


@dataclass(frozen=True)
class _Layout:
    """Horizontal positions in inches and vertical positions in row units."""

    width: float
    height: float
    x_label: float
    x_plot: float
    plot_w: float
    col: G.IntervalColumn
    xs: tuple[float, float, float]
    x_wt: float
    row_in: float
    y_trial: Arr
    y_sum: Arr
    y_top: float
    y_bottom: float
    bottom_in: float
    axis_in: float  # under the axis: ticks, favours labels and the axis title
    axes_h: float
    foot: list[tuple[str, str, str]]


def _identity(a: Arr) -> Arr:
    return a


def _forest_inputs(
    trials: pd.DataFrame,
    summaries: pd.DataFrame | None,
    shrunken: pd.DataFrame | None,
    tf: Callable[[Arr], Arr],
    ci_prob: float,
    digits: int,
) -> _Inputs:
    """Validate the tables and write every row's text."""
    tr = as_frame(trials, "trials")
    require(tr, ("study", "yi", "ci_lb", "ci_ub"), "trials")
    if len(tr) == 0:
        raise DataError("trials has no rows", column="study")
    yi, lb, ub = (numeric(tr, c, "trials") for c in ("yi", "ci_lb", "ci_ub"))
    check_order(lb, ub, "trials", "ci_lb")
    has_weight = "weight" in tr.columns and bool(tr["weight"].notna().any())
    weight = numeric(tr, "weight", "trials", allow_nan=True) if has_weight else None
    if weight is not None and np.any(weight[np.isfinite(weight)] < 0):
        raise DataError("trials: column 'weight' must be >= 0", column="weight")
    if weight is not None:  # square area proportional to weight (or inverse variance)
        w = np.where(np.isfinite(weight), weight, 0.0)
    else:
        se = (ub - lb) / (2 * stats.norm.ppf(0.5 + ci_prob / 2))
        w = np.where(se > 0, 1.0 / np.maximum(se, 1e-12) ** 2, 0.0)
    wmax = w.max() if w.max() > 0 else 1.0
    inp = _Inputs(
        k=len(tr),
        yi=tf(yi),
        lb=tf(lb),
        ub=tf(ub),
        side=np.maximum(3.0, 10.0 * np.sqrt(w / wmax)),
        trial_labels=[truncate(s) for s in tr["study"]],
        trial_text=[
            interval_parts(float(a), float(b), float(c), digits)
            for a, b, c in zip(tf(yi), tf(lb), tf(ub), strict=True)
        ],
        weight_text=[f"{v:.1f}%" if np.isfinite(v) else "" for v in weight]
        if weight is not None
        else [],
        has_weight=has_weight,
        sm=_summaries_frame(summaries),
    )
    if inp.sm is not None:
        for c in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            if c in inp.sm.columns:
                inp.sm[c] = tf(inp.sm[c].to_numpy(dtype=float))
        inp.sum_labels = [truncate(s, MAX_SUMMARY) for s in inp.sm["label"]]
        inp.sum_text = [
            interval_parts(float(r["estimate"]), float(r["ci_lb"]), float(r["ci_ub"]), digits)
            for _, r in inp.sm.iterrows()
        ]
    if shrunken is not None:
        med, slo, shi = (tf(a) for a in _shrunken_frame(shrunken, tr))
        inp.sh = (med, slo, shi)
        inp.sh_text = [
            interval_parts(float(a), float(b), float(c), digits)
            for a, b, c in zip(med, slo, shi, strict=True)
        ]
    return inp


def _columns(
    inp: _Inputs, m: Measure, header_est: str, fav: tuple[str, str]
) -> tuple[float, G.IntervalColumn, float]:
    """Widths of the label column, the interval column and the weight column (inches)."""
    label_w = max(
        m.widest(inp.trial_labels),
        m.widest(inp.sum_labels, weight="bold"),
        m.width("Study", weight="bold"),
        m.width(fav[0], FS_FAV),  # the left favours label hangs off the null under the axis
    )
    wt_w = (
        max(m.widest(inp.weight_text), m.width("Weight", weight="bold")) if inp.has_weight else 0.0
    )
    rows = [(p, "normal", 8.0) for p in inp.trial_text + inp.sh_text]
    rows += [(p, "bold", 8.0) for p in inp.sum_text]
    col = G.IntervalColumn.fit(m, rows, header_est)
    right_w = col.width + (_GAP + wt_w if inp.has_weight else 0.0)
    need = m.width(fav[1], FS_FAV)  # so does the right one
    if right_w < need:
        col = G.IntervalColumn.fit(m, rows, header_est, min_width=col.width + need - right_w)
    return label_w, col, wt_w


def _forest_layout(
    inp: _Inputs,
    m: Measure,
    header_est: str,
    fav: tuple[str, str],
    heterogeneity: str | None,
    note: str | None,
    title: str | None,
    xlabel: str | None,
) -> _Layout:
    """Where everything goes: columns measured at the drawing dpi, rows in row units."""
    label_w, col, wt_w = _columns(inp, m, header_est, fav)
    x_label = _MARGIN
    x_plot = x_label + label_w + 0.2  # room for an arrow where an interval is cut
    wt_block = _GAP + wt_w if inp.has_weight else 0.0
    fixed = x_plot + _GAP + col.width + wt_block + _MARGIN
    width = max(WIDTH, fixed + 1.8)  # keep at least 1.8 in for the plot itself
    plot_w = width - fixed
    xs = col.xs(x_plot + plot_w + _GAP)
    # One-line rows shrink a little for long plots so 40 trials still fit a page; rows with a
    # shrunken estimate hold two lines of text and need 0.3 in whatever k.
    squeeze = float(np.clip((inp.k - 15) / 25, 0.0, 1.0))
    row_in = 0.30 if inp.sh is not None else 0.21 - 0.03 * squeeze
    n_sum = len(inp.sum_labels)
    y_trial = np.arange(inp.k, dtype=float)
    y_sum = inp.k + 0.2 + np.arange(n_sum, dtype=float)  # a gap of 1.2 rows after the trials
    y_top, y_bottom = -0.6, (y_sum[-1] if n_sum else inp.k - 1.0) + 0.7
    foot = [
        (line, "heterogeneity", BLACK) for line in wrap(heterogeneity or "", width - 2 * _MARGIN, m)
    ]
    if note:
        foot += [(line, "shrinkage-note", ACCENT) for line in wrap(note, width - 2 * _MARGIN, m)]
    axis_in = 0.46 + (0.16 if xlabel else 0.0)
    bottom_in = axis_in + 0.02 + len(foot) * m.line_height(FS_SMALL) + (0.06 if foot else 0.0)
    axes_h = (y_bottom - y_top) * row_in
    top_in = 0.3 + (0.3 if title else 0.0)
    return _Layout(
        width=width,
        height=top_in + axes_h + bottom_in,
        x_label=x_label,
        x_plot=x_plot,
        plot_w=plot_w,
        col=col,
        xs=xs,
        x_wt=xs[2] + wt_block,
        row_in=row_in,
        y_trial=y_trial,
        y_sum=y_sum,
        y_top=y_top,
        y_bottom=y_bottom,
        bottom_in=bottom_in,
        axis_in=axis_in,
        axes_h=axes_h,
        foot=foot,
    )


def _draw_trials(
    ax: Axes, wr: G.Writer, inp: _Inputs, lay: _Layout, lim: tuple[float, float]
) -> None:
    """Trial rows: label, square on its interval, numbers, weight; shrunken rows below."""
    d_obs = -0.2 if inp.sh is not None else 0.0
    for i in range(inp.k):
        y = lay.y_trial[i] + d_obs
        wr.text(lay.x_label, y, inp.trial_labels[i], "study-label")
        wr.interval(lay.xs, y, inp.trial_text[i], "estimate")
        if inp.has_weight:
            wr.text(lay.x_wt, y, inp.weight_text[i], "weight", ha="right")
        G.hline(ax, inp.lb[i], inp.ub[i], y, lim, color=BLACK, lw=0.9, zorder=2)
        e = float(inp.yi[i])
        if lim[0] <= e <= lim[1]:
            ax.plot(
                [e],
                [y],
                marker="s",
                ms=inp.side[i],
                color=BLACK,
                mew=0,
                zorder=3,
                gid="trial-square",
            )
    if inp.sh is None:
        return
    med, slo, shi = inp.sh
    for i in range(inp.k):
        y = lay.y_trial[i] + 0.22
        wr.interval(lay.xs, y, inp.sh_text[i], "shrunken-estimate", color=ACCENT, fontsize=FS_SMALL)
        G.hline(ax, float(slo[i]), float(shi[i]), y, lim, color=ACCENT, lw=0.7, zorder=2)
        if lim[0] <= med[i] <= lim[1]:
            ax.plot(
                [med[i]],
                [y],
                marker="o",
                ms=3.6,
                mfc="white",
                mec=ACCENT,
                mew=0.9,
                zorder=3,
                gid="shrunken-point",
            )


def _draw_summaries(
    ax: Axes, wr: G.Writer, inp: _Inputs, lay: _Layout, lim: tuple[float, float]
) -> None:
    """Summary rows: a diamond, a Bayesian point or a prediction bar, with label and numbers."""
    if inp.sm is None:
        return
    prev = BLACK
    for j, (_, row) in enumerate(inp.sm.iterrows()):
        y, kind = float(lay.y_sum[j]), row["kind"]
        colour = ACCENT if kind == "bayes" else (prev if kind == "prediction" else BLACK)
        prev = colour
        wr.text(lay.x_label, y, inp.sum_labels[j], "summary-label", color=colour, weight="bold")
        wr.interval(lay.xs, y, inp.sum_text[j], "summary-estimate", color=colour, weight="bold")
        if inp.has_weight and kind == "diamond":
            wr.text(lay.x_wt, y, "100.0%", "weight", ha="right", weight="bold")
        e, lo, hi = (float(row[c]) for c in ("estimate", "ci_lb", "ci_ub"))
        pi = [float(row.get(c, np.nan)) for c in ("pi_lb", "pi_ub")]
        if kind != "prediction" and all(np.isfinite(pi)):
            G.hline(ax, pi[0], pi[1], y, lim, color=colour, lw=0.8, zorder=2)
            for p in pi:
                if lim[0] <= p <= lim[1]:
                    ax.plot([p, p], [y - 0.14, y + 0.14], color=colour, lw=0.8)
        if kind == "diamond":
            G.diamond(ax, e, lo, hi, y, colour, "summary-diamond")
        elif kind == "bayes":
            G.bayes_point(ax, e, lo, hi, y, lim, colour, "summary-bayes")
        else:
            G.prediction_bar(ax, e, lo, hi, y, lim, colour, "summary-prediction")


def _label_forest(
    fig: Figure,
    ax: Axes,
    wr: G.Writer,
    inp: _Inputs,
    lay: _Layout,
    header_est: str,
    fav: tuple[str, str],
    null: float,
    titles: tuple[str | None, str | None, str | None],
    m: Measure,
) -> None:
    """Header and rule, favours labels, footnotes, title, axis title and watermark."""
    title, xlabel, watermark = titles
    y_head = lay.y_top - 0.13 / lay.row_in
    wr.text(lay.x_label, y_head, "Study", "header", weight="bold")
    centre = (lay.xs[0] - lay.col.est_w + lay.xs[2]) / 2
    wr.text(centre, y_head, header_est, "header", ha="center", weight="bold")
    if inp.has_weight:
        wr.text(lay.x_wt, y_head, "Weight", "header", ha="right", weight="bold")
    fig.add_artist(
        Line2D(
            [lay.x_label, lay.width - _MARGIN],
            [lay.y_top, lay.y_top],
            transform=wr.blend,
            color=BLACK,
            lw=0.6,
            clip_on=False,
        )
    )
    G.favours(ax, null, *fav)
    G.footnotes(fig, lay.foot, lay.x_label, lay.bottom_in - lay.axis_in, m)
    G.title(fig, title, lay.x_label)
    if xlabel:
        ax.set_xlabel(xlabel, labelpad=G.AXIS_TITLE_PAD, fontsize=FS_SMALL)
    G.watermark(fig, watermark)


def _forest_setup(
    trials: pd.DataFrame,
    summaries: pd.DataFrame | None,
    shrunken: pd.DataFrame | None,
    measure: str,
    direction: str,
    labels: tuple[str, str],
    exponentiate: bool,
    ci_prob: float,
    digits: int,
) -> tuple[_Inputs, str, tuple[str, str], str | None]:
    """Check the arguments; return the rows, the interval header, favours texts and note."""
    check_choice(direction, ("higher", "lower"), "direction")
    if not 0.0 < ci_prob < 1.0:
        raise ModelSpecError(f"ci_prob must lie in (0, 1), got {ci_prob}")
    if len(labels) != 2:
        raise ModelSpecError("labels must be (control, intervention)")
    tf: Callable[[Arr], Arr] = np.exp if exponentiate else _identity
    inp = _forest_inputs(trials, summaries, shrunken, tf, ci_prob, digits)
    pct = f"{round(100 * ci_prob, 1):g}"
    header_est = f"{measure} [{pct}% CI]"
    fav = G.favours_sides(labels, direction)
    note = (
        "Open circles: Bayesian shrunken estimates of each trial's effect "
        f"(posterior median, {pct}% credible interval)."
        if inp.sh is not None
        else None
    )
    return inp, header_est, fav, note


def _shown(inp: _Inputs) -> list[Arr]:
    """Every interval end drawn, for the axis limits."""
    shown = [inp.lb, inp.ub] + ([inp.sh[1], inp.sh[2]] if inp.sh is not None else [])
    if inp.sm is not None:
        shown += [
            inp.sm[c].to_numpy(float)
            for c in ("ci_lb", "ci_ub", "pi_lb", "pi_ub")
            if c in inp.sm.columns
        ]
    return shown


def _forest_axes(
    lay: _Layout, lim: tuple[float, float], null: float, exponentiate: bool, m: Measure
) -> tuple[Figure, Axes, G.Writer]:
    """Make the figure, its effect axis placed by the layout, and a text writer on it."""
    fig = Figure(figsize=(lay.width, lay.height), dpi=m.dpi)
    rect = (lay.x_plot, lay.bottom_in, lay.plot_w, lay.axes_h)
    ax = fig.add_axes(
        (rect[0] / lay.width, rect[1] / lay.height, rect[2] / lay.width, rect[3] / lay.height)
    )
    ax.set_ylim(lay.y_bottom, lay.y_top)
    G.effect_axis(ax, lim, null, exponentiate=exponentiate, width_in=lay.plot_w, m=m)
    return fig, ax, G.Writer(fig, ax)


def forest_plot(
    trials: pd.DataFrame,
    summaries: pd.DataFrame | None = None,
    *,
    measure: str = "SMD",
    direction: str = "higher",
    labels: tuple[str, str] = ("Favours control", "Favours peer support"),
    title: str | None = None,
    exponentiate: bool = False,
    shrunken: pd.DataFrame | None = None,
    ci_prob: float = 0.95,
    heterogeneity: str | None = None,
    xlim: tuple[float, float] | None = None,
    digits: int = 2,
    xlabel: str | None = None,
    watermark: str | None = None,
) -> Figure:
    """Forest plot in the RevMan / metafor layout.

    One row per trial: the study label on the left, a square at the estimate (area proportional
    to the weight) on its confidence interval, and on the right the columns "estimate [lower,
    upper]" and "Weight". A vertical line marks no effect (0, or 1 on a log axis for ratio
    measures). Summary rows follow at the bottom, and "favours" labels sit under the axis on
    the side each arm is favoured.

    Parameters
    ----------
    trials
        One row per trial: ``study``, ``yi``, ``ci_lb``, ``ci_ub`` and optionally ``weight``
        (percent). Without ``weight`` the squares are sized by inverse variance derived from
        the interval width and no weight column is printed.
    summaries
        Optional summary rows, drawn in order below the trials: ``label``, ``estimate``,
        ``ci_lb``, ``ci_ub``, ``kind`` and optionally ``pi_lb``, ``pi_ub``. ``kind`` is
        ``"diamond"`` (a frequentist pooled estimate, black diamond), ``"bayes"`` (posterior
        median and credible interval, a filled circle on a thick line in the accent colour) or
        ``"prediction"`` (a prediction interval drawn as a bar, in the colour of the row above;
        ``estimate`` may be NaN). Where ``pi_lb`` and ``pi_ub`` are given for a diamond or
        Bayesian row the prediction interval is drawn as a thin line through it (use a
        ``"prediction"`` row to print its numbers).
    measure
        Name of the effect measure, used in the column header (e.g. ``"SMD"``, ``"OR"``).
    direction
        ``"higher"`` if values above the null favour the intervention, ``"lower"`` if values
        below it do.
    labels
        ``(control, intervention)`` texts of the "favours" labels.
    title
        Optional title above the plot.
    exponentiate
        All inputs are on the log scale (log OR, log RR): show ``exp()`` of them on a log axis
        with the line of no effect at 1.
    shrunken
        Optional Bayesian shrunken trial estimates: ``study``, ``median`` and ``lower``,
        ``upper`` (or ``ci_lb``, ``ci_ub``, as returned by ``Result.shrinkage()``), matched to
        ``trials`` by study. Drawn as an open circle on a thin line just below each trial.
    ci_prob
        Probability of the intervals, for the column header.
    heterogeneity
        Optional footnote, e.g. ``"Heterogeneity: tau² = 0.05; I² = 67%; Q = 9.1, df = 3
        (p = 0.03)"``; wrapped at ``"; "`` to fit the page.
    xlim
        Optional axis limits (on the displayed scale); intervals beyond them end in an arrow.
        Default: the range of all intervals and the null.
    digits
        Decimals of the printed numbers.
    xlabel
        Optional axis title under the favours labels, naming the scale (e.g. ``"SMD (IV,
        Random, 95% CI)"``, ``"Odds ratio (log scale)"``).
    watermark
        Optional mark across the figure, e.g. ``"SIMULATED DATA"``.

    Returns
    -------
    matplotlib.figure.Figure
        7 inches wide, its height growing with the number of rows, at
        :data:`~bayesmeta.plots.DPI` dots per inch.

    Raises
    ------
    DataError
        A required column is missing or holds non-numbers, ``ci_lb > ci_ub``, an unknown
        ``kind``, or ``shrunken`` does not match ``trials``.
    ModelSpecError
        Bad ``direction`` or ``ci_prob``.

    Notes
    -----
    The layout (in inches, from the measured texts) and the artists' gids are described in
    :mod:`bayesmeta.plots.forest`.

    See Also
    --------
    metafor::forest.rma

    Examples
    --------
    >>> import pandas as pd
    >>> trials = pd.DataFrame({
    ...     "study": ["Ahmed 2019", "Brown 2020", "Chen 2021"],
    ...     "yi": [0.30, 0.12, 0.55], "ci_lb": [0.02, -0.20, 0.15], "ci_ub": [0.58, 0.44, 0.95],
    ...     "weight": [40.0, 35.0, 25.0]})
    >>> pooled = pd.DataFrame({
    ...     "label": ["DL random effects"], "estimate": [0.29], "ci_lb": [0.10],
    ...     "ci_ub": [0.48], "kind": ["diamond"]})
    >>> fig = forest_plot(trials, pooled, heterogeneity="Heterogeneity: tau² = 0.01; I² = 12%")
    >>> [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "study-label"]
    ['Ahmed 2019', 'Brown 2020', 'Chen 2021']
    """
    inp, header_est, fav, note = _forest_setup(
        trials, summaries, shrunken, measure, direction, labels, exponentiate, ci_prob, digits
    )
    null, m = (1.0 if exponentiate else 0.0), measure_()
    lay = _forest_layout(inp, m, header_est, fav, heterogeneity, note, title, xlabel)
    lim = G.data_limits(_shown(inp), null, exponentiate, xlim)
    with style(m.family):
        fig, ax, wr = _forest_axes(lay, lim, null, exponentiate, m)
        _draw_trials(ax, wr, inp, lay, lim)
        _draw_summaries(ax, wr, inp, lay, lim)
        _label_forest(fig, ax, wr, inp, lay, header_est, fav, null, (title, xlabel, watermark), m)
    return fig


measure_ = measure  # the module-level name `measure` is shadowed by forest_plot's argument


def _summaries_frame(summaries: object) -> pd.DataFrame | None:
    if summaries is None:
        return None
    sm = as_frame(summaries, "summaries")
    require(sm, ("label", "estimate", "ci_lb", "ci_ub", "kind"), "summaries")
    bad = [i for i, v in enumerate(sm["kind"]) if v not in _KINDS]
    if bad:
        raise DataError(
            f"summaries: column 'kind' must be one of {list(_KINDS)}; rows "
            f"{[i + 1 for i in bad]} are not",
            rows=bad,
            column="kind",
        )
    est = numeric(sm, "estimate", "summaries", allow_nan=True)
    need = (sm["kind"] != "prediction").to_numpy()
    if np.any(need & ~np.isfinite(est)):
        rows = np.flatnonzero(need & ~np.isfinite(est)).tolist()
        raise DataError("summaries: column 'estimate' is missing", rows=rows, column="estimate")
    lo = numeric(sm, "ci_lb", "summaries")
    hi = numeric(sm, "ci_ub", "summaries")
    check_order(lo, hi, "summaries", "ci_lb")
    out = sm.copy()
    out["estimate"], out["ci_lb"], out["ci_ub"] = est, lo, hi
    for c in ("pi_lb", "pi_ub"):
        if c in sm.columns:
            out[c] = numeric(sm, c, "summaries", allow_nan=True)
    return out


def _shrunken_frame(shrunken: object, trials: pd.DataFrame) -> tuple[Arr, Arr, Arr]:
    sh = as_frame(shrunken, "shrunken")
    lower = "lower" if "lower" in sh.columns or "ci_lb" not in sh.columns else "ci_lb"
    upper = "upper" if "upper" in sh.columns or "ci_ub" not in sh.columns else "ci_ub"
    require(sh, ("study", "median", lower, upper), "shrunken")
    if len(sh) != len(trials):
        raise DataError(
            f"shrunken has {len(sh)} rows but trials has {len(trials)}; give one per trial",
            column="study",
        )
    med = numeric(sh, "median", "shrunken")
    lo = numeric(sh, lower, "shrunken")
    hi = numeric(sh, upper, "shrunken")
    check_order(lo, hi, "shrunken", lower)
    t_names = [str(s) for s in trials["study"]]
    s_names = [str(s) for s in sh["study"]]
    if s_names == t_names:
        return med, lo, hi
    if len(set(s_names)) != len(s_names) or set(s_names) != set(t_names):
        missing = sorted(set(t_names) - set(s_names)) or sorted(set(s_names) - set(t_names))
        raise DataError(
            f"shrunken: column 'study' does not match trials (e.g. {missing[:3]})",
            column="study",
        )
    pos = [s_names.index(s) for s in t_names]
    return med[pos], lo[pos], hi[pos]
