"""Invariances of the estimates: row order, group labels, affine changes of y."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import multilevel as ml

FEW = settings(max_examples=6, deadline=None, derandomize=True, database=None,
               suppress_health_check=[HealthCheck.function_scoped_fixture])

MODELS = {
    "sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", True),
    "gcsemv_m3": ("gcsemv", "course ~ 1 + female + (1 + female | school)", False),
    "pastes": ("pastes", "strength ~ 1 + (1 | batch/cask)", True),
    "penicillin": ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", True),
    "anorexia_uncorr": ("anorexia", "weight ~ 1 + time + rx1 + rx3 + (1 + time || girl)", False),
}

_DATA = {name: ml.datasets.load(name) for name, _, _ in MODELS.values()}
_BASE: dict[str, ml.LmerResult] = {}


def fit(data: pd.DataFrame, key: str) -> ml.LmerResult:
    _, formula, reml = MODELS[key]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.lmer(formula, data, reml=reml)


def base(key: str) -> ml.LmerResult:
    if key not in _BASE:
        _BASE[key] = fit(_DATA[MODELS[key][0]], key)
    return _BASE[key]


def assert_same_estimates(a, b, rtol=1e-5):
    assert a.objective == pytest.approx(b.objective, rel=1e-9)
    np.testing.assert_allclose(a.fixef, b.fixef, rtol=rtol, atol=1e-8)
    np.testing.assert_allclose(a.se, b.se, rtol=1e-4)
    np.testing.assert_allclose(a.theta, b.theta, atol=1e-4)
    assert a.sigma == pytest.approx(b.sigma, rel=1e-5)


keys = st.sampled_from(sorted(MODELS))


@FEW
@given(key=keys, seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(key, seed):
    data = _DATA[MODELS[key][0]]
    perm = np.random.default_rng(seed).permutation(len(data))
    shuffled = fit(data.iloc[perm], key)
    ref = base(key)
    assert_same_estimates(shuffled, ref)
    # fitted values follow their rows
    np.testing.assert_allclose(shuffled.fitted.loc[ref.fitted.index], ref.fitted, rtol=1e-5)
    for g, re in ref.ranef.items():
        np.testing.assert_allclose(shuffled.ranef[g].loc[re.index], re,
                                   atol=1e-4 * max(1.0, float(np.abs(re.to_numpy()).max())))


@FEW
@given(seed=st.integers(0, 2**32 - 1), prefix=st.sampled_from(["", "id_", "Z"]))
def test_relabelling_groups_does_not_matter(seed, prefix):
    """Renaming the subjects (any order, any labels) changes only the labels of ranef."""
    data = _DATA["sleepstudy"].copy()
    old = list(data["Subject"].cat.categories)
    new = [f"{prefix}{v}" for v in np.random.default_rng(seed).permutation(1000)[: len(old)]]
    mapping = dict(zip(old, new))
    data["Subject"] = data["Subject"].astype(str).map(mapping)
    relabelled = fit(data, "sleepstudy")
    ref = base("sleepstudy")
    assert_same_estimates(relabelled, ref)
    re_new = relabelled.ranef["Subject"]
    re_ref = ref.ranef["Subject"]
    assert set(re_new.index) == set(new)
    np.testing.assert_allclose(re_new.loc[[mapping[s] for s in re_ref.index]].to_numpy(),
                               re_ref.to_numpy(), atol=1e-3)


@FEW
@given(key=keys, c=st.sampled_from([1e-3, 0.37, 2.0, 55.5, 1e4]))
def test_rescaling_y(key, c):
    """y -> c y: fixed effects, sigma and standard errors scale by c, theta is unchanged."""
    name, formula, reml = MODELS[key]
    response = formula.split("~")[0].strip()
    data = _DATA[name].copy()
    data[response] = data[response] * c
    scaled = fit(data, key)
    ref = base(key)
    np.testing.assert_allclose(scaled.fixef, c * ref.fixef, rtol=1e-5)
    np.testing.assert_allclose(scaled.se, c * ref.se, rtol=1e-4)
    assert scaled.sigma == pytest.approx(c * ref.sigma, rel=1e-5)
    np.testing.assert_allclose(scaled.theta, ref.theta, atol=1e-4)
    # the criterion moves by 2 (n - p) log c (REML) or 2 n log c (ML)
    m = ref.nobs - (len(ref.fixef) if reml else 0)
    assert scaled.objective == pytest.approx(ref.objective + 2 * m * np.log(c), abs=1e-6 * ref.objective)


@FEW
@given(key=keys, shift=st.sampled_from([-1000.0, -3.5, 0.25, 42.0, 1e5]))
def test_shifting_y_changes_only_the_intercept(key, shift):
    name, formula, _ = MODELS[key]
    response = formula.split("~")[0].strip()
    data = _DATA[name].copy()
    data[response] = data[response] + shift
    shifted = fit(data, key)
    ref = base(key)
    expected = ref.fixef.copy()
    expected["(Intercept)"] += shift
    np.testing.assert_allclose(shifted.fixef, expected, rtol=1e-6,
                               atol=1e-5 * np.abs(ref.fixef.to_numpy()).max())
    assert shifted.objective == pytest.approx(ref.objective, rel=1e-8)
    assert shifted.sigma == pytest.approx(ref.sigma, rel=1e-5)
    np.testing.assert_allclose(shifted.theta, ref.theta, atol=1e-4)
    np.testing.assert_allclose(shifted.se, ref.se, rtol=1e-4)
    for g, re in ref.ranef.items():
        np.testing.assert_allclose(shifted.ranef[g], re,
                                   atol=1e-3 * max(1.0, float(np.abs(re.to_numpy()).max())))


def test_ml_and_reml_agree_on_fixed_effects_for_balanced_random_intercepts():
    """For a balanced one-way layout the intercept is the grand mean under ML and REML."""
    pe = ml.datasets.load("penicillin")
    a = ml.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", pe, reml=True)
    b = ml.lmer("diameter ~ 1 + (1 | plate) + (1 | sample)", pe, reml=False)
    mean = pe["diameter"].mean()
    assert a.fixef["(Intercept)"] == pytest.approx(mean, rel=1e-10)
    assert b.fixef["(Intercept)"] == pytest.approx(mean, rel=1e-10)


def test_optimizers_agree(sleepstudy):
    ref = ml.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    for opt in ("nelder-mead", "cobyqa"):
        other = ml.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy, optimizer=opt)
        assert other.optinfo.optimizer == opt
        assert other.objective == pytest.approx(ref.objective, rel=1e-7)
        np.testing.assert_allclose(other.fixef, ref.fixef, rtol=1e-4)


def test_start_values(sleepstudy):
    ref = ml.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    other = ml.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy, start=[0.5, 0.1, 0.3])
    assert other.objective == pytest.approx(ref.objective, rel=1e-8)
    np.testing.assert_allclose(other.optinfo.x0, [0.5, 0.1, 0.3])
