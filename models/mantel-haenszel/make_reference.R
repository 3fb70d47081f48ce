# Reference values for RevMan 5's dichotomous "M-H, Fixed" and "M-H, Random" analyses, pinned to metafor.
#
# Run from the repository root:
#     Rscript models/mantel-haenszel/make_reference.R
# writes models/mantel-haenszel/reference.json (see models/mantel-haenszel/README.md).
#
# Per case:
#   study level : dat <- escalc(measure, ai, bi, ci, di, add = 1/2, to = "only0", drop00 = TRUE)
#   mh          : rma.mh(measure = ..., ai, bi, ci, di)   (Mantel-Haenszel on the raw 2x2 tables)
#   random_dl   : RevMan's DerSimonian-Laird with Q taken around the MH estimate,
#                 tau2 = max(0, (Q_MH - (k - 1)) / (sum(w) - sum(w^2) / sum(w))), w = 1 / vi,
#                 then rma(yi, vi, data = dat, tau2 = tau2_mh)
#   revman_cc   : (OR, RR) the same with 1/2 added to zero-cell tables inside the MH estimate too, as
#                 RevMan 5 does (rma.mh(..., add = c(1/2, 1/2), to = c("only0", "only0"), drop00 = c(TRUE, TRUE)))
#   verification: Q_MH recomputed by hand as sum((yi - beta_MH)^2 / vi) and compared with rma.mh's QE.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out_path <- file.path("models", "mantel-haenszel", "reference.json")
if (!dir.exists(dirname(out_path))) {
  stop("Run from the repository root: Rscript models/mantel-haenszel/make_reference.R")
}

nn <- function(x) {                      # scalar, NA -> JSON null
  if (is.null(x) || length(x) == 0) return(NA)
  x <- unname(c(x))[1]
  if (is.na(x)) NA else as.numeric(x)
}
arr <- function(x) I(as.numeric(unname(c(x))))

capture <- function(expr_text, env) {
  warns <- character(0)
  val <- withCallingHandlers(eval(parse(text = expr_text), envir = env),
    warning = function(w) {
      warns <<- c(warns, conditionMessage(w))
      invokeRestart("muffleWarning")
    })
  list(value = val, warnings = warns)
}

cases <- list()
summary_rows <- list()

add_case <- function(id, description, data_call, tab, labels, measure, drop00 = TRUE) {
  env <- new.env()
  env$tab <- tab
  warns <- character(0)
  run <- function(code) {
    r <- capture(code, env)
    if (length(r$warnings)) warns <<- c(warns, paste0(sub(" <-.*", "", code), ": ", r$warnings))
    r$value
  }

  escalc_call <- sprintf(
    "dat <- escalc(\"%s\", ai = ai, bi = bi, ci = ci, di = di, data = tab, add = 1/2, to = \"only0\", drop00 = %s)",
    measure, if (drop00) "TRUE" else "FALSE")
  mh_call <- sprintf("mh <- rma.mh(measure = \"%s\", ai = ai, bi = bi, ci = ci, di = di, data = tab%s)",
                     measure, if (drop00) "" else ", drop00 = FALSE")
  run(escalc_call)
  run(mh_call)
  dat <- env$dat
  mh <- env$mh

  # --- verify rma.mh's QE is the inverse-variance Q around the MH estimate -------------------
  ok <- !is.na(dat$yi) & !is.na(dat$vi)
  yi <- as.numeric(dat$yi[ok]); vi <- as.numeric(dat$vi[ok])
  beta_mh <- as.numeric(mh$beta)
  QE_manual <- sum((yi - beta_mh)^2 / vi)
  QE_reldiff <- abs(QE_manual - mh$QE) / abs(mh$QE)
  if (QE_reldiff > 1e-12) stop(id, ": rma.mh QE differs from sum((yi - beta_MH)^2 / vi): ", QE_reldiff)
  if (mh$k.yi != sum(ok)) stop(id, ": k.yi mismatch")

  # --- RevMan's DL on Q_MH --------------------------------------------------------------------
  tau2_call <- paste0("w <- 1 / dat$vi[!is.na(dat$yi)]; ",
                      "tau2_mh <- max(0, (mh$QE - (mh$k.yi - 1)) / (sum(w) - sum(w^2) / sum(w)))")
  run(tau2_call)
  tau2_mh <- env$tau2_mh
  w <- env$w
  re_call <- "re <- rma(yi, vi, data = dat, tau2 = tau2_mh)"
  run(re_call)
  re <- env$re
  if (abs(re$tau2 - tau2_mh) > 0) stop(id, ": tau2 not fixed")

  # --- for contrast only: ordinary inverse-variance DL (Q around the IV estimate) --------------
  iv_call <- "iv <- rma(yi, vi, data = dat, method = \"DL\")"
  run(iv_call)
  iv <- env$iv

  # --- RevMan 5 variant for OR/RR: 0.5 also added to zero-cell tables in the MH estimate itself ----
  # (RevMan 5 = R meta's MH.exact = FALSE; metafor's rma.mh default uses the raw tables, add = c(1/2, 0)).
  revman_cc <- NULL
  if (measure %in% c("OR", "RR")) {
    mhcc_call <- sprintf(paste0("mhcc <- rma.mh(measure = \"%s\", ai = ai, bi = bi, ci = ci, di = di, data = tab, ",
                                "add = c(1/2, 1/2), to = c(\"only0\", \"only0\"), drop00 = c(TRUE, TRUE))"), measure)
    run(mhcc_call)
    mhcc <- env$mhcc
    tau2cc_call <- paste0("tau2_cc <- max(0, (mhcc$QE - (mhcc$k.yi - 1)) / (sum(w) - sum(w^2) / sum(w)))")
    run(tau2cc_call)
    recc_call <- "recc <- rma(yi, vi, data = dat, tau2 = tau2_cc)"
    run(recc_call)
    recc <- env$recc
    QEcc_manual <- sum((yi - as.numeric(mhcc$beta))^2 / vi)
    if (abs(QEcc_manual - mhcc$QE) / mhcc$QE > 1e-12) stop(id, ": mhcc QE mismatch")
    revman_cc <- list(
      note = paste0("RevMan 5 style: 1/2 added to every cell of tables with a zero cell also inside the MH estimate ",
                    "(meta::metabin MH.exact = FALSE, listed by meta as the RevMan 5 setting); double-zero tables dropped. ",
                    "Identical to 'mh'/'random_dl' when no table has a zero cell."),
      mh = list(
        call = mhcc_call, k = mhcc$k, k_yi = mhcc$k.yi,
        beta = nn(mhcc$beta), se = nn(mhcc$se), zval = nn(mhcc$zval), pval = nn(mhcc$pval),
        ci_lb = nn(mhcc$ci.lb), ci_ub = nn(mhcc$ci.ub),
        QE = nn(mhcc$QE), QEp = nn(mhcc$QEp), QE_df = mhcc$k.yi - 1, I2 = nn(mhcc$I2), H2 = nn(mhcc$H2)
      ),
      random_dl = list(
        call = paste(tau2cc_call, recc_call, sep = "; "),
        tau2 = nn(recc$tau2), beta = nn(recc$beta), se = nn(recc$se), zval = nn(recc$zval),
        pval = nn(recc$pval), ci_lb = nn(recc$ci.lb), ci_ub = nn(recc$ci.ub), k = recc$k
      )
    )
  }

  case <- list(
    id = id, description = description,
    call = paste(c(escalc_call, mh_call, tau2_call, re_call), collapse = "; "),
    data_call = data_call,
    data = list(study = I(as.character(labels)), ai = arr(tab$ai), bi = arr(tab$bi),
                ci = arr(tab$ci), di = arr(tab$di)),
    args = list(measure = measure, add = 0.5, to = "only0", drop00 = drop00),
    expected = list(
      study_level = list(
        call = escalc_call,
        yi = I(as.numeric(dat$yi)), vi = I(as.numeric(dat$vi))
      ),
      mh = list(
        call = mh_call,
        k = mh$k, k_yi = mh$k.yi,
        beta = nn(mh$beta), se = nn(mh$se), zval = nn(mh$zval), pval = nn(mh$pval),
        ci_lb = nn(mh$ci.lb), ci_ub = nn(mh$ci.ub),
        QE = nn(mh$QE), QEp = nn(mh$QEp), QE_df = mh$k.yi - 1, I2 = nn(mh$I2), H2 = nn(mh$H2),
        CMH = nn(mh$MH), CMHp = nn(mh$MHp),          # Cochran-Mantel-Haenszel test (continuity-corrected), OR only
        CO = nn(mh$CO), COp = nn(mh$COp),            # Cochran's test (corrected), OR only
        tarone = nn(mh$TA), tarone_p = nn(mh$TAp),   # Tarone's heterogeneity test, OR only
        breslow_day = nn(mh$BD), breslow_day_p = nn(mh$BDp),
        k_pos = nn(mh$k.pos)                         # tables used by Breslow-Day / Tarone (df = k_pos - 1)
      ),
      random_dl = list(
        call = paste(tau2_call, re_call, sep = "; "),
        Q_mh = nn(mh$QE), df = mh$k.yi - 1, sum_w = sum(w), sum_w2 = sum(w^2),
        tau2 = nn(re$tau2),
        beta = nn(re$beta), se = nn(re$se), zval = nn(re$zval), pval = nn(re$pval),
        ci_lb = nn(re$ci.lb), ci_ub = nn(re$ci.ub),
        k = re$k,
        weights = arr(weights(re))
      ),
      dl_inverse_variance_contrast = list(
        note = "NOT RevMan's M-H random: ordinary DL with Q around the inverse-variance estimate, for contrast only.",
        call = iv_call,
        QE = nn(iv$QE), tau2 = nn(iv$tau2), beta = nn(iv$beta), se = nn(iv$se)
      )
    ),
    verification = list(
      QE_manual = QE_manual,
      QE_rma_mh = nn(mh$QE),
      QE_reldiff = QE_reldiff,
      statement = "rma.mh's QE equals sum((yi - beta_MH)^2 / vi) over studies with non-NA yi from escalc(add = 1/2, to = \"only0\", drop00 = TRUE); I2 = max(0, (QE - (k_yi - 1)) / QE) * 100, H2 = QE / (k_yi - 1)."
    )
  )
  if (!is.null(revman_cc)) case$expected$revman_cc <- revman_cc
  if (measure == "RD") {
    # Greenland & Robins (1985) variance of the MH risk difference, J / K^2, as given in Deeks & Higgins,
    # "Statistical algorithms in Review Manager 5" (2010). metafor's rma.mh uses Sato, Greenland & Robins
    # (1989) instead. Computed here by hand (raw tables), not by metafor; not checked against RevMan output.
    gr_call <- paste0("a <- as.numeric(tab$ai); b <- as.numeric(tab$bi); c <- as.numeric(tab$ci); d <- as.numeric(tab$di); ",
                      "n1 <- a + b; n2 <- c + d; N <- n1 + n2; ",
                      "K <- sum(n1 * n2 / N); J <- sum((a * b * n2^3 + c * d * n1^3) / (n1 * n2 * N^2)); ",
                      "se_gr <- sqrt(J) / K")
    run(gr_call)
    case$expected$rd_se_greenland_robins_1985 <- list(
      note = paste0("Hand-computed alternative SE of the MH risk difference (Greenland & Robins 1985, J/K^2), the ",
                    "formula in RevMan 5's documentation; metafor's mh$se uses Sato et al. (1989). Not metafor output."),
      call = gr_call, se = env$se_gr)
  }
  if (length(warns)) case$warnings <- I(unique(warns))
  cases[[length(cases) + 1]] <<- case
  summary_rows[[length(summary_rows) + 1]] <<- data.frame(
    id = id, k = mh$k, k_yi = mh$k.yi, beta_mh = signif(beta_mh, 6), QE = signif(mh$QE, 6),
    QE_reldiff = signif(QE_reldiff, 2), tau2_mh = signif(tau2_mh, 6), tau2_iv = signif(iv$tau2, 6),
    beta_re = signif(as.numeric(re$beta), 6),
    beta_mh_revman_cc = if (is.null(revman_cc)) NA else signif(revman_cc$mh$beta, 6),
    n_warn = length(unique(warns)))
}

# dat.bcg: no zero cells
bcg_call <- "tab <- data.frame(ai = dat.bcg$tpos, bi = dat.bcg$tneg, ci = dat.bcg$cpos, di = dat.bcg$cneg)"
tab_bcg <- eval(parse(text = bcg_call))
bcg_labels <- paste(dat.bcg$author, dat.bcg$year)

# dat.nielweise2007: single-zero studies (Bach 1996, Raad 1997, ...) and one double-zero study (Yucel 2004)
niel_call <- paste0("tab <- with(dat.nielweise2007, data.frame(ai = ai, bi = n1i - ai, ci = ci, di = n2i - ci))")
tab_niel <- eval(parse(text = niel_call))
niel_labels <- paste(dat.nielweise2007$author, dat.nielweise2007$year)

for (m in c("OR", "RR", "RD")) {
  add_case(paste0("bcg_", m), paste0("dat.bcg, ", m, ", no zero cells"), bcg_call, tab_bcg, bcg_labels, m)
}
for (m in c("OR", "RR", "RD")) {
  add_case(paste0("nielweise2007_", m),
           paste0("dat.nielweise2007, ", m, ", single-zero studies and one double-zero study (Yucel 2004)"),
           niel_call, tab_niel, niel_labels, m)
}
add_case("nielweise2007_RD_keep00",
         paste0("dat.nielweise2007, RD, alternative convention: double-zero study kept (drop00 = FALSE) ",
                "in the study-level yi/vi (yi = 0 after adding 1/2) and hence in Q_MH and the random-effects fit"),
         niel_call, tab_niel, niel_labels, "RD", drop00 = FALSE)

ids <- vapply(cases, `[[`, "", "id")
if (anyDuplicated(ids)) stop("duplicate ids")

out <- list(
  provenance = list(
    script = "models/mantel-haenszel/make_reference.R",
    R = R.version.string,
    metafor = packageDescription("metafor")$Version,
    metadat = packageDescription("metadat")$Version,
    jsonlite = packageDescription("jsonlite")$Version,
    generated = as.character(Sys.Date())
  ),
  cases = cases
)
write_json(out, out_path, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null", na = "null")

options(width = 200)
print(do.call(rbind, summary_rows), row.names = FALSE)
cat(sprintf("\nWrote %d cases to %s\n", length(cases), out_path))
