"""Bad input: every problem is a ValueError with a one-line message that names it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

FORMULA = "Reaction ~ Days + (Days | Subject)"


def one_line_error(exc_type, call, *words):
    """Run ``call``; check the error type, that the message is one line and names ``words``."""
    with pytest.raises(exc_type) as info:
        call()
    msg = str(info.value)
    assert msg, "empty error message"
    assert "\n" not in msg, msg
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    return msg


def test_unknown_column(sleepstudy):
    msg = one_line_error(ValueError, lambda: ml.lmer("Reaction ~ Dayz + (1 | Subject)", sleepstudy),
                         "unknown column", "'Dayz'")
    assert "did you mean 'Days'" in msg


def test_unknown_column_in_a_random_term(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer("Reaction ~ Days + (Dayz | Subject)", sleepstudy),
                   "unknown column", "'Dayz'")


def test_unknown_grouping_factor(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer("Reaction ~ Days + (1 | Subjct)", sleepstudy),
                   "'Subjct'", "grouping factor")


def test_syntax_error(sleepstudy):
    msg = one_line_error(ml.FormulaError, lambda: ml.lmer("Reaction ~ Days + (1 | Subject", sleepstudy),
                         "at character 19", "unmatched '('")
    assert isinstance(ml.FormulaError(msg), ValueError)


def test_missing_tilde(sleepstudy):
    one_line_error(ml.FormulaError, lambda: ml.lmer("Reaction Days + (1 | Subject)", sleepstudy), "'~'")


def test_response_missing_from_data(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer("RT ~ Days + (1 | Subject)", sleepstudy),
                   "unknown column", "'RT'")


def test_non_numeric_response(sleepstudy):
    sleepstudy["label"] = np.where(sleepstudy["Days"] > 4, "late", "early")
    one_line_error(ValueError, lambda: ml.lmer("label ~ Days + (1 | Subject)", sleepstudy),
                   "response", "'label'")


def test_factor_response(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer("Subject ~ Days + (1 | Days)", sleepstudy),
                   "response", "'Subject'", "numeric")


def test_constant_string_response(sleepstudy):
    sleepstudy["label"] = "x"
    one_line_error(ValueError, lambda: ml.lmer("label ~ Days + (1 | Subject)", sleepstudy),
                   "response", "'label'", "numeric")


def test_grouping_factor_with_one_level(sleepstudy):
    sleepstudy["site"] = "A"
    one_line_error(ValueError, lambda: ml.lmer("Reaction ~ Days + (1 | site)", sleepstudy),
                   "'site'", "1 level")


def test_grouping_factor_with_one_level_after_dropping_rows(sleepstudy):
    sleepstudy["site"] = np.where(sleepstudy.index < 170, "A", "B")
    sleepstudy.loc[170:, "Reaction"] = np.nan
    one_line_error(ValueError, lambda: ml.lmer("Reaction ~ Days + (1 | site)", sleepstudy),
                   "'site'", "1 level")


def test_grouping_factor_with_a_level_per_observation(sleepstudy):
    sleepstudy["obs"] = np.arange(len(sleepstudy))
    one_line_error(ValueError, lambda: ml.lmer("Reaction ~ Days + (1 | obs)", sleepstudy),
                   "'obs'", "180 levels for 180 observations")


def test_nested_factor_with_a_level_per_observation(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer("Reaction ~ Days + (1 | Subject/Days)", sleepstudy),
                   "'Days:Subject'", "180 levels")


def test_all_rows_missing(sleepstudy):
    sleepstudy["Reaction"] = np.nan
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy), "no complete rows")


def test_every_row_has_some_missing_value(sleepstudy):
    sleepstudy["x"] = np.nan
    sleepstudy.loc[::2, "x"] = 1.0
    sleepstudy.loc[::2, "Reaction"] = np.nan
    one_line_error(ValueError, lambda: ml.lmer("Reaction ~ Days + x + (1 | Subject)", sleepstudy),
                   "no complete rows")


def test_empty_data(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy.iloc[:0]), "no rows")


def test_constant_response(sleepstudy):
    sleepstudy["Reaction"] = 250.0
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy), "'Reaction'", "constant")


@pytest.mark.parametrize("column, value", [("Reaction", np.inf), ("Reaction", -np.inf),
                                           ("Days", np.inf)])
def test_infinite_values(sleepstudy, column, value):
    sleepstudy[column] = sleepstudy[column].astype(float)
    sleepstudy.loc[7, column] = value
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy), f"'{column}'", "infinite")


def test_infinite_weights_or_offset(sleepstudy):
    w = np.ones(180)
    w[0] = np.inf
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy, weights=w), "weights", "infinite")
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy, offset=w), "offset", "infinite")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_infinite_values_from_a_fixed_transformation(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer("Reaction ~ log(Days) + (1 | Subject)", sleepstudy),
                   "log(Days)", "infinite")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_infinite_values_from_a_random_transformation(sleepstudy):
    one_line_error(ValueError,
                   lambda: ml.lmer("Reaction ~ Days + (log(Days) | Subject)", sleepstudy),
                   "log(Days)", "infinite")


def test_no_random_term(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer("Reaction ~ Days", sleepstudy), "random-effects term")


@pytest.mark.parametrize("n", [10, 179, 181])
def test_wrong_length_weights(sleepstudy, n):
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy, weights=np.ones(n)),
                   "weights", f"length {n}", "180 rows")


def test_wrong_length_offset(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy, offset=np.zeros(3)),
                   "offset", "length 3")


def test_unknown_weights_column(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy, weights="ww"), "'ww'", "weights")


def test_negative_or_zero_weights(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy, weights=-np.ones(180)),
                   "weights", "non-negative")
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy, weights=np.zeros(180)),
                   "weights", "zero")


def test_unknown_optimizer(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy, optimizer="lbfgs"),
                   "'lbfgs'", "optimizer")


def test_wrong_length_start(sleepstudy):
    one_line_error(ValueError, lambda: ml.lmer(FORMULA, sleepstudy, start=[1.0, 0.0]),
                   "start", "3")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_formulaic_errors_are_one_line(sleepstudy):
    sleepstudy["D"] = sleepstudy["Days"].astype(float)
    one_line_error(ValueError, lambda: ml.lmer("Reaction ~ log(D - 1) + (1 | Subject)", sleepstudy),
                   "log(D - 1)")


def test_unknown_residual_type(sleepstudy):
    fit = ml.lmer(FORMULA, sleepstudy)
    one_line_error(ValueError, lambda: fit.residuals("studentized"), "'studentized'")


def test_new_levels_rejected_when_not_allowed(sleepstudy):
    fit = ml.lmer(FORMULA, sleepstudy)
    new = pd.DataFrame({"Days": [1, 2], "Subject": ["308", "999"]})
    one_line_error(ValueError, lambda: fit.predict(new, allow_new_levels=False),
                   "'Subject'", "1 row")


def test_newdata_missing_a_grouping_column(sleepstudy):
    fit = ml.lmer(FORMULA, sleepstudy)
    one_line_error(ValueError, lambda: fit.predict(pd.DataFrame({"Days": [1]})), "'Subject'")


def test_unknown_dataset():
    one_line_error(ValueError, lambda: ml.datasets.load("iris"), "'iris'", "sleepstudy")
