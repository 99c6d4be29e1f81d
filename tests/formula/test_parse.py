"""lme4 formula syntax: bars, nesting, interactions, intercepts and syntax errors."""

from __future__ import annotations

import re

import pytest

import multilevel as ml
from multilevel.formula import FormulaError, ParsedFormula, RandomBar, parse_formula


def bars(p: ParsedFormula) -> list[tuple[str, str, bool]]:
    return [(b.expr, b.group_name, b.correlated) for b in p.bars]


def error_position(err: Exception) -> int:
    m = re.search(r"at character (\d+)", str(err))
    assert m, f"no position in {str(err)!r}"
    return int(m.group(1))


# --------------------------------------------------------------------- bars


def test_single_bar():
    p = parse_formula("y ~ x + (1 | g)")
    assert p.response == "y"
    assert p.fixed == "x"
    assert p.fixed_formula == "y ~ x"
    assert bars(p) == [("1", "g", True)]
    assert p.bars[0] == RandomBar(expr="1", group=("g",), correlated=True)
    assert p.text == "y ~ x + (1 | g)"


def test_random_slope_keeps_expression():
    p = parse_formula("Reaction ~ 1 + Days + (1 + Days | Subject)")
    assert p.fixed == "1 + Days"
    assert bars(p) == [("1 + Days", "Subject", True)]


def test_double_bar_is_uncorrelated():
    p = parse_formula("y ~ x + (1 + x || g)")
    assert bars(p) == [("1 + x", "g", False)]


def test_whitespace_is_irrelevant():
    assert bars(parse_formula("y~x+(1|g)")) == bars(parse_formula("y ~ x + ( 1 | g )"))
    assert parse_formula("y~x+(1|g)").fixed == "x"


def test_random_term_first_or_between_fixed_terms():
    assert parse_formula("y ~ (1|g) + x").fixed == "x"
    p = parse_formula("y ~ x + (1|g) + z")
    assert p.fixed == "x + z"
    assert bars(p) == [("1", "g", True)]


def test_random_only_model_has_intercept():
    p = parse_formula("y ~ (1 | g)")
    assert p.fixed == "1"
    assert p.fixed_formula == "y ~ 1"


def test_functions_inside_a_bar():
    p = parse_formula("y ~ (1 + log(x) | g)")
    assert bars(p) == [("1 + log(x)", "g", True)]


def test_transformed_response():
    assert parse_formula("log(y) ~ x + (1|g)").response == "log(y)"


# ---------------------------------------------------------- several terms


def test_several_terms():
    p = parse_formula("y ~ x + (1 | g) + (0 + x | h)")
    assert bars(p) == [("1", "g", True), ("0 + x", "h", True)]


def test_crossed_terms():
    p = parse_formula("diameter ~ 1 + (1 | plate) + (1 | sample)")
    assert bars(p) == [("1", "plate", True), ("1", "sample", True)]


def test_two_terms_on_one_factor():
    p = parse_formula("y ~ x + (1 | g) + (0 + x | g)")
    assert bars(p) == [("1", "g", True), ("0 + x", "g", True)]


# ----------------------------------------------------- nesting, interaction


def test_nested_expands_as_lme4():
    p = parse_formula("strength ~ 1 + (1 | batch/cask)")
    assert bars(p) == [("1", "batch", True), ("1", "cask:batch", True)]
    assert p.bars[1].group == ("cask", "batch")


def test_three_level_nesting():
    p = parse_formula("y ~ (1 | a/b/c)")
    assert [b.group for b in p.bars] == [("a",), ("b", "a"), ("c", "b", "a")]
    assert [b.group_name for b in p.bars] == ["a", "b:a", "c:b:a"]


def test_nested_uncorrelated():
    p = parse_formula("y ~ (x || a/b)")
    assert bars(p) == [("x", "a", False), ("x", "b:a", False)]


def test_interaction_group():
    p = parse_formula("y ~ (1 | a:b)")
    assert bars(p) == [("1", "a:b", True)]
    assert p.bars[0].group == ("a", "b")


# ------------------------------------------------------------- intercepts


@pytest.mark.parametrize("formula, fixed", [
    ("y ~ 0 + x + (1 | g)", "0 + x"),
    ("y ~ -1 + x + (1 | g)", "-1 + x"),
    ("y ~ x - 1 + (1 | g)", "x - 1"),
    ("y ~ x + (1 | g) - 1", "x - 1"),
])
def test_no_intercept_is_kept_in_fixed_part(formula, fixed):
    assert parse_formula(formula).fixed == fixed


@pytest.mark.parametrize("formula", ["y ~ 0 + Days + (1 | Subject)",
                                     "y ~ -1 + Days + (1 | Subject)",
                                     "y ~ Days - 1 + (1 | Subject)"])
def test_no_intercept_design(formula, sleepstudy):
    from multilevel.design import build_design

    sleepstudy["y"] = sleepstudy["Reaction"]
    d = build_design(formula, sleepstudy)
    assert d.fixed.names == ("Days",)


# ----------------------------------------------------------- syntax errors


@pytest.mark.parametrize("formula, char, words", [
    ("y ~ x + (1|g", "(", "unmatched '('"),
    ("y ~ x + 1|g)", ")", "unmatched ')'"),
    ("y ~ x ~ z", "~", "more than one '~'"),
    ("y ~ x (1|g)", "(", "added with '+'"),
    ("y ~ x * (1|g)", "(", "added with '+'"),
    ("y ~ x + (1|g|h)", "|", "more than one bar"),
    ("y ~ x | g", "|", "outside parentheses"),
    ("y ~ x + (1 | )", "|", "grouping factor"),
    ("y ~ x + (1|a+b)", "|", "grouping factor"),
    ("y ~ x + (1|g)'", "'", "unterminated quote"),
])
def test_syntax_error_carries_position(formula, char, words):
    with pytest.raises(FormulaError) as info:
        parse_formula(formula)
    msg = str(info.value)
    assert "\n" not in msg
    assert words in msg
    assert repr(formula) in msg
    pos = error_position(info.value)
    assert 1 <= pos <= len(formula)
    assert formula[pos - 1] == char, (formula, pos)


def test_nothing_before_bar():
    with pytest.raises(FormulaError, match="nothing before '\\|'") as info:
        parse_formula("y ~ x + ( | g)")
    assert 9 <= error_position(info.value) <= 11


def test_nothing_after_tilde():
    with pytest.raises(FormulaError, match="nothing after '~'") as info:
        parse_formula("y ~ ")
    error_position(info.value)


def test_formula_error_is_a_value_error():
    assert issubclass(FormulaError, ValueError)
    assert ml.FormulaError is FormulaError


@pytest.mark.parametrize("formula", ["y x + (1|g)", "", "   "])
def test_missing_tilde(formula):
    with pytest.raises(FormulaError, match="no '~'") as info:
        parse_formula(formula)
    assert "\n" not in str(info.value)


def test_missing_response():
    with pytest.raises(FormulaError, match="no response"):
        parse_formula("~ x + (1 | g)")


@pytest.mark.parametrize("formula", ["y ~ x + (1 | )", "y ~ x + (1 || )", "y ~ x + (1|)"])
def test_empty_group(formula):
    with pytest.raises(FormulaError, match="grouping factor") as info:
        parse_formula(formula)
    error_position(info.value)


def test_empty_nested_part():
    with pytest.raises(FormulaError, match="grouping factor"):
        parse_formula("y ~ x + (1 | g/)")


def test_non_string_formula():
    with pytest.raises(TypeError, match="string"):
        parse_formula(3)


@pytest.mark.parametrize("formula", ["Reaction ~ Days + + (1 | Subject)",
                                     "Reaction ~ Days + (1 | Subject) +",
                                     "Reaction ~ Days + (Days + | Subject)",
                                     "Reaction ~ Days +"])
def test_dangling_plus_error_has_position(formula, sleepstudy):
    """Errors found by formulaic in a part of the formula point into the whole formula."""
    with pytest.raises(FormulaError) as info:
        ml.lmer(formula, sleepstudy)
    assert "\n" not in str(info.value)
    assert formula[error_position(info.value) - 1] == "+"


def test_backtick_quoted_group():
    p = parse_formula("y ~ x + (1 | `my group`)")
    assert p.bars[0].group == ("my group",)


def test_factor_and_as_factor_are_read_as_categoricals():
    import numpy as np

    s = ml.datasets.load("sleepstudy")
    a = ml.lmer("Reaction ~ factor(Days) + (1 | Subject)", s)
    b = ml.lmer("Reaction ~ as.factor(Days) + (1 | Subject)", s)
    c = ml.lmer("Reaction ~ C(Days) + (1 | Subject)", s)
    assert a.objective == b.objective == c.objective
    assert a.fixef.index.tolist() == c.fixef.index.tolist()
    assert len(a.fixef) == 10  # an intercept and nine days, not a slope
    np.testing.assert_array_equal(a.predict(s.head(5)), c.predict(s.head(5)))
    assert parse_formula("y ~ myfactor(x) + factor(z) + (factor(z) | g)").fixed == "myfactor(x) + C(z)"


def test_backticked_names_may_hold_formula_characters():
    import numpy as np
    import pandas as pd

    p = parse_formula("y ~ `weight (kg)` + x + (`x(1)` | `g|h`) + (1 | `a:b`) + (1 | `c/d`:e)")
    assert p.fixed == "`weight (kg)` + x"
    assert [(b.expr, b.group) for b in p.bars] == [("`x(1)`", ("g|h",)), ("1", ("a:b",)), ("1", ("c/d", "e"))]
    assert parse_formula("`y~1` ~ `x~2` + (1 | g)").fixed == "`x~2`"
    rng = np.random.default_rng(1)
    d = pd.DataFrame({"y": rng.normal(size=60), "weight (kg)": rng.normal(size=60),
                      "g|h": np.repeat(list("abcdef"), 10)})
    d["y"] += np.repeat(rng.normal(size=6), 10)
    fit = ml.lmer("y ~ `weight (kg)` + (1 | `g|h`)", d)
    ref = ml.lmer("y ~ w + (1 | g)", d.rename(columns={"weight (kg)": "w", "g|h": "g"}))
    assert fit.fixef.index.tolist() == ["(Intercept)", "weight (kg)"] and fit.ngroups == {"g|h": 6}
    assert fit.objective == pytest.approx(ref.objective, rel=1e-12)
