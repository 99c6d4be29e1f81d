"""Posterior predictive checks in numbers: test statistics of replicated data and their p values.

``post.ppc_stats()`` draws replicated data sets from the posterior
predictive distribution (brms's ``posterior_predict``), computes test
statistics of each (the mean, the standard deviation, the proportion of
zeros, ..., overall or per group as bayesplot's ``ppc_stat`` and
``ppc_stat_grouped``) and compares them with the observed data's: the
posterior predictive p value ``P(T(y_rep) >= T(y))`` (Gelman et al.,
*Bayesian Data Analysis*, ch. 6) near 0 or 1 says that the model does not
reproduce that feature of the data. ``post.loo_pit()`` gives ArviZ's
leave-one-out probability integral transform (uniform for a calibrated model).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ..arguments import as_probability, short_repr

__all__ = ["STATISTICS", "ppc_stats", "loo_pit"]

STATISTICS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "mean": lambda y: np.mean(y, axis=-1),
    "sd": lambda y: np.std(y, axis=-1, ddof=1),
    "median": lambda y: np.median(y, axis=-1),
    "min": lambda y: np.min(y, axis=-1),
    "max": lambda y: np.max(y, axis=-1),
    "zeros": lambda y: np.mean(y == 0, axis=-1),
}


def _statistics(stats) -> list[tuple[str, Callable]]:
    pair = isinstance(stats, tuple) and len(stats) == 2 and callable(stats[1])
    if isinstance(stats, str) or pair:
        stats = [stats]
    out = []
    for s in stats:
        if isinstance(s, str):
            if s not in STATISTICS:
                raise ValueError(f"unknown statistic {s!r}; choose from {', '.join(STATISTICS)} or "
                                 "give a (name, function) pair")
            out.append((s, STATISTICS[s]))
        elif isinstance(s, tuple) and len(s) == 2 and isinstance(s[0], str) and callable(s[1]):
            name, f = s
            out.append((name, lambda y, f=f: np.apply_along_axis(f, -1, y)))
        else:
            raise TypeError(f"a statistic is a name ({', '.join(STATISTICS)}) or a (name, function) "
                            f"pair, not {short_repr(s)}")
    return out


def ppc_stats(post, stats=("mean", "sd"), group: str | None = None, ndraws: int | None = None,
              seed=None, prob: float = 0.95) -> pd.DataFrame:
    """Test statistics of replicated data against the observed data's (see the module).

    Parameters
    ----------
    post : Posterior
    stats : str, (name, function) or a list of them
        Statistics of a data set: ``"mean"``, ``"sd"``, ``"median"``,
        ``"min"``, ``"max"``, ``"zeros"`` (the proportion of zeros), or a
        function of a 1-d array.
    group : str, optional
        A column of the data: the statistics per group (bayesplot's
        ``ppc_stat_grouped``).
    ndraws : int, optional
        Replicated data sets (default: every draw).
    seed : int, optional
    prob : float
        Level of the replicated statistics' central interval.

    Returns
    -------
    DataFrame
        One row per statistic (and group): ``observed``, the replicated
        statistics' ``mean``, ``lower`` and ``upper``, and ``p_value``.

    Examples
    --------
    >>> import multilevel as ml
    >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
    ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
    >>> t = post.ppc_stats(seed=1)
    >>> list(t.columns), list(t.index)
    (['observed', 'mean', 'lower', 'upper', 'p_value'], ['mean', 'sd'])
    """
    funcs = _statistics(stats)
    prob = as_probability(prob, "prob")
    yrep = post.posterior_predictive(ndraws=ndraws, seed=seed)
    d = post.model.design
    y = np.asarray(d.y, dtype=float)
    if group is None:
        blocks = [(None, np.arange(y.size))]
    else:
        data = d.data
        if data is None or group not in data.columns:
            raise ValueError(f"group must name a column of the fitted data, not {short_repr(group)}")
        codes, labels = pd.factorize(data[group].astype(object), sort=False)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
        blocks = [(lab, order[bounds[j]:bounds[j + 1]]) for j, lab in enumerate(labels)]
    rows = []
    a = (1 - prob) / 2
    for lab, idx in blocks:
        for name, f in funcs:
            obs = float(f(y[idx]))
            rep = np.asarray(f(yrep[:, idx]), dtype=float)
            row = {"statistic": name, "observed": obs, "mean": float(np.mean(rep)),
                   "lower": float(np.quantile(rep, a)), "upper": float(np.quantile(rep, 1 - a)),
                   "p_value": float(np.mean(rep >= obs))}
            if group is not None:
                row = {group: lab, **row}
            rows.append(row)
    out = pd.DataFrame(rows)
    return out.set_index("statistic" if group is None else [group, "statistic"])


def loo_pit(post, seed=None) -> np.ndarray:
    """ArviZ's leave-one-out PIT of each observation (``az.loo_pit``), from the posterior
    predictive draws and the pointwise log-likelihood."""
    import arviz as az

    idata = post.to_arviz(posterior_predictive=True, seed=seed)
    return np.asarray(az.loo_pit(idata, y="y"))
