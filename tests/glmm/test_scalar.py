"""The compiled weighted PLS solve of all-scalar-term designs against the
numpy (bincount) path and against the general blocked factorisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import multilevel as ml
from multilevel.design import build_design
from multilevel.glmm.scalar import COMPILED_REST, scalar_terms
from multilevel.linalg import NotPositiveDefinite, ThetaLayout, cross_products, factorize, kernels
from multilevel.lmm.objective import solve_effects

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")


def _design(n_terms: int, slopes: bool, crossed: bool, p: int, seed: int):
    rng = np.random.default_rng(seed)
    n = 300
    df = pd.DataFrame({"y": rng.normal(size=n)})
    sizes = [40, 8, 5][:n_terms]
    for t, size in enumerate(sizes):
        if crossed or t == 0:
            codes = rng.integers(0, size, n)
        else:  # nested in the first term's levels
            codes = (df["g0"].cat.codes.to_numpy() * size // 40 + rng.integers(0, 2, n)) % size
        df[f"g{t}"] = pd.Categorical(codes.astype(str))
        df[f"z{t}"] = rng.normal(size=n) + 1.0
    for j in range(p):
        df[f"x{j}"] = rng.normal(size=n) * (j + 1)
    fixed = " + ".join(["1"] + [f"x{j}" for j in range(p - 1)])
    bars = " + ".join(f"(0 + z{t} | g{t})" if slopes else f"(1 | g{t})" for t in range(n_terms))
    return build_design(f"y ~ {fixed} + {bars}", df)


@settings(max_examples=40, deadline=None)
@given(n_terms=st.integers(1, 3), slopes=st.booleans(), crossed=st.booleans(), p=st.integers(1, 4),
       with_beta=st.booleans(), logdet_only=st.booleans(), seed=st.integers(0, 10_000),
       scale=st.floats(0.05, 5.0))
def test_compiled_solve_matches_numpy_and_blocked_factor(n_terms, slopes, crossed, p, with_beta,
                                                        logdet_only, seed, scale):
    design = _design(n_terms, slopes, crossed, p, seed)
    terms = scalar_terms(design)
    assert terms is not None and terms._kernel_arguments is not None
    rng = np.random.default_rng(seed + 1)
    theta = np.abs(rng.normal(size=n_terms)) * scale
    z = rng.normal(size=design.n)
    w = rng.uniform(0.05, 2.0, design.n)
    beta, u, logdet = terms.solve(theta, z, w, with_beta, logdet_only=logdet_only)
    pn = design.p if with_beta and not logdet_only else 0
    beta_ref, u_ref, logdet_ref = terms._solve_numpy(theta, z, w, pn, logdet_only)
    np.testing.assert_allclose(logdet, logdet_ref, rtol=1e-11)
    np.testing.assert_allclose(beta, beta_ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(u, u_ref, rtol=1e-8, atol=1e-10)
    if with_beta and not logdet_only:
        # the general blocked factorisation of the same weighted system
        from dataclasses import replace

        cp = cross_products(replace(design, y=z, weights=w))
        fac = factorize(cp, ThetaLayout.from_k(cp.k), theta)
        b2, u0, ur = solve_effects(fac, cp)
        np.testing.assert_allclose(beta, b2, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(u, np.concatenate([u0, ur]), rtol=1e-7, atol=1e-9)
        # (absolutely too: a log-determinant near 0, 4.6e-7 at a small theta, has no relative digits to spare)
        np.testing.assert_allclose(logdet, fac.logdet_theta, rtol=1e-10, atol=1e-12)


def test_crossed_persons_and_items_use_the_dense_coupling():
    va = ml.datasets.load("verbagg").assign(y=lambda d: (d.r2 == "Y").astype(float))
    terms = scalar_terms(build_design("y ~ Anger + (1 | id) + (1 | item)", va))
    assert terms._kernel_arguments[1]  # every (person, item) pair occurs


def test_many_other_levels_keep_the_numpy_path():
    rng = np.random.default_rng(0)
    n = 2000
    df = pd.DataFrame({"y": rng.normal(size=n), "a": rng.integers(0, 300, n).astype(str),
                       "b": rng.integers(0, COMPILED_REST + 50, n).astype(str)})
    terms = scalar_terms(build_design("y ~ 1 + (1 | a) + (1 | b)", df))
    assert terms._kernel_arguments is None
    beta, u, logdet = terms.solve(np.array([1.0, 0.5]), df["y"].to_numpy(), np.ones(n), True)
    assert beta.shape == (1,) and np.isfinite(logdet)


def test_weights_that_are_not_finite_are_reported():
    design = _design(2, False, True, 2, 3)
    terms = scalar_terms(design)
    w = np.ones(design.n)
    w[0] = np.inf
    with pytest.raises(NotPositiveDefinite):
        terms.solve(np.array([1.0, 1.0]), np.zeros(design.n), w, True)
