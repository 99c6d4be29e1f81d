"""Penalised iteratively reweighted least squares and the Laplace deviance.

At fixed theta (and, for the Laplace stage, fixed beta) the conditional modes
of the spherical random effects u maximise the penalised likelihood. Each
iteration is a weighted linear mixed-model solve with working response and
working weights, done by the linear core's blocked Cholesky factor: the GLMM
reuses the LMM's machinery, as MixedModels.jl's GLMM contains an LMM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from ..linalg import NotPositiveDefinite, ThetaLayout, cross_products, factorize, kernels
from ..linalg.crossprod import _grouped_crossprod, weighted_products
from ..lmm.objective import solve_effects
from .signed import signed_logdet

__all__ = ["PirlsPlan", "PirlsResult", "pirls", "pirls_plan", "random_part"]


@dataclass(frozen=True)
class PirlsResult:
    """The conditional modes at one (theta, beta).

    Attributes
    ----------
    beta : ndarray (p,)
    u : ndarray (q,)
        Spherical random effects (all terms, in term order).
    eta, mu : ndarray (n,)
    devres : float
        Sum of the deviance residuals at ``mu``.
    logdet : float
        log det(Lambda'Z'WZ Lambda + I) at the final working weights.
    iterations : int
    converged : bool
        False when ``maxit`` iterations did not settle the penalised deviance.
    """

    beta: np.ndarray
    u: np.ndarray
    eta: np.ndarray
    mu: np.ndarray
    devres: float
    logdet: float
    iterations: int
    converged: bool = True

    @property
    def laplace(self) -> float:
        """Laplace approximation to -2 log-likelihood (lme4's nAGQ = 1 deviance)."""
        return self.devres + float(self.u @ self.u) + self.logdet


def random_part(terms, T, u: np.ndarray) -> np.ndarray:
    """Z Lambda u as an n-vector.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> random_part(d.terms, [np.eye(1)], np.arange(18.0))[:3].tolist()
    [0.0, 0.0, 0.0]
    """
    if len(terms) == 1 and kernels.available():
        t = terms[0]
        return kernels.compiled("one_term_zu")(np.ascontiguousarray(T[0], dtype=float), np.ascontiguousarray(t.codes),
                                               np.ascontiguousarray(t.Z), np.ascontiguousarray(u, dtype=float))
    out = 0.0
    start = 0
    for t, Tt in zip(terms, T):
        ut = u[start: start + t.q].reshape(t.nlevels, t.k)
        b = ut @ Tt.T
        out = out + np.einsum("ij,ij->i", t.Z, b[t.codes])
        start += t.q
    return np.asarray(out, dtype=float)


@dataclass(frozen=True)
class PirlsPlan:
    """What every PIRLS call of one fit shares, computed once.

    Attributes
    ----------
    scalar : ScalarTerms or None
        The count-based solver when every term is scalar (glmm/scalar.py).
    deviance : callable
        ``mu -> sum of deviance residuals`` for this response.
    offset : ndarray (n,)
    free, fixed : Design
        The design without its offset, with and without the fixed effects
        (for the joint and the beta-held-fixed solves).
    products : tuple
        :class:`~multilevel.linalg.crossprod.WeightedProducts` of ``free`` and
        ``fixed`` (count-based cross-products when the terms after the first
        have few random effects), or None each.
    """

    scalar: object
    deviance: object
    offset: np.ndarray
    free: object
    fixed: object
    products: tuple = (None, None)


def pirls_plan(design, fam, prior_weights: np.ndarray) -> PirlsPlan:
    """Build the :class:`PirlsPlan` of a GLMM design.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.families import family
    >>> cb = ml.datasets.load("sleepstudy").assign(y=lambda d: (d.Reaction > 300).astype(float))
    >>> plan = pirls_plan(build_design("y ~ Days + (1 | Subject)", cb), family("binomial"), np.ones(180))
    >>> plan.scalar.q0
    18
    """
    from .scalar import scalar_terms

    n = design.n
    off = np.zeros(n) if design.offset is None else np.asarray(design.offset, dtype=float)
    free = replace(design, offset=None)
    fixed = replace(design, fixed=replace(design.fixed, X=np.empty((n, 0)), names=()), offset=None)
    scalar = scalar_terms(design)
    wp = None if scalar is not None else weighted_products(free)
    # the indices depend on the random-effects terms only: the beta-held-fixed design shares them
    products = (None, None) if wp is None else (wp, replace(wp, design=fixed))
    return PirlsPlan(scalar=scalar, deviance=fam.deviance_function(design.y, prior_weights),
                     offset=off, free=free, fixed=fixed, products=products)


def pirls(design, fam, theta: np.ndarray, layout: ThetaLayout, prior_weights: np.ndarray,
          beta: np.ndarray | None = None, u_start: np.ndarray | None = None,
          eta_start: np.ndarray | None = None, tol: float = 1e-10, maxit: int = 50,
          plan: PirlsPlan | None = None, inside: bool = False) -> PirlsResult:
    """Conditional modes of u (and beta when ``beta`` is None) at ``theta``.

    Parameters
    ----------
    design : Design
        The GLMM's design; its ``y`` is the response (proportions for binomial
        with trials in ``prior_weights``) and ``offset`` the linear-predictor offset.
    fam : Family
    theta : ndarray
    layout : ThetaLayout
    prior_weights : ndarray (n,)
    beta : ndarray, optional
        Fixed effects held fixed (Laplace stage); None estimates them jointly
        with u (the nAGQ = 0 stage).
    u_start, eta_start : ndarray, optional
        Warm starts.
    plan : PirlsPlan, optional
        From :func:`pirls_plan` (built once per fit; built here when absent).
    inside : bool
        Without warm starts, start from the mean response everywhere (with
        zero random effects) instead of R's mustart, and halve any step that
        leaves the family's range: a start for identity- and inverse-link fits
        whose first step from the observed values leaves it.

    Returns
    -------
    PirlsResult

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.families import family
    >>> from multilevel.linalg import ThetaLayout
    >>> cb = ml.datasets.load("sleepstudy").assign(y=lambda d: (d.Reaction > 300).astype(float))
    >>> d = build_design("y ~ Days + (1 | Subject)", cb)
    >>> r = pirls(d, family("binomial"), np.array([1.0]), ThetaLayout.from_k([1]), np.ones(180))
    >>> r.iterations < 20, round(r.laplace, 2) > 0
    (True, True)
    """
    # a step outside the family's range (a negative mean of an identity link)
    # gives a criterion of inf, which step halving backs away from: numpy's
    # warnings on the way are not the user's concern
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _pirls(design, fam, theta, layout, prior_weights, beta, u_start, eta_start, tol, maxit, plan,
                      inside)


def _pirls(design, fam, theta, layout, prior_weights, beta, u_start, eta_start, tol, maxit, plan, inside):
    if plan is None:
        plan = pirls_plan(design, fam, prior_weights)
    y = design.y
    off = plan.offset
    X = design.X
    T = layout.factors(theta)
    link = fam.link
    fixed_beta = beta is not None
    sub = plan.fixed if fixed_beta else plan.free
    xb = X @ beta if fixed_beta else 0.0
    if eta_start is not None:
        eta = eta_start
    elif u_start is not None and fixed_beta:
        zu = random_part(design.terms, T, u_start) if plan.scalar is None else plan.scalar.random_part(theta, u_start)
        eta = off + xb + zu
    elif inside:  # the mean response everywhere: inside the family's range, a point of the model
        start = fam.mustart(y, prior_weights)
        eta = np.full(y.shape, link.fun(np.average(start, weights=prior_weights)))
    else:  # R's mustart
        eta = link.fun(fam.mustart(y, prior_weights))
    u = np.zeros(sum(t.q for t in design.terms)) if u_start is None else u_start
    b = np.zeros(X.shape[1]) if not fixed_beta else beta
    # with beta held fixed and one random-effects term the system is block
    # diagonal and solved without square roots of the weights: a family whose
    # observed information is negative for some observations (zero inflation,
    # NB1) takes exact Newton steps there, falling back to Fisher's weights for
    # a step whose blocks are not positive definite
    signed = fam.observed_curvature and fixed_beta and len(design.terms) == 1
    # rows of prior weight 0 are not data: their working weights and residuals are 0 (their mean
    # may leave the family's range, where the working values are nan)
    zero = prior_weights == 0
    if not zero.any():
        zero = None

    def data_only(wu, r):
        return (wu, r) if zero is None else (np.where(zero, 0.0, wu), np.where(zero, 0.0, r))

    checked = u_start is not None or (inside and eta_start is None)
    if len(design.terms) == 1 and not signed and _canonical_kind(fam, plan) is not None and kernels.available():
        # the whole loop in one compiled call (the same steps): a binomial hcs fit is some 340 runs
        out = _compiled_pirls(design, sub, fam, plan, T[0], off + xb, prior_weights, u, eta, checked, tol, maxit,
                              b, fixed_beta)
        if out is not None:
            return out
    mu, wu, r = fam.working(y, eta, signed=signed)
    wu, r = data_only(wu, r)
    # from a warm start (or the inside start) the first step is also checked against where it started
    pdev_old = _penalised(plan, mu, u) if checked else np.inf
    it = 0
    converged = False
    for it in range(1, maxit + 1):
        w = prior_weights * wu
        z = eta - off - xb + r
        try:
            b_new, u_new, _ = _solve(sub, z, w, layout, theta, fixed_beta, plan.scalar,
                                     products=plan.products[fixed_beta], T=T)
        except NotPositiveDefinite:
            if not (signed and np.any(wu < 0)):
                raise
            mu, wu, r = fam.working(y, eta, mu)
            wu, r = data_only(wu, r)
            w = prior_weights * wu
            z = eta - off - xb + r
            b_new, u_new, _ = _solve(sub, z, w, layout, theta, fixed_beta, plan.scalar,
                                     products=plan.products[fixed_beta], T=T)
        if not fixed_beta:
            b = b_new
        zu = random_part(design.terms, T, u_new) if plan.scalar is None else plan.scalar.random_part(theta, u_new)
        eta_new = off + (xb if fixed_beta else X @ b) + zu
        mu_new = link.inverse(eta_new)
        pdev = _penalised(plan, mu_new, u_new)
        # step halving when the penalised deviance goes up (or leaves the
        # family's range, where it is inf)
        halvings = 0
        while pdev > pdev_old + 1e-10 * abs(pdev_old) and halvings < 10:
            u_new = 0.5 * (u_new + u)
            eta_new = 0.5 * (eta_new + eta)
            mu_new = link.inverse(eta_new)
            pdev = _penalised(plan, mu_new, u_new)
            halvings += 1
        u, eta = u_new, eta_new
        mu, wu, r = fam.working(y, eta, mu_new, signed=signed)
        wu, r = data_only(wu, r)
        if np.isfinite(pdev) and abs(pdev_old - pdev) < tol * (abs(pdev) + 0.1):
            converged = True
            break
        pdev_old = pdev
    # the Laplace curvature: Fisher's weights (binomial, Poisson, as glmer's), or
    # the observed information (dispersion families, as glmmTMB's), negative for
    # a few observations of some families
    w = prior_weights * (data_only(fam.curvature(y, eta, mu), r)[0] if fam.observed_curvature else wu)
    z = eta - off - xb + r
    try:
        if np.all(w >= 0):
            logdet = _solve(sub, z, w, layout, theta, fixed_beta, plan.scalar, logdet_only=True,
                            products=plan.products[fixed_beta], T=T)[2]
        else:
            logdet = signed_logdet(design.terms, T, w)
    except NotPositiveDefinite:
        logdet = np.inf
    devres = plan.deviance(mu)
    if not np.isfinite(devres):
        devres, converged = np.inf, False
    return PirlsResult(beta=np.asarray(b, dtype=float), u=u, eta=eta, mu=mu, devres=devres,
                       logdet=float(logdet), iterations=it, converged=converged)


def _canonical_kind(fam, plan) -> int | None:
    """The compiled PIRLS's code of a canonical binomial (0: Bernoulli rows, 1: proportions) or
    Poisson (2) family, None for another family or link."""
    link = fam.link.name
    if fam.observed_curvature or not ((fam.name == "binomial" and link == "logit")
                                      or (fam.name == "poisson" and link == "log")):
        return None
    return {"bernoulli": 0, "binomial": 1, "poisson": 2}.get(getattr(plan.deviance, "kind", None))


def _compiled_pirls(design, sub, fam, plan, T, eta0, prior_weights, u, eta, checked, tol, maxit, beta,
                    fixed_beta):
    """:func:`pirls` for one random-effects term and a canonical binomial or Poisson family, by
    the compiled ``one_term_pirls`` kernel (beta held fixed, or estimated from ``sub``'s X);
    None where a level's block or the fixed effects' Schur complement lost positive
    definiteness (the numpy loop then runs, with its error)."""
    term = design.terms[0]
    n = design.y.shape[0]
    dev = plan.deviance
    f = np.ascontiguousarray
    u_out = np.array(u, dtype=float)
    b_out = np.array(beta, dtype=float)
    eta_out = np.array(np.broadcast_to(eta, (n,)), dtype=float)
    mu = np.empty(n)
    X = np.zeros((n, 0)) if fixed_beta else f(sub.X, dtype=float)
    devres, logdet, it, converged = kernels.compiled("one_term_pirls")(
        f(T, dtype=float), f(term.codes), f(term.Z, dtype=float), X, f(np.broadcast_to(eta0, (n,)), dtype=float),
        f(design.y, dtype=float), f(prior_weights, dtype=float), _canonical_kind(fam, plan), float(dev.const),
        f(dev.a, dtype=float), f(dev.b, dtype=float), u_out, b_out, eta_out, bool(checked), float(tol), int(maxit),
        mu)
    if it < 0:
        return None
    return PirlsResult(beta=b_out, u=u_out, eta=eta_out, mu=mu, devres=float(devres), logdet=float(logdet),
                       iterations=int(it), converged=bool(converged))


def _penalised(plan, mu, u) -> float:
    """The penalised criterion, inf where it is not a number."""
    value = plan.deviance(mu) + float(u @ u)
    return value if np.isfinite(value) else np.inf


def _one_term(term, T, z, w, logdet_only: bool = False):
    """One vector-valued term with beta held fixed, ``(1 + x | g)``: the system is
    block diagonal, one k x k block ``T' Z_g' W Z_g T + I`` per level, solved per level
    without forming the sparse cross-products (by the compiled ``one_term_pls`` kernel,
    or batched numpy Cholesky factors without numba)."""
    k, L = term.k, term.nlevels
    if kernels.available():
        u = np.empty(L * k)
        logdet = kernels.compiled("one_term_pls")(np.ascontiguousarray(T, dtype=float),
                                                  np.ascontiguousarray(term.codes), np.ascontiguousarray(term.Z),
                                                  np.zeros((term.Z.shape[0], 0)), np.ascontiguousarray(w, dtype=float),
                                                  np.ascontiguousarray(z, dtype=float), L, u, np.empty(0))
        if not math.isfinite(logdet):
            raise NotPositiveDefinite("a level's block lost positive definiteness")
        return np.zeros(0), (None if logdet_only else u), float(logdet)
    Zw = term.Z * w[:, None]
    A = _grouped_crossprod(term.codes, L, Zw, term.Z)
    M = np.einsum("ba,gbc,cd->gad", T, A, T)
    M[:, np.arange(k), np.arange(k)] += 1.0
    try:
        C = np.linalg.cholesky(M)
    except np.linalg.LinAlgError:
        raise NotPositiveDefinite("a level's block lost positive definiteness") from None
    logdet = 2.0 * float(np.sum(np.log(np.diagonal(C, axis1=1, axis2=2))))
    if logdet_only:
        return np.zeros(0), None, logdet
    rhs = np.stack([np.bincount(term.codes, weights=Zw[:, a] * z, minlength=L) for a in range(k)], axis=1) @ T
    u = np.linalg.solve(M, rhs[:, :, None])[:, :, 0]
    return np.zeros(0), u.ravel(), logdet


def _solve(sub, z, w, layout, theta, fixed_beta: bool, plan=None, logdet_only: bool = False,
           products=None, T=None):
    """One weighted PLS solve: (beta, u, log det(Lambda'Z'WZ Lambda + I)).

    With ``plan`` (all terms scalar) the system is formed by weighted counts
    and solved through its small Schur complements (glmm/scalar.py).

    With beta held fixed and a single scalar random-effects term (a random
    intercept: Rasch models, most binomial and Poisson GLMMs) the system is
    diagonal and solved per level in closed form, without forming the
    cross-products: u_g = t s_g / (t^2 d_g + 1). ``T``: the terms' factors at ``theta``
    where the caller has them.
    """
    terms = sub.terms
    if fixed_beta and len(terms) == 1 and terms[0].k == 1:
        t = float(theta[0])
        term = terms[0]
        zc = term.Z[:, 0]
        d = np.bincount(term.codes, weights=w * zc * zc, minlength=term.nlevels)
        sg = np.bincount(term.codes, weights=w * zc * z, minlength=term.nlevels)
        denom = t * t * d + 1.0
        if not np.all(denom > 0):  # weights of either sign (exact Newton steps)
            raise NotPositiveDefinite("a level's curvature is not positive")
        return np.zeros(0), t * sg / denom, float(np.log(denom).sum())
    if fixed_beta and len(terms) == 1:
        return _one_term(terms[0], (layout.factors(theta) if T is None else T)[0], z, w, logdet_only)
    if plan is not None:
        return plan.solve(theta, z, w, not fixed_beta, logdet_only=logdet_only)
    if len(terms) == 1 and kernels.available():
        term = terms[0]
        u, b = np.empty(term.q), np.empty(sub.X.shape[1])
        logdet = kernels.compiled("one_term_pls")(
            np.ascontiguousarray((layout.factors(theta) if T is None else T)[0], dtype=float),
            np.ascontiguousarray(term.codes),
            np.ascontiguousarray(term.Z), np.ascontiguousarray(sub.X, dtype=float),
            np.ascontiguousarray(w, dtype=float), np.ascontiguousarray(z, dtype=float), term.nlevels, u, b)
        if not math.isfinite(logdet):
            raise NotPositiveDefinite("the weighted system lost positive definiteness")
        return b, u, float(logdet)
    cp = products(z, w) if products is not None else cross_products(replace(sub, y=z, weights=w))
    fac = factorize(cp, layout, theta)
    b, u0, ur = solve_effects(fac, cp)
    return b, np.concatenate([u0, ur]), fac.logdet_theta
