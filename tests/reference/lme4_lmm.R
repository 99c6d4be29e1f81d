# Reference fits of linear mixed models with lme4::lmer.
#
# Run from the repository root, after tests/reference/export_datasets.R:
#
#     Rscript tests/reference/lme4_lmm.R
#
# or, to refit only some models and keep the other entries of the JSON file
# byte for byte (the InstEval fit alone takes about a minute with its timing),
#
#     Rscript tests/reference/lme4_lmm.R anorexia_m1_ml anorexia_m5_ml ...
#
# with model ids from the list below.  The named entries are replaced in place
# (tests/reference/merge_json.R); this stops if the R, lme4 or Matrix version
# differs from the one recorded in the file.
#
# The data are read back from the bundled CSV files in
# src/multilevel/datasets/data/, with factor levels restored from the JSON
# sidecars, so the fits below show that the bundled files are sufficient to
# reproduce lme4.  Every model is fitted with lmer's default control settings
# and the results are written to tests/reference/lme4_lmm.json:
#
#   {"r_version", "lme4_version", ..., "models": [ {one object per model} ]}
#
# Besides the bundled data, the weighted / offset examples read
# tests/reference/data/sleepstudy_extra.csv, which this script derives from
# the bundled sleepstudy data (columns w = 1 + Days %% 3 and o = 2 * Days).
#
# Requires the R packages lme4 and jsonlite.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})

data_dir <- file.path("src", "multilevel", "datasets", "data")
ref_dir <- file.path("tests", "reference")
out_file <- file.path(ref_dir, "lme4_lmm.json")
json_args <- list(auto_unbox = TRUE, digits = NA, null = "null", na = "null",
                  pretty = TRUE)

# Model ids given on the command line: refit only these (see above).
wanted <- commandArgs(trailingOnly = TRUE)


## Reading the bundled data ------------------------------------------------

# Read a CSV written by export_datasets.R and turn the columns listed under
# "categories" in the sidecar back into factors with the recorded level order
# (ordered factors where the sidecar lists them under "ordered").
read_with_sidecar <- function(csv_path, json_path) {
  meta <- fromJSON(json_path, simplifyVector = TRUE)
  fac_cols <- names(meta$categories)
  # Read factor columns as text so that e.g. "01" or "1.0" would survive.
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
  df <- read_with_sidecar(file.path(data_dir, paste0(name, ".csv")),
                          file.path(data_dir, paste0(name, ".json")))
  meta <- fromJSON(file.path(data_dir, paste0(name, ".json")))
  stopifnot(nrow(df) == meta$nrow)
  df
}


## Derived test data: sleepstudy with prior weights and an offset ----------

extra_path <- file.path(ref_dir, "data", "sleepstudy_extra.csv")
dir.create(dirname(extra_path), recursive = TRUE, showWarnings = FALSE)
local({
  ss <- read_bundled("sleepstudy")
  ss$w <- 1 + (ss$Days %% 3)   # prior weights 1, 2, 3, 1, 2, 3, ...
  ss$o <- 2 * ss$Days          # known offset
  write.csv(ss, extra_path, row.names = FALSE, na = "")
})

# Datasets by the name used in the "dataset" field of each model.
datasets <- list(
  gcsemv = read_bundled("gcsemv"),
  leebryk = read_bundled("leebryk"),
  anorexia = read_bundled("anorexia"),
  sleepstudy = read_bundled("sleepstudy"),
  pastes = read_bundled("pastes"),
  penicillin = read_bundled("penicillin"),
  insteval = read_bundled("insteval")
)
# The extra sleepstudy file has the same factor (Subject) as sleepstudy.
datasets[[extra_path]] <- read_with_sidecar(
  extra_path, file.path(data_dir, "sleepstudy.json"))


## Models -------------------------------------------------------------------

spec <- function(id, dataset, formula, reml, weights = NULL, offset = NULL,
                 ranef = TRUE, nrep = 5L) {
  list(id = id, dataset = dataset, formula = formula, reml = reml,
       weights = weights, offset = offset, ranef = ranef, nrep = nrep)
}

leebryk_m4 <- paste("math ~ 1 + mses + sector + ses + ses*mses + ses*sector",
                    "+ (1 + ses|schoolid)")

models <- list(
  # GCSE coursework (rstanarm / lme4 tutorial): ML fits.
  spec("gcsemv_m1", "gcsemv", "course ~ 1 + (1 | school)", FALSE),
  spec("gcsemv_m2", "gcsemv", "course ~ 1 + female + (1 | school)", FALSE),
  spec("gcsemv_m3", "gcsemv", "course ~ 1 + female + (1 + female | school)", FALSE),

  # Lee & Bryk school data: REML (as printed in the notes) and ML.
  spec("leebryk_m2", "leebryk", "math ~ 1 + (1|schoolid)", TRUE),
  spec("leebryk_m3", "leebryk", "math ~ 1 + mses + sector + (1|schoolid)", TRUE),
  spec("leebryk_m4", "leebryk", leebryk_m4, TRUE),
  spec("leebryk_m2_ml", "leebryk", "math ~ 1 + (1|schoolid)", FALSE),
  spec("leebryk_m3_ml", "leebryk", "math ~ 1 + mses + sector + (1|schoolid)", FALSE),
  spec("leebryk_m4_ml", "leebryk", leebryk_m4, FALSE),

  # Anorexia (two observations per girl).
  spec("anorexia_m1_ml", "anorexia", "weight ~ 1 + time + (1 | girl)", FALSE),
  spec("anorexia_m1_reml", "anorexia", "weight ~ 1 + time + (1 | girl)", TRUE),
  spec("anorexia_m2_ml", "anorexia", "weight ~ 1 + time + rx1 + rx3 + (1 | girl)", FALSE),
  spec("anorexia_m2_reml", "anorexia", "weight ~ 1 + time + rx1 + rx3 + (1 | girl)", TRUE),
  spec("anorexia_m5_ml", "anorexia", "weight ~ 1 + time + rx1 + rx3 + (1 + time || girl)", FALSE),
  spec("anorexia_m5_reml", "anorexia", "weight ~ 1 + time + rx1 + rx3 + (1 + time || girl)", TRUE),
  spec("anorexia_treat", "anorexia", "weight ~ time * treatment + (1 | girl)", TRUE),

  # sleepstudy: correlated and uncorrelated random slopes.
  spec("sleepstudy_corr_reml", "sleepstudy", "Reaction ~ 1 + Days + (1 + Days | Subject)", TRUE),
  spec("sleepstudy_corr_ml", "sleepstudy", "Reaction ~ 1 + Days + (1 + Days | Subject)", FALSE),
  spec("sleepstudy_uncorr", "sleepstudy", "Reaction ~ 1 + Days + (1 + Days || Subject)", TRUE),

  # Nested and crossed random effects.
  spec("pastes_nested", "pastes", "strength ~ 1 + (1 | batch/cask)", TRUE),
  spec("penicillin_crossed", "penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", TRUE),

  # Prior weights (REML) and an offset (ML).
  spec("sleepstudy_weights", extra_path, "Reaction ~ 1 + Days + (1 + Days | Subject)", TRUE,
       weights = "w"),
  spec("sleepstudy_offset", extra_path, "Reaction ~ 1 + Days + (1 + Days | Subject)", FALSE,
       offset = "o"),

  # A larger partially crossed model (about 20 s per fit): one timing only,
  # no conditional modes (4100 levels).
  spec("insteval_ml", "insteval", "y ~ 1 + service * dept + (1 | s) + (1 | d)", FALSE,
       ranef = FALSE, nrep = 1L)
)


model_ids <- vapply(models, `[[`, "", "id")
stopifnot(!anyDuplicated(model_ids))
if (length(wanted)) {
  unknown <- setdiff(wanted, model_ids)
  if (length(unknown)) stop("unknown model ids: ", paste(unknown, collapse = ", "))
  models <- models[model_ids %in% wanted]
}


## Fitting ------------------------------------------------------------------

# Build the lmer() call for a model specification.  Weights and offset are
# passed as column names (evaluated inside `data`), exactly as a user would
# write lmer(..., weights = w).
lmer_call <- function(s) {
  args <- list(as.formula(s$formula), data = quote(data), REML = s$reml)
  if (!is.null(s$weights)) args$weights <- as.name(s$weights)
  if (!is.null(s$offset)) args$offset <- as.name(s$offset)
  as.call(c(quote(lmer), args))
}

# Fit once, collecting the messages and warnings lmer emits while fitting.
fit_once <- function(cl, data) {
  conditions <- character(0)
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
  list(model = m, conditions = conditions)
}

# Matrix as a list of rows (jsonlite writes matrices row by row).
rows <- function(x) unname(as.matrix(x))

# Conditional modes and conditional variances for every grouping factor.
ranef_json <- function(m) {
  re <- ranef(m, condVar = TRUE)
  out <- list()
  for (g in names(re)) {
    df <- re[[g]]
    k <- ncol(df)
    n <- nrow(df)
    pv <- attr(df, "postVar")
    # With several terms for one factor (e.g. (1 + x || g)) lme4 returns one
    # array per term; combine them into one k x k matrix per level.  lme4
    # does not compute the conditional covariances between different terms,
    # so those entries are NA (null in the JSON).
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
    out[[g]] <- list(
      levels = I(rownames(df)),
      columns = I(colnames(df)),
      values = rows(df),
      condvar = lapply(seq_len(n), function(i) matrix(pv[, , i], k, k))
    )
  }
  out
}

describe_fit <- function(s, m, conditions, seconds) {
  reml <- isREML(m)
  ll <- logLik(m)
  fe <- fixef(m)
  V <- as.matrix(vcov(m))
  vc <- as.data.frame(VarCorr(m), order = "cov.last")
  fit <- fitted(m)
  res <- residuals(m, type = "response")
  # summary() prints quantiles of the scaled Pearson residuals.
  sres <- summary(m)$residuals
  msgs <- m@optinfo$conv$lme4$messages

  list(
    id = s$id,
    dataset = s$dataset,
    formula = s$formula,
    reml = reml,
    weights = s$weights,
    offset = s$offset,
    nobs = nobs(m),
    ngroups = as.list(ngrps(m)),
    objective = if (reml) REMLcrit(m) else deviance(m),
    # m@optinfo$val is the optimizer's solution, i.e. the unnamed theta
    # vector (lmer keeps no copy of the objective value in @optinfo).
    optinfo_val = I(m@optinfo$val),
    loglik = as.numeric(ll),
    df = attr(ll, "df"),
    aic = AIC(m),
    bic = BIC(m),
    # -2 * logLik(m): the ML deviance for ML fits, the REML criterion for
    # REML fits (logLik of a REML fit is the restricted log-likelihood).
    deviance_ml = -2 * as.numeric(ll),
    df_resid = df.residual(m),
    theta = as.list(getME(m, "theta")),
    sigma = sigma(m),
    fixef = as.list(fe),
    se = as.list(setNames(sqrt(diag(V)), names(fe))),
    vcov = rows(V),
    varcorr = lapply(seq_len(nrow(vc)), function(i) list(
      grp = vc$grp[i], var1 = vc$var1[i], var2 = vc$var2[i],
      vcov = vc$vcov[i], sdcor = vc$sdcor[i])),
    ranef = if (s$ranef) ranef_json(m) else NULL,
    # Rows are those of the model frame (rows with missing values dropped);
    # fitted_head_rows gives their 1-based row numbers in the data file.
    fitted_head = unname(head(fit, 10)),
    fitted_head_rows = as.integer(head(names(fit), 10)),
    resid_head = unname(head(res, 10)),
    scaled_resid_quantiles = unname(quantile(sres, na.rm = TRUE)),
    singular = isSingular(m),
    messages = I(as.character(unlist(msgs))),
    fit_conditions = I(unique(conditions)),
    optimizer = m@optinfo$optimizer,
    optimizer_code = m@optinfo$conv$opt,
    optimizer_message = m@optinfo$message,
    feval = m@optinfo$feval,
    seconds = seconds
  )
}

results <- list()
for (s in models) {
  data <- datasets[[s$dataset]]
  stopifnot(!is.null(data))
  cl <- lmer_call(s)
  first <- fit_once(cl, data)
  # Timing: median elapsed time of nrep refits (the first fit is not timed).
  secs <- vapply(seq_len(s$nrep), function(i)
    system.time(suppressMessages(suppressWarnings(eval(cl))))[["elapsed"]],
    numeric(1))
  results[[length(results) + 1L]] <-
    describe_fit(s, first$model, first$conditions, median(secs))
  cat(sprintf("%-22s objective %.4f  %s\n", s$id,
              results[[length(results)]]$objective,
              paste(first$conditions, collapse = "; ")))
}

header <- list(
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  r_version_string = R.version.string,
  lme4_version = packageDescription("lme4")$Version,
  matrix_version = packageDescription("Matrix")$Version,
  platform = R.version$platform
)
if (length(wanted)) {
  source(file.path(ref_dir, "merge_json.R"))
  check_json_header(out_file, header)
  merge_json_entries(out_file, "models", results, json_args)
  cat("Replaced", length(results), "entries in", out_file, "\n")
} else {
  out <- c(header, list(models = results))
  do.call(write_json, c(list(out, out_file), json_args))
  cat("Wrote", out_file, "\n")
}
