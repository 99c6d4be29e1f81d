"""Families and links against R's family objects (values printed by R 4.2.2)."""

from __future__ import annotations

import numpy as np
import pytest

from multilevel.families import FAMILIES, family

ETA = np.array([-2, -0.3, 0, 1.5])
R_LINKS = {  # binomial(link)$linkinv(eta), then $mu.eta(eta)
    "logit": [0.119202922022118, 0.425557483188341, 0.5, 0.817574476193644,
              0.104993585403507, 0.244458311690746, 0.25, 0.149146452070333],
    "probit": [0.0227501319481792, 0.382088577811047, 0.5, 0.933192798731142,
               0.0539909665131881, 0.381387815460524, 0.398942280401433, 0.129517595665892],
    "cloglog": [0.126576981506883, 0.523276309285406, 0.632120558828558, 0.98868571361954,
                0.118204951593143, 0.353165596312007, 0.367879441171442, 0.0507071136099807],
}


@pytest.mark.parametrize("name", sorted(R_LINKS))
def test_binomial_links_match_r(name):
    f = family("binomial", name)
    np.testing.assert_allclose(f.link.inverse(ETA), R_LINKS[name][:4], rtol=1e-12)
    np.testing.assert_allclose(f.link.mu_eta(ETA), R_LINKS[name][4:], rtol=1e-12)
    mu = f.link.inverse(ETA)
    np.testing.assert_allclose(f.link.fun(mu), ETA, rtol=1e-10, atol=1e-12)


def test_binomial_deviance_and_loglik_match_r():
    y = np.array([0, 1, 0.25, 1, 0])
    mu = np.array([0.2, 0.7, 0.4, 0.95, 0.01])
    wt = np.array([1.0, 1, 4, 2, 3])
    f = family("binomial")
    np.testing.assert_allclose(
        f.deviance_residuals(y, mu, wt),
        [0.44628710262842, 0.713349887877465, 0.398854049393788, 0.205173177550202, 0.060302015121009],
        rtol=1e-12)
    assert -2 * f.loglik(y, mu, wt) == pytest.approx(3.55005866728157, rel=1e-12)


def test_poisson_deviance_and_loglik_match_r():
    y = np.array([0.0, 3, 7, 1])
    mu = np.array([0.5, 2.5, 6, 1.2])
    f = family("poisson")
    np.testing.assert_allclose(f.deviance_residuals(y, mu, np.ones(4)),
                               [1, 0.0939293407637276, 0.158109517581617, 0.0353568864120907],
                               rtol=1e-12)
    assert -2 * f.loglik(y, mu, np.ones(4)) == pytest.approx(10.0868215865613, rel=1e-12)


def test_default_links_and_errors():
    # (a cumulative family's link is its latent distribution, cdf; eta is its own argument)
    assert {k: getattr(family(k), "cdf", family(k).link.name) for k in FAMILIES} == {
        "binomial": "logit", "poisson": "log", "gaussian": "identity", "negative_binomial": "log",
        "nbinom1": "log", "gamma": "inverse", "beta": "logit", "betabinomial": "logit", "cumulative": "logit"}
    with pytest.raises(ValueError, match="unknown family 'tweedie'"):
        family("tweedie")
    with pytest.raises(ValueError, match="not available for the poisson family"):
        family("poisson", "logit")


@pytest.mark.parametrize("fam, y, match", [
    ("binomial", [0, 1, 1.5], "outside \\[0, 1\\]"),
    ("binomial", [-0.1, 1], "outside \\[0, 1\\]"),
    ("poisson", [0, -2], "negative"),
    ("poisson", [0, 2.5], "non-integer"),
])
def test_bad_responses_give_one_line_errors(fam, y, match):
    with pytest.raises(ValueError, match=match) as info:
        family(fam).check_response(np.array(y, dtype=float))
    assert "\n" not in str(info.value)


def test_non_integer_successes_warn():
    with pytest.warns(UserWarning, match="non-integer number of successes"):
        family("binomial").check_response(np.array([0.5, 0.3]), weights=np.array([2.0, 3.0]))


DISPERSION_CASES = [
    ("negative_binomial", "log", 1.7, np.array([0.0, 1.0, 4.0, 12.0])),
    ("nbinom1", "log", 0.8, np.array([0.0, 1.0, 4.0, 12.0])),
    ("gamma", "log", 3.0, np.array([0.2, 1.0, 2.5, 7.0])),
    ("gamma", "inverse", 3.0, np.array([0.2, 1.0, 2.5, 7.0])),
    ("beta", "logit", 12.0, np.array([0.05, 0.3, 0.5, 0.9])),
    ("beta", "probit", 12.0, np.array([0.05, 0.3, 0.5, 0.9])),
    ("beta", "cloglog", 12.0, np.array([0.05, 0.3, 0.5, 0.9])),
    ("gaussian", "log", 0.7, np.array([-0.5, 1.0, 2.5, 7.0])),
]


@pytest.mark.parametrize("name, link_name, value, y", DISPERSION_CASES)
def test_dispersion_family_derivatives(name, link_name, value, y):
    fam = family(name, link_name).with_dispersion(value)
    mu = np.array([0.6, 1.3, 2.0, 5.0]) if name != "beta" else np.array([0.2, 0.35, 0.6, 0.7])
    h = 1e-5 * mu
    score, hess = fam.derivatives(y, mu)
    num_score = (fam.logpdf(y, mu + h) - fam.logpdf(y, mu - h)) / (2 * h)
    num_hess = (fam.logpdf(y, mu + h) - 2 * fam.logpdf(y, mu) + fam.logpdf(y, mu - h)) / h ** 2
    np.testing.assert_allclose(score, num_score, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(hess, num_hess, rtol=1e-4, atol=1e-5)
    # the observed information of eta (IRLS weights, the Laplace curvature)
    eta = fam.link.fun(mu)
    he = 1e-4
    num = -(fam.logpdf(y, fam.link.inverse(eta + he)) - 2 * fam.logpdf(y, mu)
            + fam.logpdf(y, fam.link.inverse(eta - he))) / he ** 2
    np.testing.assert_allclose(fam.curvature(y, eta), num, rtol=1e-4, atol=1e-6)
    # the variance function against draws, and the draws' mean
    rng = np.random.default_rng(5)
    draws = fam.simulate(np.repeat(mu[2], 400_000), np.ones(400_000), rng)
    assert draws.mean() == pytest.approx(mu[2], rel=1e-2)
    assert draws.var() == pytest.approx(float(fam.variance(mu[2:3])[0]), rel=3e-2)
    # the deviance residuals vanish at mu = y (where the saturated model is the maximum)
    if fam.has_deviance_residuals:
        np.testing.assert_allclose(fam.deviance_residuals(y[1:], y[1:], np.ones(3)), 0.0, atol=1e-10)
        assert np.all(fam.deviance_residuals(y[1:], mu[1:], np.ones(3)) >= 0)
    else:  # NB1 and beta: not largest at mu = y
        with pytest.raises(ValueError, match="deviance residuals are not defined"):
            fam.deviance_residuals(y, mu, np.ones(4))


def test_dispersion_family_fisher_information():
    # the expected information of mu is minus the mean of the second derivative
    rng = np.random.default_rng(2)
    for name, value, mu in [("negative_binomial", 1.7, 2.0), ("gamma", 3.0, 2.0), ("beta", 12.0, 0.35)]:
        fam = family(name, "log" if name != "beta" else "logit").with_dispersion(value)
        draws = fam.simulate(np.full(400_000, mu), np.ones(400_000), rng)
        _, hess = fam.derivatives(draws, np.full(draws.size, mu))
        assert -hess.mean() == pytest.approx(float(fam.information(np.array([mu]))[0]), rel=2e-2)


@pytest.mark.parametrize("link_name", ["logit", "probit", "cloglog"])
def test_betabinomial_family(link_name):
    from scipy import stats

    m = np.array([1.0, 5.0, 12.0, 30.0])
    fam = family("betabinomial", link_name).with_dispersion(4.5).with_trials(m)
    y = np.array([1.0, 2.0, 5.0, 21.0]) / m
    mu = np.array([0.3, 0.45, 0.5, 0.65])
    a, b = mu * 4.5, (1 - mu) * 4.5
    np.testing.assert_allclose(fam.logpdf(y, mu), stats.betabinom.logpmf(np.round(y * m), m, a, b), rtol=1e-12)
    h = 1e-5
    score, hess = fam.derivatives(y, mu)
    np.testing.assert_allclose(score, (fam.logpdf(y, mu + h) - fam.logpdf(y, mu - h)) / (2 * h), rtol=1e-6)
    np.testing.assert_allclose(hess, (fam.logpdf(y, mu + h) - 2 * fam.logpdf(y, mu) + fam.logpdf(y, mu - h)) / h ** 2,
                               rtol=1e-4, atol=1e-4)
    # the proportion's variance against draws (20 trials each)
    big = fam.with_trials(np.full(400_000, 20.0))
    draws = big.simulate(np.full(400_000, 0.3), np.ones(400_000), np.random.default_rng(3))
    assert draws.mean() == pytest.approx(0.3, rel=1e-2)
    assert draws.var() == pytest.approx(float(big.variance(np.full(400_000, 0.3))[0]), rel=3e-2)
    with pytest.raises(ValueError, match="more than one trial"):
        family("betabinomial").with_trials(np.ones(3)).check_response(np.array([0.0, 1.0, 1.0]))
