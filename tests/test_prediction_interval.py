"""Prediction intervals: ``pi_type="z"`` (metafor 3.8) and ``"t"`` (Higgins et al. 2009, k - 2 df).

``models/rma/pi_type.json`` was written by ``models/rma/make_pi_type.R`` (metafor 3.8-1's
``predict(res, pi.type = "default" | "riley")``); the hand formulas below are independent of it.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bayesmeta import ModelSpecError, NotEstimableWarning, datasets, escalc, rma
from bayesmeta.batch import fit_many
from tests.conftest import reference

PI = reference("rma", "pi_type.json")["cases"]


def _bcg():
    d = datasets.load_bcg()
    return escalc("RR", ai=d.tpos, bi=d.tneg, ci=d.cpos, di=d.cneg)


def _normand():
    d = datasets.load_normand1999()
    return escalc("SMD", m1i=d.m1i, sd1i=d.sd1i, n1i=d.n1i, m2i=d.m2i, sd2i=d.sd2i, n2i=d.n2i)


@pytest.mark.parametrize("case", PI, ids=[c["id"] for c in PI])
def test_pi_type_matches_metafor(case):
    a, exp = case["args"], case["expected"]
    res = rma(case["data"]["yi"], case["data"]["vi"], method=a["method"], test=a["test"],
              pi_type=a["pi_type"])  # fmt: skip
    assert res.pi_type == a["pi_type"]
    np.testing.assert_allclose([res.pi_lb, res.pi_ub], [exp["pi_lb"], exp["pi_ub"]], rtol=1e-9)


@pytest.mark.parametrize("data", [_bcg, _normand], ids=["bcg", "normand1999"])
@pytest.mark.parametrize("method", ["DL", "REML"])
def test_t_interval_is_the_higgins_formula(data, method):
    es = data()
    res = rma(es.yi, es.vi, method=method, pi_type="t")
    mu, se, k = float(res.beta[0]), float(res.se[0]), es.k
    half = stats.t.ppf(0.975, k - 2) * math.sqrt(res.tau2 + se**2)
    assert abs(res.pi_lb - (mu - half)) <= 1e-12 and abs(res.pi_ub - (mu + half)) <= 1e-12
    z = rma(es.yi, es.vi, method=method)  # default "z": metafor 3.8's interval
    zhalf = stats.norm.ppf(0.975) * math.sqrt(z.tau2 + float(z.se[0]) ** 2)
    assert abs(z.pi_ub - (mu + zhalf)) <= 1e-12 and z.pi_type == "z"
    assert res.predict(pi_type="z").pi_ub[0] == pytest.approx(z.pi_ub, abs=1e-14)


def test_t_interval_under_knha_uses_k_minus_2_df():
    es = _bcg()
    res = rma(es.yi, es.vi, method="DL", test="knha", pi_type="t")
    pr = res.predict()
    assert pr.pi_df == es.k - 2 and res.predict(pi_type="z").pi_df == es.k - 1
    half = stats.t.ppf(0.975, es.k - 2) * math.sqrt(res.tau2 + float(res.se[0]) ** 2)
    assert pr.pi_ub[0] == pytest.approx(float(res.beta[0]) + half, abs=1e-12)


def test_t_interval_with_moderators_has_k_minus_p_minus_1_df():
    es = _bcg()
    lat = datasets.load_bcg().ablat.to_numpy(float)
    res = rma(es.yi, es.vi, mods=lat, method="REML", pi_type="t")
    assert res.predict([[30.0]]).pi_df == es.k - 3


def test_t_interval_needs_three_studies():
    with pytest.warns(NotEstimableWarning, match="k - p - 1"):
        res = rma([0.1, 0.4], [0.02, 0.03], method="DL", pi_type="t")
    assert math.isnan(res.pi_lb) and math.isnan(res.pi_ub)
    assert "k >= p + 2" in res.pi_note and res.to_dict()["pi_note"] == res.pi_note
    assert res.to_dict()["pi_type"] == "t"
    assert np.isfinite(res.predict(pi_type="z").pi_lb[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ok = rma([0.1, 0.4, 0.2], [0.02, 0.03, 0.01], method="DL", pi_type="t")
    assert np.isfinite(ok.pi_lb) and ok.pi_note == ""


def test_bad_pi_type():
    with pytest.raises(ModelSpecError, match="pi_type"):
        rma([0.1, 0.4, 0.2], [0.02, 0.03, 0.01], pi_type="riley")
    res = rma([0.1, 0.4, 0.2], [0.02, 0.03, 0.01])
    with pytest.raises(ModelSpecError, match="pi_type"):
        res.predict(pi_type="normal")


@pytest.mark.parametrize("method", ["DL", "REML"])
@pytest.mark.parametrize("test", ["z", "knha"])
def test_fit_many_pi_type_t_equals_rma(method, test):
    es = _bcg()
    frame = pd.DataFrame(
        {"meta_analysis": ["a"] * 13 + ["b"] * 2, "yi": [*es.yi, 0.1, 0.4],
         "vi": [*es.vi, 0.02, 0.03]}
    )  # fmt: skip
    out = fit_many(frame, method=method, test=test, pi_type="t")
    res = rma(es.yi, es.vi, method=method, test=test, pi_type="t")
    np.testing.assert_allclose(out.loc[0, ["pi_lb", "pi_ub"]].to_numpy(float),
                               [res.pi_lb, res.pi_ub], rtol=1e-12)  # fmt: skip
    assert math.isnan(out.loc[1, "pi_lb"]) and "prediction interval" in out.loc[1, "note"]


def test_fit_many_has_one_interval_probability():
    frame = pd.DataFrame({"meta_analysis": ["a"] * 3, "yi": [0.1, 0.4, 0.2],
                          "vi": [0.02, 0.03, 0.01]})  # fmt: skip
    with pytest.raises(ModelSpecError, match="ci_prob"):
        fit_many(frame, method="DL", level=0.9)
    out = fit_many(frame, method="DL", ci_prob=0.9)
    res = rma(frame.yi, frame.vi, method="DL", level=0.9)
    assert out.loc[0, "ci_lb"] == pytest.approx(float(res.ci_lb[0]), abs=1e-14)
    with pytest.raises(TypeError, match="levels"):
        fit_many(frame, method="DL", levels=0.9)
