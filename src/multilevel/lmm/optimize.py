"""Bounded derivative-free minimisation of the profiled criterion over theta."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import nlopt
import numpy as np

from ..arguments import as_choice, short_repr

__all__ = ["OptSummary", "minimize_theta", "best_of_restarts"]

_RESULT = {
    nlopt.SUCCESS: "success",
    nlopt.STOPVAL_REACHED: "stopval reached",
    nlopt.FTOL_REACHED: "ftol reached",
    nlopt.XTOL_REACHED: "xtol reached",
    nlopt.MAXEVAL_REACHED: "maximum evaluations reached",
    nlopt.MAXTIME_REACHED: "maximum time reached",
}


@dataclass(frozen=True)
class OptSummary:
    """What the optimizer was asked and what it returned.

    Attributes
    ----------
    optimizer : str
    x0, lower : ndarray
        Start values and lower bounds of theta.
    xopt : ndarray
    fopt : float
    feval : int
        Number of objective evaluations.
    result : str
        The optimizer's stop reason.
    xtol_abs, ftol_abs : float
    seconds : float

    Examples
    --------
    >>> s = minimize_theta(lambda x: (x[0] - 2) ** 2 + 1, [1.0], [0.0])
    >>> s.optimizer, s.x0.tolist(), s.lower.tolist(), round(float(s.xopt[0]), 4), s.converged
    ('bobyqa', [1.0], [0.0], 2.0, True)
    """

    optimizer: str
    x0: np.ndarray
    lower: np.ndarray
    xopt: np.ndarray
    fopt: float
    feval: int
    result: str
    xtol_abs: float
    ftol_abs: float
    seconds: float

    @property
    def converged(self) -> bool:
        """False when the optimizer stopped on its evaluation or time budget.

        Examples
        --------
        >>> f = lambda x: (x[0] - 2) ** 2
        >>> minimize_theta(f, [1.0], [0.0]).converged
        True
        >>> s = minimize_theta(f, [1.0], [0.0], maxeval=3)
        >>> s.result, s.converged
        ('maximum evaluations reached', False)
        """
        return self.result not in ("maximum evaluations reached", "maximum time reached")


def minimize_theta(fun, x0, lower, optimizer: str = "bobyqa", xtol_abs: float = 1e-8,
                   ftol_abs: float = 1e-10, maxeval: int = 100_000, initial_step=None) -> OptSummary:
    """Minimise ``fun`` over theta within its lower bounds.

    Parameters
    ----------
    fun : callable
        ``theta -> float``; may return ``inf`` where undefined.
    x0, lower : array-like
    optimizer : {"bobyqa", "cobyqa", "nelder-mead"}
        BOBYQA (NLopt, the default of lme4's ``lmer``), scipy's COBYQA, or
        NLopt's bounded Nelder-Mead.
    xtol_abs, ftol_abs : float
        Stop when the trust region (or step) is below ``xtol_abs`` or an
        iteration improves the criterion by less than ``ftol_abs``. lme4 uses
        1e-8 for both; the tighter ``ftol_abs`` costs about 10% more
        evaluations and brings theta within about 1e-6 of the optimum on the
        reference models (1e-8 leaves up to 4e-5).
    initial_step : array-like, optional
        BOBYQA/Nelder-Mead's first step per coordinate; by default a fifth of
        each start value (at most 0.5), or 0.2 for a start near zero.

    Examples
    --------
    >>> s = minimize_theta(lambda x: (x[0] - 2) ** 2 + 1, [1.0], [0.0])
    >>> round(float(s.xopt[0]), 4), s.fopt
    (2.0, 1.0)
    """
    as_choice(optimizer, "optimizer", ("bobyqa", "cobyqa", "nelder-mead"))
    x0 = np.asarray(x0, dtype=float)
    lower = np.asarray(lower, dtype=float)
    n = x0.size
    count = [0]
    t0 = time.perf_counter()
    if optimizer == "cobyqa":
        from scipy.optimize import Bounds, minimize

        def f(x):
            count[0] += 1
            return fun(x)

        res = minimize(f, x0, method="COBYQA", bounds=Bounds(lower, np.full(n, np.inf)),
                       options={"maxfev": maxeval, "f_target": -np.inf, "final_tr_radius": 1e-8})
        return OptSummary("cobyqa", x0, lower, np.asarray(res.x), float(res.fun), count[0],
                          "success" if res.success else str(res.message), xtol_abs, ftol_abs,
                          time.perf_counter() - t0)
    algos = {"bobyqa": nlopt.LN_BOBYQA, "nelder-mead": nlopt.LN_NELDERMEAD}
    if optimizer not in algos:
        raise ValueError(
            f"unknown optimizer {short_repr(optimizer)}; choose 'bobyqa', 'cobyqa' or 'nelder-mead'"
        )

    opt = nlopt.opt(algos[optimizer], n)
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(np.full(n, np.inf))
    opt.set_xtol_abs(xtol_abs)
    opt.set_ftol_abs(ftol_abs)
    opt.set_maxeval(maxeval)
    start = x0.copy()
    # a fifth of each start value (at most 0.5); a start at or near zero (lme4's
    # zero off-diagonals, or a refit of a singular fit) gets 0.2 so that it moves
    step = np.where(np.abs(start) < 0.01, 0.2, np.minimum(0.2 * np.abs(start), 0.5))
    if initial_step is not None:
        step = np.asarray(initial_step, dtype=float)
    opt.set_initial_step(step)
    best = [np.inf, start.copy()]
    isfinite = math.isfinite

    def tracked(x, grad):
        # one Python frame per evaluation: small fits make some 50 of them
        count[0] += 1
        v = float(fun(x))
        if not isfinite(v):
            return 1e300
        if v < best[0]:
            best[0], best[1] = v, x.copy()
        return v

    opt.set_min_objective(tracked)
    try:
        xopt = opt.optimize(start)
        fopt = float(opt.last_optimum_value())
        code = opt.last_optimize_result()
        result = _RESULT.get(code, f"nlopt code {code}")
    except nlopt.RoundoffLimited:
        # the best point seen is still a valid (if less precise) optimum
        xopt, fopt = best[1], float(best[0])
        result = "roundoff limited"
    xopt = np.asarray(xopt)
    return OptSummary(optimizer, x0, lower, xopt, fopt, count[0], result, xtol_abs, ftol_abs,
                      time.perf_counter() - t0)


def best_of_restarts(fun, opt: OptSummary, starts, lower, optimizer: str = "bobyqa",
                     initial_step=None, **tolerances) -> OptSummary:
    """``opt``, or the lowest of further searches from ``starts`` where one ends
    lower (by more than 1e-8 relative); the evaluations of all are counted.

    Parameters
    ----------
    fun : callable
        The criterion that ``opt`` minimised.
    opt : OptSummary
        The search so far.
    starts : list of ndarray
        Where to search again (:meth:`multilevel.linalg.ThetaLayout.restarts`).
    lower : array-like
    optimizer : str, default "bobyqa"
        A derivative-free method of :func:`minimize_theta` ("quasi-newton", which
        has no such search, means BOBYQA).
    initial_step : array-like, optional
    **tolerances
        ``xtol_abs`` / ``ftol_abs`` of :func:`minimize_theta` (the search's own, looser ones
        for a first stage).

    Returns
    -------
    OptSummary
        With ``opt``'s start.

    Examples
    --------
    >>> f = lambda x: min((x[0] - 1) ** 2 + 1, (x[0] - 4) ** 2)  # two minima
    >>> first = minimize_theta(f, [0.5], [0.0])
    >>> round(first.fopt, 6), round(best_of_restarts(f, first, [np.array([5.0])], [0.0]).fopt, 6)
    (1.0, 0.0)
    """
    optimizer = optimizer if optimizer in ("bobyqa", "cobyqa", "nelder-mead") else "bobyqa"
    best = opt
    feval, seconds = opt.feval, opt.seconds
    for x in starts:
        other = minimize_theta(fun, x, lower, optimizer=optimizer, initial_step=initial_step, **tolerances)
        feval, seconds = feval + other.feval, seconds + other.seconds
        if other.fopt < best.fopt - 1e-8 * max(1.0, abs(best.fopt)):
            best = other
    return replace(best, x0=opt.x0, feval=feval, seconds=seconds)
