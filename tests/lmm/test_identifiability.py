"""Models whose variances cannot be estimated are refused or reported, never fitted silently."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml


def test_as_many_random_effects_as_observations_is_refused():
    d = pd.DataFrame({"y": [1.0, 2, 3, 4, 5, 7], "x": [0.0, 1, 0, 1, 0, 1], "g": list("aabbcc")})
    with pytest.raises(ValueError, match=r"\(1 \+ x \| g\) has 6 random effects \(2 for each of 3 levels"):
        ml.lmer("y ~ x + (1 + x | g)", d)


def test_jags_notes_model_is_refused_and_its_split_form_reported():
    an = ml.datasets.load("anorexia")
    with pytest.raises(ValueError, match="144 random effects .* for 144 observations"):
        ml.lmer("weight ~ time + (1 + time | girl)", an)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ml.lmer("weight ~ time + (1 + time || girl)", an)
    assert any("not identified" in m for m in fit.messages)
    assert any("every level of 'girl' has at most 2 observations" in str(w.message) for w in caught)


def test_no_false_alarm_on_identified_models(sleepstudy):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ml.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
        ml.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"))


def test_booleans_only(sleepstudy):
    with pytest.raises(TypeError, match="reml must be True or False, not 'no'"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy, reml="no")
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    with pytest.raises(TypeError, match="random must be True or False"):
        fit.predict(sleepstudy.head(), random="no")
    with pytest.raises(TypeError, match="reml must be True or False"):
        fit.refit(reml=0)


def test_binomial_proportion_without_weights_warns():
    cb = ml.datasets.load("cbpp")
    with pytest.warns(UserWarning, match="non-integer number of successes in 'p'.*no weights"):
        ml.glmer("p ~ period + (1 | herd)", cb.assign(p=cb.incidence / cb["size"]))


def test_bernoulli_observation_level_effect_warns():
    rng = np.random.default_rng(3)
    d = pd.DataFrame({"y": rng.integers(0, 2, 200).astype(float), "g": np.repeat(np.arange(20), 10),
                      "obs": np.arange(200)})
    with pytest.warns(UserWarning, match="'obs' has one level per observation"):
        ml.glmer("y ~ 1 + (1 | g) + (1 | obs)", d)
