"""The statistics of the rows that a Bayesian model's defaults read, without the rows.

The default priors and the sampler's starting values follow the data's units:
the response's mean and SD, each fixed-effects column's SD and each random
effect's column SD (:mod:`multilevel.bayes.priors`). For data in parts (a Dask
DataFrame, Parquet files) they come from the summed cross-products of the two
passes (:mod:`multilevel.linalg.partial`), the same numbers as from the rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["RowMoments", "products_moments"]


@dataclass(frozen=True)
class RowMoments:
    """Moments of the rows used by a fit.

    Attributes
    ----------
    n : int
        Rows used.
    y_mean, y_sd : float
        Mean and sample SD (``ddof=1``, as R's ``sd``) of the response less
        its offset.
    x_mean, x_sd : ndarray (p,)
        Mean and sample SD of each fixed-effects column.
    z_sd : tuple of tuple
        Per random-effects term, the sample SD of each column, None for a
        constant column (an intercept), as
        :func:`~multilevel.bayes.priors.column_sds`.
    """

    n: int
    y_mean: float
    y_sd: float
    x_mean: np.ndarray
    x_sd: np.ndarray
    z_sd: tuple


def _sd(square_sum: np.ndarray, total: np.ndarray, n: int) -> np.ndarray:
    """Sample SDs from sums of squares and sums about a center (``ddof=1``)."""
    if n < 2:
        return np.zeros_like(square_sum)
    return np.sqrt(np.maximum(square_sum - total * total / n, 0.0) / (n - 1))


def products_moments(pp, keep: np.ndarray, terms) -> RowMoments:
    """The :class:`RowMoments` of the rows summed in ``pp``
    (:class:`~multilevel.linalg.partial.PartialProducts`), for the kept
    fixed-effects columns ``keep`` and the random-effects ``terms``.

    The columns are centred in the products (the unweighted triangular
    factors of the fixed-effects columns, each random-effects column's sum of
    squares about its mean), so the SDs keep their digits whatever the
    columns' offsets.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.linalg.partial import partial_products
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> m = products_moments(partial_products(d, (0,)), np.array([0, 1]), d.terms)
    >>> round(m.y_sd, 4) == round(float(d.y.std(ddof=1)), 4), m.x_sd.round(4).tolist(), m.z_sd[0][0]
    (True, [0.0, 2.8803], None)
    """
    n = int(pp.n_positive)               # (the rows of positive weight: the data)
    G = pp.r_xy.T @ pp.r_xy              # products of [1, X - m, y - m], unweighted
    sums = G[0]                           # column sums about the centers (n at the ones)
    P = G.shape[0]
    sd_all = _sd(np.diag(G)[1:], sums[1:], n)
    mean_all = pp.center_xy[1:] + sums[1:] / max(n, 1)
    x_mean, x_sd = mean_all[:P - 2][keep], sd_all[:P - 2][keep]
    z_sd = []
    for t, mean, m2 in zip(terms, pp.z_mean, pp.z_m2):
        sd = np.sqrt(np.maximum(m2, 0.0) / (n - 1)) if n > 1 else np.zeros_like(m2)
        rms = np.sqrt(m2 / max(n, 1) + mean * mean)
        z_sd.append(tuple(float(s) if name != "(Intercept)" and np.isfinite(s) and s > 1e-12 * r else None
                          for name, s, r in zip(t.columns, sd, rms)))
    return RowMoments(n=n, y_mean=float(mean_all[P - 2]), y_sd=float(sd_all[P - 2]), x_mean=x_mean,
                      x_sd=x_sd, z_sd=tuple(z_sd))
