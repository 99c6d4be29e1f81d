"""Fitting a linear mixed model with correlated residuals within groups (``residual=``).

For a correlation ``rho`` the rows of each group are whitened (multiplied by
``L_g^-1``, :mod:`multilevel.design.correlation`), which leaves an ordinary
linear mixed model whose criterion, plus ``log |R|``, is the correlated
model's -2 log-likelihood (ML) or REML criterion, as nlme's ``lme`` with
``correlation=`` defines them. theta and rho's unconstrained parameter are
optimised jointly (BOBYQA), on the standardised design (a column transform,
which whitening, a row transform, leaves in place). The result is the
ordinary fit of the whitened design at the estimated rho (its fixed effects'
covariance, conditional modes and variances), holding the user's design with
the correlation model attached, so that fitted values, residuals,
predictions and refits are on the data's rows; Satterthwaite's df
differentiate over rho too (:mod:`multilevel.inference.satterthwaite`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..design import standardize
from ..linalg import NotPositiveDefinite, ThetaLayout, cross_products, factorize
from .joint import covariance_of_hessian, joint_covariance, joint_search_newton, theta_start
from .objective import criterion

__all__ = ["check_correlated_weights", "fit_with_correlation", "whitened_design"]


def check_correlated_weights(weights) -> None:
    """Prior weights that go with a residual correlation must be positive: a row of weight 0
    has infinite residual variance, and no place in a group's correlation matrix.

    Examples
    --------
    >>> check_correlated_weights(np.array([1.0, 2.0]))    # positive: nothing to say
    >>> check_correlated_weights(np.array([1.0, 0.0]))
    Traceback (most recent call last):
    ...
    ValueError: 1 row(s) have a prior weight of 0 (or below) together with a residual correlation (residual=): drop those rows from the data, or fit without residual=
    """
    if weights is not None and np.any(np.asarray(weights, dtype=float) <= 0):
        n = int(np.sum(np.asarray(weights, dtype=float) <= 0))
        raise ValueError(f"{n} row(s) have a prior weight of 0 (or below) together with a residual correlation "
                         "(residual=): drop those rows from the data, or fit without residual=")


def whitened_design(design, rc, rho: float):
    """``design`` (without its correlation model) with every group's rows whitened at ``rho``,
    and ``log |R|``.

    With prior weights the residual covariance is ``sigma^2 W^-1/2 C W^-1/2`` (nlme's
    ``varFixed`` with ``corAR1``): the rows are scaled by ``sqrt(w)`` before whitening,
    and ``log |R| = log |C| - sum(log w)``; the whitened design carries no weights."""
    y = design.y if design.offset is None else design.y - design.offset
    arrays = [y, design.X] + [t.Z for t in design.terms]
    shift = 0.0
    if design.weights is not None:
        sw = np.sqrt(np.asarray(design.weights, dtype=float))
        arrays = [a * (sw if a.ndim == 1 else sw[:, None]) for a in arrays]
        shift = float(np.sum(np.log(design.weights)))
    outs, logdet = rc.whiten(arrays, rho)
    terms = tuple(replace(t, Z=np.ascontiguousarray(Z)) for t, Z in zip(design.terms, outs[2:]))
    out = replace(design, y=outs[0], fixed=replace(design.fixed, X=np.ascontiguousarray(outs[1])), terms=terms,
                  offset=None, residual=None, weights=None)
    return out, logdet - shift


def _one_term_criterion(inner, rc, layout, reml):
    """``f((theta, a))`` by the compiled one-term kernel on the whitened cross-products,
    formed per pattern of times as ``A_g' R^-1 A_g`` without whitening the rows; None
    where it does not apply (several random-effects terms, or no compiled kernels)."""
    from ..linalg import kernels

    if len(inner.terms) != 1 or not kernels.available():
        return None
    t = inner.terms[0]
    Xy = np.column_stack([inner.X, inner.y])
    pc, k, nl = Xy.shape[1], t.k, t.nlevels
    A = np.concatenate([Xy, t.Z], axis=1)
    log_w = 0.0
    if inner.weights is not None:  # R = W^-1/2 C W^-1/2: the rows scaled by sqrt(w), C's precision
        A = A * np.sqrt(np.asarray(inner.weights, dtype=float))[:, None]
        log_w = float(np.sum(np.log(inner.weights)))
    pats = []
    u = rc.lag_unit
    for rows, times in rc.patterns:
        lev = np.asarray(t.codes)[rows[:, 0]]
        Ap = np.ascontiguousarray(A[rows])
        # the closed forms' pieces, so that an evaluation combines them with no products: AR(1)
        # over consecutive times (steps of the lag unit), R^-1 = (I + r^2 D - r (E + E')) / (1 - r^2)
        # with D the interior of the diagonal; compound symmetry, R^-1 = (I - r / b 11') / a
        m = Ap.shape[1]
        M0 = np.einsum("gmc,gmd->gcd", Ap, Ap)
        pieces = None
        if rc.kind == "ar1" and m > 1 and np.allclose(np.diff(times), u, rtol=1e-9, atol=0.0):
            off = np.einsum("gmc,gmd->gcd", Ap[:, :-1], Ap[:, 1:])
            pieces = ("ar1", M0, off + off.transpose(0, 2, 1),
                      np.einsum("gmc,gmd->gcd", Ap[:, 1:-1], Ap[:, 1:-1]))
        elif rc.kind == "cs":
            s1 = Ap.sum(axis=1)
            pieces = ("cs", M0, np.einsum("gc,gd->gcd", s1, s1), None)
        elif m == 1:
            pieces = ("one", M0, None, None)
        pats.append((Ap, lev, np.unique(lev).size == lev.size, pieces))
    kernel = kernels.compiled("one")
    chol = layout.cholesky
    r0, c0 = chol.rows[0].astype(np.int64), chol.cols[0].astype(np.int64)
    n, p, nt = inner.n, inner.p, layout.ntheta

    def f(x):
        x = np.asarray(x, dtype=float)
        D0 = np.zeros((nl, k, k))
        B = np.zeros((nl, pc, k))
        C = np.zeros((pc, pc))
        logdet = 0.0
        r = rc.rho_of(x[-1])   # (the correlation at the lag unit)
        prec = None
        for i, (Ap, lev, unique, pieces) in enumerate(pats):
            m = Ap.shape[1]
            kind = None if pieces is None else pieces[0]
            if kind == "ar1":
                q = 1.0 - r * r
                if not q > 0:
                    return float("inf")
                M = (pieces[1] + (r * r) * pieces[3] - r * pieces[2]) / q
                ld = (m - 1) * np.log(q)
            elif kind == "cs":
                a, b = 1.0 - r, 1.0 + (m - 1) * r
                if not (a > 0 and b > 0):
                    return float("inf")
                M = (pieces[1] - (r / b) * pieces[2]) / a
                ld = (m - 1) * np.log(a) + np.log(b)
            elif kind == "one":
                M, ld = pieces[1], 0.0
            else:
                if prec is None:
                    try:
                        prec = rc.precisions(r)
                    except np.linalg.LinAlgError:
                        return float("inf")
                W, ld = prec[i]
                M = np.matmul(Ap.transpose(0, 2, 1), np.matmul(W, Ap))  # A_g' R^-1 A_g, (G, c, c)
            logdet += Ap.shape[0] * ld
            if unique:  # (one group per level: the usual case)
                D0[lev] += M[:, pc:, pc:]
                B[lev] += M[:, :pc, pc:]
            else:
                np.add.at(D0, lev, M[:, pc:, pc:])
                np.add.at(B, lev, M[:, :pc, pc:])
            C += M[:, :pc, :pc].sum(axis=0)
        theta = np.ascontiguousarray(layout.to_cholesky(x[:nt]))
        val = kernel(theta, r0, c0, D0, np.ascontiguousarray(B.transpose(1, 0, 2)), C, n, p, log_w - logdet,
                     bool(reml))
        return float(val) if np.isfinite(val) else float("inf")

    return f


def fit_with_correlation(design, reml: bool, optimizer: str, start, data_name, fit_design):
    """Fit ``design`` (which has a :class:`~multilevel.design.correlation.ResidualCorrelation`)
    by ML or REML over theta and rho jointly; ``fit_design`` builds the result at rho."""
    rc = design.residual
    check_correlated_weights(design.weights)
    base = replace(design, residual=None)
    st, inner = standardize(base)
    layout = ThetaLayout.from_terms(inner.terms)
    nt = layout.ntheta

    def f_general(x):
        x = np.asarray(x, dtype=float)
        try:
            wd, logdet = whitened_design(inner, rc, rc.rho_of(x[-1]))
            cp = cross_products(wd)
            cp = replace(cp, log_weights=cp.log_weights - logdet)
            val = criterion(factorize(cp, layout, x[:nt]), cp, reml)
        except (NotPositiveDefinite, np.linalg.LinAlgError, FloatingPointError):
            return float("inf")
        return float(val) if np.isfinite(val) else float("inf")

    f = _one_term_criterion(inner, rc, layout, reml) or f_general
    theta0 = theta_start(start, inner, layout, st)
    x0 = np.r_[theta0, rc.start]
    lower = np.r_[layout.lower, -np.inf]
    opt, H = joint_search_newton(f, x0, lower, optimizer, "rho")
    x = np.asarray(opt.xopt, dtype=float)
    rho = rc.canonical(rc.rho_of(x[-1]))
    free = np.r_[x[:nt] > lower[:nt] + 1e-6, True]
    V = covariance_of_hessian(H, free) if H is not None else joint_covariance(f, x, free)
    se = None if V is None else float(np.sqrt(V[-1, -1]))
    wd, logdet = whitened_design(base, rc, rho)
    if H is not None:
        # theta is at its optimum for this rho (the joint one): the fit of the whitened rows is
        # built there, without a search (its convergence is checked there as any fit's is)
        theta_user = st.theta_to_user(x[:nt])
        saved = replace(opt, x0=st.theta_to_user(np.asarray(opt.x0, dtype=float)[:nt]), xopt=theta_user,
                        lower=lower[:nt])
        fit = fit_design(wd, reml=reml, optimizer=optimizer, start="identity", data_name=data_name,
                         _restore=(saved, None))  # (start: no moment start to compute)
    else:
        fit = fit_design(wd, reml=reml, optimizer="bobyqa", start=st.theta_to_user(x[:nt]), data_name=data_name)
    return replace(fit, design=replace(design, residual=rc.with_rho(rho, se)), objective=fit.objective + logdet)
