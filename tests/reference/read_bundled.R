# Reading a bundled data set (src/multilevel/datasets/data/NAME.csv with its
# NAME.json sidecar) as the Python side reads it: factor columns with the
# sidecar's levels in order (ordered where the sidecar says so), the row
# count checked. Sourced by the reference scripts written since the GLMM
# inference references (the older scripts keep their own copy until they are
# regenerated). Requires jsonlite.

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
