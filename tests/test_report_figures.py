"""The report's figures: drawn in forked workers or in-process with the same files, a worker's
failure raised in the caller with the previous report kept, one figure format, the count said
in the report; the fast text renderer draws what the Agg renderer measures."""

from __future__ import annotations

import io

import matplotlib
import numpy as np
import pytest
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

import bayesmeta.report as rep
from bayesmeta.plan import load_plan
from bayesmeta.plots._render import FastRenderer, attach
from bayesmeta.report import write_report
from bayesmeta.review import analyse_review, read_review

matplotlib.use("Agg")

#: Largest mean absolute difference (grey levels of 255) between a text drawn as one bitmap
#: and matplotlib's glyph-by-glyph drawing: glyphs snap to whole pixels instead of 1/64 px.
TEXT_PIXEL_TOLERANCE = 3.0


@pytest.fixture(scope="module")
def small_analysis():  # type: ignore[no-untyped-def]
    """One outcome of the bundled review: every kind of figure, a few seconds to fit."""
    plan = load_plan("peer_support")
    table = read_review(plan)[0]
    return analyse_review(
        table.for_outcome("social_network_support"), plan=plan, data_label="test",
        simulated=True, draws=200, chains=2, seed=1,
    )  # fmt: skip


def _figures(out):  # type: ignore[no-untyped-def]
    return {p.name: p.read_bytes() for p in sorted((out / "figures").iterdir())}


def test_workers_write_the_same_report_as_one_process(small_analysis, tmp_path, monkeypatch):
    monkeypatch.setenv("BAYESMETA_FIGURE_WORKERS", "1")
    serial = write_report(small_analysis, tmp_path / "serial")
    monkeypatch.setenv("BAYESMETA_FIGURE_WORKERS", "2")
    lines: list[str] = []
    forked = write_report(small_analysis, tmp_path / "forked", progress=lines.append)
    a, b = _figures(serial), _figures(forked)
    assert list(a) == list(b) and a == b  # byte-identical files, whoever drew them
    assert {name.rsplit(".", 1)[1] for name in a} == {"png"}  # one format
    assert sorted(p.name for p in (forked / "posteriors").iterdir()) == sorted(
        p.name for p in (serial / "posteriors").iterdir()
    )
    # the report says how many figures it holds, and embeds each
    html = (forked / "index.html").read_text(encoding="utf-8")
    md = (forked / "report.md").read_text(encoding="utf-8")
    said = f"{len(a)} figures, each a PNG file in figures/."
    assert said in html and said in md
    assert html.count("<img ") == len(a)
    assert md == (serial / "report.md").read_text(encoding="utf-8")
    assert any(line.startswith("figures 1/1:") for line in lines)  # progress while drawing
    assert "posteriors (NetCDF) written" in lines


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize("error", [ValueError, KeyboardInterrupt])
def test_a_failing_figure_is_raised_and_keeps_the_previous_report(
    small_analysis, tmp_path, monkeypatch, workers, error
):
    target = tmp_path / "report"
    first = write_report(small_analysis, target)
    before = {p.relative_to(first): p.read_bytes() for p in first.rglob("*") if p.is_file()}

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise error("figure failed")

    monkeypatch.setattr(rep, "_forest", broken)
    monkeypatch.setenv("BAYESMETA_FIGURE_WORKERS", workers)
    with pytest.raises(error, match="figure failed"):
        write_report(small_analysis, target)
    after = {p.relative_to(target): p.read_bytes() for p in target.rglob("*") if p.is_file()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no temporary folder left


def test_figure_workers_setting(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BAYESMETA_FIGURE_WORKERS", "3")
    assert rep.figure_workers() == 3
    monkeypatch.setenv("BAYESMETA_FIGURE_WORKERS", "many")
    with pytest.raises(ValueError, match=r"BAYESMETA_FIGURE_WORKERS='many'.*whole number"):
        rep.figure_workers()


@pytest.mark.parametrize("text", ["Study 1 0.12 [−0.30, 0.50]", "τ² = 0.031; I² = 67%", "W"])
@pytest.mark.parametrize("weight", ["normal", "bold"])
def test_fast_renderer_measures_as_agg(text, weight):  # type: ignore[no-untyped-def]
    prop = FontProperties(family=["DejaVu Sans"], size=8, weight=weight)
    for dpi in (100.0, 150.0):
        assert FastRenderer(1, 1, dpi).get_text_width_height_descent(
            text, prop, False
        ) == RendererAgg(1, 1, dpi).get_text_width_height_descent(text, prop, False)


def _pixels(fig: Figure) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"), dtype=float)


def _text_figure() -> Figure:
    fig = Figure(figsize=(4, 2), dpi=150)
    fig.text(0.05, 0.8, "Heterogeneity: τ² = 0.03; I² = 67% (P = 0.03)", size=8)
    fig.text(0.5, 0.4, "SIMULATED DATA", size=20, rotation=25, ha="center", weight="bold")
    fig.text(0.95, 0.1, "Favours peer support", size=7.5, ha="right")
    return fig


def test_fast_renderer_draws_the_text_agg_draws():  # type: ignore[no-untyped-def]
    agg = _pixels(_text_figure())
    fast = _pixels(attach(_text_figure()))
    assert agg.shape == fast.shape
    ink_agg, ink_fast = agg < 128, fast < 128
    assert ink_fast.sum() == pytest.approx(ink_agg.sum(), rel=0.05)  # same glyphs
    rows = lambda ink: np.flatnonzero(ink.any(axis=1))  # noqa: E731
    cols = lambda ink: np.flatnonzero(ink.any(axis=0))  # noqa: E731
    for f in (rows, cols):  # the same place, within a pixel
        assert abs(f(ink_agg)[0] - f(ink_fast)[0]) <= 1
        assert abs(f(ink_agg)[-1] - f(ink_fast)[-1]) <= 1
    assert np.abs(agg - fast).mean() <= TEXT_PIXEL_TOLERANCE


def test_stuck_workers_are_ended_and_the_rest_drawn_here(small_analysis, tmp_path, monkeypatch):
    """A worker that never finishes (e.g. a lock held at the fork) cannot hang the report."""
    import os
    import time

    parent = os.getpid()
    forest = rep._forest

    def stuck_in_workers(*args, **kwargs):  # type: ignore[no-untyped-def]
        if os.getpid() != parent:
            time.sleep(60)
        return forest(*args, **kwargs)

    monkeypatch.setattr(rep, "_forest", stuck_in_workers)
    monkeypatch.setattr(rep, "STALL_SECONDS", 1.0)
    monkeypatch.setenv("BAYESMETA_FIGURE_WORKERS", "2")
    t0 = time.perf_counter()
    with pytest.warns(UserWarning, match="drawn in this process"):
        out = write_report(small_analysis, tmp_path / "report")
    assert time.perf_counter() - t0 < 30
    monkeypatch.setenv("BAYESMETA_FIGURE_WORKERS", "1")
    monkeypatch.setattr(rep, "_forest", forest)
    serial = write_report(small_analysis, tmp_path / "serial")
    assert _figures(out) == _figures(serial)
