"""Rows of prior weight 0 are not data (as in R's lm): a fit with such rows equals the fit of the
others, whatever they hold, in what it reports after the fit too. Each case here had read those
rows: Kenward-Roger's n, the reference grid's means and offset, a dispformula's centre and scale
(x = 1e10 there had left its coefficient at its start), a GLMM's ICC/R2, a gamma fit's start and
its linear predictor's scale, and a Bayesian Poisson density (exp(1500) made it nan)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

ZERO = [3, 10, 20, 21, 40, 55]


@pytest.fixture(scope="module")
def data():
    r = np.random.default_rng(0)
    G, M = 12, 6
    g = np.repeat(np.arange(G), M)
    x = r.normal(size=G * M)
    d = pd.DataFrame(dict(g=g.astype(str), x=x, f=r.choice(list("abc"), G * M), w=r.uniform(0.5, 2, G * M),
                          y=1 + 0.5 * x + r.normal(size=G)[g] + r.normal(size=G * M)))
    eta = -0.3 + 0.6 * x + 0.7 * r.normal(size=G)[g]
    d["yb"] = r.binomial(1, 1 / (1 + np.exp(-eta))).astype(float)
    d["yc"] = r.poisson(np.exp(eta)).astype(float)
    d["yg"] = r.gamma(3, (2 + 0.3 * np.clip(x, -2, 2) + 0.2 * r.normal(size=G)[g]) / 3)
    zero = d.copy()
    zero.loc[ZERO, "w"] = 0.0
    return zero, d.drop(index=ZERO).reset_index(drop=True)


def _far(d, **cols):
    d = d.copy()
    for c, v in cols.items():
        d.loc[ZERO, c] = v
    return d


def test_kenward_roger_and_marginal_means(data):
    dz, dp = data
    dz = _far(dz, x=1e10).assign(off=lambda d: np.where(d.w > 0, 0.0, 1e6))
    a = ml.lmer("y ~ x + f + (1 | g)", dz, weights="w", offset="off")
    b = ml.lmer("y ~ x + f + (1 | g)", dp.assign(off=0.0), weights="w", offset="off")
    pd.testing.assert_frame_equal(a.coef_table("kenward-roger"), b.coef_table("kenward-roger"), rtol=1e-6)
    ea, eb = ml.emmeans(a, "f"), ml.emmeans(b, "f")
    np.testing.assert_allclose(ea["emmean"], eb["emmean"], rtol=1e-6)
    np.testing.assert_allclose(ea["df"], eb["df"], rtol=1e-6)


def test_dispformula(data):
    dz, dp = data
    a = ml.lmer("y ~ x + (1 | g)", _far(dz, x=1e10), weights="w", dispformula="~ x")
    b = ml.lmer("y ~ x + (1 | g)", dp, weights="w", dispformula="~ x")
    assert a.loglik == pytest.approx(b.loglik, rel=1e-9)
    np.testing.assert_allclose(a.dispersion.iloc[:, :2], b.dispersion.iloc[:, :2], rtol=1e-5)
    with pytest.raises(ValueError, match="0 in every row of positive weight"):
        ml.lmer("y ~ x + (1 | g)", _far(dz, f="z"), weights="w", dispformula="~ f")


def test_glmm_icc_r2_and_gamma_start(data):
    dz, dp = data
    a = ml.glmer("yb ~ x + (1 | g)", _far(dz, x=50.0), weights="w")
    b = ml.glmer("yb ~ x + (1 | g)", dp, weights="w")
    assert a.loglik == pytest.approx(b.loglik, rel=1e-9)
    for k, v in b.r2().items():
        assert a.r2()[k] == pytest.approx(v, rel=1e-5)
    ref = ml.glmer("yg ~ x + (1 | g)", dp, family="gamma", link="identity", weights="w")
    for bad in (1e3, 1e10):
        fit = ml.glmer("yg ~ x + (1 | g)", _far(dz, yg=bad), family="gamma", link="identity", weights="w")
        assert fit.loglik == pytest.approx(ref.loglik, rel=1e-9)
        np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-5)


def test_bayes_poisson_density(data):
    from multilevel.bayes.fit import prepare

    dz, dp = data
    a = prepare("yc ~ x + (1 | g)", _far(dz, x=1500.0), family="poisson", weights="w")
    b = prepare("yc ~ x + (1 | g)", dp, family="poisson", weights="w")
    prm = {"b": np.array([0.2, 0.5]), "sd": np.array([0.7]), "z0": np.zeros((12, 1))}
    assert float(a.log_joint(prm)) == pytest.approx(float(b.log_joint(prm)), rel=1e-12)


def test_clmm_category_held_only_by_rows_of_weight_zero():
    wine = ml.datasets.load("wine").assign(w=1.0)
    top = wine["rating"] == wine["rating"].max()
    wine.loc[top, "w"] = 0.0
    with pytest.raises(ValueError, match="in the rows of positive weight"):
        ml.clmm("rating ~ temp + contact + (1 | judge)", wine, weights="w")


@pytest.mark.parametrize("family", ["poisson", "negative_binomial"])
def test_zero_inflated_rows_of_weight_zero_are_not_data(family):
    # the zero-inflation probabilities are per row: the deviance of the rows of positive weight had
    # broadcast them against those rows alone (a ValueError from numpy)
    sal = ml.datasets.load("salamanders")
    w = np.ones(len(sal))
    w[::10] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ml.glmer("count ~ mined + (1 | site)", sal.assign(w=w), family=family, zi="~ mined", weights="w")
        kept = ml.glmer("count ~ mined + (1 | site)", sal[w > 0], family=family, zi="~ mined")
    assert m.loglik == pytest.approx(kept.loglik, abs=1e-6)
    np.testing.assert_allclose(m.fixef, kept.fixef, rtol=1e-6)
    np.testing.assert_allclose(m.family.zi_coefficients, kept.family.zi_coefficients, rtol=1e-6)
