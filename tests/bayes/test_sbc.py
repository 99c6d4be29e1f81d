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
  predictor, center=False (the Intercept prior is on the raw intercept), by NUTS.

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
#: chi-square bins per model (20, 50 and 15 expected ranks per bin)
BINS = {"gaussian_nuts": 20, "gaussian_collapsed": 20, "logistic_nuts": 20}
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


CASES = {
    "gaussian_nuts": dict(simulate=simulate_gaussian, n_rep=N_REP_GAUSSIAN_NUTS, priors=GAUSSIAN_PRIORS,
                          fit=dict(sampler="nuts", target_accept=0.9)),
    "gaussian_collapsed": dict(simulate=simulate_gaussian, n_rep=N_REP_GAUSSIAN_COLLAPSED,
                               priors=GAUSSIAN_PRIORS, fit=dict(sampler="collapsed", target_accept=0.9)),
    "logistic_nuts": dict(simulate=simulate_logistic, n_rep=N_REP_LOGISTIC_NUTS, priors=LOGISTIC_PRIORS,
                          fit=dict(family="binomial", center=False, target_accept=0.9)),
}
#: parameters ranked per model, times two tests each
N_TESTS = 2 * (5 + 5 + 4)


@pytest.mark.parametrize("case", list(CASES))
def test_sbc_ranks_are_uniform(case):
    c = CASES[case]
    res = sbc("y ~ x + (1 | g)", c["simulate"], c["n_rep"], priors=c["priors"], L=L, draws=DRAWS,
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
