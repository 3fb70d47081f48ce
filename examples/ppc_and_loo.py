"""Model checks for the BCG vaccine trials: prior predictive, posterior predictive, LOO.

Is a common effect enough, or do the 13 trials need a random-effects model? Fit both to the
log risk ratios, check each against its own data, and compare their leave-one-trial-out
predictions.

Run: python examples/ppc_and_loo.py   (BAYESMETA_EXAMPLE_DRAWS sets the draws, default 1000)
"""

from __future__ import annotations

import os
import warnings

import pandas as pd

from bayesmeta import EffectTable, checks, datasets
from bayesmeta.errors import ConvergenceWarning
from bayesmeta.models import CommonEffect, RandomEffects

DRAWS = int(os.environ.get("BAYESMETA_EXAMPLE_DRAWS", "1000"))
if DRAWS < 500:  # a smoke run (the tests use 50 draws): sampler warnings are expected
    warnings.simplefilter("ignore", ConvergenceWarning)
pd.set_option("display.width", 120)

columns = {"study": "trial", "ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}
table = EffectTable.from_arms(datasets.load_bcg(), "RR", columns=columns, direction="lower")

# 1. What do the default priors say before the data? (log risk ratio scale)
model = RandomEffects(table)
print("Priors:", model.priors)
prior = checks.prior_predictive_summary(model, draws=500, random_seed=1)
print(prior.drop(columns="description").round(2))

# 2. Fit both models
fits = {
    "random effects": model.fit(DRAWS, random_seed=2024),  # exact draws (engine="auto")
    "common effect": CommonEffect(table).fit(DRAWS, tune=DRAWS, random_seed=2024),  # NUTS
}

# 3. Posterior predictive checks: does each model reproduce its data?
for name, result in fits.items():
    print(f"\n== {name}")
    for text in checks.ppc_summary(result, random_seed=1)["text"]:
        print(text)
pvals = checks.posterior_predictive_pvalues(fits["random effects"], random_seed=1)
print(pvals[["study", "y_obs", "pred_lb", "pred_ub", "p_value", "outside_95"]].round(3))

# 4. Leave-one-trial-out predictive accuracy (PSIS-LOO) and the comparison
for name, result in fits.items():
    print(f"\n{name} ({result.engine}): {checks.loo(result)}")
comparison = checks.compare_models(fits)
print()
print(comparison.drop(columns="warning").round(2))
