# Time the reference fits of tests/reference/covstruct.json (glmmTMB, or nlme's
# lme for a homogeneous compound symmetry) and of tests/reference/dispersion.json
# (nlme's lme with varIdent / varExp weights, and glmmTMB's dispformula), for
# benchmarks/covstruct.py.
# Usage: Rscript benchmarks/covstruct_time.R REPEAT
# Prints one line of JSON: {"<id>-<ml|reml>": median seconds of REPEAT fits after a warm-up fit}.
suppressPackageStartupMessages({library(glmmTMB); library(nlme); library(jsonlite)})
rep <- as.integer(commandArgs(trailingOnly = TRUE)[1])
# the median of rep runs after a warm-up run, at least 31 for a fit under 0.05 s (R's clock has a
# resolution of a millisecond; benchmarks/covstruct.py does the same)
timed <- function(run) {
  warm <- system.time(run())[["elapsed"]]
  n <- if (warm < 0.05) max(rep, 31L) else rep
  median(vapply(seq_len(n), function(i) system.time(run())[["elapsed"]], numeric(1)))
}
ref <- fromJSON(file.path("tests", "reference", "covstruct.json"), simplifyVector = FALSE)
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
machines <- read_bundled("machines", data_dir)
orthodont <- read_bundled("orthodont", data_dir)
orthodont$occ <- factor(orthodont$age)
sleep <- lme4::sleepstudy
sleep$occ <- factor(sleep$Days)
cbpp <- lme4::cbpp
cbpp$per <- cbpp$period
datasets <- list(sleep = sleep, machines = machines, orthodont = orthodont, cbpp = cbpp)
out <- list()
for (m in ref$models) {
  df <- datasets[[m$dataset]]
  reml <- isTRUE(m$reml)
  run <- if (m$reference == "nlme") {
    call <- parse(text = m$reference_call)[[1]]
    call$data <- quote(df)
    call$method <- if (reml) "REML" else "ML"
    function() eval(call)
  } else {
    f <- as.formula(m$reference_call)
    fam <- get(m$family)()
    function() suppressWarnings(glmmTMB(f, data = df, REML = reml, family = fam))
  }
  key <- paste0(m$id, "-", if (reml) "reml" else "ml")
  out[[key]] <- timed(run)
}
# the residual SD models of tests/reference/dispersion.json: nlme's lme with varIdent / varExp
time_lme <- function(m, df) {  # the median of rep runs of a model's nlme call, after a warm-up
  call <- parse(text = m$nlme)[[1]]
  call$data <- quote(df)
  call$method <- if (isTRUE(m$reml)) "REML" else "ML"
  run <- function() eval(call)
  timed(run)
}
disp <- fromJSON(file.path("tests", "reference", "dispersion.json"), simplifyVector = FALSE)
for (m in disp$models) {
  df <- datasets[[m$dataset]]
  reml <- isTRUE(m$reml)
  key <- paste0("disp:", m$id, "-", if (reml) "reml" else "ml")
  out[[key]] <- time_lme(m, df)
  tmb <- function() glmmTMB(as.formula(m$formula), dispformula = as.formula(m$dispformula), data = df, REML = reml)
  out[[paste0("tmb-", key)]] <- timed(tmb)
}
# the residual correlations of tests/reference/correlation.json: nlme's lme with corAR1 / corCompSymm
corr <- fromJSON(file.path("tests", "reference", "correlation.json"), simplifyVector = FALSE)
datasets$orthodont$visit <- (datasets$orthodont$age - 8) / 2
datasets$sleep_gap <- sleep[sleep$Days != 3, ]
for (m in corr$models) {
  key <- paste0("corr:", m$id, "-", if (isTRUE(m$reml)) "reml" else "ml")
  out[[key]] <- time_lme(m, datasets[[m$dataset]])
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA), "\n")
