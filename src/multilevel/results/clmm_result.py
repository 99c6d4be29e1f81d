"""``ClmmResult``: a cumulative link mixed model (ordinal::clmm), read from its GLMM fit.

The fit itself is a :class:`~multilevel.results.glmer_result.GlmerResult` of
the cumulative family with an intercept in the linear predictor (see
:mod:`multilevel.families.ordinal`); this result reports it as clmm does:
location coefficients without an intercept, thresholds ``theta_j = c_j -
intercept`` with their standard errors, and category probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import as_choice

__all__ = ["ClmmResult"]


@dataclass(frozen=True, eq=False)
class ClmmResult:
    """A fitted cumulative link mixed model. Build it with :func:`multilevel.clmm`.

    Attributes
    ----------
    formula : str
    link : {"logit", "probit", "cloglog"}
    levels : tuple of str
        The response's categories, in order.
    glmm : GlmerResult
        The underlying fit (its fixed effects include the intercept the
        thresholds are measured from).

    Examples
    --------
    >>> import multilevel as ml
    >>> m = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"))
    >>> round(m.loglik, 3), m.beta.round(3).tolist()          # clmm: -81.565, 3.063 1.835
    (-81.565, [3.063, 1.835])
    >>> m.thresholds.round(2).tolist()                         # -1.624 1.513 4.229 6.089
    [-1.62, 1.51, 4.23, 6.09]
    """

    formula: str
    link: str
    levels: tuple
    glmm: object = field(repr=False)
    response: str = ""

    # ------------------------------------------------------------ estimates
    @property
    def family(self):
        return self.glmm.family

    @property
    def design(self):
        return self.glmm.design

    @property
    def messages(self) -> tuple:
        return self.glmm.messages

    @property
    def nagq(self) -> int:
        return self.glmm.nagq

    @property
    def data_name(self):
        return self.glmm.data_name

    @cached_property
    def _location(self) -> list:
        return [n for n in self.glmm.fixef.index if n != "(Intercept)"]

    @property
    def beta(self) -> pd.Series:
        """Location coefficients (clmm's ``beta``): positive values move responses to higher categories."""
        return self.glmm.fixef[self._location].rename("Estimate")

    @property
    def fixef(self) -> pd.Series:
        """The location coefficients (as :attr:`beta`)."""
        return self.beta

    @cached_property
    def _covariance(self) -> tuple[pd.Series, pd.DataFrame, np.ndarray]:
        """Thresholds, the covariance of (thresholds, location coefficients), clmm's order, and
        their Jacobian over (glmer's fixed effects, log-gaps)."""
        g = self.glmm
        names = list(g.fixef.index)
        i0 = names.index("(Intercept)")
        p = len(names)
        gaps = np.asarray(self.family.gaps, dtype=float)
        ncut = gaps.size + 1
        theta = self.family.cutpoints - float(g.fixef.iloc[i0])
        # d theta_j / d (beta, log-gaps): -1 on the intercept, the gaps before j
        G = np.zeros((ncut + p - 1, p + gaps.size))
        G[:ncut, i0] = -1.0
        for j in range(1, ncut):
            G[j, p:p + j] = gaps[:j]
        loc = [k for k in range(p) if k != i0]
        G[ncut + np.arange(len(loc)), loc] = 1.0
        C = np.asarray(g._cov_beta_extra, dtype=float)
        V = G @ C @ G.T
        cut_names = [f"{a}|{b}" for a, b in zip(self.levels[:-1], self.levels[1:])]
        index = cut_names + self._location
        return (pd.Series(theta, index=cut_names, name="Estimate"), pd.DataFrame(V, index=index, columns=index),
                G)

    @cached_property
    def _working_cov(self):
        """``(T, V_w)`` with :attr:`vcov` ``= T V_w T'``: the covariance of the standardised
        (intercept, location, log-gap) parameters and the map to (thresholds, location), in
        which a marginal mean's variance keeps its digits (a covariate at x + 1e9)."""
        from ..design.standardize import working_pair

        w = getattr(self.glmm, "_cov_extra_working", None)
        if w is None:
            return None, None
        G = self._covariance[2]
        return working_pair(G @ w[0], w[1], self.vcov.to_numpy())

    @property
    def thresholds(self) -> pd.Series:
        """The thresholds ``theta_j`` of ``P(Y <= j) = F(theta_j - eta)``, named ``"1|2"``, ..."""
        return self._covariance[0]

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the thresholds and location coefficients (clmm's ``vcov``, without the variances)."""
        return self._covariance[1]

    @property
    def se(self) -> pd.Series:
        """Standard errors of the location coefficients."""
        return pd.Series(np.sqrt(np.diag(self.vcov.loc[self._location, self._location].to_numpy())),
                         index=self._location, name="Std. Error")

    @property
    def threshold_se(self) -> pd.Series:
        """Standard errors of the thresholds."""
        cut = list(self.thresholds.index)
        return pd.Series(np.sqrt(np.diag(self.vcov.loc[cut, cut].to_numpy())), index=cut, name="Std. Error")

    # ------------------------------------------------------------ criteria
    @property
    def loglik(self) -> float:
        return self.glmm.loglik

    @property
    def nobs(self):
        """The number of observations: the sum of the weights, as clmm's (the rows without weights)."""
        w = np.asarray(self.glmm._prior, dtype=float)
        if np.all(w == 1.0):
            return self.glmm.nobs
        total = float(w.sum())
        return int(total) if total.is_integer() else total

    @property
    def ngroups(self) -> dict:
        return self.glmm.ngroups

    @property
    def df(self) -> int:
        """Number of parameters: thresholds, location coefficients and variance parameters."""
        return self.glmm.df

    @property
    def deviance(self) -> float:
        return -2.0 * self.loglik

    @property
    def aic(self) -> float:
        return self.deviance + 2.0 * self.df

    @property
    def bic(self) -> float:
        return self.deviance + np.log(self.nobs) * self.df

    # ------------------------------------------------------- random effects
    @property
    def theta(self) -> pd.Series:
        return self.glmm.theta

    @property
    def varcorr(self) -> pd.DataFrame:
        return self.glmm.varcorr

    @property
    def ranef(self) -> dict:
        return self.glmm.ranef

    @property
    def ranef_var(self) -> dict:
        return self.glmm.ranef_var

    @property
    def singular(self) -> bool:
        return self.glmm.singular

    # ------------------------------------------------------------- tables
    def coef_table(self):
        """Location coefficients: Estimate, Std. Error, z value, Pr(>|z|)."""
        from .rtable import CoefTable

        est, se = self.beta.to_numpy(), self.se.to_numpy()
        return CoefTable({"Estimate": est, "Std. Error": se, "z value": est / se,
                          "Pr(>|z|)": 2 * stats.norm.sf(np.abs(est / se))}, index=self.beta.index)

    def threshold_table(self):
        """Thresholds: Estimate, Std. Error, z value (as clmm's summary)."""
        from .rtable import CoefTable

        est, se = self.thresholds.to_numpy(), self.threshold_se.to_numpy()
        return CoefTable({"Estimate": est, "Std. Error": se, "z value": est / se}, index=self.thresholds.index)

    # ------------------------------------------------------------- predict
    def predict(self, newdata=None, type: str = "prob", random: bool = True, allow_new_levels: bool = True):
        """Predictions: category probabilities (``"prob"``, a DataFrame with one
        column per category), the most probable category (``"class"``), or the
        linear predictor ``x'beta + z'b`` (``"linear"``, without the intercept).

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"))
        >>> p = m.predict(random=False)
        >>> list(p.columns), bool(np.allclose(p.sum(axis=1), 1.0))
        (['1', '2', '3', '4', '5'], True)
        """
        as_choice(type, "type", ("prob", "class", "linear"))
        eta = self.glmm.predict(newdata, type="link", random=random, allow_new_levels=allow_new_levels)
        if type == "linear":
            return (eta - float(self.glmm.fixef["(Intercept)"])).rename("linear predictor")
        P = self.family.probabilities(eta.to_numpy())
        probs = pd.DataFrame(P, index=eta.index, columns=list(self.levels))
        if type == "prob":
            return probs
        return pd.Series(pd.Categorical(np.asarray(self.levels, dtype=object)[P.argmax(axis=1)],
                                        categories=list(self.levels), ordered=True), index=eta.index,
                         name="predicted")

    @property
    def fitted(self) -> pd.Series:
        """Probability of each observed category at the conditional modes (clmm's ``fitted``)."""
        P = self.family.probabilities(self.glmm._pirls.eta)
        y = np.asarray(self.design.y, dtype=int)
        return pd.Series(P[np.arange(y.size), y], index=self.design.data_index, name="fitted")

    def simulate(self, nsim: int = 1, seed=None, use_re: bool = False) -> pd.DataFrame:
        """Responses drawn from the fit: ordered categoricals, one column per simulation."""
        codes = self.glmm.simulate(nsim, seed=seed, use_re=use_re)
        cats = pd.CategoricalDtype(list(self.levels), ordered=True)
        return codes.apply(lambda c: pd.Categorical.from_codes(c.to_numpy().astype(int), dtype=cats))

    def check(self, nsim: int = 250, seed=None, conditional: bool = False):
        """Simulation-based (DHARMa) residuals of the categories and their uniformity and outlier tests
        (see :func:`multilevel.inference.simulated_residuals.simulated_residuals`).

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"))
        >>> chk = m.check(nsim=200, seed=1)
        >>> bool(chk.tests.loc["uniformity (KS)", "p.value"] > 0.05)
        True
        """
        from ..inference.simulated_residuals import simulated_residuals

        return simulated_residuals(self, nsim=nsim, seed=seed, conditional=conditional)

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """Wald intervals of the thresholds and location coefficients."""
        from ..arguments import as_probability
        from ..inference.parameters import percent_labels

        level = as_probability(level, "level")
        z = stats.norm.ppf((1 + level) / 2)
        est = pd.concat([self.thresholds, self.beta])
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        return pd.DataFrame({c: est.to_numpy() + s * z * se for c, s in zip(percent_labels(level), (-1, 1))},
                            index=est.index)

    # ------------------------------------------------------------- printing
    def summary(self) -> str:
        """clmm-style summary text."""
        from .summary import _groups_line, _random_effects, _table, coef_lines

        how = "the Laplace approximation" if self.nagq == 1 else \
            f"adaptive Gauss-Hermite quadrature (nAGQ = {self.nagq})"
        out = [f"Cumulative Link Mixed Model fitted with {how}", "", f"formula: {self.formula}"]
        if self.data_name:
            out.append(f"data:    {self.data_name}")
        out.append("")
        vals = [self.link, "flexible", str(self.nobs), f"{self.loglik:.2f}", f"{self.aic:.2f}"]
        out.extend(" " + line for line in _table(["link", "threshold", "nobs", "logLik", "AIC"], [vals],
                                                 ["l", "l", "r", "r", "r"]))
        out += ["", "Random effects:"]
        out.extend(_random_effects(self))
        out.append(_groups_line(self))
        out += ["", "Coefficients:"]
        out.extend(coef_lines(self.coef_table()) if len(self.beta) else ["(none)"])
        out += ["", "Threshold coefficients:"]
        out.extend(coef_lines(self.threshold_table()))
        if self.messages:
            out.append("")
            out.extend(self.messages)
        return "\n".join(out)

    def save(self, path):
        """Write this fit to ``path``, to be read back by :func:`multilevel.load`
        (:mod:`multilevel.results.archive`: the call, the optimum and the rows used).

        Returns
        -------
        pathlib.Path
        """
        from .archive import save

        return save(self, path)

    def report(self, path=None, **kw) -> str:
        """Write a self-contained HTML report of this fit and return its text
        (see :func:`multilevel.report`).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"))
        >>> "Threshold" in fit.report(figures=False, confint=None)
        True
        """
        from ..report import report

        return report(self, path, **kw)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<ClmmResult cumulative({self.link}) {self.formula!r}: {self.nobs} obs, "
                f"{len(self.levels)} categories, logLik {self.loglik:.4f}>")
