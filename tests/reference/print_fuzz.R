# R's text for the cases of tests/reference/print_fuzz_cases.py (see there); run from
# the repository root: Rscript tests/reference/print_fuzz.R
suppressPackageStartupMessages(library(jsonlite))
options(width = 200)
input <- fromJSON(file.path("tests", "reference", "print_fuzz_cases.json"), simplifyVector = FALSE)
out <- list()
for (cs in input$cases) {
  cn <- unlist(cs$colnames); rn <- unlist(cs$rownames)
  v <- suppressWarnings(as.numeric(unlist(cs$values)))
  if (cs$kind == "pval") {
    lines <- format.pval(v, digits = cs$digits, eps = .Machine$double.eps)
  } else {
    m <- matrix(v, nrow = length(rn), byrow = TRUE, dimnames = list(rn, cn))
    if (cs$kind == "anova") {
      df <- as.data.frame(m, check.names = FALSE)
      class(df) <- c("anova", "data.frame")
      lines <- capture.output(print(df))
    } else {
      lines <- capture.output(printCoefmat(m, digits = 4))
    }
  }
  out[[cs$name]] <- lines
}
writeLines(toJSON(out, pretty = TRUE), file.path("tests", "reference", "print_fuzz.json"))
