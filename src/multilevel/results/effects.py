"""Random-effects tables shared by the linear and generalized results.

Per-term arrays (one row per level) are gathered into one table per grouping
factor, as lme4's ``ranef`` and ``coef`` list them; variance components are
laid out as ``as.data.frame(VarCorr(fit))``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["group_frames", "group_coefficients", "varcorr_long"]


def group_frames(terms, arrays) -> dict[str, pd.DataFrame]:
    """One DataFrame per grouping factor from per-term ``(levels, k)`` arrays.

    Terms of the same factor (``(1 | g) + (0 + x | g)``) are placed side by
    side, indexed by the factor's levels.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> group_frames(fit.design.terms, fit._b)["Subject"].shape
    (18, 2)
    """
    parts: dict[str, list] = {}
    for t, a in zip(terms, arrays):
        parts.setdefault(t.group, []).append((t, np.asarray(a)))
    out = {}
    for g, items in parts.items():
        vals = np.hstack([a for _, a in items])
        cols = [c for t, _ in items for c in t.columns]
        out[g] = pd.DataFrame(vals, index=items[0][0].levels.rename(g), columns=cols)
    return out


def group_coefficients(fixef: pd.Series, ranef: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Per-group coefficients, as lme4's ``coef``: the fixed effects plus each
    level's random effects (random effects without a fixed counterpart are
    added as their own columns).

    Examples
    --------
    >>> fe = pd.Series({"(Intercept)": 1.0, "x": 2.0})
    >>> re = {"g": pd.DataFrame({"(Intercept)": [0.5, -0.5]}, index=pd.Index(["a", "b"], name="g"))}
    >>> group_coefficients(fe, re)["g"].values.tolist()
    [[1.5, 2.0], [0.5, 2.0]]
    """
    out = {}
    for g, re in ranef.items():
        df = pd.DataFrame(np.tile(fixef.to_numpy(), (len(re), 1)), index=re.index, columns=fixef.index)
        for c in re.columns:
            if c in df.columns:
                df[c] = df[c] + re[c]
            else:
                df[c] = re[c]
        out[g] = df
    return out


def varcorr_long(terms, covariances, residual_sd: float | None = None) -> pd.DataFrame:
    """Variance components in lme4's ``as.data.frame(VarCorr(fit))`` layout.

    Parameters
    ----------
    terms : sequence of RandomTerm
    covariances : sequence of ndarray (k, k)
        Each term's covariance matrix of its random effects.
    residual_sd : float, optional
        Adds the ``Residual`` row (linear models).

    Returns
    -------
    DataFrame
        Columns ``grp, var1, var2, vcov, sdcor``: variances with their
        standard deviations, then covariances with their correlations.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> varcorr_long(fit.design.terms, [np.diag([4.0, 1.0])])["sdcor"].tolist()
    [2.0, 1.0, 0.0]
    """
    rows = []
    for term, S in zip(terms, covariances):
        sd = np.sqrt(np.diag(S))
        for a, name in enumerate(term.columns):
            rows.append((term.label, name, None, S[a, a], sd[a]))
        for a in range(term.k):
            for c in range(a + 1, term.k):
                denom = sd[a] * sd[c]
                rows.append((term.label, term.columns[a], term.columns[c], S[c, a],
                             S[c, a] / denom if denom > 0 else np.nan))
    if residual_sd is not None:
        rows.append(("Residual", None, None, residual_sd**2, residual_sd))
    return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])
