# Reference text for multilevel.bayes.tables: how brms and runjags print a
# summary table.
#
# Run from the repository root:
#
#     Rscript tests/reference/print_layout.R
#
# brms tables are printed by brms's own print_format() (what print.brmssummary
# calls for every section).  runjags is not on CRAN for this R, so its
# print.runjags table is rebuilt from the documented steps of its
# prettifytable(): formatC(x, format = "fg", digits = 5) for every number,
# formatC(x, digits = 5) for |x| < 1e-5, "--" for NA, the column names as the
# first row, each column right-justified with format(), printed with
# print(noquote(m)) under blank column names.  R wraps both at
# options(width = 80).
#
# Output tests/reference/print_layout.json:
#   {"r_version", "brms_version",
#    "cases": [{"name", "kind" ("brms" or "jags"), "digits", "rownames",
#               "colnames", "values" (row-major, null for NA), "lines"}]}

suppressPackageStartupMessages({
  library(brms)
  library(jsonlite)
})
options(width = 80)

json_path <- file.path("tests", "reference", "print_layout.json")

num <- function(v) {
  s <- ifelse(is.finite(v), sprintf("%.17g", v), "null")
  structure(paste0("[", paste(s, collapse = ","), "]"), class = "json")
}

brms_cols <- c("Estimate", "Est.Error", "l-95% CI", "u-95% CI", "Rhat", "Bulk_ESS", "Tail_ESS")

brms_case <- function(name, rn, m, digits = 2, cols = brms_cols) {
  df <- as.data.frame(matrix(m, nrow = length(rn), byrow = TRUE,
                             dimnames = list(rn, cols)), check.names = FALSE)
  lines <- capture.output(brms:::print_format(df, digits = digits))
  list(name = name, kind = "brms", digits = digits, rownames = I(rn), colnames = I(cols),
       values = num(as.vector(t(as.matrix(df)))), lines = lines)
}

jags_print <- function(x, digits = 5) {
  f <- formatC(x, format = "fg", digits = digits, width = -1)
  ax <- abs(x)
  ax[is.na(ax)] <- 1
  f[ax < 10^-digits] <- formatC(x[ax < 10^-digits], digits = digits, width = -1)
  f <- gsub("NA", "--", f)
  f <- gsub("NaN", "--", f)
  f <- rbind(dimnames(f)[[2]], f)
  dimnames(f) <- list(dimnames(f)[[1]], rep("", ncol(f)))
  capture.output(print(noquote(apply(f, 2, format, justify = "right"))))
}

jags_case <- function(name, rn, cols, m, digits = 5) {
  x <- matrix(m, nrow = length(rn), byrow = TRUE, dimnames = list(rn, cols))
  list(name = name, kind = "jags", digits = digits, rownames = I(rn), colnames = I(cols),
       values = num(as.vector(t(x))), lines = jags_print(x, digits))
}

cases <- list(
  brms_case("fixed", c("Intercept", "femaleF", "age_centred"),
            c(69.4251, 1.3512, 66.8049, 72.0951, 1.0012, 1520.6, 2210.4,
              7.1349, 1.1311, 4.905, 9.3549, 0.99951, 2811.49, 2833.5,
              -0.001, 0.0049, -0.0149, 0.0151, 1.0049, 999.5, 1000.5)),
  brms_case("with_na", c("sd(Intercept)", "cor(Intercept,femaleF)", "sigma"),
            c(10.27, 1.06, 8.38, 12.53, NA, 1161, 1853,
              -0.52, 0.125, -0.8, -0.1, 1.01, NA, 2.5,
              13.03, 0.2299, 12.58, 13.5, 1.1, 3.5, 45678.2)),
  brms_case("wide_rownames",
            c("cor(Intercept,Age_centered_within_classroom)",
              "cor(Age_centered_within_classroom,Female)"),
            c(0.12, 0.25, -0.35, 0.58, 1.00, 1205, 2101,
              -0.03, 0.31, -0.61, 0.55, 1.01, 876, 1502)),
  brms_case("digits3", c("b_Intercept", "b_x"),
            c(0.12345, 0.0216, 0.08, 0.1666, 1.0004, 4000, 3999.5,
              -2.5, 0.5, -3.4999, -1.5001, 1.02, 350.4, 612.7), digits = 3),
  brms_case("ninety", c("Intercept"),
            c(544.18, 13.5, 521.97, 566.37, 1, 2500, 3000),
            cols = c("Estimate", "Est.Error", "l-90% CI", "u-90% CI", "Rhat",
                     "Bulk_ESS", "Tail_ESS")),
  jags_case("model5", c("g0", "g1", "g2", "sigma", "ptau0", "tau1"),
            c("Lower95", "Median", "Upper95", "Mean", "SD", "Mode", "MCerr", "MC%ofSD",
              "SSeff", "AC.10", "psrf"),
            c(74.50312, 77.67841, 80.82107, 77.67502, 1.610312, NA, 0.008305512, 0.5,
              37589, -0.0047055, 1.000212,
              0.98671234, 2.788712, 4.594123, 2.784611, 0.9215534, 2.79, 0.004696211, 0.5,
              38508, 0.0012152, 1.000101,
              -0.44021, 2.3134, 5.1091, 2.3, 1.4138, 0, 0.0070581, 0.5,
              40126, -0.0026701, 1.0001,
              4.2966, 5.1457, 6.1231, 5.1802, 0.47197, 5.1, 0.0025477, 0.5,
              34320, 0.0087721, 1.0001,
              0.032431, 11.653, 659.89, 126.71, 330.29, 0.5, 3.7299, 1.1,
              7841, 0.18711, 1.0018,
              1.4083, 2.5115, 3.5236, 2.4871, 0.53629, 2.5, 0.0036089, 0.7,
              22082, 0.016333, 1.0009)),
  jags_case("edge_values", c("tiny", "small", "rounding", "big", "neg"),
            c("Lower95", "Median", "Upper95", "Mean"),
            c(1.2345678e-06, 0, -3.3e-07, 1e-05,
              3.4567891e-05, 0.00012345678, -0.000099999, 0.0100004,
              99999.6, 9.99996, 0.999996, 12345.65,
              123456.78, 1234567.8, 1e+07, 100000,
              -74.503, -0.5, -1e-04, -99999.4))
)

result <- list(
  r_version = R.version.string,
  brms_version = as.character(packageVersion("brms")),
  cases = cases
)
writeLines(toJSON(result, auto_unbox = TRUE, json_verbatim = TRUE, pretty = TRUE), json_path)
cat("wrote", json_path, "\n")
