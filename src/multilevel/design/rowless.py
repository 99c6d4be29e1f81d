"""A design whose rows stay in their parts (data larger than memory).

A fit to a Dask DataFrame or Parquet files keeps the design's names, levels,
specs and shapes on the client, and never its rows. Any tool that reaches for
the rows (``design.y``, ``design.X``, a term's ``Z`` or level codes, the data)
gets a one-line error saying so, instead of computing on an empty array: a
silent wrong answer (a shrinkage table of zeros, an R2 of nothing) is worse
than a refusal.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from .design import Design
from .fixed import FixedDesign
from .random import RandomTerm

__all__ = ["OutOfCoreDesign", "RowlessFixed", "RowlessTerm", "not_in_parts", "require_rows", "rows_not_here"]


def rows_not_here(what: str) -> ValueError:
    """The error for a tool that needs the rows of a fit to data in parts.

    Examples
    --------
    >>> str(rows_not_here("design.y"))[:60]
    'this needs the rows of the data (design.y), which stay in th'
    """
    return ValueError(
        f"this needs the rows of the data ({what}), which stay in their parts for a fit to data in parts (a "
        "Dask DataFrame or Parquet files); it is not available for such a fit: use the estimates (fixef, "
        "varcorr, ranef, coef_table, anova, Wald confint), or compute on a sample in memory")


#: what a fit to data in parts offers instead of a tool that needs every row
USE_ESTIMATES = ("; use the estimates (fixef, varcorr, ranef, coef_table, anova, Wald confint), or fit a "
                 "sample in memory")


def not_in_parts(what: str, advice: str = USE_ESTIMATES) -> ValueError:
    """The error for ``what``, which needs every row of a fit to data in parts, with ``advice``.

    Examples
    --------
    >>> str(not_in_parts("hatvalues()", ""))
    'hatvalues() is not available for a fit to data in parts (a Dask DataFrame or Parquet files): it needs every row on one machine'
    """
    return ValueError(f"{what} is not available for a fit to data in parts (a Dask DataFrame or Parquet "
                      f"files): it needs every row on one machine{advice}")


def require_rows(fit, what: str) -> None:
    """Refuse ``what`` for a fit to data in parts, before any work (tools that
    simulate and refit would otherwise count every refit as failed).

    Examples
    --------
    >>> require_rows(object(), "the bootstrap") is None
    True
    """
    design = getattr(fit, "design", None)
    if design is None:  # (a posterior holds its design in its model)
        design = getattr(getattr(fit, "model", None), "design", None)
    if isinstance(design, OutOfCoreDesign):
        raise not_in_parts(what)


@dataclass(frozen=True, repr=False, eq=False)
class RowlessTerm(RandomTerm):
    """A random-effects term with its names, levels and spec, without rows.

    Examples
    --------
    >>> import pandas as pd
    >>> t = RowlessTerm(group="g", label="g", columns=("(Intercept)",), Z=None, codes=None,
    ...                 levels=pd.Index(["a", "b"]), spec=None, group_columns=("g",))
    >>> t.k, t.q
    (1, 2)
    >>> t.Z
    Traceback (most recent call last):
    ...
    ValueError: this needs the rows of the data (a term's Z), which stay in their parts for a fit to data in parts (a Dask DataFrame or Parquet files); it is not available for such a fit: use the estimates (fixef, varcorr, ranef, coef_table, anova, Wald confint), or compute on a sample in memory
    """

    def __getattribute__(self, name):
        if name in ("Z", "codes"):
            raise rows_not_here(f"a term's {name}")
        return object.__getattribute__(self, name)

    @property
    def k(self) -> int:
        return len(self.columns)

    def __repr__(self) -> str:
        return f"RowlessTerm({self.text}, {self.nlevels} levels)"


@dataclass(frozen=True, repr=False, eq=False)
class RowlessFixed(FixedDesign):
    """The fixed-effects design's names and spec, without ``X``."""

    def __getattribute__(self, name):
        if name == "X":
            raise rows_not_here("the fixed-effects matrix X")
        return object.__getattribute__(self, name)


#: per-row fields; ``data`` reads None (as for a design that keeps no copy of its rows)
_ROWS = frozenset({"y", "X", "rows", "data_index", "weights", "offset"})


@dataclass(frozen=True, repr=False, eq=False)
class OutOfCoreDesign(Design):
    """A :class:`~multilevel.design.Design` of data in parts, without its rows.

    Attributes (besides the design's names, levels and specs)
    ---------------------------------------------------------
    nobs : int
        Rows used.
    source : dask.dataframe.DataFrame or None
        The data, for fitted values, residuals and predictions (lazy).
    schema : Schema
        The levels and encodings learned from the data
        (:mod:`multilevel.design.partitioned`).
    counts : tuple of ndarray
        Per term, the rows of each level.
    keep : ndarray of int
        The fixed-effects columns kept, among all.
    passes : int
        Passes made over the data by the fit.
    has_weights, has_offset : bool
    fingerprint : tuple
        Which data (Dask's token of the collection), response and rows the fit
        used: a likelihood-ratio test compares fits with the same.
    x_factor : ndarray (m, p)
        A triangular factor of the kept fixed-effects columns, centred: the
        variance of the fixed part ``X beta`` is ``|x_factor beta|^2 / (n - 1)``
        (R2, ICC).
    n_data : int
        Rows of positive weight (all rows used without weights): the data, whose statistics
        ``x_factor``, ``z_moments`` and ``z_factors`` are.
    z_moments : tuple of ndarray (k, k)
        Per term, ``Z'Z / n_data`` (unweighted): the mean of ``z_i' Sigma z_i``.
    z_factors : tuple of (ndarray (m, k), ndarray (k, k))
        Per term, ``(R_c, C)`` with ``Z'Z = (R_c C)'(R_c C)``: the centred columns' factor and
        the map that adds the centre back, so that ``z' Sigma z`` can be formed in another
        basis ``B`` as ``R_c (C B)`` without the cancellation of ``B' (Z'Z) B``.
    gram : ndarray (p, p)
        ``X'X`` of the kept columns (type I contrasts).
    sample, sample_X : DataFrame, ndarray
        Up to 5,000 rows of the first part and their ``X``: the codings of
        type III contrasts (refused where they do not determine them).
    """

    nobs: int = 0
    source: object = field(default=None)
    schema: object = field(default=None)
    counts: tuple = field(default=())
    keep: np.ndarray = field(default=None)
    passes: int = 0
    has_weights: bool = False
    has_offset: bool = False
    fingerprint: tuple | None = None
    x_factor: np.ndarray | None = None
    n_data: int | None = None
    z_moments: tuple = ()
    z_factors: tuple = ()
    gram: np.ndarray | None = None
    sample: object = None
    sample_X: np.ndarray | None = None

    def __getattribute__(self, name):
        if name in _ROWS:
            if name in ("weights", "offset") and not object.__getattribute__(self, "has_" + name):
                return None  # (there are none: nothing is held back)
            raise rows_not_here(f"design.{name}")
        return object.__getattribute__(self, name)

    @property
    def n(self) -> int:
        return self.nobs

    @property
    def p(self) -> int:
        return len(self.fixed.names)

    def without_source(self) -> "OutOfCoreDesign":
        """The same design without the Dask collection (to send to workers)."""
        new = copy.copy(self)
        object.__setattr__(new, "source", None)
        return new

    def __repr__(self) -> str:
        return f"OutOfCoreDesign({self.formula.text!r}, {self.nobs} rows in parts)"
