"""The documentation stays true: generated agreement tables, numbers in the prose, code blocks.

The site itself is built by ``make docs`` (``mkdocs build --strict``); these tests check what a
build cannot: that the differences docs/gen_validation.py reports are within the tolerances the
tests use, that the prior summaries typed into the user guide are the package's, and that the
Python blocks of the guide run.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import warnings
from types import ModuleType

import numpy as np
import pytest

from tests.conftest import ROOT

DOCS = ROOT / "docs"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_docs_{name}", DOCS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def validation():
    gv = _load("gen_validation")
    return gv, gv.compute()


def test_agreement_within_tolerances(validation):
    gv, results = validation
    assert {s.anchor for s, _ in results} == {s.anchor for s in gv.SECTIONS}
    for sec, rows in results:
        assert rows, sec.title
        for r in rows:
            assert r.worst <= sec.tol, (sec.title, r.case, r.where, r.worst)


def test_agreement_covers_every_reference_case(validation):
    import json

    _, results = validation
    n = {s.anchor: len(rows) for s, rows in results}
    cases = {
        m: len(json.loads((ROOT / "models" / m / "reference.json").read_text())["cases"])
        for m in ("rma", "subgroups", "mantel-haenszel", "escalc")
    }
    revman = json.loads((ROOT / "models/escalc/revman_reference.json").read_text())["cases"]
    assert n["rma"] == cases["rma"]
    assert n["subgroups"] == cases["subgroups"]
    assert n["escalc"] == cases["escalc"] + len(revman)
    assert n["mantel-haenszel"] >= cases["mantel-haenszel"]


def test_documented_tolerances_are_the_tests():
    gv = _load("gen_validation")
    from tests import (
        test_bias,
        test_bma,
        test_effect_sizes,
        test_exact,
        test_exact_regression,
        test_frequentist,
        test_influence,
    )

    tol = gv.TOLERANCES
    assert tol["rma"]["rtol"] == test_frequentist.RTOL
    assert tol["rma"]["atol"] == test_frequentist.ATOL
    assert tol["escalc"]["rtol"] == test_effect_sizes.RTOL
    assert tol["eight_schools_tau"]["rtol"] == test_exact.TAU_RTOL
    assert tol["eight_schools_mixture"]["atol"] == pytest.approx(test_exact.MIX_ATOL)
    by_anchor = {s.anchor: s.tol for s in gv.SECTIONS}
    assert by_anchor["rma"] == test_frequentist.RTOL
    assert by_anchor["exact-mixtures"] == pytest.approx(test_exact.MIX_ATOL)
    assert by_anchor["bmr-tau"] == tol["bmr_tau"]["rtol"] == test_exact_regression.R_TAU_RTOL
    assert by_anchor["model-averaging"] == test_bma.PROB_TOL == test_bma.LOGML_TOL
    for anchor, module in (("small-study", test_bias), ("influence", test_influence)):
        assert by_anchor[anchor] == tol[anchor]["rtol"] == module.RTOL
        assert tol[anchor]["atol"] == module.ATOL


def test_agreement_page_renders(validation):
    gv, results = validation
    text = gv.render(results)
    assert text.startswith("# Agreement with metafor and R bayesmeta")
    assert "**mismatch**" not in text
    assert "rma(yi, vi" in text  # the R calls are shown


# ------------------------------------------------------------------------ tau-prior numbers
def _prior_rows() -> dict[str, list[str]]:
    text = (DOCS / "guide" / "tau-priors.md").read_text(encoding="utf-8")
    rows = {}
    for line in text.splitlines():
        m = re.match(r"^\| `([^`]+)`[^|]*\|(.*)\|$", line)
        if m:
            rows[m.group(1)] = [c.strip() for c in m.group(2).split("|")]
    return rows


def test_tau_prior_table_matches_the_package():
    from bayesmeta import priors

    rows = _prior_rows()
    assert len(rows) == 7
    for expr, cells in rows.items():
        prior = eval(expr, vars(priors))  # e.g. HalfNormal(0.5), rhodes2015()
        _, q05, med, q95, spread, p_gt_1 = cells
        got = prior.ppf(np.array([0.05, 0.5, 0.95]))
        for cell, value in zip((q05, med, q95), got, strict=True):
            assert float(cell) == pytest.approx(value, abs=0.6 * 10.0 ** -_decimals(cell)), expr
        assert float(spread) == pytest.approx(1.96 * got[1], abs=0.6 * 10.0 ** -_decimals(spread))
        p = 1 - float(prior.cdf(1.0))
        assert float(p_gt_1) == pytest.approx(p, abs=0.6 * 10.0 ** -_decimals(p_gt_1)), expr


def _decimals(cell: str) -> int:
    return len(cell.split(".")[1]) if "." in cell else 0


def test_half_normal_prose_numbers():
    from bayesmeta.priors import HalfNormal

    text = (DOCS / "guide" / "tau-priors.md").read_text(encoding="utf-8")
    hn = HalfNormal(0.5)
    med, q95 = (float(x) for x in hn.ppf(np.array([0.5, 0.95])))
    assert f"Its median is **{med:.2f}** and its 95th percentile\n**{q95:.2f}**" in text
    assert f"$\\mu \\pm {1.96 * med:.2f}$" in text
    assert f"$\\mu \\pm {1.96 * q95:.2f}$" in text


# ---------------------------------------------------------------------- code blocks in pages
PAGES = ("getting-started.md", "guide/effect-sizes.md", "guide/frequentist.md",
         "guide/tau-priors.md", "guide/bayesian-models.md", "guide/meta-regression.md",
         "guide/published.md", "guide/model-averaging.md",
         "guide/bias-and-influence.md", "guide/plans.md")  # fmt: skip


def _blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def _namespace() -> dict[str, object]:
    from bayesmeta import datasets
    from bayesmeta.plan import load_plan
    from bayesmeta.sheet import read_sheet

    review = read_sheet(datasets.load_peer_support_simulated(), plan=load_plan("peer_support"))
    return {"table": review.for_outcome("social_network_support")}


def _run(page: str) -> None:
    ns = _namespace()
    for code in _blocks(page):
        # the MCMC calls run with few draws here: the test is that the code runs as printed
        code = re.sub(r"fit\(1000, tune=1000, chains=4", "fit(100, tune=100, chains=2", code)
        code = re.sub(r"sample_prior_predictive\(500\)", "sample_prior_predictive(20)", code)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec(compile(code, page, "exec"), ns)


FAST = [p for p in PAGES if not any(".fit(" in b for b in _blocks(p))]
SLOW = [p for p in PAGES if p not in FAST]


@pytest.mark.parametrize("page", FAST)
def test_code_blocks_run(page, capsys):
    _run(page)


@pytest.mark.slow
@pytest.mark.parametrize("page", SLOW)
def test_code_blocks_with_mcmc_run(page, capsys):
    _run(page)


# --------------------------------------------------------------------------- griffe extension
def test_rst_roles_tables_and_maths_become_markdown():
    pytest.importorskip("griffe")
    rst = _load("griffe_rst")
    doc = """Uses :class:`~bayesmeta.table.EffectTable` and :func:`rma`, :math:`\\tau^2`.

.. math::

    y = x

====  =====
a     b
====  =====
``x`` one
      two
====  =====
"""
    md = rst.to_markdown(doc, "bayesmeta.frequentist")
    assert '<autoref identifier="bayesmeta.table.EffectTable" optional>' in md
    assert "<code>EffectTable</code>" in md
    assert 'identifier="bayesmeta.frequentist.rma"' in md and "<code>rma()</code>" in md
    assert "$\\tau^2$" in md
    assert "$$\ny = x\n$$" in md
    assert "| a | b |" in md and "| ``x`` | one two |" in md
