"""Tests of bayesmeta.priors: densities against scipy, JSON round trips, parsing, errors, PyMC."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from bayesmeta.errors import ModelSpecError
from bayesmeta.priors import (
    Exponential,
    Flat,
    HalfCauchy,
    HalfNormal,
    HalfStudentT,
    ImproperUniform,
    LogNormal,
    LogStudentT,
    Normal,
    Prior,
    Uniform,
    prior_from_spec,
    rhodes2015,
    turner2015,
)

X = np.array([0.0, 1e-3, 0.05, 0.3, 1.0, 2.5, 10.0, 1e3])
P = np.array([1e-6, 0.025, 0.3, 0.5, 0.9, 0.975])

# (prior, the same distribution in scipy)
PROPER = [
    (HalfNormal(0.5), stats.halfnorm(scale=0.5)),
    (HalfCauchy(25.0), stats.halfcauchy(scale=25.0)),
    (HalfStudentT(3.0, 0.7), None),
    (Uniform(0.1, 2.0), stats.uniform(loc=0.1, scale=1.9)),
    (LogNormal(-1.28, 0.87), stats.lognorm(s=0.87, scale=math.exp(-1.28))),
    (LogStudentT(5.0, -1.72, 1.295), None),
    (Exponential(0.4), stats.expon(scale=0.4)),
    (Normal(0.3, 2.0), stats.norm(0.3, 2.0)),
]
ALL = [p for p, _ in PROPER] + [ImproperUniform(), Flat()]


def _halft_logpdf(x, nu, scale):
    return np.where(x >= 0, np.log(2) + stats.t.logpdf(x / scale, nu) - np.log(scale), -np.inf)


def _logt_logpdf(x, nu, m, s):
    with np.errstate(divide="ignore", invalid="ignore"):
        lx = np.log(x)
        return np.where(x > 0, stats.t.logpdf((lx - m) / s, nu) - np.log(s) - lx, -np.inf)


@pytest.mark.parametrize(("prior", "ref"), PROPER, ids=[str(p) for p, _ in PROPER])
def test_logpdf_cdf_ppf_against_scipy(prior, ref):
    x = X if prior.target == "tau" else np.concatenate([-X[::-1], X])
    got = prior.logpdf(x)
    if isinstance(prior, HalfStudentT):
        want = _halft_logpdf(x, prior.nu, prior.scale)
    elif isinstance(prior, LogStudentT):
        want = _logt_logpdf(x, prior.nu, prior.mu, prior.sigma)
    else:
        with np.errstate(divide="ignore"):
            want = ref.logpdf(x)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(prior.pdf(x), np.exp(want), rtol=1e-12, atol=1e-300)
    # cdf and ppf
    if ref is not None:
        np.testing.assert_allclose(prior.cdf(x), ref.cdf(x), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(prior.ppf(P), ref.ppf(P), rtol=1e-10)
    q = prior.ppf(P)
    np.testing.assert_allclose(prior.cdf(q), P, rtol=1e-10)


@pytest.mark.parametrize("prior", [p for p, _ in PROPER], ids=str)
def test_densities_integrate_to_one(prior):
    from scipy import integrate

    lo, hi = prior.support
    # integrate in pieces split at prior quantiles so heavy tails are handled
    pts = [lo, *prior.ppf(np.array([0.01, 0.5, 0.99])), hi]
    total = sum(
        integrate.quad(lambda t: float(prior.pdf(t)), a, b, limit=200)[0]
        for a, b in itertools.pairwise(pts)
    )
    assert total == pytest.approx(1.0, abs=1e-7)


def test_improper_priors():
    assert not ImproperUniform().is_proper and not Flat().is_proper
    assert HalfNormal(1.0).is_proper
    np.testing.assert_array_equal(ImproperUniform().logpdf([-1.0, 0.0, 5.0]), [-np.inf, 0, 0])
    np.testing.assert_array_equal(Flat().logpdf([-1e9, 0.0]), [0.0, 0.0])
    with pytest.raises(ModelSpecError, match="cumulative"):
        ImproperUniform().cdf(1.0)
    with pytest.raises(ModelSpecError, match="quantile"):
        Flat().ppf(0.5)


def test_support():
    assert HalfNormal(1.0).support == (0.0, math.inf)
    assert Uniform(0.5, 2.0).support == (0.5, 2.0)
    assert Normal(0, 1).support == (-math.inf, math.inf)
    assert HalfNormal(1.0).logpdf(-0.1) == -np.inf
    assert LogNormal(0, 1).logpdf(0.0) == -np.inf


@pytest.mark.parametrize("prior", ALL, ids=str)
def test_json_round_trip(prior):
    d = prior.to_dict()
    assert d["family"] == prior.family
    text = json.dumps(d)
    back = Prior.from_dict(json.loads(text))
    assert back == prior
    assert type(back) is type(prior)
    # str() parses back too
    assert prior_from_spec(str(prior)) == prior


def test_to_dict_and_str_format():
    assert HalfNormal(0.5).to_dict() == {"family": "half_normal", "scale": 0.5}
    assert str(HalfNormal(0.5)) == "HalfNormal(scale=0.5)"
    assert str(HalfCauchy(25)) == "HalfCauchy(scale=25)"
    assert repr(Uniform(0, 2)) == "Uniform(lower=0, upper=2)"
    assert ImproperUniform().to_dict() == {"family": "improper_uniform"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("half_normal(0.5)", HalfNormal(0.5)),
        ("half_cauchy(scale=1)", HalfCauchy(1.0)),
        ("HalfCauchy(scale=25)", HalfCauchy(25.0)),
        ("halfnormal( 2 )", HalfNormal(2.0)),
        ("half_student_t(3, scale=0.5)", HalfStudentT(3.0, 0.5)),
        ("uniform(0, 5)", Uniform(0.0, 5.0)),
        ("log_normal(mu=-1.28, sigma=0.87)", LogNormal(-1.28, 0.87)),
        ("log_student_t(5, -1.72, 1.295)", LogStudentT(5.0, -1.72, 1.295)),
        ("exponential(0.5)", Exponential(0.5)),
        ("improper_uniform", ImproperUniform()),
        ("improper_uniform()", ImproperUniform()),
        ("flat", Flat()),
        ("normal(0, 4)", Normal(0.0, 4.0)),
        ({"family": "half_normal", "scale": 0.5}, HalfNormal(0.5)),
        (HalfNormal(0.5), HalfNormal(0.5)),
    ],
)
def test_prior_from_spec(spec, expected):
    assert prior_from_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("half_gumbel(1)", "unknown prior family 'half_gumbel'; known families: exponential, flat"),
        ("half_normal(-1)", "scale must be finite and > 0"),
        ("half_normal(0)", "scale must be finite and > 0"),
        ("half_normal(inf)", "scale must be finite and > 0, got inf"),
        ("half_normal(float('nan'))", "must be numbers"),
        ("half_normal(1, 2)", "takes 1 parameter"),
        ("half_normal(width=1)", "has no parameter 'width'"),
        ("half_normal()", "missing parameter"),
        ("normal(0)", "missing parameter"),
        ("uniform(2, 1)", "upper must exceed lower"),
        ("uniform(-1, 1)", "lower must be >= 0"),
        ("log_normal(nan, 1)", "mu must be finite, got nan"),
        ("half normal 0.5", "cannot parse"),
        ({"scale": 1}, "'family' key"),
        (3.0, "must be a str, dict or Prior"),
    ],
)
def test_bad_specs(spec, match):
    with pytest.raises(ModelSpecError, match=match):
        prior_from_spec(spec)


def test_constructor_validation():
    with pytest.raises(ModelSpecError, match="HalfCauchy: scale"):
        HalfCauchy(-2.0)
    with pytest.raises(ModelSpecError, match="Normal: mu must be finite"):
        Normal(float("inf"), 1.0)
    with pytest.raises(ModelSpecError, match="must be a number"):
        HalfNormal("0.5")  # type: ignore[arg-type]


def test_turner2015_values():
    # general (marginal) setting: tau^2 ~ logN(-2.56, 1.74^2), p. 993
    assert turner2015() == LogNormal(-1.28, 0.87)
    # Table IV, all-cause mortality, pharmacological vs placebo/control: (-3.95, 1.34)
    p = turner2015("all-cause mortality", "pharmacological vs. placebo / control")
    assert p == LogNormal(-3.95 / 2, 1.34 / 2)
    assert turner2015("all-cause", ("placebo / control", "pharmacological")) == p
    # subjective outcomes, non-pharmacological vs non-pharmacological: (-2.26, 1.45)
    assert turner2015("subjective", "non-pharmacological vs. non") == LogNormal(-1.13, 0.725)
    # the tau prior is the tau^2 prior transformed: P(tau <= t) = P(tau^2 <= t^2)
    t = np.array([0.05, 0.2, 0.8])
    tau2 = stats.lognorm(s=1.74, scale=math.exp(-2.56))
    np.testing.assert_allclose(turner2015().cdf(t), tau2.cdf(t**2), rtol=1e-12)
    with pytest.raises(ModelSpecError, match="placebo / control with itself"):
        turner2015("pain", ("placebo", "placebo"))
    with pytest.raises(ModelSpecError, match="unknown outcome type"):
        turner2015("haircut")
    with pytest.raises(ModelSpecError, match="ambiguous"):
        turner2015("s", "pharmacological vs. placebo / control")
    with pytest.raises(ModelSpecError, match="required"):
        turner2015("pain")


def test_rhodes2015_values():
    # general setting: log(tau^2) ~ t5(-3.44, 2.59)
    assert rhodes2015() == LogStudentT(5.0, -1.72, 1.295)
    # Table 3, obstetric outcome, pharmacological vs placebo/control: (-4.13, 2.34)
    assert rhodes2015("obstetric", "pharmacological vs. placebo") == LogStudentT(
        5.0, -4.13 / 2, 2.34 / 2
    )
    # Table A.3.2 (cancer), resource use, non-pharmacological: (+0.15, 2.68)
    assert rhodes2015("resource", ("non-pharmacological", "placebo"), "cancer") == LogStudentT(
        5.0, 0.075, 1.34
    )
    # Table A.3.1 (respiratory), biological marker, pharmacological vs pharmacological
    assert rhodes2015("biological", ("pharmacological", "pharmacological"), "resp") == LogStudentT(
        5.0, -5.59 / 2, 2.78 / 2
    )
    # density on tau = density of tau^2 times the Jacobian 2 tau
    prior = rhodes2015()
    t = np.array([0.01, 0.1, 0.5, 2.0])
    dens_tau2 = stats.t.pdf((np.log(t**2) + 3.44) / 2.59, 5) / (2.59 * t**2)
    np.testing.assert_allclose(prior.pdf(t), dens_tau2 * 2 * t, rtol=1e-12)
    with pytest.raises(ModelSpecError, match="medical area"):
        rhodes2015("obstetric", "pharmacological vs. placebo", "dermatology")


def test_module_does_not_import_pymc():
    code = (
        "import sys, bayesmeta.priors, bayesmeta.exact; "
        "print('pymc' in sys.modules or 'pytensor' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("prior", [p for p, _ in PROPER], ids=str)
def test_to_pymc_logp_matches_logpdf(prior):
    pm = pytest.importorskip("pymc")
    with pm.Model() as model:
        rv = prior.to_pymc("x")
    assert model["x"] is rv
    for x in prior.ppf(np.array([0.1, 0.5, 0.9])):
        got = float(pm.logp(rv, x).eval())
        assert got == pytest.approx(float(prior.logpdf(x)), rel=1e-6, abs=1e-6)
    # positive priors sample on an unconstrained scale (log or interval transform)
    if prior.target == "tau":
        assert model.rvs_to_transforms[rv] is not None


def test_to_pymc_improper_and_kwargs():
    pm = pytest.importorskip("pymc")
    with pm.Model(coords={"study": ["a", "b"]}) as model:
        t = ImproperUniform().to_pymc("tau")
        m = Flat().to_pymc("mu", dims="study")
    assert model.rvs_to_transforms[t] is not None  # HalfFlat: log transform
    assert type(t.owner.op).__name__ == "HalfFlatRV"
    assert type(m.owner.op).__name__ == "FlatRV"
    assert model.named_vars_to_dims["mu"] == ("study",)
