"""The exact engine's fast paths give the numbers of the plain ones.

(a) The vectorised batch equals one-at-a-time fits to 1e-12 (ragged k, NaN cells anywhere in a
row, several priors, both interval kinds). (b) The tau prior's closed-form log densities equal
``Prior.logpdf`` bit for bit. (c) The median standard error equals ``np.nanmedian``. (d) The
mixture quantile and mode solvers reach their equations to rounding.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import special

from bayesmeta.exact import exact_posterior, exact_posterior_batch
from bayesmeta.exact._mixtures import _mix_eval, _mix_mode, _mix_quantile
from bayesmeta.exact._rule import _Data, _median_se, _Spec
from bayesmeta.priors import (
    Exponential,
    Flat,
    HalfCauchy,
    HalfNormal,
    HalfStudentT,
    LogNormal,
    Normal,
    Uniform,
)
from tests.mixture_cases import HARD_PROBS, hard_mixtures

STATS = {"mean": "mean", "sd": "sd", "median": "median", "ci_lb": "ci_lb", "ci_ub": "ci_ub"}


def _ragged(seed: int, m: int, k_max: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """m analyses with k in 1..k_max; the missing cells are scattered, not only trailing."""
    rng = np.random.default_rng(seed)
    Y = rng.normal(0.2, 0.4, size=(m, k_max))
    S = rng.uniform(0.05, 0.6, size=(m, k_max))
    ks = rng.integers(1, k_max + 1, size=m)
    ks[:3] = (1, 2, k_max)
    keep = []
    for i, k in enumerate(ks):
        cells = np.sort(rng.choice(k_max, size=k, replace=False))
        gone = np.setdiff1d(np.arange(k_max), cells)
        Y[i, gone] = np.nan
        S[i, gone] = np.nan
        keep.append(cells)
    return Y, S, keep


@pytest.mark.parametrize(
    ("tau_prior", "mu_prior", "kind"),
    [
        (HalfNormal(0.5), Normal(0, 1), "eti"),
        (HalfCauchy(0.5), None, "eti"),
        (HalfNormal(1.0), Normal(0.3, 2), "hdi"),
        (LogNormal(-1.5, 1.0), None, "eti"),
        (Uniform(0.0, 2.0), Normal(0, 1), "hdi"),
    ],
)
def test_batch_equals_single_fits_to_1e12(tau_prior, mu_prior, kind):
    Y, S, keep = _ragged(7, 40, 20)
    if mu_prior is None:  # a flat mu prior needs k >= 2 with these tau priors' tails
        ok = (~np.isnan(Y)).sum(1) >= 2
        Y, S = Y[ok], S[ok]
        keep = [c for c, o in zip(keep, ok, strict=True) if o]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = exact_posterior_batch(Y, S, tau_prior=tau_prior, mu_prior=mu_prior, ci_kind=kind)
    for i, cells in enumerate(keep):
        post = exact_posterior(Y[i, cells], S[i, cells], tau_prior=tau_prior, mu_prior=mu_prior)
        summ = post.summary(ci_kind=kind)
        row = tab.iloc[i]
        assert row["k"] == cells.size
        assert row["n_nodes"] == post.n_nodes
        for p in ("mu", "tau", "tau2", "theta_new"):
            for stat, col in STATS.items():
                want = float(summ.loc[p, col])
                got = float(row[f"{p}_{stat}"])
                if math.isinf(want):
                    assert got == want, (i, p, stat)
                else:
                    assert got == pytest.approx(want, rel=1e-12, abs=1e-12), (i, p, stat)
        assert row["prob_mu_gt_0"] == pytest.approx(post.prob("mu"), abs=1e-12)
        if post.priors_proper:
            lml = post.log_marginal_likelihood
            assert row["log_marginal_likelihood"] == pytest.approx(lml, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize(
    "prior",
    [HalfNormal(0.5), HalfNormal(3.0), HalfCauchy(0.5), HalfCauchy(1e-3), Exponential(0.3)],
)
def test_fast_tau_logpdf_is_prior_logpdf(prior):
    spec = _Spec(prior, Flat())
    tau = np.concatenate([[0.0], np.exp(np.linspace(-700, 300, 2001))])
    tau = np.stack([tau, tau[::-1]])
    with np.errstate(all="ignore"):
        fast = spec.tau_logpdf(tau)
        slow = prior.logpdf(tau)
    assert np.array_equal(fast, slow)


def test_other_tau_priors_use_their_own_logpdf():
    for prior in (HalfStudentT(3, 0.5), LogNormal(-1, 1), Uniform(0.0, 2.0)):
        assert _Spec(prior, Flat()).tau_logpdf == prior.logpdf


def test_median_se_is_nanmedian():
    rng = np.random.default_rng(3)
    for K in (1, 2, 3, 8, 21):
        M = 30
        k = rng.integers(1, K + 1, size=M)
        mask = (np.arange(K)[None, :] < k[:, None]).astype(float)
        S2 = np.where(mask > 0, rng.uniform(0.001, 2.0, size=(M, K)), 1.0)
        data = _Data(np.zeros((M, K)), S2, mask, k)
        want = np.nanmedian(np.where(mask > 0, np.sqrt(S2), np.nan), axis=1)
        assert np.array_equal(_median_se(data), want)


def test_mixture_quantiles_and_modes_solve_their_equations():
    rng = np.random.default_rng(11)
    R, N = 25, 60
    W, m, s = hard_mixtures(rng, R, N)
    q = np.tile(HARD_PROBS, (R, 1))
    with np.errstate(all="ignore"):
        x = _mix_quantile(W, m, s, q)
        F = (W[:, None, :] * special.ndtr((x[..., None] - m[:, None, :]) / s[:, None, :])).sum(-1)
    assert np.max(np.abs(F - q)) < 1e-13
    # unimodal mixtures (common mean): the mode's derivative vanishes
    mu = np.broadcast_to(rng.normal(size=(R, 1)), (R, N)).copy()
    with np.errstate(all="ignore"):
        med = _mix_quantile(W, mu, s, np.full((R, 1), 0.5))[:, 0]
        mode = _mix_mode(W, mu, s, med)
        _, f, d = _mix_eval(W, mu, s, mode[:, None], "all")
    assert np.max(np.abs(d[:, 0] / f[:, 0]) * s.min(1)) < 1e-9
