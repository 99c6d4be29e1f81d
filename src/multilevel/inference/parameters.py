"""lme4's names for the parameters of ``confint`` and Wald intervals.

The standard deviations, correlations and residual sigma of a fit, and its
fixed effects, named as lme4's ``confint(fit, oldNames = FALSE)`` names them
("sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject", "sigma", "Days").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..linalg import ThetaLayout
from ..arguments import short_repr

__all__ = ["parameter_names", "percent_labels", "wald_confint"]


def parameter_names(fit) -> list[str]:
    """lme4's names of a fit's parameters on the confint scale (``oldNames = FALSE``).

    Per random-effects term, in theta's order, ``sd_<column>|<group>`` for the
    standard deviations and ``cor_<column>.<column>|<group>`` for the
    correlations; then ``sigma`` and the fixed effects.

    Parameters
    ----------
    fit : LmerResult

    Returns
    -------
    list of str

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> parameter_names(fit)  # doctest: +NORMALIZE_WHITESPACE
    ['sd_(Intercept)|Subject', 'cor_Days.(Intercept)|Subject', 'sd_Days|Subject', 'sigma',
     '(Intercept)', 'Days']
    """
    return _variance_names(fit.design, sigma=has_sigma(fit)) + list(fit.fixef.index)


def has_sigma(fit) -> bool:
    """Whether a fit has a residual standard deviation (a linear mixed model; the
    binomial and Poisson GLMMs have none).

    Examples
    --------
    >>> import multilevel as ml
    >>> has_sigma(ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy")))
    True
    """
    return getattr(fit, "family", None) is None


def _variance_names(design, sigma: bool = True) -> list[str]:
    layout = ThetaLayout.from_terms(design.terms)
    out = []
    for term, rows, cols in zip(design.terms, layout.rows, layout.cols):
        s = term.structure
        if s is not None:  # its SDs (one for all columns but hcs's) and its correlation
            out.extend([f"sd_{c}|{term.label}" for c in term.columns] if s.nsd > 1
                       else [f"sd_{s.kind}|{term.label}"])
            out.append(f"rho_{s.kind}|{term.label}")
            continue
        for r, c in zip(rows, cols):
            if r == c:
                out.append(f"sd_{term.columns[r]}|{term.group}")
            else:
                out.append(f"cor_{term.columns[r]}.{term.columns[c]}|{term.group}")
    if sigma:
        out.append("sigma")
    if getattr(design, "residual", None) is not None:  # the residual correlation
        rc = design.residual  # (an AR(1)'s correlation per unit of time, or at its lag unit where that is not 1)
        unit = getattr(rc, "lag_unit", 1.0)
        out.append(f"rho_{rc.kind}|residual" if unit == 1.0 else f"rho_{rc.kind}|residual|lag {unit:.6g}")
    if getattr(design, "dispersion", None) is not None:  # the residual SD model's log SD ratios
        out.extend(f"delta_{n}" for n in design.dispersion.names)
    return out


def percent_labels(level: float) -> list[str]:
    """Column labels of a two-sided interval, as R's ``format.perc`` (``"2.5 %"``).

    Parameters
    ----------
    level : float
        Confidence level in (0, 1).

    Returns
    -------
    list of str

    Examples
    --------
    >>> percent_labels(0.95), percent_labels(0.9)
    (['2.5 %', '97.5 %'], ['5 %', '95 %'])
    """
    _check_level(level)
    a = (1.0 - level) / 2.0
    return [f"{100 * p:.3g} %" for p in (a, 1.0 - a)]


def _check_level(level: float) -> None:
    if not (isinstance(level, (int, float)) and 0.0 < float(level) < 1.0):
        raise ValueError(f"level must be a number between 0 and 1, not {short_repr(level)}")


def _select(names: list[str], parm, nvar: int) -> list[int]:
    """The positions of the parameters chosen by ``parm`` (names, positions, "theta_"
    or "beta_"). Positions, not names: a fixed effect may carry a variance
    parameter's name (a predictor called ``sigma``), and a name shared so is refused
    in ``parm``.

    Examples
    --------
    >>> names = ["sd_(Intercept)|g", "sigma", "(Intercept)", "sigma"]
    >>> _select(names, None, 2), _select(names, "beta_", 2), _select(names, ["(Intercept)", 0], 2)
    ([0, 1, 2, 3], [2, 3], [2, 0])
    """
    if parm is None:
        return list(range(len(names)))
    if isinstance(parm, str):
        if parm == "theta_":
            return list(range(nvar))
        if parm == "beta_":
            return list(range(nvar, len(names)))
        parm = [parm]
    elif isinstance(parm, (int, np.integer)) and not isinstance(parm, bool):
        parm = [parm]
    if not isinstance(parm, (list, tuple, pd.Index, np.ndarray)) or isinstance(parm, np.ndarray) and parm.ndim != 1:
        raise TypeError(f"parm must be a name, a position, a list of them, 'theta_' or 'beta_', not {short_repr(parm)}")
    if len(parm) == 0:
        raise ValueError("parm is empty: name at least one parameter (or leave parm=None for all)")
    out = []
    for p in parm:
        if isinstance(p, bool) or not isinstance(p, (int, np.integer, str)):
            raise TypeError(f"parm entries must be names or positions, not {short_repr(p)}")
        if isinstance(p, (int, np.integer)):
            if not 0 <= int(p) < len(names):
                raise ValueError(f"parameter position {p} is out of range 0..{len(names) - 1}")
            out.append(int(p))
        elif names.count(p) > 1:
            raise ValueError(f"{p!r} names both a variance parameter and a fixed effect; choose by "
                             f"position ({', '.join(str(i) for i, n in enumerate(names) if n == p)}) "
                             "or with 'theta_' / 'beta_'")
        elif p in names:
            out.append(names.index(p))
        else:
            raise ValueError(f"unknown parameter {short_repr(p)}; choose from {', '.join(names)}")
    return list(dict.fromkeys(out))


# ---------------------------------------------------------------------- Wald
def wald_confint(fit, level: float = 0.95, parm=None) -> pd.DataFrame:
    """Wald intervals, as ``confint(fit, method = "Wald")``: fixed effects +- z * SE.

    The variance parameters get NaN (lme4 gives NA): a symmetric interval on
    the standard-deviation scale is not a good approximation.

    Parameters
    ----------
    fit : LmerResult or GlmerResult
    level : float, default 0.95
    parm : str, int or list, optional
        Parameters to return (names, positions, ``"theta_"`` or ``"beta_"``);
        all by default.

    Returns
    -------
    pandas.DataFrame
        Index lme4's parameter names, columns ``"2.5 %"`` and ``"97.5 %"`` (for
        ``level = 0.95``).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> wald_confint(fit).round(3)
                                    2.5 %   97.5 %
    sd_(Intercept)|Subject            NaN      NaN
    cor_Days.(Intercept)|Subject      NaN      NaN
    sd_Days|Subject                   NaN      NaN
    sigma                             NaN      NaN
    (Intercept)                   238.029  264.781
    Days                            7.438   13.497
    """
    cols = percent_labels(level)
    z = float(stats.norm.ppf((1.0 + level) / 2.0))
    vnames = _variance_names(fit.design, sigma=has_sigma(fit))
    est = fit.fixef.to_numpy()
    se = np.sqrt(np.diag(fit.vcov.to_numpy()))
    vals = np.vstack([np.full((len(vnames), 2), np.nan),
                      np.column_stack([est - z * se, est + z * se])])
    out = pd.DataFrame(vals, index=vnames + list(fit.fixef.index), columns=cols)
    return out.iloc[_select(list(out.index), parm, len(vnames))]
