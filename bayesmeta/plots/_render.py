"""Raster output of the figures: the Agg renderer with each text drawn as one bitmap, remembered.

Matplotlib's Agg renderer shapes a text and then places and renders it one glyph at a time in
Python, about 2 ms for a 25-character label; a report of 50 figures draws some 2,500 texts, most
of them more than once (tick labels, study labels, "SIMULATED DATA"). :class:`FastRenderer` draws
each text the way the Agg renderer measures it: FreeType lays out and renders the whole string
into one bitmap (``FT2Font.set_text`` / ``draw_glyphs_to_bitmap``), which is placed at a whole
pixel, as matplotlib drew text up to version 3.10. Bitmap and metrics are remembered per string,
font files, size, dpi, hinting and anti-aliasing, so a text measured for the layout is drawn
without laying it out again and a text repeated across figures is rendered once.

Text widths are those of :meth:`RendererAgg.get_text_width_height_descent` (the same FreeType
layout), so a layout measured with :class:`bayesmeta.plots._layout.Measure` is the layout drawn.
Mathtext, TeX and texts with font features or a language fall back to matplotlib's own drawing.

:func:`attach` gives a figure the :class:`Canvas` that draws with :class:`FastRenderer`; PNG,
JPEG, TIFF, WebP and raw output then use it, vector formats are unchanged.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

__all__ = ["Canvas", "FastRenderer", "attach"]

#: Texts remembered (bitmap and metrics); a report of 50 figures needs about 1,500.
_CACHE_SIZE = 8192
_GENERIC = ("serif", "sans-serif", "cursive", "fantasy", "monospace")


def _font_key(prop: FontProperties) -> tuple[Any, ...]:
    """Everything that selects the font files of ``prop`` and shapes its glyphs."""
    family = tuple(prop.get_family())
    rc: Any = mpl.rcParams  # typed Any: matplotlib types rc keys as a Literal
    generic = tuple(
        tuple(rc[f"font.{g}"])
        for g in _GENERIC
        if g in family or (g == "sans-serif" and "sans" in family)
    )
    return (
        family,
        generic,
        prop.get_style(),
        prop.get_variant(),
        prop.get_weight(),
        prop.get_stretch(),
        prop.get_file(),
        prop.get_size_in_points(),
        mpl.rcParams["text.hinting_factor"],
        mpl.rcParams["text.kerning_factor"],
    )


class _Text:
    """One text laid out and rendered: bitmap, offsets and metrics in pixels."""

    __slots__ = ("descent", "height", "image", "width", "x_offset", "y_offset")

    def __init__(self, renderer: RendererAgg, s: str, prop: FontProperties, antialiased: bool):
        font = renderer._prepare_font(prop)  # the font files and size the Agg renderer uses
        font.set_text(s, 0.0, flags=get_hinting_flag())
        width, height = font.get_width_height()
        self.width, self.height = width / 64.0, height / 64.0
        self.descent = font.get_descent() / 64.0
        font.draw_glyphs_to_bitmap(antialiased=antialiased)
        xo, yo = font.get_bitmap_offset()
        self.x_offset, self.y_offset = xo / 64.0, yo / 64.0
        self.image = np.array(font.get_image(), copy=True)


_TEXTS: dict[tuple[Any, ...], _Text] = {}


def _lookup(dpi: float, s: str, prop: FontProperties, antialiased: bool) -> _Text:
    """Return the remembered :class:`_Text` of ``s`` in ``prop`` at ``dpi`` (laid out on a miss)."""
    key = (s, _font_key(prop), float(dpi), get_hinting_flag(), antialiased)
    hit = _TEXTS.get(key)
    if hit is None:
        if len(_TEXTS) >= _CACHE_SIZE:
            _TEXTS.clear()
        hit = _TEXTS[key] = _Text(_measuring_renderer(float(dpi)), s, prop, antialiased)
    return hit


@functools.cache
def _measuring_renderer(dpi: float) -> RendererAgg:
    return RendererAgg(1, 1, dpi)


class FastRenderer(RendererAgg):
    """Agg renderer drawing each text as one remembered FreeType bitmap (see the module)."""

    def draw_text(
        self,
        gc: Any,
        x: float,
        y: float,
        s: str,
        prop: FontProperties,
        angle: float,
        ismath: bool | str = False,
        mtext: Any = None,
    ) -> None:
        """Draw ``s`` at (x, y) (y downwards) as matplotlib 3.10's Agg renderer did."""
        if ismath or (
            mtext is not None
            and (mtext.get_fontfeatures() is not None or mtext.get_language() is not None)
        ):
            super().draw_text(gc, x, y, s, prop, angle, ismath, mtext)
            return
        t = _lookup(self.dpi, s, prop, bool(gc.get_antialiased()))
        # the descent moves with the text's rotation
        xd = t.descent * math.sin(math.radians(angle))
        yd = t.descent * math.cos(math.radians(angle))
        xi, yi = round(x + t.x_offset + xd), round(y + t.y_offset + yd)
        self._renderer.draw_text_image(t.image, xi, yi + 1, angle, gc)

    def get_text_width_height_descent(
        self, s: str, prop: FontProperties, ismath: bool | str
    ) -> tuple[float, float, float]:
        """Width, height and descent of ``s`` in pixels, as the Agg renderer measures them."""
        if ismath:
            return super().get_text_width_height_descent(s, prop, ismath)
        t = _lookup(self.dpi, s, prop, True)
        return t.width, t.height, t.descent


class Canvas(FigureCanvasAgg):
    """The Agg canvas drawing with :class:`FastRenderer`."""

    def get_renderer(self) -> FastRenderer:
        """Return the renderer for the figure's current size and dpi (reused while they hold)."""
        w, h = self.get_width_height(physical=True)
        key = w, h, self.figure.dpi
        if self._lastKey != key or not isinstance(self.renderer, FastRenderer):
            self.renderer = FastRenderer(w, h, self.figure.dpi)
            self._lastKey = key
        return self.renderer


def attach(fig: Figure) -> Figure:
    """Give ``fig`` a :class:`Canvas` (raster output through :class:`FastRenderer`)."""
    if not isinstance(fig.canvas, Canvas):
        Canvas(fig)
    return fig
