"""``lmer`` on data in parts (a Dask DataFrame, Parquet files): two passes, then
the same optimisation on the client.

1. :func:`~multilevel.design.partitioned.learn_schema` learns the levels and
   counts the rows (one pass);
2. every part computes its cross-products, centred at its own means
   (:mod:`multilevel.linalg.partial`), and the parts are summed pairwise on
   the cluster (one pass). What crosses the network per part is
   ``O(q k^2 + q_rest^2 + p^2)`` numbers (the blocks), never a row;
3. on the client, the aliased fixed-effects columns are dropped, the
   standardisation of :mod:`multilevel.design.standardize` is computed from
   the products (Gram-Schmidt's triangular factors are Cholesky factors of
   the Gram matrices), and the criterion is minimised as for data in memory.
   Memory on the client is that of the blocks: independent of the rows.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp

from ..design import Design
from ..design.rowless import OutOfCoreDesign, RowlessFixed, RowlessTerm
from ..design.partitioned import (as_partitioned, learn_schema, learn_specs, part_design, prepare_part,
                                  tree_reduce, with_all_levels)
from ..design.standardize import Standardization
from ..formula import parse_formula
from ..linalg import ThetaLayout
from ..linalg.crossprod import DENSE_REST, CrossProducts, pair_product
from ..design.fixed import independent_columns
from ..linalg.crossprod import cross_products
from ..linalg.partial import (PartialProducts, add_products, kept_columns, merge_partials, partial_products,
                              row_hash, transform_products)
from ..linalg.threads import SMALL_BLOCK, ThreadChoice, blas_threads
from .objective import LmmObjective
from .start import moment_start_from_products

__all__ = ["PartsData", "ProductMap", "aliased", "lmer_partitioned", "product_map", "rowless_design", "summed_products"]

#: rows of the first part the result keeps (the type III contrasts' codings)
SAMPLE_ROWS = 5000
#: the largest number of random effects outside the first term whose dense block the client
#: holds: 8 q^2 bytes (3.2 GB for 20,000, a crossed design's second factor), with about as
#: much again while it is factorised
MAX_REST = 25_000
#: where the map from the summed (centred) products to the standardised ones amplifies their
#: rounding error more than this, each part computes its standardised products (a third pass)
MAX_AMPLIFICATION = 1e5


@dataclass(frozen=True)
class ProductMap:
    """The standardisation of a design computed from its parts' products, and the
    linear maps from the summed (centred) products to the standardised ones.

    Attributes
    ----------
    st : Standardization
    keep : ndarray of int
        The fixed-effects columns kept (aliased ones dropped, as in memory).
    center_xy : ndarray (p_all + 2,)
        The center of ``[1, X, y]`` the maps start from.
    Kxy : ndarray (p_all + 2, p + 1)
        ``[1, X - m, y - m] Kxy`` is the standardised ``[X y]``.
    center_z, one_z : tuples
        Each term's center and column of ones.
    Kz : tuple of ndarray (k, k)
        ``Z_centred Kz[t]`` is term t's standardised ``Z``.
    amplification : float
        How much the maps can amplify the rounding error of the summed
        products, relative to their columns' norms.
    """

    st: Standardization
    keep: np.ndarray
    center_xy: np.ndarray
    Kxy: np.ndarray
    center_z: tuple
    one_z: tuple
    Kz: tuple
    amplification: float


def _part_products(pdf: pd.DataFrame, schema, one_z, columns, part: int = 0) -> PartialProducts | None:
    """Pass 2 over one part: its centred cross-products (None without used rows).
    ``columns``: the names of the fixed-effects columns and of each term's, which
    every part's design must have (the blocks are added by position)."""
    frame, w, off, rows = prepare_part(pdf, schema, positions=True)
    if len(frame) == 0:
        return None
    d = part_design(frame, w, off, schema)
    got = (tuple(d.fixed.all_names), tuple(t.columns for t in d.terms))
    if got != tuple(columns):
        raise ValueError(
            f"a part of the data gives the model other columns ({', '.join(got[0])}) than the first part "
            f"({', '.join(columns[0])}): a transformation in {schema.parsed.text!r} learns from the rows it sees; "
            "compute such columns before the fit")
    return partial_products(d, one_z, row_hash(part, rows))


def _part_standardized(pdf: pd.DataFrame, schema, pm: ProductMap) -> CrossProducts | None:
    """Pass 3 over one part: the products of its standardised design (the maps of ``pm``
    applied to its rows, centred first, as Gram-Schmidt's columns are in memory)."""
    frame, w, off = prepare_part(pdf, schema)
    if len(frame) == 0:
        return None
    d = part_design(frame, w, off, schema)
    y = d.y if d.offset is None else d.y - d.offset
    V = np.column_stack([np.ones(d.n), d.X, y]) - pm.center_xy[None, :]
    V[:, 0] = 1.0
    Vi = V @ pm.Kxy
    p = Vi.shape[1] - 1
    terms = []
    for t, c, j0, K in zip(d.terms, pm.center_z, pm.one_z, pm.Kz):
        Z = t.Z - c[None, :] if j0 is not None else t.Z
        terms.append(replace(t, Z=np.ascontiguousarray(Z @ K)))
    inner = replace(d, fixed=replace(d.fixed, X=np.ascontiguousarray(Vi[:, :p])),
                    y=np.ascontiguousarray(Vi[:, p]), offset=None, terms=tuple(terms))
    return cross_products(inner, counts=False, pairs=False)


def _positive_r(A: np.ndarray) -> np.ndarray:
    """The triangular factor of ``A`` with a non-negative diagonal."""
    R = np.linalg.qr(A, mode="r")
    return R * np.where(np.diag(R) < 0, -1.0, 1.0)[:, None]


def _term_map(R_c: np.ndarray, n: int, one: int | None, center: np.ndarray, term):
    """A term's ``B`` (user ``Z`` -> standardised, as ``standardize`` computes it from the
    rows) and ``K`` (centred ``Z`` -> standardised), from its centred triangular factor."""
    k = R_c.shape[0]
    Cinv = np.eye(k)
    if one is not None:
        Cinv[one, :] += center           # Z = Z_centred Cinv
    R_raw = _positive_r(R_c @ Cinv)      # R_raw' R_raw = Z'Z
    if k == 1 or term.structure is not None:
        rms = np.sqrt(np.einsum("ij,ij->j", R_raw, R_raw) / n)
        rms = np.where((rms > 0) & np.isfinite(rms), rms, 1.0)
        if term.structure is not None and term.structure.nsd == 1 and k > 1:
            rms = np.full(k, float(np.sqrt(np.mean(rms * rms))))
        B = np.diag(1.0 / rms)
        return B, Cinv @ B
    R = R_raw / np.sqrt(n)
    norms = np.sqrt(np.einsum("ij,ij->j", R, R))
    if not np.all(np.diag(R) > 1e-10 * norms) or not np.all(np.isfinite(R)):
        return np.eye(k), Cinv          # dependent columns: the user's own, as in memory
    B = scipy.linalg.solve_triangular(R, np.eye(k))
    return B, Cinv @ B


def product_map(pp: PartialProducts, terms) -> ProductMap:
    """The standardisation of :func:`~multilevel.design.standardize.standardize`
    (and the aliased columns of ``build_fixed``), from the whole data's products.

    Gram-Schmidt of ``X`` in column order is the triangular factor of ``X``,
    here from the parts' stacked factors of ``[1, X - m, y - m]``; the response
    is shifted by its weighted least-squares fit and scaled to root mean
    square 1; each term's ``Z`` is orthogonalised (or scaled) the same way.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design, standardize
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> pm = product_map(partial_products(d, (0,)), d.terms)
    >>> st0, inner = standardize(d)
    >>> bool(np.allclose(pm.st.Tx, st0.Tx) and np.allclose(pm.st.B[0], st0.B[0])), pm.keep.tolist()
    (True, [0, 1])
    """
    n = pp.n_positive  # (the statistics are of the rows of positive weight, as standardize's)
    P = pp.center_xy.size
    p_all = P - 2
    m_x, m_y = pp.center_xy[1:P - 1], pp.center_xy[P - 1]
    S = pp.r_xy                                    # S'S: the unweighted [1, X - m, y - m] products
    A_all = np.zeros((P, p_all))                   # X = [1, X - m, y - m] A_all
    A_all[0, :] = m_x
    A_all[1:P - 1, :] = np.eye(p_all)
    keep = independent_columns(S @ A_all) if p_all else np.zeros(0, dtype=int)
    p = keep.size
    a_y = np.zeros(P)
    a_y[0], a_y[P - 1] = m_y, 1.0                  # y = [1, X - m, y - m] a_y
    M = pp.cp.Cxx                                  # the weighted products
    if p:
        A_x = A_all[:, keep]
        R = _positive_r(S @ A_x) / np.sqrt(n)      # Gram-Schmidt's factor: X = Q R, Q'Q = n I
        Tx = scipy.linalg.solve_triangular(R, np.eye(p))
        K_x = A_x @ Tx
        c_int = np.linalg.solve(K_x.T @ M @ K_x, K_x.T @ M @ a_y)
        b = a_y - K_x @ c_int
    else:
        Tx, K_x, c_int, b = np.zeros((0, 0)), np.zeros((P, 0)), np.zeros(0), a_y
    r = S @ b
    scale = float(np.sqrt(r @ r / n))
    if not (scale > 0 and np.isfinite(scale)):
        scale = 1.0
    Kxy = np.column_stack([K_x, b / scale])
    # a summed product carries a rounding error relative to its columns' norms; mapped by K
    # it is at most (|K|' norms)^2 / n relative to the standardised products (n I)
    amp = float(np.max(np.abs(Kxy).T @ np.sqrt(np.maximum(np.diag(M), 0.0))) ** 2 / n)
    Bs, Ks = [], []
    for i, t in enumerate(terms):
        B, K = _term_map(pp.r_z[i], n, pp.one_z[i], pp.center_z[i], t)
        Bs.append(B)
        Ks.append(K)
        norms = np.sqrt(np.einsum("ij,ij->j", pp.r_z[i], pp.r_z[i]))
        amp = max(amp, float(np.max(np.abs(K).T @ norms) ** 2 / n))
    st = Standardization(Tx=Tx, shift=Tx @ c_int if p else np.zeros(0), scale=scale, B=tuple(Bs),
                         response=True, structures=tuple(t.structure for t in terms))
    return ProductMap(st=st, keep=keep, center_xy=pp.center_xy, Kxy=Kxy, center_z=pp.center_z,
                      one_z=pp.one_z, Kz=tuple(Ks), amplification=amp)


def _finish(cp: CrossProducts, p: int) -> CrossProducts:
    """The pair structure (or dense copy) of ``Br0`` that the objective uses."""
    if cp.Br0 is None:
        return cp
    Br0 = sp.csr_matrix(cp.Br0)
    Br0.sort_indices()
    q_rest = cp.Crr.shape[0]
    pairs = pair_product(Br0, cp.k[0], stride=q_rest + p + 1) if q_rest > DENSE_REST else None
    return replace(cp, Br0=Br0, pairs=pairs, Br0_dense=Br0.toarray() if pairs is None else None)


def _fingerprint(pp: PartialProducts, schema, source) -> tuple:
    """Which data, rows and response a fit used: Dask's token of the data (the same
    collection, or the same files, give the same), the response as written, the
    rows used (their count and :func:`~multilevel.linalg.partial.row_hash`)."""
    import dask.base

    return (dask.base.tokenize(source), schema.parsed.response, int(pp.n), int(pp.rows_hash))


def rowless_design(design: Design, keep: np.ndarray, dropped: tuple, pp: PartialProducts, schema, source,
                   passes: int, sample: pd.DataFrame | None = None) -> OutOfCoreDesign:
    """The design of the whole data without its rows."""
    fx = design.fixed
    names = tuple(fx.all_names[i] for i in keep)
    Rk = pp.r_xy @ kept_columns(pp.center_xy, keep)
    sample_X = np.asarray(fx.spec.get_model_matrix(sample, na_action="ignore"), dtype=float)[:, keep] \
        if sample is not None else None
    z_moments, z_factors = [], []
    for R_c, j0, c in zip(pp.r_z, pp.one_z, pp.center_z):
        Cinv = np.eye(R_c.shape[1])
        if j0 is not None:
            Cinv[j0, :] += c
        R = R_c @ Cinv
        z_moments.append(R.T @ R / max(pp.n_positive, 1))
        z_factors.append((np.asarray(R_c, dtype=float), Cinv))
    fixed = RowlessFixed(X=None, names=names, spec=fx.spec, all_names=fx.all_names, dropped=dropped)
    terms = tuple(RowlessTerm(group=t.group, label=t.label, columns=t.columns, Z=None, codes=None,
                              levels=t.levels, spec=t.spec, group_columns=t.group_columns,
                              column_index=t.column_index, structure=t.structure) for t in design.terms)
    return OutOfCoreDesign(
        formula=design.formula, y=None, fixed=fixed, terms=terms, weights=None, offset=None, rows=None,
        n_dropped=schema.n_dropped, response_name=design.response_name, data_index=None, data=None,
        offset_argument=design.offset_argument, nobs=pp.n, source=source, schema=schema,
        counts=pp.counts, keep=keep, passes=passes, has_weights=schema.weights is not None,
        has_offset=schema.offset is not None or bool(schema.parsed.offsets),
        fingerprint=_fingerprint(pp, schema, source), x_factor=pp.r_xy[:, 1 + keep], n_data=int(pp.n_positive),
        z_moments=tuple(z_moments),
        z_factors=tuple(z_factors),
        gram=Rk.T @ Rk, sample=sample, sample_X=sample_X)


def _prototype(ddf, schema):
    """The schema with its learned specs, and the design of the first part with
    used rows (its names and specs are every part's)."""
    first = next(i for i, r in enumerate(schema.part_rows) if r > 0)
    pdf = ddf[list(schema.columns)].get_partition(first).compute()
    frame, _, _ = prepare_part(pdf, schema)
    schema = replace(schema, specs=learn_specs(frame, schema))
    sample = frame.iloc[:SAMPLE_ROWS]   # (real rows only: a made-up row could make a cell the data lack)
    return schema, part_design(with_all_levels(frame, schema), None, None, schema, occasions=True), sample


@dataclass(frozen=True)
class PartsData:
    """Data in parts after the two passes: what a fit to them starts from.

    Attributes
    ----------
    ddf : dask.dataframe.DataFrame
    parsed : ParsedFormula
    schema : Schema
        The levels and encodings learned in pass 1, with the formula's specs.
    proto : Design
        The design of the first part with used rows (its names and specs are
        every part's).
    sample : DataFrame
        Up to :data:`SAMPLE_ROWS` rows of that part.
    pp : PartialProducts
        The whole data's products (pass 2).
    parts : list
        The parts as Dask delayed objects (for a further pass).
    """

    ddf: object
    parsed: object
    schema: object
    proto: Design
    sample: pd.DataFrame
    pp: PartialProducts
    parts: list


def summed_products(formula: str, data, weights=None, offset=None, observation_level: bool = False) -> PartsData:
    """Passes 1 and 2 over data in parts: the levels, then the summed products, with
    the checks of a design in memory (a response, levels and groups to model;
    ``observation_level``: a grouping factor may have a level per row, as a
    GLMM's observation-level random effect).

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> s = dd.from_pandas(ml.datasets.load("sleepstudy"), npartitions=3)
    >>> got = summed_products("Reaction ~ Days + (Days | Subject)", s)
    >>> got.pp.n, got.proto.fixed.all_names, got.pp.counts[0][:3].tolist()
    (180, ('(Intercept)', 'Days'), [10, 10, 10])
    """
    import dask

    ddf = as_partitioned(data)
    parsed = parse_formula(formula)
    schema = learn_schema(ddf, parsed, weights=weights, offset=offset)
    schema, proto, sample = _prototype(ddf, schema)
    if not proto.terms:
        raise ValueError("the formula has no random-effects term such as (1 | group); "
                         "for a model without random effects use ml.lm")
    names = proto.fixed.all_names
    one_z = tuple(t.columns.index("(Intercept)") if t.structure is None and t.k > 1
                  and "(Intercept)" in t.columns else None for t in proto.terms)
    q_rest = sum(t.q for t in proto.terms[1:])
    same = [t.label for t in proto.terms[1:] if t.group == proto.terms[0].group]
    if q_rest > MAX_REST and same:
        raise ValueError(
            f"the random-effects terms after the first have {q_rest} random effects, among them "
            f"{', '.join(same)} of the first term's grouping factor (as (1 + x || g) writes them); on data in parts "
            f"every term after the first is held as a dense block of at most {MAX_REST} random effects (8 bytes "
            "times their square): fit this model in memory")
    if q_rest > MAX_REST:
        raise ValueError(
            f"the random-effects terms after the first have {q_rest} random effects; on data in parts at most "
            f"{MAX_REST} are held as a dense block (8 bytes times their square, {8 * q_rest ** 2 / 1e9:.0f} GB "
            "here): give the factor with the most levels first, or fit the data in memory")
    parts = ddf[list(schema.columns)].to_delayed()
    sch = dask.delayed(schema, pure=True)
    products = dask.delayed(_part_products, pure=True)
    columns = (tuple(names), tuple(t.columns for t in proto.terms))
    pp = tree_reduce([products(part, sch, one_z, columns, i) for i, part in enumerate(parts)],
                     merge_partials).compute()
    n = pp.n
    if pp.y_range[0] == pp.y_range[1]:
        raise ValueError(f"the response {parsed.response!r} is constant ({pp.y_range[0]:g}): there is no "
                         "variation to model")
    for t in proto.terms:
        if t.nlevels < 2:
            raise ValueError(f"grouping factor {t.group!r} has only {t.nlevels} level in the data used; a random "
                             "effect needs at least 2 groups (use it as a fixed effect, or drop the term)")
        if t.nlevels >= n and not observation_level:
            raise ValueError(f"grouping factor {t.group!r} has {t.nlevels} levels for {n} observations; with one "
                             "observation per group its variance cannot be told apart from the residual variance")
    return PartsData(ddf=ddf, parsed=parsed, schema=schema, proto=proto, sample=sample, pp=pp, parts=parts)


def aliased(pm: ProductMap, names, stacklevel: int = 4) -> tuple:
    """The names of the fixed-effects columns dropped as aliased, with lme4's warning.

    Examples
    --------
    >>> aliased(ProductMap(st=None, keep=np.array([0]), center_xy=None, Kxy=None, center_z=(), one_z=(), Kz=(),
    ...                    amplification=1.0), ("(Intercept)",))
    ()
    """
    kept = set(pm.keep.tolist())
    dropped = tuple(nm for i, nm in enumerate(names) if i not in kept)
    if dropped:
        warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
                      f"column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}", stacklevel=stacklevel)
    return dropped


def lmer_partitioned(formula: str, data, reml: bool = True, weights=None, offset=None,
                     optimizer: str = "auto", start=None, data_name: str | None = None):
    """:func:`multilevel.lmer` on a Dask DataFrame or Parquet files (see there).

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> s = dd.from_pandas(ml.datasets.load("sleepstudy"), npartitions=4)
    >>> fit = lmer_partitioned("Reaction ~ Days + (Days | Subject)", s)
    >>> round(fit.objective, 3), fit.nobs, fit.design.passes
    (1743.628, 180, 2)
    """
    import dask

    from ..results.out_of_core import OutOfCoreLmerResult
    from .fit import _fit_and_build, identifiability
    from .joint import theta_start

    got = summed_products(formula, data, weights, offset)
    ddf, schema, proto, sample, pp, parts = got.ddf, got.schema, got.proto, got.sample, got.pp, got.parts
    sch = dask.delayed(schema, pure=True)
    passes = 2
    pm = product_map(pp, proto.terms)
    keep = pm.keep
    dropped = aliased(pm, proto.fixed.all_names)
    if pm.amplification <= MAX_AMPLIFICATION:
        cp = transform_products(pp.cp, pm.Kxy, pm.Kz)
    else:
        # nearly dependent columns: the summed products do not hold the digits that the
        # standardised ones need, so every part computes its standardised products
        pmd = dask.delayed(pm, pure=True)
        exact = dask.delayed(_part_standardized, pure=True)
        cp = tree_reduce([exact(part, sch, pmd) for part in parts], add_products).compute()
        passes = 3
    cp = _finish(replace(cp, p=keep.size), keep.size)
    st = pm.st
    design = rowless_design(proto, keep, dropped, pp, schema, ddf, passes=passes, sample=sample)
    unidentified = identifiability(design, counts=pp.counts)
    layout = ThetaLayout.from_terms(design.terms)
    obj = LmmObjective(cp=cp, layout=layout, reml=bool(reml))
    lower = layout.lower
    x0 = theta_start(start, None, layout, st, moments=lambda: moment_start_from_products(cp, layout, pp.counts))
    if obj._best.get("kernel") is not None or cp.q_rest + cp.p + 1 <= SMALL_BLOCK:
        scope, fun = blas_threads(1), obj.evaluator()
    else:
        scope, fun = contextlib.nullcontext(), ThreadChoice(obj)
    from ..linalg import NotPositiveDefinite

    with scope:
        try:
            return _fit_and_build(design, obj, st, fun, x0, lower, layout, optimizer, unidentified, data_name,
                                  None, result_class=OutOfCoreLmerResult)
        except NotPositiveDefinite:
            raise ValueError("the weighted fixed-effects columns are dependent (a column nonzero only in rows "
                             "of weight zero?): the fixed effects are not identified; drop such columns or rows"
                             ) from None
