"""Tests of bayesmeta.effect_sizes, pinned to metafor::escalc (models/escalc/reference.json).

The reference values were written by ``Rscript models/escalc/make_reference.R``; each case keeps
the R call that produced it. R is not needed to run these tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesmeta.effect_sizes import (
    VTYPES,
    EffectSizes,
    escalc,
    hedges_correction,
)
from bayesmeta.errors import DataError, ModelSpecError

# metafor and this module evaluate the same closed forms in double precision; the differences
# seen are a few ulp (max ~5e-15 relative), and jsonlite writes 15 significant digits.
RTOL = 1e-10

MODELS = Path(__file__).resolve().parents[1] / "models" / "escalc"
REFERENCE = json.loads((MODELS / "reference.json").read_text())
REVMAN_REFERENCE = json.loads((MODELS / "revman_reference.json").read_text())
CASES = {case["id"]: case for case in REFERENCE["cases"]}
REVMAN_CASES = {case["id"]: case for case in REVMAN_REFERENCE["cases"]}


def _expected(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _run(case: dict[str, Any], **override: Any) -> EffectSizes:
    args = dict(case["args"])
    measure = args.pop("measure")
    args.update(override)
    data = {name: np.asarray(values, dtype=float) for name, values in case["data"].items()}
    return escalc(measure, **data, **args)


def _assert_matches(es: EffectSizes, yi: np.ndarray, vi: np.ndarray) -> None:
    np.testing.assert_array_equal(np.isnan(es.yi), np.isnan(yi))
    np.testing.assert_array_equal(np.isnan(es.vi), np.isnan(vi))
    np.testing.assert_allclose(es.yi, yi, rtol=RTOL, atol=0)
    np.testing.assert_allclose(es.vi, vi, rtol=RTOL, atol=0)


# ---------------------------------------------------------------------------------------------
# metafor reference values


def test_reference_provenance() -> None:
    prov = REFERENCE["provenance"]
    assert prov["script"] == "models/escalc/make_reference.R"
    assert prov["metafor"].startswith("3.8")
    assert len(CASES) == len(REFERENCE["cases"])  # ids are unique


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_matches_metafor(case_id: str) -> None:
    """Every escalc() call in reference.json: same yi, vi, and same NA pattern."""
    case = CASES[case_id]
    es = _run(case)
    yi = _expected(case["expected"]["yi"])
    vi = _expected(case["expected"]["vi"])
    _assert_matches(es, yi, vi)
    # estimable is False exactly where metafor gives NA
    np.testing.assert_array_equal(es.estimable, ~(np.isnan(yi) | np.isnan(vi)))
    assert es.convention == "metafor"
    assert es.measure == case["args"]["measure"]


def test_reference_covers_required_cases() -> None:
    ids = set(CASES)
    for vt in VTYPES["SMD"]:
        assert f"normand1999_SMD_{vt}" in ids
    for ms in ("OR", "RR", "RD"):
        for opt in ("default", "to_all", "to_if0all", "to_none", "drop00"):
            assert f"zeros_{ms}_{opt}" in ids
    assert {"bcg_OR", "bcg_RR", "bcg_RD_LS", "normand1999_MD_LS"} <= ids


def test_metafor_defaults_are_the_defaults() -> None:
    """None for vtype/add/to/drop00 means metafor's vtype="LS", add=1/2, to="only0", no drop."""
    for case_id, explicit in [
        ("zeros_OR_default", {"add": 0.5, "to": "only0", "drop00": False}),
        ("normand1999_SMD_LS", {"vtype": "LS"}),
        ("bcg_RD_LS", {"vtype": "LS", "add": 0.5}),
    ]:
        case = CASES[case_id]
        base = dict(case)
        base["args"] = {k: v for k, v in case["args"].items() if k in ("measure",)}
        a = _run(base)
        b = _run(base, **explicit)
        np.testing.assert_array_equal(a.yi, b.yi)
        np.testing.assert_array_equal(a.vi, b.vi)
        assert a.settings == b.settings


# ---------------------------------------------------------------------------------------------
# corrections and estimability flags on the constructed zeros table
#   rows: 1 0/20 v 5/20 | 2 3/15 v 0/12 | 3 0/10 v 0/12 | 4 10/10 v 7/9 | 5 8/8 v 9/9
#         6 4/25 v 9/26 | 7 0/1 v 1/1   | 8 0/5 v 5/5


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("default", [1, 1, 1, 1, 1, 0, 1, 1]),
        ("to_all", [1, 1, 1, 1, 1, 1, 1, 1]),
        ("to_if0all", [1, 1, 1, 1, 1, 1, 1, 1]),
        ("to_none", [0, 0, 0, 0, 0, 0, 0, 0]),
        ("add_0", [0, 0, 0, 0, 0, 0, 0, 0]),
        ("drop00", [1, 1, 0, 1, 0, 0, 1, 1]),
    ],
)
@pytest.mark.parametrize("measure", ["OR", "RR", "RD"])
def test_corrected_flags(measure: str, option: str, expected: list[int]) -> None:
    es = _run(CASES[f"zeros_{measure}_{option}"])
    np.testing.assert_array_equal(es.corrected, np.array(expected, dtype=bool))


def test_if0all_without_zero_cells_adds_nothing() -> None:
    es = _run(CASES["bcg_OR_if0all"])
    assert not es.corrected.any()
    _assert_matches(es, _run(CASES["bcg_OR"]).yi, _run(CASES["bcg_OR"]).vi)


def test_dropped_study_does_not_trigger_if0all() -> None:
    dropped = _run(CASES["bcg00_OR_drop00_if0all"])
    assert not dropped.corrected.any()
    np.testing.assert_array_equal(dropped.estimable, [True] * 13 + [False])
    kept = _run(CASES["bcg00_OR_if0all"])
    assert kept.corrected.all()


def test_continuous_never_corrected() -> None:
    es = _run(CASES["normand1999_SMD_LS"])
    assert not es.corrected.any()
    assert es.estimable.all()
    assert es.add is None and es.to is None and es.drop00 is None


# ---------------------------------------------------------------------------------------------
# RevMan 5


def test_revman_smd_hand_computed() -> None:
    """Deeks & Higgins (2010), Statistical algorithms in Review Manager 5, SMD section.

    n1 = n2 = 10, means 1 and 0, SDs 1: d = 1, N = 20,
    g = 1 * (1 - 3 / (4 * 20 - 9)) = 68/71,
    vi = 20 / (10 * 10) + g^2 / (2 * (20 - 3.94)) = 1/5 + (4624/5041) / 32.12
       = 4625923/20239615 exactly.
    """
    es = escalc(
        "SMD",
        m1i=[1.0],
        sd1i=[1.0],
        n1i=[10],
        m2i=[0.0],
        sd2i=[1.0],
        n2i=[10],
        convention="revman",
    )
    g = 68 / 71
    np.testing.assert_allclose(es.yi, [0.9577464788732394], rtol=RTOL)
    np.testing.assert_allclose(es.yi, [g], rtol=RTOL)
    np.testing.assert_allclose(es.vi, [0.2 + g**2 / 32.12], rtol=RTOL)
    np.testing.assert_allclose(es.vi, [4625923 / 20239615], rtol=RTOL)
    assert es.convention == "revman" and es.vtype is None


def test_revman_smd_unequal_arms_hand_computed() -> None:
    """n1 = 12, n2 = 8, SDs 2 and 3 (pooled var = (11*4 + 7*9)/18 = 107/18), means 5 and 3."""
    es = escalc(
        "SMD",
        m1i=[5.0],
        sd1i=[2.0],
        n1i=[12],
        m2i=[3.0],
        sd2i=[3.0],
        n2i=[8],
        convention="revman",
    )
    d = 2 / np.sqrt(107 / 18)
    g = d * (1 - 3 / 71)
    np.testing.assert_allclose(es.yi, [g], rtol=RTOL)
    np.testing.assert_allclose(es.vi, [20 / 96 + g**2 / (2 * 16.06)], rtol=RTOL)


@pytest.mark.parametrize("case_id", sorted(REVMAN_CASES))
def test_revman_smd_reference(case_id: str) -> None:
    """The same formula coded independently in R (models/escalc/revman_reference.json)."""
    case = REVMAN_CASES[case_id]
    es = _run(case)
    _assert_matches(es, _expected(case["expected"]["yi"]), _expected(case["expected"]["vi"]))


@settings(max_examples=200, deadline=None)
@given(n1=st.integers(10, 2000), n2=st.integers(10, 2000), d=st.floats(-5, 5))
def test_revman_g_close_to_exact_g(n1: int, n2: int, d: float) -> None:
    """For >= 10 per arm and |d| <= 5 the approximate correction is within 1e-3 of the exact
    one. (The gap is |d| * |J(m) - (1 - 3/(4m - 1))| <= |d| * 1.0005e-4, largest at m = 18, so
    it can exceed 1e-3 only for |d| > 9.99.)"""
    data = dict(m1i=[d], sd1i=[1.0], n1i=[n1], m2i=[0.0], sd2i=[1.0], n2i=[n2])
    exact = escalc("SMD", **data).yi[0]
    approx = escalc("SMD", **data, convention="revman").yi[0]
    assert abs(approx - exact) <= 1e-3


def test_revman_g_gap_worst_case() -> None:
    data = dict(m1i=[5.0], sd1i=[1.0], n1i=[10], m2i=[0.0], sd2i=[1.0], n2i=[10])
    gap = escalc("SMD", **data, convention="revman").yi[0] - escalc("SMD", **data).yi[0]
    assert 4e-4 < gap < 6e-4  # RevMan's approximation is slightly too large


def test_revman_md_is_metafor_ls() -> None:
    case = CASES["normand1999_MD_LS"]
    es = _run(case, vtype=None, convention="revman")
    _assert_matches(es, _expected(case["expected"]["yi"]), _expected(case["expected"]["vi"]))


@pytest.mark.parametrize("measure", ["OR", "RR"])
def test_revman_or_rr(measure: str) -> None:
    """RevMan: 0.5 added to all cells of a table with a zero cell; no events (or only events)
    in both arms is not estimable. That is metafor with add=1/2, to="only0", drop00=TRUE."""
    ref = CASES[f"zeros_{measure}_drop00"]
    es = _run(CASES[f"zeros_{measure}_default"], convention="revman")
    _assert_matches(es, _expected(ref["expected"]["yi"]), _expected(ref["expected"]["vi"]))
    np.testing.assert_array_equal(es.estimable, [1, 1, 0, 1, 0, 1, 1, 1])
    np.testing.assert_array_equal(es.corrected, [1, 1, 0, 1, 0, 0, 1, 1])
    assert (es.add, es.to, es.drop00) == (0.5, "only0", True)


def test_revman_or_bcg_no_zeros_equals_metafor() -> None:
    case = CASES["bcg_OR"]
    es = _run(case, convention="revman")
    _assert_matches(es, _expected(case["expected"]["yi"]), _expected(case["expected"]["vi"]))


def test_revman_rd() -> None:
    """RevMan adds nothing for RD; rows with a zero variance (both arms at 0% or 100%) have no
    inverse-variance weight and are not estimable (our documented choice)."""
    ref = CASES["zeros_RD_to_none"]
    es = _run(CASES["zeros_RD_default"], convention="revman")
    yi = _expected(ref["expected"]["yi"])
    vi = _expected(ref["expected"]["vi"])
    zero_var = vi == 0
    np.testing.assert_array_equal(zero_var, [0, 0, 1, 0, 1, 0, 1, 1])
    yi[zero_var] = np.nan
    vi[zero_var] = np.nan
    _assert_matches(es, yi, vi)
    np.testing.assert_array_equal(es.estimable, ~zero_var)
    assert not es.corrected.any()


# ---------------------------------------------------------------------------------------------
# input forms


def test_events_and_totals_equal_cells() -> None:
    a, b, c, d = [4, 0, 7], [119, 12, 3], [11, 0, 2], [128, 9, 8]
    n1 = [x + y for x, y in zip(a, b, strict=True)]
    n2 = [x + y for x, y in zip(c, d, strict=True)]
    for measure in ("OR", "RR", "RD"):
        ref = escalc(measure, ai=a, bi=b, ci=c, di=d)
        for alt in (
            escalc(measure, ai=a, n1i=n1, ci=c, n2i=n2),
            escalc(measure, ai=a, bi=b, ci=c, n2i=n2),
            escalc(measure, ai=a, bi=b, ci=c, di=d, n1i=n1, n2i=n2),
        ):
            np.testing.assert_array_equal(alt.yi, ref.yi)
            np.testing.assert_array_equal(alt.vi, ref.vi)
            np.testing.assert_array_equal(alt.corrected, ref.corrected)


def test_scalars_are_one_study() -> None:
    es = escalc("MD", m1i=10.0, sd1i=2.0, n1i=20, m2i=8.0, sd2i=3.0, n2i=25)
    assert es.k == len(es) == 1
    np.testing.assert_allclose(es.vi, [4 / 20 + 9 / 25], rtol=RTOL)


def test_hedges_correction() -> None:
    m = np.array([0.5, 1.0, 2.0, 18.0, 1e6])
    j = hedges_correction(m)
    assert np.isnan(j[:2]).all()
    np.testing.assert_allclose(j[2], 1 / np.sqrt(np.pi), rtol=RTOL)
    np.testing.assert_allclose(j[3:], 1 - 3 / (4 * m[3:] - 1), rtol=2e-4)


def test_effectsizes_object() -> None:
    es = escalc("RR", ai=[1, 0], n1i=[10, 10], ci=[2, 3], n2i=[10, 10], labels=["A", "B"])
    np.testing.assert_array_equal(es.sei, np.sqrt(es.vi))
    assert es.labels == ("A", "B")
    for name in ("yi", "vi", "corrected", "estimable"):
        with pytest.raises(ValueError, match="read-only"):
            getattr(es, name)[0] = 0
    with pytest.raises(AttributeError):
        es.measure = "OR"  # type: ignore[misc]
    spec = es.settings
    assert json.loads(json.dumps(spec)) == spec
    assert spec == {
        "measure": "RR",
        "convention": "metafor",
        "vtype": "LS",
        "add": 0.5,
        "to": "only0",
        "drop00": False,
    }


def test_no_heavy_imports() -> None:
    """effect_sizes itself pulls in neither pandas, PyMC nor matplotlib (the package __init__
    is bypassed so that only this module and bayesmeta.errors load)."""
    pkg_dir = Path(__file__).resolve().parents[1] / "bayesmeta"
    code = (
        "import sys, types; "
        "pkg = types.ModuleType('bayesmeta'); "
        f"pkg.__path__ = [{str(pkg_dir)!r}]; "
        "sys.modules['bayesmeta'] = pkg; "
        "import bayesmeta.effect_sizes; "
        "bad = [m for m in ('pandas', 'pymc', 'matplotlib') if m in sys.modules]; "
        "sys.exit(str(bad) if bad else 0)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------------------
# validation

CONT = dict(
    m1i=[1.0, 2.0, 3.0],
    sd1i=[1.0, 1.0, 1.0],
    n1i=[10, 10, 10],
    m2i=[0.0, 0.0, 0.0],
    sd2i=[1.0, 1.0, 1.0],
    n2i=[10, 10, 10],
)
BIN = dict(ai=[1, 2, 3], bi=[9, 8, 7], ci=[2, 2, 2], di=[8, 8, 8])


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {k: list(v) for k, v in base.items()}
    for key, value in changes.items():
        if value is None:
            out.pop(key)
        else:
            out[key] = value
    return out


@pytest.mark.parametrize(
    ("measure", "data", "column", "rows", "fragment"),
    [
        ("SMD", _with(CONT, sd1i=[1.0, 0.0, 1.0]), "sd1i", [1], "standard deviation <= 0"),
        ("MD", _with(CONT, sd2i=[-1.0, 1.0, -2.0]), "sd2i", [0, 2], "standard deviation <= 0"),
        ("SMD", _with(CONT, n2i=[10, 10, 1]), "n2i", [2], "arm size < 2"),
        ("MD", _with(CONT, n1i=[0, 10, 10]), "n1i", [0], "arm size < 2"),
        ("SMD", _with(CONT, m1i=[1.0, np.nan, 3.0]), "m1i", [1], "non-finite"),
        ("SMD", _with(CONT, sd2i=[1.0, 1.0, np.inf]), "sd2i", [2], "non-finite"),
        ("MD", _with(CONT, m2i=[None, 0.0, 0.0]), "m2i", [0], "non-finite"),
        ("OR", _with(BIN, ai=[1, -1, 3]), "ai", [1], "negative count"),
        ("RR", _with(BIN, di=[8, 8.5, 8]), "di", [1], "non-integer count"),
        ("RD", _with(BIN, ci=[2, np.nan, 2]), "ci", [1], "non-finite"),
        (
            "OR",
            dict(ai=[1, 12, 3], n1i=[10, 10, 10], ci=[2, 2, 2], n2i=[10, 10, 10]),
            "ai",
            [1],
            "events exceed the arm total n1i",
        ),
        (
            "RR",
            dict(ai=[1, 2, 3], n1i=[10, 10, 10], ci=[2, 2, 11], n2i=[10, 10, 10]),
            "ci",
            [2],
            "events exceed the arm total n2i",
        ),
        (
            "OR",
            dict(ai=[0, 2, 3], n1i=[0, 10, 10], ci=[2, 2, 2], n2i=[10, 10, 10]),
            "n1i",
            [0],
            "empty arm",
        ),
        ("RD", _with(BIN, ci=[0, 2, 2], di=[0, 8, 8]), "di", [0], "empty arm"),
        ("OR", _with(BIN, n1i=[10, 11, 10]), "n1i", [1], "n1i != ai + bi"),
        ("OR", _with(BIN, n2i=[1.5, 10, 10]), "n2i", [0], "non-integer count"),
    ],
)
def test_bad_values_name_rows_and_column(
    measure: str, data: dict[str, Any], column: str, rows: list[int], fragment: str
) -> None:
    with pytest.raises(DataError) as info:
        escalc(measure, **data)
    err = info.value
    assert err.column == column
    assert err.rows == rows
    msg = str(err)
    assert fragment in msg
    assert column in msg
    shown = ", ".join(str(r + 1) for r in rows)
    assert f"{'row' if len(rows) == 1 else 'rows'} {shown} (1-based)" in msg


def test_error_message_includes_labels() -> None:
    with pytest.raises(DataError) as info:
        escalc(
            "SMD",
            **_with(CONT, sd1i=[1.0, -1.0, 1.0]),
            labels=["Smith 2001", "Jones 2005", "Lee 2010"],
        )
    assert "row 2 ('Jones 2005')" in str(info.value)
    assert info.value.rows == [1]


def test_error_message_truncates_long_row_lists() -> None:
    n = 25
    with pytest.raises(DataError) as info:
        escalc("MD", m1i=[0.0] * n, sd1i=[0.0] * n, n1i=[5] * n, m2i=[0.0] * n, sd2i=[1.0] * n,
               n2i=[5] * n)  # fmt: skip
    assert "and 15 more" in str(info.value)
    assert info.value.rows == list(range(n))


@pytest.mark.parametrize(
    ("measure", "data", "column", "fragment"),
    [
        ("SMD", _with(CONT, n1i=None, n2i=None), "n1i", "missing: n1i, n2i"),
        ("MD", _with(CONT, sd2i=None), "sd2i", "missing: sd2i"),
        ("OR", _with(BIN, bi=None), "bi", "missing: bi (or n1i)"),
        ("RR", _with(BIN, ai=None, di=None), "ai", "missing: ai, di (or n2i)"),
        ("SMD", {}, "m1i", "missing: m1i"),
        ("SMD", _with(CONT, ai=[1, 2, 3]), "ai", "not used by measure 'SMD'"),
        ("RD", _with(BIN, sd1i=[1, 1, 1], m1i=[1, 1, 1]), "m1i", "are not used by measure"),
        ("SMD", _with(CONT, n2i=[10, 10]), "n2i", "differ in length"),
        ("OR", _with(BIN, ai=[1, 2, 3, 4]), "bi", "differ in length"),
        ("MD", {k: [] for k in CONT}, "m1i", "length 0"),
        ("OR", {k: [] for k in BIN}, "ai", "length 0"),
        ("MD", _with(CONT, m1i=[[1.0, 2.0, 3.0]]), "m1i", "one-dimensional"),
        ("MD", _with(CONT, m1i=["1", "2 kg", "3"]), "m1i", "non-numeric value '2 kg' in row 2"),
        ("MD", _with(CONT, m1i=[{}, {}, {}]), "m1i", "non-numeric value {} in rows 1, 2, 3"),
        ("MD", _with(CONT, m1i=[[1.0], [2.0, 3.0], [3.0]]), "m1i", "non-numeric value [1.0]"),
    ],
)
def test_bad_inputs(measure: str, data: dict[str, Any], column: str, fragment: str) -> None:
    with pytest.raises(DataError, match=None) as info:
        escalc(measure, **data)
    assert info.value.column == column
    assert fragment in str(info.value)


def test_labels_validated() -> None:
    with pytest.raises(DataError, match="labels has 2 entries") as info:
        escalc("MD", **CONT, labels=["a", "b"])
    assert info.value.column == "labels"
    with pytest.raises(DataError, match="not a single string"):
        escalc("MD", **CONT, labels="abc")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"measure": "SMDH"}, "Unknown measure 'SMDH'; choose one of 'SMD', 'MD', 'OR'"),
        ({"measure": "smd"}, "Unknown measure"),
        ({"convention": "stata"}, "Unknown convention 'stata'; choose one of 'metafor', 'revman'"),
        ({"vtype": "HO"}, "Unknown vtype 'HO' for measure 'SMD'; choose one of 'LS', 'UB', 'LS2'"),
        ({"vtype": "LS", "convention": "revman"}, "cannot be combined with convention='revman'"),
        ({"add": 0.5}, "apply to 2x2 measures"),
        ({"to": "all"}, "apply to 2x2 measures"),
    ],
)
def test_bad_options_smd(kwargs: dict[str, Any], fragment: str) -> None:
    args = {"measure": "SMD", **CONT, **kwargs}
    with pytest.raises(ModelSpecError) as info:
        escalc(**args)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"to": "some"}, "Unknown to='some'; choose one of 'only0', 'all', 'if0all', 'none'"),
        ({"add": -0.5}, "add must be a finite number >= 0"),
        ({"add": np.nan}, "add must be a finite number >= 0"),
        ({"add": "0.5"}, "add must be a non-negative number"),
        ({"drop00": 1}, "drop00 must be True or False"),
        ({"vtype": "LS2"}, "Unknown vtype 'LS2' for measure 'OR'; choose one of 'LS'"),
        ({"convention": "revman", "add": 0.5}, "RevMan 5's zero-cell rules are fixed"),
        ({"convention": "revman", "drop00": False}, "RevMan 5's zero-cell rules are fixed"),
    ],
)
def test_bad_options_2x2(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ModelSpecError) as info:
        escalc("OR", **BIN, **kwargs)
    assert fragment in str(info.value)


def test_options_checked_before_data() -> None:
    with pytest.raises(ModelSpecError):
        escalc("XYZ", m1i=[np.nan])


# ---------------------------------------------------------------------------------------------
# properties


@st.composite
def continuous_data(draw: st.DrawFn) -> dict[str, np.ndarray]:
    k = draw(st.integers(1, 8))
    means = st.floats(-100, 100, allow_nan=False)
    sds = st.floats(0.05, 50)
    ns = st.integers(2, 400)
    return {
        "m1i": np.array(draw(st.lists(means, min_size=k, max_size=k))),
        "sd1i": np.array(draw(st.lists(sds, min_size=k, max_size=k))),
        "n1i": np.array(draw(st.lists(ns, min_size=k, max_size=k)), dtype=float),
        "m2i": np.array(draw(st.lists(means, min_size=k, max_size=k))),
        "sd2i": np.array(draw(st.lists(sds, min_size=k, max_size=k))),
        "n2i": np.array(draw(st.lists(ns, min_size=k, max_size=k)), dtype=float),
    }


@st.composite
def table_data(draw: st.DrawFn) -> dict[str, np.ndarray]:
    k = draw(st.integers(1, 8))
    rows = [
        draw(st.integers(1, 150).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
        for _ in range(2 * k)
    ]
    ev = np.array([r[0] for r in rows], dtype=float)
    tot = np.array([r[1] for r in rows], dtype=float)
    return {"ai": ev[:k], "n1i": tot[:k], "ci": ev[k:], "n2i": tot[k:]}


CONT_OPTIONS = [("SMD", "metafor", vt) for vt in VTYPES["SMD"]] + [
    ("SMD", "revman", None),
    ("MD", "metafor", "LS"),
    ("MD", "metafor", "HO"),
    ("MD", "revman", None),
]
BIN_OPTIONS: list[tuple[str, str, dict[str, Any]]] = [
    (ms, "metafor", {}) for ms in ("OR", "RR", "RD")
] + [
    ("OR", "metafor", {"to": "if0all"}),
    ("RR", "metafor", {"to": "all", "add": 1.0}),
    ("RD", "metafor", {"vtype": "AV", "drop00": True}),
    ("RD", "metafor", {"vtype": "UB"}),
    ("OR", "revman", {}),
    ("RR", "revman", {}),
    ("RD", "revman", {}),
]


def _swap_cont(x: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {
        "m1i": x["m2i"],
        "sd1i": x["sd2i"],
        "n1i": x["n2i"],
        "m2i": x["m1i"],
        "sd2i": x["sd1i"],
        "n2i": x["n1i"],
    }


def _assert_same(a: EffectSizes, b: EffectSizes, sign: float = 1.0) -> None:
    np.testing.assert_array_equal(a.estimable, b.estimable)
    np.testing.assert_array_equal(a.corrected, b.corrected)
    np.testing.assert_allclose(a.yi, sign * b.yi, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(a.vi, b.vi, rtol=1e-12, atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(data=continuous_data())
@pytest.mark.parametrize(("measure", "convention", "vtype"), CONT_OPTIONS)
def test_swap_arms_continuous(
    measure: str, convention: str, vtype: str | None, data: dict[str, np.ndarray]
) -> None:
    a = escalc(measure, **data, convention=convention, vtype=vtype)
    b = escalc(measure, **_swap_cont(data), convention=convention, vtype=vtype)
    _assert_same(a, b, sign=-1.0)


@settings(max_examples=60, deadline=None)
@given(data=table_data())
@pytest.mark.parametrize(("measure", "convention", "opts"), BIN_OPTIONS)
def test_swap_arms_2x2(
    measure: str, convention: str, opts: dict[str, Any], data: dict[str, np.ndarray]
) -> None:
    a = escalc(measure, **data, convention=convention, **opts)
    swapped = {"ai": data["ci"], "n1i": data["n2i"], "ci": data["ai"], "n2i": data["n1i"]}
    b = escalc(measure, **swapped, convention=convention, **opts)
    _assert_same(a, b, sign=-1.0)


@settings(max_examples=60, deadline=None)
@given(data=continuous_data(), seed=st.integers(0, 2**32 - 1))
@pytest.mark.parametrize(("measure", "convention", "vtype"), CONT_OPTIONS)
def test_row_order_invariance_continuous(
    measure: str, convention: str, vtype: str | None, data: dict[str, np.ndarray], seed: int
) -> None:
    perm = np.random.default_rng(seed).permutation(len(data["m1i"]))
    a = escalc(measure, **data, convention=convention, vtype=vtype)
    b = escalc(measure, **{k: v[perm] for k, v in data.items()}, convention=convention,
               vtype=vtype)  # fmt: skip
    np.testing.assert_allclose(a.yi[perm], b.yi, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(a.vi[perm], b.vi, rtol=1e-12)


@settings(max_examples=60, deadline=None)
@given(data=table_data(), seed=st.integers(0, 2**32 - 1))
@pytest.mark.parametrize(("measure", "convention", "opts"), BIN_OPTIONS)
def test_row_order_invariance_2x2(
    measure: str,
    convention: str,
    opts: dict[str, Any],
    data: dict[str, np.ndarray],
    seed: int,
) -> None:
    perm = np.random.default_rng(seed).permutation(len(data["ai"]))
    a = escalc(measure, **data, convention=convention, **opts)
    b = escalc(measure, **{k: v[perm] for k, v in data.items()}, convention=convention, **opts)
    np.testing.assert_array_equal(a.estimable[perm], b.estimable)
    np.testing.assert_array_equal(a.corrected[perm], b.corrected)
    np.testing.assert_allclose(a.yi[perm], b.yi, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a.vi[perm], b.vi, rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(data=continuous_data(), scale=st.floats(1e-3, 1e3), shift=st.floats(-1e3, 1e3))
@pytest.mark.parametrize(("convention", "vtype"), [(c, v) for _, c, v in CONT_OPTIONS[:5]])
def test_smd_scale_and_shift_invariant(
    convention: str, vtype: str | None, data: dict[str, np.ndarray], scale: float, shift: float
) -> None:
    a = escalc("SMD", **data, convention=convention, vtype=vtype)
    scaled = dict(data)
    for key in ("m1i", "m2i", "sd1i", "sd2i"):
        scaled[key] = data[key] * scale
    b = escalc("SMD", **scaled, convention=convention, vtype=vtype)
    np.testing.assert_allclose(a.yi, b.yi, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(a.vi, b.vi, rtol=1e-9)
    shifted = dict(data)
    shifted["m1i"] = data["m1i"] + shift
    shifted["m2i"] = data["m2i"] + shift
    c = escalc("SMD", **shifted, convention=convention, vtype=vtype)
    # exact up to cancellation in (m1 + s) - (m2 + s): ~eps * 1e3 / min(sd) in absolute terms
    np.testing.assert_allclose(a.yi, c.yi, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a.vi, c.vi, rtol=1e-9, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(data=table_data())
def test_2x2_outputs_are_consistent(data: dict[str, np.ndarray]) -> None:
    """Under metafor defaults every table is estimable with vi > 0 for OR/RR (zero cells are
    corrected); under RevMan exactly the double-zero and double-all-event tables are not."""
    for measure in ("OR", "RR"):
        es = escalc(measure, **data)
        assert es.estimable.all()
        assert (es.vi > 0).all()
    rd = escalc("RD", **data)
    assert rd.estimable.all()
    assert (np.abs(rd.yi) <= 1).all()
    rev = escalc("OR", **data, convention="revman")
    double = ((data["ai"] == 0) & (data["ci"] == 0)) | (
        (data["ai"] == data["n1i"]) & (data["ci"] == data["n2i"])
    )
    np.testing.assert_array_equal(rev.estimable, ~double)
    np.testing.assert_array_equal(np.isnan(rev.yi), double)
