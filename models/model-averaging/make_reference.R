# Reference values for Bayesian model averaging over the four normal-normal models
# {mu = 0, mu free} x {tau = 0, tau free}, from R bayesmeta's marginal likelihood and Bayes factors.
#
# Run from the repository root:
#     Rscript models/model-averaging/make_reference.R
# writes models/model-averaging/reference.json.
#
# Generated with R bayesmeta 3.4 (CRAN source; see models/normal-normal-regression/make_reference.R
# for the 'forestplot' note) and metafor 3.8-1. For each dataset, with tau ~ half-normal(0.5) and
# mu ~ N(0, 4^2):
#   m11 = fit$marginal.likelihood                      (mu free, tau free)
#   m10 = m11 * fit$bayesfactor["actual", "tau=0"]     (mu free, tau = 0)
#   m01 = m11 * fit$bayesfactor["actual", "mu=0"]      (mu = 0, tau free)
#   m00 = prod(dnorm(y, 0, sigma))                     (mu = 0, tau = 0; closed form)
# and the posterior model probabilities under equal prior probabilities (1/4 each). bayesmeta
# computes the marginal likelihood by numerical integration (integrate(), rel.tol = 2^16 eps).

suppressPackageStartupMessages({
  library(bayesmeta)
  library(metafor)
  library(jsonlite)
})

out_path <- file.path("models", "model-averaging", "reference.json")
if (!dir.exists(dirname(out_path))) stop("run from the repository root")

datasets <- list(
  bcg = list(
    data_call = "escalc(\"RR\", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)",
    dat = escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)),
  normand1999 = list(
    data_call = paste0("escalc(\"MD\", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, ",
                       "sd2i = sd2i, n2i = n2i, data = dat.normand1999)"),
    dat = escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i,
                 data = dat.normand1999)),
  eight_schools = list(
    data_call = "Rubin (1981): effects and standard errors as in the bayesmeta vignette",
    dat = data.frame(yi = c(28.39, 7.94, -2.75, 6.82, -0.64, 0.63, 18.01, 12.16),
                     vi = c(14.9, 10.2, 16.3, 11.0, 9.4, 11.4, 10.4, 17.6)^2))
)

cases <- lapply(names(datasets), function(name) {
  d <- datasets[[name]]$dat
  y <- as.numeric(d$yi); s <- sqrt(as.numeric(d$vi))
  fit <- bayesmeta(y = y, sigma = s, mu.prior.mean = 0, mu.prior.sd = 4,
                   tau.prior = function(t) dhalfnormal(t, scale = 0.5))
  m11 <- fit$marginal.likelihood
  bf_tau0 <- fit$bayesfactor["actual", "tau=0"]
  bf_mu0 <- fit$bayesfactor["actual", "mu=0"]
  log_m <- c(m00 = sum(dnorm(y, 0, s, log = TRUE)), m01 = log(m11 * bf_mu0),
             m10 = log(m11 * bf_tau0), m11 = log(m11))
  post <- exp(log_m - max(log_m)); post <- post / sum(post)
  list(id = name, data_call = datasets[[name]]$data_call,
       call = paste0("bayesmeta(y, sigma, mu.prior.mean = 0, mu.prior.sd = 4, ",
                     "tau.prior = function(t) dhalfnormal(t, scale = 0.5))"),
       data = list(yi = y, sei = s),
       tau_prior = list(family = "halfnormal", sigma = 0.5),
       mu_prior = list(family = "normal", mu = 0, sigma = 4),
       marginal_likelihood = m11,
       log_marginal_likelihood = log(m11),
       bayesfactor_tau0 = bf_tau0, bayesfactor_mu0 = bf_mu0,
       log_marginal = as.list(log_m),
       posterior_probability = as.list(post),
       inclusion_bf_effect = (post[["m10"]] + post[["m11"]]) / (post[["m00"]] + post[["m01"]]),
       inclusion_bf_heterogeneity = (post[["m01"]] + post[["m11"]]) / (post[["m00"]] + post[["m10"]]))
})

out <- list(
  provenance = list(script = "models/model-averaging/make_reference.R", R = R.version.string,
                    bayesmeta = as.character(packageVersion("bayesmeta")),
                    metafor = as.character(packageVersion("metafor")),
                    generated = as.character(Sys.Date()),
                    model_names = list(m00 = "mu = 0, tau = 0", m01 = "mu = 0, tau free",
                                       m10 = "mu free, tau = 0", m11 = "mu free, tau free"),
                    prior_model_probabilities = "equal (1/4 each)"),
  cases = cases)
write_json(out, out_path, auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
message("wrote ", out_path)
