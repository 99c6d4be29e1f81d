"""Convergence diagnostics and posterior summaries of MCMC draws, as pure array functions.

Every function takes draws ``x`` of shape ``(chains, draws)`` or
``(chains, draws, *shape)`` and works column by column over the trailing
dimensions: the result has shape ``shape`` (a float for 2-D input), or
``shape + (2,)`` for the intervals.  A 1-D array is read as a single chain.

Two families of figures are provided, each computed the way its reference
software computes it:

* Stan / ArviZ / posterior (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021,
  "Rank-normalization, folding, and localization: an improved R-hat for
  assessing convergence of MCMC", Bayesian Analysis 16(2)): :func:`rhat`,
  :func:`ess_bulk`, :func:`ess_tail`, :func:`mcse_mean`, :func:`mcse_sd`.
  These agree with ``arviz.rhat``, ``arviz.ess(method="bulk" / "tail")`` and
  ``arviz.mcse(method="mean" / "sd")`` to rounding error (see
  :func:`ess_tail` for one exception), and with R's posterior package.
* coda / runjags (what JAGS users see): :func:`psrf` (``coda::gelman.diag``),
  :func:`ess_coda` (``coda::effectiveSize``), :func:`autocorr`
  (``coda::autocorr.diag``), :func:`hpd_interval` (``coda::HPDinterval``) and
  :func:`mode_estimate` (runjags' ``Mode`` column).

Columns holding a NaN give NaN.
"""

from __future__ import annotations

import numpy as np
from scipy import special
from scipy.fft import next_fast_len

__all__ = [
    "autocorr",
    "ess_bulk",
    "ess_coda",
    "ess_tail",
    "eti_interval",
    "hpd_interval",
    "mcse_mean",
    "mcse_sd",
    "mode_estimate",
    "psrf",
    "rhat",
]

# Columns are processed in blocks so that the FFT work arrays stay near this many numbers.
_BLOCK_ELEMENTS = 1 << 21


# ----------------------------------------------------------------------------- shapes


def _chains(x) -> tuple[np.ndarray, tuple[int, ...]]:
    """``x`` as a float array (chains, draws, columns) and the trailing shape."""
    a = np.asarray(x, dtype=float)
    if a.ndim == 0:
        raise ValueError("draws must have shape (chains, draws) or (chains, draws, *shape)")
    if a.ndim == 1:
        a = a[np.newaxis, :]
    shape = a.shape[2:]
    return a.reshape(a.shape[0], a.shape[1], -1), shape


def _out(values: np.ndarray, shape: tuple[int, ...]):
    """Values per column reshaped to the parameter's shape; a float for a scalar parameter."""
    values = np.asarray(values, dtype=float)
    if shape == ():
        return float(values.reshape(-1)[0])
    return values.reshape(shape + values.shape[1:])


def _finite(a: np.ndarray) -> np.ndarray:
    """Columns (last axis) whose draws are all finite."""
    return np.isfinite(a).all(axis=(0, 1))


def _pooled(a: np.ndarray) -> np.ndarray:
    """All chains stacked: (chains * draws, columns)."""
    return a.reshape(-1, a.shape[2])


def _split(a: np.ndarray) -> np.ndarray:
    """Each chain cut in two halves (the middle draw of an odd length dropped)."""
    half = a.shape[1] // 2
    return np.concatenate([a[:, :half], a[:, a.shape[1] - half:]], axis=0)


def _blocks(k: int, per_column: int):
    """Slices over ``k`` columns in blocks of bounded size."""
    step = max(1, _BLOCK_ELEMENTS // max(per_column, 1))
    for start in range(0, k, step):
        yield slice(start, min(k, start + step))


# ---------------------------------------------------------------- Stan / ArviZ figures


def _average_ranks(rows: np.ndarray) -> np.ndarray:
    """Ranks 1..m along the last axis, ties given their average rank (as ``rankdata``)."""
    m = rows.shape[-1]
    order = np.argsort(rows, axis=-1)
    ordered = np.take_along_axis(rows, order, axis=-1)
    ranks = np.empty(rows.shape)
    if m == 0:
        return ranks
    position = np.arange(m, dtype=float)
    tied = ordered[..., 1:] == ordered[..., :-1]
    if tied.any():
        starts = np.concatenate([np.zeros(rows.shape[:-1] + (1,), bool), tied], axis=-1)
        ends = np.concatenate([tied, np.zeros(rows.shape[:-1] + (1,), bool)], axis=-1)
        first = np.maximum.accumulate(np.where(starts, 0.0, position), axis=-1)
        last = np.flip(np.minimum.accumulate(np.flip(np.where(ends, m - 1.0, position),
                                                     axis=-1), axis=-1), axis=-1)
        value = (first + last) / 2 + 1
    else:
        value = np.broadcast_to(position + 1, rows.shape)
    np.put_along_axis(ranks, order, value, axis=-1)
    return ranks


def _z_scale(a: np.ndarray) -> np.ndarray:
    """Rank-normalise each column over all chains (average ranks, Blom's offset 3/8)."""
    c, n, k = a.shape
    ranks = _average_ranks(np.ascontiguousarray(a.reshape(c * n, k).T))
    return special.ndtri((ranks.T - 0.375) / (c * n + 0.25)).reshape(c, n, k)


def _rhat_basic(a: np.ndarray) -> np.ndarray:
    """Gelman-Rubin R-hat of chains that have already been split: (columns,)."""
    n = a.shape[1]
    chain_mean = a.mean(axis=1)
    within = a.var(axis=1, ddof=1).mean(axis=0)
    between = n * chain_mean.var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def _autocov(a: np.ndarray) -> np.ndarray:
    """Autocovariances at every lag along axis 1 (denominator n), through the FFT."""
    n = a.shape[1]
    m = next_fast_len(2 * n)
    centred = a - a.mean(axis=1, keepdims=True)
    f = np.fft.rfft(centred, n=m, axis=1)
    f *= np.conjugate(f)
    return np.fft.irfft(f, n=m, axis=1)[:, :n] / n


def _ess_block(a: np.ndarray) -> np.ndarray:
    """Effective sample size of (chains, draws, columns) with Geyer's initial monotone sequence.

    The autocorrelations are combined across chains as in Stan; the sum of
    autocorrelation pairs is truncated at the first non-positive pair and made
    monotone (Geyer 1992), exactly as ``arviz.stats.diagnostics._ess``.
    """
    c, n, k = a.shape
    size = c * n
    constant = (a.max(axis=(0, 1)) - a.min(axis=(0, 1))) < np.finfo(float).resolution
    acov = _autocov(a).mean(axis=0)                      # (n, k), mean over chains
    mean_var = acov[0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if c > 1:
        var_plus = var_plus + a.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var - acov) / var_plus         # (n, k)
    rho[0] = 1.0
    # Pairs (rho[2j], rho[2j+1]); pair j >= 1 is looked at only while 2j < n - 2.
    n_pairs = max(0, (n - 3) // 2) + 1
    even = rho[0:2 * n_pairs:2]
    odd = rho[1:2 * n_pairs:2]
    pair = even + odd                                    # (n_pairs, k)
    nonpositive = ~(pair > 0)
    stop = np.where(nonpositive.any(axis=0), nonpositive.argmax(axis=0), n_pairs - 1)
    cols = np.arange(k)
    # Initial monotone sequence: running minimum of the pair sums before the stop.
    monotone = np.minimum.accumulate(pair, axis=0)
    before = np.arange(n_pairs)[:, None] < stop[None, :]
    main = np.where(before, monotone, 0.0).sum(axis=0)
    last_even = even[stop, cols]
    last_kept = (last_even > 0) | (pair[stop, cols] >= 0)
    tau = -1.0 + 2.0 * main + np.where(last_kept, last_even, 0.0)
    tau = np.maximum(tau, 1.0 / np.log10(size))
    ess = size / tau
    ess[np.isnan(rho).any(axis=0)] = np.nan
    ess[constant] = size
    return ess


def _ess_core(a: np.ndarray) -> np.ndarray:
    """:func:`_ess_block` over column blocks, NaN for columns with non-finite draws."""
    c, n, k = a.shape
    out = np.full(k, np.nan)
    if n < 2:
        return out
    ok = _finite(a)
    for s in _blocks(k, 4 * c * n):
        idx = np.flatnonzero(ok[s]) + s.start
        if idx.size:
            out[idx] = _ess_block(a[:, :, idx])
    return out


def rhat(x):
    """Rank-normalised split R-hat (Vehtari et al. 2021), as Stan, posterior and ArviZ.

    The larger of the split R-hat of the rank-normalised draws (bulk) and of the
    rank-normalised draws folded about the median (tails).  Values near 1 mean
    the chains agree; 1.01 is the usual threshold.

    Parameters
    ----------
    x : array_like
        Draws, shape ``(chains, draws)`` or ``(chains, draws, *shape)``.
        A single chain is split in two halves as by Stan and posterior
        (``arviz.rhat`` returns NaN for it).

    Returns
    -------
    float or numpy.ndarray
        R-hat per parameter; NaN with fewer than 4 draws or for a constant column.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> round(rhat(rng.normal(size=(4, 1000))), 3)
    1.002
    >>> x = rng.normal(size=(4, 1000)) + np.arange(4)[:, None]   # chains disagree
    >>> bool(rhat(x) > 1.5)
    True
    """
    a, shape = _chains(x)
    if a.shape[1] < 4:
        return _out(np.full(a.shape[2], np.nan), shape)
    s = _split(a)
    bulk = _rhat_basic(_z_scale(s))
    folded = np.abs(s - np.median(_pooled(s), axis=0))
    tail = _rhat_basic(_z_scale(folded))
    out = np.maximum(bulk, tail)
    out[~_finite(a)] = np.nan
    return _out(out, shape)


def ess_bulk(x):
    """Bulk effective sample size: ESS of the rank-normalised split chains, as Stan and ArviZ.

    Parameters
    ----------
    x : array_like
        Draws, shape ``(chains, draws)`` or ``(chains, draws, *shape)``.

    Returns
    -------
    float or numpy.ndarray
        Bulk-ESS per parameter (NaN with fewer than 4 draws).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> iid = rng.normal(size=(4, 1000))
    >>> 3500 < ess_bulk(iid) < 4500
    True
    >>> sticky = np.cumsum(rng.normal(size=(4, 1000)), axis=1)   # a random walk
    >>> bool(ess_bulk(sticky) < 100)
    True
    """
    a, shape = _chains(x)
    if a.shape[1] < 4:
        return _out(np.full(a.shape[2], np.nan), shape)
    out = _ess_core(_z_scale(_split(a)))
    out[~_finite(a)] = np.nan
    return _out(out, shape)


def ess_tail(x, prob: tuple[float, float] = (0.05, 0.95)):
    """Tail effective sample size: the smaller ESS of the 5% and 95% quantile indicators.

    Parameters
    ----------
    x : array_like
        Draws, shape ``(chains, draws)`` or ``(chains, draws, *shape)``.
    prob : tuple of float, default (0.05, 0.95)
        The two quantiles whose indicator variables ``x <= q`` are assessed.

    Returns
    -------
    float or numpy.ndarray
        Tail-ESS per parameter, as ``arviz.ess(method="tail")`` and Stan.

    Notes
    -----
    The quantiles are R's type 7 (as posterior computes them), exact when
    they fall on a draw.  ArviZ interpolates with ``mquantiles``, which can
    land one rounding error below such a draw and so leave it out of the
    indicator; on those rare inputs (``(n - 1) * prob`` a whole number) the
    two can differ slightly.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> 3000 < ess_tail(rng.normal(size=(4, 1000))) < 5000
    True
    """
    a, shape = _chains(x)
    k = a.shape[2]
    if a.shape[1] < 4:
        return _out(np.full(k, np.nan), shape)
    ok = _finite(a)
    out = np.full(k, np.inf)
    pooled = _pooled(a)
    for p in prob:
        q = np.quantile(np.where(ok, pooled, 0.0), p, axis=0)
        out = np.minimum(out, _ess_core(_split((a <= q).astype(float))))
    out[~ok] = np.nan
    return _out(out, shape)


def _ess_split(a: np.ndarray) -> np.ndarray:
    """ESS of the split chains without rank normalisation (ArviZ's ``ess(method="mean")``)."""
    return _ess_core(_split(a))


def mcse_mean(x):
    """Monte Carlo standard error of the posterior mean: sd / sqrt(ESS of the mean).

    Parameters
    ----------
    x : array_like
        Draws, shape ``(chains, draws)`` or ``(chains, draws, *shape)``.

    Returns
    -------
    float or numpy.ndarray
        As ``arviz.mcse(method="mean")``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> round(mcse_mean(rng.normal(size=(4, 1000))), 3)   # about 1 / sqrt(4000)
    0.016
    """
    a, shape = _chains(x)
    if a.shape[1] < 4:
        return _out(np.full(a.shape[2], np.nan), shape)
    sd = _pooled(a).std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _out(sd / np.sqrt(_ess_split(a)), shape)


def mcse_sd(x):
    """Monte Carlo standard error of the posterior sd, as ``arviz.mcse(method="sd")``.

    The variance of the squared deviations, divided by their effective sample
    size, carried to the standard deviation by the delta method.

    Parameters
    ----------
    x : array_like
        Draws, shape ``(chains, draws)`` or ``(chains, draws, *shape)``.

    Returns
    -------
    float or numpy.ndarray
        MCSE of the sd per parameter.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> round(mcse_sd(rng.normal(size=(4, 1000))), 3)   # near 1 / sqrt(2 * 4000) = 0.011
    0.012
    """
    a, shape = _chains(x)
    if a.shape[1] < 4:
        return _out(np.full(a.shape[2], np.nan), shape)
    sq = (a - _pooled(a).mean(axis=0)) ** 2
    ess = _ess_split(sq)
    evar = _pooled(sq).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        varvar = ((_pooled(sq) ** 2).mean(axis=0) - evar**2) / ess
        return _out(np.sqrt(varvar / evar / 4), shape)


# ------------------------------------------------------------------ coda / runjags figures


def autocorr(x, lag: int = 10):
    """Autocorrelation at one lag, averaged over chains, as ``coda::autocorr.diag``.

    Each chain's sample autocorrelation (centred on the chain's mean, both sums
    divided by the chain length, as R's ``acf``) is computed and the chains are
    averaged; runjags prints this at lag 10 as ``AC.10``.

    Parameters
    ----------
    x : array_like
        Draws, shape ``(chains, draws)`` or ``(chains, draws, *shape)``.
    lag : int, default 10
        The lag, in stored draws.

    Returns
    -------
    float or numpy.ndarray
        NaN when ``lag`` is not below the number of draws.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> e = rng.normal(size=(2, 5000))
    >>> ar = np.zeros_like(e)
    >>> for t in range(1, 5000):
    ...     ar[:, t] = 0.9 * ar[:, t - 1] + e[:, t]
    >>> round(autocorr(ar, lag=1), 1)
    0.9
    >>> round(autocorr(e, lag=10), 1)
    0.0
    """
    lag = int(lag)
    if lag < 0:
        raise ValueError(f"lag must be non-negative, got {lag}")
    a, shape = _chains(x)
    n = a.shape[1]
    if lag >= n:
        return _out(np.full(a.shape[2], np.nan), shape)
    centred = a - a.mean(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = (centred[:, : n - lag] * centred[:, lag:]).sum(axis=1) / (centred**2).sum(axis=1)
    return _out(r.mean(axis=0), shape)


def _gelman_transform(a: np.ndarray) -> np.ndarray:
    """coda's ``gelman.transform``: logit for columns inside (0, 1), log for positive ones."""
    a = a.copy()
    lo = a.min(axis=(0, 1))
    hi = a.max(axis=(0, 1))
    logit = (lo > 0) & (hi < 1)
    log = (lo > 0) & ~logit
    a[:, :, logit] = np.log(a[:, :, logit] / (1 - a[:, :, logit]))
    a[:, :, log] = np.log(a[:, :, log])
    return a


def psrf(x, transform: bool = False):
    """Gelman-Rubin potential scale reduction factor: ``coda::gelman.diag``'s point estimate.

    The classic (unsplit, not rank-normalised) statistic of Gelman & Rubin
    (1992) with Brooks & Gelman's (1998) degrees-of-freedom correction
    ``sqrt((d + 3) / (d + 1) * R2)``, computed over whole chains
    (``autoburnin = FALSE``), which is what runjags prints as ``psrf``.

    Parameters
    ----------
    x : array_like
        Draws, shape ``(chains, draws)`` or ``(chains, draws, *shape)``, at least 2 chains.
    transform : bool, default False
        Apply coda's ``gelman.transform`` first (log of positive parameters,
        logit of those inside (0, 1)).  runjags instead picks log or logit for
        each parameter by a randomised normality test, so for skewed positive
        parameters its printed psrf can differ a little from both.

    Returns
    -------
    float or numpy.ndarray
        The point estimate per parameter.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> round(psrf(rng.normal(size=(4, 1000))), 2)
    1.0
    >>> bool(psrf(rng.normal(size=(4, 1000)) + np.arange(4)[:, None]) > 1.5)
    True
    """
    a, shape = _chains(x)
    m, n, _ = a.shape
    if m < 2:
        raise ValueError("psrf needs at least two chains")
    if transform:
        a = _gelman_transform(a)
    s2 = a.var(axis=1, ddof=1)                           # (m, k) chain variances
    xbar = a.mean(axis=1)                                # (m, k) chain means
    w = s2.mean(axis=0)
    b = n * xbar.var(axis=0, ddof=1)
    muhat = xbar.mean(axis=0)
    var_w = s2.var(axis=0, ddof=1) / m
    var_b = 2 * b**2 / (m - 1)

    def cov(u, v):
        return ((u - u.mean(axis=0)) * (v - v.mean(axis=0))).sum(axis=0) / (m - 1)

    cov_wb = (n / m) * (cov(s2, xbar**2) - 2 * muhat * cov(s2, xbar))
    v = (n - 1) * w / n + (1 + 1 / m) * b / n
    var_v = ((n - 1) ** 2 * var_w + (1 + 1 / m) ** 2 * var_b
             + 2 * (n - 1) * (1 + 1 / m) * cov_wb) / n**2
    with np.errstate(divide="ignore", invalid="ignore"):
        df_v = 2 * v**2 / var_v
        df_adj = (df_v + 3) / (df_v + 1)
        r2 = (n - 1) / n + (1 + 1 / m) * (1 / n) * (b / w)
        out = np.sqrt(df_adj * r2)
    return _out(out, shape)


def _levinson(r: np.ndarray):
    """Yule-Walker fits of every order by the Levinson-Durbin recursion, column-wise.

    ``r`` holds autocovariances at lags ``0..p`` (rows).  Returns the innovation
    variances for orders ``0..p`` and the sums of the AR coefficients per order.
    """
    p, k = r.shape[0] - 1, r.shape[1]
    variances = np.empty((p + 1, k))
    sums = np.zeros((p + 1, k))
    variances[0] = r[0]
    phi = np.zeros((p, k))
    for order in range(1, p + 1):
        prev = phi[: order - 1]
        num = r[order] - (prev * r[order - 1:0:-1]).sum(axis=0)
        reflection = num / variances[order - 1]
        phi[: order - 1] = prev - reflection * prev[::-1]
        phi[order - 1] = reflection
        variances[order] = variances[order - 1] * (1 - reflection**2)
        sums[order] = phi[:order].sum(axis=0)
    return variances, sums


def _spectrum0_ar(series: np.ndarray) -> np.ndarray:
    """coda's ``spectrum0.ar``: spectral density at frequency zero from an AR fit, per column.

    R's ``ar(x, aic = TRUE)``: Yule-Walker estimates, order chosen by AIC up to
    ``min(n - 1, floor(10 log10 n))``; the density is
    ``var.pred / (1 - sum(ar))^2``.  A column that a straight line fits exactly
    gets 0, as in coda.
    """
    n, k = series.shape
    out = np.zeros(k)
    # coda first regresses on 1..n and gives 0 when the residual sd is all.equal to 0.
    t = np.arange(1, n + 1, dtype=float)
    tc = t - t.mean()
    centred = series - series.mean(axis=0)
    slope = (tc @ centred) / (tc @ tc)
    resid = centred - np.outer(tc, slope)
    flat = resid.std(axis=0, ddof=1) <= 1.5e-8
    live = np.flatnonzero(~flat)
    if live.size == 0:
        return out
    x = centred[:, live]
    p = min(n - 1, int(np.floor(10 * np.log10(n))))
    r = np.stack([(x[: n - h] * x[h:]).sum(axis=0) / n for h in range(p + 1)])
    variances, sums = _levinson(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        aic = n * np.log(variances) + 2 * np.arange(p + 1)[:, None]
    order = np.argmin(aic, axis=0)
    cols = np.arange(live.size)
    var_pred = variances[order, cols] * n / (n - (order + 1))
    out[live] = var_pred / (1 - sums[order, cols]) ** 2
    return out


def ess_coda(x):
    """Effective sample size from the spectral density at zero: ``coda::effectiveSize``.

    For each chain, ``n * var(x) / S(0)`` with ``S(0)`` from an autoregressive
    fit chosen by AIC (coda's ``spectrum0.ar``); the chains' figures are summed,
    as coda does for an ``mcmc.list``.  runjags prints this as ``SSeff``.

    Parameters
    ----------
    x : array_like
        Draws, shape ``(chains, draws)`` or ``(chains, draws, *shape)``, at least 2 draws per chain.

    Returns
    -------
    float or numpy.ndarray
        The effective sample size per parameter; 0 for a constant parameter.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> 3500 < ess_coda(rng.normal(size=(4, 1000))) < 4500
    True
    >>> ess_coda(np.ones((2, 100)))
    0.0
    """
    a, shape = _chains(x)
    c, n, k = a.shape
    if n < 2:
        raise ValueError("ess_coda needs at least 2 draws per chain")
    ok = _finite(a)
    series = np.moveaxis(np.where(ok, a, 0.0), 0, 1).reshape(n, c * k)
    spec = _spectrum0_ar(series)
    var = series.var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_chain = np.where(spec == 0, 0.0, n * var / spec)
    out = per_chain.reshape(c, k).sum(axis=0)
    out[~ok] = np.nan
    return _out(out, shape)


def hpd_interval(x, prob: float = 0.95):
    """Highest posterior density interval: the shortest interval of the pooled draws.

    As ``coda::HPDinterval`` on the chains combined (what runjags reports as
    ``Lower95`` / ``Upper95``): among the intervals between sorted draws ``i`` and
    ``i + g``, with ``g = round(n * prob)``, the first of the shortest.

    Parameters
    ----------
    x : array_like
        Draws, shape ``(chains, draws)`` or ``(chains, draws, *shape)``.
    prob : float, default 0.95
        The probability mass inside the interval, in (0, 1).

    Returns
    -------
    numpy.ndarray
        ``[lower, upper]`` in the last axis, shape ``shape + (2,)``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> lo, hi = hpd_interval(rng.exponential(size=(4, 2500)), prob=0.9)
    >>> float(lo) < 0.01, round(float(hi), 1)
    (True, 2.3)
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob}")
    a, shape = _chains(x)
    v = np.sort(_pooled(a), axis=0)
    n, k = v.shape
    if n < 2:
        raise ValueError("hpd_interval needs at least 2 draws")
    gap = max(1, min(n - 1, int(np.round(n * prob))))
    i = np.argmin(v[gap:] - v[: n - gap], axis=0)
    cols = np.arange(k)
    out = np.stack([v[i, cols], v[i + gap, cols]], axis=-1)
    out[~_finite(a)] = np.nan
    return out.reshape(shape + (2,))


def eti_interval(x, prob: float = 0.95):
    """Equal-tailed interval: the ``(1 -/+ prob) / 2`` quantiles of the pooled draws.

    Quantiles of R's default type 7 (linear interpolation), as brms and
    posterior's ``quantile2``.

    Parameters
    ----------
    x : array_like
        Draws, shape ``(chains, draws)`` or ``(chains, draws, *shape)``.
    prob : float, default 0.95
        The probability mass inside the interval, in (0, 1).

    Returns
    -------
    numpy.ndarray
        ``[lower, upper]`` in the last axis, shape ``shape + (2,)``.

    Examples
    --------
    >>> x = np.arange(1.0, 202.0).reshape(1, -1)      # 1, 2, ..., 201
    >>> eti_interval(x, prob=0.9)
    array([ 11., 191.])
    """
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob}")
    a, shape = _chains(x)
    q = np.quantile(_pooled(a), [(1 - prob) / 2, (1 + prob) / 2], axis=0)
    return np.moveaxis(q, 0, -1).reshape(shape + (2,))


def _shorth(sorted_column: np.ndarray) -> float:
    """modeest's ``shorth``: mean of the shortest half-sample (ties: their mean position)."""
    n = sorted_column.size
    k = int(np.ceil(n / 2)) - 1
    widths = sorted_column[k:] - sorted_column[: n - k]
    ties = np.flatnonzero(widths == widths.min())
    i = int(np.floor(ties.mean()))
    return float(sorted_column[i: i + k + 1].mean())


def mode_estimate(x) -> float | np.ndarray:
    """Posterior mode of the pooled draws, as runjags' ``Mode`` column.

    For integer-valued draws, the most frequent value (the smallest among
    equally frequent ones); otherwise the *shorth* estimator that runjags uses
    through ``modeest::mlv(method = "shorth")``: the mean of the shortest
    interval holding half of the draws.

    Parameters
    ----------
    x : array_like
        Draws, shape ``(chains, draws)`` or ``(chains, draws, *shape)``.

    Returns
    -------
    float or numpy.ndarray
        The mode per parameter.

    Examples
    --------
    >>> mode_estimate(np.array([[0, 1, 1, 2], [1, 3, 2, 1]]))
    1.0
    >>> rng = np.random.default_rng(1)
    >>> round(mode_estimate(rng.normal(3.0, 1.0, size=(4, 5000))), 1)
    3.0
    """
    a, shape = _chains(x)
    pooled = _pooled(a)
    out = np.full(pooled.shape[1], np.nan)
    for j in range(pooled.shape[1]):
        col = pooled[:, j]
        if col.size == 0 or not np.isfinite(col).all():
            continue
        if np.all(np.abs(col - np.round(col)) < np.sqrt(np.finfo(float).eps)):
            values, counts = np.unique(col, return_counts=True)
            out[j] = values[np.argmax(counts)]
        else:
            out[j] = _shorth(np.sort(col))
    return _out(out, shape)
