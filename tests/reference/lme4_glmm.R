# Reference fits of generalized linear mixed models with lme4::glmer.
#
# Run from the repository root, after tests/reference/export_glmm_datasets.R
# and `python -m multilevel.datasets.generate_rasch`:
#
#     Rscript tests/reference/lme4_glmm.R
#
# The data are read back from the bundled CSV files in
# src/multilevel/datasets/data/ (verbagg, cbpp, grouseticks, rasch5), with
# factor levels restored from the JSON sidecars.  Every model is fitted with
# glmer's default control settings and the results are written to
# tests/reference/lme4_glmm.json:
#
#   {"r_version", "lme4_version", ..., "models": [ {one object per model} ]}
#
# Per model:
#   id, dataset, formula (lme4 syntax), family, link, nAGQ;
#   weights, offset  - R expressions evaluated in the data and passed as the
#                      weights= / offset= arguments of glmer (a bare column
#                      name, or e.g. "log(size)"), or null.  An offset written
#                      inside the formula, offset(...), is not repeated here:
#                      it is listed under offset_in_formula instead;
#   nobs, ngroups, loglik, df, aic, bic;
#   deviance       - deviance(m): for a glmer fit this is the sum of the
#                    squared deviance residuals at the conditional modes
#                    (the "conditional" deviance), NOT -2 * logLik;
#   deviance_ml    - -2 * logLik(m), the "deviance" column of summary(m);
#   loglik_saturated - log-likelihood of the saturated model (mu = y), with
#                    the prior weights (binomial trials);
#   loglik_absolute - the log-likelihood on the absolute scale: logLik(m)
#                    for nAGQ <= 1, logLik(m) + loglik_saturated for
#                    nAGQ > 1 (lme4 computes the adaptive Gauss-Hermite
#                    log-likelihood from the deviance residuals, i.e.
#                    relative to the saturated model; lme4 issue #161);
#   aictab         - summary(m)$AICtab (AIC, BIC, logLik, deviance, df.resid);
#   theta (named as in getME(m, "theta")), fixef, se, vcov (rows), varcorr
#   rows (as.data.frame(VarCorr(m))), ranef with conditional variances
#   (levels, columns, values, condvar) for models with fewer than 2000
#   random-effect levels in total, otherwise ranef_head (the first 10 levels
#   of every grouping factor);
#   fitted_head    - first 10 fitted values on the response scale (for
#                    binomial fits a probability, also for cbind() responses);
#   resid_deviance_head, resid_pearson_head, resid_response_head - first 10
#                    residuals of each type;
#   singular, messages (lme4's convergence messages), fit_conditions (all
#   messages and warnings emitted while fitting), optimizer information;
#   seconds        - elapsed seconds of one fit: the median of 3 refits for
#                    fast models; for slow models (first fit over 10 s) the
#                    time of that single fit;
#   seconds_each   - the individual timings behind `seconds`.
# The Rasch models also record the item difficulties b = -fixef and the
# generating values of the simulation.
#
# Requires the R packages lme4 and jsonlite.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

data_dir <- file.path("src", "multilevel", "datasets", "data")
ref_dir <- file.path("tests", "reference")
out_file <- file.path(ref_dir, "lme4_glmm.json")


## Reading the bundled data ------------------------------------------------

# Read a bundled CSV and turn the columns listed under "categories" in the
# sidecar back into factors with the recorded level order (ordered factors
# where the sidecar lists them under "ordered").  Same as in lme4_lmm.R.
read_bundled <- function(name) {
  csv_path <- file.path(data_dir, paste0(name, ".csv"))
  meta <- fromJSON(file.path(data_dir, paste0(name, ".json")),
                   simplifyVector = TRUE)
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
  stopifnot(nrow(df) == meta$nrow)
  df
}

datasets <- list(
  verbagg = read_bundled("verbagg"),
  cbpp = read_bundled("cbpp"),
  grouseticks = read_bundled("grouseticks"),
  rasch5 = read_bundled("rasch5")
)
rasch_meta <- fromJSON(file.path(data_dir, "rasch5.json"), simplifyVector = TRUE)

# The bundled lme4 data sets must be exactly lme4's (up to cHEIGHT, which is
# written at 15 significant digits).
local({
  strip <- function(d) { d <- as.data.frame(d); rownames(d) <- NULL; d }
  stopifnot(isTRUE(all.equal(strip(datasets$verbagg), strip(lme4::VerbAgg),
                             check.attributes = FALSE)))
  stopifnot(isTRUE(all.equal(strip(datasets$cbpp), strip(lme4::cbpp),
                             check.attributes = FALSE)))
  stopifnot(isTRUE(all.equal(strip(datasets$grouseticks),
                             strip(lme4::grouseticks),
                             check.attributes = FALSE, tolerance = 1e-13)))
})


## Models -------------------------------------------------------------------

spec <- function(id, dataset, formula, family = "binomial", link = "logit",
                 nAGQ = 1L, weights = NULL, offset = NULL,
                 offset_in_formula = NULL, note = NULL) {
  list(id = id, dataset = dataset, formula = formula, family = family,
       link = link, nAGQ = as.integer(nAGQ), weights = weights,
       offset = offset, offset_in_formula = offset_in_formula, note = note)
}

verbagg_f <- "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)"
cbpp_f <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
rasch_f <- "y ~ 0 + item + (1 | person)"

models <- list(
  # VerbAgg: crossed person and item random intercepts, Laplace and nAGQ = 0.
  spec("verbagg_laplace", "verbagg", verbagg_f),
  spec("verbagg_nagq0", "verbagg", verbagg_f, nAGQ = 0L),

  # cbpp: binomial with trials, three links, adaptive Gauss-Hermite
  # quadrature, and the proportion + prior weights form.
  spec("cbpp_cbind", "cbpp", cbpp_f),
  spec("cbpp_agq25", "cbpp", cbpp_f, nAGQ = 25L),
  spec("cbpp_prop", "cbpp", "incidence/size ~ period + (1 | herd)",
       weights = "size"),
  spec("cbpp_probit", "cbpp", cbpp_f, link = "probit"),
  spec("cbpp_cloglog", "cbpp", cbpp_f, link = "cloglog"),

  # Poisson: grouse ticks with an observation-level random effect, and cbpp
  # counts with a log(size) offset, given in the formula and as offset=.
  spec("grouseticks_pois", "grouseticks",
       "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
       family = "poisson", link = "log",
       note = paste(
         "lme4's optimum for this model is not bit-reproducible between R",
         "processes (Nelder-Mead took between 865 and 1003 evaluations in",
         "repeated fresh processes): logLik agrees to about 1e-9, theta, fixef",
         "and se to about 2e-5 (absolute), conditional modes and variances",
         "to about 2e-5, deviance(m) only to about 1e-3. Compare with",
         "tolerances of that size.")),
  spec("cbpp_pois_offset", "cbpp",
       "incidence ~ period + offset(log(size)) + (1 | herd)",
       family = "poisson", link = "log", offset_in_formula = "log(size)"),
  spec("cbpp_pois_offset_arg", "cbpp", "incidence ~ period + (1 | herd)",
       family = "poisson", link = "log", offset = "log(size)"),

  # Random slope (correlated with the intercept) for items.
  spec("verbagg_slope", "verbagg",
       "r2 ~ Anger + Gender + btype + situ + (1 + Anger | item) + (1 | id)",
       note = paste(
         "Singular fit: the item intercept-slope correlation is estimated",
         "at -1 (the last theta element is 0).")),

  # Simulated Rasch data, 100,000 responses of 20,000 persons.
  spec("rasch_laplace", "rasch5", rasch_f,
       note = paste(
         "With only 5 binary items per person the Laplace approximation",
         "is visibly biased: person sd about 1.480 against 1.506 with",
         "nAGQ = 15 (generating value 1.5), item difficulties differ from",
         "the nAGQ = 15 fit by up to 0.04; compare rasch_agq.")),
  spec("rasch_agq", "rasch5", rasch_f, nAGQ = 15L)
)


## Fitting ------------------------------------------------------------------

# The glmer() call for a model specification.  Weights and offset are R
# expressions evaluated inside `data`, as a user would write them.
glmer_call <- function(s) {
  fam <- call(s$family, link = s$link)
  args <- list(as.formula(s$formula), data = quote(data), family = fam)
  if (s$nAGQ != 1L) args$nAGQ <- s$nAGQ
  if (!is.null(s$weights)) args$weights <- str2lang(s$weights)
  if (!is.null(s$offset)) args$offset <- str2lang(s$offset)
  as.call(c(quote(glmer), args))
}

# Fit once, collecting the messages and warnings glmer emits while fitting.
fit_once <- function(cl, data) {
  conditions <- character(0)
  t0 <- proc.time()[["elapsed"]]
  m <- withCallingHandlers(
    eval(cl),
    message = function(c) {
      conditions <<- c(conditions, trimws(conditionMessage(c)))
      invokeRestart("muffleMessage")
    },
    warning = function(c) {
      conditions <<- c(conditions, trimws(conditionMessage(c)))
      invokeRestart("muffleWarning")
    })
  list(model = m, conditions = conditions,
       seconds = proc.time()[["elapsed"]] - t0)
}

# Matrix as a list of rows (jsonlite writes matrices row by row).
rows <- function(x) unname(as.matrix(x))

# Log-likelihood of the saturated model (mu = y) with the prior weights.
loglik_saturated <- function(m) {
  y <- m@resp$y
  w <- m@resp$weights
  fam <- family(m)$family
  if (fam == "binomial") {
    sum(dbinom(round(w * y), round(w), y, log = TRUE))
  } else if (fam == "poisson") {
    stopifnot(all(w == 1))
    sum(dpois(y, y, log = TRUE))
  } else {
    NA_real_
  }
}

# Conditional modes and conditional variances for every grouping factor
# (only the first `head` levels of each when head is not NULL).
ranef_json <- function(m, head = NULL) {
  re <- ranef(m, condVar = TRUE)
  out <- list()
  for (g in names(re)) {
    df <- re[[g]]
    k <- ncol(df)
    n <- nrow(df)
    pv <- attr(df, "postVar")
    if (is.list(pv)) {
      full <- array(NA_real_, c(k, k, n))
      pos <- 0
      for (a in pv) {
        idx <- pos + seq_len(dim(a)[1])
        full[idx, idx, ] <- a
        pos <- pos + dim(a)[1]
      }
      stopifnot(pos == k)
      pv <- full
    }
    keep <- if (is.null(head)) seq_len(n) else seq_len(min(head, n))
    out[[g]] <- list(
      nlevels = n,
      levels = I(rownames(df)[keep]),
      columns = I(colnames(df)),
      values = rows(df[keep, , drop = FALSE]),
      condvar = lapply(keep, function(i) matrix(pv[, , i], k, k))
    )
  }
  out
}

describe_fit <- function(s, m, conditions, seconds, seconds_each) {
  ll <- logLik(m)
  fe <- fixef(m)
  V <- as.matrix(vcov(m))
  vc <- as.data.frame(VarCorr(m), order = "cov.last")
  fam <- family(m)
  msgs <- m@optinfo$conv$lme4$messages
  aictab <- summary(m)$AICtab
  n_levels <- sum(vapply(m@flist, nlevels, integer(1)))
  big <- n_levels >= 2000

  out <- list(
    id = s$id,
    dataset = s$dataset,
    formula = s$formula,
    family = fam$family,
    link = fam$link,
    nAGQ = unname(m@devcomp$dims[["nAGQ"]]),
    weights = s$weights,
    offset = s$offset,
    offset_in_formula = s$offset_in_formula,
    note = s$note,
    nobs = nobs(m),
    ngroups = as.list(ngrps(m)),
    loglik = as.numeric(ll),
    df = attr(ll, "df"),
    aic = AIC(m),
    bic = BIC(m),
    deviance = deviance(m),
    deviance_ml = -2 * as.numeric(ll),
    loglik_saturated = loglik_saturated(m),
    loglik_absolute = as.numeric(ll) +
      if (m@devcomp$dims[["nAGQ"]] > 1L) loglik_saturated(m) else 0,
    aictab = as.list(aictab),
    df_resid = df.residual(m),
    theta = as.list(getME(m, "theta")),
    fixef = as.list(fe),
    se = as.list(setNames(sqrt(diag(V)), names(fe))),
    vcov = rows(V),
    varcorr = lapply(seq_len(nrow(vc)), function(i) list(
      grp = vc$grp[i], var1 = vc$var1[i], var2 = vc$var2[i],
      vcov = vc$vcov[i], sdcor = vc$sdcor[i]))
  )
  if (big) {
    out$ranef <- NULL
    out$ranef_head <- ranef_json(m, head = 10L)
  } else {
    out$ranef <- ranef_json(m)
  }
  out <- c(out, list(
    fitted_head = unname(head(fitted(m), 10)),
    resid_deviance_head = unname(head(residuals(m, type = "deviance"), 10)),
    resid_pearson_head = unname(head(residuals(m, type = "pearson"), 10)),
    resid_response_head = unname(head(residuals(m, type = "response"), 10)),
    singular = isSingular(m),
    messages = I(as.character(unlist(msgs))),
    fit_conditions = I(unique(conditions)),
    # glmer's optimum: theta then (for nAGQ > 0) beta.
    optinfo_val = I(m@optinfo$val),
    optimizer = m@optinfo$optimizer,
    optimizer_code = m@optinfo$conv$opt,
    optimizer_message = m@optinfo$message,
    feval = m@optinfo$feval,
    seconds = seconds,
    seconds_each = I(seconds_each)
  ))
  if (s$dataset == "rasch5") {
    gv <- rasch_meta$generating_values
    out$item_difficulty_b <- as.list(setNames(-fe, sub("^item", "", names(fe))))
    out$generating_values <- list(
      item_difficulty_b = gv$item_difficulty_b, tau = gv$tau)
  }
  out
}

results <- list()
fits <- list()
for (s in models) {
  data <- datasets[[s$dataset]]
  stopifnot(!is.null(data))
  cl <- glmer_call(s)
  first <- fit_once(cl, data)
  if (first$seconds > 10) {
    # Slow model: the single (first) fit is the timing.
    secs <- first$seconds
  } else {
    secs <- vapply(1:3, function(i)
      system.time(suppressMessages(suppressWarnings(eval(cl))))[["elapsed"]],
      numeric(1))
  }
  fits[[s$id]] <- first$model
  results[[length(results) + 1L]] <-
    describe_fit(s, first$model, first$conditions, median(secs), secs)
  r <- results[[length(results)]]
  cat(sprintf("%-22s logLik %12.4f  deviance %11.4f  %7.2f s  %s\n", s$id,
              r$loglik, r$deviance, r$seconds,
              paste(first$conditions, collapse = "; ")))
}


## Sanity checks against published / documented lme4 output ---------------

by_id <- setNames(results, vapply(results, `[[`, "", "id"))
near <- function(x, y, tol) isTRUE(all(abs(unlist(x) - y) < tol))
# cbpp (lme4's ?cbpp / ?glmer example): period2..4 = -0.992, -1.128, -1.580,
# intercept -1.398, herd sd 0.642, logLik -92.03 (AIC 194.1).
stopifnot(near(by_id$cbpp_cbind$fixef, c(-1.3983, -0.9919, -1.1282, -1.5797), 1e-3),
          near(by_id$cbpp_cbind$loglik, -92.0266, 1e-3),
          near(by_id$cbpp_cbind$varcorr[[1]]$sdcor, 0.6421, 1e-3))
# The proportion + weights form is the same model.
stopifnot(near(by_id$cbpp_prop$fixef, unlist(by_id$cbpp_cbind$fixef), 1e-5),
          near(by_id$cbpp_prop$loglik, by_id$cbpp_cbind$loglik, 1e-6))
# VerbAgg, main-effects model (Laplace): logLik -4075.7, AIC 8167.4.
stopifnot(near(by_id$verbagg_laplace$loglik, -4075.7, 0.05),
          near(by_id$verbagg_laplace$aic, 8167.4, 0.05))
# cbpp, nAGQ = 25: lme4 ?glmer prints logLik -50.0 (relative scale); the
# absolute value agrees with direct numerical integration of the marginal
# likelihood at the AGQ estimates, and is close to the Laplace value.
local({
  m <- fits$cbpp_agq25
  d <- datasets$cbpp
  eta0 <- drop(getME(m, "X") %*% fixef(m))
  sd_herd <- getME(m, "theta")[[1]]
  ll <- 0
  for (h in levels(d$herd)) {
    i <- d$herd == h
    f <- function(z) vapply(z, function(zz) exp(sum(dbinom(
      d$incidence[i], d$size[i], plogis(eta0[i] + sd_herd * zz), log = TRUE))),
      numeric(1)) * dnorm(z)
    ll <- ll + log(integrate(f, -Inf, Inf, rel.tol = 1e-12)$value)
  }
  stopifnot(near(by_id$cbpp_agq25$loglik, -50.005, 1e-3),
            near(by_id$cbpp_agq25$loglik_absolute, ll, 1e-6),
            near(by_id$cbpp_agq25$loglik_absolute, by_id$cbpp_cbind$loglik, 0.1))
})
# The offset in the formula and as offset= give the same fit.
stopifnot(near(by_id$cbpp_pois_offset$fixef,
               unlist(by_id$cbpp_pois_offset_arg$fixef), 1e-8),
          near(by_id$cbpp_pois_offset$loglik,
               by_id$cbpp_pois_offset_arg$loglik, 1e-8))


out <- list(
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  r_version_string = R.version.string,
  lme4_version = packageDescription("lme4")$Version,
  matrix_version = packageDescription("Matrix")$Version,
  platform = R.version$platform,
  notes = I(c(
    "deviance is deviance(m), the conditional deviance (sum of squared deviance residuals); deviance_ml is -2 * logLik(m), the 'deviance' printed by summary(m).",
    "For nAGQ > 1 lme4's logLik (loglik, aic, bic, deviance_ml, aictab) is relative to the saturated model and not comparable with the Laplace value; loglik_absolute = loglik + loglik_saturated is (lme4 issue #161). For Bernoulli responses (verbagg, rasch5) loglik_saturated is 0.",
    "For nAGQ = 0 fits logLik is the Laplace approximation evaluated at the nAGQ = 0 estimates; for nAGQ > 1 it is the adaptive Gauss-Hermite approximation.",
    "weights and offset are R expressions evaluated in the data and passed as glmer's weights= and offset= arguments; offset_in_formula is an offset(...) term inside the formula.",
    "An offset works both inside the formula (cbpp_pois_offset) and as the offset= argument (cbpp_pois_offset_arg); both give the same fit.",
    "seconds: median of 3 refits, or the single first fit when it took over 10 s."
  )),
  models = results
)
write_json(out, out_file, auto_unbox = TRUE, digits = NA, null = "null",
           na = "null", pretty = TRUE)
cat("Wrote", out_file, "\n")
