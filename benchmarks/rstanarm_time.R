# Time one rstanarm::stan_lmer call and measure its sampling efficiency.
#
#     Rscript benchmarks/rstanarm_time.R DATA.csv SIDECAR.json FORMULA GROUP CHAINS WARMUP DRAWS SEED
#
#   DATA.csv      the data (e.g. src/multilevel/datasets/data/gcsemv.csv)
#   SIDECAR.json  the bundled data's JSON sidecar ("-" for none): its "categories"
#                 turn those columns back into factors with the recorded levels
#   FORMULA       an lme4 formula, e.g. "course ~ 1 + female + (1 + female | school)"
#   GROUP         the grouping factor of the random-effects term (e.g. school)
#   CHAINS        chains
#   WARMUP, DRAWS warmup iterations and draws kept per chain (Stan's iter = WARMUP + DRAWS)
#   SEED          Stan's seed
#
# Reading the data is not timed; the time is that of the whole stan_lmer() call
# (rstanarm's models are compiled when the package is installed), with its
# default priors, chains run one after another (cores = 1). Rows with a missing
# value in the formula's variables are dropped first, as lme4 does.
#
# The monitored parameters are those benchmarks/bayes.py monitors: the fixed
# effects, sigma, and the group's random-effect SDs and correlations (computed
# from rstanarm's covariance-matrix draws Sigma[...]); not the random effects.
# rstan::monitor gives their rank-normalised bulk and tail ESS and R-hat.
# Prints one line of JSON:
#
#   {"seconds": ..., "min_bulk_ess": ..., "min_tail_ess": ..., "max_rhat": ...,
#    "divergences": ..., "bulk_ess": {...}, ..., "rstanarm_version": "..."}
#
# Requires the R packages rstanarm, rstan and jsonlite.

suppressPackageStartupMessages({
  library(rstanarm)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 8) {
  stop("usage: Rscript rstanarm_time.R DATA.csv SIDECAR.json FORMULA GROUP CHAINS WARMUP DRAWS SEED")
}
csv_path <- args[[1]]
sidecar <- if (args[[2]] != "-") args[[2]] else NULL
form <- as.formula(args[[3]])
group <- args[[4]]
chains <- as.integer(args[[5]])
warmup <- as.integer(args[[6]])
iter <- warmup + as.integer(args[[7]])
seed <- as.integer(args[[8]])

meta <- if (is.null(sidecar)) list() else fromJSON(sidecar, simplifyVector = TRUE)
fac_cols <- names(meta$categories)
col_classes <- setNames(rep("character", length(fac_cols)), fac_cols)
data <- read.csv(csv_path, colClasses = col_classes, na.strings = "",
                 stringsAsFactors = FALSE, check.names = FALSE)
for (col in fac_cols) {
  lev <- as.character(meta$categories[[col]])
  data[[col]] <- factor(data[[col]], levels = lev, ordered = col %in% meta$ordered)
}
data <- data[complete.cases(data[, all.vars(form), drop = FALSE]), , drop = FALSE]

load_before <- as.numeric(strsplit(readLines("/proc/loadavg", n = 1L), " ")[[1]][1:3])
t0 <- proc.time()
fit <- suppressMessages(suppressWarnings(
  stan_lmer(form, data = data, chains = chains, iter = iter, warmup = warmup, seed = seed,
            cores = 1, refresh = 0)))
dt <- proc.time() - t0
load_after <- as.numeric(strsplit(readLines("/proc/loadavg", n = 1L), " ")[[1]][1:3])

sims <- as.array(fit)  # iterations (after warmup) x chains x parameters
pars <- dimnames(sims)[[3]]
fixed <- names(fixef(fit))
sig <- grep(paste0("^Sigma\\[", group, ":"), pars, value = TRUE)
coefs <- unique(sub(paste0("^Sigma\\[", group, ":([^,]+),.*$"), "\\1", sig))
get <- function(a, b) {
  nm <- paste0("Sigma[", group, ":", a, ",", b, "]")
  if (!(nm %in% pars)) nm <- paste0("Sigma[", group, ":", b, ",", a, "]")
  sims[, , nm]
}
out <- list()
for (p in fixed) out[[paste0("b_", p)]] <- sims[, , p]
for (cf in coefs) out[[paste0("sd_", group, "__", cf)]] <- sqrt(get(cf, cf))
if (length(coefs) > 1) {
  for (i in 2:length(coefs)) for (j in 1:(i - 1)) {
    a <- coefs[j]; b <- coefs[i]
    out[[paste0("cor_", group, "__", a, "__", b)]] <- get(a, b) / sqrt(get(a, a) * get(b, b))
  }
}
out[["sigma"]] <- sims[, , "sigma"]
names(out) <- gsub("(Intercept)", "Intercept", names(out), fixed = TRUE)  # brms's names
mon_arr <- array(unlist(out), dim = c(dim(sims)[1:2], length(out)),
                 dimnames = list(NULL, NULL, names(out)))
mon <- rstan::monitor(mon_arr, warmup = 0, print = FALSE)
bulk <- setNames(mon[, "Bulk_ESS"], names(out))
tail_ess <- setNames(mon[, "Tail_ESS"], names(out))
rhat <- setNames(mon[, "Rhat"], names(out))
sp <- rstan::get_sampler_params(fit$stanfit, inc_warmup = FALSE)
div <- sum(vapply(sp, function(m) sum(m[, "divergent__"]), numeric(1)))

cat(toJSON(list(
  seconds = unname(dt[["elapsed"]]),
  cpu_seconds = unname(dt[["user.self"]] + dt[["sys.self"]]),
  min_bulk_ess = unname(min(bulk)), min_bulk_ess_parameter = names(bulk)[which.min(bulk)],
  min_tail_ess = unname(min(tail_ess)), max_rhat = unname(max(rhat)),
  divergences = div,
  min_ess_per_s = unname(min(bulk)) / unname(dt[["elapsed"]]),
  bulk_ess = as.list(bulk), tail_ess = as.list(tail_ess), rhat = as.list(rhat),
  chains = chains, warmup = warmup, iter = iter, nobs = nobs(fit),
  loadavg_before = load_before, loadavg_after = load_after,
  rstanarm_version = as.character(packageVersion("rstanarm")),
  rstan_version = as.character(packageVersion("rstan")),
  r_version = paste(R.version$major, R.version$minor, sep = ".")
), auto_unbox = TRUE, digits = NA), "\n")
