"""Kenward-Roger adjusted covariance, t and F tests against pbkrtest via lmerTest."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import multilevel as ml

from lmertest_reference import MODELS, close_p, fit_of


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_adjusted_covariance(model_id):
    ref = np.asarray(MODELS[model_id]["kr_vcov_beta_adjusted"], dtype=float)
    got = fit_of(model_id)._kenward_roger.phi_adj_user
    scale = np.sqrt(np.outer(np.diag(ref), np.diag(ref)))
    np.testing.assert_allclose(got / scale, ref / scale, atol=1e-4)


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_coefficient_t_tests(model_id):
    fit, ref = fit_of(model_id), MODELS[model_id]["coef_kenward_roger"]
    table = fit.coef_table(ddf="kenward-roger")
    for name, r in ref.items():
        row = table.loc[name]
        assert row["Std. Error"] == pytest.approx(r["SE"], rel=1e-4)
        assert row["df"] == pytest.approx(r["df"], rel=1e-3)
        assert row["t value"] == pytest.approx(r["t"], rel=1e-4)
        close_p(row["Pr(>|t|)"], r["p"], model_id)


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_anova_type3(model_id):
    fit, ref = fit_of(model_id), MODELS[model_id]["anova3_kenward_roger"]
    table = fit.anova(ddf="kenward-roger")
    assert list(table.index) == list(ref)
    for term, r in ref.items():
        row = table.loc[term]
        assert row["DenDF"] == pytest.approx(r["DenDF"], rel=1e-3)
        assert row["F value"] == pytest.approx(r["F"], rel=1e-4)
        assert row["Sum Sq"] == pytest.approx(r["SumSq"], rel=1e-4)
        close_p(row["Pr(>F)"], r["p"], model_id)


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_contrasts(model_id):
    fit = fit_of(model_id)
    for case in MODELS[model_id]["contest"].values():
        r = case["kenward_roger"]["joint"]
        got = fit.contest(case["L"], ddf="kenward-roger").iloc[0]
        assert got["DenDF"] == pytest.approx(r["DenDF"], rel=1e-3)
        assert got["F value"] == pytest.approx(r["F"], rel=1e-4)


def test_ml_fit_is_refused():
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"), reml=False)
    with pytest.raises(ValueError, match="REML") as info:
        fit.coef_table(ddf="kenward-roger")
    assert "\n" not in str(info.value)


@settings(max_examples=6, deadline=None)
@given(scale=st.sampled_from([1e-3, 0.25, 40.0]), shift=st.sampled_from([0.0, -30.0, 1e3]))
def test_kenward_roger_does_not_depend_on_a_predictors_units(scale, shift):
    # X'V^-1 X of standLRT / 1000 + 1000 beside the intercept is too ill-conditioned to
    # invert in the user's units: a standard error of the other effects moved by 17%
    formula = "normexam ~ standLRT + sex + schgend + (1 | school)"
    d = ml.datasets.load("exam")
    base = ml.lmer(formula, d).coef_table("kenward-roger")
    other = ml.lmer(formula, d.assign(standLRT=d["standLRT"] * scale + shift)).coef_table("kenward-roger")
    rest = ["sexM", "schgendboys", "schgendgirls"]
    np.testing.assert_allclose(other.loc[rest].to_numpy(), base.loc[rest].to_numpy(), rtol=2e-5)
    np.testing.assert_allclose(other.loc["standLRT", "Std. Error"] * scale,
                               base.loc["standLRT", "Std. Error"], rtol=2e-5)
    np.testing.assert_allclose(other.loc["standLRT", "df"], base.loc["standLRT", "df"], rtol=2e-5)


@pytest.mark.parametrize("scale, shift", [(1.0, 1000.0), (1.0, 1e9), (1e-6, 0.0), (86400.0, 0.0)])
def test_kenward_roger_does_not_depend_on_a_random_slopes_units(scale, shift):
    # the information of a random slope's variance parameters in the units of Days + 1000 was
    # near singular: 4,140 df for the slope's 17 (infinite at Days + 1e5, an error at + 1e9)
    s = ml.datasets.load("sleepstudy")
    base = ml.lmer("Reaction ~ Days + (Days | Subject)", s)
    other = ml.lmer("Reaction ~ Days + (Days | Subject)", s.assign(Days=s["Days"] * scale + shift))
    a, b = base.coef_table("kenward-roger"), other.coef_table("kenward-roger")
    np.testing.assert_allclose(b.loc["Days", ["df", "t value"]].to_numpy(dtype=float),
                               a.loc["Days", ["df", "t value"]].to_numpy(dtype=float), rtol=1e-5)
    np.testing.assert_allclose(ml.emmeans(other, "Days")[["SE", "df"]].to_numpy(dtype=float),
                               ml.emmeans(base, "Days")[["SE", "df"]].to_numpy(dtype=float), rtol=1e-5)
    ya = base.refit(reml=False)
    yb = other.refit(reml=False)  # an ML fit's df: its covariance, its REML fit's derivatives
    np.testing.assert_allclose(ml.emmeans(yb, "Days")[["SE", "df"]].to_numpy(dtype=float),
                               ml.emmeans(ya, "Days")[["SE", "df"]].to_numpy(dtype=float), rtol=1e-5)


def test_kenward_roger_means_with_a_random_slope_in_years_since_2000():
    o = ml.datasets.load("orthodont")
    ref = ml.emmeans(ml.lmer("distance ~ Sex * age + (age | Subject)", o), "Sex")
    moved = ml.emmeans(ml.lmer("distance ~ Sex * age + (age | Subject)",
                               o.assign(age=o["age"] / 365.25 + 2000)), "Sex")
    np.testing.assert_allclose(moved[["SE", "df"]].to_numpy(dtype=float), ref[["SE", "df"]].to_numpy(dtype=float),
                               rtol=1e-5)   # (the SEs were 0)
    np.testing.assert_allclose(moved.pairs()["SE"], ref.pairs()["SE"], rtol=1e-5)
