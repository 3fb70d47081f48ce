"""Tests of the RevMan-style subgroup forest plot: structure, numbers, layout under each font."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from bayesmeta.errors import DataError, ModelSpecError
from bayesmeta.frequentist import rma, subgroup_analysis
from bayesmeta.plots import subgroup_forest_plot
from bayesmeta.plots._layout import revman_p
from tests.plot_helpers import (
    font_fixture,  # noqa: F401  (the fixture "font": layout tests run once per font)
    outside_figure,
    overlapping_pairs,
    texts,
)

LABELS = {"higher": "Higher organisational support", "lower": "Lower organisational support"}


def _studies(arms: str | None = "continuous") -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "study": ["Castelein 2008", "Cook 2012", "Rivera 2007", "Sells 2006", "Simon 2011"],
            "yi": [-0.05, 0.12, -0.20, 0.50, 0.02],
            "vi": [0.03, 0.01, 0.05, 0.035, 0.02],
            "subgroup": ["higher", "higher", "higher", "lower", "higher"],
        }
    )
    if arms == "continuous":
        df = df.assign(
            m1i=[12.1, 30.5, 8.2, 15.0, 20.0], sd1i=[4.1, 6.2, 2.2, 5.0, 3.3],
            n1i=[56, 280, 40, 60, 100], m2i=[12.3, 29.8, 8.7, 12.5, 19.9],
            sd2i=[4.0, 6.0, 2.5, 5.1, 3.1], n2i=[50, 275, 38, 58, 98],
        )  # fmt: skip
    elif arms == "binary":
        df = df.assign(ai=[5, 30, 4, 12, 9], n1i=[56, 280, 40, 60, 100],
                       ci=[7, 33, 6, 8, 10], n2i=[50, 275, 38, 58, 98])  # fmt: skip
    return df


def _extra() -> dict[str, pd.DataFrame]:
    return {
        "bayes": pd.DataFrame({"subgroup": ["higher", "lower"], "estimate": [0.03, 0.41],
                               "ci_lb": [-0.2, 0.02], "ci_ub": [0.25, 0.8]}),
        "published": pd.DataFrame({"subgroup": ["higher", "lower", "Overall"],
                                   "estimate": [-0.04, 0.50, 0.09],
                                   "ci_lb": [-0.37, 0.14, -0.25], "ci_ub": [0.28, 0.87, 0.42]}),
    }  # fmt: skip


def _gids(fig) -> list[str]:  # type: ignore[no-untyped-def]
    ax = fig.axes[0]
    return [a.get_gid() for a in [*ax.patches, *ax.lines]]


def test_structure_headings_diamonds_and_rows() -> None:
    fig = subgroup_forest_plot(_studies(), subgroup_labels=LABELS, **_extra())
    assert texts(fig, "subgroup-heading") == [LABELS["higher"], LABELS["lower"]]
    assert texts(fig, "study-label") == [
        "Castelein 2008", "Cook 2012", "Rivera 2007", "Simon 2011", "Sells 2006"
    ]  # fmt: skip
    gids = _gids(fig)
    assert gids.count("subtotal-diamond") == 2  # one per subgroup
    assert gids.count("total-diamond") == 1
    assert gids.count("study-square") == 5
    assert gids.count("bayes-point") == 2
    assert gids.count("published-diamond") == 3
    assert texts(fig, "subtotal-label") == ["Subtotal (95% CI)"] * 2
    assert texts(fig, "total-label") == ["Total (95% CI)"]
    assert texts(fig, "bayes-label") == [LABELS["higher"], LABELS["lower"]]
    assert texts(fig, "published-label") == [LABELS["higher"], LABELS["lower"], "Overall"]
    assert "Mean" in texts(fig, "header") and "Intervention" in texts(fig, "header")
    assert fig.axes[0].get_xlabel() == "SMD (IV, Random, 95% CI)"
    assert sorted(texts(fig, "favours")) == ["Favours control", "Favours intervention"]


def test_numbers_equal_subgroup_analysis_and_rma() -> None:
    df = _studies()
    fig = subgroup_forest_plot(df, subgroup_order=["higher", "lower"])
    sg = subgroup_analysis(df["yi"], df["vi"], df["subgroup"], method="DL")
    test = texts(fig, "subgroup-differences")
    assert test == [
        f"Test for subgroup differences: Chi² = {sg.Q_between:.2f}, df = {sg.df} "
        f"({revman_p(sg.pval)}), I² = {sg.I2_between:.1f}%"
    ]
    hi = sg.groups["higher"]
    het = texts(fig, "heterogeneity")
    assert het[0] == (
        f"Heterogeneity: Tau² = {hi.tau2:.2f}; Chi² = {hi.QE:.2f}, df = {hi.k - 1} "
        f"({revman_p(hi.QEp)}); I² = {hi.I2:.0f}%"
    )
    assert het[1] == "Heterogeneity: Not applicable"  # one study
    overall = rma(df["yi"].to_numpy(), df["vi"].to_numpy(), method="DL")
    z = texts(fig, "overall-effect")
    assert (
        z[-1]
        == f"Test for overall effect: Z = {abs(overall.zval[0]):.2f} ({revman_p(overall.pval[0])})"
    )
    # subtotal and total estimates and weights
    est = texts(fig, "estimate")
    assert f"{float(hi.beta[0]):.2f}".replace("-", "\u2212") in est
    assert "100.0%" in texts(fig, "weight")
    weights = texts(fig, "weight")
    assert weights[0] == f"{overall.weights[0]:.1f}%"
    # arm totals summed on subtotal rows
    assert "476" in texts(fig, "arm-data") and "461" in texts(fig, "arm-data")


def test_binary_arms_and_ratio_scale() -> None:
    df = _studies("binary")
    fig = subgroup_forest_plot(df, measure="OR", exponentiate=True, direction="lower")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    null = next(line for line in ax.lines if line.get_gid() == "null-line")
    assert null.get_xdata()[0] == 1.0
    assert "Events" in texts(fig, "header")
    assert texts(fig, "study-label")[0] == "Castelein 2008"
    assert texts(fig, "estimate")[0] == f"{np.exp(-0.05):.2f}"
    assert fig.axes[0].get_xlabel() == "OR (IV, Random, 95% CI)"


@pytest.mark.parametrize("arms", ["continuous", "binary", None])
@pytest.mark.parametrize("extra", [False, True])
def test_no_text_overlaps_at_the_drawing_dpi(font: str, arms: str | None, extra: bool) -> None:
    df = _studies(arms)
    df.loc[3, "study"] = "A very long study name that goes on and on, a randomised trial"
    kw = _extra() if extra else {}
    fig = subgroup_forest_plot(df, subgroup_labels=LABELS, title="Social network support", **kw)
    assert overlapping_pairs(fig) == []
    assert outside_figure(fig) == []
    label = next(t for t in fig.axes[0].texts if t.get_gid() == "study-label")
    assert label.get_fontfamily()[0] == font


def test_bad_inputs() -> None:
    with pytest.raises(DataError) as err:
        subgroup_forest_plot(_studies().drop(columns="vi"))
    assert err.value.column == "vi"
    with pytest.raises(ModelSpecError, match="direction"):
        subgroup_forest_plot(_studies(), direction="up")
    with pytest.raises(DataError, match="subgroup_order"):
        subgroup_forest_plot(_studies(), subgroup_order=["higher", "middle"])
    with pytest.raises(DataError) as err:
        subgroup_forest_plot(_studies(), arms="binary")
    assert err.value.column == "ai"
    bad = _extra()["bayes"].drop(columns="ci_ub")
    with pytest.raises(DataError) as err:
        subgroup_forest_plot(_studies(), bayes=bad)
    assert err.value.column == "ci_ub"


@pytest.mark.parametrize("one_group", ["no column", "one value"])
def test_without_subgroups_a_plain_revman_forest_plot(font: str, one_group: str) -> None:
    df = _studies("binary")
    df = df.drop(columns="subgroup") if one_group == "no column" else df.assign(subgroup="all")
    fig = subgroup_forest_plot(df, measure="OR", exponentiate=True)
    assert texts(fig, "subgroup-heading") == [] and texts(fig, "subtotal-label") == []
    assert texts(fig, "subgroup-differences") == []
    assert _gids(fig).count("total-diamond") == 1 and _gids(fig).count("study-square") == 5
    overall = rma(df["yi"].to_numpy(), df["vi"].to_numpy(), method="DL")
    assert texts(fig, "overall-effect") == [
        f"Test for overall effect: Z = {abs(overall.zval[0]):.2f} ({revman_p(overall.pval[0])})"
    ]
    assert overlapping_pairs(fig) == [] and outside_figure(fig) == []


def test_height_grows_with_rows_and_width_stays_a_page() -> None:
    rng = np.random.default_rng(2)
    big = pd.DataFrame(
        {
            "study": [f"Study {i}" for i in range(40)],
            "yi": rng.normal(0.2, 0.2, 40),
            "vi": rng.uniform(0.01, 0.05, 40),
            "subgroup": np.repeat(["a", "b", "c", "d"], 10),
        }
    )
    small = subgroup_forest_plot(_studies(None))
    fig = subgroup_forest_plot(big)
    assert texts(fig, "subgroup-heading") == ["a", "b", "c", "d"]
    assert _gids(fig).count("subtotal-diamond") == 4
    assert small.get_size_inches()[1] < 6.0 < fig.get_size_inches()[1] < 14.0
    assert 7.0 <= fig.get_size_inches()[0] < 8.5
    sg = subgroup_analysis(big["yi"], big["vi"], big["subgroup"])
    assert texts(fig, "subgroup-differences")[0].startswith(
        f"Test for subgroup differences: Chi² = {sg.Q_between:.2f}, df = 3 "
    )
