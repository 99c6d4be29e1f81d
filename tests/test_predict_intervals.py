"""Predictions with standard errors and intervals (``fit.predict(se_fit=..., interval=...)``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import multilevel as ml

NEW = pd.DataFrame({"Days": [0, 9, 5], "Subject": ["308", "308", "new"]})


@pytest.fixture(scope="module")
def sleep():
    return ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))


@pytest.fixture(scope="module")
def cbpp():
    return ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
                    family="binomial")


def test_population_standard_errors_are_the_marginal_means(sleep):
    table = sleep.predict(NEW, random=False, se_fit=True)
    emm = ml.emmeans(sleep, "Days", at={"Days": [0, 9, 5]}, df="asymptotic")
    np.testing.assert_allclose(table["fit"], emm["emmean"], rtol=1e-12)
    np.testing.assert_allclose(table["se_fit"], emm["SE"], rtol=1e-12)
    assert list(table.columns) == ["fit", "se_fit"]


def test_conditional_standard_errors_add_the_random_effects_variance(sleep):
    table = sleep.predict(NEW, se_fit=True, conditional=True)
    X = np.column_stack([np.ones(3), NEW["Days"]])
    fixed = np.einsum("ij,jk,ik->i", X, sleep.vcov.to_numpy(), X)
    C = sleep.ranef_cov["Subject"][list(sleep.ranef["Subject"].index).index("308")]
    prior = sleep.sigma ** 2 * (sleep._lambdas[0] @ sleep._lambdas[0].T)
    extra = np.array([X[0] @ C @ X[0], X[1] @ C @ X[1], X[2] @ prior @ X[2]])
    np.testing.assert_allclose(table["se_fit"] ** 2, fixed + extra, rtol=1e-10)
    np.testing.assert_allclose(table["fit"], sleep.predict(NEW), rtol=1e-12)


def test_intervals(sleep):
    z = stats.norm.ppf(0.95)
    conf = sleep.predict(NEW, interval="confidence", level=0.9)
    np.testing.assert_allclose(conf["upper"] - conf["fit"], z * conf["se_fit"], rtol=1e-12)
    pred = sleep.predict(NEW, interval="prediction", level=0.9)
    x = np.column_stack([np.ones(3), NEW["Days"]])
    prior = sleep.sigma ** 2 * (sleep._lambdas[0] @ sleep._lambdas[0].T)
    group = np.array([0.0, 0.0, x[2] @ prior @ x[2]])   # the new subject's effect is unknown
    np.testing.assert_allclose(pred["upper"] - pred["fit"],
                               z * np.sqrt(pred["se_fit"] ** 2 + group + sleep.sigma ** 2), rtol=1e-12)


def test_glmer_response_scale_is_back_transformed(cbpp):
    new = pd.DataFrame({"period": ["1", "4"], "herd": ["1", "new"]})
    link = cbpp.predict(new, interval="confidence")
    resp = cbpp.predict(new, type="response", interval="confidence")
    inv = cbpp.family.link.inverse
    np.testing.assert_allclose(resp["fit"], inv(link["fit"].to_numpy()))
    np.testing.assert_allclose(resp["lower"], inv(link["lower"].to_numpy()))
    mu = resp["fit"].to_numpy()
    np.testing.assert_allclose(resp["se_fit"], link["se_fit"] * mu * (1 - mu))
    with pytest.raises(ValueError, match="prediction intervals are for lmer fits"):
        cbpp.predict(new, interval="prediction")


def test_bad_interval_arguments(sleep):
    with pytest.raises(ValueError, match="interval must be None, 'confidence' or 'prediction'"):
        sleep.predict(NEW, interval="credible")
    with pytest.raises(ValueError, match="level must be between 0 and 1"):
        sleep.predict(NEW, interval="confidence", level=1.5)
    with pytest.raises(TypeError, match="conditional must be"):
        sleep.predict(NEW, se_fit=True, conditional="yes")
    with pytest.raises(TypeError, match="level must be a number between 0 and 1, not 'high'"):
        sleep.predict(NEW, interval="confidence", level="high")


@pytest.mark.parametrize("shift", [1e8, 1e9])
def test_prediction_intervals_with_a_random_slopes_covariate_far_from_zero(shift):
    """A new subject's z' Sigma z and a known one's z' C z in the standardised bases: at Days + 1e9
    the prediction interval was [245.5, 351.6] for [209.6, 387.5] and the conditional SEs
    [8.8, 35.0] for [37.5, 19.7]."""
    s = ml.datasets.load("sleepstudy")
    moved = s.assign(Days=s["Days"] + shift)
    a = ml.lmer("Reaction ~ Days + (Days | Subject)", s, reml=False)
    b = ml.lmer("Reaction ~ Days + (Days | Subject)", moved, reml=False)
    new_a, new_b = s.iloc[[4, 9]].assign(Subject="new"), moved.iloc[[4, 9]].assign(Subject="new")
    np.testing.assert_allclose(b.predict(new_b, interval="prediction")[["lower", "upper"]],
                               a.predict(new_a, interval="prediction")[["lower", "upper"]], rtol=1e-6)
    np.testing.assert_allclose(b.predict(moved.iloc[:12], se_fit=True, conditional=True)["se_fit"],
                               a.predict(s.iloc[:12], se_fit=True, conditional=True)["se_fit"], rtol=1e-5)


def test_new_group_labels_match_fitted_ones_exactly():
    """Labels are matched as labels ("1.1" is not "1.10"), numbers by value (2.0 is 2): a new plot
    "1.1" had taken plot "1.10"'s effect, and labels "1.1" ... "1.18" had failed to predict."""
    s = ml.datasets.load("sleepstudy")
    labels = dict(zip(s["Subject"].cat.categories, ["1.10", "2.1", "2.2"] + [f"x{i}" for i in range(15)]))
    d = s.assign(plot=s["Subject"].map(labels).astype(str))
    fit = ml.lmer("Reaction ~ Days + (1 | plot)", d)
    new = d.iloc[:1].assign(plot="1.1")
    assert fit.predict(new).iloc[0] == pytest.approx(fit.predict(d.iloc[:1], random=False).iloc[0])
    d2 = s.assign(Subject=s["Subject"].cat.codes.map(lambda i: f"1.{i + 1}"))
    f2 = ml.lmer("Reaction ~ Days + (1 | Subject)", d2)
    np.testing.assert_allclose(f2.predict(d2.iloc[:5]), f2.predict().iloc[:5], rtol=1e-10)
    d3 = s.assign(Subject=s["Subject"].cat.codes.astype(int))
    f3 = ml.lmer("Reaction ~ Days + (1 | Subject)", d3)
    np.testing.assert_allclose(f3.predict(d3.iloc[:3].assign(Subject=d3["Subject"].iloc[:3].astype(float))),
                               f3.predict(d3.iloc[:3]), rtol=1e-12)


def test_interaction_groups_with_colons_in_their_labels_and_numbers_written_as_labels():
    """A term of several columns matches each column's value (labels holding ":" included), and a
    number fitted as 308.0 matches the label "308", as R writes it."""
    m = ml.datasets.load("machines")
    m["M"] = m["Machine"].astype(str).map({"A": "A:1", "B": "B:2", "C": "C:3"})
    f = ml.lmer("score ~ M + (1 | Worker) + (1 | Worker:M)", m)
    np.testing.assert_allclose(f.predict(m), f.predict(), atol=1e-9)
    s = ml.datasets.load("sleepstudy")
    d = s.assign(Subject=s["Subject"].astype(str).astype(float))
    h = ml.lmer("Reaction ~ Days + (Days | Subject)", d)
    np.testing.assert_allclose(h.predict(d.assign(Subject=d["Subject"].astype(int).astype(str))), h.predict(),
                               atol=1e-9)
    np.testing.assert_allclose(h.predict(d.assign(Subject=pd.Categorical(d["Subject"].astype(int)))), h.predict(),
                               atol=1e-9)
