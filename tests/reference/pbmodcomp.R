# Reference figures for the parametric bootstrap likelihood-ratio test (pbkrtest's PBmodcomp).
#
# Run from the repository root:
#
#     Rscript tests/reference/pbmodcomp.R
#
# Writes tests/reference/pbmodcomp.json (about a minute). Requires lme4, pbkrtest and
# jsonlite. The data are the bundled CSV files read back with their factor levels
# (reference_helpers.R). Models, each pair fitted by ML:
#
#   pastes:  strength ~ 1 + (1 | sample)  vs  strength ~ 1 + (1 | batch) + (1 | sample)
#   sleep:   Reaction ~ Days + (1 | Subject)  vs  Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)
#            restricted to the first four days (a small sample, a moderate p value)
#
# The bootstrap p values are random: the Python side checks its own against
# them within Monte Carlo error, and the observed statistic and df exactly.

suppressPackageStartupMessages({
  library(lme4)
  library(pbkrtest)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")

pastes <- read_bundled("pastes", data_dir)
sleep <- read_bundled("sleepstudy", data_dir)
sleep4 <- sleep[sleep$Days < 4, ]

cases <- list(
  pastes = list(small = lmer(strength ~ 1 + (1 | sample), pastes, REML = FALSE),
                large = lmer(strength ~ 1 + (1 | batch) + (1 | sample), pastes, REML = FALSE)),
  sleep4 = list(small = lmer(Reaction ~ Days + (1 | Subject), sleep4, REML = FALSE),
                large = lmer(Reaction ~ Days + (1 | Subject) + (0 + Days | Subject), sleep4,
                             REML = FALSE))
)
nsim <- 4000
out <- lapply(cases, function(cs) {
  set.seed(1)
  pb <- PBmodcomp(cs$large, cs$small, nsim = nsim)
  tab <- pb$test
  list(stat = tab["LRT", "stat"], df = tab["LRT", "df"], p_lrt = tab["LRT", "p.value"],
       p_pb = tab["PBtest", "p.value"], nsim = nsim,
       ref_mean = mean(pb$ref, na.rm = TRUE), ref_sd = sd(pb$ref, na.rm = TRUE),
       ref_quantiles = unname(quantile(pb$ref, c(0.5, 0.9, 0.95), na.rm = TRUE)),
       formulas = c(paste(deparse(formula(cs$small)), collapse = ""),
                    paste(deparse(formula(cs$large)), collapse = "")))
})
out$versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                     pbkrtest = as.character(packageVersion("pbkrtest")))
write_json(out, file.path("tests", "reference", "pbmodcomp.json"), auto_unbox = TRUE,
           digits = NA, pretty = TRUE)
cat("Wrote tests/reference/pbmodcomp.json\n")
