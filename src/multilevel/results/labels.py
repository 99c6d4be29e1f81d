"""Row and column labels of result tables, built once per set of names."""

from __future__ import annotations

import functools

import pandas as pd

__all__ = ["label_index"]


@functools.lru_cache(maxsize=1024)
def _label_index(names: tuple) -> pd.Index:
    return pd.Index(list(names))


def label_index(names) -> pd.Index:
    """A pandas Index of ``names``, shared between calls with the same names.

    Building an Index of strings costs some 100 us (pandas converts them to its
    string type each time); a bootstrap or a simulation builds the same few
    labels for every refit. Each call returns its own shallow copy (sharing the
    values, not the object), so naming one table's index leaves the others be.

    Examples
    --------
    >>> a = label_index(["(Intercept)", "Days"])
    >>> b = label_index(("(Intercept)", "Days"))
    >>> list(a), a is b, a.equals(b)
    (['(Intercept)', 'Days'], False, True)
    """
    return _label_index(tuple(names)).copy()
