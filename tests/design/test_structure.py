"""Covariance structures of random-effects terms: the formula syntax, the maps from
their parameters to the relative covariance factor, and the errors for terms
they cannot describe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import multilevel as ml
from multilevel.design import build_design
from multilevel.design.structure import structure
from multilevel.formula import FormulaError, parse_formula
from multilevel.linalg import ThetaLayout


@pytest.mark.parametrize("formula, texts, fixed", [
    ("y ~ x + cs(0 + t | g)", ["cs(0 + t | g)"], "x"),
    ("y ~ ar1(0 + t | g) + (1 | h)", ["ar1(0 + t | g)", "(1 | h)"], "1"),
    ("y ~ hcs(0 + t | g/h)", ["hcs(0 + t | g)", "hcs(0 + t | h:g)"], "1"),
    ("y ~ diag(1 + x | g)", ["(1 + x || g)"], "1"),          # glmmTMB's diag is lme4's ||
    ("y ~ x + us(1 + x | g)", ["(1 + x | g)"], "x"),        # and us a plain bar
])
def test_structure_syntax(formula, texts, fixed):
    parsed = parse_formula(formula)
    assert [b.text for b in parsed.bars] == texts
    assert parsed.fixed == fixed


@pytest.mark.parametrize("formula, message", [
    ("y ~ cs(0 + t || g)", "cs\\(\\) is a correlation structure: write cs\\(x \\| g\\), with one bar"),
    ("y ~ x ar1(0 + t | g)", "must be added with '\\+'"),
    ("y ~ cs(0 + t | g) + cs(0 + t | g)", "twice"),
    ("y ~ diag(1 | g | h)", "diag\\(\\) takes one random-effects term"),
])
def test_structure_syntax_errors(formula, message):
    with pytest.raises(FormulaError, match=message):
        parse_formula(formula)


@pytest.mark.parametrize("kind", ["cs", "hcs", "ar1"])
@given(k=st.integers(2, 6), a=st.floats(-4, 4), s=st.floats(0.05, 20))
@settings(max_examples=30, deadline=None)
def test_factor_gives_the_structure_and_back(kind, k, a, s):
    struct = structure(kind, k)
    phi = np.r_[np.linspace(s, 2 * s, struct.nsd), a]
    T = struct.factor(phi)
    assert np.allclose(T, np.tril(T))
    sd, rho = struct.sd_rho(phi)
    assert struct.rho_lower < rho < 1
    want = np.outer(sd, sd) * struct.correlation(rho)
    np.testing.assert_allclose(T @ T.T, want, rtol=1e-10, atol=1e-12 * s * s)
    np.testing.assert_allclose(struct.from_covariance(want), phi, rtol=1e-7, atol=1e-7)
    # a column scale d: the covariance D Sigma D is the structure's at the rescaled parameters
    d = np.full(k, 3.0) if struct.nsd == 1 else np.linspace(0.5, 2.0, k)
    T2 = struct.factor(struct.rescale(phi, d))
    np.testing.assert_allclose(T2 @ T2.T, np.outer(d, d) * want, rtol=1e-10, atol=1e-12 * s * s)


def test_ar1_correlation_and_layout():
    ar = structure("ar1", 4)
    T = ar.factor(np.array([1.0, -1.0]))  # rho = -1 / sqrt(2)
    R = T @ T.T
    rho = -1 / np.sqrt(2)
    assert R[3, 0] == pytest.approx(rho ** 3) and R[2, 1] == pytest.approx(rho)
    lay = ThetaLayout.from_k((4, 1), (ar, None))
    assert lay.ntheta == 3 and lay.offsets == (0, 2, 3)
    assert lay.lower.tolist() == [0.0, -np.inf, 0.0] and lay.diagonal.tolist() == [True, False, True]
    assert lay.structured and not lay.cholesky.structured and lay.cholesky.ntheta == 11
    chol = lay.to_cholesky(np.array([1.0, -1.0, 2.0]))
    assert chol.size == 11 and chol[-1] == 2.0
    np.testing.assert_allclose(lay.cholesky.factors(chol)[0], T)


@pytest.fixture(scope="module")
def occasions():
    d = ml.datasets.load("sleepstudy").copy()
    d["occ"] = pd.Categorical(d.Days, ordered=True)
    d["occ_text"] = d.Days.astype(str)
    d["occ_unordered"] = pd.Categorical(d.Days)
    d["week"] = np.where(d.Days < 5, d.Days, d.Days + 3)  # 0..4, 8..12: a gap
    return d


def test_design_terms_carry_the_structure(occasions):
    d = build_design("Reaction ~ Days + ar1(0 + occ | Subject) + cs(1 + Days | Subject)", occasions)
    kinds = [None if t.structure is None else (t.structure.kind, t.k, t.ntheta) for t in d.terms]
    assert kinds == [("ar1", 10, 2), ("cs", 2, 2)]
    assert d.terms[0].text.startswith("ar1(0 + occ0 + occ1") and d.ntheta == 4


@pytest.mark.parametrize("formula, message", [
    ("Reaction ~ ar1(0 + occ_text | Subject)", "needs the occasions in order, but occ_text has no order"),
    ("Reaction ~ ar1(0 + occ_unordered | Subject)", "is an unordered categorical: make it ordered"),
    ("Reaction ~ ar1(0 + C(week) | Subject)", "needs equally spaced occasions, but week takes the values 0, 1, 2, 3, 4, 8"),
    ("Reaction ~ ar1(1 + Days | Subject)", "needs one column per occasion"),
    ("Reaction ~ cs(1 | Subject)", "needs a term with at least 2 columns"),
    ("Reaction ~ hcs(0 + Days | Subject)", "needs a term with at least 2 columns"),
])
def test_bad_structured_terms(occasions, formula, message):
    with pytest.raises(ValueError, match=message):
        build_design(formula, occasions)


def test_numeric_occasions_in_order(occasions):
    d = build_design("Reaction ~ ar1(0 + C(Days) | Subject)", occasions)  # numeric, equally spaced
    assert d.terms[0].structure.kind == "ar1" and d.terms[0].k == 10
