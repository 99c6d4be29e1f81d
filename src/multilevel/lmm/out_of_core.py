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
from dataclasses import replace

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp

from ..design import Design
from ..design.rowless import OutOfCoreDesign, RowlessFixed, RowlessTerm
from ..design.partitioned import as_partitioned, learn_schema, part_design, prepare_part, tree_reduce
from ..design.standardize import Standardization
from ..formula import parse_formula
from ..linalg import ThetaLayout
from ..linalg.crossprod import DENSE_REST, CrossProducts, pair_product
from ..linalg.partial import PartialProducts, merge_partials, partial_products
from ..linalg.threads import SMALL_BLOCK, ThreadChoice, blas_threads
from .objective import LmmObjective
from .start import moment_start_from_products

__all__ = ["lmer_partitioned", "independent_from_gram", "standardize_products"]

#: the largest number of random effects outside the first term whose dense block is summed
MAX_REST = 4000
#: a fixed-effects column is aliased when less than this fraction of its (centred) norm is left
#: after the earlier columns (the Gram matrix resolves about the square root of the rounding error)
ALIAS_TOL = 1e-7


def _part_products(pdf: pd.DataFrame, schema, one_xy, one_z) -> PartialProducts | None:
    """Pass 2 over one part: its centred cross-products (None without used rows)."""
    frame, w, off = prepare_part(pdf, schema)
    if len(frame) == 0:
        return None
    d = part_design(frame, w, off, schema)
    return partial_products(d, one_xy, one_z)


def independent_from_gram(G: np.ndarray, tol: float = ALIAS_TOL) -> np.ndarray:
    """Columns not aliased with earlier ones, from their (centred) Gram matrix.

    Examples
    --------
    >>> X = np.array([[1., 1, 2], [1, 2, 3], [1, 3, 4], [1, 5, 6]])
    >>> independent_from_gram(X.T @ X).tolist()
    [0, 1]
    """
    keep: list[int] = []
    for j in range(G.shape[0]):
        norm2 = G[j, j]
        if not norm2 > 0:
            continue
        if keep:
            K = np.array(keep)
            g = G[K, j]
            left2 = norm2 - g @ np.linalg.solve(G[np.ix_(K, K)], g)
        else:
            left2 = norm2
        if left2 > (tol * tol) * norm2:
            keep.append(j)
    return np.array(keep, dtype=int)


def _one_at(one: int | None, keep: np.ndarray) -> int | None:
    if one is None:
        return None
    hit = np.nonzero(keep == one)[0]
    return int(hit[0]) if hit.size else None


def _term_basis(G: np.ndarray, n: int, one: int | None, center: np.ndarray, term):
    """A term's map ``B`` (user ``Z`` -> internal) and ``K`` (centred ``Z`` -> internal),
    as :func:`~multilevel.design.standardize.standardize` computes ``B`` from the rows."""
    k = G.shape[0]
    C = np.eye(k)
    if one is not None:
        C[one, :] -= center        # Z_c = Z C (the column of ones times the center taken off)
    if k == 1 or term.structure is not None:
        rms = np.sqrt(np.diag(G) / n)   # (never centred)
        rms = np.where((rms > 0) & np.isfinite(rms), rms, 1.0)
        if term.structure is not None and term.structure.nsd == 1 and k > 1:
            rms = np.full(k, float(np.sqrt(np.mean(rms * rms))))
        B = np.diag(1.0 / rms)
        return B, B
    try:
        R = np.linalg.cholesky(G / n).T
        K = scipy.linalg.solve_triangular(R, np.eye(k))
        ok = np.all(np.isfinite(K)) and np.all(np.diag(R) > 1e-7 * np.sqrt(np.diag(G) / n))
    except np.linalg.LinAlgError:
        ok = False
    if not ok:  # dependent columns: the user's own (identity)
        return np.eye(k), np.linalg.inv(C)
    return C @ K, K


def standardize_products(pp: PartialProducts, keep: np.ndarray, terms) -> tuple[Standardization, CrossProducts]:
    """The standardisation of a design and its internal cross-products, from the
    whole data's centred products (see :mod:`multilevel.design.standardize`).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design, standardize
    >>> from multilevel.linalg import cross_products
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> st, cp = standardize_products(partial_products(d, 0, (0,)), np.array([0, 1]), d.terms)
    >>> st0, inner = standardize(d)
    >>> bool(np.allclose(st.Tx, st0.Tx) and np.allclose(cp.D0, cross_products(inner).D0))
    True
    """
    n = pp.n
    p_all = pp.center_xy.size - 1
    idx = np.r_[keep, p_all].astype(int)
    p = keep.size
    G = pp.gram_xy[np.ix_(idx, idx)]
    M = pp.cp.Cxx[np.ix_(idx, idx)]
    one = _one_at(pp.one_xy, keep)
    m_x, m_y = pp.center_xy[keep], pp.center_xy[p_all]
    K = np.zeros((p + 1, p + 1))
    if p:
        R = np.linalg.cholesky(G[:p, :p] / n).T
        Rinv = scipy.linalg.solve_triangular(R, np.eye(p))
        Cx = np.eye(p)
        e = np.zeros(p)
        if one is not None:
            Cx[one, :] -= m_x
            e[one] = 1.0
        Tx = Cx @ Rinv
        A = Rinv.T @ M[:p, :p] @ Rinv
        yw = M[:p, p] + (m_y * M[:p, one] if one is not None else 0.0)
        c_int = np.linalg.solve(A, Rinv.T @ yw)
        a = np.r_[m_y * e - Rinv @ c_int, 1.0]
        rss = float(a @ G @ a)
        K[:p, :p] = Rinv
    else:
        Tx, c_int, a = np.zeros((0, 0)), np.zeros(0), np.ones(1)
        rss = float(G[0, 0])
    scale = float(np.sqrt(rss / n))
    if not (scale > 0 and np.isfinite(scale)):
        scale = 1.0
    K[:, p] = a / scale
    Bs, Ks = [], []
    for i, t in enumerate(terms):
        B, Kt = _term_basis(pp.gram_z[i], n, pp.one_z[i], pp.center_z[i], t)
        Bs.append(B)
        Ks.append(Kt)
    st = Standardization(Tx=Tx, shift=Tx @ c_int if p else np.zeros(0), scale=scale, B=tuple(Bs),
                         response=True, structures=tuple(t.structure for t in terms))
    cp = pp.cp
    K0 = Ks[0]
    D0 = np.einsum("ba,gbc,cd->gad", K0, cp.D0, K0)
    Bx0 = np.einsum("ba,bgc,cd->agd", K, cp.Bx0[idx], K0)
    Cxx = K.T @ M @ K
    if cp.Br0 is not None:
        KR = sp.block_diag([sp.kron(sp.identity(nl, format="csr"), sp.csr_matrix(Kt))
                            for Kt, nl in zip(Ks[1:], cp.nlevels[1:])], format="csr")
        K0big = sp.kron(sp.identity(cp.nlevels[0], format="csr"), sp.csr_matrix(K0), format="csr")
        Br0 = (KR.T @ sp.csr_matrix(cp.Br0) @ K0big).tocsr()
        Br0.sort_indices()
        Crr = np.asarray(KR.T @ (KR.T @ cp.Crr).T).T
        Crx = np.asarray(KR.T @ cp.Crx[:, idx]) @ K
        q_rest = Crr.shape[0]
        pairs = pair_product(Br0, K0.shape[0], stride=q_rest + p + 1) if q_rest > DENSE_REST else None
        Br0_dense = Br0.toarray() if pairs is None else None
    else:
        Br0, pairs, Br0_dense = None, None, None
        Crr, Crx = np.zeros((0, 0)), np.zeros((0, p + 1))
    out = replace(cp, D0=D0, Bx0=Bx0, Br0=Br0, Crr=Crr, Crx=Crx, Cxx=Cxx, p=p, pairs=pairs,
                  Br0_dense=Br0_dense)
    return st, out


def _rowless(design: Design, keep: np.ndarray, dropped: tuple, pp: PartialProducts, schema, source,
             passes: int) -> OutOfCoreDesign:
    """The design of the whole data without its rows."""
    fx = design.fixed
    names = tuple(fx.all_names[i] for i in keep)
    fixed = RowlessFixed(X=None, names=names, spec=fx.spec, all_names=fx.all_names, dropped=dropped)
    terms = tuple(RowlessTerm(group=t.group, label=t.label, columns=t.columns, Z=None, codes=None,
                              levels=t.levels, spec=t.spec, group_columns=t.group_columns,
                              column_index=t.column_index, structure=t.structure) for t in design.terms)
    return OutOfCoreDesign(
        formula=design.formula, y=None, fixed=fixed, terms=terms, weights=None, offset=None, rows=None,
        n_dropped=schema.n_dropped, response_name=design.response_name, data_index=None, data=None,
        offset_argument=design.offset_argument, nobs=pp.n, source=source, schema=schema,
        counts=pp.counts, keep=keep, passes=passes, has_weights=schema.weights is not None,
        has_offset=design.offset is not None)


def _prototype(ddf, schema) -> Design:
    """The design of the first part with used rows (its names and specs are every part's)."""
    first = next(i for i, r in enumerate(schema.part_rows) if r > 0)
    pdf = ddf[list(schema.columns)].get_partition(first).compute()
    frame, w, off = prepare_part(pdf, schema)
    return part_design(frame, w, off, schema)


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
    from .fit import _fit_and_build, check_start, identifiability

    ddf = as_partitioned(data)
    parsed = parse_formula(formula)
    schema = learn_schema(ddf, parsed, weights=weights, offset=offset)
    response = schema.parsed.response.strip("`")
    if response in ddf.columns and not pd.api.types.is_numeric_dtype(ddf._meta[response].dtype):
        raise ValueError(f"the response {response!r} must be numeric, but it has dtype "
                         f"{ddf._meta[response].dtype}; convert it, or use a GLMM for a categorical outcome")
    proto = _prototype(ddf, schema)
    if not proto.terms:
        raise ValueError("the formula has no random-effects term such as (1 | group); "
                         "for a model without random effects use ml.lm")
    names = proto.fixed.all_names
    one_xy = names.index("(Intercept)") if "(Intercept)" in names else None
    one_z = tuple(t.columns.index("(Intercept)") if t.structure is None and t.k > 1
                  and "(Intercept)" in t.columns else None for t in proto.terms)
    q_rest = sum(t.q for t in proto.terms[1:])
    if q_rest > MAX_REST:
        raise ValueError(
            f"the random-effects terms after the first have {q_rest} random effects; on data in parts at most "
            f"{MAX_REST} are summed as a dense block (its memory grows with their square): give the factor "
            "with the most levels first, or fit the data in memory")
    parts = ddf[list(schema.columns)].to_delayed()
    sch = dask.delayed(schema, pure=True)
    products = dask.delayed(_part_products, pure=True)
    pp = tree_reduce([products(part, sch, one_xy, one_z) for part in parts], merge_partials).compute()
    n = pp.n
    p_all = pp.center_xy.size - 1
    if not pp.gram_xy[p_all, p_all] / n > 1e-24 * pp.center_xy[p_all] ** 2:  # (about its mean, or 0)
        raise ValueError(f"the response {parsed.response!r} is constant: there is no variation to model")
    keep = independent_from_gram(pp.gram_xy[:p_all, :p_all])
    dropped = tuple(nm for i, nm in enumerate(names) if i not in set(keep.tolist()))
    if dropped:
        warnings.warn(f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
                      f"column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}", stacklevel=3)
    design = _rowless(proto, keep, dropped, pp, schema, ddf, passes=2)
    for t, c in zip(design.terms, pp.counts):
        if t.nlevels < 2:
            raise ValueError(f"grouping factor {t.group!r} has only {t.nlevels} level in the data used; a random "
                             "effect needs at least 2 groups (use it as a fixed effect, or drop the term)")
        if t.nlevels >= n:
            raise ValueError(f"grouping factor {t.group!r} has {t.nlevels} levels for {n} observations; with one "
                             "observation per group its variance cannot be told apart from the residual variance")
    unidentified = identifiability(design, counts=pp.counts)
    st, cp = standardize_products(pp, keep, design.terms)
    layout = ThetaLayout.from_terms(design.terms)
    obj = LmmObjective(cp=cp, layout=layout, reml=bool(reml))
    lower = layout.lower
    if start is None or (isinstance(start, str) and start == "moments"):
        x0 = moment_start_from_products(cp, layout, pp.counts)
    elif isinstance(start, str) and start == "identity":
        x0 = layout.start
    elif isinstance(start, str):
        raise ValueError(f"unknown start {start!r}; use 'moments', 'identity' or an array of theta")
    else:
        x0 = st.theta_to_internal(check_start(start, lower))
    if obj._best.get("kernel") is not None or cp.q_rest + cp.p + 1 <= SMALL_BLOCK:
        scope, fun = blas_threads(1), obj.evaluator()
    else:
        scope, fun = contextlib.nullcontext(), ThreadChoice(obj)
    with scope:
        return _fit_and_build(design, obj, st, fun, x0, lower, layout, optimizer, unidentified, data_name,
                              None, result_class=OutOfCoreLmerResult)
