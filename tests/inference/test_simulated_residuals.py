"""Simulated (DHARMa) residuals: uniform under the true model, tests at their nominal size,
power against the wrong family."""

from __future__ import annotations

import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

import multilevel as ml


def _counts(rng, groups=30, per=10, extra_zeros=0.0, nb_size=None):
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    eta = 0.5 + 0.4 * x + rng.normal(0, 0.5, groups)[g]
    mu = np.exp(eta)
    if nb_size is None:
        y = rng.poisson(mu)
    else:  # negative binomial: a gamma-mixed Poisson, variance mu + mu^2 / size
        y = rng.poisson(mu * rng.gamma(nb_size, 1 / nb_size, g.size))
    if extra_zeros:
        y = np.where(rng.uniform(size=g.size) < extra_zeros, 0, y)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def _check(data, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.glmer("y ~ x + (1 | g)", data, family="poisson")
    return fit.check(nsim=150, seed=seed)


def test_residuals_are_uniform_and_tests_hold_their_size_under_the_model():
    rng = np.random.default_rng(11)
    p = np.array([_check(_counts(rng), s).tests["p.value"].to_numpy() for s in range(40)])
    reject = np.mean(p < 0.05, axis=0)
    bound = 0.05 + 3 * np.sqrt(0.05 * 0.95 / 40)
    assert reject[0] <= bound and reject[2] <= bound and reject[3] <= bound, reject  # KS, zeros, outliers
    assert reject[1] <= 0.05  # the dispersion test is conservative (see the module)
    # the pooled residuals of all data sets are uniform
    res = np.concatenate([_check(_counts(rng), s).residuals.to_numpy() for s in range(5)])
    hist, _ = np.histogram(res, bins=10, range=(0, 1))
    assert np.all(np.abs(hist / res.size - 0.1) < 0.03)


def test_power_against_overdispersion_and_zero_inflation():
    rng = np.random.default_rng(5)
    over = [_check(_counts(rng, nb_size=1.5), s).tests.loc["dispersion", "p.value"] for s in range(10)]
    assert np.mean(np.array(over) < 0.05) >= 0.9
    zeros = [_check(_counts(rng, extra_zeros=0.3), s).tests.loc["zero-inflation", "p.value"] for s in range(10)]
    assert np.mean(np.array(zeros) < 0.05) >= 0.9


def test_linear_model_check_and_plot():
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    chk = fit.check(nsim=200, seed=2)
    assert chk.residuals.between(0, 1).all() and len(chk.residuals) == 180
    assert chk.tests.loc["uniformity (KS)", "p.value"] > 0.01
    assert np.isnan(chk.tests.loc["zero-inflation", "p.value"])
    fig = chk.plot()
    assert len(fig.axes) == 2 and len(fig.axes[0].collections) == 1
    assert "Simulated residuals (200 simulations, 180 rows)" in repr(chk)
    plt.close("all")
    with pytest.raises(ValueError, match="nsim"):
        fit.check(nsim=1)
    with pytest.raises(TypeError, match="conditional must be"):
        fit.check(conditional="no")


def test_overdispersed_ticks_are_flagged_and_an_observation_level_effect_fixes_them():
    d = ml.datasets.load("grouseticks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bad = ml.glmer("TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)", d, family="poisson").check(seed=1)
        good = ml.glmer("TICKS ~ YEAR + cHEIGHT + (1 | LOCATION) + (1 | INDEX)", d,
                        family="poisson").check(seed=1)
    assert bad.tests.loc["dispersion", "p.value"] < 0.01
    assert "observation-level random effect" in bad.tests.loc["dispersion", "note"]
    assert good.tests.loc["dispersion", "p.value"] > 0.05


def _ordinal(rng, groups=25, per=8):
    """Ordered categories of a cumulative logit model with a random intercept."""
    g = np.repeat(np.arange(groups), per)
    x = rng.normal(size=g.size)
    latent = 0.8 * x + rng.normal(0, 0.7, groups)[g] + rng.logistic(size=g.size)
    y = np.digitize(latent, [-1.5, 0.0, 1.5])
    return pd.DataFrame({"y": pd.Categorical(y.astype(str), categories=["0", "1", "2", "3"], ordered=True),
                         "x": x, "g": g.astype(str)})


def test_ordinal_residuals_are_uniform_under_the_model():
    """A cumulative link model's randomised residuals: uniform, and the uniformity and outlier
    tests at their nominal size over data sets simulated from the model fitted."""
    rng = np.random.default_rng(3)
    checks = []
    for s in range(30):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit = ml.clmm("y ~ x + (1 | g)", _ordinal(rng))
        checks.append(fit.check(nsim=150, seed=s))
    p = np.array([c.tests["p.value"].to_numpy() for c in checks])
    bound = 0.05 + 3 * np.sqrt(0.05 * 0.95 / 30)
    assert np.mean(p[:, 0] < 0.05) <= bound and np.mean(p[:, 3] < 0.05) <= bound
    assert np.all(np.isnan(p[:, 1])) and np.all(np.isnan(p[:, 2]))  # (no dispersion or zeros for categories)
    res = np.concatenate([c.residuals.to_numpy() for c in checks[:6]])
    hist, _ = np.histogram(res, bins=10, range=(0, 1))
    assert np.all(np.abs(hist / res.size - 0.1) < 0.03)
    # each residual lies between the simulated share below its category and at or below it
    c = checks[0]
    y = c.observed
    lo, hi = np.mean(c.simulated < y[:, None], axis=1), np.mean(c.simulated <= y[:, None], axis=1)
    r = c.residuals.to_numpy()
    assert np.all((r >= lo - 1e-12) & (r <= hi + 1e-12))
