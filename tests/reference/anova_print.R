# Reference text for multilevel.results.rtable: how R prints an ANOVA table
# (stats' print.anova, which lmerTest's anova() output uses) and a coefficient
# table (stats' printCoefmat with the 4 digits that summary() of lmer and glmer
# fits uses), from the numbers of tables multilevel computed (so only the
# printing is compared; tests/reference/anova_print_input.json holds them).
#
# Run from the repository root:
#
#     Rscript tests/reference/anova_print.R tests/reference/anova_print_input.json
#
# Input: {"cases": [{"name", "kind" ("anova" or "coef"), "heading" (anova only),
#                    "rownames", "colnames", "values" (row-major)}]}
# Output tests/reference/anova_print.json: the input cases, each with "lines",
# the text R prints at options(width = 80).

suppressPackageStartupMessages(library(jsonlite))
options(width = 80)
args <- commandArgs(trailingOnly = TRUE)
input <- fromJSON(args[1], simplifyVector = FALSE)
out <- lapply(input$cases, function(cs) {
  cn <- unlist(cs$colnames)
  rn <- unlist(cs$rownames)
  m <- matrix(as.numeric(unlist(cs$values)), nrow = length(rn), byrow = TRUE,
              dimnames = list(rn, cn))
  if (cs$kind == "anova") {
    df <- as.data.frame(m, check.names = FALSE)
    class(df) <- c("anova", "data.frame")
    attr(df, "heading") <- cs$heading
    lines <- capture.output(print(df))
  } else {
    has_p <- any(startsWith(cn, "Pr("))
    lines <- capture.output(printCoefmat(m, digits = 4, has.Pvalue = has_p, signif.stars = TRUE,
                                         signif.legend = has_p))
  }
  cs$lines <- lines
  cs
})
writeLines(toJSON(list(r_version = R.version.string, cases = out), auto_unbox = TRUE,
                  digits = NA, pretty = TRUE),
           file.path("tests", "reference", "anova_print.json"))
