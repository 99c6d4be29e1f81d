"""An internal, well-conditioned parameterisation of a design, mapped back exactly.

A fit must not depend on the units of its predictors: ``Days`` in days,
seconds or ``Days + 1e9`` describe the same model. The optimizer's steps and
tolerances, the singular-fit threshold and the finite-difference steps of
inference are not unit-free, and cross-products of a column such as
``Days + 1e9`` lose every digit of its variation. So each estimation route
works on a standardised copy of the design:

* the fixed-effects matrix ``X`` becomes ``X Tx`` with orthogonal columns of
  root mean square 1 (Gram-Schmidt with reorthogonalisation, in column order,
  so the intercept stays a column of ones and every later column is centred);
* each correlated random-effects term's per-level matrix ``Z`` becomes ``Z B``
  in the same way (an unstructured covariance absorbs any invertible ``B``); a
  term with one column is only rescaled (its covariance is a single variance);
* the response becomes ``(y - offset - X c) / s``: the residuals of its least
  squares fit on ``X``, scaled to root mean square 1.

Changing a predictor's units changes ``X`` and ``Z`` by upper-triangular
matrices (a column rescaled, or shifted by the intercept before it), which
Gram-Schmidt in column order undoes: the internal design, and so the whole
optimisation, is the same for any units. Everything is reported back on the
user's scale by the exact maps of this module.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import numpy as np

from ..linalg.threads import blas_threads
from .data import positive_rows

__all__ = ["Standardization", "column_scales", "identity_standardization", "orthogonal_basis", "standardize",
           "working_pair",
           "triangular_factor"]

# a column whose variation left after removing the earlier columns is below this
# fraction of its root mean square is treated as dependent on them
_DEPENDENT = 1e-12  # (below the design's own tolerance, 1e-11: every column it keeps is orthogonalised)
# matrix-vector products over more cells than this run on one BLAS thread: they are bound by
# memory, and OpenBLAS's pool makes them several times slower on a busy machine
_ONE_THREAD_ABOVE = 200_000


def orthogonal_basis(M: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Columns of ``M B`` orthogonal with root mean square 1, ``B`` upper triangular.

    Classical Gram-Schmidt with one reorthogonalisation, in column order; a
    column of ones stays a column of ones. Returns ``None`` when a column is
    (numerically) a combination of the earlier ones.

    Parameters
    ----------
    M : ndarray (n, k)

    Returns
    -------
    (Q, B) or None
        ``Q = M @ B`` (to rounding), ``Q'Q = n I``.

    Examples
    --------
    >>> M = np.array([[1., 1e9], [1, 1e9 + 1], [1, 1e9 + 2]])
    >>> Q, B = orthogonal_basis(M)
    >>> Q.round(6).tolist()
    [[1.0, -1.224745], [1.0, 0.0], [1.0, 1.224745]]
    >>> B[0, 1].round(1), B[1, 1].round(6)       # - (1e9 + 1) / sd, 1 / sd
    (np.float64(-1224744872.6), np.float64(1.224745))
    """
    M = np.asarray(M, dtype=float)
    n, k = M.shape
    # the basis is built as rows (k, n), so that the products with the columns so far run over
    # contiguous memory (on InstEval's 73,421 x 28 fixed effects: 0.11-1.0 s as columns, 0.02 s so)
    Qt = np.empty((k, n))
    Mt = np.ascontiguousarray(M.T)
    B = np.zeros((k, k))
    with blas_threads(1) if n * k > _ONE_THREAD_ABOVE else contextlib.nullcontext():
        for j in range(k):
            v = Mt[j].copy()
            rms0 = np.sqrt(v @ v / n)
            if not rms0 > 0 or not np.isfinite(rms0):
                return None
            b = np.zeros(k)
            b[j] = 1.0
            for _ in range(2):
                if j:
                    coef = Qt[:j] @ v / n
                    v -= coef @ Qt[:j]
                    b[:j] -= B[:j, :j] @ coef
            s = np.sqrt(v @ v / n)
            if not s > _DEPENDENT * rms0:
                return None
            Qt[j] = v / s
            B[:, j] = b / s
    return Qt.T, B


def triangular_factor(M: np.ndarray) -> np.ndarray:
    """Lower-triangular ``L`` with a non-negative diagonal and ``L L' = M M'``.

    Examples
    --------
    >>> M = np.array([[1., 2], [3, 4]])
    >>> L = triangular_factor(M)
    >>> bool(np.allclose(L @ L.T, M @ M.T)), bool(L[0, 1] == 0 and np.all(np.diag(L) >= 0))
    (True, True)
    """
    k = M.shape[0]
    if k == 1:
        return np.abs(M)
    if k == 2 and np.hypot(M[0, 0], M[0, 1]) > 0:
        # one Givens rotation of M' (numpy's QR costs 70 us a call on 2 x 2)
        r00 = float(np.hypot(M[0, 0], M[0, 1]))
        c, s = M[0, 0] / r00, M[0, 1] / r00
        r01 = c * M[1, 0] + s * M[1, 1]
        r11 = -s * M[1, 0] + c * M[1, 1]
        return np.array([[r00, 0.0], [r01, abs(r11)]])
    # M' = Q R  =>  M M' = R' R, and R' is lower triangular
    R = np.linalg.qr(M.T, mode="r")
    L = R.T.copy()
    signs = np.where(np.diag(L) < 0, -1.0, 1.0)
    return L * signs[None, :]


def _pack(L: np.ndarray) -> np.ndarray:
    """lme4's column-major lower triangle of a factor."""
    k = L.shape[0]
    return np.concatenate([L[j:, j] for j in range(k)])


def _unpack(theta: np.ndarray, k: int) -> np.ndarray:
    L = np.zeros((k, k))
    pos = 0
    for j in range(k):
        L[j:, j] = theta[pos: pos + k - j]
        pos += k - j
    return L


@dataclass(frozen=True)
class Standardization:
    """Maps between a design's internal (standardised) parameters and the user's.

    Attributes
    ----------
    Tx : ndarray (p, p)
        ``X_internal = X @ Tx``.
    shift : ndarray (p,)
        Least-squares coefficients removed from the response.
    scale : float
        Root mean square of the response after the shift.
    B : tuple of ndarray (k, k)
        Per random term, ``Z_internal = Z @ B``.
    response : bool
        Whether the response is shifted and scaled (linear models); a GLMM's
        response and offset are used as they are (``shift`` 0, ``scale`` 1).
    structures : tuple
        Per random term, its covariance structure (None: unstructured). A
        structured term's ``B`` is diagonal (a scale per column; one common
        scale where the structure has one SD), so that the standardised
        term has the same structure.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> st, inner = standardize(d)
    >>> inner.X.std(axis=0).round(6).tolist(), (inner.terms[0].Z.mean(axis=0).round(6) + 0.0).tolist()
    ([0.0, 1.0], [1.0, 0.0])
    >>> bool(np.allclose(st.beta_to_user([0.0, 0.0]), [251.405105, 10.467286]))  # least squares
    True
    """

    Tx: np.ndarray
    shift: np.ndarray
    scale: float
    B: tuple[np.ndarray, ...]
    response: bool = True
    structures: tuple = ()

    @property
    def ks(self) -> tuple[int, ...]:
        return tuple(b.shape[0] for b in self.B)

    # ------------------------------------------------------------------ theta
    def factors_to_user(self, Ts) -> list[np.ndarray]:
        """Relative covariance factors on the user's scale (``B T``, not triangular)."""
        return [B @ T for B, T in zip(self.B, Ts)]

    def theta_to_user(self, theta) -> np.ndarray:
        """lme4's theta of the user's design from the internal theta."""
        theta = np.asarray(theta, dtype=float)
        out, pos = [], 0
        for i, B in enumerate(self.B):
            k = B.shape[0]
            s = self.structures[i] if self.structures else None
            if s is not None:  # (B is diagonal)
                out.append(s.rescale(theta[pos: pos + s.nparams], np.diag(B)))
                pos += s.nparams
                continue
            m = k * (k + 1) // 2
            out.append(_pack(triangular_factor(B @ _unpack(theta[pos: pos + m], k))))
            pos += m
        return np.concatenate(out) if out else np.zeros(0)

    def theta_to_internal(self, theta) -> np.ndarray:
        """The internal theta of a user theta (the inverse of :meth:`theta_to_user`)."""
        theta = np.asarray(theta, dtype=float)
        out, pos = [], 0
        for i, B in enumerate(self.B):
            k = B.shape[0]
            s = self.structures[i] if self.structures else None
            if s is not None:
                out.append(s.rescale(theta[pos: pos + s.nparams], 1.0 / np.diag(B)))
                pos += s.nparams
                continue
            m = k * (k + 1) // 2
            T = _unpack(theta[pos: pos + m], k)
            out.append(_pack(triangular_factor(np.linalg.solve(B, T))))
            pos += m
        return np.concatenate(out) if out else np.zeros(0)

    # ------------------------------------------------------------- estimates
    def beta_to_user(self, beta) -> np.ndarray:
        """Fixed effects on the user's scale."""
        return self.shift + self.scale * (self.Tx @ np.asarray(beta, dtype=float))

    def beta_to_internal(self, beta) -> np.ndarray:
        """The internal fixed effects of user ones (the inverse of :meth:`beta_to_user`)."""
        return np.linalg.solve(self.Tx, (np.asarray(beta, dtype=float) - self.shift) / self.scale) \
            if self.Tx.size else np.zeros(0)

    def vcov_to_user(self, V) -> np.ndarray:
        """A covariance matrix of the internal fixed effects on the user's scale
        (works on a stack ``(..., p, p)`` too)."""
        return self.scale**2 * (self.Tx @ np.asarray(V) @ self.Tx.T)

    def contrast_to_internal(self, L) -> np.ndarray:
        """``L beta_user = L Tx beta_internal`` (up to the shift): the internal contrast."""
        return np.asarray(L, dtype=float) @ self.Tx

    def criterion_shift(self, n: int, p: int, reml: bool) -> float:
        """User criterion minus internal criterion (a constant in theta)."""
        if reml:
            _, logdet = np.linalg.slogdet(self.Tx) if p else (1.0, 0.0)
            return 2.0 * (n - p) * np.log(self.scale) - 2.0 * logdet
        return 2.0 * n * np.log(self.scale)


def standardize(design, response: bool = True, like=None, eta_scale: float = 1.0, rows=None):
    """The standardised copy of a design and the map back (see the module's description).

    A fixed-effects matrix or a term whose columns are not numerically
    independent keeps its own columns (the identity map). The internal columns
    are those Gram-Schmidt computed, not ``X @ Tx`` (whose products would
    cancel the digits of a column such as ``x + 1e9``).

    Parameters
    ----------
    design : Design
    response : bool, default True
        Shift and scale the response too (linear models); ``False`` leaves the
        response and the offset as they are (GLMMs).
    like : (Standardization, Design), optional
        The standardisation of a design with the same ``X`` and ``Z`` (another
        response: a bootstrap or simulation refit), whose bases are reused.
    eta_scale : float, default 1
        Without ``response``: the scale of the linear predictor (a GLMM with
        an identity or inverse link has it in the response's units or their
        reciprocal). The internal ``X`` and ``Z`` are multiplied by it, so
        that the internal fixed effects and theta are in its units.
    rows : ndarray of bool, optional
        The rows that are data (a GLMM's rows of positive prior weight); by
        default those of positive ``design.weights``. The bases and scales come
        from them alone: a row of weight 0 does not enter the fit, whatever it holds.

    Returns
    -------
    (Standardization, Design)
        The map, and the design with standardised ``X``, per-term ``Z`` and
        (with ``response``) response, offset included in it.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> s = ml.datasets.load("sleepstudy").assign(Days=lambda d: d.Days * 86400.0 + 1e9)
    >>> st, inner = standardize(build_design("Reaction ~ Days + (Days | Subject)", s))
    >>> inner.terms[0].Z[:3].round(4).tolist()
    [[1.0, -1.5667], [1.0, -1.2185], [1.0, -0.8704]]
    """
    X = design.X
    n, p = X.shape
    # rows of prior weight 0 are not data: the bases and scales come from the others (a row of
    # weight 0 holding x = 1e10 or y = 1e10 had set them, and the fit lost its digits)
    pos = positive_rows(design.weights) if rows is None else (None if bool(np.all(rows)) else np.asarray(rows))
    orthogonal = False  # whether Xi'Xi = n I is known
    if like is not None:
        Xi, Tx = like[1].X, like[0].Tx
    else:
        basis = _basis_of_rows(X, pos) if p else None
        orthogonal = basis is not None
        Xi, Tx = basis if orthogonal else (X, np.eye(p))
    y = design.y if design.offset is None else design.y - design.offset
    if not response:
        shift, scale, y_int = np.zeros(p), (like[0].scale if like is not None else 1.0), design.y
    else:
        if p:
            if design.weights is None and orthogonal and pos is None:  # Xi'Xi = n I: no solve
                c_int = (y @ Xi) / n
            elif design.weights is None:
                c_int = np.linalg.lstsq(Xi, y, rcond=None)[0]
            else:
                sw = np.sqrt(design.weights)
                c_int = np.linalg.lstsq(Xi * sw[:, None], y * sw, rcond=None)[0]
            shift, r = Tx @ c_int, y - Xi @ c_int
        else:
            shift, r = np.zeros(0), y
        rp = r if pos is None else r[pos]
        scale = float(np.sqrt(rp @ rp / max(rp.size, 1)))
        if not (scale > 0 and np.isfinite(scale)):
            scale = 1.0
        y_int = r / scale
    Bs, terms = [], []
    for i, t in enumerate(design.terms):
        if like is not None:
            Bs.append(like[0].B[i])
            terms.append(like[1].terms[i])
            continue
        if t.k == 1:
            zc = t.Z[:, 0] if pos is None else t.Z[pos, 0]
            rms = float(np.sqrt(zc @ zc / max(zc.size, 1)))
            ok = rms > 0 and np.isfinite(rms)
            Zi, B = (t.Z / rms, np.array([[1.0 / rms]])) if ok else (t.Z, np.eye(1))
        elif t.structure is not None:
            # a scale per column (hcs), or one for all (cs, ar1: one SD): the structure is kept
            rms = column_scales(t, pos)
            Zi, B = t.Z / rms, np.diag(1.0 / rms)
        elif orthogonal and t.Z.shape == X.shape and np.array_equal(t.Z, X):
            Zi, B = Xi, Tx  # the same columns as the fixed effects (x + (x | g)): the same basis
        else:
            basis = _basis_of_rows(t.Z, pos)
            Zi, B = basis if basis is not None else (t.Z, np.eye(t.k))
        Bs.append(B)
        terms.append(replace(t, Z=np.ascontiguousarray(Zi)))
    if not response and eta_scale != 1.0 and like is None:
        # beta = s Tx beta_internal, T = s B T_internal: X and Z carry the scale
        scale = float(eta_scale)
        Xi = Xi * scale
        Bs = [B * scale for B in Bs]
        terms = [replace(t, Z=np.ascontiguousarray(t.Z * scale)) for t in terms]
    st = Standardization(Tx=Tx, shift=shift, scale=scale, B=tuple(Bs), response=response,
                         structures=tuple(t.structure for t in design.terms))
    inner = replace(design, fixed=replace(design.fixed, X=np.ascontiguousarray(Xi)), terms=tuple(terms))
    if response:
        inner = replace(inner, y=y_int, offset=None)
    return st, inner


def _basis_of_rows(M: np.ndarray, pos) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`orthogonal_basis` of the rows ``pos`` (a mask; None: all rows), with the other rows
    mapped by its ``B`` (rows of weight 0, which do not enter the fit)."""
    if pos is None:
        return orthogonal_basis(M)
    basis = orthogonal_basis(M[pos])
    if basis is None:
        return None
    Qp, B = basis
    Q = np.empty(M.shape)
    Q[pos] = Qp
    Q[~pos] = M[~pos] @ B
    return Q, B


def column_scales(term, pos=None) -> np.ndarray:
    """The root mean square of each of a term's columns (1 for a column of zeros), one common one
    for a structure with one SD (``cs``, ``ar1``), so that dividing by them keeps the structure;
    over the rows ``pos`` (a mask: those of positive weight) where given.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> column_scales(SimpleNamespace(Z=np.array([[3.0, 0.0], [4.0, 0.0]]), structure=None)).round(4).tolist()
    [3.5355, 1.0]
    """
    Z = np.asarray(term.Z, dtype=float)
    if pos is not None:
        Z = Z[pos]
    rms = np.sqrt(np.einsum("ij,ij->j", Z, Z) / max(Z.shape[0], 1))
    rms = np.where((rms > 0) & np.isfinite(rms), rms, 1.0)
    st = getattr(term, "structure", None)
    if st is not None and st.nsd == 1:
        rms = np.full(rms.size, float(np.sqrt(np.mean(rms * rms))))
    return rms


def identity_standardization(design) -> Standardization:
    """The map of a design that is used as it is.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> identity_standardization(d).theta_to_user([1.0, 0.5, 2.0]).tolist()
    [1.0, 0.5, 2.0]
    """
    p = design.X.shape[1]
    return Standardization(Tx=np.eye(p), shift=np.zeros(p), scale=1.0,
                           B=tuple(np.eye(t.k) for t in design.terms),
                           structures=tuple(t.structure for t in design.terms))


def working_pair(T, Vw, V) -> tuple:
    """``(T, Vw)`` where ``T Vw T'`` is the fixed effects' covariance ``V`` (both ``p x p``), else
    ``(None, None)``: the standardised coordinates in which contrasts keep their digits.

    Examples
    --------
    >>> T, Vw = np.array([[1.0, -1e9], [0.0, 1.0]]), np.eye(2)
    >>> working_pair(T, Vw, T @ Vw @ T.T)[1].tolist(), working_pair(T, Vw, np.eye(2))
    ([[1.0, 0.0], [0.0, 1.0]], (None, None))
    """
    if T is None or Vw is None:
        return None, None
    T, Vw, V = (np.asarray(a, dtype=float) for a in (T, Vw, V))
    p = V.shape[0]
    if not p or T.shape != (p, p) or Vw.shape != (p, p) or \
            not np.allclose(T @ Vw @ T.T, V, rtol=1e-8, atol=0.0):
        return None, None
    return T, Vw
