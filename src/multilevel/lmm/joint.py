"""The search over theta and a residual model's parameters together.

A residual SD model (``dispformula``) or a residual correlation (``residual=``)
adds parameters that the profiled criterion cannot solve for in closed form:
they are searched with theta by BOBYQA (twice: a fresh trust region from
where the first run stopped), and their standard errors come from the
criterion's Hessian, which is twice the inverse covariance of the
parameters (where it is positive definite: else they are not identified).
"""

from __future__ import annotations

import warnings

import numpy as np

from .optimize import minimize_theta

__all__ = ["joint_search", "joint_search_newton", "joint_covariance", "theta_start", "joint_restarts"]


def theta_start(start, inner, layout, st, moments=None) -> np.ndarray:
    """theta's start on the standardised design ``inner`` (its map ``st``): ``start`` as
    ``ml.lmer`` takes it ("moments", "identity" or the user's theta), or a one-line error.
    ``moments``, a function of nothing, gives the moment start where ``inner``'s rows
    do not (from cross-products already formed, or of data in parts).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design, standardize
    >>> from multilevel.linalg import ThetaLayout
    >>> st, inner = standardize(build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy")))
    >>> theta_start("identity", inner, ThetaLayout.from_terms(inner.terms), st).tolist()
    [1.0]
    """
    from ..arguments import short_repr
    from .fit import check_start
    from .start import moment_start

    if start is None or (isinstance(start, str) and start == "moments"):
        return moment_start(inner, layout) if moments is None else moments()
    if isinstance(start, str) and start == "identity":
        return layout.start
    if isinstance(start, str):
        raise ValueError(f"unknown start {short_repr(start)}; use 'moments', 'identity' or an array of theta")
    return st.theta_to_internal(check_start(start, layout.lower))


def joint_search(f, x0, lower, optimizer: str, what: str):
    """The optimum of ``f`` from ``x0`` (bounds ``lower``), warning when the search
    stopped early; ``what`` names the extra parameters in the warning.

    Examples
    --------
    >>> opt = joint_search(lambda x: float((x[0] - 1) ** 2 + (x[1] + 2) ** 2), np.zeros(2),
    ...                    np.array([0.0, -np.inf]), "auto", "rho")
    >>> np.round(opt.xopt, 4).tolist()
    [1.0, -2.0]
    """
    method = "bobyqa" if optimizer in ("auto", "quasi-newton") else optimizer
    return _second_run(f, minimize_theta(f, x0, lower, optimizer=method), lower, method, what)


def _second_run(f, opt, lower, method: str, what: str):
    """BOBYQA again from where ``opt`` stopped, with a fresh trust region (the better of the two
    kept), and a warning where the search stopped early."""
    again = minimize_theta(f, opt.xopt, lower, optimizer=method)
    if again.fopt < opt.fopt:
        opt = again
    if not opt.converged:
        warnings.warn(f"optimizer stopped early ({opt.result}) after {opt.feval} evaluations; theta and {what} "
                      "may not be at the optimum", stacklevel=7)
    return opt


def joint_search_newton(f, x0, lower, optimizer: str, what: str, max_newton: int = 3):
    """:func:`joint_search` with Newton steps in place of BOBYQA's second run: where the first
    run ends inside the bounds at a positive definite Hessian (central differences: ``1 + 2m +
    m(m - 1)`` evaluations, which the standard errors need anyway), up to ``max_newton`` steps
    are taken while each lowers ``f``; otherwise, or where the last step still predicts a
    decrease above 1e-6, the second BOBYQA run follows as before.

    Returns
    -------
    (OptSummary, H or None)
        The optimum, and the Hessian of ``f`` near it (None where BOBYQA finished).

    Examples
    --------
    >>> opt, H = joint_search_newton(lambda x: float((x[0] - 1) ** 2 + 2 * (x[1] + 2) ** 2 + x[0] * x[1]),
    ...                              np.array([0.5, 0.0]), np.array([0.0, -np.inf]), "auto", "rho")
    >>> np.round(opt.xopt, 4).tolist(), np.round(H, 3).tolist()
    ([2.2857, -2.5714], [[2.0, 1.0], [1.0, 4.0]])
    """
    from dataclasses import replace

    from ..inference.derivatives import gradient_hessian

    method = "bobyqa" if optimizer in ("auto", "quasi-newton") else optimizer
    # (a looser stop: the Newton steps finish it, or the second run where they cannot)
    opt = minimize_theta(f, x0, lower, optimizer=method,
                         **({"xtol_abs": 1e-5, "ftol_abs": 1e-7} if method == "bobyqa" else {}))
    x, fx, evals = np.asarray(opt.xopt, dtype=float), float(opt.fopt), 0
    H, done = None, False
    for _ in range(max_newton if method == "bobyqa" else 0):
        if not (np.all(x > lower + 1e-4) and np.isfinite(fx)):
            break
        h = 1e-3 * np.maximum(np.abs(x), 1.0)
        g, H = gradient_hessian(f, x, h)
        evals += 1 + 2 * x.size + x.size * (x.size - 1)
        if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
            H = None
            break
        try:
            w = np.linalg.eigvalsh(H)
            step = np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            H = None
            break
        if not w[0] > 1e-8 * max(1.0, float(np.abs(w).max())):
            H = None
            break
        decrease = 0.5 * float(g @ step)
        xn = x - step
        fn = float(f(xn)) if np.all(xn >= lower) else np.inf
        evals += 1
        if fn <= fx:
            x, fx = xn, fn
        if decrease < 1e-6 or not fn <= fx:
            done = decrease < 1e-6
            break
    if fx < opt.fopt or done:
        opt = replace(opt, xopt=x, fopt=fx, feval=opt.feval + evals)
    if done:
        if not opt.converged:
            warnings.warn(f"optimizer stopped early ({opt.result}) after {opt.feval} evaluations; theta and "
                          f"{what} may not be at the optimum", stacklevel=6)
        return opt, H
    return _second_run(f, opt, lower, method, what), None


def covariance_of_hessian(H, free) -> np.ndarray | None:
    """``2 H^-1`` over the ``free`` parameters, None where that block is not positive definite."""
    try:
        Hf = np.asarray(H, dtype=float)[np.ix_(free, free)]
        if not np.all(np.linalg.eigvalsh(Hf) > 1e-8 * max(1.0, float(np.abs(Hf).max()))):
            return None
        return 2.0 * np.linalg.inv(Hf)
    except (np.linalg.LinAlgError, ValueError):
        return None


def joint_covariance(f, x, free) -> np.ndarray | None:
    """``2 H^-1`` over the ``free`` parameters (a boolean mask: those not on a bound), from
    the Hessian of ``f`` at ``x``; None where it is not positive definite.

    Examples
    --------
    >>> V = joint_covariance(lambda x: float(x[0] ** 2 + 4 * x[1] ** 2), np.zeros(2), np.ones(2, bool))
    >>> np.round(V, 6).tolist()
    [[1.0, 0.0], [0.0, 0.25]]
    """
    from ..inference.derivatives import hessian

    try:
        H = hessian(f, x)[np.ix_(free, free)]
        if not np.all(np.linalg.eigvalsh(H) > 1e-8 * max(1.0, float(np.abs(H).max()))):
            return None
        return 2.0 * np.linalg.inv(H)
    except (np.linalg.LinAlgError, ValueError):
        return None


def joint_restarts(f, opt, H, layout, lower):
    """:func:`joint_search_newton`'s optimum, or a lower one: searched on from just off the
    bound where a variance ended at 0 and the criterion falls there
    (:func:`multilevel.lmm.fit.off_the_boundary`), and from restarts where a structured
    term's SDs ended at 0 (:meth:`multilevel.linalg.ThetaLayout.restarts`, the other
    parameters where the search left them); the Hessian is dropped (None) where another
    optimum is kept, so that the caller's fit searches theta again at those parameters.

    Examples
    --------
    >>> from multilevel.design.structure import structure
    >>> from multilevel.linalg import ThetaLayout
    >>> from multilevel.lmm.optimize import minimize_theta
    >>> lay = ThetaLayout.from_k((2,), (structure("cs", 2),))
    >>> f = lambda x: float((x[0] - 1) ** 2 + x[1] ** 2 + x[2] ** 2)
    >>> opt = minimize_theta(f, np.array([0.5, 0.0, 1.0]), np.r_[lay.lower, -np.inf])
    >>> joint_restarts(f, opt, None, lay, np.r_[lay.lower, -np.inf])[0] is opt  # no SD at 0
    True
    """
    from .convergence import SINGULAR_TOL
    from .fit import off_the_boundary
    from .optimize import best_of_restarts

    best = off_the_boundary(f, opt, lower, layout)  # (a variance stepped onto 0: probed off it)
    x = np.asarray(best.xopt, dtype=float)
    nt = layout.ntheta
    starts = [np.r_[t, x[nt:]] for t in layout.restarts(x[:nt], SINGULAR_TOL)]
    if starts:
        best = best_of_restarts(f, best, starts, lower, "bobyqa")
    return (opt, H) if best.fopt >= opt.fopt else (best, None)
