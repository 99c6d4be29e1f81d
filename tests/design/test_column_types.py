"""Column types of pandas: strings, nullable integers and booleans, dates; weights as Series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

FORMULA = "Reaction ~ Days + (Days | Subject)"


@pytest.mark.parametrize("convert", [
    lambda s: s.assign(Subject=s.Subject.astype("string")),
    lambda s: s.assign(Subject=s.Subject.astype("string[pyarrow]")),
    lambda s: s.assign(Subject=s.Subject.astype(int).astype("Int64")),
    lambda s: s.assign(Days=s.Days.astype("Int64")),
    lambda s: s.assign(Reaction=s.Reaction.astype("Float64")),
], ids=["string", "string[pyarrow]", "Int64 group", "Int64 predictor", "Float64 response"])
def test_extension_types_fit_as_numpy_types(sleepstudy, convert):
    ref = ml.lmer(FORMULA, sleepstudy)
    assert ml.lmer(FORMULA, convert(sleepstudy)).objective == pytest.approx(ref.objective, rel=1e-12)


def test_nullable_missing_values_drop_rows(sleepstudy):
    d = sleepstudy.assign(Days=sleepstudy.Days.astype("Int64").mask(sleepstudy.index < 3))
    fit = ml.lmer(FORMULA, d)
    assert fit.n_dropped == 3
    assert fit.objective == pytest.approx(ml.lmer(FORMULA, sleepstudy.iloc[3:]).objective, rel=1e-12)


def test_nullable_boolean_predictor(sleepstudy):
    a = ml.lmer("Reaction ~ late + (1 | Subject)", sleepstudy.assign(late=(sleepstudy.Days > 4).astype("boolean")))
    b = ml.lmer("Reaction ~ late + (1 | Subject)", sleepstudy.assign(late=(sleepstudy.Days > 4).astype(float)))
    assert a.objective == pytest.approx(b.objective, rel=1e-12)


@pytest.mark.parametrize("value,word", [
    (lambda d: pd.Timestamp("2020-01-01") + pd.to_timedelta(d, unit="D"), "dates"),
    (lambda d: pd.to_timedelta(d, unit="D"), "durations"),
])
def test_dates_and_durations_get_a_clear_error(sleepstudy, value, word):
    with pytest.raises(ValueError, match=rf"column 'Days' holds {word}.*convert it"):
        ml.lmer(FORMULA, sleepstudy.assign(Days=value(sleepstudy.Days)))


def test_dates_are_fine_as_grouping_factors(sleepstudy):
    d = sleepstudy.assign(day=pd.Timestamp("2020-01-01") + pd.to_timedelta(sleepstudy.Days, unit="D"))
    with pytest.warns(UserWarning, match="singular"):
        assert ml.lmer("Reaction ~ Days + (1 | day)", d).ngroups == {"day": 10}


def test_weights_series_align_on_the_index(sleepstudy):
    w = np.arange(1.0, 181.0)
    shuffled = pd.Series(w, index=sleepstudy.index).sample(frac=1.0, random_state=1)
    a = ml.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy, weights=shuffled)
    b = ml.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy, weights=w)
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    off = pd.Series(np.ones(180), index=np.arange(1, 181))
    with pytest.raises(ValueError, match="offset= is a pandas Series whose index does not match"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy, offset=off)
    with pytest.raises(TypeError, match="weights= must be numeric"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy, weights="Subject")
    with pytest.raises(TypeError, match="offset= must be numbers"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", sleepstudy, offset=["a"] * 180)
