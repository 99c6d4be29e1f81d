"""Caterpillar plot: conditional modes of the random effects with their intervals."""

from __future__ import annotations

import numpy as np

from ._mpl import axes_list, pyplot

__all__ = ["caterpillar"]

_MAX_LABELS = 60  # levels above which the y axis is not labelled level by level


def caterpillar(fit, group: str | None = None, ax=None, level: float = 0.95):
    """Draw the conditional modes of one grouping factor's random effects, sorted,
    with +-1.96 conditional standard deviations (lme4's
    ``dotplot(ranef(m, condVar = TRUE))``).

    Works for linear (:class:`~multilevel.LmerResult`) and generalized
    (:class:`~multilevel.results.glmer_result.GlmerResult`) fits; one panel
    per random effect of the factor (intercept, slopes), levels ordered by the
    first one.

    Parameters
    ----------
    fit : LmerResult or GlmerResult
    group : str, optional
        The grouping factor; by default the first (the one with most levels).
    ax : matplotlib Axes or sequence of Axes, optional
        Where to draw, one Axes per panel; a new figure by default.
    level : float, default 0.95
        Coverage of the intervals (0.95: +-1.96 SD).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              ml.datasets.load("cbpp"))
    >>> fig = ml.plots.caterpillar(m)
    >>> ax = fig.axes[0]
    >>> len(ax.collections[0].get_segments()), ax.get_ylabel()   # one interval per herd
    (15, 'herd')
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    from scipy import stats

    from ..arguments import short_repr

    if not hasattr(fit, "ranef_var"):
        raise TypeError(f"fit must be an lmer or glmer fit, not {short_repr(fit)}")
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number between 0 and 1, not {short_repr(level)}")
    if group is not None and not isinstance(group, str):
        raise TypeError(f"group must be the name of a grouping factor, not {short_repr(group)}")
    ranef = fit.ranef
    if group is None:
        group = next(iter(ranef))
    if group not in ranef:
        raise ValueError(f"no grouping factor {group!r}; the fit has {', '.join(map(repr, ranef))}")
    modes = ranef[group]
    sd = np.sqrt(fit.ranef_var[group].to_numpy())
    z = float(stats.norm.ppf(0.5 + level / 2))
    ncol = modes.shape[1]
    if ax is None:
        fig, axes = pyplot().subplots(1, ncol, sharey=True, squeeze=False,
                                      figsize=(3.2 * ncol + 1.0, max(3.0, min(12.0, 0.18 * len(modes) + 1.2))))
        axes = list(axes[0])
    else:
        axes = axes_list(ax, ncol, f"{ncol} random effects of {group!r}")
        fig = axes[0].figure
    order = np.argsort(modes.iloc[:, 0].to_numpy(), kind="stable")
    pos = np.arange(len(order))
    labels = [str(v) for v in modes.index[order]]
    for j, (name, a) in enumerate(zip(modes.columns, axes)):
        m = modes.iloc[order, j].to_numpy()
        s = sd[order, j]
        a.axvline(0.0, color="0.6", lw=0.8, ls="--")
        a.hlines(pos, m - z * s, m + z * s, color="C0", lw=1.0)
        a.plot(m, pos, "o", color="C0", ms=3)
        a.set_title(name)
        a.set_xlabel("conditional mode")
        if len(pos) <= _MAX_LABELS:
            a.set_yticks(pos)
            a.set_yticklabels(labels)
    axes[0].set_ylabel(group)
    return fig
