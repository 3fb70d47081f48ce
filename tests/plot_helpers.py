"""Shared helpers of the figure tests: the fonts they run under, text boxes at the drawing dpi."""

from __future__ import annotations

import io
from collections.abc import Iterator

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text

from bayesmeta.plots._layout import installed

#: Fonts shipped with matplotlib itself: every layout test runs under both (the second is wider).
BUNDLED_FONTS = ("DejaVu Sans", "DejaVu Sans Mono")
#: Fonts commonly installed on machines and CI images; tested where present.
OPTIONAL_FONTS = ("Liberation Sans",)
#: The fonts the layout tests run under here: the bundled ones always, the others if installed.
FONTS = [f for f in BUNDLED_FONTS + OPTIONAL_FONTS if installed(f)]


@pytest.fixture(params=FONTS, name="font")
def font_fixture(request: pytest.FixtureRequest) -> Iterator[str]:
    """Build the figure under ``rcParams["font.family"] = <font>``."""
    with matplotlib.rc_context({"font.family": request.param}):
        yield str(request.param)


def render(fig: Figure) -> None:
    """Draw the figure as a PNG is saved (at the figure's dpi)."""
    fig.savefig(io.BytesIO(), format="png")


def texts(fig: Figure, gid: str) -> list[str]:
    out = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == gid]
    return out + [t.get_text() for t in fig.texts if t.get_gid() == gid]


def visible_texts(fig: Figure, ticks: bool = True) -> list[Text]:
    """Every non-empty text of the figure (not the watermark), tick labels included."""
    out: list[Text] = [t for t in fig.texts if t.get_gid() != "watermark"]
    for ax in fig.axes:
        out += list(ax.texts)
        out += [ax.xaxis.label, ax.yaxis.label]
        if ticks:
            out += [t for t in ax.get_xticklabels() if ax.get_xlim()[0] <= t.get_position()[0]
                    <= ax.get_xlim()[1]]  # fmt: skip
    return [t for t in out if t.get_text() and t.get_visible()]


def overlapping_pairs(fig: Figure, ticks: bool = True) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes overlap, measured after drawing at the figure's dpi."""
    render(fig)
    ts = visible_texts(fig, ticks)
    b = np.array([t.get_window_extent().extents for t in ts])
    x0, y0, x1, y1 = (b[:, i] for i in range(4))
    hit = (x0[:, None] < x1[None, :]) & (x0[None, :] < x1[:, None])
    hit &= (y0[:, None] < y1[None, :]) & (y0[None, :] < y1[:, None])
    np.fill_diagonal(hit, False)
    return [(ts[i].get_text(), ts[j].get_text()) for i, j in np.argwhere(hit) if i < j]


def outside_figure(fig: Figure) -> list[str]:
    """Texts that stick out of the figure's edges."""
    render(fig)
    out = []
    for t in visible_texts(fig):
        x0, y0, x1, y1 = t.get_window_extent().extents
        if x0 < 0 or y0 < 0 or x1 > fig.bbox.x1 + 0.01 or y1 > fig.bbox.y1 + 0.01:
            out.append(t.get_text())
    return out
