# Reference figures for emmeans' cov.reduce: the covariates of the reference grid at
# their median, their range (minimum and maximum, averaged over), or a function's values.
#
# Run from the repository root:
#
#     Rscript tests/reference/emmeans_cov_reduce.R
#
# Writes tests/reference/emmeans_cov_reduce.json (seconds). Requires lme4, emmeans,
# pbkrtest and jsonlite. Model (REML) on the bundled exam data:
#
#   normexam ~ standLRT + sex + schgend + (1 | school), means of schgend, Kenward-Roger df

suppressPackageStartupMessages({
  library(lme4)
  library(emmeans)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
exam <- read_bundled("exam", data_dir)
m <- lmer(normexam ~ standLRT + sex + schgend + (1 | school), exam)
emm_options(pbkrtest.limit = 5000, lmerTest.limit = 5000)  # Kenward-Roger df at 4,059 rows

table_of <- function(em) {
  s <- as.data.frame(summary(em))
  list(level = as.character(s[[1]]), emmean = s$emmean, SE = s$SE, df = s$df,
       lower = s$lower.CL, upper = s$upper.CL)
}
quartiles <- function(x) quantile(x, c(0.25, 0.75), names = FALSE)
out <- list(
  emmeans_version = as.character(packageVersion("emmeans")),
  mean = table_of(emmeans(m, "schgend")),
  median = table_of(emmeans(m, "schgend", cov.reduce = median)),
  range = table_of(emmeans(m, "schgend", cov.reduce = range)),
  quartiles = table_of(emmeans(m, "schgend", cov.reduce = quartiles)),
  range_rg = list(standLRT = unique(ref_grid(m, cov.reduce = range)@grid$standLRT))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), file.path("tests", "reference", "emmeans_cov_reduce.json"))
