# Reference fits of linear mixed models with a residual variance model
# (dispformula): nlme's lme with varIdent / varExp weights, ML and REML, and
# glmmTMB's dispformula (ML) where it fits the same model.
#
# Run from the repository root, after tests/reference/export_structure_datasets.R:
#
#     Rscript tests/reference/dispersion.R
#
# Writes tests/reference/dispersion.json: {"versions", "models": [...]}, per
# model: id, dataset, formula and dispformula (this package's call), nlme (the
# lme call), reml, loglik, df, fixef, sigma (the residual SD at x = 0), sd (the
# random intercept's SD), delta (the log SD ratios: log of varIdent's ratios
# against the first level, or varExp's coefficient), glmmTMB_loglik (ML only,
# where glmmTMB fits it) and seconds (median of 5 lme fits).
#
# Requires nlme, glmmTMB, lme4 and jsonlite.

suppressPackageStartupMessages({
  library(nlme)
  library(glmmTMB)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
orthodont <- read_bundled("orthodont", data_dir)
sleep <- lme4::sleepstudy

cases <- list(
  list(id = "orthodont_sex", data = "orthodont", fixed = "distance ~ age * Sex", group = "Subject",
       dispformula = "~ Sex", weights = "varIdent(form = ~ 1 | Sex)"),
  list(id = "orthodont_age", data = "orthodont", fixed = "distance ~ age * Sex", group = "Subject",
       dispformula = "~ age", weights = "varExp(form = ~ age)"),
  list(id = "sleep_days", data = "sleep", fixed = "Reaction ~ Days", group = "Subject",
       dispformula = "~ Days", weights = "varExp(form = ~ Days)")
)
datasets <- list(orthodont = orthodont, sleep = sleep)

models <- list()
for (cs in cases) {
  df <- datasets[[cs$data]]
  for (reml in c(FALSE, TRUE)) {
    w <- eval(parse(text = cs$weights))
    fit_once <- function() lme(as.formula(cs$fixed), random = as.formula(paste("~ 1 |", cs$group)), data = df,
                               weights = w, method = if (reml) "REML" else "ML",
                               control = lmeControl(msMaxIter = 500, tolerance = 1e-10))
    m <- fit_once()
    vs <- m$modelStruct$varStruct
    delta <- if (inherits(vs, "varIdent")) log(coef(vs, unconstrained = FALSE)) else coef(vs, unconstrained = FALSE)
    rec <- list(id = cs$id, dataset = cs$data,
                formula = paste0(cs$fixed, " + (1 | ", cs$group, ")"), dispformula = cs$dispformula,
                nlme = paste0("lme(", cs$fixed, ", random = ~ 1 | ", cs$group, ", weights = ", cs$weights, ")"),
                reml = reml, loglik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
                fixef = as.list(fixef(m)), sigma = sigma(m),
                sd = as.numeric(VarCorr(m)[1, "StdDev"]), delta = as.list(delta),
                seconds = median(replicate(5, system.time(fit_once())[["elapsed"]])))
    if (!reml) {
      g <- glmmTMB(as.formula(paste0(cs$fixed, " + (1 | ", cs$group, ")")), dispformula = as.formula(cs$dispformula),
                   data = df)
      rec$glmmTMB_loglik <- as.numeric(logLik(g))
      rec$glmmTMB_seconds <- median(replicate(5, system.time(
        glmmTMB(as.formula(paste0(cs$fixed, " + (1 | ", cs$group, ")")), dispformula = as.formula(cs$dispformula),
                data = df))[["elapsed"]]))
    }
    models[[length(models) + 1]] <- rec
    cat(sprintf("%s reml=%s: logLik %.6f\n", cs$id, reml, rec$loglik))
  }
}
write_json(list(versions = list(r = R.version.string, nlme = as.character(packageVersion("nlme")),
                                glmmTMB = as.character(packageVersion("glmmTMB"))),
                models = models),
           file.path("tests", "reference", "dispersion.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE,
           na = "null")
