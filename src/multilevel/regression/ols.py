"""Linear regression without random effects (R's ``lm``): complete pooling.

Least squares by a QR factorisation of ``W^1/2 X``; aliased columns are
dropped as lm drops them (their coefficients reported as missing). The
log-likelihood is R's ``logLik.lm`` (ML, with the weights' term), so the
fit compares with ``lmer`` fits in :func:`multilevel.anova`, as lme4 allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from ..results.rtable import CoefTable
from .common import FixedOnly

__all__ = ["LmResult", "lm"]


@dataclass(frozen=True)
class LmResult(FixedOnly):
    """A linear regression fitted by :func:`lm`.

    Attributes
    ----------
    formula : str
    fixef : Series
        Coefficients (also ``coef``).
    vcov : DataFrame
    sigma : float
        Residual standard error.
    df_resid : int
    loglik : float
    r2, adj_r2 : float
    fstat : tuple (F, numerator df, denominator df) or None
    design : Design
    data_name : str or None

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy"))
    >>> fit.fixef.round(3).tolist(), round(fit.sigma, 3)
    ([251.405, 10.467], 47.715)
    """

    formula: str
    fixef: pd.Series
    vcov: pd.DataFrame
    sigma: float
    df_resid: int
    loglik: float
    r2: float
    adj_r2: float
    fstat: tuple | None
    design: object = field(repr=False)
    data_name: str | None = None
    reml: bool = False
    offset_name: str | None = None

    @property
    def df(self) -> int:
        """Parameters: the coefficients and sigma (R's ``attr(logLik, "df")``)."""
        return int(self.fixef.notna().sum()) + 1

    @property
    def messages(self) -> tuple:
        return ()

    @property
    def bic(self) -> float:
        """BIC over the rows of positive weight (R's ``nobs``)."""
        w = self.design.weights
        n = self.nobs if w is None else int(np.sum(np.asarray(w) > 0))
        return -2 * self.loglik + math.log(n) * self.df

    @property
    def fitted(self) -> pd.Series:
        beta = self.fixef.fillna(0.0).to_numpy()
        eta = self.design.X @ beta + (0.0 if self.design.offset is None else self.design.offset)
        return pd.Series(eta, index=self.design.data_index, name="fitted")

    @property
    def residuals(self) -> pd.Series:
        return pd.Series(self.design.y - self.fitted.to_numpy(), index=self.design.data_index,
                         name="residuals")

    def coef_table(self) -> CoefTable:
        """Estimates with t tests, printing as R's ``summary(lm)`` coefficient block.

        Examples
        --------
        >>> import multilevel as ml
        >>> print(ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy")).coef_table())
                    Estimate Std. Error t value Pr(>|t|)
        (Intercept)  251.405      6.610  38.033  < 2e-16 ***
        Days          10.467      1.238   8.454 9.89e-15 ***
        ---
        Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
        """
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        t = self.fixef.to_numpy() / se
        return CoefTable(pd.DataFrame({"Estimate": self.fixef.to_numpy(), "Std. Error": se, "t value": t,
                                       "Pr(>|t|)": 2 * stats.t.sf(np.abs(t), self.df_resid)},
                                      index=self.fixef.index))

    def predict(self, newdata=None, offset=None) -> pd.Series:
        """Predictions for new (or the fitted) data, offsets included.

        Parameters
        ----------
        newdata : DataFrame, optional
        offset : str or array-like, optional
            The offset of ``newdata`` when the fit's was given as values;
            a column name given to :func:`lm` is read from ``newdata``, and
            ``offset(...)`` terms of the formula are evaluated on it.

        Examples
        --------
        >>> import multilevel as ml, pandas as pd
        >>> fit = ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy"))
        >>> fit.predict(pd.DataFrame({"Days": [0, 10]})).round(1).tolist()
        [251.4, 356.1]
        """
        if newdata is None:
            return self.fitted.rename("predicted")
        return pd.Series(new_linear_predictor(self, newdata, offset), name="predicted")

    def summary(self) -> str:
        """R's ``summary(lm)``: coefficients, residual standard error, R-squared, F test."""
        lines = [f"Linear regression: {self.formula}", "", "Coefficients:"]
        lines += str(self.coef_table()).splitlines()
        lines += ["", f"Residual standard error: {self.sigma:.4g} on {self.df_resid} degrees of freedom",
                  f"Multiple R-squared:  {self.r2:.4g},\tAdjusted R-squared:  {self.adj_r2:.4g}"]
        if self.fstat is not None:
            F, d1, d2 = self.fstat
            lines.append(f"F-statistic: {F:.4g} on {d1} and {d2} DF,  p-value: {stats.f.sf(F, d1, d2):.4g}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<LmResult {self.formula!r}: {self.nobs} obs, log-likelihood {self.loglik:.4f}>"


def new_linear_predictor(fit, newdata, offset=None) -> pd.Series:
    """``X beta + offset`` of a fit without random effects on new data."""
    from ..design.data import as_dataframe, as_vector
    from ..design.design import formula_offset
    from ..predict import _fixed_matrix, _newdata_offset

    new = as_dataframe(newdata)
    eta = _fixed_matrix(fit.design, new) @ fit.fixef.fillna(0.0).to_numpy()
    off = _newdata_offset(fit, newdata, offset)
    if off is not None:
        eta = eta + np.asarray(as_vector(off, new, "offset"), dtype=float)
    in_formula = formula_offset(fit.design.formula, new)
    if in_formula is not None:
        eta = eta + in_formula
    return pd.Series(eta, index=new.index)


def ols_fit(X: np.ndarray, y: np.ndarray, w: np.ndarray | None = None):
    """(coefficients with NaN for aliased columns, (X'WX)^-1 of the kept ones, kept, rss)."""
    from ..design.fixed import independent_columns

    sw = np.ones(len(y)) if w is None else np.sqrt(w)
    Xw, yw = X * sw[:, None], y * sw
    keep = independent_columns(Xw) if X.shape[1] else np.zeros(0, dtype=int)
    beta = np.full(X.shape[1], np.nan)
    if keep.size:
        Q, R = np.linalg.qr(Xw[:, keep])
        b = np.linalg.solve(R, Q.T @ yw)
        beta[keep] = b
        Rinv = np.linalg.inv(R)
        XtXinv = Rinv @ Rinv.T
        rss = float(np.sum((yw - Xw[:, keep] @ b) ** 2))
    else:
        XtXinv = np.zeros((0, 0))
        rss = float(np.sum(yw ** 2))
    return beta, XtXinv, keep, rss


def lm(formula: str, data, weights=None, offset=None) -> LmResult:
    """Fit a linear regression without random effects, as R's ``lm``.

    Parameters
    ----------
    formula : str
        A formula without random-effects terms (``y ~ x + f``).
    data : DataFrame
    weights, offset : str or array-like, optional

    Returns
    -------
    LmResult

    Examples
    --------
    >>> import multilevel as ml
    >>> sleep = ml.datasets.load("sleepstudy")
    >>> pooled = ml.lm("Reaction ~ Days", sleep)
    >>> mixed = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    >>> round(float(ml.anova(pooled, mixed).table["Chisq"].iloc[1]), 2)
    106.21
    """
    from ..design import build_design
    from ..formula import parse_formula

    parsed = parse_formula(formula)
    if parsed.bars:
        raise ValueError("lm fits fixed effects only: remove the random-effects terms "
                         "(... | group), or fit the model with ml.lmer")
    design = build_design(parsed, data, weights=weights, offset=offset)
    y = design.y - (0.0 if design.offset is None else design.offset)
    w = design.weights
    beta, XtXinv, keep, rss = ols_fit(design.X, y, w)
    # rows of weight zero carry no information: R's lm leaves them out of n
    n = design.n if w is None else int(np.sum(np.asarray(w) > 0))
    p = keep.size
    df_resid = n - p
    sigma = math.sqrt(rss / df_resid) if df_resid > 0 else float("nan")
    names = list(design.fixed.names)
    V = np.full((len(names), len(names)), np.nan)
    V[np.ix_(keep, keep)] = sigma ** 2 * XtXinv
    ww = np.ones(design.n) if w is None else np.asarray(w, dtype=float)
    pos = ww > 0
    loglik = 0.5 * (np.sum(np.log(ww[pos])) - n * (math.log(2 * math.pi) + 1 - math.log(n) + math.log(rss)))
    intercept = "(Intercept)" in names
    center = np.sum(ww * y) / np.sum(ww) if intercept else 0.0
    tss = float(np.sum(ww * (y - center) ** 2))
    r2 = 1 - rss / tss if tss > 0 else float("nan")
    dfm = p - int(intercept)
    adj = 1 - (1 - r2) * (n - int(intercept)) / df_resid if df_resid > 0 else float("nan")
    fstat = ((tss - rss) / dfm / sigma ** 2, dfm, df_resid) if dfm > 0 and df_resid > 0 else None
    return LmResult(formula=formula, fixef=pd.Series(beta, index=names, name="Estimate"),
                    vcov=pd.DataFrame(V, index=names, columns=names), sigma=sigma, df_resid=df_resid,
                    loglik=float(loglik), r2=float(r2), adj_r2=float(adj), fstat=fstat, design=design,
                    data_name=getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None,
                    offset_name=offset if isinstance(offset, str) else None)
