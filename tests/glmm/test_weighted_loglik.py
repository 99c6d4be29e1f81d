"""The log-likelihood of a 0/1 response with non-integer prior weights, against glmmTMB and R's
glm (tests/reference/weighted_bernoulli.R).

The fit maximises the weighted criterion ``sum w log p`` (Laplace); glmmTMB's logLik reports
that sum (and lme4's, where every weight is at least 0.5), and so does ours. It had been R's glm
convention, ``dbinom(round(w y), round(w), mu)``, which drops the rows of weight below 0.5 from
the log-likelihood while they count in the fit: -260.6 where lme4 and glmmTMB have -246.0 on a
data set of weights 0.5-2. ``ml.glm`` keeps R's glm convention, as its reference does.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

REF = Path(__file__).parents[1] / "reference"


@pytest.fixture(scope="module")
def weighted():
    return pd.read_csv(REF / "data" / "weighted_bernoulli.csv"), json.loads((REF / "weighted_bernoulli.json").read_text())


def test_glmer_loglik_is_glmmtmbs_weighted_sum(weighted):
    d, ref = weighted
    fit = ml.glmer("y ~ x + (1 | g)", d, family="binomial", weights="w")
    tmb = ref["glmmTMB"]
    assert fit.loglik == pytest.approx(tmb["loglik"], abs=1e-4)
    np.testing.assert_allclose(fit.theta, tmb["sd"], rtol=1e-3)
    np.testing.assert_allclose(fit.fixef[list(tmb["fixef"])], list(tmb["fixef"].values()), rtol=1e-3, atol=1e-4)
    # by definition: the weighted conditional log-likelihood at the fitted means, less half the
    # spherical modes' squared length and the log-determinant, which are positive
    mu = fit.fitted.to_numpy()
    y, w = d["y"].to_numpy(float), d["w"].to_numpy(float)
    cond = float(np.sum(w * (y * np.log(mu) + (1 - y) * np.log1p(-mu))))
    assert cond > fit.loglik > cond - 20


def test_integer_weights_equal_replicated_rows(weighted):
    d, _ = weighted
    d = d.assign(w=np.where(np.arange(len(d)) % 3 == 0, 2, 1))
    fit = ml.glmer("y ~ x + (1 | g)", d, family="binomial", weights="w")
    rep = d.loc[d.index.repeat(d["w"])].drop(columns="w")
    again = ml.glmer("y ~ x + (1 | g)", rep, family="binomial")
    assert fit.loglik == pytest.approx(again.loglik, abs=1e-6)


def test_glm_keeps_rs_convention(weighted):
    d, ref = weighted
    fit = ml.glm("y ~ x", d, family="binomial", weights="w")
    assert fit.loglik == pytest.approx(ref["glm"]["loglik"], abs=1e-6)


def test_anova_of_a_glmm_against_a_glm_takes_one_convention(weighted):
    """Beside a GLMM, a binomial glm's log-likelihood is taken as ``sum w log p`` too: with R's glm
    rounding the chi-square of a variance of zero had been 7.25 (p = 0.007) instead of 4.30."""
    d, _ = weighted
    d = d.assign(g2=np.random.default_rng(0).integers(0, 25, len(d)).astype(str))
    m1 = ml.glmer("y ~ x + (1 | g2)", d, family="binomial", weights="w")
    m0 = ml.glm("y ~ x", d, family="binomial", weights="w")
    mu = m0.fitted.to_numpy()
    y, w = d["y"].to_numpy(float), d["w"].to_numpy(float)
    ll0 = float(np.sum(w * (y * np.log(mu) + (1 - y) * np.log1p(-mu))))
    table = ml.anova(m1, m0)
    assert float(table.table["Chisq"].dropna().iloc[0]) == pytest.approx(2 * (m1.loglik - ll0), rel=1e-8)


def test_rows_of_weight_zero_outside_the_range_change_nothing():
    """A row of weight 0 whose gamma mean (identity link) is below 0 is not data: its working
    values and deviance are 0, by Laplace and by quadrature (it had moved the fit: -311.5 for
    -255.9, or made it fail)."""
    rng = np.random.default_rng(2)
    G, m = 20, 8
    g = np.repeat(np.arange(G), m).astype(str)
    x = rng.uniform(0, 3, G * m)
    mu = 2 + x + rng.normal(0, 0.6, G)[np.repeat(np.arange(G), m)]
    d = pd.DataFrame({"y": rng.gamma(5, mu / 5), "x": x, "g": g, "w": 1.0})
    d.loc[::m, "w"] = 0.0
    d.loc[::m, "x"] = -1.95
    for nagq in (1, 9):
        ref = ml.glmer("y ~ x + (1 | g)", d[d.w > 0], family="gamma", link="identity", nagq=nagq)
        fit = ml.glmer("y ~ x + (1 | g)", d, family="gamma", link="identity", nagq=nagq, weights="w")
        assert fit.loglik == pytest.approx(ref.loglik, rel=1e-8)
        np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-5)
