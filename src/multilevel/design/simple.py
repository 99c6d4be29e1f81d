"""A fast path for formula parts made only of numeric columns, ``1`` and ``0``.

Most mixed-model formulas (``1 + Days``, ``1 + x | g``) need no factor coding
or transforms; building their matrices directly skips formulaic's parser and
materialiser, which dominate the cost of small fits. Anything else goes to
formulaic.
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

    @property
    def names(self) -> list[str]:
        """Column names in formulaic's style (``Intercept`` first).

        Examples
        --------
        >>> SimpleSpec(intercept=True, columns=("Days",)).names
        ['Intercept', 'Days']
        >>> SimpleSpec(intercept=False, columns=("x", "z")).names
        ['x', 'z']
        """
        return (["Intercept"] if self.intercept else []) + list(self.columns)

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
        out = np.empty((n, len(self.columns) + self.intercept))
        j = 0
        if self.intercept:
            out[:, 0] = 1.0
            j = 1
        for c in self.columns:
            out[:, j] = column_floats(data, c)
            j += 1
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


def simple_spec(rhs: str, data: pd.DataFrame) -> SimpleSpec | None:
    """A :class:`SimpleSpec` for ``rhs`` if it only sums numeric columns, 1 and 0.

    Returns None when formulaic is needed (factors, transforms, interactions).

    Examples
    --------
    >>> df = pd.DataFrame({"x": [1.0, 2.0], "f": ["a", "b"]})
    >>> simple_spec("1 + x", df)
    SimpleSpec(intercept=True, columns=('x',))
    >>> simple_spec("0 + x", df).intercept, simple_spec("x - 1", df).intercept
    (False, False)
    >>> simple_spec("x + f", df) is None
    True
    """
    text = rhs.strip()
    if not text or re.search(r"[^A-Za-z0-9_.+\- ]", text):
        return None
    tokens = re.findall(r"[+\-]|[^+\-\s]+", text)
    intercept = True
    columns: list[str] = []
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
            dtype = column_array(data, tok).dtype
            if sign == "-" or not pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype) \
                    or isinstance(dtype, pd.CategoricalDtype):
                return None
            if tok not in columns:
                columns.append(tok)
        else:
            return None
        sign = "+"
    if expect_term:
        return None
    return SimpleSpec(intercept=intercept, columns=tuple(columns))
