"""Power by simulation (simr's ``powerSim`` / ``powerCurve``) for a fixed effect of a fitted model.

For each design (a number of groups, a number of rows per group) the fitted
model, with the tested coefficient set to ``effect``, simulates ``nsim``
responses; each is refitted and the coefficient tested (a t test with
Satterthwaite or Kenward-Roger df for lmer fits, a z test for glmer fits);
the power is the share of refits with ``p < alpha``, with Clopper-Pearson
intervals as simr gives them.

A design with more groups than the data copies whole groups (with new
labels, cycling through the groups in order); fewer takes the first groups.
``n_per_group`` keeps the first rows of each group, or repeats its rows in
order to reach it (simr's ``extend`` and its subsetting do the same).
Simulations run over processes as :func:`~multilevel.bootstrap` does, seeded
so that the same seed gives the same curve for any ``n_jobs``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import as_int, as_probability, short_repr
from .bootstrap import _seed_sequence, bootstrap

__all__ = ["power", "PowerCurve"]


class PowerCurve(pd.DataFrame):
    """Power at each design (see :func:`power`): a DataFrame with columns
    ``n_groups``, ``n_per_group``, ``nobs``, ``power``, ``lower``, ``upper``,
    ``successes``, ``nsim``, ``failed``, and the test's description in
    ``attrs["test"]``."""

    @property
    def _constructor(self):
        return pd.DataFrame

    def __repr__(self) -> str:
        lines = [f"Power for {self.attrs.get('test', 'the test')} "
                 f"(alpha = {self.attrs.get('alpha', 0.05)}, {self.attrs.get('level', 0.95):.0%} intervals)"]
        for _, r in self.iterrows():
            lines.append(f"  {int(r['n_groups'])} groups x {r['n_per_group']} rows ({int(r['nobs'])} obs): "
                         f"{100 * r['power']:.1f}% ({100 * r['lower']:.1f}, {100 * r['upper']:.1f})"
                         f"  [{int(r['successes'])}/{int(r['nsim'] - r['failed'])}"
                         + (f", {int(r['failed'])} failed]" if r["failed"] else "]"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.__repr__()


class _PValue:
    """The p value of one coefficient of a refit (picklable for worker processes)."""

    def __init__(self, name: str, ddf: str | None):
        self.name, self.ddf = name, ddf

    def __call__(self, refit) -> float:
        if hasattr(refit, "family"):
            table = refit.coef_table()
            return float(table.loc[self.name, "Pr(>|z|)"])
        table = refit.coef_table(self.ddf)
        return float(table.loc[self.name, "Pr(>|t|)"])


def _clopper_pearson(k: int, n: int, level: float) -> tuple[float, float]:
    if n == 0:
        return np.nan, np.nan
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else stats.beta.ppf(a, k, n - k + 1)
    hi = 1.0 if k == n else stats.beta.ppf(1 - a, k + 1, n - k)
    return float(lo), float(hi)


def _group_column(fit, group):
    terms = fit.design.terms
    if group is None:
        group = terms[0].group
    match = [t for t in terms if t.group == group]
    if not match:
        raise ValueError(f"group={group!r} is not a grouping factor of the model "
                         f"({', '.join(t.group for t in terms)})")
    cols = match[0].group_columns
    if len(cols) != 1:
        raise ValueError(f"group={group!r} is an interaction of columns; name a grouping column")
    return group, cols[0]


def _design_data(data: pd.DataFrame, column: str, n_groups: int | None, n_per_group: int | None):
    """The data of a design: ``n_groups`` groups of ``n_per_group`` rows (see the module)."""
    codes, labels = pd.factorize(data[column], sort=False)
    blocks = [np.flatnonzero(codes == j) for j in range(len(labels))]
    ng = len(blocks) if n_groups is None else n_groups
    parts = []
    for j in range(ng):
        rows = blocks[j % len(blocks)]
        if n_per_group is not None:
            rows = rows[np.arange(n_per_group) % rows.size]
        part = data.iloc[rows].copy()
        copy = j // len(blocks)
        if copy:
            part[column] = [f"{v}#{copy + 1}" for v in part[column].astype(str)]
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    if isinstance(data[column].dtype, pd.CategoricalDtype) or any(
            isinstance(v, str) for v in out[column]):
        out[column] = out[column].astype(str)
    return out


def _theta_by_term(fit, base) -> pd.Series:
    """The fit's theta in the term order of ``base`` (the design of other rows can order the
    terms differently: lme4 sorts them by their numbers of levels)."""
    blocks, pos = {}, 0
    values = fit.theta.to_numpy()
    for t in fit.design.terms:
        blocks[t.label] = values[pos: pos + t.ntheta]
        pos += t.ntheta
    return pd.Series(np.concatenate([blocks[t.label] for t in base.design.terms]) if blocks else values,
                     index=base.theta.index, name=fit.theta.name)


def _parameter_fit(fit, data: pd.DataFrame, coefficient: str, effect):
    """The fitted model's parameters on the design of ``data`` (the coefficient set to ``effect``)."""
    from .refit_data import refit_on

    base = refit_on(fit, data)
    if list(base.fixef.index) != list(fit.fixef.index):
        raise ValueError("the design's fixed effects differ from the fit's (a factor level is missing "
                         "from the smaller design); use more groups or rows per group")
    if sorted(t.label for t in base.design.terms) != sorted(t.label for t in fit.design.terms):
        raise ValueError("the design's random-effects terms differ from the fit's")
    beta = fit.fixef.copy()
    if effect is not None:
        beta[coefficient] = float(effect)
    kw = {"fixef": beta, "theta": _theta_by_term(fit, base)}
    if not hasattr(fit, "family"):
        kw["sigma"] = fit.sigma
        dm = base.design.dispersion
        if dm is not None:  # the fit's residual SD model, not the refit's
            mine = fit.design.dispersion  # (its coefficients, and the reference its sigma is at)
            dm = replace(dm.with_coef(mine.coef), se=mine.se, center=mine.center)
            kw["design"] = replace(base.design, weights=dm.weights(), dispersion=dm)
        rc = base.design.residual
        if rc is not None:  # the fit's residual correlation, not the refit's (with its SD model, if any)
            kw["design"] = replace(kw.get("design", base.design),
                                   residual=rc.with_rho(fit.design.residual.r_for(rc), fit.design.residual.se))
    elif base.family.n_extra:  # the fit's dispersion and zero-inflation coefficients, not the refit's
        fam, mine = base.family, fit.family
        if fam.zero_inflated:
            inner = fam.base.with_extra(mine.base.extra_internal()) if fam.base.n_extra else fam.base
            # (each design's zero-inflation columns have their own basis: keep the user-scale coefficients)
            gamma = np.linalg.solve(fam.Tzi, mine.zi_coefficients)
            fam = replace(fam, base=inner, gamma=tuple(float(g) for g in gamma))
        else:
            fam = fam.with_extra(mine.extra_internal())
        kw["family"] = fam
    return replace(base, **kw)


def power(fit, test: str, effect=None, nsim: int = 1000, n_groups=None, n_per_group=None,
          group: str | None = None, alpha: float = 0.05, ddf: str = "satterthwaite",
          level: float = 0.95, seed=None, n_jobs: int | None = 2, progress: bool = False) -> PowerCurve:
    """Power to detect a fixed effect, by simulation from the fitted model (simr's ``powerCurve``).

    Parameters
    ----------
    fit : LmerResult or GlmerResult
    test : str
        The coefficient tested (a name in ``fit.fixef``).
    effect : float, optional
        Its value in the simulations (default: the fit's estimate).
    nsim : int, default 1000
        Simulations per design.
    n_groups, n_per_group : int or list of int, optional
        Designs: numbers of groups of ``group`` and of rows per group (each
        list gives one design per value; both lists give every combination;
        default: the data's own design).
    group : str, optional
        The grouping factor whose groups are counted (default: the first).
    alpha : float, default 0.05
    ddf : {"satterthwaite", "kenward-roger"}
        The t test's df for lmer fits (glmer fits: z tests).
    level : float, default 0.95
        Level of the power's Clopper-Pearson interval.
    seed : int, optional
    n_jobs : int, default 2
        Processes (None or -1: all cores).
    progress : bool, default False
        Print a line per design as it finishes.

    Returns
    -------
    PowerCurve

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> pc = ml.power(fit, "Days", effect=2.0, nsim=20, n_groups=[6, 12], seed=1, n_jobs=1)
    >>> pc[["n_groups", "nobs"]].to_numpy().tolist()
    [[6, 60], [12, 120]]
    """
    from ..results import LmerResult
    from ..results.glmer_result import GlmerResult

    if not isinstance(fit, (LmerResult, GlmerResult)):
        raise TypeError(f"power needs a fit from ml.lmer or ml.glmer, not {short_repr(fit)}")
    from ..design.rowless import require_rows

    require_rows(fit, "power simulation")
    if not isinstance(test, str) or test not in fit.fixef.index:
        raise ValueError(f"test must name a fixed effect of the fit ({', '.join(fit.fixef.index)}), "
                         f"not {short_repr(test)}")
    if effect is not None:
        try:
            effect = float(effect)
        except (TypeError, ValueError):
            raise TypeError(f"effect must be a number, not {short_repr(effect)}") from None
    nsim = as_int(nsim, "nsim", 1)
    alpha, level = as_probability(alpha, "alpha"), as_probability(level, "level")
    if ddf not in ("satterthwaite", "kenward-roger"):
        raise ValueError(f"ddf must be 'satterthwaite' or 'kenward-roger', not {short_repr(ddf)}")
    gname, column = _group_column(fit, group)
    sizes_g = _sizes(n_groups, "n_groups", 2)
    sizes_n = _sizes(n_per_group, "n_per_group", 1)
    ss = _seed_sequence(seed)
    designs = [(g, n) for g in sizes_g for n in sizes_n]
    children = ss.spawn(len(designs))
    from .refit_data import fit_frame

    data = fit_frame(fit)
    stat = _PValue(test, ddf)
    rows = []
    for (g, n), child in zip(designs, children):
        t0 = time.perf_counter()
        d = data if g is None and n is None else _design_data(data, column, g, n)
        pfit = _parameter_fit(fit, d, test, effect)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            boot = bootstrap(pfit, nsim=nsim, seed=child, fun=stat, n_jobs=n_jobs)
        p = boot.draws.iloc[:, 0].to_numpy()
        ok = np.isfinite(p)
        k = int(np.sum(p[ok] < alpha))
        m = int(ok.sum())
        lo, hi = _clopper_pearson(k, m, level)
        ngroups = pfit.ngroups[gname]
        rows.append({"n_groups": ngroups, "n_per_group": "as data" if n is None else n,
                     "nobs": pfit.nobs, "power": k / m if m else np.nan, "lower": lo, "upper": hi,
                     "successes": k, "nsim": nsim, "failed": nsim - m})
        if progress:
            print(f"{ngroups} groups, {rows[-1]['n_per_group']} rows each: power "
                  f"{100 * rows[-1]['power']:.1f}% ({time.perf_counter() - t0:.1f} s)", flush=True)
    out = PowerCurve(pd.DataFrame(rows))
    how = "z test" if hasattr(fit, "family") else f"t test ({ddf} df)"
    size = "the fitted value" if effect is None else f"{effect:g}"
    out.attrs.update(test=f"{test} = {size}, {how}", alpha=float(alpha), level=float(level))
    return out


def _sizes(value, name: str, minimum: int) -> list:
    if value is None:
        return [None]
    values = value if isinstance(value, (list, tuple, np.ndarray, range)) else [value]
    return [as_int(v, name, minimum) for v in values]
