"""Simulation-based calibration of ml.bayes (Talts et al. 2018), marked slow.

For each model, parameters are drawn from the prior, data are simulated from
the model, the model is fitted with one chain and the rank of every true value
among L = 99 thinned posterior draws is recorded (see multilevel.bayes.sbc).
With a correct sampler the ranks are uniform on 0..L; each parameter's ranks
are tested with a chi-square test over bins and a KS test of the randomised
ranks, at a Bonferroni-corrected level that keeps the chance of a false alarm
over the whole file below ALPHA.

Models:

- gaussian random intercept, 10 groups x 5 observations, one predictor, with
  the default centring (the Intercept prior is on the intercept at the
  predictor's mean; b_Intercept is reported at x = 0), by NUTS and by the
  collapsed sampler;
- logistic random intercept, 20 groups x 10 Bernoulli observations, one
  predictor, center=False (the Intercept prior is on the raw intercept), by NUTS;
- negative binomial (NB2 and NB1), gamma (log link), beta and beta-binomial
  (logit) random intercepts, 15 groups x 8 observations, one predictor,
  center=False, by NUTS, with the family's shape, precision or dispersion
  among the ranked parameters;
- cumulative logit random intercept with 4 categories, 15 groups x 8
  observations, one predictor, center=False, by NUTS (the thresholds'
  normal prior restricted to ordered values is the law of sorted normal
  draws; a draw whose data miss a category is redrawn whole, parameters and
  data, which conditions the joint draw on the data and so keeps the ranks
  uniform);
- zero-inflated Poisson and NB2 random intercepts, 15 groups x 8
  observations, one predictor in each part (``zi = "~ z"``), center=False,
  by NUTS, with the zero-inflation coefficients among the ranked parameters;
- structured terms: ``ar1(0 + occ | g)`` over 4 ordered occasions, 10 groups
  x 4 occasions x 2 replicates, one predictor, by the collapsed sampler, and
  ``cs(0 + occ | g)`` the same way by NUTS, with the structure's SD and
  correlation (uniform prior on its interval) among the ranked parameters.

Run with ``python -m pytest -q -m slow tests/bayes/test_sbc.py -s`` to see the
rank statistics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.bayes.sbc import sbc

pytestmark = pytest.mark.slow

P = ml.priors

#: replications per model. A refit reuses the compiled sampler (0.5 to 1.3 s a replication on
#: 2 shared cores, sampler="collapsed" included).
N_REP_GAUSSIAN_NUTS = 400
N_REP_GAUSSIAN_COLLAPSED = 1000
N_REP_LOGISTIC_NUTS = 300
N_REP_FAMILY = 250
N_REP_STRUCTURED = 300
#: chi-square bins per model (20, 50, 15 and 25 expected ranks per bin)
BINS = {"gaussian_nuts": 20, "gaussian_collapsed": 20, "logistic_nuts": 20, "nb2_nuts": 10,
        "nb1_nuts": 10, "gamma_nuts": 10, "beta_nuts": 10, "betabinomial_nuts": 10, "cumulative_nuts": 10,
        "zip_nuts": 10, "zinb_nuts": 10, "ar1_collapsed": 15, "cs_nuts": 15}
#: posterior draws each rank is taken among
L = 99
#: draws and warmup per fit (one chain); fits whose ESS < L are refitted with up to 4x the draws
DRAWS, WARMUP = 1000, 500
SEED = 2018
#: family-wise false-alarm rate over every uniformity test in this file
ALPHA = 0.01

# ---------------------------------------------------------------- gaussian: 10 groups x 5
J_G, N_PER_G = 10, 5
G_G = np.repeat(np.arange(1, J_G + 1), N_PER_G)
X_G = np.random.default_rng(SEED).normal(1.0, 1.0, size=J_G * N_PER_G)  # mean far from 0: centring matters
GAUSSIAN_PRIORS = {"Intercept": P.normal(0, 1), "b": P.normal(0, 1), "sd": P.half_normal(1),
                   "sigma": P.exponential(1)}


def simulate_gaussian(rng):
    """Prior draw and data of the gaussian model as ml.bayes defines it (center=True)."""
    alpha = rng.normal(0.0, 1.0)          # Intercept ~ normal(0, 1), at the predictor's mean
    b_x = rng.normal(0.0, 1.0)            # b ~ normal(0, 1)
    tau = abs(rng.normal(0.0, 1.0))       # sd ~ half_normal(1)
    sigma = rng.exponential(1.0)          # sigma ~ exponential(rate 1)
    u = rng.normal(0.0, tau, size=J_G)
    b0 = alpha - b_x * X_G.mean()         # the raw intercept, which b_Intercept reports
    y = b0 + b_x * X_G + u[G_G - 1] + rng.normal(0.0, sigma, size=X_G.size)
    truth = {"b_Intercept": b0, "b_x": b_x, "sd_g__Intercept": tau, "sigma": sigma,
             "r_g[1,Intercept]": u[0]}
    return truth, pd.DataFrame({"y": y, "x": X_G, "g": G_G})


# ---------------------------------------------------------------- logistic: 20 groups x 10
J_B, N_PER_B = 20, 10
G_B = np.repeat(np.arange(1, J_B + 1), N_PER_B)
X_B = np.random.default_rng(SEED + 1).normal(0.5, 1.0, size=J_B * N_PER_B)
LOGISTIC_PRIORS = {"Intercept": P.normal(0, 1), "b": P.normal(0, 1), "sd": P.half_normal(1)}


def simulate_logistic(rng):
    """Prior draw and 0/1 data of the logistic model (center=False: the Intercept prior is on b0)."""
    b0 = rng.normal(0.0, 1.0)
    b_x = rng.normal(0.0, 1.0)
    tau = abs(rng.normal(0.0, 1.0))
    u = rng.normal(0.0, tau, size=J_B)
    eta = b0 + b_x * X_B + u[G_B - 1]
    y = (rng.uniform(size=eta.size) < 1.0 / (1.0 + np.exp(-eta))).astype(int)
    truth = {"b_Intercept": b0, "b_x": b_x, "sd_g__Intercept": tau, "r_g[1,Intercept]": u[0]}
    return truth, pd.DataFrame({"y": y, "x": X_B, "g": G_B})


# ------------------------------------------- NB2, gamma and beta: 15 groups x 8
J_F, N_PER_F = 15, 8
G_F = np.repeat(np.arange(1, J_F + 1), N_PER_F)
X_F = np.random.default_rng(SEED + 2).normal(0.5, 1.0, size=J_F * N_PER_F)
FAMILY_PRIORS = {"Intercept": P.normal(1, 0.5), "b": P.normal(0, 0.5), "sd": P.half_normal(0.5)}
AUX_PRIORS = {"negative_binomial": ("shape", 4.0, 1.0), "nbinom1": ("phi", 4.0, 4.0),
              "gamma": ("shape", 4.0, 0.5), "beta": ("phi", 5.0, 0.5), "betabinomial": ("phi", 5.0, 0.5)}
TRIALS_F = np.random.default_rng(SEED + 3).integers(2, 20, size=J_F * N_PER_F)


def _simulate_family(family, rng):
    """Prior draw and data of a log-link count or positive model, or a logit-link (beta-)binomial one."""
    name, shape, rate = AUX_PRIORS[family]
    b0 = rng.normal(0.0, 0.5) if family in ("beta", "betabinomial") else rng.normal(1.0, 0.5)
    b_x = rng.normal(0.0, 0.5)
    tau = abs(rng.normal(0.0, 0.5))
    aux = rng.gamma(shape, 1.0 / rate)
    u = rng.normal(0.0, tau, size=J_F)
    eta = b0 + b_x * X_F + u[G_F - 1]
    if family == "negative_binomial":
        mu = np.exp(eta)
        y = rng.poisson(rng.gamma(aux, mu / aux)).astype(float)
    elif family == "nbinom1":  # variance mu (1 + phi): shape mu / phi
        mu = np.exp(eta)
        y = rng.poisson(rng.gamma(mu / aux, aux)).astype(float)
    elif family == "betabinomial":
        mu = 1.0 / (1.0 + np.exp(-eta))
        k = rng.binomial(TRIALS_F, rng.beta(mu * aux, (1.0 - mu) * aux))
        truth = {"b_Intercept": b0, "b_x": b_x, "sd_g__Intercept": tau, name: aux, "r_g[1,Intercept]": u[0]}
        return truth, pd.DataFrame({"k": k, "f": TRIALS_F - k, "x": X_F, "g": G_F})
    elif family == "gamma":
        y = np.maximum(rng.gamma(aux, np.exp(eta) / aux), 1e-300)
    else:
        mu = 1.0 / (1.0 + np.exp(-eta))
        y = np.clip(rng.beta(mu * aux, (1.0 - mu) * aux), 1e-12, 1.0 - 1e-12)
    truth = {"b_Intercept": b0, "b_x": b_x, "sd_g__Intercept": tau, name: aux, "r_g[1,Intercept]": u[0]}
    return truth, pd.DataFrame({"y": y, "x": X_F, "g": G_F})


def _family_priors(family):
    name, shape, rate = AUX_PRIORS[family]
    pri = dict(FAMILY_PRIORS, **{name: P.gamma(shape, rate)})
    if family in ("beta", "betabinomial"):
        pri["Intercept"] = P.normal(0, 0.5)
    return pri


CUMULATIVE_PRIORS = {"Intercept": P.normal(0, 1.5), "b": P.normal(0, 1), "sd": P.half_normal(1)}
CATEGORIES = ["a", "b", "c", "d"]


def simulate_cumulative(rng):
    """Prior draw and ordered data of the cumulative logit model (center=False)."""
    while True:  # every draw again until the data have all the categories
        thr = np.sort(rng.normal(0.0, 1.5, size=3))
        b_x = rng.normal(0.0, 1.0)
        tau = abs(rng.normal(0.0, 1.0))
        u = rng.normal(0.0, tau, size=J_F)
        eta = b_x * X_F + u[G_F - 1]
        cum = 1.0 / (1.0 + np.exp(-(thr[None, :] - eta[:, None])))  # P(Y <= k)
        y = np.sum(rng.uniform(size=(eta.size, 1)) > cum, axis=1)
        if np.unique(y).size == len(CATEGORIES):
            break
    truth = {"b_Intercept[1]": thr[0], "b_Intercept[2]": thr[1], "b_Intercept[3]": thr[2], "b_x": b_x,
             "sd_g__Intercept": tau, "r_g[1,Intercept]": u[0]}
    rating = pd.Categorical.from_codes(y, categories=CATEGORIES, ordered=True)
    return truth, pd.DataFrame({"y": rating, "x": X_F, "g": G_F})


Z_F = np.random.default_rng(SEED + 4).normal(0.0, 1.0, size=J_F * N_PER_F)
ZI_PRIORS = {"Intercept_zi": P.normal(-1, 0.7), "b_zi": P.normal(0, 0.7)}


def simulate_zero_inflated(family, rng):
    """Prior draw and data of a zero-inflated Poisson or NB2 model (center=False)."""
    truth, data = _simulate_family("negative_binomial", rng) if family == "negative_binomial" else (None, None)
    if family == "poisson":
        b0, b_x, tau = rng.normal(1.0, 0.5), rng.normal(0.0, 0.5), abs(rng.normal(0.0, 0.5))
        u = rng.normal(0.0, tau, size=J_F)
        y = rng.poisson(np.exp(b0 + b_x * X_F + u[G_F - 1])).astype(float)
        truth = {"b_Intercept": b0, "b_x": b_x, "sd_g__Intercept": tau, "r_g[1,Intercept]": u[0]}
        data = pd.DataFrame({"y": y, "x": X_F, "g": G_F})
    g0, g1 = rng.normal(-1.0, 0.7), rng.normal(0.0, 0.7)
    structural = rng.uniform(size=X_F.size) < 1.0 / (1.0 + np.exp(-(g0 + g1 * Z_F)))
    data = data.assign(y=np.where(structural, 0.0, data["y"]), z=Z_F)
    return dict(truth, b_zi_Intercept=g0, b_zi_z=g1), data


# ------------------------------------------- structured terms: 10 groups x 4 occasions x 2
J_S, K_S, R_S = 10, 4, 2
G_S = np.repeat(np.arange(1, J_S + 1), K_S * R_S)
OCC_S = np.tile(np.repeat(np.arange(K_S), R_S), J_S)
X_S = np.random.default_rng(SEED + 5).normal(0.0, 1.0, size=J_S * K_S * R_S)
STRUCTURED_PRIORS = {"Intercept": P.normal(0, 1), "b": P.normal(0, 1), "sd": P.half_normal(1),
                     "sigma": P.exponential(1)}


def simulate_structured(kind, rng):
    """Prior draw and data of ``y ~ x + <kind>(0 + occ | g)`` (center=False)."""
    lo = -1.0 if kind == "ar1" else -1.0 / (K_S - 1)
    b0, b_x = rng.normal(0.0, 1.0), rng.normal(0.0, 1.0)
    tau, sigma, rho = abs(rng.normal(0.0, 1.0)), rng.exponential(1.0), rng.uniform(lo, 1.0)
    i = np.arange(K_S)
    R = rho ** np.abs(i[:, None] - i[None, :]) if kind == "ar1" else np.where(i[:, None] == i[None, :], 1.0, rho)
    u = rng.standard_normal((J_S, K_S)) @ (tau * np.linalg.cholesky(R)).T
    y = b0 + b_x * X_S + u[G_S - 1, OCC_S] + rng.normal(0.0, sigma, size=X_S.size)
    truth = {"b_Intercept": b0, "b_x": b_x, "sd_g": tau, "rho_g": rho, "sigma": sigma, "r_g[1,occ1]": u[0, 1]}
    occ = pd.Categorical(OCC_S, ordered=True)
    return truth, pd.DataFrame({"y": y, "x": X_S, "g": G_S, "occ": occ})


CASES = {
    "gaussian_nuts": dict(simulate=simulate_gaussian, n_rep=N_REP_GAUSSIAN_NUTS, priors=GAUSSIAN_PRIORS,
                          fit=dict(sampler="nuts", target_accept=0.9)),
    "gaussian_collapsed": dict(simulate=simulate_gaussian, n_rep=N_REP_GAUSSIAN_COLLAPSED,
                               priors=GAUSSIAN_PRIORS, fit=dict(sampler="collapsed", target_accept=0.9)),
    "logistic_nuts": dict(simulate=simulate_logistic, n_rep=N_REP_LOGISTIC_NUTS, priors=LOGISTIC_PRIORS,
                          fit=dict(family="binomial", center=False, target_accept=0.9)),
    **{f"{short}_nuts": dict(simulate=lambda rng, f=family: _simulate_family(f, rng), n_rep=N_REP_FAMILY,
                             priors=_family_priors(family),
                             fit=dict(family=family, center=False, target_accept=0.9),
                             **({"formula": "cbind(k, f) ~ x + (1 | g)"} if family == "betabinomial" else {}))
       for short, family in (("nb2", "negative_binomial"), ("nb1", "nbinom1"), ("gamma", "gamma"),
                             ("beta", "beta"), ("betabinomial", "betabinomial"))},
    "cumulative_nuts": dict(simulate=simulate_cumulative, n_rep=N_REP_FAMILY, priors=CUMULATIVE_PRIORS,
                            fit=dict(family="cumulative", center=False, target_accept=0.9)),
    "zip_nuts": dict(simulate=lambda rng: simulate_zero_inflated("poisson", rng), n_rep=N_REP_FAMILY,
                     priors={**FAMILY_PRIORS, **ZI_PRIORS},
                     fit=dict(family="poisson", zi="~ z", center=False, target_accept=0.9)),
    "zinb_nuts": dict(simulate=lambda rng: simulate_zero_inflated("negative_binomial", rng), n_rep=N_REP_FAMILY,
                      priors={**_family_priors("negative_binomial"), **ZI_PRIORS},
                      fit=dict(family="negative_binomial", zi="~ z", center=False, target_accept=0.9)),
    **{f"{kind}_{sampler}": dict(simulate=lambda rng, k=kind: simulate_structured(k, rng), n_rep=N_REP_STRUCTURED,
                                 priors=STRUCTURED_PRIORS, formula=f"y ~ x + {kind}(0 + occ | g)",
                                 fit=dict(sampler=sampler, center=False, target_accept=0.9))
       for kind, sampler in (("ar1", "collapsed"), ("cs", "nuts"))},
}
#: parameters ranked per model, times two tests each
N_TESTS = 2 * (5 + 5 + 4 + 5 * 5 + 6 + 6 + 7 + 6 + 6)


@pytest.mark.parametrize("case", list(CASES))
def test_sbc_ranks_are_uniform(case):
    c = CASES[case]
    res = sbc(c.get("formula", "y ~ x + (1 | g)"), c["simulate"], c["n_rep"], priors=c["priors"], L=L, draws=DRAWS,
              warmup=WARMUP, seed=SEED, **c["fit"])
    table = res.uniformity(bins=BINS[case], seed=SEED)
    level = ALPHA / N_TESTS
    refits = int(np.sum(res.draws > DRAWS))
    print(f"\nSBC {case}: {c['n_rep']} replications, L = {L}, {res.seconds:.0f} s; "
          f"{refits} refitted with more draws, {int(np.sum(res.ess.min(axis=1) < L))} still with ESS < L; "
          f"divergent transitions in {int(np.sum(res.divergences > 0))} fits; "
          f"Bonferroni level {level:.2g}")
    with pd.option_context("display.width", 120, "display.float_format", "{:.4g}".format):
        print(table.to_string())
    assert len(table) * 2 <= N_TESTS
    bad = table[(table["p_chi2"] < level) | (table["p_ks"] < level)]
    assert bad.empty, f"ranks not uniform for {list(bad.index)}:\n{bad.to_string()}"
