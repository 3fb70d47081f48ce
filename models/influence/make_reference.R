# Reference values for bayesmeta.influence (leave1out, cumul), pinned to metafor.
#
# Run from the repository root:
#     Rscript models/influence/make_reference.R
# writes models/influence/reference.json (schema and maths: models/influence/README.md).
#
# Data: dat.bcg (log risk ratio) and dat.normand1999 (raw mean difference), built by the escalc()
# call stored in `datasets[[name]]$data_call`; base fits EE, DL and REML, each with test "z" and
# "knha". Every case stores `fit_call` (the base fit `res`) and `call` (evaluated verbatim).
# REML uses control = list(threshold = 1e-12, maxiter = 1000): leave1out() and cumul() re-use the
# base fit's control, so every re-fit is converged far below the 1e-6 relative test tolerance.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out_path <- file.path("models", "influence", "reference.json")
if (!dir.exists(dirname(out_path))) {
  stop("Run from the repository root: Rscript models/influence/make_reference.R")
}

CTRL <- "list(threshold = 1e-12, maxiter = 1000)"
methods <- c("EE", "DL", "REML")
tests <- c("z", "knha")
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
    labels = "paste(dat$author, dat$year)", slab = "paste(author, year)",
    # cumulative order: by publication year (1973 occurs twice: ties keep the data order)
    orders = list(list(call = "cumul(res, order = year)", key = "year", decreasing = FALSE))),
  normand_MD = list(
    description = "dat.normand1999, raw mean difference (days)",
    data_call = paste0("dat <- escalc(\"MD\", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, ",
                       "sd2i = sd2i, n2i = n2i, data = dat.normand1999)"),
    labels = "as.character(dat$source)", slab = "as.character(source)",
    # cumulative order: largest trial first
    orders = list(list(call = "cumul(res, order = n1i + n2i, decreasing = TRUE)",
                       key = "n1i + n2i", decreasing = TRUE)))
)

fit_call_for <- function(method, test, slab) {
  s <- paste0("res <- rma(yi, vi, data = dat, slab = ", slab, ", method = \"", method,
              "\", test = \"", test, "\"")
  if (method == "REML") s <- paste0(s, ", control = ", CTRL)
  paste0(s, ")")
}

fields <- function(x) {
  # list.rma -> named arrays; metafor names the statistic tval under knha, pvals in cumul()
  x <- unclass(x)
  get <- function(...) { for (n in c(...)) if (!is.null(x[[n]])) return(arr(x[[n]])); NA }
  list(slab = I(as.character(x$slab)),
       estimate = get("estimate"), se = get("se"), zval = get("zval", "tval"),
       pval = get("pval", "pvals"), ci_lb = get("ci.lb"), ci_ub = get("ci.ub"),
       Q = get("Q"), Qp = get("Qp"), tau2 = get("tau2"), I2 = get("I2"), H2 = get("H2"))
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
    yi = arr(dat$yi), vi = arr(dat$vi))
  for (o in d$orders) data_out[[dname]]$order_keys[[o$key]] <- arr(eval(parse(text = o$key), envir = dat))
  for (method in methods) for (test in tests) {
    env <- new.env()
    env$dat <- dat
    fit_call <- fit_call_for(method, test, d$slab)
    base <- capture(fit_call, env)
    stem <- paste(dname, method, test, sep = "_")
    common <- list(dataset = dname, fit_call = fit_call, base_warnings = I(base$warnings),
                   full = list(estimate = as.numeric(env$res$beta), se = env$res$se,
                               ci_lb = env$res$ci.lb, ci_ub = env$res$ci.ub))

    r <- capture("l1 <- leave1out(res)", env)
    add(c(list(id = paste(stem, "leave1out", sep = "_"), `function` = "leave1out",
               call = "leave1out(res)", args = list(method = method, test = test)),
          common, list(expected = fields(env$l1), warnings = I(r$warnings))))

    r <- capture("cu <- cumul(res)", env)
    add(c(list(id = paste(stem, "cumul", sep = "_"), `function` = "cumul",
               call = "cumul(res)", args = list(method = method, test = test, order = NA,
                                                decreasing = FALSE)),
          common, list(expected = fields(env$cu), warnings = I(r$warnings))))
    for (o in d$orders) {
      r <- capture(paste0("cu <- ", o$call), env)
      add(c(list(id = paste(stem, "cumul", "ordered", sep = "_"), `function` = "cumul",
                 call = o$call, args = list(method = method, test = test, order = o$key,
                                            decreasing = o$decreasing)),
            common, list(expected = fields(env$cu), warnings = I(r$warnings))))
    }
  }
}

ids <- vapply(cases, `[[`, "", "id")
if (anyDuplicated(ids)) stop("duplicate case ids")

out <- list(
  provenance = list(
    script = "models/influence/make_reference.R",
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
