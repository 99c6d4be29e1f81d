"""Satterthwaite t tests, contrasts and ANOVA tables against lmerTest's figures
(tests/reference/lmertest.json, written by tests/reference/lmertest.R)."""

from __future__ import annotations

import pytest
from lmertest_reference import MODELS, close_p, fit_of

@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_coefficient_t_tests(model_id):
    fit, ref = fit_of(model_id), MODELS[model_id]["coef_satterthwaite"]
    table = fit.coef_table()
    assert list(table.index) == list(ref)
    for name, r in ref.items():
        row = table.loc[name]
        assert row["df"] == pytest.approx(r["df"], rel=1e-3)
        assert row["t value"] == pytest.approx(r["t"], rel=1e-4)
        close_p(row["Pr(>|t|)"], r["p"], model_id)


@pytest.mark.parametrize("kind", ["anova3_satterthwaite", "anova1_satterthwaite"])
@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_anova_tables(model_id, kind):
    fit, ref = fit_of(model_id), MODELS[model_id][kind]
    table = fit.anova(type=3 if kind.startswith("anova3") else 1)
    assert list(table.index) == list(ref)
    for term, r in ref.items():
        row = table.loc[term]
        assert row["NumDF"] == r["NumDF"]
        assert row["DenDF"] == pytest.approx(r["DenDF"], rel=1e-3)
        assert row["F value"] == pytest.approx(r["F"], rel=1e-4)
        assert row["Sum Sq"] == pytest.approx(r["SumSq"], rel=1e-4)
        close_p(row["Pr(>F)"], r["p"], model_id)


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_contrasts(model_id):
    fit = fit_of(model_id)
    for case in MODELS[model_id]["contest"].values():
        assert case["columns"] == list(fit.fixef.index)
        r = case["satterthwaite"]["joint"]
        got = fit.contest(case["L"]).iloc[0]
        assert got["NumDF"] == r["NumDF"]
        assert got["DenDF"] == pytest.approx(r["DenDF"], rel=1e-3)
        assert got["F value"] == pytest.approx(r["F"], rel=1e-4)
        close_p(got["Pr(>F)"], r["p"], model_id)
        if "t" in case["satterthwaite"]:
            t = case["satterthwaite"]["t"]
            one = fit.contest(case["L"], joint=False).iloc[0]
            assert one["df"] == pytest.approx(t["df"], rel=1e-3)
            assert one["t value"] == pytest.approx(t["t"], rel=1e-4)


def test_seed_lee_bryk_numbers():
    """The school-data notes print these lmerTest figures for m3."""
    fit = fit_of("leebryk_m3")
    assert fit.coef_table()["df"].round(1).tolist() == [160.5, 151.0, 149.6]
    assert fit.anova()["F value"].round(3).tolist() == [209.522, 15.907]


def test_contest_wrong_width():
    fit = fit_of("leebryk_m3")
    with pytest.raises(ValueError, match="3 fixed effects") as info:
        fit.contest([1, 0])
    assert "\n" not in str(info.value)


def test_unknown_ddf_and_type():
    fit = fit_of("leebryk_m3")
    with pytest.raises(ValueError, match="ddf"):
        fit.coef_table(ddf="containment")
    with pytest.raises(ValueError, match="ANOVA type"):
        fit.anova(type=4)


@pytest.mark.parametrize("extra", [{}, {"dispformula": "~ Sex"}, {"residual": "ar1(age | Subject)"}])
def test_sigma_derivatives_in_closed_form_equal_finite_differences(extra):
    """The Hessian over (theta, [rho | delta], sigma) and the Jacobian of vcov(beta), with
    sigma's derivatives in closed form, equal finite differences of the whole deviance
    and of vcov(beta) over every parameter (sigma included)."""
    import numpy as np

    import multilevel as ml
    from multilevel.inference.derivatives import hessian, jacobian
    from multilevel.inference.satterthwaite import (_ResidualModelObjective, _residual_parameters,
                                                    varpar_covariance)
    from multilevel.inference.varpar import varpar_deviance, vcov_beta_at
    from multilevel.linalg import ThetaLayout
    from multilevel.lmm import LmmObjective

    fit = ml.lmer("distance ~ age + Sex + (1 + age | Subject)", ml.datasets.load("orthodont"), **extra)
    layout = ThetaLayout.from_terms(fit.design.terms)
    more = _residual_parameters(fit)
    obj = (LmmObjective(cp=fit._cp, layout=layout, reml=True) if more is None
           else _ResidualModelObjective(fit, layout))
    vp = np.r_[fit._theta_internal, [] if more is None else more, fit.sigma / fit._std.scale]
    H = hessian(lambda v: varpar_deviance(obj, v), vp)
    J = fit._std.vcov_to_user(jacobian(lambda v: vcov_beta_at(obj, v), vp))
    vc = varpar_covariance(fit)
    assert np.allclose(vc.hessian, H, rtol=1e-6, atol=1e-6 * np.abs(H).max())
    assert np.allclose(vc.jacobian, J, rtol=1e-8, atol=1e-10 * np.abs(J).max())
