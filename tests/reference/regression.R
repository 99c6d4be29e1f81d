# Reference figures for the fits without random effects: lm, glm and lme4's lmList,
# and lme4's anova of a mixed model against one without random effects.
#
# Run from the repository root:
#
#     Rscript tests/reference/regression.R
#
# Writes tests/reference/regression.json (seconds). Requires lme4 and jsonlite.

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
sleep <- read_bundled("sleepstudy", data_dir)
exam <- read_bundled("exam", data_dir)
cbpp <- read_bundled("cbpp", data_dir)
ticks <- read_bundled("grouseticks", data_dir)
verb <- read_bundled("verbagg", data_dir)
gcse <- read_bundled("gcsemv", data_dir)

lm_json <- function(m) {
  s <- summary(m)
  list(coef = unname(coef(m)), names = I(names(coef(m))), se = unname(s$coefficients[, 2]),
       t = unname(s$coefficients[, 3]), p = unname(s$coefficients[, 4]), sigma = s$sigma,
       df_resid = m$df.residual, r2 = s$r.squared, adj_r2 = s$adj.r.squared,
       fstat = if (is.null(s$fstatistic)) NULL else unname(s$fstatistic),
       loglik = as.numeric(logLik(m)), aic = AIC(m), bic = BIC(m))
}
glm_json <- function(m) {
  s <- summary(m)
  list(coef = unname(coef(m)), names = I(names(coef(m))), se = unname(s$coefficients[, 2]),
       z = unname(s$coefficients[, 3]), p = unname(s$coefficients[, 4]), deviance = m$deviance,
       null_deviance = m$null.deviance, df_resid = m$df.residual, df_null = m$df.null,
       loglik = as.numeric(logLik(m)), aic = AIC(m), iter = m$iter)
}
lmlist_json <- function(l) {
  s <- summary(l)
  cf <- coef(l)
  ci <- confint(l)
  list(groups = I(rownames(cf)), names = I(colnames(cf)), coef = unname(as.matrix(cf)),
       se = unname(s$coefficients[, 2, ]), sigma = s$RSE, df = sum(s$df[, 2], na.rm = TRUE),
       lower = unname(ci[, 1, ]), upper = unname(ci[, 2, ]))
}

sleep_lmer <- lmer(Reaction ~ Days + (1 | Subject), sleep)
sleep_lm <- lm(Reaction ~ Days, sleep)
cbpp_glmer <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, binomial)
cbpp_glm <- glm(cbind(incidence, size - incidence) ~ period, binomial, cbpp)
a1 <- anova(sleep_lmer, sleep_lm)
a2 <- anova(cbpp_glmer, cbpp_glm)

sleep$w0 <- ifelse(seq_len(nrow(sleep)) %% 5 == 1, 0, 1 + (seq_len(nrow(sleep)) - 1) %% 3)
cbpp$ls <- log(cbpp$size)
pois_off <- glm(incidence ~ period + offset(ls), poisson, cbpp)
out <- list(
  predict_offset = unname(predict(pois_off, data.frame(period = factor(c("1", "3"), levels = levels(cbpp$period)),
                                                         ls = log(c(10, 20))), type = "response")),
  lm = list(sleep = lm_json(sleep_lm),
            zero_weights = lm_json(lm(Reaction ~ Days, sleep, weights = w0)),
            exam = lm_json(lm(normexam ~ standLRT + sex + schgend, exam)),
            exam_weighted = lm_json(lm(normexam ~ standLRT + sex, exam, weights = schavg + 2)),
            no_intercept = lm_json(lm(Reaction ~ 0 + Days, sleep))),
  glm = list(cbpp = glm_json(cbpp_glm),
             ticks = glm_json(glm(TICKS ~ YEAR + cHEIGHT, poisson, ticks)),
             verbagg = glm_json(glm(r2 ~ Anger + Gender + btype, binomial, verb)),
             probit = glm_json(glm(cbind(incidence, size - incidence) ~ period,
                                   binomial(link = "probit"), cbpp)),
             gaussian = glm_json(glm(Reaction ~ Days, gaussian, sleep)),
             gaussian_zero_weights = glm_json(glm(Reaction ~ Days, gaussian, sleep, weights = w0))),
  lmlist = list(sleep = lmlist_json(lmList(Reaction ~ Days | Subject, sleep)),
                gcse = lmlist_json(lmList(course ~ female | school, gcse))),
  anova = list(lm = list(chisq = a1$Chisq[2], logLik = unname(a1$logLik), aic = unname(a1$AIC)),
               glm = list(chisq = a2$Chisq[2], logLik = unname(a2$logLik), aic = unname(a2$AIC))),
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")))
)
write_json(out, file.path("tests", "reference", "regression.json"), digits = NA, pretty = TRUE,
           auto_unbox = TRUE, na = "null")
cat("Wrote tests/reference/regression.json\n")
