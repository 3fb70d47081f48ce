r"""Figures for small-study effects and influence: contour-enhanced funnel, leave-one-out forest.

Both functions return a :class:`matplotlib.figure.Figure` built with the object-oriented API
(no pyplot state); matplotlib is imported inside them, so importing this module stays light.
Artists carry ``gid`` tags (``"study"``, ``"filled"``, ``"contour-<level>"``, ``"pooled"``, ...)
so that tests and users can find them.

See also: metafor::funnel (``level = c(90, 95, 99)``, ``refline = 0``), metafor::forest on a
``leave1out`` object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from bayesmeta.errors import ModelSpecError
from bayesmeta.frequentist import FrequentistResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from bayesmeta.bias import TrimfillResult
    from bayesmeta.influence import BayesianLeaveOneOut, InfluenceResult

__all__ = ["funnel_plot", "leave1out_plot"]

_ACCENT = "#0072B2"  # Okabe-Ito blue, the package's colour for Bayesian quantities
_FS = 8.0
_FS_SMALL = 7.0
#: Fills of the significance regions, from "p above the largest level" (white) outwards.
_SHADES = ("#FFFFFF", "#E6E6E6", "#C8C8C8", "#A6A6A6", "#8C8C8C")


def _style(fig: Any) -> None:
    for ax in fig.axes:
        ax.spines["top"].set_visible(False)
        ax.spines["right"].set_visible(False)
        ax.tick_params(labelsize=_FS_SMALL)


def _funnel_levels(
    fit: FrequentistResult, contours: Sequence[float], filled: TrimfillResult | None
) -> list[float]:
    """Check the inputs of :func:`funnel_plot`; return the contour levels, ascending."""
    if not isinstance(fit, FrequentistResult) or fit.p != 1:
        raise ModelSpecError("funnel_plot needs an intercept-only model from rma()")
    levels = sorted(float(c) for c in contours)
    if any(not (0 < c < 1) for c in levels) or len(set(levels)) != len(levels):
        raise ModelSpecError(f"contours must be distinct levels in (0, 1), got {contours!r}")
    if len(levels) > len(_SHADES) - 1:
        raise ModelSpecError(f"at most {len(_SHADES) - 1} contour levels")
    if filled is not None and filled.k != fit.k:
        raise ModelSpecError("filled must be the trimfill() result of this fit")
    return levels


def _draw_contours(
    ax: Any, levels: list[float], xlim: tuple[float, float], se_max: float
) -> list[Any]:
    """Shade the significance regions of ``levels``; return their legend handles."""
    from matplotlib.patches import Patch

    se_grid = np.array([0.0, se_max])
    # outermost region first (p below the smallest alpha), then each level inwards
    ax.axvspan(*xlim, color=_SHADES[len(levels)], lw=0, zorder=0, gid="contour-outside")
    for j, lev in enumerate(reversed(levels)):
        z = float(stats.norm.isf((1 - lev) / 2))
        shade = _SHADES[len(levels) - 1 - j]
        ax.fill_betweenx(
            se_grid, -z * se_grid, z * se_grid, color=shade, lw=0, zorder=0.5 + j,
            gid=f"contour-{lev:g}",
        )  # fmt: skip
    alphas = [1 - lev for lev in levels]  # ascending levels -> descending alphas
    handles = [Patch(facecolor=_SHADES[0], edgecolor="#808080", lw=0.5,
                     label=f"p > {alphas[0]:g}")]  # fmt: skip
    for j in range(1, len(alphas)):
        handles.append(Patch(facecolor=_SHADES[j], edgecolor="#808080", lw=0.5,
                             label=f"{alphas[j]:g} < p ≤ {alphas[j - 1]:g}"))  # fmt: skip
    handles.append(Patch(facecolor=_SHADES[len(levels)], edgecolor="#808080", lw=0.5,
                         label=f"p ≤ {alphas[-1]:g}"))  # fmt: skip
    return handles


def _draw_filled(ax: Any, filled: TrimfillResult | None, fy: Any, fse: Any, se_max: float) -> None:
    """Draw the trim-and-fill studies as open points and the adjusted estimate, if any."""
    if filled is not None and filled.k0 > 0:
        ax.scatter(
            fy, fse, s=22, facecolors="white", edgecolors="black", zorder=6, gid="filled",
            label=f"filled (trim-and-fill, {filled.estimator})",
        )  # fmt: skip
        mu_adj = float(filled.fit.beta[0])
        ax.plot([mu_adj, mu_adj], [0, se_max], color="black", lw=1.0, ls=":", zorder=5,
                gid="pooled-filled")  # fmt: skip
    elif filled is not None:
        ax.scatter([], [], gid="filled")


def funnel_plot(
    fit: FrequentistResult,
    contours: Sequence[float] = (0.90, 0.95, 0.99),
    filled: TrimfillResult | None = None,
    *,
    xlabel: str = "Effect estimate",
    title: str | None = None,
    width: float = 5.0,
    height: float = 4.0,
) -> Figure:
    r"""Contour-enhanced funnel plot (Peters et al. 2008).

    Each study is a point at (:math:`y_i`, :math:`\sqrt{v_i}`), with the standard error on an
    inverted vertical axis (precise studies at the top). Shaded regions mark where a study's
    own two-sided test of no effect has :math:`p` between the levels in ``contours``: the
    region for level :math:`L` is :math:`|y| < z_{(1+L)/2}\,SE`, centred on 0. The vertical
    line is the pooled estimate :math:`\hat\mu` of ``fit`` and the dashed lines the
    pseudo-confidence region :math:`\hat\mu \pm z_{0.975}\,SE`. Studies imputed by
    :func:`~bayesmeta.bias.trimfill` (``filled``) are drawn as open points, with the adjusted
    estimate as a dotted line.

    Asymmetry can come from small-study effects other than publication bias (see the guide
    page "Small-study effects and influence"); the contours help tell whether missing studies
    would lie in regions of non-significance.

    Parameters
    ----------
    fit
        An intercept-only model from :func:`~bayesmeta.frequentist.rma`.
    contours
        Confidence levels of the significance contours, each in (0, 1).
    filled
        The result of :func:`~bayesmeta.bias.trimfill` on ``fit``, to show the filled studies.
    xlabel, title
        Axis label and optional title.
    width, height
        Figure size in inches.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Peters JL, Sutton AJ, Jones DR, Abrams KR, Rushton L (2008). Contour-enhanced
    meta-analysis funnel plots help distinguish publication bias from other causes of
    asymmetry. J Clin Epidemiol 61:991-996.

    See also: metafor::funnel.

    Examples
    --------
    >>> from bayesmeta import datasets, escalc, rma
    >>> from bayesmeta.bias import trimfill
    >>> bcg = datasets.load_bcg()
    >>> es = escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> fit = rma(es.yi, es.vi, method="DL")
    >>> fig = funnel_plot(fit, filled=trimfill(fit), xlabel="log risk ratio")
    >>> ax = fig.axes[0]
    >>> len([c for c in ax.collections if c.get_gid() == "filled"][0].get_offsets())
    1
    """
    from matplotlib.figure import Figure

    levels = _funnel_levels(fit, contours, filled)
    yi, sei = fit.yi, np.sqrt(fit.vi)
    fy = filled.filled_yi if filled is not None else np.empty(0)
    fse = np.sqrt(filled.filled_vi) if filled is not None else np.empty(0)
    se_max = 1.08 * float(np.max(np.r_[sei, fse]))
    mu = float(fit.beta[0])
    zmax = float(stats.norm.isf((1 - levels[-1]) / 2))
    crit = float(stats.norm.isf(0.025))
    xr = np.r_[yi, fy, -zmax * se_max, zmax * se_max, mu - crit * se_max, mu + crit * se_max]
    pad = 0.04 * float(xr.max() - xr.min())
    xlim = (float(xr.min()) - pad, float(xr.max()) + pad)

    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    handles = _draw_contours(ax, levels, xlim, se_max)
    ax.plot([mu, mu], [0, se_max], color="black", lw=1.0, zorder=5, gid="pooled")
    for sgn in (-1, 1):
        ax.plot(
            [mu, mu + sgn * crit * se_max], [0, se_max], color="black", lw=0.8, ls="--",
            zorder=5, gid="pseudo-ci",
        )  # fmt: skip
    ax.scatter(yi, sei, s=22, color="black", zorder=6, gid="study", label="studies")
    _draw_filled(ax, filled, fy, fse, se_max)
    ax.set_xlim(*xlim)
    ax.set_ylim(se_max, 0)
    ax.set_xlabel(xlabel, fontsize=_FS)
    ax.set_ylabel("Standard error", fontsize=_FS)
    if title:
        ax.set_title(title, fontsize=9.0, fontweight="bold")
    leg = fig.legend(
        handles=handles + ax.get_legend_handles_labels()[0], loc="outside right upper",
        fontsize=_FS_SMALL, frameon=False,
    )  # fmt: skip
    leg.set_gid("legend")
    _style(fig)
    return fig


def _fmt(x: float) -> str:
    return "NA" if not np.isfinite(x) else f"{x:.2f}".replace("-", "\u2212")


def leave1out_plot(
    result: InfluenceResult,
    bayes: BayesianLeaveOneOut | None = None,
    *,
    xlabel: str = "Estimate",
    title: str | None = None,
    width: float = 7.0,
) -> Figure:
    r"""Forest-style plot of a leave-one-out (or cumulative) analysis.

    One row per re-fit: the estimate and its confidence interval, labelled "Omitting <study>"
    (``kind="leave1out"``) or "+ <study>" (``kind="cumul"``), with the numbers on the right
    and the estimate from all studies as a vertical reference line. With ``bayes``
    (:func:`~bayesmeta.influence.bayesian_leave1out` on the same studies) each row also shows
    the posterior median of :math:`\mu` and its credible interval, in the accent colour.

    Parameters
    ----------
    result
        From :func:`~bayesmeta.influence.leave1out` or :func:`~bayesmeta.influence.cumul`.
    bayes
        Optional Bayesian leave-one-out of the same studies (leave-one-out only).
    xlabel, title
        Axis label and optional title.
    width
        Figure width in inches (the height grows with the number of rows).

    Returns
    -------
    matplotlib.figure.Figure

    See also: metafor::forest applied to metafor::leave1out.

    Examples
    --------
    >>> from bayesmeta import rma
    >>> from bayesmeta.influence import leave1out
    >>> fit = rma([0.1, 0.3, 0.35, 0.6], [0.04, 0.02, 0.05, 0.03], method="DL")
    >>> fig = leave1out_plot(leave1out(fit))
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()][0]
    'Omitting 1'
    """
    from matplotlib.figure import Figure

    if bayes is not None:
        if result.kind != "leave1out":
            raise ModelSpecError("bayes goes with a leave1out() result, not cumul()")
        if tuple(bayes.labels) != tuple(result.labels):
            raise ModelSpecError("bayes must be the Bayesian leave-one-out of the same studies")
    n = len(result.labels)
    prefix = "Omitting " if result.kind == "leave1out" else "+ "
    names = [prefix + (s if len(s) <= 40 else s[:39] + "…") for s in result.labels]
    row_h = 0.26 if bayes is None else 0.36
    height = 1.1 + row_h * n
    fig = Figure(figsize=(width, height), layout="constrained")
    gs = fig.add_gridspec(1, 2, width_ratios=[3.0, 1.5 if bayes is None else 2.6], wspace=0.01)
    ax = fig.add_subplot(gs[0])
    tx = fig.add_subplot(gs[1], sharey=ax)
    y = np.arange(n)[::-1].astype(float)
    off = 0.0 if bayes is None else 0.17
    ax.hlines(y + off, result.ci_lb, result.ci_ub, color="black", lw=1.0, gid="ci")
    ax.scatter(result.estimate, y + off, marker="s", s=18, color="black", zorder=3,
               gid="estimate", label=f"{result.method} ({result.test})")  # fmt: skip
    full = result.full
    ax.axvline(float(full.beta[0]), color="black", lw=0.8, ls="--", gid="full-estimate")
    ax.axvline(0.0, color="#808080", lw=0.6, gid="null-line")
    if bayes is not None:
        ax.hlines(y - off, bayes.lower, bayes.upper, color=_ACCENT, lw=1.0, gid="bayes-ci")
        ax.scatter(bayes.median, y - off, marker="o", s=16, color=_ACCENT, zorder=3,
                   gid="bayes-estimate", label="Bayesian (posterior median)")  # fmt: skip
        ax.axvline(bayes.full["median"], color=_ACCENT, lw=0.8, ls=":", gid="bayes-full")
    ax.set_yticks(y, names, fontsize=_FS_SMALL)
    ax.set_ylim(-0.8, n - 0.2)
    ax.set_xlabel(xlabel, fontsize=_FS)
    if title:
        ax.set_title(title, fontsize=9.0, fontweight="bold", loc="left")
    leg = fig.legend(
        *ax.get_legend_handles_labels(), loc="outside lower center", fontsize=_FS_SMALL,
        frameon=False, ncols=2,
    )  # fmt: skip
    leg.set_gid("legend")

    tx.set_axis_off()
    tx.set_xlim(0, 1)
    ci_pct = f"{100 * result.level:g}%"
    tx.text(0.02, n - 0.35, f"Estimate [{ci_pct} CI]", fontsize=_FS_SMALL, fontweight="bold",
            va="bottom", gid="header")  # fmt: skip
    for yy, e, lb, ub in zip(y, result.estimate, result.ci_lb, result.ci_ub, strict=True):
        tx.text(0.02, yy + off, f"{_fmt(e)} [{_fmt(lb)}, {_fmt(ub)}]", fontsize=_FS_SMALL,
                va="center", gid="numbers")  # fmt: skip
    if bayes is not None:
        tx.text(0.55, n - 0.35, f"Posterior [{100 * bayes.ci_prob:g}% CrI]", fontsize=_FS_SMALL,
                fontweight="bold", va="bottom", color=_ACCENT, gid="header")  # fmt: skip
        for yy, m, lb, ub in zip(y, bayes.median, bayes.lower, bayes.upper, strict=True):
            text = f"{_fmt(m)} [{_fmt(lb)}, {_fmt(ub)}]"
            tx.text(0.55, yy - off, text, fontsize=_FS_SMALL, va="center", color=_ACCENT,
                    gid="bayes-numbers")  # fmt: skip
    _style(fig)
    return fig
