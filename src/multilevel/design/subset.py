"""A design restricted to some of its rows, without building it again from the formula.

Leave-one-out refits (influence diagnostics) need the design of the data
without a group or a row many times over: slicing the arrays, and dropping
the levels that no row uses any more (as R drops unused factor levels when a
model is refitted to a subset), costs microseconds where formula parsing and
model-matrix building cost milliseconds.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

__all__ = ["subset_design"]


def subset_design(design, keep: np.ndarray):
    """The design of the rows where ``keep`` is true (a boolean mask over ``design.n``).

    Returns None when the fixed-effects matrix of those rows loses rank (a
    column such as a factor level or a group-level predictor no longer varies),
    where the design must be built again from the formula so that the aliased
    column is dropped as lme4 would.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> s = subset_design(d, d.terms[0].codes != 0)
    >>> s.n, s.terms[0].nlevels, s.terms[0].levels[0]
    (170, 17, '309')
    """
    keep = np.asarray(keep, dtype=bool)
    X = np.ascontiguousarray(design.X[keep])
    if X.shape[1] and np.linalg.matrix_rank(X) < X.shape[1]:
        return None
    terms = []
    for t in design.terms:
        codes = t.codes[keep]
        used = np.unique(codes)
        remap = np.full(t.nlevels, -1, dtype=codes.dtype)
        remap[used] = np.arange(used.size, dtype=codes.dtype)
        terms.append(replace(t, Z=np.ascontiguousarray(t.Z[keep]), codes=remap[codes],
                             levels=t.levels[used]))
    data = design.data
    return replace(
        design, y=design.y[keep], fixed=replace(design.fixed, X=X), terms=tuple(terms),
        weights=None if design.weights is None else design.weights[keep],
        offset=None if design.offset is None else design.offset[keep],
        rows=design.rows[keep], data_index=design.data_index[keep],
        data=None if data is None else data.iloc[np.flatnonzero(keep)],
        dispersion=None if design.dispersion is None else design.dispersion.subset(keep),
        residual=None if design.residual is None else design.residual.subset(keep))
