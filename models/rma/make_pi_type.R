# Reference values for rma(..., pi_type = "z" | "t") (bayesmeta/frequentist.py), pinned to metafor.
#
# Run from the repository root:
#     Rscript models/rma/make_pi_type.R
# writes models/rma/pi_type.json.
#
# metafor 3.8-1's predict.rma() already takes a hidden `pi.type` argument (through `...`):
#   "default"  metafor 3.8's interval: the critical value of the CI (qnorm, or qt(k - p) under knha)
#              -> bayesmeta pi_type = "z"
#   "riley"    qt(1 - alpha/2, df = k - p - 1) (k - 2 without moderators; Higgins, Thompson &
#              Spiegelhalter 2009; Riley et al. 2011) -> bayesmeta pi_type = "t"
#   "t"        qt(k - p): metafor's own "t" (not offered by bayesmeta; its "t" is Higgins' k - 2)
# metafor clamps the df at 1 where bayesmeta returns NaN (k < p + 2), so only k >= 3 is pinned.
# The "riley" df are k - p - 1 under both test = "z" and test = "knha" (pi.ddf = ddf - parms + p,
# with ddf = k - p in both cases for rma.uni).

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out_path <- file.path("models", "rma", "pi_type.json")
if (!dir.exists(dirname(out_path))) stop("Run from the repository root")

CTRL <- "list(threshold = 1e-12, maxiter = 1000)"
datasets <- list(
  bcg = 'dat <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)',
  normand1999 = paste0('dat <- escalc("SMD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, ',
                       'sd2i = sd2i, n2i = n2i, data = dat.normand1999)'),
  bcg_k3 = paste0('dat <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, ',
                  'data = dat.bcg); dat <- dat[1:3, ]')
)
cases <- list()
for (dname in names(datasets)) {
  eval(parse(text = datasets[[dname]]))
  for (method in c("DL", "REML")) for (test in c("z", "knha")) {
    ctrl <- if (method == "REML") paste0(", control = ", CTRL) else ""
    call <- sprintf('rma(yi, vi, data = dat, method = "%s", test = "%s"%s)', method, test, ctrl)
    res <- eval(parse(text = call))
    for (pt in c("default", "riley")) {
      pcall <- sprintf('predict(res, pi.type = "%s")', pt)
      pr <- eval(parse(text = pcall))
      cases[[length(cases) + 1]] <- list(
        id = sprintf("%s_%s_%s_%s", dname, method, test, if (pt == "riley") "t" else "z"),
        data_call = datasets[[dname]], call = call, predict_call = pcall,
        args = list(method = method, test = test, pi_type = if (pt == "riley") "t" else "z"),
        data = list(yi = as.numeric(dat$yi), vi = as.numeric(dat$vi)),
        expected = list(k = res$k, pred = as.numeric(pr$pred), se = as.numeric(pr$se),
                        tau2 = res$tau2, pi_lb = as.numeric(pr$pi.lb),
                        pi_ub = as.numeric(pr$pi.ub))
      )
    }
  }
}
out <- list(
  provenance = list(script = "models/rma/make_pi_type.R", R = R.version.string,
                    metafor = as.character(packageVersion("metafor")),
                    generated = as.character(Sys.Date())),
  cases = cases
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), out_path)
