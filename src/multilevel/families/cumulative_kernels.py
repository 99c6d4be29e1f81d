"""Compiled kernels of the cumulative link: each response's probability and its derivatives, and
the Laplace criterion of a model with one scalar random-effects term with its exact gradient.

They live in one file because numba's disk cache notices a change only in the
file that defines a function, not in the kernels it calls from another file.

The one-term criterion is :mod:`multilevel.glmm.laplace_gradient`'s, computed in
one compiled call: with one scalar term and the fixed effects and thresholds given,
the conditional modes are one Newton iteration per level, and the gradient is that
module's per-row formula. On ordinal's wine data (72 rows) each evaluation of the
general route is some 40 array operations of the family and PIRLS around a
microsecond of arithmetic; here it is one call. The general route remains the
reference the tests compare this kernel with.

Examples
--------
>>> import numpy as np
>>> logP, r1, r2 = np.empty(1), np.empty(1), np.empty(1)
>>> parts_loop(0, np.array([0.0, np.inf]), np.array([-np.inf, 0.0]), np.array([0]), np.array([1.0]),
...            logP, r1, r2)
>>> round(float(np.exp(logP[0])), 4)      # F(0 - 1), the logistic
0.2689
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["KIND", "parts_loop", "laplace_one_term", "available"]

#: the link's code in the kernels
KIND = {"logit": 0, "probit": 1, "cloglog": 2}


def _tail_parts(kind, x):  # pragma: no cover - compiled
    """``(F(x), 1 - F(x), f(x), f'(x))`` of one number for the link ``kind`` (0 logit, 1 probit,
    2 cloglog), each 0 or 1 at +-inf: :data:`multilevel.families.ordinal.CDFS` for one element."""
    if kind == 0:
        if x >= 0.0:
            e = math.exp(-x)
            F, S = 1.0 / (1.0 + e), e / (1.0 + e)
        else:
            e = math.exp(x)
            F, S = e / (1.0 + e), 1.0 / (1.0 + e)
        f = F * S
        return F, S, f, f * (1.0 - 2.0 * F)
    if x != x:  # (nan: nan everywhere, as the numpy formulas give it; f' of a nan is 0 there)
        return x, x, x, (0.0 if kind == 1 else x)
    if kind == 1:
        F = 0.5 * math.erfc(-x / math.sqrt(2.0))
        S = 0.5 * math.erfc(x / math.sqrt(2.0))
        if not math.isfinite(x):
            return F, S, 0.0, 0.0
        f = math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return F, S, f, -x * f
    e = math.exp(min(x, 700.0))
    S = math.exp(-e)
    f = e * S
    return -math.expm1(-e), S, f, f * (1.0 - e)


def _row_parts(kind, a, b):  # pragma: no cover - compiled
    """``(log P, (f(a) - f(b)) / P, (f'(a) - f'(b)) / P)`` of one response whose category's
    thresholds less eta are ``a`` (upper) and ``b`` (lower), ``P = F(a) - F(b)``."""
    if kind == 2 and b > 0.0:
        # cloglog's upper tail, S(x) = exp(-e^x), in logs: P = S(b) (1 - exp(e^b - e^a)), which
        # underflows for b above 6.5 (where the probabilities had been floored at 1e-300, with
        # no gradient: the search stopped there, at log-likelihoods such as -9395 for -279)
        eb = math.exp(b)
        if a == math.inf:
            q, ra, rb = 1.0, 0.0, eb
        else:
            ea = math.exp(a)
            q = -math.expm1(eb - ea)
            ra = ea * math.exp(eb - ea) / q
            rb = eb / q
        r2 = (ra * (1.0 - math.exp(a)) if a != math.inf else 0.0) - rb * (1.0 - eb)
        return -eb + math.log(q), ra - rb, r2
    Fa, Sa, fa, dfa = _tail_parts(kind, a)
    Fb, Sb, fb, dfb = _tail_parts(kind, b)
    p = Sb - Sa if b > 0.0 else Fa - Fb
    p = p if (p > 1e-300 or p != p) else 1e-300  # (nan stays nan, as np.maximum keeps it)
    return (math.log(p) if p == p else p), (fa - fb) / p, (dfa - dfb) / p


def parts_loop(kind, up, low, y, eta, logP, r1, r2):  # pragma: no cover - compiled
    """:meth:`multilevel.families.ordinal.Cumulative._parts` row by row, into ``logP``, ``r1``
    and ``r2`` (``up`` and ``low``: each category's thresholds, +-inf at the ends)."""
    for i in range(eta.shape[0]):
        j = y[i]
        logP[i], r1[i], r2[i] = _row_parts(kind, up[j] - eta[i], low[j] - eta[i])


def _curv(kind, a, b):  # pragma: no cover - compiled
    """``(l, l', c)``: the log-probability, its derivative in eta and ``c = -l''``."""
    lp, r1, r2 = _row_parts(kind, a, b)
    return lp, -r1, r1 * r1 - r2


def _group_objective(kind, t, ug, lo, hi, order, z, w, eta0, y, up, low):  # pragma: no cover - compiled
    """``(phi, phi', phi'')`` of one level at its mode candidate ``ug``:
    ``phi = -2 sum w l + u^2``."""
    f, g, h = ug * ug, 2.0 * ug, 2.0
    for r in range(lo, hi):
        i = order[r]
        if w[i] <= 0.0:
            continue
        e = eta0[i] + t * z[i] * ug
        lp, l1, c = _curv(kind, up[y[i]] - e, low[y[i]] - e)
        f -= 2.0 * w[i] * lp
        g -= 2.0 * w[i] * t * z[i] * l1
        h += 2.0 * w[i] * t * t * z[i] * z[i] * c
    return f, g, h


def laplace_one_term(kind, x, p, X, z, order, start, y, w, offset, u, h, grad):  # pragma: no cover - compiled
    """The Laplace criterion at ``x = (t, beta, log-gaps)`` of a cumulative link model with one
    scalar term, the modes ``u`` (the start, overwritten with the modes), and its gradient into
    ``grad`` where ``grad`` has ``x``'s size (else no gradient).

    ``order`` lists the rows level by level, level ``g``'s at ``order[start[g]:start[g + 1]]``;
    ``h`` is the step of the central differences in eta (of the curvature and the thresholds'
    partial derivatives). Returns inf where a mode is not reached.
    """
    n = X.shape[0]
    L = start.shape[0] - 1
    t = x[0]
    ng = x.shape[0] - 1 - p
    J = ng + 2
    # thresholds: (0, g_1, g_1 + g_2, ...) with g = exp(log-gap) (clipped as the family's with_extra)
    gaps = np.empty(ng)
    for m in range(ng):
        gaps[m] = math.exp(min(max(x[1 + p + m], -30.0), 30.0))
    up = np.empty(J)
    low = np.empty(J)
    c = 0.0
    for j in range(J):
        low[j] = -math.inf if j == 0 else c
        if j > 0 and j - 1 < ng:
            c += gaps[j - 1]
        up[j] = c if j < J - 1 else math.inf
    eta0 = np.empty(n)
    for i in range(n):
        s = offset[i]
        for k in range(p):
            s += X[i, k] * x[1 + k]
        eta0[i] = s
    value = 0.0
    H = np.empty(L)
    for gl in range(L):
        lo, hi = start[gl], start[gl + 1]
        ug = u[gl]
        f, g, hh = _group_objective(kind, t, ug, lo, hi, order, z, w, eta0, y, up, low)
        if not (f == f and math.isfinite(f)):
            ug = 0.0
            f, g, hh = _group_objective(kind, t, ug, lo, hi, order, z, w, eta0, y, up, low)
            if not math.isfinite(f):
                return math.inf
        ok = False
        for _ in range(100):
            step = -g / hh
            if abs(step) <= 1e-13 * (1.0 + abs(ug)):
                ok = True
                break
            halvings = 0
            while True:
                f1, g1, h1 = _group_objective(kind, t, ug + step, lo, hi, order, z, w, eta0, y, up, low)
                if f1 == f1 and f1 <= f + 1e-12 * (1.0 + abs(f)):
                    break
                step *= 0.5
                halvings += 1
                if halvings > 50:
                    break
            if halvings > 50:
                ok = abs(g) <= 1e-8 * (1.0 + abs(f))
                break
            ug += step
            f, g, hh = f1, g1, h1
        if not ok:
            return math.inf
        u[gl] = ug
        Hg = 0.5 * hh  # 1 + t^2 sum w z^2 c
        H[gl] = Hg
        value += f + math.log(Hg)
    if grad.shape[0] != x.shape[0]:
        return value
    # the gradient (multilevel.glmm.laplace_gradient's formula, per level)
    for k in range(grad.shape[0]):
        grad[k] = 0.0
    sumA = np.zeros(J)
    sumB = np.zeros(J)
    for gl in range(L):
        lo, hi = start[gl], start[gl + 1]
        ug, Hg = u[gl], H[gl]
        A = 0.0
        S = 0.0
        Bs = 0.0
        for r in range(lo, hi):
            i = order[r]
            if w[i] <= 0.0:
                continue
            e = eta0[i] + t * z[i] * ug
            a, b = up[y[i]] - e, low[y[i]] - e
            _, l1, ci = _curv(kind, a, b)
            dc = (_curv(kind, a - h, b - h)[2] - _curv(kind, a + h, b + h)[2]) / (2.0 * h)
            wz = w[i] * z[i]
            A += wz * z[i] * ci
            S += wz * l1
            Bs += wz * z[i] * z[i] * dc
        B = t * t * t * Bs / Hg
        grad[0] += (2.0 * t * A + B * S) / Hg
        tBH = t * B / Hg
        for r in range(lo, hi):
            i = order[r]
            if w[i] <= 0.0:
                continue
            e = eta0[i] + t * z[i] * ug
            j = y[i]
            a, b = up[j] - e, low[j] - e
            _, l1, ci = _curv(kind, a, b)
            dc = (_curv(kind, a - h, b - h)[2] - _curv(kind, a + h, b + h)[2]) / (2.0 * h)
            wz = w[i] * z[i]
            fz = t * t * wz * z[i] / Hg
            hz = tBH * wz
            v = -2.0 * w[i] * l1 + fz * dc - hz * ci
            grad[0] += v * z[i] * ug
            for k in range(p):
                grad[1 + k] += v * X[i, k]
            if ng == 0:
                continue
            # partial derivatives in the category's upper and lower thresholds at fixed eta
            if j < J - 1:
                lp_p, l1_p, c_p = _curv(kind, a + h, b)
                lp_m, l1_m, c_m = _curv(kind, a - h, b)
                sumA[j] += (-2.0 * w[i] * (lp_p - lp_m) + fz * (c_p - c_m) + hz * (l1_p - l1_m)) / (2.0 * h)
            if j > 0:
                lp_p, l1_p, c_p = _curv(kind, a, b + h)
                lp_m, l1_m, c_m = _curv(kind, a, b - h)
                sumB[j] += (-2.0 * w[i] * (lp_p - lp_m) + fz * (c_p - c_m) + hz * (l1_p - l1_m)) / (2.0 * h)
    # threshold c_j = gaps[0] + ... + gaps[j - 1]: the upper one of category j, the lower of j + 1
    for m in range(ng):
        s = 0.0
        for j in range(m + 1, J - 1):
            s += sumA[j]
        for j in range(m + 2, J):
            s += sumB[j]
        e = x[1 + p + m]
        grad[1 + p + m] = s * gaps[m] if -30.0 < e < 30.0 else 0.0
    return value


try:  # numba is a dependency; a broken install falls back to numpy
    import numba

    _tail_parts = numba.njit(cache=True, nogil=True)(_tail_parts)
    _row_parts = numba.njit(cache=True, nogil=True)(_row_parts)
    _curv = numba.njit(cache=True, nogil=True)(_curv)
    _group_objective = numba.njit(cache=True, nogil=True)(_group_objective)
    parts_loop = numba.njit(cache=True, nogil=True)(parts_loop)
    laplace_one_term = numba.njit(cache=True, nogil=True)(laplace_one_term)
except Exception:  # pragma: no cover - exercised only without numba
    parts_loop = None
    laplace_one_term = None


def available() -> bool:
    """Whether the compiled kernels run (numba imports).

    Examples
    --------
    >>> available()
    True
    """
    return parts_loop is not None
