"""Count-based weighted cross-products against the sparse construction."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import multilevel as ml
from multilevel.design import build_design
from multilevel.linalg import ThetaLayout, cross_products, factorize
from multilevel.linalg.blocked import _rest_lambda_t, rest_coupling
from multilevel.linalg.crossprod import weighted_products

FORMULAS = [
    "y ~ Anger + Gender + btype + situ + (1 + Anger | item) + (1 | id)",
    "y ~ Anger + (1 | id) + (1 | item) + (0 + Anger | btype)",
    "y ~ 1 + (1 | item) + (1 | id)",
    "y ~ Anger + (1 + Anger || item) + (1 | id)",
]


@pytest.fixture(scope="module")
def verbagg():
    return ml.datasets.load("verbagg").assign(y=lambda d: (d.r2 == "Y").astype(float))


@pytest.mark.parametrize("formula", FORMULAS)
def test_products_match_the_sparse_construction(verbagg, formula):
    d = build_design(formula, verbagg)
    wp = weighted_products(d)
    assert wp is not None
    rng = np.random.default_rng(7)
    for _ in range(3):
        w = rng.uniform(0.0, 2.0, d.n)
        w[rng.integers(0, d.n, 20)] = 0.0  # zero weights count as nothing
        z = rng.normal(size=d.n) * 3.0
        ours, ref = wp(z, w), cross_products(replace(d, y=z, weights=w), counts=False)
        for name in ("D0", "Bx0", "Crr", "Crx", "Cxx"):
            a, b = getattr(ours, name), getattr(ref, name)
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.abs(b).max(), err_msg=name)
        np.testing.assert_allclose(ours.Br0_dense, ref.Br0.toarray(), rtol=1e-12, atol=1e-12)
        assert ours.log_weights == pytest.approx(ref.log_weights, rel=1e-12)
        # the same factor and coupling from either
        layout = ThetaLayout.from_k(ref.k)
        theta = np.abs(rng.normal(size=layout.ntheta)) + 0.1
        fa, fb = factorize(ours, layout, theta), factorize(ref, layout, theta)
        np.testing.assert_allclose(fa.L11, fb.L11, rtol=1e-9, atol=1e-9)
        Wa, Wb = rest_coupling(ours, fa), rest_coupling(ref, fb)
        Wb = Wb.toarray() if hasattr(Wb, "toarray") else Wb
        np.testing.assert_allclose(Wa, Wb, rtol=1e-9, atol=1e-9)


def test_not_for_one_term_or_a_large_rest():
    s = ml.datasets.load("sleepstudy")
    assert weighted_products(build_design("Reaction ~ Days + (Days | Subject)", s)) is None
    ie = ml.datasets.load("insteval")
    assert weighted_products(build_design("y ~ 1 + (1 | s) + (1 | d)", ie)) is None


def test_dense_lambda_equals_the_sparse_kron(verbagg):
    import scipy.sparse as sp

    d = build_design(FORMULAS[0], verbagg)
    cp = cross_products(d, counts=False)
    T = ThetaLayout.from_k(cp.k).factors(np.array([0.7, 1.3, -0.4, 0.9]))
    dense = _rest_lambda_t(cp, T)
    blocks = [sp.kron(sp.identity(nl), sp.csr_matrix(Tj.T)) for Tj, nl in zip(T[1:], cp.nlevels[1:])]
    np.testing.assert_array_equal(dense, sp.block_diag(blocks).toarray())


def test_cross_products_count_where_they_can(verbagg):
    d = build_design(FORMULAS[0], verbagg)
    counted, sparse = cross_products(d), cross_products(d, counts=False)
    assert counted.Br0_dense is not None and isinstance(counted.Br0, np.ndarray)
    for name in ("D0", "Bx0", "Crr", "Crx", "Cxx"):
        np.testing.assert_allclose(getattr(counted, name), getattr(sparse, name), rtol=1e-12,
                                   atol=1e-12 * np.abs(getattr(sparse, name)).max())
