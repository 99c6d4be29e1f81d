"""Simulation from a fit (lme4's simulate) and power by simulation (simr's powerSim), checked
by their definitions and against exact power where it is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml

SLEEP = "Reaction ~ Days + (1 | Subject)"


@pytest.fixture(scope="module")
def sleep():
    return ml.lmer(SLEEP, ml.datasets.load("sleepstudy"))


def _exact_power(fit, effect, groups, alpha=0.05):
    """Days varies identically within every subject (balanced): the REML t statistic of
    its slope is exactly noncentral t with J (T - 1) - 1 df."""
    se = fit.sigma / np.sqrt(groups * 82.5)   # sum over one subject's days of (d - 4.5)^2 = 82.5
    df = groups * 9 - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    return stats.nct.sf(crit, df, effect / se) + stats.nct.cdf(-crit, df, effect / se)


def test_simulations_have_the_models_moments(sleep):
    sims = sleep.simulate(3000, seed=4)
    assert sims.shape == (180, 3000) and list(sims.columns[:2]) == ["sim_1", "sim_2"]
    mean = sleep.predict(random=False).to_numpy()
    var = sleep._term_cov(0)[0, 0] + sleep.sigma ** 2
    np.testing.assert_allclose(sims.mean(axis=1), mean, atol=4 * np.sqrt(var / 3000))
    assert abs(sims.var(axis=1).mean() / var - 1) < 0.03
    # two days of one subject share the subject's effect: their covariance is its variance
    cov = np.cov(sims.iloc[0], sims.iloc[1])[0, 1]
    assert abs(cov / sleep._term_cov(0)[0, 0] - 1) < 0.1


def test_use_re_keeps_the_conditional_modes(sleep):
    sims = sleep.simulate(2000, seed=5, use_re=True)
    np.testing.assert_allclose(sims.mean(axis=1), sleep.fitted, atol=4 * sleep.sigma / np.sqrt(2000))
    assert abs(sims.var(axis=1).mean() / sleep.sigma ** 2 - 1) < 0.03


def test_seed_and_newdata(sleep):
    pd.testing.assert_frame_equal(sleep.simulate(2, seed=1), sleep.simulate(2, seed=1))
    new = pd.DataFrame({"Days": [0, 1, 0], "Subject": ["new", "new", "308"]})
    sims = sleep.simulate(4000, seed=2, newdata=new)
    assert sims.shape == (3, 4000)
    # the new subject's two days share one draw of its effect
    cov = np.cov(sims.iloc[0], sims.iloc[1])[0, 1]
    assert abs(cov / sleep._term_cov(0)[0, 0] - 1) < 0.15
    g = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
                 family="binomial")
    counts = g.simulate(5, seed=1)
    size = ml.datasets.load("cbpp")["size"].to_numpy()
    assert np.allclose(np.round(counts.to_numpy() * size[:, None]), counts.to_numpy() * size[:, None])
    assert set(np.unique(g.simulate(5, seed=1, newdata=pd.DataFrame({"period": ["1"], "herd": ["x"]})))) <= {0, 1}


def test_power_matches_the_noncentral_t(sleep):
    pc = ml.power(sleep, "Days", effect=2.0, nsim=600, n_groups=[9, 18], seed=3)
    for (_, row), groups in zip(pc.iterrows(), (9, 18)):
        exact = _exact_power(sleep, 2.0, groups)
        se = np.sqrt(exact * (1 - exact) / 600)
        assert abs(row["power"] - exact) < 4 * se, (groups, row["power"], exact)
        assert row["lower"] < row["power"] < row["upper"]
    assert pc["nobs"].tolist() == [90, 180] and pc["failed"].tolist() == [0, 0]
    assert "Days = 2, t test (satterthwaite df)" in repr(pc)


@pytest.mark.slow
def test_power_matches_the_noncentral_t_closely(sleep):
    pc = ml.power(sleep, "Days", effect=1.5, nsim=4000, n_groups=[12, 36], seed=8)
    for (_, row), groups in zip(pc.iterrows(), (12, 36)):
        exact = _exact_power(sleep, 1.5, groups)
        assert abs(row["power"] - exact) < 3.5 * np.sqrt(exact * (1 - exact) / 4000)


def test_power_designs_and_seeds(sleep):
    a = ml.power(sleep, "Days", effect=1.0, nsim=30, n_groups=6, n_per_group=[5, 12], seed=1, n_jobs=1)
    b = ml.power(sleep, "Days", effect=1.0, nsim=30, n_groups=6, n_per_group=[5, 12], seed=1, n_jobs=2)
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
    assert a["nobs"].tolist() == [30, 72]   # 12 rows per subject repeat days 0-1 of its 10


def test_power_of_a_glmer_z_test():
    g = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
                 family="binomial")
    pc = ml.power(g, "period2", nsim=40, seed=1, n_jobs=1)
    assert "z test" in pc.attrs["test"] and 0 <= pc["power"].iloc[0] <= 1


def test_power_bad_input(sleep):
    with pytest.raises(ValueError, match="test must name a fixed effect"):
        ml.power(sleep, "days")
    with pytest.raises(ValueError, match="group='school' is not a grouping factor"):
        ml.power(sleep, "Days", group="school", nsim=2)
    with pytest.raises(ValueError, match="n_groups must be"):
        ml.power(sleep, "Days", n_groups=[0], nsim=2)
    with pytest.raises(TypeError, match="effect must be a number"):
        ml.power(sleep, "Days", effect="big", nsim=2)
    with pytest.raises(ValueError, match="alpha must be between 0 and 1"):
        ml.power(sleep, "Days", alpha=5, nsim=2)
    with pytest.raises(TypeError, match="power needs a fit"):
        ml.power(None, "Days")


def test_power_keeps_each_terms_variance_when_a_design_reorders_the_terms():
    # with 5 subjects the day factor has more levels than the subjects: the design sorts the
    # terms the other way round, and each variance must stay with its own term
    from multilevel.inference.power import _design_data, _parameter_fit
    from multilevel.inference.refit_data import fit_frame

    d = ml.datasets.load("sleepstudy").assign(Dayf=lambda x: x["Days"].astype(str))
    fit = ml.lmer("Reaction ~ Days + (1 | Subject) + (1 | Dayf)", d)
    small = _parameter_fit(fit, _design_data(fit_frame(fit), "Subject", 5, None), "Days", None)
    assert [t.group for t in small.design.terms] != [t.group for t in fit.design.terms]
    from multilevel.inference.bootstrap import _factors

    want = {t.group: T[0, 0] for t, T in zip(fit.design.terms, _factors(fit))}
    got = {t.group: T[0, 0] for t, T in zip(small.design.terms, _factors(small))}  # what simulates
    assert got == pytest.approx(want)


def test_power_designs_keep_weights_and_offsets():
    from multilevel.inference.power import _design_data, _parameter_fit
    from multilevel.inference.refit_data import fit_frame

    d = ml.datasets.load("sleepstudy").assign(w=lambda x: 1.0 + (x["Days"] > 4), off=5.0)
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", d, weights="w", offset="off")
    small = _parameter_fit(fit, _design_data(fit_frame(fit), "Subject", 6, None), "Days", None)
    assert np.array_equal(np.unique(small.design.weights), [1.0, 2.0])
    assert np.allclose(small.design.offset, 5.0)


def test_simulating_new_rows_with_a_missing_group_treats_it_as_a_new_group():
    ss = ml.datasets.load("sleepstudy")
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ss)
    new = ss.head(3).copy()
    new.loc[new.index[0], "Subject"] = np.nan  # (as predict does: a group not in the fit)
    sims = fit.simulate(400, seed=1, newdata=new, use_re=True)  # (the known groups keep their modes)
    assert sims.shape == (3, 400)
    # its draws carry the random intercept's variance on top of the residual's
    assert sims.iloc[0].var() > sims.iloc[1].var()
