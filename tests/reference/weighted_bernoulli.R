# Log-likelihoods of a 0/1 response with non-integer prior weights.
#
# glmmTMB's is the weighted likelihood that the fit maximises, sum w log p
# (Laplace), and so is ours. R's glm reports binomial()$aic's
# dbinom(round(w y), round(w), mu), which drops the rows of weight below 0.5.
# lme4 agrees with glmmTMB where every weight is at least 0.5, but not here,
# where 32 weights are below it: its criterion differs (its own optimum has a
# lower lme4 deviance than glmmTMB's), and lme4 warns "non-integer
# #successes". It is kept for the record, not compared with.
#
# Run from the repository root:
#
#     Rscript tests/reference/weighted_bernoulli.R
#
# Reads tests/reference/data/weighted_bernoulli.csv (300 rows, 25 groups,
# weights uniform on 0.3-2) and writes tests/reference/weighted_bernoulli.json:
# {"glmmTMB": {loglik, sd, fixef}, "lme4": {loglik, theta}, "glm": {loglik, fixef}}.
suppressMessages({library(lme4); library(glmmTMB); library(jsonlite)})
d <- read.csv("tests/reference/data/weighted_bernoulli.csv")
t <- suppressWarnings(glmmTMB(y ~ x + (1 | g), d, family = binomial, weights = w))
m <- suppressWarnings(glmer(y ~ x + (1 | g), d, family = binomial, weights = w))
l <- suppressWarnings(glm(y ~ x, binomial, d, weights = w))
out <- list(r_version = R.version.string, glmmTMB_version = as.character(packageVersion("glmmTMB")),
            lme4_version = as.character(packageVersion("lme4")),
            glmmTMB = list(loglik = as.numeric(logLik(t)), sd = sqrt(VarCorr(t)$cond$g[1]),
                           fixef = as.list(fixef(t)$cond)),
            lme4 = list(loglik = as.numeric(logLik(m)), theta = unname(getME(m, "theta"))),
            glm = list(loglik = as.numeric(logLik(l)), fixef = as.list(coef(l))))
writeLines(toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE), "tests/reference/weighted_bernoulli.json")
