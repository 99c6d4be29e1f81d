"""t tests, contrasts and ANOVA tables of fixed effects, as lmerTest reports them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..arguments import as_bool, short_repr
from ..results.rtable import AnovaTable, CoefTable
from .contrasts import type1_contrasts, type2_contrasts, type3_contrasts
from .kenward_roger import kr_contest1d, kr_contest_md
from .satterthwaite import contest1d, contest_md

__all__ = ["coef_table", "contest", "anova_table", "check_ddf"]

_DDF = {"satterthwaite": "Satterthwaite", "kenward-roger": "Kenward-Roger"}


def check_ddf(ddf: str | None) -> str | None:
    """Normalise a ``ddf`` name; None means lme4's plain z-free t values."""
    if ddf is None:
        return None
    if not isinstance(ddf, str):
        raise TypeError(f"ddf must be 'satterthwaite', 'kenward-roger' or None, not {short_repr(ddf)}")
    key = ddf.lower().replace("_", "-")
    if key in ("kr", "kenward-roger", "kenwardroger"):
        key = "kenward-roger"
    if key not in _DDF:
        raise ValueError(f"unknown ddf {short_repr(ddf)}; use 'satterthwaite', 'kenward-roger' or None")
    return key


def _tests_ddf(ddf) -> str:
    """The ddf of an F or t test: 'satterthwaite' or 'kenward-roger' (None, lme4's
    table without df, has no test to give)."""
    if ddf is None:
        raise ValueError("ddf must be 'satterthwaite' or 'kenward-roger' for a test; ddf=None (no df) is "
                         "for coef_table()")
    return check_ddf(ddf)


def _test1d(fit, key: str, L) -> dict:
    if key == "kenward-roger":
        return kr_contest1d(fit._kenward_roger, fit.fixef.to_numpy(), L)
    return contest1d(fit._varpar_cov, fit.fixef.to_numpy(), L)


def _test_md(fit, key: str, L) -> dict:
    """F test row as lmerTest reports it (KR: scaled F; Sum Sq from the unscaled F)."""
    if key == "kenward-roger":
        r = kr_contest_md(fit._kenward_roger, fit.fixef.to_numpy(), L)
        F_ss = r["F_unscaled"]
    else:
        r = contest_md(fit._varpar_cov, fit.fixef.to_numpy(), L)
        F_ss = r["F"]
    s2 = fit.sigma**2
    return {"Sum Sq": F_ss * r["NumDF"] * s2, "Mean Sq": F_ss * s2, "NumDF": float(r["NumDF"]),
            "DenDF": r["DenDF"], "F value": r["F"], "Pr(>F)": r["p"]}


def coef_table(fit, ddf: str | None = "satterthwaite") -> CoefTable:
    """Fixed-effects table: Estimate, Std. Error, (df,) t value, (Pr(>|t|)).

    A DataFrame (:class:`~multilevel.results.rtable.CoefTable`) that prints as
    the coefficient block of lmerTest's summary, with significance stars.

    With ``ddf="kenward-roger"`` the standard errors are the adjusted ones (as
    lmerTest shows them).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> coef_table(fit)["df"].round(1).tolist()
    [160.5, 151.0, 149.6]
    """
    key = check_ddf(ddf)
    est, se = fit.fixef.to_numpy(), fit.se.to_numpy()
    if key is None:
        return CoefTable({"Estimate": est, "Std. Error": se, "t value": est / se}, index=fit.fixef.index)
    rows = [_test1d(fit, key, np.eye(len(est))[i]) for i in range(len(est))]
    return CoefTable({"Estimate": est, "Std. Error": [r["SE"] for r in rows],
                      "df": [r["df"] for r in rows], "t value": [r["t"] for r in rows],
                      "Pr(>|t|)": [r["p"] for r in rows]}, index=fit.fixef.index)


def contest(fit, L, ddf: str = "satterthwaite", joint: bool = True) -> pd.DataFrame:
    """Test the contrasts ``L beta = 0``.

    Parameters
    ----------
    fit : LmerResult
    L : array-like (p,) or (m, p)
        Contrast rows, one coefficient per fixed effect (in ``fit.fixef`` order).
    ddf : {"satterthwaite", "kenward-roger"}
    joint : bool, default True
        One F test of all rows; False gives a t test of each row.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> contest(fit, [[0, 1, 0], [0, 0, 1]])[["NumDF"]].iloc[0].tolist()
    [2.0]
    >>> contest(fit, [0, 0, 1], joint=False)["df"].round(1).tolist()
    [149.6]
    """
    key = _tests_ddf(ddf)
    joint = as_bool(joint, "joint")
    p = len(fit.fixef)
    try:
        Lm = np.atleast_2d(np.asarray(L, dtype=float))
    except (TypeError, ValueError):
        raise ValueError("L must be numbers: a vector or a matrix with one column per fixed effect") from None
    if Lm.ndim != 2:
        raise ValueError(f"L must be a vector or a matrix (one row per contrast), not an array of "
                         f"{Lm.ndim} dimensions")
    if Lm.shape[1] != p:
        raise ValueError(
            f"L has {Lm.shape[-1]} columns but the model has {p} fixed effects "
            f"({', '.join(fit.fixef.index)}); give one coefficient per fixed effect"
        )
    if not np.all(np.isfinite(Lm)):
        raise ValueError("L has missing or infinite entries")
    if not np.any(Lm):
        raise ValueError("L is all zeros: a contrast needs at least one nonzero coefficient")
    if joint:
        return pd.DataFrame([_test_md(fit, key, Lm)])
    rows = [_test1d(fit, key, row) for row in Lm]
    return pd.DataFrame([{"Estimate": r["Estimate"], "Std. Error": r["SE"], "df": r["df"],
                          "t value": r["t"], "Pr(>|t|)": r["p"]} for r in rows])


def anova_table(fit, type: int | str = 3, ddf: str = "satterthwaite") -> AnovaTable:
    """ANOVA table of the fixed-effects terms, as lmerTest's ``anova(fit)``.

    Parameters
    ----------
    fit : LmerResult
    type : {3, 2, 1}
        Type III (marginal, default), type II (each term after those that do
        not contain it, lmerTest's rule) or type I (sequential) hypotheses;
        also "III", "II", "I".
    ddf : {"satterthwaite", "kenward-roger"}

    Returns
    -------
    AnovaTable
        A DataFrame with Sum Sq, Mean Sq, NumDF, DenDF, F value, Pr(>F), one
        row per term, that prints as lmerTest's table (title and stars).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> anova_table(fit)["F value"].round(3).tolist()
    [209.522, 15.907]
    """
    key = _tests_ddf(ddf)
    if isinstance(type, bool) or not isinstance(type, (int, str, np.integer)):
        raise TypeError(f"type must be 3 (marginal), 2 (hierarchical) or 1 (sequential), not {short_repr(type)}")
    t = {"III": "3", "II": "2", "I": "1"}.get(str(type).upper(), str(type))
    if t not in ("1", "2", "3"):
        raise ValueError(f"unknown ANOVA type {short_repr(type)}; use 3 (marginal), 2 (hierarchical) "
                         "or 1 (sequential)")
    contrasts = {"1": type1_contrasts, "2": type2_contrasts, "3": type3_contrasts}[t]
    Ls = contrasts(fit.design)
    rows = {term: _test_md(fit, key, L) for term, L in Ls.items() if L.shape[0]}
    table = pd.DataFrame.from_dict(rows, orient="index",
                                   columns=["Sum Sq", "Mean Sq", "NumDF", "DenDF", "F value", "Pr(>F)"])
    method = "Kenward-Roger's" if key == "kenward-roger" else "Satterthwaite's"
    table = AnovaTable(table)
    table.attrs["title"] = (f"Type {'I' * int(t)} Analysis of Variance Table "
                            f"with {method} method")
    return table
