# Reference figures for influence diagnostics: lme4's hatvalues, cooks.distance and
# influence.merMod (leave-one-group-out and leave-one-out refits).
#
# Run from the repository root:
#
#     Rscript tests/reference/influence.R
#
# Writes tests/reference/influence.json (under a minute). Requires lme4 and jsonlite.
# Models (REML), on the bundled data read back with their factor levels:
#
#   gcsemv: course ~ 1 + female + (1 | school)        groups = "school" (73 schools)
#   sleep:  Reaction ~ Days + (Days | Subject)         groups = "Subject", and every row
#
# For each: hatvalues(m), cooks.distance(m), and for each influence() the deleted
# units (in lme4's order), fixed.effects[-case], var.cov.comps[-case], the deleted
# fits' standard errors, cooks.distance(infl) and dfbetas(infl).

suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")

gcse <- read_bundled("gcsemv", data_dir)
sleep <- read_bundled("sleepstudy", data_dir)

infl_json <- function(infl) {
  fx <- infl[[2]]   # fixed.effects[-groups]
  vc <- infl[[4]]   # var.cov.comps[-groups]
  list(units = I(rownames(fx)), fixef_names = I(colnames(fx)), vc_names = I(colnames(vc)),
       fixef = unname(fx), var_cov = unname(vc),
       se = unname(t(vapply(infl[[6]], function(v) sqrt(diag(as.matrix(v))),
                            numeric(ncol(fx))))),
       cooks = unname(cooks.distance(infl)), dfbetas = unname(dfbetas(infl)),
       var_cov_full = unname(infl[["var.cov.comps"]]))
}

m1 <- lmer(course ~ 1 + female + (1 | school), gcse)
m2 <- lmer(Reaction ~ Days + (Days | Subject), sleep)
sleep$row <- seq_len(nrow(sleep))
out <- list(
  gcsemv = list(hat = unname(hatvalues(m1)), cooks = unname(cooks.distance(m1)),
                school = infl_json(influence(m1, groups = "school", data = gcse))),
  sleep = list(hat = unname(hatvalues(m2)), cooks = unname(cooks.distance(m2)),
               Subject = infl_json(influence(m2, groups = "Subject", data = sleep)),
               rows = infl_json(influence(m2, groups = "row", data = sleep))),
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")))
)
write_json(out, file.path("tests", "reference", "influence.json"), digits = NA, pretty = TRUE,
           auto_unbox = TRUE)
cat("Wrote tests/reference/influence.json\n")
