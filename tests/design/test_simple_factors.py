"""The fast model-matrix path for factors codes them exactly as formulaic does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from formulaic import model_matrix
from hypothesis import given, settings, strategies as st

import multilevel as ml
from multilevel.design import build_design
from multilevel.design.simple import simple_spec

LABELS = ["a", "b", "c", "d", "Zed", "x y", "10", "2"]


@st.composite
def frames(draw):
    n = draw(st.integers(4, 30))
    rng = np.random.default_rng(draw(st.integers(0, 10_000)))
    k = draw(st.integers(2, 5))
    labels = list(rng.choice(LABELS, size=k, replace=False))
    used = rng.choice(labels, size=n)
    cats = labels if draw(st.booleans()) else labels[::-1]
    kind = draw(st.sampled_from(["categorical", "ordered", "str", "object"]))
    if kind == "categorical":
        f = pd.Categorical(used, categories=cats)
    elif kind == "ordered":
        f = pd.Categorical(used, categories=cats, ordered=True)
    elif kind == "str":
        f = pd.array(used, dtype="str")
    else:
        f = pd.Series(list(used), dtype=object)
    return pd.DataFrame({"f": f, "x": rng.normal(size=n), "g": rng.choice(["u", "v", "w"], n)})


@settings(max_examples=80, deadline=None)
@given(df=frames(), rhs=st.sampled_from(["1 + f", "f", "x + f", "f + x + g", "1 + g + f"]))
def test_same_matrix_and_names_as_formulaic(df, rhs):
    spec = simple_spec(rhs, df)
    assert spec is not None
    mm = model_matrix(rhs, df, na_action="ignore")
    assert spec.names == list(mm.columns)
    np.testing.assert_array_equal(spec.matrix(df), np.asarray(mm, dtype=float))
    # new data is coded with the fitted levels
    new = df.iloc[::-1]
    np.testing.assert_array_equal(spec.matrix(new), np.asarray(mm.model_spec.get_model_matrix(new), dtype=float))


def test_left_to_formulaic():
    df = pd.DataFrame({"f": ["a", "b", "a"], "b": [True, False, True], "n": pd.Categorical([1, 2, 1])})
    for rhs in ("0 + f", "f - 1", "b", "1 + n", "f:b", "C(f)"):
        assert simple_spec(rhs, df) is None, rhs


def test_factor_fit_matches_the_formulaic_fit():
    gcse = ml.datasets.load("gcsemv")
    fast = ml.lmer("course ~ 1 + female + (1 + female | school)", gcse, reml=False)
    slow = ml.lmer("course ~ 1 + C(female) + (1 + C(female) | school)", gcse, reml=False)  # formulaic
    assert fast.objective == pytest.approx(slow.objective, abs=1e-8)
    np.testing.assert_allclose(fast.fixef.to_numpy(), slow.fixef.to_numpy(), rtol=1e-8)
    assert list(fast.fixef.index) == ["(Intercept)", "femaleF"]
    assert list(fast.anova().index) == ["female"]


def test_unseen_level_in_new_data_is_a_clear_error():
    gcse = ml.datasets.load("gcsemv").dropna(subset=["course"])
    fit = ml.lmer("course ~ 1 + female + (1 | school)", gcse)
    new = gcse.head(3).astype({"female": object})
    new.loc[new.index[0], "female"] = "X"
    with pytest.raises(ValueError, match="not seen in the fit"):
        fit.predict(new)


def test_string_extension_column_is_a_factor():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"g": rng.choice(list("abcdefgh"), 200), "y": rng.normal(size=200)})
    df["t"] = pd.array(rng.choice(["p", "q"], 200), dtype="string")
    d = build_design("y ~ 1 + t + (1 | g)", df)
    assert list(d.fixed.names) == ["(Intercept)", "tq"]


def test_the_response_is_not_a_view_of_the_callers_column():
    s = ml.datasets.load("sleepstudy")
    d = build_design("Reaction ~ Days + (1 | Subject)", s)
    s.loc[0, "Reaction"] = 1e6
    assert d.y[0] != 1e6


def test_result_tables_do_not_share_their_index_objects():
    s = ml.datasets.load("sleepstudy")
    a = ml.lmer("Reaction ~ Days + (1 | Subject)", s)
    b = ml.lmer("Reaction ~ Days + (1 | Subject)", s)
    a.fixef.index.name = "term"
    assert b.fixef.index.name is None and a.vcov.columns.name is None
