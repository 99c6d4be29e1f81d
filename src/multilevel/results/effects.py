"""Random-effects tables shared by the linear and generalized results.

Per-term arrays (one row per level) are gathered into one table per grouping
factor, as lme4's ``ranef`` and ``coef`` list them; variance components are
laid out as ``as.data.frame(VarCorr(fit))``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["group_frames", "group_coefficients", "group_terms", "level1_coefficients", "varcorr_long"]


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


def _per_group_constant(r: np.ndarray, codes: np.ndarray, nlev: int) -> np.ndarray | None:
    """The value of ``r`` in each group when it is constant within every group (NaN for a
    group without rows), else None."""
    lo = np.full(nlev, np.inf)
    hi = np.full(nlev, -np.inf)
    np.minimum.at(lo, codes, r)
    np.maximum.at(hi, codes, r)
    seen = np.isfinite(lo)
    scale = np.maximum(1.0, np.maximum(np.abs(lo[seen]), np.abs(hi[seen])))
    if np.any(hi[seen] - lo[seen] > 1e-9 * scale):
        return None
    return np.where(seen, lo, np.nan)


def _as_multiple(x: np.ndarray, base: np.ndarray, codes: np.ndarray, nlev: int) -> np.ndarray | None:
    """``w`` (one value per group) with ``x = w[group] * base`` on every row, or None."""
    on = base != 0
    if np.any(np.abs(x[~on]) > 1e-12 * max(1.0, float(np.max(np.abs(x))))):
        return None
    if not on.any():
        return None
    w = _per_group_constant(x[on] / base[on], codes[on], nlev)
    if w is None:
        return None
    return np.where(np.isnan(w), 0.0, w)


def group_terms(design, group: str | None = None) -> tuple[str, list]:
    """``(group, its terms)``: the grouping factor named (by default the first) and the
    design's random-effects terms grouped by it, or a one-line ValueError.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (1 + Days || Subject)", ml.datasets.load("sleepstudy"))
    >>> g, terms = group_terms(d)
    >>> g, [t.columns for t in terms]
    ('Subject', [('(Intercept)',), ('Days',)])
    """
    from ..arguments import short_repr

    groups = list(dict.fromkeys(t.group for t in design.terms))
    if group is None:
        group = groups[0]
    if group not in groups:
        raise ValueError(f"no grouping factor {short_repr(group)}; the fit has {', '.join(map(repr, groups))}")
    return group, [t for t in design.terms if t.group == group]


def level1_coefficients(fit, group: str | None = None) -> pd.DataFrame:
    """Each group's coefficients of the level-1 predictors, group-level predictors folded in.

    In a two-level model written as one formula, a predictor that is constant
    within groups (a level-2 predictor: a school's mean SES, its sector) shifts
    a group's intercept, and its interaction with a level-1 predictor shifts
    that group's slope. For ``math ~ 1 + mses + sector + ses + ses:mses +
    ses:sector + (1 + ses | school)`` the school coefficients are

        beta_0j = g00 + g01 mses_j + g02 sector_j + u_0j,
        beta_1j = g10 + g11 mses_j + g12 sector_j + u_1j,

    the level-2 equations of the multilevel model. Each fixed-effect column is
    assigned to the level-1 column it multiplies (a random effect's column
    first, in order, then the remaining fixed columns): column ``x`` belongs to
    column ``v`` when ``x = w_j v`` on every row with ``w_j`` constant within
    each group. Where the model has no group-level predictors this is lme4's
    ``coef(fit)``.

    Parameters
    ----------
    fit : LmerResult or GlmerResult
    group : str, optional
        The grouping factor; by default the first (most levels).

    Returns
    -------
    DataFrame
        One row per level of ``group``, one column per level-1 predictor
        (``(Intercept)``, then the slopes), on the linear-predictor scale;
        ``attrs["folded"]`` maps each column to the fixed effects folded into it.

    Examples
    --------
    >>> import multilevel as ml
    >>> lee = ml.datasets.load("leebryk")
    >>> m4 = ml.lmer("math ~ 1 + mses + sector + ses + ses:mses + ses:sector + (1 + ses | schoolid)", lee)
    >>> b = m4.group_coefficients()
    >>> list(b.columns), b.attrs["folded"]["ses"]
    (['(Intercept)', 'ses'], ['ses', 'mses:ses', 'sector:ses'])
    >>> first = lee[lee["schoolid"] == b.index[0]].iloc[0]
    >>> g, u = m4.fixef, m4.ranef["schoolid"].iloc[0]
    >>> by_hand = g["ses"] + g["mses:ses"] * first["mses"] + g["sector:ses"] * first["sector"] + u["ses"]
    >>> bool(abs(b["ses"].iloc[0] - by_hand) < 1e-10)
    True
    """
    design = fit.design
    group, terms = group_terms(design, group)
    codes, nlev = terms[0].codes, terms[0].nlevels
    ranef = fit.ranef[group]
    bases: list[tuple[str, np.ndarray]] = [(c, t.Z[:, j]) for t in terms for j, c in enumerate(t.columns)]
    random_names = {name for name, _ in bases}
    X, names = design.X, list(fit.fixef.index)
    beta = fit.fixef.to_numpy()
    values: dict[str, np.ndarray] = {}
    folded: dict[str, list[str]] = {}
    for k, name in enumerate(names):
        for base_name, base in bases:
            w = _as_multiple(X[:, k], base, codes, nlev)
            if w is not None:
                break
        else:  # a level-1 predictor without a random effect: its own column
            base_name, w = name, np.ones(nlev)
            bases.append((name, X[:, k]))
        values[base_name] = values.get(base_name, np.zeros(nlev)) + beta[k] * w
        folded.setdefault(base_name, []).append(name)
    order = [name for name, _ in bases if name in values or name in random_names]
    out = pd.DataFrame(index=ranef.index)
    for name in order:
        col = values.get(name, np.zeros(nlev))
        if name in random_names:
            col = col + ranef[name].to_numpy()
        out[name] = col
    out.attrs["folded"] = {name: folded.get(name, []) for name in order}
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
