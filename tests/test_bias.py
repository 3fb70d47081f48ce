"""Tests of bayesmeta.bias (regtest, ranktest, trimfill), pinned to metafor 3.8.

Reference values: models/small-study/reference.json, written by models/small-study/make_reference.R
(dat.bcg log RR and dat.normand1999 MD; EE, DL, REML base fits with z and Knapp-Hartung tests).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

from bayesmeta import datasets, escalc
from bayesmeta.bias import (
    MIN_STUDIES,
    LmFit,
    SmallStudyWarning,
    _kendall_null_cdf,
    ranktest,
    regtest,
    trimfill,
)
from bayesmeta.errors import DataError, ModelSpecError
from bayesmeta.frequentist import rma
from tests.conftest import reference

#: metafor's numbers come from converged fits (REML threshold 1e-12); our estimators run to
#: machine precision, so the brief's 1e-6 relative is a wide margin (observed: < 1e-12).
RTOL = 1e-6
#: Floor for quantities that are exactly 0 in metafor (tau2 truncated at 0, k0 = 0).
ATOL = 1e-10
#: escalc is closed-form: the loaders plus escalc reproduce R's yi/vi to rounding.
ESCALC_RTOL = 1e-12

REF = reference("small-study")
CASES = REF["cases"]
FIT_FIELDS = ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2", "I2", "H2", "QE", "QEp")


def _nan(x: Any) -> Any:
    if isinstance(x, list):
        return np.array([math.nan if v is None else v for v in x], dtype=float)
    return math.nan if x is None else x


def _close(ours: Any, theirs: Any, what: str) -> None:
    np.testing.assert_allclose(
        np.atleast_1d(np.asarray(ours, dtype=float)),
        np.atleast_1d(np.asarray(_nan(theirs), dtype=float)),
        rtol=RTOL,
        atol=ATOL,
        equal_nan=True,
        err_msg=what,
    )


def _base(case: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    ds = REF["datasets"][case["dataset"]]
    a = case["args"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # knha with EE warns, as metafor
        fit = rma(ds["yi"], ds["vi"], method=a["method"], test=a["test"], labels=ds["study"])
    return fit, ds


def _ids(fn: str) -> list[dict[str, Any]]:
    return [c for c in CASES if c["function"] == fn]


def test_loaders_and_escalc_match_the_r_data() -> None:
    bcg = datasets.load_bcg()
    es = escalc("RR", ai=bcg.tpos, bi=bcg.tneg, ci=bcg.cpos, di=bcg.cneg)
    ref = REF["datasets"]["bcg_logRR"]
    np.testing.assert_allclose(es.yi, ref["yi"], rtol=ESCALC_RTOL)
    np.testing.assert_allclose(es.vi, ref["vi"], rtol=ESCALC_RTOL)
    np.testing.assert_array_equal(bcg.tpos + bcg.tneg + bcg.cpos + bcg.cneg, ref["ni"])
    nd = datasets.load_normand1999()
    es = escalc("MD", m1i=nd.m1i, sd1i=nd.sd1i, n1i=nd.n1i, m2i=nd.m2i, sd2i=nd.sd2i, n2i=nd.n2i)
    ref = REF["datasets"]["normand_MD"]
    np.testing.assert_allclose(es.yi, ref["yi"], rtol=ESCALC_RTOL)
    np.testing.assert_allclose(es.vi, ref["vi"], rtol=ESCALC_RTOL)
    np.testing.assert_array_equal(nd.n1i + nd.n2i, ref["ni"])


@pytest.mark.parametrize("case", _ids("regtest"), ids=lambda c: c["id"])
def test_regtest_matches_metafor(case: dict[str, Any]) -> None:
    fit, ds = _base(case)
    a, e = case["args"], case["expected"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = regtest(fit, a["model"], a["predictor"], ni=ds["ni"])
    for name in ("zval", "pval", "est", "ci_lb", "ci_ub"):
        _close(getattr(res, name), e[name], f"{case['id']}: {name}")
    assert res.dfs == e["dfs"]
    if a["model"] == "rma":
        for name in FIT_FIELDS:
            _close(getattr(res.fit, name), e["fit"][name], f"{case['id']}: fit.{name}")
    else:
        assert isinstance(res.fit, LmFit)
        for name in ("beta", "se", "tval", "pval", "sigma"):
            _close(getattr(res.fit, name), e["fit"][name], f"{case['id']}: fit.{name}")
        assert res.fit.df_residual == e["fit"]["df_residual"]


@pytest.mark.parametrize("case", _ids("ranktest"), ids=lambda c: c["id"])
def test_ranktest_matches_metafor(case: dict[str, Any]) -> None:
    fit, _ = _base(case)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ranktest(fit, exact=case["args"]["exact"])
    _close(res.tau, case["expected"]["tau"], "tau")
    _close(res.pval, case["expected"]["pval"], "pval")
    assert res.exact == case["args"]["exact"]


@pytest.mark.parametrize("case", _ids("trimfill"), ids=lambda c: c["id"])
def test_trimfill_matches_metafor(case: dict[str, Any]) -> None:
    fit, _ = _base(case)
    a, e = case["args"], case["expected"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = trimfill(fit, a["estimator"], a["side"])
    assert res.k0 == e["k0"] and res.side == e["side"]
    assert res.fill.tolist() == e["fill"]
    assert res.fit.test == e["test"] and res.fit.k == e["k"]
    for name in ("se_k0", "p_k0", "yi", "vi"):
        _close(getattr(res, name), e[name], f"{case['id']}: {name}")
    for name in FIT_FIELDS:
        _close(getattr(res.fit, name), e[name], f"{case['id']}: fit.{name}")
    assert res.filled_yi.size == res.k0
    assert res.labels[-res.k0 :] == tuple(f"Filled {i + 1}" for i in range(res.k0)) or res.k0 == 0


def test_every_reference_case_is_tested() -> None:
    n = {f: len(_ids(f)) for f in ("regtest", "ranktest", "trimfill")}
    assert sum(n.values()) == len(CASES)
    assert n == {"regtest": 144, "ranktest": 24, "trimfill": 72}


# -- warnings and refusals ---------------------------------------------------------------------


def _fit(k: int, method: str = "DL") -> Any:
    rng = np.random.default_rng(k)
    vi = rng.uniform(0.01, 0.2, k)
    yi = 0.3 + rng.normal(0, np.sqrt(vi + 0.02))
    return rma(yi, vi, method=method)


@pytest.mark.parametrize("fn", [regtest, ranktest, trimfill])
def test_fewer_than_ten_studies_warn_and_record(fn: Any) -> None:
    with pytest.warns(SmallStudyWarning, match="Cochrane Handbook"):
        res = fn(_fit(MIN_STUDIES - 1))
    assert len(res.warnings) == 1 and "k = 9" in res.warnings[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SmallStudyWarning)
        res = fn(_fit(MIN_STUDIES))
    assert res.warnings == ()


def test_regtest_refusals() -> None:
    fit = _fit(12)
    with pytest.raises(ModelSpecError, match="model"):
        regtest(fit, model="glm")
    with pytest.raises(ModelSpecError, match="predictor"):
        regtest(fit, predictor="n")
    with pytest.raises(ModelSpecError, match="ni="):
        regtest(fit, predictor="ni")
    with pytest.raises(DataError, match="ni"):
        regtest(fit, predictor="ninv", ni=[10] * 3)
    same = rma(np.linspace(0, 1, 12), np.full(12, 0.1), method="DL")
    with pytest.raises(ModelSpecError, match="full rank"):
        regtest(same)
    with pytest.raises(ModelSpecError, match="rma"):
        regtest("not a fit")  # type: ignore[arg-type]


def test_regtest_with_moderators_has_no_limit_estimate() -> None:
    fit = _fit(12)
    reg = rma(fit.yi, fit.vi, mods=np.arange(12.0), method="REML")
    res = regtest(reg)
    assert math.isnan(res.est) and np.isfinite(res.zval)
    assert res.fit.coef_names == ("intrcpt", "mod1", "sei")  # type: ignore[union-attr]
    assert "Regression test" in str(res)


def test_trimfill_refusals_and_test_override() -> None:
    fit = _fit(12)
    with pytest.raises(ModelSpecError, match="estimator"):
        trimfill(fit, "Q0")
    with pytest.raises(ModelSpecError, match="side"):
        trimfill(fit, side="up")
    with pytest.raises(ModelSpecError, match="moderators"):
        trimfill(rma(fit.yi, fit.vi, mods=np.arange(12.0)))
    kh = rma(fit.yi, fit.vi, method="DL", test="knha")
    assert trimfill(kh, side="left", test="knha").fit.test == "knha"
    assert "missing studies" in str(trimfill(fit, "R0"))


def test_ranktest_ties_fall_back_to_normal() -> None:
    yi = np.array([0.1, 0.5, 0.2, 0.9, 0.4, 0.3, 0.7, 0.6, 0.8, 1.0, 0.05])
    vi = np.array([0.1, 0.1, 0.2, 0.3, 0.05, 0.06, 0.07, 0.08, 0.09, 0.11, 0.12])
    with pytest.warns(UserWarning, match="ties"):
        res = ranktest(rma(yi, vi))
    assert not res.exact and 0 < res.pval <= 1


def test_kendall_null_distribution() -> None:
    # counts of permutations of 4 by inversions: 1, 3, 5, 6, 5, 3, 1 (sum 24)
    cdf = _kendall_null_cdf(4)
    np.testing.assert_allclose(np.diff(np.r_[0, cdf]) * 24, [1, 3, 5, 6, 5, 3, 1])
    assert cdf[-1] == pytest.approx(1.0)


def test_guide_page_code_runs() -> None:
    """The Python block of docs/guide/bias-and-influence.md runs (tests/test_docs.py lists
    the other guide pages)."""
    import re

    from tests.conftest import ROOT

    text = (ROOT / "docs" / "guide" / "bias-and-influence.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    for block in blocks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(block, "bias-and-influence.md", "exec"), {})


def test_trimfill_without_missing_studies_returns_the_base_fit() -> None:
    ref = REF["datasets"]["bcg_logRR"]
    fit = rma(ref["yi"], ref["vi"], method="DL", test="knha")
    res = trimfill(fit, "R0")
    assert res.k0 == 0 and res.fit is fit and not res.fill.any()
    assert res.p_k0 == pytest.approx(0.5) and res.iterations >= 1
    assert res.filled_yi.size == 0
