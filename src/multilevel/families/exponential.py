"""The exponential families without a dispersion parameter to estimate:
binomial, Poisson, and the gaussian of linear models.

:class:`Family` also defines what every family gives the fitting routes: the
variance function, deviance, log-likelihood, a working step of penalised
iteratively reweighted least squares (:meth:`Family.working`), simulation and
a check of the response; the families with a dispersion parameter
(:mod:`multilevel.families.dispersion`) refine it.

Examples
--------
>>> from multilevel.families import family
>>> fam = family("binomial", "probit")
>>> fam.name, fam.link.name
('binomial', 'probit')
>>> float(fam.link.inverse(np.array([0.0]))[0])
0.5
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, ClassVar

import numpy as np
from scipy import special, stats

from .links import _EPS, Link

__all__ = ["Family", "check_count"]


@dataclass(frozen=True, eq=False)
class _Deviance:
    """``mu -> sum of deviance residuals`` with the parts that depend only on ``y``
    computed once (:meth:`Family.deviance_function`); an object rather than a
    closure, so that it pickles (data in parts hold it on their workers)."""

    kind: str
    const: float
    a: np.ndarray
    b: np.ndarray

    def __call__(self, mu: np.ndarray) -> float:
        if self.kind == "bernoulli":   # a: weights, b: y == 1
            return self.const - 2.0 * float(self.a @ np.log(np.where(self.b, mu, 1.0 - mu)))
        if self.kind == "binomial":    # a: weights y, b: weights (1 - y)
            return self.const - 2.0 * float(self.a @ np.log(mu) + self.b @ np.log1p(-mu))
        if self.kind == "poisson":     # a: weights y, b: weights
            return self.const - 2.0 * float(self.a @ np.log(mu)) + 2.0 * float(self.b @ mu)
        return float(self.a @ (self.b - mu) ** 2)   # a: weights, b: y


@dataclass(frozen=True)
class Family:
    """A response distribution with its link.

    Attributes
    ----------
    name : {"binomial", "poisson", "gaussian"}
    link : Link
    """

    name: str
    link: Link

    #: the name of the family's dispersion parameter (theta, phi, shape,
    #: sigma), None for families without one
    dispersion_name: ClassVar[str | None] = None
    #: counts (binomial successes, Poisson and negative binomial counts), not a continuous response
    discrete: ClassVar[bool] = True
    #: whether deviance residuals are defined (the saturated model is mu = y)
    has_deviance_residuals: ClassVar[bool] = True
    #: whether the Laplace curvature is the observed information (glmmTMB's,
    #: clmm's) rather than Fisher's (glmer's)
    observed_curvature: ClassVar[bool] = False
    #: a count family with a model of structural zeros (families/zero_inflated.py)
    zero_inflated: ClassVar[bool] = False

    # the parameters a fit estimates with theta and beta besides them (a
    # dispersion parameter, ordinal thresholds), on an unconstrained scale
    @property
    def n_extra(self) -> int:
        """Number of the family's own parameters to estimate (none here)."""
        return 0

    def extra_internal(self) -> np.ndarray:
        """The family's own parameters on the optimizer's (unconstrained) scale."""
        return np.zeros(0)

    def with_extra(self, x) -> "Family":
        """The family at other values of its own parameters (internal scale)."""
        return self

    def start_extra(self, y: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """A start for the family's own parameters (internal scale), at the means ``mu``."""
        return np.zeros(0)

    @property
    def canonical(self) -> bool:
        """True for the canonical link of a family whose scale is known (logit
        binomial, log Poisson, identity gaussian).

        Examples
        --------
        >>> from multilevel.families import family
        >>> family("poisson").canonical, family("binomial", "probit").canonical
        (True, False)
        """
        return (self.name, self.link.name) in {("binomial", "logit"), ("poisson", "log"),
                                               ("gaussian", "identity")}

    @property
    def dispersion(self) -> float | None:
        """The dispersion parameter's value (None: the family has none)."""
        return None

    def eta_scale(self, y: np.ndarray, prior_weights: np.ndarray) -> float:
        """The scale of the linear predictor: 1 for the log, logit, probit and
        cloglog links; for the identity and inverse links (whose linear
        predictor is in the response's units, or their reciprocal) the spread
        of the link at the starting means. A GLMM is fitted with its internal
        parameters in these units, so that it does not depend on the response's.

        Examples
        --------
        >>> from multilevel.families import family
        >>> y = np.array([100.0, 200.0, 300.0])
        >>> g = family("gamma", "identity")
        >>> bool(np.isclose(g.eta_scale(y, np.ones(3)), 100 * g.eta_scale(y / 100, np.ones(3))))
        True
        """
        if self.link.name not in ("identity", "inverse", "1/mu^2"):
            return 1.0
        with np.errstate(all="ignore"):
            eta = self.link.fun(self.mustart(np.asarray(y, dtype=float), prior_weights))
        eta = eta[np.isfinite(eta) & (np.asarray(prior_weights) > 0)]  # (the rows of positive weight)
        for s in (float(np.std(eta)) if eta.size else 0.0, float(np.sqrt(np.mean(eta ** 2))) if eta.size else 0.0):
            if s > 0 and np.isfinite(s):
                return s
        return 1.0

    def subset(self, keep: np.ndarray) -> "Family":
        """The family for the rows where ``keep`` (a mask): itself, unless it
        holds per-row arrays (beta-binomial trials, a zero-inflation design).

        Examples
        --------
        >>> from multilevel.families import family
        >>> family("poisson").subset(np.array([True, False])) == family("poisson")
        True
        """
        return self

    def mustart(self, y: np.ndarray, prior_weights: np.ndarray) -> np.ndarray:
        """Starting means of the iterations (R's ``mustart``).

        Examples
        --------
        >>> from multilevel.families import family
        >>> family("poisson").mustart(np.array([0.0, 2.0]), np.ones(2)).tolist()
        [0.1, 2.1]
        """
        if self.name == "binomial":
            return (prior_weights * y + 0.5) / (prior_weights + 1.0)
        if self.name == "poisson":
            return y + 0.1
        return np.asarray(y, dtype=float)

    # ------------------------------------------------------------ moments
    def variance(self, mu: np.ndarray) -> np.ndarray:
        """Variance function V(mu) (per unit of prior weight).

        Examples
        --------
        >>> from multilevel.families import family
        >>> family("binomial").variance(np.array([0.5])).tolist()
        [0.25]
        """
        if self.name == "binomial":
            return mu * (1.0 - mu)
        if self.name == "poisson":
            return mu
        return np.ones_like(mu)

    # ---------------------------------------------------------- deviance
    def deviance_residuals(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """Squared deviance residuals (R's ``dev.resids``): their sum is the deviance.

        Examples
        --------
        >>> from multilevel.families import family
        >>> d = family("poisson").deviance_residuals(np.array([0.0, 2.0]), np.array([1.0, 1.0]),
        ...                                         np.ones(2))
        >>> np.round(d, 6).tolist()
        [2.0, 0.772589]
        """
        if self.name == "binomial":
            return 2.0 * wt * (special.xlogy(y, y / mu) + special.xlogy(1.0 - y, (1.0 - y) / (1.0 - mu)))
        if self.name == "poisson":
            return 2.0 * wt * (special.xlogy(y, y / mu) - (y - mu))
        return wt * (y - mu) ** 2

    def deviance_function(self, y: np.ndarray, wt: np.ndarray) -> Callable[[np.ndarray], float]:
        """``mu -> sum of deviance residuals`` for fixed ``y`` and weights, with the parts
        that depend only on ``y`` computed once (PIRLS evaluates it every iteration).

        Examples
        --------
        >>> from multilevel.families import family
        >>> fam = family("binomial")
        >>> y, mu, wt = np.array([1.0, 0.0, 0.25]), np.array([0.7, 0.2, 0.5]), np.array([1.0, 1.0, 4.0])
        >>> dev = fam.deviance_function(y, wt)
        >>> bool(np.isclose(dev(mu), fam.deviance_residuals(y, mu, wt).sum()))
        True
        """
        y = np.asarray(y, dtype=float)
        wt = np.asarray(wt, dtype=float)
        if self.name == "binomial":
            const = 2.0 * float(np.sum(wt * (special.xlogy(y, y) + special.xlogy(1.0 - y, 1.0 - y))))
            if np.all((y == 0) | (y == 1)):
                return _Deviance("bernoulli", const, wt, y == 1)
            return _Deviance("binomial", const, wt * y, wt * (1.0 - y))
        if self.name == "poisson":
            const = 2.0 * float(np.sum(wt * (special.xlogy(y, y) - y)))
            return _Deviance("poisson", const, wt * y, wt)
        return _Deviance("squares", 0.0, wt, y)

    def working_weights(self, eta: np.ndarray, mu: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mu, dmu/deta, (dmu/deta)^2 / V(mu))`` at ``eta``: what each IRLS step needs.

        Canonical links (logit, Poisson log) take the shortcut ``d^2 / V = d``;
        pass ``mu`` when it is already known.

        Examples
        --------
        >>> from multilevel.families import family
        >>> mu, d, w = family("poisson").working_weights(np.array([0.0, 1.0]))
        >>> np.allclose(w, d) and np.allclose(mu, np.exp([0.0, 1.0]))
        True
        """
        if mu is None:
            mu = self.link.inverse(eta)
        if self.name == "binomial" and self.link.name == "logit":
            d = np.maximum(mu * (1.0 - mu), _EPS)
            return mu, d, d
        if self.name == "poisson" and self.link.name == "log":
            return mu, mu, mu
        d = self.link.mu_eta(eta)
        return mu, d, d * d / self.variance(mu)

    def working(self, y: np.ndarray, eta: np.ndarray, mu: np.ndarray | None = None, signed: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One IRLS step's ``(mu, w, r)`` at ``eta``: the weights ``w`` (per unit of
        prior weight) and working residuals ``r``, the working response being
        ``eta + r``.

        Fisher scoring, as glm and glmer: ``w = (dmu/deta)^2 / V(mu)`` and
        ``r = (y - mu) / (dmu/deta)``. At the conditional modes ``w`` is the
        curvature of the Laplace approximation.

        Examples
        --------
        >>> from multilevel.families import family
        >>> mu, w, r = family("poisson").working(np.array([2.0]), np.array([0.0]))
        >>> mu.tolist(), w.tolist(), r.tolist()
        ([1.0], [1.0], [1.0])
        """
        mu, d, w = self.working_weights(eta, mu)
        return mu, w, (y - mu) / d

    def curvature(self, y: np.ndarray, eta: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
        """The Laplace approximation's weights at the conditional modes (per unit of
        prior weight): Fisher's ``(dmu/deta)^2 / V(mu)``, as glmer's.

        Examples
        --------
        >>> from multilevel.families import family
        >>> family("binomial").curvature(np.array([1.0]), np.array([0.0])).tolist()
        [0.25]
        """
        return self.working(y, eta, mu)[1]

    def unit_deviance(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """Each observation's contribution to the criterion PIRLS and the Laplace
        approximation minimise (for these families the deviance residuals, the
        saturated model being free of parameters).

        Examples
        --------
        >>> from multilevel.families import family
        >>> family("poisson").unit_deviance(np.array([0.0]), np.array([1.0]), np.ones(1)).tolist()
        [2.0]
        """
        return self.deviance_residuals(y, mu, wt)

    def simulate(self, mu: np.ndarray, prior_weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Responses drawn at the means ``mu``: binomial proportions of the prior
        weights' trials, or Poisson counts.

        Examples
        --------
        >>> from multilevel.families import family
        >>> y = family("poisson").simulate(np.full(3, 2.0), np.ones(3), np.random.default_rng(1))
        >>> y.dtype.kind, bool((y >= 0).all())
        ('f', True)
        """
        mu = np.asarray(mu, dtype=float)
        if self.name == "binomial":
            n = np.maximum(np.rint(np.asarray(prior_weights, dtype=float)).astype(np.int64), 1)
            return rng.binomial(n, mu) / n
        if self.name == "poisson":
            return rng.poisson(mu).astype(float)
        raise ValueError(f"simulation of the {self.name} family needs its scale; use the linear mixed model")

    def loglik(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray, rounded: bool = False) -> float:
        """Log-likelihood of the conditional distribution (binomial: ``wt`` trials).

        A binomial row of ``m = wt`` trials and ``k = m y`` successes counts
        ``log C(m, k) + k log mu + (m - k) log(1 - mu)``, with the binomial coefficient of
        gamma functions: for whole numbers of trials the binomial probability, and for a 0/1
        response with weights ``w`` the weighted ``w log p`` that the fit maximises (as lme4's
        and glmmTMB's logLik). ``rounded``: R's ``glm`` convention instead
        (``dbinom(round(m y), round(m), mu)``, whose rounding drops a row of weight below 0.5).

        Examples
        --------
        >>> from multilevel.families import family
        >>> b = family("binomial")
        >>> round(b.loglik(np.array([1.0, 0.0]), np.array([0.5, 0.5]), np.ones(2)), 6)
        -1.386294
        >>> y, mu, w = np.array([1.0, 0.0]), np.array([0.2, 0.5]), np.array([0.4, 1.6])
        >>> round(b.loglik(y, mu, w), 6), round(b.loglik(y, mu, w, rounded=True), 6)  # 0.4 log 0.2 + 1.6 log 0.5
        (-1.752811, -1.386294)
        """
        if self.name == "binomial":
            m = wt
            pos = m > 0
            if rounded:
                k = np.round(m * y)
                return float(np.sum(stats.binom.logpmf(k[pos], np.round(m[pos]), mu[pos])))
            m, k, p = m[pos], (m * y)[pos], mu[pos]
            return float(np.sum(special.gammaln(m + 1.0) - special.gammaln(k + 1.0) - special.gammaln(m - k + 1.0)
                                + special.xlogy(k, p) + special.xlog1py(m - k, -p)))
        if self.name == "poisson":
            return float(np.sum(wt * stats.poisson.logpmf(y, mu)))
        raise NotImplementedError("the gaussian log-likelihood needs a scale; use the linear mixed model")

    # ------------------------------------------------------------ checks
    def check_response(self, y: np.ndarray, weights: np.ndarray | None = None, name: str = "response") -> None:
        """Raise a one-line ValueError (or warn) when ``y`` cannot come from this family.

        Examples
        --------
        >>> from multilevel.families import family
        >>> family("poisson").check_response(np.array([0.0, 3.0]))
        >>> family("binomial").check_response(np.array([0.0, 2.0]))
        Traceback (most recent call last):
        ...
        ValueError: the response 'response' has values outside [0, 1] (max 2); a binomial response is 0/1, a proportion with weights = trials, or cbind(successes, failures)
        """
        y = np.asarray(y, dtype=float)
        if self.name == "binomial":
            if np.any(y < 0) or np.any(y > 1):
                bad = y[(y < 0) | (y > 1)]
                raise ValueError(
                    f"the response {name!r} has values outside [0, 1] ({'min' if bad.min() < 0 else 'max'} "
                    f"{bad.min() if bad.min() < 0 else bad.max():g}); a binomial response is 0/1, a "
                    "proportion with weights = trials, or cbind(successes, failures)"
                )
            k = y if weights is None else y * np.asarray(weights, dtype=float)
            bad = np.abs(k - np.round(k)) > 1e-7
            if np.any(bad):
                example = float(y[bad][0])
                if weights is None:
                    # as glmer: a proportion without its number of trials is
                    # fitted as if each were one trial, which is rarely meant
                    warnings.warn(
                        f"non-integer number of successes in {name!r} (e.g. {example:g}, with no weights): a "
                        "proportion needs its number of trials as weights=, or write the response as "
                        "cbind(successes, failures)", stacklevel=3)
                else:
                    warnings.warn(f"non-integer number of successes in {name!r} (response x weights, e.g. "
                                  f"{example:g} x {float(np.asarray(weights)[bad][0]):g})", stacklevel=3)
        elif self.name == "poisson":
            check_count(y, name, "Poisson")

    def __repr__(self) -> str:
        return f"Family({self.name!r}, link={self.link.name!r})"


def check_count(y: np.ndarray, name: str, what: str) -> None:
    """Raise a one-line ValueError unless ``y`` holds counts (non-negative integers).

    Examples
    --------
    >>> check_count(np.array([0.0, 1.5]), "y", "Poisson")
    Traceback (most recent call last):
    ...
    ValueError: the response 'y' has non-integer values (e.g. 1.5); a Poisson response is a count
    """
    y = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(y)):
        raise ValueError(f"the response {name!r} has infinite values; a {what} response is a count")
    if np.any(y < 0):
        raise ValueError(f"the response {name!r} has negative values (min {y.min():g}); a {what} response "
                         "is a count")
    frac = np.abs(y - np.round(y)) > 1e-7
    if np.any(frac):
        raise ValueError(f"the response {name!r} has non-integer values (e.g. {y[frac][0]:g}); a {what} "
                         "response is a count")
