"""Centred cross-products of parts, summed pairwise: the whole data's, whatever the cut."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import multilevel as ml
from multilevel.design import build_design
from multilevel.linalg.partial import merge_partials, partial_products, recenter

_pen = ml.datasets.load("penicillin")
_FORMULA = "diameter ~ 1 + (1 | plate) + (1 | sample)"
_whole = build_design(_FORMULA, _pen)


def _part(rows):
    """The design of some rows with the whole data's levels."""
    terms = tuple(replace(t, Z=t.Z[rows], codes=t.codes[rows]) for t in _whole.terms)
    return replace(_whole, y=_whole.y[rows], fixed=replace(_whole.fixed, X=_whole.X[rows]), terms=terms)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, len(_pen) - 1), max_size=6, unique=True), shift=st.sampled_from([0.0, 1e9]))
def test_any_cut_sums_to_the_whole(cuts, shift):
    d = replace(_whole, y=_whole.y + shift)
    bounds = [0, *sorted(cuts), len(_pen)]
    parts = [partial_products(replace(_part(np.arange(a, b)), y=d.y[a:b]), (None, None))
             for a, b in zip(bounds[:-1], bounds[1:])]
    total = None
    for p in parts:
        total = merge_partials(total, p)
    whole = partial_products(d, (None, None))
    np.testing.assert_allclose(total.center_xy, whole.center_xy, rtol=1e-14)
    # about the same center, every block agrees to rounding: the response's
    # spread survives a shift of 1e9 (raw sums of squares would keep none of it)
    total = recenter(total, whole.center_xy, whole.center_z)
    for name in ("D0", "Crr", "Crx", "Cxx"):
        np.testing.assert_allclose(getattr(total.cp, name), getattr(whole.cp, name), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(total.cp.Bx0, whole.cp.Bx0, rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(total.cp.Br0.toarray(), whole.cp.Br0.toarray(), rtol=1e-12)
    # the triangular factor of the stacked parts' factors is the whole's (R'R the same)
    np.testing.assert_allclose(total.r_xy.T @ total.r_xy, whole.r_xy.T @ whole.r_xy, rtol=1e-9, atol=1e-7)
    assert total.n == whole.n and all(np.array_equal(a, b) for a, b in zip(total.counts, whole.counts))
    assert total.y_range == (d.y.min(), d.y.max())


def test_empty_parts_add_nothing():
    p = partial_products(_whole, (None, None))
    assert merge_partials(None, p) is p and merge_partials(p, None) is p
