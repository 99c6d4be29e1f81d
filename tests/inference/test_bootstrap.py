"""Parametric bootstrap: reproducibility, failure reporting, intervals."""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lmertest_reference import REF, fit_of

import multilevel as ml
import multilevel.lmm.fit as lmm_fit
from multilevel.inference.bootstrap import (BootstrapResult, _norm_inter, bootstrap,
                                            confint_parameters, simulate_response)
from multilevel.inference.intervals import confint
from multilevel.inference.parameters import parameter_names
from multilevel.inference.profile import profile_confint


@pytest.fixture(scope="module")
def sleep():
    return fit_of("sleepstudy_corr")


def test_same_seed_same_draws_for_any_n_jobs(sleep):
    one = bootstrap(sleep, nsim=12, seed=7, n_jobs=1)
    two = bootstrap(sleep, nsim=12, seed=7, n_jobs=2)
    three = bootstrap(sleep, nsim=12, seed=7, n_jobs=3)
    assert isinstance(one, BootstrapResult)
    assert list(one.draws.columns) == parameter_names(sleep)
    np.testing.assert_allclose(two.draws.to_numpy(), one.draws.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(three.draws.to_numpy(), one.draws.to_numpy(), rtol=1e-12)
    assert one.seed == 7 and one.failures == [] and one.draws.notna().all().all()
    other = bootstrap(sleep, nsim=12, seed=8, n_jobs=1)
    assert not np.allclose(other.draws.to_numpy(), one.draws.to_numpy())
    # a prefix of the simulations does not depend on nsim
    np.testing.assert_allclose(bootstrap(sleep, nsim=5, seed=7, n_jobs=1).draws.to_numpy(),
                               one.draws.to_numpy()[:5], rtol=1e-12)


def test_seed_none_is_recorded(sleep):
    b = bootstrap(sleep, nsim=3, n_jobs=1)
    again = bootstrap(sleep, nsim=3, seed=b.seed, n_jobs=1)
    np.testing.assert_allclose(again.draws.to_numpy(), b.draws.to_numpy(), rtol=1e-12)


def test_simulation_moments(sleep):
    """Simulated responses have the model's marginal mean and total variance."""
    rng = np.random.default_rng(0)
    ys = np.array([simulate_response(sleep, rng) for _ in range(400)])
    mean = sleep.design.X @ sleep.fixef.to_numpy()
    assert np.abs(ys.mean(axis=0) - mean).max() < 10
    # day 0: var = sd_(Intercept)^2 + sigma^2
    vc = sleep.varcorr_long
    want = vc["vcov"].iloc[0] + sleep.sigma**2
    assert ys[:, sleep.design.X[:, 1] == 0].var() == pytest.approx(want, rel=0.15)


def test_failures_are_counted_and_reported(sleep, monkeypatch):
    real = lmm_fit.fit_design
    calls = {"n": 0}

    def flaky(design, *args, **kw):
        calls["n"] += 1
        if calls["n"] % 4 == 0:
            raise RuntimeError("simulated breakdown")
        res = real(design, *args, **kw)
        if calls["n"] % 4 == 1:
            return replace(res, messages=res.messages + (
                "Model failed to converge: max|grad| = 0.01 (tol = 0.002, component 1)",))
        return res

    monkeypatch.setattr(lmm_fit, "fit_design", flaky)
    b = bootstrap(sleep, nsim=8, seed=3, n_jobs=1)
    assert [i for i, _ in b.failures] == [0, 3, 4, 7]
    assert b.failures[0][1].startswith("Model failed to converge")
    assert b.failures[1][1] == "RuntimeError: simulated breakdown"
    assert b.n_failed == 4
    assert b.draws.loc[[0, 3, 4, 7]].isna().all().all()
    assert b.draws.loc[[1, 2, 5, 6]].notna().all().all()
    with pytest.warns(UserWarning, match="4 of 8 bootstrap refits failed"):
        ci = b.confint()
    assert ci.attrs["n_used"] == 4 and ci.attrs["n_failed"] == 4
    assert "4 failed" in str(b) and "simulated breakdown" in str(b)


def test_statistic_errors_are_failures(sleep):
    def fun(refit):
        if refit.fixef["Days"] > sleep.fixef["Days"]:
            raise ValueError("too steep")
        return refit.fixef

    b = bootstrap(sleep, nsim=10, seed=11, n_jobs=2, fun=fun)
    assert list(b.draws.columns) == ["(Intercept)", "Days"]
    assert 0 < b.n_failed < 10
    assert all(msg == "ValueError: too steep" for _, msg in b.failures)
    ok = b.draws.dropna()
    assert (ok["Days"] <= sleep.fixef["Days"]).all()


def test_dict_statistic(sleep):
    b = bootstrap(sleep, nsim=3, seed=1, n_jobs=1,
                  fun=lambda f: {"sigma": f.sigma, "slope": f.fixef["Days"]})
    assert list(b.draws.columns) == ["sigma", "slope"] and b.n_failed == 0
    assert b.estimate["sigma"] == pytest.approx(sleep.sigma)


def test_norm_inter_as_boot():
    t = np.arange(1.0, 1000.0)  # R = 999: (R + 1) * 0.025 = 25 is an order statistic
    np.testing.assert_allclose(_norm_inter(t, np.array([0.025, 0.975])), [25.0, 975.0])
    # R = 99, alpha 0.025: between the 2nd and 3rd order statistics on the normal scale
    t = np.arange(1.0, 100.0)
    from scipy.stats import norm
    w = (norm.ppf(0.025) - norm.ppf(2 / 100)) / (norm.ppf(3 / 100) - norm.ppf(2 / 100))
    assert _norm_inter(t, np.array([0.025]))[0] == pytest.approx(2 + w)


def test_interval_methods(sleep):
    b = bootstrap(sleep, nsim=40, seed=5, n_jobs=1)
    perc = b.confint()
    basic = b.confint(method="basic")
    normal = b.confint(level=0.9, method="normal")
    assert list(perc.columns) == ["2.5 %", "97.5 %"] and list(normal.columns) == ["5 %", "95 %"]
    est = confint_parameters(sleep)
    np.testing.assert_allclose(basic["2.5 %"], 2 * est - perc["97.5 %"])
    assert (normal["5 %"] < normal["95 %"]).all()
    with pytest.raises(ValueError, match="method"):
        b.confint(method="bca")
    assert isinstance(b.summary(), pd.DataFrame)


def test_confint_dispatch_boot(sleep):
    ci = confint(sleep, method="boot", nsim=10, seed=1, n_jobs=1, parm="beta_")
    assert list(ci.index) == ["(Intercept)", "Days"]
    assert isinstance(ci.attrs["bootstrap"], BootstrapResult)
    with pytest.raises(TypeError, match="nsims"):
        confint(sleep, method="boot", nsims=10)


def test_refits_of_a_singular_fit_reach_the_optimum():
    """Refits from a singular fit's theta find the optimum a fresh fit finds."""
    fit = fit_of("leebryk_m4i")
    b = bootstrap(fit, nsim=4, seed=1, n_jobs=1, fun=lambda f: f.objective)
    assert b.n_failed == 0
    for i in range(4):
        y = simulate_response(fit, np.random.Generator(np.random.PCG64(
            np.random.SeedSequence(1).spawn(4)[i])))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fresh = lmm_fit.fit_design(replace(fit.design, y=y), reml=True)
        assert b.draws.iloc[i, 0] == pytest.approx(fresh.objective, abs=1e-6)


@pytest.mark.slow
def test_percentile_intervals_near_profile_intervals(sleep):
    """sleepstudy, 1000 simulations: percentile limits within about 15% of the profile
    interval's width (a correlation within 30%: singular refits put a point mass at
    +-1, about 2.5% of them here, so its upper percentile limit is 1; lme4's own
    500-simulation reference is 17% of the width off its profile limit), and
    within 15% of lme4's bootstrap interval width."""
    b = bootstrap(sleep, nsim=1000, seed=2024, n_jobs=2)
    assert b.n_failed == 0
    perc = b.confint()
    prof = profile_confint(sleep)
    ref = REF["bootstrap_reference"]["intervals"]
    for name in perc.index:
        width = prof.loc[name, "97.5 %"] - prof.loc[name, "2.5 %"]
        tol = 0.30 if name.startswith("cor_") else 0.15
        assert np.abs(perc.loc[name] - prof.loc[name]).max() < tol * width, name
        lme4 = np.array(ref[name])
        assert np.abs(perc.loc[name].to_numpy() - lme4).max() < 0.15 * (lme4[1] - lme4[0]), name


def test_no_forked_workers_once_jax_is_loaded(sleepstudy):
    """After a Bayesian fit (JAX loaded, which runs threads), workers are never
    forked: JAX warns that os.fork() is likely to deadlock."""
    import jax  # noqa: F401  (loaded as a Bayesian fit loads it)

    from multilevel.inference.bootstrap import _process_context

    ctx = _process_context()
    assert ctx == "here" or ctx.get_start_method() != "fork"
    fit = lmm_fit.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        b = bootstrap(fit, nsim=6, seed=1, n_jobs=2)
    assert b.n_failed == 0
    assert not [w for w in caught if "fork" in str(w.message)]


def test_refits_of_a_singular_fit_also_start_from_the_moments():
    """BOBYQA started at a singular parent's theta (a variance of zero) can stop
    at a local optimum above the refit's; on these 30 rows it did in 11 of 40
    refits. Each refit also starts as a fresh fit does and keeps the lower."""
    from multilevel.inference.bootstrap import _refit, simulate_response
    from multilevel.lmm.fit import fit_design

    df = pd.read_csv(Path(__file__).with_name("singular_slope.csv"), dtype={"g": str})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer("y ~ x1 + (x1 | g)", df)
        assert fit.singular
        start = fit.theta.to_numpy()
        rng = np.random.default_rng(11)
        stuck = 0
        for _ in range(12):
            ys = simulate_response(fit, rng)
            design = replace(fit.design, y=ys)
            refit = _refit(fit, ys, start)
            from_parent = fit_design(design, reml=True, optimizer=fit.optinfo.optimizer, start=start,
                                     _like=fit._standardized)
            fresh = fit_design(design, reml=True, _like=fit._standardized)
            assert refit.objective <= min(from_parent.objective, fresh.objective) + 1e-9
            stuck += from_parent.objective > fresh.objective + 1e-6
    assert stuck >= 1  # the data do show the problem


def test_ml_refit_of_a_singular_fit_is_no_worse_than_a_fresh_ml_fit():
    df = pd.read_csv(Path(__file__).with_name("singular_slope.csv"), dtype={"g": str})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer("y ~ x1 + (x1 | g)", df)
        refit = fit.refit(reml=False)
        fresh = ml.lmer("y ~ x1 + (x1 | g)", df, reml=False)
    assert fit.singular
    assert refit.objective <= fresh.objective + 1e-9
