"""Property-based tests (hypothesis) of the frequentist engine and of effect sizes at extremes.

What a meta-analysis must not depend on: the order of the studies, the origin and unit of the
effect scale. Shifting every ``yi`` by ``a`` shifts the estimates by ``a`` and leaves ``tau2``,
``Q``, ``I2`` and the standard errors alone; multiplying ``yi`` by ``c`` (and ``vi`` by ``c**2``)
multiplies the estimates and standard errors by ``c`` and ``tau2`` by ``c**2`` and leaves ``Q``,
``I2``, ``H2`` and the p-values alone. Checked for every estimator and both tests, with ``c``
from 1e-6 to 1e6 (huge and tiny variances), and for the boundaries: k = 1, k = 2, identical
studies, extreme ratios of variances; effect sizes from all-zero and all-event arms and from
extremely unbalanced arms.

The escalc symmetries (arm swap, row order, SMD unit invariance) are in test_effect_sizes.py.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayesmeta import EffectTable, escalc, rma, rma_mh, subgroup_analysis
from bayesmeta.errors import NotEstimableWarning
from bayesmeta.frequentist import METHODS, TESTS, FrequentistResult

#: Enough examples to find the boundary cases hypothesis aims for, few enough that the module
#: runs in ~20 s (14 method x test pairs per property).
FAST = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
PAIRS = [(m, t) for m in METHODS for t in TESTS]
PAIR_IDS = [f"{m}-{t}" for m, t in PAIRS]


# ------------------------------------------------------------------------------------------------
# strategies


@st.composite
def meta_data(draw: st.DrawFn, min_k: int = 2, max_k: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """k estimates with sampling variances spanning up to 4 orders of magnitude."""
    k = draw(st.integers(min_k, max_k))
    yi = draw(st.lists(st.floats(-5, 5, allow_subnormal=False), min_size=k, max_size=k))
    log_vi = draw(st.lists(st.floats(-4, 0), min_size=k, max_size=k))
    return np.array(yi), 10.0 ** np.array(log_vi)


scales = st.floats(1e-6, 1e6).flatmap(lambda c: st.sampled_from([c, -c]))


def fit(yi: Any, vi: Any, method: str, test: str, **kw: Any) -> FrequentistResult:
    with warnings.catch_warnings():
        # EE + knha warns that KH is not meant for it; ML/REML may report the ll0 fallback
        warnings.simplefilter("ignore", UserWarning)
        return rma(yi, vi, method=method, test=test, **kw)


def close(a: float, b: float, scale: float = 1.0, rtol: float = 1e-7) -> bool:
    """a == b up to rtol, with an absolute floor proportional to the problem's scale."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + 1e-9 * scale


def assert_fit_sane(r: FrequentistResult) -> None:
    """No NaN where a number is defined; tau2 >= 0; ordered intervals."""
    assert np.isfinite(r.beta).all()
    assert np.isfinite(r.se).all() and (r.se >= 0).all()
    assert (r.ci_lb <= r.beta).all() and (r.beta <= r.ci_ub).all()
    assert r.tau2 >= 0 and math.isfinite(r.tau2)
    assert r.QE >= 0 and 0 <= r.QEp <= 1
    # metafor's EE model reports H2 = QE / (k - p), which may fall below 1
    assert 0 <= r.I2 <= 100 and r.H2 >= (0 if r.method == "EE" else 1)
    assert np.isclose(r.weights.sum(), 100)
    if r.method != "EE":
        assert 0 <= r.tau2_ci_lb <= r.tau2_ci_ub


# ------------------------------------------------------------------------------------------------
# invariance and equivariance


@pytest.mark.parametrize(("method", "test"), PAIRS, ids=PAIR_IDS)
@FAST
@given(data=meta_data(), seed=st.integers(0, 2**32 - 1))
def test_study_order_does_not_matter(
    method: str, test: str, data: tuple[np.ndarray, np.ndarray], seed: int
) -> None:
    yi, vi = data
    perm = np.random.default_rng(seed).permutation(yi.size)
    a = fit(yi, vi, method, test)
    b = fit(yi[perm], vi[perm], method, test)
    assert_fit_sane(a)
    s = math.sqrt(vi.max())
    for name in ("tau2", "QE", "I2", "H2", "tau2_ci_lb", "tau2_ci_ub"):
        assert close(getattr(a, name), getattr(b, name), s), name
    for name in ("beta", "se", "ci_lb", "ci_ub", "pval"):
        assert close(float(getattr(a, name)[0]), float(getattr(b, name)[0]), s), name
    np.testing.assert_allclose(a.weights[perm], b.weights, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize(("method", "test"), PAIRS, ids=PAIR_IDS)
@FAST
@given(data=meta_data(), shift=st.floats(-1e3, 1e3), c=scales)
def test_shift_and_scale_equivariance(
    method: str, test: str, data: tuple[np.ndarray, np.ndarray], shift: float, c: float
) -> None:
    yi, vi = data
    a = fit(yi, vi, method, test)
    s = math.sqrt(vi.max())
    # shift: estimates move, everything else stays (up to cancellation in yi + shift)
    sh = fit(yi + shift, vi, method, test)
    floor = s + abs(shift) * 1e-6
    assert close(float(sh.beta[0]), float(a.beta[0]) + shift, floor)
    for name in ("tau2", "QE", "I2"):
        assert close(getattr(sh, name), getattr(a, name), floor, rtol=1e-6), name
    assert close(float(sh.se[0]), float(a.se[0]), floor, rtol=1e-6)
    # scale by c (possibly negative): tau2 by c^2, estimates and SEs by c and |c|
    sc = fit(c * yi, c * c * vi, method, test)
    assert close(float(sc.beta[0]), c * float(a.beta[0]), abs(c) * s)
    assert close(float(sc.se[0]), abs(c) * float(a.se[0]), abs(c) * s)
    assert close(sc.tau2, c * c * a.tau2, c * c * vi.max())
    assert close(sc.tau2_ci_ub, c * c * a.tau2_ci_ub, c * c * vi.max())
    lo, hi = sorted((c * float(a.ci_lb[0]), c * float(a.ci_ub[0])))
    assert close(float(sc.ci_lb[0]), lo, abs(c) * s)
    assert close(float(sc.ci_ub[0]), hi, abs(c) * s)
    for name in ("QE", "I2", "H2"):
        assert close(getattr(sc, name), getattr(a, name), 1.0), name
    assert close(float(sc.pval[0]), float(a.pval[0]), 1.0, rtol=1e-6)


@FAST
@given(data=meta_data(min_k=3), c=scales)
def test_mantel_haenszel_and_subgroups_are_order_and_scale_free(
    data: tuple[np.ndarray, np.ndarray], c: float
) -> None:
    yi, vi = data
    groups = np.array(["a", "b"] * (yi.size // 2 + 1))[: yi.size]
    base = subgroup_analysis(yi, vi, groups)
    scaled = subgroup_analysis(c * yi, c * c * vi, groups)
    perm = np.arange(yi.size)[::-1]
    rev = subgroup_analysis(yi[perm], vi[perm], groups[perm])
    assert close(scaled.Q_between, base.Q_between, 1.0, rtol=1e-6)
    assert close(rev.Q_between, base.Q_between, 1.0, rtol=1e-6)


two_by_two = st.tuples(st.integers(1, 300), st.integers(1, 300)).flatmap(
    lambda n: st.tuples(st.integers(0, n[0]), st.just(n[0]), st.integers(0, n[1]), st.just(n[1]))
)


@FAST
@given(
    tables=st.lists(two_by_two, min_size=1, max_size=8),
    measure=st.sampled_from(["OR", "RR", "RD"]),
    convention=st.sampled_from(["metafor", "revman"]),
)
def test_mantel_haenszel_order_invariant(
    tables: list[tuple[int, int, int, int]], measure: str, convention: str
) -> None:
    a, n1, c, n2 = (np.array(x, dtype=float) for x in zip(*tables, strict=True))
    kw = {"measure": measure, "convention": convention}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            fwd = rma_mh(a, ci=c, n1i=n1, n2i=n2, **kw)
            rev = rma_mh(a[::-1], ci=c[::-1], n1i=n1[::-1], n2i=n2[::-1], **kw)
    except Exception as exc:  # only the documented "not estimable" FitError/DataError
        from bayesmeta.errors import BayesMetaError

        assert isinstance(exc, BayesMetaError), repr(exc)
        return
    assert close(fwd.beta, rev.beta, 1.0, rtol=1e-9)
    assert close(fwd.se, rev.se, 1.0, rtol=1e-9)
    assert math.isfinite(fwd.beta) and fwd.se > 0
    assert close(fwd.QE, rev.QE, 1.0, rtol=1e-9)


# ------------------------------------------------------------------------------------------------
# boundaries: k = 1, k = 2, identical studies, extreme variances


@pytest.mark.parametrize(("method", "test"), PAIRS, ids=PAIR_IDS)
@FAST
@given(y=st.floats(-1e6, 1e6), log_v=st.floats(-12, 12))
def test_single_study(method: str, test: str, y: float, log_v: float) -> None:
    v = 10.0**log_v
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r = rma([y], [v], method=method, test=test)
    assert r.k == 1 and float(r.beta[0]) == pytest.approx(y, rel=1e-14, abs=1e-300)
    if method == "EE":
        assert r.tau2 == 0.0
    else:
        assert math.isnan(r.tau2) and not r.tau2_estimable
        assert any(issubclass(w.category, NotEstimableWarning) for w in rec)
    if test == "z":
        assert float(r.se[0]) == pytest.approx(math.sqrt(v), rel=1e-12)
        assert float(r.ci_lb[0]) < y < float(r.ci_ub[0]) or v < 1e-300
    else:
        # Knapp-Hartung has k - p = 0 df: no standard error, no interval (never a zero SE)
        assert math.isnan(float(r.se[0]))
        assert math.isnan(float(r.ci_lb[0])) and math.isnan(float(r.pval[0]))


@pytest.mark.parametrize(("method", "test"), PAIRS, ids=PAIR_IDS)
@FAST
@given(data=meta_data(min_k=2, max_k=2))
def test_two_studies(method: str, test: str, data: tuple[np.ndarray, np.ndarray]) -> None:
    yi, vi = data
    r = fit(yi, vi, method, test)
    assert_fit_sane(r)
    assert min(yi) - 1e-12 <= float(r.beta[0]) <= max(yi) + 1e-12
    if test == "knha":
        assert r.dfs == 1


@pytest.mark.parametrize(("method", "test"), PAIRS, ids=PAIR_IDS)
@FAST
@given(
    y=st.floats(-100, 100),
    log_vi=st.lists(st.floats(-6, 2), min_size=2, max_size=10),
)
def test_identical_studies_have_no_heterogeneity(
    method: str, test: str, y: float, log_vi: list[float]
) -> None:
    vi = 10.0 ** np.array(log_vi)
    r = fit(np.full(vi.size, y), vi, method, test)
    # SJ starts from var(yi), which rounding may leave at ~1e-30 instead of 0
    assert r.tau2 == 0.0 or (method == "SJ" and r.tau2 < 1e-20 * (1 + y * y))
    # Q is a sum of squares of rounding errors: ~ eps * y^2 * max(w) at most
    noise = 1e-12 * (1 + y * y * float(np.max(1 / vi)))
    assert r.QE == pytest.approx(0.0, abs=noise)
    assert r.I2 == pytest.approx(0.0, abs=1e-12)
    # H2 = 1 + tau2 / v~ for random effects; metafor's EE model reports QE / (k - 1) = 0
    assert r.H2 == pytest.approx(0.0 if method == "EE" else 1.0, abs=noise)
    assert float(r.beta[0]) == pytest.approx(y, rel=1e-12, abs=1e-12)
    assert r.tau2_ci_lb == 0.0 or method == "EE"
    if test == "z":
        w = 1 / vi
        assert float(r.se[0]) == pytest.approx(math.sqrt(1 / w.sum()), rel=1e-9)
    else:
        # metafor's rule: a Knapp-Hartung scale factor of ~0 is set to 0 (zero-width interval)
        assert float(r.se[0]) == 0.0


@pytest.mark.parametrize(("method", "test"), PAIRS, ids=PAIR_IDS)
@FAST
@given(
    data=meta_data(min_k=3, max_k=8),
    spread=st.floats(3, 6.9),
    c=st.floats(-90, 90),
)
def test_extreme_variance_ratio(
    method: str, test: str, data: tuple[np.ndarray, np.ndarray], spread: float, c: float
) -> None:
    """Variances spread over up to 7 orders of magnitude (just below metafor's 1e7 warning),
    anywhere from 1e-97 to 1e90: still finite, sane results."""
    yi, vi = data
    vi = vi.copy()
    vi[0], vi[-1] = 1.0, 10.0**-spread
    scale = 10.0**c
    r = fit(yi * math.sqrt(scale), vi * scale, method, test)
    assert_fit_sane(r)


@pytest.mark.parametrize("method", ["REML", "ML"])
def test_fisher_scoring_that_overshoots_still_converges(method: str) -> None:
    """Found by benchmarks/interval_coverage.py: undamped Fisher scoring oscillates with growing
    steps on these (ordinary) data; the damped iteration reaches the REML/ML maximum."""
    from bayesmeta.frequentist import _loglik

    y = np.array([0.43207111, 0.60979648, 0.33529677, 0.46175565, 0.31623524, 0.39115371,
                  0.26210929, 0.42390141])  # fmt: skip
    v = np.array([0.04695024, 0.01084082, 0.02590948, 0.02767319, 0.04290853, 0.04751462,
                  0.02662907, 0.03546767])  # fmt: skip
    r = rma(y, v, method=method)
    j = 1 if method == "REML" else 0
    X = np.ones((y.size, 1))
    ll = _loglik(y, v, X, r.tau2)[j]
    for t in (0.0, r.tau2 * 0.99, r.tau2 * 1.01, 2 * r.tau2):
        assert _loglik(y, v, X, t)[j] <= ll + 1e-12
    if method == "REML":
        assert r.tau2 == pytest.approx(0.0025108069719968, rel=1e-9)


def test_variance_ratio_beyond_1e7_warns_but_fits() -> None:
    """Beyond metafor's evtol the fit warns (numerically fragile) but still returns numbers."""
    for method, test in PAIRS:
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            r = rma([0.1, 0.3, 0.2], [1e-12, 1.0, 1e12], method=method, test=test)
        assert any("extremely large" in str(w.message) for w in rec)
        assert np.isfinite(r.beta).all() and r.tau2 >= 0


@pytest.mark.parametrize("method", METHODS)
def test_effects_at_the_edge_of_the_range(method: str) -> None:
    """Effects of 1e99 with variances up to 1e99 still pool (no overflow in the squares)."""
    y = np.array([1.0, -2.0, 0.5, 3.0]) * 1e49
    v = np.array([1.0, 2.0, 0.5, 3.0]) * 1e98
    r = fit(y, v, method, "z")
    ref = fit(y / 1e49, v / 1e98, method, "z")
    assert float(r.beta[0]) == pytest.approx(1e49 * float(ref.beta[0]), rel=1e-7)
    assert r.tau2 == pytest.approx(1e98 * ref.tau2, rel=1e-7, abs=1e89)


@pytest.mark.parametrize(
    ("yi", "vi", "column"),
    [
        ([1e300, -1e300], [0.01, 0.02], "yi"),
        ([0.1, 0.2], [1e-300, 1.0], "vi"),
        ([0.1, 0.2], [1.0, 1e300], "vi"),
    ],
)
def test_values_beyond_double_precision_are_refused(
    yi: list[float], vi: list[float], column: str
) -> None:
    """Squares of 1e300 overflow: a DataError saying to rescale, never a LinAlgError."""
    from bayesmeta.errors import DataError

    with pytest.raises(DataError, match="rescale") as err:
        rma(yi, vi, labels=["a", "b"])
    assert err.value.column == column


# ------------------------------------------------------------------------------------------------
# effect sizes at the extremes, through to the pooled estimate


@st.composite
def extreme_tables(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """2x2 tables with all-zero and all-event arms and arm sizes from 1 to 1e7."""
    k = draw(st.integers(2, 6))
    out: dict[str, list[float]] = {"ai": [], "n1i": [], "ci": [], "n2i": []}
    for _ in range(k):
        for ev, tot in (("ai", "n1i"), ("ci", "n2i")):
            n = draw(st.sampled_from([1, 2, 3, 10, 1000, 10**6, 10**7]))
            e = draw(st.sampled_from([0, n, min(1, n), n // 2]))
            out[ev].append(e)
            out[tot].append(n)
    return {key: np.array(val, dtype=float) for key, val in out.items()}


@FAST
@given(tables=extreme_tables(), measure=st.sampled_from(["OR", "RR", "RD"]))
def test_zero_and_all_event_arms_give_finite_effects(
    tables: dict[str, np.ndarray], measure: str
) -> None:
    """metafor's defaults correct every zero cell: every table has finite yi and vi > 0 (RD:
    vi >= 0) and the pooled estimate exists, whatever the imbalance."""
    es = escalc(measure, **tables)
    assert es.estimable.all()
    assert np.isfinite(es.yi).all() and np.isfinite(es.vi).all()
    assert (es.vi >= 0).all()
    if measure == "RD":
        assert (np.abs(es.yi) <= 1).all()
    if (es.vi > 0).all():
        r = fit(es.yi, es.vi, "REML", "z")
        assert np.isfinite(r.beta).all()
    rev = escalc(measure, **tables, convention="revman")
    both_zero = (tables["ai"] == 0) & (tables["ci"] == 0)
    both_all = (tables["ai"] == tables["n1i"]) & (tables["ci"] == tables["n2i"])
    assert not rev.estimable[both_zero | both_all].any()
    assert np.isfinite(rev.yi[rev.estimable]).all() and (rev.vi[rev.estimable] > 0).all()


@FAST
@given(
    n1=st.sampled_from([2, 3, 5]),
    n2=st.sampled_from([10**3, 10**5, 10**7]),
    log_sd=st.floats(-8, 8),
    d=st.floats(-5, 5),
    measure=st.sampled_from(["SMD", "MD"]),
    convention=st.sampled_from(["metafor", "revman"]),
)
def test_unbalanced_arms_and_extreme_sds(
    n1: int, n2: int, log_sd: float, d: float, measure: str, convention: str
) -> None:
    sd = 10.0**log_sd
    es = escalc(
        measure,
        m1i=[d * sd, 0.0],
        sd1i=[sd, sd],
        n1i=[n1, n2],
        m2i=[0.0, d * sd],
        sd2i=[sd, sd],
        n2i=[n2, n1],
        convention=convention,
    )
    assert np.isfinite(es.yi).all() and (es.vi > 0).all()
    # swapping which arm is small flips the sign only
    assert es.yi[0] == pytest.approx(-es.yi[1], rel=1e-9, abs=1e-300)
    if measure == "SMD":
        assert abs(es.yi[0]) <= abs(d) + 1e-9  # the small-sample correction shrinks
    else:
        assert es.vi[0] == pytest.approx(sd * sd * (1 / n1 + 1 / n2), rel=1e-9)


def test_all_double_zero_tables_pool_to_no_effect() -> None:
    """Tables without events and equal arms: metafor's corrected log ORs are all 0, tau2 = 0."""
    es = escalc("OR", ai=[0, 0, 0], n1i=[10, 50, 200], ci=[0, 0, 0], n2i=[10, 50, 200])
    assert (es.yi == 0).all()
    for method in METHODS:
        r = fit(es.yi, es.vi, method, "z")
        assert float(r.beta[0]) == 0.0 and r.tau2 == 0.0


def test_effect_table_of_only_inestimable_rows_is_refused() -> None:
    """RevMan leaves double-zero tables out; if nothing is left the table says so."""
    import pandas as pd

    from bayesmeta.errors import DataError

    frame = pd.DataFrame(
        {"study": ["a", "b"], "ai": [0, 0], "n1i": [10, 20], "ci": [0, 0], "n2i": [10, 20]}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotEstimableWarning)
        with pytest.raises(DataError, match="no row"):
            EffectTable.from_arms(frame, "OR", convention="revman")
