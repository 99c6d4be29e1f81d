"""The fixed-effects model matrix X: materialisation, names and rank handling."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FixedDesign", "independent_columns"]


@dataclass(frozen=True)
class FixedDesign:
    """Fixed-effects design.

    Attributes
    ----------
    X : ndarray (n, p)
        Full-rank model matrix (aliased columns already dropped).
    names : tuple of str
        lme4-style column names of ``X``.
    spec : object
        formulaic ``ModelSpec`` that rebuilds ``X`` for new data.
    all_names : tuple of str
        Names before dropping aliased columns.
    dropped : tuple of str
        Names of the aliased columns that were dropped.

    Examples
    --------
    >>> fd = FixedDesign(X=np.ones((3, 2)), names=("(Intercept)", "b"), spec=None,
    ...                  all_names=("(Intercept)", "a", "b"), dropped=("a",))
    >>> fd.keep.tolist()
    [0, 2]
    """

    X: np.ndarray
    names: tuple[str, ...]
    spec: object
    all_names: tuple[str, ...]
    dropped: tuple[str, ...]

    @property
    def keep(self) -> np.ndarray:
        """Positions of the kept columns among ``all_names``.

        Examples
        --------
        >>> fd = FixedDesign(X=np.ones((3, 1)), names=("(Intercept)",), spec=None,
        ...                  all_names=("(Intercept)", "x"), dropped=("x",))
        >>> fd.keep.tolist()
        [0]
        """
        dropped = set(self.dropped)
        return np.array([i for i, n in enumerate(self.all_names) if n not in dropped], dtype=int)


def independent_columns(X: np.ndarray, tol: float = 1e-11) -> np.ndarray:
    """Indices of a maximal set of linearly independent columns, earliest first.

    Columns are examined in order and one that is (numerically) a linear
    combination of the earlier kept ones is dropped, as R's ``qr()`` with
    limited pivoting does for ``lm`` and ``lmer``. What is left of a column
    after removing the kept ones is computed by Gram-Schmidt with
    reorthogonalisation, which keeps every digit of a column such as
    ``x + 1e9`` beside the intercept (R's relative tolerance of 1e-7 drops it);
    a column is dependent when less than ``tol`` of its norm is left.

    Examples
    --------
    >>> X = np.array([[1., 1, 2], [1, 2, 3], [1, 3, 4], [1, 5, 6]])
    >>> independent_columns(X).tolist()
    [0, 1]
    >>> independent_columns(np.column_stack([np.ones(4), np.arange(4) + 1e9])).tolist()
    [0, 1]
    """
    n, p = X.shape
    Q = np.empty((n, p))
    keep: list[int] = []
    for j in range(p):
        v = np.array(X[:, j], dtype=float)
        norm = float(np.sqrt(v @ v))
        if not norm > 0:
            continue
        for _ in range(2):
            if keep:
                Qk = Q[:, :len(keep)]
                v -= Qk @ (Qk.T @ v)
        left = float(np.sqrt(v @ v))
        if left > tol * norm:
            Q[:, len(keep)] = v / left
            keep.append(j)
    return np.array(keep, dtype=int)


def build_fixed(mm, names: list[str]) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Return (X, kept names, dropped names) for a materialised fixed model matrix.

    Aliased columns (linear combinations of earlier ones) are dropped, as
    lme4 drops them.

    Parameters
    ----------
    mm : array-like (n, p)
        The fixed-effects model matrix, one column per coefficient.
    names : list of str
        lme4-style names of the columns of ``mm``.

    Returns
    -------
    X : ndarray (n, p)
        Full-rank model matrix.
    kept : tuple of str
        Names of the columns of ``X``.
    dropped : tuple of str
        Names of the dropped columns.

    Examples
    --------
    >>> mm = np.array([[1.0, 0, 1], [1, 1, 0], [1, 0, 1], [1, 1, 0]])
    >>> X, kept, dropped = build_fixed(mm, ["(Intercept)", "a", "b"])
    >>> X.shape, kept, dropped
    ((4, 2), ('(Intercept)', 'a'), ('b',))
    """
    X = np.asarray(mm, dtype=float)
    if X.shape[1] == 0:
        return X, (), ()
    # Cheap screen first: a well-conditioned X'X needs no QR.
    xtx = X.T @ X
    d = np.sqrt(np.diag(xtx))
    if np.all(d > 0):
        c = xtx / np.outer(d, d)
        try:
            ev = np.linalg.eigvalsh(c)
            if ev[0] > 1e-8 * ev[-1]:
                return X, tuple(names), ()
        except np.linalg.LinAlgError:
            pass
    keep = independent_columns(X)
    dropped = tuple(n for i, n in enumerate(names) if i not in set(keep.tolist()))
    return np.ascontiguousarray(X[:, keep]), tuple(names[i] for i in keep), dropped
