"""Checks at the optimum: singular fits and convergence, in words users can act on."""

from __future__ import annotations

import numpy as np

__all__ = ["singular_terms", "singular_message", "check_convergence", "finite_gradient"]

SINGULAR_TOL = 1e-4
GRAD_TOL = 2e-3


def singular_terms(theta: np.ndarray, layout, labels, columns, bases=None) -> list[str]:
    """Descriptions of the variance components estimated on the boundary.

    A term is singular when a diagonal element of its relative covariance
    factor is (numerically) zero: a variance of zero, or a correlation of +-1.

    Parameters
    ----------
    theta : ndarray
        Covariance parameters at the optimum.
    layout : ThetaLayout
        Where each term's parameters sit in ``theta``.
    labels : sequence of str
        Term labels, as in variance tables.
    columns : sequence of tuple of str
        Each term's column names.
    bases : sequence of ndarray, optional
        Each term's map from the standardised columns to the user's (``Standardization.B``)
        where ``theta`` is the standardised fit's: the columns named are then those whose
        variance is zero in the user's column order (the standardised basis mixes the
        columns, so its zero pivot can sit at another position).

    Returns
    -------
    list of str
        ``"'column' in 'label'"`` for every zero diagonal element.

    Examples
    --------
    >>> from multilevel.linalg import ThetaLayout
    >>> lay = ThetaLayout.from_k((2, 1))
    >>> singular_terms(np.array([1.0, 0.5, 0.0, 0.8]), lay, ["Subject", "plate"],
    ...                [("(Intercept)", "Days"), ("(Intercept)",)])
    ["'Days' in 'Subject'"]
    """
    out = []
    for i, (lab, cols) in enumerate(zip(labels, columns)):
        seg = theta[layout.offsets[i]: layout.offsets[i + 1]]
        s = layout.structures[i] if layout.structures else None
        if s is not None:  # a structured term: a zero SD, or a correlation at its bound
            sds, rho = seg[s.sd_mask], s.rho(seg[-1])
            if s.nsd > 1:
                out.extend(f"{cols[j]!r} in {lab!r}" for j in np.nonzero(sds < SINGULAR_TOL)[0])
            elif sds[0] < SINGULAR_TOL:
                out.append(f"the {s.kind} term {lab!r}")
            # (within 1e-4 of an end of its interval, in its place there: the search stops 1e-6 to
            # 1e-5 short of an end the criterion approaches, wandering along the flat ridge)
            where = (rho - s.rho_lower) / (1.0 - s.rho_lower)
            if sds.min() >= SINGULAR_TOL and (where > 1 - SINGULAR_TOL or where < SINGULAR_TOL):
                out.append(f"the {s.kind} term {lab!r} (its correlation at {rho:.4g})")
            continue
        diag = seg[layout.rows[i] == layout.cols[i]]
        zero = np.nonzero(diag < SINGULAR_TOL)[0]
        if zero.size and bases is not None and diag.size > 1:
            zero = _user_zero_columns(bases[i], layout, i, seg, zero.size)
        for j in zero:
            out.append(f"{cols[j]!r} in {lab!r}")
    return out


def _user_zero_columns(B, layout, i, seg, count) -> np.ndarray:
    """The ``count`` columns, in the user's order, whose pivots in the Cholesky factor of the
    covariance on the user's columns scaled to unit root mean square are smallest (its zero
    pivots), the covariance being ``B T T' B'`` for the standardised factor ``T``."""
    k = B.shape[0]
    T = np.zeros((k, k))
    T[layout.rows[i], layout.cols[i]] = seg
    try:
        rms = np.linalg.norm(np.linalg.inv(B), axis=0)  # (the user's columns' root mean squares)
    except np.linalg.LinAlgError:
        rms = np.ones(k)
    pivots = np.abs(np.diag(np.linalg.qr((rms[:, None] * (B @ T)).T, mode="r")))
    return np.sort(np.argsort(pivots, kind="stable")[:count])


def singular_message(singular: list[str]) -> str:
    """The boundary (singular) fit message for the terms :func:`singular_terms` found.

    Examples
    --------
    >>> singular_message(["'ses' in 'schoolid'"])[:60]
    "boundary (singular) fit: the variance of 'ses' in 'schoolid'"
    """
    return ("boundary (singular) fit: the variance of " + ", ".join(singular)
            + " is estimated as zero, or a correlation as +-1; the random-effects structure "
            "is too rich for these data (consider removing that random slope or correlation)")


def finite_gradient(fun, x: np.ndarray, lower: np.ndarray, h: float = 1e-4,
                    f0: float | None = None, curvature: bool = False):
    """Central (one-sided at a bound) finite-difference gradient.

    With ``curvature=True`` also returns the diagonal of the Hessian that the
    same evaluations give (NaN where the difference is one-sided).

    Parameters
    ----------
    fun : callable
        ``x -> float``.
    x : ndarray
        Point at which to differentiate.
    lower : ndarray
        Lower bounds; where ``x - h`` would cross one, a forward difference is used.
    h : float, default 1e-4
        Step size.
    f0 : float, optional
        ``fun(x)`` when already known.

    Returns
    -------
    ndarray or (ndarray, ndarray)
        The gradient, shaped like ``x`` (and the diagonal curvature).

    Examples
    --------
    >>> f = lambda x: (x[0] - 2) ** 2 + 3 * (x[1] - 1) ** 2
    >>> finite_gradient(f, np.array([1.0, 0.0]), np.array([0.0, -np.inf])).round(6).tolist()
    [-2.0, -6.0]
    >>> finite_gradient(f, np.array([1.0, 0.0]), np.array([0.0, 0.0])).round(6).tolist()  # at a bound
    [-2.0, -5.9997]
    """
    g = np.empty_like(x)
    hdiag = np.full_like(x, np.nan)
    if f0 is None:
        f0 = fun(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        if x[i] - h < lower[i]:
            g[i] = (fun(x + e) - f0) / h
        else:
            fp, fm = fun(x + e), fun(x - e)
            g[i] = (fp - fm) / (2 * h)
            hdiag[i] = (fp - 2 * f0 + fm) / h**2
    return (g, hdiag) if curvature else g


def finite_hessian(fun, x: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central finite-difference Hessian.

    Parameters
    ----------
    fun : callable
        ``x -> float``.
    x : ndarray
        Point at which to differentiate.
    h : float, default 1e-4
        Step size.

    Returns
    -------
    ndarray (x.size, x.size)

    Examples
    --------
    >>> f = lambda x: (x[0] - 2) ** 2 + 3 * (x[1] - 1) ** 2 + x[0] * x[1]
    >>> finite_hessian(f, np.array([1.0, 0.0])).round(4).tolist()
    [[2.0, 1.0], [1.0, 6.0]]
    """
    n = x.size
    H = np.empty((n, n))
    f0 = fun(x)
    for i in range(n):
        ei = np.zeros(n)
        ei[i] = h
        H[i, i] = (fun(x + ei) - 2 * f0 + fun(x - ei)) / h**2
        for j in range(i):
            ej = np.zeros(n)
            ej[j] = h
            H[i, j] = H[j, i] = (fun(x + ei + ej) - fun(x + ei - ej) - fun(x - ei + ej)
                                 + fun(x - ei - ej)) / (4 * h * h)
    return H


def check_convergence(fun, theta: np.ndarray, lower: np.ndarray, singular: bool,
                      fopt: float | None = None, grad: np.ndarray | None = None,
                      curvature: np.ndarray | None = None,
                      hessian: np.ndarray | None = None) -> list[str]:
    """lme4-style gradient check at the optimum; returns messages (empty when fine).

    As lme4's ``checkConv``, the test is on the smaller of the raw gradient and
    the gradient scaled by the Cholesky factor of the Hessian (``solve(chol(H),
    g)``), so that a large but flat criterion (many observations) is not
    flagged for a gradient of 0.003 at a step of 1e-8. The full Hessian is only
    computed when neither the raw gradient nor its scaling by the diagonal
    ``curvature`` (free from the central differences) passes.

    Parameters
    ----------
    fun : callable
        The criterion, ``theta -> float``.
    theta : ndarray
        The optimum found.
    lower : ndarray
        Lower bounds of theta.
    singular : bool
        True for a singular fit, which is not checked (as lme4).
    fopt : float, optional
        Criterion at ``theta`` (unused; accepted for convenience).
    grad : ndarray, optional
        Gradient at ``theta`` when already known.
    curvature : ndarray, optional
        Diagonal second derivatives at ``theta`` when already known.
    hessian : ndarray, optional
        The Hessian at ``theta`` when already known (``fun`` is then not called
        when ``grad`` is given too).

    Returns
    -------
    list of str
        Warning messages; empty when the gradient is small enough.

    Examples
    --------
    >>> f = lambda x: (x[0] - 2) ** 2 + 3 * (x[1] - 1) ** 2
    >>> lower = np.array([0.0, -np.inf])
    >>> check_convergence(f, np.array([2.0, 1.0]), lower, singular=False)
    []
    >>> msgs = check_convergence(f, np.array([1.9, 1.0]), lower, singular=False)
    >>> print(msgs[0])  # doctest: +ELLIPSIS
    Model failed to converge: max|grad| = 0.141 (tol = 0.002, component 1); try rescaling ...
    """
    if singular or theta.size == 0:
        return []
    if grad is None:
        g, curvature = finite_gradient(fun, theta, lower, curvature=True)
    else:
        g = grad
    if not np.all(np.isfinite(g)) or np.max(np.abs(g)) < GRAD_TOL:
        return []
    if curvature is not None and np.all(curvature > 0):
        if np.max(np.minimum(np.abs(g) / np.sqrt(curvature), np.abs(g))) < GRAD_TOL / 10:
            return []
    H = finite_hessian(fun, theta) if hessian is None else np.asarray(hessian, dtype=float)
    msgs = []
    try:
        R = np.linalg.cholesky(H).T  # upper, H = R'R, as R's chol()
        scaled = np.linalg.solve(R.T, g)
        tested = np.minimum(np.abs(scaled), np.abs(g))
    except np.linalg.LinAlgError:
        tested = np.abs(g)
        msgs.append(
            "Model is nearly unidentifiable: the Hessian of the criterion is not positive "
            "definite; simplify the random effects or rescale predictors"
        )
    bad = float(np.max(tested))
    if bad > GRAD_TOL:
        # (the value tested, as lme4 reports it: the smaller of the raw and the scaled gradient)
        comp = int(np.argmax(tested))
        msgs.append(
            f"Model failed to converge: max|grad| = {bad:.3g} (tol = {GRAD_TOL}, "
            f"component {comp + 1}); try rescaling (centring) predictors, or optimizer='nelder-mead'"
        )
    return msgs
