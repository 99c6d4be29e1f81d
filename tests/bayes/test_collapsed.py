"""The collapsed Gaussian sampler's mathematics against dense computations and the linear core.

Precision: every check runs in float64 inside ``jax.enable_x64(True)``, a context
(jax >= 0.8; ``jax.experimental.enable_x64`` is gone in jax 0.10) that leaves the
process-wide setting, and so other tests, untouched. The functions take their
dtype from the mode in force when they are built.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.linalg
import scipy.stats

jax = pytest.importorskip("jax")
import jax.numpy as jnp  # noqa: E402

import multilevel as ml  # noqa: E402
from multilevel.bayes.collapsed import (  # noqa: E402
    from_theta,
    make_collapsed,
    make_conditional_mean,
    make_effect_sampler,
    make_marginal_loglik,
)
from multilevel.design import build_design  # noqa: E402
from multilevel.linalg import term_matrix  # noqa: E402


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _simulated(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 160
    g1 = rng.integers(0, 15, n)
    g2 = rng.integers(0, 5, n)
    x = rng.normal(size=n)
    z = rng.normal(size=n)
    b1 = rng.normal(size=(15, 2)) * [1.5, 0.7]
    b2 = rng.normal(size=(5, 2)) * [2.0, 0.5]
    off = rng.normal(scale=0.3, size=n)
    w = rng.uniform(0.5, 2.0, n)
    y = (3.0 + 1.2 * x - 0.5 * z + b1[g1, 0] + b1[g1, 1] * x + b2[g2, 0] + b2[g2, 1] * x + off
         + rng.normal(size=n) / np.sqrt(w))
    return pd.DataFrame({"y": y, "x": x, "z": z, "g1": [f"a{i:02d}" for i in g1],
                         "g2": [f"c{i}" for i in g2], "w": w, "off": off})


SIM = _simulated()
# (name, formula, data, weights, offset, variance parameters (sds, corr_chols, sigma))
_L2 = np.array([[1.0, 0.0], [-0.4, np.sqrt(1 - 0.16)]])
# k = 1 factors as arrays, as from_theta gives them (the same pytree, so one compilation
# per design); None, which the functions also accept, is used in the vmap test
_ONE = np.array([[1.0]])
CASES = {
    "intercept": ("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"), None, None,
                  ((np.array([37.0]),), (_ONE,), 31.0)),
    "slope": ("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), None, None,
              ((np.array([24.7, 5.9]),), (np.array([[1.0, 0.0], [0.07, np.sqrt(1 - 0.07**2)]]),), 25.6)),
    "crossed": ("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"), None, None,
                ((np.array([0.85]), np.array([1.93])), (_ONE, _ONE), 0.55)),
    # first term (1 + x | g1) correlated, second (1 | g2) scalar
    "weighted": ("y ~ x + z + (1 + x | g1) + (1 | g2)", SIM, "w", "off",
                 ((np.array([1.4, 0.6]), np.array([1.8])), (_L2, _ONE), 0.9)),
    # first term scalar, second correlated
    "weighted2": ("y ~ x + z + (1 | g1) + (1 + x | g2)", SIM, "w", "off",
                  ((np.array([1.3]), np.array([1.6, 0.4])), (_ONE, _L2), 1.1)),
    # two terms of one factor (joined in the block-diagonal part)
    "uncorrelated": ("Reaction ~ Days + (1 + Days || Subject)", ml.datasets.load("sleepstudy"), None,
                     None, ((np.array([25.0]), np.array([5.9])), (_ONE, _ONE), 25.6)),
    # two terms of the first factor, then a term of another
    "weighted3": ("y ~ x + z + (1 + x || g1) + (1 | g2)", SIM, "w", "off",
                  ((np.array([1.4]), np.array([0.6]), np.array([1.8])), (_ONE, _ONE, _ONE), 0.9)),
}


def _design(name):
    formula, data, w, off, _ = CASES[name]
    return build_design(formula, data, weights=w, offset=off)


def _dense(d, sds, chols, sigma):
    """Dense Z, the block-diagonal random-effects covariance, the residual covariance."""
    Z = np.hstack([term_matrix(t).toarray() for t in d.terms])
    blocks = []
    for t, sd, L in zip(d.terms, sds, chols):
        L = np.eye(t.k) if L is None else np.asarray(L)
        S = np.diag(sd) @ L @ L.T @ np.diag(sd)
        blocks.append(np.kron(np.eye(t.nlevels), S))
    G = scipy.linalg.block_diag(*blocks)
    w = np.ones(d.n) if d.weights is None else d.weights
    return Z, G, sigma**2 * np.diag(1.0 / w)


def _yc(d):
    return d.y if d.offset is None else d.y - d.offset


def _priors(p):
    rng = np.random.default_rng(p)
    m0 = rng.normal(size=p) * 5
    A = rng.normal(size=(p, p))
    return {"diag": (m0, (3.0 + np.arange(p)) ** 2), "full": (m0, A @ A.T + 4.0 * np.eye(p))}


def _dense_conditional(d, m0, S0, sds, chols, sigma):
    """Conditional mean and covariance of (b, beta) from dense normal algebra."""
    Z, G, R = _dense(d, sds, chols, sigma)
    S0 = np.asarray(S0, dtype=float)
    Q0 = np.diag(np.where(np.isfinite(S0), 1.0 / S0, 0.0)) if S0.ndim == 1 else np.linalg.inv(S0)
    M = np.hstack([Z, d.X])
    Ri = np.linalg.inv(R)
    prec = M.T @ Ri @ M + scipy.linalg.block_diag(np.linalg.inv(G), Q0)
    cov = np.linalg.inv(prec)
    mean = cov @ (M.T @ Ri @ _yc(d) + np.concatenate([np.zeros(Z.shape[1]), Q0 @ m0]))
    return mean, cov


def _flat(beta, b):
    return np.concatenate([np.asarray(x).ravel() for x in b] + [np.asarray(beta)])


# ------------------------------------------------------------------ (a) marginal likelihood
@pytest.mark.parametrize("prior", ["diag", "full"])
@pytest.mark.parametrize("case", list(CASES))
def test_marginal_loglik_equals_dense_logpdf(case, prior):
    d = _design(case)
    sds, chols, sigma = CASES[case][-1]
    m0, S0 = _priors(d.p)[prior]
    f = jax.jit(make_marginal_loglik(d, m0, S0))
    got = float(f(sds, chols, sigma))
    assert jnp.result_type(f(sds, chols, sigma)) == jnp.float64
    Z, G, R = _dense(d, sds, chols, sigma)
    C = d.X @ S0_matrix(S0) @ d.X.T + Z @ G @ Z.T + R
    want = scipy.stats.multivariate_normal.logpdf(_yc(d), d.X @ m0, C)
    assert abs(got - want) <= 1e-8 * abs(want)


def S0_matrix(S0):
    S0 = np.asarray(S0, dtype=float)
    return np.diag(S0) if S0.ndim == 1 else S0


@pytest.mark.parametrize("case", ["slope", "crossed", "weighted"])
def test_flat_prior_is_lme4_reml_loglik(case):
    formula, data, w, off, _ = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer(formula, data, reml=True, weights=w, offset=off)
    d = fit.design
    sds, chols = from_theta(d, fit.theta.to_numpy(), fit.sigma)
    got = float(make_marginal_loglik(d, 0.0, np.inf)(sds, chols, fit.sigma))
    assert abs(got - fit.loglik) <= 1e-8 * abs(fit.loglik)


def test_partly_flat_prior_is_the_limit_of_proper_ones():
    d = _design("weighted")
    sds, chols, sigma = CASES["weighted"][-1]
    m0 = np.array([1.0, 0.5, -0.2])
    flat = float(make_marginal_loglik(d, m0, [np.inf, 4.0, 9.0])(sds, chols, sigma))
    # a flat component is the limit of N(m, s2) plus 0.5 log(2 pi s2)
    for s2 in (1e6, 1e8):
        proper = float(make_marginal_loglik(d, m0, [s2, 4.0, 9.0])(sds, chols, sigma))
        assert abs(proper + 0.5 * np.log(2 * np.pi * s2) - flat) < 50.0 / s2


# ------------------------------------------------------------------ (b) gradient
def test_gradient_matches_finite_differences():
    d = _design("weighted")
    sds, chols, sigma = CASES["weighted"][-1]
    m0, S0 = _priors(d.p)["diag"]
    f = make_marginal_loglik(d, m0, S0)
    g_sds, g_chols, g_sigma = jax.grad(f, argnums=(0, 1, 2))(sds, chols, sigma)
    got = np.array([*g_sds[0], *g_sds[1], g_chols[0][1, 0], g_chols[0][1, 1], g_sigma])

    def f_flat(v):  # the same avals as above, so no new compilation
        L = np.array([[1.0, 0.0], [v[3], v[4]]])
        return float(f((v[0:2].copy(), v[2:3].copy()), (L, _ONE), float(v[5])))

    v0 = np.array([*sds[0], *sds[1], chols[0][1, 0], chols[0][1, 1], sigma])
    h = 1e-5
    fd = np.array([(f_flat(v0 + h * e) - f_flat(v0 - h * e)) / (2 * h) for e in np.eye(v0.size)])
    assert np.allclose(got, fd, rtol=1e-6, atol=1e-6 * np.abs(fd).max())


# ------------------------------------------------------------------ (c) conditional normal
@pytest.mark.parametrize("case,prior", [("slope", "full"), ("crossed", "diag"), ("weighted", "diag"),
                                        ("weighted2", "partly_flat")])
def test_conditional_mean_equals_dense(case, prior):
    d = _design(case)
    sds, chols, sigma = CASES[case][-1]
    if prior == "partly_flat":
        m0, S0 = np.zeros(d.p), np.array([np.inf, 4.0, np.inf])
    else:
        m0, S0 = _priors(d.p)[prior]
    beta, b = make_conditional_mean(d, m0, S0)(sds, chols, sigma)
    assert [x.shape for x in b] == [(t.nlevels, t.k) for t in d.terms] and beta.shape == (d.p,)
    mean, _ = _dense_conditional(d, m0, S0, sds, chols, sigma)
    assert np.allclose(_flat(beta, b), mean, rtol=1e-9, atol=1e-9 * np.abs(mean).max())


N_DRAWS = 4000


@pytest.fixture(scope="module")
def weighted_draws():
    """4,000 draws for the "weighted" case at fixed variance parameters, with their prior."""
    with jax.enable_x64(True):
        d = _design("weighted")
        sds, chols, sigma = CASES["weighted"][-1]
        m0, S0 = _priors(d.p)["diag"]
        g = make_effect_sampler(d, m0, S0)
        keys = jax.random.split(jax.random.PRNGKey(7), N_DRAWS)
        beta, b = jax.vmap(g, in_axes=(0, None, None, None))(keys, sds, chols, sigma)
        return d, m0, S0, g, keys, np.asarray(beta), tuple(np.asarray(x) for x in b)


def test_draws_follow_the_dense_conditional_normal(weighted_draws):
    d, m0, S0, _, _, beta, b = weighted_draws
    sds, chols, sigma = CASES["weighted"][-1]
    mean, cov = _dense_conditional(d, m0, S0, sds, chols, sigma)
    n = N_DRAWS
    draws = np.hstack([x.reshape(n, -1) for x in b] + [beta])
    # whiten with the dense covariance: independent standard normals if exact
    z = scipy.linalg.solve_triangular(np.linalg.cholesky(cov), (draws - mean).T, lower=True).T
    dim = z.shape[1]
    assert np.abs(z.mean(0)).max() < 4.5 / np.sqrt(n)
    assert np.abs(np.cov(z.T) - np.eye(dim)).max() < 6.5 / np.sqrt(n)
    assert abs(np.mean(np.sum(z**2, 1)) - dim) < 5 * np.sqrt(2 * dim / n)


def test_sampler_vmaps_over_posterior_draws(weighted_draws):
    d, _, _, g, keys, beta0, b0 = weighted_draws
    sds, chols, sigma = CASES["weighted"][-1]
    n = N_DRAWS
    scale = np.ones(n)
    scale[::2] = 1.3  # every other posterior draw at other variance parameters
    batch_sds = (scale[:, None] * sds[0], scale[:, None] * sds[1])
    batch_chols = (np.broadcast_to(chols[0], (n, 2, 2)), None)
    beta, b = jax.vmap(g)(keys, batch_sds, batch_chols, scale * sigma)
    assert beta.shape == (n, d.p) and [x.shape for x in b] == [(n, 15, 2), (n, 5, 1)]
    same = scale == 1.0
    assert np.allclose(beta[same], beta0[same], rtol=1e-12, atol=1e-12)
    assert np.allclose(b[0][same], b0[0][same], rtol=1e-12, atol=1e-12)
    assert not np.allclose(b[1][~same], b0[1][~same])


# ------------------------------------------------------------------ (d) the linear core
@pytest.mark.parametrize("case", ["slope", "crossed", "weighted", "weighted2"])
@pytest.mark.parametrize("S0", [np.inf, 1e14])
def test_flat_conditional_mean_is_lmer_fixef_and_ranef(case, S0):
    formula, data, w, off, _ = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer(formula, data, reml=False, weights=w, offset=off)
    d = fit.design
    sds, chols = from_theta(d, fit.theta.to_numpy(), fit.sigma)
    beta, b = make_collapsed(d, 0.0, S0).conditional_mean(sds, chols, fit.sigma)
    fixef = fit.fixef.to_numpy()
    assert np.abs(np.asarray(beta) - fixef).max() <= 1e-6 * max(1.0, np.abs(fixef).max())
    ranef = fit.ranef
    for t, bt in zip(d.terms, b):
        want = ranef[t.group][list(t.columns)].to_numpy()
        assert np.abs(np.asarray(bt) - want).max() <= 1e-6 * max(1.0, np.abs(want).max())


# ------------------------------------------------------------------ errors
def test_too_many_dense_effects_says_use_nuts():
    d = _design("crossed")
    with pytest.raises(ValueError, match='sampler="nuts"'):
        make_marginal_loglik(d, 0.0, np.inf, max_dense=5)


def test_bad_prior_and_parameter_shapes():
    d = _design("slope")
    with pytest.raises(ValueError, match="m0"):
        make_marginal_loglik(d, [0.0, 0.0, 0.0], np.inf)
    with pytest.raises(ValueError, match="positive"):
        make_marginal_loglik(d, 0.0, [1.0, -1.0])
    with pytest.raises(ValueError, match="positive definite"):
        make_marginal_loglik(d, 0.0, np.array([[1.0, 2.0], [2.0, 1.0]]))
    f = make_marginal_loglik(d, 0.0, np.inf)
    with pytest.raises(ValueError, match="one entry per random-effects term"):
        f((np.ones(2), np.ones(1)), (None, None), 1.0)
