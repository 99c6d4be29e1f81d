"""The compiled BFGS with the exact gradient: same optima as BOBYQA (tighter),
BOBYQA where the optimum is on the boundary, and refits of its fits."""

from __future__ import annotations

import types
import warnings
from pathlib import Path

import numba
import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.linalg.kernels import available
from multilevel.linalg import kernels
from multilevel.lmm.quasi_newton import AT_BOUND, CONVERGED

pytestmark = pytest.mark.skipif(not available(), reason="numba is not installed")

MODELS = [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", True),
    ("sleepstudy", "Reaction ~ Days + (1 | Subject)", False),
    ("gcsemv", "course ~ 1 + female + (1 + female | school)", False),
    ("hsb82", "mAch ~ 1 + ses + (1 + ses | school)", True),
    ("sleepstudy", "Reaction ~ Days + I(Days**2) + (Days + I(Days**2) | Subject)", True),
]


@pytest.mark.parametrize("name,formula,reml", MODELS)
def test_same_optimum_as_bobyqa_and_no_higher(name, formula, reml):
    data = ml.datasets.load(name)
    fit = ml.lmer(formula, data, reml=reml)
    ref = ml.lmer(formula, data, reml=reml, optimizer="bobyqa")
    assert fit.optinfo.optimizer == "quasi-newton"
    assert ref.optinfo.optimizer == "bobyqa"
    # BOBYQA stops within its tolerance above the optimum; BFGS's gradient is below 1e-9 relative
    assert fit.objective <= ref.objective + 1e-9 * abs(ref.objective)
    np.testing.assert_allclose(fit.theta, ref.theta, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-6)
    assert fit.messages == ()


def _no_group_variance(seed=3):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(30), 8)
    x = rng.normal(size=g.size)
    return pd.DataFrame({"y": 1 + x + rng.normal(size=g.size), "x": x, "g": g.astype(str)})


def test_boundary_optimum_falls_back_to_bobyqa_from_the_same_start():
    df = _no_group_variance()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer("y ~ x + (x | g)", df)
        ref = ml.lmer("y ~ x + (x | g)", df, optimizer="bobyqa")
    assert fit.optinfo.optimizer == "bobyqa"
    assert fit.singular and ref.singular
    np.testing.assert_array_equal(fit.theta, ref.theta)
    assert fit.objective == ref.objective
    assert fit.optinfo.feval > ref.optinfo.feval  # the quasi-Newton's evaluations are counted too


def test_refit_bootstrap_and_archive_of_a_quasi_newton_fit(tmp_path):
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    assert fit.optinfo.optimizer == "quasi-newton"
    ml_fit = fit.refit(reml=False)
    assert ml_fit.optinfo.optimizer == "quasi-newton"
    assert ml_fit.objective == pytest.approx(1751.939, abs=1e-3)  # lme4's ML deviance
    boot = ml.bootstrap(fit, nsim=5, seed=1, n_jobs=1)
    assert np.all(np.isfinite(boot.draws.to_numpy(dtype=float)))
    assert not boot.failures
    path = fit.save(tmp_path / "fit.mlz")
    back = ml.load(path)
    assert back.optinfo.optimizer == "quasi-newton"
    np.testing.assert_array_equal(back.theta, fit.theta)


def test_explicit_optimizer_is_used_as_asked():
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), optimizer="nelder-mead")
    assert fit.optinfo.optimizer == "nelder-mead"


def _quadratic(x, g, centre, scale):
    f = 0.0
    for i in range(x.size):
        d = x[i] - centre[i]
        f += scale[i] * d * d
        g[i] = 2.0 * scale[i] * d
    return f + 1.0


def _bfgs_on(fg):
    """The same compiled BFGS code with ``fg`` in place of the criterion kernel."""
    code = kernels._bfgs_one_term.__code__
    return numba.njit(types.FunctionType(code, {**vars(kernels), "_criterion_gradient": numba.njit(fg)}))


def test_bfgs_reaches_an_interior_minimum_and_stops_at_a_bound():
    bfgs = _bfgs_on(_quadratic)
    lower = np.array([0.0, -np.inf, 0.0])
    x0 = np.array([1.0, 0.0, 1.0])
    args = (np.array([2.0, -1.0, 0.5]), np.array([1.0, 10.0, 100.0]))
    x, f, grad, nfev, status = bfgs(x0, lower, args, 200, 1e-12)
    assert status == CONVERGED
    np.testing.assert_allclose(x, args[0], atol=1e-9)
    assert f == pytest.approx(1.0, abs=1e-12)
    assert np.abs(grad).max() < 1e-10
    # a minimum outside the bounds: the iterates stop at the bound and say so
    args = (np.array([2.0, -1.0, -0.5]), np.array([1.0, 10.0, 100.0]))
    x, f, grad, nfev, status = bfgs(x0, lower, args, 200, 1e-12)
    assert status == AT_BOUND
    assert np.all(x >= lower)


def test_a_start_on_the_boundary_is_not_taken_for_the_optimum():
    """The criterion's derivative in a diagonal element at zero vanishes by
    symmetry (it depends on T T'): a start there goes to BOBYQA, which leaves it."""
    d = ml.datasets.load("sleepstudy")
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", d, start=[0.0])
    assert fit.objective == pytest.approx(1786.465, abs=1e-3) and not fit.singular
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", d, start=[0.9667, 0.0152, 0.0])
    assert fit.objective == pytest.approx(1743.628, abs=1e-3) and not fit.singular


def test_fallback_keeps_going_from_a_much_better_quasi_newton_point():
    """Where BOBYQA from the start stops at a local optimum that BFGS (heading for
    the bound) got far below, the fit goes on from BFGS's point. The data (37
    rows, found by a random search) make BOBYQA alone stop at 384.60 and
    Nelder-Mead reach 242.50."""
    df = pd.read_csv(Path(__file__).with_name("local_optimum.csv"), dtype={"g": str})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = ml.lmer("y ~ x1 + x2 + (x1 | g)", df, weights="w")
        nm = ml.lmer("y ~ x1 + x2 + (x1 | g)", df, weights="w", optimizer="nelder-mead")
        bob = ml.lmer("y ~ x1 + x2 + (x1 | g)", df, weights="w", optimizer="bobyqa")
    assert bob.objective == pytest.approx(384.6039, abs=1e-3)
    assert auto.objective == pytest.approx(nm.objective, abs=1e-6)
    assert auto.objective == pytest.approx(242.4988, abs=1e-3)
