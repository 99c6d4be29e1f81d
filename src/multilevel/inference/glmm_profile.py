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
units of the predictors. With a correlated term (``(1 + x | g)``) the
profile runs over lme4's parameters (standard deviations, correlations,
fixed effects), each evaluation mapped to the standardised design.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ..design import standardize
from ..linalg import ThetaLayout
from .parameters import _select, parameter_names, percent_labels
from .profile import _bobyqa

__all__ = ["glmm_profile_confint"]


class _Deviance:
    """The GLMM's deviance over its internal (theta, beta, log-dispersion), with warm starts."""

    def __init__(self, fit):
        from ..glmm.pirls import pirls_plan

        self.fit = fit
        self.st, self.design = standardize(fit.design, response=False,
                                           eta_scale=fit.family.eta_scale(fit.design.y, fit._prior))
        self.layout = ThetaLayout.from_terms(self.design.terms)
        self.nt = self.layout.ntheta
        self.prior = np.asarray(fit._prior, dtype=float)
        self.plan = pirls_plan(self.design, fit.family, self.prior)
        self.p = len(fit.fixef)
        self.nd = fit.family.n_extra
        self.u = None

    def _bound(self, logd):
        fam = self.fit.family
        if not self.nd:
            return fam, self.plan
        fam = fam.with_extra(logd)
        return fam, replace(self.plan, deviance=fam.deviance_function(self.design.y, self.prior))

    def __call__(self, x: np.ndarray) -> float:
        from ..glmm.agq import agq_deviance
        from ..glmm.pirls import pirls

        nt, fit = self.nt, self.fit
        beta = x[nt:nt + self.p]
        fam, plan = self._bound(x[nt + self.p:])
        try:
            r = pirls(self.design, fam, x[:nt], self.layout, self.prior, beta=beta, u_start=self.u,
                      plan=plan, tol=1e-12)
            if not r.converged:
                r = pirls(self.design, fam, x[:nt], self.layout, self.prior, beta=beta, plan=plan, tol=1e-12)
        except (ArithmeticError, np.linalg.LinAlgError):
            return math.inf
        if r.converged:
            self.u = r.u
        return float(r.laplace if fit.nagq <= 1 else agq_deviance(self.design, fam, x[:nt], r,
                                                                   self.prior, fit.nagq))


def _root(f, lo: float, hi: float, xtol: float) -> float:
    """The crossing of ``f`` in [lo, hi], or NaN (with a warning) where the profile is not
    monotone there: re-optimising the other parameters found a lower deviance than the
    bracket's end had, a local optimum that singular fits often show."""
    try:
        return optimize.brentq(f, lo, hi, xtol=xtol)
    except ValueError:  # no sign change between the bracket's ends as evaluated now
        warnings.warn("a profile is not monotone where its limit lies (the profiled deviance has a local "
                      "optimum there, common in singular fits): that limit is NaN; use method='wald' "
                      "or method='boot'", UserWarning, stacklevel=4)
        return math.nan


def _profile_limits(dev, dev_min: float, est: float, free0: np.ndarray, at_value,
                    box: tuple[np.ndarray, np.ndarray, np.ndarray], bounds: tuple[float | None, float | None],
                    z: float, step: float):
    """Lower and upper limits of one parameter.

    ``at_value(v, free)`` is the full internal vector with the parameter at ``v``
    and the other parameters at ``free``; ``box`` holds the lower and upper
    bounds and the initial steps of ``free``; ``bounds`` the parameter's own.
    """
    lower_free, upper_free, step_free = box
    xtol = 1e-7 * float(np.min(step_free)) if step_free.size else 1e-10
    # the other parameters' optima along the way out from the estimate: each profile point
    # starts from the optimum of the nearest point between it and the estimate (a start from
    # beyond it, at a boundary where a standard deviation has gone to zero, can leave the
    # deviance flat in the parameter and the limit unfound)
    path: list[tuple[float, np.ndarray]] = [(est, free0.copy())]

    def prof(v: float) -> float:
        inside = [(abs(u - v), free) for u, free in path if (u - est) * (v - est) >= 0 and abs(u - est) <= abs(v - est)]
        start = min(inside, key=lambda t: t[0])[1] if inside else free0
        x, f, _, _ = _bobyqa(lambda free: dev(at_value(v, free)), start, lower_free, upper_free,
                             step_free, xtol=xtol, ftol=1e-11)
        path.append((v, x))
        return f

    def zeta(v: float) -> float:
        rise = max(prof(v) - dev_min, 0.0)
        return math.copysign(math.sqrt(rise), v - est)

    limits = []
    # the roots' tolerance in the parameter's own units (its first step, a standard error): an
    # absolute 1e-8 was 7% of the interval of a slope per second (HEIGHT x 86400)
    tol = 1e-8 * max(abs(est), abs(step)) if step > 0 else 1e-8
    for sign, bound in ((-1.0, bounds[0]), (1.0, bounds[1])):
        h, prev, found = step, est, None
        for _ in range(40):
            v = est + sign * h
            if bound is not None and sign * (v - bound) >= 0:
                if sign * (est - bound) >= 0:  # the estimate is on the boundary
                    found = bound
                    break
                # at a correlation of exactly +-1 the covariance factor is singular and the
                # deviance not finite: the profile is then taken just inside the boundary
                edge, z_edge = bound, zeta(bound)
                if not math.isfinite(z_edge):
                    edge = bound - sign * 1e-6 * max(1.0, abs(bound))
                    z_edge = zeta(edge)
                if not math.isfinite(z_edge) or sign * z_edge < z:
                    found = bound  # the profile does not reach the quantile before the boundary
                else:
                    lo, hi = (edge, prev) if sign < 0 else (prev, edge)
                    found = _root(lambda t: zeta(t) - sign * z, lo, hi, tol)
                break
            zv = zeta(v)
            if sign * zv >= z:
                lo, hi = (v, prev) if sign < 0 else (prev, v)
                found = _root(lambda t: zeta(t) - sign * z, lo, hi, tol)
                break
            prev, h = v, h * 2.0
        limits.append(np.nan if found is None else float(found))
    return limits


def glmm_profile_confint(fit, level: float = 0.95, parm=None) -> pd.DataFrame:
    """Profile-likelihood intervals of a GLMM's standard deviations, correlations and fixed effects.

    Parameters
    ----------
    fit : GlmerResult
    level : float, default 0.95
    parm : str, int or list, optional
        Parameters (names, positions, ``"theta_"`` or ``"beta_"``); all by default.

    Returns
    -------
    pandas.DataFrame
        lme4's parameter names (``sd_(Intercept)|herd``, ``cor_x.(Intercept)|g``,
        the fixed effects) and the two limits.

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
    if fit.nagq == 0:
        raise ValueError("profile intervals need the Laplace or quadrature fit (nagq >= 1), not nagq = 0")
    z = float(stats.norm.ppf((1.0 + level) / 2.0))
    dev = _Deviance(fit)
    st, nt = dev.st, dev.nt
    x_hat = np.asarray(fit._x_internal, dtype=float)
    p = dev.p
    se = fit.se.to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dev_min = dev(x_hat)
        if all(t.k == 1 for t in fit.design.terms):
            rows = [_scalar_limits(dev, st, x_hat, dev_min, j, nvar, nt, p, se, z) for j in chosen]
        else:
            rows = [_rel_limits(dev, fit, st, dev_min, j, nvar, nt, p, se, z) for j in chosen]
    return pd.DataFrame(np.array(rows), index=[names[j] for j in chosen], columns=cols)


def _scalar_limits(dev, st, x_hat, dev_min, j, nvar, nt, p, se, z):
    """Limits of parameter ``j`` of a model with scalar terms only, in the internal
    parameters: an SD is ``|B| theta_j``; a fixed effect ``Tx[k] @ beta`` is held by
    moving along ``Tx[k]`` with the rest free in its null space."""
    if j < nvar:
        scale = abs(float(st.B[j][0, 0]))
        others = [i for i in range(x_hat.size) if i != j]
        lower = np.concatenate([dev.layout.lower, np.full(p + dev.nd, -np.inf)])[others]
        step = np.where(np.isfinite(lower), np.maximum(0.2 * np.abs(x_hat[others]), 0.05),
                        np.maximum(0.2 * np.abs(x_hat[others]), 0.1))

        def at_value(v, free):
            x = np.empty(x_hat.size)
            x[j] = v / scale
            x[others] = free
            return x

        return _profile_limits(dev, dev_min, x_hat[j] * scale, x_hat[others], at_value,
                               (lower, np.full(lower.size, np.inf), step), (0.0, None), z,
                               step=max(0.25 * x_hat[j] * scale, 0.05 * scale))
    k = j - nvar
    a = st.scale * st.Tx[k]  # beta_user[k] = scale Tx[k] @ beta_internal
    Q, _ = np.linalg.qr(np.column_stack([a, np.eye(p)]))
    N = Q[:, 1:p] if p > 1 else np.zeros((p, 0))
    a_unit = a / (a @ a)
    # the log-dispersion (if any) stays free after the fixed effects' null space
    free0 = np.concatenate([x_hat[:nt], N.T @ x_hat[nt:nt + p], x_hat[nt + p:]])
    lower = np.concatenate([dev.layout.lower, np.full(p - 1 + dev.nd, -np.inf)])
    step = np.maximum(0.2 * np.abs(free0), 0.1)

    def at_value(v, free):
        return np.concatenate([free[:nt], v * a_unit + N @ free[nt:nt + p - 1], free[nt + p - 1:]])

    return _profile_limits(dev, dev_min, float(a @ x_hat[nt:nt + p]), free0, at_value,
                           (lower, np.full(lower.size, np.inf), step), (None, None), z, step=float(se[k]))


def _units(B, t) -> np.ndarray:
    """Per relative parameter of a term, the size of its effect's unit: the row norms of the
    term's map ``B`` at its standard deviations (one for a structure with one SD), 1 elsewhere."""
    norms = np.linalg.norm(B, axis=1)
    if t.structure is None:
        return norms[t.rows]
    sds = norms if t.structure.nsd == t.k else np.array([float(np.mean(norms))])
    return np.r_[sds, 1.0]


def _rel_limits(dev, fit, st, dev_min, j, nvar, nt, p, se, z):
    """Limits of parameter ``j`` of a model with a correlated term, over lme4's
    parameters (standard deviations, correlations, fixed effects) on the user's
    scale, each evaluation mapped to the internal ones."""
    from .profile import _rel_from_theta, _terms, _theta_from_rel

    terms = _terms(dev.layout)
    rel_hat = _rel_from_theta(terms, fit.theta.to_numpy())
    beta_hat = fit.fixef.to_numpy()
    logd_hat = fit.family.extra_internal()
    y_hat = np.concatenate([rel_hat, beta_hat, logd_hat])
    diag = dev.layout.diagonal
    nd = dev.nd
    lower_rel = np.where(diag, 0.0, -1.0)
    for t in terms:  # a structure's correlation: above the smallest that keeps it definite
        if t.structure is not None:
            lower_rel[t.off + t.structure.nsd] = t.structure.rho_lower
    lower_all = np.concatenate([lower_rel, np.full(p + nd, -np.inf)])
    upper_all = np.concatenate([np.where(diag, np.inf, 1.0), np.full(p + nd, np.inf)])
    # an SD's step in the units of its effect: the row norm of the term's map B
    unit = np.concatenate([_units(B, t) for B, t in zip(st.B, terms)])
    step_all = np.concatenate([np.where(diag, np.maximum(0.1 * rel_hat, 0.05 * unit), 0.1), se, np.full(nd, 0.1)])

    def to_x(y):
        theta = _theta_from_rel(terms, y[:nvar])
        if theta is None:
            return None
        return np.concatenate([st.theta_to_internal(theta), st.beta_to_internal(y[nvar:nvar + p]), y[nvar + p:]])

    def dev_y(y):
        x = to_x(y)
        return math.inf if x is None else dev(x)

    others = [i for i in range(y_hat.size) if i != j]

    def at_value(v, free):
        y = np.empty(y_hat.size)
        y[j] = v
        y[others] = free
        return y

    box = (lower_all[others], upper_all[others], step_all[others])
    bounds = (None if np.isinf(lower_all[j]) else float(lower_all[j]),
              None if np.isinf(upper_all[j]) else float(upper_all[j]))
    step = float(step_all[j]) if j >= nvar or diag[j] else 0.1
    return _profile_limits(dev_y, dev_min, float(y_hat[j]), y_hat[others], at_value, box, bounds, z, step)
