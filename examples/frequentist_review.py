"""Frequentist meta-analysis of the BCG vaccine trials, as a RevMan user and a metafor user would.

Run: python examples/frequentist_review.py
"""

from __future__ import annotations

from bayesmeta import EffectTable, datasets, rma, rma_mh, subgroup_analysis

bcg = datasets.load_bcg()
columns = {"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}
table = EffectTable.from_arms(bcg, "RR", columns=columns, direction="lower", moderators=["ablat"])

# RevMan 5: Mantel-Haenszel risk ratio with DerSimonian-Laird random effects
mh = rma_mh(bcg.tpos, bcg.tneg, bcg.cpos, bcg.cneg, measure="RR")
print(f"M-H, Random: log RR {mh.random.beta[0]:.4f}, tau2 {mh.random.tau2:.4f}, I2 {mh.I2:.1f}%")

# metafor: REML with Knapp-Hartung, then meta-regression on absolute latitude
print(rma(table, method="REML", test="knha"))
print(rma(table, mods=["ablat"], method="REML"))

# RevMan's test for subgroup differences: allocation method
sg = subgroup_analysis(table.yi, table.vi, bcg.alloc, method="DL")
print(sg.to_frame().round(3))
print(f"Test for subgroup differences: Chi2 = {sg.Q_between:.2f}, df = {sg.df}, p = {sg.pval:.3f}")
