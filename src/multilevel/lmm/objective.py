"""The profiled ML deviance and REML criterion as functions of theta."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from ..linalg import BlockedFactor, CrossProducts, NotPositiveDefinite, ThetaLayout, factorize
from ..linalg import kernels
from ..linalg.blocked import rest_coupling
from ..linalg.dense import inverse_from_factor

__all__ = ["LmmObjective", "criterion", "solve_effects", "conditional_variances"]

_LOG2PI = float(np.log(2.0 * np.pi))


def criterion(fac: BlockedFactor, cp: CrossProducts, reml: bool) -> float:
    """Profiled deviance (ML) or REML criterion from a factor, as lme4 defines them.

    Parameters
    ----------
    fac : BlockedFactor
        The factor at some theta.
    cp : CrossProducts
        The cross-products it was computed from.
    reml : bool
        True for the REML criterion, False for the ML deviance.

    Returns
    -------
    float

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> f = LmmObjective.from_design(d)
    >>> fac = f.factor(np.array([0.9667, 0.0152, 0.2309]))
    >>> round(float(criterion(fac, f.cp, reml=True)), 2)
    1743.63
    >>> round(float(criterion(fac, f.cp, reml=False)), 2)  # ML deviance at the REML optimum
    1751.99
    """
    pwrss = fac.pwrss
    ld = fac.logdet_theta - cp.log_weights
    if reml:
        nmp = cp.n - cp.p
        return ld + fac.logdet_x + nmp * (1.0 + _LOG2PI + np.log(pwrss / nmp))
    return ld + cp.n * (1.0 + _LOG2PI + np.log(pwrss / cp.n))


@dataclass(frozen=True)
class LmmObjective:
    """Callable ``theta -> criterion`` over fixed cross-products.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> f = LmmObjective.from_design(d, reml=True)
    >>> round(f(np.array([0.9667, 0.0152, 0.2309])), 2)
    1743.63
    """

    cp: CrossProducts
    layout: ThetaLayout
    reml: bool
    # the factor of the lowest criterion evaluated so far, so that the fit need
    # not factorise again at the optimum (an evaluation costs 20 ms on InstEval)
    _best: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_design(cls, design, reml: bool = True) -> "LmmObjective":
        """The objective of a :class:`~multilevel.design.Design`.

        Parameters
        ----------
        design : Design
        reml : bool, default True
            REML criterion (True) or ML deviance (False).

        Returns
        -------
        LmmObjective

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> f = LmmObjective.from_design(d, reml=False)
        >>> f.layout.ntheta, f.cp.n, f.reml
        (3, 180, False)
        >>> round(f(np.array([0.9292, 0.0182, 0.2226])), 2)  # ML deviance at lme4's optimum
        1751.94
        """
        from ..linalg import cross_products

        cp = cross_products(design)
        return cls(cp=cp, layout=ThetaLayout.from_terms(design.terms), reml=reml)

    def factor(self, theta) -> BlockedFactor:
        """The blocked Cholesky factor at ``theta``.

        Parameters
        ----------
        theta : array-like
            Covariance parameters.

        Returns
        -------
        BlockedFactor

        Raises
        ------
        NotPositiveDefinite
            Where the system is not numerically positive definite.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fac = LmmObjective.from_design(d).factor(np.array([0.9667, 0.0152, 0.2309]))
        >>> fac.L00.shape, round(fac.pwrss / (180 - 2), 1)
        ((18, 2, 2), 654.9)
        """
        theta = np.asarray(theta, dtype=float)
        best = self._best.get("theta")
        if best is not None and np.array_equal(best, theta):
            return self._best["factor"]
        return factorize(self.cp, self.layout, theta)

    def __post_init__(self):
        cp = self.cp
        if not kernels.available():
            return
        # a compiled kernel evaluates the criterion without forming the factor
        # (the fit factorises once, at the optimum): one random-effects term, or
        # further terms with few random effects; it takes each term's T (a
        # structured term's parameters are mapped to it first)
        chol = self.layout.cholesky
        if cp.Br0 is None:
            self._best["kernel"] = (chol.rows[0].astype(np.int64), chol.cols[0].astype(np.int64),
                                    np.ascontiguousarray(cp.D0), np.ascontiguousarray(cp.Bx0),
                                    np.ascontiguousarray(cp.Cxx), int(cp.n), int(cp.p),
                                    float(cp.log_weights), bool(self.reml))
            self._best["kernel_kind"] = "one"
            return
        args = kernels.blocked_arguments(cp, chol, self.reml)
        if args is not None:
            self._best["kernel"] = args
            self._best["kernel_kind"] = "blocked"

    def _compiled(self):
        """The compiled kernel that ``_best["kernel"]`` holds the arguments of."""
        return kernels.compiled(self._best["kernel_kind"])

    def gradient_arguments(self):
        """The fixed arguments of the compiled criterion-and-gradient kernel,
        ``fg(theta, grad, *args) -> float``
        (``multilevel.linalg.kernels.compiled("one_gradient")``); None where the
        model has more than one random-effects term (or numba is missing).

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> args = LmmObjective.from_design(d).gradient_arguments()
        >>> fg, grad = kernels.compiled("one_gradient"), np.empty(3)
        >>> round(fg(np.array([0.9667, 0.0152, 0.2309]), grad, *args), 2), bool(np.abs(grad).max() < 0.05)
        (1743.63, True)
        """
        if self._best.get("kernel_kind") != "one" or self.layout.structured:
            return None  # (its gradient is in the elements of T)
        return self._best["kernel"]

    def value_and_gradient(self, theta) -> tuple[float, np.ndarray]:
        """The criterion at ``theta`` and its exact gradient, for a model whose
        random-effects terms are all scalar (:func:`multilevel.lmm.gradient.applies`);
        the factor of the lowest value is kept, as :meth:`__call__` keeps it.

        Raises
        ------
        NotPositiveDefinite
            Where the system is not numerically positive definite.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
        >>> f, g = LmmObjective.from_design(d).value_and_gradient(np.array([1.5, 3.5]))
        >>> round(f, 3), g.round(3).tolist()
        (330.884, [-1.179, 0.003])
        """
        from .gradient import scalar_gradient

        theta = np.array(theta, dtype=float)
        fac = factorize(self.cp, self.layout, theta)
        val = float(criterion(fac, self.cp, self.reml))
        if val < self._best.get("value", np.inf):
            self._best.update(value=val, theta=theta, factor=fac)
        return val, scalar_gradient(fac, self.cp, theta, self.reml, cache=self._best.setdefault("gradient", {}))

    def evaluator(self):
        """The fastest callable ``theta -> criterion`` for an optimizer's loop: the
        compiled kernel bound to its arguments where one applies (nlopt passes
        contiguous float64 arrays), else this objective itself.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> f = LmmObjective.from_design(d, reml=True)
        >>> round(f.evaluator()(np.array([0.9667, 0.0152, 0.2309])), 2)
        1743.63
        """
        args = self._best.get("kernel")
        if args is None:
            return self
        kernel = self._compiled()
        if self.layout.structured:
            to_chol = self.layout.to_cholesky

            def evaluate_structured(theta):
                return kernel(np.ascontiguousarray(to_chol(theta)), *args)

            return evaluate_structured

        def evaluate(theta):
            if type(theta) is not np.ndarray or theta.dtype != np.float64 or not theta.flags.c_contiguous:
                theta = np.ascontiguousarray(theta, dtype=float)
            return kernel(theta, *args)

        return evaluate

    def __call__(self, theta) -> float:
        if self._best.get("kernel") is not None:
            theta = np.ascontiguousarray(theta, dtype=float)
            if theta.shape != (self.layout.ntheta,):  # the compiled kernel does not check bounds
                raise ValueError(f"theta must hold {self.layout.ntheta} numbers, not shape {theta.shape}")
            if self.layout.structured:
                theta = np.ascontiguousarray(self.layout.to_cholesky(theta))
            return self._compiled()(theta, *self._best["kernel"])
        try:
            fac = factorize(self.cp, self.layout, theta)
        except NotPositiveDefinite:
            return float("inf")
        val = criterion(fac, self.cp, self.reml)
        if not np.isfinite(val):
            return float("inf")
        if val < self._best.get("value", np.inf):
            self._best.update(value=val, theta=np.array(theta, dtype=float), factor=fac)
        return float(val)


def solve_effects(fac: BlockedFactor, cp: CrossProducts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fixed effects and spherical random effects at the factor's theta.

    Parameters
    ----------
    fac : BlockedFactor
        The factor at some theta.
    cp : CrossProducts
        The cross-products it was computed from.

    Returns
    -------
    beta : ndarray (p,)
    u0 : ndarray (q0,)
        Spherical random effects of the first term.
    u_rest : ndarray (q_rest,)
        Spherical random effects of the other terms.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> f = LmmObjective.from_design(d)
    >>> beta, u0, u_rest = solve_effects(f.factor(np.array([0.9667, 0.0152, 0.2309])), f.cp)
    >>> beta.round(3).tolist(), u0.shape, u_rest.shape
    ([251.405, 10.467], (36,), (0,))
    """
    qr, p = fac.q_rest, fac.p
    L11 = fac.L11
    c = L11[-1, :-1]  # y row of the rest factor
    Lrest = L11[:-1, :-1]
    sol = scipy.linalg.solve_triangular(Lrest, c, lower=True, trans="T", check_finite=False) \
        if Lrest.size else np.zeros(0)
    u_rest, beta = sol[:qr], sol[qr: qr + p]
    # first term: L00' u0 = c0 - L_{r0}' u_rest - L_{x0}' beta
    rhs = fac.Wx[-1] - fac.Wx[:-1].T @ beta
    Wr = rest_coupling(cp, fac)
    if Wr is not None:
        rhs = rhs - Wr.T @ u_rest
    n0, k0 = fac.L00.shape[0], fac.L00.shape[1]
    if k0 == 1:
        u0 = rhs / fac.L00[:, 0, 0]
    else:
        u0 = np.linalg.solve(np.swapaxes(fac.L00, 1, 2), rhs.reshape(n0, k0, 1))[..., 0].ravel()
    return beta, u0, u_rest


#: conditional variances form ``Lrr^-1 Wr L00^-1`` densely up to this many entries (8 bytes
#: each); beyond (100,000 users x 20,000 items: 2e9), from the inverse of the dense block and
#: each first-term level's pairs of rows
DENSE_COUPLING = 50_000_000


def _sparse_coupling_variances(fac: BlockedFactor, Wr, Linv0: np.ndarray, V0: np.ndarray,
                               cp: CrossProducts) -> list[np.ndarray]:
    """:func:`conditional_variances` where the coupling ``Wr`` is sparse and large: with
    ``Vrr`` the inverse of the rest terms' block (``S_rr^-1``, LAPACK's ``dpotri``), the first
    term's level ``g`` adds ``L00_g^-T (Wr_g' Vrr Wr_g) L00_g^-1``, summed over the pairs of
    its rows (a compiled loop); the other terms' blocks are ``Vrr``'s diagonal blocks."""
    qr = fac.q_rest
    n0, k0 = fac.L00.shape[0], fac.L00.shape[1]
    Vrr = inverse_from_factor(fac.L11[:qr, :qr])  # (C order) its lower triangle holds S_rr^-1
    W = Wr.tocsc()
    Q = np.zeros((n0, k0, k0))
    kernels.compiled("level_quadratic")(W.indptr.astype(np.int64), W.indices.astype(np.int64),
                                        np.ascontiguousarray(W.data, dtype=float), np.int64(k0), Vrr, Q)
    out = [V0 + np.einsum("gba,gbc,gcd->gad", Linv0, Q, Linv0)]
    start = 0
    for k, nl in zip(cp.k[1:], cp.nlevels[1:]):
        idx = start + np.arange(nl)[:, None] * k + np.arange(k)[None, :]  # (nl, k)
        blk = Vrr[idx[:, :, None], idx[:, None, :]]  # (nl, k, k), from the lower triangle
        out.append(np.tril(blk) + np.swapaxes(np.tril(blk, -1), 1, 2))
        start += k * nl
    return out


def conditional_variances(fac: BlockedFactor, cp: CrossProducts) -> list[np.ndarray]:
    """Per term, per level covariance of the spherical random effects given y, theta, beta.

    Returns a list of arrays ``(levels, k, k)`` of ``(L L')^{-1}`` diagonal blocks over
    the random-effects part; multiply by sigma^2 and T .. T' for the scale of b.

    Parameters
    ----------
    fac : BlockedFactor
        The factor at some theta.
    cp : CrossProducts
        The cross-products it was computed from.

    Returns
    -------
    list of ndarray
        One ``(levels, k, k)`` array per random term, in the design's order.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    >>> f = LmmObjective.from_design(d)
    >>> V = conditional_variances(f.factor(np.array([1.5397, 3.5125])), f.cp)
    >>> [v.shape for v in V]
    [(24, 1, 1), (6, 1, 1)]
    """
    n0, k0 = fac.L00.shape[0], fac.L00.shape[1]
    Linv0 = np.linalg.inv(fac.L00)  # (n0, k0, k0)
    V0 = np.einsum("gba,gbc->gac", Linv0, Linv0)  # L00^{-T} L00^{-1}
    out = [V0]
    Wr = rest_coupling(cp, fac)
    if Wr is None:
        return out
    qr = fac.q_rest
    Lrr = fac.L11[:qr, :qr]
    if sp.issparse(Wr) and qr * n0 * k0 > DENSE_COUPLING and kernels.available():
        return _sparse_coupling_variances(fac, Wr, Linv0, V0, cp)
    Lrr_inv = scipy.linalg.solve_triangular(Lrr, np.eye(qr), lower=True, check_finite=False)
    # V = Lrr^{-1} Wr L00^{-1}: dense (q_r, q0)
    Linv0_blk = (Wr.toarray() if hasattr(Wr, "toarray") else np.asarray(Wr)).reshape(qr, n0, k0)
    WL = np.einsum("rgb,gbc->rgc", Linv0_blk, Linv0).reshape(qr, n0 * k0)
    V = Lrr_inv @ WL
    Vb = V.reshape(qr, n0, k0)
    out[0] = V0 + np.einsum("rga,rgb->gab", Vb, Vb)
    Vrr = Lrr_inv.T @ Lrr_inv
    start = 0
    for k, nl in zip(cp.k[1:], cp.nlevels[1:]):
        blk = Vrr[start: start + k * nl, start: start + k * nl]
        idx = np.arange(nl)
        b4 = blk.reshape(nl, k, nl, k)
        out.append(b4[idx, :, idx, :])
        start += k * nl
    return out
