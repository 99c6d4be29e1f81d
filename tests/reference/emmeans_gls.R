# Reference marginal means of generalized least squares fits (ml.emmeans on
# ml.gls): emmeans 1.8 on nlme's gls, the MMRM of Orthodont (visit as a
# factor, corSymm with varIdent by visit, REML) and a compound-symmetric fit.
# emmeans' default df for gls ("appx-satterthwaite") perturbs the data at
# random, so the tables here use mode = "df.error" (n - p - the number of
# variance parameters), which is exact; their means, standard errors and
# intervals do not depend on the mode.
#
# Run from the repository root:
#
#     Rscript tests/reference/emmeans_gls.R
#
# Writes tests/reference/emmeans_gls.json: per case: id, formula, residual,
# dispformula, specs, the means table (emmean, SE, df, lower.CL, upper.CL) and
# the Tukey-adjusted pairs (estimate, SE, df, t.ratio, p.value).
#
# Requires nlme, emmeans and jsonlite.

suppressPackageStartupMessages({
  library(nlme)
  library(emmeans)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
o <- orthodont_visits(file.path("src", "multilevel", "datasets", "data"))

table_of <- function(x) {
  d <- as.data.frame(summary(x))
  lapply(d, function(col) if (is.factor(col)) as.character(col) else col)
}
cases <- list(
  list(id = "mmrm", formula = "distance ~ visitf * Sex", residual = "us(visitf | Subject)",
       dispformula = "~ visitf", specs = "~ Sex | visitf",
       fit = function() gls(distance ~ visitf * Sex, data = o, correlation = corSymm(form = ~ visit | Subject),
                            weights = varIdent(form = ~ 1 | visitf))),
  list(id = "cs_sex", formula = "distance ~ age + Sex", residual = "cs(1 | Subject)", dispformula = NULL,
       specs = "~ Sex",
       fit = function() gls(distance ~ age + Sex, data = o, correlation = corCompSymm(form = ~ 1 | Subject)))
)
out <- list()
for (cs in cases) {
  m <- cs$fit()
  emm <- emmeans(m, as.formula(cs$specs), mode = "df.error")
  out[[length(out) + 1]] <- list(id = cs$id, formula = cs$formula, residual = cs$residual,
                                 dispformula = cs$dispformula, specs = cs$specs,
                                 means = table_of(emm), pairs = table_of(pairs(emm)))
}
write_json(list(versions = list(r = R.version.string, nlme = as.character(packageVersion("nlme")),
                                emmeans = as.character(packageVersion("emmeans"))), cases = out),
           file.path("tests", "reference", "emmeans_gls.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE,
           na = "null")
