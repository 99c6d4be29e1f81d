"""The Rasch / IRT reading of ``y ~ 0 + item + (1 | person)`` fits (multilevel.irt)
against lme4 1.1-31: a 2,000-person subset of rasch5 (lme4_glmm_extras.json)
and, in the slow run, the full data (lme4_glmm.json, rasch_laplace)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import multilevel as ml

REFDIR = Path(__file__).parent / "reference"
SMALL = json.loads((REFDIR / "lme4_glmm_extras.json").read_text())["rasch_small"]
FULL = {m["id"]: m for m in json.loads((REFDIR / "lme4_glmm.json").read_text())["models"]}
RASCH = "y ~ 0 + item + (1 | person)"


def _fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.glmer(formula, data, **kw)


@pytest.fixture(scope="module")
def rasch5():
    return ml.datasets.load("rasch5")


@pytest.fixture(scope="module")
def small(rasch5):
    return rasch5[rasch5["person"] <= 2000]


@pytest.mark.parametrize("link", ["logit", "probit"])
def test_rasch_parameters_match_lme4(small, link):
    ref = SMALL["fits"][link]
    r = ml.irt.rasch(_fit(RASCH, small, link=link))
    assert r.link == link and r.item_column == "item" and r.person_column == "person"
    assert r.items.index.tolist() == [k.removeprefix("item") for k in ref["fixef"]]
    np.testing.assert_allclose(r.items["difficulty"], [-v for v in ref["fixef"].values()], rtol=1e-3)
    # the standard errors come from a finite-difference Hessian of the Laplace deviance;
    # with the probit link (no closed-form working weights) they agree less closely
    np.testing.assert_allclose(r.items["se"], list(ref["se"].values()), rtol=5e-3)
    assert r.ability_sd == pytest.approx(ref["theta"], rel=1e-3)
    persons = r.persons.loc[[int(p) for p in ref["person_levels"]]]
    np.testing.assert_allclose(persons["ability"], ref["person_mode"], atol=2e-3)
    np.testing.assert_allclose(persons["sd"], ref["person_condsd"], rtol=2e-3)
    assert len(r.persons) == 2000 and r.persons.index.name == "person"


def test_proportion_correct(small):
    r = ml.irt.rasch(_fit(RASCH, small))
    np.testing.assert_allclose(r.items["p_correct"], small.groupby("item", observed=True)["y"].mean())


def test_item_curves(small):
    fit = _fit(RASCH, small)
    r = ml.irt.rasch(fit)
    curves = ml.irt.item_curves(fit)
    assert curves.shape == (161, 5) and curves.index.name == "ability"
    half = max(4.0, 3 * r.ability_sd)  # tau = 1.42
    assert curves.index.min() == pytest.approx(-half) and curves.index.max() == pytest.approx(half)
    assert list(curves.columns) == list(r.items.index)
    at_b = ml.irt.item_curves(fit, theta_grid=r.items["difficulty"].to_numpy())
    np.testing.assert_allclose(np.diag(at_b.to_numpy()), 0.5)  # P = 1/2 where ability = difficulty
    grid = np.array([-1.0, 0.0, 2.5])
    np.testing.assert_allclose(ml.irt.item_curves(fit, grid).to_numpy(),
                               special.expit(grid[:, None] - r.items["difficulty"].to_numpy()))
    probit = _fit(RASCH, small, link="probit")
    b = ml.irt.rasch(probit).items["difficulty"].to_numpy()
    np.testing.assert_allclose(ml.irt.item_curves(probit, grid).to_numpy(), stats.norm.cdf(grid[:, None] - b))


def test_other_column_names(small):
    d = small.rename(columns={"item": "question", "person": "pupil", "y": "correct"})
    r = ml.irt.rasch(_fit("correct ~ question - 1 + (1 | pupil)", d))
    assert r.items.index.name == "question" and r.persons.index.name == "pupil"
    assert r.items.index.tolist() == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize("formula, kw", [
    ("y ~ 1 + item + (1 | person)", {}),                 # intercept
    ("y ~ 0 + item + (1 | person) + (1 | item)", {}),    # two random terms
    ("y ~ 0 + item + (1 + x | person)", {}),             # a random slope
    ("y ~ 0 + x + (1 | person)", {}),                    # a numeric predictor, not items
    ("y ~ 0 + item + (1 | person)", {"link": "cloglog"}),
    ("y ~ 0 + item + (1 | person)", {"family": "poisson"}),
])
def test_refuses_other_shapes_in_one_line(rasch5, formula, kw):
    d = rasch5[rasch5["person"] <= 150].assign(x=lambda t: (t["person"] % 3).astype(float))
    fit = _fit(formula, d, **kw)
    with pytest.raises(ValueError, match=r"y ~ 0 \+ item \+ \(1 \| person\)") as info:
        ml.irt.rasch(fit)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError):
        ml.irt.item_curves(fit)


def test_refuses_a_linear_fit(sleepstudy):
    with pytest.raises(ValueError, match="binomial fit"):
        ml.irt.rasch(ml.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy))


@pytest.mark.slow
def test_full_rasch5_matches_lme4(rasch5):
    ref = FULL["rasch_laplace"]
    r = ml.irt.rasch(_fit(RASCH, rasch5))
    np.testing.assert_allclose(r.items["difficulty"], list(ref["item_difficulty_b"].values()), rtol=1e-3)
    head = ref["ranef_head"]["person"]
    persons = r.persons.loc[[int(p) for p in head["levels"]]]
    np.testing.assert_allclose(persons["ability"], np.ravel(head["values"]), atol=2e-3)
    np.testing.assert_allclose(persons["sd"] ** 2, np.ravel(head["condvar"]), rtol=2e-3)
    # the generating values of the simulation are recovered
    gen = ref["generating_values"]
    np.testing.assert_allclose(r.items["difficulty"], list(gen["item_difficulty_b"].values()), atol=0.1)
    assert isinstance(r.persons, pd.DataFrame) and len(r.persons) == 20000
