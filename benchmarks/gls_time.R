# Time the reference fits of tests/reference/gls.json: nlme's gls (corCompSymm,
# corAR1, corCAR1, corSymm, varIdent) and glmmTMB's structured terms with
# dispformula = ~ 0, for benchmarks/gls.py.
# Usage: Rscript benchmarks/gls_time.R REPEAT
# Prints one line of JSON: {"<id>-<ml|reml>": median seconds of nlme's gls,
# "tmb-<id>-ml": glmmTMB's}, each the median of REPEAT fits after a warm-up fit.
suppressPackageStartupMessages({library(glmmTMB); library(nlme); library(jsonlite)})
rep <- as.integer(commandArgs(trailingOnly = TRUE)[1])
ref <- fromJSON(file.path("tests", "reference", "gls.json"), simplifyVector = FALSE)
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
orthodont <- read_bundled("orthodont", data_dir)
orthodont$visit <- as.integer((orthodont$age - 8) / 2 + 1)
orthodont$visitf <- factor(orthodont$visit)
sleep <- read_bundled("sleepstudy", data_dir)
sleep$dayf <- factor(sleep$Days)
sleep_gap <- sleep[sleep$Days != 3, ]
sleep_gap$when <- sleep_gap$Days + 0.25 * (sleep_gap$Days %% 2)
datasets <- list(orthodont = orthodont, orth_gaps = orthodont[seq_len(nrow(orthodont)) %% 5 != 0, ],
                 sleep = sleep, sleep_gap = sleep_gap)
median_of <- function(run) {
  run()
  median(vapply(seq_len(rep), function(i) system.time(run())[["elapsed"]], numeric(1)))
}
out <- list()
for (m in ref$models) {
  df <- datasets[[m$dataset]]
  reml <- isTRUE(m$reml)
  call <- parse(text = m$nlme)[[1]]
  call$data <- quote(df)
  call$method <- if (reml) "REML" else "ML"
  call$control <- quote(glsControl(maxIter = 500, msMaxIter = 500))
  key <- paste0(m$id, "-", if (reml) "reml" else "ml")
  out[[key]] <- median_of(function() eval(call))
  if (!is.null(m$glmmtmb)) {
    f <- as.formula(m$glmmtmb$formula)
    out[[paste0("tmb-", key)]] <- median_of(function() glmmTMB(f, data = df, dispformula = ~ 0, REML = FALSE))
  }
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA), "\n")
