"""Rare events with zero cells: the exact binomial likelihood beside Mantel-Haenszel and DL.

Anti-infective-treated central venous catheters and catheter-related bloodstream infection
(Niel-Weise et al. 2007; R metadat's ``dat.nielweise2007``): 18 trials, events in 0-6% of
patients, five trials with a zero arm and one (Yucel 2004) with no events at all.

- RevMan 5 ("M-H, Random"): Mantel-Haenszel OR, with 1/2 added to every cell of a table with a
  zero cell, the double-zero trial left out, and DerSimonian-Laird tau2 from the MH Q.
- Inverse-variance DL on the 1/2-corrected log ORs (metafor's escalc defaults).
- Bayesian binomial-normal model: a_i ~ Bin(n1_i, p1_i), c_i ~ Bin(n2_i, p2_i),
  logit p1_i = alpha_i + theta_i, logit p2_i = alpha_i, theta_i ~ N(mu, tau^2). The counts enter
  as they are: no continuity correction, and the double-zero trial is kept (it informs alpha,
  hardly theta).

Run: python examples/binomial_rare_events.py   (BAYESMETA_EXAMPLE_DRAWS sets the MCMC draws)
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from bayesmeta import Binomial, EffectTable, rma, rma_mh

DRAWS = int(os.environ.get("BAYESMETA_EXAMPLE_DRAWS", "1000"))

# dat.nielweise2007 (metadat 1.2-0): ai/n1i treated catheters, ci/n2i standard catheters
trials = pd.DataFrame(
    {
        "study": ["Bach 1996", "George 1997", "Maki 1997", "Raad 1997", "Heard 1998",
                  "Collin 1999", "Hannan 1999", "Marik 1999", "Pierce 2000", "Sheng 2000",
                  "Chatzinikolaou 2003", "Corral 2003", "Brun-Buisson 2004", "Leon 2004",
                  "Yucel 2004", "Moretti 2005", "Rupp 2005", "Osma 2006"],
        "ai": [0, 1, 2, 0, 5, 1, 1, 1, 1, 1, 0, 0, 3, 6, 0, 0, 1, 4],
        "n1i": [116, 44, 208, 130, 151, 98, 174, 74, 97, 113, 66, 70, 188, 187, 118, 252, 345,
                64],
        "ci": [3, 3, 9, 7, 6, 4, 3, 2, 19, 2, 7, 1, 5, 11, 0, 1, 3, 1],
        "n2i": [117, 35, 195, 136, 157, 139, 177, 39, 103, 122, 64, 58, 175, 180, 105, 262, 362,
                69],
    }
)  # fmt: skip
print(f"{len(trials)} trials; events: {trials.ai.sum()}/{trials.n1i.sum()} treated, "
      f"{trials.ci.sum()}/{trials.n2i.sum()} control; "
      f"zero cells in {int(((trials.ai == 0) | (trials.ci == 0)).sum())} trials, "
      f"double zero in {int(((trials.ai == 0) & (trials.ci == 0)).sum())}")  # fmt: skip

rows = []
mh = rma_mh(trials.ai, ci=trials.ci, n1i=trials.n1i, n2i=trials.n2i, measure="OR",
            convention="revman")  # fmt: skip
rows.append(("M-H, Fixed (RevMan)", mh.beta, mh.ci_lb, mh.ci_ub, np.nan))
r = mh.random
rows.append(("M-H, Random (RevMan)", r.beta[0], r.ci_lb[0], r.ci_ub[0], r.tau))

table = EffectTable.from_arms(trials, "OR", direction="lower")  # 1/2 added to zero-cell tables
dl = rma(table, method="DL")
rows.append(("IV, DL (metafor escalc)", dl.beta[0], dl.ci_lb[0], dl.ci_ub[0], dl.tau))

model = Binomial(table)
print("priors:", model.priors)
res = model.fit(DRAWS, tune=DRAWS, chains=4, target_accept=0.95, random_seed=2007)
s = res.summary(ci_prob=0.95, var_names=["mu", "tau", "theta_new"])
rows.append(("Bayes, binomial", *s.loc["mu", ["median", "ci_lb", "ci_ub"]], s.loc["tau", "median"]))

out = pd.DataFrame(rows, columns=["method", "log_or", "ci_lb", "ci_ub", "tau"])
out[["or", "or_lb", "or_ub"]] = np.exp(out[["log_or", "ci_lb", "ci_ub"]].to_numpy())
print("\nOdds ratio of infection, treated vs standard catheters (Bayes: median, 95% CrI):")
print(out.round(3).to_string(index=False))
print(f"\nP(OR < 1) = {res.prob_benefit():.3f} (direction 'lower': fewer infections favour it)")
tn = s.loc["theta_new"]
print(f"OR in a new trial (95% prediction): {np.exp(tn.ci_lb):.2f} to {np.exp(tn.ci_ub):.2f}")
