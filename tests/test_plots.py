"""Tests of bayesmeta.plots: structure of the figures, layout edge cases, saving, bad input."""

from __future__ import annotations

import io
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

from bayesmeta.errors import DataError, ModelSpecError
from bayesmeta.plots import (
    ACCENT,
    bubble_plot,
    forest_plot,
    ppc_plot,
    save_figure,
    tau_density_plot,
)
from bayesmeta.plots._layout import Measure, font_family
from tests.plot_helpers import (
    BUNDLED_FONTS,
    FONTS,
    font_fixture,  # noqa: F401  (the fixture "font": layout tests run once per font)
    outside_figure,
    overlapping_pairs,
    render,
    visible_texts,
)


def _trials(k: int = 6, names: list[str] | None = None, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    yi = rng.normal(0.3, 0.3, k)
    se = rng.uniform(0.1, 0.3, k)
    w = 1 / se**2
    return pd.DataFrame(
        {
            "study": names or [f"Study {i + 1}" for i in range(k)],
            "yi": yi,
            "ci_lb": yi - 1.96 * se,
            "ci_ub": yi + 1.96 * se,
            "weight": 100 * w / w.sum(),
        }
    )


def _summaries() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "label": ["DL random effects", "Bayesian (median, 95% CrI)", "Prediction interval"],
            "estimate": [0.30, 0.28, np.nan],
            "ci_lb": [0.10, 0.02, -0.40],
            "ci_ub": [0.50, 0.55, 1.00],
            "kind": ["diamond", "bayes", "prediction"],
            "pi_lb": [-0.30, np.nan, np.nan],
            "pi_ub": [0.90, np.nan, np.nan],
        }
    )


def _shrunken(trials: pd.DataFrame) -> pd.DataFrame:
    med = 0.3 + 0.6 * (trials["yi"] - 0.3)
    return pd.DataFrame(
        {"study": trials["study"], "median": med, "lower": med - 0.2, "upper": med + 0.2}
    )


def _texts(fig: Figure, gid: str) -> list[str]:
    out = [t.get_text() for ax in fig.axes for t in ax.texts if t.get_gid() == gid]
    return out + [t.get_text() for t in fig.texts if t.get_gid() == gid]


def _render(fig: Figure) -> None:
    fig.savefig(io.BytesIO(), format="png")


def _favours(fig: Figure) -> dict[str, str]:
    """Side ('left'/'right' of the null) -> text of the favours labels."""
    ax = fig.axes[0]
    null = next(line for line in ax.lines if line.get_gid() == "null-line").get_xdata()[0]
    _render(fig)
    x_null = ax.transData.transform((null, 0))[0]
    out = {}
    for t in ax.texts:
        if t.get_gid() == "favours":
            bb = t.get_window_extent()
            side = "left" if bb.x1 <= x_null + 1e-6 else "right" if bb.x0 >= x_null - 1e-6 else "?"
            out[side] = t.get_text()
    return out


# ----------------------------------------------------------------------------- forest plot
def test_forest_one_label_per_row_and_columns() -> None:
    trials = _trials(6)
    fig = forest_plot(trials, _summaries(), shrunken=_shrunken(trials), heterogeneity="Q = 9.1")
    assert isinstance(fig, Figure)
    assert _texts(fig, "study-label") == list(trials["study"])
    assert _texts(fig, "summary-label") == list(_summaries()["label"])
    assert len(_texts(fig, "estimate")) == 6
    assert len(_texts(fig, "shrunken-estimate")) == 6
    assert len(_texts(fig, "weight")) == 6 + 1  # trials plus "100.0%" on the diamond row
    assert _texts(fig, "header") == ["Study", "SMD [95% CI]", "Weight"]
    assert _texts(fig, "heterogeneity") == ["Q = 9.1"]
    # one square per trial, one open circle per shrunken estimate, one of each summary glyph
    ax = fig.axes[0]
    gids = [a.get_gid() for a in [*ax.lines, *ax.patches]]
    assert gids.count("trial-square") == 6
    assert gids.count("shrunken-point") == 6
    assert gids.count("summary-diamond") == 1
    assert gids.count("summary-bayes") == 1
    assert gids.count("summary-prediction") == 1
    bayes = next(line for line in ax.lines if line.get_gid() == "summary-bayes")
    assert matplotlib.colors.same_color(bayes.get_color(), ACCENT)


def test_forest_numbers_use_typographic_minus() -> None:
    trials = pd.DataFrame({"study": ["A"], "yi": [-0.25], "ci_lb": [-0.5], "ci_ub": [0.004]})
    fig = forest_plot(trials)
    assert _texts(fig, "estimate") == ["\u22120.25"]
    assert _texts(fig, "estimate-ci") == ["[\u22120.50,", "0.00]"]
    assert _texts(fig, "weight") == []  # no weight column, no weight texts
    assert "Weight" not in _texts(fig, "header")


@pytest.mark.parametrize(
    ("direction", "left", "right"),
    [
        ("higher", "Favours control", "Favours peer support"),
        ("lower", "Favours peer support", "Favours control"),
    ],
)
def test_forest_favours_labels_on_correct_sides(direction: str, left: str, right: str) -> None:
    fig = forest_plot(_trials(4), direction=direction)
    assert _favours(fig) == {"left": left, "right": right}


def test_forest_null_line_at_zero_or_one() -> None:
    trials = _trials(5)
    ax = forest_plot(trials).axes[0]
    null = next(line for line in ax.lines if line.get_gid() == "null-line")
    assert null.get_xdata()[0] == 0.0
    assert ax.get_xscale() == "linear"

    fig = forest_plot(trials, _summaries(), measure="OR", exponentiate=True)
    ax = fig.axes[0]
    null = next(line for line in ax.lines if line.get_gid() == "null-line")
    assert null.get_xdata()[0] == 1.0
    assert ax.get_xscale() == "log"
    assert _texts(fig, "header")[1] == "OR [95% CI]"
    assert _texts(fig, "estimate")[0] == f"{np.exp(trials['yi'][0]):.2f}"
    assert _favours(fig) == {"left": "Favours control", "right": "Favours peer support"}


def test_forest_k1_and_k40_scale_height() -> None:
    f1 = forest_plot(_trials(1))
    f40 = forest_plot(_trials(40), _summaries())
    assert len(_texts(f1, "study-label")) == 1
    assert len(_texts(f40, "study-label")) == 40
    h1, h40 = f1.get_size_inches()[1], f40.get_size_inches()[1]
    assert h1 < 2.0 < 7.0 < h40 < 10.0  # 40 trials still fit a page
    assert f1.get_size_inches()[0] == f40.get_size_inches()[0] == 7.0


def test_forest_truncates_long_and_keeps_unicode_names(font: str) -> None:
    long = "A very long study name that goes on and on, a randomised trial of peer support"
    names = [long, "Şahin, Ünal & Ødegård (Δ-arm) 2007", "Müller 2020"]
    fig = forest_plot(_trials(3, names))
    labels = _texts(fig, "study-label")
    assert len(labels[0]) == 40 and labels[0].endswith("…")
    assert labels[1:] == names[1:]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Glyph ... missing from font(s)"
        _render(fig)


@pytest.mark.parametrize("k", [1, 12, 40])
@pytest.mark.parametrize("with_shrunken", [False, True])
def test_forest_text_does_not_overlap(k: int, with_shrunken: bool, font: str) -> None:
    long = "A very long study name that goes on and on, a randomised trial of peer support"
    trials = _trials(k, [long] + [f"Study {i}" for i in range(k - 1)])
    sh = _shrunken(trials) if with_shrunken else None
    fig = forest_plot(trials, _summaries(), shrunken=sh, heterogeneity="Q = 1", title="T")
    _render(fig)
    ax = fig.axes[0]
    texts = [t for t in [*ax.texts, *fig.texts] if t.get_text()]
    b = np.array([t.get_window_extent().extents for t in texts])  # x0, y0, x1, y1
    x0, y0, x1, y1 = (b[:, i] for i in range(4))
    # nothing clipped at the figure's edges
    assert np.all((x0 >= 0) & (x1 <= fig.bbox.x1) & (y0 >= 0) & (y1 <= fig.bbox.y1))
    # no two text boxes overlap
    hit = (x0[:, None] < x1[None, :]) & (x0[None, :] < x1[:, None])
    hit &= (y0[:, None] < y1[None, :]) & (y0[None, :] < y1[:, None])
    np.fill_diagonal(hit, False)
    pairs = [(texts[i].get_text(), texts[j].get_text()) for i, j in np.argwhere(hit)]
    assert pairs == []
    # row labels and numbers stay outside the plotting area
    plot = ax.get_window_extent()
    rows = np.array([t.get_gid() != "favours" and t in ax.texts for t in texts])
    assert np.all(((x1 <= plot.x0 + 1) | (x0 >= plot.x1 - 1))[rows])


@pytest.mark.parametrize("direction", ["higher", "lower"])
@pytest.mark.parametrize("shift", [-5.0, 5.0])
def test_forest_favours_labels_fit_with_short_names_and_null_at_an_edge(
    direction: str, shift: float, font: str
) -> None:
    trials = pd.DataFrame(
        {
            "study": ["A", "B"],
            "yi": [shift, shift + 0.5],
            "ci_lb": [shift - 0.3, shift + 0.2],
            "ci_ub": [shift + 0.3, shift + 0.8],
        }
    )
    fig = forest_plot(
        trials,
        direction=direction,
        labels=("Favours usual care", "Favours a long named intervention"),
    )
    _render(fig)
    for t in fig.axes[0].texts:
        x0, _, x1, _ = t.get_window_extent().extents
        assert 0 <= x0 and x1 <= fig.bbox.x1, t.get_text()


def test_forest_xlim_clips_with_arrows() -> None:
    trials = pd.DataFrame(
        {"study": ["A", "B"], "yi": [0.1, 2.5], "ci_lb": [-2, 2], "ci_ub": [1, 3]}
    )
    ax = forest_plot(trials, xlim=(-1, 1.5)).axes[0]
    assert ax.get_xlim() == (-1, 1.5)
    markers = [line.get_marker() for line in ax.lines]
    assert markers.count("<") == 1 and markers.count(">") == 1


def test_forest_accepts_shrinkage_frame_columns_and_reorders_by_study() -> None:
    trials = _trials(3)
    sh = _shrunken(trials).rename(columns={"lower": "ci_lb", "upper": "ci_ub"}).iloc[::-1]
    fig = forest_plot(trials, shrunken=sh)
    first = _texts(fig, "shrunken-estimate")[0]
    assert first == f"{0.3 + 0.6 * (trials['yi'][0] - 0.3):.2f}".replace("-", "\u2212")


@pytest.mark.parametrize("column", ["study", "yi", "ci_lb", "ci_ub"])
def test_forest_missing_trial_column_names_it(column: str) -> None:
    with pytest.raises(DataError, match=repr(column)) as err:
        forest_plot(_trials(3).drop(columns=column))
    assert err.value.column == column


@pytest.mark.parametrize("column", ["label", "estimate", "ci_lb", "ci_ub", "kind"])
def test_forest_missing_summary_column_names_it(column: str) -> None:
    with pytest.raises(DataError) as err:
        forest_plot(_trials(3), _summaries().drop(columns=column))
    assert err.value.column == column


def test_forest_bad_values() -> None:
    bad = _trials(3).astype({"yi": object})
    bad.loc[1, "yi"] = "n/a"
    with pytest.raises(DataError) as err:
        forest_plot(bad)
    assert err.value.column == "yi" and err.value.rows == [1]
    swapped = _trials(3)
    swapped.loc[0, ["ci_lb", "ci_ub"]] = [1.0, 0.0]
    with pytest.raises(DataError, match="ci_lb"):
        forest_plot(swapped)
    kinds = _summaries()
    kinds.loc[0, "kind"] = "square"
    with pytest.raises(DataError) as err:
        forest_plot(_trials(3), kinds)
    assert err.value.column == "kind"
    with pytest.raises(DataError) as err:
        forest_plot(_trials(3).iloc[:0])
    with pytest.raises(ModelSpecError):
        forest_plot(_trials(3), direction="up")


def test_forest_shrunken_must_match_trials() -> None:
    trials = _trials(3)
    with pytest.raises(DataError) as err:
        forest_plot(trials, shrunken=_shrunken(trials).iloc[:2])
    assert err.value.column == "study"
    other = _shrunken(trials).assign(study=["X", "Y", "Z"])
    with pytest.raises(DataError) as err:
        forest_plot(trials, shrunken=other)
    assert err.value.column == "study"
    with pytest.raises(DataError) as err:
        forest_plot(trials, shrunken=_shrunken(trials).drop(columns="median"))
    assert err.value.column == "median"


# ----------------------------------------------------------------------------- PPC
def _ppc_data(k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    y_pred = rng.normal(0.3, 0.25, size=(2000, k))
    y_obs = rng.normal(0.3, 0.1, k)
    y_obs[1] = 2.0  # far outside
    return y_obs, y_pred


def test_ppc_marks_outside_and_counts_rows() -> None:
    y_obs, y_pred = _ppc_data()
    fig = ppc_plot(y_obs, y_pred, study_labels=[f"T{i}" for i in range(8)], title="PPC")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"T{i}" for i in range(8)]
    flagged = [t.get_text() for t in ax.get_yticklabels() if t.get_color() != "black"]
    assert flagged == ["T1"]
    outside = next(line for line in ax.lines if line.get_gid() == "outside")
    assert list(outside.get_xdata()) == [2.0]
    observed = next(line for line in ax.lines if line.get_gid() == "observed")
    assert len(observed.get_xdata()) == 7
    segments = {c.get_gid(): len(c.get_segments()) for c in ax.collections}
    assert segments == {"ppc-95": 8, "ppc-50": 8}


def test_ppc_statistic_panel_reports_p_value() -> None:
    y_obs, y_pred = _ppc_data()
    fig = ppc_plot(y_obs, y_pred, study_labels=list("ABCDEFGH"), statistic="sd")
    assert len(fig.axes) == 2
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    t_obs = np.std(y_obs, ddof=1)
    p = np.mean(np.std(y_pred, axis=1, ddof=1) >= t_obs)
    assert legend[1].startswith("Observed (p ")
    assert p < 0.001 and legend[1] == "Observed (p < 0.001)"
    fig = ppc_plot(y_obs, y_pred, study_labels=list("ABCDEFGH"), statistic=lambda a: a.mean(-1))
    assert len(fig.axes) == 2


def test_ppc_k1_k40_and_shapes() -> None:
    rng = np.random.default_rng(0)
    assert len(ppc_plot([0.1], rng.normal(size=(100, 1)), study_labels=["Only"]).axes) == 1
    f40 = ppc_plot(rng.normal(size=40), rng.normal(size=(2, 50, 40)), study_labels=range(40))
    assert len(f40.axes[0].get_yticklabels()) == 40
    with pytest.raises(DataError) as err:
        ppc_plot([0.1, 0.2], rng.normal(size=(100, 3)), study_labels=["a", "b"])
    assert err.value.column == "y_pred"
    with pytest.raises(DataError) as err:
        ppc_plot([0.1, 0.2], rng.normal(size=(100, 2)), study_labels=["a"])
    assert err.value.column == "study_labels"
    with pytest.raises(DataError, match="not defined"):
        ppc_plot([0.1], rng.normal(size=(100, 1)), study_labels=["a"], statistic="sd")


# ----------------------------------------------------------------------------- bubble plot
def test_bubble_continuous_with_line_and_band() -> None:
    x = np.array([1.0, 2.0, 3.0, 5.0, 8.0])
    vi = np.array([0.01, 0.02, 0.04, 0.02, 0.01])
    grid = np.linspace(1, 8, 30)
    fig = bubble_plot(
        x,
        0.1 * x,
        vi,
        fit_line=(grid, 0.1 * grid),
        band=(grid, 0.1 * grid - 0.1, 0.1 * grid + 0.1),
        xlabel="Dose",
        ylabel="SMD",
        labels=list("ABCDE"),
        title="T",
    )
    ax = fig.axes[0]
    gids = [c.get_gid() for c in ax.collections]
    assert gids == ["band", "bubbles"]
    sizes = ax.collections[1].get_sizes()
    assert len(sizes) == 5 and sizes.max() > sizes.min()  # sized by inverse variance
    assert [line.get_gid() for line in ax.lines].count("fit-line") == 1
    assert len(ax.texts) == 5
    assert ax.get_xlabel() == "Dose" and ax.get_ylabel() == "SMD"


def test_bubble_binary_uses_categories() -> None:
    x = np.array([0, 0, 1, 1, 1])
    fig = bubble_plot(x, [0.1, 0.2, 0.5, 0.4, 0.6], [0.02] * 5, xlabel="Intensity", ylabel="SMD")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["lower", "higher"]
    ests = [line for line in ax.lines if line.get_gid() == "category-estimate"]
    assert len(ests) == 2
    assert ests[0].get_ydata()[0] == pytest.approx(0.15)
    offsets = ax.collections[0].get_offsets()[:, 0]
    assert np.all(np.abs(offsets - np.round(offsets)) < 0.2)  # jittered around 0 and 1


def test_bubble_bad_input() -> None:
    with pytest.raises(DataError) as err:
        bubble_plot([1, 2, 3], [0.1, 0.2], [0.1, 0.1, 0.1], xlabel="x", ylabel="y")
    assert err.value.column == "yi"
    with pytest.raises(DataError) as err:
        bubble_plot([1, 2], [0.1, 0.2], [0.1, 0.0], xlabel="x", ylabel="y")
    assert err.value.column == "vi"
    with pytest.raises(DataError) as err:
        bubble_plot([1, 2], [0.1, 0.2], [0.1, 0.1], xlabel="x", ylabel="y", labels=["a"])
    assert err.value.column == "labels"


# ----------------------------------------------------------------------------- tau densities
def test_tau_density_overlaid_with_priors() -> None:
    rng = np.random.default_rng(1)
    draws = {name: np.abs(rng.normal(0, s, 3000)) for name, s in [("A", 0.1), ("B", 0.3)]}
    prior = {"A": stats.halfnorm(scale=0.5).pdf}
    fig = tau_density_plot(draws, prior=prior, title="tau")
    assert len(fig.axes) == 1
    gids = [line.get_gid() for line in fig.axes[0].lines]
    assert gids == ["posterior", "prior", "posterior"]
    post = fig.axes[0].lines[0]
    x, y = post.get_xdata(), post.get_ydata()
    assert x[0] == 0.0 and np.all(y >= 0)
    # reflection at 0: the density of |N(0, 0.1)| is highest at the boundary, and integrates to 1
    assert y[0] == pytest.approx(y.max(), rel=0.15)
    assert np.trapezoid(y, x) == pytest.approx(1.0, abs=0.02)


def test_tau_density_grid_for_many() -> None:
    rng = np.random.default_rng(2)
    draws = {f"Outcome {i}": np.abs(rng.normal(0, 0.2, 500)) for i in range(5)}
    fig = tau_density_plot(draws, prior={"Outcome 0": stats.halfnorm(scale=0.5).pdf})
    assert len(fig.axes) == 5
    assert [ax.get_title(loc="left") for ax in fig.axes] == list(draws)


def test_tau_density_bad_input() -> None:
    with pytest.raises(DataError):
        tau_density_plot({})
    with pytest.raises(DataError) as err:
        tau_density_plot({"A": np.array([-0.1, 0.2, 0.3])})
    assert err.value.column == "A"
    with pytest.raises(DataError, match="constant"):
        tau_density_plot({"A": np.ones(10)})
    with pytest.raises(DataError) as err:
        tau_density_plot({"A": np.array([0.1, 0.2])}, prior={"B": stats.halfnorm().pdf})
    assert err.value.column == "B"


# ----------------------------------------------------------------------------- saving
def test_save_figure_writes_png_and_svg(tmp_path) -> None:  # type: ignore[no-untyped-def]
    fig = forest_plot(_trials(3), _summaries())
    paths = save_figure(fig, tmp_path / "sub" / "forest.v1")
    assert [p.name for p in paths] == ["forest.v1.png", "forest.v1.svg"]
    for p in paths:
        assert p.exists() and p.stat().st_size > 1000
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in paths[1].read_text(encoding="utf-8")
    with pytest.raises(ModelSpecError, match="unknown figure format"):
        save_figure(fig, tmp_path / "x", formats=("docx",))


def test_figures_ignore_the_users_rc_params() -> None:
    with matplotlib.rc_context({"font.size": 20, "font.family": "serif", "axes.spines.top": True}):
        fig = forest_plot(_trials(3), _summaries())
        bubble = bubble_plot([1, 2, 3], [0.1, 0.2, 0.3], [0.1, 0.1, 0.1], xlabel="x", ylabel="y")
    with matplotlib.rc_context({"font.family": "serif"}):  # drawn under other settings
        _render(fig)
        label = next(t for t in fig.axes[0].texts if t.get_gid() == "study-label")
        assert label.get_fontsize() == 8.0
        assert "serif" not in label.get_fontfamily()
        tick = fig.axes[0].get_xticklabels()[0]
        assert tick.get_fontsize() == 7.0 and "serif" not in tick.get_fontfamily()
    assert not bubble.axes[0].spines["top"].get_visible()


def test_forest_wraps_long_heterogeneity_and_labels_the_interval(font: str) -> None:
    het = "; ".join(["Heterogeneity: tau² = 0.05", "I² = 67%", "Q = 9.1, df = 3 (p = 0.03)"] * 4)
    fig = forest_plot(_trials(3), ci_prob=0.9, heterogeneity=het)
    lines = _texts(fig, "heterogeneity")
    assert len(lines) >= 2
    assert " ".join(lines).replace(";", "") == het.replace(";", "")
    _render(fig)
    for t in fig.texts:
        assert t.get_window_extent().x1 <= fig.bbox.x1
    assert _texts(fig, "header")[1] == "SMD [90% CI]"


# ----------------------------------------------------------------------------- fonts and dpi
def test_layout_tests_run_under_both_bundled_fonts() -> None:
    # the bundled fonts always run; an installed Liberation Sans runs as well, never skipped
    assert FONTS[: len(BUNDLED_FONTS)] == list(BUNDLED_FONTS)


def test_figures_use_the_font_named_in_rc_params(font: str) -> None:
    fig = forest_plot(_trials(3), _summaries())
    label = next(t for t in fig.axes[0].texts if t.get_gid() == "study-label")
    assert label.get_fontfamily()[0] == font == font_family()[0]


@pytest.mark.parametrize("dpi", [72.0, 100.0, 150.0, 300.0])
def test_text_is_measured_as_drawn_at_the_figure_dpi(font: str, dpi: float) -> None:
    s = "Heterogeneity: tau² = 0.05; I² = 67%; Q = 9.1, df = 3 (p = 0.03)"
    fig = Figure(figsize=(7, 1), dpi=dpi)
    t = fig.text(0, 0.5, s, fontsize=7.0, family=list(font_family()))
    _render(fig)
    measured = Measure(font_family(), dpi).width(s, 7.0)
    assert measured * dpi == pytest.approx(t.get_window_extent().width, abs=1e-6)


def test_forest_wide_font_keeps_columns_apart(font: str) -> None:
    long = "A very long study name that goes on and on, a randomised trial of peer support"
    trials = _trials(8, [long] + [f"Study {i}" for i in range(7)])
    fig = forest_plot(trials, _summaries(), shrunken=_shrunken(trials), heterogeneity="Q = 1")
    assert overlapping_pairs(fig) == []
    assert outside_figure(fig) == []


# ----------------------------------------------------------------------------- figures = tables
def test_ppc_uses_the_tables_replicates_and_p_value() -> None:
    from bayesmeta import EffectTable, RandomEffects
    from bayesmeta.checks import posterior_predictive_pvalues, ppc_summary
    from bayesmeta.plots import predictive_replicates
    from bayesmeta.plots.ppc import format_p

    tab = EffectTable(
        pd.DataFrame(
            {
                "study": list("abcdef"),
                "yi": [0.1, 0.3, 0.2, 0.5, 1.4, -0.1],
                "vi": [0.01, 0.02, 0.015, 0.03, 0.02, 0.01],
            }
        ),
        measure="SMD",
    )
    res = RandomEffects(tab).fit(400, engine="exact", random_seed=1)
    table = posterior_predictive_pvalues(res, random_seed=7)
    p_sd = float(ppc_summary(res, random_seed=7)["p_sd"].iloc[0])
    y_obs, rep = predictive_replicates(res, random_seed=7)
    fig = ppc_plot(y_obs, rep, study_labels=list("abcdef"), statistic="sd", p_value=p_sd)
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert legend[1] == f"Observed ({format_p(p_sd)})"
    # the 95% intervals drawn are the table's
    seg = next(c for c in fig.axes[0].collections if c.get_gid() == "ppc-95").get_segments()
    np.testing.assert_allclose([s[0][0] for s in seg], table["pred_lb"])
    np.testing.assert_allclose([s[1][0] for s in seg], table["pred_ub"])
    outside = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_color() != "black"]
    assert outside == list(table.loc[table["outside_95"], "study"])
    with pytest.raises(DataError, match="disagrees"):  # other replicates: refused, not drawn
        _, other = predictive_replicates(res, predictive="posterior", random_seed=7)
        ppc_plot(y_obs, other, study_labels=list("abcdef"), statistic="sd", p_value=p_sd)
    note = fig.legends[0].get_title().get_text()
    assert "new effect for each trial (mixed predictive)" in note


def test_ppc_note_and_legend_do_not_overlap_the_axes(font: str) -> None:
    """The note on the replicates is the legend's title: one box below the x-axis label."""
    rng = np.random.default_rng(2)
    y_pred = rng.normal(0.3, 0.2, size=(800, 4))
    fig = ppc_plot([0.2, 0.1, 0.4, 0.0], y_pred, study_labels=list("abcd"), statistic="sd")
    render(fig)
    legend = fig.legends[0].get_window_extent()
    hits = [t.get_text() for t in visible_texts(fig) if t.get_window_extent().overlaps(legend)]
    assert hits == [], font


def _legend_texts(ax) -> list[str]:  # type: ignore[no-untyped-def]
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_bubble_legend_lists_only_what_is_drawn() -> None:
    x = np.array([0, 0, 1, 1, 1])
    grid = np.array([0.0, 1.0])
    fig = bubble_plot(
        x, [0.1, 0.2, 0.5, 0.4, 0.6], [0.02] * 5, fit_line=(grid, [0.15, 0.5]),
        band=(grid, [0.0, 0.3], [0.3, 0.7]), xlabel="Support", ylabel="SMD",
    )  # fmt: skip
    ax = fig.axes[0]
    assert [c.get_gid() for c in ax.collections] == ["bubbles"]  # no band polygon for 0/1
    assert not any("band" in s for s in _legend_texts(ax))
    assert [line.get_gid() for line in ax.lines].count("category-band") == 2
    # continuous: the band is drawn and listed
    fig = bubble_plot(
        [1.0, 2, 3], [0.1, 0.2, 0.3], [0.01] * 3, fit_line=([1, 3], [0.1, 0.3]),
        band=([1, 3], [0, 0.2], [0.2, 0.4]), xlabel="x", ylabel="SMD",
    )  # fmt: skip
    assert "95% credible band" in _legend_texts(fig.axes[0])
    assert "band" in [c.get_gid() for c in fig.axes[0].collections]
    # no band given: none listed
    fig = bubble_plot([1.0, 2, 3], [0.1, 0.2, 0.3], [0.01] * 3, xlabel="x", ylabel="SMD")
    assert _legend_texts(fig.axes[0]) == ["Study (area ∝ 1/variance)"]


def test_bubble_labels_do_not_overlap(font: str) -> None:
    rng = np.random.default_rng(4)
    x = np.repeat([0.0, 1.0], 6)
    yi = rng.normal(0.2, 0.05, 12)  # a tight cluster: labels would collide
    names = [f"Trial number {i} (2010)" for i in range(12)]
    fig = bubble_plot(x, yi, rng.uniform(0.01, 0.05, 12), xlabel="x", ylabel="SMD", labels=names)
    labels = [t for t in fig.axes[0].texts if t.get_gid() == "study-label"]
    assert sorted(t.get_text() for t in labels) == sorted(names)
    pairs = [p for p in overlapping_pairs(fig, ticks=False) if set(p) <= set(names)]
    assert pairs == []


def test_tau_density_one_panel_per_named_scale_with_priors_and_watermark() -> None:
    rng = np.random.default_rng(1)
    draws = {
        "Recovery": np.abs(rng.normal(0, 0.1, 2000)),
        "Empowerment": np.abs(rng.normal(0, 0.2, 2000)),
        "Hospitalised": np.abs(rng.normal(0, 0.5, 2000)),
    }
    scales = {"Recovery": "SMD", "Empowerment": "SMD", "Hospitalised": "log OR"}
    prior = {
        "Recovery": stats.halfnorm(scale=0.5).pdf,
        "Empowerment": stats.halfnorm(scale=0.5).pdf,
        "Hospitalised": np.abs(rng.normal(0, 1.0, 4000)),  # prior draws work too
    }
    fig = tau_density_plot(draws, prior=prior, scales=scales, watermark="SIMULATED DATA")
    assert len(fig.axes) == 2
    assert [ax.get_xlabel() for ax in fig.axes] == [
        "τ (between-study SD), SMD scale",
        "τ (between-study SD), log OR scale",
    ]
    gids = [[line.get_gid() for line in ax.lines] for ax in fig.axes]
    assert gids == [["posterior", "prior", "posterior", "prior"], ["posterior", "prior"]]
    assert [t.get_text() for t in fig.texts if t.get_gid() == "watermark"] == ["SIMULATED DATA"]
    with pytest.raises(DataError, match="scales"):
        tau_density_plot(draws, scales={"Recovery": "SMD"})


def test_watermark_on_every_figure() -> None:
    y_obs, y_pred = _ppc_data()
    figs = [
        ppc_plot(y_obs, y_pred, study_labels=list("ABCDEFGH"), watermark="SIMULATED"),
        bubble_plot([1, 2, 3], [0.1, 0.2, 0.3], [0.1] * 3, xlabel="x", ylabel="y",
                    watermark="SIMULATED"),
    ]  # fmt: skip
    for fig in figs:
        assert [t.get_text() for t in fig.texts if t.get_gid() == "watermark"] == ["SIMULATED"]


@pytest.mark.parametrize("exponentiate", [False, True])
def test_forest_axis_title_names_the_scale_without_overlap(font: str, exponentiate: bool) -> None:
    het = "Heterogeneity: Tau² = 0.05; Chi² = 9.10, df = 3 (P = 0.03); I² = 67%\n"
    het += "Test for overall effect: Z = 2.10 (P = 0.04)"
    xlabel = "Odds ratio (IV, Random, 95% CI)" if exponentiate else "SMD (IV, Random, 95% CI)"
    fig = forest_plot(
        _trials(5), _summaries(), heterogeneity=het, xlabel=xlabel, exponentiate=exponentiate,
        watermark="SIMULATED DATA",
    )  # fmt: skip
    assert fig.axes[0].get_xlabel() == xlabel
    assert _texts(fig, "heterogeneity")[-1] == "Test for overall effect: Z = 2.10 (P = 0.04)"
    assert overlapping_pairs(fig) == []
    assert outside_figure(fig) == []


def test_ppc_per_outcome_of_a_multi_outcome_fit_matches_the_tables() -> None:
    # the report's call: replicates drawn once, one figure per outcome, the table's p_sd checked
    from bayesmeta import EffectTable
    from bayesmeta.checks import posterior_predictive_pvalues, ppc_summary
    from bayesmeta.models.multi_outcome import MultiOutcome
    from bayesmeta.plots import predictive_replicates

    df = pd.DataFrame(
        {
            "study": list("abcdabcd"),
            "outcome": ["x"] * 4 + ["y"] * 4,
            "yi": [0.1, 0.3, -0.2, 0.1, 0.5, 0.2, 0.9, 0.4],
            "vi": [0.01, 0.02, 0.02, 0.03, 0.02, 0.01, 0.03, 0.02],
        }
    )
    res = MultiOutcome(EffectTable(df, measure="SMD")).fit(300, engine="exact", random_seed=3)
    seed = 11
    table = posterior_predictive_pvalues(res, random_seed=seed)
    verdicts = ppc_summary(res, random_seed=seed).set_index("outcome")
    y_all, rep = predictive_replicates(res, random_seed=seed)
    for outcome in ("x", "y"):
        mask = (df["outcome"] == outcome).to_numpy()
        fig = ppc_plot(
            y_all[mask], rep[:, mask], study_labels=list("abcd"), statistic="sd",
            p_value=float(verdicts.loc[outcome, "p_sd"]),
        )  # fmt: skip
        seg = next(c for c in fig.axes[0].collections if c.get_gid() == "ppc-95").get_segments()
        np.testing.assert_allclose([s[0][0] for s in seg], table.loc[mask, "pred_lb"])
