# write_dataset(): one bundled data set as a CSV + JSON sidecar pair in
# src/multilevel/datasets/data/ (no row names, NA as an empty field, numbers at
# write.csv()'s 15 significant digits; factor levels in R's order under
# "categories", ordered factors under "ordered"). Sourced by the export scripts.
#
#   columns: named character vector, one-line description per column, in the
#            order of the columns of `df`.

suppressPackageStartupMessages(library(jsonlite))

out_dir <- file.path("src", "multilevel", "datasets", "data")
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)

write_dataset <- function(df, name, title, source, description, columns) {
  stopifnot(identical(names(columns), names(df)))
  df <- as.data.frame(df)
  rownames(df) <- NULL

  write.csv(df, file.path(out_dir, paste0(name, ".csv")),
            row.names = FALSE, na = "")

  is_fac <- vapply(df, is.factor, logical(1))
  # I() keeps one-level factors as JSON arrays under auto_unbox.
  categories <- lapply(df[is_fac], function(x) I(levels(x)))
  ordered <- names(df)[vapply(df, is.ordered, logical(1))]

  meta <- list(
    name = name,
    title = title,
    source = source,
    description = description,
    nrow = nrow(df),
    columns = as.list(columns),
    categories = if (length(categories)) categories else setNames(list(), character(0)),
    ordered = I(ordered)
  )
  write_json(meta, file.path(out_dir, paste0(name, ".json")),
             auto_unbox = TRUE, digits = NA, null = "null", na = "null",
             pretty = TRUE)
  invisible(df)
}

