"""Inference on GLMM fits against lme4 and performance (tests/reference/lme4_glmm_inference.*)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

REF = json.loads((Path(__file__).parents[1] / "reference" / "lme4_glmm_inference.json").read_text())


def _fits():
    cb = ml.datasets.load("cbpp")
    grouse = ml.datasets.load("grouseticks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "m1": ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb),
            "m0": ml.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", cb),
            "g1": ml.glmer("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", grouse, family="poisson"),
            "g0": ml.glmer("TICKS ~ YEAR + (1 | BROOD) + (1 | LOCATION)", grouse, family="poisson"),
        }


FITS = _fits()
CASES = {"cbpp": ("m0", "m1"), "grouseticks": ("g0", "g1")}


def _ref_ci(block):
    return np.column_stack([block["lower"], block["upper"]]).astype(float)


@pytest.mark.parametrize("data", sorted(CASES))
def test_anova_matches_lme4(data):
    small, big = (FITS[k] for k in CASES[data])
    ref = REF[f"anova_{data}"]
    table = ml.anova(big, small, names=["big", "small"]).table
    assert table["npar"].tolist() == ref["npar"]
    # our optima are at or a little above glmer's (g0: 0.0065 higher)
    assert (table["logLik"].to_numpy() >= np.asarray(ref["logLik"]) - 1e-4).all()
    np.testing.assert_allclose(table["logLik"], ref["logLik"], atol=1e-2)
    np.testing.assert_allclose(table["Chisq"].iloc[1], ref["Chisq"][1], rtol=1e-3)
    assert table["Df"].iloc[1] == ref["Df"][1]
    np.testing.assert_allclose(table["Pr(>Chisq)"].iloc[1], ref["Pr(>Chisq)"][1], rtol=1e-2)


def test_anova_refuses_mixed_kinds(sleepstudy):
    lm = ml.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    with pytest.raises(ValueError, match="compares linear models"):
        ml.anova(lm, FITS["m1"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probit = ml.glmer("cbind(incidence, size - incidence) ~ 1 + (1 | herd)", ml.datasets.load("cbpp"),
                          link="probit")
    with pytest.raises(ValueError, match="different families or links"):
        ml.anova(probit, FITS["m1"])


@pytest.mark.parametrize("data,fit", [("cbpp", "m1"), ("grouseticks", "g1")])
def test_profile_intervals_match_lme4(data, fit):
    ref = REF[data]["confint_profile"]
    ci = FITS[fit].confint()
    assert list(ci.index[len(FITS[fit].theta):]) == ref["rownames"][len(FITS[fit].theta):]
    np.testing.assert_allclose(ci.to_numpy(), _ref_ci(ref), rtol=2e-4, atol=5e-5)


@pytest.mark.parametrize("data,fit", [("cbpp", "m1"), ("grouseticks", "g1")])
def test_wald_intervals_match_lme4(data, fit):
    ref = REF[data]["confint_wald"]
    ci = FITS[fit].confint(method="wald")
    nvar = len(FITS[fit].theta)
    assert ci.iloc[:nvar].isna().all().all()
    # the standard errors come from a finite-difference Hessian, as glmer's do;
    # the limits agree to 1.5% of the half-width
    got, want = ci.to_numpy()[nvar:], _ref_ci(ref)[nvar:]
    half = (want[:, 1] - want[:, 0]) / 2
    assert (np.abs(got - want) < 0.015 * half[:, None]).all()


@pytest.mark.parametrize("data,fit", [("cbpp", "m1"), ("grouseticks", "g1")])
def test_icc_and_r2_match_performance(data, fit):
    """Within 2e-3: the variance components come from our optimum, whose
    log-likelihood is a little above glmer's."""
    ref = REF[data]
    icc, r2 = FITS[fit].icc(), FITS[fit].r2()
    np.testing.assert_allclose([icc["adjusted"], icc["conditional"]],
                               [ref["icc"]["ICC_adjusted"], ref["icc"]["ICC_unadjusted"]], rtol=2e-3)
    np.testing.assert_allclose([r2["conditional"], r2["marginal"]],
                               [ref["r2_nakagawa"]["R2_conditional"], ref["r2_nakagawa"]["R2_marginal"]],
                               rtol=2e-3)


def test_bootstrap_of_a_glmer_fit():
    fit = FITS["m1"]
    b = ml.bootstrap(fit, nsim=40, seed=2, n_jobs=1)
    again = ml.bootstrap(fit, nsim=40, seed=2, n_jobs=2)
    assert b.n_failed == 0
    np.testing.assert_allclose(b.draws.to_numpy(), again.draws.to_numpy())
    assert list(b.draws.columns) == ["sd_(Intercept)|herd", "(Intercept)", "period2", "period3", "period4"]
    ci = fit.confint(method="boot", nsim=40, seed=2, n_jobs=1)
    assert (ci.iloc[:, 0] < fit.confint(method="wald").iloc[:, 1].fillna(np.inf)).all()
    # the simulated responses are proportions of the herds' sizes
    from multilevel.inference.bootstrap import simulate_response

    y = simulate_response(fit, np.random.default_rng(1)) * fit._prior
    np.testing.assert_allclose(y, np.round(y))


def test_glmm_profile_does_not_depend_on_units():
    grouse = ml.datasets.load("grouseticks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.glmer("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)",
                       grouse.assign(cHEIGHT=grouse.cHEIGHT * 100.0 + 3e4), family="poisson")
    ci = fit.confint(parm=["cHEIGHT", "sd_(Intercept)|BROOD"])
    ref = REF["grouseticks"]["confint_profile"]
    np.testing.assert_allclose(ci.loc["cHEIGHT"] * 100.0, _ref_ci(ref)[-1], rtol=2e-4)
    np.testing.assert_allclose(ci.loc["sd_(Intercept)|BROOD"], _ref_ci(ref)[0], rtol=2e-4)


def test_profile_of_a_correlated_term_matches_lme4():
    """grouseticks TICKS ~ cHEIGHT + (1 + cHEIGHT | YEAR) (tests/reference/lme4_glmm_profile_corr.*).

    The standard deviations and fixed effects agree with lme4's limits. For the
    correlation lme4 interpolates a spline through a few profile points, which
    near +-1 is visibly off: our profile agrees with lme4's own profile points
    (zeta at its parameter values), and our limits are where zeta = +-1.96.
    """
    from multilevel.inference.glmm_profile import _Deviance
    from multilevel.inference.profile import _bobyqa, _rel_from_theta, _terms, _theta_from_rel

    ref = json.loads((Path(__file__).parents[1] / "reference" / "lme4_glmm_profile_corr.json").read_text())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.glmer("TICKS ~ cHEIGHT + (1 + cHEIGHT | YEAR)", ml.datasets.load("grouseticks"), family="poisson")
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    ci = fit.confint()
    want = _ref_ci(ref["confint_profile"])
    rows = [0, 2, 3, 4]
    np.testing.assert_allclose(ci.to_numpy()[rows], want[rows], rtol=5e-4, atol=5e-5)
    assert np.all(np.abs(ci.to_numpy()[1] - want[1]) < 0.03)
    # our zeta at lme4's profile points of the correlation
    dev = _Deviance(fit)
    terms = _terms(dev.layout)
    y_hat = np.concatenate([_rel_from_theta(terms, fit.theta.to_numpy()), fit.fixef.to_numpy()])
    dmin = dev(np.asarray(fit._x_internal))

    def profiled(v):
        def f(free):
            y = np.concatenate([[free[0], v], free[1:]])
            return dev(np.concatenate([dev.st.theta_to_internal(_theta_from_rel(terms, y[:3])),
                                       dev.st.beta_to_internal(y[3:])]))
        _, fv, _, _ = _bobyqa(f, y_hat[[0, 2, 3, 4]], np.array([0.0, 0.0, -np.inf, -np.inf]), np.full(4, np.inf),
                              np.array([0.1, 0.002, 0.2, 0.005]), 1e-10, 1e-12)
        return np.sign(v - y_hat[1]) * np.sqrt(max(fv - dmin, 0.0))

    table = ref["profile_table"][".sig02"]
    for v, z in list(zip(table["par"], table["zeta"]))[1::3]:
        assert profiled(v) == pytest.approx(z, abs=2e-3)
    for limit, z in zip(ci.iloc[1], (-1.959964, 1.959964)):
        assert profiled(limit) == pytest.approx(z, abs=2e-3)


def test_a_correlation_profile_toward_minus_one_finds_its_limit():
    # the profile once restarted from the boundary (cor = -1, where the slope's SD went to
    # zero) and stayed flat: the lower limit came out NaN where lme4's is -0.912
    ref = json.loads((Path(__file__).parents[1] / "reference" / "glmm_profile_corr_slope.json").read_text())
    d = pd.read_csv(Path(__file__).parents[1] / "reference" / "data" / "glmm_corr_slope.csv")
    fit = ml.glmer("cbind(succ, fail) ~ x + (1 + x | g)", d)
    assert fit.loglik >= ref["loglik"] - 1e-6  # lme4's optimum or a higher one
    ci = fit.confint()
    assert list(ci.index) == ref["parameters"]
    np.testing.assert_allclose(ci.iloc[:, 0], ref["lower"], rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(ci.iloc[:, 1], ref["upper"], rtol=2e-3, atol=2e-3)


def test_glmm_profile_limits_of_a_slope_per_second():
    """The roots' tolerance is in the parameter's units: with HEIGHT x 86400 an absolute 1e-8
    moved the slope's upper limit by 0.9% (-0.01784 for -0.01800 per unit)."""
    gt = ml.datasets.load("grouseticks")
    a = ml.glmer("TICKS ~ YEAR + HEIGHT + (1 | BROOD)", gt, family="poisson").confint(method="profile")
    b = ml.glmer("TICKS ~ YEAR + HEIGHT + (1 | BROOD)", gt.assign(HEIGHT=gt["HEIGHT"] * 86400.0),
                 family="poisson").confint(method="profile")
    np.testing.assert_allclose(b.loc["HEIGHT"] * 86400.0, a.loc["HEIGHT"], rtol=1e-5)
    np.testing.assert_allclose(b.drop(index="HEIGHT"), a.drop(index="HEIGHT"), rtol=1e-5)
