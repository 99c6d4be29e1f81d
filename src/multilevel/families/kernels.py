"""Compiled kernels of the families: each cumulative-link response's probability and its
derivatives, and the Laplace criterion of a model with one scalar random-effects term with its
exact gradient, for cumulative links and zero-inflated Poisson and NB2 counts.

They live in one file because numba's disk cache notices a change only in the
file that defines a function, not in the kernels it calls from another file.

The one-term criterion is :mod:`multilevel.glmm.laplace_gradient`'s, computed in
one compiled call: with one scalar term and the fixed effects and the family's
parameters given, the conditional modes are one Newton iteration per level, and
the gradient is that module's per-row formula. On ordinal's wine data (72 rows)
each evaluation of the general route is some 40 array operations of the family
and PIRLS around a microsecond of arithmetic; here it is one call. The general
route remains the reference the tests compare this kernel with.

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

__all__ = ["KIND", "ZIP", "ZINB2", "parts_loop", "laplace_one_term", "bfgs_one_term", "hessian_one_term",
           "available", "one_term_kind"]

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


# ----------------------------------------------------------------- one scalar term's Laplace
# Family kinds of the one-term kernel: 0, 1, 2 the cumulative logit, probit and cloglog links;
# 3 zero-inflated Poisson, 4 zero-inflated NB2 (log link). Per evaluation the family's state is
# ``fa`` (cumulative: each category's upper then lower threshold; NB2: theta) and, per row, ``zeta``
# (zero inflation's logit(pi)).
ZIP, ZINB2 = 3, 4


def _log_expit(v):  # pragma: no cover - compiled
    """``log(1 / (1 + exp(-v)))`` without overflow."""
    return -math.log1p(math.exp(-v)) if v >= 0.0 else v - math.log1p(math.exp(v))


def _row_parts_curv(kind, a, b):  # pragma: no cover - compiled
    """``(l, l', c)`` of a cumulative response from its category's thresholds less eta."""
    lp, r1, r2 = _row_parts(kind, a, b)
    return lp, -r1, r1 * r1 - r2


def _row(kind, y, eta, fa, zeta):  # pragma: no cover - compiled
    """``(l, l', c)`` of one response at ``eta``: the log-density, its derivative in eta and the
    observed curvature ``c = -l''`` (negative for some zero-inflated zeros)."""
    if kind <= 2:
        J = fa.shape[0] // 2
        j = int(y)
        return _row_parts_curv(kind, fa[j] - eta, fa[J + j] - eta)
    mu = math.exp(min(eta, 700.0))
    if kind == ZIP:  # (the count's log-density, and its derivatives in eta)
        lb = y * eta - mu - math.lgamma(y + 1.0)
        s, h = y - mu, -mu
    else:
        t = fa[0]
        lb = _nb2_constant(y, t) + y * eta - (t + y) * math.log1p(mu / t)
        s, h = t * (y - mu) / (t + mu), -t * mu * (y + t) / ((t + mu) * (t + mu))
    l1m = _log_expit(-zeta)  # log(1 - pi)
    if y > 0.0:
        return l1m + lb, s, -h
    # a zero: l = log(pi + (1 - pi) f0), r = (1 - pi) f0 / (pi + (1 - pi) f0)
    kept = l1m + lb
    lpi = _log_expit(zeta)
    big = max(lpi, kept)
    at_zero = big + math.log(math.exp(lpi - big) + math.exp(kept - big))
    r = math.exp(kept - at_zero)
    return at_zero, r * s, -(r * (h + s * s) - (r * s) * (r * s))


def _nb2_constant(y, t):  # pragma: no cover - compiled
    """:func:`multilevel.families.special.nb2_constant` of one count (Stirling's series from
    ``t = 100`` on, where log-gamma differences of about ``t log t`` each lose digits)."""
    if t < 100.0:
        return math.lgamma(y + t) - math.lgamma(t) - math.lgamma(y + 1.0) - y * math.log(t)
    a, b = 1.0 / (t + y), 1.0 / t
    tail = (a * (1.0 / 12.0 - a * a * (1.0 / 360.0 - a * a / 1260.0))
            - b * (1.0 / 12.0 - b * b * (1.0 / 360.0 - b * b / 1260.0)))
    return (t + y - 0.5) * math.log1p(y / t) - y + tail - math.lgamma(y + 1.0)


def _fisher(kind, eta, fa, zeta):  # pragma: no cover - compiled
    """The expected information of eta (a positive step weight where the observed one is not)."""
    if kind <= 2:
        return 1e-8
    mu = math.exp(min(eta, 700.0))
    one_m = math.exp(_log_expit(-zeta))
    if kind == ZIP:
        return max(one_m * mu, 1e-8)
    return max(one_m * mu * fa[0] / (fa[0] + mu), 1e-8)


def _group_objective(kind, t, ug, lo, hi, order, z, w, eta0, y, fa, zeta):  # pragma: no cover - compiled
    """``(phi, phi', phi'' observed, phi'' with positive weights)`` of one level at ``ug``:
    ``phi = -2 sum w l + u^2``."""
    f, g, h, hp = ug * ug, 2.0 * ug, 2.0, 2.0
    for r in range(lo, hi):
        i = order[r]
        if w[i] <= 0.0:
            continue
        e = eta0[i] + t * z[i] * ug
        lp, l1, c = _row(kind, y[i], e, fa, zeta[i])
        tz2 = 2.0 * w[i] * t * t * z[i] * z[i]
        f -= 2.0 * w[i] * lp
        g -= 2.0 * w[i] * t * z[i] * l1
        h += tz2 * c
        hp += tz2 * (c if c > 0.0 else _fisher(kind, e, fa, zeta[i]))
    return f, g, h, hp


def _mode(kind, t, ug, lo, hi, order, z, w, eta0, y, fa, zeta):  # pragma: no cover - compiled
    """The level's mode from ``ug`` (Newton steps on the observed curvature where it is positive,
    on positive weights else, halved until phi falls) and ``(u, phi, 1 + t^2 sum w z^2 c)``; a
    phi of inf where it is not reached."""
    f, g, h, hp = _group_objective(kind, t, ug, lo, hi, order, z, w, eta0, y, fa, zeta)
    if not math.isfinite(f):
        ug = 0.0
        f, g, h, hp = _group_objective(kind, t, ug, lo, hi, order, z, w, eta0, y, fa, zeta)
        if not math.isfinite(f):
            return ug, math.inf, 1.0
    for _ in range(200):
        step = -g / (h if h > 0.0 else hp)
        if abs(step) <= 1e-13 * (1.0 + abs(ug)):
            return ug, f, 0.5 * h
        halvings = 0
        while True:
            f1, g1, h1, hp1 = _group_objective(kind, t, ug + step, lo, hi, order, z, w, eta0, y, fa, zeta)
            if f1 == f1 and f1 <= f + 1e-12 * (1.0 + abs(f)):
                break
            step *= 0.5
            halvings += 1
            if halvings > 50:
                break
        if halvings > 50:  # (no lower phi along the step: a mode to rounding where phi' is about 0)
            return ug, (f if abs(g) <= 1e-8 * (1.0 + abs(f)) else math.inf), 0.5 * h
        ug += step
        f, g, h, hp = f1, g1, h1, hp1
    return ug, math.inf, 1.0


def laplace_one_term(kind, x, p, X, z, order, start, y, w, offset, Xzi, zoff, u, h, grad):  # pragma: no cover
    """The Laplace criterion at ``x = (t, beta, the family's parameters)`` of a model with one
    scalar term, the modes ``u`` (the start, overwritten with the modes), and its gradient into
    ``grad`` where ``grad`` has ``x``'s size (else no gradient).

    The family's parameters: a cumulative link's log-gaps between thresholds; zero inflation's
    coefficients on the (standardised) columns ``Xzi`` (with the offset ``zoff``), after NB2's
    log-theta. ``order`` lists
    the rows level by level, level ``g``'s at ``order[start[g]:start[g + 1]]``; ``h`` is the
    step of the central differences in eta (of the curvature, and of the thresholds' and zero
    inflation's partial derivatives) and in NB2's log-theta. Returns inf where a mode is not reached or the Laplace
    curvature of a level is not positive.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.glmm.fit import memory_engine
    >>> m = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine")).glmm
    >>> kind, X, z, order, start, y, w, off, Xzi, zoff = memory_engine(m.design, m.family, m._prior).gradient._kernel
    >>> x, p = m._x_internal, X.shape[1]         # (t, beta, log-gaps) at the optimum, standardised
    >>> g = np.empty(x.size)
    >>> round(laplace_one_term(kind, x, p, X, z, order, start, y, w, off, Xzi, zoff, np.zeros(9), 1e-4, g), 3)
    163.131
    >>> bool(np.max(np.abs(g)) < 1e-5)                   # (-2 log-likelihood, at its minimum)
    True
    """
    n = X.shape[0]
    L = start.shape[0] - 1
    t = x[0]
    ne = x.shape[0] - 1 - p
    zeta = np.zeros(n)
    if kind <= 2:
        # thresholds: (0, g_1, g_1 + g_2, ...), g = exp(log-gap) clipped as the family's with_extra
        J = ne + 2
        gaps = np.empty(ne)
        for m in range(ne):
            gaps[m] = math.exp(min(max(x[1 + p + m], -30.0), 30.0))
        fa = np.empty(2 * J)
        c = 0.0
        for j in range(J):
            fa[J + j] = -math.inf if j == 0 else c
            if j > 0 and j - 1 < ne:
                c += gaps[j - 1]
            fa[j] = c if j < J - 1 else math.inf
    else:
        nb = 1 if kind == ZINB2 else 0
        fa = np.empty(1)
        fa[0] = math.exp(min(max(x[1 + p], -30.0), 30.0)) if nb else 0.0
        q = ne - nb
        for i in range(n):
            s = zoff[i]
            for k in range(q):
                s += Xzi[i, k] * x[1 + p + nb + k]
            zeta[i] = s
    eta0 = np.empty(n)
    for i in range(n):
        s = offset[i]
        for k in range(p):
            s += X[i, k] * x[1 + k]
        eta0[i] = s
    value = 0.0
    H = np.empty(L)
    for gl in range(L):
        ug, f, Hg = _mode(kind, t, u[gl], start[gl], start[gl + 1], order, z, w, eta0, y, fa, zeta)
        if not (math.isfinite(f) and Hg > 0.0):
            return math.inf
        u[gl] = ug
        H[gl] = Hg
        value += f + math.log(Hg)
    if grad.shape[0] != x.shape[0]:
        return value
    # the gradient: multilevel.glmm.laplace_gradient's formula, per level
    for k in range(grad.shape[0]):
        grad[k] = 0.0
    J = fa.shape[0] // 2
    sumA = np.zeros(J)  # (cumulative: per category, the derivatives in its upper threshold)
    sumB = np.zeros(J)  # (and in its lower one)
    L1 = np.empty(n)  # per row: l', c and dc / deta at the modes
    C = np.empty(n)
    DC = np.empty(n)
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
            _, l1, ci = _row(kind, y[i], e, fa, zeta[i])
            dc = (_row(kind, y[i], e + h, fa, zeta[i])[2] - _row(kind, y[i], e - h, fa, zeta[i])[2]) / (2.0 * h)
            L1[i], C[i], DC[i] = l1, ci, dc
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
            l1, ci, dc = L1[i], C[i], DC[i]
            wz = w[i] * z[i]
            fz = t * t * wz * z[i] / Hg
            hz = tBH * wz
            v = -2.0 * w[i] * l1 + fz * dc - hz * ci
            grad[0] += v * z[i] * ug
            for k in range(p):
                grad[1 + k] += v * X[i, k]
            if ne == 0:
                continue
            if kind <= 2:
                # partial derivatives in the category's upper and lower thresholds at fixed eta
                j = int(y[i])
                a, b = fa[j] - e, fa[J + j] - e
                if j < J - 1:
                    lp_p, l1_p, c_p = _row_parts_curv(kind, a + h, b)
                    lp_m, l1_m, c_m = _row_parts_curv(kind, a - h, b)
                    sumA[j] += (-2.0 * w[i] * (lp_p - lp_m) + fz * (c_p - c_m) + hz * (l1_p - l1_m)) / (2.0 * h)
                if j > 0:
                    lp_p, l1_p, c_p = _row_parts_curv(kind, a, b + h)
                    lp_m, l1_m, c_m = _row_parts_curv(kind, a, b - h)
                    sumB[j] += (-2.0 * w[i] * (lp_p - lp_m) + fz * (c_p - c_m) + hz * (l1_p - l1_m)) / (2.0 * h)
                continue
            # zero inflation: the derivative in this row's logit(pi), then each coefficient's through Xzi
            lp_p, l1_p, c_p = _row(kind, y[i], e, fa, zeta[i] + h)
            lp_m, l1_m, c_m = _row(kind, y[i], e, fa, zeta[i] - h)
            dz = (-2.0 * w[i] * (lp_p - lp_m) + fz * (c_p - c_m) + hz * (l1_p - l1_m)) / (2.0 * h)
            nb = 1 if kind == ZINB2 else 0
            for k in range(ne - nb):
                grad[1 + p + nb + k] += dz * Xzi[i, k]
            if nb:  # NB2's log-theta: a central difference in it
                th = fa[0]
                fa[0] = th * math.exp(h)
                lp_p, l1_p, c_p = _row(kind, y[i], e, fa, zeta[i])
                fa[0] = th * math.exp(-h)
                lp_m, l1_m, c_m = _row(kind, y[i], e, fa, zeta[i])
                fa[0] = th
                grad[1 + p] += (-2.0 * w[i] * (lp_p - lp_m) + fz * (c_p - c_m) + hz * (l1_p - l1_m)) / (2.0 * h)
    if kind <= 2:
        # threshold c_j = gaps[0] + ... + gaps[j - 1]: the upper one of category j, the lower of j + 1
        for m in range(ne):
            s = 0.0
            for j in range(m + 1, J - 1):
                s += sumA[j]
            for j in range(m + 2, J):
                s += sumB[j]
            e = x[1 + p + m]
            grad[1 + p + m] = s * gaps[m] if -30.0 < e < 30.0 else 0.0
    elif kind == ZINB2 and not -30.0 < x[1 + p] < 30.0:
        grad[1 + p] = 0.0
    return value


def bfgs_one_term(kind, x0, lower, p, X, z, order, start, y, w, offset, Xzi, zoff, u, h, maxit, gtol):  # pragma: no cover
    """Minimise :func:`laplace_one_term` from ``x0`` by BFGS with an Armijo backtracking line search
    that keeps every iterate inside ``lower`` (the loop of :mod:`multilevel.linalg.kernels`'
    one-term BFGS, here because numba's cache follows files); ``u`` the modes, warm starts of
    each evaluation, overwritten with the optimum's. Returns ``(x, f, g, evaluations, status)``:
    0 where ``max |g| <= gtol``, 1 where an iterate reached a bound, 2 where the search failed.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.glmm.fit import memory_engine
    >>> m = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine")).glmm
    >>> kind, X, z, order, start, y, w, off, Xzi, zoff = memory_engine(m.design, m.family, m._prior).gradient._kernel
    >>> x, p = m._x_internal, X.shape[1]         # (t, beta, log-gaps) at the optimum, standardised
    >>> lower = np.r_[0.0, np.full(x.size - 1, -np.inf)]
    >>> out = bfgs_one_term(kind, x + 0.1, lower, p, X, z, order, start, y, w, off, Xzi, zoff, np.zeros(9), 1e-4,
    ...                     500, 1e-5)
    >>> round(out[1], 3), out[4]
    (163.131, 0)
    """
    n = x0.size
    x = x0.copy()
    g = np.empty(n)
    f = laplace_one_term(kind, x, p, X, z, order, start, y, w, offset, Xzi, zoff, u, h, g)
    nfev = 1
    if not math.isfinite(f):
        return x, f, g, nfev, 2
    H = np.eye(n)  # inverse Hessian approximation
    first = True
    stall = 0
    d = np.empty(n)
    xt = np.empty(n)
    gt = np.empty(n)
    ut = np.empty(u.shape[0])
    s = np.empty(n)
    yv = np.empty(n)
    Hy = np.empty(n)
    for _ in range(maxit):
        gmax = 0.0
        for i in range(n):
            gmax = max(gmax, abs(g[i]))
        if gmax <= gtol:
            return x, f, g, nfev, 0
        slope = 0.0
        for i in range(n):
            acc = 0.0
            for j in range(n):
                acc -= H[i, j] * g[j]
            d[i] = acc
            slope += g[i] * acc
        if not slope < 0.0:  # not a descent direction: restart along the gradient
            H[:, :] = 0.0
            slope = 0.0
            for i in range(n):
                H[i, i] = 1.0
                d[i] = -g[i]
                slope -= g[i] * g[i]
        if first:  # a first step of at most 0.5 in any parameter
            dn = 0.0
            for i in range(n):
                dn = max(dn, abs(d[i]))
            if dn > 0.5:
                for i in range(n):
                    d[i] *= 0.5 / dn
                slope *= 0.5 / dn
        amax = 1.0  # nine tenths of the way to the nearest bound at most
        for i in range(n):
            if d[i] < 0.0 and math.isfinite(lower[i]):
                room = x[i] - lower[i]
                if room <= 1e-8:
                    return x, f, g, nfev, 1
                amax = min(amax, 0.9 * room / -d[i])
        alpha = amax
        ok = False
        ft = f
        for _ls in range(40):
            for i in range(n):
                xt[i] = x[i] + alpha * d[i]
            ut[:] = u
            ft = laplace_one_term(kind, xt, p, X, z, order, start, y, w, offset, Xzi, zoff, ut, h, gt)
            nfev += 1
            if math.isfinite(ft) and ft <= f + 1e-4 * alpha * slope:
                ok = True
                break
            alpha *= 0.5
        if not ok:  # no decrease left: at the optimum to rounding, or lost
            return x, f, g, nfev, 0 if gmax <= 1e2 * gtol else 2
        sy = 0.0
        yy = 0.0
        for i in range(n):
            s[i] = xt[i] - x[i]
            yv[i] = gt[i] - g[i]
            sy += s[i] * yv[i]
            yy += yv[i] * yv[i]
        if sy > 0.0:  # curvature condition: update the inverse Hessian
            if first:
                H[:, :] = 0.0
                for i in range(n):
                    H[i, i] = sy / yy
                first = False
            yHy = 0.0
            for i in range(n):
                acc = 0.0
                for j in range(n):
                    acc += H[i, j] * yv[j]
                Hy[i] = acc
                yHy += yv[i] * acc
            rho = 1.0 / sy
            for i in range(n):
                for j in range(n):
                    H[i, j] += rho * ((1.0 + rho * yHy) * s[i] * s[j] - Hy[i] * s[j] - s[i] * Hy[j])
        stall = stall + 1 if f - ft <= 1e-14 * max(1.0, abs(f)) else 0
        x[:] = xt
        g[:] = gt
        u[:] = ut
        f = ft
        if stall >= 3:  # no progress left at this precision
            return x, f, g, nfev, 0 if gmax <= 1e2 * gtol else 2
        if alpha == amax and amax < 1.0:
            for i in range(n):  # pressed against a bound: a variance heading for zero
                if math.isfinite(lower[i]) and x[i] - lower[i] < 1e-6:
                    return x, f, g, nfev, 1
    return x, f, g, nfev, 2


def hessian_one_term(kind, x, steps, p, X, z, order, start, y, w, offset, Xzi, zoff, u, h):  # pragma: no cover
    """The Hessian of :func:`laplace_one_term` at ``x``: central differences of its exact gradient
    with the steps ``steps`` (``2n`` evaluations, from the modes ``u``), symmetrised; a row of nan
    where an evaluation has no finite value (:func:`multilevel.glmm.laplace_gradient.
    hessian_of_gradient` in one call).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.glmm.fit import memory_engine
    >>> m = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine")).glmm
    >>> kind, X, z, order, start, y, w, off, Xzi, zoff = memory_engine(m.design, m.family, m._prior).gradient._kernel
    >>> x, p = m._x_internal, X.shape[1]         # (t, beta, log-gaps) at the optimum, standardised
    >>> H = hessian_one_term(kind, x, np.full(x.size, 1e-4), p, X, z, order, start, y, w, off, Xzi, zoff,
    ...                      np.zeros(9), 1e-4)
    >>> H.shape, bool(np.all(np.linalg.eigvalsh(H) > 0))
    ((7, 7), True)
    """
    n = x.shape[0]
    H = np.empty((n, n))
    xt = x.copy()
    gp = np.empty(n)
    gm = np.empty(n)
    ut = np.empty(u.shape[0])
    for i in range(n):
        xt[i] = x[i] + steps[i]
        ut[:] = u
        fp = laplace_one_term(kind, xt, p, X, z, order, start, y, w, offset, Xzi, zoff, ut, h, gp)
        xt[i] = x[i] - steps[i]
        ut[:] = u
        fm = laplace_one_term(kind, xt, p, X, z, order, start, y, w, offset, Xzi, zoff, ut, h, gm)
        xt[i] = x[i]
        for j in range(n):
            H[i, j] = (gp[j] - gm[j]) / (2.0 * steps[i]) if (math.isfinite(fp) and math.isfinite(fm)) else math.nan
    for i in range(n):
        for j in range(i):
            a = 0.5 * (H[i, j] + H[j, i])
            H[i, j] = a
            H[j, i] = a
    return H


try:  # numba is a dependency; a broken install falls back to numpy
    import numba

    _tail_parts = numba.njit(cache=True, nogil=True)(_tail_parts)
    _row_parts = numba.njit(cache=True, nogil=True)(_row_parts)
    _row_parts_curv = numba.njit(cache=True, nogil=True)(_row_parts_curv)
    _log_expit = numba.njit(cache=True, nogil=True)(_log_expit)
    _nb2_constant = numba.njit(cache=True, nogil=True)(_nb2_constant)
    _row = numba.njit(cache=True, nogil=True)(_row)
    _fisher = numba.njit(cache=True, nogil=True)(_fisher)
    _group_objective = numba.njit(cache=True, nogil=True)(_group_objective)
    _mode = numba.njit(cache=True, nogil=True)(_mode)
    parts_loop = numba.njit(cache=True, nogil=True)(parts_loop)
    laplace_one_term = numba.njit(cache=True, nogil=True)(laplace_one_term)
    bfgs_one_term = numba.njit(cache=True, nogil=True)(bfgs_one_term)
    hessian_one_term = numba.njit(cache=True, nogil=True)(hessian_one_term)
except Exception:  # pragma: no cover - exercised only without numba
    parts_loop = None
    laplace_one_term = None
    bfgs_one_term = None
    hessian_one_term = None


def one_term_kind(fam) -> int | None:
    """The code of ``fam`` in :func:`laplace_one_term`, or None where the kernel has no such family.

    Examples
    --------
    >>> from multilevel.families import family
    >>> one_term_kind(family("cumulative", "probit")), one_term_kind(family("poisson"))
    (1, None)
    """
    if not available():
        return None
    if fam.name == "cumulative":
        return KIND[fam.cdf]
    if getattr(fam, "zero_inflated", False) and fam.link.name == "log":
        return {"poisson": ZIP, "negative_binomial": ZINB2}.get(fam.base.name)
    return None


def available() -> bool:
    """Whether the compiled kernels run (numba imports).

    Examples
    --------
    >>> available()
    True
    """
    return parts_loop is not None
