# Reference fits of structured terms on a Bernoulli response whose cs term's
# optimum lies on the far side of the SD = 0 edge (the random intercept model's
# limit rho -> 1): glmmTMB's Laplace fits.
#
# Run from the repository root:
#
#     Rscript tests/reference/glmmtmb_cs_bernoulli.R
#
# Reads tests/reference/data/cs_bernoulli.csv (60 subjects, up to 5 occasions
# t1..t5, a 0/1 response yb, a covariate x) and data/hcs_one_sd.csv (40 subjects,
# occasions o1..o4, successes s and failures f); writes
# tests/reference/glmmtmb_cs_bernoulli.json: per model its id, formula (this
# package's syntax), glmmTMB's call, loglik and fixef. glmmTMB 1.1.5's cs() is
# heterogeneous (this package's hcs); its homogeneous cs is the same term with
# one SD shared by all columns (map).

suppressPackageStartupMessages({
  library(glmmTMB)
  library(jsonlite)
})

d <- read.csv(file.path("tests", "reference", "data", "cs_bernoulli.csv"))
d$occ <- factor(d$occ, levels = paste0("t", 1:5))

fit <- function(id, formula, call, m) {
  list(id = id, formula = formula, reference_call = call,
       # (-objective: logLik() is NA where the Hessian is not positive definite, as
       # at hcs's optimum with two SDs at 0)
       loglik = -m$fit$objective, fixef = as.list(fixef(m)$cond))
}

models <- list(
  fit("cs", "yb ~ x + cs(0 + occ | id)",
      "glmmTMB(yb ~ x + cs(0 + occ | id), family = binomial, map = list(theta = factor(c(1, 1, 1, 1, 1, 2))))",
      glmmTMB(yb ~ x + cs(0 + occ | id), d, family = binomial,
              map = list(theta = factor(c(1, 1, 1, 1, 1, 2))))),
  fit("hcs", "yb ~ x + hcs(0 + occ | id)", "glmmTMB(yb ~ x + cs(0 + occ | id), family = binomial)",
      glmmTMB(yb ~ x + cs(0 + occ | id), d, family = binomial)),
  fit("ar1", "yb ~ x + ar1(0 + occ | id)", "glmmTMB(yb ~ x + ar1(0 + occ | id), family = binomial)",
      glmmTMB(yb ~ x + ar1(0 + occ | id), d, family = binomial)),
  fit("intercept", "yb ~ x + (1 | id)", "glmmTMB(yb ~ x + (1 | id), family = binomial)",
      glmmTMB(yb ~ x + (1 | id), d, family = binomial))
)

# a binomial hcs fit whose search stopped with one SD of four left (the correlation not
# identified there), 0.37 log-likelihood below glmmTMB's optimum
h <- read.csv(file.path("tests", "reference", "data", "hcs_one_sd.csv"))
h$occf <- factor(h$occf, levels = paste0("o", 1:4))
models[[length(models) + 1]] <- fit(
  "hcs_one_sd", "cbind(s, f) ~ occf + hcs(0 + occf | g)",
  "glmmTMB(cbind(s, f) ~ occf + cs(0 + occf | g), family = binomial)  # data/hcs_one_sd.csv",
  glmmTMB(cbind(s, f) ~ occf + cs(0 + occf | g), h, family = binomial))

out <- list(versions = list(R = R.version.string, glmmTMB = as.character(packageVersion("glmmTMB"))),
            models = models)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("tests", "reference", "glmmtmb_cs_bernoulli.json"))
