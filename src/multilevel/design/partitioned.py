"""Designs of data held in parts: a Dask DataFrame, or Parquet files.

A model's design on data too large for memory is built part by part, and the
parts must agree: a factor coded ``a, b, c`` in one part and ``b, c`` in
another would give columns that do not line up, and a grouping factor's
levels must be numbered the same everywhere. So a first pass over the parts
(:func:`learn_schema`) learns, from the rows the model uses, every factor's
levels and every grouping factor's levels, and counts the rows; each part's
design (:func:`part_design`) is then built with those levels, the factors as
categoricals with the whole data's categories, exactly as the in-memory
design codes them (a string column's sorted values, a categorical's
categories, a grouping factor's levels in the same order).

Transformations that learn from the data (``center(x)``, ``scale(x)``,
``poly(x, 2)``, splines) would learn from one part only, and are refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..formula import ParsedFormula
from .data import check_columns, complete_rows
from .design import (Design, _check_finite, _formulaic, _used_columns, check_column_types,
                     check_response_not_predictor, formula_offset, quote_dotted)
from .fixed import FixedDesign
from .names import lme4_names
from .random import RandomTerm
from .simple import simple_spec

__all__ = ["Schema", "is_partitioned", "as_partitioned", "learn_schema", "learn_specs", "part_design",
           "prepare_part", "with_all_levels"]

#: transformations whose result depends on all the rows they see
_STATEFUL = re.compile(r"\b(center|scale|standardize|poly|bs|cr|cc|te|hashed|lag)\s*\(")
_FACTOR_CALL = re.compile(r"\bC\(\s*`?([A-Za-z_][A-Za-z0-9_.]*)`?")
_FACTOR_ARGUMENT = re.compile(r"\bC\(\s*(`[^`]*`|[A-Za-z_][A-Za-z0-9_.]*)\s*[,)]")


def is_partitioned(data) -> bool:
    """Whether ``data`` is a Dask DataFrame or a path to Parquet files.

    Examples
    --------
    >>> import pandas as pd
    >>> is_partitioned(pd.DataFrame({"y": [1.0]})), is_partitioned("data/*.parquet")
    (False, True)
    """
    if isinstance(data, str):
        return True
    try:
        import os

        if isinstance(data, os.PathLike):
            return True
    except ImportError:  # pragma: no cover
        pass
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr")


def as_partitioned(data):
    """A Dask DataFrame of ``data``: itself, or ``dask.dataframe.read_parquet`` of a path.

    Examples
    --------
    >>> import tempfile, os, pandas as pd
    >>> d = tempfile.mkdtemp()
    >>> pd.DataFrame({"y": [1.0, 2.0]}).to_parquet(os.path.join(d, "part.0.parquet"))
    >>> as_partitioned(os.path.join(d, "*.parquet")).npartitions
    1
    """
    try:
        import dask.dataframe as dd
    except ImportError:
        raise ImportError("fitting a Dask DataFrame or Parquet files needs dask: "
                          "pip install 'multilevel[dask]'") from None
    if isinstance(data, dd.DataFrame):
        return data
    import os

    if isinstance(data, (str, os.PathLike)):
        path = os.fspath(data)
        if "://" not in path:
            import glob

            if not (glob.glob(path) if glob.has_magic(path) else os.path.exists(path)):
                raise ValueError(f"cannot read Parquet data from {path!r}: no file or directory matches it; give "
                                 "a Parquet file, a directory of them or a glob such as 'data/*.parquet'")
            if os.path.isdir(path) and not any(files for _, _, files in os.walk(path)):
                raise ValueError(f"cannot read Parquet data from {path!r}: the directory holds no files; give "
                                 "a Parquet file, a directory of them or a glob such as 'data/*.parquet'")
        try:
            return dd.read_parquet(path)
        except (FileNotFoundError, OSError, ValueError) as exc:
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"cannot read Parquet data from {path!r}: {msg}; give a Parquet file, a "
                             "directory of them or a glob such as 'data/*.parquet'") from None
    raise TypeError(f"data must be a pandas, polars or Dask DataFrame, or a path to Parquet files, "
                    f"not {type(data).__name__}")


@dataclass(frozen=True)
class GroupLevels:
    """The levels of one grouping factor (one or several columns, ``a:b``).

    ``column_levels`` holds each column's levels; a row's level is found by
    its columns' codes combined with the first column varying slowest
    (``key``), looked up in ``keys`` (sorted), as
    :func:`multilevel.design.random.group_codes` numbers them.
    """

    columns: tuple[str, ...]
    column_levels: tuple[pd.Index, ...]
    keys: np.ndarray
    labels: pd.Index

    def codes(self, frame: pd.DataFrame) -> np.ndarray:
        """The level of each row of ``frame`` (all its levels known)."""
        combined = np.zeros(len(frame), dtype=np.int64)
        for col, lev in zip(self.columns, self.column_levels):
            c = pd.Categorical(frame[col], categories=lev).codes.astype(np.int64)
            combined = combined * len(lev) + c
        if len(self.columns) == 1:
            return combined.astype(np.intp)
        return np.searchsorted(self.keys, combined).astype(np.intp)


@dataclass(frozen=True)
class Schema:
    """What the first pass learned: the columns read, the factors' categories,
    the grouping factors' levels, and the numbers of rows.

    Attributes
    ----------
    parsed : ParsedFormula
    columns : tuple of str
        The columns the model reads (weights and offset included).
    weights, offset : str or None
        Column names.
    categories : dict
        Factor columns of the fixed and random parts, read as categoricals
        with these categories.
    groups : dict
        By grouping column tuple, its :class:`GroupLevels`.
    n, n_dropped : int
        Rows used, and rows with a missing value.
    part_rows : tuple of int
        Rows used in each part.
    factor_levels : dict
        Numeric columns used as factors (``C(x)``), with their levels: they
        stay numbers elsewhere in the formula.
    specs : tuple or None
        formulaic's specs of the fixed part (response included) and of each
        bar, learned from rows holding every level of every ``C(x)``
        (:func:`learn_specs`); None: each part's own (equal where every
        factor is a categorical of the whole data's categories).
    """

    parsed: ParsedFormula
    columns: tuple[str, ...]
    weights: str | None
    offset: str | None
    categories: dict
    groups: dict
    n: int
    n_dropped: int
    part_rows: tuple[int, ...]
    factor_levels: dict = field(default_factory=dict)
    specs: tuple | None = None


def _label_column(dtype) -> bool:
    return isinstance(dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(dtype) \
        or pd.api.types.is_string_dtype(dtype)


def _check_formula(parsed: ParsedFormula) -> None:
    """Refuse transformations that learn from the rows (they would learn from one part)."""
    pieces = [parsed.fixed] + [b.expr for b in parsed.bars] + list(parsed.offsets) + [parsed.response]
    for piece in pieces:
        if len(re.findall(r"\bC\(", piece)) != len(_FACTOR_ARGUMENT.findall(piece)):
            raise ValueError(
                f"C(...) of an expression in {parsed.text!r} learns its levels from the rows it sees, and on data "
                "in parts it would learn them from each part; compute the column first (e.g. ddf['h'] = "
                "np.floor(ddf['x'] / 4)) and write C(h)")
        m = _STATEFUL.search(piece)
        if m:
            raise ValueError(
                f"{m.group(1)}(...) in {parsed.text!r} learns from the rows it sees, and on data in parts it "
                "would learn from each part separately; compute the column first (e.g. with Dask: "
                "ddf['x_c'] = ddf['x'] - ddf['x'].mean()) and use it in the formula")


def _mask(pdf: pd.DataFrame, schema_like) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Complete rows of a part, and its weights and offset (all rows)."""
    parsed, weights, offset = schema_like
    w = pdf[weights].to_numpy(dtype=float, na_value=np.nan) if weights else None
    off = pdf[offset].to_numpy(dtype=float, na_value=np.nan) if offset else None
    in_formula = formula_offset(parsed, pdf)
    if in_formula is not None:
        off = in_formula if off is None else off + in_formula
    return complete_rows(pdf, [c for c in pdf.columns if c not in (weights, offset)],
                         {"weights": w, "offset": off}), w, off


def _scan_part(pdf: pd.DataFrame, parsed, weights, offset, label_cols, group_sets) -> dict:
    """Pass 1 over one part: its used rows, its factors' values, its grouping combinations."""
    mask, w, _ = _mask(pdf, (parsed, weights, offset))
    sub = pdf[mask]
    out = {"rows": int(mask.sum()), "dropped": int((~mask).sum()), "values": {}, "categories": {},
           "kinds": {c: k for c in pdf.columns if (k := _kind(pdf[c])) is not None}, "combos": {}}
    if w is not None:
        wk = w[mask]
        out["negative_weights"] = bool(np.any(wk < 0))
        out["positive_weights"] = bool(np.any(wk > 0))
    for col in label_cols:
        s = sub[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            out["categories"][col] = tuple(s.cat.categories)
            out["values"][col] = pd.Index(s.cat.remove_unused_categories().cat.categories)
        else:
            out["values"][col] = pd.Index(pd.unique(s))
    for cols in group_sets:
        if len(cols) > 1:
            out["combos"][cols] = sub[list(cols)].drop_duplicates()
    return out


def _kind(column: pd.Series) -> str | None:
    """What a part's column holds: numbers, labels, a categorical (None: only missing
    values, as a file whose column is all null is read)."""
    dtype = column.dtype
    if (pd.api.types.is_object_dtype(dtype) or dtype == "null[pyarrow]") and column.isna().all():
        return None
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical"
    if pd.api.types.is_bool_dtype(dtype):
        return "number"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    if _label_column(dtype):
        return "label"
    return str(dtype)


def _merge_scans(a: dict, b: dict) -> dict:
    """Two parts' scans as one (a tree reduction's step)."""
    out = {"rows": a["rows"] + b["rows"], "dropped": a["dropped"] + b["dropped"], "values": {},
           "categories": dict(a["categories"]), "kinds": dict(a["kinds"]), "combos": {}}
    for col, kind in b["kinds"].items():
        if out["kinds"].get(col, kind) != kind:
            raise ValueError(f"column {col!r} holds {out['kinds'][col]} values in one part of the data and "
                             f"{kind} values in another; give it one type in every part (numbers everywhere, "
                             f"e.g. dd.to_numeric(ddf[{col!r}]), or labels everywhere)")
        out["kinds"][col] = kind
    for col, cats in b["categories"].items():
        if col in out["categories"] and out["categories"][col] != cats:
            raise ValueError(f"categorical column {col!r} has different categories in different parts of the "
                             "data, so its coding is ambiguous; give every part the same categories, e.g. "
                             f"ddf[{col!r}] = ddf[{col!r}].cat.set_categories([...])")
        out["categories"][col] = cats
    for col in set(a["values"]) | set(b["values"]):
        parts = [x["values"][col] for x in (a, b) if col in x["values"]]
        out["values"][col] = parts[0].append(parts[1]).unique() if len(parts) > 1 else parts[0]
    for cols in set(a["combos"]) | set(b["combos"]):
        parts = [x["combos"][cols] for x in (a, b) if cols in x["combos"]]
        out["combos"][cols] = pd.concat(parts).drop_duplicates() if len(parts) > 1 else parts[0]
    for key in ("negative_weights", "positive_weights"):
        if key in a or key in b:
            out[key] = bool(a.get(key, False) or b.get(key, False))
    return out


def tree_reduce(items: list, combine):
    """Pairwise reduction of Dask delayed ``items`` with ``combine`` (a balanced tree).

    Examples
    --------
    >>> import dask, operator
    >>> tree_reduce([dask.delayed(i) for i in range(5)], operator.add).compute()
    10
    """
    import dask

    combine_d = dask.delayed(combine, pure=True)
    while len(items) > 1:
        nxt = [combine_d(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
        if len(items) % 2:
            nxt.append(items[-1])
        items = nxt
    return items[0]


def _levels(values: np.ndarray, categories, col: str) -> pd.Index:
    """A factor's levels as the in-memory design orders them: a categorical's
    categories (the used ones, for a grouping factor), else sorted values."""
    if categories is not None:
        used = set(pd.Index(values).tolist())
        return pd.Index([c for c in categories if c in used])
    try:
        return pd.Index(values).sort_values()
    except TypeError:
        kinds = sorted({type(v).__name__ for v in values})
        raise ValueError(f"column {col!r} mixes values of types {', '.join(kinds)}, which have no common "
                         f"order; convert it to one type, e.g. ddf[{col!r}].astype(str)") from None


def learn_schema(ddf, parsed: ParsedFormula, weights=None, offset=None) -> Schema:
    """Pass 1 over the parts of ``ddf``: the columns, levels and row counts of a model.

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> from multilevel.formula import parse_formula
    >>> s = dd.from_pandas(ml.datasets.load("sleepstudy"), npartitions=3)
    >>> sch = learn_schema(s, parse_formula("Reaction ~ Days + (Days | Subject)"))
    >>> sch.n, sch.n_dropped, len(sch.groups[("Subject",)].labels), sch.part_rows
    (180, 0, 18, (60, 60, 60))
    """
    import dask

    for what, value in (("weights", weights), ("offset", offset)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{what}= on data in parts must be a column name, not {type(value).__name__} "
                            "(an array cannot be matched to the parts' rows)")
    _check_formula(parsed)
    meta = ddf._meta
    if "." in parsed.text and any(isinstance(c, str) and "." in c for c in meta.columns):
        parsed = replace(parsed, fixed=quote_dotted(parsed.fixed, meta),
                         response=quote_dotted(parsed.response, meta),
                         bars=tuple(replace(b, expr=quote_dotted(b.expr, meta)) for b in parsed.bars),
                         offsets=tuple(quote_dotted(o, meta) for o in parsed.offsets))
    used = _used_columns(parsed, meta)
    check_column_types(parsed, meta, used)
    response = parsed.response.strip("`")
    if response in meta.columns and not pd.api.types.is_numeric_dtype(meta[response].dtype):
        raise ValueError(f"the response {response!r} must be numeric, but it has dtype {meta[response].dtype}; "
                         "convert it, or use a GLMM for a categorical outcome")
    for what, value in (("weights", weights), ("offset", offset)):
        if value is not None:
            check_columns([value], meta, f"{what}=")
            if not pd.api.types.is_numeric_dtype(meta[value].dtype):
                raise TypeError(f"{what}= must be a numeric column, but {value!r} has dtype {meta[value].dtype}")
    columns = tuple(dict.fromkeys(used + [c for c in (weights, offset) if c is not None]))
    group_cols = {c for b in parsed.bars for c in b.group}
    factor_calls = {m.group(1) for piece in [parsed.fixed] + [b.expr for b in parsed.bars]
                    for m in _FACTOR_CALL.finditer(piece)}
    label_cols = tuple(c for c in columns if c != response and c not in (weights, offset) and (
        _label_column(meta[c].dtype) or c in group_cols or c in factor_calls))
    group_sets = tuple(dict.fromkeys(b.group for b in parsed.bars))
    parts = ddf[list(columns)].to_delayed()
    scan = dask.delayed(_scan_part, pure=True)
    scans = [scan(p, parsed, weights, offset, label_cols, group_sets) for p in parts]
    part_rows = dask.delayed(lambda *s: tuple(x["rows"] for x in s), pure=True)(*scans)
    total, rows = dask.compute(tree_reduce(scans, _merge_scans), part_rows)
    if total["rows"] == 0:
        raise ValueError("no complete rows: every row has a missing value in one of " + ", ".join(columns))
    if total.get("negative_weights"):
        raise ValueError("weights must be non-negative")
    if "positive_weights" in total and not total["positive_weights"]:
        raise ValueError("all weights are zero")
    categories: dict = {}
    factor_levels: dict = {}
    predictors = _predictor_columns(parsed, meta)
    for col in label_cols:
        cats = total["categories"].get(col)
        if cats is None and isinstance(meta[col].dtype, pd.CategoricalDtype) and meta[col].cat.known:
            cats = tuple(meta[col].cat.categories)
        values = total["values"][col]
        if col in predictors or col in factor_calls:
            kind = total["kinds"].get(col)   # (what the parts hold: the first file may be all null)
            if kind in ("label", "categorical") or (kind is None and _label_column(meta[col].dtype)):
                # a factor: an ordered categorical keeps every category (an occasion no row has keeps
                # its place), an unordered one its used categories (as R's model frames and the
                # in-memory design drop unused levels), labels their sorted values
                ordered = isinstance(meta[col].dtype, pd.CategoricalDtype) and bool(meta[col].dtype.ordered)
                categories[col] = pd.Index(cats) if cats is not None and ordered else _levels(values, cats, col)
            elif col in factor_calls:  # C(x) of numbers: x stays a number, C(x)'s levels are learned
                factor_levels[col] = _levels(values, None, col)
        else:
            categories[col] = _levels(values, cats, col)  # a grouping column only: its used levels
    _check_levels(parsed, meta, categories, total["values"])
    groups = {}
    for cols in group_sets:
        col_levels = tuple(_levels(total["values"][c], total["categories"].get(c), c) if c in total["values"]
                           else categories[c] for c in cols)
        if len(cols) == 1:
            groups[cols] = GroupLevels(cols, col_levels, np.arange(len(col_levels[0])), col_levels[0])
            continue
        combos = total["combos"][cols]
        key = np.zeros(len(combos), dtype=np.int64)
        for c, lev in zip(cols, col_levels):
            key = key * len(lev) + pd.Categorical(combos[c], categories=lev).codes.astype(np.int64)
        keys = np.unique(key)
        labels, rem = [], keys.copy()
        idx = []
        for lev in reversed(col_levels):
            idx.insert(0, rem % len(lev))
            rem = rem // len(lev)
        for j in range(len(keys)):
            labels.append(":".join(str(col_levels[i][idx[i][j]]) for i in range(len(cols))))
        groups[cols] = GroupLevels(cols, col_levels, keys, pd.Index(labels))
    return Schema(parsed=parsed, columns=columns, weights=weights, offset=offset, categories=categories,
                  groups=groups, n=total["rows"], n_dropped=total["dropped"], part_rows=tuple(rows),
                  factor_levels=factor_levels)


def _check_levels(parsed: ParsedFormula, meta: pd.DataFrame, categories: dict, values: dict) -> None:
    """The in-memory design's checks of the fixed part, on the whole data: the
    response among the predictors, a factor with one level in the rows used."""
    from .data import identifiers

    check_response_not_predictor(parsed, meta.columns)
    for col in dict.fromkeys(identifiers(parsed.fixed)):
        if col in categories and col in values and len(values[col]) < 2:
            raise ValueError(f"column {col!r} has one level ({values[col][0]!r}) in the rows used: as a factor it "
                             "has no contrast to estimate; remove it from the formula")


def learn_specs(frame: pd.DataFrame, schema: Schema) -> tuple | None:
    """formulaic's specs of the fixed part and of each bar, learned from ``frame``
    (a part's used rows) with rows added so that every ``C(x)`` sees all its
    levels; None where no part goes through a learned ``C(x)``.

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> from multilevel.formula import parse_formula
    >>> s = ml.datasets.load("sleepstudy")
    >>> sch = learn_schema(dd.from_pandas(s, npartitions=2), parse_formula("Reaction ~ C(Days) + (1 | Subject)"))
    >>> specs = learn_specs(prepare_part(s.iloc[:3], sch)[0], sch)
    >>> len(specs[0].rhs.get_model_matrix(s.iloc[:2]).columns)   # the intercept and nine days
    10
    """
    if not schema.factor_levels or len(frame) == 0:
        return None
    full = with_all_levels(frame, schema)
    parsed = schema.parsed
    fixed = None if simple_spec(parsed.fixed, full) is not None else \
        _formulaic(parsed.fixed_formula, full, "fixed-effects model matrix").model_spec
    bars = tuple(None if simple_spec(b.expr, full) is not None else
                 _formulaic(b.expr, full, f"random-effects matrix of ({b.expr} | {b.group_name})").model_spec
                 for b in parsed.bars)
    return fixed, bars


def with_all_levels(frame: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """``frame`` (used rows of a part, not empty) with a copy of its first row for each
    level of a ``C(x)`` of a numeric column that it lacks: rows that hold every level
    of the whole data, to learn encodings and check occasions from.

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> from multilevel.formula import parse_formula
    >>> s = ml.datasets.load("sleepstudy")
    >>> sch = learn_schema(dd.from_pandas(s, npartitions=2), parse_formula("Reaction ~ C(Days) + (1 | Subject)"))
    >>> sorted(with_all_levels(prepare_part(s.iloc[:3], sch)[0], sch)["Days"].tolist())
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    """
    extra = []
    for col, levels in schema.factor_levels.items():
        missing = [v for v in levels if v not in set(frame[col].tolist())]
        if missing:
            rows = frame.iloc[[0] * len(missing)].copy()
            rows[col] = pd.Series(list(missing), index=rows.index, dtype=levels.dtype)
            extra.append(rows)
    return pd.concat([frame, *extra]) if extra else frame


def _predictor_columns(parsed, meta) -> set:
    from .data import identifiers

    out = set()
    for piece in [parsed.fixed] + [b.expr for b in parsed.bars]:
        out.update(i for i in identifiers(piece) if i in meta.columns)
    return out


def prepare_part(pdf: pd.DataFrame, schema: Schema, positions: bool = False):
    """The used rows of one part with the factors coded as categoricals of the
    whole data's categories; with the part's weights and offset on those rows
    (and, with ``positions``, the rows' positions in the part)."""
    mask, w, off = _mask(pdf[list(schema.columns)], (schema.parsed, schema.weights, schema.offset))
    sub = pdf.loc[mask, list(schema.columns)] if not mask.all() else pdf[list(schema.columns)]
    sub = sub.copy()
    for col, cats in schema.categories.items():
        s = sub[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            sub[col] = s.cat.set_categories(cats)
        else:
            sub[col] = pd.Categorical(s.to_numpy(), categories=cats)
    out = sub, (None if w is None else w[mask]), (None if off is None else off[mask])
    return out + (np.nonzero(mask)[0],) if positions else out


def _matrix(rhs_formula: str, rhs: str, frame: pd.DataFrame, what: str):
    spec = simple_spec(rhs, frame)
    if spec is not None:
        return spec.matrix(frame), list(spec.names), spec
    mm = _formulaic(rhs_formula, frame, what)
    return np.asarray(mm, dtype=float), list(mm.columns), mm.model_spec


def part_design(frame: pd.DataFrame, w, off, schema: Schema, occasions: bool = False) -> Design:
    """The design of one part's used rows (from :func:`prepare_part`) with the
    whole data's levels, every fixed-effects column kept (which to drop is
    decided on the whole data). ``occasions``: check the occasions of ``ar1``
    terms (on rows holding every level, :func:`with_all_levels`; a part may
    lack some).

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> from multilevel.formula import parse_formula
    >>> s = ml.datasets.load("sleepstudy")
    >>> sch = learn_schema(dd.from_pandas(s, npartitions=2), parse_formula("Reaction ~ Days + (Days | Subject)"))
    >>> d = part_design(*prepare_part(s.iloc[170:], sch), sch)
    >>> d.n, d.terms[0].nlevels, d.terms[0].codes[:2].tolist()
    (10, 18, [17, 17])
    """
    parsed = schema.parsed
    response = parsed.response.strip("`")
    fixed_spec, bar_specs = schema.specs if schema.specs is not None else (None, (None,) * len(parsed.bars))
    if fixed_spec is not None:
        mm = fixed_spec.get_model_matrix(frame, na_action="raise")
        y = np.array(mm.lhs, dtype=float).ravel()
        X_all, x_columns, rhs_spec = np.asarray(mm.rhs, dtype=float), list(mm.rhs.columns), mm.rhs.model_spec
    elif response in frame.columns and simple_spec(parsed.fixed, frame) is not None:
        y = frame[response].to_numpy(dtype=float)
        X_all, x_columns, rhs_spec = _matrix(parsed.fixed_formula, parsed.fixed, frame, "")
    else:
        mm = _formulaic(parsed.fixed_formula, frame, "fixed-effects model matrix")
        if mm.lhs.shape[1] != 1:
            raise ValueError(f"the response {parsed.response!r} must be one numeric column, but it expands to "
                             f"{mm.lhs.shape[1]} columns (is it a factor?)")
        y = np.array(mm.lhs, dtype=float).ravel()
        X_all, x_columns, rhs_spec = np.asarray(mm.rhs, dtype=float), list(mm.rhs.columns), mm.rhs.model_spec
    if not np.all(np.isfinite(y)):
        raise ValueError(f"the response {parsed.response!r} has non-finite values after transformation")
    _check_finite(X_all, x_columns, "fixed-effects")
    names = tuple(lme4_names(x_columns, parsed.fixed))
    fixed = FixedDesign(X=X_all, names=names, spec=rhs_spec, all_names=names, dropped=())
    terms: list[RandomTerm] = []
    counts: dict[str, int] = {}
    for bar, bspec in zip(parsed.bars, bar_specs):
        if bspec is not None:
            zm = bspec.get_model_matrix(frame, na_action="raise")
            Z, z_columns, zspec = np.asarray(zm, dtype=float), list(zm.columns), bspec
        else:
            Z, z_columns, zspec = _matrix(bar.expr, bar.expr, frame,
                                          f"random-effects matrix of ({bar.expr} | {bar.group_name})")
        _check_finite(Z, z_columns, f"random-effects term ({bar.expr} | {bar.group_name})")
        if Z.shape[1] == 0:
            raise ValueError(f"random-effects term ({bar.expr} | {bar.group_name}) has no columns; "
                             f"write (1 | {bar.group_name}) for a random intercept")
        znames = lme4_names(z_columns, bar.expr)
        gl = schema.groups[bar.group]
        codes = gl.codes(frame)
        struct = None
        if bar.structure != "us":
            from .structure import check_occasions, structure

            struct = structure(bar.structure, Z.shape[1], bar.group_name)
            if bar.structure == "ar1" and occasions:
                check_occasions(bar, frame, Z)
        pieces = [tuple(range(Z.shape[1]))] if bar.correlated else [(j,) for j in range(Z.shape[1])]
        for idx in pieces:
            c = counts.get(bar.group_name, 0)
            counts[bar.group_name] = c + 1
            terms.append(RandomTerm(
                group=bar.group_name, label=bar.group_name if c == 0 else f"{bar.group_name}.{c}",
                columns=tuple(znames[j] for j in idx), Z=np.ascontiguousarray(Z[:, list(idx)]),
                codes=codes, levels=gl.labels, spec=zspec, group_columns=bar.group,
                column_index=None if bar.correlated else idx, structure=struct))
    order = sorted(range(len(terms)), key=lambda i: -terms[i].nlevels)
    terms = [terms[i] for i in order]
    n = len(y)
    return Design(formula=parsed, y=y, fixed=fixed, terms=tuple(terms), weights=w, offset=off,
                  rows=np.arange(n), n_dropped=0, response_name=parsed.response,
                  data_index=frame.index, data=None, offset_argument=schema.offset is not None)
