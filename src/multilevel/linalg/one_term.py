"""The profiled criterion of a model with one random-effects term, compiled.

With a single term the blocked factor needs no dense Schur complement of other
random effects: per level ``g`` it is the k x k Cholesky factor of
``T'D_g T + I``, and the fixed-effects part is the (p + 1) x (p + 1) factor
of ``[X y]'[X y] - sum_g W_g W_g'``. On a model of sleepstudy's size each
step is a handful of flops, so numpy's per-call overhead (some 40 array
operations per evaluation) was nearly all of an evaluation's cost; numba
compiles the loop over levels into one call of about a microsecond. The
general path, :func:`multilevel.linalg.factorize`, computes the same numbers
and remains the reference the tests compare this kernel with.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["one_term_criterion", "available"]

_LOG2PI = math.log(2.0 * math.pi)

try:  # numba is a dependency; a broken install falls back to the numpy path
    import numba
except Exception:  # pragma: no cover - exercised only without numba
    numba = None


def available() -> bool:
    """Whether the compiled kernel can run (numba imports).

    Examples
    --------
    >>> available()
    True
    """
    return numba is not None


def _criterion(theta, rows, cols, D0, Bx0, Cxx, n, p, log_weights, reml):  # pragma: no cover
    k = D0.shape[1]
    n0 = D0.shape[0]
    m = Cxx.shape[0]
    T = np.zeros((k, k))
    for i in range(rows.shape[0]):
        T[rows[i], cols[i]] = theta[i]
    S = Cxx.copy()
    M = np.empty((k, k))
    TD = np.empty((k, k))
    L = np.empty((k, k))
    F = np.empty((k, k))
    W = np.empty((m, k))
    logdet0 = 0.0
    for g in range(n0):
        # M = T' D_g T + I
        for a in range(k):
            for b in range(k):
                s = 0.0
                for c in range(a, k):  # T is lower triangular: T[c, a] = 0 for c < a
                    s += T[c, a] * D0[g, c, b]
                TD[a, b] = s
        for a in range(k):
            for b in range(a + 1):
                s = 0.0
                for c in range(b, k):
                    s += TD[a, c] * T[c, b]
                M[a, b] = s
            M[a, a] += 1.0
        # Cholesky M = L L'
        for a in range(k):
            for b in range(a + 1):
                s = M[a, b]
                for c in range(b):
                    s -= L[a, c] * L[b, c]
                if a == b:
                    if not s > 0.0:
                        return math.inf
                    L[a, a] = math.sqrt(s)
                else:
                    L[a, b] = s / L[b, b]
            for b in range(a + 1, k):
                L[a, b] = 0.0
            logdet0 += 2.0 * math.log(L[a, a])
        # F = T L^{-T}: each row f of F solves L f' = T[i, :]'
        for i in range(k):
            for a in range(k):
                s = T[i, a]
                for c in range(a):
                    s -= L[a, c] * F[i, c]
                F[i, a] = s / L[a, a]
        # W = [X y]'Z_g F, then S -= W W' (lower triangle)
        for r in range(m):
            for a in range(k):
                s = 0.0
                for c in range(k):
                    s += Bx0[r, g, c] * F[c, a]
                W[r, a] = s
        for r in range(m):
            for c in range(r + 1):
                s = 0.0
                for a in range(k):
                    s += W[r, a] * W[c, a]
                S[r, c] -= s
    # Cholesky of the (p + 1) x (p + 1) Schur complement, in place (lower)
    logdet_x = 0.0
    for a in range(m):
        for b in range(a + 1):
            s = S[a, b]
            for c in range(b):
                s -= S[a, c] * S[b, c]
            if a == b:
                if not s > 0.0:
                    return math.inf
                S[a, a] = math.sqrt(s)
            else:
                S[a, b] = s / S[b, b]
        if a < p:
            logdet_x += 2.0 * math.log(S[a, a])
    pwrss = S[m - 1, m - 1] ** 2
    if not pwrss > 0.0:
        return math.inf
    ld = logdet0 - log_weights
    if reml:
        nmp = n - p
        return ld + logdet_x + nmp * (1.0 + _LOG2PI + math.log(pwrss / nmp))
    return ld + n * (1.0 + _LOG2PI + math.log(pwrss / n))


_compiled = None


def _kernel():
    global _compiled
    if _compiled is None:
        _compiled = numba.njit(cache=True, nogil=True)(_criterion)
    return _compiled


def one_term_criterion(theta: np.ndarray, rows: np.ndarray, cols: np.ndarray, D0: np.ndarray,
                       Bx0: np.ndarray, Cxx: np.ndarray, n: int, p: int, log_weights: float,
                       reml: bool) -> float:
    """Profiled ML deviance or REML criterion of a one-term model at ``theta``.

    Parameters
    ----------
    theta : ndarray
        The term's covariance parameters.
    rows, cols : ndarray of int
        Where each element of theta sits in the lower-triangular factor ``T``
        (:class:`~multilevel.linalg.ThetaLayout`).
    D0 : ndarray (levels, k, k)
        Per-level ``Z'Z`` blocks (weighted).
    Bx0 : ndarray (p + 1, levels, k)
        ``[X y]'Z`` by level.
    Cxx : ndarray (p + 1, p + 1)
        ``[X y]'[X y]``.
    n, p : int
        Observations and fixed effects.
    log_weights : float
        Sum of the log prior weights.
    reml : bool

    Returns
    -------
    float
        ``inf`` where the system is not numerically positive definite.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.linalg import cross_products
    >>> cp = cross_products(build_design("Reaction ~ Days + (Days | Subject)",
    ...                                  ml.datasets.load("sleepstudy")))
    >>> from multilevel.linalg import ThetaLayout
    >>> lay = ThetaLayout.from_k(cp.k)
    >>> theta = np.array([0.9667, 0.0152, 0.2309])
    >>> round(one_term_criterion(theta, lay.rows[0], lay.cols[0], cp.D0, cp.Bx0, cp.Cxx,
    ...                          cp.n, cp.p, 0.0, True), 2)
    1743.63
    """
    return float(_kernel()(np.ascontiguousarray(theta, dtype=float), np.asarray(rows, dtype=np.int64),
                           np.asarray(cols, dtype=np.int64), np.ascontiguousarray(D0, dtype=float),
                           np.ascontiguousarray(Bx0, dtype=float), np.ascontiguousarray(Cxx, dtype=float),
                           int(n), int(p), float(log_weights), bool(reml)))
