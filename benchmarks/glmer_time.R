# Time lme4::glmer on one data set: the median elapsed seconds of N fits.
#
#     Rscript benchmarks/glmer_time.R DATA.csv FORMULA FAMILY LINK NAGQ N [SIDECAR.json] [WARMUP]
#
#   DATA.csv      the data (e.g. src/multilevel/datasets/data/cbpp.csv)
#   FORMULA       an lme4 formula, e.g.
#                 "cbind(incidence, size - incidence) ~ period + (1 | herd)"
#   FAMILY, LINK  e.g. binomial logit, poisson log
#   NAGQ          glmer's nAGQ: 0, 1 (Laplace) or more (adaptive Gauss-Hermite)
#   N             number of timed fits
#   SIDECAR.json  optional (use "-" for none): the bundled data's JSON sidecar;
#                 its "categories" turn those columns back into factors with
#                 the recorded level order (as tests/reference/lme4_glmm.R does)
#   WARMUP        optional, TRUE (default) or FALSE: one untimed fit first
#
# Reading the data is not timed; each timed fit is one complete glmer() call,
# with glmer's default control settings.  Prints one line of JSON:
#
#   {"median_seconds": ..., "seconds": [...], "loglik": ..., "loglik_saturated": ...,
#    "loglik_absolute": ..., "nagq": ..., "nobs": ..., "feval": ..., "optimizer": "...",
#    "lme4_version": "...", "messages": [...]}
#
# where "loglik" is logLik(m); for nAGQ > 1 lme4 computes it relative to the
# saturated model (lme4 issue #161), so "loglik_absolute" adds the saturated
# model's log-likelihood back (for nAGQ <= 1 it is logLik(m) itself), as
# tests/reference/lme4_glmm.R does.  "feval" is m@optinfo$feval, the function
# evaluations of glmer's last optimisation stage (for nAGQ > 0 the one over
# theta and beta), and "messages" are the warnings and messages of the first fit.
#
# Requires the R packages lme4 and jsonlite (data.table is used if installed).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 6) {
  stop("usage: Rscript glmer_time.R DATA.csv FORMULA FAMILY LINK NAGQ N [SIDECAR.json] [WARMUP]")
}
csv_path <- args[[1]]
form <- as.formula(args[[2]])
fam <- do.call(args[[3]], list(link = args[[4]]))
nagq <- as.integer(args[[5]])
nrep <- as.integer(args[[6]])
sidecar <- if (length(args) >= 7 && args[[7]] != "-") args[[7]] else NULL
warmup <- if (length(args) >= 8) as.logical(args[[8]]) else TRUE
stopifnot(!is.na(nagq), nagq >= 0, !is.na(nrep), nrep >= 1, !is.na(warmup))

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

fit <- function() glmer(form, data = data, family = fam, nAGQ = nagq)

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

# Log-likelihood of the saturated model (mu = y) with the prior weights
# (binomial trials); 0 for Bernoulli responses, NA where it is not defined here.
loglik_saturated <- function(m) {
  y <- m@resp$y
  w <- m@resp$weights
  fam <- family(m)$family
  if (fam == "binomial") {
    sum(dbinom(round(w * y), round(w), y, log = TRUE))
  } else if (fam == "poisson") {
    if (all(w == 1)) sum(dpois(y, y, log = TRUE)) else NA_real_
  } else {
    NA_real_
  }
}

ll <- as.numeric(logLik(first))
ll_sat <- loglik_saturated(first)

cat(toJSON(list(
  median_seconds = median(secs),
  seconds = I(secs),
  loglik = ll,
  loglik_saturated = ll_sat,
  loglik_absolute = ll + if (nagq > 1L) ll_sat else 0,
  nagq = nagq,
  nobs = nobs(first),
  feval = first@optinfo$feval,
  optimizer = first@optinfo$optimizer,
  lme4_version = as.character(packageVersion("lme4")),
  messages = I(msgs)
), auto_unbox = TRUE, digits = NA, na = "null"), "\n")
