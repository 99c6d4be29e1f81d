# Reference figures for the hat values of GLMMs. `hat` is lme4's hatvalues.merMod of a
# glmer fit: the prior weights' square roots through the final PIRLS factor L, RZX and RX
# (lme4 warns that "the hat matrix may not make sense for GLMMs": with the working
# weights inside L and the prior weights outside, its values are not leverages and can
# exceed 1). `hat_working` is the same formula with the working weights' square roots
# (m@resp$sqrtXwt) on both sides: the leverages of the penalised weighted least-squares
# problem at convergence, in [0, 1], the GLMM's analogue of hatvalues.glm.
#
# Run from the repository root:
#
#     Rscript tests/reference/glmm_hatvalues.R
#
# Writes tests/reference/glmm_hatvalues.json (seconds). Requires lme4 and jsonlite.
# Models (Laplace), on the bundled data read back with their factor levels:
#
#   cbpp:        cbind(incidence, size - incidence) ~ period + (1 | herd)      binomial
#   grouseticks: TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)          poisson
#   cbpp_probit: the cbpp model with the probit link
#   verbagg:     r2 ~ Anger + Gender + btype + (1 | id) + (1 | item)            bernoulli, crossed
#   cbpp_nagq0:  the cbpp model with nAGQ = 0

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")

cbpp <- read_bundled("cbpp", data_dir)
grouse <- read_bundled("grouseticks", data_dir)
verb <- read_bundled("verbagg", data_dir)

fits <- list(
  cbpp = glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial),
  grouseticks = glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION), grouse, family = poisson),
  cbpp_probit = glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
                      family = binomial(link = "probit")),
  verbagg = glmer(r2 ~ Anger + Gender + btype + (1 | id) + (1 | item), verb, family = binomial),
  cbpp_nagq0 = glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial,
                     nAGQ = 0)
)
out <- list(lme4_version = as.character(packageVersion("lme4")))
for (nm in names(fits)) {
  m <- fits[[nm]]
  h <- suppressWarnings(hatvalues(m))
  hw <- with(getME(m, c("L", "Lambdat", "Zt", "RX", "X", "RZX")), {
    sqrtW <- Diagonal(x = as.numeric(m@resp$sqrtXwt))
    CL <- solve(L, solve(L, Lambdat %*% Zt %*% sqrtW, system = "P"), system = "L")
    CR <- solve(t(RX), t(X) %*% sqrtW - crossprod(RZX, CL))
    colSums(CR^2) + colSums(CL^2)
  })
  out[[nm]] <- list(formula = deparse1(formula(m)), family = family(m)$family, link = family(m)$link,
                    deviance = deviance(m), hat = unname(as.numeric(h)),
                    hat_working = unname(as.numeric(hw)), hat_working_sum = sum(hw),
                    hat_sum = sum(h), cooks = unname(as.numeric(suppressWarnings(cooks.distance(m)))))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), file.path("tests", "reference", "glmm_hatvalues.json"))
