"""The gradient of the Laplace criterion of a GLMM with one scalar random-effects term.

With one scalar term, ``(1 | g)`` or ``(0 + x | g)``, the linear predictor is
``eta_i = o_i + x_i' beta + t z_i u_j`` (``t`` the relative standard deviation,
``j`` the level of row ``i``) and the Laplace criterion sums over the levels

    D = sum_j [ -2 sum_i w_i l_i(eta_i) + u_j^2 + log H_j ],
    H_j = 1 + t^2 sum_i w_i z_i^2 c_i,

at the conditional modes ``u_j``, with ``w`` the prior weights, ``l`` the
log-density and ``c = -d^2 l / d eta^2`` its observed curvature (glmmTMB's
Laplace approximation). The modes depend on the parameters, but the first
term is stationary in them (the envelope theorem), so only ``log H_j`` needs
their derivatives, ``du_j / d psi = -(d^2 g_j / du_j dpsi) / (2 H_j)``, which
take the curvature's derivative ``c' = dc / d eta``. Then, per row,

    v_i = -2 w_i l'_i + t^2 w_i z_i^2 c'_i / H_j - (t B_j / H_j) w_i z_i c_i,
    B_j = t^3 sum_i w_i z_i^3 c'_i / H_j,

the gradient in beta is ``X' v``, in ``t`` it is ``sum_i v_i z_i u_j + sum_j
(2 t A_j + B_j S_j) / H_j`` (``A_j = sum_i w_i z_i^2 c_i``, ``S_j = sum_i w_i
z_i l'_i``), and in a family's own parameter ``phi`` (a log-dispersion, a
zero-inflation coefficient, a threshold's log-gap) it is ``sum_i [-2 w_i
dl_i + t^2 w_i z_i^2 dc_i / H_j + (t B_j / H_j) w_i z_i dl'_i]``, each ``d``
a partial derivative in ``phi`` at fixed ``eta``.

The family gives ``l``, ``l'`` and ``c`` in closed form; ``c'`` and the
derivatives in its own parameters are central differences of those closed
forms at fixed ``eta`` (accurate to about 1e-8 relative, no PIRLS solve): one
gradient costs one PIRLS run and ``2 (1 + n_extra)`` evaluations of the
family (zero inflation's coefficients, which act through one predictor per
row, take two in all), against ``2 n`` PIRLS runs for central differences of
the criterion.

Examples
--------
>>> import multilevel as ml
>>> m = ml.glmer("count ~ mined + (1 | site)", ml.datasets.load("salamanders"), family="negative_binomial")
>>> m.optinfo.optimizer
'quasi-newton'
"""

from __future__ import annotations

import numpy as np

from ..families import kernels
from .pirls import PirlsResult

__all__ = ["NEWTON_TOL", "SEARCH_ACCEPT", "ScalarGradient", "hessian_of_gradient", "scalar_gradient", "search"]

#: Newton steps on the exact gradient finish the search where its largest entry is above this
#: (L-BFGS-B stops loosely: some 1e-3 on the deviance scale)
NEWTON_TOL = 1e-6
#: a search that stops where the gradient's largest entry is above this is not taken as an optimum
SEARCH_ACCEPT = 0.1
#: L-BFGS-B's memory: more pairs than most models have parameters, BFGS in effect (zero-inflated
#: NB2 on Salamanders, 18 parameters: 62 -> 41 evaluations against the default 10)
MAXCOR = 50

# central-difference steps: in eta (for c'), and in the family's internal parameters
_H_ETA = 1e-4
_H_EXTRA = 1e-5


def _rows(fam, y, eta):
    """Per row: the log-density, its derivative in eta and the observed curvature ``-d^2 l / d eta^2``."""
    mu = fam.link.inverse(eta)
    d, d2 = fam._link_derivatives(eta, mu)
    value, score, hess = fam.log_derivatives(y, mu)
    return value, score * d, -(hess * d * d + score * d2)


class ScalarGradient:
    """The Laplace criterion's gradient of one fit (a design with one scalar term, a family with
    observed curvature), built once per fit.

    Parameters
    ----------
    design : Design
        The standardised design the fit runs on.
    prior : ndarray (n,)
        Prior weights.
    offset : ndarray (n,)
    eta_scale : float
        The linear predictor's scale (its spread for an identity or inverse link, else 1): the
        step of the differences in eta is a fraction of it.
    fam : Family, optional
        The fit's family: a cumulative link or a zero-inflated Poisson or NB2 model with the log
        link is evaluated by the compiled kernel (:attr:`compiled`).
    """

    def __init__(self, design, prior, offset, eta_scale: float = 1.0, fam=None):
        self.h_eta = _H_ETA * float(eta_scale)
        term = design.terms[0]
        self.y = np.asarray(design.y, dtype=float)
        self.X = np.asarray(design.X, dtype=float)
        self.codes = np.asarray(term.codes)
        self.L = term.nlevels
        self.z = np.asarray(term.Z[:, 0], dtype=float)
        self.offset = offset
        w = np.asarray(prior, dtype=float)
        self.pos = w > 0
        self.w = w
        self.all_pos = bool(self.pos.all())
        # a cumulative link or zero-inflated count model: the criterion, its modes and its gradient
        # in one compiled call
        self._kernel = None
        kind = None if fam is None else kernels.one_term_kind(fam)
        if kind is not None:
            order = np.argsort(self.codes, kind="stable")
            start = np.searchsorted(self.codes[order], np.arange(self.L + 1))
            zi = getattr(fam, "zero_inflated", False)
            Xzi = np.ascontiguousarray(fam.Xzi, dtype=float) if zi else np.zeros((0, 0))
            zoff = np.ascontiguousarray(fam.zi_offset, dtype=float) if zi and fam.zi_offset is not None \
                else np.zeros(self.y.size)
            self._kernel = (kind, np.ascontiguousarray(self.X), np.ascontiguousarray(self.z),
                            order.astype(np.intp), start.astype(np.intp), np.ascontiguousarray(self.y),
                            np.ascontiguousarray(w), np.ascontiguousarray(np.asarray(offset, dtype=float)), Xzi,
                            zoff)

    @property
    def compiled(self) -> bool:
        """Whether :meth:`criterion` computes the criterion itself (a cumulative link or a
        zero-inflated Poisson or NB2 model), so that the fit needs no PIRLS run for it."""
        return self._kernel is not None

    def criterion(self, x: np.ndarray, p: int, u: np.ndarray, gradient: bool = True):
        """``(value, gradient or None, modes)`` at ``x = (t, beta, extra)`` from the modes ``u``, in
        one compiled call (:attr:`compiled` models only); the value is inf where a mode is not
        reached.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.glmm.fit import memory_engine
        >>> m = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine")).glmm
        >>> G = memory_engine(m.design, m.family, m._prior).gradient
        >>> x, p = m._x_internal, m.design.p        # (t, beta, log-gaps) at the optimum, standardised
        >>> value, g, u = G.criterion(x, p, np.zeros(9))
        >>> round(value, 3), bool(np.max(np.abs(g)) < 1e-5)      # -2 log-likelihood at its minimum
        (163.131, True)
        """
        kind, X, z, order, start, y, w, off, Xzi, zoff = self._kernel
        x = np.ascontiguousarray(x, dtype=float)
        u = np.array(u, dtype=float)
        g = np.empty(x.size if gradient else 0)
        value = kernels.laplace_one_term(kind, x, p, X, z, order, start, y, w, off, Xzi, zoff, u, self.h_eta, g)
        return float(value), (g if gradient else None), u

    def search(self, x0: np.ndarray, lower: np.ndarray, p: int, u: np.ndarray):
        """:func:`search` in one compiled call (:attr:`compiled` models only), from the modes ``u``:
        ``(x, value, evaluations, converged, gradient, modes)``; not converged where an iterate
        reached a bound (the caller searches again by L-BFGS-B, which handles it) or failed.

        BFGS with a backtracking line search, to ``max |gradient| <= 1e-5`` as L-BFGS-B's stop
        here; the Newton steps that follow finish it.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.glmm.fit import memory_engine
        >>> m = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine")).glmm
        >>> G = memory_engine(m.design, m.family, m._prior).gradient
        >>> x, p = m._x_internal, m.design.p        # (t, beta, log-gaps) at the optimum, standardised
        >>> out = G.search(x + 0.1, np.r_[0.0, np.full(x.size - 1, -np.inf)], p, np.zeros(9))
        >>> round(out[1], 3), out[3]
        (163.131, True)
        """
        kind, X, z, order, start, y, w, off, Xzi, zoff = self._kernel
        u = np.array(u, dtype=float)
        x, f, g, nfev, status = kernels.bfgs_one_term(kind, np.ascontiguousarray(x0, dtype=float),
                                                      np.ascontiguousarray(lower, dtype=float), p, X, z, order,
                                                      start, y, w, off, Xzi, zoff, u, self.h_eta, 500, 1e-5)
        return (np.asarray(x), float(f), int(nfev), int(status) == 0 and bool(np.isfinite(f)), np.asarray(g),
                u)

    def start(self, fam, p: int):
        """A start of the search without a PIRLS run, where the family has one (a cumulative link:
        zero random effects and fixed effects that put every threshold at its marginal
        proportion's quantile), as a :class:`~multilevel.glmm.pirls.PirlsResult`; else None.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.glmm.fit import memory_engine
        >>> m = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine")).glmm
        >>> G = memory_engine(m.design, m.family, m._prior).gradient
        >>> x, p = m._x_internal, m.design.p        # (t, beta, log-gaps) at the optimum, standardised
        >>> (G.start(m.family, p).beta.round(3) + 0.0).tolist()     # (the intercept's column only)
        [2.529, 0.0, 0.0]
        """
        if fam.name != "cumulative" or p == 0:
            return None
        pos = self.pos
        location = fam.start_location(self.y[pos])  # (unweighted, as start_extra's gaps)
        beta = np.linalg.lstsq(self.X[pos], np.full(int(pos.sum()), location), rcond=None)[0]
        eta = self.offset + self.X @ beta
        if not np.allclose(self.X[pos] @ beta, location, rtol=0, atol=1e-8):  # (no intercept column)
            return None
        return PirlsResult(beta=beta, u=np.zeros(self.L), eta=eta, mu=eta, devres=np.nan, logdet=np.nan,
                           iterations=0, converged=True)

    def hessian(self, x: np.ndarray, p: int, u: np.ndarray, h: np.ndarray) -> np.ndarray:
        """:func:`hessian_of_gradient` of the compiled criterion in one call (:attr:`compiled` models
        only), from the modes ``u``, with the steps ``h``.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.glmm.fit import memory_engine
        >>> m = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine")).glmm
        >>> G = memory_engine(m.design, m.family, m._prior).gradient
        >>> x, p = m._x_internal, m.design.p        # (t, beta, log-gaps) at the optimum, standardised
        >>> G.hessian(x, p, G.criterion(x, p, np.zeros(9))[2], np.full(x.size, 1e-4)).shape
        (7, 7)
        """
        kind, X, z, order, start, y, w, off, Xzi, zoff = self._kernel
        return kernels.hessian_one_term(kind, np.ascontiguousarray(x, dtype=float),
                                        np.ascontiguousarray(h, dtype=float), p, X, z, order, start, y, w, off,
                                        Xzi, zoff, np.array(u, dtype=float), self.h_eta)

    def modes(self, fam, x: np.ndarray, p: int, u: np.ndarray) -> PirlsResult:
        """The :class:`~multilevel.glmm.pirls.PirlsResult` at ``x = (t, beta, extra)`` (``fam`` the
        family there) from the compiled criterion, its modes reached from ``u`` (:attr:`compiled`
        models only).

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.glmm.fit import memory_engine
        >>> m = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine")).glmm
        >>> G = memory_engine(m.design, m.family, m._prior).gradient
        >>> x, p = m._x_internal, m.design.p        # (t, beta, log-gaps) at the optimum, standardised
        >>> round(G.modes(m.family, x, p, np.zeros(9)).laplace, 3)
        163.131
        """
        value, _, u = self.criterion(x, p, u, gradient=False)
        beta = np.array(x[1:1 + p], dtype=float)
        eta = self.offset + self.X @ beta + float(x[0]) * self.z * u[self.codes]
        mu = fam.link.inverse(eta)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            devres = -2.0 * float(self.w[self.pos] @ fam.logpdf(self.y, mu)[self.pos])
        return PirlsResult(beta=beta, u=u, eta=eta, mu=mu, devres=devres, logdet=value - devres - float(u @ u),
                           iterations=0, converged=bool(np.isfinite(value)))

    def _clean(self, a):
        # rows of weight 0 are not data: whatever their values (nan outside the family's range)
        return a if self.all_pos else np.where(self.pos, a, 0.0)

    def __call__(self, fam_at, x: np.ndarray, nt: int, p: int, u: np.ndarray) -> np.ndarray:
        """The gradient at ``x = (t, beta, extra)``, ``u`` the conditional modes there.

        ``fam_at(extra)`` is the family at its internal parameters ``extra``.
        """
        t = float(x[0])
        beta, extra = x[nt:nt + p], x[nt + p:]
        fam = fam_at(extra)
        y, w, z, codes, L = self.y, self.w, self.z, self.codes, self.L
        uj = u[codes]
        eta = self.offset + self.X @ beta + t * z * uj
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            _, l1, c = _rows(fam, y, eta)
            dc = (fam.curvature(y, eta + self.h_eta) - fam.curvature(y, eta - self.h_eta)) / (2.0 * self.h_eta)
        l1, c, dc = self._clean(l1), self._clean(c), self._clean(dc)
        wz = w * z
        A = np.bincount(codes, weights=wz * z * c, minlength=L)
        H = 1.0 + t * t * A
        S = np.bincount(codes, weights=wz * l1, minlength=L)
        B = t ** 3 * np.bincount(codes, weights=wz * z * z * dc, minlength=L) / H
        Hi, tBH = H[codes], (t * B / H)[codes]
        v = -2.0 * w * l1 + t * t * wz * z * dc / Hi - tBH * wz * c
        g = np.empty(x.size)
        g[0] = float(v @ (z * uj)) + float(np.sum((2.0 * t * A + B * S) / H))
        g[nt:nt + p] = v @ self.X
        if extra.size:
            # per row, the derivative's weights on (dl, dc, dl') in a family parameter
            fz, hz = t * t * wz * z / Hi, tBH * wz

            def per_row(plus, minus):
                dl, dl1, dcm = ((self._clean(a) - self._clean(b)) / (2.0 * _H_EXTRA) for a, b in zip(plus, minus))
                return -2.0 * w * dl + fz * dcm + hz * dl1

            rows = fam.row_extras()
            each = extra.size if rows is None else rows[0]
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                for m in range(each):
                    parts = []
                    for s in (1.0, -1.0):
                        e = extra.copy()
                        e[m] += s * _H_EXTRA
                        parts.append(_rows(fam_at(e), y, eta))
                    g[nt + p + m] = float(np.sum(per_row(*parts)))
                if rows is not None:  # parameters through a per-row predictor: one difference in it
                    start, M = rows
                    plus, minus = (_rows(fam.shifted(s * _H_EXTRA), y, eta) for s in (1.0, -1.0))
                    g[nt + p + start:] = per_row(plus, minus) @ M
        return g


def scalar_gradient(design, fam, prior, offset, eta_scale: float = 1.0):
    """A :class:`ScalarGradient` where the Laplace criterion has one here (one scalar random-effects
    term, a family whose Laplace curvature is the observed one), else None.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.families import family
    >>> d = build_design("count ~ mined + (1 | site)", ml.datasets.load("salamanders"))
    >>> scalar_gradient(d, family("negative_binomial"), np.ones(d.n), np.zeros(d.n)) is not None
    True
    >>> scalar_gradient(d, family("poisson"), np.ones(d.n), np.zeros(d.n)) is None
    True
    """
    if len(design.terms) != 1 or design.terms[0].k != 1:
        return None
    if not getattr(fam, "observed_curvature", False) or not hasattr(fam, "derivatives"):
        return None
    return ScalarGradient(design, prior, offset, eta_scale, fam)


def search(fg, x0: np.ndarray, lower: np.ndarray, maxiter: int = 500):
    """Minimise the criterion by L-BFGS-B with its gradient: ``fg(x) -> (value, gradient)``.

    Returns ``(x, value, evaluations, converged, gradient)``; an evaluation where the criterion is
    not finite (PIRLS failed) is a large value to L-BFGS-B's line search, and marks the search
    unconverged however it ends: the caller then falls back to BOBYQA.

    Examples
    --------
    >>> x, f, n, ok, g = search(lambda v: (float((v[0] - 2) ** 2 + v[1] ** 2), np.array([2 * (v[0] - 2), 2 * v[1]])),
    ...                      np.array([0.5, 1.0]), np.array([0.0, -np.inf]))
    >>> (np.round(x, 6) + 0.0).tolist(), f < 1e-12, ok
    ([2.0, 0.0], True, True)
    """
    from scipy import optimize

    count = [0]
    bad = [False]

    def f(x):
        count[0] += 1
        value, g = fg(x)
        if not (np.isfinite(value) and np.all(np.isfinite(g))):
            bad[0] = True
            return 1e300, np.zeros_like(x)
        return value, g

    bounds = [(lo if np.isfinite(lo) else None, None) for lo in lower]
    res = optimize.minimize(f, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                            options={"maxiter": maxiter, "maxcor": MAXCOR, "ftol": 1e-10, "gtol": 1e-5})
    ok = bool(res.success) and not bad[0] and bool(np.isfinite(res.fun))
    return np.asarray(res.x, dtype=float), float(res.fun), count[0], ok, np.asarray(res.jac, dtype=float)


def hessian_of_gradient(grad, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The Hessian as central differences of an exact gradient (``2n`` gradients), symmetrised.

    Examples
    --------
    >>> H = hessian_of_gradient(lambda v: np.array([2 * v[0] * v[1], v[0] ** 2 + 3 * v[1] ** 2]),
    ...                         np.array([1.0, 2.0]), np.full(2, 1e-4))
    >>> np.round(H, 6).tolist()      # of v0^2 v1 + v1^3
    [[4.0, 2.0], [2.0, 12.0]]
    """
    n = x.size
    H = np.empty((n, n))
    for i in range(n):
        e = np.zeros(n)
        e[i] = h[i]
        H[i] = (grad(x + e) - grad(x - e)) / (2.0 * h[i])
    return 0.5 * (H + H.T)
