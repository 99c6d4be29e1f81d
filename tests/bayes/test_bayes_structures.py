"""Covariance structures (cs, hcs, ar1) in ml.bayes.

- The log joint density of the full model (NUTS) and the collapsed model's log density
  (effects integrated out) at fixed parameter values, against independent scipy
  computations with the structure's covariance written out entry by entry.
- The two samplers agree with each other on simulated data, and with the ML fit of
  ml.lmer (a large sample, weak priors).
- Names, priors, summaries and bad priors.

Simulation-based calibration of the ar1 and cs models is in test_sbc.py (slow).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml
from multilevel.bayes import priors as P
from multilevel.bayes.fit import prepare

jax = pytest.importorskip("jax")


def _correlation(kind, k, rho):
    i = np.arange(k)
    if kind == "ar1":
        return rho ** np.abs(i[:, None] - i[None, :])
    return np.where(i[:, None] == i[None, :], 1.0, rho)


@pytest.fixture(scope="module")
def panel():
    """60 subjects x 5 occasions x 2 replicates, AR(1) subject-by-occasion effects."""
    rng = np.random.default_rng(3)
    G, K, R = 60, 5, 2
    S = 1.5 ** 2 * _correlation("ar1", K, 0.6)
    b = rng.multivariate_normal(np.zeros(K), S, size=G)
    d = pd.DataFrame([(g, k, r) for g in range(G) for k in range(K) for r in range(R)], columns=["g", "occ", "rep"])
    d["x"] = rng.normal(size=len(d))
    d["y"] = 1 + 0.5 * d.x + b[d.g, d.occ] + rng.normal(scale=1.0, size=len(d))
    d["g"] = d.g.astype(str)
    d["occ"] = pd.Categorical(d.occ, ordered=True)
    return d


@pytest.fixture(scope="module")
def small(panel):
    return panel[panel.g.isin([str(i) for i in range(6)])].reset_index(drop=True)


PRIORS = {"Intercept": P.normal(1, 3), "b": P.normal(0, 2), "sd": P.half_normal(2), "sigma": P.exponential(1)}


@pytest.mark.parametrize("kind, rho, prior", [("ar1", 0.55, (-1.0, 1.0)), ("cs", -0.15, (-0.25, 1.0)),
                                              ("hcs", 0.3, (0.0, 0.9))])
def test_log_joint_equals_scipy(small, kind, rho, prior):
    pri = dict(PRIORS, rho=P.uniform(*prior)) if kind == "hcs" else PRIORS
    model = prepare(f"y ~ x + {kind}(0 + occ | g)", small, priors=pri, center=False)
    k = 5
    sd = np.array([1.3, 0.9, 1.1, 1.6, 0.7]) if kind == "hcs" else np.array([1.3])
    z = np.linspace(-1.2, 1.4, 6 * k).reshape(6, k)
    b = np.array([0.8, 0.4])
    sigma = 0.9
    got = model.log_joint({"b": b, "sd": sd, "rho0": rho, "z0": z, "sigma": sigma})

    s = np.broadcast_to(sd, (k,))
    F = s[:, None] * np.linalg.cholesky(_correlation(kind, k, rho))   # the term's covariance factor
    u = z @ F.T                                                       # (levels, k)
    codes = pd.factorize(small.g, sort=True)[0]
    occ = small.occ.cat.codes.to_numpy()
    eta = b[0] + b[1] * small.x + u[codes, occ]
    want = (stats.norm.logpdf(b[0], 1, 3) + stats.norm.logpdf(b[1], 0, 2)
            + stats.halfnorm.logpdf(sd, scale=2).sum()
            + stats.uniform.logpdf(rho, prior[0], prior[1] - prior[0])
            + stats.expon.logpdf(sigma)
            + stats.norm.logpdf(z).sum()
            + stats.norm.logpdf(small.y, eta, sigma).sum())
    assert got == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("kind, rho", [("ar1", -0.4), ("cs", 0.35)])
def test_collapsed_density_equals_dense_normal(small, kind, rho):
    """The collapsed sampler's density: priors on (sd, rho, sigma) plus y's marginal normal
    density with the effects and the fixed effects' normal prior integrated out."""
    from numpyro.infer.util import log_density

    from multilevel.bayes.collapsed import collapsed_parts
    from multilevel.bayes.collapsed_sampler import _collapsed_model, fixed_normal_prior

    model = prepare(f"y ~ x + {kind}(0 + occ | g)", small, priors=PRIORS, center=False)
    sd, sigma = 1.2, 0.8
    with jax.enable_x64(True):
        m0, S0 = fixed_normal_prior(model)
        cstruct, arrays = collapsed_parts(model.design, m0, S0)
        fn = _collapsed_model(cstruct, model.struct.varpar, False)
        _, pv = model.jax_inputs()
        sites = {"_sd0": np.array([sd]), "_rho0": np.array(rho), "sigma": np.array(sigma)}
        got = float(log_density(fn, (pv["varpar"], arrays), {}, sites)[0])

    k = 5
    G = sd ** 2 * _correlation(kind, k, rho)
    codes = pd.factorize(small.g, sort=True)[0]
    occ = small.occ.cat.codes.to_numpy()
    Z = np.zeros((len(small), 6 * k))
    Z[np.arange(len(small)), codes * k + occ] = 1.0
    X = np.c_[np.ones(len(small)), small.x]
    C = X @ S0 @ X.T + Z @ np.kron(np.eye(6), G) @ Z.T + sigma ** 2 * np.eye(len(small))
    want = (stats.multivariate_normal.logpdf(small.y, X @ m0, C)
            + stats.halfnorm.logpdf(sd, scale=2) + stats.uniform.logpdf(rho, -1 if kind == "ar1" else -0.25,
                                                                         2 if kind == "ar1" else 1.25)
            + stats.expon.logpdf(sigma))
    assert got == pytest.approx(want, rel=1e-9)


def _means(post):
    return {k: (float(v.mean()), float(v.std())) for k, v in post.draws.items()}


def test_samplers_agree_with_each_other_and_with_the_ml_fit(panel):
    """NUTS on (beta, z, sd, rho, sigma) and the collapsed sampler on (sd, rho, sigma) reach
    the same posterior; with 600 rows and weak priors it sits at lmer's ML estimates."""
    form = "y ~ x + ar1(0 + occ | g)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nuts = ml.bayes(form, panel, sampler="nuts", chains=2, draws=600, warmup=600, seed=1, progress=False)
        coll = ml.bayes(form, panel, sampler="collapsed", chains=2, draws=600, warmup=600, seed=2,
                        progress=False)
    a, b = _means(nuts), _means(coll)
    assert set(a) == {"b_Intercept", "b_x", "sd_g", "rho_g", "sigma"}
    for name in a:
        assert abs(a[name][0] - b[name][0]) < 0.3 * a[name][1], name
        assert b[name][1] == pytest.approx(a[name][1], rel=0.25), name
    fit = ml.lmer(form, panel, reml=False)
    ml_est = {"b_x": fit.fixef["x"], "sigma": fit.sigma, "sd_g": float(fit.theta.iloc[0] * fit.sigma),
              "rho_g": float(fit.theta.iloc[1] / np.sqrt(1 + fit.theta.iloc[1] ** 2))}
    for name, v in ml_est.items():
        assert abs(b[name][0] - v) < 0.5 * b[name][1], (name, b[name], v)


def test_names_priors_and_summary(small):
    post = ml.bayes("y ~ x + hcs(0 + occ | g) + (1 | rep)", small, chains=1, draws=60, warmup=60, seed=1,
                    progress=False, priors={"rho_g": P.uniform(0, 1)})
    assert post.names == ["b_Intercept", "b_x", "sd_g__occ0", "sd_g__occ1", "sd_g__occ2", "sd_g__occ3",
                          "sd_g__occ4", "sd_rep__Intercept", "rho_g", "sigma"]
    assert (post.draws["rho_g"] > 0).all()
    table = post.prior_summary()
    assert table.loc["rho_g", "prior"] == "uniform(0, 1)" and table.loc["rho_g", "class"] == "rho"
    text = str(post.summary())
    assert "rho(hcs)" in text and "sd(occ3)" in text
    assert post.ranef()["g"].shape[0] == 6
    assert post.epred(small.assign(g="new")).shape == (60, len(small))
    ar = ml.bayes("y ~ x + ar1(0 + occ | g)", small, chains=1, draws=30, warmup=30, seed=1, progress=False)
    assert "sd_g" in ar.names and "sd(ar1)" in str(ar.summary())
    assert ar.prior_summary().loc["rho_g", "prior"] == "uniform(-1, 1)"


@pytest.mark.parametrize("pri, match", [
    ({"rho": P.normal(0, 0.5)}, r"priors\['rho'\] = normal\(0, 0.5\) is not a prior for a structured term's"),
    ({"rho_g": P.uniform(-0.5, 1)}, r"allows correlations outside \(-0.25, 1\)"),
    ({"cor": P.lkj(2)}, "unknown prior key 'cor'; valid keys for this model: .*rho, rho_g"),
])
def test_bad_priors_on_the_correlation(small, pri, match):
    with pytest.raises(ValueError, match=match):
        ml.bayes("y ~ x + cs(0 + occ | g)", small, priors=pri, chains=1, draws=10, warmup=10, progress=False)


def test_compound_symmetry_over_every_row_is_refused():
    o = ml.datasets.load("orthodont")
    o["occ"] = pd.Categorical(o.age, ordered=True)
    with pytest.raises(ValueError, match=r"is the random intercept model \(1 \| Subject\); write that"):
        ml.bayes("distance ~ age + cs(0 + occ | Subject)", o, chains=1, draws=10, warmup=10, progress=False)
