"""Drawing pieces shared by the forest-type figures.

Rows of a forest plot are laid out in inches horizontally (text columns measured with
:class:`~bayesmeta.plots._layout.Measure`) and in row units vertically (data y = row index).
:class:`Writer` places texts at (inches, row); :class:`IntervalColumn` is the one layout of an
"estimate [lower, upper]" column; :func:`hline`, :func:`diamond`, :func:`bayes_point` and
:func:`prediction_bar` are the one drawing of each glyph; :func:`effect_axis` sets up the
effect axis (ticks that fit, log axis for ratios, line of no effect) and :func:`favours` writes
the "favours" labels under it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from matplotlib import ticker, transforms
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Polygon, Rectangle

from bayesmeta.errors import ModelSpecError
from bayesmeta.plots._layout import FS_FAV, FS_SMALL, FS_TITLE, GREY, LIGHT, Measure, fmt, lighten

Parts = tuple[str, str, str]


# ----------------------------------------------------------------------------- text columns
@dataclass(frozen=True)
class IntervalColumn:
    """Widths (inches) of the three right-aligned pieces of an interval column."""

    est_w: float
    lb_w: float
    ub_w: float
    space: float

    @classmethod
    def fit(
        cls,
        m: Measure,
        rows: Sequence[tuple[Parts, str, float]],
        header: str = "",
        min_width: float = 0.0,
    ) -> IntervalColumn:
        """Return the column that holds every ``(parts, weight, size)`` row and ``header``."""
        space = m.width(" ")
        est_w = max((m.width(p[0], s, w) for p, w, s in rows), default=0.0)
        lb_w = max((m.width(p[1], s, w) for p, w, s in rows), default=0.0)
        ub_w = max((m.width(p[2], s, w) for p, w, s in rows), default=0.0)
        col = cls(est_w, lb_w, ub_w, space)
        need = max(m.width(header, weight="bold"), min_width)
        if need > col.width:
            col = cls(est_w + need - col.width, lb_w, ub_w, space)
        return col

    @property
    def width(self) -> float:
        return self.est_w + self.lb_w + self.ub_w + 2.5 * self.space

    def xs(self, left: float) -> tuple[float, float, float]:
        """Right edges of the estimate, lower and upper pieces for a column starting at ``left``."""
        x_est = left + self.est_w
        x_lb = x_est + 1.5 * self.space + self.lb_w
        return x_est, x_lb, x_lb + self.space + self.ub_w


class Writer:
    """Places texts on a figure at x in inches from its left edge and y in row units of ``ax``."""

    def __init__(self, fig: Figure, ax: Axes) -> None:
        self.ax = ax
        self.blend = transforms.blended_transform_factory(fig.dpi_scale_trans, ax.transData)

    def text(self, x: float, y: float, s: str, gid: str, ha: str = "left", **kw: Any) -> None:
        """One text, vertically centred on row ``y``; nothing for an empty string."""
        if s:
            self.ax.text(
                x,
                y,
                s,
                transform=self.blend,
                ha=ha,
                va="center",
                gid=gid,
                parse_math=False,
                clip_on=False,
                **kw,
            )

    def interval(
        self, xs: tuple[float, float, float], y: float, parts: Parts, gid: str, **kw: Any
    ) -> None:
        """Write an interval label: the estimate with gid ``gid``, the bounds with ``gid-ci``."""
        est, lo, hi = parts
        self.text(xs[0], y, est, gid, ha="right", **kw)
        if lo or hi:
            self.text(xs[1], y, lo, f"{gid}-ci", ha="right", **kw)
            self.text(xs[2], y, hi, f"{gid}-ci", ha="right", **kw)


# ----------------------------------------------------------------------------- glyphs
def hline(ax: Axes, lo: float, hi: float, y: float, xlim: tuple[float, float], **kw: Any) -> None:
    """Draw a horizontal interval clipped to ``xlim`` with an arrowhead where it is cut."""
    a, b = max(lo, xlim[0]), min(hi, xlim[1])
    if a > b:  # entirely outside the window: an arrow at the edge it lies beyond
        edge, marker = (xlim[1], ">") if lo > xlim[1] else (xlim[0], "<")
        ax.plot([edge], [y], marker=marker, ms=4, color=kw.get("color"), clip_on=False)
        return
    ax.plot([a, b], [y, y], solid_capstyle="butt", **kw)
    for cut, edge, marker in ((lo < xlim[0], a, "<"), (hi > xlim[1], b, ">")):
        if cut:
            ax.plot([edge], [y], marker=marker, ms=4, color=kw.get("color"), clip_on=False)


def diamond(
    ax: Axes,
    est: float,
    lo: float,
    hi: float,
    y: float,
    colour: str,
    gid: str,
    *,
    half_height: float = 0.34,
    filled: bool = True,
) -> None:
    """Draw a pooled estimate: a diamond over its interval, ``2 * half_height`` rows tall."""
    h = half_height
    ax.add_patch(
        Polygon(
            [(lo, y), (est, y - h), (hi, y), (est, y + h)],
            closed=True,
            facecolor=colour if filled else "white",
            edgecolor=colour,
            lw=0.5 if filled else 0.9,
            zorder=3,
            gid=gid,
        )
    )


def bayes_point(
    ax: Axes,
    est: float,
    lo: float,
    hi: float,
    y: float,
    xlim: tuple[float, float],
    colour: str,
    gid: str,
) -> None:
    """Draw a posterior summary: a filled circle on a thick credible-interval line."""
    hline(ax, lo, hi, y, xlim, color=colour, lw=2.4, zorder=3)
    ax.plot([est], [y], marker="o", ms=6, color=colour, mec="white", mew=0.8, zorder=4, gid=gid)


def prediction_bar(
    ax: Axes,
    est: float,
    lo: float,
    hi: float,
    y: float,
    xlim: tuple[float, float],
    colour: str,
    gid: str,
) -> None:
    """Draw a prediction interval: a light bar with a tick at ``est`` (if finite)."""
    a, b = max(lo, xlim[0]), min(hi, xlim[1])
    ax.add_patch(
        Rectangle(
            (a, y - 0.12),
            b - a,
            0.24,
            facecolor=lighten(colour),
            edgecolor=colour,
            lw=0.7,
            zorder=3,
            gid=gid,
        )
    )
    if np.isfinite(est) and xlim[0] <= est <= xlim[1]:
        ax.plot([est, est], [y - 0.12, y + 0.12], color=colour, lw=1.2, zorder=4)


# ----------------------------------------------------------------------------- effect axis
def log_ticks(lo: float, hi: float) -> list[float]:
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
            mm * 10.0**e
            for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
            for mm in subs
        ]
        best = [t for t in ticks if lo <= t <= hi]
        if len(best) >= 3:
            break
    return best


def linear_ticks(lim: tuple[float, float], width_in: float, m: Measure) -> tuple[float, int]:
    """Return the smallest 'nice' tick step (1, 2, 2.5, 5 x 10^e) whose labels fit.

    Fit means: written with a fixed number of decimals, the labels leave at least 0.1 in
    between them on an axis ``width_in`` wide. Returns the step and the number of decimals.
    """
    per_inch = (lim[1] - lim[0]) / width_in
    e = math.floor(math.log10(per_inch * 0.2))
    for exp in range(e, e + 4):
        for mm in (1.0, 2.0, 2.5, 5.0):
            step = mm * 10.0**exp
            decimals = max(0, -exp + (1 if mm == 2.5 else 0))
            ticks = np.arange(math.ceil(lim[0] / step), math.floor(lim[1] / step) + 1) * step
            widest = m.widest([fmt(t, decimals) for t in ticks], FS_SMALL)
            if step / per_inch >= widest + 0.1:
                return step, decimals
    return 10.0 ** (e + 4), 0


def data_limits(
    values: Sequence[np.ndarray],
    null: float,
    exponentiate: bool,
    xlim: tuple[float, float] | None,
) -> tuple[float, float]:
    """Axis limits: ``xlim`` checked, or the range of ``values`` and the null, padded by 5%."""
    if xlim is not None:
        lim = (float(xlim[0]), float(xlim[1]))
        if not lim[0] < lim[1] or (exponentiate and lim[0] <= 0):
            raise ModelSpecError(f"xlim must be increasing (and > 0 for ratios), got {xlim}")
        return lim
    vals = np.concatenate([np.ravel(v) for v in values] + [np.array([null])])
    vals = vals[np.isfinite(vals)]
    if exponentiate:
        lo_, hi_ = np.log(vals.min()), np.log(vals.max())
        pad = 0.05 * max(hi_ - lo_, 0.1)
        return float(np.exp(lo_ - pad)), float(np.exp(hi_ + pad))
    lo_, hi_ = vals.min(), vals.max()
    pad = 0.05 * max(hi_ - lo_, 0.1)
    return float(lo_ - pad), float(hi_ + pad)


def effect_axis(
    ax: Axes,
    lim: tuple[float, float],
    null: float,
    *,
    exponentiate: bool,
    width_in: float,
    m: Measure,
) -> None:
    """Set up the effect axis: ticks that fit, a log axis for ratios, the line of no effect."""
    if exponentiate:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(ticker.FixedLocator(log_ticks(*lim)))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_locator(ticker.NullLocator())
    else:
        step, decimals = linear_ticks(lim, width_in, m)
        ax.xaxis.set_major_locator(ticker.MultipleLocator(step))
        ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: fmt(v, decimals)))
    ax.set_xlim(*lim)
    ax.spines[["top", "right", "left"]].set_visible(False)
    ax.set_yticks([])
    ax.tick_params(axis="x", pad=2)
    ax.axvline(null, color=GREY, lw=0.8, zorder=1, gid="null-line")


def favours_sides(labels: tuple[str, str], direction: str) -> tuple[str, str]:
    """(left, right) favours texts for ``labels = (control, intervention)``."""
    if direction == "higher":
        return str(labels[0]), str(labels[1])
    return str(labels[1]), str(labels[0])


#: Points below the axis at which the favours labels hang (under the tick labels).
FAVOURS_DROP = 15.0
#: Points between the tick labels and an axis title placed under the favours labels.
AXIS_TITLE_PAD = 14.0
#: Inches between the line of no effect and the near end of each favours label.
FAVOURS_GAP = 5.0 / 72


def favours(ax: Axes, null: float, left: str, right: str) -> None:
    """Write the "favours" labels under the tick labels on either side of the line of no effect."""
    kw: dict[str, Any] = {
        "xycoords": ("data", "axes fraction"),
        "textcoords": "offset points",
        "va": "top",
        "fontsize": FS_FAV,
        "gid": "favours",
        "annotation_clip": False,
    }
    ax.annotate(left, (null, 0.0), xytext=(-FAVOURS_GAP * 72, -FAVOURS_DROP), ha="right", **kw)
    ax.annotate(right, (null, 0.0), xytext=(FAVOURS_GAP * 72, -FAVOURS_DROP), ha="left", **kw)


def footnotes(
    fig: Figure,
    lines: Sequence[tuple[str, str, str]],
    x_in: float,
    top_in: float,
    m: Measure,
) -> None:
    """Footnote lines ``(text, gid, colour)`` from ``top_in`` inches above the bottom down."""
    w, h = fig.get_size_inches()
    step = m.line_height(FS_SMALL)
    for n, (line, gid, colour) in enumerate(lines):
        fig.text(
            x_in / w,
            (top_in - (n + 0.5) * step) / h,
            line,
            ha="left",
            va="center",
            fontsize=FS_SMALL,
            gid=gid,
            color=colour,
            parse_math=False,
        )


def title(fig: Figure, text: str | None, x_in: float) -> None:
    """Write a bold title at the top left, ``x_in`` inches from the left edge."""
    if text:
        w, h = fig.get_size_inches()
        fig.text(
            x_in / w,
            1 - 0.1 / h,
            text,
            ha="left",
            va="top",
            fontsize=FS_TITLE,
            fontweight="bold",
            gid="title",
            parse_math=False,
        )


def watermark(fig: Figure, text: str | None) -> None:
    """Write a mark such as "SIMULATED DATA" across the figure, behind everything drawn.

    The axes backgrounds are made transparent so the mark shows through them.
    """
    if text:
        for ax in fig.axes:
            ax.patch.set_visible(False)
        fig.text(
            0.5,
            0.5,
            text,
            ha="center",
            va="center",
            rotation=25,
            fontsize=28,
            fontweight="bold",
            color=LIGHT,
            alpha=0.45,
            zorder=-1,
            gid="watermark",
            parse_math=False,
        )
