"""Posterior expected values and linear predictors (brms's posterior_epred / posterior_linpred)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special

import multilevel as ml

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def post():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.bayes(CBPP, ml.datasets.load("cbpp"), family="binomial", chains=2, draws=200,
                        warmup=200, seed=5, progress=False)


def test_population_linear_predictor_is_x_beta(post):
    new = pd.DataFrame({"period": ["1", "3"], "herd": ["1", "1"]})
    eta = post.linpred(new, random=False)
    b0 = post.draws["b_Intercept"].reshape(-1)
    b3 = post.draws["b_period3"].reshape(-1)
    np.testing.assert_allclose(eta[:, 0], b0)
    np.testing.assert_allclose(eta[:, 1], b0 + b3)


def test_expected_values_are_the_inverse_link(post):
    new = pd.DataFrame({"period": ["1", "2"], "herd": ["3", "a new herd"]})
    eta = post.linpred(new, seed=11)
    mu = post.epred(new, seed=11)
    np.testing.assert_allclose(mu, special.expit(eta))
    assert mu.shape == (400, 2) and np.all((mu > 0) & (mu < 1))


def test_known_groups_add_their_random_effects(post):
    new = pd.DataFrame({"period": ["1"], "herd": ["3"]})
    diff = post.linpred(new)[:, 0] - post.linpred(new, random=False)[:, 0]
    r = post.draws("r_herd")  # (chains, draws, levels, k)
    levels = list(post.ranef()["herd"].index)
    np.testing.assert_allclose(diff, r.reshape(-1, r.shape[-2], r.shape[-1])[:, levels.index("3"), 0],
                               rtol=1e-6, atol=1e-6)


def test_new_levels_and_subsets(post):
    new = pd.DataFrame({"period": ["1"], "herd": ["unseen"]})
    zero = post.linpred(new, new_levels="zero")
    np.testing.assert_allclose(zero, post.linpred(new, random=False))
    sampled = post.linpred(new, seed=3)
    assert sampled.std() > zero.std()   # the new herd's effect is drawn from N(0, sd^2)
    assert post.epred(ndraws=50, seed=1).shape == (50, 56)
    with pytest.raises(ValueError, match="levels of 'herd' not in the fit"):
        post.epred(new, new_levels="error")
    with pytest.raises(ValueError, match="new_levels must be one of"):
        post.epred(new, new_levels="gaussian")
    with pytest.raises(ValueError, match="ndraws must be an integer from 1 to 400"):
        post.epred(ndraws=0)


def test_newdata_offsets_of_the_formula_are_applied():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = ml.bayes("incidence ~ period + offset(log(size)) + (1 | herd)", ml.datasets.load("cbpp"),
                     family="poisson", chains=1, draws=100, warmup=100, seed=2, progress=False)
    new = pd.DataFrame({"period": ["1", "1"], "herd": ["1", "1"], "size": [10, 20]})
    eta = p.linpred(new, random=False)
    np.testing.assert_allclose(eta[:, 1] - eta[:, 0], np.log(2.0))
