# Reference figures for a zero-inflation model with an offset (glmmTMB's offset() in ziformula):
# Salamanders, zero-inflated Poisson and NB2 with zi = ~ mined + offset(DOP).
# Run from the repository root: Rscript tests/reference/glmmtmb_zi_offset.R
# Writes tests/reference/glmmtmb_zi_offset.json.
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
sal <- read_bundled("salamanders", data_dir)
new <- data.frame(mined = factor(c("yes", "no"), levels = levels(sal$mined)), DOP = c(2.0, -0.5),
                  site = factor(c("NEW", "NEW")))
out <- list()
for (fam in c("poisson", "nbinom2")) {
  family <- if (fam == "poisson") poisson() else nbinom2()
  m <- glmmTMB(count ~ mined + (1 | site), zi = ~ mined + offset(DOP), data = sal, family = family)
  zi <- fixef(m)$zi
  out[[fam]] <- list(
    loglik = as.numeric(logLik(m)),
    cond = as.list(fixef(m)$cond),
    zi = as.list(zi),
    zi_se = as.list(sqrt(diag(vcov(m)$zi))),
    sd = attr(VarCorr(m)$cond$site, "stddev")[[1]],
    theta = if (fam == "nbinom2") sigma(m) else NULL,
    zprob_new = predict(m, newdata = new, type = "zprob", allow.new.levels = TRUE),
    response_new = predict(m, newdata = new, type = "response", re.form = NA),
    zprob_fitted_head = head(predict(m, type = "zprob"), 5)
  )
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path("tests", "reference", "glmmtmb_zi_offset.json"))
