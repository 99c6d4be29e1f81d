"""Link functions ``eta = g(mu)``: each with its inverse and first two derivatives.

Examples
--------
>>> float(link("logit").fun(np.array([0.5]))[0])
0.0
>>> float(link("inverse").inverse(np.array([0.25]))[0])
4.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import special, stats

from ..arguments import short_repr

__all__ = ["Link", "LINKS", "link"]

_EPS = np.finfo(float).eps


@dataclass(frozen=True)
class Link:
    """A link function ``eta = g(mu)`` with its inverse and derivatives.

    Attributes
    ----------
    name : str
    fun : callable
        ``g(mu)``.
    inverse : callable
        ``g^-1(eta)``, kept strictly inside the mean's range.
    mu_eta : callable
        ``d mu / d eta`` at ``eta``.
    mu_eta2 : callable
        ``d^2 mu / d eta^2`` at ``eta`` (the observed information of a
        non-canonical link needs it).
    """

    name: str
    fun: Callable[[np.ndarray], np.ndarray]
    inverse: Callable[[np.ndarray], np.ndarray]
    mu_eta: Callable[[np.ndarray], np.ndarray]
    mu_eta2: Callable[[np.ndarray], np.ndarray] = None

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


def _exp(eta):
    return np.maximum(np.exp(np.minimum(eta, 700.0)), _EPS)


def _logit_d2(eta):
    p = special.expit(eta)
    return p * (1.0 - p) * (1.0 - 2.0 * p)


def _cloglog_d(eta):
    e = np.minimum(eta, 700.0)
    return np.maximum(np.exp(e - np.exp(e)), _EPS)


def _cloglog_d2(eta):
    e = np.minimum(eta, 700.0)
    return np.exp(e - np.exp(e)) * (1.0 - np.exp(e))


LINKS: dict[str, Link] = {
    "logit": Link("logit", special.logit, _logit_inv,
                  lambda eta: np.maximum(special.expit(eta) * special.expit(-eta), _EPS), _logit_d2),
    "probit": Link("probit", special.ndtri, _probit_inv,
                   lambda eta: np.maximum(stats.norm.pdf(eta), _EPS), lambda eta: -eta * stats.norm.pdf(eta)),
    "cloglog": Link("cloglog", lambda mu: np.log(-np.log1p(-mu)), _cloglog_inv, _cloglog_d, _cloglog_d2),
    "log": Link("log", np.log, _exp, _exp, _exp),
    "identity": Link("identity", lambda mu: mu, lambda eta: eta, lambda eta: np.ones_like(eta),
                     lambda eta: np.zeros_like(eta)),
    # (a linear predictor at or across zero gives an infinite or negative mean,
    # or for 1/mu^2 none: the family's criterion is then inf, and step halving
    # backs away from it)
    "inverse": Link("inverse", lambda mu: 1.0 / mu, lambda eta: 1.0 / eta, lambda eta: -1.0 / eta ** 2,
                    lambda eta: 2.0 / eta ** 3),
    "1/mu^2": Link("1/mu^2", lambda mu: 1.0 / mu ** 2, lambda eta: 1.0 / np.sqrt(eta),
                   lambda eta: -0.5 * eta ** -1.5, lambda eta: 0.75 * eta ** -2.5),
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
    except (KeyError, TypeError):
        raise ValueError(f"unknown link {short_repr(name)}; choose one of: {', '.join(LINKS)}") from None
