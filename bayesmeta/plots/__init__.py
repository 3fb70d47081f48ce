"""Publication figures: forest plots, posterior predictive check, bubble plot, tau densities.

Every function takes plain inputs (arrays, DataFrames, dicts of draws), so the figures do not
depend on the model code, and returns a :class:`matplotlib.figure.Figure` built with the
object-oriented API: no pyplot state, no display, no ``plt.show()``. Save with
:func:`save_figure`.

The look is restrained and sized for a journal page about 7 inches wide: white background, no
top or right spines, no gridlines, black for frequentist quantities and one accent colour
(:data:`ACCENT`) for Bayesian ones.

Each figure is built in named steps, sharing one implementation of each piece
(:mod:`bayesmeta.plots._layout`: style, fonts, text measured at the drawing dpi, formatting;
:mod:`bayesmeta.plots._glyphs`: interval columns, diamonds, effect axis, favours labels):

========================== =========================================================
:func:`forest_plot`        trials, shrunken estimates and summary rows (metafor-like)
:func:`subgroup_forest_plot` RevMan 5's subgroup layout with arm data, subgroup
                           diamonds, heterogeneity and overall-effect tests, the test
                           for subgroup differences, Bayesian and published rows
:func:`ppc_plot`           trial-by-trial posterior predictive check
:func:`bubble_plot`        meta-regression bubble plot
:func:`tau_density_plot`   prior and posterior of tau, one panel per scale
:func:`save_figure`        PNG/SVG/PDF at the figure's dpi
========================== =========================================================

Fonts: the first installed of Arial, Helvetica, Liberation Sans, DejaVu Sans, unless
``rcParams["font.family"]`` names an installed font; layouts are measured with the font and
at the dpi (:data:`DPI`) the figure is drawn with.
"""

from __future__ import annotations

from bayesmeta.plots._layout import ACCENT, DPI, font_family
from bayesmeta.plots.bias import funnel_plot, leave1out_plot
from bayesmeta.plots.bubble import bubble_plot
from bayesmeta.plots.forest import forest_plot
from bayesmeta.plots.ppc import ppc_plot, predictive_replicates
from bayesmeta.plots.save import save_figure
from bayesmeta.plots.subgroup_forest import subgroup_forest_plot
from bayesmeta.plots.tau import tau_density_plot

__all__ = [
    "ACCENT",
    "DPI",
    "bubble_plot",
    "font_family",
    "forest_plot",
    "funnel_plot",
    "leave1out_plot",
    "ppc_plot",
    "predictive_replicates",
    "save_figure",
    "subgroup_forest_plot",
    "tau_density_plot",
]
