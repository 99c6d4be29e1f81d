"""Each group's regression line over the data, and complete / no / partial pooling side by side."""

from __future__ import annotations

import numpy as np

from ..results.effects import group_terms
from ._mpl import axes_list, pyplot

__all__ = ["group_lines", "pooling"]


def _check_x(fit, x, group):
    from ..arguments import short_repr

    if not hasattr(fit, "group_coefficients"):
        raise TypeError(f"fit must be an lmer or glmer fit, not {short_repr(fit)}")
    if not isinstance(x, str):
        raise TypeError(f"x must be the name of a level-1 predictor, not {short_repr(x)}")
    b = fit.group_coefficients(group)
    if x not in b.columns:
        raise ValueError(f"x: {x!r} is not a level-1 predictor with a coefficient per group; "
                         f"the fit has {', '.join(map(repr, b.columns[1:])) or 'none'}")
    if "(Intercept)" not in b.columns:
        raise ValueError("the lines need an intercept: fit the model with one")
    data = fit.design.data
    if x not in data.columns:
        raise ValueError(f"x: {x!r} must be a column of the fit's data")
    return b, data


def group_lines(fit, x: str, group: str | None = None, ax=None, points: bool = True):
    """Draw each group's regression line over the data (the school-data notes' figure).

    The lines are the groups' intercepts and slopes of ``x`` from
    :meth:`group_coefficients` (group-level predictors folded in), on the
    linear-predictor scale, each drawn over the range of ``x`` in its group.

    Parameters
    ----------
    fit : LmerResult or GlmerResult
    x : str
        A level-1 predictor with a coefficient per group (a column of the data).
    group : str, optional
        The grouping factor; by default the first.
    ax : matplotlib Axes, optional
    points : bool, default True
        Also draw the data (the response against ``x``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> fig = ml.plots.group_lines(fit, "Days")
    >>> len(fig.axes[0].lines), fig.axes[0].get_xlabel()   # one line per subject
    (18, 'Days')
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    from ..design.rowless import require_rows

    require_rows(fit, "a plot of the group lines")
    b, data = _check_x(fit, x, group)
    group = b.index.name
    if ax is None:
        fig, ax = pyplot().subplots(figsize=(6.4, 4.8))
    else:
        ax = axes_list(ax, 1, "the lines")[0]
        fig = ax.figure
    xv = np.asarray(data[x], dtype=float)
    codes = group_terms(fit.design, group)[1][0].codes
    if points:
        ax.scatter(xv, fit.design.y, s=6, color="0.6", alpha=0.5, linewidths=0)
    for j, (a, s) in enumerate(zip(b["(Intercept)"].to_numpy(), b[x].to_numpy())):
        rows = xv[codes == j]
        if rows.size == 0:
            continue
        grid = np.array([rows.min(), rows.max()])
        ax.plot(grid, a + s * grid, lw=0.8, color="C0", alpha=0.7)
    ax.set_xlabel(x)
    ax.set_ylabel(fit.design.response_name)
    ax.set_title(f"{len(b)} {group} lines")
    return fig


def pooling(fit, x: str, groups=None, group: str | None = None, ncols: int = 4):
    """Complete, no and partial pooling lines for a few groups (the pooling figure).

    For each chosen group: its data, the complete-pooling line (one
    least-squares line through all the data, groups ignored), the no-pooling
    line and the partial-pooling line of the mixed model
    (:meth:`group_coefficients`), which lies between them: pulled toward the
    common line the more, the less data the group has. The no-pooling line
    has the model's shape: where ``x`` has a random slope, least squares
    within the group alone (lme4's ``lmList``); where only the intercept
    varies, each group's own intercept with one common slope (R's
    ``lm(y ~ 0 + group + x)``, as the GCSE notes draw it). Least squares are
    weighted by the fit's prior weights (``weights=``).

    Parameters
    ----------
    fit : LmerResult
        A linear mixed model with a per-group coefficient of ``x``.
    x : str
        The level-1 predictor on the horizontal axis.
    groups : sequence, optional
        Levels to draw; by default eight spread over the range of the group sizes.
    group : str, optional
        The grouping factor; by default the first.
    ncols : int, default 4
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> fig = ml.plots.pooling(fit, "Days", groups=["308", "335"])
    >>> [a.get_title() for a in fig.axes], len(fig.axes[0].lines)   # three lines per panel
    (['308', '335'], 3)
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    from ..design.rowless import require_rows

    require_rows(fit, "a pooling plot")
    from ..arguments import short_repr
    from ..results import LmerResult

    if not isinstance(fit, LmerResult):
        raise TypeError(f"pooling compares least-squares lines: it takes a linear (lmer) fit, "
                        f"not {short_repr(fit)}")
    b, data = _check_x(fit, x, group)
    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        raise ValueError(f"ncols must be a positive whole number, not {short_repr(ncols)}")
    group = b.index.name
    codes = group_terms(fit.design, group)[1][0].codes
    xv, y = np.asarray(data[x], dtype=float), np.asarray(fit.design.y, dtype=float)
    sizes = np.bincount(codes, minlength=len(b))
    if groups is None:
        order = np.argsort(sizes, kind="stable")
        pick = order[np.unique(np.linspace(0, len(order) - 1, min(8, len(order))).round().astype(int))]
    else:
        labels = [str(v) for v in b.index]
        wanted = [groups] if isinstance(groups, (str, int, np.integer)) else list(groups)
        missing = [g for g in wanted if str(g) not in labels]
        if missing or not wanted:
            raise ValueError(f"groups: no level {short_repr(missing[0]) if missing else '(none given)'} "
                             f"of {group!r}; levels are e.g. {', '.join(labels[:5])}")
        pick = np.array([labels.index(str(g)) for g in wanted])
    # least squares weighted by the fit's prior weights, as lm(..., weights = w)
    wt = np.ones_like(y) if fit.design.weights is None else np.asarray(fit.design.weights, dtype=float)
    common = np.polyfit(xv, y, 1, w=np.sqrt(wt))
    terms = group_terms(fit.design, group)[1]
    varying = any(x in t.columns for t in terms)
    if not varying:  # lm(y ~ 0 + group + x): the within-group slope, each group's intercept
        w_g = np.bincount(codes, wt, minlength=len(b))
        w_g = np.where(w_g > 0, w_g, 1.0)
        xbar = np.bincount(codes, wt * xv, minlength=len(b)) / w_g
        ybar = np.bincount(codes, wt * y, minlength=len(b)) / w_g
        dx, dy = xv - xbar[codes], y - ybar[codes]
        sxx = float(wt * dx @ dx)
        slope = float(wt * dx @ dy) / sxx if sxx > 0 else 0.0
    n = len(pick)
    ncol = min(int(ncols), n)
    nrow = -(-n // ncol)
    fig, axes = pyplot().subplots(nrow, ncol, squeeze=False, sharex=True, sharey=True,
                                  figsize=(2.6 * ncol + 0.6, 2.4 * nrow + 0.8))
    flat = axes.ravel()
    for a, j in zip(flat, pick):
        rows = codes == j
        grid = np.array([xv.min(), xv.max()])
        a.scatter(xv[rows], y[rows], s=10, color="0.3")
        a.plot(grid, np.polyval(common, grid), color="C1", ls="--", label="complete pooling")
        if not varying:
            a.plot(grid, ybar[j] + slope * (grid - xbar[j]), color="C2", ls=":", label="no pooling")
        elif np.unique(xv[rows]).size >= 2:
            own = np.polyfit(xv[rows], y[rows], 1, w=np.sqrt(wt[rows]))
            a.plot(grid, np.polyval(own, grid), color="C2", ls=":", label="no pooling")
        a.plot(grid, b["(Intercept)"].iloc[j] + b[x].iloc[j] * grid, color="C0",
               label="partial pooling")
        a.set_title(str(b.index[j]))
    for a in flat[n:]:
        a.set_visible(False)
    flat[0].legend(fontsize="x-small")
    fig.supxlabel(x)
    fig.supylabel(fit.design.response_name)
    return fig
