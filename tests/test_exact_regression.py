"""The exact engine with a design matrix (meta-regression) against an independent quadrature.

(a) An oracle written here from the textbook formulas, independently of ``bayesmeta.exact``:
    ``p(y | tau)`` from the k x k marginal covariance (normal coefficients integrated into the
    covariance, flat ones by the restricted-likelihood formula), the coefficients given tau by
    generalised least squares, and every integral over tau by ``scipy.integrate.quad``. Six
    datasets with binary and continuous moderators, with and without an intercept, flat, normal
    and mixed coefficient priors, half-normal and half-Cauchy tau priors.
(b) Independent draws (``draw_posterior``) against the exact summaries, within Monte Carlo error.
(c) R bayesmeta's ``bmr`` (``models/normal-normal-regression/reference.json``) within R's grid
    error.
(d) Improper posteriors and bad inputs, decided before any computation.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, special, stats
from scipy.integrate import IntegrationWarning

from bayesmeta import datasets
from bayesmeta.errors import DataError, ModelSpecError
from bayesmeta.exact import draw_posterior, exact_posterior
from bayesmeta.priors import Flat, HalfCauchy, HalfNormal, ImproperUniform, Normal

# Every reported quantity must match the oracle to 1e-6: absolute for quantities of order one,
# relative for larger ones. The oracle's own error is ~1e-10 (quad at epsabs 1e-13 / epsrel
# 1e-12), so this tests the engine.
ORACLE_TOL = 1e-6
# Quantiles are checked through the oracle's CDF: |F(q) - p| / f(q) is the error of q itself.
PROBS = (0.025, 0.5, 0.975)
# Draws: a sample mean or a sample proportion must lie within MC_Z Monte Carlo standard errors of
# the exact value. With MC_Z = 4.5 one check fails by chance with probability ~7e-6, so the ~200
# checks here (at a fixed seed) would raise a false alarm in fewer than 1 run in 500.
MC_Z = 4.5
N_DRAWS = 20_000

REF_PATH = (
    Path(__file__).resolve().parents[1] / "models" / "normal-normal-regression" / "reference.json"
)


def close(a: float, b: float, tol: float = ORACLE_TOL) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(b))


# ------------------------------------------------------------------------------------------------
# datasets
# ------------------------------------------------------------------------------------------------


def bcg() -> pd.DataFrame:
    """Log risk ratios of dat.bcg (as metafor's escalc("RR")), with the moderators."""
    d = datasets.load_bcg()
    n1, n2 = d["tpos"] + d["tneg"], d["cpos"] + d["cneg"]
    yi = np.log(d["tpos"] / n1) - np.log(d["cpos"] / n2)
    vi = 1 / d["tpos"] - 1 / n1 + 1 / d["cpos"] - 1 / n2
    return d.assign(yi=yi, sei=np.sqrt(vi))


def normand() -> pd.DataFrame:
    """Mean differences of normand1999 (length of stay), with a binary moderator."""
    d = datasets.load_normand1999()
    yi = d["m1i"] - d["m2i"]
    sei = np.sqrt(d["sd1i"] ** 2 / d["n1i"] + d["sd2i"] ** 2 / d["n2i"])
    orpington = d["source"].str.startswith("Orpington").astype(float)
    return d.assign(yi=yi, sei=sei, orpington=orpington)


def synthetic() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k = 12, two groups coded without an intercept (cell means) plus a continuous dose."""
    rng = np.random.default_rng(2026)
    group = np.repeat([0.0, 1.0], 6)
    dose = rng.uniform(-1, 1, 12)
    X = np.column_stack([1 - group, group, dose])
    s = rng.uniform(0.1, 0.4, 12)
    y = X @ np.array([0.2, -0.3, 0.5]) + rng.normal(0, 0.2, 12) + rng.normal(0, s)
    return y, s, X


def _bcg_case(cols: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    d = bcg()
    parts, names = [np.ones(len(d))], ["intercept"]
    for c in cols:
        if c == "alloc":
            parts += [(d["alloc"] == "random").astype(float), (d["alloc"] == "systematic") * 1.0]
            names += ["allocrandom", "allocsystematic"]
        else:
            parts.append(d[c].to_numpy(float) - d[c].mean())
            names.append(c)
    return d["yi"].to_numpy(), d["sei"].to_numpy(), np.column_stack(parts), names


def _cases() -> dict[str, dict]:
    y1, s1, X1, n1 = _bcg_case(["alloc"])
    y2, s2, X2, n2 = _bcg_case(["ablat"])
    y3, s3, X3, n3 = _bcg_case(["ablat", "year"])
    nd = normand()
    y4, s4 = nd["yi"].to_numpy(), nd["sei"].to_numpy()
    X4 = np.column_stack([np.ones(len(nd)), nd["orpington"]])
    y5, s5, X5 = synthetic()
    return {
        "bcg_alloc_halfnormal_flat": dict(
            y=y1, s=s1, X=X1, names=n1, tau=("hn", 0.5), beta=[None, None, None]
        ),
        "bcg_ablat_halfcauchy_normal": dict(
            y=y2, s=s2, X=X2, names=n2, tau=("hc", 0.5), beta=[(0.0, 4.0), (0.0, 0.1)]
        ),
        "bcg_ablat_year_halfnormal_mixed": dict(
            y=y3, s=s3, X=X3, names=n3, tau=("hn", 1.0), beta=[None, (0.0, 0.1), None]
        ),
        "normand_orpington_halfcauchy_flat": dict(
            y=y4, s=s4, X=X4, names=["intercept", "orpington"], tau=("hc", 10.0),
            beta=[None, None],
        ),
        "normand_orpington_halfnormal_normal": dict(
            y=y4, s=s4, X=X4, names=["intercept", "orpington"], tau=("hn", 20.0),
            beta=[(0.0, 100.0), (0.0, 50.0)],
        ),
        "synthetic_cellmeans_dose_halfnormal_normal": dict(
            y=y5, s=s5, X=X5, names=["group0", "group1", "dose"], tau=("hn", 0.5),
            beta=[(0.0, 1.0), (0.0, 1.0), (0.0, 1.0)],
        ),
    }  # fmt: skip


CASES = _cases()


def _priors(c: dict):
    kind, scale = c["tau"]
    tau_prior = HalfNormal(scale) if kind == "hn" else HalfCauchy(scale)
    beta = [Flat() if b is None else Normal(*b) for b in c["beta"]]
    return tau_prior, beta


# ------------------------------------------------------------------------------------------------
# (a) the oracle
# ------------------------------------------------------------------------------------------------


class Oracle:
    """Posterior of the normal-normal meta-regression by direct quadrature over tau."""

    def __init__(self, c: dict):
        self.y, self.s, self.X = (np.asarray(c[key], float) for key in ("y", "s", "X"))
        kind, scale = c["tau"]
        if kind == "hn":
            self.tau_pdf = lambda t: (
                2 / (scale * math.sqrt(2 * math.pi)) * math.exp(-0.5 * (t / scale) ** 2)
            )
        else:
            self.tau_pdf = lambda t: 2 / (math.pi * scale * (1 + (t / scale) ** 2))
        self.flat = np.array([b is None for b in c["beta"]])
        self.m0 = np.array([0.0 if b is None else b[0] for b in c["beta"]])
        self.sd0 = np.array([np.inf if b is None else b[1] for b in c["beta"]])
        sc = float(np.max(self.s) + np.std(self.y))
        pts = [0.0, sc / 100, sc / 10, sc / 3, sc, 3 * sc, 10 * sc, 100 * sc, np.inf]
        self.breaks = pts
        self.ref = max(self.loglik(t) for t in np.linspace(0, 3 * sc, 200))
        self.cond = functools.lru_cache(maxsize=None)(self._cond)

    def loglik(self, tau: float) -> float:
        """log p(y | tau) from the k x k marginal covariance of y."""
        F, N = self.flat, ~self.flat
        C = np.diag(self.s**2 + tau**2) + self.X[:, N] @ np.diag(self.sd0[N] ** 2) @ self.X[:, N].T
        r = self.y - self.X[:, N] @ self.m0[N]
        if not F.any():
            return float(stats.multivariate_normal(np.zeros(len(r)), C).logpdf(r))
        XF = self.X[:, F]
        Ci = np.linalg.inv(C)
        A = XF.T @ Ci @ XF
        R = Ci - Ci @ XF @ np.linalg.solve(A, XF.T @ Ci)
        k, pF = len(r), int(F.sum())
        return float(
            -0.5 * (k - pF) * math.log(2 * math.pi)
            - 0.5 * np.linalg.slogdet(C)[1]
            - 0.5 * np.linalg.slogdet(A)[1]
            - 0.5 * r @ R @ r
        )

    def _cond(self, tau: float):
        """b_hat, cov(b | tau, y) by GLS with the prior as extra observations; weight of tau."""
        w = 1 / (self.s**2 + tau**2)
        lam = np.where(self.flat, 0.0, 1 / self.sd0**2)
        P = self.X.T @ (w[:, None] * self.X) + np.diag(lam)
        cov = np.linalg.inv(P)
        bhat = cov @ (self.X.T @ (w * self.y) + lam * self.m0)
        return bhat, cov, self.tau_pdf(tau) * math.exp(self.loglik(tau) - self.ref)

    def integrate(self, g, upper: float = np.inf) -> float:
        """Integral over tau of g(tau) p(tau) p(y | tau) / exp(ref), piecewise, tail by tau=lo/u."""
        total = 0.0
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*[Rr]oundoff", category=IntegrationWarning)
            for lo, hi in itertools.pairwise(self.breaks):
                if lo >= upper:
                    break
                hi = min(hi, upper)
                if math.isinf(hi):

                    def f(u, lo=lo):
                        return g(lo / u) * self.cond(lo / u)[2] * lo / u**2 if u > 0 else 0.0

                    val, _ = integrate.quad(f, 0.0, 1.0, epsabs=1e-13, epsrel=1e-12, limit=500)
                else:
                    val, _ = integrate.quad(
                        lambda t: g(t) * self.cond(t)[2], lo, hi, epsabs=1e-13, epsrel=1e-12,
                        limit=500,
                    )  # fmt: skip
                total += val
        return total

    @functools.cached_property
    def Z(self) -> float:
        return self.integrate(lambda t: 1.0)

    def E(self, g) -> float:
        return self.integrate(g) / self.Z

    def log_ml(self) -> float:
        return math.log(self.Z) + self.ref

    def tau_pdf_post(self, t: float) -> float:
        return self.cond(t)[2] / self.Z

    def tau_cdf(self, t: float) -> float:
        return self.integrate(lambda u: 1.0, upper=t) / self.Z

    def lin(self, x: np.ndarray, tau: float, new: bool = False) -> tuple[float, float]:
        bhat, cov, _ = self.cond(tau)
        return float(x @ bhat), float(x @ cov @ x + (tau**2 if new else 0.0))

    def mix_moments(self, x: np.ndarray, new: bool = False) -> tuple[float, float]:
        m = self.E(lambda t: self.lin(x, t, new)[0])
        v = self.E(lambda t: self.lin(x, t, new)[1] + (self.lin(x, t, new)[0] - m) ** 2)
        return m, math.sqrt(v)

    def mix_cdf_pdf(self, x: np.ndarray, q: float) -> tuple[float, float]:
        def cdf(t):
            m, v = self.lin(x, t)
            return special.ndtr((q - m) / math.sqrt(v))

        def pdf(t):
            m, v = self.lin(x, t)
            return math.exp(-0.5 * (q - m) ** 2 / v) / math.sqrt(2 * math.pi * v)

        return self.E(cdf), self.E(pdf)


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request):
    c = CASES[request.param]
    tau_prior, beta = _priors(c)
    post = exact_posterior(
        c["y"], c["s"], X=c["X"], moderators=c["names"], tau_prior=tau_prior, beta_prior=beta
    )
    return request.param, c, post, Oracle(c)


def test_marginal_likelihood_against_oracle(case):
    name, c, post, orc = case
    if all(b is not None for b in c["beta"]):
        assert close(post.log_marginal_likelihood, orc.log_ml()), name
    else:  # flat coefficients: no marginal likelihood, but the normalising constant must agree
        assert math.isnan(post.log_marginal_likelihood)
        assert close(float(post._grid.logZ[0]), orc.log_ml()), name


def test_tau_against_oracle(case):
    name, _, post, orc = case
    m1 = orc.E(lambda t: t)
    assert close(post.tau.mean, m1), name
    assert close(post.tau.sd, math.sqrt(orc.E(lambda t: (t - m1) ** 2))), name
    for p in PROBS:
        q = float(post.tau.quantile(p))
        err = abs(orc.tau_cdf(q) - p) / orc.tau_pdf_post(q)
        assert err <= ORACLE_TOL * max(1.0, q), (name, p, err)


def test_coefficients_against_oracle(case):
    name, c, post, orc = case
    p_ = c["X"].shape[1]
    for j in range(p_):
        x = np.eye(p_)[j]
        d = post.coef(c["names"][j])
        m, sd = orc.mix_moments(x)
        assert close(d.mean, m), (name, j)
        assert close(d.sd, sd), (name, j)
        for p in PROBS:
            q = float(d.quantile(p))
            F, f = orc.mix_cdf_pdf(x, q)
            assert abs(F - p) / f <= ORACLE_TOL * max(1.0, abs(q)), (name, j, p)


def test_mean_and_new_effect_and_theta_against_oracle(case):
    name, c, post, orc = case
    x0 = c["X"].mean(axis=0)
    for new, d in ((False, post.mean_effect(x0)), (True, post.new_effect(x0))):
        m, sd = orc.mix_moments(x0, new)
        assert close(d.mean, m) and close(d.sd, sd), (name, new)
    # theta_i | tau, y: mean B y_i + (1 - B) x_i'b_hat, variance s_i^2 B + (1 - B)^2 x_i'C x_i
    i = 0
    xi, yi, s2 = c["X"][i], c["y"][i], c["s"][i] ** 2

    def ms(t):
        m, v = orc.lin(xi, t)
        B = t * t / (s2 + t * t)
        return B * yi + (1 - B) * m, s2 * B + (1 - B) ** 2 * v

    mean = orc.E(lambda t: ms(t)[0])
    sd = math.sqrt(orc.E(lambda t: ms(t)[1] + (ms(t)[0] - mean) ** 2))
    th = post.theta(i)
    assert close(th.mean, mean) and close(th.sd, sd), name


def test_summary_rows_and_intervals(case):
    name, c, post, _ = case
    x0 = {"centre": c["X"].mean(axis=0)}
    for kind in ("eti", "hdi"):
        tab = post.summary(ci_prob=0.9, ci_kind=kind, x0=x0)
        assert list(tab.columns) == ["mean", "sd", "median", "mode", "ci_lb", "ci_ub"]
        assert list(tab.index[: len(c["names"])]) == c["names"]
        assert list(tab.index[len(c["names"]) :][:4]) == [
            "tau", "tau2", "mean[centre]", "theta_new[centre]",
        ]  # fmt: skip
        for j, nm in enumerate(c["names"]):
            d = post.coef(nm)
            lo, hi = tab.loc[nm, "ci_lb"], tab.loc[nm, "ci_ub"]
            assert float(d.cdf(hi) - d.cdf(lo)) == pytest.approx(0.9, abs=1e-9), (name, j)
            assert (lo, hi) == pytest.approx(d.interval(0.9, kind), abs=1e-9)
            if kind == "hdi":
                assert float(d.pdf(lo)) == pytest.approx(float(d.pdf(hi)), rel=1e-6)
        assert tab.loc["mean[centre]", "median"] == pytest.approx(
            post.mean_effect(x0["centre"]).median, abs=1e-9
        )


# ------------------------------------------------------------------------------------------------
# design path == intercept-only fast path
# ------------------------------------------------------------------------------------------------


def test_design_path_equals_intercept_only():
    d = bcg()
    y, s = d["yi"].to_numpy(), d["sei"].to_numpy()
    one = exact_posterior(y, s, tau_prior=HalfNormal(0.5), mu_prior=Normal(0, 2))
    # a column of ones takes the fast path; a column of twos the general one (b = mu / 2)
    ones = exact_posterior(
        y, s, X=np.ones((13, 1)), tau_prior=HalfNormal(0.5), mu_prior=Normal(0, 2)
    )
    twos = exact_posterior(
        y, s, X=2 * np.ones((13, 1)), tau_prior=HalfNormal(0.5), beta_prior=Normal(0, 1)
    )
    assert ones.coef_names == ("intercept",)
    assert ones.coef("intercept").mean == pytest.approx(one.mu.mean, abs=1e-14)
    assert 2 * twos.coef(0).mean == pytest.approx(one.mu.mean, abs=1e-9)
    assert 2 * twos.coef(0).sd == pytest.approx(one.mu.sd, abs=1e-9)
    assert twos.tau.median == pytest.approx(one.tau.median, abs=1e-9)
    # p(y) does not depend on how the mean is parameterised
    assert twos.log_marginal_likelihood == pytest.approx(one.log_marginal_likelihood, abs=1e-9)
    assert twos.theta(3).mean == pytest.approx(one.theta(3).mean, abs=1e-9)


def test_names_priors_and_dataframe_design():
    y, s, X, _ = _bcg_case(["ablat"])
    frame = pd.DataFrame(X, columns=["intercept", "ablat"])
    post = exact_posterior(
        y, s, X=frame, tau_prior=HalfNormal(0.5), mu_prior=Normal(0, 4),
        beta_prior={"ablat": Normal(0, 0.1)},
    )  # fmt: skip
    assert post.coef_names == ("intercept", "ablat")
    assert [type(p).__name__ for p in post.coef_priors] == ["Normal", "Normal"]
    assert np.isfinite(post.log_marginal_likelihood)
    bf = post.bayes_factor("ablat")
    assert bf == pytest.approx(
        float(post.coef("ablat").pdf(0.0)) / stats.norm(0, 0.1).pdf(0.0), rel=1e-12
    )
    assert bf < 1  # latitude matters for the BCG vaccine
    with pytest.raises(ModelSpecError, match="intercept-only"):
        _ = post.mu
    with pytest.raises(ModelSpecError, match="new_effect"):
        _ = post.theta_new
    with pytest.raises(ModelSpecError, match="x0"):
        post.mean_effect([1.0])
    assert post.interval("ablat") == post.coef("ablat").interval()
    acc = post.accuracy
    assert acc["converged"] and acc["max_change"] <= acc["rtol"]


# ------------------------------------------------------------------------------------------------
# (b) draws against the exact posterior
# ------------------------------------------------------------------------------------------------


DRAW_CASES = [
    "bcg_alloc_halfnormal_flat",
    "bcg_ablat_halfcauchy_normal",
    "synthetic_cellmeans_dose_halfnormal_normal",
]


@pytest.mark.parametrize("name", DRAW_CASES)
def test_draws_agree_with_exact(name):
    c = CASES[name]
    tau_prior, beta = _priors(c)
    post = exact_posterior(c["y"], c["s"], X=c["X"], tau_prior=tau_prior, beta_prior=beta)
    d = draw_posterior(c["y"], c["s"], c["X"], beta, tau_prior, N_DRAWS, np.random.default_rng(7))
    k, p = c["X"].shape
    assert d["tau"].shape == (N_DRAWS,) and d["b"].shape == (N_DRAWS, p)
    assert d["theta"].shape == d["y_rep"].shape == (N_DRAWS, k) and d["z_new"].shape == (N_DRAWS,)
    assert d["accuracy"]["converged"]
    dists = [("tau", d["tau"], post.tau)]
    dists += [(f"b{j}", d["b"][:, j], post.coef(j)) for j in range(p)]
    dists += [(f"theta{i}", d["theta"][:, i], post.theta(i)) for i in (0, k - 1)]
    for label, sample, dist in dists:
        assert abs(sample.mean() - dist.mean) <= MC_Z * dist.sd / math.sqrt(N_DRAWS), label
        for prob in (0.1, 0.5, 0.9):
            frac = float(np.mean(sample <= float(dist.quantile(prob))))
            assert abs(frac - prob) <= MC_Z * math.sqrt(prob * (1 - prob) / N_DRAWS), (label, prob)
    # the replicates and the standardised effects keep their definitions
    resid = (d["y_rep"] - d["theta"]) / c["s"]
    assert abs(resid.mean()) <= MC_Z / math.sqrt(resid.size)
    assert abs(resid.var() - 1) <= MC_Z * math.sqrt(2 / resid.size)
    xb = d["b"] @ c["X"].T
    assert np.allclose(xb + d["tau"][:, None] * d["z"], d["theta"], atol=1e-10)
    assert np.allclose(d["theta_new"], d["b"][:, 0] + d["tau"] * d["z_new"])
    new = post.new_effect(np.eye(p)[0])
    frac = float(np.mean(d["theta_new"] <= new.median))
    assert abs(frac - 0.5) <= MC_Z * math.sqrt(0.25 / N_DRAWS)


def test_inverse_cdf_of_draws_equals_the_rules_quantiles():
    from bayesmeta.exact._draws import _tau_inverse_cdf

    q = np.array([1e-12, 1e-7, 1e-5, 1e-3, 0.1, 0.5, 0.9, 0.999, 1 - 1e-5, 1 - 1e-9])
    for y, s, tp in ((K2_Y, np.sqrt(K2_V), HalfCauchy(0.5)), (*bcg_arrays(), HalfNormal(0.5))):
        post = exact_posterior(y, s, tau_prior=tp)
        fast = _tau_inverse_cdf(post._grid, q)
        # on the probability scale: the rule's CDF at the drawn tau gives back q
        assert np.abs(post.tau.cdf(fast) - q).max() <= 1e-10, tp


def bcg_arrays() -> tuple[np.ndarray, np.ndarray]:
    d = bcg()
    return d["yi"].to_numpy(), d["sei"].to_numpy()


def test_draws_reproducible_from_the_generator():
    c = CASES["normand_orpington_halfcauchy_flat"]
    tau_prior, beta = _priors(c)
    a = draw_posterior(c["y"], c["s"], c["X"], beta, tau_prior, 50, np.random.default_rng(3))
    b = draw_posterior(c["y"], c["s"], c["X"], beta, tau_prior, 50, np.random.default_rng(3))
    assert all(np.array_equal(a[key], b[key]) for key in ("tau", "b", "theta", "y_rep", "z_new"))


# ------------------------------------------------------------------------------------------------
# heavy-tailed but proper: k = 2, half-Cauchy(0.5), flat mu
# ------------------------------------------------------------------------------------------------

K2_Y, K2_V = [0.50, -0.04], [0.035, 0.028]


def test_k2_half_cauchy_flat_mu_is_proper():
    s = np.sqrt(K2_V)
    post = exact_posterior(K2_Y, s, tau_prior=HalfCauchy(0.5))
    # R bayesmeta: bayesmeta(y, sigma, tau.prior = function(t) dhalfcauchy(t, 0.5))$summary
    assert round(post.tau.median, 5) == 0.39654
    assert np.isfinite(post.tau.mean) and post.tau.sd == math.inf  # tail tau^-3: no variance
    # the same posterior through a design, and independent draws from it
    reg = exact_posterior(K2_Y, s, X=np.ones((2, 1)), tau_prior=HalfCauchy(0.5))
    assert reg.tau.median == pytest.approx(post.tau.median, abs=1e-12)
    d = draw_posterior(K2_Y, s, np.ones((2, 1)), [Flat()], HalfCauchy(0.5), N_DRAWS, 11)
    frac = float(np.mean(d["tau"] <= 0.39654))
    assert abs(frac - 0.5) <= MC_Z * math.sqrt(0.25 / N_DRAWS)
    assert np.isfinite(d["b"]).all() and np.isfinite(d["theta"]).all()


# ------------------------------------------------------------------------------------------------
# (c) R bayesmeta::bmr
# ------------------------------------------------------------------------------------------------

REF = json.loads(REF_PATH.read_text())
# bmr's tau summaries come from integrate()/uniroot() on the exact marginal: no grid error, so we
# ask for agreement to 1e-5 relative (their numerical integration, not ours, sets this).
R_TAU_RTOL = 1e-5
# bmr's shortest intervals come from optimize() over the lower tail probability at its default
# tol (eps^0.25 ~ 1.2e-4 in probability); near a 95% bound the density is ~0.058/sd, so a bound
# may move by up to 1.2e-4 * sd / 0.058 ~ 2.1e-3 sd on top of the grid error.
R_HDI_SD = 2.5e-3
# Coefficients, means and predictions are DIRECT grid mixtures in bmr. The reference holds the
# fine grid (delta = 0.0005) and, per value, `grid_error` = |default grid - fine grid|, R's own
# error at its defaults. The fine grid's error is ~20x smaller (delta scales it); we allow the
# default grid error (with a floor of 1e-6 for values where both grids happen to agree).
R_GRID_FLOOR = 1e-6


def _r_case(ref: dict):
    data = ref["data"]
    tp = HalfNormal(ref["tau_prior"]["sigma"]) if ref["tau_prior"]["family"] == "halfnormal" else (
        HalfCauchy(ref["tau_prior"]["beta"])
    )  # fmt: skip
    if ref["beta_prior"] == "flat":
        beta = Flat()
    else:
        beta = [
            Normal(m, s)
            for m, s in zip(ref["beta_prior"]["mean"], ref["beta_prior"]["sd"], strict=True)
        ]
    return exact_posterior(
        data["yi"], data["sei"], X=np.array(data["X"], float), moderators=data["columns"],
        tau_prior=tp, beta_prior=beta, labels=data["study"],
    )  # fmt: skip


@pytest.mark.parametrize("ref", REF["cases"], ids=[c["id"] for c in REF["cases"]])
def test_bmr_reference(ref):
    post = _r_case(ref)
    r, err = ref["reference"], ref["grid_error"]
    tau = r["tau"]
    assert post.tau.median == pytest.approx(tau["median"], rel=R_TAU_RTOL)
    assert post.tau.mean == pytest.approx(tau["mean"], rel=R_TAU_RTOL)
    assert post.tau.sd == pytest.approx(tau["sd"], rel=R_TAU_RTOL)
    # bmr's shortest interval (see R_HDI_SD): ours holds the same mass and is no wider
    lo, hi = post.tau.interval(0.95, "hdi")
    r_lo, r_hi = tau["shortest"]
    assert float(post.tau.cdf(r_hi) - post.tau.cdf(r_lo)) == pytest.approx(0.95, abs=R_TAU_RTOL)
    assert hi - lo <= r_hi - r_lo + 1e-12
    assert (lo, hi) == pytest.approx((r_lo, r_hi), abs=R_HDI_SD * post.tau.sd)
    assert post.tau.interval(0.95, "eti") == pytest.approx(tau["central"], rel=R_TAU_RTOL)

    def near(got, want, e, what, extra=0.0):
        tol = np.maximum(np.asarray(e, float), R_GRID_FLOOR) + extra
        assert np.all(np.abs(np.asarray(got) - np.asarray(want)) <= tol), (what, got, want, e)

    for b, eb in zip(r["beta"], err["beta"], strict=True):
        d = post.coef(b["name"])
        near(d.mean, b["mean"], eb["mean"], (b["name"], "mean"))
        near(d.sd, b["sd"], eb["sd"], (b["name"], "sd"))
        near(
            d.quantile([0.025, 0.25, 0.5, 0.75, 0.975]), b["quantiles"], eb["quantiles"], b["name"]
        )
        hdi = d.interval(0.95, "hdi")
        near(hdi, b["shortest"], eb["shortest"], (b["name"], "hdi"), R_HDI_SD * d.sd)
    at, eat = r["at"], err["at"]
    for i, x in enumerate(at["x"]):
        for key, fun in (("mean", post.mean_effect), ("prediction", post.new_effect)):
            d, ref_k, err_k = fun(x), at[key], eat[key]
            near(d.mean, ref_k["mean"][i], err_k["mean"][i], (key, i, "mean"))
            near(d.sd, ref_k["sd"][i], err_k["sd"][i], (key, i, "sd"))
            near(d.median, ref_k["median"][i], err_k["median"][i], (key, i, "median"))
            lo, hi = d.interval(0.95, "hdi")
            extra = R_HDI_SD * d.sd
            near(lo, ref_k["shortest_lb"][i], err_k["shortest_lb"][i], (key, i, "lb"), extra)
            near(hi, ref_k["shortest_ub"][i], err_k["shortest_ub"][i], (key, i, "ub"), extra)
    lml = r.get("log_marginal_likelihood")
    if lml is not None:
        assert post.log_marginal_likelihood == pytest.approx(lml, rel=R_TAU_RTOL)


# ------------------------------------------------------------------------------------------------
# (d) improper posteriors and bad inputs
# ------------------------------------------------------------------------------------------------


def test_improper_posteriors_rejected_before_computation():
    y, s, X, _ = _bcg_case(["alloc"])
    # flat tau prior: the likelihood decays like tau^-(k - p_flat); k = 4 with p_flat = 3 fails
    with pytest.raises(ModelSpecError, match=r"improper.*tau\^-1"):
        exact_posterior(y[:4], s[:4], X=X[[0, 4, 9, 10]], tau_prior=ImproperUniform())
    # ... and a normal prior on the coefficients restores propriety
    exact_posterior(
        y[:4], s[:4], X=X[[0, 4, 9, 10]], tau_prior=ImproperUniform(), beta_prior=Normal(0, 1)
    )
    # collinear flat columns: b is not identified for any tau
    Xc = np.column_stack([X, X[:, 1] + X[:, 2]])
    with pytest.raises(ModelSpecError, match="linearly dependent"):
        exact_posterior(y, s, X=Xc, tau_prior=HalfNormal(0.5))
    exact_posterior(y, s, X=Xc, tau_prior=HalfNormal(0.5), beta_prior=Normal(0, 1))
    # more flat coefficients than studies
    with pytest.raises(ModelSpecError, match="linearly dependent"):
        exact_posterior(y[:2], s[:2], X=X[:2], tau_prior=HalfNormal(0.5))


def test_bad_design_inputs():
    y, s, X, _ = _bcg_case(["ablat"])
    with pytest.raises(DataError, match="rows"):
        exact_posterior(y, s, X=X[:5], tau_prior=HalfNormal(0.5))
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(DataError, match="row"):
        exact_posterior(y, s, X=Xn, tau_prior=HalfNormal(0.5))
    with pytest.raises(ModelSpecError, match="2 columns"):
        exact_posterior(y, s, X=X, tau_prior=HalfNormal(0.5), beta_prior=[Flat()])
    with pytest.raises(ModelSpecError, match="moderators"):
        exact_posterior(y, s, X=X, tau_prior=HalfNormal(0.5), moderators=["a"])
    with pytest.raises(ModelSpecError, match="unique"):
        exact_posterior(y, s, X=X, tau_prior=HalfNormal(0.5), moderators=["tau", "b"])
    with pytest.raises(ModelSpecError, match="normal or flat"):
        exact_posterior(y, s, X=X, tau_prior=HalfNormal(0.5), beta_prior=HalfNormal(1))
    with pytest.raises(ModelSpecError, match="column of ones"):
        exact_posterior(y, s, X=X[:, 1:], tau_prior=HalfNormal(0.5), mu_prior=Normal(0, 1))
    with pytest.raises(ModelSpecError, match="design matrix"):
        exact_posterior(y, s, tau_prior=HalfNormal(0.5), beta_prior=Normal(0, 1))
    post = exact_posterior(y, s, X=X, tau_prior=HalfNormal(0.5))
    with pytest.raises(ModelSpecError, match="proper"):
        post.bayes_factor("ablat")
    with pytest.raises(ModelSpecError, match="no coefficient"):
        post.coef("year")
    with pytest.raises(ModelSpecError, match="intercept-only"):
        post.point_estimates()


def test_heavy_tailed_regression_reports_missing_moments():
    # k = 3 with two flat coefficients: likelihood ~ tau^-1, half-Cauchy tail tau^-2, so the
    # posterior of tau has a mean but no variance; flat coefficients inherit that
    post = exact_posterior(
        [0.3, 0.1, 0.5], [0.2, 0.1, 0.3], X=[[1, 0], [1, 1], [1, 2]], tau_prior=HalfCauchy(0.5)
    )
    tab = post.summary(x0=[1, 1])
    assert np.isfinite(tab.loc["tau", "mean"]) and tab.loc["tau", "sd"] == math.inf
    assert np.isfinite(tab.loc["x2", "mean"]) and tab.loc["x2", "sd"] == math.inf
    assert tab.loc["theta_new[x0]", "sd"] == math.inf
    assert np.isfinite(tab[["median", "ci_lb", "ci_ub"]].to_numpy()).all()
    assert np.isfinite(tab.loc["theta[1]"].to_numpy()).all()  # shrinkage keeps every moment
    # with an improper flat tau prior the same design is improper: decided up front
    with pytest.raises(ModelSpecError, match="improper"):
        exact_posterior(
            [0.3, 0.1, 0.5], [0.2, 0.1, 0.3], X=[[1, 0], [1, 1], [1, 2]],
            tau_prior=ImproperUniform(),
        )  # fmt: skip


def test_intercept_only_draws_and_accuracy():
    y = [28.39, 7.94, -2.75, 6.82, -0.64, 0.63, 18.01, 12.16]
    s = [14.9, 10.2, 16.3, 11.0, 9.4, 11.4, 10.4, 17.6]
    post = exact_posterior(y, s, tau_prior=HalfCauchy(25), mu_prior=Normal(0, 50))
    d = post.draw(N_DRAWS, np.random.default_rng(5))
    for label, sample, dist in (
        ("mu", d["b"][:, 0], post.mu),
        ("theta_new", d["theta_new"], post.theta_new),
        ("theta_A", d["theta"][:, 0], post.theta(0)),
    ):
        assert abs(sample.mean() - dist.mean) <= MC_Z * dist.sd / math.sqrt(N_DRAWS), label
        frac = float(np.mean(sample <= dist.median))
        assert abs(frac - 0.5) <= MC_Z * math.sqrt(0.25 / N_DRAWS), label
    acc = post.accuracy
    assert set(acc) == {"method", "converged", "rtol", "max_change", "panels", "n_nodes"}
    assert acc["converged"] and 0 <= acc["max_change"] <= acc["rtol"]
    with pytest.raises(ModelSpecError, match="positive integer"):
        post.draw(0)
