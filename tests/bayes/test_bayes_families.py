"""ml.bayes with the negative binomial (NB2), gamma and beta families.

- the JAX log joint density against scipy's distributions at fixed values;
- the default priors (brms's gamma(0.01, 0.01) on shape and phi, the
  Intercept's prior centred on the link of the median response) and clear
  errors for priors and responses the families cannot take;
- a short run of each family: summary, posterior predictive draws inside the
  family's support, pointwise log-likelihood and ``to_arviz``.

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

PRIORS = {"Intercept": P.normal(0.5, 2), "b": P.normal(0, 1), "sd": P.half_normal(1.5)}


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(6), 8)
    x = rng.normal(1.0, 1.0, g.size)
    mu = np.exp(0.7 + 0.4 * x + rng.normal(0, 0.5, 6)[g])
    return pd.DataFrame({
        "g": g.astype(str), "x": x, "w": rng.uniform(0.5, 2.0, g.size),
        "cnt": rng.negative_binomial(2.0, 2.0 / (2.0 + mu)),
        "pos": rng.gamma(3.0, mu / 3.0),
        "prop": rng.beta(8 * special.expit(np.log(mu) - 1), 8 * (1 - special.expit(np.log(mu) - 1)))})


def _point(model):
    b_c = np.array([0.6, 0.35])
    b = b_c.copy()
    b[0] -= model.x_means @ b_c  # the raw intercept
    return b_c, b, np.array([0.8]), np.linspace(-1.1, 1.3, 6)[:, None]


def _prior_part(model, b_c, sd, z, aux_name, aux):
    want = (stats.norm.logpdf(b_c[0], 0.5, 2) + stats.norm.logpdf(b_c[1], 0, 1)
            + np.log(2) + stats.norm.logpdf(sd[0], 0, 1.5) + stats.norm.logpdf(z).sum())
    return want + stats.gamma.logpdf(aux, 0.01, scale=1 / 0.01)


@pytest.mark.parametrize("family, link, response, aux", [
    ("negative_binomial", "log", "cnt", 2.5), ("gamma", "log", "pos", 4.0),
    ("beta", "logit", "prop", 9.0), ("beta", "probit", "prop", 9.0), ("beta", "cloglog", "prop", 9.0)])
def test_log_joint_against_scipy(sim, family, link, response, aux):
    model = prepare(f"{response} ~ x + (1 | g)", sim, family=family, link=link, priors=PRIORS, weights="w")
    name = "phi" if family == "beta" else "shape"
    b_c, b, sd, z = _point(model)
    got = model.log_joint({"b": b_c, "sd": sd, "z0": z, name: aux})
    codes = pd.factorize(sim.g, sort=True)[0]
    eta = b[0] + b[1] * sim.x.to_numpy() + sd[0] * z[codes, 0]
    y, w = sim[response].to_numpy(), sim.w.to_numpy()
    if family == "negative_binomial":
        mu = np.exp(eta)
        ll = stats.nbinom.logpmf(y, aux, aux / (aux + mu))
    elif family == "gamma":
        ll = stats.gamma.logpdf(y, aux, scale=np.exp(eta) / aux)
    else:
        mu = {"logit": special.expit, "probit": special.ndtr,
              "cloglog": lambda e: -np.expm1(-np.exp(e))}[link](eta)
        ll = stats.beta.logpdf(y, mu * aux, (1 - mu) * aux)
    want = _prior_part(model, b_c, sd, z, name, aux) + np.sum(w * ll)
    assert got == pytest.approx(want, rel=1e-10)


def test_default_priors_and_bad_priors(sim):
    nb = prepare("cnt ~ x + (1 | g)", sim, family="nbinom2")
    table = {s.name: (str(s.prior), s.source) for s in nb.slots}
    assert table["shape"] == ("gamma(0.01, 0.01)", "default")
    med = np.log(np.median(sim.cnt))
    assert table["b_Intercept"][0] == f"normal({round(med, 2):.4g}, 2.5)"
    beta = prepare("prop ~ x + (1 | g)", sim, family="beta")
    assert {s.name: str(s.prior) for s in beta.slots}["phi"] == "gamma(0.01, 0.01)"
    assert {s.name for s in beta.slots}.isdisjoint({"shape", "sigma"})
    with pytest.raises(ValueError, match=r"priors\['shape'\] = normal\(0, 1\) puts mass below 0, but shape "
                                         r"is a shape parameter \(> 0\)"):
        prepare("pos ~ x + (1 | g)", sim, family="gamma", priors={"shape": P.normal(0, 1)})
    with pytest.raises(ValueError, match="unknown prior key 'phi'; valid keys for this model: .*shape"):
        prepare("pos ~ x + (1 | g)", sim, family="gamma", priors={"phi": P.gamma(1, 1)})


def test_bad_families_links_and_responses(sim):
    with pytest.raises(ValueError, match="link 'inverse' is not available for the gamma family in ml.bayes; "
                                         "choose one of: log"):
        prepare("pos ~ x + (1 | g)", sim, family="gamma", link="inverse")
    with pytest.raises(ValueError, match="non-integer values"):
        prepare("pos ~ x + (1 | g)", sim, family="nbinom1")
    with pytest.raises(ValueError, match="between 0 and 1"):
        prepare("y ~ x + (1 | g)", sim.assign(y=np.r_[0.0, sim.prop[1:]]), family="beta")
    with pytest.raises(ValueError, match="negative values .* a negative binomial response is a count"):
        prepare("y ~ x + (1 | g)", sim.assign(y=-sim.cnt), family="negative_binomial")
    with pytest.raises(ValueError, match="positive"):
        prepare("y ~ x + (1 | g)", sim.assign(y=sim.pos - 10), family="gamma")


@pytest.mark.parametrize("family, response", [("negative_binomial", "cnt"), ("gamma", "pos"), ("beta", "prop")])
def test_short_run_outputs(sim, family, response):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a short run may warn of low ESS
        post = ml.bayes(f"{response} ~ x + (1 | g)", sim, family=family, priors=PRIORS, chains=2, draws=300,
                        warmup=300, seed=3, progress=False)
    name = "phi" if family == "beta" else "shape"
    assert name in post.draws and np.all(post.draws[name] > 0)
    text = post.summary()
    assert f"Family: {family}" in text and f"{name} = identity" in text
    assert "Further Distributional Parameters:" in text
    yrep = post.posterior_predictive(ndraws=50, seed=1)
    assert yrep.shape == (50, len(sim))
    if family == "negative_binomial":
        assert np.all(yrep >= 0) and np.all(yrep == np.round(yrep))
    elif family == "gamma":
        assert np.all(yrep > 0)
    else:
        assert np.all((yrep > 0) & (yrep < 1))
    # the mean of the replicated data follows the data's
    assert np.mean(yrep) == pytest.approx(sim[response].mean(), rel=0.25)
    idata = post.to_arviz()
    assert name in idata.posterior and "log_likelihood" in idata.groups()
    ll = idata.log_likelihood[list(idata.log_likelihood.data_vars)[0]]
    assert ll.shape == (2, 300, len(sim)) and np.all(np.isfinite(ll))


# ------------------------------------------------------------------ cumulative
@pytest.fixture(scope="module")
def wine():
    return ml.datasets.load("wine")


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_cumulative_log_joint_against_scipy(wine, link):
    pri = {"Intercept": P.normal(0, 3), "b": P.normal(0, 2), "sd": P.half_normal(1)}
    model = prepare("rating ~ temp + contact + (1 | judge)", wine, family="cumulative", link=link, priors=pri)
    assert model.struct.ncat == 5 and model.design.fixed.names == ("tempwarm", "contactyes")
    thr_c = np.array([-1.5, 0.3, 2.0, 3.1])
    b = np.array([2.5, 1.4])
    sd, z = np.array([0.9]), np.linspace(-1.0, 1.2, 9)[:, None]
    got = model.log_joint({"b": b, "sd": sd, "z0": z, "thr": thr_c})
    X = np.c_[wine.temp == "warm", wine.contact == "yes"].astype(float)
    eta = (X - X.mean(axis=0)) @ b + sd[0] * z[wine.judge.cat.codes.to_numpy(), 0]
    F = {"logit": stats.logistic.cdf, "probit": stats.norm.cdf, "cloglog": lambda x: -np.expm1(-np.exp(x))}[link]
    S = {"logit": stats.logistic.sf, "probit": stats.norm.sf, "cloglog": lambda x: np.exp(-np.exp(x))}[link]
    y = wine.rating.cat.codes.to_numpy()
    cut = np.r_[-np.inf, thr_c, np.inf]
    upper, lower = cut[y + 1] - eta, cut[y] - eta
    with np.errstate(invalid="ignore"):  # (the difference of the smaller tails: no digits lost)
        p = np.where(lower > 0, S(lower) - S(upper), F(upper) - F(lower))
    want = (stats.norm.logpdf(thr_c, 0, 3).sum() + stats.norm.logpdf(b, 0, 2).sum() + np.log(2)
            + stats.norm.logpdf(sd[0], 0, 1) + stats.norm.logpdf(z).sum() + np.log(p).sum())
    assert got == pytest.approx(want, rel=1e-10)


def test_cumulative_posterior_outputs(wine, tmp_path):
    pri = {"Intercept": P.normal(0, 5), "b": P.normal(0, 2.5), "sd": P.half_normal(2)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = ml.bayes("rating ~ temp + contact + (1 | judge)", wine, family="cumulative", priors=pri,
                        chains=2, draws=400, warmup=400, seed=5, progress=False)
    fe = post.fixef()
    assert list(fe.index) == ["Intercept[1]", "Intercept[2]", "Intercept[3]", "Intercept[4]", "tempwarm",
                              "contactyes"]
    assert np.all(np.diff(fe.Estimate.iloc[:4]) > 0)
    # near ordinal::clmm's Laplace estimates (tests/reference/ordinal_clmm.json), within a posterior SD
    clmm = ml.clmm("rating ~ temp + contact + (1 | judge)", wine)
    np.testing.assert_allclose(fe.Estimate.to_numpy(), np.r_[clmm.thresholds, clmm.beta], atol=fe["Est.Error"].max())
    text = post.summary()
    assert "Intercept[1]" in text and "Family: cumulative" in text
    # category probabilities sum to 1, and the pointwise log-likelihood is log P(Y = y)
    p = post.epred()
    assert p.shape == (800, 72, 5)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-12)
    ll = post.log_likelihood().reshape(800, 72)
    y = wine.rating.cat.codes.to_numpy()
    np.testing.assert_allclose(ll, np.log(p[:, np.arange(72), y]), rtol=1e-8, atol=1e-10)
    yrep = post.posterior_predictive(seed=2)
    assert set(np.unique(yrep)) <= set(range(5))
    assert np.bincount(yrep.astype(int).ravel(), minlength=5) / yrep.size == pytest.approx(
        np.bincount(y, minlength=5) / 72, abs=0.03)
    assert post.icc()["icc_judge"].mean() == pytest.approx(
        np.mean(post.draws["sd_judge__Intercept"] ** 2 / (post.draws["sd_judge__Intercept"] ** 2 + np.pi ** 2 / 3)))
    back = ml.load(post.save(tmp_path / "wine.mlpost"))
    assert back.fixef().equals(fe)


def test_cumulative_bad_inputs(wine):
    with pytest.raises(ValueError, match="is not an ordered categorical"):
        prepare("y ~ temp + (1 | judge)", wine.assign(y=wine.rating.astype(str)), family="cumulative")
    with pytest.raises(ValueError, match="thresholds take the place of the intercept"):
        prepare("rating ~ 0 + temp + (1 | judge)", wine, family="cumulative")
    with pytest.raises(ValueError, match="need a prior on the whole real line"):
        prepare("rating ~ temp + (1 | judge)", wine, family="cumulative", priors={"Intercept": P.half_normal(1)})
    with pytest.raises(ValueError, match="link 'log' is not available for the cumulative family"):
        prepare("rating ~ temp + (1 | judge)", wine, family="cumulative", link="log")


@pytest.mark.parametrize("family", ["negative_binomial", "gamma", "beta", "cumulative"])
def test_grid_layout_gives_the_same_density(family):
    # a complete items x persons grid of 1,000 rows takes the gather-free
    # layout; dropping one row takes the general one: the two densities differ
    # by exactly that row's log-likelihood (here checked against scipy's)
    rng = np.random.default_rng(11)
    g, item = np.repeat(np.arange(100), 10), np.tile(np.arange(10), 100)
    x = (item - 4.5) / 3.0
    eta = 0.4 + 0.5 * x + rng.normal(0, 0.6, 100)[g]
    mu = np.exp(eta)
    y = {"negative_binomial": rng.negative_binomial(3.0, 3.0 / (3.0 + mu)).astype(float),
         "gamma": rng.gamma(4.0, mu / 4.0),
         "beta": rng.beta(6 * special.expit(eta - 0.4), 6 * (1 - special.expit(eta - 0.4))),
         "cumulative": pd.Categorical.from_codes(np.digitize(eta + rng.logistic(size=eta.size), [0.0, 1.0]),
                                                 ["lo", "mid", "hi"], ordered=True)}[family]
    frame = pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})
    full = prepare("y ~ x + (1 | g)", frame, family=family, priors=PRIORS)
    less = prepare("y ~ x + (1 | g)", frame.iloc[1:], family=family, priors=PRIORS)
    assert full.struct.grid and not less.struct.grid
    name = {"negative_binomial": "shape", "gamma": "shape", "beta": "phi", "cumulative": "thr"}[family]
    value = np.array([-0.5, 0.8]) if family == "cumulative" else 3.5
    b_c = np.array([0.45]) if family == "cumulative" else np.array([0.3, 0.45])
    z = np.linspace(-1.5, 1.5, 100)[:, None]
    point = {"b": b_c, "sd": np.array([0.7]), "z0": z, name: value}
    # row 0 is the first row of group "0": its eta on the model's (centred) scale
    eta0 = 0.7 * z[0, 0] + (b_c[-1] * (x[0] - full.x_means[-1]) + (b_c[0] if family != "cumulative" else 0.0))
    y0 = frame.y.iloc[0]
    if family == "negative_binomial":
        ll0 = stats.nbinom.logpmf(y0, value, value / (value + np.exp(eta0)))
    elif family == "gamma":
        ll0 = stats.gamma.logpdf(y0, value, scale=np.exp(eta0) / value)
    elif family == "beta":
        m0 = special.expit(eta0)
        ll0 = stats.beta.logpdf(y0, m0 * value, (1 - m0) * value)
    else:
        cut = np.r_[-np.inf, value, np.inf]
        k = frame.y.cat.codes.iloc[0]
        ll0 = np.log(special.expit(cut[k + 1] - eta0) - special.expit(cut[k] - eta0))
    # the two models centre x at slightly different means: evaluate the smaller
    # one at the same raw coefficients
    shift = dict(point)
    if family != "cumulative":
        shift["b"] = np.array([b_c[0] + b_c[1] * (less.x_means[1] - full.x_means[1]), b_c[1]])
    else:
        shift["thr"] = value + b_c[0] * (full.x_means[0] - less.x_means[0])  # raw = centred + m b
    moved = shift["thr"] if family == "cumulative" else shift["b"][:1]
    start = value if family == "cumulative" else b_c[:1]
    prior_change = np.sum(stats.norm.logpdf(start, 0.5, 2) - stats.norm.logpdf(moved, 0.5, 2))
    assert full.log_joint(point) - less.log_joint(shift) == pytest.approx(ll0 + prior_change, abs=1e-8)


def test_cumulative_tails_aliases_and_refusals(wine):
    import jax

    from multilevel.bayes.model import _cumulative_loglik

    jax.config.update("jax_enable_x64", True)
    thr = np.array([-1.0, 0.5, 2.0, 3.5])
    # far in the upper tail the middle categories keep their digits: the
    # difference of scipy's survival functions there loses none
    sf = {"cloglog": lambda v: np.exp(-np.exp(v)), "probit": stats.norm.sf, "logit": lambda v: special.expit(-v)}
    for link, eta in (("cloglog", -2.0), ("probit", -8.0), ("logit", -30.0)):
        got = np.asarray(_cumulative_loglik(link, np.array([1, 2, 3]), np.full(3, eta), thr))
        want = [np.log(sf[link](thr[k - 1] - eta) - sf[link](thr[k] - eta)) for k in (1, 2, 3)]
        np.testing.assert_allclose(got, want, rtol=1e-9)
    # a family object keeps its own link; the families' other names are understood
    m = prepare("rating ~ temp + (1 | judge)", wine, family=ml.families.family("cumulative", "probit"))
    assert m.struct.link == "probit"
    assert prepare("rating ~ temp + (1 | judge)", wine, family="ordinal").struct.family == "cumulative"
    assert prepare("y ~ temp + (1 | judge)", wine.assign(y=wine.rating.cat.codes), family="nb1").struct.family \
        == "nbinom1"
    # marginal means of category probabilities are refused, not computed on the linear predictor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = ml.bayes("rating ~ temp + (1 | judge)", wine, family="cumulative", chains=1, draws=100, warmup=100,
                        seed=1, progress=False)
    for call in (lambda: ml.emmeans(post, "temp"), lambda: ml.effects(post, "temp")):
        with pytest.raises(ValueError, match="marginal means, effects and slopes of a cumulative model"):
            call()


def test_nbinom1_and_betabinomial_log_joint_against_scipy(sim):
    rng = np.random.default_rng(4)
    trials = rng.integers(2, 15, len(sim))
    frame = sim.assign(k=rng.binomial(trials, special.expit(sim.x - 1.0)), m=trials)
    for family, formula, phi in (("nbinom1", "cnt ~ x + (1 | g)", 1.7),
                                 ("betabinomial", "cbind(k, m - k) ~ x + (1 | g)", 6.0)):
        model = prepare(formula, frame, family=family, priors=PRIORS)
        b_c, b, sd, z = _point(model)
        got = model.log_joint({"b": b_c, "sd": sd, "z0": z, "phi": phi})
        codes = pd.factorize(sim.g, sort=True)[0]
        eta = b[0] + b[1] * sim.x.to_numpy() + sd[0] * z[codes, 0]
        if family == "nbinom1":
            mu = np.exp(eta)
            ll = stats.nbinom.logpmf(frame.cnt, mu / phi, 1 / (1 + phi))
        else:
            mu = special.expit(eta)
            ll = stats.betabinom.logpmf(frame.k, frame.m, mu * phi, (1 - mu) * phi)
        assert got == pytest.approx(_prior_part(model, b_c, sd, z, "phi", phi) + ll.sum(), rel=1e-10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = ml.bayes("cbind(k, m - k) ~ x + (1 | g)", frame, family="betabinomial", priors=PRIORS, chains=2,
                        draws=300, warmup=300, seed=2, progress=False)
    yrep = post.posterior_predictive(ndraws=40, seed=1)
    assert np.allclose(yrep * trials, np.round(yrep * trials)) and np.all((yrep >= 0) & (yrep <= 1))
    assert "phi" in post.summary()
    with pytest.raises(ValueError, match="more than one trial"):
        prepare("y ~ x + (1 | g)", frame.assign(y=(frame.k > 3).astype(int)), family="betabinomial")
