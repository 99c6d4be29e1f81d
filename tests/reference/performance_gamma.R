# Reference figures for the ICC and Nakagawa's R2 of a Gamma GLMM with the log link, as
# performance computes them (insight's distribution-specific variance of a Gamma model is
# sigma^2, glmmTMB's squared coefficient of variation 1 / shape).
#
# Run from the repository root:
#
#     Rscript tests/reference/performance_gamma.R
#
# Writes tests/reference/performance_gamma.json (seconds). Requires glmmTMB, performance,
# insight and jsonlite. Models (glmmTMB, Laplace) on the bundled data:
#
#   cake:  angle ~ recipe + temp + (1 | recipe:replicate)     Gamma(link = "log")
#   sleep: Reaction ~ Days + (1 | Subject)                     Gamma(link = "log")

suppressPackageStartupMessages({
  library(glmmTMB)
  library(performance)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
fits <- list(
  cake = glmmTMB(angle ~ recipe + temp + (1 | recipe:replicate), read_bundled("cake", data_dir),
                 family = Gamma(link = "log")),
  sleep = glmmTMB(Reaction ~ Days + (1 | Subject), read_bundled("sleepstudy", data_dir),
                  family = Gamma(link = "log"))
)
out <- list(performance_version = as.character(packageVersion("performance")),
            insight_version = as.character(packageVersion("insight")))
for (nm in names(fits)) {
  m <- fits[[nm]]
  v <- insight::get_variance(m)
  i <- icc(m)
  r <- r2_nakagawa(m)
  out[[nm]] <- list(loglik = as.numeric(logLik(m)), sigma = sigma(m),
                    var_fixed = v$var.fixed, var_random = v$var.random,
                    var_distribution = v$var.distribution,
                    icc_adjusted = i$ICC_adjusted, icc_unadjusted = i$ICC_unadjusted,
                    r2_conditional = r$R2_conditional, r2_marginal = r$R2_marginal)
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), file.path("tests", "reference", "performance_gamma.json"))
