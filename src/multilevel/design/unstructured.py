"""An unstructured residual correlation over occasions within groups (nlme's ``corSymm``).

``residual="us(visit | g)"``: the rows of one level of ``g`` are measured on
occasions, the levels of ``visit`` (a factor, in its level order, or the sorted
values of a numeric column), at most once each; any two occasions ``j`` and
``k`` have their own correlation ``C_jk``. A group observed on some occasions
only has the rows and columns of ``C`` of those occasions (the
mixed-model repeated-measures analysis, MMRM, with missing visits).

``C`` is parameterised by canonical partial correlations ``z = tanh(a)``
through its Cholesky factor (the LKJ construction), so every unconstrained
``a`` gives a positive definite ``C`` and ``a = 0`` is the identity.

Examples
--------
>>> import multilevel as ml
>>> orth = ml.datasets.load("orthodont")
>>> uc = unstructured_correlation("us(age | Subject)", orth)
>>> uc.occasions, uc.nparams
((8, 10, 12, 14), 6)
>>> C = uc.correlation(np.full(6, 0.5))
>>> bool(np.all(np.linalg.eigvalsh(C) > 0)), np.diag(C).round(12).tolist()
(True, [1.0, 1.0, 1.0, 1.0])
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

__all__ = ["UnstructuredCorrelation", "correlate_patterns", "unstructured_correlation", "whiten_patterns"]


def whiten_patterns(patterns, matrices, arrays, factors=None):
    """``L_g^-1 A`` for each array ``A`` (n,) or (n, k) of ``arrays``, the rows of each group
    of each pattern ``(rows (G, m), ...)`` whitened by the Cholesky factor of that pattern's
    matrix; and ``sum_g log |R_g|``. ``factors``, per pattern ``(F, log |R|)`` with ``F'F =
    R^-1``, stands in for the Cholesky factor where given.

    Raises
    ------
    numpy.linalg.LinAlgError
        Where a pattern's matrix is not positive definite.

    Examples
    --------
    >>> rows = np.array([[0, 1], [2, 3]])
    >>> R = np.array([[1.0, 0.5], [0.5, 1.0]])
    >>> (w,), logdet = whiten_patterns([(rows, None)], [R], [np.array([1.0, 1.0, 2.0, 0.0])])
    >>> w.round(4).tolist(), round(logdet, 4)
    ([1.0, 0.5774, 2.0, -1.1547], -0.5754)
    """
    outs = [np.empty_like(np.asarray(a, dtype=float)) for a in arrays]
    logdet = 0.0
    for i, ((rows, _), R) in enumerate(zip(patterns, matrices)):
        if factors is not None:
            Linv, ld = factors[i]
        else:
            L = np.linalg.cholesky(R)
            Linv = np.linalg.inv(L)
            ld = 2.0 * float(np.sum(np.log(np.diag(L))))
        logdet += rows.shape[0] * ld
        for a, out in zip(arrays, outs):
            blk = np.asarray(a, dtype=float)[rows]  # (G, m) or (G, m, k)
            out[rows] = np.einsum("ij,gj...->gi...", Linv, blk)
    return outs, logdet


def correlate_patterns(patterns, matrices, e: np.ndarray) -> np.ndarray:
    """``L_g e`` for the rows of each group of each pattern, ``L`` the Cholesky factor of that
    pattern's matrix: independent standard draws made correlated.

    Examples
    --------
    >>> rows = np.array([[0, 1]])
    >>> correlate_patterns([(rows, None)], [np.array([[1.0, 0.6], [0.6, 1.0]])], np.array([1.0, 1.0])).tolist()
    [1.0, 1.4]
    """
    out = np.empty_like(e)
    for (rows, _), R in zip(patterns, matrices):
        out[rows] = np.einsum("ij,gj...->gi...", np.linalg.cholesky(R), e[rows])
    return out


@dataclass(frozen=True)
class UnstructuredCorrelation:
    """The unstructured correlation of a fit's residuals, and its estimate once fitted.

    Attributes
    ----------
    kind : "us"
    text : str
        The ``residual`` argument as given.
    time_name : str
        The occasion variable.
    group_name : str
    occasions : tuple
        The occasions, in order (the rows and columns of ``C``).
    code : ndarray (n,) of int
        Each row's occasion (its position in ``occasions``).
    group : ndarray (n,) of int
        Each row's group.
    params : ndarray or None
        The unconstrained parameters ``a`` (None before the fit).
    se : ndarray or None
        Their standard errors.
    """

    kind: str
    text: str
    time_name: str
    group_name: str
    occasions: tuple
    code: np.ndarray = field(repr=False)
    group: np.ndarray = field(repr=False)
    group_columns: tuple = ()
    params: np.ndarray | None = None
    se: np.ndarray | None = None

    @property
    def m(self) -> int:
        return len(self.occasions)

    @property
    def nparams(self) -> int:
        return self.m * (self.m - 1) // 2

    @property
    def start(self) -> np.ndarray:
        """The parameters of independent occasions."""
        return np.zeros(self.nparams)

    @property
    def names(self) -> list[str]:
        """``cor(j,k)`` for the lower triangle, column by column (nlme's order)."""
        occ = [str(o) for o in self.occasions]
        return [f"cor({occ[j]},{occ[i]})" for j in range(self.m) for i in range(j + 1, self.m)]

    def correlation(self, params=None) -> np.ndarray:
        """The m x m correlation matrix of ``params`` (the fitted ones by default)."""
        a = self.params if params is None else np.asarray(params, dtype=float)
        z = np.tanh(a)
        m = self.m
        L = np.zeros((m, m))
        L[0, 0] = 1.0
        pos = 0
        Z = np.zeros((m, m))
        for j in range(m):  # column by column, as ``names``
            for i in range(j + 1, m):
                Z[i, j] = z[pos]
                pos += 1
        for i in range(1, m):
            left = 1.0
            for j in range(i):
                L[i, j] = Z[i, j] * np.sqrt(left)
                left -= L[i, j] ** 2
            L[i, i] = np.sqrt(max(left, 0.0))
        C = L @ L.T
        np.fill_diagonal(C, 1.0)
        return C

    def params_of(self, C) -> np.ndarray:
        """The parameters of a positive definite correlation matrix ``C`` (the inverse of
        :meth:`correlation`).

        Examples
        --------
        >>> uc = UnstructuredCorrelation("us", "us(t | g)", "t", "g", (1, 2, 3), np.zeros(3, int), np.zeros(3, int))
        >>> a = np.array([0.3, -0.2, 0.5])
        >>> bool(np.allclose(uc.params_of(uc.correlation(a)), a))
        True
        """
        L = np.linalg.cholesky(np.asarray(C, dtype=float))
        m = self.m
        out = []
        for j in range(m):  # column by column, as ``names``
            for i in range(j + 1, m):
                left = 1.0 - float(np.sum(L[i, :j] ** 2))
                z = L[i, j] / np.sqrt(max(left, 1e-300))
                out.append(np.arctanh(np.clip(z, -1 + 1e-12, 1 - 1e-12)))
        return np.asarray(out)

    def empirical(self, e: np.ndarray) -> np.ndarray:
        """The correlations of residuals ``e`` between occasions (pairwise over the groups that have
        both), shrunk towards the identity until positive definite: a start for the fit.

        Examples
        --------
        >>> import multilevel as ml
        >>> orth = ml.datasets.load("orthodont")
        >>> uc = unstructured_correlation("us(age | Subject)", orth)
        >>> e = (orth["distance"] - orth["distance"].mean()).to_numpy()
        >>> uc.empirical(e).round(2)[1].tolist()
        [0.69, 1.0, 0.49, 0.33]
        """
        m = self.m
        W = np.full((int(self.group.max()) + 1, m), np.nan)
        W[self.group, self.code] = e
        C = np.eye(m)
        for i in range(m):
            for j in range(i):
                ok = np.isfinite(W[:, i]) & np.isfinite(W[:, j])
                if ok.sum() > 2:
                    a, b = W[ok, i], W[ok, j]
                    den = np.sqrt(np.sum(a * a) * np.sum(b * b))
                    C[i, j] = C[j, i] = float(np.sum(a * b) / den) if den > 0 else 0.0
        for shrink in (1.0, 0.9, 0.75, 0.5, 0.25, 0.0):
            S = shrink * C + (1 - shrink) * np.eye(m)
            if np.linalg.eigvalsh(S).min() > 1e-3:
                return S
        return np.eye(m)

    def lower(self, params=None) -> np.ndarray:
        """The lower triangle of the correlation matrix, column by column (as ``names``)."""
        C = self.correlation(params)
        return np.array([C[i, j] for j in range(self.m) for i in range(j + 1, self.m)])

    @cached_property
    def patterns(self) -> list:
        """Per pattern of occasions: (rows (G, m) of its groups, in occasion order; the occasions' positions)."""
        order = np.lexsort((self.code, self.group))
        g = self.group[order]
        starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
        ends = np.r_[starts[1:], g.size]
        by: dict = {}
        for a, b in zip(starts, ends):
            rows = order[a:b]
            by.setdefault(tuple(self.code[rows].tolist()), []).append(rows)
        return [(np.stack(rs), np.asarray(key, dtype=int)) for key, rs in by.items()]

    def matrices(self, params=None) -> list[np.ndarray]:
        """The correlation matrix of each pattern."""
        C = self.correlation(params)
        return [C[np.ix_(pos, pos)] for _, pos in self.patterns]

    def whiten(self, arrays, params=None):
        """``L_g^-1 A`` for each array of ``arrays`` and ``sum_g log |R_g|``."""
        return whiten_patterns(self.patterns, self.matrices(params), arrays)

    def correlate(self, e: np.ndarray, params=None) -> np.ndarray:
        """``L_g e`` per group: independent standard draws made correlated."""
        return correlate_patterns(self.patterns, self.matrices(params), e)

    def with_params(self, params, se=None) -> "UnstructuredCorrelation":
        return replace(self, params=np.asarray(params, dtype=float),
                       se=None if se is None else np.asarray(se, dtype=float))


def unstructured_correlation(spec: str, frame: pd.DataFrame, design=None) -> UnstructuredCorrelation:
    """The unstructured correlation ``"us(occasion | g)"`` on the rows of ``design`` (every
    row of ``frame`` without one), or a one-line error.

    Examples
    --------
    >>> import multilevel as ml
    >>> orth = ml.datasets.load("orthodont")
    >>> unstructured_correlation("us(age | Sex)", orth)
    Traceback (most recent call last):
    ...
    ValueError: residual='us(age | Sex)': two rows of one group of Sex are on the same occasion of age; an unstructured correlation over occasions needs one row per occasion within a group (is the grouping factor the subject?)
    """
    import re

    from .data import check_columns
    from .random import group_codes

    m = re.match(r"^\s*us\s*\((.*)\|(.*)\)\s*$", spec)
    left, right = m.group(1).strip(), m.group(2).strip()
    groups = tuple(c.strip() for c in right.split(":"))
    if not left or left == "1":
        raise ValueError(f"residual={spec!r}: name the occasion variable, e.g. 'us(visit | {right})'")
    if not right or not all(groups):
        raise ValueError(f"residual={spec!r} has no grouping factor after '|'")
    rows = frame if design is None else frame.iloc[np.asarray(design.rows)]
    check_columns([left], rows, f"residual={spec!r} (occasion)")
    check_columns(list(groups), rows, f"residual={spec!r} (grouping factor)")
    if rows[[left, *groups]].isna().to_numpy().any():
        raise ValueError(f"residual={spec!r}: the occasion or grouping factor has missing values in rows the "
                         "model uses; drop those rows first")
    col = rows[left]
    if isinstance(col.dtype, pd.CategoricalDtype):
        used = set(col.astype(object))
        occasions = tuple(c for c in col.cat.categories if c in used)
    elif pd.api.types.is_bool_dtype(col):
        raise ValueError(f"residual={spec!r}: the occasion {left!r} is logical; use a factor of occasions")
    else:
        try:
            occasions = tuple(v.item() if hasattr(v, "item") else v for v in sorted(pd.unique(col)))
        except TypeError:
            raise ValueError(f"residual={spec!r}: the occasion {left!r} mixes numbers and text, so its values "
                             "have no order; make it one type (or a categorical of the occasions)") from None
    if len(occasions) < 2:
        raise ValueError(f"residual={spec!r}: the occasion {left!r} has one value, so there is no correlation "
                         "to estimate")
    index = {o: i for i, o in enumerate(occasions)}
    code = np.array([index[v] for v in col.astype(object)], dtype=int)
    group, _ = group_codes(rows, groups)
    group = np.asarray(group)
    order = np.lexsort((code, group))
    if np.any((np.diff(group[order]) == 0) & (np.diff(code[order]) == 0)):
        raise ValueError(f"residual={spec!r}: two rows of one group of {right} are on the same occasion of "
                         f"{left}; an unstructured correlation over occasions needs one row per occasion within "
                         "a group (is the grouping factor the subject?)")
    if np.bincount(group).max() < 2:
        raise ValueError(f"residual={spec!r}: every group of {right} has one row, so there is no correlation "
                         "to estimate")
    return UnstructuredCorrelation(kind="us", text=spec, time_name=left, group_name=right, occasions=occasions,
                                   code=code, group=group, group_columns=groups)
