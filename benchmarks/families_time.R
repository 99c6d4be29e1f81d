# Time glmmTMB's Laplace fits of the dispersion families, and ordinal::clmm's of
# the "clmm" cases, for benchmarks/families.py.
# Usage: Rscript benchmarks/families_time.R CASES_JSON REPEAT
# CASES_JSON: [{id, dataset (a bundled name or a CSV path), formula, family, link}, ...]
# Prints one line of JSON: {id: median seconds of REPEAT fits after a warm-up fit, at least 31 for a fit
# under 0.05 s}.
suppressPackageStartupMessages({library(glmmTMB); library(ordinal); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
cases <- fromJSON(args[1], simplifyVector = FALSE)
rep <- as.integer(args[2])
fam <- function(name, link) switch(name, nbinom2 = nbinom2(link = link), nbinom1 = nbinom1(link = link),
                                   poisson = poisson(link = link),
                                   Gamma = Gamma(link = link), beta = beta_family(link = link),
                                   gaussian = gaussian(link = link), betabinomial = betabinomial(link = link))
out <- list()
for (cs in cases) {
  df <- if (grepl("\\.csv$", cs$dataset)) read.csv(cs$dataset, stringsAsFactors = TRUE) else
    read_bundled(cs$dataset, data_dir)
  if (!is.null(df$g)) df$g <- factor(df$g)
  f <- if (grepl(" | ~ ", cs$formula, fixed = TRUE)) NULL else as.formula(cs$formula)
  zi <- ~0
  if (grepl("^zi", cs$family)) {  # "formula | ~ zero-inflation model"
    parts <- strsplit(cs$formula, " | ~ ", fixed = TRUE)[[1]]
    f <- as.formula(parts[1]); zi <- as.formula(paste("~", parts[2]))
    cs$family <- sub("^zi", "", cs$family)
  }
  run <- if (cs$family == "clmm") function() clmm(f, data = df, link = cs$link) else
    function() suppressWarnings(glmmTMB(f, data = df, family = fam(cs$family, cs$link), ziformula = zi))
  warm <- system.time(run())[["elapsed"]]
  n <- if (warm < 0.05) max(rep, 31L) else rep  # (as benchmarks/families.py: small fits more often)
  out[[cs$id]] <- median(vapply(seq_len(n), function(i) system.time(run())[["elapsed"]], numeric(1)))
}
cat(toJSON(out, auto_unbox = TRUE, digits = NA), "\n")
