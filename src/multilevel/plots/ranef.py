"""Caterpillar plot: conditional modes of the random effects with their intervals."""

from __future__ import annotations

import numpy as np

from ._mpl import axes_list, pyplot

__all__ = ["caterpillar"]

_MAX_LABELS = 60  # levels above which the y axis labels every few levels, not each
_THINNED_LABELS = 40  # at most this many labels then


def _summaries(fit, group, level):
    """(group, point estimates, lower, upper, x label) of one factor's random effects:
    conditional modes +- z conditional SDs for a fit, posterior means and equal-tailed
    credible intervals for a Posterior."""
    from scipy import stats

    from ..arguments import short_repr

    if hasattr(fit, "ranef_draws") and hasattr(fit, "model"):  # a Posterior
        summ = fit.ranef(prob=level)
        where = f"the posterior has {', '.join(map(repr, summ))}"
    elif hasattr(fit, "ranef_var"):
        summ = fit.ranef
        where = f"the fit has {', '.join(map(repr, summ))}"
    else:
        raise TypeError(f"fit must be an lmer or glmer fit or a Posterior (ml.bayes), "
                        f"not {short_repr(fit)}")
    if group is None:
        group = next(iter(summ))
    if group not in summ:
        raise ValueError(f"no grouping factor {group!r}; {where}")
    if hasattr(fit, "ranef_var"):
        modes = summ[group]
        half = float(stats.norm.ppf(0.5 + level / 2)) * np.sqrt(fit.ranef_var[group].to_numpy())
        return group, modes, modes - half, modes + half, "conditional mode"
    df = summ[group]
    coefs = list(dict.fromkeys(df.columns.get_level_values(0)))
    lo_name, hi_name = [c for c in df[coefs[0]].columns if c not in ("Estimate", "Est.Error")]
    pick = [df.xs(name, axis=1, level=1)[coefs] for name in ("Estimate", lo_name, hi_name)]
    return (group, *pick, "posterior mean")


def caterpillar(fit, group: str | None = None, ax=None, level: float = 0.95):
    """Draw one grouping factor's random effects, sorted, with their intervals.

    For a linear (:class:`~multilevel.LmerResult`) or generalized
    (:class:`~multilevel.results.glmer_result.GlmerResult`) fit: the conditional
    modes with +-1.96 conditional standard deviations (lme4's
    ``dotplot(ranef(m, condVar = TRUE))``); for a Bayesian fit
    (:class:`~multilevel.bayes.Posterior`, fitted with ``keep_ranef=True``):
    the posterior means with equal-tailed credible intervals from the draws.
    One panel per random effect of the factor (intercept, slopes), levels
    ordered by the first one. With more than 60 levels, every few levels are
    labelled (at most 40 labels, each at its own level), and the axis says so.

    Parameters
    ----------
    fit : LmerResult, GlmerResult or Posterior
    group : str, optional
        The grouping factor; by default the first (the one with most levels).
    ax : matplotlib Axes or sequence of Axes, optional
        Where to draw, one Axes per panel; a new figure by default.
    level : float, default 0.95
        Coverage of the intervals (0.95: +-1.96 SD, or the 2.5% and 97.5%
        posterior quantiles).

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
    >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
    ...                 chains=2, draws=300, warmup=300, seed=2, progress=False)
    >>> fig = ml.plots.caterpillar(post, level=0.9)   # 90% credible intervals
    >>> [a.get_title() for a in fig.axes], fig.axes[0].get_xlabel()
    (['Intercept'], 'posterior mean')
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    from ..arguments import short_repr

    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise ValueError(f"level must be a number between 0 and 1, not {short_repr(level)}")
    if group is not None and not isinstance(group, str):
        raise TypeError(f"group must be the name of a grouping factor, not {short_repr(group)}")
    group, modes, lower, upper, xlabel = _summaries(fit, group, float(level))
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
    step = 1 if len(pos) <= _MAX_LABELS else -(-len(pos) // _THINNED_LABELS)
    for j, (name, a) in enumerate(zip(modes.columns, axes)):
        m = modes.iloc[order, j].to_numpy()
        a.axvline(0.0, color="0.6", lw=0.8, ls="--")
        a.hlines(pos, lower.iloc[order, j].to_numpy(), upper.iloc[order, j].to_numpy(), color="C0", lw=1.0)
        a.plot(m, pos, "o", color="C0", ms=3)
        a.set_title(name)
        a.set_xlabel(xlabel)
        a.set_yticks(pos[::step])
        a.set_yticklabels(labels[::step], fontsize="small" if step > 1 else None)
        a.set_ylim(-1, len(pos))
    axes[0].set_ylabel(group if step == 1 else f"{group} (1 level in {step} labelled)")
    return fig
