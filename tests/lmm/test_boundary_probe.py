"""A derivative-free search that ends with a variance at 0 is probed just off the bound: where
the criterion falls there, the search goes on (a false singular fit otherwise). The data: a
random crossed design on which BOBYQA from the moment start stepped onto theta = 0 from an
interior optimum at 0.027, 0.014 above lme4's REML criterion (12416.322526, theta 0.027021,
0.992497, 0.231536, not singular)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.linalg import ThetaLayout
from multilevel.lmm.fit import off_the_boundary
from multilevel.lmm.optimize import minimize_theta


def _design_3039():
    r = np.random.default_rng(3039)
    nt = r.integers(2, 5)
    nlev = [int(r.integers(150, 500))] + [int(r.integers(5, 400)) for _ in range(nt - 1)]
    n = int(r.integers(800, 5000))
    sds = [float(r.choice([0.03, 0.1, 0.3, 1, 3])) for _ in range(nt)]
    cols = {}
    y = r.normal(size=n) * float(r.choice([0.01, 1, 5]))
    x = r.normal(size=n)
    for j in range(nt):
        p = r.dirichlet(np.ones(nlev[j]) * float(r.choice([0.2, 1, 10])))
        g = r.choice(nlev[j], n, p=p)
        cols[f"g{j}"] = "L" + pd.Series(g).astype(str)
        y = y + r.normal(0, sds[j], nlev[j])[g] * (x if (j == 1 and r.random() < 0.3) else 1)
    return pd.DataFrame(dict(y=y + 0.5 * x, x=x, w=r.uniform(0.1, 4, n), **cols))


@pytest.mark.parametrize("optimizer", ["auto", "bobyqa"])
def test_no_false_singular_fit(optimizer):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ml.lmer("y ~ x + (1|g0) + (1|g1) + (1|g2)", _design_3039(), optimizer=optimizer)
    assert not fit.singular and not [w for w in caught if "singular" in str(w.message)]
    assert fit.objective == pytest.approx(12416.322526, abs=2e-6)  # lme4's REML criterion
    np.testing.assert_allclose(fit.theta.to_numpy(float), [0.027021, 0.992497, 0.231536], atol=2e-5)


def test_a_boundary_optimum_stays():
    lay = ThetaLayout.from_k((1, 1))
    f = lambda x: float(x[0] ** 2 + (x[1] - 1.0) ** 2)  # noqa: E731  (the minimum at 0 is real)
    opt = minimize_theta(f, np.array([0.05, 0.5]), lay.lower)
    assert opt.xopt[0] < 1e-4
    kept = off_the_boundary(f, opt, lay.lower, lay)
    assert kept.xopt is opt.xopt and kept.feval == opt.feval + 2


def test_an_interior_optimum_next_to_the_bound_is_found():
    lay = ThetaLayout.from_k((1, 1))
    # even in x0 with minima at +-0.03; from x0 = 0 (a stationary point) BOBYQA cannot leave
    f = lambda x: float((x[0] ** 2 - 0.03 ** 2) ** 2 * 1e6 + (x[1] - 1.0) ** 2)  # noqa: E731
    opt = minimize_theta(f, np.array([0.0, 0.5]), lay.lower, initial_step=np.array([1e-9, 0.2]))
    assert opt.xopt[0] < 1e-4
    better = off_the_boundary(f, opt, lay.lower, lay)
    assert better.fopt < opt.fopt and better.xopt[0] == pytest.approx(0.03, abs=1e-4)
    assert better.x0.tolist() == opt.x0.tolist() and better.feval > opt.feval
