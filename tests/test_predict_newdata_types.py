"""newdata whose columns hold another type than the fitted data's: a factor fitted from the
labels "1", "2", "3" (or from a categorical of integers) and given as numbers or as text
predicts as the fitted labels (formulaic had put the raw number into every dummy column of
the factor, silently); numbers given as text are read as numbers, or refused in one line."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 300
    d = pd.DataFrame({"g": rng.integers(0, 20, n).astype(str), "f": rng.choice([1, 2, 3], n),
                      "b": rng.uniform(size=n) < 0.5, "x": rng.normal(size=n), "x2": rng.uniform(1, 2, n)})
    d["y"] = d.x + (d.f == 2) * 1.0 + (d.f == 3) * 2.0 + rng.normal(size=n) + rng.normal(size=20)[d.g.astype(int)]
    d["yb"] = (d.y > d.y.median()).astype(int)
    return d


FITTED = {"text": lambda f: f.astype(str), "categorical of integers": lambda f: pd.Categorical(f),
          "categorical of text": lambda f: pd.Categorical(f.astype(str))}
GIVEN = {"int": lambda f: f.astype(int), "float": lambda f: f.astype(float), "text": lambda f: f.astype(str)}
FORMULAS = ["y ~ x + f + (1 | g)", "y ~ x + f + b + (1 | g)", "y ~ x * f + (1 | g)",
            "y ~ log(x2) + f + (1 | g)", "y ~ x + (0 + f | g)"]


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("fitted", sorted(FITTED))
def test_a_factor_given_as_numbers_or_text_predicts_as_its_labels(data, fitted, formula):
    d = data.assign(f=FITTED[fitted](data["f"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer(formula, d)
    new = d.head(8)
    ref = fit.predict(new).to_numpy()
    levels = new["f"].astype(str).astype(int)
    for given, make in GIVEN.items():
        np.testing.assert_allclose(fit.predict(new.assign(f=make(levels))).to_numpy(), ref, rtol=1e-12,
                                   err_msg=given)


def test_glmer_predictions_too(data):
    d = data.assign(f=data["f"].astype(str))
    fit = ml.glmer("yb ~ x + f + b + (1 | g)", d, family="binomial")
    new = d.head(8)
    ref = fit.predict(new, type="response").to_numpy()
    got = fit.predict(new.assign(f=new["f"].astype(int)), type="response").to_numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_numbers_given_as_text(data):
    fit = ml.lmer("y ~ x + f + (1 | g)", data)
    new = data.head(5)
    np.testing.assert_allclose(fit.predict(new.assign(x=new["x"].astype(str))), fit.predict(new), rtol=1e-12)
    with pytest.raises(ValueError, match="column 'x' is numeric in the fit but newdata holds text"):
        fit.predict(new.assign(x="abc"))


def test_an_unseen_level_is_still_refused(data):
    fit = ml.lmer("y ~ x + f + (1 | g)", data.assign(f=data["f"].astype(str)))
    with pytest.raises(ValueError, match="not seen in the fit"):
        fit.predict(data.head(3).assign(f=[1, 2, 7]))


def test_a_logical_given_as_0_and_1_and_columns_the_model_does_not_read(data):
    fit = ml.lmer("y ~ x + b + (1 | g)", data.assign(note=1.0))
    new = data.head(6)
    ref = fit.predict(new)
    np.testing.assert_allclose(fit.predict(new.assign(b=new["b"].astype(int))), ref, rtol=1e-12)
    # a column the model does not read is not checked, whatever it holds
    np.testing.assert_allclose(fit.predict(new.assign(note="abc")), ref, rtol=1e-12)


def test_new_group_levels_do_not_cost_a_loop_over_rows(data):
    fit = ml.lmer("y ~ x + f + (1 | g)", data.assign(f=data["f"].astype(str)))
    new = data.assign(f=data["f"].astype(str), g=np.where(np.arange(len(data)) % 7 == 0, "new", data["g"]))
    out = fit.predict(new)
    known = new["g"] != "new"
    np.testing.assert_allclose(out[known], fit.predict(new[known]), rtol=1e-12)
    np.testing.assert_allclose(out[~known], fit.predict(new[~known], random=False), rtol=1e-12)


def test_bayesian_and_simulated_inputs_read_a_factor_given_as_numbers(data):
    # (a factor slope in the random part: its Z for newdata is built as predict builds it)
    import importlib

    predictive = importlib.import_module("multilevel.bayes.predictive")
    d = data.assign(f=data["f"].astype(str))
    fit = ml.lmer("y ~ x + (0 + f | g)", d)
    new = d.head(8)
    as_numbers = new.assign(f=new["f"].astype(int))
    post = type("P", (), {"model": fit, "offset_spec": None})()
    a = predictive._newdata_inputs(post, new)
    b = predictive._newdata_inputs(post, as_numbers)
    np.testing.assert_array_equal(a[0], b[0])
    for (Za, pa), (Zb, pb) in zip(a[1], b[1]):
        np.testing.assert_array_equal(Za, Zb)
        np.testing.assert_array_equal(pa, pb)
    sims = [fit.simulate(nsim=2, seed=5, use_re=True, newdata=frame) for frame in (new, as_numbers)]
    np.testing.assert_allclose(np.asarray(sims[0], float), np.asarray(sims[1], float), rtol=1e-12)
