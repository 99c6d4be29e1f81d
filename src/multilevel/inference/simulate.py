"""Responses simulated from a fitted model, as lme4's ``simulate.merMod``.

``fit.simulate(nsim)`` draws ``nsim`` responses from the fitted model: new
random effects from their estimated distribution (lme4's default,
``use.u = FALSE``), or the fit's conditional modes (``use_re=True``,
``use.u = TRUE``), plus residual noise (gaussian), or binomial / Poisson
draws at the linear predictor. With ``newdata`` the draws are for its rows:
each of its groups gets one draw of its random effects per simulation (its
conditional modes with ``use_re=True`` when the group was in the fit).
"""

from __future__ import annotations


import numpy as np
import pandas as pd

from ..arguments import as_bool, as_int
from ..design.random import new_level_keys
from .bootstrap import _draw_glmm, _factors, _seed_sequence
from .parameters import has_sigma

__all__ = ["simulate"]


def _rows(fit, newdata):
    """(X, [(Z, level codes)], offset, index, prior weights) of the rows to simulate."""
    d = fit.design
    if newdata is None:
        terms = [(t.Z, np.asarray(t.codes), t.nlevels) for t in d.terms]
        prior = getattr(fit, "_prior", None)
        return d.X, terms, d.offset, d.data_index, prior, d.weights
    from ..design.data import as_dataframe
    from ..design.design import formula_offset
    from ..predict import _aligned, _fixed_matrix, _newdata_offset, _term_rows

    new = _aligned(d, as_dataframe(newdata))
    X = _fixed_matrix(d, new, aligned=True)
    terms = []
    for t, (Z, pos) in zip(d.terms, _term_rows(d, new, True, aligned=True)):
        unknown = pos < 0
        codes = pos.copy()
        if unknown.any():  # number the new levels after the fitted ones
            keys = new_level_keys(new.loc[unknown, list(t.group_columns)])
            extra, _ = pd.factorize(keys)
            codes[unknown] = t.nlevels + extra
        # (room for every fitted level: use_re puts the fit's modes in the first rows)
        terms.append((Z, codes, max(int(codes.max()) + 1, t.nlevels) if codes.size else t.nlevels))
    off = _newdata_offset(fit, newdata, None)
    offset = None
    if off is not None:
        from ..design.data import as_vector

        offset = np.asarray(as_vector(off, new, "offset"), dtype=float)
    in_formula = formula_offset(d.formula, new)
    if in_formula is not None:
        offset = in_formula if offset is None else offset + in_formula
    prior = None
    if hasattr(fit, "family") and fit.family.name == "binomial":
        prior = np.ones(len(new))
    if hasattr(fit, "family") and fit.family.name == "betabinomial":
        prior = _newdata_trials(fit, new)
    weights = None
    if d.dispersion is not None:  # a residual SD model: each new row's own residual variance
        weights = np.exp(-2.0 * d.dispersion.log_sd_ratio(X=d.dispersion.new_X(new)))
    return X, terms, offset, new.index, prior, weights


def _newdata_trials(fit, new: pd.DataFrame) -> np.ndarray:
    """The trials of new rows of a beta-binomial fit, from its cbind(successes, failures) columns."""
    from ..formula import parse_formula
    from ..glmm.fit import cbind_counts

    response = parse_formula(fit.formula).response
    try:
        s, f = cbind_counts(response, new)
    except ValueError:
        raise ValueError(f"simulating new rows of a beta-binomial model needs their trials: give newdata the "
                         f"columns of {response}") from None
    return s + f


def simulate(fit, nsim: int = 1, seed=None, use_re: bool = False, newdata=None) -> pd.DataFrame:
    """Responses drawn from a fitted model (lme4's ``simulate``).

    Parameters
    ----------
    fit : LmerResult or GlmerResult
    nsim : int, default 1
    seed : int, optional
        The same seed gives the same draws.
    use_re : bool, default False
        Keep the fit's conditional modes for the groups in the fit (lme4's
        ``use.u = TRUE``) instead of drawing new random effects.
    newdata : DataFrame, optional
        Rows to simulate (default: the fitted rows). Groups not in the fit
        get random effects drawn from their distribution. A binomial model's
        new rows are single trials (responses 0 or 1).

    Returns
    -------
    DataFrame
        One column per simulation (``sim_1``, ...), indexed like the rows:
        values (gaussian), proportions of the trials (binomial), counts (poisson).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> sims = fit.simulate(3, seed=1)
    >>> sims.shape, list(sims.columns)
    ((180, 3), ['sim_1', 'sim_2', 'sim_3'])
    """
    from ..design.rowless import require_rows

    require_rows(fit, "simulation of new responses")
    nsim = as_int(nsim, "nsim", 1)
    use_re = as_bool(use_re, "use_re")
    rng = np.random.Generator(np.random.PCG64(_seed_sequence(seed)))
    X, terms, offset, index, prior, weights = _rows(fit, newdata)
    glmm = not has_sigma(fit)
    sigma = 1.0 if glmm else fit.sigma
    rc = getattr(fit.design, "residual", None)
    if rc is not None and newdata is not None:  # the new rows' own groups and times
        from ..design.correlation import residual_correlation
        from ..design.data import as_dataframe

        new = as_dataframe(newdata)
        fresh = residual_correlation(rc.text, new)
        rc = fresh.with_rho(rc.r_for(fresh), rc.se)
    eta0 = X @ fit.fixef.to_numpy() + (0.0 if offset is None else offset)
    out = np.empty((len(eta0), nsim))
    factors = _factors(fit)
    for s in range(nsim):
        eta = eta0.copy()
        for (Z, codes, nlev), T, b_fit in zip(terms, factors, fit._b):
            u = rng.standard_normal((nlev, T.shape[0]))
            b = sigma * (u @ T.T)
            if use_re:
                b[:b_fit.shape[0]] = b_fit
            eta = eta + np.einsum("ij,ij->i", Z, b[codes])
        if glmm:
            out[:, s] = _draw_glmm(fit if newdata is None else _PriorView(fit, prior, newdata), eta, rng)
        else:
            e = rng.standard_normal(len(eta)) * sigma
            if rc is not None:  # correlated within the groups of the residual correlation
                e = rc.correlate(e, rc.r)
            if weights is not None:
                with np.errstate(divide="ignore"):
                    e = e / np.sqrt(weights)
                e[~np.isfinite(e)] = 0.0
            out[:, s] = eta + e
    return pd.DataFrame(out, index=index, columns=[f"sim_{i + 1}" for i in range(nsim)])


class _PriorView:
    """A glmer fit seen with the trials of new rows (one each)."""

    def __init__(self, fit, prior, newdata=None):
        self.family = fit.family
        self._prior = np.ones(0) if prior is None else np.asarray(prior, dtype=float)
        if fit.family.name == "betabinomial":  # its trials are the family's own (and prior weights 1)
            self.family, self._prior = fit.family.with_trials(self._prior), np.ones(self._prior.size)
        if fit.family.zero_inflated and newdata is not None:  # the new rows' structural-zero probabilities
            self.family = fit.family.at_rows(newdata)
