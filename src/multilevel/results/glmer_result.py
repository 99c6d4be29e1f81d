"""``GlmerResult``: the immutable result of a generalized linear mixed model fit."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import special, stats

from ..lmm.convergence import singular_message, singular_terms
from ..arguments import as_choice, as_probability, short_repr
from .after_fit import AfterFit

__all__ = ["GlmerResult"]


def _zi_se(family, cov_beta_extra) -> np.ndarray:
    """Standard errors of the zero-inflation coefficients on the user's scale (nan where the
    variance is not positive: a Hessian singular in that direction)."""
    q = len(family.gamma)
    C = np.asarray(cov_beta_extra, dtype=float)[-q:, -q:] if cov_beta_extra is not None \
        else np.full((q, q), np.nan)
    v = np.diag(family.Tzi @ C @ family.Tzi.T)
    return np.sqrt(np.where(v > 0, v, np.nan))


def _fit_checks(design, family, theta, beta, vcov, pirls, prior, singular, check=None,
                zi_se=None) -> list[str]:
    """Separation, overdispersion and gradient checks (glmm/diagnostics.py) at the optimum.

    ``check`` holds what the gradient check needs from the fit: the criterion
    (``deviance``), the optimum ``x``, its ``lower`` bounds and, when the fit
    has them, the ``grad`` and ``hessian`` there.
    """
    from ..glmm import diagnostics as dx

    out = []
    theta = np.asarray(theta, dtype=float)
    beta = np.asarray(beta, dtype=float)
    dv = np.diag(np.asarray(vcov, dtype=float))
    se = np.sqrt(np.where(dv >= 0, dv, np.nan))
    if family.discrete and family.name != "cumulative":  # zero counts or all-or-none trials a predictor picks out
        out.extend(dx.separation(design.X, list(design.fixed.names), design.y, prior, pirls.mu, beta, se,
                                 "binomial" if family.name == "binomial" else "poisson"))
    if family.name == "cumulative" and "(Intercept)" in design.fixed.names:
        j = list(design.fixed.names).index("(Intercept)")
        slopes = [i for i in range(len(beta)) if i != j]
        out.extend(dx.ordinal_separation(np.asarray(design.X)[:, slopes], [design.fixed.names[i] for i in slopes],
                                         design.y, family.ncat, prior, beta[slopes], se[slopes]))
    if family.zero_inflated:
        out.extend(dx.zero_inflation_boundary(family, prior, zi_se))
    bernoulli = family.name == "binomial" and np.all(prior <= 1)
    if family.name == "cumulative":  # (0/1 responses: glmer's observation_level_message)
        out.extend(_one_row_per_level(design, prior))
    # a family with a dispersion parameter has estimated its variance
    if not bernoulli and family.name in ("binomial", "poisson"):
        mean = family.mean(pirls.mu) if family.zero_inflated else pirls.mu  # (1 - pi) mu with zero inflation
        r = (design.y - mean) * np.sqrt(prior / family.variance(pirls.mu))
        msg = dx.overdispersion_message(dx.overdispersion(r, design.n - len(beta) - theta.size),
                                        family.name)
        if msg:
            out.append(msg)
    if not np.all(np.isfinite(se)) and not any("separation" in m for m in out):
        names = list(design.fixed.names)
        which = ", ".join(repr(names[j]) for j in np.nonzero(~np.isfinite(se))[0])
        out.append(f"the standard errors of {which} could not be computed: the criterion's Hessian at the "
                   "optimum is not finite or not positive definite (responses at the edge of the "
                   f"{family.name} family's range, or a parameter at the edge of its own); their tests and Wald "
                   "intervals are not available: check the responses, or use profile or bootstrap intervals")
    return out + convergence_messages(check, singular)


def _one_row_per_level(design, prior) -> list[str]:
    """The message where every level of a grouping factor has one observation of an ordinal
    response: a random effect per observation is then the latent scale's own spread (with the
    probit link exactly, with the others nearly), whose variance is not identified."""
    out = []
    prior = np.asarray(prior, dtype=float)
    data = prior > 0
    if np.any(prior[data] > 1):  # (a row of weight 2 is two observations)
        return out
    for t in design.terms:
        counts = np.bincount(np.asarray(t.codes)[data], minlength=t.nlevels)
        intercept = bool(np.any(np.all(np.asarray(t.Z) == 1.0, axis=0)))  # (a slope's variance moves with x)
        if intercept and counts.max(initial=0) <= 1:
            out.append(f"every level of {t.group!r} has one observation: with an ordinal response a random effect "
                       "per observation cannot be told apart from the link's own scale (not at all with the "
                       "probit link, barely with the others), so its variance is not identified and the fixed "
                       f"effects' scale and standard errors depend on where the optimizer stopped; remove the "
                       f"term for {t.group!r}")
    return out


def convergence_messages(check, singular: bool) -> list[str]:
    """The optimizer's gradient check at the optimum (``check``: the criterion, the
    optimum, its bounds and, where the fit has them, its gradient and Hessian)."""
    from ..glmm import diagnostics as dx

    if check is None:
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(dx.convergence(check["deviance"], check["x"], check["lower"], singular,
                                   grad=check.get("grad"), hessian=check.get("hessian")))


@dataclass(frozen=True, eq=False)
class GlmerResult(AfterFit):
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
        From the Hessian of the Laplace (for ``nagq > 1`` the quadrature) deviance
        over (theta, beta), as glmer's default ``use.hessian = TRUE``.
    loglik : float
        Laplace approximation to the log-likelihood, or for ``nagq > 1`` the
        adaptive Gauss-Hermite one (absolute, comparable with the Laplace value).
    messages : tuple of str
        Singular-fit, separation, overdispersion and convergence messages, in
        words that say what to do (also issued as warnings when the fit is
        built, and printed at the end of the summary).
    offset_name : str or None
        The data column the offset was taken from (read from new data by
        :meth:`predict`), when it was given by name.

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
    offset_name: str | None = field(default=None, repr=False)
    weights_name: str | None = field(default=None, repr=False)
    _x_internal: np.ndarray | None = field(default=None, repr=False)
    dispersion: pd.Series = field(default_factory=lambda: pd.Series(dtype=float, name="dispersion"))
    dispersion_se: pd.Series = field(default_factory=lambda: pd.Series(dtype=float, name="se(log)"),
                                     repr=False)
    _cov_beta_extra: np.ndarray | None = field(default=None, repr=False)
    _working: tuple | None = field(default=None, repr=False)
    _std: object = field(default=None, repr=False)
    _cov_extra_working: tuple | None = field(default=None, repr=False)

    @classmethod
    def _build(cls, design, family, theta, beta, vcov, pirls, prior_weights, nagq, opt, response,
               formula, data_name=None, loglik=None, offset_name=None, check=None,
               standardization=None, weights_name=None, dispersion_se=None,
               cov_beta_extra=None, cov_extra_working=None, notes=()) -> "GlmerResult":
        """The result at the optimum. With ``standardization``, ``theta``,
        ``beta``, ``vcov`` and the spherical effects of ``pirls`` are those of the
        standardised design (:mod:`multilevel.design.standardize`), mapped here
        to the user's scale; ``design`` is the user's; ``notes`` are the fit's own messages."""
        from ..design.standardize import identity_standardization
        from ..linalg import ThetaLayout

        st = standardization if standardization is not None else identity_standardization(design)
        layout = ThetaLayout.from_terms(design.terms)
        theta_in = np.asarray(theta, dtype=float)
        # b = (B Lambda) u: the user's factors applied to the internal modes
        T = tuple(st.factors_to_user(layout.factors(theta_in)))
        theta = st.theta_to_user(theta_in)
        beta = st.beta_to_user(beta)
        working = (st.scale * st.Tx, np.asarray(vcov, dtype=float)) if np.ndim(vcov) == 2 else None
        vcov = st.vcov_to_user(vcov)
        pirls = replace(pirls, beta=beta)
        names = list(design.fixed.names)
        tnames = layout.names(design.terms)
        # loglik: given by the fit for adaptive Gauss-Hermite quadrature (nagq > 1), else Laplace
        ll = loglik if loglik is not None else \
            family.loglik(design.y, pirls.mu, prior_weights) - 0.5 * (float(pirls.u @ pirls.u) + pirls.logdet)
        messages = []
        sing = singular_terms(theta_in, layout, [t.label for t in design.terms],
                              [t.columns for t in design.terms], bases=st.B)
        if sing:
            messages.append(singular_message(sing))
        if not opt.converged:
            messages.append(f"optimizer stopped early ({opt.result}); estimates may not be at the optimum")
        messages.extend(cls._checks(design, family, theta, beta, vcov, pirls, prior_weights, bool(sing), check,
                                    _zi_se(family, cov_beta_extra) if family.zero_inflated else None))
        messages.extend(notes)
        for m in messages:
            warnings.warn(m, stacklevel=3)
        dname = family.dispersion_name
        disp = pd.Series([family.dispersion] if dname else [], index=[dname] if dname else [], dtype=float,
                         name="dispersion")
        disp_se = pd.Series(np.atleast_1d(dispersion_se) if dname and dispersion_se is not None else
                            [np.nan] * len(disp), index=disp.index, dtype=float, name="se(log)")
        x_extra = family.extra_internal()
        return cls(formula=formula, family=family, nagq=nagq, dispersion=disp, dispersion_se=disp_se,
                   theta=pd.Series(theta, index=tnames, name="theta"),
                   fixef=pd.Series(beta, index=names, name="Estimate"),
                   vcov=pd.DataFrame(vcov, index=names, columns=names), loglik=float(ll),
                   messages=tuple(messages), design=design, optinfo=opt, data_name=data_name,
                   _pirls=pirls, _prior=prior_weights, _T=T, offset_name=offset_name,
                   weights_name=weights_name,
                   _x_internal=np.concatenate([theta_in, st.beta_to_internal(beta), x_extra]) if nagq
                   else np.concatenate([theta_in, x_extra]), _cov_beta_extra=cov_beta_extra,
                   _working=working, _std=standardization, _cov_extra_working=cov_extra_working)

    @property
    def _working_cov(self):
        """``(T, V_w)`` with ``vcov = T V_w T'``, ``T`` the standardisation's basis of X: contrasts
        formed as ``L T`` against ``V_w`` keep their digits where a predictor is far from zero
        (``x + 1e9``); ``(None, None)`` where the fit has no such basis."""
        from ..design.standardize import working_pair

        w = self._working
        return (None, None) if w is None else working_pair(*w, self.vcov.to_numpy())

    @staticmethod
    def _checks(design, family, theta, beta, vcov, pirls, prior, singular, check, zi_se=None) -> list[str]:
        """The separation, overdispersion and gradient checks at the optimum (:func:`_fit_checks`)."""
        return _fit_checks(design, family, theta, beta, vcov, pirls, prior, singular, check, zi_se)

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
        """Number of parameters (fixed effects, theta and the dispersion parameter)."""
        return len(self.fixef) + len(self.theta) + self.family.n_extra

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
    def _b(self) -> tuple:
        """Random effects b = Lambda u per term, arrays ``(levels, k)``."""
        out = []
        start = 0
        for t, Tt in zip(self.design.terms, self._T):
            out.append(self._pirls.u[start: start + t.q].reshape(t.nlevels, t.k) @ Tt.T)
            start += t.q
        return tuple(out)

    @cached_property
    def ranef(self) -> dict[str, pd.DataFrame]:
        """Conditional modes of the random effects, per grouping factor.

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...              ml.datasets.load("cbpp"))
        >>> m.ranef["herd"].head(2).round(3).values.ravel().tolist()
        [0.59, -0.299]
        """
        from .effects import group_frames

        return group_frames(self.design.terms, self._b)

    @cached_property
    def _condcov(self) -> list[np.ndarray]:
        from ..glmm.condvar import glmm_conditional_covariances

        return glmm_conditional_covariances(self.design, self.family, self.theta.to_numpy(),
                                            self._pirls.eta, self._prior)

    @property
    def ranef_cov(self) -> dict[str, np.ndarray]:
        """Conditional covariance matrices of each term's random effects, per level:
        arrays ``(levels, k, k)`` keyed by term label (lme4's ``postVar`` of
        ``ranef(m, condVar = TRUE)``).

        For a GLMM they come from ``(Lambda' Z' W Z Lambda + I)^-1`` at the
        converged PIRLS weights W, scaled by Lambda on both sides (binomial and
        Poisson responses have no residual variance to multiply by).

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...              ml.datasets.load("cbpp"))
        >>> S = m.ranef_cov["herd"]
        >>> S.shape, round(float(S[0, 0, 0]), 4)   # lme4: 0.1213
        ((15, 1, 1), 0.1213)
        """
        return {t.label: c for t, c in zip(self.design.terms, self._condcov)}

    @property
    def ranef_var(self) -> dict[str, pd.DataFrame]:
        """Conditional variances of the random effects, shaped like :attr:`ranef`.

        Their square roots are the conditional standard deviations drawn as
        intervals by :func:`multilevel.plots.caterpillar`.

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...              ml.datasets.load("cbpp"))
        >>> m.ranef_var["herd"].head(3).round(4).values.ravel().tolist()
        [0.1213, 0.1336, 0.0884]
        """
        from .effects import group_frames

        return group_frames(self.design.terms, [np.diagonal(c, axis1=1, axis2=2) for c in self._condcov])

    @property
    def coef(self) -> dict[str, pd.DataFrame]:
        """Per-group coefficients: fixed effects plus that group's random effects
        (lme4's ``coef``), on the link scale.

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...              ml.datasets.load("cbpp"))
        >>> cf = m.coef["herd"]
        >>> cf.shape, cf.iloc[0].round(3).tolist()
        ((15, 4), [-0.809, -0.992, -1.129, -1.58])
        """
        from .effects import group_coefficients

        return group_coefficients(self.fixef, self.ranef)

    @cached_property
    def varcorr_long(self) -> pd.DataFrame:
        """Variance components in lme4's ``as.data.frame(VarCorr(fit))`` layout
        (columns ``grp, var1, var2, vcov, sdcor``; no residual row).

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...              ml.datasets.load("cbpp"))
        >>> m.varcorr_long[["grp", "var1"]].values.tolist(), round(float(m.varcorr_long["sdcor"][0]), 3)
        ([['herd', '(Intercept)']], 0.642)
        """
        from .effects import varcorr_long

        return varcorr_long(self.design.terms, [Tt @ Tt.T for Tt in self._T])

    # ------------------------------------------------------------- predict
    def predict(self, newdata=None, type: str = "link", random: bool = True,
                allow_new_levels: bool = True, offset=None, se_fit: bool = False,
                interval: str | None = None, level: float = 0.95, conditional: bool = False):
        """Predictions for new (or the original) data, as lme4's ``predict``.

        Parameters
        ----------
        newdata : DataFrame, optional
            Defaults to the fitted data.
        type : {"link", "response", "conditional", "zprob", "zlink"}
            The linear predictor (default, as lme4) or the mean: a probability
            for binomial models, an expected count for Poisson ones; with
            zero inflation (``zi=``) ``"response"`` is the mean ``(1 - pi)
            mu``, and, as glmmTMB's ``predict``, ``"conditional"`` is the
            count model's mean ``mu``, ``"zprob"`` the probability ``pi`` of
            a structural zero and ``"zlink"`` its logit.
        random : bool, default True
            Add the random effects of known groups (False: population level,
            lme4's ``re.form = NA``).
        allow_new_levels : bool, default True
            Levels not seen in the fit get random effects of zero (lme4's
            ``allow.new.levels = TRUE``); if False they raise a ValueError.
        offset : str or array-like, optional
            Offset of ``newdata``. An offset given to :func:`multilevel.glmer`
            as a column name is taken from that column of ``newdata``.
        se_fit : bool, default False
            Return a DataFrame with standard errors (``fit``, ``se_fit``), on
            the response scale by the delta method (for a zero-inflated fit,
            of ``(1 - pi) mu`` over the fixed effects and the zero-inflation
            coefficients jointly).
        interval : {None, "confidence"}
            Add normal ``lower`` and ``upper`` limits (computed on the link
            scale and back-transformed for ``type="response"``).
        level : float, default 0.95
        conditional : bool, default False
            Include the conditional variance of the rows' random effects.

        Returns
        -------
        pandas.Series
            Named ``"predicted"``, indexed like ``newdata``; a DataFrame with
            ``se_fit`` or ``interval``.

        Examples
        --------
        >>> import multilevel as ml, pandas as pd
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...              ml.datasets.load("cbpp"))
        >>> new = pd.DataFrame({"period": ["1", "4"], "herd": ["1", "new herd"]})
        >>> m.predict(new).round(3).tolist()
        [-0.809, -2.979]
        >>> m.predict(new, type="response").round(3).tolist()
        [0.308, 0.048]
        >>> m.predict(new, type="response", random=False, interval="confidence")["upper"].round(3).tolist()
        [0.28, 0.106]
        """
        from ..predict import prediction_table, predict_glmm

        if isinstance(type, str) and type in ("conditional", "zprob", "zlink"):
            if not self.family.zero_inflated:
                raise ValueError(f"type={type!r} is for a zero-inflated fit (zi=); use 'link' or 'response'")
            if type == "conditional":
                type = "response"
            else:
                return self._zero_inflation_prediction(newdata, type, se_fit, interval, level)
        elif self.family.zero_inflated and type == "response":
            if se_fit or interval is not None:
                return self._zero_inflated_table(newdata, random, allow_new_levels, offset, interval, level,
                                                 conditional)
            return self._zero_inflated_mean(newdata, random, allow_new_levels, offset)
        if se_fit or interval is not None:
            return prediction_table(self, newdata, type=type, random=random,
                                    allow_new_levels=allow_new_levels, offset=offset,
                                    interval=interval, level=level, conditional=conditional)

        return predict_glmm(self, newdata, type=type, random=random, allow_new_levels=allow_new_levels,
                            offset=offset)

    def _zero_inflation_prediction(self, newdata, type, se_fit, interval, level):
        """The structural-zero probability ``pi`` (``"zprob"``) or its logit (``"zlink"``)
        at new (or the fitted) rows, with the delta method's standard error."""
        from ..design.data import as_dataframe

        if interval not in (None, "confidence"):
            raise ValueError(f"interval must be None or 'confidence' for type={type!r}, not {short_repr(interval)}")
        fam = self.family
        new = None if newdata is None else as_dataframe(newdata)
        Xzi, zoff = fam.zi_rows(new)
        index = self.design.data_index if new is None else new.index
        zeta = Xzi @ fam.zi_coefficients + zoff
        out = special.expit(zeta) if type == "zprob" else zeta
        if not se_fit and interval is None:
            return pd.Series(out, index=index, name="predicted")
        q = len(fam.gamma)
        C = np.asarray(self._cov_beta_extra, dtype=float)[-q:, -q:]
        G = Xzi @ fam.Tzi
        se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", G, C, G), 0.0))
        pi = special.expit(zeta)
        table = pd.DataFrame({"fit": out, "se_fit": se * pi * (1.0 - pi) if type == "zprob" else se}, index=index)
        if interval is not None:  # on the logit scale, back-transformed for zprob
            z = stats.norm.ppf(0.5 + as_probability(level, "level") / 2)
            lo, hi = zeta - z * se, zeta + z * se
            table["lower"], table["upper"] = (special.expit(lo), special.expit(hi)) if type == "zprob" else (lo, hi)
        return table

    def _zero_inflated_mean(self, newdata, random, allow_new_levels, offset) -> pd.Series:
        """``(1 - pi) mu`` at new (or the fitted) rows: the count mean times the
        probability that a zero is not structural."""
        from ..design.data import as_dataframe
        from ..predict import predict_glmm

        fam = self.family
        mu = predict_glmm(self, newdata, type="response", random=random, allow_new_levels=allow_new_levels,
                          offset=offset)
        Xzi, zoff = fam.zi_rows(None if newdata is None else as_dataframe(newdata))
        pi = stats.logistic.cdf(Xzi @ fam.zi_coefficients + zoff)
        return pd.Series((1.0 - pi) * mu.to_numpy(), index=mu.index, name="predicted")

    def _zero_inflated_table(self, newdata, random, allow_new_levels, offset, interval, level,
                             conditional) -> pd.DataFrame:
        """``(1 - pi) mu`` with its delta-method standard error and limits.

        On the log scale, ``log mean = eta + log(1 - pi)``: its variance takes
        the count model's linear predictor's (``prediction_table``, with the
        rows' conditional variances when asked), the zero-inflation
        coefficients' and their covariance with the fixed effects (the joint
        covariance of the fit); the limits are back-transformed, and
        ``se_fit`` is the mean times the log scale's.
        """
        from ..design.data import as_dataframe
        from ..predict import _fixed_matrix, prediction_table

        if interval not in (None, "confidence"):
            raise ValueError(f"interval must be None or 'confidence' for a zero-inflated fit, not "
                             f"{short_repr(interval)}")
        fam = self.family
        link = prediction_table(self, newdata, type="link", random=random, allow_new_levels=allow_new_levels,
                                offset=offset, interval=None, level=level, conditional=conditional)
        new = None if newdata is None else as_dataframe(newdata)
        X = np.asarray(self.design.X if new is None else _fixed_matrix(self.design, new), dtype=float)
        Xzi, zoff = fam.zi_rows(new)
        pi = special.expit(Xzi @ fam.zi_coefficients + zoff)
        p, q = X.shape[1], len(fam.gamma)
        C = np.asarray(self._cov_beta_extra, dtype=float)
        G = -pi[:, None] * (Xzi @ fam.Tzi)  # d log(1 - pi) / d (the internal zero-inflation coefficients)
        var = (link["se_fit"].to_numpy() ** 2 + np.einsum("ij,jk,ik->i", G, C[-q:, -q:], G)
               + 2.0 * np.einsum("ij,jk,ik->i", X, C[:p, -q:], G))
        log_mean = link["fit"].to_numpy() + np.log1p(-pi)
        se_log = np.sqrt(np.maximum(var, 0.0))
        out = pd.DataFrame({"fit": np.exp(log_mean), "se_fit": np.exp(log_mean) * se_log}, index=link.index)
        if interval is not None:
            z = stats.norm.ppf(0.5 + as_probability(level, "level") / 2)
            out["lower"], out["upper"] = np.exp(log_mean - z * se_log), np.exp(log_mean + z * se_log)
        return out

    # --------------------------------------------------------- diagnostics
    def check_overdispersion(self) -> pd.Series:
        """Pearson chi-square test of overdispersion, as ``performance::check_overdispersion``.

        Defined for Poisson and for binomial responses with more than one
        trial; a Bernoulli (0/1) response raises a ValueError.

        Returns
        -------
        pandas.Series
            ``chisq`` (sum of squared Pearson residuals), ``ratio`` (chisq /
            residual df), ``df`` and ``p``.

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...              ml.datasets.load("cbpp"))
        >>> m.check_overdispersion().round(3).to_dict()
        {'chisq': 63.078, 'ratio': 1.237, 'df': 51.0, 'p': 0.119}
        """
        from ..glmm.diagnostics import overdispersion

        if self.family.name == "binomial" and np.all(self._prior <= 1):
            raise ValueError("an overdispersion check needs counts or binomial trials > 1; "
                             "a 0/1 (Bernoulli) response cannot be overdispersed")
        stat = overdispersion(self.residuals("pearson").to_numpy(), self.nobs - self.df)
        return pd.Series(stat, name="overdispersion", dtype=float)

    # ----------------------------------------------------- zero inflation
    @property
    def zi(self) -> pd.DataFrame | None:
        """The zero-inflation model's coefficients (``zi=``): Estimate, Std. Error,
        z value, Pr(>|z|) on the logit scale of the probability of a structural
        zero; None without ``zi``.

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("count ~ mined + (1 | site)", ml.datasets.load("salamanders"),
        ...              family="poisson", zi="~ mined")
        >>> m.zi.index.tolist()
        ['(Intercept)', 'minedno']
        """
        fam = self.family
        if not fam.zero_inflated:
            return None
        from .rtable import CoefTable

        est = fam.zi_coefficients
        se = _zi_se(fam, self._cov_beta_extra)
        z = est / se
        return CoefTable({"Estimate": est, "Std. Error": se, "z value": z,
                          "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))}, index=list(fam.zi_names))

    # ----------------------------------------------------- fitted/residuals
    @property
    def fitted(self) -> pd.Series:
        """Fitted means on the response scale (with zero inflation, ``(1 - pi) mu``)."""
        mu = self._pirls.mu
        if self.family.zero_inflated:
            mu = self.family.mean(mu)
        return pd.Series(mu, index=self.design.data_index, name="fitted")

    def residuals(self, type: str | None = None) -> pd.Series:
        """Residuals: ``deviance`` (the default, as glmer, where the family has them),
        ``pearson`` (the default of the NB1 and beta families; the variance
        includes the dispersion parameter), ``response`` or ``working``.
        With zero inflation the pearson and response residuals are about the
        mean ``(1 - pi) mu``, with the mixture's variance ``(1 - pi)(V(mu) +
        pi mu^2)`` (glmmTMB's); the working residuals are the count model's."""
        if type is None:
            type = "deviance" if self.family.has_deviance_residuals else "pearson"
        as_choice(type, "type", ("deviance", "pearson", "response", "working"))
        y, mu, w = self.design.y, self._pirls.mu, self._prior
        mean = self.family.mean(mu) if self.family.zero_inflated else mu
        if type == "deviance":
            r = np.sign(y - mu) * np.sqrt(np.maximum(self.family.deviance_residuals(y, mu, w), 0))
        elif type == "pearson":
            r = (y - mean) * np.sqrt(w / self.family.variance(mu))
        elif type == "response":
            r = y - mean
        elif type == "working":
            r = (y - mu) / self.family.link.mu_eta(self._pirls.eta)
        else:
            raise ValueError(f"unknown residual type {short_repr(type)}; use deviance, pearson, response or working")
        return pd.Series(r, index=self.design.data_index, name=f"{type} residuals")

    def group_coefficients(self, group: str | None = None) -> pd.DataFrame:
        """Each group's intercept and slopes with the group-level predictors folded in
        on the link scale (the level-2 equations: ``beta_0j = g00 + g01 z_j + u_0j``, ...).

        See :func:`multilevel.results.effects.level1_coefficients`; ``coef``
        gives lme4's per-group coefficients without the folding.

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...              ml.datasets.load("cbpp"))
        >>> list(m.group_coefficients().columns)   # period varies within herds: its own columns
        ['(Intercept)', 'period2', 'period3', 'period4']
        """
        from .effects import level1_coefficients

        return level1_coefficients(self, group)

    def coef_table(self) -> pd.DataFrame:
        """Estimate, Std. Error, z value, Pr(>|z|) (Wald z tests, as glmer).

        A DataFrame (:class:`~multilevel.results.rtable.CoefTable`) that prints
        as the coefficient block of glmer's summary, with significance stars.

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...              ml.datasets.load("cbpp"))
        >>> print(m.coef_table().to_text().splitlines()[0])
                    Estimate Std. Error z value Pr(>|z|)
        """
        from .rtable import CoefTable

        est, se = self.fixef.to_numpy(), self.se.to_numpy()
        z = est / se
        return CoefTable({"Estimate": est, "Std. Error": se, "z value": z,
                          "Pr(>|z|)": 2 * stats.norm.sf(np.abs(z))}, index=self.fixef.index)

    @property
    def singular(self) -> bool:
        """True when a variance is estimated as zero or a correlation as +-1."""
        return any(m.startswith("boundary (singular) fit") for m in self.messages)

    @property
    def n_dropped(self) -> int:
        """Rows dropped for missing values."""
        return self.design.n_dropped

    def confint(self, method: str = "profile", level: float = 0.95, parm=None, **kw) -> pd.DataFrame:
        """Confidence intervals of the random effects' standard deviations and the
        fixed effects, as lme4's ``confint`` of a glmer fit.

        Parameters
        ----------
        method : {"profile", "wald", "boot"}
            Profile likelihood of the fit's deviance (Laplace or quadrature),
            Wald (fixed effects only), or a seeded
            parametric bootstrap (``nsim``, ``seed``, ``n_jobs`` in ``kw``).
        level : float
        parm : list of names or positions, "theta_" or "beta_", optional

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
        >>> m.confint(method="wald", parm="period2").round(3).values.tolist()
        [[-1.593, -0.391]]
        """
        from ..inference.intervals import confint

        return confint(self, method=method, level=level, parm=parm, **kw)

    def _term_cov(self, i: int) -> np.ndarray:
        """Covariance matrix of term ``i``'s random effects (on the link scale)."""
        return self._T[i] @ self._T[i].T

    def icc(self) -> pd.Series:
        """Intraclass correlation coefficients on the latent scale, as ``performance::icc``
        (see :func:`multilevel.inference.variance.icc`).

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
        >>> m.icc().round(3).to_dict()
        {'adjusted': 0.111, 'conditional': 0.102}
        """
        from ..inference.variance import icc

        return icc(self)

    def r2(self) -> pd.Series:
        """Nakagawa's marginal and conditional R2 on the latent scale, as
        ``performance::r2_nakagawa``.

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
        >>> m.r2().round(3).to_dict()
        {'conditional': 0.187, 'marginal': 0.085}
        """
        from ..inference.variance import r2_nakagawa

        return r2_nakagawa(self)

    def variance_partition(self, fixed: bool = False) -> pd.DataFrame:
        """Between-group and (latent) within-group variances and their proportions
        (:func:`multilevel.inference.variance.variance_partition`)."""
        from ..inference.variance import variance_partition

        return variance_partition(self, fixed=fixed)

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
        """The estimates as plain Python types (JSON-ready), as ``LmerResult.to_dict``.

        Returns
        -------
        dict
            Formula, family, link, method, counts, criteria, ``theta``,
            ``fixef``, ``se``, ``z_tests``, ``vcov``, ``varcorr`` (as
            :attr:`varcorr_long` records), messages and optimizer information.

        Examples
        --------
        >>> import json
        >>> import multilevel as ml
        >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
        ...              ml.datasets.load("cbpp"))
        >>> d = json.loads(json.dumps(m.to_dict()))
        >>> d["family"], d["link"], d["method"], d["nobs"], round(d["fixef"]["period2"], 3)
        ('binomial', 'logit', 'Laplace', 56, -0.992)
        >>> d["varcorr"][0]["grp"], round(d["varcorr"][0]["sdcor"], 3)
        ('herd', 0.642)
        """
        vc = self.varcorr_long.astype(object).where(self.varcorr_long.notna(), None)
        tab = self.coef_table()
        method = "Laplace" if self.nagq == 1 else "nAGQ=0" if self.nagq == 0 else f"AGQ (nAGQ={self.nagq})"
        return {
            "formula": self.formula,
            "family": self.family.name,
            "link": self.family.link.name,
            "dispersion": {k: float(v) for k, v in self.dispersion.items()},
            "dispersion_se_log": {k: float(v) for k, v in self.dispersion_se.items()},
            "zi": None if self.zi is None else {k: float(v) for k, v in self.zi["Estimate"].items()},
            # the covariance of (beta, the family's own parameters), which a saved fit restores
            "cov_beta_extra": None if self._cov_beta_extra is None or not self.family.n_extra
            else np.asarray(self._cov_beta_extra).tolist(),
            # the same in the standardised parameters, with their maps to the user's (marginal
            # means and prediction SEs keep their digits there: a covariate at x + 1e9)
            "vcov_working": None if self._working is None else [np.asarray(a).tolist() for a in self._working],
            "cov_extra_working": None if self._cov_extra_working is None or not self.family.n_extra
            else [np.asarray(a).tolist() for a in self._cov_extra_working],
            "method": method,
            "nagq": self.nagq,
            "nobs": self.nobs,
            "n_dropped": self.n_dropped,
            "ngroups": self.ngroups,
            "loglik": float(self.loglik),
            "deviance": float(self.deviance),
            "aic": float(self.aic),
            "bic": float(self.bic),
            "df": self.df,
            "df_resid": self.nobs - self.df,
            "theta": {k: float(v) for k, v in self.theta.items()},
            "fixef": {k: float(v) for k, v in self.fixef.items()},
            "se": {k: float(v) for k, v in self.se.items()},
            "z_tests": {k: {"z": float(r["z value"]), "p": float(r["Pr(>|z|)"])} for k, r in tab.iterrows()},
            "vcov": self.vcov.to_numpy().tolist(),
            "varcorr": vc.to_dict(orient="records"),
            "singular": self.singular,
            "messages": list(self.messages),
            "optimizer": {"name": self.optinfo.optimizer, "feval": self.optinfo.feval,
                          "result": self.optinfo.result},
        }

    def _repr_html_(self) -> str:
        from .summary import glmer_html

        return glmer_html(self)

    def summary(self) -> str:
        """glmer-style summary text."""
        from .summary import glmer_summary

        return glmer_summary(self)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"<GlmerResult {self.family.name}({self.family.link.name}) {self.formula!r}: "
                f"{self.nobs} obs, logLik {self.loglik:.4f}>")
