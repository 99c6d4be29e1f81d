"""Finite-difference derivatives with Richardson extrapolation.

Used on smooth functions of the variance parameters (the deviance and the
covariance of the fixed effects), never on refits. Two halvings of a central
difference cancel the h^2 and h^4 error terms, as numDeriv's Richardson
method does for lmerTest.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hessian", "jacobian", "step_sizes"]


def step_sizes(x: np.ndarray, rel: float = 1e-2, floor: float = 1e-3) -> np.ndarray:
    """Initial steps: a fraction of each coordinate, with a floor near zero."""
    return np.maximum(rel * np.abs(x), floor)


def _richardson(values: list) -> object:
    """Combine estimates at steps h, h/2, h/4 of an O(h^2) central formula."""
    d0, d1, d2 = values
    e1 = (4 * d1 - d0) / 3
    e2 = (4 * d2 - d1) / 3
    return (16 * e2 - e1) / 15


def jacobian(f, x, h=None) -> np.ndarray:
    """Derivative of an array-valued ``f`` at ``x``: shape ``(len(x),) + f(x).shape``.

    Examples
    --------
    >>> J = jacobian(lambda v: np.array([v[0] ** 3, v[0] * v[1]]), np.array([2.0, 3.0]))
    >>> np.round(J, 8).tolist()
    [[12.0, 3.0], [0.0, 2.0]]
    """
    x = np.asarray(x, dtype=float)
    h = step_sizes(x) if h is None else np.broadcast_to(h, x.shape)
    out = []
    for i in range(x.size):
        ests = []
        for k in range(3):
            e = np.zeros_like(x)
            e[i] = h[i] / 2**k
            ests.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * e[i]))
        out.append(_richardson(ests))
    return np.array(out)


def hessian(f, x, h=None) -> np.ndarray:
    """Hessian of a scalar ``f`` at ``x``.

    Examples
    --------
    >>> H = hessian(lambda v: v[0] ** 2 * v[1] + np.exp(v[1]), np.array([1.0, 0.0]))
    >>> np.round(H, 7).tolist()
    [[0.0, 2.0], [2.0, 1.0]]
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    h = step_sizes(x) if h is None else np.broadcast_to(h, x.shape)
    f0 = f(x)
    H = np.empty((n, n))
    for i in range(n):
        ests = []
        for k in range(3):
            e = np.zeros(n)
            e[i] = h[i] / 2**k
            ests.append((f(x + e) - 2 * f0 + f(x - e)) / e[i] ** 2)
        H[i, i] = _richardson(ests)
        for j in range(i):
            ests = []
            for k in range(3):
                ei = np.zeros(n)
                ej = np.zeros(n)
                ei[i] = h[i] / 2**k
                ej[j] = h[j] / 2**k
                ests.append((f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej))
                            / (4 * ei[i] * ej[j]))
            H[i, j] = H[j, i] = _richardson(ests)
    return H
