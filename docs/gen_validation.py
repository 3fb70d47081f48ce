"""Write docs/validation/agreement.md: our numbers against the pinned metafor / R bayesmeta values.

Reads the reference files the tests read (``models/*/reference.json``,
``models/escalc/revman_reference.json``, ``models/normal-normal/eight_schools_reference.json``),
recomputes every case with the package, and writes one table per reference file: for each case
the largest difference over the quantities the tests compare, the quantity where it occurs, and
the R call that produced the reference. Nothing on the page is typed by hand.

Run as an MkDocs hook (``hooks:`` in ``mkdocs.yml``; the page is regenerated before every
build and only rewritten when its content changes, so ``mkdocs serve`` does not loop) or by
hand: ``python docs/gen_validation.py``. Needs no R and no network; takes about a second.
"""

from __future__ import annotations

import html
import json
import math
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
OUT = ROOT / "docs" / "validation" / "agreement.md"

if str(ROOT) not in sys.path:  # as a hook, mkdocs imports this file by path
    sys.path.insert(0, str(ROOT))

#: Tolerances the tests apply (tests/test_*.py); tests/test_docs.py checks they still agree.
#: "rel": relative, with an absolute floor (``atol``) for quantities that are exactly zero.
TOLERANCES: dict[str, dict[str, float]] = {
    "rma": {"rtol": 1e-6, "atol": 1e-10},
    "subgroups": {"rtol": 1e-6, "atol": 1e-10},
    "mantel-haenszel": {"rtol": 1e-6, "atol": 1e-10},
    "escalc": {"rtol": 1e-10, "atol": 0.0},
    "eight_schools_tau": {"rtol": 1e-5, "atol": 1e-6},
    # R bayesmeta's DIRECT grid: 1 % of the largest standard error (17.6), absolute
    "eight_schools_mixture": {"rtol": 0.0, "atol": 0.176},
    # bmr(): tau by integrate() (relative 1e-5); coefficients are DIRECT grid mixtures, compared
    # in units of R's own grid error at its defaults (tests/test_exact_regression.py)
    "bmr_tau": {"rtol": 1e-5, "atol": 0.0},
    "bmr_coef": {"rtol": 0.0, "atol": 1.0},
    # marginal likelihoods by integrate() in R (tests/test_bma.py)
    "model_averaging": {"rtol": 1e-8, "atol": 1e-8},
    # regtest, ranktest, trimfill (tests/test_bias.py) and leave1out, cumul (test_influence.py)
    "small-study": {"rtol": 1e-6, "atol": 1e-10},
    "influence": {"rtol": 1e-6, "atol": 1e-10},
}

#: Below this, a reference value counts as zero and the absolute difference is reported.
ZERO = 1e-8


@dataclass
class Row:
    """One case: the largest difference and where it is."""

    case: str
    n: int  # quantities compared
    worst: float  # largest difference (relative, or absolute where noted)
    where: str
    call: str
    note: str = ""


class _Diff:
    """Collects the differences of one case."""

    def __init__(self, absolute: bool = False) -> None:
        self.absolute = absolute
        self.items: list[tuple[float, str]] = []

    def add(self, name: str, got: Any, want: Any) -> None:
        g = np.atleast_1d(np.asarray(got, dtype=float))
        w = np.atleast_1d(np.asarray([math.nan if v is None else v for v in _flat(want)], float))
        if g.shape != w.shape:
            self.items.append((math.inf, f"{name} (shape {g.shape} vs {w.shape})"))
            return
        for i, (a, b) in enumerate(zip(g, w, strict=True)):
            label = name if g.size == 1 else f"{name}[{i + 1}]"
            if math.isnan(a) and math.isnan(b):
                continue
            if math.isnan(a) or math.isnan(b):
                self.items.append((math.inf, f"{label} (NA in one only)"))
                continue
            d = abs(a - b)
            if not self.absolute and abs(b) > ZERO:
                d /= abs(b)
            self.items.append((d, label))

    def row(self, case: str, call: str, note: str = "") -> Row:
        worst, where = max(self.items, default=(0.0, "-"))
        return Row(case, len(self.items), worst, where, call, note)


def _flat(x: Any) -> list[Any]:
    return list(x) if isinstance(x, list | tuple) else [x]


def _load(*parts: str) -> dict[str, Any]:
    with open(MODELS.joinpath(*parts), encoding="utf-8") as fh:
        return json.load(fh)


def _quiet(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn()


# ---------------------------------------------------------------------------------- rma
_RMA_SCALARS = (
    "tau2 se_tau2 I2 H2 QE QEp QM QMp R2 tau2_ci_lb tau2_ci_ub I2_ci_lb I2_ci_ub H2_ci_lb "
    "H2_ci_ub ll dev AIC BIC AICc"
).split()
_RMA_VECTORS = ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "weights")


def rma_rows() -> Iterator[Row]:
    """``models/rma/reference.json``: metafor ``rma()``, ``confint()``, ``predict()``."""
    from bayesmeta import rma

    for case in _load("rma", "reference.json")["cases"]:
        data, args, exp = case["data"], case["args"], case["expected"]
        mods = {m: data["mods"][m] for m in args["mods"]} if args.get("mods") else None
        res = _quiet(
            lambda data=data, args=args, mods=mods: rma(
                data["yi"], data["vi"], mods=mods, method=args["method"], test=args["test"]
            )
        )
        d = _Diff()
        for name in _RMA_VECTORS:
            d.add(name, getattr(res, name), exp[name])
        capped = exp["tau2_ci_ub"] is not None and exp["tau2_ci_ub"] == max(100.0, 10 * exp["tau2"])
        note = ""
        for name in _RMA_SCALARS:
            if name not in exp or (name == "se_tau2" and args["method"] == "EE"):
                continue
            if capped and name in ("tau2_ci_ub", "I2_ci_ub", "H2_ci_ub"):
                note = (
                    "metafor's Q-profile upper bound stops at tau2.max (prints '> 100'); "
                    "ours lies beyond it"
                )
                continue
            got = getattr(res, name)
            d.add(name, math.nan if got is None else got, exp[name])
        if "pred" in exp:
            newmods = case.get("predict_newmods")
            pr = res.predict(list(newmods.values()) if newmods else None)
            for name, got in (("pred", pr.pred), ("pred_se", pr.se), ("pi_lb", pr.pi_lb)):
                d.add(name, got[0], exp[name])
            d.add("pi_ub", pr.pi_ub[0], exp["pi_ub"])
        calls = [
            case.get("data_call"),
            case["call"],
            case.get("confint_call"),
            case.get("predict_call"),
        ]
        yield d.row(case["id"], "; ".join(c for c in calls if c), note)


# ----------------------------------------------------------------------------- subgroups
def subgroup_rows() -> Iterator[Row]:
    """``models/subgroups/reference.json``: RevMan 5's test for subgroup differences."""
    from bayesmeta import subgroup_analysis

    for case in _load("subgroups", "reference.json")["cases"]:
        data, exp = case["data"], case["expected"]
        sg = _quiet(
            lambda data=data, case=case: subgroup_analysis(
                data["yi"], data["vi"], data["group"], method=case["args"]["method"]
            )
        )
        d = _Diff()
        for g in exp["subgroups"]:
            r = sg.groups[g["group"]]
            for name in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub"):
                d.add(f"{g['group']}.{name}", getattr(r, name)[0], g[name])
            for name in ("tau2", "I2", "H2", "QE", "QEp"):
                d.add(f"{g['group']}.{name}", getattr(r, name), g[name])
        btw = exp["between"]
        d.add("Q_between", sg.Q_between, btw["Q"])
        d.add("p_between", sg.pval, btw["p"])
        d.add("I2_between", sg.I2_between, btw["I2"])
        yield d.row(case["id"], f"{case['data_call']}; {case['call']}")


# ----------------------------------------------------------------------- Mantel-Haenszel
_MH_FIELDS = ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "QE", "QEp", "I2", "H2")


def mh_rows() -> Iterator[Row]:
    """``models/mantel-haenszel/reference.json``: ``rma.mh()`` and RevMan's "M-H, Random"."""
    from bayesmeta import rma_mh

    for case in _load("mantel-haenszel", "reference.json")["cases"]:
        data, args, exp = case["data"], case["args"], case["expected"]
        cells = (data["ai"], data["bi"], data["ci"], data["di"])
        res = _quiet(
            lambda cells=cells, args=args: rma_mh(
                *cells, measure=args["measure"], drop00=args["drop00"]
            )
        )
        d = _Diff()
        for name in _MH_FIELDS:
            d.add(f"mh.{name}", getattr(res, name), exp["mh"][name])
        if exp["mh"].get("tarone") is not None:
            d.add("mh.tarone", res.tarone, exp["mh"]["tarone"])
            d.add("mh.tarone_p", res.tarone_p, exp["mh"]["tarone_p"])
        re = exp["random_dl"]
        d.add("random.tau2", res.random.tau2, re["tau2"])
        for name in ("beta", "se", "zval", "pval", "ci_lb", "ci_ub"):
            d.add(f"random.{name}", getattr(res.random, name)[0], re[name])
        call = f"{case['data_call']}; {case['call']}"
        yield d.row(case["id"], call)
        if not args["drop00"]:
            continue
        rv = _quiet(
            lambda cells=cells, args=args: rma_mh(
                *cells, measure=args["measure"], convention="revman"
            )
        )
        d = _Diff()
        if "revman_cc" in exp:
            mh, re = exp["revman_cc"]["mh"], exp["revman_cc"]["random_dl"]
            for name in _MH_FIELDS:
                d.add(f"mh.{name}", getattr(rv, name), mh[name])
            d.add("random.tau2", rv.random.tau2, re["tau2"])
            for name in ("beta", "se", "ci_lb", "ci_ub"):
                d.add(f"random.{name}", getattr(rv.random, name)[0], re[name])
            rcall = call.replace(
                "rma.mh(",
                'rma.mh(add = c(1/2, 1/2), to = c("only0", "only0"), drop00 = c(TRUE, TRUE), ',
            )
            yield d.row(f'{case["id"]} (convention="revman")', rcall)
        else:
            d.add("mh.beta", rv.beta, exp["mh"]["beta"])
            d.add("mh.se", rv.se, exp["rd_se_greenland_robins_1985"]["se"])
            yield d.row(
                f'{case["id"]} (convention="revman")',
                "Greenland-Robins (1985) variance computed by hand in make_reference.R",
            )


# -------------------------------------------------------------------------------- escalc
def escalc_rows() -> Iterator[Row]:
    """``models/escalc/reference.json`` and ``revman_reference.json``."""
    from bayesmeta import escalc

    for fname in ("reference.json", "revman_reference.json"):
        for case in _load("escalc", fname)["cases"]:
            args = dict(case["args"])
            measure = args.pop("measure")
            data = {k: np.asarray(v, dtype=float) for k, v in case["data"].items()}
            es = _quiet(
                lambda measure=measure, data=data, args=args: escalc(measure, **data, **args)
            )
            d = _Diff()
            d.add("yi", es.yi, case["expected"]["yi"])
            d.add("vi", es.vi, case["expected"]["vi"])
            call = case.get("call") or f"RevMan 5 formula coded in R: {case['formula']}"
            yield d.row(case["id"], call)


# -------------------------------------------------------------------------- eight schools
_STATS = ("mode", "median", "mean", "sd", "lower", "upper")


def eight_schools_rows(part: str) -> Iterator[Row]:
    """``models/normal-normal/eight_schools_reference.json``: R bayesmeta 3.4, exact engine.

    ``part`` is ``"tau"`` (relative differences) or ``"mixture"`` (mu, theta_new, theta_i and
    P(mu > 0): absolute differences on the effect scale).
    """
    from bayesmeta import exact_posterior
    from bayesmeta.priors import Prior

    ref = _load("normal-normal", "eight_schools_reference.json")
    calls = ref["provenance"]["R_calls"]
    for key, ex in sorted(ref["examples"].items()):
        post = exact_posterior(
            ref["data"]["y"],
            ref["data"]["sigma"],
            tau_prior=Prior.from_dict(ex["tau_prior"]),
            mu_prior=Prior.from_dict(ex["mu_prior"]),
            labels=ref["data"]["labels"],
        )
        summ = post.summary(ci_prob=0.95, ci_kind="hdi")
        summ = summ.rename(columns={"ci_lb": "lower", "ci_ub": "upper"})  # the R names
        extra = ex.get("extra", {})
        call = calls["_".join(key.split("_")[:2])]
        tau = _Diff()
        for stat in _STATS:
            tau.add(f"tau.{stat}", summ.loc["tau", stat], ex["summary"]["tau"][stat])
        if "tau_quantile_95" in extra:
            tau.add("tau.q95", float(post.tau.quantile(0.95)), extra["tau_quantile_95"])
        if "tau_central_95" in extra:
            tau.add("tau.central95", post.interval("tau", 0.95, "eti"), extra["tau_central_95"])
        if part == "tau":
            yield tau.row(key, call)
            continue
        mix = _Diff(absolute=True)
        for param in ("mu", "theta_new"):
            for stat in _STATS:
                mix.add(f"{param}.{stat}", summ.loc[param, stat], ex["summary"][param][stat])
        for lab, r in ex.get("shrinkage", {}).items():
            for stat in _STATS:
                mix.add(f"theta[{lab}].{stat}", summ.loc[f"theta[{lab}]", stat], r[stat])
        if "prob_mu_gt_0" in extra:
            mix.add("P(mu>0)", post.prob("mu", 0.0), extra["prob_mu_gt_0"])
        yield mix.row(key, call)


def bmr_rows(part: str) -> Iterator[Row]:
    """``models/normal-normal-regression/reference.json``: R bayesmeta 3.4 ``bmr()``.

    ``part`` is ``"tau"`` (tau's median, mean, sd, central interval and the log marginal
    likelihood: relative differences) or ``"coef"`` (each coefficient's mean, sd and quantiles,
    the mean and prediction at the moderator values: the difference in units of R's own grid
    error at its default grid, floored at 1e-6).
    """
    from bayesmeta import exact_posterior
    from bayesmeta.priors import Flat, HalfCauchy, HalfNormal, Normal

    ref = _load("normal-normal-regression", "reference.json")
    for case in ref["cases"]:
        data, r, err = case["data"], case["reference"], case["grid_error"]
        tp = case["tau_prior"]
        tau_prior = (
            HalfNormal(tp["sigma"]) if tp["family"] == "halfnormal" else HalfCauchy(tp["beta"])
        )
        bp = case["beta_prior"]
        pairs = [] if bp == "flat" else zip(bp["mean"], bp["sd"], strict=True)
        beta = Flat() if bp == "flat" else [Normal(m, v) for m, v in pairs]
        post = exact_posterior(
            data["yi"], data["sei"], X=np.array(data["X"], float), moderators=data["columns"],
            tau_prior=tau_prior, beta_prior=beta,
        )  # fmt: skip
        if part == "tau":
            d = _Diff()
            for stat in ("median", "mean", "sd"):
                d.add(f"tau.{stat}", getattr(post.tau, stat), r["tau"][stat])
            d.add("tau.central95", post.tau.interval(0.95, "eti"), r["tau"]["central"])
            if r["log_marginal_likelihood"] is not None:
                d.add("log p(y)", post.log_marginal_likelihood, r["log_marginal_likelihood"])
            yield d.row(case["id"], case["call"])
            continue
        d = _Diff(absolute=True)
        for b, eb in zip(r["beta"], err["beta"], strict=True):
            c = post.coef(b["name"])
            for stat in ("mean", "sd"):
                scale = max(float(eb[stat]), 1e-6)
                d.add(f"{b['name']}.{stat}", getattr(c, stat) / scale, b[stat] / scale)
            q = np.asarray(c.quantile([0.025, 0.25, 0.5, 0.75, 0.975]))
            scale_q = np.maximum(np.asarray(eb["quantiles"], float), 1e-6)
            d.add(f"{b['name']}.q", q / scale_q, list(np.asarray(b["quantiles"]) / scale_q))
        yield d.row(case["id"], case["call"], "in units of R's default-grid error")


def model_averaging_rows() -> Iterator[Row]:
    """``models/model-averaging/reference.json``: R bayesmeta's marginal likelihoods."""
    from bayesmeta.bma import model_average

    ref = _load("model-averaging", "reference.json")
    for case in ref["cases"]:
        bma = model_average(
            case["data"]["yi"], case["data"]["sei"], tau_prior="half_normal(0.5)",
            mu_prior="normal(0, 4)",
        )  # fmt: skip
        d = _Diff(absolute=True)
        for name, value in case["log_marginal"].items():
            d.add(f"log p(y; {name})", bma.models.loc[name, "log_marginal"], value)
        for name, value in case["posterior_probability"].items():
            d.add(f"P({name}; y)", bma.models.loc[name, "post_prob"], value)
        yield d.row(case["id"], case["call"], "absolute differences")


# ------------------------------------------------------------- small-study effects, influence
def _grouped(cases: list[dict[str, Any]]) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Cases by (function, dataset, method, test): one row each on the page."""
    out: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for c in cases:
        a = c["args"]
        out.setdefault((c["function"], c["dataset"], a["method"], a["test"]), []).append(c)
    return out


def _base_fit(ds: dict[str, Any], args: dict[str, Any]) -> Any:
    from bayesmeta import rma

    return _quiet(
        lambda: rma(
            ds["yi"], ds["vi"], method=args["method"], test=args["test"], labels=ds["study"]
        )
    )


_BIAS_FIT = ("beta", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2", "I2", "H2", "QE", "QEp")


def _bias_case(d: _Diff, case: dict[str, Any], ds: dict[str, Any]) -> None:
    from bayesmeta.bias import ranktest, regtest, trimfill

    a, e, fit = case["args"], case["expected"], _base_fit(ds, case["args"])
    tag = case["id"].removeprefix(f"{case['dataset']}_{a['method']}_{a['test']}_")
    if case["function"] == "regtest":
        res = _quiet(lambda: regtest(fit, a["model"], a["predictor"], ni=ds["ni"]))
        for name in ("zval", "pval", "est", "ci_lb", "ci_ub"):
            d.add(f"{tag}.{name}", getattr(res, name), e[name])
        fields = _BIAS_FIT if a["model"] == "rma" else ("beta", "se", "tval", "pval", "sigma")
        for name in fields:
            d.add(f"{tag}.fit.{name}", getattr(res.fit, name), e["fit"][name])
    elif case["function"] == "ranktest":
        res = _quiet(lambda: ranktest(fit, exact=a["exact"]))
        d.add(f"{tag}.tau", res.tau, e["tau"])
        d.add(f"{tag}.pval", res.pval, e["pval"])
    else:
        res = _quiet(lambda: trimfill(fit, a["estimator"], a["side"]))
        d.add(f"{tag}.k0", res.k0, e["k0"])
        for name in ("se_k0", "p_k0", "yi", "vi"):
            d.add(f"{tag}.{name}", getattr(res, name), e[name])
        for name in _BIAS_FIT:
            d.add(f"{tag}.fit.{name}", getattr(res.fit, name), e[name])


def small_study_rows() -> Iterator[Row]:
    """``models/small-study/reference.json``: metafor ``regtest``, ``ranktest``, ``trimfill``."""
    ref = _load("small-study", "reference.json")
    for (fn, dataset, method, test), cases in _grouped(ref["cases"]).items():
        ds = ref["datasets"][dataset]
        d = _Diff()
        for case in cases:
            _bias_case(d, case, ds)
        calls = sorted({c["call"] for c in cases})
        more = len(calls) - 1
        call = f"{cases[0]['fit_call']}; {calls[0]}" + (
            f" (and {more} more call{'s' * (more > 1)})" if more else ""
        )
        yield d.row(f"{dataset} {method} {test}: {fn} ({len(cases)} calls)", call)


_INFLUENCE = ("estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q", "Qp", "tau2", "I2", "H2")


def influence_rows() -> Iterator[Row]:
    """``models/influence/reference.json``: metafor ``leave1out`` and ``cumul``."""
    from bayesmeta.influence import cumul, leave1out

    ref = _load("influence", "reference.json")
    for (fn, dataset, method, test), cases in _grouped(ref["cases"]).items():
        ds = ref["datasets"][dataset]
        d = _Diff()
        for case in cases:
            a, e, fit = case["args"], case["expected"], _base_fit(ds, case["args"])
            if fn == "leave1out":
                res = leave1out(fit)
            else:
                order = None if a["order"] is None else ds["order_keys"][a["order"]]
                res = cumul(fit, order, decreasing=a["decreasing"])
            for name in _INFLUENCE:
                if e[name] is not None:  # metafor drops tau2 for EE fits
                    d.add(name, getattr(res, name), e[name])
        yield d.row(f"{dataset} {method} {test}: {fn} ({len(cases)} calls)", cases[0]["call"])


# ------------------------------------------------------------------------------ the page
@dataclass
class Section:
    anchor: str
    title: str
    source: str
    software: str
    tolerance: str
    tol: float  # the largest difference the tests accept (docs/test_docs.py checks it)
    test: str
    rows: Callable[[], Iterable[Row]]
    text: str = ""


SECTIONS = (
    Section(
        "rma",
        "Random-effects and meta-regression (`rma`)",
        "models/rma/reference.json",
        "metafor 3.8-1: rma(), confint(), predict(), fitstats()",
        "relative 1e-6 (absolute 1e-10 where metafor's value is 0)",
        1e-6,
        "tests/test_frequentist.py::test_rma_matches_metafor",
        rma_rows,
        "Every estimator (EE, DL, REML, ML, PM, HE, SJ) under both tests (z, Knapp-Hartung), "
        "meta-regressions, k = 2 and 3, tau2 = 0. Compared: beta, se, zval, pval, CI, weights, "
        "tau2 and its SE, I2, H2, Q, QM, R2, the Q-profile CIs, log-likelihood, deviance, "
        "AIC/BIC/AICc and the prediction interval.",
    ),
    Section(
        "subgroups",
        "Test for subgroup differences (RevMan 5)",
        "models/subgroups/reference.json",
        "metafor 3.8-1: per-subgroup rma() and rma(est, sei = se, method = 'EE')",
        "relative 1e-6 (absolute 1e-10)",
        1e-6,
        "tests/test_frequentist.py::test_subgroup_differences_match_revman_via_metafor",
        subgroup_rows,
    ),
    Section(
        "mantel-haenszel",
        'Mantel-Haenszel and RevMan\'s "M-H, Random"',
        "models/mantel-haenszel/reference.json",
        "metafor 3.8-1: escalc(), rma.mh(), rma(tau2 = ...)",
        "relative 1e-6 (absolute 1e-10)",
        1e-6,
        "tests/test_frequentist.py::test_mantel_haenszel_*",
        mh_rows,
        'Rows marked `convention="revman"` compare `rma_mh(..., convention="revman")` with '
        "metafor run with RevMan's zero-cell correction inside the MH sums; for RD, with the "
        "Greenland-Robins (1985) variance computed by hand "
        "(see `models/mantel-haenszel/README.md`).",
    ),
    Section(
        "escalc",
        "Effect sizes (`escalc`)",
        "models/escalc/reference.json, models/escalc/revman_reference.json",
        "metafor 3.8-1: escalc(); RevMan 5's SMD formula coded in R",
        "relative 1e-10, with the same NA pattern",
        1e-10,
        "tests/test_effect_sizes.py::test_matches_metafor, ::test_revman_smd_reference",
        escalc_rows,
        "`yi` and `vi` of every study, including the zero-cell and double-zero rules.",
    ),
    Section(
        "exact-tau",
        "Exact posterior of tau (eight schools)",
        "models/normal-normal/eight_schools_reference.json",
        "R bayesmeta 3.4 (Röver 2020, J Stat Softw 93(6)), printed digits",
        "relative 1e-5 (the printed precision)",
        1e-5,
        "tests/test_exact.py::test_eight_schools_tau",
        lambda: eight_schools_rows("tau"),
        "tau's mode, median, mean, SD and 95 % shortest interval (R bayesmeta's default; our "
        '`ci_kind="hdi"`), its 95 % quantile and central interval.',
    ),
    Section(
        "exact-mixtures",
        "Exact posterior of mu, theta_new and theta[i] (eight schools)",
        "models/normal-normal/eight_schools_reference.json",
        "R bayesmeta 3.4 (Röver 2020, J Stat Softw 93(6)), printed digits",
        "**absolute** 0.176 on the effect scale: 1 % of the largest standard error, the accuracy "
        "of R bayesmeta's default DIRECT grid for normal mixtures",
        0.176,
        "tests/test_exact.py::test_eight_schools_mixtures",
        lambda: eight_schools_rows("mixture"),
        "Absolute differences. R bayesmeta discretises the mixture over tau on a grid chosen "
        "for ~1 % of a standard error; our quadrature is accurate to ~1e-10 against an "
        "independent oracle (`tests/test_exact.py`), so these differences are R's grid error.",
    ),
    Section(
        "bmr-tau",
        "Exact meta-regression: tau and the marginal likelihood (bcg)",
        "models/normal-normal-regression/reference.json",
        "R bayesmeta 3.4: bmr() on a fine DIRECT grid; tau by integrate()",
        "relative 1e-5",
        1e-5,
        "tests/test_exact_regression.py::test_bmr_reference",
        lambda: bmr_rows("tau"),
        "bcg log risk ratios on `alloc` (flat and normal coefficient priors) and on latitude "
        "(half-Cauchy tau prior). An independent `scipy.integrate` reference in the same test "
        "file agrees to ~1e-13.",
    ),
    Section(
        "bmr-coef",
        "Exact meta-regression: coefficients (bcg)",
        "models/normal-normal-regression/reference.json",
        "R bayesmeta 3.4: bmr(); coefficients are mixtures over R's DIRECT grid",
        "R's own grid error (difference / error at bmr's default grid <= 1)",
        1.0,
        "tests/test_exact_regression.py::test_bmr_reference",
        lambda: bmr_rows("coef"),
        "Differences divided by R's grid error (the change from bmr's default grid to a 20x "
        "finer one): values below 1 mean agreement within R's own accuracy.",
    ),
    Section(
        "model-averaging",
        "Bayesian model averaging (bcg, normand1999, eight schools)",
        "models/model-averaging/reference.json",
        "R bayesmeta 3.4: $marginal.likelihood, $bayesfactor; closed form for mu = tau = 0",
        "absolute 1e-8 on log marginal likelihoods and probabilities",
        1e-8,
        "tests/test_bma.py",
        model_averaging_rows,
    ),
    Section(
        "small-study",
        "Small-study effects: Egger-type tests, rank correlation, trim and fill",
        "models/small-study/reference.json",
        "metafor 3.8-1: regtest(), ranktest(), trimfill()",
        "relative 1e-6 (absolute 1e-10 where metafor's value is 0)",
        1e-6,
        "tests/test_bias.py",
        small_study_rows,
        "bcg log risk ratios and normand1999 mean differences under every base fit (EE, DL, "
        "REML; z and Knapp-Hartung): `regtest` with each model and predictor, `ranktest` "
        "exact and normal, `trimfill` with each estimator and side. One row per base fit and "
        "function; the largest difference over all its calls.",
    ),
    Section(
        "influence",
        "Leave-one-out and cumulative meta-analysis",
        "models/influence/reference.json",
        "metafor 3.8-1: leave1out(), cumul()",
        "relative 1e-6 (absolute 1e-10 where metafor's value is 0)",
        1e-6,
        "tests/test_influence.py::test_matches_metafor",
        influence_rows,
        "Every study left out, and cumulative fits in several orders, for bcg and normand1999 "
        "under EE, DL and REML with z and Knapp-Hartung tests.",
    ),
)


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if math.isinf(x):
        return "**mismatch**"
    return f"{x:.1e}"


def _code(s: str) -> str:
    return "<code>" + html.escape(s).replace("|", "&#124;") + "</code>"


def compute() -> list[tuple[Section, list[Row]]]:
    """Recompute every case of every section."""
    return [(s, list(s.rows())) for s in SECTIONS]


def render(results: list[tuple[Section, list[Row]]]) -> str:
    """The Markdown page."""
    out = [
        "# Agreement with metafor and R bayesmeta",
        "",
        "<!-- Generated by docs/gen_validation.py from the reference files. Do not edit. -->",
        "",
        "This page is generated at every documentation build by `docs/gen_validation.py`: it "
        "reads the reference files the tests read (`models/*/reference.json`, pinned from R "
        "by the scripts beside them), recomputes every case with this version of bayesmeta and "
        "reports the largest difference per case. Nothing here is typed by hand.",
        "",
        "**Difference** is `|ours - reference| / |reference|`, or the absolute difference where "
        "the reference is 0 (|reference| < 1e-8), and where noted. NA must be NA in both. "
        "jsonlite writes 15 significant digits, so differences near 1e-15 are the storage "
        "precision of the reference, not disagreement.",
        "",
        "| reference | cases | largest difference | tolerance in the tests |",
        "|---|---|---|---|",
    ]
    for sec, rows in results:
        worst = max((r.worst for r in rows), default=0.0)
        anchor = sec.anchor
        out.append(f"| [{sec.title}](#{anchor}) | {len(rows)} | {_fmt(worst)} | {sec.tolerance} |")
    for sec, rows in results:
        anchor = sec.anchor
        out += [
            "",
            f"## {sec.title} {{#{anchor}}}",
            "",
            f"Reference: `{sec.source}` ({sec.software}). Test: `{sec.test}`. "
            f"Tolerance: {sec.tolerance}.",
            "",
        ]
        if sec.text:
            out += [sec.text, ""]
        out += ["| case | compared | largest difference | at | R call |", "|---|---|---|---|---|"]
        for r in rows:
            note = f"<br><small>{html.escape(r.note)}</small>" if r.note else ""
            out.append(
                f"| `{r.case}` | {r.n} | {_fmt(r.worst)} | `{r.where}` | {_code(r.call)}{note} |"
            )
    return "\n".join(out) + "\n"


def write(path: Path = OUT) -> bool:
    """Regenerate the page; rewrite the file only when its content changed. True if written."""
    text = render(compute())
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def on_pre_build(config: Any, **kwargs: Any) -> None:
    """MkDocs hook: regenerate the page before the files are collected."""
    write()


if __name__ == "__main__":
    print(f"{'wrote' if write() else 'unchanged'}: {OUT.relative_to(ROOT)}")
