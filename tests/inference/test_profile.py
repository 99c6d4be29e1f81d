"""Profile-likelihood and Wald confidence intervals against lme4's ``confint()``
(tests/reference/lmertest.json, written by tests/reference/lmertest.R)."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from lmertest_reference import MODELS, fit_of

import multilevel as ml
from multilevel.inference import profile as prof_mod
from multilevel.inference.intervals import confint
from multilevel.inference.parameters import parameter_names, wald_confint
from multilevel.inference.profile import profile_confint

Z975 = 1.959963984540054

# Parameters whose lme4 profile is a slice, not a profile: in lme4's profile
# table the other variance parameters stay at their estimates (its optimizer
# does not move them off these singular fits' boundary), so its deviance is too
# high and its interval too narrow. test_lme4_slices checks that explanation.
LME4_SLICES = {
    "leebryk_m4": {"sd_(Intercept)|schoolid", "sd_ses|schoolid"},
    "leebryk_m4i": {"sd_ses|schoolid", "(Intercept)", "mses", "sector", "ses", "mses:ses",
                    "sector:ses"},
}


@pytest.fixture(scope="module")
def profiles():
    cache = {}

    def get(model_id):
        if model_id not in cache:
            cache[model_id] = profile_confint(fit_of(model_id))
        return cache[model_id]

    return get


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_profile_limits_match_lme4(model_id, profiles):
    ref = MODELS[model_id]["confint_profile"]
    ci = profiles(model_id)
    assert list(ci.index) == list(ref)
    assert list(ci.columns) == ["2.5 %", "97.5 %"]
    slices = LME4_SLICES.get(model_id, set())
    for name, limits in ref.items():
        ours = ci.loc[name].to_numpy()
        for side, (got, want) in enumerate(zip(ours, limits)):
            if name in slices:
                # lme4's interval is too narrow: ours contains it
                assert (got - want) * (1 if side else -1) >= -1e-6 * max(abs(want), 1.0), name
                continue
            assert got == pytest.approx(want, rel=1e-3, abs=1e-5), (name, side)


def _slice_zeta(prof, par, x):
    """|zeta| with all other parameters held at the ML estimates (``x`` in the user's units;
    the profiler works in its working units)."""
    c, a = prof.work.to_user(par)
    x = (x - c) / a
    if par.kind == "beta":
        dev = prof.dev_beta(prof.theta_hat, par.index, x)[0]
    else:
        r = prof.rel_hat.copy()
        r[par.index] = x / prof.sigma_hat
        dev = prof.dev_sigma(prof_mod._theta_from_rel(prof.terms, r), prof.sigma_hat)[0]
    return math.sqrt(max(dev - prof.base, 0.0))


@pytest.mark.parametrize("model_id", sorted(LME4_SLICES))
def test_lme4_slices(model_id):
    """Where lme4 differs, its limits are those of the slice through the estimates."""
    prof = prof_mod._Profiler(fit_of(model_id))
    ref = MODELS[model_id]["confint_profile"]
    for par in prof.params:
        if par.name not in LME4_SLICES[model_id]:
            continue
        for want in ref[par.name]:
            if want != 0:
                assert _slice_zeta(prof, par, want) == pytest.approx(Z975, abs=2e-3), par.name


def test_fixed_effect_limit_is_a_profile(profiles):
    """At our limit for a fixed effect, a refit with that effect moved to the offset
    is Z975 above the ML deviance (leebryk_m4i mses, where lme4's is a slice)."""
    m = MODELS["leebryk_m4i"]
    data = ml.datasets.load("leebryk")
    upper = profiles("leebryk_m4i").loc["mses", "97.5 %"]
    data["off"] = upper * data["mses"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = ml.lmer(m["formula"], data, reml=False)
        fixed = ml.lmer("math ~ 1 + sector + ses + ses:mses + ses:sector + (1|schoolid)"
                        " + (0 + ses|schoolid)", data, reml=False, offset="off")
    assert math.sqrt(fixed.objective - full.objective) == pytest.approx(Z975, abs=1e-4)


def test_fixed_effect_profile_by_refits():
    """The closed-form fixed-effect profile equals refits with the effect in the offset."""
    data = ml.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer("Reaction ~ Days + (Days | Subject)", data)
        base = fit.refit(reml=False, start="moments").objective
        ci = profile_confint(fit, parm="Days")
        for limit in ci.loc["Days"]:
            data["off"] = limit * data["Days"]
            fixed = ml.lmer("Reaction ~ 1 + (Days | Subject)", data, reml=False, offset="off")
            assert math.sqrt(fixed.objective - base) == pytest.approx(Z975, abs=1e-5)


def test_reml_fit_profiles_the_ml_deviance():
    """As lme4 (devfun2 calls refitML), a REML fit gives the intervals of its ML fit."""
    data = ml.datasets.load("sleepstudy")
    reml = profile_confint(ml.lmer("Reaction ~ Days + (Days | Subject)", data))
    mlfit = profile_confint(ml.lmer("Reaction ~ Days + (Days | Subject)", data, reml=False))
    np.testing.assert_allclose(reml.to_numpy(), mlfit.to_numpy(), rtol=1e-5)
    assert reml.attrs["criterion"] == "ML deviance (of the ML refit)"
    assert mlfit.attrs["criterion"] == "ML deviance"


def test_boundary_limits_and_notes(profiles):
    m4 = profiles("leebryk_m4")
    assert m4.loc["cor_ses.(Intercept)|schoolid"].tolist() == [-1.0, 1.0]
    assert m4.loc["sd_ses|schoolid", "2.5 %"] == 0.0
    notes = " ".join(m4.attrs["notes"])
    assert "cor_ses.(Intercept)|schoolid: upper limit is the boundary 1" in notes
    assert "sd_ses|schoolid: lower limit is the boundary 0" in notes
    m4i = profiles("leebryk_m4i")
    assert m4i.loc["sd_ses|schoolid", "2.5 %"] == 0.0
    assert any("estimate is on the boundary" in n for n in m4i.attrs["notes"])
    assert profiles("sleepstudy_corr").attrs["notes"] == []


@pytest.mark.parametrize("model_id", sorted(MODELS))
def test_wald_matches_lme4(model_id):
    ref = MODELS[model_id]["confint_wald"]
    ci = wald_confint(fit_of(model_id))
    assert list(ci.index) == list(ref)
    for name, (lo, hi) in ref.items():
        if lo is None:
            assert ci.loc[name].isna().all()
        else:
            # lme4's optimum differs from ours by up to a few 1e-6 (penicillin)
            np.testing.assert_allclose(ci.loc[name].to_numpy(), [lo, hi], rtol=1e-5)


def test_level_and_parm():
    fit = fit_of("sleepstudy_corr")
    names = parameter_names(fit)
    assert names[:4] == ["sd_(Intercept)|Subject", "cor_Days.(Intercept)|Subject",
                         "sd_Days|Subject", "sigma"]
    ci90 = profile_confint(fit, level=0.9, parm=["Days", 3])
    assert list(ci90.index) == ["Days", "sigma"]
    assert list(ci90.columns) == ["5 %", "95 %"]
    ci95 = profile_confint(fit, parm="Days")
    assert ci95.loc["Days", "2.5 %"] < ci90.loc["Days", "5 %"] < fit.fixef["Days"]
    assert list(wald_confint(fit, parm="theta_").index) == names[:4]
    assert list(confint(fit, method="Wald", parm="beta_").index) == ["(Intercept)", "Days"]
    with pytest.raises(ValueError, match="unknown parameter 'days'"):
        profile_confint(fit, parm="days")
    with pytest.raises(ValueError, match="level"):
        profile_confint(fit, level=95)
    with pytest.raises(ValueError, match="method"):
        confint(fit, method="bayes")
    with pytest.raises(TypeError, match="nsim"):
        confint(fit, method="profile", nsim=10)


def test_weights_and_uncorrelated_terms():
    """Variance-parameter limits of a weighted fit and of (x || g) against lme4 1.1-31
    (confint(m, oldNames = FALSE)); lme4's weighted fixed-effect profile is not used
    (it is non-monotonic there)."""
    data = ml.datasets.load("sleepstudy")
    data["w"] = np.linspace(0.5, 2, len(data))
    ci = profile_confint(ml.lmer("Reaction ~ Days + (Days | Subject)", data, weights="w"),
                         parm="theta_")
    lme4 = [[13.94549336, 37.51614319], [-0.49035714, 0.65802829], [3.75595299, 8.76705959],
            [23.99506654, 30.24239136]]
    np.testing.assert_allclose(ci.to_numpy(), lme4, rtol=1e-3)
    ci = profile_confint(ml.lmer("Reaction ~ Days + (Days || Subject)", data))
    lme4 = [[15.2586467, 37.7864709], [3.9640739, 8.7691592], [22.8805546, 28.7875976],
            [237.5721480, 265.2380618], [7.3340668, 13.6005051]]
    assert list(ci.index) == ["sd_(Intercept)|Subject", "sd_Days|Subject", "sigma",
                              "(Intercept)", "Days"]
    np.testing.assert_allclose(ci.to_numpy(), lme4, rtol=1e-3)


@pytest.mark.slow
def test_profile_is_five_times_faster_than_lme4():
    fit = fit_of("sleepstudy_corr")
    profile_confint(fit)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        profile_confint(fit)
        times.append(time.perf_counter() - t0)
    assert float(np.median(times)) * 5 < MODELS["sleepstudy_corr"]["seconds_confint_profile"]


def test_result_is_a_dataframe_with_attrs(profiles):
    ci = profiles("penicillin")
    assert isinstance(ci, pd.DataFrame)
    assert set(ci.attrs) >= {"notes", "criterion", "seconds"}
    assert (ci["2.5 %"] < ci["97.5 %"]).all()


def test_a_predictor_named_as_a_variance_parameter_keeps_every_interval_in_its_row():
    # a fixed effect called "sigma" once took the residual SD's row in the profile
    # (both rows held the fixed effect's interval): the intervals are the renamed model's
    d = ml.datasets.load("sleepstudy")
    plain = ml.lmer("Reaction ~ Days + (1 | Subject)", d)
    named = ml.lmer("Reaction ~ sigma + (1 | Subject)", d.rename(columns={"Days": "sigma"}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for method, kw in [("profile", {}), ("wald", {}), ("boot", {"nsim": 30, "seed": 4, "n_jobs": 1})]:
            a, b = plain.confint(method=method, **kw), named.confint(method=method, **kw)
            assert list(b.index) == ["sd_(Intercept)|Subject", "sigma", "(Intercept)", "sigma"]
            np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=1e-6, err_msg=method)
    with pytest.raises(ValueError, match="'sigma' names both a variance parameter and a fixed effect"):
        named.confint(parm="sigma")
    np.testing.assert_allclose(named.confint(parm=[3]).to_numpy(), plain.confint(parm="Days").to_numpy())


@pytest.mark.parametrize("column, scale, shift", [("Reaction", 1e-6, 0.0), ("Reaction", 1.0, 1e9),
                                                  ("Reaction", 1e-3, 1e6), ("Days", 86400.0, 0.0)])
def test_profile_intervals_do_not_move_with_the_units(column, scale, shift):
    """The profile is computed in working units (the response centred and scaled, X in its
    orthogonal basis, each random-effects column by its root mean square): with Reaction in
    millions of ms every limit of a variance parameter had collapsed to the estimate, and
    with Days in seconds the correlation's was [0.05, 0.57] for [-0.48, 0.69]."""
    s = ml.datasets.load("sleepstudy")
    form = "Reaction ~ Days + (Days | Subject)"
    ref = ml.lmer(form, s).confint(method="profile").to_numpy()
    got = ml.lmer(form, s.assign(**{column: s[column] * scale + shift})).confint(method="profile").to_numpy()
    back = got.copy()
    if column == "Reaction":   # SDs, sigma and fixed effects in the response's units
        rows = [0, 2, 3, 4, 5]
        back[rows] = back[rows] / scale
        back[4] -= shift / scale
    else:                      # the slope's SD and fixed effect per second
        back[[2, 5]] *= scale
    np.testing.assert_allclose(back, ref, rtol=2e-4)


def test_profile_with_a_random_slopes_covariate_far_from_zero():
    """Days + 1000: the intercept (at day -1000) correlates -0.99999 with the slope; searched
    as atanh(cor), the slope's SD and sigma keep their intervals (they were [5.0, 6.5] for
    [3.8, 8.75] and [24.4, 27.0] for [22.9, 28.9])."""
    s = ml.datasets.load("sleepstudy")
    ref = ml.lmer("Reaction ~ Days + (Days | Subject)", s).confint(method="profile")
    got = ml.lmer("Reaction ~ Days + (Days | Subject)", s.assign(Days=s["Days"] + 1000)).confint(method="profile")
    for name in ("sd_Days|Subject", "sigma", "Days"):
        np.testing.assert_allclose(got.loc[name], ref.loc[name], rtol=1e-3, err_msg=name)


def test_a_start_extrapolated_past_a_correlation_of_minus_one():
    """The start of a conditional search is taken inside (-0.999, 0.999) before atanh: at
    atanh(-1 + 1e-15) the search could not move, and sd_Days's upper limit was not found."""
    s = ml.datasets.load("sleepstudy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ci = ml.lmer("Reaction ~ 0 + Days + (Days | Subject)", s).confint(method="profile")
    assert ci.loc["sd_Days|Subject", "97.5 %"] == pytest.approx(38.416, rel=1e-4)
