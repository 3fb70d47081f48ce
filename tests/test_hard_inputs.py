"""Hard but valid inputs: they must load and give sensible answers.

``tests/data/hard/`` holds a single row, an outcome with one trial, unicode and very long study
names, quoted fields with commas, quotes and line breaks, Windows line endings, a UTF-8
byte-order mark, a spreadsheet export (stray trailing commas, blank lines, padded cells) and an
extraction sheet with all of these at once. A 100,000-row long table is generated on the fly.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayesmeta import EffectTable, rma
from bayesmeta.cli import main
from bayesmeta.errors import NotEstimableWarning
from bayesmeta.exact import exact_posterior
from bayesmeta.sheet import read_sheet

HARD = Path(__file__).parent / "data" / "hard"
ABC = {"study": ["A", "B", "C"], "yi": [0.1, 0.2, 0.3], "vi": [0.01, 0.02, 0.03]}


@pytest.mark.parametrize("name", ["windows_crlf", "utf8_bom", "spreadsheet_export"])
def test_line_endings_bom_and_spreadsheet_exports(name: str) -> None:
    path = HARD / f"{name}.csv"
    raw = path.read_bytes()
    assert (b"\r\n" in raw) == (name != "utf8_bom")
    assert raw.startswith(b"\xef\xbb\xbf") == (name != "windows_crlf")
    tab = EffectTable.from_csv(path)
    assert tab.studies == ABC["study"]
    np.testing.assert_array_equal(tab.yi, ABC["yi"])
    np.testing.assert_array_equal(tab.vi, ABC["vi"])
    assert list(tab.data.columns[:3]) == ["study", "outcome", "yi"]
    assert not any(c.startswith("Unnamed") for c in tab.data.columns)


def test_single_row() -> None:
    tab = EffectTable.from_csv(HARD / "single_row.csv")
    assert tab.k == 1
    with pytest.warns(NotEstimableWarning):
        res = rma(tab, method="REML")
    assert float(res.beta[0]) == pytest.approx(0.35) and math.isnan(res.tau2)
    assert float(res.se[0]) == pytest.approx(0.2)
    # the Bayesian answer exists with proper priors: the prior on tau is all there is
    post = exact_posterior(tab.yi, tab.sei, tau_prior="half_normal(0.5)", mu_prior="normal(0, 1)")
    lo, hi = post.mu.interval()
    assert lo < 0.35 * 0.2**-2 / (0.2**-2 + 1) < hi
    assert post.tau.median == pytest.approx(0.5 * 0.6745, rel=0.2)  # ~ the prior's median


def test_outcome_with_one_trial() -> None:
    tab = EffectTable.from_csv(HARD / "one_trial_outcome.csv")
    assert tab.outcomes == ["quality_of_life", "hospital_days"]
    assert tab.direction("hospital_days") == "lower"
    fits = {}
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for outcome, sub in tab.by_outcome():
            fits[outcome] = rma(sub, method="DL")
    assert any(issubclass(w.category, NotEstimableWarning) for w in rec)
    assert fits["hospital_days"].k == 1
    assert float(fits["hospital_days"].beta[0]) == pytest.approx(-0.4, rel=1e-14)
    assert fits["quality_of_life"].k == 3 and fits["quality_of_life"].tau2 >= 0


def test_unicode_and_very_long_names() -> None:
    tab = EffectTable.from_csv(HARD / "unicode_names.csv")
    names = tab.studies
    assert names[:3] == ["Müller 2003", "Østergaard & Ærø 2005", "张伟 2010"]
    assert "🙂 emoji trial 2014" in names and "عربي 2012" in names
    assert max(len(n) for n in names) > 300
    res = rma(tab, method="REML")
    assert res.labels == tuple(names) and np.isfinite(res.beta).all()


def test_quoted_fields_with_commas_quotes_and_line_breaks() -> None:
    tab = EffectTable.from_csv(HARD / "quoted_fields.csv")
    assert tab.studies == [
        "Smith, J (2001)",
        'O"Brien 1999',
        "Lee\n(cluster RCT) 2003",
        "Plain 2005",
    ]
    assert tab.data["note"].iloc[0] == "adults, community"
    assert tab.data["note"].iloc[1] == 'said "no"'
    assert pd.isna(tab.data["note"].iloc[2])
    np.testing.assert_allclose(tab.yi, [0.1, 0.2, 0.3, 0.4])


def test_extraction_sheet_with_bom_crlf_unicode_and_quotes() -> None:
    tab = read_sheet(HARD / "sheet_bom_crlf_unicode.csv")
    assert tab.outcomes == ["recovery", "hospitalised"]
    assert tab.for_outcome("recovery").studies == [
        "Müller, K 2003",
        "张伟 2010",
        'O"Brien\r\n(cluster) 2012',
    ]
    assert tab.for_outcome("hospitalised").k == 1  # an outcome with one trial
    np.testing.assert_allclose(tab.for_outcome("recovery").yi[2], 0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotEstimableWarning)
        fits = {o: rma(sub, method="DL") for o, sub in tab.by_outcome()}
    assert all(np.isfinite(r.beta).all() for r in fits.values())


@pytest.mark.parametrize("name", ["single_row", "unicode_names", "spreadsheet_export"])
def test_cli_fit_on_hard_inputs(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The whole `bayesmeta fit` path (exact engine, few draws) runs and prints JSON."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotEstimableWarning)
        code = main(
            # measure SMD: the rows carry no sample sizes, which a measure with units would
            # need for its default priors
            [
                *("fit", str(HARD / f"{name}.csv"), "--measure", "SMD", "--engine", "exact"),
                *("--draws", "200", "--json"),
            ]
        )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "Traceback" not in out.err
    payload = json.loads(out.out)
    bayes = payload["bayesian"][0]
    assert bayes["k"] == {"single_row": 1, "unicode_names": 7, "spreadsheet_export": 3}[name]
    assert bayes["mu_ci_lb"] < bayes["mu_median"] < bayes["mu_ci_ub"]


def test_hundred_thousand_rows(tmp_path: Path) -> None:
    """100,000 rows (1,000 outcomes x 100 studies) read, validated and pooled per outcome in
    seconds; each DL estimate matches a direct computation."""
    rng = np.random.default_rng(20240611)
    n_out, n_st = 1000, 100
    mu = rng.normal(0, 0.3, n_out)
    sei = rng.uniform(0.05, 0.4, (n_out, n_st))
    yi = mu[:, None] + rng.normal(0, 0.1, (n_out, n_st)) + rng.normal(0, 1, (n_out, n_st)) * sei
    frame = pd.DataFrame(
        {
            "study": np.tile([f"study {j:03d}" for j in range(n_st)], n_out),
            "outcome": np.repeat([f"outcome_{i:04d}" for i in range(n_out)], n_st),
            "yi": yi.ravel().round(6),
            "sei": sei.ravel().round(6),
        }
    )
    path = tmp_path / "big.csv"
    frame.to_csv(path, index=False)
    t0 = time.perf_counter()
    tab = EffectTable.from_csv(path)
    t_read = time.perf_counter() - t0
    assert tab.k == 100_000 and len(tab.outcomes) == n_out
    t0 = time.perf_counter()
    y = tab.yi.reshape(n_out, n_st)
    v = tab.vi.reshape(n_out, n_st)
    est = []
    for i in range(n_out):
        r = rma(y[i], v[i], method="DL")
        est.append(float(r.beta[0]))
    t_fit = time.perf_counter() - t0
    # direct DerSimonian-Laird, vectorised over outcomes
    w = 1 / v
    ybar = (w * y).sum(1) / w.sum(1)
    q = (w * (y - ybar[:, None]) ** 2).sum(1)
    tau2 = np.maximum(0, (q - (n_st - 1)) / (w.sum(1) - (w * w).sum(1) / w.sum(1)))
    ws = 1 / (v + tau2[:, None])
    np.testing.assert_allclose(est, (ws * y).sum(1) / ws.sum(1), rtol=1e-10)
    assert t_read < 10 and t_fit < 20, (t_read, t_fit)
