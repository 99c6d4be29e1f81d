"""The same model fitted again to other rows: the fit's data with its weights and offset as columns.

Power designs and influence refits that must rebuild a design from the
formula (the rows changed, or a column lost its variation) fit the model
again with :func:`refit_on`: the weights and the ``offset=`` argument of the
original fit travel with the rows as hidden columns, so the new fit is the
same model (a formula's own ``offset(...)`` terms and ``cbind`` trials are
in the formula already).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["fit_frame", "refit_on"]

_W, _OFF = "__refit_weights__", "__refit_offset__"


def fit_frame(fit) -> pd.DataFrame:
    """The rows the fit used, with its weights and argument offset as extra columns.

    Examples
    --------
    >>> import multilevel as ml, numpy as np
    >>> s = ml.datasets.load("sleepstudy").assign(w=lambda d: 1.0 + (d["Days"] > 4))
    >>> fit = ml.lmer("Reaction ~ Days + (1 | Subject)", s, weights="w")
    >>> fit_frame(fit)["__refit_weights__"].tolist()[4:7]
    [1.0, 2.0, 2.0]
    """
    from ..design.design import formula_offset

    d = fit.design
    frame = d.data.copy()
    glmm = hasattr(fit, "family")
    weights = d.weights
    if d.dispersion is not None:  # the prior weights: a refit estimates the residual SD model again
        weights = d.dispersion.prior
    if glmm and getattr(fit, "weights_name", None) is not None:
        weights = np.asarray(fit._prior, dtype=float)
    if weights is not None:
        frame[_W] = np.asarray(weights, dtype=float)
    if d.offset is not None and d.offset_argument:
        in_formula = formula_offset(d.formula, d.data)
        frame[_OFF] = np.asarray(d.offset, dtype=float) - (0.0 if in_formula is None else in_formula)
    return frame


def refit_on(fit, frame: pd.DataFrame):
    """The model of ``fit`` fitted to ``frame`` (made from :func:`fit_frame`'s rows)."""
    from ..glmm.fit import glmer
    from ..lmm import lmer

    kw = {}
    if _W in frame.columns:
        kw["weights"] = _W
    if _OFF in frame.columns:
        kw["offset"] = _OFF
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if hasattr(fit, "family"):
            if fit.family.zero_inflated:  # (the zero-inflation model goes with it)
                kw["zi"] = fit.family.zi_formula
            return glmer(fit.formula, frame, family=fit.family.name, link=fit.family.link.name,
                         nagq=fit.nagq, **kw)
        if fit.design.dispersion is not None:
            kw["dispformula"] = fit.design.dispersion.formula
        if fit.design.residual is not None:
            kw["residual"] = fit.design.residual.text
        return lmer(fit.formula, frame, reml=fit.reml, **kw)
