"""Shared pieces of every figure: style, fonts, text measured at the drawing dpi, formatting.

One implementation of each piece the figures share:

- the house style (:func:`style`) and the concrete font list stored in every text
  (:func:`font_family`);
- :class:`Measure`, text widths measured by the Agg renderer at the figure's dpi with the
  figure's fonts, so a layout computed from them is the layout that is drawn and saved;
- number and label formatting (:func:`fmt`, :func:`truncate`, :func:`interval_parts`,
  :func:`revman_p`), line wrapping (:func:`wrap`);
- input validation shared by the figures (:func:`as_frame`, :func:`require`, :func:`numeric`,
  :func:`array`, :func:`check_choice`, :func:`check_order`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.font_manager import FontProperties
from numpy.typing import ArrayLike, NDArray

from bayesmeta.errors import DataError, ModelSpecError
from bayesmeta.plots._render import FastRenderer

#: The accent colour for Bayesian quantities (Okabe-Ito blue, safe for colour-blind readers).
ACCENT = "#0072B2"
BLACK = "#000000"
GREY = "#595959"
LIGHT = "#B3B3B3"
FLAG = "#D55E00"  # Okabe-Ito vermillion: observed values outside the predictive interval
#: Colours of overlaid lines (Okabe-Ito), the accent first.
SERIES = (ACCENT, FLAG, "#009E73", "#E69F00")

FS = 8.0  # body text (points)
FS_SMALL = 7.0  # ticks, footnotes
FS_TITLE = 9.0
FS_FAV = 7.5  # "favours" labels under the forest plot axis
MAX_LABEL = 40  # characters before a study label is truncated with an ellipsis
MAX_SUMMARY = 50  # the same for summary-row labels, which carry more information
WIDTH = 7.0  # inches: a full journal page width
#: Resolution the figures are laid out and drawn at (and saved at by default).
DPI = 150.0

STYLE: Any = {  # typed Any: matplotlib types rc keys as a Literal
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "savefig.facecolor": "white",
    "font.size": FS,
    "axes.titlesize": FS_TITLE,
    "axes.titleweight": "bold",
    "axes.labelsize": FS,
    "axes.linewidth": 0.8,
    "axes.edgecolor": BLACK,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "axes.unicode_minus": True,
    "xtick.labelsize": FS_SMALL,
    "ytick.labelsize": FS_SMALL,
    "xtick.major.width": 0.8,
    "ytick.major.width": 0.8,
    "xtick.major.size": 3.0,
    "ytick.major.size": 3.0,
    "legend.fontsize": FS_SMALL,
    "legend.frameon": False,
    "lines.linewidth": 1.0,
    "lines.solid_capstyle": "butt",
    "pdf.fonttype": 42,  # embed TrueType: journals reject Type 3 fonts
    "ps.fonttype": 42,
}

#: Preferred fonts, first installed one wins; DejaVu Sans ships with matplotlib.
FONTS = ("Arial", "Helvetica", "Liberation Sans", "DejaVu Sans")
_GENERIC = {"sans-serif", "sans", "serif", "monospace", "cursive", "fantasy", "math"}


@functools.cache
def installed(name: str) -> bool:
    """Whether matplotlib finds the font family ``name`` itself (no fallback)."""
    try:
        font_manager.findfont(FontProperties(family=name), fallback_to_default=False)
    except ValueError:
        return False
    return True


def font_family() -> tuple[str, ...]:
    """Return the concrete font list the next figure uses.

    A font named in ``rcParams["font.family"]`` (not a generic family such as "serif") and
    installed is used, so ``with mpl.rc_context({"font.family": "DejaVu Sans Mono"})`` draws a
    figure in that font; otherwise the first installed of :data:`FONTS`. DejaVu Sans stands
    behind it for glyphs it lacks.

    A concrete name (not the generic "sans-serif") is stored in every text, so a figure is drawn
    with the font its layout was measured in, whatever the rcParams are at drawing time.

    Examples
    --------
    >>> import matplotlib as mpl
    >>> with mpl.rc_context({"font.family": "DejaVu Sans Mono"}):
    ...     font_family()
    ('DejaVu Sans Mono', 'DejaVu Sans')
    >>> with mpl.rc_context({"font.family": "serif"}):
    ...     font_family()[-1]
    'DejaVu Sans'
    """
    for name in mpl.rcParams["font.family"]:
        if str(name).lower() not in _GENERIC and installed(str(name)):
            return (str(name),) if name == "DejaVu Sans" else (str(name), "DejaVu Sans")
    for name in FONTS:
        if installed(name):
            return (name,) if name == "DejaVu Sans" else (name, "DejaVu Sans")
    return ("DejaVu Sans",)


@contextmanager
def style(family: Sequence[str]) -> Iterator[None]:
    """Apply the house style with the concrete font list ``family``."""
    with mpl.rc_context({**STYLE, "font.family": list(family)}):
        yield


@functools.lru_cache(maxsize=16384)
def _width_px(s: str, size: float, weight: str, family: tuple[str, ...], dpi: float) -> float:
    renderer = _renderer(dpi)
    prop = FontProperties(family=list(family), size=size, weight=weight)
    width, _, _ = renderer.get_text_width_height_descent(s, prop, ismath=False)
    return float(width)


@functools.cache
def _renderer(dpi: float) -> RendererAgg:
    # the renderer the figures are saved with: a text measured here is not laid out again
    return FastRenderer(1, 1, dpi)


@dataclass(frozen=True)
class Measure:
    """Text widths in inches, measured as the Agg renderer draws them at ``dpi``.

    Hinting makes text a few percent wider or narrower at one resolution than at another, so
    a figure measured at one dpi and drawn at another can overflow; every figure here is laid
    out with the same ``dpi`` and ``family`` it is drawn with.

    Examples
    --------
    >>> m = Measure(("DejaVu Sans",), 150.0)
    >>> 0.0 < m.width("Study") < m.width("Study", weight="bold") < 0.5
    True
    """

    family: tuple[str, ...]
    dpi: float = DPI

    def width(self, s: str, size: float = FS, weight: str = "normal") -> float:
        """Width of the one-line text ``s`` in inches."""
        if not s:
            return 0.0
        return _width_px(s, float(size), weight, self.family, float(self.dpi)) / self.dpi

    def widest(self, texts: Sequence[str], size: float = FS, weight: str = "normal") -> float:
        """Width of the widest of ``texts`` in inches (0 for none)."""
        return max((self.width(s, size, weight) for s in texts), default=0.0)

    def line_height(self, size: float = FS) -> float:
        """Baseline-to-baseline distance of text of ``size`` points, in inches."""
        return size * 1.45 / 72


def measure() -> Measure:
    """Return a :class:`Measure` for the next figure: the current fonts, :data:`DPI`."""
    return Measure(font_family(), DPI)


# ----------------------------------------------------------------------------- text
def truncate(s: object, n: int = MAX_LABEL) -> str:
    """One line of at most ``n`` characters, ending in an ellipsis when cut."""
    text = " ".join(str(s).split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def fmt(x: float, digits: int = 2) -> str:
    """Return a number with a typographic minus sign; blank for NaN.

    Examples
    --------
    >>> fmt(-0.254), fmt(-0.001), fmt(float("nan"))
    ('−0.25', '0.00', '')
    """
    if not np.isfinite(x):
        return ""
    s = f"{x:.{digits}f}"
    if s.startswith("-") and float(s) == 0.0:
        s = s[1:]  # no "-0.00"
    return s.replace("-", "\u2212")


def interval_parts(est: float, lo: float, hi: float, digits: int = 2) -> tuple[str, str, str]:
    """Return the three right-aligned pieces of an interval label, e.g. ``"[0.02,"``.

    Every forest-type figure prints its intervals as these three columns, so the decimal points
    of a column line up whatever the signs and widths.

    Examples
    --------
    >>> interval_parts(0.3, -0.02, 0.58)
    ('0.30', '[−0.02,', '0.58]')
    >>> interval_parts(float("nan"), 0.1, 0.2)
    ('', '[0.10,', '0.20]')
    """
    a, b, c = fmt(est, digits), fmt(lo, digits), fmt(hi, digits)
    if not (b or c):
        return a, "", ""
    return a, f"[{b},", f"{c}]"


def revman_p(p: float) -> str:
    """Format a p-value as RevMan 5 prints it: ``P = 0.03``, ``P = 0.007``, ``P < 0.00001``.

    Examples
    --------
    >>> revman_p(0.5349), revman_p(0.0071), revman_p(3e-7)
    ('P = 0.53', 'P = 0.007', 'P < 0.00001')
    """
    if not np.isfinite(p):
        return "P = NA"
    if p < 1e-5:
        return "P < 0.00001"
    if p >= 0.01:
        return f"P = {p:.2f}"
    decimals = -math.floor(math.log10(p))  # one significant digit: 0.007, 0.0004
    return f"P = {p:.{decimals}f}"


def wrap(text: str, width_in: float, m: Measure, size: float = FS_SMALL) -> list[str]:
    """Split ``text`` into lines (at newlines, then at '; ') no wider than ``width_in``."""
    out: list[str] = []
    for para in text.splitlines():
        if not para.strip():
            continue
        line = ""
        for part in para.split("; "):
            trial = f"{line}; {part}" if line else part
            if line and m.width(trial, size) > width_in:
                out.append(line + ";")
                line = part
            else:
                line = trial
        out.append(line)
    return out


def lighten(colour: str, amount: float = 0.7) -> tuple[float, float, float]:
    """``colour`` mixed with white."""
    rgb = np.asarray(mpl.colors.to_rgb(colour))
    r, g, b = (float(v) for v in rgb + (1 - rgb) * amount)
    return (r, g, b)


def tidy(ax: Axes) -> None:
    """No top or right spines, no grid."""
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(False)


# ----------------------------------------------------------------------------- validation
def as_frame(obj: object, name: str) -> pd.DataFrame:
    """``obj`` (a DataFrame or a dict of columns) as a DataFrame with a fresh index."""
    if isinstance(obj, pd.DataFrame):
        return obj.reset_index(drop=True)
    if isinstance(obj, Mapping):
        try:
            return pd.DataFrame(obj)
        except ValueError as err:
            raise DataError(f"{name}: cannot build a table ({err})") from err
    raise DataError(f"{name} must be a pandas DataFrame, got {type(obj).__name__}")


def require(df: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise :class:`DataError` naming the first of ``columns`` missing from ``df``."""
    for col in columns:
        if col not in df.columns:
            have = ", ".join(map(str, df.columns)) or "none"
            raise DataError(
                f"{name} is missing column {col!r} (columns present: {have})", column=col
            )


def numeric(
    df: pd.DataFrame, col: str, name: str, *, allow_nan: bool = False
) -> NDArray[np.float64]:
    """Column ``col`` as floats; non-numbers (and, unless allowed, blanks) name their rows."""
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


def array(x: ArrayLike, name: str, ndim: int = 1) -> NDArray[np.float64]:
    """``x`` as a finite, non-empty float array of ``ndim`` dimensions."""
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


def check_choice(value: str, allowed: Sequence[str], name: str) -> None:
    """Raise :class:`ModelSpecError` unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ModelSpecError(f"{name} must be one of {list(allowed)}, got {value!r}")


def check_order(lo: NDArray[np.float64], hi: NDArray[np.float64], name: str, col: str) -> None:
    """Raise :class:`DataError` naming the rows where a lower bound exceeds its upper bound."""
    bad = np.flatnonzero(lo > hi)
    if bad.size:
        raise DataError(
            f"{name}: {col} exceeds the upper bound in rows {[int(r) + 1 for r in bad]}",
            rows=bad.tolist(),
            column=col,
        )
