# Reference type II ANOVA tables of lmerTest (anova(m, type = 2)): for a term
# that no other term contains, the marginal test of its coefficients; for a
# contained one, its test adjusted for every term that does not contain it
# (lmerTest's containment: the variables of one inside the other's, with the
# same numeric variables), by Satterthwaite's and Kenward-Roger's df.
#
# Run from the repository root:
#
#     Rscript tests/reference/lmertest_type2.R
#
# Writes tests/reference/lmertest_type2.json: {"versions", "models": [...]},
# per model its id, dataset, formula (this package's syntax), reml, and
# per method ("satterthwaite", "kenward-roger") the table's rows in order:
# term, SumSq, MeanSq, NumDF, DenDF, F, p.
#
# Requires lme4, lmerTest, pbkrtest and jsonlite.

suppressPackageStartupMessages({
  library(lmerTest)
  library(jsonlite)
})

out_dir <- file.path("tests", "reference")
source(file.path(out_dir, "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")

cake <- read_bundled("cake", data_dir)
cake$temperature <- factor(cake$temp)  # unordered, as C(temp)
models <- list(
  list(id = "anorexia", dataset = "anorexia", formula = "weight ~ time * treatment + (1 | girl)",
       r = weight ~ time * treatment + (1 | girl), data = read_bundled("anorexia", data_dir)),
  list(id = "orthodont", dataset = "orthodont", formula = "distance ~ age * Sex + (1 | Subject)",
       r = distance ~ age * Sex + (1 | Subject), data = read_bundled("orthodont", data_dir)),
  list(id = "cake", dataset = "cake", formula = "angle ~ recipe * C(temp) + (1 | recipe:replicate)",
       r = angle ~ recipe * temperature + (1 | recipe:replicate), data = cake),
  list(id = "leebryk", dataset = "leebryk",
       formula = "math ~ mses + sector + ses + ses:mses + ses:sector + (1 + ses | schoolid)",
       r = math ~ mses + sector + ses + ses:mses + ses:sector + (1 + ses | schoolid),
       data = read_bundled("leebryk", data_dir)),
  list(id = "exam", dataset = "exam", formula = "normexam ~ standLRT * sex + schgend + (1 | school)",
       r = normexam ~ standLRT * sex + schgend + (1 | school), data = read_bundled("exam", data_dir))
)

table_json <- function(tab) {
  lapply(seq_len(nrow(tab)), function(i) list(
    term = rownames(tab)[i], SumSq = tab[i, "Sum Sq"], MeanSq = tab[i, "Mean Sq"],
    NumDF = tab[i, "NumDF"], DenDF = tab[i, "DenDF"], F = tab[i, "F value"], p = tab[i, "Pr(>F)"]))
}

results <- lapply(models, function(md) {
  m <- lmer(md$r, data = md$data, REML = TRUE)
  list(id = md$id, dataset = md$dataset, formula = md$formula, reml = TRUE,
       satterthwaite = table_json(anova(m, type = 2, ddf = "Satterthwaite")),
       `kenward-roger` = table_json(anova(m, type = 2, ddf = "Kenward-Roger")))
})

out <- list(versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                            lmerTest = as.character(packageVersion("lmerTest")),
                            pbkrtest = as.character(packageVersion("pbkrtest"))),
            models = results)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(out_dir, "lmertest_type2.json"))
