# Reference fits of structured random-effects covariances (us, diag, cs, hcs
# and ar1 terms) by glmmTMB and nlme, ML and REML.
#
# Run from the repository root, after tests/reference/export_structure_datasets.R:
#
#     Rscript tests/reference/covstruct.R
#
# Writes tests/reference/covstruct.json:
# {"versions", "models": [...]}, per model: id, dataset, formula (glmmTMB
# syntax), family, reference and reference_call (the glmmTMB or nlme call that fitted
# it), reml, nobs, loglik, df, fixef, sigma (the residual SD), and per
# random term (in the order glmmTMB lists them) its SDs and the correlation
# of its first two columns (the structure's rho); plus, where the model equals
# an unstructured or nested one, that model's log-likelihood by lme4, or
# for an AR(1) term over equally spaced occasions nlme's gls with
# corExp(nugget = TRUE) (equal_to). seconds: the fit's elapsed time (median of 5).
#
# Requires glmmTMB, lme4, nlme and jsonlite. glmmTMB 1.1.5's cs() is
# heterogeneous (a variance per column), this package's hcs(); its
# homogeneous cs() is checked against nlme's pdCompSymm.

suppressPackageStartupMessages({
  library(glmmTMB)
  library(lme4)
  library(nlme)
  library(jsonlite)
})

out_dir <- file.path("tests", "reference")
source(file.path(out_dir, "reference_helpers.R"))
data_dir <- file.path("src", "multilevel", "datasets", "data")
machines <- read_bundled("machines", data_dir)  # (Machine's levels A, B, C: the order ar1() follows)
orthodont <- read_bundled("orthodont", data_dir)
orthodont$occ <- factor(orthodont$age)
sleep <- lme4::sleepstudy
sleep$occ <- factor(sleep$Days)

# formula: ours; tmb: glmmTMB's (glmmTMB 1.1.5's cs() has a variance per column,
# our hcs()); a homogeneous compound symmetry (our cs()) is checked against
# nlme's lme with pdCompSymm (nlme_random).
cases <- list(
  list(id = "sleep_ar1", data = "sleep", formula = "Reaction ~ Days + ar1(0 + occ | Subject)",
       gls = "gls(Reaction ~ Days, correlation = corExp(form = ~ Days | Subject, nugget = TRUE))"),
  list(id = "sleep_hcs", data = "sleep", formula = "Reaction ~ Days + hcs(1 + Days | Subject)",
       tmb = "Reaction ~ Days + cs(1 + Days | Subject)", equal_to = "Reaction ~ Days + (1 + Days | Subject)"),
  list(id = "sleep_diag", data = "sleep", formula = "Reaction ~ Days + diag(1 + Days | Subject)",
       equal_to = "Reaction ~ Days + (1 + Days || Subject)"),
  list(id = "sleep_us", data = "sleep", formula = "Reaction ~ Days + us(1 + Days | Subject)",
       equal_to = "Reaction ~ Days + (1 + Days | Subject)"),
  list(id = "machines_cs", data = "machines", formula = "score ~ Machine + cs(0 + Machine | Worker)",
       fixed = "score ~ Machine", nlme_random = "list(Worker = pdCompSymm(~ 0 + Machine))",
       equal_to = "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)"),
  list(id = "machines_hcs", data = "machines", formula = "score ~ Machine + hcs(0 + Machine | Worker)",
       tmb = "score ~ Machine + cs(0 + Machine | Worker)"),
  list(id = "machines_ar1", data = "machines", formula = "score ~ Machine + ar1(0 + Machine | Worker)"),
  list(id = "orthodont_ar1", data = "orthodont", formula = "distance ~ age * Sex + ar1(0 + occ | Subject)",
       gls = "gls(distance ~ age * Sex, correlation = corExp(form = ~ age | Subject, nugget = TRUE))"),
  list(id = "cbpp_ar1", data = "cbpp", family = "binomial", reml = FALSE,
       formula = "cbind(incidence, size - incidence) ~ period + ar1(0 + per | herd)"),
  list(id = "cbpp_hcs", data = "cbpp", family = "binomial", reml = FALSE,
       formula = "cbind(incidence, size - incidence) ~ period + hcs(0 + per | herd)",
       tmb = "cbind(incidence, size - incidence) ~ period + cs(0 + per | herd)"),
  list(id = "orthodont_cs_slope", data = "orthodont", formula = "distance ~ age * Sex + cs(1 + age | Subject)",
       fixed = "distance ~ age * Sex", nlme_random = "list(Subject = pdCompSymm(~ 1 + age))")
)
cbpp <- lme4::cbpp
cbpp$per <- cbpp$period
datasets <- list(sleep = sleep, machines = machines, orthodont = orthodont, cbpp = cbpp)

term_summary <- function(S, g) {
  sds <- unname(sqrt(diag(as.matrix(S))))
  R <- cov2cor(as.matrix(S))
  list(group = g, sd = sds, rho = if (length(sds) > 1) R[2, 1] else NULL)
}

models <- list()
for (cs in cases) {
  for (reml in if (is.null(cs$reml)) c(FALSE, TRUE) else cs$reml) {
    df <- datasets[[cs$data]]
    if (is.null(cs$nlme_random)) {
      f <- as.formula(if (is.null(cs$tmb)) cs$formula else cs$tmb)
      fam <- if (is.null(cs$family)) gaussian() else get(cs$family)()
      fit_once <- function() glmmTMB(f, data = df, REML = reml, family = fam)
      m <- fit_once()
      vc <- VarCorr(m)$cond
      terms <- lapply(names(vc), function(g) term_summary(vc[[g]], g))
      rec <- list(reference = "glmmTMB", reference_call = deparse1(f),
                  loglik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
                  fixef = as.list(fixef(m)$cond), sigma = sigma(m),
                  convergence = m$fit$convergence, pdHess = m$sdr$pdHess)
    } else {
      random <- eval(parse(text = cs$nlme_random))
      fixed <- as.formula(cs$fixed)
      fit_once <- function() lme(fixed, random = random, data = df, method = if (reml) "REML" else "ML",
                                 control = lmeControl(msMaxIter = 500, tolerance = 1e-10))
      m <- fit_once()
      S <- as.matrix(getVarCov(m)) / sigma(m)^2 * sigma(m)^2
      terms <- list(term_summary(S, names(m$groups)[1]))
      rec <- list(reference = "nlme", reference_call = paste0("lme(", cs$fixed, ", random = ", cs$nlme_random, ")"),
                  loglik = as.numeric(logLik(m)), df = attr(logLik(m), "df"),
                  fixef = as.list(fixef(m)), sigma = sigma(m))
    }
    times <- replicate(5, system.time(fit_once())[["elapsed"]])
    rec <- c(list(id = cs$id, dataset = cs$data, formula = cs$formula, family = if (is.null(cs$family)) "gaussian"
                  else cs$family, reml = reml, nobs = nrow(df)), rec,
             list(terms = terms, seconds = median(times)))
    if (!is.null(cs$gls)) {
      # an AR(1) random effect over equally spaced occasions plus the residual is nlme's
      # exponential correlation with a nugget: the same model, fitted another way
      call <- parse(text = cs$gls)[[1]]
      call$data <- quote(df)
      call$method <- if (reml) "REML" else "ML"
      g <- eval(call)
      rec$equal_to <- list(formula = cs$gls, loglik = as.numeric(logLik(g)))
    }
    if (!is.null(cs$equal_to)) {
      rec$equal_to <- list(formula = cs$equal_to,
                           loglik = as.numeric(logLik(lmer(as.formula(cs$equal_to), data = df, REML = reml))))
    }
    models[[length(models) + 1]] <- rec
    cat(sprintf("%s reml=%s: logLik %.6f\n", cs$id, reml, rec$loglik))
  }
}

write_json(list(versions = list(r = R.version.string, glmmTMB = as.character(packageVersion("glmmTMB")),
                                lme4 = as.character(packageVersion("lme4"))),
                models = models),
           file.path(out_dir, "covstruct.json"), auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null")
