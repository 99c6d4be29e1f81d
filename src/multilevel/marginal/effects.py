"""Effect grids: a predictor's effect across its range, by other variables (for effect plots).

``ml.effects(fit, "x", by="g")`` is a table of marginal means over a grid of
``x`` (evenly spaced over its observed range) for each level of the
by-variables, the other predictors held at their means or averaged over, as
emmeans averages them, with intervals from the fit's covariance (lmer,
glmer) or from the draws (posteriors). It is what R users draw with the
effects package, ggeffects or ``emmip``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .emmeans import emmeans
from .estimates import estimates
from .grid import _formula_variables
from .table import EMMTable

__all__ = ["effects", "by_values"]

#: a numeric by-variable with at most this many distinct values takes them all
_FEW = 6


def by_values(data: pd.DataFrame, name: str) -> list[float]:
    """The values a numeric by-variable takes in an effect grid: all of a few
    distinct values (0/1 indicators), else the mean and the mean +- one SD.

    Examples
    --------
    >>> by_values(pd.DataFrame({"b": [0, 1, 1, 0]}), "b")
    [0.0, 1.0]
    >>> [round(v, 2) for v in by_values(pd.DataFrame({"x": np.arange(10.0)}), "x")]
    [1.47, 4.5, 7.53]
    """
    x = np.asarray(data[name], dtype=float)
    x = x[np.isfinite(x)]
    distinct = np.unique(x)
    if distinct.size <= _FEW:
        return [float(v) for v in distinct]
    m, s = float(x.mean()), float(x.std(ddof=1))
    return [m - s, m, m + s]


def effects(fit, x: str, by=None, at: dict | None = None, n: int = 50, type: str = "response",
            level: float = 0.95, df: str | None = None) -> EMMTable:
    """The effect of ``x`` over a grid of its values, for each level of ``by``.

    Parameters
    ----------
    fit : LmerResult, GlmerResult, GlsResult or Posterior
    x : str
        A predictor of the fixed part: a numeric one gets ``n`` evenly spaced
        values over its observed range, a factor its levels.
    by : str or list of str, optional
        Variables whose combinations get their own curve (factors: their
        levels; numeric: their values when there are a few, else the mean and
        the mean +- one SD; or the values given in ``at``).
    at : dict, optional
        Values for any predictor (those of ``x`` and ``by`` included).
    n : int
        Grid points for a numeric ``x``.
    type : {"response", "link"}
        The scale of the curves (the response scale by default); with zero
        inflation, the count model's mean (as :func:`emmeans`).
    level : float
        Interval level (HPD intervals for a posterior).
    df : str, optional
        Degrees-of-freedom method for lmer fits (see :func:`emmeans`).

    Returns
    -------
    EMMTable
        One row per grid point: the variables, the estimate and its interval.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("weight ~ time * treatment + (1 | girl)", ml.datasets.load("anorexia"))
    >>> eff = ml.effects(fit, "time", by="treatment", n=2)
    >>> eff[["time", "treatment", "emmean"]].round(1).to_numpy().tolist()[:2]
    [[1.0, 'CBT', 82.7], [2.0, 'CBT', 85.7]]
    """
    if not isinstance(x, str):
        raise TypeError("x must name one predictor of the fixed part")
    by = [] if by is None else ([by] if isinstance(by, str) else list(by))
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be a whole number of grid points, 2 or more, not {n!r}")
    at = dict(at or {})
    design = estimates(fit, df).design
    names, levels = _formula_variables(design)
    for v in [x, *by]:
        if v not in names:
            raise ValueError(f"{v!r} is not a predictor of the fixed part; the model's predictors "
                             f"are {', '.join(names) or 'none'}")
    data = design.data
    if levels[x] is None and x not in at:
        values = np.asarray(data[x], dtype=float)
        at[x] = np.linspace(np.nanmin(values), np.nanmax(values), int(n))
    for v in by:
        if levels[v] is None and v not in at:
            at[v] = by_values(data, v)
    return emmeans(fit, [x], by=by or None, at=at, type=type, level=level, df=df)
