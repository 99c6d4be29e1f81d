# Re-run part of a reference script: replace some entries of a JSON file
# written by jsonlite::write_json(..., pretty = TRUE) and keep every other
# byte of the file as it is.  Sourced by lme4_lmm.R and lmertest.R when they
# are given entry ids on the command line.
#
# merge_json_entries(path, section, entries, json_args)
#   path      the JSON file (a top-level object written with pretty = TRUE);
#   section   name of a top-level array of objects ("models", "lrt"), each
#             object with "id" as its first field;
#   entries   list of objects, each replacing the entry with the same id
#             (the id must already be in the file);
#   json_args the arguments the script passes to write_json (auto_unbox,
#             digits, null, na, pretty), so that a new entry is written
#             exactly as a full run writes it.
#
# Each new entry is rendered as the only element of the section inside a
# top-level object, which puts it at the same depth (and hence indentation)
# as in the full file; the lines of the old entry are replaced by its lines.
# Afterwards the file is parsed again and every replaced entry is checked
# against the object it was rendered from.

suppressPackageStartupMessages(library(jsonlite))

merge_json_entries <- function(path, section, entries, json_args) {
  lines <- readLines(path, warn = FALSE)

  # Line ranges (start, end) and ids of the entries of the section.
  locate <- function(lines) {
    open <- which(lines == sprintf('  "%s": [', section))
    if (length(open) != 1L)
      stop(sprintf("section '%s' not found (once) in %s", section, path))
    after <- seq.int(open + 1L, length(lines))
    close <- after[grepl("^  \\]", lines[after])][1]
    inside <- seq.int(open + 1L, close - 1L)
    starts <- inside[lines[inside] == "    {"]
    ends <- inside[lines[inside] %in% c("    }", "    },")]
    stopifnot(length(starts) == length(ends), all(starts < ends),
              all(head(ends, -1L) < tail(starts, -1L)))
    id_re <- '^      "id": "(.*)",$'
    stopifnot(all(grepl(id_re, lines[starts + 1L])))
    list(starts = starts, ends = ends,
         ids = sub(id_re, "\\1", lines[starts + 1L]))
  }

  render <- function(entry) {
    wrapped <- setNames(list(list(entry)), section)
    txt <- do.call(toJSON, c(list(wrapped), json_args))
    txt <- strsplit(as.character(txt), "\n", fixed = TRUE)[[1]]
    n <- length(txt)
    stopifnot(txt[1] == "{", txt[2] == sprintf('  "%s": [', section),
              txt[n - 1L] == "  ]", txt[n] == "}")
    body <- txt[3:(n - 2L)]
    stopifnot(body[1] == "    {", body[length(body)] == "    }")
    body
  }

  for (e in entries) {
    pos <- locate(lines)
    k <- match(e$id, pos$ids)
    if (is.na(k))
      stop(sprintf("no entry '%s' under '%s' in %s", e$id, section, path))
    body <- render(e)
    if (endsWith(lines[pos$ends[k]], ",")) body[length(body)] <- "    },"
    lines <- c(lines[seq_len(pos$starts[k] - 1L)], body,
               lines[-seq_len(pos$ends[k])])
  }
  writeLines(lines, path, useBytes = TRUE)

  # Check: the file parses and holds the new entries.
  back <- fromJSON(path, simplifyVector = FALSE)[[section]]
  back_ids <- vapply(back, function(x) x$id, "")
  stopifnot(identical(back_ids, locate(lines)$ids))
  for (e in entries) {
    expected <- fromJSON(do.call(toJSON, c(list(e), json_args)),
                         simplifyVector = FALSE)
    stopifnot(identical(back[[match(e$id, back_ids)]], expected))
  }
  invisible(back_ids)
}

# Stop unless the header fields of the existing file match those of this run
# (entries computed with other versions would not be described by the header).
check_json_header <- function(path, header) {
  old <- fromJSON(path, simplifyVector = FALSE)
  for (nm in names(header)) {
    if (!identical(old[[nm]], header[[nm]]))
      stop(sprintf(paste("%s: %s is %s in the file but %s here; run the whole",
                         "script instead of some entries"),
                   path, nm, format(old[[nm]]), format(header[[nm]])))
  }
  invisible(TRUE)
}
