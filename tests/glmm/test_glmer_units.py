"""GLMM fits do not depend on the units of the predictors.

``x -> a x + c`` in the fixed and the random part is the same model: the same
Laplace (or quadrature) log-likelihood and fitted values, estimates transformed
as the units say, and no new singular-fit or convergence warnings.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import multilevel as ml

scales = st.sampled_from([1.0, -1.0]).flatmap(
    lambda sign: st.floats(-6, 6).map(lambda e: sign * 10.0 ** e))
shifts = st.one_of(st.just(0.0), st.floats(-1e4, 1e4, allow_nan=False))


def _fit(formula, data, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ml.glmer(formula, data, **kw)
    return fit, sorted(str(w.message) for w in caught)


def _slopes_data() -> pd.DataFrame:
    """Binary responses with a random intercept and slope over 40 groups."""
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(40), 15)
    x = rng.uniform(0, 10, g.size)
    b0 = rng.normal(0, 0.8, 40)[g]
    b1 = rng.normal(0, 0.15, 40)[g]
    eta = -1.0 + b0 + (0.25 + b1) * x
    y = (rng.uniform(size=g.size) < 1 / (1 + np.exp(-eta))).astype(float)
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


GROUSE = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)"
SLOPES = "y ~ x + (1 + x | g)"
CASES = {
    "grouse": (GROUSE, "cHEIGHT", lambda: ml.datasets.load("grouseticks"), {"family": "poisson"}),
    "slopes": (SLOPES, "x", _slopes_data, {"family": "binomial"}),
    "cbpp_agq": ("cbind(incidence, size - incidence) ~ period + h + (1 | herd)", "h",
                 lambda: ml.datasets.load("cbpp").assign(h=lambda d: d["size"] * 1.0),
                 {"nagq": 9}),
}
_BASE: dict = {}


def _base(case):
    if case not in _BASE:
        formula, _, load, kw = CASES[case]
        _BASE[case] = _fit(formula, load(), **kw)
    return _BASE[case]


@settings(max_examples=12, deadline=None)
@given(case=st.sampled_from(sorted(CASES)), a=scales, c=shifts)
def test_glmer_is_equivariant_to_units(case, a, c):
    formula, col, load, kw = CASES[case]
    ref, ref_warnings = _base(case)
    data = load()
    c = c * abs(a)
    fit, caught = _fit(formula, data.assign(**{col: data[col] * a + c}), **kw)
    assert caught == ref_warnings
    assert fit.loglik == pytest.approx(ref.loglik, rel=1e-8)
    # the optimizer stops within its tolerance of the same optimum
    np.testing.assert_allclose(fit.fitted, ref.fitted, rtol=1e-4)
    j = list(ref.fixef.index).index(col)
    # within a thousandth of a standard error
    assert abs(fit.fixef.iloc[j] * a - ref.fixef.iloc[j]) < 1e-3 * ref.se.iloc[j]
    assert fit.se.iloc[j] == pytest.approx(ref.se.iloc[j] / abs(a), rel=1e-3)
    for t, T, Tref in zip(ref.design.terms, fit._T, ref._T):
        # b = A b' for Z' = Z A: A holds the new units of the term's columns
        A = np.eye(t.k)
        if col in t.columns:
            j = t.columns.index(col)
            A[j, j] = a
            if t.columns[0] == "(Intercept)" and j:
                A[0, j] = c
        Ainv = np.linalg.inv(A)
        expect = Ainv @ Tref @ Tref.T @ Ainv.T
        got = T @ T.T
        sd = np.sqrt(np.diag(expect))
        np.testing.assert_allclose(got / np.outer(sd, sd), expect / np.outer(sd, sd), atol=2e-3)


def test_shifted_slope_keeps_its_precision():
    """``x + 1e9`` (exact in floating point) in a random slope: same fit."""
    ref, _ = _base("slopes")
    data = _slopes_data()
    fit, _ = _fit(SLOPES, data.assign(x=data.x.round(3) + 1e9), family="binomial")
    again, _ = _fit(SLOPES, data.assign(x=data.x.round(3)), family="binomial")
    assert fit.loglik == pytest.approx(again.loglik, rel=1e-8)
    assert abs(fit.fixef.iloc[1] - again.fixef.iloc[1]) < 1e-3 * again.se.iloc[1]


def test_a_factor_response_with_an_unused_first_category():
    """Its first category that occurs is the failure, as R's droplevels gives it: an unused first
    category had made every row a success ("the response is constant")."""
    cb = ml.datasets.load("cbpp")
    d = cb.assign(sick=pd.Categorical(np.where(cb["incidence"] > 0, "yes", "no"), categories=["never", "no", "yes"]))
    a = ml.glmer("sick ~ period + (1 | herd)", d, family="binomial")
    b = ml.glmer("sick ~ period + (1 | herd)", d.assign(sick=d["sick"].cat.remove_unused_categories()),
                 family="binomial")
    assert a.loglik == pytest.approx(b.loglik, rel=1e-10)
