"""Adaptive Gauss-Hermite quadrature (glmer's nAGQ > 1) for one scalar random-effects term.

With a single scalar term, such as ``(1 | g)``, the likelihood factors over the
levels of ``g``: each level contributes a one-dimensional integral over its
spherical random effect u,

    L_g = integral of exp(-devres_g(u) / 2) phi(u) du,

where ``devres_g`` is the sum of the deviance residuals of the level's
observations and ``phi`` the standard normal density. Adaptive quadrature
centres the Gauss-Hermite rule at the conditional mode u_g (found by PIRLS) and
scales it by the conditional standard deviation s_g = 1 / L_gg, the inverse
square root of the curvature. With nodes z_k and weights w_k of the rule for
the standard normal (the weights sum to 1),

    -2 log L_g = devc_g(u_g) + log L_gg^2
                 - 2 log sum_k w_k exp(-(devc_g(u_g + z_k s_g) - devc_g(u_g)) / 2 + z_k^2 / 2),

with ``devc_g(u) = devres_g(u) + u^2``. One node (z = 0, w = 1) gives the
Laplace approximation. The sum over the levels is lme4's nAGQ > 1 deviance
(lme4's ``glmerAGQ``; MixedModels.jl's ``deviance(m, nAGQ)``): like lme4's it
is relative to the saturated model, and :func:`agq_loglik` adds the saturated
log-likelihood back so that the value is comparable with the Laplace one.

Everything is vectorised over observations x nodes and summed per level with
one ``bincount``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import xlogy

__all__ = ["MAX_NAGQ", "gh_rule", "check_agq", "agq_levels", "agq_deviance", "agq_loglik"]

#: the largest number of quadrature nodes, as lme4
MAX_NAGQ = 25


@lru_cache(maxsize=None)
def _rule(nagq: int) -> tuple[np.ndarray, np.ndarray]:
    z, w = hermegauss(nagq)
    w = w / np.sqrt(2.0 * np.pi)
    z.setflags(write=False)
    w.setflags(write=False)
    return z, w


def gh_rule(nagq: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the ``nagq``-point Gauss-Hermite rule for the standard normal.

    ``sum(w * f(z))`` approximates E f(Z) for Z ~ N(0, 1), exactly for
    polynomials of degree up to ``2 nagq - 1`` (lme4's ``GHrule``).

    Examples
    --------
    >>> z, w = gh_rule(3)
    >>> np.round(z, 6).tolist(), np.round(w, 6).tolist()
    ([-1.732051, 0.0, 1.732051], [0.166667, 0.666667, 0.166667])
    >>> z5, w5 = gh_rule(5)
    >>> round(float(np.sum(w5 * z5 ** 4)), 12)  # E Z^4
    3.0
    """
    if not 1 <= int(nagq) <= MAX_NAGQ:
        raise ValueError(f"the number of quadrature nodes must be from 1 to {MAX_NAGQ}, not {nagq}")
    return _rule(int(nagq))


def check_agq(terms, nagq: int) -> None:
    """Raise a one-line ValueError unless ``nagq`` quadrature can be used with ``terms``.

    Quadrature with more than one node needs a single scalar random-effects
    term, as glmer's nAGQ > 1.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> v = ml.datasets.load("verbagg").assign(y=lambda d: (d.r2 == "Y").astype(float))
    >>> check_agq(build_design("y ~ Anger + (1 | id)", v).terms, 9)
    >>> check_agq(build_design("y ~ Anger + (1 + Anger | item)", v).terms, 9)
    Traceback (most recent call last):
    ...
    ValueError: nagq > 1 needs a single scalar random-effects term such as (1 | g); this model's term (1 + Anger | item) has 2 random effects per level; use nagq=1 (Laplace)
    """
    if nagq <= 1:
        return
    if len(terms) != 1:
        raise ValueError(
            "nagq > 1 needs a single scalar random-effects term such as (1 | g); this model has "
            f"{len(terms)} terms: {', '.join(t.text for t in terms)}; use nagq=1 (Laplace)"
        )
    if terms[0].k != 1:
        raise ValueError(
            "nagq > 1 needs a single scalar random-effects term such as (1 | g); this model's term "
            f"{terms[0].text} has {terms[0].k} random effects per level; use nagq=1 (Laplace)"
        )


def _deviance_residuals(fam, y: np.ndarray, eta: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """Deviance residuals at the linear predictors ``eta`` (n x K), from eta directly for canonical links.

    For the logit and log links the log-density is linear in eta up to
    softplus(eta) or exp(eta), which avoids forming mu and its logarithms over
    all observations x nodes; other links go through the family.
    """
    y1 = y[:, None]
    w1 = wt[:, None]
    plain = not getattr(fam, "zero_inflated", False)  # (a zero-inflated family keeps its base's name)
    if plain and fam.name == "binomial" and fam.link.name == "logit":
        sat = (xlogy(y, y) + xlogy(1.0 - y, 1.0 - y))[:, None]
        out = np.abs(eta)  # softplus(eta) = log1p(exp(-|eta|)) + max(eta, 0), in place
        np.negative(out, out=out)
        np.exp(out, out=out)
        np.log1p(out, out=out)
        out += np.maximum(eta, 0.0)
        out -= y1 * eta
        out += sat
        out *= 2.0 * w1
        return out
    if plain and fam.name == "poisson" and fam.link.name == "log":
        sat = (xlogy(y, y) - y)[:, None]
        return 2.0 * w1 * (sat - y1 * eta + np.exp(np.minimum(eta, 700.0)))
    return fam.unit_deviance(y1, fam.link.inverse(eta), w1)


def agq_levels(design, fam, theta, res, prior_weights: np.ndarray, nagq: int) -> np.ndarray:
    """Per-level adaptive Gauss-Hermite approximations to -2 log L_g.

    Parameters
    ----------
    design : Design
        A design with one scalar random-effects term.
    fam : Family
    theta : array-like
        The term's relative standard deviation (one value).
    res : PirlsResult
        PIRLS at ``theta`` and the fixed effects: its ``u`` are the
        conditional modes and its ``eta`` the linear predictor at them.
    prior_weights : ndarray (n,)
    nagq : int
        Number of nodes, 1 (Laplace) to 25.

    Returns
    -------
    ndarray (nlevels,)
        Relative to the saturated model (deviance residuals), as lme4's.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.families import family
    >>> from multilevel.linalg import ThetaLayout
    >>> from multilevel.glmm import pirls
    >>> cb = ml.datasets.load("cbpp")
    >>> d = build_design("p ~ period + (1 | herd)", cb.assign(p=cb.incidence / cb["size"]))
    >>> fam, prior, theta = family("binomial"), cb["size"].to_numpy(float), np.array([0.65])
    >>> r = pirls(d, fam, theta, ThetaLayout.from_k([1]), prior, beta=np.array([-1.4, -1.0, -1.1, -1.6]))
    >>> dev = agq_levels(d, fam, theta, r, prior, 25)
    >>> dev.shape, bool(abs(agq_levels(d, fam, theta, r, prior, 1).sum() - r.laplace) < 1e-8)
    ((15,), True)
    """
    # (a mean outside the family's range gives a deviance of nan or inf: not the user's concern)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return _agq_levels(design, fam, theta, res, prior_weights, nagq)


def _agq_levels(design, fam, theta, res, prior_weights, nagq):
    (term,) = design.terms
    z, w = gh_rule(nagq)
    codes = term.codes
    nl = term.nlevels
    u0 = np.asarray(res.u, dtype=float)
    nodes = z != 0.0
    zk = z[nodes]
    K = zk.size
    L2, dr0, dr = _node_deviances(design, fam, theta, res, prior_weights, zk)
    devc0 = np.bincount(codes, weights=dr0, minlength=nl) + u0 * u0
    out = devc0 + np.log(L2)
    if not K:
        return out
    sd = 1.0 / np.sqrt(L2)
    # a node whose mean leaves the family's range (a negative gamma mean of an inverse or identity
    # link) has no density there: it counts as zero (see agq_outside)
    dr[~np.isfinite(dr)] = np.inf
    idx = (codes[:, None] * K + np.arange(K)[None, :]).ravel()
    devres = np.bincount(idx, weights=dr.ravel(), minlength=nl * K).reshape(nl, K)
    uk = u0[:, None] + sd[:, None] * zk[None, :]
    a = -0.5 * (devres + uk * uk - devc0[:, None]) + 0.5 * zk * zk + np.log(w[nodes])
    if (~nodes).any():  # the node at 0 (odd nagq) contributes its weight exactly
        a = np.column_stack([a, np.full(nl, np.log(w[~nodes][0]))])
    amax = a.max(axis=1, keepdims=True)
    return out - 2.0 * (np.log(np.exp(a - amax).sum(axis=1)) + amax[:, 0])


def agq_outside(design, fam, theta, res, prior_weights: np.ndarray, nagq: int) -> int:
    """How many (level, node) pairs of :func:`agq_levels` put a mean outside the family's range,
    where the conditional density is counted as zero (0 for logit and log links).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.families import family
    >>> from multilevel.linalg import ThetaLayout
    >>> from multilevel.glmm import pirls
    >>> cb = ml.datasets.load("cbpp")
    >>> d = build_design("p ~ period + (1 | herd)", cb.assign(p=cb.incidence / cb["size"]))
    >>> fam, prior, theta = family("binomial"), cb["size"].to_numpy(float), np.array([0.65])
    >>> r = pirls(d, fam, theta, ThetaLayout.from_k([1]), prior, beta=np.array([-1.4, -1.0, -1.1, -1.6]))
    >>> agq_outside(d, fam, theta, r, prior, 9)
    0
    """
    (term,) = design.terms
    z, _ = gh_rule(nagq)
    zk = z[z != 0.0]
    if not zk.size:
        return 0
    with np.errstate(all="ignore"):
        dr = _node_deviances(design, fam, theta, res, prior_weights, zk)[2]
    idx = term.codes[:, None] * zk.size + np.arange(zk.size)[None, :]
    return int(np.unique(idx[~np.isfinite(dr)]).size)


def _node_deviances(design, fam, theta, res, prior_weights, zk):
    """``(L2, dr0, dr)``: per level the curvature ``L^2`` at the mode, and each row's deviance
    residual at the mode and at the nodes ``u0 + zk sd`` (n x K; nan or inf where a mean leaves
    the family's range). A row of weight 0 is not data: 0 in all three, whatever its mean."""
    (term,) = design.terms
    t = float(np.asarray(theta, dtype=float).ravel()[0])
    y, codes, zc = design.y, term.codes, term.Z[:, 0]
    eta0 = res.eta
    zero = np.asarray(prior_weights) == 0
    # curvature at the mode: the diagonal of L^2 at the final working weights
    wt = np.where(zero, 0.0, prior_weights * fam.curvature(y, eta0, fam.link.inverse(eta0)))
    L2 = t * t * np.bincount(codes, weights=wt * zc * zc, minlength=term.nlevels) + 1.0
    dr0 = _deviance_residuals(fam, y, eta0[:, None], prior_weights)[:, 0]
    dr0[zero] = 0.0
    if not zk.size:
        return L2, dr0, np.zeros((y.size, 0))
    shift = (t * zc / np.sqrt(L2)[codes])[:, None] * zk[None, :]   # eta at u0 + z_k sd
    dr = _deviance_residuals(fam, y, eta0[:, None] + shift, prior_weights)
    dr[zero] = 0.0
    return L2, dr0, dr


def agq_deviance(design, fam, theta, res, prior_weights: np.ndarray, nagq: int) -> float:
    """Adaptive Gauss-Hermite deviance: the sum of :func:`agq_levels` (lme4's nAGQ > 1 deviance).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.families import family
    >>> from multilevel.linalg import ThetaLayout
    >>> from multilevel.glmm import pirls
    >>> cb = ml.datasets.load("cbpp")
    >>> d = build_design("p ~ period + (1 | herd)", cb.assign(p=cb.incidence / cb["size"]))
    >>> fam, prior, theta = family("binomial"), cb["size"].to_numpy(float), np.array([0.6475])
    >>> beta = np.array([-1.3992, -0.9914, -1.1278, -1.5795])
    >>> r = pirls(d, fam, theta, ThetaLayout.from_k([1]), prior, beta=beta)
    >>> round(agq_deviance(d, fam, theta, r, prior, 25), 3)  # lme4: 100.010
    100.01
    """
    return float(np.sum(agq_levels(design, fam, theta, res, prior_weights, nagq)))


def agq_loglik(design, fam, theta, res, prior_weights: np.ndarray, nagq: int) -> float:
    """Adaptive Gauss-Hermite log-likelihood on the absolute scale (comparable with the Laplace one).

    lme4 reports ``-deviance / 2`` for nAGQ > 1, which omits the saturated
    model's log-likelihood for binomial responses with trials (lme4 issue
    #161); it is added back here.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.families import family
    >>> from multilevel.linalg import ThetaLayout
    >>> from multilevel.glmm import pirls
    >>> cb = ml.datasets.load("cbpp")
    >>> d = build_design("p ~ period + (1 | herd)", cb.assign(p=cb.incidence / cb["size"]))
    >>> fam, prior, theta = family("binomial"), cb["size"].to_numpy(float), np.array([0.6475])
    >>> beta = np.array([-1.3992, -0.9914, -1.1278, -1.5795])
    >>> r = pirls(d, fam, theta, ThetaLayout.from_k([1]), prior, beta=beta)
    >>> round(agq_loglik(d, fam, theta, r, prior, 25), 3)  # lme4: -91.983 (absolute)
    -91.983
    """
    saturated = fam.loglik(design.y, res.mu, prior_weights) + 0.5 * res.devres
    return saturated - 0.5 * agq_deviance(design, fam, theta, res, prior_weights, nagq)
