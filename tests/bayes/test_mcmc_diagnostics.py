"""MCMC diagnostics against ArviZ (Stan's figures) and against coda/posterior in R."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from multilevel.bayes import diagnostics as dg

az = pytest.importorskip("arviz")


@pytest.fixture(autouse=True)
def _arviz_without_numba():
    """ArviZ 0.23's numba path of ``mcse(method="sd")`` calls float() on a
    one-element array, which numpy 2.4 refuses; its numpy path computes the same
    (Stan's) figures, so the reference is taken from that path."""
    flag = az.Numba.numba_flag
    az.Numba.disable_numba()
    yield
    if flag:
        az.Numba.enable_numba()

REFERENCE = Path(__file__).resolve().parents[1] / "reference"


# ------------------------------------------------------------------------------ data


def _ar1(rng, chains: int, draws: int, phi: float) -> np.ndarray:
    e = rng.normal(size=(chains, draws))
    x = np.empty_like(e)
    x[:, 0] = e[:, 0] / np.sqrt(1 - phi**2)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + e[:, t]
    return x


def _cases() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240521)
    return {
        "iid_4x1000": rng.normal(size=(4, 1000)),
        "ar1_0.9_4x1000": 3 + _ar1(rng, 4, 1000, 0.9),
        "ar1_0.99_2x500": _ar1(rng, 2, 500, 0.99),
        "ar1_neg_3x501": _ar1(rng, 3, 501, -0.6),
        "shifted_4x400": rng.normal(size=(4, 400)) + 0.3 * np.arange(4)[:, None],
        "skewed_4x250": np.exp(_ar1(rng, 4, 250, 0.5)),
        "poisson_4x300": rng.poisson(3, size=(4, 300)).astype(float),
        "short_2x9": rng.normal(size=(2, 9)),
    }


CASES = _cases()


@pytest.fixture(scope="module")
def coda_reference() -> dict:
    with open(REFERENCE / "coda_diagnostics.json", encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def chains(coda_reference) -> np.ndarray:
    """The chains of tests/reference/data/mcmc_chains.csv as (chains, draws, parameters)."""
    params = coda_reference["parameters"]
    with open(REFERENCE / "data" / "mcmc_chains.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    n_chains, n_draws = coda_reference["n_chains"], coda_reference["n_draws"]
    x = np.empty((n_chains, n_draws, len(params)))
    for row in rows:
        c, d = int(row["chain"]) - 1, int(row["draw"]) - 1
        x[c, d] = [float(row[p]) for p in params]
    return x


def _vector(mapping: dict, params: list[str]) -> np.ndarray:
    return np.array([np.nan if mapping[p] is None else mapping[p] for p in params], dtype=float)


# ------------------------------------------------------------ against ArviZ (Stan's figures)


@pytest.mark.parametrize("case", list(CASES))
def test_rank_diagnostics_match_arviz(case):
    x = CASES[case]
    ours = {
        "rhat": dg.rhat(x),
        "ess_bulk": dg.ess_bulk(x),
        "ess_tail": dg.ess_tail(x),
        "mcse_mean": dg.mcse_mean(x),
        "mcse_sd": dg.mcse_sd(x),
    }
    theirs = {
        "rhat": np.asarray(az.rhat(x)).item(),
        "ess_bulk": np.asarray(az.ess(x, method="bulk")).item(),
        "ess_tail": np.asarray(az.ess(x, method="tail")).item(),
        "mcse_mean": np.asarray(az.mcse(x, method="mean")).item(),
        "mcse_sd": np.asarray(az.mcse(x, method="sd")).item(),
    }
    for name in ours:
        assert isinstance(ours[name], float)
        np.testing.assert_allclose(ours[name], theirs[name], rtol=1e-8, atol=0, err_msg=name)


def test_vectorised_over_trailing_dimensions_matches_column_by_column():
    rng = np.random.default_rng(7)
    phis = (0.0, 0.5, 0.9, -0.4, 0.95, 0.2)
    x = np.stack([_ar1(rng, 3, 300, phi) for phi in phis], axis=2).reshape(3, 300, 2, 3)
    for fn in (dg.rhat, dg.ess_bulk, dg.ess_tail, dg.mcse_mean, dg.mcse_sd, dg.ess_coda,
               dg.psrf, dg.mode_estimate, lambda a: dg.autocorr(a, 3)):
        out = fn(x)
        assert out.shape == (2, 3)
        for i in range(2):
            for j in range(3):
                np.testing.assert_allclose(out[i, j], fn(x[:, :, i, j]), rtol=1e-12)
    for fn in (dg.hpd_interval, dg.eti_interval):
        out = fn(x, 0.8)
        assert out.shape == (2, 3, 2)
        np.testing.assert_allclose(out[1, 2], fn(x[:, :, 1, 2], 0.8), rtol=1e-12)


def test_arviz_bulk_on_many_columns():
    """The vectorised Geyer truncation agrees with ArviZ's loop on varied columns at once."""
    rng = np.random.default_rng(11)
    phis = np.linspace(-0.8, 0.98, 12)
    x = np.stack([_ar1(rng, 4, 200, phi) for phi in phis], axis=-1)
    np.testing.assert_allclose(dg.ess_bulk(x), [float(az.ess(x[..., j])) for j in range(12)],
                               rtol=1e-8)
    np.testing.assert_allclose(dg.rhat(x), [float(az.rhat(x[..., j])) for j in range(12)],
                               rtol=1e-8)


def test_single_chain_is_split_for_rhat():
    x = np.random.default_rng(3).normal(size=(1, 400))
    value = dg.rhat(x)
    assert np.isfinite(value) and abs(value - 1) < 0.05
    np.testing.assert_allclose(dg.ess_bulk(x), np.asarray(az.ess(x, method="bulk")).item(), rtol=1e-8)
    np.testing.assert_allclose(dg.rhat(x[0]), value)          # 1-D input is one chain


def test_degenerate_inputs():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 100, 3))
    x[0, 10, 1] = np.nan
    x[:, :, 2] = 4.0
    rh = dg.rhat(x)
    assert np.isfinite(rh[0]) and np.isnan(rh[1]) and np.isnan(rh[2])
    assert np.isnan(dg.ess_bulk(x)[1])
    assert np.isnan(dg.ess_tail(x)[1])
    assert dg.ess_coda(x)[2] == 0.0                             # coda: 0 for a constant
    assert np.isnan(dg.ess_coda(x)[1])
    for fn in (dg.rhat, dg.ess_bulk, dg.ess_tail, dg.mcse_mean, dg.mcse_sd):
        assert np.isnan(fn(rng.normal(size=(2, 3))))             # fewer than 4 draws
    assert np.isnan(dg.autocorr(rng.normal(size=(2, 10)), lag=10))
    with pytest.raises(ValueError, match="two chains"):
        dg.psrf(rng.normal(size=(1, 100)))
    with pytest.raises(ValueError, match="prob"):
        dg.hpd_interval(x[..., 0], prob=1.0)
    with pytest.raises(ValueError, match="prob"):
        dg.eti_interval(x[..., 0], prob=0.0)
    with pytest.raises(ValueError, match="lag"):
        dg.autocorr(x, lag=-1)
    with pytest.raises(ValueError):
        dg.rhat(np.float64(1.0))


def test_more_autocorrelation_means_fewer_effective_draws():
    rng = np.random.default_rng(9)
    ess = [dg.ess_bulk(_ar1(rng, 4, 1000, phi)) for phi in (0.0, 0.5, 0.9)]
    assert ess[0] > ess[1] > ess[2]
    coda = [dg.ess_coda(_ar1(rng, 4, 1000, phi)) for phi in (0.0, 0.5, 0.9)]
    assert coda[0] > coda[1] > coda[2]
    # For an AR(1), the effective size is about n (1 - phi) / (1 + phi).
    x = _ar1(rng, 4, 5000, 0.8)
    assert dg.ess_coda(x) == pytest.approx(20000 * 0.2 / 1.8, rel=0.15)


# ------------------------------------------------------------- against coda and posterior in R


def test_psrf_matches_coda(chains, coda_reference):
    params = coda_reference["parameters"]
    coda = coda_reference["coda"]
    np.testing.assert_allclose(dg.psrf(chains), _vector(coda["psrf"], params), rtol=1e-10)
    np.testing.assert_allclose(dg.psrf(chains, transform=True),
                               _vector(coda["psrf_transform"], params), rtol=1e-10)


def test_ess_coda_matches_effective_size(chains, coda_reference):
    params = coda_reference["parameters"]
    coda = coda_reference["coda"]
    np.testing.assert_allclose(dg.ess_coda(chains), _vector(coda["effective_size"], params),
                               rtol=1e-10)
    np.testing.assert_allclose(dg.ess_coda(chains[:1]),
                               _vector(coda["effective_size_chain1"], params), rtol=1e-10)


@pytest.mark.parametrize("lag", [1, 10, 50])
def test_autocorr_matches_coda(chains, coda_reference, lag):
    params = coda_reference["parameters"]
    ref = _vector(coda_reference["coda"]["autocorr"][str(lag)], params)
    np.testing.assert_allclose(dg.autocorr(chains, lag), ref, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("prob", ["0.95", "0.9", "0.5"])
def test_hpd_matches_coda(chains, coda_reference, prob):
    params = coda_reference["parameters"]
    ref = np.array([coda_reference["coda"]["hpd"][prob][p] for p in params])
    np.testing.assert_allclose(dg.hpd_interval(chains, float(prob)), ref, rtol=1e-12)


def test_mean_sd_and_discrete_mode_match_r(chains, coda_reference):
    params = coda_reference["parameters"]
    coda = coda_reference["coda"]
    pooled = chains.reshape(-1, len(params))
    np.testing.assert_allclose(pooled.mean(axis=0), _vector(coda["mean"], params), rtol=1e-12)
    np.testing.assert_allclose(pooled.std(axis=0, ddof=1), _vector(coda["sd"], params), rtol=1e-12)
    counts = chains[:, :, params.index("counts")]
    assert dg.mode_estimate(counts) == coda["mode_discrete"]["counts"]


def test_rank_diagnostics_match_posterior(chains, coda_reference):
    params = coda_reference["parameters"]
    post = coda_reference["posterior"]
    for ours, name in ((dg.rhat(chains), "rhat"), (dg.ess_bulk(chains), "ess_bulk"),
                       (dg.ess_tail(chains), "ess_tail"), (dg.mcse_mean(chains), "mcse_mean"),
                       (dg.mcse_sd(chains), "mcse_sd")):
        np.testing.assert_allclose(ours, _vector(post[name], params), rtol=1e-10, err_msg=name)
    eti = dg.eti_interval(chains, 0.95)
    np.testing.assert_allclose(eti[:, 0], _vector(post["q2.5"], params), rtol=1e-12)
    np.testing.assert_allclose(eti[:, 1], _vector(post["q97.5"], params), rtol=1e-12)


# ---------------------------------------------------------------------- intervals and modes


def test_hpd_is_shortest_and_eti_equal_tailed():
    rng = np.random.default_rng(2)
    x = rng.gamma(2.0, size=(4, 2000))
    lo, hi = dg.hpd_interval(x, 0.9)
    elo, ehi = dg.eti_interval(x, 0.9)
    assert hi - lo < ehi - elo                               # shorter than equal tails for a skew
    inside = np.mean((x >= lo) & (x <= hi))
    assert inside == pytest.approx(0.9, abs=1e-3)
    assert np.mean(x < elo) == pytest.approx(0.05, abs=1e-3)


def test_mode_estimate_shorth_and_discrete_ties():
    # Shortest half sample {2, 2.1, 2.2}, its mean 2.1.
    assert dg.mode_estimate(np.array([[1.0, 2.0, 2.1, 2.2, 5.0, 9.0]])) == pytest.approx(2.1)
    # Three equally short halves; modeest takes the middle position: mean(1, 2).
    assert dg.mode_estimate(np.array([[0.5, 1.5, 2.5, 3.5]])) == pytest.approx(2.0)
    # Integers: most frequent, the smaller of equally frequent values.
    assert dg.mode_estimate(np.array([[3, 1, 3, 1, 2]])) == 1.0
    rng = np.random.default_rng(4)
    assert dg.mode_estimate(rng.gamma(3.0, size=(4, 5000))) == pytest.approx(2.0, abs=0.25)
