"""The full design: response, fixed and random parts, weights, offset, rows kept."""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix

from ..formula import FormulaError, ParsedFormula, parse_formula
from ..formula.parse import factor_response
from .data import (as_dataframe, as_vector, check_columns, column_array, complete_rows, identifiers,
                   plain_label, plain_number)
from .fixed import FixedDesign, build_fixed
from .names import lme4_names
from .random import RandomTerm, group_codes
from .simple import simple_spec

__all__ = ["Design", "build_design", "formula_offset"]

_NOT_COLUMNS = {"np", "numpy", "C", "I", "log", "exp", "sqrt", "center", "scale", "poly",
                "bs", "cr", "cc", "te", "hashed", "lag", "contr", "Treatment", "Sum",
                "Helmert", "Diff", "Poly", "levels", "reference", "T", "S"}


@dataclass(frozen=True)
class Design:
    """Everything an estimation route needs, as numbers.

    Attributes
    ----------
    formula : ParsedFormula
    y : ndarray (n,)
        Response (offset not subtracted).
    fixed : FixedDesign
    terms : tuple of RandomTerm
        Ordered by decreasing number of levels (stable), as lme4 orders them.
    weights : ndarray (n,) or None
    offset : ndarray (n,) or None
    rows : ndarray of int
        Positions, in the caller's data, of the rows used.
    n_dropped : int
        Rows dropped for missing values.
    response_name : str
    data_index : pandas.Index
        Index labels, in the caller's data, of the rows used.
    data : DataFrame
        The rows used (kept for refits and for contrasts that need the
        original variables; a reference when no row was dropped).
    offset_argument : bool
        Whether part of ``offset`` came from the ``offset=`` argument (the rest
        from ``offset(...)`` terms of the formula, which predict evaluates on
        new data by itself).
    dispersion : DispersionModel or None
        A model of the residual variance (``dispformula``,
        :mod:`multilevel.design.dispersion`); ``weights`` then holds its
        weights at the fitted coefficients, and a refit estimates them again
        from its prior weights.
    residual : ResidualCorrelation or None
        Correlated residuals within groups (``residual=``,
        :mod:`multilevel.design.correlation`), with the fitted correlation.

    Examples
    --------
    >>> import multilevel as ml
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> d.n, d.X.shape, d.p, d.ntheta
    (180, (180, 2), 2, 3)
    """

    formula: ParsedFormula
    y: np.ndarray
    fixed: FixedDesign
    terms: tuple[RandomTerm, ...]
    weights: np.ndarray | None
    offset: np.ndarray | None
    rows: np.ndarray
    n_dropped: int
    response_name: str
    data_index: pd.Index
    data: pd.DataFrame | None = None
    offset_argument: bool = False
    dispersion: object = None
    residual: object = None

    @property
    def n(self) -> int:
        """Number of observations used."""
        return self.y.shape[0]

    @property
    def X(self) -> np.ndarray:
        """Fixed-effects model matrix."""
        return self.fixed.X

    @property
    def p(self) -> int:
        """Number of fixed effects."""
        return self.fixed.X.shape[1]

    @property
    def ngroups(self) -> dict[str, int]:
        """Number of levels of each grouping factor, in term order."""
        out: dict[str, int] = {}
        for t in self.terms:
            out.setdefault(t.group, t.nlevels)
        return out

    def group_sizes(self) -> pd.DataFrame:
        """Rows per level of each grouping factor: levels, min, median, mean and max.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.design.group_sizes().loc["Subject"].tolist()
        [18.0, 10.0, 10.0, 10.0, 10.0]
        """
        rows = {}
        for t in self.terms:
            if t.group in rows:
                continue
            if getattr(t, "codes", None) is None or len(t.codes) == 0:
                raise ValueError(f"the group sizes of {t.group!r} need the fitted rows, "
                                 "which a fit on data in parts does not keep")
            counts = np.bincount(t.codes, minlength=t.nlevels)
            counts = counts[counts > 0]
            rows[t.group] = [t.nlevels, counts.min(), np.median(counts), counts.mean(), counts.max()]
        return pd.DataFrame.from_dict(rows, orient="index", dtype=float,
                                      columns=["levels", "min", "median", "mean", "max"])

    @property
    def ntheta(self) -> int:
        """Number of covariance parameters."""
        return sum(t.ntheta for t in self.terms)


#: fitted formulaic specs of fixed parts and random-effects terms, keyed by the formula and the used
#: columns' types and levels: a refit (a bootstrap, a simulation, the same model on new data of the
#: same kind) builds its matrices from the spec's recorded structure
#: (:mod:`multilevel.design.spec_matrix`), without formulaic's materialiser (about 4 ms for
#: ``age * Sex``, 2 ms for ``0 + Machine``)
_SPECS: dict = {}
_SPECS_MAX = 64


def _column_key(s: pd.Series) -> tuple:
    """What formulaic's coding of a column depends on: its kind, and a factor's levels."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return ("category", tuple(dtype.categories.tolist()), bool(dtype.ordered), str(dtype.categories.dtype))
    if pd.api.types.is_bool_dtype(dtype):
        return ("bool",)
    if pd.api.types.is_numeric_dtype(dtype):
        return ("numeric",)
    values = pd.unique(s.to_numpy())
    try:
        levels = tuple(sorted(values.tolist()))
    except TypeError:  # (mixed types: formulaic's own order is not known here)
        return ("unordered", id(s))
    return ("levels", str(dtype), levels)


def _spec_key(formula: str, sub: pd.DataFrame, used) -> tuple | None:
    """The cache key of a formula's matrix: the formula and the codings of the columns it names
    (not the grouping factors', whose many levels would only make the key costly)."""
    named = set(identifiers(formula))
    try:
        return (formula,) + tuple((c, _column_key(sub[c])) for c in used if c in sub.columns and c in named)
    except (TypeError, ValueError):
        return None


def _cached_matrix(key: tuple | None, sub: pd.DataFrame):
    """``(matrix, spec)`` from a remembered spec of the same formula and column codings, or None."""
    spec = _SPECS.get(key) if key is not None and _SPECS else None
    if spec is None:
        return None
    from .spec_matrix import spec_matrix

    M = spec_matrix(spec, sub)
    return None if M is None else (M, spec)


def _remember(key: tuple | None, sub: pd.DataFrame, spec, M) -> None:
    """Keep ``spec`` for :func:`_cached_matrix` where it rebuilds ``M`` exactly from ``sub``."""
    from .spec_matrix import spec_matrix

    if key is None or key in _SPECS or any(k == "unordered" for _, (k, *_) in key[1:]):
        return
    again = spec_matrix(spec, sub)
    if again is None or again.shape != M.shape or not np.array_equal(again, M):
        return
    if len(_SPECS) >= _SPECS_MAX:
        try:  # (the oldest out; another thread may be at the same)
            _SPECS.pop(next(iter(_SPECS)), None)
        except (RuntimeError, StopIteration):
            pass
    _SPECS[key] = spec


def term_variables(parsed, response: bool = True) -> set[str]:
    """The names the formula's terms read as variables: the fixed part (and the response), the
    random-effects terms' columns and the offsets, not the grouping factors after the bars.

    Examples
    --------
    >>> sorted(term_variables(parse_formula("y ~ x + log(z) + (0 + x | g) + offset(o)"), response=False))
    ['log', 'o', 'x', 'z']
    """
    pieces = [parsed.fixed_formula if response else parsed.fixed] + [b.expr for b in parsed.bars]
    named: set[str] = set()
    for piece in pieces + list(parsed.offsets):
        named.update(identifiers(piece))
    return named


def _group_only(parsed) -> set[str]:
    """The columns that the formula uses only as grouping factors (their values are ids, read
    as labels: never widened or converted to numbers)."""
    groups = {c for b in parsed.bars for c in b.group}
    return groups - term_variables(parsed) if groups else set()


def _plain_columns(sub: pd.DataFrame, used, ids=frozenset()) -> pd.DataFrame:
    """``sub`` with the used columns as formulaic codes them alike: numbers as
    :func:`~multilevel.design.data.plain_number` gives them (not the columns ``ids``, used only
    as grouping factors), labels as
    :func:`~multilevel.design.data.plain_label` gives them, and an unordered categorical column's unused
    categories dropped (as R's model frames drop unused levels: an unused reference level, or a
    category no row has, would otherwise add a column of zeros to a random-effects term); an
    ordered one keeps them (an occasion no row has keeps its place in an AR(1)).

    Examples
    --------
    >>> df = pd.DataFrame({"g": pd.array(["10", "20"], dtype="string"),
    ...                    "f": pd.Categorical(["a", "a"], categories=["a", "b"])})
    >>> out = _plain_columns(df, ["g", "f"])
    >>> out["g"].dtype == object, list(out["f"].cat.categories)
    (True, ['a'])
    """
    fix = {}
    dtypes = sub.dtypes
    for c in used:
        if c not in sub.columns:
            continue
        dtype = dtypes[c]
        if isinstance(dtype, np.dtype) and (dtype.kind in "biuf" or dtype == object):
            plain = dtype.kind == "b" or dtype == np.float64 or dtype == np.int64 or c in ids
            number = None if plain else plain_number(sub[c])
            if number is not None:
                fix[c] = number
            if dtype.kind in "biuf" or number is not None:
                continue  # (a plain numeric column: nothing more to do)
        label = None if isinstance(dtype, pd.CategoricalDtype) else plain_label(sub[c])
        if label is not None:
            fix[c] = label
            dtype = label.dtype
        if isinstance(dtype, pd.CategoricalDtype) and len(dtype.categories) > 0 and not dtype.ordered:
            codes = np.asarray((column_array(sub, c) if label is None else label.array).codes)
            if not np.all(np.bincount(codes[codes >= 0], minlength=len(dtype.categories))):
                fix[c] = (sub[c] if label is None else label).cat.remove_unused_categories()
    if not fix:
        return sub
    sub = sub.copy()
    for c, v in fix.items():
        sub[c] = v
    return sub


def _formulaic(formula: str, data: pd.DataFrame, what: str):
    try:
        return model_matrix(formula, data, na_action="raise")
    except FormulaError:
        raise
    except Exception as exc:  # formulaic raises many types; give one line
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot build the {what} from {formula!r}: {msg}") from None


_MARK = re.compile(r"\u29db(?:\x1b\[[0-9;]*m)?(.*?)(?:\x1b\[[0-9;]*m)?\u29da")


def _syntax_error(text: str, piece: str, exc: Exception) -> FormulaError:
    """One-line error for a formulaic parse failure, with the position in ``text``."""
    full = str(exc).strip()
    msg = full.splitlines()[0] if full else type(exc).__name__
    m = _MARK.search(full)
    if m:
        token = m.group(1)
        marked_line = full.splitlines()[-1]
        local = marked_line.find("\u29db")
        at_end = not marked_line[local:].replace(m.group(0), "").strip()
        pos = (text.rfind(token) if at_end else text.find(token)) if token else -1
        if pos < 0:
            pos = local
        return FormulaError(
            f"formula syntax error at character {pos + 1} of {text!r}: {msg.rstrip('.')} near {token!r}"
        )
    return FormulaError(f"cannot read formula part {piece!r} of {text!r}: {msg}")


def _check_finite(arr: np.ndarray, columns, what: str) -> None:
    """One-line error for infinite or undefined values made by a transformation."""
    bad = ~np.isfinite(arr)
    if bad.any():
        col = str(list(columns)[int(np.nonzero(bad.any(axis=0))[0][0])])
        raise ValueError(
            f"the {what} column {col!r} has {int(bad.any(axis=1).sum())} infinite or undefined "
            "value(s) (a transformation such as log(0)?); remove those rows or change the transformation"
        )


def _shown_response(parsed) -> str:
    """The response as the user wrote it: a response the GLMM route rewrote
    (``cbind(...)``, a factor) is named by the formula's left-hand side.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from multilevel.formula import parse_formula
    >>> _shown_response(replace(parse_formula("cbind(k, n - k) ~ x"), response="__response__"))
    'cbind(k, n - k)'
    """
    return parsed.text.split("~", 1)[0].strip() if parsed.response.startswith("__") else parsed.response


def quote_dotted(text: str, data: pd.DataFrame) -> str:
    """Backtick R-style dotted column names (``Days.x``) so formulaic reads them
    as one variable, not as an attribute."""
    dotted = sorted((c for c in data.columns if isinstance(c, str) and "." in c), key=len, reverse=True)
    for name in dotted:
        text = re.sub(r"(?<![`\w.])" + re.escape(name) + r"(?![\w.`])", f"`{name}`", text)
    return text


@functools.lru_cache(maxsize=256)
def _required_variables(piece: str) -> frozenset:
    """formulaic's variables of a formula piece (parsed once per text)."""
    return frozenset(Formula(piece).required_variables)


def _used_columns(parsed: ParsedFormula, data: pd.DataFrame, specs: dict | None = None) -> list[str]:
    """Data columns a formula uses, checking that every variable exists; the
    simple specs found on the way are kept in ``specs`` (by right-hand side)."""
    needed: list[str] = []
    specs = {} if specs is None else specs
    pieces = [parsed.fixed_formula] + [b.expr for b in parsed.bars] + [f"I({o})" for o in parsed.offsets]
    for piece in pieces:
        rhs = piece.split("~", 1)[-1]
        spec = specs[rhs.strip()] = simple_spec(rhs, data)
        if spec is not None:
            lhs = piece.split("~", 1)[0].strip() if "~" in piece else None
            if lhs is not None and lhs not in data.columns and simple_spec(lhs, data) is None:
                pass  # a transformed response: let formulaic read it below
            else:
                if lhs is not None:
                    check_columns([lhs], data, f"formula {parsed.text!r} (the response)")
                needed.extend(([lhs] if lhs else []) + [i for i in identifiers(rhs) if i in data.columns])
                continue
        try:
            req = _required_variables(piece)
        except Exception as exc:
            raise _syntax_error(parsed.text, piece, exc) from None
        idents = identifiers(piece)
        for name in sorted(req, key=lambda v: idents.index(v) if v in idents else len(idents)):
            if name in _NOT_COLUMNS and name not in data.columns:
                continue
            if name not in data.columns:
                # formulaic reports `a.b` as the variable 'a': accept quoted dotted columns
                dotted = [c for c in data.columns
                          if isinstance(c, str) and c.startswith(name + ".") and f"`{c}`" in piece]
                if dotted:
                    needed.extend(dotted)
                    continue
            check_columns([name], data, f"formula {parsed.text!r}")
            needed.append(name)
        needed.extend(i for i in idents if i in data.columns)
    for bar in parsed.bars:
        check_columns(bar.group, data, f"the grouping factor of formula {parsed.text!r}")
        needed.extend(bar.group)
    return list(dict.fromkeys(needed))


def check_column_types(parsed: ParsedFormula, data: pd.DataFrame, used: list[str]) -> None:
    """One-line errors for columns a model cannot use as numbers: dates, times and
    durations (fine as grouping factors), complex numbers.

    Examples
    --------
    >>> import pandas as pd
    >>> from multilevel.formula import parse_formula
    >>> df = pd.DataFrame({"y": [1.0, 2.0], "t": pd.to_datetime(["2020-01-01", "2020-02-01"])})
    >>> check_column_types(parse_formula("y ~ t + (1 | g)"), df, ["y", "t"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: column 't' holds dates (datetime64[...]); a model needs numbers: convert it, e.g. to days ...
    """
    # each used column's dtype from its array (a Series per column, or the frame's
    # dtypes, costs tens of microseconds)
    dtypes = {c: column_array(data, c).dtype for c in used}
    if not any(dt.kind in "cmM" or isinstance(dt, pd.PeriodDtype) for dt in dtypes.values()):
        return  # no complex numbers, dates or durations: nothing to check
    for col, dtype in dtypes.items():
        if pd.api.types.is_complex_dtype(dtype):
            raise ValueError(f"column {col!r} holds complex numbers; a model needs real numbers")
    groups = {c for b in parsed.bars for c in b.group}
    in_terms = term_variables(parsed)
    for col, dtype in dtypes.items():
        if col in groups and col not in in_terms:
            continue
        if pd.api.types.is_datetime64_any_dtype(dtype) or isinstance(dtype, pd.PeriodDtype):
            raise ValueError(
                f"column {col!r} holds dates ({dtype}); a model needs numbers: convert it, e.g. to days "
                f"since a start, (data[{col!r}] - data[{col!r}].min()).dt.days, or to a year, "
                f"data[{col!r}].dt.year"
            )
        if pd.api.types.is_timedelta64_dtype(dtype):
            raise ValueError(
                f"column {col!r} holds durations ({dtype}); a model needs numbers: convert it, e.g. to "
                f"days, data[{col!r}].dt.total_seconds() / 86400"
            )


def check_response_not_predictor(parsed: ParsedFormula, columns) -> None:
    """Refuse a response that is also a predictor (a data column named in both sides).

    Examples
    --------
    >>> from multilevel.formula import parse_formula
    >>> check_response_not_predictor(parse_formula("y ~ x + y + (1 | g)"), ["y", "x", "g"])
    Traceback (most recent call last):
    ...
    ValueError: the response 'y' is also a predictor in formula 'y ~ x + y + (1 | g)'; remove it from the right-hand side
    """
    response = parsed.response.strip("`")
    in_fixed = identifiers(parsed.fixed)
    in_bars = [i for b in parsed.bars for i in identifiers(b.expr)]
    if response in columns and (response in in_fixed or response in in_bars):
        raise ValueError(f"the response {response!r} is also a predictor in formula {parsed.text!r}; "
                         "remove it from the right-hand side")


def _check_terms(parsed: ParsedFormula, data: pd.DataFrame, used: list[str]) -> None:
    """One-line errors for terms that cannot be estimated: the response among the
    predictors, complex numbers, a factor with one level in the rows used."""
    response = parsed.response.strip("`")
    in_fixed = identifiers(parsed.fixed)
    check_response_not_predictor(parsed, data.columns)
    for col in dict.fromkeys(in_fixed):
        if col not in data.columns or col in (response,):
            continue
        dtype = column_array(data, col).dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "fiub":
            continue  # a number: no levels to count
        s = data[col]
        categorical = isinstance(s.dtype, pd.CategoricalDtype) or pd.api.types.is_object_dtype(s.dtype) \
            or pd.api.types.is_string_dtype(s.dtype)
        try:
            levels = s.nunique(dropna=True) if categorical else 2
        except TypeError:
            raise ValueError(f"column {col!r} holds values that are neither numbers nor labels (e.g. "
                             f"{type(s.dropna().iloc[0]).__name__}); convert it") from None
        if levels < 2:
            value = s.dropna().iloc[0] if s.notna().any() else None
            raise ValueError(f"column {col!r} has one level ({value!r}) in the rows used: as a factor it has no "
                             "contrast to estimate; remove it from the formula")


def formula_offset(parsed: ParsedFormula, data: pd.DataFrame) -> np.ndarray | None:
    """The sum of a formula's ``offset(...)`` terms on ``data`` (NaN where a value is
    missing), or None without such terms.

    Examples
    --------
    >>> import pandas as pd
    >>> from multilevel.formula import parse_formula
    >>> df = pd.DataFrame({"n": [1.0, 10.0], "x": [0.0, 1.0]})
    >>> formula_offset(parse_formula("y ~ x + offset(log(n)) + (1 | g)"), df).round(4).tolist()
    [0.0, 2.3026]
    """
    if not parsed.offsets:
        return None
    total = np.zeros(len(data))
    for expr in parsed.offsets:
        try:
            mm = model_matrix(f"0 + I({expr})", data, na_action="ignore")
            values = np.asarray(mm, dtype=float)
        except Exception as exc:  # formulaic raises many types; give one line
            msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"cannot evaluate offset({expr}) on the data: {msg}; the offset must be "
                             "a numeric expression of the data's columns") from None
        if values.shape != (len(data), 1):
            raise ValueError(f"offset({expr}) must give one number per row, not {values.shape[1]} columns "
                             "(is it a factor?)")
        total = total + values[:, 0]
    return total


def build_design(formula, data, weights=None, offset=None, observation_level: bool = False) -> Design:
    """Parse a formula and materialise its design on ``data``.

    Parameters
    ----------
    formula : str or ParsedFormula
        lme4 formula, e.g. ``"Reaction ~ Days + (Days | Subject)"``.
    data : DataFrame
        pandas or polars data frame.
    weights, offset : str or array-like, optional
        Prior weights and an offset: a column name or one value per row.
    observation_level : bool, default False
        Allow a grouping factor with one level per observation (an
        observation-level random effect, meaningful in a GLMM; in a linear
        model it cannot be told apart from the residual).

    Returns
    -------
    Design

    Examples
    --------
    >>> import multilevel as ml
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> d.n, d.p, [t.group for t in d.terms], d.terms[0].columns
    (180, 2, ['Subject'], ('(Intercept)', 'Days'))
    """
    parsed = formula if isinstance(formula, ParsedFormula) else parse_formula(formula)
    data = as_dataframe(data)
    # a formula without a dot names no dotted column (and scanning the columns costs)
    if "." in parsed.text and any(isinstance(c, str) and "." in c for c in data.columns):
        parsed = replace(
            parsed, fixed=quote_dotted(parsed.fixed, data),
            response=quote_dotted(parsed.response, data),
            bars=tuple(replace(b, expr=quote_dotted(b.expr, data)) for b in parsed.bars),
            offsets=tuple(quote_dotted(o, data) for o in parsed.offsets),
        )
    if len(data) == 0:
        raise ValueError("data has no rows")
    factor_of = factor_response(parsed.response)
    if factor_of is not None:
        check_columns([factor_of], data, f"formula {parsed.text!r}")
        raise ValueError(f"the response {parsed.response} of {parsed.text!r} is a factor, and this model needs "
                         f"a numeric response: give {factor_of!r} as numbers, or fit the factor with "
                         "family='binomial' (ml.glmer, or ml.glm without random effects: its first level is "
                         "failure, the others success) or with ml.clmm (ordered levels)")
    specs: dict = {}
    used = _used_columns(parsed, data, specs)
    check_column_types(parsed, data, used)
    w = as_vector(weights, data, "weights")
    off = as_vector(offset, data, "offset")
    in_formula = formula_offset(parsed, data)
    offset_argument = off is not None
    if in_formula is not None:
        off = in_formula if off is None else off + in_formula
    mask = complete_rows(data, used, {"weights": w, "offset": off})
    n_dropped = int((~mask).sum())
    if not mask.any():
        raise ValueError(
            "no complete rows: every row has a missing value in one of "
            + ", ".join(_shown_response(parsed) if c == parsed.response else c for c in used)
        )
    rows = np.nonzero(mask)[0]
    sub = data.iloc[rows] if n_dropped else data
    sub = _plain_columns(sub, used, _group_only(parsed))
    if w is not None:
        w = w[rows]
        if np.any(w < 0):
            raise ValueError("weights must be non-negative")
        if not np.any(w > 0):
            raise ValueError("all weights are zero")
    if off is not None:
        off = off[rows]

    _check_terms(parsed, sub, used)
    def simple(rhs: str):
        # the spec found on all the rows holds where no row was dropped (a factor's
        # levels come from the rows used)
        key = rhs.strip()
        return specs[key] if sub is data and key in specs else simple_spec(rhs, sub)

    fast = simple(parsed.fixed)
    fixed_key = _spec_key(parsed.fixed_formula, sub, used) if parsed.response in sub.columns else None
    cached = None if fast is not None else _cached_matrix(fixed_key, sub)
    if fast is not None and parsed.response in sub.columns:
        lhs = np.asarray(column_array(sub, parsed.response))[:, None]
        X_all, x_columns, rhs_spec = fast.matrix(sub), fast.names, fast
    elif cached is not None:
        lhs = np.asarray(column_array(sub, parsed.response))[:, None]
        X_all, rhs_spec = cached
        x_columns = list(rhs_spec.column_names)
    else:
        mm = _formulaic(parsed.fixed_formula, sub, "fixed-effects model matrix")
        lhs = mm.lhs
        X_all, x_columns, rhs_spec = np.asarray(mm.rhs, dtype=float), list(mm.rhs.columns), mm.rhs.model_spec
        _remember(fixed_key, sub, rhs_spec, X_all)
    if lhs.shape[1] != 1:
        raise ValueError(
            f"the response {parsed.response!r} must be one numeric column, but it expands to "
            f"{lhs.shape[1]} columns (is it a factor?)"
        )
    if parsed.response in data.columns and \
            not pd.api.types.is_numeric_dtype(column_array(sub if parsed.response in sub.columns else data,
                                                           parsed.response).dtype):
        response_dtype = column_array(data, parsed.response).dtype  # (as the caller gave it)
        raise ValueError(
            f"the response {parsed.response!r} must be numeric, but it has dtype "
            f"{response_dtype}; convert it, or use a GLMM for a categorical outcome"
        )
    y = np.array(lhs, dtype=float).ravel()  # a copy: never a view of the caller's column
    shown = _shown_response(parsed)
    if not np.all(np.isfinite(y)):
        raise ValueError(f"the response {shown!r} has non-finite values after transformation")
    # rows of weight 0 are not data (as in R's lm): the response must vary, and the fixed effects
    # be identified, over the others
    data_rows = None if w is None or np.all(w > 0) else w > 0
    y_data = y if data_rows is None else y[data_rows]
    if np.ptp(y_data) == 0:
        raise ValueError(
            f"the response {shown!r} is constant ({y_data[0]:g})"
            + ("" if data_rows is None else " over the rows of positive weight")
            + ": there is no variation to model"
        )
    _check_finite(X_all, x_columns, "fixed-effects")
    all_names = lme4_names(x_columns, parsed.fixed)
    if data_rows is None:
        X, names, dropped = build_fixed(X_all, all_names)
    else:
        _, names, dropped = build_fixed(X_all[data_rows], all_names)
        X = np.ascontiguousarray(X_all[:, [list(all_names).index(nm) for nm in names]])
    if dropped:
        warnings.warn(
            f"fixed-effect model matrix is rank deficient so dropping {len(dropped)} "
            f"column{'s' if len(dropped) > 1 else ''}: {', '.join(dropped)}",
            stacklevel=3,
        )
    fixed = FixedDesign(X=X, names=names, spec=rhs_spec, all_names=tuple(all_names), dropped=dropped)

    n = len(y)
    terms: list[RandomTerm] = []
    counts: dict[str, int] = {}
    for bar in parsed.bars:
        zfast = simple(bar.expr)
        zkey = None if zfast is not None else _spec_key(bar.expr, sub, used)
        zcached = None if zfast is not None else _cached_matrix(zkey, sub)
        if zfast is not None:
            Z, z_columns, zspec = zfast.matrix(sub), zfast.names, zfast
        elif zcached is not None:
            Z, zspec = zcached
            z_columns = list(zspec.column_names)
        else:
            zm = _formulaic(bar.expr, sub, f"random-effects matrix of ({bar.expr} | {bar.group_name})")
            Z, z_columns, zspec = np.asarray(zm, dtype=float), list(zm.columns), zm.model_spec
            _remember(zkey, sub, zspec, Z)
        _check_finite(Z, z_columns, f"random-effects term ({bar.expr} | {bar.group_name})")
        znames = lme4_names(z_columns, bar.expr)
        if Z.shape[1] == 0:
            raise ValueError(
                f"random-effects term ({bar.expr} | {bar.group_name}) has no columns; "
                f"write (1 | {bar.group_name}) for a random intercept"
            )
        codes, levels = group_codes(sub, bar.group)
        nl = len(levels)
        if nl < 2:
            raise ValueError(
                f"grouping factor {bar.group_name!r} has only {nl} level in the data used; "
                "a random effect needs at least 2 groups (use it as a fixed effect, or drop the term)"
            )
        if nl >= n and not observation_level:
            raise ValueError(
                f"grouping factor {bar.group_name!r} has {nl} levels for {n} observations; "
                "with one observation per group its variance cannot be told apart from the residual "
                "variance (remove the term, or check the grouping column)"
            )
        struct = None
        if bar.structure != "us":
            from .structure import check_occasions, structure

            struct = structure(bar.structure, Z.shape[1], bar.group_name)
            if bar.structure == "ar1":
                check_occasions(bar, sub, Z)
        pieces = [tuple(range(Z.shape[1]))] if bar.correlated else [(j,) for j in range(Z.shape[1])]
        for idx in pieces:
            c = counts.get(bar.group_name, 0)
            counts[bar.group_name] = c + 1
            label = bar.group_name if c == 0 else f"{bar.group_name}.{c}"
            terms.append(RandomTerm(
                group=bar.group_name,
                label=label,
                columns=tuple(znames[j] for j in idx),
                Z=np.ascontiguousarray(Z[:, list(idx)]),
                codes=codes,
                levels=levels,
                spec=zspec,
                group_columns=bar.group,
                column_index=None if bar.correlated else idx,
                structure=struct,
            ))
    # lme4 orders terms by decreasing number of levels, stably
    order = sorted(range(len(terms)), key=lambda i: -terms[i].nlevels)
    terms = [terms[i] for i in order]
    return Design(
        formula=parsed, y=y, fixed=fixed, terms=tuple(terms), weights=w, offset=off,
        rows=rows, n_dropped=n_dropped, response_name=parsed.response,
        data_index=data.index[rows], data=sub, offset_argument=offset_argument,
    )
