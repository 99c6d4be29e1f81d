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
