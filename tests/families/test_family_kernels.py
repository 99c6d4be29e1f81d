"""The compiled Laplace criterion of a model with one scalar term (cumulative links, zero-inflated
Poisson and NB2 counts) against PIRLS's criterion and modes, the general route's gradient and
central differences of its own values; and fits through it against the same fits by the general
route."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.families import kernels
from multilevel.glmm.fit import memory_engine
from multilevel.inference.derivatives import central_gradient

WINE = "rating ~ temp + contact + (1 | judge)"


def _steep(seed=4):
    """Seven categories, a slope term and linear predictors far into the tails (cloglog's upper tail
    in logs), weights with zeros and an offset."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(12), 15)
    x = rng.normal(size=g.size)
    eta = 2.5 * x + rng.normal(0, 1.0, 12)[g] * x + rng.logistic(size=g.size)
    y = np.digitize(eta, [-4, -2, -0.5, 0.5, 2, 4])
    cats = list("abcdefg")
    w = rng.uniform(0.3, 2.0, g.size)
    w[::11] = 0.0
    return pd.DataFrame(dict(y=pd.Categorical([cats[k] for k in y], categories=cats, ordered=True), x=x,
                             g=g.astype(str), w=w, o=0.2 * rng.normal(size=g.size)))


def _zero_inflated(seed=7):
    """Zero-inflated NB2 counts with a slope term, weights with zeros and an offset."""
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(25), 12)
    x, v = rng.normal(size=g.size), rng.normal(size=g.size)
    mu = np.exp(0.8 + 0.4 * x + rng.normal(0, 0.6, 25)[g] * x)
    y = rng.negative_binomial(2.0, 2.0 / (2.0 + mu))
    y[rng.uniform(size=g.size) < 1 / (1 + np.exp(1.0 - 0.8 * v))] = 0
    w = rng.uniform(0.5, 2.0, g.size)
    w[::13] = 0.0
    return pd.DataFrame(dict(y=y, x=x, v=v, g=g.astype(str), w=w, o=0.1 * rng.normal(size=g.size)))


SAL = "count ~ spp + mined + (1 | site)"
CASES = {
    "zip": lambda: ml.glmer(SAL, ml.datasets.load("salamanders"), family="poisson", zi="~ spp + mined"),
    "zinb2": lambda: ml.glmer(SAL, ml.datasets.load("salamanders"), family="negative_binomial",
                              zi="~ spp + mined"),
    "zinb2_slope_weighted": lambda: ml.glmer("y ~ x + (0 + x | g)", _zero_inflated(), family="negative_binomial",
                                             zi="~ v", weights="w", offset="o"),
    "zip_slope_weighted": lambda: ml.glmer("y ~ x + (0 + x | g)", _zero_inflated(), family="poisson", zi="~ v",
                                           weights="w", offset="o"),
    "wine_logit": lambda: ml.clmm(WINE, ml.datasets.load("wine")),
    "wine_probit": lambda: ml.clmm(WINE, ml.datasets.load("wine"), link="probit"),
    "wine_cloglog": lambda: ml.clmm(WINE, ml.datasets.load("wine"), link="cloglog"),
    "steep_cloglog_slope": lambda: ml.clmm("y ~ x + (0 + x | g)", _steep(), link="cloglog", weights="w",
                                           offset="o"),
    "steep_logit": lambda: ml.clmm("y ~ x + (1 | g)", _steep(), weights="w", offset="o"),
}


def _fit(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = CASES[name]()
    return getattr(m, "glmm", m)


@pytest.mark.parametrize("name", sorted(CASES))
def test_compiled_criterion_is_pirls_and_its_gradient_the_general_one(name):
    m = _fit(name)
    e = memory_engine(m.design, m.family, m._prior)
    G = e.gradient
    assert G.compiled
    fam, prior, p = m.family, m._prior, e.design.p
    r0 = e.run(fam, np.array([0.8]), plan=e.plan)
    # away from the optimum, where the gradient is not zero, and theta on either side of 1
    for theta in (0.8, 2.5):
        x = np.concatenate([[theta], r0.beta + 0.1 / np.sqrt(p), fam.extra_internal() + 0.05])
        f = fam.with_extra(x[1 + p:])
        run = e.run(f, x[:1], beta=x[1:1 + p], tol=1e-15, maxit=200,
                    plan=replace(e.plan, deviance=f.deviance_function(e.design.y, prior)))
        value, grad, u = G.criterion(x, p, np.zeros(r0.u.size))
        assert value == pytest.approx(run.laplace, rel=1e-11)
        np.testing.assert_allclose(u, run.u, atol=1e-8)
        general = G(lambda v: fam.with_extra(v), x, 1, p, run.u)
        assert np.max(np.abs(grad)) > 1.0
        np.testing.assert_allclose(grad, general, rtol=1e-6, atol=1e-6 * np.max(np.abs(general)))
        own = central_gradient(lambda v: G.criterion(v, p, u, gradient=False)[0], x,
                               1e-5 * np.maximum(1.0, np.abs(x)))
        np.testing.assert_allclose(grad, own, rtol=1e-6, atol=1e-6 * np.max(np.abs(own)))
        # the modes' result: PIRLS's to its tolerance
        res = G.modes(f, x, p, np.zeros(r0.u.size))
        assert res.converged and res.laplace == pytest.approx(run.laplace, rel=1e-11)
        assert res.devres == pytest.approx(run.devres, rel=1e-9)
        np.testing.assert_allclose(res.eta, run.eta, atol=1e-8)


@pytest.mark.parametrize("name", ["wine_logit", "wine_cloglog", "steep_cloglog_slope", "zip", "zinb2",
                                  "zinb2_slope_weighted"])
def test_a_fit_through_the_kernel_is_the_general_routes(name, monkeypatch):
    m = _fit(name)
    assert m.optinfo.optimizer == "quasi-newton"
    monkeypatch.setattr(kernels, "available", lambda: False)
    g = _fit(name)
    assert m.loglik == pytest.approx(g.loglik, abs=1e-7)
    np.testing.assert_allclose(m.fixef, g.fixef, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov)), np.sqrt(np.diag(g.vcov)), rtol=1e-4)
    np.testing.assert_allclose(m.dispersion_working if hasattr(m, "dispersion_working") else m.theta,
                               g.dispersion_working if hasattr(g, "dispersion_working") else g.theta, rtol=1e-5)
    assert m.messages == g.messages


def test_a_level_whose_likelihood_is_not_finite_gives_inf():
    m = _fit("wine_logit")
    G = memory_engine(m.design, m.family, m._prior).gradient
    p = m.design.p
    x = np.concatenate([[1.0], np.zeros(p), [np.nan] * m.family.n_extra])
    value, _, _ = G.criterion(x, p, np.zeros(m.design.terms[0].nlevels))
    assert value == np.inf


def test_no_kernel_where_numba_is_missing(monkeypatch):
    monkeypatch.setattr(kernels, "available", lambda: False)
    m = _fit("wine_logit")
    assert not memory_engine(m.design, m.family, m._prior).gradient.compiled


def test_a_compiled_search_reaching_theta_zero_is_searched_again(monkeypatch):
    # judges shuffled across the rows: no judge variance, the compiled BFGS stops at the bound and
    # L-BFGS-B (which handles it) goes on; the singular fit of the derivative-free route
    d = ml.datasets.load("wine").copy()
    d["judge"] = np.random.default_rng(2).permutation(d["judge"].to_numpy())
    statuses = []
    bfgs = kernels.bfgs_one_term

    def spy(*args):
        out = bfgs(*args)
        statuses.append(int(out[4]))
        return out

    monkeypatch.setattr(kernels, "bfgs_one_term", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ml.clmm(WINE, d)
        b = ml.clmm(WINE, d, optimizer="bobyqa")
    assert statuses == [1]
    assert float(m.glmm.theta.iloc[0]) == 0.0 and m.loglik >= b.loglik - 1e-8
    assert any(s.startswith("boundary (singular) fit") for s in m.messages)


def test_zero_inflated_nb2_at_its_poisson_limit_is_the_poisson_fit(monkeypatch):
    # Poisson counts (two groups all zeros) fitted as zero-inflated NB2: theta runs off to infinity,
    # and every route reaches the zero-inflated Poisson log-likelihood, the limit (the log-gamma
    # differences of the NB2 density had left the kernel 1e-5 below it, at an arbitrary theta)
    rng = np.random.default_rng(5)
    n, G = 60, 6
    g = np.arange(n) % G
    x, v, u = rng.normal(size=n), rng.normal(size=n), rng.normal(0, 1.0, G)
    counts = rng.poisson(np.exp(0.5 + 0.4 * x + u[g]))
    y = np.where(rng.random(n) < 1 / (1 + np.exp(1.0 - v)), 0, counts)
    y[np.isin(g, [0, 1])] = 0
    d = pd.DataFrame(dict(y=y, x=x, v=v, g=[f"g{i}" for i in g]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zip_ = ml.glmer("y ~ x + (1 | g)", d, family="poisson", zi="~ v")
        fits = [ml.glmer("y ~ x + (1 | g)", d, family="negative_binomial", zi="~ v", optimizer=o)
                for o in ("auto", "bobyqa")]
        monkeypatch.setattr(kernels, "available", lambda: False)
        fits.append(ml.glmer("y ~ x + (1 | g)", d, family="negative_binomial", zi="~ v"))
    for m in fits:
        assert m.loglik == pytest.approx(zip_.loglik, abs=1e-6)
        assert m.messages and "ran off towards its limit" in m.messages[0]


@pytest.mark.parametrize("name", ["wine_cloglog", "zinb2_slope_weighted"])
def test_the_compiled_hessian_is_differences_of_the_compiled_gradient(name):
    from multilevel.glmm.laplace_gradient import hessian_of_gradient

    m = _fit(name)
    G = memory_engine(m.design, m.family, m._prior).gradient
    p = m.design.p
    x = np.concatenate([[0.9], np.zeros(p), m.family.extra_internal()])
    u = G.criterion(x, p, np.zeros(m.design.terms[0].nlevels))[2]
    h = np.maximum(1e-3 * np.abs(x), 1e-4)
    H = G.hessian(x, p, u, h)
    np.testing.assert_allclose(H, hessian_of_gradient(lambda v: G.criterion(v, p, u)[1], x, h), rtol=1e-10,
                               atol=1e-10 * np.max(np.abs(H)))
    assert np.allclose(H, H.T)
