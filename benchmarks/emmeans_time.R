# Time R's emmeans on one model, for benchmarks/emmeans.py.
# Usage: Rscript benchmarks/emmeans_time.R CSV JSON_SIDECAR FORMULA ROUTE SPECS DF REPS
# ROUTE is lmer or glmer (binomial / poisson chosen by FAMILY in SPECS as "spec;family");
# DF is kenward-roger, satterthwaite or asymptotic (ignored for glmer). Prints one line
# of JSON: median seconds of emmeans(m, spec) + summary + pairs(...) + summary,
# from the fitted model (a fresh fit each time, so no cached adjusted covariance).
suppressPackageStartupMessages({library(lme4); library(emmeans); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
meta <- fromJSON(args[2])
for (col in names(meta$categories)) d[[col]] <- factor(d[[col]], levels = meta$categories[[col]])
form <- as.formula(args[3]); route <- args[4]
parts <- strsplit(args[5], ";")[[1]]; spec <- parts[1]
lmer_df <- args[6]; reps <- as.integer(args[7])
emm_options(pbkrtest.limit = 1e6, lmerTest.limit = 1e6)
fit <- function() if (route == "lmer") lmer(form, d) else glmer(form, d, family = parts[2])
run <- function(m) {
  e <- if (route == "lmer") emmeans(m, spec, lmer.df = lmer_df) else emmeans(m, spec)
  summary(e); summary(pairs(e))
}
times <- sapply(seq_len(reps + 1), function(i) { m <- fit(); system.time(run(m))[["elapsed"]] })
cat(toJSON(list(seconds = median(times[-1])), auto_unbox = TRUE, digits = NA), "\n")
