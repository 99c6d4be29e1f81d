"""ml.bayes with zero inflation (``zi=``) of Poisson and negative binomial counts.

- the JAX log joint density against the mixture written with scipy's
  distributions, at fixed values, with and without weights;
- the default and user priors of the zero-inflation coefficients
  (``Intercept_zi``, ``b_zi``, ``b_zi_<coef>``) and clear errors;
- a short run: the posterior agrees with glmer's zero-inflated fit of the
  same data, and the draws, summaries, predictions (``dpar``), posterior
  predictive zeros, log-likelihood and save / load work.

The posteriors are checked against long brms runs in
tests/bayes/test_bayes_models_slow.py, and calibrated in tests/bayes/test_sbc.py.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

import multilevel as ml
from multilevel.bayes import priors as P
from multilevel.bayes.fit import prepare

PRIORS = {"Intercept": P.normal(0.5, 2), "b": P.normal(0, 1), "sd": P.half_normal(1.5),
          "Intercept_zi": P.logistic(0, 1), "b_zi": P.normal(0, 2)}


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(11)
    G, n = 20, 400
    g = rng.integers(0, G, n)
    x, z = rng.normal(size=n), rng.normal(1.0, 1.0, size=n)
    mu = np.exp(0.6 + 0.4 * x + rng.normal(0, 0.5, G)[g])
    pi = special.expit(-0.6 + 0.8 * (z - 1.0))
    structural = rng.uniform(size=n) < pi
    return pd.DataFrame({"g": g.astype(str), "x": x, "z": z, "w": rng.uniform(0.5, 2.0, n),
                         "y": np.where(structural, 0, rng.poisson(mu)),
                         "ynb": np.where(structural, 0, rng.negative_binomial(3.0, 3.0 / (3.0 + mu)))})


@pytest.fixture(scope="module")
def post(sim):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.bayes("y ~ x + (1 | g)", sim, family="poisson", zi="~ z", chains=2, draws=400, warmup=400,
                        seed=3, progress=False)


@pytest.mark.parametrize("family, response, aux", [("poisson", "y", None), ("negative_binomial", "ynb", 2.5),
                                                   ("nbinom1", "ynb", 1.7)])
@pytest.mark.parametrize("weights", [None, "w"])
def test_log_joint_against_scipy(sim, family, response, aux, weights):
    model = prepare(f"{response} ~ x + (1 | g)", sim, family=family, priors=PRIORS, weights=weights, zi="~ z")
    b_c, sd, zz = np.array([0.6, 0.35]), np.array([0.8]), np.linspace(-1.1, 1.3, 20)[:, None]
    g_c = np.array([-0.4, 0.7])
    params = {"b": b_c, "sd": sd, "z0": zz, "bzi": g_c}
    name = {"negative_binomial": "shape", "nbinom1": "phi"}.get(family)
    if name:
        params[name] = aux
    got = model.log_joint(params)
    b = b_c.copy()
    b[0] -= model.x_means @ b_c
    gam = g_c.copy()
    gam[0] -= model.zi_means @ g_c
    codes = pd.factorize(sim.g, sort=True)[0]
    x, z, y = sim.x.to_numpy(), sim.z.to_numpy(), sim[response].to_numpy()
    mu = np.exp(b[0] + b[1] * x + sd[0] * zz[codes, 0])
    pi = special.expit(gam[0] + gam[1] * z)
    if family == "poisson":
        f = stats.poisson.pmf(y, mu)
    elif family == "negative_binomial":
        f = stats.nbinom.pmf(y, aux, aux / (aux + mu))
    else:
        f = stats.nbinom.pmf(y, mu / aux, 1 / (1 + aux))
    ll = np.log(np.where(y == 0, pi + (1 - pi) * f, (1 - pi) * f))
    w = np.ones_like(ll) if weights is None else sim.w.to_numpy()
    prior = (stats.norm.logpdf(b_c[0], 0.5, 2) + stats.norm.logpdf(b_c[1], 0, 1) + np.log(2)
             + stats.norm.logpdf(sd[0], 0, 1.5) + stats.norm.logpdf(zz).sum()
             + stats.logistic.logpdf(g_c[0]) + stats.norm.logpdf(g_c[1], 0, 2))
    if name:
        prior += stats.gamma.logpdf(aux, 0.01, scale=100)
    assert got == pytest.approx(prior + np.sum(w * ll), rel=1e-10)


def test_default_priors_and_keys(sim):
    m = prepare("y ~ x + (1 | g)", sim, family="poisson", zi="~ z")
    table = {s.name: (str(s.prior), s.cls) for s in m.slots}
    assert table["b_zi_Intercept"] == ("logistic(0, 1)", "Intercept_zi")
    sx = float(np.std(sim.z, ddof=1))
    assert table["b_zi_z"] == (str(P.normal(0, 2.5 / sx)), "b_zi")
    m2 = prepare("y ~ x + (1 | g)", sim, family="poisson", zi="~ z",
                 priors={"b_zi_Intercept": P.normal(-1, 1), "b_zi_z": P.normal(0, 0.5)})
    got = {s.name: (str(s.prior), s.source) for s in m2.slots}
    assert got["b_zi_Intercept"] == ("normal(-1, 1)", "Intercept_zi")
    assert got["b_zi_z"] == ("normal(0, 0.5)", "b_zi_z")
    with pytest.raises(ValueError, match="unknown prior key 'b_zi_x'; valid keys .*b_zi_z"):
        prepare("y ~ x + (1 | g)", sim, family="poisson", zi="~ z", priors={"b_zi_x": P.normal(0, 1)})
    with pytest.raises(ValueError, match="unknown prior key 'b_zi'"):  # no zi=: no such class
        prepare("y ~ x + (1 | g)", sim, family="poisson", priors={"b_zi": P.normal(0, 1)})
    with pytest.raises(ValueError, match="rename that column"):
        prepare("y ~ zi_z + (1 | g)", sim.assign(zi_z=sim.x), family="poisson", zi="~ z")
    with pytest.raises(ValueError, match="not a prior for a correlation|mass below 0|Intercept_zi"):
        prepare("y ~ x + (1 | g)", sim, family="poisson", zi="~ z", priors={"Intercept_zi": P.lkj(1)})


def test_bad_inputs(sim):
    with pytest.raises(ValueError, match="structural zeros of counts .* not of a gaussian"):
        prepare("y ~ x + (1 | g)", sim, zi="~ z")
    with pytest.raises(ValueError, match="fixed-effects right-hand side"):
        prepare("y ~ x + (1 | g)", sim, family="poisson", zi="~ z + (1 | g)")
    with pytest.raises(TypeError, match="zi must be a formula's right-hand side"):
        prepare("y ~ x + (1 | g)", sim, family="poisson", zi=3)
    with pytest.raises(ValueError, match="has no zeros: drop zi="):
        prepare("y ~ x + (1 | g)", sim.assign(y=sim.y + 1), family="poisson", zi="~ z")
    with pytest.raises(ValueError, match=r"in zi='~ nope'.*nope"):
        prepare("y ~ x + (1 | g)", sim, family="poisson", zi="~ nope")
    with pytest.warns(UserWarning, match="dropping 1 column: z2"):  # as for the fixed effects
        m = prepare("y ~ x + (1 | g)", sim.assign(z2=2 * sim.z), family="poisson", zi="~ z + z2")
    assert m.zi_design.fixed.names == ("(Intercept)", "z")
    with pytest.raises(ValueError, match="has no columns"):
        prepare("y ~ x + (1 | g)", sim, family="poisson", zi="~ 0")


def test_short_run_agrees_with_glmer(sim, post):
    fit = ml.glmer("y ~ x + (1 | g)", sim, family="poisson", zi="~ z")
    fe = post.fixef()
    assert list(fe.index) == ["Intercept", "x", "zi_Intercept", "zi_z"]
    want = np.r_[fit.fixef.to_numpy(), fit.zi["Estimate"].to_numpy()]
    se = np.r_[fit.coef_table()["Std. Error"].to_numpy(), fit.zi["Std. Error"].to_numpy()]
    # the posterior means under weak priors are within a fraction of a standard error of the ML estimates
    assert np.all(np.abs(fe["Estimate"].to_numpy() - want) < 0.35 * se)
    assert np.allclose(fe["Est.Error"].to_numpy(), se, rtol=0.25)


def test_outputs(sim, post, tmp_path):
    n = len(sim)
    text = str(post.summary())
    assert " Family: zero_inflated_poisson" in text and "zi = logit" in text and "zi ~ z" in text
    assert "zi_z" in text
    mean, mu, pi = post.epred(), post.epred(dpar="mu"), post.epred(dpar="zi")
    assert mean.shape == mu.shape == pi.shape == (800, n)
    assert np.allclose(mean, (1 - pi) * mu)
    zeta = post.linpred(dpar="zi")
    assert np.allclose(special.expit(zeta), pi)
    g = post.draws["b_zi_Intercept"].reshape(-1)[:, None] + post.draws["b_zi_z"].reshape(-1)[:, None] * sim.z.to_numpy()
    assert np.allclose(zeta, g)
    # replicated data have the observed share of zeros, and a mean near the observed
    rep = post.posterior_predictive(seed=1)
    assert abs((rep == 0).mean() - (sim.y == 0).mean()) < 0.03
    assert abs(rep.mean() - sim.y.mean()) < 0.1 * sim.y.mean()
    new = pd.DataFrame({"x": [0.0, 1.0], "z": [-1.0, 3.0], "g": ["0", "a new group"]})
    assert post.epred(new, dpar="zi").mean(axis=0)[1] > 0.6 > post.epred(new, dpar="zi").mean(axis=0)[0]
    assert post.posterior_predictive(new, seed=2).shape == (800, 2)
    with pytest.raises(ValueError, match="missing zero-inflation predictor"):
        post.epred(new.assign(z=[np.nan, 1.0]), dpar="zi")
    # pointwise log-likelihood: the model's own density at each draw
    ll = post.to_arviz().log_likelihood["y"].values
    assert ll.shape == (2, 400, n) and np.isfinite(ll).all()
    path = post.save(tmp_path / "zip.mlz")
    back = ml.load(path)
    assert back.model.zi_formula == "~ z"
    assert np.allclose(back.epred(new, dpar="zi", seed=0), post.epred(new, dpar="zi", seed=0))
    pd.testing.assert_frame_equal(back.fixef(), post.fixef())


def test_dpar_errors(sim, post):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (a run too short for its ESS)
        plain = ml.bayes("y ~ x", sim, family="poisson", chains=1, draws=50, warmup=50, seed=1, progress=False)
    with pytest.raises(ValueError, match="dpar='zi' is for a zero-inflated model"):
        plain.epred(dpar="zi")
    with pytest.raises(ValueError, match="dpar must be None, 'mu' or 'zi'"):
        post.epred(dpar="sigma")


def test_log_joint_with_an_offset_in_zi(sim):
    # glmmTMB's offset() in ziformula: logit(pi) = X_zi gamma + offset
    data = sim.assign(o=np.linspace(-1.0, 1.5, len(sim)))
    model = prepare("y ~ x + (1 | g)", data, family="poisson", priors=PRIORS, zi="~ z + offset(o)")
    plain = prepare("y ~ x + (1 | g)", data, family="poisson", priors=PRIORS, zi="~ z")
    params = {"b": np.array([0.6, 0.35]), "sd": np.array([0.8]), "z0": np.linspace(-1.1, 1.3, 20)[:, None],
              "bzi": np.array([-0.4, 0.7])}
    gam = params["bzi"].copy()
    gam[0] -= model.zi_means @ params["bzi"]
    pi_with = special.expit(gam[0] + gam[1] * data.z.to_numpy() + data.o.to_numpy())
    pi_without = special.expit(gam[0] + gam[1] * data.z.to_numpy())
    b = params["b"].copy()
    b[0] -= model.x_means @ params["b"]
    codes = pd.factorize(data.g, sort=True)[0]
    f = stats.poisson.pmf(data.y, np.exp(b[0] + b[1] * data.x + 0.8 * params["z0"][codes, 0]))
    y = data.y.to_numpy()

    def ll(pi):
        return np.sum(np.log(np.where(y == 0, pi + (1 - pi) * f, (1 - pi) * f)))

    assert model.log_joint(params) - plain.log_joint(params) == pytest.approx(ll(pi_with) - ll(pi_without),
                                                                              rel=1e-9)


def test_predictions_of_new_rows_take_their_zi_offset(sim):
    data = sim.assign(o=np.linspace(-1.0, 1.5, len(sim)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = ml.bayes("y ~ x + (1 | g)", data, family="poisson", zi="~ z + offset(o)", chains=1, draws=100,
                        warmup=100, seed=5, progress=False)
    new = pd.DataFrame({"x": [0.0, 0.0], "z": [1.0, 1.0], "o": [0.0, 2.0], "g": ["new", "new"]})
    pi = post.epred(new, dpar="zi")
    g0, g1 = post.draws["b_zi_Intercept"].reshape(-1), post.draws["b_zi_z"].reshape(-1)
    np.testing.assert_allclose(pi, special.expit(np.column_stack([g0 + g1, g0 + g1 + 2.0])), rtol=1e-10)
    with pytest.raises(ValueError, match="offset is missing"):
        post.epred(new.assign(o=[np.nan, 0.0]), dpar="zi")
