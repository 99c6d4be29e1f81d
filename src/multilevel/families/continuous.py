"""Continuous families with a dispersion parameter: Gamma, beta, and the gaussian
with a non-identity link.

Parameterised as glmmTMB's: Gamma by its mean and ``shape`` (glmmTMB's sigma
is ``1 / sqrt(shape)``, the coefficient of variation), beta by its mean and
precision ``phi`` (``Var = mu (1 - mu) / (1 + phi)``), the gaussian by its
mean and ``sigma``.

Examples
--------
>>> from multilevel.families import family
>>> family("gamma", "log").with_dispersion(4.0).variance(np.array([2.0])).tolist()
[1.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import special

from .dispersion import DispersionFamily
from .special import trigamma

__all__ = ["Gamma", "Beta", "GaussianLink"]

_LOG_2PI = float(np.log(2.0 * np.pi))


def _finite(y, name, what):
    if not np.all(np.isfinite(y)):
        raise ValueError(f"the response {name!r} has infinite values; a {what} response is finite")


@dataclass(frozen=True, repr=False)
class Gamma(DispersionFamily):
    """Gamma with mean ``mu`` and ``shape``: ``Var(y) = mu^2 / shape``.

    Examples
    --------
    >>> from multilevel.families import family
    >>> from scipy import stats
    >>> g = family("gamma", "log").with_dispersion(3.0)
    >>> bool(np.isclose(g.logpdf(np.array([2.0]), np.array([1.5]))[0], stats.gamma.logpdf(2.0, 3.0, scale=0.5)))
    True
    """

    dispersion_name: ClassVar[str] = "shape"
    discrete: ClassVar[bool] = False

    def logpdf(self, y, mu):
        a = self.value
        r = y / mu
        return a * np.log(a * r) - np.log(y) - a * r - special.gammaln(a)

    def derivatives(self, y, mu):
        a = self.value
        return a * (y - mu) / (mu * mu), a / (mu * mu) - 2.0 * a * y / mu ** 3

    def information(self, mu):
        return self.value / (mu * mu)

    def deviance_residuals(self, y, mu, wt):
        """R's Gamma deviance residuals, ``2 wt (-log(y / mu) + (y - mu) / mu)`` (not scaled by the shape)."""
        return 2.0 * wt * (-np.log(y / mu) + (y - mu) / mu)

    def variance(self, mu):
        return mu * mu / self.value

    def start(self, y, mu):
        cv2 = float(np.mean(((y - mu) / mu) ** 2))
        return float(np.clip(1.0 / cv2, 0.01, 1e6)) if cv2 > 0 else 1e3

    def simulate(self, mu, prior_weights, rng):
        mu = np.asarray(mu, dtype=float)
        return rng.gamma(self.value, mu / self.value)

    def check_response(self, y, weights=None, name="response"):
        y = np.asarray(y, dtype=float)
        _finite(y, name, "Gamma")
        if np.any(y <= 0):
            raise ValueError(f"the response {name!r} has values <= 0 (min {y.min():g}); a Gamma response is "
                             "positive: model zeros separately, or use a Tweedie or hurdle model")


@dataclass(frozen=True, repr=False)
class Beta(DispersionFamily):
    """Beta with mean ``mu`` and precision ``phi``: ``Var(y) = mu (1 - mu) / (1 + phi)``.

    Examples
    --------
    >>> from multilevel.families import family
    >>> from scipy import stats
    >>> b = family("beta").with_dispersion(10.0)
    >>> bool(np.isclose(b.logpdf(np.array([0.3]), np.array([0.4]))[0], stats.beta.logpdf(0.3, 4.0, 6.0)))
    True
    """

    dispersion_name: ClassVar[str] = "phi"
    discrete: ClassVar[bool] = False
    # the likelihood of y is not largest at mu = y: no deviance residuals (as glmmTMB)
    has_deviance_residuals: ClassVar[bool] = False

    def logpdf(self, y, mu):
        phi = self.value
        a, b = mu * phi, (1.0 - mu) * phi
        return (special.gammaln(phi) - special.gammaln(a) - special.gammaln(b)
                + (a - 1.0) * np.log(y) + (b - 1.0) * np.log1p(-y))

    def derivatives(self, y, mu):
        phi = self.value
        a, b = mu * phi, (1.0 - mu) * phi
        score = phi * (np.log(y) - np.log1p(-y) - special.digamma(a) + special.digamma(b))
        return score, -self.information(mu)

    def information(self, mu):
        phi = self.value
        return phi * phi * (trigamma(mu * phi) + trigamma((1.0 - mu) * phi))

    def variance(self, mu):
        return mu * (1.0 - mu) / (1.0 + self.value)

    def start(self, y, mu):
        v = float(np.mean((y - mu) ** 2))
        return float(np.clip(np.mean(mu * (1.0 - mu)) / v - 1.0, 0.1, 1e4)) if v > 0 else 1e3

    def simulate(self, mu, prior_weights, rng):
        mu = np.asarray(mu, dtype=float)
        # a draw that rounds to 0 or 1 (a small precision) is kept inside, as a response must be
        eps = np.finfo(float).eps
        return np.clip(rng.beta(mu * self.value, (1.0 - mu) * self.value), eps, 1.0 - eps)

    def check_response(self, y, weights=None, name="response"):
        y = np.asarray(y, dtype=float)
        _finite(y, name, "beta")
        if np.any((y <= 0) | (y >= 1)):
            zeros, ones = int(np.sum(y <= 0)), int(np.sum(y >= 1))
            what = (f"{zeros} value(s) <= 0" if zeros else "") + (" and " if zeros and ones else "") + \
                (f"{ones} value(s) >= 1" if ones else "")
            raise ValueError(
                f"the response {name!r} has {what}; a beta response is strictly between 0 and 1: "
                "squeeze it with (y * (n - 1) + 0.5) / n (Smithson and Verkuilen, 2006), or for counts "
                "of successes fit family='binomial'")


@dataclass(frozen=True, repr=False)
class GaussianLink(DispersionFamily):
    """Normal with mean ``g^-1(eta)`` for a non-identity link ``g`` and residual SD ``sigma``.

    Examples
    --------
    >>> from multilevel.families import family
    >>> g = family("gaussian", "log").with_dispersion(2.0)
    >>> round(float(g.logpdf(np.array([1.0]), np.array([1.0]))[0]), 6)   # log N(0; 0, 4)
    -1.612086
    """

    dispersion_name: ClassVar[str] = "sigma"
    discrete: ClassVar[bool] = False

    def logpdf(self, y, mu):
        s = self.value
        return -0.5 * (_LOG_2PI + 2.0 * np.log(s) + ((y - mu) / s) ** 2)

    def derivatives(self, y, mu):
        s2 = self.value ** 2
        return (y - mu) / s2, np.full_like(np.asarray(mu, dtype=float), -1.0 / s2)

    def information(self, mu):
        return np.full_like(np.asarray(mu, dtype=float), 1.0 / self.value ** 2)

    def deviance_residuals(self, y, mu, wt):
        """R's gaussian deviance residuals, ``wt (y - mu)^2`` (not scaled by sigma)."""
        return wt * (y - mu) ** 2

    def variance(self, mu):
        return np.full_like(np.asarray(mu, dtype=float), self.value ** 2)

    def mustart(self, y, prior_weights):
        y = np.asarray(y, dtype=float)
        if self.link.name in ("log", "inverse") and np.any(y <= 0):
            # the link needs a positive mean: start the others at the mean of the positive values
            pos = y[y > 0]
            return np.where(y > 0, y, pos.mean() if pos.size else 1.0)
        return y

    def start(self, y, mu):
        return float(max(np.sqrt(np.mean((y - mu) ** 2)), 1e-3 * max(float(np.std(y)), 1e-12)))

    def simulate(self, mu, prior_weights, rng):
        mu = np.asarray(mu, dtype=float)
        return mu + self.value * rng.standard_normal(mu.shape)

    def check_response(self, y, weights=None, name="response"):
        _finite(np.asarray(y, dtype=float), name, "gaussian")
