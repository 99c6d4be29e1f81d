"""Average marginal effects (marginaleffects' avg_slopes), checked by their definitions."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

import multilevel as ml


@pytest.fixture(scope="module")
def ticks():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.glmer("TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", ml.datasets.load("grouseticks"),
                        family="poisson")


def test_linear_slope_is_the_coefficient():
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    s = ml.slopes(fit, "Days")
    assert s["estimate"].iloc[0] == pytest.approx(fit.fixef["Days"], rel=1e-9)
    assert s["std.error"].iloc[0] == pytest.approx(fit.se["Days"], rel=1e-9)


def test_interaction_slopes_by_group_are_the_simple_slopes():
    fit = ml.lmer("weight ~ time * treatment + (1 | girl)", ml.datasets.load("anorexia"))
    s = ml.slopes(fit, "time", by="treatment").set_index("treatment")
    b = fit.fixef
    assert s.loc["CBT", "estimate"] == pytest.approx(b["time"], rel=1e-8)
    assert s.loc["FT", "estimate"] == pytest.approx(b["time"] + b["time:treatmentFT"], rel=1e-8)
    L = np.zeros(len(b))
    L[list(b.index).index("time")] = 1
    L[list(b.index).index("time:treatmentFT")] = 1
    assert s.loc["FT", "std.error"] == pytest.approx(np.sqrt(L @ fit.vcov.to_numpy() @ L), rel=1e-6)


def test_poisson_slope_is_the_mean_of_beta_times_mu(ticks):
    s = ml.slopes(ticks, "cHEIGHT")
    mu = ticks.fitted.to_numpy()
    assert s["estimate"].iloc[0] == pytest.approx(np.mean(ticks.fixef["cHEIGHT"] * mu), rel=1e-7)
    link = ml.slopes(ticks, "cHEIGHT", type="link")
    assert link["estimate"].iloc[0] == pytest.approx(ticks.fixef["cHEIGHT"], rel=1e-8)
    pop = ml.slopes(ticks, "cHEIGHT", random=False)
    mu0 = ticks.predict(random=False, type="response").to_numpy()
    assert pop["estimate"].iloc[0] == pytest.approx(np.mean(ticks.fixef["cHEIGHT"] * mu0), rel=1e-7)


def test_delta_method_standard_error_is_the_gradients(ticks):
    # the standard error is sqrt(g' V g), g the gradient of the average slope over the fixed
    # effects: here by central differences of the whole computation
    beta = ticks.fixef
    g = np.zeros(len(beta))
    for k in range(len(beta)):
        step = 1e-5 * max(1.0, abs(beta.iloc[k]))
        up, down = beta.copy(), beta.copy()
        up.iloc[k] += step
        down.iloc[k] -= step
        f = [ml.slopes(replace(ticks, fixef=b), "cHEIGHT")["estimate"].iloc[0] for b in (up, down)]
        g[k] = (f[0] - f[1]) / (2 * step)
    se = ml.slopes(ticks, "cHEIGHT")["std.error"].iloc[0]
    assert se == pytest.approx(np.sqrt(g @ ticks.vcov.to_numpy() @ g), rel=1e-5)


def test_bad_input(ticks):
    with pytest.raises(ValueError, match="must be a numeric predictor"):
        ml.slopes(ticks, "YEAR")
    with pytest.raises(ValueError, match="by must name a column"):
        ml.slopes(ticks, "cHEIGHT", by="nope")
    with pytest.raises(ValueError, match="type must be 'response' or 'link'"):
        ml.slopes(ticks, "cHEIGHT", type="prob")


def test_random_slopes_enter_each_rows_slope():
    d = ml.datasets.load("sleepstudy")
    d = d[~((d["Subject"].astype(str) < "335") & (d["Days"] > 3))]   # unbalanced
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", d)
    by = ml.slopes(fit, "Days", by="Subject").set_index("Subject")["estimate"]
    np.testing.assert_allclose(by.to_numpy(), fit.coef["Subject"].loc[by.index, "Days"].to_numpy(), rtol=1e-7)
    counts = d["Subject"].astype(str).value_counts()
    overall = ml.slopes(fit, "Days")["estimate"].iloc[0]
    assert overall == pytest.approx(np.average(by.to_numpy(), weights=counts.loc[by.index].to_numpy()), rel=1e-7)


@pytest.mark.parametrize("scale, shift", [(1.0, 100.0), (1.0, 1e5), (1e-6, 0.0), (1e-6, 1e5), (86400.0, 1e9)])
def test_slopes_and_trends_of_a_covariate_in_other_units(scale, shift):
    """Days + 100 was refused ("does not enter the fixed part": the step moved X within
    allclose's tolerance); Days x 1e-6 + 1e5 had a slope of 5.4 for 1.05e7 (a column the
    design kept that the standardisation did not orthogonalise)."""
    s = ml.datasets.load("sleepstudy")
    o = ml.datasets.load("orthodont")
    ref = ml.slopes(ml.lmer("Reaction ~ Days + (1 | Subject)", s), "Days")
    got = ml.slopes(ml.lmer("Reaction ~ Days + (1 | Subject)", s.assign(Days=s["Days"] * scale + shift)), "Days")
    np.testing.assert_allclose(got[["estimate", "std.error"]].to_numpy(dtype=float) * scale,
                               ref[["estimate", "std.error"]].to_numpy(dtype=float), rtol=1e-5)
    ref = ml.emtrends(ml.lmer("distance ~ age * Sex + (1 | Subject)", o), "Sex", var="age")
    got = ml.emtrends(ml.lmer("distance ~ age * Sex + (1 | Subject)", o.assign(age=o["age"] * scale + shift)),
                      "Sex", var="age")
    np.testing.assert_allclose(got[["age.trend", "SE"]].to_numpy(dtype=float) * scale,
                               ref[["age.trend", "SE"]].to_numpy(dtype=float), rtol=1e-5)
