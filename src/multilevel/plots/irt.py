"""Item characteristic curves of a Rasch-type fit (``y ~ 0 + item + (1 | person)``)."""

from __future__ import annotations

from ._mpl import axes_list, pyplot

__all__ = ["item_curves"]


def item_curves(fit, ax=None, theta_grid=None):
    """Draw the item characteristic curves P(y = 1 | ability), one line per item.

    The curves are inverse-link(ability - b) with the fitted difficulties b
    (see :func:`multilevel.irt.rasch`); each line is labelled with its item
    and difficulty, and the x axis is the ability scale (a person of average
    ability has ability 0).

    Parameters
    ----------
    fit : GlmerResult or Posterior
        A binomial ``y ~ 0 + item + (1 | person)`` fit (logit or probit), by
        ``ml.glmer`` or ``ml.bayes`` (then the curves at the posterior mean
        difficulties).
    ax : matplotlib Axes, optional
        Where to draw; a new figure by default.
    theta_grid : array-like, optional
        Abilities to evaluate (see :func:`multilevel.irt.item_curves`).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import multilevel as ml
    >>> d = ml.datasets.load("rasch5")
    >>> fit = ml.glmer("y ~ 0 + item + (1 | person)", d[d["person"] <= 200])
    >>> ax = ml.plots.item_curves(fit)
    >>> len(ax.get_lines()), ax.get_xlabel()
    (5, 'ability')
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    from ..irt import item_curves as curves, rasch

    r = rasch(fit)
    P = curves(fit, theta_grid)
    if ax is None:
        _, ax = pyplot().subplots(figsize=(6.4, 4.4))
    else:
        ax = axes_list(ax, 1, "the item curves")[0]
    for label, b in r.items["difficulty"].items():
        ax.plot(P.index.to_numpy(), P[label].to_numpy(), label=f"{label} (b = {b:.2f})")
    ax.set_xlabel("ability")
    ax.set_ylabel("P(y = 1 | ability)")
    ax.set_ylim(0, 1)
    model = "Rasch" if r.link == "logit" else "normal ogive"
    ax.set_title(f"{len(r.items)} item characteristic curves: {model}")
    ax.legend(title=r.item_column, fontsize="small")
    return ax
