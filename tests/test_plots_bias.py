"""Structure and legibility of the small-study and influence figures (bayesmeta.plots.bias)."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

from bayesmeta import datasets, escalc, rma
from bayesmeta.bias import trimfill
from bayesmeta.errors import ModelSpecError
from bayesmeta.influence import bayesian_leave1out, cumul, leave1out
from bayesmeta.plots.bias import funnel_plot, leave1out_plot

DPI = 150  # the drawing dpi of the report's figures


@pytest.fixture(scope="module")
def bcg_fit() -> Any:
    bcg = datasets.load_bcg()
    es = escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    labels = [f"{a} {y}" for a, y in zip(bcg.author, bcg.year, strict=True)]
    return rma(es.yi, es.vi, method="DL", labels=labels), bcg


def _render(fig: Any) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig.set_dpi(DPI)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _no_overlap(fig: Any) -> None:
    r = _render(fig)
    texts = list(fig.texts)
    for leg in fig.legends:
        texts += leg.get_texts()
    for ax in fig.axes:
        texts += [*ax.texts, ax.title, ax.xaxis.label, ax.yaxis.label]
        if ax.axison:  # tick labels actually drawn: inside the view limits
            lo, hi = sorted(ax.get_xlim())
            texts += [t for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi]
            lo, hi = sorted(ax.get_ylim())
            texts += [t for t in ax.get_yticklabels() if lo <= t.get_position()[1] <= hi]
    texts = list({id(t): t for t in texts if t.get_text() and t.get_visible()}.values())
    b = np.array([t.get_window_extent(r).extents for t in texts])
    x0, y0, x1, y1 = (b[:, i] for i in range(4))
    assert np.all((x0 >= -0.5) & (x1 <= fig.bbox.x1 + 0.5)), "text clipped at the edge"
    assert np.all((y0 >= -0.5) & (y1 <= fig.bbox.y1 + 0.5)), "text clipped at the edge"
    hit = (x0[:, None] < x1[None, :] - 0.5) & (x0[None, :] < x1[:, None] - 0.5)
    hit &= (y0[:, None] < y1[None, :] - 0.5) & (y0[None, :] < y1[:, None] - 0.5)
    np.fill_diagonal(hit, False)
    assert [(texts[i].get_text(), texts[j].get_text()) for i, j in np.argwhere(hit)] == []


def _gid(ax: Any, gid: str) -> list[Any]:
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_funnel_structure_and_filled_points(bcg_fit: Any) -> None:
    fit, _ = bcg_fit
    tf = trimfill(fit)
    fig = funnel_plot(fit, filled=tf)
    ax = fig.axes[0]
    (pts,) = _gid(ax, "study")
    assert len(pts.get_offsets()) == fit.k
    (fill,) = _gid(ax, "filled")
    assert len(fill.get_offsets()) == tf.k0 == 1
    np.testing.assert_allclose(fill.get_offsets()[:, 0], tf.filled_yi)
    for lev in (0.9, 0.95, 0.99):
        assert len(_gid(ax, f"contour-{lev:g}")) == 1
    assert _gid(ax, "pooled")[0].get_xdata()[0] == pytest.approx(fit.beta[0])
    assert len(_gid(ax, "pseudo-ci")) == 2
    assert ax.get_ylim()[0] > ax.get_ylim()[1] == 0  # inverted SE axis, 0 at the top
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:4] == ["p > 0.1", "0.05 < p ≤ 0.1", "0.01 < p ≤ 0.05", "p ≤ 0.01"]
    _no_overlap(fig)


def test_funnel_without_fill_and_other_contours(bcg_fit: Any) -> None:
    fit, _ = bcg_fit
    fig = funnel_plot(fit, contours=(0.95,), title="T")
    ax = fig.axes[0]
    assert _gid(ax, "filled") == [] and len(_gid(ax, "contour-0.95")) == 1
    _no_overlap(fig)
    with pytest.raises(ModelSpecError, match="contours"):
        funnel_plot(fit, contours=(0.9, 1.5))
    with pytest.raises(ModelSpecError, match="intercept-only"):
        funnel_plot(rma(fit.yi, fit.vi, mods=np.arange(13.0)))


def test_leave1out_plot_rows_and_reference_line(bcg_fit: Any) -> None:
    fit, _ = bcg_fit
    res = leave1out(fit)
    fig = leave1out_plot(res, xlabel="log risk ratio", title="Leave one out")
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels()]
    assert ticks == [f"Omitting {s}" for s in fit.labels]
    assert len(_gid(ax, "estimate")[0].get_offsets()) == fit.k
    assert _gid(ax, "full-estimate")[0].get_xdata()[0] == pytest.approx(fit.beta[0])
    assert len([t for t in fig.axes[1].texts if t.get_gid() == "numbers"]) == fit.k
    _no_overlap(fig)


def test_leave1out_plot_with_bayesian_rows_and_cumul(bcg_fit: Any) -> None:
    fit, bcg = bcg_fit
    b = bayesian_leave1out(fit, tau_prior="half_normal(1)", mu_prior="normal(0, 2.5)")
    fig = leave1out_plot(leave1out(fit), b)
    ax = fig.axes[0]
    assert len(_gid(ax, "bayes-estimate")[0].get_offsets()) == fit.k
    _no_overlap(fig)
    fig = leave1out_plot(cumul(fit, bcg.year))
    assert fig.axes[0].get_yticklabels()[0].get_text() == "+ Aronson 1948"
    _no_overlap(fig)
    with pytest.raises(ModelSpecError, match="cumul"):
        leave1out_plot(cumul(fit), b)


@pytest.mark.parametrize("k", [3, 40])
def test_leave1out_plot_scales_with_k(k: int) -> None:
    rng = np.random.default_rng(1)
    vi = rng.uniform(0.01, 0.1, k)
    long = "A very long study name that goes on and on, a randomised trial"
    fit = rma(rng.normal(0.2, 0.2, k), vi, labels=[long] + [f"S{i}" for i in range(k - 1)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig = leave1out_plot(leave1out(fit))
    _no_overlap(fig)


def test_the_overlap_check_catches_overlaps() -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.text(0.1, 0.5, "some text")
    fig.text(0.12, 0.5, "more text")
    with pytest.raises(AssertionError):
        _no_overlap(fig)
