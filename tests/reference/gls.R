# Reference fits of generalized least squares with correlated and
# heteroscedastic residuals within groups (ml.gls, and ml.lmer with
# dispformula = "~ 0", whose structured term then carries the residual
# covariance): nlme's gls with corCompSymm, corAR1, corCAR1 and corSymm, with
# and without varIdent, ML and REML; and glmmTMB's us()/cs()/ar1() terms with
# dispformula = ~ 0 on the same data (their log-likelihoods equal gls's;
# glmmTMB's cs() is heterogeneous compound symmetry, gls's corCompSymm with
# varIdent).
#
# Run from the repository root:
#
#     Rscript tests/reference/gls.R
#
# Writes tests/reference/gls.json: {"versions", "models": [...]}, per model:
# id, dataset, formula, residual and dispformula (this package's call), nlme
# (the gls call), reml, loglik, df, aic, bic, coef, se, sigma, corr (the
# correlation parameters: rho, or the lower triangle of corSymm's matrix by
# columns), var_ratios (varIdent's SD ratios against the first level),
# normalized (the first 6 normalized residuals), seconds (median of 5 fits),
# and glmmtmb (loglik and seconds of the equivalent glmmTMB fit, ML only).
#
# Requires nlme, glmmTMB and jsonlite.

suppressPackageStartupMessages({
  library(nlme)
  library(glmmTMB)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
orthodont <- read_bundled("orthodont", data_dir)
orthodont$visit <- as.integer((orthodont$age - 8) / 2 + 1)
orthodont$visitf <- factor(orthodont$visit)
sleep <- read_bundled("sleepstudy", data_dir)
sleep$dayf <- factor(sleep$Days)
# Orthodont with visits missing (an unbalanced repeated-measures design): every
# 5th row dropped
orth_gaps <- orthodont[seq_len(nrow(orthodont)) %% 5 != 0, ]
# sleepstudy without day 3, whose AR(1) lags then skip a step; real times for CAR(1):
# the odd days measured a quarter of a day later
sleep_gap <- sleep[sleep$Days != 3, ]
sleep_gap$when <- sleep_gap$Days + 0.25 * (sleep_gap$Days %% 2)

cases <- list(
  list(id = "orth_cs", data = "orthodont", fixed = "distance ~ age * Sex", residual = "cs(1 | Subject)",
       dispformula = NULL, correlation = "corCompSymm(form = ~ 1 | Subject)", weights = NULL,
       tmb = NULL),  # (glmmTMB 1.1.5's cs() has heterogeneous variances: the next case)
  list(id = "orth_ar1", data = "orthodont", fixed = "distance ~ age * Sex", residual = "ar1(visit | Subject)",
       dispformula = NULL, correlation = "corAR1(form = ~ visit | Subject)", weights = NULL,
       tmb = "distance ~ age * Sex + ar1(0 + visitf | Subject)"),
  list(id = "orth_us", data = "orthodont", fixed = "distance ~ age * Sex", residual = "us(visitf | Subject)",
       dispformula = "~ visitf", correlation = "corSymm(form = ~ visit | Subject)",
       weights = "varIdent(form = ~ 1 | visitf)", tmb = "distance ~ age * Sex + us(0 + visitf | Subject)"),
  list(id = "orth_gaps_us", data = "orth_gaps", fixed = "distance ~ age * Sex", residual = "us(visitf | Subject)",
       dispformula = "~ visitf", correlation = "corSymm(form = ~ visit | Subject)",
       weights = "varIdent(form = ~ 1 | visitf)", tmb = "distance ~ age * Sex + us(0 + visitf | Subject)"),
  list(id = "orth_gaps_cs_hetero", data = "orth_gaps", fixed = "distance ~ age + Sex", residual = "cs(1 | Subject)",
       dispformula = "~ visitf", correlation = "corCompSymm(form = ~ 1 | Subject)",
       weights = "varIdent(form = ~ 1 | visitf)", tmb = "distance ~ age + Sex + cs(0 + visitf | Subject)"),
  list(id = "sleep_ar1", data = "sleep", fixed = "Reaction ~ Days", residual = "ar1(Days | Subject)",
       dispformula = NULL, correlation = "corAR1(form = ~ Days | Subject)", weights = NULL,
       tmb = "Reaction ~ Days + ar1(0 + dayf | Subject)"),
  list(id = "sleep_gap_car1", data = "sleep_gap", fixed = "Reaction ~ Days", residual = "ar1(when | Subject)",
       dispformula = NULL, correlation = "corCAR1(form = ~ when | Subject)", weights = NULL, tmb = NULL),
  list(id = "orth_us_sex", data = "orthodont", fixed = "distance ~ age", residual = "us(visitf | Subject)",
       dispformula = "~ Sex", correlation = "corSymm(form = ~ visit | Subject)",
       weights = "varIdent(form = ~ 1 | Sex)", tmb = NULL)
)
datasets <- list(sleep = sleep, sleep_gap = sleep_gap, orthodont = orthodont, orth_gaps = orth_gaps)

corr_values <- function(m) {
  cs <- m$modelStruct$corStruct
  if (inherits(cs, "corSymm")) {
    C <- corMatrix(cs)
    C <- C[[which.max(sapply(C, nrow))]]
    return(C[lower.tri(C)])
  }
  unname(coef(cs, unconstrained = FALSE))
}

models <- list()
for (cs in cases) {
  df <- datasets[[cs$data]]
  for (reml in c(FALSE, TRUE)) {
    corr <- eval(parse(text = cs$correlation))
    wts <- if (is.null(cs$weights)) NULL else eval(parse(text = cs$weights))
    fit_once <- function() gls(as.formula(cs$fixed), data = df, correlation = corr, weights = wts,
                               method = if (reml) "REML" else "ML",
                               control = glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10,
                                                    msTol = 1e-10))
    m <- fit_once()
    ratios <- if (is.null(cs$weights)) NULL else as.list(coef(m$modelStruct$varStruct, unconstrained = FALSE))
    rec <- list(id = cs$id, dataset = cs$data, formula = cs$fixed, residual = cs$residual,
                dispformula = cs$dispformula,
                nlme = paste0("gls(", cs$fixed, ", correlation = ", cs$correlation,
                              if (is.null(cs$weights)) "" else paste0(", weights = ", cs$weights), ")"),
                reml = reml, loglik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
                aic = AIC(m), bic = BIC(m), coef = as.list(coef(m)),
                se = as.list(sqrt(diag(vcov(m)))), sigma = sigma(m), corr = corr_values(m),
                var_ratios = ratios,
                normalized = head(unname(residuals(m, type = "normalized")), 6),
                seconds = median(replicate(5, system.time(fit_once())[["elapsed"]])))
    if (!reml && !is.null(cs$tmb)) {
      tmb_once <- function() glmmTMB(as.formula(cs$tmb), data = df, dispformula = ~ 0, REML = FALSE)
      t <- tmb_once()
      rec$glmmtmb <- list(formula = cs$tmb, loglik = as.numeric(logLik(t)),
                          seconds = median(replicate(3, system.time(tmb_once())[["elapsed"]])))
    }
    models[[length(models) + 1]] <- rec
    cat(sprintf("%s reml=%s: logLik %.6f%s\n", cs$id, reml, rec$loglik,
                if (is.null(rec$glmmtmb)) "" else sprintf(" (glmmTMB %.6f)", rec$glmmtmb$loglik)))
  }
}
write_json(list(versions = list(r = R.version.string, nlme = as.character(packageVersion("nlme")),
                                glmmTMB = as.character(packageVersion("glmmTMB"))),
                models = models),
           file.path("tests", "reference", "gls.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE,
           na = "null")
