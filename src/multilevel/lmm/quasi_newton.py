"""Compiled quasi-Newton minimisation of a criterion whose exact gradient is known.

lme4 minimises the profiled criterion with BOBYQA, which needs no derivatives:
some 45 evaluations on sleepstudy, each a call from NLopt back into Python
(about 10 us of overhead against 1.5 us for the compiled criterion itself).
Where the criterion's gradient is compiled too (a model with one random-effects
term, :func:`multilevel.linalg.kernels._criterion_gradient`), BFGS with that
gradient reaches a tighter optimum in about 14 evaluations, all inside one
compiled call.

It handles interior optima only: when an iterate heads for a bound (a variance
going to zero) or the iteration fails, the caller falls back to BOBYQA from the
same start, so boundary (singular) fits are found exactly as before.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..linalg import kernels
from .optimize import OptSummary

__all__ = ["minimize_with_gradient", "CONVERGED", "AT_BOUND", "FAILED", "GTOL"]

_fg = None  # the criterion-and-gradient kernel that _bfgs calls

CONVERGED, AT_BOUND, FAILED = 0, 1, 2
# stop when every |gradient| is below GTOL * max(1, |criterion|): on the
# deviance scale of sleepstudy (367) a gradient of 4e-7, a thousandth of
# lme4's convergence check, and theta within about 1e-9 of the optimum
GTOL = 1e-9
_MAXIT = 200


def _bfgs(x0, lower, args, maxit, gtol):  # pragma: no cover - compiled
    """BFGS with an Armijo backtracking line search that keeps every iterate
    inside the bounds. ``__fg(x, g, *args)`` returns the criterion and writes its
    gradient into ``g``. Returns ``(x, f, g, evaluations, status)``."""
    n = x0.size
    x = x0.copy()
    g = np.empty(n)
    f = _fg(x, g, *args)
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
            ft = _fg(xt, gt, *args)
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


_compiled: dict = {}


def _compiled_bfgs():
    """``_bfgs`` compiled with ``_fg`` bound to the one-term gradient kernel (a
    global when it is compiled, as numba's disk cache needs: a function passed
    as an argument would be compiled again in every process)."""
    global _fg
    if not _compiled:
        with kernels._LOCK:
            if not _compiled:
                _fg = kernels._gradient_kernel_unlocked()
                _compiled["bfgs"] = kernels._jit(_bfgs)
    return _compiled["bfgs"]


def minimize_with_gradient(args: tuple, x0, lower) -> tuple[OptSummary, np.ndarray, int]:
    """Minimise the compiled one-term criterion with its exact gradient by BFGS.

    Parameters
    ----------
    args : tuple
        The fixed arguments of the criterion-and-gradient kernel
        (:meth:`multilevel.lmm.objective.LmmObjective.gradient_arguments`).
    x0, lower : array-like
        Start and lower bounds of theta.

    Returns
    -------
    summary : OptSummary
        ``optimizer`` is ``"quasi-newton"``.
    gradient : ndarray
        The exact gradient at the optimum.
    status : int
        ``CONVERGED``; ``AT_BOUND`` where an iterate reached a bound (the
        optimum may be on the boundary) or ``FAILED``: then the summary is not
        an optimum and the caller uses a derivative-free method instead.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.lmm.objective import LmmObjective
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> obj = LmmObjective.from_design(d)
    >>> s, grad, status = minimize_with_gradient(obj.gradient_arguments(), obj.layout.start,
    ...                                          obj.layout.lower)
    >>> status == CONVERGED, round(s.fopt, 3), s.xopt.round(4).tolist()
    (True, 1743.628, [0.9667, 0.0152, 0.2309])
    """
    x0 = np.ascontiguousarray(x0, dtype=float)
    lower = np.ascontiguousarray(lower, dtype=float)
    t0 = time.perf_counter()
    x, f, g, nfev, status = _compiled_bfgs()(x0, lower, args, _MAXIT, GTOL)
    result = {CONVERGED: "gradient below tolerance", AT_BOUND: "reached a bound",
              FAILED: "no descent"}[int(status)]
    summary = OptSummary("quasi-newton", x0, lower, np.asarray(x), float(f), int(nfev), result,
                         0.0, 0.0, time.perf_counter() - t0)
    return summary, np.asarray(g), int(status)
