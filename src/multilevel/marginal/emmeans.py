"""Estimated marginal means: ``ml.emmeans(fit, "schgend")``, as R's emmeans computes them.

A marginal mean is a weighted average of the reference grid's predictions
over the variables not named (equal weights by default, as emmeans), with
its standard error from the coefficients' covariance, Kenward-Roger (or
Satterthwaite) degrees of freedom for lmer fits, asymptotic z for glmer
fits, and the posterior draws of a Bayesian fit.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..arguments import as_probability
from .estimates import estimates
from .grid import ReferenceGrid, expand_grid, reference_grid
from .state import Family
from .table import EMMTable

__all__ = ["emmeans", "emtrends"]

WEIGHTS = ("equal", "proportional", "outer", "cells", "flat")


def _parse_specs(specs, by) -> tuple[list[str], list[str]]:
    if isinstance(specs, str) and "~" in specs:
        lhs, rhs = specs.split("~", 1)
        if lhs.strip():
            raise ValueError(f"specs {specs!r}: a left-hand side ('pairwise ~ A') is R's shortcut for "
                             f"means and their contrasts; call ml.emmeans(fit, '~{rhs.strip()}').pairs() "
                             "(or .contrast(...))")
        if "|" in rhs:
            rhs, extra = rhs.split("|", 1)
            if by is not None:
                raise ValueError("give the by-variables either after '|' in specs or as by=, not both")
            by = [v.strip() for v in re.split(r"[+*]", extra) if v.strip()]
        specs = [v.strip() for v in re.split(r"[+*]", rhs) if v.strip()]
    if isinstance(specs, str):
        specs = [specs]
    if not isinstance(specs, (list, tuple)) or not specs or not all(isinstance(s, str) for s in specs):
        raise TypeError("specs must name the variable(s) to give means for: a string, a list of "
                        "strings, or a formula such as '~ sex | schgend'")
    by = [] if by is None else ([by] if isinstance(by, str) else list(by))
    if not all(isinstance(b, str) for b in by):
        raise TypeError("by must be a variable name or a list of them")
    both = [s for s in specs if s in by]
    if both or len(set(specs)) != len(specs) or len(set(by)) != len(by):
        raise ValueError(f"{(both or specs)[0]!r} is named twice in specs / by: name each variable once")
    return list(specs), by


def _weights(rg: ReferenceGrid, facs: list[str], weights) -> tuple[np.ndarray, list[str]]:
    """The (means x cells) averaging matrix and the variables averaged over."""
    names = list(rg.variables)
    dims = [len(rg.variables[v]) for v in names]
    idx = np.arange(len(rg.frame)).reshape(dims[::-1]).transpose() if names else np.arange(1)
    use = [names.index(f) for f in facs]
    avg = [i for i, d in enumerate(dims) if d > 1 and i not in use]
    counts = rg.counts.copy()
    if np.all(counts == 0):
        counts = counts + 1
    valid = rg.valid if rg.valid is not None else np.ones(len(rg.frame), dtype=bool)
    # cells of each mean: axes ordered (use..., avg..., others of size 1)
    order = use + avg + [i for i in range(len(dims)) if i not in use and i not in avg]
    cells = np.transpose(idx, order) if names else idx
    n_use = int(np.prod([dims[i] for i in use])) if use else 1
    n_avg = int(np.prod([dims[i] for i in avg])) if avg else 1
    # R's expand.grid order: the first variable fastest, so flatten in Fortran order
    cells = cells.reshape([dims[i] for i in use] + [n_avg], order="F") if use else cells.reshape(1, n_avg)
    cells = cells.reshape(n_use, n_avg, order="F")
    W = np.zeros((n_use, len(rg.frame)))
    if isinstance(weights, str):
        w_name = weights.lower()
        if w_name not in WEIGHTS:
            raise ValueError(f"unknown weights={weights!r}; choose one of {', '.join(WEIGHTS)} "
                             "or give one number per averaged cell")
        c = counts[cells]  # (n_use, n_avg)
        if w_name == "equal":  # every cell of the grid (within its nest)
            w = valid[cells].astype(float)
        elif w_name == "proportional":
            w = np.broadcast_to(c.sum(axis=0), c.shape)
        elif w_name == "outer":
            w = np.broadcast_to(_outer_weights(rg, avg, dims, counts), c.shape)
        elif w_name == "cells":
            w = c
        else:
            w = (c > 0).astype(float)
    else:
        vec = np.asarray(weights, dtype=float).ravel()
        if vec.size != n_avg or not np.all(np.isfinite(vec)) or np.any(vec < 0):
            raise ValueError(f"weights must be one of {', '.join(WEIGHTS)} or {n_avg} non-negative "
                             "numbers, one per averaged cell")
        w = np.broadcast_to(vec, (n_use, n_avg))
    w = w * valid[cells]  # cells outside their nests take no weight
    total = w.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(total > 0, w / total, np.nan)
    for r in range(n_use):
        W[r, cells[r]] = w[r]
    return W, [names[i] for i in avg]


def _outer_weights(rg, avg, dims, counts) -> np.ndarray:
    names = list(rg.variables)
    full = counts.reshape(dims[::-1]).transpose()
    table = full.sum(axis=tuple(i for i in range(len(dims)) if i not in avg))
    N = table.sum()
    w = np.array(N)
    for d in range(table.ndim):
        margin = table.sum(axis=tuple(j for j in range(table.ndim) if j != d)) / N
        w = np.multiply.outer(w, margin)
    del names
    # w's axes are in avg order, first varying fastest after the flatten below
    return np.asarray(w).reshape(-1, order="F")


def _labels(rg: ReferenceGrid, facs: list[str]) -> pd.DataFrame:
    return expand_grid({f: rg.variables[f] for f in facs}, rg.factors)


def emmeans(fit, specs, by=None, at: dict | None = None, weights="equal", type: str = "link",
            df: str | None = None, level: float = 0.95, cov_reduce=None, mode: str | None = None) -> EMMTable:
    """Estimated marginal means of a fitted model, as R's ``emmeans``.

    Parameters
    ----------
    fit : LmerResult, GlmerResult, GlsResult or Posterior
    specs : str, list of str, or formula string
        The variable(s) to give means for (factors, or covariates given
        several values in ``at``); ``"~ sex | schgend"`` names by-variables too.
    by : str or list of str, optional
        Variables whose levels split the table into groups (contrasts and
        multiplicity adjustments act within each group).
    at : dict, optional
        Values of predictors: covariates are held at their mean unless given
        here (several values make a covariate a dimension); a factor may be
        restricted to some levels.
    weights : {"equal", "proportional", "outer", "cells", "flat"} or array
        How the predictions of the cells averaged over are weighted
        (emmeans' options; an array gives one weight per averaged cell).
    type : {"link", "response"}
        For glmer fits and posteriors: means on the link scale, or
        back-transformed to the response scale (standard errors by the delta
        method, intervals back-transformed, tests on the link scale); see
        also :meth:`EMMTable.regrid`. With zero inflation (``zi=``) the
        means are the count model's, ``mu`` without the structural zeros
        (emmeans' default ``component = "cond"`` for glmmTMB fits);
        ``fit.predict(type="response")`` and ``posterior.epred()`` give
        ``(1 - pi) mu``.
    df : {"kenward-roger", "satterthwaite", "asymptotic", "df.error"}, optional
        Degrees-of-freedom method for lmer fits (default Kenward-Roger, or
        Satterthwaite for a fit with an ``hcs`` or ``ar1`` term or a residual
        correlation, as
        emmeans; R's emmeans switches to asymptotic above 3,000 rows unless
        ``pbkrtest.limit`` is raised, this does not). For :func:`multilevel.gls`
        fits: Satterthwaite's (default; emmeans' default there,
        "appx-satterthwaite", approximates them by random perturbations),
        ``"df.error"`` (emmeans' ``mode = "df.error"``: ``n - p`` less the
        number of correlation and SD-model parameters) or asymptotic.
    level : float
        Confidence level.
    cov_reduce : {"mean", "median", "range"}, callable or dict, optional
        emmeans' ``cov.reduce``: the values of the covariates not in ``at``:
        their mean (default), median, minimum and maximum (``"range"``: the
        covariate becomes a dimension of the grid, averaged over), a function
        of the column's values, or a dict of these by covariate.
    mode : {"latent", "linear.predictor", "cum.prob", "exc.prob", "prob", "mean.class"}, optional
        For :func:`multilevel.clmm` fits, emmeans' modes for ordinal models
        (see :mod:`multilevel.marginal.ordinal`): the latent variable
        ``x'beta - mean(theta)`` (default); per cut (a grid factor ``cut``) the
        linear predictor ``theta_j - x'beta``, the cumulative or exceedance
        probabilities; the class probabilities (a grid factor named as the
        response: ``"~ rating | temp"``); or the expected class.

    Returns
    -------
    EMMTable
        A DataFrame with emmeans' columns (the variables, ``emmean``, ``SE``,
        ``df``, ``lower.CL``, ``upper.CL``; ``prob`` / ``rate`` /
        ``response`` and ``asymp.LCL``, ``asymp.UCL`` on the response scale;
        ``lower.HPD``, ``upper.HPD`` for posteriors), printing as emmeans
        prints, with :meth:`~EMMTable.pairs`, :meth:`~EMMTable.contrast`,
        :meth:`~EMMTable.confint`, :meth:`~EMMTable.test` and
        :meth:`~EMMTable.regrid`.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("normexam ~ standLRT + sex + schgend + (1 | school)", ml.datasets.load("exam"))
    >>> emm = ml.emmeans(fit, "schgend")
    >>> emm["emmean"].round(3).tolist()
    [-0.084, 0.094, 0.075]
    >>> emm.pairs()["p.value"].round(3).tolist()
    [0.268, 0.185, 0.988]
    """
    level = as_probability(level, "level")
    if fit.__class__.__name__ == "ClmmResult":
        return _ordinal(fit, specs, by, at, weights, type, df, level, cov_reduce, mode)
    if mode is not None:
        raise ValueError("mode= applies to cumulative link models (ml.clmm); for this fit use type='link' "
                         "or 'response'")
    est = estimates(fit, df)
    if type not in ("link", "response"):
        raise ValueError(f"type must be 'link' or 'response', not {type!r}")
    specs, by = _parse_specs(specs, by)
    # cells weigh their row counts, as emmeans' .wgt. (not prior weights)
    rg = reference_grid(est.design, at, cov_reduce=cov_reduce)
    fam = _family(est, rg, specs, by, weights, type, level)
    return EMMTable.from_family(fam)


def _ordinal(fit, specs, by, at, weights, type_, df, level, cov_reduce, mode) -> EMMTable:
    """:func:`emmeans` of a cumulative link model (:mod:`multilevel.marginal.ordinal`)."""
    from ..design.rowless import require_rows
    from .ordinal import check_mode, ordinal_family

    require_rows(fit, "computing marginal means (their reference grid comes from the rows)")
    if type_ != "link":
        raise ValueError("type= does not apply to a cumulative link model: choose the scale by mode= "
                         "('cum.prob', 'prob', 'mean.class', ...)")
    if df not in (None, "asymptotic"):
        raise ValueError(f"df={df!r} applies to lmer fits; a cumulative link model's tests are asymptotic (z)")
    mode = "latent" if mode is None else check_mode(mode)
    specs, by = _parse_specs(specs, by)
    rg = reference_grid(fit.design, at, cov_reduce=cov_reduce)
    return EMMTable.from_family(ordinal_family(fit, rg, specs, by, weights, mode, level))


def _family(est, rg, specs, by, weights, type, level, slope=None) -> Family:
    """The family of marginal means of ``specs`` (and ``by``) over a reference grid; with
    ``slope = (grid at x + h, h)`` their derivatives in x instead (emtrends)."""
    unknown = [f for f in specs + by if f not in rg.variables]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a predictor of the fixed part; the reference grid "
                         f"has {', '.join(rg.variables) or 'no variables'}")
    # a nested factor's means come with its nest (emmeans' "B A" columns for B %in% A)
    nests = rg.nests or {}
    specs = specs + [o for f in specs + by for o in nests.get(f, ()) if o not in specs + by]
    facs = specs + by
    W, averaged = _weights(rg, facs, weights)
    labels = _labels(rg, facs)
    if nests:  # only the cells within their nests, as emmeans' grid holds them
        keep = W @ rg.valid.astype(float) > 0
        W, labels = W[keep], labels.loc[keep].reset_index(drop=True)
    good = np.all(np.isfinite(W), axis=1)
    Wz = np.where(np.isfinite(W), W, 0.0)
    L = Wz @ rg.linfct
    Lfull = Wz @ rg.linfct_full
    offset = Wz @ rg.offset if rg.offset is not None else np.zeros(len(W))
    if slope is not None:  # emmeans' forward difference quotient of the grid's linear functions
        up, h = slope
        L = (Wz @ up.linfct - L) / h
        Lfull = (Wz @ up.linfct_full - Lfull) / h
        offset = np.zeros(len(W))
    notes = []
    if averaged:
        notes.append(f"Results are averaged over the levels of: {', '.join(averaged)}")
    if nests:
        notes.append("NOTE: A nesting structure was detected in the fitted model: "
                     + ", ".join(f"{i} %in% {' * '.join(o)}" for i, o in nests.items()))
    if any(set(facs) < t for t in rg.terms):
        notes.append("NOTE: Results may be misleading due to involvement in interactions")
    scale = "link"
    if type == "response" and est.link != "identity":
        scale = "response"
    elif type == "response" and "(" in est.design.response_name:
        import warnings

        warnings.warn(f"type='response' keeps a linear mixed model's means on the scale of its response "
                      f"{est.design.response_name!r}: the transformation is not undone", UserWarning,
                      stacklevel=2)
    return Family(est=est, L=L, offset=offset, Lfull=Lfull, null_basis=rg.null_basis,
                  labels=labels, by=tuple(by), kind="emmeans", scale=scale, adjust="none",
                  notes=tuple(notes), level=level, missing=None if good.all() else ~good)


def emtrends(fit, specs, var: str, by=None, at: dict | None = None, weights="equal",
             df: str | None = None, level: float = 0.95, cov_reduce=None) -> EMMTable:
    """Estimated marginal trends: the slope of a covariate at each level of ``specs`` (R's ``emtrends``).

    The derivative of the reference grid's predictions with respect to
    ``var`` (emmeans' forward difference quotient, its step 1/1000 of the
    covariate's range), averaged over the other factors as :func:`emmeans`
    averages the means; on the link scale. Pairs and contrasts follow as
    from :func:`emmeans` (the comparison of slopes in an interaction model).

    Parameters
    ----------
    fit : LmerResult, GlmerResult, GlsResult or Posterior
    specs : str, list of str, or formula string
    var : str
        A numeric predictor of the fixed part.
    by, at, weights, df, level, cov_reduce
        As :func:`emmeans`; ``at`` may give ``var`` the values where the
        slopes are taken (for polynomials and other curves), otherwise its
        mean; ``cov_reduce`` sets the other covariates.

    Returns
    -------
    EMMTable
        With the estimate column ``<var>.trend``.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("weight ~ time * treatment + (1 | girl)", ml.datasets.load("anorexia"))
    >>> tr = ml.emtrends(fit, "treatment", var="time")
    >>> tr["time.trend"].round(2).tolist()
    [3.01, -0.45, 7.26]
    """
    est = estimates(fit, df)
    level = as_probability(level, "level")
    specs, by = _parse_specs(specs, by)
    design = est.design
    data = design.data
    if not isinstance(var, str) or data is None or var not in data.columns \
            or not pd.api.types.is_numeric_dtype(data[var]) or pd.api.types.is_bool_dtype(data[var]):
        raise ValueError(f"var must name a numeric predictor of the fixed part, not {var!r}")
    if var in specs + by:
        raise ValueError(f"var={var!r} is the variable whose slope is taken; it cannot also be in specs or by")
    x = np.asarray(data[var], dtype=float)
    # emmeans' step, 1e-3 of the range, and at least 1e-7 of the values' size (x * 1e-6 + 1e5
    # would otherwise cancel the difference's digits)
    h = max(1e-3 * float(np.nanmax(x) - np.nanmin(x)), 1e-7 * float(np.nanmax(np.abs(x)))) or 1e-3
    at = dict(at or {})
    base = np.atleast_1d(np.asarray(at.get(var, np.nanmean(x)), dtype=float))
    rg = reference_grid(design, {**at, var: base}, cov_reduce=cov_reduce)
    up = reference_grid(design, {**at, var: base + h}, cov_reduce=cov_reduce)
    if np.array_equal(up.linfct, rg.linfct):  # (exactly: x + 1000 moves by 1e-3 of its range)
        raise ValueError(f"{var!r} does not enter the fixed part of the model")
    if var not in rg.variables:
        raise ValueError(f"{var!r} is not a predictor of the fixed part")
    fam = _family(est, rg, specs, by, weights, "link", level, slope=(up, h))
    from dataclasses import replace

    interacts = any(set(specs + by) | {var} < t for t in rg.terms)  # emmeans counts var in facs
    notes = tuple(n.replace(f", {var}", "").replace(f"{var}, ", "") for n in fam.notes
                  if n != f"Results are averaged over the levels of: {var}"
                  and (interacts or not n.startswith("NOTE: Results may be misleading")))
    return EMMTable.from_family(replace(fam, estimate=f"{var}.trend", notes=notes))

