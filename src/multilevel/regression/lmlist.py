"""One linear regression per group (lme4's ``lmList``): no pooling.

``ml.lmlist("y ~ x | g", data)`` fits ``y ~ x`` to each level of ``g``
separately. The fixed-effects matrix is built once for all rows (so every
group's coefficients have the same columns) and sliced per group; a column
that a group's rows cannot estimate is reported as missing there, as lm
reports an aliased coefficient. Standard errors, t tests and intervals use
the pooled residual standard error, as lme4's ``summary`` and ``confint``
of an lmList do by default (``pool=True``).

Where a group cannot estimate every coefficient, its residual df here are
its rows less the coefficients it estimates; lme4's pooled standard error
subtracts every coefficient, the missing ones too (a group of one row then
adds -1 df), and lme4 leaves out altogether a group whose factor has a
single level. The pooled figures agree wherever every group estimates every
coefficient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import as_probability, short_repr
from .ols import ols_fit

__all__ = ["LmList", "lmlist"]


@dataclass(frozen=True)
class LmList:
    """Per-group regressions fitted by :func:`lmlist`.

    Attributes
    ----------
    formula : str
    group : str
    coef : DataFrame
        One row per group, one column per coefficient (NaN where not estimable).
    se : DataFrame
        Standard errors from the pooled residual standard error.
    sigma : float
        The pooled residual standard error.
    df_resid : int
        Its degrees of freedom (the groups' residual df summed).
    nobs : Series
        Rows per group.

    Examples
    --------
    >>> import multilevel as ml
    >>> fits = ml.lmlist("Reaction ~ Days | Subject", ml.datasets.load("sleepstudy"))
    >>> fits.coef.loc["308"].round(3).tolist(), round(fits.sigma, 3)
    ([244.193, 21.765], 25.592)
    """

    formula: str
    group: str
    coef: pd.DataFrame
    se: pd.DataFrame
    sigma: float
    df_resid: int
    nobs: pd.Series
    rss: pd.Series = field(repr=False)

    def coef_table(self) -> pd.DataFrame:
        """Estimates, pooled standard errors, t values and p values, one row per group and coefficient.

        Examples
        --------
        >>> import multilevel as ml
        >>> fits = ml.lmlist("Reaction ~ Days | Subject", ml.datasets.load("sleepstudy"))
        >>> list(fits.coef_table().columns)
        ['Estimate', 'Std. Error', 't value', 'Pr(>|t|)']
        """
        est = self.coef.stack(future_stack=True)
        se = self.se.stack(future_stack=True)
        t = est / se
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": t,
                             "Pr(>|t|)": 2 * stats.t.sf(np.abs(t), self.df_resid)})

    def confint(self, level: float = 0.95) -> dict[str, pd.DataFrame]:
        """Pooled intervals of each group's coefficients: ``{"lower": ..., "upper": ...}``.

        Examples
        --------
        >>> import multilevel as ml
        >>> fits = ml.lmlist("Reaction ~ Days | Subject", ml.datasets.load("sleepstudy"))
        >>> ci = fits.confint()
        >>> bool((ci["lower"] < fits.coef).all().all())
        True
        """
        level = as_probability(level, "level")
        q = stats.t.ppf(0.5 + level / 2, self.df_resid)
        return {"lower": self.coef - q * self.se, "upper": self.coef + q * self.se}

    def __repr__(self) -> str:
        return (f"<LmList {self.formula!r}: {len(self.coef)} groups of {self.group}, "
                f"pooled residual standard error {self.sigma:.4g} on {self.df_resid} df>")


def lmlist(formula: str, data, pool: bool = True) -> LmList:
    """Fit one linear regression per group, as lme4's ``lmList``.

    Parameters
    ----------
    formula : str
        ``"y ~ x | g"``: the regression, then the grouping column after ``|``.
    data : DataFrame
    pool : bool, default True
        Standard errors from the pooled residual standard error (lme4's
        default); False: each group's own.

    Returns
    -------
    LmList

    Examples
    --------
    >>> import multilevel as ml
    >>> fits = ml.lmlist("course ~ 1 + female | school", ml.datasets.load("gcsemv"))
    >>> fits.coef.shape
    (73, 2)
    """
    from ..design import build_design
    from ..design.data import as_dataframe

    if not isinstance(formula, str) or formula.count("|") != 1 or "(" in formula.split("|", 1)[1]:
        raise ValueError(f"lmlist needs a formula 'y ~ x | g' (one '|' before the grouping column), "
                         f"not {short_repr(formula)}")
    rhs, group = formula.split("|", 1)
    group = group.strip()
    frame = as_dataframe(data)
    if group not in frame.columns:
        raise ValueError(f"the grouping column {group!r} is not in the data")
    design = build_design(rhs.strip(), frame.dropna(subset=[group]))
    y = design.y - (0.0 if design.offset is None else design.offset)
    g = design.data[group].astype(object).to_numpy()
    codes, levels = pd.factorize(pd.Series(g).astype(str), sort=False)
    if isinstance(frame[group].dtype, pd.CategoricalDtype):
        order = [str(c) for c in frame[group].cat.categories if str(c) in set(levels)]
        levels = pd.Index(order)
        codes = pd.Index(order).get_indexer(pd.Series(g).astype(str))
    names = list(design.fixed.names)
    coef = np.full((len(levels), len(names)), np.nan)
    var = np.full((len(levels), len(names)), np.nan)
    rss = np.zeros(len(levels))
    dfs = np.zeros(len(levels), dtype=int)
    nobs = np.zeros(len(levels), dtype=int)
    order = np.argsort(codes, kind="stable")  # each group's rows, without a mask per group
    bounds = np.searchsorted(codes[order], np.arange(len(levels) + 1))
    for j in range(len(levels)):
        rows = order[bounds[j]:bounds[j + 1]]
        beta, XtXinv, keep, r = ols_fit(design.X[rows], y[rows])
        coef[j] = beta
        if keep.size:
            var[j, keep] = np.diag(XtXinv)
        rss[j], nobs[j], dfs[j] = r, rows.size, rows.size - keep.size
    df_resid = int(dfs.sum())
    sigma = math.sqrt(rss.sum() / df_resid) if df_resid > 0 else float("nan")
    if pool:
        se = sigma * np.sqrt(var)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            own = np.sqrt(np.where(dfs > 0, rss / np.where(dfs > 0, dfs, 1), np.nan))
        se = own[:, None] * np.sqrt(var)
    idx = pd.Index(levels, name=group)
    return LmList(formula=formula, group=group, coef=pd.DataFrame(coef, index=idx, columns=names),
                  se=pd.DataFrame(se, index=idx, columns=names), sigma=sigma, df_resid=df_resid,
                  nobs=pd.Series(nobs, index=idx, name="nobs"), rss=pd.Series(rss, index=idx))
