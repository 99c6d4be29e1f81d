"""Forest plot: each parameter's estimate with an inner and an outer interval, one row each."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..arguments import as_probability, short_repr
from ._mpl import pyplot

__all__ = ["forest"]


def _posterior_rows(post, params, level: float, inner: float):
    """(labels, medians, inner limits, outer limits) of the posterior's scalar parameters."""
    from .mcmc import _draws_of, _select

    chosen = _select(_draws_of(post), params)
    labels = [label for label, _ in chosen]
    flat = [np.asarray(a, dtype=float).ravel() for _, a in chosen]
    mid = np.array([np.median(x) for x in flat])
    q = lambda p: np.array([np.quantile(x, [(1 - p) / 2, (1 + p) / 2]) for x in flat])  # noqa: E731
    return labels, mid, q(inner), q(level), "posterior median"


def _fit_rows(fit, params, level: float, method: str):
    """(labels, estimates, None, interval limits) of a likelihood fit's fixed effects."""
    est = fit.beta if type(fit).__name__.startswith("Clmm") else fit.fixef
    names = list(est.index)
    if not names:
        raise ValueError("the fit has no fixed effects to draw (a clmm fit's thresholds are not drawn)")
    if params is not None:
        wanted = [params] if isinstance(params, str) else params
        if not isinstance(wanted, (list, tuple)) or not wanted or not all(isinstance(p, str) for p in wanted):
            raise TypeError(f"params must be a fixed-effect name (or prefix) or a list of them, "
                            f"not {short_repr(params)}")
        keep = [n for n in names if any(n == p or n.startswith(p) for p in wanted)]
        if not keep:
            raise ValueError(f"no fixed effect named or starting with {', '.join(map(repr, wanted))}; "
                             f"the fit has {', '.join(names)}")
        names = keep
    if type(fit).__name__.startswith("Clmm"):
        if method != "wald":
            raise ValueError("a clmm fit has Wald intervals only (as ordinal's confint); use method='wald'")
        ci = fit.confint(level=level)
    else:
        ci = fit.confint(method=method, level=level, parm="beta_")
    ci = ci.iloc[len(ci) - len(est):]  # the fixed effects, in the fit's order
    pos = [list(est.index).index(n) for n in names]
    return (names, est.to_numpy()[pos], None, ci.to_numpy()[pos], "estimate")


def forest(fit, params: str | Sequence[str] | None = None, level: float = 0.95, inner: float = 0.5,
           method: str = "wald", ax=None):
    """Forest plot: estimates with their intervals, one row per parameter.

    For a Bayesian fit (:class:`~multilevel.bayes.Posterior`, or a mapping of
    draws), the posterior median with an inner (``inner``, thick) and an outer
    (``level``, thin) equal-tailed interval of each scalar parameter, as
    bayesplot's ``mcmc_intervals`` and ArviZ's ``plot_forest``; for an lmer,
    glmer or clmm fit, the fixed effects with their confidence intervals
    (``method``: ``"wald"`` or ``"profile"``, as ``fit.confint``; a clmm fit
    has Wald's only). A dotted line marks zero.

    Parameters
    ----------
    fit : Posterior, mapping of draws, LmerResult, GlmerResult or ClmmResult
    params : str or sequence of str, optional
        Names or name prefixes (``"b_"``, ``"sd_"``; fixed-effect names for a
        likelihood fit); every scalar parameter (every fixed effect) by default.
    level : float, default 0.95
        The outer interval's probability or confidence level.
    inner : float, default 0.5
        The inner interval's probability (Bayesian fits; below ``level``).
    method : {"wald", "profile"}, default "wald"
        Confidence intervals of a likelihood fit.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> fig = ml.plots.forest(fit, params=["mses", "sector"])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['mses', 'sector']
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    level = as_probability(level, "level")
    inner = as_probability(inner, "inner")
    posterior = hasattr(fit, "draws") or isinstance(fit, dict)
    if posterior and inner >= level:
        raise ValueError(f"inner ({inner}) must be below level ({level}): the inner interval lies "
                         "inside the outer one")
    if method not in ("wald", "profile"):
        raise ValueError(f"method must be 'wald' or 'profile', not {short_repr(method)}")
    if posterior:
        labels, mid, lo_in, outer, what = _posterior_rows(fit, params, level, inner)
    elif hasattr(fit, "fixef") and hasattr(fit, "confint"):
        labels, mid, lo_in, outer, what = _fit_rows(fit, params, level, method)
    else:
        raise TypeError(f"fit must be a Posterior (or a mapping of draws) or an lmer, glmer or "
                        f"clmm fit, not {short_repr(fit)}")
    n = len(labels)
    if ax is None:
        fig, ax = pyplot().subplots(figsize=(6.0, 0.8 + 0.35 * n))
    else:
        fig = ax.figure
    y = np.arange(n)[::-1]
    ax.hlines(y, outer[:, 0], outer[:, 1], color="C0", lw=1.2, label=f"{level * 100:g}% interval")
    if lo_in is not None:
        ax.hlines(y, lo_in[:, 0], lo_in[:, 1], color="C0", lw=4.0, label=f"{inner * 100:g}% interval")
    ax.plot(mid, y, "o", color="C0", ms=5, label=what)
    ax.axvline(0.0, color="0.5", ls=":", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.set_ylim(-0.7, n - 0.3)
    ax.legend(fontsize="x-small", loc="best")
    fig.set_layout_engine("constrained")
    return fig
