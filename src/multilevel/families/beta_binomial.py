"""The beta-binomial family: overdispersed binomial counts (glmmTMB's ``betabinomial``).

Of ``m`` trials, ``k`` succeed with a probability that is itself
``Beta(mu phi, (1 - mu) phi)``: the mean proportion is ``mu`` and its variance
``mu (1 - mu) (m + phi) / (m (1 + phi))``, the binomial's times
``(m + phi) / (1 + phi)``. The response is the proportion ``y = k / m`` with
the trials kept on the family (they enter the likelihood through ``k`` and
``m``, not as weights), as ``cbind(successes, failures)`` gives them.

Examples
--------
>>> from scipy import stats
>>> bb = BetaBinomial.make("logit").with_dispersion(4.0).with_trials(np.array([10.0]))
>>> y, mu = np.array([0.3]), np.array([0.4])
>>> bool(np.isclose(bb.logpdf(y, mu)[0], stats.betabinom.logpmf(3, 10, 1.6, 2.4)))
True
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import ClassVar

import numpy as np
from scipy import special

from .dispersion import DispersionFamily
from .links import link as make_link
from .special import trigamma

__all__ = ["BetaBinomial"]


@dataclass(frozen=True, repr=False)
class BetaBinomial(DispersionFamily):
    """Beta-binomial with mean proportion ``mu``, precision ``phi`` and ``trials`` per row.

    Attributes
    ----------
    trials : ndarray (n,)
        The trials of each observation (set by :meth:`with_trials` once the
        response is known).
    """

    trials: np.ndarray = field(default=None, compare=False)

    dispersion_name: ClassVar[str] = "phi"
    discrete: ClassVar[bool] = True
    # the likelihood is not largest at mu = y for every y: no deviance residuals (as glmmTMB)
    has_deviance_residuals: ClassVar[bool] = False

    @classmethod
    def make(cls, link_name: str = "logit") -> "BetaBinomial":
        return cls(name="betabinomial", link=make_link(link_name))

    def with_trials(self, trials) -> "BetaBinomial":
        """The family with the trials of each observation.

        Examples
        --------
        >>> BetaBinomial.make().with_trials([3, 4]).trials.tolist()
        [3.0, 4.0]
        """
        return replace(self, trials=np.asarray(trials, dtype=float))

    def subset(self, keep) -> "BetaBinomial":
        return self if self.trials is None else self.with_trials(self.trials[np.asarray(keep)])

    def _m(self, mu):
        if self.trials is None:
            raise ValueError("the beta-binomial family needs its trials (cbind(successes, failures))")
        # (quadrature passes mu with a column per node: the trials go along the rows)
        m = self.trials.reshape(self.trials.shape + (1,) * (np.ndim(mu) - 1))
        return np.broadcast_to(m, np.shape(mu))

    def logpdf(self, y, mu):
        m = self._m(mu)
        k = np.round(np.asarray(y, dtype=float) * m)
        a, b = mu * self.value, (1.0 - mu) * self.value
        return (special.gammaln(m + 1.0) - special.gammaln(k + 1.0) - special.gammaln(m - k + 1.0)
                + special.betaln(k + a, m - k + b) - special.betaln(a, b))

    def derivatives(self, y, mu):
        m = self._m(mu)
        k = np.round(np.asarray(y, dtype=float) * m)
        phi = self.value
        a, b = mu * phi, (1.0 - mu) * phi
        score = phi * (special.digamma(k + a) - special.digamma(m - k + b) - special.digamma(a)
                       + special.digamma(b))
        hess = phi * phi * (trigamma(k + a) + trigamma(m - k + b) - trigamma(a) - trigamma(b))
        return score, hess

    def information(self, mu):
        m = self._m(mu)
        return m * (1.0 + self.value) / (mu * (1.0 - mu) * (m + self.value))

    def variance(self, mu):
        """Variance of the proportion ``k / m``."""
        m = self._m(mu)
        return mu * (1.0 - mu) * (m + self.value) / (m * (1.0 + self.value))

    def mustart(self, y, prior_weights):
        m = self._m(y)
        return (m * np.asarray(y, dtype=float) + 0.5) / (m + 1.0)

    def start(self, y, mu):
        """``phi`` from the intraclass correlation ``rho = 1 / (1 + phi)`` of the trials' excess variance."""
        m = self._m(mu)
        many = m > 1
        if not many.any():
            return 1e3
        ratio = (y - mu) ** 2 / (mu * (1.0 - mu) / m)
        rho = float(np.mean((ratio[many] - 1.0) / (m[many] - 1.0)))
        return float(np.clip(1.0 / rho - 1.0, 0.1, 1e4)) if rho > 0 else 1e3

    def simulate(self, mu, prior_weights, rng):
        mu = np.asarray(mu, dtype=float)
        m = np.round(self._m(mu)).astype(np.int64)
        p = rng.beta(np.maximum(mu * self.value, 1e-300), np.maximum((1.0 - mu) * self.value, 1e-300))
        return np.where(m > 0, rng.binomial(m, p) / np.where(m > 0, m, 1), 0.0)

    def check_response(self, y, weights=None, name="response"):
        y = np.asarray(y, dtype=float)
        if np.any((y < 0) | (y > 1)):
            raise ValueError(f"the response {name!r} must be proportions in [0, 1] with cbind(successes, "
                             "failures)")
        if self.trials is not None and not np.any(self.trials > 1):
            raise ValueError("a beta-binomial model needs observations of more than one trial (with one trial "
                             "its precision is not identified); use family='binomial'")
