"""A self-contained HTML report of a fit, to read in any browser and hand to others.

``ml.report(fit, "fit.html")`` (or ``fit.report("fit.html")``) writes one file
with no external requests: inline CSS, figures as inlined PNG images and a
Content-Security-Policy that lets the browser load nothing else. It holds the
model and data summary (rows used and dropped, group sizes), a convergence and
singularity panel, the fixed effects with the df method named, the variance
components with intervals, ICC and R², the ANOVA table, the random effects'
caterpillar and QQ plots and the residual plot; for a Bayesian fit the sampler
diagnostics, the posterior summary, priors, trace and rank plots and the
posterior predictive check; and for every fit the call, settings and package
versions that reproduce it.

The report assembles what the fit's methods and :mod:`multilevel.plots` give;
a part a model does not have (an ICC of a random-slope model, a figure that
needs the rows of data kept on disk) is replaced by a note that says why.
"""

from __future__ import annotations

import os

import pandas as pd

from ..arguments import short_repr
from .page import page

__all__ = ["report"]

_DDF = ("satterthwaite", "kenward-roger", "none")
_CONFINT = ("profile", "wald", "boot")


def _is_posterior(fit) -> bool:
    return hasattr(fit, "draws") and hasattr(fit, "model") and hasattr(fit, "chains")


def _is_fit(fit) -> bool:
    return all(hasattr(fit, a) for a in ("coef_table", "varcorr", "fixef", "messages", "formula"))


def _check(fit, path, confint, level, ddf, figures, title, intervals) -> None:
    if not (_is_posterior(fit) or _is_fit(fit)):
        raise TypeError(f"fit must be a fit of ml.lmer, ml.glmer, ml.clmm or ml.bayes, not {short_repr(fit)}")
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name (str or path), not {short_repr(path)}")
    if path is not None and not os.fspath(path):
        raise ValueError("path is empty; give a file name such as 'fit.html'")
    if path is not None and os.path.isdir(path):
        raise ValueError(f"path {os.fspath(path)!r} is a directory; give a file name such as 'fit.html'")
    if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
        raise ValueError(f"cannot write {os.fspath(path)!r}: its folder does not exist; create it "
                         "or give a path in an existing folder")
    if confint is not None and confint not in _CONFINT:
        raise ValueError(f"confint must be one of {', '.join(map(repr, _CONFINT))} or None, "
                         f"not {short_repr(confint)}")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number between 0 and 1 (such as 0.95), not {short_repr(level)}")
    if ddf not in _DDF:
        raise ValueError(f"ddf must be one of {', '.join(map(repr, _DDF))}, not {short_repr(ddf)}")
    if ddf == "kenward-roger" and getattr(fit, "reml", None) is False:
        raise ValueError("ddf='kenward-roger' needs a REML fit; refit with reml=True or use "
                         "ddf='satterthwaite'")
    if intervals is not None:
        if _is_posterior(fit) or confint is None:
            raise ValueError("intervals= shows confidence intervals computed already (fit.confint(...)) "
                             "of a likelihood fit; confint= names their method, so it cannot be None")
        if not isinstance(intervals, pd.DataFrame) or intervals.shape[1] != 2:
            raise TypeError(f"intervals must be the two-column table of fit.confint(), not {short_repr(intervals)}")
    if not isinstance(figures, bool):
        raise TypeError(f"figures must be True or False, not {short_repr(figures)}")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string, not {short_repr(title)}")


def report(fit, path=None, *, confint: str | None = "profile", level: float = 0.95,
           ddf: str = "satterthwaite", figures: bool = True, title: str | None = None,
           intervals: pd.DataFrame | None = None) -> str:
    """Write a self-contained HTML report of a fit and return its text.

    Parameters
    ----------
    fit : LmerResult, GlmerResult, ClmmResult or Posterior
        A fit of :func:`multilevel.lmer`, :func:`multilevel.glmer`,
        :func:`multilevel.clmm` or :func:`multilevel.bayes`.
    path : str or path, optional
        Where to write the report (UTF-8); without it the text is only returned.
    confint : {"profile", "wald", "boot"} or None, default "profile"
        Confidence intervals shown beside the fixed effects and the variance
        components (maximum-likelihood fits); None leaves them out.
    level : float, default 0.95
        Level of the confidence intervals, or of the credible intervals of a
        Bayesian fit.
    ddf : {"satterthwaite", "kenward-roger", "none"}, default "satterthwaite"
        Denominator degrees of freedom of an lmer fit's t and F tests.
    figures : bool, default True
        Draw the figures (needs matplotlib).
    title : str, optional
        The page's title; by default the model's formula.
    intervals : DataFrame, optional
        Intervals already computed by ``fit.confint(method=confint, level=level)``,
        shown instead of computing them again (a bootstrap's, say, so that the
        report shows the same draws as the console).

    Returns
    -------
    str
        The HTML document.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> text = ml.report(fit, figures=False)
    >>> text.startswith("<!DOCTYPE html>"), "Satterthwaite" in text, "://" in text
    (True, True, False)
    """
    _check(fit, path, confint, level, ddf, figures, title, intervals)
    if _is_posterior(fit):
        from .bayesian import sections

        parts = sections(fit, prob=float(level), figures=figures)
        kind = "Bayesian fit"
    else:
        from .frequentist import sections

        parts = sections(fit, confint=confint, level=float(level), ddf=ddf, figures=figures,
                         intervals=intervals)
        kind = "Maximum-likelihood fit"
    data = f" to {fit.data_name}" if getattr(fit, "data_name", None) else ""
    text = page(title or fit.formula, f"{kind}{data}: {fit.nobs:,} observations. Written by multilevel.",
                parts)
    if path is not None:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return text
