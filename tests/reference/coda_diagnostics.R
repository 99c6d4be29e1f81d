# Reference figures for the MCMC diagnostics in multilevel.bayes.diagnostics:
# coda (what runjags prints) and posterior (what brms prints).
#
# Run from the repository root:
#
#     Rscript tests/reference/coda_diagnostics.R
#
# Step 1 draws a fixed set of chains (4 chains x 500 draws of 7 parameters,
# set.seed(20240521)) and writes them with 17 significant digits to
# tests/reference/data/mcmc_chains.csv (columns chain, draw, then one column
# per parameter).  Step 2 reads that file back, so R and the Python tests see
# the same doubles, and writes tests/reference/coda_diagnostics.json:
#
#   {"r_version", "coda_version", "posterior_version", "n_chains", "n_draws",
#    "parameters": [names],
#    "coda": {
#       "psrf":            gelman.diag(x, autoburnin = FALSE, multivariate = FALSE)
#                          point estimates, {parameter: value}
#       "psrf_transform":  the same with transform = TRUE
#       "psrf_upper":      the upper 97.5% limits (transform = FALSE)
#       "effective_size":  effectiveSize(mcmc.list) (summed over chains)
#       "effective_size_chain1": effectiveSize of the first chain alone
#       "ar_order_chain1": the AR order spectrum0.ar picked for the first chain
#       "autocorr":        autocorr.diag(mcmc.list, lags = c(1, 10, 50)),
#                          {"1": {parameter: value}, "10": ..., "50": ...}
#       "hpd":             HPDinterval(pooled draws, prob), {"0.95": {parameter:
#                          [lower, upper]}, "0.9": ..., "0.5": ...}
#       "mean", "sd":      summary(mcmc.list)$statistics
#       "mode_discrete":   for the integer-valued parameter, runjags' rule: the
#                          most frequent value, names(sort(table(x), TRUE))[1]
#    },
#    "posterior": {"rhat", "ess_bulk", "ess_tail", "mcse_mean", "mcse_sd",
#                  "q2.5", "q97.5"}: posterior's functions on the draws array}
#
# Parameters: normal (iid N(0, 1)); ar1 (AR(1), phi = 0.9, mean 5, sd 2);
# ar1_negative (phi = -0.5); lognormal (exp of an AR(1) with phi = 0.5);
# unit (inverse logit of an AR(1) with phi = 0.7, inside (0, 1)); shifted
# (iid with chain means 0, 0.1, 0.2, 0.3: psrf above 1); counts (Poisson(3)
# integers, many ties).

suppressPackageStartupMessages({
  library(coda)
  library(posterior)
  library(jsonlite)
})

here <- "tests/reference"
csv_path <- file.path(here, "data", "mcmc_chains.csv")
json_path <- file.path(here, "coda_diagnostics.json")

n_chains <- 4L
n_draws <- 500L

ar1 <- function(n, phi, sd = 1) {
  e <- rnorm(n, sd = sd)
  x <- numeric(n)
  x[1] <- e[1] / sqrt(1 - phi^2)
  for (t in 2:n) x[t] <- phi * x[t - 1] + e[t]
  x
}

# ---- step 1: the chains --------------------------------------------------------
set.seed(20240521)
rows <- list()
for (ch in seq_len(n_chains)) {
  rows[[ch]] <- data.frame(
    chain = ch,
    draw = seq_len(n_draws),
    normal = rnorm(n_draws),
    ar1 = 5 + 2 * sqrt(1 - 0.9^2) * ar1(n_draws, 0.9),
    ar1_negative = ar1(n_draws, -0.5),
    lognormal = exp(0.5 * ar1(n_draws, 0.5)),
    unit = plogis(ar1(n_draws, 0.7)),
    shifted = rnorm(n_draws, mean = 0.1 * (ch - 1)),
    counts = rpois(n_draws, 3)
  )
}
chains <- do.call(rbind, rows)
params <- setdiff(names(chains), c("chain", "draw"))
out <- chains
for (p in params) out[[p]] <- sprintf("%.17g", chains[[p]])
write.csv(out, csv_path, row.names = FALSE, quote = FALSE)

# ---- step 2: the figures, from the file as written ------------------------------
chains <- read.csv(csv_path)
as_list <- function(df) {
  mcmc.list(lapply(split(df, df$chain), function(d) mcmc(as.matrix(d[, params]))))
}
ml <- as_list(chains)
pooled <- as.matrix(chains[, params])

# jsonlite writes at most 15 significant digits; numbers go out verbatim with 17.
num <- function(v) {
  s <- ifelse(is.finite(v), sprintf("%.17g", v), "null")
  if (length(v) != 1) s <- paste0("[", paste(s, collapse = ","), "]")
  structure(s, class = "json")
}
named <- function(v) setNames(lapply(as.numeric(v), num), params)

g <- gelman.diag(ml, autoburnin = FALSE, multivariate = FALSE)
gt <- gelman.diag(ml, autoburnin = FALSE, multivariate = FALSE, transform = TRUE)
ac <- autocorr.diag(ml, lags = c(1, 10, 50))
hpd <- list()
for (prob in c(0.95, 0.9, 0.5)) {
  h <- HPDinterval(mcmc(pooled), prob = prob)
  hpd[[format(prob)]] <- setNames(lapply(params, function(p) num(unname(h[p, ]))), params)
}
stats <- summary(ml)$statistics
counts <- pooled[, "counts"]
mode_counts <- as.numeric(names(sort(table(counts), decreasing = TRUE))[1])
ar_order <- coda:::spectrum0.ar(ml[[1]])$order

draws <- array(NA_real_, dim = c(n_draws, n_chains, length(params)),
               dimnames = list(NULL, NULL, params))
for (ch in seq_len(n_chains)) draws[, ch, ] <- as.matrix(chains[chains$chain == ch, params])
post <- function(f) named(sapply(params, function(p) f(draws[, , p])))

result <- list(
  r_version = R.version.string,
  coda_version = as.character(packageVersion("coda")),
  posterior_version = as.character(packageVersion("posterior")),
  n_chains = n_chains,
  n_draws = n_draws,
  parameters = params,
  coda = list(
    psrf = named(g$psrf[, 1]),
    psrf_transform = named(gt$psrf[, 1]),
    psrf_upper = named(g$psrf[, 2]),
    effective_size = named(effectiveSize(ml)),
    effective_size_chain1 = named(effectiveSize(ml[[1]])),
    ar_order_chain1 = as.list(setNames(as.integer(ar_order), params)),
    autocorr = list(
      "1" = named(ac["Lag 1", ]),
      "10" = named(ac["Lag 10", ]),
      "50" = named(ac["Lag 50", ])
    ),
    hpd = hpd,
    mean = named(stats[, "Mean"]),
    sd = named(stats[, "SD"]),
    mode_discrete = list(counts = num(mode_counts))
  ),
  posterior = list(
    rhat = post(posterior::rhat),
    ess_bulk = post(posterior::ess_bulk),
    ess_tail = post(posterior::ess_tail),
    mcse_mean = post(posterior::mcse_mean),
    mcse_sd = post(posterior::mcse_sd),
    "q2.5" = post(function(x) quantile(x, 0.025, names = FALSE)),
    "q97.5" = post(function(x) quantile(x, 0.975, names = FALSE))
  )
)
writeLines(toJSON(result, auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE), json_path)
cat("wrote", csv_path, "and", json_path, "\n")
