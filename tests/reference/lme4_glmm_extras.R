# Reference figures for the GLMM result's accessors beyond the fit itself:
# predictions for new data (new levels included), coef(), the Pearson
# overdispersion check of performance::check_overdispersion, and a small
# Rasch fit (item difficulties, person modes and their conditional SDs).
#
# Run from the repository root:
#
#     Rscript tests/reference/lme4_glmm_extras.R
#
# Writes tests/reference/lme4_glmm_extras.json. It is kept apart from
# lme4_glmm.R, whose full run refits the 100,000-row Rasch models (minutes):
# this script runs in seconds. The conditional variances of the random
# effects (attr(ranef(m, condVar = TRUE)[[g]], "postVar")) are already in
# lme4_glmm.json (cbpp_cbind, verbagg_laplace, verbagg_slope, grouseticks_pois,
# the cbpp Poisson fits, and the first 10 persons of the Rasch fits) and are
# not repeated here.
#
# Layout: {"r_version", "lme4_version", "performance_version",
#          "predict": [...], "coef": {...}, "overdispersion": [...], "rasch_small": {...}}
#   predict: per case the model (id, dataset, formula, family, link; an
#     offset is written in the formula as offset(log(size))), the newdata
#     rows (column -> values), and predict(m, newdata, type, re.form,
#     allow.new.levels = TRUE) for type = link/response and re.form = NULL/NA;
#   coef: coef(m)$herd of the cbpp binomial model (levels, columns, rows);
#   overdispersion: performance::check_overdispersion(m) (chisq_statistic,
#     dispersion_ratio, residual_df, p_value) for the listed models;
#   rasch_small: y ~ 0 + item + (1 | person) on the first 2,000 persons of
#     rasch5 (10,000 rows), logit and probit: fixef, se, theta, and for the
#     first 20 persons the conditional modes and conditional SDs.
#
# Requires the R packages lme4, performance and jsonlite.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
  library(performance)
})

data_dir <- file.path("src", "multilevel", "datasets", "data")
out_file <- file.path("tests", "reference", "lme4_glmm_extras.json")

# Same reader as lme4_glmm.R: factor levels restored from the JSON sidecar.
read_bundled <- function(name) {
  meta <- fromJSON(file.path(data_dir, paste0(name, ".json")), simplifyVector = TRUE)
  fac_cols <- names(meta$categories)
  col_classes <- setNames(rep("character", length(fac_cols)), fac_cols)
  df <- read.csv(file.path(data_dir, paste0(name, ".csv")), colClasses = col_classes,
                 na.strings = "", stringsAsFactors = FALSE, check.names = FALSE)
  for (col in fac_cols) {
    df[[col]] <- factor(df[[col]], levels = as.character(meta$categories[[col]]),
                        ordered = col %in% meta$ordered)
  }
  df
}

cbpp <- read_bundled("cbpp")
verbagg <- read_bundled("verbagg")
grouse <- read_bundled("grouseticks")
rasch <- read_bundled("rasch5")

fit <- function(formula, data, family, offset = NULL) {
  args <- list(as.formula(formula), data = quote(data), family = family)
  if (!is.null(offset)) args$offset <- str2lang(offset)
  eval(as.call(c(quote(glmer), args)))
}

## Predictions ---------------------------------------------------------------

predict_case <- function(id, dataset, data, formula, family, newdata, offset = NULL) {
  m <- fit(formula, data, family, offset)
  out <- list(id = id, dataset = dataset, formula = formula,
              family = family$family, link = family$link, offset = offset,
              newdata = lapply(newdata, function(v) if (is.factor(v)) as.character(v) else v))
  for (type in c("link", "response")) {
    out[[paste0(type, "_conditional")]] <-
      unname(predict(m, newdata = newdata, type = type, allow.new.levels = TRUE))
    out[[paste0(type, "_population")]] <-
      unname(predict(m, newdata = newdata, type = type, re.form = NA))
  }
  out
}

lev <- function(f, x) factor(x, levels = levels(f))
cases <- list(
  predict_case("cbpp_binomial", "cbpp", cbpp,
               "cbind(incidence, size - incidence) ~ period + (1 | herd)", binomial(),
               data.frame(period = lev(cbpp$period, c("1", "2", "4", "3")),
                          herd = factor(c("1", "7", "new", "15")))),
  # The offset is written in the formula: lme4's predict() evaluates formula
  # offsets in newdata but silently ignores an offset given as glmer's
  # offset= argument (it predicts without it); multilevel applies the
  # offset of newdata in both cases.
  predict_case("cbpp_poisson_offset", "cbpp", cbpp,
               "incidence ~ period + offset(log(size)) + (1 | herd)", poisson(),
               data.frame(period = lev(cbpp$period, c("1", "2", "4")),
                          herd = factor(c("3", "new", "12")), size = c(10, 20, 5))),
  predict_case("verbagg_crossed", "verbagg", verbagg,
               "r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", binomial(),
               data.frame(Anger = c(20, 11, 30, 15),
                          Gender = lev(verbagg$Gender, c("M", "F", "F", "M")),
                          btype = lev(verbagg$btype, c("curse", "scold", "shout", "curse")),
                          situ = lev(verbagg$situ, c("other", "self", "other", "self")),
                          id = factor(c("1", "5", "new", "new")),
                          item = factor(c("S1WantCurse", "new", "S3WantShout", "new"))))
)

## coef() --------------------------------------------------------------------

m_cbpp <- fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp, binomial())
cf <- coef(m_cbpp)$herd
coef_out <- list(levels = I(rownames(cf)), columns = I(colnames(cf)), values = unname(as.matrix(cf)))

## Overdispersion ------------------------------------------------------------

od_case <- function(id, dataset, data, formula, family, offset = NULL) {
  m <- fit(formula, data, family, offset)
  od <- check_overdispersion(m)
  list(id = id, dataset = dataset, formula = formula, family = family$family,
       link = family$link, offset = offset,
       chisq = od$chisq_statistic, ratio = od$dispersion_ratio,
       df = od$residual_df, p = od$p_value)
}

od <- list(
  od_case("grouseticks_location", "grouseticks", grouse,
          "TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)", poisson()),
  od_case("grouseticks_olre", "grouseticks", grouse,
          "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", poisson()),
  od_case("cbpp_poisson_offset", "cbpp", cbpp, "incidence ~ period + (1 | herd)", poisson(),
          offset = "log(size)"),
  od_case("cbpp_binomial", "cbpp", cbpp,
          "cbind(incidence, size - incidence) ~ period + (1 | herd)", binomial())
)

## A small Rasch fit -----------------------------------------------------------

small <- droplevels(rasch[rasch$person <= 2000, ])
small$person <- factor(small$person)
rasch_fit <- function(link) {
  m <- glmer(y ~ 0 + item + (1 | person), small, family = binomial(link = link))
  re <- ranef(m, condVar = TRUE)$person
  pv <- attr(re, "postVar")[1, 1, ]
  list(link = link, nobs = nobs(m), loglik = as.numeric(logLik(m)),
       theta = unname(getME(m, "theta")), fixef = as.list(fixef(m)),
       se = as.list(setNames(sqrt(diag(as.matrix(vcov(m)))), names(fixef(m)))),
       person_levels = I(rownames(re)[1:20]), person_mode = re[1:20, 1],
       person_condsd = sqrt(pv[1:20]))
}
rasch_out <- list(dataset = "rasch5", subset = "person <= 2000",
                  formula = "y ~ 0 + item + (1 | person)",
                  fits = list(logit = rasch_fit("logit"), probit = rasch_fit("probit")))

out <- list(
  r_version = R.version.string,
  lme4_version = as.character(packageVersion("lme4")),
  performance_version = as.character(packageVersion("performance")),
  predict = cases, coef = coef_out, overdispersion = od, rasch_small = rasch_out
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", pretty = TRUE), out_file)
cat("wrote", out_file, "\n")
