"""Tests of bayesmeta.influence: leave1out and cumul pinned to metafor 3.8, Bayesian leave-one-out.

Reference values: models/influence/reference.json, written by models/influence/make_reference.R
(dat.bcg log RR and dat.normand1999 MD; EE, DL, REML base fits with z and Knapp-Hartung tests).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

from bayesmeta.errors import DataError, ModelSpecError
from bayesmeta.exact import exact_posterior
from bayesmeta.frequentist import rma
from bayesmeta.influence import bayesian_leave1out, cumul, leave1out
from tests.conftest import reference

#: metafor's numbers come from converged fits (REML threshold 1e-12); our estimators run to
#: machine precision, so the brief's 1e-6 relative is a wide margin (observed: < 3e-11).
RTOL = 1e-6
#: Floor for quantities that are exactly 0 in metafor (tau2 truncated at 0; I2 with one study).
ATOL = 1e-10
#: Bayesian leave-one-out against a separate exact_posterior() per subset: the same quadrature
#: rule, agreeing far below the engine's own rtol (1e-7).
BAYES_RTOL = 1e-7

REF = reference("influence")
FIELDS = ("estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q", "Qp", "tau2", "I2", "H2")


def _nan(x: list[Any]) -> Any:
    return np.array([math.nan if v is None else v for v in x], dtype=float)


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: c["id"])
def test_matches_metafor(case: dict[str, Any]) -> None:
    ds = REF["datasets"][case["dataset"]]
    a, e = case["args"], case["expected"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # knha with EE warns, as metafor
        fit = rma(ds["yi"], ds["vi"], method=a["method"], test=a["test"], labels=ds["study"])
    if case["function"] == "leave1out":
        res = leave1out(fit)
    else:
        order = None if a["order"] is None else ds["order_keys"][a["order"]]
        res = cumul(fit, order, decreasing=a["decreasing"])
    assert list(res.labels) == e["slab"]
    for name in FIELDS:
        if e[name] is None:  # metafor drops tau2 for EE fits
            assert name == "tau2" and a["method"] == "EE"
            np.testing.assert_array_equal(res.tau2, 0.0)
            continue
        np.testing.assert_allclose(
            getattr(res, name), _nan(e[name]), rtol=RTOL, atol=ATOL, equal_nan=True,
            err_msg=f"{case['id']}: {name}",
        )  # fmt: skip
    frame = res.to_frame()
    assert ("tval" in frame) == (a["test"] == "knha")
    assert ("tau2" in frame) == (a["method"] != "EE")


def test_every_reference_case_is_tested() -> None:
    assert len(REF["cases"]) == 36


def test_refusals() -> None:
    fit = rma([0.1, 0.3, 0.35, 0.6], [0.04, 0.02, 0.05, 0.03], method="DL")
    with pytest.raises(ModelSpecError, match="moderators"):
        leave1out(rma(fit.yi, fit.vi, mods=[1, 2, 3, 5]))
    with pytest.raises(ModelSpecError, match="rma"):
        cumul("fit")  # type: ignore[arg-type]
    with pytest.raises(DataError, match="order has 2"):
        cumul(fit, [1, 2])
    with pytest.raises(DataError, match="missing"):
        cumul(fit, [1.0, np.nan, 2.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        one = rma([0.1], [0.04])
    with pytest.raises(ModelSpecError, match="k = 1"):
        leave1out(one)


def test_cumul_order_is_a_sort_key_with_stable_ties() -> None:
    fit = rma([0.1, 0.3, 0.35, 0.6], [0.04, 0.02, 0.05, 0.03], method="DL", labels="abcd")
    res = cumul(fit, ["2001", "1999", "2001", "1998"])
    assert res.labels == ("d", "b", "a", "c")
    assert res.order.tolist() == [3, 1, 0, 2]
    res = cumul(fit, [2001, 1999, 2001, 1998], decreasing=True)
    assert res.labels == ("a", "c", "b", "d")
    assert res.estimate[-1] == pytest.approx(fit.beta[0])
    assert "estimate" in str(res)


def test_leave1out_with_two_studies_refits_one_study_as_metafor() -> None:
    fit = rma([0.1, 0.5], [0.04, 0.02], method="REML", test="knha")
    res = leave1out(fit)
    np.testing.assert_allclose(res.estimate, [0.5, 0.1])
    np.testing.assert_allclose(res.se, np.sqrt([0.02, 0.04]))
    np.testing.assert_array_equal(res.Q, 0.0)
    np.testing.assert_array_equal(res.H2, 1.0)


def test_bayesian_leave1out_equals_separate_exact_posteriors() -> None:
    yi = np.array([0.1, 0.3, -0.2, 0.4, 0.25])
    sei = np.array([0.1, 0.2, 0.15, 0.2, 0.12])
    res = bayesian_leave1out(yi, sei, tau_prior="half_normal(0.5)", mu_prior="normal(0, 4)")
    for i in range(yi.size):
        keep = np.arange(yi.size) != i
        post = exact_posterior(
            yi[keep], sei[keep], tau_prior="half_normal(0.5)", mu_prior="normal(0, 4)"
        )
        lo, hi = post.mu.interval(0.95)
        got = [res.mean[i], res.sd[i], res.median[i], res.lower[i], res.upper[i]]
        want = [post.mu.mean, post.mu.sd, post.mu.median, lo, hi]
        np.testing.assert_allclose(got, want, rtol=BAYES_RTOL)
    full = exact_posterior(yi, sei, tau_prior="half_normal(0.5)", mu_prior="normal(0, 4)")
    assert res.full["mean"] == pytest.approx(full.mu.mean, rel=BAYES_RTOL)
    assert list(res.to_frame().index) == ["1", "2", "3", "4", "5"]


def test_bayesian_leave1out_accepts_a_fit_or_a_table() -> None:
    import pandas as pd

    from bayesmeta import EffectTable

    df = pd.DataFrame(
        {"study": list("abcd"), "yi": [0.1, 0.3, -0.2, 0.4], "vi": [0.01, 0.04, 0.02, 0.04]}
    )
    tab = EffectTable(df)
    fit = rma(tab, method="DL")
    a = bayesian_leave1out(fit, tau_prior="half_normal(0.5)")
    b = bayesian_leave1out(tab, tau_prior="half_normal(0.5)")
    assert a.labels == b.labels == ("a", "b", "c", "d")
    np.testing.assert_allclose(a.mean, b.mean)
    with pytest.raises(ModelSpecError, match="sei"):
        bayesian_leave1out([0.1, 0.2], tau_prior="half_normal(0.5)")
    with pytest.raises(ModelSpecError):
        bayesian_leave1out([0.1], [0.1], tau_prior="half_normal(0.5)")


def test_bayesian_leave1out_with_repeated_labels() -> None:
    fit = rma([0.1, 0.3, 0.35, 0.6], [0.04, 0.02, 0.05, 0.03], labels=["a", "a", "b", "c"])
    res = bayesian_leave1out(fit, tau_prior="half_normal(0.5)")  # labels need not be unique
    assert res.labels == ("a", "a", "b", "c") and np.all(np.isfinite(res.mean))
