"""ICC, Nakagawa's R2, shrinkage factors and variance partition, against
performance::icc / r2_nakagawa (tests/reference/lmertest.json) and the
figures of the Lee & Bryk and GCSE notes."""

from __future__ import annotations

import json
import math
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.inference.variance import icc, r2_nakagawa, shrinkage, variance_partition

REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "lmertest.json")
                 .read_text(encoding="utf-8"))
MODELS = {m["id"]: m for m in REF["models"]}


@lru_cache(maxsize=None)
def fit(formula: str, dataset: str, reml: bool = True) -> ml.LmerResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.lmer(formula, ml.datasets.load(dataset), reml=reml)


def ref_fit(mid: str) -> ml.LmerResult:
    m = MODELS[mid]
    return fit(m["formula"], m["dataset"], m["reml"])


def agree(ours: float, theirs, rel: float = 1e-4) -> bool:
    if theirs is None:  # performance gave NA
        return math.isnan(ours)
    if theirs == 0:
        return abs(ours) < 1e-12
    return ours == pytest.approx(theirs, rel=rel)


def _quiet(f, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f(*args, **kw)


@pytest.mark.parametrize("mid", list(MODELS))
def test_icc_matches_performance(mid):
    ref = MODELS[mid]
    out = _quiet(icc, ref_fit(mid))
    assert list(out.index) == ["adjusted", "conditional"]
    want = ref.get("icc") or {"adjusted": None, "unadjusted": None}
    assert agree(out["adjusted"], want["adjusted"])
    assert agree(out["conditional"], want["unadjusted"])


@pytest.mark.parametrize("mid", list(MODELS))
def test_r2_nakagawa_matches_performance(mid):
    ref = MODELS[mid]["r2_nakagawa"]
    out = _quiet(r2_nakagawa, ref_fit(mid))
    assert list(out.index) == ["conditional", "marginal"]
    assert agree(out["conditional"], ref["conditional"])
    assert agree(out["marginal"], ref["marginal"])


def test_singular_fit_warns_like_performance():
    m4 = ref_fit("leebryk_m4")
    with pytest.warns(UserWarning, match="singular"):
        out = icc(m4)
    assert out.isna().all()
    with pytest.warns(UserWarning, match="singular"):
        r2 = r2_nakagawa(m4)
    assert math.isnan(r2["conditional"]) and r2["marginal"] > 0
    # tolerance=0 computes them anyway, consistently with each other
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forced, r2f = icc(m4, tolerance=0), r2_nakagawa(m4, tolerance=0)
    assert 0 < forced["conditional"] < forced["adjusted"] < 1
    assert r2f["marginal"] < r2["marginal"] < r2f["conditional"]


def test_components_add_up():
    f = ref_fit("sleepstudy_corr")
    a, r2 = icc(f), r2_nakagawa(f)
    # conditional R2 - marginal R2 = conditional ICC (both are v_r / total)
    assert r2["conditional"] - r2["marginal"] == pytest.approx(a["conditional"], rel=1e-12)
    vp = variance_partition(f, fixed=True)
    assert list(vp.index) == ["Fixed", "Subject", "Residual"]
    assert vp["proportion"].sum() == pytest.approx(1.0)
    assert vp.loc["Fixed", "proportion"] == pytest.approx(r2["marginal"], rel=1e-12)
    assert vp.loc["Subject", "proportion"] == pytest.approx(a["conditional"], rel=1e-12)


# ----------------------------------------------------- Lee & Bryk notes
def test_lee_bryk_icc_and_partition():
    m2 = ref_fit("leebryk_m2")
    vp = variance_partition(m2)
    assert list(vp.index) == ["schoolid", "Residual"]
    # printed: between 8.614, within 39.148, ICC 8.614 / (8.614 + 39.148) = 0.18
    assert round(vp.loc["schoolid", "variance"], 3) == 8.614
    assert round(vp.loc["Residual", "variance"], 3) == 39.148
    assert round(vp.loc["schoolid", "proportion"], 2) == 0.18
    assert vp.loc["schoolid", "proportion"] == pytest.approx(8.614 / (8.614 + 39.148), abs=5e-5)
    assert round(icc(m2)["adjusted"], 2) == 0.18
    # with no fixed part beyond the intercept the two ICCs coincide
    assert icc(m2)["adjusted"] == pytest.approx(icc(m2)["conditional"], rel=1e-12)


def test_partition_crossed_factors():
    f = ref_fit("penicillin")
    vp = variance_partition(f)
    assert list(vp.index) == ["plate", "sample", "Residual"]
    vc = f.varcorr_long.set_index("grp")["vcov"]
    assert vp["variance"].tolist() == pytest.approx(
        [vc["plate"], vc["sample"], vc["Residual"]], rel=1e-12)
    assert 1 - vp.loc["Residual", "proportion"] == pytest.approx(icc(f)["adjusted"], rel=1e-12)


# ----------------------------------------------------------- GCSE notes
@pytest.mark.parametrize("formula", ["course ~ 1 + (1 | school)",
                                     "course ~ 1 + female + (1 | school)"])
def test_gcse_eb_prediction_is_shrunk_mean_residual(formula):
    """u_j(EB) = R_j * u_j(ML), u_j(ML) the school's mean residual y - X beta."""
    f = fit(formula, "gcsemv", reml=False)
    sh = shrinkage(f)
    assert sh.index.name == "school" and list(sh.columns) == ["n_j", "R_j"]
    codes = f.design.terms[0].codes
    mean_res = pd.Series(f.residuals("marginal").to_numpy()).groupby(codes).mean().to_numpy()
    eb = f.ranef["school"]["(Intercept)"].to_numpy()
    np.testing.assert_allclose(eb, sh["R_j"].to_numpy() * mean_res, rtol=1e-6, atol=1e-8)


def test_gcse_shrinkage_by_hand():
    f = fit("course ~ 1 + (1 | school)", "gcsemv", reml=False)
    sh = shrinkage(f)
    tau2 = f.varcorr_long.set_index("grp").loc["school", "vcov"]
    s2 = f.sigma**2
    # printed in the notes: school variance 75.24, residual 190.77
    assert round(tau2, 2) == 75.24 and round(s2, 2) == 190.77
    data = ml.datasets.load("gcsemv").dropna(subset=["course"])
    for school in ["20920", "22520", "68137"]:
        n = int((data["school"].astype(str) == school).sum())
        assert sh.loc[school, "n_j"] == n
        assert sh.loc[school, "R_j"] == pytest.approx(tau2 / (tau2 + s2 / n), rel=1e-12)
    # bigger schools shrink less
    order = sh.sort_values("n_j")
    assert order["R_j"].is_monotonic_increasing
    assert sh["n_j"].sum() == f.nobs


def test_shrinkage_group_choice_and_errors():
    f = ref_fit("penicillin")
    assert shrinkage(f).index.name == "plate"
    assert shrinkage(f, "sample").index.name == "sample"
    with pytest.raises(ValueError, match="unknown grouping factor"):
        shrinkage(f, "plates")
    g = ref_fit("leebryk_m4i")
    assert shrinkage(g).index.name == "schoolid"
    s = fit("Reaction ~ Days + (0 + Days | Subject)", "sleepstudy")
    with pytest.raises(ValueError, match="no random intercept"):
        shrinkage(s)
    with pytest.raises(ValueError, match="no random intercept"):
        shrinkage(s, "Subject")


GAMMA_REF = json.loads((Path(__file__).parents[1] / "reference" / "performance_gamma.json").read_text())


@pytest.mark.parametrize("name, formula, data", [
    ("cake", "angle ~ recipe + temp + (1 | recipe:replicate)", "cake"),
    ("sleep", "Reaction ~ Days + (1 | Subject)", "sleepstudy"),
])
def test_gamma_log_icc_and_r2_match_performance(name, formula, data):
    ref = GAMMA_REF[name]
    fit = ml.glmer(formula, ml.datasets.load(data), family="gamma", link="log")
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-6)
    icc, r2 = fit.icc(), fit.r2()
    assert icc["adjusted"] == pytest.approx(ref["icc_adjusted"], rel=1e-5)
    assert icc["conditional"] == pytest.approx(ref["icc_unadjusted"], rel=1e-5)
    assert r2["conditional"] == pytest.approx(ref["r2_conditional"], rel=1e-5)
    assert r2["marginal"] == pytest.approx(ref["r2_marginal"], rel=1e-5)


def test_gamma_other_links_and_beta_say_why_there_is_no_icc():
    cake = ml.datasets.load("cake")
    inverse = ml.glmer("angle ~ recipe + temp + (1 | recipe:replicate)", cake, family="gamma", link="identity")
    with pytest.raises(ValueError, match="refit with link='log'"):
        inverse.icc()
    seat = ml.glmer("seatbelt ~ enforce + speed65 + drinkage + (1 | state)", ml.datasets.load("seatbelts"),
                    family="beta")
    with pytest.raises(ValueError, match="beta model are not available"):
        seat.r2()


@pytest.mark.parametrize("shift", [1e8, 1e9])
def test_icc_and_r2_of_a_random_slope_model_with_a_covariate_far_from_zero(shift):
    """The mean of z' Sigma z is formed in the standardised basis: at Days + 1e9 the ICC came out
    1.30 and 2.20, the conditional R2 1.50."""
    s = ml.datasets.load("sleepstudy")
    a = ml.lmer("Reaction ~ Days + (Days | Subject)", s, reml=False)
    b = ml.lmer("Reaction ~ Days + (Days | Subject)", s.assign(Days=s["Days"] + shift), reml=False)
    np.testing.assert_allclose(b.icc(), a.icc(), rtol=1e-5)
    np.testing.assert_allclose(b.r2(), a.r2(), rtol=1e-5)
    cb = ml.datasets.load("cbpp").assign(x=lambda d: np.arange(len(d)) / 10.0)
    g0 = ml.glmer("cbind(incidence, size - incidence) ~ x + (x | herd)", cb, family="binomial")
    g1 = ml.glmer("cbind(incidence, size - incidence) ~ x + (x | herd)", cb.assign(x=cb["x"] + shift),
                  family="binomial")
    np.testing.assert_allclose(g1.icc(), g0.icc(), rtol=1e-3)
