"""The simulation-based calibration helpers: thinning, ranks, uniformity tests, and the driver."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.bayes.sbc import SBCResult, sbc, sbc_ranks, thin, uniformity


def test_thin_keeps_first_last_and_even_spacing():
    x = np.arange(1000.0)
    t = thin(x, 100)
    assert t.shape == (100,) and t[0] == 0 and t[-1] == 999
    assert np.all(np.diff(t) >= 10) and np.all(np.diff(t) <= 11)
    assert thin(x.reshape(4, 250), 4).tolist() == [0.0, 333.0, 666.0, 999.0]
    with pytest.raises(ValueError, match="L must be between"):
        thin(np.arange(5.0), 6)


def test_ranks_count_draws_below_and_split_ties():
    assert sbc_ranks(0.0, np.array([-2.0, -1.0, 1.0])) == 2
    assert sbc_ranks(-5.0, np.zeros((2, 10))) == 0
    assert sbc_ranks(5.0, np.zeros((2, 10)), L=7) == 7
    # a discrete parameter: ties are split at random, so the rank stays uniform on 0..L
    ranks = [sbc_ranks(1.0, np.ones(9), seed=s) for s in range(2000)]
    assert set(ranks) == set(range(10))
    assert uniformity(ranks, L=9).loc["rank", "p_chi2"] > 1e-3
    with pytest.raises(KeyError, match="'b'"):
        sbc_ranks({"a": 0.0, "b": 1.0}, {"a": np.zeros(5)})


def test_uniformity_expected_counts_are_exact_for_uneven_bins():
    flat = np.tile(np.arange(10), 30)          # exactly uniform on 0..9
    t = uniformity({"r": flat}, L=9, bins=3)   # bins hold 3, 4 and 3 rank values
    assert t.loc["r", "chi2"] == pytest.approx(0.0)
    assert t.loc["r", "p_chi2"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="0..9"):
        uniformity([0, 10], L=9)
    with pytest.raises(ValueError, match="bins"):
        uniformity(flat, L=9, bins=11)


def test_uniformity_tests_hold_their_level_under_uniform_ranks():
    rng = np.random.default_rng(3)
    tables = [uniformity(rng.integers(0, 100, size=200), L=99, bins=20, seed=i) for i in range(400)]
    for col in ("p_chi2", "p_ks"):
        rate = np.mean([t[col].iloc[0] < 0.05 for t in tables])
        assert 0.02 < rate < 0.09, (col, rate)


def _conjugate_ranks(rng, post_sd_factor, n_rep=400, L=99):
    """SBC of mu ~ N(0, 1), y_i ~ N(mu, 1), i = 1..5, with exact or distorted posterior draws."""
    ranks = []
    for _ in range(n_rep):
        mu = rng.normal()
        y = rng.normal(mu, 1.0, size=5)
        prec = 1.0 + y.size
        draws = rng.normal(y.sum() / prec, post_sd_factor / np.sqrt(prec), size=L)
        ranks.append(sbc_ranks(mu, draws))
    return np.array(ranks)


def test_exact_posterior_passes_and_distorted_ones_fail():
    rng = np.random.default_rng(11)
    ok = uniformity(_conjugate_ranks(rng, 1.0), L=99).iloc[0]
    assert ok["p_chi2"] > 1e-3 and ok["p_ks"] > 1e-3
    narrow = uniformity(_conjugate_ranks(rng, 0.5), L=99).iloc[0]   # overconfident: a U of ranks
    wide = uniformity(_conjugate_ranks(rng, 2.0), L=99).iloc[0]     # underconfident: a hump
    assert narrow["p_chi2"] < 1e-6 and wide["p_chi2"] < 1e-6


def test_sbc_driver_runs_and_records():
    P = ml.priors
    g = np.repeat(np.arange(1, 6), 4)
    x = np.linspace(-1, 1, 20)

    def simulate(rng):
        b0, b1, tau, sigma = rng.normal(), rng.normal(), abs(rng.normal()), rng.exponential()
        u = rng.normal(0.0, tau, 5)
        y = b0 + b1 * x + u[g - 1] + rng.normal(0.0, sigma, 20)
        return ({"b_Intercept": b0, "sigma": sigma, "r_g[2,Intercept]": u[1]},
                pd.DataFrame({"y": y, "x": x, "g": g}))

    priors = {"Intercept": P.normal(0, 1), "b": P.normal(0, 1), "sd": P.half_normal(1), "sigma": P.exponential(1)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sbc("y ~ x + (1 | g)", simulate, 2, priors=priors, L=9, draws=60, warmup=60, seed=1, center=False)
        again = sbc("y ~ x + (1 | g)", simulate, 2, priors=priors, L=9, draws=60, warmup=60, seed=1,
                    center=False)
    assert isinstance(res, SBCResult)
    assert list(res.ranks.columns) == ["b_Intercept", "sigma", "r_g[2,Intercept]"]
    assert res.ranks.shape == (2, 3) and res.ranks.to_numpy().min() >= 0 and res.ranks.to_numpy().max() <= 9
    assert res.ess.shape == (2, 3) and res.draws.shape == (2,) and res.true_values.shape == (2, 3)
    pd.testing.assert_frame_equal(res.ranks, again.ranks)   # reproducible from the seed
    assert list(res.uniformity(bins=2).columns) == ["n", "bins", "chi2", "p_chi2", "ks", "p_ks", "median_ess"]
    with pytest.raises(TypeError, match="set by sbc"):
        sbc("y ~ x + (1 | g)", simulate, 1, priors=priors, chains=2)
    with pytest.raises(KeyError, match="no parameter 'b_z'"):
        sbc("y ~ x + (1 | g)", lambda rng: ({"b_z": 0.0}, simulate(rng)[1]), 1, priors=priors, L=9,
            draws=60, warmup=60, center=False)
