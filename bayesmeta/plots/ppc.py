"""Posterior predictive check, trial by trial: inputs -> layout -> drawing -> labelling.

The figure draws the replicates it is given. To agree with the tables of
:mod:`bayesmeta.checks` (which use "mixed" replicates, a new study effect per trial), pass the
replicates from :func:`predictive_replicates`, which draws them with the same function and
the same seed as :func:`bayesmeta.checks.posterior_predictive_pvalues` and
:func:`bayesmeta.checks.ppc_summary`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike, NDArray

from bayesmeta.errors import DataError, ModelSpecError
from bayesmeta.plots import _glyphs as G
from bayesmeta.plots._layout import (
    ACCENT,
    BLACK,
    FLAG,
    FS_TITLE,
    WIDTH,
    array,
    check_choice,
    lighten,
    measure,
    style,
    tidy,
    truncate,
)

__all__ = ["PREDICTIVE_NAMES", "format_p", "ppc_plot", "predictive_replicates"]

if TYPE_CHECKING:
    from bayesmeta.results import Result

Arr = NDArray[np.float64]
Statistic = Callable[[Arr], Arr]

_STATISTICS: dict[str, tuple[str, Statistic]] = {
    "sd": ("SD of y across trials", lambda a: np.std(a, axis=-1, ddof=1)),
    "mean": ("Mean of y across trials", lambda a: np.mean(a, axis=-1)),
    "min": ("Smallest y", lambda a: np.min(a, axis=-1)),
    "max": ("Largest y", lambda a: np.max(a, axis=-1)),
    "range": ("Range of y", lambda a: np.ptp(a, axis=-1)),
}
#: How each kind of replicate is named in the figure.
PREDICTIVE_NAMES = {
    "mixed": "replicates with a new effect for each trial (mixed predictive)",
    "posterior": "replicates of each trial's fitted effect (posterior predictive)",
}


def format_p(p: float) -> str:
    """Return a posterior predictive p-value for a legend: 'p = 0.42', 'p < 0.001'.

    Examples
    --------
    >>> format_p(0.4213), format_p(0.0004), format_p(0.005)
    ('p = 0.42', 'p < 0.001', 'p = 0.005')
    """
    if p < 0.001:
        return "p < 0.001"
    if p > 0.999:
        return "p > 0.999"
    return f"p = {p:.3f}" if p < 0.01 or p > 0.99 else f"p = {p:.2f}"


def predictive_replicates(
    result: Result, *, predictive: str = "mixed", random_seed: int | None = None
) -> tuple[Arr, Arr]:
    """Observed estimates and the replicates the check tables use, for :func:`ppc_plot`.

    Drawn by the same function as :func:`bayesmeta.checks.posterior_predictive_pvalues` and
    :func:`bayesmeta.checks.ppc_summary`, with a generator seeded the same way, so with the
    same ``random_seed`` the figure's intervals and p-value equal the tables' numbers.

    Parameters
    ----------
    result
        A fitted normal-likelihood :class:`~bayesmeta.results.Result`.
    predictive
        ``"mixed"`` (a new study effect per trial, the tables' default) or ``"posterior"``.
    random_seed
        The seed given to the check tables.

    Returns
    -------
    (y_obs, y_rep)
        ``y_obs`` one value per row of the result's table; ``y_rep`` shape ``(draws, rows)``.

    Raises
    ------
    ModelSpecError
        A binomial model (its replicates are event counts, not estimates).
    """
    from bayesmeta.checks import _replicates

    if str(result.spec.get("model")) == "binomial":
        raise ModelSpecError(
            "the trial-by-trial figure needs estimates; binomial replicates are counts"
        )
    rep = _replicates(result, predictive, np.random.default_rng(random_seed))
    return np.asarray(result.table.yi, dtype=float), np.asarray(rep, dtype=float)


def _ppc_inputs(
    y_obs: ArrayLike, y_pred: ArrayLike, study_labels: Sequence[str]
) -> tuple[Arr, Arr, list[str]]:
    obs = array(y_obs, "y_obs")
    pred = np.asarray(y_pred, dtype=float)
    if pred.ndim == 3:
        pred = pred.reshape(-1, pred.shape[-1])
    pred = array(pred, "y_pred", ndim=2)
    k = obs.size
    if pred.shape[1] != k:
        raise DataError(
            f"y_pred has {pred.shape[1]} columns but y_obs has {k} values; "
            "y_pred must be (n_draws, k)",
            column="y_pred",
        )
    if pred.shape[0] < 2:
        raise DataError("y_pred needs at least two draws", column="y_pred")
    names = [truncate(s) for s in study_labels]
    if len(names) != k:
        raise DataError(
            f"study_labels has {len(names)} entries but y_obs has {k}", column="study_labels"
        )
    return obs, pred, names


def _statistic(
    statistic: str | Statistic | None, obs: Arr, pred: Arr, p_value: float | None
) -> tuple[str, Arr, float, float] | None:
    """(name, replicated T, observed T, p) of the test statistic, or None."""
    if statistic is None:
        return None
    if isinstance(statistic, str):
        check_choice(statistic, tuple(_STATISTICS), "statistic")
        name, fn = _STATISTICS[statistic]
    else:
        name, fn = getattr(statistic, "__name__", "T(y)"), statistic
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # e.g. the SD of one value
        t_obs = float(np.asarray(fn(obs[None, :])).ravel()[0])
        t_rep = np.asarray(fn(pred), dtype=float).ravel()
    if not np.isfinite(t_obs) or not np.all(np.isfinite(t_rep)):
        raise DataError(
            f"statistic {name!r} is not defined for these data (k = {obs.size})", column="y_obs"
        )
    ppp = float(np.mean(t_rep >= t_obs))
    if p_value is not None and abs(p_value - ppp) > 1e-9:
        raise DataError(
            f"p_value {p_value:.4g} disagrees with the replicates given ({ppp:.4g}); pass the "
            "replicates the table was computed from (see predictive_replicates)",
            column="p_value",
        )
    return name, t_rep, t_obs, ppp


def _draw_intervals(ax: Axes, obs: Arr, pred: Arr, names: list[str]) -> NDArray[np.bool_]:
    """50% and 95% predictive intervals per trial, the observed values, flagged outliers."""
    q = np.quantile(pred, [0.025, 0.25, 0.5, 0.75, 0.975], axis=0)
    outside: NDArray[np.bool_] = (obs < q[0]) | (obs > q[4])
    k = obs.size
    y = np.arange(k)
    ax.hlines(y, q[0], q[4], color=ACCENT, lw=1.0, gid="ppc-95")
    ax.hlines(y, q[1], q[3], color=ACCENT, lw=3.2, gid="ppc-50")
    ax.plot(obs[~outside], y[~outside], "o", ms=3.5, color=BLACK, zorder=3, gid="observed")
    if outside.any():
        ax.plot(
            obs[outside], y[outside], "D", ms=4.5, mfc="white", mec=FLAG, mew=1.2, zorder=3,
            gid="outside",
        )  # fmt: skip
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    for lab, out in zip(ax.get_yticklabels(), outside, strict=True):
        lab.set_parse_math(False)
        if out:
            lab.set_color(FLAG)
    ax.set_ylim(k - 0.5, -0.5)
    ax.tick_params(axis="y", length=0)
    ax.spines["left"].set_visible(False)
    tidy(ax)
    return outside


def _draw_statistic(ax: Axes, stat: tuple[str, Arr, float, float]) -> None:
    name, t_rep, t_obs, ppp = stat
    ax.hist(
        t_rep, bins=min(40, max(10, int(np.sqrt(t_rep.size)))), color=lighten(ACCENT, 0.45),
        edgecolor="white", lw=0.3, label="Predicted", gid="ppc-stat-hist",
    )  # fmt: skip
    ax.axvline(t_obs, color=BLACK, lw=1.4, label=f"Observed ({format_p(ppp)})", gid="ppc-stat-obs")
    ax.set_xlabel(name)
    ax.set_ylabel("Draws")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), borderaxespad=0.3, handlelength=1.4)
    tidy(ax)


def _label_ppc(fig: Figure, n_out: int, k: int, title: str | None, predictive: str) -> None:
    handles = [
        Line2D([], [], color=ACCENT, lw=3.2, label="50% predictive interval"),
        Line2D([], [], color=ACCENT, lw=1.0, label="95% predictive interval"),
        Line2D([], [], ls="", marker="o", ms=3.5, color=BLACK, label="Observed"),
        Line2D(
            [], [], ls="", marker="D", ms=4.5, mfc="white", mec=FLAG, mew=1.2,
            label=f"Outside 95% interval ({n_out} of {k})",
        ),
    ]  # fmt: skip
    what = PREDICTIVE_NAMES.get(predictive, predictive)
    # the note is the legend's title: one box at the bottom, so the two can never overlap
    legend = fig.legend(
        handles=handles, loc="outside lower center", ncols=4, handlelength=1.6, columnspacing=1.5,
        title=f"Intervals from {what}.", title_fontsize=7.0, alignment="left",
    )  # fmt: skip
    legend.get_title().set_color("#595959")
    if title:
        fig.suptitle(title, x=0.0, ha="left", fontsize=FS_TITLE, fontweight="bold")


def ppc_plot(
    y_obs: ArrayLike,
    y_pred: ArrayLike,
    *,
    study_labels: Sequence[str],
    title: str | None = None,
    statistic: str | Statistic | None = None,
    xlabel: str = "Effect estimate (y)",
    predictive: str = "mixed",
    p_value: float | None = None,
    watermark: str | None = None,
) -> Figure:
    r"""Posterior predictive check, trial by trial.

    For each trial the posterior predictive distribution of its observed estimate ``y`` is shown
    as a 50% (thick) and 95% (thin) equal-tailed interval, with the observed value as a black
    point. Observed values outside the 95% interval are flagged (open vermillion diamond, and
    the study label in the same colour). Optionally a second panel compares a test statistic
    ``T`` of the predicted data with its observed value; the legend gives the posterior
    predictive p-value :math:`P(T(y^{rep}) \ge T(y))`.

    Parameters
    ----------
    y_obs
        Observed estimates, shape ``(k,)``.
    y_pred
        Replicated estimates, shape ``(n_draws, k)`` (or ``(chain, draw, k)``). To agree with
        the tables pass the replicates of :func:`predictive_replicates` (the tables' "mixed"
        replicates, same seed).
    study_labels
        ``k`` labels (truncated at 40 characters).
    title
        Optional figure title.
    statistic
        ``None`` (no second panel), ``"sd"``, ``"mean"``, ``"min"``, ``"max"``, ``"range"``,
        or a function mapping an ``(n, k)`` array to ``(n,)`` values.
    xlabel
        Label of the effect axis.
    predictive
        Which replicates ``y_pred`` holds (``"mixed"`` or ``"posterior"``), named under the
        figure.
    p_value
        The p-value of ``statistic`` printed in the table (e.g. ``ppc_summary``'s ``p_sd``);
        checked against the one computed from ``y_pred``, so a figure cannot silently disagree
        with its table.
    watermark
        Optional mark across the figure, e.g. ``"SIMULATED DATA"``.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    DataError
        Shapes do not match, values are not finite, the statistic is undefined (e.g. the SD
        of a single trial), or ``p_value`` disagrees with ``y_pred``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> y_pred = rng.normal([0.1, 0.4, 0.3], 0.2, size=(500, 3))
    >>> fig = ppc_plot([0.12, 0.35, 1.5], y_pred, study_labels=["A", "B", "C"], statistic="sd")
    >>> len(fig.axes)
    2
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_color() != "black"]
    ['C']
    """
    obs, pred, names = _ppc_inputs(y_obs, y_pred, study_labels)
    stat = _statistic(statistic, obs, pred, p_value)
    k = obs.size
    height = max(2.6, 0.95 + k * 0.21 + (0.3 if title else 0.0))
    m = measure()
    with style(m.family):
        fig = Figure(figsize=(WIDTH, height), layout="constrained", dpi=m.dpi)
        if stat is not None:
            gs = fig.add_gridspec(
                2, 2, width_ratios=(1.55, 1.0), height_ratios=(2.3, max(height - 2.9, 0.01))
            )
            ax = fig.add_subplot(gs[:, 0])
            _draw_statistic(fig.add_subplot(gs[0, 1]), stat)
        else:
            ax = fig.add_subplot()
        outside = _draw_intervals(ax, obs, pred, names)
        ax.set_xlabel(xlabel)
        _label_ppc(fig, int(outside.sum()), k, title, predictive)
        G.watermark(fig, watermark)
    return fig
