# Reference values for bayesmeta.effect_sizes, pinned to metafor::escalc.
#
# Run from the repository root:
#     Rscript models/escalc/make_reference.R
# Writes
#     models/escalc/reference.json         metafor::escalc() output, one case per call
#     models/escalc/revman_reference.json  RevMan 5 SMD, coded here straight from
#                                          Deeks & Higgins (2010), independent of the Python code
# The tests read both files; they never run R.

suppressPackageStartupMessages({
  library(metafor)
  library(jsonlite)
})

out_dir <- file.path("models", "escalc")
if (!dir.exists(out_dir)) stop("run this script from the repository root")

cases <- list()

# One reference case: run escalc() with `args` (options) on `data` (vectors), keep the call text.
add_case <- function(id, measure, data, args = list()) {
  res <- do.call(metafor::escalc, c(list(measure = measure), data, args))
  arg_txt <- c(
    sprintf("\"%s\"", measure),
    vapply(names(data), function(nm) {
      sprintf("%s=c(%s)", nm, paste(format(data[[nm]], digits = 17, trim = TRUE), collapse = ","))
    }, ""),
    vapply(names(args), function(nm) {
      paste0(nm, "=", paste(deparse(args[[nm]]), collapse = ""))
    }, character(1))
  )
  cases[[length(cases) + 1L]] <<- list(
    id = id,
    call = paste0("escalc(", paste(arg_txt, collapse = ", "), ")"),
    args = c(list(measure = measure), args),
    data = lapply(data, as.numeric),
    expected = list(yi = as.numeric(res$yi), vi = as.numeric(res$vi))
  )
}

# ---- continuous outcomes -----------------------------------------------------------------
nd <- dat.normand1999
normand <- list(m1i = nd$m1i, sd1i = nd$sd1i, n1i = nd$n1i,
                m2i = nd$m2i, sd2i = nd$sd2i, n2i = nd$n2i)
for (vt in c("LS", "UB", "LS2", "AV")) {
  add_case(paste0("normand1999_SMD_", vt), "SMD", normand, list(vtype = vt))
}
for (vt in c("LS", "UB", "HO")) {
  add_case(paste0("normand1999_MD_", vt), "MD", normand, list(vtype = vt))
}

# Small arms: n = 2 or 3 per arm (m = n1 + n2 - 2 as small as 2).
small <- list(m1i = c(1.2, 0.3, -2.0, 5.5), sd1i = c(0.8, 1.1, 2.5, 0.4), n1i = c(2, 3, 2, 3),
              m2i = c(0.4, 0.9, -1.0, 4.1), sd2i = c(1.0, 0.7, 1.5, 0.9), n2i = c(2, 2, 3, 3))
for (vt in c("LS", "UB", "LS2", "AV")) {
  add_case(paste0("small_n_SMD_", vt), "SMD", small, list(vtype = vt))
}
add_case("small_n_MD_LS", "MD", small, list(vtype = "LS"))

# Very unbalanced arms.
unbal <- list(m1i = c(10.0, 3.1, 0.0), sd1i = c(2.0, 1.0, 4.0), n1i = c(2, 1000, 5),
              m2i = c(12.5, 2.0, 1.0), sd2i = c(3.0, 1.5, 0.5), n2i = c(2000, 3, 5000))
for (vt in c("LS", "UB", "LS2", "AV")) {
  add_case(paste0("unbalanced_SMD_", vt), "SMD", unbal, list(vtype = vt))
}
add_case("unbalanced_MD_HO", "MD", unbal, list(vtype = "HO"))

# ---- 2x2 tables --------------------------------------------------------------------------
bcg <- list(ai = dat.bcg$tpos, bi = dat.bcg$tneg, ci = dat.bcg$cpos, di = dat.bcg$cneg)
add_case("bcg_OR", "OR", bcg)
add_case("bcg_RR", "RR", bcg)
for (vt in c("LS", "UB", "AV")) add_case(paste0("bcg_RD_", vt), "RD", bcg, list(vtype = vt))
add_case("bcg_OR_if0all", "OR", bcg, list(to = "if0all"))  # no zero cell: nothing added
# bcg plus one double-zero study: dropped by drop00, so it must not trigger "if0all"
bcg00 <- lapply(bcg, function(x) c(x, 0))
bcg00$bi[14] <- 10
bcg00$di[14] <- 12
add_case("bcg00_OR_drop00_if0all", "OR", bcg00, list(to = "if0all", drop00 = TRUE))
add_case("bcg00_OR_if0all", "OR", bcg00, list(to = "if0all"))

# Constructed zeros: single-zero arms, double zero, an all-event arm, all events in both arms,
# zero vs all events, arms of one participant.
#   row: 1 0/20 v 5/20 | 2 3/15 v 0/12 | 3 0/10 v 0/12 | 4 10/10 v 7/9 | 5 8/8 v 9/9
#        6 4/25 v 9/26 | 7 0/1 v 1/1   | 8 0/5 v 5/5
ai <- c(0, 3, 0, 10, 8, 4, 0, 0)
n1 <- c(20, 15, 10, 10, 8, 25, 1, 5)
ci <- c(5, 0, 0, 7, 9, 9, 1, 5)
n2 <- c(20, 12, 12, 9, 9, 26, 1, 5)
zeros <- list(ai = ai, bi = n1 - ai, ci = ci, di = n2 - ci)
options_2x2 <- list(
  default = list(),
  to_all = list(add = 1/2, to = "all"),
  to_if0all = list(add = 1/2, to = "if0all"),
  to_none = list(to = "none"),
  add_0 = list(add = 0),
  drop00 = list(drop00 = TRUE),
  drop00_if0all = list(drop00 = TRUE, to = "if0all"),
  add_1 = list(add = 1)
)
for (ms in c("OR", "RR", "RD")) {
  for (nm in names(options_2x2)) {
    add_case(paste0("zeros_", ms, "_", nm), ms, zeros, options_2x2[[nm]])
  }
}
for (vt in c("UB", "AV")) {
  add_case(paste0("zeros_RD_default_", vt), "RD", zeros, list(vtype = vt))
  add_case(paste0("zeros_RD_drop00_", vt), "RD", zeros, list(vtype = vt, drop00 = TRUE))
  add_case(paste0("zeros_RD_to_none_", vt), "RD", zeros, list(vtype = vt, to = "none"))
}

provenance <- list(
  script = "models/escalc/make_reference.R",
  R = R.version.string,
  metafor = as.character(packageVersion("metafor")),
  metadat = as.character(packageVersion("metadat")),
  jsonlite = as.character(packageVersion("jsonlite")),
  generated = format(Sys.time(), "%Y-%m-%dT%H:%M:%S%z")
)
write_json(list(provenance = provenance, cases = cases),
           file.path(out_dir, "reference.json"),
           digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")

# ---- RevMan 5 SMD, coded from the published formula -----------------------------------------
# Deeks JJ, Higgins JPT (2010). Statistical algorithms in Review Manager 5. Section on
# "Standardized mean difference": Hedges' adjusted g with the approximate correction
#   g = d * (1 - 3 / (4 N - 9)),  SE(g) = sqrt(N / (n1 n2) + g^2 / (2 (N - 3.94))),
# d = (m1 - m2) / s, s the pooled SD with divisor N - 2, N = n1 + n2.
revman_smd <- function(m1i, sd1i, n1i, m2i, sd2i, n2i) {
  N <- n1i + n2i
  s <- sqrt(((n1i - 1) * sd1i^2 + (n2i - 1) * sd2i^2) / (N - 2))
  g <- (m1i - m2i) / s * (1 - 3 / (4 * N - 9))
  list(yi = g, vi = N / (n1i * n2i) + g^2 / (2 * (N - 3.94)))
}
rv_cases <- list()
for (nm in c("normand1999", "small_n", "unbalanced")) {
  d <- switch(nm, normand1999 = normand, small_n = small, unbalanced = unbal)
  rv_cases[[length(rv_cases) + 1L]] <- list(
    id = paste0(nm, "_SMD_revman"),
    formula = "Deeks & Higgins (2010): g = d (1 - 3/(4N - 9)); vi = N/(n1 n2) + g^2/(2 (N - 3.94))",
    args = list(measure = "SMD", convention = "revman"),
    data = lapply(d, as.numeric),
    expected = do.call(revman_smd, d)
  )
}
write_json(list(provenance = c(provenance, list(
  note = "No R implementation of RevMan 5 exists; these values apply the published formula in R."
)), cases = rv_cases),
file.path(out_dir, "revman_reference.json"),
digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null")

cat(sprintf("wrote %d metafor cases and %d RevMan cases\n", length(cases), length(rv_cases)))
