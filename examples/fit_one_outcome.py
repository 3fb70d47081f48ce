"""One outcome of the SIMULATED peer-support review, four ways side by side.

DerSimonian-Laird (the review's method, as in RevMan 5), REML with Knapp-Hartung, the exact
(no-MCMC) normal-normal posterior and the same model sampled with NUTS, all on one EffectTable.
The trials are simulated from White et al.'s (2020) published summaries; they are not the
trials' results.

Run: python examples/fit_one_outcome.py   (BAYESMETA_EXAMPLE_DRAWS sets the MCMC draws)
"""

from __future__ import annotations

import os

import pandas as pd

from bayesmeta import RandomEffects, datasets, exact_posterior, rma
from bayesmeta.sheet import read_sheet

DRAWS = int(os.environ.get("BAYESMETA_EXAMPLE_DRAWS", "1000"))
OUTCOME = "recovery"

review = read_sheet(datasets.load_peer_support_simulated())
table = review.for_outcome(OUTCOME)
print(f"{OUTCOME}: k = {table.k} simulated trials, measure {table.data['measure'].iloc[0]}, "
      f"higher values favour peer support: {table.direction() == 'higher'}")  # fmt: skip
print(table.data[["study", "yi", "sei"]].round(3).to_string(index=False))

rows = []
for method, test in (("DL", "z"), ("REML", "knha")):
    f = rma(table, method=method, test=test)
    rows.append((f"{method}, {test}", f.beta[0], f.ci_lb[0], f.ci_ub[0], f.tau, f.pi_lb, f.pi_ub))

# the Bayesian model: the package's default priors for an SMD, mu ~ N(0, 1), tau ~ HN(0.5)
model = RandomEffects(table)
print("\npriors:", model.priors)

# exact posterior: quadrature over tau, no sampling
post = exact_posterior(
    table.yi,
    table.sei,
    tau_prior=model.priors["tau"],
    mu_prior=model.priors["mu"],
    labels=table.studies,
)
s = post.summary(ci_prob=0.95, ci_kind="eti")
rows.append(
    ("Bayes, exact", *s.loc["mu", ["median", "ci_lb", "ci_ub"]], s.loc["tau", "median"],
     *s.loc["theta_new", ["ci_lb", "ci_ub"]])
)  # fmt: skip

# the same model by NUTS (fit's default engine="auto" would take exact draws for this model)
res = model.fit(DRAWS, engine="nuts", tune=DRAWS, chains=4, target_accept=0.99, random_seed=2020)
b = res.summary(ci_prob=0.95)
rows.append(
    ("Bayes, NUTS", *b.loc["mu", ["median", "ci_lb", "ci_ub"]], b.loc["tau", "median"],
     *b.loc["theta_new", ["ci_lb", "ci_ub"]])
)  # fmt: skip

cols = ["method", "estimate", "ci_lb", "ci_ub", "tau", "pi_lb", "pi_ub"]
print("\nSMD (frequentist: estimate and 95% CI; Bayesian: posterior median and 95% CrI)")
print(pd.DataFrame(rows, columns=cols).round(3).to_string(index=False))
print(f"\nP(mu > 0) = {post.prob('mu', 0.0):.3f} (exact), {res.prob_benefit():.3f} (NUTS)")
print(f"engine: {res.engine} ({res.sampler}), {DRAWS} draws x 4 chains, "
      f"diagnostics ok: {res.diagnostics().ok}")  # fmt: skip
