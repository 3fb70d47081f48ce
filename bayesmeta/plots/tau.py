"""Densities of the between-study SD ``tau``: prior and posterior, one panel per scale."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from bayesmeta.errors import DataError
from bayesmeta.plots import _glyphs as G
from bayesmeta.plots._layout import (
    ACCENT,
    FS,
    FS_TITLE,
    GREY,
    SERIES,
    WIDTH,
    measure,
    style,
    tidy,
    truncate,
)

__all__ = ["tau_density_plot"]

Arr = NDArray[np.float64]
Prior = Callable[[Arr], ArrayLike] | ArrayLike


def _reflected_kde(draws: Arr, grid: Arr) -> Arr:
    """Gaussian KDE of a non-negative quantity, reflected at 0 so no mass leaks below it."""
    kde = stats.gaussian_kde(draws)
    dens: Arr = kde(grid) + kde(-grid)
    return dens


def _tau_draws(name: object, d: ArrayLike, what: str) -> Arr:
    arr = np.asarray(d, dtype=float).ravel()
    if arr.size < 2 or not np.all(np.isfinite(arr)):
        raise DataError(f"{what}[{name!r}] needs at least two finite values", column=str(name))
    if np.any(arr < 0):
        raise DataError(f"{what}[{name!r}] has negative values; tau must be >= 0", column=str(name))
    if np.ptp(arr) == 0:
        raise DataError(f"{what}[{name!r}] are constant; no density to estimate", column=str(name))
    return arr


def _tau_inputs(
    draws: Mapping[str, ArrayLike],
    prior: Mapping[str, Prior] | None,
    scales: Mapping[str, str] | None,
) -> tuple[dict[str, Arr], dict[str, Prior], dict[str, list[str]]]:
    """Check draws and priors; group the series by scale (in order of first appearance)."""
    if not isinstance(draws, Mapping) or not draws:
        raise DataError("draws must be a non-empty dict of name -> tau draws", column="draws")
    series = {str(n): _tau_draws(n, d, "draws") for n, d in draws.items()}
    priors = {str(n): p for n, p in (prior or {}).items()}
    for name in priors:
        if name not in series:
            raise DataError(f"prior[{name!r}] has no matching draws", column=name)
    groups: dict[str, list[str]] = {}
    for name in series:
        scale = "" if scales is None else str(scales.get(name, ""))
        if scales is not None and not scale:
            raise DataError(f"scales has no entry for {name!r}", column=name)
        groups.setdefault(scale, []).append(name)
    return series, priors, groups


def _prior_density(p: Prior, grid: Arr, name: str) -> Arr:
    """Return a prior's density on ``grid``: a vectorised function, or draws (reflected KDE)."""
    if callable(p):
        with np.errstate(all="ignore"):
            return np.asarray(p(grid), dtype=float)
    return _reflected_kde(_tau_draws(name, p, "prior"), grid)


def _panel(
    ax: Axes,
    names: list[str],
    series: dict[str, Arr],
    priors: dict[str, Prior],
    colours: list[str],
) -> None:
    """Posterior (solid) and prior (dashed, same colour) densities of ``names`` in one panel."""
    upper = max(float(np.quantile(series[n], 0.995)) for n in names) * 1.15
    grid = np.linspace(0.0, upper, 400)
    for name, colour in zip(names, colours, strict=True):
        ax.plot(
            grid, _reflected_kde(series[name], grid), color=colour, lw=1.5,
            label=truncate(name), gid="posterior",
        )  # fmt: skip
        if name in priors:
            ax.plot(
                grid, _prior_density(priors[name], grid, name), color=colour, lw=1.0, ls="--",
                gid="prior",
            )  # fmt: skip
    ax.set_xlim(0.0, upper)
    ax.set_ylim(bottom=0.0)
    tidy(ax)


def _axis_label(xlabel: str, scale: str) -> str:
    return f"{xlabel}, {scale} scale" if scale else xlabel


def _panels(
    fig: Figure,
    series: dict[str, Arr],
    priors: dict[str, Prior],
    groups: dict[str, list[str]],
    xlabel: str,
) -> None:
    """One overlaid panel per scale (up to four series), else one small panel per series."""
    if all(len(v) <= 4 for v in groups.values()) and len(groups) <= 3:
        axes = fig.subplots(1, len(groups), squeeze=False).ravel()
        for ax, (scale, names) in zip(axes, groups.items(), strict=True):
            _panel(ax, names, series, priors, list(SERIES[: len(names)]))
            ax.set_xlabel(_axis_label(xlabel, scale))
            handles, _ = ax.get_legend_handles_labels()
            if any(n in priors for n in names):
                handles.append(Line2D([], [], color=GREY, lw=1.0, ls="--", label="Prior"))
            ax.legend(handles=handles, loc="upper right")
        axes[0].set_ylabel("Density")
        return
    flat = [(scale, n) for scale, names in groups.items() for n in names]
    ncols = 3
    nrows = math.ceil(len(flat) / ncols)
    grid_axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for extra in grid_axes[len(flat) :]:
        extra.remove()
    for j, (ax, (scale, name)) in enumerate(zip(grid_axes, flat, strict=False)):
        _panel(ax, [name], series, priors, [ACCENT])
        ax.set_title(truncate(name), loc="left", fontsize=FS, fontweight="bold")
        if j >= len(flat) - ncols or len(groups) > 1:
            ax.set_xlabel(_axis_label(xlabel, scale))
        if j % ncols == 0:
            ax.set_ylabel("Density")
    handles = [Line2D([], [], color=ACCENT, lw=1.5, label="Posterior")]
    if priors:
        handles.append(Line2D([], [], color=ACCENT, lw=1.0, ls="--", label="Prior"))
    fig.legend(handles=handles, loc="outside upper right", ncols=2)


def tau_density_plot(
    draws: Mapping[str, ArrayLike],
    *,
    prior: Mapping[str, Prior] | None = None,
    scales: Mapping[str, str] | None = None,
    title: str | None = None,
    xlabel: str = "τ (between-study SD)",
    watermark: str | None = None,
) -> Figure:
    r"""Prior and posterior densities of the between-study SD ``tau``, per outcome.

    Densities are Gaussian kernel estimates (:class:`scipy.stats.gaussian_kde`) with boundary
    reflection at 0, :math:`\hat f(t) = \hat g(t) + \hat g(-t)` for :math:`t \ge 0`, so
    the density does not dip artificially at the boundary. Outcomes on the same scale are
    overlaid in one panel (up to four), one panel per scale with the scale named on its axis,
    so a tau on the SMD scale never shares an axis with a tau on the log-OR scale. More series
    are drawn as a grid of small multiples, each axis naming its scale. Each prior is dashed
    in the colour of its posterior.

    Parameters
    ----------
    draws
        Name -> posterior draws of ``tau`` (any shape; flattened). Must be >= 0.
    prior
        Optional name -> prior of ``tau``: a vectorised density function (e.g. a prior's
        ``pdf``) or prior draws; names must be keys of ``draws``.
    scales
        Optional name -> scale of that outcome's effects (e.g. ``"SMD"``, ``"log OR"``); one
        panel per scale. Without it every series is taken to share one (unnamed) scale.
    title
        Optional figure title.
    xlabel
        Label of the tau axis (the scale is appended: "τ (between-study SD), SMD scale").
    watermark
        Optional mark across the figure, e.g. ``"SIMULATED DATA"``.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        Empty input, negative or non-finite draws, constant draws, a prior without draws, or
        an outcome without a scale.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import stats
    >>> rng = np.random.default_rng(0)
    >>> draws = {"Depression": np.abs(rng.normal(0, 0.2, 2000)),
    ...          "Hospitalised": np.abs(rng.normal(0, 0.4, 2000))}
    >>> prior = {"Depression": stats.halfnorm(scale=0.5).pdf,
    ...          "Hospitalised": stats.halfnorm(scale=1.0).pdf}
    >>> fig = tau_density_plot(draws, prior=prior,
    ...                        scales={"Depression": "SMD", "Hospitalised": "log OR"})
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['τ (between-study SD), SMD scale', 'τ (between-study SD), log OR scale']
    """
    series, priors, groups = _tau_inputs(draws, prior, scales)
    n_panels = len(groups) if all(len(v) <= 4 for v in groups.values()) else len(series)
    m = measure()
    with style(m.family):
        if len(groups) <= 3 and n_panels == len(groups):
            size = (5.5 if len(groups) == 1 else WIDTH, 3.4)
        else:
            size = (WIDTH, 0.4 + 1.9 * math.ceil(len(series) / 3))
        fig = Figure(figsize=size, layout="constrained", dpi=m.dpi)
        _panels(fig, series, priors, groups, xlabel)
        if title:
            fig.suptitle(title, x=0.0, ha="left", fontsize=FS_TITLE, fontweight="bold")
        G.watermark(fig, watermark)
    return fig
