"""Publication figures: forest plot, posterior predictive check, bubble plot, tau densities.

Every function takes plain inputs (arrays, DataFrames, dicts of draws), so the figures do not
depend on the model code, and returns a :class:`matplotlib.figure.Figure` built with the
object-oriented API: no pyplot state, no display, no ``plt.show()``. Save with
:func:`save_figure`.

The look is restrained and sized for a journal page about 7 inches wide: white background, no
top or right spines, no gridlines, black for frequentist quantities and one accent colour
(:data:`ACCENT`) for Bayesian ones.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import font_manager, ticker, transforms
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Polygon, Rectangle
from matplotlib.textpath import TextToPath
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from bayesmeta.errors import DataError, ModelSpecError

__all__ = [
    "ACCENT",
    "bubble_plot",
    "forest_plot",
    "ppc_plot",
    "save_figure",
    "tau_density_plot",
]

#: The accent colour for Bayesian quantities (Okabe-Ito blue, safe for colour-blind readers).
ACCENT = "#0072B2"
_BLACK = "#000000"
_GREY = "#595959"
_LIGHT = "#B3B3B3"
_FLAG = "#D55E00"  # Okabe-Ito vermillion: observed values outside the predictive interval
#: Colours of overlaid lines (Okabe-Ito), the accent first.
_SERIES = (ACCENT, _FLAG, "#009E73", "#E69F00")

_FS = 8.0  # body text (points)
_FS_SMALL = 7.0  # ticks, footnotes
_FS_TITLE = 9.0
_FS_FAV = 7.5  # "favours" labels under the forest plot axis
_MAX_LABEL = 40  # characters before a study label is truncated with an ellipsis
_MAX_SUMMARY = 50  # the same for summary-row labels, which carry more information
_WIDTH = 7.0  # inches: a full journal page width

_STYLE: Any = {  # typed Any: matplotlib types rc keys as a Literal
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "font.size": _FS,
    "axes.titlesize": _FS_TITLE,
    "axes.titleweight": "bold",
    "axes.labelsize": _FS,
    "axes.linewidth": 0.8,
    "axes.edgecolor": _BLACK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.unicode_minus": True,
    "xtick.labelsize": _FS_SMALL,
    "ytick.labelsize": _FS_SMALL,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "xtick.major.size": 3.0,
    "ytick.major.size": 3.0,
    "legend.fontsize": _FS_SMALL,
    "legend.frameon": False,
    "lines.linewidth": 1.0,
    "lines.solid_capstyle": "butt",
    "pdf.fonttype": 42,  # embed TrueType: journals reject Type 3 fonts
    "ps.fonttype": 42,
}


#: Preferred fonts, first installed one wins; DejaVu Sans ships with matplotlib.
_FONTS = ("Arial", "Helvetica", "Liberation Sans", "DejaVu Sans")


@functools.cache
def _font_family() -> tuple[str, ...]:
    """Return the concrete font list the figures use.

    The first preferred font that is installed, with DejaVu Sans behind it for glyphs it lacks.

    A concrete name (not the generic "sans-serif") is stored in every text, so a figure is drawn
    with the font its layout was measured in, whatever the rcParams are at drawing time.
    """
    for name in _FONTS:
        try:
            font_manager.findfont(FontProperties(family=name), fallback_to_default=False)
        except ValueError:
            continue
        return (name,) if name == "DejaVu Sans" else (name, "DejaVu Sans")
    return ("DejaVu Sans",)


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context({**_STYLE, "font.family": list(_font_family())}):
        yield


# ----------------------------------------------------------------------------- helpers
_TEXT_PATH = TextToPath()


@functools.lru_cache(maxsize=4096)
def _text_width(s: str, size: float = _FS, weight: str = "normal") -> float:
    """Width of ``s`` in points, measured with the font the figures use."""
    if not s:
        return 0.0
    prop = FontProperties(family=list(_font_family()), size=size, weight=weight)
    width, _, _ = _TEXT_PATH.get_text_width_height_descent(s, prop, ismath=False)
    return float(width)


def _truncate(s: object, n: int = _MAX_LABEL) -> str:
    """One line of at most ``n`` characters, ending in an ellipsis when cut."""
    text = " ".join(str(s).split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _fmt(x: float, digits: int = 2) -> str:
    """Return a number with a typographic minus sign; blank for NaN."""
    if not np.isfinite(x):
        return ""
    s = f"{x:.{digits}f}"
    if s.startswith("-") and float(s) == 0.0:
        s = s[1:]  # no "-0.00"
    return s.replace("-", "\u2212")


def _as_frame(obj: object, name: str) -> pd.DataFrame:
    if isinstance(obj, pd.DataFrame):
        return obj.reset_index(drop=True)
    if isinstance(obj, Mapping):
        try:
            return pd.DataFrame(obj)
        except ValueError as err:
            raise DataError(f"{name}: cannot build a table ({err})") from err
    raise DataError(f"{name} must be a pandas DataFrame, got {type(obj).__name__}")


def _require(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    for col in columns:
        if col not in df.columns:
            have = ", ".join(map(str, df.columns)) or "none"
            raise DataError(
                f"{name} is missing column {col!r} (columns present: {have})", column=col
            )


def _numeric(
    df: pd.DataFrame, col: str, name: str, *, allow_nan: bool = False
) -> NDArray[np.float64]:
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if not allow_nan:
        bad |= df[col].isna().to_numpy()
    else:
        bad &= df[col].notna().to_numpy()  # a present value that is not a finite number
    if bad.any():
        rows = np.flatnonzero(bad).tolist()
        raise DataError(
            f"{name}: column {col!r} must hold finite numbers; rows {[r + 1 for r in rows]} do not",
            rows=rows,
            column=col,
        )
    return values


def _array(x: ArrayLike, name: str, ndim: int = 1) -> NDArray[np.float64]:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as err:
        raise DataError(f"{name} must be numeric ({err})", column=name) from err
    if arr.ndim != ndim:
        raise DataError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}", column=name)
    if arr.size == 0:
        raise DataError(f"{name} is empty", column=name)
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name} must hold finite numbers", column=name)
    return arr


def _check_choice(value: str, allowed: Sequence[str], name: str) -> None:
    if value not in allowed:
        raise ModelSpecError(f"{name} must be one of {list(allowed)}, got {value!r}")


def _tidy(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(False)


# ----------------------------------------------------------------------------- forest plot
_KINDS = ("diamond", "bayes", "prediction")


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Return the coarsest 'nice' ratio ticks with at least three inside [lo, hi]."""
    candidates = (
        (1.0,),
        (1.0, 2.0, 5.0),
        (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
        (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0),
    )
    best: list[float] = []
    for subs in candidates:
        ticks = [
            m * 10.0**e
            for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
            for m in subs
        ]
        best = [t for t in ticks if lo <= t <= hi]
        if len(best) >= 3:
            break
    return best


def _linear_ticks(lim: tuple[float, float], width_in: float) -> tuple[float, int]:
    """Return the smallest 'nice' tick step (1, 2, 2.5, 5 x 10^e) whose labels fit.

    Fit means: written with a fixed number of decimals, the labels leave at least 0.1 in
    between them on an axis ``width_in`` wide.

    Returns the step and the number of decimals.
    """
    per_inch = (lim[1] - lim[0]) / width_in
    e = math.floor(math.log10(per_inch * 0.2))
    for exp in range(e, e + 4):
        for m in (1.0, 2.0, 2.5, 5.0):
            step = m * 10.0**exp
            decimals = max(0, -exp + (1 if m == 2.5 else 0))
            ticks = np.arange(math.ceil(lim[0] / step), math.floor(lim[1] / step) + 1) * step
            widest = max((_text_width(_fmt(t, decimals), _FS_SMALL) for t in ticks), default=0)
            if step / per_inch >= widest / 72 + 0.1:
                return step, decimals
    return 10.0 ** (e + 4), 0


def _hline(
    ax: Axes,
    lo: float,
    hi: float,
    y: float,
    xlim: tuple[float, float],
    **kw: Any,
) -> None:
    """Return a horizontal interval clipped to ``xlim`` with an arrowhead where it is cut."""
    a, b = max(lo, xlim[0]), min(hi, xlim[1])
    if a > b:  # entirely outside the window: an arrow at the edge it lies beyond
        edge, marker = (xlim[1], ">") if lo > xlim[1] else (xlim[0], "<")
        ax.plot([edge], [y], marker=marker, ms=4, color=kw.get("color"), clip_on=False)
        return
    ax.plot([a, b], [y, y], solid_capstyle="butt", **kw)
    for cut, edge, marker in ((lo < xlim[0], a, "<"), (hi > xlim[1], b, ">")):
        if cut:
            ax.plot([edge], [y], marker=marker, ms=4, color=kw.get("color"), clip_on=False)


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

    Returns
    -------
    matplotlib.figure.Figure
        7 inches wide, its height growing with the number of rows.

    Raises
    ------
    DataError
        A required column is missing or holds non-numbers, ``ci_lb > ci_ub``, an unknown
        ``kind``, or ``shrunken`` does not match ``trials``.
    ModelSpecError
        Bad ``direction`` or ``ci_prob``.

    Notes
    -----
    The layout is computed in inches from the measured widths of the texts, so columns never
    overlap and the figure is exactly 7 in wide (wider only if the labels and numbers leave
    less than 1.8 in for the plot). Rows are 0.21 in (down to 0.18 in for 40 trials), 0.30 in
    with shrunken estimates. Artists carry gids for programmatic access: ``study-label``,
    ``summary-label``, ``estimate`` (and ``estimate-ci``), ``shrunken-estimate``,
    ``summary-estimate``, ``weight``, ``header``, ``favours``, ``heterogeneity``,
    ``null-line``, ``trial-square``, ``shrunken-point``, ``summary-diamond``, ``summary-bayes``,
    ``summary-prediction``.

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
    _check_choice(direction, ("higher", "lower"), "direction")
    if not 0.0 < ci_prob < 1.0:
        raise ModelSpecError(f"ci_prob must lie in (0, 1), got {ci_prob}")
    if len(labels) != 2:
        raise ModelSpecError("labels must be (control, intervention)")

    # ---- validate and collect the numbers (on the displayed scale)
    tr = _as_frame(trials, "trials")
    _require(tr, ("study", "yi", "ci_lb", "ci_ub"), "trials")
    if len(tr) == 0:
        raise DataError("trials has no rows", column="study")
    k = len(tr)
    yi = _numeric(tr, "yi", "trials")
    lb = _numeric(tr, "ci_lb", "trials")
    ub = _numeric(tr, "ci_ub", "trials")
    _check_order(lb, ub, "trials", "ci_lb")
    has_weight = "weight" in tr.columns and bool(tr["weight"].notna().any())
    weight = _numeric(tr, "weight", "trials", allow_nan=True) if has_weight else None
    if weight is not None and np.any(weight[np.isfinite(weight)] < 0):
        raise DataError("trials: column 'weight' must be >= 0", column="weight")

    sm = _summaries_frame(summaries)
    sh = _shrunken_frame(shrunken, tr) if shrunken is not None else None

    tf: Callable[[NDArray[np.float64]], NDArray[np.float64]] = (
        np.exp if exponentiate else (lambda a: a)
    )
    null = 1.0 if exponentiate else 0.0

    # square sizes: area proportional to weight (or inverse variance)
    if weight is not None:
        w = np.where(np.isfinite(weight), weight, 0.0)
    else:
        se = (ub - lb) / (2 * stats.norm.ppf(0.5 + ci_prob / 2))
        w = np.where(se > 0, 1.0 / np.maximum(se, 1e-12) ** 2, 0.0)
    wmax = w.max() if w.max() > 0 else 1.0
    side = np.maximum(3.0, 10.0 * np.sqrt(w / wmax))  # points

    # ---- text content
    trial_labels = [_truncate(s) for s in tr["study"]]
    sum_labels = [_truncate(s, _MAX_SUMMARY) for s in sm["label"]] if sm is not None else []
    trial_text = [
        (_fmt(float(a), digits), _fmt(float(b), digits), _fmt(float(c), digits))
        for a, b, c in zip(tf(yi), tf(lb), tf(ub), strict=True)
    ]
    sum_text: list[tuple[str, str, str]] = []
    if sm is not None:
        for _, row in sm.iterrows():
            e, lo, hi = (
                float(tf(np.array(row[c], dtype=float))) for c in ("estimate", "ci_lb", "ci_ub")
            )
            sum_text.append((_fmt(e, digits), _fmt(lo, digits), _fmt(hi, digits)))
    sh_text: list[tuple[str, str, str]] = []
    if sh is not None:
        sh_text = [
            (_fmt(float(a), digits), _fmt(float(b), digits), _fmt(float(c), digits))
            for a, b, c in zip(tf(sh[0]), tf(sh[1]), tf(sh[2]), strict=True)
        ]
    weight_text = (
        [f"{v:.1f}%" if np.isfinite(v) else "" for v in weight] if weight is not None else []
    )
    pct = f"{round(100 * ci_prob, 1):g}"
    header_est = f"{measure} [{pct}% CI]"

    # ---- horizontal layout in inches
    pt = 1 / 72
    gap = 0.14
    space = _text_width(" ") * pt
    label_w = (
        max(
            [_text_width(s) for s in trial_labels]
            + [_text_width(s, weight="bold") for s in sum_labels]
            + [_text_width("Study", weight="bold")]
        )
        * pt
    )
    all_text = trial_text + sh_text
    est_w = (
        max(
            [_text_width(a) for a, _, _ in all_text]
            + [_text_width(a, weight="bold") for a, _, _ in sum_text]
            + [0.0]
        )
        * pt
    )
    lb_w = (
        max(
            [_text_width(f"[{b},") for _, b, _ in all_text]
            + [_text_width(f"[{b},", weight="bold") for _, b, _ in sum_text]
        )
        * pt
    )
    ub_w = (
        max(
            [_text_width(f"{c}]") for _, _, c in all_text]
            + [_text_width(f"{c}]", weight="bold") for _, _, c in sum_text]
        )
        * pt
    )
    block_w = est_w + lb_w + ub_w + 2.5 * space
    head_w = _text_width(header_est, weight="bold") * pt
    est_w += max(0.0, head_w - block_w)
    block_w = max(block_w, head_w)
    wt_w = (
        max([_text_width(s) for s in weight_text] + [_text_width("Weight", weight="bold")]) * pt
        if has_weight
        else 0.0
    )
    # the favours labels hang off the null line under the axis: leave room for them at the edges
    fav_left, fav_right = (labels[0], labels[1]) if direction == "higher" else labels[::-1]
    label_w = max(label_w, _text_width(str(fav_left), _FS_FAV) * pt)
    right_w = block_w + (gap + wt_w if has_weight else 0.0)
    if right_w < _text_width(str(fav_right), _FS_FAV) * pt:
        pad_w = _text_width(str(fav_right), _FS_FAV) * pt - right_w
        est_w, block_w = est_w + pad_w, block_w + pad_w
    margin = 0.08
    x_label = margin
    x_plot = x_label + label_w + 0.2  # room for an arrow where an interval is cut
    fixed = x_plot + gap + block_w + (gap + wt_w if has_weight else 0.0) + margin
    width = max(_WIDTH, fixed + 1.8)  # keep at least 1.8 in for the plot itself
    plot_w = width - fixed
    x_est = x_plot + plot_w + gap + est_w  # right edge of the estimate column
    x_lb = x_est + 1.5 * space + lb_w
    x_ub = x_lb + space + ub_w
    x_wt = x_ub + gap + wt_w

    # ---- vertical layout: data y = row index, 1 unit = one trial slot
    # One-line rows shrink a little for long plots so 40 trials still fit a page; rows with a
    # shrunken estimate hold two lines of text and need 0.3 in whatever k.
    squeeze = float(np.clip((k - 15) / 25, 0.0, 1.0))
    row_in = 0.30 if sh is not None else 0.21 - 0.03 * squeeze
    n_sum = 0 if sm is None else len(sm)
    y_trial = np.arange(k, dtype=float)
    y_sum = k + 0.2 + np.arange(n_sum, dtype=float)  # a gap of 1.2 rows after the trials
    y_top, y_bottom = -0.6, (y_sum[-1] if n_sum else k - 1.0) + 0.7
    foot = [(line, "heterogeneity") for line in _wrap(heterogeneity or "", width - 2 * margin)]
    if sh is not None:
        note = (
            "Open circles: Bayesian shrunken estimates of each trial's effect "
            f"(posterior median, {pct}% credible interval)."
        )
        foot.append((note, "shrinkage-note"))
    line_in = _FS_SMALL * 1.45 * pt
    bottom_in = 0.48 + len(foot) * line_in + (0.06 if foot else 0.0)
    top_in = 0.3 + (0.3 if title else 0.0)
    axes_h = (y_bottom - y_top) * row_in
    height = top_in + axes_h + bottom_in

    # ---- x limits
    shown = [tf(lb), tf(ub), np.array([null])]
    if sh is not None:
        shown += [tf(sh[1]), tf(sh[2])]
    if sm is not None:
        for c in ("ci_lb", "ci_ub", "pi_lb", "pi_ub"):
            if c in sm.columns:
                shown.append(tf(sm[c].to_numpy(dtype=float)))
    vals = np.concatenate(shown)
    vals = vals[np.isfinite(vals)]
    if xlim is not None:
        lim = (float(xlim[0]), float(xlim[1]))
        if not lim[0] < lim[1] or (exponentiate and lim[0] <= 0):
            raise ModelSpecError(f"xlim must be increasing (and > 0 for ratios), got {xlim}")
    elif exponentiate:
        lo_, hi_ = np.log(vals.min()), np.log(vals.max())
        pad = 0.05 * max(hi_ - lo_, 0.1)
        lim = (float(np.exp(lo_ - pad)), float(np.exp(hi_ + pad)))
    else:
        lo_, hi_ = vals.min(), vals.max()
        pad = 0.05 * max(hi_ - lo_, 0.1)
        lim = (float(lo_ - pad), float(hi_ + pad))

    with _style():
        fig = Figure(figsize=(width, height))
        ax = fig.add_axes((x_plot / width, bottom_in / height, plot_w / width, axes_h / height))
        ax.set_ylim(y_bottom, y_top)
        if exponentiate:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(ticker.FixedLocator(_log_ticks(*lim)))
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_locator(ticker.NullLocator())
        else:
            step, decimals = _linear_ticks(lim, plot_w)
            ax.xaxis.set_major_locator(ticker.MultipleLocator(step))
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _fmt(v, decimals)))
        ax.set_xlim(*lim)
        ax.spines[["top", "right", "left"]].set_visible(False)
        ax.set_yticks([])
        ax.tick_params(axis="x", pad=2)
        ax.axvline(null, color=_GREY, lw=0.8, zorder=1, gid="null-line")

        blend = transforms.blended_transform_factory(fig.dpi_scale_trans, ax.transData)

        def put(x: float, y: float, s: str, gid: str, ha: str = "left", **kw: Any) -> None:
            if s:
                ax.text(
                    x,
                    y,
                    s,
                    transform=blend,
                    ha=ha,
                    va="center",
                    gid=gid,
                    parse_math=False,
                    clip_on=False,
                    **kw,
                )

        def put_numbers(y: float, nums: tuple[str, str, str], gid: str, **kw: Any) -> None:
            est, lo, hi = nums
            put(x_est, y, est, gid, ha="right", **kw)
            if lo or hi:
                put(x_lb, y, f"[{lo},", f"{gid}-ci", ha="right", **kw)
                put(x_ub, y, f"{hi}]", f"{gid}-ci", ha="right", **kw)

        # header and rule
        y_head = y_top - 0.13 / row_in
        bold = {"fontweight": "bold"}
        put(x_label, y_head, "Study", "header", **bold)
        put((x_est - est_w + x_ub) / 2, y_head, header_est, "header", ha="center", **bold)
        if has_weight:
            put(x_wt, y_head, "Weight", "header", ha="right", **bold)
        rule_y = y_top
        fig.add_artist(
            Line2D(
                [x_label, width - margin],
                [rule_y, rule_y],
                transform=blend,
                color=_BLACK,
                lw=0.6,
                clip_on=False,
            )
        )

        # trials
        d_obs = -0.2 if sh is not None else 0.0
        for i in range(k):
            y = y_trial[i] + d_obs
            put(x_label, y, trial_labels[i], "study-label")
            put_numbers(y, trial_text[i], "estimate")
            if has_weight:
                put(x_wt, y, weight_text[i], "weight", ha="right")
            _hline(
                ax,
                float(tf(lb[i : i + 1])[0]),
                float(tf(ub[i : i + 1])[0]),
                y,
                lim,
                color=_BLACK,
                lw=0.9,
                zorder=2,
            )
            e = float(tf(yi[i : i + 1])[0])
            if lim[0] <= e <= lim[1]:
                ax.plot(
                    [e],
                    [y],
                    marker="s",
                    ms=side[i],
                    color=_BLACK,
                    mew=0,
                    zorder=3,
                    gid="trial-square",
                )
        if sh is not None:
            med, slo, shi = tf(sh[0]), tf(sh[1]), tf(sh[2])
            for i in range(k):
                y = y_trial[i] + 0.22
                put_numbers(y, sh_text[i], "shrunken-estimate", color=ACCENT, fontsize=_FS_SMALL)
                _hline(ax, float(slo[i]), float(shi[i]), y, lim, color=ACCENT, lw=0.7, zorder=2)
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

        # summaries
        if sm is not None:
            prev_colour = _BLACK
            for j, (_, row) in enumerate(sm.iterrows()):
                y = float(y_sum[j])
                kind = row["kind"]
                colour = (
                    ACCENT if kind == "bayes" else (prev_colour if kind == "prediction" else _BLACK)
                )
                prev_colour = colour
                put(x_label, y, sum_labels[j], "summary-label", color=colour, **bold)
                put_numbers(y, sum_text[j], "summary-estimate", color=colour, **bold)
                if has_weight and kind == "diamond":
                    put(x_wt, y, "100.0%", "weight", ha="right", **bold)
                e, lo, hi = (
                    float(tf(np.array(row[c], dtype=float))) for c in ("estimate", "ci_lb", "ci_ub")
                )
                pi = [
                    float(tf(np.array(row.get(c, np.nan), dtype=float))) for c in ("pi_lb", "pi_ub")
                ]
                if kind != "prediction" and all(np.isfinite(pi)):
                    _hline(ax, pi[0], pi[1], y, lim, color=colour, lw=0.8, zorder=2)
                    for p in pi:
                        if lim[0] <= p <= lim[1]:
                            ax.plot([p, p], [y - 0.14, y + 0.14], color=colour, lw=0.8)
                if kind == "diamond":
                    h = 0.34
                    ax.add_patch(
                        Polygon(
                            [(lo, y), (e, y - h), (hi, y), (e, y + h)],
                            closed=True,
                            facecolor=colour,
                            edgecolor=colour,
                            lw=0.5,
                            zorder=3,
                            gid="summary-diamond",
                        )
                    )
                elif kind == "bayes":
                    _hline(ax, lo, hi, y, lim, color=colour, lw=2.4, zorder=3)
                    ax.plot(
                        [e],
                        [y],
                        marker="o",
                        ms=6,
                        color=colour,
                        mec="white",
                        mew=0.8,
                        zorder=4,
                        gid="summary-bayes",
                    )
                else:  # prediction interval: a bar
                    a, b = max(lo, lim[0]), min(hi, lim[1])
                    ax.add_patch(
                        Rectangle(
                            (a, y - 0.12),
                            b - a,
                            0.24,
                            facecolor=_lighten(colour),
                            edgecolor=colour,
                            lw=0.7,
                            zorder=3,
                            gid="summary-prediction",
                        )
                    )
                    if np.isfinite(e) and lim[0] <= e <= lim[1]:
                        ax.plot([e, e], [y - 0.12, y + 0.12], color=colour, lw=1.2, zorder=4)

        # favours labels, under the tick labels on either side of the null
        fav: dict[str, Any] = {
            "xycoords": ("data", "axes fraction"),
            "textcoords": "offset points",
            "va": "top",
            "fontsize": _FS_FAV,
            "gid": "favours",
            "annotation_clip": False,
        }
        ax.annotate(str(fav_left), (null, 0.0), xytext=(-5, -15), ha="right", **fav)
        ax.annotate(str(fav_right), (null, 0.0), xytext=(5, -15), ha="left", **fav)

        # footnotes and title
        for n, (line, gid) in enumerate(foot):
            y_in = bottom_in - 0.46 - (n + 0.5) * line_in
            fig.text(
                x_label / width,
                y_in / height,
                line,
                ha="left",
                va="center",
                fontsize=_FS_SMALL,
                gid=gid,
                color=ACCENT if gid == "shrinkage-note" else _BLACK,
                parse_math=False,
            )
        if title:
            fig.text(
                x_label / width,
                1 - 0.1 / height,
                title,
                ha="left",
                va="top",
                fontsize=_FS_TITLE,
                fontweight="bold",
                gid="title",
                parse_math=False,
            )
    return fig


def _lighten(colour: str, amount: float = 0.7) -> tuple[float, float, float]:
    rgb = np.asarray(mpl.colors.to_rgb(colour))
    return tuple(float(v) for v in rgb + (1 - rgb) * amount)  # type: ignore[return-value]


def _wrap(text: str, width_in: float) -> list[str]:
    """Split ``text`` into lines (at newlines, then at '; ') no wider than ``width_in``."""
    out: list[str] = []
    for para in text.splitlines():
        if not para.strip():
            continue
        parts = para.split("; ")
        line = ""
        for part in parts:
            trial = f"{line}; {part}" if line else part
            if line and _text_width(trial, _FS_SMALL) / 72 > width_in:
                out.append(line + ";")
                line = part
            else:
                line = trial
        out.append(line)
    return out


def _check_order(lo: NDArray[np.float64], hi: NDArray[np.float64], name: str, col: str) -> None:
    bad = np.flatnonzero(lo > hi)
    if bad.size:
        raise DataError(
            f"{name}: {col} exceeds the upper bound in rows {[int(r) + 1 for r in bad]}",
            rows=bad.tolist(),
            column=col,
        )


def _summaries_frame(summaries: object) -> pd.DataFrame | None:
    if summaries is None:
        return None
    sm = _as_frame(summaries, "summaries")
    _require(sm, ("label", "estimate", "ci_lb", "ci_ub", "kind"), "summaries")
    bad = [i for i, v in enumerate(sm["kind"]) if v not in _KINDS]
    if bad:
        raise DataError(
            f"summaries: column 'kind' must be one of {list(_KINDS)}; rows "
            f"{[i + 1 for i in bad]} are not",
            rows=bad,
            column="kind",
        )
    est = _numeric(sm, "estimate", "summaries", allow_nan=True)
    need = (sm["kind"] != "prediction").to_numpy()
    if np.any(need & ~np.isfinite(est)):
        rows = np.flatnonzero(need & ~np.isfinite(est)).tolist()
        raise DataError("summaries: column 'estimate' is missing", rows=rows, column="estimate")
    lo = _numeric(sm, "ci_lb", "summaries")
    hi = _numeric(sm, "ci_ub", "summaries")
    _check_order(lo, hi, "summaries", "ci_lb")
    out = sm.copy()
    out["estimate"], out["ci_lb"], out["ci_ub"] = est, lo, hi
    for c in ("pi_lb", "pi_ub"):
        if c in sm.columns:
            out[c] = _numeric(sm, c, "summaries", allow_nan=True)
    return out


def _shrunken_frame(
    shrunken: object, trials: pd.DataFrame
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    sh = _as_frame(shrunken, "shrunken")
    lower = "lower" if "lower" in sh.columns or "ci_lb" not in sh.columns else "ci_lb"
    upper = "upper" if "upper" in sh.columns or "ci_ub" not in sh.columns else "ci_ub"
    _require(sh, ("study", "median", lower, upper), "shrunken")
    if len(sh) != len(trials):
        raise DataError(
            f"shrunken has {len(sh)} rows but trials has {len(trials)}; give one per trial",
            column="study",
        )
    med = _numeric(sh, "median", "shrunken")
    lo = _numeric(sh, lower, "shrunken")
    hi = _numeric(sh, upper, "shrunken")
    _check_order(lo, hi, "shrunken", lower)
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


# ----------------------------------------------------------------------------- PPC
def _format_p(p: float) -> str:
    """Return a posterior predictive p-value for a legend: 'p = 0.42', 'p < 0.001'."""
    if p < 0.001:
        return "p < 0.001"
    if p > 0.999:
        return "p > 0.999"
    return f"p = {p:.3f}" if p < 0.01 or p > 0.99 else f"p = {p:.2f}"


_STATISTICS: dict[str, tuple[str, Callable[[NDArray[np.float64]], NDArray[np.float64]]]] = {
    "sd": ("SD of y across trials", lambda a: np.std(a, axis=-1, ddof=1)),
    "mean": ("Mean of y across trials", lambda a: np.mean(a, axis=-1)),
    "min": ("Smallest y", lambda a: np.min(a, axis=-1)),
    "max": ("Largest y", lambda a: np.max(a, axis=-1)),
    "range": ("Range of y", lambda a: np.ptp(a, axis=-1)),
}


def ppc_plot(
    y_obs: ArrayLike,
    y_pred: ArrayLike,
    *,
    study_labels: Sequence[str],
    title: str | None = None,
    statistic: str | Callable[[NDArray[np.float64]], NDArray[np.float64]] | None = None,
    xlabel: str = "Effect estimate (y)",
) -> Figure:
    r"""Posterior predictive check, trial by trial.

    For each trial the posterior predictive distribution of its observed estimate ``y`` is shown
    as a 50% (thick) and 95% (thin) equal-tailed interval, with the observed value as a black
    point. Observed values outside the 95% interval are flagged (open vermillion diamond, and
    the study label in the same colour). Optionally a second panel compares a test statistic
    ``T`` of the predicted data with its observed value; the legend gives the posterior
    predictive p-value :math:`P(T(y^{rep}) \ge T(y))`.

    Parameters
    ----------
    y_obs
        Observed estimates, shape ``(k,)``.
    y_pred
        Posterior predictive draws, shape ``(n_draws, k)`` (or ``(chain, draw, k)``).
    study_labels
        ``k`` labels (truncated at 40 characters).
    title
        Optional figure title.
    statistic
        ``None`` (no second panel), ``"sd"``, ``"mean"``, ``"min"``, ``"max"``, ``"range"``,
        or a function mapping an ``(n, k)`` array to ``(n,)`` values.
    xlabel
        Label of the effect axis.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        Shapes do not match, values are not finite, or the statistic is undefined (e.g. the SD
        of a single trial).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> y_pred = rng.normal([0.1, 0.4, 0.3], 0.2, size=(500, 3))
    >>> fig = ppc_plot([0.12, 0.35, 1.5], y_pred, study_labels=["A", "B", "C"], statistic="sd")
    >>> len(fig.axes)
    2
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_color() != "black"]
    ['C']
    """
    obs = _array(y_obs, "y_obs")
    pred = np.asarray(y_pred, dtype=float)
    if pred.ndim == 3:
        pred = pred.reshape(-1, pred.shape[-1])
    pred = _array(pred, "y_pred", ndim=2)
    k = obs.size
    if pred.shape[1] != k:
        raise DataError(
            f"y_pred has {pred.shape[1]} columns but y_obs has {k} values; "
            "y_pred must be (n_draws, k)",
            column="y_pred",
        )
    if pred.shape[0] < 2:
        raise DataError("y_pred needs at least two draws", column="y_pred")
    names = [_truncate(s) for s in study_labels]
    if len(names) != k:
        raise DataError(
            f"study_labels has {len(names)} entries but y_obs has {k}", column="study_labels"
        )
    stat: tuple[str, Callable[[NDArray[np.float64]], NDArray[np.float64]]] | None = None
    if isinstance(statistic, str):
        _check_choice(statistic, tuple(_STATISTICS), "statistic")
        stat = _STATISTICS[statistic]
    elif statistic is not None:
        stat = (getattr(statistic, "__name__", "T(y)"), statistic)
    t_obs = t_rep = None
    if stat is not None:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # e.g. the SD of one value
            t_obs = float(np.asarray(stat[1](obs[None, :])).ravel()[0])
            t_rep = np.asarray(stat[1](pred), dtype=float).ravel()
        if not np.isfinite(t_obs) or not np.all(np.isfinite(t_rep)):
            raise DataError(
                f"statistic {stat[0]!r} is not defined for these data (k = {k})",
                column="y_obs",
            )

    q = np.quantile(pred, [0.025, 0.25, 0.5, 0.75, 0.975], axis=0)
    outside = (obs < q[0]) | (obs > q[4])

    row_in = 0.21
    height = max(2.6, 0.75 + k * row_in + (0.3 if title else 0.0))
    with _style():
        fig = Figure(figsize=(_WIDTH, height), layout="constrained")
        if stat is not None:
            gs = fig.add_gridspec(
                2, 2, width_ratios=(1.55, 1.0), height_ratios=(2.3, max(height - 2.9, 0.01))
            )
            ax = fig.add_subplot(gs[:, 0])
            ax_t = fig.add_subplot(gs[0, 1])
        else:
            ax = fig.add_subplot()
            ax_t = None
        y = np.arange(k)
        ax.hlines(y, q[0], q[4], color=ACCENT, lw=1.0, gid="ppc-95")
        ax.hlines(y, q[1], q[3], color=ACCENT, lw=3.2, gid="ppc-50")
        ax.plot(obs[~outside], y[~outside], "o", ms=3.5, color=_BLACK, zorder=3, gid="observed")
        if outside.any():
            ax.plot(
                obs[outside],
                y[outside],
                "D",
                ms=4.5,
                mfc="white",
                mec=_FLAG,
                mew=1.2,
                zorder=3,
                gid="outside",
            )
        ax.set_yticks(y)
        ax.set_yticklabels(names)
        for lab, out in zip(ax.get_yticklabels(), outside, strict=True):
            lab.set_parse_math(False)
            if out:
                lab.set_color(_FLAG)
        ax.set_ylim(k - 0.5, -0.5)
        ax.tick_params(axis="y", length=0)
        ax.spines["left"].set_visible(False)
        ax.set_xlabel(xlabel)
        _tidy(ax)
        handles = [
            Line2D([], [], color=ACCENT, lw=3.2, label="50% predictive interval"),
            Line2D([], [], color=ACCENT, lw=1.0, label="95% predictive interval"),
            Line2D([], [], ls="", marker="o", ms=3.5, color=_BLACK, label="Observed"),
            Line2D(
                [],
                [],
                ls="",
                marker="D",
                ms=4.5,
                mfc="white",
                mec=_FLAG,
                mew=1.2,
                label=f"Outside 95% interval ({int(outside.sum())} of {k})",
            ),
        ]
        fig.legend(
            handles=handles,
            loc="outside lower center",
            ncols=4,
            handlelength=1.6,
            columnspacing=1.5,
        )
        if ax_t is not None and stat is not None and t_rep is not None and t_obs is not None:
            ppp = float(np.mean(t_rep >= t_obs))
            ax_t.hist(
                t_rep,
                bins=min(40, max(10, int(np.sqrt(t_rep.size)))),
                color=_lighten(ACCENT, 0.45),
                edgecolor="white",
                lw=0.3,
                label="Predicted",
                gid="ppc-stat-hist",
            )
            ax_t.axvline(
                t_obs,
                color=_BLACK,
                lw=1.4,
                label=f"Observed ({_format_p(ppp)})",
                gid="ppc-stat-obs",
            )
            ax_t.set_xlabel(stat[0])
            ax_t.set_ylabel("Draws")
            ax_t.legend(
                loc="lower left", bbox_to_anchor=(0.0, 1.0), borderaxespad=0.3, handlelength=1.4
            )
            _tidy(ax_t)
        if title:
            fig.suptitle(title, x=0.0, ha="left", fontsize=_FS_TITLE, fontweight="bold")
    return fig


# ----------------------------------------------------------------------------- bubble plot
def bubble_plot(
    x: ArrayLike,
    yi: ArrayLike,
    vi: ArrayLike,
    *,
    fit_line: tuple[ArrayLike, ArrayLike] | None = None,
    band: tuple[ArrayLike, ArrayLike, ArrayLike] | None = None,
    xlabel: str,
    ylabel: str,
    labels: Sequence[str] | None = None,
    title: str | None = None,
    categories: tuple[str, str] = ("lower", "higher"),
    null: float | None = 0.0,
    band_label: str = "95% credible band",
) -> Figure:
    """Meta-regression bubble plot: estimates against a moderator, sized by precision.

    Bubble areas are proportional to the inverse variance ``1 / vi``. The fitted line
    ``fit_line`` is drawn in the accent colour with its credible (or confidence) band.

    A binary moderator (every ``x`` is 0 or 1) is drawn as two jittered categories (labelled
    by ``categories``) with a per-category estimate and interval beside each: the fitted line
    and band evaluated at 0 and 1 when given, otherwise the inverse-variance weighted mean with
    its 95% confidence interval (a fixed-effect summary, in black).

    Parameters
    ----------
    x, yi, vi
        Moderator values, effect estimates and their sampling variances (all length ``k``).
    fit_line
        ``(xgrid, yhat)``: the fitted regression line.
    band
        ``(xgrid, lower, upper)``: the interval band around it.
    xlabel, ylabel
        Axis labels.
    labels
        Optional study labels, written beside the bubbles.
    title
        Optional title.
    categories
        Tick labels of a binary moderator's 0 and 1.
    null
        Where to draw a thin horizontal line of no effect (``None``: none).
    band_label
        Legend text of the band (say "95% confidence band" for a frequentist fit).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        Lengths differ, values are not finite, or ``vi <= 0``.

    See Also
    --------
    metafor::regplot

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([2.0, 4.0, 6.0, 8.0])
    >>> grid = np.linspace(2, 8, 20)
    >>> fig = bubble_plot(x, [0.1, 0.2, 0.35, 0.4], [0.02, 0.01, 0.04, 0.02],
    ...                   fit_line=(grid, 0.05 * grid), band=(grid, 0.05 * grid - 0.1,
    ...                   0.05 * grid + 0.1), xlabel="Sessions", ylabel="SMD")
    >>> len(fig.axes[0].collections)  # band and bubbles
    2
    """
    xs = _array(x, "x")
    ys = _array(yi, "yi")
    vs = _array(vi, "vi")
    k = xs.size
    for name, arr in (("yi", ys), ("vi", vs)):
        if arr.size != k:
            raise DataError(f"{name} has {arr.size} values but x has {k}", column=name)
    if np.any(vs <= 0):
        raise DataError("vi must be > 0", rows=np.flatnonzero(vs <= 0).tolist(), column="vi")
    if labels is not None and len(labels) != k:
        raise DataError(f"labels has {len(labels)} entries but x has {k}", column="labels")
    line = band_arr = None
    if fit_line is not None:
        gx, gy = _array(fit_line[0], "fit_line"), _array(fit_line[1], "fit_line")
        if gx.size != gy.size:
            raise DataError("fit_line: xgrid and yhat differ in length", column="fit_line")
        line = (gx, gy)
    if band is not None:
        bx, bl, bu = (_array(b, "band") for b in band)
        if not bx.size == bl.size == bu.size:
            raise DataError("band: xgrid, lower and upper differ in length", column="band")
        band_arr = (bx, bl, bu)

    w = 1.0 / vs
    sizes = 15.0 + 285.0 * w / w.max()  # marker area, points²
    binary = bool(np.all(np.isin(xs, (0.0, 1.0))))
    order = np.argsort(-sizes)  # small bubbles on top
    with _style():
        fig = Figure(figsize=(5.5, 4.0), layout="constrained")
        ax = fig.add_subplot()
        if null is not None:
            ax.axhline(null, color=_GREY, lw=0.7, zorder=0)
        if binary:
            rng = np.random.default_rng(0)
            px = xs + rng.uniform(-0.13, 0.13, size=k)
        else:
            px = xs
        if band_arr is not None and not binary:
            ax.fill_between(
                band_arr[0],
                band_arr[1],
                band_arr[2],
                color=ACCENT,
                alpha=0.16,
                lw=0,
                zorder=1,
                gid="band",
            )
        if line is not None and not binary:
            ax.plot(line[0], line[1], color=ACCENT, lw=1.6, zorder=2, gid="fit-line")
        ax.scatter(
            px[order],
            ys[order],
            s=sizes[order],
            facecolor=_LIGHT,
            edgecolor=_BLACK,
            lw=0.6,
            alpha=0.75,
            zorder=3,
            gid="bubbles",
        )
        if labels is not None:
            for xv, yv, s in zip(px, ys, labels, strict=True):
                ax.annotate(
                    _truncate(s, 25),
                    (xv, yv),
                    xytext=(5, 4),
                    textcoords="offset points",
                    fontsize=_FS_SMALL - 1,
                    color=_GREY,
                    annotation_clip=False,
                )
        if binary:
            for c in (0, 1):
                if line is not None:
                    est = float(np.interp(c, line[0], line[1]))
                    lo = hi = np.nan
                    if band_arr is not None:
                        lo = float(np.interp(c, band_arr[0], band_arr[1]))
                        hi = float(np.interp(c, band_arr[0], band_arr[2]))
                    colour = ACCENT
                else:
                    m = xs == c
                    if not m.any():
                        continue
                    est = float(np.sum(w[m] * ys[m]) / np.sum(w[m]))
                    se = float(np.sqrt(1.0 / np.sum(w[m])))
                    lo, hi = est - 1.959964 * se, est + 1.959964 * se
                    colour = _BLACK
                if np.isfinite(lo):
                    ax.plot([c + 0.3, c + 0.3], [lo, hi], color=colour, lw=1.6, zorder=4)
                ax.plot(
                    [c + 0.3],
                    [est],
                    marker="o",
                    ms=6,
                    color=colour,
                    mec="white",
                    mew=0.8,
                    zorder=5,
                    gid="category-estimate",
                )
            ax.set_xticks([0, 1])
            ax.set_xticklabels(list(categories))
            ax.set_xlim(-0.5, 1.6)
        handles: list[Artist] = [
            Line2D(
                [],
                [],
                ls="",
                marker="o",
                ms=7,
                mfc=_LIGHT,
                mec=_BLACK,
                mew=0.6,
                label="Study (area ∝ 1/variance)",
            )
        ]
        if line is not None:
            handles.append(Line2D([], [], color=ACCENT, lw=1.6, label="Fitted"))
        if band_arr is not None:
            handles.append(
                Rectangle((0, 0), 1, 1, color=ACCENT, alpha=0.16, lw=0, label=band_label)
            )
        if binary and line is None:
            handles.append(
                Line2D(
                    [],
                    [],
                    color=_BLACK,
                    lw=1.6,
                    marker="o",
                    ms=5,
                    mec="white",
                    label="Inverse-variance mean (95% CI)",
                )
            )
        ax.legend(
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(0.0, 1.0),
            ncols=len(handles),
            borderaxespad=0.3,
            handlelength=1.6,
            columnspacing=1.2,
        )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        _tidy(ax)
        if title:
            fig.suptitle(title, x=0.0, ha="left", fontsize=_FS_TITLE, fontweight="bold")
    return fig


# ----------------------------------------------------------------------------- tau densities
def _reflected_kde(draws: NDArray[np.float64], grid: NDArray[np.float64]) -> NDArray[np.float64]:
    """Gaussian KDE of a non-negative quantity, reflected at 0 so no mass leaks below it."""
    kde = stats.gaussian_kde(draws)
    dens: NDArray[np.float64] = kde(grid) + kde(-grid)
    return dens


def tau_density_plot(
    draws: Mapping[str, ArrayLike],
    *,
    prior: Mapping[str, Callable[[NDArray[np.float64]], ArrayLike]] | None = None,
    title: str | None = None,
    xlabel: str = "τ (between-study SD)",
) -> Figure:
    r"""Posterior density of the between-study SD ``tau``, per outcome or per prior.

    Densities are Gaussian kernel estimates (:class:`scipy.stats.gaussian_kde`) with boundary
    reflection at 0, :math:`\hat f(t) = \hat g(t) + \hat g(-t)` for :math:`t \ge 0`, so
    the density does not dip artificially at the boundary. Up to four series are overlaid in
    one panel; more are drawn as a grid of small multiples sharing the x axis. Prior densities,
    if given, are dashed in the colour of their posterior.

    Parameters
    ----------
    draws
        Name -> posterior draws of ``tau`` (any shape; flattened). Must be >= 0.
    prior
        Optional name -> density function of ``tau`` (vectorised); names must be keys of
        ``draws``.
    title
        Optional figure title.
    xlabel
        Label of the tau axis.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        Empty input, negative or non-finite draws, constant draws, or a prior without draws.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> rng = np.random.default_rng(0)
    >>> draws = {"Depression": np.abs(rng.normal(0, 0.2, 2000)),
    ...          "Anxiety": np.abs(rng.normal(0, 0.1, 2000))}
    >>> prior = {"Depression": stats.halfnorm(scale=0.5).pdf}
    >>> fig = tau_density_plot(draws, prior=prior)
    >>> len(fig.axes), len(fig.axes[0].lines)
    (1, 3)
    """
    if not isinstance(draws, Mapping) or not draws:
        raise DataError("draws must be a non-empty dict of name -> tau draws", column="draws")
    series: dict[str, NDArray[np.float64]] = {}
    for name, d in draws.items():
        arr = np.asarray(d, dtype=float).ravel()
        if arr.size < 2 or not np.all(np.isfinite(arr)):
            raise DataError(f"draws[{name!r}] needs at least two finite values", column=name)
        if np.any(arr < 0):
            raise DataError(f"draws[{name!r}] has negative values; tau must be >= 0", column=name)
        if np.ptp(arr) == 0:
            raise DataError(f"draws[{name!r}] are constant; no density to estimate", column=name)
        series[str(name)] = arr
    prior = dict(prior or {})
    for name in prior:
        if name not in series:
            raise DataError(f"prior[{name!r}] has no matching draws", column=str(name))

    upper = max(float(np.quantile(a, 0.995)) for a in series.values()) * 1.15
    grid = np.linspace(0.0, upper, 400)
    n = len(series)
    overlay = n <= 4
    with _style():
        if overlay:
            fig = Figure(figsize=(5.5, 3.4), layout="constrained")
            axes = [fig.add_subplot()] * n
        else:
            ncols = 3
            nrows = math.ceil(n / ncols)
            fig = Figure(figsize=(_WIDTH, 0.4 + 1.9 * nrows), layout="constrained")
            grid_axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
            for extra in grid_axes[n:]:
                extra.remove()
            axes = list(grid_axes[:n])
        for i, (name, arr) in enumerate(series.items()):
            ax = axes[i]
            colour = _SERIES[i] if overlay else ACCENT
            ax.plot(
                grid,
                _reflected_kde(arr, grid),
                color=colour,
                lw=1.5,
                label=_truncate(name),
                gid="posterior",
            )
            if name in prior:
                with np.errstate(all="ignore"):
                    pd_ = np.asarray(prior[name](grid), dtype=float)
                ax.plot(grid, pd_, color=colour if overlay else _GREY, lw=1.0, ls="--", gid="prior")
            if not overlay:
                ax.set_title(_truncate(name), loc="left", fontsize=_FS, fontweight="bold")
        for ax in dict.fromkeys(axes):  # unique, in order
            ax.set_xlim(0.0, upper)
            ax.set_ylim(bottom=0.0)
            _tidy(ax)
        if overlay:
            ax = axes[0]
            handles, _ = ax.get_legend_handles_labels()
            if prior:
                handles.append(Line2D([], [], color=_GREY, lw=1.0, ls="--", label="Prior"))
            ax.legend(handles=handles, loc="upper right")
            ax.set_xlabel(xlabel)
            ax.set_ylabel("Posterior density")
        else:
            ncols = 3
            for j, ax in enumerate(axes):
                if j >= n - ncols:
                    ax.set_xlabel(xlabel)
                if j % ncols == 0:
                    ax.set_ylabel("Density")
                ax.tick_params(labelbottom=True)
            if prior:
                fig.legend(
                    handles=[
                        Line2D([], [], color=ACCENT, lw=1.5, label="Posterior"),
                        Line2D([], [], color=_GREY, lw=1.0, ls="--", label="Prior"),
                    ],
                    loc="outside upper right",
                    ncols=2,
                )
        if title:
            fig.suptitle(title, x=0.0, ha="left", fontsize=_FS_TITLE, fontweight="bold")
    return fig


# ----------------------------------------------------------------------------- saving
def save_figure(
    fig: Figure,
    path_without_suffix: str | os.PathLike[str],
    formats: Sequence[str] = ("png", "svg"),
    dpi: int = 150,
) -> list[Path]:
    """Write ``fig`` once per format, creating the folder if needed.

    The suffix is appended to the name (``"out/forest"`` -> ``out/forest.png``,
    ``out/forest.svg``), so names containing dots are kept whole. Fonts are embedded as
    TrueType in PDF and PostScript, as journals require.

    Parameters
    ----------
    fig
        The figure.
    path_without_suffix
        Target path without the file suffix.
    formats
        File formats matplotlib can write (``"png"``, ``"svg"``, ``"pdf"``, ``"tiff"``...).
    dpi
        Resolution of raster formats (use 300-600 for print).

    Returns
    -------
    list of pathlib.Path
        The files written, in the order of ``formats``.

    Raises
    ------
    ModelSpecError
        An unknown format.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> fig = Figure()
    >>> _ = fig.add_subplot().plot([0, 1], [0, 1])
    >>> with tempfile.TemporaryDirectory() as d:
    ...     paths = save_figure(fig, pathlib.Path(d) / "line", formats=("png",))
    ...     [p.name for p in paths], paths[0].stat().st_size > 0
    (['line.png'], True)
    """
    base = Path(path_without_suffix)
    supported = fig.canvas.get_supported_filetypes()
    for fmt in formats:
        if fmt.lower().lstrip(".") not in supported:
            raise ModelSpecError(f"unknown figure format {fmt!r}; choose from {sorted(supported)}")
    base.parent.mkdir(parents=True, exist_ok=True)
    out = []
    with mpl.rc_context({k: v for k, v in _STYLE.items() if str(k).endswith("fonttype")}):
        for fmt in formats:
            ext = fmt.lower().lstrip(".")
            path = base.with_name(f"{base.name}.{ext}")
            fig.savefig(
                path, format=ext, dpi=dpi, bbox_inches="tight", pad_inches=0.05, facecolor="white"
            )
            out.append(path)
    return out
