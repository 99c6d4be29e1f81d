"""Prediction for new data: rebuild X and Z with the fitted specs, look up levels."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .design.data import as_dataframe, check_columns

__all__ = ["predict_lmm"]


def _norm(value) -> str:
    """A level's label with numbers written alike (1, 1.0 and "1" all read '1')."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "\x00missing"
    try:
        f = float(value)
    except (TypeError, ValueError):
        return str(value)
    return str(int(f)) if f.is_integer() else repr(f)


def _level_positions(term, newdata: pd.DataFrame) -> np.ndarray:
    """Position of each new row's group among the fitted levels (-1 if new).

    Levels match by value, as R matches factor levels by label: an integer id 1
    fitted from an int column matches 1.0 from a float column of new data.
    """
    cols = [newdata[c].astype(object).to_numpy() for c in term.group_columns]
    keys = [":".join(_norm(v) for v in row) for row in zip(*cols)]
    if len(term.group_columns) == 1:
        fitted = [_norm(v) for v in term.levels]
    else:
        fitted = [":".join(_norm(p) for p in str(lab).split(":")) for lab in term.levels]
    return pd.Index(fitted).get_indexer(keys)


def predict_lmm(fit, newdata=None, random: bool = True, allow_new_levels: bool = True) -> pd.Series:
    """Predictions of a fitted linear mixed model; see ``LmerResult.predict``.

    Parameters
    ----------
    fit : LmerResult
        The fitted model.
    newdata : DataFrame, optional
        pandas or polars data; defaults to the fitted data.
    random : bool, default True
        Add the random effects of known groups (False: population level).
    allow_new_levels : bool, default True
        Give unseen levels random effects of zero; if False they raise a ValueError.

    Returns
    -------
    pandas.Series
        Named ``"predicted"``, with the index of ``newdata`` (or of the rows used
        in the fit).

    Examples
    --------
    >>> import multilevel as ml, pandas as pd
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> new = pd.DataFrame({"Days": [0, 5], "Subject": ["308", "new"]})
    >>> predict_lmm(fit, new).round(1).tolist()
    [253.7, 303.7]
    >>> predict_lmm(fit, new, random=False).round(1).tolist()
    [251.4, 303.7]
    >>> predict_lmm(fit, new, allow_new_levels=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: newdata has 1 row(s) with levels of 'Subject' not in the fit; pass allow_new_levels=True ...
    """
    if newdata is None:
        return fit.fitted.rename("predicted") if random else pd.Series(
            fit._marginal, index=fit.design.data_index, name="predicted")
    new = as_dataframe(newdata)
    design = fit.design
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            X = np.asarray(design.fixed.spec.get_model_matrix(new, na_action="ignore"), dtype=float)
        for w in caught:
            if "categories" in str(w.message) and "not seen" in str(w.message):
                detail = str(w.message).split(":", 1)[1].split(".")[0].strip()
                cols = [c for c in new.columns if any(str(v) in detail for v in new[c].astype(str).unique())]
                where = f"column {cols[0]!r}" if cols else "a factor"
                raise ValueError(
                    f"newdata has a level of {where} not seen in the fit ({detail}); "
                    "a fixed effect cannot be predicted for a new level"
                )
    except ValueError:
        raise
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
