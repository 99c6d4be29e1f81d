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


def test_string_dtype_factors_are_coded_as_object_ones():
    """pandas' StringDtype columns are plain labels for formulaic too: a column of "10"/"20" had
    been read as a number (log-likelihood -282.4 for -216.3), other labels failed in numpy."""
    o = ml.datasets.load("orthodont")
    o["grp"] = np.where(o["Sex"] == "Male", "10", "20")
    a = ml.lmer("distance ~ age * grp + (0 + grp | Subject)", o)
    b = ml.lmer("distance ~ age * grp + (0 + grp | Subject)", o.assign(grp=o["grp"].astype("string")))
    assert b.loglik == pytest.approx(a.loglik, rel=1e-10) and list(b.fixef.index) == list(a.fixef.index)
    c = ml.lmer("distance ~ age * Sex + (1 | Subject)", o.assign(Sex=o["Sex"].astype(str).astype("string")))
    assert c.loglik == pytest.approx(ml.lmer("distance ~ age * Sex + (1 | Subject)", o).loglik, rel=1e-10)


def test_unused_categories_are_dropped_as_r_model_frames_do():
    """A category no row uses (added, or left by the rows dropped for missing values) is dropped:
    it had added a variance equal to sigma^2 to (1 + Machine | Worker), 4 parameters more."""
    m = ml.datasets.load("machines")
    a = ml.lmer("score ~ Machine + (1 + Machine | Worker)", m)
    b = ml.lmer("score ~ Machine + (1 + Machine | Worker)", m.assign(Machine=m["Machine"].cat.add_categories(["Z"])))
    assert b.aic == pytest.approx(a.aic, rel=1e-10) and len(b.varcorr_long) == len(a.varcorr_long)
    gone = m.copy()
    gone.loc[gone["Machine"] == "A", "score"] = np.nan
    c = ml.lmer("score ~ Machine + (1 + Machine | Worker)", gone)
    d = ml.lmer("score ~ Machine + (1 + Machine | Worker)",
                gone.dropna().assign(Machine=lambda x: x["Machine"].cat.remove_unused_categories()))
    assert c.aic == pytest.approx(d.aic, rel=1e-10) and list(c.fixef.index) == ["(Intercept)", "MachineC"]


def test_pyarrow_dictionary_labels_are_a_factor():
    """A categorical read from Parquet with the pyarrow backend (a dictionary of strings) is coded
    as labels: formulaic had tried to read 'Male' as a number."""
    pa = pytest.importorskip("pyarrow")
    o = ml.datasets.load("orthodont")
    arr = pa.array(o["Sex"].astype(str).tolist()).dictionary_encode()
    moved = o.assign(Sex=pd.Series(pd.arrays.ArrowExtensionArray(arr), index=o.index))
    a = ml.lmer("distance ~ age * Sex + (1 | Subject)", o)
    b = ml.lmer("distance ~ age * Sex + (1 | Subject)", moved)
    assert b.loglik == pytest.approx(a.loglik, rel=1e-10) and list(b.fixef.index) == list(a.fixef.index)
