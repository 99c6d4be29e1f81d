"""Generalized least squares: correlated and heteroscedastic residuals without random effects (nlme's ``gls``).

``ml.gls("y ~ treat * visit", data, residual="us(visit | id)", dispformula="~ visit")``
is the mixed-model repeated-measures analysis (MMRM): an unstructured
correlation between the visits of a subject (nlme's ``corSymm``) and a residual
SD per visit (``varIdent``). ``residual="cs(1 | id)"`` is ``corCompSymm``,
``"ar1(time | id)"`` ``corAR1`` (integer times, with gaps) or ``corCAR1``
(real ones); ``dispformula`` is the log-linear residual SD model of
``ml.lmer`` (a factor: one SD ratio per level, as ``varIdent``; a numeric
column: ``varExp``).

For the correlation's and SD model's parameters ``x``, each group's rows
(response and model matrix, scaled by the SD ratios) are whitened by the
inverse Cholesky factor of its correlation matrix; least squares on the
whitened rows give beta and sigma, and the -2 log-likelihood (ML) or REML
criterion is ``n log(2 pi RSS / n) + n + log |R|`` (ML) or ``(n - p) log(2 pi
RSS / (n - p)) + (n - p) + log |R| + log |X'R^-1 X|`` (REML), as nlme defines
them. ``x`` is searched by BOBYQA (an unstructured correlation's also from the
residuals' own correlations between occasions, its criterion having more than
one optimum at times; an AR(1) at fractional lags from rho = 0.2, as nlme's
corCAR1), with a quasi-Newton step where the search ends on a slope; the
standard errors of beta are ``sigma (X'R^-1 X)^-1/2`` and t tests have ``n - p``
df, as nlme's (or Satterthwaite's).

A structured random-effects term that carries the whole residual covariance
(glmmTMB's ``dispformula = ~ 0``) is this model: ``ml.lmer("y ~ x + us(0 + visit
| id)", data, dispformula="~ 0")`` gives this fit.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.linalg
from scipy import stats

from ..results.rtable import CoefTable
from .common import FixedOnly

__all__ = ["GlsResult", "gls"]

_LOG2PI = math.log(2.0 * math.pi)


# --------------------------------------------------------------- parameters
def _ncorr(rc) -> int:
    return rc.nparams if rc.kind == "us" else 1


def _corr_start(rc) -> np.ndarray:
    if rc.kind == "us":
        return rc.start
    return np.array([rc.start])


def _with_corr(rc, a: np.ndarray, se):
    if rc.kind == "us":
        return rc.with_params(a, se)
    return rc.with_rho(rc.canonical(rc.rho_of(a[0])), None if se is None else float(se[0]))


@dataclass(frozen=True)
class _Pieces:
    """Least squares on the whitened rows at one value of the parameters."""

    beta: np.ndarray
    rss: float
    logdet_r: float       # log |R| (correlations and SD ratios, prior weights included)
    logdet_x: float       # log |X'R^-1 X|
    XtXinv: np.ndarray    # (X'R^-1 X)^-1
    XtXinv_w: np.ndarray = None  # the same in the coordinates of X's QR factor: R0^-1 XtXinv_w R0^-T
    U: np.ndarray = None  # upper triangular, U'U = X'R^-1 X (the whitened regression's R factor)


class _Criterion:
    """The cross-products ``A' R^-1 A`` of ``A = [Q, e]`` per pattern of occasions, where
    ``X = Q R0`` (a thin QR factorisation: orthonormal columns, whatever the units of
    the predictors) and ``e`` is ``y``'s unweighted least-squares residual (so no large
    level of ``y`` cancels in the residual sum of squares); beta and the criterion's
    pieces follow from those small matrices without whitening the rows."""

    def __init__(self, y, X, keep, rc, dm, prior):
        self.rc, self.dm, self.prior = rc, dm, prior
        self.nc = 0 if rc is None else _ncorr(rc)
        Q, R0 = np.linalg.qr(X[:, keep])
        self.R0 = R0
        self.R0inv = scipy.linalg.solve_triangular(R0, np.eye(R0.shape[0]), lower=False)
        self.b0 = self.R0inv @ (Q.T @ y)
        self.A = np.column_stack([Q, y - Q @ (Q.T @ y)])
        self.p = keep.size
        self.logdet_r0 = 2.0 * float(np.sum(np.log(np.abs(np.diag(R0)))))
        # the patterns of occasions batched by their size: the groups' rows (G, m), each group's
        # pattern within the batch, and the patterns' indices
        self.batches = []
        if rc is not None:
            by: dict = {}
            for k, (rows, _) in enumerate(rc.patterns):
                by.setdefault(rows.shape[1], []).append(k)
            for m, ks in by.items():
                rows = np.concatenate([rc.patterns[k][0] for k in ks])
                pid = np.concatenate([np.full(rc.patterns[k][0].shape[0], i) for i, k in enumerate(ks)])
                self.batches.append((rows, pid, ks))

    def _factors(self, ks, C):
        """Whitening factors ``F`` (``F'F = R^-1``) of the patterns ``ks`` (all of one size) of an
        unstructured correlation ``C``, stacked, and their ``log |R|``."""
        pos = np.stack([self.rc.patterns[k][1] for k in ks])
        L = np.linalg.cholesky(C[pos[:, :, None], pos[:, None, :]])
        return np.linalg.inv(L), 2.0 * np.log(np.diagonal(L, axis1=1, axis2=2)).sum(axis=1)

    def pieces(self, x) -> _Pieces:
        x = np.asarray(x, dtype=float)
        w = self.prior if self.dm is None else self.dm.weights(x[self.nc:])
        A, shift = self.A, 0.0
        if w is not None:
            A = A * np.sqrt(w)[:, None]
            shift = float(np.sum(np.log(w)))
        if self.rc is None:
            M, logdet = A.T @ A, 0.0
        else:
            M = np.zeros((A.shape[1], A.shape[1]))
            logdet = 0.0
            if self.rc.kind == "us":
                C = self.rc.correlation(x[:self.nc])
                for rows, pid, ks in self.batches:
                    F, ld = self._factors(ks, C)
                    B = np.matmul(F[pid], A[rows])  # (G, m, c): the groups' rows whitened
                    B = B.reshape(-1, B.shape[2])
                    M += B.T @ B
                    logdet += float(ld[pid].sum())
            else:  # AR(1) and compound symmetry: each pattern's precision, in closed form where there is one
                prec = self.rc.precisions(self.rc.rho_of(x[0]))
                for rows, pid, ks in self.batches:
                    W = np.stack([prec[k][0] for k in ks])
                    Ag = A[rows]
                    WA = np.matmul(W[pid], Ag)  # (G, m, c)
                    M += Ag.reshape(-1, Ag.shape[2]).T @ WA.reshape(-1, Ag.shape[2])
                    logdet += float(np.array([prec[k][1] for k in ks])[pid].sum())
        p = self.p
        Lx = np.linalg.cholesky(M[:p, :p])
        Linv = np.linalg.inv(Lx)  # (p x p, triangular; numpy's small-matrix calls cost least here)
        z = Linv @ M[:p, p]
        bq = Linv.T @ z
        rss = float(M[p, p] - z @ z)
        G = self.R0inv @ Linv.T  # beta = b0 + R0^-1 bq; its covariance R0^-1 (Q'R^-1 Q)^-1 R0^-T
        return _Pieces(beta=self.b0 + self.R0inv @ bq, rss=max(rss, 0.0), logdet_r=logdet - shift, U=Lx.T @ self.R0,
                       logdet_x=2.0 * float(np.sum(np.log(np.diag(Lx)))) + self.logdet_r0, XtXinv=G @ G.T,
                       XtXinv_w=Linv.T @ Linv)


def _deviance(pc: _Pieces, n: int, p: int, reml: bool) -> float:
    if reml:
        m = n - p
        return m * (_LOG2PI + math.log(pc.rss / m)) + m + pc.logdet_r + pc.logdet_x
    return n * (_LOG2PI + math.log(pc.rss / n)) + n + pc.logdet_r


# ------------------------------------------------------------------ result
@dataclass(frozen=True)
class GlsResult(FixedOnly):
    """A generalized least squares fit from :func:`gls`.

    Attributes
    ----------
    formula : str
    fixef : Series
        Coefficients (also ``coef``).
    vcov : DataFrame
    sigma : float
        The residual SD (of the first level of a ``dispformula`` factor; at a
        numeric column's mean).
    loglik : float
        The log-likelihood (REML criterion's, for a REML fit).
    reml : bool
    design : Design
        With the fitted correlation (``design.residual``) and SD model
        (``design.dispersion``).
    converged : bool
    data_name : str or None
    note : str or None
        How a formula given to ``ml.lmer`` with ``dispformula="~ 0"`` became
        this model.

    Examples
    --------
    >>> import multilevel as ml
    >>> orth = ml.datasets.load("orthodont")
    >>> fit = ml.gls("distance ~ age + Sex", orth, residual="cs(1 | Subject)")
    >>> round(fit.loglik, 3), round(fit.correlation["rho"], 4)
    (-218.756, 0.6145)
    """

    formula: str
    fixef: pd.Series
    vcov: pd.DataFrame
    sigma: float
    loglik: float
    reml: bool
    design: object = field(repr=False)
    converged: bool = True
    data_name: str | None = None
    note: str | None = None
    offset_name: str | None = None
    _x: np.ndarray = field(default=None, repr=False)

    # ------------------------------------------------------------ parameters
    @property
    def df(self) -> int:
        """Parameters: coefficients, correlation and SD-model parameters, and sigma (nlme's ``df``)."""
        d = self.design
        n_corr = 0 if d.residual is None else _ncorr(d.residual)
        n_disp = 0 if d.dispersion is None else len(d.dispersion.names)
        return int(self.fixef.notna().sum()) + n_corr + n_disp + 1

    @property
    def df_resid(self) -> int:
        """``n - p``: the df of the t tests (nlme's)."""
        return self.nobs - int(self.fixef.notna().sum())

    @property
    def messages(self) -> tuple:
        return () if self.converged else ("the optimizer stopped before the criterion's optimum",)

    @property
    def bic(self) -> float:
        """BIC with nlme's count of observations: ``n - p`` for a REML fit, ``n`` for ML."""
        n = self.df_resid if self.reml else self.nobs
        return -2 * self.loglik + math.log(n) * self.df

    @property
    def correlation(self):
        """The residual correlation: ``{"rho": value}`` for ``cs`` and ``ar1``, the matrix over
        the occasions (a DataFrame) for ``us``; None without one."""
        rc = self.design.residual
        if rc is None:
            return None
        if rc.kind == "us":
            occ = [str(o) for o in rc.occasions]
            return pd.DataFrame(rc.correlation(), index=occ, columns=occ)
        out = {"rho": float(rc.rho)}
        if rc.kind == "ar1" and rc.lag_unit != 1.0:  # (the correlation at the lag unit, the one computed with)
            out.update({"lag_unit": float(rc.lag_unit), "rho_at_lag_unit": float(rc.r)})
        return out

    @property
    def sd_ratios(self) -> pd.Series | None:
        """The residual SD model's ratios ``exp(delta)`` per column (a factor's level against the
        first: nlme's ``varIdent`` coefficients); None without one."""
        dm = self.design.dispersion
        if dm is None:
            return None
        return pd.Series(np.exp(dm.coef), index=list(dm.names), name="sd ratio")

    # ------------------------------------------------------------- values
    @property
    def fitted(self) -> pd.Series:
        eta = self.design.X @ self.fixef.fillna(0.0).to_numpy()
        if self.design.offset is not None:
            eta = eta + np.asarray(self.design.offset, dtype=float)
        return pd.Series(eta, index=self.design.data_index, name="fitted")

    def residuals(self, type: str = "response") -> pd.Series:
        """Residuals: ``"response"`` (y - fitted), ``"pearson"`` (divided by each row's residual
        SD) or ``"normalized"`` (whitened by the correlation too: independent standard normal
        under the model; nlme's ``type = "normalized"``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.gls("distance ~ age", ml.datasets.load("orthodont"), residual="ar1(age | Subject)")
        >>> fit.residuals("normalized").head(2).round(4).tolist()
        [1.5061, -0.618]
        """
        if type not in ("response", "pearson", "normalized"):
            raise ValueError(f"type must be 'response', 'pearson' or 'normalized', not {type!r}")
        r = self.design.y - self.fitted.to_numpy()
        if type != "response":
            w = self._weights()
            r = r / self.sigma * (1.0 if w is None else np.sqrt(w))
            rc = self.design.residual
            if type == "normalized" and rc is not None:
                (r,), _ = (rc.whiten([r]) if rc.kind == "us" else rc.whiten([r], rc.r))
        return pd.Series(r, index=self.design.data_index, name="residuals")

    def _criterion(self):
        """The fit's criterion (:class:`_Criterion`) and its kept columns."""
        from ..design.fixed import independent_columns

        d = self.design
        X = np.asarray(d.X, dtype=float)
        keep = independent_columns(X) if X.shape[1] else np.zeros(0, dtype=int)
        y = np.asarray(d.y, dtype=float) - (0.0 if d.offset is None else np.asarray(d.offset, dtype=float))
        crit = _Criterion(y, X, keep, d.residual, d.dispersion,
                          None if d.weights is None else np.asarray(d.weights, dtype=float))
        return crit, keep

    @cached_property
    def _varpar_cov(self):
        """Satterthwaite's ingredients (:class:`~multilevel.inference.satterthwaite.VarparCovariance`)
        over the correlation's and SD model's parameters and sigma, from the criterion's pieces:
        the same closed form in sigma as for lmer fits (``-2 log L = a(x) + RSS(x) / sigma^2 +
        c log sigma^2``, ``vcov(beta) = sigma^2 (X'R^-1 X)^-1``)."""
        from ..inference.satterthwaite import _covariance, _derivatives
        from ..linalg.threads import blas_threads

        crit, keep = self._criterion()
        p = keep.size
        # working units: sigma and the RSS over the fit's sigma, the SD model's coefficients times
        # their columns' RMS (the Hessian's eigenvalues, and what is dropped as not identified,
        # then do not depend on the units of y or of the SD model's columns); the df are the same
        s0 = self.sigma if self.sigma > 0 and np.isfinite(self.sigma) else 1.0
        x = np.zeros(0) if self._x is None else np.asarray(self._x, dtype=float).copy()
        dm = self.design.dispersion
        cs = np.ones(x.size)
        if dm is not None:
            cs[x.size - len(dm.names):] = dm.col_scale

        def pieces(v):
            out = np.full(2 + p * p, np.inf)
            try:
                with np.errstate(divide="raise", invalid="raise", over="raise"):
                    pc = crit.pieces(v / cs)
            except (np.linalg.LinAlgError, FloatingPointError, ValueError):
                return out
            out[0] = pc.logdet_r + (pc.logdet_x if self.reml else 0.0)
            out[1] = pc.rss / s0**2
            out[2:] = pc.XtXinv_w.ravel()  # (in X's QR coordinates: see _working_cov)
            return out

        x = x * cs
        c = self.nobs - p if self.reml else self.nobs
        with blas_threads(1):
            H, Jw = _derivatives(None, x, self.sigma / s0, c, pieces=pieces)
        Jw = Jw * s0**2  # vcov(beta)'s Jacobian in the user's units (over the working parameters)
        T = crit.R0inv
        J = np.einsum("ij,mjk,lk->mil", T, Jw, T)
        k = len(self.fixef)
        Jfull = np.zeros((J.shape[0], k, k))
        Jfull[np.ix_(np.arange(J.shape[0]), keep, keep)] = J
        vc = _covariance(np.r_[x, self.sigma / s0], H, Jfull, self.vcov.to_numpy())
        basis, vcov_w = self._working_cov
        if basis is None:
            return vc
        return replace(vc, basis=basis, vcov_beta_w=vcov_w, jacobian_w=Jw)

    @cached_property
    def _working_cov(self):
        """``(T, V_w)`` with ``vcov = T V_w T'``, ``T`` the inverse of X's QR factor: contrasts
        formed as ``L T`` against ``V_w`` keep their digits where a predictor is far from zero;
        ``(None, None)`` with aliased columns."""
        crit, keep = self._criterion()
        if keep.size != len(self.fixef):
            return None, None
        pc = crit.pieces(np.zeros(0) if self._x is None else self._x)
        return crit.R0inv, pc.rss / self.df_resid * pc.XtXinv_w

    def _weights(self):
        d = self.design
        return d.dispersion.weights() if d.dispersion is not None else d.weights

    def coef_table(self, ddf: str = "residual") -> CoefTable:
        """Estimates with t tests: on ``n - p`` df (``ddf="residual"``, nlme's ``summary.gls``) or
        Satterthwaite's df over the correlation's and SD model's parameters and sigma
        (``ddf="satterthwaite"``, as the mmrm package and SAS's ``ddfm=satterth`` give them; a
        ``df`` column is added).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.gls("distance ~ age", ml.datasets.load("orthodont"), residual="cs(1 | Subject)")
        >>> fit.coef_table()["t value"].round(3).tolist()
        [20.889, 10.716]
        >>> fit.coef_table(ddf="satterthwaite")["df"].round(1).tolist()
        [105.0, 80.0]
        """
        from ..arguments import as_choice

        as_choice(ddf, "ddf", ("residual", "satterthwaite"))
        b = self.fixef.to_numpy()
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        t = b / se
        if ddf == "residual":
            return CoefTable(pd.DataFrame({"Estimate": b, "Std. Error": se, "t value": t,
                                           "Pr(>|t|)": 2 * stats.t.sf(np.abs(t), self.df_resid)},
                                          index=self.fixef.index))
        from ..inference.satterthwaite import satterthwaite_df

        vc = self._varpar_cov
        df = np.array([satterthwaite_df(vc, np.eye(b.size)[j]) if np.isfinite(b[j]) else np.nan
                       for j in range(b.size)])
        return CoefTable(pd.DataFrame({"Estimate": b, "Std. Error": se, "df": df, "t value": t,
                                       "Pr(>|t|)": 2 * stats.t.sf(np.abs(t), df)}, index=self.fixef.index))

    def confint(self, level: float = 0.95) -> pd.DataFrame:
        """t intervals for the coefficients on ``n - p`` df (nlme's ``intervals.gls``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.gls("distance ~ age", ml.datasets.load("orthodont"), residual="cs(1 | Subject)")
        >>> fit.confint().round(3).to_numpy().tolist()
        [[15.17, 18.352], [0.538, 0.782]]
        """
        from ..arguments import as_probability

        level = as_probability(level, "level")
        se = np.sqrt(np.diag(self.vcov.to_numpy()))
        q = stats.t.ppf(0.5 + level / 2, self.df_resid)
        b = self.fixef.to_numpy()
        pct = [f"{100 * (1 - level) / 2:g} %", f"{100 * (1 + level) / 2:g} %"]
        return pd.DataFrame({pct[0]: b - q * se, pct[1]: b + q * se}, index=self.fixef.index)

    def anova(self, type: str = "sequential") -> pd.DataFrame:
        """F tests of the fixed-effects terms, as nlme's ``anova.gls``: ``"sequential"`` (each term
        after those before it) or ``"marginal"`` (each term's coefficients, the others in the
        model), on ``n - p`` denominator df.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.gls("distance ~ age * Sex", ml.datasets.load("orthodont"), residual="cs(1 | Subject)")
        >>> fit.anova()["F-value"].round(2).tolist()
        [4123.16, 122.45, 9.29, 6.3]
        """
        from ..arguments import as_choice
        from ..inference.contrasts import fixed_terms

        as_choice(type, "type", ("sequential", "marginal"))
        keep = np.flatnonzero(self.fixef.notna().to_numpy())
        pos = {int(j): i for i, j in enumerate(keep)}
        names = list(self.fixef.index)
        terms = [("(Intercept)", [names.index("(Intercept)")])] if "(Intercept)" in names else []
        terms += [(label, cols) for label, _, cols in fixed_terms(self.design)]
        b = self.fixef.to_numpy()[keep]
        V = self.vcov.to_numpy()[np.ix_(keep, keep)]
        # the whitened regression's effects U b / sigma (U'U = X'R^-1 X, upper triangular): nlme's
        # sequential statistics, from the factor itself rather than an inverse of vcov
        crit, _ = self._criterion()
        pc = crit.pieces(np.zeros(0) if self._x is None else self._x)
        c0 = pc.U @ b / np.sqrt(pc.rss / self.df_resid)
        rows = {}
        ddf = self.df_resid
        for label, cols in terms:
            idx = [pos[c] for c in cols if c in pos]
            if not idx:
                continue
            if type == "sequential":
                F = float(np.sum(c0[idx] ** 2)) / len(idx)
            else:
                bt = b[idx]
                F = float(bt @ np.linalg.solve(V[np.ix_(idx, idx)], bt)) / len(idx)
            rows[label] = (len(idx), F, float(stats.f.sf(F, len(idx), ddf)))
        table = pd.DataFrame.from_dict(rows, orient="index", columns=["numDF", "F-value", "p-value"])
        table.attrs["denominator_df"] = ddf
        return table

    def predict(self, newdata=None, offset=None) -> pd.Series:
        """``X beta`` (and the offset) for new (or the fitted) rows.

        Examples
        --------
        >>> import multilevel as ml, pandas as pd
        >>> fit = ml.gls("distance ~ age", ml.datasets.load("orthodont"), residual="cs(1 | Subject)")
        >>> fit.predict(pd.DataFrame({"age": [8, 14]})).round(3).tolist()
        [22.043, 26.004]
        """
        from .ols import new_linear_predictor

        if newdata is None:
            return self.fitted.rename("predicted")
        return pd.Series(new_linear_predictor(self, newdata, offset), name="predicted")

    def refit(self, reml: bool | None = None) -> "GlsResult":
        """The same model fitted again, by ML (``reml=False``) or REML, from this fit's parameters.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.gls("distance ~ age", ml.datasets.load("orthodont"), residual="cs(1 | Subject)")
        >>> round(fit.refit(reml=False).loglik, 3)
        -221.695
        """
        from ..arguments import as_bool

        reml = self.reml if reml is None else as_bool(reml, "reml")
        d = self.design
        return replace(_fit(self.formula, d, reml, self.data_name, start=self._x), note=self.note)

    # ------------------------------------------------------------- printing
    def summary(self) -> str:
        """nlme's ``summary.gls``: criteria, the correlation and variance structures, coefficients.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.gls("distance ~ age", ml.datasets.load("orthodont"), residual="cs(1 | Subject)")
        >>> print(fit.summary().splitlines()[0])
        Generalized least squares fit by REML
        """
        d = self.design
        how = "REML" if self.reml else "maximum likelihood"
        lines = [f"Generalized least squares fit by {how}", f"  Model: {self.formula}"]
        if self.data_name:
            lines.append(f"  Data: {self.data_name}")
        if self.note:
            lines.append(f"  ({self.note})")
        lines += ["       AIC      BIC    logLik",
                  f"  {self.aic:8.6g} {self.bic:8.6g} {self.loglik:9.6g}", ""]
        rc = d.residual
        if rc is not None:
            kind = {"us": "General correlation", "cs": "Compound symmetry", "ar1": "AR(1)"}[rc.kind]
            lines.append(f"Correlation Structure: {kind}")
            lines.append(f" Formula: ~{'1' if rc.kind == 'cs' else rc.time_name} | {rc.group_name} ")
            lines.append(" Parameter estimate(s):")
            if rc.kind == "us":
                C = rc.correlation()
                occ = [str(o) for o in rc.occasions]
                width = max(6, *(len(o) for o in occ))
                lines.append(" Correlation: ")
                lines.append(" " * (width + 1) + " ".join(f"{o:>6}" for o in occ[:-1]))
                for i in range(1, len(occ)):
                    lines.append(f" {occ[i]:<{width}}" + " ".join(f"{C[i, j]:6.3f}" for j in range(i)))
            else:
                lines.append("      Rho ")
                lines.append(f"{rc.rho:9.7g} ")
                if rc.kind == "ar1" and rc.lag_unit != 1.0:
                    lines.append(f" ({rc.r:.7g} at the lag unit {rc.lag_unit:.7g})")
        dm = d.dispersion
        if dm is not None:
            lines += ["Variance function (residual SD ratios):", f" Formula: {dm.formula}"]
            lines.append(" " + "  ".join(f"{n}: {v:.6g}" for n, v in self.sd_ratios.items()))
        lines += ["", "Coefficients:"]
        lines += str(self.coef_table()).splitlines()
        lines += ["", f"Residual standard error: {self.sigma:.6g}",
                  f"Degrees of freedom: {self.nobs} total; {self.df_resid} residual"]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        rc = self.design.residual
        what = "" if rc is None else f", residual {rc.text!r}"
        return (f"<GlsResult {'REML' if self.reml else 'ML'} {self.formula!r}{what}: {self.nobs} obs, "
                f"log-likelihood {self.loglik:.4f}>")


# --------------------------------------------------------------------- fit
def gls(formula: str, data, residual: str | None = None, dispformula: str | None = None, reml: bool = True,
        weights=None, offset=None, optimizer: str = "auto") -> GlsResult:
    """Fit a linear model with correlated and heteroscedastic residuals, as nlme's ``gls``.

    Parameters
    ----------
    formula : str
        A formula without random-effects terms (``y ~ treat * visit``).
    data : DataFrame
    residual : str, optional
        The correlation of the residuals within groups: ``"us(visit | id)"``
        (one correlation per pair of occasions, nlme's ``corSymm``; the
        occasions are a factor's levels or a numeric column's values, at most
        one row per occasion and group), ``"cs(1 | id)"`` (compound symmetry)
        or ``"ar1(time | id)"`` (AR(1) over a numeric time, ``rho^|t_i - t_j|``).
    dispformula : str, optional
        A model for the residual SD, ``log sigma_i = log sigma + (x_i - c)'
        delta`` (``"~ visit"``: one SD per visit, nlme's ``varIdent``).
    reml : bool, default True
    weights : str or array-like, optional
        Prior (precision) weights.
    offset : str or array-like, optional
        A term with coefficient 1 (also ``offset(...)`` in the formula).
    optimizer : {"auto", "bobyqa", "cobyqa", "nelder-mead"}

    Returns
    -------
    GlsResult

    Examples
    --------
    An MMRM of the orthodontic growth data: an unstructured correlation and a
    residual SD per age.

    >>> import multilevel as ml
    >>> orth = ml.datasets.load("orthodont").assign(visit=lambda d: d["age"].astype(str))
    >>> fit = ml.gls("distance ~ age * Sex", orth, residual="us(visit | Subject)", dispformula="~ visit",
    ...              reml=False)
    >>> round(fit.loglik, 4), fit.df
    (-209.7385, 14)
    """
    from ..arguments import as_bool, as_choice
    from ..design import build_design
    from ..design.data import as_dataframe
    from ..formula import parse_formula

    reml = as_bool(reml, "reml")
    as_choice(optimizer, "optimizer", ("auto", "bobyqa", "cobyqa", "nelder-mead"))
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string such as 'y ~ x', not {type(formula).__name__}")
    parsed = parse_formula(formula)
    if parsed.bars:
        raise ValueError("gls fits fixed effects only: remove the random-effects terms (... | group), or fit "
                         "the model with ml.lmer (which takes residual= and dispformula= too)")
    name = getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None
    fit = gls_of_design(formula, build_design(parsed, data, weights=weights, offset=offset), as_dataframe(data),
                        residual, dispformula, reml, optimizer, name)
    return replace(fit, offset_name=offset) if isinstance(offset, str) else fit


def _polish(f, x: np.ndarray, fx: float, optimizer: str) -> np.ndarray:
    """``x``, or a better point where the criterion's gradient there is not flat: BOBYQA can stall
    where the criterion curves steeply across a narrow valley (many correlation and SD
    parameters), so a quasi-Newton search on central differences continues from there and
    BOBYQA restarts from its end; the best point is kept."""
    from scipy import optimize

    from ..inference.derivatives import central_gradient
    from ..lmm.optimize import minimize_theta

    h = 1e-5 * np.maximum(np.abs(x), 1.0)
    g = central_gradient(f, x, h)
    if not np.all(np.isfinite(g)) or np.max(np.abs(g)) <= 1e-3:
        return x
    res = optimize.minimize(f, x, method="L-BFGS-B",
                            jac=lambda v: central_gradient(f, v, 1e-5 * np.maximum(np.abs(v), 1.0)),
                            options=dict(maxiter=500, gtol=1e-6))
    best, fbest = (res.x, float(res.fun)) if np.isfinite(res.fun) and res.fun < fx else (x, fx)
    again = minimize_theta(f, best, np.full(x.size, -np.inf),
                           optimizer="bobyqa" if optimizer in ("auto", "quasi-newton") else optimizer)
    return np.asarray(again.xopt, dtype=float) if again.fopt < fbest else best


def gls_of_design(formula, design, frame, residual, dispformula, reml, optimizer, data_name) -> GlsResult:
    """:func:`gls` of a design already built (its random-effects terms, if any, left out)
    on the rows of ``frame``."""
    design = replace(design, terms=())
    if dispformula is not None:
        from ..design.dispersion import dispersion_model

        design = replace(design, dispersion=dispersion_model(dispformula, frame, design, design.formula.response))
    if residual is not None:
        from ..design.correlation import residual_correlation

        design = replace(design, residual=residual_correlation(residual, frame, design))
    return _fit(formula, design, reml, data_name, optimizer=optimizer)


def _fit(formula, design, reml, data_name, optimizer="auto", start=None) -> GlsResult:
    """:func:`gls`'s fit of a design, on one BLAS thread (its matrices are a few columns wide,
    and OpenBLAS's pool costs more than it saves on them, most of all on a busy machine)."""
    from ..linalg.threads import blas_threads

    with blas_threads(1):
        return _fit_design(formula, design, reml, data_name, optimizer, start)


def _fit_design(formula, design, reml, data_name, optimizer, start) -> GlsResult:
    from ..design.fixed import independent_columns
    from ..lmm.joint import joint_search

    rc, dm = design.residual, design.dispersion
    y, X = np.asarray(design.y, dtype=float), np.asarray(design.X, dtype=float)
    if design.offset is not None:
        y = y - np.asarray(design.offset, dtype=float)
    prior = None if design.weights is None else np.asarray(design.weights, dtype=float)
    if prior is not None and np.any(prior <= 0):
        raise ValueError(f"{int(np.sum(prior <= 0))} row(s) have a prior weight of 0 (or below): a row of "
                         "weight 0 has an infinite residual variance in gls; drop those rows from the data")
    n_var = (0 if rc is None else _ncorr(rc)) + (0 if dm is None else len(dm.names))
    keep = independent_columns(X) if X.shape[1] else np.zeros(0, dtype=int)
    n, p = design.n, keep.size
    if n - p < 1 or (reml and n - p < 2):
        raise ValueError(f"{n} observations for {p} coefficients: too few to estimate a residual variance")
    if n_var and n - p <= n_var:
        raise ValueError(f"{n} observations for {p} coefficients and {n_var} correlation and SD-model "
                         "parameters: too few to estimate them; use a simpler residual model (cs or ar1)")
    if rc is not None and rc.kind == "us" and np.unique(rc.group).size < 2:
        raise ValueError(f"residual={rc.text!r}: an unstructured correlation between occasions needs several "
                         f"groups of {rc.group_name} (each has every occasion at most once); there is one")
    x0 = np.r_[[] if rc is None else _corr_start(rc), [] if dm is None else np.zeros(len(dm.names))]
    if start is not None and np.size(start) == x0.size:
        x0 = np.asarray(start, dtype=float)

    crit = _Criterion(y, X, keep, rc, dm, prior)
    # the search runs over the SD model's coefficients times their columns' RMS, so that its
    # steps and tolerances do not depend on the columns' units (age in years or in seconds)
    cs = np.r_[np.ones(x0.size - (0 if dm is None else len(dm.names))), [] if dm is None else dm.col_scale]

    def f(xw):
        try:
            with np.errstate(divide="raise", invalid="raise", over="raise"):
                val = _deviance(crit.pieces(xw / cs), n, p, reml)
        except (np.linalg.LinAlgError, FloatingPointError, ValueError):
            return float("inf")
        return val if np.isfinite(val) else float("inf")

    x0 = x0 * cs

    converged = True
    if x0.size:
        starts = [x0]
        if rc is not None and rc.kind == "us" and start is None:
            # an unstructured correlation's criterion can have several optima: search from the
            # residuals' own correlations between occasions too, and keep the best
            e = crit.A[:, -1] if prior is None else crit.A[:, -1] * np.sqrt(prior)
            starts.insert(0, np.r_[rc.params_of(rc.empirical(e)), x0[_ncorr(rc):]])
        lower = np.full(x0.size, -np.inf)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            opt = joint_search(f, starts[0], lower, optimizer, "the residual model's parameters")
            if len(starts) > 1:  # one run from the other start; a fresh one where it does better
                from ..lmm.optimize import minimize_theta

                method = "bobyqa" if optimizer in ("auto", "quasi-newton") else optimizer
                other = minimize_theta(f, starts[1], lower, optimizer=method)
                if other.fopt < opt.fopt:
                    caught.clear()
                    opt = joint_search(f, other.xopt, lower, optimizer, "the residual model's parameters")
        converged = not any("stopped early" in str(w.message) for w in caught)
        for w in caught:
            warnings.warn(str(w.message), w.category, stacklevel=3)
        x = _polish(f, np.asarray(opt.xopt, dtype=float), float(opt.fopt), optimizer) / cs
    else:
        x = x0
    se = None  # (the residual model's parameters are reported without standard errors, as nlme's summary)
    pc = crit.pieces(x)
    s2 = pc.rss / (n - p if reml else n)
    names = list(design.fixed.names)
    beta = np.full(len(names), np.nan)
    beta[keep] = pc.beta
    Vb = np.full((len(names), len(names)), np.nan)
    Vb[np.ix_(keep, keep)] = pc.rss / (n - p) * pc.XtXinv  # (nlme's, ML fits too)
    nc = 0 if rc is None else _ncorr(rc)
    if rc is not None:
        rc = _with_corr(rc, x[:nc], None if se is None else se[:nc])
    if dm is not None:
        dm = replace(dm.with_coef(x[nc:]), se=None if se is None else se[nc:])
    design = replace(design, residual=rc, dispersion=dm)
    return GlsResult(formula=formula, fixef=pd.Series(beta, index=names, name="Estimate"),
                     vcov=pd.DataFrame(Vb, index=names, columns=names), sigma=math.sqrt(s2),
                     loglik=-0.5 * _deviance(pc, n, p, reml), reml=reml, design=design, converged=converged,
                     data_name=data_name, _x=x)
