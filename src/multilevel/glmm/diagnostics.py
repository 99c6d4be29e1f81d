"""Checks of a fitted GLMM, reported in words users can act on.

Pure functions over arrays, called when the result is built:

- :func:`separation`: complete or quasi-complete separation of a binomial
  (or all-zero cells of a Poisson) response by the fixed effects, found by the
  linear program of Konis (2007) that R's ``detectseparation`` package solves,
  plus glm's "fitted probabilities numerically 0 or 1" symptom;
- :func:`overdispersion`: the Pearson chi-square / residual df ratio and its
  chi-square p-value, as ``performance::check_overdispersion``;
- :func:`convergence`: lme4's gradient check at the optimum.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

from ..lmm.convergence import check_convergence

__all__ = ["separation", "separated_coefficients", "overdispersion", "overdispersion_message",
           "convergence"]

_FITTED_EPS = 10 * np.finfo(float).eps  # glm.fit's threshold for "numerically 0 or 1"
_LP_MAX_CELLS = 5_000_000  # distinct rows x columns above which the linear program is skipped
_LP_ALWAYS_CELLS = 25_000  # below this (about 0.05 s) it always runs; above, only on a symptom
_EXTREME = 1e-6  # fitted probabilities (or Poisson means) this close to 0 or 1 are a symptom
_OVERDISPERSION_P = 0.05


#: rows of a separation program above which the certificate of no separation is not tried
_CERTIFICATE_ROWS = 2_000
#: the programs' own threshold: an optimum (total widening) at most this is no separation
_LP_ZERO = 1e-7


def _no_ray(A: np.ndarray, w: np.ndarray) -> bool:
    """Whether ``-w'A v``, over ``A v <= 0`` and ``|v| <= 1`` (a separation program: ``w >= 0``
    counts each row's widening), is certainly at most the programs' zero, without solving it.

    Farkas: where ``A'lam = -A'w + r`` for some ``lam >= 0`` (non-negative least squares), every
    feasible ``v`` has ``-w'A v = lam'A v - r'v <= |r| |v|``, at most ``|r| sqrt(dim)``. A small
    residual is a certificate of no separation (some 20 us for a model's handful of columns, against
    a millisecond of a linear program's set-up); a large one decides nothing (the program runs).

    Examples
    --------
    >>> A = np.array([[1.0], [-1.0]])            # x'd <= 0 and -x'd <= 0: d = 0
    >>> _no_ray(A, np.array([1.0, 1.0]))
    True
    >>> _no_ray(np.array([[-1.0]]), np.array([1.0]))   # -d <= 0: d = 1 widens by 1
    False
    """
    if A.shape[0] > _CERTIFICATE_ROWS or A.shape[0] == 0:
        return False
    target = -(A.T @ w)
    try:
        lam, resid = optimize.nnls(A.T, target)
    except (RuntimeError, ValueError):  # (its iteration limit)
        return False
    return bool(np.isfinite(resid) and resid * np.sqrt(A.shape[1]) < 0.1 * _LP_ZERO)


def _distinct_rows(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(A, axis=0, return_inverse=True)``, by sorting each row's bytes
    as one key (a tenth of the time on VerbAgg's 7,584 rows), then putting the
    distinct rows in the same (lexicographic) order.

    Examples
    --------
    >>> rows, inv = _distinct_rows(np.array([[1.0, 0.0], [0.0, -0.0], [1.0, 0.0]]))
    >>> rows.tolist(), inv.tolist()
    ([[0.0, 0.0], [1.0, 0.0]], [1, 0, 1])
    """
    A = np.ascontiguousarray(A + 0.0)  # -0.0 and 0.0 are the same value, not the same bytes
    keys = A.view(np.dtype((np.void, A.dtype.itemsize * A.shape[1]))).ravel()
    _, first, inv = np.unique(keys, return_index=True, return_inverse=True)
    rows = A[first]
    order = np.lexsort(rows.T[::-1])  # by the first column, then the second, ...
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rows[order], rank[inv.ravel()]


def separated_coefficients(X: np.ndarray, y: np.ndarray, weights: np.ndarray,
                           family: str = "binomial", max_cells: int = _LP_MAX_CELLS) -> np.ndarray:
    """Directions in which the fixed effects can grow without bound.

    Solves Konis's linear program: find ``d`` with ``x_i'd >= 0`` where every
    trial succeeded, ``x_i'd <= 0`` where every trial failed (for Poisson:
    where the count is 0), ``x_i'd = 0`` elsewhere, maximising the total
    ``sum s_i x_i'd`` over ``-1 <= d_j <= 1``. A positive optimum means
    (quasi-)complete separation: moving the coefficients along ``d`` never
    lowers the likelihood, so the coefficients with ``d_j != 0`` have
    infinite maximum-likelihood estimates.

    Parameters
    ----------
    X : ndarray (n, p)
        Fixed-effects model matrix.
    y : ndarray (n,)
        Response: proportions (binomial) or counts (Poisson).
    weights : ndarray (n,)
        Prior weights (binomial trials); rows with weight 0 are ignored.
    family : {"binomial", "poisson"}
    max_cells : int
        Skip the linear program (return an empty array) when the distinct
        rows of ``X`` times its columns exceed this.

    Returns
    -------
    ndarray (p,)
        The direction ``d`` (signs tell which way each estimate runs off);
        all zero without separation. Empty when the problem is too large to
        check.

    Examples
    --------
    >>> X = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1]])
    >>> separated_coefficients(X, np.array([0, 1, 0, 1, 1, 1.0]), np.ones(6)).tolist()
    [0.0, 1.0]
    >>> separated_coefficients(X, np.array([0, 1, 0, 1, 0, 1.0]), np.ones(6)).tolist()
    [0.0, 0.0]
    """
    X = np.asarray(X, dtype=float)
    p = X.shape[1]
    rows, s, count = outcome_rows(X, y, weights, family)
    return separated_from_rows(rows, s, count, p, max_cells)


def outcome_rows(X: np.ndarray, y: np.ndarray, weights: np.ndarray, family: str = "binomial"):
    """The distinct rows of ``X`` (of positive weight) with the outcome seen at each:
    ``+1`` where every trial succeeded, ``-1`` where every one failed (Poisson:
    where every count is 0), 0 for mixed outcomes, and their number of rows.
    Rows from several parts of the data are joined by :func:`join_outcome_rows`.

    Examples
    --------
    >>> X = np.column_stack([np.ones(4), [0, 0, 1, 1]])
    >>> rows, s, count = outcome_rows(X, np.array([0, 1, 1, 1.0]), np.ones(4))
    >>> rows.tolist(), s.tolist(), count.tolist()
    ([[1.0, 0.0], [1.0, 1.0]], [0, 1], [2, 2])
    """
    X = np.asarray(X, dtype=float)
    p = X.shape[1]
    keep = np.asarray(weights, dtype=float) > 0
    if p == 0 or not keep.any():
        return np.zeros((0, p)), np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    X, y = X[keep], np.asarray(y, dtype=float)[keep]
    if family == "binomial":
        sign = np.where(y >= 1, 1, np.where(y <= 0, -1, 0))
    else:  # poisson: only zero counts can push the mean to 0
        sign = np.where(y <= 0, -1, 0)
    return _signs_by_row(X, sign, np.ones(X.shape[0], dtype=int))


def _signs_by_row(X: np.ndarray, sign: np.ndarray, count: np.ndarray):
    """Distinct rows of ``X`` with the sign all their rows share (0: mixed), and their counts."""
    rows, inv = _distinct_rows(X)
    m = rows.shape[0]
    lo = np.full(m, 1)
    hi = np.full(m, -1)
    np.minimum.at(lo, inv, sign)
    np.maximum.at(hi, inv, sign)
    return rows, np.where(lo == hi, lo, 0), np.bincount(inv, weights=count, minlength=m).astype(int)


def join_outcome_rows(a, b):
    """The :func:`outcome_rows` of two parts' rows together (None: too many to check).

    Examples
    --------
    >>> a = (np.array([[1.0, 0.0]]), np.array([1]), np.array([3]))
    >>> b = (np.array([[1.0, 0.0], [1.0, 1.0]]), np.array([-1, 1]), np.array([1, 2]))
    >>> [x.tolist() for x in join_outcome_rows(a, b)]
    [[[1.0, 0.0], [1.0, 1.0]], [0, 1], [4, 2]]
    """
    if a is None or b is None:
        return None
    return _signs_by_row(np.vstack([a[0], b[0]]), np.concatenate([a[1], b[1]]), np.concatenate([a[2], b[2]]))


def separated_from_rows(rows: np.ndarray, s: np.ndarray, count: np.ndarray, p: int,
                        max_cells: int = _LP_MAX_CELLS) -> np.ndarray:
    """:func:`separated_coefficients` from the data's :func:`outcome_rows`."""
    m = rows.shape[0]
    if p == 0 or m == 0:
        return np.zeros(p)
    if m * p > max_cells:
        return np.zeros(0)
    if not np.any(s != 0):
        return np.zeros(p)
    scale = np.abs(rows).max(axis=0)
    scale[scale == 0] = 1.0
    rows = rows / scale
    c = -(count * s) @ rows  # linprog minimises
    ineq = s != 0
    A_ub = -(s[ineq, None] * rows[ineq])  # s x'd >= 0
    eq = s == 0
    if _no_ray(np.vstack([A_ub, rows[eq], -rows[eq]]), np.concatenate([count[ineq], np.zeros(2 * eq.sum())])):
        return np.zeros(p)
    res = optimize.linprog(c, A_ub=A_ub if ineq.any() else None, b_ub=np.zeros(ineq.sum()) if ineq.any() else None,
                           A_eq=rows[eq] if eq.any() else None, b_eq=np.zeros(eq.sum()) if eq.any() else None,
                           bounds=[(-1.0, 1.0)] * p, method="highs")
    if res.status != 0 or -res.fun <= _LP_ZERO:
        return np.zeros(p)
    d = np.where(np.abs(res.x) > 1e-7, res.x, 0.0)
    return d / np.abs(d).max()


def ordinal_separated_coefficients(X: np.ndarray, codes: np.ndarray, ncat: int, weights: np.ndarray,
                                   max_cells: int = _LP_MAX_CELLS) -> np.ndarray:
    """Directions in which a cumulative link model's slopes can grow without bound.

    ``P(Y = y) = F(t_y - x'b) - F(t_{y-1} - x'b)`` never falls along a ray
    ``(b + s d, t + s e)``, ``s -> inf``, when every observation's interval
    keeps covering what it covered: ``e_y - x_i'd >= 0`` (for ``y`` below the
    top category) and ``e_{y-1} - x_i'd <= 0`` (above the bottom one), with
    ``e`` nondecreasing so the thresholds stay ordered. The linear program
    maximises the total widening ``sum (e_y - x_i'd) - (e_{y-1} - x_i'd)``
    over ``-1 <= d_j, e_k <= 1``; a positive optimum means (quasi-)complete
    separation, and the slopes with ``d_j != 0`` have infinite
    maximum-likelihood estimates (with every category observed, ``d = 0``
    forces ``e = 0``).

    Parameters
    ----------
    X : ndarray (n, p)
        The slopes' columns (no intercept: the thresholds take its place).
    codes : ndarray (n,)
        Category codes ``0 .. ncat - 1``.
    ncat : int
    weights : ndarray (n,)
        Rows with weight 0 are ignored.
    max_cells : int
        Skip the program (return an empty array) when the distinct
        (row, category) pairs times the variables exceed this.

    Returns
    -------
    ndarray (p,)
        ``d`` scaled to a largest entry of 1 (all zero without separation);
        empty when the problem is too large to check.

    Examples
    --------
    >>> x = np.array([[0.0], [0], [0], [1], [1], [1]])
    >>> ordinal_separated_coefficients(x, np.array([0, 1, 2, 2, 2, 2]), 3, np.ones(6)).tolist()
    [1.0]
    >>> ordinal_separated_coefficients(x, np.array([0, 1, 2, 1, 2, 0]), 3, np.ones(6)).tolist()
    [0.0]
    """
    X = np.asarray(X, dtype=float)
    p = X.shape[1]
    keep = np.asarray(weights, dtype=float) > 0
    if p == 0 or ncat < 2 or not keep.any():
        return np.zeros(p)
    X, y = X[keep], np.asarray(codes, dtype=int)[keep]
    scale = np.abs(X).max(axis=0)
    scale[scale == 0] = 1.0
    pairs, count = np.unique(np.column_stack([X / scale, y]), axis=0, return_counts=True)
    rows, y = pairs[:, :p], pairs[:, p].astype(int)
    m, k1 = rows.shape[0], ncat - 1
    if m * (p + k1) > max_cells:
        return np.zeros(0)
    A, c = [], np.zeros(p + k1)
    up, down = y < k1, y > 0
    # upper ends: x'd - e_y <= 0; lower ends: e_{y-1} - x'd <= 0
    E_up = np.zeros((m, k1))
    E_up[np.nonzero(up)[0], y[up]] = 1.0
    E_lo = np.zeros((m, k1))
    E_lo[np.nonzero(down)[0], y[down] - 1] = 1.0
    A.append(np.hstack([rows, -E_up])[up])
    A.append(np.hstack([-rows, E_lo])[down])
    order = np.zeros((k1 - 1, p + k1))  # e_k - e_{k+1} <= 0
    for k in range(k1 - 1):
        order[k, p + k], order[k, p + k + 1] = 1.0, -1.0
    A.append(order)
    # widening (minimised as its negative): sum of (e_y - x'd) over upper ends, (x'd - e_{y-1}) over lower
    c[:p] = (count * (up.astype(float) - down)) @ rows
    c[p:] = -(count[up] @ E_up[up]) + count[down] @ E_lo[down]
    A_ub = np.vstack(A)
    if _no_ray(A_ub, np.concatenate([count[up], count[down], np.zeros(k1 - 1)])):
        return np.zeros(p)
    res = optimize.linprog(c, A_ub=A_ub, b_ub=np.zeros(A_ub.shape[0]), bounds=[(-1.0, 1.0)] * (p + k1),
                           method="highs")
    if res.status != 0 or -res.fun <= _LP_ZERO:
        return np.zeros(p)
    d = np.where(np.abs(res.x[:p]) > 1e-7, res.x[:p], 0.0)
    return d / np.abs(d).max() if np.any(d) else d


def ordinal_separation(X: np.ndarray, names, codes: np.ndarray, ncat: int, weights: np.ndarray,
                       beta: np.ndarray, se: np.ndarray) -> list[str]:
    """The message about a separated cumulative link model; empty when there is none.

    Examples
    --------
    >>> x = np.array([[0.0], [0], [0], [1], [1], [1]])
    >>> print(ordinal_separation(x, ["xB"], np.array([0, 1, 2, 2, 2, 2]), 3, np.ones(6),
    ...                          np.array([30.0]), np.array([np.nan]))[0][:88])
    complete or quasi-complete separation: some categories never occur at some values of the
    """
    d = ordinal_separated_coefficients(X, codes, ncat, weights)
    if not d.size or not np.any(d != 0):
        return []
    # (which coefficients a direction involves, not which way each runs off: a
    # coefficient in it may be undetermined rather than infinite)
    which = ", ".join(f"{names[j]!r} ({beta[j]:.3g}, SE {se[j]:.3g})" for j in np.nonzero(d)[0])
    return ["complete or quasi-complete separation: some categories never occur at some values of the "
            f"predictors, so the likelihood keeps increasing as the coefficients {which} move together and "
            "their estimates, standard errors and tests mean nothing; merge the categories or levels concerned, "
            "or shrink the coefficients with a prior (ml.bayes with family='cumulative')"]


def separation(X: np.ndarray, names, y: np.ndarray, weights: np.ndarray, mu: np.ndarray,
               fixef: np.ndarray, se: np.ndarray, family: str = "binomial") -> list[str]:
    """Messages about (quasi-)complete separation; empty when there is none.

    Parameters
    ----------
    X : ndarray (n, p)
        Fixed-effects model matrix.
    names : sequence of str
        Its column names.
    y : ndarray (n,)
        Response (binomial proportions or Poisson counts).
    weights : ndarray (n,)
        Prior weights (binomial trials).
    mu : ndarray (n,)
        Fitted means at the conditional modes.
    fixef, se : ndarray (p,)
        Estimates and standard errors, quoted in the message.
    family : {"binomial", "poisson"}

    Returns
    -------
    list of str

    Notes
    -----
    The linear program (:func:`separated_coefficients`) always runs on small
    problems (distinct rows times columns up to 25,000, a few hundredths of a
    second); on larger ones only when a symptom shows: fitted probabilities
    (Poisson: means) within 1e-6 of 0 or 1, or a standard error that is not
    finite, since separated coefficients drive the fitted values of the
    separated rows to the boundary.

    Examples
    --------
    >>> X = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1]])
    >>> y = np.array([0, 1, 0, 1, 1, 1.0])
    >>> msg = separation(X, ["(Intercept)", "gB"], y, np.ones(6), np.full(6, 0.5),
    ...                  np.array([-0.7, 25.0]), np.array([1.2, 4e4]))
    >>> print(msg[0][:95])
    complete or quasi-complete separation: the fixed effects predict some responses exactly, so the
    """
    pos = np.asarray(weights) > 0
    mu = np.asarray(mu, dtype=float)
    if family == "binomial":
        symptom = np.any(pos & ((mu < _EXTREME) | (mu > 1 - _EXTREME)))
    else:
        symptom = np.any(pos & (mu < _EXTREME))
    symptom = symptom or not np.all(np.isfinite(se))
    d = separated_coefficients(X, y, weights, family,
                               max_cells=_LP_MAX_CELLS if symptom else _LP_ALWAYS_CELLS)
    edge = int(np.sum(pos & ((mu <= _FITTED_EPS) | (mu >= 1 - _FITTED_EPS)))) if family == "binomial" else 0
    return separation_messages(d, edge, names, fixef, se, family)


def separation_messages(d: np.ndarray, edge: int, names, fixef: np.ndarray, se: np.ndarray,
                        family: str = "binomial") -> list[str]:
    """The messages of :func:`separation` from the linear program's direction ``d``
    (:func:`separated_coefficients`) and the number ``edge`` of fitted
    probabilities numerically 0 or 1.

    Examples
    --------
    >>> separation_messages(np.zeros(2), 0, ["a", "b"], np.zeros(2), np.ones(2))
    []
    """
    out = []
    if d.size and np.any(d != 0):
        idx = np.nonzero(d)[0]
        which = ", ".join(f"{names[j]!r} ({fixef[j]:.3g}, SE {se[j]:.3g}, towards "
                          f"{'+' if d[j] > 0 else '-'}Inf)" for j in idx)
        what = ("every trial succeeded or every trial failed" if family == "binomial"
                else "every count is 0")
        out.append(
            "complete or quasi-complete separation: the fixed effects predict some responses exactly, "
            f"so the estimates of {which} are not finite (where {what}, the likelihood keeps "
            "increasing as they grow) and their standard errors and tests mean nothing; remove or "
            "merge the levels concerned, or shrink the fixed effects with a prior (a Bayesian fit, "
            "or a bias-reduced fit as R's brglm2)"
        )
    elif family == "binomial" and edge:
        out.append(
            f"fitted probabilities numerically 0 or 1 occurred ({edge} observations): "
            "a predictor separates the outcomes almost perfectly or takes extreme values; check "
            "the large estimates, and rescale or drop the predictor concerned"
        )
    return out


def overdispersion(pearson_residuals: np.ndarray, df_resid: int) -> dict:
    """Pearson chi-square test of overdispersion, as ``performance::check_overdispersion``.

    Parameters
    ----------
    pearson_residuals : ndarray (n,)
        Conditional Pearson residuals of the fit.
    df_resid : int
        Observations minus parameters (fixed effects and theta).

    Returns
    -------
    dict
        ``chisq`` (sum of squared residuals), ``ratio`` (chisq / df), ``df``
        and ``p`` (upper-tail chi-square probability).

    Examples
    --------
    >>> out = overdispersion(np.array([2.0, -2.0, 1.5, -1.5, 2.0]), 3)
    >>> round(out["ratio"], 3), round(out["p"], 4)
    (5.5, 0.0009)
    """
    r = np.asarray(pearson_residuals, dtype=float)
    return pearson_test(float(np.sum(r * r)), df_resid)


def pearson_test(chisq: float, df_resid: int) -> dict:
    """:func:`overdispersion` from the Pearson chi-square (summed over data in parts).

    Examples
    --------
    >>> pearson_test(16.5, 3)["ratio"]
    5.5
    """
    df = int(df_resid)
    ratio = chisq / df if df > 0 else float("nan")
    p = float(stats.chi2.sf(chisq, df)) if df > 0 else float("nan")
    return {"chisq": float(chisq), "ratio": ratio, "df": df, "p": p}


def overdispersion_message(stat: dict, family: str = "poisson") -> str | None:
    """The overdispersion message for :func:`overdispersion`'s result, or None when
    the test does not reject (p >= 0.05).

    Examples
    --------
    >>> print(overdispersion_message({"chisq": 148.4, "ratio": 2.91, "df": 51, "p": 1e-11})[:79])
    overdispersion: Pearson chi-square / residual df = 2.91 (chi-square 148.4 on 51
    >>> overdispersion_message({"chisq": 50.0, "ratio": 0.98, "df": 51, "p": 0.5}) is None
    True
    """
    if not np.isfinite(stat["p"]) or stat["p"] >= _OVERDISPERSION_P:
        return None
    p = stat["p"]
    ptxt = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    alt = "a negative binomial model (family='negative_binomial')" if family == "poisson" \
        else "a beta-binomial model"
    return (f"overdispersion: Pearson chi-square / residual df = {stat['ratio']:.3g} (chi-square "
            f"{stat['chisq']:.1f} on {stat['df']} df, {ptxt}); the {family} variance is too small for "
            "these data, so standard errors are too small and p-values too optimistic; add an "
            "observation-level random effect (a column with one level per row, e.g. obs, and the "
            f"term + (1 | obs)) or use {alt}")


def convergence(deviance, x: np.ndarray, lower: np.ndarray, singular: bool,
                grad: np.ndarray | None = None, hessian: np.ndarray | None = None) -> list[str]:
    """lme4's gradient check of the deviance at the optimum (none for singular fits).

    Parameters
    ----------
    deviance : callable
        ``x -> float``: the criterion the optimizer minimised, over theta (and
        the fixed effects for Laplace and quadrature fits).
    x : ndarray
        The optimum reported.
    lower : ndarray
        Lower bounds of ``x``.
    singular : bool
        True for a boundary fit, where the gradient need not vanish.
    grad, hessian : ndarray, optional
        The gradient and Hessian at ``x`` when the fit already has them
        (``deviance`` is then not called).

    Returns
    -------
    list of str
        Empty when the scaled gradient is below lme4's tolerance (0.002).

    Examples
    --------
    >>> f = lambda v: (v[0] - 1) ** 2 + 10 * (v[1] + 2) ** 2
    >>> convergence(f, np.array([1.0, -2.0]), np.array([0.0, -np.inf]), False)
    []
    >>> print(convergence(f, np.array([1.0, -1.9]), np.array([0.0, -np.inf]), False)[0][:40])
    Model failed to converge: max|grad| = 0.
    """
    if singular:
        return []
    return check_convergence(deviance, np.asarray(x, dtype=float), np.asarray(lower, dtype=float), False,
                             grad=grad, hessian=hessian)


def zero_inflation_boundary(family, weights: np.ndarray, se=None) -> list[str]:
    """The message about zero-inflation coefficients running off to +-Inf; empty when there are none.

    Where the count model explains every zero of some rows (no excess zeros there), the
    probability of a structural zero goes to 0 and the coefficients that pick those rows out
    to -Inf (to +Inf where only structural zeros would do): their estimates are wherever the
    optimizer stopped, and their standard errors and tests mean nothing. A coefficient is
    reported where the probability is within 1e-4 of 0 or 1 in some rows, its term moves their
    logit by more than 5, and it is not determined (``se``: its standard error, not finite or
    larger than the estimate; a steep but determined slope is not reported, in any units).

    Examples
    --------
    >>> from multilevel.families import family
    >>> from multilevel.families.zero_inflated import ZeroInflated
    >>> X = np.column_stack([np.ones(4), [0, 0, 1, 1.0]])
    >>> zi = ZeroInflated.wrap(family("poisson"), X, np.eye(2), ("(Intercept)", "b")).with_extra(np.array([-1.0, -30]))
    >>> print(zero_inflation_boundary(zi, np.ones(4), np.array([0.5, 900.0]))[0][:80])
    the zero-inflation model's coefficients 'b' (-30, towards -Inf) run off: the pro
    >>> zero_inflation_boundary(zi, np.ones(4), np.array([0.5, 2.0]))      # determined: -30 +- 2
    []
    """
    est = family.zi_coefficients
    X = np.asarray(family.Xzi, dtype=float) @ np.linalg.inv(family.Tzi)  # the user's columns
    extreme = (np.asarray(weights) > 0) & run_off_rows(family)
    if not extreme.any():
        return []
    se = np.full(est.shape, np.nan) if se is None else np.asarray(se, dtype=float)
    moves = np.max(np.abs(X[extreme] * est), axis=0) > _ZI_MOVE
    undetermined = ~(se < np.abs(est))
    big = np.nonzero(moves & undetermined)[0]
    if not big.size:
        return []
    which = ", ".join(f"{family.zi_names[j]!r} ({est[j]:.3g}, towards {'-' if est[j] < 0 else '+'}Inf)"
                      for j in big)
    return [f"the zero-inflation model's coefficients {which} run off: the probability of a structural zero "
            f"is numerically 0 or 1 in {int(extreme.sum())} rows (where the count model alone explains their "
            "zeros, or only structural zeros would), so these estimates are wherever the optimizer stopped and "
            "their standard errors and tests mean nothing; drop or merge the terms concerned in zi= "
            "(zi='~ 1' for one probability)"]


def run_off_rows(family) -> np.ndarray:
    """The rows whose probability of a structural zero is within 1e-4 of 0 or 1 (a mask)."""
    pi = np.asarray(family.pi, dtype=float)
    return (pi < _ZI_EDGE) | (pi > 1.0 - _ZI_EDGE)


# a structural-zero probability this close to 0 or 1 (logit beyond +-9.2), and a term that moves
# such a row's logit by more than this
_ZI_EDGE = 1e-4
_ZI_MOVE = 5.0
