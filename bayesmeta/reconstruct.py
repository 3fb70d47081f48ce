r"""A calibrated reconstruction of White et al. (2020): SIMULATED trials that give its numbers.

The trial-level data of White et al. (2020) are not available to us. :func:`reconstruct_review`
builds SIMULATED trial-level data, in the shape of an extraction sheet, chosen so that the
package's DerSimonian-Laird analysis (RevMan 5 conventions: Hedges' g with the approximate
correction and RevMan's variance) reproduces, at the paper's rounding, every published number
attached to a named outcome (:data:`TARGETS`). The numbers are **not** the trials' results and
must never be presented as such: every study label ends in "(simulated)".

The search, deterministic from ``seed``:

1. **Design** (fixed, :data:`DESIGN`): 19 trials, 14 contributing data; each trial's peer role,
   level of organisational support, longest follow-up and the outcomes it reports, chosen so that
   the published k, follow-up ranges and subgroup sizes hold. Trial 01 has the size (48/48), role
   (substitute), support (higher) and follow-up (24 months) of the first row of the paper's
   Table 1 and reports the outcomes that row lists; Trial 02 those of the second row (10/51,
   add-on, higher, 6 months). Their outcome data are simulated like all the others.
2. **Social network support** (the complete published rows): the four trials' SMDs
   :math:`y_i` and the analysed sizes of three of them are solved for (least squares on the
   distance to the paper's rounding intervals, 0.001 inside each edge) so that DL gives the overall
   0.09 (-0.25, 0.42) with I² 67%, the lower-support trial 0.50 (0.14, 0.87), the higher-support
   subgroup -0.04 (-0.37, 0.28), and add-on trials a larger pooled SMD than substitute ones with
   p < 0.05 in RevMan's test for subgroup differences. Starting points come from ``seed``.
3. **Sizes**: arms are randomised sizes times a per-trial retention (``seed``); the analysed
   totals of empowerment (519), satisfaction with services (286) and days in hospital (453) are
   hit exactly; the 5 non-contributing trials take the rest of the 3329 participants.
4. **Other outcomes**: trial SMDs (log odds ratios for hospitalised) are
   :math:`a + b z_i` with :math:`z_i` standard normal (``seed``), :math:`a, b` solved so that DL
   gives a stated estimate and I² (:data:`OUTCOME_TARGETS`): positive with a CI above 0 for
   recovery and empowerment (the abstract's "modest positive effect"), CIs covering 0 for
   symptoms and service use ("no effect").
5. **Arms**: means and SDs are backed out of each SMD with plausible SDs and control means on the
   outcome's scale, rounded to two decimals as an extraction sheet carries them; event counts for
   hospitalised are whole numbers. Social network support's control means are then nudged by at
   most 0.02 to keep every target away from a rounding edge.
6. **Check**: :func:`reproduction_check` must find every target reproduced under both the RevMan
   and the metafor effect-size conventions, or the next draw of the seed's stream is tried.

>>> sheet = reconstruct_review()
>>> sheet["study"].nunique(), sheet["outcome"].nunique(), len(sheet)
(14, 11, 46)
>>> check = reproduction_check(sheet)
>>> bool(check["reproduced"].all())
True
>>> sn = check[(check["outcome"] == "social_network_support") & (check["subgroup"] == "all")]
>>> for row in sn.itertuples():
...     print(f"{row.quantity:<10} published {row.published:g}, re-computed {row.recomputed:.4f}")
k          published 4, re-computed 4.0000
estimate   published 0.09, re-computed 0.0888
ci_lb      published -0.25, re-computed -0.2467
ci_ub      published 0.42, re-computed 0.4242
I2_percent published 67, re-computed 67.4386
QEp        published 0.05, re-computed 0.0266
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from bayesmeta.errors import FitError, NotEstimableWarning
from bayesmeta.plan import load_plan
from bayesmeta.sheet import template_columns

__all__ = [
    "DESIGN",
    "ORG_INDICATORS",
    "OUTCOME_TARGETS",
    "PEER_ROLES",
    "RECONSTRUCTION_SEED",
    "TARGETS",
    "TRIAL_COLUMNS",
    "TrialDesign",
    "bundled_trials",
    "reconstruct_review",
    "reconstruct_trials",
    "reproduction_check",
    "trials_records",
]

#: The peer-support review's three organisational-support indicators (0/1 sheet columns; the
#: bundled plan ``load_plan("peer_support")`` declares them). Named neutrally: the exact
#: wording of the review's indicators is not available to us.
ORG_INDICATORS: tuple[str, ...] = ("org_support_1", "org_support_2", "org_support_3")
#: Peer roles: in place of another worker, or in addition to care as usual.
PEER_ROLES: tuple[str, ...] = ("substitute", "add-on")

#: The default seed: the review's publication date (BMC Psychiatry, 3 November 2020).
RECONSTRUCTION_SEED = 20201103

#: The generating call of the bundled ``peer_support_simulated.csv``.
GENERATING_CALL = "bayesmeta.reconstruct.reconstruct_review(seed=20201103)"

_LABEL = "Trial {:02d} (simulated)"
_NOTE = (
    "SIMULATED data: a calibrated reconstruction with the structure of White et al. (2020), "
    "chosen by bayesmeta.reconstruct so that its DL analysis reproduces the published numbers; "
    "not the trials' results."
)
_Z = float(stats.norm.ppf(0.975))

SNS = "social_network_support"
_QOL = "quality_of_life"
_EMP = "empowerment"
_REC = "recovery"
_SAT = "satisfaction_with_services"
_WAC = "working_alliance_client"
_WAS = "working_alliance_staff"
_SYM = "general_psychiatric_symptoms"
_DEP = "depression_anxiety"
_DAYS = "days_in_hospital"
_HOSP = "hospitalised"


@dataclass(frozen=True)
class TrialDesign:
    """The fixed design of one reconstructed trial.

    Attributes
    ----------
    peer_role, org_support_level
        ``"substitute"``/``"add-on"`` and ``"higher"``/``"lower"``.
    follow_up_months
        Longest follow-up.
    outcomes
        Outcomes the trial contributes data to (empty: it contributes none).
    randomised
        Randomised arm sizes (peer support, control) when fixed by the published Table 1.
    source
        Where the fixed characteristics come from.

    Examples
    --------
    >>> DESIGN[0].randomised, DESIGN[0].peer_role
    ((48, 48), 'substitute')
    """

    peer_role: str
    org_support_level: str
    follow_up_months: int
    outcomes: tuple[str, ...]
    randomised: tuple[int, int] | None = None
    source: str = ""


#: The 19 trials: 14 contributing (Trial 01 to 14), 5 not (Trial 15 to 19).
DESIGN: tuple[TrialDesign, ...] = (
    TrialDesign(
        "substitute",
        "higher",
        24,
        (_QOL, SNS, _WAC, _WAS, _SYM, _DAYS),
        (48, 48),
        "white2020_studies row 1 (ref 23): sizes, role, support, follow-up, outcomes",
    ),
    TrialDesign(
        "add-on",
        "higher",
        6,
        (_QOL,),
        (10, 51),
        "white2020_studies row 2 (ref 28): sizes, role, support, follow-up",
    ),
    TrialDesign("add-on", "lower", 12, (SNS, _REC, _SYM, _HOSP)),
    TrialDesign("add-on", "higher", 12, (SNS, _REC, _EMP, _DEP)),
    TrialDesign("add-on", "higher", 9, (SNS, _QOL, _SYM, _DAYS)),
    TrialDesign("substitute", "lower", 18, (_SYM, _DAYS, _HOSP, _WAC, _WAS)),
    TrialDesign("add-on", "lower", 6, (_EMP, _REC, _SAT)),
    TrialDesign("add-on", "higher", 12, (_EMP, _QOL, _DEP, _HOSP)),
    TrialDesign("substitute", "higher", 9, (_EMP, _REC, _SAT)),
    TrialDesign("add-on", "lower", 12, (_REC, _DEP, _SYM)),
    TrialDesign("substitute", "lower", 24, (_DAYS, _HOSP, _SYM)),
    TrialDesign("add-on", "higher", 18, (_DAYS, _HOSP, _QOL)),
    TrialDesign("add-on", "lower", 6, (_DEP, _SYM)),
    TrialDesign("substitute", "lower", 12, (_QOL,)),
    TrialDesign("substitute", "higher", 12, ()),
    TrialDesign("add-on", "lower", 6, ()),
    TrialDesign("add-on", "higher", 24, ()),
    TrialDesign("substitute", "lower", 9, ()),
    TrialDesign("add-on", "higher", 18, ()),
)

#: Outcomes without a published estimate: (DL estimate, I² in %, claim) the search aims at.
#: ``"positive"``: CI above 0 (the abstract's modest positive effect); ``"null"``: CI covers 0
#: (no effect); ``""``: no published claim (a stated default, not checked).
OUTCOME_TARGETS: dict[str, tuple[float, float, str]] = {
    _QOL: (0.05, 25.0, ""),
    _EMP: (0.24, 15.0, "positive"),
    _REC: (0.21, 20.0, "positive"),
    _SAT: (0.10, 0.0, ""),
    _WAC: (0.10, 0.0, ""),
    _WAS: (0.05, 0.0, ""),
    _SYM: (-0.03, 30.0, "null"),
    _DEP: (0.02, 20.0, "null"),
    _DAYS: (-0.05, 30.0, "null"),
    _HOSP: (-0.05, 20.0, "null"),
}

#: Analysed participants published for an outcome (sum of both arms over its trials).
_N_TARGETS = {_EMP: 519, _SAT: 286, _DAYS: 453}

# Scales (label, control mean, SD, bounds) of the continuous outcomes; as bayesmeta.simulate.
_SCALES: dict[str, tuple[str, float, float, tuple[float | None, float | None]]] = {
    _QOL: ("mean item score, 1-7 (MANSA-like)", 4.3, 0.9, (1, 7)),
    SNS: ("social network size, persons", 9.0, 5.0, (0, None)),
    _EMP: ("empowerment scale total, 28-112", 77.0, 9.0, (28, 112)),
    _REC: ("recovery questionnaire total, 0-60 (QPR-like)", 38.0, 11.0, (0, 60)),
    _SAT: ("CSQ-8 total, 8-32", 24.0, 5.0, (8, 32)),
    _WAC: ("WAI short form total, 12-84", 62.0, 12.0, (12, 84)),
    _WAS: ("WAI short form total, 12-84", 60.0, 10.0, (12, 84)),
    _SYM: ("BPRS-18 total, 18-126", 40.0, 11.0, (18, 126)),
    _DEP: ("HADS total, 0-42", 16.0, 8.0, (0, 42)),
    _DAYS: ("days in hospital during follow-up", 20.0, 25.0, (0, None)),
}

#: Published numbers the reconstruction reproduces: (outcome, subgroup, quantity, value, source).
#: ``subgroup`` is ``"all"``, ``"lower"``/``"higher"`` (organisational support) or
#: ``"add-on"``/``"substitute"`` (peer role). Quantities: ``k``, ``n_participants``,
#: ``estimate``/``ci_lb``/``ci_ub`` (two decimals), ``I2_percent`` (whole percent), ``QEp`` and
#: ``p_between`` (below the value), ``ci_lb_above``/``ci_ub_above`` (above the value: a CI above,
#: or covering, 0), ``follow_up_min``/``follow_up_max`` (months), and trial counts.
TARGETS: tuple[tuple[str, str, str, float, str], ...] = (
    (SNS, "all", "k", 4, "white2020_published"),
    (SNS, "all", "estimate", 0.09, "white2020_published"),
    (SNS, "all", "ci_lb", -0.25, "white2020_published"),
    (SNS, "all", "ci_ub", 0.42, "white2020_published"),
    (SNS, "all", "I2_percent", 67, "white2020_published"),
    (SNS, "all", "QEp", 0.05, "white2020_published: heterogeneity significant by chi-squared"),
    (SNS, "lower", "k", 1, "white2020_published"),
    (SNS, "lower", "estimate", 0.50, "white2020_published"),
    (SNS, "lower", "ci_lb", 0.14, "white2020_published"),
    (SNS, "lower", "ci_ub", 0.87, "white2020_published"),
    (SNS, "higher", "k", 3, "white2020_published"),
    (SNS, "higher", "estimate", -0.04, "white2020_published"),
    (SNS, "higher", "ci_lb", -0.37, "white2020_published"),
    (SNS, "higher", "ci_ub", 0.28, "white2020_published"),
    (SNS, "add-on", "estimate_minus_substitute", 0.0, "findings: add-on more likely to increase"),
    (SNS, "add-on", "p_between", 0.05, "findings: 'significantly' (test for subgroup differences)"),
    (_EMP, "all", "k", 4, "white2020_published"),
    (_EMP, "all", "n_participants", 519, "white2020_published"),
    (_EMP, "all", "follow_up_min", 6, "white2020_published"),
    (_EMP, "all", "follow_up_max", 12, "white2020_published"),
    (_EMP, "all", "estimate_above", 0.0, "abstract: modest positive effect"),
    (_EMP, "all", "ci_lb_above", 0.0, "abstract: modest positive effect (read as CI above 0)"),
    (_REC, "all", "estimate_above", 0.0, "abstract: modest positive effect"),
    (_REC, "all", "ci_lb_above", 0.0, "abstract: modest positive effect (read as CI above 0)"),
    (_SAT, "all", "k", 2, "white2020_published"),
    (_SAT, "all", "n_participants", 286, "white2020_published"),
    (_HOSP, "all", "k", 5, "white2020_published"),
    (_HOSP, "all", "covers_null", 1, "abstract: no effect on service use"),
    (_DAYS, "all", "k", 5, "white2020_published unnamed_B (taken to be days in hospital)"),
    (_DAYS, "all", "n_participants", 453, "white2020_published unnamed_B"),
    (_DAYS, "all", "follow_up_min", 9, "white2020_published unnamed_B"),
    (_DAYS, "all", "follow_up_max", 24, "white2020_published unnamed_B"),
    (_DAYS, "all", "covers_null", 1, "abstract: no effect on service use"),
    (_SYM, "all", "covers_null", 1, "abstract: no effect on clinical symptoms"),
    (_DEP, "all", "covers_null", 1, "abstract: no effect on clinical symptoms"),
    ("review", "all", "n_trials", 19, "white2020_review"),
    ("review", "all", "n_participants", 3329, "white2020_review"),
    ("review", "all", "n_trials_meta_analysis", 14, "white2020_review"),
    ("review", "all", "n_outcomes", 11, "white2020_review"),
)

# Published values rounded to these decimals; None: compared exactly or by a one-sided rule.
_DECIMALS = {"estimate": 2, "ci_lb": 2, "ci_ub": 2, "I2_percent": 0}


# ------------------------------------------------------------------------------ numpy cores


def _dl(y: np.ndarray, v: np.ndarray) -> tuple[float, float, float, float]:
    """DerSimonian-Laird: (estimate, se, I2 in %, Q)."""
    w = 1 / v
    k = y.size
    m = float(np.sum(w * y) / w.sum())
    q = float(np.sum(w * (y - m) ** 2))
    if k == 1:
        return float(y[0]), float(np.sqrt(v[0])), 0.0, 0.0
    c = w.sum() - np.sum(w**2) / w.sum()
    t2 = max(0.0, (q - (k - 1)) / c)
    ws = 1 / (v + t2)
    i2 = max(0.0, (q - (k - 1)) / q) * 100 if q > 0 else 0.0
    return float(np.sum(ws * y) / ws.sum()), float(ws.sum() ** -0.5), i2, q


def _v_smd(g: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """RevMan 5's variance of Hedges' g."""
    n = n1 + n2
    return n / (n1 * n2) + g**2 / (2 * (n - 3.94))


def _interval(value: float, decimals: int = 2) -> tuple[float, float]:
    half = 0.5 * 10.0**-decimals
    return value - half, value + half


def _hinge(x: float, iv: tuple[float, float], margin: float) -> float:
    return max(0.0, iv[0] + margin - x) + max(0.0, x - (iv[1] - margin))


# ------------------------------------------------------------------------------ SNS solve


_SNS_ROWS = (0, 2, 3, 4)  # Trial 01 (substitute, higher), 03 (lower), 04, 05 (add-on, higher)


def _sns_residuals(y: np.ndarray, n1: np.ndarray, n2: np.ndarray, margin: float) -> np.ndarray:
    """Distances (in rounding half-widths) of the SNS DL results outside their targets."""
    v = _v_smd(y, n1, n2)
    lower = np.array([False, True, False, False])
    addon = np.array([False, True, True, True])
    out = []
    for sel, (est, lb, ub) in (
        (np.ones(4, bool), (0.09, -0.25, 0.42)),
        (lower, (0.50, 0.14, 0.87)),
        (~lower, (-0.04, -0.37, 0.28)),
    ):
        m, se, i2, _ = _dl(y[sel], v[sel])
        for x, target in ((m, est), (m - _Z * se, lb), (m + _Z * se, ub)):
            out.append(_hinge(x, _interval(target), margin) / 0.005)
        if sel.all():
            out.append(_hinge(i2, (66.5, 67.5), 100 * margin) / 0.5)
    ma, sa, _, _ = _dl(y[addon], v[addon])
    ms, ss, _, _ = _dl(y[~addon], v[~addon])
    zdiff = (ma - ms) / np.hypot(sa, ss)
    out.append(max(0.0, 2.1 - zdiff))  # add-on larger, p < 0.036
    return np.asarray(out)


# Two regions where solutions lie (found by a wide search from random starts): SMDs of Trials
# 01, 03, 04, 05 and the analysed totals of Trials 03, 04, 05. Starts are jittered around them.
_SNS_BASINS = (
    (-0.36, 0.50, 0.165, -0.055, 119.0, 220.0, 58.0),
    (-0.33, 0.50, -0.08, 0.166, 119.0, 53.0, 226.0),
)


def _solve_sns(
    rng: np.random.Generator, n01: tuple[int, int], margin: float = 0.001
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SMDs and analysed arm sizes of the four SNS trials (Trial 01's sizes given)."""
    share = rng.uniform(0.46, 0.54, 3)
    for _ in range(200):
        basin = _SNS_BASINS[int(rng.integers(len(_SNS_BASINS)))]
        p0 = np.r_[basin[:4], np.log(basin[4:])] + rng.normal(0, [0.03] * 4 + [0.1] * 3)

        def arms(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            tot = np.exp(p[4:])
            n1 = np.r_[n01[0], tot * share]
            n2 = np.r_[n01[1], tot * (1 - share)]
            return n1[[0, 1, 2, 3]], n2[[0, 1, 2, 3]]

        def resid(p: np.ndarray) -> np.ndarray:
            n1, n2 = arms(p)
            return _sns_residuals(p[:4], n1, n2, margin)

        sol = optimize.least_squares(
            resid,
            p0,
            max_nfev=400,
            bounds=(
                [-2, -2, -2, -2, np.log(40), np.log(40), np.log(40)],
                [2, 2, 2, 2, np.log(320), np.log(320), np.log(320)],
            ),
        )
        if np.abs(sol.fun).max() > 1e-6:
            continue
        n1, n2 = arms(sol.x)
        n1, n2 = np.round(n1), np.round(n2)
        sol2 = optimize.least_squares(_sns_residuals, sol.x[:4], args=(n1, n2, margin))
        if np.abs(sol2.fun).max() <= 1e-6:
            return sol2.x, n1.astype(int), n2.astype(int)
    raise FitError("no social network support solution found; try another seed")


# ------------------------------------------------------------------------------ other outcomes


def _solve_location_spread(z: np.ndarray, vfun: Any, est: float, i2: float) -> np.ndarray:
    """Return y = a + b z with DL estimate ``est`` and I² ``i2`` (fixed-point iteration)."""
    k = z.size
    z = z - z.mean()
    q_target = (k - 1) / (1 - i2 / 100) if i2 > 0 else 0.6 * (k - 1)
    y = np.full(k, est)
    for _ in range(60):
        v = vfun(y)
        w = 1 / v
        zw = z - np.sum(w * z) / w.sum()
        b = np.sqrt(q_target / np.sum(w * zw**2))
        y = b * z
        m, _, _, _ = _dl(y, v)
        y = y + (est - m)
    return y


# ------------------------------------------------------------------------------ generator


@functools.cache
def _reconstruct(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    for _ in range(50):
        built = _attempt(rng)
        if built is None:
            continue
        trials, sheet = built
        ok = all(
            bool(reproduction_check(sheet, trials=trials, convention=c)["reproduced"].all())
            for c in ("revman", "metafor")
        )
        if ok:
            return trials, sheet
    raise FitError(f"no reconstruction reproduces every target from seed {seed}")


class _Sizes:
    """Randomised and analysed arm sizes of one reconstruction attempt, drawn from ``rng``."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.ret = rng.uniform(0.78, 0.95, len(DESIGN))
        self.rand = np.zeros((len(DESIGN), 2), dtype=int)
        # analysed sizes by (trial index, outcome)
        self.analysed: dict[tuple[int, str], tuple[int, int]] = {}
        for i, d in enumerate(DESIGN):
            if d.randomised is not None:
                self.rand[i] = d.randomised

    def from_rand(self, i: int) -> tuple[int, int]:
        """Draw analysed sizes of trial ``i`` from its randomised sizes and retention."""
        a = np.floor(self.rand[i] * self.ret[i] * self.rng.uniform(0.94, 1.0, 2)).astype(int)
        return int(max(a[0], 5)), int(max(a[1], 5))

    def set_rand(self, i: int, a: tuple[int, int]) -> None:
        """Set the randomised sizes of trial ``i`` from its analysed sizes ``a``."""
        self.rand[i] = np.ceil(np.asarray(a) / self.ret[i]).astype(int)

    def split(self, total: int) -> tuple[int, int]:
        """Split ``total`` into two near-equal arms."""
        n1 = round(float(total * self.rng.uniform(0.46, 0.54)))
        return n1, total - n1

    def fix(self, i: int, outcome: str, a: tuple[int, int]) -> None:
        """Record analysed sizes ``a`` of trial ``i`` for ``outcome``; size its arms from them."""
        self.analysed[(i, outcome)] = a
        self.set_rand(i, a)


def _size_targeted(s: _Sizes) -> np.ndarray | None:
    """Size the trials of the outcomes with a published total; the SNS effects, or None."""
    rng, analysed = s.rng, s.analysed
    # 1. social network support
    y_sns, n1s, n2s = _solve_sns(rng, s.from_rand(0))
    for j, i in enumerate(_SNS_ROWS):
        analysed[(i, SNS)] = (int(n1s[j]), int(n2s[j]))
        if DESIGN[i].randomised is None:
            s.set_rand(i, analysed[(i, SNS)])
    # 2. satisfaction: Trials 07 and 09
    t07 = round(float(_N_TARGETS[_SAT] * rng.uniform(0.42, 0.58)))
    for i, tot in ((6, t07), (8, _N_TARGETS[_SAT] - t07)):
        s.fix(i, _SAT, s.split(tot))
    # 3. empowerment: Trials 04, 07, 08, 09
    analysed[(3, _EMP)] = s.from_rand(3)
    for i in (6, 8):
        a = np.floor(np.asarray(analysed[(i, _SAT)]) * rng.uniform(0.85, 1.0)).astype(int)
        analysed[(i, _EMP)] = (int(a[0]), int(a[1]))
    rest = _N_TARGETS[_EMP] - sum(sum(analysed[(i, _EMP)]) for i in (3, 6, 8))
    if not 40 <= rest <= 320:
        return None
    s.fix(7, _EMP, s.split(rest))
    # 4. days in hospital: Trials 01, 05, 06, 11, 12
    for i in (0, 4):
        analysed[(i, _DAYS)] = s.from_rand(i)
    rest = _N_TARGETS[_DAYS] - sum(sum(analysed[(i, _DAYS)]) for i in (0, 4))
    tots = np.floor(rng.dirichlet([6.0, 6.0, 6.0]) * rest).astype(int)
    tots[0] += rest - int(tots.sum())
    if tots.min() < 40:
        return None
    for i, tot in zip((5, 10, 11), tots, strict=True):
        s.fix(i, _DAYS, s.split(int(tot)))
    return np.asarray(y_sns)


def _size_rest(s: _Sizes, contributing: list[int]) -> bool:
    """Size the trials not yet sized; the non-contributing trials take the rest of 3329."""
    rng, rand = s.rng, s.rand
    for i in contributing:
        if rand[i].sum() == 0:
            rand[i] = np.maximum(np.round(rng.lognormal(np.log(55), 0.35, 2)), 20)
    others = [i for i, d in enumerate(DESIGN) if not d.outcomes]
    rest = 3329 - int(rand[contributing].sum())
    tots = np.floor(rng.dirichlet([5.0] * len(others)) * rest).astype(int)
    tots[0] += rest - int(tots.sum())
    if tots.min() < 40:
        return False
    for i, tot in zip(others, tots, strict=True):
        rand[i] = s.split(int(tot))
    for i in contributing:
        for o in DESIGN[i].outcomes:
            if (i, o) not in s.analysed:
                s.analysed[(i, o)] = s.from_rand(i)
    return True


def _draw_indicators(rng: np.random.Generator) -> np.ndarray:
    """Draw organisational-support indicators consistent with each trial's level."""
    indicators = np.zeros((len(DESIGN), 3), dtype=int)
    for i, d in enumerate(DESIGN):
        met = (
            int(rng.integers(2, 4)) if d.org_support_level == "higher" else int(rng.integers(0, 2))
        )
        indicators[i, rng.choice(3, met, replace=False)] = 1
    return indicators


def _trials_frame(rand: np.ndarray, indicators: np.ndarray) -> pd.DataFrame:
    """Build the trial-level table from the randomised sizes and indicators."""
    return pd.DataFrame(
        {
            "study": [_LABEL.format(i + 1) for i in range(len(DESIGN))],
            "n_randomised": rand.sum(axis=1),
            "n1_randomised": rand[:, 0],
            "n2_randomised": rand[:, 1],
            **{c: indicators[:, j] for j, c in enumerate(ORG_INDICATORS)},
            "org_support_level": [d.org_support_level for d in DESIGN],
            "peer_role": [d.peer_role for d in DESIGN],
            "follow_up_months": [d.follow_up_months for d in DESIGN],
            "contributes": [bool(d.outcomes) for d in DESIGN],
            "n_outcomes": [len(d.outcomes) for d in DESIGN],
            "source": [d.source or "simulated" for d in DESIGN],
        }
    )


def _outcome_arms(
    rng: np.random.Generator, name: str, n1: np.ndarray, n2: np.ndarray, y_sns: np.ndarray
) -> list[dict[str, Any] | None] | None:
    """Draw the arm-level values of one outcome's trials; None when no fit is found."""
    y: np.ndarray | None
    if name == SNS:
        y = y_sns
    elif name == _HOSP:
        y = None
    else:
        est, i2, _ = OUTCOME_TARGETS[name]
        y = _solve_location_spread(
            rng.standard_normal(len(n1)), lambda g, n1=n1, n2=n2: _v_smd(g, n1, n2), est, i2
        )
    if y is None:
        cells = _hospitalised(rng, n1, n2)
        if cells is None:
            return None
        return [{"ai": a, "ci": c} for a, c in cells]
    arm_values = [
        _arms(rng, name, float(g), int(a), int(b)) for g, a, b in zip(y, n1, n2, strict=True)
    ]
    return None if any(a is None for a in arm_values) else arm_values


def _outcome_sheet(
    s: _Sizes, contributing: list[int], y_sns: np.ndarray, indicators: np.ndarray
) -> pd.DataFrame | None:
    """Draw the effect sizes of every outcome into a data-extraction sheet; None on failure."""
    from bayesmeta.datasets import load_white2020

    rows: list[dict[str, Any]] = []
    for orow in load_white2020().outcomes.itertuples(index=False):
        name = str(orow.outcome)
        idx = [i for i in contributing if name in DESIGN[i].outcomes]
        n1 = np.array([s.analysed[(i, name)][0] for i in idx], dtype=float)
        n2 = np.array([s.analysed[(i, name)][1] for i in idx], dtype=float)
        arm_values = _outcome_arms(s.rng, name, n1, n2, y_sns)
        if arm_values is None:
            return None
        for i, a, b, vals in zip(idx, n1, n2, arm_values, strict=True):
            d = DESIGN[i]
            rows.append(
                {
                    "study": _LABEL.format(i + 1),
                    "outcome": name,
                    "outcome_type": str(orow.type),
                    "measure": "OR" if name == _HOSP else "SMD",
                    "direction": str(orow.direction),
                    "n1i": int(a),
                    "n2i": int(b),
                    "follow_up_months": d.follow_up_months,
                    **{c: int(indicators[i, j]) for j, c in enumerate(ORG_INDICATORS)},
                    "org_support_level": d.org_support_level,
                    "peer_role": d.peer_role,
                    **(vals or {}),
                }
            )
    sheet = pd.DataFrame(rows, columns=template_columns(load_plan("peer_support")))
    for c in ("n1i", "n2i", "ai", "ci", "follow_up_months", *ORG_INDICATORS):
        sheet[c] = sheet[c].astype("Int64")
    for c in ("m1i", "sd1i", "m2i", "sd2i", "yi", "sei"):
        sheet[c] = sheet[c].astype(float)
    _nudge_sns(sheet)
    return sheet


def _attempt(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """Draw one candidate reconstruction: trial table and sheet, or None if a step fails."""
    sizes = _Sizes(rng)
    y_sns = _size_targeted(sizes)
    contributing = [i for i, d in enumerate(DESIGN) if d.outcomes]
    if y_sns is None or not _size_rest(sizes, contributing):
        return None
    indicators = _draw_indicators(rng)
    trials = _trials_frame(sizes.rand, indicators)
    sheet = _outcome_sheet(sizes, contributing, y_sns, indicators)
    return None if sheet is None else (trials, sheet)


def _arms(
    rng: np.random.Generator, name: str, g: float, n1: int, n2: int
) -> dict[str, float] | None:
    """Arm means and SDs (two decimals) whose RevMan SMD is ``g``."""
    _, mean, sd, (lo, hi) = _SCALES[name]
    lo_ = -np.inf if lo is None else lo
    hi_ = np.inf if hi is None else hi
    for _ in range(50):
        s = sd * float(np.exp(0.15 * rng.standard_normal()))
        s1, s2 = (round(s * float(np.exp(0.08 * rng.standard_normal())), 2) for _ in range(2))
        m2 = round(mean + 0.25 * sd * float(rng.standard_normal()), 2)
        n = n1 + n2
        sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n - 2))
        d = g / (1 - 3 / (4 * n - 9))
        m1 = round(m2 + d * sp, 2)
        if lo_ <= min(m1, m2) and max(m1, m2) <= hi_:
            return {"m1i": m1, "sd1i": s1, "m2i": m2, "sd2i": s2}
    return None


def _hospitalised(
    rng: np.random.Generator, n1: np.ndarray, n2: np.ndarray
) -> list[tuple[int, int]] | None:
    """Event counts: control risks around 30%, log odds ratios around the stated target."""
    est, i2, _ = OUTCOME_TARGETS[_HOSP]
    p0 = 1 / (1 + np.exp(-(np.log(0.3 / 0.7) + 0.3 * rng.standard_normal(n1.size))))

    def vfun(lor: np.ndarray) -> np.ndarray:
        p1 = 1 / (1 + np.exp(-(np.log(p0 / (1 - p0)) + lor)))
        return 1 / (n1 * p1 * (1 - p1)) + 1 / (n2 * p0 * (1 - p0))

    lor = _solve_location_spread(rng.standard_normal(n1.size), vfun, est, i2)
    p1 = 1 / (1 + np.exp(-(np.log(p0 / (1 - p0)) + lor)))
    a = np.round(n1 * p1).astype(int)
    c = np.round(n2 * p0).astype(int)
    if (a < 1).any() or (c < 1).any():
        return None
    return [(int(x), int(z)) for x, z in zip(a, c, strict=True)]


def _sns_margin(sheet: pd.DataFrame) -> float:
    """Smallest distance (in rounding half-widths) of an SNS result inside its interval."""
    rows = sheet[sheet["outcome"] == SNS]
    worst = np.inf
    for convention in ("revman", "metafor"):
        y, v = _smd(rows, convention)
        n1 = rows["n1i"].to_numpy(float)
        n2 = rows["n2i"].to_numpy(float)
        r = _sns_residuals(y, n1, n2, margin=0.0)
        if r.max() > 0:
            return -float(r.max())
        # margin: rerun with a growing margin until something leaves its interval
        lo, hi = 0.0, 0.005
        for _ in range(12):
            mid = (lo + hi) / 2
            if _sns_residuals(y, n1, n2, margin=mid).max() > 0:
                hi = mid
            else:
                lo = mid
        worst = min(worst, lo)
        del v
    return float(worst)


def _nudge_sns(sheet: pd.DataFrame) -> None:
    """Move SNS control means by up to 0.02 to keep every target away from a rounding edge."""
    idx = sheet.index[sheet["outcome"] == SNS].to_numpy()
    base = sheet.loc[idx, "m2i"].to_numpy(float).copy()
    best, best_margin = np.zeros(idx.size), _sns_margin(sheet)
    steps = (-0.02, -0.01, 0.0, 0.01, 0.02)
    for j in range(idx.size):  # coordinate-wise, two sweeps
        for _ in range(2):
            for s in steps:
                trial = best.copy()
                trial[j] = s
                sheet.loc[idx, "m2i"] = np.round(base + trial, 2)
                m = _sns_margin(sheet)
                if m > best_margin:
                    best, best_margin = trial, m
    sheet.loc[idx, "m2i"] = np.round(base + best, 2)


def _smd(rows: pd.DataFrame, convention: str) -> tuple[np.ndarray, np.ndarray]:
    from bayesmeta.effect_sizes import escalc

    es = escalc(
        "SMD",
        convention=convention,
        m1i=rows["m1i"].to_numpy(float),
        sd1i=rows["sd1i"].to_numpy(float),
        n1i=rows["n1i"].to_numpy(float),
        m2i=rows["m2i"].to_numpy(float),
        sd2i=rows["sd2i"].to_numpy(float),
        n2i=rows["n2i"].to_numpy(float),
    )
    return np.asarray(es.yi), np.asarray(es.vi)


# ------------------------------------------------------------------------------ public API


def reconstruct_review(seed: int = RECONSTRUCTION_SEED) -> pd.DataFrame:
    r"""Return the calibrated reconstruction as an extraction sheet (SIMULATED data).

    Parameters
    ----------
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same frame. The
        default gives the bundled ``peer_support_simulated.csv``.

    Returns
    -------
    pandas.DataFrame
        46 rows, one per (contributing trial, outcome), ordered by outcome then trial, in the
        columns of ``template_columns(load_plan("peer_support"))``
        (``yi``/``sei`` empty). ``.attrs``
        holds ``simulated`` (True), ``reconstructed`` (True), ``note``, ``seed`` and
        ``generator``.

    Raises
    ------
    FitError
        When no draw of the seed's stream reproduces every target (not the case for the
        default seed).

    Examples
    --------
    >>> from bayesmeta.sheet import read_sheet
    >>> sheet = reconstruct_review()
    >>> tab = read_sheet(sheet, convention="revman")
    >>> len(tab.outcomes), tab.k, sheet.attrs["reconstructed"]
    (11, 46, True)
    """
    sheet = _reconstruct(int(seed))[1].copy()
    sheet.attrs.update(
        simulated=True,
        reconstructed=True,
        note=_NOTE,
        seed=int(seed),
        generator=f"bayesmeta.reconstruct.reconstruct_review(seed={int(seed)})",
    )
    return sheet


def reconstruct_trials(seed: int = RECONSTRUCTION_SEED) -> pd.DataFrame:
    """Return the 19 reconstructed trials, contributing or not (SIMULATED).

    Returns
    -------
    pandas.DataFrame
        One row per trial: ``study``, randomised sizes (``n_randomised``, ``n1_randomised``,
        ``n2_randomised``), the three indicators, ``org_support_level``, ``peer_role``,
        ``follow_up_months``, ``contributes``, ``n_outcomes`` and ``source`` (which
        characteristics follow the published Table 1).

    Examples
    --------
    >>> trials = reconstruct_trials()
    >>> len(trials), int(trials["n_randomised"].sum()), int(trials["contributes"].sum())
    (19, 3329, 14)
    """
    trials = _reconstruct(int(seed))[0].copy()
    trials.attrs.update(simulated=True, reconstructed=True, note=_NOTE, seed=int(seed))
    return trials


#: Columns of the trials table kept in ``peer_support_simulated.json`` (key ``"trials"``).
TRIAL_COLUMNS: tuple[str, ...] = (
    "study",
    "n_randomised",
    "n1_randomised",
    "n2_randomised",
    "org_support_level",
    "peer_role",
    "follow_up_months",
    "contributes",
)


def trials_records(trials: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the trials as JSON-native records, as kept in ``peer_support_simulated.json``.

    Examples
    --------
    >>> trials_records(reconstruct_trials())[0]["n1_randomised"]
    48
    """
    out: list[dict[str, Any]] = []
    for row in trials[list(TRIAL_COLUMNS)].to_dict(orient="records"):
        out.append({str(k): v.item() if hasattr(v, "item") else v for k, v in row.items()})
    return out


def bundled_trials() -> pd.DataFrame:
    """Return the 19 trials of the bundled reconstruction without re-running the search.

    Read from the ``"trials"`` entry of ``peer_support_simulated.json`` (a test checks it equals
    :func:`reconstruct_trials`).

    Examples
    --------
    >>> trials = bundled_trials()
    >>> len(trials), int(trials["n_randomised"].sum())
    (19, 3329)
    """
    from bayesmeta.datasets import describe

    return pd.DataFrame(describe("peer_support_simulated")["trials"], columns=list(TRIAL_COLUMNS))


def _check_inputs(
    sheet: pd.DataFrame | None, trials: pd.DataFrame | None, convention: str
) -> tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame]:
    """Return the sheet (default: the bundled one, with its trials), trials and effect sizes."""
    from bayesmeta.sheet import read_sheet

    if sheet is None:
        from bayesmeta.datasets import load_peer_support_simulated

        sheet = load_peer_support_simulated()
        if trials is None:
            trials = bundled_trials()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotEstimableWarning)
        table = read_sheet(sheet, convention=convention)
    return sheet, trials, table.data


def _dl_fit(data: pd.DataFrame, outcome: str, subgroup: str, column: str | None) -> Any:
    """DL random-effects fit of one outcome, restricted to a subgroup of ``column`` if given."""
    from bayesmeta.frequentist import rma

    rows = data[data["outcome"] == outcome]
    if column is not None:
        rows = rows[rows[column].astype(str) == subgroup]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotEstimableWarning)
        return rma(rows["yi"].to_numpy(), rows["vi"].to_numpy(), method="DL")


def _review_count(quantity: str, raw: pd.DataFrame, trials: pd.DataFrame | None) -> float | None:
    """Count trials, participants or outcomes of the whole review (None: needs ``trials``)."""
    if trials is None:
        if quantity not in ("n_trials_meta_analysis", "n_outcomes"):
            return None
    return {
        "n_trials": lambda: len(trials),  # type: ignore[arg-type]
        "n_participants": lambda: int(trials["n_randomised"].sum()),  # type: ignore[index]
        "n_trials_meta_analysis": lambda: raw["study"].nunique(),
        "n_outcomes": lambda: raw["outcome"].nunique(),
    }[quantity]()


def _outcome_description(outcome: str, quantity: str, raw: pd.DataFrame) -> float:
    """Participants or follow-up range of one outcome, from the sheet."""
    rows = raw[raw["outcome"] == outcome]
    if quantity == "n_participants":
        return float(rows["n1i"].sum() + rows["n2i"].sum())
    if quantity == "follow_up_min":
        return float(rows["follow_up_months"].min())
    return float(rows["follow_up_months"].max())


def _covers_null(outcome: str, subgroup: str, data: pd.DataFrame, raw: pd.DataFrame) -> float:
    """1.0 if the DL 95% CI covers 0 (for hospitalised, also RevMan's Mantel-Haenszel DL)."""
    from bayesmeta.frequentist import rma_mh

    r = _dl_fit(data, outcome, subgroup, None)
    covers = float(r.ci_lb[0]) < 0 < float(r.ci_ub[0])
    if outcome == _HOSP:
        rows = raw[raw["outcome"] == outcome]
        mh = rma_mh(
            rows["ai"].to_numpy(float),
            ci=rows["ci"].to_numpy(float),
            n1i=rows["n1i"].to_numpy(float),
            n2i=rows["n2i"].to_numpy(float),
            measure="OR",
            convention="revman",
        )
        covers = covers and float(mh.random.ci_lb[0]) < 0 < float(mh.random.ci_ub[0])
    return float(covers)


def _recompute(
    outcome: str,
    subgroup: str,
    quantity: str,
    data: pd.DataFrame,
    raw: pd.DataFrame,
    trials: pd.DataFrame | None,
) -> float | None:
    """Re-compute one published number (None when it cannot be without ``trials``)."""
    from bayesmeta.frequentist import subgroup_analysis

    if outcome == "review":
        return _review_count(quantity, raw, trials)
    if quantity in ("n_participants", "follow_up_min", "follow_up_max"):
        return _outcome_description(outcome, quantity, raw)
    if quantity in ("estimate_minus_substitute", "p_between"):
        rows = data[data["outcome"] == outcome]
        sg = subgroup_analysis(rows["yi"], rows["vi"], rows["peer_role"].astype(str))
        diff = float(sg.groups["add-on"].beta[0] - sg.groups["substitute"].beta[0])
        return diff if quantity == "estimate_minus_substitute" else sg.pval
    if quantity == "covers_null":
        return _covers_null(outcome, subgroup, data, raw)
    column = "org_support_level" if subgroup in ("lower", "higher") else None
    r = _dl_fit(data, outcome, subgroup, column)
    return {
        "k": lambda: float(r.k),
        "estimate": lambda: float(r.beta[0]),
        "ci_lb": lambda: float(r.ci_lb[0]),
        "ci_ub": lambda: float(r.ci_ub[0]),
        "I2_percent": lambda: float(r.I2),
        "QEp": lambda: float(r.QEp),
    }[quantity.removesuffix("_above")]()


def reproduction_check(
    sheet: pd.DataFrame | None = None,
    *,
    trials: pd.DataFrame | None = None,
    convention: str = "revman",
) -> pd.DataFrame:
    r"""Re-compute every published number of :data:`TARGETS` from a sheet and compare.

    Parameters
    ----------
    sheet
        An extraction sheet (default: the bundled reconstruction, with its trials from
        :func:`bundled_trials`).
    trials
        The review's trials (for the 19 trials and 3329 participants); without it, and with a
        ``sheet`` given, those rows are left out.
    convention
        Effect-size convention for :func:`bayesmeta.sheet.read_sheet` (``"revman"``, as the paper).

    Returns
    -------
    pandas.DataFrame
        One row per published number: ``outcome``, ``subgroup``, ``quantity``, ``published``,
        ``recomputed`` (full precision), ``recomputed_rounded`` (at the paper's rounding, where it
        has one), ``reproduced`` (bool), ``difference`` (recomputed minus published; for
        one-sided rules the signed margin) and ``source``. Estimates are DL random effects
        (:func:`bayesmeta.frequentist.rma`; RevMan's subgroup analysis for subgroups);
        ``estimate``/``ci_lb``/``ci_ub`` are reproduced when equal at two decimals, ``I2_percent``
        at whole percent, ``k`` and counts exactly; ``QEp`` and ``p_between`` when below the
        published 0.05; ``*_above`` when above 0; ``covers_null`` when the 95% CI covers 0 (log
        scale for hospitalised: both inverse-variance DL and RevMan's Mantel-Haenszel DL).

    Examples
    --------
    >>> check = reproduction_check()
    >>> int(check["reproduced"].sum()), len(check)
    (39, 39)
    >>> row = check[(check.outcome == "social_network_support") & (check.subgroup == "higher")
    ...             & (check.quantity == "estimate")].iloc[0]
    >>> float(row["published"]), float(row["recomputed_rounded"]), bool(row["reproduced"])
    (-0.04, -0.04, True)
    """
    sheet, trials, data = _check_inputs(sheet, trials, convention)
    raw = sheet.copy()
    raw["outcome"] = raw["outcome"].astype(str)
    out = []
    for outcome, subgroup, quantity, published, source in TARGETS:
        value = _recompute(outcome, subgroup, quantity, data, raw, trials)
        if value is None:
            continue
        out.append(_judge(outcome, subgroup, quantity, float(published), float(value), source))
    return pd.DataFrame(out)


def _round_half_away(x: float, decimals: int) -> float:
    scale = 10.0**decimals
    return float(np.sign(x) * np.floor(abs(x) * scale + 0.5) / scale)


def _judge(
    outcome: str, subgroup: str, quantity: str, published: float, value: float, source: str
) -> dict[str, Any]:
    if quantity in _DECIMALS:
        rounded = _round_half_away(value, _DECIMALS[quantity])
        ok = rounded == published
        diff = value - published
    elif quantity in ("QEp", "p_between"):
        rounded = _round_half_away(value, 3)
        ok = value < published
        diff = value - published
    elif quantity.endswith("_above") or quantity == "estimate_minus_substitute":
        rounded = _round_half_away(value, 2)
        ok = value > published
        diff = value - published
    else:  # counts, follow-up, covers_null: exact
        rounded = value
        ok = value == published
        diff = value - published
    return {
        "outcome": outcome,
        "subgroup": subgroup,
        "quantity": quantity,
        "published": published,
        "recomputed": value,
        "recomputed_rounded": rounded,
        "reproduced": bool(ok),
        "difference": diff,
        "source": source,
    }
