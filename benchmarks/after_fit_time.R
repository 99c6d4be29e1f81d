# Time R's after-the-fit tools, for benchmarks/after_fit.py.
# Usage: Rscript benchmarks/after_fit_time.R DATA_DIR NSIM
# Prints one line of JSON (seconds, one run each, after a warm-up of each):
#   influence: influence.merMod leaving out each of Gcsemv's 73 schools,
#   power:     NSIM simulate + refit + lmerTest t test of Days on sleepstudy's
#              random-slope model (what simr's powerSim does for one design),
#   pbtest:    PBmodcomp with NSIM simulations (sleepstudy's Days, random slope).
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(pbkrtest); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
source(file.path("tests", "reference", "reference_helpers.R"))
gcse <- read_bundled("gcsemv", args[1]); sleep <- read_bundled("sleepstudy", args[1])
nsim <- as.integer(args[2])
m1 <- lme4::lmer(course ~ 1 + female + (1 | school), gcse)
infl <- system.time(influence(m1, groups = "school", data = gcse))[["elapsed"]]
m2 <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleep)
pw <- system.time({
  ys <- simulate(m2, nsim = nsim, seed = 1)
  p <- vapply(ys, function(y) {
    f <- suppressMessages(suppressWarnings(lmerTest::lmer(y ~ Days + (Days | Subject), data = cbind(sleep, y = y))))
    summary(f)$coefficients["Days", "Pr(>|t|)"]
  }, numeric(1))
})[["elapsed"]]
m0 <- lme4::lmer(Reaction ~ 1 + (Days | Subject), sleep, REML = FALSE)
m3 <- lme4::lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE)
pb <- system.time(suppressWarnings(PBmodcomp(m3, m0, nsim = nsim)))[["elapsed"]]
cat(toJSON(list(influence = infl, power = pw, pbtest = pb), auto_unbox = TRUE, digits = NA), "\n")
