"""Satterthwaite denominator degrees of freedom for t and F tests of fixed effects.

Follows lmerTest (Kuznetsova, Brockhoff & Christensen 2017, JSS 82(13)): the
asymptotic covariance of the variance parameters ``varpar = (theta, sigma)`` is
twice the inverse of the Hessian of the deviance over ``varpar`` (restricted to
its positive eigenvalues), and the gradient of ``L' vcov(beta) L`` over
``varpar`` comes from the Jacobian of ``vcov(beta)``. Both derivatives are of
cheap functions of the blocked factor, never of refits, and share one set of
factorisations: sigma enters the deviance and ``vcov(beta)`` in closed form,
so only theta (and a residual model's parameters) take finite differences.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from .derivatives import jacobian_hessian
from .varpar import theta_pieces

__all__ = ["VarparCovariance", "varpar_covariance", "contest1d", "contest_md", "fstat_ddf"]

_EIG_TOL = 1e-8


@dataclass(frozen=True)
class VarparCovariance:
    """Derivative information at the optimum of a fit.

    Attributes
    ----------
    varpar : ndarray (m,)
        theta followed by sigma, of the fit's standardised design
        (:mod:`multilevel.design.standardize`): derivatives over them do not
        depend on the units of the data, and the degrees of freedom do not
        depend on the parameterisation.
    hessian : ndarray (m, m)
        Hessian of the (REML or ML) deviance over ``varpar``.
    vcov_varpar : ndarray (m, m)
        Asymptotic covariance of ``varpar``: 2 H^-1 over H's positive eigenvalues.
    jacobian : ndarray (m, p, p)
        Derivative of ``vcov(beta)`` (on the user's scale) with respect to each
        element of ``varpar``.
    vcov_beta : ndarray (p, p)
    messages : tuple of str
        Notes on negative or zero Hessian eigenvalues, as lmerTest gives.
    basis : ndarray (p, p) or None
        ``T`` with ``vcov(beta) = T vcov_beta_w T'`` (and the Jacobian alike), the
        standardised coefficients' map: a contrast ``L`` is evaluated as ``L T``
        against ``vcov_beta_w`` and ``jacobian_w``, so that a predictor far from
        zero (``x + 1e9``) does not cancel its digits away in ``L vcov L'``.
    vcov_beta_w, jacobian_w : ndarray or None
        ``vcov_beta`` and ``jacobian`` in the standardised coefficients.
    """

    varpar: np.ndarray
    hessian: np.ndarray
    vcov_varpar: np.ndarray
    jacobian: np.ndarray
    vcov_beta: np.ndarray
    messages: tuple[str, ...]
    basis: np.ndarray | None = None
    vcov_beta_w: np.ndarray | None = None
    jacobian_w: np.ndarray | None = None

    def working(self, L) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(L', vcov, jacobian)`` for contrasts ``L`` (rows): in the standardised
        coefficients where the basis is known, else on the user's scale."""
        L = np.asarray(L, dtype=float)
        if self.basis is None:
            return L, self.vcov_beta, self.jacobian
        return L @ self.basis, self.vcov_beta_w, self.jacobian_w


def _residual_parameters(fit) -> np.ndarray | None:
    """A fit's residual correlation (its unconstrained rho) or SD model parameters (delta times
    its columns' RMS, so that the finite differences' steps do not depend on the columns'
    units), None without."""
    d = fit.design
    parts = []
    if getattr(d, "dispersion", None) is not None:  # (per unit of each column's RMS: see col_scale)
        parts.append(np.asarray(d.dispersion.coef, dtype=float) * d.dispersion.col_scale)
    if getattr(d, "residual", None) is not None:
        parts.append(np.array([d.residual.a_of(d.residual.r)]))
    return np.concatenate(parts) if parts else None


class _ResidualModelObjective:
    """``factor((theta, extra))`` and ``cp`` of a fit with a residual correlation or SD model,
    on its standardised scale (``fit._std``): the rows whitened at rho, or weighted at delta,
    then the column transforms of the fit. ``cp`` is that of the last ``factor`` call."""

    def __init__(self, fit, layout):
        from dataclasses import replace

        d = fit.design
        st = fit._std
        self.reml = fit.reml
        self.layout = layout
        self.nt = layout.ntheta
        self.rc = getattr(d, "residual", None)
        self.dm = getattr(d, "dispersion", None)
        y = d.y if d.offset is None else d.y - d.offset
        X = np.asarray(d.X, dtype=float)
        terms = tuple(replace(t, Z=np.ascontiguousarray(t.Z @ B)) for t, B in zip(d.terms, st.B))
        self.inner = replace(d, y=(y - X @ st.shift) / st.scale, fixed=replace(d.fixed, X=X @ st.Tx), terms=terms,
                             offset=None, residual=None, dispersion=None)
        self.cp = fit._cp

    def factor(self, x):
        from dataclasses import replace

        from ..linalg import cross_products, factorize

        x = np.asarray(x, dtype=float)
        theta, extra = x[: self.nt], x[self.nt:]
        inner = self.inner
        if self.dm is not None:  # the SD model's delta first, then rho
            m = np.size(self.dm.coef)
            inner = replace(inner, weights=self.dm.weights(extra[:m] / self.dm.col_scale))
        if self.rc is not None:
            from ..lmm.correlation import whitened_design

            wd, logdet = whitened_design(inner, self.rc, self.rc.rho_of(extra[-1]))
            cp = cross_products(wd)
            self.cp = replace(cp, log_weights=cp.log_weights - logdet)
        else:
            self.cp = cross_products(inner)
        return factorize(self.cp, self.layout, theta)


def _derivatives(obj, x, s: float, c: float, pieces=None) -> tuple[np.ndarray, np.ndarray]:
    """Hessian of the deviance and Jacobian of ``vcov(beta)`` over ``(x, sigma)``.

    The deviance is ``a(x) + b(x) / sigma^2 + c log sigma^2`` and ``vcov(beta) =
    sigma^2 M(x)`` (:func:`~multilevel.inference.varpar.theta_pieces`, or
    ``pieces(x)`` where given): finite differences over ``x`` only, of ``a``,
    ``b`` and ``M`` from one set of factorisations, and the derivatives over
    sigma in closed form.
    """
    from ..linalg import NotPositiveDefinite

    pieces = (lambda v: theta_pieces(obj, v)) if pieces is None else pieces
    J, H = jacobian_hessian(pieces, x)
    v0 = pieces(x)
    if not (np.all(np.isfinite(J)) and np.all(np.isfinite(H))):
        raise NotPositiveDefinite("a step of the finite differences around the estimates left the "
                                  "positive definite region of the variance parameters")
    m, p = x.size, int(round(np.sqrt(v0.size - 2)))
    Hd = np.empty((m + 1, m + 1))
    Hd[:m, :m] = H[:, :, 0] + H[:, :, 1] / s**2
    Hd[:m, m] = Hd[m, :m] = -2.0 * J[:, 1] / s**3
    Hd[m, m] = 6.0 * v0[1] / s**4 - 2.0 * c / s**2
    Jv = np.concatenate([s**2 * J[:, 2:].reshape(m, p, p), (2.0 * s * v0[2:].reshape(p, p))[None]])
    return Hd, Jv


def varpar_covariance(fit) -> VarparCovariance:
    """Hessian, ``vcov(varpar)`` and the Jacobian of ``vcov(beta)`` for a fit.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> vc = varpar_covariance(fit)
    >>> vc.vcov_varpar.shape, vc.jacobian.shape
    ((4, 4), (4, 2, 2))
    """
    from ..linalg import ThetaLayout
    from ..lmm import LmmObjective

    st = fit._std
    layout = ThetaLayout.from_terms(fit.design.terms)
    extra = _residual_parameters(fit)
    if extra is not None:  # rho or the SD model's delta: variance parameters too, not known constants
        obj, x_extra = _ResidualModelObjective(fit, layout), extra
    else:
        obj, x_extra = LmmObjective(cp=fit._cp, layout=layout, reml=fit.reml), np.zeros(0)
    x = np.r_[fit._theta_internal, x_extra]
    s = fit.sigma / st.scale
    H, Jw = _derivatives(obj, x, s, fit._cp.n - fit._cp.p if fit.reml else fit._cp.n)
    vp = np.r_[x, s]
    vc = _covariance(vp, H, st.vcov_to_user(Jw), fit.vcov.to_numpy())
    if not st.Tx.size:
        return vc
    # vcov(beta) = sigma^2 M at the optimum; the Jacobian's last slice over sigma is 2 sigma M
    return replace(vc, basis=st.scale * st.Tx, vcov_beta_w=0.5 * s * Jw[-1], jacobian_w=Jw)


def _covariance(vp, H, J, vcov_beta) -> VarparCovariance:
    """The :class:`VarparCovariance` of a Hessian ``H`` and Jacobian ``J`` at ``vp``."""
    w, V = np.linalg.eigh(H)
    msgs = []
    if np.any(w < -_EIG_TOL):
        msgs.append(f"the Hessian of the deviance over (theta, sigma) has {int(np.sum(w < -_EIG_TOL))} "
                    "negative eigenvalue(s): the fit may not be at an optimum")
    if np.any(np.abs(w) <= _EIG_TOL):
        msgs.append(f"the Hessian of the deviance over (theta, sigma) has {int(np.sum(np.abs(w) <= _EIG_TOL))} "
                    "eigenvalue(s) near zero: some variance parameters are not identified")
    pos = w > _EIG_TOL
    vcov_vp = 2.0 * (V[:, pos] / w[pos]) @ V[:, pos].T
    return VarparCovariance(varpar=vp, hessian=H, vcov_varpar=vcov_vp, jacobian=J,
                            vcov_beta=vcov_beta, messages=tuple(msgs))


def _qform(x: np.ndarray, A: np.ndarray) -> float:
    return float(x @ A @ x)


def satterthwaite_df(vc: VarparCovariance, L: np.ndarray) -> float:
    """Satterthwaite df of the contrast ``L' beta`` (one row)."""
    Lw, V, J = vc.working(np.asarray(L, dtype=float).ravel())
    var_con = _qform(Lw, V)
    grad = np.array([_qform(Lw, Ji) for Ji in J])
    denom = _qform(grad, vc.vcov_varpar)
    return float(2.0 * var_con**2 / denom) if denom > 0 else float("inf")


def contest1d(vc: VarparCovariance, beta: np.ndarray, L) -> dict:
    """t test of one contrast ``L' beta = 0`` with Satterthwaite df.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> r = contest1d(varpar_covariance(fit), fit.fixef.to_numpy(), [0, 1, 0])
    >>> round(r["df"], 1)
    151.0
    """
    L = np.asarray(L, dtype=float).ravel()
    est = float(L @ beta)
    Lw, V, _ = vc.working(L)
    se = float(np.sqrt(_qform(Lw, V)))
    df = satterthwaite_df(vc, L)
    t = est / se
    return {"Estimate": est, "SE": se, "df": df, "t": t, "p": float(2 * stats.t.sf(abs(t), df))}


def fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """Denominator df of an F test from the df of its orthogonal 1-df pieces (lmerTest)."""
    nu = np.asarray(nu, dtype=float)
    if nu.size == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < tol):
        return float(nu.mean())
    if np.any(nu <= 2):
        return 2.0
    E = float(np.sum(nu / (nu - 2)))
    return 2 * E / (E - nu.size)


def contest_md(vc: VarparCovariance, beta: np.ndarray, L) -> dict:
    """F test of ``L beta = 0`` (several rows) with Satterthwaite denominator df.

    The contrast is rotated to the eigenvectors of ``L vcov(beta) L'``; each
    rotated row has a Satterthwaite df, combined as lmerTest's ``contestMD``.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> r = contest_md(varpar_covariance(fit), fit.fixef.to_numpy(), [[0, 1, 0], [0, 0, 1]])
    >>> r["NumDF"]
    2
    """
    L = np.atleast_2d(np.asarray(L, dtype=float))
    Lw, V, J = vc.working(L)
    VL = Lw @ V @ Lw.T
    d, P = np.linalg.eigh(VL)
    order = np.argsort(d)[::-1]
    d, P = d[order], P[:, order]
    tol = max(np.finfo(float).eps ** 0.5 * d[0], 0.0)
    q = int(np.sum(d > tol))
    PtL = (P.T @ L)[:q]
    t2 = (PtL @ beta) ** 2 / d[:q]
    F = float(t2.sum() / q)
    PtLw = (P.T @ Lw)[:q]
    nu = np.array([2 * d[m] ** 2 / _qform(np.array([_qform(PtLw[m], Ji) for Ji in J]),
                                          vc.vcov_varpar) for m in range(q)])
    ddf = fstat_ddf(nu)
    return {"F": F, "NumDF": q, "DenDF": ddf, "p": float(stats.f.sf(F, q, ddf))}
