"""Generalized linear models without random effects (R's ``glm``), by iteratively reweighted least squares.

Responses as ``glmer`` takes them (0/1, proportions with weights,
``cbind(successes, failures)``, counts) and the same families and links;
the fit follows R's ``glm.fit`` (its starting values, convergence on the
relative change of the deviance, 1e-8, at most 25 iterations), and the
log-likelihood is the one ``glmer`` reports, so the fits compare in
:func:`multilevel.anova`.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from ..results.rtable import CoefTable
from .common import FixedOnly
from .ols import ols_fit

__all__ = ["GlmResult", "glm"]


@dataclass(frozen=True)
class GlmResult(FixedOnly):
    """A generalized linear model fitted by :func:`glm`.

    Attributes
    ----------
    formula : str
    family : Family
    fixef : Series
    vcov : DataFrame
    deviance, null_deviance : float
    df_resid, df_null : int
    loglik : float
    iterations : int
    converged : bool
    design : Design
    prior_weights : ndarray

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.glm("cbind(incidence, size - incidence) ~ period", ml.datasets.load("cbpp"),
    ...              family="binomial")
    >>> fit.fixef.round(4).tolist(), round(fit.deviance, 3)
    ([-1.269, -1.1708, -1.3014, -1.7823], 114.102)
    """

    formula: str
    family: object
    fixef: pd.Series
    vcov: pd.DataFrame
    deviance: float
    null_deviance: float
    df_resid: int
    df_null: int
    loglik: float
    iterations: int
    converged: bool
    design: object = field(repr=False)
    prior_weights: np.ndarray = field(repr=False, default=None)
    data_name: str | None = None
    nagq: int = 1
    reml: bool = False
    offset_name: str | None = None

    @property
    def df(self) -> int:
        """Parameters: the coefficients (and the dispersion of a gaussian model)."""
        return int(self.fixef.notna().sum()) + int(self.family.name == "gaussian")

    @property
    def messages(self) -> tuple:
        return () if self.converged else ("glm did not converge",)

    @property
    def bic(self) -> float:
        """BIC over every row, zero weights included, as R's ``BIC(glm)`` counts them."""
        return -2 * self.loglik + math.log(self.nobs) * self.df

    def _eta(self) -> np.ndarray:
        d = self.design
        return d.X @ self.fixef.fillna(0.0).to_numpy() + (0.0 if d.offset is None else d.offset)

    @property
    def fitted(self) -> pd.Series:
        """The fitted means (response scale)."""
        return pd.Series(self.family.link.inverse(self._eta()), index=self.design.data_index, name="fitted")

    def coef_table(self) -> CoefTable:
        """Estimates with z tests, printing as R's ``summary(glm)`` coefficient block.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.glm("TICKS ~ YEAR", ml.datasets.load("grouseticks"), family="poisson")
        >>> fit.coef_table()["z value"].round(2).tolist()
        [47.05, 13.88, -18.28]
        """
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        z = self.fixef.to_numpy() / se
        return CoefTable(pd.DataFrame({"Estimate": self.fixef.to_numpy(), "Std. Error": se, "z value": z,
                                       "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))}, index=self.fixef.index))

    def predict(self, newdata=None, type: str = "link", offset=None) -> pd.Series:
        """Predictions on the link (default) or response scale, offsets included (see
        :meth:`LmResult.predict <multilevel.regression.LmResult.predict>`).

        Examples
        --------
        >>> import multilevel as ml, pandas as pd
        >>> fit = ml.glm("TICKS ~ YEAR", ml.datasets.load("grouseticks"), family="poisson")
        >>> fit.predict(pd.DataFrame({"YEAR": ["95", "96"]}), type="response").round(2).tolist()
        [5.95, 11.1]
        """
        if type not in ("link", "response"):
            raise ValueError(f"type must be 'link' or 'response', not {type!r}")
        if newdata is None:
            eta = self._eta()
            index = self.design.data_index
        else:
            from .ols import new_linear_predictor

            lin = new_linear_predictor(self, newdata, offset)
            eta, index = lin.to_numpy(), lin.index
        out = self.family.link.inverse(eta) if type == "response" else eta
        return pd.Series(out, index=index, name="predicted")

    def summary(self) -> str:
        lines = [f"Generalized linear model: {self.family.name} ({self.family.link.name}): {self.formula}",
                 "", "Coefficients:"]
        lines += str(self.coef_table()).splitlines()
        lines += ["", f"    Null deviance: {self.null_deviance:.2f}  on {self.df_null}  degrees of freedom",
                  f"Residual deviance: {self.deviance:.2f}  on {self.df_resid}  degrees of freedom",
                  f"AIC: {self.aic:.5g}", "", f"Number of Fisher Scoring iterations: {self.iterations}"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<GlmResult {self.formula!r}: {self.nobs} obs, log-likelihood {self.loglik:.4f}>"


def _start(fam, y: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """R's ``mustart`` of each family."""
    if fam.name == "binomial":
        return (wt * y + 0.5) / (wt + 1)
    if fam.name == "poisson":
        return y + 0.1
    return y.astype(float)


def irls(fam, X: np.ndarray, y: np.ndarray, wt: np.ndarray, offset: np.ndarray | None,
         epsilon: float = 1e-8, maxit: int = 25):
    """R's ``glm.fit``: (beta with NaN for aliased columns, (X'WX)^-1, deviance, iterations, converged)."""
    off = np.zeros(len(y)) if offset is None else offset
    link = fam.link
    mu = _start(fam, y, wt)
    eta = link.fun(mu)
    dev_old = float(np.sum(fam.deviance_residuals(y, mu, wt)))
    converged = False
    beta = XtXinv = None
    it = 0
    for it in range(1, maxit + 1):
        d = link.mu_eta(eta)
        z = eta - off + (y - mu) / d
        w = wt * d ** 2 / fam.variance(mu)
        good = (wt > 0) & (d != 0)
        beta, XtXinv, keep, _ = ols_fit(X[good], z[good], w[good])
        eta = X @ np.nan_to_num(beta) + off
        mu = link.inverse(eta)
        dev = float(np.sum(fam.deviance_residuals(y, mu, wt)))
        if abs(dev - dev_old) / (abs(dev) + 0.1) < epsilon:
            converged = True
            break
        dev_old = dev
    return beta, XtXinv, keep, dev, it, converged


def glm(formula: str, data, family="binomial", link=None, weights=None, offset=None) -> GlmResult:
    """Fit a generalized linear model without random effects, as R's ``glm``.

    Parameters
    ----------
    formula : str
        A formula without random-effects terms; the response as for ``glmer``.
    data : DataFrame
    family : {"binomial", "poisson", "gaussian"}
    link : str, optional
    weights, offset : str or array-like, optional

    Returns
    -------
    GlmResult

    Examples
    --------
    >>> import multilevel as ml
    >>> cbpp = ml.datasets.load("cbpp")
    >>> pooled = ml.glm("cbind(incidence, size - incidence) ~ period", cbpp, family="binomial")
    >>> herds = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp)
    >>> round(float(ml.anova(pooled, herds).table["Chisq"].iloc[1]), 1)
    14.0
    """
    from ..design import build_design
    from ..families import family as make_family
    from ..formula import parse_formula
    from ..glmm.fit import _response
    from ..design.data import as_dataframe

    fam = make_family(family, link)
    if fam.name == "cumulative":
        raise ValueError("an ordinal response is fitted by ml.clmm(formula, data, link=...), with a random-effects "
                         "term")
    if fam.dispersion_name is not None and fam.name != "gaussian":
        raise ValueError(f"ml.glm fits binomial, poisson and gaussian models; the {fam.name} "
                         f"family's {fam.dispersion_name} is estimated by ml.glmer, which needs a "
                         "random-effects term")
    parsed = parse_formula(formula)
    if parsed.bars:
        raise ValueError("glm fits fixed effects only: remove the random-effects terms "
                         "(... | group), or fit the model with ml.glmer")
    frame = as_dataframe(data)
    frame, parsed_y, weights = _response(parsed, frame, weights, fam)
    design = build_design(parsed_y, frame, weights=weights, offset=offset)
    wt = np.ones(design.n) if design.weights is None else np.asarray(design.weights, dtype=float)
    fam.check_response(design.y, None if design.weights is None else wt, parsed.response)
    design = replace(design, weights=None)
    y = np.asarray(design.y, dtype=float)
    beta, XtXinv, keep, dev, it, converged = irls(fam, design.X, y, wt, design.offset)
    n = int(np.sum(wt > 0))  # rows of weight zero carry no information (R's glm leaves them out)
    if not converged:
        warnings.warn(f"glm did not converge in {it} iterations", UserWarning, stacklevel=2)
    names = list(design.fixed.names)
    mu = fam.link.inverse(design.X @ np.nan_to_num(beta) + (0.0 if design.offset is None else design.offset))
    dispersion = 1.0
    if fam.name == "gaussian":
        dispersion = float(np.sum(wt * (y - mu) ** 2) / max(n - keep.size, 1))
    V = np.full((len(names), len(names)), np.nan)
    V[np.ix_(keep, keep)] = dispersion * XtXinv
    intercept = "(Intercept)" in names
    if intercept:
        _, _, _, null_dev, _, _ = irls(fam, np.ones((design.n, 1)), y, wt, design.offset)
    else:
        eta0 = np.zeros(design.n) if design.offset is None else design.offset
        null_dev = float(np.sum(fam.deviance_residuals(y, fam.link.inverse(eta0), wt)))
    if fam.name == "gaussian":  # R's logLik.glm: the dispersion at its ML estimate
        rss = float(np.sum(wt * (y - mu) ** 2))
        loglik = 0.5 * (float(np.sum(np.log(wt[wt > 0]))) - n * (math.log(2 * math.pi) + 1 - math.log(n)
                                                                    + math.log(rss)))
    else:
        loglik = float(fam.loglik(y, mu, wt, rounded=True))  # (R's logLik.glm)
    return GlmResult(formula=formula, family=fam, fixef=pd.Series(beta, index=names, name="Estimate"),
                     vcov=pd.DataFrame(V, index=names, columns=names), deviance=dev,
                     null_deviance=float(null_dev), df_resid=n - keep.size,
                     df_null=n - int(intercept), loglik=loglik, iterations=it, converged=converged,
                     design=design, prior_weights=wt,
                     data_name=getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None,
                     offset_name=offset if isinstance(offset, str) else None)
