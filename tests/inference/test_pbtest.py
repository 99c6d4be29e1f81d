"""Parametric bootstrap likelihood-ratio test against pbkrtest's PBmodcomp (tests/reference/pbmodcomp.R)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import multilevel as ml
from multilevel.inference.bootstrap import bootstrap
from multilevel.inference.pbtest import _LRT
from tests.conftest import TESTS

REF = json.loads((TESTS / "reference" / "pbmodcomp.json").read_text())


def _pastes():
    d = ml.datasets.load("pastes")
    return (ml.lmer("strength ~ 1 + (1 | sample)", d, reml=False),
            ml.lmer("strength ~ 1 + (1 | batch) + (1 | sample)", d, reml=False))


def _sleep4():
    d = ml.datasets.load("sleepstudy")
    d = d[d["Days"] < 4]
    return (ml.lmer("Reaction ~ Days + (1 | Subject)", d, reml=False),
            ml.lmer("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", d, reml=False))


@pytest.mark.parametrize("name, models", [("pastes", _pastes), ("sleep4", _sleep4)])
def test_observed_statistic_and_chi_square_p(name, models):
    small, large = models()
    t = ml.pbtest(small, large, nsim=50, seed=1, n_jobs=1)
    ref = REF[name]
    assert t.loc["LRT", "stat"] == pytest.approx(ref["stat"], rel=1e-5, abs=1e-6)
    assert t.loc["LRT", "df"] == ref["df"]
    assert t.loc["LRT", "p.value"] == pytest.approx(ref["p_lrt"], rel=1e-4)


def test_simulated_statistics_are_distributed_as_pbkrtests():
    small, large = _pastes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = bootstrap(small, nsim=1500, seed=3, fun=_LRT(large), n_jobs=2).draws.iloc[:, 0].to_numpy()
    r = REF["pastes"]
    n1, n2 = ref.size, r["nsim"]
    se_mean = np.sqrt(r["ref_sd"] ** 2 * (1 / n1 + 1 / n2))
    assert abs(ref.mean() - r["ref_mean"]) < 4 * se_mean
    for q, want in zip((0.9, 0.95), r["ref_quantiles"][1:]):
        # within Monte Carlo error: compare the share of draws below R's quantile with q
        share = np.mean(ref <= want)
        assert abs(share - q) < 4 * np.sqrt(q * (1 - q) * (1 / n1 + 1 / n2)), q


def test_bootstrap_p_value_definition():
    small, large = _pastes()
    t = ml.pbtest(small, large, nsim=200, seed=2, n_jobs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = bootstrap(small, nsim=200, seed=2, fun=_LRT(large), n_jobs=1).draws.iloc[:, 0].to_numpy()
    assert t.loc["PBtest", "p.value"] == pytest.approx((1 + np.sum(ref >= t.loc["LRT", "stat"])) / 201)
    assert t.attrs["nsim"] == 200 and "200 simulations" in repr(t)


def test_bad_input():
    small, large = _pastes()
    with pytest.raises(ValueError, match="give the smaller model first"):
        ml.pbtest(large, small, nsim=5)
    with pytest.raises(TypeError, match="small must be a fit"):
        ml.pbtest("m0", large)
    other = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"), reml=False)
    with pytest.raises(ValueError, match="same response and rows"):
        ml.pbtest(small, other, nsim=5)
