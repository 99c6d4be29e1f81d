# Reference marginal means of a cumulative link mixed model (ml.emmeans on
# ml.clmm): emmeans 1.8 on ordinal's clmm for the wine data, in each of
# emmeans' modes for ordinal models: "latent" (the default), "linear.predictor",
# "cum.prob", "exc.prob", "prob" and "mean.class", and the pairwise contrasts of
# the latent means.
#
# Run from the repository root:
#
#     Rscript tests/reference/emmeans_clmm.R
#
# Writes tests/reference/emmeans_clmm.json: per case: id, formula, specs, mode,
# the table's columns (as emmeans' summary() gives them).
#
# Requires ordinal, emmeans and jsonlite.

suppressPackageStartupMessages({
  library(ordinal)
  library(emmeans)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
w <- read_bundled("wine", file.path("src", "multilevel", "datasets", "data"))
m <- clmm(rating ~ temp + contact + (1 | judge), data = w)
mp <- clmm(rating ~ temp + contact + (1 | judge), data = w, link = "probit")
table_of <- function(x) {
  d <- as.data.frame(summary(x))
  lapply(d, function(col) if (is.factor(col)) as.character(col) else col)
}
cases <- list(
  list(id = "latent_temp", fit = m, link = "logit", specs = "~ temp", mode = "latent"),
  list(id = "latent_temp_by_contact", fit = m, link = "logit", specs = "~ temp | contact", mode = "latent"),
  list(id = "linear_predictor_temp", fit = m, link = "logit", specs = "~ temp", mode = "linear.predictor"),
  list(id = "linear_predictor_cut", fit = m, link = "logit", specs = "~ cut | temp", mode = "linear.predictor"),
  list(id = "cum_prob_temp", fit = m, link = "logit", specs = "~ temp", mode = "cum.prob"),
  list(id = "cum_prob_cut", fit = m, link = "logit", specs = "~ cut | temp", mode = "cum.prob"),
  list(id = "exc_prob_cut", fit = m, link = "logit", specs = "~ cut | temp", mode = "exc.prob"),
  list(id = "prob_rating", fit = m, link = "logit", specs = "~ rating | temp", mode = "prob"),
  list(id = "mean_class", fit = m, link = "logit", specs = "~ temp", mode = "mean.class"),
  list(id = "probit_prob_rating", fit = mp, link = "probit", specs = "~ rating | contact", mode = "prob"),
  list(id = "probit_latent", fit = mp, link = "probit", specs = "~ contact", mode = "latent")
)
out <- list()
for (cs in cases) {
  emm <- emmeans(cs$fit, as.formula(cs$specs), mode = cs$mode)
  rec <- list(id = cs$id, formula = "rating ~ temp + contact + (1 | judge)", link = cs$link, specs = cs$specs,
              mode = cs$mode, table = table_of(emm))
  if (cs$mode == "latent") rec$pairs <- table_of(pairs(emm))
  out[[length(out) + 1]] <- rec
}
write_json(list(versions = list(r = R.version.string, ordinal = as.character(packageVersion("ordinal")),
                                emmeans = as.character(packageVersion("emmeans"))), cases = out),
           file.path("tests", "reference", "emmeans_clmm.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE,
           na = "null")
