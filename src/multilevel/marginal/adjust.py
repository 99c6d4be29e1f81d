"""Multiplicity adjustments of p values and confidence levels, as emmeans makes them.

P values: ``none``, ``tukey`` (the studentized range, for one family of
pairwise comparisons), ``scheffe``, ``sidak``, ``bonferroni``, ``dunnettx``
(emmeans' approximation to Dunnett's distribution), ``mvt`` (the exact
multivariate t of the family's estimates) and R's ``p.adjust`` methods
``holm``, ``hochberg``, ``hommel``, ``BH`` (alias ``fdr``) and ``BY``.
Confidence intervals take the same names; the step-wise ``p.adjust`` methods
have no interval counterpart and give Bonferroni intervals, as in emmeans.

The multivariate t probabilities are computed by the spherical-radial method:
the radius is integrated exactly (an F distribution) and the directions by a
fixed randomised quasi-Monte Carlo rule, so the answer is the same on every
call and accurate to about 1e-5, where R's ``mvtnorm`` is randomised to 1e-3.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

from .tukey import ptukey, qtukey

__all__ = ["METHODS", "adjust_p", "critical_value", "check_adjust"]

_P_ADJUST = ("holm", "hochberg", "hommel", "bonferroni", "BH", "BY", "fdr", "none")
METHODS = ("none", "tukey", "scheffe", "sidak", "bonferroni", "dunnettx", "mvt",
           "holm", "hochberg", "hommel", "BH", "BY", "fdr")
#: quasi-Monte Carlo directions for the multivariate t (a power of two)
_MVT_POINTS = 2 ** 15


def check_adjust(adjust) -> str:
    """The adjustment's canonical name; a one-line error for any other value.

    Examples
    --------
    >>> check_adjust("Tukey"), check_adjust("fdr")
    ('tukey', 'fdr')
    """
    if not isinstance(adjust, str):
        raise TypeError(f"adjust must be a string, one of {', '.join(METHODS)}")
    low = {m.lower(): m for m in METHODS}
    if adjust.lower() not in low:
        raise ValueError(f"unknown adjust={adjust!r}; choose one of {', '.join(METHODS)}")
    return low[adjust.lower()]


def _p_adjust(p: np.ndarray, method: str) -> np.ndarray:
    """R's ``p.adjust``: the family size ``n`` counts every entry, missing ones (non-estimable
    contrasts) included, as emmeans passes them; the missing ones stay NaN."""
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    q = p[ok]
    lp, n = q.size, p.size
    if lp == 0:
        return out
    if method == "bonferroni":
        r = np.minimum(1.0, n * q)
    elif method == "holm":
        o = np.argsort(q, kind="stable")
        r = np.empty(lp)
        r[o] = np.minimum(1.0, np.maximum.accumulate((n - np.arange(lp)) * q[o]))
    elif method in ("hochberg", "BH", "fdr", "BY"):
        o = np.argsort(-q, kind="stable")
        i = np.arange(lp, 0, -1)
        if method == "hochberg":
            scaled = (n + 1 - i) * q[o]
        else:
            scaled = n / i * q[o] * (np.sum(1.0 / np.arange(1, n + 1)) if method == "BY" else 1.0)
        r = np.empty(lp)
        r[o] = np.minimum(1.0, np.minimum.accumulate(scaled))
    elif method == "hommel":  # R pads the p values with ones up to n
        full = np.concatenate([q, np.ones(n - lp)])
        o = np.argsort(full, kind="stable")
        s = full[o]
        idx = np.arange(1, n + 1)
        qq = pa = np.full(n, np.min(n * s / idx))
        for m in range(n - 1, 1, -1):
            i1 = np.arange(n - m + 1)
            i2 = np.arange(n - m + 1, n)
            q1 = np.min(m * s[i2] / np.arange(2, m + 1))
            qq = qq.copy()
            qq[i1] = np.minimum(m * s[i1], q1)
            qq[i2] = qq[n - m]
            pa = np.maximum(pa, qq)
        adj = np.empty(n)
        adj[o] = np.maximum(pa, s)
        r = adj[:lp]
    else:
        r = q
    out[ok] = r
    return out


def _f_cdf(x, d1: float, d2) -> np.ndarray:
    """F(d1, d2) cdf, the chi-square limit where d2 is infinite."""
    x = np.asarray(x, dtype=float)
    d2 = np.broadcast_to(np.asarray(d2, dtype=float), x.shape)
    return np.where(np.isinf(d2), stats.chi2.cdf(x * d1, d1), stats.f.cdf(x, d1, np.where(np.isinf(d2), 1.0, d2)))


def _f_sf(x, d1: float, d2) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    d2 = np.broadcast_to(np.asarray(d2, dtype=float), x.shape)
    return np.where(np.isinf(d2), stats.chi2.sf(x * d1, d1), stats.f.sf(x, d1, np.where(np.isinf(d2), 1.0, d2)))


def _f_ppf(q: float, d1: float, d2) -> np.ndarray:
    d2 = np.asarray(d2, dtype=float)
    return np.where(np.isinf(d2), stats.chi2.ppf(q, d1) / d1, stats.f.ppf(q, d1, np.where(np.isinf(d2), 1.0, d2)))


def _ptukey_sf(q, k: float, df) -> np.ndarray:
    q = np.atleast_1d(np.asarray(q, dtype=float))
    return np.where(np.isfinite(q), ptukey(np.where(np.isfinite(q), q, 0.0), k, df, lower_tail=False),
                    np.nan)


def _qtukey(level: float, k: float, df: float) -> float:
    return qtukey(level, k, df)


def _pdunnx(x, k: int, df, twt=None) -> np.ndarray:
    """emmeans' approximate Dunnett cdf: a mix of Tukey's and Sidak's."""
    twt = (k - 1) / k if twt is None else twt
    fam = (1 + np.sqrt(1 + 8 * k)) / 2
    x = np.atleast_1d(np.asarray(x, dtype=float))
    tukey = 1 - _ptukey_sf(np.sqrt(2) * x, fam, df)
    sidak = _f_cdf(x ** 2, 1, df) ** k
    return twt * tukey + (1 - twt) * sidak


def _qdunnx(level: float, k: int, df: float) -> float:
    if k < 1.005:
        return float(stats.t.ppf(1 - 0.5 * (1 - level), df))
    fam = (1 + np.sqrt(1 + 8 * k)) / 2
    xtuk = _qtukey(level, fam, df) / np.sqrt(2)
    xsid = float(np.sqrt(_f_ppf(level ** (1 / k), 1, df)))
    if abs(xtuk - xsid) < 0.0005:
        return xtuk
    lo, hi = sorted((xtuk, xsid))
    return float(optimize.brentq(lambda x: _pdunnx(x, k, df)[0] - level, lo, hi, xtol=1e-10))


def _mvt_df(df: float) -> float:
    """The integer df R's mvtnorm is given by emmeans (0: normal)."""
    if not np.isfinite(df) or df > 9999:
        return np.inf
    return float(np.floor(max(1.0, df) + 0.25))


class _MaxAbsT:
    """P(max_i |T_i| <= c) for a multivariate t with correlation ``corr`` (possibly singular)."""

    def __init__(self, corr: np.ndarray, df: float):
        w, U = np.linalg.eigh(corr)
        keep = w > 1e-10 * max(w.max(), 1e-300)
        A = U[:, keep] * np.sqrt(w[keep])  # (k, r): T = A z / s
        self.r = int(keep.sum())
        self.df = _mvt_df(df)
        sobol = stats.qmc.Sobol(self.r, scramble=True, seed=20240611)
        u = np.clip(sobol.random(_MVT_POINTS), 1e-12, 1 - 1e-12)
        z = stats.norm.ppf(u)
        z /= np.linalg.norm(z, axis=1, keepdims=True)
        self.m = np.max(np.abs(z @ A.T), axis=1)  # max |A u| per direction

    def cdf(self, c: float) -> float:
        if not c > 0:
            return 0.0
        x = (c / self.m) ** 2 / self.r
        if np.isinf(self.df):
            return float(np.mean(stats.chi2.cdf(x * self.r, self.r)))
        return float(np.mean(stats.f.cdf(x, self.r, self.df)))

    def quantile(self, level: float) -> float:
        lo, hi = 0.0, 2.0
        while self.cdf(hi) < level:
            lo, hi = hi, hi * 2
        return float(optimize.brentq(lambda c: self.cdf(c) - level, lo, hi, xtol=1e-8))


def _corr(V: np.ndarray) -> np.ndarray:
    d = np.sqrt(np.clip(np.diag(V), 1e-300, None))
    return V / np.outer(d, d)


def adjust_p(t: np.ndarray, df: np.ndarray, method: str, means: int | None = None,
             rank: int | None = None, V: np.ndarray | None = None) -> np.ndarray:
    """Adjusted two-sided p values of one family of t (or z) statistics.

    Parameters
    ----------
    t, df : ndarray
        Test statistics and their degrees of freedom (inf: normal); NaN for
        non-estimable entries, which the adjustment leaves out.
    method : str
        One of :data:`METHODS`.
    means : int, optional
        Tukey: the number of means the pairs compare, non-estimable ones
        included as in emmeans (default: from the number of tests).
    rank : int, optional
        Scheffe: the rank of the family (non-estimable contrasts included).
    V : ndarray, optional
        mvt: the covariance of the estimates.

    Examples
    --------
    >>> adjust_p(np.array([2.0, 1.0]), np.array([np.inf, np.inf]), "bonferroni").round(4).tolist()
    [0.091, 0.6346]
    """
    t = np.asarray(t, dtype=float)
    df = np.asarray(df, dtype=float)
    p = 2 * stats.t.sf(np.abs(t), df)
    ok = np.isfinite(t)
    n = t.size  # the family, non-estimable contrasts included (as emmeans counts it)
    if n <= 1 and method != "scheffe" or method == "none":
        return p
    if method in _P_ADJUST:
        return _p_adjust(p, method)
    out = np.full(t.shape, np.nan)
    at = np.abs(t[ok])
    d = df[ok]
    if method == "sidak":
        out[ok] = 1 - (1 - p[ok]) ** n
    elif method == "tukey":
        k = means if means is not None else (1 + np.sqrt(1 + 8 * n)) / 2
        out[ok] = _ptukey_sf(np.sqrt(2) * at, k, np.round(d, 10))
    elif method == "scheffe":
        r = rank if rank is not None else n
        out[ok] = _f_sf(at ** 2 / r, r, d)
    elif method == "dunnettx":
        out[ok] = 1 - _pdunnx(at, n, d)
    elif method == "mvt":
        corr = _corr(np.asarray(V)[np.ix_(ok, ok)])
        out[ok] = [1 - _MaxAbsT(corr, di).cdf(ti) for ti, di in zip(at, d)]
    return np.clip(out, 0.0, 1.0)


def ci_method(method: str) -> str:
    """The interval counterpart of a p-value adjustment (step-wise methods: bonferroni).

    Examples
    --------
    >>> ci_method("holm"), ci_method("tukey")
    ('bonferroni', 'tukey')
    """
    return "bonferroni" if method in _P_ADJUST and method != "none" else method


def critical_value(level: float, df: np.ndarray, method: str, n: int, means: int | None = None,
                   rank: int | None = None, V: np.ndarray | None = None,
                   family: int | None = None) -> np.ndarray:
    """Multipliers of the standard errors for simultaneous intervals of one family.

    ``n`` is the family's size, non-estimable estimates included as emmeans
    counts them (``family``, if given, overrides it).

    Examples
    --------
    >>> round(float(critical_value(0.95, np.array([np.inf]), "none", 1)[0]), 4)
    1.96
    """
    df = np.asarray(df, dtype=float)
    method = ci_method(method)
    n = n if family is None else family
    if n <= 1 and method != "scheffe":
        method = "none"
    if method == "none":
        return stats.t.ppf(1 - (1 - level) / 2, df)
    if method == "sidak":
        return stats.t.ppf(1 - (1 - level ** (1 / n)) / 2, df)
    if method == "bonferroni":
        return stats.t.ppf(1 - (1 - level) / n / 2, df)
    if method == "tukey":
        k = means if means is not None else (1 + np.sqrt(1 + 8 * n)) / 2
        return np.array([_qtukey(level, k, d) / np.sqrt(2) for d in df])
    if method == "scheffe":
        r = rank if rank is not None else n
        return np.sqrt(r * _f_ppf(level, r, df))
    if method == "dunnettx":
        return np.array([_qdunnx(level, n, d) for d in df])
    if method == "mvt":
        corr = _corr(np.asarray(V))
        cache: dict = {}
        out = []
        for d in df:
            key = _mvt_df(d)
            if key not in cache:
                cache[key] = _MaxAbsT(corr, d).quantile(level)
            out.append(cache[key])
        return np.array(out)
    raise ValueError(f"unknown adjustment {method!r}")  # pragma: no cover - checked before
