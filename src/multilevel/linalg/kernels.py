"""Compiled kernels of the profiled criterion: models with one random-effects
term, and models whose further terms have few random effects; the exact
gradient of the first with the BFGS loop that uses it; glmer's weighted PLS
solve for all-scalar-term designs.

They live in one file because numba's disk cache notices a change only in the
file that defines a function, not in the kernels it calls from another file.

With a single term the blocked factor needs no dense Schur complement of other
random effects: per level ``g`` it is the k x k Cholesky factor of
``T'D_g T + I``, and the fixed-effects part is the (p + 1) x (p + 1) factor
of ``[X y]'[X y] - sum_g W_g W_g'``. On a model of sleepstudy's size each
step is a handful of flops, so numpy's per-call overhead (some 40 array
operations per evaluation) was nearly all of an evaluation's cost; numba
compiles the loop over levels into one call of about a microsecond. The
general path, :func:`multilevel.linalg.factorize`, computes the same numbers
and remains the reference the tests compare this kernel with.

With further terms whose random effects are few (at most ``DENSE_REST``, held
densely: crossed plates and samples, items beside persons) a second kernel
forms the dense Schur complement of those terms and the fixed effects in the
same loop over the first term's levels, and factorises it in place.
"""

from __future__ import annotations

import math
import threading

import numpy as np

__all__ = ["one_term_criterion", "blocked_arguments", "available", "compiled"]

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


def _cholesky(A):  # pragma: no cover - compiled
    """Lower Cholesky factor of the lower triangle of A, in place; False where A
    is not numerically positive definite."""
    N = A.shape[0]
    for a in range(N):
        for b in range(a + 1):
            s = A[a, b]
            for c in range(b):
                s -= A[a, c] * A[b, c]
            if a == b:
                if not s > 0.0:
                    return False
                A[a, a] = math.sqrt(s)
            else:
                A[a, b] = s / A[b, b]
    return True


def _level_factor(T, D0, g, M, L, F):  # pragma: no cover - compiled
    """Level g of the first term: the Cholesky factor L of ``M = T'D_g T + I``
    and ``F = T L^{-T}``, in place; returns ``log det M`` (>= 0), or -1 where
    M is not numerically positive definite."""
    k = T.shape[0]
    for a in range(k):
        for b in range(a + 1):
            s = 0.0
            for c in range(a, k):  # T is lower triangular: T[c, a] = 0 for c < a
                for e in range(b, k):
                    s += T[c, a] * D0[g, c, e] * T[e, b]
            M[a, b] = s
        M[a, a] += 1.0
    for a in range(k):
        for b in range(k):
            L[a, b] = M[a, b] if b <= a else 0.0
    if not _cholesky(L):
        return -1.0
    logdet = 0.0
    for a in range(k):
        logdet += 2.0 * math.log(L[a, a])
    for i in range(k):  # each row f of F solves L f' = T[i, :]'
        for a in range(k):
            s = T[i, a]
            for c in range(a):
                s -= L[a, c] * F[i, c]
            F[i, a] = s / L[a, a]
    return logdet


def _downdate(S, Bx0, g, F, W):  # pragma: no cover - compiled
    """``S -= W W'`` (lower triangle) with ``W = [X y]'Z_g F`` (into W)."""
    m, k = W.shape
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


def _finish(S, q, p, logdet, n, log_weights, reml):  # pragma: no cover - compiled
    """Cholesky factor of the lower triangle of S in place, then the criterion:
    the first q diagonal elements belong to further random effects, the next p
    to the fixed effects, the last one is the root of the PWRSS."""
    N = S.shape[0]
    if not _cholesky(S):
        return math.inf
    logdet_x = 0.0
    for a in range(q + p):
        if a < q:
            logdet += 2.0 * math.log(S[a, a])
        else:
            logdet_x += 2.0 * math.log(S[a, a])
    pwrss = S[N - 1, N - 1] ** 2
    if not pwrss > 0.0:
        return math.inf
    ld = logdet - log_weights
    if reml:
        nmp = n - p
        return ld + logdet_x + nmp * (1.0 + _LOG2PI + math.log(pwrss / nmp))
    return ld + n * (1.0 + _LOG2PI + math.log(pwrss / n))


def _criterion(theta, rows, cols, D0, Bx0, Cxx, n, p, log_weights, reml):  # pragma: no cover
    k = D0.shape[1]
    m = Cxx.shape[0]
    T = np.zeros((k, k))
    for i in range(rows.shape[0]):
        T[rows[i], cols[i]] = theta[i]
    S = Cxx.copy()
    M = np.empty((k, k))
    L = np.empty((k, k))
    F = np.empty((k, k))
    W = np.empty((m, k))
    logdet0 = 0.0
    for g in range(D0.shape[0]):
        ld = _level_factor(T, D0, g, M, L, F)
        if ld < 0.0:
            return math.inf
        logdet0 += ld
        _downdate(S, Bx0, g, F, W)
    return _finish(S, 0, p, logdet0, n, log_weights, reml)


def _blocked_criterion(theta, rows, cols, toff, rest_k, rest_nl, rest_toff, D0, Bx0, Br0, Crr, Crx, Cxx,
                       n, p, log_weights, reml):  # pragma: no cover - compiled
    """The same criterion with further terms whose random effects (few) are held
    densely: ``Br0`` is ``Z_rest'Z0`` as a dense (q_rest, q0) array."""
    k0 = D0.shape[1]
    n0 = D0.shape[0]
    m = Cxx.shape[0]
    qr = Crr.shape[0]
    T0 = np.zeros((k0, k0))
    for i in range(toff[1] - toff[0]):
        T0[rows[toff[0] + i], cols[toff[0] + i]] = theta[toff[0] + i]
    # Lambda_rest' (block diagonal: T_j' per level of each further term)
    Lt = np.zeros((qr, qr))
    start = 0
    for j in range(rest_k.shape[0]):
        k = rest_k[j]
        Tj = np.zeros((k, k))
        for i in range(toff[j + 2] - toff[j + 1]):
            Tj[rows[toff[j + 1] + i], cols[toff[j + 1] + i]] = theta[rest_toff[j] + i]
        for lev in range(rest_nl[j]):
            base = start + lev * k
            for a in range(k):
                for b in range(k):
                    Lt[base + a, base + b] = Tj[b, a]
        start += rest_nl[j] * k
    S = np.zeros((qr + m, qr + m))
    R = Crr.copy()
    Rx = Crx.copy()
    Sxx = Cxx.copy()
    M = np.empty((k0, k0))
    L = np.empty((k0, k0))
    F = np.empty((k0, k0))
    G = np.empty((k0, k0))
    W = np.empty((m, k0))
    BG = np.empty((qr, k0))
    logdet0 = 0.0
    for g in range(n0):
        ld = _level_factor(T0, D0, g, M, L, F)
        if ld < 0.0:
            return math.inf
        logdet0 += ld
        _downdate(Sxx, Bx0, g, F, W)
        # G = F F' (the level's M of the rest's Schur complement); BG = B_g G
        for a in range(k0):
            for b in range(k0):
                s = 0.0
                for c in range(k0):
                    s += F[a, c] * F[b, c]
                G[a, b] = s
        any_nz = False
        for r in range(qr):
            for a in range(k0):
                s = 0.0
                for c in range(k0):
                    s += Br0[r, g * k0 + c] * G[c, a]
                BG[r, a] = s
                if s != 0.0:
                    any_nz = True
        if not any_nz:
            continue
        for r in range(qr):
            for c in range(r + 1):
                s = 0.0
                for a in range(k0):
                    s += BG[r, a] * Br0[c, g * k0 + a]
                R[r, c] -= s
            for x in range(m):
                s = 0.0
                for a in range(k0):
                    s += BG[r, a] * Bx0[x, g, a]
                Rx[r, x] -= s
    for r in range(qr):  # symmetrise the lower triangle of R
        for c in range(r):
            R[c, r] = R[r, c]
    # S_rr = Lt R Lt' + I; S_xr = (Lt Rx)'; S_xx
    for r in range(qr):
        for c in range(r + 1):
            s = 0.0
            for a in range(qr):
                if Lt[r, a] == 0.0:
                    continue
                for b in range(qr):
                    s += Lt[r, a] * R[a, b] * Lt[c, b]
            S[r, c] = s
        S[r, r] += 1.0
        for x in range(m):
            s = 0.0
            for a in range(qr):
                s += Lt[r, a] * Rx[a, x]
            S[qr + x, r] = s
    for r in range(m):
        for c in range(r + 1):
            S[qr + r, qr + c] = Sxx[r, c]
    return _finish(S, qr, p, logdet0, n, log_weights, reml)


def _criterion_gradient(theta, grad, rows, cols, D0, Bx0, Cxx, n, p, log_weights,
                        reml):  # pragma: no cover - compiled
    """The one-term criterion and, into ``grad``, its exact gradient in theta.

    With ``M_g = T'D_g T + I = L_g L_g'``, ``A_g = M_g^{-1} T'`` and ``E_j`` the
    derivative of ``T`` in theta_j (a one at ``(r_j, c_j)``):

    - ``d log|M| = sum_g 2 (A_g D_g)[c_j, r_j]``;
    - ``d pwrss = -2 sum_g v_g[r_j] u_g[c_j]`` (the penalised least-squares
      solution is a minimum, so only T moves), with ``u_g = A_g Z_g'(y - X beta)``
      the spherical random effects and ``v_g = Z_g'(y - X beta - Z_g T u_g)``;
    - REML's ``d log|R_X'R_X| = -sum_g 2 (A_g G_g (I - T A_g D_g))[c_j, r_j]``
      with ``G_g = X'Z_g`` of ``S_xx^{-1}``: ``Z_g'X S_xx^{-1} X'Z_g``.

    Every term is a per-level k x k product, so the gradient costs about one
    more evaluation.
    """
    k = D0.shape[1]
    m = Cxx.shape[0]
    n0 = D0.shape[0]
    nt = theta.shape[0]
    T = np.zeros((k, k))
    for i in range(nt):
        T[rows[i], cols[i]] = theta[i]
    S = Cxx.copy()
    M = np.empty((k, k))
    L = np.empty((k, k))
    F = np.empty((k, k))
    W = np.empty((m, k))
    Ls = np.empty((n0, k, k))  # each level's factor, kept for the gradient
    Fs = np.empty((n0, k, k))
    logdet0 = 0.0
    for g in range(n0):
        ld = _level_factor(T, D0, g, M, L, F)
        if ld < 0.0:
            return math.inf
        logdet0 += ld
        Ls[g] = L
        Fs[g] = F
        _downdate(S, Bx0, g, F, W)
    f = _finish(S, 0, p, logdet0, n, log_weights, reml)
    if not math.isfinite(f):
        return f
    pwrss = S[m - 1, m - 1] ** 2
    dof = n - p if reml else n
    # beta solves Rxx' beta = r_y (the y row of S's lower factor)
    Rxx = S[:p, :p]
    beta = S[m - 1, :p].copy()
    _backward(Rxx, beta)
    Sinv = np.zeros((p, p))  # Sxx^{-1} = Rxx^{-T} Rxx^{-1} (REML only), column by column
    if reml:
        col = np.empty(p)
        for a in range(p):
            col[:] = 0.0
            col[a] = 1.0
            _forward(Rxx, col)
            _backward(Rxx, col)
            Sinv[:, a] = col
    for i in range(nt):
        grad[i] = 0.0
    A = np.empty((k, k))  # M_g^{-1} T' = L_g^{-T} F_g'
    AD = np.empty((k, k))
    cg = np.empty(k)
    u = np.empty(k)
    v = np.empty(k)
    Tu = np.empty(k)
    SQ = np.empty((p, k))
    G = np.empty((k, k))
    AG = np.empty((k, k))
    P = np.empty((k, k))
    dpw = np.zeros(nt)
    for g in range(n0):
        L = Ls[g]
        F = Fs[g]
        for j in range(k):  # column j of A solves L' a = F[j, :]'
            for a in range(k - 1, -1, -1):
                s = F[j, a]
                for c in range(a + 1, k):
                    s -= L[c, a] * A[c, j]
                A[a, j] = s / L[a, a]
        for a in range(k):
            for b in range(k):
                s = 0.0
                for c in range(k):
                    s += A[a, c] * D0[g, c, b]
                AD[a, b] = s
        for i in range(nt):  # log|M|
            grad[i] += 2.0 * AD[cols[i], rows[i]]
        # c_g = Z_g'(y - X beta), u = A c_g, v = c_g - D_g T u
        for a in range(k):
            s = Bx0[m - 1, g, a]
            for j in range(p):
                s -= beta[j] * Bx0[j, g, a]
            cg[a] = s
        for a in range(k):
            s = 0.0
            for c in range(k):
                s += A[a, c] * cg[c]
            u[a] = s
        for a in range(k):
            s = 0.0
            for c in range(k):
                s += T[a, c] * u[c]
            Tu[a] = s
        for a in range(k):
            s = cg[a]
            for c in range(k):
                s -= D0[g, a, c] * Tu[c]
            v[a] = s
        for i in range(nt):  # pwrss
            dpw[i] -= 2.0 * v[rows[i]] * u[cols[i]]
        if not reml:
            continue
        # REML's log|R_X'R_X|: G = Q' S_xx^{-1} Q with Q = X'Z_g, P = I - T A D
        for x in range(p):
            for b in range(k):
                s = 0.0
                for y in range(p):
                    s += Sinv[x, y] * Bx0[y, g, b]
                SQ[x, b] = s
        for a in range(k):
            for b in range(k):
                s = 0.0
                for x in range(p):
                    s += Bx0[x, g, a] * SQ[x, b]
                G[a, b] = s
        for a in range(k):
            for b in range(k):
                s = 0.0
                t = 0.0
                for c in range(k):
                    s += A[a, c] * G[c, b]
                    t += T[a, c] * AD[c, b]
                AG[a, b] = s
                P[a, b] = (1.0 if a == b else 0.0) - t
        for i in range(nt):
            s = 0.0
            for c in range(k):
                s += AG[cols[i], c] * P[c, rows[i]]
            grad[i] -= 2.0 * s
    for i in range(nt):
        grad[i] += dof * dpw[i] / pwrss
    return f


def _bfgs_one_term(x0, lower, args, maxit, gtol):  # pragma: no cover - compiled
    """BFGS with an Armijo backtracking line search that keeps every iterate
    inside the bounds. ``__criterion_gradient(x, g, *args)`` returns the criterion and writes its
    gradient into ``g``. Returns ``(x, f, g, evaluations, status)``."""
    n = x0.size
    x = x0.copy()
    g = np.empty(n)
    f = _criterion_gradient(x, g, *args)
    nfev = 1
    if not math.isfinite(f):
        return x, f, g, nfev, 2
    H = np.eye(n)  # inverse Hessian approximation
    first = True
    stall = 0
    d = np.empty(n)
    xt = np.empty(n)
    gt = np.empty(n)
    s = np.empty(n)
    y = np.empty(n)
    Hy = np.empty(n)
    for _ in range(maxit):
        gmax = 0.0
        for i in range(n):
            gmax = max(gmax, abs(g[i]))
        scale = max(1.0, abs(f))
        if gmax <= gtol * scale:
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
        if first:  # a first step of at most 0.5 in any theta (of order one)
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
            ft = _criterion_gradient(xt, gt, *args)
            nfev += 1
            if math.isfinite(ft) and ft <= f + 1e-4 * alpha * slope:
                ok = True
                break
            alpha *= 0.5
        if not ok:  # no decrease left: at the optimum to rounding, or lost
            return x, f, g, nfev, 0 if gmax <= 1e3 * gtol * scale else 2
        sy = 0.0
        yy = 0.0
        for i in range(n):
            s[i] = xt[i] - x[i]
            y[i] = gt[i] - g[i]
            sy += s[i] * y[i]
            yy += y[i] * y[i]
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
                    acc += H[i, j] * y[j]
                Hy[i] = acc
                yHy += y[i] * acc
            rho = 1.0 / sy
            for i in range(n):
                for j in range(n):
                    H[i, j] += rho * ((1.0 + rho * yHy) * s[i] * s[j] - Hy[i] * s[j] - s[i] * Hy[j])
        stall = stall + 1 if f - ft <= 1e-14 * scale else 0
        x[:] = xt
        g[:] = gt
        f = ft
        if stall >= 3:  # no progress left at this precision
            return x, f, g, nfev, 0 if gmax <= 1e3 * gtol * scale else 2
        if alpha == amax and amax < 1.0:
            for i in range(n):  # pressed against a bound: a variance heading for zero
                if math.isfinite(lower[i]) and x[i] - lower[i] < 1e-6:
                    return x, f, g, nfev, 1
    return x, f, g, nfev, 2


def _scalar_pls_solve(theta, z, w, z0, c0, q0, ZR, CR, ENT, rest_term, e_row, e_col, row_start, X,
                  p, dense, logdet_only, Sxx, rx, u, beta):  # pragma: no cover - compiled
    """The whole weighted PLS solve in one compiled pass (see :meth:`multilevel.glmm.scalar.ScalarTerms.solve`):
    accumulate the weighted counts over the observations, scale by Lambda,
    eliminate the first term's diagonal block, factorise the small Schur
    complements. ``Sxx`` and ``rx`` hold ``X'WX`` and ``X'Wz`` (from BLAS; their
    lower triangle is overwritten). Writes ``u`` (and ``beta`` when ``p``); returns the log
    determinant (>= 0), or -1 where the weights are not finite and -2 where a
    block is not positive definite."""
    n = z.shape[0]
    R = ZR.shape[0]
    qrt = rest_term.shape[0]
    nnz = e_row.shape[0]
    l0 = theta[0]
    d0 = np.zeros(q0)
    s0 = np.zeros(q0)
    v = np.zeros(nnz)
    Srr = np.zeros((qrt, qrt))
    rr = np.zeros(qrt)
    Cx = np.zeros((q0, p))
    Srx = np.zeros((qrt, p))
    for i in range(n):
        wi = w[i]
        zi = z[i]
        g = c0[i]
        wa = wi * z0[i]
        d0[g] += wa * z0[i]
        s0[g] += wa * zi
        for t in range(R):
            j = CR[t, i]
            wzt = wi * ZR[t, i]
            v[ENT[t, i]] += wa * ZR[t, i]
            Srr[j, j] += wzt * ZR[t, i]
            rr[j] += wzt * zi
            for s in range(t + 1, R):
                Srr[CR[s, i], j] += wzt * ZR[s, i]  # lower triangle: later terms' rows
        for a in range(p):
            wxa = wi * X[i, a]
            Cx[g, a] += wa * X[i, a]
            for t in range(R):
                Srx[CR[t, i], a] += wxa * ZR[t, i]
    # scale by Lambda and eliminate the first term's (diagonal) block
    lr = np.empty(qrt)
    for j in range(qrt):
        lr[j] = theta[1 + rest_term[j]]
    inv0 = np.empty(q0)
    b0 = np.empty(q0)
    logdet = 0.0
    for g in range(q0):
        A0 = l0 * l0 * d0[g] + 1.0
        inv0[g] = 1.0 / A0
        b0[g] = l0 * s0[g]
        logdet += math.log(A0)
    if not math.isfinite(logdet):
        return -1.0
    vi = np.empty(nnz)
    for e in range(nnz):
        v[e] *= l0 * lr[e_col[e]]
        vi[e] = v[e] * inv0[e_row[e]]
    for a in range(qrt):
        for b in range(a + 1):
            Srr[a, b] *= lr[a] * lr[b]
        Srr[a, a] += 1.0
        rr[a] *= lr[a]
    if dense:  # every pair of levels occurs: the coupling is a full q0 x qrt block
        Cs = np.empty((q0, qrt))
        for g in range(q0):
            sq = math.sqrt(inv0[g])
            for j in range(qrt):
                Cs[g, j] = v[g * qrt + j] * sq
        CtC = np.dot(Cs.T, Cs)
        for a in range(qrt):
            for b in range(a + 1):
                Srr[a, b] -= CtC[a, b]
    else:
        for g in range(q0):
            for ea in range(row_start[g], row_start[g + 1]):
                ca = e_col[ea]
                for eb in range(row_start[g], ea + 1):
                    cb = e_col[eb]
                    if ca >= cb:
                        Srr[ca, cb] -= vi[ea] * v[eb]
                    else:
                        Srr[cb, ca] -= vi[ea] * v[eb]
    for e in range(nnz):
        rr[e_col[e]] -= vi[e] * b0[e_row[e]]
    if qrt:
        if not _cholesky(Srr):
            return -2.0
        for a in range(qrt):
            logdet += 2.0 * math.log(Srr[a, a])
    if logdet_only:
        return logdet
    # rr <- Lr^{-1} rr
    _forward(Srr, rr)
    if p:
        for a in range(p):
            for g in range(q0):
                Cx[g, a] *= l0
            for j in range(qrt):
                Srx[j, a] *= lr[j]
        for a in range(p):
            for b in range(a + 1):
                acc = 0.0
                for g in range(q0):
                    acc += Cx[g, a] * Cx[g, b] * inv0[g]
                Sxx[a, b] -= acc
            acc = 0.0
            for g in range(q0):
                acc += Cx[g, a] * inv0[g] * b0[g]
            rx[a] -= acc
        for e in range(nnz):
            for a in range(p):
                Srx[e_col[e], a] -= vi[e] * Cx[e_row[e], a]
        # H = Lr^{-1} Srx; Sxx -= H'H; rx -= H' (Lr^{-1} rr)
        for a in range(p):
            col = Srx[:, a].copy()
            _forward(Srr, col)
            Srx[:, a] = col
        for a in range(p):
            for b in range(a + 1):
                acc = 0.0
                for j in range(qrt):
                    acc += Srx[j, a] * Srx[j, b]
                Sxx[a, b] -= acc
            acc = 0.0
            for j in range(qrt):
                acc += Srx[j, a] * rr[j]
            rx[a] -= acc
        if not _cholesky(Sxx):
            return -2.0
        _forward(Sxx, rx)
        _backward(Sxx, rx)
        for a in range(p):
            beta[a] = rx[a]
        for j in range(qrt):  # Lr^{-1}(rr - Srx beta) with Srx already Lr^{-1} Srx
            acc = 0.0
            for a in range(p):
                acc += Srx[j, a] * beta[a]
            rr[j] -= acc
    _backward(Srr, rr)  # ur
    for g in range(q0):
        acc = b0[g]
        for a in range(p):
            acc -= Cx[g, a] * beta[a]
        u[g] = acc
    for e in range(nnz):
        u[e_row[e]] -= v[e] * rr[e_col[e]]
    for g in range(q0):
        u[g] *= inv0[g]
    for j in range(qrt):
        u[q0 + j] = rr[j]
    return logdet


def _pls_block(T, D0, g, M):  # pragma: no cover - compiled
    """Level g's Cholesky factor of ``T' D_g T + I`` into the lower triangle of ``M`` (``D0``
    holds each level's lower triangle; T is lower triangular); returns its log-determinant, or
    nan where it is not numerically positive definite (weights of either sign)."""
    k = T.shape[0]
    for a in range(k):
        for b in range(a + 1):
            s = 0.0
            for c in range(a, k):  # T[c, a] = 0 for c < a
                for e in range(b, k):
                    s += T[c, a] * (D0[g, c, e] if e <= c else D0[g, e, c]) * T[e, b]
            M[a, b] = s
        M[a, a] += 1.0
    if not _cholesky(M):
        return math.nan
    logdet = 0.0
    for a in range(k):
        logdet += 2.0 * math.log(M[a, a])
    return logdet


def _one_term_pls(T, codes, Z, X, w, z, nl, u, beta):  # pragma: no cover - compiled
    """glmer's weighted PLS solve with one random-effects term, for beta and u together (the
    nAGQ = 0 stage; with ``X`` of no columns, beta held fixed: the Laplace stage, whose ``z``
    has ``X beta`` taken off): per level the factor ``L_g`` of ``T'Z_g'WZ_g T + I``, then the fixed
    effects from the Schur complement ``X'WX - sum_g W_g'W_g`` (``W_g = L_g^-1 T'Z_g'WX_g``),
    then each ``u_g``; into ``u`` and ``beta``. Returns ``sum_g log det(L_g L_g')``, or nan
    where a block or the Schur complement is not numerically positive definite."""
    n, k = Z.shape
    p = X.shape[1]
    D0 = np.zeros((nl, k, k))
    B = np.zeros((nl, k, p))
    r = np.zeros((nl, k))
    S = np.zeros((p, p))
    s = np.zeros(p)
    for i in range(n):
        g = codes[i]
        wi = w[i]
        zi = z[i]
        for a in range(k):
            za = Z[i, a] * wi
            r[g, a] += za * zi
            for b in range(a + 1):
                D0[g, a, b] += za * Z[i, b]
            for j in range(p):
                B[g, a, j] += za * X[i, j]
        for j in range(p):
            xj = X[i, j] * wi
            s[j] += xj * zi
            for m in range(j + 1):
                S[j, m] += xj * X[i, m]
    Ls = np.empty((nl, k, k))
    H = np.empty((nl, k))      # L_g^-1 T' r_g
    W = np.empty((nl, k, p))   # L_g^-1 T' B_g
    v = np.empty(k)
    logdet = 0.0
    for g in range(nl):
        M = Ls[g]
        ld = _pls_block(T, D0, g, M)
        if ld != ld:
            return math.nan
        logdet += ld
        for a in range(k):
            t = 0.0
            for c in range(a, k):
                t += T[c, a] * r[g, c]
            v[a] = t
        _forward(M, v)
        for a in range(k):
            H[g, a] = v[a]
        for j in range(p):
            for a in range(k):
                t = 0.0
                for c in range(a, k):
                    t += T[c, a] * B[g, c, j]
                v[a] = t
            _forward(M, v)
            for a in range(k):
                W[g, a, j] = v[a]
        for j in range(p):
            for m in range(j + 1):
                t = 0.0
                for a in range(k):
                    t += W[g, a, j] * W[g, a, m]
                S[j, m] -= t
            t = 0.0
            for a in range(k):
                t += W[g, a, j] * H[g, a]
            s[j] -= t
    if p > 0:
        if not _cholesky(S):
            return math.nan
        for j in range(p):
            beta[j] = s[j]
        _forward(S, beta)
        _backward(S, beta)
    for g in range(nl):
        for a in range(k):
            t = H[g, a]
            for j in range(p):
                t -= W[g, a, j] * beta[j]
            v[a] = t
        _backward(Ls[g], v)
        for a in range(k):
            u[g * k + a] = v[a]
    return logdet


def _one_term_zu(T, codes, Z, u):  # pragma: no cover - compiled
    """``Z Lambda u`` of one random-effects term: row i's ``Z_i . (T u_g)``."""
    n, k = Z.shape
    nl = u.shape[0] // k
    b = np.empty((nl, k))
    for g in range(nl):
        for a in range(k):
            t = 0.0
            for c in range(k):
                t += T[a, c] * u[g * k + c]
            b[g, a] = t
    out = np.empty(n)
    for i in range(n):
        g = codes[i]
        t = 0.0
        for a in range(k):
            t += Z[i, a] * b[g, a]
        out[i] = t
    return out


_EPS = 2.220446049250313e-16  # (numpy's float eps: the families clip means there)


def _canonical_mean(kind, eta):  # pragma: no cover - compiled
    """The mean of a canonical binomial (logit; kinds 0, 1) or Poisson (log; kind 2) linear
    predictor, clipped as the families clip it."""
    if kind == 2:
        return max(math.exp(min(eta, 700.0)), _EPS)
    if eta >= 0.0:
        m = 1.0 / (1.0 + math.exp(-eta))
    else:
        e = math.exp(eta)
        m = e / (1.0 + e)
    return min(max(m, _EPS), 1.0 - _EPS)


def _canonical_working(kind, y, pw, mu, w, r):  # pragma: no cover - compiled
    """Fisher scoring's weights (prior weight included) and working residuals at ``mu``; a row
    of prior weight 0 gets 0 for both (it is not data)."""
    for i in range(mu.shape[0]):
        d = mu[i] if kind == 2 else max(mu[i] * (1.0 - mu[i]), _EPS)
        if pw[i] == 0.0:
            w[i] = 0.0
            r[i] = 0.0
        else:
            w[i] = pw[i] * d
            r[i] = (y[i] - mu[i]) / d


def _canonical_deviance(kind, const, a, b, mu):  # pragma: no cover - compiled
    """The families' deviance at ``mu`` from its precomputed parts (families.exponential
    ._Deviance): Bernoulli (a: weights, b: 1 where y = 1), binomial (a: w y, b: w (1 - y)),
    Poisson (a: w y, b: w); inf where it is not a number."""
    t = 0.0
    for i in range(mu.shape[0]):
        if kind == 0:
            t += a[i] * math.log(mu[i] if b[i] != 0.0 else 1.0 - mu[i])
        elif kind == 1:
            t += a[i] * math.log(mu[i]) + b[i] * math.log1p(-mu[i])
        else:
            t += a[i] * math.log(mu[i]) - b[i] * mu[i]
    value = const - 2.0 * t
    return value if value == value and abs(value) < math.inf else math.inf


def _one_term_pirls(T, codes, Z, X, eta0, y, pw, kind, const, a, b, u, beta, eta, start_checked, tol,
                    maxit, mu):  # pragma: no cover - compiled
    """glmer's PIRLS for one random-effects term and a canonical binomial or Poisson family, as
    glmm.pirls._pirls runs it (the same steps, halvings and stop) in one call: at (theta, beta)
    with ``X`` of no columns and ``eta0`` the offset plus X beta (the Laplace stage), or with
    beta estimated too from ``X`` and ``eta0`` the offset (the nAGQ = 0 stage). ``u``, ``beta``
    and ``eta`` hold the start and receive the modes, ``mu`` the means; ``start_checked``: the
    first step is checked against the start's penalised deviance (a warm start). Returns
    (devres, logdet, iterations, converged), with iterations -1 where a level's block or the
    fixed effects' Schur complement was not positive definite (the caller falls back to its
    own loop)."""
    n, k = Z.shape
    p = X.shape[1]
    nl = u.shape[0] // k
    w = np.empty(n)
    r = np.empty(n)
    z = np.empty(n)
    u_new = np.empty(u.shape[0])
    b_new = np.empty(p)
    eta_new = np.empty(n)
    mu_new = np.empty(n)
    for i in range(n):
        mu[i] = _canonical_mean(kind, eta[i])
    _canonical_working(kind, y, pw, mu, w, r)
    pdev_old = math.inf
    if start_checked:
        pdev_old = _canonical_deviance(kind, const, a, b, mu) + np.dot(u, u)
    it = 0
    converged = False
    for it in range(1, maxit + 1):
        for i in range(n):
            z[i] = eta[i] - eta0[i] + r[i]
        ld = _one_term_pls(T, codes, Z, X, w, z, nl, u_new, b_new)
        if ld != ld:
            return math.nan, math.nan, -1, False
        for j in range(p):
            beta[j] = b_new[j]
        zu = _one_term_zu(T, codes, Z, u_new)
        for i in range(n):
            t = eta0[i] + zu[i]
            for j in range(p):
                t += X[i, j] * beta[j]
            eta_new[i] = t
            mu_new[i] = _canonical_mean(kind, eta_new[i])
        pdev = _canonical_deviance(kind, const, a, b, mu_new) + np.dot(u_new, u_new)
        halvings = 0
        while pdev > pdev_old + 1e-10 * abs(pdev_old) and halvings < 10:
            for j in range(u.shape[0]):
                u_new[j] = 0.5 * (u_new[j] + u[j])
            for i in range(n):
                eta_new[i] = 0.5 * (eta_new[i] + eta[i])
                mu_new[i] = _canonical_mean(kind, eta_new[i])
            pdev = _canonical_deviance(kind, const, a, b, mu_new) + np.dot(u_new, u_new)
            halvings += 1
        for j in range(u.shape[0]):
            u[j] = u_new[j]
        for i in range(n):
            eta[i] = eta_new[i]
            mu[i] = mu_new[i]
        _canonical_working(kind, y, pw, mu, w, r)
        if pdev < math.inf and abs(pdev_old - pdev) < tol * (abs(pdev) + 0.1):
            converged = True
            break
        pdev_old = pdev
    for i in range(n):
        z[i] = eta[i] - eta0[i] + r[i]
    logdet = _one_term_pls(T, codes, Z, X, w, z, nl, u_new, b_new)
    if logdet != logdet:
        logdet = math.inf
    devres = _canonical_deviance(kind, const, a, b, mu)
    if devres == math.inf:
        converged = False
    return devres, logdet, it, converged


def _forward(L, b):  # pragma: no cover - compiled
    """b <- L^{-1} b for the lower triangle of L."""
    for a in range(b.shape[0]):
        s = b[a]
        for c in range(a):
            s -= L[a, c] * b[c]
        b[a] = s / L[a, a]


def _backward(L, b):  # pragma: no cover - compiled
    """b <- L'^{-1} b for the lower triangle of L."""
    for a in range(b.shape[0] - 1, -1, -1):
        s = b[a]
        for c in range(a + 1, b.shape[0]):
            s -= L[c, a] * b[c]
        b[a] = s / L[a, a]


def _scalar_pairs(starts, counts, row, vec, stride, data, indices):  # pragma: no cover - compiled
    """The entries of :func:`multilevel.linalg.crossprod.pair_product`'s ``P`` for a
    first term of one column: for each level, every pair ``(a, c)``, ``a >= c``, of
    its rows of ``B``, level by level (the CSC columns), without the index arrays
    of all pairs that numpy would hold at once."""
    out = 0
    for lev in range(starts.size):
        base = starts[lev]
        for a in range(counts[lev]):
            ra = row[base + a] * stride
            va = vec[base + a]
            for c in range(a + 1):
                data[out] = va * vec[base + c]
                indices[out] = ra + row[base + c]
                out += 1
    return out


def _scalar_pairs_product(starts, counts, row, vec, w, stride, out):  # pragma: no cover - compiled
    """``out += P @ w`` for :func:`_scalar_pairs`'s ``P``, without forming it: for each level,
    every pair ``(a, c)``, ``a >= c``, of its rows of ``B`` adds ``w[level] B_a B_c``."""
    for lev in range(starts.size):
        base = starts[lev]
        wl = w[lev]
        for a in range(counts[lev]):
            ra = row[base + a] * stride
            va = vec[base + a] * wl
            for c in range(a + 1):
                out[ra + row[base + c]] += va * vec[base + c]


def _level_quadratic(indptr, indices, data, k0, V, out):  # pragma: no cover - compiled
    """``out[g] += W_g' V W_g`` for each level ``g`` of a first term with ``k0`` columns:
    ``W_g`` is the CSC ``(indptr, indices, data)``'s columns ``g k0 .. g k0 + k0 - 1`` and
    ``V`` symmetric with its lower triangle given. The cost is the pairs of each level's
    rows, not ``V``'s size."""
    for g in range(out.shape[0]):
        for j in range(k0):
            c = g * k0 + j
            for p in range(indptr[c], indptr[c + 1]):
                ra = indices[p]
                wa = data[p]
                for j2 in range(k0):
                    c2 = g * k0 + j2
                    acc = 0.0
                    for p2 in range(indptr[c2], indptr[c2 + 1]):
                        rb = indices[p2]
                        acc += data[p2] * (V[ra, rb] if ra >= rb else V[rb, ra])
                    out[g, j, j2] += wa * acc


_compiled: dict = {}
_LOCK = threading.Lock()


def _jit(func):
    """numba's compiled ``func``, cached on disk where numba finds a writable
    place for it (a read-only install without a writable home has none: then
    compiled in memory only)."""
    try:
        return numba.njit(cache=True, nogil=True)(func)
    except RuntimeError:  # "cannot cache function ...: no locator available"
        return numba.njit(cache=False, nogil=True)(func)


def _compile_all() -> None:
    """Compile the helpers, then the kernels that call them (a kernel looks its
    helpers up as globals when it is compiled)."""
    with _LOCK:
        _compile_all_unlocked()


def _compile_all_unlocked() -> None:
    global _cholesky, _level_factor, _downdate, _finish, _forward, _backward, _criterion_gradient, _pls_block
    global _one_term_pls, _one_term_zu, _canonical_mean, _canonical_working, _canonical_deviance
    if not _compiled:
        _cholesky = _jit(_cholesky)
        _pls_block = _jit(_pls_block)
        _level_factor = _jit(_level_factor)
        _downdate = _jit(_downdate)
        _finish = _jit(_finish)
        _forward = _jit(_forward)
        _backward = _jit(_backward)
        _criterion_gradient = _jit(_criterion_gradient)
        _one_term_pls = _jit(_one_term_pls)
        _one_term_zu = _jit(_one_term_zu)
        _canonical_mean = _jit(_canonical_mean)
        _canonical_working = _jit(_canonical_working)
        _canonical_deviance = _jit(_canonical_deviance)
        kernels = {"one": _jit(_criterion), "blocked": _jit(_blocked_criterion),
                   "one_gradient": _criterion_gradient, "bfgs": _jit(_bfgs_one_term),
                   "scalar_solve": _jit(_scalar_pls_solve), "one_term_pls": _one_term_pls,
                   "one_term_zu": _one_term_zu, "scalar_pairs": _jit(_scalar_pairs),
                   "scalar_pairs_product": _jit(_scalar_pairs_product),
                   "level_quadratic": _jit(_level_quadratic),
                   "one_term_pirls": _jit(_one_term_pirls)}
        _compiled.update(kernels)


def compiled(name: str):
    """The compiled kernel ``name`` (compiling them all on first use): ``"one"``
    and ``"blocked"`` (the criterion), ``"one_gradient"``, ``"bfgs"``,
    ``"scalar_solve"``, ``"one_term_pls"``, ``"one_term_zu"``, ``"scalar_pairs"``,
    ``"scalar_pairs_product"``, ``"level_quadratic"``,
    ``"one_term_pirls"``.

    Examples
    --------
    >>> compiled("one") is compiled("one")
    True
    """
    if not _compiled:
        _compile_all()
    return _compiled[name]


def blocked_arguments(cp, layout, reml: bool) -> tuple | None:
    """The fixed arguments (after theta) of the compiled criterion of ``cp``, or
    None where neither kernel applies (the other terms' random effects are not
    held densely).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.linalg import ThetaLayout, cross_products
    >>> cp = cross_products(build_design("diameter ~ 1 + (1 | plate) + (1 | sample)",
    ...                                  ml.datasets.load("penicillin")))
    >>> args = blocked_arguments(cp, ThetaLayout.from_k(cp.k), True)
    >>> round(compiled("blocked")(np.array([1.5, 3.5]), *args), 3)
    330.884
    """
    if cp.Br0 is None:
        return None
    if cp.Br0_dense is None:
        return None
    i64 = np.int64
    rows = np.concatenate(layout.rows).astype(i64)
    cols = np.concatenate(layout.cols).astype(i64)
    toff = np.asarray(layout.offsets, dtype=i64)
    rest_k = np.asarray(cp.k[1:], dtype=i64)
    rest_nl = np.asarray(cp.nlevels[1:], dtype=i64)
    rest_toff = toff[1:-1].copy()
    f = np.ascontiguousarray
    return (rows, cols, toff, rest_k, rest_nl, rest_toff, f(cp.D0), f(cp.Bx0), f(cp.Br0_dense),
            f(cp.Crr), f(cp.Crx), f(cp.Cxx), int(cp.n), int(cp.p), float(cp.log_weights), bool(reml))


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
    return float(compiled("one")(np.ascontiguousarray(theta, dtype=float), np.asarray(rows, dtype=np.int64),
                           np.asarray(cols, dtype=np.int64), np.ascontiguousarray(D0, dtype=float),
                           np.ascontiguousarray(Bx0, dtype=float), np.ascontiguousarray(Cxx, dtype=float),
                           int(n), int(p), float(log_weights), bool(reml)))
