"""``clmm``: cumulative link mixed models for ordered responses, as ``ordinal::clmm``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..arguments import as_choice
from ..design import build_design
from ..design.data import as_dataframe, as_factor
from ..families import family as make_family
from ..formula import parse_formula
from ..formula.parse import factor_response
from .agq import check_agq
from .fit import OPTIMIZERS, _check_nagq, fit_glmm_design

__all__ = ["clmm"]


def _ordered_response(frame: pd.DataFrame, name: str) -> tuple[pd.DataFrame, tuple]:
    """The frame with the response replaced by its category codes, and the categories."""
    if name not in frame.columns:
        raise ValueError(f"the response {name!r} is not a column of the data; an ordinal response is a "
                         "column (an ordered categorical)")
    s = frame[name]
    if not isinstance(s.dtype, pd.CategoricalDtype) or not s.cat.ordered:
        raise ValueError(
            f"the response {name!r} is not an ordered categorical: make it one with its categories in "
            f"order, e.g. data[{name!r}] = pd.Categorical(data[{name!r}], categories=[...], ordered=True)")
    codes = s.cat.codes.to_numpy()
    counts = np.bincount(codes[codes >= 0], minlength=len(s.cat.categories))
    empty = [str(c) for c, k in zip(s.cat.categories, counts) if k == 0]
    if empty:
        raise ValueError(f"the response {name!r} has categories without observations ({', '.join(empty)}): "
                         f"their thresholds cannot be estimated; drop them with "
                         f"data[{name!r}] = data[{name!r}].cat.remove_unused_categories()")
    if len(s.cat.categories) < 2:
        raise ValueError(f"the response {name!r} has fewer than 2 categories")
    values = np.where(codes >= 0, codes, np.nan)  # (-1: a missing value)
    return frame.assign(**{name: values}), tuple(str(c) for c in s.cat.categories)


def clmm(formula: str, data, link: str = "logit", nagq: int = 1, weights=None, offset=None,
         optimizer: str = "auto", _restore=None):
    """Fit a cumulative link mixed model, as ``ordinal::clmm``.

    ``P(Y <= j) = F(theta_j - eta)`` with flexible thresholds ``theta_1 < ...
    < theta_{J-1}``, ``eta = x'beta + z'b`` (no intercept: the thresholds take
    its place) and ``F`` the logistic (``"logit"``), normal (``"probit"``) or
    Gumbel (``"cloglog"``) distribution function. Fitted by the Laplace
    approximation, or adaptive Gauss-Hermite quadrature (``nagq`` > 1, one
    scalar random-effects term), with the thresholds, the location
    coefficients and the variance parameters estimated jointly; the curvature
    is the observed information, as clmm's.

    Parameters
    ----------
    formula : str
        lme4 formula whose response is an ordered categorical column.
    data : DataFrame
    link : {"logit", "probit", "cloglog"}
    nagq : int, default 1
        1: Laplace; 2 to 25: adaptive quadrature.
    weights, offset : str or array-like, optional
        Weights multiply each observation's log-likelihood; the offset is
        added to ``eta``.
    optimizer : {"auto", "bobyqa", "cobyqa", "nelder-mead"}
        As :func:`multilevel.glmer`'s: "auto" searches on the exact gradient of
        the Laplace criterion where the model has one scalar random-effects term.

    Returns
    -------
    ClmmResult

    Examples
    --------
    >>> import multilevel as ml
    >>> m = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"))
    >>> round(m.loglik, 3), round(float(m.varcorr["std_dev"].iloc[0]), 3)   # clmm: -81.565, 1.131
    (-81.565, 1.131)
    """
    from ..results.clmm_result import ClmmResult

    as_choice(link, "link", ("logit", "probit", "cloglog"))
    as_choice(optimizer, "optimizer", OPTIMIZERS)
    nagq = _check_nagq(nagq)
    if nagq == 0:
        raise ValueError("clmm needs nagq >= 1 (1: Laplace, > 1: adaptive quadrature)")
    parsed = parse_formula(formula)
    if not parsed.bars:
        raise ValueError("the formula has no random-effects term such as (1 | group); clmm fits mixed models")
    frame = as_dataframe(data)
    factor_of = factor_response(parsed.response)
    if factor_of is not None and factor_of in frame.columns:  # R's factor(y): its levels in order
        frame = frame.assign(**{factor_of: as_factor(frame[factor_of], factor_of).cat.as_ordered()})
        parsed = replace(parsed, response=factor_of)
    frame, levels = _ordered_response(frame, parsed.response)
    design = build_design(parsed, frame, weights=weights, offset=offset, observation_level=True)
    if "(Intercept)" not in design.fixed.names:
        raise ValueError("clmm's thresholds take the place of the intercept: remove '0 +' or '- 1' from the "
                         "formula")
    fam = make_family("cumulative", link).with_categories(len(levels))
    seen = np.unique(design.y.astype(int))
    if seen.size < len(levels):  # rows dropped for missing values left a category empty
        missing = [levels[k] for k in range(len(levels)) if k not in set(seen.tolist())]
        raise ValueError(f"after dropping rows with missing values the response has no {', '.join(missing)}: "
                         "drop the incomplete rows first (data.dropna(subset=[...the model's columns])), then "
                         "the empty categories (cat.remove_unused_categories())")
    prior = np.ones(design.n) if design.weights is None else np.asarray(design.weights, dtype=float)
    seen_data = np.unique(design.y[prior > 0].astype(int))
    if seen_data.size < seen.size:  # (rows of weight 0 are not data: a category only they hold is empty)
        missing = [levels[k] for k in seen.tolist() if k not in set(seen_data.tolist())]
        raise ValueError(f"the response has no {', '.join(map(str, missing))} in the rows of positive weight (only "
                         "rows of weight 0 hold it): drop those rows first, then the empty categories "
                         "(cat.remove_unused_categories())")
    design = replace(design, weights=None)
    check_agq(design.terms, nagq)
    fit = fit_glmm_design(design, fam, prior, nagq=nagq, optimizer=optimizer, formula=formula,
                          response=parsed.response, offset_name=offset if isinstance(offset, str) else None,
                          weights_name=weights if isinstance(weights, str) else None,
                          data_name=getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None,
                          _restore=_restore)
    return ClmmResult(formula=formula, link=link, levels=levels, glmm=fit, response=parsed.response)
