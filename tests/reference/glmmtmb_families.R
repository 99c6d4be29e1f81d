# Reference fits of the dispersion families (negative binomial, Gamma, beta,
# gaussian with a log link) by glmmTMB's Laplace approximation, and NB2 by
# lme4::glmer.nb.
#
# Run from the repository root, after tests/reference/export_family_datasets.R:
#
#     Rscript tests/reference/glmmtmb_families.R
#
# Writes tests/reference/glmmtmb_families.json: {"versions", "models": [...]},
# per model: id, dataset, formula (glmmTMB syntax), family, link, nobs,
# loglik, aic, df, fixef, se, sd (the random-effects standard deviations and
# correlations as as.data.frame(VarCorr)-like records), sigma (glmmTMB's
# sigma(): theta for nbinom2, phi for nbinom1 (variance mu (1 + phi)),
# 1 / sqrt(shape) for Gamma, the precision phi for beta, the residual SD for
# gaussian), ranef (the first 5 conditional modes of the first term's first
# column), fitted (the first 5 fitted means), seconds (the fit's elapsed time),
# convergence and pdHess (glmmTMB's optimizer code and Hessian check); and zero_inflated:
# zero-inflated Poisson and NB2 fits of Salamanders, zi = ~ spp + mined (with the
# population-level mean of three rows and its standard error, their
# structural-zero probability ("zprob") and its standard error, and the
# Pearson and response residuals); and r2_icc:
# performance's r2_nakagawa and icc of the Salamanders NB2 and NB1 fits; and
# gamma_identity_near_zero: two simulated identity-link Gamma fits with means near zero; and betabinomial:
# glmmTMB's betabinomial on cbpp and on a simulated data set the script writes.
#
# Requires glmmTMB, lme4, performance and jsonlite.

suppressPackageStartupMessages({
  library(glmmTMB)
  library(lme4)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")

cases <- list(
  list(id = "sal_nb2", dataset = "salamanders", formula = "count ~ spp + mined + (1 | site)",
       family = "nbinom2", link = "log"),
  list(id = "sal_nb1", dataset = "salamanders", formula = "count ~ spp + mined + (1 | site)",
       family = "nbinom1", link = "log"),
  list(id = "sal_pois", dataset = "salamanders", formula = "count ~ spp + mined + (1 | site)",
       family = "poisson", link = "log"),
  list(id = "owls_nb1", dataset = "owls",
       formula = "SiblingNegotiation ~ FoodTreatment * SexParent + offset(logBroodSize) + (1 | Nest)",
       family = "nbinom1", link = "log"),
  list(id = "owls_nb2", dataset = "owls",
       formula = "SiblingNegotiation ~ FoodTreatment * SexParent + offset(logBroodSize) + (1 | Nest)",
       family = "nbinom2", link = "log"),
  list(id = "ticks_nb2", dataset = "grouseticks",
       formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
       family = "nbinom2", link = "log"),
  list(id = "cake_gamma_log", dataset = "cake", formula = "angle ~ recipe + temp + (1 | recipe:replicate)",
       family = "Gamma", link = "log"),
  list(id = "cake_gamma_inverse", dataset = "cake", formula = "angle ~ recipe + temp + (1 | recipe:replicate)",
       family = "Gamma", link = "inverse", start_beta = c(1 / 35, 0, 0, 0)),
  list(id = "sleep_gamma_slope", dataset = "sleepstudy", formula = "Reaction ~ Days + (Days | Subject)",
       family = "Gamma", link = "log"),
  list(id = "sleep_gaussian_log", dataset = "sleepstudy", formula = "Reaction ~ Days + (1 | Subject)",
       family = "gaussian", link = "log"),
  list(id = "seatbelt_beta", dataset = "seatbelts",
       formula = "seatbelt ~ enforce + speed65 + drinkage + (1 | state)", family = "beta", link = "logit"),
  list(id = "seatbelt_beta_probit", dataset = "seatbelts",
       formula = "seatbelt ~ enforce + speed65 + drinkage + (1 | state)", family = "beta", link = "probit")
)

make_family <- function(name, link) {
  switch(name,
         nbinom2 = nbinom2(link = link), nbinom1 = nbinom1(link = link),
         poisson = poisson(link = link), Gamma = Gamma(link = link),
         gaussian = gaussian(link = link), beta = beta_family(link = link))
}

vc_records <- function(m) {
  vc <- VarCorr(m)$cond
  out <- list()
  for (g in names(vc)) {
    S <- vc[[g]]
    sd <- sqrt(diag(S))
    for (a in seq_along(sd)) {
      out[[length(out) + 1]] <- list(grp = g, var1 = colnames(S)[a], var2 = NA, sdcor = unname(sd[a]))
    }
    if (length(sd) > 1) for (a in 1:(length(sd) - 1)) for (b in (a + 1):length(sd)) {
      out[[length(out) + 1]] <- list(grp = g, var1 = colnames(S)[a], var2 = colnames(S)[b],
                                     sdcor = unname(S[a, b] / (sd[a] * sd[b])))
    }
  }
  out
}

models <- list()
for (cs in cases) {
  df <- read_bundled(cs$dataset, data_dir)
  t0 <- proc.time()[["elapsed"]]
  # glmmTMB starts the fixed effects at 0, an infinite mean for the inverse
  # link: that case gives it a start (1 / mean angle for the intercept)
  start <- if (is.null(cs$start_beta)) NULL else list(beta = cs$start_beta)
  m <- glmmTMB(as.formula(cs$formula), data = df, family = make_family(cs$family, cs$link), start = start)
  secs <- proc.time()[["elapsed"]] - t0
  re <- ranef(m)$cond[[1]]
  models[[length(models) + 1]] <- list(
    id = cs$id, dataset = cs$dataset, formula = cs$formula, family = cs$family, link = cs$link,
    nobs = nobs(m), loglik = as.numeric(logLik(m)), df = attr(logLik(m), "df"), aic = AIC(m),
    fixef = as.list(fixef(m)$cond), se = as.list(sqrt(diag(vcov(m)$cond))),
    sd = vc_records(m), sigma = sigma(m),
    ranef = head(re[[1]], 5), fitted = head(unname(fitted(m)), 5), seconds = secs,
    convergence = m$fit$convergence, pdHess = m$sdr$pdHess)
}

# lme4's glmer.nb (theta by alternation, Fisher weights in the Laplace approximation)
sal <- read_bundled("salamanders", data_dir)
nb <- glmer.nb(count ~ spp + mined + (1 | site), data = sal)
glmer_nb <- list(id = "sal_nb2_glmer.nb", loglik = as.numeric(logLik(nb)), fixef = as.list(fixef(nb)),
                 se = as.list(sqrt(diag(as.matrix(vcov(nb))))), theta = getME(nb, "glmer.nb.theta"),
                 sd = as.data.frame(VarCorr(nb))$sdcor)

write_json(list(versions = list(r = R.version.string, glmmTMB = as.character(packageVersion("glmmTMB")),
                                lme4 = as.character(packageVersion("lme4"))),
                models = models, glmer_nb = glmer_nb),
           file.path("tests", "reference", "glmmtmb_families.json"),
           auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")

# zero-inflated Poisson and NB2 (glmmTMB's ziformula), Salamanders
sal <- read_bundled("salamanders", data_dir)
zi_models <- list()
for (fam in c("poisson", "nbinom2")) {
  f <- if (fam == "poisson") poisson() else nbinom2()
  m <- glmmTMB(count ~ spp + mined + (1 | site), zi = ~ spp + mined, family = f, data = sal)
  zi_models[[fam]] <- list(
    loglik = as.numeric(logLik(m)), df = attr(logLik(m), "df"), fixef = as.list(fixef(m)$cond),
    se = as.list(sqrt(diag(vcov(m)$cond))), zi = as.list(fixef(m)$zi), zi_se = as.list(sqrt(diag(vcov(m)$zi))),
    sd = sqrt(VarCorr(m)$cond$site[1, 1]), sigma = sigma(m), fitted = head(unname(fitted(m)), 5),
    seconds = system.time(glmmTMB(count ~ spp + mined + (1 | site), zi = ~ spp + mined, family = f,
                                  data = sal))[["elapsed"]])
  # the population-level mean (1 - pi) mu of rows 1, 101 and 301, with its delta-method SE
  # (predicted on the fitted data: glmmTMB refuses a subset as newdata here, "contrasts mismatch")
  pr <- predict(m, type = "response", re.form = NA, se.fit = TRUE)
  zi_models[[fam]]$predict_rows <- c(0, 100, 300)
  zi_models[[fam]]$predict_fit <- unname(pr$fit[c(1, 101, 301)])
  zi_models[[fam]]$predict_se <- unname(pr$se.fit[c(1, 101, 301)])
  # the structural-zero probability of the same rows, with its standard error
  pz <- predict(m, type = "zprob", se.fit = TRUE)
  zi_models[[fam]]$zprob_fit <- unname(pz$fit[c(1, 101, 301)])
  zi_models[[fam]]$zprob_se <- unname(pz$se.fit[c(1, 101, 301)])
  # Pearson residuals about (1 - pi) mu with the mixture's variance, and response residuals
  rp <- residuals(m, type = "pearson")
  zi_models[[fam]]$pearson <- unname(rp[c(1, 101, 301)])
  zi_models[[fam]]$pearson_ss <- sum(rp^2)
  zi_models[[fam]]$response_resid <- unname(residuals(m, type = "response")[c(1, 101, 301)])
}
out <- jsonlite::fromJSON(file.path("tests", "reference", "glmmtmb_families.json"), simplifyVector = FALSE)
out$zero_inflated <- zi_models
write_json(out, file.path("tests", "reference", "glmmtmb_families.json"),
           auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")

# performance's ICC and Nakagawa R2 of the negative binomial fits (its
# lognormal approximation of the distribution-specific variance)
suppressPackageStartupMessages(library(performance))
out <- jsonlite::fromJSON(file.path("tests", "reference", "glmmtmb_families.json"), simplifyVector = FALSE)
out$versions$performance <- as.character(packageVersion("performance"))
out$r2_icc <- list()
# (insight refits the null model from the call: the family is written out in it)
fits <- list(nbinom2 = glmmTMB(count ~ spp + mined + (1 | site), family = nbinom2, data = sal),
             nbinom1 = glmmTMB(count ~ spp + mined + (1 | site), family = nbinom1, data = sal))
for (fam in names(fits)) {
  m <- fits[[fam]]
  r2 <- suppressWarnings(r2_nakagawa(m)); ic <- suppressWarnings(icc(m))
  out$r2_icc[[fam]] <- list(conditional = unname(r2$R2_conditional), marginal = unname(r2$R2_marginal),
                            icc_adjusted = ic$ICC_adjusted, icc_conditional = ic$ICC_conditional)
}
write_json(out, file.path("tests", "reference", "glmmtmb_families.json"),
           auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")

# identity-link Gamma with means near zero (tests/reference/data/
# gamma_identity_near_zero.csv, two simulated data sets, y ~ x + (1 | g)):
# the first IRLS step from the observed values leaves the mean's range
near <- read.csv(file.path("tests", "reference", "data", "gamma_identity_near_zero.csv"))
out <- jsonlite::fromJSON(file.path("tests", "reference", "glmmtmb_families.json"), simplifyVector = FALSE)
out$gamma_identity_near_zero <- list()
for (cs in c("a", "b")) {
  d <- near[near$case == cs, ]
  d$g <- factor(d$g)
  m <- glmmTMB(y ~ x + (1 | g), data = d, family = Gamma(link = "identity"))
  out$gamma_identity_near_zero[[cs]] <- list(
    loglik = as.numeric(logLik(m)), fixef = as.list(fixef(m)$cond), sigma = sigma(m),
    sd = sqrt(VarCorr(m)$cond$g[1, 1]), min_fitted = min(fitted(m)),
    convergence = m$fit$convergence, pdHess = m$sdr$pdHess)
}
write_json(out, file.path("tests", "reference", "glmmtmb_families.json"),
           auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")

# beta-binomial (glmmTMB's betabinomial, logit link): lme4's cbpp, whose herd
# variance goes to zero, and a simulated data set with clear herd effects
# (tests/reference/data/betabinomial_sim.csv, written here: 30 groups x 6
# rows, 5 to 40 trials each, precision 6, random-intercept SD 0.7)
set.seed(20261206)
g <- rep(1:30, each = 6)
x <- rnorm(180)
m <- sample(5:40, 180, replace = TRUE)
p <- rbeta(180, plogis(-0.5 + 0.8 * x + rnorm(30, 0, 0.7)[g]) * 6, (1 - plogis(-0.5 + 0.8 * x + rnorm(30, 0, 0.7)[g])) * 6)
bbsim <- data.frame(k = rbinom(180, m, p), m = m, x = round(x, 6), g = g)
write.csv(bbsim, file.path("tests", "reference", "data", "betabinomial_sim.csv"), row.names = FALSE)
bbsim$g <- factor(bbsim$g)
cbpp_data <- read_bundled("cbpp", data_dir)
out <- jsonlite::fromJSON(file.path("tests", "reference", "glmmtmb_families.json"), simplifyVector = FALSE)
out$betabinomial <- list()
fits <- list(
  cbpp = glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp_data,
                 family = betabinomial(link = "logit")),
  sim = glmmTMB(cbind(k, m - k) ~ x + (1 | g), data = bbsim, family = betabinomial(link = "logit")))
for (nm in names(fits)) {
  f <- fits[[nm]]
  out$betabinomial[[nm]] <- list(
    loglik = as.numeric(logLik(f)), df = attr(logLik(f), "df"), fixef = as.list(fixef(f)$cond),
    se = as.list(sqrt(diag(vcov(f)$cond))), sigma = sigma(f), sd = sqrt(VarCorr(f)$cond[[1]][1, 1]),
    fitted = head(unname(fitted(f)), 5), convergence = f$fit$convergence, pdHess = f$sdr$pdHess,
    seconds = system.time(update(f))[["elapsed"]])
}
write_json(out, file.path("tests", "reference", "glmmtmb_families.json"),
           auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
