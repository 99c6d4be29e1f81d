"""Cumulative link models for ordered categories (ordinal::clm / clmm).

``P(Y <= j) = F(theta_j - eta)`` for categories ``j = 1, ..., J`` with
thresholds ``theta_1 < ... < theta_{J-1}`` and ``F`` the logistic, normal or
Gumbel (cloglog) distribution function. The GLMM route treats this as a
family of the linear predictor itself (an identity "link"): at fixed
thresholds the log-likelihood of each response is a function of its ``eta``,
concave for these ``F``, so penalised IRLS and the Laplace approximation (and
adaptive quadrature) apply as they do to counts.

The route keeps an intercept in ``eta``: the family's own thresholds start at
0, ``c = (0, g_1, g_1 + g_2, ...)`` with positive gaps ``g`` (optimised on the
log scale), and the thresholds reported are ``theta_j = c_j - intercept``.

Examples
--------
>>> from multilevel.families import family
>>> fam = family("cumulative", "logit").with_categories(3).with_extra(np.log([2.0]))
>>> fam.cutpoints.tolist()
[0.0, 2.0]
>>> p = fam.probabilities(np.array([1.0]))
>>> np.round(p, 4).tolist()          # F(0 - 1), F(2 - 1) - F(0 - 1), 1 - F(2 - 1)
[[0.2689, 0.4621, 0.2689]]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import ClassVar

import numpy as np
from scipy import special, stats

from .kernels import KIND as _KIND, parts_loop as _parts_loop  # (None without numba)
from .dispersion import DispersionFamily

__all__ = ["Cumulative", "CDFS"]


def _logistic(x):
    F, S = special.expit(x), special.expit(-x)
    f = F * S  # (not F (1 - F), which is 0 where F rounds to 1)
    return F, S, f, f * (1.0 - 2.0 * F)


def _normal(x):
    f = stats.norm.pdf(x)
    finite = np.isfinite(x)
    return special.ndtr(x), special.ndtr(-x), f, np.where(finite, -np.where(finite, x, 0.0) * f, 0.0)


def _gumbel_min(x):  # the cloglog link: F(x) = 1 - exp(-exp(x))
    e = np.exp(np.minimum(x, 700.0))
    S = np.exp(-e)
    f = e * S
    return -np.expm1(-e), S, f, f * (1.0 - e)


#: per link: x -> (F(x), 1 - F(x), density f(x), f'(x)), each 0 or 1 at +-inf
CDFS = {"logit": _logistic, "probit": _normal, "cloglog": _gumbel_min}

_QUANTILES = {"logit": special.logit, "probit": special.ndtri, "cloglog": lambda p: np.log(-np.log1p(-p))}


@dataclass(frozen=True, repr=False)
class Cumulative(DispersionFamily):
    """A cumulative link model at given thresholds.

    Attributes
    ----------
    cdf : {"logit", "probit", "cloglog"}
    gaps : tuple of float
        The ``J - 2`` positive differences between consecutive thresholds.
    """

    cdf: str = "logit"
    gaps: tuple = field(default=())

    dispersion_name: ClassVar[None] = None
    start_uses_means: ClassVar[bool] = False  # (the marginal proportions)
    discrete: ClassVar[bool] = True
    has_deviance_residuals: ClassVar[bool] = False

    # ------------------------------------------------------------ structure
    @property
    def ncat(self) -> int:
        """Number of categories ``J``."""
        return len(self.gaps) + 2

    @cached_property
    def cutpoints(self) -> np.ndarray:
        """The family's thresholds ``(0, g_1, g_1 + g_2, ...)`` (before the intercept)."""
        return np.concatenate([[0.0], np.cumsum(self.gaps)])

    @cached_property
    def _padded(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.cutpoints
        return np.append(c, np.inf), np.concatenate([[-np.inf], c])

    def with_categories(self, ncat: int) -> "Cumulative":
        """The family for ``ncat`` categories (gaps of 1 to start)."""
        return replace(self, gaps=(1.0,) * (int(ncat) - 2))

    @property
    def n_extra(self) -> int:
        return len(self.gaps)

    def extra_internal(self) -> np.ndarray:
        return np.log(np.asarray(self.gaps, dtype=float))

    def with_extra(self, x) -> "Cumulative":
        return replace(self, gaps=tuple(float(g) for g in np.exp(np.clip(np.asarray(x, dtype=float), -30, 30))))

    def start_location(self, y, weights=None) -> float:
        """The linear predictor at which this family's thresholds (first at 0) give the marginal
        cumulative proportions of ``y`` (with :meth:`start_extra`'s gaps): minus the first one's
        quantile.

        Examples
        --------
        >>> from multilevel.families import family
        >>> fam = family("cumulative", "logit").with_categories(3)
        >>> round(fam.start_location(np.array([0, 1, 1, 2])), 4)      # -logit(1.5 / 5.5)
        0.9808
        """
        J = self.ncat
        w = None if weights is None else np.asarray(weights, dtype=float)
        counts = np.bincount(np.asarray(y, dtype=int), weights=w, minlength=J)[:J].astype(float) + 0.5
        return -float(_QUANTILES[self.cdf](counts[0] / counts.sum()))

    def start_extra(self, y, mu) -> np.ndarray:
        """Log-gaps of the thresholds of the marginal cumulative proportions."""
        J = self.ncat
        counts = np.bincount(np.asarray(y, dtype=int), minlength=J)[:J].astype(float) + 0.5
        c = _QUANTILES[self.cdf](np.cumsum(counts)[:-1] / counts.sum())
        return np.log(np.maximum(np.diff(c), 1e-2))

    # ---------------------------------------------------------- likelihood
    def _bounds(self, y):
        up, low = self._padded
        y = np.asarray(y).astype(np.intp, copy=False)
        return up[y], low[y]

    def _parts(self, y, eta):
        """``(log P, (f(a) - f(b)) / P, (f'(a) - f'(b)) / P)`` per response, ``P = F(a) - F(b)`` its
        probability, ``a`` and ``b`` its category's thresholds less ``eta``: in logs where the
        probabilities underflow (cloglog's upper tail)."""
        if _parts_loop is not None:  # (one compiled pass: about 20 arrays fewer)
            up, low = self._padded
            yb, eb = np.broadcast_arrays(np.asarray(y), np.asarray(eta, dtype=float))
            eta = np.ascontiguousarray(eb)
            yi = np.ascontiguousarray(yb.astype(np.intp, copy=False))
            logP, r1, r2 = np.empty(eta.shape), np.empty(eta.shape), np.empty(eta.shape)
            _parts_loop(_KIND[self.cdf], up, low, yi.ravel(), eta.ravel(), logP.ravel(), r1.ravel(), r2.ravel())
            return logP, r1, r2
        upper, lower = self._bounds(y)
        a, b = upper - eta, lower - eta
        Fa, Sa, fa, dfa = CDFS[self.cdf](a)
        Fb, Sb, fb, dfb = CDFS[self.cdf](b)
        # the difference of the smaller tail: F(a) - F(b), or S(b) - S(a) in the upper tail
        P = np.maximum(np.where(b > 0, Sb - Sa, Fa - Fb), 1e-300)
        logP, r1, r2 = np.log(P), (fa - fb) / P, (dfa - dfb) / P
        if self.cdf == "cloglog" and np.any(b > 0):  # its upper tail in logs (as the compiled loop)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                up = np.broadcast_to(b > 0, np.shape(logP))
                eb, ea = np.exp(np.where(up, b, 0.0)), np.exp(np.where(up, a, 0.0))
                top = np.isinf(a)
                q = np.where(top, 1.0, -np.expm1(eb - ea))
                ra = np.where(top, 0.0, ea * np.exp(eb - ea) / q)
                rb = eb / q
                logP = np.where(up, -eb + np.log(q), logP)
                r1 = np.where(up, ra - rb, r1)
                r2 = np.where(up, np.where(top, 0.0, ra * (1.0 - ea)) - rb * (1.0 - eb), r2)
        return logP, r1, r2

    def logpdf(self, y, mu):
        return self._parts(y, mu)[0]

    def derivatives(self, y, mu):
        return self.log_derivatives(y, mu)[1:]

    def log_derivatives(self, y, mu):
        logP, r1, r2 = self._parts(y, mu)
        score = -r1
        return logP, score, r2 - score * score

    def probabilities(self, eta) -> np.ndarray:
        """Category probabilities, an array ``(n, J)``."""
        eta = np.asarray(eta, dtype=float)
        F = CDFS[self.cdf](self.cutpoints[None, :] - eta[:, None])[0]
        cum = np.column_stack([np.zeros(eta.size), F, np.ones(eta.size)])
        return np.maximum(np.diff(cum, axis=1), 0.0)

    def information(self, mu):
        eta = np.asarray(mu, dtype=float)
        c = self.cutpoints[None, :] - eta[:, None]
        f = CDFS[self.cdf](c)[2]
        dens = np.column_stack([np.zeros(eta.size), f, np.zeros(eta.size)])
        return np.sum(np.diff(dens, axis=1) ** 2 / np.maximum(self.probabilities(eta), 1e-300), axis=1)

    def variance(self, mu):
        """Variance of the category number (1, ..., J) at ``eta``."""
        p = self.probabilities(mu)
        k = np.arange(1, self.ncat + 1)
        m = p @ k
        return p @ (k * k) - m * m

    def mustart(self, y, prior_weights):
        return np.zeros(np.asarray(y).shape)

    def simulate(self, mu, prior_weights, rng):
        """Category codes ``0 .. J-1`` drawn at the linear predictors ``mu``."""
        eta = np.asarray(mu, dtype=float)
        F = CDFS[self.cdf](self.cutpoints[None, :] - eta[:, None])[0]
        return np.sum(F < rng.uniform(size=eta.size)[:, None], axis=1).astype(float)

    def check_response(self, y, weights=None, name="response"):
        y = np.asarray(y, dtype=float)
        if np.any((y < 0) | (y > self.ncat - 1) | (y != np.round(y))):
            raise ValueError(f"the response {name!r} must hold category codes 0 to {self.ncat - 1}")

    def __repr__(self) -> str:
        return f"Family('cumulative', link={self.cdf!r}, categories={self.ncat})"
