"""Blocked Cholesky factor of the penalised least-squares system.

For relative covariance factor Lambda(theta) the factor L satisfies

    L L' = [ Lambda'Z'Z Lambda + I   Lambda'Z'[X y] ]
           [ [X y]'Z Lambda          [X y]'[X y]    ]

computed in two blocks: the first random term's block-diagonal factor ``L00``
(batched over levels), and a dense factor ``L11`` of the Schur complement of the
rest (other random terms, X and y). The last diagonal element of ``L11`` is the
square root of the penalised residual sum of squares.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.linalg.lapack import dpotrf
import scipy.sparse as sp

from .crossprod import DENSE_REST, CrossProducts
from .dense import LARGE, cholesky_lower

__all__ = ["ThetaLayout", "BlockedFactor", "factorize", "rest_coupling", "NotPositiveDefinite"]


class NotPositiveDefinite(ArithmeticError):
    """The Schur complement lost positive definiteness (numerically)."""


@dataclass(frozen=True)
class ThetaLayout:
    """Where each term's covariance parameters sit in theta.

    An unstructured term's parameters are the lower triangle of its relative
    covariance factor T (lme4's theta, at ``rows``, ``cols``); a structured
    term's (``structures[i]`` not None: an object with ``nparams``, ``lower``,
    ``sd_mask``, ``start``, ``names`` and ``factor``) are mapped to T by it.

    Examples
    --------
    >>> lay = ThetaLayout.from_k((2, 1))
    >>> lay.ntheta, lay.lower.tolist(), lay.start.tolist()
    (4, [0.0, -inf, 0.0, 0.0], [1.0, 0.0, 1.0, 1.0])
    >>> lay.diagonal.tolist(), lay.offsets
    ([True, False, True, True], (0, 3, 4))
    >>> lay.factors(np.array([1., .5, 2., 3.]))[0]
    array([[1. , 0. ],
           [0.5, 2. ]])
    """

    k: tuple[int, ...]
    offsets: tuple[int, ...]
    rows: tuple[np.ndarray, ...]
    cols: tuple[np.ndarray, ...]
    structures: tuple = ()

    @classmethod
    def from_k(cls, ks, structures=None) -> "ThetaLayout":
        ks = tuple(int(k) for k in ks)
        structures = tuple(structures) if structures is not None else (None,) * len(ks)
        return _layout(cls, ks, structures)

    @classmethod
    def from_terms(cls, terms) -> "ThetaLayout":
        """The layout of a design's random-effects terms (their sizes and structures).

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> ThetaLayout.from_terms(d.terms).ntheta
        3
        """
        return cls.from_k(tuple(t.k for t in terms), tuple(getattr(t, "structure", None) for t in terms))

    @property
    def structured(self) -> bool:
        """Whether any term has a covariance structure (its T is not its parameters)."""
        return any(s is not None for s in self.structures)

    def _per_term(self, plain, structured) -> np.ndarray:
        parts = [structured(s) if s is not None else plain(r, c)
                 for r, c, s in zip(self.rows, self.cols, self.structures)]
        return np.concatenate(parts) if parts else np.zeros(0)

    @property
    def ntheta(self) -> int:
        """Total number of covariance parameters.

        Examples
        --------
        >>> ThetaLayout.from_k((2, 1)).ntheta
        4
        """
        return self.offsets[-1]

    @property
    def lower(self) -> np.ndarray:
        """Lower bounds: 0 for diagonal elements (and a structure's SD ratios), -inf for the others.

        Examples
        --------
        >>> ThetaLayout.from_k((2,)).lower.tolist()
        [0.0, -inf, 0.0]
        """
        return self._per_term(lambda r, c: np.where(r == c, 0.0, -np.inf), lambda s: s.lower)

    @property
    def diagonal(self) -> np.ndarray:
        """Boolean mask of theta elements on a factor's diagonal (a structure's SD ratios):
        those whose 0 is a variance of zero.

        Examples
        --------
        >>> ThetaLayout.from_k((2, 1)).diagonal.tolist()
        [True, False, True, True]
        """
        return self._per_term(lambda r, c: r == c, lambda s: s.sd_mask)

    @property
    def start(self) -> np.ndarray:
        """lme4's start: identity factors (a structure's: SD ratios 1, correlation 0).

        Examples
        --------
        >>> ThetaLayout.from_k((3,)).start.tolist()
        [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
        """
        return self._per_term(lambda r, c: (r == c).astype(float), lambda s: s.start)

    def restarts(self, theta, tol: float) -> list[np.ndarray]:
        """theta with one structured term's parameters replaced by one of its
        :meth:`~multilevel.design.structure.Structure.restarts` (that term's correlation is
        not identified at ``theta``: its SD ratios below ``tol``, or some with the correlation
        at an end of its interval): the starts of further searches after a fit.

        Examples
        --------
        >>> from multilevel.design.structure import structure
        >>> lay = ThetaLayout.from_k((1, 3), (None, structure("cs", 3)))
        >>> [r.round(3).tolist() for r in lay.restarts(np.array([0.7, 0.0, -1.2]), 1e-4)]
        [[0.7, 1.0, 2.639], [0.7, 1.0, -2.197]]
        """
        theta = np.asarray(theta, dtype=float)
        out = []
        for i, s in enumerate(self.structures):
            if s is None:
                continue
            lo, hi = self.offsets[i], self.offsets[i + 1]
            for seg in s.restarts(theta[lo:hi], tol):
                x = theta.copy()
                x[lo:hi] = seg
                out.append(x)
        return out

    def names(self, terms) -> list[str]:
        """lme4's names of theta: ``g.(Intercept)`` on a diagonal, ``g.Days.(Intercept)`` below it.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> ThetaLayout.from_k([2]).names(d.terms)
        ['Subject.(Intercept)', 'Subject.Days.(Intercept)', 'Subject.Days']
        """
        out = []
        for term, r_idx, c_idx, s in zip(terms, self.rows, self.cols, self.structures):
            if s is not None:
                out.extend(s.names(term.label, term.columns))  # (two structured terms of a factor: g, g.1)
                continue
            for r, c in zip(r_idx, c_idx):
                out.append(f"{term.group}.{term.columns[r]}" if r == c
                           else f"{term.group}.{term.columns[r]}.{term.columns[c]}")
        return out

    @property
    def cholesky(self) -> "ThetaLayout":
        """The unstructured layout of the same terms (theta = the elements of each T).

        Examples
        --------
        >>> ThetaLayout.from_k((2,)).cholesky.ntheta
        3
        """
        return self if not self.structured else ThetaLayout.from_k(self.k)

    def to_cholesky(self, theta: np.ndarray) -> np.ndarray:
        """The elements of each term's T (the :attr:`cholesky` layout's theta) at ``theta``."""
        if not self.structured:
            return np.asarray(theta, dtype=float)
        return np.concatenate([T[r, c] for T, r, c in zip(self.factors(np.asarray(theta, dtype=float)),
                                                           self.rows, self.cols)])

    def factors(self, theta: np.ndarray) -> list[np.ndarray]:
        """The lower-triangular k x k factor T_i of each term."""
        out = []
        for i, k in enumerate(self.k):
            seg = theta[self.offsets[i]: self.offsets[i + 1]]
            s = self.structures[i]
            if s is not None:
                out.append(s.factor(seg))
                continue
            T = np.zeros((k, k))
            T[self.rows[i], self.cols[i]] = seg
            out.append(T)
        return out


@functools.lru_cache(maxsize=256)
def _layout(cls, ks: tuple, structures: tuple) -> ThetaLayout:
    """One (read-only) layout per tuple of term sizes and structures: refits build it many times."""
    from ..design.random import theta_template

    offsets, rows, cols = [0], [], []
    for k, s in zip(ks, structures):
        r, c, _ = theta_template(k)
        r.setflags(write=False)
        c.setflags(write=False)
        rows.append(r)
        cols.append(c)
        offsets.append(offsets[-1] + (len(r) if s is None else s.nparams))
    return cls(ks, tuple(offsets), tuple(rows), tuple(cols), structures)


@dataclass(frozen=True)
class BlockedFactor:
    """The blocked Cholesky factor at one theta.

    Attributes
    ----------
    T : list of ndarray
        Per-term relative covariance factors.
    L00 : ndarray (n0, k0, k0)
        Per-level Cholesky factors of the first term's block.
    F0 : ndarray (n0, k0, k0)
        ``T0 L00^{-T}`` per level: maps a row of ``A_{.0}`` to a row of ``L_{.0}``.
    Wx : ndarray (p + 1, q0)
        ``L_{x0}``: the [X y] rows of the factor in the first term's columns.
    L11 : ndarray
        Dense lower Cholesky factor of the rest (other terms, X, y).
    q_rest : int
        Number of random effects of the terms after the first.
    p : int
        Number of fixed effects.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.linalg import cross_products
    >>> d = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    >>> cp = cross_products(d)
    >>> fac = factorize(cp, ThetaLayout.from_k(cp.k), np.array([1.5, 3.5]))
    >>> fac.L00.shape, fac.L11.shape, fac.q_rest, fac.p
    ((24, 1, 1), (8, 8), 6, 1)
    >>> round(fac.logdet_theta, 3), round(fac.logdet_x, 3), round(fac.pwrss, 3)
    (95.672, -0.762, 43.603)
    """

    T: list
    L00: np.ndarray
    F0: np.ndarray
    Wx: np.ndarray
    L11: np.ndarray
    q_rest: int
    p: int
    logdet0: float | None = None

    @property
    def logdet_theta(self) -> float:
        """log det(Lambda'Z'Z Lambda + I)."""
        ld0 = self.logdet0
        if ld0 is None:
            ld0 = 2.0 * float(np.log(self.L00.diagonal(axis1=1, axis2=2)).sum())
        if self.q_rest == 0:
            return ld0
        return ld0 + 2.0 * float(np.log(self.L11.diagonal()[: self.q_rest]).sum())

    @property
    def logdet_x(self) -> float:
        """log det of the fixed-effects Schur complement (REML term)."""
        d = self.L11.diagonal()[self.q_rest: self.q_rest + self.p]
        return 2.0 * float(np.log(d).sum())

    @property
    def pwrss(self) -> float:
        """Penalised weighted residual sum of squares."""
        return float(self.L11[-1, -1] ** 2)


def _rest_lambda_t(cp: CrossProducts, T: list):
    """Block-diagonal Lambda_rest' (kron(I, T_j') for each later term): dense when
    the other terms have few random effects (a sparse kron costs a millisecond of
    scipy's overhead per call, and PIRLS calls it thousands of times), sparse else."""
    if cp.q_rest <= DENSE_REST:
        out = np.zeros((cp.q_rest, cp.q_rest))
        start = 0
        for Tj, nl in zip(T[1:], cp.nlevels[1:]):
            k = Tj.shape[0]
            idx = start + np.arange(nl * k).reshape(nl, k)
            out[idx[:, :, None], idx[:, None, :]] = Tj.T[None, :, :]
            start += nl * k
        return out
    blocks = [sp.kron(sp.identity(nl, format="csr"), sp.csr_matrix(Tj.T), format="csr")
              for Tj, nl in zip(T[1:], cp.nlevels[1:])]
    return sp.block_diag(blocks, format="csr")


def _rest_schur(cp: CrossProducts, T: list, F0: np.ndarray, Wx: np.ndarray,
                S_xx: np.ndarray) -> np.ndarray:
    """Lower triangle of the Schur complement of the first term's block.

    With ``M_g = F0_g F0_g'`` and ``B = Z_rest'Z0``, the random part is
    ``Lambda_r'(Crr - B M B')Lambda_r + I``; ``B M B'`` comes from the precomputed
    pair structure in one sparse matrix-vector product, or densely when the
    other terms have few random effects.
    """
    qr, mx = cp.q_rest, Wx.shape[0]
    M = np.einsum("gab,gcb->gac", F0, F0)
    # coupling to [X y]: Crx - B M Bx0'
    Y = np.einsum("gab,cgb->gac", M, cp.Bx0).reshape(cp.q0, mx)
    Rx = cp.Crx - cp.Br0 @ Y
    rest_k = cp.k[1:]
    scalar = len(rest_k) == 1 and rest_k[0] == 1
    if cp.pairs is not None and scalar:
        # one scalar term: Crr is diagonal and Lambda_r = t I, so
        # S_rr = t^2 (Crr - G) + I comes from one product with -t^2 M
        t = T[1][0, 0]
        S = cp.pairs.product(-(t * t) * M.ravel()).reshape(qr + mx, qr + mx)
        S[np.arange(qr), np.arange(qr)] += t * t * cp.Crr.diagonal() + 1.0
        S[qr:, :qr] = t * Rx.T
    else:
        if cp.pairs is not None:
            S = cp.pairs.product(M.ravel()).reshape(qr + mx, qr + mx)
        else:  # few other random effects: B M B' densely
            S = np.zeros((qr + mx, qr + mx))
            Bd = cp.Br0_dense
            if cp.k0 == 1:
                S[:qr, :qr] = (Bd * M[:, 0, 0]) @ Bd.T
            else:
                BM = np.einsum("rga,gab->rgb", Bd.reshape(qr, cp.n0, cp.k0), M).reshape(qr, -1)
                S[:qr, :qr] = BM @ Bd.T
        if sp.issparse(cp.Crr):  # (many other random effects: Crr's entries added in place)
            R = np.negative(S[:qr, :qr], out=S[:qr, :qr])
            C = cp.Crr.tocoo()
            R[C.row, C.col] += C.data
        else:
            R = cp.Crr - S[:qr, :qr]  # only the lower triangle is meaningful
        if all(k == 1 for k in rest_k):
            t = np.repeat([Tj[0, 0] for Tj in T[1:]], cp.nlevels[1:])
            S[:qr, :qr] = R * np.outer(t, t)
            S[qr:, :qr] = (Rx * t[:, None]).T
        else:
            R = np.tril(R) + np.tril(R, -1).T
            lam_t = _rest_lambda_t(cp, T)
            S[:qr, :qr] = np.asarray(lam_t @ (lam_t @ R).T)
            S[qr:, :qr] = np.asarray(lam_t @ Rx).T
        S[np.arange(qr), np.arange(qr)] += 1.0
    S[qr:, qr:] = S_xx
    return S


def rest_coupling(cp: CrossProducts, fac: "BlockedFactor") -> sp.csr_matrix | None:
    """``L_{r0} = Lambda_r' B_r0 blockdiag(F0)``: the other terms' rows of the factor
    in the first term's columns (needed only at the optimum).

    Parameters
    ----------
    cp : CrossProducts
    fac : BlockedFactor
        The factor of ``cp`` at some theta.

    Returns
    -------
    ndarray or scipy.sparse.csr_matrix (q_rest, q0), or None
        Dense where the other terms have few random effects (at most
        ``DENSE_REST``), sparse else; None for a model with a single
        random-effects term.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.linalg import cross_products
    >>> d = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    >>> cp = cross_products(d)
    >>> fac = factorize(cp, ThetaLayout.from_k(cp.k), np.array([1.5, 3.5]))
    >>> rest_coupling(cp, fac).shape
    (6, 24)
    """
    if cp.Br0 is None:
        return None
    n0 = cp.n0
    if cp.Br0_dense is not None:  # few other random effects: dense products
        BF = np.einsum("rga,gab->rgb", cp.Br0_dense.reshape(cp.q_rest, n0, cp.k0), fac.F0)
        return _rest_lambda_t(cp, fac.T) @ BF.reshape(cp.q_rest, cp.q0)
    F0blk = sp.bsr_matrix((fac.F0, np.arange(n0), np.arange(n0 + 1)), shape=(cp.q0, cp.q0))
    return (_rest_lambda_t(cp, fac.T) @ (cp.Br0 @ F0blk)).tocsr()


def factorize(cp: CrossProducts, layout: ThetaLayout, theta: np.ndarray) -> BlockedFactor:
    """Blocked Cholesky factor at ``theta``.

    Parameters
    ----------
    cp : CrossProducts
        Cross-products of the design.
    layout : ThetaLayout
        Where each term's parameters sit in ``theta``.
    theta : array-like
        Relative covariance parameters.

    Returns
    -------
    BlockedFactor

    Raises
    ------
    NotPositiveDefinite
        When the dense Schur complement is not numerically positive definite.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.linalg import cross_products
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> cp = cross_products(d)
    >>> fac = factorize(cp, ThetaLayout.from_k(cp.k), np.array([0.9667, 0.0152, 0.2309]))
    >>> fac.L00.shape, fac.L11.shape
    ((18, 2, 2), (3, 3))
    >>> round(fac.pwrss / (cp.n - cp.p), 1)  # REML residual variance near the optimum
    654.9
    """
    T = layout.factors(np.asarray(theta, dtype=float))
    T0 = T[0]
    k0 = cp.k0
    if k0 == 1:
        t = T0[0, 0]
        l00 = np.sqrt(t * t * cp.D0[:, 0, 0] + 1.0)
        L00 = l00[:, None, None]
        logdet0 = 2.0 * float(np.log(l00).sum())
        F0 = (t / l00)[:, None, None]
        Wx = cp.Bx0[:, :, 0] * F0[:, 0, 0]
    else:
        if k0 == 2:
            # closed form for the common intercept-and-slope term: M = T0'D0 T0 + I
            t00, t10, t11 = T0[0, 0], T0[1, 0], T0[1, 1]
            D = cp.D0
            m00 = t00 * t00 * D[:, 0, 0] + 2 * t00 * t10 * D[:, 1, 0] + t10 * t10 * D[:, 1, 1] + 1.0
            m10 = t11 * (t00 * D[:, 1, 0] + t10 * D[:, 1, 1])
            a = np.sqrt(m00)
            b = m10 / a
            d = t11 * t11 * D[:, 1, 1] + 1.0 - b * b
            if not d.min() > 0:
                raise NotPositiveDefinite("a first-term block is not positive definite")
            c = np.sqrt(d)
            L00 = np.zeros((a.size, 2, 2))
            L00[:, 0, 0], L00[:, 1, 0], L00[:, 1, 1] = a, b, c
            logdet0 = 2.0 * float(np.log(a * c).sum())
            # F0 = T0 L00^{-T}, with L00^{-T} = [[1/a, -b/(a c)], [0, 1/c]]
            ia, ic, iac = 1.0 / a, 1.0 / c, -b / (a * c)
            F0 = np.empty_like(L00)
            F0[:, 0, 0] = t00 * ia
            F0[:, 0, 1] = t00 * iac
            F0[:, 1, 0] = t10 * ia
            F0[:, 1, 1] = t10 * iac + t11 * ic
        else:
            M = T0.T @ cp.D0 @ T0
            M[:, np.arange(k0), np.arange(k0)] += 1.0
            L00 = np.linalg.cholesky(M)
            logdet0 = 2.0 * float(np.log(L00.diagonal(axis1=1, axis2=2)).sum())
            F0 = T0 @ np.swapaxes(np.linalg.inv(L00), 1, 2)
        Wx = np.matmul(cp.Bx0.transpose(1, 0, 2), F0).transpose(1, 0, 2).reshape(cp.Bx0.shape[0], -1)
    S_xx = cp.Cxx - Wx @ Wx.T
    if cp.Br0 is None:
        S = S_xx
    else:
        S = _rest_schur(cp, T, F0, Wx, S_xx)
    # S holds the lower triangle in C order, i.e. the upper triangle of the
    # Fortran-ordered S.T: factorising that in place avoids a copy.
    if S.shape[0] > LARGE:  # in blocks (OpenBLAS's threaded dpotrf fails on more rows)
        L11, info = cholesky_lower(S, out=S.T)
    else:
        U, info = dpotrf(S.T, lower=0, clean=1, overwrite_a=1)
        L11 = U.T
    if info != 0:
        raise NotPositiveDefinite(f"leading minor {info} is not positive definite")
    return BlockedFactor(T=T, L00=L00, F0=F0, Wx=Wx, L11=L11, q_rest=cp.q_rest, p=cp.p,
                         logdet0=logdet0)
