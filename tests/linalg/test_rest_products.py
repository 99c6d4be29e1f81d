"""The other terms' own products ``Crr`` kept sparse (beyond SPARSE_CRR random effects): the
same fits as with the dense array, in memory and on data in parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import multilevel as ml
from multilevel.design import build_design
from multilevel.linalg import crossprod, cross_products


def _data(seed=11, n=2500):
    r = np.random.default_rng(seed)
    d = pd.DataFrame({"u": r.integers(0, 400, n), "i": r.integers(0, 230, n), "j": r.integers(0, 30, n),
                      "x": r.standard_normal(n)})
    d["y"] = (r.standard_normal(400)[d.u] + 0.5 * r.standard_normal(230)[d.i] + 0.4 * r.standard_normal(30)[d.j]
              + (1 + 0.3 * r.standard_normal(30)[d.j]) * d.x + r.standard_normal(n))
    return d


@pytest.mark.parametrize("formula", ["y ~ x + (1 | u) + (1 | i)", "y ~ x + (1 | u) + (1 | i) + (1 + x | j)"])
def test_sparse_rest_products_give_the_dense_fit(monkeypatch, formula):
    d = _data()
    ref = ml.lmer(formula, d)
    assert not sp.issparse(cross_products(build_design(formula, d)).Crr)
    monkeypatch.setattr(crossprod, "SPARSE_CRR", 0)
    assert sp.issparse(cross_products(build_design(formula, d)).Crr)
    got = ml.lmer(formula, d)
    assert got.objective == pytest.approx(ref.objective, rel=1e-12)
    np.testing.assert_allclose(got.theta, ref.theta, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(got.fixef, ref.fixef, rtol=1e-8)


def test_sparse_rest_products_on_data_in_parts(monkeypatch):
    dd = pytest.importorskip("dask.dataframe")
    import dask

    d = _data(seed=12)
    formula = "y ~ x + (1 | u) + (1 | i) + (1 + x | j)"
    ref = ml.lmer(formula, d, reml=False)
    monkeypatch.setattr(crossprod, "SPARSE_CRR", 0)
    with dask.config.set(scheduler="threads"):
        got = ml.lmer(formula, dd.from_pandas(d, npartitions=3), reml=False)
    assert got.objective == pytest.approx(ref.objective, rel=1e-10)
    np.testing.assert_allclose(got.fixef, ref.fixef, rtol=1e-6)
