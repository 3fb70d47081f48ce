"""The compiled (numba) kernels of the exact engine give the numpy reference's numbers.

numpy defines every number; ``bayesmeta.exact._compiled`` repeats the hot paths in numba (the
likelihoods, the rule's steps, the tau solvers, the mixture quantile and mode solvers and the
summary's mixture table). ``BAYESMETA_NUMBA`` switches between them (``0``: numpy only, ``1``:
compiled), so each comparison runs the same call both ways.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

from bayesmeta.exact import _kernels, exact_posterior, exact_posterior_batch
from bayesmeta.exact._mixtures import _mix_mode, _mix_quantile, _mix_table
from bayesmeta.exact._rule import (
    _COMPILED_MAX_ROWS,
    _compiled_model,
    _Data,
    _fit_grids,
    _loglik1,
    _loglik_design,
    _Spec,
    _tau_mode,
    _tau_quantile,
    _tau_summary,
)
from bayesmeta.priors import Exponential, Flat, HalfCauchy, HalfNormal, Normal, Uniform
from tests.mixture_cases import HARD_PROBS, hard_mixtures

numba = pytest.importorskip("numba", reason="numba is optional: the compiled kernels need it")

#: numpy and numba differ only in the order of additions (and the likelihood's sum of logs
#: taken as the log of a product; the mixtures' normal CDF by Cody's approximations instead of
#: scipy's ndtr, see below): a few units in the 15th digit, far inside this.
AGREE = 1e-12
#: ``exp_neg`` against numpy's exp: each within about a unit in the last place of the truth
#: (numpy's SIMD exp differs by CPU; measured here 2.2e-16 relative at most over t in
#: [-708, 0]), so up to two units apart; twice that allowed.
EXP_ULPS = 4 * np.finfo(float).eps
#: ``ndtr_e`` against scipy.special.ndtr, absolute: half a unit in the last place of values
#: near 1 is 1.1e-16; measured at most 2.2e-16 (one unit), over z in [-45, 45].
NDTR_ABS = 2 * np.finfo(float).eps
#: ... and relative in the lower tail down to z = -8.3 (below, a component's CDF term is under
#: 5e-17 of its weight): exp(-z*z/2) is taken without R's splitting of z*z, so the rounding of
#: z*z (relative 1.1e-16) is amplified by up to z*z/2 = 34 there; measured 1.5e-14.
NDTR_TAIL_REL = 3e-14
#: The posterior mode of tau uses Newton steps with finite-difference derivatives (step 1e-4 in
#: log tau), which scale the log density's rounding (~1e-14) by 1/step**2 = 1e8 in the
#: curvature: the two paths settle within this of each other, as two runs of either would
#: with inputs differing in the last digit.
TAU_MODE_AGREE = 1e-9


def _run(monkeypatch: pytest.MonkeyPatch, setting: str, fn):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("BAYESMETA_NUMBA", setting)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


def _close(a: np.ndarray, b: np.ndarray, tol: float) -> None:
    a, b = np.asarray(a, float), np.asarray(b, float)
    assert np.array_equal(np.isinf(a), np.isinf(b)) and np.array_equal(np.isnan(a), np.isnan(b))
    fin = np.isfinite(a)
    err = np.abs(a[fin] - b[fin]) / np.maximum(1.0, np.abs(a[fin]))
    assert err.max(initial=0.0) <= tol, err.max()


def _same_summary(ref, got):
    """numpy (ref) and compiled (got) summary tables agree: AGREE, the tau modes TAU_MODE_AGREE."""
    assert list(ref.index) == list(got.index)
    modes = ref.index.isin(["tau", "tau2"])
    _close(ref.loc[~modes].to_numpy(), got.loc[~modes].to_numpy(), AGREE)
    _close(ref.loc[modes].drop(columns="mode").to_numpy(),
           got.loc[modes].drop(columns="mode").to_numpy(), AGREE)  # fmt: skip
    _close(ref.loc[modes, "mode"].to_numpy(), got.loc[modes, "mode"].to_numpy(),
           TAU_MODE_AGREE)  # fmt: skip


@pytest.mark.parametrize(
    ("tau_prior", "mu_prior", "kind"),
    [
        (HalfNormal(0.5), Normal(0, 1), "eti"),
        (HalfCauchy(0.5), Flat(), "hdi"),
        (Uniform(0.0, 2.0), Normal(0.3, 2), "hdi"),
    ],
)
def test_summary_is_the_same_compiled_or_not(monkeypatch, tau_prior, mu_prior, kind):
    rng = np.random.default_rng(5)
    for k in (2, 3, 7, 20):
        s = rng.uniform(0.05, 0.6, k)
        y = rng.normal(0.2, np.sqrt(s**2 + 0.05))
        if k == 2 and isinstance(mu_prior, Flat):
            continue  # improper with a half-Cauchy tau prior

        def fit(y=y, s=s):  # type: ignore[no-untyped-def]
            post = exact_posterior(y, s, tau_prior=tau_prior, mu_prior=mu_prior)
            return post.summary(ci_kind=kind)

        _same_summary(_run(monkeypatch, "0", fit), _run(monkeypatch, "1", fit))


def test_batch_is_the_same_compiled_or_not(monkeypatch):
    rng = np.random.default_rng(9)
    M, K = 300, 20
    ks = rng.integers(2, K + 1, size=M)
    S = rng.uniform(0.05, 0.6, size=(M, K))
    Y = rng.normal(0.2, np.sqrt(S**2 + 0.04))
    cut = np.arange(K)[None, :] >= ks[:, None]
    Y[cut], S[cut] = np.nan, np.nan
    for kind in ("eti", "hdi"):

        def fit(kind=kind):  # type: ignore[no-untyped-def]
            return exact_posterior_batch(
                Y, S, tau_prior=HalfNormal(0.5), mu_prior=Normal(0, 1), ci_kind=kind
            )

        ref = _run(monkeypatch, "0", fit)
        got = _run(monkeypatch, "1", fit)
        assert list(ref.columns) == list(got.columns)
        assert (ref["n_nodes"] == got["n_nodes"]).all()
        _close(ref.to_numpy(float), got.to_numpy(float), AGREE)


def test_kernels_match_their_numpy_functions(monkeypatch):
    kern = _run(monkeypatch, "1", _kernels.loaded)
    assert kern is not None
    rng = np.random.default_rng(3)
    M, K, T = 6, 9, 40
    Y = rng.normal(size=(M, K))
    S2 = rng.uniform(0.01, 0.5, size=(M, K))
    tau2 = np.exp(rng.uniform(-30, 30, size=(M, T)))  # tiny to huge heterogeneity
    for spec in (_Spec(HalfNormal(0.5), Flat()), _Spec(HalfNormal(0.5), Normal(0.2, 0.7))):
        ref = _run(monkeypatch, "0", lambda spec=spec: _loglik1(tau2, Y, S2, None, spec))
        got = kern.loglik1(tau2, Y, S2, float(spec.p0), float(spec.m0))
        for a, b in zip(ref, got, strict=True):
            _close(a, b, AGREE)
    R, N = 25, 60
    W, m, s = hard_mixtures(rng, R, N)
    q = np.tile(HARD_PROBS, (R, 1))
    with np.errstate(all="ignore"):
        ref_q = _run(monkeypatch, "0", lambda: _mix_quantile(W, m, s, q))
        got_q = _run(monkeypatch, "1", lambda: _mix_quantile(W, m, s, q))
        _close(ref_q, got_q, AGREE)
        ref_m = _run(monkeypatch, "0", lambda: _mix_mode(W, m, s, ref_q[:, 0]))
        got_m = _run(monkeypatch, "1", lambda: _mix_mode(W, m, s, ref_q[:, 0]))
    _close(ref_m, got_m, AGREE)


@pytest.mark.parametrize("K", range(1, 41))
def test_intercept_likelihood_kernel_on_hard_cases(monkeypatch, K):
    """``loglik1`` at extreme scales (its running product of the v's flushed both ways).

    It matches numpy to AGREE, and node for node it is bit for bit ``_ll1`` (the single
    analysis' likelihood), so a batch gives what one-at-a-time fits give.
    """
    from bayesmeta.exact import _compiled

    rng = np.random.default_rng(100 + K)
    s = 10.0 ** rng.uniform(-12, 12, size=(6, K))  # mixed scales within an analysis
    s[3], s[4], s[5] = 1e-30, 1e30, 10.0 ** rng.uniform(-30, -20, size=K)  # all tiny / huge
    S2 = s**2
    Y = rng.normal(0.2, 1.0, size=S2.shape) * np.sqrt(s)
    tau2 = np.concatenate(
        [np.zeros((6, 1)), np.full((6, 1), 1e30), 10.0 ** rng.uniform(-60, 30, size=(6, 30))],
        axis=1,
    )
    kern = _run(monkeypatch, "1", _kernels.loaded)
    assert kern is not None
    for spec in (_Spec(HalfNormal(0.5), Flat()), _Spec(HalfNormal(0.5), Normal(0.2, 0.7))):
        p0, m0 = float(spec.p0), float(spec.m0)
        ref = _run(monkeypatch, "0", lambda spec=spec: _loglik1(tau2, Y, S2, None, spec))
        got = kern.loglik1(tau2, Y, S2, p0, m0)
        for a, b in zip(ref, got, strict=True):
            assert np.isfinite(b).all()
            _close(a, b, AGREE)
        one = [[_compiled._ll1(t, Y[i], S2[i], p0, m0) for t in tau2[i]] for i in range(6)]
        assert np.array_equal(np.moveaxis(np.array(one), 2, 0), np.array(got))


def test_importing_the_exact_engine_does_not_import_numba():
    code = (
        "import sys, bayesmeta.exact, bayesmeta.batch; "
        "from bayesmeta.exact import exact_posterior; "
        "exact_posterior([0.1, 0.3, -0.2], [0.1, 0.2, 0.15], tau_prior='half_normal(0.5)')"
        ".summary(); print('numba' in sys.modules)"
    )
    env = {**os.environ, "BAYESMETA_NUMBA": "auto"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "False"


def test_small_batches_stay_in_numpy_and_zero_switches_the_kernels_off(monkeypatch):
    monkeypatch.setenv("BAYESMETA_NUMBA", "auto")
    small = _kernels.AUTO_MIN_ANALYSES - 1
    if "numba" not in sys.modules:
        assert _kernels.ensure(small) is None
    monkeypatch.setenv("BAYESMETA_NUMBA", "0")
    assert _kernels.ensure(10**6) is None
    assert _kernels.loaded() is None


def test_vectorisable_exp_and_normal_cdf_match_numpy_and_scipy():
    """The mixtures' inner loop takes exp and the normal CDF without libm (so it vectorises).

    ``exp_neg`` (a table of powers of two and a Taylor polynomial) against numpy's exp, and
    ``ndtr_e`` (Cody's rational approximations on that exponential) against scipy's ndtr,
    over a dense grid and random points, the ranges' borders and the clip included.
    """
    from scipy import special

    from bayesmeta.exact import _compiled

    @numba.njit
    def both(z):  # type: ignore[no-untyped-def]
        e, p = np.empty_like(z), np.empty_like(z)
        for i in range(z.size):
            zc = min(max(z[i], -_compiled._ZCLIP), _compiled._ZCLIP)
            e[i] = _compiled.exp_neg(-0.5 * zc * zc)
            p[i] = _compiled.ndtr_e(zc, e[i])
        return e, p

    rng = np.random.default_rng(5)
    borders = np.array([0.67448975, 5.656854248, 38.6, 40.0])  # Cody's ranges, underflow, clip
    near = np.concatenate([borders, np.nextafter(borders, 0), np.nextafter(borders, np.inf)])
    z = np.concatenate([np.linspace(-45, 45, 900_001), rng.normal(0, 4, 300_000), near, -near])
    e, p = both(z)
    t = -0.5 * np.clip(z, -40, 40) ** 2
    ref_e = np.exp(t)
    normal = ref_e > np.finfo(float).tiny
    assert np.all(np.abs(e[normal] - ref_e[normal]) <= EXP_ULPS * ref_e[normal])
    assert np.all(np.abs(e[~normal] - ref_e[~normal]) <= np.finfo(float).tiny * EXP_ULPS)
    ref_p = special.ndtr(z)
    assert np.abs(p - ref_p).max() <= NDTR_ABS
    tail = (z < 0) & (z >= -8.3)
    assert np.all(np.abs(p[tail] - ref_p[tail]) <= NDTR_TAIL_REL * ref_p[tail])
    # the table lookup stays in range whatever comes in: NaN gives NaN, never another number
    e, p = both(np.array([np.nan]))
    assert np.isnan(e[0]) and np.isnan(p[0])
    W = np.full((2, 40), 1 / 40)
    m = np.tile(np.linspace(-1, 1, 40), (2, 1))
    m[1, 7] = np.nan
    q = np.array([0.5, 0.025, 0.975])
    _, _, qs, mode = _compiled.mix_table(
        W, m, np.full((2, 40), 0.3), q, special.ndtri(q), 0.0, True
    )
    assert np.all(np.isfinite(qs[0])) and np.all(np.isnan(qs[1])) and np.isnan(mode[1])


def test_mixture_table_kernel_matches_numpy(monkeypatch):
    """``mix_table`` (local expansion of the CDF, one call) gives numpy's summary of mixtures.

    Skewed and multimodal mixtures (Dirichlet weights of small concentration), components of
    negligible weight (left out of quantiles and modes), equal-tailed and shortest intervals.
    """
    rng = np.random.default_rng(21)
    for trial in range(6):
        R, N = 12, 160
        W = rng.dirichlet(np.ones(N) * (0.3 if trial % 2 else 3.0))
        W[rng.random(N) < 0.1] *= 1e-20  # some components below the summary's cut
        W /= W.sum()
        m = rng.normal(0, 1, size=(R, N)) * rng.uniform(0.01, 2, size=(R, 1))
        s = rng.uniform(0.02, 1.5, size=(R, N))
        if trial < 2:  # sds monotone along the nodes, as over tau
            s = np.sort(s, axis=1)[:, :: 1 if trial == 0 else -1]
        for kind in ("eti", "hdi"):

            def table(W=W, m=m, s=s, kind=kind):  # type: ignore[no-untyped-def]
                with np.errstate(all="ignore"):
                    return _mix_table(W, m, s, 0.95, kind)

            ref, got = _run(monkeypatch, "0", table), _run(monkeypatch, "1", table)
            for a, b in zip(ref, got, strict=True):
                _close(a, b, AGREE)


def _models():
    """(data, spec) pairs: intercept-only and two-column designs under each compiled prior."""
    rng = np.random.default_rng(8)
    out = []
    for k in (2, 5, 13):
        s2 = rng.uniform(0.01, 0.3, size=(1, k))
        y = rng.normal(0.1, np.sqrt(s2 + 0.05))
        X = np.stack([np.ones(k), rng.uniform(0, 1, k)], axis=1)[None]
        for tp in (HalfNormal(0.5), HalfCauchy(1.0), Exponential(2.0)):
            out.append((_Data(y, s2, np.ones((1, k)), np.array([k])), _Spec(tp, Normal(0, 1))))
            if k >= 5:
                coef = (Flat(), Normal(0.2, 2))
                out.append((_Data(y, s2, np.ones((1, k)), np.array([k]), X.copy()),
                            _Spec(tp, Flat(), coef)))  # fmt: skip
    return out


@pytest.mark.parametrize("case", range(len(_models())))
def test_rule_and_tau_kernels_match_numpy(monkeypatch, case):
    """The compiled rule (locate, range, nodes, functionals) and tau solvers give numpy's."""
    data, spec = _models()[case]

    def rule(data=data, spec=spec):  # type: ignore[no-untyped-def]
        with np.errstate(all="ignore"):
            return _fit_grids(data, spec, 1e-7)[0][1]

    ref, got = _run(monkeypatch, "0", rule), _run(monkeypatch, "1", rule)
    assert ref.P == got.P
    for name in ("xhat", "sig", "t_lo", "t_hi", "t", "x", "ell", "W", "logZ", "cum", "bhat",
                 "Pinv", "delta"):  # fmt: skip
        _close(getattr(ref, name), getattr(got, name), AGREE)
    q = np.array([[0.5, 0.025, 0.975, 0.95, 0.05]])
    for kind in ("eti", "hdi"):
        # the same grid both ways, so only the solvers differ
        a = _run(monkeypatch, "0", lambda kind=kind: _tau_summary(ref, 0.95, kind))
        b = _run(monkeypatch, "1", lambda kind=kind: _tau_summary(ref, 0.95, kind))
        for key in a:
            _close(a[key], b[key], TAU_MODE_AGREE if key.endswith("_mode") else AGREE)
    a = _run(monkeypatch, "0", lambda: _tau_quantile(ref, q))
    b = _run(monkeypatch, "1", lambda: _tau_quantile(ref, q))
    _close(a, b, AGREE)
    for c in (0, 1):
        a = _run(monkeypatch, "0", lambda c=c: _tau_mode(ref, c))
        b = _run(monkeypatch, "1", lambda c=c: _tau_mode(ref, c))
        _close(a, b, TAU_MODE_AGREE)


def test_design_likelihood_kernel_matches_numpy(monkeypatch):
    rng = np.random.default_rng(4)
    M, K, T = 3, 7, 50
    S2 = rng.uniform(0.01, 0.4, size=(M, K))
    Y = rng.normal(size=(M, K))
    X = np.stack([np.ones((M, K)), rng.normal(size=(M, K))], axis=2)
    tau2 = np.exp(rng.uniform(-30, 30, size=(M, T)))
    data = _Data(Y, S2, np.ones((M, K)), np.full(M, K), X)
    for coef in ((Flat(), Flat()), (Normal(0, 1), Flat()), (Normal(0.3, 2), Normal(-1, 0.5))):
        spec = _Spec(HalfNormal(0.5), Flat(), coef)
        ref = _run(monkeypatch, "0", lambda spec=spec: _loglik_design(tau2, data, spec))
        got = _run(monkeypatch, "1", lambda spec=spec: _loglik_design(tau2, data, spec))
        for a, b in zip(ref, got, strict=True):
            _close(a, b, AGREE)


def test_models_without_compiled_twins_stay_in_numpy(monkeypatch):
    """Other tau priors, padded or large blocks, designs of 3+ columns: numpy computes."""
    monkeypatch.setenv("BAYESMETA_NUMBA", "1")
    y, s2 = np.array([[0.1, 0.3, -0.2, 0.4]]), np.array([[0.01, 0.04, 0.02, 0.03]])
    one = np.ones((1, 4))
    assert _compiled_model(_Data(y, s2, one, np.array([4])), _Spec(HalfNormal(0.5), Flat()))
    assert _compiled_model(_Data(y, s2, one, np.array([4])), _Spec(Uniform(0, 2), Flat())) is None
    padded = _Data(y, s2, np.array([[1.0, 1, 1, 0]]), np.array([3]))
    assert _compiled_model(padded, _Spec(HalfNormal(0.5), Flat())) is None
    X3 = np.stack([np.ones(4), [0, 1, 0, 1], [1, 2, 3, 4]], axis=1)[None].astype(float)
    spec3 = _Spec(HalfNormal(0.5), Flat(), (Flat(), Flat(), Flat()))
    assert _compiled_model(_Data(y, s2, one, np.array([4]), X3), spec3) is None
    n = _COMPILED_MAX_ROWS + 1  # large blocks: numpy's vectorised path
    many = _Data(np.repeat(y, n, 0), np.repeat(s2, n, 0), np.ones((n, 4)), np.full(n, 4))
    assert _compiled_model(many, _Spec(HalfNormal(0.5), Flat())) is None


@pytest.mark.parametrize("kind", ["eti", "hdi"])
def test_regression_summary_is_the_same_compiled_or_not(monkeypatch, kind):
    rng = np.random.default_rng(12)
    for k in (4, 9, 20):
        s = rng.uniform(0.05, 0.6, k)
        x = rng.uniform(0, 1, k)
        y = rng.normal(0.2 + 0.3 * x, np.sqrt(s**2 + 0.05))
        X = np.column_stack([np.ones(k), x])

        def fit(y=y, s=s, X=X):  # type: ignore[no-untyped-def]
            post = exact_posterior(y, s, X=X, tau_prior=HalfNormal(0.5), beta_prior=Normal(0, 1))
            return post.summary(ci_kind=kind, x0=[1, 0.5])

        _same_summary(_run(monkeypatch, "0", fit), _run(monkeypatch, "1", fit))
