"""Input data: coercion to pandas, column checks and missing-value handling."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["as_dataframe", "as_factor", "check_columns", "complete_rows", "as_vector", "column_array", "column_floats"]

_IDENT = re.compile(r"`([^`]+)`|([^\W\d][\w.]*|\.[\w.]*)")


def as_dataframe(data) -> pd.DataFrame:
    """Return ``data`` as a pandas DataFrame (pandas, polars or a dict of columns).

    Parameters
    ----------
    data : DataFrame or dict
        A pandas DataFrame (returned as is), an object with ``to_pandas()``
        (polars, pyarrow) or a dict of equal-length columns.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    TypeError
        For any other type.

    Examples
    --------
    >>> df = as_dataframe({"y": [1.0, 2.0], "g": ["a", "b"]})
    >>> df.shape, list(df.columns)
    ((2, 2), ['y', 'g'])
    >>> as_dataframe(df) is df
    True
    """
    if isinstance(data, pd.DataFrame):
        frame = data
    elif hasattr(data, "to_pandas"):  # polars, pyarrow tables
        frame = data.to_pandas()
    elif isinstance(data, dict):
        try:
            frame = pd.DataFrame(data)
        except ValueError as exc:
            raise ValueError(f"data as a dict must hold columns of equal length ({exc})") from None
    else:
        kind = type(data)
        name = f"{kind.__module__.split('.')[0]}.{kind.__name__}" if kind.__module__ != "builtins" else kind.__name__
        hint = ""
        if kind.__module__.startswith("dask"):  # (here where rows are read in memory: a fit's new data)
            hint = ("; a Dask DataFrame is taken where a fit was made on data in parts: compute it first "
                    "(data.compute()), or fit the model on the Dask data")
        raise TypeError(f"data must be a pandas or polars DataFrame (or a dict of columns), not {name}{hint}")
    if isinstance(frame.columns, pd.MultiIndex):
        raise ValueError("data has MultiIndex (several-level) column names; give one name per column, e.g. "
                         "data.columns = ['_'.join(map(str, c)) for c in data.columns]")
    dup = () if frame.columns.is_unique else frame.columns[frame.columns.duplicated()]
    if len(dup):
        raise ValueError(
            f"the data has more than one column named {', '.join(repr(c) for c in dict.fromkeys(dup))}; "
            "rename or drop the copies (e.g. data.loc[:, ~data.columns.duplicated()])"
        )
    return frame


def plain_label(col: pd.Series) -> pd.Series | None:
    """``col`` as formulaic codes labels, or None where it already is a plain column: pandas'
    string columns (``string``, ``string[pyarrow]``, Dask's default) as plain strings, missing
    values NaN (formulaic reads a StringDtype column of digits as numbers, and fails on other
    labels); a pyarrow dictionary of strings (a categorical read from Parquet with the pyarrow
    backend) as a categorical of the dictionary's levels in its order.

    Examples
    --------
    >>> plain_label(pd.Series(pd.array(["10", None], dtype="string"))).tolist()
    ['10', nan]
    >>> plain_label(pd.Series([1.0, 2.0])) is None
    True
    """
    dtype = col.dtype
    if isinstance(dtype, pd.ArrowDtype) and _arrow_dictionary_of_strings(dtype):
        return col.astype("category")
    if isinstance(dtype, pd.StringDtype) or (isinstance(dtype, pd.ArrowDtype) and pd.api.types.is_string_dtype(dtype)):
        return col.astype(object).where(col.notna(), np.nan)
    return None


def as_factor(col: pd.Series, name: str) -> pd.Series:
    """``col`` as R's ``factor(col)``: a categorical keeps its categories in order, less those
    without a value (and its orderedness); other values become categories in sorted order.

    Examples
    --------
    >>> as_factor(pd.Series([2, 10, 2, None]), "y").cat.categories.tolist()
    [2.0, 10.0]
    >>> as_factor(pd.Series(pd.Categorical(["b", "a"], categories=["c", "b", "a"])), "y").cat.categories.tolist()
    ['b', 'a']
    """
    plain = plain_label(col)
    col = col if plain is None else plain
    if isinstance(col.dtype, pd.CategoricalDtype):
        return col.cat.remove_unused_categories()
    values = col.dropna().unique()
    try:
        levels = sorted(values)
    except TypeError:
        raise ValueError(f"factor({name}) mixes values of different types (numbers and text); give the "
                         f"column one type, e.g. data[{name!r}].astype(str)") from None
    return pd.Series(pd.Categorical(col, categories=levels), index=col.index)


def label_text(value) -> str:
    """A level's label as R writes it: a number alike however it is stored (1, 1.0, np.int64(1)
    all read '1'; an integer exactly, whatever its size), a label as it is ("1.10" stays "1.10",
    "01" stays "01"); a missing value as a text no label has.

    Examples
    --------
    >>> [label_text(v) for v in (1, 1.0, np.int64(1), "01", 2.5, 2 ** 60 + 1)]
    ['1', '1', '1', '01', '2.5', '1152921504606846977']
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "\x00missing"
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(value)


def plain_number(col: pd.Series) -> pd.Series | None:
    """``col`` as numbers formulaic's arithmetic keeps exact, or None where it already is one:
    integers narrower than 64 bits, and unsigned ones whose values fit, as int64 (``I(a - b)``
    of two uint8 columns wrapped around), floats narrower than 64 bits as float64, and an
    object column that holds only numbers (and missing values) as numbers (integers as int64),
    not as a factor of its values.

    Examples
    --------
    >>> plain_number(pd.Series([3, 1], dtype="uint8")).dtype
    dtype('int64')
    >>> plain_number(pd.Series([1.5, None, 2], dtype=object)).tolist()
    [1.5, nan, 2.0]
    >>> out = plain_number(pd.Series([2 ** 60, 2 ** 60 + 1], dtype=object))
    >>> out.dtype, int(out.iloc[1] - out.iloc[0])   # exact
    (dtype('int64'), 1)
    >>> plain_number(pd.Series(["1", "2"], dtype=object)) is None   # labels stay labels
    True
    >>> plain_number(pd.Series([1.0, 2.0])) is None
    True
    """
    dtype = col.dtype
    if isinstance(dtype, np.dtype):
        if dtype.kind in "iu" and dtype.itemsize < 8:
            return col.astype(np.int64)
        if dtype == np.uint64:  # (to int64 where every value fits: ids above 2**53 stay exact)
            return col.astype(np.int64) if len(col) == 0 or int(col.max()) < 2 ** 63 else None
        if dtype.kind == "f" and dtype.itemsize < 8:
            return col.astype(np.float64)
        if dtype == object and pd.api.types.infer_dtype(col, skipna=True) in (
                "integer", "floating", "mixed-integer-float", "decimal"):
            out = pd.to_numeric(col, errors="coerce")  # (integers stay int64)
            return out if out.dtype.kind in "if" else None
    return None


def _arrow_dictionary_of_strings(dtype) -> bool:
    try:
        import pyarrow as pa

        t = dtype.pyarrow_dtype
        return pa.types.is_dictionary(t) and (pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type))
    except (ImportError, AttributeError):
        return False


def positive_rows(weights) -> np.ndarray | None:
    """The rows of positive prior weight, where some have weight 0 (else None: every row). A row
    of weight 0 is not data (as in R's lm): the statistics a fit reads (bases, centres, means,
    scales, counts) are those of the others.

    Examples
    --------
    >>> positive_rows(np.array([1.0, 0.0, 2.0])).tolist()
    [True, False, True]
    >>> positive_rows(None) is None, positive_rows(np.ones(3)) is None
    (True, True)
    """
    if weights is None:
        return None
    rows = np.asarray(weights, dtype=float) > 0
    return None if bool(np.all(rows)) else rows


def column_array(data: pd.DataFrame, name) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """The values of one column (a numpy array or a pandas extension array such as
    a Categorical), without building a Series: ``data[name]`` costs some 25 us a
    call, which small fits pay a dozen times.

    Parameters
    ----------
    data : pandas.DataFrame
        With unique column names (as :func:`as_dataframe` ensures).
    name : str
        A column of ``data``.

    Returns
    -------
    ndarray or ExtensionArray

    Examples
    --------
    >>> df = pd.DataFrame({"x": [1.0, 2.0], "g": pd.Categorical(["a", "b"])})
    >>> column_array(df, "x").tolist(), column_array(df, "g").codes.tolist()
    ([1.0, 2.0], [0, 1])
    """
    getter = getattr(data, "_get_column_array", None)
    if getter is not None:
        try:
            return getter(data.columns.get_loc(name))
        except (TypeError, KeyError, IndexError, AttributeError):
            pass
    return data[name].array


def column_floats(data: pd.DataFrame, name) -> np.ndarray:
    """One column as floats, missing values as NaN.

    Examples
    --------
    >>> df = pd.DataFrame({"n": [1, 2], "m": pd.array([1, None], dtype="Int64")})
    >>> column_floats(df, "n").tolist(), column_floats(df, "m").tolist()
    ([1.0, 2.0], [1.0, nan])
    """
    values = column_array(data, name)
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        return values.astype(float, copy=False)
    return data[name].to_numpy(dtype=float, na_value=np.nan)


def identifiers(text: str) -> list[str]:
    """Identifiers in a formula fragment, in order of appearance.

    Parameters
    ----------
    text : str
        Part of a formula; a name in backticks counts as one identifier,
        returned without the backticks.

    Returns
    -------
    list of str
        Every name, function names such as ``log`` included.

    Examples
    --------
    >>> identifiers("log(Days) + `my col` + x.1")
    ['log', 'Days', 'my col', 'x.1']
    """
    out = []
    for quoted, plain in _IDENT.findall(text):
        out.append(quoted or plain)
    return out


def check_columns(names: Iterable[str], data: pd.DataFrame, where: str) -> None:
    """Raise a one-line ValueError for the first name that is not a column.

    Parameters
    ----------
    names : iterable of str
        Column names to look for.
    data : pandas.DataFrame
    where : str
        Where the names come from, for the message (``"formula 'y ~ x'"``).

    Raises
    ------
    ValueError
        Naming the unknown column, the closest existing one and the columns
        of the data.

    Examples
    --------
    >>> import multilevel as ml
    >>> df = ml.datasets.load("sleepstudy")
    >>> check_columns(["Days", "Subject"], df, "formula")  # all present: no error
    >>> check_columns(["Dayz"], df, "formula")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: unknown column 'Dayz' in formula; did you mean 'Days'? (the data has columns: ...)
    """
    for name in names:
        if name not in data.columns:
            cols = [str(c) for c in data.columns if not str(c).startswith("__")]  # not internal columns
            close = difflib.get_close_matches(name, cols, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            shown = ", ".join(cols[:12]) + (", ..." if len(cols) > 12 else "")
            raise ValueError(
                f"unknown column {name!r} in {where}{hint} (the data has columns: {shown})"
            )


def as_vector(value, data: pd.DataFrame, what: str) -> np.ndarray | None:
    """Weights or offset given as a column name or as an array of length nrow.

    Parameters
    ----------
    value : str, array-like or None
        A column of ``data`` or one value per row.
    data : pandas.DataFrame
    what : str
        ``"weights"`` or ``"offset"``, for error messages.

    Returns
    -------
    ndarray (n,) of float or None
        None when ``value`` is None.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, 2.0, 3.0], "w": [1, 2, 2]})
    >>> as_vector("w", df, "weights").tolist()
    [1.0, 2.0, 2.0]
    >>> as_vector([0, 0.5, 1], df, "offset").tolist()
    [0.0, 0.5, 1.0]
    >>> as_vector(None, df, "offset") is None
    True
    >>> as_vector(pd.Series([3.0, 1.0, 2.0], index=[2, 0, 1]), df, "weights").tolist()  # by label
    [1.0, 2.0, 3.0]
    """
    if value is None:
        return None
    if isinstance(value, str):
        check_columns([value], data, f"{what}=")
        value = data[value]
    elif isinstance(value, pd.Series) and not value.index.equals(data.index):
        # a Series is matched to the rows by its labels, as pandas aligns, never by position
        if value.index.has_duplicates or data.index.has_duplicates \
                or len(value) != len(data) or not value.index.isin(data.index).all():
            raise ValueError(
                f"{what}= is a pandas Series whose index does not match the data's index; pass a "
                "column name, an array in the data's row order, or a Series indexed like the data"
            )
        value = value.reindex(data.index)
    if isinstance(value, pd.Series) and not (pd.api.types.is_numeric_dtype(value.dtype)
                                             or pd.api.types.is_bool_dtype(value.dtype)):
        raise TypeError(f"{what}= must be numeric, but it has dtype {value.dtype}; "
                        f"pass numbers (one per row) or the name of a numeric column")
    if np.iscomplexobj(value):
        raise TypeError(f"{what}= holds complex numbers; it must be real numbers (one per row)")
    try:
        arr = np.asarray(pd.Series(np.asarray(value).ravel()).astype(float) if isinstance(value, pd.Series)
                         else value, dtype=float).ravel()
    except (TypeError, ValueError):
        raise TypeError(f"{what}= must be numbers (one per row) or the name of a numeric column; "
                        f"got {type(value).__name__} with values that are not numbers") from None
    if arr.shape[0] != len(data):
        raise ValueError(
            f"{what} has length {arr.shape[0]} but the data has {len(data)} rows; pass one value per row"
        )
    return arr


def complete_rows(data: pd.DataFrame, columns: Iterable[str], extra: dict[str, np.ndarray | None]) -> np.ndarray:
    """Boolean mask of rows with no missing value in ``columns`` or ``extra`` arrays.

    Infinite values are an error, not a missing value: they are usually a
    transformation gone wrong (``log(0)``), and silently dropping them hides it.

    Parameters
    ----------
    data : pandas.DataFrame
    columns : iterable of str
        Columns of ``data`` the model uses.
    extra : dict of str to ndarray or None
        Further per-row arrays (weights, offset) by name; None entries are skipped.

    Returns
    -------
    ndarray (n,) of bool
        True for the rows to keep.

    Raises
    ------
    ValueError
        When a numeric column or an extra array has an infinite value.

    Examples
    --------
    >>> df = pd.DataFrame({"y": [1.0, np.nan, 3.0], "x": [1.0, 2.0, 3.0]})
    >>> complete_rows(df, ["y", "x"], {"weights": None}).tolist()
    [True, False, True]
    >>> complete_rows(df, ["x"], {"weights": np.array([1.0, 1.0, np.nan])}).tolist()
    [True, True, False]
    """
    mask = np.ones(len(data), dtype=bool)
    for col in columns:
        values = column_array(data, col)
        dtype = values.dtype
        if isinstance(dtype, np.dtype) and dtype.kind in "iub":
            continue  # plain integers and booleans: never missing, never infinite
        if isinstance(dtype, np.dtype) and dtype.kind == "f":
            vals = values
            finite = np.isfinite(vals)
            if not finite.all():
                bad = np.isinf(vals)
                if bad.any():
                    raise ValueError(f"column {col!r} has {int(bad.sum())} infinite value(s); remove those "
                                     "rows or recode them")
                mask &= finite
            continue
        if isinstance(dtype, pd.CategoricalDtype):
            mask &= values.codes >= 0
            continue
        s = data[col]
        mask &= ~s.isna().to_numpy()
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            vals = s.to_numpy(dtype=float, na_value=np.nan)
            bad = np.isinf(vals)
            if bad.any():
                raise ValueError(
                    f"column {col!r} has {int(bad.sum())} infinite value(s); remove those rows or recode them"
                )
    for name, arr in extra.items():
        if arr is None:
            continue
        if np.isinf(arr).any():
            raise ValueError(f"{name} has infinite values; every {name} must be finite")
        mask &= ~np.isnan(arr)
    return mask

