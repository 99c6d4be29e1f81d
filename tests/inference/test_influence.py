"""Influence diagnostics against lme4 (tests/reference/influence.R)."""

from __future__ import annotations

import dataclasses
import json
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.inference.influence import cooks_distance, hatvalues
from tests.conftest import TESTS

REF = json.loads((TESTS / "reference" / "influence.json").read_text())


@pytest.fixture(scope="module")
def gcse():
    return ml.lmer("course ~ 1 + female + (1 | school)", ml.datasets.load("gcsemv"))


@pytest.fixture(scope="module")
def sleep():
    return ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))


@pytest.mark.parametrize("name", ["gcsemv", "sleep"])
def test_hat_values_and_cooks_distance(name, gcse, sleep):
    fit = gcse if name == "gcsemv" else sleep
    np.testing.assert_allclose(fit.hatvalues(), REF[name]["hat"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(fit.cooks_distance(), REF[name]["cooks"], rtol=1e-4, atol=1e-7)


def _vc_scale(inf, ref) -> np.ndarray:
    """Per deletion, the size of each component: a covariance's is sqrt(v_a v_b). The
    sleepstudy covariance is weakly determined: lme4's refits and ours agree in the REML
    criterion to 1e-8 and in the covariance to 1e-3 of that size."""
    names = ref["vc_names"]
    vc = np.asarray(ref["var_cov"])
    scale = np.abs(vc).copy()
    for j, n in enumerate(names):
        if n.startswith("C[") or ":C[" in n:
            prefix = n.split("C[")[0]
            a, b = n.split("C[")[1].rstrip("]").split(",")
            scale[:, j] = np.sqrt(vc[:, names.index(f"{prefix}v[{a}]")] * vc[:, names.index(f"{prefix}v[{b}]")])
    return scale


def _compare(inf, ref, vc_rtol=1e-5):
    assert list(inf.units) == ref["units"]
    assert list(inf.fixef_deleted.columns) == ref["fixef_names"]
    assert list(inf.var_cov.index) == ref["vc_names"]
    np.testing.assert_allclose(inf.fixef_deleted, ref["fixef"], rtol=1e-6, atol=1e-6)
    assert np.all(np.abs(inf.var_cov_deleted.to_numpy() - ref["var_cov"]) <= vc_rtol * _vc_scale(inf, ref))
    se = np.sqrt(np.diagonal(inf.vcov_deleted, axis1=1, axis2=2))
    np.testing.assert_allclose(se, ref["se"], rtol=1e-4)
    np.testing.assert_allclose(inf.cooks_distance(), ref["cooks"], rtol=1e-4, atol=1e-10)
    np.testing.assert_allclose(inf.dfbetas(), ref["dfbetas"], rtol=1e-3, atol=1e-6)


def test_leave_one_school_out(gcse):
    _compare(gcse.influence("school"), REF["gcsemv"]["school"])


def test_leave_one_subject_out(sleep):
    _compare(sleep.influence("Subject", n_jobs=2), REF["sleep"]["Subject"], vc_rtol=1e-3)


def test_leave_one_row_out(sleep):
    # the refits' variance components agree to 3e-3 of their size (see _vc_scale)
    inf = sleep.influence(obs=True)
    ref = REF["sleep"]["rows"]
    np.testing.assert_allclose(inf.fixef_deleted, ref["fixef"], rtol=1e-6, atol=2e-4)
    assert np.all(np.abs(inf.var_cov_deleted.to_numpy() - ref["var_cov"]) <= 3e-3 * _vc_scale(inf, ref))
    np.testing.assert_allclose(inf.cooks_distance(), ref["cooks"], rtol=2e-3, atol=1e-8)


def test_refits_equal_fits_of_the_subset():
    d = ml.datasets.load("cbpp")
    formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    fit = ml.glmer(formula, d, family="binomial")
    inf = fit.influence("herd")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = ml.glmer(formula, d[d["herd"] != "3"], family="binomial")
    np.testing.assert_allclose(inf.fixef_deleted.loc["3"], alone.fixef, rtol=2e-4)
    assert list(inf.var_cov.index) == ["v[(Intercept)]"]


def test_a_level_only_one_group_has_is_rebuilt_and_reported_missing():
    d = ml.datasets.load("sleepstudy").copy()
    d["lab"] = np.where(d["Subject"] == "308", "z", np.where(d["Days"] % 2 == 0, "a", "b"))
    fit = ml.lmer("Reaction ~ Days + lab + (1 | Subject)", d)
    inf = fit.influence("Subject")
    assert np.isnan(inf.fixef_deleted.loc["308", "labz"])
    assert np.isfinite(inf.fixef_deleted.loc["309"]).all()


def test_bad_input(sleep):
    with pytest.raises(ValueError, match="groups must name a column of the fit's data"):
        sleep.influence("school")
    with pytest.raises(ValueError, match="give groups= or obs=True, not both"):
        sleep.influence("Subject", obs=True)
    with pytest.raises(ValueError, match="which must be 'fixed' or 'var_cov'"):
        sleep.influence("Subject").dfbeta("random")
    from multilevel.inference.influence import hatvalues

    with pytest.raises(TypeError, match="hat values are for ml.lmer and ml.glmer fits"):
        hatvalues(ml.lm("Reaction ~ Days", ml.datasets.load("sleepstudy")))
    with pytest.raises(ValueError, match="kind must be 'leverage' or 'lme4'"):
        sleep.hatvalues(kind="glm")


GLMM_HAT = json.loads((TESTS / "reference" / "glmm_hatvalues.json").read_text())
GLMM_FITS = {
    "cbpp": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", {}),
    "cbpp_probit": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", {"link": "probit"}),
    "grouseticks": ("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", "grouseticks", {"family": "poisson"}),
    "verbagg": ("r2 ~ Anger + Gender + btype + (1 | id) + (1 | item)", "verbagg", {}),
    "cbpp_nagq0": ("cbind(incidence, size - incidence) ~ period + (1 | herd)", "cbpp", {"nagq": 0}),
}


@pytest.mark.parametrize("name", sorted(GLMM_FITS))
def test_glmm_hat_values_match_lme4(name):
    formula, data, kw = GLMM_FITS[name]
    fit = ml.glmer(formula, ml.datasets.load(data), **kw)
    ref = GLMM_HAT[name]
    # lme4's hatvalues.merMod (prior weights outside the PIRLS factor), its Cook's distance, and
    # the leverages of the working model (the working weights on both sides) from lme4's factor
    np.testing.assert_allclose(fit.hatvalues(kind="lme4"), ref["hat"], rtol=2e-3, atol=1e-6)
    np.testing.assert_allclose(fit.cooks_distance(kind="lme4"), ref["cooks"], rtol=1e-2, atol=1e-6)
    h = fit.hatvalues()
    np.testing.assert_allclose(h, ref["hat_working"], rtol=2e-3, atol=2e-5)
    assert h.between(0, 1).all() and h.index.equals(fit.design.data_index)


def test_glmm_leverages_tend_to_the_glms_as_the_groups_vanish():
    # with the herd variance near zero the GLMM's working model is the GLM's: its leverages
    # are R's hatvalues.glm, the diagonal of W^1/2 X (X'WX)^-1 X' W^1/2
    cb = ml.datasets.load("cbpp")
    fit = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb)
    flat = dataclasses.replace(fit, _T=tuple(T * 1e-6 for T in fit._T))
    X = fit.design.X
    _, wu, _ = fit.family.working(fit.design.y, fit._pirls.eta, fit._pirls.mu)
    sw = np.sqrt(fit._prior * wu)
    Q, _ = np.linalg.qr(X * sw[:, None])
    np.testing.assert_allclose(flat.hatvalues(), np.sum(Q * Q, axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="not this negative_binomial fit"):
        ml.glmer("TICKS ~ YEAR + (1 | BROOD)", ml.datasets.load("grouseticks"),
                 family="negative_binomial").hatvalues()


def test_a_rebuilt_design_keeps_the_weights():
    d = ml.datasets.load("sleepstudy").copy()
    d["w"] = 1.0 + (d["Days"] % 3)
    d["lab"] = np.where(d["Subject"] == "308", "z", np.where(d["Days"] % 2 == 0, "a", "b"))
    fit = ml.lmer("Reaction ~ Days + lab + (1 | Subject)", d, weights="w")
    inf = fit.influence("Subject")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = ml.lmer("Reaction ~ Days + lab + (1 | Subject)", d[d["Subject"] != "308"], weights="w")
    np.testing.assert_allclose(inf.fixef_deleted.loc["308", ["(Intercept)", "Days"]],
                               alone.fixef[["(Intercept)", "Days"]], rtol=1e-6)
    assert inf.var_cov_deleted.loc["308", "sigma^2"] == pytest.approx(alone.sigma ** 2, rel=1e-5)


def test_variance_components_keep_their_terms_when_a_refit_reorders_them():
    rng = np.random.default_rng(1)
    a = np.repeat([f"a{i}" for i in range(6)], 20)
    b = np.tile(np.repeat([f"b{i}" for i in range(5)], 4), 6)
    c = np.where(np.isin(a, ["a0", "a1"]), "c1", np.where(np.arange(120) % 2 == 0, "c2", "c3"))
    f = np.where(c == "c1", "z", np.where(np.arange(120) % 3 == 0, "x", "y"))
    ea = dict(zip(np.unique(a), rng.normal(0, 3, 6)))
    d = pd.DataFrame({"A": a, "B": b, "C": c, "f": f})
    d["y"] = d["A"].map(ea) + rng.normal(0, 1, 120)
    fit = ml.lmer("y ~ f + (1 | A) + (1 | B)", d)
    inf = fit.influence("C")   # without c1, 4 levels of A against 5 of B: the terms swap
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alone = ml.lmer("y ~ f + (1 | A) + (1 | B)", d[d["C"] != "c1"])
    var = {t.group: alone._term_cov(i)[0, 0] for i, t in enumerate(alone.design.terms)}
    assert inf.var_cov_deleted.loc["c1", "A:v[(Intercept)]"] == pytest.approx(var["A"], rel=1e-5)
    assert inf.var_cov_deleted.loc["c1", "B:v[(Intercept)]"] == pytest.approx(var["B"], abs=1e-6)


@pytest.mark.parametrize("shift", [1e7, 1e9])
def test_hat_values_and_cooks_distance_with_a_covariate_far_from_zero(shift):
    """X'X - RZX'RZX and Z Lambda in the standardised bases, p the design's columns: at Days + 1e7
    Cook's distances had doubled (numpy's rank said 1), at + 1e8 the hat values failed."""
    s = ml.datasets.load("sleepstudy")
    for form in ("Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)"):
        a = ml.lmer(form, s)
        b = ml.lmer(form, s.assign(Days=s["Days"] + shift))
        np.testing.assert_allclose(hatvalues(b), hatvalues(a), rtol=1e-5)
        np.testing.assert_allclose(cooks_distance(b), cooks_distance(a), rtol=1e-4)
