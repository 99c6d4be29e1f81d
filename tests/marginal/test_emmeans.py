"""Marginal means beyond the R reference: posteriors, invariances, tables, bad input."""

from __future__ import annotations

import warnings
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import multilevel as ml

EXAM = "normexam ~ standLRT + sex + schgend + (1 | school)"
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


@lru_cache(maxsize=None)
def exam_fit():
    return ml.lmer(EXAM, ml.datasets.load("exam"))


@lru_cache(maxsize=None)
def cbpp_posterior():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.bayes(CBPP, ml.datasets.load("cbpp"), family="binomial", chains=2, draws=300,
                        warmup=300, seed=3, progress=False)


def _hpd(x, prob=0.95):
    x = np.sort(x)
    m = int(np.floor(prob * x.size))
    i = int(np.argmin(x[m:] - x[:x.size - m]))
    return x[i], x[i + m]


# ---------------------------------------------------------------- posteriors
def test_posterior_means_are_summaries_of_the_draws():
    post = cbpp_posterior()
    emm = ml.emmeans(post, "period")
    assert list(emm.columns) == ["period", "emmean", "lower.HPD", "upper.HPD"]
    beta = np.stack([post.draws[f"b_{n}"].reshape(-1) for n in
                     ("Intercept", "period2", "period3", "period4")], axis=1)
    L = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [1, 0, 1, 0], [1, 0, 0, 1]], dtype=float)
    eta = beta @ L.T
    np.testing.assert_allclose(emm["emmean"], np.median(eta, axis=0))
    lo, hi = zip(*(_hpd(eta[:, j]) for j in range(4)))
    np.testing.assert_allclose(emm["lower.HPD"], lo)
    np.testing.assert_allclose(emm["upper.HPD"], hi)
    assert "Point estimate displayed: median" in emm.notes


def test_posterior_response_scale_and_ratios():
    post = cbpp_posterior()
    emm = ml.emmeans(post, "period", type="response")
    link = ml.emmeans(post, "period")
    np.testing.assert_allclose(emm["prob"], 1 / (1 + np.exp(-link["emmean"])), rtol=1e-12)
    ratios = emm.pairs()
    assert list(ratios.columns) == ["contrast", "odds.ratio", "lower.HPD", "upper.HPD"]
    assert ratios["contrast"].iloc[0] == "period1 / period2"
    diffs = link.pairs()
    np.testing.assert_allclose(ratios["odds.ratio"], np.exp(diffs["estimate"]), rtol=1e-12)
    probs = link.regrid().pairs()
    assert list(probs.columns) == ["contrast", "estimate", "lower.HPD", "upper.HPD"]
    assert 0.05 < probs["estimate"].iloc[0] < 0.2  # period 1 vs 2: about 0.11 in probability


def test_posterior_refuses_df():
    with pytest.raises(ValueError, match="df= applies to lmer fits"):
        ml.emmeans(cbpp_posterior(), "period", df="satterthwaite")


# ---------------------------------------------------------------- invariances
@settings(max_examples=8, deadline=None)
@given(scale=st.sampled_from([1e-3, 0.5, 10.0, 1e4]), shift=st.sampled_from([-50.0, 0.0, 1e3]))
def test_means_do_not_depend_on_a_covariates_units(scale, shift):
    d = ml.datasets.load("exam")
    base = ml.emmeans(exam_fit(), "schgend")
    d2 = d.assign(standLRT=d["standLRT"] * scale + shift)
    other = ml.emmeans(ml.lmer(EXAM, d2), "schgend")
    for col in ("emmean", "SE", "df", "lower.CL"):
        np.testing.assert_allclose(other[col], base[col], rtol=2e-5, atol=1e-7)


def test_means_do_not_depend_on_row_order_or_level_labels():
    d = ml.datasets.load("exam")
    base = ml.emmeans(exam_fit(), "schgend").pairs()
    shuffled = d.sample(frac=1.0, random_state=7).reset_index(drop=True)
    again = ml.emmeans(ml.lmer(EXAM, shuffled), "schgend").pairs()
    np.testing.assert_allclose(again["estimate"], base["estimate"], rtol=1e-6, atol=1e-9)
    renamed = d.assign(schgend=d["schgend"].cat.rename_categories({"boys": "B", "girls": "G"}))
    third = ml.emmeans(ml.lmer(EXAM, renamed), "schgend").pairs()
    assert third["contrast"].tolist() == ["mixed - B", "mixed - G", "B - G"]
    np.testing.assert_allclose(third["p.value"], base["p.value"], rtol=1e-6)


def test_string_and_categorical_factors_give_the_same_means():
    d = ml.datasets.load("exam")
    as_text = d.assign(sex=d["sex"].astype(str), schgend=d["schgend"].astype(str))
    # string levels are sorted (boys, girls, mixed): compare by level
    a = ml.emmeans(exam_fit(), "schgend").set_index("schgend")["emmean"]
    b = ml.emmeans(ml.lmer(EXAM, as_text), "schgend").set_index("schgend")["emmean"]
    np.testing.assert_allclose(b.loc[["mixed", "boys", "girls"]].to_numpy(), a.to_numpy(), rtol=1e-6)


# ---------------------------------------------------------------- tables
def test_table_is_a_dataframe_that_prints_as_emmeans():
    emm = ml.emmeans(exam_fit(), "schgend")
    text = str(emm)
    assert text.splitlines()[0].split() == ["schgend", "emmean", "SE", "df", "lower.CL", "upper.CL"]
    assert "Results are averaged over the levels of: sex" in text
    assert "Degrees-of-freedom method: kenward-roger" in text
    assert type(emm.round(2)).__name__ == "DataFrame"
    assert "<table" in emm._repr_html_()
    by = str(ml.emmeans(exam_fit(), "sex", by="schgend"))
    assert "schgend = boys:" in by


def test_formula_specs_and_by_agree():
    a = ml.emmeans(exam_fit(), "~ sex | schgend")
    b = ml.emmeans(exam_fit(), "sex", by="schgend")
    pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))


def test_linfct_rows_give_the_means():
    fit = exam_fit()
    emm = ml.emmeans(fit, "schgend")
    np.testing.assert_allclose(emm.linfct.to_numpy() @ fit.fixef.to_numpy(), emm["emmean"])


def test_confint_level_and_simultaneous_intervals():
    pairs = ml.emmeans(exam_fit(), "schgend").pairs()
    plain = pairs.confint(level=0.9, adjust="none")
    tukey = pairs.confint(level=0.9)
    assert (tukey["upper.CL"] - tukey["lower.CL"] > plain["upper.CL"] - plain["lower.CL"]).all()
    assert "Confidence level used: 0.9" in plain.notes


def test_custom_weights_equal_the_named_ones():
    d = ml.datasets.load("exam")
    counts = d["sex"].value_counts().reindex(["F", "M"]).to_numpy()
    named = ml.emmeans(exam_fit(), "schgend", weights="proportional")
    given_ = ml.emmeans(exam_fit(), "schgend", weights=counts)
    np.testing.assert_allclose(given_["emmean"], named["emmean"])


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, error, match", [
    ({"specs": "nope"}, ValueError, "'nope' is not a predictor of the fixed part"),
    ({"specs": 3}, TypeError, "specs must name the variable"),
    ({"specs": "schgend", "weights": "bogus"}, ValueError, "unknown weights='bogus'"),
    ({"specs": "schgend", "weights": [1, 2, 3]}, ValueError, "2 non-negative numbers"),
    ({"specs": "schgend", "type": "probability"}, ValueError, "type must be 'link' or 'response'"),
    ({"specs": "schgend", "df": "exact"}, ValueError, "unknown df='exact'"),
    ({"specs": "schgend", "level": 95}, ValueError, "level must be between 0 and 1"),
    ({"specs": "schgend", "at": {"schgend": "coed"}}, ValueError, "'coed', which is not a level"),
    ({"specs": "schgend", "at": {"age": 3}}, ValueError, "at= names 'age'"),
    ({"specs": "schgend", "at": [1]}, TypeError, "at must be a dict"),
    ({"specs": "schgend", "by": "schgend"}, ValueError, "named twice in specs / by"),
])
def test_bad_arguments_get_one_line_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        ml.emmeans(exam_fit(), **kwargs)


def test_bad_contrasts_get_one_line_errors():
    emm = ml.emmeans(exam_fit(), "schgend")
    with pytest.raises(ValueError, match="unknown contrast method 'pairs'"):
        emm.contrast("pairs")
    with pytest.raises(ValueError, match="needs 3 finite coefficients"):
        emm.contrast({"a": [1, -1]})
    with pytest.raises(ValueError, match="ref='coed' is not one of the levels"):
        emm.contrast("trt.vs.ctrl", ref="coed")
    with pytest.raises(ValueError, match="unknown adjust='tukee'"):
        emm.pairs(adjust="tukee")
    with pytest.raises(ValueError, match="by='region' is not one of the table's variables"):
        emm.pairs(by="region")
    with pytest.raises(TypeError, match="marginal means need a fit"):
        ml.emmeans(pd.DataFrame({"a": [1]}), "a")
    with pytest.raises(ValueError, match="df='kenward-roger' applies to lmer fits"):
        ml.emmeans(ml.glmer(CBPP, ml.datasets.load("cbpp"), family="binomial"), "period",
                   df="kenward-roger")


def test_unused_categories_are_not_levels_of_the_grid():
    d = ml.datasets.load("exam")
    extra = d.assign(schgend=d["schgend"].cat.add_categories(["coed"]))
    a = ml.emmeans(exam_fit(), "sex")
    b = ml.emmeans(ml.lmer(EXAM, extra), "sex")
    np.testing.assert_allclose(b["emmean"], a["emmean"], rtol=1e-7)
    pairs = ml.emmeans(ml.lmer(EXAM, extra), "schgend").pairs()
    assert len(pairs) == 3 and "family of 3 estimates" in pairs.notes[-1]


def test_a_bool_predictor_is_a_two_level_factor_of_the_grid():
    # lme4 and emmeans take a logical as a factor: the means average over FALSE and TRUE
    d = ml.datasets.load("exam").assign(high=lambda x: x["standLRT"] > 0)
    fit = ml.lmer("normexam ~ high + sex + (1 | school)", d)
    emm = ml.emmeans(fit, "sex")
    b = fit.fixef
    assert emm["emmean"].iloc[0] == pytest.approx(b["(Intercept)"] + b["high"] / 2, rel=1e-9)
    assert "averaged over the levels of: high" in emm.notes[0]


def test_lhs_specs_and_transformed_responses_are_explained():
    with pytest.raises(ValueError, match="call ml.emmeans\\(fit, '~sex'\\).pairs\\(\\)"):
        ml.emmeans(exam_fit(), "pairwise ~ sex")
    d = ml.datasets.load("sleepstudy")
    fit = ml.lmer("log(Reaction) ~ Days + (1 | Subject)", d)
    with pytest.warns(UserWarning, match="the transformation is not undone"):
        ml.emmeans(fit, "Days", type="response")


def test_at_restricts_a_factor_and_sets_covariates():
    emm = ml.emmeans(exam_fit(), "schgend", at={"schgend": ["girls", "boys"], "standLRT": [0.0, 1.0]})
    assert emm["schgend"].tolist() == ["girls", "boys"]
    assert "Results are averaged over the levels of: standLRT, sex" in emm.notes   # formula order
    both = ml.emmeans(exam_fit(), ["schgend", "standLRT"], at={"standLRT": [0.0, 1.0]})
    slope = exam_fit().fixef["standLRT"]
    diff = both["emmean"].to_numpy().reshape(2, 3)
    np.testing.assert_allclose(diff[1] - diff[0], slope)


@pytest.mark.parametrize("df", ["kenward-roger", "satterthwaite", "asymptotic"])
@pytest.mark.parametrize("shift, scale", [(1e9, 1.0), (0.0, 86400.0), (0.0, 1 / 365.25)])
def test_means_do_not_move_with_a_covariates_units(df, shift, scale):
    """A covariate far from zero (x + 1e9) or in other units: the means at its mean, their standard
    errors and df stay (the variances are formed in the standardised coefficients; in the user's
    they cancelled to 0 with x + 1e9)."""
    o = ml.datasets.load("orthodont")
    ref = ml.emmeans(ml.lmer("distance ~ age * Sex + (1 | Subject)", o), "Sex", df=df)
    moved = o.assign(age=o["age"] * scale + shift)
    emm = ml.emmeans(ml.lmer("distance ~ age * Sex + (1 | Subject)", moved), "Sex", df=df)
    for col in ("emmean", "SE", "df"):
        np.testing.assert_allclose(emm[col], ref[col], rtol=1e-5, err_msg=col)
    np.testing.assert_allclose(emm.pairs()["SE"], ref.pairs()["SE"], rtol=1e-5)


@pytest.mark.parametrize("shift, scale", [(1e9, 1.0), (0.0, 86400.0), (0.0, 1 / 365.25)])
def test_glmer_means_and_predictions_do_not_move_with_a_covariates_units(shift, scale):
    """The same for a glmer fit: its means' and predictions' SEs are formed in the standardised
    coefficients (with x + 1e9 in the user's they came out 0.08 for 0.23)."""
    cb = ml.datasets.load("cbpp")
    cb = cb.assign(x=np.arange(len(cb)) / 10.0)
    form = "cbind(incidence, size - incidence) ~ x + period + (1 | herd)"
    ref_fit = ml.glmer(form, cb, family="binomial")
    fit = ml.glmer(form, cb.assign(x=cb["x"] * scale + shift), family="binomial")
    ref, emm = ml.emmeans(ref_fit, "period"), ml.emmeans(fit, "period")
    for col in ("emmean", "SE"):
        np.testing.assert_allclose(emm[col], ref[col], rtol=1e-4, err_msg=col)
    new = cb.iloc[:5]
    p_ref = ref_fit.predict(new, random=False, se_fit=True)
    p = fit.predict(new.assign(x=new["x"] * scale + shift), random=False, se_fit=True)
    np.testing.assert_allclose(p["se_fit"], p_ref["se_fit"], rtol=1e-4)


def test_lmer_prediction_se_does_not_move_with_a_covariates_shift():
    s = ml.datasets.load("sleepstudy")
    ref_fit = ml.lmer("Reaction ~ Days + (Days | Subject)", s)
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", s.assign(Days=s["Days"] + 1e9))
    p_ref = ref_fit.predict(s.iloc[:4], random=False, se_fit=True)
    p = fit.predict(s.iloc[:4].assign(Days=s["Days"].iloc[:4] + 1e9), random=False, se_fit=True)
    np.testing.assert_allclose(p["se_fit"], p_ref["se_fit"], rtol=1e-5)
