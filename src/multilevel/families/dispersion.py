"""Families with a dispersion parameter estimated with the model (glmmTMB's).

A :class:`DispersionFamily` is a family at one value of its dispersion
parameter (``with_dispersion`` gives another): at fixed dispersion it is a
likelihood in the mean alone, so penalised IRLS finds the conditional modes as
for binomial or Poisson responses, and the GLMM route optimises the dispersion
(on the log scale) with theta and beta without knowing which family it holds.

Each subclass gives the log-density and its first two derivatives in the mean;
the IRLS step here is Newton's (the observed information of the linear
predictor, Fisher's where an observation's observed information is not
positive), so that at the conditional modes the weights are the exact
curvature of the Laplace approximation, as glmmTMB's (TMB differentiates the
log-likelihood twice). The criterion is -2 log-likelihood with its constants,
which depend on the dispersion.

Examples
--------
>>> from multilevel.families import family
>>> nb = family("negative_binomial").with_dispersion(2.0)
>>> nb.variance(np.array([4.0])).tolist()   # mu + mu^2 / theta
[12.0]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from .exponential import Family

__all__ = ["DispersionFamily"]

_TINY = np.finfo(float).tiny


@dataclass(frozen=True)
class DispersionFamily(Family):
    """A response distribution with a link and one dispersion parameter.

    Attributes
    ----------
    name : str
    link : Link
    value : float
        The dispersion parameter (named by ``dispersion_name``).
    """

    value: float = 1.0

    observed_curvature: ClassVar[bool] = True

    @property
    def canonical(self) -> bool:
        return False

    @property
    def n_extra(self) -> int:
        return 1

    def extra_internal(self) -> np.ndarray:
        return np.log([self.value])

    def with_extra(self, x) -> "DispersionFamily":
        return self.with_dispersion(float(np.exp(np.clip(np.asarray(x, dtype=float)[0], -30.0, 30.0))))

    #: whether :meth:`start_extra` uses the means (else it is called with ``mu=None``)
    start_uses_means: ClassVar[bool] = True

    def start_extra(self, y: np.ndarray, mu: np.ndarray) -> np.ndarray:
        return np.log([self.start(y, mu)])

    @property
    def dispersion(self) -> float:
        """The dispersion parameter's value."""
        return float(self.value)

    def with_dispersion(self, value: float) -> "DispersionFamily":
        """The same family at another value of its dispersion parameter.

        Examples
        --------
        >>> from multilevel.families import family
        >>> family("gamma").with_dispersion(4.0).dispersion
        4.0
        """
        return replace(self, value=float(value))

    # ----------------------------------------------------- per subclass
    def logpdf(self, y: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """Log-density (or mass) of each ``y`` at mean ``mu``."""
        raise NotImplementedError

    def derivatives(self, y: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(d l / d mu, d^2 l / d mu^2)`` of the log-density at ``mu``."""
        raise NotImplementedError

    def information(self, mu: np.ndarray) -> np.ndarray:
        """Fisher information of ``mu`` per observation (or a positive approximation to it)."""
        raise NotImplementedError

    def log_derivatives(self, y: np.ndarray, mu: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(l, d l / d mu, d^2 l / d mu^2)``: :meth:`logpdf` and :meth:`derivatives` (a subclass
        whose two share their work gives them in one pass).

        Examples
        --------
        >>> from multilevel.families import family
        >>> l, s, h = family("gamma", "log").with_dispersion(2.0).log_derivatives(np.array([2.0]), np.array([1.0]))
        >>> s.tolist(), h.tolist()          # shape (y - mu) / mu^2, shape (mu - 2 y) / mu^3
        ([2.0], [-6.0])
        """
        score, hess = self.derivatives(y, mu)
        return self.logpdf(y, mu), score, hess

    def row_extras(self):
        """None, or ``(start, M)`` where the family's own parameters from ``start`` on act on each row
        through a linear predictor of their own, ``M @ those`` (zero inflation's ``X_zi gamma``);
        :meth:`shifted` moves every row's by the same amount."""
        return None

    def saturated(self, y: np.ndarray) -> np.ndarray:
        """Log-density at ``mu = y``: the saturated model of the deviance residuals."""
        return self.logpdf(y, y)

    def start(self, y: np.ndarray, mu: np.ndarray) -> float:
        """A moment estimate of the dispersion parameter at the means ``mu`` (a start)."""
        raise NotImplementedError

    # ----------------------------------------------------- shared
    def loglik(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> float:
        """Log-likelihood, prior weights multiplying each observation's term (as glmmTMB's); a row of
        weight 0 adds nothing, whatever its mean."""
        return float(np.sum(self.unit_deviance(y, mu, wt))) / -2.0

    def unit_deviance(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """``-2 wt log f(y | mu)``: with the constants that depend on the dispersion (0 for a row of
        weight 0, whose mean may be outside the family's range).

        Examples
        --------
        >>> from multilevel.families import family
        >>> g = family("gamma", "identity").with_dispersion(2.0)
        >>> g.unit_deviance(np.array([1.0, 1.0]), np.array([1.0, -1.0]), np.array([1.0, 0.0])).round(4).tolist()
        [1.2274, 0.0]
        """
        wt = np.asarray(wt, dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = -2.0 * wt * self.logpdf(y, mu)
        zero = np.broadcast_to(wt == 0, out.shape)
        return np.where(zero, 0.0, out) if zero.any() else out

    def deviance_function(self, y: np.ndarray, wt: np.ndarray):
        """``mu -> -2 log-likelihood`` (the criterion of PIRLS and the Laplace approximation), over
        the rows of positive weight."""
        y = np.asarray(y, dtype=float)
        wt = np.asarray(wt, dtype=float)
        pos = wt > 0
        if bool(np.all(pos)):
            return lambda mu: -2.0 * float(wt @ self.logpdf(y, mu))
        wp = wt[pos]

        def deviance(mu):
            # every row's density, then the data's (a family's parameters may be per row, as zero
            # inflation's); a row of weight 0 may be outside the family's range
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                return -2.0 * float(wp @ self.logpdf(y, mu)[pos])

        return deviance

    def deviance_residuals(self, y: np.ndarray, mu: np.ndarray, wt: np.ndarray) -> np.ndarray:
        """Squared deviance residuals ``2 wt (l(y; y) - l(y; mu))`` at this dispersion
        (a ValueError for the families whose likelihood is not largest at ``mu = y``)."""
        if not self.has_deviance_residuals:
            raise ValueError(f"deviance residuals are not defined for the {self.name} family (its likelihood "
                             "is not largest at mu = y); use type='pearson' or 'response'")
        return 2.0 * wt * (self.saturated(y) - self.logpdf(y, mu))

    def _link_derivatives(self, eta, mu):
        if self.link.name == "log":  # both derivatives are mu itself
            return mu, mu
        return self.link.mu_eta(eta), self.link.mu_eta2(eta)

    def curvature(self, y: np.ndarray, eta: np.ndarray, mu: np.ndarray | None = None) -> np.ndarray:
        """The observed information of each linear predictor, ``-d^2 l / d eta^2``
        (negative for some observations of some families), as glmmTMB's Laplace
        approximation uses it.

        Examples
        --------
        >>> from multilevel.families import family
        >>> family("gamma", "log").with_dispersion(2.0).curvature(np.array([3.0]), np.zeros(1)).tolist()
        [6.0]
        """
        if mu is None:
            mu = self.link.inverse(eta)
        d, d2 = self._link_derivatives(eta, mu)
        score, hess = self.derivatives(y, mu)
        return -(hess * d * d + score * d2)

    def working(self, y: np.ndarray, eta: np.ndarray, mu: np.ndarray | None = None, signed: bool = False
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A Newton step's ``(mu, w, r)``: ``w`` the observed information of ``eta``
        (Fisher's where that is not positive, unless ``signed``: a solver that
        takes weights of either sign gets the exact Newton step, whose
        convergence is quadratic), ``r = (d l / d eta) / w``.

        Examples
        --------
        >>> from multilevel.families import family
        >>> g = family("gamma", "log").with_dispersion(2.0)
        >>> mu, w, r = g.working(np.array([2.0]), np.log(np.array([1.0])))
        >>> w.tolist(), r.tolist()          # shape y / mu, (y - mu) / y
        ([4.0], [0.5])
        """
        if mu is None:
            mu = self.link.inverse(eta)
        d, d2 = self._link_derivatives(eta, mu)
        score, hess = self.derivatives(y, mu)
        w = -(hess * d * d + score * d2)
        bad = ~(np.abs(w) > _TINY) if signed else ~(w > 0)
        if bad.any():  # Fisher's information where the observed one is not positive
            # (the whole vector: a family's parameters may be per observation)
            w[bad] = np.maximum((self.information(mu) * d * d)[bad], _TINY)
        return mu, w, score * d / w

    def __repr__(self) -> str:
        return f"Family({self.name!r}, link={self.link.name!r}, {self.dispersion_name}={self.value:.6g})"
