# Reference values for bayesmeta's exact meta-regression engine, from R bayesmeta's bmr().
#
# Run from the repository root:
#     Rscript models/normal-normal-regression/make_reference.R
# writes models/normal-normal-regression/reference.json.
#
# Generated with R bayesmeta 3.4 (CRAN source) and metafor 3.8-1. bayesmeta 3.4 declares a
# dependency on 'forestplot', used only for its forest plots; where 'forestplot' is not installable,
# the package was installed from source with that dependency and the forestplot methods removed
# from DESCRIPTION and NAMESPACE (no numerical code touched).
#
# bmr() discretises tau with the DIRECT algorithm (Roever & Friede 2017): summaries carry a grid
# error controlled by `delta` (divergence between neighbouring mixture components) and `epsilon`
# (tail mass). Every case is run twice: with bmr's defaults (delta = 0.01, epsilon = 1e-4) and
# with a fine grid (delta = 0.0005, epsilon = 1e-7). The difference between the two, stored per
# value as `grid_error`, is R's own grid error at the default setting; the fine-grid values are
# the reference. Intervals: shortest ("95% lower/upper") and central (post.interval(method =
# "central")). Quantities at moderator values come from summary(fit, X.mean=, X.prediction=).

suppressPackageStartupMessages({
  library(bayesmeta)
  library(metafor)
  library(jsonlite)
})

out_path <- file.path("models", "normal-normal-regression", "reference.json")
if (!dir.exists(dirname(out_path))) stop("run from the repository root")

FINE <- list(delta = 0.0005, epsilon = 1e-7)

dat <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
sei <- sqrt(dat$vi)

tau_priors <- list(
  halfnormal_0.5 = list(spec = list(family = "halfnormal", sigma = 0.5),
                        fun = function(t) dhalfnormal(t, scale = 0.5)),
  halfcauchy_0.5 = list(spec = list(family = "halfcauchy", beta = 0.5),
                        fun = function(t) dhalfcauchy(t, scale = 0.5))
)

summarise <- function(fit, X.at) {
  s <- fit$summary
  central <- sapply(seq_len(fit$d), function(i) fit$post.interval(beta.level = 0.95, which.beta = i,
                                                                   method = "central"))
  q <- sapply(seq_len(fit$d), function(i) fit$qposterior(beta.p = c(0.025, 0.25, 0.5, 0.75, 0.975),
                                                         which.beta = i))
  sm <- summary(fit, X.mean = X.at, X.prediction = X.at)
  out <- list(
    variables = fit$variables,
    tau = list(median = s["median", "tau"], mean = s["mean", "tau"], sd = s["sd", "tau"],
               mode = s["mode", "tau"],
               shortest = c(s["95% lower", "tau"], s["95% upper", "tau"]),
               central = as.numeric(fit$post.interval(tau.level = 0.95, method = "central")),
               quantiles = as.numeric(fit$qposterior(tau.p = c(0.025, 0.25, 0.5, 0.75, 0.975)))),
    beta = lapply(seq_len(fit$d), function(i) list(
      name = fit$variables[i],
      median = s["median", i + 1], mean = s["mean", i + 1], sd = s["sd", i + 1],
      shortest = c(s["95% lower", i + 1], s["95% upper", i + 1]),
      central = as.numeric(central[, i]),
      quantiles = as.numeric(q[, i]))),
    at = list(x = unname(X.at),
              mean = list(median = unname(sm$mean[, "median"]), mean = unname(sm$mean[, "mean"]),
                          sd = unname(sm$mean[, "sd"]),
                          shortest_lb = unname(sm$mean[, "95% lower"]),
                          shortest_ub = unname(sm$mean[, "95% upper"])),
              prediction = list(median = unname(sm$prediction[, "median"]),
                                mean = unname(sm$prediction[, "mean"]),
                                sd = unname(sm$prediction[, "sd"]),
                                shortest_lb = unname(sm$prediction[, "95% lower"]),
                                shortest_ub = unname(sm$prediction[, "95% upper"]))),
    log_marginal_likelihood = if (is.finite(fit$marginal.likelihood)) log(fit$marginal.likelihood) else NA,
    bayesfactor_actual = as.list(fit$bayesfactor["actual", ])
  )
  out
}

diff_tree <- function(a, b) {
  if (is.list(a)) return(mapply(diff_tree, a, b, SIMPLIFY = FALSE))
  if (is.character(a)) return(NA)
  abs(as.numeric(a) - as.numeric(b))
}

cases <- list()
add_case <- function(id, description, X, X.at, tau_key, beta_mean = NULL, beta_sd = NULL) {
  tp <- tau_priors[[tau_key]]
  args <- list(y = dat$yi, sigma = sei, labels = paste(dat$author, dat$year), X = X,
               tau.prior = tp$fun)
  if (!is.null(beta_mean)) { args$beta.prior.mean <- beta_mean; args$beta.prior.sd <- beta_sd }
  fine <- do.call(bmr, c(args, FINE))
  dflt <- do.call(bmr, args)
  ref <- summarise(fine, X.at)
  cases[[length(cases) + 1]] <<- list(
    id = id, description = description,
    call = paste0("bmr(y = dat$yi, sigma = sqrt(dat$vi), X = X, tau.prior = <", tau_key, ">",
                  if (is.null(beta_mean)) "" else ", beta.prior.mean = m0, beta.prior.sd = s0",
                  ", delta = 0.0005, epsilon = 1e-7)"),
    data_call = "dat <- escalc(\"RR\", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)",
    data = list(study = paste(dat$author, dat$year), yi = as.numeric(dat$yi),
                sei = as.numeric(sei), X = unname(X), columns = colnames(X)),
    tau_prior = tp$spec,
    beta_prior = if (is.null(beta_mean)) "flat" else list(mean = beta_mean, sd = beta_sd),
    reference = ref,
    grid_error = diff_tree(summarise(dflt, X.at), ref))
}

X_alloc <- model.matrix(~ alloc, data = dat)
colnames(X_alloc) <- c("intercept", "allocrandom", "allocsystematic")
X_alloc_at <- rbind(alternate = c(1, 0, 0), random = c(1, 1, 0), systematic = c(1, 0, 1))
add_case("bcg_alloc_halfnormal_flat",
         "dat.bcg log RR ~ alloc (alternate = reference level), tau ~ half-normal(0.5), flat beta",
         X_alloc, X_alloc_at, "halfnormal_0.5")
add_case("bcg_alloc_halfnormal_normal",
         "dat.bcg log RR ~ alloc, tau ~ half-normal(0.5), beta_j ~ N(0, 4^2)",
         X_alloc, X_alloc_at, "halfnormal_0.5", beta_mean = c(0, 0, 0), beta_sd = c(4, 4, 4))
X_ablat <- cbind(intercept = 1, ablat = dat$ablat - 33)
X_ablat_at <- rbind(c(1, -20), c(1, 0), c(1, 20))
add_case("bcg_ablat_halfcauchy_flat",
         "dat.bcg log RR ~ I(ablat - 33), tau ~ half-Cauchy(0.5), flat beta",
         X_ablat, X_ablat_at, "halfcauchy_0.5")

out <- list(
  provenance = list(script = "models/normal-normal-regression/make_reference.R",
                    R = R.version.string,
                    bayesmeta = as.character(packageVersion("bayesmeta")),
                    metafor = as.character(packageVersion("metafor")),
                    generated = as.character(Sys.Date()),
                    fine_grid = FINE, default_grid = list(delta = 0.01, epsilon = 1e-4)),
  cases = cases)
write_json(out, out_path, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
message("wrote ", out_path)
