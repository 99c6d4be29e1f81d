"""Multiplicity adjustments and the studentized range against R (tests/reference/emmeans.R)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from multilevel.marginal.adjust import _MaxAbsT, adjust_p, check_adjust, critical_value
from multilevel.marginal.tukey import ptukey, qtukey
from tests.conftest import TESTS

REF = json.loads((TESTS / "reference" / "emmeans.json").read_text())


def _floats(xs):
    return np.array([np.inf if x is None else x for x in xs], dtype=float)


def test_ptukey_matches_r():
    t = REF["tukey"]
    q, n, df = np.array(t["q"]), np.array(t["nmeans"]), _floats(t["df"])
    got = np.array([ptukey(a, b, c, lower_tail=False)[0] for a, b, c in zip(q, n, df)])
    np.testing.assert_allclose(got, t["upper"], rtol=1e-9, atol=1e-13)


def test_qtukey_matches_r():
    t = REF["tukey"]
    n, df = np.array(t["nmeans"]), _floats(t["df"])
    seen = {}
    for a, b, want in zip(n, df, t["qtukey95"]):
        if (a, b) not in seen:
            seen[a, b] = qtukey(0.95, a, b)
            # R's qtukey stops its secant iteration at 1e-4 in q
            assert abs(seen[a, b] - want) < 1e-4, (a, b)


def test_ptukey_agrees_with_scipy():
    # an independent integration: scipy's adaptive quadrature
    for q, k, df in [(3.5, 3, 20), (4.2, 5, 60), (2.0, 2, np.inf)]:
        assert abs(ptukey(q, k, df)[0] - stats.studentized_range.cdf(q, k, df)) < 1e-8


@pytest.mark.parametrize("method", ["bonferroni", "holm", "hochberg", "hommel", "BH", "BY", "fdr"])
def test_p_adjust_matches_r(method):
    ref = REF["p_adjust"]
    p = np.array(ref["p"])
    t = stats.norm.isf(p / 2)  # z statistics whose two-sided p values are p
    got = adjust_p(t, np.full(p.size, np.inf), method)
    np.testing.assert_allclose(got, ref[method], rtol=1e-10)


def test_mvt_of_pairs_is_the_studentized_range():
    # pairwise differences of k independent means of equal variance: max |t| / sqrt(2)
    # follows the studentized range exactly, a singular correlation of rank k - 1
    k, df = 4, 30.0
    C = np.array([[1, -1, 0, 0], [1, 0, -1, 0], [1, 0, 0, -1], [0, 1, -1, 0], [0, 1, 0, -1],
                  [0, 0, 1, -1]], dtype=float)
    V = C @ C.T
    for c in (1.5, 2.5, 3.2):
        exact = 1 - ptukey(c * np.sqrt(2), k, df, lower_tail=False)[0]
        assert abs(_MaxAbsT(V / 2, df).cdf(c) - exact) < 3e-5
    cv = critical_value(0.95, np.array([df]), "mvt", n=6, V=V)[0]
    assert abs(cv - qtukey(0.95, k, df) / np.sqrt(2)) < 1e-4


def test_mvt_of_independent_normals():
    V = np.eye(3)
    c = 2.1
    exact = (stats.norm.cdf(c) - stats.norm.cdf(-c)) ** 3
    assert abs(_MaxAbsT(V, np.inf).cdf(c) - exact) < 1e-5


def test_one_test_is_not_adjusted():
    p = adjust_p(np.array([2.0]), np.array([20.0]), "bonferroni")
    assert p[0] == pytest.approx(2 * stats.t.sf(2.0, 20))


def test_non_estimable_entries_count_in_the_family_as_emmeans_counts_them():
    p = adjust_p(np.array([2.0, np.nan, 1.0]), np.full(3, np.inf), "bonferroni")
    assert np.isnan(p[1])
    assert p[0] == pytest.approx(min(1, 3 * 2 * stats.norm.sf(2.0)))


def test_unknown_adjustment_is_named():
    with pytest.raises(ValueError, match="unknown adjust='tukeyy'; choose one of"):
        check_adjust("tukeyy")
    with pytest.raises(TypeError, match="adjust must be a string"):
        check_adjust(3)
