"""Average marginal effects (slopes): marginaleffects' ``avg_slopes``.

The slope of a numeric predictor at each row of the data is the derivative
of the row's prediction (response scale by default, with the row's random
effects, as marginaleffects predicts a mixed model) with respect to the
predictor, by a central difference of the fixed-effects matrix rebuilt at
``x -+ h / 2`` (so interactions and transforms of ``x`` are followed; h is
1e-4 of the predictor's range, marginaleffects' step, which it uses forward); the
average over the rows (or within groups of ``by``) is the average marginal
effect. Its standard error is the delta method's over the fixed effects'
covariance, with the exact gradient of the averaged difference; z tests and
normal intervals, as marginaleffects gives for these models. For a
posterior, the slopes are computed for every draw and summarised by their
median and HPD interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import as_probability, short_repr

__all__ = ["slopes"]


def _link(name: str):
    from ..families import link

    return link(name)


def slopes(fit, variables, by=None, type: str = "response", random: bool = True,
           level: float = 0.95) -> pd.DataFrame:
    """Average marginal effects of numeric predictors (marginaleffects' ``avg_slopes``).

    Parameters
    ----------
    fit : LmerResult, GlmerResult, GlsResult or Posterior
    variables : str or list of str
        Numeric predictors of the fixed part.
    by : str, optional
        A column of the data: one average per group.
    type : {"response", "link"}
        Slopes of the expected response (default) or of the linear predictor.
    random : bool, default True
        Predict with each row's random effects (False: population level).
    level : float
        Interval level.

    Returns
    -------
    DataFrame
        ``term``, (``by``), ``estimate``, ``std.error``, ``statistic``,
        ``p.value``, ``conf.low``, ``conf.high``; for a posterior ``term``,
        (``by``), ``estimate`` (median), ``conf.low``, ``conf.high`` (HPD).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> ml.slopes(fit, "Days")[["term", "estimate"]].round(3).to_numpy().tolist()
    [['Days', 10.467]]
    """
    from ..predict import _fixed_matrix, _random_part
    from .estimates import estimates
    from .state import _hpd

    if isinstance(variables, str):
        variables = [variables]
    if type not in ("response", "link"):
        raise ValueError(f"type must be 'response' or 'link', not {short_repr(type)}")
    level = as_probability(level, "level")
    lmer = fit.__class__.__name__ == "LmerResult"
    est = estimates(fit, "asymptotic" if lmer else None)  # z tests: the covariance alone is needed
    design = est.design
    data = design.data
    if data is None:
        raise ValueError("this fit does not keep its data; slopes need the rows it was fitted to")
    if by is not None and (not isinstance(by, str) or by not in data.columns):
        raise ValueError(f"by must name a column of the fit's data, not {short_repr(by)}")
    link = _link(est.link) if type == "response" else _link("identity")
    b_terms = fit._b if hasattr(fit, "_b") and random else None
    off = 0.0 if design.offset is None else design.offset
    if by is None:
        groups = [(None, np.arange(len(data)))]
    else:
        codes, labels = pd.factorize(data[by].astype(object), sort=False)
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
        groups = [(lab, order[bounds[j]:bounds[j + 1]]) for j, lab in enumerate(labels)]
    rows = []
    for var in variables:
        if var not in data.columns or not pd.api.types.is_numeric_dtype(data[var]) \
                or pd.api.types.is_bool_dtype(data[var]):
            raise ValueError(f"{var!r} must be a numeric predictor of the fixed part; for a factor "
                             "compare its levels with ml.emmeans(...).pairs()")
        x = np.asarray(data[var], dtype=float)
        span = float(np.nanmax(x) - np.nanmin(x)) or 1.0
        # a step of 1e-4 of the range, and at least 1e-7 of the values' size: x * 1e-6 + 1e5 would
        # otherwise cancel every digit of (f(x + h) - f(x - h)) / h
        h = max(1e-4 * span, 1e-7 * float(np.nanmax(np.abs(x))))
        hi_data, lo_data = data.assign(**{var: x + h / 2}), data.assign(**{var: x - h / 2})
        Xh = _fixed_matrix(design, hi_data)
        Xl = _fixed_matrix(design, lo_data)
        # each row's random effects at the shifted values too (a random slope of var moves them)
        zh = _random_part(design, b_terms, hi_data, True) if b_terms is not None else 0.0
        zl = _random_part(design, b_terms, lo_data, True) if b_terms is not None else 0.0
        # (exactly: a column at x + 100 moves by h = 1e-4 of its range, within allclose's tolerance)
        if np.array_equal(Xh, Xl) and np.array_equal(np.asarray(zh), np.asarray(zl)):
            raise ValueError(f"{var!r} does not enter the fixed part of the model")
        for g, idx in groups:
            if est.draws is None:
                beta = est.beta
                e0 = Xl[idx] @ beta + _at(zl, idx) + _at(off, idx)
                eh = Xh[idx] @ beta + _at(zh, idx) + _at(off, idx)
                value = float(np.mean((link.inverse(eh) - link.inverse(e0)) / h))
                grad = np.mean((link.mu_eta(eh)[:, None] * Xh[idx] - link.mu_eta(e0)[:, None] * Xl[idx]) / h,
                               axis=0)
                se = float(np.sqrt(est.cov(grad)[0, 0]))
                z = value / se if se > 0 else np.nan
                q = stats.norm.ppf(0.5 + level / 2)
                row = {"term": var, "estimate": value, "std.error": se, "statistic": z,
                       "p.value": float(2 * stats.norm.sf(abs(z))), "conf.low": value - q * se,
                       "conf.high": value + q * se}
            else:  # a posterior: every draw's slopes, with each draw's random effects
                shifted = {s_: data.iloc[idx].assign(**{var: x[idx] + s_ * h / 2}) for s_ in (-1, 1)}
                arg_off = _argument_offset(design)
                kw = {} if arg_off is None else {"offset": arg_off[idx]}
                e0 = fit.linpred(shifted[-1], random=random, new_levels="zero", **kw)
                eh = fit.linpred(shifted[1], random=random, new_levels="zero", **kw)
                draws = np.mean((link.inverse(eh) - link.inverse(e0)) / h, axis=1)
                lo, hi = _hpd(draws, level)
                row = {"term": var, "estimate": float(np.median(draws)), "conf.low": lo, "conf.high": hi}
            if by is not None:
                row = {"term": row.pop("term"), by: g, **row}
            rows.append(row)
    return pd.DataFrame(rows)


def _argument_offset(design):
    """The part of the fit's offset given as the ``offset=`` argument (None without one)."""
    if design.offset is None or not design.offset_argument:
        return None
    from ..design.design import formula_offset

    in_formula = formula_offset(design.formula, design.data)
    return np.asarray(design.offset, dtype=float) - (0.0 if in_formula is None else in_formula)


def _at(v, idx):
    return v[idx] if isinstance(v, np.ndarray) else v
