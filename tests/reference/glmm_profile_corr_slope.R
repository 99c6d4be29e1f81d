# Reference figures for the profile interval of a correlation whose profile runs toward -1:
# a binomial GLMM with a correlated random slope, cbind(succ, fail) ~ x + (1 + x | g), on
# simulated data (tests/reference/data/glmm_corr_slope.csv: 180 rows, 20 groups g, a
# covariate x and binomial counts). The correlation's estimate is -0.65; lme4's lower limit
# is -0.912, where a profile that restarts from the boundary (an SD at zero) stays flat.
#
# Run from the repository root:
#
#     Rscript tests/reference/glmm_profile_corr_slope.R
#
# Writes tests/reference/glmm_profile_corr_slope.json (seconds). Requires lme4 and jsonlite.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
d <- read.csv(file.path("tests", "reference", "data", "glmm_corr_slope.csv"))
m <- glmer(cbind(succ, fail) ~ x + (1 + x | g), d, family = binomial)
ci <- suppressMessages(confint(m, oldNames = FALSE))
out <- list(lme4_version = as.character(packageVersion("lme4")), loglik = as.numeric(logLik(m)),
            parameters = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE),
           file.path("tests", "reference", "glmm_profile_corr_slope.json"))
