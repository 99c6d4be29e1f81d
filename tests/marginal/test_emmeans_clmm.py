"""Marginal means of a cumulative link mixed model (ml.clmm) in emmeans' modes for ordinal
models, against emmeans 1.8 on ordinal's clmm (tests/reference/emmeans_clmm.R, the wine
data, logit and probit links): every column of every table, and the latent means' pairs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import multilevel as ml

REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "emmeans_clmm.json").read_text())
_FITS: dict = {}


def _fit(link: str):
    if link not in _FITS:
        _FITS[link] = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"), link=link)
    return _FITS[link]


def _compare(table, ref: dict):
    for col, values in ref.items():
        values = values if isinstance(values, list) else [values]  # (one row: written unboxed)
        ours = table[col].to_numpy()
        if col == "df":  # (Inf, written as null)
            assert np.all(np.isinf(ours.astype(float)))
        elif isinstance(values[0], str):
            assert [str(v) for v in ours] == values, col
        else:
            # clmm's optimum and this package's agree to about 1e-4 relative in the estimates
            np.testing.assert_allclose(ours.astype(float), values, rtol=2e-3, atol=2e-4, err_msg=col)


@pytest.mark.parametrize("case", REF["cases"], ids=lambda c: c["id"])
def test_tables_equal_emmeans(case):
    emm = ml.emmeans(_fit(case["link"]), case["specs"], mode=case["mode"])
    assert list(emm.columns) == list(case["table"])
    _compare(emm, case["table"])
    if "pairs" in case:
        _compare(emm.pairs(), case["pairs"])


def test_probabilities_sum_to_one_and_notes():
    fit = _fit("logit")
    prob = ml.emmeans(fit, "~ rating | temp", mode="prob")
    np.testing.assert_allclose(prob.groupby("temp", observed=True)["prob"].sum(), 1.0, rtol=1e-12)
    lp = ml.emmeans(fit, "temp", mode="linear.predictor")
    assert lp.notes[0] == "Results are averaged over the levels of: contact, cut"
    # the latent means' difference is the temperature coefficient
    assert ml.emmeans(fit, "temp").pairs()["estimate"].iloc[0] == pytest.approx(-fit.beta["tempwarm"], rel=1e-10)


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="probability"), "unknown mode"),
    (dict(type="response"), "choose the scale by mode="),
    (dict(df="kenward-roger"), "asymptotic"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ml.emmeans(_fit("logit"), "temp", **kwargs)


def test_mode_only_for_ordinal_models():
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    with pytest.raises(ValueError, match="mode= applies to cumulative link models"):
        ml.emmeans(fit, "Days", mode="prob")


def test_offset_enters_every_mode_and_linfct_names_the_coefficients():
    """An offset is part of the linear predictor ``x'beta + offset``: the cumulative probabilities are
    ``F(theta_j - x'beta - offset)`` at the offset's mean (emmeans reports these models' latent
    means as non-estimable and fails on the others, so the check is by definition)."""
    from scipy.special import expit

    w = ml.datasets.load("wine")
    w["x"] = ((np.arange(len(w)) * 37) % 11) / 10
    fit = ml.clmm("rating ~ temp + contact + offset(x) + (1 | judge)", w)
    th, b, off = fit.thresholds.to_numpy(), fit.beta.to_numpy(), w["x"].mean()
    cum = ml.emmeans(fit, "temp", mode="cum.prob")["cumprob"].to_numpy()
    want = [np.mean([expit(th - t * b[0] - c * b[1] - off) for c in (0, 1)]) for t in (0, 1)]
    np.testing.assert_allclose(cum, want, rtol=1e-10)
    latent = ml.emmeans(fit, "temp")["emmean"].to_numpy()
    np.testing.assert_allclose(latent, [t * b[0] + 0.5 * b[1] + off - th.mean() for t in (0, 1)], rtol=1e-10)
    lin = ml.emmeans(_fit("logit"), "temp").linfct
    assert list(lin.columns) == list(_fit("logit").vcov.index)


def test_means_of_a_clmm_with_a_covariate_far_from_zero():
    """(thresholds, location)'s covariance applied as G Jall H^-1 Jall'G' in the standardised
    parameters: at t + 1e9 a mean class's SE came out 1.53 for 0.18."""
    w = ml.datasets.load("wine")
    w["t"] = (w["temp"] == "warm") * 2.0 + np.arange(len(w)) % 3
    a = ml.clmm("rating ~ t + contact + (1 | judge)", w)
    b = ml.clmm("rating ~ t + contact + (1 | judge)", w.assign(t=w["t"] + 1e9))
    for mode in ("mean.class", "latent", "prob"):
        np.testing.assert_allclose(ml.emmeans(b, "contact", mode=mode)["SE"],
                                   ml.emmeans(a, "contact", mode=mode)["SE"], rtol=1e-4, err_msg=mode)
