r"""Frequentist meta-analysis: the numpy core, with metafor's estimators, names and conventions.

Everything here reproduces ``metafor::rma.uni`` (version 3.8) to the digits its converged solution
carries: the same estimating equations, truncation rules, test statistics and interval formulas.
Iterative estimators (REML, ML, PM) are solved to machine precision; metafor's defaults stop earlier
(``threshold = 1e-5``), which leaves differences of up to about 2e-4 relative in tau2 (see
``models/rma/README.md``).

Estimators of :math:`\tau^2` (``method``), all truncated at 0:

- ``"EE"``: equal (common) effect, :math:`\tau^2 = 0`.
- ``"DL"``: DerSimonian-Laird, :math:`(Q_E - (k-p)) / \mathrm{tr}(P)`, :math:`P = W - WX(X^\top
  WX)^{-1}X^\top W`, :math:`W = \mathrm{diag}(1/v_i)` (the shared core
  :func:`bayesmeta._stats.dl_tau2`, also used by :func:`bayesmeta.batch.fit_many`).
- ``"HE"``: Hedges' ordinary-least-squares moment estimator.
- ``"SJ"``: Sidik-Jonkman, one step from :math:`\tau_0^2 = \frac{k-1}{k}\mathrm{var}(y)`.
- ``"PM"``: Paule-Mandel, the root of :math:`Q(\tau^2) = k - p`.
- ``"ML"``, ``"REML"``: (restricted) maximum likelihood by Fisher scoring, started at the HE
  estimate, as metafor, and run to machine precision.

``test="knha"`` applies the Knapp-Hartung adjustment: the covariance of :math:`\hat\beta` is
multiplied by :math:`s^2 = \sum w_i (y_i - x_i^\top\hat\beta)^2 / (k-p)` and t and F
distributions with :math:`k - p` denominator df replace the normal and chi-square.

Heterogeneity: :math:`Q_E` uses weights :math:`1/v_i`; :math:`I^2 = 100\,\hat\tau^2/(\tilde v
+ \hat\tau^2)` and :math:`H^2 = \hat\tau^2/\tilde v + 1` with the typical within-study variance
:math:`\tilde v = (k-p)/\mathrm{tr}(P)` (:func:`bayesmeta._stats.typical_variance`; for ``"EE"``,
:math:`I^2 = (Q_E - (k-p))/Q_E`). The confidence interval for :math:`\tau^2` is the Q-profile
interval. For meta-regressions :math:`R^2` is metafor's pseudo-:math:`R^2`, the proportional
reduction in :math:`\hat\tau^2` against the intercept-only model fitted with the same method.

Prediction intervals :math:`\hat\mu \pm c\sqrt{\hat\tau^2 + SE(\hat\mu)^2}`: ``pi_type="z"``
(default) is metafor 3.8's (normal :math:`c`, or :math:`t_{k-p}` under Knapp-Hartung);
``pi_type="t"`` is Higgins, Thompson & Spiegelhalter's (2009) :math:`t_{k-p-1}` (:math:`k-2`
df without moderators), as the Cochrane Handbook and RevMan, metafor's ``pi.type = "riley"``.

The module imports neither PyMC nor matplotlib.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from bayesmeta._stats import (
    PI_TYPES,
    critical_value,
    dl_tau2,
    fe_moments,
    i2_h2,
    i2_h2_from_q,
    knha_scale,
    pi_df,
    typical_variance,
)
from bayesmeta.errors import DataError, FitError, ModelSpecError, NotEstimableWarning

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "METHODS",
    "TESTS",
    "FrequentistResult",
    "MantelHaenszelResult",
    "Prediction",
    "SubgroupResult",
    "rma",
    "rma_mh",
    "subgroup_analysis",
]

Method = Literal["EE", "FE", "DL", "REML", "ML", "PM", "HE", "SJ"]
Test = Literal["z", "knha"]

#: Estimators of tau2, with metafor's codes ("FE" is accepted as an alias of "EE").
METHODS: tuple[str, ...] = ("EE", "DL", "REML", "ML", "PM", "HE", "SJ")
#: Tests and intervals for the fixed effects: normal ("z") or Knapp-Hartung ("knha").
TESTS: tuple[str, ...] = ("z", "knha")

#: Convergence tolerance on tau2 for REML/ML, relative to max(tau2, median vi).
_TAU2_TOL = 1e-15
#: Fisher scoring steps stuck at rounding level (no halving in 50 steps) below this, relative to
#: max(tau2, median vi), count as converged.
_TAU2_STALL = 1e-12
#: Largest |yi| and range of vi the double-precision core handles (squares and products of
#: weights must neither overflow nor underflow); beyond it the data must be rescaled.
_MAX_ABS_YI = 1e100
_VI_RANGE = (1e-100, 1e100)
#: Largest k the dense core fits (its k x k projection matrices: ~0.8 GB at k = 5000).
_MAX_K_DENSE = 5000
#: Largest ratio of sampling variances before results are flagged as numerically fragile
#: (metafor's ``evtol`` check, 1e7).
_VI_RATIO_WARN = 1e7


# --------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class Prediction:
    """Predicted average effect with confidence and prediction intervals (metafor's ``predict``).

    Attributes
    ----------
    pred, se, ci_lb, ci_ub, pi_lb, pi_ub
        Arrays, one entry per row of the moderator values predicted for.
    pi_type, pi_df
        ``"z"`` or ``"t"``, and the t degrees of freedom of the prediction interval (``None``:
        the normal quantile); see :meth:`FrequentistResult.predict`.
    note
        Empty, or why the prediction interval is NaN.

    Examples
    --------
    >>> p = rma([0.1, 0.3, 0.35, 0.6], [0.04, 0.02, 0.05, 0.03], method="DL").predict()
    >>> bool(p.pi_lb[0] <= p.ci_lb[0] < p.pred[0] < p.ci_ub[0] <= p.pi_ub[0])
    True
    """

    pred: NDArray[np.float64]
    se: NDArray[np.float64]
    ci_lb: NDArray[np.float64]
    ci_ub: NDArray[np.float64]
    pi_lb: NDArray[np.float64]
    pi_ub: NDArray[np.float64]
    pi_type: str = "z"
    pi_df: int | None = None
    note: str = ""


@dataclass(frozen=True)
class FrequentistResult:
    r"""A fitted frequentist (meta-regression) model, with metafor's field names.

    Returned by :func:`rma`; see there for the maths. Arrays ``beta``, ``se``, ``zval``, ``pval``,
    ``ci_lb``, ``ci_ub`` have one entry per coefficient, intercept first (``coef_names``).
    Under ``test="knha"`` ``zval`` holds t statistics with ``dfs`` degrees of freedom.
    ``pi_type`` (``"z"`` or ``"t"``) is the prediction interval that :meth:`predict`, ``pi_lb``
    and ``pi_ub`` give; ``pi_note`` says why it is NaN, if it is. The Q-profile interval of
    ``tau2`` (``tau2_ci_lb``, ``tau2_ci_ub`` and the matching ``I2_ci_*``, ``H2_ci_*``) is
    computed when one of them is first read, as metafor computes it in ``confint`` rather than
    in ``rma.uni``.

    See also: ``metafor::rma.uni``.

    Examples
    --------
    >>> res = rma([0.1, 0.3, 0.35, 0.6], [0.04, 0.02, 0.05, 0.03], method="DL")
    >>> round(res.tau2, 4), res.k
    (0.0083, 4)
    """

    beta: NDArray[np.float64]
    se: NDArray[np.float64]
    zval: NDArray[np.float64]
    pval: NDArray[np.float64]
    ci_lb: NDArray[np.float64]
    ci_ub: NDArray[np.float64]
    vb: NDArray[np.float64]
    coef_names: tuple[str, ...]
    tau2: float
    se_tau2: float
    I2: float
    H2: float
    QE: float
    QEp: float
    QM: float
    QMp: float
    QMdf: tuple[int, int | None]
    R2: float | None
    k: int
    p: int
    method: str
    test: str
    level: float
    dfs: int | None
    tau2_estimable: bool
    fit_stats: dict[str, dict[str, float]]
    weights: NDArray[np.float64]
    yi: NDArray[np.float64] = field(repr=False)
    vi: NDArray[np.float64] = field(repr=False)
    X: NDArray[np.float64] = field(repr=False)
    labels: tuple[str, ...] = field(repr=False)
    pi_type: str = "z"

    @cached_property
    def _qprofile(self) -> dict[str, float]:
        """The Q-profile bounds of tau2, I2 and H2, computed on first read."""
        return _qprofile_intervals(self.yi, self.vi, self.X, self.level, self.tau2_estimable)

    @property
    def tau2_ci_lb(self) -> float:
        """Lower bound of the Q-profile confidence interval for ``tau2`` (Viechtbauer 2007).

        NaN when ``tau2`` is not estimated (``"EE"``, a fixed ``tau2``, k <= p). Computed on
        first read; raises :class:`~bayesmeta.errors.FitError` if the root cannot be found.
        """
        return self._qprofile["tau2_ci_lb"]

    @property
    def tau2_ci_ub(self) -> float:
        """Upper bound of the Q-profile confidence interval for ``tau2`` (see ``tau2_ci_lb``)."""
        return self._qprofile["tau2_ci_ub"]

    @property
    def I2_ci_lb(self) -> float:
        """``I2`` at ``tau2_ci_lb``."""
        return self._qprofile["I2_ci_lb"]

    @property
    def I2_ci_ub(self) -> float:
        """``I2`` at ``tau2_ci_ub``."""
        return self._qprofile["I2_ci_ub"]

    @property
    def H2_ci_lb(self) -> float:
        """``H2`` at ``tau2_ci_lb``."""
        return self._qprofile["H2_ci_lb"]

    @property
    def H2_ci_ub(self) -> float:
        """``H2`` at ``tau2_ci_ub``."""
        return self._qprofile["H2_ci_ub"]

    @property
    def tau(self) -> float:
        """Square root of ``tau2``."""
        return math.sqrt(self.tau2) if np.isfinite(self.tau2) else math.nan

    @property
    def ll(self) -> float:
        """Log-likelihood (restricted for REML fits, as metafor's ``logLik``)."""
        return self.fit_stats[self._lik]["ll"]

    @property
    def dev(self) -> float:
        """Deviance (as metafor's ``deviance``)."""
        return self.fit_stats[self._lik]["dev"]

    @property
    def AIC(self) -> float:
        """Akaike information criterion (as metafor's ``fitstats``)."""
        return self.fit_stats[self._lik]["AIC"]

    @property
    def BIC(self) -> float:
        """Bayesian information criterion (as metafor's ``fitstats``)."""
        return self.fit_stats[self._lik]["BIC"]

    @property
    def AICc(self) -> float:
        """Corrected AIC (as metafor's ``fitstats``)."""
        return self.fit_stats[self._lik]["AICc"]

    @property
    def _lik(self) -> str:
        return "REML" if self.method == "REML" else "ML"

    @property
    def crit(self) -> float:
        """Critical value used for the intervals (normal, or t with ``dfs`` df under knha)."""
        return critical_value(self.level, self.dfs)

    def predict(self, newmods: ArrayLike | None = None, pi_type: str | None = None) -> Prediction:
        r"""Predicted average effect with confidence and prediction intervals.

        The prediction interval is :math:`\hat\mu \pm c\sqrt{SE(\hat\mu)^2 + \hat\tau^2}`.
        ``pi_type="z"`` (metafor 3.8's interval, its ``pi.type = "default"``): :math:`c` is the
        critical value of the confidence interval, the normal quantile, or the t quantile on
        :math:`k - p` df under Knapp-Hartung. ``pi_type="t"`` (Higgins, Thompson &
        Spiegelhalter 2009; Riley et al. 2011; metafor's ``pi.type = "riley"``): the t quantile
        on :math:`k - p - 1` df under either test (:math:`k - 2` without moderators); NaN, with
        the reason in ``Prediction.note``, when that is below 1.

        Parameters
        ----------
        newmods
            Moderator values (without the intercept), one row per prediction. ``None`` for an
            intercept-only model.
        pi_type
            ``"z"`` or ``"t"``; ``None`` (default) takes the fit's ``pi_type``.

        See also: ``metafor::predict.rma``.

        Examples
        --------
        >>> res = rma([0.1, 0.3, 0.35, 0.6], [0.04, 0.02, 0.05, 0.03], method="DL")
        >>> p = res.predict()
        >>> bool(p.pi_lb[0] < p.ci_lb[0])
        True
        >>> res.predict(pi_type="t").pi_df
        2
        """
        pi_type = self.pi_type if pi_type is None else _check_choice("pi_type", pi_type, PI_TYPES)
        if newmods is None:
            if self.p != 1:
                raise ModelSpecError(
                    "predict() on a meta-regression needs newmods: one value per moderator "
                    f"({', '.join(self.coef_names[1:])})"
                )
            Xn = np.ones((1, 1))
        else:
            m = np.atleast_2d(np.asarray(newmods, dtype=float))
            if m.shape[1] != self.p - 1 and m.shape[0] == self.p - 1 and m.shape[1] == 1:
                m = m.T
            if m.shape[1] != self.p - 1:
                raise ModelSpecError(
                    f"newmods has {m.shape[1]} columns; the model has {self.p - 1} moderators "
                    f"({', '.join(self.coef_names[1:])})"
                )
            Xn = np.column_stack([np.ones(m.shape[0]), m])
        pred = Xn @ self.beta
        vpred = np.einsum("ij,jk,ik->i", Xn, self.vb, Xn)
        se = np.sqrt(vpred)
        c = self.crit
        tau2 = self.tau2 if np.isfinite(self.tau2) else 0.0
        spi = np.sqrt(vpred + tau2)
        df = pi_df(pi_type, self.test, self.k, self.p)
        cpi = critical_value(self.level, df)
        note = ""
        if pi_type == "t" and df is not None and df < 1:
            note = (
                f"t prediction interval not available: k - p - 1 = {df} df (k = {self.k}, "
                f"p = {self.p}); it needs k >= p + 2 studies"
            )
        return Prediction(
            pred, se, pred - c * se, pred + c * se, pred - cpi * spi, pred + cpi * spi,
            pi_type=pi_type, pi_df=df, note=note,
        )  # fmt: skip

    @property
    def pred(self) -> float:
        """Predicted average effect of an intercept-only model (the pooled estimate)."""
        return float(self.predict().pred[0])

    @property
    def pi_lb(self) -> float:
        """Lower bound of the prediction interval (intercept-only models)."""
        return float(self.predict().pi_lb[0])

    @property
    def pi_ub(self) -> float:
        """Upper bound of the prediction interval (intercept-only models)."""
        return float(self.predict().pi_ub[0])

    @property
    def pi_note(self) -> str:
        """Empty, or why the prediction interval is NaN (``pi_type="t"`` with k < p + 2)."""
        return self.predict(None if self.p == 1 else np.zeros((1, self.p - 1))).note

    def coef_table(self) -> pd.DataFrame:
        """Coefficients as a table: estimate, se, zval (or tval), pval, ci_lb, ci_ub.

        Examples
        --------
        >>> res = rma([0.1, 0.3, 0.35, 0.6], [0.04, 0.02, 0.05, 0.03], mods=[1, 2, 3, 4])
        >>> list(res.coef_table().index)
        ['intrcpt', 'mod1']
        """
        import pandas as pd

        stat = "tval" if self.test == "knha" else "zval"
        return pd.DataFrame(
            {
                "estimate": self.beta,
                "se": self.se,
                stat: self.zval,
                "pval": self.pval,
                "ci_lb": self.ci_lb,
                "ci_ub": self.ci_ub,
            },
            index=pd.Index(list(self.coef_names), name="coef"),
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-able dictionary of every reported quantity.

        Examples
        --------
        >>> rma([0.1, 0.3, 0.35], [0.04, 0.02, 0.05], method="DL").to_dict()["method"]
        'DL'
        """
        out: dict[str, Any] = {}
        for name in (
            "tau2 se_tau2 tau2_ci_lb tau2_ci_ub I2 H2 I2_ci_lb I2_ci_ub H2_ci_lb H2_ci_ub "
            "QE QEp QM QMp R2 k p method test level dfs tau2_estimable pi_type"
        ).split():
            out[name] = getattr(self, name)
        for name in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "weights"):
            out[name] = getattr(self, name).tolist()
        out["coef_names"] = list(self.coef_names)
        out["QMdf"] = list(self.QMdf)
        out["fit_stats"] = self.fit_stats
        if self.p == 1:
            pr = self.predict()
            out.update(pred=float(pr.pred[0]), pi_lb=float(pr.pi_lb[0]), pi_ub=float(pr.pi_ub[0]))
            out.update(pi_df=pr.pi_df, pi_note=pr.note)
        return out

    def __str__(self) -> str:
        lines = [
            f"{'Random' if self.method != 'EE' else 'Equal'}-effects model "
            f"(k = {self.k}; tau^2 estimator: {self.method}; test: {self.test})",
        ]
        if self.method != "EE":
            if self.tau2_estimable:
                lines.append(
                    f"tau^2 = {self.tau2:.4f} (SE = {self.se_tau2:.4f}), "
                    f"95% CI [{self.tau2_ci_lb:.4f}, {self.tau2_ci_ub:.4f}]; tau = {self.tau:.4f}"
                )
            else:
                lines.append("tau^2 not estimable (k = 1)")
        lines.append(
            f"I^2 = {self.I2:.2f}%, H^2 = {self.H2:.2f}; "
            f"Q(df = {self.k - self.p}) = {self.QE:.4f}, p = {self.QEp:.4g}"
        )
        if self.R2 is not None:
            lines.append(f"R^2 = {self.R2:.2f}%; QM = {self.QM:.4f}, p = {self.QMp:.4g}")
        lines.append(self.coef_table().to_string(float_format=lambda v: f"{v:.4f}"))
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# input handling


def _as_1d(name: str, x: ArrayLike) -> NDArray[np.float64]:
    try:
        arr = np.asarray(x, dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{name} must be numeric ({exc})", column=name) from None
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    return arr


def _rows_text(bad: NDArray[np.bool_], labels: Sequence[str]) -> str:
    idx = np.flatnonzero(bad)
    shown = ", ".join(f"{i + 1} ({labels[i]})" for i in idx[:10])
    more = f" and {len(idx) - 10} more" if len(idx) > 10 else ""
    return f"row{'s' if len(idx) > 1 else ''} {shown}{more}"


def _check_finite(name: str, arr: NDArray[np.float64], labels: Sequence[str]) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        raise DataError(
            f"{name} has missing or non-finite values at {_rows_text(bad, labels)}; "
            "remove those rows or supply the values",
            rows=np.flatnonzero(bad).tolist(),
            column=name,
        )


def _design(
    mods: Any, k: int, labels: Sequence[str]
) -> tuple[NDArray[np.float64], tuple[str, ...]]:
    """Model matrix with an intercept; validates constant and collinear moderators."""
    if mods is None:
        return np.ones((k, 1)), ("intrcpt",)
    names: list[str]
    if hasattr(mods, "columns"):  # DataFrame
        names = [str(c) for c in mods.columns]
        M = np.asarray(mods.to_numpy(dtype=float), dtype=float)
    elif isinstance(mods, dict):
        names = [str(c) for c in mods]
        M = np.column_stack([_as_1d(str(c), v) for c, v in mods.items()])
    else:
        M = np.asarray(mods, dtype=float)
        if M.ndim == 1:
            M = M[:, None]
        names = [f"mod{j + 1}" for j in range(M.shape[1])]
    if M.shape[0] != k:
        raise DataError(f"mods has {M.shape[0]} rows but there are {k} estimates", column="mods")
    for j, nm in enumerate(names):
        _check_finite(nm, M[:, j], labels)
        if np.ptp(M[:, j]) == 0:
            raise ModelSpecError(
                f"moderator {nm!r} is constant (all values {M[0, j]:g}); it cannot be "
                "estimated beside the intercept. Drop it, or analyse the subgroup on its own"
            )
    X = np.column_stack([np.ones(k), M])
    if k < X.shape[1]:
        raise ModelSpecError(
            f"{k} studies cannot estimate {X.shape[1]} coefficients (intercept + "
            f"{len(names)} moderators); use fewer moderators"
        )
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise ModelSpecError(
            f"moderators {', '.join(names)} are collinear with each other or the intercept; "
            "drop one of the redundant columns"
        )
    return X, ("intrcpt", *names)


def _table_inputs(table: Any, mods: Any) -> tuple[Any, Any, Any, Any]:
    """Pull yi, vi, labels and moderators from an EffectTable-like object."""
    frame = table.data
    if "outcome" in frame.columns and frame["outcome"].nunique() > 1:
        raise DataError(
            f"the table holds {frame['outcome'].nunique()} outcomes; fit one at a time with "
            "table.for_outcome(name)",
            column="outcome",
        )
    if mods is not None and not hasattr(mods, "shape"):
        if isinstance(mods, str):
            mods = [mods]
        if isinstance(mods, (list, tuple)) and all(isinstance(m, str) for m in mods):
            missing = [m for m in mods if m not in frame.columns]
            if missing:
                raise ModelSpecError(
                    f"moderator(s) {missing} are not columns of the table; available: "
                    f"{[c for c in frame.columns if c not in ('yi', 'vi', 'sei')]}"
                )
            mods = frame[list(mods)]
    return frame["yi"].to_numpy(float), frame["vi"].to_numpy(float), frame["study"], mods


# --------------------------------------------------------------------------------------------
# numerical core


def _wls(
    X: NDArray[np.float64], y: NDArray[np.float64], w: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Weighted least squares: beta and (X'WX)^-1."""
    XtW = X.T * w
    inv = np.linalg.inv(XtW @ X)
    return inv @ (XtW @ y), inv


def _proj(X: NDArray[np.float64], w: NDArray[np.float64]) -> NDArray[np.float64]:
    """P = W - W X (X'WX)^-1 X'W."""
    XtW = X.T * w
    inv = np.linalg.inv(XtW @ X)
    return np.diag(w) - XtW.T @ inv @ XtW


def _qe(
    tau2: float, y: NDArray[np.float64], v: NDArray[np.float64], X: NDArray[np.float64]
) -> float:
    """Generalised Q statistic at tau2: sum w_i (y_i - x_i b)^2 with w = 1/(v + tau2)."""
    w = 1.0 / (v + tau2)
    b, _ = _wls(X, y, w)
    r = y - X @ b
    return float(np.sum(w * r * r))


def _root_decreasing(f: Any, target: float, lo: float = 0.0) -> float:
    """Root of the decreasing function f(t) = target on [lo, inf), bracketing upward."""
    from scipy import optimize

    hi = max(1.0, 10.0 * lo)
    g = lambda t: f(t) - target  # noqa: E731
    for _ in range(200):
        if g(hi) < 0:
            break
        lo, hi = hi, hi * 10.0
    else:  # pragma: no cover - would need tau2 > 1e200
        raise FitError("could not bracket the root for tau2; the data may be degenerate")
    try:
        root = optimize.brentq(g, lo, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    except RuntimeError as exc:  # no convergence: Q is numerically flat or noisy
        raise FitError(
            f"root finding for tau2 failed ({exc}); the sampling variances may span too many "
            "orders of magnitude for a stable fit"
        ) from None
    return float(root)


def _tau2_fisher(
    y: NDArray[np.float64],
    v: NDArray[np.float64],
    X: NDArray[np.float64],
    method: str,
    start: float,
) -> float:
    """REML/ML tau2 by metafor's Fisher scoring (step-halving at 0), run to full convergence.

    A step that reverses and does not halve the previous one signals overshooting; from then
    on steps are damped (halved again at each further overshoot), which keeps the iteration a
    contraction. Steps are judged against the problem's own scale (``tau2`` or the median
    sampling variance, whichever is larger), so the result is equivariant under rescaling of
    ``yi``. Near the
    solution rounding makes the steps cycle at ~1e-14 relative; a run of steps that no longer
    shrink, all below ``_TAU2_STALL`` relative, is accepted as converged.
    """
    tau2 = max(0.0, start)
    vscale = float(np.median(v))
    best, stalled = math.inf, 0
    damp, prev = 1.0, 0.0
    for _ in range(10_000):
        w = 1.0 / (v + tau2)
        P = _proj(X, w)
        Py = P @ y
        if method == "ML":
            adj = float((Py @ Py - w.sum()) / np.sum(w * w))
        else:
            adj = float((Py @ Py - np.trace(P)) / np.sum(P * P.T))
        if not np.isfinite(adj):
            adj = 0.0
        if adj * prev < 0 and abs(adj) > 0.5 * abs(prev):
            # oscillating rather than converging: undamped scoring can overshoot ever more
            # (e.g. REML near tau2 = 0 with k = 8); halve the step until it contracts
            damp = max(damp / 2.0, 2.0**-20)
        prev = adj
        adj *= damp
        while tau2 + adj < 0:
            adj /= 2.0
        new = tau2 + adj
        step = abs(new - tau2)
        scale = max(vscale, tau2)
        if step <= _TAU2_TOL * scale:
            return new
        if step < 0.5 * best:
            best, stalled = step, 0
        else:
            stalled += 1
            if stalled >= 50 and best <= _TAU2_STALL * scale:
                return new
        tau2 = new
    raise FitError(
        f"{method} Fisher scoring did not converge for tau2; try method='PM' or 'DL'"
    )  # pragma: no cover


def _loglik(
    y: NDArray[np.float64], v: NDArray[np.float64], X: NDArray[np.float64], tau2: float
) -> tuple[float, float]:
    """ML and REML log-likelihoods at tau2 (metafor's definitions, REMLf = TRUE)."""
    k, p = X.shape
    w = 1.0 / (v + tau2)
    b, _ = _wls(X, y, w)
    rss = float(np.sum(w * (y - X @ b) ** 2))
    ll_ml = -0.5 * k * math.log(2 * math.pi) - 0.5 * float(np.sum(np.log(v + tau2))) - 0.5 * rss
    _, logdet_xx = np.linalg.slogdet(X.T @ X)
    _, logdet_xwx = np.linalg.slogdet((X.T * w) @ X)
    ll_reml = (
        -0.5 * (k - p) * math.log(2 * math.pi)
        + 0.5 * logdet_xx
        - 0.5 * float(np.sum(np.log(v + tau2)))
        - 0.5 * logdet_xwx
        - 0.5 * rss
    )
    return ll_ml, ll_reml


def _estimate_tau2(
    y: NDArray[np.float64], v: NDArray[np.float64], X: NDArray[np.float64], method: str
) -> tuple[float, float]:
    """tau2 and its standard error, exactly as metafor computes them."""
    k, p = X.shape
    if method == "EE":
        return 0.0, math.nan
    if method == "DL":
        t2, se_t2 = dl_tau2(fe_moments(y, v, None if p == 1 else X), k - p)
        return float(t2[0]), float(se_t2[0])
    if method in ("HE", "REML", "ML"):
        H = np.eye(k) - X @ np.linalg.inv(X.T @ X) @ X.T
        rss = float(y @ H @ y)
        PV = H * v[None, :]
        trPV = float(np.trace(PV))
        tau2_he = (rss - trPV) / (k - p)
        if method == "HE":
            tau2 = max(0.0, tau2_he)
            se = math.sqrt(
                (2 * np.sum(PV * PV.T) + 4 * tau2 * trPV + 2 * tau2**2 * (k - p)) / (k - p) ** 2
            )
            return tau2, se
        tau2 = _tau2_fisher(y, v, X, method, start=tau2_he)
        if tau2 > 0:  # metafor's ll0check: fall back to 0 if the boundary is better
            ll0 = _loglik(y, v, X, 0.0)
            ll1 = _loglik(y, v, X, tau2)
            j = 0 if method == "ML" else 1
            if ll0[j] - ll1[j] > 1e-10:
                warnings.warn(
                    f"{method} scoring stopped at a local maximum; tau2 set to 0 as metafor does",
                    stacklevel=3,
                )
                tau2 = 0.0
        w = 1.0 / (v + tau2)
        if method == "ML":
            return tau2, math.sqrt(2.0 / np.sum(w * w))
        P = _proj(X, w)
        return tau2, math.sqrt(2.0 / np.sum(P * P))
    if method == "PM":
        if _qe(0.0, y, v, X) < k - p:
            tau2 = 0.0
        else:
            tau2 = _root_decreasing(lambda t: _qe(t, y, v, X), k - p)
        w = 1.0 / (v + tau2)
        return tau2, math.sqrt(2 * k**2 / (k - p) / np.sum(w) ** 2)
    if method == "SJ":
        tau2_0 = float(np.var(y))  # var(y) * (k-1)/k, as metafor
        w = 1.0 / (v + tau2_0)
        P = _proj(X, w)
        rss = float(y @ P @ y)
        PV = P * v[None, :]
        tau2 = max(0.0, tau2_0 * rss / (k - p))
        se = math.sqrt(
            tau2_0**2
            / (k - p) ** 2
            * (2 * np.sum(PV * PV.T) + 4 * tau2 * np.sum(PV * P) + 2 * tau2**2 * np.sum(P * P))
        )
        return tau2, se
    raise AssertionError(method)  # pragma: no cover


def _tau2_qprofile(
    y: NDArray[np.float64], v: NDArray[np.float64], X: NDArray[np.float64], level: float
) -> tuple[float, float]:
    """Q-profile confidence interval for tau2 (Viechtbauer 2007), as metafor's ``confint``."""
    from scipy import special  # scipy.stats' chi2.isf and chi2.ppf, without importing it

    k, p = X.shape
    alpha = 1.0 - level
    crit_u = float(special.chdtri(k - p, alpha / 2))
    crit_l = float(2 * special.gammaincinv((k - p) / 2, alpha / 2))
    q0 = _qe(0.0, y, v, X)
    f = lambda t: _qe(t, y, v, X)  # noqa: E731
    lb = 0.0 if q0 < crit_u else _root_decreasing(f, crit_u)
    ub = 0.0 if q0 < crit_l else _root_decreasing(f, crit_l)
    return lb, ub


def _pvalue_2sided(z: NDArray[np.float64], df: int | None) -> NDArray[np.float64]:
    # the functions behind scipy.stats' norm.sf and t.sf (scipy.stats itself takes longer to
    # import than the whole command line's fit)
    from scipy import special

    if df is None:
        return np.asarray(2 * special.ndtr(-np.abs(z)), dtype=float)
    return np.asarray(2 * special.stdtr(df, -np.abs(z)), dtype=float)


def rma(
    yi: ArrayLike | Any,
    vi: ArrayLike | None = None,
    *,
    sei: ArrayLike | None = None,
    mods: Any = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    tau2: float | None = None,
    labels: Sequence[str] | None = None,
    pi_type: str = "z",
) -> FrequentistResult:
    r"""Fit a random-effects (or equal-effects) meta-analysis or meta-regression.

    The model is :math:`y_i = x_i^\top\beta + u_i + e_i` with :math:`u_i \sim N(0, \tau^2)` and
    :math:`e_i \sim N(0, v_i)`. Given :math:`\hat\tau^2`, :math:`\hat\beta = (X^\top W X)^{-1}
    X^\top W y` with :math:`W = \mathrm{diag}(1/(v_i + \hat\tau^2))`. The estimators of
    :math:`\tau^2`, the Knapp-Hartung adjustment, heterogeneity statistics and intervals are
    those of metafor, written out in the module docstring (:mod:`bayesmeta.frequentist`).

    Parameters
    ----------
    yi
        Effect estimates, or an :class:`~bayesmeta.table.EffectTable` holding one outcome (then
        ``vi``/``sei`` come from the table and ``mods`` may name its columns).
    vi, sei
        Sampling variances, or standard errors (give exactly one).
    mods
        Moderators: an array (k x m), a DataFrame, a dict of columns, or column names of the
        table. The intercept is added.
    method
        ``"EE"`` (alias ``"FE"``), ``"DL"``, ``"REML"`` (default), ``"ML"``, ``"PM"``, ``"HE"``,
        ``"SJ"``.
    test
        ``"z"`` (default) or ``"knha"``.
    level
        Confidence level of the intervals, in (0, 1).
    tau2
        Fix :math:`\tau^2` at this value instead of estimating it (RevMan's Mantel-Haenszel
        random-effects uses this).
    labels
        Study labels used in error messages.
    pi_type
        Prediction interval: ``"z"`` (default; metafor 3.8's) or ``"t"`` (:math:`t_{k-2}`,
        Higgins, Thompson & Spiegelhalter 2009, as the Cochrane Handbook and RevMan; NaN with a
        :class:`~bayesmeta.errors.NotEstimableWarning` when k < 3). See
        :meth:`FrequentistResult.predict` for the degrees of freedom in each case.

    Returns
    -------
    FrequentistResult

    Raises
    ------
    DataError
        Non-finite values, non-positive variances, length mismatches; ``|yi| > 1e100`` or
        ``vi`` outside ``[1e-100, 1e100]`` (rescale the data).
    FitError
        More than 5000 estimates (the core's k x k matrices), or an iterative estimator that
        fails to converge.
    ModelSpecError
        Unknown ``method``/``test``/``pi_type``, constant or collinear moderators, more
        coefficients than studies.

    See also: ``metafor::rma.uni``.

    Examples
    --------
    >>> from bayesmeta import datasets, escalc
    >>> bcg = datasets.load_bcg()
    >>> es = escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    >>> res = rma(es.yi, es.vi, method="DL")
    >>> round(float(res.beta[0]), 4), round(res.tau2, 4)
    (-0.7141, 0.3088)
    >>> t = rma(es.yi, es.vi, method="DL", pi_type="t")
    >>> round(res.pi_lb, 4), round(t.pi_lb, 4)
    (-1.8582, -1.9988)
    """
    if hasattr(yi, "data") and hasattr(yi, "outcomes"):
        if vi is not None or sei is not None:
            raise ModelSpecError("give either an EffectTable or yi with vi/sei, not both")
        yi, vi, labels, mods = _table_inputs(yi, mods)
    method = _check_choice("method", "FE" if method == "FE" else method, (*METHODS, "FE"))
    method = "EE" if method == "FE" else method
    test = _check_choice("test", test, TESTS)
    pi_type = _check_choice("pi_type", pi_type, PI_TYPES)
    if not (0 < level < 1):
        raise ModelSpecError(f"level must be in (0, 1), got {level!r}")
    y, v, lab = _inputs(yi, vi, sei, labels)
    X, coef_names = _design(mods, y.size, lab)
    k, p = X.shape
    t2, se_t2, estimable = _tau2_step(y, v, X, method, tau2)
    t2_fit = 0.0 if not np.isfinite(t2) else t2
    coef = _coefficients(y, v, X, t2_fit, method, test, level)
    het = _heterogeneity(y, v, X, t2_fit, equal=method == "EE" and tau2 is None)
    if not estimable and method != "EE" and tau2 is None:
        het.update(I2=math.nan, H2=math.nan)
    if pi_type == "t" and k - p - 1 < 1:
        msg = f"the t prediction interval needs k - p - 1 >= 1 df (k = {k}, p = {p}); it is NaN"
        warnings.warn(msg, NotEstimableWarning, stacklevel=2)
    parms = p + (0 if (method == "EE" or tau2 is not None) else 1)
    return FrequentistResult(
        **coef,
        **het,
        coef_names=coef_names,
        tau2=float(t2),
        se_tau2=float(se_t2),
        R2=_pseudo_r2(y, v, X, method, t2_fit) if p > 1 else None,
        k=k,
        p=p,
        method=method,
        test=test,
        level=level,
        tau2_estimable=estimable,
        fit_stats=_fit_stats(y, v, X, t2_fit, parms),
        yi=y,
        vi=v,
        X=X,
        labels=tuple(lab),
        pi_type=pi_type,
    )


def _inputs(
    yi: Any, vi: Any, sei: Any, labels: Sequence[str] | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], list[str]]:
    """Validate yi, vi (from vi or sei) and labels."""
    y = _as_1d("yi", yi)
    k = y.size
    if k == 0:
        raise DataError("no estimates: yi is empty", column="yi")
    lab = [str(s) for s in labels] if labels is not None else [str(i + 1) for i in range(k)]
    if (vi is None) == (sei is None):
        raise ModelSpecError("give exactly one of vi (sampling variances) or sei (standard errors)")
    vname = "vi" if vi is not None else "sei"
    v = _as_1d("vi", vi) if vi is not None else _as_1d("sei", sei) ** 2
    if v.size != k or len(lab) != k:
        raise DataError(
            f"length mismatch: yi has {k} values, {vname} {v.size}, labels {len(lab)}", column=vname
        )
    _check_finite("yi", y, lab)
    _check_finite(vname, v, lab)
    _check_ranges(y, v, vname, lab)
    return y, v, lab


def _check_ranges(
    y: NDArray[np.float64], v: NDArray[np.float64], vname: str, lab: list[str]
) -> None:
    """Positive variances, values double precision can pool, k small enough for k x k."""
    bad = v <= 0
    if bad.any():
        raise DataError(
            f"{vname} must be > 0 at {_rows_text(bad, lab)}; a study with no sampling variance "
            "cannot be weighted (check the data or the effect-size computation)",
            rows=np.flatnonzero(bad).tolist(),
            column=vname,
        )
    for name, bad in (
        ("yi", np.abs(y) > _MAX_ABS_YI),
        (vname, (v < _VI_RANGE[0]) | (v > _VI_RANGE[1])),
    ):
        if bad.any():
            raise DataError(
                f"{name} is out of the range that can be pooled in double precision "
                f"(|yi| <= {_MAX_ABS_YI:g}, {_VI_RANGE[0]:g} <= vi <= {_VI_RANGE[1]:g}) at "
                f"{_rows_text(bad, lab)}; rescale the data (e.g. change the outcome's units)",
                rows=np.flatnonzero(bad).tolist(),
                column=name,
            )
    if v.max() / v.min() >= _VI_RATIO_WARN:
        warnings.warn(
            "ratio of largest to smallest sampling variance is extremely large; results may be "
            "numerically unstable",
            stacklevel=4,
        )
    k = y.size
    if k > _MAX_K_DENSE:
        raise FitError(
            f"rma works with k x k matrices; k = {k} estimates would need about "
            f"{4 * 8 * k * k / 1e9:.0f} GB. Fit at most {_MAX_K_DENSE} at a time (e.g. one "
            "outcome or subgroup per fit)"
        )


def _tau2_step(
    y: NDArray[np.float64],
    v: NDArray[np.float64],
    X: NDArray[np.float64],
    method: str,
    tau2: float | None,
) -> tuple[float, float, bool]:
    """tau2 (fixed, 0 for EE, NaN for k = 1, else estimated), its SE, and whether estimable."""
    k, p = X.shape
    estimable = method != "EE" and k > p and tau2 is None
    if tau2 is not None:
        if not (np.isfinite(tau2) and tau2 >= 0):
            raise ModelSpecError(f"fixed tau2 must be finite and >= 0, got {tau2!r}")
        return float(tau2), math.nan, estimable
    if method == "EE":
        return 0.0, math.nan, estimable
    if k == 1:
        warnings.warn(
            "a single study: tau2 is not estimable and is reported as NaN; the estimate is the "
            "study's own",
            NotEstimableWarning,
            stacklevel=3,
        )
        return math.nan, math.nan, estimable
    t2, se = _estimate_tau2(y, v, X, method)
    return t2, se, estimable


def _coefficients(
    y: NDArray[np.float64],
    v: NDArray[np.float64],
    X: NDArray[np.float64],
    tau2: float,
    method: str,
    test: str,
    level: float,
) -> dict[str, Any]:
    """beta, its covariance (Knapp-Hartung-scaled), tests, CIs, QM and weights given tau2."""
    k, p = X.shape
    w = 1.0 / (v + tau2)
    beta, vb = _wls(X, y, w)
    dfs: int | None = None
    if test == "knha":
        if method == "EE":
            warnings.warn(
                "Knapp-Hartung is not meant for equal-effects models", UserWarning, stacklevel=3
            )
        dfs = k - p
        vb = float(knha_scale(np.sum(w * (y - X @ beta) ** 2), k - p)) * vb
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = beta / se
    pval = _pvalue_2sided(zval, dfs) if (dfs is None or dfs > 0) else np.full(p, math.nan)
    crit = critical_value(level, dfs)
    return dict(
        beta=beta,
        se=se,
        zval=zval,
        pval=pval,
        ci_lb=beta - crit * se,
        ci_ub=beta + crit * se,
        vb=vb,
        dfs=dfs,
        weights=100 * w / w.sum(),
        **_omnibus(beta, vb, test, k),
    )


def _omnibus(
    beta: NDArray[np.float64], vb: NDArray[np.float64], test: str, k: int
) -> dict[str, Any]:
    """Omnibus test of the moderators (of the intercept alone if there are none)."""
    from scipy import special  # fdtrc, chdtrc: scipy.stats' f.sf and chi2.sf

    p = beta.size
    btt = slice(1, None) if p > 1 else slice(0, 1)
    m = p - 1 if p > 1 else 1
    try:
        QM = float(beta[btt] @ np.linalg.solve(vb[btt, btt], beta[btt]))
    except np.linalg.LinAlgError:
        QM = math.nan
    if test == "knha":
        QM /= m
        QMp = float(special.fdtrc(m, k - p, QM)) if k > p else math.nan
        return dict(QM=QM, QMp=QMp, QMdf=(m, k - p))
    return dict(QM=QM, QMp=float(special.chdtrc(m, QM)), QMdf=(m, None))


def _heterogeneity(
    y: NDArray[np.float64],
    v: NDArray[np.float64],
    X: NDArray[np.float64],
    tau2: float,
    *,
    equal: bool,
) -> dict[str, Any]:
    """QE, its p-value, I2 and H2 (from Q for an equal-effects fit)."""
    from scipy import special  # chdtrc: scipy.stats' chi2.sf

    k, p = X.shape
    if k <= p:
        return dict(QE=0.0, QEp=1.0, I2=0.0, H2=1.0)
    mom = fe_moments(y, v, None if p == 1 else X)
    QE = max(0.0, float(mom.QE[0]))
    vt = (k - p) / float(mom.trP[0])
    I2, H2 = i2_h2_from_q(QE, k - p) if equal else i2_h2(tau2, vt)
    return dict(QE=QE, QEp=float(special.chdtrc(k - p, QE)), I2=float(I2), H2=float(H2))


def _qprofile_intervals(
    y: NDArray[np.float64],
    v: NDArray[np.float64],
    X: NDArray[np.float64],
    level: float,
    estimable: bool,
) -> dict[str, float]:
    """Q-profile CI of tau2 and the I2, H2 at its bounds (NaN when tau2 is not estimated)."""
    if not estimable:  # EE, a fixed tau2, or k <= p
        return dict.fromkeys(
            ("tau2_ci_lb", "tau2_ci_ub", "I2_ci_lb", "I2_ci_ub", "H2_ci_lb", "H2_ci_ub"), math.nan
        )
    lb, ub = _tau2_qprofile(y, v, X, level)
    vt = typical_variance(v, X[:, 1:] if X.shape[1] > 1 else None)
    I2s, H2s = i2_h2(np.array([lb, ub]), vt)
    return dict(
        tau2_ci_lb=float(lb),
        tau2_ci_ub=float(ub),
        I2_ci_lb=float(I2s[0]),
        I2_ci_ub=float(I2s[1]),
        H2_ci_lb=float(H2s[0]),
        H2_ci_ub=float(H2s[1]),
    )


def _fit_stats(
    y: NDArray[np.float64], v: NDArray[np.float64], X: NDArray[np.float64], tau2: float, parms: int
) -> dict[str, dict[str, float]]:
    """Compute metafor's fitstats: ML and REML log-likelihood, deviance, AIC, BIC, AICc."""
    k, p = X.shape
    ll_ml, ll_reml = _loglik(y, v, X, tau2)
    if k > p:
        # saturated log-likelihood: sum of scipy.stats' norm.logpdf(y, y, sqrt(v)), the normal
        # density at its mean, as scipy computes it (without importing scipy.stats)
        sat = -np.log(np.sqrt(2 * np.pi)) - np.log(np.sqrt(v))
        dev_ml = -2 * (ll_ml - float(np.sum(sat)))
    else:
        dev_ml = 0.0
    return {
        "ML": _ic(ll_ml, dev_ml, parms, k),
        "REML": _ic(ll_reml, -2 * ll_reml, parms, k - p),
    }


def _ic(ll: float, dev: float, parms: int, n: int) -> dict[str, float]:
    nn = max(n, parms + 2)
    return {
        "ll": ll,
        "dev": dev,
        "AIC": -2 * ll + 2 * parms,
        "BIC": -2 * ll + parms * math.log(n) if n > 0 else math.nan,
        "AICc": -2 * ll + 2 * parms * nn / (nn - parms - 1),
    }


def _pseudo_r2(
    y: NDArray[np.float64],
    v: NDArray[np.float64],
    X: NDArray[np.float64],
    method: str,
    tau2: float,
) -> float:
    """Metafor's R2: proportional reduction in tau2 (RE), weighted adjusted R2 of lm (EE)."""
    k, p = X.shape
    if method == "EE":
        if np.var(y) == 0:
            return 0.0
        w = 1.0 / (v + tau2)
        b, _ = _wls(X, y, w)
        ybar = np.sum(w * y) / w.sum()
        rss = np.sum(w * (y - X @ b) ** 2)
        tss = np.sum(w * (y - ybar) ** 2)
        r2 = 1 - rss / tss
        adj = 1 - (1 - r2) * (k - 1) / (k - p)
        return float(max(0.0, 100 * adj))
    Xi = np.ones((k, 1))
    tau2_re, _ = _estimate_tau2(y, v, Xi, method)
    if tau2_re == 0:
        return 0.0
    return float(max(0.0, 100 * (tau2_re - tau2) / tau2_re))


def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ModelSpecError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
    return value


# --------------------------------------------------------------------------------------------
# subgroups


@dataclass(frozen=True)
class SubgroupResult:
    r"""Per-subgroup fits and RevMan's test for subgroup differences.

    Attributes
    ----------
    groups
        Subgroup label -> :class:`FrequentistResult` fitted within that subgroup.
    Q_between, df, pval
        Chi-square test of the subgroup estimates against their inverse-variance weighted
        mean (RevMan 5's "test for subgroup differences").
    I2_between
        :math:`\\max(0, (Q - df)/Q)` in percent, as RevMan prints it.

    See also: RevMan 5, "Test for subgroup differences".

    Examples
    --------
    >>> sg = subgroup_analysis([0.1, 0.2, 0.5, 0.7], [0.02] * 4, ["a", "a", "b", "b"])
    >>> sorted(sg.groups), sg.df, round(sg.pval, 4)
    (['a', 'b'], 1, 0.0015)
    """

    groups: dict[str, FrequentistResult]
    Q_between: float
    df: int
    pval: float
    I2_between: float

    def to_frame(self) -> pd.DataFrame:
        """One row per subgroup: k, estimate, se, CI, tau2, I2, QE.

        Examples
        --------
        >>> sg = subgroup_analysis([0.1, 0.2, 0.5, 0.7], [0.02] * 4, ["a", "a", "b", "b"])
        >>> list(sg.to_frame().index)
        ['a', 'b']
        """
        import pandas as pd

        rows = {
            g: {
                "k": r.k,
                "estimate": float(r.beta[0]),
                "se": float(r.se[0]),
                "ci_lb": float(r.ci_lb[0]),
                "ci_ub": float(r.ci_ub[0]),
                "tau2": r.tau2,
                "I2": r.I2,
                "QE": r.QE,
            }
            for g, r in self.groups.items()
        }
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("subgroup")


def subgroup_analysis(
    yi: ArrayLike,
    vi: ArrayLike,
    groups: ArrayLike,
    *,
    method: str = "DL",
    test: str = "z",
    level: float = 0.95,
) -> SubgroupResult:
    r"""Fit the model within each subgroup and test for subgroup differences as RevMan 5 does.

    With subgroup estimates :math:`\hat\mu_j` and standard errors :math:`s_j`,
    :math:`Q = \sum_j w_j(\hat\mu_j - \bar\mu)^2`, :math:`w_j = 1/s_j^2`,
    :math:`\bar\mu = \sum w_j\hat\mu_j/\sum w_j`, referred to :math:`\chi^2_{g-1}`.
    Each subgroup is fitted with ``method`` (RevMan: ``"DL"``); a single-study subgroup gives
    that study's estimate.

    Parameters
    ----------
    yi, vi
        Effect estimates and sampling variances.
    groups
        Subgroup label of each estimate (at least two distinct labels).
    method, test, level
        As in :func:`rma`.

    Returns
    -------
    SubgroupResult

    See also: ``metafor::rma(yi, vi, subset = ...)`` per group, then ``rma(est, sei = se,
    method = "EE")`` on the estimates.

    Examples
    --------
    >>> sg = subgroup_analysis([0.1, 0.2, 0.5, 0.7], [0.02] * 4, ["a", "a", "b", "b"])
    >>> round(sg.Q_between, 3), sg.df
    (10.125, 1)
    """
    from scipy import stats

    y = _as_1d("yi", yi)
    v = _as_1d("vi", vi)
    g = np.asarray(groups).astype(str)
    if g.shape[0] != y.size or v.size != y.size:
        raise DataError(
            f"length mismatch: yi {y.size}, vi {v.size}, groups {g.shape[0]}", column="groups"
        )
    levels = list(dict.fromkeys(g.tolist()))
    if len(levels) < 2:
        raise ModelSpecError(
            f"subgroup analysis needs at least two subgroups; found only {levels!r}"
        )
    fits: dict[str, FrequentistResult] = {}
    for lv in levels:
        idx = g == lv
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotEstimableWarning)
            fits[lv] = rma(y[idx], v[idx], method=method, test=test, level=level)
    est = np.array([float(r.beta[0]) for r in fits.values()])
    wj = 1.0 / np.array([float(r.se[0]) ** 2 for r in fits.values()])
    mbar = np.sum(wj * est) / wj.sum()
    Q = float(np.sum(wj * (est - mbar) ** 2))
    df = len(levels) - 1
    return SubgroupResult(
        groups=fits,
        Q_between=Q,
        df=df,
        pval=float(stats.chi2.sf(Q, df)),
        I2_between=max(0.0, 100 * (Q - df) / Q) if Q > 0 else 0.0,
    )


# --------------------------------------------------------------------------------------------
# Mantel-Haenszel


@dataclass(frozen=True)
class MantelHaenszelResult:
    r"""Mantel-Haenszel pooled estimate, heterogeneity, and RevMan 5's DL random-effects.

    Ratio measures are on the log scale (``beta`` is log OR or log RR).

    Attributes
    ----------
    measure
        ``"OR"``, ``"RR"`` or ``"RD"``.
    beta, se, zval, pval, ci_lb, ci_ub
        The Mantel-Haenszel (fixed-effect) estimate.
    QE, QEp, I2, H2, k_yi
        Cochran's Q around the MH estimate with inverse-variance weights of the study-level
        estimates (studies with an estimable effect only).
    random
        The DL random-effects fit RevMan 5 reports as "M-H, Random" (``tau2`` from ``QE``,
        inverse-variance weights :math:`1/(v_i + \\tau^2)`).
    tarone, tarone_p
        Tarone's test of homogeneity of ORs (OR only).

    Examples
    --------
    >>> res = rma_mh([4, 6, 3], [119, 300, 228], [11, 29, 11], [128, 274, 209], measure="OR")
    >>> res.measure, res.k, round(res.random.tau2, 4) >= 0
    ('OR', 3, True)
    """

    measure: str
    beta: float
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    QE: float
    QEp: float
    I2: float
    H2: float
    k: int
    k_yi: int
    random: FrequentistResult
    tarone: float
    tarone_p: float
    yi: NDArray[np.float64] = field(repr=False)
    vi: NDArray[np.float64] = field(repr=False)


def rma_mh(
    ai: ArrayLike,
    bi: ArrayLike | None = None,
    ci: ArrayLike | None = None,
    di: ArrayLike | None = None,
    *,
    n1i: ArrayLike | None = None,
    n2i: ArrayLike | None = None,
    measure: str = "OR",
    convention: str = "metafor",
    drop00: bool = True,
    level: float = 0.95,
    labels: Sequence[str] | None = None,
) -> MantelHaenszelResult:
    r"""Mantel-Haenszel meta-analysis of 2x2 tables, with RevMan 5's DL random effects.

    The pooled MH estimate uses the raw counts (no continuity correction): for the OR
    :math:`\sum a_id_i/n_i / \sum b_ic_i/n_i` with the Robins-Breslow-Greenland variance; for the
    RR :math:`\sum a_in_{2i}/n_i / \sum c_in_{1i}/n_i` with the Greenland-Robins variance; for the
    RD the Sato-Greenland-Robins variance. Heterogeneity uses the study-level estimates with 1/2
    added to every cell of a table with a zero cell and double-zero tables dropped
    (metafor's ``rma.mh`` defaults), :math:`Q = \sum (y_i - \hat\theta_{MH})^2/v_i`. RevMan's
    random effects then take :math:`\hat\tau^2 = \max(0, (Q - (k-1))/(\sum w - \sum w^2/\sum w))`
    and pool the study-level estimates with weights :math:`1/(v_i + \hat\tau^2)`.

    ``convention="revman"`` follows RevMan 5 (as R's ``meta::metabin`` with ``MH.exact = FALSE``):
    for OR and RR, tables with no events (or only events) in both arms are left out entirely and
    1/2 is added to every cell of a table with a zero cell inside the MH sums too; for RD the
    variance is Greenland & Robins' (1985), :math:`\sum (a_ib_in_{2i}^3 + c_id_in_{1i}^3) /
    (n_{1i}n_{2i}n_i^2) / (\sum n_{1i}n_{2i}/n_i)^2`, with no correction.

    Parameters
    ----------
    ai, bi, ci, di
        Events and non-events in the treatment arm (ai, bi) and control arm (ci, di). Instead of
        ``bi``/``di`` give the arm totals ``n1i``/``n2i``.
    measure
        ``"OR"``, ``"RR"`` or ``"RD"``.
    convention
        ``"metafor"`` (``rma.mh`` defaults) or ``"revman"`` (RevMan 5), see above.
    drop00
        metafor convention only: leave tables with no events (or only events) in both arms out
        of the study-level estimates used for heterogeneity and random effects (the default).
        The MH estimate itself uses every table.
    level
        Confidence level.
    labels
        Study labels used in error messages.

    Returns
    -------
    MantelHaenszelResult

    See also: ``metafor::rma.mh``; RevMan 5 "M-H, Random".

    Examples
    --------
    >>> res = rma_mh([4, 6, 3], [119, 300, 228], [11, 29, 11], [128, 274, 209], measure="RR")
    >>> round(res.beta, 4)
    -1.3509
    """
    from scipy import stats

    measure = _check_choice("measure", measure, ("OR", "RR", "RD"))
    convention = _check_choice("convention", convention, ("metafor", "revman"))
    revman = convention == "revman"
    es = _mh_study_estimates(ai, bi, ci, di, n1i, n2i, measure, convention, drop00, labels)
    a, b, c, d = _mh_cells(ai, bi, ci, di, n1i, n2i, measure, revman)
    beta, se = _mh_pooled(a, b, c, d, measure, revman)
    tarone, tarone_p = (
        _tarone(a, c, a + b, c + d, math.exp(beta)) if measure == "OR" else (math.nan, math.nan)
    )
    ok = np.isfinite(es.yi)
    yi, vi = es.yi[ok], es.vi[ok]
    het, tau2 = _mh_heterogeneity(yi, vi, beta)
    lab = [str(s) for s in labels] if labels is not None else [str(i + 1) for i in range(ok.size)]
    random = rma(
        yi,
        vi,
        method="DL",
        tau2=tau2,
        level=level,
        labels=[x for x, o in zip(lab, ok, strict=True) if o],
    )
    z_crit = critical_value(level)
    return MantelHaenszelResult(
        measure=measure,
        beta=beta,
        se=se,
        zval=beta / se,
        pval=float(2 * stats.norm.sf(abs(beta / se))),
        ci_lb=beta - z_crit * se,
        ci_ub=beta + z_crit * se,
        **het,
        k=int(a.size),
        k_yi=int(ok.sum()),
        random=random,
        tarone=tarone,
        tarone_p=tarone_p,
        yi=yi,
        vi=vi,
    )


def _mh_study_estimates(
    ai: ArrayLike,
    bi: ArrayLike | None,
    ci: ArrayLike | None,
    di: ArrayLike | None,
    n1i: ArrayLike | None,
    n2i: ArrayLike | None,
    measure: str,
    convention: str,
    drop00: bool,
    labels: Sequence[str] | None,
) -> Any:
    """Study-level estimates for heterogeneity (and validation of the counts)."""
    from bayesmeta.effect_sizes import escalc

    revman = convention == "revman"
    return escalc(
        measure,
        ai=ai,
        bi=bi,
        ci=ci,
        di=di,
        n1i=n1i,
        n2i=n2i,
        convention=convention,
        add=None if revman else 0.5,
        to=None if revman else "only0",
        drop00=None if revman else drop00,
        labels=labels,
    )


def _mh_cells(
    ai: ArrayLike,
    bi: ArrayLike | None,
    ci: ArrayLike | None,
    di: ArrayLike | None,
    n1i: ArrayLike | None,
    n2i: ArrayLike | None,
    measure: str,
    revman: bool,
) -> tuple[NDArray[np.float64], ...]:
    """Return the cells the MH sums use (RevMan: uninformative tables out, 1/2 added to zeros)."""
    a = _as_1d("ai", ai)
    c = _as_1d("ci", ci if ci is not None else [])
    b = _as_1d("bi", bi) if bi is not None else _as_1d("n1i", n1i if n1i is not None else []) - a
    d = _as_1d("di", di) if di is not None else _as_1d("n2i", n2i if n2i is not None else []) - c
    if revman and measure != "RD":
        keep = ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
        a, b, c, d = a[keep], b[keep], c[keep], d[keep]
        cc = 0.5 * ((a == 0) | (b == 0) | (c == 0) | (d == 0))
        a, b, c, d = a + cc, b + cc, c + cc, d + cc
    return a, b, c, d


def _mh_pooled(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    d: NDArray[np.float64],
    measure: str,
    revman: bool,
) -> tuple[float, float]:
    """MH estimate and its standard error (RBG for OR, GR for RR, SGR or GR for RD)."""
    n1, n2 = a + b, c + d
    N = n1 + n2
    if measure == "OR":
        P, Q = (a + d) / N, (b + c) / N
        Ri, Si = a * d / N, b * c / N
        R, S = Ri.sum(), Si.sum()
        if R == 0 or S == 0:
            raise FitError(
                "the MH odds ratio is not estimable: no events in one arm of every table"
            )
        var = 0.5 * (
            np.sum(P * Ri) / R**2 + np.sum(P * Si + Q * Ri) / (R * S) + np.sum(Q * Si) / S**2
        )
        return math.log(R / S), math.sqrt(var)
    if measure == "RR":
        R, S = np.sum(a * n2 / N), np.sum(c * n1 / N)
        if a.sum() == 0 or c.sum() == 0:
            raise FitError("the MH risk ratio is not estimable: no events in one arm overall")
        var = np.sum(n1 / N * n2 / N * (a + c) - a / N * c) / (R * S)
        return math.log(R / S), math.sqrt(var)
    den = np.sum(n1 * n2 / N)
    beta = float(np.sum(a * n2 / N - c * n1 / N) / den)
    if revman:
        return beta, math.sqrt(
            float(np.sum((a * b * n2**3 + c * d * n1**3) / (n1 * n2 * N**2)))
        ) / den
    var = (
        beta * np.sum(c * (n1 / N) ** 2 - a * (n2 / N) ** 2 + n1 / N * n2 / N * (n2 - n1) / 2)
        + np.sum(a * (n2 - c) / N + c * (n1 - a) / N) / 2
    ) / den**2
    return beta, math.sqrt(var)


def _mh_heterogeneity(
    yi: NDArray[np.float64], vi: NDArray[np.float64], beta: float
) -> tuple[dict[str, float], float]:
    """Q around the MH estimate, I2, H2, and RevMan's DL tau2 from that Q."""
    from scipy import stats

    k = yi.size
    if k <= 1:
        return dict(QE=0.0, QEp=1.0, I2=0.0, H2=1.0), 0.0
    QE = max(0.0, float(np.sum((yi - beta) ** 2 / vi)))
    I2, H2 = i2_h2_from_q(QE, k - 1)
    mom = fe_moments(yi, vi)
    tau2, _ = dl_tau2(mom._replace(QE=np.array([QE])), k - 1)
    het = dict(QE=QE, QEp=float(stats.chi2.sf(QE, k - 1)), I2=float(I2), H2=float(H2))
    return het, float(tau2[0])


def _tarone(
    a: NDArray[np.float64],
    c: NDArray[np.float64],
    n1: NDArray[np.float64],
    n2: NDArray[np.float64],
    psi: float,
) -> tuple[float, float]:
    """Tarone's (1985) corrected Breslow-Day test of homogeneous ORs, as metafor's rma.mh."""
    from scipy import stats

    N = n1 + n2
    xt = a + c
    yt = N - xt
    if psi == 1:
        N11 = n1 / N * xt
    else:
        A = psi * (n1 + xt) + (n2 - xt)
        B = np.sqrt(A**2 - 4 * n1 * xt * psi * (psi - 1))
        N11 = (A - B) / (2 * (psi - 1))
    pos = (N11 > 0) & (xt > 0) & (yt > 0)
    kpos = int(pos.sum())
    if kpos < 2:
        return math.nan, math.nan
    N11, ap = N11[pos], a[pos]
    N12 = n1[pos] - N11
    N21 = xt[pos] - N11
    N22 = N11 - n1[pos] - xt[pos] + N[pos]
    vinv = 1 / N11 + 1 / N12 + 1 / N21 + 1 / N22
    bd = max(0.0, float(np.sum((ap - N11) ** 2 * vinv)))
    ta = max(0.0, bd - float(np.sum(ap - N11)) ** 2 / float(np.sum(1 / vinv)))
    return ta, float(stats.chi2.sf(ta, kpos - 1))
