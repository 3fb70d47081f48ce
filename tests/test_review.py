"""The review's analysis plan and its report (bayesmeta.review, bayesmeta.report, the CLI).

One small end-to-end run (few draws) is shared by the tests; it runs every stage, so the numbers
are not converged: the tests check structure, provenance and the frequentist columns, which do
not depend on the draws.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from bayesmeta import datasets, rma
from bayesmeta.cli import EXIT_BAD_INPUT, EXIT_FIT_FAILED, EXIT_OK, main
from bayesmeta.plan import load_plan
from bayesmeta.report import side_by_side, write_report
from bayesmeta.review import analyse_review, published_table, read_review

#: Few draws: these tests check the pipeline, not posterior accuracy (tests/test_models.py does).
DRAWS, TUNE = 100, 150


@pytest.fixture(scope="module")
def analysis():
    plan = load_plan("peer_support")
    table, label, simulated = read_review(plan)
    return analyse_review(
        table,
        plan=plan,
        data_label=label,
        simulated=simulated,
        published=published_table(plan),
        draws=DRAWS,
        tune=TUNE,
    )


#: The meta-regressions of the bundled review, per outcome, as the review's plan fitted them
#: before it became a data file (the level where both occur from 3 trials; the three indicators
#: from 6 trials where each varies).
BUNDLED_REGRESSIONS = {
    "quality_of_life": [
        ["org_support_higher"],
        ["org_support_1", "org_support_2", "org_support_3"],
    ],
    "social_network_support": [["org_support_higher"]],
    "empowerment": [["org_support_higher"]],
    "recovery": [["org_support_higher"]],
    "general_psychiatric_symptoms": [
        ["org_support_higher"],
        ["org_support_1", "org_support_2", "org_support_3"],
    ],
    "depression_anxiety": [["org_support_higher"]],
    "days_in_hospital": [["org_support_higher"]],
    "hospitalised": [["org_support_higher"]],
}


def test_bundled_plan_reads_the_bundled_review_as_before():
    plan = load_plan("peer_support")
    table, label, simulated = read_review(plan)
    assert simulated and "SIMULATED" in label
    assert table.k == 46 and len(table.outcomes) == 11
    d = table.data
    met = d[["org_support_1", "org_support_2", "org_support_3"]].sum(axis=1)
    assert ((met >= 2) == (d["org_support_higher"] == 1)).all()  # at least 2 of the 3
    assert ((d["org_support_level"] == "higher") == (d["org_support_higher"] == 1)).all()
    assert ((d["peer_role"] == "add-on") == (d["peer_add_on"] == 1)).all()
    from bayesmeta.review import _regression_sets

    sets = {o: _regression_sets(sub, plan.regressions) for o, sub in table.by_outcome()}
    assert {o: s for o, s in sets.items() if s} == BUNDLED_REGRESSIONS


@pytest.mark.slow
def test_every_outcome_has_frequentist_bayesian_and_published_columns(analysis):
    comp = analysis.comparison
    assert list(comp["outcome"]) == analysis.table.outcomes
    assert len(comp) == 11
    sns = comp.set_index("outcome").loc["social_network_support"]
    assert sns["published_estimate"] == pytest.approx(0.09)  # White et al. (2020), abstract
    sub = analysis.table.for_outcome("social_network_support")
    dl = rma(sub, method="DL")
    assert sns["dl_estimate"] == pytest.approx(float(dl.beta[0]), rel=1e-12)
    assert np.isfinite(comp[["mu_median", "tau_median", "pi_lb", "pi_ub"]].to_numpy()).all()
    assert ((comp["p_benefit"] >= 0) & (comp["p_benefit"] <= 1)).all()


@pytest.mark.slow
def test_subgroups_sit_beside_the_published_subgroup_estimates(analysis):
    sg = analysis.subgroups.set_index(["outcome", "subgroup"])
    # White et al. (2020): social network support, lower support 0.50 (0.14 to 0.87), higher
    # -0.04 (-0.37 to 0.28) (shared/white2020/README.md; datasets.white2020_published)
    assert sg.loc[("social_network_support", "lower"), "published_estimate"] == pytest.approx(0.50)
    assert sg.loc[("social_network_support", "higher"), "published_ci_ub"] == pytest.approx(0.28)
    assert sg.loc[("social_network_support", "lower"), "k"] == 1
    assert math.isnan(sg.loc[("recovery", "lower"), "published_estimate"])


@pytest.mark.slow
def test_regressions_only_where_both_levels_occur(analysis):
    for fit in analysis.regressions:
        sub = analysis.table.for_outcome(fit.outcome)
        assert sub.data[fit.moderators[0]].nunique() == 2
        assert sub.k >= 3
    reg = analysis.regression_table()
    assert set(reg["coefficient"]) >= {"intercept (mu)", "org_support_higher"}


@pytest.mark.slow
def test_ppc_verdicts_in_words(analysis):
    v = analysis.ppc_verdicts
    assert len(v) == 11
    assert v["text"].str.contains("predictive interval").all()
    assert analysis.ppc["p_value"].between(0, 1).all()


@pytest.mark.slow
def test_side_by_side_ratio_scale(analysis):
    t = side_by_side(analysis).set_index("Outcome")
    assert t.loc["Hospitalised", "Measure"] == "OR"
    est = float(t.loc["Hospitalised", "DL (data)"].split()[0])
    comp = analysis.comparison.set_index("outcome").loc["hospitalised"]
    assert est == pytest.approx(math.exp(comp["dl_estimate"]), abs=0.006)


@pytest.mark.slow
def test_report_is_complete_and_says_simulated(analysis, tmp_path):
    out = write_report(analysis, tmp_path / "report")
    html = (out / "index.html").read_text(encoding="utf-8")
    md = (out / "report.md").read_text(encoding="utf-8")
    for text in (html, md):
        assert "SIMULATED" in text
    assert "data:image/png;base64," in html and "<img" in html and 'src="figures' not in html
    for outcome in analysis.table.outcomes:
        assert (out / "figures" / f"forest_{outcome}.png").stat().st_size > 10_000
        assert not (out / "figures" / f"forest_{outcome}.svg").exists()  # one format: PNG
        assert (out / "figures" / f"ppc_{outcome}.png").exists()
    assert (out / "figures" / "tau_densities.png").exists()
    # RevMan's subgroup figure where both support levels occur, leave-one-out from 3 trials
    for outcome, sub in analysis.table.by_outcome():
        both = sub.data[analysis.plan.subgroup.column].nunique() == 2
        assert (out / "figures" / f"subgroups_{outcome}.png").exists() == both
        assert (out / "figures" / f"leave1out_{outcome}.png").exists() == (sub.k >= 3)
    assert "Is there an effect at all?" in md and "evidence of no effect" in md
    for name in ("model_averaging", "bf_sensitivity"):
        assert len(pd.read_csv(out / "tables" / f"{name}.csv")) >= len(analysis.table.outcomes)
    for name in ("side_by_side", "comparison", "frequentist", "subgroups", "meta_regression"):
        assert not pd.read_csv(out / "tables" / f"{name}.csv").empty
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["simulated"] is True and prov["settings"]["seed"] == 20201103
    # the engine used, and only the settings and checks that apply to it
    assert prov["settings"]["engine"] == analysis.result.engine == "exact"
    assert "target_accept" not in prov["settings"] and "sampler" not in prov["settings"]
    diag = pd.read_csv(out / "tables" / "diagnostics.csv")
    assert set(diag["engine"]) == {"exact"} and (diag["verdict"] == "ok").all()
    assert {"quadrature", "converged", "max_change", "max_nodes"} <= set(diag.columns)
    assert diag["converged"].all()
    assert not {"max_rhat", "divergences", "min_ess_bulk"} & set(diag.columns)
    assert "R-hat" not in md.split("## Diagnostics")[1].split("##")[0]
    from bayesmeta.results import Result

    back = Result.load(out / "posteriors" / "random_effects.nc")
    assert back.outcomes == analysis.result.outcomes


@pytest.mark.slow
def test_failed_write_keeps_previous_report(analysis, tmp_path, monkeypatch):
    from bayesmeta._output import output_folder

    target = tmp_path / "report"
    with output_folder(target) as tmp:  # a previous (tiny) bayesmeta report
        (tmp / "index.html").write_text("previous")
    import bayesmeta.report as rep

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(rep, "_tau_figure", boom)
    with pytest.raises(KeyboardInterrupt):
        write_report(analysis, target)
    assert (target / "index.html").read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["report"]  # no half-written folder left


@pytest.mark.slow
def test_cli_reproduce_json(tmp_path, capsys):
    code = main(
        ["reproduce", "--json", "--draws", "60", "--tune", "100", "--out", str(tmp_path / "r")]
    )
    assert code in (EXIT_OK, EXIT_FIT_FAILED)  # few draws may not converge; that is reported
    doc = json.loads(capsys.readouterr().out)
    assert doc["simulated"] is True and len(doc["outcomes"]) == 11
    assert (tmp_path / "r" / "index.html").exists()


def test_cli_bad_sheet_exits_2(tmp_path, capsys):
    bad = tmp_path / "sheet.csv"
    frame = datasets.load_peer_support_simulated()
    frame.loc[2, "sd1i"] = -1.0
    frame.to_csv(bad, index=False)
    assert main(["reproduce", "--data", str(bad), "--out", str(tmp_path / "r")]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "line 4" in err and "sd1i" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_cli_fit_bcg_reproduces_metafor_reml(tmp_path, capsys):
    bcg = datasets.load_bcg()
    path = tmp_path / "bcg.csv"
    bcg.to_csv(path, index=False)
    code = main(
        [
            "fit", str(path), "--measure", "RR", "--direction", "lower", "--json",
            "--columns", "study=trial,ai=tpos,bi=tneg,ci=cpos,di=cneg",
            "--draws", "500", "--tune", "500", "--out", str(tmp_path / "fit"),
        ]
    )  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    reml = next(r for r in doc["frequentist"] if r["method"] == "REML")
    # metafor: rma(yi, vi, data = escalc("RR", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg))
    # (models/rma/reference.json, case bcg_logRR_REML_z)
    assert reml["estimate"] == pytest.approx(-0.71453234215814, rel=1e-6)
    assert reml["tau2"] == pytest.approx(0.313243258136486, rel=1e-6)
    assert doc["bayesian"][0]["mu_median"] == pytest.approx(-0.71, abs=0.15)
    assert code in (EXIT_OK, EXIT_FIT_FAILED)
    assert (tmp_path / "fit" / "posterior.nc").exists()
    assert main(["compare", str(tmp_path / "fit" / "posterior.nc"), "--published",
                 str(_published_csv(tmp_path))]) == EXIT_OK  # fmt: skip


def _published_csv(tmp_path):
    p = tmp_path / "pub.csv"
    p.write_text("outcome,estimate,ci_lb,ci_ub\noverall,-0.71,-1.07,-0.36\n", encoding="utf-8")
    return p


def test_derived_values_belong_to_their_analysis(analysis):
    """The report's shared inputs are kept on the analysis, never shared between analyses."""
    import dataclasses

    first = analysis.derived("test-key", lambda: "first")
    assert analysis.derived("test-key", lambda: "second") == first == "first"
    other = dataclasses.replace(analysis, data_label="another")
    assert other.derived("test-key", lambda: "other") == "other"
    assert "test-key" not in repr(analysis)
