"""Response distributions and link functions, shared by the GLMM and Bayesian routes.

Each :class:`Family` carries its link and the pieces a fitting route needs, as
R's ``family`` objects do: the variance function, deviance residuals, the
log-likelihood, and a check of the response that names what is wrong.

Examples
--------
>>> fam = family("binomial", "probit")
>>> fam.name, fam.link.name
('binomial', 'probit')
>>> float(fam.link.inverse(np.array([0.0]))[0])
0.5
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special, stats

from .arguments import short_repr

__all__ = ["Link", "Family", "family", "link", "FAMILIES", "LINKS"]

_EPS = np.finfo(float).eps


@dataclass(frozen=True)
class Link:
    """A link function ``eta = g(mu)`` with its inverse and derivative.

    Attributes
    ----------
    name : str
    fun : callable
        ``g(mu)``.
    inverse : callable
        ``g^-1(eta)``, kept strictly inside the mean's range.
    mu_eta : callable
        ``d mu / d eta`` at ``eta``.
    """

    name: str
    fun: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    mu_eta: Callable[[np.ndarray], np.ndarray]

    def __repr__(self) -> str:
        return f"Link({self.name!r})"

    def __reduce__(self):
        # the functions are module constants or lambdas: pickle the link by its name
        return (link, (self.name,))


def _clip01(mu: np.ndarray) -> np.ndarray:
    if isinstance(mu, np.ndarray) and mu.ndim:  # a fresh array: clip in place
        return np.clip(mu, _EPS, 1.0 - _EPS, out=mu)
    return np.clip(mu, _EPS, 1.0 - _EPS)


def _logit_inv(eta):
    return _clip01(special.expit(eta))


def _probit_inv(eta):
    return _clip01(special.ndtr(eta))


def _cloglog_inv(eta):
    return _clip01(-np.expm1(-np.exp(np.minimum(eta, 700.0))))


def _log_inv(eta):
    return np.maximum(np.exp(np.minimum(eta, 700.0)), _EPS)


LINKS: dict[str, Link] = {
    "logit": Link("logit", special.logit, _logit_inv,
                  lambda eta: np.maximum(special.expit(eta) * special.expit(-eta), _EPS)),
    "probit": Link("probit", special.ndtri, _probit_inv,
                   lambda eta: np.maximum(stats.norm.pdf(eta), _EPS)),
    "cloglog": Link("cloglog", lambda mu: np.log(-np.log1p(-mu)), _cloglog_inv,
                    lambda eta: np.maximum(np.exp(np.minimum(eta, 700.0) - np.exp(np.minimum(eta, 700.0))),
                                           _EPS)),
    "log": Link("log", np.log, _log_inv, lambda eta: np.maximum(np.exp(np.minimum(eta, 700.0)), _EPS)),
    "identity": Link("identity", lambda mu: mu, lambda eta: eta, lambda eta: np.ones_like(eta)),
}


def link(name: str) -> Link:
    """The link function called ``name``.

    Examples
    --------
    >>> float(link("logit").fun(np.array([0.5]))[0])
    0.0
    """
    try:
        return LINKS[name]
    except KeyError:
        raise ValueError(f"unknown link {short_repr(name)}; choose one of: {', '.join(LINKS)}") from None


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

    # ------------------------------------------------------------ moments
    def variance(self, mu: np.ndarray) -> np.ndarray:
        """Variance function V(mu) (per unit of prior weight).

        Examples
        --------
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
                one = y == 1
                return lambda mu: const - 2.0 * float(wt @ np.log(np.where(one, mu, 1.0 - mu)))
            a, b = wt * y, wt * (1.0 - y)
            return lambda mu: const - 2.0 * float(a @ np.log(mu) + b @ np.log1p(-mu))
        if self.name == "poisson":
            const = 2.0 * float(np.sum(wt * (special.xlogy(y, y) - y)))
            a = wt * y
            return lambda mu: const - 2.0 * float(a @ np.log(mu)) + 2.0 * float(wt @ mu)
        return lambda mu: float(wt @ (y - mu) ** 2)

    def working_weights(self, eta: np.ndarray, mu: np.ndarray | None = None
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mu, dmu/deta, (dmu/deta)^2 / V(mu))`` at ``eta``: what each IRLS step needs.

        Canonical links (logit, Poisson log) take the shortcut ``d^2 / V = d``;
        pass ``mu`` when it is already known.

        Examples
        --------
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

    def loglik(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> float:
        """Log-likelihood of the conditional distribution (binomial: ``wt`` trials).

        Examples
        --------
        >>> round(family("binomial").loglik(np.array([1.0, 0.0]), np.array([0.5, 0.5]), np.ones(2)), 6)
        -1.386294
        """
        if self.name == "binomial":
            m = wt
            k = np.round(m * y)
            pos = m > 0
            return float(np.sum(stats.binom.logpmf(k[pos], np.round(m[pos]), mu[pos])))
        if self.name == "poisson":
            return float(np.sum(wt * stats.poisson.logpmf(y, mu)))
        raise NotImplementedError("the gaussian log-likelihood needs a scale; use the linear mixed model")

    # ------------------------------------------------------------ checks
    def check_response(self, y: np.ndarray, weights: np.ndarray | None = None, name: str = "response") -> None:
        """Raise a one-line ValueError (or warn) when ``y`` cannot come from this family.

        Examples
        --------
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
            if np.any(y < 0):
                raise ValueError(
                    f"the response {name!r} has negative values (min {y.min():g}); a Poisson response "
                    "is a count"
                )
            if np.any(np.abs(y - np.round(y)) > 1e-7):
                raise ValueError(
                    f"the response {name!r} has non-integer values (e.g. {y[np.abs(y - np.round(y)) > 1e-7][0]:g}); "
                    "a Poisson response is a count"
                )

    def __repr__(self) -> str:
        return f"Family({self.name!r}, link={self.link.name!r})"


#: allowed links per family, the first being the default (as R's)
FAMILIES: dict[str, tuple[str, ...]] = {
    "binomial": ("logit", "probit", "cloglog", "log"),
    "poisson": ("log",),
    "gaussian": ("identity", "log"),
}


def family(name: str | Family, link_name: str | None = None) -> Family:
    """A :class:`Family` by name, with its default or a chosen link.

    Parameters
    ----------
    name : {"binomial", "poisson", "gaussian"} or Family
    link_name : str, optional
        Defaults to the canonical link (logit, log, identity).

    Examples
    --------
    >>> family("poisson")
    Family('poisson', link='log')
    >>> family("binomial", "cauchit")
    Traceback (most recent call last):
    ...
    ValueError: link 'cauchit' is not available for the binomial family; choose one of: logit, probit, cloglog, log
    """
    if isinstance(name, Family):
        return name if link_name is None else family(name.name, link_name)
    key = str(name).lower()
    if key not in FAMILIES:
        raise ValueError(f"unknown family {short_repr(name)}; choose one of: {', '.join(FAMILIES)}")
    allowed = FAMILIES[key]
    chosen = allowed[0] if link_name is None else str(link_name).lower()
    if chosen not in allowed:
        raise ValueError(
            f"link {short_repr(link_name)} is not available for the {key} family; choose one of: {', '.join(allowed)}"
        )
    return Family(key, link(chosen))
