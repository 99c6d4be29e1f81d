"""The profiled criterion and the conditional distribution of the random effects,
checked against a dense, textbook computation with the marginal covariance
V = Z Lambda Lambda' Z' + W^-1 (in units of sigma^2)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import multilevel as ml
from multilevel.design import build_design, theta_template
from multilevel.lmm import LmmObjective

CASES = {
    "sleepstudy": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", {}),
    "sleepstudy_uncorr": ("sleepstudy", "Reaction ~ Days + (Days || Subject)", {}),
    "pastes": ("pastes", "strength ~ 1 + (1 | batch/cask)", {}),
    "penicillin": ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)", {}),
    "anorexia": ("anorexia", "weight ~ time * treatment + (1 + time || girl)", {}),
    "weighted": ("sleepstudy", "Reaction ~ Days + (Days | Subject)", {"weights": "w", "offset": "o"}),
    "three_terms": ("penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample) + (1 | pair)", {}),
}


def load(name: str):
    df = ml.datasets.load(name)
    if name == "sleepstudy":
        df["w"] = 1.0 + df["Days"] % 3
        df["o"] = 2.0 * df["Days"]
    if name == "penicillin":
        df["pair"] = (df["plate"].cat.codes // 4).astype(str) + df["sample"].astype(str)
    return df


def dense_parts(design, theta):
    """Z (n x q) and Lambda (q x q) for the design's terms, in lme4's layout."""
    n = design.n
    blocks_z, blocks_l = [], []
    pos = 0
    for t in design.terms:
        rows, cols, _ = theta_template(t.k)
        T = np.zeros((t.k, t.k))
        T[rows, cols] = theta[pos:pos + len(rows)]
        pos += len(rows)
        Z = np.zeros((n, t.nlevels * t.k))
        for j in range(t.k):
            Z[np.arange(n), t.codes * t.k + j] = t.Z[:, j]
        blocks_z.append(Z)
        blocks_l.append(np.kron(np.eye(t.nlevels), T))
    q = sum(b.shape[1] for b in blocks_z)
    Lam = np.zeros((q, q))
    start = 0
    for b in blocks_l:
        Lam[start:start + b.shape[0], start:start + b.shape[0]] = b
        start += b.shape[0]
    return np.hstack(blocks_z), Lam


def dense_criterion(design, theta, reml):
    Z, Lam = dense_parts(design, theta)
    X, n, p = design.X, design.n, design.p
    y = design.y - (design.offset if design.offset is not None else 0.0)
    w = design.weights if design.weights is not None else np.ones(n)
    V = Z @ Lam @ Lam.T @ Z.T + np.diag(1.0 / w)
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    rss = r @ Vi @ r
    logdetV = np.linalg.slogdet(V)[1]
    if reml:
        m = n - p
        return logdetV + np.linalg.slogdet(XtViX)[1] + m * (1.0 + np.log(2 * np.pi * rss / m))
    return logdetV + n * (1.0 + np.log(2 * np.pi * rss / n))


def design_for(case):
    name, formula, kw = CASES[case]
    return build_design(formula, load(name), **kw)


@pytest.mark.parametrize("reml", [True, False], ids=["REML", "ML"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_criterion_equals_dense_likelihood(case, reml):
    design = design_for(case)
    f = LmmObjective.from_design(design, reml=reml)
    rng = np.random.default_rng(7)
    lo = f.layout.lower
    for _ in range(3):
        theta = rng.uniform(0.05, 2.0, lo.size)
        theta[np.isinf(lo)] = rng.uniform(-1.0, 1.0, int(np.isinf(lo).sum()))
        assert f(theta) == pytest.approx(dense_criterion(design, theta, reml), rel=1e-9)


@pytest.mark.parametrize("case", ["sleepstudy", "penicillin", "pastes", "weighted"])
def test_criterion_at_zero_variance(case):
    """theta = 0: a linear model, the criterion is the (restricted) OLS/WLS likelihood."""
    design = design_for(case)
    f = LmmObjective.from_design(design, reml=True)
    theta = np.zeros(f.layout.ntheta)
    assert f(theta) == pytest.approx(dense_criterion(design, theta, True), rel=1e-9)


@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_quantities_equal_dense_computation(case):
    name, formula, kw = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer(formula, load(name), **kw)
    design = fit.design
    theta = fit.theta.to_numpy()
    Z, Lam = dense_parts(design, theta)
    X, n, p = design.X, design.n, design.p
    y = design.y - (design.offset if design.offset is not None else 0.0)
    w = design.weights if design.weights is not None else np.ones(n)
    V = Z @ Lam @ Lam.T @ Z.T + np.diag(1.0 / w)
    Vi = np.linalg.inv(V)
    XtViX = X.T @ Vi @ X
    beta = np.linalg.solve(XtViX, X.T @ Vi @ y)
    r = y - X @ beta
    sigma2 = (r @ Vi @ r) / (n - p if fit.reml else n)
    np.testing.assert_allclose(fit.fixef, beta, rtol=1e-8, atol=1e-10)
    assert fit.sigma ** 2 == pytest.approx(sigma2, rel=1e-8)
    np.testing.assert_allclose(fit.vcov.to_numpy(), sigma2 * np.linalg.inv(XtViX), rtol=1e-7,
                               atol=1e-12)
    assert fit.objective == pytest.approx(dense_criterion(design, theta, fit.reml), rel=1e-10)

    # conditional modes and conditional covariances (given beta), lme4's ranef/postVar
    ZL = Z @ Lam
    A = ZL.T @ (w[:, None] * ZL) + np.eye(Lam.shape[0])
    u = np.linalg.solve(A, ZL.T @ (w * r))
    b = Lam @ u
    C = sigma2 * Lam @ np.linalg.inv(A) @ Lam.T
    pos = 0
    ranef_parts = {}
    for t in design.terms:
        size = t.nlevels * t.k
        bt = b[pos:pos + size].reshape(t.nlevels, t.k)
        Ct = C[pos:pos + size, pos:pos + size].reshape(t.nlevels, t.k, t.nlevels, t.k)
        idx = np.arange(t.nlevels)
        np.testing.assert_allclose(fit.ranef_cov[t.label], Ct[idx, :, idx, :], rtol=1e-7,
                                   atol=1e-10 * sigma2)
        ranef_parts.setdefault(t.group, []).append(bt)
        pos += size
    for g, parts in ranef_parts.items():
        np.testing.assert_allclose(fit.ranef[g].to_numpy(), np.hstack(parts), rtol=1e-7,
                                   atol=1e-8 * np.sqrt(sigma2))
    off = design.offset if design.offset is not None else 0.0
    np.testing.assert_allclose(fit.fitted.to_numpy(), X @ beta + Z @ b + off, rtol=1e-9)


def test_conditional_variances_from_the_pairs_equal_the_dense_product(monkeypatch):
    """A first term crossed with two others, its coupling sparse (more than DENSE_REST rest
    effects): the variances from the inverse of the dense block and each level's pairs equal
    the dense ``Lrr^-1 Wr L00^-1`` product's, for every term."""
    import pandas as pd

    from multilevel.design import build_design
    from multilevel.lmm import conditional_variances, objective

    r = np.random.default_rng(7)
    n = 2500
    d = pd.DataFrame({"u": r.integers(0, 400, n), "i": r.integers(0, 230, n), "j": r.integers(0, 40, n),
                      "x": r.standard_normal(n)})
    d["y"] = r.standard_normal(400)[d.u] + 0.5 * r.standard_normal(230)[d.i] + d.x + r.standard_normal(n)
    f = LmmObjective.from_design(build_design("y ~ x + (1 + x | u) + (1 | i) + (1 | j)", d))
    fac = f.factor(np.array([0.8, 0.1, 0.3, 0.5, 0.2]))
    dense = conditional_variances(fac, f.cp)
    monkeypatch.setattr(objective, "DENSE_COUPLING", 0)
    called, sparse_path = [], objective._sparse_coupling_variances
    monkeypatch.setattr(objective, "_sparse_coupling_variances", lambda *a: called.append(1) or sparse_path(*a))
    pairs = conditional_variances(fac, f.cp)
    assert called
    assert [v.shape for v in pairs] == [(d.u.nunique(), 2, 2), (d.i.nunique(), 1, 1), (40, 1, 1)]
    for a, b in zip(pairs, dense):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-14)
