# Reference fits of linear mixed models with correlated residuals within
# groups (residual=): nlme's lme with corAR1 and corCompSymm, ML and REML.
#
# Run from the repository root, after tests/reference/export_structure_datasets.R:
#
#     Rscript tests/reference/correlation.R
#
# Writes tests/reference/correlation.json: {"versions", "models": [...]}, per
# model: id, dataset, formula and residual (this package's call), nlme (the
# lme call), reml, loglik, df, fixef, sigma, sd (the random intercept's SD),
# rho, normalized (the first 5 normalized residuals, nlme's type =
# "normalized") and seconds (median of 5 lme fits).
#
# Requires nlme and jsonlite.

suppressPackageStartupMessages({
  library(nlme)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
orthodont <- read_bundled("orthodont", data_dir)
orthodont$visit <- (orthodont$age - 8) / 2
sleep <- read_bundled("sleepstudy", data_dir)
machines <- read_bundled("machines", data_dir)
# (the rows of a gap: sleepstudy without day 3, whose AR(1) lags then skip a step)
sleep_gap <- sleep[sleep$Days != 3, ]

cases <- list(
  list(id = "sleep_ar1", data = "sleep", fixed = "Reaction ~ Days", random = "~ 1 | Subject",
       residual = "ar1(Days | Subject)", correlation = "corAR1(form = ~ Days | Subject)"),
  list(id = "sleep_gap_ar1", data = "sleep_gap", fixed = "Reaction ~ Days", random = "~ 1 | Subject",
       residual = "ar1(Days | Subject)", correlation = "corAR1(form = ~ Days | Subject)"),
  list(id = "orthodont_ar1", data = "orthodont", fixed = "distance ~ age * Sex", random = "~ 1 | Subject",
       residual = "ar1(visit | Subject)", correlation = "corAR1(form = ~ visit | Subject)"),
  list(id = "machines_cs", data = "machines", fixed = "score ~ Machine", random = "~ 1 | Worker",
       residual = "cs(1 | Worker:Machine)", correlation = "corCompSymm(form = ~ 1 | Worker/Machine)")
)
datasets <- list(sleep = sleep, sleep_gap = sleep_gap, orthodont = orthodont, machines = machines)

models <- list()
for (cs in cases) {
  df <- datasets[[cs$data]]
  for (reml in c(FALSE, TRUE)) {
    corr <- eval(parse(text = cs$correlation))
    fit_once <- function() lme(as.formula(cs$fixed), random = as.formula(cs$random), data = df,
                               correlation = corr, method = if (reml) "REML" else "ML",
                               control = lmeControl(msMaxIter = 500, tolerance = 1e-10))
    m <- fit_once()
    group <- sub(".*\\| *", "", cs$random)
    rec <- list(id = cs$id, dataset = cs$data, formula = paste0(cs$fixed, " + (1 | ", group, ")"),
                residual = cs$residual,
                nlme = paste0("lme(", cs$fixed, ", random = ", cs$random, ", correlation = ", cs$correlation, ")"),
                reml = reml, loglik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
                fixef = as.list(fixef(m)), sigma = sigma(m), sd = as.numeric(VarCorr(m)[1, "StdDev"]),
                rho = unname(coef(m$modelStruct$corStruct, unconstrained = FALSE)),
                normalized = head(unname(residuals(m, type = "normalized")), 5),
                seconds = median(replicate(5, system.time(fit_once())[["elapsed"]])))
    models[[length(models) + 1]] <- rec
    cat(sprintf("%s reml=%s: logLik %.6f rho %.5f\n", cs$id, reml, rec$loglik, rec$rho))
  }
}
write_json(list(versions = list(r = R.version.string, nlme = as.character(packageVersion("nlme"))),
                models = models),
           file.path("tests", "reference", "correlation.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE,
           na = "null")
