r"""Prior sensitivity: the same meta-analysis under a set of heterogeneity priors.

:func:`prior_sensitivity` refits an EffectTable under each prior on ``tau`` (with one prior on
``mu``) and returns one tidy row per prior and outcome. For the normal-normal model the exact
engine (:func:`bayesmeta.exact.exact_posterior_batch`, no MCMC) does the work, a few
milliseconds per prior, and also gives the log marginal likelihood and the Bayes factor of
:math:`\tau = 0` when the priors are proper; for other models (``model="binomial"``) each prior
is a NUTS fit.

The Bayes factor ``bf01_tau`` is R bayesmeta's ``bayesfactor["actual", "tau=0"]``:

.. math::

    BF_{01} = \frac{p(y \mid \tau = 0)}{p(y)}, \qquad
    p(y \mid \tau = 0) = \int \prod_i N(y_i \mid \mu, s_i^2)\, N(\mu \mid m_0, s_0^2)\, d\mu

(the marginal likelihood of the common-effect model over that of the random-effects model under
that prior). Values below 1 favour heterogeneity. Because it depends on how much prior mass the
tau prior puts on large values, it is itself a sensitivity quantity.

See also: R bayesmeta's ``bayesmeta(..., tau.prior = ...)`` run once per prior.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from bayesmeta import _dims as D
from bayesmeta._registry import BINOMIAL, ENGINES, EXACT, NUTS, RANDOM_EFFECTS
from bayesmeta.errors import ModelSpecError
from bayesmeta.exact import exact_posterior_batch
from bayesmeta.models.base import default_priors
from bayesmeta.priors import (
    Flat,
    HalfCauchy,
    HalfNormal,
    Normal,
    Prior,
    Uniform,
    prior_from_spec,
    rhodes2015,
    turner2015,
)
from bayesmeta.table import EffectTable

__all__ = [
    "DEFAULT_SENSITIVITY_PRIORS",
    "ENGINES",
    "default_sensitivity_priors",
    "prior_sensitivity",
]

_MODELS: tuple[str, ...] = (RANDOM_EFFECTS, BINOMIAL)
_UNITLESS = ("SMD", "OR", "RR", "RD")

#: Generic heterogeneity priors for a sensitivity analysis on a unitless scale (SMD, log OR,
#: log RR, RD), from tight to vague:
#:
#: * half-normal with scale 0.25, 0.5 and 1 (95% of the mass below 0.49, 0.98 and 1.96):
#:   from "modest heterogeneity" to the "fairly conservative" choice of Friede et al. (2017);
#: * half-Cauchy with scale 0.5 and 1: heavy tails, the weakly informative defaults of
#:   Gelman (2006) and Röver et al. (2021);
#: * uniform on [0, 2]: flat over every plausible value (proper, so Bayes factors exist).
#:
#: :func:`default_sensitivity_priors` adds the empirical preset that fits the measure.
DEFAULT_SENSITIVITY_PRIORS: dict[str, Prior] = {
    "half-normal(0.25)": HalfNormal(0.25),
    "half-normal(0.5)": HalfNormal(0.5),
    "half-normal(1)": HalfNormal(1.0),
    "half-Cauchy(0.5)": HalfCauchy(0.5),
    "half-Cauchy(1)": HalfCauchy(1.0),
    "uniform(0, 2)": Uniform(0.0, 2.0),
}


def default_sensitivity_priors(measure: str) -> dict[str, Prior]:
    """:data:`DEFAULT_SENSITIVITY_PRIORS` plus the empirical preset for ``measure``.

    ``OR`` adds Turner et al.'s (2015) general log-normal prior
    (:func:`~bayesmeta.priors.turner2015`, derived for log odds ratios); ``SMD`` adds Rhodes et
    al.'s (2015) general log-t prior
    (:func:`~bayesmeta.priors.rhodes2015`). ``RR`` and ``RD`` get the generic list only.

    Raises
    ------
    ModelSpecError
        For measures with units (``MD``, ``generic``): a scale of 0.5 means nothing there;
        pass ``tau_priors`` on the scale of the data.

    Examples
    --------
    >>> list(default_sensitivity_priors("OR"))[-1]
    'Turner 2015 (general)'
    >>> len(default_sensitivity_priors("RR"))
    6
    """
    m = str(measure).upper()
    if m not in _UNITLESS:
        raise ModelSpecError(
            f"no default sensitivity priors for measure {measure!r}: its scale has units; "
            "pass tau_priors chosen on the scale of the data, e.g. "
            "{'half-normal(5)': 'half_normal(5)', 'half-Cauchy(5)': 'half_cauchy(5)'}"
        )
    out = dict(DEFAULT_SENSITIVITY_PRIORS)
    if m == "OR":
        out["Turner 2015 (general)"] = turner2015()
    elif m == "SMD":
        out["Rhodes 2015 (general)"] = rhodes2015()
    return out


def _tau_priors(tau_priors: Any, measure: str) -> dict[str, Prior]:
    if tau_priors is None:
        return default_sensitivity_priors(measure)
    if isinstance(tau_priors, (str, Prior)) or (
        isinstance(tau_priors, Mapping) and "family" in tau_priors
    ):
        tau_priors = [tau_priors]
    if isinstance(tau_priors, Mapping):
        items: list[tuple[str | None, Any]] = [(str(k), v) for k, v in tau_priors.items()]
    elif isinstance(tau_priors, Sequence):
        items = [(None, v) for v in tau_priors]
    else:
        raise ModelSpecError(
            f"tau_priors must be a list of priors or a dict label -> prior, got "
            f"{type(tau_priors).__name__}"
        )
    if not items:
        raise ModelSpecError("tau_priors is empty")
    out: dict[str, Prior] = {}
    for label, value in items:
        try:
            prior = prior_from_spec(value)
        except ModelSpecError as err:
            raise ModelSpecError(f"tau_priors[{label or value!r}]: {err}") from None
        if prior.target != "tau":
            raise ModelSpecError(
                f"tau_priors: {prior} is not a prior for a scale; use e.g. 'half_normal(0.5)'"
            )
        key = label if label is not None else str(prior)
        if key in out:
            raise ModelSpecError(f"tau_priors: label {key!r} appears twice")
        out[key] = prior
    return out


def _measure(table: EffectTable) -> str:
    vals = table.data["measure"].unique()
    if len(vals) != 1:
        raise ModelSpecError(f"an outcome mixes measures {list(vals)}; use one per outcome")
    return str(vals[0])


def _log_ml_tau0(y: np.ndarray, s: np.ndarray, mu_prior: Prior) -> float:
    """Log p(y | tau = 0) with mu ~ Normal(m0, s0) integrated out (NaN for a flat mu prior)."""
    if not isinstance(mu_prior, Normal):
        return math.nan
    m0, s0 = float(mu_prior.mu), float(mu_prior.sigma)
    w = 1.0 / s**2
    prec = w.sum() + 1.0 / s0**2
    m = (w @ y + m0 / s0**2) / prec
    quad = w @ (y * y) + m0**2 / s0**2 - prec * m * m
    return float(
        -0.5 * y.size * math.log(2 * math.pi)
        - 0.5 * np.log(s**2).sum()
        - math.log(s0)
        - 0.5 * math.log(prec)
        - 0.5 * quad
    )


def prior_sensitivity(
    table: EffectTable,
    tau_priors: Sequence[Any] | Mapping[str, Any] | None = None,
    *,
    mu_prior: Prior | str | dict[str, Any] | None = None,
    engine: str = "auto",
    model: str = "random_effects",
    ci_prob: float = 0.95,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 4,
    random_seed: int | None = None,
    nuts_sampler: str | None = None,
) -> pd.DataFrame:
    """Posterior summaries of every outcome under each heterogeneity prior.

    Parameters
    ----------
    table
        The effect table (one or more outcomes; each outcome is analysed on its own).
    tau_priors
        Priors on ``tau``: a list (labelled by ``str(prior)``) or a dict label -> prior; values
        are :class:`~bayesmeta.priors.Prior` objects or specs like ``"half_normal(0.5)"``.
        Default: :func:`default_sensitivity_priors` of each outcome's measure.
    mu_prior
        Prior on ``mu`` shared by every run (normal or flat). Default: the models' default for
        the outcome's measure (:func:`~bayesmeta.models.default_priors`), so exact and NUTS
        runs agree and, being proper, marginal likelihoods exist.
    engine
        ``"auto"`` (exact for ``model="random_effects"``, NUTS otherwise), ``"exact"`` or
        ``"nuts"``.
    model
        ``"random_effects"`` (normal-normal) or ``"binomial"`` (2x2 counts, log odds ratio;
        NUTS only).
    ci_prob
        Probability of the equal-tailed intervals.
    draws, tune, chains, random_seed, nuts_sampler
        Passed to :meth:`~bayesmeta.models.BaseModel.fit` for NUTS runs (the same seed for
        every prior).

    Returns
    -------
    pandas.DataFrame
        One row per (outcome, prior): ``outcome``, ``prior`` (label), ``tau_prior``,
        ``mu_prior``, ``engine``, ``k``, ``mu_median``, ``mu_ci_lb``, ``mu_ci_ub``,
        ``tau_median``, ``tau_ci_lb``, ``tau_ci_ub``, ``pi_lb``, ``pi_ub`` (interval of
        ``theta_new``, the effect in a new trial), ``p_benefit`` (``P(mu > 0)`` or
        ``P(mu < 0)`` following ``table.direction(outcome)``), ``log_ml`` (log marginal
        likelihood; exact engine and proper priors only, else NaN) and ``bf01_tau`` (Bayes
        factor of ``tau = 0``, see the module docstring). ``df.attrs`` records ``ci_prob``.

    Examples
    --------
    >>> import pandas as pd
    >>> from bayesmeta import EffectTable
    >>> tab = EffectTable(pd.DataFrame({"study": list("abcde"),
    ...     "yi": [0.1, 0.3, 0.2, 0.6, -0.1], "vi": [0.01, 0.02, 0.015, 0.03, 0.02]}),
    ...     measure="SMD", direction="higher")
    >>> df = prior_sensitivity(tab, ["half_normal(0.25)", "half_cauchy(1)"])
    >>> df[["prior", "engine"]].values.tolist()
    [['HalfNormal(scale=0.25)', 'exact'], ['HalfCauchy(scale=1)', 'exact']]
    >>> bool((df["tau_median"].diff().dropna() > 0).all())
    True
    """
    use = _resolve_engine(table, engine, model, ci_prob)
    mp_user = None if mu_prior is None else prior_from_spec(mu_prior)
    if mp_user is not None and not isinstance(mp_user, (Normal, Flat)):
        raise ModelSpecError(f"mu_prior must be normal or flat, got {mp_user}")
    # per outcome: (sub-table, mu prior, tau priors)
    plan: list[tuple[str, EffectTable, Prior, dict[str, Prior]]] = []
    for o, sub in table.by_outcome():
        measure = _measure(sub)
        mp = mp_user if mp_user is not None else default_priors(measure, sub.sei)[D.MU]
        plan.append((o, sub, mp, _tau_priors(tau_priors, measure)))
    if use == EXACT:
        rows = _exact_rows(plan, ci_prob)
    else:
        fit_kw = {
            "draws": draws,
            "tune": tune,
            "chains": chains,
            "random_seed": random_seed,
            "nuts_sampler": nuts_sampler,
            "engine": NUTS,
        }
        rows = _nuts_rows(plan, model, ci_prob, fit_kw)
    out = pd.DataFrame(rows)
    out.attrs.update(ci_prob=ci_prob, ci_kind="eti", model=model)
    return out


def _resolve_engine(table: EffectTable, engine: str, model: str, ci_prob: float) -> str:
    """Check the arguments of :func:`prior_sensitivity`; return the engine it uses."""
    if not isinstance(table, EffectTable):
        raise ModelSpecError(f"table must be an EffectTable, got {type(table).__name__}")
    if engine not in ENGINES:
        raise ModelSpecError(f"engine must be one of {ENGINES}, got {engine!r}")
    if model not in _MODELS:
        raise ModelSpecError(f"model must be one of {_MODELS}, got {model!r}")
    if not 0 < float(ci_prob) < 1:
        raise ModelSpecError(f"ci_prob must be in (0, 1), got {ci_prob!r}")
    if engine == "auto":
        return EXACT if model == RANDOM_EFFECTS else NUTS
    if engine == EXACT and model != RANDOM_EFFECTS:
        raise ModelSpecError(
            f"the exact engine covers the normal-normal model only; model={model!r} needs "
            "engine='nuts' (or 'auto')"
        )
    return engine


def _row(o: str, label: str, tp: Prior, mp: Prior, engine: str, sub: EffectTable) -> dict[str, Any]:
    return {
        "outcome": o,
        "prior": label,
        "tau_prior": str(tp),
        "mu_prior": str(mp),
        "engine": engine,
        "k": sub.k,
    }


def _exact_rows(
    plan: list[tuple[str, EffectTable, Prior, dict[str, Prior]]], ci_prob: float
) -> list[dict[str, Any]]:
    # one batch per (tau prior, mu prior) over every outcome sharing them; ragged k padded
    groups: dict[tuple[str, str], list[tuple[int, str, Prior, Prior]]] = {}
    for i, (_, _, mp, priors) in enumerate(plan):
        for label, tp in priors.items():
            key = (repr(tp.to_dict()), repr(mp.to_dict()))
            groups.setdefault(key, []).append((i, label, tp, mp))
    results: dict[tuple[int, str], dict[str, Any]] = {}
    for members in groups.values():
        tp, mp = members[0][2], members[0][3]
        kmax = max(plan[i][1].k for i, *_ in members)
        Y = np.full((len(members), kmax), np.nan)
        S = np.full((len(members), kmax), np.nan)
        for r, (i, *_) in enumerate(members):
            sub = plan[i][1]
            Y[r, : sub.k], S[r, : sub.k] = sub.yi, sub.sei
        batch = exact_posterior_batch(Y, S, tau_prior=tp, mu_prior=mp, ci_prob=ci_prob)
        for r, (i, label, _, _) in enumerate(members):
            o, sub = plan[i][0], plan[i][1]
            b = batch.iloc[r]
            p_gt0 = float(b["prob_mu_gt_0"])
            log_ml = float(b["log_marginal_likelihood"])
            bf = math.nan
            if math.isfinite(log_ml) and tp.support[0] == 0:
                bf = math.exp(_log_ml_tau0(sub.yi, sub.sei, mp) - log_ml)
            results[(i, label)] = {
                **_row(o, label, tp, mp, EXACT, sub),
                "mu_median": float(b["mu_median"]),
                "mu_ci_lb": _bound(b, D.MU, "lb"),
                "mu_ci_ub": _bound(b, D.MU, "ub"),
                "tau_median": float(b["tau_median"]),
                "tau_ci_lb": _bound(b, D.TAU, "lb"),
                "tau_ci_ub": _bound(b, D.TAU, "ub"),
                "pi_lb": _bound(b, D.THETA_NEW, "lb"),
                "pi_ub": _bound(b, D.THETA_NEW, "ub"),
                "p_benefit": p_gt0 if sub.direction() == "higher" else 1.0 - p_gt0,
                "log_ml": log_ml,
                "bf01_tau": bf,
            }
    return [results[(i, label)] for i, (_, _, _, pri) in enumerate(plan) for label in pri]


def _bound(row: pd.Series, var: str, side: str) -> float:
    """Return the interval bound ``{var}_ci_lb`` / ``_ci_ub`` of a batch row.

    Older batch tables name them ``{var}_lower`` / ``_upper``.
    """
    name = f"{var}_ci_{side}"
    if name not in row.index:
        name = f"{var}_{'lower' if side == 'lb' else 'upper'}"
    return float(row[name])


def _nuts_rows(
    plan: list[tuple[str, EffectTable, Prior, dict[str, Prior]]],
    model: str,
    ci_prob: float,
    fit_kw: dict[str, Any],
) -> list[dict[str, Any]]:
    from bayesmeta.models import Binomial, RandomEffects
    from bayesmeta.results import interval

    cls = Binomial if model == BINOMIAL else RandomEffects
    rows = []
    for o, sub, mp, priors in plan:
        for label, tp in priors.items():
            res = cls(sub, priors={D.MU: mp, D.TAU: tp}).fit(**fit_kw)
            mu, tau, tn = res.draws(D.MU), res.draws(D.TAU), res.draws(D.THETA_NEW)
            mlo, mhi = interval(mu, ci_prob)
            tlo, thi = interval(tau, ci_prob)
            plo, phi = interval(tn, ci_prob)
            rows.append(
                {
                    **_row(o, label, tp, mp, NUTS, sub),
                    "mu_median": float(np.median(mu)),
                    "mu_ci_lb": mlo,
                    "mu_ci_ub": mhi,
                    "tau_median": float(np.median(tau)),
                    "tau_ci_lb": tlo,
                    "tau_ci_ub": thi,
                    "pi_lb": plo,
                    "pi_ub": phi,
                    "p_benefit": res.prob_benefit(),
                    "log_ml": math.nan,
                    "bf01_tau": math.nan,
                }
            )
    return rows
