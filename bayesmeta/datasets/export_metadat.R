# Export the metadat tables bundled with bayesmeta.datasets (kept for provenance).
#
# Run once from the repository root:
#     Rscript bayesmeta/datasets/export_metadat.R
# The package itself never needs R. Last run with R 4.2.2 and metadat 1.2-0.
# The tables are written exactly as metadat holds them: same columns, same order, same values.

suppressPackageStartupMessages(library(metadat))

out_dir <- file.path("bayesmeta", "datasets")
if (!dir.exists(out_dir)) stop("run from the repository root: ", out_dir, " not found")

export <- function(df, file) {
  path <- file.path(out_dir, file)
  utils::write.csv(df, path, row.names = FALSE, na = "", fileEncoding = "UTF-8")
  message(sprintf("wrote %s (%d rows, %d columns)", path, nrow(df), ncol(df)))
}

message("R ", getRversion(), "; metadat ", format(utils::packageVersion("metadat")))

# Colditz et al. (1994) JAMA 271(9):698-702: 13 BCG vaccine trials (2x2 tables).
export(metadat::dat.bcg, "bcg.csv")

# Normand (1999) Stat Med 18(3):321-359: length of stay of stroke patients, 9 studies.
export(metadat::dat.normand1999, "normand1999.csv")
