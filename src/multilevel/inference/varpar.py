"""The likelihood as a function of all variance parameters (theta and sigma).

The fit profiles sigma out of the criterion. Inference needs it back in: the
Satterthwaite and profile methods differentiate or constrain the (REML or ML)
deviance over ``varpar = (theta, sigma)``, as lmerTest's ``devfun_vp`` does,
and the covariance of the fixed effects as a function of ``varpar``.
"""

from __future__ import annotations

import numpy as np

from ..linalg import NotPositiveDefinite

__all__ = ["varpar_deviance", "vcov_beta_at", "varpar_hat", "theta_pieces"]

_LOG2PI = float(np.log(2.0 * np.pi))


def varpar_hat(fit) -> np.ndarray:
    """``(theta, sigma)`` at the optimum of a fit.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> varpar_hat(fit).round(3).tolist()
    [0.967, 0.015, 0.231, 25.592]
    """
    return np.append(fit.theta.to_numpy(), fit.sigma)


def varpar_deviance(objective, varpar) -> float:
    """-2 log-likelihood (REML or ML, as the objective's ``reml``) at ``(theta, sigma)``.

    Equals the profiled criterion where sigma is at its optimum given theta. The
    prior-weights constant is included, as in the criterion.

    Parameters
    ----------
    objective : LmmObjective
    varpar : array-like
        theta followed by sigma.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> from multilevel.lmm import LmmObjective
    >>> obj = LmmObjective.from_design(fit.design, reml=True)
    >>> abs(varpar_deviance(obj, varpar_hat(fit)) - fit.objective) < 1e-8
    True
    """
    varpar = np.asarray(varpar, dtype=float)
    theta, sigma = varpar[:-1], varpar[-1]
    try:
        fac = objective.factor(theta)
    except NotPositiveDefinite:
        return float("inf")
    cp = objective.cp
    s2 = sigma * sigma
    dev = fac.logdet_theta - cp.log_weights + fac.pwrss / s2
    if objective.reml:
        return float(dev + fac.logdet_x + (cp.n - cp.p) * (_LOG2PI + np.log(s2)))
    return float(dev + cp.n * (_LOG2PI + np.log(s2)))


def vcov_beta_at(objective, varpar) -> np.ndarray:
    """Covariance matrix of the fixed effects at ``(theta, sigma)``: sigma^2 (RX'RX)^{-1}.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> from multilevel.lmm import LmmObjective
    >>> obj = LmmObjective.from_design(fit.design, reml=True)
    >>> bool(np.allclose(vcov_beta_at(obj, varpar_hat(fit)), fit.vcov.to_numpy()))
    True
    """
    varpar = np.asarray(varpar, dtype=float)
    return varpar[-1] ** 2 * _inverse_xtx(objective.factor(varpar[:-1]))


def _inverse_xtx(fac) -> np.ndarray:
    """``(R_X'R_X)^-1`` of a blocked factor: ``vcov(beta) / sigma^2``."""
    qr, p = fac.q_rest, fac.p
    Linv = np.linalg.inv(fac.L11[qr: qr + p, qr: qr + p])  # (small and triangular)
    return Linv.T @ Linv


def theta_pieces(objective, x) -> np.ndarray:
    """The parts of the deviance and of ``vcov(beta)`` that depend on the parameters other
    than sigma, at ``x`` (theta, then a residual model's parameters where the objective
    has them): ``[a, b, M.ravel()]`` with ``deviance = a + b / sigma^2 + c (log 2 pi +
    log sigma^2)`` (``c = n - p`` for REML, ``n`` for ML) and ``vcov(beta) = sigma^2 M``.
    Derivatives over sigma then need no factorisation. Infinite where ``x`` is not
    admissible.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> from multilevel.lmm import LmmObjective
    >>> obj = LmmObjective.from_design(fit.design, reml=True)
    >>> v = theta_pieces(obj, fit.theta.to_numpy())
    >>> s2 = fit.sigma ** 2
    >>> dev = v[0] + v[1] / s2 + (fit.nobs - 2) * (np.log(2 * np.pi) + np.log(s2))
    >>> bool(abs(dev - fit.objective) < 1e-8), bool(np.allclose(s2 * v[2:].reshape(2, 2), fit.vcov))
    (True, True)
    """
    try:
        fac = objective.factor(np.asarray(x, dtype=float))
    except (NotPositiveDefinite, np.linalg.LinAlgError):
        p = objective.cp.p
        return np.full(2 + p * p, np.inf)
    cp = objective.cp
    a = fac.logdet_theta - cp.log_weights + (fac.logdet_x if objective.reml else 0.0)
    out = np.empty(2 + fac.p * fac.p)
    out[0], out[1] = a, fac.pwrss
    out[2:] = _inverse_xtx(fac).ravel()
    return out
