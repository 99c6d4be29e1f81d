"""Correlated residuals within groups of rows (nlme's ``correlation=``).

``ml.lmer(..., residual="ar1(time | g)")``: the residuals of the rows of one
level of ``g`` are correlated, ``cor(e_i, e_j) = rho^|t_i - t_j|`` (nlme's
``corAR1(form = ~ time | g)`` for integer times, with gaps; ``corCAR1`` for
real ones); ``residual="cs(1 | g)"``: one correlation ``rho`` between any two
rows of a group (nlme's ``corCompSymm``). Rows of different groups stay
independent, so the model is an ordinary linear mixed model after each
group's rows (``y``, ``X``, every ``Z``) are multiplied by ``L_g^-1``, the
inverse Cholesky factor of the group's correlation matrix, and the criterion
gains ``log |R| = sum_g log |R_g|``. That needs every random-effects term to
be constant within a group (the groups nested in each term's grouping factor):
whitening then keeps each row in its level's block.

Groups with the same pattern of times share one factor, so a balanced design
costs one small Cholesky factorisation per evaluation.

Examples
--------
>>> import multilevel as ml
>>> from multilevel.design import build_design
>>> ss = ml.datasets.load("sleepstudy")
>>> d = build_design("Reaction ~ Days + (1 | Subject)", ss)
>>> rc = residual_correlation("ar1(Days | Subject)", ss, d)
>>> rc.kind, rc.group_name, len(rc.patterns)
('ar1', 'Subject', 1)
>>> R = rc.matrices(0.5)[0]
>>> R[0, :3].tolist()
[1.0, 0.5, 0.25]
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import special

__all__ = ["ResidualCorrelation", "residual_correlation"]

_SPEC = re.compile(r"^\s*(ar1|cs)\s*\((.*)\|(.*)\)\s*$")


@dataclass(frozen=True)
class ResidualCorrelation:
    """The residual correlation model of a fit, and its correlation once estimated.

    Attributes
    ----------
    kind : {"ar1", "cs"}
    text : str
        The ``residual`` argument as given.
    time_name : str or None
        The time variable of ``ar1``.
    group_name : str
    time : ndarray (n,) or None
    group : ndarray (n,) of int
        Each row's group.
    rho : float or None
        The estimated correlation (None before the fit): compound symmetry's, or an AR(1)'s per
        unit of time (nlme's ``Phi``; where the lag unit is small it can be too small to hold in
        a float, and ``r`` is the one computed with).
    se : float or None
        The standard error of the unconstrained parameter (``a``).
    r : float or None
        The correlation at the lag unit (:attr:`lag_unit`), ``rho^lag_unit``: what every
        method that takes a correlation (``matrices``, ``precisions``, ``whiten``,
        ``correlate``) takes, and what ``rho_of`` gives.
    """

    kind: str
    text: str
    time_name: str | None
    group_name: str
    time: np.ndarray | None = field(repr=False, default=None)
    group: np.ndarray = field(repr=False, default=None)
    group_columns: tuple = ()
    rho: float | None = None
    se: float | None = None
    r: float | None = None

    # ------------------------------------------------------------ structure
    @cached_property
    def patterns(self) -> list:
        """Per pattern of times: (rows (G, m) of its groups, in time order; times (m,) relative
        to the first)."""
        order = np.lexsort(((np.zeros(self.group.size) if self.time is None else self.time), self.group))
        g_sorted = self.group[order]
        sizes = np.bincount(g_sorted)
        sizes = sizes[sizes > 0]
        if sizes.size and np.all(sizes == sizes[0]):  # (a balanced design: often one pattern, found at once)
            m = int(sizes[0])
            rows = order.reshape(-1, m)
            if self.time is None:
                return [(rows, np.zeros(m))]
            rel = self.time[rows] - self.time[rows[:, :1]]
            keys = np.round(rel / self._time_scale, 9)
            if np.all(keys == keys[:1]):
                return [(rows, np.asarray(rel[0], dtype=float))]
        starts = np.r_[0, np.flatnonzero(np.diff(g_sorted)) + 1]
        ends = np.r_[starts[1:], g_sorted.size]
        by: dict = {}
        first: dict = {}
        for a, b in zip(starts, ends):
            rows = order[a:b]
            if self.time is None:
                key = (b - a,)
            else:   # (told apart to 9 digits of the times' spread; the first group's times kept)
                rel = self.time[rows] - self.time[rows[0]]
                key = tuple(np.round(rel / self._time_scale, 9))
                first.setdefault(key, rel)
            by.setdefault(key, []).append(rows)
        return [(np.stack(rs), np.asarray(first[key] if self.time is not None else np.zeros(key[0]), dtype=float))
                for key, rs in by.items()]

    @cached_property
    def _time_scale(self) -> float:
        """The widest span of times within a group (1 where none varies): patterns of times are told
        apart to 9 digits of it, whatever the times' units or origin (an absolute 1e-9 merged lags
        of 1e-10)."""
        if self.time is None or not self.time.size:
            return 1.0
        # (the widest span within a group: offsets between groups do not change a pattern)
        order = np.lexsort((self.time, self.group))
        g, t = self.group[order], self.time[order]
        starts = np.r_[0, np.flatnonzero(g[1:] != g[:-1]) + 1]
        ends = np.r_[starts[1:], g.size] - 1
        spread = float(np.max(t[ends] - t[starts]))
        return spread if spread > 0 and np.isfinite(spread) else 1.0

    def canonical(self, rho: float) -> float:
        """A correlation at the lag unit as reported: at fractional lags (nlme's corCAR1) only its
        size enters the model and its sign is not identified; the positive one is given.

        Examples
        --------
        >>> import numpy as np
        >>> rc = ResidualCorrelation("ar1", "ar1(t | g)", "t", "g", time=np.array([0.0, 0.5, 1.2]),
        ...                          group=np.zeros(3, dtype=int))
        >>> rc.canonical(-0.3)
        0.3
        """
        if self.kind != "ar1":
            return float(rho)
        return float(rho) if self._signed else float(abs(rho))

    @property
    def max_size(self) -> int:
        return max(rows.shape[1] for rows, _ in self.patterns)

    @property
    def rho_lower(self) -> float:
        """The smallest correlation with every group's matrix positive definite (0 for an AR(1)
        at fractional lags, where a negative correlation has no value: nlme's corCAR1; and where
        every lag is a multiple of an even one, whose sign is not identified)."""
        if self.kind == "ar1":
            return -1.0 if self._signed else 0.0
        return -1.0 / max(self.max_size - 1, 1)

    @property
    def start(self) -> float:
        """The unconstrained parameter to start from: rho = 0, or nlme's 0.2 (as the correlation
        at the smallest lag) where rho = 0 is the edge of the model."""
        if self.kind == "ar1" and not self._signed:
            return self._a_of_r(0.2)
        return self._a_of_r(0.0)

    @cached_property
    def lag_unit(self) -> float:
        """An AR(1)'s unit of lag: the greatest common divisor of the within-group lags where they
        are whole numbers, else the smallest positive lag (1 for compound symmetry, or groups of
        one time). Its parameter is the correlation at that lag, ``rho^lag_unit``, so that the
        search means the same whatever the time's units (ages in years or in seconds); ``rho``
        itself stays the correlation per unit of time (nlme's ``Phi``)."""
        if self.kind != "ar1":
            return 1.0
        lags = np.concatenate([np.diff(t) for _, t in self.patterns if t.size > 1] or [np.zeros(0)])
        lags = lags[lags > 0]
        if not lags.size:
            return 1.0
        if self._integer_lags and np.max(lags) < 2.0**53:
            g = float(np.gcd.reduce(np.round(lags).astype(np.int64)))
            if g > 0:
                return g
        return float(np.min(lags))

    @cached_property
    def _signed(self) -> bool:
        """Whether the correlation at the lag unit may be negative: an AR(1) over whole steps of its
        lag unit (whatever the unit: ages in years step by 2, in days by 730.5; at fractional lags
        a negative correlation has no power, as corCAR1's). nlme's corAR1 over times that step by
        an even number has ``Phi^2`` there and cannot be negative: this model can."""
        if self.kind != "ar1":
            return True
        return bool(self._whole_steps)

    @cached_property
    def _whole_steps(self) -> bool:
        """Whether every lag is a whole number of lag units (regular times, in any units: ages 8 to
        14 in years, in days or in years / 365.25), within 1e-6 of a unit."""
        if self.kind != "ar1":
            return True
        u = self.lag_unit
        return all(np.allclose(t / u, np.round(t / u), rtol=0.0, atol=1e-6) for _, t in self.patterns)

    def _r_of_a(self, a: float) -> float:
        """The correlation at the lag unit of the unconstrained parameter ``a``."""
        a = float(a)
        if self.kind == "ar1" and self._signed:
            return a / math.sqrt(1.0 + a * a)
        lo = self.rho_lower
        e = 1.0 / (1.0 + math.exp(-a)) if a >= 0 else math.exp(a) / (1.0 + math.exp(a))
        # (kept a hair inside its interval: at exactly 1 or lo the correlation matrix is singular)
        return min(max(lo + (1.0 - lo) * e, lo + 1e-12), 1.0 - 1e-12)

    def _a_of_r(self, r: float) -> float:
        lo = self.rho_lower
        r = float(np.clip(r, lo + 1e-10, 1.0 - 1e-10))
        if self.kind == "ar1" and self._signed:
            return r / np.sqrt(1.0 - r * r)
        return float(special.logit((r - lo) / (1.0 - lo)))

    def rho_of(self, a: float) -> float:
        """The correlation at the lag unit (``r``) of the unconstrained parameter ``a``."""
        return self._r_of_a(a)

    def a_of(self, r: float) -> float:
        """The unconstrained parameter of a correlation at the lag unit."""
        return self._a_of_r(r)

    def r_for(self, other: "ResidualCorrelation") -> float:
        """This model's correlation at ``other``'s lag unit (new rows may have another unit)."""
        if self.kind != "ar1" or other.lag_unit == self.lag_unit or self.r is None:
            return self.r
        k = other.lag_unit / self.lag_unit
        if self.r >= 0:
            return float(self.r ** k)
        # a negative correlation: the new unit must be a whole number of fitted steps, k, where the
        # correlation is r^k
        if not (np.isclose(k, np.round(k), rtol=0.0, atol=1e-6) and other._whole_steps):
            raise ValueError(f"the fitted residual correlation is negative, which has no value at lags of "
                             f"{other.time_name} that are not whole numbers of its fitted lag unit "
                             f"({self.lag_unit:.6g}); give times on those steps")
        return float(self.r ** int(np.round(k)))

    def per_unit(self, r: float) -> float:
        """An AR(1)'s correlation per unit of time of ``r``, its correlation at the lag unit (0 where
        it is too small for a float: ``r`` itself is then the one to read).

        Examples
        --------
        >>> rc = ResidualCorrelation("ar1", "ar1(t | g)", "t", "g", time=np.array([0.0, 2.0, 4.0]),
        ...                          group=np.zeros(3, dtype=int))
        >>> rc.lag_unit, rc.per_unit(0.25)
        (2.0, 0.5)
        """
        u = self.lag_unit
        if u == 1.0 or self.kind != "ar1" or r is None:
            return r
        if r < 0 and not (np.isclose(u, np.round(u)) and int(np.round(u)) % 2 == 1):
            return float("nan")  # (a negative correlation over an even or fractional unit has no root per unit)
        with np.errstate(under="ignore"):
            return float(np.sign(r) * np.abs(r) ** (1.0 / u))

    @cached_property
    def _integer_lags(self) -> bool:
        """Whether every lag between two times of a group is a whole number."""
        if self.kind != "ar1":
            return True
        # (an absolute tolerance: times relative to a group's first, 100000.3 is not whole; and no
        # lag below one half, which would round to 0: times in units of 1e-10 are not whole)
        lags = np.concatenate([np.diff(t) for _, t in self.patterns if t.size > 1] or [np.zeros(0)])
        if np.any((lags > 0) & (lags < 0.5)):
            return False
        return all(np.allclose(t, np.round(t), rtol=0.0, atol=1e-7) for _, t in self.patterns)

    def _check_rho(self, r: float) -> None:
        """A negative correlation has no power at a fractional lag (corCAR1's is >= 0)."""
        if r < 0 and not self._signed:
            raise np.linalg.LinAlgError("a negative AR(1) correlation at fractional lags")

    @cached_property
    def _steps(self) -> list:
        """Per pattern, its times in lag units (an AR(1)'s correlation is ``r^|step_i - step_j|``)."""
        u = self.lag_unit
        steps = [t / u if u != 1.0 else t for _, t in self.patterns]
        # (whole steps, rounded, so a negative r takes integer powers)
        return [np.round(s) for s in steps] if self._whole_steps else steps

    def matrices(self, r: float) -> list[np.ndarray]:
        """The correlation matrix of each pattern at ``r`` (the correlation at the lag unit).

        Raises
        ------
        numpy.linalg.LinAlgError
            For a negative correlation where some lag is fractional.
        """
        self._check_rho(r)
        out = []
        for (rows, _), t in zip(self.patterns, self._steps):
            m = rows.shape[1]
            if self.kind == "ar1":
                R = r ** np.abs(t[:, None] - t[None, :])
            else:
                R = np.where(np.eye(m, dtype=bool), 1.0, r)
            out.append(R)
        return out

    def precisions(self, rho: float) -> list:
        """Per pattern, ``(R^-1, log |R|)`` at ``rho``, the correlation at the lag unit: in closed
        form for compound symmetry and for AR(1) over consecutive times (tridiagonal), else by
        Cholesky.

        Raises
        ------
        numpy.linalg.LinAlgError
            Where a pattern's matrix is not positive definite.

        Examples
        --------
        >>> import multilevel as ml
        >>> from multilevel.design import build_design
        >>> ss = ml.datasets.load("sleepstudy")
        >>> rc = residual_correlation("ar1(Days | Subject)", ss, build_design("Reaction ~ Days + (1 | Subject)", ss))
        >>> W, logdet = rc.precisions(0.4)[0]
        >>> R = rc.matrices(0.4)[0]
        >>> bool(np.allclose(W @ R, np.eye(10))), bool(abs(logdet - np.linalg.slogdet(R)[1]) < 1e-12)
        (True, True)
        """
        self._check_rho(rho)
        out = []
        for (rows, _), t, consecutive in zip(self.patterns, self._steps, self._consecutive):
            m = rows.shape[1]
            if self.kind == "cs":
                a, b = 1.0 - rho, 1.0 + (m - 1) * rho
                if a <= 0 or b <= 0:
                    raise np.linalg.LinAlgError("not positive definite")
                W = (np.eye(m) - (rho / b) * np.ones((m, m))) / a
                out.append((W, (m - 1) * np.log(a) + np.log(b)))
            elif m > 1 and consecutive:  # AR(1) over consecutive times: tridiagonal
                s = 1.0 - rho * rho
                if s <= 0:
                    raise np.linalg.LinAlgError("not positive definite")
                d = np.full(m, 1.0 + rho * rho)
                d[0] = d[-1] = 1.0
                W = (np.diag(d) - rho * (np.eye(m, k=1) + np.eye(m, k=-1))) / s
                out.append((W, (m - 1) * np.log(s)))
            else:
                L = np.linalg.cholesky(rho ** np.abs(t[:, None] - t[None, :]) if m > 1 else np.ones((1, 1)))
                Linv = np.linalg.inv(L)
                out.append((Linv.T @ Linv, 2.0 * float(np.sum(np.log(np.diag(L))))))
        return out

    @cached_property
    def _consecutive(self) -> list:
        """Per pattern, whether its times step by one lag unit (an AR(1) precision in closed form)."""
        return [t.size > 1 and bool(np.allclose(np.diff(t), 1.0)) for t in self._steps]

    # ------------------------------------------------------------- whitening
    def whiten(self, arrays, rho: float):
        """``L_g^-1 A`` for each array ``A`` (n,) or (n, k) of ``arrays``, and ``log |R|``.

        Raises
        ------
        numpy.linalg.LinAlgError
            Where a group's matrix is not positive definite.
        """
        from .unstructured import whiten_patterns

        mats = self.matrices(rho)
        factors = None
        if self.kind == "cs":  # nlme's factor, so the normalized residuals are nlme's
            factors = [_cs_factor(rows.shape[1], rho) for rows, _ in self.patterns]
        return whiten_patterns(self.patterns, mats, arrays, factors)

    def correlate(self, e: np.ndarray, rho: float) -> np.ndarray:
        """``L_g e`` per group: independent standard draws made correlated."""
        from .unstructured import correlate_patterns

        return correlate_patterns(self.patterns, self.matrices(rho), e)

    def with_rho(self, r: float, se: float | None = None) -> "ResidualCorrelation":
        """The model at ``r``, the correlation at the lag unit (``rho`` per unit of time follows)."""
        return replace(self, r=float(r), rho=self.per_unit(float(r)), se=se)

    def subset(self, keep) -> "ResidualCorrelation":
        keep = np.asarray(keep, dtype=bool)
        out = replace(self, time=None if self.time is None else self.time[keep], group=self.group[keep],
                      r=None, rho=None, se=None)
        # (the rows kept may have another lag unit: the correlation moves to it)
        return out if self.r is None else out.with_rho(self.r_for(out), self.se)


def _cs_factor(m: int, rho: float) -> tuple[np.ndarray, float]:
    """nlme's whitening factor ``F`` of an m x m compound-symmetric correlation (``F'F = R^-1``:
    the group's mean first, then Helmert contrasts, as nlme's ``compSymm_fact``) and ``log |R|``.

    Raises
    ------
    numpy.linalg.LinAlgError
        Where the matrix is not positive definite.

    Examples
    --------
    >>> F, logdet = _cs_factor(3, 0.4)
    >>> R = np.where(np.eye(3, dtype=bool), 1.0, 0.4)
    >>> bool(np.allclose(F.T @ F @ R, np.eye(3))), bool(np.isclose(logdet, np.linalg.slogdet(R)[1]))
    (True, True)
    """
    a, b = 1.0 - rho, 1.0 + (m - 1) * rho
    if a <= 0 or b <= 0:
        raise np.linalg.LinAlgError("not positive definite")
    F = np.zeros((m, m))
    F[0, :] = 1.0 / np.sqrt(m * b)
    for i in range(1, m):
        c = -1.0 / np.sqrt(a * i * (i + 1))
        F[i, :i] = c
        F[i, i] = -i * c
    return F, (m - 1) * np.log(a) + np.log(b)


def _check_nested(spec, codes, design, kind, left, right) -> None:
    """Every random-effects term of ``design`` must be constant within a group."""
    for t in (() if design is None else design.terms):
        first = np.full(int(codes.max()) + 1, -1)
        first[codes[::-1]] = t.codes[::-1]
        if np.any(first[codes] != t.codes):
            raise ValueError(f"residual={spec!r}: the random-effects term {t.text} varies within the groups of "
                             f"{right}; residual correlation needs the groups nested in every grouping factor "
                             f"(e.g. residual='{kind}({left} | {t.group})')")


def residual_correlation(spec, frame, design=None):
    """The residual correlation ``spec`` (``"ar1(time | g)"``, ``"cs(1 | g)"``, or
    ``"us(visit | g)"``: a :class:`~multilevel.design.unstructured.UnstructuredCorrelation`)
    on the rows of ``design`` (every row of ``frame`` without one: new rows), or a one-line error.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> ss = ml.datasets.load("sleepstudy")
    >>> residual_correlation("cs(1 | Days)", ss, build_design("Reaction ~ Days + (1 | Subject)", ss))
    Traceback (most recent call last):
    ...
    ValueError: residual='cs(1 | Days)': the random-effects term (1 | Subject) varies within the groups of Days; residual correlation needs the groups nested in every grouping factor (e.g. residual='cs(1 | Subject)')
    """
    from .data import check_columns
    from .random import group_codes
    from ..arguments import short_repr

    if not isinstance(spec, str):
        raise TypeError(f"residual must be a string such as 'ar1(time | g)', 'cs(1 | g)' or 'us(visit | g)', not "
                        f"{short_repr(spec)}")
    if re.match(r"^\s*us\s*\(.*\|.*\)\s*$", spec):
        from .unstructured import unstructured_correlation

        uc = unstructured_correlation(spec, frame, design)
        _check_nested(spec, uc.group, design, "us", uc.time_name, uc.group_name)
        return uc
    m = _SPEC.match(spec)
    if m is None:
        raise ValueError(f"residual={spec!r}: write 'ar1(time | g)' (AR(1) over a numeric time within groups g), "
                         "'cs(1 | g)' (one correlation within groups g) or 'us(visit | g)' (a correlation for "
                         "each pair of occasions)")
    kind, left, right = m.group(1), m.group(2).strip(), m.group(3).strip()
    groups = tuple(c.strip() for c in right.split(":"))
    if not right or not all(groups):
        raise ValueError(f"residual={spec!r} has no grouping factor after '|'")
    check_columns(list(groups), frame, f"residual={spec!r} (grouping factor)")
    if kind == "ar1":
        check_columns([left], frame, f"residual={spec!r} (time)")
    every = design is None or (len(design.rows) == len(frame) and not design.n_dropped)
    rows = frame if every else frame.iloc[np.asarray(design.rows)]  # (all rows: no copy)
    if any(rows[c].isna().to_numpy().any() for c in groups):  # (column by column: a frame[list] copies)
        raise ValueError(f"residual={spec!r}: the grouping factor has missing values in rows the model uses; "
                         "drop those rows first")
    codes, _ = group_codes(rows, groups)
    time = None
    if kind == "ar1":
        col = rows[left]
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            raise ValueError(f"residual={spec!r}: the time {left!r} must be numeric (its differences are the lags "
                             f"of rho^|t_i - t_j|), not {col.dtype}")
        time = col.to_numpy(dtype=float)
        if not np.all(np.isfinite(time)):
            raise ValueError(f"residual={spec!r}: the time {left!r} has missing values in rows the model uses; "
                             "drop those rows first")
        order = np.lexsort((time, codes))
        same = (np.diff(codes[order]) == 0) & (np.diff(time[order]) == 0)
        if same.any():
            raise ValueError(f"residual={spec!r}: two rows of one group have the same time {left}; an AR(1) "
                             "correlation needs one row per time within a group")
    elif left != "1":
        raise ValueError(f"residual={spec!r}: compound symmetry takes no time, write 'cs(1 | {right})'")
    _check_nested(spec, codes, design, kind, left, right)
    if kind == "cs" and design is not None:
        for t in design.terms:  # compound symmetry within the levels of a random intercept's factor is that intercept
            if "(Intercept)" in t.columns and int(t.codes.max()) == int(codes.max()) and np.array_equal(
                    np.unique(np.c_[t.codes, codes], axis=0)[:, 0], np.arange(int(codes.max()) + 1)):
                raise ValueError(f"residual={spec!r}: a compound-symmetric residual correlation within the groups "
                                 f"of {right} is the random intercept of {t.text} (one covariance shared by all "
                                 "rows of a group): the two cannot be told apart; drop one")
    if design is not None and np.bincount(codes).max() < 2:
        raise ValueError(f"residual={spec!r}: every group of {right} has one row, so there is no correlation "
                         "to estimate")
    return ResidualCorrelation(kind=kind, text=spec, time_name=left if kind == "ar1" else None,
                               group_name=right, time=time, group=np.asarray(codes), group_columns=groups)
