"""Cross-products of the design, computed once per fit.

The system matrix is laid out as ``[u0 | u_rest | X | y]`` where ``u0`` are the
random effects of the first (largest) term. The first term's diagonal block is
block diagonal and stored as ``(levels, k, k)``; the other random terms and the
fixed effects form a dense "rest" block, coupled to the first term through a
sparse block ``B_r0`` and a dense block ``B_x0``. No n x q matrix is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..design import Design, RandomTerm
from . import kernels

__all__ = ["CrossProducts", "PairProduct", "WeightedProducts", "cross_products", "pair_product",
           "term_matrix", "weighted_products"]

#: up to this many random effects in the other terms, B M B' is formed densely
DENSE_REST = 200
#: the pair structure (``PairProduct.P``) is stored up to this many entries (16 bytes each);
#: beyond, each product is formed by a compiled loop over the pairs (a crossed design with
#: 100 rows per level of its first factor and 100,000 levels has 500 million pairs)
MAX_PAIRS = 30_000_000
#: the other terms' own products ``Crr`` are a dense array up to this many random effects and
#: a sparse matrix beyond (a crossed factor with 20,000 levels: 3.2 GB dense, its diagonal sparse)
SPARSE_CRR = 2000
#: cross_products counts its products over precomputed indices up to this many
#: index entries (observations x products per observation); the sparse path beyond
_COUNT_ENTRIES = 20_000_000


@dataclass(frozen=True)
class PairProduct:
    """Fixed sparsity of ``G = B blockdiag(M_g) B'`` for a sparse ``B`` (q_r x n0 k0).

    ``P @ vec(M)``, where ``vec(M)`` stacks the n0 blocks ``M_g`` (k0 x k0)
    row-major, is a row-major ``stride x stride`` matrix whose leading
    ``q_r x q_r`` lower triangle is that of ``G`` (zeros elsewhere). Forming
    ``P`` once turns each evaluation's sparse product into one sparse
    matrix-vector product that writes straight into the Schur complement's layout.

    Examples
    --------
    >>> pp = pair_product(sp.csr_matrix(np.array([[1., 2, 0], [0, 3, 4]])), 1)
    >>> pp.stride, pp.P.shape
    (2, (4, 3))
    """

    P: sp.csr_matrix | sp.csc_matrix | None
    stride: int
    #: where ``P`` would hold more than ``MAX_PAIRS`` entries (a first term of one column):
    #: the per-level rows and values of ``B`` (starts, counts, rows, values) that a compiled
    #: loop multiplies out at each product instead (memory of ``B``, not of its pairs)
    direct: tuple | None = None

    def product(self, w: np.ndarray) -> np.ndarray:
        """``P @ w``, the flat ``stride x stride`` lower triangle of ``B blockdiag(w) B'``.

        Examples
        --------
        >>> B = sp.csr_matrix(np.array([[1., 2, 0], [0, 3, 4]]))
        >>> w = np.array([1., 10, 100])
        >>> bool(np.array_equal(pair_product(B, 1, 3, max_pairs=0).product(w), pair_product(B, 1, 3).product(w)))
        True
        """
        if self.P is not None:
            return self.P @ w
        out = np.zeros(self.stride * self.stride)
        kernels.compiled("scalar_pairs_product")(*self.direct, np.ascontiguousarray(w, dtype=float),
                                                 np.int64(self.stride), out)
        return out


def pair_product(B: sp.csr_matrix, k0: int, stride: int | None = None,
                 max_pairs: int | None = None) -> PairProduct:
    """Precompute :class:`PairProduct` for ``B`` with block columns of width ``k0``; for a
    first term of one column with more than ``max_pairs`` pairs (``MAX_PAIRS``), only what a
    compiled loop needs to form each product.

    Examples
    --------
    >>> B = sp.csr_matrix(np.array([[1., 2, 0], [0, 3, 4]]))
    >>> pp = pair_product(B, 1, stride=3)
    >>> (pp.P @ np.array([1., 10, 100])).reshape(3, 3)
    array([[  41.,    0.,    0.],
           [  60., 1690.,    0.],
           [   0.,    0.,    0.]])
    """
    q, ncol = B.shape
    stride = q if stride is None else stride
    n0 = ncol // k0
    coo = B.tocoo()
    g = coo.col // k0
    # one entry per (level, row of B) holding its k0-vector, sorted by level then row
    key = g.astype(np.int64) * q + coo.row
    ukey, inv = np.unique(key, return_inverse=True)
    vec = np.zeros((ukey.size, k0))
    np.add.at(vec, (inv, coo.col % k0), coo.data)
    lev = ukey // q
    row = ukey % q
    # all pairs (a >= c) of entries within each level; rows ascend within a level,
    # so row[a] >= row[c] and each pair lands in the lower triangle
    starts = np.searchsorted(lev, np.arange(n0))
    counts = np.diff(np.append(starts, ukey.size))
    npairs = counts * (counts + 1) // 2
    total = int(npairs.sum())
    if k0 == 1 and kernels.available() and total > (MAX_PAIRS if max_pairs is None else max_pairs):
        return PairProduct(P=None, stride=stride, direct=(starts.astype(np.int64), counts.astype(np.int64),
                                                          row.astype(np.int64), np.ascontiguousarray(vec[:, 0])))
    if k0 == 1 and kernels.available():
        # one loop, no index arrays of all pairs (InstEval: 1.3 million pairs)
        data, indices = np.empty(total), np.empty(total, dtype=np.int64)
        kernels.compiled("scalar_pairs")(starts.astype(np.int64), counts.astype(np.int64), row.astype(np.int64),
                                         np.ascontiguousarray(vec[:, 0]), np.int64(stride), data, indices)
        indptr = np.concatenate([[0], np.cumsum(npairs)])
        return PairProduct(P=sp.csc_matrix((data, indices, indptr), shape=(stride * stride, n0)), stride=stride)
    pair_level = np.repeat(np.arange(n0), npairs)
    local = np.arange(total) - np.repeat(np.cumsum(npairs) - npairs, npairs)
    a = ((np.sqrt(8.0 * local + 1.0) - 1.0) // 2).astype(np.int64)
    a += (a + 1) * (a + 2) // 2 <= local  # guard against rounding
    a -= a * (a + 1) // 2 > local
    c = local - a * (a + 1) // 2
    base = starts[pair_level]
    ia, ic = base + a, base + c
    flat = row[ia] * stride + row[ic]
    kk = k0 * k0
    if k0 == 1:
        # pairs come grouped by level, i.e. by column: build the CSC arrays directly
        indptr = np.concatenate([[0], np.cumsum(npairs)])
        P = sp.csc_matrix((vec[ia, 0] * vec[ic, 0], flat, indptr), shape=(stride * stride, n0))
        return PairProduct(P=P, stride=stride)
    else:
        w = (vec[ia][:, :, None] * vec[ic][:, None, :]).reshape(-1)
        rows = np.repeat(flat, kk)
        cols = (pair_level[:, None] * kk + np.arange(kk)[None, :]).reshape(-1)
    # duplicates (the same cell from several levels) are summed by the product
    P = sp.csr_matrix((w, (rows, cols)), shape=(stride * stride, n0 * kk))
    return PairProduct(P=P, stride=stride)


@dataclass(frozen=True)
class CrossProducts:
    """Weighted cross-products of Z, X and y that the objective needs.

    Attributes
    ----------
    D0 : ndarray (n0, k0, k0)
        Per-level ``Z0'Z0`` blocks of the first term.
    Bx0 : ndarray (p + 1, n0, k0)
        ``[X y]'Z0`` arranged by level.
    Br0 : scipy.sparse.csr_matrix (q_r, q0) or None
        ``Z_rest'Z0`` for the other random terms.
    Crr : ndarray or scipy.sparse.csr_matrix (q_r, q_r)
        ``Z_rest'Z_rest`` (sparse beyond ``SPARSE_CRR`` random effects).
    Crx : ndarray (q_r, p + 1)
        ``Z_rest'[X y]``.
    Cxx : ndarray (p + 1, p + 1)
        ``[X y]'[X y]``.
    n, p : int
        Rows of positive weight (all rows without weights: a row of weight 0 is not data)
        and fixed-effects columns.
    log_weights : float
        Sum of the log prior weights (zero without weights).
    k, nlevels : tuple of int
        Number of columns and of levels of every random term, first term first.
    pairs : PairProduct or None
        Precomputed sparsity of ``B_r0 blockdiag(M_g) B_r0'`` (None with one term).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    >>> cp = cross_products(d)
    >>> cp.n0, cp.k0, cp.q0, cp.q_rest, cp.n, cp.p
    (24, 1, 24, 6, 144, 1)
    >>> cp.Br0.shape, cp.Crr.shape, cp.Cxx.shape, cp.k, cp.nlevels
    ((6, 24), (6, 6), (2, 2), (1, 1), (24, 6))
    """

    D0: np.ndarray
    Bx0: np.ndarray
    Br0: sp.csr_matrix | None
    Crr: np.ndarray
    Crx: np.ndarray
    Cxx: np.ndarray
    n: int
    p: int
    log_weights: float
    k: tuple[int, ...]
    nlevels: tuple[int, ...]
    pairs: PairProduct | None = None
    Br0_dense: np.ndarray | None = None

    @property
    def n0(self) -> int:
        """Number of levels of the first random term."""
        return self.D0.shape[0]

    @property
    def k0(self) -> int:
        """Number of random effects per level of the first term."""
        return self.D0.shape[1]

    @property
    def q0(self) -> int:
        """Number of random effects of the first term (``n0 * k0``)."""
        return self.n0 * self.k0

    @property
    def q_rest(self) -> int:
        """Number of random effects of the other terms."""
        return self.Crr.shape[0]


def term_matrix(term: RandomTerm, Zw: np.ndarray | None = None) -> sp.csr_matrix:
    """Sparse n x (levels * k) indicator-times-covariate matrix of one term.

    Parameters
    ----------
    term : RandomTerm
    Zw : ndarray (n, k), optional
        Values to use instead of ``term.Z`` (e.g. weighted ones).

    Returns
    -------
    scipy.sparse.csr_matrix (n, levels * k)
        Row i holds row i of Z in the k columns of observation i's level.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> Z = term_matrix(d.terms[0])
    >>> Z.shape, Z.nnz
    ((180, 36), 360)
    >>> Z[:3, :2].toarray().tolist()  # first subject: (Intercept), Days
    [[1.0, 0.0], [1.0, 1.0], [1.0, 2.0]]
    """
    Z = term.Z if Zw is None else Zw
    n, k = Z.shape
    rows = np.repeat(np.arange(n), k)
    cols = (term.codes[:, None] * k + np.arange(k)[None, :]).ravel()
    return sp.csr_matrix((Z.ravel(), (rows, cols)), shape=(n, term.nlevels * k))


def _grouped_crossprod(codes: np.ndarray, nlev: int, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Per-level sums of outer products: out[g, a, b] = sum_{i in g} A[i, a] B[i, b]."""
    na, nb = A.shape[1], B.shape[1]
    out = np.empty((nlev, na, nb))
    for a in range(na):
        for b in range(nb):
            out[:, a, b] = np.bincount(codes, weights=A[:, a] * B[:, b], minlength=nlev)
    return out


def cross_products(design: Design, counts: bool = True, pairs: bool = True) -> CrossProducts:
    """Compute the cross-products of a design (weights applied, offset subtracted).

    With several random-effects terms whose later terms have few random
    effects, the products are counted over precomputed indices
    (:class:`WeightedProducts`); ``counts=False`` builds them from sparse term
    matrices instead (the tests' reference for the counts).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> cp = cross_products(d)
    >>> cp.D0.shape, cp.Bx0.shape, cp.q_rest
    ((18, 2, 2), (3, 18, 2), 0)
    """
    y = design.y if design.offset is None else design.y - design.offset
    terms = design.terms
    if counts and len(terms) > 1:
        # few further random effects: the count-based products skip scipy's
        # sparse construction (a millisecond of overhead on a small design)
        wp = weighted_products(design, max_entries=_COUNT_ENTRIES)
        if wp is not None:
            w = design.weights if design.weights is not None else np.ones(design.n)
            return wp(y, w)
    Xy = np.column_stack([design.X, y])
    if design.weights is not None:
        sw = np.sqrt(design.weights)
        Xy = Xy * sw[:, None]
        Zs = [t.Z * sw[:, None] for t in terms]
        pos = design.weights > 0
        log_w = float(np.sum(np.log(design.weights[pos])))
    else:
        Zs = [t.Z for t in terms]
        log_w = 0.0
    t0 = terms[0]
    D0 = _grouped_crossprod(t0.codes, t0.nlevels, Zs[0], Zs[0])
    Bx0 = _grouped_crossprod(t0.codes, t0.nlevels, Xy, Zs[0]).transpose(1, 0, 2).copy()
    if len(terms) > 1:
        Zr = sp.hstack([term_matrix(t, Z) for t, Z in zip(terms[1:], Zs[1:])], format="csr")
        Z0 = term_matrix(t0, Zs[0])
        ZrT = Zr.T.tocsr()
        Br0 = (ZrT @ Z0).tocsr()
        Br0.sort_indices()
        Crr = (ZrT @ Zr).tocsr()
        Crr = Crr if Crr.shape[0] > SPARSE_CRR else Crr.toarray()
        Crx = np.asarray(ZrT @ Xy)
        # the pair structure pays for itself when the other terms have many random
        # effects (InstEval: 1,128); for a few dozen a dense product is cheaper
        # (``pairs=False``: neither, for a part of the data whose sums the client adds)
        many, build = Crr.shape[0] > DENSE_REST, pairs
        pairs = pair_product(Br0, t0.k, stride=Crr.shape[0] + Xy.shape[1]) if many and build else None
        Br0_dense = Br0.toarray() if not many and build else None
    else:
        Br0 = None
        pairs = None
        Br0_dense = None
        Crr = np.zeros((0, 0))
        Crx = np.zeros((0, Xy.shape[1]))
    Cxx = Xy.T @ Xy
    return CrossProducts(
        D0=D0, Bx0=Bx0, Br0=Br0, Crr=Crr, Crx=Crx, Cxx=Cxx,
        # (a row of weight 0 is not data: it counts in no n, as in R's lm)
        n=design.n if design.weights is None else int(np.count_nonzero(design.weights > 0)), p=design.p,
        log_weights=log_w, k=tuple(t.k for t in terms), nlevels=tuple(t.nlevels for t in terms),
        pairs=pairs, Br0_dense=Br0_dense,
    )


@dataclass(frozen=True)
class WeightedProducts:
    """The cross-products of one design under weights and a response that change
    from call to call (PIRLS), by weighted counts over precomputed indices.

    For designs whose terms after the first have few random effects (at most
    ``DENSE_REST``), every block the factorisation needs is a sum over the
    observations of products of a few fixed numbers: each call is a handful of
    ``numpy.bincount`` calls and one sparse-dense product, where
    :func:`cross_products` would build the sparse term matrices again (a random
    slope GLMM calls it thousands of times).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    >>> wp = weighted_products(d)
    >>> w = np.linspace(0.5, 2.0, d.n)
    >>> from dataclasses import replace
    >>> ref = cross_products(replace(d, weights=w), counts=False)
    >>> cp = wp(d.y, w)
    >>> bool(np.allclose(cp.Crr, ref.Crr) and np.allclose(cp.Br0_dense, ref.Br0_dense))
    True
    """

    design: Design
    ZrT: sp.csr_matrix
    br_index: np.ndarray
    br_value: np.ndarray
    rr_index: np.ndarray
    rr_value: np.ndarray
    q_rest: int

    def __call__(self, y: np.ndarray, weights: np.ndarray) -> CrossProducts:
        """The :class:`CrossProducts` of the design with response ``y`` and ``weights``."""
        d = self.design
        terms = d.terms
        t0 = terms[0]
        w = np.asarray(weights, dtype=float)
        sw = np.sqrt(w)
        Xy = np.column_stack([d.X, y])
        Xyw = Xy * sw[:, None]
        Z0w = t0.Z * sw[:, None]
        D0 = _grouped_crossprod(t0.codes, t0.nlevels, Z0w, Z0w)
        Bx0 = _grouped_crossprod(t0.codes, t0.nlevels, Xyw, Z0w).transpose(1, 0, 2).copy()
        qr, q0 = self.q_rest, t0.q
        Br0 = np.bincount(self.br_index, weights=(self.br_value * w[:, None]).ravel(),
                          minlength=qr * q0).reshape(qr, q0)
        Crr = np.bincount(self.rr_index, weights=(self.rr_value * w[:, None]).ravel(),
                          minlength=qr * qr).reshape(qr, qr)
        Crx = np.asarray(self.ZrT @ (Xy * w[:, None]))
        pos = w > 0
        return CrossProducts(
            D0=D0, Bx0=Bx0, Br0=Br0, Crr=Crr, Crx=Crx, Cxx=Xyw.T @ Xyw, n=int(np.count_nonzero(pos)), p=d.p,
            log_weights=float(np.sum(np.log(w[pos]))), k=tuple(t.k for t in terms),
            nlevels=tuple(t.nlevels for t in terms), pairs=None, Br0_dense=Br0,
        )


def weighted_products(design: Design, max_entries: int | None = None) -> WeightedProducts | None:
    """A :class:`WeightedProducts` of ``design``, or None where it does not apply
    (one random-effects term, or more than ``DENSE_REST`` random effects after
    the first term, or more than ``max_entries`` index entries).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> weighted_products(d) is None
    True
    """
    terms = design.terms
    if len(terms) < 2:
        return None
    rest = terms[1:]
    q_rest = sum(t.q for t in rest)
    if q_rest > DENSE_REST:
        return None
    t0 = terms[0]
    m_rest = sum(t.k for t in rest)
    if max_entries is not None and design.n * m_rest * (t0.k + m_rest) > max_entries:
        return None
    # each observation's column in the rest block and its value, per rest column
    idx, val, start = [], [], 0
    for t in rest:
        idx.append(start + t.codes[:, None] * t.k + np.arange(t.k)[None, :])
        val.append(t.Z)
        start += t.q
    R_idx = np.concatenate(idx, axis=1)
    R_val = np.concatenate(val, axis=1)
    n, m = R_idx.shape
    c0 = t0.codes[:, None] * t0.k + np.arange(t0.k)[None, :]
    br_index = (R_idx[:, :, None] * t0.q + c0[:, None, :]).reshape(n, -1)
    br_value = (R_val[:, :, None] * t0.Z[:, None, :]).reshape(n, -1)
    rr_index = (R_idx[:, :, None] * q_rest + R_idx[:, None, :]).reshape(n, -1)
    rr_value = (R_val[:, :, None] * R_val[:, None, :]).reshape(n, -1)
    rows = R_idx.ravel()
    cols = np.repeat(np.arange(n), m)
    ZrT = sp.csr_matrix((R_val.ravel(), (rows, cols)), shape=(q_rest, n))
    return WeightedProducts(design=design, ZrT=ZrT, br_index=br_index.ravel(), br_value=br_value,
                            rr_index=rr_index.ravel(), rr_value=rr_value, q_rest=q_rest)
