# Time lme4::bootMer: a parametric bootstrap of NSIM refits of one lmer fit.
#
#     Rscript benchmarks/bootmer_time.R DATA.csv FORMULA REML NSIM SIDECAR.json
#
# The statistic is lme4's own for confint(method = "boot"): the sd's,
# correlations and sigma (lme4:::mkMinimalBootFun's scale) and the fixed
# effects; one core (bootMer's default parallel = "no"). Reading the data and
# the first fit are not timed. Prints one line of JSON:
#   {"seconds": ..., "nsim": ..., "lme4_version": "..."}

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[[1]], stringsAsFactors = FALSE)
side <- fromJSON(args[[5]])
for (col in names(side$categories)) d[[col]] <- factor(d[[col]], levels = side$categories[[col]])
fit <- lmer(as.formula(args[[2]]), d, REML = as.logical(args[[3]]))
nsim <- as.integer(args[[4]])
fun <- function(f) c(as.data.frame(VarCorr(f))$sdcor, fixef(f))
invisible(bootMer(fit, fun, nsim = 5, seed = 1))  # warm-up
t <- system.time(b <- bootMer(fit, fun, nsim = nsim, seed = 1))[["elapsed"]]
cat(toJSON(list(seconds = t, nsim = nsim, lme4_version = as.character(packageVersion("lme4"))),
           auto_unbox = TRUE), "\n")
