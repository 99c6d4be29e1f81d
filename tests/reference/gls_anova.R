# Reference F tests of generalized least squares fits (GlsResult.anova): nlme's
# anova.gls, sequential (its default) and marginal, on the Orthodont MMRM
# (visit as a factor, corSymm with varIdent, REML and ML) and a compound-
# symmetric fit with a covariate interaction.
#
# Run from the repository root:
#
#     Rscript tests/reference/gls_anova.R
#
# Writes tests/reference/gls_anova.json: per case: id, formula, residual,
# dispformula, reml, type, terms, numDF, F, p, and the denominator df.
#
# Requires nlme and jsonlite.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
o <- orthodont_visits(file.path("src", "multilevel", "datasets", "data"))
fits <- list(
  list(id = "mmrm_reml", formula = "distance ~ visitf * Sex", residual = "us(visitf | Subject)",
       dispformula = "~ visitf", reml = TRUE,
       fit = function(m) gls(distance ~ visitf * Sex, data = o, correlation = corSymm(form = ~ visit | Subject),
                             weights = varIdent(form = ~ 1 | visitf), method = m)),
  list(id = "mmrm_ml", formula = "distance ~ visitf * Sex", residual = "us(visitf | Subject)",
       dispformula = "~ visitf", reml = FALSE,
       fit = function(m) gls(distance ~ visitf * Sex, data = o, correlation = corSymm(form = ~ visit | Subject),
                             weights = varIdent(form = ~ 1 | visitf), method = m)),
  list(id = "cs_age_sex", formula = "distance ~ age * Sex", residual = "cs(1 | Subject)", dispformula = NULL,
       reml = TRUE,
       fit = function(m) gls(distance ~ age * Sex, data = o, correlation = corCompSymm(form = ~ 1 | Subject),
                             method = m))
)
out <- list()
for (cs in fits) {
  m <- cs$fit(if (cs$reml) "REML" else "ML")
  for (type in c("sequential", "marginal")) {
    a <- anova(m, type = type)
    out[[length(out) + 1]] <- list(id = cs$id, formula = cs$formula, residual = cs$residual,
                                   dispformula = cs$dispformula, reml = cs$reml, type = type,
                                   terms = rownames(a), numDF = a$numDF, F = a$`F-value`, p = a$`p-value`,
                                   denDF = m$dims$N - m$dims$p)
  }
}
write_json(list(versions = list(r = R.version.string, nlme = as.character(packageVersion("nlme"))), cases = out),
           file.path("tests", "reference", "gls_anova.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE)
