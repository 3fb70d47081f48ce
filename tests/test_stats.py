"""The shared numpy core (bayesmeta._stats): one DL/EE core, one typical within-study variance."""

from __future__ import annotations

import numpy as np
import pytest

from bayesmeta import rma
from bayesmeta._stats import dl_tau2, fe_moments, i2_h2, typical_variance

RNG = np.random.default_rng(20261128)


def _matrix_vt(v, X):
    """metafor's (k - p) / tr(P), written with the k x k projection."""
    w = 1 / v
    XtW = X.T * w
    P = np.diag(w) - XtW.T @ np.linalg.inv(XtW @ X) @ XtW
    return (X.shape[0] - X.shape[1]) / np.trace(P)


def test_typical_variance_one_definition():
    v = RNG.uniform(0.01, 0.5, 9)
    m = RNG.normal(size=(9, 2))
    assert typical_variance(v) == pytest.approx(_matrix_vt(v, np.ones((9, 1))), rel=1e-13)
    full = np.column_stack([np.ones(9), m])
    assert typical_variance(v, m) == pytest.approx(_matrix_vt(v, full), rel=1e-13)
    # Higgins & Thompson's closed form (simulate.py's copy) is the same number
    w = 1 / v
    ht = (9 - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum())
    assert typical_variance(v) == pytest.approx(ht, rel=1e-13)
    V = RNG.uniform(0.01, 0.5, (4, 6))
    np.testing.assert_allclose(typical_variance(V), [typical_variance(r) for r in V], rtol=1e-14)
    assert np.isnan(typical_variance([0.1]))


def test_i2_from_rma_uses_the_typical_variance():
    y, v = RNG.normal(size=8), RNG.uniform(0.05, 0.3, 8)
    res = rma(y, v, method="REML")
    I2, H2 = i2_h2(res.tau2, typical_variance(v))
    assert res.I2 == pytest.approx(float(I2), rel=1e-13)
    assert res.H2 == pytest.approx(float(H2), rel=1e-13)


def test_dl_core_vectorised_matches_matrix_form_and_rma():
    Y, V = RNG.normal(size=(5, 7)), RNG.uniform(0.02, 0.4, (5, 7))
    closed = fe_moments(Y, V)
    matrix = fe_moments(Y, V, np.ones((7, 1)))
    for a, b in zip(closed, matrix, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    tau2, se = dl_tau2(closed, 6)
    for m in range(5):
        res = rma(Y[m], V[m], method="DL")
        assert res.tau2 == pytest.approx(float(tau2[m]), rel=1e-12, abs=1e-15)
        assert res.se_tau2 == pytest.approx(float(se[m]), rel=1e-12)
