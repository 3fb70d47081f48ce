r"""Bayesian model averaging over the four normal-normal models, exact (no MCMC).

The models for one meta-analysis are :math:`\{\mu = 0, \mu \text{ free}\} \times \{\tau = 0,
\tau \text{ free}\}` (Gronau et al. 2017, 2021; R metaBMA):

========  ===========  ==========  =======================================================
model     :math:`\mu`  :math:`\tau` marginal likelihood :math:`p(y \mid m)`
========  ===========  ==========  =======================================================
``m00``   0            0           :math:`\prod_i N(y_i; 0, s_i^2)`
``m01``   0            free        :math:`p(y \mid m_{11})\,BF_{01}^{\mu}` (Savage-Dickey)
``m10``   free         0           :math:`p(y \mid m_{11})\,BF_{01}^{\tau}`
``m11``   free         free        the full model's marginal likelihood
========  ===========  ==========  =======================================================

The full model's marginal likelihood and both Bayes factors come from the exact engine
(:func:`bayesmeta.exact.exact_posterior`), so everything here is deterministic. Posterior model
probabilities are :math:`p(m \mid y) \propto p(m)\,p(y \mid m)`; the inclusion Bayes factor for
the effect is the posterior odds of the models with :math:`\mu` free over those with
:math:`\mu = 0`, divided by the prior odds (likewise for heterogeneity). The model-averaged
posterior of :math:`\mu` is a mixture: a point mass at 0 (weight :math:`p(m_{00} \mid y) +
p(m_{01} \mid y)`), the conjugate normal posterior of the common-effect model ``m10`` and the
normal mixture of the random-effects model ``m11``.

Evidence is put into words on the scale of Lee & Wagenmakers (2013, *Bayesian Cognitive
Modeling*, Table 7.1), adapted from Jeffreys (1961): BF 1-3 anecdotal, 3-10 moderate, 10-30
strong, 30-100 very strong, above 100 extreme.

See also: R metaBMA::meta_bma, RoBMA::RoBMA (both sample with Stan/JAGS; here it is exact).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, stats

from bayesmeta.errors import ModelSpecError
from bayesmeta.exact import ExactPosterior, exact_posterior
from bayesmeta.priors import Normal, Prior

__all__ = ["EVIDENCE_SCALE", "MODELS", "ModelAveraging", "evidence_statement", "model_average"]

#: The four models, in order: (name, mu free, tau free).
MODELS: tuple[tuple[str, bool, bool], ...] = (
    ("m00", False, False),
    ("m01", False, True),
    ("m10", True, False),
    ("m11", True, True),
)

#: Lee & Wagenmakers (2013), Table 7.1 (after Jeffreys 1961): lower bound of BF -> word.
EVIDENCE_SCALE: tuple[tuple[float, str], ...] = (
    (100.0, "extreme"),
    (30.0, "very strong"),
    (10.0, "strong"),
    (3.0, "moderate"),
    (1.0, "anecdotal"),
)


def evidence_statement(bf10: float, effect: str = "an effect", null: str = "no effect") -> str:
    """Put a Bayes factor BF10 into words (Lee & Wagenmakers 2013, Table 7.1).

    Bayes factors between 1/3 and 3 are called inconclusive (the scale's "anecdotal").

    Parameters
    ----------
    bf10
        Bayes factor of the alternative (e.g. an effect) over the null.
    effect, null
        Words for the alternative and the null.

    Examples
    --------
    >>> evidence_statement(1 / 4.2)
    'moderate evidence of no effect (BF01 = 4.2)'
    >>> evidence_statement(1.3)
    'inconclusive (BF10 = 1.3)'
    >>> evidence_statement(250.0, effect="heterogeneity", null="homogeneity")
    'extreme evidence of heterogeneity (BF10 = 250)'
    """
    if not (isinstance(bf10, (int, float)) and bf10 > 0 and math.isfinite(math.log(bf10))):
        raise ModelSpecError(f"bf10 must be a positive finite number, got {bf10!r}")
    favour_alt = bf10 >= 1
    bf = bf10 if favour_alt else 1 / bf10
    label = f"BF10 = {bf10:.3g}" if favour_alt else f"BF01 = {bf:.3g}"
    if bf < 3:
        return f"inconclusive ({label})"
    word = next(w for lo, w in EVIDENCE_SCALE if bf >= lo)
    return f"{word} evidence of {effect if favour_alt else null} ({label})"


@dataclass(frozen=True)
class AveragedEffect:
    """Model-averaged posterior of ``mu``: point mass at 0 + normal + normal mixture.

    ``cdf(x) = p0 [x >= 0] + p_fe Phi((x - m_fe) / s_fe) + p_re F_re(x)``.
    """

    p0: float
    p_fe: float
    m_fe: float
    s_fe: float
    p_re: float
    re: Any  # the exact engine's MixturePosterior of mu under m11

    def cdf(self, x: float) -> float:
        """Posterior probability that ``mu <= x``."""
        fe = stats.norm.cdf(x, self.m_fe, self.s_fe)
        return float(self.p0 * (x >= 0) + self.p_fe * fe + self.p_re * float(self.re.cdf(x)))

    @property
    def mean(self) -> float:
        """Posterior mean (the point mass contributes 0)."""
        return self.p_fe * self.m_fe + self.p_re * self.re.mean

    @property
    def sd(self) -> float:
        """Posterior standard deviation of the mixture."""
        second = self.p_fe * (self.s_fe**2 + self.m_fe**2) + self.p_re * (
            self.re.sd**2 + self.re.mean**2
        )
        return math.sqrt(max(second - self.mean**2, 0.0))

    def quantile(self, q: float) -> float:
        """Smallest ``x`` with ``cdf(x) >= q`` (0 when the quantile falls in the point mass)."""
        below = self.cdf(-1e-300) if self.p0 > 0 else None
        if below is not None and below < q <= below + self.p0:
            return 0.0
        lo = min(self.m_fe - 40 * self.s_fe, float(self.re.quantile(1e-12)))
        hi = max(self.m_fe + 40 * self.s_fe, float(self.re.quantile(1 - 1e-12)))
        return float(optimize.brentq(lambda x: self.cdf(x) - q, lo, hi, xtol=1e-14, rtol=1e-12))

    def interval(self, ci_prob: float = 0.95) -> tuple[float, float]:
        """Equal-tailed interval (the point mass makes a shortest interval ill-defined)."""
        a = (1 - ci_prob) / 2
        return self.quantile(a), self.quantile(1 - a)


@dataclass(frozen=True)
class ModelAveraging:
    """Result of :func:`model_average`.

    Attributes
    ----------
    models
        One row per model (``m00``, ``m01``, ``m10``, ``m11``): ``mu_free``, ``tau_free``,
        ``prior_prob``, ``log_marginal``, ``post_prob``.
    bf_effect, bf_heterogeneity
        Inclusion Bayes factors (BF10) for an effect (``mu != 0``) and for heterogeneity.
    mu
        The model-averaged posterior of ``mu`` (:class:`AveragedEffect`).
    full
        The exact posterior of the full model ``m11``.
    """

    models: pd.DataFrame
    bf_effect: float
    bf_heterogeneity: float
    mu: AveragedEffect
    full: ExactPosterior

    @property
    def mu_given_effect(self) -> AveragedEffect:
        """Posterior of ``mu`` averaged over the models with ``mu`` free only (``m10``, ``m11``).

        This is what R metaBMA reports as its "averaged" estimate: conditional on an effect,
        averaged over fixed and random effects. ``nan`` weights if neither model has mass.
        """
        p_fe, p_re = self.mu.p_fe, self.mu.p_re
        return AveragedEffect(
            0.0, p_fe / (p_fe + p_re), self.mu.m_fe, self.mu.s_fe, p_re / (p_fe + p_re), self.mu.re
        )

    def statements(self) -> dict[str, str]:
        """Evidence for an effect and for heterogeneity, in words.

        Examples
        --------
        >>> bma = model_average([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)",
        ...                     mu_prior="normal(0, 1)")
        >>> bma.statements()["effect"]
        'moderate evidence of no effect (BF01 = 8.55)'
        """
        return {
            "effect": evidence_statement(self.bf_effect),
            "heterogeneity": evidence_statement(
                self.bf_heterogeneity, effect="heterogeneity", null="homogeneity"
            ),
        }

    def summary(self, ci_prob: float = 0.95) -> pd.Series:
        """Model-averaged summary of ``mu`` with the inclusion Bayes factors.

        Returns
        -------
        pandas.Series
            ``p_effect`` (posterior probability of ``mu != 0``), ``bf_effect``,
            ``bf_heterogeneity``, ``mean``, ``sd``, ``median``, ``ci_lb``, ``ci_ub``
            (equal-tailed), ``ci_prob``.
        """
        lb, ub = self.mu.interval(ci_prob)
        pp = self.models["post_prob"]
        return pd.Series(
            {
                "p_effect": float(pp["m10"] + pp["m11"]),
                "bf_effect": self.bf_effect,
                "bf_heterogeneity": self.bf_heterogeneity,
                "mean": self.mu.mean,
                "sd": self.mu.sd,
                "median": self.mu.quantile(0.5),
                "ci_lb": lb,
                "ci_ub": ub,
                "ci_prob": ci_prob,
            }
        )


def _prior_probs(prior_probs: Mapping[str, float] | Sequence[float] | None) -> np.ndarray:
    names = [m[0] for m in MODELS]
    if prior_probs is None:
        return np.full(4, 0.25)
    if isinstance(prior_probs, Mapping):
        unknown = set(prior_probs) - set(names)
        if unknown:
            raise ModelSpecError(f"prior_probs: unknown model(s) {sorted(unknown)}; use {names}")
        p = np.array([float(prior_probs.get(n, 0.0)) for n in names])
    else:
        p = np.asarray(prior_probs, dtype=float)
        if p.shape != (4,):
            raise ModelSpecError(f"prior_probs needs 4 values in the order {names}")
    if not (np.all(np.isfinite(p)) and np.all(p >= 0) and p.sum() > 0):
        raise ModelSpecError(f"prior_probs must be non-negative and not all 0, got {p.tolist()}")
    return p / p.sum()


def _inclusion_bf(prior: np.ndarray, post: np.ndarray, include: np.ndarray) -> float:
    """Posterior over prior inclusion odds; ``nan`` when one side has no prior mass."""
    if prior[include].sum() == 0 or prior[~include].sum() == 0:
        return math.nan
    prior_odds = prior[include].sum() / prior[~include].sum()
    post_odds = post[include].sum() / post[~include].sum()
    return float(post_odds / prior_odds)


def model_average(
    yi: ArrayLike,
    sei: ArrayLike,
    *,
    tau_prior: Prior | str | dict[str, Any],
    mu_prior: Prior | str | dict[str, Any],
    prior_probs: Mapping[str, float] | Sequence[float] | None = None,
    labels: Sequence[str] | None = None,
) -> ModelAveraging:
    """Exact Bayesian model averaging over {mu = 0, mu free} x {tau = 0, tau free}.

    Parameters
    ----------
    yi, sei
        Estimates and standard errors, one per study.
    tau_prior, mu_prior
        Proper priors (the marginal likelihoods are otherwise undefined); ``mu_prior`` normal.
    prior_probs
        Prior model probabilities, as a mapping from ``"m00"``, ``"m01"``, ``"m10"``, ``"m11"``
        or 4 values in that order; default equal (1/4 each). Models with prior probability 0
        drop out; an inclusion Bayes factor is ``nan`` when one side has no prior mass.
    labels
        Study labels.

    Raises
    ------
    ModelSpecError
        An improper or non-normal ``mu`` prior, an improper ``tau`` prior, a ``tau`` prior
        whose support excludes 0, or bad ``prior_probs``.

    See also: R metaBMA::meta_bma; R bayesmeta's ``$marginal`` and ``$bayesfactor``.

    Examples
    --------
    >>> bma = model_average([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior="half_normal(0.5)",
    ...                     mu_prior="normal(0, 1)")
    >>> bma.models["post_prob"].round(3).to_dict()
    {'m00': 0.583, 'm01': 0.312, 'm10': 0.056, 'm11': 0.049}
    >>> round(bma.bf_effect, 3), round(bma.mu.quantile(0.5), 3)
    (0.117, 0.0)
    """
    prior = _prior_probs(prior_probs)
    full = exact_posterior(yi, sei, tau_prior=tau_prior, mu_prior=mu_prior, labels=labels)
    if not isinstance(full.mu_prior, Normal) or not full.priors_proper:
        raise ModelSpecError(
            "model averaging needs proper priors: a normal mu_prior (e.g. 'normal(0, 1)') and a "
            f"proper tau_prior; got mu_prior={full.mu_prior}, tau_prior={full.tau_prior}"
        )
    y, s = full.yi, full.sei
    log11 = full.log_marginal_likelihood
    log_m = np.array(
        [
            float(np.sum(stats.norm.logpdf(y, 0.0, s))),
            log11 + math.log(full.bayes_factor("mu")),
            log11 + math.log(full.bayes_factor("tau")),
            log11,
        ]
    )
    with np.errstate(divide="ignore"):
        lp = np.log(prior) + log_m
    post = np.exp(lp - lp.max())
    post /= post.sum()
    mu_free = np.array([m[1] for m in MODELS])
    tau_free = np.array([m[2] for m in MODELS])
    # common-effect model: mu | y, tau = 0 is conjugate normal
    m0, s0 = float(full.mu_prior.mu), float(full.mu_prior.sigma)
    prec = float(np.sum(1 / s**2) + 1 / s0**2)
    m_fe = float((np.sum(y / s**2) + m0 / s0**2) / prec)
    mu = AveragedEffect(
        float(post[0] + post[1]), float(post[2]), m_fe, prec**-0.5, float(post[3]), full.mu
    )
    table = pd.DataFrame(
        {
            "mu_free": mu_free,
            "tau_free": tau_free,
            "prior_prob": prior,
            "log_marginal": log_m,
            "post_prob": post,
        },
        index=pd.Index([m[0] for m in MODELS], name="model"),
    )
    return ModelAveraging(
        table,
        _inclusion_bf(prior, post, mu_free),
        _inclusion_bf(prior, post, tau_free),
        mu,
        full,
    )
