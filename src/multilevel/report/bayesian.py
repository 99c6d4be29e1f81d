"""The report's sections for a Bayesian fit (:class:`multilevel.bayes.Posterior`).

Assembled from the posterior's own tables (``summary``, ``table``,
``prior_summary``, ``icc``), its sampler statistics and messages, and the
figures of :mod:`multilevel.plots` (trace, rank, posterior predictive check,
caterpillar and QQ of the random effects).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .common import attempt, checks_panel, data_section, model_section, reproduction_section
from .page import Section, figure, note, table

__all__ = ["sections"]

_MAX_FACTOR_FIGURES = 4
_MAX_TRACE_PANELS = 12  # parameters drawn in the trace and rank plots at most


def _model_section(post) -> Section:
    pairs = {"Model": f"Bayesian multilevel model ({post.family}, {post.link} link)",
             "Formula": post.formula,
             "Draws": f"{post.chains} chains x {post.ndraws} draws after {post.warmup} warmup",
             "Sampler": post.sampler, "Seconds": f"{post.seconds:.1f}" if post.seconds else "",
             "Observations": f"{post.nobs:,}"}
    if post.sampler_note:
        pairs["Sampler note"] = post.sampler_note
    return model_section(pairs, post.summary, "brms")


def _diagnostics_section(post, tab: pd.DataFrame | None) -> Section:
    """The sampler's own statistics and the draws' R-hat and effective sizes."""
    from ..bayes.checks import BFMI_MIN, RHAT_MAX, ebfmi, rhat_by_parameter

    stats = post.stats
    pairs = {}
    if "diverging" in stats:
        pairs["Divergent transitions"] = f"{int(np.sum(stats['diverging'])):,}"
    if "tree_depth" in stats:
        hits = int(np.sum(np.asarray(stats["tree_depth"]) >= post.max_tree_depth))
        pairs[f"Transitions at the maximum tree depth ({post.max_tree_depth})"] = f"{hits:,}"
    if "energy" in stats:
        bfmi = ebfmi(stats["energy"])
        pairs[f"E-BFMI per chain (flagged below {BFMI_MIN})"] = ", ".join(f"{v:.2f}" for v in bfmi)
    if "acceptance_rate" in stats:
        pairs[f"Mean acceptance (target {post.target_accept})"] = \
            f"{float(np.mean(stats['acceptance_rate'])):.3f}"
    rh = rhat_by_parameter(dict(post.draws), post.ranef_draws)
    if rh:
        worst = max(rh, key=rh.get)
        pairs[f"Largest R-hat, random effects included (flagged above {RHAT_MAX})"] = \
            f"{rh[worst]:.3f} ({worst})"
    if tab is not None:
        for col in ("Bulk_ESS", "Tail_ESS"):
            if col in tab:
                pairs[f"Smallest {col.replace('_', ' ')}"] = f"{float(tab[col].min()):.0f}"
    return Section("Sampler diagnostics", checks_panel(
        pairs, post.messages, "No divergences, tree-depth saturation, low E-BFMI, high R-hat or "
                              "low effective sample size."))


def _icc_section(post, prob: float) -> Section:
    got = attempt("ICC", post.icc)
    if not got.ok:
        return Section("ICC", got.notes)
    lo, hi = (1 - prob) / 2, (1 + prob) / 2
    rows = {name: [float(np.mean(d)), float(np.std(d)), *np.quantile(d, [lo, hi])]
            for name, d in got.value.items()}
    frame = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["Estimate", "Est.Error", f"Q{lo * 100:g}", f"Q{hi * 100:g}"])
    return Section("ICC", table(frame, f"Intraclass correlation: posterior mean, SD and "
                                       f"{prob * 100:g}% interval") + got.notes)


def _scalar_names(post) -> list[str]:
    return [n for n in post.draws if np.ndim(post.draws[n]) == 2][:_MAX_TRACE_PANELS]


def _figure_sections(post) -> list[Section]:
    from .. import plots

    names = _scalar_names(post)
    trace = attempt("Trace plot", lambda: plots.trace(post, params=names))
    rank = attempt("Rank plot", lambda: plots.rank(post, params=names))
    body = ""
    if trace.ok:
        body += figure(trace.value, "Trace of each chain")
    if rank.ok:
        body += figure(rank.value, "Rank histograms of each chain (flat when the chains mix)")
    if len(post.draws) > len(names):
        body += note(f"Trace and rank plots of the first {len(names)} of {len(post.draws)} "
                     "parameters; ml.plots.trace(post, params=...) draws the others.")
    out = [Section("Chains", body + trace.notes + rank.notes)]
    ppc = attempt("Posterior predictive check", lambda: plots.ppc(post))
    out.append(Section("Posterior predictive check",
                       (figure(ppc.value, "Density of the data (thick) over 50 replicated data sets")
                        if ppc.ok else "") + ppc.notes))
    body = ""
    groups = list(post.ngroups)
    for g in groups[:_MAX_FACTOR_FIGURES]:
        cat = attempt(f"Caterpillar plot of {g}", lambda: plots.caterpillar(post, group=g))
        if cat.ok:
            body += figure(cat.value, f"Random effects of {g}: posterior means with 95% credible intervals")
        qq = attempt(f"QQ plot of {g}", lambda: plots.qq(post, group=g))
        if qq.ok:
            body += figure(qq.value, f"Normal QQ plot of the posterior means of the effects of {g}")
        body += cat.notes + qq.notes
    if groups:
        out.append(Section("Random-effects figures", body))
    return out


def _call(post) -> tuple[str, dict]:
    settings = {"family": post.family, "link": post.link, "chains": post.chains,
                "draws": post.ndraws, "warmup": post.warmup, "seed": post.seed,
                "sampler": post.sampler, "target_accept": post.target_accept,
                "max_tree_depth": post.max_tree_depth}
    args = [repr(post.formula), "data", f"family={post.family!r}", f"link={post.link!r}"]
    model = post.model
    zi = getattr(model, "zi_formula", None)
    if zi:
        args.append(f"zi={zi!r}")
    if getattr(model, "centered", True) is False:
        args.append("center=False")
    priors = attempt("Priors", post.prior_summary).value
    if priors is not None and "source" in priors and (priors["source"] != "default").any():
        # the priors given are listed in the Priors section; the call names them
        args.append("priors=priors")
        settings["priors"] = "given: " + ", ".join(priors.index[priors["source"] != "default"])
    args += [f"{k}={settings[k]!r}" for k in ("chains", "draws", "warmup", "seed", "sampler",
                                              "target_accept", "max_tree_depth")]
    if post.offset_spec:
        args.append(f"offset={post.offset_spec!r}")
    return f"ml.bayes({', '.join(args)})", settings


def sections(post, prob: float = 0.95, figures: bool = True) -> list[Section]:
    """The report's sections for a Posterior, in reading order."""
    model = getattr(post, "model", None)
    design = getattr(model, "design", None)
    tab = attempt("Posterior summary", lambda: post.table(prob=prob))
    summary = pd.DataFrame(tab.value) if tab.ok else None
    out = [_model_section(post),
           data_section(post, design, getattr(design, "response_name", None)),
           _diagnostics_section(post, summary),
           Section("Posterior summary",
                   (table(summary, f"Posterior means, SDs and {prob * 100:g}% credible intervals")
                    if summary is not None else "") + tab.notes)]
    priors = attempt("Priors", post.prior_summary)
    if priors.ok:
        out.append(Section("Priors", table(pd.DataFrame(priors.value)) + priors.notes))
    if post.ngroups:
        out.append(_icc_section(post, prob))
    if figures:
        out += _figure_sections(post)
    call, settings = _call(post)
    out.append(reproduction_section(call, settings, ("numpy", "scipy", "pandas", "formulaic", "jax",
                                                     "jaxlib", "numpyro", "arviz", "matplotlib")))
    return out
