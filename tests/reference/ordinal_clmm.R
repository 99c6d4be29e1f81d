# Reference fits of cumulative link mixed models by ordinal::clmm.
#
# Run from the repository root, after tests/reference/export_family_datasets.R:
#
#     Rscript tests/reference/ordinal_clmm.R
#
# Writes tests/reference/ordinal_clmm.json: {"versions", "models": [...]}, per
# model: id, dataset, formula, link, nAGQ, nobs, loglik, aic, df (the number
# of parameters), beta and beta_se (the location coefficients), thresholds and
# threshold_se (clmm's Theta "1|2", ...), sd (the random-effects standard
# deviations, in term order), ranef (the first 5 conditional modes of the
# first term), seconds (elapsed, one fit after a warm-up), and anova (a
# likelihood-ratio test of temp, wine).
#
# wine_cloglog is kept as a record, not as a reference: ordinal 2022.11.16's
# clmm with link = "cloglog" fits the log-log distribution F(x) = exp(-exp(-x))
# (at its estimates the log-likelihood integrated numerically is -82.726 under
# that F, its reported value, and -88.863 under the complementary log-log
# F(x) = 1 - exp(-exp(x)) that clm and the documentation use).
#
# Requires ordinal and jsonlite.

suppressPackageStartupMessages({
  library(ordinal)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")

cases <- list(
  list(id = "wine_logit", dataset = "wine", formula = "rating ~ temp + contact + (1 | judge)",
       link = "logit", nAGQ = 1),
  list(id = "wine_agq10", dataset = "wine", formula = "rating ~ temp + contact + (1 | judge)",
       link = "logit", nAGQ = 10),
  list(id = "wine_probit", dataset = "wine", formula = "rating ~ temp + contact + (1 | judge)",
       link = "probit", nAGQ = 1),
  list(id = "wine_cloglog", dataset = "wine", formula = "rating ~ temp + contact + (1 | judge)",
       link = "cloglog", nAGQ = 1),
  list(id = "wine_crossed", dataset = "wine", formula = "rating ~ temp + contact + (1 | judge) + (1 | bottle)",
       link = "logit", nAGQ = 1),
  list(id = "wine_temp", dataset = "wine", formula = "rating ~ temp + (1 | judge)", link = "logit", nAGQ = 1),
  list(id = "soup_probit", dataset = "soup", formula = "SURENESS ~ PROD + (1 | RESP)", link = "probit",
       nAGQ = 1)
)

models <- list()
fits <- list()
for (cs in cases) {
  df <- read_bundled(cs$dataset, data_dir)
  f <- as.formula(cs$formula)
  run <- function() clmm(f, data = df, link = cs$link, nAGQ = cs$nAGQ)
  m <- run()
  secs <- system.time(run())[["elapsed"]]
  fits[[cs$id]] <- m
  V <- vcov(m)
  se <- sqrt(diag(V))
  re <- ranef(m)[[1]]
  models[[length(models) + 1]] <- list(
    id = cs$id, dataset = cs$dataset, formula = cs$formula, link = cs$link, nAGQ = cs$nAGQ,
    nobs = nobs(m), loglik = as.numeric(logLik(m)), aic = AIC(m), df = attr(logLik(m), "df"),
    beta = as.list(m$beta), beta_se = as.list(se[names(m$beta)]),
    thresholds = as.vector(m$Theta), threshold_se = unname(se[seq_along(m$Theta)]),
    sd = unname(sapply(VarCorr(m), function(v) sqrt(v[1, 1]))),
    ranef = head(re[[1]], 5), seconds = secs)
}
a <- anova(fits[["wine_temp"]], fits[["wine_logit"]])
anova_ref <- list(chisq = a$LR.stat[2], df = a$df[2], p = a$`Pr(>Chisq)`[2])

write_json(list(versions = list(r = R.version.string, ordinal = as.character(packageVersion("ordinal"))),
                models = models, anova = anova_ref),
           file.path("tests", "reference", "ordinal_clmm.json"),
           auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
