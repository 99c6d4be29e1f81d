"""Parametric bootstrap likelihood-ratio test of nested models (pbkrtest's ``PBmodcomp``).

The smaller model (fitted by ML) simulates ``nsim`` responses; both models are
refitted to each, and the observed likelihood-ratio statistic is compared
with those of the simulations: ``p = (1 + #{LRT* >= LRT}) / (1 + nsim)``.
The chi-square p value and the Bartlett-corrected one (the statistic scaled
by the mean of the simulated ones over its df) are given beside it. Useful
where the chi-square reference is poor: small samples, variance components
on the boundary.

pbkrtest counts only the simulated statistics that are positive, in the
numerator and the denominator. Where the smaller model is the larger one
with a variance at zero, about half the simulated statistics are zero (and
how many come out as 1e-13 rather than 0 is rounding), so its p value is
conditional on a positive statistic and about twice the bootstrap's: 0.40
for the Pastes batch variance, whose simulated statistics (distributed as
pbkrtest's, tests/reference/pbmodcomp.R) exceed the observed 0.41 one time in five.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import as_int, short_repr
from .bootstrap import _refit, bootstrap

__all__ = ["pbtest", "PBTest"]


class PBTest(pd.DataFrame):
    """The tests of :func:`pbtest`: rows ``LRT``, ``PBtest``, ``Bartlett``;
    columns ``stat``, ``df``, ``p.value``; the number of simulations used in
    ``attrs["nsim"]``."""

    @property
    def _constructor(self):
        return pd.DataFrame

    def __repr__(self) -> str:
        frame = pd.DataFrame(self)
        head = (f"Bootstrap test; using {self.attrs.get('nsim', '?')} simulations"
                + (f" ({self.attrs['failed']} failed refits left out)" if self.attrs.get("failed") else ""))
        body = frame.to_string(float_format=lambda v: f"{v:.4g}", na_rep="")
        return head + "\n" + body

    def __str__(self) -> str:
        return self.__repr__()


class _LRT:
    """2 (loglik of the large model - loglik of the small one) on a refit's response."""

    def __init__(self, large):
        self.large = large

    def __call__(self, small_refit) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            big = _refit(self.large, small_refit.design.y, self.large.theta.to_numpy())
        return max(0.0, 2.0 * (big.loglik - small_refit.loglik))


def _ml(fit):
    if getattr(fit, "reml", False):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit.refit(reml=False)
    return fit


def pbtest(small, large, nsim: int = 1000, seed=None, n_jobs: int | None = 2) -> PBTest:
    """Parametric bootstrap test of a smaller model against a larger one (pbkrtest's ``PBmodcomp``).

    Parameters
    ----------
    small, large : LmerResult or GlmerResult
        Nested fits of the same response and rows (REML fits are refitted by ML).
    nsim : int, default 1000
    seed : int, optional
    n_jobs : int, default 2
        Processes (None or -1: all cores).

    Returns
    -------
    PBTest

    Examples
    --------
    >>> import multilevel as ml
    >>> d = ml.datasets.load("sleepstudy")
    >>> m0 = ml.lmer("Reaction ~ 1 + (Days | Subject)", d, reml=False)
    >>> m1 = ml.lmer("Reaction ~ Days + (Days | Subject)", d, reml=False)
    >>> t = ml.pbtest(m0, m1, nsim=20, seed=1, n_jobs=1)
    >>> list(t.index), int(t.loc["LRT", "df"])
    (['LRT', 'PBtest', 'Bartlett'], 1)
    """
    from ..results import LmerResult
    from ..results.glmer_result import GlmerResult

    for f, name in ((small, "small"), (large, "large")):
        if not isinstance(f, (LmerResult, GlmerResult)):
            raise TypeError(f"{name} must be a fit from ml.lmer or ml.glmer, not {short_repr(f)}")
    from ..design.rowless import require_rows

    require_rows(small, "the parametric bootstrap test")
    require_rows(large, "the parametric bootstrap test")
    if type(small) is not type(large):
        raise ValueError("small and large must both be lmer fits or both glmer fits")
    if small.nobs != large.nobs or not np.allclose(small.design.y, large.design.y):
        raise ValueError("small and large must be fitted to the same response and rows")
    nsim = as_int(nsim, "nsim", 1)
    small, large = _ml(small), _ml(large)
    df = large.df - small.df
    if df <= 0:
        raise ValueError(f"large must have more parameters than small ({large.df} vs {small.df}): "
                         "give the smaller model first")
    tobs = max(0.0, 2.0 * (large.loglik - small.loglik))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        boot = bootstrap(small, nsim=nsim, seed=seed, fun=_LRT(large), n_jobs=n_jobs)
    ref = boot.draws.iloc[:, 0].to_numpy()
    ref = ref[np.isfinite(ref)]
    n = ref.size
    p_pb = (1 + np.sum(ref >= tobs)) / (1 + n) if n else np.nan
    mean_ref = float(np.mean(ref)) if n else np.nan
    bart = tobs / (mean_ref / df) if n and mean_ref > 0 else np.nan
    out = PBTest(pd.DataFrame(
        {"stat": [tobs, tobs, bart], "df": [df, np.nan, df],
         "p.value": [stats.chi2.sf(tobs, df), p_pb, stats.chi2.sf(bart, df)]},
        index=["LRT", "PBtest", "Bartlett"]))
    out.attrs.update(nsim=n, failed=nsim - n)
    return out
