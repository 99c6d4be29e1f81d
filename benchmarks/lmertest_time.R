# Time lmerTest's Satterthwaite machinery on one model, for benchmarks/inference.py.
# Usage: Rscript benchmarks/lmertest_time.R CSV JSON_SIDECAR FORMULA REML REPS
# Prints one line of JSON: median seconds of (a) as_lmerModLmerTest(), the Hessian
# and Jacobian lmerTest computes after fitting, plus summary() and anova(),
# (b) summary() and anova() with Kenward-Roger df (pbkrtest), and
# (c) confint(method = "profile").
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
meta <- fromJSON(args[2])
for (col in names(meta$categories)) d[[col]] <- factor(d[[col]], levels = meta$categories[[col]])
form <- as.formula(args[3]); reml <- as.logical(args[4]); reps <- as.integer(args[5])
m <- lme4::lmer(form, data = d, REML = reml)
med <- function(f) { f(); median(sapply(seq_len(reps), function(i) system.time(f())[["elapsed"]])) }
sat <- med(function() { mt <- lmerTest:::as_lmerModLmerTest(m); summary(mt); anova(mt) })
mt <- lmerTest:::as_lmerModLmerTest(m)
kr <- if (reml) med(function() { summary(mt, ddf = "Kenward-Roger"); anova(mt, ddf = "Kenward-Roger") }) else NA
prof <- med(function() suppressWarnings(confint(m, method = "profile", quiet = TRUE)))
cat(toJSON(list(satterthwaite = sat, kenward_roger = kr, profile = prof), auto_unbox = TRUE,
           digits = NA, na = "null"), "\n")
