"""Finite-difference derivatives with Richardson extrapolation.

Used on smooth functions of the variance parameters (the deviance and the
covariance of the fixed effects), never on refits. One halving of a central
difference cancels its h^2 error term, as numDeriv's Richardson method does
for lmerTest; with steps of 1e-2 relative the error is about 1e-8 relative,
far below what degrees of freedom need.
"""

from __future__ import annotations

import numpy as np

__all__ = ["hessian", "jacobian", "jacobian_hessian", "step_sizes"]


def step_sizes(x: np.ndarray, rel: float = 1e-2, floor: float = 1e-3) -> np.ndarray:
    """Initial steps: a fraction of each coordinate, with a floor near zero."""
    return np.maximum(rel * np.abs(x), floor)


_LEVELS = 2


def _richardson(values: list) -> object:
    """Combine estimates at steps h and h/2 of an O(h^2) central formula
    (a single estimate is returned as it is)."""
    if len(values) == 1:
        return values[0]
    d0, d1 = values
    return (4 * d1 - d0) / 3


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
        for k in range(_LEVELS):
            e = np.zeros_like(x)
            e[i] = h[i] / 2**k
            ests.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * e[i]))
        out.append(_richardson(ests))
    return np.array(out)


def hessian(f, x, h=None, levels: int = _LEVELS) -> np.ndarray:
    """Hessian of a scalar ``f`` at ``x``.

    ``levels=1`` skips the Richardson step (half the evaluations, O(h^2) error).

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
    # f(x +- h_i e_i) at each level, shared by the diagonal and off-diagonal formulas
    plus = [[f(x + _unit(n, i, h[i] / 2**k)) for i in range(n)] for k in range(levels)]
    minus = [[f(x - _unit(n, i, h[i] / 2**k)) for i in range(n)] for k in range(levels)]
    for i in range(n):
        H[i, i] = _richardson([(plus[k][i] - 2 * f0 + minus[k][i]) / (h[i] / 2**k) ** 2
                               for k in range(levels)])
        for j in range(i):
            ests = []
            for k in range(levels):
                hi, hj = h[i] / 2**k, h[j] / 2**k
                step = _unit(n, i, hi) + _unit(n, j, hj)
                num = (f(x + step) - plus[k][i] - plus[k][j] + 2 * f0
                       - minus[k][i] - minus[k][j] + f(x - step))
                ests.append(num / (2 * hi * hj))
            H[i, j] = H[j, i] = _richardson(ests)
    return H


def jacobian_hessian(f, x, h=None, levels: int = _LEVELS) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivatives of an array-valued ``f`` at ``x`` from one set of
    evaluations: shapes ``(n,) + f(x).shape`` and ``(n, n) + f(x).shape``.

    The points are those of :func:`hessian` (its Richardson steps); the first
    derivatives are the central differences of :func:`jacobian` at the same
    points, so each component's derivatives equal those two functions'.

    Examples
    --------
    >>> J, H = jacobian_hessian(lambda v: np.array([v[0] ** 2 * v[1], v[0] * v[1]]), np.array([1.0, 2.0]))
    >>> np.round(J, 7).tolist(), np.round(H[0, 1], 7).tolist()
    ([[4.0, 2.0], [1.0, 1.0]], [2.0, 1.0])
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    h = step_sizes(x) if h is None else np.broadcast_to(h, x.shape)
    f0 = np.asarray(f(x), dtype=float)
    plus = [[np.asarray(f(x + _unit(n, i, h[i] / 2**k)), dtype=float) for i in range(n)] for k in range(levels)]
    minus = [[np.asarray(f(x - _unit(n, i, h[i] / 2**k)), dtype=float) for i in range(n)] for k in range(levels)]
    J = np.empty((n,) + f0.shape)
    H = np.empty((n, n) + f0.shape)
    for i in range(n):
        J[i] = _richardson([(plus[k][i] - minus[k][i]) / (2 * h[i] / 2**k) for k in range(levels)])
        H[i, i] = _richardson([(plus[k][i] - 2 * f0 + minus[k][i]) / (h[i] / 2**k) ** 2 for k in range(levels)])
        for j in range(i):
            ests = []
            for k in range(levels):
                hi, hj = h[i] / 2**k, h[j] / 2**k
                step = _unit(n, i, hi) + _unit(n, j, hj)
                num = (np.asarray(f(x + step)) - plus[k][i] - plus[k][j] + 2 * f0
                       - minus[k][i] - minus[k][j] + np.asarray(f(x - step)))
                ests.append(num / (2 * hi * hj))
            H[i, j] = H[j, i] = _richardson(ests)
    return J, H


def gradient_hessian(f, x, h) -> tuple[np.ndarray, np.ndarray]:
    """Central-difference gradient and Hessian of ``f`` at ``x`` from one set of evaluations.

    ``1 + 2n + n(n - 1)`` evaluations with steps ``h`` (O(h^2) error), as
    :func:`hessian` with ``levels=1``; the gradient comes from the same
    ``f(x +- h_i e_i)``.

    Examples
    --------
    >>> g, H = gradient_hessian(lambda v: v[0] ** 2 * v[1] + np.exp(v[1]), np.array([1.0, 0.0]), 1e-4)
    >>> np.round(g, 6).tolist(), np.round(H, 5).tolist()
    ([0.0, 2.0], [[0.0, 2.0], [2.0, 1.0]])
    """
    x = np.asarray(x, dtype=float)
    n = x.size
    h = np.broadcast_to(np.asarray(h, dtype=float), x.shape)
    f0 = f(x)
    plus, minus = _steps(f, x, h)
    g = (plus - minus) / (2 * h)
    H = np.empty((n, n))
    for i in range(n):
        H[i, i] = (plus[i] - 2 * f0 + minus[i]) / h[i] ** 2
        for j in range(i):
            step = _unit(n, i, h[i]) + _unit(n, j, h[j])
            num = f(x + step) - plus[i] - plus[j] + 2 * f0 - minus[i] - minus[j] + f(x - step)
            H[i, j] = H[j, i] = num / (2 * h[i] * h[j])
    return g, H


def central_gradient(f, x, h) -> np.ndarray:
    """Central-difference gradient of a scalar ``f`` at ``x`` (``2n`` evaluations,
    the gradient of :func:`gradient_hessian` without its Hessian).

    Examples
    --------
    >>> central_gradient(lambda v: v[0] ** 2 * v[1] + np.exp(v[1]), np.array([1.0, 0.0]), 1e-4).round(6).tolist()
    [0.0, 2.0]
    """
    x = np.asarray(x, dtype=float)
    h = np.broadcast_to(np.asarray(h, dtype=float), x.shape)
    plus, minus = _steps(f, x, h)
    return (plus - minus) / (2 * h)


def _steps(f, x: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``f(x + h_i e_i)`` and ``f(x - h_i e_i)`` for every coordinate i."""
    n = x.size
    plus = np.array([f(x + _unit(n, i, h[i])) for i in range(n)], dtype=float)
    minus = np.array([f(x - _unit(n, i, h[i])) for i in range(n)], dtype=float)
    return plus, minus


def _unit(n: int, i: int, value: float) -> np.ndarray:
    e = np.zeros(n)
    e[i] = value
    return e
