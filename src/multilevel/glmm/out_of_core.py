"""``glmer`` on data in parts (a Dask DataFrame, Parquet files): one pass over the
parts per PIRLS iteration.

A GLMM's working weights and responses change with the linear predictor, so
its cross-products cannot be summed once as a linear model's are. Each PIRLS
iteration is a pass instead: the client sends the current fixed effects and
random effects (``O(p + q)`` numbers), every part computes its linear
predictor, means, deviance and working weights, and sums the same blocks as
the linear model (``O(q k^2)`` numbers back); the client solves the penalised
system and goes on. The optimisation over theta and beta is the in-memory
fit's (:func:`multilevel.glmm.fit._fit_glmm`), with its PIRLS steps,
step halving and stopping rules, on the same standardised columns: the
answer is the in-memory one, to the optimizer's tolerance.

The parts' standardised columns are computed once and held by the workers
between passes (``dask.persist``: the cluster's memory, not the client's);
each pass then costs a product of each part's columns with the broadcast
coefficients. Without a ``distributed`` cluster they are held only where
they fit in a quarter of this machine's available memory; otherwise every
pass reads the parts again (:func:`hold_parts`). ``fit.design.passes``
counts the passes.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..design import Design
from .diagnostics import _EXTREME, _FITTED_EPS
from ..design.standardize import Standardization
from ..linalg.threads import SMALL_BLOCK, blas_threads

__all__ = ["EtaState", "GlmmPart", "PartsPirls", "glmer_partitioned"]

#: families and links fitted on data in parts
FAMILIES = {"binomial": ("logit", "probit", "cloglog"), "poisson": ("log",)}


@dataclass(frozen=True)
class GlmmPart:
    """A part's rows as the GLMM uses them: its standardised design (``y`` the
    response, no weights or offset), prior weights, offset and R's starting
    linear predictor."""

    design: Design
    prior: np.ndarray
    offset: np.ndarray
    eta_start: np.ndarray
    messages: tuple = ()
    deviance: object = None      # mu -> the deviance (its constants in y computed once)


@dataclass(frozen=True)
class EtaState:
    """The linear predictor of every row, without the rows:
    ``c * eta_start + (1 - c) * (offset + X beta + sum_t Z_t b_t[codes])``
    (``b_t`` on the standardised scale, ``eta_start`` R's mustart). PIRLS's
    step halving averages two states, which stays of this form.

    Examples
    --------
    >>> a = EtaState(c=1.0, beta=np.zeros(1), b=(np.zeros((2, 1)),))
    >>> b = EtaState(c=0.0, beta=np.ones(1), b=(np.ones((2, 1)),))
    >>> m = a.halfway(b)
    >>> m.c, m.beta.tolist(), m.b[0].ravel().tolist()
    (0.5, [1.0], [1.0, 1.0])
    """

    c: float
    beta: np.ndarray
    b: tuple

    def halfway(self, other: "EtaState") -> "EtaState":
        """The state whose linear predictor is the mean of the two."""
        c = 0.5 * (self.c + other.c)
        if c >= 1.0:
            return self
        wa, wb = 0.5 * (1.0 - self.c) / (1.0 - c), 0.5 * (1.0 - other.c) / (1.0 - c)
        return EtaState(c=c, beta=wa * self.beta + wb * other.beta,
                        b=tuple(wa * x + wb * y for x, y in zip(self.b, other.b)))

    def eta(self, part: GlmmPart) -> np.ndarray:
        d = part.design
        if self.c >= 1.0:
            return part.eta_start
        lin = part.offset + d.X @ self.beta
        for t, bt in zip(d.terms, self.b):
            lin = lin + np.einsum("ij,ij->i", t.Z, bt[t.codes])
        return lin if self.c == 0.0 else self.c * part.eta_start + (1.0 - self.c) * lin


def state_of(beta: np.ndarray, u: np.ndarray, theta: np.ndarray, layout, terms) -> EtaState:
    """The :class:`EtaState` of fixed effects ``beta`` and spherical effects ``u`` at ``theta``."""
    T = layout.factors(theta)
    b, start = [], 0
    for t, Tt in zip(terms, T):
        b.append(u[start: start + t.q].reshape(t.nlevels, t.k) @ Tt.T)
        start += t.q
    return EtaState(c=0.0, beta=np.asarray(beta, dtype=float), b=tuple(b))


@dataclass(frozen=True)
class PassSums:
    """What a pass returns: the deviance at the state, the working system's
    cross-products there (free or with beta held fixed), and per-row summaries
    (log-likelihood, Pearson chi-square, means at the boundary)."""

    n: int
    devres: float
    cp: object
    loglik: float = 0.0
    pearson: float = 0.0
    extreme: bool = False
    prior_max: float = 0.0
    edge: int = 0


def _glmm_part(pdf: pd.DataFrame, schema, maps, fam, response: str) -> GlmmPart | None:
    """A part's standardised columns (computed once, held by its worker)."""
    from ..design.partitioned import part_design, prepare_part

    frame, w, off = prepare_part(pdf, schema)
    if len(frame) == 0:
        return None
    d = part_design(frame, w, off, schema)
    prior = np.ones(d.n) if d.weights is None else np.asarray(d.weights, dtype=float)
    with warnings.catch_warnings(record=True) as caught:  # (re-issued on the client)
        warnings.simplefilter("always")
        fam.check_response(d.y, None if d.weights is None else prior, response)
    center_xy, Kx, keep_names, center_z, one_z, Kz = maps
    V = np.column_stack([np.ones(d.n), d.X]) - center_xy[None, :]
    V[:, 0] = 1.0
    terms = []
    for t, c, j0, K in zip(d.terms, center_z, one_z, Kz):
        Z = t.Z - c[None, :] if j0 is not None else t.Z
        terms.append(replace(t, Z=np.ascontiguousarray(Z @ K)))
    fixed = replace(d.fixed, X=np.ascontiguousarray(V @ Kx), names=keep_names)
    inner = replace(d, fixed=fixed, terms=tuple(terms), weights=None, offset=None)
    offset = np.zeros(d.n) if d.offset is None else np.asarray(d.offset, dtype=float)
    with np.errstate(all="ignore"):
        eta_start = fam.link.fun(fam.mustart(d.y, prior))
    return GlmmPart(design=inner, prior=prior, offset=offset, eta_start=eta_start,
                    messages=tuple(str(w.message) for w in caught), deviance=fam.deviance_function(d.y, prior))


def _glmm_pass(part: GlmmPart | None, state: EtaState, fam, fixed_beta: bool, summaries: bool = False
               ) -> PassSums | None:
    """One part's contribution to a PIRLS iteration at ``state``."""
    from ..linalg import cross_products

    if part is None:
        return None
    d = part.design
    y, prior = d.y, part.prior
    with np.errstate(all="ignore"):
        eta = state.eta(part)
        mu = fam.link.inverse(eta)
        devres = float(part.deviance(mu))
        mu, wu, r = fam.working(y, eta, mu)
        z = eta - part.offset - (d.X @ state.beta if fixed_beta else 0.0) + r
    sub = replace(d, y=np.ascontiguousarray(z), weights=np.ascontiguousarray(prior * wu))
    if fixed_beta:
        sub = replace(sub, fixed=replace(d.fixed, X=np.empty((d.n, 0)), names=()))
    cp = cross_products(sub, counts=False, pairs=False)
    out = PassSums(n=d.n, devres=devres, cp=cp)
    if summaries:
        pos = prior > 0
        with np.errstate(all="ignore"):
            pearson = float(np.sum((y - mu) ** 2 * prior / fam.variance(mu)))
            loglik = float(fam.loglik(y, mu, prior))
        near = (mu < _EXTREME) | (mu > 1 - _EXTREME) if fam.name == "binomial" else mu < _EXTREME
        at = (mu <= _FITTED_EPS) | (mu >= 1 - _FITTED_EPS) if fam.name == "binomial" else np.zeros(d.n, bool)
        out = replace(out, loglik=loglik, pearson=pearson, extreme=bool(np.any(pos & near)),
                      prior_max=float(prior.max()), edge=int(np.sum(pos & at)))
    return out


def _messages(part: GlmmPart | None) -> tuple:
    """A part's response warnings, and whether every prior weight is 1."""
    return ((), True) if part is None else (part.messages, bool(np.all(part.prior == 1)))


def _merge(a: PassSums | None, b: PassSums | None) -> PassSums | None:
    from ..linalg.partial import add_products

    if a is None:
        return b
    if b is None:
        return a
    return PassSums(n=a.n + b.n, devres=a.devres + b.devres, cp=add_products(a.cp, b.cp),
                    loglik=a.loglik + b.loglik, pearson=a.pearson + b.pearson, extreme=a.extreme or b.extreme,
                    prior_max=max(a.prior_max, b.prior_max), edge=a.edge + b.edge)


@dataclass(frozen=True)
class PartsEta:
    """The linear predictor at a PIRLS result on data in parts: its state, and
    what the last pass summed there."""

    state: EtaState
    sums: PassSums
    fixed_beta: bool
    runner: object


class PartsPirls:
    """PIRLS with a pass over the parts per iteration (the ``run`` of a
    :class:`~multilevel.glmm.fit.PirlsEngine`): the steps, step halving and
    stopping rule of :func:`~multilevel.glmm.pirls.pirls`, each iteration's
    working system summed over the parts. ``plan`` and ``inside`` are taken
    for the engine's signature: the binomial and Poisson links fitted on
    parts never need the start inside the mean's range."""

    def __init__(self, parts: list, design: Design, layout, p: int):
        self.parts = parts       # persisted GlmmPart delayed objects
        self.design = design     # the standardised design's names and terms
        self.layout = layout
        self.p = p
        self.passes = 0

    def sums(self, state: EtaState, fam, fixed_beta: bool, summaries: bool = False) -> PassSums:
        """One pass: the parts' sums at ``state``."""
        import dask

        from ..design.partitioned import tree_reduce

        st = dask.delayed(state, pure=True)
        fd = dask.delayed(fam, pure=True)
        one = dask.delayed(_glmm_pass, pure=True)
        total = tree_reduce([one(part, st, fd, fixed_beta, summaries) for part in self.parts], _merge).compute()
        self.passes += 1
        return total

    def _solve(self, sums: PassSums, theta, fixed_beta: bool):
        from ..linalg import factorize
        from ..lmm.objective import solve_effects
        from ..lmm.out_of_core import _finish

        cp = _finish(sums.cp, sums.cp.p)
        fac = factorize(cp, self.layout, theta)
        b, u0, ur = solve_effects(fac, cp)
        return b, np.concatenate([u0, ur]), fac

    def __call__(self, fam, theta, plan=None, beta=None, u_start=None, eta_start=None, tol: float = 1e-10,
                 maxit: int = 50, inside: bool = False):
        from ..linalg import NotPositiveDefinite
        from .pirls import PirlsResult

        theta = np.asarray(theta, dtype=float)
        terms = self.design.terms
        fixed_beta = beta is not None
        q = sum(t.q for t in terms)
        u = np.zeros(q) if u_start is None else np.asarray(u_start, dtype=float)
        b = np.zeros(self.p) if not fixed_beta else np.asarray(beta, dtype=float)
        if eta_start is not None:
            state = eta_start
        elif u_start is not None and fixed_beta:
            state = state_of(b, u, theta, self.layout, terms)
        else:  # R's mustart
            state = EtaState(c=1.0, beta=np.zeros(self.p), b=tuple(np.zeros((t.nlevels, t.k)) for t in terms))
        S = self.sums(state, fam, fixed_beta)
        pdev_old = _penalised(S, u) if u_start is not None else np.inf
        it, converged = 0, False
        for it in range(1, maxit + 1):
            b_new, u_new, _ = self._solve(S, theta, fixed_beta)
            if not fixed_beta:
                b = b_new
            new = state_of(b, u_new, theta, self.layout, terms)
            S_new = self.sums(new, fam, fixed_beta)
            pdev = _penalised(S_new, u_new)
            halvings = 0
            while pdev > pdev_old + 1e-10 * abs(pdev_old) and halvings < 10:
                u_new = 0.5 * (u_new + u)
                new = new.halfway(state)
                S_new = self.sums(new, fam, fixed_beta)
                pdev = _penalised(S_new, u_new)
                halvings += 1
            u, state, S = u_new, new, S_new
            if np.isfinite(pdev) and abs(pdev_old - pdev) < tol * (abs(pdev) + 0.1):
                converged = True
                break
            pdev_old = pdev
        try:
            logdet = self._solve(S, theta, fixed_beta)[2].logdet_theta
        except NotPositiveDefinite:
            logdet = np.inf
        devres = S.devres
        if not np.isfinite(devres):
            devres, converged = np.inf, False
        return PirlsResult(beta=np.asarray(b, dtype=float), u=u, eta=PartsEta(state, S, fixed_beta, self), mu=None,
                           devres=devres, logdet=float(logdet), iterations=it, converged=converged)


def _penalised(S: PassSums, u: np.ndarray) -> float:
    value = S.devres + float(u @ u)
    return value if np.isfinite(value) else np.inf


def glmer_partitioned(formula: str, data, family="binomial", link=None, nagq: int = 1, weights=None, offset=None,
                      optimizer: str = "auto", data_name: str | None = None):
    """:func:`multilevel.glmer` on a Dask DataFrame or Parquet files (see there).

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> cb = ml.datasets.load("cbpp").assign(p=lambda d: d["incidence"] / d["size"])
    >>> fit = glmer_partitioned("p ~ period + (1 | herd)", dd.from_pandas(cb, npartitions=3), weights="size")
    >>> fit.fixef.round(2).tolist()
    [-1.4, -0.99, -1.13, -1.58]
    """
    import dask

    from ..design.partitioned import as_partitioned
    from ..families import family as make_family
    from ..formula import parse_formula
    from ..linalg import ThetaLayout
    from ..lmm.out_of_core import aliased, product_map, rowless_design, summed_products
    from ..results.out_of_core import OutOfCoreGlmerResult
    from .fit import PirlsEngine, _fit_glmm, observation_level_message

    fam = make_family(family, link)
    if fam.name not in FAMILIES or fam.link.name not in FAMILIES[fam.name] or fam.zero_inflated:
        raise ValueError(f"on data in parts (a Dask DataFrame or Parquet files) glmer fits the binomial (logit, "
                         f"probit, cloglog) and poisson (log) families, not {fam.name} with the {fam.link.name} "
                         "link (nor zero inflation): fit this model in memory")
    if nagq not in (0, 1) or isinstance(nagq, bool):
        raise ValueError(f"on data in parts glmer takes nagq=0 or nagq=1 (the Laplace approximation), not "
                         f"{nagq!r}: adaptive quadrature needs the rows of each group together")
    parsed = parse_formula(formula)
    if parsed.response.replace(" ", "").startswith("cbind("):
        raise ValueError("cbind(successes, failures) on data in parts: add the proportion and the trials as "
                         "columns (p = successes / (successes + failures), n = successes + failures) and fit "
                         "'p ~ ...' with weights='n'")
    ddf = as_partitioned(data)
    col = parsed.response
    if col in ddf.columns and not (pd.api.types.is_numeric_dtype(ddf._meta[col])
                                   or pd.api.types.is_bool_dtype(ddf._meta[col])):
        raise ValueError(
            f"the response {col!r} is a factor ({ddf._meta[col].dtype}); on data in parts code it 0/1 first, as "
            "glmer does in memory (its first level is failure, every other level success), e.g. "
            f"ddf.assign(y=(ddf[{col!r}] != first_level).astype(float)), and fit 'y ~ ...'")
    got = summed_products(formula, ddf, weights, offset, observation_level=True)
    proto, pp = got.proto, got.pp
    pm = product_map(pp, proto.terms)
    keep = pm.keep
    dropped = aliased(pm, proto.fixed.all_names)
    user = rowless_design(proto, keep, dropped, pp, got.schema, got.ddf, passes=2, sample=got.sample)
    # the standardisation of the in-memory fit (response=False: the response stays as it is)
    st = Standardization(Tx=pm.st.Tx, shift=np.zeros(keep.size), scale=1.0, B=pm.st.B, response=False,
                         structures=pm.st.structures)
    P = pm.center_xy.size
    maps = (pm.center_xy[:P - 1], pm.Kxy[:P - 1, :keep.size], tuple(user.fixed.names), pm.center_z, pm.one_z,
            pm.Kz)
    sch = dask.delayed(got.schema, pure=True)
    prepared = [dask.delayed(_glmm_part, pure=True)(part, sch, dask.delayed(maps, pure=True), fam, parsed.response)
                for part in got.parts]
    held = hold_parts(pp.n, keep.size + sum(t.k for t in user.terms))
    parts = list(dask.persist(*prepared)) if held else prepared
    # the response checks' warnings (non-integer successes, ...), as in memory: the first part's
    found = dask.compute(*[dask.delayed(_messages, pure=True)(part) for part in parts])
    seen = [m for ms, _ in found for m in ms]
    if seen:
        warnings.warn(seen[0], stacklevel=3)
    if fam.name == "binomial" and all(unit for _, unit in found):
        for t in user.terms:
            if t.nlevels == pp.n:
                warnings.warn(observation_level_message(t.group), stacklevel=3)
    layout = ThetaLayout.from_terms(user.terms)
    runner = PartsPirls(parts, user, layout, keep.size)
    engine = PirlsEngine(user_design=user, st=st, design=user, plan=None, run=runner,
                         eta_at=lambda beta, u, theta: state_of(beta, u, theta, layout, user.terms),
                         result_class=OutOfCoreGlmerResult)
    rest = sum(t.q for t in user.terms[1:]) + keep.size + 1
    with blas_threads(1) if rest <= SMALL_BLOCK else contextlib.nullcontext():
        return _fit_glmm(user, fam, None, nagq, optimizer, formula, parsed.response,
                         offset if isinstance(offset, str) else None, weights if isinstance(weights, str) else None,
                         data_name, None, engine=engine)


def _part_outcomes(pdf: pd.DataFrame, schema, keep: np.ndarray, family: str, most: int):
    """A part's :func:`~multilevel.glmm.diagnostics.outcome_rows` (its user-scale
    columns), or None where it has more than ``most`` distinct rows."""
    from ..design.partitioned import part_design, prepare_part
    from .diagnostics import outcome_rows

    frame, w, off = prepare_part(pdf, schema)
    if len(frame) == 0:
        return np.zeros((0, keep.size)), np.zeros(0, dtype=int), np.zeros(0, dtype=int)
    d = part_design(frame, w, off, schema)
    got = outcome_rows(d.X[:, keep], d.y, np.ones(d.n) if d.weights is None else d.weights, family)
    return None if got[0].shape[0] > most else got


def separation_direction(design, family: str, max_cells: int) -> np.ndarray:
    """:func:`~multilevel.glmm.diagnostics.separated_coefficients` of a design in parts
    (one pass: every part's distinct rows and outcomes, joined); empty where the
    distinct rows times the columns exceed ``max_cells``, as in memory."""
    import dask

    from ..design.partitioned import tree_reduce
    from .diagnostics import join_outcome_rows, separated_from_rows

    p = design.keep.size
    most = max_cells // max(p, 1)

    def join(a, b):
        got = join_outcome_rows(a, b)
        return None if got is None or got[0].shape[0] > most else got

    parts = design.source[list(design.schema.columns)].to_delayed()
    sch = dask.delayed(design.schema, pure=True)
    one = dask.delayed(_part_outcomes, pure=True)
    rows = tree_reduce([one(part, sch, design.keep, family, most) for part in parts], join).compute()
    if rows is None:
        return np.zeros(0)
    return separated_from_rows(*rows, p, max_cells)


#: without a distributed cluster, the parts' columns are held in this process's memory only
#: where they take at most this share of the memory available
HOLD_SHARE = 0.25


def hold_parts(rows: int, columns: int) -> bool:
    """Whether the workers hold the parts' standardised columns between passes.

    On a ``distributed`` cluster they do (its workers' memory, spilled to
    disk by Dask when it runs short). Without one (Dask's threads), the
    columns would be held in this process: they are where they take at most
    :data:`HOLD_SHARE` of the memory available (about ``8 (columns + 5)``
    bytes a row); otherwise every pass reads and builds the parts again, so
    that data larger than memory still fit, at the cost of a read per pass.

    Examples
    --------
    >>> hold_parts(1000, 3)
    True
    """
    try:
        from distributed import default_client

        default_client()
        return True
    except (ImportError, ValueError):
        pass
    try:
        import psutil

        available = psutil.virtual_memory().available
    except ImportError:  # (psutil comes with distributed; without it, hold small data only)
        available = 2 ** 31
    return 8.0 * rows * (columns + 5) <= HOLD_SHARE * available


def conditional_covariances(cp, terms, theta: np.ndarray, T) -> list[np.ndarray]:
    """Per term, per level conditional covariance of the random effects (as
    :func:`~multilevel.glmm.condvar.glmm_conditional_covariances`), from the working
    system's products at the optimum (``cp``, of the standardised columns; its
    fixed-effects columns, if any, are set aside) at the internal ``theta``,
    mapped by the user's factors ``T``."""
    from ..linalg import ThetaLayout, factorize
    from ..lmm.objective import conditional_variances
    from ..lmm.out_of_core import _finish

    p = cp.p
    z_only = replace(cp, Bx0=cp.Bx0[p:], Crx=cp.Crx[:, p:], Cxx=cp.Cxx[p:, p:], p=0, pairs=None, Br0_dense=None)
    z_only = _finish(z_only, 0)
    fac = factorize(z_only, ThetaLayout.from_terms(terms), np.asarray(theta, dtype=float))
    return [np.einsum("ab,gbc,dc->gad", Tt, V, Tt) for Tt, V in zip(T, conditional_variances(fac, z_only))]
