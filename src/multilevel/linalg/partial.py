"""Cross-products of one part of the data, about a center, and their exact sum.

Data too large for one machine's memory reach a linear mixed model only
through sums over the rows: the blocks of :class:`CrossProducts`. Each part of
the data (a partition of a Dask frame) computes its blocks; the parts are
summed pairwise (a tree reduction) and the objective never sees a row.

Sums of raw products lose the digits of a column such as ``x + 1e9`` (a time
stamp in seconds): ``sum(x^2)`` keeps none of its variation. So each part
centres its columns at its own means, and two parts are summed after moving
both to their common mean. The block of ``X`` and ``y`` gets a leading column
of ones (whether or not the model has an intercept); with it, centring is a
change of basis, ``v -> v - v[0] m``, and moving the center from ``a`` to
``b`` is the linear map ``U = I - (b - a) e_0'`` on every product of the
block: ``A -> U A U'`` (Chan, Golub and LeVeque's pairwise update of sums of
squares, for every block of the mixed model's system). A random-effects term
is centred the same way where it has an intercept column (and is
unstructured); other terms are summed raw.

The unweighted columns are also reduced to triangular factors, ``R`` with
``R'R = V'V`` (a tall-skinny QR: each part's QR, then the QR of two parts'
stacked factors). The standardisation of the design (Gram-Schmidt of ``X``
and of each term's ``Z``, :mod:`multilevel.design.standardize`) is computed
from them as accurately as from the rows, where a Cholesky factor of the
summed ``V'V`` would square the columns' condition number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..design.data import positive_rows
from .crossprod import CrossProducts, cross_products

__all__ = ["PartialProducts", "partial_products", "merge_partials"]


@dataclass(frozen=True)
class PartialProducts:
    """The cross-products of a part of the rows, about centers.

    Attributes
    ----------
    n : int
        Rows in the part.
    cp : CrossProducts
        Weighted products of ``[1, X - m, y - m]`` (a leading column of ones,
        the other columns centred: ``p`` counts the ones) and of each term's
        ``Z`` (centred where it has a column of ones); ``Br0`` is a sparse
        matrix.
    r_xy : ndarray (p + 2, p + 2)
        The triangular factor of the unweighted ``[1, X - m, y - m]``. This, the
        centers, ``r_z``, ``y_range``, ``z_mean`` and ``z_m2`` are statistics of the
        rows of positive weight (the data; all rows without weights).
    r_z : tuple of ndarray (k, k)
        Per term, the triangular factor of its unweighted (centred) ``Z``.
    counts : tuple of ndarray
        Per term, the number of rows of each level.
    center_xy : ndarray (p + 2,)
        The center of ``[1, X, y]`` (0 for the column of ones).
    center_z : tuple of ndarray (k,)
    one_z : tuple of (int or None)
        Per term, the position of its column of ones (None: not centred).
    y_range : tuple of float
        The smallest and largest response (offset not subtracted).
    rows_hash : int
        Which rows of the data were used (:func:`row_hash`).
    z_mean, z_m2 : tuple of ndarray (k,)
        Per term, the mean of each column and its sum of squares about the
        mean (merged by Chan, Golub and LeVeque's update: exact whatever the
        columns' offsets).
    n_positive : int
        Rows with a positive weight (all rows without weights).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> s = ml.datasets.load("sleepstudy")
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", s)
    >>> whole = partial_products(d, (0,))
    >>> halves = [partial_products(build_design("Reaction ~ Days + (Days | Subject)", part), (0,))
    ...           for part in (s.iloc[::2], s.iloc[1::2])]   # every subject in both halves
    >>> both = merge_partials(*halves)
    >>> bool(np.allclose(both.cp.Cxx, whole.cp.Cxx) and np.allclose(both.cp.D0, whole.cp.D0)
    ...      and np.allclose(both.cp.Bx0, whole.cp.Bx0))
    True
    >>> bool(np.allclose(both.r_xy.T @ both.r_xy, whole.r_xy.T @ whole.r_xy))
    True
    """

    n: int
    cp: CrossProducts
    r_xy: np.ndarray
    r_z: tuple
    counts: tuple
    center_xy: np.ndarray
    center_z: tuple
    one_z: tuple
    y_range: tuple
    rows_hash: int = 0
    z_mean: tuple = ()
    z_m2: tuple = ()
    n_positive: int = 0


def row_hash(part: int, rows: np.ndarray) -> int:
    """The sum, modulo 2**64, of a hash of each used row's place (its part and its
    position there): equal for the same rows of the same data, whatever the order
    of the sums, and different, but for chance, for another selection.

    Examples
    --------
    >>> row_hash(0, np.array([0, 1, 2])) == row_hash(0, np.array([2, 1, 0]))
    True
    >>> row_hash(0, np.array([0, 1])) == row_hash(1, np.array([0, 1]))
    False
    """
    import pandas as pd

    keys = np.asarray(rows, dtype=np.uint64) + np.uint64((part * 0x9E3779B97F4A7C15) % 2 ** 64)
    return int(pd.util.hash_array(keys).sum(dtype=np.uint64))


def _qr_r(A: np.ndarray) -> np.ndarray:
    """The triangular factor of ``A`` (square, ``R'R = A'A``)."""
    k = A.shape[1]
    if A.shape[0] == 0:
        return np.zeros((k, k))
    R = np.linalg.qr(A, mode="r")
    if R.shape[0] < k:  # fewer rows than columns: pad to square
        R = np.vstack([R, np.zeros((k - R.shape[0], k))])
    return R


def _mean(A: np.ndarray, one: int | None = 0) -> np.ndarray:
    """Column means, refined by the mean of what is left (a column such as ``1e9 + tiny``
    keeps its variation), 0 at the column of ones (None: no such column)."""
    if A.shape[0] == 0:
        return np.zeros(A.shape[1])
    m = A.mean(axis=0)
    m = m + (A - m[None, :]).mean(axis=0)
    if one is not None:
        m[one] = 0.0
    return m


def partial_products(design, one_z: tuple, rows_hash: int = 0) -> PartialProducts:
    """The :class:`PartialProducts` of a design's rows, centred at their means.

    Parameters
    ----------
    design : Design
        The rows of one part, with every term's levels those of the whole data
        (so that the blocks of the parts line up) and ``X`` before any column
        is dropped.
    one_z : tuple of (int or None)
        Per term, the position of its column of ones, or None (not centred).
    rows_hash : int
        :func:`row_hash` of the rows used.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> pp = partial_products(d, (0,))
    >>> pp.n, pp.center_xy.round(3).tolist(), pp.counts[0][:3].tolist(), pp.cp.Cxx.shape
    (180, [0.0, 1.0, 4.5, 298.508], [10, 10, 10], (4, 4))
    """
    from dataclasses import replace

    y = design.y if design.offset is None else design.y - design.offset
    n = design.n
    # the statistics (centres, unweighted factors, moments, the response's range) are those of
    # the rows of positive weight, the data: a row of weight 0 holding y = 1e10 had set the
    # centre, and the weighted products lost their digits about it
    pos = positive_rows(design.weights)
    ns = n if pos is None else int(np.count_nonzero(pos))

    def data(A):
        return A if pos is None else A[pos]

    V = np.column_stack([np.ones(n), design.X, y])
    m = _mean(data(V))
    Vc = V - m[None, :]
    terms, mz, rz = [], [], []
    for t, j0 in zip(design.terms, one_z):
        c = np.zeros(t.k)
        if j0 is not None and ns:
            c = _mean(data(t.Z), j0)
        Zc = t.Z - c[None, :] if j0 is not None else t.Z
        mz.append(c)
        rz.append(_qr_r(data(Zc)))
        terms.append(replace(t, Z=np.ascontiguousarray(Zc)))
    p = V.shape[1] - 1
    centred = replace(design, fixed=replace(design.fixed, X=np.ascontiguousarray(Vc[:, :p])),
                      y=np.ascontiguousarray(Vc[:, p]), offset=None, terms=tuple(terms))
    cp = cross_products(centred, counts=False, pairs=False)
    y_range = (float(data(design.y).min()), float(data(design.y).max())) if ns else (np.inf, -np.inf)
    return PartialProducts(
        n=n, cp=cp, r_xy=_qr_r(data(Vc)), r_z=tuple(rz),
        counts=tuple(np.bincount(t.codes, minlength=t.nlevels) for t in design.terms),
        center_xy=m, center_z=tuple(mz), one_z=tuple(one_z), y_range=y_range, rows_hash=rows_hash,
        z_mean=tuple(_mean(data(t.Z), None) for t in design.terms),
        z_m2=tuple(((data(t.Z) - _mean(data(t.Z), None)) ** 2).sum(axis=0) for t in design.terms),
        n_positive=ns)


def kept_columns(center_xy: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``A`` with ``X[:, keep] = [1, X - m, y - m] A``: the kept fixed-effects columns,
    uncentred, from the centred block of :class:`PartialProducts`.

    Examples
    --------
    >>> kept_columns(np.array([0.0, 1.0, 4.5, 298.5]), np.array([0, 1])).tolist()
    [[1.0, 4.5], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    """
    A = np.zeros((center_xy.size, keep.size))
    A[0, :] = center_xy[1 + keep]
    A[1 + keep, np.arange(keep.size)] = 1.0
    return A


def shift_matrix(k: int, one: int | None, delta: np.ndarray) -> np.ndarray:
    """``U = I - delta e_one'``: moves products centred at ``a`` to ``a + delta``.

    Examples
    --------
    >>> shift_matrix(2, 0, np.array([0.0, 2.0])).tolist()
    [[1.0, 0.0], [-2.0, 1.0]]
    """
    U = np.eye(k)
    if one is not None:
        U[:, one] -= delta
    return U


def _block_diag(U: np.ndarray, nlevels: int) -> sp.csr_matrix:
    """``I_nlevels kron U`` as a sparse matrix."""
    return sp.kron(sp.identity(nlevels, format="csr"), sp.csr_matrix(U), format="csr")


def transform_products(cp: CrossProducts, Kxy: np.ndarray, Kz) -> CrossProducts:
    """The products of ``[X y] Kxy`` and of every term's ``Z Kz[t]``:
    ``K' A K`` on every block (``Kxy`` may change the number of columns).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.linalg import cross_products
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> cp = transform_products(cross_products(d), 2.0 * np.eye(3), [np.eye(2)])
    >>> float(cp.Cxx[0, 0]), float(cp.D0[0, 0, 0])
    (720.0, 10.0)
    """
    from dataclasses import replace

    K0 = Kz[0]
    D0 = K0.T @ cp.D0 @ K0                                       # (batched over the levels)
    Bx0 = np.tensordot(Kxy, cp.Bx0, axes=(0, 0)) @ K0
    Br0, Crr, Crx = cp.Br0, cp.Crr, cp.Crx
    if Br0 is not None:
        KR = sp.block_diag([_block_diag(K, nl) for K, nl in zip(Kz[1:], cp.nlevels[1:])], format="csr")
        Br0 = (KR.T @ sp.csr_matrix(Br0) @ _block_diag(K0, cp.nlevels[0])).tocsr()
        Br0.sort_indices()
        Crr = (KR.T @ Crr @ KR).tocsr() if sp.issparse(Crr) else np.asarray(KR.T @ (KR.T @ Crr).T).T
        Crx = np.asarray(KR.T @ Crx) @ Kxy
    else:
        Crx = np.zeros((0, Kxy.shape[1]))
    return replace(cp, D0=D0, Bx0=Bx0, Br0=Br0, Crr=Crr, Crx=Crx, Cxx=Kxy.T @ cp.Cxx @ Kxy,
                   p=Kxy.shape[1] - 1, pairs=None, Br0_dense=None)


def recenter(pp: PartialProducts, center_xy: np.ndarray, center_z) -> PartialProducts:
    """The same products about new centers (exact in exact arithmetic).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> pp = partial_products(d, (0,))
    >>> raw = recenter(pp, np.zeros(4), (np.zeros(2),))
    >>> bool(np.allclose(raw.cp.Cxx[2, 2], (d.X[:, 1] ** 2).sum()))
    True
    """
    from dataclasses import replace

    Uxy = shift_matrix(len(center_xy), 0, center_xy - pp.center_xy)
    Uz = [shift_matrix(len(c), j0, c - c0) for c, j0, c0 in zip(center_z, pp.one_z, pp.center_z)]
    cp = transform_products(pp.cp, Uxy.T, [U.T for U in Uz])
    return replace(pp, cp=cp, r_xy=_qr_r(pp.r_xy @ Uxy.T),
                   r_z=tuple(_qr_r(R @ U.T) for U, R in zip(Uz, pp.r_z)),
                   center_xy=np.asarray(center_xy, dtype=float), center_z=tuple(center_z))


def add_products(a: CrossProducts | None, b: CrossProducts | None) -> CrossProducts | None:
    """The sum of two parts' products (about the same centers, or none); None adds nothing.

    Examples
    --------
    >>> add_products(None, None) is None
    True
    """
    if a is None:
        return b
    if b is None:
        return a
    from dataclasses import replace

    Br0 = None if a.Br0 is None else (sp.csr_matrix(a.Br0) + sp.csr_matrix(b.Br0)).tocsr()
    return replace(a, D0=a.D0 + b.D0, Bx0=a.Bx0 + b.Bx0, Br0=Br0, Crr=a.Crr + b.Crr, Crx=a.Crx + b.Crx,
                   Cxx=a.Cxx + b.Cxx, n=a.n + b.n, log_weights=a.log_weights + b.log_weights)


def merge_partials(a: PartialProducts | None, b: PartialProducts | None) -> PartialProducts | None:
    """The products of the rows of ``a`` and ``b`` together, about their common means.

    A part without rows (None, or ``n == 0``) adds nothing.

    Examples
    --------
    >>> merge_partials(None, None) is None
    True
    """
    if a is None or a.n == 0:
        return b
    if b is None or b.n == 0:
        return a
    from dataclasses import replace

    n = a.n + b.n
    ns = a.n_positive + b.n_positive  # (the statistics are of the rows of positive weight)
    wa, wb = (a.n_positive / ns, b.n_positive / ns) if ns else (0.5, 0.5)
    cxy = wa * a.center_xy + wb * b.center_xy
    cz = tuple(wa * ca + wb * cb for ca, cb in zip(a.center_z, b.center_z))
    a, b = recenter(a, cxy, cz), recenter(b, cxy, cz)
    return replace(a, n=n, cp=add_products(a.cp, b.cp), r_xy=_qr_r(np.vstack([a.r_xy, b.r_xy])),
                   r_z=tuple(_qr_r(np.vstack([x, y])) for x, y in zip(a.r_z, b.r_z)),
                   counts=tuple(x + y for x, y in zip(a.counts, b.counts)),
                   y_range=(min(a.y_range[0], b.y_range[0]), max(a.y_range[1], b.y_range[1])),
                   rows_hash=(a.rows_hash + b.rows_hash) % 2 ** 64,
                   z_mean=tuple(wa * x + wb * y for x, y in zip(a.z_mean, b.z_mean)),
                   z_m2=tuple(x + y + (xm - ym) ** 2 * (a.n_positive * b.n_positive / max(ns, 1))
                              for x, y, xm, ym in zip(a.z_m2, b.z_m2, a.z_mean, b.z_mean)),
                   n_positive=a.n_positive + b.n_positive)
