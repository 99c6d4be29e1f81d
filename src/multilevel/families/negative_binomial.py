"""Negative binomial families: NB2 (variance mu + mu^2 / theta) and NB1 (variance mu (1 + phi)).

Both as glmmTMB's ``nbinom2`` and ``nbinom1``, with the dispersion estimated
jointly with the model (lme4's ``glmer.nb`` alternates between theta and the
rest for NB2).

Examples
--------
>>> from multilevel.families import family
>>> nb1 = family("nbinom1").with_dispersion(0.5)
>>> nb1.variance(np.array([4.0])).tolist()
[6.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import special

from .dispersion import DispersionFamily
from .exponential import check_count
from .special import nb2_constant, trigamma

__all__ = ["NegativeBinomial2", "NegativeBinomial1"]


@dataclass(frozen=True, repr=False)
class NegativeBinomial2(DispersionFamily):
    """NB2: ``Var(y) = mu + mu^2 / theta``; theta large is close to Poisson.

    Examples
    --------
    >>> from multilevel.families import family
    >>> nb = family("negative_binomial").with_dispersion(1.5)
    >>> from scipy import stats
    >>> bool(np.isclose(nb.logpdf(np.array([3.0]), np.array([2.0]))[0],
    ...                 stats.nbinom.logpmf(3, 1.5, 1.5 / 3.5)))
    True
    """

    dispersion_name: ClassVar[str] = "theta"

    def logpdf(self, y, mu):
        # (in this form every term stays of the order of y at any theta: the Poisson limit to the last
        # digits, where log-gamma differences of about theta log theta each had lost 1e-5 a row at 1e10)
        t = self.value
        return nb2_constant(y, t) + special.xlogy(y, mu) - (t + y) * np.log1p(mu / t)

    def saturated(self, y):
        return self.logpdf(y, np.maximum(y, 1e-300))

    def deviance_function(self, y, wt):
        # -2 sum wt (y log mu - (y + theta) log1p(mu / theta)) + the constant of y and theta
        y = np.asarray(y, dtype=float)
        wt = np.asarray(wt, dtype=float)
        t = self.value
        const = float(wt @ nb2_constant(y, t))
        a, b = wt * y, wt * (y + t)
        return lambda mu: -2.0 * (const + float(a @ np.log(mu)) - float(b @ np.log1p(mu / t)))

    def derivatives(self, y, mu):
        t = self.value
        a = (y + t) / (mu + t)
        return y / mu - a, -y / (mu * mu) + a / (mu + t)

    def information(self, mu):
        return 1.0 / self.variance(mu)

    def variance(self, mu):
        return mu + mu * mu / self.value

    def mustart(self, y, prior_weights):
        return y + 0.1

    def start(self, y, mu):
        excess = float(np.sum((y - mu) ** 2 - mu))
        return float(np.clip(np.sum(mu * mu) / excess, 0.01, 1e3)) if excess > 0 else 100.0

    def simulate(self, mu, prior_weights, rng):
        t = self.value
        return rng.negative_binomial(t, t / (t + np.asarray(mu, dtype=float))).astype(float)

    def check_response(self, y, weights=None, name="response"):
        check_count(y, name, "negative binomial")


@dataclass(frozen=True, repr=False)
class NegativeBinomial1(DispersionFamily):
    """NB1: ``Var(y) = mu (1 + phi)``, a negative binomial of size ``mu / phi``.

    Examples
    --------
    >>> from multilevel.families import family
    >>> nb = family("nbinom1").with_dispersion(0.5)
    >>> from scipy import stats
    >>> bool(np.isclose(nb.logpdf(np.array([3.0]), np.array([2.0]))[0],
    ...                 stats.nbinom.logpmf(3, 4.0, 1 / 1.5)))
    True
    """

    dispersion_name: ClassVar[str] = "phi"
    # the likelihood of y is not largest at mu = y: no deviance residuals (as glmmTMB)
    has_deviance_residuals: ClassVar[bool] = False

    def logpdf(self, y, mu):
        phi = self.value
        k = mu / phi
        return (special.gammaln(y + k) - special.gammaln(k) - special.gammaln(y + 1.0)
                - k * np.log1p(phi) + y * (np.log(phi) - np.log1p(phi)))

    def derivatives(self, y, mu):
        phi = self.value
        k = mu / phi
        score = (special.digamma(y + k) - special.digamma(k) - np.log1p(phi)) / phi
        hess = (trigamma(y + k) - trigamma(k)) / (phi * phi)
        return score, hess

    def information(self, mu):
        # no closed form: the quasi-likelihood's 1 / V(mu) (IRLS weights only)
        return 1.0 / self.variance(mu)

    def variance(self, mu):
        return mu * (1.0 + self.value)

    def mustart(self, y, prior_weights):
        return y + 0.1

    def start(self, y, mu):
        return float(np.clip(np.mean((y - mu) ** 2 / mu) - 1.0, 0.01, 100.0))

    def simulate(self, mu, prior_weights, rng):
        phi = self.value
        return rng.negative_binomial(np.asarray(mu, dtype=float) / phi, 1.0 / (1.0 + phi)).astype(float)

    def check_response(self, y, weights=None, name="response"):
        check_count(y, name, "negative binomial")
