"""The report's sections for a maximum-likelihood fit: lmer, glmer, clmm.

Each section is assembled from the fit's own methods (``summary``,
``coef_table``, ``varcorr``, ``confint``, ``icc``, ``r2``, ``anova``) and from
:mod:`multilevel.plots`; nothing is estimated here.
"""

from __future__ import annotations

import pandas as pd

from .common import attempt, checks_panel, data_section, model_section, reproduction_section
from .page import Section, figure, note, table

__all__ = ["sections"]

CONFINT_METHODS = ("profile", "wald", "boot")
_MAX_FACTOR_FIGURES = 4  # grouping factors drawn (caterpillar and QQ) at most


def _kind(fit) -> str:
    name = type(fit).__name__
    if name.startswith("Clmm"):
        return "clmm"
    return "lmer" if hasattr(fit, "reml") else "glmer"


def _method_line(fit) -> str:
    kind = _kind(fit)
    if kind == "lmer":
        return ("Linear mixed model fit by " + ("REML" if fit.reml else "maximum likelihood"))
    how = ("Laplace approximation" if fit.nagq == 1
           else "nAGQ = 0: the fixed effects estimated in the PIRLS step" if fit.nagq == 0
           else f"adaptive Gauss-Hermite quadrature, nAGQ = {fit.nagq}")
    if kind == "clmm":
        return f"Cumulative link mixed model fit by maximum likelihood ({how})"
    return f"Generalized linear mixed model fit by maximum likelihood ({how})"


def _model_section(fit) -> Section:
    pairs = {"Model": _method_line(fit), "Formula": fit.formula}
    family = getattr(fit, "family", None)
    if family is not None and _kind(fit) == "glmer":
        pairs["Family"] = f"{family.name} ({family.link.name} link)"
        zi = _zi_formula(fit)
        if zi:
            pairs["Zero inflation"] = zi
    elif _kind(fit) == "clmm":
        pairs["Link"] = str(getattr(fit, "link", ""))
    if _kind(fit) == "lmer" and fit.reml:
        pairs["REML criterion at convergence"] = f"{fit.objective:.1f}"
    else:
        pairs.update({"AIC": f"{fit.aic:.1f}", "BIC": f"{float(fit.bic):.1f}",
                      "log-likelihood": f"{fit.loglik:.1f}"})
    pairs["Observations"] = f"{fit.nobs:,}"
    return model_section(pairs, fit.summary, "lme4")


def _checks_section(fit) -> Section:
    """What was checked at the optimum, and what the fit's messages ask of the user."""
    pairs = {}
    opt = getattr(fit, "optinfo", None) or getattr(getattr(fit, "glmm", None), "optinfo", None)
    if opt is not None:
        pairs["Optimizer"] = f"{opt.optimizer}: {opt.result} after {opt.feval} evaluations"
        pairs["Stopped on its budget"] = "yes" if not opt.converged else "no"
    singular = getattr(fit, "singular", None)
    if singular is not None:
        pairs["Singular (boundary) fit"] = "yes" if singular else "no"
    pairs["Messages"] = str(len(fit.messages))
    return Section("Convergence and singularity", checks_panel(
        pairs, fit.messages, "The optimizer converged and the checks at the optimum (gradient, "
                             "Hessian, boundary) raised nothing."))


def _varcorr_display(vc: pd.DataFrame) -> pd.DataFrame:
    corr = [", ".join(f"{c:.2f}" for c in cs) if len(cs) else "" for cs in vc["corr"]]
    groups = vc["group"].where(vc["group"].ne(vc["group"].shift()), "")
    return pd.DataFrame({"Name": vc["name"].to_numpy(), "Variance": vc["variance"].to_numpy(),
                         "Std.Dev.": vc["std_dev"].to_numpy(), "Corr": corr},
                        index=pd.Index(groups.to_numpy(), name="Groups"))


def _interval_caption(method: str, level: float) -> str:
    names = {"profile": "profile-likelihood", "wald": "Wald", "boot": "parametric bootstrap"}
    return f"{level * 100:g}% {names[method]} confidence intervals"


class Intervals:
    """confint's table split as the fit orders it: the fixed effects last, the
    variance parameters (or a clmm's thresholds) before them."""

    def __init__(self, ci: pd.DataFrame | None, caption: str, notes: str, fixed_names, method: str):
        self.caption, self.notes, self.fixed, self.rest = caption, notes, None, None
        if ci is None:
            return
        p, names = len(fixed_names), list(fixed_names)
        if p and list(ci.index[-p:]) == names:
            self.fixed, self.rest = ci.iloc[-p:], ci.iloc[:len(ci) - p]
        elif p == 0:
            self.rest = ci
        else:
            self.rest = ci
            self.notes += note("The intervals could not be matched to the fixed effects; "
                               "they are listed under the random effects as confint gives them.")
        empty = self.rest.isna().all(axis=1)
        if empty.any():
            self.rest = self.rest[~empty]
            self.notes += note(
                f"{'Wald intervals cover the fixed effects only, as lme4' + chr(39) + 's' if method == 'wald' else 'No interval'} "
                f"for {', '.join(map(str, empty.index[empty]))}; confint='profile' or 'boot' gives them.")


def _beside(table_: pd.DataFrame, bounds: pd.DataFrame | None) -> pd.DataFrame:
    """The interval columns beside a table whose rows are the intervals' rows, in order."""
    out = pd.DataFrame(table_)
    if bounds is not None and list(bounds.index) == list(out.index):
        for c in bounds.columns:
            out[c] = bounds[c].to_numpy()
    return out


def _fixed_section(fit, ci: Intervals, ddf: str) -> Section:
    kind = _kind(fit)
    if kind == "lmer":
        tab = attempt("Fixed effects", lambda: fit.coef_table(ddf=None if ddf == "none" else ddf))
        how = {"satterthwaite": "t tests with Satterthwaite's degrees of freedom (lmerTest)",
               "kenward-roger": "t tests with Kenward-Roger's degrees of freedom and covariance (pbkrtest)",
               "none": "t values without degrees of freedom or p-values (lme4)"}[ddf]
    else:
        tab = attempt("Fixed effects", fit.coef_table)
        how = "Wald z tests"
    if not tab.ok:
        return Section("Fixed effects", tab.notes)
    caption = f"Fixed effects: {how}" + (f"; {ci.caption}" if ci.fixed is not None else "")
    body = table(_beside(tab.value, ci.fixed), caption) + tab.notes
    if kind == "clmm":
        thresholds = attempt("Thresholds", fit.threshold_table)
        if thresholds.ok:
            shown = _beside(thresholds.value, ci.rest)
            body += table(shown, "Threshold coefficients" + (f"; {ci.caption}" if ci.rest is not None and
                                                               shown.shape[1] > thresholds.value.shape[1] else ""))
        body += thresholds.notes
    body += _extra_tables(fit, kind)
    return Section("Fixed effects", body)


def _extra_tables(fit, kind: str) -> str:
    """The models beside the mean: zero inflation, dispersion, the residual SD model
    (dispformula) and the residual correlation."""
    out = ""
    if kind == "glmer":
        if getattr(fit, "zi", None) is not None:
            out += table(pd.DataFrame(fit.zi), "Zero-inflation model: logit of the probability "
                                               "of a structural zero (Wald z tests)")
        if len(getattr(fit, "dispersion", ())):
            out += table(fit.dispersion.to_frame("Estimate"), "Dispersion parameter")
    elif kind == "lmer":
        if fit.dispersion is not None:
            out += table(pd.DataFrame(fit.dispersion), "Residual SD model (dispformula): log SD ratios")
        if fit.residual_correlation is not None:
            out += table(fit.residual_correlation.to_frame("Estimate"), "Residual correlation")
    return out


def _random_section(fit, ci: Intervals) -> Section:
    vc = attempt("Variance components", lambda: fit.varcorr)
    body = table(_varcorr_display(vc.value), "Variance components") if vc.ok else ""
    body += vc.notes
    if ci.rest is not None and len(ci.rest) and _kind(fit) != "clmm":
        body += table(ci.rest, f"Variance parameters: {ci.caption}")
    return Section("Random effects", body + ci.notes)


def _icc_section(fit) -> Section | None:
    if not (hasattr(fit, "icc") and hasattr(fit, "r2")):
        return None
    icc = attempt("ICC", fit.icc)
    r2 = attempt("R²", fit.r2)
    body = ""
    if icc.ok:
        body += table(icc.value.to_frame("ICC"), "Intraclass correlation (performance::icc)")
    if r2.ok:
        body += table(r2.value.to_frame("R²"), "Nakagawa's R² (performance::r2_nakagawa)")
    return Section("ICC and R²", body + icc.notes + r2.notes)


def _anova_section(fit, ddf: str) -> Section | None:
    if not hasattr(fit, "anova"):
        return None
    method = "satterthwaite" if ddf == "none" else ddf
    tab = attempt("ANOVA", lambda: fit.anova(ddf=method))
    if not tab.ok:
        return Section("ANOVA", tab.notes)
    if len(tab.value) == 0:
        return Section("ANOVA", "<p>The model has no fixed-effect terms beyond the intercept.</p>")
    return Section("ANOVA", table(pd.DataFrame(tab.value), tab.value.title) + tab.notes)


def _figure_sections(fit) -> list[Section]:
    from .. import plots

    groups = list(fit.ngroups)
    body = ""
    for g in groups[:_MAX_FACTOR_FIGURES]:
        cat = attempt(f"Caterpillar plot of {g}", lambda: plots.caterpillar(fit, group=g))
        if cat.ok:
            body += figure(cat.value, f"Random effects of {g}: conditional modes with 95% intervals "
                                      "(conditional standard deviations)")
        qq = attempt(f"QQ plot of {g}", lambda: plots.qq(fit, group=g))
        if qq.ok:
            body += figure(qq.value, f"Normal QQ plot of the conditional modes of {g}")
        body += cat.notes + qq.notes
    if len(groups) > _MAX_FACTOR_FIGURES:
        body += note(f"Figures for the first {_MAX_FACTOR_FIGURES} of {len(groups)} grouping factors; "
                     "ml.plots.caterpillar(fit, group=...) draws the others.")
    out = [Section("Random-effects figures", body)]
    if _kind(fit) != "clmm":
        res = attempt("Residual plot", lambda: plots.residuals(fit))
        out.append(Section("Residuals", (figure(res.value, "Residuals against fitted values")
                                         if res.ok else "") + res.notes))
    return out


def _call(fit, ddf: str) -> tuple[str, dict]:
    kind = _kind(fit)
    args = [repr(fit.formula), "data"]
    settings: dict = {}
    if kind == "lmer":
        settings["reml"] = fit.reml
        if not fit.reml:
            args.append("reml=False")
        settings["ddf"] = ddf
    elif kind == "glmer":
        args += [f"family={fit.family.name!r}", f"link={fit.family.link.name!r}"]
        settings.update({"family": fit.family.name, "link": fit.family.link.name, "nagq": fit.nagq})
        if fit.nagq != 1:
            args.append(f"nagq={fit.nagq}")
        zi = _zi_formula(fit)
        if zi:
            args.append(f"zi={zi!r}")
    else:
        settings.update({"link": fit.link, "nagq": fit.nagq})
        args += [f"link={fit.link!r}"] + ([f"nagq={fit.nagq}"] if fit.nagq != 1 else [])
    opt = getattr(fit, "optinfo", None)
    if opt is not None:
        settings.update({"optimizer": opt.optimizer, "evaluations": opt.feval,
                         "xtol_abs": opt.xtol_abs, "ftol_abs": opt.ftol_abs})
    weights = getattr(fit, "weights_name", None)
    if weights:
        args.append(f"weights={weights!r}")
    offset = getattr(fit, "offset_name", None)
    if offset:
        args.append(f"offset={offset!r}")
    design = getattr(fit, "design", None)
    dispersion = getattr(design, "dispersion", None)
    if dispersion is not None and getattr(dispersion, "formula", None):
        args.append(f"dispformula={dispersion.formula!r}")
    elif kind == "lmer" and getattr(design, "weights", None) is not None:
        # an lmer fit keeps its weights' values, not the column's name
        args.append("weights=weights")
        settings["weights"] = "given (their values are in fit.design.weights)"
    residual = getattr(design, "residual", None)
    if residual is not None:
        args.append(f"residual={residual.text!r}")
    return f"ml.{kind}({', '.join(args)})", settings


def _zi_formula(fit) -> str:
    family = getattr(fit, "family", None)
    return getattr(family, "zi_formula", "") if getattr(family, "zero_inflated", False) else ""


def sections(fit, confint: str | None = "profile", level: float = 0.95, ddf: str = "satterthwaite",
             figures: bool = True, intervals: pd.DataFrame | None = None) -> list[Section]:
    """The report's sections for an lmer, glmer or clmm fit, in reading order."""
    design = getattr(fit, "design", None)
    response = getattr(design, "response_name", None) or getattr(fit, "response", None)
    ci = Intervals(None, "", "", (), "")
    if confint is not None:
        if _kind(fit) == "clmm":  # clmm's intervals are Wald's (as ordinal's confint)
            got = attempt("Confidence intervals", lambda: fit.confint(level=level))
            if confint != "wald":
                got.notes += note(f"A clmm fit has Wald intervals only; they are shown for "
                                  f"confint={confint!r}.")
            confint = "wald"
        elif intervals is not None:
            got = attempt("Confidence intervals", lambda: pd.DataFrame(intervals))
        else:
            got = attempt("Confidence intervals", lambda: fit.confint(method=confint, level=level))
        fixed = fit.beta.index if _kind(fit) == "clmm" else fit.fixef.index
        ci = Intervals(got.value, _interval_caption(confint, level), got.notes, fixed, confint)
    out = [_model_section(fit), data_section(fit, design, response), _checks_section(fit),
           _fixed_section(fit, ci, ddf), _random_section(fit, ci)]
    out += [s for s in (_icc_section(fit), _anova_section(fit, ddf)) if s is not None]
    if figures:
        out += _figure_sections(fit)
    call, settings = _call(fit, ddf)
    settings.update({"confint": confint or "none", "level": level})
    boot = getattr(intervals, "attrs", {}).get("bootstrap") if intervals is not None else None
    if boot is not None:
        settings["bootstrap"] = f"{boot.nsim} simulations, seed {boot.seed}"
    out.append(reproduction_section(call, settings, ("numpy", "scipy", "pandas", "formulaic",
                                                     "matplotlib")))
    return out
