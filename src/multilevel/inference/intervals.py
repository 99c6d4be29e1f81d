"""Confidence intervals for a fitted linear mixed model, as lme4's ``confint(fit, method=)``."""

from __future__ import annotations

import pandas as pd

from .bootstrap import bootstrap
from .parameters import has_sigma, wald_confint
from .profile import profile_confint
from ..arguments import as_choice, short_repr

__all__ = ["confint"]

_METHODS = ("profile", "wald", "boot")
_BOOT_KW = ("nsim", "seed", "fun", "n_jobs")


def confint(fit, method: str = "profile", level: float = 0.95, parm=None, **kw) -> pd.DataFrame:
    """Confidence intervals of a fit's parameters on lme4's scale.

    Parameters
    ----------
    fit : LmerResult or GlmerResult
    method : {"profile", "wald", "boot"}
        ``"profile"`` (default, as lme4): profile-likelihood intervals
        (:func:`~multilevel.inference.profile.profile_confint`); ``"wald"``:
        fixed effects +- z * SE, NaN for the variance parameters
        (:func:`~multilevel.inference.profile.wald_confint`); ``"boot"``:
        parametric bootstrap intervals
        (:func:`~multilevel.inference.bootstrap.bootstrap`).
    level : float, default 0.95
    parm : str, int or list, optional
        Parameters to return: names (``"sd_(Intercept)|Subject"``, ``"sigma"``,
        ``"Days"``), positions, ``"theta_"`` (variance parameters) or
        ``"beta_"`` (fixed effects); all by default.
    **kw
        For ``method="boot"``: ``nsim`` (default 1000), ``seed``, ``fun``,
        ``n_jobs`` (passed to :func:`~multilevel.inference.bootstrap.bootstrap`)
        and ``boot_type`` (``"percentile"``, the default, ``"basic"`` or
        ``"normal"``).

    Returns
    -------
    pandas.DataFrame
        Index the parameter names, columns ``"2.5 %"`` and ``"97.5 %"`` (for
        ``level = 0.95``); ``attrs`` holds notes on boundary limits or failed
        refits (and, for ``"boot"``, the :class:`BootstrapResult` under
        ``"bootstrap"``).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> confint(fit, parm="beta_").round(2)
                  2.5 %  97.5 %
    (Intercept)  237.68  265.13
    Days           7.36   13.58
    >>> confint(fit, method="wald", parm="Days").round(2)
          2.5 %  97.5 %
    Days   7.44    13.5
    >>> ci = confint(fit, method="boot", nsim=30, seed=1, n_jobs=1)
    >>> ci.shape, ci.attrs["n_used"]
    ((6, 2), 30)
    """
    m = str(method).lower()
    if m not in _METHODS:
        raise ValueError(f"unknown method {short_repr(method)}; use 'profile', 'wald' or 'boot'")
    if m != "boot" and kw:
        raise TypeError(f"unexpected argument(s) for method {m!r}: {', '.join(kw)}")
    if m == "profile":
        if not has_sigma(fit):
            from .glmm_profile import glmm_profile_confint

            return glmm_profile_confint(fit, level=level, parm=parm)
        return profile_confint(fit, level=level, parm=parm)
    if m == "wald":
        return wald_confint(fit, level=level, parm=parm)
    boot_type = as_choice(kw.pop("boot_type", "percentile"), "boot_type", ("percentile", "basic", "normal"))
    unknown = [k for k in kw if k not in _BOOT_KW]
    if unknown:
        raise TypeError(f"unexpected argument(s) for method 'boot': {', '.join(unknown)}")
    kw.setdefault("nsim", 1000)
    res = bootstrap(fit, **kw)
    out = res.confint(level=level, method=boot_type)
    if parm is not None:
        from .parameters import _select

        names = list(out.index)
        nvar = len(names) - len(fit.fixef) if kw.get("fun") is None else len(names)
        out = out.iloc[_select(names, parm, nvar)]
    out.attrs["bootstrap"] = res
    return out
