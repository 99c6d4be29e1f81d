"""The negative binomial's constant of y and theta (families/special.py): equal to the log-gamma
difference where that is accurate, continuous at the switch to Stirling's series, and the Poisson
log-density's at the limit theta -> infinity, where the log-gamma difference had lost 1e-5 a row at
theta = 1e10 (searches stopped at arbitrary points of the flat ridge, below the Poisson limit)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special, stats

from multilevel.families import family
from multilevel.families.special import NB2_STIRLING, nb2_constant

Y = np.array([0.0, 1.0, 2.0, 7.0, 40.0, 333.0])


def _direct(y, t):
    return special.gammaln(y + t) - special.gammaln(t) - special.gammaln(y + 1.0) - y * np.log(t)


@pytest.mark.parametrize("t", [0.05, 1.0, 30.0, NB2_STIRLING, 250.0, 5000.0])
def test_equal_to_the_log_gamma_difference_where_that_is_accurate(t):
    np.testing.assert_allclose(nb2_constant(Y, t), _direct(Y, t), rtol=1e-12, atol=1e-10)


def test_continuous_at_the_switch():
    below, above = nb2_constant(Y, np.nextafter(NB2_STIRLING, 0.0)), nb2_constant(Y, NB2_STIRLING)
    np.testing.assert_allclose(below, above, rtol=0, atol=1e-10)


@pytest.mark.parametrize("t", [1e10, 1e14])
def test_the_poisson_limit(t):
    y = Y[:5]
    mu = np.array([0.4, 1.5, 2.0, 6.0, 35.0])
    nb = family("negative_binomial").with_dispersion(t)
    # (NB2 - Poisson is of the order y^2 / theta: 1e-7 at 1e10, 1e-11 at 1e14)
    np.testing.assert_allclose(nb.logpdf(y, mu), stats.poisson.logpmf(y, mu), rtol=0, atol=2e3 / t)
    dev = nb.deviance_function(y, np.ones(y.size))(mu)
    assert dev == pytest.approx(-2.0 * stats.poisson.logpmf(y, mu).sum(), abs=1e4 / t)
