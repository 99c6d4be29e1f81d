"""Fitting a linear mixed model with a residual variance model (``dispformula``).

The criterion is lme4's profiled deviance (or REML criterion) with precision
weights ``w_i = prior_i exp(-2 (x_i - c)' delta)``: the log-determinant of the
weights is part of it, so minimising it jointly over theta and ``delta`` is
maximum likelihood (or REML) for the heteroscedastic model, as nlme's
``varIdent`` / ``varExp`` and glmmTMB's ``dispformula`` define it. The
optimisation runs on the standardised design (the dispersion columns centred
and scaled: their means only move ``sigma``); the result is the ordinary fit
at the estimated weights, with the dispersion model and its coefficients'
standard errors (from the criterion's Hessian over theta and ``delta``)
attached to its design.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..design import standardize
from ..linalg import NotPositiveDefinite, ThetaLayout, cross_products, factorize
from .joint import (covariance_of_hessian, joint_covariance, joint_restarts, joint_search_newton,
                    theta_start)
from .objective import criterion

__all__ = ["fit_with_dispersion"]


def _scaled_theta(layout: ThetaLayout, theta: np.ndarray, k: float) -> np.ndarray:
    """theta for random-effect SDs ``k`` times as large relative to sigma: every element of an
    unstructured term's factor, a structured term's SD ratios."""
    scaled = np.concatenate([np.ones(layout.offsets[i + 1] - layout.offsets[i], dtype=bool) if s is None
                             else s.sd_mask for i, s in enumerate(layout.structures)])
    return np.where(scaled, k, 1.0) * np.asarray(theta, dtype=float)


def fit_with_dispersion(design, reml: bool, optimizer: str, start, data_name, fit_design):
    """Fit ``design`` (which has a :class:`~multilevel.design.dispersion.DispersionModel`)
    by ML or REML over theta and the dispersion coefficients jointly, and the
    residual correlation's rho too where the design has one (``residual=``: nlme's
    ``varIdent`` with ``corAR1``, the rows weighted at delta, then whitened at rho).

    ``fit_design`` is :func:`multilevel.lmm.fit.fit_design`, which builds the
    result at the estimated weights.
    """
    from .correlation import check_correlated_weights, whitened_design

    dm = design.dispersion
    rc = design.residual
    if rc is not None:
        check_correlated_weights(dm.prior)
    base = replace(design, weights=dm.prior, dispersion=None, residual=None)
    st, inner = standardize(base)
    layout = ThetaLayout.from_terms(inner.terms)
    nt = layout.ntheta
    prior = np.ones(design.n) if dm.prior is None else dm.prior
    data = prior > 0  # (rows of weight 0 are not data: the columns' scales are the others', and they keep 0)
    Xd = dm.X[data]
    mu = Xd.mean(axis=0)
    sd = Xd.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    Xs = np.where(data[:, None], (dm.X - mu) / sd, 0.0)

    nd = Xs.shape[1]

    def cp_at(d, a=None):
        weighted = replace(inner, weights=prior * np.exp(-2.0 * (Xs @ d)))
        if rc is None:
            return cross_products(weighted)
        wd, logdet = whitened_design(weighted, rc, rc.rho_of(a))
        cp = cross_products(wd)
        return replace(cp, log_weights=cp.log_weights - logdet)

    def f(x):
        x = np.asarray(x, dtype=float)
        try:
            cp = cp_at(x[nt:nt + nd], x[-1] if rc is not None else None)
            val = criterion(factorize(cp, layout, x[:nt]), cp, reml)
        except (NotPositiveDefinite, FloatingPointError, np.linalg.LinAlgError):
            return float("inf")
        return float(val) if np.isfinite(val) else float("inf")

    theta0 = theta_start(start, inner, layout, st)
    a0 = [] if rc is None else [rc.start]
    x0 = np.r_[theta0, np.zeros(nd), a0]
    lower = np.r_[layout.lower, np.full(nd + len(a0), -np.inf)]
    opt, H = joint_search_newton(f, x0, lower, optimizer, "the residual SD model")
    opt, H = joint_restarts(f, opt, H, layout, lower)
    x = np.asarray(opt.xopt, dtype=float)
    d = x[nt:nt + nd]
    coef = d / sd
    # the weights at the optimum were exp(2 (mu - c)'delta) times the model's: sigma and theta move by its root
    c = float(np.exp(2.0 * ((mu - dm.center) @ coef)))
    theta_user = st.theta_to_user(_scaled_theta(layout, x[:nt], np.sqrt(c)))
    fitted = dm.with_coef(coef)
    # standard errors of delta and rho (NaN where the criterion's Hessian is not positive definite)
    free = np.r_[x[:nt] > lower[:nt] + 1e-6, np.ones(x.size - nt, dtype=bool)]
    # (over the free parameters: a theta on its bound is left out)
    V = covariance_of_hessian(H, free) if H is not None else joint_covariance(f, x, free)
    k = int(free[:nt].sum())
    se = np.full(d.size, np.nan) if V is None else np.sqrt(np.diag(V)[k:k + nd]) / sd
    fitted = replace(fitted, se=se)
    weighted = replace(design, weights=fitted.weights(), dispersion=None, residual=None)

    def final(d):
        """The ordinary fit at the optimum: built there where the Newton steps ended the search
        (theta is at its optimum for these weights), else searched from there."""
        if H is None:
            return fit_design(d, reml=reml, optimizer="bobyqa", start=theta_user, data_name=data_name)
        saved = replace(opt, x0=theta_user, xopt=theta_user, lower=lower[:nt])
        return fit_design(d, reml=reml, optimizer=optimizer, start="identity", data_name=data_name,
                          _restore=(saved, None))

    if rc is None:
        fit = final(weighted)
        return replace(fit, design=replace(fit.design, dispersion=fitted))
    rho = rc.canonical(rc.rho_of(x[-1]))
    se_rho = None if V is None else float(np.sqrt(V[-1, -1]))
    wd, logdet = whitened_design(weighted, rc, rho)
    fit = final(wd)
    return replace(fit, design=replace(weighted, dispersion=fitted, residual=rc.with_rho(rho, se_rho)),
                   objective=fit.objective + logdet)
