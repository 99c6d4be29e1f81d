"""Influence diagnostics: hat values, Cook's distance, leave-one-group-out refits (lme4's).

:func:`hatvalues` is lme4's ``hatvalues.merMod``: the diagonal of the matrix
taking the response to the fitted values of the penalised least-squares
problem, ``CL'CL + CR'CR`` with ``CL = L^-1 Lambda' Z' W^1/2`` and
``CR = RX^-T (X' W^1/2 - RZX' CL)``; :func:`cooks_distance` is lme4's
``cooks.distance.merMod`` made of them.

:func:`influence` is lme4's ``influence.merMod``: the model refitted without
each group (or each row), started from the fit's parameters, with the
fixed effects, variance components and covariance of each refit;
:class:`Influence` gives lme4's ``dfbeta``, ``dfbetas`` and
``cooks.distance`` of them. The refits work on the design's arrays with the
deleted rows sliced out (no formula is parsed again) and run over processes
on request.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp

from ..arguments import as_bool, short_repr

__all__ = ["Influence", "influence", "hatvalues", "cooks_distance"]

#: the dense q x q factor of hatvalues is refused above this many random effects
MAX_Q = 6000


_HAT_KINDS = ("leverage", "lme4")


def _glmm_weights(fit, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(weights inside the factor, square roots outside) of a GLMM's hat matrix: the
    working weights at the conditional modes inside; outside them too (leverages) or,
    as lme4's hatvalues.merMod, the prior weights."""
    fam = fit.family
    if getattr(fam, "zero_inflated", False) or len(getattr(fit, "dispersion", ())):
        raise ValueError(f"hat values of a GLMM are available for families without a dispersion "
                         f"parameter or zero inflation (binomial, poisson), not this {fam.name} fit")
    _, wu, _ = fam.working(fit.design.y, fit._pirls.eta, fit._pirls.mu)
    w = fit._prior * wu
    return w, np.sqrt(w if kind == "leverage" else fit._prior)


def hatvalues(fit, kind: str = "leverage") -> pd.Series:
    """Diagonal of the hat matrix of a mixed model (lme4's ``hatvalues``).

    For a linear mixed model, the matrix that takes the response to the fitted
    values of the penalised least-squares problem (both kinds agree). For a GLMM,
    ``kind="leverage"`` gives the leverages of the penalised weighted
    least-squares problem at the conditional modes (the working weights on both
    sides: values in [0, 1] summing to the effective number of parameters, the
    analogue of R's ``hatvalues.glm``); ``kind="lme4"`` gives lme4's
    ``hatvalues.merMod``, which puts the prior weights outside the working-weight
    factor (lme4 warns that it "may not make sense for GLMMs"; with binomial
    trials its values exceed 1).

    Parameters
    ----------
    fit : LmerResult or GlmerResult
    kind : {"leverage", "lme4"}, default "leverage"

    Returns
    -------
    pandas.Series

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> h = hatvalues(fit)
    >>> round(float(h.sum()), 3)   # the effective number of parameters
    29.022
    >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    >>> round(float(hatvalues(m).sum()), 1), bool(hatvalues(m, kind="lme4").max() > 1)   # lme4's 13.28
    (13.3, True)
    """
    from ..linalg.crossprod import term_matrix
    from ..results import LmerResult
    from ..results.glmer_result import GlmerResult

    if kind not in _HAT_KINDS:
        raise ValueError(f"kind must be 'leverage' or 'lme4', not {short_repr(kind)}")
    d = fit.design
    if isinstance(fit, LmerResult):
        if d.residual is not None:
            raise ValueError("hat values with a residual correlation (residual=) are not available (its rows are "
                             "not independent); refit without residual= or use fit.influence(groups=...)")
        w = np.ones(d.n) if d.weights is None else d.weights
        sw_out, lambdas = np.sqrt(w), fit._lambdas
    elif isinstance(fit, GlmerResult):
        w, sw_out = _glmm_weights(fit, kind)
        lambdas = fit._T
    else:
        raise TypeError(f"hat values are for ml.lmer and ml.glmer fits, not {short_repr(fit)}")
    q = sum(t.q for t in d.terms)
    if q > MAX_Q:
        raise ValueError(f"hat values need a dense {q} x {q} factor (limit {MAX_Q})")
    sw = np.sqrt(w)
    # the hat matrix depends on X's column space and on Z Lambda only: both are formed in the
    # standardised bases (X Tx; Z B with B^-1 Lambda), where a covariate far from zero (x + 1e7)
    # does not cancel the digits of X'X - RZX'RZX or of Z Lambda
    Zb, lambdas = _standardised_terms(fit, d, lambdas)
    Z = sp.hstack([term_matrix(t, Zt) for t, Zt in zip(d.terms, Zb)], format="csr")
    Lam = sp.block_diag([sp.kron(sp.identity(t.nlevels), T) for t, T in zip(d.terms, lambdas)],
                        format="csr")
    ZLam = Z @ Lam
    ZL = (sp.diags(sw) @ ZLam).tocsc()              # W^1/2 Z Lambda (n x q): the factor's
    from ..design.standardize import orthogonal_basis

    basis = orthogonal_basis(d.X) if d.X.shape[1] else None
    X = basis[0] if basis is not None else d.X
    Xw = X * sw[:, None]
    M = (ZL.T @ ZL).toarray() + np.eye(q)
    Lc = np.linalg.cholesky(M)
    RZX = scipy.linalg.solve_triangular(Lc, np.asarray(ZL.T @ Xw), lower=True)
    RX = np.linalg.cholesky(Xw.T @ Xw - RZX.T @ RZX)  # lower: RX' of lme4
    ZLo = (sp.diags(sw_out) @ ZLam).tocsr()         # the weights outside the factor
    Xo = X * sw_out[:, None]
    h = np.empty(d.n)
    step = max(1, 4_000_000 // max(q, 1))
    for a in range(0, d.n, step):
        b = min(d.n, a + step)
        CL = scipy.linalg.solve_triangular(Lc, ZLo[a:b].toarray().T, lower=True)   # q x m
        CR = scipy.linalg.solve_triangular(RX, Xo[a:b].T - RZX.T @ CL, lower=True)  # p x m
        h[a:b] = np.sum(CL * CL, axis=0) + np.sum(CR * CR, axis=0)
    return pd.Series(h, index=d.data_index, name="hat")


def _standardised_terms(fit, d, lambdas) -> tuple[list, list]:
    """Per term, ``Z B`` and ``B^-1 Lambda`` (the same ``Z Lambda``): an lmer fit's own bases
    and internal factors, else each term's orthogonal basis."""
    from ..design.standardize import orthogonal_basis

    st, f = getattr(fit, "_std", None), getattr(fit, "_factor", None)
    if st is not None and f is not None and len(st.B) == len(d.terms) and len(f.T) == len(d.terms):
        return [t.Z @ B for t, B in zip(d.terms, st.B)], [np.asarray(T) for T in f.T]
    Zs, Ls = [], []
    for t, T in zip(d.terms, lambdas):
        basis = orthogonal_basis(t.Z) if t.structure is None else None
        if basis is None:
            Zs.append(t.Z)
            Ls.append(np.asarray(T))
        else:
            Zs.append(basis[0])
            Ls.append(np.linalg.solve(basis[1], T))
    return Zs, Ls


def cooks_distance(fit, kind: str = "leverage") -> pd.Series:
    """Cook's distance of each row from the hat values (lme4's ``cooks.distance.merMod``):
    ``(r / (1 - h))^2 h / (sigma^2 p)`` with Pearson residuals ``r`` (sigma is 1 for
    a binomial or Poisson GLMM); ``kind`` chooses the hat values (:func:`hatvalues`).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> int(cooks_distance(fit).idxmax())   # the largest: subject 332's day 9
    59
    """
    h = hatvalues(fit, kind).to_numpy()
    p = fit.design.X.shape[1]  # (the design's columns are independent: matrix_rank says 1 for x + 1e7)
    r = fit.residuals(type="pearson").to_numpy() if _has_pearson(fit) else fit.residuals().to_numpy()
    sigma = getattr(fit, "sigma", 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (r / (1 - h)) ** 2 * h / (sigma ** 2 * p)
    out[np.isinf(out)] = np.nan
    return pd.Series(out, index=fit.design.data_index, name="cooks")


def _has_pearson(fit) -> bool:
    try:
        fit.residuals(type="pearson")
        return True
    except (ValueError, TypeError):
        return False


# ---------------------------------------------------------------- refits
def _var_cov(fit) -> tuple[list[str], np.ndarray]:
    """lme4's ``var.cov.comps``: sigma^2, then each term's covariance (lower triangle, by column)."""
    d = fit.design
    glmm = hasattr(fit, "family")
    names, values = ([], []) if glmm else (["sigma^2"], [fit.sigma ** 2])
    groups = [t.group for t in d.terms]
    sep = len(d.terms) > 1
    for i, t in enumerate(d.terms):
        C = fit._term_cov(i)
        prefix = f"{groups[i]}:" if sep else ""
        for b in range(t.k):
            for a in range(b, t.k):
                ca, cb = t.columns[a], t.columns[b]
                names.append(prefix + (f"v[{ca}]" if a == b else f"C[{ca},{cb}]"))
                values.append(C[a, b])
    return names, np.array(values)


def _refit_without(fit, keep: np.ndarray):
    """The fit refitted to the rows where ``keep`` (a mask over its rows), from its parameters."""
    from ..design.subset import subset_design

    sub = subset_design(fit.design, keep)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if sub is None:  # a column lost its variation: build the design again from the formula
            from .refit_data import fit_frame, refit_on

            return refit_on(fit, fit_frame(fit).iloc[np.flatnonzero(keep)])
        if hasattr(fit, "family"):
            from ..glmm.fit import fit_glmm_design

            return fit_glmm_design(sub, fit.family.subset(keep), np.asarray(fit._prior)[keep], nagq=fit.nagq,
                                   optimizer=fit.optinfo.optimizer, formula=fit.formula)
        from ..lmm.fit import fit_from

        return fit_from(sub, fit.reml, fit.optinfo.optimizer, fit.theta.to_numpy(), singular=fit.singular)


def _one(fit, keep):
    refit = _refit_without(fit, keep)
    fixef = refit.fixef.reindex(fit.fixef.index).to_numpy()
    V = refit.vcov.reindex(index=fit.fixef.index, columns=fit.fixef.index).to_numpy()
    # by name: a design rebuilt from the formula can order its terms differently
    names, values = _var_cov(refit)
    vc = pd.Series(values, index=names).reindex(_var_cov(fit)[0]).to_numpy()
    failed = any(m.startswith(("optimizer stopped early", "Model failed to converge"))
                 for m in refit.messages)
    return fixef, vc, V, not failed


_JOBS: dict = {}


def _chunk(key: str, lo: int, hi: int):
    fit, codes = _JOBS[key]
    return [_one(fit, codes != i) for i in range(lo, hi)]


@dataclass(frozen=True)
class Influence:
    """Leave-one-out refits of a fit (see :func:`influence`), as lme4's ``influence.merMod``.

    Attributes
    ----------
    units : pandas.Index
        The deleted groups (or rows), in order of first appearance in the data.
    by : str
        What was deleted: a grouping column's name, or ``"row"``.
    fixef : Series
        The fit's fixed effects.
    fixef_deleted : DataFrame
        The refits' fixed effects, one row per unit.
    var_cov, var_cov_deleted : Series, DataFrame
        lme4's ``var.cov.comps``: sigma^2 (lmer), then each term's variances and
        covariances (``v[...]``, ``C[...,...]``).
    vcov : ndarray (p, p)
    vcov_deleted : ndarray (units, p, p)
    converged : Series of bool

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> inf = fit.influence("Subject")
    >>> inf.cooks_distance().idxmax()
    '309'
    """

    units: pd.Index
    by: str
    fixef: pd.Series
    fixef_deleted: pd.DataFrame
    var_cov: pd.Series
    var_cov_deleted: pd.DataFrame
    vcov: np.ndarray
    vcov_deleted: np.ndarray
    converged: pd.Series

    def dfbeta(self, which: str = "fixed") -> pd.DataFrame:
        """Refit minus fit: of the fixed effects (``"fixed"``) or variance components (``"var_cov"``)."""
        if which == "fixed":
            return self.fixef_deleted - self.fixef.to_numpy()
        if which == "var_cov":
            return self.var_cov_deleted - self.var_cov.to_numpy()
        raise ValueError(f"which must be 'fixed' or 'var_cov', not {short_repr(which)}")

    def dfbetas(self) -> pd.DataFrame:
        """:meth:`dfbeta` scaled by the refits' standard errors (lme4's ``dfbetas``)."""
        se = np.sqrt(np.diagonal(self.vcov_deleted, axis1=1, axis2=2))
        return self.dfbeta() / se

    def cooks_distance(self) -> pd.Series:
        """lme4's Cook's distance of each unit: ``db' V^-1 db (n - p) / (n p)``, with ``db``
        the change in the fixed effects, ``V`` the fit's covariance, ``n`` the units."""
        db = self.dfbeta().to_numpy()
        n, p = db.shape
        Vinv = (n - p) / (n * p) * np.linalg.inv(self.vcov)
        return pd.Series(np.einsum("ij,jk,ik->i", db, Vinv, db), index=self.units, name="cooks")

    def __repr__(self) -> str:
        return (f"<Influence of {len(self.units)} {self.by} deletions on "
                f"{len(self.fixef)} fixed effects and {len(self.var_cov)} variance components>")


def influence(fit, groups: str | None = None, obs: bool = False, n_jobs: int = 1,
              progress: bool = False) -> Influence:
    """Refit the model without each group (or row): lme4's ``influence.merMod``.

    Parameters
    ----------
    fit : LmerResult or GlmerResult
    groups : str, optional
        A column of the data (usually a grouping factor): each of its values
        is deleted in turn. Default: the first grouping factor.
    obs : bool, default False
        Delete each row in turn instead.
    n_jobs : int, default 1
        Processes for the refits (None or -1: all cores); forked workers, so
        the refits run in this process where forking is unsafe (after a
        Bayesian fit has loaded JAX) or unavailable.
    progress : bool, default False
        Print how many refits are done, about every tenth of them.

    Returns
    -------
    Influence

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("course ~ 1 + female + (1 | school)", ml.datasets.load("gcsemv"))
    >>> inf = influence(fit, "school")
    >>> len(inf.units), list(inf.dfbetas().columns)
    (73, ['(Intercept)', 'femaleF'])
    """
    from ..design.rowless import require_rows

    require_rows(fit, "influence diagnostics")
    from ..results import LmerResult
    from ..results.glmer_result import GlmerResult

    if not isinstance(fit, (LmerResult, GlmerResult)):
        raise TypeError(f"influence needs a fit from ml.lmer or ml.glmer, not {short_repr(fit)}")
    obs = as_bool(obs, "obs")
    d = fit.design
    if obs:
        if groups is not None:
            raise ValueError("give groups= or obs=True, not both")
        units = pd.Index([str(i) for i in d.data_index])
        codes = np.arange(d.n)
        by = "row"
    else:
        if groups is None:
            groups = d.terms[0].group_columns[0] if d.terms else None
        if not isinstance(groups, str) or d.data is None or groups not in d.data.columns:
            cols = ", ".join(map(str, d.data.columns)) if d.data is not None else ""
            raise ValueError(f"groups must name a column of the fit's data ({cols}), not {short_repr(groups)}")
        text = pd.Series(d.data[groups].astype(object).to_numpy()).astype(str)
        codes, labels = pd.factorize(text, sort=False)  # units in order of first appearance
        units = pd.Index(labels)
        by = groups
    nunits = len(units)
    if nunits < 2:
        raise ValueError("influence needs at least two units to delete")
    if n_jobs is None or (not isinstance(n_jobs, bool) and n_jobs == -1):
        import os

        n_jobs = os.cpu_count() or 1
    from ..arguments import as_int

    n_jobs = max(1, min(as_int(n_jobs, "n_jobs", 1), nunits))
    progress = as_bool(progress, "progress")
    from .bootstrap import _process_context, _single_thread_blas

    ctx = _process_context() if n_jobs > 1 else None
    if ctx is None or ctx == "here" or ctx.get_start_method() != "fork":
        # one process: asked for, or workers cannot be forked (JAX loaded, not Linux)
        results = []
        every = max(1, nunits // 10)
        for i in range(nunits):
            results.append(_one(fit, codes != i))
            if progress and ((i + 1) % every == 0 or i + 1 == nunits):
                print(f"influence: {i + 1}/{nunits} refits", flush=True)
    else:
        import uuid

        key = uuid.uuid4().hex
        _JOBS[key] = (fit, codes)
        try:
            bounds = np.linspace(0, nunits, 4 * n_jobs + 1).round().astype(int)
            with ProcessPoolExecutor(n_jobs, mp_context=ctx, initializer=_single_thread_blas) as ex:
                futs = [ex.submit(_chunk, key, int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
                results = []
                for f in futs:
                    results.extend(f.result())
                    if progress:
                        print(f"influence: {len(results)}/{nunits} refits", flush=True)
        finally:
            _JOBS.pop(key, None)
    names, vc0 = _var_cov(fit)
    fx = np.array([r[0] for r in results])
    vc = np.array([r[1] for r in results])
    V = np.array([r[2] for r in results])
    return Influence(units=units, by=by, fixef=fit.fixef.copy(),
                     fixef_deleted=pd.DataFrame(fx, index=units, columns=fit.fixef.index),
                     var_cov=pd.Series(vc0, index=names),
                     var_cov_deleted=pd.DataFrame(vc, index=units, columns=names),
                     vcov=fit.vcov.to_numpy(), vcov_deleted=V,
                     converged=pd.Series([r[3] for r in results], index=units, name="converged"))
