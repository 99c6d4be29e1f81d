"""Columns of awkward dtypes read as R would read the same data: an object column of numbers
is numbers (not a factor of its values), narrow and unsigned integers are widened before
formulaic's arithmetic (``I(a - b)`` of uint8 columns wrapped around), and group ids of
several types that write one label are refused (pandas would make two groups of them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml


@pytest.fixture(scope="module")
def sleep():
    return ml.datasets.load("sleepstudy")


@pytest.fixture(scope="module")
def ref(sleep):
    return ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)


def test_an_object_column_of_numbers_is_numeric(sleep, ref):
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep.assign(Days=sleep["Days"].astype(object)))
    assert fit.fixef.index.tolist() == ["(Intercept)", "Days"]
    assert fit.objective == pytest.approx(ref.objective, rel=1e-12)
    np.testing.assert_allclose(fit.predict(sleep.head(4).assign(Days=sleep["Days"].head(4).astype(object))),
                               ref.predict(sleep.head(4)), rtol=1e-12)


def test_an_object_response_of_numbers_with_missing_values(sleep):
    y = sleep["Reaction"].astype(object)
    y[[3, 5]] = None
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep.assign(Reaction=y))
    plain = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep.drop(index=[3, 5]))
    assert fit.nobs == 178 and fit.objective == pytest.approx(plain.objective, rel=1e-12)


def test_labels_in_an_object_column_stay_a_factor(sleep):
    fit = ml.lmer("Reaction ~ d + (1 | Subject)", sleep.assign(d=sleep["Days"].astype(str).astype(object)))
    assert len(fit.fixef) == 10


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int8", "uint64"])
def test_narrow_and_unsigned_integers_do_not_wrap(dtype):
    cb = ml.datasets.load("cbpp")
    ref = ml.lmer("I(incidence - size) ~ period + (1 | herd)", cb)
    fit = ml.lmer("I(incidence - size) ~ period + (1 | herd)", cb.astype({"incidence": dtype, "size": dtype}))
    np.testing.assert_allclose(fit.fixef.to_numpy(float), ref.fixef.to_numpy(float), rtol=1e-10)
    new = cb.head(5).astype({"incidence": dtype, "size": dtype})
    np.testing.assert_allclose(fit.predict(new), ref.predict(cb.head(5)), rtol=1e-10)


def test_group_ids_of_two_types_writing_one_label_are_refused(sleep):
    mixed = pd.Series([int(v) if i % 2 else str(v) for i, v in enumerate(sleep["Subject"])], dtype=object)
    with pytest.raises(ValueError, match=r"one id as values of different types .*astype\(str\)"):
        ml.lmer("Reaction ~ Days + (Days | Subject)", sleep.assign(Subject=mixed))
    ints = pd.Series([int(v) for v in sleep["Subject"]], dtype=object)
    assert ml.lmer("Reaction ~ Days + (Days | Subject)", sleep.assign(Subject=ints)).ngroups == {"Subject": 18}


def test_group_ids_are_not_converted(sleep):
    codes = sleep["Subject"].cat.codes.to_numpy()
    big = np.array([2 ** 60 + i for i in range(18)], dtype=np.uint64)[codes]
    fit = ml.lmer("Reaction ~ Days + (1 | G)", sleep.assign(G=big))
    assert fit.ngroups == {"G": 18}
    # (their labels are exact too: predictions find each id's effect)
    ref = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    np.testing.assert_allclose(fit.predict(sleep.assign(G=big).iloc[::20]), ref.predict(sleep.iloc[::20]), rtol=1e-8)
    ints = pd.Series([int(v) for v in sleep["Subject"]], dtype=object)
    fit = ml.lmer("Reaction ~ Days + (1 | S)", sleep.assign(S=ints))
    assert fit.ranef["S"].index.tolist()[:2] == [308, 309]
    exact = pd.Series([2 ** 60 + int(v) for v in sleep["Days"]], dtype=object)
    # (an object column of large integers in a term stays exact: int64, not float64)
    fit = ml.lmer("Reaction ~ I(D - 2**60) + (1 | Subject)", sleep.assign(D=exact))
    assert fit.fixef.iloc[1] == pytest.approx(ml.lmer("Reaction ~ Days + (1 | Subject)", sleep).fixef.iloc[1],
                                              rel=1e-10)
