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

__all__ = ["joint_search", "joint_covariance", "theta_start"]


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
    opt = minimize_theta(f, x0, lower, optimizer=method)
    again = minimize_theta(f, opt.xopt, lower, optimizer=method)  # a fresh trust region from there
    if again.fopt < opt.fopt:
        opt = again
    if not opt.converged:
        warnings.warn(f"optimizer stopped early ({opt.result}) after {opt.feval} evaluations; theta and {what} "
                      "may not be at the optimum", stacklevel=6)
    return opt


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
