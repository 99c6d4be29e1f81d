# Reference profile-likelihood intervals of structured random-effects terms:
# glmmTMB 1.1.5's confint(method = "profile") over its variance parameters,
# mapped to standard deviations and correlations (profile limits follow any
# monotone map of the parameter): log SD -> SD; ar1's a -> a / sqrt(1 + a^2);
# cs's (heterogeneous compound symmetry, this package's hcs) a ->
# plogis(a) (1 + 1 / (k - 1)) - 1 / (k - 1). Binomial GLMMs on cbpp (Laplace)
# and the linear model of Machines by ML.
#
# Run from the repository root:
#
#     Rscript tests/reference/profile_structures.R
#
# Writes tests/reference/profile_structures.json: per model: id, formula,
# family, loglik, names (this package's parameter names), lower and upper.
#
# Requires glmmTMB and jsonlite.

suppressPackageStartupMessages({
  library(glmmTMB)
  library(jsonlite)
})
source(file.path("tests", "reference", "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
cbpp <- read_bundled("cbpp", data_dir)
cbpp$per <- cbpp$period
machines <- read_bundled("machines", data_dir)

to_scale <- function(ci, kind, k) {
  n <- nrow(ci)
  sd <- exp(ci[seq_len(n - 1), , drop = FALSE])
  a <- ci[n, ]
  rho <- if (kind == "ar1") a / sqrt(1 + a^2) else plogis(a) * (1 + 1 / (k - 1)) - 1 / (k - 1)
  rbind(sd, rho)
}
cases <- list(
  list(id = "cbpp_ar1", formula = "cbind(incidence, size - incidence) ~ period + ar1(0 + per | herd)",
       ours = "cbind(incidence, size - incidence) ~ period + ar1(0 + per | herd)", family = "binomial",
       kind = "ar1", k = 4, names = c("sd_ar1|herd", "rho_ar1|herd")),
  list(id = "cbpp_hcs", formula = "cbind(incidence, size - incidence) ~ period + cs(0 + per | herd)",
       ours = "cbind(incidence, size - incidence) ~ period + hcs(0 + per | herd)", family = "binomial",
       kind = "cs", k = 4, names = c("sd_per1|herd", "sd_per2|herd", "sd_per3|herd", "sd_per4|herd",
                                     "rho_hcs|herd")),
  list(id = "machines_hcs", formula = "score ~ Machine + cs(0 + Machine | Worker)",
       ours = "score ~ Machine + hcs(0 + Machine | Worker)", family = "gaussian", kind = "cs", k = 3,
       names = c("sd_MachineA|Worker", "sd_MachineB|Worker", "sd_MachineC|Worker", "rho_hcs|Worker"))
)
datasets <- list(cbpp = cbpp, machines = machines)
out <- list()
for (cs in cases) {
  df <- if (startsWith(cs$id, "cbpp")) cbpp else machines
  fam <- if (cs$family == "binomial") binomial() else gaussian()
  m <- glmmTMB(as.formula(cs$formula), data = df, family = fam, REML = FALSE)
  ci <- try(confint(m, method = "profile", parm = "theta_"), silent = TRUE)
  if (inherits(ci, "try-error")) {
    cat(cs$id, ": glmmTMB's profile failed:", conditionMessage(attr(ci, "condition")), "\n")
    next
  }
  ci <- ci[grepl("^theta", rownames(ci)), 1:2, drop = FALSE]
  lim <- to_scale(ci, cs$kind, cs$k)
  out[[length(out) + 1]] <- list(id = cs$id, formula = cs$ours, family = cs$family,
                                 loglik = as.numeric(logLik(m)), names = cs$names,
                                 lower = unname(lim[, 1]), upper = unname(lim[, 2]))
  cat(cs$id, "done\n")
}
write_json(list(versions = list(r = R.version.string, glmmTMB = as.character(packageVersion("glmmTMB"))),
                models = out),
           file.path("tests", "reference", "profile_structures.json"), auto_unbox = TRUE, digits = NA,
           pretty = TRUE)
