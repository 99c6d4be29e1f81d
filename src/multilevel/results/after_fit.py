"""The after-the-fit methods lmer and glmer results share; each forwards to the module
that holds the tool (simulation, influence, simulated residuals)."""

from __future__ import annotations

import pandas as pd

__all__ = ["AfterFit"]


class AfterFit:
    """``simulate``, ``influence`` and ``check`` of a fitted mixed model."""

    def simulate(self, nsim: int = 1, seed=None, use_re: bool = False, newdata=None) -> pd.DataFrame:
        """Responses drawn from the fitted model, as lme4's ``simulate``: new random
        effects (or the conditional modes with ``use_re=True``) and new noise.

        See :func:`multilevel.inference.simulate.simulate`.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.simulate(2, seed=1).shape
        (180, 2)
        """
        from ..inference.simulate import simulate

        return simulate(self, nsim=nsim, seed=seed, use_re=use_re, newdata=newdata)

    def influence(self, groups: str | None = None, obs: bool = False, n_jobs: int = 1,
                  progress: bool = False):
        """Refits without each group (or row): lme4's ``influence.merMod``, with its
        ``dfbeta``, ``dfbetas`` and ``cooks_distance``.

        See :func:`multilevel.inference.influence.influence`.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.influence("Subject").dfbetas().shape
        (18, 2)
        """
        from ..inference.influence import influence

        return influence(self, groups=groups, obs=obs, n_jobs=n_jobs, progress=progress)

    def hatvalues(self, kind: str = "leverage") -> pd.Series:
        """Diagonal of the hat matrix (lme4's ``hatvalues``; for a GLMM the leverages
        of the working model at the conditional modes, or ``kind="lme4"``'s figures).

        See :func:`multilevel.inference.influence.hatvalues`.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> fit.hatvalues().shape
        (180,)
        """
        from ..inference.influence import hatvalues

        return hatvalues(self, kind)

    def cooks_distance(self, kind: str = "leverage") -> pd.Series:
        """Cook's distance of each row from the hat values (lme4's ``cooks.distance``;
        for a GLMM lme4's figures with ``kind="lme4"``, from its hat values).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> bool((fit.cooks_distance() >= 0).all())
        True
        """
        from ..inference.influence import cooks_distance

        return cooks_distance(self, kind)

    def check(self, nsim: int = 250, seed=None, conditional: bool = False):
        """Simulation-based residuals and their tests (R's DHARMa): uniformity,
        dispersion, zero-inflation and outliers, with ``.plot()``.

        See :func:`multilevel.inference.simulated_residuals.simulated_residuals`.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> float(fit.check(nsim=50, seed=1).residuals.between(0, 1).mean())
        1.0
        """
        from ..inference.simulated_residuals import simulated_residuals

        return simulated_residuals(self, nsim=nsim, seed=seed, conditional=conditional)

    def report(self, path=None, **kw) -> str:
        """Write a self-contained HTML report of this fit (tables, figures, checks,
        the call that reproduces it) and return its text.

        See :func:`multilevel.report` for the options (``confint``, ``level``,
        ``ddf``, ``figures``, ``title``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> "Variance components" in fit.report(figures=False)
        True
        """
        from ..report import report

        return report(self, path, **kw)
