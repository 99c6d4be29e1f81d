"""Prediction for new data: rebuild X and Z with the fitted specs, look up levels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .design.data import as_dataframe, check_columns
from .design.random import group_codes

__all__ = ["predict_lmm"]


def _level_positions(term, newdata: pd.DataFrame) -> np.ndarray:
    """Position of each new row's group among the fitted levels (-1 if new)."""
    if len(term.group_columns) == 1:
        labels = newdata[term.group_columns[0]]
    else:
        _, levels = group_codes(newdata, term.group_columns)
        codes, _ = group_codes(newdata, term.group_columns)
        labels = pd.Series(np.asarray(levels)[codes])
    lab = pd.Index(term.levels.astype(str))
    return lab.get_indexer(pd.Series(labels).astype(str).to_numpy())


def predict_lmm(fit, newdata=None, random: bool = True, allow_new_levels: bool = True) -> pd.Series:
    """Predictions of a fitted linear mixed model; see ``LmerResult.predict``."""
    if newdata is None:
        return fit.fitted.rename("predicted") if random else pd.Series(
            fit._marginal, index=fit.design.data_index, name="predicted")
    new = as_dataframe(newdata)
    design = fit.design
    try:
        X = np.asarray(design.fixed.spec.get_model_matrix(new, na_action="ignore"), dtype=float)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot build the fixed-effects matrix for newdata: {msg}") from None
    X = X[:, design.fixed.keep]
    eta = X @ fit.fixef.to_numpy()
    if random:
        for term, b in zip(design.terms, fit._b):
            check_columns(term.group_columns, new, "newdata (grouping factor)")
            Zall = np.asarray(term.spec.get_model_matrix(new, na_action="ignore"), dtype=float)
            Z = Zall if term.column_index is None else Zall[:, list(term.column_index)]
            pos = _level_positions(term, new)
            unknown = pos < 0
            if unknown.any() and not allow_new_levels:
                raise ValueError(
                    f"newdata has {int(unknown.sum())} row(s) with levels of {term.group!r} not in "
                    "the fit; pass allow_new_levels=True to predict them at the population level"
                )
            bb = np.where(unknown[:, None], 0.0, b[np.where(unknown, 0, pos)])
            eta = eta + np.einsum("ij,ij->i", Z, bb)
    return pd.Series(eta, index=new.index, name="predicted")
