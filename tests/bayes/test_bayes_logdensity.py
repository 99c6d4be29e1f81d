"""The JAX log joint density against an independent scipy computation at fixed parameter values.

Each case builds a model exactly as ``ml.bayes`` does, evaluates its log joint
(priors + likelihood, no Jacobians) at a hand-picked point, and compares it
with the same density summed term by term from ``scipy.stats`` on the raw
(uncentred) design.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from multilevel.bayes import priors as P
from multilevel.bayes.fit import prepare


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(42)
    g = np.repeat(np.arange(6), 5)
    h = np.tile(np.arange(3), 10)
    x = rng.normal(2.0, 1.5, g.size)
    y = 10 + 2 * x + rng.normal(0, 2, 6)[g] + rng.normal(0, 1, g.size)
    m = rng.integers(1, 8, g.size)
    s = rng.binomial(m, 0.4)
    cnt = rng.poisson(3, g.size)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str), "h": h.astype(str), "w": rng.uniform(0.5, 2, g.size),
                         "s": s, "f": m - s, "bin": rng.integers(0, 2, g.size), "cnt": cnt,
                         "expo": rng.uniform(0.5, 3, g.size)})


def _raw_beta(model, b_c):
    """Raw-scale coefficients from the model's centred ones."""
    b = np.array(b_c, dtype=float)
    if model.centered:
        b[model.intercept] -= model.x_means @ b_c
    return b


def _prior_b(model, b_c):
    """Sum of the fixed effects' prior log densities (normal priors)."""
    out = 0.0
    for s, v in zip(model.slots, b_c):
        mu, sd = s.prior.params
        out += stats.norm.logpdf(v, mu, sd)
    return out


def test_gaussian_random_intercept(sim):
    model = prepare("y ~ x + (1 | g)", sim)
    sy = sim.y.std(ddof=1)
    b_c = np.array([14.0, 1.8])
    sd, sigma = np.array([1.7]), 1.1
    z = np.linspace(-1.2, 1.4, 6)[:, None]
    got = model.log_joint({"b": b_c, "sd": sd, "z0": z, "sigma": sigma})

    b = _raw_beta(model, b_c)
    X = np.c_[np.ones(len(sim)), sim.x]
    codes = pd.factorize(sim.g, sort=True)[0]
    eta = X @ b + sd[0] * z[codes, 0]
    want = (stats.norm.logpdf(b_c[0], sim.y.mean(), 2.5 * sy)
            + stats.norm.logpdf(b_c[1], 0, 2.5 * sy / sim.x.std(ddof=1))
            + np.log(2) + stats.t.logpdf(sd[0], 3, 0, 2.5 * sy)
            + stats.expon.logpdf(sigma, scale=sy)
            + stats.norm.logpdf(z).sum()
            + stats.norm.logpdf(sim.y, eta, sigma).sum())
    assert got == pytest.approx(want, rel=1e-10)


def test_gaussian_correlated_weights_and_jags_priors(sim):
    prec = 1 / (100 * sim.y.std(ddof=1) ** 2)
    pri = {"Intercept": P.normal(0, precision=prec), "b": P.normal(0, precision=prec),
           "sd_g__Intercept": P.gamma(0.5, 0.2, on="precision"), "sd_g__x": P.uniform(0.0001, 200),
           "sigma": P.normal(0, 3, lower=0), "cor": P.lkj(2.0)}
    model = prepare("y ~ x + (1 + x | g)", sim, priors=pri, weights="w", center=False)
    assert not model.centered
    b = np.array([9.5, 2.2])
    sd = np.array([1.3, 0.4])
    r = -0.35
    L = np.array([[1.0, 0.0], [r, np.sqrt(1 - r * r)]])
    z = np.column_stack([np.linspace(-1, 1, 6), np.linspace(0.8, -0.5, 6)])
    sigma = 0.9
    got = model.log_joint({"b": b, "sd": sd, "L0": L, "z0": z, "sigma": sigma})

    X = np.c_[np.ones(len(sim)), sim.x]
    codes = pd.factorize(sim.g, sort=True)[0]
    ranef = np.column_stack([sd[0] * z[:, 0], sd[1] * (r * z[:, 0] + np.sqrt(1 - r * r) * z[:, 1])])
    eta = X @ b + ranef[codes, 0] + ranef[codes, 1] * sim.x
    eta_lkj = 2.0
    x0 = sd[0]
    want = (stats.norm.logpdf(b, 0, 1 / np.sqrt(prec)).sum()
            # gamma(0.5, rate 0.2) on the precision 1/x^2, with |d(x^-2)/dx| = 2 x^-3
            + stats.gamma.logpdf(x0 ** -2, 0.5, scale=1 / 0.2) + np.log(2 * x0 ** -3)
            + stats.uniform.logpdf(sd[1], 0.0001, 200 - 0.0001)
            # LKJ(eta) for k = 2, as a density of r = L[1, 0]
            + (eta_lkj - 1) * np.log(1 - r * r) - (2 * eta_lkj - 1) * np.log(2) - special.betaln(eta_lkj, eta_lkj)
            + stats.truncnorm.logpdf(sigma, 0, np.inf, 0, 3)
            + stats.norm.logpdf(z).sum()
            + stats.norm.logpdf(sim.y, eta, sigma / np.sqrt(sim.w)).sum())
    assert got == pytest.approx(want, rel=1e-10)


def test_logistic_cbind_crossed(sim):
    model = prepare("cbind(s, f) ~ x + (1 | g) + (1 | h)", sim, family="binomial")
    b_c = np.array([-0.3, 0.25])
    sd = np.array([0.7, 0.4])  # terms ordered by levels: g (6), h (3)
    z0, z1 = np.linspace(-1, 1, 6)[:, None], np.array([[0.3], [-0.2], [1.1]])
    got = model.log_joint({"b": b_c, "sd": sd, "z0": z0, "z1": z1})

    b = _raw_beta(model, b_c)
    X = np.c_[np.ones(len(sim)), sim.x]
    cg, ch = pd.factorize(sim.g, sort=True)[0], pd.factorize(sim.h, sort=True)[0]
    eta = X @ b + sd[0] * z0[cg, 0] + sd[1] * z1[ch, 0]
    m = sim.s + sim.f
    want = (stats.norm.logpdf(b_c[0], 0, 2.5) + stats.norm.logpdf(b_c[1], 0, 2.5 / sim.x.std(ddof=1))
            + (np.log(2) + stats.t.logpdf(sd, 3, 0, 2.5)).sum()
            + stats.norm.logpdf(z0).sum() + stats.norm.logpdf(z1).sum()
            + stats.binom.logpmf(sim.s, m, special.expit(eta)).sum())
    assert got == pytest.approx(want, rel=1e-10)


def test_probit_binary(sim):
    pri = {"b": P.student_t(4, 0, 2), "Intercept": P.cauchy(0, 3), "sd": P.half_cauchy(2)}
    model = prepare("bin ~ x + (1 | g)", sim, family="binomial", link="probit", priors=pri)
    b_c = np.array([0.2, -0.4])
    sd, z = np.array([0.6]), np.linspace(-0.9, 1.3, 6)[:, None]
    got = model.log_joint({"b": b_c, "sd": sd, "z0": z})

    b = _raw_beta(model, b_c)
    eta = b[0] + b[1] * sim.x + sd[0] * z[pd.factorize(sim.g, sort=True)[0], 0]
    want = (stats.cauchy.logpdf(b_c[0], 0, 3) + stats.t.logpdf(b_c[1], 4, 0, 2)
            + np.log(2) + stats.cauchy.logpdf(sd[0], 0, 2)
            + stats.norm.logpdf(z).sum()
            + stats.bernoulli.logpmf(sim.bin, stats.norm.cdf(eta)).sum())
    assert got == pytest.approx(want, rel=1e-10)


def test_poisson_offset(sim):
    pri = {"sd": P.exponential(2.0), "b": P.normal(0, 1)}
    model = prepare("cnt ~ x + (1 | g)", sim, family="poisson", offset=np.log(sim.expo), priors=pri)
    b_c = np.array([0.1, 0.05])
    sd, z = np.array([0.3]), np.linspace(-1, 1, 6)[:, None]
    got = model.log_joint({"b": b_c, "sd": sd, "z0": z})

    b = _raw_beta(model, b_c)
    eta = np.log(sim.expo) + b[0] + b[1] * sim.x + sd[0] * z[pd.factorize(sim.g, sort=True)[0], 0]
    want = (stats.norm.logpdf(b_c[0], 0, 2.5) + stats.norm.logpdf(b_c[1], 0, 1)
            + stats.expon.logpdf(sd[0], scale=0.5) + stats.norm.logpdf(z).sum()
            + stats.poisson.logpmf(sim.cnt, np.exp(eta)).sum())
    assert got == pytest.approx(want, rel=1e-10)


def test_student_family(sim):
    pri = {"sd": P.half_normal(3), "sigma": P.half_student_t(3, 2), "nu": P.gamma(2, 0.1)}
    model = prepare("y ~ x + (1 | g)", sim, family="student", priors=pri)
    sy = sim.y.std(ddof=1)
    b_c = np.array([14.5, 2.1])
    sd, z, sigma, nu = np.array([1.2]), np.linspace(-1.5, 1.0, 6)[:, None], 0.8, 6.5
    got = model.log_joint({"b": b_c, "sd": sd, "z0": z, "sigma": sigma, "nu": nu})

    b = _raw_beta(model, b_c)
    eta = b[0] + b[1] * sim.x + sd[0] * z[pd.factorize(sim.g, sort=True)[0], 0]
    want = (stats.norm.logpdf(b_c[0], sim.y.mean(), 2.5 * sy)
            + stats.norm.logpdf(b_c[1], 0, 2.5 * sy / sim.x.std(ddof=1))
            + stats.halfnorm.logpdf(sd[0], scale=3) + np.log(2) + stats.t.logpdf(sigma, 3, 0, 2)
            + stats.gamma.logpdf(nu, 2, scale=10) + stats.norm.logpdf(z).sum()
            + stats.t.logpdf(sim.y, nu, eta, sigma).sum())
    assert got == pytest.approx(want, rel=1e-10)


def test_pointwise_loglik_matches_scipy(sim):
    """The per-observation log-likelihood used for loo/waic, at one parameter point."""
    import jax.numpy as jnp

    from multilevel.bayes.model import linear_predictor, pointwise_loglik

    model = prepare("cbind(s, f) ~ x + (1 | g)", sim, family="binomial")
    data, _ = model.jax_inputs()
    beta = jnp.array([-0.2, 0.3])
    b = [jnp.linspace(-0.5, 0.5, 6)[:, None]]
    eta = linear_predictor(model.struct, data, beta, b)
    ll = np.asarray(pointwise_loglik(model.struct, data, eta))
    Xc = model.data["X"]
    eta_np = Xc @ np.asarray(beta) + np.asarray(b[0])[pd.factorize(sim.g, sort=True)[0], 0]
    np.testing.assert_allclose(ll, stats.binom.logpmf(sim.s, sim.s + sim.f, special.expit(eta_np)), rtol=1e-10)


def _potential(model, struct, u):
    import jax.numpy as jnp
    from numpyro.infer.util import potential_energy

    from multilevel.bayes.model import make_model

    return float(potential_energy(make_model(struct), model.jax_inputs(), {},
                                  {k: jnp.asarray(v) for k, v in u.items()}))


@pytest.mark.parametrize("case", ["rasch", "weighted_offset_poisson", "gaussian_weights"])
def test_grid_layout_equals_rows(case):
    """A complete groups x positions design is summed as a grid: the same density as row by row."""
    import dataclasses

    import multilevel as ml
    from multilevel.bayes.sampling import init_params, site_transforms

    rng = np.random.default_rng(5)
    if case == "rasch":
        data = ml.datasets.load("rasch5")
        data = data[data.person.astype(int) <= 400].sample(frac=1.0, random_state=1)  # rows shuffled
        model = prepare("y ~ 0 + item + (1 | person)", data, family="binomial")
    else:
        G, m = 300, 4
        d = pd.DataFrame({"g": np.repeat(np.arange(G), m).astype(str), "t": np.tile(np.arange(m), G),
                          "z": np.repeat(rng.normal(size=G), m)})
        d["w"] = rng.uniform(0.5, 2.0, len(d))
        d["off"] = rng.normal(0, 0.3, len(d))
        if case == "weighted_offset_poisson":
            d["y"] = rng.poisson(np.exp(0.5 + 0.2 * d.t))
            model = prepare("y ~ C(t) + z + (1 | g)", d, family="poisson", weights="w", offset="off")
        else:
            d["y"] = 1 + d.t + d.z + rng.normal(size=len(d))
            model = prepare("y ~ C(t) + z + (1 | g)", d, weights="w")
    if case == "rasch":
        assert model.struct.grid
    else:  # z varies between groups: not one X row per position, so no grid
        assert not model.struct.grid
        model = prepare("y ~ C(t) + (1 | g)", d.drop(columns="z"), family=model.struct.family,
                        weights="w", offset="off" if case == "weighted_offset_poisson" else None)
        assert model.struct.grid
    rows = dataclasses.replace(model.struct, grid=False)
    tr = site_transforms(model.sites())
    for seed in range(3):
        u = {k: v[0] for k, v in init_params(tr, 1, seed, 1.0, radius=1.5).items()}
        u = {k: (v + rng.normal(0, 0.5, np.shape(v)) if k.startswith("_z") else v) for k, v in u.items()}
        assert _potential(model, model.struct, u) == pytest.approx(_potential(model, rows, u), rel=1e-12)


def test_no_grid_for_unbalanced_groups():
    import multilevel as ml

    data = ml.datasets.load("rasch5")
    data = data[data.person.astype(int) <= 400].iloc[1:]  # one person with four answers
    assert not prepare("y ~ 0 + item + (1 | person)", data, family="binomial").struct.grid


@pytest.mark.parametrize("shape", [1e10, 1e14])
def test_negative_binomial_at_a_large_shape_is_poisson_to_its_digits(shape):
    # log s - log(s + mu) had lost its digits at a large shape (1e-5 a row at 1e10 in float64)
    import jax
    import jax.numpy as jnp

    import multilevel as ml
    from multilevel.bayes.model import pointwise_loglik

    sal = ml.datasets.load("salamanders")
    with jax.enable_x64(True):
        model = prepare("count ~ mined + (1 | site)", sal, family="negative_binomial")
        eta = np.log(sal["count"].to_numpy() + 0.7)
        ll = np.asarray(pointwise_loglik(model.struct, model.data, jnp.asarray(eta), aux=jnp.asarray(shape)))
    # (NB2 - Poisson is of the order y^2 / shape)
    np.testing.assert_allclose(ll, stats.poisson.logpmf(sal["count"], np.exp(eta)), rtol=0, atol=2e3 / shape + 1e-11)
