"""Adaptive Gauss-Hermite quadrature (glmer's nAGQ > 1) against lme4 and against brute-force integration.

lme4's logLik for nAGQ > 1 is relative to the saturated model for binomial
responses with trials (lme4 issue #161); the reference's ``loglik_absolute``
adds it back and is what ours is compared with.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate

import multilevel as ml
from multilevel.design import build_design
from multilevel.families import family
from multilevel.glmm import pirls
from multilevel.glmm.agq import agq_deviance, agq_levels, gh_rule
from multilevel.linalg import ThetaLayout

REF = {m["id"]: m for m in json.loads(
    (Path(__file__).parents[1] / "reference" / "lme4_glmm.json").read_text())["models"]}
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@pytest.fixture(scope="module")
def cbpp():
    return ml.datasets.load("cbpp")


def compare(fit, ref, se_rtol=1e-2):
    # log-likelihood within 1e-4 absolute or higher than glmer's; fixef 1e-3 relative; theta 1e-3
    assert fit.loglik > ref["loglik_absolute"] - 1e-4
    assert fit.loglik == pytest.approx(ref["loglik_absolute"], abs=1e-3)
    theta = np.array(list(ref["theta"].values()))
    np.testing.assert_allclose(fit.theta.to_numpy(), theta, atol=1e-3 * max(1.0, np.abs(theta).max()))
    names = list(ref["fixef"])
    np.testing.assert_allclose(fit.fixef[names].to_numpy(), list(ref["fixef"].values()), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(fit.se[names].to_numpy(), list(ref["se"].values()), rtol=se_rtol)


def _setup(data, formula, fam, prior, theta, beta, offset=None):
    d = build_design(formula, data, offset=offset)
    res = pirls(d, fam, np.asarray(theta, float), ThetaLayout.from_k([1]), prior, beta=np.asarray(beta, float))
    return d, res


@pytest.fixture(scope="module")
def cbpp_at_lme4(cbpp):
    """The cbpp design and PIRLS modes at glmer's nAGQ = 25 estimates."""
    ref = REF["cbpp_agq25"]
    prior = cbpp["size"].to_numpy(float)
    data = cbpp.assign(p=cbpp.incidence / cbpp["size"])
    theta = np.array(list(ref["theta"].values()))
    beta = np.array(list(ref["fixef"].values()))
    d, res = _setup(data, "p ~ period + (1 | herd)", family("binomial"), prior, theta, beta)
    return d, family("binomial"), theta, res, prior


def test_cbpp_nagq25_matches_lme4(cbpp):
    fit = ml.glmer(CBPP, cbpp, nagq=25)
    compare(fit, REF["cbpp_agq25"])
    assert fit.nagq == 25
    # differs from (and, for this model, is above) the Laplace value
    assert fit.loglik > ml.glmer(CBPP, cbpp).loglik


def test_summary_header_names_quadrature(cbpp):
    text = str(ml.glmer(CBPP, cbpp, nagq=25))
    assert text.splitlines()[0] == ("Generalized linear mixed model fit by maximum likelihood "
                                    "(Adaptive Gauss-Hermite Quadrature, nAGQ = 25) ['glmerMod']")


def test_deviance_at_lme4_estimates(cbpp_at_lme4):
    # glmer's nAGQ = 25 deviance (relative to the saturated model) at its own optimum
    assert agq_deviance(*cbpp_at_lme4, 25) == pytest.approx(REF["cbpp_agq25"]["deviance_ml"], abs=1e-4)


def test_one_node_is_laplace(cbpp_at_lme4):
    d, fam, theta, res, prior = cbpp_at_lme4
    assert agq_deviance(d, fam, theta, res, prior, 1) == pytest.approx(res.laplace, rel=1e-10)


def test_converges_as_nodes_grow(cbpp_at_lme4):
    devs = np.array([agq_deviance(*cbpp_at_lme4, k) for k in range(1, 26)])
    assert np.all(np.isfinite(devs))
    err = np.abs(devs - devs[-1])
    assert err[0] > 1e-2          # Laplace is visibly off for cbpp
    # the largest error from k nodes on shrinks with k (not monotone node by node)
    for k, bound in [(5, 2e-3), (10, 1e-6), (15, 1e-8), (20, 1e-11)]:
        assert err[k - 1:].max() < bound


def _brute_force(d, fam, theta, res, prior):
    """-2 log of each level's integral of exp(-devres_g(u) / 2) phi(u) du, by scipy's quad."""
    (term,) = d.terms
    t = float(theta[0])
    zc = term.Z[:, 0]
    fixed = res.eta - t * zc * res.u[term.codes]  # X beta + offset
    out = []
    for g in range(term.nlevels):
        rows = term.codes == g

        def integrand(u, rows=rows):
            mu = fam.link.inverse(fixed[rows] + t * zc[rows] * u)
            dev = np.sum(fam.deviance_residuals(d.y[rows], mu, prior[rows]))
            return np.exp(-0.5 * dev - 0.5 * u * u) / np.sqrt(2 * np.pi)

        # integrate around the mode where the mass is
        c = res.u[g]
        val = integrate.quad(integrand, c - 12, c + 12, epsabs=0, epsrel=1e-12, limit=200)[0]
        out.append(-2 * np.log(val))
    return np.array(out)


@pytest.mark.parametrize("case", ["binomial-logit", "binomial-probit", "poisson-log"])
def test_levels_match_brute_force_integration(cbpp, case):
    fam_name, link = case.split("-")
    fam = family(fam_name, link)
    if fam_name == "binomial":
        prior, theta = cbpp["size"].to_numpy(float), np.array([0.9])
        data = cbpp.assign(p=cbpp.incidence / cbpp["size"])
        d, res = _setup(data, "p ~ period + (1 | herd)", fam, prior, theta, [-1.2, -1.0, -1.1, -1.6])
    else:
        prior, theta = np.ones(len(cbpp)), np.array([0.7])
        d, res = _setup(cbpp.assign(logsize=np.log(cbpp["size"])), "incidence ~ period + (1 | herd)",
                        fam, prior, theta, [-1.6, -0.8, -1.0, -1.4], offset="logsize")
    np.testing.assert_allclose(agq_levels(d, fam, theta, res, prior, 25),
                               _brute_force(d, fam, theta, res, prior), rtol=0, atol=1e-7)


def test_gh_rule_is_normal_expectation():
    for k in (2, 7, 25):
        z, w = gh_rule(k)
        assert w.sum() == pytest.approx(1.0, abs=1e-13)
        moments = [np.sum(w * z ** m) for m in range(0, 2 * k, 2)]
        exact = [np.prod(np.arange(1.0, m, 2)) for m in range(0, 2 * k, 2)]  # (m - 1)!!
        np.testing.assert_allclose(moments, exact, rtol=1e-9)


def test_refuses_two_terms():
    v = ml.datasets.load("verbagg")
    with pytest.raises(ValueError) as info:
        ml.glmer("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", v, nagq=5)
    assert str(info.value) == ("nagq > 1 needs a single scalar random-effects term such as (1 | g); this "
                               "model has 2 terms: (1 | id), (1 | item); use nagq=1 (Laplace)")


def test_refuses_random_slope(cbpp):
    with pytest.raises(ValueError) as info:
        ml.glmer("cbind(incidence, size - incidence) ~ size + (1 + size | herd)", cbpp, nagq=3)
    assert str(info.value) == ("nagq > 1 needs a single scalar random-effects term such as (1 | g); this "
                               "model's term (1 + size | herd) has 2 random effects per level; use nagq=1 "
                               "(Laplace)")


@pytest.mark.parametrize("nagq", [26, -1, 2.5, "5"])
def test_bad_nagq(cbpp, nagq):
    with pytest.raises(ValueError, match="nagq must be an integer from 0 to 25") as info:
        ml.glmer(CBPP, cbpp, nagq=nagq)
    assert "\n" not in str(info.value)


@pytest.mark.slow
def test_rasch_nagq15_matches_lme4():
    """100,000 responses of 20,000 persons to 5 items; glmer took 120 s."""
    ref = REF["rasch_agq"]
    fit = ml.glmer(ref["formula"], ml.datasets.load(ref["dataset"]), nagq=15)
    compare(fit, ref)


def test_zero_inflated_poisson_quadrature_is_its_likelihood():
    """A zero-inflated Poisson family keeps the name "poisson": quadrature must still take its
    mixture's density (it had taken the plain Poisson's, 204 log-likelihood units off, with the
    zero-inflation coefficients left free). Its log-likelihood equals each site's integral by
    scipy's quad at the fit's estimates, and is near the Laplace one."""
    from scipy import stats

    sal = ml.datasets.load("salamanders")
    form = "count ~ mined + cover + (1 | site)"
    laplace = ml.glmer(form, sal, family="poisson", zi="~ mined")
    fit = ml.glmer(form, sal, family="poisson", zi="~ mined", nagq=9)
    assert fit.loglik == pytest.approx(laplace.loglik, abs=0.05)
    np.testing.assert_allclose(fit.zi.iloc[:, 0], laplace.zi.iloc[:, 0], atol=5e-3)
    d = fit.design
    fixed = d.X @ fit.fixef.to_numpy()
    pi = np.asarray(fit.family.pi)
    sd = float(fit.theta.iloc[0])
    y = d.y
    (term,) = d.terms
    total = 0.0
    for g in range(term.nlevels):
        rows = term.codes == g

        def integrand(u, rows=rows):
            mu = np.exp(fixed[rows] + sd * u)
            dens = (1 - pi[rows]) * stats.poisson.pmf(y[rows], mu) + pi[rows] * (y[rows] == 0)
            return np.exp(np.sum(np.log(dens))) * stats.norm.pdf(u)

        total += np.log(integrate.quad(integrand, -12, 12, epsabs=0, epsrel=1e-12, limit=400)[0])
    assert fit.loglik == pytest.approx(total, abs=1e-4)


def test_quadrature_nodes_outside_the_gamma_range_are_reported():
    """With an inverse link some quadrature nodes put a gamma mean below 0, where the model has no
    density: they count as zero (the log-likelihood had been nan, with nan SEs and no message), and
    the fit says so."""
    rng = np.random.default_rng(5)
    g = np.repeat(np.arange(25), 8)
    x = rng.normal(size=200)
    mu = np.exp(0.3 + 0.4 * x + rng.normal(0, 0.6, 25)[g])
    import pandas as pd

    d = pd.DataFrame(dict(y=rng.gamma(3, mu / 3), x=x, g=g.astype(str)))
    laplace = ml.glmer("y ~ x + (1 | g)", d, family="gamma", link="inverse")
    with pytest.warns(UserWarning, match="outside its range"):
        fit = ml.glmer("y ~ x + (1 | g)", d, family="gamma", link="inverse", nagq=15)
    assert np.isfinite(fit.loglik) and np.all(np.isfinite(fit.se))
    assert fit.loglik == pytest.approx(laplace.loglik, abs=0.5)
    np.testing.assert_allclose(fit.fixef, laplace.fixef, rtol=0.02)
    assert any("outside its range" in m for m in fit.messages)
    assert not any("outside its range" in m for m in laplace.messages)
    log = ml.glmer("y ~ x + (1 | g)", d, family="gamma", link="log", nagq=15)   # in range
    assert not any("outside its range" in m for m in log.messages)
