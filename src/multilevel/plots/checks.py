"""Model-check figures: QQ plots of the random effects, residuals, shrinkage, posterior predictive checks."""

from __future__ import annotations

import numpy as np

from ._mpl import pyplot

__all__ = ["ppc", "qq", "residuals", "shrinkage"]


def _ppoints(n: int) -> np.ndarray:
    """R's ``ppoints(n)``: (i - a) / (n + 1 - 2a), a = 3/8 for n <= 10, else 1/2."""
    a = 3.0 / 8.0 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def qq(fit, group: str | None = None):
    """Normal QQ plot of one grouping factor's random effects, one panel per effect.

    The conditional modes of an lmer or glmer fit (lme4's
    ``qqmath(ranef(fit))``), or the posterior means of a Bayesian fit, against
    the normal quantiles of R's ``ppoints``, with R's ``qqline`` (through the
    quartiles): points far from the line question the normal distribution of
    the random effects.

    Parameters
    ----------
    fit : LmerResult, GlmerResult or Posterior
    group : str, optional
        The grouping factor; by default the first.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> fig = ml.plots.qq(fit)
    >>> [a.get_title() for a in fig.axes], len(fig.axes[0].lines[0].get_xdata())
    (['(Intercept)', 'Days'], 18)
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    from scipy import stats

    from .ranef import _summaries

    group, modes, _, _, xlabel = _summaries(fit, group, 0.95)
    k = modes.shape[1]
    fig, axes = pyplot().subplots(1, k, squeeze=False, figsize=(3.4 * k + 0.6, 3.6))
    z = stats.norm.ppf(_ppoints(len(modes)))
    for name, a in zip(modes.columns, axes[0]):
        v = np.sort(modes[name].to_numpy(dtype=float))
        a.plot(z, v, "o", ms=3, color="C0")
        q1, q3 = np.quantile(v, [0.25, 0.75])
        z1, z3 = stats.norm.ppf([0.25, 0.75])
        slope = (q3 - q1) / (z3 - z1)
        a.plot(z[[0, -1]], q1 + slope * (z[[0, -1]] - z1), color="0.5", lw=1)
        a.set_title(str(name))
        a.set_xlabel("standard normal quantiles")
    axes[0][0].set_ylabel(f"{group}: {xlabel}")
    return fig


def residuals(fit, group: str | None = None):
    """Residuals against fitted values, and their spread in each group.

    Left: residuals (response residuals of a linear fit, Pearson residuals of
    a GLMM) against the fitted values, with a zero line. Right:
    one box per level of ``group``, ordered by median (up to 60 levels; more
    are shown as their medians and quartiles).

    Parameters
    ----------
    fit : LmerResult or GlmerResult
    group : str, optional
        The grouping factor; by default the first.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> fig = ml.plots.residuals(fit)
    >>> fig.axes[0].get_xlabel(), fig.axes[1].get_xlabel()
    ('fitted', 'Subject')
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    from ..design.rowless import require_rows

    require_rows(fit, "a residual plot")
    from ..arguments import short_repr
    from ..results import LmerResult

    if not hasattr(fit, "ranef_var"):
        raise TypeError(f"fit must be an lmer or glmer fit, not {short_repr(fit)}")
    from ..results.effects import group_terms

    r = fit.residuals() if isinstance(fit, LmerResult) else fit.residuals("pearson")
    group, (term, *_) = group_terms(fit.design, group)
    fig, (a1, a2) = pyplot().subplots(1, 2, figsize=(10.0, 4.0),
                                      gridspec_kw={"width_ratios": [1.0, 1.4]})
    a1.scatter(fit.fitted.to_numpy(), r.to_numpy(), s=6, color="C0", alpha=0.6, linewidths=0)
    a1.axhline(0.0, color="0.5", lw=0.8)
    a1.set_xlabel("fitted")
    a1.set_ylabel(r.name)
    values = r.to_numpy(dtype=float)
    per = [values[term.codes == j] for j in range(term.nlevels)]
    med = np.array([np.median(v) if v.size else np.nan for v in per])
    order = np.argsort(med, kind="stable")
    if term.nlevels <= 60:
        a2.boxplot([per[j] for j in order], positions=np.arange(len(order)), widths=0.6,
                   showfliers=True, flierprops={"markersize": 2})
        a2.set_xticks(np.arange(len(order)))
        a2.set_xticklabels([str(term.levels[j]) for j in order], rotation=90, fontsize="small")
    else:
        q = np.array([np.quantile(per[j], [0.25, 0.5, 0.75]) if per[j].size else [np.nan] * 3
                      for j in order])
        pos = np.arange(len(order))
        a2.vlines(pos, q[:, 0], q[:, 2], color="C0", lw=0.6)
        a2.plot(pos, q[:, 1], "o", ms=1.5, color="C0")
        a2.set_xticks([])
    a2.axhline(0.0, color="0.5", lw=0.8)
    a2.set_xlabel(group)
    return fig


def shrinkage(fit, group: str | None = None):
    """Each group's own least-squares coefficients against the mixed model's.

    For every random effect of ``group``'s term(s) (the intercept and the
    slopes), one panel: the no-pooling estimate (least squares on the group's
    rows alone, of the response on the term's columns and the other fixed
    effects held at the fit's values) on the horizontal axis, the mixed
    model's coefficient (:meth:`coef`) on the vertical axis, the identity line
    and the overall estimate: partial pooling pulls the groups' coefficients
    toward the overall one (jointly, through their correlations, so a single
    coefficient can move away), the more the less data a group has (marker
    size: rows in the group). Groups with too few rows for their own fit are
    left out.

    Parameters
    ----------
    fit : LmerResult
    group : str, optional
        The grouping factor; by default the first.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> fig = ml.plots.shrinkage(fit)
    >>> [a.get_title() for a in fig.axes]
    ['(Intercept)', 'Days']
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    from ..design.rowless import require_rows

    require_rows(fit, "a shrinkage plot")
    from ..arguments import short_repr
    from ..results import LmerResult

    if not isinstance(fit, LmerResult):
        raise TypeError(f"shrinkage compares least-squares fits: it takes a linear (lmer) fit, "
                        f"not {short_repr(fit)}")
    from ..results.effects import group_terms

    d = fit.design
    group, terms = group_terms(d, group)
    Z = np.hstack([t.Z for t in terms])
    cols = [c for t in terms for c in t.columns]
    codes, nlev = terms[0].codes, terms[0].nlevels
    coef = fit.coef[group]
    # the response less the fixed effects that are not the term's own columns
    fixed = fit.fixef
    own = [c for c in cols if c in fixed.index]
    rest = fixed.drop(own)
    y = d.y - (d.X[:, [list(fixed.index).index(c) for c in rest.index]] @ rest.to_numpy()
               if len(rest) else 0.0)
    if d.offset is not None:
        y = y - d.offset
    est = np.full((nlev, len(cols)), np.nan)
    sizes = np.bincount(codes, minlength=nlev)
    for j in range(nlev):
        rows = codes == j
        Zj = Z[rows]
        if rows.sum() > len(cols) and np.linalg.matrix_rank(Zj) == len(cols):
            est[j] = np.linalg.lstsq(Zj, y[rows], rcond=None)[0]
    fig, axes = pyplot().subplots(1, len(cols), squeeze=False, figsize=(3.6 * len(cols) + 0.6, 3.8))
    ok = np.all(np.isfinite(est), axis=1)
    for i, (name, a) in enumerate(zip(cols, axes[0])):
        mixed = coef[name].to_numpy() if name in coef.columns else np.zeros(nlev)
        a.scatter(est[ok, i], mixed[ok], s=6 + 40 * sizes[ok] / sizes.max(), color="C0", alpha=0.7)
        lo, hi = np.nanmin(est[ok, i]), np.nanmax(est[ok, i])
        a.plot([lo, hi], [lo, hi], color="0.5", lw=0.8, ls="--")
        if name in fixed.index:
            a.axhline(fixed[name], color="C1", lw=0.8)
        a.set_title(name)
        a.set_xlabel("own least squares (no pooling)")
    axes[0][0].set_ylabel("mixed model (partial pooling)")
    return fig


def ppc(posterior, ndraws: int = 50, seed: int = 0, ax=None):
    """Posterior predictive check: the data's density over those of replicated data sets.

    As brms's ``pp_check(fit)`` (bayesplot's ``ppc_dens_overlay``): ``ndraws``
    replicated responses from :meth:`Posterior.posterior_predictive`, each as
    a thin kernel density, and the observed response as a thick one; for
    counts and proportions (poisson, binomial) the densities are of the values
    as numbers. Data unlike the replications point at a missing predictor, a
    wrong family or a missing random effect.

    Parameters
    ----------
    posterior : Posterior
    ndraws : int, default 50
        Replicated data sets to draw.
    seed : int, default 0
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import multilevel as ml
    >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
    ...                 chains=2, draws=300, warmup=300, seed=2, progress=False)
    >>> fig = ml.plots.ppc(post, ndraws=20)
    >>> len(fig.axes[0].lines)    # 20 replications and the data
    21
    >>> import matplotlib.pyplot as plt; plt.close("all")
    """
    from ..arguments import short_repr
    from ._mpl import axes_list
    from .mcmc import _kde

    if not (hasattr(posterior, "posterior_predictive") and hasattr(posterior, "ranef_draws")):
        raise TypeError(f"ppc takes a Posterior (ml.bayes), not {short_repr(posterior)}")
    if isinstance(ndraws, bool) or not isinstance(ndraws, (int, np.integer)) or ndraws < 1:
        raise ValueError(f"ndraws must be a positive whole number, not {short_repr(ndraws)}")
    total = posterior.chains * posterior.ndraws
    reps = posterior.posterior_predictive(ndraws=min(int(ndraws), total), seed=seed)
    y = np.asarray(posterior.model.design.y, dtype=float)
    if ax is None:
        fig, ax = pyplot().subplots(figsize=(6.4, 4.2))
    else:
        ax = axes_list(ax, 1, "the check")[0]
        fig = ax.figure
    for r in reps:
        gx, gy = _kde(np.asarray(r, dtype=float))
        ax.plot(gx, gy, color="C0", alpha=0.25, lw=0.7)
    from matplotlib.lines import Line2D

    gx, gy = _kde(y)
    data_line, = ax.plot(gx, gy, color="k", lw=2.0, label="y")
    ax.legend(handles=[data_line, Line2D([], [], color="C0", alpha=0.6, label="y_rep")])
    ax.set_xlabel(posterior.model.design.response_name)
    ax.set_ylabel("density")
    ax.set_title(f"posterior predictive check: {len(reps)} replications")
    return fig
