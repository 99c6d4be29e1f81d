"""The compiled one-term criterion against the general numpy factorisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings, strategies as st

import multilevel as ml
from multilevel.design import build_design
from multilevel.linalg import ThetaLayout, cross_products, factorize
from multilevel.linalg.blocked import NotPositiveDefinite
from multilevel.linalg.kernels import available, compiled, one_term_criterion
from multilevel.lmm.objective import LmmObjective, criterion

pytestmark = pytest.mark.skipif(not available(), reason="numba is not installed")


def _simulated(k: int, p: int, weighted: bool, seed: int):
    rng = np.random.default_rng(seed)
    n, g = 240, 20
    df = pd.DataFrame({"g": rng.integers(0, g, n).astype(str)})
    for j in range(max(k, p)):
        df[f"x{j}"] = rng.normal(size=n) * (j + 1)
    df["y"] = rng.normal(size=n) + df["x0"] * 0.5 + rng.normal(size=g)[df["g"].astype(int)]
    fixed = " + ".join(["1"] + [f"x{j}" for j in range(p - 1)])
    rand = " + ".join(["1"] + [f"x{j}" for j in range(k - 1)])
    weights = rng.uniform(0.5, 2.0, n) if weighted else None
    return build_design(f"y ~ {fixed} + ({rand} | g)", df, weights=weights)


def _numpy_value(cp, layout, theta, reml):
    try:
        return float(criterion(factorize(cp, layout, theta), cp, reml))
    except NotPositiveDefinite:
        return np.inf


@settings(max_examples=60, deadline=None)
@given(k=st.integers(1, 4), p=st.integers(1, 4), weighted=st.booleans(), reml=st.booleans(),
       seed=st.integers(0, 10_000), scale=st.floats(0.01, 10.0))
def test_kernel_matches_numpy_factorisation(k, p, weighted, reml, seed, scale):
    design = _simulated(k, p, weighted, seed)
    cp = cross_products(design)
    layout = ThetaLayout.from_k(cp.k)
    rng = np.random.default_rng(seed + 1)
    theta = rng.normal(size=layout.ntheta) * scale
    theta[layout.diagonal] = np.abs(theta[layout.diagonal])
    ours = one_term_criterion(theta, layout.rows[0], layout.cols[0], cp.D0, cp.Bx0, cp.Cxx,
                              cp.n, cp.p, cp.log_weights, reml)
    ref = _numpy_value(cp, layout, theta, reml)
    np.testing.assert_allclose(ours, ref, rtol=1e-11)


def test_boundary_and_zero_theta():
    cp = cross_products(build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy")))
    layout = ThetaLayout.from_k(cp.k)
    for theta in ([0.0, 0.0, 0.0], [1.0, 0.3, 0.0], [0.0, 0.5, 0.2]):
        theta = np.array(theta)
        ours = one_term_criterion(theta, layout.rows[0], layout.cols[0], cp.D0, cp.Bx0, cp.Cxx,
                                  cp.n, cp.p, 0.0, True)
        np.testing.assert_allclose(ours, _numpy_value(cp, layout, theta, True), rtol=1e-11)


def test_not_finite_theta_is_inf_not_an_error():
    cp = cross_products(build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy")))
    layout = ThetaLayout.from_k(cp.k)
    for bad in ([np.nan, 0.0, 1.0], [np.inf, 0.0, 1.0]):
        v = one_term_criterion(np.array(bad), layout.rows[0], layout.cols[0], cp.D0, cp.Bx0, cp.Cxx,
                               cp.n, cp.p, 0.0, False)
        assert v == np.inf


def test_objective_uses_the_one_term_kernel():
    d1 = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    assert LmmObjective.from_design(d1)._best.get("kernel_kind") == "one"


BLOCKED = [
    ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    ("pastes", "strength ~ 1 + (1 | sample) + (1 | batch)"),
    ("verbagg", "Anger ~ Gender + btype + (1 | id) + (1 + situ | item)"),
    ("verbagg", "Anger ~ Gender + (1 | id) + (1 | item) + (0 + Gender | btype)"),
    ("sleepstudy", "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)"),
]


@pytest.fixture(scope="module")
def blocked_designs():
    return [build_design(f, ml.datasets.load(name)) for name, f in BLOCKED]


@settings(max_examples=60, deadline=None)
@given(which=st.integers(0, len(BLOCKED) - 1), reml=st.booleans(), seed=st.integers(0, 10_000),
       scale=st.floats(0.0, 5.0), weighted=st.booleans())
@example(which=2, reml=False, seed=6232, scale=2.3125, weighted=False)  # terms cancelling
def test_blocked_kernel_matches_numpy_factorisation(blocked_designs, which, reml, seed, scale, weighted):
    from dataclasses import replace

    from multilevel.linalg.kernels import blocked_arguments

    design = blocked_designs[which]
    rng = np.random.default_rng(seed)
    if weighted:
        design = replace(design, weights=rng.uniform(0.2, 3.0, design.n))
    cp = cross_products(design)
    layout = ThetaLayout.from_k(cp.k)
    args = blocked_arguments(cp, layout, reml)
    assert args is not None
    theta = rng.normal(size=layout.ntheta) * scale
    theta[layout.diagonal] = np.abs(theta[layout.diagonal])
    ours = compiled("blocked")(theta, *args)
    ref = _numpy_value(cp, layout, theta, reml)
    # summation orders differ: agreement to 1e-8 of the criterion's terms (about 1e-10
    # typically; the fits are compared with lme4 to 1e-6). The criterion is a log-determinant
    # plus n log(pwrss): where they nearly cancel (a response constant within groups and a
    # large theta: +-2,200 summing to 5.45) the rounding of the terms is what is compared.
    try:
        scale = max(abs(ref), abs(factorize(cp, layout, theta).logdet_theta))
    except NotPositiveDefinite:
        scale = abs(ref)
    if np.isfinite(ref):
        assert abs(ours - ref) <= 1e-8 * scale, (ours, ref)
    else:
        assert ours == ref


def test_objective_picks_the_blocked_kernel_for_a_small_rest_only():
    pen = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    assert LmmObjective.from_design(pen)._best.get("kernel_kind") == "blocked"
    ie = build_design("y ~ 1 + (1 | s) + (1 | d)", ml.datasets.load("insteval"))
    assert LmmObjective.from_design(ie)._best.get("kernel") is None


def test_replace_gives_an_independent_objective():
    from dataclasses import replace

    d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    f = LmmObjective.from_design(d, reml=True)
    theta = np.array([0.9667, 0.0152, 0.2309])
    before = f(theta)
    g = replace(f, reml=False)
    assert f(theta) == before and g(theta) != before and f._best is not g._best


def test_wrong_length_theta_is_an_error_not_a_number():
    d = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    f = LmmObjective.from_design(d)
    with pytest.raises(ValueError, match="theta must hold 2 numbers"):
        f(np.array([1.5]))


def _five_point_gradient(fun, theta, h=1e-4):
    """The gradient by the five-point central difference (error of order h^4)."""
    g = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        g[i] = (-fun(theta + 2 * e) + 8 * fun(theta + e) - 8 * fun(theta - e) + fun(theta - 2 * e)) / (12 * h)
    return g


@settings(max_examples=40, deadline=None)
@given(k=st.integers(1, 4), p=st.integers(1, 4), weighted=st.booleans(), reml=st.booleans(),
       seed=st.integers(0, 10_000), scale=st.floats(0.05, 5.0))
def test_gradient_matches_differences_of_the_numpy_criterion(k, p, weighted, reml, seed, scale):
    """The compiled exact gradient against finite differences of the general
    (numpy) factorisation's criterion, an independent code path."""
    design = _simulated(k, p, weighted, seed)
    obj = LmmObjective.from_design(design, reml=reml)
    fg, args = compiled("one_gradient"), obj.gradient_arguments()
    rng = np.random.default_rng(seed + 2)
    theta = rng.normal(size=obj.layout.ntheta) * scale
    theta[obj.layout.diagonal] = np.abs(theta[obj.layout.diagonal]) + 0.05
    grad = np.empty_like(theta)
    value = fg(theta, grad, *args)
    assert value == pytest.approx(_numpy_value(obj.cp, obj.layout, theta, reml), rel=1e-11)
    ref = _five_point_gradient(lambda t: _numpy_value(obj.cp, obj.layout, t, reml), theta)
    np.testing.assert_allclose(grad, ref, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(ref).max()))


def test_gradient_kernel_is_for_one_term_models_only():
    pen = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    assert LmmObjective.from_design(pen).gradient_arguments() is None
    sleep = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    fg, args = compiled("one_gradient"), LmmObjective.from_design(sleep).gradient_arguments()
    grad = np.empty(3)
    assert fg(np.array([np.nan, 0.0, 1.0]), grad, *args) == np.inf
