# Reference values for bayesmeta.bias (regtest, ranktest, trimfill), pinned to metafor.
#
# Run from the repository root:
#     Rscript models/small-study/make_reference.R
# writes models/small-study/reference.json (schema and maths: models/small-study/README.md).
#
# Data: dat.bcg (log risk ratio) and dat.normand1999 (raw mean difference), built by the escalc()
# call stored in `datasets[[name]]$data_call`; base fits EE, DL and REML, each with test "z" and
# "knha". Every case stores the R calls that produced it: `fit_call` (the base fit `res`) and `call`
# (evaluated verbatim from that string). REML uses control = list(threshold = 1e-12, maxiter = 1000)
# (metafor's default stopping rule, |change in tau2| < 1e-5, is too loose for a 1e-6 relative test);
# regtest() inherits the base fit's control; trimfill() is given the same control through its `...`
# (it does not inherit it), so that every internal re-fit is converged too.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out_path <- file.path("models", "small-study", "reference.json")
if (!dir.exists(dirname(out_path))) {
  stop("Run from the repository root: Rscript models/small-study/make_reference.R")
}

CTRL <- "list(threshold = 1e-12, maxiter = 1000)"
methods <- c("EE", "DL", "REML")
tests <- c("z", "knha")

num <- function(x) {
  if (is.null(x) || length(x) == 0) return(NA)
  x <- as.numeric(unname(c(x)))
  if (length(x) == 1 && is.na(x)) return(NA)
  x
}
arr <- function(x) I(as.numeric(unname(c(x))))

capture <- function(expr_text, env) {
  warns <- character(0)
  val <- withCallingHandlers(eval(parse(text = expr_text), envir = env),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  list(value = val, warnings = unique(warns))
}

datasets <- list(
  bcg_logRR = list(
    description = "dat.bcg, log risk ratio",
    data_call = "dat <- escalc(\"RR\", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)",
    labels = "paste(dat$author, dat$year)"),
  normand_MD = list(
    description = "dat.normand1999, raw mean difference (days)",
    data_call = paste0("dat <- escalc(\"MD\", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, ",
                       "sd2i = sd2i, n2i = n2i, data = dat.normand1999)"),
    labels = "as.character(dat$source)")
)

fit_call_for <- function(method, test) {
  s <- paste0("res <- rma(yi, vi, data = dat, method = \"", method, "\", test = \"", test, "\"")
  if (method == "REML") s <- paste0(s, ", control = ", CTRL)
  paste0(s, ")")
}

rma_fields <- function(f) {
  list(k = f$k, p = f$p, beta = arr(f$beta), se = arr(f$se), zval = arr(f$zval),
       pval = arr(f$pval), ci_lb = arr(f$ci.lb), ci_ub = arr(f$ci.ub),
       tau2 = num(f$tau2), se_tau2 = num(f$se.tau2), I2 = num(f$I2), H2 = num(f$H2),
       QE = num(f$QE), QEp = num(f$QEp), test = f$test, method = f$method,
       dfs = if (f$test == "knha") num(f$ddf) else NA)
}

cases <- list()
data_out <- list()
add <- function(case) cases[[length(cases) + 1]] <<- case

for (dname in names(datasets)) {
  d <- datasets[[dname]]
  env0 <- new.env()
  eval(parse(text = d$data_call), envir = env0)
  dat <- env0$dat
  data_out[[dname]] <- list(
    description = d$description, data_call = d$data_call,
    study = I(eval(parse(text = d$labels), envir = env0)),
    yi = arr(dat$yi), vi = arr(dat$vi), ni = arr(attr(dat$yi, "ni")))
  for (method in methods) for (test in tests) {
    env <- new.env()
    env$dat <- dat
    fit_call <- fit_call_for(method, test)
    base <- capture(fit_call, env)
    stem <- paste(dname, method, test, sep = "_")
    common <- list(dataset = dname, fit_call = fit_call,
                   base_warnings = I(base$warnings))

    # ---- regtest: both models, every predictor ------------------------------------------------
    for (model in c("rma", "lm")) for (pred in c("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")) {
      call <- paste0("regtest(res, model = \"", model, "\", predictor = \"", pred, "\")")
      r <- capture(paste0("rt <- ", call), env)
      rt <- env$rt
      if (model == "rma") {
        fit <- rma_fields(rt$fit)
      } else {
        co <- coef(summary(rt$fit))
        fit <- list(beta = arr(co[, 1]), se = arr(co[, 2]), tval = arr(co[, 3]),
                    pval = arr(co[, 4]), sigma = summary(rt$fit)$sigma,
                    df_residual = rt$fit$df.residual)
      }
      add(c(list(id = paste(stem, "regtest", model, pred, sep = "_"), `function` = "regtest",
                 call = call, args = list(method = method, test = test, model = model,
                                          predictor = pred)),
            common,
            list(expected = list(zval = num(rt$zval), pval = num(rt$pval), dfs = num(rt$dfs),
                                 est = num(rt$est), ci_lb = num(rt$ci.lb), ci_ub = num(rt$ci.ub),
                                 fit = fit),
                 warnings = I(r$warnings))))
    }

    # ---- ranktest (uses only yi, vi: same for every base fit) ----------------------------------
    for (exact in c("default", "FALSE")) {
      call <- if (exact == "default") "ranktest(res)" else "ranktest(res, exact = FALSE)"
      r <- capture(paste0("rk <- ", call), env)
      add(c(list(id = paste(stem, "ranktest", if (exact == "default") "exact" else "normal", sep = "_"),
                 `function` = "ranktest", call = call,
                 args = list(method = method, test = test, exact = exact == "default")),
            common,
            list(expected = list(tau = num(env$rk$tau), pval = num(env$rk$pval)),
                 warnings = I(r$warnings))))
    }

    # ---- trimfill: L0 and R0, side chosen by metafor, left and right ----------------------------
    for (est in c("L0", "R0")) for (side in c("auto", "left", "right")) {
      call <- paste0("trimfill(res, estimator = \"", est, "\"",
                     if (side != "auto") paste0(", side = \"", side, "\"") else "",
                     if (method == "REML") paste0(", control = ", CTRL) else "", ")")
      r <- capture(paste0("tf <- ", call), env)
      tf <- env$tf
      ex <- rma_fields(tf)
      ex$k0 <- tf$k0
      ex$se_k0 <- num(tf$se.k0)
      ex$side <- tf$side
      ex$p_k0 <- num(tf$p.k0)
      ex$fill <- I(as.logical(tf$fill))
      ex$yi <- arr(tf$yi)
      ex$vi <- arr(tf$vi)
      add(c(list(id = paste(stem, "trimfill", est, side, sep = "_"), `function` = "trimfill",
                 call = call, args = list(method = method, test = test, estimator = est,
                                          side = if (side == "auto") NA else side)),
            common,
            list(expected = ex, warnings = I(r$warnings))))
    }
  }
}

ids <- vapply(cases, `[[`, "", "id")
if (anyDuplicated(ids)) stop("duplicate case ids")

out <- list(
  provenance = list(
    script = "models/small-study/make_reference.R",
    R = R.version.string,
    metafor = packageDescription("metafor")$Version,
    metadat = packageDescription("metadat")$Version,
    jsonlite = packageDescription("jsonlite")$Version,
    control = CTRL,
    generated = as.character(Sys.Date())
  ),
  datasets = data_out,
  cases = cases
)
write_json(out, out_path, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null")
cat(sprintf("Wrote %d cases to %s\n", length(cases), out_path))
