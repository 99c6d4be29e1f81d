"""Random-effects terms: grouping factors, level order, nesting and term order."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.design import build_design, group_codes, theta_template


def test_term_layout_sleepstudy(sleepstudy):
    d = build_design("Reaction ~ Days + (Days | Subject)", sleepstudy)
    (t,) = d.terms
    assert t.group == "Subject" and t.label == "Subject"
    assert t.columns == ("(Intercept)", "Days")
    assert t.k == 2 and t.nlevels == 18 and t.q == 36 and t.ntheta == 3
    assert list(t.levels) == list(sleepstudy["Subject"].cat.categories)
    assert d.ntheta == 3


def test_uncorrelated_bar_is_split_into_labelled_terms(sleepstudy):
    d = build_design("Reaction ~ Days + (Days || Subject)", sleepstudy)
    assert [(t.label, t.columns) for t in d.terms] == [
        ("Subject", ("(Intercept)",)), ("Subject.1", ("Days",))]
    assert all(t.group == "Subject" for t in d.terms)


def test_terms_are_ordered_by_number_of_levels():
    pa = ml.datasets.load("pastes")
    d = build_design("strength ~ 1 + (1 | batch/cask)", pa)
    assert [(t.group, t.nlevels) for t in d.terms] == [("cask:batch", 30), ("batch", 10)]
    pe = ml.datasets.load("penicillin")
    d = build_design("diameter ~ 1 + (1 | sample) + (1 | plate)", pe)
    assert [(t.group, t.nlevels) for t in d.terms] == [("plate", 24), ("sample", 6)]


def test_nested_levels_are_labelled_like_r():
    pa = ml.datasets.load("pastes")
    d = build_design("strength ~ 1 + (1 | batch/cask)", pa)
    inner = d.terms[0]
    assert list(inner.levels[:4]) == ["a:A", "a:B", "a:C", "a:D"]
    # each observation's level is its cask:batch combination
    labels = np.asarray(inner.levels)[inner.codes]
    expected = (pa["cask"].astype(str) + ":" + pa["batch"].astype(str)).to_numpy()
    assert (labels == expected).all()


def test_group_codes_interaction():
    df = pd.DataFrame({"a": ["x", "x", "y"], "b": [1, 2, 1]})
    codes, levels = group_codes(df, ("b", "a"))
    assert list(levels) == ["1:x", "1:y", "2:x"]
    assert codes.tolist() == [0, 2, 1]


def test_theta_template():
    rows, cols, lower = theta_template(3)
    assert rows.tolist() == [0, 1, 2, 1, 2, 2]
    assert cols.tolist() == [0, 0, 0, 1, 1, 2]
    assert np.isinf(lower[[1, 2, 4]]).all() and (lower[[0, 3, 5]] == 0).all()


# --------------------------------------------------- group ids of any kind


def test_categorical_level_order_is_kept():
    g = ml.datasets.load("gcsemv")
    d = build_design("course ~ 1 + (1 | school)", g)
    assert list(d.terms[0].levels) == list(g["school"].cat.categories)


def test_unused_categories_are_dropped(sleepstudy):
    sub = sleepstudy[sleepstudy["Subject"] != "308"]
    d = build_design("Reaction ~ Days + (1 | Subject)", sub)
    assert d.terms[0].nlevels == 17
    assert "308" not in list(d.terms[0].levels)


@pytest.mark.parametrize("convert", [
    lambda s: s.astype(str),                              # strings
    lambda s: s.astype(str).astype(int),                  # non-sequential integers
    lambda s: "school-" + s.astype(str),                  # arbitrary labels
])
def test_non_sequential_and_string_group_ids(convert):
    g = ml.datasets.load("gcsemv")
    ref = ml.lmer("course ~ 1 + female + (1 | school)", g, reml=False)
    g["school"] = convert(g["school"])
    fit = ml.lmer("course ~ 1 + female + (1 | school)", g, reml=False)
    assert fit.ngroups == {"school": 73}
    assert fit.objective == pytest.approx(ref.objective, rel=1e-10)
    np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-6)
    # the same schools get the same conditional modes, whatever their labels
    np.testing.assert_allclose(np.sort(fit.ranef["school"].iloc[:, 0]),
                               np.sort(ref.ranef["school"].iloc[:, 0]), atol=1e-5)


def test_integer_ids_sort_numerically(sleepstudy):
    sleepstudy["id"] = sleepstudy["Subject"].cat.codes.map(lambda c: [10, 9, 100][c % 3] + c)
    d = build_design("Reaction ~ Days + (1 | id)", sleepstudy)
    lev = list(d.terms[0].levels)
    assert lev == sorted(lev)
