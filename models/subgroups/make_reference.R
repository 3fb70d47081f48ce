# Reference values for RevMan 5's "Test for subgroup differences" (random effects), pinned to metafor.
#
# Run from the repository root:
#     Rscript models/subgroups/make_reference.R
# writes models/subgroups/reference.json (see models/subgroups/README.md).
#
# Per case:
#   subgroups : rma(yi, vi, data = dat, subset = group == <level>, method = <DL|REML>), one fit per level,
#               each with its own tau2 (RevMan's default: tau2 not pooled across subgroups)
#   between   : rma(est, sei = se, method = "EE") on the subgroup estimates -> QE (df = J - 1), QEp, I2
#   metafor_mixed_effects_moderator_test : a DIFFERENT statistic, for contrast:
#               rma(yi, vi, mods = ~ factor(group), data = dat, method = <DL|REML>) -> QM, QMp
#               (one pooled residual tau2 across subgroups).

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out_path <- file.path("models", "subgroups", "reference.json")
if (!dir.exists(dirname(out_path))) {
  stop("Run from the repository root: Rscript models/subgroups/make_reference.R")
}

# Tight stopping rule for REML (metafor's default threshold = 1e-5 on the tau2 change is too loose for a
# 1e-6 relative test; see models/rma/README.md).
CTRL <- list(REML = ", control = list(threshold = 1e-12, maxiter = 1000)", DL = "")

nn <- function(x) {
  if (is.null(x) || length(x) == 0) return(NA)
  x <- unname(c(x))[1]
  if (is.na(x)) NA else as.numeric(x)
}
arr <- function(x) I(as.numeric(unname(c(x))))

warns <- character(0)
ev <- function(code, env) {
  withCallingHandlers(eval(parse(text = code), envir = env),
    warning = function(w) {
      warns <<- c(warns, paste0(code, ": ", conditionMessage(w)))
      invokeRestart("muffleWarning")
    })
}

cases <- list()
summary_rows <- list()

add_case <- function(id, description, data_call, dat, labels, method) {
  env <- new.env()
  env$dat <- dat
  levels_g <- sort(unique(as.character(dat$group)), method = "radix")
  ctrl <- CTRL[[method]]

  # The whole RevMan procedure as one runnable R call, evaluated verbatim.
  call <- sprintf(paste0(
    "fits <- lapply(c(%s), function(g) rma(yi, vi, data = dat, subset = group == g, method = \"%s\"%s)); ",
    "est <- sapply(fits, function(f) c(f$beta)); se <- sapply(fits, function(f) f$se); ",
    "btw <- rma(est, sei = se, method = \"EE\")"),
    paste0("\"", levels_g, "\"", collapse = ", "), method, ctrl)
  ev(call, env)
  subgroups <- list()
  for (j in seq_along(levels_g)) {
    res <- env$fits[[j]]
    subgroups[[j]] <- list(
      group = levels_g[j],
      call = sprintf("rma(yi, vi, data = dat, subset = group == \"%s\", method = \"%s\"%s)", levels_g[j], method, ctrl),
      k = res$k,
      beta = nn(res$beta), se = nn(res$se), zval = nn(res$zval), pval = nn(res$pval),
      ci_lb = nn(res$ci.lb), ci_ub = nn(res$ci.ub),
      tau2 = nn(res$tau2), I2 = nn(res$I2), H2 = nn(res$H2), QE = nn(res$QE), QEp = nn(res$QEp),
      QE_df = res$k - 1
    )
  }
  between_call <- "btw <- rma(est, sei = se, method = \"EE\")"
  btw <- env$btw

  mm_call <- sprintf("mm <- rma(yi, vi, mods = ~ factor(group), data = dat, method = \"%s\"%s)", method, ctrl)
  ev(mm_call, env)
  mm <- env$mm

  cases[[length(cases) + 1]] <<- list(
    id = id, description = description,
    call = call,
    data_call = data_call,
    data = list(study = I(as.character(labels)), yi = arr(dat$yi), vi = arr(dat$vi),
                group = I(as.character(dat$group))),
    args = list(method = method, groups = I(levels_g)),
    control = if (nzchar(ctrl)) sub("^, control = ", "", ctrl) else NA,
    expected = list(
      subgroups = subgroups,
      between = list(
        label = "RevMan test for subgroup differences: Cochran's Q of the subgroup estimates around their inverse-variance (EE) mean",
        call = between_call,
        Q = nn(btw$QE), df = btw$k - 1, p = nn(btw$QEp), I2 = nn(btw$I2),
        pooled_est = nn(btw$beta), pooled_se = nn(btw$se)
      ),
      metafor_mixed_effects_moderator_test = list(
        label = "Different statistic (not RevMan's): omnibus Wald test of the factor(group) coefficients in a mixed-effects meta-regression with one pooled residual tau2",
        call = mm_call,
        QM = nn(mm$QM), QMdf = I(c(mm$QMdf[1], if (is.na(mm$QMdf[2])) NA else mm$QMdf[2])),
        QMp = nn(mm$QMp), tau2 = nn(mm$tau2), beta = arr(mm$beta), se = arr(mm$se),
        QE = nn(mm$QE), QEp = nn(mm$QEp)
      )
    )
  )
  summary_rows[[length(summary_rows) + 1]] <<- data.frame(
    id = id, J = length(levels_g), Q_between = signif(btw$QE, 6), p_between = signif(btw$QEp, 4),
    QM_mixed = signif(mm$QM, 6), p_mixed = signif(mm$QMp, 4))
}

bcg_call <- paste0("dat <- escalc(\"RR\", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg); ",
                   "dat$group <- as.character(dat$alloc)")
dat_alloc <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
dat_alloc$group <- as.character(dat_alloc$alloc)
labels <- paste(dat.bcg$author, dat.bcg$year)

abl_call <- paste0("dat <- escalc(\"RR\", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg); ",
                   "dat$group <- ifelse(dat$ablat >= 30, \"ablat >= 30\", \"ablat < 30\")")
dat_abl <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
dat_abl$group <- ifelse(dat_abl$ablat >= 30, "ablat >= 30", "ablat < 30")

add_case("bcg_logRR_alloc_DL", "dat.bcg, log risk ratio, subgroups by alloc (3 levels), DL within subgroups",
         bcg_call, dat_alloc, labels, "DL")
add_case("bcg_logRR_alloc_REML", "dat.bcg, log risk ratio, subgroups by alloc (3 levels), REML within subgroups",
         bcg_call, dat_alloc, labels, "REML")
add_case("bcg_logRR_ablat30_DL", "dat.bcg, log risk ratio, subgroups ablat >= 30 vs < 30, DL within subgroups",
         abl_call, dat_abl, labels, "DL")
add_case("bcg_logRR_ablat30_REML", "dat.bcg, log risk ratio, subgroups ablat >= 30 vs < 30, REML within subgroups",
         abl_call, dat_abl, labels, "REML")

out <- list(
  provenance = list(
    script = "models/subgroups/make_reference.R",
    R = R.version.string,
    metafor = packageDescription("metafor")$Version,
    metadat = packageDescription("metadat")$Version,
    jsonlite = packageDescription("jsonlite")$Version,
    generated = as.character(Sys.Date())
  ),
  cases = cases
)
if (length(warns)) out$warnings <- I(unique(warns))
write_json(out, out_path, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null")

options(width = 200)
print(do.call(rbind, summary_rows), row.names = FALSE)
cat(sprintf("\nWrote %d cases to %s; warnings: %d\n", length(cases), out_path, length(unique(warns))))
