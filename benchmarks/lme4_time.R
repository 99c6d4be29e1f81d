# Time lme4::lmer on one data set: the median elapsed seconds of N fits.
#
#     Rscript benchmarks/lme4_time.R DATA.csv FORMULA REML N [SIDECAR.json] [WARMUP]
#
#   DATA.csv      the data (e.g. src/multilevel/datasets/data/sleepstudy.csv)
#   FORMULA       an lme4 formula, e.g. "Reaction ~ 1 + Days + (1 + Days | Subject)"
#   REML          TRUE for REML, FALSE for maximum likelihood
#   N             number of timed fits
#   SIDECAR.json  optional (use "-" for none): the bundled data's JSON sidecar;
#                 its "categories" turn those columns back into factors with
#                 the recorded level order (as tests/reference/lme4_lmm.R does)
#   WARMUP        optional, TRUE (default) or FALSE: one untimed fit first
#
# Reading the data is not timed; each timed fit is one complete lmer() call,
# with lmer's default control settings.  Prints one line of JSON:
#
#   {"median_seconds": ..., "seconds": [...], "objective": ..., "reml": ...,
#    "nobs": ..., "lme4_version": "...", "messages": [...]}
#
# where "objective" is the REML criterion (REML fits) or the deviance (ML fits)
# and "messages" are the warnings and messages of the first fit.
#
# Requires the R packages lme4 and jsonlite (data.table is used if installed).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 4) {
  stop("usage: Rscript lme4_time.R DATA.csv FORMULA REML N [SIDECAR.json] [WARMUP]")
}
csv_path <- args[[1]]
form <- as.formula(args[[2]])
reml <- as.logical(args[[3]])
nrep <- as.integer(args[[4]])
sidecar <- if (length(args) >= 5 && args[[5]] != "-") args[[5]] else NULL
warmup <- if (length(args) >= 6) as.logical(args[[6]]) else TRUE
stopifnot(!is.na(reml), !is.na(nrep), nrep >= 1, !is.na(warmup))

## Data ----------------------------------------------------------------------

meta <- if (is.null(sidecar)) list() else fromJSON(sidecar, simplifyVector = TRUE)
fac_cols <- names(meta$categories)
if (requireNamespace("data.table", quietly = TRUE)) {
  cc <- if (length(fac_cols)) list(character = fac_cols) else NULL
  data <- data.table::fread(csv_path, colClasses = cc, na.strings = "",
                            data.table = FALSE, showProgress = FALSE)
} else {
  col_classes <- setNames(rep("character", length(fac_cols)), fac_cols)
  data <- read.csv(csv_path, colClasses = col_classes, na.strings = "",
                   stringsAsFactors = FALSE, check.names = FALSE)
}
for (col in fac_cols) {
  lev <- as.character(meta$categories[[col]])
  data[[col]] <- factor(data[[col]], levels = lev, ordered = col %in% meta$ordered)
}

## Fits ----------------------------------------------------------------------

fit <- function() lmer(form, data = data, REML = reml)

conditions <- character(0)
first <- NULL
if (warmup) {
  first <- withCallingHandlers(
    fit(),
    message = function(c) {
      conditions <<- c(conditions, trimws(conditionMessage(c)))
      invokeRestart("muffleMessage")
    },
    warning = function(c) {
      conditions <<- c(conditions, trimws(conditionMessage(c)))
      invokeRestart("muffleWarning")
    })
}
secs <- numeric(nrep)
for (i in seq_len(nrep)) {
  t <- system.time(m <- suppressMessages(suppressWarnings(fit())))[["elapsed"]]
  secs[i] <- t
  if (is.null(first)) first <- m
}
msgs <- unique(c(conditions, as.character(unlist(first@optinfo$conv$lme4$messages))))

cat(toJSON(list(
  median_seconds = median(secs),
  seconds = I(secs),
  objective = if (reml) REMLcrit(first) else deviance(first),
  reml = reml,
  nobs = nobs(first),
  lme4_version = as.character(packageVersion("lme4")),
  messages = I(msgs)
), auto_unbox = TRUE, digits = NA), "\n")
