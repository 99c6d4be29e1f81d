# Reference figures for inference on linear mixed models: lmerTest
# (Satterthwaite and Kenward-Roger t and F tests, custom contrasts), pbkrtest,
# lme4's likelihood-ratio anova() and confint(), and performance (ICC and
# Nakagawa's R2).
#
# Run from the repository root, after tests/reference/export_datasets.R:
#
#     Rscript tests/reference/lmertest.R
#
# or, to recompute only some entries and keep the rest of the JSON file byte
# for byte,
#
#     Rscript tests/reference/lmertest.R anorexia_treat ...
#
# with ids of "models" or "lrt" entries (below).  The named entries are
# replaced in place (tests/reference/merge_json.R); "bootstrap_reference" and
# "seed_comparison" are recomputed only by a full run.  This stops if a
# package version recorded in the file differs from the installed one.
#
# The data are read back from the bundled CSV files in
# src/multilevel/datasets/data/ with the factor levels restored from the JSON
# sidecars (same code as tests/reference/lme4_lmm.R).  Results are written to
# tests/reference/lmertest.json:
#
#   {"r_version", "lme4_version", "lmertest_version", ...,
#    "models": [ {one object per model} ],
#    "lrt": [ {one likelihood-ratio table per comparison} ],
#    "bootstrap_reference": {...},
#    "seed_comparison": [ {printed figure, computed figure} ]}
#
# Per model ("models"):
#   coef_satterthwaite / coef_kenward_roger
#       coef(summary(m, ddf = ...)) as {term: {Estimate, SE, df, t, p}}
#   anova3_satterthwaite / anova1_satterthwaite / anova3_kenward_roger
#       anova(m, type = 3 or 1, ddf = ...) as
#       {term: {SumSq, MeanSq, NumDF, DenDF, F, p}}; {} when the fixed part
#       is the intercept only (lmerTest then returns an empty table).
#   contest
#       "last_1": L picks the last fixed effect (1 row); "last_2": L picks the
#       last two fixed effects (2 rows; absent when there is a single fixed
#       effect).  L is stored as a list of rows, columns in fixef() order.
#       For each ddf method: "joint" = contest(m, L, ddf, joint = TRUE)
#       {F, NumDF, DenDF, p, SumSq, MeanSq}; for the 1-row L also
#       "t" = contest1D(m, L, ddf) {Estimate, SE, df, t, p}.
#   confint_profile
#       confint(m, method = "profile", oldNames = FALSE) as
#       {parameter: [lower, upper]}.  lme4 profiles the ML deviance also for
#       REML fits (devfun2 refits by ML first); "profile_reml" only records
#       that the fit was REML.  Warnings go to
#       "confint_profile_warnings"; an error (no intervals) to
#       "confint_profile_error".
#   confint_wald
#       confint(m, method = "Wald", oldNames = FALSE); null for the variance
#       parameters (lme4 gives NA).
#   icc, r2_nakagawa
#       performance::icc(m) and performance::r2_nakagawa(m), with the
#       warnings and messages they emit ("icc" is null, and the conditional
#       R2 null, where performance cannot compute the random-effect
#       variances, as for the singular Lee & Bryk random-slope fits).
#   varcorr
#       as.data.frame(VarCorr(m)) rows, to check that the fit is the same.
#   lmertest_varpar, lmertest_vcov_varpar, lmertest_jac_list
#       lmerTest's internals behind the Satterthwaite df: varpar =
#       (theta, sigma), the asymptotic covariance of varpar (2 H^-1 of the
#       deviance Hessian), and the Jacobian of vcov(beta) over varpar (one
#       p x p matrix per element of varpar).
#   kr_vcov_beta_adjusted
#       pbkrtest::vcovAdj(m), the Kenward-Roger adjusted vcov(beta).
#   seconds_*
#       Elapsed seconds, median of 5 repetitions after one untimed call (a
#       single repetition when the first one takes more than 5 s):
#       seconds_satterthwaite_summary = summary(m) (Satterthwaite df, the
#       fit and lmerTest's derivative computation excluded);
#       seconds_lmertest_derivatives = as_lmerModLmerTest() on an lme4 fit
#       (the Hessian and Jacobian that lmerTest computes after fitting);
#       seconds_kr_summary = summary(m, ddf = "Kenward-Roger");
#       seconds_confint_profile = confint(m, method = "profile").
#
# "lrt": lme4's anova() on several fits (columns npar, AIC, BIC, logLik,
# deviance, Chisq, Df, Pr(>Chisq)), rows in lme4's order (by npar), with
# each model's formula and REML flag and whether anova() refitted REML fits
# with ML.
#
# "bootstrap_reference": confint(method = "boot", nsim = 500, seed = 1) for
# the sleepstudy random-slope model (parametric bootstrap, percentile
# intervals); random, for orientation only.
#
# Requires the R packages lme4, lmerTest, pbkrtest, performance and jsonlite.

suppressPackageStartupMessages({
  library(lme4)
  library(lmerTest)   # masks lme4::lmer; both are called with their prefix
  library(pbkrtest)
  library(performance)
  library(jsonlite)
})

data_dir <- file.path("src", "multilevel", "datasets", "data")
ref_dir <- file.path("tests", "reference")
out_file <- file.path(ref_dir, "lmertest.json")
json_args <- list(auto_unbox = TRUE, digits = NA, null = "null", na = "null",
                  pretty = TRUE)

# Entry ids given on the command line: recompute only these (see above).
wanted <- commandArgs(trailingOnly = TRUE)

n_rep <- 5L       # timing repetitions
slow_s <- 5       # a single repetition when the first one takes longer


## Reading the bundled data (as in lme4_lmm.R) ------------------------------

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
  df <- read_with_sidecar(file.path(data_dir, paste0(name, ".csv")),
                          file.path(data_dir, paste0(name, ".json")))
  meta <- fromJSON(file.path(data_dir, paste0(name, ".json")))
  stopifnot(nrow(df) == meta$nrow)
  df
}

# The data frames live in the global environment under the dataset names, so
# that every fit's call reads e.g. lmer(..., data = leebryk) and anova() sees
# the same data object for fits of the same dataset.
leebryk <- read_bundled("leebryk")
gcsemv <- read_bundled("gcsemv")
anorexia <- read_bundled("anorexia")
sleepstudy <- read_bundled("sleepstudy")
penicillin <- read_bundled("penicillin")


## Helpers -------------------------------------------------------------------

# Evaluate expr, collecting warnings, messages and text printed to stdout
# (performance prints some notes with cat()); an error is caught and returned
# as $error (with $value NULL).
capture <- function(expr) {
  warns <- character(0)
  msgs <- character(0)
  err <- NULL
  val <- NULL
  printed <- utils::capture.output(val <- tryCatch(
    withCallingHandlers(expr,
      warning = function(w) {
        warns <<- c(warns, trimws(conditionMessage(w)))
        invokeRestart("muffleWarning")
      },
      message = function(m) {
        msgs <<- c(msgs, trimws(conditionMessage(m)))
        invokeRestart("muffleMessage")
      }),
    error = function(e) {
      err <<- conditionMessage(e)
      NULL
    }), type = "output")
  printed <- trimws(printed[nzchar(trimws(printed))])
  list(value = val, warnings = unique(warns),
       messages = unique(c(msgs, printed)), error = err)
}

quiet <- function(expr) suppressMessages(suppressWarnings(expr))

# Median elapsed time of n_rep calls of f() (f is assumed to have been called
# once before, untimed); a single call when it takes more than slow_s.
time_it <- function(f) {
  t1 <- system.time(quiet(f()))[["elapsed"]]
  if (t1 > slow_s) return(list(seconds = t1, reps = 1L))
  ts <- c(t1, vapply(seq_len(n_rep - 1L), function(i)
    system.time(quiet(f()))[["elapsed"]], numeric(1)))
  list(seconds = median(ts), reps = n_rep)
}

rows <- function(x) unname(as.matrix(x))
empty_object <- function() setNames(list(), character(0))
chr <- function(x) I(as.character(x))

coef_json <- function(cm) {
  setNames(lapply(seq_len(nrow(cm)), function(i) list(
    Estimate = unname(cm[i, "Estimate"]),
    SE = unname(cm[i, "Std. Error"]),
    df = unname(cm[i, "df"]),
    t = unname(cm[i, "t value"]),
    p = unname(cm[i, "Pr(>|t|)"]))), rownames(cm))
}

ftab_row <- function(tab, i) list(
  SumSq = unname(tab[i, "Sum Sq"]),
  MeanSq = unname(tab[i, "Mean Sq"]),
  NumDF = unname(tab[i, "NumDF"]),
  DenDF = unname(tab[i, "DenDF"]),
  F = unname(tab[i, "F value"]),
  p = unname(tab[i, "Pr(>F)"]))

anova_json <- function(tab) {
  if (is.null(tab) || nrow(tab) == 0L) return(empty_object())
  tab <- as.data.frame(tab)
  setNames(lapply(seq_len(nrow(tab)), function(i) ftab_row(tab, i)),
           rownames(tab))
}

ci_json <- function(ci) {
  setNames(lapply(seq_len(nrow(ci)), function(i) unname(ci[i, ])),
           rownames(ci))
}

# Add warnings / messages / error of a capture() result under prefix_*.
add_conditions <- function(res, prefix, cap) {
  if (length(cap$warnings)) res[[paste0(prefix, "_warnings")]] <- chr(cap$warnings)
  if (length(cap$messages)) res[[paste0(prefix, "_messages")]] <- chr(cap$messages)
  if (!is.null(cap$error)) res[[paste0(prefix, "_error")]] <- cap$error
  res
}


## Models --------------------------------------------------------------------

leebryk_fixed <- "math ~ 1 + mses + sector + ses + ses*mses + ses*sector"

models <- list(
  list(id = "leebryk_m2", dataset = "leebryk",
       formula = "math ~ 1 + (1|schoolid)"),
  list(id = "leebryk_m3", dataset = "leebryk",
       formula = "math ~ 1 + mses + sector + (1|schoolid)"),
  list(id = "leebryk_m4", dataset = "leebryk",
       formula = paste(leebryk_fixed, "+ (1 + ses|schoolid)")),
  list(id = "leebryk_m4i", dataset = "leebryk",
       formula = paste(leebryk_fixed, "+ (1|schoolid) + (0 + ses|schoolid)")),
  list(id = "sleepstudy_corr", dataset = "sleepstudy",
       formula = "Reaction ~ 1 + Days + (1 + Days | Subject)"),
  list(id = "gcsemv_m3_reml", dataset = "gcsemv",
       formula = "course ~ 1 + female + (1 + female | school)"),
  list(id = "anorexia_treat", dataset = "anorexia",
       formula = "weight ~ time * treatment + (1 | girl)"),
  list(id = "penicillin", dataset = "penicillin",
       formula = "diameter ~ 1 + (1 | plate) + (1 | sample)")
)

# lmer(<formula>, data = <dataset>, REML = reml) as a call, evaluated in the
# global environment.  fun is quote(lmerTest::lmer) or quote(lme4::lmer).
fit <- function(formula, dataset, reml = TRUE, fun = quote(lmerTest::lmer)) {
  cl <- as.call(list(fun, as.formula(formula, env = globalenv()),
                     data = as.name(dataset), REML = reml))
  eval(cl, globalenv())
}

describe_model <- function(s) {
  cat(sprintf("== %s: %s\n", s$id, s$formula))
  fcap <- capture(fit(s$formula, s$dataset))
  m <- fcap$value
  stopifnot(inherits(m, "lmerModLmerTest"))
  fe <- fixef(m)
  p <- length(fe)
  vc <- as.data.frame(VarCorr(m))

  res <- list(
    id = s$id,
    dataset = s$dataset,
    formula = s$formula,
    reml = isREML(m),
    nobs = nobs(m),
    ngroups = as.list(ngrps(m)),
    fixef_names = chr(names(fe)),
    fixef = as.list(fe),
    reml_criterion = REMLcrit(m),
    theta = as.list(getME(m, "theta")),
    sigma = sigma(m),
    singular = isSingular(m),
    fit_warnings = chr(fcap$warnings),
    fit_messages = chr(fcap$messages),
    lme4_conv_messages = chr(unlist(m@optinfo$conv$lme4$messages)),
    varcorr = lapply(seq_len(nrow(vc)), function(i) list(
      grp = vc$grp[i], var1 = vc$var1[i], var2 = vc$var2[i],
      vcov = vc$vcov[i], sdcor = vc$sdcor[i])),
    lmertest_varpar = c(unname(m@theta), m@sigma),
    lmertest_vcov_varpar = rows(m@vcov_varpar),
    lmertest_jac_list = lapply(m@Jac_list, rows)
  )

  # 1. Coefficient tables.
  cs <- capture(coef(summary(m, ddf = "Satterthwaite")))
  res$coef_satterthwaite <- coef_json(cs$value)
  res <- add_conditions(res, "coef_satterthwaite", cs)
  ck <- capture(coef(summary(m, ddf = "Kenward-Roger")))
  res$coef_kenward_roger <- if (is.null(ck$value)) NULL else coef_json(ck$value)
  res <- add_conditions(res, "coef_kenward_roger", ck)
  kv <- capture(as.matrix(pbkrtest::vcovAdj(m)))
  res$kr_vcov_beta_adjusted <- if (is.null(kv$value)) NULL else rows(kv$value)
  res <- add_conditions(res, "kr_vcov_beta_adjusted", kv)

  # 2. ANOVA tables.
  for (a in list(list("anova3_satterthwaite", 3, "Satterthwaite"),
                 list("anova1_satterthwaite", 1, "Satterthwaite"),
                 list("anova3_kenward_roger", 3, "Kenward-Roger"))) {
    key <- a[[1]]
    if (p <= 1L) {
      res[[key]] <- empty_object()
      next
    }
    ac <- capture(anova(m, type = a[[2]], ddf = a[[3]]))
    res[[key]] <- anova_json(ac$value)
    res <- add_conditions(res, key, ac)
  }

  # 3. Custom contrasts.
  contests <- list()
  for (k in 1:2) {
    if (k > p) next
    L <- matrix(0, k, p)
    for (j in seq_len(k)) L[j, p - k + j] <- 1
    entry <- list(L = L, columns = chr(names(fe)))
    for (ddf in c("Satterthwaite", "Kenward-Roger")) {
      key <- if (ddf == "Satterthwaite") "satterthwaite" else "kenward_roger"
      jc <- capture(contest(m, L, ddf = ddf, joint = TRUE))
      one <- list()
      if (!is.null(jc$value)) {
        one$joint <- ftab_row(as.data.frame(jc$value), 1L)
      }
      one <- add_conditions(one, "joint", jc)
      if (k == 1L) {
        tc <- capture(contest1D(m, L[1, ], ddf = ddf))
        if (!is.null(tc$value)) one$t <- coef_json(as.matrix(tc$value))[[1]]
        one <- add_conditions(one, "t", tc)
      }
      entry[[key]] <- one
    }
    contests[[paste0("last_", k)]] <- entry
  }
  res$contest <- contests

  # 4. Confidence intervals.
  res$profile_reml <- isREML(m)
  pc <- capture(confint(m, method = "profile", oldNames = FALSE))
  if (!is.null(pc$value)) res$confint_profile <- ci_json(pc$value)
  res <- add_conditions(res, "confint_profile", pc)
  wc <- capture(confint(m, method = "Wald", oldNames = FALSE))
  res$confint_wald <- ci_json(wc$value)
  res <- add_conditions(res, "confint_wald", wc)
  res$confint_level <- 0.95

  # 5. ICC and Nakagawa's R2.
  ic <- capture(performance::icc(m))
  if (!is.null(ic$value) && is.data.frame(ic$value)) {
    iv <- as.list(ic$value)
    res$icc <- list(adjusted = unname(iv$ICC_adjusted),
                    unadjusted = unname(iv$ICC_unadjusted),
                    conditional = unname(iv$ICC_conditional))
  } else {
    # performance returns NA (with a warning) when it cannot compute the
    # random-effect variances, e.g. for singular fits.
    res["icc"] <- list(NULL)
  }
  res <- add_conditions(res, "icc", ic)
  rc <- capture(performance::r2_nakagawa(m))
  if (!is.null(rc$value) && is.list(rc$value)) {
    res$r2_nakagawa <- list(conditional = unname(rc$value$R2_conditional),
                            marginal = unname(rc$value$R2_marginal))
  }
  res <- add_conditions(res, "r2_nakagawa", rc)

  # 7. Timings (each computation above served as the untimed first call).
  m_lme4 <- quiet(fit(s$formula, s$dataset, fun = quote(lme4::lmer)))
  t_s <- time_it(function() summary(m))
  t_d <- time_it(function() as_lmerModLmerTest(m_lme4))
  t_k <- time_it(function() summary(m, ddf = "Kenward-Roger"))
  t_p <- if (is.null(pc$value)) NULL else
    time_it(function() confint(m, method = "profile"))
  res$seconds_satterthwaite_summary <- t_s$seconds
  res$seconds_lmertest_derivatives <- t_d$seconds
  res$seconds_kr_summary <- t_k$seconds
  res$seconds_kr_summary_reps <- t_k$reps
  res$seconds_confint_profile <- t_p$seconds
  res$seconds_confint_profile_reps <- t_p$reps

  cat(sprintf("   singular %s; summary %.4f s, KR summary %.3f s (%d), profile %s s\n",
              res$singular, t_s$seconds, t_k$seconds, t_k$reps,
              if (is.null(t_p)) "-" else sprintf("%.3f (%d)", t_p$seconds, t_p$reps)))
  for (nm in grep("_(warnings|messages|error)$", names(res), value = TRUE))
    cat(sprintf("   %s: %s\n", nm, paste(res[[nm]], collapse = " | ")))
  list(json = res, model = m)
}

model_ids <- vapply(models, `[[`, "", "id")
lrt_ids <- c("leebryk_m2_m3_m4", "sleepstudy_int_vs_corr", "gcsemv_m1_m2_m3")
stopifnot(!anyDuplicated(c(model_ids, lrt_ids)))
if (length(wanted)) {
  unknown <- setdiff(wanted, c(model_ids, lrt_ids))
  if (length(unknown)) stop("unknown entry ids: ", paste(unknown, collapse = ", "))
  models <- models[model_ids %in% wanted]
}

model_results <- list()
fits <- list()
for (s in models) {
  d <- describe_model(s)
  model_results[[length(model_results) + 1L]] <- d$json
  fits[[s$id]] <- d$model
}


## Likelihood-ratio tests with lme4's anova() -------------------------------

lrt_json <- function(id, description, specs, refit) {
  stopifnot(id %in% lrt_ids)
  if (length(wanted) && !(id %in% wanted)) return(NULL)
  # specs: list of list(name, formula, dataset, reml); the fits are bound to
  # the names so that anova() labels the rows with them.
  env <- new.env(parent = globalenv())
  fit_msgs <- list()
  for (sp in specs) {
    fc <- capture(fit(sp$formula, sp$dataset, sp$reml, quote(lme4::lmer)))
    assign(sp$name, fc$value, envir = env)
    fit_msgs[[sp$name]] <- c(fc$warnings, fc$messages)
  }
  cl <- as.call(c(list(quote(anova)), lapply(specs, function(sp) as.name(sp$name)),
                  list(refit = refit)))
  ac <- capture(eval(cl, env))
  tab <- as.data.frame(ac$value)
  refitted <- refit && any(vapply(specs, function(sp) sp$reml, NA))
  stopifnot(identical(refitted,
                      any(grepl("refitting model", ac$messages))))
  out <- list(
    id = id,
    description = description,
    refit = refit,
    refitted_with_ml = refitted,
    models = lapply(specs, function(sp) list(
      name = sp$name, formula = sp$formula, dataset = sp$dataset,
      reml = sp$reml, fit_conditions = chr(fit_msgs[[sp$name]]))),
    row_order = chr(rownames(tab)),
    columns = chr(colnames(tab)),
    table = setNames(lapply(seq_len(nrow(tab)), function(i)
      as.list(unlist(tab[i, , drop = TRUE]))), rownames(tab))
  )
  out <- add_conditions(out, "anova", ac)
  cat(sprintf("== lrt %s\n", id))
  print(ac$value)
  out
}

lrt <- list(
  lrt_json("leebryk_m2_m3_m4",
           paste("Lee & Bryk m2, m3, m4 fitted by REML with different fixed",
                 "effects; anova() refits them with ML (refit = TRUE)."),
           list(list(name = "leebryk_m2", dataset = "leebryk", reml = TRUE,
                     formula = "math ~ 1 + (1|schoolid)"),
                list(name = "leebryk_m3", dataset = "leebryk", reml = TRUE,
                     formula = "math ~ 1 + mses + sector + (1|schoolid)"),
                list(name = "leebryk_m4", dataset = "leebryk", reml = TRUE,
                     formula = paste(leebryk_fixed, "+ (1 + ses|schoolid)"))),
           refit = TRUE),
  lrt_json("sleepstudy_int_vs_corr",
           paste("sleepstudy random intercept vs correlated random slope,",
                 "both REML with the same fixed effects; refit = FALSE",
                 "(REML likelihood-ratio test)."),
           list(list(name = "sleepstudy_int", dataset = "sleepstudy", reml = TRUE,
                     formula = "Reaction ~ 1 + Days + (1 | Subject)"),
                list(name = "sleepstudy_corr", dataset = "sleepstudy", reml = TRUE,
                     formula = "Reaction ~ 1 + Days + (1 + Days | Subject)")),
           refit = FALSE),
  lrt_json("gcsemv_m1_m2_m3",
           "GCSE coursework M1, M2, M3 fitted by ML (REML = FALSE).",
           list(list(name = "M1", dataset = "gcsemv", reml = FALSE,
                     formula = "course ~ 1 + (1 | school)"),
                list(name = "M2", dataset = "gcsemv", reml = FALSE,
                     formula = "course ~ 1 + female + (1 | school)"),
                list(name = "M3", dataset = "gcsemv", reml = FALSE,
                     formula = "course ~ 1 + female + (1 + female | school)")),
           refit = TRUE)
)
lrt <- Filter(Negate(is.null), lrt)
stopifnot(length(wanted) > 0L || identical(vapply(lrt, `[[`, "", "id"), lrt_ids))


## Partial run: replace the recomputed entries and stop ----------------------

ver <- function(p) as.character(packageVersion(p))
header <- list(
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  r_version_string = R.version.string,
  lme4_version = ver("lme4"),
  lmertest_version = ver("lmerTest"),
  pbkrtest_version = ver("pbkrtest"),
  performance_version = ver("performance"),
  insight_version = ver("insight"),
  matrix_version = ver("Matrix"),
  numderiv_version = ver("numDeriv"),
  platform = R.version$platform,
  blas = sessionInfo()$BLAS
)
if (length(wanted)) {
  source(file.path(ref_dir, "merge_json.R"))
  check_json_header(out_file, header)
  if (length(model_results))
    merge_json_entries(out_file, "models", model_results, json_args)
  if (length(lrt))
    merge_json_entries(out_file, "lrt", lrt, json_args)
  cat("Replaced", length(model_results) + length(lrt), "entries in", out_file, "\n")
  quit(save = "no")
}


## Parametric bootstrap (orientation only) -----------------------------------

cat("== bootstrap sleepstudy_corr\n")
boot_fit <- fit("Reaction ~ 1 + Days + (1 + Days | Subject)", "sleepstudy",
                fun = quote(lme4::lmer))
boot_secs <- system.time(
  bc <- capture(confint(boot_fit, method = "boot", nsim = 500, seed = 1,
                        oldNames = FALSE)))[["elapsed"]]
print(bc$value)
bootstrap_reference <- list(
  model = "sleepstudy_corr",
  formula = "Reaction ~ 1 + Days + (1 + Days | Subject)",
  reml = TRUE,
  call = 'confint(m, method = "boot", nsim = 500, seed = 1, oldNames = FALSE)',
  boot_type = "perc",
  nsim = 500L,
  seed = 1L,
  level = 0.95,
  intervals = if (is.null(bc$value)) NULL else ci_json(bc$value),
  seconds = boot_secs
)
bootstrap_reference <- add_conditions(bootstrap_reference, "boot", bc)


## Comparison with the printed Lee & Bryk output -----------------------------

# Figures as printed in the Lee & Bryk notes (lmerTest output); a figure
# matches when the computed value rounds to it (tol = half a unit in the
# last printed digit, or the stated tolerance).
seed_check <- function(model, table, term, column, printed, tol) {
  computed <- switch(table,
    coef = model_results[[which(vapply(model_results, `[[`, "", "id") == model)]]$coef_satterthwaite[[term]][[column]],
    anova = model_results[[which(vapply(model_results, `[[`, "", "id") == model)]]$anova3_satterthwaite[[term]][[column]])
  stopifnot(is.numeric(computed), length(computed) == 1L)
  list(model = model, table = table, term = term, column = column,
       printed = printed, computed = computed, tolerance = tol,
       match = abs(computed - printed) <= tol * (1 + 1e-9))
}

seed_comparison <- list(
  seed_check("leebryk_m3", "coef", "(Intercept)", "Estimate", 12.0994, 5e-5),
  seed_check("leebryk_m3", "coef", "mses", "Estimate", 5.3336, 5e-5),
  seed_check("leebryk_m3", "coef", "sector", "Estimate", 1.2196, 5e-5),
  seed_check("leebryk_m3", "coef", "(Intercept)", "SE", 0.1986, 5e-5),
  seed_check("leebryk_m3", "coef", "mses", "SE", 0.3685, 5e-5),
  seed_check("leebryk_m3", "coef", "sector", "SE", 0.3058, 5e-5),
  seed_check("leebryk_m3", "coef", "(Intercept)", "df", 160.55, 5e-3),
  seed_check("leebryk_m3", "coef", "mses", "df", 151.0, 0.05),
  seed_check("leebryk_m3", "coef", "sector", "df", 149.6, 0.05),
  seed_check("leebryk_m3", "coef", "(Intercept)", "t", 60.919, 5e-4),
  seed_check("leebryk_m3", "coef", "mses", "t", 14.475, 5e-4),
  seed_check("leebryk_m3", "coef", "sector", "t", 3.988, 5e-4),
  seed_check("leebryk_m3", "coef", "sector", "p", 0.000104, 5e-7),
  seed_check("leebryk_m3", "anova", "mses", "SumSq", 8205.1, 0.05),
  seed_check("leebryk_m3", "anova", "mses", "DenDF", 151.0, 0.05),
  seed_check("leebryk_m3", "anova", "mses", "F", 209.522, 5e-4),
  seed_check("leebryk_m3", "anova", "sector", "SumSq", 622.9, 0.05),
  seed_check("leebryk_m3", "anova", "sector", "DenDF", 149.6, 0.05),
  seed_check("leebryk_m3", "anova", "sector", "F", 15.907, 5e-4),
  seed_check("leebryk_m3", "anova", "sector", "p", 0.0001038, 5e-8),
  # m4 coefficient df are printed as whole numbers (166.0000 etc.).
  seed_check("leebryk_m4", "coef", "(Intercept)", "Estimate", 12.1026, 5e-5),
  seed_check("leebryk_m4", "coef", "mses", "Estimate", 3.3225, 5e-5),
  seed_check("leebryk_m4", "coef", "sector", "Estimate", 1.1882, 5e-5),
  seed_check("leebryk_m4", "coef", "ses", "Estimate", 2.9057, 5e-5),
  seed_check("leebryk_m4", "coef", "mses:ses", "Estimate", 0.8476, 5e-5),
  seed_check("leebryk_m4", "coef", "sector:ses", "Estimate", -1.5793, 5e-5),
  seed_check("leebryk_m4", "coef", "(Intercept)", "SE", 0.2028, 5e-5),
  seed_check("leebryk_m4", "coef", "mses", "SE", 0.3885, 5e-5),
  seed_check("leebryk_m4", "coef", "sector", "SE", 0.3081, 5e-5),
  seed_check("leebryk_m4", "coef", "ses", "SE", 0.1483, 5e-5),
  seed_check("leebryk_m4", "coef", "mses:ses", "SE", 0.2717, 5e-5),
  seed_check("leebryk_m4", "coef", "sector:ses", "SE", 0.2246, 5e-5),
  seed_check("leebryk_m4", "coef", "(Intercept)", "df", 166, 0.5),
  seed_check("leebryk_m4", "coef", "mses", "df", 178, 0.5),
  seed_check("leebryk_m4", "coef", "sector", "df", 148, 0.5),
  seed_check("leebryk_m4", "coef", "ses", "df", 4352, 0.5),
  seed_check("leebryk_m4", "coef", "mses:ses", "df", 3546, 0.5),
  seed_check("leebryk_m4", "coef", "sector:ses", "df", 4347, 0.5),
  seed_check("leebryk_m4", "coef", "(Intercept)", "t", 59.678, 5e-4),
  seed_check("leebryk_m4", "coef", "mses", "t", 8.553, 5e-4),
  seed_check("leebryk_m4", "coef", "sector", "t", 3.857, 5e-4),
  seed_check("leebryk_m4", "coef", "ses", "t", 19.595, 5e-4),
  seed_check("leebryk_m4", "coef", "mses:ses", "t", 3.119, 5e-4),
  seed_check("leebryk_m4", "coef", "sector:ses", "t", -7.033, 5e-4),
  seed_check("leebryk_m4", "coef", "mses", "p", 5.33e-15, 5e-18),
  seed_check("leebryk_m4", "coef", "sector", "p", 0.000171, 5e-7),
  seed_check("leebryk_m4", "coef", "mses:ses", "p", 0.001829, 5e-7),
  seed_check("leebryk_m4", "coef", "sector:ses", "p", 2.34e-12, 5e-15),
  seed_check("leebryk_m4", "anova", "mses", "SumSq", 2688.9, 0.05),
  seed_check("leebryk_m4", "anova", "mses", "DenDF", 178.5, 0.05),
  seed_check("leebryk_m4", "anova", "mses", "F", 73.15, 5e-3),
  seed_check("leebryk_m4", "anova", "mses", "p", 5.329e-15, 5e-19),
  seed_check("leebryk_m4", "anova", "sector", "SumSq", 546.8, 0.05),
  seed_check("leebryk_m4", "anova", "sector", "DenDF", 148.3, 0.05),
  seed_check("leebryk_m4", "anova", "sector", "F", 14.88, 5e-3),
  seed_check("leebryk_m4", "anova", "sector", "p", 0.0001707, 5e-8),
  seed_check("leebryk_m4", "anova", "ses", "SumSq", 14113.4, 0.05),
  seed_check("leebryk_m4", "anova", "ses", "DenDF", 4351.7, 0.05),
  seed_check("leebryk_m4", "anova", "ses", "F", 383.96, 5e-3),
  seed_check("leebryk_m4", "anova", "mses:ses", "SumSq", 357.6, 0.05),
  seed_check("leebryk_m4", "anova", "mses:ses", "DenDF", 3546.5, 0.05),
  seed_check("leebryk_m4", "anova", "mses:ses", "F", 9.73, 5e-3),
  seed_check("leebryk_m4", "anova", "mses:ses", "p", 0.0018288, 5e-8),
  seed_check("leebryk_m4", "anova", "sector:ses", "SumSq", 1818.0, 0.05),
  seed_check("leebryk_m4", "anova", "sector:ses", "DenDF", 4346.7, 0.05),
  seed_check("leebryk_m4", "anova", "sector:ses", "F", 49.46, 5e-3),
  seed_check("leebryk_m4", "anova", "sector:ses", "p", 2.342e-12, 5e-16)
)

cat("== comparison with the printed Lee & Bryk output\n")
for (x in seed_comparison)
  cat(sprintf("   %-5s %-10s %-11s %-8s printed %-12s computed %-16.10g %s\n",
              x$table, x$model, x$term, x$column, format(x$printed),
              x$computed, if (x$match) "ok" else "MISMATCH"))


## Output --------------------------------------------------------------------

out <- c(header, list(
  timing = list(repetitions = n_rep, single_repetition_above_seconds = slow_s,
                statistic = "median elapsed seconds"),
  models = model_results,
  lrt = lrt,
  bootstrap_reference = bootstrap_reference,
  seed_comparison = seed_comparison
))
do.call(write_json, c(list(out, out_file), json_args))
cat("Wrote", out_file, "\n")
