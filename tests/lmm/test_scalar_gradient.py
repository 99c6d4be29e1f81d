"""The exact gradient of the profiled criterion for models of scalar terms only
(crossed and nested intercepts): against central differences of the criterion,
and the L-BFGS-B search that uses it against BOBYQA."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.design import build_design, standardize
from multilevel.linalg import ThetaLayout, cross_products
from multilevel.lmm.gradient import applies
from multilevel.lmm.objective import LmmObjective


def _crossed(seed=1, n=3000, sd_b=0.6):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 300, n)
    b = rng.integers(0, 250, n)
    c = rng.integers(0, 40, n)
    x = rng.normal(size=n)
    y = (1 + x + rng.normal(size=300)[a] * 0.8 + sd_b * rng.normal(size=250)[b]
         + 0.3 * x * rng.normal(size=40)[c] + rng.normal(size=n))
    return pd.DataFrame({"a": a.astype(str), "b": b.astype(str), "c": c.astype(str), "x": x * 40,
                         "y": y * 100, "w": rng.uniform(0.5, 2.0, n)})


CASES = [
    ("y ~ x + (1 | a) + (1 | b)", None),
    ("y ~ x + (1 | a) + (1 | b) + (1 | c)", None),
    ("y ~ x + (1 | a) + (1 | b) + (0 + x | c)", "w"),
]


def _objective(formula, weights, reml):
    design = build_design(formula, _crossed(), weights=weights)
    _, inner = standardize(design)
    return LmmObjective.from_design(inner, reml=reml)


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize("formula,weights", CASES)
def test_gradient_equals_central_differences(formula, weights, reml):
    obj = _objective(formula, weights, reml)
    assert obj.cp.pairs is not None  # the pair structure's route
    theta = np.linspace(0.3, 0.9, obj.layout.ntheta)
    f, g = obj.value_and_gradient(theta)
    assert f == pytest.approx(obj(theta), rel=1e-14)
    h = 1e-5
    fd = np.array([(obj(theta + h * e) - obj(theta - h * e)) / (2 * h) for e in np.eye(theta.size)])
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())


@pytest.mark.parametrize("reml", [False, True])
def test_gradient_of_a_dense_coupling(reml):
    # few random effects in the other term: B is held densely
    design = build_design("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))
    obj = LmmObjective.from_design(design, reml=reml)
    assert obj.cp.pairs is None
    for theta in (np.array([1.5, 3.5]), np.array([0.2, 0.05])):
        _, g = obj.value_and_gradient(theta)
        # (the compiled criterion's rounding, about 1e-12 relative, limits the step)
        h = 1e-4
        fd = np.array([(obj(theta + h * e) - obj(theta - h * e)) / (2 * h) for e in np.eye(2)])
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-5 * np.abs(fd).max())


def test_gradient_vanishes_where_a_variance_is_zero():
    obj = _objective(CASES[1][0], None, True)
    f, g = obj.value_and_gradient(np.array([0.5, 0.0, 0.4]))
    assert g[1] == 0.0 and np.all(np.isfinite(g))
    # the criterion is even in each theta: its rise from 0 is second order
    rise = [obj(np.array([0.5, h, 0.4])) - f for h in (1e-3, 5e-4)]
    assert rise[0] / rise[1] == pytest.approx(4.0, rel=1e-2)


def test_which_models_it_covers():
    data = _crossed()
    for formula, covered in [("y ~ x + (1 | a) + (1 | b)", True), ("y ~ x + (1 | a)", False),
                             ("y ~ x + (x | a) + (1 | b)", False), ("y ~ x + (1 | a) + (1 | a:b)", True),
                             ("y ~ x + (x || a) + (1 | b)", True)]:
        d = build_design(formula, data)
        assert applies(cross_products(d), ThetaLayout.from_terms(d.terms)) is covered, formula


@pytest.mark.parametrize("reml", [False, True])
@pytest.mark.parametrize("formula,weights", CASES)
def test_search_reaches_bobyqas_optimum_or_lower(formula, weights, reml):
    data = _crossed()
    fit = ml.lmer(formula, data, reml=reml, weights=weights)
    ref = ml.lmer(formula, data, reml=reml, weights=weights, optimizer="bobyqa")
    assert fit.optinfo.optimizer == "quasi-newton"
    assert fit.optinfo.feval < ref.optinfo.feval
    assert fit.objective <= ref.objective + 1e-9 * abs(ref.objective)
    np.testing.assert_allclose(fit.theta, ref.theta, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-6)
    np.testing.assert_allclose(fit.varcorr["std_dev"].to_numpy(float),
                               ref.varcorr["std_dev"].to_numpy(float), rtol=1e-4)
    assert fit.messages == ()


def test_a_variance_going_to_zero_is_left_to_bobyqa():
    data = _crossed(sd_b=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer("y ~ x + (1 | a) + (1 | b)", data, reml=False)
        ref = ml.lmer("y ~ x + (1 | a) + (1 | b)", data, reml=False, optimizer="bobyqa")
    assert fit.singular and ref.singular and float(fit.theta.iloc[1]) == 0.0
    assert fit.optinfo.optimizer == "bobyqa"
    assert fit.objective == pytest.approx(ref.objective, rel=1e-10)
    assert fit.optinfo.feval > ref.optinfo.feval  # (the gradient search's evaluations are counted too)


def test_a_step_onto_the_bound_does_not_end_the_search():
    # L-BFGS-B's first steps project theta_b onto 0 on the way to an optimum far from it
    # (0.52): the search goes on, where it used to hand the fit to BOBYQA
    rng = np.random.default_rng(46)
    n, na, nb = 4000, 300, 250
    a, b = rng.integers(0, na, n), rng.integers(0, nb, n)
    x, z = rng.normal(size=n), rng.uniform(size=n)
    y = 2 + 0.5 * x - z + rng.normal(0, 1.0, na)[a] + rng.normal(0, 0.5, nb)[b] + rng.normal(size=n)
    d = pd.DataFrame(dict(y=y, x=x, z=z, a="a" + pd.Series(a).astype(str), b="b" + pd.Series(b).astype(str)))
    fit = ml.lmer("y ~ x + z + (1 | a) + (1 | b)", d)
    ref = ml.lmer("y ~ x + z + (1 | a) + (1 | b)", d, optimizer="bobyqa")
    assert fit.optinfo.optimizer == "quasi-newton"
    assert fit.objective <= ref.objective + 1e-9 * abs(ref.objective)
    assert fit.theta.min() > 0.3
