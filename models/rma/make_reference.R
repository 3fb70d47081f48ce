# Reference values for bayesmeta's frequentist engine (bayesmeta/frequentist.py), pinned to metafor.
#
# Run from the repository root:
#     Rscript models/rma/make_reference.R
# writes models/rma/reference.json (see models/rma/README.md for the schema and the maths).
#
# Every case stores the exact R calls that produced it: `data_call` (how `dat` was built), `call`
# (the rma() fit, evaluated verbatim from that string), `confint_call` and `predict_call`.
#
# Tolerances: metafor's default stopping rules are loose for a 1e-6 relative test (Fisher scoring
# stops when |change in tau2| < 1e-5; uniroot() for PM and for the Q-profile CI uses
# tol = .Machine$double.eps^0.25 ~ 1.2e-4). With the defaults, tau2 for the REML/ML meta-regression
# on dat.bcg is off by ~1e-4 relative and the Q-profile bounds by up to ~5e-4 relative. So every
# iterative estimator (REML, ML: threshold; PM: tol) and every confint() is run with a tight
# control, stated in the case (`control`, and in `call` / `confint_call`). `default_control_reldiff`
# records how far metafor's default-control result is from the stored one, as a diagnostic.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out_path <- file.path("models", "rma", "reference.json")
if (!dir.exists(dirname(out_path))) {
  stop("Run from the repository root: Rscript models/rma/make_reference.R")
}

# Tight controls (see header).
CTRL_FS <- "list(threshold = 1e-12, maxiter = 1000)"  # REML, ML (Fisher scoring)
CTRL_PM <- "list(tol = 1e-14, maxiter = 1000)"        # PM (uniroot)
CONFINT_CALL <- "confint(res, control = list(tol = 1e-14))"

methods <- c("EE", "DL", "REML", "PM", "ML", "HE", "SJ")
tests <- c("z", "knha")

num_or_null <- function(x) {
  if (is.null(x) || length(x) == 0) return(NA)
  x <- unname(c(x))
  if (length(x) == 1 && is.na(x)) return(NA)
  as.numeric(x)
}
arr <- function(x) I(as.numeric(unname(c(x))))   # keep length-1 vectors as JSON arrays

reldiff <- function(a, b) {
  a <- as.numeric(a); b <- as.numeric(b)
  ok <- !(is.na(a) & is.na(b))
  a <- a[ok]; b <- b[ok]
  if (length(a) == 0) return(0)
  if (any(is.na(a) != is.na(b))) return(Inf)
  d <- abs(a - b) / pmax(abs(b), 1e-300)
  d[a == b] <- 0
  max(d)
}

# Evaluate code, collecting warnings (muffled) and errors.
capture <- function(expr_text, env) {
  warns <- character(0)
  val <- tryCatch(
    withCallingHandlers(eval(parse(text = expr_text), envir = env),
      warning = function(w) {
        warns <<- c(warns, conditionMessage(w))
        invokeRestart("muffleWarning")
      }),
    error = function(e) structure(conditionMessage(e), class = "capture_error"))
  list(value = val, warnings = warns)
}

rma_call <- function(mods, method, test, control = NULL) {
  s <- "rma(yi, vi"
  if (length(mods) > 0) s <- paste0(s, ", mods = ~ ", paste(mods, collapse = " + "))
  s <- paste0(s, ", data = dat, method = \"", method, "\", test = \"", test, "\"")
  if (!is.null(control)) s <- paste0(s, ", control = ", control)
  paste0(s, ")")
}

control_for <- function(method) {
  switch(method, REML = CTRL_FS, ML = CTRL_FS, PM = CTRL_PM, NULL)
}

cases <- list()
summary_rows <- list()

add_case <- function(id, description, data_call, dat, labels, mods, method, test) {
  env <- new.env()
  env$dat <- dat
  control <- control_for(method)
  call <- rma_call(mods, method, test, control)
  notes <- character(0)
  fit <- capture(paste0("res <- ", call), env)
  if (inherits(fit$value, "capture_error")) stop(id, ": rma() failed: ", fit$value)
  res <- env$res
  warns <- fit$warnings

  # Default-control fit, for the diagnostic only.
  env0 <- new.env(); env0$dat <- dat
  fit0 <- capture(paste0("res0 <- ", rma_call(mods, method, test, NULL)), env0)
  res0 <- env0$res0

  # Q-profile CI for tau2, I2, H2 (not for EE).
  ci <- NULL; ci0 <- NULL; confint_call <- NA; qprofile_uncapped <- NULL
  if (method != "EE") {
    confint_call <- CONFINT_CALL
    cc <- capture(paste0("ci <- ", confint_call), env)
    if (inherits(cc$value, "capture_error")) {
      notes <- c(notes, paste0("confint() error: ", cc$value))
    } else {
      ci <- env$ci$random
      if (length(cc$warnings)) warns <- c(warns, paste0("confint(): ", cc$warnings))
      # A bound reported as '>' / '<' is metafor's search limit (tau2.max, default max(100, 10 * tau2)),
      # not a root of the Q-profile equation: also store the root found with a much larger limit.
      if (identical(env$ci$ub.sign, ">") || identical(env$ci$lb.sign, ">")) {
        unc_call <- "confint(res, control = list(tol = 1e-14, tau2.max = 1e6))"
        notes <- c(notes, paste0("Q-profile bound(s) capped at metafor's search limit tau2.max = ",
                                 format(ci["tau^2", "ci.ub"], digits = 17),
                                 " (printed by metafor as '>'); the stored *_ci_* values are the capped ones, ",
                                 "qprofile_uncapped holds the roots from ", unc_call, "."))
        cu <- capture(paste0("ciu <- ", unc_call), env)
        if (!inherits(cu$value, "capture_error")) {
          r <- env$ciu$random
          qprofile_uncapped <- list(
            confint_call = unc_call,
            tau2_ci_lb = num_or_null(r["tau^2", "ci.lb"]), tau2_ci_ub = num_or_null(r["tau^2", "ci.ub"]),
            I2_ci_lb = num_or_null(r["I^2(%)", "ci.lb"]), I2_ci_ub = num_or_null(r["I^2(%)", "ci.ub"]),
            H2_ci_lb = num_or_null(r["H^2", "ci.lb"]), H2_ci_ub = num_or_null(r["H^2", "ci.ub"]))
        }
      }
    }
    cc0 <- capture("ci0 <- confint(res0)", env0)
    if (!inherits(cc0$value, "capture_error")) ci0 <- env0$ci0$random
  }

  # Prediction: intercept-only -> predict(res); meta-regression -> first row's moderator values.
  newmods <- NULL
  if (length(mods) > 0) {
    newmods <- sapply(mods, function(m) dat[[m]][1])
    predict_call <- paste0("predict(res, newmods = c(", paste(format(newmods, digits = 17), collapse = ", "), "))")
  } else {
    predict_call <- "predict(res)"
  }
  pc <- capture(paste0("pr <- ", predict_call), env)
  pr <- NULL
  if (inherits(pc$value, "capture_error")) {
    notes <- c(notes, paste0("predict() error: ", pc$value))
  } else {
    pr <- env$pr
    if (length(pc$warnings)) warns <- c(warns, paste0("predict(): ", pc$warnings))
  }

  fs <- fitstats(res)[, 1]
  get_ci <- function(row, col) if (is.null(ci)) NA else num_or_null(ci[row, col])

  expected <- list(
    k = res$k, p = res$p,
    beta = arr(res$beta), se = arr(res$se), zval = arr(res$zval), pval = arr(res$pval),
    ci_lb = arr(res$ci.lb), ci_ub = arr(res$ci.ub),
    tau2 = num_or_null(res$tau2), se_tau2 = num_or_null(res$se.tau2),
    I2 = num_or_null(res$I2), H2 = num_or_null(res$H2),
    QE = num_or_null(res$QE), QEp = num_or_null(res$QEp),
    QM = num_or_null(res$QM), QMp = num_or_null(res$QMp),
    QMdf = I(c(res$QMdf[1], if (is.na(res$QMdf[2])) NA else res$QMdf[2])),
    R2 = if (is.null(res$R2)) NA else num_or_null(res$R2),
    tau2_ci_lb = get_ci("tau^2", "ci.lb"), tau2_ci_ub = get_ci("tau^2", "ci.ub"),
    I2_ci_lb = get_ci("I^2(%)", "ci.lb"), I2_ci_ub = get_ci("I^2(%)", "ci.ub"),
    H2_ci_lb = get_ci("H^2", "ci.lb"), H2_ci_ub = get_ci("H^2", "ci.ub"),
    pred = if (is.null(pr)) NA else num_or_null(pr$pred),
    pred_se = if (is.null(pr)) NA else num_or_null(pr$se),
    pi_lb = if (is.null(pr)) NA else num_or_null(pr$pi.lb),
    pi_ub = if (is.null(pr)) NA else num_or_null(pr$pi.ub),
    ll = unname(fs[1]), dev = unname(fs[2]), AIC = unname(fs[3]), BIC = unname(fs[4]), AICc = unname(fs[5]),
    weights = arr(weights(res)),
    dfs = if (test == "knha") num_or_null(res$ddf) else NA
  )
  # predict() for an EE model returns no pi.lb/pi.ub: the PI equals the CI (tau2 = 0).
  if (!is.null(pr) && is.null(pr$pi.lb)) {
    expected$pi_lb <- num_or_null(pr$ci.lb); expected$pi_ub <- num_or_null(pr$ci.ub)
    notes <- c(notes, "EE model: predict() gives no pi.lb/pi.ub; pi_lb/pi_ub are its ci.lb/ci.ub (tau2 = 0).")
  }
  if (!is.null(ci) && any(ci["tau^2", c("ci.lb", "ci.ub")] == 0, na.rm = TRUE)) {
    notes <- c(notes, paste0("Q-profile tau2 bound(s) at 0: the generalised Q statistic at tau2 = 0 is already below ",
                             "the chi-square quantile, so metafor sets the bound to 0 (I2 bound 0, H2 bound 1)."))
  }

  # Diagnostic: default-control fit vs stored fit.
  dflt <- list(
    tau2 = reldiff(res0$tau2, res$tau2),
    beta = reldiff(res0$beta, res$beta),
    se = reldiff(res0$se, res$se),
    tau2_ci = if (is.null(ci) || is.null(ci0)) NA else
      reldiff(ci0[c("tau^2", "I^2(%)"), c("ci.lb", "ci.ub")], ci[c("tau^2", "I^2(%)"), c("ci.lb", "ci.ub")])
  )

  data <- list(study = I(as.character(labels)), yi = arr(dat$yi), vi = arr(dat$vi))
  if (length(mods) > 0) {
    data$mods <- setNames(lapply(mods, function(m) arr(dat[[m]])), mods)
  } else {
    data$mods <- structure(list(), names = character(0))
  }

  case <- list(
    id = id, description = description,
    call = call, data_call = data_call, confint_call = confint_call, predict_call = predict_call,
    data = data,
    args = list(method = method, test = test, mods = if (length(mods)) I(mods) else NA),
    control = if (is.null(control)) NA else control,
    expected = expected,
    default_control_reldiff = dflt
  )
  if (length(mods) > 0) case$predict_newmods <- as.list(newmods)
  if (!is.null(qprofile_uncapped)) case$qprofile_uncapped <- qprofile_uncapped
  if (length(warns)) case$warnings <- I(unique(warns))
  if (length(notes)) case$notes <- paste(notes, collapse = " ")
  cases[[length(cases) + 1]] <<- case
  summary_rows[[length(summary_rows) + 1]] <<- data.frame(
    id = id, k = res$k, tau2 = signif(res$tau2, 6), beta1 = signif(res$beta[1], 6),
    n_warn = length(warns), notes = length(notes) > 0,
    dflt_tau2 = signif(dflt$tau2, 2), dflt_ci = signif(as.numeric(dflt$tau2_ci), 2))
}

all_methods_tests <- function(prefix, desc, data_call, dat, labels, mods = character(0), meths = methods) {
  for (m in meths) for (t in tests) {
    add_case(
      id = paste0(prefix, "_", m, "_", t),
      description = paste0(desc, ", ", m, ", ", t, " test"),
      data_call = data_call, dat = dat, labels = labels, mods = mods, method = m, test = t)
  }
}

# ---- 1. dat.bcg, log risk ratio --------------------------------------------------------------
bcg_call <- "dat <- escalc(\"RR\", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)"
dat_bcg <- eval(parse(text = bcg_call))
bcg_labels <- paste(dat.bcg$author, dat.bcg$year)
all_methods_tests("bcg_logRR", "dat.bcg, log risk ratio", bcg_call, dat_bcg, bcg_labels)

# ---- 2. dat.bcg meta-regression -------------------------------------------------------------
all_methods_tests("bcg_logRR_ablat", "dat.bcg, log risk ratio, meta-regression on ablat",
                  bcg_call, dat_bcg, bcg_labels, mods = "ablat")
all_methods_tests("bcg_logRR_ablat_year", "dat.bcg, log risk ratio, meta-regression on ablat + year",
                  bcg_call, dat_bcg, bcg_labels, mods = c("ablat", "year"), meths = c("REML", "DL"))

# ---- 3. dat.normand1999, SMD (Hedges' g, metafor's bias-corrected form, vtype = "LS") --------
nor_call <- "dat <- escalc(\"SMD\", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)"
dat_nor <- eval(parse(text = nor_call))
nor_labels <- as.character(dat.normand1999$source)
all_methods_tests("normand_SMD", "dat.normand1999, standardised mean difference", nor_call, dat_nor, nor_labels)

# ---- 4. small k -------------------------------------------------------------------------------
k2_call <- paste0(bcg_call, "; dat <- dat[1:2, ]")
all_methods_tests("bcg_k2_logRR", "dat.bcg rows 1-2 (k = 2), log risk ratio",
                  k2_call, dat_bcg[1:2, ], bcg_labels[1:2], meths = c("DL", "REML", "PM"))
k2h_call <- paste0(bcg_call, "; dat <- dat[c(6, 8), ]")
all_methods_tests("bcg_k2het_logRR", "dat.bcg rows 6 and 8 (k = 2, heterogeneous), log risk ratio",
                  k2h_call, dat_bcg[c(6, 8), ], bcg_labels[c(6, 8)], meths = c("DL", "REML", "PM"))
k3_call <- paste0(nor_call, "; dat <- dat[1:3, ]")
all_methods_tests("normand_k3_SMD", "dat.normand1999 rows 1-3 (k = 3), standardised mean difference",
                  k3_call, dat_nor[1:3, ], nor_labels[1:3], meths = c("DL", "REML", "PM"))

# ---- 5. homogeneous data: tau2 truncated at 0 -------------------------------------------------
hom_call <- "dat <- data.frame(yi = c(0.10, 0.12, 0.11, 0.09), vi = c(0.04, 0.05, 0.06, 0.03))"
dat_hom <- eval(parse(text = hom_call))
all_methods_tests("homog_tau2zero", "small homogeneous data (k = 4), tau2 truncated at 0",
                  hom_call, dat_hom, paste0("S", 1:4), meths = c("DL", "REML", "PM"))

# ---- 6. unseen datasets -----------------------------------------------------------------------
hack_call <- "dat <- dat.hackshaw1998"
dat_hack <- eval(parse(text = hack_call))
all_methods_tests("hackshaw_logOR", "dat.hackshaw1998, log odds ratio (yi/vi as given)",
                  hack_call, dat_hack, paste(dat_hack$author, dat_hack$year))
mol_call <- "dat <- escalc(\"ZCOR\", ri = ri, ni = ni, data = dat.molloy2014)"
dat_mol <- eval(parse(text = mol_call))
all_methods_tests("molloy_ZCOR", "dat.molloy2014, Fisher r-to-z transformed correlation",
                  mol_call, dat_mol, paste(dat_mol$authors, dat_mol$year))

# ---- 7. binary moderator --------------------------------------------------------------------
alloc_call <- paste0(bcg_call, "; dat$alloc_random <- as.numeric(dat$alloc == \"random\")")
dat_alloc <- dat_bcg
dat_alloc$alloc_random <- as.numeric(dat_alloc$alloc == "random")
all_methods_tests("bcg_logRR_allocrandom", "dat.bcg, log risk ratio, meta-regression on alloc == \"random\" (0/1)",
                  alloc_call, dat_alloc, bcg_labels, mods = "alloc_random", meths = c("REML", "DL"))

# ---- write ------------------------------------------------------------------------------------
ids <- vapply(cases, `[[`, "", "id")
if (anyDuplicated(ids)) stop("duplicate case ids: ", paste(ids[duplicated(ids)], collapse = ", "))

out <- list(
  provenance = list(
    script = "models/rma/make_reference.R",
    R = R.version.string,
    metafor = packageDescription("metafor")$Version,
    metadat = packageDescription("metadat")$Version,
    jsonlite = packageDescription("jsonlite")$Version,
    generated = as.character(Sys.Date())
  ),
  cases = cases
)
write_json(out, out_path, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null")

smry <- do.call(rbind, summary_rows)
options(width = 200)
print(smry, row.names = FALSE)
cat(sprintf("\nWrote %d cases to %s\n", length(cases), out_path))
cat(sprintf("Cases with warnings: %d; with notes: %d\n", sum(smry$n_warn > 0), sum(smry$notes)))
cat(sprintf("Max rel. diff of default-control fits vs stored: tau2 %.2g, Q-profile CI %.2g\n",
            max(smry$dflt_tau2, na.rm = TRUE), max(smry$dflt_ci, na.rm = TRUE)))
