# Reference figures for profile-likelihood confidence intervals of a GLMM
# (glmer, Laplace) whose random-effects term is correlated: a random
# intercept and a random slope with their correlation, (1 + x | g).
#
# Run from the repository root:
#
#     Rscript tests/reference/lme4_glmm_profile_corr.R
#
# Writes tests/reference/lme4_glmm_profile_corr.json (about a minute: the
# profile is computed twice, once by confint(fit, method = "profile") and
# once by profile(fit) for the recorded profile table).
#
# Model (glmer defaults: Laplace, nAGQ = 1, default glmerControl):
#
#   TICKS ~ cHEIGHT + (1 + cHEIGHT | YEAR)     family poisson (log link)
#
# on the bundled grouseticks data (403 chicks; YEAR has 3 levels 95, 96, 97;
# cHEIGHT = HEIGHT - mean(HEIGHT) is a numeric predictor that varies within
# every YEAR: 28 to 34 distinct values per year).  No derived column: every
# variable is a column of the bundled CSV as it is.  The data are read back
# from src/multilevel/datasets/data/grouseticks.csv with the factor levels
# restored from the JSON sidecar, exactly as in lme4_glmm.R and
# lme4_glmm_inference.R.
#
# Why this model: the fit is not singular, glmer emits no message or warning,
# the fit takes well under a second, and confint(fit, method = "profile")
# returns finite limits strictly inside the parameter space for every row
# (no limit touches sd = 0 or correlation = -1 / 1) without any message other
# than lme4's "Computing profile confidence intervals ..." and without
# warnings.  Three groups are very few to estimate a 2 x 2 covariance matrix;
# the model is a numerical reference, not a recommended analysis.
# Candidates that were rejected (see notes in the JSON):
#   grouseticks (1 + cHEIGHT | LOCATION): cHEIGHT is constant within
#     LOCATION (one height per location), so there is no within-group slope;
#   verbagg r2 ~ Anger + Gender + btype + situ + (1 + Anger | item):
#     singular fit (slope sd ~ 0.01, correlation -1);
#   sleepstudy with y = as.integer(Reaction > 300),
#     y ~ Days + (1 + Days | Subject) (binomial): not singular and finite,
#     but the profile limits sit on the boundary (.sig02 upper = 1,
#     .sig03 lower = 0); thresholds 250 and 325 fail in profile()
#     ("profiling detected new, lower deviance"), 275 warns.
#
# Layout of the JSON:
#   formula, family, link, derived_columns (empty: none), data (name, nobs,
#   group factor and its levels), nobs, ngroups, fit_conditions (messages /
#   warnings of glmer; empty), singular (isSingular), optimizer (names used),
#   convergence (optinfo$conv$opt and the lme4 messages), gradient
#   (optinfo$derivs$gradient, on the deviance scale: theta then beta);
#   loglik, df, deviance, aic, bic;
#   fixef, se (sqrt(diag(vcov)));
#   theta: getME(m, "theta") named as lme4 names it, the column-wise lower
#     triangle of the (relative = absolute, no residual scale in a Poisson
#     GLMM) Cholesky factor: [L11, L21, L22];
#   varcorr: sd_intercept, sd_slope, corr (from VarCorr), and the covariance
#     matrix (row-major list of rows, names in 'names');
#   sig_names: the confint row names -> their meaning
#     (.sig01 = sd of the intercept, .sig02 = correlation, .sig03 = sd of the
#     slope, as in lme4's "sdcor" profile scale);
#   confint_profile: confint(m, method = "profile"), level 0.95;
#   confint_profile_conditions: its messages / warnings (warnings: empty);
#   confint_wald: confint(m, method = "Wald"), level 0.95 (null for the
#     .sigNN rows, where lme4 gives NA);
#   each confint is {rownames, colnames, lower, upper}, rows in R's order;
#   confint_from_profile_table: confint(profile(m)) (must equal
#     confint_profile; checked);
#   profile_table: as.data.frame(profile(m)) split by .par: for each
#     parameter the profiled values of that parameter (par) and the signed
#     square-root deviance statistic zeta, in R's row order (the interval
#     limits are where the interpolation spline of zeta crosses
#     qnorm(0.025) and qnorm(0.975));
#   timing_seconds: elapsed times of the fit and the profile confint;
#   versions, notes.
#
# Requires the R packages lme4 and jsonlite.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

data_dir <- file.path("src", "multilevel", "datasets", "data")
out_file <- file.path("tests", "reference", "lme4_glmm_profile_corr.json")


## Reading the bundled data ---------------------------------------------------

source(file.path("tests", "reference", "reference_helpers.R"))  # read_bundled, capture, ci_json

grouseticks <- read_bundled("grouseticks", data_dir)

# The bundled data must be lme4's own (cHEIGHT is written at 15 digits).
local({
  strip <- function(d) { d <- as.data.frame(d); rownames(d) <- NULL; d }
  stopifnot(isTRUE(all.equal(strip(grouseticks), strip(lme4::grouseticks),
                             check.attributes = FALSE, tolerance = 1e-13)))
})

# cHEIGHT varies within every level of the grouping factor.
n_distinct_within <- tapply(grouseticks$cHEIGHT, grouseticks$YEAR,
                            function(v) length(unique(v)))
stopifnot(all(n_distinct_within > 1))


## Helpers -------------------------------------------------------------------

# Evaluate `expr`, collecting (and muffling) messages and warnings.  Errors
# are caught and returned as text.


elapsed <- function(expr) {
  t0 <- proc.time()[["elapsed"]]
  value <- expr
  list(value = value, seconds = proc.time()[["elapsed"]] - t0)
}


## Fit -----------------------------------------------------------------------

formula_txt <- "TICKS ~ cHEIGHT + (1 + cHEIGHT | YEAR)"

t_fit <- elapsed(capture(glmer(as.formula(formula_txt), data = grouseticks,
                               family = poisson)))
fit_r <- t_fit$value
if (!is.null(fit_r$error)) stop(fit_r$error)
m <- fit_r$value

stopifnot(!isSingular(m), length(fit_r$warnings) == 0L,
          length(m@optinfo$conv$lme4$messages) == 0L)

t_prof <- elapsed(capture(confint(m, method = "profile")))
prof <- t_prof$value
if (!is.null(prof$error)) stop("profile confint: ", prof$error)
wald <- capture(confint(m, method = "Wald"))
if (!is.null(wald$error)) stop("Wald confint: ", wald$error)

pp_r <- capture(profile(m))
if (!is.null(pp_r$error)) stop("profile: ", pp_r$error)
pp <- pp_r$value
ci_pp <- confint(pp)

ll <- logLik(m)
fe <- fixef(m)
th <- getME(m, "theta")
fam <- family(m)
vc <- VarCorr(m)[["YEAR"]]
sds <- attr(vc, "stddev")
cor_mat <- attr(vc, "correlation")
cov_mat <- unclass(vc)
attr(cov_mat, "stddev") <- NULL
attr(cov_mat, "correlation") <- NULL

profile_table <- local({
  d <- as.data.frame(pp)
  pars <- unique(as.character(d$.par))
  setNames(lapply(pars, function(p) {
    rows <- d[as.character(d$.par) == p, , drop = FALSE]
    list(par = unname(rows[[p]]), zeta = unname(rows$.zeta))
  }), pars)
})

sig_meaning <- list(
  .sig01 = "sd of (Intercept) | YEAR",
  .sig02 = "correlation of (Intercept) and cHEIGHT | YEAR",
  .sig03 = "sd of cHEIGHT | YEAR"
)


## Sanity checks -------------------------------------------------------------

ci_p <- as.matrix(prof$value)
stopifnot(identical(rownames(ci_p),
                    c(".sig01", ".sig02", ".sig03", "(Intercept)", "cHEIGHT")))
stopifnot(all(is.finite(ci_p)), length(prof$warnings) == 0L)
# Same limits from confint(profile(m)).
stopifnot(isTRUE(all.equal(unname(ci_p), unname(as.matrix(ci_pp)),
                           tolerance = 1e-10)))
# The interval contains the estimate (sd, cor, sd scale, then beta).
local({
  est <- c(sds[1], cor_mat[2, 1], sds[2], fe)
  stopifnot(all(ci_p[, 1] < est), all(ci_p[, 2] > est))
})
# theta is the column-wise lower triangle of the Cholesky factor of the
# covariance matrix.
local({
  L <- t(chol(cov_mat))
  stopifnot(isTRUE(all.equal(unname(th), L[lower.tri(L, diag = TRUE)],
                             tolerance = 1e-8)))
})


## Output --------------------------------------------------------------------

si <- sessionInfo()
pkg_version <- function(p) as.character(packageVersion(p))
versions <- list(
  R = paste(R.version$major, R.version$minor, sep = "."),
  R_version_string = si$R.version$version.string,
  platform = si$platform,
  lme4 = pkg_version("lme4"),
  Matrix = pkg_version("Matrix"),
  jsonlite = pkg_version("jsonlite")
)

out <- list(
  formula = formula_txt,
  family = fam$family,
  link = fam$link,
  derived_columns = setNames(list(), character(0)),
  data = list(
    name = "grouseticks",
    file = "src/multilevel/datasets/data/grouseticks.csv",
    response = "TICKS",
    predictor = "cHEIGHT",
    group = "YEAR",
    group_levels = I(levels(grouseticks$YEAR)),
    distinct_predictor_values_per_group = as.list(n_distinct_within)
  ),
  nobs = nobs(m),
  ngroups = as.list(ngrps(m)),
  fit_conditions = I(fit_r$conditions),
  singular = isSingular(m),
  optimizer = I(m@optinfo$optimizer),
  convergence = list(opt = m@optinfo$conv$opt,
                     lme4_messages = I(as.character(
                       unlist(m@optinfo$conv$lme4$messages)))),
  gradient = unname(m@optinfo$derivs$gradient),
  loglik = as.numeric(ll),
  df = attr(ll, "df"),
  deviance = -2 * as.numeric(ll),
  aic = AIC(m),
  bic = BIC(m),
  fixef = as.list(fe),
  se = as.list(setNames(sqrt(diag(as.matrix(vcov(m)))), names(fe))),
  theta = as.list(th),
  varcorr = list(
    names = I(rownames(cov_mat)),
    sd_intercept = unname(sds[1]),
    sd_slope = unname(sds[2]),
    corr = cor_mat[2, 1],
    cov = lapply(seq_len(nrow(cov_mat)), function(i) unname(cov_mat[i, ]))
  ),
  sig_names = sig_meaning,
  confint_profile = ci_json(prof$value),
  confint_profile_conditions = I(prof$conditions),
  confint_profile_warnings = I(prof$warnings),
  confint_wald = ci_json(wald$value),
  confint_from_profile_table = ci_json(ci_pp),
  profile_table = profile_table,
  profile_conditions = I(pp_r$conditions),
  timing_seconds = list(fit = t_fit$seconds,
                        confint_profile = t_prof$seconds),
  versions = versions,
  notes = I(c(
    "Fit: glmer defaults (Laplace, nAGQ = 1, default optimizers: bobyqa for the nAGQ = 0 first stage, Nelder_Mead for the final Laplace stage); data read from the bundled CSV with factor levels from the JSON sidecar; no derived column.",
    "cHEIGHT varies within each YEAR (it is constant within LOCATION, so (1 + cHEIGHT | LOCATION) has no within-group slope and was not used).",
    "confint rows: .sig01 = sd of the random intercept, .sig02 = correlation, .sig03 = sd of the random slope (lme4's default 'sdcor' profile scale), then the fixed effects. The Wald interval is null for the .sigNN rows.",
    "All profile limits are finite and interior: no sd limit is 0 and no correlation limit is -1 or 1; confint emits no warning.",
    "Refits with optimizer Nelder_Mead alone or nloptwrap reach the same logLik (-1989.477847) with theta agreeing to about 1e-5 relative; the optimum is well defined.",
    "Only 3 groups: the model is a numerical reference for the profile of a correlated term, not a recommended analysis of these data.",
    "Rejected candidates: verbagg r2 ~ Anger + Gender + btype + situ + (1 + Anger | item) is singular; sleepstudy y = as.integer(Reaction > 300), y ~ Days + (1 + Days | Subject) (binomial) is regular but its profile limits touch the boundary (.sig02 upper 1, .sig03 lower 0)."
  ))
)
write_json(out, out_file, auto_unbox = TRUE, digits = NA, null = "null",
           na = "null", pretty = TRUE)
cat("Wrote", out_file, "\n")
cat(sprintf("fit %.2f s, confint profile %.2f s\n", t_fit$seconds,
            t_prof$seconds))
