# Reference values for the bcg example review (examples/bcg_review/), pinned to metafor.
#
# Run from the repository root:
#     Rscript examples/bcg_review/make_reference.R
# writes examples/bcg_review/reference.json, read by tests/test_plan.py.
#
# overall  : rma(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg,
#                method = "DL")
# subgroups: the same call with subset = alloc == <level>, one fit per level (RevMan: tau2 not
#            pooled across subgroups); between: rma(est, sei = se, method = "EE") on the subgroup
#            estimates -> QE (df = J - 1), QEp (RevMan's test for subgroup differences)

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out_path <- file.path("examples", "bcg_review", "reference.json")
if (!dir.exists(dirname(out_path))) {
  stop("Run from the repository root: Rscript examples/bcg_review/make_reference.R")
}
dat <- dat.bcg
fit_of <- function(f) list(k = f$k, estimate = c(f$beta), se = f$se, ci_lb = f$ci.lb,
                           ci_ub = f$ci.ub, tau2 = f$tau2, I2 = f$I2, QE = f$QE, QEp = f$QEp)
overall <- rma(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat,
               method = "DL")
levels_g <- c("random", "alternate", "systematic")
fits <- lapply(levels_g, function(g) rma(measure = "RR", ai = tpos, bi = tneg, ci = cpos,
                                         di = cneg, data = dat, subset = alloc == g,
                                         method = "DL"))
names(fits) <- levels_g
est <- sapply(fits, function(f) c(f$beta))
se <- sapply(fits, function(f) f$se)
btw <- rma(est, sei = se, method = "EE")
out <- list(
  provenance = list(
    script = "examples/bcg_review/make_reference.R",
    R = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    metadat = as.character(packageVersion("metadat")),
    generated = as.character(Sys.Date()),
    overall_call = paste0("rma(measure = \"RR\", ai = tpos, bi = tneg, ci = cpos, di = cneg, ",
                          "data = dat.bcg, method = \"DL\")"),
    subgroup_call = "the same with subset = alloc == <level>; between: rma(est, sei = se, method = \"EE\")"
  ),
  overall = fit_of(overall),
  subgroups = lapply(fits, fit_of),
  between = list(Q = btw$QE, df = length(levels_g) - 1, pval = btw$QEp)
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_path)
