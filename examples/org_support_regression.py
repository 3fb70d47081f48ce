"""Does organisational support for peer workers modify the effect? A Bayesian meta-regression.

White et al. (2020) rated each trial on three indicators of organisational support for the
peer-support role; a trial meeting at least two has a *higher* level (``org_support_higher = 1``).
For social network support they reported a larger effect with lower support (one trial) than
with higher support (three trials). Here the same question is asked of the SIMULATED review
bundled with the package (simulated from the published summaries, not the trials' results):
the REML meta-regression and RevMan's subgroup test beside the Bayesian meta-regression.

Run: python examples/org_support_regression.py   (BAYESMETA_EXAMPLE_DRAWS sets the MCMC draws)
"""

from __future__ import annotations

import os

import numpy as np

from bayesmeta import MetaRegression, datasets, rma, subgroup_analysis
from bayesmeta.plan import load_plan
from bayesmeta.sheet import read_sheet

DRAWS = int(os.environ.get("BAYESMETA_EXAMPLE_DRAWS", "1000"))
OUTCOME = "social_network_support"
MOD = "org_support_higher"

# the bundled plan declares the moderators (org_support_higher: at least 2 of the 3 indicators)
review = read_sheet(datasets.load_peer_support_simulated(), plan=load_plan("peer_support"))
table = review.for_outcome(OUTCOME)
print(f"{OUTCOME} (simulated trials):")
print(table.data[["study", "yi", "sei", MOD]].round(3).to_string(index=False))

# frequentist: RevMan's test for subgroup differences (DL within levels) and a REML regression
level = np.where(table.data[MOD] == 1, "higher", "lower")
sg = subgroup_analysis(table.yi, table.vi, level, method="DL")
print("\nSubgroups (DL within each level):")
print(sg.to_frame().round(3).to_string())
print(f"Test for subgroup differences: Chi2 = {sg.Q_between:.2f}, df = {sg.df}, p = {sg.pval:.3f}")
reml = rma(table, mods=[MOD], method="REML", test="knha")
print("\nREML + Knapp-Hartung meta-regression:")
print(reml.coef_table().round(3).to_string())

# Bayesian: theta_i = mu + beta * org_support_higher_i + tau * z_i; mu is the effect at the
# lower level, beta the difference higher - lower. Default priors: mu ~ N(0, 1), tau ~ HN(0.5),
# beta ~ N(0, 1 / sd(x)).
model = MetaRegression(table, mods=[MOD])
print("\npriors:", model.priors)
res = model.fit(DRAWS, random_seed=534)  # engine="auto": exact draws for this model
print(f"engine: {res.engine} ({res.sampling['engine_reason']})")
print("\nBayesian meta-regression (posterior median, 95% equal-tailed CrI):")
print(res.summary(ci_prob=0.95, var_names=["mu", "beta", "tau"]).round(3).to_string())

beta = res.posterior["beta"].sel(moderator=MOD).values.ravel()  # chains x draws, flattened
mu = res.draws("mu")
higher = mu + beta  # the effect at the higher level
print(f"\nP(beta < 0) = {np.mean(beta < 0):.3f}  (higher support, smaller effect)")
lo, hi = np.quantile(higher, [0.025, 0.975])
print(
    f"effect at the higher level, mu + beta: median {np.median(higher):.3f}, "
    f"95% CrI {lo:.3f} to {hi:.3f}"
)
print("With one trial at the lower level the data say little about beta; the prior matters.")
