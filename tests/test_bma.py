"""Exact Bayesian model averaging against R bayesmeta's marginal likelihoods and Bayes factors."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from bayesmeta.bma import evidence_statement, model_average
from bayesmeta.errors import ModelSpecError
from bayesmeta.priors import ImproperUniform

REF = json.loads(
    (Path(__file__).parents[1] / "models" / "model-averaging" / "reference.json").read_text()
)
CASES = {c["id"]: c for c in REF["cases"]}
#: R bayesmeta integrates the marginal likelihood with integrate(rel.tol = 2^16 eps ~ 1.5e-11);
#: the exact engine agrees with independent quadrature to ~1e-10, so 1e-8 leaves room for both.
PROB_TOL = 1e-8
LOGML_TOL = 1e-8

PRIORS = {"tau_prior": "half_normal(0.5)", "mu_prior": "normal(0, 4)"}


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_posterior_model_probabilities_equal_r_bayesmeta(case_id):
    case = CASES[case_id]
    bma = model_average(case["data"]["yi"], case["data"]["sei"], **PRIORS)
    for name, value in case["log_marginal"].items():
        assert bma.models.loc[name, "log_marginal"] == pytest.approx(value, abs=LOGML_TOL), name
    for name, value in case["posterior_probability"].items():
        assert bma.models.loc[name, "post_prob"] == pytest.approx(value, rel=PROB_TOL, abs=1e-300)
    assert math.log(bma.bf_effect) == pytest.approx(math.log(case["inclusion_bf_effect"]), abs=1e-8)
    assert math.log(bma.bf_heterogeneity) == pytest.approx(
        math.log(case["inclusion_bf_heterogeneity"]), abs=1e-8
    )


def test_averaged_mu_cdf_matches_independent_mixture():
    """The averaged cdf equals point mass + conjugate normal + the full model's mu, integrated."""
    case = CASES["eight_schools"]
    y, s = np.array(case["data"]["yi"]), np.array(case["data"]["sei"])
    bma = model_average(y, s, **PRIORS)
    post = bma.models["post_prob"]

    def full_density(mu):  # p(mu | y, m11) by quadrature over tau, independent of the engine
        def joint(tau, m):
            return (
                stats.halfnorm.pdf(tau, scale=0.5)
                * stats.norm.pdf(m, 0, 4)
                * np.prod(stats.norm.pdf(y, m, np.sqrt(s**2 + tau**2)))
            )

        return integrate.quad(joint, 0, np.inf, args=(mu,), epsabs=0, epsrel=1e-12)[0]

    norm_const = math.exp(bma.models.loc["m11", "log_marginal"])
    f_full = integrate.quad(lambda m: full_density(m) / norm_const, -np.inf, 5.0, epsrel=1e-10)[0]
    prec = np.sum(1 / s**2) + 1 / 16
    m_fe = np.sum(y / s**2) / prec
    expected = post["m00"] + post["m01"] + post["m10"] * stats.norm.cdf(5.0, m_fe, prec**-0.5)
    expected += post["m11"] * f_full
    assert bma.mu.cdf(5.0) == pytest.approx(expected, abs=1e-8)
    q = bma.mu.quantile(0.9)
    assert bma.mu.cdf(q) == pytest.approx(0.9, abs=1e-10)


def test_quantile_inside_the_point_mass_is_zero():
    bma = model_average([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], **PRIORS)
    below = bma.mu.cdf(-1e-12)
    assert bma.mu.quantile(below + 0.5 * (bma.mu.cdf(0.0) - below)) == 0.0


def test_prior_model_probabilities_are_used():
    y, s = CASES["bcg"]["data"]["yi"], CASES["bcg"]["data"]["sei"]
    equal = model_average(y, s, **PRIORS)
    only_re = model_average(y, s, prior_probs={"m01": 1, "m11": 1}, **PRIORS)
    assert only_re.models.loc[["m00", "m10"], "post_prob"].sum() == 0
    assert math.isnan(only_re.bf_heterogeneity)  # no prior mass on tau = 0
    # the inclusion BF does not depend on the prior model odds when each side keeps one model
    assert math.log(only_re.bf_effect) == pytest.approx(
        equal.models.loc["m11", "log_marginal"] - equal.models.loc["m01", "log_marginal"]
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tau_prior": "half_normal(0.5)", "mu_prior": "flat"},
        {"tau_prior": ImproperUniform(), "mu_prior": "normal(0, 1)"},
    ],
)
def test_improper_priors_are_refused(kwargs):
    with pytest.raises(ModelSpecError, match="proper"):
        model_average([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], **kwargs)


@pytest.mark.parametrize("bad", [[1, 2, 3], [-1, 1, 1, 1], {"m22": 1}, [0, 0, 0, 0]])
def test_bad_prior_probs(bad):
    with pytest.raises(ModelSpecError, match="prior_probs"):
        model_average([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], prior_probs=bad, **PRIORS)


@pytest.mark.parametrize(
    ("bf10", "text"),
    [
        (1 / 4.2, "moderate evidence of no effect (BF01 = 4.2)"),
        (1.3, "inconclusive (BF10 = 1.3)"),
        (1 / 2.9, "inconclusive (BF01 = 2.9)"),
        (12.0, "strong evidence of an effect (BF10 = 12)"),
        (45.0, "very strong evidence of an effect (BF10 = 45)"),
        (1 / 150, "extreme evidence of no effect (BF01 = 150)"),
    ],
)
def test_evidence_words_follow_lee_wagenmakers(bf10, text):
    assert evidence_statement(bf10) == text


def test_mu_given_effect_averages_only_models_with_an_effect():
    case = CASES["eight_schools"]
    bma = model_average(case["data"]["yi"], case["data"]["sei"], **PRIORS)
    cond = bma.mu_given_effect
    post = bma.models["post_prob"]
    w_re = post["m11"] / (post["m10"] + post["m11"])
    assert cond.p0 == 0
    assert cond.mean == pytest.approx((1 - w_re) * cond.m_fe + w_re * bma.full.mu.mean, rel=1e-12)
    assert cond.cdf(0.0) == pytest.approx(
        (1 - w_re) * stats.norm.cdf(0.0, cond.m_fe, cond.s_fe) + w_re * float(bma.full.mu.cdf(0.0))
    )
