"""Sampler checks: divergences, tree depth, E-BFMI, R-hat and effective sample sizes.

Each problem becomes one message in plain words that says what it means and
what to do, as Stan's and brms's warnings do.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> draws = {"b_x": rng.normal(size=(4, 500))}
>>> stats = {"diverging": np.zeros((4, 500), bool), "tree_depth": np.full((4, 500), 3),
...          "energy": rng.normal(size=(4, 500))}
>>> sampler_messages(draws, stats, max_tree_depth=10)
[]
"""

from __future__ import annotations

import numpy as np

__all__ = ["SamplerWarning", "rhat_by_parameter", "sampler_messages", "RHAT_MAX", "BFMI_MIN"]

#: R-hat above this flags a parameter (Vehtari et al. 2021)
RHAT_MAX = 1.01
#: E-BFMI below this flags a chain (Betancourt 2016)
BFMI_MIN = 0.3


class SamplerWarning(UserWarning):
    """A problem found in the MCMC draws (divergences, poor mixing, low ESS)."""


def _worst(values: dict, pick) -> tuple[str, float]:
    name = pick(values, key=lambda k: values[k])
    return name, float(values[name])


def ebfmi(energy: np.ndarray) -> np.ndarray:
    """Energy Bayesian fraction of missing information, per chain.

    Examples
    --------
    >>> e = np.cumsum(np.random.default_rng(1).normal(size=(2, 1000)), axis=1)
    >>> bool(np.all(ebfmi(e) < 0.3))
    True
    """
    e = np.asarray(energy, dtype=float)
    num = np.sum(np.diff(e, axis=1) ** 2, axis=1) / e.shape[1]
    den = np.var(e, axis=1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def rhat_by_parameter(draws: dict, ranef: dict | None = None) -> dict[str, float]:
    """R-hat of each scalar parameter, and the largest of each factor's random effects
    (as ``r_<group>``, where their draws are not too many to check).

    Examples
    --------
    >>> rng = np.random.default_rng(2)
    >>> r = rhat_by_parameter({"mu": rng.normal(size=(2, 200))},
    ...                       {"g": rng.normal(size=(2, 200, 3, 1)) + np.arange(2)[:, None, None, None]})
    >>> bool(r["mu"] < 1.01), bool(r["r_g"] > 1.1)    # the second chain sits one unit higher
    (True, True)
    """
    from .diagnostics import rhat

    names = list(draws)
    out: dict[str, float] = {}
    if names:
        stack = np.stack([np.asarray(draws[n], dtype=float) for n in names], axis=-1)
        out = {n: float(v) for n, v in zip(names, np.atleast_1d(rhat(stack))) if np.isfinite(v)}
    for g, arr in (ranef or {}).items():
        if arr.size <= 5_000_000:
            rr = np.asarray(rhat(np.asarray(arr, dtype=float)))
            if np.any(np.isfinite(rr)):
                out[f"r_{g}"] = float(np.nanmax(rr))
    return out


def sampler_messages(draws: dict, stats: dict, max_tree_depth: int, ranef: dict | None = None,
                     target_accept: float = 0.8) -> list[str]:
    """Messages about the quality of a run, each saying what to do.

    Parameters
    ----------
    draws : dict of ndarray (chains, draws)
        Scalar parameters.
    stats : dict of ndarray (chains, draws)
        Sampler statistics: ``diverging``, ``tree_depth``, ``energy``.
    max_tree_depth : int
    ranef : dict of ndarray (chains, draws, levels, k), optional
        Random-effect draws, checked for R-hat when not too many.
    target_accept : float
        The run's setting (to suggest a higher one).

    Returns
    -------
    list of str

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> stats = {"diverging": np.eye(2, 100, dtype=bool), "tree_depth": np.ones((2, 100))}
    >>> sampler_messages({"mu": rng.normal(size=(2, 100))}, stats, max_tree_depth=10)[0][:47]
    'There were 2 divergent transitions after warmup'
    """
    from .diagnostics import ess_bulk, ess_tail

    out: list[str] = []
    div = np.asarray(stats.get("diverging", np.zeros((1, 1), bool)), dtype=bool)
    total = div.size
    nd = int(div.sum())
    if nd:
        higher = 0.95 if target_accept < 0.95 else 0.99
        out.append(
            f"There {'was' if nd == 1 else 'were'} {nd} divergent transition{'' if nd == 1 else 's'} "
            f"after warmup (of {total}): the sampler could not "
            "follow the posterior's curvature there, so the draws may be biased. Increase target_accept "
            f"(e.g. target_accept={higher}); if divergences remain, reparameterise: simplify the "
            "random-effects structure, use more informative priors on the standard deviations, or "
            "rescale the predictors."
        )
    depth = np.asarray(stats.get("tree_depth", np.zeros((1, 1))))
    nsat = int(np.sum(depth >= max_tree_depth))
    if nsat:
        out.append(
            f"{nsat} of {total} transitions reached the maximum tree depth of {max_tree_depth}: the "
            "sampler took very long trajectories, which is slow but not biased. Increase max_tree_depth "
            f"(e.g. max_tree_depth={max_tree_depth + 2}) or reparameterise (rescale or centre the "
            "predictors, use more informative priors)."
        )
    chains = div.shape[0]
    if "energy" in stats and np.asarray(stats["energy"]).shape[1] > 2:
        b = ebfmi(stats["energy"])
        low = [i + 1 for i, v in enumerate(b) if np.isfinite(v) and v < BFMI_MIN]
        if low:
            out.append(
                f"E-BFMI is below {BFMI_MIN} in chain(s) {', '.join(map(str, low))} (lowest "
                f"{np.nanmin(b):.2f}): the sampler explored the posterior's tails poorly. Reparameterise "
                "or use more informative priors on the standard deviations."
            )
    ndraws = div.shape[1] if div.ndim > 1 else 1
    if not draws or ndraws < 4:
        return out
    names = list(draws)
    stack = np.stack([np.asarray(draws[n], dtype=float) for n in names], axis=-1)
    rh = rhat_by_parameter(draws, ranef)
    bad = {n: v for n, v in rh.items() if v > RHAT_MAX}
    if bad:
        name, v = _worst(bad, max)
        out.append(
            f"R-hat is above {RHAT_MAX} for {len(bad)} parameter(s) (largest {v:.3f}, for {name}): the "
            "chains have not mixed, so the posterior summaries are not reliable. Run longer (more warmup "
            "and draws), and look at the trace plots for chains stuck apart."
        )
    need = 100 * chains
    for label, fn in (("bulk", ess_bulk), ("tail", ess_tail)):
        e = np.atleast_1d(fn(stack))
        ess = {n: v for n, v in zip(names, e) if np.isfinite(v)}
        low = {n: v for n, v in ess.items() if v < need}
        if low:
            name, v = _worst(low, min)
            what = "posterior means and medians" if label == "bulk" else "interval limits and tail quantiles"
            out.append(
                f"The {label} effective sample size is below {need} (100 per chain) for {len(low)} "
                f"parameter(s) (smallest {v:.0f}, for {name}): {what} are imprecise. Run more draws, or "
                "reparameterise to reduce the autocorrelation."
            )
    return out
