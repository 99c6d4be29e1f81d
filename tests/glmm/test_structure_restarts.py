"""A structured term whose SDs reach 0 with its correlation anywhere: the fit
searches again with the correlation near either end of its interval, and keeps
the lower optimum. On a Bernoulli response the cs term's optimum lies at rho -> 1
(the random intercept model, which cs nests); from rho = 0 BOBYQA stopped at the
SD = 0 edge (the GLM), 0.28 log-likelihood units below glmmTMB."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.design.structure import structure
from multilevel.linalg import ThetaLayout
from multilevel.lmm.optimize import best_of_restarts, minimize_theta

REF = Path(__file__).resolve().parents[1] / "reference"
MODELS = {m["id"]: m for m in json.loads((REF / "glmmtmb_cs_bernoulli.json").read_text())["models"]}


@pytest.fixture(scope="module")
def data():
    d = pd.read_csv(REF / "data" / "cs_bernoulli.csv")
    d["occ"] = pd.Categorical(d["occ"], categories=[f"t{i}" for i in range(1, 6)], ordered=True)
    return d


@pytest.mark.parametrize("model", ["cs", "hcs", "ar1", "intercept"])
def test_bernoulli_structured_fits_reach_glmmtmbs_optimum(data, model):
    ref = MODELS[model]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (hcs: two SDs at 0, a singular fit, as glmmTMB's)
        fit = ml.glmer(ref["formula"], data, family="binomial")
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-6, abs=1e-5)
    np.testing.assert_allclose(fit.fixef.to_numpy(float), list(ref["fixef"].values()), rtol=2e-3, atol=2e-4)


def test_hcs_with_one_sd_left_searches_again():
    ref = MODELS["hcs_one_sd"]
    d = pd.read_csv(REF / "data" / "hcs_one_sd.csv")
    d["occf"] = pd.Categorical(d["occf"], categories=[f"o{i}" for i in range(1, 5)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.glmer(ref["formula"], d, family="binomial")
    # (it had stopped at SDs 0, 0.377, 0.0002, 0: -293.8684)
    assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-7)
    np.testing.assert_allclose(fit.fixef.to_numpy(float), list(ref["fixef"].values()), rtol=2e-3, atol=2e-4)


def test_cs_is_not_reported_as_a_zero_sd(data):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ml.glmer("yb ~ x + cs(0 + occ | id)", data, family="binomial")
    # the optimum is cs's limit at rho = 1, the random intercept model: an SD of 0.388, with
    # the correlation at 1 (reported so where the search reaches it), not an SD of 0
    assert float(fit.theta.iloc[0]) == pytest.approx(0.388, abs=2e-3)
    assert all("its correlation at 1" in str(w.message) for w in caught if "singular" in str(w.message))
    assert fit.loglik >= MODELS["intercept"]["loglik"] - 1e-5


def test_restarts_only_where_an_sd_reached_zero():
    lay = ThetaLayout.from_k((1, 5, 5), (None, structure("cs", 5), structure("ar1", 5)))
    assert lay.restarts(np.array([0.0, 0.4, -1.0, 0.5, 0.2]), 1e-4) == []  # (an unstructured zero)
    starts = lay.restarts(np.array([0.3, 0.0, -1.0, 0.5, 0.2]), 1e-4)
    assert len(starts) == 2
    for x in starts:
        np.testing.assert_array_equal(x[[0, 3, 4]], [0.3, 0.5, 0.2])  # the other terms kept
        assert x[1] == 1.0
    rhos = sorted(structure("cs", 5).rho(x[2]) for x in starts)
    assert rhos == pytest.approx([-0.25 + 0.1 * 1.25, 0.9])
    # an hcs term with one SD at 0 whose others hold the correlation inside its interval: none
    hl = ThetaLayout.from_k((4,), (structure("hcs", 4),))
    assert hl.restarts(np.array([0.9, 0.5, 1.6, 0.0, -0.57]), 1e-4) == []
    assert len(hl.restarts(np.array([0.9, 0.5, 1.6, 0.0, -12.0]), 1e-4)) == 2
    ar = lay.restarts(np.array([0.3, 0.4, -1.0, 0.0, 0.2]), 1e-4)
    assert sorted(structure("ar1", 5).rho(x[4]) for x in ar) == pytest.approx([-0.8, 0.9])


def test_best_of_restarts_keeps_the_first_search_unless_one_is_lower():
    f = lambda x: (x[0] - 1.0) ** 2  # noqa: E731
    first = minimize_theta(f, [0.5], [0.0])
    kept = best_of_restarts(f, first, [np.array([3.0])], [0.0])
    assert kept.xopt is first.xopt or np.array_equal(kept.xopt, first.xopt)
    assert kept.feval > first.feval and kept.x0.tolist() == [0.5]


def test_joint_searches_restart_too():
    # the criterion's rise away from sd = 0 has the sign of tanh(a + 2): from a = 1 the search
    # stops on the edge; from the restart with the correlation near its lower end (a = -2.2)
    # it descends
    from multilevel.lmm.joint import joint_restarts, joint_search_newton

    lay = ThetaLayout.from_k((3,), (structure("cs", 3),))
    lower = np.r_[lay.lower, -np.inf]

    def f(x):
        return float(x[0] ** 2 * np.tanh(x[1] + 2.0) + x[0] ** 4 + (x[2] - 0.3) ** 2)

    opt, H = joint_search_newton(f, np.array([0.5, 1.0, 0.0]), lower, "auto", "the test")
    assert opt.xopt[0] < 1e-4
    best, H2 = joint_restarts(f, opt, H, lay, lower)
    assert best.fopt < opt.fopt - 0.1 and H2 is None
    assert best.x0.tolist() == opt.x0.tolist() and best.feval > opt.feval
    np.testing.assert_allclose(best.xopt[2], 0.3, atol=1e-4)


def test_a_correlation_at_an_end_of_its_interval_is_reported():
    from multilevel.lmm.convergence import singular_terms

    cs, ar = structure("cs", 4), structure("ar1", 4)
    lay = ThetaLayout.from_k((4, 4), (cs, ar))
    labels, cols = ["g", "h"], [tuple("abcd"), tuple("abcd")]

    def at(rho_cs, rho_ar):
        return singular_terms(np.array([0.6, cs._a_of_rho(rho_cs), 0.5, ar._a_of_rho(rho_ar)]), lay, labels, cols)

    # the searches stop 1e-6 to 1e-5 short of an end the criterion approaches (a flat ridge)
    assert at(1 - 3e-6, 0.5) == ["the cs term 'g' (its correlation at 1)"]
    assert at(-1 / 3 + 2e-6, 0.5) == ["the cs term 'g' (its correlation at -0.3333)"]
    assert at(0.5, 1 - 2.9e-6) == ["the ar1 term 'h' (its correlation at 1)"]
    assert at(0.999, 0.99) == []
