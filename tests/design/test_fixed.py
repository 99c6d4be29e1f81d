"""Fixed-effects design: lme4 column names, factor coding and aliased columns."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.design import build_design, independent_columns


# --------------------------------------------------------- rank deficiency


def test_aliased_column_is_dropped_with_a_warning(sleepstudy):
    sleepstudy["Days2"] = 2.0 * sleepstudy["Days"]
    with pytest.warns(UserWarning, match=r"rank deficient so dropping 1 column: Days2"):
        d = build_design("Reaction ~ Days + Days2 + (1 | Subject)", sleepstudy)
    assert d.fixed.names == ("(Intercept)", "Days")
    assert d.fixed.dropped == ("Days2",)
    assert d.fixed.all_names == ("(Intercept)", "Days", "Days2")
    assert d.X.shape == (180, 2)
    assert d.fixed.keep.tolist() == [0, 1]


def test_rank_deficient_fit_equals_the_fit_without_the_column(sleepstudy):
    sleepstudy["Days2"] = 2.0 * sleepstudy["Days"]
    with pytest.warns(UserWarning, match="Days2"):
        fit = ml.lmer("Reaction ~ Days + Days2 + (1 | Subject)", sleepstudy)
    ref = ml.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy)
    assert list(fit.fixef.index) == ["(Intercept)", "Days"]
    np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-8)
    assert fit.objective == pytest.approx(ref.objective, rel=1e-10)
    assert "dropping 1 column(s): Days2" in str(fit)
    # prediction on new data rebuilds the full matrix and drops the same column
    np.testing.assert_allclose(fit.predict(sleepstudy), fit.fitted, rtol=1e-12)


def test_later_columns_are_dropped_as_in_r():
    """Treatment dummies and rx1/rx3 span the same space: R keeps the earlier ones."""
    an = ml.datasets.load("anorexia")
    with pytest.warns(UserWarning, match=r"dropping 2 columns: rx1, rx3"):
        d = build_design("weight ~ time + treatment + rx1 + rx3 + (1 | girl)", an)
    assert d.fixed.names == ("(Intercept)", "time", "treatmentCont", "treatmentFT")


def test_full_rank_design_gives_no_warning(sleepstudy):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = build_design("Reaction ~ Days + (1 | Subject)", sleepstudy)
    assert d.fixed.dropped == ()


def test_independent_columns():
    X = np.array([[1., 1, 2, 0], [1, 2, 3, 1], [1, 3, 4, 0], [1, 5, 6, 1]])
    assert independent_columns(X).tolist() == [0, 1, 3]
    assert independent_columns(np.zeros((3, 0))).tolist() == []
    # an all-zero column is dropped
    Z = np.column_stack([np.ones(4), np.zeros(4), np.arange(4.0)])
    assert independent_columns(Z).tolist() == [0, 2]


# ------------------------------------------------------------ factor coding


def test_factor_level_order_sets_the_reference_level():
    """gcsemv's female is relevel(gender, 'M'): levels M, F -> column femaleF."""
    g = ml.datasets.load("gcsemv")
    assert list(g["female"].cat.categories) == ["M", "F"]
    assert build_design("course ~ female + (1 | school)", g).fixed.names == ("(Intercept)", "femaleF")
    assert build_design("course ~ gender + (1 | school)", g).fixed.names == ("(Intercept)", "genderM")


def test_changing_the_level_order_changes_the_reference():
    an = ml.datasets.load("anorexia")
    an["treatment"] = pd.Categorical(an["treatment"].astype(str), categories=["Cont", "CBT", "FT"])
    d = build_design("weight ~ time * treatment + (1 | girl)", an)
    assert d.fixed.names == ("(Intercept)", "time", "treatmentCBT", "treatmentFT",
                             "time:treatmentCBT", "time:treatmentFT")


def test_string_factor_uses_sorted_levels():
    an = ml.datasets.load("anorexia")
    an["treatment"] = an["treatment"].astype(str)
    d = build_design("weight ~ time * treatment + (1 | girl)", an)
    assert d.fixed.names == ("(Intercept)", "time", "treatmentCont", "treatmentFT",
                             "time:treatmentCont", "time:treatmentFT")


def test_no_intercept_gives_full_dummy_coding():
    an = ml.datasets.load("anorexia")
    d = build_design("weight ~ 0 + treatment + (1 | girl)", an)
    assert d.fixed.names == ("treatmentCBT", "treatmentCont", "treatmentFT")


def test_interaction_names_follow_formula_order():
    lb = ml.datasets.load("leebryk")
    d = build_design("math ~ 1 + mses + sector + ses + ses*mses + ses*sector + (1 + ses|schoolid)", lb)
    assert d.fixed.names == ("(Intercept)", "mses", "sector", "ses", "mses:ses", "sector:ses")


def test_random_slope_on_a_factor():
    g = ml.datasets.load("gcsemv")
    d = build_design("course ~ female + (1 + female | school)", g)
    assert d.terms[0].columns == ("(Intercept)", "femaleF")


def test_transformed_predictor_name(sleepstudy):
    sleepstudy["D1"] = sleepstudy["Days"] + 1
    d = build_design("Reaction ~ log(D1) + (1 | Subject)", sleepstudy)
    assert d.fixed.names == ("(Intercept)", "log(D1)")
    np.testing.assert_allclose(d.X[:, 1], np.log(sleepstudy["D1"]))
