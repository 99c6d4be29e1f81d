# Helpers shared by the reference scripts written since the GLMM inference
# references (the older scripts keep their own copy of the reader until they
# are regenerated). Requires jsonlite.
#
# read_bundled(name, data_dir): a bundled data set
#   (src/multilevel/datasets/data/NAME.csv with its NAME.json sidecar) as the
#   Python side reads it: factor columns with the sidecar's levels in order
#   (ordered where the sidecar says so), the row count checked.
# capture(expr): the value of expr with the messages, warnings and error it
#   raised, as text.
# ci_json(ci): a confint() matrix as {rownames, colnames, lower, upper}.
# orthodont_visits(data_dir): nlme's Orthodont with the visit number (1 to 4)
#   and its factor visitf, as the gls references use them.

orthodont_visits <- function(data_dir) {
  o <- read_bundled("orthodont", data_dir)
  o$visit <- as.integer((o$age - 8) / 2 + 1)
  o$visitf <- factor(o$visit)
  o
}

read_bundled <- function(name, data_dir) {
  csv_path <- file.path(data_dir, paste0(name, ".csv"))
  meta <- jsonlite::fromJSON(file.path(data_dir, paste0(name, ".json")),
                             simplifyVector = TRUE)
  fac_cols <- names(meta$categories)
  col_classes <- setNames(rep("character", length(fac_cols)), fac_cols)
  df <- read.csv(csv_path, colClasses = col_classes, na.strings = "",
                 stringsAsFactors = FALSE, check.names = FALSE)
  for (col in fac_cols) {
    lev <- as.character(meta$categories[[col]])
    stopifnot(all(df[[col]] %in% c(lev, NA)))
    df[[col]] <- factor(df[[col]], levels = lev,
                        ordered = col %in% meta$ordered)
  }
  stopifnot(nrow(df) == meta$nrow)
  df
}

capture <- function(expr) {
  conditions <- character(0)
  warnings <- character(0)
  error <- NULL
  value <- withCallingHandlers(
    tryCatch(expr, error = function(e) {
      error <<- trimws(conditionMessage(e))
      NULL
    }),
    message = function(c) {
      conditions <<- c(conditions, trimws(conditionMessage(c)))
      invokeRestart("muffleMessage")
    },
    warning = function(c) {
      txt <- trimws(conditionMessage(c))
      conditions <<- c(conditions, txt)
      warnings <<- c(warnings, txt)
      invokeRestart("muffleWarning")
    })
  list(value = value, conditions = unique(conditions),
       warnings = unique(warnings), error = error)
}

ci_json <- function(ci) {
  ci <- as.matrix(ci)
  list(rownames = I(rownames(ci)), colnames = I(colnames(ci)),
       lower = unname(ci[, 1]), upper = unname(ci[, 2]))
}
