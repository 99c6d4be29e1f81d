"""Trace and density plots of MCMC draws, one panel per parameter, chains in colour.

Both functions take anything with a ``.draws`` mapping (a ``Posterior``) or a
plain mapping ``name -> array (chains, draws)``; a parameter with more
dimensions, ``(chains, draws, *shape)``, gives one panel per element
(``b[1]``, ``b[2]``, ...).  Chain ``c`` is drawn in matplotlib's colour
``"C{c}"`` in both plots, so the two figures read together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..arguments import as_bool, short_repr
from ._mpl import axes_list, pyplot

__all__ = ["density", "rank", "trace"]

_POOLED_COLOUR = "0.35"   # dark grey, as runjags draws the chains combined


def _draws_of(obj) -> Mapping:
    """The ``name -> draws`` mapping of a posterior, or the mapping itself."""
    draws = getattr(obj, "draws", obj)
    if not isinstance(draws, Mapping) and hasattr(draws, "keys") and hasattr(draws, "__getitem__"):
        draws = {k: draws[k] for k in draws.keys()}
    if not isinstance(draws, Mapping):
        raise TypeError("expected a posterior with a .draws mapping or a dict of "
                        f"name -> array (chains, draws), got {type(obj).__name__}")
    if len(draws) == 0:
        raise ValueError("there are no draws to plot")
    return draws


def _panels(draws: Mapping) -> list[tuple[str, str, np.ndarray]]:
    """(panel label, parameter name, (chains, draws) array) for every scalar element."""
    out = []
    for name, value in draws.items():
        try:
            a = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"draws of {short_repr(name)} must be numbers, shape (chains, draws, ...)") from None
        if a.ndim < 2:
            raise ValueError(f"draws of {name!r} must have shape (chains, draws, ...), "
                             f"got {a.shape}")
        if a.ndim == 2:
            out.append((str(name), str(name), a))
            continue
        for idx in np.ndindex(*a.shape[2:]):
            label = f"{name}[{','.join(str(i + 1) for i in idx)}]"
            out.append((label, str(name), a[(slice(None), slice(None)) + idx]))
    return out


def _select(draws: Mapping, params) -> list[tuple[str, np.ndarray]]:
    """The panels asked for: exact names (of parameters or elements) or name prefixes."""
    panels = _panels(draws)
    if params is None:
        return [(label, a) for label, _, a in panels]
    if isinstance(params, str):
        wanted = [params]
    elif isinstance(params, (list, tuple)) and all(isinstance(p, str) for p in params):
        wanted = list(params)
    else:
        raise TypeError(f"params must be a parameter name (or prefix) or a list of them, not {short_repr(params)}")
    if not wanted or any(p == "" for p in wanted):
        raise ValueError("params must name at least one parameter (or prefix); leave params=None for all")
    chosen: list[int] = []
    unknown = []
    for p in wanted:
        p = str(p)
        hits = [i for i, (label, name, _) in enumerate(panels) if p in (label, name)]
        if not hits:
            hits = [i for i, (_, name, _) in enumerate(panels) if name.startswith(p)]
        if not hits:
            unknown.append(p)
        chosen.extend(i for i in hits if i not in chosen)
    if unknown:
        names = ", ".join(dict.fromkeys(str(n) for n in draws))
        raise ValueError(f"no parameter named or starting with {', '.join(map(repr, unknown))}; "
                         f"available: {names}")
    return [(panels[i][0], panels[i][2]) for i in chosen]


def _axes(n: int, ax, panel_size: tuple[float, float]):
    """A figure and ``n`` axes: new ones in a grid, or those given in ``ax``."""
    if ax is not None:
        axes = axes_list(ax, n, f"{n} panels")
        return axes[0].figure, axes[:n]
    plt = pyplot()
    ncols = 1 if n <= 3 else (2 if n <= 8 else 3)
    nrows = -(-n // ncols)
    fig, grid = plt.subplots(nrows, ncols, squeeze=False,
                             figsize=(panel_size[0] * ncols, panel_size[1] * nrows))
    axes = list(grid.ravel())
    for extra in axes[n:]:
        extra.set_visible(False)
    fig.set_layout_engine("constrained")
    return fig, axes[:n]


def trace(posterior_or_draws, params: str | Sequence[str] | None = None, ax=None):
    """Trace plots: each chain's draws against the iteration, one panel per parameter.

    Parameters
    ----------
    posterior_or_draws : Posterior or mapping
        An object with a ``.draws`` mapping, or a mapping ``name -> array``
        of shape ``(chains, draws)`` (or ``(chains, draws, *shape)``).
    params : str or sequence of str, optional
        Parameter names, element names (``"b[2]"``) or name prefixes
        (``"b_"``, ``"sd_"``); all parameters by default.
    ax : matplotlib Axes or sequence of Axes, optional
        Where to draw, one Axes per panel; a new figure by default.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        For a name that matches no parameter; the message lists the available ones.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> draws = {"b_Intercept": rng.normal(size=(4, 200)), "b_x": rng.normal(size=(4, 200)),
    ...          "sigma": rng.gamma(5.0, size=(4, 200))}
    >>> fig = trace(draws, params="b_")
    >>> [a.get_title() for a in fig.axes if a.get_visible()]
    ['b_Intercept', 'b_x']
    >>> len(fig.axes[0].lines)                     # one line per chain
    4
    >>> pyplot().close(fig)
    """
    chosen = _select(_draws_of(posterior_or_draws), params)
    fig, axes = _axes(len(chosen), ax, (7.0, 2.2))
    for i, (a, (label, x)) in enumerate(zip(axes, chosen)):
        iteration = np.arange(1, x.shape[1] + 1)
        for c in range(x.shape[0]):
            a.plot(iteration, x[c], color=f"C{c % 10}", linewidth=0.6, alpha=0.85,
                   label=f"chain {c + 1}")
        a.set_title(label)
        a.set_xlabel("Iteration")
        a.set_ylabel(label)
        a.set_xlim(iteration[0], iteration[-1])
        if i == 0 and x.shape[0] > 1:
            a.legend(loc="upper right", fontsize="small", ncols=min(x.shape[0], 4), frameon=False)
    return fig


def rank(posterior_or_draws, params: str | Sequence[str] | None = None, bins: int = 20, ax=None):
    """Rank plots: each chain's histogram of the ranks of its draws among all chains' draws
    (Vehtari et al. 2021; bayesplot's ``mcmc_rank_overlay``), one panel per parameter.

    Chains that mix well have flat, overlapping histograms at the dashed
    uniform count; a chain stuck high or low shows as a slope or a step.

    Parameters
    ----------
    posterior_or_draws : Posterior or mapping
        As :func:`trace`.
    params : str or sequence of str, optional
        As :func:`trace`.
    bins : int, default 20
    ax : matplotlib Axes or sequence of Axes, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> fig = rank({"b_x": rng.normal(size=(4, 400))}, bins=10)
    >>> len(fig.axes[0].lines)                    # a step line per chain and the uniform line
    5
    >>> pyplot().close(fig)
    """
    from scipy import stats

    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 2:
        raise ValueError(f"bins must be a whole number, 2 or more, not {short_repr(bins)}")
    chosen = _select(_draws_of(posterior_or_draws), params)
    fig, axes = _axes(len(chosen), ax, (5.0, 2.4))
    for i, (a, (label, x)) in enumerate(zip(axes, chosen)):
        ranks = stats.rankdata(x.ravel()).reshape(x.shape)
        edges = np.linspace(0.5, x.size + 0.5, bins + 1)
        for c in range(x.shape[0]):
            counts, _ = np.histogram(ranks[c], bins=edges)
            a.step(np.arange(bins + 1), np.append(counts, counts[-1]), where="post", color=f"C{c % 10}",
                   linewidth=1.0, label=f"chain {c + 1}")
        a.axhline(x.shape[1] / bins, color="0.4", linestyle="--", linewidth=0.8)
        a.set_title(label)
        a.set_xlabel("Rank (bins)")
        a.set_xlim(0, bins)
        a.set_yticks([])
        if i == 0 and x.shape[0] > 1:
            a.legend(loc="upper right", fontsize="small", ncols=min(x.shape[0], 4), frameon=False)
    return fig


def _kde(x: np.ndarray, grid_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian kernel density on a grid, bandwidth by Silverman's rule (R's ``bw.nrd0``).

    The grid runs three bandwidths beyond the data, as R's ``density``; the
    draws are binned linearly on a fine grid and convolved with the kernel.
    """
    x = x[np.isfinite(x)]
    n = x.size
    if n == 0:
        raise ValueError("the draws to plot have no finite values")
    sd = x.std(ddof=1) if n > 1 else 0.0
    iqr = np.subtract(*np.percentile(x, [75, 25])) if n > 1 else 0.0
    spread = min(sd, iqr / 1.34) if iqr > 0 else sd
    if spread <= 0:
        spread = abs(x[0]) if n and x[0] != 0 else 1.0
    bw = 0.9 * spread * n ** -0.2
    lo, hi = x.min() - 3 * bw, x.max() + 3 * bw
    fine = 4 * grid_size
    step = (hi - lo) / (fine - 1)
    pos = (x - lo) / step
    left = np.clip(np.floor(pos).astype(int), 0, fine - 2)
    frac = pos - left
    counts = np.bincount(left, 1 - frac, fine) + np.bincount(left + 1, frac, fine)
    half = int(np.ceil(4 * bw / step))
    kernel = np.exp(-0.5 * (np.arange(-half, half + 1) * step / bw) ** 2)
    dens = np.convolve(counts, kernel / (kernel.sum() * step))[half: half + fine] / n
    grid = lo + step * np.arange(fine)
    keep = np.linspace(0, fine - 1, grid_size).round().astype(int)
    return grid[keep], dens[keep]


def density(posterior_or_draws, params: str | Sequence[str] | None = None, ax=None,
            pooled: bool = False):
    """Kernel density of the draws, one panel per parameter: a curve per chain, or pooled.

    Parameters
    ----------
    posterior_or_draws : Posterior or mapping
        An object with a ``.draws`` mapping, or a mapping ``name -> array``
        of shape ``(chains, draws)`` (or ``(chains, draws, *shape)``).
    params : str or sequence of str, optional
        Parameter names, element names (``"b[2]"``) or name prefixes
        (``"b_"``, ``"sd_"``); all parameters by default.
    ax : matplotlib Axes or sequence of Axes, optional
        Where to draw, one Axes per panel; a new figure by default.
    pooled : bool, default False
        One curve of all chains together (dark grey) instead of one per chain.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        For a name that matches no parameter; the message lists the available ones.

    Notes
    -----
    Gaussian kernel with Silverman's rule-of-thumb bandwidth (R's
    ``bw.nrd0``, the default of ``density`` and of the lattice plots runjags
    draws).  Agreement of the chains' curves is a visual check of convergence.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> draws = {"sd_school__Intercept": rng.gamma(4.0, size=(3, 500)),
    ...          "sigma": rng.gamma(9.0, size=(3, 500))}
    >>> fig = density(draws)
    >>> [len(a.lines) for a in fig.axes if a.get_visible()]   # a curve per chain
    [3, 3]
    >>> len(density(draws, params="sigma", pooled=True).axes[0].lines)
    1
    >>> pyplot().close("all")
    """
    pooled = as_bool(pooled, "pooled")
    chosen = _select(_draws_of(posterior_or_draws), params)
    fig, axes = _axes(len(chosen), ax, (4.5, 2.8))
    for i, (a, (label, x)) in enumerate(zip(axes, chosen)):
        if pooled:
            grid, dens = _kde(x.reshape(-1))
            a.plot(grid, dens, color=_POOLED_COLOUR, linewidth=1.2, label="all chains")
        else:
            for c in range(x.shape[0]):
                grid, dens = _kde(x[c])
                a.plot(grid, dens, color=f"C{c % 10}", linewidth=1.0, label=f"chain {c + 1}")
        a.set_title(label)
        a.set_xlabel(label)
        a.set_ylabel("Density")
        a.set_ylim(bottom=0)
        if i == 0 and not pooled and x.shape[0] > 1:
            a.legend(loc="upper right", fontsize="small", frameon=False)
    return fig
