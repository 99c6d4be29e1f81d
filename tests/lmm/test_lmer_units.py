"""Fits do not depend on the units of the predictors (issue: silent wrong fits).

A change of units ``x -> a x + c`` of a predictor used in the fixed and the
random part is a reparameterisation of the same model: the ML deviance, the
fitted values and sigma are the same, the estimates transform as the units say,
and the REML criterion moves by the constant ``2 log |a|`` (the Jacobian of the
fixed-effects parameterisation, as lme4 defines the criterion).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import multilevel as ml
from multilevel.design import build_design, standardize

FORMULA = "Reaction ~ Days + (Days | Subject)"

scales = st.sampled_from([1.0, -1.0]).flatmap(
    lambda sign: st.floats(-8, 8).map(lambda e: sign * 10.0 ** e))
# shifts in units of the new scale, so that ``a * Days + c`` keeps the digits of
# Days in floating point (a shift of 1e9 with a scale of 0.01 would round them
# away in the data themselves); the exact ``Days + 1e9`` has a test of its own
shifts = st.one_of(st.just(0.0), st.floats(-1e4, 1e4, allow_nan=False))


def _fit(data, formula=FORMULA, reml=False):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ml.lmer(formula, data, reml=reml)
    return fit, [str(w.message) for w in caught]


@pytest.fixture(scope="module")
def base():
    data = ml.datasets.load("sleepstudy")
    return {reml: _fit(data, reml=reml)[0] for reml in (False, True)}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=scales, c=shifts, reml=st.booleans())
def test_scalar_terms_are_equivariant(sleepstudy, a, c, reml):
    """Random intercepts only (scalar terms): the same under x -> a x + c."""
    formula = "Reaction ~ Days + (1 | Subject)"
    ref, _ = _fit(sleepstudy, formula, reml=reml)
    fit, caught = _fit(sleepstudy.assign(Days=sleepstudy["Days"] * a + c * abs(a)), formula, reml=reml)
    assert not caught, caught
    shift = 2.0 * np.log(abs(a)) if reml else 0.0
    assert fit.objective - shift == pytest.approx(ref.objective, rel=1e-8)
    np.testing.assert_allclose(fit.fitted, ref.fitted, rtol=1e-7)
    assert fit.theta.iloc[0] == pytest.approx(ref.theta.iloc[0], rel=1e-6)
    assert fit.fixef.iloc[1] * a == pytest.approx(ref.fixef.iloc[1], rel=1e-6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=scales, c=shifts, reml=st.booleans())
def test_lmer_is_equivariant_to_units(sleepstudy, base, a, c, reml):
    ref = base[reml]
    c = c * abs(a)
    data = sleepstudy.assign(Days=sleepstudy["Days"] * a + c)
    fit, caught = _fit(data, reml=reml)
    assert not caught, caught
    shift = 2.0 * np.log(abs(a)) if reml else 0.0
    assert fit.objective - shift == pytest.approx(ref.objective, rel=1e-8)
    assert fit.sigma == pytest.approx(ref.sigma, rel=1e-6)
    np.testing.assert_allclose(fit.fitted, ref.fitted, rtol=1e-7)
    b0, b1 = ref.fixef
    slope = b1 / a
    np.testing.assert_allclose(fit.fixef.iloc[1], slope, rtol=1e-6)
    # the intercept at Days = 0 of the old units
    assert fit.fixef.iloc[0] + fit.fixef.iloc[1] * c == pytest.approx(b0, rel=1e-6)
    np.testing.assert_allclose(fit.se.iloc[1], ref.se.iloc[1] / abs(a), rtol=1e-5)
    vc, vref = fit.varcorr_long, ref.varcorr_long
    # slope sd scales; the residual sd does not
    assert vc["sdcor"].iloc[1] == pytest.approx(vref["sdcor"].iloc[1] / abs(a), rel=1e-5)
    assert vc["sdcor"].iloc[-1] == pytest.approx(vref["sdcor"].iloc[-1], rel=1e-6)
    assert fit.singular == ref.singular


@pytest.mark.parametrize("label,transform", [
    ("x 1e-8", lambda d: d * 1e-8), ("years", lambda d: d / 365.25), ("seconds", lambda d: d * 86400.0),
    ("x 1e8", lambda d: d * 1e8), ("+ 1e9", lambda d: d + 1e9),
])
def test_issue_table(sleepstudy, label, transform):
    """The table of the issue: each line now has lme4's deviance 1751.9393 and no warning."""
    fit, caught = _fit(sleepstudy.assign(Days=transform(sleepstudy["Days"].astype(float))))
    assert not caught, caught
    assert fit.objective == pytest.approx(1751.9393, abs=1e-4)
    assert not fit.singular


def test_shifted_predictor_keeps_its_precision(sleepstudy):
    """``Days + 1e9`` beside the intercept is not dropped as collinear and its slope
    keeps its digits (R's QR tolerance of 1e-7 would drop it)."""
    fit, caught = _fit(sleepstudy.assign(Days=sleepstudy["Days"] + 1e9), "Reaction ~ Days + (1 | Subject)")
    assert not caught, caught
    ref, _ = _fit(sleepstudy, "Reaction ~ Days + (1 | Subject)")
    assert fit.fixef.iloc[1] == pytest.approx(ref.fixef.iloc[1], rel=1e-8)
    assert fit.se.iloc[1] == pytest.approx(ref.se.iloc[1], rel=1e-7)
    assert fit.objective == pytest.approx(ref.objective, rel=1e-10)


def test_response_units(sleepstudy):
    """y -> a y + c: deviance moves by 2 n log|a|, sigma and the effects scale."""
    ref, _ = _fit(sleepstudy)
    fit, caught = _fit(sleepstudy.assign(Reaction=sleepstudy["Reaction"] * 1e-6 + 1e6))
    assert not caught
    assert fit.objective - 2 * 180 * np.log(1e-6) == pytest.approx(ref.objective, rel=1e-8)
    assert fit.sigma == pytest.approx(ref.sigma * 1e-6, rel=1e-6)
    assert fit.fixef.iloc[1] == pytest.approx(ref.fixef.iloc[1] * 1e-6, rel=1e-6)


def test_uncorrelated_terms_rescale_only(sleepstudy):
    """(Days || Subject): a rescaling is equivariant; the per-term map is a scalar."""
    ref, _ = _fit(sleepstudy, "Reaction ~ Days + (Days || Subject)")
    fit, caught = _fit(sleepstudy.assign(Days=sleepstudy["Days"] * 3600.0),
                       "Reaction ~ Days + (Days || Subject)")
    assert not caught
    assert fit.objective == pytest.approx(ref.objective, rel=1e-10)
    assert fit.theta.iloc[1] == pytest.approx(ref.theta.iloc[1] / 3600.0, rel=1e-6)
    d = build_design("Reaction ~ Days + (Days || Subject)", sleepstudy)
    assert [b.shape for b in standardize(d)[0].B] == [(1, 1), (1, 1)]


def test_satterthwaite_df_do_not_depend_on_units(sleepstudy):
    ref = ml.lmer(FORMULA, sleepstudy)
    fit = ml.lmer(FORMULA, sleepstudy.assign(Days=sleepstudy["Days"] * 86400.0))
    a, b = ref.coef_table(), fit.coef_table()
    np.testing.assert_allclose(b["df"], a["df"], rtol=1e-4)
    np.testing.assert_allclose(b["t value"], a["t value"], rtol=1e-6)


def test_profile_and_bootstrap_do_not_depend_on_units(sleepstudy):
    ref = ml.lmer(FORMULA, sleepstudy, reml=False)
    fit = ml.lmer(FORMULA, sleepstudy.assign(Days=sleepstudy["Days"] / 365.25), reml=False)
    a = ref.confint(method="profile")
    b = fit.confint(method="profile")
    # sd of the slope and the slope scale with the units; the rest is unchanged
    scale = np.ones(len(a))
    scale[[a.index.get_loc("sd_Days|Subject"), a.index.get_loc("Days")]] = 365.25
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy() * scale[:, None], rtol=2e-4)
    bs_a = ml.bootstrap(ref, nsim=20, seed=1, n_jobs=1)
    bs_b = ml.bootstrap(fit, nsim=20, seed=1, n_jobs=1)
    np.testing.assert_allclose(bs_b.draws["sigma"], bs_a.draws["sigma"], rtol=1e-5)
    np.testing.assert_allclose(bs_b.draws["Days"] / 365.25, bs_a.draws["Days"], rtol=1e-5)
