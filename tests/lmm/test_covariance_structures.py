"""Structured random-effects covariances (cs, hcs, ar1, and the us / diag spellings)
fitted by ml.lmer and ml.glmer, against glmmTMB 1.1.5 and nlme
(tests/reference/covstruct.R): the log-likelihood within 1e-6 relative (at or
above the reference's), the fixed effects, residual SD, SDs and correlation
within 1e-3; and the equal models of another route where there is one (hcs
of two columns and us are lme4's unstructured term, cs over a factor's
indicators is the nested random intercepts, an AR(1) term over equally
spaced occasions is gls with an exponential correlation and a nugget)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "covstruct.json").read_text())


def _data(name: str) -> pd.DataFrame:
    if name == "sleep":
        return ml.datasets.load("sleepstudy").assign(occ=lambda d: pd.Categorical(d.Days, ordered=True))
    if name == "machines":
        return ml.datasets.load("machines").assign(Machine=lambda d: d.Machine.cat.as_ordered())
    if name == "cbpp":
        return ml.datasets.load("cbpp").assign(per=lambda d: pd.Categorical(d.period.astype(int), ordered=True))
    return ml.datasets.load("orthodont").assign(occ=lambda d: pd.Categorical(d.age, ordered=True))


def _fit(m):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (two of the reference models are singular)
        if m["family"] == "gaussian":
            return ml.lmer(m["formula"], _data(m["dataset"]), reml=m["reml"])
        return ml.glmer(m["formula"], _data(m["dataset"]), family=m["family"])


CASES = {f"{m['id']}-{'reml' if m['reml'] else 'ml'}": m for m in REF["models"]}


@pytest.mark.parametrize("case", list(CASES))
def test_against_glmmtmb_and_nlme(case):
    m = CASES[case]
    fit = _fit(m)
    best = m["loglik"] if m["loglik"] is not None else m["equal_to"]["loglik"]
    if m.get("equal_to"):
        best = max(best, m["equal_to"]["loglik"])
    assert fit.loglik >= best - 1e-6 * abs(best)
    assert fit.loglik == pytest.approx(best, rel=1e-6)
    if m.get("equal_to"):
        assert fit.loglik == pytest.approx(m["equal_to"]["loglik"], rel=1e-6)
    if m["loglik"] is None or m["loglik"] < best - 1e-3:
        return  # glmmTMB stopped below the optimum (sleepstudy's AR(1) by ML and REML): nothing more to compare
    assert fit.df == m["df"]
    np.testing.assert_allclose(fit.fixef[list(m["fixef"])], list(m["fixef"].values()), rtol=1e-3, atol=1e-4)
    if m["family"] == "gaussian":
        assert fit.sigma == pytest.approx(m["sigma"], rel=1e-3)
    vc = fit.varcorr
    for term in m["terms"]:
        rows = vc[vc["group"].str.split(".").str[0] == term["group"]]
        np.testing.assert_allclose(rows["std_dev"].to_numpy()[: len(term["sd"])], term["sd"], rtol=1e-3, atol=1e-4)
        if term.get("rho") and rows["corr"].iloc[1]:  # (diag's split terms have no correlation)
            assert rows["corr"].iloc[1][0] == pytest.approx(term["rho"], abs=1e-3)


@pytest.fixture(scope="module")
def orthodont_ar1():
    return ml.lmer("distance ~ age * Sex + ar1(0 + occ | Subject)", _data("orthodont"))


def test_parameters_summary_and_inference(orthodont_ar1):
    fit = orthodont_ar1
    assert list(fit.theta.index) == ["Subject.sd", "Subject.rho_transformed"]
    vc = fit.varcorr
    rho = vc["corr"].iloc[1][0]
    assert vc["corr"].iloc[3] == pytest.approx((rho ** 3, rho ** 2, rho))
    text = fit.summary()
    assert "0.96 (ar1)" in text and "occ10" not in text.split("Fixed effects")[0]
    assert fit.df == 4 + 2 + 1
    # Satterthwaite's df through the structure's parameters; Kenward-Roger's and profiles refused
    table = fit.coef_table()
    assert np.all((table["df"] > 20) & (table["df"] < 110))
    with pytest.raises(ValueError, match="Kenward-Roger's method is not available .* use Satterthwaite's"):
        fit.coef_table(ddf="kenward-roger")
    prof = fit.confint(method="profile", parm="theta_")  # (checked in tests/inference/test_profile_structures.py)
    assert list(prof.index) == ["sd_ar1|Subject", "rho_ar1|Subject", "sigma"]
    assert np.all(prof.iloc[:, 0] <= prof.iloc[:, 1])
    em = ml.emmeans(fit, "Sex")  # Satterthwaite's df by default here
    assert "satterthwaite" in str(em).lower()
    ci = fit.confint(method="wald")
    assert list(ci.index[:3]) == ["sd_ar1|Subject", "rho_ar1|Subject", "sigma"]


def test_likelihood_ratio_between_structures(orthodont_ar1):
    ri = ml.lmer("distance ~ age * Sex + (1 | Subject)", _data("orthodont"))
    table = ml.anova(ri, orthodont_ar1).table
    assert list(table["npar"]) == [6, 7] and table["Df"].iloc[1] == 1


def test_refits_keep_the_structure(orthodont_ar1, tmp_path):
    fit = orthodont_ar1
    boot = ml.bootstrap(fit, nsim=8, seed=2)
    assert "rho_ar1|Subject" in boot.summary().index
    again = ml.load(fit.save(tmp_path / "ar1.mlz"))
    assert again.loglik == pytest.approx(fit.loglik, rel=1e-12)
    assert list(again.theta.index) == list(fit.theta.index)
    sim = fit.simulate(3, seed=1)
    assert sim.shape == (108, 3)


def test_units_and_row_order_do_not_move_the_fit():
    d = _data("sleep")
    base = ml.lmer("Reaction ~ Days + hcs(1 + Days | Subject)", d, reml=False)  # (REML's moves with X's units)
    hours = ml.lmer("Reaction ~ hours + hcs(1 + hours | Subject)", d.assign(hours=24.0 * d.Days), reml=False)
    assert hours.loglik == pytest.approx(base.loglik, rel=1e-9)
    assert hours.fixef["hours"] * 24 == pytest.approx(base.fixef["Days"], rel=1e-6)
    assert hours.varcorr["std_dev"].iloc[1] * 24 == pytest.approx(base.varcorr["std_dev"].iloc[1], rel=1e-5)
    rng = np.random.default_rng(3)
    shuffled = d.iloc[rng.permutation(len(d))]
    ar = ml.lmer("Reaction ~ Days + ar1(0 + occ | Subject)", d, reml=False)
    ar2 = ml.lmer("Reaction ~ Days + ar1(0 + occ | Subject)", shuffled, reml=False)
    assert ar2.loglik == pytest.approx(ar.loglik, rel=1e-9)
    assert ar2.varcorr["corr"].iloc[1][0] == pytest.approx(ar.varcorr["corr"].iloc[1][0], abs=1e-5)


def test_compound_symmetry_with_one_observation_per_cell_is_refused():
    with pytest.raises(ValueError, match=r"is the random intercept model \(1 \| Subject\); write that"):
        ml.lmer("distance ~ age + cs(0 + occ | Subject)", _data("orthodont"))


def test_ordered_occasions_are_checked_for_spacing_and_unused_ones_keep_their_place():
    o = ml.datasets.load("orthodont")
    o2 = o[o.age != 12].copy()
    o2["occ"] = pd.Categorical(o2.age, ordered=True)  # 8, 10, 14: not one step apart
    with pytest.raises(ValueError, match="needs equally spaced occasions, but occ takes the values 8, 10, 14"):
        ml.lmer("distance ~ age + ar1(0 + occ | Subject)", o2)
    o2["occ"] = pd.Categorical(o2.age, categories=[8, 10, 12, 14], ordered=True)  # age 12 keeps its column
    fit = ml.lmer("distance ~ age + ar1(0 + occ | Subject)", o2)
    rho = fit.varcorr["corr"].iloc[1][0]
    assert fit.varcorr["corr"].iloc[3][0] == pytest.approx(rho ** 3)  # 8 to 14: three steps


def test_two_structured_terms_on_one_factor_have_their_own_names():
    m = ml.datasets.load("machines")
    x = m.assign(fb=m.Machine.cat.codes)
    fit = ml.lmer("score ~ Machine + cs(0 + Machine | Worker) + ar1(0 + C(fb) | Worker)", x)
    assert list(fit.theta.index) == ["Worker.sd", "Worker.rho_transformed", "Worker.1.sd",
                                     "Worker.1.rho_transformed"]
    assert list(fit.confint(method="wald").index[:4]) == ["sd_cs|Worker", "rho_cs|Worker", "sd_ar1|Worker.1",
                                                         "rho_ar1|Worker.1"]


def test_a_start_at_a_correlation_of_one_does_not_crash():
    fit = ml.lmer("score ~ Machine + cs(0 + Machine | Worker)", ml.datasets.load("machines"), start=[1.0, 40.0])
    assert np.isfinite(fit.loglik)


def test_glmmtmb_names():
    from multilevel.formula import parse_formula

    assert parse_formula("y ~ homcs(0 + t | g)").bars[0].structure == "cs"  # glmmTMB's homogeneous cs


def test_kenward_roger_for_compound_symmetry_equals_the_nested_model():
    # cs over a factor's indicators is linear in its variance and covariance: KR's components are those two,
    # and on unbalanced data its adjusted SEs and df equal the nested intercepts' (checked against pbkrtest)
    m = ml.datasets.load("machines").drop(index=[0, 7, 20, 33, 40])
    cs = ml.lmer("score ~ Machine + cs(0 + Machine | Worker)", m)
    nested = ml.lmer("score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", m)
    a, b = cs.coef_table(ddf="kenward-roger"), nested.coef_table(ddf="kenward-roger")
    np.testing.assert_allclose(a["Std. Error"], b["Std. Error"], rtol=1e-5)
    np.testing.assert_allclose(a["df"], b["df"], rtol=1e-5)
    assert not np.allclose(a["df"], cs.coef_table()["df"], rtol=1e-3)  # (not Satterthwaite's)
    assert "kenward-roger" in str(ml.emmeans(cs, "Machine")).lower()
