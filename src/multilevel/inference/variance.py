"""Variance decompositions of a fitted mixed model: ICC, Nakagawa's R2,
shrinkage factors and the between/within variance partition.

For a GLMM the residual variance is the distribution-specific variance on the
latent (link) scale, as performance and insight take it (Nakagawa, Johnson &
Schielzeth 2017): pi^2 / 3 for the logit link, 1 for probit, pi^2 / 6 for
cloglog, and for a Poisson model with the log link the lognormal
approximation ``log(1 + 1 / mu)``, with ``mu = exp(b0)`` from the intercept
``b0`` of the null model (the same random effects, an intercept alone); for a
Gamma model with the log link the squared coefficient of variation ``1 / shape``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from ..arguments import as_bool, short_repr

__all__ = ["icc", "r2_nakagawa", "shrinkage", "variance_partition"]

SINGULAR_TOLERANCE = 1e-5


# ------------------------------------------------------------------ pieces
def _data_rows(fit):
    """``(mask or None, count)``: the rows of positive prior weight, which the variances average
    over (a row of weight 0 is not data; data in parts keep the count of such rows)."""
    d = fit.design
    n_data = getattr(d, "n_data", None)
    if n_data is not None:
        return None, int(n_data)
    from ..design.data import positive_rows

    w = getattr(d, "weights", None)
    rows = positive_rows(getattr(fit, "_prior", None) if w is None else w)  # (a GLMM's: its prior weights)
    return (None, int(fit.nobs)) if rows is None else (rows, int(np.count_nonzero(rows)))


def _term_variances(fit) -> list[float]:
    """Variance of each random-effects term on the response scale: the mean
    over the observations of ``z_i' Sigma z_i`` (Johnson 2014), which is the
    term's variance for a random intercept."""
    rows, n_data = _data_rows(fit)
    out = []
    moments = getattr(fit.design, "z_moments", ())   # (data in parts: the mean of z z')
    factors = getattr(fit.design, "z_factors", ())
    working = working_factors(fit)
    for i, t in enumerate(fit.design.terms):
        # z' Sigma z = |z' B F|^2 in the standardised basis B (Sigma = B F F'B'): in the user's
        # (Days + 1e9) the quadratic form cancels its digits
        if working is not None and moments and len(factors) == len(fit.design.terms):
            B, F = working[i]   # (data in parts: the centred columns' factor R_c and its centre C)
            R_c, C = factors[i]
            W = R_c @ (C @ B) @ F
            out.append(float(np.sum(W * W)) / max(n_data, 1))
        elif moments:
            out.append(float(np.sum(fit._term_cov(i) * moments[i])))
        else:
            Z = t.Z if rows is None else t.Z[rows]
            if working is not None:
                B, F = working[i]
                W = (Z @ B) @ F
                out.append(float(np.mean(np.einsum("ij,ij->i", W, W))))
            else:
                S = fit._term_cov(i)
                out.append(float(np.mean(np.einsum("ia,ab,ib->i", Z, S, Z))))
    return out


def working_factors(fit) -> list | None:
    """Per term ``(B, F)`` with its covariance ``B F F' B'``: ``B`` the fit's standardised basis and
    ``F`` the internal factor times the covariance's scale (sigma for an lmer fit); None where the
    fit keeps no standardisation. Quadratic forms ``z' Sigma z`` formed as ``|z' B F|^2`` keep
    their digits where a covariate is far from zero.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> (B, F), = working_factors(fit)
    >>> bool(np.allclose(B @ F @ F.T @ B.T, fit._term_cov(0)))
    True
    """
    st = getattr(fit, "_std", None)
    if st is None or len(getattr(st, "B", ())) != len(fit.design.terms):
        return None
    out = []
    for i, (B, T) in enumerate(zip(st.B, _internal_factors(fit))):
        BT = B @ T
        den = float(np.trace(BT @ BT.T))
        scale = float(np.trace(fit._term_cov(i))) / den if den > 0 else 0.0
        out.append((B, np.sqrt(scale) * T))
    return out


def _var_fixed(fit) -> float:
    """Variance of the fixed part ``X beta`` (sample variance, divisor n - 1, as
    ``insight::get_variance_fixed``; the offset is not included)."""
    rows, n_data = _data_rows(fit)
    if n_data < 2 or not len(fit.fixef):
        return 0.0
    factor = getattr(fit.design, "x_factor", None)   # (data in parts: the centred columns' factor)
    if factor is not None:
        v = factor @ fit.fixef.to_numpy()            # (a norm, not a quadratic form: no cancellation)
        return float(v @ v / (n_data - 1))
    eta = (fit.design.X if rows is None else fit.design.X[rows]) @ fit.fixef.to_numpy()
    if np.all(eta == eta[0]):  # intercept only: exactly 0, not rounding noise
        return 0.0
    return float(np.var(eta, ddof=1))


def _internal_factors(fit) -> list[np.ndarray]:
    """The relative covariance factors of the fit's standardised design, which do
    not depend on the units of the predictors."""
    if hasattr(fit, "_factor"):
        return list(fit._factor.T)
    from ..linalg import ThetaLayout

    layout = ThetaLayout.from_terms(fit.design.terms)
    return layout.factors(np.asarray(fit._x_internal, dtype=float)[:layout.ntheta])


def _is_singular(fit, tolerance: float) -> bool:
    """A diagonal element of a relative covariance factor (a theta with lower
    bound 0) below ``tolerance`` in absolute value, as performance checks."""
    if tolerance is None or tolerance <= 0:
        return False
    return any(np.any(np.abs(np.diag(T)) < tolerance) for T in _internal_factors(fit))


_LATENT = {"logit": np.pi**2 / 3, "probit": 1.0, "cloglog": np.pi**2 / 6}


def _null_intercept(fit) -> float:
    """Intercept of the null model: the fit's random effects and an intercept alone."""
    from ..formula import parse_formula
    from ..glmm.fit import glmer

    parsed = parse_formula(fit.formula)
    bars = " + ".join((b.structure if b.structure != "us" else "")
                      + f"({b.expr} {'|' if b.correlated else '||'} {':'.join(b.group)})" for b in parsed.bars)
    design = fit.design
    source = getattr(design, "source", None)
    if source is not None:  # data in parts: the null model is fitted to the rows the fit used
        columns = list(design.schema.columns)
        source = source[columns].dropna(subset=columns)
        offsets = "".join(f" + offset({o})" for o in parsed.offsets)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            null = glmer(f"{parsed.response} ~ 1{offsets} + {bars}", source, family=fit.family.name,
                         link=fit.family.link.name, weights=design.schema.weights, offset=design.schema.offset)
        return float(null.fixef.iloc[0])
    weights = None if fit.weights_name is None and "cbind(" in fit.formula else fit._prior
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        null = glmer(f"{parsed.response} ~ 1 + {bars}", design.data, family=fit.family.name,
                     link=fit.family.link.name, weights=None if "cbind(" in fit.formula else weights,
                     offset=design.offset)
    return float(null.fixef.iloc[0])


def _residual_variance(fit) -> float:
    """sigma^2 of a linear mixed model, the latent-scale distribution variance of a GLMM."""
    family = getattr(fit, "family", None)
    if family is None:
        if getattr(fit.design, "dispersion", None) is not None:
            # sigma is the residual SD where the SD model's columns are 0: a reference, not the variance
            raise ValueError("the ICC, R2 and variance shares of a fit with a residual SD model (dispformula=) "
                             "have no single residual variance (it differs by row); fit without dispformula "
                             "for them (performance and glmmTMB do not give them either)")
        return float(fit.sigma**2)
    link = family.link.name
    if family.name == "binomial" and link in _LATENT:
        return float(_LATENT[link])
    zero_inflated = family.zero_inflated
    if family.name == "poisson" and link == "log" and not zero_inflated:
        return float(np.log1p(np.exp(-_null_intercept(fit))))
    # negative binomial: the lognormal approximation log(1 + Var / mu^2) at the
    # null model's mean and the fit's dispersion, as insight's (performance 0.10)
    if family.name == "negative_binomial" and link == "log" and not zero_inflated:
        mu = np.exp(_null_intercept(fit))
        return float(np.log1p(1.0 / mu + 1.0 / family.dispersion))
    if family.name == "nbinom1" and link == "log" and not zero_inflated:
        mu = np.exp(_null_intercept(fit))
        return float(np.log1p((1.0 + family.dispersion) / mu))
    # Gamma with the log link: the squared coefficient of variation 1 / shape (glmmTMB's
    # sigma^2), as insight takes it; close to the log scale's exact trigamma(shape)
    if family.name == "gamma" and link == "log":
        return float(1.0 / family.dispersion)
    if family.name == "gamma":
        raise ValueError(f"the ICC and R2 of a gamma model are defined on the log link's latent scale; with "
                         f"the {link} link the residual variance has no value on the link's scale "
                         "(performance's sigma^2 is the log scale's); refit with link='log'")
    if family.name == "beta":
        raise ValueError("the ICC and R2 of a beta model are not available: no latent-scale residual variance "
                         "is established for it (performance's approximation takes exp() of the logit "
                         "intercept as the mean and can give a negative variance and an ICC above 1)")
    raise ValueError(f"the ICC and R2 of a {family.name} model with the {link} link are not available")


def _singular_warning(what: str, tolerance: float) -> None:
    warnings.warn(
        f"cannot compute {what}: some variance components are (near) zero, a singular fit "
        f"(a theta below tolerance={tolerance:g}); respecify the random effects, or pass "
        "tolerance=0 to compute them anyway",
        UserWarning, stacklevel=3,
    )


def _components(fit) -> tuple[float, float, float]:
    return _var_fixed(fit), float(sum(_term_variances(fit))), _residual_variance(fit)


# --------------------------------------------------------------------- icc
def icc(fit, tolerance: float = SINGULAR_TOLERANCE) -> pd.Series:
    """Intraclass correlation coefficients, as ``performance::icc``.

    With ``v_f`` the variance of the fixed part ``X beta``, ``v_r`` the
    random-effects variance and ``sigma^2`` the residual variance (Nakagawa,
    Johnson & Schielzeth 2017):

    - ``adjusted = v_r / (v_r + sigma^2)``, the share of the variance left
      after the fixed effects that is due to the grouping;
    - ``conditional = v_r / (v_f + v_r + sigma^2)`` (performance's
      ``ICC_conditional``, also called ``ICC_unadjusted``).

    ``v_r`` sums over the random-effects terms the mean over observations of
    ``z_i' Sigma z_i`` (Johnson 2014); for random intercepts that is the sum of
    the intercept variances. ``v_f`` is the sample variance (divisor n - 1)
    of ``X beta``. These equal performance's figures when every random
    slope is also a fixed effect (performance takes ``z_i`` from the
    fixed-effects model matrix and skips a second term on the same factor).

    Parameters
    ----------
    fit : LmerResult or GlmerResult
    tolerance : float, default 1e-5
        As performance: when a diagonal theta (a relative standard deviation)
        is below this, the fit is treated as singular, a warning is issued
        and both ICCs are NaN. Pass 0 to compute them anyway.

    Returns
    -------
    pandas.Series
        ``adjusted`` and ``conditional``.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("math ~ 1 + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> icc(fit).round(4).to_dict()
    {'adjusted': 0.1804, 'conditional': 0.1804}
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> icc(fit).round(4).to_dict()
    {'adjusted': 0.7217, 'conditional': 0.5206}
    """
    if _is_singular(fit, tolerance):
        _singular_warning("the ICC", tolerance)
        return pd.Series({"adjusted": np.nan, "conditional": np.nan}, name="icc")
    vf, vr, s2 = _components(fit)
    return pd.Series({"adjusted": vr / (vr + s2), "conditional": vr / (vf + vr + s2)}, name="icc")


def r2_nakagawa(fit, tolerance: float = SINGULAR_TOLERANCE) -> pd.Series:
    """Nakagawa's marginal and conditional R2, as ``performance::r2_nakagawa``.

    ``marginal = v_f / (v_f + v_r + sigma^2)`` (variance explained by the
    fixed effects) and ``conditional = (v_f + v_r) / (v_f + v_r + sigma^2)``
    (by fixed and random effects), with the components of :func:`icc`
    (Nakagawa & Schielzeth 2013; Johnson 2014 for random slopes).

    Parameters
    ----------
    fit : LmerResult
    tolerance : float, default 1e-5
        As performance: for a singular fit (a diagonal theta below this) a
        warning is issued, ``conditional`` is NaN and ``marginal`` is
        ``v_f / (v_f + sigma^2)``, leaving out the random effects. Pass 0 to
        compute both with the random effects.

    Returns
    -------
    pandas.Series
        ``conditional`` and ``marginal``.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> r2_nakagawa(fit).round(4).to_dict()
    {'conditional': 0.7992, 'marginal': 0.2787}
    """
    vf, s2 = _var_fixed(fit), _residual_variance(fit)
    if _is_singular(fit, tolerance):
        _singular_warning("the random-effects variance for R2", tolerance)
        return pd.Series({"conditional": np.nan, "marginal": vf / (vf + s2)}, name="r2_nakagawa")
    vr = float(sum(_term_variances(fit)))
    total = vf + vr + s2
    return pd.Series({"conditional": (vf + vr) / total, "marginal": vf / total}, name="r2_nakagawa")


# --------------------------------------------------------------- shrinkage
def shrinkage(fit, group: str | None = None) -> pd.DataFrame:
    """Shrinkage factors of the random intercepts of one grouping factor.

    For group ``j`` with ``n_j`` observations, ``R_j = tau^2 / (tau^2 +
    sigma^2 / n_j)``, with ``tau^2`` the factor's random-intercept variance.
    In a model whose only random effect is that intercept, the empirical
    Bayes prediction (:attr:`LmerResult.ranef`) is ``R_j`` times the group's
    mean marginal residual ``y - X beta``: the per-group estimate shrunk
    towards zero, the more so the fewer the observations. With prior weights
    ``n_j`` is the group's sum of weights.

    Parameters
    ----------
    fit : LmerResult
    group : str, optional
        Grouping factor; by default the first one with a random intercept.

    Returns
    -------
    pandas.DataFrame
        Indexed by the factor's levels, columns ``n_j`` and ``R_j``.

    Raises
    ------
    ValueError
        Unknown factor, or one without a random intercept.

    Examples
    --------
    >>> import numpy as np
    >>> import multilevel as ml
    >>> fit = ml.lmer("course ~ 1 + (1 | school)", ml.datasets.load("gcsemv"), reml=False)
    >>> sh = shrinkage(fit)
    >>> sh.index.name, list(sh.columns)
    ('school', ['n_j', 'R_j'])
    >>> sh.loc["22520"].round(3).tolist()
    [59.0, 0.959]
    >>> bool(np.allclose(fit.ranef["school"]["(Intercept)"],
    ...                  sh["R_j"] * fit.residuals("marginal").groupby(fit.design.terms[0].codes).mean().to_numpy()))
    True
    """
    if getattr(fit.design, "dispersion", None) is not None:
        raise ValueError("shrinkage factors of a fit with a residual SD model (dispformula=) are not available "
                         "(each row has its own residual variance); fit without dispformula for them")
    terms = fit.design.terms
    if group is not None and not isinstance(group, str):
        raise TypeError(f"group must be the name of a grouping factor, not {short_repr(group)}")
    groups = list(dict.fromkeys(t.group for t in terms))
    with_int = [i for i, t in enumerate(terms) if "(Intercept)" in t.columns]
    if group is None:
        if not with_int:
            raise ValueError("the model has no random intercept, so no shrinkage factors")
        idx = with_int[0]
    else:
        if group not in groups:
            raise ValueError(f"unknown grouping factor {group!r}; the model has {groups}")
        cand = [i for i in with_int if terms[i].group == group]
        if not cand:
            raise ValueError(f"grouping factor {group!r} has no random intercept")
        idx = cand[0]
    t = terms[idx]
    a = t.columns.index("(Intercept)")
    tau2 = float(fit._term_cov(idx)[a, a])
    counts = getattr(fit.design, "counts", None)   # (data in parts: the rows of each level)
    if counts is not None:
        if getattr(fit.design, "has_weights", False):
            from ..design.rowless import rows_not_here

            raise rows_not_here("the weighted size of each group")
        n_j = np.asarray(counts[idx], dtype=float)
    else:
        w = fit.design.weights
        n_j = np.bincount(t.codes, weights=None if w is None else np.asarray(w, float),
                          minlength=len(t.levels)).astype(float)
    s2 = float(fit.sigma**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        R = np.where(n_j > 0, tau2 / (tau2 + s2 / n_j), 0.0)
    if tau2 == 0:
        R = np.zeros_like(n_j)
    return pd.DataFrame({"n_j": n_j, "R_j": R}, index=t.levels.rename(t.group))


# ------------------------------------------------------ variance partition
def variance_partition(fit, fixed: bool = False) -> pd.DataFrame:
    """Partition of the variance into between-group and within-group parts.

    One row per grouping factor (the variance of its random effects: the
    intercept variance, or with random slopes the mean over observations of
    ``z_i' Sigma z_i``, summed over the factor's terms) and ``Residual``
    (``sigma^2``), each with its proportion of the total. For a random
    intercept model the factor's proportion is the ICC.

    Parameters
    ----------
    fit : LmerResult
    fixed : bool, default False
        Add a first row ``Fixed``, the variance of ``X beta`` (as in
        :func:`r2_nakagawa`), to the total.

    Returns
    -------
    pandas.DataFrame
        Columns ``variance`` and ``proportion``; rows the grouping factors
        and ``Residual`` (and ``Fixed``).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("math ~ 1 + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> variance_partition(fit).round(3)
              variance  proportion
    schoolid     8.614        0.18
    Residual    39.148        0.82
    """
    fixed = as_bool(fixed, "fixed")
    comps: dict[str, float] = {}
    if fixed:
        comps["Fixed"] = _var_fixed(fit)
    for t, v in zip(fit.design.terms, _term_variances(fit)):
        comps[t.group] = comps.get(t.group, 0.0) + v
    comps["Residual"] = _residual_variance(fit)
    var = pd.Series(comps, dtype=float)
    return pd.DataFrame({"variance": var, "proportion": var / var.sum()})
