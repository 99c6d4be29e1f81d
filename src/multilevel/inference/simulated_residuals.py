"""Simulation-based quantile residuals and the tests made of them (R's DHARMa).

Each observation's residual is where it falls among responses simulated from
the fitted model with new random effects (DHARMa's ``simulateREs =
"unconditional"``; ``conditional=True`` keeps the fitted ones, which pulls
the residuals towards 0.5 because those effects were fitted to the same
data): ``U(#{sim < y}, #{sim <= y}) / nsim``, the randomised probability integral
transform that makes a discrete response's residual continuous. Under the
fitted model the residuals are uniform on (0, 1), whatever the family,
which the tests check:

* uniformity: Kolmogorov-Smirnov against the uniform;
* dispersion: the Pearson statistic of the response around its conditional
  means against those of responses simulated with the fitted random effects,
  one-sided for overdispersion. The fitted random effects absorb some of the
  data's own variation, so the observed statistic is a little small under
  the model: the test is conservative (no false alarms), which is why
  DHARMa advises testing mixed models for overdispersion only. The variance
  of the response around the population-level mean (DHARMa's default
  statistic with new random effects) is dominated by the random effects and
  misses overdispersion that the Pearson statistic finds;
* zero-inflation: the number of zeros against the simulations' (count
  responses; ``testZeroInflation``);
* outliers: residuals within ``1 / (nsim + 1)`` of 0 or 1 (beyond every
  simulation), against the binomial count expected, ``2 / (nsim + 1)`` each
  (``testOutliers(type = "binomial")``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import as_bool, as_int, short_repr

__all__ = ["ModelCheck", "simulated_residuals"]


def _two_sided(simulated: np.ndarray, observed: float) -> float:
    """DHARMa's two-sided simulation p value."""
    greater = np.mean(simulated >= observed)
    less = np.mean(simulated <= observed)
    return float(min(1.0, 2 * min(greater, less)))


def _dispersion(fit, y: np.ndarray, scale, nsim: int, rng) -> tuple[float, float]:
    """Observed / mean simulated Pearson statistic around the conditional means, and its
    one-sided simulation p value (see the module's description)."""
    sims = fit.simulate(nsim, seed=int(rng.integers(2**31)), use_re=True).to_numpy()
    if hasattr(fit, "family"):
        mu = np.asarray(fit.fitted, dtype=float)
        var = np.asarray(fit.family.variance(mu), dtype=float)
        if scale is not None:  # binomial counts of successes out of ``scale`` trials
            sims = np.rint(sims * scale[:, None])
            mu, var = mu * scale, var * scale
    else:
        mu = np.asarray(fit.fitted, dtype=float)
        var = np.full(mu.shape, fit.sigma ** 2)
        if fit.design.weights is not None:
            var = var / np.where(fit.design.weights > 0, fit.design.weights, np.inf)
    ok = var > 0
    observed = float(np.sum((y[ok] - mu[ok]) ** 2 / var[ok]))
    simulated = np.sum((sims[ok] - mu[ok, None]) ** 2 / var[ok, None], axis=0)
    return observed / float(np.mean(simulated)), float(np.mean(simulated >= observed))


@dataclass(frozen=True)
class ModelCheck:
    """Simulated residuals of a fit and their tests (see :func:`simulated_residuals`).

    Attributes
    ----------
    residuals : Series
        The scaled (uniform) residuals, indexed like the rows of the fit.
    simulated : ndarray (n, nsim)
        The simulated responses.
    observed, fitted : ndarray (n,)
        The response and the population-level fitted values.
    tests : DataFrame
        ``statistic`` and ``p.value`` of each test, with a ``note``.
    """

    residuals: pd.Series
    simulated: np.ndarray
    observed: np.ndarray
    fitted: np.ndarray
    tests: pd.DataFrame

    def plot(self, ax=None):
        """QQ plot of the residuals against the uniform, and residuals against the ranks of the
        fitted values with their 0.25, 0.5 and 0.75 lines (DHARMa's ``plot``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fig = fit.check(nsim=50, seed=1).plot()
        >>> len(fig.axes)
        2
        >>> import matplotlib.pyplot as plt; plt.close("all")
        """
        from ..plots._mpl import axes_list, pyplot

        if ax is None:
            fig, axes = pyplot().subplots(1, 2, figsize=(10, 4.4))
        else:
            axes = axes_list(ax, 2, "2 panels")
            fig = axes[0].figure
        r = np.sort(self.residuals.to_numpy())
        n = r.size
        expected = (np.arange(1, n + 1) - 0.5) / n
        a, b = axes[0], axes[1]
        a.scatter(expected, r, s=6, color="C0")
        a.plot([0, 1], [0, 1], color="C3", lw=1)
        ks = self.tests.loc["uniformity (KS)", "p.value"]
        a.set(xlabel="expected", ylabel="observed", title=f"QQ plot of residuals (KS p = {ks:.3g})")
        rank = stats.rankdata(self.fitted) / n
        b.scatter(rank, self.residuals.to_numpy(), s=6, color="0.4")
        for q in (0.25, 0.5, 0.75):
            b.axhline(q, color="C3", lw=0.8, ls="--")
        b.set(xlabel="fitted values (rank transformed)", ylabel="residual", ylim=(-0.02, 1.02),
              title="Residuals against fitted values")
        return fig

    def __repr__(self) -> str:
        lines = [f"Simulated residuals ({self.simulated.shape[1]} simulations, {len(self.residuals)} rows)"]
        for name, row in self.tests.iterrows():
            p = row["p.value"]
            lines.append(f"  {name:<18} statistic {row['statistic']:.4g}   p = {p:.3g}"
                         + (f"   {row['note']}" if row["note"] else ""))
        return "\n".join(lines)


def simulated_residuals(fit, nsim: int = 250, seed=None, conditional: bool = False) -> ModelCheck:
    """DHARMa's scaled residuals and tests of a fitted model.

    Parameters
    ----------
    fit : LmerResult or GlmerResult
    nsim : int, default 250
        Simulated responses per observation (DHARMa's default).
    seed : int, optional
    conditional : bool, default False
        Simulate with the fit's random effects (default: new random effects).

    Returns
    -------
    ModelCheck

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> chk = fit.check(nsim=100, seed=1)
    >>> list(chk.tests.index)
    ['uniformity (KS)', 'dispersion', 'zero-inflation', 'outliers']
    """
    from ..design.rowless import require_rows

    require_rows(fit, "simulated residuals")
    from ..results import LmerResult
    from ..results.clmm_result import ClmmResult
    from ..results.glmer_result import GlmerResult

    if not isinstance(fit, (LmerResult, GlmerResult, ClmmResult)):
        raise TypeError(f"simulated residuals need a fit from ml.lmer, ml.glmer or ml.clmm, not {short_repr(fit)}")
    nsim = as_int(nsim, "nsim", 2)
    conditional = as_bool(conditional, "conditional")
    rng = np.random.default_rng(seed)
    if isinstance(fit, ClmmResult):
        return _ordinal_check(fit, nsim, conditional, rng)
    sims = fit.simulate(nsim, seed=int(rng.integers(2**31)), use_re=conditional).to_numpy()
    y = np.asarray(fit.design.y, dtype=float)
    scale = None
    if hasattr(fit, "family") and fit.family.name == "binomial":
        scale = np.asarray(fit._prior, dtype=float)  # proportions -> counts of successes
        sims = np.rint(sims * scale[:, None])
        y = np.rint(y * scale)
    discrete = hasattr(fit, "family") and fit.family.discrete
    res = _pit(y, sims, rng) if discrete else np.sum(sims <= y[:, None], axis=1) / nsim
    fitted = np.asarray(fit.predict(random=False) if not hasattr(fit, "family")
                        else fit.predict(random=False, type="response"), dtype=float)
    if scale is not None:
        fitted = fitted * scale
    rows = {}
    ks = stats.kstest(res, "uniform")
    rows["uniformity (KS)"] = (float(ks.statistic), float(ks.pvalue), "")
    ratio, p_disp = _dispersion(fit, y, scale, nsim, rng)
    fix = ("an observation-level random effect (+ (1 | obs), a column with one level per row) "
           "absorbs it" if hasattr(fit, "family") else "model the residual variance")
    rows["dispersion"] = (ratio, p_disp, f"overdispersed: more variation than the model allows; {fix}"
                          if p_disp < 0.05 else "")
    if discrete:
        zeros_obs = float(np.sum(y == 0))
        zeros_sim = np.sum(sims == 0, axis=0).astype(float)
        mean_zero = np.mean(zeros_sim)
        zr = zeros_obs / mean_zero if mean_zero > 0 else (np.inf if zeros_obs else np.nan)
        p_zero = _two_sided(zeros_sim, zeros_obs)
        rows["zero-inflation"] = (float(zr), p_zero, "more zeros than the model expects"
                                  if p_zero < 0.05 and zr > 1 else "")
    else:
        rows["zero-inflation"] = (np.nan, np.nan, "for count responses")
    rows["outliers"] = _outliers(res, nsim)
    tests = pd.DataFrame.from_dict(rows, orient="index", columns=["statistic", "p.value", "note"])
    return ModelCheck(residuals=pd.Series(res, index=fit.design.data_index, name="scaled residual"),
                      simulated=sims, observed=y, fitted=fitted, tests=tests)


def _pit(y: np.ndarray, sims: np.ndarray, rng) -> np.ndarray:
    """The randomised probability integral transform of discrete responses among their simulations."""
    below = np.sum(sims < y[:, None], axis=1)
    at_or_below = np.sum(sims <= y[:, None], axis=1)
    return (below + rng.uniform(size=y.size) * (at_or_below - below)) / sims.shape[1]


def _outliers(res: np.ndarray, nsim: int) -> tuple:
    edge = 1.0 / (nsim + 1)
    outside = int(np.sum(res < edge) + np.sum(res > 1 - edge))
    bt = stats.binomtest(outside, res.size, 2 * edge)
    return (outside / (res.size * 2 * edge), float(bt.pvalue),
            f"{outside} beyond every simulation" if bt.pvalue < 0.05 else "")


def _ordinal_check(fit, nsim: int, conditional: bool, rng) -> ModelCheck:
    """The residuals and tests of a cumulative link model: its responses are the categories' positions,
    discrete, so their residuals are randomised; uniformity and outliers are tested (dispersion and
    zero-inflation have no meaning for an ordered category)."""
    sims = fit.glmm.simulate(nsim, seed=int(rng.integers(2**31)), use_re=conditional).to_numpy(dtype=float)
    y = np.asarray(fit.design.y, dtype=float)
    res = _pit(y, sims, rng)
    P = fit.predict(random=False).to_numpy()
    fitted = P @ np.arange(1, P.shape[1] + 1)  # the expected category (1, ..., K)
    ks = stats.kstest(res, "uniform")
    rows = {"uniformity (KS)": (float(ks.statistic), float(ks.pvalue), ""),
            "dispersion": (np.nan, np.nan, "for counts and continuous responses"),
            "zero-inflation": (np.nan, np.nan, "for count responses"),
            "outliers": _outliers(res, nsim)}
    tests = pd.DataFrame.from_dict(rows, orient="index", columns=["statistic", "p.value", "note"])
    return ModelCheck(residuals=pd.Series(res, index=fit.design.data_index, name="scaled residual"),
                      simulated=sims + 1.0, observed=y + 1.0, fitted=fitted, tests=tests)
