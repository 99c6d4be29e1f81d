# Reference figures for estimated marginal means and contrasts (emmeans).
#
# Run from the repository root:
#
#     Rscript tests/reference/emmeans.R
#
# Writes tests/reference/emmeans.json (about half a minute: Kenward-Roger on
# 4,059 rows is the slow part). Requires lme4, lmerTest, pbkrtest, emmeans
# and jsonlite.
#
# Data are the bundled CSV files read back with their factor levels
# (reference_helpers.R). Models:
#
#   exam_main:  normexam ~ standLRT + sex + schgend + vr + (1 | school)     REML
#   exam_int:   normexam ~ standLRT + sex * schgend + (1 | school)          REML
#               (boys' schools have no girls and girls' schools no boys:
#               two empty cells, two aliased coefficients, non-estimable means)
#   anorexia:   weight ~ time * treatment + (1 | girl)                      REML
#   sleep_ml:   Reaction ~ Days + (Days | Subject)                          ML
#   cbpp:       cbind(incidence, size - incidence) ~ period + (1 | herd)    binomial
#   ticks:      TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)        poisson
#   exam_weighted: exam_main without vr, weights = schavg + 2             REML
#   cbpp_offset: incidence ~ period + offset(log(size)) + (1 | herd)       poisson
#   exam_bool:  normexam ~ high + sex + (1 | school), high = standLRT > 0 (a logical)
#
# emmeans disables Kenward-Roger / Satterthwaite above 3,000 rows unless told
# otherwise; the limits are raised here so that the exam figures carry them.
#
# Layout: {"cases": {name: {model, call, columns: {col: [values]}, messages}},
#          "coefficients": {model: {fixef, vcov}}, "versions": {...}}.
# The glmer models' coefficients are there because lme4's Laplace deviance
# is not quite the Laplace approximation (its curvature differs by about 1%
# from the exact one, which the Python side computes), so their standard
# errors differ by about 1%: the tests put lme4's coefficients into the fit
# to check the marginal means themselves to the last digits. Each case is summary(..., infer = c(TRUE, TRUE))
# as a data frame (estimates, SE, df, both confidence limits, test statistic
# and p value), with the messages ("mesg" attribute) emmeans prints below it.

suppressPackageStartupMessages({
  library(lme4)
  library(emmeans)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
emm_options(pbkrtest.limit = 10000, lmerTest.limit = 10000)

exam <- read_bundled("exam", data_dir)
anorexia <- read_bundled("anorexia", data_dir)
sleep <- read_bundled("sleepstudy", data_dir)
cbpp <- read_bundled("cbpp", data_dir)
ticks <- read_bundled("grouseticks", data_dir)

models <- list(
  exam_main = lmer(normexam ~ standLRT + sex + schgend + vr + (1 | school), exam),
  exam_int = lmer(normexam ~ standLRT + sex * schgend + (1 | school), exam),
  anorexia = lmer(weight ~ time * treatment + (1 | girl), anorexia),
  sleep_ml = lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE),
  cbpp = glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp,
               family = binomial),
  ticks = glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION), ticks,
                family = poisson),
  exam_weighted = lmer(normexam ~ standLRT + sex + schgend + (1 | school), exam,
                       weights = schavg + 2),
  cbpp_offset = glmer(incidence ~ period + offset(log(size)) + (1 | herd), cbpp, family = poisson),
  exam_bool = lmer(normexam ~ high + sex + (1 | school), transform(exam, high = standLRT > 0))
)

cases <- list()
add <- function(name, model, call, expr) {
  res <- capture(expr)
  if (!is.null(res$error)) stop(name, ": ", res$error)
  s <- summary(res$value, infer = c(TRUE, TRUE))
  df <- as.data.frame(s)
  cols <- lapply(df, function(x) if (is.factor(x)) as.character(x) else x)
  cases[[name]] <<- list(model = model, call = call, columns = cols,
                         messages = I(c(attr(s, "mesg"), res$conditions)))
}

m <- models$exam_main
add("schgend_kr", "exam_main", 'emmeans(m, "schgend")', emmeans(m, "schgend"))
add("schgend_satt", "exam_main", 'emmeans(m, "schgend", lmer.df = "satterthwaite")',
    emmeans(m, "schgend", lmer.df = "satterthwaite"))
add("schgend_asym", "exam_main", 'emmeans(m, "schgend", lmer.df = "asymptotic")',
    emmeans(m, "schgend", lmer.df = "asymptotic"))
add("sex_by_schgend", "exam_main", 'emmeans(m, "sex", by = "schgend")',
    emmeans(m, "sex", by = "schgend"))
add("schgend_prop", "exam_main", 'emmeans(m, "schgend", weights = "proportional")',
    emmeans(m, "schgend", weights = "proportional"))
add("schgend_outer", "exam_main", 'emmeans(m, "schgend", weights = "outer")',
    emmeans(m, "schgend", weights = "outer"))
add("schgend_cells", "exam_main", 'emmeans(m, "schgend", weights = "cells")',
    emmeans(m, "schgend", weights = "cells"))
add("schgend_at", "exam_main", 'emmeans(m, "schgend", at = list(standLRT = 1))',
    emmeans(m, "schgend", at = list(standLRT = 1)))
add("schgend_vr", "exam_main", 'emmeans(m, c("schgend", "vr"))',
    emmeans(m, c("schgend", "vr")))
e <- emmeans(m, "schgend")
add("pairs_tukey", "exam_main", 'pairs(emmeans(m, "schgend"))', pairs(e))
add("pairs_rev", "exam_main", 'contrast(emmeans(m, "schgend"), "revpairwise")',
    contrast(e, "revpairwise"))
for (adj in c("none", "bonferroni", "holm", "sidak", "scheffe", "fdr", "hochberg", "BY"))
  add(paste0("pairs_", adj), "exam_main",
      sprintf('pairs(emmeans(m, "schgend"), adjust = "%s")', adj), pairs(e, adjust = adj))
add("trt_vs_ctrl", "exam_main", 'contrast(emmeans(m, "schgend"), "trt.vs.ctrl")',
    contrast(e, "trt.vs.ctrl"))
add("trt_vs_ctrlk", "exam_main", 'contrast(emmeans(m, "schgend"), "trt.vs.ctrlk")',
    contrast(e, "trt.vs.ctrlk"))
add("eff", "exam_main", 'contrast(emmeans(m, "schgend"), "eff")', contrast(e, "eff"))
add("del_eff", "exam_main", 'contrast(emmeans(m, "schgend"), "del.eff")', contrast(e, "del.eff"))
set.seed(1)
add("consec_mvt", "exam_main", 'contrast(emmeans(m, "vr"), "consec")',
    contrast(emmeans(m, "vr"), "consec"))
add("poly", "exam_main", 'contrast(emmeans(m, "vr"), "poly")', contrast(emmeans(m, "vr"), "poly"))
add("custom", "exam_main",
    'contrast(emmeans(m, "schgend"), list(single = c(-1, 0.5, 0.5), boys_girls = c(0, 1, -1)))',
    contrast(e, list(single = c(-1, 0.5, 0.5), boys_girls = c(0, 1, -1))))
add("pairs_by", "exam_main", 'pairs(emmeans(m, "schgend", by = "sex"))',
    pairs(emmeans(m, "schgend", by = "sex")))
add("pairs_two_factors", "exam_main", 'pairs(emmeans(m, c("schgend", "sex")))',
    pairs(emmeans(m, c("schgend", "sex"))))
add("pairs_satt", "exam_main", 'pairs(emmeans(m, "schgend", lmer.df = "satterthwaite"))',
    pairs(emmeans(m, "schgend", lmer.df = "satterthwaite")))

m <- models$exam_int
add("int_sex_by_schgend", "exam_int", 'emmeans(m, "sex", by = "schgend")',
    emmeans(m, "sex", by = "schgend"))
add("int_schgend", "exam_int", 'emmeans(m, "schgend")', emmeans(m, "schgend"))
add("int_pairs", "exam_int", 'pairs(emmeans(m, c("sex", "schgend")))',
    pairs(emmeans(m, c("sex", "schgend"))))

for (adj in c("bonferroni", "holm", "sidak", "scheffe", "fdr"))
  add(paste0("int_pairs_", adj), "exam_int",
      sprintf('pairs(emmeans(m, c("sex", "schgend")), adjust = "%s")', adj),
      pairs(emmeans(m, c("sex", "schgend")), adjust = adj))
add("int_pairs_by_sex", "exam_int", 'pairs(emmeans(m, "schgend", by = "sex"))',
    pairs(emmeans(m, "schgend", by = "sex")))

add("trend_ticks", "ticks", 'emtrends(models$ticks, "YEAR", var = "cHEIGHT")',
    emtrends(models$ticks, "YEAR", var = "cHEIGHT"))

m <- models$exam_weighted
add("weighted_prop", "exam_weighted", 'emmeans(m, "schgend", weights = "proportional")',
    emmeans(m, "schgend", weights = "proportional"))
add("weighted_cells", "exam_weighted", 'emmeans(m, "schgend", weights = "cells")',
    emmeans(m, "schgend", weights = "cells"))

m <- models$cbpp_offset
add("offset_link", "cbpp_offset", 'emmeans(m, "period")', emmeans(m, "period"))
add("offset_response", "cbpp_offset", 'emmeans(m, "period", type = "response")',
    emmeans(m, "period", type = "response"))

add("bool_sex", "exam_bool", 'emmeans(m, "sex")', emmeans(models$exam_bool, "sex"))
add("bool_high", "exam_bool", 'emmeans(m, "high")', emmeans(models$exam_bool, "high"))

m <- models$anorexia
add("anorexia_trt", "anorexia", 'emmeans(m, "treatment")', emmeans(m, "treatment"))
add("anorexia_at", "anorexia", 'emmeans(m, "treatment", by = "time", at = list(time = c(1, 2)))',
    emmeans(m, "treatment", by = "time", at = list(time = c(1, 2))))
add("anorexia_pairs_at", "anorexia",
    'pairs(emmeans(m, "treatment", by = "time", at = list(time = c(1, 2))))',
    pairs(emmeans(m, "treatment", by = "time", at = list(time = c(1, 2)))))
add("anorexia_time_avg", "anorexia", 'emmeans(m, "treatment", at = list(time = c(1, 2)))',
    emmeans(m, "treatment", at = list(time = c(1, 2))))

add("trend_trt", "anorexia", 'emtrends(m, "treatment", var = "time")',
    emtrends(m, "treatment", var = "time"))
add("trend_pairs", "anorexia", 'pairs(emtrends(m, "treatment", var = "time"))',
    pairs(emtrends(m, "treatment", var = "time")))

m <- models$sleep_ml
add("sleep_ml_days", "sleep_ml", 'emmeans(m, "Days", at = list(Days = c(0, 4.5, 9)))',
    emmeans(m, "Days", at = list(Days = c(0, 4.5, 9))))
add("sleep_ml_satt", "sleep_ml",
    'emmeans(m, "Days", at = list(Days = c(0, 9)), lmer.df = "satterthwaite")',
    emmeans(m, "Days", at = list(Days = c(0, 9)), lmer.df = "satterthwaite"))

m <- models$cbpp
add("cbpp_link", "cbpp", 'emmeans(m, "period")', emmeans(m, "period"))
add("cbpp_response", "cbpp", 'emmeans(m, "period", type = "response")',
    emmeans(m, "period", type = "response"))
add("cbpp_pairs_response", "cbpp", 'pairs(emmeans(m, "period", type = "response"))',
    pairs(emmeans(m, "period", type = "response")))
add("cbpp_pairs_link", "cbpp", 'pairs(emmeans(m, "period"))', pairs(emmeans(m, "period")))
add("cbpp_regrid_pairs", "cbpp", 'pairs(regrid(emmeans(m, "period")))',
    pairs(regrid(emmeans(m, "period"))))
add("cbpp_regrid", "cbpp", 'regrid(emmeans(m, "period"))', regrid(emmeans(m, "period")))

m <- models$ticks
add("ticks_response", "ticks", 'emmeans(m, "YEAR", type = "response")',
    emmeans(m, "YEAR", type = "response"))
add("ticks_pairs_response", "ticks", 'pairs(emmeans(m, "YEAR", type = "response"))',
    pairs(emmeans(m, "YEAR", type = "response")))
add("ticks_trt_response", "ticks",
    'contrast(emmeans(m, "YEAR", type = "response"), "trt.vs.ctrl")',
    contrast(emmeans(m, "YEAR", type = "response"), "trt.vs.ctrl"))

# R's ptukey / qtukey on a grid (emmeans' Tukey p values and intervals are made
# of them) and p.adjust's methods on one vector of p values.
grid <- expand.grid(q = c(0.3, 1, 2.5, 3.6, 5, 8), nmeans = c(2, 3, 3.7, 6, 10),
                    df = c(2.5, 10, 64.6, 150, 900, 3000, 30000, Inf))
tukey <- list(q = grid$q, nmeans = grid$nmeans, df = grid$df,
              upper = ptukey(grid$q, grid$nmeans, grid$df, lower.tail = FALSE),
              qtukey95 = mapply(function(n, d) qtukey(0.95, n, d), grid$nmeans, grid$df))
p <- c(0.01, 0.04, 0.03, 0.2, 0.005, 0.5, 0.04, 0.9)
padjust <- c(list(p = p), sapply(p.adjust.methods, function(m) p.adjust(p, m), simplify = FALSE))

out <- list(
  cases = cases,
  tukey = tukey,
  p_adjust = padjust,
  formulas = lapply(models, function(m) paste(deparse(formula(m)), collapse = "")),
  coefficients = lapply(models, function(m) list(fixef = unname(fixef(m)),
                                                 vcov = unname(as.matrix(vcov(m))))),
  versions = list(R = R.version.string,
                  lme4 = as.character(packageVersion("lme4")),
                  emmeans = as.character(packageVersion("emmeans")),
                  pbkrtest = as.character(packageVersion("pbkrtest")),
                  lmerTest = as.character(packageVersion("lmerTest")))
)
write_json(out, file.path("tests", "reference", "emmeans.json"), auto_unbox = TRUE,
           digits = NA, null = "null", na = "null", pretty = TRUE)
cat("Wrote tests/reference/emmeans.json\n")
