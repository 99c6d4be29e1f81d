# nlme's gls on three simulated repeated-measures data sets where a search
# can go wrong (tests/reference/data/gls_*.csv, written by a random-data
# comparison of ml.gls with nlme):
#   gls_two_optima:      corSymm with varIdent by treatment, ML: the
#                        criterion has a second, lower optimum near the start;
#   gls_car1_near_zero:  corCAR1 over real times with varIdent by occasion,
#                        ML: the correlation's optimum is at 0;
#   gls_large_offset:    corAR1 with a predictor near 1e8 (x + 1e8), REML:
#                        fitted by nlme on x - 1e8 (its own fit of the
#                        shifted design is singular), with anova's F tests.
#
# Run from the repository root:
#
#     Rscript tests/reference/gls_hard_cases.R
#
# Writes tests/reference/gls_hard_cases.json: per case: id, formula, residual,
# dispformula, reml, loglik (and the F tests of the last).
#
# Requires nlme and jsonlite.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})
dir <- file.path("tests", "reference", "data")
read <- function(name) read.csv(file.path(dir, paste0(name, ".csv")), stringsAsFactors = TRUE)
out <- list()
d <- read("gls_two_optima")
d$occi <- as.integer(sub("v", "", d$occ))
m <- gls(y ~ trt + x + time, data = d, correlation = corSymm(form = ~ occi | g),
         weights = varIdent(form = ~ 1 | trt), method = "ML", control = glsControl(maxIter = 500, msMaxIter = 500))
out[[1]] <- list(id = "two_optima", formula = "y ~ trt + x + time", residual = "us(occ | g)", dispformula = "~ trt",
                 reml = FALSE, loglik = as.numeric(logLik(m)))
d <- read("gls_car1_near_zero")
m <- gls(y ~ trt + x + occ, data = d, correlation = corCAR1(form = ~ rtime | g),
         weights = varIdent(form = ~ 1 | occ), method = "ML")
out[[2]] <- list(id = "car1_near_zero", formula = "y ~ trt + x + occ", residual = "ar1(rtime | g)",
                 dispformula = "~ occ", reml = FALSE, loglik = as.numeric(logLik(m)),
                 phi = unname(coef(m$modelStruct$corStruct, unconstrained = FALSE)))
d <- read("gls_large_offset")
d$x0 <- d$x - 1e8
m <- gls(y ~ trt + x0 + occ, data = d, correlation = corAR1(form = ~ time | g), method = "REML")
a <- anova(m, type = "sequential")
b <- anova(m, type = "marginal")
out[[3]] <- list(id = "large_offset", formula = "y ~ trt + x + occ", residual = "ar1(time | g)", dispformula = NULL,
                 reml = TRUE, loglik = as.numeric(logLik(m)), terms = rownames(a),
                 F_sequential = a$`F-value`, F_marginal = b$`F-value`)
write_json(list(versions = list(r = R.version.string, nlme = as.character(packageVersion("nlme"))), cases = out),
           file.path("tests", "reference", "gls_hard_cases.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE)
