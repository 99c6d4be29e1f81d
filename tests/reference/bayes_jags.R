# Reference posteriors of Bayesian multilevel models, computed with JAGS.
#
# Run from the repository root (one R process; JAGS runs the chains of a
# model one after another in that process):
#
#     Rscript tests/reference/bayes_jags.R             # every model
#     Rscript tests/reference/bayes_jags.R gcsemv_m3   # re-run some entries,
#                                                      # keep the others
#
# Entries: anorexia_m5, gcsemv_m3, rasch5_1000 (under "models") and
# anorexia_m5_notes_run (under "benchmark").  The whole script takes about
# 13 minutes of CPU time (anorexia_m5 2.2, gcsemv_m3 2.2, rasch5_1000 6.4,
# anorexia_m5_notes_run 2.0); on a 2-core machine shared with other jobs
# (load average 3-8) it took about 21 minutes of wall time.  The run lengths
# below keep the Monte Carlo error of every posterior mean under 2% of the
# posterior SD (largest: sd_person__Intercept of rasch5_1000, about 1.75%,
# ESS about 3300; everything else 1.5% or less).
#
# Requires JAGS 4 and the R packages rjags, coda and jsonlite (Debian:
# apt-get install jags r-cran-rjags r-cran-coda r-cran-jsonlite).
#
# The results are written to tests/reference/bayes_jags.json so that tests can
# use them without R.  For every model the file records the data used, the
# lme4-style formula, the JAGS model text, the priors in machine-readable form
# (one entry per parameter: parameter, class, distribution, parameters and
# the JAGS statement), the mapping from JAGS node names to the brms-style
# names used throughout (b_Intercept, b_femaleF, sd_school__Intercept,
# sd_school__femaleF, cor_school__Intercept__femaleF, sigma, ...), the run
# settings (chains, adaptation, burn-in, iterations per chain, thin, RNG
# seeds), the timing of the whole run (from jags.model() to the end of
# coda.samples(), wall and CPU seconds) and, for every parameter, the
# posterior mean, SD, 2.5/50/97.5% quantiles, 95% HPD interval, Monte Carlo
# standard error of the mean (sd / sqrt(ESS), as runjags' MCerr) and of the
# SD, coda::effectiveSize over all chains, and the Gelman-Rubin PSRF.  "min
# ESS per second" is the smallest effectiveSize over the monitored
# parameters divided by the wall seconds of the run.
#
# The models:
#
# * anorexia_m5 -- "Model 5" of the JAGS course notes on Bayesian multilevel
#   models (anorexia data, 72 girls weighed before and after treatment):
#     weight_ij = g0 + g1*time_ij + g2*rx1_ij + g3*rx3_ij
#                 + U0j + U1j*time_ij + e_ij,
#     U0j ~ N(0, 1/ptau0), U1j ~ N(0, tau1^2) independent, e_ij ~ N(0, sigma^2),
#   with the notes' priors: g0..g3 ~ dnorm(0, 1/(100*sdY^2)) (precision;
#   sdY = sd of all 144 weights), ptau0 ~ dgamma(0.001, 0.001) on the
#   intercept precision (tau0 = 1/sqrt(ptau0) derived), tau1 ~
#   dunif(0.0001, 200), sigma ~ dunif(0.0001, 2000).  The notes' data are in
#   long form, two rows per girl, with time coded 1 (before) and 2 (after)
#   and dummies Rx1 = cognitive behavioural (CBT), Rx3 = family treatment
#   (FT), control as reference; the bundled anorexia.csv has the same coding
#   and is used as it is (the coding matters: the intercept and slope effects
#   are independent, so the model is not invariant to shifting time; with time
#   1/2 the fit reproduces the notes' printed posterior).  In lme4 notation:
#   weight ~ 1 + time + rx1 + rx3 + (1 + time || girl).
#
# * gcsemv_m3 -- course ~ 1 + female + (1 + female | school) on the GCSE
#   coursework data, rows with missing course dropped (1725 of 1905 rows, as
#   lme4 does), female = 1 for level F of relevel(gender, "M"):
#     b_Intercept, b_femaleF ~ normal(0, sd = 100);
#     (u0j, u1j) ~ MVN(0, Sigma), Sigma = diag(sd) R diag(sd);
#     sd_school__Intercept, sd_school__femaleF ~ uniform(0.0001, 200);
#     cor_school__Intercept__femaleF ~ uniform(-1, 1) (= LKJ(1) for 2 x 2);
#     sigma ~ uniform(0.0001, 200).
#
# * rasch5_1000 -- logistic random-intercept (Rasch) model on persons 1..1000
#   of the bundled simulated rasch5 data (5000 rows):
#     y ~ 0 + item + (1 | person), family bernoulli(logit);
#     b_itema..b_iteme ~ normal(0, sd = 10); sd_person__Intercept ~
#     uniform(0, 10).
#
# * benchmark anorexia_m5_notes_run -- the same Model 5 run exactly as the
#   notes run it with runjags (4 chains, adapt 1000 + burn-in 4000, then
#   sample = 20000 per chain with thin = 20, i.e. 400000 iterations per chain,
#   monitoring g0, g1, g2, g3, sigma, ptau0, tau1).  runjags ran the chains
#   in parallel (49.7 s in the notes); here they run one after another in a
#   single process, so the wall time is for sequential chains.  The notes'
#   own figures are recorded beside the measured ones.  Because the machine
#   may be shared, the load average before and after each run is recorded
#   together with wall and CPU seconds.

suppressPackageStartupMessages({
  library(rjags)
  library(coda)
  library(jsonlite)
})

data_dir <- file.path("src", "multilevel", "datasets", "data")
ref_dir <- file.path("tests", "reference")
out_file <- file.path(ref_dir, "bayes_jags.json")


## Reading the bundled data (as in lme4_lmm.R) -------------------------------

read_with_sidecar <- function(csv_path, json_path) {
  meta <- fromJSON(json_path, simplifyVector = TRUE)
  fac_cols <- names(meta$categories)
  col_classes <- setNames(rep("character", length(fac_cols)), fac_cols)
  df <- read.csv(csv_path, colClasses = col_classes, na.strings = "",
                 stringsAsFactors = FALSE, check.names = FALSE)
  for (col in fac_cols) {
    lev <- as.character(meta$categories[[col]])
    stopifnot(all(df[[col]] %in% c(lev, NA)))
    df[[col]] <- factor(df[[col]], levels = lev,
                        ordered = col %in% meta$ordered)
  }
  df
}

read_bundled <- function(name) {
  json_path <- file.path(data_dir, paste0(name, ".json"))
  df <- read_with_sidecar(file.path(data_dir, paste0(name, ".csv")), json_path)
  stopifnot(nrow(df) == fromJSON(json_path)$nrow)
  df
}


## Running JAGS and summarising ------------------------------------------------

loadavg <- function() {
  x <- tryCatch(readLines("/proc/loadavg", n = 1L), error = function(e) "")
  as.numeric(strsplit(x, " ")[[1]][1:3])
}

# Compile, adapt, burn in and sample; the timing covers all of it.
run_jags <- function(model_text, data, inits, monitor, n_adapt, n_burnin,
                     n_iter, thin) {
  load_before <- loadavg()
  t0 <- proc.time()
  jm <- jags.model(textConnection(model_text), data = data, inits = inits,
                   n.chains = length(inits), n.adapt = n_adapt, quiet = TRUE)
  update(jm, n_burnin, progress.bar = "none")
  samples <- coda.samples(jm, monitor, n.iter = n_iter, thin = thin,
                          progress.bar = "none")
  dt <- proc.time() - t0
  samplers <- list.samplers(jm)
  list(samples = samples,
       timing = list(wall_s = unname(dt[["elapsed"]]),
                     cpu_s = unname(dt[["user.self"]] + dt[["sys.self"]]),
                     loadavg_before = load_before, loadavg_after = loadavg()),
       samplers = sort(unique(names(samplers))))
}

# Rename JAGS nodes to brms-style names and add derived quantities:
#   rename: named character vector, brms name -> JAGS node;
#   derive: named list, brms name -> function(matrix of JAGS draws).
relabel <- function(samples, rename, derive = list()) {
  as.mcmc.list(lapply(samples, function(ch) {
    m <- as.matrix(ch)
    out <- m[, unname(rename), drop = FALSE]
    colnames(out) <- names(rename)
    for (nm in names(derive)) {
      out <- cbind(out, derive[[nm]](m))
      colnames(out)[ncol(out)] <- nm
    }
    mcmc(out, start = start(ch), thin = thin(ch))
  }))
}

# Monte Carlo SE of the posterior SD: delta method on the second central
# moment, with the ESS of the squared deviations.
mcse_sd <- function(x_list) {
  all <- unlist(lapply(x_list, as.numeric))
  m <- mean(all)
  s <- sd(all)
  sq <- as.mcmc.list(lapply(x_list, function(x) mcmc((as.numeric(x) - m)^2)))
  ess2 <- effectiveSize(sq)
  sqrt(var(unlist(lapply(sq, as.numeric))) / ess2) / (2 * s)
}

summarise <- function(samples) {
  pooled <- as.matrix(samples)
  ess <- effectiveSize(samples)
  psrf <- gelman.diag(samples, autoburnin = FALSE,
                      multivariate = FALSE)$psrf[, 1]
  hpd <- HPDinterval(as.mcmc(pooled), prob = 0.95)
  res <- list()
  for (p in colnames(pooled)) {
    x <- pooled[, p]
    q <- unname(quantile(x, c(0.025, 0.5, 0.975)))
    s <- sd(x)
    res[[p]] <- list(
      mean = mean(x), sd = s,
      q2.5 = q[1], q50 = q[2], q97.5 = q[3],
      hpd95_lower = unname(hpd[p, "lower"]),
      hpd95_upper = unname(hpd[p, "upper"]),
      mc_error = s / sqrt(ess[[p]]),
      mc_pct_of_sd = 100 / sqrt(ess[[p]]),
      mc_error_sd = mcse_sd(samples[, p]),
      ess = unname(ess[[p]]),
      psrf = unname(psrf[[p]])
    )
  }
  res
}

# Assemble one JSON entry.
describe_run <- function(run, params, monitored, settings, extra = list()) {
  summ <- summarise(params)
  ess <- vapply(summ, function(s) s$ess, numeric(1))
  ess_mon <- ess[monitored]
  c(extra, list(
    settings = c(settings, list(
      draws_per_chain = nrow(params[[1]]),
      draws_total = nrow(params[[1]]) * length(params),
      samplers = run$samplers)),
    timing = c(run$timing, list(
      min_ess = unname(min(ess_mon)),
      min_ess_parameter = names(ess_mon)[which.min(ess_mon)],
      min_ess_per_s = unname(min(ess_mon)) / run$timing$wall_s,
      min_ess_per_cpu_s = unname(min(ess_mon)) / run$timing$cpu_s,
      ess_per_s = as.list(ess / run$timing$wall_s),
      min_ess_over = monitored)),
    max_mc_pct_of_sd = max(vapply(summ, function(s) s$mc_pct_of_sd, numeric(1))),
    max_psrf = max(vapply(summ, function(s) s$psrf, numeric(1))),
    parameters = summ))
}

prior <- function(parameter, class, distribution, parameters, jags, note = NULL) {
  p <- list(parameter = parameter, class = class, distribution = distribution,
            parameters = parameters, jags = jags)
  if (!is.null(note)) p$note <- note
  p
}

rng_inits <- function(inits, seed0) {
  lapply(seq_along(inits), function(k)
    c(inits[[k]], list(.RNG.name = "base::Mersenne-Twister",
                       .RNG.seed = seed0 + k)))
}

settings_list <- function(n_chains, n_adapt, n_burnin, n_iter, thin, seed0,
                          modules) {
  list(chains = n_chains, adapt = n_adapt, burnin = n_burnin,
       iterations_per_chain = n_iter, thin = thin,
       rng = "base::Mersenne-Twister",
       rng_seeds = seed0 + seq_len(n_chains),
       chains_run = "sequentially, in one process",
       jags_modules = modules)
}


## Anorexia, model 5 of the notes ---------------------------------------------

ano <- read_bundled("anorexia")
ano <- ano[order(ano$girl, ano$time), ]
stopifnot(nrow(ano) == 144L, all(table(ano$girl) == 2L),
          all(ano$time == rep(1:2, 72L)))
ano_data <- list(
  y = ano$weight,
  time = ano$time,              # the notes' coding: 1 = before, 2 = after
  rx1 = ano$rx1,                # cognitive behavioural treatment
  rx3 = ano$rx3,                # family treatment
  sdY = sd(ano$weight),
  n = nrow(ano),
  ng = nrow(ano) / 2,
  girl = ano$girl
)

model5 <- "model {
for (i in 1:n) {
  y[i] ~ dnorm(mu[i], precision)
  mu[i] <- g0 + g1*time[i] + g2*rx1[i] + g3*rx3[i]
           + U0j[girl[i]] + U1j[girl[i]]*time[i]
}

for (j in 1:ng) {
  U0j[j] ~ dnorm(0, ptau0)
  U1j[j] ~ dnorm(0, ptau1)
}

g0 ~ dnorm(0, 1/(100*sdY^2))
g1 ~ dnorm(0, 1/(100*sdY^2))
g2 ~ dnorm(0, 1/(100*sdY^2))
g3 ~ dnorm(0, 1/(100*sdY^2))

ptau0 ~ dgamma(0.001, 0.001)
tau0 <- 1/sqrt(ptau0)

tau1 ~ dunif(0.0001, 200)
ptau1 <- 1/tau1^2

sigma ~ dunif(0.0001, 2000)
precision <- 1/sigma^2
}"

ano_monitor <- c("g0", "g1", "g2", "g3", "sigma", "ptau0", "tau1")
ano_rename <- c(b_Intercept = "g0", b_time = "g1", b_rx1 = "g2", b_rx3 = "g3",
                sigma = "sigma", prec_girl__Intercept = "ptau0",
                sd_girl__time = "tau1")
ano_derive <- list(sd_girl__Intercept = function(m) 1 / sqrt(m[, "ptau0"]))
# Dispersed starting values, one list per chain.
ano_inits <- list(
  list(g0 = 70, g1 = 0, g2 = 0, g3 = 0, ptau0 = 0.01, tau1 = 1, sigma = 3),
  list(g0 = 85, g1 = 5, g2 = -3, g3 = 8, ptau0 = 1, tau1 = 5, sigma = 8),
  list(g0 = 78, g1 = 3, g2 = 5, g3 = -2, ptau0 = 100, tau1 = 0.5, sigma = 5),
  list(g0 = 75, g1 = -2, g2 = 2, g3 = 4, ptau0 = 0.1, tau1 = 3, sigma = 12)
)
sdY <- ano_data$sdY
ano_prior_sd <- sqrt(100) * sdY
ano_priors <- list(
  prior("b_Intercept", "b", "normal",
        list(mean = 0, sd = ano_prior_sd, precision = 1 / (100 * sdY^2)),
        "g0 ~ dnorm(0, 1/(100*sdY^2))"),
  prior("b_time", "b", "normal",
        list(mean = 0, sd = ano_prior_sd, precision = 1 / (100 * sdY^2)),
        "g1 ~ dnorm(0, 1/(100*sdY^2))"),
  prior("b_rx1", "b", "normal",
        list(mean = 0, sd = ano_prior_sd, precision = 1 / (100 * sdY^2)),
        "g2 ~ dnorm(0, 1/(100*sdY^2))"),
  prior("b_rx3", "b", "normal",
        list(mean = 0, sd = ano_prior_sd, precision = 1 / (100 * sdY^2)),
        "g3 ~ dnorm(0, 1/(100*sdY^2))"),
  prior("sd_girl__Intercept", "sd", "gamma",
        list(shape = 0.001, rate = 0.001, on = "precision"),
        "ptau0 ~ dgamma(0.001, 0.001); tau0 <- 1/sqrt(ptau0)",
        "gamma(shape, rate) on the precision 1/sd^2, i.e. sd^2 ~ inverse-gamma(0.001, scale 0.001)"),
  prior("sd_girl__time", "sd", "uniform", list(lower = 0.0001, upper = 200),
        "tau1 ~ dunif(0.0001, 200); ptau1 <- 1/tau1^2"),
  prior("sigma", "sigma", "uniform", list(lower = 0.0001, upper = 2000),
        "sigma ~ dunif(0.0001, 2000); precision <- 1/sigma^2")
)
ano_common <- list(
  dataset = "anorexia",
  data = list(
    file = "src/multilevel/datasets/data/anorexia.csv",
    rows = nrow(ano), groups = ano_data$ng,
    transformations = list(
      time = "1 = before, 2 = after, as in the file (the notes' coding)",
      rx1 = "1 if rx == 1 (CBT) else 0, as in the file",
      rx3 = "1 if rx == 3 (FT) else 0, as in the file"),
    sdY = sdY),
  formula = "weight ~ 1 + time + rx1 + rx3 + (1 + time || girl)",
  family = "gaussian", link = "identity",
  jags_model = model5,
  priors = ano_priors,
  parameter_map = list(
    b_Intercept = "g0", b_time = "g1", b_rx1 = "g2", b_rx3 = "g3",
    sd_girl__Intercept = "tau0 (= 1/sqrt(ptau0), derived from the draws of ptau0)",
    prec_girl__Intercept = "ptau0", sd_girl__time = "tau1", sigma = "sigma")
)

# notes' derived quantity: tau0 computed from the posterior mean of ptau0.
notes_tau0 <- function(params) {
  list(tau0_from_mean_ptau0 = list(
    value = 1 / sqrt(mean(as.matrix(params)[, "prec_girl__Intercept"])),
    definition = "1/sqrt(posterior mean of ptau0), as printed in the notes (1/sqrt(126.71) = 0.0888)",
    note = "not the posterior mean of tau0 (see sd_girl__Intercept), and unstable because ptau0 is heavy-tailed"))
}

no_glm <- function() if ("glm" %in% list.modules()) unload.module("glm", quiet = TRUE)

fit_anorexia_reference <- function() {
  no_glm()
  s <- settings_list(4L, 1000L, 5000L, 400000L, 20L, 5000L, c("basemod", "bugs"))
  run <- run_jags(model5, ano_data, rng_inits(ano_inits, s$rng_seeds[1] - 1L),
                  ano_monitor, s$adapt, s$burnin, s$iterations_per_chain, s$thin)
  params <- relabel(run$samples, ano_rename, ano_derive)
  c(describe_run(run, params, colnames(params[[1]]), s,
                 extra = c(list(description = "Model 5 of the JAGS notes (anorexia), long reference run"),
                           ano_common)),
    list(derived = notes_tau0(params)))
}

fit_anorexia_notes_run <- function() {
  no_glm()
  # runjags: adapt 1000, burnin 4000, sample 20000 (saved, per chain), thin 20.
  s <- settings_list(4L, 1000L, 4000L, 20000L * 20L, 20L, 1000L,
                     c("basemod", "bugs"))
  run <- run_jags(model5, ano_data, rng_inits(ano_inits, s$rng_seeds[1] - 1L),
                  ano_monitor, s$adapt, s$burnin, s$iterations_per_chain, s$thin)
  params <- relabel(run$samples, ano_rename, ano_derive)
  monitored <- names(ano_rename)  # the notes' seven monitored nodes
  entry <- describe_run(
    run, params, monitored, s,
    extra = c(list(description = paste(
      "Model 5 of the JAGS notes run with the notes' settings",
      "(run.jags: n.chains = 4, sample = 20000, thin = 20, adapt + burnin = 5000)."),
      speed_target = "the Python route should reach 100 x min_ess_per_s"),
      ano_common))
  mon_no_prec <- setdiff(monitored, "prec_girl__Intercept")
  ess <- vapply(entry$parameters, function(p) p$ess, numeric(1))
  entry$timing$min_ess_excluding_ptau0 <- unname(min(ess[mon_no_prec]))
  entry$timing$min_ess_excluding_ptau0_parameter <-
    mon_no_prec[which.min(ess[mon_no_prec])]
  entry$timing$min_ess_per_s_excluding_ptau0 <-
    unname(min(ess[mon_no_prec])) / entry$timing$wall_s
  entry$timing$min_ess_per_s_sd_scale <- unname(min(
    ess[c(mon_no_prec, "sd_girl__Intercept")])) / entry$timing$wall_s
  entry$notes_reported <- list(
    wall_s = 49.7, chains_run = "in parallel (runjags method = 'parallel')",
    samples = 80000,
    sseff = list(g0 = 37589, g1 = 38508, g2 = 40126, g3 = 38369,
                 sigma = 34320, ptau0 = 7841, tau1 = 22082),
    mean = list(g0 = 77.675, g1 = 2.7846, g2 = 2.3, g3 = 4.2688,
                sigma = 5.1802, ptau0 = 126.71, tau1 = 2.4871),
    sd = list(g0 = 1.6103, g1 = 0.92155, g2 = 1.4138, g3 = 1.7173,
              sigma = 0.47197, ptau0 = 330.29, tau1 = 0.53629),
    min_ess = 7841, min_ess_parameter = "ptau0",
    min_ess_per_s = 7841 / 49.7)
  entry$derived <- notes_tau0(params)
  entry
}


## GCSE coursework: course ~ 1 + female + (1 + female | school) ---------------

fit_gcsemv <- function() {
  gc <- read_bundled("gcsemv")
  n_all <- nrow(gc)
  gc <- gc[!is.na(gc$course), ]
  gc$school <- droplevels(gc$school)
  dat <- list(y = gc$course, female = as.numeric(gc$female == "F"),
              school = as.integer(gc$school), n = nrow(gc),
              J = nlevels(gc$school), zero = c(0, 0))
  txt <- "model {
for (i in 1:n) {
  y[i] ~ dnorm(mu[i], 1/sigma^2)
  mu[i] <- b[1] + b[2]*female[i] + u[school[i], 1] + u[school[i], 2]*female[i]
}
for (j in 1:J) {
  u[j, 1:2] ~ dmnorm(zero[1:2], Omega[1:2, 1:2])
}
Sigma[1, 1] <- sd_int^2
Sigma[2, 2] <- sd_fem^2
Sigma[1, 2] <- rho*sd_int*sd_fem
Sigma[2, 1] <- Sigma[1, 2]
Omega[1:2, 1:2] <- inverse(Sigma[1:2, 1:2])
b[1] ~ dnorm(0, 1/100^2)
b[2] ~ dnorm(0, 1/100^2)
sd_int ~ dunif(0.0001, 200)
sd_fem ~ dunif(0.0001, 200)
rho ~ dunif(-1, 1)
sigma ~ dunif(0.0001, 200)
}"
  inits <- list(
    list(b = c(60, 0), sd_int = 5, sd_fem = 3, rho = 0.5, sigma = 10),
    list(b = c(80, 15), sd_int = 20, sd_fem = 15, rho = -0.8, sigma = 20),
    list(b = c(70, 7), sd_int = 10, sd_fem = 7, rho = 0, sigma = 13),
    list(b = c(75, -5), sd_int = 2, sd_fem = 20, rho = -0.3, sigma = 16)
  )
  load.module("glm", quiet = TRUE)
  s <- settings_list(4L, 500L, 2000L, 20000L, 4L, 2000L,
                     c("basemod", "bugs", "glm"))
  run <- run_jags(txt, dat, rng_inits(inits, s$rng_seeds[1] - 1L),
                  c("b", "sd_int", "sd_fem", "rho", "sigma"),
                  s$adapt, s$burnin, s$iterations_per_chain, s$thin)
  rename <- c(b_Intercept = "b[1]", b_femaleF = "b[2]",
              sd_school__Intercept = "sd_int", sd_school__femaleF = "sd_fem",
              cor_school__Intercept__femaleF = "rho", sigma = "sigma")
  params <- relabel(run$samples, rename)
  priors <- list(
    prior("b_Intercept", "b", "normal", list(mean = 0, sd = 100), "b[1] ~ dnorm(0, 1/100^2)"),
    prior("b_femaleF", "b", "normal", list(mean = 0, sd = 100), "b[2] ~ dnorm(0, 1/100^2)"),
    prior("sd_school__Intercept", "sd", "uniform", list(lower = 0.0001, upper = 200),
          "sd_int ~ dunif(0.0001, 200)"),
    prior("sd_school__femaleF", "sd", "uniform", list(lower = 0.0001, upper = 200),
          "sd_fem ~ dunif(0.0001, 200)"),
    prior("cor_school__Intercept__femaleF", "cor", "uniform", list(lower = -1, upper = 1),
          "rho ~ dunif(-1, 1)", "equal to lkj(1) for a 2 x 2 correlation matrix"),
    prior("sigma", "sigma", "uniform", list(lower = 0.0001, upper = 200),
          "sigma ~ dunif(0.0001, 200)")
  )
  describe_run(run, params, colnames(params[[1]]), s, extra = list(
    description = "GCSE coursework, random intercept and female slope correlated by school (M3 of the lme4/rstanarm tutorial)",
    dataset = "gcsemv",
    data = list(file = "src/multilevel/datasets/data/gcsemv.csv",
                rows_in_file = n_all, rows = nrow(gc), groups = dat$J,
                transformations = list(
                  rows = "rows with missing course dropped (as lme4's na.omit)",
                  female = "1 if female == 'F' else 0 (factor female, levels M, F)")),
    formula = "course ~ 1 + female + (1 + female | school)",
    family = "gaussian", link = "identity",
    jags_model = txt, priors = priors,
    parameter_map = as.list(rename),
    aliases = list(b_female = "b_femaleF", sd_school__female = "sd_school__femaleF",
                   cor_school__Intercept__female = "cor_school__Intercept__femaleF")))
}


## Rasch model on 1000 persons of rasch5 ----------------------------------------

fit_rasch <- function(n_persons = 1000L) {
  r <- read_bundled("rasch5")
  r <- r[r$person <= n_persons, ]
  r <- r[order(r$person, r$item), ]
  stopifnot(nrow(r) == 5L * n_persons)
  dat <- list(y = r$y, item = as.integer(r$item), person = r$person,
              n = nrow(r), J = n_persons, K = nlevels(r$item))
  txt <- "model {
for (i in 1:n) {
  y[i] ~ dbern(ilogit(b[item[i]] + u[person[i]]))
}
for (j in 1:J) {
  u[j] ~ dnorm(0, 1/sd_person^2)
}
for (k in 1:K) {
  b[k] ~ dnorm(0, 1/10^2)
}
sd_person ~ dunif(0, 10)
}"
  inits <- list(
    list(b = c(0, 0, 0, 0, 0), sd_person = 0.5),
    list(b = c(3, 4, -3, 4, 3), sd_person = 3),
    list(b = c(1, 1, -1, 1, 1), sd_person = 1.5),
    list(b = c(-1, 2, 0, 3, 0), sd_person = 2.2)
  )
  load.module("glm", quiet = TRUE)
  s <- settings_list(4L, 500L, 1000L, 20000L, 4L, 3000L,
                     c("basemod", "bugs", "glm"))
  run <- run_jags(txt, dat, rng_inits(inits, s$rng_seeds[1] - 1L),
                  c("b", "sd_person"), s$adapt, s$burnin,
                  s$iterations_per_chain, s$thin)
  lev <- levels(r$item)
  rename <- c(setNames(sprintf("b[%d]", seq_along(lev)), paste0("b_item", lev)),
              sd_person__Intercept = "sd_person")
  params <- relabel(run$samples, rename)
  priors <- c(
    lapply(seq_along(lev), function(k)
      prior(paste0("b_item", lev[k]), "b", "normal", list(mean = 0, sd = 10),
            sprintf("b[%d] ~ dnorm(0, 1/10^2)", k))),
    list(prior("sd_person__Intercept", "sd", "uniform", list(lower = 0, upper = 10),
               "sd_person ~ dunif(0, 10)")))
  describe_run(run, params, colnames(params[[1]]), s, extra = list(
    description = "Rasch model as a logistic random-intercept GLMM, first 1000 persons of the simulated rasch5 data",
    dataset = "rasch5",
    data = list(file = "src/multilevel/datasets/data/rasch5.csv",
                rows = nrow(r), groups = n_persons,
                transformations = list(rows = sprintf("person <= %d (rows ordered by person, then item)", n_persons))),
    formula = "y ~ 0 + item + (1 | person)",
    family = "bernoulli", link = "logit",
    jags_model = txt, priors = priors,
    parameter_map = as.list(rename)))
}


## Run and write ---------------------------------------------------------------

jobs <- list(
  models = list(anorexia_m5 = fit_anorexia_reference,
                gcsemv_m3 = fit_gcsemv,
                rasch5_1000 = fit_rasch),
  benchmark = list(anorexia_m5_notes_run = fit_anorexia_notes_run))

wanted <- commandArgs(trailingOnly = TRUE)
all_names <- unlist(lapply(jobs, names))
if (length(wanted) == 0L) wanted <- all_names
stopifnot(all(wanted %in% all_names))

out <- if (file.exists(out_file) && length(wanted) < length(all_names)) {
  fromJSON(out_file, simplifyVector = FALSE)
} else {
  list(models = list(), benchmark = list())
}

for (section in names(jobs)) {
  for (nm in names(jobs[[section]])) {
    if (!(nm %in% wanted)) next
    cat(sprintf("%s/%s ... ", section, nm))
    entry <- jobs[[section]][[nm]]()
    out[[section]][[nm]] <- entry
    cat(sprintf("%.1f s wall, %.1f s CPU, min ESS %.0f (%s), max MC%%ofSD %.2f, max psrf %.4f\n",
                entry$timing$wall_s, entry$timing$cpu_s, entry$timing$min_ess,
                entry$timing$min_ess_parameter, entry$max_mc_pct_of_sd,
                entry$max_psrf))
  }
}

out$description <- paste(
  "Reference posteriors from JAGS for the Bayesian route;",
  "written by tests/reference/bayes_jags.R (see its header).")
out$r_version <- paste(R.version$major, R.version$minor, sep = ".")
out$jags_version <- as.character(jags.version())
out$rjags_version <- as.character(packageVersion("rjags"))
out$coda_version <- as.character(packageVersion("coda"))
out$platform <- R.version$platform
out$cpu_cores <- parallel::detectCores()
out <- out[c("description", "r_version", "jags_version", "rjags_version",
             "coda_version", "platform", "cpu_cores", "models", "benchmark")]

write_json(out, out_file, auto_unbox = TRUE, digits = NA, null = "null",
           na = "null", pretty = TRUE)
cat("Wrote", out_file, "\n")
