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

import math
from dataclasses import replace

import numpy as np

from ..design import standardize
from ..linalg import NotPositiveDefinite, ThetaLayout, cross_products, factorize
from .joint import (covariance_of_hessian, joint_covariance, joint_restarts, joint_search_newton,
                    theta_start)
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
    where it does not apply (several random-effects terms, or no compiled kernels).

    The cross-products of a pattern are linear in a few matrices of its rows, with coefficients
    that depend on the correlation only: an AR(1) seen at increasing times is Markov, so with
    ``phi_i = r^(d_i)`` over the lag ``d_i`` (in lag units) to the next row,
    ``A'R^-1 A = a_1 a_1' + sum_i (a_(i+1) - phi_i a_i)(a_(i+1) - phi_i a_i)' / (1 - phi_i^2)``,
    grouped by lag; compound symmetry has ``R^-1 = (I - r / b 11') / a`` (``a = 1 - r``,
    ``b = 1 + (m - 1) r``). Those matrices are summed per level (and over levels for the
    fixed-effects block) once, into one vector per coefficient, so that an evaluation is a few
    scaled sums of vectors.
    """
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
    s1, s2 = nl * k * k, nl * k * k + pc * nl * k
    size = s2 + pc * pc

    def parts(V):
        """The kernel's level blocks (nl, k, k), fixed-by-random blocks (pc, nl, k) and fixed
        block (pc, pc): views of ``V``."""
        return V[:s1].reshape(nl, k, k), V[s1:s2].reshape(pc, nl, k), V[s2:].reshape(pc, pc)

    def add(V, M, lev, unique=False):
        """Add the per-group cross-products ``M`` (G, c, c) of the levels ``lev`` into ``V``
        (``unique``: one group per level, added by indexing)."""
        D, B, C = parts(V)
        if unique:
            D[lev] += M[:, pc:, pc:]
            B[:, lev] += M[:, :pc, pc:].transpose(1, 0, 2)
        else:
            np.add.at(D, lev, M[:, pc:, pc:])
            np.add.at(B.transpose(1, 0, 2), lev, M[:, :pc, pc:])
        C += M[:, :pc, :pc].sum(axis=0)

    u = rc.lag_unit
    const = np.zeros(size)  # patterns of one row
    first = np.zeros(size)  # AR(1): the first row of each group
    lags: dict = {}         # AR(1): per lag (in lag units) between neighbours, [P, O, Q, pairs, lag]
    cs0 = np.zeros(size) if rc.kind == "cs" else None
    cs_sizes: dict = {}     # m -> (sum of 11' products, number of groups)
    general = []
    for j, (rows, times) in enumerate(rc.patterns):
        lev = np.asarray(t.codes)[rows[:, 0]]
        one = np.unique(lev).size == lev.size  # (one group per level: the usual case)
        Ap = np.ascontiguousarray(A[rows])
        G, m = Ap.shape[0], Ap.shape[1]
        if m == 1:
            add(const, np.einsum("gmc,gmd->gcd", Ap, Ap), lev, one)
        elif rc.kind == "ar1":
            # an AR(1) seen at increasing times is Markov: with phi_i = r^(d_i) over the lag d_i
            # (in lag units) to the next row, A'R^-1 A = a_1 a_1' + sum_i (a_(i+1) - phi_i a_i)
            # (a_(i+1) - phi_i a_i)' / (1 - phi_i^2) and log |R| = sum_i log(1 - phi_i^2): per lag,
            # the sums of a_(i+1) a_(i+1)', of a_i a_(i+1)' + a_(i+1) a_i' and of a_i a_i'
            add(first, np.einsum("gc,gd->gcd", Ap[:, 0], Ap[:, 0]), lev, one)
            d = np.diff(times) / u
            # (a lag within 1e-6 of a whole number of lag units is that number, as the model's
            # whole steps are told: r^k for a negative r too)
            whole = np.abs(d - np.round(d)) <= 1e-6
            d = np.where(whole, np.round(d), d)
            keys = np.round(d, 9)
            for key in np.unique(keys):
                at = np.flatnonzero(keys == key)
                prev, nxt = Ap[:, at], Ap[:, at + 1]
                entry = lags.setdefault(float(key), [np.zeros(size), np.zeros(size), np.zeros(size), 0,
                                                     float(d[at[0]])])
                off = np.einsum("gmc,gmd->gcd", prev, nxt)
                add(entry[0], np.einsum("gmc,gmd->gcd", nxt, nxt), lev, one)
                add(entry[1], off + off.transpose(0, 2, 1), lev, one)
                add(entry[2], np.einsum("gmc,gmd->gcd", prev, prev), lev, one)
                entry[3] += G * at.size
        elif rc.kind == "cs":
            s = Ap.sum(axis=1)
            add(cs0, np.einsum("gmc,gmd->gcd", Ap, Ap), lev, one)
            S, count = cs_sizes.get(m, (np.zeros(size), 0))
            add(S, np.einsum("gc,gd->gcd", s, s), lev, one)
            cs_sizes[m] = (S, count + G)
        else:
            general.append((j, Ap))  # (j: the pattern's place in rc.precisions)
    lag_list = [(int(e[4]) if e[4] == round(e[4]) else e[4], e[4] == round(e[4]), e[0], e[1], e[2], e[3])
                for e in lags.values()]
    has_first = bool(lags)
    cs_list = [(m, S, count) for m, (S, count) in cs_sizes.items()]
    kernel = kernels.compiled("one")
    chol = layout.cholesky
    r0, c0 = chol.rows[0].astype(np.int64), chol.cols[0].astype(np.int64)
    n, p, nt = inner.n, inner.p, layout.ntheta
    log = math.log

    def f(x):
        x = np.asarray(x, dtype=float)
        r = rc.rho_of(x[-1])   # (the correlation at the lag unit)
        V = const.copy()
        logdet = 0.0
        if has_first:
            V += first
            for lag, whole, P, O, Q, pairs in lag_list:
                if not whole and r < 0:  # (a fractional lag: the correlation is >= 0 there)
                    return float("inf")
                phi = r ** lag
                q = 1.0 - phi * phi
                if not q > 0:
                    return float("inf")
                V += P / q
                V += O * (-phi / q)
                V += Q * (phi * phi / q)
                logdet += pairs * log(q)
        if cs_list:
            a = 1.0 - r
            if not a > 0:
                return float("inf")
            V += cs0 / a
            for m, S, count in cs_list:
                b = 1.0 + (m - 1) * r
                if not b > 0:
                    return float("inf")
                V += S * (-r / (b * a))
                logdet += count * ((m - 1) * log(a) + log(b))
        if general:
            try:
                prec = rc.precisions(r)
            except np.linalg.LinAlgError:
                return float("inf")
            for j, Ap, lev in general:
                W, ld = prec[j]
                add(V, np.matmul(Ap.transpose(0, 2, 1), np.matmul(W, Ap)), lev)  # A_g' R^-1 A_g
                logdet += Ap.shape[0] * ld
        D0, B, C = parts(V)
        theta = np.ascontiguousarray(layout.to_cholesky(x[:nt]))
        val = kernel(theta, r0, c0, D0, B, C, n, p, log_w - logdet, bool(reml))
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
    opt, H = joint_restarts(f, opt, H, layout, lower)
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
