"""Posterior predictive check statistics and LOO-PIT."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml


@pytest.fixture(scope="module")
def post():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"), chains=2,
                        draws=250, warmup=250, seed=4, progress=False)


def test_statistics_are_those_of_the_replicated_data(post):
    t = post.ppc_stats(["mean", "max", ("q90", lambda y: np.quantile(y, 0.9))], seed=3)
    rep = post.posterior_predictive(seed=3)
    y = ml.datasets.load("sleepstudy")["Reaction"].to_numpy()
    assert t.loc["max", "observed"] == pytest.approx(y.max())
    assert t.loc["max", "p_value"] == pytest.approx(np.mean(rep.max(axis=1) >= y.max()))
    assert t.loc["q90", "mean"] == pytest.approx(np.mean(np.quantile(rep, 0.9, axis=1)))
    assert 0.05 < t.loc["mean", "p_value"] < 0.95   # the model reproduces the mean


def test_grouped_statistics(post):
    t = post.ppc_stats("mean", group="Subject", seed=1)
    assert t.shape[0] == 18 and t.index.names == ["Subject", "statistic"]
    assert ((t["lower"] <= t["mean"]) & (t["mean"] <= t["upper"])).all()


def test_loo_pit_is_a_probability_per_observation(post):
    pit = post.loo_pit(seed=2)
    assert pit.shape == (180,) and np.all((pit >= 0) & (pit <= 1))
    idata = post.to_arviz(posterior_predictive=True, seed=2)
    assert idata.posterior_predictive["y"].shape == (2, 250, 180)


def test_bad_arguments(post):
    with pytest.raises(ValueError, match="unknown statistic 'var'"):
        post.ppc_stats("var")
    with pytest.raises(TypeError, match="a statistic is a name"):
        post.ppc_stats([3])
    with pytest.raises(ValueError, match="group must name a column"):
        post.ppc_stats(group="school")
    with pytest.raises(ValueError, match="prob must be between 0 and 1"):
        post.ppc_stats(prob=2)
