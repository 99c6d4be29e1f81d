"""Kenward-Roger adjusted covariance of the fixed effects and denominator df.

Follows pbkrtest (Halekoh & Hojsgaard 2014, JSS 59(9)), which lmerTest calls:
the covariance of a REML fit is a linear combination ``Sigma = sum_c s_c G_c``
of the elements of each term's covariance matrix and the residual variance;
``P_c``, ``Q_cd`` and the expected information are formed from ``Sigma^-1``,
and the small-sample adjusted covariance is ``Phi_A = Phi + 2 Phi U Phi``.
pbkrtest works with n x n matrices; here every quantity is written through
``V^-1 = I - Z B Z'`` (B = Lambda A^-1 Lambda') in the q x q space of the random
effects, so the cost does not grow with the number of rows beyond one pass.

Everything is computed for the fit's standardised fixed effects (``X Tx``,
orthogonal columns: :mod:`multilevel.design.standardize`), random effects
(``Z B``) and response scale, and a contrast of the user's coefficients enters
as ``L Tx``: ``X'V^-1 X`` of a predictor such as ``x / 1000 + 1e3`` is too
ill-conditioned to invert in the user's units, and the information of a random
slope's variance parameters in the units of ``Days + 1000`` too, so the
adjusted covariance and df would change with them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy import stats

from ..linalg.crossprod import term_matrix

__all__ = ["KenwardRoger", "kenward_roger", "kr_ddf", "kr_contest1d", "kr_contest_md"]

MAX_Q = 6000
#: the most random effects for which Z and Lambda are dense matrices
DENSE_Q = 400


@dataclass(frozen=True)
class KenwardRoger:
    """Kenward-Roger quantities of a REML fit, for its standardised fixed effects.

    Attributes
    ----------
    phi : ndarray (p, p)
        Unadjusted covariance of the standardised fixed effects.
    phi_adj : ndarray (p, p)
        Their Kenward-Roger adjusted covariance.
    P : ndarray (m, p, p)
        Derivatives of ``Phi^-1`` with respect to the m covariance parameters.
    W : ndarray (m, m)
        Asymptotic covariance of the covariance parameters (2 x inverse information).
    Tx : ndarray (p, p)
        The user's coefficients are ``Tx`` times the standardised ones (up to a
        shift; ``Tx`` carries the response's scale), a contrast ``L`` of them is
        ``L Tx``.
    """

    phi: np.ndarray
    phi_adj: np.ndarray
    P: np.ndarray
    W: np.ndarray
    Tx: np.ndarray

    def internal(self, L) -> np.ndarray:
        """A contrast of the user's coefficients as one of the standardised ones."""
        return np.atleast_2d(np.asarray(L, dtype=float)) @ self.Tx

    @property
    def phi_user(self) -> np.ndarray:
        """The unadjusted covariance of the user's fixed effects."""
        return self.Tx @ self.phi @ self.Tx.T

    @property
    def phi_adj_user(self) -> np.ndarray:
        """The adjusted covariance of the user's fixed effects."""
        return self.Tx @ self.phi_adj @ self.Tx.T

    def with_phi_user(self, V) -> "KenwardRoger":
        """The same derivatives around another unadjusted covariance of the user's
        fixed effects (emmeans' df of an ML fit: its own covariance, the REML fit's
        derivatives)."""
        from dataclasses import replace

        inv = np.linalg.inv(self.Tx)
        return replace(self, phi=inv @ np.asarray(V, dtype=float) @ inv.T)

    def with_phi_working(self, T, Vw) -> "KenwardRoger":
        """:meth:`with_phi_user` for a covariance given as ``T Vw T'``: where ``T`` is this
        object's basis ``Vw`` is taken as it is (no inverse of an ill-conditioned ``Tx``
        around a covariance whose digits a predictor far from zero has cancelled)."""
        from dataclasses import replace

        if T is not None and np.shape(T) == self.Tx.shape and np.allclose(T, self.Tx, rtol=1e-12, atol=0.0):
            return replace(self, phi=np.asarray(Vw, dtype=float))
        return self.with_phi_user(np.asarray(T) @ np.asarray(Vw) @ np.asarray(T).T if T is not None else Vw)


def _components(terms, offsets) -> list[sp.csr_matrix]:
    """E_c for each lower-triangle element of each term's covariance matrix; for a
    compound-symmetric term (``cs``), whose covariance is linear in two numbers (the
    common variance and the common covariance), one E for its diagonal and one for
    the rest."""
    q = offsets[-1]
    out = []
    for t, off in zip(terms, offsets[:-1]):
        k, nl = t.k, t.nlevels
        base = off + np.arange(nl) * k
        if t.structure is not None:  # (only cs reaches here)
            diag = np.concatenate([base + a for a in range(k)])
            out.append(sp.csr_matrix((np.ones(diag.size), (diag, diag)), shape=(q, q)))
            pairs = [(a, b) for a in range(k) for b in range(k) if a != b]
            rows = np.concatenate([base + a for a, _ in pairs])
            cols = np.concatenate([base + b for _, b in pairs])
            out.append(sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(q, q)))
            continue
        for b in range(k):
            for a in range(b, k):
                if a == b:
                    rows, cols = base + a, base + a
                else:
                    rows = np.concatenate([base + a, base + b])
                    cols = np.concatenate([base + b, base + a])
                out.append(sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(q, q)))
    return out


def kenward_roger(fit) -> KenwardRoger:
    """See :func:`_kenward_roger`; small models on one BLAS thread (OpenBLAS's pool costs
    more than it saves on q x q blocks of a few hundred, most of all on a busy machine)."""
    if getattr(fit.design, "residual", None) is not None:
        raise ValueError("Kenward-Roger's method is not available with a residual correlation (residual=); use "
                         "Satterthwaite's (ddf='satterthwaite', or df='satterthwaite' in ml.emmeans)")
    structured = [t.text for t in fit.design.terms if t.structure is not None and t.structure.kind != "cs"]
    if structured:
        raise ValueError(f"Kenward-Roger's method is not available for the covariance structure of {structured[0]} "
                         "(its covariance is not linear in its parameters); use Satterthwaite's (ddf='satterthwaite', "
                         "or df='satterthwaite' in ml.emmeans)")
    from ..linalg.threads import SMALL_BLOCK, blas_threads

    q = sum(t.q for t in fit.design.terms)
    if q <= SMALL_BLOCK:
        with blas_threads(1):
            return _kenward_roger(fit)
    return _kenward_roger(fit)


def _kenward_roger(fit) -> KenwardRoger:
    """Adjusted covariance and the ingredients of the KR df for a REML fit.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> kr = kenward_roger(fit)
    >>> bool(np.allclose(kr.phi_adj_user, fit.vcov.to_numpy()))   # balanced: no adjustment
    True
    """
    if not fit.reml:
        raise ValueError("Kenward-Roger's method is only available for REML fits; refit with reml=True")
    design = fit.design
    terms = design.terms
    st = fit._standardized[0]
    Tx = st.Tx if st.Tx.size else np.eye(design.X.shape[1])
    sw = None if design.weights is None else np.sqrt(design.weights)
    Xs = design.X @ Tx
    X = Xs if sw is None else Xs * sw[:, None]
    # the random effects in the standardised basis too (Z B, B^-1 Lambda: the same Z Lambda), and
    # sigma in the response's scale: the information matrix of the covariance parameters is then
    # well conditioned whatever the units or origin of a random slope's covariate (Days + 1000
    # gave 4,140 df for 17); the adjusted covariance and the df do not change with the basis
    scale = float(st.scale)
    Bs = st.B if len(st.B) == len(terms) else tuple(np.eye(t.k) for t in terms)
    Zs = [t.Z @ B for t, B in zip(terms, Bs)]
    lambdas = [np.linalg.solve(B, T) for B, T in zip(Bs, fit._lambdas)]
    q = sum(t.q for t in terms)
    if q > MAX_Q:
        raise ValueError(
            f"Kenward-Roger needs dense q x q matrices and this model has q = {q} random effects "
            f"(limit {MAX_Q}); use ddf='satterthwaite'"
        )
    n = X.shape[0]
    offsets = np.concatenate([[0], np.cumsum([t.q for t in terms])])
    # a few hundred random effects: dense matrices throughout (scipy.sparse's per-call
    # overhead is most of the time on a small model); beyond, Z and Lambda stay sparse
    dense = q <= DENSE_Q
    Zw = [Z if sw is None else Z * sw[:, None] for Z in Zs]
    if dense:
        Z = np.zeros((n, q))
        rows = np.arange(n)[:, None]
        for t, Zt, off in zip(terms, Zw, offsets[:-1]):
            Z[rows, off + t.codes[:, None] * t.k + np.arange(t.k)[None, :]] = Zt
        Lam = scipy.linalg.block_diag(*[np.kron(np.eye(t.nlevels), T) for t, T in zip(terms, lambdas)])
        S = Z.T @ Z
        R = Z.T @ X
        A = Lam.T @ S @ Lam + np.eye(q)
        LamD = Lam
    else:
        Z = sp.hstack([term_matrix(t, Zt) for t, Zt in zip(terms, Zw)], format="csr")
        Lam = sp.block_diag([sp.kron(sp.identity(t.nlevels), T) for t, T in zip(terms, lambdas)],
                            format="csr")
        S = (Z.T @ Z).toarray()
        R = np.asarray(Z.T @ X)
        A = np.asarray((Lam.T @ (Lam.T @ S).T).T) + np.eye(q)
        LamD = Lam.toarray()
    XX = X.T @ X
    cA = scipy.linalg.cho_factor(A, lower=True, check_finite=False)
    B = LamD @ scipy.linalg.cho_solve(cA, LamD.T, check_finite=False)
    SB = S @ B
    C = S - SB @ S                  # Z'V^-1 Z
    U = R - SB @ R                  # Z'V^-1 X
    M = XX - R.T @ B @ R            # X'V^-1 X
    U2 = U - SB @ U                 # Z'V^-2 X
    M2 = XX - 2 * R.T @ B @ R + R.T @ B @ S @ B @ R   # X'V^-2 X
    M3 = M2 - U.T @ B @ U           # X'V^-3 X
    C2 = C - SB @ C                 # Z'V^-2 Z
    BS = B @ S
    # (the rows of positive weight: a row of weight 0 is not data, and its scaled row is 0 = 0 + e)
    n_data = n if sw is None else int(np.count_nonzero(design.weights > 0))
    trV2 = n_data - 2 * np.trace(BS) + np.sum(BS * BS.T)
    s2 = (fit.sigma / scale) ** 2
    Minv = np.linalg.inv(M)
    phi = s2 * Minv
    comps = _components(terms, offsets)
    if dense:
        comps = [E.toarray() for E in comps]
    m = len(comps) + 1
    EU = [E @ U for E in comps]
    EC = [np.asarray(E @ C) for E in comps]
    P = np.empty((m, M.shape[0], M.shape[0]))
    for c, eu in enumerate(EU):
        P[c] = -(U.T @ eu) / s2**2
    P[-1] = -M2 / s2**2
    Q = {}
    K = np.empty((m, m))
    for c in range(m):
        for d in range(c, m):
            if d < m - 1:  # both random
                Q[c, d] = (EU[c].T @ C @ EU[d]) / s2**3
                K[c, d] = np.sum(EC[c] * EC[d].T) / s2**2
            elif c < m - 1:  # random, residual
                Q[c, d] = (EU[c].T @ U2) / s2**3
                K[c, d] = float((comps[c] * C2).sum() if dense else comps[c].multiply(C2).sum()) / s2**2
            else:
                Q[c, d] = M3 / s2**3
                K[c, d] = trV2 / s2**2
            K[d, c] = K[c, d]
    IE2 = np.empty((m, m))
    for c in range(m):
        for d in range(c, m):
            IE2[c, d] = IE2[d, c] = (K[c, d] - 2 * np.sum(phi * Q[c, d])
                                     + np.sum((phi @ P[c]) * (P[d] @ phi)))
    ev = np.linalg.eigvalsh(IE2)
    W = 2 * (np.linalg.inv(IE2) if np.min(np.abs(ev)) > 1e-10 else np.linalg.pinv(IE2))
    UU = np.zeros_like(phi)
    for c in range(m):
        for d in range(m):
            Qcd = Q[c, d] if c <= d else Q[d, c].T
            UU += W[c, d] * (Qcd - P[c] @ phi @ P[d])
    phi_adj = phi + 2 * phi @ UU @ phi
    return KenwardRoger(phi=phi, phi_adj=phi_adj, P=P, W=W, Tx=scale * Tx)


def _a1_a2(kr: KenwardRoger, L: np.ndarray) -> tuple[float, float]:
    Theta = L.T @ np.linalg.solve(L @ kr.phi @ L.T, L)
    TP = Theta @ kr.phi
    u = [TP @ Pi @ kr.phi for Pi in kr.P]
    tr = [np.trace(ui) for ui in u]
    m = len(u)
    A1 = A2 = 0.0
    for i in range(m):
        for j in range(i, m):
            e = 1.0 if i == j else 2.0
            A1 += e * kr.W[i, j] * tr[i] * tr[j]
            A2 += e * kr.W[i, j] * np.sum(u[i] * u[j].T)
    return A1, A2


def kr_ddf(kr: KenwardRoger, L) -> tuple[float, float]:
    """Kenward-Roger denominator df and F scaling for the hypothesis ``L beta = 0``
    (``L`` a contrast of the user's coefficients)."""
    L = kr.internal(L)
    q = 1 if L.shape[0] == 1 else np.linalg.matrix_rank(L)
    A1, A2 = _a1_a2(kr, L)
    B = (A1 + 6 * A2) / (2 * q)
    g = ((q + 1) * A1 - (q + 4) * A2) / ((q + 2) * A2)
    den = 3 * q + 2 * (1 - g)
    c1, c2, c3 = g / den, (q - g) / den, (q + 2 - g) / den
    V0 = 1 + c1 * B
    V1 = 1 - c2 * B
    V2 = 1 - c3 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    num = 1 - A2 / q
    ratio = 1.0 if abs(num) < 1e-14 and abs(V1) < 1e-14 else num / V1
    rho = ratio**2 * V0 / V2 / q
    df2 = 4 + (q + 2) / (q * rho - 1)
    scaling = 1.0 if abs(df2 - 2) < 1e-2 else df2 * (1 - A2 / q) / (df2 - 2)
    return float(df2), float(scaling)


def kr_contest1d(kr: KenwardRoger, beta: np.ndarray, L) -> dict:
    """t test of one contrast with the adjusted standard error and KR df."""
    L = np.asarray(L, dtype=float).ravel()
    est = float(L @ beta)
    Li = kr.internal(L)[0]
    se = float(np.sqrt(Li @ kr.phi_adj @ Li))
    df, _ = kr_ddf(kr, L[None, :])
    t = est / se
    return {"Estimate": est, "SE": se, "df": df, "t": t, "p": float(2 * stats.t.sf(abs(t), df))}


def kr_contest_md(kr: KenwardRoger, beta: np.ndarray, L) -> dict:
    """F test of ``L beta = 0`` as pbkrtest's KRmodcomp (scaled F, KR df)."""
    L = np.atleast_2d(np.asarray(L, dtype=float))
    q = int(np.linalg.matrix_rank(L))
    df2, scaling = kr_ddf(kr, L)
    Lb = L @ beta
    Li = kr.internal(L)
    wald = float(Lb @ np.linalg.solve(Li @ kr.phi_adj @ Li.T, Lb))
    Fu = wald / q
    F = scaling * Fu
    return {"F": F, "F_unscaled": Fu, "NumDF": q, "DenDF": df2,
            "p": float(stats.f.sf(F, q, df2))}
