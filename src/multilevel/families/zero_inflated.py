"""Zero-inflated count families (glmmTMB's ``ziformula``).

``P(y = 0) = pi + (1 - pi) f(0 | mu)``, ``P(y = k) = (1 - pi) f(k | mu)`` for
``k > 0``, with ``logit(pi) = X_zi gamma`` (plus an offset where the model has
one, glmmTMB's ``offset()`` in ``ziformula``): a Poisson or negative binomial
count ``f`` and a fixed-effects model for the structural zeros. The
coefficients ``gamma`` are the family's own parameters (after the count
family's dispersion), optimised with theta and beta; ``X_zi`` is kept
standardised (orthogonal columns of root mean square 1), ``gamma_user =
T_zi gamma``.

Examples
--------
>>> from multilevel.families import family
>>> zi = ZeroInflated.wrap(family("poisson"), np.ones((3, 1)), np.eye(1), ("(Intercept)",))
>>> zi = zi.with_extra(np.array([0.0]))          # pi = 0.5
>>> np.round(np.exp(zi.logpdf(np.array([0.0, 1.0, 2.0]), np.full(3, 1.0))), 4).tolist()
[0.6839, 0.1839, 0.092]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import ClassVar

import numpy as np
from scipy import special

from .dispersion import DispersionFamily

__all__ = ["ZeroInflated"]


@dataclass(frozen=True, repr=False)
class ZeroInflated(DispersionFamily):
    """A count family with zero inflation.

    Attributes
    ----------
    base : Family
        The count family (Poisson, NB2 or NB1) at its current dispersion.
    Xzi : ndarray (n, q)
        The zero-inflation design, standardised.
    Tzi : ndarray (q, q)
        ``gamma_user = Tzi @ gamma``.
    zi_names : tuple of str
    gamma : tuple of float
        The internal zero-inflation coefficients.
    zi_offset : ndarray (n,) or None
        The zero-inflation model's offset (on the logit scale) per row.
    """

    base: object = None
    Xzi: np.ndarray = field(default=None, compare=False)
    Tzi: np.ndarray = field(default=None, compare=False)
    zi_names: tuple = ()
    gamma: tuple = ()
    zi_formula: str = ""
    zi_design: object = field(default=None, compare=False, repr=False)
    zi_offset: np.ndarray = field(default=None, compare=False, repr=False)

    discrete: ClassVar[bool] = True
    has_deviance_residuals: ClassVar[bool] = False
    zero_inflated: ClassVar[bool] = True

    @classmethod
    def wrap(cls, base, Xzi, Tzi, names, formula: str = "", design=None, offset=None) -> "ZeroInflated":
        """The zero-inflated version of ``base`` with the (standardised) design ``Xzi``
        (``formula``: the ``zi`` argument; ``design``: its design on the user's scale,
        which builds the model's rows for new data; ``offset``: its offset per row)."""
        return cls(base.name, base.link, base=base, Xzi=np.asarray(Xzi, dtype=float),
                   Tzi=np.asarray(Tzi, dtype=float), zi_names=tuple(names), gamma=(0.0,) * Xzi.shape[1],
                   zi_formula=formula, zi_design=design,
                   zi_offset=None if offset is None else np.asarray(offset, dtype=float))

    def subset(self, keep) -> "ZeroInflated":
        from ..design.subset import subset_design

        keep = np.asarray(keep)
        sub = None if self.zi_design is None else subset_design(self.zi_design, keep)
        return replace(self, Xzi=self.Xzi[keep], zi_design=self.zi_design if sub is None else sub,
                       zi_offset=None if self.zi_offset is None else self.zi_offset[keep])

    def at_rows(self, newdata) -> "ZeroInflated":
        """The family at new rows: their zero-inflation design (the fit's encodings),
        with the same coefficients."""
        from ..design.data import as_dataframe

        X, offset = self.zi_rows(as_dataframe(newdata))
        Xzi = X @ self.Tzi  # (as the fitted rows': Xzi gamma = X Tzi gamma = X gamma_user)
        out = replace(self, Xzi=Xzi, zi_offset=None if self.zi_offset is None else offset)
        out.__dict__.pop("pi", None)  # (cached properties of the fitted rows)
        out.__dict__.pop("_log_pi", None)
        return out

    def zi_rows(self, newdata=None) -> tuple[np.ndarray, np.ndarray]:
        """The zero-inflation model's columns on the user's scale and its offset (zeros without
        one), of the fitted rows or of ``newdata``: ``logit(pi) = X @ zi_coefficients + offset``.

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("count ~ mined + (1 | site)", ml.datasets.load("salamanders"), family="poisson",
        ...              zi="~ mined + offset(DOP)")
        >>> X, offset = m.family.zi_rows()
        >>> X.shape, offset[:3].round(3).tolist()
        ((644, 2), [-0.596, -0.596, -1.191])
        """
        from ..design.data import as_dataframe
        from ..design.design import formula_offset
        from ..predict import _fixed_matrix

        if newdata is None:
            X = np.asarray(self.zi_design.X, dtype=float)
            return X, (np.zeros(X.shape[0]) if self.zi_offset is None else self.zi_offset)
        new = as_dataframe(newdata)
        X = np.asarray(_fixed_matrix(self.zi_design, new), dtype=float)
        offset = formula_offset(self.zi_design.formula, new) if self.zi_offset is not None else None
        if offset is None:
            return X, np.zeros(X.shape[0])
        if not np.all(np.isfinite(offset)):
            raise ValueError(f"newdata has {int(np.sum(~np.isfinite(offset)))} row(s) where the zero-inflation "
                             "model's offset is missing or not finite")
        return X, np.asarray(offset, dtype=float)

    @property
    def zi_coefficients(self) -> np.ndarray:
        """The zero-inflation coefficients on the user's scale (``Tzi @ gamma``)."""
        return self.Tzi @ np.asarray(self.gamma, dtype=float)

    # ------------------------------------------------------- parameters
    @property
    def dispersion_name(self):
        return self.base.dispersion_name

    @property
    def dispersion(self):
        return self.base.dispersion

    @property
    def n_extra(self) -> int:
        return self.base.n_extra + len(self.gamma)

    def extra_internal(self) -> np.ndarray:
        return np.concatenate([self.base.extra_internal(), np.asarray(self.gamma, dtype=float)])

    def with_extra(self, x) -> "ZeroInflated":
        x = np.asarray(x, dtype=float)
        nb = self.base.n_extra
        return replace(self, base=self.base.with_extra(x[:nb]) if nb else self.base,
                       gamma=tuple(float(v) for v in x[nb:]))

    def start_extra(self, y, mu) -> np.ndarray:
        base = self.base.start_extra(y, mu)
        start = self.base.with_extra(base) if base.size else self.base
        # the excess of zeros over the count family's at these means, on the first column
        excess = float(np.mean(y == 0) - np.mean(np.exp(_logpdf(start, np.zeros_like(mu), mu))))
        g = np.zeros(len(self.gamma))
        if g.size and np.allclose(self.Xzi[:, 0], self.Xzi[0, 0]):
            g[0] = (special.logit(np.clip(excess, 0.02, 0.9)) - self._offset_mean) / self.Xzi[0, 0]
        return np.concatenate([base, g])

    @property
    def _offset_mean(self) -> float:
        return 0.0 if self.zi_offset is None else float(np.mean(self.zi_offset))

    def zeta(self, shift: float = 0.0) -> np.ndarray:
        """The logit of each observation's probability of a structural zero (moved by ``shift``).

        Examples
        --------
        >>> import multilevel as ml
        >>> m = ml.glmer("count ~ mined + (1 | site)", ml.datasets.load("salamanders"), family="poisson",
        ...              zi="~ mined + offset(DOP)")
        >>> m.family.zeta()[:3].round(4).tolist()
        [-0.0198, -0.0198, -0.6154]
        """
        z = self.Xzi @ np.asarray(self.gamma, dtype=float)
        return (z if self.zi_offset is None else z + self.zi_offset) + shift

    @cached_property
    def pi(self) -> np.ndarray:
        """The probability of a structural zero, per observation."""
        return special.expit(self.zeta())

    @cached_property
    def _log_pi(self) -> tuple[np.ndarray, np.ndarray]:
        """``(log pi, log(1 - pi))`` per observation (a fit evaluates them at every PIRLS step)."""
        with np.errstate(divide="ignore"):
            return np.log(self.pi), np.log1p(-self.pi)

    def _pi_like(self, mu):
        mu = np.asarray(mu)
        return self.pi.reshape((-1,) + (1,) * (mu.ndim - 1))

    def _log_pi_like(self, mu):
        shape = (-1,) + (1,) * (np.ndim(mu) - 1)
        log_pi, log_1m = self._log_pi
        return log_pi.reshape(shape), log_1m.reshape(shape)

    # ------------------------------------------------------- likelihood
    def logpdf(self, y, mu):
        log_pi, log_1m = self._log_pi_like(mu)
        kept = log_1m + _logpdf(self.base, y, mu)
        return np.where(y == 0, np.logaddexp(log_pi, kept), kept)

    def derivatives(self, y, mu):
        # (only the zeros' count density enters: in closed form, without the log-gamma terms)
        return self._zero_mixture(y, mu, _log_zero(self.base, mu))[1:]

    def log_derivatives(self, y, mu):
        lb = _logpdf(self.base, y, mu)
        at_zero, score, hess = self._zero_mixture(y, mu, lb)
        return np.where(y == 0, at_zero, self._log_pi_like(mu)[1] + lb), score, hess

    def _zero_mixture(self, y, mu, l0):
        """``(log P(y = 0), score, hess)``, ``l0`` the count family's log-density at 0 (or at ``y``,
        equal to it where ``y = 0``)."""
        log_pi, log_1m = self._log_pi_like(mu)
        s, h = _derivatives(self.base, y, mu)
        # at y = 0: l = log(pi + (1 - pi) f0); r = (1 - pi) f0 / (pi + (1 - pi) f0)
        kept = log_1m + l0
        at_zero = np.logaddexp(log_pi, kept)
        r = np.exp(kept - at_zero)
        zero = y == 0
        score = np.where(zero, r * s, s)
        hess = np.where(zero, r * (h + s * s) - (r * s) ** 2, h)
        return at_zero, score, hess

    def row_extras(self):
        """The zero-inflation coefficients act on each row through ``logit(pi) = X_zi gamma``."""
        return self.base.n_extra, self.Xzi

    def shifted(self, h: float) -> "ZeroInflated":
        """The family with every row's ``logit(pi)`` moved by ``h`` (for derivatives in it).

        Examples
        --------
        >>> from multilevel.families import family
        >>> zi = ZeroInflated.wrap(family("poisson"), np.ones((2, 1)), np.eye(1), ("(Intercept)",))
        >>> zi.shifted(1.0).pi.round(4).tolist()      # expit(0 + 1)
        [0.7311, 0.7311]
        """
        out = replace(self)
        out.__dict__["pi"] = special.expit(self.zeta(h))
        return out

    def information(self, mu):
        return (1.0 - self._pi_like(mu)) * _information(self.base, mu)

    def variance(self, mu):
        pi = self._pi_like(mu)
        return (1.0 - pi) * (_variance(self.base, mu) + pi * mu * mu)

    def mean(self, mu):
        """The mean of the response, ``(1 - pi) mu``."""
        return (1.0 - self._pi_like(mu)) * mu

    def mustart(self, y, prior_weights):
        return self.base.mustart(y, prior_weights)

    def simulate(self, mu, prior_weights, rng):
        mu = np.asarray(mu, dtype=float)
        counts = self.base.simulate(mu, prior_weights, rng)
        return np.where(rng.uniform(size=mu.shape) < self.pi, 0.0, counts)

    def check_response(self, y, weights=None, name="response"):
        self.base.check_response(y, weights, name)

    def __repr__(self) -> str:
        return f"Family('zero-inflated {self.base.name}', link={self.link.name!r}, zi={list(self.zi_names)})"


# the Poisson family has no elementwise log-density of its own (its IRLS is Fisher's)
def _logpdf(fam, y, mu):
    if fam.name == "poisson":
        return special.xlogy(y, mu) - mu - special.gammaln(y + 1.0)
    return fam.logpdf(y, mu)


def _log_zero(fam, mu):
    """``log f(0 | mu)`` of the count family."""
    mu = np.asarray(mu, dtype=float)
    if fam.name == "poisson":
        return -mu
    if fam.name == "negative_binomial":
        return -fam.value * np.log1p(mu / fam.value)
    if fam.name == "nbinom1":
        return -(mu / fam.value) * np.log1p(fam.value)
    return fam.logpdf(np.zeros_like(mu), mu)


def _derivatives(fam, y, mu):
    if fam.name == "poisson":
        return y / mu - 1.0, -y / (mu * mu)
    return fam.derivatives(y, mu)


def _information(fam, mu):
    return 1.0 / mu if fam.name == "poisson" else fam.information(mu)


def _variance(fam, mu):
    return fam.variance(mu)
