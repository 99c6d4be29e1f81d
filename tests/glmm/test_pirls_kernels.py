"""The compiled PLS solves of a GLMM with one random-effects term (multilevel.linalg.kernels:
``one_term_pls``, with beta free or held fixed, and ``one_term_zu``) against the numpy paths they replace
(the blocked Cholesky factor and batched per-level solves), and the compiled cumulative-link
parts against :data:`multilevel.families.ordinal.CDFS`."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import multilevel as ml
from multilevel.design import build_design
from multilevel.linalg import ThetaLayout, kernels

P = importlib.import_module("multilevel.glmm.pirls")
O = importlib.import_module("multilevel.families.ordinal")

pytestmark = pytest.mark.skipif(not kernels.available(), reason="numba is not installed")


def _both(monkeypatch, call):
    """``call()`` with the compiled kernels, then with the numpy path."""
    fast = call()
    with monkeypatch.context() as m:
        m.setattr(kernels, "available", lambda: False)
        slow = call()
    return fast, slow


@pytest.mark.parametrize("formula, theta", [
    ("Reaction ~ Days + (Days | Subject)", [0.9, 0.2, 0.4]),
    ("Reaction ~ Days + (1 + Days + I(Days ** 2) | Subject)", [0.9, 0.1, 0.3, -0.2, 0.1, 0.05]),
    ("Reaction ~ Days + (1 | Subject)", [1.3]),
])
@pytest.mark.parametrize("fixed_beta", [True, False])
def test_one_term_solves_equal_the_numpy_path(monkeypatch, formula, theta, fixed_beta):
    d = build_design(formula, ml.datasets.load("sleepstudy"))
    rng = np.random.default_rng(3)
    w = rng.uniform(0.2, 2.0, d.n)
    z = d.y / 100 + rng.normal(size=d.n)
    layout = ThetaLayout.from_terms(d.terms)
    th = np.array(theta)
    fast, slow = _both(monkeypatch, lambda: P._solve(d, z, w, layout, th, fixed_beta))
    np.testing.assert_allclose(fast[0], slow[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fast[1], slow[1], rtol=1e-10, atol=1e-12)
    assert fast[2] == pytest.approx(slow[2], rel=1e-12)
    T = layout.factors(th)
    u = rng.normal(size=d.terms[0].q)
    zu_fast, zu_slow = _both(monkeypatch, lambda: P.random_part(d.terms, T, u))
    np.testing.assert_allclose(zu_fast, zu_slow, rtol=1e-12, atol=1e-12)


def test_a_block_that_is_not_positive_definite_is_refused(monkeypatch):
    """Weights of either sign (exact Newton steps) can make a level's block indefinite: both paths
    raise NotPositiveDefinite, which PIRLS answers with Fisher's weights."""
    from multilevel.linalg import NotPositiveDefinite

    d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    layout = ThetaLayout.from_terms(d.terms)
    w = np.full(d.n, -5.0)
    for available in (True, False):
        with monkeypatch.context() as m:
            m.setattr(kernels, "available", lambda a=available: a)
            with pytest.raises(NotPositiveDefinite):
                P._solve(d, d.y, w, layout, np.array([1.0, 0.0, 1.0]), True)


@pytest.mark.parametrize("link", ["logit", "probit", "cloglog"])
def test_cumulative_parts_equal_the_numpy_formulas(monkeypatch, link):
    fam = O.Cumulative("cumulative", None, cdf=link, gaps=(1.0, 0.5, 2.0))
    rng = np.random.default_rng(0)
    y = rng.integers(0, 5, 400)
    eta = rng.normal(0, 3, 400)
    eta[:7] = [40.0, -40.0, 800.0, -800.0, 0.0, 1e-9, np.nan]
    fast = fam._parts(y, eta)
    with monkeypatch.context() as m:
        m.setattr(O, "_parts_loop", None)
        slow = fam._parts(y, eta)
    for a, b in zip(fast, slow):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)   # (nan where eta is nan, in both)
    assert np.isnan(fast[0][6])
    # broadcast shapes (quadrature nodes: y (n, 1) against eta (n, K))
    y2, e2 = rng.integers(0, 5, (30, 1)), rng.normal(size=(30, 7))
    fast = fam._parts(y2, e2)
    with monkeypatch.context() as m:
        m.setattr(O, "_parts_loop", None)
        slow = fam._parts(y2, e2)
    for a, b in zip(fast, slow):
        assert a.shape == (30, 7)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def _pirls_cases():
    from multilevel.design.structure import structure

    cb = ml.datasets.load("cbpp").assign(prop=lambda d: d.incidence / d.size,
                                         per=lambda d: d.period.astype(str))
    sl = ml.datasets.load("sleepstudy").assign(y=lambda d: (d.Reaction > 300).astype(float))
    rng = np.random.default_rng(4)
    w0 = rng.uniform(0.5, 2.0, len(sl))
    w0[[3, 17, 40]] = 0.0  # rows of prior weight 0 are not data
    return [
        ("binomial", build_design("prop ~ period + (0 + per | herd)", cb), cb["size"].to_numpy(float),
         structure("hcs", 4), [0.9, 0.5, 1.6, 0.1, -0.5]),
        ("binomial", build_design("prop ~ period + (0 + per | herd)", cb), cb["size"].to_numpy(float),
         structure("ar1", 4), [0.8, 0.6]),
        ("binomial", build_design("y ~ Days + (Days | Subject)", sl), w0, None, [1.2, -0.1, 0.3]),
        ("binomial", build_design("y ~ Days + (1 | Subject)", sl), np.ones(len(sl)), None, [1.5]),
        ("poisson", build_design("incidence ~ period + offset(np.log(size)) + (1 | herd)", cb),
         np.ones(len(cb)), None, [0.7]),
    ]


@pytest.mark.parametrize("case", range(5))
@pytest.mark.parametrize("fixed_beta", [True, False])
@pytest.mark.parametrize("warm", [False, True])
def test_compiled_pirls_equals_the_numpy_loop(monkeypatch, case, fixed_beta, warm):
    """The whole PIRLS loop of a canonical binomial or Poisson model with one term in one
    compiled call (``one_term_pirls``): the same modes, deviance, log-determinant and
    iterations as the numpy loop, beta held fixed or estimated, from a cold or a warm start."""
    from multilevel.families import family

    name, d, pw, st, theta = _pirls_cases()[case]
    terms = d.terms if st is None else tuple(t.__class__(**{**t.__dict__, "structure": st}) for t in d.terms)
    d = d.__class__(**{**d.__dict__, "terms": terms})
    layout = ThetaLayout.from_terms(d.terms)
    fam = family(name)
    th = np.array(theta, dtype=float)
    beta = np.linalg.lstsq(d.X, fam.link.fun(np.clip(d.y, 0.05, 0.95) if name == "binomial" else d.y + 0.5),
                           rcond=None)[0] if fixed_beta else None
    u0 = np.random.default_rng(1).normal(scale=0.3, size=d.terms[0].q) if warm else None
    if warm and not fixed_beta:
        u0 = None  # (a warm start of u goes with beta held fixed, as the fit uses it)

    def run():
        return P.pirls(d, fam, th, layout, pw, beta=beta, u_start=u0, tol=1e-12)

    compiled = []
    with monkeypatch.context() as m:
        original = P._compiled_pirls
        m.setattr(P, "_compiled_pirls", lambda *a: compiled.append(original(*a)) or compiled[-1])
        fast = run()
    assert compiled and compiled[0] is fast
    with monkeypatch.context() as m:
        m.setattr(P, "_canonical_kind", lambda fam, plan: None)
        slow = run()
    assert fast.iterations == slow.iterations and fast.converged == slow.converged
    np.testing.assert_allclose(fast.u, slow.u, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fast.beta, slow.beta, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fast.eta, slow.eta, rtol=1e-9, atol=1e-10)
    assert fast.devres == pytest.approx(slow.devres, rel=1e-10)
    assert fast.logdet == pytest.approx(slow.logdet, rel=1e-9, abs=1e-10)
