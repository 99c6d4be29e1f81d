"""Covariance structures of random-effects terms: ``cs``, ``hcs`` and ``ar1``.

An unstructured term ``(x | g)`` (glmmTMB's ``us``) has as parameters the
lower triangle of its relative covariance factor ``T`` (lme4's theta). A
structured term has fewer, mapped to ``T`` by its structure, so that the
blocked Cholesky and everything built on ``T`` keeps working:

- ``cs(x | g)``, compound symmetry: ``Sigma / sigma^2 = s^2 ((1 - rho) I + rho 11')``;
- ``hcs(x | g)``, heterogeneous compound symmetry: ``D ((1 - rho) I + rho 11') D``
  with ``D = diag(s_1, ..., s_k)``;
- ``ar1(0 + t | g)``, first-order autoregressive over the k columns in order
  (an ordered factor's occasions): ``Sigma_ij / sigma^2 = s^2 rho^|i - j|``.

The parameters are the SD ratios ``s`` (lower bound 0, as lme4's diagonal
elements of ``T``: 0 is a variance of zero) and one unconstrained number
``a`` for the correlation: ``rho = a / sqrt(1 + a^2)`` for ar1 (glmmTMB's
transform), ``rho = lo + (1 - lo) expit(a)`` for cs and hcs, with ``lo =
-1 / (k - 1)`` the smallest correlation that keeps ``Sigma`` positive
definite.

Examples
--------
>>> ar = structure("ar1", 3)
>>> T = ar.factor(np.array([2.0, 0.75]))       # s = 2, rho = 0.6
>>> (T @ T.T / 4).round(3).tolist()
[[1.0, 0.6, 0.36], [0.6, 1.0, 0.6], [0.36, 0.6, 1.0]]
>>> ar.sd_rho(np.array([2.0, 0.75]))
(array([2., 2., 2.]), 0.6)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

__all__ = ["Structure", "structure", "check_occasions", "NAMES"]

#: the structured kinds and what they are
NAMES = {"cs": "compound symmetry", "hcs": "heterogeneous compound symmetry", "ar1": "AR(1)"}


@dataclass(frozen=True)
class Structure:
    """The covariance structure of one random-effects term of ``k`` columns.

    Attributes
    ----------
    kind : {"cs", "hcs", "ar1"}
    k : int
    """

    kind: str
    k: int

    # ---------------------------------------------------------------- layout
    @property
    def nsd(self) -> int:
        """Number of SD ratios: k for hcs, else 1."""
        return self.k if self.kind == "hcs" else 1

    @property
    def nparams(self) -> int:
        """Number of parameters: the SD ratios and the correlation's."""
        return self.nsd + 1

    @property
    def lower(self) -> np.ndarray:
        """0 for the SD ratios, -inf for the correlation's parameter."""
        return np.r_[np.zeros(self.nsd), -np.inf]

    @property
    def sd_mask(self) -> np.ndarray:
        """True for the SD ratios (a 0 there is a variance of zero)."""
        return np.r_[np.ones(self.nsd, dtype=bool), False]

    @property
    def start(self) -> np.ndarray:
        """SD ratios 1, correlation 0."""
        return np.r_[np.ones(self.nsd), self._a_of_rho(0.0)]

    def restarts(self, phi, tol: float) -> list[np.ndarray]:
        """Starts from which to search again where a fit ended with this term's SD ratios
        below ``tol`` (all of them, all but one, or some with the correlation within 2% of
        an end of its interval): the SD ratios 1 and the correlation near either end (0.9 and
        ``lo + 0.1 (1 - lo)``); none otherwise.

        Where the SDs are 0 the correlation is not identified, and a search that
        reached that edge with the correlation at some value stays there even when
        the criterion falls along the edge's other side: near rho = 1 (the random
        intercept model, which cs nests) or rho = lo. The criterion's rise away from
        the edge is linear in the covariance matrix, so of cs's correlations one
        of the two ends descends if any does. With one SD left the correlation is not
        identified either (a binomial hcs fit stopped 0.37 log-likelihood below glmmTMB
        with one SD of four). Where at least two SDs hold the correlation inside its
        interval, it is identified and the search stopped at a stationary point: no
        restart (cbpp's binomial hcs fit).

        Examples
        --------
        >>> cs = structure("cs", 4)
        >>> [cs.rho(r[-1]).__round__(3) for r in cs.restarts(np.array([0.0, -1.5]), 1e-4)]
        [0.9, -0.2]
        >>> cs.restarts(np.array([0.3, -1.5]), 1e-4)
        []
        >>> hcs = structure("hcs", 3)
        >>> len(hcs.restarts(np.array([0.5, 0.0, 0.7, 0.2]), 1e-4))    # rho 0.5: identified
        0
        >>> len(hcs.restarts(np.array([0.0, 0.0, 0.7, 0.2]), 1e-4))    # one SD left: not
        2
        >>> len(hcs.restarts(np.array([0.5, 0.0, 0.7, -12.0]), 1e-4))  # rho at its lower end
        2
        """
        phi = np.asarray(phi, dtype=float)
        zero = phi[: self.nsd] < tol
        lo = self.rho_lower
        rho = self.rho(phi[-1])
        where = (rho - lo) / (1.0 - lo)  # (its place in the interval: within 2% of an end)
        at_end = where < 0.02 or where > 0.98
        if not (zero.all() or (zero.any() and at_end) or (self.nsd > 1 and np.count_nonzero(~zero) < 2)):
            return []
        return [np.r_[np.ones(self.nsd), self._a_of_rho(rho)] for rho in (0.9, lo + 0.1 * (1.0 - lo))]

    def names(self, label: str, columns) -> list[str]:
        """``label.sd`` (hcs: ``label.<column>.sd``) and ``label.rho_transformed``.

        Examples
        --------
        >>> structure("hcs", 2).names("g", ("t1", "t2"))
        ['g.t1.sd', 'g.t2.sd', 'g.rho_transformed']
        """
        sds = [f"{label}.{c}.sd" for c in columns] if self.kind == "hcs" else [f"{label}.sd"]
        return sds + [f"{label}.rho_transformed"]

    # ---------------------------------------------------------- correlation
    @property
    def rho_lower(self) -> float:
        """The smallest correlation of a positive definite matrix of the structure."""
        return -1.0 if self.kind == "ar1" else -1.0 / (self.k - 1)

    def rho(self, a: float) -> float:
        """The correlation of the unconstrained parameter ``a``."""
        a = float(a)
        if self.kind == "ar1":
            return a / math.sqrt(1.0 + a * a)
        lo = self.rho_lower
        e = 1.0 / (1.0 + math.exp(-a)) if a >= 0 else math.exp(a) / (1.0 + math.exp(a))
        # (kept a hair inside its interval: at exactly 1 or lo the correlation matrix is singular)
        return min(max(lo + (1.0 - lo) * e, lo + 1e-12), 1.0 - 1e-12)

    def _a_of_rho(self, rho: float) -> float:
        """The parameter of a correlation (clipped inside its open interval)."""
        lo = self.rho_lower
        eps = 1e-10
        rho = float(np.clip(rho, lo + eps, 1.0 - eps))
        if self.kind == "ar1":
            return rho / np.sqrt(1.0 - rho * rho)
        return float(special.logit((rho - lo) / (1.0 - lo)))

    def correlation(self, rho: float) -> np.ndarray:
        """The k x k correlation matrix at ``rho``."""
        i = np.arange(self.k)
        if self.kind == "ar1":
            return rho ** np.abs(i[:, None] - i[None, :])
        return np.where(i[:, None] == i[None, :], 1.0, rho)

    # ----------------------------------------------------------------- maps
    def sd_rho(self, phi) -> tuple[np.ndarray, float]:
        """The k SD ratios and the correlation of the parameters ``phi``."""
        phi = np.asarray(phi, dtype=float)
        s = phi[: self.nsd]
        return (np.repeat(s, self.k) if self.nsd == 1 else s.copy()), self.rho(phi[-1])

    def factor(self, phi) -> np.ndarray:
        """The lower-triangular relative covariance factor ``T`` (k x k) at ``phi``.

        Both kinds in closed form: for ar1 ``L[i, 0] = rho^i``, ``L[i, j] = rho^(i - j)
        sqrt(1 - rho^2)``; for cs and hcs every entry below the diagonal of column j is one
        number ``c_j``, with ``d_j = 1 - sum_{m<j} c_m^2`` on the diagonal (squared) and
        ``c_j = (rho - sum_{m<j} c_m^2) / sqrt(d_j)``.

        Examples
        --------
        >>> cs = structure("cs", 4)
        >>> phi = np.array([1.3, -0.4])
        >>> rho = cs.rho(phi[1])
        >>> bool(np.allclose(cs.factor(phi), 1.3 * np.linalg.cholesky(cs.correlation(rho))))
        True
        """
        phi = np.asarray(phi, dtype=float)
        k = self.k
        rho = self.rho(phi[-1])
        L = np.zeros((k, k))
        if self.kind == "ar1":
            c = math.sqrt(max(1.0 - rho * rho, 0.0))
            power = 1.0
            for lag in range(k):  # L[i, i - lag] = rho^lag (times c off the first column)
                for i in range(lag, k):
                    L[i, i - lag] = power * (c if i - lag > 0 else 1.0)
                power *= rho
        else:
            used = 0.0  # sum of c_m^2 over the columns before
            for j in range(k):
                d = math.sqrt(max(1.0 - used, 0.0))
                L[j, j] = d
                if j + 1 < k:
                    c = (rho - used) / d if d > 0 else 0.0
                    L[j + 1:, j] = c
                    used += c * c
        if self.nsd == 1:
            L *= phi[0]
        else:
            L *= phi[: self.nsd, None]
        return L

    def from_covariance(self, S) -> np.ndarray:
        """The parameters whose structure is nearest a covariance matrix ``S`` (relative
        to the residual variance): the SDs of its diagonal (their root mean square for
        one SD) and the mean correlation (of neighbours for ar1).

        Examples
        --------
        >>> cs = structure("cs", 3)
        >>> phi = np.array([1.5, 0.3])
        >>> T = cs.factor(phi)
        >>> np.allclose(cs.from_covariance(T @ T.T), phi)
        True
        """
        S = np.asarray(S, dtype=float)
        sd = np.sqrt(np.maximum(np.diag(S), 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            R = S / np.outer(sd, sd)
        if self.kind == "ar1":
            r = np.diag(R, -1)
        else:
            r = R[np.tril_indices(self.k, -1)]
        r = r[np.isfinite(r)]
        rho = float(np.mean(r)) if r.size else 0.0
        s = sd if self.kind == "hcs" else np.array([np.sqrt(np.mean(sd * sd))])
        return np.r_[s, self._a_of_rho(rho)]

    def rescale(self, phi, d) -> np.ndarray:
        """The parameters of the covariance ``D Sigma D`` for ``D = diag(d)`` (the
        standardised design's column scales): the SD ratios times ``d`` (one
        common factor where the structure has one SD)."""
        phi = np.asarray(phi, dtype=float).copy()
        d = np.asarray(d, dtype=float)
        phi[: self.nsd] = phi[: self.nsd] * (d if self.nsd > 1 else d[0])
        return phi


def structure(kind: str, k: int, group: str = "g") -> Structure:
    """The structure ``kind`` of a term with ``k`` columns, or a one-line error.

    Examples
    --------
    >>> structure("cs", 1)
    Traceback (most recent call last):
    ...
    ValueError: cs(...) needs a term with at least 2 columns (a correlation between them); with one column write (1 | g)
    """
    if kind not in NAMES:
        raise ValueError(f"unknown covariance structure {kind!r}; use one of {', '.join(NAMES)} or a plain (x | g)")
    if k < 2 and kind == "ar1":
        raise ValueError(f"ar1(...) needs one column per occasion (a correlation between occasions): write "
                         f"ar1(0 + C(occasion) | {group}), or an ordered categorical occasion")
    if k < 2:
        raise ValueError(f"{kind}(...) needs a term with at least 2 columns (a correlation between them); "
                         f"with one column write (1 | {group})")
    return Structure(kind, int(k))


def check_occasions(bar, data, Z) -> None:
    """Refuse an ``ar1(...)`` term whose columns are not one indicator per occasion of
    one variable, in the occasions' order and equally spaced.

    ``data`` holds the rows used and ``Z`` the term's columns. The occasion
    variable must be numeric with equally spaced values (``C(week)`` with
    weeks 0, 1, 2, ...) or an ordered categorical, whose order is the
    occasions'; an unordered one has no order to follow.

    Examples
    --------
    >>> import pandas as pd
    >>> from multilevel.formula import parse_formula
    >>> d = pd.DataFrame({"t": [1, 2, 4, 1, 2, 4], "g": list("aaabbb")})
    >>> bar = parse_formula("y ~ ar1(0 + C(t) | g)").bars[0]
    >>> check_occasions(bar, d, pd.get_dummies(d.t).to_numpy(float))
    Traceback (most recent call last):
    ...
    ValueError: ar1(0 + C(t) | g) needs equally spaced occasions, but t takes the values 1, 2, 4: an AR(1) correlation rho^|i - j| counts steps between neighbouring columns; use cs(...) or hcs(...), or a residual correlation over time
    """
    from .data import identifiers

    what = bar.text
    Z = np.asarray(Z, dtype=float)
    if not (np.all((Z == 0) | (Z == 1)) and np.all(Z.sum(axis=1) == 1)):
        raise ValueError(f"{what} needs one column per occasion (indicators of a factor): write "
                         f"ar1(0 + occasion | {bar.group_name}) with the occasions as a factor")
    names = [v for v in identifiers(bar.expr) if v in data.columns]
    if len(names) != 1:
        raise ValueError(f"{what} needs the occasions of one variable: write ar1(0 + occasion | {bar.group_name})")
    v = names[0]
    col = data[v]
    which = Z.argmax(axis=1)
    values = None
    if isinstance(col.dtype, pd.CategoricalDtype):
        if not col.cat.ordered:
            raise ValueError(f"{what} needs the occasions in order, but {v} is an unordered categorical: make it "
                             f"ordered (data[{v!r}] = data[{v!r}].cat.as_ordered(), or pd.Categorical(..., "
                             "categories=[...in time order], ordered=True))")
        key = col.cat.codes.to_numpy()
        # categories that are numbers (ages, weeks) are occasions whose spacing can be checked
        cats = pd.to_numeric(pd.Series(np.asarray(col.cat.categories, dtype=object)), errors="coerce")
        if cats.notna().all():  # (an unused category that has its own column keeps its place)
            on = np.arange(len(cats)) if Z.shape[1] == len(cats) else np.unique(key[key >= 0])
            values = np.unique(cats.to_numpy(dtype=float)[on])
    elif pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        key = col.to_numpy(dtype=float)
        values = np.unique(key)
    else:
        kind = "labels" if col.dtype == object else col.dtype
        raise ValueError(f"{what} needs the occasions in order, but {v} has no order ({kind}): make it "
                         f"numeric or an ordered categorical (pd.Categorical(..., categories=[...in time order], "
                         "ordered=True))")
    if values is not None:
        gaps = np.diff(values)
        if gaps.size and not np.allclose(gaps, gaps[0], rtol=1e-9, atol=0.0):
            shown = ", ".join(f"{x:g}" for x in values[:8]) + (", ..." if values.size > 8 else "")
            raise ValueError(f"{what} needs equally spaced occasions, but {v} takes the values {shown}: an AR(1) "
                             "correlation rho^|i - j| counts steps between neighbouring columns; use cs(...) or "
                             "hcs(...), or a residual correlation over time")
    # each column's occasion, in the columns' order, must increase (a column no row uses is skipped)
    used = np.array([np.any(which == j) for j in range(Z.shape[1])])
    first = np.array([key[which == j].min() for j in range(Z.shape[1]) if used[j]])
    if not np.all(np.diff(first) > 0):
        raise ValueError(f"{what}: the columns are not in the occasions' order; write the occasion variable "
                         "as C(occasion) or an ordered categorical")
