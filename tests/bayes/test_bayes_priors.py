"""Priors: parameter checks, the kind each class accepts, key resolution, autoscaled defaults."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from multilevel.bayes import priors as P
from multilevel.bayes.fit import prepare
from multilevel.bayes.posterior import Posterior
from multilevel.bayes.priors import PROBIT_FACTOR


@pytest.mark.parametrize("make, message", [
    (lambda: P.normal(0, 0), "normal: sd must be a positive finite number"),
    (lambda: P.normal(0, -1), "normal: sd must be a positive"),
    (lambda: P.normal(0), "normal: give exactly one of sd and precision"),
    (lambda: P.normal(0, 1, precision=1), "normal: give exactly one of sd and precision"),
    (lambda: P.normal(0, precision=0), "normal: precision must be a positive"),
    (lambda: P.normal(np.inf, 1), "normal: mu must be a finite number"),
    (lambda: P.normal("a", 1), "normal: mu must be a number"),
    (lambda: P.student_t(0, 0, 1), "student_t: df must be a positive"),
    (lambda: P.student_t(3, 0, -2), "student_t: scale must be a positive"),
    (lambda: P.student_t(3, 1, 2, lower=1), "student_t: lower is supported only at 0 with mu = 0"),
    (lambda: P.cauchy(0, 0), "cauchy: scale must be a positive"),
    (lambda: P.half_normal(0), "half_normal: scale must be a positive"),
    (lambda: P.half_student_t(-3, 1), "half_student_t: df must be a positive"),
    (lambda: P.half_cauchy(np.nan), "half_cauchy: scale must be a positive"),
    (lambda: P.exponential(0), "exponential: rate must be a positive"),
    (lambda: P.uniform(2, 1), "uniform: lo must be below hi"),
    (lambda: P.uniform(1, 1), "uniform: lo must be below hi"),
    (lambda: P.uniform(0, np.inf), "uniform: hi must be a finite number"),
    (lambda: P.gamma(0, 1), "gamma: shape must be a positive"),
    (lambda: P.gamma(1, -1), "gamma: rate must be a positive"),
    (lambda: P.gamma(1, 1, on="variance"), 'gamma: on must be "value" or "precision"'),
    (lambda: P.lkj(0), "lkj: eta must be a positive"),
])
def test_impossible_parameters_raise_one_line(make, message):
    with pytest.raises(ValueError) as err:
        make()
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_prior_text_and_precision_form():
    assert str(P.normal(0, precision=0.01)) == "normal(0, precision=0.01)"
    assert P.normal(0, precision=0.01).params == (0.0, 10.0)
    assert str(P.gamma(0.001, 0.001, on="precision")) == 'gamma(0.001, 0.001, on="precision")'
    assert str(P.normal(0, 5, lower=0)) == "normal(0, 5, lower=0)"
    assert P.half_cauchy(2) == P.half_cauchy(2.0)
    with pytest.raises(Exception):
        P.half_cauchy(2).params = (3.0,)  # frozen


def test_supports():
    assert P.normal(0, 1).support == "real"
    assert P.normal(0, 1, lower=0).support == "positive"
    assert P.normal(0, 1, lower=-1).support == "interval"
    assert P.uniform(0.0001, 200).support == "positive"
    assert P.uniform(-1, 1).support == "interval"
    for p in (P.half_normal(1), P.half_cauchy(1), P.half_student_t(3, 1), P.exponential(1), P.gamma(1, 1)):
        assert p.support == "positive"


@pytest.mark.parametrize("key, prior, message", [
    ("sigma", P.lkj(2), "is a prior for correlation matrices"),
    ("sd", P.normal(0, 5), "puts mass below 0"),
    ("sd_Subject", P.uniform(-1, 5), "puts mass below 0"),
    ("sd_Subject__Days", P.cauchy(0, 1), "puts mass below 0"),
    ("cor", P.normal(0, 1), "is not a prior for a correlation matrix; use lkj(eta)"),
    ("b", P.gamma(1, 1, on="precision"), "puts a prior on a precision"),
    ("Intercept", P.lkj(1), "is a prior for correlation matrices"),
    ("b_Days", "normal(0, 1)", "must be a prior such as ml.priors.normal(0, 1)"),
])
def test_wrong_kind_for_class_raises(sleepstudy, key, prior, message):
    with pytest.raises(ValueError) as err:
        prepare("Reaction ~ Days + (Days | Subject)", sleepstudy, priors={key: prior})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_scale_priors_accepted_for_sds(sleepstudy):
    ok = {"sd_Subject__Intercept": P.gamma(0.001, 0.001, on="precision"),
          "sd_Subject__Days": P.uniform(0.0001, 200),
          "sigma": P.normal(0, 50, lower=0),
          "cor": P.lkj(2)}
    m = prepare("Reaction ~ Days + (Days | Subject)", sleepstudy, priors=ok)
    got = {s.name: str(s.prior) for s in m.slots}
    assert got["sd_Subject__Intercept"] == 'gamma(0.001, 0.001, on="precision")'
    assert got["sd_Subject__Days"] == "uniform(0.0001, 200)"
    assert got["sigma"] == "normal(0, 50, lower=0)"
    assert got["cor_Subject"] == "lkj(2)"


def test_unknown_key_lists_valid_keys(sleepstudy):
    with pytest.raises(ValueError) as err:
        prepare("Reaction ~ Days + (Days | Subject)", sleepstudy, priors={"sd_subject": P.half_normal(1)})
    msg = str(err.value)
    assert msg.startswith("unknown prior key 'sd_subject'; valid keys for this model: ")
    for key in ("b", "b_Days", "Intercept", "sd", "sd_Subject", "sd_Subject__Intercept", "sd_Subject__Days",
                "cor", "cor_Subject", "sigma"):
        assert key in msg.split(": ", 1)[1].split(", ")
    assert "nu" not in msg.split(": ", 1)[1].split(", ")


def test_nu_key_only_for_student(sleepstudy):
    with pytest.raises(ValueError, match="unknown prior key 'nu'"):
        prepare("Reaction ~ Days + (1 | Subject)", sleepstudy, priors={"nu": P.gamma(2, 0.1)})
    m = prepare("Reaction ~ Days + (1 | Subject)", sleepstudy, family="student", priors={"nu": P.exponential(0.1)})
    assert {s.name: str(s.prior) for s in m.slots}["nu"] == "exponential(0.1)"


def test_most_specific_key_wins(gcsemv):
    pri = {"b": P.normal(0, 10), "b_femaleF": P.normal(1, 2), "sd": P.half_cauchy(5),
           "sd_school": P.half_normal(20), "sd_school__femaleF": P.exponential(0.5), "Intercept": P.normal(70, 5)}
    m = prepare("course ~ female + (1 + female | school)", gcsemv, priors=pri)
    table = Posterior.prior_table(m)
    assert table.loc["b_femaleF", "prior"] == "normal(1, 2)"
    assert table.loc["b_femaleF", "source"] == "b_femaleF"
    assert table.loc["b_Intercept", "prior"] == "normal(70, 5)"
    assert table.loc["sd_school__Intercept", "prior"] == "half_normal(20)"
    assert table.loc["sd_school__Intercept", "source"] == "sd_school"
    assert table.loc["sd_school__femaleF", "prior"] == "exponential(0.5)"
    assert table.loc["cor_school", "source"] == "default"
    assert list(table.columns) == ["prior", "class", "coef", "group", "source"]


def test_b_intercept_alias(sleepstudy):
    m = prepare("Reaction ~ Days + (1 | Subject)", sleepstudy, priors={"b_Intercept": P.normal(250, 10)})
    assert str(m.slots[0].prior) == "normal(250, 10)"
    with pytest.raises(ValueError, match="give the intercept's prior once"):
        prepare("Reaction ~ Days + (1 | Subject)", sleepstudy,
                priors={"b_Intercept": P.normal(250, 10), "Intercept": P.normal(0, 1)})


def test_gaussian_defaults_autoscaled(sleepstudy):
    m = prepare("Reaction ~ Days + (Days | Subject)", sleepstudy)
    y, x = sleepstudy.Reaction.to_numpy(), sleepstudy.Days.to_numpy(float)
    sy = np.std(y, ddof=1)
    pr = {s.name: s.prior for s in m.slots}
    assert pr["b_Intercept"].dist == "normal"
    np.testing.assert_allclose(pr["b_Intercept"].params, (y.mean(), 2.5 * sy))
    np.testing.assert_allclose(pr["b_Days"].params, (0.0, 2.5 * sy / np.std(x, ddof=1)))
    assert pr["sd_Subject__Intercept"].dist == "half_student_t"
    np.testing.assert_allclose(pr["sd_Subject__Intercept"].params, (3.0, 2.5 * sy))
    # an SD of slopes is in units of y per unit of Days, as b_Days
    np.testing.assert_allclose(pr["sd_Subject__Days"].params, (3.0, 2.5 * sy / np.std(x, ddof=1)))
    assert str(pr["cor_Subject"]) == "lkj(1)"
    np.testing.assert_allclose(pr["sigma"].params, (1 / sy,))
    assert all(s.source == "default" for s in m.slots)


def test_glmm_defaults_and_probit_factor():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"y": rng.integers(0, 2, 60), "x": rng.normal(0, 3, 60), "g": np.repeat(np.arange(6), 10)})
    sx = np.std(df.x, ddof=1)
    m = prepare("y ~ x + (1 | g)", df, family="binomial")
    pr = {s.name: s.prior for s in m.slots}
    np.testing.assert_allclose(pr["b_Intercept"].params, (0.0, 2.5))
    np.testing.assert_allclose(pr["b_x"].params, (0.0, 2.5 / sx))
    np.testing.assert_allclose(pr["sd_g__Intercept"].params, (3.0, 2.5))
    assert "sigma" not in pr
    mp = prepare("y ~ x + (1 | g)", df, family="binomial", link="probit")
    prp = {s.name: s.prior for s in mp.slots}
    assert math.isclose(PROBIT_FACTOR, stats.norm.pdf(0) / stats.logistic.pdf(0))
    np.testing.assert_allclose(prp["b_x"].params, (0.0, 2.5 * PROBIT_FACTOR / sx))
    np.testing.assert_allclose(prp["b_Intercept"].params, (0.0, 2.5 * PROBIT_FACTOR))


def test_constant_column_and_no_intercept():
    df = pd.DataFrame({"y": np.arange(12.0) % 5, "a": ["u", "v"] * 6, "g": np.repeat(np.arange(4), 3)})
    m = prepare("y ~ 0 + a + (1 | g)", df)
    pr = {s.name: s.prior for s in m.slots}
    assert "b_Intercept" not in pr and not m.centered
    sy = np.std(df.y, ddof=1)
    x = (df.a == "u").astype(float)
    np.testing.assert_allclose(pr["b_au"].params, (0.0, 2.5 * sy / np.std(x, ddof=1)))
    with pytest.raises(ValueError, match="unknown prior key 'Intercept'"):
        prepare("y ~ 0 + a + (1 | g)", df, priors={"Intercept": P.normal(0, 1)})


def test_student_defaults(sleepstudy):
    m = prepare("Reaction ~ Days + (1 | Subject)", sleepstudy, family="student")
    pr = {s.name: str(s.prior) for s in m.slots}
    assert pr["nu"] == "gamma(2, 0.1)"


def test_uncorrelated_terms_share_group_name(sleepstudy):
    m = prepare("Reaction ~ Days + (1 + Days || Subject)", sleepstudy)
    assert m.sd_names == ("sd_Subject__Intercept", "sd_Subject__Days")
    assert m.cor_names == ()
    with pytest.raises(ValueError, match="unknown prior key 'cor'"):
        prepare("Reaction ~ Days + (1 + Days || Subject)", sleepstudy, priors={"cor": P.lkj(2)})


def test_default_priors_follow_the_units(sleepstudy):
    """Days in seconds: every default prior of a Days parameter scales by 1/86400."""
    a = {s.name: s.prior for s in prepare("Reaction ~ Days + (Days | Subject)", sleepstudy).slots}
    b = {s.name: s.prior for s in prepare("Reaction ~ Days + (Days | Subject)",
                                          sleepstudy.assign(Days=sleepstudy.Days * 86400.0)).slots}
    for name in ("b_Days", "sd_Subject__Days"):
        np.testing.assert_allclose(b[name].params[-1] * 86400.0, a[name].params[-1], rtol=1e-12)
    for name in ("b_Intercept", "sd_Subject__Intercept", "sigma"):
        np.testing.assert_allclose(b[name].params, a[name].params, rtol=1e-12)
