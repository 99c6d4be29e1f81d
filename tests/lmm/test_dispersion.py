"""Linear mixed models with a residual SD model (``dispformula``) against nlme's lme
with varIdent / varExp weights and glmmTMB's dispformula
(tests/reference/dispersion.R): the log-likelihood within 1e-6 relative, the
fixed effects, sigma, the random intercept's SD and the log SD ratios within
1e-3."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "dispersion.json").read_text())
CASES = {f"{m['id']}-{'reml' if m['reml'] else 'ml'}": m for m in REF["models"]}


def _data(name):
    return ml.datasets.load("orthodont" if name == "orthodont" else "sleepstudy")


@pytest.fixture(scope="module")
def fits():
    return {key: ml.lmer(m["formula"], _data(m["dataset"]), reml=m["reml"], dispformula=m["dispformula"])
            for key, m in CASES.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_against_nlme_and_glmmtmb(fits, case):
    m, fit = CASES[case], fits[case]
    assert fit.loglik >= m["loglik"] - 1e-6 * abs(m["loglik"])
    assert fit.loglik == pytest.approx(m["loglik"], rel=1e-6)
    if m.get("glmmTMB_loglik") is not None:
        assert fit.loglik == pytest.approx(m["glmmTMB_loglik"], rel=1e-6)
    assert fit.df == m["df"]
    np.testing.assert_allclose(fit.fixef[list(m["fixef"])], list(m["fixef"].values()), rtol=1e-3, atol=1e-4)
    (name, delta), = m["delta"].items()
    disp = fit.dispersion
    if name == "Male":  # nlme's varIdent: boys' SD over girls' (its reference); ours: girls' over boys'
        assert disp.loc["SexFemale", "Estimate"] == pytest.approx(-delta, abs=1e-3)
        sigma_ref = m["sigma"] * np.exp(delta)  # boys' residual SD, this fit's sigma
    else:  # varExp: the same coefficient; nlme's sigma is at x = 0, this fit's at the column's mean
        assert disp.iloc[0]["Estimate"] == pytest.approx(delta, abs=1e-4)
        sigma_ref = m["sigma"] * np.exp(fit.design.dispersion.center[0] * delta)
    assert fit.sigma == pytest.approx(sigma_ref, rel=1e-3)
    assert fit.varcorr["std_dev"].iloc[0] == pytest.approx(m["sd"], rel=1e-3)
    assert np.all(disp["Std. Error"] > 0)


def test_outputs_and_refits(fits, tmp_path):
    fit = fits["orthodont_sex-reml"]
    text = fit.summary()
    assert "Residual SD model (dispformula = ~ Sex" in text and "SexFemale 0.4679" in text
    assert "Weights:" not in text
    o = ml.datasets.load("orthodont")
    # prediction intervals with each row's residual SD: a girl's narrower than a boy's
    pi = fit.predict(o.iloc[[0, 100]], interval="prediction", random=False)
    width = (pi["upper"] - pi["lower"]).to_numpy()
    assert width[1] < width[0]
    # simulated responses have the modelled residual SDs
    sim = fit.simulate(400, seed=3, use_re=True).to_numpy()
    resid = sim - fit.fitted.to_numpy()[:, None]
    girls = (o["Sex"] == "Female").to_numpy()
    ratio = resid[girls].std() / resid[~girls].std()
    assert ratio == pytest.approx(fit.dispersion["SD ratio"].iloc[0], rel=0.05)
    # a refit estimates the dispersion again; saving keeps the model
    again = ml.load(fit.save(tmp_path / "disp.mlfit"))
    assert again.loglik == pytest.approx(fit.loglik, rel=1e-12) and again.df == fit.df
    pd.testing.assert_frame_equal(again.dispersion, fit.dispersion)
    boot = ml.bootstrap(fit, nsim=5, seed=1)
    assert boot.summary().shape[0] >= 6


def test_units_and_row_order():
    ss = ml.datasets.load("sleepstudy")
    a = ml.lmer("Reaction ~ Days + (1 | Subject)", ss, reml=False, dispformula="~ Days")
    b = ml.lmer("Reaction ~ x + (1 | Subject)", ss.assign(w=ss.Days * 86400 + 1e9, x=ss.Days / 365.25),
                reml=False, dispformula="~ w")  # (a shift of 1e9 s: exp(-2 x' delta) alone would underflow)
    assert b.loglik == pytest.approx(a.loglik, rel=1e-10) and b.sigma == pytest.approx(a.sigma, rel=1e-6)
    assert b.dispersion["Estimate"].iloc[0] * 86400 == pytest.approx(a.dispersion["Estimate"].iloc[0], rel=1e-5)
    o = ml.datasets.load("orthodont")
    base = ml.lmer("distance ~ age * Sex + (1 | Subject)", o, reml=False, dispformula="~ age")
    months = ml.lmer("distance ~ m * Sex + (1 | Subject)", o.assign(m=12.0 * o.age), reml=False,
                     dispformula="~ m")
    assert months.loglik == pytest.approx(base.loglik, rel=1e-9)
    assert months.dispersion["Estimate"].iloc[0] * 12 == pytest.approx(base.dispersion["Estimate"].iloc[0], rel=1e-4)
    shuffled = o.iloc[np.random.default_rng(1).permutation(len(o))]
    again = ml.lmer("distance ~ age * Sex + (1 | Subject)", shuffled, reml=False, dispformula="~ age")
    assert again.loglik == pytest.approx(base.loglik, rel=1e-10)


@pytest.mark.parametrize("dispformula, error, message", [
    ("~ 0 + Sex", ValueError, "has no intercept"),
    ("~ 1", ValueError, "only an intercept"),
    ("~ Sexx", ValueError, "dispformula='~ Sexx'.*Sexx"),
    ("~ (1 | Subject)", ValueError, "fixed-effects right-hand side"),
    (3, TypeError, "dispformula must be a formula's right-hand side"),
])
def test_bad_dispformula(dispformula, error, message):
    with pytest.raises(error, match=message):
        ml.lmer("distance ~ age + (1 | Subject)", ml.datasets.load("orthodont"), dispformula=dispformula)


def test_power_and_refits_use_the_fitted_dispersion():
    from multilevel.inference.power import _parameter_fit

    o = ml.datasets.load("orthodont")
    fit = ml.lmer("distance ~ age * Sex + (1 | Subject)", o, dispformula="~ Sex")
    sub = o[o.Subject.isin(["M01", "M02", "M03", "M04", "F01", "F02", "F03", "F04"])]
    pf = _parameter_fit(fit, sub, "age", None)
    np.testing.assert_allclose(pf.design.dispersion.coef, fit.design.dispersion.coef)
    girls = (sub["Sex"] == "Female").to_numpy()
    np.testing.assert_allclose(pf.design.weights[girls], np.exp(-2 * fit.design.dispersion.coef[0]))
    new = o.iloc[[0, 100]]
    sims = fit.simulate(2000, seed=1, newdata=new, use_re=True).to_numpy()
    ratio = sims[1].std() / sims[0].std()
    assert ratio == pytest.approx(fit.dispersion["SD ratio"].iloc[0], rel=0.1)


def test_icc_and_shrinkage_refuse_a_residual_sd_model(fits):
    fit = fits["orthodont_sex-reml"]
    with pytest.raises(ValueError, match="no single residual variance"):
        fit.icc()
    with pytest.raises(ValueError, match="shrinkage factors of a fit with a residual SD model"):
        fit.shrinkage()
    assert np.all(fit.coef_table()["df"] < 105)  # delta among the variance parameters


def test_sd_model_standard_errors_with_a_variance_on_its_bound():
    """A random-effects variance estimated at zero leaves its theta out of the Hessian; the SD
    model's standard errors are read at their own positions (one per coefficient)."""
    import warnings

    rng = np.random.default_rng(1)
    o = ml.datasets.load("orthodont")
    o["site"] = np.where(o["Subject"].astype(str).str[-1].astype(int) % 2 == 0, "a", "b")
    o["visit"] = o["age"].astype(str)
    o["y"] = rng.normal(size=len(o)) * o["age"].map({8: 1.0, 10: 1.5, 12: 2.0, 14: 3.0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer("y ~ age + (1 | Subject) + (1 | site)", o, dispformula="~ visit")
    assert fit.theta.iloc[1] == 0.0
    table = fit.dispersion
    assert len(table) == 3 and np.all(np.isfinite(table["Std. Error"])) and np.all(table["Std. Error"] > 0)
