"""The reference grid of a fit: every combination of the factors' levels, covariates at their means.

As emmeans' ``ref_grid``: each factor of the fixed-effects formula takes all
its levels, each numeric predictor its mean over the rows used in the fit
(or the values given in ``at=``); a row of the grid's model matrix, built with
the fit's own encodings, is the linear function of the coefficients that
predicts that cell. Cells whose prediction is not estimable (a combination
absent from the data when a coefficient was aliased) are marked so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..arguments import short_repr
from ..design.data import positive_rows
from ..design.spec_matrix import spec_matrix

__all__ = ["ReferenceGrid", "reference_grid"]

#: relative size below which a grid row is taken to lie in the row space of X
ESTIMABLE_TOL = 1e-8


@dataclass(frozen=True)
class ReferenceGrid:
    """Cells of a fit's fixed-effects model and their linear functions.

    Attributes
    ----------
    variables : dict
        Name -> tuple of the values the grid takes, in the formula's order;
        factors hold their levels, covariates their mean or ``at=`` values.
    factors : tuple of str
        The names in ``variables`` that are factors.
    frame : DataFrame
        One row per cell, the first variable varying fastest (R's ``expand.grid``).
    linfct : ndarray (cells, p)
        Each cell's linear function of the fit's (kept) coefficients.
    linfct_full : ndarray (cells, p_all)
        The same over every column of the fixed model matrix, aliased ones included.
    null_basis : ndarray or None
        Basis of the null space of the full fixed model matrix of the data
        (None when no coefficient was aliased).
    estimable : ndarray of bool (cells,)
    counts : ndarray (cells,)
        Observations of the fit in each cell's factor combination.
    offset : ndarray (cells,) or None
        The offset of each cell (formula offsets at the grid's values; the
        mean of an ``offset=`` argument).
    terms : tuple of frozenset
        The variables of each fixed-effects term.
    nests : dict
        Factor -> the factors it is nested in (emmeans' ``B %in% A``): every
        level of ``B`` occurs with one level of ``A`` in the data, and every
        term with ``B`` has ``A`` too. Empty without nesting.
    valid : ndarray of bool (cells,)
        Cells whose nested factors sit in their own nest (emmeans keeps only
        these); all True without nesting.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("weight ~ time * treatment + (1 | girl)", ml.datasets.load("anorexia"))
    >>> rg = reference_grid(fit.design)
    >>> rg.variables
    {'time': (1.5,), 'treatment': ('CBT', 'Cont', 'FT')}
    >>> rg.linfct.shape
    (3, 6)
    """

    variables: dict
    factors: tuple[str, ...]
    frame: pd.DataFrame
    linfct: np.ndarray
    linfct_full: np.ndarray
    null_basis: np.ndarray | None
    estimable: np.ndarray
    counts: np.ndarray
    offset: np.ndarray | None
    terms: tuple
    nests: dict = None
    valid: np.ndarray = None


def _formula_variables(design) -> tuple[list[str], dict[str, tuple | None]]:
    """The data columns of the fixed part in formula order, and each factor's levels (None: numeric)."""
    spec = design.fixed.spec
    data = design.data
    if hasattr(spec, "columns"):  # SimpleSpec
        levels = {c: spec._levels(j) for j, c in enumerate(spec.columns)}
        return list(spec.columns), _used_levels(levels, data)
    names = set(spec.variables_by_source.get("data", set()))
    rhs = design.formula.fixed
    order = sorted(names, key=lambda v: (_first_position(rhs, v), v))
    state = getattr(spec, "encoder_state", {}) or {}
    levels: dict[str, tuple | None] = {}
    for v in order:
        st = state.get(v)
        kind = getattr(st[0], "value", None) if st else None
        col = data[v] if data is not None and v in data.columns else None
        if kind == "categorical":
            levels[v] = tuple(st[1].get("categories", ()))
        elif col is not None and pd.api.types.is_bool_dtype(col):
            levels[v] = (False, True)  # a factor of two levels, as lme4 and emmeans take a logical
        elif col is not None and not pd.api.types.is_numeric_dtype(col):
            levels[v] = _column_levels(col)
        elif _wrapped_as_factor(state, v) and col is not None:
            levels[v] = tuple(sorted(pd.unique(col.dropna())))
        else:
            levels[v] = None
    return order, _used_levels(levels, data)


def _used_levels(levels: dict, data) -> dict:
    """Levels no row has (a Categorical's unused categories) are not part of the model: lme4
    drops them from its model frame, and emmeans' grid has none of them."""
    out = dict(levels)
    for v, lev in levels.items():
        if lev is not None and data is not None and v in data.columns:
            col = data[v]
            if isinstance(col.dtype, pd.CategoricalDtype):
                codes = np.unique(np.asarray(col.cat.codes))
                used = col.cat.categories[codes[codes >= 0]]
            else:
                used = pd.unique(col.dropna().astype(object))
            present = set(map(str, used))
            out[v] = tuple(x for x in lev if str(x) in present)
    return out


def _first_position(text: str, name: str) -> int:
    m = re.search(r"(?<![\w.])" + re.escape(name) + r"(?![\w.])", text)
    return m.start() if m else len(text)


def _wrapped_as_factor(state: dict, v: str) -> bool:
    """Whether ``v`` enters only through a categorical encoding such as ``C(v)``."""
    pat = re.compile(r"(?<![\w.])" + re.escape(v) + r"(?![\w.])")
    return any(key != v and pat.search(str(key)) and getattr(st[0], "value", None) == "categorical"
               for key, st in state.items())


def _column_levels(col: pd.Series) -> tuple:
    if isinstance(col.dtype, pd.CategoricalDtype):
        return tuple(col.cat.categories)
    return tuple(sorted(pd.unique(col.dropna())))


def _term_variables(design, names: list[str]) -> tuple:
    """The variables of each fixed-effects term (the intercept left out)."""
    spec = design.fixed.spec
    terms = getattr(spec, "term_indices", None)
    if terms is None:
        return tuple(frozenset([c]) for c in names)
    out = []
    for term in terms:
        text = " ".join(str(f) for f in term.factors)
        inside = frozenset(v for v in names if _first_position(text, v) < len(text))
        if inside:
            out.append(inside)
    return tuple(out)


_REDUCERS = {"mean": lambda x: np.mean(x), "median": lambda x: np.median(x),
             "range": lambda x: (np.min(x), np.max(x))}


def check_cov_reduce(cov_reduce):
    """``cov_reduce`` as emmeans' ``cov.reduce``: "mean" (the default), "median",
    "range" (the minimum and the maximum), a function of the column's values giving
    one number or several, or a dict of them by covariate (the others at their mean).

    Examples
    --------
    >>> [float(v) for v in check_cov_reduce("range")["*"](np.array([3.0, 1.0, 2.0]))]
    [1.0, 3.0]
    """
    if isinstance(cov_reduce, dict):
        out = {"*": _REDUCERS["mean"]}
        for k, v in cov_reduce.items():
            if not isinstance(k, str):
                raise TypeError(f"cov_reduce's keys must be covariate names, not {short_repr(k)}")
            out[k] = check_cov_reduce(v)["*"]
        return out
    if isinstance(cov_reduce, str):
        if cov_reduce not in _REDUCERS:
            raise ValueError(f"cov_reduce must be 'mean', 'median', 'range', a function or a dict of them, "
                             f"not {cov_reduce!r}")
        return {"*": _REDUCERS[cov_reduce]}
    if callable(cov_reduce):
        return {"*": cov_reduce}
    raise TypeError(f"cov_reduce must be 'mean', 'median', 'range', a function or a dict of them, "
                    f"not {short_repr(cov_reduce)}")


def _covariate_values(data: pd.DataFrame, name: str, at: dict, reduce=None) -> tuple:
    if name in at:
        try:
            vals = np.atleast_1d(np.asarray(at[name], dtype=float))
        except (TypeError, ValueError):
            raise ValueError(f"at={{{name!r}: ...}} must give numbers for the covariate {name!r}, "
                             f"not {short_repr(at[name])}") from None
        if vals.size == 0 or not np.all(np.isfinite(vals)):
            raise ValueError(f"at={{{name!r}: ...}} must give finite numbers")
        return tuple(float(v) for v in vals)
    x = np.asarray(data[name], dtype=float)
    x = x[np.isfinite(x)]
    if reduce is None:
        return (float(np.mean(x)),)
    fn = reduce.get(name, reduce["*"])
    try:
        vals = np.atleast_1d(np.asarray(fn(x), dtype=float)).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cov_reduce for {name!r} must give numbers from the column's values: {exc}") from None
    if vals.size == 0 or not np.all(np.isfinite(vals)):
        raise ValueError(f"cov_reduce for {name!r} must give finite numbers, not {short_repr(vals)}")
    return tuple(dict.fromkeys(float(v) for v in vals))


def _factor_values(name: str, levels: tuple, at: dict) -> tuple:
    if name not in at:
        return levels
    wanted = list(np.atleast_1d(np.asarray(at[name], dtype=object)))
    text = {str(v): v for v in levels}
    out = []
    for w in wanted:
        if w in levels:
            out.append(w)
        elif str(w) in text:
            out.append(text[str(w)])
        else:
            raise ValueError(f"at={{{name!r}: ...}} gives {short_repr(w)}, which is not a level of "
                             f"{name!r} ({', '.join(map(str, levels[:8]))})")
    return tuple(dict.fromkeys(out))


def _check_at(at, names: list[str]) -> dict:
    if at is None:
        return {}
    if not isinstance(at, dict):
        raise TypeError(f"at must be a dict of variable -> value(s), not {type(at).__name__}")
    unknown = [k for k in at if k not in names]
    if unknown:
        raise ValueError(f"at= names {unknown[0]!r}, which is not a predictor of the fixed part "
                         f"({', '.join(names) or 'none'})")
    return at


def expand_grid(variables: dict, factors) -> pd.DataFrame:
    """Every combination of the variables' values, the first varying fastest (R's
    ``expand.grid``); the factors as categoricals with their values as categories.

    Examples
    --------
    >>> expand_grid({"a": ("x", "y"), "b": (1.0, 2.0)}, factors=("a",)).to_numpy().tolist()
    [['x', 1.0], ['y', 1.0], ['x', 2.0], ['y', 2.0]]
    """
    names = list(variables)
    if not names:
        return pd.DataFrame(index=range(1))
    dims = [len(variables[n]) for n in names]
    codes = np.indices(dims).reshape(len(dims), -1, order="F")
    cols = {}
    for n, c in zip(names, codes):
        values = variables[n]
        if n in factors:
            cols[n] = pd.Categorical.from_codes(c, categories=pd.Index(list(values), dtype=object))
        else:
            cols[n] = np.asarray(values, dtype=float)[c]
    return pd.DataFrame(cols)


def _null_basis(Xfull: np.ndarray) -> np.ndarray | None:
    """Basis of the null space of the full (rank-deficient) fixed model matrix, or None."""
    _, s, vt = np.linalg.svd(Xfull, full_matrices=True)
    tol = max(Xfull.shape) * np.finfo(float).eps * (s[0] if s.size else 0.0)
    rank = int(np.sum(s > max(tol, 1e-7 * (s[0] if s.size else 0.0))))
    if rank == Xfull.shape[1]:
        return None
    return vt[rank:].T


def _offsets(design, frame: pd.DataFrame, keep=None) -> np.ndarray | None:
    """Every cell's offset: the mean of the fit's offsets (emmeans' ``.offset.``, formula
    ``offset()`` terms and the ``offset=`` argument alike), over the rows ``keep``."""
    if design.offset is None:
        return None
    off = np.asarray(design.offset) if keep is None else np.asarray(design.offset)[keep]
    return np.full(len(frame), float(np.mean(off)))


def _model_matrix(spec, frame: pd.DataFrame) -> np.ndarray:
    if hasattr(spec, "columns"):  # SimpleSpec
        return spec.matrix(frame)
    fast = spec_matrix(spec, frame)
    if fast is not None:
        return fast
    return np.asarray(spec.get_model_matrix(frame, na_action="ignore", output="numpy"), dtype=float)


def reference_grid(design, at: dict | None = None, cov_reduce=None) -> ReferenceGrid:
    """The reference grid of a fitted design (see the module's description).

    Parameters
    ----------
    design : Design
        A fit's design (``fit.design``), with the data it was fitted to.
    at : dict, optional
        Values for predictors: numbers for covariates (several values make
        the covariate a dimension of the grid), a subset of levels for factors.
    cov_reduce : str, callable or dict, optional
        The values of covariates not in ``at`` (see :func:`check_cov_reduce`);
        their mean by default.

    Returns
    -------
    ReferenceGrid

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("weight ~ time * treatment + (1 | girl)", ml.datasets.load("anorexia"))
    >>> reference_grid(fit.design, at={"time": [0, 1]}).frame.shape
    (6, 2)
    """
    data = design.data
    if data is None:
        raise ValueError("this fit does not keep its data; a reference grid needs the rows it was fitted to")
    keep = positive_rows(getattr(design, "weights", None))
    if keep is not None:  # (rows of weight 0 are not data: the means and cell counts are of the others)
        data = data.iloc[np.flatnonzero(keep)]
    names, levels = _formula_variables(design)
    at = _check_at(at, names)
    reduce = None if cov_reduce is None else check_cov_reduce(cov_reduce)
    if reduce is not None:
        unknown = [k for k in reduce if k != "*" and (k not in names or levels[k] is not None)]
        if unknown:
            raise ValueError(f"cov_reduce names {unknown[0]!r}, which is not a covariate of the fixed part "
                             f"({', '.join(v for v in names if levels[v] is None) or 'none'})")
    variables = {}
    for v in names:
        variables[v] = (_covariate_values(data, v, at, reduce) if levels[v] is None
                        else _factor_values(v, levels[v], at))
    factors = tuple(v for v in names if levels[v] is not None)
    frame = expand_grid(variables, factors)
    spec = design.fixed.spec
    build = frame
    for v in factors:  # a bool column is coded by formulaic as it is: give it back as bool
        if pd.api.types.is_bool_dtype(data[v]):
            build = build.copy() if build is frame else build
            build[v] = np.asarray(build[v].astype(object), dtype=bool)
    if spec is None or (not names and design.fixed.names == ("(Intercept)",)):
        full = np.ones((len(frame), 1))
    else:
        full = _model_matrix(spec, build)
    linfct = full[:, design.fixed.keep]
    estimable = np.ones(len(frame), dtype=bool)
    N = None
    if design.fixed.dropped:
        Xfull = _model_matrix(spec, data)
        N = _null_basis(Xfull[np.all(np.isfinite(Xfull), axis=1)])
        if N is not None:
            size = np.maximum(np.linalg.norm(full, axis=1), 1.0)
            estimable = np.linalg.norm(full @ N, axis=1) <= ESTIMABLE_TOL * size
    counts = _cell_counts(data, frame, factors)
    terms = _term_variables(design, names)
    nests = find_nests(data, factors, terms)
    valid = np.ones(len(frame), dtype=bool)
    for inner, outers in nests.items():
        for outer in outers:
            valid &= _cell_counts(data, frame, (inner, outer)) > 0
    return ReferenceGrid(variables=variables, factors=factors, frame=frame, linfct=linfct,
                         linfct_full=full, null_basis=N, estimable=estimable, counts=counts,
                         offset=_offsets(design, frame, keep), terms=terms, nests=nests, valid=valid)


def find_nests(data: pd.DataFrame, factors: tuple[str, ...], terms: tuple) -> dict:
    """The nesting of the fixed part's factors, as emmeans detects it: ``B`` is nested in
    ``A`` when every level of ``B`` in the data occurs with one level of ``A`` only and
    every model term with ``B`` also has ``A`` (``y ~ A + A:B``).

    Examples
    --------
    >>> d = pd.DataFrame({"A": ["a", "a", "b", "b"], "B": ["x", "y", "z", "w"]})
    >>> find_nests(d, ("A", "B"), (frozenset({"A"}), frozenset({"A", "B"})))
    {'B': ('A',)}
    >>> find_nests(d, ("A", "B"), (frozenset({"A"}), frozenset({"B"})))
    {}
    """
    nests: dict = {}
    for inner in factors:
        with_inner = [t for t in terms if inner in t]
        if not with_inner:
            continue
        outers = []
        for outer in factors:
            if outer == inner or not all(outer in t for t in with_inner):
                continue
            pairs = data[[inner, outer]].dropna().astype(str).drop_duplicates()
            if len(pairs) and pairs[inner].is_unique and pairs[outer].nunique() > 1:
                outers.append(outer)
        if outers:
            nests[inner] = tuple(outers)
    return nests


def _cell_counts(data: pd.DataFrame, frame: pd.DataFrame, factors: tuple[str, ...]) -> np.ndarray:
    """Rows of the data in each grid cell's combination of factor levels (emmeans' ``.wgt.``:
    counts, whatever the prior weights)."""
    if not factors:
        return np.full(len(frame), float(len(data)))
    key_data = np.zeros(len(data), dtype=np.int64)
    key_grid = np.zeros(len(frame), dtype=np.int64)
    missing = np.zeros(len(data), dtype=bool)
    for f in factors:
        levels = list(frame[f].cat.categories)
        codes = _codes(data[f], levels)
        missing |= codes < 0
        key_data = key_data * (len(levels) + 1) + codes
        key_grid = key_grid * (len(levels) + 1) + np.asarray(frame[f].cat.codes, dtype=np.int64)
    uniq, inverse = np.unique(key_data[~missing], return_inverse=True)
    counts = np.bincount(inverse, minlength=uniq.size).astype(float)
    pos = np.searchsorted(uniq, key_grid)
    pos = np.clip(pos, 0, max(len(uniq) - 1, 0))
    found = (uniq.size > 0) & (uniq[pos] == key_grid) if uniq.size else np.zeros(len(frame), dtype=bool)
    return np.where(found, counts[pos] if uniq.size else 0, 0).astype(float)


def _codes(col: pd.Series, levels: list) -> np.ndarray:
    if isinstance(col.dtype, pd.CategoricalDtype) and list(col.cat.categories) == levels:
        return np.asarray(col.cat.codes, dtype=np.int64)
    text = {str(v): i for i, v in enumerate(levels)}
    return np.array([text.get(str(v), -1) for v in col.astype(object)], dtype=np.int64)
