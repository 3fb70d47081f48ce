"""Meta-regression bubble plot: inputs -> drawing -> labels placed without overlap -> legend."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from numpy.typing import ArrayLike, NDArray

from bayesmeta._stats import critical_value
from bayesmeta.errors import DataError
from bayesmeta.plots import _glyphs as G
from bayesmeta.plots._layout import (
    ACCENT,
    BLACK,
    FS_SMALL,
    FS_TITLE,
    GREY,
    LIGHT,
    Measure,
    array,
    measure,
    style,
    tidy,
    truncate,
)

__all__ = ["bubble_plot"]

Arr = NDArray[np.float64]
_Z95 = critical_value(0.95)
_LABEL_FS = FS_SMALL - 1


@dataclass(frozen=True)
class _Bubbles:
    x: Arr
    y: Arr
    v: Arr
    line: tuple[Arr, Arr] | None
    band: tuple[Arr, Arr, Arr] | None
    binary: bool

    @property
    def sizes(self) -> Arr:
        w = 1.0 / self.v
        out: Arr = 15.0 + 285.0 * w / w.max()  # marker area, points²
        return out


def _bubble_inputs(
    x: ArrayLike,
    yi: ArrayLike,
    vi: ArrayLike,
    fit_line: tuple[ArrayLike, ArrayLike] | None,
    band: tuple[ArrayLike, ArrayLike, ArrayLike] | None,
    labels: Sequence[str] | None,
) -> _Bubbles:
    xs, ys, vs = array(x, "x"), array(yi, "yi"), array(vi, "vi")
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
        gx, gy = array(fit_line[0], "fit_line"), array(fit_line[1], "fit_line")
        if gx.size != gy.size:
            raise DataError("fit_line: xgrid and yhat differ in length", column="fit_line")
        line = (gx, gy)
    if band is not None:
        bx, bl, bu = (array(b, "band") for b in band)
        if not bx.size == bl.size == bu.size:
            raise DataError("band: xgrid, lower and upper differ in length", column="band")
        band_arr = (bx, bl, bu)
    binary = bool(np.all(np.isin(xs, (0.0, 1.0))))
    return _Bubbles(xs, ys, vs, line, band_arr, binary)


def _draw_categories(ax: Axes, b: _Bubbles, categories: tuple[str, str]) -> None:
    """Draw a binary moderator: per category the fitted mean and band, or the IV mean and 95% CI."""
    w = 1.0 / b.v
    for c in (0, 1):
        if b.line is not None:
            est = float(np.interp(c, b.line[0], b.line[1]))
            lo = hi = np.nan
            if b.band is not None:
                lo = float(np.interp(c, b.band[0], b.band[1]))
                hi = float(np.interp(c, b.band[0], b.band[2]))
            colour = ACCENT
        else:
            sel = b.x == c
            if not sel.any():
                continue
            est = float(np.sum(w[sel] * b.y[sel]) / np.sum(w[sel]))
            se = float(np.sqrt(1.0 / np.sum(w[sel])))
            lo, hi = est - _Z95 * se, est + _Z95 * se
            colour = BLACK
        if np.isfinite(lo):
            ax.plot(
                [c + 0.3, c + 0.3], [lo, hi], color=colour, lw=1.6, zorder=4, gid="category-band"
            )
        ax.plot(
            [c + 0.3], [est], marker="o", ms=6, color=colour, mec="white", mew=0.8, zorder=5,
            gid="category-estimate",
        )  # fmt: skip
    ax.set_xticks([0, 1])
    ax.set_xticklabels(list(categories))
    ax.set_xlim(-0.5, 1.6)


def _draw_bubbles(ax: Axes, b: _Bubbles) -> Arr:
    """Band and line (continuous moderator) and the bubbles; returns the bubbles' x."""
    k = b.x.size
    px = b.x + np.random.default_rng(0).uniform(-0.13, 0.13, size=k) if b.binary else b.x
    if b.band is not None and not b.binary:
        ax.fill_between(*b.band, color=ACCENT, alpha=0.16, lw=0, zorder=1, gid="band")
    if b.line is not None and not b.binary:
        ax.plot(*b.line, color=ACCENT, lw=1.6, zorder=2, gid="fit-line")
    order = np.argsort(-b.sizes)  # small bubbles on top
    ax.scatter(
        px[order], b.y[order], s=b.sizes[order], facecolor=LIGHT, edgecolor=BLACK, lw=0.6,
        alpha=0.75, zorder=3, gid="bubbles",
    )  # fmt: skip
    return np.asarray(px, dtype=float)


def _overlap(a: Arr, boxes: list[Arr]) -> float:
    """Total area of ``a`` (x0, y0, x1, y1) covered by ``boxes``."""
    tot = 0.0
    for o in boxes:
        dx = min(a[2], o[2]) - max(a[0], o[0])
        dy = min(a[3], o[3]) - max(a[1], o[1])
        if dx > 0 and dy > 0:
            tot += dx * dy
    return tot


def _place_labels(
    fig: Figure, ax: Axes, px: Arr, b: _Bubbles, labels: Sequence[str], m: Measure
) -> None:
    """Write each study label beside its bubble where it covers no other label or bubble.

    Eight positions around the bubble are tried (right first); the one covering least of the
    labels already placed, the other bubbles and the outside of the axes wins. Boxes are
    measured at the figure's dpi in display pixels, after the layout is fixed.
    """
    fig.draw_without_rendering()  # fixes the constrained layout, so transData is final
    dpi = fig.dpi
    centres = ax.transData.transform(np.column_stack([px, b.y]))
    radii = np.sqrt(b.sizes / np.pi) * dpi / 72
    pad = 4 * dpi / 72  # half a line width or a marker, and a little air
    lines = []
    for line in ax.lines:
        if str(line.get_gid()).startswith("category-"):
            pts = ax.transData.transform(np.asarray(line.get_xydata(), dtype=float))
            lines.append(np.concatenate([pts.min(axis=0) - pad, pts.max(axis=0) + pad]))
    bubbles = [
        np.array([cx - r, cy - r, cx + r, cy + r])
        for (cx, cy), r in zip(centres, radii, strict=True)
    ]
    frame = ax.get_window_extent().extents
    h = _LABEL_FS * 1.2 * dpi / 72
    placed: list[Arr] = []
    for i in np.argsort(-b.sizes):  # big bubbles choose first
        text = truncate(labels[i], 25)
        w = m.width(text, _LABEL_FS) * dpi
        (cx, cy), r = centres[i], radii[i] + 2 * dpi / 72
        best: tuple[float, Arr, str, str] | None = None
        for dx, dy in ((1, 0), (1, 1), (1, -1), (0, 1), (0, -1), (-1, 0), (-1, 1), (-1, -1)):
            x0 = cx + r if dx > 0 else (cx - r - w if dx < 0 else cx - w / 2)
            y0 = cy + r if dy > 0 else (cy - r - h if dy < 0 else cy - h / 2)
            box = np.array([x0, y0, x0 + w, y0 + h])
            others = [bb for j, bb in enumerate(bubbles) if j != i]
            cost = 2 * _overlap(box, placed) + _overlap(box, others) + 2 * _overlap(box, lines)
            outside = w * h - _overlap(box, [np.asarray(frame)])
            cost += 4 * max(outside, 0.0)
            if best is None or cost < best[0] - 1e-9:
                ha = "left" if dx > 0 else ("right" if dx < 0 else "center")
                va = "bottom" if dy > 0 else ("top" if dy < 0 else "center")
                best = (cost, box, ha, va)
        assert best is not None
        _, box, ha, va = best
        placed.append(box)
        ax_x = box[0] if ha == "left" else (box[2] if ha == "right" else (box[0] + box[2]) / 2)
        ax_y = box[1] if va == "bottom" else (box[3] if va == "top" else (box[1] + box[3]) / 2)
        xd, yd = ax.transData.inverted().transform((ax_x, ax_y))
        ax.text(
            xd, yd, text, ha=ha, va=va, fontsize=_LABEL_FS, color=GREY, gid="study-label",
            parse_math=False, clip_on=False, in_layout=False,
        )  # fmt: skip


def _legend(ax: Axes, b: _Bubbles, band_label: str) -> None:
    """Write a legend listing what is drawn, and only that."""
    handles: list[Artist] = [
        Line2D(
            [], [], ls="", marker="o", ms=7, mfc=LIGHT, mec=BLACK, mew=0.6,
            label="Study (area ∝ 1/variance)",
        )
    ]  # fmt: skip
    if b.binary and b.line is not None:
        what = "Fitted mean" + (f" ({band_label.replace(' band', ' interval')})" if b.band else "")
        handles.append(
            Line2D([], [], color=ACCENT, lw=1.6, marker="o", ms=5, mec="white", label=what)
        )
    elif b.binary:
        handles.append(
            Line2D(
                [], [], color=BLACK, lw=1.6, marker="o", ms=5, mec="white",
                label="Inverse-variance mean (95% CI)",
            )
        )  # fmt: skip
    else:
        if b.line is not None:
            handles.append(Line2D([], [], color=ACCENT, lw=1.6, label="Fitted"))
        if b.band is not None:
            handles.append(
                Rectangle((0, 0), 1, 1, color=ACCENT, alpha=0.16, lw=0, label=band_label)
            )
    ax.legend(
        handles=handles, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=len(handles),
        borderaxespad=0.3, handlelength=1.6, columnspacing=1.2,
    )  # fmt: skip


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
    watermark: str | None = None,
) -> Figure:
    """Meta-regression bubble plot: estimates against a moderator, sized by precision.

    Bubble areas are proportional to the inverse variance ``1 / vi``. The fitted line
    ``fit_line`` is drawn in the accent colour with its credible (or confidence) band.

    A binary moderator (every ``x`` is 0 or 1) is drawn as two jittered categories (labelled
    by ``categories``) with a per-category estimate and interval beside each: the fitted line
    and band evaluated at 0 and 1 when given, otherwise the inverse-variance weighted mean with
    its 95% confidence interval (a fixed-effect summary, in black). The legend lists only what
    is drawn. Study labels are placed beside their bubbles where they cover no other label.

    Parameters
    ----------
    x, yi, vi
        Moderator values, effect estimates and their sampling variances (all length ``k``).
    fit_line
        ``(xgrid, yhat)``: the fitted regression line.
    band
        ``(xgrid, lower, upper)``: the interval band around it.
    xlabel, ylabel
        Axis labels (name the scale in ``ylabel``, e.g. "SMD" or "log OR").
    labels
        Optional study labels, written beside the bubbles (gid ``study-label``).
    title
        Optional title.
    categories
        Tick labels of a binary moderator's 0 and 1.
    null
        Where to draw a thin horizontal line of no effect (``None``: none).
    band_label
        Legend text of the band (say "95% confidence band" for a frequentist fit).
    watermark
        Optional mark across the figure, e.g. ``"SIMULATED DATA"``.

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
    b = _bubble_inputs(x, yi, vi, fit_line, band, labels)
    m = measure()
    with style(m.family):
        fig = Figure(figsize=(5.5, 4.0), layout="constrained", dpi=m.dpi)
        ax = fig.add_subplot()
        if null is not None:
            ax.axhline(null, color=GREY, lw=0.7, zorder=0)
        px = _draw_bubbles(ax, b)
        if b.binary:
            _draw_categories(ax, b, categories)
        _legend(ax, b, band_label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        tidy(ax)
        if title:
            fig.suptitle(title, x=0.0, ha="left", fontsize=FS_TITLE, fontweight="bold")
        G.watermark(fig, watermark)
        if labels is not None:
            _place_labels(fig, ax, px, b, labels, m)
    return fig
