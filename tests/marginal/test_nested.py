"""emmeans with nested fixed factors (B %in% A): the cells within their nests only, against
R's emmeans (tests/reference/emmeans_nested.R)."""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

import multilevel as ml
from multilevel.marginal.grid import reference_grid

REFERENCE = Path(__file__).parents[1] / "reference"
REF = json.loads((REFERENCE / "emmeans_nested.json").read_text())


@lru_cache(maxsize=None)
def nested_fit():
    d = pd.read_csv(REFERENCE / "data" / "nested_factors.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the aliased A:B columns, as lme4's
        return ml.lmer("y ~ x + A + A:B + (1 | g)", d)


def _same(table, ref, columns):
    for c in columns:
        np.testing.assert_allclose(table[c].to_numpy(dtype=float), ref[c], rtol=2e-3, err_msg=c)


def test_the_grid_keeps_the_cells_within_their_nests():
    rg = reference_grid(nested_fit().design)
    assert rg.nests == {"B": ("A",)} and REF["nesting"] == {"B": "A"}
    kept = rg.frame[rg.valid]
    assert sorted(zip(kept["A"].astype(str), kept["B"].astype(str))) == [
        ("a1", "b1"), ("a1", "b2"), ("a2", "b3"), ("a2", "b4"), ("a2", "b5")]


def test_means_of_the_nest_average_its_own_levels():
    emm = ml.emmeans(nested_fit(), "A")
    assert [str(v) for v in emm["A"]] == REF["A"]["A"]
    _same(emm, REF["A"], ["emmean", "SE", "df", "lower.CL"])
    assert "NOTE: A nesting structure was detected in the fitted model: B %in% A" in str(emm)


def test_means_of_the_nested_factor_carry_their_nest():
    emm = ml.emmeans(nested_fit(), "B")
    assert list(emm.columns[:2]) == ["B", "A"]
    assert [str(v) for v in emm["B"]] == REF["B"]["B"] and [str(v) for v in emm["A"]] == REF["B"]["A"]
    _same(emm, REF["B"], ["emmean", "SE", "df", "upper.CL"])
    pairs = emm.pairs()
    assert list(pairs["contrast"]) == REF["pairs_B"]["contrast"]
    _same(pairs, REF["pairs_B"], ["estimate", "SE", "df", "t.ratio", "p.value"])
    by = ml.emmeans(nested_fit(), "~ B | A")
    assert [str(v) for v in by["B"]] == REF["B_by_A"]["B"]
    _same(by, REF["B_by_A"], ["emmean", "SE"])


def test_crossed_factors_are_not_taken_for_nested():
    emm = ml.emmeans(ml.lmer("normexam ~ standLRT + sex * schgend + (1 | school)", ml.datasets.load("exam")),
                     "sex")
    assert "nesting" not in str(emm) and len(emm) == 2
    assert not reference_grid(nested_fit().design).valid.all()
