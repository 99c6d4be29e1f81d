# Reference figures for emmeans with nested fixed factors (B %in% A, detected from the
# model y ~ x + A + A:B and the data): the grid of the cells within their nests, the
# means of A averaged over its own B levels, the means of B with their nest, the
# Tukey-adjusted pairs of B, and the means of B by A.
#
# Run from the repository root:
#
#     Rscript tests/reference/emmeans_nested.R
#
# Writes tests/reference/emmeans_nested.json (seconds). Requires lme4, emmeans, pbkrtest
# and jsonlite. The data (tests/reference/data/nested_factors.csv, simulated, seeded):
# 100 rows, A with 2 levels, B with 2 and 3 levels inside them, 25 groups g, a covariate x.

suppressPackageStartupMessages({
  library(lme4)
  library(emmeans)
  library(jsonlite)
})
d <- read.csv(file.path("tests", "reference", "data", "nested_factors.csv"), stringsAsFactors = TRUE)
m <- suppressMessages(suppressWarnings(lmer(y ~ x + A + A:B + (1 | g), d)))
tab <- function(em) {
  s <- as.data.frame(summary(em))
  lapply(s, function(col) if (is.factor(col)) as.character(col) else col)
}
out <- list(
  emmeans_version = as.character(packageVersion("emmeans")),
  nesting = lapply(ref_grid(m)@model.info$nesting, as.character),
  A = tab(emmeans(m, "A")),
  B = tab(emmeans(m, "B")),
  pairs_B = tab(pairs(emmeans(m, "B"))),
  B_by_A = tab(emmeans(m, ~ B | A))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE), file.path("tests", "reference", "emmeans_nested.json"))
