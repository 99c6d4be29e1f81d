"""Conditional covariances of a GLMM's random effects at the converged PIRLS weights.

As lme4's ``ranef(m, condVar = TRUE)`` for a glmer fit: the covariance of the
spherical effects u given the data (and beta, theta) is approximated by
``(Lambda' Z' W Z Lambda + I)^-1`` with W the working weights at the conditional
modes; b = Lambda u, so each level's block is ``T V T'`` (no residual variance
for binomial and Poisson responses). The blocked factor of the linear core is
reused: the weighted cross-products of Z alone are factorised once.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..linalg import ThetaLayout, cross_products, factorize
from ..lmm.objective import conditional_variances
from .signed import conditional_blocks, curvature_matrix

__all__ = ["glmm_conditional_covariances"]


def glmm_conditional_covariances(design, fam, theta: np.ndarray, eta: np.ndarray,
                                 prior_weights: np.ndarray) -> list[np.ndarray]:
    """Per term, per level conditional covariance of b = Lambda u.

    Parameters
    ----------
    design : Design
        The GLMM's design.
    fam : Family
    theta : ndarray
        Relative covariance parameters at the optimum.
    eta : ndarray (n,)
        Linear predictor at the conditional modes (offset included).
    prior_weights : ndarray (n,)
        Prior weights (binomial trials).

    Returns
    -------
    list of ndarray
        One ``(levels, k, k)`` array per random term, in the design's order.

    Examples
    --------
    >>> import multilevel as ml
    >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              ml.datasets.load("cbpp"))
    >>> V = glmm_conditional_covariances(m.design, m.family, m.theta.to_numpy(), m._pirls.eta, m._prior)
    >>> V[0].shape, round(float(V[0][0, 0, 0]), 4)   # lme4: 0.1213
    ((15, 1, 1), 0.1213)
    """
    theta = np.asarray(theta, dtype=float)
    layout = ThetaLayout.from_terms(design.terms)
    n = design.n
    w = np.asarray(prior_weights, dtype=float) * fam.curvature(design.y, np.asarray(eta, dtype=float))
    T = layout.factors(theta)
    if np.any(w < 0):  # observed information below zero for some observations
        blocks = conditional_blocks(curvature_matrix(design.terms, T, w), design.terms)
        return [np.einsum("ab,gbc,dc->gad", Tt, V, Tt) for Tt, V in zip(T, blocks)]
    sub = replace(design, fixed=replace(design.fixed, X=np.empty((n, 0)), names=()),
                  offset=None, y=np.ones(n), weights=w)  # y: any nonzero vector
    cp = cross_products(sub)
    fac = factorize(cp, layout, theta)
    blocks = conditional_variances(fac, cp)
    return [np.einsum("ab,gbc,dc->gad", Tt, V, Tt) for Tt, V in zip(T, blocks)]
