"""Summary text of a Posterior, laid out as brms's ``summary`` or runjags's ``print``."""

from __future__ import annotations

import textwrap

import pandas as pd

from .priors import FAMILY_AUX, coef_name
from .tables import BRMS_FOOTER, format_brms, format_jags

__all__: list[str] = []  # used through Posterior.summary

_LINKS = {
    "gaussian": "mu = identity; sigma = identity",
    "student": "mu = identity; sigma = identity; nu = identity",
}


def _messages(post) -> list[str]:
    out = []
    for m in post.messages:
        out.extend(textwrap.wrap(f"Warning: {m}", width=80, subsequent_indent="  "))
    return out


def _brms_text(post, table: pd.DataFrame, prob: float, names: dict | None = None,
               thin: int = 1) -> str:
    """brms-style summary of ``post`` from its summary ``table`` (brms columns); ``names``
    relabels parameters, ``thin`` is the thinning the table was computed with."""
    relabel = dict(names or {})

    def _rows(table, keys, labels):
        df = table.loc[keys].copy()
        df.index = [relabel.get(k, lab) for k, lab in zip(keys, labels)]
        return df

    m = post.model
    d = m.design
    aux = FAMILY_AUX.get(post.family)
    links = _LINKS.get(post.family, f"mu = {post.link}" + (f"; {aux} = identity" if aux else ""))
    data = post.data_name or "data"
    family, formula = post.family, [f"Formula: {post.formula}"]
    if m.zi_formula is not None:  # brms's zero_inflated_* families and their zi formula
        family = "zero_inflated_" + {"negative_binomial": "negbinomial"}.get(family, family)
        links += "; zi = logit"
        formula.append(f"         zi {m.zi_formula.strip()}")
    header = [
        f" Family: {family}",
        f"  Links: {links}",
        *formula,
        f"   Data: {data} (Number of observations: {post.nobs})",
        f"  Draws: {post.chains} chains, each with iter = {post.warmup + post.ndraws}; "
        f"warmup = {post.warmup}; thin = {thin};",
        f"         total post-warmup draws = {post.chains * -(-post.ndraws // thin)}",
    ]
    sections: list = []
    if d.terms:
        sections.append(("Multilevel Hyperparameters:", None))
        for g, meta in post._ranef_meta.items():
            names, labels = [], []
            for t in meta["terms"]:
                term = d.terms[t]
                if term.structure is not None and term.structure.nsd == 1:
                    names.append(f"sd_{g}")
                    labels.append(f"sd({term.structure.kind})")
                    continue
                for c in term.columns:
                    names.append(f"sd_{g}__{coef_name(c)}")
                    labels.append(f"sd({coef_name(c)})")
            for t in meta["terms"]:
                term = d.terms[t]
                if term.structure is not None:
                    names.append(f"rho_{g}")
                    labels.append(f"rho({term.structure.kind})")
                    continue
                cn = [coef_name(c) for c in term.columns]
                for i in range(1, term.k):
                    for j in range(i):
                        names.append(f"cor_{g}__{cn[j]}__{cn[i]}")
                        labels.append(f"cor({cn[j]},{cn[i]})")
            sections.append((f"~{g} (Number of levels: {len(meta['levels'])})", _rows(table, names, labels)))
    fixed = [f"b_{n}" for n in post._fixed_names()]
    if fixed:
        sections.append(("Regression Coefficients:", _rows(table, fixed, [n[2:] for n in fixed])))
    further = [n for n in ("sigma", "nu", "shape", "phi") if n in post.draws]
    if further:
        sections.append(("Further Distributional Parameters:", _rows(table, further, further)))
    if post.derived:
        sections.append(("Derived Quantities:", _rows(table, list(post.derived), list(post.derived))))
    if post.sampler == "nuts":
        footer = ["Draws were sampled using NUTS. For each parameter, Bulk_ESS",
                  *BRMS_FOOTER[1:]]
        if getattr(post, "sampler_note", None):
            footer.append(f"NUTS ran because {post.sampler_note}.")
    else:
        footer = ["Draws were sampled using NUTS on the variance parameters, with the fixed",
                  "and random effects drawn exactly given them (collapsed sampler). For each",
                  "parameter, Bulk_ESS and Tail_ESS are effective sample size measures, and Rhat",
                  "is the potential scale reduction factor on split chains (at convergence, Rhat = 1)."]
    footer += _messages(post)
    return format_brms(header, sections, footer)


def _jags_text(post, table: pd.DataFrame, thin: int = 1) -> str:
    """runjags-style summary of ``post`` from its summary ``table`` (jags columns)."""
    kept = post.chains * -(-post.ndraws // thin)
    head = (f"Model summary statistics from {kept} samples "
            f"(chains = {post.chains}; warmup = {post.warmup}"
            + (f"; thin = {thin}" if thin > 1 else "") + "):")
    lines = [head, format_jags(table), "", f"Total time taken: {post.seconds:.1f} seconds"]
    msgs = _messages(post)
    if msgs:
        lines += [""] + msgs
    return "\n".join(lines)
