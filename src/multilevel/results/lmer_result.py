"""``LmerResult``: the immutable result of a linear mixed model fit."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.linalg

from ..arguments import as_choice, short_repr
from .labels import label_index
from .after_fit import AfterFit

__all__ = ["LmerResult"]


@dataclass(frozen=True, eq=False)
class LmerResult(AfterFit):
    """A fitted linear mixed model (ML or REML), with lme4's accessors.

    Build it with :func:`multilevel.lmer`. Everything is computed from the
    optimum; tables are pandas objects; ``print`` shows lme4's summary.

    Attributes
    ----------
    formula : str
    reml : bool
    objective : float
        REML criterion (REML fits) or ML deviance (ML fits) at the optimum.
    theta : pandas.Series
        Relative covariance parameters, named as lme4 names them.
    sigma : float
        Residual standard deviation.
    fixef : pandas.Series
        Fixed effects, ``(Intercept)`` first.
    vcov : pandas.DataFrame
        Covariance matrix of the fixed effects.
    messages : tuple of str
        Convergence and singular-fit messages (also issued as warnings).
    singular : bool
    n_dropped : int
        Rows dropped for missing values.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), reml=False)
    >>> fit.nobs, fit.ngroups, fit.df, fit.df_resid
    (180, {'Subject': 18}, 6, 174)
    >>> round(fit.sigma, 2), fit.fixef.round(3).tolist(), fit.se.round(3).tolist()
    (25.59, [251.405, 10.467], [6.632, 1.502])
    >>> round(fit.loglik, 2), round(fit.deviance, 2), round(fit.aic, 2), round(float(fit.bic), 2)
    (-875.97, 1751.94, 1763.94, 1783.1)
    >>> fit.fitted.head(3).round(2).tolist()
    [254.22, 273.76, 293.31]
    """

    formula: str
    reml: bool
    objective: float
    theta: pd.Series
    sigma: float
    fixef: pd.Series
    vcov: pd.DataFrame
    messages: tuple[str, ...]
    singular: bool
    n_dropped: int
    optinfo: object = field(repr=False)
    design: object = field(repr=False)
    data_name: str | None = field(default=None, repr=False)
    _b: tuple = field(default=(), repr=False)
    _factor: object = field(default=None, repr=False)
    _cp: object = field(default=None, repr=False)
    offset_name: str | None = field(default=None, repr=False)
    _std: object = field(default=None, repr=False)
    _theta_internal: np.ndarray | None = field(default=None, repr=False)

    # ------------------------------------------------------------------ build
    @classmethod
    def _build(cls, design, objective, factor, theta, beta, u0, u_rest, opt, messages,
               singular, data_name=None, standardization=None) -> "LmerResult":
        """The result from the optimum of ``objective``.

        ``objective`` may be the objective of a standardised copy of ``design``
        (:mod:`multilevel.design.standardize`): ``theta``, ``beta``, the factor and
        the spherical effects are then internal, and ``standardization`` maps them
        to the user's scale.
        """
        from ..design.standardize import identity_standardization
        from ..lmm.objective import criterion

        st = standardization if standardization is not None else identity_standardization(design)
        cp = objective.cp
        n, p = cp.n, cp.p
        reml = objective.reml
        pwrss = factor.pwrss
        sigma_int = float(np.sqrt(pwrss / (n - p if reml else n)))
        names = list(design.fixed.names)
        qr = factor.q_rest
        Lxx = factor.L11[qr: qr + p, qr: qr + p]
        if p:
            Linv = scipy.linalg.solve_triangular(Lxx, np.eye(p), lower=True, check_finite=False)
            V = st.vcov_to_user(sigma_int**2 * (Linv.T @ Linv))
        else:
            V = np.zeros((0, 0))
        # b = s B Lambda u, per term (levels, k)
        T = st.factors_to_user(factor.T)
        us = [u0]
        start = 0
        for k, nl in zip(cp.k[1:], cp.nlevels[1:]):
            us.append(u_rest[start: start + k * nl])
            start += k * nl
        b = tuple(st.scale * (u.reshape(-1, Ti.shape[0]) @ Ti.T) for u, Ti in zip(us, T))
        tnames = objective.layout.names(design.terms)
        # the criterion is recomputed at the final (boundary-snapped) theta
        crit = float(criterion(factor, cp, reml) + st.criterion_shift(n, p, reml))
        return cls(
            formula=design.formula.text, reml=reml, objective=crit,
            theta=pd.Series(st.theta_to_user(theta), index=label_index(tnames), name="theta"),
            sigma=st.scale * sigma_int,
            fixef=pd.Series(st.beta_to_user(beta), index=label_index(names), name="Estimate"),
            vcov=pd.DataFrame(V, index=label_index(names), columns=label_index(names)),
            messages=messages, singular=singular, n_dropped=design.n_dropped,
            optinfo=opt, design=design, data_name=data_name, _b=b, _factor=factor, _cp=cp,
            _std=st, _theta_internal=np.asarray(theta, dtype=float).copy(),
        )

    @cached_property
    def _lambdas(self) -> list[np.ndarray]:
        """Each term's relative covariance factor on the user's scale (``L L'`` is
        the term's covariance over sigma^2; not triangular in general)."""
        return self._std.factors_to_user(self._factor.T)

    @cached_property
    def _standardized(self):
        """(Standardization, standardised Design) of this fit's design, as the fit
        computed them: a refit to another response (a bootstrap) reuses its bases."""
        from ..design.standardize import standardize

        return standardize(self.design)

    @cached_property
    def _working_cov(self):
        """``(T, V_w)`` with ``vcov = T V_w T'``, ``T`` the standardisation's basis of X: contrasts
        formed as ``L T`` against ``V_w`` keep their digits where a predictor is far from zero
        (``x + 1e9``); ``(None, None)`` where the fit has no such basis."""
        from ..design.standardize import working_pair

        st, f = getattr(self, "_std", None), getattr(self, "_factor", None)
        p = len(self.fixef)
        if st is None or f is None or not p or st.Tx.shape != (p, p):
            return None, None
        qr = f.q_rest
        Linv = scipy.linalg.solve_triangular(f.L11[qr: qr + p, qr: qr + p], np.eye(p), lower=True,
                                             check_finite=False)
        s = self.sigma / st.scale
        return working_pair(st.scale * st.Tx, s**2 * (Linv.T @ Linv), self.vcov.to_numpy())

    @cached_property
    def _user_objective(self):
        """The criterion of the user's own design as a function of the user's theta
        (for tools that work on lme4's parameters)."""
        from ..lmm.objective import LmmObjective

        return LmmObjective.from_design(self.design, reml=self.reml)

    # ------------------------------------------------------------- basic facts
    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return self.design.n

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor, in lme4's order."""
        return self.design.ngroups

    @property
    def se(self) -> pd.Series:
        """Standard errors of the fixed effects."""
        return pd.Series(np.sqrt(np.diag(self.vcov.to_numpy())), index=self.fixef.index, name="Std. Error")

    @property
    def df(self) -> int:
        """Number of parameters: fixed effects, theta, sigma and a residual SD model's coefficients."""
        dm = self.design.dispersion
        return (self.design.p + self.theta.size + 1 + (0 if dm is None else len(dm.names))
                + (0 if self.design.residual is None else 1))

    @property
    def residual_correlation(self) -> pd.Series | None:
        """The residual correlation (``residual=``): ``rho`` and a Wald interval (``lower``,
        ``upper``, 95%, on its unconstrained scale and back-transformed); None without one.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
        ...               residual="ar1(Days | Subject)")
        >>> round(float(fit.residual_correlation["rho"]), 3)
        0.653
        """
        rc = self.design.residual
        if rc is None:
            return None
        a = rc.a_of(rc.r)
        se = np.nan if rc.se is None else rc.se
        lo_r, hi_r = ((rc.rho_of(a - 1.959964 * se), rc.rho_of(a + 1.959964 * se))
                      if np.isfinite(se) else (np.nan,) * 2)
        lo, hi = rc.per_unit(lo_r), rc.per_unit(hi_r)   # (rho_of keeps each limit in the model's interval)
        out = {"rho": rc.rho, "lower": lo, "upper": hi}
        if rc.kind == "ar1" and rc.lag_unit != 1.0:  # (the correlation at the lag unit: the one computed with)
            out.update({"lag_unit": rc.lag_unit, "rho_at_lag_unit": rc.r, "lower_at_lag_unit": lo_r,
                        "upper_at_lag_unit": hi_r})
        return pd.Series(out, name=rc.text)

    @property
    def dispersion(self) -> pd.DataFrame | None:
        """The residual SD model's coefficients (``dispformula``), or None without one.

        Columns ``Estimate`` (delta, the log SD ratio per unit of the column),
        ``Std. Error``, ``z value``, ``Pr(>|z|)`` and ``SD ratio`` (``exp(delta)``:
        the residual SD of a row with that column at 1, the others at 0, over
        ``sigma``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("distance ~ age * Sex + (1 | Subject)", ml.datasets.load("orthodont"),
        ...               dispformula="~ Sex")
        >>> fit.dispersion["SD ratio"].round(3).to_dict()   # girls' residual SD over boys'
        {'SexFemale': 0.468}
        """
        from scipy import stats

        dm = self.design.dispersion
        if dm is None:
            return None
        est = np.asarray(dm.coef, dtype=float)
        se = np.asarray(dm.se if dm.se is not None else np.full(est.size, np.nan), dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = est / se
        return pd.DataFrame({"Estimate": est, "Std. Error": se, "z value": z,
                             "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z)), "SD ratio": np.exp(est)},
                            index=pd.Index(dm.names))

    @property
    def loglik(self) -> float:
        """Log-likelihood (the REML log-likelihood for REML fits, as lme4)."""
        return -0.5 * self.objective

    @property
    def deviance(self) -> float:
        """-2 log-likelihood."""
        return self.objective

    @property
    def aic(self) -> float:
        """Akaike information criterion."""
        return -2.0 * self.loglik + 2.0 * self.df

    @property
    def bic(self) -> float:
        """Bayesian information criterion."""
        return -2.0 * self.loglik + np.log(self.nobs) * self.df

    @property
    def df_resid(self) -> int:
        """Residual degrees of freedom as lme4 prints them (n minus parameters)."""
        return self.nobs - self.df

    # ---------------------------------------------------------- random effects
    def _term_cov(self, i: int) -> np.ndarray:
        T = self._lambdas[i]
        return self.sigma**2 * (T @ T.T)

    @cached_property
    def varcorr_long(self) -> pd.DataFrame:
        """Variance components in lme4's ``as.data.frame(VarCorr(fit))`` layout.

        Columns ``grp, var1, var2, vcov, sdcor``: variances with their standard
        deviations, then covariances with their correlations, then ``Residual``.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> vc = fit.varcorr_long
        >>> vc["grp"].tolist()
        ['Subject', 'Subject', 'Subject', 'Residual']
        >>> vc["vcov"].round(2).tolist()
        [612.09, 35.07, 9.6, 654.94]
        >>> vc["sdcor"].round(3).tolist()
        [24.74, 5.922, 0.066, 25.592]
        """
        from .effects import varcorr_long

        return varcorr_long(self.design.terms, [self._term_cov(i) for i in range(len(self.design.terms))],
                            residual_sd=self.sigma)

    @cached_property
    def varcorr(self) -> pd.DataFrame:
        """Variance components as lme4 prints them.

        Columns ``group, name, variance, std_dev, corr`` where ``corr`` holds the
        correlations of the row's effect with the earlier effects of its term.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> vc = fit.varcorr
        >>> vc[["group", "name"]].values.tolist()
        [['Subject', '(Intercept)'], ['Subject', 'Days'], ['Residual', '']]
        >>> vc["std_dev"].round(3).tolist(), round(vc["corr"][1][0], 2)
        ([24.74, 5.922, 25.592], 0.07)
        """
        rows = []
        for i, term in enumerate(self.design.terms):
            S = self._term_cov(i)
            sd = np.sqrt(np.diag(S))
            for a, name in enumerate(term.columns):
                corr = tuple(
                    float(S[a, c] / (sd[a] * sd[c])) if sd[a] * sd[c] > 0 else float("nan")
                    for c in range(a)
                )
                rows.append((term.label, name, S[a, a], sd[a], corr))
        rows.append(("Residual", "", self.sigma**2, self.sigma, ()))
        return pd.DataFrame(rows, columns=["group", "name", "variance", "std_dev", "corr"])

    @cached_property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes (BLUPs) of the random effects, per grouping factor.

        Examples
        --------
        >>> import multilevel as ml
        >>> m2 = ml.lmer("course ~ 1 + female + (1 | school)", ml.datasets.load("gcsemv"), reml=False)
        >>> round(float(m2.ranef["school"].iloc[0, 0]), 2)
        -10.17
        """
        from .effects import group_frames

        return group_frames(self.design.terms, self._b)

    @cached_property
    def _condcov(self) -> list[np.ndarray]:
        from ..lmm.objective import conditional_variances

        blocks = conditional_variances(self._factor, self._cp)
        return [self.sigma**2 * np.einsum("ab,gbc,dc->gad", T, V, T)
                for T, V in zip(self._lambdas, blocks)]

    @cached_property
    def _condcov_internal(self) -> list[np.ndarray] | None:
        """:attr:`_condcov` in the standardised bases (``C = B C_int B'``, ``B`` the fit's
        ``_std.B``), or None: quadratic forms ``z' C z`` keep their digits there."""
        from ..lmm.objective import conditional_variances

        st, f = getattr(self, "_std", None), getattr(self, "_factor", None)
        if st is None or f is None or len(st.B) != len(self.design.terms):
            return None
        blocks = conditional_variances(f, self._cp)
        return [self.sigma**2 * np.einsum("ab,gbc,dc->gad", T, V, T) for T, V in zip(f.T, blocks)]

    @property
    def ranef_cov(self) -> dict[str, np.ndarray]:
        """Conditional covariance matrices of each term's random effects, per level:
        arrays ``(levels, k, k)`` keyed by term label (lme4's ``postVar``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> S = fit.ranef_cov["Subject"]
        >>> S.shape
        (18, 2, 2)
        >>> S[0].round(1).tolist()  # subject 308: (Intercept), Days
        [[145.7, -21.4], [-21.4, 5.3]]
        """
        return {t.label: c for t, c in zip(self.design.terms, self._condcov)}

    @property
    def ranef_var(self) -> dict[str, pd.DataFrame]:
        """Conditional variances of the random effects, shaped like :attr:`ranef`.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> v = fit.ranef_var["Subject"]
        >>> v.shape, list(v.columns)
        ((18, 2), ['(Intercept)', 'Days'])
        >>> v.loc["308"].round(2).tolist()
        [145.71, 5.31]
        """
        from .effects import group_frames

        return group_frames(self.design.terms, [np.diagonal(c, axis1=1, axis2=2) for c in self._condcov])

    @property
    def coef(self) -> dict[str, pd.DataFrame]:
        """Per-group coefficients: fixed effects plus that group's random effects.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> cf = fit.coef["Subject"]
        >>> cf.shape, cf.loc["308"].round(2).tolist()
        ((18, 2), [253.66, 19.67])
        >>> bool(np.allclose(cf - fit.fixef, fit.ranef["Subject"]))
        True
        """
        from .effects import group_coefficients

        return group_coefficients(self.fixef, self.ranef)

    def group_coefficients(self, group: str | None = None) -> pd.DataFrame:
        """Each group's intercept and slopes with the group-level predictors folded in
        (the level-2 equations: ``beta_0j = g00 + g01 z_j + u_0j``, ...).

        See :func:`multilevel.results.effects.level1_coefficients`; ``coef``
        gives lme4's per-group coefficients without the folding.

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.lmer("math ~ 1 + mses + ses + ses:mses + (1 + ses | schoolid)",
        ...             ml.datasets.load("leebryk"))
        >>> list(m.group_coefficients().columns)
        ['(Intercept)', 'ses']
        """
        from .effects import level1_coefficients

        return level1_coefficients(self, group)

    # ------------------------------------------------------- fitted/residuals
    def _zb(self) -> np.ndarray:
        zb = np.zeros(self.nobs)
        for t, b in zip(self.design.terms, self._b):
            zb += np.einsum("ij,ij->i", t.Z, b[t.codes])
        return zb

    @cached_property
    def _marginal(self) -> np.ndarray:
        eta = self.design.X @ self.fixef.to_numpy()
        if self.design.offset is not None:
            eta = eta + self.design.offset
        return eta

    @cached_property
    def fitted(self) -> pd.Series:
        """Conditional fitted values X beta + Z b (+ offset)."""
        return pd.Series(self._marginal + self._zb(), index=self.design.data_index, name="fitted")

    def residuals(self, type: str = "conditional") -> pd.Series:
        """Residuals.

        Parameters
        ----------
        type : {"conditional", "marginal", "scaled", "pearson", "normalized"}
            ``y - fitted``; ``y - X beta``; conditional divided by sigma (times
            sqrt of the weight), as ``residuals(fit, scaled=TRUE)``; ``pearson``
            is the same as ``scaled`` times sigma; ``normalized``: with a
            residual correlation (``residual=``), the scaled residuals with
            each group's correlation undone (``L_g^-1 r / sigma``, nlme's
            ``type = "normalized"``), else the scaled ones.

        Returns
        -------
        pandas.Series
            One residual per observation used, indexed like the data.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.residuals().head(3).round(2).tolist()
        [-4.1, -14.63, -42.2]
        >>> fit.residuals("marginal").head(3).round(2).tolist()
        [-1.85, -3.17, -21.54]
        >>> round(float(fit.residuals("scaled").iloc[0] * fit.sigma), 2)
        -4.1
        """
        as_choice(type, "type", ("conditional", "marginal", "scaled", "pearson", "normalized"))
        y = self.design.y
        if type == "normalized":
            r = (y - self.fitted.to_numpy()) / self.sigma
            if self.design.weights is not None:
                r = r * np.sqrt(self.design.weights)
            rc = self.design.residual
            if rc is not None:
                (r,), _ = rc.whiten([r], rc.r)
        elif type == "conditional":
            r = y - self.fitted.to_numpy()
        elif type == "marginal":
            r = y - self._marginal
        elif type in ("scaled", "pearson"):
            r = y - self.fitted.to_numpy()
            if self.design.weights is not None:
                r = r * np.sqrt(self.design.weights)
            if type == "scaled":
                r = r / self.sigma
        else:
            raise ValueError(
                f"unknown residual type {short_repr(type)}; use 'conditional', 'marginal', 'scaled' or 'pearson'"
            )
        return pd.Series(r, index=self.design.data_index, name=f"{type} residuals")

    # ---------------------------------------------------------------- predict
    def predict(self, newdata=None, random: bool = True, allow_new_levels: bool = True,
                offset=None, se_fit: bool = False, interval: str | None = None,
                level: float = 0.95, conditional: bool = False):
        """Predictions for new (or the original) data, with standard errors and intervals.

        Parameters
        ----------
        newdata : DataFrame, optional
            Defaults to the fitted data (then equal to :attr:`fitted`).
        random : bool, default True
            Add the random effects of known groups (False: population level).
        allow_new_levels : bool, default True
            Levels not seen in the fit get random effects of zero; if False
            they raise a ValueError.
        offset : str or array-like, optional
            Offset of ``newdata``. An offset given to :func:`multilevel.lmer`
            as a column name is taken from that column of ``newdata``; one
            given as values must be given here for new data.
        se_fit : bool, default False
            Return a DataFrame with the standard error of each prediction
            (``fit``, ``se_fit``): from the fixed effects' covariance, plus
            the random effects' conditional variance with ``conditional=True``.
        interval : {None, "confidence", "prediction"}
            Add normal ``lower`` and ``upper`` limits; a prediction interval
            adds the residual variance (a new observation).
        level : float, default 0.95
        conditional : bool, default False
            Include the conditional variance of the rows' random effects (the
            prior covariance for a group not in the fit) in ``se_fit``; their
            covariance with the fixed effects is left out.

        Returns
        -------
        pandas.Series, or a DataFrame with ``se_fit`` or ``interval``

        Examples
        --------
        >>> import multilevel as ml, pandas as pd
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> new = pd.DataFrame({"Days": [0, 5], "Subject": ["308", "new"]})
        >>> fit.predict(new).round(1).tolist()
        [253.7, 303.7]
        >>> fit.predict(new, random=False, interval="confidence").round(1).to_numpy().tolist()
        [[251.4, 6.8, 238.0, 264.8], [303.7, 9.6, 285.0, 322.5]]
        """
        from ..predict import prediction_table, predict_lmm

        if se_fit or interval is not None:
            return prediction_table(self, newdata, random=random, allow_new_levels=allow_new_levels,
                                    offset=offset, interval=interval, level=level,
                                    conditional=conditional)
        return predict_lmm(self, newdata, random=random, allow_new_levels=allow_new_levels,
                           offset=offset)

    def confint(self, method: str = "profile", level: float = 0.95, parm=None, **kw) -> pd.DataFrame:
        """Confidence intervals for the standard deviations, correlations, sigma
        and fixed effects, as lme4's ``confint(fit, method=...)``.

        Parameters
        ----------
        method : {"profile", "wald", "boot"}
            Profile likelihood (the ML deviance, as lme4 profiles), Wald
            (fixed effects only), or a seeded parametric bootstrap (``nsim``,
            ``seed``, ``n_jobs`` in ``kw``; failed refits are reported).
        level : float
        parm : list of names or positions, "theta_" or "beta_", optional

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.confint(parm="beta_").round(2).values.tolist()
        [[237.68, 265.13], [7.36, 13.58]]
        """
        from ..inference.intervals import confint

        return confint(self, method=method, level=level, parm=parm, **kw)

    # --------------------------------------------------- variance decomposition
    def icc(self) -> pd.Series:
        """Intraclass correlation, adjusted and conditional, as ``performance::icc``.

        ``adjusted`` is the random-effects share of the variance not explained
        by the fixed effects; ``conditional`` also counts the fixed-effects
        variance in the total. With random slopes a term's variance is its mean
        over the observations (Johnson 2014). Singular fits give NaN, with a
        warning, as performance does.

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.lmer("math ~ 1 + (1 | schoolid)", ml.datasets.load("leebryk"))
        >>> round(float(m.icc()["adjusted"]), 2)
        0.18
        """
        from ..inference.variance import icc

        return icc(self)

    def r2(self) -> pd.Series:
        """Marginal and conditional R-squared of Nakagawa & Schielzeth (2013, 2017).

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
        >>> m.r2().round(3).to_dict()
        {'conditional': 0.179, 'marginal': 0.13}
        """
        from ..inference.variance import r2_nakagawa

        return r2_nakagawa(self)

    def shrinkage(self, group: str | None = None) -> pd.DataFrame:
        """Per-level group size n_j and shrinkage factor R_j = tau^2 / (tau^2 + sigma^2 / n_j)
        of a random intercept, as in the GCSE notes.

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.lmer("course ~ 1 + (1 | school)", ml.datasets.load("gcsemv"), reml=False)
        >>> m.shrinkage().columns.tolist()
        ['n_j', 'R_j']
        """
        from ..inference.variance import shrinkage

        return shrinkage(self, group)

    def variance_partition(self, fixed: bool = False) -> pd.DataFrame:
        """Variance of each grouping factor and the residual, with proportions
        (the between/within partition of the Lee & Bryk notes).

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.lmer("math ~ 1 + (1 | schoolid)", ml.datasets.load("leebryk"))
        >>> m.variance_partition()["proportion"].round(2).tolist()
        [0.18, 0.82]
        """
        from ..inference.variance import variance_partition

        return variance_partition(self, fixed=fixed)

    def refit(self, reml: bool | None = None, start=None) -> "LmerResult":
        """Fit the same model again, e.g. by ML (``reml=False``) for a
        likelihood-ratio test of fixed effects; starts from this fit's theta.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> round(fit.refit(reml=False).objective, 2)
        1751.94
        """
        from ..lmm.fit import fit_design, fit_from

        reml = self.reml if reml is None else reml
        if start is not None:  # the caller's start, as given
            fit = fit_design(self.design, reml=reml, optimizer=self.optinfo.optimizer, start=start,
                             data_name=self.data_name)
        else:
            fit = fit_from(self.design, reml, self.optinfo.optimizer, self.theta.to_numpy(),
                           singular=self.singular, data_name=self.data_name)
        # (an offset column: predict() of the refit reads it from newdata too)
        return replace(fit, offset_name=self.offset_name) if self.offset_name is not None else fit

    # -------------------------------------------------------------- inference
    @cached_property
    def _kenward_roger(self):
        from ..inference.kenward_roger import kenward_roger

        return kenward_roger(self)

    @cached_property
    def _varpar_cov(self):
        from ..inference import varpar_covariance

        return varpar_covariance(self)

    def coef_table(self, ddf: str | None = "satterthwaite") -> pd.DataFrame:
        """Fixed effects with t tests: Satterthwaite (default) or Kenward-Roger
        (``ddf="kenward-roger"``, adjusted standard errors) df and p-values as
        lmerTest; ``ddf=None``: lme4's table without df.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
        >>> fit.coef_table().round(1)["df"].tolist()
        [160.5, 151.0, 149.6]
        """
        from ..inference.fixed_tests import coef_table

        return coef_table(self, ddf)

    def contest(self, L, ddf: str = "satterthwaite", joint: bool = True) -> pd.DataFrame:
        """Test contrasts ``L beta = 0`` (F test of all rows, or a t test per row).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
        >>> round(float(fit.contest([0, 1, -1])["F value"].iloc[0]), 2)   # mses = sector?
        54.64
        """
        from ..inference.fixed_tests import contest

        return contest(self, L, ddf=ddf, joint=joint)

    def anova(self, type: int | str = 3, ddf: str = "satterthwaite") -> pd.DataFrame:
        """Type III (default), type II or type I ANOVA table of the fixed-effects terms,
        as lmerTest's ``anova(fit, type = ...)``: Sum Sq, Mean Sq, NumDF, DenDF, F
        value, Pr(>F).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
        >>> fit.anova()["DenDF"].round(1).tolist()
        [151.0, 149.6]
        """
        from ..inference.fixed_tests import anova_table

        return anova_table(self, type=type, ddf=ddf)

    # ----------------------------------------------------------------- output
    def save(self, path):
        """Write this fit to ``path``, to be read back by :func:`multilevel.load`.

        The file is a zip archive of a documented, versioned format
        (:mod:`multilevel.results.archive`): the call, the optimizer's record,
        the estimates and the rows of data used; loading rebuilds the fit at
        the saved optimum.

        Returns
        -------
        pathlib.Path
        """
        from .archive import save

        return save(self, path)

    def to_dict(self) -> dict:
        """The estimates as plain Python types (JSON-ready).

        Returns
        -------
        dict
            Formula, method, counts, criteria, ``theta``, ``fixef``, ``se``,
            ``vcov``, ``varcorr`` (as :attr:`varcorr_long` records), messages
            and optimizer information.

        Examples
        --------
        >>> import json
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> d = json.loads(json.dumps(fit.to_dict()))
        >>> d["method"], d["nobs"], d["ngroups"], round(d["fixef"]["Days"], 3)
        ('REML', 180, {'Subject': 18}, 10.467)
        >>> d["varcorr"][-1]["grp"], round(d["varcorr"][-1]["sdcor"], 3)
        ('Residual', 25.592)
        """
        vc = self.varcorr_long.astype(object).where(self.varcorr_long.notna(), None)
        return {
            "formula": self.formula,
            "method": "REML" if self.reml else "ML",
            "nobs": self.nobs,
            "n_dropped": self.n_dropped,
            "ngroups": self.ngroups,
            "objective": self.objective,
            "loglik": self.loglik,
            "aic": self.aic,
            "bic": self.bic,
            "df": self.df,
            "sigma": self.sigma,
            "theta": {k: float(v) for k, v in self.theta.items()},
            "fixef": {k: float(v) for k, v in self.fixef.items()},
            "se": {k: float(v) for k, v in self.se.items()},
            "t_tests": self._t_tests_dict(),
            "vcov": self.vcov.to_numpy().tolist(),
            "varcorr": vc.to_dict(orient="records"),
            "singular": self.singular,
            "messages": list(self.messages),
            "optimizer": {"name": self.optinfo.optimizer, "feval": self.optinfo.feval,
                          "result": self.optinfo.result},
        }

    def _t_tests_dict(self) -> dict:
        if not len(self.fixef):
            return {}
        tab = self.coef_table("satterthwaite")
        return {name: {"df": float(r["df"]), "t": float(r["t value"]), "p": float(r["Pr(>|t|)"])}
                for name, r in tab.iterrows()}

    def summary(self, ddf: str | None = "satterthwaite") -> str:
        """lme4-style summary text.

        Parameters
        ----------
        ddf : {"satterthwaite", None}
            Degrees of freedom of the t tests, shown with p-values as lmerTest
            shows them; None prints lme4's own table (no df, no p-values).

        Returns
        -------
        str
            What ``print(fit)`` shows.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> for line in fit.summary().splitlines()[10:16]:
        ...     print(line)
        Random effects:
         Groups   Name        Variance Std.Dev. Corr
         Subject  (Intercept) 612.09   24.740
                  Days         35.07    5.922   0.07
         Residual             654.94   25.592
        Number of obs: 180, groups:  Subject, 18
        """
        from .summary import lmer_summary

        return lmer_summary(self, ddf=ddf)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<LmerResult {'REML' if self.reml else 'ML'} {self.formula!r}: "
                f"{self.nobs} obs, objective {self.objective:.4f}>")

    def _repr_html_(self) -> str:
        from .summary import lmer_html

        return lmer_html(self)
