"""Weighted PLS solves for models whose random-effects terms are all scalar.

Most GLMMs have only random intercepts (or single random slopes): crossed
items and persons, nested broods and locations, an observation-level term.
Each PIRLS iteration then needs the blocked system

    [ A0   A0r  A0x ] [u0]   [b0]
    [ .    Arr  Arx ] [ur] = [br]
    [ .    .    Axx ] [ b]   [bx]

where ``A0`` (the largest term) is diagonal, ``Arr`` is the small dense block of
the other terms and ``A0r`` their coupling. Every entry is a weighted count,
so each iteration forms them with ``numpy.bincount`` over precomputed codes,
eliminates the diagonal block in closed form and factorises only the small
Schur complements. The coupling is kept as its nonzero entries (the pairs of
levels that occur together); ``A0r' A0^-1 A0r`` is a dense product when the
coupling is dense (crossed persons and items) and a sum over co-occurring
entry pairs when it is sparse (nested or observation-level terms).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs

from ..linalg import NotPositiveDefinite, kernels

__all__ = ["ScalarTerms", "scalar_terms"]

#: the other terms' random effects are held dense up to this many
MAX_REST = 2000
#: and the coupling block q0 x q_rest up to this many entries
MAX_COUPLING = 4_000_000
#: the other terms' random effects solved by the compiled kernel up to this many
#: (its Cholesky factor is a plain loop; LAPACK's is faster beyond)
COMPILED_REST = 100


@dataclass(frozen=True)
class ScalarTerms:
    """Precomputed codes for the all-scalar-terms solve of one design.

    Attributes
    ----------
    z0, c0 : ndarray (n,)
        The first term's column and level codes.
    q0 : int
    zr, cr : list of ndarray (n,)
        The other terms' columns and level codes.
    qr : list of int
        Their numbers of levels.
    entry : list of ndarray (n,)
        For each other term, the coupling entry of each observation.
    e_row, e_col : ndarray (nnz,)
        Level of the first term and rest index of each coupling entry.
    pairs : tuple of ndarray or None
        ``(e1, e2, target)`` over entry pairs sharing a first-term level, when
        the coupling is sparse enough to use them; None for the dense product.
    rest_pair : dict
        ``(t, s) -> c_t * q_s + c_s`` for other terms t < s.
    X : ndarray (n, p)
    intercepts : bool
        Every term's column is 1 (random intercepts only).
    """

    z0: np.ndarray
    c0: np.ndarray
    q0: int
    zr: list
    cr: list
    qr: list
    entry: list
    e_row: np.ndarray
    e_col: np.ndarray
    pairs: tuple | None
    rest_pair: dict
    X: np.ndarray
    intercepts: bool = False

    @property
    def e_flat(self) -> np.ndarray:
        """Position of each coupling entry in the row-major q0 x q_rest block."""
        return self.e_row * self.q_rest + self.e_col

    @property
    def q_rest(self) -> int:
        """Random effects in the terms after the first."""
        return int(sum(self.qr))

    def random_part(self, theta: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Z Lambda u as an n-vector.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> scalar_terms(d).random_part(np.array([2.0]), np.arange(18.0))[[0, 10]].tolist()
        [0.0, 2.0]
        """
        b0 = theta[0] * u[:self.q0]
        out = b0[self.c0] if self.intercepts else self.z0 * b0[self.c0]
        off = self.q0
        for t, (zt, ct, qt) in enumerate(zip(self.zr, self.cr, self.qr)):
            bt = theta[t + 1] * u[off:off + qt]
            out += bt[ct] if self.intercepts else zt * bt[ct]
            off += qt
        return out

    @cached_property
    def _kernel_arguments(self) -> tuple | None:
        """The compiled solve's codes and whether the coupling is dense (every
        pair of levels occurs), or None where the other terms have too many
        random effects for it."""
        if not kernels.available() or self.q_rest > COMPILED_REST:
            return None
        n = self.z0.size
        R = len(self.qr)
        offsets = np.concatenate([[0], np.cumsum(self.qr)]).astype(np.int64)
        ZR = np.ones((R, n)) if self.intercepts else np.array(self.zr, dtype=float).reshape(R, n)
        CR = np.array([c + offsets[t] for t, c in enumerate(self.cr)], dtype=np.int64).reshape(R, n)
        ENT = np.array(self.entry, dtype=np.int64).reshape(R, n)
        rest_term = np.repeat(np.arange(R), self.qr).astype(np.int64)
        row_start = np.searchsorted(self.e_row, np.arange(self.q0 + 1)).astype(np.int64)
        dense = R == 1 and self.e_row.size == self.q0 * self.q_rest
        codes = (np.ascontiguousarray(self.z0), self.c0.astype(np.int64), int(self.q0), ZR, CR, ENT,
                 rest_term, self.e_row.astype(np.int64), self.e_col.astype(np.int64), row_start)
        return codes, bool(dense)

    def solve(self, theta: np.ndarray, z: np.ndarray, w: np.ndarray, with_beta: bool,
              logdet_only: bool = False):
        """(beta, u, log det(Lambda'Z'WZ Lambda + I)) for working response ``z`` and weights ``w``.

        ``with_beta=False`` treats the fixed effects as known (their part
        already removed from ``z``) and returns an empty beta. With
        ``logdet_only`` only the log-determinant is computed (beta and u are
        returned empty).

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
        >>> st = scalar_terms(d)
        >>> b, u, ld = st.solve(np.array([1.0]), d.y, np.ones(d.n), True)
        >>> b.shape, u.shape, round(ld, 3)
        ((2,), (18,), 43.162)
        """
        theta = np.asarray(theta, dtype=float)
        p = self.X.shape[1] if with_beta and not logdet_only else 0
        args = self._kernel_arguments
        if args is not None:
            u = np.empty(self.q0 + self.q_rest)
            beta = np.empty(p)
            z = np.ascontiguousarray(z, dtype=float)
            w = np.ascontiguousarray(w, dtype=float)
            if p:  # X'WX and X'Wz by BLAS (weights that are not finite are reported below)
                with np.errstate(invalid="ignore", over="ignore"):
                    Xw = self.X * w[:, None]
                    Sxx, rx = Xw.T @ self.X, Xw.T @ z
            else:
                Sxx, rx = np.zeros((0, 0)), np.zeros(0)
            codes, dense = args
            logdet = kernels.compiled("scalar_solve")(theta, z, w, *codes, self.X, p, dense, bool(logdet_only),
                                       Sxx, rx, u, beta)
            if logdet == -1.0:
                raise NotPositiveDefinite("PIRLS weights are not finite")
            if logdet == -2.0:
                raise NotPositiveDefinite("the PIRLS system is not positive definite")
            if logdet_only:
                return np.zeros(0), np.zeros(0), logdet
            return beta, u, logdet
        return self._solve_numpy(theta, z, w, p, logdet_only)

    def _solve_numpy(self, theta, z, w, p: int, logdet_only: bool):
        """:meth:`solve` by numpy (weighted counts with ``bincount``): the path
        for many other random effects, and the reference of the compiled one."""
        l0 = float(theta[0])
        q0, qrt, nnz = self.q0, self.q_rest, self.e_row.size
        ones = self.intercepts
        wz0 = w if ones else w * self.z0
        wz = w * z
        # raw (unscaled) pieces
        v = np.zeros(nnz)
        for et, zt in zip(self.entry, self.zr):
            v += np.bincount(et, wz0 if ones else wz0 * zt, nnz)
        Srr = np.zeros((qrt, qrt))
        diag = Srr.reshape(-1)[::qrt + 1]  # a view on the diagonal
        rr = np.empty(qrt)
        if ones and len(self.qr) == 1 and nnz == q0 * qrt:
            # crossed random intercepts with every pair of levels observed
            # (persons x items): the weighted tables give the diagonals as margins
            V = v.reshape(q0, qrt)
            VZ = np.bincount(self.entry[0], wz, nnz).reshape(q0, qrt)
            d0, s0 = V.sum(axis=1), VZ.sum(axis=1)
            diag[:] = V.sum(axis=0)
            rr[:] = VZ.sum(axis=0)
        else:
            d0 = np.bincount(self.c0, wz0 if ones else wz0 * self.z0, q0)
            s0 = np.bincount(self.c0, wz if ones else wz0 * z, q0)
            off = 0
            for zt, ct, qt in zip(self.zr, self.cr, self.qr):
                wzt = w if ones else w * zt
                rr[off:off + qt] = np.bincount(ct, wz if ones else wzt * z, qt)
                diag[off:off + qt] = np.bincount(ct, wzt if ones else wzt * zt, qt)
                off += qt
        off = 0
        for t, (zt, qt) in enumerate(zip(self.zr, self.qr)):
            wzt = w if ones else w * zt
            off2 = off + qt
            for s_ in range(t + 1, len(self.qr)):
                qs = self.qr[s_]
                blk = np.bincount(self.rest_pair[(t, s_)], wzt if ones else wzt * self.zr[s_],
                                  qt * qs).reshape(qt, qs)
                Srr[off:off + qt, off2:off2 + qs] = blk
                Srr[off2:off2 + qs, off:off + qt] = blk.T
                off2 += qs
            off += qt
        # scale by Lambda
        lr = np.repeat(theta[1:], self.qr) if self.qr else np.zeros(0)
        A0 = l0 * l0 * d0 + 1.0
        b0 = l0 * s0
        inv0 = 1.0 / A0
        logdet = float(np.log(A0).sum())
        if not np.isfinite(logdet):
            raise NotPositiveDefinite("PIRLS weights are not finite")
        v *= l0 * lr[self.e_col]
        Srr *= lr[:, None]
        Srr *= lr[None, :]
        diag += 1.0
        rr *= lr
        # eliminate u0 from the rest block: Srr -= Cr' D Cr, rr -= Cr' D b0
        vi = v * inv0[self.e_row]
        if qrt:
            if self.pairs is None:
                if nnz == q0 * qrt:  # every pair of levels occurs: v is the block
                    Cr = v.reshape(q0, qrt)
                else:
                    Cr = np.zeros(q0 * qrt)
                    Cr[self.e_flat] = v
                    Cr = Cr.reshape(q0, qrt)
                Srr -= (Cr * inv0[:, None]).T @ Cr
            else:
                e1, e2, target = self.pairs
                Srr -= np.bincount(target, vi[e1] * v[e2], qrt * qrt).reshape(qrt, qrt)
            rr -= np.bincount(self.e_col, vi * b0[self.e_row], qrt)
            Lr = _chol(Srr)
            logdet += 2.0 * float(np.log(np.diag(Lr)).sum())
        if logdet_only:
            return np.zeros(0), np.zeros(0), logdet
        beta = np.zeros(0)
        if p:
            Xw = self.X * w[:, None]
            Sxx = Xw.T @ self.X
            rx = Xw.T @ z
            Cx = np.empty((q0, p))  # Z0'WX, scaled by l0
            Srx = np.empty((qrt, p))
            for j in range(p):
                Cx[:, j] = np.bincount(self.c0, wz0 * self.X[:, j], q0)
                off = 0
                for zt, ct, qt in zip(self.zr, self.cr, self.qr):
                    Srx[off:off + qt, j] = np.bincount(ct, Xw[:, j] * zt, qt)
                    off += qt
            Cx *= l0
            Srx *= lr[:, None]
            Cxi = Cx * inv0[:, None]
            Sxx -= Cx.T @ Cxi
            rx -= Cxi.T @ b0
            if qrt:
                # Srx -= Cr' D Cx, one column of Cx at a time over the entries
                for j in range(p):
                    Srx[:, j] -= np.bincount(self.e_col, vi * Cx[self.e_row, j], qrt)
                G = _cho_solve(Lr, Srx)
                Sxx -= Srx.T @ G
                rx -= G.T @ rr
            beta = _cho_solve(_chol(Sxx), rx)
        if qrt:
            ur = _cho_solve(Lr, rr - Srx @ beta if p else rr)
            u0 = (b0 - np.bincount(self.e_row, v * ur[self.e_col], q0)) * inv0
        else:
            ur = np.zeros(0)
            u0 = b0 * inv0
        if p:
            u0 -= (Cx @ beta) * inv0
        return beta, np.concatenate([u0, ur]), logdet


def _chol(A: np.ndarray) -> np.ndarray:
    L, info = dpotrf(A, lower=1, clean=0)
    if info != 0:
        raise NotPositiveDefinite("the PIRLS system is not positive definite")
    return L


def _cho_solve(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    x, info = dpotrs(L, b, lower=1)
    if info != 0:  # pragma: no cover - only for malformed input
        raise NotPositiveDefinite("the PIRLS system could not be solved")
    return x


def scalar_terms(design) -> ScalarTerms | None:
    """Precompute :class:`ScalarTerms` when every term is scalar and the rest is small, else None.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> va = ml.datasets.load("verbagg").assign(y=lambda d: (d.r2 == "Y").astype(float))
    >>> d = build_design("y ~ Anger + (1 | id) + (1 | item)", va)
    >>> st = scalar_terms(d)
    >>> st.q0, st.qr, st.pairs is None
    (316, [24], True)
    """
    terms = design.terms
    if not terms or any(t.k != 1 for t in terms):
        return None
    t0, rest = terms[0], terms[1:]
    qr = [t.nlevels for t in rest]
    qrt = sum(qr)
    if qrt > MAX_REST or t0.nlevels * qrt > MAX_COUPLING:
        return None
    c0 = t0.codes.astype(np.intp)
    keys, off = [], 0
    for t in rest:
        keys.append(c0 * qrt + off + t.codes)
        off += t.nlevels
    if keys:
        uniq, inv = np.unique(np.concatenate(keys), return_inverse=True)
        entry = list(inv.reshape(len(rest), -1))
    else:
        uniq, entry = np.zeros(0, dtype=np.intp), []
    e_row, e_col = uniq // max(qrt, 1), uniq % max(qrt, 1)
    pairs = None
    if qrt:
        counts = np.bincount(e_row, minlength=t0.nlevels)
        if int((counts.astype(np.int64) ** 2).sum()) * 4 < t0.nlevels * qrt * qrt:
            # entries are sorted by row: pair every entry with those of its row
            starts = np.concatenate([[0], np.cumsum(counts)])
            reps = counts[e_row]
            e1 = np.repeat(np.arange(e_row.size), reps)
            within = np.arange(e1.size) - np.repeat(np.cumsum(reps) - reps, reps)
            e2 = starts[e_row][e1] + within
            pairs = (e1, e2, e_col[e1] * qrt + e_col[e2])
    rest_pair = {}
    for t, tt in enumerate(rest):
        for s in range(t + 1, len(rest)):
            rest_pair[(t, s)] = tt.codes.astype(np.intp) * rest[s].nlevels + rest[s].codes
    return ScalarTerms(z0=np.ascontiguousarray(t0.Z[:, 0], dtype=float), c0=c0, q0=t0.nlevels,
                       zr=[np.ascontiguousarray(t.Z[:, 0], dtype=float) for t in rest],
                       cr=[t.codes.astype(np.intp) for t in rest], qr=qr, entry=entry,
                       e_row=e_row, e_col=e_col, pairs=pairs, rest_pair=rest_pair,
                       X=np.ascontiguousarray(design.X, dtype=float),
                       intercepts=all(bool(np.all(t.Z[:, 0] == 1.0)) for t in terms))
