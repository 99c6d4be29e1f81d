"""The exact gradient of the profiled criterion of a model whose random-effects
terms are all scalar (crossed or nested random intercepts, such as InstEval's
``(1 | s) + (1 | d)``).

With ``Lambda = diag(theta_j I_{q_j})`` and ``A = Lambda'Z'WZ Lambda + I`` the
derivative of ``log det A`` in ``theta_j`` is ``(2 / theta_j)(q_j - tr_j(A^-1))``,
where ``tr_j`` sums the diagonal of the inverse over term ``j``'s random effects
(REML takes the inverse of the whole system with the fixed effects instead).
The penalised residual sum of squares ``r^2`` is a minimum over ``u`` and
``beta``, so its derivative is ``-2 |u_j|^2 / theta_j`` (the normal equations
give ``Z_j'r = u_j / theta_j``). One evaluation with its gradient costs the
factor, the inverse of its dense block (LAPACK's ``dpotri``) and one transposed
product with the pair structure of the first term's coupling: about twice an
evaluation without it, and the quasi-Newton search then needs about a third
of BOBYQA's evaluations.

The criterion is even in each ``theta_j``, so the gradient vanishes at 0: the
search that uses it handles interior optima, and a variance heading for zero
is left to BOBYQA (:func:`multilevel.lmm.fit._optimize`).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from ..linalg import BlockedFactor, CrossProducts, ThetaLayout
from ..linalg.dense import inverse_from_factor

__all__ = ["applies", "scalar_gradient"]


def applies(cp: CrossProducts, layout: ThetaLayout) -> bool:
    """Whether :func:`scalar_gradient` covers the model: at least two random-effects
    terms, each scalar and unstructured (and the pair structure stored, where there is one).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.linalg import cross_products
    >>> d = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    >>> applies(cross_products(d), ThetaLayout.from_terms(d.terms))
    True
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> applies(cross_products(d), ThetaLayout.from_terms(d.terms))
    False
    """
    return (cp.Br0 is not None and not layout.structured and all(k == 1 for k in cp.k)
            and layout.ntheta == len(cp.k) and (cp.pairs is None or cp.pairs.P is not None))


def _pair_groups(cp: CrossProducts, m: int) -> list[tuple[int, int, sp.csr_matrix]]:
    """The pair structure's transpose read against an ``m x m`` C-ordered matrix (the inverse
    that ``dpotri`` returns), split by the terms of each entry's row and column: ``(i, j, Pt)``
    with ``Pt @ S.ravel()`` the sum over the pairs of terms ``i >= j`` (their relative SDs
    multiply it)."""
    P = cp.pairs.P  # (stride^2, n0), CSC: its transpose is the CSR of the same arrays
    if P.format != "csc":  # (pair_product builds a one-column first term's pairs so)
        P = P.tocsc()
    stride = cp.pairs.stride
    a, c = np.divmod(P.indices.astype(np.int64), stride)
    flat = a * m + c
    bounds = np.cumsum(cp.nlevels[1:])
    ta, tc = np.searchsorted(bounds, a, side="right"), np.searchsorted(bounds, c, side="right")
    column = np.repeat(np.arange(P.shape[1]), np.diff(P.indptr))
    out = []
    for i in range(len(cp.nlevels) - 1):
        for j in range(i + 1):
            keep = (ta == i) & (tc == j)
            if keep.any():
                out.append((i, j, sp.csr_matrix((P.data[keep], (column[keep], flat[keep])),
                                                shape=(P.shape[1], m * m))))
    return out


def scalar_gradient(fac: BlockedFactor, cp: CrossProducts, theta: np.ndarray,
                    reml: bool, cache: dict | None = None) -> np.ndarray:
    """The exact gradient of the profiled ML deviance or REML criterion at ``theta``.

    Parameters
    ----------
    fac : BlockedFactor
        The factor at ``theta``.
    cp : CrossProducts
        Cross-products of a model that :func:`applies` covers.
    theta : ndarray
        One relative standard deviation per term, all >= 0.
    reml : bool
    cache : dict, optional
        Where to keep what depends on ``cp`` alone between calls (the pair
        structure read against the inverse, ``B``'s squares).

    Returns
    -------
    ndarray
        0 in a component where theta is 0 (the criterion is even there).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.linalg import cross_products, factorize
    >>> d = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    >>> cp, theta = cross_products(d), np.array([1.5, 3.5])
    >>> fac = factorize(cp, ThetaLayout.from_terms(d.terms), theta)
    >>> scalar_gradient(fac, cp, theta, reml=True).round(3).tolist()
    [-1.179, 0.003]
    """
    theta = np.asarray(theta, dtype=float)
    qr, p = cp.q_rest, cp.p
    m = qr + p if reml else qr
    L11 = fac.L11
    t0 = theta[0]
    l00 = fac.L00[:, 0, 0]
    t_r = np.repeat(theta[1:], cp.nlevels[1:])
    B = cp.Br0 if cp.Br0_dense is None else cp.Br0_dense
    # spherical random effects at their conditional modes, beta profiled
    sol = scipy.linalg.solve_triangular(L11[:qr + p, :qr + p], L11[-1, :qr + p], lower=True,
                                        trans="T", check_finite=False)
    u_rest, beta = sol[:qr], sol[qr:]
    u0 = (fac.Wx[-1] - fac.Wx[:-1].T @ beta - fac.F0[:, 0, 0] * (B.T @ (t_r * u_rest))) / l00
    # the inverse of the dense block: the rest terms' random effects (and, for
    # REML, the fixed effects) after the first term is eliminated; its lower triangle
    Sinv = inverse_from_factor(L11[:m, :m])
    # first term: tr(A00^-1) = sum 1/l00^2 + tr(S^-1 G G'), G = L_{.0} L00^-1, whose
    # random-effects rows are diag(t_r) B diag(t0 / l00^2); tr(S_rr^-1 G_r G_r') is
    # twice the sum over the lower triangle less the diagonal
    mvec = t0 * t0 / l00 ** 4
    cache = {} if cache is None else cache
    if "B2" not in cache:
        cache["B2"] = B.multiply(B).tocsr() if sp.issparse(B) else B * B
    diag_part = float(np.diagonal(Sinv)[:qr] * t_r * t_r @ (cache["B2"] @ mvec))
    if cp.Br0_dense is None:
        groups = cache.get(("pairs", m))
        if groups is None:
            groups = cache[("pairs", m)] = _pair_groups(cp, m)
        flat = Sinv.ravel()  # (C order: no copy)
        low = sum(theta[1 + i] * theta[1 + j] * float((Pt @ flat) @ mvec) for i, j, Pt in groups)
    else:
        Wrr = np.tril(Sinv[:qr, :qr]) * np.outer(t_r, t_r)
        low = float(np.sum((Wrr @ B) * B, axis=0) @ mvec)
    tr0 = 2.0 * low - diag_part
    tr0 += float(np.sum(1.0 / l00 ** 2))
    if reml:
        Gx = fac.Wx[:-1] / l00  # the fixed effects' rows of G
        Sxx = np.tril(Sinv[qr:m, qr:m])
        Sxx = Sxx + np.tril(Sxx, -1).T
        tr0 += float(np.sum((Sxx @ Gx) * Gx))
        Hxr = Sinv[qr:m, :qr] * t_r
        HB = (B.T @ Hxr.T).T
        tr0 += 2.0 * float(np.sum(HB * (t0 / l00 ** 2) * Gx))
    traces = [tr0]
    sq = [float(u0 @ u0)]
    d = np.diagonal(Sinv)[:qr]
    start = 0
    for nl in cp.nlevels[1:]:
        traces.append(float(d[start: start + nl].sum()))
        sq.append(float(u_rest[start: start + nl] @ u_rest[start: start + nl]))
        start += nl
    dof = cp.n - p if reml else cp.n
    q = np.asarray(cp.nlevels, dtype=float)
    positive = theta > 0
    safe = np.where(positive, theta, 1.0)
    grad = 2.0 * (q - np.asarray(traces)) / safe - 2.0 * dof * np.asarray(sq) / (fac.pwrss * safe)
    return np.where(positive, grad, 0.0)
