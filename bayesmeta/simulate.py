r"""A simulated review with the structure of White et al. (2020), for demonstrations and tests.

Two generators: :func:`simulate_review` draws a review at random from the published summaries
(sampling error included, for simulation studies); the bundled ``peer_support_simulated.csv`` is
instead the calibrated reconstruction of :mod:`bayesmeta.reconstruct`, whose DL estimates
reproduce the published numbers (``python -m bayesmeta.simulate`` writes it).

The trial-level data of White et al. (2020) are not available to us. :func:`simulate_review`
generates a *simulated* review with the same structure, in the shape of an extraction sheet
(:mod:`bayesmeta.sheet`): 19 trials, of which 14 contribute data, eleven outcomes with their
directions, about 3329 participants, organisational-support indicators and peer roles. Its true
effects and heterogeneity come from the published summaries where they are available
(:func:`bayesmeta.datasets.load_white2020`) and from documented defaults elsewhere. The numbers
are **not** the trials' results and must never be presented as such: every study label ends in
"(simulated)".

Everything the generator uses is a field of :class:`SimulationSpec` (and its
:class:`OutcomeSpec`\ s), which round-trips through JSON, so a user can change any default:

>>> spec = SimulationSpec()
>>> spec.n_trials, spec.n_contributing, spec.n_participants
(19, 14, 3329)
>>> snsupport = spec.outcome("social_network_support")
>>> snsupport.k, snsupport.effect_lower, snsupport.effect_higher, snsupport.i2
(4, 0.5, -0.04, 0.67)
>>> df = simulate_review(spec, seed=20201103)
>>> df["study"].nunique(), df["outcome"].nunique()
(14, 11)
>>> df["study"].iloc[0], bool(df["study"].str.endswith("(simulated)").all())
('Trial 05 (simulated)', True)

The generative model, per outcome :math:`o` and contributing trial :math:`i`:

1. Trials. Sizes :math:`N_i` are log-normal, rescaled to total ``n_participants`` with at least
   ``min_trial_size`` each; arm 1 (peer support) gets :math:`\mathrm{Binomial}(N_i,
   \text{allocation})`. Each trial has an organisational-support level (higher with probability
   ``p_higher_support``) and three 0/1 indicators consistent with it (higher: 2 or 3 met;
   lower: 0 or 1), a peer role (add-on with probability ``p_add_on``), a longest follow-up drawn
   from ``follow_up_months`` and a retention fraction drawn uniformly from ``retention``.
   ``n_contributing`` trials, drawn at random, contribute data.
2. Which trials report which outcome. Each outcome draws ``k`` contributing trials (those
   whose follow-up lies in ``follow_up_range`` when enough do), preferring trials with no outcome
   yet so that every contributing trial reports at least one; exactly ``k_lower`` of them
   lower-support trials when that is given (of role ``lower_role`` where possible), otherwise
   both levels whenever ``k >= 3`` and both are available.
3. Analysed arm sizes are :math:`\mathrm{Binomial}(n_{ij}, r_i)` with the trial's retention.
4. True effects :math:`\theta_{io} \sim N(\mu_{io}, \tau_o^2)`, with :math:`\mu_{io}` the
   outcome's ``effect``, or ``effect_higher``/``effect_lower`` by the trial's level.
   :math:`\tau_o^2` gives the target :math:`I^2` for the simulated sizes:
   :math:`\tau^2_{\text{total}} = \tilde v\, I^2/(1 - I^2)` with :math:`\tilde v` Higgins and
   Thompson's typical within-trial variance of the trials drawn, and
   :math:`\tau_o^2 = \max(0, \tau^2_{\text{total}} - s^2_\mu)` where :math:`s^2_\mu` is the
   variance of the :math:`\mu_{io}` (the part of the heterogeneity the subgroups explain).
5. Continuous outcomes: the trial's SD :math:`\sigma_i = \sigma\,e^{N(0, \text{sd\_log\_sd}^2)}`
   and control mean :math:`\mu_{c,i} = \text{control\_mean} + N(0, (\text{control\_mean\_sd}\,
   \sigma)^2)`; arm means :math:`N(\mu_{c,i} + \theta\sigma_i\,[\text{arm 1}], \sigma_i^2/n)`
   (redrawn if outside the scale's ``bounds``) and SDs :math:`\sigma_i\sqrt{\chi^2_{n-1}/(n-1)}`,
   rounded to ``decimals``. The dichotomous outcome: control risk
   :math:`\operatorname{logit}^{-1}(\operatorname{logit}p_0 + N(0, \text{baseline\_logit\_sd}^2))`,
   arm-1 risk with :math:`\theta` added on the logit scale (``effect`` is a log odds ratio), and
   binomial event counts.

See ``docs/extraction-sheet.md`` for the scales and the reasons for each default.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayesmeta._stats import typical_variance
from bayesmeta.errors import ModelSpecError
from bayesmeta.plan import load_plan
from bayesmeta.reconstruct import GENERATING_CALL as RECONSTRUCTION_CALL
from bayesmeta.reconstruct import ORG_INDICATORS, PEER_ROLES, reconstruct_review
from bayesmeta.sheet import template_columns

__all__ = [
    "DEFAULT_SEED",
    "GENERATING_CALL",
    "OutcomeSpec",
    "SimulationSpec",
    "default_outcomes",
    "main",
    "simulate_review",
    "simulate_trials",
    "to_csv_text",
]

#: The default seed: the review's publication date (BMC Psychiatry, 3 November 2020).
DEFAULT_SEED = 20201103

#: The generating call of the bundled ``peer_support_simulated.csv``: since issue 12 the bundled
#: review is the calibrated reconstruction of :mod:`bayesmeta.reconstruct`, not a random draw.
GENERATING_CALL = RECONSTRUCTION_CALL

_SIMULATED_NOTE = (
    "SIMULATED data with the structure of White et al. (2020), generated from its published "
    "summaries by bayesmeta.simulate; not the trials' results."
)


@dataclass(frozen=True)
class OutcomeSpec:
    """How one outcome of the simulated review is generated.

    Attributes
    ----------
    name
        Outcome key (snake_case), as in ``white2020_outcomes``.
    label
        Display label.
    outcome_type
        ``"continuous"`` (arm means and SDs) or ``"dichotomous"`` (events and totals).
    measure
        The measure written in the sheet: ``"SMD"`` (or ``"MD"``) for continuous outcomes,
        ``"OR"`` (or ``"RR"``, ``"RD"``) for the dichotomous one.
    direction
        ``"higher"`` or ``"lower"``: which values favour peer support.
    k
        Number of trials reporting the outcome.
    effect
        True mean effect, peer support minus control: an SMD for continuous outcomes, a log odds
        ratio for dichotomous ones. In the outcome's own sign (for a ``"lower"`` outcome a
        negative value favours peer support).
    i2
        Target :math:`I^2` (a fraction in [0, 1)) for the simulated sample sizes.
    effect_higher, effect_lower
        True mean effects in trials with a higher and a lower level of organisational support;
        when both are given they replace ``effect``.
    k_lower
        Exactly this many of the ``k`` trials have a lower level of support (``None``: no
        constraint beyond a mix of levels when ``k >= 3``).
    lower_role
        Peer role preferred for the lower-support trials (``None``: no preference).
    follow_up_range
        (min, max) longest follow-up in months of the trials reporting the outcome, honoured when
        enough contributing trials qualify.
    scale
        The instrument the simulated means are on (documentation only).
    control_mean, sd
        Mean in the control arm and the SD of the outcome, on that scale.
    bounds
        (min, max) of the scale; arm means outside are redrawn. ``None`` for an open end.
    baseline_risk
        Control-arm risk of the dichotomous outcome.
    basis
        Which values come from the published summaries and which are defaults.

    Examples
    --------
    >>> spec = SimulationSpec().outcome("social_network_support")
    >>> isinstance(spec, OutcomeSpec), spec.measure, spec.k
    (True, 'SMD', 4)
    """

    name: str
    label: str
    outcome_type: str
    measure: str
    direction: str
    k: int
    effect: float
    i2: float
    effect_higher: float | None = None
    effect_lower: float | None = None
    k_lower: int | None = None
    lower_role: str | None = None
    follow_up_range: tuple[int, int] | None = None
    scale: str = ""
    control_mean: float = 0.0
    sd: float = 1.0
    bounds: tuple[float | None, float | None] = (None, None)
    baseline_risk: float | None = None
    basis: str = ""

    def __post_init__(self) -> None:
        # JSON gives lists; keep tuples so the spec stays hashable and compares equal.
        if self.follow_up_range is not None:
            object.__setattr__(self, "follow_up_range", tuple(self.follow_up_range))
        object.__setattr__(self, "bounds", tuple(self.bounds))

    def has_subgroups(self) -> bool:
        """Return True if the true effect depends on the level of organisational support.

        Examples
        --------
        >>> spec = SimulationSpec()
        >>> spec.outcome("social_network_support").has_subgroups()
        True
        >>> spec.outcome("recovery").has_subgroups()
        False
        """
        return self.effect_higher is not None and self.effect_lower is not None


# Stated defaults where the published summaries are silent. Reasons in docs/extraction-sheet.md.
# name: (k, effect, i2, scale, control_mean, sd, bounds)
_STATED: dict[
    str, tuple[int, float, float, str, float, float, tuple[float | None, float | None]]
] = {
    "quality_of_life": (6, 0.05, 0.30, "mean item score, 1-7 (MANSA-like)", 4.3, 0.9, (1, 7)),
    "social_network_support": (4, 0.09, 0.30, "social network size, persons", 9.0, 5.0, (0, None)),
    "empowerment": (4, 0.15, 0.30, "empowerment scale total, 28-112", 77.0, 9.0, (28, 112)),
    "recovery": (
        5,
        0.20,
        0.30,
        "recovery questionnaire total, 0-60 (QPR-like)",
        38.0,
        11.0,
        (0, 60),
    ),
    "satisfaction_with_services": (2, 0.10, 0.30, "CSQ-8 total, 8-32", 24.0, 5.0, (8, 32)),
    "working_alliance_client": (2, 0.10, 0.30, "WAI short form total, 12-84", 62.0, 12.0, (12, 84)),
    "working_alliance_staff": (2, 0.05, 0.30, "WAI short form total, 12-84", 60.0, 10.0, (12, 84)),
    "general_psychiatric_symptoms": (7, 0.0, 0.30, "BPRS-18 total, 18-126", 40.0, 11.0, (18, 126)),
    "depression_anxiety": (4, 0.0, 0.30, "HADS total, 0-42", 16.0, 8.0, (0, 42)),
    "days_in_hospital": (5, 0.0, 0.30, "days in hospital during follow-up", 20.0, 25.0, (0, None)),
    "hospitalised": (5, 0.0, 0.30, "admitted during follow-up (yes/no)", 0.0, 1.0, (None, None)),
}
#: Published rows whose outcome is not named in the text available to us, mapped to an outcome.
_PUBLISHED_ALIASES = {"unnamed_B": "days_in_hospital"}
_DICHOTOMOUS_MEASURE = "OR"
_BASELINE_RISK = 0.30


@functools.cache
def _default_outcomes() -> tuple[OutcomeSpec, ...]:
    from bayesmeta.datasets import load_white2020

    w = load_white2020()
    pub = w.published.copy()
    pub["outcome"] = pub["outcome"].replace(_PUBLISHED_ALIASES)
    specs = []
    for row in w.outcomes.itertuples(index=False):
        name = str(row.outcome)
        k, effect, i2, scale, mean, sd, bounds = _STATED[name]
        published: list[str] = []
        rows = pub[pub["outcome"] == name]
        overall = rows[rows["subgroup"] == "all"]
        extra: dict[str, Any] = {}
        if len(overall):
            o = overall.iloc[0]
            if pd.notna(o["k"]):
                k = int(o["k"])
                published.append("k")
            if pd.notna(o["estimate"]):
                effect = float(o["estimate"])
                published.append("effect")
            if pd.notna(o["i2_percent"]):
                i2 = round(float(o["i2_percent"]) / 100, 4)
                published.append("i2")
            if pd.notna(o["follow_up_months_min"]) and pd.notna(o["follow_up_months_max"]):
                extra["follow_up_range"] = (
                    int(o["follow_up_months_min"]),
                    int(o["follow_up_months_max"]),
                )
                published.append("follow_up_range")
        levels = rows[rows["subgroup_variable"] == "org_support_level"]
        if {"higher", "lower"} <= set(levels["subgroup"].astype(str)):
            sub = levels["subgroup"].astype(str).tolist()
            est = dict(zip(sub, levels["estimate"].astype(float).tolist(), strict=True))
            ks = dict(zip(sub, levels["k"].astype(int).tolist(), strict=True))
            extra["effect_higher"] = est["higher"]
            extra["effect_lower"] = est["lower"]
            extra["k_lower"] = ks["lower"]
            # Add-on peer support was reported more likely to increase social network support
            # than substitute: the lower-support trial(s) are add-on where possible.
            extra["lower_role"] = "add-on"
            published += ["effect_higher", "effect_lower", "k_lower"]
        dichotomous = str(row.type) == "dichotomous"
        if dichotomous:
            extra["baseline_risk"] = _BASELINE_RISK
        source = "unnamed_B, likely days in hospital" if name == "days_in_hospital" else name
        basis = (
            f"published ({source}): {', '.join(published)}; the rest are stated defaults"
            if published
            else "stated defaults (no published figure available to us)"
        )
        specs.append(
            OutcomeSpec(
                name=name,
                label=str(row.label),
                outcome_type=str(row.type),
                measure=_DICHOTOMOUS_MEASURE if dichotomous else str(row.measure),
                direction=str(row.direction),
                k=k,
                effect=effect,
                i2=i2,
                scale=scale,
                control_mean=mean,
                sd=sd,
                bounds=bounds,
                basis=basis,
                **extra,
            )
        )
    return tuple(specs)


def default_outcomes() -> tuple[OutcomeSpec, ...]:
    """Return the eleven outcomes of the default spec: published summaries, then stated defaults.

    Published values (``load_white2020().published``): k for social network support (4),
    empowerment (4), satisfaction with services (2), hospitalised (5) and days in hospital (5,
    the five-trial outcome ``unnamed_B``); the social network support SMD 0.09, I² 67% and its
    subgroup effects (lower support, one trial, 0.50; higher -0.04); follow-up ranges of
    empowerment (6-12 months) and days in hospital (9-24).

    Examples
    --------
    >>> outs = default_outcomes()
    >>> len(outs), outs[0].name
    (11, 'quality_of_life')
    """
    return _default_outcomes()


@dataclass(frozen=True)
class SimulationSpec:
    """Every setting of the simulated review; round-trips through JSON with :meth:`to_dict`.

    Attributes
    ----------
    n_trials
        Trials in the review (19, as published).
    n_contributing
        Trials contributing data to at least one meta-analysis (14, as published).
    n_participants
        Participants randomised across all trials (3329, as published).
    outcomes
        One :class:`OutcomeSpec` per outcome (:func:`default_outcomes`).
    p_higher_support
        Probability a trial has a higher level of organisational support (0.6).
    p_add_on
        Probability a trial's peer role is add-on (0.5).
    trial_size_sd_log
        SD of the log trial sizes before rescaling (0.6: sizes from a few dozen to several
        hundred).
    min_trial_size
        Smallest trial (30 randomised).
    allocation
        Probability of allocation to peer support (0.5).
    retention
        (min, max) of the uniform per-trial fraction analysed at follow-up ((0.7, 0.95)).
    follow_up_months
        Longest follow-ups to draw from ((6, 9, 12, 18, 24) months).
    control_mean_sd
        Between-trial SD of control means, in units of the outcome SD (0.25).
    sd_log_sd
        Between-trial SD of the log outcome SD (0.15).
    baseline_logit_sd
        Between-trial SD of the control risk on the logit scale (0.3).
    decimals
        Decimals of the simulated means and SDs (2).
    label
        Study label format; must say it is simulated (``"Trial {:02d} (simulated)"``).

    Examples
    --------
    >>> spec = SimulationSpec()
    >>> spec.n_trials, spec.n_contributing, len(spec.outcomes)
    (19, 14, 11)
    >>> SimulationSpec.from_dict(spec.to_dict()) == spec
    True
    """

    n_trials: int = 19
    n_contributing: int = 14
    n_participants: int = 3329
    outcomes: tuple[OutcomeSpec, ...] = field(default_factory=default_outcomes)
    p_higher_support: float = 0.6
    p_add_on: float = 0.5
    trial_size_sd_log: float = 0.6
    min_trial_size: int = 30
    allocation: float = 0.5
    retention: tuple[float, float] = (0.70, 0.95)
    follow_up_months: tuple[int, ...] = (6, 9, 12, 18, 24)
    control_mean_sd: float = 0.25
    sd_log_sd: float = 0.15
    baseline_logit_sd: float = 0.3
    decimals: int = 2
    label: str = "Trial {:02d} (simulated)"

    def __post_init__(self) -> None:
        outs = tuple(o if isinstance(o, OutcomeSpec) else OutcomeSpec(**o) for o in self.outcomes)
        object.__setattr__(self, "outcomes", outs)
        object.__setattr__(self, "retention", tuple(self.retention))
        object.__setattr__(self, "follow_up_months", tuple(self.follow_up_months))
        self._validate()

    # ------------------------------------------------------------------ access
    def outcome(self, name: str) -> OutcomeSpec:
        """Return the spec of one outcome.

        Examples
        --------
        >>> SimulationSpec().outcome("empowerment").k
        4
        """
        for o in self.outcomes:
            if o.name == name:
                return o
        raise ModelSpecError(f"no outcome {name!r}; the spec has {[o.name for o in self.outcomes]}")

    def replace_outcome(self, name: str, **changes: Any) -> SimulationSpec:
        """Return a copy with one outcome's fields changed.

        Examples
        --------
        >>> spec = SimulationSpec().replace_outcome("recovery", effect=0.3, i2=0.5)
        >>> spec.outcome("recovery").effect
        0.3
        """
        self.outcome(name)
        outs = tuple(
            dataclasses.replace(o, **changes) if o.name == name else o for o in self.outcomes
        )
        return dataclasses.replace(self, outcomes=outs)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-native dict (lists for tuples).

        Examples
        --------
        >>> d = SimulationSpec().to_dict()
        >>> d["retention"], type(d["outcomes"][0]).__name__
        ([0.7, 0.95], 'dict')
        """
        out: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(self)))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SimulationSpec:
        """Rebuild a spec from :meth:`to_dict` output (or JSON).

        Examples
        --------
        >>> spec = SimulationSpec(n_trials=20)
        >>> SimulationSpec.from_dict(spec.to_dict()).n_trials
        20
        """
        data = dict(data)
        if "outcomes" in data:
            data["outcomes"] = tuple(OutcomeSpec(**o) for o in data["outcomes"])
        return cls(**data)

    # ------------------------------------------------------------------ checks
    def _validate(self) -> None:
        def bad(msg: str) -> None:
            raise ModelSpecError(f"SimulationSpec: {msg}")

        if self.n_trials < 1 or not 1 <= self.n_contributing <= self.n_trials:
            bad("need 1 <= n_contributing <= n_trials")
        if self.n_participants < self.min_trial_size * self.n_trials:
            bad(
                f"n_participants must be >= min_trial_size * n_trials = "
                f"{self.min_trial_size * self.n_trials}"
            )
        if self.min_trial_size < 10:
            bad("min_trial_size must be >= 10 (each arm needs participants at follow-up)")
        for name in ("p_higher_support", "p_add_on", "allocation"):
            if not 0 <= getattr(self, name) <= 1:
                bad(f"{name} must be in [0, 1]")
        if not 0.2 <= self.allocation <= 0.8:
            bad("allocation must be between 0.2 and 0.8")
        lo, hi = self.retention
        if not 0.2 <= lo <= hi <= 1:
            bad("retention must be (min, max) with 0.2 <= min <= max <= 1")
        if not self.follow_up_months:
            bad("follow_up_months must list at least one value")
        if "simulated" not in self.label.lower():
            bad("label must say the trials are simulated, e.g. 'Trial {:02d} (simulated)'")
        if not self.outcomes:
            bad("give at least one outcome")
        names = [o.name for o in self.outcomes]
        if len(set(names)) != len(names):
            bad(f"outcome names repeat: {names}")
        for o in self.outcomes:
            where = f"outcome {o.name!r}"
            if o.outcome_type not in ("continuous", "dichotomous"):
                bad(f"{where}: outcome_type must be 'continuous' or 'dichotomous'")
            allowed = ("SMD", "MD") if o.outcome_type == "continuous" else ("OR", "RR", "RD")
            if o.measure not in allowed:
                bad(f"{where}: measure must be one of {allowed}")
            if o.direction not in ("higher", "lower"):
                bad(f"{where}: direction must be 'higher' or 'lower'")
            if not 1 <= o.k <= self.n_contributing:
                bad(f"{where}: k must be between 1 and n_contributing ({self.n_contributing})")
            if not 0 <= o.i2 < 1:
                bad(f"{where}: i2 is a fraction in [0, 1)")
            if (o.effect_higher is None) != (o.effect_lower is None):
                bad(f"{where}: give both effect_higher and effect_lower, or neither")
            if o.k_lower is not None and not 0 <= o.k_lower <= o.k:
                bad(f"{where}: k_lower must be between 0 and k")
            if o.lower_role is not None and o.lower_role not in PEER_ROLES:
                bad(f"{where}: lower_role must be one of {PEER_ROLES}")
            if o.outcome_type == "continuous" and o.sd <= 0:
                bad(f"{where}: sd must be > 0")
            if o.outcome_type == "dichotomous" and not (
                o.baseline_risk is not None and 0 < o.baseline_risk < 1
            ):
                bad(f"{where}: baseline_risk must be in (0, 1)")
        if sum(o.k for o in self.outcomes) < self.n_contributing:
            bad("the outcomes' k add up to fewer trial slots than n_contributing")


# ---------------------------------------------------------------------------------- public API


def simulate_review(
    spec: SimulationSpec | None = None, *, seed: int = DEFAULT_SEED
) -> pd.DataFrame:
    r"""Simulate a review in the shape of an extraction sheet.

    Parameters
    ----------
    spec
        The settings (default :class:`SimulationSpec`\ ``()``, built from the published
        summaries of White et al., 2020).
    seed
        Seed of :func:`numpy.random.default_rng`; the same spec and seed give the same frame.

    Returns
    -------
    pandas.DataFrame
        One row per (contributing trial, outcome), ordered by outcome then trial, with the
        columns of ``template_columns(load_plan("peer_support"))``
        (``yi``/``sei`` empty). Counts are
        nullable integers, means and SDs rounded to ``spec.decimals``. ``.attrs`` holds
        ``simulated`` (True), ``note``, ``seed``, ``spec`` (its :meth:`~SimulationSpec.to_dict`)
        and ``generator``. Read it with :func:`bayesmeta.sheet.read_sheet`.

    Examples
    --------
    >>> from bayesmeta.plan import load_plan
    >>> from bayesmeta.sheet import read_sheet
    >>> tab = read_sheet(simulate_review(), plan=load_plan("peer_support"))
    >>> len(tab.outcomes), tab.moderators[:2]
    (11, ['org_support_higher', 'peer_add_on'])
    """
    spec = SimulationSpec() if spec is None else spec
    return _simulate(spec, seed)[1]


def simulate_trials(
    spec: SimulationSpec | None = None, *, seed: int = DEFAULT_SEED
) -> pd.DataFrame:
    """Return the simulated trials themselves, all ``n_trials`` of them, contributing or not.

    Same spec and seed as :func:`simulate_review` give the same trials.

    Returns
    -------
    pandas.DataFrame
        One row per trial: ``study``, ``n_randomised``, ``n1_randomised``, ``n2_randomised``,
        the three indicators, ``org_support_level``, ``peer_role``, ``follow_up_months``,
        ``retention``, ``contributes`` and ``n_outcomes``.

    Examples
    --------
    >>> trials = simulate_trials()
    >>> len(trials), int(trials["n_randomised"].sum()), int(trials["contributes"].sum())
    (19, 3329, 14)
    """
    spec = SimulationSpec() if spec is None else spec
    return _simulate(spec, seed)[0]


def to_csv_text(frame: pd.DataFrame) -> str:
    r"""Return the CSV text of a simulated review, exactly as bundled (UTF-8, ``\n`` line ends).

    Examples
    --------
    >>> import pandas as pd
    >>> to_csv_text(pd.DataFrame({"study": ["Trial 01 (simulated)"], "n": [40]}))
    'study,n\nTrial 01 (simulated),40\n'
    """
    return frame.to_csv(index=False, lineterminator="\n")


# ---------------------------------------------------------------------------------- generator


def _simulate(spec: SimulationSpec, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    trials = _draw_trials(spec, rng)
    chosen = _draw_incidence(spec, trials, rng)
    rows: list[dict[str, Any]] = []
    for o in spec.outcomes:
        rows += _draw_outcome(spec, o, trials, chosen[o.name], rng)
    n_outcomes = np.zeros(spec.n_trials, dtype=int)
    for idx in chosen.values():
        n_outcomes[idx] += 1
    trials["n_outcomes"] = n_outcomes
    sheet = pd.DataFrame(rows, columns=template_columns(load_plan("peer_support")))
    for c in ("n1i", "n2i", "ai", "ci", "follow_up_months", *ORG_INDICATORS):
        sheet[c] = sheet[c].astype("Int64")
    for c in ("m1i", "sd1i", "m2i", "sd2i", "yi", "sei"):
        sheet[c] = sheet[c].astype(float)
    sheet.attrs.update(
        simulated=True,
        note=_SIMULATED_NOTE,
        seed=seed,
        spec=spec.to_dict(),
        generator=f"bayesmeta.simulate.simulate_review(spec, seed={seed})",
    )
    trials.attrs.update(simulated=True, note=_SIMULATED_NOTE, seed=seed)
    return trials.drop(columns=["level_higher"]), sheet


def _draw_trials(spec: SimulationSpec, rng: np.random.Generator) -> pd.DataFrame:
    n = spec.n_trials
    raw = rng.lognormal(0.0, spec.trial_size_sd_log, n)
    spare = spec.n_participants - spec.min_trial_size * n
    share = spare * raw / raw.sum()
    extra = np.floor(share).astype(int)
    left = spare - int(extra.sum())
    extra[np.argsort(-(share - extra), kind="stable")[:left]] += 1
    size = spec.min_trial_size + extra
    n1 = np.clip(rng.binomial(size, spec.allocation), 5, size - 5)

    contributing = np.sort(rng.choice(n, spec.n_contributing, replace=False))
    mask = np.zeros(n, dtype=bool)
    mask[contributing] = True
    need_mix = spec.n_contributing >= 4 and 0 < spec.p_higher_support < 1
    for _ in range(1000):
        higher = rng.random(n) < spec.p_higher_support
        add_on = rng.random(n) < spec.p_add_on
        h = int(higher[mask].sum())
        a = int(add_on[mask].sum())
        ok_levels = not need_mix or 2 <= h <= spec.n_contributing - 2
        ok_roles = (
            spec.n_contributing < 2 or not 0 < spec.p_add_on < 1 or 0 < a < spec.n_contributing
        )
        if ok_levels and ok_roles:
            break
    met = np.where(higher, rng.integers(2, 4, n), rng.integers(0, 2, n))
    indicators = np.zeros((n, 3), dtype=int)
    for i in range(n):
        indicators[i, rng.choice(3, met[i], replace=False)] = 1
    follow = rng.choice(np.asarray(spec.follow_up_months), n)
    retention = rng.uniform(spec.retention[0], spec.retention[1], n)
    trials = pd.DataFrame(
        {
            "study": [spec.label.format(i + 1) for i in range(n)],
            "n_randomised": size,
            "n1_randomised": n1,
            "n2_randomised": size - n1,
            **{c: indicators[:, j] for j, c in enumerate(ORG_INDICATORS)},
            "org_support_level": np.where(higher, "higher", "lower"),
            "peer_role": np.where(add_on, "add-on", "substitute"),
            "follow_up_months": follow,
            "retention": retention.round(4),
            "contributes": mask,
            "level_higher": higher,
        }
    )
    return trials


def _draw_incidence(
    spec: SimulationSpec, trials: pd.DataFrame, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Which contributing trials report each outcome."""
    contributing = np.flatnonzero(trials["contributes"].to_numpy())
    higher = trials["level_higher"].to_numpy()
    role = trials["peer_role"].to_numpy()
    follow = trials["follow_up_months"].to_numpy()
    covered = np.zeros(spec.n_trials, dtype=bool)
    chosen: dict[str, np.ndarray] = {}

    def ranked(pool: np.ndarray, prefer: np.ndarray | None = None) -> list[int]:
        """Return the pool shuffled, then trials with no outcome yet (and preferred ones) first."""
        order = rng.permutation(pool)
        key = covered[order].astype(int) * 2
        if prefer is not None:
            key += (~prefer[order]).astype(int)
        return [int(i) for i in order[np.argsort(key, kind="stable")]]

    for o in spec.outcomes:
        pool = contributing
        if o.follow_up_range is not None:
            lo, hi = o.follow_up_range
            in_range = contributing[(follow[contributing] >= lo) & (follow[contributing] <= hi)]
            if in_range.size >= o.k and (
                o.k_lower is None
                or (
                    (~higher[in_range]).sum() >= o.k_lower
                    and higher[in_range].sum() >= o.k - o.k_lower
                )
            ):
                pool = in_range
        if o.k_lower is not None:
            lower_pool = pool[~higher[pool]]
            higher_pool = pool[higher[pool]]
            if lower_pool.size < o.k_lower or higher_pool.size < o.k - o.k_lower:
                raise ModelSpecError(
                    f"outcome {o.name!r}: needs {o.k_lower} lower- and {o.k - o.k_lower} "
                    f"higher-support trials, but the simulated trials have {lower_pool.size} and "
                    f"{higher_pool.size}; change k_lower, p_higher_support or the seed"
                )
            prefer = role == o.lower_role if o.lower_role is not None else None
            pick = ranked(lower_pool, prefer)[: o.k_lower]
            pick += ranked(higher_pool)[: o.k - o.k_lower]
        else:
            order = ranked(pool)
            pick = order[: o.k]
            levels = higher[pick]
            if o.k >= 3 and (levels.all() or not levels.any()):
                other = [i for i in order[o.k :] if higher[i] != levels[0]]
                if other:
                    pick[-1] = other[0]
        idx = np.sort(np.asarray(pick, dtype=int))
        covered[idx] = True
        chosen[o.name] = idx
    if not covered[contributing].all():
        raise ModelSpecError(
            f"{int((~covered[contributing]).sum())} contributing trial(s) report no outcome; "
            "raise the outcomes' k or lower n_contributing"
        )
    return chosen


def _draw_outcome(
    spec: SimulationSpec,
    o: OutcomeSpec,
    trials: pd.DataFrame,
    idx: np.ndarray,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    k = idx.size
    tr = trials.iloc[idx]
    retention = tr["retention"].to_numpy()
    n1 = np.maximum(rng.binomial(tr["n1_randomised"].to_numpy(), retention), 3)
    n2 = np.maximum(rng.binomial(tr["n2_randomised"].to_numpy(), retention), 3)
    if o.has_subgroups():
        assert o.effect_higher is not None and o.effect_lower is not None
        mu = np.where(tr["level_higher"].to_numpy(), o.effect_higher, o.effect_lower)
    else:
        mu = np.full(k, o.effect)
    if o.outcome_type == "continuous":
        v = 1 / n1 + 1 / n2 + mu**2 / (2 * (n1 + n2))
    else:
        assert o.baseline_risk is not None
        p0 = o.baseline_risk
        p1 = 1 / (1 + np.exp(-(np.log(p0 / (1 - p0)) + mu)))
        v = 1 / (n1 * p1 * (1 - p1)) + 1 / (n2 * p0 * (1 - p0))
    vt = float(v[0]) if v.size < 2 else typical_variance(v)
    tau2_total = vt * o.i2 / (1 - o.i2)
    tau2 = max(tau2_total - float(np.var(mu)), 0.0)
    theta = mu + np.sqrt(tau2) * rng.standard_normal(k)

    rows = []
    for j, t in enumerate(idx):
        trial = trials.iloc[t]
        row: dict[str, Any] = {
            "study": trial["study"],
            "outcome": o.name,
            "outcome_type": o.outcome_type,
            "measure": o.measure,
            "direction": o.direction,
            "n1i": int(n1[j]),
            "n2i": int(n2[j]),
            "follow_up_months": int(trial["follow_up_months"]),
            **{c: int(trial[c]) for c in ORG_INDICATORS},
            "org_support_level": trial["org_support_level"],
            "peer_role": trial["peer_role"],
        }
        if o.outcome_type == "continuous":
            row.update(_draw_arms(spec, o, float(theta[j]), int(n1[j]), int(n2[j]), rng))
        else:
            assert o.baseline_risk is not None
            logit0 = np.log(o.baseline_risk / (1 - o.baseline_risk))
            logit0 += spec.baseline_logit_sd * rng.standard_normal()
            risk0 = 1 / (1 + np.exp(-logit0))
            risk1 = 1 / (1 + np.exp(-(logit0 + theta[j])))
            row["ai"] = int(rng.binomial(n1[j], risk1))
            row["ci"] = int(rng.binomial(n2[j], risk0))
        rows.append(row)
    return rows


def _draw_arms(
    spec: SimulationSpec, o: OutcomeSpec, theta: float, n1: int, n2: int, rng: np.random.Generator
) -> dict[str, float]:
    lo, hi = (
        (-np.inf if o.bounds[0] is None else o.bounds[0]),
        (np.inf if o.bounds[1] is None else o.bounds[1]),
    )
    sd = o.sd * float(np.exp(spec.sd_log_sd * rng.standard_normal()))
    for _ in range(100):
        mc = o.control_mean + spec.control_mean_sd * o.sd * rng.standard_normal()
        m2 = rng.normal(mc, sd / np.sqrt(n2))
        m1 = rng.normal(mc + theta * sd, sd / np.sqrt(n1))
        if lo <= min(m1, m2) and max(m1, m2) <= hi:
            break
    else:  # pragma: no cover - only for specs whose mean sits far outside its bounds
        raise ModelSpecError(f"outcome {o.name!r}: arm means keep falling outside {o.bounds}")
    s1 = sd * np.sqrt(rng.chisquare(n1 - 1) / (n1 - 1))
    s2 = sd * np.sqrt(rng.chisquare(n2 - 1) / (n2 - 1))
    d = spec.decimals
    step = 10.0**-d
    return {
        "m1i": round(float(m1), d),
        "sd1i": max(round(float(s1), d), step),
        "m2i": round(float(m2), d),
        "sd2i": max(round(float(s2), d), step),
    }


# ---------------------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bayesmeta.simulate [--random] [--seed N] [--spec spec.json] [--out file.csv]``.

    Writes, as CSV (to standard output by default), the calibrated reconstruction
    (:func:`bayesmeta.reconstruct.reconstruct_review`, the bundled ``peer_support_simulated.csv``
    with the default seed), or with ``--random`` or ``--spec`` a random review from
    :func:`simulate_review`. ``--dump-spec`` prints the default spec as JSON instead, to edit and
    pass back with ``--spec``.

    Examples
    --------
    >>> import contextlib, io
    >>> buf = io.StringIO()
    >>> with contextlib.redirect_stdout(buf):
    ...     code = main(["--random", "--seed", "1"])
    >>> code, buf.getvalue().splitlines()[0].split(",")[:2]
    (0, ['study', 'outcome'])
    """
    parser = argparse.ArgumentParser(prog="python -m bayesmeta.simulate", description=__doc__)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--spec", help="a JSON file from --dump-spec (default: the default spec)")
    parser.add_argument("--out", help="CSV file to write (default: standard output)")
    parser.add_argument("--dump-spec", action="store_true", help="print the spec as JSON")
    parser.add_argument(
        "--random",
        action="store_true",
        help="a random review from the spec (default: the calibrated reconstruction)",
    )
    args = parser.parse_args(argv)
    if args.spec:
        with open(args.spec, encoding="utf-8") as fh:
            spec = SimulationSpec.from_dict(json.load(fh))
    else:
        spec = SimulationSpec()
    if args.dump_spec:
        sys.stdout.write(json.dumps(spec.to_dict(), indent=2) + "\n")
        return 0
    if args.random or args.spec:
        text = to_csv_text(simulate_review(spec, seed=args.seed))
    else:
        text = to_csv_text(reconstruct_review(seed=args.seed))
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
