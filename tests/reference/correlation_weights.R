# Reference figures for a residual correlation with prior weights: nlme's lme with
# weights = varFixed(~ 1 / w) and correlation = corAR1(form = ~ Days | Subject), i.e. the
# residual covariance sigma^2 W^-1/2 C W^-1/2 within each subject; and with a residual SD
# model instead, weights = varIdent(form = ~ 1 | late) (late = Days >= 5), the SD ratio
# estimated with rho (our dispformula = "~ late" with residual = "ar1(Days | Subject)").
#
# Run from the repository root:
#
#     Rscript tests/reference/correlation_weights.R
#
# Writes tests/reference/correlation_weights.json (seconds). Requires nlme and jsonlite.
# Data: the bundled sleepstudy with w = 1 + Days %% 3.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
d <- read_bundled("sleepstudy", file.path("src", "multilevel", "datasets", "data"))
d$w <- 1 + d$Days %% 3
d$iw <- 1 / d$w
out <- list(nlme_version = as.character(packageVersion("nlme")))
for (m in c("ML", "REML")) {
  f <- lme(Reaction ~ Days, random = ~ 1 | Subject, data = d, weights = varFixed(~ iw),
           correlation = corAR1(form = ~ Days | Subject), method = m)
  out[[m]] <- list(loglik = as.numeric(logLik(f)), fixef = unname(fixef(f)), sigma = f$sigma,
                   rho = unname(coef(f$modelStruct$corStruct, unconstrained = FALSE)),
                   sd_subject = as.numeric(VarCorr(f)[1, "StdDev"]), se = unname(sqrt(diag(vcov(f)))))
}
d$late <- factor(ifelse(d$Days >= 5, "late", "early"))
for (m in c("ML", "REML")) {
  f <- lme(Reaction ~ Days, random = ~ 1 | Subject, data = d, weights = varIdent(form = ~ 1 | late),
           correlation = corAR1(form = ~ Days | Subject), method = m)
  out[[paste0("varIdent_", m)]] <- list(
    loglik = as.numeric(logLik(f)), fixef = unname(fixef(f)), sigma = f$sigma,
    rho = unname(coef(f$modelStruct$corStruct, unconstrained = FALSE)),
    sd_ratio = unname(coef(f$modelStruct$varStruct, unconstrained = FALSE)),
    sd_subject = as.numeric(VarCorr(f)[1, "StdDev"]), se = unname(sqrt(diag(vcov(f)))))
}
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), file.path("tests", "reference", "correlation_weights.json"))
