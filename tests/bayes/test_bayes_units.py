"""Bayesian fits in other units of a predictor: the same posterior, sampled as well."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml


@pytest.mark.parametrize("sampler", ["nuts", "collapsed"])
def test_seconds_instead_of_days(sleepstudy, sampler):
    """Days x 86400: the default priors and starting values follow the units, and
    the metric adapts to a coefficient of posterior SD 2e-5 (NUTS kept its step
    size and short trajectories; Stan's absolute regularisation of the metric
    gave 0.001 and the maximum tree depth)."""
    kw = dict(sampler=sampler, seed=1, progress=False, chains=2, draws=500, warmup=500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        days = ml.bayes("Reaction ~ Days + (Days | Subject)", sleepstudy, **kw)
        secs = ml.bayes("Reaction ~ Days + (Days | Subject)", sleepstudy.assign(Days=sleepstudy.Days * 86400.0),
                        **kw)
    assert not any("maximum tree depth" in m for m in secs.messages)
    for name, f in [("b_Days", 86400.0), ("sd_Subject__Days", 86400.0), ("sigma", 1.0)]:
        a, b = days.draws[name], secs.draws[name] * f
        # posterior means within 4 Monte Carlo errors (an ESS of 200 at least)
        assert abs(a.mean() - b.mean()) < 4 * a.std() * np.sqrt(2 / 200)
    if sampler == "nuts":
        assert np.mean(secs.stats["tree_depth"]) < 8
        assert np.mean(secs.stats["step_size"]) > 0.3 * np.mean(days.stats["step_size"])
