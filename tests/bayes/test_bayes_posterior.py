"""Sampling a small model with ml.bayes, and every accessor of the Posterior it returns.

One tiny simulated random-intercept model is sampled once per module (2 chains of
200 draws); the compiled sampler is reused by the refits below.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml
from multilevel.bayes.checks import SamplerWarning, sampler_messages

FORMULA = "y ~ x + (1 | g)"
SETTINGS = dict(chains=2, draws=200, warmup=200, progress=False)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(12), 8)
    x = rng.normal(0, 1, g.size)
    y = 5 + 1.5 * x + rng.normal(0, 1.5, 12)[g] + rng.normal(0, 1, g.size)
    df = pd.DataFrame({"y": y, "x": x, "g": [f"s{i:02d}" for i in g]})
    df.attrs["name"] = "sim"
    return df


@pytest.fixture(scope="module")
def post(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplerWarning)
        return ml.bayes(FORMULA, data, seed=11, **SETTINGS)


def test_posterior_means_near_lme4(post, data):
    fit = ml.lmer(FORMULA, data, reml=False)
    d = post.draws
    for name, est in [("b_Intercept", fit.fixef["(Intercept)"]), ("b_x", fit.fixef["x"]),
                      ("sigma", fit.sigma),
                      ("sd_g__Intercept", fit.varcorr.query("group == 'g'")["std_dev"].iloc[0])]:
        assert abs(d[name].mean() - est) < 3 * d[name].std(), name


def test_names_shapes_and_immutability(post):
    assert list(post.draws) == ["b_Intercept", "b_x", "sd_g__Intercept", "sigma"]
    assert all(v.shape == (2, 200) for v in post.draws.values())
    assert post.ranef_draws["g"].shape == (2, 200, 12, 1)
    assert post.ranef_draws["g"].dtype == np.float32
    with pytest.raises(ValueError):
        post.draws["sigma"][0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        post.seed = 3
    with pytest.raises(TypeError):
        post.draws["new"] = np.zeros((2, 200))
    assert post.draws("r_g").shape == (2, 200, 12, 1)
    with pytest.raises(KeyError, match="no parameter 'sd_x'"):
        post.draws("sd_x")
    assert post.nobs == 96 and post.ngroups == {"g": 12}
    assert post.family == "gaussian" and post.seed == 11
    assert set(post.stats) >= {"diverging", "tree_depth", "n_steps", "energy", "acceptance_rate",
                               "step_size", "lp"}
    assert repr(post).startswith("<Posterior gaussian 'y ~ x + (1 | g)': 2 chains x 200 draws, 96 obs>")


def test_same_seed_same_draws(post, data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplerWarning)
        again = ml.bayes(FORMULA, data, seed=11, **SETTINGS)
        other = ml.bayes(FORMULA, data, seed=12, **SETTINGS)
    for name in post.draws:
        np.testing.assert_array_equal(again.draws[name], post.draws[name])
    assert not np.array_equal(other.draws["b_x"], post.draws["b_x"])


def test_fixef_and_ranef(post):
    fe = post.fixef()
    assert list(fe.index) == ["Intercept", "x"]
    assert list(fe.columns) == ["Estimate", "Est.Error", "Q2.5", "Q97.5"]
    assert fe.loc["x", "Estimate"] == pytest.approx(post.draws["b_x"].mean())
    assert list(post.fixef(prob=0.9).columns)[2:] == ["Q5", "Q95"]
    re = post.ranef()["g"]
    assert re.shape == (12, 4) and re.index.name == "g" and re.index[0] == "s00"
    a = post.ranef_draws["g"][..., 0, 0].astype(float)
    assert re[("Intercept", "Estimate")].iloc[0] == pytest.approx(a.mean(), rel=1e-6)
    lo, hi = re[("Intercept", "Q2.5")].iloc[0], re[("Intercept", "Q97.5")].iloc[0]
    assert lo < a.mean() < hi


def test_draws_df(post):
    df = post.draws_df()
    assert list(df.columns) == ["chain", "draw", "b_Intercept", "b_x", "sd_g__Intercept", "sigma"]
    assert df.shape == (400, 6)
    assert df.chain.tolist()[:1] + df.chain.tolist()[-1:] == [1, 2]
    assert df.draw.iloc[199] == 200 and df.draw.iloc[200] == 1
    np.testing.assert_array_equal(df.sigma.to_numpy()[200:], post.draws["sigma"][1])
    wide = post.draws_df(ranef=True)
    assert "r_g[s03,Intercept]" in wide.columns and wide.shape[1] == 6 + 12


def test_icc_and_derive(post):
    icc = post.icc()["icc_g"]
    sd, sig = post.draws["sd_g__Intercept"], post.draws["sigma"]
    np.testing.assert_allclose(icc, sd ** 2 / (sd ** 2 + sig ** 2))
    p2 = post.derive("ptau", lambda d: 1 / d["sd_g__Intercept"] ** 2)
    np.testing.assert_allclose(p2.draws["ptau"], 1 / sd ** 2)
    assert "ptau" not in post.draws and p2.derived == ("ptau",)
    assert "Derived Quantities:" in p2.summary() and "ptau" in p2.summary(style="jags")
    with pytest.raises(ValueError, match="already a parameter"):
        post.derive("sigma", lambda d: d["sigma"])
    with pytest.raises(ValueError, match="one value per draw"):
        post.derive("bad", lambda d: np.zeros(3))


def test_posterior_predictive(post, data):
    yrep = post.posterior_predictive(seed=1)
    assert yrep.shape == (400, 96)
    np.testing.assert_array_equal(yrep, post.posterior_predictive(seed=1))
    assert abs(yrep.mean() - data.y.mean()) < 0.5
    sub = post.posterior_predictive(ndraws=25, seed=2)
    assert sub.shape == (25, 96)
    new = pd.DataFrame({"x": [0.0, 0.0, 1.0], "g": ["s00", "new", "new"]})
    pp = post.posterior_predictive(new, seed=3)
    assert pp.shape == (400, 3)
    # a new group varies more than a known one (its effect is drawn from N(0, sd^2))
    assert pp[:, 1].std() > pp[:, 0].std()
    with pytest.raises(ValueError, match="ndraws must be an integer from 1 to 400"):
        post.posterior_predictive(ndraws=0)


def test_log_likelihood_matches_scipy(post, data):
    ll = post.log_likelihood()
    assert ll.shape == (2, 200, 96)
    c, k = 1, 57
    b0, b1 = post.draws["b_Intercept"][c, k], post.draws["b_x"][c, k]
    r = post.ranef_draws["g"][c, k, :, 0].astype(float)
    codes = pd.factorize(data.g, sort=True)[0]
    want = stats.norm.logpdf(data.y, b0 + b1 * data.x + r[codes], post.draws["sigma"][c, k])
    np.testing.assert_allclose(ll[c, k], want, rtol=1e-5)


def test_to_arviz_and_loo(post):
    import arviz as az

    idata = post.to_arviz()
    assert {"posterior", "sample_stats", "observed_data", "log_likelihood"} <= set(idata.groups())
    assert idata.posterior["b_x"].shape == (2, 200)
    assert idata.posterior["r_g"].shape == (2, 200, 12, 1)
    assert bool(idata.sample_stats["diverging"].dtype == bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = az.loo(idata)
        waic = az.waic(idata)
    assert np.isfinite(loo.elpd_loo) and np.isfinite(waic.elpd_waic)


def test_summary_text(post):
    text = str(post)
    lines = text.splitlines()
    assert lines[0] == " Family: gaussian"
    assert lines[2] == "Formula: y ~ x + (1 | g)"
    assert lines[3] == "   Data: sim (Number of observations: 96)"
    for part in ("Multilevel Hyperparameters:", "~g (Number of levels: 12)", "sd(Intercept)",
                 "Regression Coefficients:", "Further Distributional Parameters:",
                 "Estimate Est.Error l-95% CI u-95% CI Rhat Bulk_ESS Tail_ESS"):
        assert part in text
    jags = post.summary(style="jags", prob=0.95)
    for col in ("Lower95", "Median", "Upper95", "Mean", "SD", "MCerr", "MC%ofSD", "SSeff", "AC.10", "psrf"):
        assert col in jags
    hpd = post.summary(prob=0.9, interval="hpd")
    assert "l-90% CI u-90% CI" in hpd
    tab = post.table(prob=0.9, interval="hpd")
    assert tab.loc["b_x", "l-90% CI"] < tab.loc["b_x", "u-90% CI"]
    ps = post.prior_summary()
    assert list(ps.index) == ["b_Intercept", "b_x", "sd_g__Intercept", "sigma"]
    assert post._repr_html_().startswith("<pre>")
    with pytest.raises(ValueError, match="style must be"):
        post.summary(style="stan")


def test_sampler_messages_say_what_to_do():
    rng = np.random.default_rng(0)
    stuck = rng.normal(size=(4, 300)) + np.arange(4)[:, None]  # chains apart
    draws = {"b_x": stuck, "sigma": np.cumsum(rng.normal(size=(4, 300)), axis=1)}
    div = np.zeros((4, 300), bool)
    div[0, :3] = True
    stats_ = {"diverging": div, "tree_depth": np.full((4, 300), 10),
              "energy": np.cumsum(rng.normal(size=(4, 300)), axis=1)}
    msgs = sampler_messages(draws, stats_, max_tree_depth=10)
    text = "\n".join(msgs)
    assert "There were 3 divergent transitions after warmup" in text and "target_accept=0.95" in text
    assert "maximum tree depth of 10" in text and "max_tree_depth=12" in text
    assert "E-BFMI" in text
    assert "R-hat is above 1.01" in text and "Run longer" in text
    assert "bulk effective sample size is below 400" in text
    assert all("\n" not in m for m in msgs)


def test_keep_ranef_false(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SamplerWarning)
        lean = ml.bayes(FORMULA, data, seed=5, keep_ranef=False, **SETTINGS)
    assert lean.ranef_draws is None
    assert lean.draws["b_x"].shape == (2, 200)
    with pytest.raises(ValueError, match="keep_ranef=True"):
        lean.ranef()
    with pytest.raises(ValueError, match="keep_ranef=True"):
        lean.posterior_predictive()
    with pytest.warns(UserWarning, match="no log_likelihood group"):
        idata = lean.to_arviz()
    assert "log_likelihood" not in idata.groups()


def test_trace_and_density_plots_take_a_posterior(post):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = ml.plots.trace(post, params=["b_x", "sigma"])
    fig2 = ml.plots.density(post, params="sd_")
    assert len(fig.axes) >= 2 and len(fig2.axes) >= 1
    plt.close("all")
