"""Checks at the optimum: singular fits and convergence, in words users can act on."""

from __future__ import annotations

import numpy as np

__all__ = ["singular_terms", "check_convergence", "finite_gradient"]

SINGULAR_TOL = 1e-4
GRAD_TOL = 2e-3


def singular_terms(theta: np.ndarray, layout, labels, columns) -> list[str]:
    """Descriptions of the variance components estimated on the boundary.

    A term is singular when a diagonal element of its relative covariance
    factor is (numerically) zero: a variance of zero, or a correlation of +-1.
    """
    out = []
    for i, (lab, cols) in enumerate(zip(labels, columns)):
        seg = theta[layout.offsets[i]: layout.offsets[i + 1]]
        diag = seg[layout.rows[i] == layout.cols[i]]
        for j in np.nonzero(diag < SINGULAR_TOL)[0]:
            out.append(f"{cols[j]!r} in {lab!r}")
    return out


def finite_gradient(fun, x: np.ndarray, lower: np.ndarray, h: float = 1e-4,
                    f0: float | None = None) -> np.ndarray:
    """Central (one-sided at a bound) finite-difference gradient."""
    g = np.empty_like(x)
    if f0 is None:
        f0 = fun(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        if x[i] - h < lower[i]:
            g[i] = (fun(x + e) - f0) / h
        else:
            g[i] = (fun(x + e) - fun(x - e)) / (2 * h)
    return g


def finite_hessian(fun, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central finite-difference Hessian."""
    n = x.size
    H = np.empty((n, n))
    f0 = fun(x)
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = h
        H[i, i] = (fun(x + ei) - 2 * f0 + fun(x - ei)) / h**2
        for j in range(i):
            ej = np.zeros(n)
            ej[j] = h
            H[i, j] = H[j, i] = (fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej)
                                 + fun(x - ei - ej)) / (4 * h * h)
    return H


def check_convergence(fun, theta: np.ndarray, lower: np.ndarray, singular: bool,
                      fopt: float | None = None, grad: np.ndarray | None = None) -> list[str]:
    """lme4-style gradient check at the optimum; returns messages (empty when fine).

    ``grad`` is the finite-difference gradient at ``theta`` when already known.
    """
    if singular or theta.size == 0:
        return []
    g = finite_gradient(fun, theta, lower) if grad is None else grad
    if not np.all(np.isfinite(g)) or np.max(np.abs(g)) < GRAD_TOL:
        return []
    H = finite_hessian(fun, theta)
    msgs = []
    try:
        R = np.linalg.cholesky(H)
        scaled = np.linalg.solve(R.T, np.linalg.solve(R, g))
        bad = np.max(np.minimum(np.abs(scaled), np.abs(g)))
    except np.linalg.LinAlgError:
        bad = np.max(np.abs(g))
        msgs.append(
            "Model is nearly unidentifiable: the Hessian of the criterion is not positive "
            "definite; simplify the random effects or rescale predictors"
        )
    if bad > GRAD_TOL:
        comp = int(np.argmax(np.abs(g)))
        msgs.append(
            f"Model failed to converge: max|grad| = {np.max(np.abs(g)):.3g} (tol = {GRAD_TOL}, "
            f"component {comp + 1}); try rescaling (centring) predictors, or optimizer='nelder-mead'"
        )
    return msgs
