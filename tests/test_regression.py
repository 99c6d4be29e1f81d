"""Fits without random effects (lm, glm, lmList) against R (tests/reference/regression.R)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from tests.conftest import TESTS

REF = json.loads((TESTS / "reference" / "regression.json").read_text())
D = ml.datasets.load

LM = {
    "sleep": lambda: ml.lm("Reaction ~ Days", D("sleepstudy")),
    "exam": lambda: ml.lm("normexam ~ standLRT + sex + schgend", D("exam")),
    "exam_weighted": lambda: ml.lm("normexam ~ standLRT + sex", D("exam"),
                                   weights=D("exam")["schavg"] + 2),
    "no_intercept": lambda: ml.lm("Reaction ~ 0 + Days", D("sleepstudy")),
    "zero_weights": lambda: ml.lm("Reaction ~ Days", D("sleepstudy"), weights=_w0()),
}
GLM = {
    "cbpp": lambda: ml.glm("cbind(incidence, size - incidence) ~ period", D("cbpp"), family="binomial"),
    "ticks": lambda: ml.glm("TICKS ~ YEAR + cHEIGHT", D("grouseticks"), family="poisson"),
    "verbagg": lambda: ml.glm("r2 ~ Anger + Gender + btype", D("verbagg"), family="binomial"),
    "probit": lambda: ml.glm("cbind(incidence, size - incidence) ~ period", D("cbpp"), family="binomial",
                             link="probit"),
    "gaussian": lambda: ml.glm("Reaction ~ Days", D("sleepstudy"), family="gaussian"),
    "gaussian_zero_weights": lambda: ml.glm("Reaction ~ Days", D("sleepstudy"), family="gaussian",
                                            weights=_w0()),
}


def _w0():
    """Weights with zeros (rows of weight zero leave n, as in R)."""
    i = np.arange(180)
    return np.where(i % 5 == 0, 0.0, 1.0 + i % 3)


def test_glm_predicts_with_the_formulas_offset():
    cbpp = D("cbpp").assign(ls=lambda d: np.log(d["size"]))
    fit = ml.glm("incidence ~ period + offset(ls)", cbpp, family="poisson")
    new = pd.DataFrame({"period": ["1", "3"], "ls": np.log([10.0, 20.0])})
    np.testing.assert_allclose(fit.predict(new, type="response"), REF["predict_offset"], rtol=1e-7)


@pytest.mark.parametrize("name", sorted(LM))
def test_lm_matches_r(name):
    fit, ref = LM[name](), REF["lm"][name]
    assert list(fit.fixef.index) == ref["names"]
    np.testing.assert_allclose(fit.fixef, ref["coef"], rtol=1e-10, atol=1e-12)
    tab = fit.coef_table()
    np.testing.assert_allclose(tab["Std. Error"], ref["se"], rtol=1e-9)
    np.testing.assert_allclose(tab["Pr(>|t|)"], ref["p"], rtol=1e-7, atol=1e-300)
    for ours, theirs in [(fit.sigma, "sigma"), (fit.df_resid, "df_resid"), (fit.r2, "r2"),
                         (fit.adj_r2, "adj_r2"), (fit.loglik, "loglik"), (fit.aic, "aic"), (fit.bic, "bic")]:
        assert ours == pytest.approx(ref[theirs], rel=1e-10), theirs
    if ref["fstat"] is not None:
        np.testing.assert_allclose(fit.fstat, ref["fstat"], rtol=1e-9)


@pytest.mark.parametrize("name", sorted(GLM))
def test_glm_matches_r(name):
    fit, ref = GLM[name](), REF["glm"][name]
    assert list(fit.fixef.index) == ref["names"]
    np.testing.assert_allclose(fit.fixef, ref["coef"], rtol=1e-7, atol=1e-9)
    tab = fit.coef_table()
    np.testing.assert_allclose(tab["Std. Error"], ref["se"], rtol=1e-6)
    for ours, theirs in [(fit.deviance, "deviance"), (fit.null_deviance, "null_deviance"),
                         (fit.loglik, "loglik"), (fit.aic, "aic")]:
        if ref[theirs] is None:  # R's gaussian logLik takes log(0) of a zero weight: NA
            continue
        assert ours == pytest.approx(ref[theirs], rel=1e-8), theirs
    assert (fit.df_resid, fit.df_null, fit.iterations) == (ref["df_resid"], ref["df_null"], ref["iter"])


@pytest.mark.parametrize("name, formula, data", [
    ("sleep", "Reaction ~ Days | Subject", "sleepstudy"),
    ("gcse", "course ~ female | school", "gcsemv"),
])
def test_lmlist_matches_lme4(name, formula, data):
    fits, ref = ml.lmlist(formula, D(data)), REF["lmlist"][name]
    assert list(fits.coef.index) == ref["groups"] and list(fits.coef.columns) == ref["names"]
    want = np.array([[np.nan if v is None else v for v in row] for row in ref["coef"]], dtype=float)
    failed = np.isnan(want).all(axis=1)  # lme4 gives up on a school whose students share one gender
    np.testing.assert_allclose(fits.coef.to_numpy()[~failed], want[~failed], rtol=1e-9)
    assert np.isnan(fits.coef.to_numpy()[failed, 1]).all()  # here: the gender effect alone is missing
    assert fits.sigma == pytest.approx(ref["sigma"], rel=1e-10)
    assert fits.df_resid == ref["df"]
    se = np.array([[np.nan if v is None else v for v in row] for row in ref["se"]], dtype=float)
    np.testing.assert_allclose(fits.se.to_numpy()[~failed], se.T[~failed] if se.shape[0] != len(failed)
                               else se[~failed], rtol=1e-9)


def test_anova_of_a_mixed_model_and_one_without_random_effects():
    sleep = D("sleepstudy")
    a = ml.anova(ml.lm("Reaction ~ Days", sleep), ml.lmer("Reaction ~ Days + (1 | Subject)", sleep))
    assert a.table["Chisq"].iloc[1] == pytest.approx(REF["anova"]["lm"]["chisq"], rel=1e-6)
    np.testing.assert_allclose(a.table["logLik"], sorted(REF["anova"]["lm"]["logLik"]), rtol=1e-8)
    cbpp = D("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = ml.anova(GLM["cbpp"](), ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp))
    assert b.table["Chisq"].iloc[1] == pytest.approx(REF["anova"]["glm"]["chisq"], rel=1e-3)
    with pytest.raises(ValueError, match="compares linear models"):
        ml.anova(ml.lm("Reaction ~ Days", sleep), GLM["gaussian"]() if False else
                 ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cbpp))
    with pytest.raises(ValueError, match="with an F test"):
        ml.anova(ml.lm("Reaction ~ Days", sleep), ml.lm("Reaction ~ 1", sleep))


def test_predictions_and_bad_input():
    fit = LM["sleep"]()
    np.testing.assert_allclose(fit.predict(pd.DataFrame({"Days": [0.0]})), fit.fixef.iloc[0])
    assert np.allclose(fit.fitted + fit.residuals, D("sleepstudy")["Reaction"])
    g = GLM["ticks"]()
    np.testing.assert_allclose(g.predict(type="response"), g.fitted)
    with pytest.raises(ValueError, match="lm fits fixed effects only"):
        ml.lm("Reaction ~ Days + (1 | Subject)", D("sleepstudy"))
    with pytest.raises(ValueError, match="glm fits fixed effects only"):
        ml.glm("TICKS ~ YEAR + (1 | BROOD)", D("grouseticks"), family="poisson")
    with pytest.raises(ValueError, match="lmlist needs a formula 'y ~ x \\| g'"):
        ml.lmlist("Reaction ~ Days", D("sleepstudy"))
    with pytest.raises(ValueError, match="grouping column 'Subj' is not in the data"):
        ml.lmlist("Reaction ~ Days | Subj", D("sleepstudy"))
