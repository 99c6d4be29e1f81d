"""Profile-likelihood intervals of a GLMM's parameters, as lme4's ``confint(glmer_fit)``.

For each parameter ``x`` (a random effect's standard deviation or a fixed
effect) the deviance is minimised over all the other parameters with ``x``
held at a value; ``zeta(x) = sign(x - x_hat) sqrt(dev(x) - dev_min)`` is the
signed square root of its rise, and the interval's limits are where ``zeta``
equals the normal quantiles (+-1.96 for 95%). The deviance is the one the fit
minimised: Laplace, or adaptive Gauss-Hermite for ``nagq > 1``. A standard
deviation whose profile stays above the lower quantile down to 0 gets the
limit 0, as lme4 gives it.

The minimisations run on the fit's standardised design
(:mod:`multilevel.design.standardize`), so the limits do not depend on the
units of the predictors. Models whose random-effects terms are all scalar
(``(1 | g)``, ``(x || g)``) are covered; correlated terms raise a ValueError
that points to the bootstrap.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..design import standardize
from ..linalg import ThetaLayout
from ..lmm.optimize import minimize_theta
from .parameters import _select, parameter_names, percent_labels

__all__ = ["glmm_profile_confint"]


class _Deviance:
    """The GLMM's deviance over its internal (theta, beta), with warm starts."""

    def __init__(self, fit):
        from ..glmm.pirls import pirls_plan

        self.fit = fit
        self.st, self.design = standardize(fit.design, response=False)
        self.layout = ThetaLayout.from_k(tuple(t.k for t in self.design.terms))
        self.nt = self.layout.ntheta
        self.prior = np.asarray(fit._prior, dtype=float)
        self.plan = pirls_plan(self.design, fit.family, self.prior)
        self.u = None

    def __call__(self, x: np.ndarray) -> float:
        from ..glmm.agq import agq_deviance
        from ..glmm.pirls import pirls

        nt, fit = self.nt, self.fit
        try:
            r = pirls(self.design, fit.family, x[:nt], self.layout, self.prior, beta=x[nt:], u_start=self.u,
                      plan=self.plan, tol=1e-12)
            if not r.converged:
                r = pirls(self.design, fit.family, x[:nt], self.layout, self.prior, beta=x[nt:], plan=self.plan,
                          tol=1e-12)
        except (ArithmeticError, np.linalg.LinAlgError):
            return math.inf
        if r.converged:
            self.u = r.u
        return float(r.laplace if fit.nagq <= 1 else agq_deviance(self.design, fit.family, x[:nt], r,
                                                                   self.prior, fit.nagq))


def _profile_limits(dev: _Deviance, x_hat: np.ndarray, dev_min: float, which: int, direction_vec,
                    value_of, at_value, lower_bound: float | None, z: float, step: float):
    """Lower and upper limits of one parameter.

    ``value_of(x)`` is the parameter at the full internal vector ``x``;
    ``at_value(v, free)`` the full vector with the parameter at ``v`` and the
    other coordinates ``free``; ``direction_vec`` is unused by scalar
    parameters (kept for the fixed effects' constraint).
    """
    est = value_of(x_hat)
    free0 = direction_vec(x_hat)
    lower_free = dev.lower_free
    state = {"free": free0.copy()}

    def prof(v: float) -> float:
        def f(free):
            return dev(at_value(v, free))

        res = minimize_theta(f, state["free"], lower_free, xtol_abs=1e-9, ftol_abs=1e-11)
        state["free"] = res.xopt
        return res.fopt

    def zeta(v: float) -> float:
        rise = max(prof(v) - dev_min, 0.0)
        return math.copysign(math.sqrt(rise), v - est)

    limits = []
    for sign in (-1.0, 1.0):
        state["free"] = free0.copy()
        h, prev, found = step, est, None
        for _ in range(40):
            v = est + sign * h
            if lower_bound is not None and v <= lower_bound:
                zb = zeta(lower_bound)
                if sign * zb < z:  # the profile does not reach the quantile before the boundary
                    found = lower_bound
                else:
                    found = optimize.brentq(lambda t: zeta(t) - sign * z, lower_bound, prev, xtol=1e-8)
                break
            zv = zeta(v)
            if sign * zv >= z:
                lo, hi = (v, prev) if sign < 0 else (prev, v)
                found = optimize.brentq(lambda t: zeta(t) - sign * z, lo, hi, xtol=1e-8 * max(1.0, abs(est)))
                break
            prev, h = v, h * 2.0
        limits.append(np.nan if found is None else float(found))
    return limits


def glmm_profile_confint(fit, level: float = 0.95, parm=None) -> pd.DataFrame:
    """Profile-likelihood intervals of a GLMM's standard deviations and fixed effects.

    Parameters
    ----------
    fit : GlmerResult
        With scalar random-effects terms only.
    level : float, default 0.95
    parm : str, int or list, optional
        Parameters (names, positions, ``"theta_"`` or ``"beta_"``); all by default.

    Returns
    -------
    pandas.DataFrame
        lme4's parameter names (``sd_(Intercept)|herd``, the fixed effects) and
        the two limits.

    Examples
    --------
    >>> import multilevel as ml
    >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    >>> glmm_profile_confint(m, parm="sd_(Intercept)|herd").round(3)
                         2.5 %  97.5 %
    sd_(Intercept)|herd  0.346     1.1
    """
    names = parameter_names(fit)
    cols = percent_labels(level)
    nvar = len(fit.theta)
    chosen = _select(names, parm, nvar)
    if any(t.k > 1 for t in fit.design.terms):
        raise ValueError(
            "profile intervals of a GLMM with correlated random effects are not available; use "
            "confint(method='boot') (a parametric bootstrap) or method='Wald' for the fixed effects"
        )
    if fit.nagq == 0:
        raise ValueError("profile intervals need the Laplace or quadrature fit (nagq >= 1), not nagq = 0")
    z = float(stats.norm.ppf((1.0 + level) / 2.0))
    dev = _Deviance(fit)
    st, nt = dev.st, dev.nt
    x_hat = np.asarray(fit._x_internal, dtype=float)
    p = x_hat.size - nt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dev_min = dev(x_hat)
        out = {}
        se = fit.se.to_numpy()
        for name in chosen:
            j = names.index(name)
            if j < nvar:
                # the standard deviation of scalar term j: |B| theta_j
                scale = abs(float(st.B[j][0, 0]))
                others = [i for i in range(x_hat.size) if i != j]
                dev.lower_free = np.concatenate([dev.layout.lower, np.full(p, -np.inf)])[others]

                def at_value(v, free, j=j, others=others, scale=scale):
                    x = np.empty(x_hat.size)
                    x[j] = v / scale
                    x[others] = free
                    return x

                lim = _profile_limits(dev, x_hat, dev_min, j, lambda x, o=others: x[o],
                                      lambda x, j=j, s=scale: x[j] * s, at_value, 0.0, z,
                                      step=max(0.25 * x_hat[j] * scale, 0.05 * scale))
            else:
                # fixed effect k = j - nvar: beta_user_k = Tx[k] @ beta_int; hold it by
                # moving along a, free in the null space of a
                k = j - nvar
                a = st.Tx[k]
                Q, _ = np.linalg.qr(np.column_stack([a, np.eye(p)]))
                N = Q[:, 1:p] if p > 1 else np.zeros((p, 0))
                a_unit = a / (a @ a)
                dev.lower_free = np.concatenate([dev.layout.lower, np.full(p - 1, -np.inf)])

                def at_value(v, free, N=N, a_unit=a_unit):
                    return np.concatenate([free[:nt], v * a_unit + N @ free[nt:]])

                def free_of(x, N=N):
                    return np.concatenate([x[:nt], N.T @ x[nt:]])

                lim = _profile_limits(dev, x_hat, dev_min, j, free_of, lambda x, a=a: float(a @ x[nt:]),
                                      at_value, None, z, step=float(se[k]))
            out[name] = lim
    return pd.DataFrame(np.array([out[n] for n in chosen]), index=chosen, columns=cols)
