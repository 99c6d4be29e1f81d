# Reference posteriors of random-intercept models of the dispersion and
# ordinal families (negative binomial, Gamma, beta, cumulative logit) and of
# zero-inflated Poisson and negative binomial models, computed with brms /
# Stan NUTS, for checking the Python sampler.
#
# Run from the repository root, after tests/reference/export_family_datasets.R:
#
#     Rscript tests/reference/brms_families.R [id ...]
#
# With ids, only those models are run and their entries in the JSON replaced
# (the others kept).
#
# Every model is fitted with 4 chains of 12000 iterations (2000 warm-up), seed
# 20261206, and the priors below (the same for all four; brms's default
# centring of the predictors is kept, so the Intercept prior is on the
# intercept at the predictor means, and for the cumulative model on each
# threshold):
#
#     prior(normal(0, 5), class = Intercept)
#     prior(normal(0, 2.5), class = b)
#     prior(normal(0, 2), class = sd)          (half-normal: sd has lower bound 0)
#     prior(gamma(0.01, 0.01), class = shape)  (negbinomial, Gamma)
#     prior(gamma(0.01, 0.01), class = phi)    (Beta)
#     prior(normal(0, 2.5), class = b, dpar = zi)         (zero-inflated models,
#     prior(logistic(0, 1), class = Intercept, dpar = zi)  zi ~ spp + mined)
#
# A model whose run has divergent transitions or an Rhat above 1.01 is run
# again with adapt_delta = 0.95; the control used is recorded, with the
# divergences and largest Rhat of the default run.
#
# Writes tests/reference/brms_families.json: {"versions", "models": [...]}, per
# model: id, dataset, formula (brms syntax), family, link, priors (as the
# prior() calls above), nobs, chains, iter, warmup, seed, cores, control,
# first_try (when it was rerun: the default run's control, divergences,
# largest Rhat and seconds, else null), parameters (for every b_* coefficient,
# b_Intercept on the uncentred scale as brms reports it, b_Intercept[1], ...
# for the thresholds, sd_<group>__Intercept, and shape or phi: the posterior
# mean, sd, q2.5 and q97.5 quantiles, bulk ESS and Rhat as
# posterior::summarise_draws gives them), divergent (the number of divergent
# transitions after warm-up), ranef (the posterior means of
# r_<group>[<level>,Intercept] of the group's first three levels, under
# brms's names), and seconds: compile (brm() with chains = 0), sampling
# (rstan's warm-up plus sampling time summed over the chains) and total
# (elapsed, compile plus the recorded sampling run, 2 chains at a time).
#
# On a 2-core machine the whole script took about 11 minutes of wall time
# (about 1 minute of compiling per model).
#
# Requires brms, rstan, posterior and jsonlite.

suppressPackageStartupMessages({
  library(brms)
  library(posterior)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
# Debian's r-cran-bh is a stub without headers (Boost is in /usr/include):
# point rstan at the system Boost there
if (system.file("include", package = "BH") == "" && file.exists("/usr/include/boost/version.hpp")) {
  rstan::rstan_options(boost_lib = "/usr/include")
}
data_dir <- file.path("src", "multilevel", "datasets", "data")

chains <- 4
iter <- 12000
warmup <- 2000
seed <- 20261206
cores <- 2

cases <- list(
  list(id = "sal_nb2", dataset = "salamanders", formula = "count ~ spp + mined + (1 | site)",
       family = "negbinomial", link = "log", group = "site", aux = "shape"),
  list(id = "cake_gamma", dataset = "cake", formula = "angle ~ recipe + temp + (1 | replicate)",
       family = "Gamma", link = "log", group = "replicate", aux = "shape"),
  list(id = "seatbelt_beta", dataset = "seatbelts",
       formula = "seatbelt ~ enforce + speed65 + drinkage + (1 | state)",
       family = "Beta", link = "logit", group = "state", aux = "phi"),
  list(id = "wine_cumulative", dataset = "wine", formula = "rating ~ temp + contact + (1 | judge)",
       family = "cumulative", link = "logit", group = "judge", aux = NULL),
  list(id = "sal_zip", dataset = "salamanders", formula = "count ~ spp + mined + (1 | site)",
       zi = "zi ~ spp + mined", family = "zero_inflated_poisson", link = "log", group = "site", aux = NULL),
  list(id = "sal_zinb", dataset = "salamanders", formula = "count ~ mined + (1 | site)",
       zi = "zi ~ mined", family = "zero_inflated_negbinomial", link = "log", group = "site", aux = "shape")
)
only <- commandArgs(trailingOnly = TRUE)
if (length(only)) cases <- Filter(function(cs) cs$id %in% only, cases)

make_family <- function(name, link) {
  switch(name,
         negbinomial = negbinomial(link = link), Gamma = Gamma(link = link),
         Beta = Beta(link = link), cumulative = cumulative(link = link),
         zero_inflated_poisson = zero_inflated_poisson(link = link),
         zero_inflated_negbinomial = zero_inflated_negbinomial(link = link))
}

make_priors <- function(aux, zi = FALSE) {
  specs <- list(c("normal(0, 5)", "Intercept", ""), c("normal(0, 2.5)", "b", ""), c("normal(0, 2)", "sd", ""))
  if (!is.null(aux)) specs[[length(specs) + 1]] <- c("gamma(0.01, 0.01)", aux, "")
  if (zi) specs <- c(specs, list(c("normal(0, 2.5)", "b", "zi"), c("logistic(0, 1)", "Intercept", "zi")))
  list(prior = do.call(c, lapply(specs, function(s) prior_string(s[1], class = s[2], dpar = s[3]))),
       text = vapply(specs, function(s) if (nzchar(s[3])) sprintf("prior(%s, class = %s, dpar = %s)", s[1], s[2], s[3])
                     else sprintf("prior(%s, class = %s)", s[1], s[2]), ""))
}

summarise_fit <- function(fit, cs) {
  draws <- as_draws_df(fit)
  vars <- variables(draws)
  keep <- c(grep("^b_", vars, value = TRUE), paste0("sd_", cs$group, "__Intercept"), cs$aux)
  s <- summarise_draws(subset_draws(draws, variable = keep), "mean", "sd",
                       ~quantile(.x, probs = c(0.025, 0.975)), "ess_bulk", "rhat")
  pars <- list()
  for (i in seq_len(nrow(s))) {
    pars[[s$variable[i]]] <- list(mean = s$mean[i], sd = s$sd[i], q2.5 = s[["2.5%"]][i],
                                  q97.5 = s[["97.5%"]][i], ess_bulk = s$ess_bulk[i], rhat = s$rhat[i])
  }
  r_vars <- grep(paste0("^r_", cs$group, "\\["), vars, value = TRUE)[1:3]
  ranef <- lapply(r_vars, function(v) mean(draws[[v]]))
  names(ranef) <- r_vars
  list(parameters = pars, ranef = ranef,
       divergent = sum(rstan::get_divergent_iterations(fit$fit)),
       max_rhat = max(s$rhat))
}

run_model <- function(fit0, control) {
  t0 <- proc.time()[["elapsed"]]
  fit <- update(fit0, recompile = FALSE, chains = chains, iter = iter, warmup = warmup,
                seed = seed, cores = cores, refresh = 0, control = control)
  wall <- proc.time()[["elapsed"]] - t0
  list(fit = fit, wall = wall, sampling = sum(rstan::get_elapsed_time(fit$fit)))
}

models <- list()
for (cs in cases) {
  df <- read_bundled(cs$dataset, data_dir)
  if (cs$family == "cumulative") stopifnot(is.ordered(df$rating))
  pr <- make_priors(cs$aux, !is.null(cs$zi))
  t0 <- proc.time()[["elapsed"]]
  form <- if (is.null(cs$zi)) as.formula(cs$formula) else bf(as.formula(cs$formula), as.formula(cs$zi))
  fit0 <- brm(form, data = df, family = make_family(cs$family, cs$link),
              prior = pr$prior, chains = 0, refresh = 0, silent = 2)
  compile <- proc.time()[["elapsed"]] - t0

  control <- list(adapt_delta = 0.8)
  run <- run_model(fit0, control)
  res <- summarise_fit(run$fit, cs)
  first_try <- NA
  if (res$divergent > 0 || res$max_rhat > 1.01) {
    first_try <- list(control = control, divergent = res$divergent, max_rhat = res$max_rhat,
                      seconds = list(sampling = run$sampling, total = run$wall))
    control <- list(adapt_delta = 0.95)
    run <- run_model(fit0, control)
    res <- summarise_fit(run$fit, cs)
  }
  models[[length(models) + 1]] <- list(
    id = cs$id, dataset = cs$dataset, formula = cs$formula, zi = cs$zi, family = cs$family, link = cs$link,
    priors = I(pr$text), nobs = nobs(run$fit), chains = chains, iter = iter, warmup = warmup,
    seed = seed, cores = cores, control = control, first_try = first_try,
    parameters = res$parameters, divergent = res$divergent, ranef = res$ranef,
    seconds = list(compile = compile, sampling = run$sampling, total = compile + run$wall))
  cat(sprintf("%s: %d divergent, max Rhat %.4f, %.1f s\n", cs$id, res$divergent, res$max_rhat,
              compile + run$wall))
}

path <- file.path("tests", "reference", "brms_families.json")
if (length(only) && file.exists(path)) {  # keep the models not run this time, in their order
  old <- jsonlite::fromJSON(path, simplifyVector = FALSE)$models
  ids <- vapply(models, function(m) m$id, "")
  kept <- Filter(function(m) !(m$id %in% ids), old)
  kept <- lapply(kept, function(m) {  # (a null read back is an empty list: keep it null)
    if (length(m$first_try) == 0) m$first_try <- NA
    m
  })
  models <- c(kept, models)
}
write_json(list(versions = list(r = R.version.string, brms = as.character(packageVersion("brms")),
                                rstan = as.character(packageVersion("rstan")),
                                posterior = as.character(packageVersion("posterior"))),
                models = models),
           path,
           auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
