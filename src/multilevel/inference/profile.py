"""Profile-likelihood confidence intervals, as lme4's ``confint(profile(fit))``.

For each parameter on lme4's scale -- the standard deviation of every random
effect, the correlations within each term, the residual standard deviation
``sigma`` and every fixed effect -- the profile is the signed square root of the
increase in the deviance when that parameter is held fixed and all the others
are re-optimised,

    zeta(x) = sign(x - x_hat) * sqrt(D(x) - D_hat),

and the interval at ``level`` is where ``zeta = -+ qnorm((1 + level) / 2)``.

As lme4 (``devfun2`` refits REML fits with ``refitML``), the deviance profiled
is the maximum-likelihood deviance for both ML and REML fits: the intervals of
a REML fit are those of its ML refit. lme4 interpolates a spline through a grid
of profile points; here each limit is solved for directly (safeguarded Newton
steps on ``zeta``, with the profile's exact derivative from the envelope
theorem), which agrees with lme4 to its interpolation error.

Parameterisation. Every term's relative covariance ``Sigma_i / sigma^2`` is
written with relative standard deviations ``s`` and correlations ``C`` as
``diag(s) C diag(s)``, with factor ``T_i = diag(s) chol(C)`` (so theta follows
from ``(s, C)``); the absolute standard deviations are ``sigma * s``.

* a correlation fixed: the other relative parameters are optimised and sigma
  is profiled out in closed form;
* ``sigma`` fixed: all relative parameters are optimised at that sigma;
* a standard deviation ``sd_j`` fixed: sigma and the other relative
  parameters are optimised, with ``s_j = sd_j / sigma``;
* a fixed effect ``beta_j`` fixed: theta is optimised with the other fixed
  effects and sigma profiled out, using that the penalised residual sum of
  squares is ``pwrss(theta) + (b - beta_hat_j(theta))^2 / [(R_X'R_X)^-1]_jj``.

Each conditional optimum is found with NLopt's BOBYQA within the bounds
``s >= 0`` (the free correlations searched as ``atanh(cor)``), from a start
extrapolated from the nearest points already profiled.

Units. The profile is computed for a working copy of the design -- the response
centred and scaled as the fit's standardisation does it, X in its orthogonal
basis, each random-effects column divided by its root mean square -- and each
limit is mapped back to the user's units, which is exact (zeta does not change
under a monotone map of a parameter): the searches' steps and tolerances then
mean the same whatever the units or origin of the response and predictors. The ML optimum itself is re-optimised first (from the
fit's theta, restarting the trust region until it no longer improves), so the
profiles start from the optimum even where a refit stops short of it.

Where lme4's own optimizer leaves the other parameters at their estimates --
seen on singular fits, e.g. the random-slope models of the Lee & Bryk data --
lme4's "profile" is a slice through the estimates and its interval is
narrower than this one.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import nlopt
import numpy as np
import pandas as pd
import scipy.linalg
from scipy import stats

from ..linalg import NotPositiveDefinite, ThetaLayout
from ..lmm.fit import snap_to_boundary
from ..lmm.objective import LmmObjective
from .parameters import _select, _variance_names, parameter_names, percent_labels

__all__ = ["profile_confint"]

_LOG2PI = float(np.log(2.0 * np.pi))
_BIG = 1e300


# ------------------------------------------------------ theta <-> (s, cor)
@dataclass(frozen=True)
class _Term:
    off: int
    k: int
    rows: np.ndarray
    cols: np.ndarray
    diag: np.ndarray  # positions (within the segment) of the relative sds
    offd: np.ndarray  # positions of the correlations
    structure: object = None  # a covariance structure: its segment is (SD ratios, rho's parameter)

    @property
    def size(self) -> int:
        return self.structure.nparams if self.structure is not None else self.rows.size


def _terms(layout: ThetaLayout) -> list[_Term]:
    out = []
    structures = layout.structures or (None,) * len(layout.k)
    for off, k, rows, cols, st in zip(layout.offsets, layout.k, layout.rows, layout.cols, structures):
        if st is not None:  # relative parameters: the SD ratios, then the correlation rho itself
            out.append(_Term(off, k, rows, cols, np.arange(st.nsd), np.array([st.nsd]), st))
        else:
            out.append(_Term(off, k, rows, cols, np.nonzero(rows == cols)[0], np.nonzero(rows != cols)[0]))
    return out


def _chol_psd(C: np.ndarray) -> np.ndarray | None:
    """Lower Cholesky factor of a positive semi-definite correlation matrix (None if
    it is not semi-definite)."""
    k = C.shape[0]
    L = np.zeros_like(C)
    for j in range(k):
        d = C[j, j] - L[j, :j] @ L[j, :j]
        if d < -1e-10:
            return None
        if d <= 1e-14:
            continue  # column j is zero: C is singular there
        L[j, j] = math.sqrt(d)
        L[j + 1:, j] = (C[j + 1:, j] - L[j + 1:, :j] @ L[j, :j]) / L[j, j]
    return L


def _theta_from_rel(terms: list[_Term], r: np.ndarray) -> np.ndarray | None:
    """theta from relative standard deviations and correlations (None if invalid)."""
    out = np.empty(r.shape[0])
    for t in terms:
        o = t.off
        if t.structure is not None:
            nsd = t.structure.nsd
            rho = r[o + nsd]
            if not t.structure.rho_lower <= rho <= 1.0:
                return None  # (on a bound the correlation is taken a hair inside it)
            out[o: o + nsd] = r[o: o + nsd]
            out[o + nsd] = t.structure._a_of_rho(rho)
        elif t.k == 1:
            out[o] = r[o]
        elif t.k == 2:
            s0, c, s1 = r[o], r[o + 1], r[o + 2]
            out[o] = s0
            out[o + 1] = s1 * c
            out[o + 2] = s1 * math.sqrt(max(0.0, 1.0 - c * c))
        else:
            seg = r[o: o + t.rows.size]
            C = np.eye(t.k)
            C[t.rows[t.offd], t.cols[t.offd]] = seg[t.offd]
            C[t.cols[t.offd], t.rows[t.offd]] = seg[t.offd]
            L = _chol_psd(C)
            if L is None:
                return None
            T = seg[t.diag][:, None] * L
            out[o: o + t.rows.size] = T[t.rows, t.cols]
    return out


def _rel_from_theta(terms: list[_Term], theta: np.ndarray) -> np.ndarray:
    """Relative standard deviations and correlations from theta (correlations of an
    effect with zero variance are set to 0)."""
    out = np.empty(theta.shape[0])
    for t in terms:
        if t.structure is not None:
            nsd = t.structure.nsd
            out[t.off: t.off + nsd] = theta[t.off: t.off + nsd]
            out[t.off + nsd] = t.structure.rho(theta[t.off + nsd])
            continue
        seg = theta[t.off: t.off + t.rows.size]
        T = np.zeros((t.k, t.k))
        T[t.rows, t.cols] = seg
        S = T @ T.T
        sd = np.sqrt(np.diag(S))
        vals = np.empty(t.rows.size)
        for i, (a, b) in enumerate(zip(t.rows, t.cols)):
            if a == b:
                vals[i] = sd[a]
            else:
                den = sd[a] * sd[b]
                vals[i] = min(1.0, max(-1.0, S[a, b] / den)) if den > 0 else 0.0
        out[t.off: t.off + t.rows.size] = vals
    return out


# ------------------------------------------------------------ working units
@dataclass(frozen=True)
class _Working:
    """The fit's design in working units, where the profile is computed: the response
    centred and scaled as the fit's standardisation does it (``(y - X shift) / s``), X in
    its orthogonal basis (``X Tx``) and each random-effects column divided by its root mean
    square (one for the columns of a ``cs`` or ``ar1`` term), so that the searches' steps
    and tolerances mean the same in any units or origin of the data. A parameter on lme4's
    scale is ``c + a x`` of its working value ``x``: SDs ``s sd / d_j``, sigma ``s sigma``,
    correlations themselves, a fixed effect ``shift_j + s (Tx[j] . beta_w)``."""

    design: object
    scale: float
    shift: np.ndarray
    contrasts: np.ndarray   # (p, p): fixed effect j's working value is contrasts[j] . beta_w
    col_scale: np.ndarray   # per relative position (theta's layout), d_j of an SD's column

    @property
    def terms(self):
        return self.design.terms

    def to_user(self, par) -> tuple[float, float]:
        """(c, a): the parameter's value in the user's units is ``c + a x``."""
        if par.kind == "sd":
            return 0.0, self.scale / self.col_scale[par.index]
        if par.kind == "sigma":
            return 0.0, self.scale
        if par.kind == "beta":
            return float(self.shift[par.index]), self.scale
        return 0.0, 1.0


def _working_design(fit) -> tuple[_Working, np.ndarray]:
    """The :class:`_Working` design of a fit and its theta in working units."""
    from dataclasses import replace

    from ..design.standardize import column_scales

    design = fit.design
    st, inner = fit._standardized   # (its response and X: centred and scaled, orthogonalised)
    p = design.X.shape[1]
    Tx = st.Tx if st.Tx.size else np.eye(p)
    s = float(st.scale) if st.response else 1.0
    shift = np.asarray(st.shift, dtype=float) if st.response and p else np.zeros(p)
    layout = ThetaLayout.from_terms(design.terms)
    T_user = layout.factors(fit.theta.to_numpy().astype(float))
    terms, theta, col_scale = [], [], []
    for t, T, off in zip(design.terms, T_user, layout.offsets):
        rms = column_scales(t)
        terms.append(replace(t, Z=np.ascontiguousarray(t.Z / rms)))
        if t.structure is not None:
            seg = fit.theta.to_numpy()[off: off + t.structure.nparams].astype(float)
            theta.append(t.structure.rescale(seg, rms))
            col_scale.append(np.r_[rms[: t.structure.nsd], 1.0])
        else:
            rows, cols = layout.rows[len(theta)], layout.cols[len(theta)]
            theta.append((rms[:, None] * T)[rows, cols])
            col_scale.append(np.where(rows == cols, rms[rows], 1.0))
    work = replace(design, y=np.asarray(inner.y, dtype=float), offset=None, fixed=inner.fixed, terms=tuple(terms))
    out = _Working(design=work, scale=s, shift=shift, contrasts=np.asarray(Tx, dtype=float),
                   col_scale=np.concatenate(col_scale) if col_scale else np.zeros(0))
    return out, (np.concatenate(theta) if theta else np.zeros(0))


# ------------------------------------------------------------- optimisation
def _bobyqa(fun, x0: np.ndarray, lower: np.ndarray, upper: np.ndarray, step: np.ndarray,
            xtol: float, ftol: float, maxeval: int = 20_000):
    """Minimise ``fun`` within box bounds; returns (x, f, evaluations, converged)."""
    n = x0.size
    if n == 0:
        return x0, float(fun(x0)), 1, True
    best = [np.inf, x0.copy()]
    count = [0]

    def f(x, grad):
        count[0] += 1
        v = fun(x)
        if not np.isfinite(v):
            v = _BIG
        if v < best[0]:
            best[0], best[1] = v, x.copy()
        return v

    opt = nlopt.opt(nlopt.LN_BOBYQA, n)
    opt.set_lower_bounds(lower)
    opt.set_upper_bounds(upper)
    opt.set_xtol_abs(xtol)
    opt.set_ftol_abs(ftol)
    opt.set_maxeval(maxeval)
    opt.set_initial_step(step)
    opt.set_min_objective(f)
    x = np.clip(x0, lower, upper)
    converged = True
    try:
        opt.optimize(x)
        converged = opt.last_optimize_result() != nlopt.MAXEVAL_REACHED
    except nlopt.RoundoffLimited:
        pass
    except (RuntimeError, ValueError):
        converged = False
    return best[1], float(best[0]), count[0], converged


# ------------------------------------------------------------------ profiler
@dataclass
class _Param:
    name: str
    kind: str  # "sd", "cor", "sigma" or "beta"
    index: int  # position in the relative vector (sd, cor) or among the fixed effects
    estimate: float
    lower: float
    upper: float


@dataclass
class _Point:
    x: float
    zeta: float
    dzeta: float
    free: np.ndarray


@dataclass
class _Profiler:
    """The ML deviance of a fit as a function of its parameters on lme4's scale."""

    fit: object
    obj: LmmObjective = field(init=False)
    evals: int = 0
    lowest: float = 0.0  # lowest deviance found while profiling, relative to the optimum

    def __post_init__(self):
        fit = self.fit
        self.work, theta_user = _working_design(fit)
        design = self.work.design
        cp = LmmObjective.from_design(design, reml=False).cp
        layout = ThetaLayout.from_k(cp.k, tuple(t.structure for t in design.terms))
        self.obj = LmmObjective(cp=cp, layout=layout, reml=False)
        self.cp = cp
        self.n, self.p = cp.n, cp.p
        self.terms = _terms(layout)
        self.ntheta = layout.ntheta
        theta, dev = self._ml_optimum(theta_user, layout)
        fac = self.obj.factor(theta)
        qr, p = fac.q_rest, fac.p
        Lxx = fac.L11[qr: qr + p, qr: qr + p]
        cx = fac.L11[-1, qr: qr + p]
        self.theta_hat = theta
        self.base = dev
        self.sigma_hat = math.sqrt(fac.pwrss / self.n)
        A = self.work.contrasts  # a fixed effect is a contrast of the working coefficients
        bw = (scipy.linalg.solve_triangular(Lxx, cx, lower=True, trans="T", check_finite=False)
              if p else np.zeros(0))
        self.beta_hat = A @ bw if p else np.zeros(0)
        if p:
            Z = scipy.linalg.solve_triangular(Lxx, A.T, lower=True, check_finite=False)
            self.beta_se = self.sigma_hat * np.sqrt(np.einsum("ij,ij->j", Z, Z))
        else:
            self.beta_se = np.zeros(0)
        self.rel_hat = _rel_from_theta(self.terms, self.theta_hat)
        diag = layout.diagonal
        self.unstructured_cor = ~diag.copy()
        for t in self.terms:
            if t.structure is not None:
                self.unstructured_cor[t.off: t.off + t.size] = False
        self.rel_lower = np.where(diag, 0.0, -1.0)
        self.rel_upper = np.where(diag, np.inf, 1.0)
        for t in self.terms:  # a structure's correlation: above the smallest that keeps it definite
            if t.structure is not None:
                self.rel_lower[t.off + t.structure.nsd] = t.structure.rho_lower
        self.diag = diag
        names = _variance_names(fit.design)
        params = []
        for i in range(self.ntheta):
            if diag[i]:
                params.append(_Param(names[i], "sd", i, self.sigma_hat * self.rel_hat[i],
                                     0.0, np.inf))
            else:
                params.append(_Param(names[i], "cor", i, self.rel_hat[i], self.rel_lower[i], 1.0))
        params.append(_Param("sigma", "sigma", -1, self.sigma_hat, 0.0, np.inf))
        for j, name in enumerate(fit.fixef.index):
            params.append(_Param(name, "beta", j, self.beta_hat[j], -np.inf, np.inf))
        self.params = params
        self._var_se = None

    def _ml_optimum(self, start: np.ndarray, layout: ThetaLayout) -> tuple[np.ndarray, float]:
        """theta at the optimum of the ML deviance, from ``start`` (the fit's theta).

        The optimisation is restarted with a fresh trust region until it no longer
        improves, so that a start near a boundary (where a relative initial step is
        tiny) does not stop it early.
        """
        obj, lower = self.obj, layout.lower
        upper = np.full(lower.size, np.inf)
        best_x, best_f = start, obj(start)
        for _ in range(4):
            step = np.maximum(0.1 * np.abs(best_x), 0.05)
            x, f, _, _ = _bobyqa(obj, best_x, lower, upper, step, xtol=1e-10, ftol=1e-12)
            improved = f < best_f - 1e-9
            if f < best_f:
                best_x, best_f = x, f
            if not improved:
                break
        best_x = np.where(layout.diagonal & (np.abs(best_x) < 1e-10), 0.0, best_x)
        best_x = snap_to_boundary(obj, best_x, float(obj(best_x)), layout)
        return best_x, float(obj(best_x))

    # ------------------------------------------------------------ deviances
    def _factor(self, theta):
        self.evals += 1
        try:
            return self.obj.factor(theta)
        except NotPositiveDefinite:
            return None

    def _ld(self, fac) -> float:
        return fac.logdet_theta - self.cp.log_weights

    def dev_sigma(self, theta, sigma: float) -> tuple[float, float]:
        """ML deviance at (theta, sigma) and its derivative over sigma."""
        if theta is None or not sigma > 0 or not np.isfinite(sigma):
            return np.inf, np.nan
        fac = self._factor(theta)
        if fac is None:
            return np.inf, np.nan
        pw, s2, n = fac.pwrss, sigma * sigma, self.n
        dev = self._ld(fac) + pw / s2 + n * (_LOG2PI + math.log(s2))
        return dev, 2.0 * n / sigma - 2.0 * pw / (s2 * sigma)

    def dev_profiled(self, theta) -> float:
        """ML deviance at theta, sigma and the fixed effects profiled out."""
        if theta is None:
            return np.inf
        fac = self._factor(theta)
        if fac is None:
            return np.inf
        pw = fac.pwrss
        if not pw > 0:
            return np.inf
        return self._ld(fac) + self.n * (1.0 + _LOG2PI + math.log(pw / self.n))

    def dev_beta(self, theta, j: int, b: float) -> tuple[float, float]:
        """ML deviance with fixed effect j's working value ``a_j . beta_w = b`` (the other
        directions and sigma profiled out: ``pwrss + (b - a_j . beta_hat)^2 / (a_j' (R'R)^-1
        a_j)``) and its derivative over b."""
        if theta is None:
            return np.inf, np.nan
        fac = self._factor(theta)
        if fac is None:
            return np.inf, np.nan
        qr, p = fac.q_rest, fac.p
        Lxx = fac.L11[qr: qr + p, qr: qr + p]
        cx = fac.L11[-1, qr: qr + p]
        bhat = scipy.linalg.solve_triangular(Lxx, cx, lower=True, trans="T", check_finite=False)
        a = self.work.contrasts[j]
        z = scipy.linalg.solve_triangular(Lxx, a, lower=True, check_finite=False)
        cjj = float(z @ z)
        d = b - float(a @ bhat)
        pw = fac.pwrss + d * d / cjj
        if not pw > 0:
            return np.inf, np.nan
        n = self.n
        dev = self._ld(fac) + n * (1.0 + _LOG2PI + math.log(pw / n))
        return dev, 2.0 * n * d / (cjj * pw)

    # ----------------------------------------- one parameter held at a value
    def _setup(self, par: _Param, x: float):
        """(function of the free parameters -> deviance, lower, upper, derivative of the
        deviance over x at given free parameters)."""
        terms = self.terms
        if par.kind == "beta":
            j = par.index

            def f(th):
                return self.dev_beta(th, j, x)[0]

            def deriv(th):
                return self.dev_beta(th, j, x)[1]

            return f, self.obj.layout.lower, np.full(self.ntheta, np.inf), deriv, "theta"
        if par.kind == "sigma":
            def f(r):
                return self.dev_sigma(_theta_from_rel(terms, r), x)[0]

            def deriv(r):
                return self.dev_sigma(_theta_from_rel(terms, r), x)[1]

            return f, self.rel_lower, self.rel_upper, deriv, "rel"
        i = par.index
        keep = np.arange(self.ntheta) != i
        if par.kind == "sd" and x > 0:
            # free: the relative parameters with sigma in place of s_i = x / sigma
            lo, hi = self.rel_lower.copy(), self.rel_upper.copy()
            lo[i] = 0.0

            def rel(v):
                r = v.copy()
                r[i] = x / v[i]
                return r

            def f(v):
                if not v[i] > 0:
                    return np.inf
                return self.dev_sigma(_theta_from_rel(terms, rel(v)), v[i])[0]

            def deriv(v):
                return self.dev_sigma(_theta_from_rel(terms, rel(v)), v[i])[1] * v[i] / x

            return f, lo, hi, deriv, "rel"

        # a correlation, or a standard deviation of zero: sigma profiled out
        def full(rr):
            r = np.empty(self.ntheta)
            r[keep] = rr
            r[i] = x
            return r

        def f(rr):
            return self.dev_profiled(_theta_from_rel(terms, full(rr)))

        def deriv(rr):
            if par.kind == "sd":
                return np.nan
            h = 1e-6
            lo, hi = max(self.rel_lower[i], x - h), min(1.0, x + h)
            r = full(rr)
            r[i] = hi
            fh = self.dev_profiled(_theta_from_rel(terms, r))
            r[i] = lo
            fl = self.dev_profiled(_theta_from_rel(terms, r))
            return (fh - fl) / (hi - lo)

        return f, self.rel_lower[keep], self.rel_upper[keep], deriv, "reduced"

    def start_free(self, par: _Param) -> np.ndarray:
        """Free parameters at the estimate: theta for a fixed effect; the relative
        parameters for sigma, without the correlation held fixed, or with sigma in
        place of the relative standard deviation held fixed."""
        if par.kind == "beta":
            return self.theta_hat.copy()
        if par.kind == "cor":
            return np.delete(self.rel_hat, par.index)
        if par.kind == "sd":
            v = self.rel_hat.copy()
            v[par.index] = self.sigma_hat
            return v
        return self.rel_hat.copy()

    def evaluate(self, par: _Param, x: float, start: np.ndarray) -> _Point:
        """zeta at x, its derivative, and the free parameters at the conditional optimum."""
        f, lo, hi, deriv, space = self._setup(par, x)
        x0 = np.asarray(start, dtype=float)
        at_zero = par.kind == "sd" and space == "reduced"
        if at_zero:
            x0 = np.delete(x0, par.index)
        x0 = np.clip(x0, lo, hi)
        if par.kind == "sd" and not at_zero and not x0[par.index] > 0:
            x0[par.index] = self.sigma_hat
        # free correlations of unstructured terms are searched as atanh(cor): near -+1 (a
        # random slope's covariate far from zero puts the intercept's correlation with it at
        # -0.99999) a step of the search in cor itself cannot resolve the ridge
        cor = np.zeros(x0.size, dtype=bool)
        if space != "theta":
            free = np.ones(self.ntheta, dtype=bool)
            if space == "reduced":
                free[par.index] = False
            cor = self.unstructured_cor[free] & (lo <= -1.0) & (hi >= 1.0)
        if cor.any():
            g = f
            # (a start extrapolated to -+1 is taken well inside: tanh is flat at atanh(1 - 1e-15))
            x0 = np.where(cor, np.arctanh(np.clip(x0, -1.0 + 1e-3, 1.0 - 1e-3)), x0)
            lo, hi = np.where(cor, -np.inf, lo), np.where(cor, np.inf, hi)

            def f(v):
                return g(np.where(cor, np.tanh(v), v))
        bounded = np.isfinite(hi - lo)
        step = np.where(bounded, 0.05, np.maximum(0.05 * np.abs(x0), np.where(cor, 0.05, 1e-2)))
        xopt, fopt, _, _ = _bobyqa(f, x0, lo, hi, step, xtol=1e-6, ftol=1e-8)
        if cor.any():
            xopt = np.where(cor, np.tanh(xopt), xopt)
        dd = fopt - self.base
        self.lowest = min(self.lowest, dd)
        zeta = (math.copysign(math.sqrt(max(dd, 0.0)), x - par.estimate)
                if np.isfinite(dd) else np.nan)
        g = deriv(xopt) if np.isfinite(fopt) else np.nan
        dz = g / (2.0 * abs(zeta)) if zeta != 0 and np.isfinite(g) else np.nan
        if at_zero:  # store sigma at that optimum in the place of s_i
            r = np.insert(xopt, par.index, 0.0)
            fac = self._factor(_theta_from_rel(self.terms, r))
            sig = math.sqrt(fac.pwrss / self.n) if fac is not None else self.sigma_hat
            xopt = np.insert(xopt, par.index, sig)
        return _Point(x, zeta, dz, xopt)

    # ------------------------------------------------------------ local se
    def var_se(self) -> np.ndarray:
        """Approximate standard errors of the variance parameters on lme4's scale (from
        a finite-difference Hessian of the deviance; NaN where it is not usable)."""
        if self._var_se is not None:
            return self._var_se
        terms, nt = self.terms, self.ntheta
        v0 = np.append(self.sigma_hat * np.where(self.diag, self.rel_hat, 0.0)
                       + np.where(self.diag, 0.0, self.rel_hat), self.sigma_hat)

        def dev(v):
            sig = v[-1]
            r = np.where(self.diag, v[:nt] / sig, v[:nt])
            if np.any(r[~self.diag] > 1) or np.any(r[~self.diag] < -1):
                return np.inf
            return self.dev_sigma(_theta_from_rel(terms, r), sig)[0]

        m = nt + 1
        h = 1e-4 * np.maximum(np.abs(v0), 1e-2)
        h[:nt] = np.where(self.diag, h[:nt], 1e-4)
        with np.errstate(invalid="ignore", over="ignore"):
            H = self._hessian(dev, v0, h)
        se = np.full(m, np.nan)
        if np.all(np.isfinite(H)):
            try:
                w = np.linalg.eigvalsh(H)
                if w[0] > 1e-8 * max(w[-1], 1e-300):
                    se = np.sqrt(np.maximum(2.0 * np.diag(np.linalg.inv(H)), 0.0))
            except np.linalg.LinAlgError:
                pass
        self._var_se = se
        return se

    @staticmethod
    def _hessian(dev, v0: np.ndarray, h: np.ndarray) -> np.ndarray:
        m = v0.size
        H = np.empty((m, m))
        f0 = dev(v0)
        for a in range(m):
            e = np.zeros(m)
            e[a] = h[a]
            H[a, a] = (dev(v0 + e) - 2 * f0 + dev(v0 - e)) / h[a] ** 2
        for a in range(m):
            for b in range(a):
                ea = np.zeros(m)
                ea[a] = h[a]
                eb = np.zeros(m)
                eb[b] = h[b]
                H[a, b] = H[b, a] = (dev(v0 + ea + eb) - dev(v0 + ea - eb) - dev(v0 - ea + eb)
                                     + dev(v0 - ea - eb)) / (4 * h[a] * h[b])
        return H

    def local_se(self, par: _Param) -> float:
        if par.kind == "beta":
            return float(self.beta_se[par.index])
        se = self.var_se()
        return float(se[-1] if par.kind == "sigma" else se[par.index])


# ------------------------------------------------------------ the limits
def _interp_start(points: list[_Point], x: float) -> np.ndarray:
    """Free parameters at x by linear inter- or extrapolation from the two evaluated
    points nearest to x."""
    if len(points) == 1:
        return points[0].free.copy()
    a, b = sorted(points, key=lambda p: abs(p.x - x))[:2]
    if a.x == b.x:
        return a.free.copy()
    w = min(max((x - a.x) / (b.x - a.x), -2.0), 3.0)
    return a.free + w * (b.free - a.free)


def _find_limit(prof: _Profiler, par: _Param, target: float, origin: _Point,
                ztol: float = 1e-6, maxit: int = 60):
    """x with zeta(x) = target on one side of the estimate; returns (x, note)."""
    d = 1.0 if target > 0 else -1.0
    tz = abs(target)
    bound = par.upper if d > 0 else par.lower
    est = par.estimate
    if (est - bound) * d >= 0:
        return bound, "the estimate is on the boundary"

    def span(p):
        return abs(p.x - est)

    def between(x, a, b):
        return (x - a) * d > 0 and (b - x) * d > 0

    points = [origin]
    inner, outer = origin, None  # farthest point inside, nearest point beyond the limit
    se = prof.local_se(par)
    if np.isfinite(se) and se > 0:
        x = est + target * se
    else:
        x = est + d * (0.1 * abs(est) if est != 0 else 0.1 * prof.sigma_hat)
    reach = abs(x - est)
    bound_tried = False
    for _ in range(maxit):
        if outer is not None:
            if not between(x, inner.x, outer.x):
                # secant between the bracket ends, bisection when that is no better
                zi, zo = abs(inner.zeta), abs(outer.zeta)
                x = (inner.x + (outer.x - inner.x) * (tz - zi) / (zo - zi)
                     if np.isfinite(zo) and zo > zi else 0.5 * (inner.x + outer.x))
                if not between(x, inner.x, outer.x):
                    x = 0.5 * (inner.x + outer.x)
        else:
            if (x - inner.x) * d <= 0:
                x = inner.x + d * max(span(inner), 1e-3 * (abs(est) + 1.0))
            if span(inner) > 0:
                lim = est + d * 10.0 * span(inner)  # at most tenfold further out
                if (x - lim) * d > 0:
                    x = lim
            if span(inner) > 1e6 * (abs(est) + reach):
                return np.nan, "the profile stays below the limit (flat likelihood)"
        if np.isfinite(bound) and (x - bound) * d >= 0:
            x = 0.5 * (inner.x + bound) if bound_tried else bound
        if x == bound:
            bound_tried = True
        pt = prof.evaluate(par, x, _interp_start(points, x))
        points.append(pt)
        if not np.isfinite(pt.zeta):
            pt.zeta = np.inf  # undefined: treated as beyond the limit
            if outer is None or span(pt) < span(outer):
                outer = pt
            x = 0.5 * (inner.x + outer.x)
            continue
        if (pt.zeta - target) * d >= 0:
            if outer is None or span(pt) < span(outer):
                outer = pt
        else:
            if span(pt) > span(inner):
                inner = pt
            if x == bound:
                return bound, "the profile does not reach the limit before the boundary"
        if abs(pt.zeta - target) < ztol:
            return pt.x, None
        if np.isfinite(pt.dzeta) and pt.dzeta * d > 0:
            x = pt.x + (target - pt.zeta) / pt.dzeta
        elif pt.zeta * d > 0:
            x = est + (pt.x - est) * target / pt.zeta  # secant through the estimate
        else:
            x = est + 2.0 * (pt.x - est)
        scale = abs(pt.x) + (prof.local_se(par) if np.isfinite(prof.local_se(par)) else 1.0)
        if abs(x - pt.x) < 1e-10 * scale or (
                outer is not None and abs(outer.x - inner.x) < 1e-10 * scale):
            return pt.x, None
    return np.nan, "the profile search did not converge"


def _profile_param(prof: _Profiler, par: _Param, z: float):
    """(lower, upper, notes) of one parameter."""
    origin = _Point(par.estimate, 0.0, np.nan, prof.start_free(par))
    out, notes = [], []
    for target in (-z, z):
        x, note = _find_limit(prof, par, target, origin)
        if note is not None:
            side = "lower" if target < 0 else "upper"
            if np.isnan(x):
                notes.append(f"{par.name}: {side} limit not found ({note})")
            else:  # (the boundary in the user's units is filled in by the caller)
                notes.append(f"{par.name}: {side} limit is the boundary {{bound}} ({note})")
        out.append(x)
    return out[0], out[1], notes


def profile_confint(fit, level: float = 0.95, parm=None) -> pd.DataFrame:
    """Profile-likelihood confidence intervals, as ``confint(fit, method = "profile")``.

    Each limit is where the signed square root of the increase in the ML
    deviance, with the parameter held fixed and all the others re-optimised,
    reaches ``-+ qnorm((1 + level) / 2)``. As lme4, REML fits are profiled on
    the ML deviance of their ML refit. Parameters are on lme4's scale:
    standard deviations and correlations of the random effects, the residual
    standard deviation ``sigma`` and the fixed effects.

    A limit that the profile does not reach before a boundary (a standard
    deviation of 0, a correlation of -+1) is that boundary, as lme4 gives it;
    one that cannot be found is NaN. Either way a line is added to the
    result's ``attrs["notes"]``.

    Parameters
    ----------
    fit : LmerResult
    level : float, default 0.95
    parm : str, int or list, optional
        Parameters to profile: names (:func:`parameter_names`), positions, or
        ``"theta_"`` (variance parameters) / ``"beta_"`` (fixed effects); all by
        default.

    Returns
    -------
    pandas.DataFrame
        Index lme4's parameter names, columns ``"2.5 %"`` and ``"97.5 %"``
        (for ``level = 0.95``); ``attrs`` holds ``notes`` (list of str),
        ``criterion`` and ``seconds``.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> profile_confint(fit).round(2)
                                   2.5 %  97.5 %
    sd_(Intercept)|Subject         14.38   37.72
    cor_Days.(Intercept)|Subject   -0.48    0.69
    sd_Days|Subject                 3.80    8.75
    sigma                          22.90   28.86
    (Intercept)                   237.68  265.13
    Days                            7.36   13.58
    >>> profile_confint(fit, level=0.9, parm="Days").round(3)
            5 %    95 %
    Days  7.901  13.034
    """
    if getattr(fit.design, "residual", None) is not None or getattr(fit.design, "dispersion", None) is not None:
        raise ValueError("profile intervals are not available with a residual correlation or SD model (residual=, "
                         "dispformula=); use method='boot' (parametric bootstrap) or method='wald' (fixed effects)")
    cols = percent_labels(level)
    t0 = time.perf_counter()
    names = parameter_names(fit)
    chosen = _select(names, parm, len(names) - len(fit.fixef))
    prof = _Profiler(fit)
    z = float(stats.norm.ppf((1.0 + level) / 2.0))
    assert [q.name for q in prof.params] == names  # the profiler's parameters in confint's order
    rows, notes = [], []
    for j in chosen:
        par = prof.params[j]
        lo, hi, nt = _profile_param(prof, par, z)
        c, a = prof.work.to_user(par)
        rows.append((c + a * lo, c + a * hi))
        notes.extend(n.replace("{bound}", f"{c + a * (par.lower if 'lower limit' in n else par.upper):g}")
                     for n in nt)
    out = pd.DataFrame(np.array(rows, dtype=float).reshape(-1, 2), index=[names[j] for j in chosen],
                       columns=cols)
    if prof.lowest < -1e-6:
        notes.append(f"profiling found a deviance {-prof.lowest:.3g} below that at the ML "
                     "optimum: the fit may not be at its optimum, and the limits are approximate")
    bad = [n for n in notes if "not found" in n]
    if bad:
        warnings.warn("; ".join(bad), stacklevel=2)
    out.attrs["notes"] = notes
    out.attrs["criterion"] = "ML deviance" + (" (of the ML refit)" if fit.reml else "")
    out.attrs["seconds"] = time.perf_counter() - t0
    out.attrs["evaluations"] = prof.evals
    return out
