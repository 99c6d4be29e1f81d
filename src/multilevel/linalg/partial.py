"""Cross-products of one part of the data, about a center, and their exact sum.

Data too large for one machine's memory reach a linear mixed model only
through sums over the rows: the blocks of :class:`CrossProducts`. Each part of
the data (a partition of a Dask frame) computes its blocks; the parts are
summed pairwise (a tree reduction) and the objective never sees a row.

Sums of raw products lose the digits of a column such as ``x + 1e9`` (a time
stamp in seconds): ``sum(x^2)`` keeps none of its variation. So each part
centres its columns at its own means, and two parts are summed after moving
both to their common mean. Where a block has a column of ones (the intercept
of ``X``, or of an unstructured random-effects term), centring is a change of
basis, ``v -> v - v[j0] m``, and moving the center from ``a`` to ``b`` is the
linear map ``U = I - (b - a) e_j0'`` on every product of that block:
``A -> U A U'`` (Chan, Golub and LeVeque's pairwise update of sums of squares,
for every block of the mixed model's system). Blocks without such a column
are summed raw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

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
        Weighted products of the centred columns ``[X y]`` and of each term's
        centred ``Z`` (``Br0`` a sparse matrix).
    gram_xy : ndarray (p + 1, p + 1)
        Unweighted ``[X y]'[X y]`` of the centred columns (the standardisation
        of the design is computed from the unweighted columns).
    gram_z : tuple of ndarray (k, k)
        Per term, the unweighted ``Z'Z`` of its centred columns over all levels.
    counts : tuple of ndarray
        Per term, the number of rows of each level.
    center_xy : ndarray (p + 1,)
        The center of ``[X y]`` (0 at the column of ones and where nothing is
        centred).
    one_xy : int or None
        Position of the column of ones in ``X`` (None: nothing centred).
    center_z : tuple of ndarray (k,)
    one_z : tuple of (int or None)

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> s = ml.datasets.load("sleepstudy")
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", s)
    >>> whole = partial_products(d, 0, (0,))
    >>> halves = [partial_products(build_design("Reaction ~ Days + (Days | Subject)", part), 0, (0,))
    ...           for part in (s.iloc[::2], s.iloc[1::2])]   # every subject in both halves
    >>> both = merge_partials(*halves)
    >>> bool(np.allclose(both.cp.Cxx, whole.cp.Cxx) and np.allclose(both.cp.D0, whole.cp.D0)
    ...      and np.allclose(both.cp.Bx0, whole.cp.Bx0) and np.allclose(both.gram_z[0], whole.gram_z[0]))
    True
    """

    n: int
    cp: CrossProducts
    gram_xy: np.ndarray
    gram_z: tuple
    counts: tuple
    center_xy: np.ndarray
    one_xy: int | None
    center_z: tuple
    one_z: tuple


def _means(A: np.ndarray, one: int | None) -> np.ndarray:
    """Column means of ``A`` with 0 at the column of ones (nothing without one)."""
    if one is None or A.shape[0] == 0:
        return np.zeros(A.shape[1])
    m = A.mean(axis=0)
    m[one] = 0.0
    return m


def partial_products(design, one_xy: int | None, one_z: tuple) -> PartialProducts:
    """The :class:`PartialProducts` of a design's rows, centred at their means.

    Parameters
    ----------
    design : Design
        The rows of one part, with every term's levels those of the whole data
        (so that the blocks of the parts line up) and ``X`` before any column
        is dropped.
    one_xy : int or None
        Position of the column of ones of ``X`` (None: no centring).
    one_z : tuple of (int or None)
        Per term, the position of its column of ones, or None.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> pp = partial_products(d, 0, (0,))
    >>> pp.n, pp.center_xy.round(3).tolist(), pp.counts[0][:3].tolist()
    (180, [0.0, 4.5, 298.508], [10, 10, 10])
    """
    from dataclasses import replace

    y = design.y if design.offset is None else design.y - design.offset
    Xy = np.column_stack([design.X, y])
    mxy = _means(Xy, one_xy)
    Xyc = Xy - mxy[None, :] if one_xy is not None else Xy
    terms, mz = [], []
    for t, j0 in zip(design.terms, one_z):
        m = _means(t.Z, j0)
        mz.append(m)
        terms.append(replace(t, Z=np.ascontiguousarray(t.Z - m[None, :])) if j0 is not None else t)
    p = design.X.shape[1]
    centred = replace(design, fixed=replace(design.fixed, X=np.ascontiguousarray(Xyc[:, :p])),
                      y=np.ascontiguousarray(Xyc[:, p]), offset=None, terms=tuple(terms))
    cp = cross_products(centred, counts=False)
    if cp.Br0 is not None:
        cp = replace(cp, pairs=None, Br0_dense=None)
    return PartialProducts(
        n=design.n, cp=cp, gram_xy=Xyc.T @ Xyc, gram_z=tuple(t.Z.T @ t.Z for t in terms),
        counts=tuple(np.bincount(t.codes, minlength=t.nlevels) for t in design.terms),
        center_xy=mxy, one_xy=one_xy, center_z=tuple(mz), one_z=tuple(one_z))


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


def recenter(pp: PartialProducts, center_xy: np.ndarray, center_z) -> PartialProducts:
    """The same products about new centers (exact in exact arithmetic).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> pp = partial_products(d, 0, (0,))
    >>> raw = recenter(pp, np.zeros(3), (np.zeros(2),))
    >>> bool(np.allclose(raw.cp.Cxx[1, 1], (d.X[:, 1] ** 2).sum()))
    True
    """
    from dataclasses import replace

    cp = pp.cp
    Uxy = shift_matrix(len(center_xy), pp.one_xy, center_xy - pp.center_xy)
    Uz = [shift_matrix(len(c), j0, c - c0) for c, j0, c0 in zip(center_z, pp.one_z, pp.center_z)]
    U0 = Uz[0]
    D0 = np.einsum("ab,gbc,dc->gad", U0, cp.D0, U0)
    Bx0 = np.einsum("ab,bgc,dc->agd", Uxy, cp.Bx0, U0)
    Br0, Crr, Crx = cp.Br0, cp.Crr, cp.Crx
    if Br0 is not None:
        UR = sp.block_diag([_block_diag(U, nl) for U, nl in zip(Uz[1:], cp.nlevels[1:])], format="csr")
        Br0 = (UR @ sp.csr_matrix(Br0) @ _block_diag(U0, cp.nlevels[0]).T).tocsr()
        Crr = np.asarray(UR @ (UR @ Crr).T).T
        Crx = np.asarray(UR @ Crx) @ Uxy.T
    new_cp = replace(cp, D0=D0, Bx0=Bx0, Br0=Br0, Crr=Crr, Crx=Crx, Cxx=Uxy @ cp.Cxx @ Uxy.T)
    return replace(pp, cp=new_cp, gram_xy=Uxy @ pp.gram_xy @ Uxy.T,
                   gram_z=tuple(U @ G @ U.T for U, G in zip(Uz, pp.gram_z)),
                   center_xy=np.asarray(center_xy, dtype=float), center_z=tuple(center_z))


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
    wa, wb = a.n / n, b.n / n
    cxy = wa * a.center_xy + wb * b.center_xy
    cz = tuple(wa * ca + wb * cb for ca, cb in zip(a.center_z, b.center_z))
    a, b = recenter(a, cxy, cz), recenter(b, cxy, cz)
    ca, cb = a.cp, b.cp
    Br0 = None if ca.Br0 is None else (sp.csr_matrix(ca.Br0) + sp.csr_matrix(cb.Br0)).tocsr()
    cp = replace(ca, D0=ca.D0 + cb.D0, Bx0=ca.Bx0 + cb.Bx0, Br0=Br0, Crr=ca.Crr + cb.Crr,
                 Crx=ca.Crx + cb.Crx, Cxx=ca.Cxx + cb.Cxx, n=n,
                 log_weights=ca.log_weights + cb.log_weights)
    return replace(a, n=n, cp=cp, gram_xy=a.gram_xy + b.gram_xy,
                   gram_z=tuple(x + y for x, y in zip(a.gram_z, b.gram_z)),
                   counts=tuple(x + y for x, y in zip(a.counts, b.counts)))
