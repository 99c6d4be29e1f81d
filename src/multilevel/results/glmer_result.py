"""``GlmerResult``: the immutable result of a generalized linear mixed model fit."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from ..lmm.convergence import singular_message, singular_terms

__all__ = ["GlmerResult"]


@dataclass(frozen=True, eq=False)
class GlmerResult:
    """A fitted GLMM (Laplace, or glmer's nAGQ = 0 stage), with glmer's accessors.

    Build it with :func:`multilevel.glmer`.

    Attributes
    ----------
    formula : str
    family : Family
    nagq : int
    theta : pandas.Series
    fixef : pandas.Series
    vcov : pandas.DataFrame
        From the Hessian of the Laplace deviance over (theta, beta), as glmer's
        default ``use.hessian = TRUE``.
    loglik : float
        Laplace approximation to the log-likelihood.

    Examples
    --------
    >>> import multilevel as ml
    >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              ml.datasets.load("cbpp"))
    >>> round(m.loglik, 2), m.nobs, m.ngroups
    (-92.03, 56, {'herd': 15})
    """

    formula: str
    family: object
    nagq: int
    theta: pd.Series
    fixef: pd.Series
    vcov: pd.DataFrame
    loglik: float
    messages: tuple[str, ...]
    design: object = field(repr=False)
    optinfo: object = field(repr=False)
    data_name: str | None = field(default=None, repr=False)
    _pirls: object = field(default=None, repr=False)
    _prior: np.ndarray = field(default=None, repr=False)
    _T: tuple = field(default=(), repr=False)

    @classmethod
    def _build(cls, design, family, theta, beta, vcov, pirls, prior_weights, nagq, opt, response,
               formula, data_name=None) -> "GlmerResult":
        from ..linalg import ThetaLayout

        layout = ThetaLayout.from_k(tuple(t.k for t in design.terms))
        T = tuple(layout.factors(theta))
        names = list(design.fixed.names)
        tnames = layout.names(design.terms)
        ll = family.loglik(design.y, pirls.mu, prior_weights) - 0.5 * (float(pirls.u @ pirls.u) + pirls.logdet)
        messages = []
        sing = singular_terms(np.asarray(theta, dtype=float), layout, [t.label for t in design.terms],
                              [t.columns for t in design.terms])
        if sing:
            messages.append(singular_message(sing))
        if not opt.converged:
            messages.append(f"optimizer stopped early ({opt.result}); estimates may not be at the optimum")
        return cls(formula=formula, family=family, nagq=nagq,
                   theta=pd.Series(theta, index=tnames, name="theta"),
                   fixef=pd.Series(beta, index=names, name="Estimate"),
                   vcov=pd.DataFrame(vcov, index=names, columns=names), loglik=float(ll),
                   messages=tuple(messages), design=design, optinfo=opt, data_name=data_name,
                   _pirls=pirls, _prior=prior_weights, _T=T)

    # ------------------------------------------------------------- criteria
    @property
    def nobs(self) -> int:
        """Number of observations."""
        return self.design.n

    @property
    def ngroups(self) -> dict[str, int]:
        """Levels of each grouping factor."""
        return self.design.ngroups

    @property
    def df(self) -> int:
        """Number of parameters (fixed effects and theta)."""
        return len(self.fixef) + len(self.theta)

    @property
    def deviance(self) -> float:
        """-2 log-likelihood, as glmer's summary prints it."""
        return -2.0 * self.loglik

    @property
    def aic(self) -> float:
        """Akaike information criterion."""
        return self.deviance + 2.0 * self.df

    @property
    def bic(self) -> float:
        """Bayesian information criterion."""
        return self.deviance + np.log(self.nobs) * self.df

    @property
    def se(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.fixef.index, name="Std. Error")

    # ------------------------------------------------------- random effects
    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """Variance components (no residual row): group, name, variance, std_dev, corr."""
        rows = []
        for t, Tt in zip(self.design.terms, self._T):
            S = Tt @ Tt.T
            sd = np.sqrt(np.diag(S))
            for a, name in enumerate(t.columns):
                corr = tuple(float(S[a, c] / (sd[a] * sd[c])) if sd[a] * sd[c] > 0 else float("nan")
                             for c in range(a))
                rows.append((t.label, name, S[a, a], sd[a], corr))
        return pd.DataFrame(rows, columns=["group", "name", "variance", "std_dev", "corr"])

    @cached_property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects, per grouping factor."""
        out: dict[str, list] = {}
        start = 0
        for t, Tt in zip(self.design.terms, self._T):
            b = self._pirls.u[start: start + t.q].reshape(t.nlevels, t.k) @ Tt.T
            start += t.q
            out.setdefault(t.group, []).append(pd.DataFrame(b, index=t.levels.rename(t.group),
                                                            columns=list(t.columns)))
        return {g: pd.concat(parts, axis=1) for g, parts in out.items()}

    # ----------------------------------------------------- fitted/residuals
    @property
    def fitted(self) -> pd.Series:
        """Fitted means on the response scale."""
        return pd.Series(self._pirls.mu, index=self.design.data_index, name="fitted")

    def residuals(self, type: str = "deviance") -> pd.Series:
        """Residuals: ``deviance`` (default, as glmer), ``pearson``, ``response`` or ``working``."""
        y, mu, w = self.design.y, self._pirls.mu, self._prior
        if type == "deviance":
            r = np.sign(y - mu) * np.sqrt(np.maximum(self.family.deviance_residuals(y, mu, w), 0))
        elif type == "pearson":
            r = (y - mu) * np.sqrt(w / self.family.variance(mu))
        elif type == "response":
            r = y - mu
        elif type == "working":
            r = (y - mu) / self.family.link.mu_eta(self._pirls.eta)
        else:
            raise ValueError(f"unknown residual type {type!r}; use deviance, pearson, response or working")
        return pd.Series(r, index=self.design.data_index, name=f"{type} residuals")

    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, z value, Pr(>|z|) (Wald z tests, as glmer)."""
        est, se = self.fixef.to_numpy(), self.se.to_numpy()
        z = est / se
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "z value": z,
                             "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))}, index=self.fixef.index)

    def summary(self) -> str:
        """glmer-style summary text."""
        from .summary import glmer_summary

        return glmer_summary(self)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<GlmerResult {self.family.name}({self.family.link.name}) {self.formula!r}: "
                f"{self.nobs} obs, logLik {self.loglik:.4f}>")
