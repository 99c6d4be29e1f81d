"""The model matrix of new rows from a fitted formula's structure equals formulaic's."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st

import multilevel as ml

from multilevel.design import build_design
from multilevel.design.spec_matrix import spec_matrix

FORMULAS = [
    "y ~ x * a", "y ~ a * b", "y ~ 0 + a", "y ~ 0 + a:x", "y ~ a:b", "y ~ x + a:x", "y ~ a * b * x",
    "y ~ 1 + x + z + x:z", "y ~ 0 + a + b", "y ~ a + x:b", "y ~ b:a + x", "y ~ a * x + b * z",
]


def _frame(rng, n, levels_a, levels_b, categorical):
    d = pd.DataFrame({
        "y": rng.normal(size=n), "x": rng.normal(size=n), "z": rng.integers(0, 5, size=n),
        "a": rng.choice(levels_a, size=n), "b": rng.choice(levels_b, size=n),
        "g": rng.integers(0, 6, size=n),
    })
    if categorical:  # categories in an order of their own, one of them unused
        d["a"] = pd.Categorical(d["a"], categories=list(reversed(levels_a)) + ["unused"])
    return d


@settings(max_examples=60, deadline=None)
@given(formula=st.sampled_from(FORMULAS), seed=st.integers(0, 2**31 - 1), categorical=st.booleans(),
       na=st.integers(1, 4), nb=st.integers(2, 3))
def test_equals_formulaic_on_new_rows(formula, seed, categorical, na, nb):
    rng = np.random.default_rng(seed)
    la, lb = [f"a{i}" for i in range(na + 1)], ["lo", "mid", "hi"][:nb]
    data = _frame(rng, 60, la, lb, categorical)
    spec = build_design(formula + " + (1 | g)", data).fixed.spec
    new = _frame(rng, 7, la, lb, categorical).drop(columns="y")
    want = np.asarray(spec.get_model_matrix(new, na_action="ignore", output="numpy"), dtype=float)
    got = spec_matrix(spec, new)
    if got is not None:  # (a formula of plain columns has a simpler spec of its own)
        assert got.shape == want.shape
        assert np.array_equal(got, want)
    else:
        assert not hasattr(spec, "structure")


def test_falls_back_where_it_does_not_know_the_coding():
    rng = np.random.default_rng(1)
    data = _frame(rng, 40, ["p", "q", "r"], ["lo", "hi"], False)
    new = data.head(3)
    for formula in ["y ~ log(z + 1) * a", "y ~ C(a, contr.sum) * x", "y ~ x * C(z)",
                    "y ~ C(b, contr.treatment('hi')) * x"]:
        spec = build_design(formula + " + (1 | g)", data).fixed.spec
        assert spec_matrix(spec, new) is None, formula
    spec = build_design("y ~ x * a + (1 | g)", data).fixed.spec
    assert spec_matrix(spec, new.assign(a=["p", None, "q"])) is None      # missing value
    assert spec_matrix(spec, new.assign(a=["p", "s", "q"])) is None       # unseen level
    assert spec_matrix(spec, new.assign(x=[True, False, True])) is None   # a bool where a number was


def test_a_remembered_fixed_spec_rebuilds_formulaics_matrix():
    """The fixed part of a formula formulaic built once is rebuilt from its recorded structure for
    data of the same column codings, and only for those: the same matrix and names as formulaic's."""
    import multilevel.design.design as D

    o = ml.datasets.load("orthodont")
    formula = "distance ~ age * Sex + (1 | Subject)"
    D._SPECS.clear()
    first = build_design(formula, o)
    assert len(D._SPECS) == 1
    again = build_design(formula, o.assign(distance=o["distance"] * 2.0, age=o["age"] + 0.5))
    fresh = D._formulaic("distance ~ age * Sex", o.assign(distance=o["distance"] * 2.0, age=o["age"] + 0.5), "X")
    np.testing.assert_array_equal(again.X, np.asarray(fresh.rhs, dtype=float))
    assert again.fixed.names == first.fixed.names
    # the levels in another order: another key, and formulaic's coding of that order
    reordered = o.assign(Sex=o["Sex"].cat.reorder_categories(["Female", "Male"]))
    other = build_design(formula, reordered)
    assert len(D._SPECS) == 2
    np.testing.assert_array_equal(other.X, np.asarray(D._formulaic("distance ~ age * Sex", reordered, "X").rhs))
    assert other.fixed.names != first.fixed.names
    D._SPECS.clear()


def test_a_remembered_random_term_spec_rebuilds_formulaics_matrix():
    """A random-effects term formulaic built once (``0 + Machine``) is rebuilt from its recorded
    structure for data of the same codings: the same Z and column names as formulaic's; a factor
    with other levels is another key."""
    import multilevel.design.design as D

    m = ml.datasets.load("machines")
    formula = "score ~ 1 + cs(0 + Machine | Worker)"
    D._SPECS.clear()
    first = build_design(formula, m)
    assert ("0 + Machine", ("Machine", D._column_key(m["Machine"]))) in D._SPECS
    shuffled = m.sample(frac=1.0, random_state=3)
    again = build_design(formula, shuffled)
    fresh = np.asarray(D._formulaic("0 + Machine", shuffled, "Z"), dtype=float)
    np.testing.assert_array_equal(again.terms[0].Z, fresh)
    assert again.terms[0].columns == first.terms[0].columns
    two = m[m["Machine"] != "C"].assign(Machine=lambda d: d["Machine"].astype(str))
    fewer = build_design(formula, two)
    assert fewer.terms[0].columns == ("MachineA", "MachineB")
    np.testing.assert_array_equal(fewer.terms[0].Z, np.asarray(D._formulaic("0 + Machine", two, "Z"), dtype=float))
    D._SPECS.clear()
