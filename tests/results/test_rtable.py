"""ANOVA and coefficient tables: DataFrames that print as R prints them."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.results.rtable import AnovaTable, CoefTable

REFERENCE = json.loads((Path(__file__).resolve().parents[1] / "reference" / "anova_print.json").read_text())
CASES = {c["name"]: c for c in REFERENCE["cases"]}
def _table(case):
    values = np.array(case["values"], dtype=float).reshape(len(case["rownames"]), -1)
    df = pd.DataFrame(values, index=case["rownames"], columns=case["colnames"])
    if case["kind"] == "anova":
        table = AnovaTable(df)
        table.attrs["title"] = case["heading"]
        return table
    return CoefTable(df)


@pytest.mark.parametrize("name", sorted(CASES))
def test_prints_as_r(name):
    case = CASES[name]
    ours = [line.rstrip() for line in str(_table(case)).splitlines()]
    # R pads the stars column and writes the legend's quotes as the locale's
    ref = [line.rstrip().replace("\u2018", "'").replace("\u2019", "'") for line in case["lines"]]
    assert ours == ref


@pytest.fixture(scope="module")
def leebryk_fit():
    return ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))


def test_anova_is_a_dataframe_with_a_title_and_unrounded_numbers(leebryk_fit):
    table = leebryk_fit.anova()
    assert isinstance(table, pd.DataFrame) and isinstance(table, AnovaTable)
    assert table.title == table.attrs["title"] == \
        "Type III Analysis of Variance Table with Satterthwaite's method"
    text = str(table)
    assert text.splitlines()[0] == table.title and "***" in text and text.endswith("' ' 1")
    assert repr(table) == text
    # the numbers are the computed ones, not the printed ones
    assert table.loc["mses", "F value"] != round(table.loc["mses", "F value"], 3)
    derived = table.round(2)
    assert type(derived) is pd.DataFrame and type(table["F value"]) is pd.Series
    assert "Type III" in table._repr_html_()
    again = pickle.loads(pickle.dumps(table))
    pd.testing.assert_frame_equal(pd.DataFrame(again), pd.DataFrame(table))
    assert "Kenward-Roger's" in str(leebryk_fit.anova(ddf="kenward-roger")).splitlines()[0]


def test_coef_table_prints_as_the_summary_block(leebryk_fit):
    table = leebryk_fit.coef_table()
    assert isinstance(table, CoefTable)
    block = leebryk_fit.summary().split("Fixed effects:\n")[1].split("\n\nCorrelation")[0]
    assert str(table) == block
    plain = leebryk_fit.coef_table(ddf=None)
    assert list(plain.columns) == ["Estimate", "Std. Error", "t value"] and "Signif" not in str(plain)


def test_glmer_coef_table_prints_z_tests_with_stars():
    m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    text = str(m.coef_table())
    assert text.splitlines()[0].split() == ["Estimate", "Std.", "Error", "z", "value", "Pr(>|z|)"]
    assert "***" in text and text in m.summary()


FUZZ_CASES = json.loads((Path(__file__).resolve().parents[1] / "reference" / "print_fuzz_cases.json").read_text())["cases"]
FUZZ_R = json.loads((Path(__file__).resolve().parents[1] / "reference" / "print_fuzz.json").read_text())


def _num(s):
    return float("nan") if s in ("NA", "NaN") else float(s)


def test_random_tables_and_p_values_print_as_r():
    """350 seeded random p-value vectors, coefficient and ANOVA tables against R's
    format.pval, printCoefmat (4 digits) and print.anova (tests/reference/print_fuzz.R)."""
    from multilevel.results.summary import anova_lines, coef_lines, format_pvalues

    bad = []
    for case in FUZZ_CASES:
        values = [_num(v) for v in case["values"]]
        if case["kind"] == "pval":
            ours, ref = format_pvalues(values, case["digits"]), FUZZ_R[case["name"]]
        else:
            df = pd.DataFrame(np.array(values).reshape(len(case["rownames"]), -1),
                              index=case["rownames"], columns=case["colnames"])
            ours = [line.rstrip() for line in (anova_lines(df) if case["kind"] == "anova" else coef_lines(df))]
            ref = [line.rstrip().replace("\u2018", "'").replace("\u2019", "'") for line in FUZZ_R[case["name"]]]
        if ours != ref:
            bad.append(case["name"])
    assert not bad, f"{len(bad)} cases print differently from R, e.g. {bad[:5]}"


def test_stars_at_the_cut_points_and_a_table_without_small_p_values():
    from multilevel.results.summary import coef_lines, stars

    assert [stars(p) for p in (0.001, 0.01, 0.05, 0.1, 0.1001, float("nan"))] == ["***", "**", "*", ".", "", ""]
    t = pd.DataFrame({"Estimate": [0.1], "Std. Error": [0.2], "z value": [0.5], "Pr(>|z|)": [0.617]},
                     index=["(Intercept)"])
    lines = coef_lines(t)
    assert lines[-1].endswith("0.617") and not any("Signif" in line for line in lines)


def test_a_table_edited_beyond_rs_layout_still_prints():
    t = CoefTable({"Estimate": [1.0], "Std. Error": [0.5], "t value": [2.0]}, index=["a"])
    t.rename(columns={"Estimate": "est"}, inplace=True)
    assert "est" in repr(t)
