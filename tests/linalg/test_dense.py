"""Large dense blocks factorised in blocks (OpenBLAS's threaded dpotrf fails on more than
about 15,600 rows): the same factor and the same fits as one LAPACK call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.linalg

import multilevel as ml
from multilevel.linalg import blocked
from multilevel.linalg.dense import cholesky_lower


@pytest.mark.parametrize("n, limit", [(9, 4), (64, 7), (101, 30), (5, 10), (37, 5)])
def test_blocked_factor_equals_lapack(n, limit):
    rng = np.random.default_rng(n)
    G = rng.standard_normal((n, n))
    A = G @ G.T + n * np.eye(n)
    ref = np.linalg.cholesky(A)
    L, info = cholesky_lower(np.tril(A), limit=limit)
    assert info == 0
    np.testing.assert_allclose(L, ref, rtol=1e-10, atol=1e-12)
    S = np.tril(A)  # C order, lower triangle: the factor written into S.T's memory
    L, info = cholesky_lower(S, out=S.T, limit=limit)
    assert info == 0 and np.shares_memory(L, S)
    np.testing.assert_allclose(L, ref, rtol=1e-10, atol=1e-12)
    for at in sorted({0, n // 2, n - 2, (3 * n) // 5}):
        bad = A.copy()
        bad[at, at] = -1e3  # the first leading minor that fails, in any block: LAPACK's info
        want = scipy.linalg.lapack.dpotrf(bad, lower=1)[1]
        S = np.tril(bad)
        assert cholesky_lower(S, out=S.T, limit=limit)[1] == want == at + 1


def _crossed(seed=3, n=3000):
    r = np.random.default_rng(seed)
    d = pd.DataFrame({"u": r.integers(0, 600, n), "i": r.integers(0, 250, n), "x": r.standard_normal(n)})
    d["y"] = r.standard_normal(600)[d.u] + 0.5 * r.standard_normal(250)[d.i] + d.x + r.standard_normal(n)
    return d


def test_blocked_factor_with_the_exact_gradient(monkeypatch):
    """Crossed intercepts with 250 levels in the dense block (searched with the exact
    gradient, whose inverse comes from the factor), factorised in blocks of 100 rows."""
    d = _crossed()
    ref = ml.lmer("y ~ x + (1 | u) + (1 | i)", d, reml=False)
    assert ref.optinfo.optimizer != "bobyqa"
    monkeypatch.setattr(blocked, "LARGE", 100)
    monkeypatch.setattr("multilevel.linalg.dense.LARGE", 100)
    got = ml.lmer("y ~ x + (1 | u) + (1 | i)", d, reml=False)
    assert got.objective == pytest.approx(ref.objective, rel=1e-12)
    np.testing.assert_allclose(got.theta, ref.theta, rtol=1e-6)
    np.testing.assert_allclose(got.fixef, ref.fixef, rtol=1e-8)


def test_blocked_factor_beyond_large_searched_by_bobyqa(monkeypatch):
    """Beyond LARGE rows the search is BOBYQA's (the inverse the gradient needs would run on one
    thread): lme4's REML criterion on penicillin with blocks of 3 rows, and the crossed model's
    optimum of the exact-gradient search."""
    d = _crossed()
    ref = ml.lmer("y ~ x + (1 | u) + (1 | i)", d, reml=False)
    monkeypatch.setattr(blocked, "LARGE", 3)
    monkeypatch.setattr("multilevel.linalg.dense.LARGE", 3)
    monkeypatch.setattr("multilevel.lmm.fit.LARGE", 3)
    got = ml.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    assert got.objective == pytest.approx(330.860588999604, rel=1e-9)  # lme4
    np.testing.assert_allclose(got.theta, [1.53967555430648, 3.51251885988167], rtol=2e-4)
    monkeypatch.setattr("multilevel.lmm.fit.LARGE", 100)
    got = ml.lmer("y ~ x + (1 | u) + (1 | i)", d, reml=False)
    assert got.optinfo.optimizer == "bobyqa" and ref.optinfo.optimizer != "bobyqa"
    assert got.objective == pytest.approx(ref.objective, rel=1e-9)
