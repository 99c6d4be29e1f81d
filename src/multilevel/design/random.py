"""Random-effects terms: a grouping factor, its per-level model matrix and theta layout."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .data import column_array

__all__ = ["RandomTerm", "group_codes", "theta_template", "new_level_keys"]


@dataclass(frozen=True)
class RandomTerm:
    """One random-effects term ``(z_1 + ... + z_k | g)``.

    Attributes
    ----------
    group : str
        Grouping factor name as lme4 prints it (``"Subject"``, ``"cask:batch"``).
    label : str
        Name in variance tables; ``"Subject.1"`` for the second term on the same
        factor, as lme4 labels the pieces of ``(1 + x || Subject)``.
    columns : tuple of str
        lme4-style names of the k per-level columns.
    Z : ndarray (n, k)
        Per-observation values of the k columns.
    codes : ndarray (n,) of int
        Level index of each observation, 0 .. nlevels - 1.
    levels : pandas.Index
        Level labels, in factor order.
    spec : object
        formulaic ``ModelSpec`` for the columns (used for prediction).
    group_columns : tuple of str
        Data columns whose interaction is the grouping factor.
    column_index : tuple of int or None
        For a term split from an uncorrelated bar, which columns of the bar's
        model matrix it holds.
    structure : Structure or None
        The covariance structure of a ``cs(...)``, ``hcs(...)`` or ``ar1(...)``
        term (:mod:`multilevel.design.structure`); None for an unstructured one.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> t = d.terms[0]
    >>> t.label, t.columns, t.k, t.nlevels, t.ntheta, t.q, t.is_intercept_only
    ('Subject', ('(Intercept)', 'Days'), 2, 18, 3, 36, False)
    """

    group: str
    label: str
    columns: tuple[str, ...]
    Z: np.ndarray
    codes: np.ndarray
    levels: pd.Index
    spec: object
    group_columns: tuple[str, ...]
    column_index: tuple[int, ...] | None = None
    structure: object = None

    @property
    def k(self) -> int:
        """Number of random effects per level."""
        return self.Z.shape[1]

    @property
    def nlevels(self) -> int:
        """Number of levels of the grouping factor."""
        return len(self.levels)

    @property
    def ntheta(self) -> int:
        """Number of covariance parameters (lower triangle of a k x k factor, or the structure's)."""
        return self.structure.nparams if self.structure is not None else self.k * (self.k + 1) // 2

    @property
    def q(self) -> int:
        """Number of random effects of the term (levels x k)."""
        return self.nlevels * self.k

    @property
    def text(self) -> str:
        """The term as a formula writes it, e.g. ``(1 + Days | Subject)``, ``(0 + x | g)``.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> d = build_design("Reaction ~ Days + (Days || Subject)", ml.datasets.load("sleepstudy"))
        >>> [t.text for t in d.terms]
        ['(1 | Subject)', '(0 + Days | Subject)']
        """
        cols = ["1" if c == "(Intercept)" else c for c in self.columns]
        if "1" not in cols:
            cols = ["0"] + cols
        text = f"({' + '.join(cols)} | {self.group})"
        return text if self.structure is None else self.structure.kind + text

    @property
    def is_intercept_only(self) -> bool:
        """True for ``(1 | g)`` with all-one column."""
        return self.k == 1 and self.columns == ("(Intercept)",)


def theta_template(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row and column positions of theta in a k x k lower-triangular factor, column-major,
    and the lower bounds (0 on the diagonal, -inf elsewhere), as lme4 lays them out.

    Examples
    --------
    >>> rows, cols, lower = theta_template(2)
    >>> rows.tolist(), cols.tolist(), lower.tolist()
    ([0, 1, 1], [0, 0, 1], [0.0, -inf, 0.0])
    """
    rows, cols = [], []
    for j in range(k):
        for i in range(j, k):
            rows.append(i)
            cols.append(j)
    rows_a = np.array(rows, dtype=int)
    cols_a = np.array(cols, dtype=int)
    lower = np.where(rows_a == cols_a, 0.0, -np.inf)
    return rows_a, cols_a, lower


def _level_labels(data: pd.DataFrame, column) -> tuple[np.ndarray, pd.Index]:
    """Codes and levels of one column: categorical order if any, else sorted values."""
    values = column_array(data, column)
    if isinstance(values.dtype, pd.CategoricalDtype):
        codes = values.codes.astype(np.intp)
        categories = values.dtype.categories
        seen = np.bincount(codes[codes >= 0], minlength=len(categories)) > 0
        if seen.all():
            return codes, pd.Index(categories)
        # drop unused categories, keeping the order of the others
        new = np.cumsum(seen) - 1
        return np.where(codes >= 0, new[codes], -1).astype(np.intp), pd.Index(categories[seen])
    s = data[column]
    try:
        codes, uniques = pd.factorize(s, sort=True)
    except TypeError:
        raise ValueError(f"grouping column {s.name!r} holds values that are not labels (e.g. "
                         f"{type(s.dropna().iloc[0]).__name__}); use strings or numbers as group ids") from None
    if uniques.dtype == object and len(uniques) > 1 and \
            pd.api.types.infer_dtype(uniques, skipna=True).startswith("mixed"):
        _one_label_each(uniques, s.name)  # (ids of several types only: no loop over plain labels)
    return codes.astype(np.intp), pd.Index(uniques)


def _one_label_each(uniques, name) -> None:
    """Refuse ids of several types that write the same label (308 and "308", 1 and 1.0 beside
    "1"): R reads them as one group, pandas as two, and which the user means is not known.

    Examples
    --------
    >>> _one_label_each(np.array(["308", 309], dtype=object), "Subject")
    >>> _one_label_each(np.array(["308", 308], dtype=object), "Subject")
    Traceback (most recent call last):
    ...
    ValueError: grouping column 'Subject' holds one id as values of different types (308 and '308'), which would be two groups; give the column one type, e.g. data['Subject'].astype(str)
    """
    from .data import label_text

    seen: dict[str, object] = {}
    for v in uniques:
        key = label_text(v)
        if key in seen:
            first, second = sorted([seen[key], v], key=lambda u: isinstance(u, str))
            raise ValueError(f"grouping column {name!r} holds one id as values of different types "
                             f"({first!r} and {second!r}), which would be two groups; give the column "
                             f"one type, e.g. data[{name!r}].astype(str)")
        seen[key] = v


def group_codes(data: pd.DataFrame, columns: tuple[str, ...]) -> tuple[np.ndarray, pd.Index]:
    """Level codes and labels of the interaction of ``columns``.

    For one column the levels keep the categorical order (or sorted order).
    For ``b:a`` the levels are the observed combinations labelled ``"b1:a1"``,
    ordered by the first column's levels, then the next (as R's ``b:a``).

    Examples
    --------
    >>> df = pd.DataFrame({"a": ["x", "x", "y"], "b": [1, 2, 1]})
    >>> codes, levels = group_codes(df, ("b", "a"))
    >>> codes.tolist(), list(levels)
    ([0, 2, 1], ['1:x', '1:y', '2:x'])
    """
    if len(columns) == 1:
        return _level_labels(data, columns[0])
    parts = [_level_labels(data, c) for c in columns]
    # combine codes with the first column varying slowest, as R's b:a factor does
    combined = np.zeros(len(data), dtype=np.int64)
    mult = 1
    for codes, levels in reversed(parts):
        combined += codes.astype(np.int64) * mult
        mult *= len(levels)
    uniq, codes = np.unique(combined, return_inverse=True)
    labels = []
    rem = uniq.copy()
    idx: list[np.ndarray] = []
    for _, levels in reversed(parts):
        idx.insert(0, rem % len(levels))
        rem = rem // len(levels)
    for j in range(len(uniq)):
        labels.append(":".join(str(parts[i][1][idx[i][j]]) for i in range(len(parts))))
    return codes.astype(np.intp), pd.Index(labels)


def new_level_keys(rows: pd.DataFrame) -> pd.Series:
    """One text key per row of the grouping columns ``rows`` (``"b1:a1"``), a missing value
    as ``"<NA>"``: rows of one new (or missing) group share a key, so they share its effect.

    Examples
    --------
    >>> new_level_keys(pd.DataFrame({"g": ["a", None], "h": [1, 2]})).tolist()
    ['a:1', '<NA>:2']
    """
    text = rows.astype(object).where(rows.notna(), "<NA>").astype(str)
    return text.agg(":".join, axis=1)
