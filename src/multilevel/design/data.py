"""Input data: coercion to pandas, column checks and missing-value handling."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

__all__ = ["as_dataframe", "check_columns", "complete_rows", "as_vector"]

_IDENT = re.compile(r"`([^`]+)`|([A-Za-z_.][A-Za-z0-9_.]*)")


def as_dataframe(data) -> pd.DataFrame:
    """Return ``data`` as a pandas DataFrame (pandas, polars or a dict of columns)."""
    if isinstance(data, pd.DataFrame):
        return data
    if hasattr(data, "to_pandas"):  # polars, pyarrow tables
        return data.to_pandas()
    if isinstance(data, dict):
        return pd.DataFrame(data)
    raise TypeError(
        f"data must be a pandas or polars DataFrame (or a dict of columns), not {type(data).__name__}"
    )


def identifiers(text: str) -> list[str]:
    """Identifiers in a formula fragment, in order of appearance."""
    out = []
    for quoted, plain in _IDENT.findall(text):
        out.append(quoted or plain)
    return out


def check_columns(names: Iterable[str], data: pd.DataFrame, where: str) -> None:
    """Raise a one-line ValueError for the first name that is not a column."""
    cols = [str(c) for c in data.columns]
    for name in names:
        if name not in data.columns:
            close = difflib.get_close_matches(name, cols, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            shown = ", ".join(cols[:12]) + (", ..." if len(cols) > 12 else "")
            raise ValueError(
                f"unknown column {name!r} in {where}{hint} (the data has columns: {shown})"
            )


def as_vector(value, data: pd.DataFrame, what: str) -> np.ndarray | None:
    """Weights or offset given as a column name or as an array of length nrow."""
    if value is None:
        return None
    if isinstance(value, str):
        check_columns([value], data, f"{what}=")
        value = data[value]
    arr = np.asarray(value, dtype=float).ravel()
    if arr.shape[0] != len(data):
        raise ValueError(
            f"{what} has length {arr.shape[0]} but the data has {len(data)} rows; pass one value per row"
        )
    return arr


def complete_rows(data: pd.DataFrame, columns: Iterable[str], extra: dict[str, np.ndarray | None]) -> np.ndarray:
    """Boolean mask of rows with no missing value in ``columns`` or ``extra`` arrays.

    Infinite values are an error, not a missing value: they are usually a
    transformation gone wrong (``log(0)``), and silently dropping them hides it.
    """
    mask = np.ones(len(data), dtype=bool)
    for col in columns:
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
