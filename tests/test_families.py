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
    assert {k: family(k).link.name for k in FAMILIES} == {
        "binomial": "logit", "poisson": "log", "gaussian": "identity"}
    with pytest.raises(ValueError, match="unknown family 'gamma'"):
        family("gamma")
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
