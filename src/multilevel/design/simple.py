"""A fast path for formula parts made only of columns, ``1`` and ``0``.

Most mixed-model formulas (``1 + Days``, ``1 + female``, ``1 + x | g``) need no
transforms or interactions; building their matrices directly skips formulaic's
parser and materialiser, which dominate the cost of small fits. Numeric
columns enter as they are; a factor (a pandas Categorical, or a column of
strings) in a part with an intercept is coded as formulaic codes it:
treatment contrasts against the first level (a Categorical's first category,
used or not; the smallest string), one column ``x[T.level]`` per other
level. Anything else goes to formulaic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import column_array, column_floats

__all__ = ["SimpleSpec", "simple_spec"]

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SimpleSpec:
    """Model-matrix recipe: an optional intercept and numeric columns.

    Examples
    --------
    >>> spec = SimpleSpec(intercept=True, columns=("x",))
    >>> spec.get_model_matrix(pd.DataFrame({"x": [1.5, 2.0]})).to_numpy().tolist()
    [[1.0, 1.5], [1.0, 2.0]]
    """

    intercept: bool
    columns: tuple[str, ...]
    #: per column, None (numeric) or the factor's levels, the reference first
    levels: tuple = ()

    def _levels(self, j: int):
        return self.levels[j] if self.levels else None

    @property
    def names(self) -> list[str]:
        """Column names in formulaic's style (``Intercept`` first).

        Examples
        --------
        >>> SimpleSpec(intercept=True, columns=("Days",)).names
        ['Intercept', 'Days']
        >>> SimpleSpec(intercept=False, columns=("x", "z")).names
        ['x', 'z']
        >>> SimpleSpec(intercept=True, columns=("g",), levels=(("a", "b", "c"),)).names
        ['Intercept', 'g[T.b]', 'g[T.c]']
        """
        out = ["Intercept"] if self.intercept else []
        for j, c in enumerate(self.columns):
            lev = self._levels(j)
            out.extend([c] if lev is None else [f"{c}[T.{v}]" for v in lev[1:]])
        return out

    def term_indices_simple(self) -> list[tuple[str, list[int]]]:
        """Each term (a column name) and its positions among :attr:`names`,
        the intercept left out.

        Examples
        --------
        >>> SimpleSpec(intercept=True, columns=("x", "g"), levels=(None, ("a", "b", "c"))).term_indices_simple()
        [('x', [1]), ('g', [2, 3])]
        """
        out, j = [], int(self.intercept)
        for i, c in enumerate(self.columns):
            lev = self._levels(i)
            width = 1 if lev is None else len(lev) - 1
            out.append((c, list(range(j, j + width))))
            j += width
        return out

    def matrix(self, data: pd.DataFrame) -> np.ndarray:
        """The model matrix as a float array (n, len(names)).

        Examples
        --------
        >>> SimpleSpec(intercept=False, columns=("x",)).matrix(pd.DataFrame({"x": [2, 3]})).tolist()
        [[2.0], [3.0]]
        """
        missing = [c for c in self.columns if c not in data.columns]
        if missing:
            raise ValueError(f"column {missing[0]!r} is missing from the data")
        n = len(data)
        out = np.empty((n, len(self.names)))
        j = 0
        if self.intercept:
            out[:, 0] = 1.0
            j = 1
        for i, c in enumerate(self.columns):
            lev = self._levels(i)
            if lev is None:
                out[:, j] = column_floats(data, c)
                j += 1
                continue
            codes = _factor_codes(data, c, lev)
            for level in range(1, len(lev)):
                out[:, j] = codes == level
                j += 1
            out[codes < 0, j - len(lev) + 1: j] = np.nan  # missing values stay missing
        return out

    def get_model_matrix(self, data: pd.DataFrame, na_action: str = "ignore") -> pd.DataFrame:
        """The model matrix for ``data`` (missing columns raise a one-line error).

        Parameters
        ----------
        data : pandas.DataFrame
            Must hold every column of the spec.
        na_action : str, default "ignore"
            Accepted for compatibility with formulaic's ``ModelSpec``; missing
            values are always kept (as NaN).

        Returns
        -------
        pandas.DataFrame
            Columns :attr:`names`, with the index of ``data``.

        Examples
        --------
        >>> spec = SimpleSpec(intercept=True, columns=("x",))
        >>> spec.get_model_matrix(pd.DataFrame({"x": [1.5, np.nan]}))
           Intercept    x
        0        1.0  1.5
        1        1.0  NaN
        >>> spec.get_model_matrix(pd.DataFrame({"z": [1.0]}))
        Traceback (most recent call last):
        ...
        ValueError: column 'x' is missing from the data
        """
        return pd.DataFrame(self.matrix(data), index=data.index, columns=self.names)


def _factor_codes(data: pd.DataFrame, column, levels: tuple) -> np.ndarray:
    """Codes of a factor column against ``levels`` (-1 where missing); a value
    that is not among them is an error, as for formulaic's encoding."""
    values = column_array(data, column)
    if isinstance(values.dtype, pd.CategoricalDtype) and tuple(values.dtype.categories) == levels:
        return np.asarray(values.codes)
    cat = pd.Categorical(np.asarray(values, dtype=object), categories=list(levels))
    codes = np.asarray(cat.codes)
    unseen = (codes < 0) & ~pd.isna(np.asarray(values, dtype=object))
    if unseen.any():
        new = sorted({str(v) for v in np.asarray(values, dtype=object)[unseen]})
        raise ValueError(f"column {column!r} has levels not seen in the fit: {', '.join(new[:5])}; "
                         "a factor's effect cannot be predicted for a new level")
    return codes


def _factor_levels(data: pd.DataFrame, column) -> tuple | None:
    """The levels formulaic would code a factor column with, or None where the
    column is not a factor of string labels."""
    values = column_array(data, column)
    dtype = values.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        if not (pd.api.types.is_string_dtype(cats.dtype) or pd.api.types.is_object_dtype(cats.dtype)):
            return None
        labels = tuple(cats)
    elif pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        try:
            present = pd.unique(np.asarray(values, dtype=object))
        except TypeError:  # unhashable values (dicts, lists): the column checks name them
            return None
        present = [v for v in present if not (v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA)]
        labels = tuple(sorted(present)) if present else ()
    else:
        return None
    if not labels or not all(isinstance(v, str) for v in labels):
        return None
    return labels


def simple_spec(rhs: str, data: pd.DataFrame) -> SimpleSpec | None:
    """A :class:`SimpleSpec` for ``rhs`` if it only sums columns, 1 and 0.

    Returns None when formulaic is needed (transforms, interactions, a factor
    without an intercept, boolean columns, factors of other labels than strings).

    Examples
    --------
    >>> df = pd.DataFrame({"x": [1.0, 2.0], "f": ["a", "b"]})
    >>> simple_spec("1 + x", df)
    SimpleSpec(intercept=True, columns=('x',), levels=())
    >>> simple_spec("0 + x", df).intercept, simple_spec("x - 1", df).intercept
    (False, False)
    >>> simple_spec("x + f", df).names
    ['Intercept', 'x', 'f[T.b]']
    >>> simple_spec("0 + f", df) is None, simple_spec("x:f", df) is None
    (True, True)
    """
    text = rhs.strip()
    if not text or re.search(r"[^A-Za-z0-9_.+\- ]", text):
        return None
    tokens = re.findall(r"[+\-]|[^+\-\s]+", text)
    intercept = True
    columns: list[str] = []
    levels: list = []
    sign = "+"
    expect_term = True
    for tok in tokens:
        if tok in "+-":
            if not expect_term and tok in "+-":
                sign = tok
                expect_term = True
                continue
            if tok == "-" and expect_term:
                sign = "-" if sign == "+" else "+"
                continue
            return None
        if not expect_term:
            return None
        expect_term = False
        if tok in ("0", "1"):
            if (tok == "1") == (sign == "+"):
                intercept = True
            else:
                intercept = False
        elif _NAME.match(tok) and tok in data.columns:
            if sign == "-":
                return None
            dtype = column_array(data, tok).dtype
            if pd.api.types.is_bool_dtype(dtype):
                return None
            if isinstance(dtype, pd.CategoricalDtype) or not pd.api.types.is_numeric_dtype(dtype):
                lev = _factor_levels(data, tok)
                if lev is None:
                    return None
            else:
                lev = None
            if tok not in columns:
                columns.append(tok)
                levels.append(lev)
        else:
            return None
        sign = "+"
    if expect_term:
        return None
    if any(lev is not None for lev in levels):
        if not intercept:
            return None  # without an intercept formulaic codes the first factor in full
        return SimpleSpec(intercept=intercept, columns=tuple(columns), levels=tuple(levels))
    return SimpleSpec(intercept=intercept, columns=tuple(columns))
