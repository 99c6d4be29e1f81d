"""Effect plots: a predictor's effect with its interval, by other variables, in panels.

``ml.plots.effects(fit, "x", by="g", panel="h")`` draws :func:`multilevel.effects`
(lines with bands over a numeric ``x``, points with error bars over a
factor); ``ml.plots.emmeans(table)`` draws any table of marginal means. The
brms notes' "White teachers / Black teachers" figure is
``effects(post, "prop_black", by="black", panel="t_black")``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._mpl import axes_list, pyplot

__all__ = ["effects", "emm"]

_LIMITS = (("lower.CL", "upper.CL"), ("asymp.LCL", "asymp.UCL"), ("lower.HPD", "upper.HPD"))
_ESTIMATES = ("emmean", "prob", "rate", "response", "estimate", "ratio", "odds.ratio")


def _columns(table: pd.DataFrame) -> tuple[str, tuple[str, str] | None]:
    est = next((c for c in _ESTIMATES if c in table.columns), None)
    if est is None:
        raise ValueError("the table has no estimate column (emmean, prob, rate, response, estimate)")
    lims = next((pair for pair in _LIMITS if set(pair) <= set(table.columns)), None)
    return est, lims


def emm(table, x: str | None = None, by=None, panel=None, ax=None, labels: dict | None = None):
    """Draw a table of marginal means (:func:`multilevel.emmeans`, :func:`multilevel.effects`).

    Parameters
    ----------
    table : EMMTable
    x : str, optional
        The variable on the horizontal axis (default: the table's first).
    by : str, optional
        A variable drawn as separate lines (default: the table's second, if any).
    panel : str, optional
        A variable drawn in separate panels.
    ax : matplotlib Axes or sequence of Axes, optional
        One per panel.
    labels : dict, optional
        Display names: ``{variable: name}`` or ``{(variable, value): name}``,
        e.g. ``{("t_black", 0.0): "White teachers"}``.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("normexam ~ standLRT + sex + schgend + (1 | school)", ml.datasets.load("exam"))
    >>> fig = ml.plots.emm(ml.emmeans(fit, "schgend", by="sex"))
    >>> len(fig.axes[0].collections) >= 2, fig.axes[0].get_xlabel()
    (True, 'schgend')
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError("emm draws a table from ml.emmeans or ml.effects")
    est, lims = _columns(table)
    variables = [c for c in table.columns if c not in _ESTIMATES and c not in
                 {"SE", "df", "t.ratio", "z.ratio", "p.value", "null", *sum(_LIMITS, ())}]
    x = variables[0] if x is None else x
    rest = [v for v in variables if v not in (x, panel)]
    by = (rest[0] if rest else None) if by is None else by
    for v in (x, by, panel):
        if v is not None and v not in variables:
            raise ValueError(f"{v!r} is not a variable of the table ({', '.join(variables)})")
    labels = dict(labels or {})
    name = lambda v, val=None: labels.get((v, val), f"{v} = {val}") if val is not None \
        else labels.get(v, v)  # noqa: E731
    panels = [None] if panel is None else list(pd.unique(table[panel]))
    if ax is None:
        fig, axes = pyplot().subplots(1, len(panels), figsize=(4.8 * len(panels), 4.2), sharey=True,
                                      squeeze=False)
        axes = list(axes[0])
    else:
        axes = axes_list(ax, len(panels), f"{len(panels)} panels")
        fig = axes[0].figure
    numeric = pd.api.types.is_numeric_dtype(table[x]) and not isinstance(table[x].dtype, pd.CategoricalDtype)
    for a, p in zip(axes, panels):
        part = table if p is None else table[table[panel] == p]
        groups = [None] if by is None else list(pd.unique(part[by]))
        for i, g in enumerate(groups):
            rows = part if g is None else part[part[by] == g]
            color = f"C{i % 10}"
            label = None if g is None else name(by, g)
            if numeric:
                xs = rows[x].to_numpy(dtype=float)
                a.plot(xs, rows[est], color=color, label=label)
                if lims:
                    a.fill_between(xs, rows[lims[0]], rows[lims[1]], color=color, alpha=0.2, lw=0)
            else:
                pos = np.arange(len(rows)) + (i - (len(groups) - 1) / 2) * 0.12
                err = None if not lims else np.vstack([rows[est] - rows[lims[0]], rows[lims[1]] - rows[est]])
                a.errorbar(pos, rows[est], yerr=err, fmt="o", color=color, capsize=3, label=label)
                a.set_xticks(np.arange(len(rows)), [str(v) for v in rows[x]])
        a.set_xlabel(name(x))
        if p is not None:
            a.set_title(name(panel, p))
        if by is not None and a is axes[0]:
            a.legend(frameon=False)
    axes[0].set_ylabel(est)
    return fig


def effects(fit, x: str, by=None, panel=None, at: dict | None = None, n: int = 50,
            type: str = "response", level: float = 0.95, ax=None, labels: dict | None = None):
    """Draw the effect of ``x`` (:func:`multilevel.effects`), by ``by`` and in panels of ``panel``.

    Parameters
    ----------
    fit : LmerResult, GlmerResult or Posterior
    x : str
    by, panel : str, optional
        Variables drawn as separate lines and as separate panels.
    at, n, type, level
        As :func:`multilevel.effects`.
    ax : matplotlib Axes or sequence of Axes, optional
    labels : dict, optional
        Display names (see :func:`emm`).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("weight ~ time * treatment + (1 | girl)", ml.datasets.load("anorexia"))
    >>> fig = ml.plots.effects(fit, "time", by="treatment")
    >>> len(fig.axes[0].lines), len(fig.axes[0].collections)   # a line and a band per treatment
    (3, 3)
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    from ..marginal import effects as effect_table

    groups = [v for v in (by, panel) if v is not None]
    table = effect_table(fit, x, by=groups or None, at=at, n=n, type=type, level=level)
    return emm(table, x=x, by=by, panel=panel, ax=ax, labels=labels)
