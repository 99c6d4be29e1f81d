"""Simulation-based calibration (SBC) of Bayesian multilevel models.

Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari & Gelman
2018, "Validating Bayesian inference algorithms with simulation-based
calibration", arXiv:1804.06788) checks a sampler against its own model: draw
parameters ``theta`` from the prior, simulate data ``y`` from the model given
``theta``, sample the posterior given ``y`` and record the rank of ``theta``
among ``L`` posterior draws. When the draws are exact and independent, the rank
is uniform on ``0, 1, ..., L`` whatever the model, so a histogram of ranks over
many replications that is not flat points to an error in the sampler, in the
model's code, or in the simulation (which must follow the prior and the model
exactly as the fit defines them).

The pieces are pure functions of arrays, usable with any sampler:

- :func:`thin` keeps ``L`` evenly spaced draws of a chain;
- :func:`sbc_ranks` ranks true values among draws;
- :func:`uniformity` tests ranks for uniformity (chi-square over bins and a
  Kolmogorov-Smirnov test of randomised ranks).

:func:`sbc` runs the whole loop for a model fitted by ``ml.bayes``, given a
function that simulates one data set from the prior.

Examples
--------
>>> rng = np.random.default_rng(1)
>>> ranks = {"mu": [sbc_ranks(rng.normal(), rng.normal(size=99)) for _ in range(400)]}
>>> bool(uniformity(ranks, L=99).loc["mu", "p_chi2"] > 0.001)
True
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["thin", "sbc_ranks", "uniformity", "sbc", "SBCResult"]


def thin(draws, L: int) -> np.ndarray:
    """``L`` evenly spaced draws of one parameter's chains.

    Parameters
    ----------
    draws : array_like
        Draws of shape ``(draws,)`` or ``(chains, draws)``; chains are laid end
        to end.
    L : int
        Number of draws to keep (at most the number of draws).

    Returns
    -------
    numpy.ndarray (L,)

    Notes
    -----
    Talts et al. (2018) thin a chain of ``N`` draws whose effective sample
    size is ``ESS`` by ``N / ESS`` so that the ranks are not distorted by
    autocorrelation. Keeping ``L`` evenly spaced draws thins by ``N / L``,
    which is at least that whenever ``ESS >= L``: run enough draws for the
    ESS to reach ``L`` (:func:`sbc` refits with more draws when it does not).

    Examples
    --------
    >>> thin(np.arange(10.0), 4)
    array([0., 3., 6., 9.])
    >>> thin(np.arange(12.0).reshape(2, 6), 3).tolist()
    [0.0, 6.0, 11.0]
    """
    flat = np.asarray(draws, dtype=float).reshape(-1)
    L = int(L)
    if not 1 <= L <= flat.size:
        raise ValueError(f"L must be between 1 and the number of draws ({flat.size}), not {L}")
    idx = np.round(np.linspace(0, flat.size - 1, L)).astype(int)
    return flat[idx]


def _rank(value: float, draws: np.ndarray, rng: np.random.Generator) -> int:
    below = int(np.sum(draws < value))
    ties = int(np.sum(draws == value))
    return below + (int(rng.integers(0, ties + 1)) if ties else 0)


def sbc_ranks(true_values, draws, L: int | None = None, seed: int = 0):
    """Rank of each true value among posterior draws: the number of draws below it.

    Parameters
    ----------
    true_values : float or mapping
        One true value, or ``{name: value}``.
    draws : array_like or mapping
        Draws of the parameter, ``(draws,)`` or ``(chains, draws)``, or
        ``{name: draws}`` with every name of ``true_values``.
    L : int, optional
        Thin to ``L`` evenly spaced draws first (:func:`thin`); the rank is then
        in ``0 .. L``. By default every draw is used.
    seed : int, default 0
        Seeds the random split of ties (draws equal to the true value), so a
        rank stays uniform for discrete parameters.

    Returns
    -------
    int or dict of int
        A rank, or ``{name: rank}`` when ``true_values`` is a mapping.

    Examples
    --------
    >>> sbc_ranks(0.5, [0.1, 0.9, 0.3, 0.7])
    2
    >>> sbc_ranks({"a": 0.01, "b": 10.0}, {"a": np.linspace(-1, 1, 101), "b": np.zeros((2, 50))}, L=9)
    {'a': 5, 'b': 9}
    """
    rng = np.random.default_rng(seed)
    if isinstance(true_values, Mapping):
        if not isinstance(draws, Mapping):
            raise TypeError("draws must be a mapping {name: draws} when true_values is a mapping")
        missing = [k for k in true_values if k not in draws]
        if missing:
            raise KeyError(f"no draws for {', '.join(map(repr, missing))}")
        return {k: sbc_ranks(v, draws[k], L, seed=int(rng.integers(2**31))) for k, v in true_values.items()}
    d = np.asarray(draws, dtype=float).reshape(-1)
    if L is not None:
        d = thin(d, L)
    return _rank(float(true_values), d, rng)


def _bin_sizes(L: int, bins: int) -> np.ndarray:
    """How many of the rank values ``0 .. L`` fall in each of ``bins`` contiguous bins."""
    edges = np.round(np.linspace(0, L + 1, bins + 1)).astype(int)
    return np.diff(edges)


def uniformity(ranks, L: int, bins: int | None = None, seed: int = 0) -> pd.DataFrame:
    """Test SBC ranks for uniformity on ``0 .. L``, parameter by parameter.

    Parameters
    ----------
    ranks : array_like, mapping or DataFrame
        Ranks of one parameter (1-D), or ``{name: ranks}``, or a DataFrame with
        one column per parameter (as :attr:`SBCResult.ranks`).
    L : int
        Number of posterior draws each rank was computed among (ranks lie in
        ``0 .. L``).
    bins : int, optional
        Number of contiguous bins of rank values for the chi-square test;
        default ``min(20, L + 1, n // 5)`` (at least 2) for ``n`` ranks, so
        that each bin expects about 5 or more. Bins need not divide ``L + 1``
        evenly: the expected counts are exact.
    seed : int, default 0
        Seeds the randomisation of the Kolmogorov-Smirnov test.

    Returns
    -------
    DataFrame
        One row per parameter: ``n``, ``bins``, ``chi2`` and its ``p_chi2``
        (Pearson's test of the binned counts, ``bins - 1`` degrees of freedom),
        ``ks`` and ``p_ks`` (the KS test of the randomised ranks
        ``(rank + U) / (L + 1)``, ``U ~ Uniform(0, 1)``, which are exactly
        uniform on (0, 1) when the ranks are uniform on ``0 .. L``).

    Notes
    -----
    The chi-square test picks up the shapes of Talts et al.'s histograms (a
    U for an overconfident posterior, a hump for an underdispersed one); the
    KS test is the more powerful against a shift (a biased posterior). With
    several parameters and both tests, compare each p-value with a
    Bonferroni-corrected level (``alpha / number of tests``).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> good = rng.integers(0, 100, size=500)        # uniform on 0..99: L = 99
    >>> biased = np.minimum(good + 20, 99)           # the true value sits too high
    >>> t = uniformity({"good": good, "biased": biased}, L=99)
    >>> t[["n", "bins"]].iloc[0].tolist()
    [500, 20]
    >>> bool(t.loc["good", "p_chi2"] > 0.01), bool(t.loc["biased", "p_ks"] < 1e-10)
    (True, True)
    """
    if isinstance(ranks, pd.DataFrame):
        cols = {c: ranks[c].to_numpy() for c in ranks.columns}
    elif isinstance(ranks, Mapping):
        cols = dict(ranks)
    else:
        cols = {"rank": ranks}
    L = int(L)
    rng = np.random.default_rng(seed)
    rows = {}
    for name, r in cols.items():
        r = np.asarray(r, dtype=float).reshape(-1)
        r = r[~np.isnan(r)]
        if np.any(r != np.round(r)):
            raise ValueError(f"ranks of {name!r} must be whole numbers")
        r = r.astype(int)
        n = r.size
        if n == 0:
            raise ValueError(f"no ranks for {name!r}")
        if r.min() < 0 or r.max() > L:
            raise ValueError(f"ranks of {name!r} must lie in 0..{L}")
        nb = int(bins) if bins is not None else max(2, min(20, L + 1, n // 5))
        if not 2 <= nb <= L + 1:
            raise ValueError(f"bins must be between 2 and L + 1 = {L + 1}, not {nb}")
        sizes = _bin_sizes(L, nb)
        which = np.searchsorted(np.cumsum(sizes), r, side="right")
        observed = np.bincount(which, minlength=nb)
        expected = n * sizes / (L + 1)
        chi2 = float(np.sum((observed - expected) ** 2 / expected))
        u = (r + rng.uniform(size=n)) / (L + 1)
        ks = stats.kstest(u, "uniform")
        rows[name] = {"n": n, "bins": nb, "chi2": chi2, "p_chi2": float(stats.chi2.sf(chi2, nb - 1)),
                      "ks": float(ks.statistic), "p_ks": float(ks.pvalue)}
    return pd.DataFrame.from_dict(rows, orient="index")


@dataclass(frozen=True)
class SBCResult:
    """The ranks and fitting records of an SBC run (made by :func:`sbc`).

    Attributes
    ----------
    ranks : DataFrame
        One row per replication, one column per parameter: the rank of the
        true value among ``L`` thinned posterior draws (``0 .. L``).
    L : int
    ess : DataFrame
        Per replication and parameter, ``min(bulk ESS, tail ESS)`` of the
        posterior draws the rank was taken from.
    draws : numpy.ndarray (n_rep,)
        Draws per chain of the fit the ranks came from (more than asked when
        the ESS fell short of ``L`` and the model was refitted).
    divergences : numpy.ndarray (n_rep,)
        Divergent transitions of that fit.
    seconds : float
        Wall-clock time of the whole run.
    """

    ranks: pd.DataFrame
    L: int
    ess: pd.DataFrame
    draws: np.ndarray
    divergences: np.ndarray
    seconds: float
    true_values: pd.DataFrame = field(repr=False, default=None)

    def uniformity(self, bins: int | None = None, seed: int = 0) -> pd.DataFrame:
        """:func:`uniformity` of the ranks, with each parameter's median ESS added."""
        t = uniformity(self.ranks, self.L, bins=bins, seed=seed)
        t["median_ess"] = self.ess.median().reindex(t.index).to_numpy()
        return t


def _draws_of(post, names) -> dict:
    out, df = {}, None
    for nm in names:
        if nm in post.draws:
            out[nm] = np.asarray(post.draws[nm])
            continue
        if df is None:
            df = post.draws_df(ranef=True)
        if nm not in df.columns:
            raise KeyError(f"no parameter {nm!r} in the posterior; parameters: {', '.join(df.columns[2:])}")
        out[nm] = df[nm].to_numpy().reshape(post.chains, post.ndraws)
    return out


def _min_ess(draws: dict) -> dict:
    from .diagnostics import ess_bulk, ess_tail

    out = {}
    for k, v in draws.items():
        e = min(float(ess_bulk(v)), float(ess_tail(v)))
        out[k] = e if np.isfinite(e) else 0.0
    return out


def sbc(formula, simulate, n_rep: int, *, priors=None, L: int = 99, draws: int = 1000, warmup: int = 500,
        max_draws: int | None = None, seed: int = 0, **fit_kw) -> SBCResult:
    """Simulation-based calibration of a model fitted by ``ml.bayes``.

    Each replication calls ``simulate(rng)`` for true parameter values drawn
    from the prior and a data set simulated from the model given them, fits
    ``formula`` to the data with one chain, and ranks each true value among
    ``L`` evenly spaced posterior draws. When the smallest effective sample
    size (bulk or tail) of the ranked parameters is below ``L``, the model is
    refitted with a fresh seed and twice the draws (up to ``max_draws``), as
    Talts et al. (2018) recommend, so that the kept draws are roughly
    independent.

    Parameters
    ----------
    formula : str
        The model's formula, as given to ``ml.bayes``.
    simulate : callable
        ``simulate(rng) -> (true_values, data)``: ``rng`` is a
        ``numpy.random.Generator``; ``true_values`` maps posterior parameter
        names (``"b_Intercept"``, ``"sd_g__Intercept"``, ``"sigma"``, or a
        random effect ``"r_g[1,Intercept]"`` as ``draws_df(ranef=True)`` names
        it) to the values the data were simulated with. The parameters must be
        drawn from the same priors as ``priors`` and on the same scale: the
        ``Intercept`` prior is on the intercept at the predictors' means
        unless ``center=False`` is passed (``b_Intercept`` is always the raw
        intercept).
    n_rep : int
        Number of replications.
    priors : dict, optional
        The ``priors=`` of ``ml.bayes``; give every prior explicitly (the
        defaults are scaled to the data, so the simulation cannot follow them).
    L : int, default 99
        Posterior draws each rank is taken among (ranks lie in ``0 .. L``).
    draws, warmup : int
        Draws and warmup iterations of the single chain of each fit.
    max_draws : int, optional
        Most draws of a refit; default ``4 * draws``.
    seed : int, default 0
        Seeds the simulations and the fits: the same seed gives the same result.
    **fit_kw
        Passed to ``ml.bayes`` (``family``, ``sampler``, ``center``,
        ``target_accept``, ...).

    Returns
    -------
    SBCResult
        ``result.uniformity()`` tests the ranks of each parameter.

    Examples
    --------
    >>> import multilevel as ml, pandas as pd
    >>> P = ml.priors
    >>> priors = {"Intercept": P.normal(0, 1), "b": P.normal(0, 1), "sd": P.half_normal(1),
    ...           "sigma": P.exponential(1)}
    >>> g = np.repeat(np.arange(1, 11), 5)
    >>> x = np.random.default_rng(0).normal(size=50)
    >>> def simulate(rng):
    ...     b0, b1, tau, sigma = rng.normal(), rng.normal(), abs(rng.normal()), rng.exponential()
    ...     u = rng.normal(0, tau, 10)
    ...     y = b0 + b1 * x + u[g - 1] + rng.normal(0, sigma, 50)
    ...     truth = {"b_Intercept": b0, "b_x": b1, "sd_g__Intercept": tau, "sigma": sigma}
    ...     return truth, pd.DataFrame({"y": y, "x": x, "g": g})
    >>> res = sbc("y ~ x + (1 | g)", simulate, 200, priors=priors, center=False)  # doctest: +SKIP
    >>> res.uniformity()                                                          # doctest: +SKIP
    """
    from .checks import SamplerWarning
    from .fit import bayes

    n_rep = int(n_rep)
    L = int(L)
    if n_rep < 1 or L < 1:
        raise ValueError("n_rep and L must be positive")
    if draws < L:
        raise ValueError(f"draws ({draws}) must be at least L ({L})")
    max_draws = 4 * draws if max_draws is None else max(int(max_draws), draws)
    for k in ("chains", "draws", "warmup", "seed", "progress", "priors"):
        if k in fit_kw:
            raise TypeError(f"{k!r} is set by sbc, not passed through to ml.bayes")
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    ranks, esses, truths, used, divs = [], [], [], [], []
    for _ in range(n_rep):
        truth, data = simulate(rng)
        truth = {k: float(v) for k, v in truth.items()}
        d = draws
        while True:
            fit_seed = int(rng.integers(2**31 - 1))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SamplerWarning)
                post = bayes(formula, data, priors=priors, chains=1, draws=d, warmup=warmup, seed=fit_seed,
                             progress=False, **fit_kw)
            dr = _draws_of(post, truth)
            ess = _min_ess(dr)
            if min(ess.values()) >= L or d >= max_draws:
                break
            d = min(2 * d, max_draws)
        ranks.append(sbc_ranks(truth, dr, L=L, seed=int(rng.integers(2**31 - 1))))
        esses.append(ess)
        truths.append(truth)
        used.append(d)
        divs.append(int(np.sum(post.stats["diverging"])))
    return SBCResult(ranks=pd.DataFrame(ranks), L=L, ess=pd.DataFrame(esses), draws=np.array(used),
                     divergences=np.array(divs), seconds=time.perf_counter() - t0,
                     true_values=pd.DataFrame(truths))
