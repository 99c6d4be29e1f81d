"""The pair structure of the first term's coupling: ``P @ vec(M)`` is the lower
triangle of ``B blockdiag(M) B'``, by the compiled loop and by numpy alike."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings, strategies as st

from multilevel.linalg import kernels
from multilevel.linalg.crossprod import pair_product


def _random_coupling(rng, q, n0, k0, density):
    B = sp.random(q, n0 * k0, density=density, random_state=rng, format="csr")
    return B


def _expected(B, M, k0, stride):
    q, n = B.shape
    blocks = sp.block_diag([M[g] for g in range(n // k0)], format="csr")
    G = (B @ blocks @ B.T).toarray()
    out = np.zeros((stride, stride))
    out[:q, :q] = np.tril(G)
    return out


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), q=st.integers(1, 30), n0=st.integers(1, 40),
       k0=st.sampled_from([1, 2]), extra=st.integers(0, 3),
       density=st.sampled_from([0.05, 0.3, 1.0]))
def test_pairs_give_the_lower_triangle_of_the_product(seed, q, n0, k0, extra, density):
    rng = np.random.default_rng(seed)
    B = _random_coupling(rng, q, n0, k0, density)
    M = rng.normal(size=(n0, k0, k0))
    M = M @ np.swapaxes(M, 1, 2)
    pp = pair_product(B, k0, stride=q + extra)
    got = (pp.P @ M.reshape(-1)).reshape(q + extra, q + extra)
    np.testing.assert_allclose(got, _expected(B, M, k0, q + extra), rtol=1e-12, atol=1e-12)
    # the same product formed at each call, without the stored pairs (a first term of one column)
    direct = pair_product(B, k0, stride=q + extra, max_pairs=0)
    assert (direct.P is None) == (k0 == 1 and kernels.available() and B.nnz > 0)
    got = direct.product(M.reshape(-1)).reshape(q + extra, q + extra)
    np.testing.assert_allclose(got, _expected(B, M, k0, q + extra), rtol=1e-12, atol=1e-12)


@pytest.mark.skipif(not kernels.available(), reason="numba is not installed")
def test_compiled_pairs_equal_numpys(monkeypatch):
    rng = np.random.default_rng(5)
    B = _random_coupling(rng, 200, 500, 1, 0.02)
    compiled = pair_product(B, 1, stride=203).P
    monkeypatch.setattr(kernels, "available", lambda: False)
    plain = pair_product(B, 1, stride=203).P
    assert compiled.shape == plain.shape and compiled.nnz == plain.nnz
    np.testing.assert_array_equal(compiled.indptr, plain.indptr)
    np.testing.assert_array_equal(compiled.indices, plain.indices)
    np.testing.assert_array_equal(compiled.data, plain.data)


@pytest.mark.skipif(not kernels.available(), reason="numba is not installed")
def test_fit_without_stored_pairs(monkeypatch):
    """Crossed intercepts whose pairs are not stored (more than MAX_PAIRS): the same optimum
    (found by BOBYQA, as the exact gradient reads the stored pairs)."""
    import pandas as pd

    import multilevel as ml

    r = np.random.default_rng(4)
    n = 3000
    d = pd.DataFrame({"u": r.integers(0, 500, n), "i": r.integers(0, 250, n), "x": r.standard_normal(n)})
    d["y"] = r.standard_normal(500)[d.u] + 0.5 * r.standard_normal(250)[d.i] + d.x + r.standard_normal(n)
    ref = ml.lmer("y ~ x + (1 | u) + (1 | i)", d)
    monkeypatch.setattr("multilevel.linalg.crossprod.MAX_PAIRS", 0)
    got = ml.lmer("y ~ x + (1 | u) + (1 | i)", d)
    assert got.optinfo.optimizer == "bobyqa" and ref.optinfo.optimizer != "bobyqa"
    assert got.objective == pytest.approx(ref.objective, rel=1e-9)
    np.testing.assert_allclose(got.theta, ref.theta, rtol=1e-4)
    np.testing.assert_allclose(got.fixef, ref.fixef, rtol=1e-6)
