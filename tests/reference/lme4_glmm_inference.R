# Reference figures for inference on generalized linear mixed models (glmer):
# profile and Wald confidence intervals, likelihood-ratio tests (anova of two
# nested fits), and the ICC / Nakagawa R2 of the performance package.
#
# Run from the repository root:
#
#     Rscript tests/reference/lme4_glmm_inference.R
#
# Writes tests/reference/lme4_glmm_inference.json (a few seconds to a minute;
# the profile of the grouseticks model is the slow part).
#
# The data are read back from the bundled CSV files in
# src/multilevel/datasets/data/ (cbpp, grouseticks) with the factor levels
# restored from the JSON sidecars, exactly as in lme4_glmm.R, so that the
# factor codings (period in cbpp; YEAR, BROOD, LOCATION in grouseticks) are
# those of the Python side.  All models use glmer's defaults (Laplace,
# nAGQ = 1, default control):
#
#   m1: cbind(incidence, size - incidence) ~ period + (1 | herd)   binomial
#   m0: cbind(incidence, size - incidence) ~ 1 + (1 | herd)        binomial
#   g1: TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)      poisson
#   g0: TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)                poisson
#
# Layout of the JSON:
#   {"cbpp": {model}, "grouseticks": {model},
#    "anova_cbpp": {anova}, "anova_grouseticks": {anova},
#    "versions": {...}, "notes": [...]}
#
#   model (for m1 and g1):
#     formula, family, link, nobs, ngroups, fit_conditions (messages and
#     warnings emitted by glmer), singular;
#     loglik, df, aic, bic;
#     fixef, se (sqrt(diag(vcov))), theta (getME(m, "theta"), named as lme4
#     names it, e.g. "herd.(Intercept)"); for these intercept-only random
#     effects theta is the random-effect standard deviation;
#     sig_names: the .sigNN row names of confint -> the theta name;
#     confint_profile: confint(m, method = "profile"), level 0.95;
#     confint_wald:    confint(m, method = "Wald") (NA -> null for the
#                      variance-parameter rows, as lme4 gives them);
#       each confint is {rownames, colnames, lower, upper}, rows in R's order;
#     confint_profile_conditions: messages / warnings of the profile confint;
#     icc:  performance::icc(m): ICC_adjusted, ICC_unadjusted, and the
#           warnings it emitted (the value is recorded even when it warns;
#           if it failed, "error" holds the message and the values are null);
#     icc_by_group: performance::icc(m, by_group = TRUE) (group, ICC);
#     r2_nakagawa: performance::r2_nakagawa(m): R2_conditional, R2_marginal
#           and warnings (as for icc);
#     variance_components: insight::get_variance(m) (var.fixed, var.random,
#           var.residual, var.distribution, var.dispersion, var.intercept),
#           the pieces icc() and r2_nakagawa() are built from, plus
#           null_model_intercept / null_model_loglik (insight::null_model(m),
#           the refit with only an intercept) and mu = exp(null intercept):
#           for the Poisson model var.distribution = log1p(1 / mu), for the
#           logit model it is pi^2 / 3;
#
#   anova: anova(m0, m1) (resp. anova(g0, g1)): rownames ("m0", "m1"),
#     formulas, and one array per column in R's order: npar, AIC, BIC,
#     logLik, deviance, Chisq, Df, Pr(>Chisq) (null for the first row where
#     R has NA).
#
# Requires the R packages lme4, performance (with insight) and jsonlite.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
  library(performance)
})

data_dir <- file.path("src", "multilevel", "datasets", "data")
out_file <- file.path("tests", "reference", "lme4_glmm_inference.json")


## Reading the bundled data ---------------------------------------------------

source(file.path("tests", "reference", "reference_helpers.R"))  # read_bundled, capture, ci_json

cbpp <- read_bundled("cbpp", data_dir)
grouseticks <- read_bundled("grouseticks", data_dir)

# The bundled data must be lme4's own (cHEIGHT is written at 15 digits).
local({
  strip <- function(d) { d <- as.data.frame(d); rownames(d) <- NULL; d }
  stopifnot(isTRUE(all.equal(strip(cbpp), strip(lme4::cbpp),
                             check.attributes = FALSE)))
  stopifnot(isTRUE(all.equal(strip(grouseticks), strip(lme4::grouseticks),
                             check.attributes = FALSE, tolerance = 1e-13)))
})


## Helpers -------------------------------------------------------------------

# Evaluate `expr`, collecting (and muffling) messages and warnings.  Errors
# are caught and returned as text.


num_or_null <- function(x) if (is.null(x)) NULL else unname(as.numeric(x))

icc_json <- function(m) {
  r <- capture(performance::icc(m))
  v <- r$value
  list(ICC_adjusted = num_or_null(v$ICC_adjusted),
       ICC_unadjusted = num_or_null(v$ICC_unadjusted),
       warnings = I(r$warnings), error = r$error)
}

icc_group_json <- function(m) {
  r <- capture(performance::icc(m, by_group = TRUE))
  v <- r$value
  list(group = if (is.null(v)) NULL else I(as.character(v$Group)),
       ICC = if (is.null(v)) NULL else I(unname(as.numeric(v$ICC))),
       warnings = I(r$warnings), error = r$error)
}

r2_json <- function(m) {
  r <- capture(performance::r2_nakagawa(m))
  v <- r$value
  list(R2_conditional = num_or_null(v$R2_conditional),
       R2_marginal = num_or_null(v$R2_marginal),
       warnings = I(r$warnings), error = r$error)
}

variance_json <- function(m) {
  r <- capture(insight::get_variance(m))
  v <- r$value
  out <- lapply(v, function(x) {
    if (length(x) > 1L || !is.null(names(x))) as.list(x) else unname(x)
  })
  # The distribution-specific variance of a Poisson model is log1p(1 / mu)
  # with mu = exp(intercept of the null model, the same random effects and
  # only an intercept), which insight refits.
  nm <- capture(insight::null_model(m))
  null_int <- if (is.null(nm$value)) NULL else unname(fixef(nm$value)[1])
  c(out, list(null_model_intercept = null_int,
              null_model_loglik = if (is.null(nm$value)) NULL
                                  else as.numeric(logLik(nm$value)),
              mu = if (is.null(null_int)) NULL else exp(null_int),
              warnings = I(r$warnings), error = r$error))
}

fit <- function(formula, data, family) {
  r <- capture(glmer(as.formula(formula), data = data, family = family))
  if (!is.null(r$error)) stop(r$error)
  m <- r$value
  attr(m, "fit_conditions") <- r$conditions
  m
}

describe <- function(m, formula) {
  ll <- logLik(m)
  fe <- fixef(m)
  th <- getME(m, "theta")
  fam <- family(m)

  prof <- capture(confint(m, method = "profile"))
  if (!is.null(prof$error)) stop("profile confint: ", prof$error)
  wald <- capture(confint(m, method = "Wald"))
  if (!is.null(wald$error)) stop("Wald confint: ", wald$error)

  sig_rows <- grep("^\\.sig", rownames(prof$value), value = TRUE)
  stopifnot(length(sig_rows) == length(th))

  list(
    formula = formula,
    family = fam$family,
    link = fam$link,
    nobs = nobs(m),
    ngroups = as.list(ngrps(m)),
    fit_conditions = I(attr(m, "fit_conditions")),
    singular = isSingular(m),
    loglik = as.numeric(ll),
    df = attr(ll, "df"),
    aic = AIC(m),
    bic = BIC(m),
    fixef = as.list(fe),
    se = as.list(setNames(sqrt(diag(as.matrix(vcov(m)))), names(fe))),
    theta = as.list(th),
    sig_names = as.list(setNames(names(th), sig_rows)),
    confint_profile = ci_json(prof$value),
    confint_profile_conditions = I(prof$conditions),
    confint_wald = ci_json(wald$value),
    icc = icc_json(m),
    icc_by_group = icc_group_json(m),
    r2_nakagawa = r2_json(m),
    variance_components = variance_json(m)
  )
}

anova_json <- function(a, formulas) {
  a <- as.data.frame(a)
  out <- list(rownames = I(rownames(a)), formulas = as.list(formulas))
  for (col in names(a)) out[[col]] <- unname(a[[col]])
  out
}


## cbpp ----------------------------------------------------------------------

f_m1 <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
f_m0 <- "cbind(incidence, size - incidence) ~ 1 + (1 | herd)"
m1 <- fit(f_m1, cbpp, binomial)
m0 <- fit(f_m0, cbpp, binomial)

cbpp_out <- describe(m1, f_m1)
a_cbpp <- capture(anova(m0, m1))
if (!is.null(a_cbpp$error)) stop(a_cbpp$error)
anova_cbpp <- c(anova_json(a_cbpp$value, list(m0 = f_m0, m1 = f_m1)),
                list(conditions = I(a_cbpp$conditions),
                     fit_conditions_m0 = I(attr(m0, "fit_conditions"))))


## grouseticks ---------------------------------------------------------------

f_g1 <- "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"
f_g0 <- "TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)"
g1 <- fit(f_g1, grouseticks, poisson)
g0 <- fit(f_g0, grouseticks, poisson)

grouse_out <- describe(g1, f_g1)
a_grouse <- capture(anova(g0, g1))
if (!is.null(a_grouse$error)) stop(a_grouse$error)
anova_grouse <- c(anova_json(a_grouse$value, list(g0 = f_g0, g1 = f_g1)),
                  list(conditions = I(a_grouse$conditions),
                       fit_conditions_g0 = I(attr(g0, "fit_conditions"))))


## Sanity checks -------------------------------------------------------------

near <- function(x, y, tol) isTRUE(all(abs(unlist(x) - y) < tol))
# lme4's ?cbpp / ?glmer example: logLik -92.03, herd sd 0.642.
stopifnot(near(cbpp_out$loglik, -92.0266, 1e-3),
          near(cbpp_out$theta, 0.6421, 1e-3))
# The LRT statistic is twice the difference of the log-likelihoods.
stopifnot(near(anova_cbpp$Chisq[2],
               2 * (as.numeric(logLik(m1)) - as.numeric(logLik(m0))), 1e-8),
          near(anova_grouse$Chisq[2],
               2 * (as.numeric(logLik(g1)) - as.numeric(logLik(g0))), 1e-8))
# The profile interval contains the estimate.
local({
  for (o in list(cbpp_out, grouse_out)) {
    est <- c(unlist(o$theta), unlist(o$fixef))
    stopifnot(all(o$confint_profile$lower <= est + 1e-8),
              all(o$confint_profile$upper >= est - 1e-8))
  }
})


## Output --------------------------------------------------------------------

si <- sessionInfo()
pkg_version <- function(p) as.character(packageVersion(p))
versions <- list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  R_version_string = si$R.version$version.string,
  platform = si$platform,
  lme4 = pkg_version("lme4"),
  performance = pkg_version("performance"),
  insight = pkg_version("insight"),
  Matrix = pkg_version("Matrix"),
  jsonlite = pkg_version("jsonlite")
)

out <- list(
  cbpp = cbpp_out,
  grouseticks = grouse_out,
  anova_cbpp = anova_cbpp,
  anova_grouseticks = anova_grouse,
  versions = versions,
  notes = I(c(
    "All fits: glmer defaults (Laplace, nAGQ = 1); data read from the bundled CSVs with factor levels from the JSON sidecars.",
    "confint rows are named as lme4 names them: .sigNN for the random-effect standard deviations (in the order of getME(m, 'theta'); see sig_names), then the fixed effects. The Wald interval has no value (null) for the .sigNN rows.",
    "For the Poisson model performance::icc and r2_nakagawa warn that the mean is close to zero ('mu of ... is too close to zero'); the values are recorded together with that warning text.",
    "grouseticks g1: the profile lower limit of .sig02 (LOCATION sd) is exactly 0, the boundary: the profile zeta at sd = 0 is about -1.48, above the -1.96 cutoff, so confint truncates the interval at 0 (no warning is emitted).",
    "anova(m0, m1) on glmer fits does not refit (no REML); Chisq = 2 * (logLik(m1) - logLik(m0)), Df = difference in npar."
  ))
)
write_json(out, out_file, auto_unbox = TRUE, digits = NA, null = "null",
           na = "null", pretty = TRUE)
cat("Wrote", out_file, "\n")
