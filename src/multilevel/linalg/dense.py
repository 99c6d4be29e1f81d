"""Cholesky factors of large dense blocks, in blocks that OpenBLAS factorises safely.

The OpenBLAS that numpy and scipy ship (0.3.30 and 0.3.31, x86-64) ends the
process with a segmentation fault when its threaded Cholesky (``dpotrf``, and
so ``numpy.linalg.cholesky``) factorises a matrix of more than about 15,600
rows: the dense block of a crossed model whose second factor has 20,000 levels
(users x items) is one. On one thread it is safe but 1.6 times slower. A
block of more than ``LARGE`` rows is therefore factorised as 2 x 2 blocks
(recursively): ``L11`` of the leading block, ``L21 = A21 L11^-T`` (``dtrsm``),
the trailing block less ``L21 L21'`` (``dsyrk``) and its factor, every call on
at most ``LARGE`` rows and with the library's threads (as fast as one call).
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.blas import dsyrk, dtrsm
from scipy.linalg.lapack import dpotrf, dpotri

from .threads import blas_threads

__all__ = ["LARGE", "cholesky_lower", "inverse_from_factor", "large_block_threads"]

#: dense blocks of more rows than this are factorised in blocks (see the module's note)
LARGE = 12_000


def cholesky_lower(A: np.ndarray, out: np.ndarray | None = None, limit: int | None = None) -> tuple[np.ndarray, int]:
    """The lower Cholesky factor of the symmetric ``A`` (its lower triangle is read), as
    LAPACK's ``dpotrf`` returns it: ``(L, info)``, ``info`` > 0 the order of the first
    leading minor that is not positive definite. A matrix of more than ``limit`` rows is
    factorised in blocks of at most ``limit`` rows.

    Parameters
    ----------
    A : ndarray (n, n)
    out : ndarray (n, n), Fortran-ordered, optional
        Where to write the factor; it may be ``A``'s memory (``A.T`` of a C-ordered ``A``
        whose lower triangle is given): ``A`` is read in full before ``out`` is written.
    limit : int, optional
        The most rows one LAPACK call factorises (``LARGE``).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> G = rng.standard_normal((9, 9)); A = G @ G.T + 9 * np.eye(9)
    >>> L, info = cholesky_lower(A, limit=4)
    >>> info, bool(np.allclose(L @ L.T, A)), bool(np.allclose(L, np.linalg.cholesky(A)))
    (0, True, True)
    """
    n = A.shape[0]
    limit = LARGE if limit is None else int(limit)
    if n <= limit:
        in_place = out is A and A.flags.f_contiguous
        L, info = dpotrf(A if in_place else np.asfortranarray(A), lower=1, clean=1, overwrite_a=1)
        if out is not None and not in_place:
            out[...] = L
            L = out
        return L, info
    m = n // 2
    L11, info = cholesky_lower(A[:m, :m], limit=limit)
    if info != 0:
        return L11, info
    # X L11' = A21, then the trailing block less X X' (its lower triangle; dpotrf reads no more)
    L21 = dtrsm(1.0, L11, np.asfortranarray(A[m:, :m]), side=1, lower=1, trans_a=1, overwrite_b=1)
    C = dsyrk(-1.0, L21, beta=1.0, c=np.asfortranarray(A[m:, m:]), lower=1, overwrite_c=1)
    L22, info = cholesky_lower(C, out=C, limit=limit)
    if info:  # (L22 may be a leading piece of the trailing block: the caller reads info only)
        return L22, info + m
    out = np.empty((n, n), order="F") if out is None else out
    out[:m, :m] = L11
    out[m:, :m] = L21
    out[:m, m:] = 0.0
    out[m:, m:] = L22
    return out, 0


def large_block_threads(n: int):
    """A context for LAPACK calls other than the factorisation (an inverse, ``dpotri``) on
    a block of ``n`` rows: one BLAS thread above ``LARGE`` rows (see the module's note), the
    library's threads else.

    Examples
    --------
    >>> with large_block_threads(10):
    ...     float(np.linalg.det(np.eye(2)))
    1.0
    """
    return blas_threads(1 if n > LARGE else None)


def inverse_from_factor(L: np.ndarray) -> np.ndarray:
    """``(L L')^-1`` from the lower factor ``L`` (LAPACK's ``dpotri``, on one thread beyond
    ``LARGE`` rows): a C-ordered array whose lower triangle holds it (the upper is not set).
    LAPACK gets the upper factor ``L'`` in its own (column) order, so no copy is a transpose.

    Examples
    --------
    >>> A = np.array([[4.0, 2.0], [2.0, 3.0]])
    >>> bool(np.allclose(np.tril(inverse_from_factor(np.linalg.cholesky(A))), np.tril(np.linalg.inv(A))))
    True
    """
    with large_block_threads(L.shape[0]):
        inv_t, info = dpotri(L.T, lower=0)
    if info != 0:  # pragma: no cover - the factor is positive definite
        raise np.linalg.LinAlgError(f"dpotri failed with info {info}")
    return inv_t.T
