"""The Laplace curvature when some observations' information is negative.

A family with a dispersion parameter takes the Laplace approximation's
curvature from the observed information of each linear predictor, as glmmTMB
does; for some (NB1 counts far above their mean) it is negative. The blocked
Cholesky factor works with square roots of the weights, so these rare cases
form ``Lambda' Z' W Z Lambda + I`` as a sparse matrix and factor it by a
sparse LU decomposition with a symmetric ordering and no pivoting, whose
diagonal is positive exactly when the matrix is positive definite.

Examples
--------
>>> import multilevel as ml
>>> from multilevel.design import build_design
>>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
>>> bool(np.isclose(signed_logdet(d.terms, [np.eye(1)], np.ones(180)), 18 * np.log(11.0)))
True
>>> M = curvature_matrix(d.terms, [np.eye(1)], np.ones(180))
>>> bool(np.isclose(np.linalg.slogdet(M.toarray())[1], 18 * np.log(11.0)))
True
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from ..linalg import NotPositiveDefinite
from ..linalg.crossprod import term_matrix

__all__ = ["curvature_matrix", "signed_logdet", "conditional_blocks"]


def curvature_matrix(terms, T, w: np.ndarray) -> sp.csc_matrix:
    """``Lambda' Z' W Z Lambda + I`` (sparse, q x q) for weights ``w`` of any sign."""
    blocks = [term_matrix(t) @ sp.kron(sp.identity(t.nlevels), sp.csr_matrix(Tt)) for t, Tt in zip(terms, T)]
    ZL = sp.hstack(blocks, format="csr")
    return (ZL.T @ sp.diags(np.asarray(w, dtype=float)) @ ZL + sp.identity(ZL.shape[1])).tocsc()


def _lu(M):
    try:
        lu = splu(M, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                  options={"SymmetricMode": True})
    except RuntimeError:  # exactly singular
        raise NotPositiveDefinite("the Laplace curvature is singular") from None
    d = lu.U.diagonal()
    if np.any(d <= 0) or np.any(lu.perm_r != lu.perm_c):
        raise NotPositiveDefinite("the Laplace curvature is not positive definite")
    return lu, d


def signed_logdet(terms, T, w: np.ndarray) -> float:
    """log det(Lambda' Z' W Z Lambda + I) for weights ``w`` of any sign
    (NotPositiveDefinite where the matrix is not positive definite)."""
    if len(terms) == 1 and terms[0].k == 1:  # one scalar term: a diagonal matrix
        t, zc = float(T[0][0, 0]), terms[0].Z[:, 0]
        diag = t * t * np.bincount(terms[0].codes, weights=w * zc * zc, minlength=terms[0].nlevels) + 1.0
        if not np.all(diag > 0):
            raise NotPositiveDefinite("the Laplace curvature is not positive definite")
        return float(np.sum(np.log(diag)))
    return float(np.sum(np.log(_lu(curvature_matrix(terms, T, w))[1])))


def conditional_blocks(M: sp.csc_matrix, terms) -> list[np.ndarray]:
    """The diagonal blocks of ``M^-1`` per term and level: arrays ``(levels, k, k)``."""
    lu, _ = _lu(M)
    out, start = [], 0
    for t in terms:
        cols = lu.solve(np.eye(M.shape[0])[:, start:start + t.q])[start:start + t.q]
        idx = np.arange(t.q).reshape(t.nlevels, t.k)
        out.append(cols[idx[:, :, None], idx[:, None, :]])
        start += t.q
    return out
