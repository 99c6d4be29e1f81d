"""The likelihood as a function of all variance parameters (theta and sigma).

The fit profiles sigma out of the criterion. Inference needs it back in: the
Satterthwaite and profile methods differentiate or constrain the (REML or ML)
deviance over ``varpar = (theta, sigma)``, as lmerTest's ``devfun_vp`` does,
and the covariance of the fixed effects as a function of ``varpar``.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ..linalg import NotPositiveDefinite

__all__ = ["varpar_deviance", "vcov_beta_at", "varpar_hat"]

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
    fac = objective.factor(varpar[:-1])
    qr, p = fac.q_rest, fac.p
    Lxx = fac.L11[qr: qr + p, qr: qr + p]
    Linv = scipy.linalg.solve_triangular(Lxx, np.eye(p), lower=True, check_finite=False)
    return varpar[-1] ** 2 * (Linv.T @ Linv)
