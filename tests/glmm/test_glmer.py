"""glmer fits against lme4 1.1-31 (figures printed by R 4.2.2 for lme4's cbpp data)."""

from __future__ import annotations

import numpy as np
import pytest

import multilevel as ml

CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
# (logLik, theta, fixef) from glmer
R = {
    "logit": (-92.02656639, 0.6420699277, [-1.398342864, -0.991924975, -1.128216216, -1.579745414]),
    "probit": (-92.62124257, 0.3379893465, [-0.8354749296, -0.5280327397, -0.6168542982, -0.7995725981]),
    "cloglog": (-91.80206466, 0.5867261957, [-1.525945457, -0.9163898997, -1.035220083, -1.483681247]),
}
R_POISSON_OFFSET = (-90.24210597, 0.4914066354, [-1.647809029, -0.844074794, -0.9662891927, -1.391056372])
R_NAGQ0 = (-92.0543465, 0.6418385553, [-1.360475728, -0.9761732361, -1.111072784, -1.559675684])


def check(fit, ref, ll_tol=1e-4):
    ll, theta, beta = ref
    # the criterion: log-likelihood within 1e-4 absolute, or higher than glmer's
    assert fit.loglik > ll - ll_tol
    assert fit.theta.iloc[0] == pytest.approx(theta, rel=1e-3)
    np.testing.assert_allclose(fit.fixef.to_numpy(), beta, rtol=1e-3)


@pytest.fixture(scope="module")
def cbpp():
    return ml.datasets.load("cbpp")


@pytest.mark.parametrize("link", sorted(R))
def test_cbind_binomial_links(cbpp, link):
    check(ml.glmer(CBPP, cbpp, family="binomial", link=link), R[link])


def test_proportion_with_weights_equals_cbind(cbpp):
    d = cbpp.assign(prop=cbpp.incidence / cbpp["size"])
    check(ml.glmer("prop ~ period + (1 | herd)", d, weights="size"), R["logit"])


def test_poisson_with_offset(cbpp):
    d = cbpp.assign(logsize=np.log(cbpp["size"]))
    check(ml.glmer("incidence ~ period + (1 | herd)", d, family="poisson", offset="logsize"),
          R_POISSON_OFFSET)


def test_nagq0_stage(cbpp):
    fit = ml.glmer(CBPP, cbpp, nagq=0)
    ll, theta, beta = R_NAGQ0
    assert fit.theta.iloc[0] == pytest.approx(theta, rel=1e-3)
    np.testing.assert_allclose(fit.fixef.to_numpy(), beta, rtol=1e-3)


def test_summary_reads_like_glmer(cbpp):
    text = str(ml.glmer(CBPP, cbpp))
    assert text.splitlines()[0] == ("Generalized linear mixed model fit by maximum likelihood "
                                    "(Laplace Approximation) ['glmerMod']")
    assert " Family: binomial  ( logit )" in text
    assert "z value Pr(>|z|)" in text


@pytest.mark.parametrize("fam, y, match", [
    ("binomial", [0, 2] * 28, "outside \\[0, 1\\]"),
    ("poisson", [-1, 2] * 28, "negative"),
    ("poisson", [0.5, 2] * 28, "non-integer"),
])
def test_bad_responses(cbpp, fam, y, match):
    d = cbpp.assign(yy=np.array(y, dtype=float))
    with pytest.raises(ValueError, match=match) as info:
        ml.glmer("yy ~ period + (1 | herd)", d, family=fam)
    assert "\n" not in str(info.value)


def test_cbind_negative_failures(cbpp):
    with pytest.raises(ValueError, match="negative counts"):
        ml.glmer("cbind(incidence, incidence - size) ~ period + (1 | herd)", cbpp)


def test_unknown_family_and_quadrature(cbpp):
    with pytest.raises(ValueError, match="unknown family"):
        ml.glmer(CBPP, cbpp, family="tweedie")
    with pytest.raises(ValueError, match=r"cbind\(successes, failures\) is a binomial response"):
        ml.glmer(CBPP, cbpp, family="negbin")
    with pytest.raises(ValueError, match="nagq must be an integer from 0 to 25"):
        ml.glmer(CBPP, cbpp, nagq=26)


@pytest.mark.slow
def test_verbagg_crossed_laplace():
    """lme4's VerbAgg example: logLik -4075.7; id and item standard deviations 1.339, 0.495."""
    fit = ml.glmer("r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)",
                   ml.datasets.load("verbagg"))
    assert fit.loglik == pytest.approx(-4075.7, abs=0.1)
    np.testing.assert_allclose(fit.theta.to_numpy(), [1.339, 0.495], atol=2e-3)
