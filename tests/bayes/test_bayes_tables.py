"""Summary tables (brms and runjags columns) and their printed layout, checked against R."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from multilevel.bayes import diagnostics as dg
from multilevel.bayes.tables import BRMS_FOOTER, format_brms, format_jags, summary_table

REFERENCE = Path(__file__).resolve().parents[1] / "reference"

BRMS_COLUMNS = ["Estimate", "Est.Error", "l-95% CI", "u-95% CI", "Rhat", "Bulk_ESS", "Tail_ESS"]
JAGS_COLUMNS = ["Lower95", "Median", "Upper95", "Mean", "SD", "Mode", "MCerr", "MC%ofSD",
                "SSeff", "AC.10", "psrf"]


@pytest.fixture(scope="module")
def draws() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(31)
    e = rng.normal(size=(4, 600))
    ar = np.empty_like(e)
    ar[:, 0] = e[:, 0]
    for t in range(1, 600):
        ar[:, t] = 0.8 * ar[:, t - 1] + e[:, t]
    return {
        "b_Intercept": 69.4 + 1.3 * rng.normal(size=(4, 600)),
        "b_female": 7.1 + ar,
        "sd_school__Intercept": rng.gamma(20.0, 0.5, size=(4, 600)),
        "sigma": 13 + 0.2 * rng.normal(size=(4, 600)),
    }


@pytest.fixture(scope="module")
def coda_reference() -> dict:
    with open(REFERENCE / "coda_diagnostics.json", encoding="utf-8") as fh:
        return json.load(fh)


@pytest.fixture(scope="module")
def reference_draws(coda_reference) -> dict[str, np.ndarray]:
    params = coda_reference["parameters"]
    with open(REFERENCE / "data" / "mcmc_chains.csv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = {p: np.empty((coda_reference["n_chains"], coda_reference["n_draws"])) for p in params}
    for row in rows:
        c, d = int(row["chain"]) - 1, int(row["draw"]) - 1
        for p in params:
            out[p][c, d] = float(row[p])
    return out


# ------------------------------------------------------------------------------- tables


def test_brms_columns_and_values(draws):
    tab = summary_table(draws)
    assert list(tab.columns) == BRMS_COLUMNS
    assert list(tab.index) == list(draws)
    x = draws["b_female"]
    row = tab.loc["b_female"]
    assert row["Estimate"] == pytest.approx(x.mean())
    assert row["Est.Error"] == pytest.approx(x.std(ddof=1))
    assert [row["l-95% CI"], row["u-95% CI"]] == pytest.approx(list(dg.eti_interval(x, 0.95)))
    assert row["Rhat"] == pytest.approx(dg.rhat(x), rel=1e-12)
    assert row["Bulk_ESS"] == pytest.approx(dg.ess_bulk(x), rel=1e-12)
    assert row["Tail_ESS"] == pytest.approx(dg.ess_tail(x), rel=1e-12)


def test_interval_columns_follow_prob_and_kind(draws):
    tab = summary_table(draws, prob=0.9, interval="hpd")
    assert list(tab.columns)[2:4] == ["l-90% CI", "u-90% CI"]
    lo_hi = dg.hpd_interval(draws["sigma"], 0.9)
    assert list(tab.loc["sigma", ["l-90% CI", "u-90% CI"]]) == list(lo_hi)
    assert list(summary_table(draws, prob=0.875).columns)[2] == "l-87.5% CI"
    jags = summary_table(draws, prob=0.9, style="jags", interval="eti", ac_lag=5)
    assert list(jags.columns) == ["Lower90", "Median", "Upper90", "Mean", "SD", "Mode", "MCerr",
                                  "MC%ofSD", "SSeff", "AC.5", "psrf"]
    assert jags.loc["sigma", "Lower90"] == dg.eti_interval(draws["sigma"], 0.9)[0]


def test_jags_columns_computed_as_runjags(draws):
    tab = summary_table(draws, style="jags")
    assert list(tab.columns) == JAGS_COLUMNS
    x = draws["b_female"]
    row = tab.loc["b_female"]
    sseff = dg.ess_coda(x)
    sd = x.std(ddof=1)
    assert [row["Lower95"], row["Upper95"]] == list(dg.hpd_interval(x, 0.95))
    assert row["Median"] == np.median(x)
    assert row["SD"] == pytest.approx(sd)
    assert row["Mode"] == pytest.approx(dg.mode_estimate(x), rel=1e-12)
    assert row["MCerr"] == pytest.approx(sd / np.sqrt(sseff))      # before SSeff is rounded
    assert row["MC%ofSD"] == round(100 / np.sqrt(sseff), 1)
    assert row["SSeff"] == round(sseff)
    assert row["AC.10"] == pytest.approx(dg.autocorr(x, 10), rel=1e-12)
    assert row["psrf"] == pytest.approx(dg.psrf(x), rel=1e-12)


def test_jags_table_matches_coda(reference_draws, coda_reference):
    coda = coda_reference["coda"]
    tab = summary_table(reference_draws, style="jags")
    for p in coda_reference["parameters"]:
        row = tab.loc[p]
        assert [row["Lower95"], row["Upper95"]] == pytest.approx(coda["hpd"]["0.95"][p], rel=1e-12)
        assert row["Mean"] == pytest.approx(coda["mean"][p], rel=1e-12)
        assert row["SD"] == pytest.approx(coda["sd"][p], rel=1e-12)
        assert row["SSeff"] == round(coda["effective_size"][p])
        assert row["MCerr"] == pytest.approx(coda["sd"][p] / np.sqrt(coda["effective_size"][p]),
                                             rel=1e-10)
        assert row["AC.10"] == pytest.approx(coda["autocorr"]["10"][p], rel=1e-10, abs=1e-14)
        assert row["psrf"] == pytest.approx(coda["psrf"][p], rel=1e-10)
    assert tab.loc["counts", "Mode"] == coda["mode_discrete"]["counts"]


def test_brms_table_matches_posterior(reference_draws, coda_reference):
    post = coda_reference["posterior"]
    tab = summary_table(reference_draws)
    for p in coda_reference["parameters"]:
        row = tab.loc[p]
        assert row["Rhat"] == pytest.approx(post["rhat"][p], rel=1e-10)
        assert row["Bulk_ESS"] == pytest.approx(post["ess_bulk"][p], rel=1e-10)
        assert row["Tail_ESS"] == pytest.approx(post["ess_tail"][p], rel=1e-10)
        assert row["l-95% CI"] == pytest.approx(post["q2.5"][p], rel=1e-12)
        assert row["u-95% CI"] == pytest.approx(post["q97.5"][p], rel=1e-12)


def test_array_parameters_give_one_row_per_element():
    rng = np.random.default_rng(1)
    tab = summary_table({"b": rng.normal(size=(2, 50, 2)), "Sigma": rng.normal(size=(2, 50, 2, 2))})
    assert list(tab.index) == ["b[1]", "b[2]", "Sigma[1,1]", "Sigma[1,2]", "Sigma[2,1]",
                               "Sigma[2,2]"]


def test_single_chain_has_no_psrf():
    tab = summary_table({"a": np.random.default_rng(2).normal(size=(1, 200))}, style="jags")
    assert np.isnan(tab.loc["a", "psrf"])
    assert np.isfinite(tab.loc["a", "SSeff"])


def test_bad_arguments():
    rng = np.random.default_rng(3)
    ok = {"a": rng.normal(size=(2, 50))}
    with pytest.raises(ValueError, match="style"):
        summary_table(ok, style="stan")
    with pytest.raises(ValueError, match="interval"):
        summary_table(ok, interval="hdi")
    with pytest.raises(ValueError, match="prob"):
        summary_table(ok, prob=95)
    with pytest.raises(ValueError, match="earlier parameters"):
        summary_table({"a": rng.normal(size=(2, 50)), "b": rng.normal(size=(2, 40))})
    with pytest.raises(ValueError, match="shape"):
        summary_table({"a": rng.normal(size=50)})
    with pytest.raises(ValueError, match="non-empty"):
        summary_table({})


# ----------------------------------------------------------------------- printed layout


def _layout_cases():
    with open(REFERENCE / "print_layout.json", encoding="utf-8") as fh:
        return json.load(fh)["cases"]


@pytest.mark.parametrize("case", _layout_cases(), ids=lambda c: f"{c['kind']}-{c['name']}")
def test_layout_matches_r(case):
    values = np.array([np.nan if v is None else v for v in case["values"]], dtype=float)
    df = pd.DataFrame(values.reshape(len(case["rownames"]), -1), index=case["rownames"],
                      columns=case["colnames"])
    expected = [line.rstrip() for line in case["lines"]]
    if case["kind"] == "jags":
        assert format_jags(df, digits=case["digits"]).split("\n") == expected
    else:
        text = format_brms([], [("Section:", df)], digits=case["digits"])
        assert text.split("\n") == ["Section:"] + expected + [""]


def test_format_brms_layout():
    sd = pd.DataFrame({c: [1.0] for c in BRMS_COLUMNS}, index=["sd(Intercept)"])
    fixed = pd.DataFrame({c: [2.0, 3.0] for c in BRMS_COLUMNS}, index=["Intercept", "x"])
    header = [" Family: gaussian", "  Links: mu = identity; sigma = identity"]
    text = format_brms(header,
                       [("Multilevel Hyperparameters:", None),
                        ("~g (Number of levels: 5)", sd),
                        ("Regression Coefficients:", fixed)],
                       BRMS_FOOTER)
    lines = text.split("\n")
    assert lines[:3] == header + [""]
    assert lines[3:5] == ["Multilevel Hyperparameters:", "~g (Number of levels: 5)"]
    assert lines[5].split() == BRMS_COLUMNS[:2] + ["l-95%", "CI", "u-95%", "CI"] + BRMS_COLUMNS[4:]
    assert lines[6].split() == ["sd(Intercept)", "1.00", "1.00", "1.00", "1.00", "1.00", "1", "1"]
    assert lines[7] == ""
    assert lines[8] == "Regression Coefficients:"
    assert lines[10].split()[:2] == ["Intercept", "2.00"]
    assert lines[12] == ""
    assert lines[13:] == BRMS_FOOTER
    assert all(line == line.rstrip() for line in lines)


def test_format_jags_of_a_summary_table_wraps_like_r(draws):
    tab = summary_table(draws, style="jags")
    lines = format_jags(tab).split("\n")
    assert all(len(line) < 80 for line in lines)
    # Two blocks, each a blank header line, the column names, then one row per parameter.
    assert lines[0] == "" and lines.index("", 1) == 1 + 1 + len(draws)
    assert lines[1].split() == JAGS_COLUMNS[: len(lines[1].split())]
    assert format_jags(tab, width=1000).split("\n")[1].split() == JAGS_COLUMNS
    assert [line.split()[0] for line in lines[2: 2 + len(draws)]] == list(draws)


@pytest.fixture(scope="module")
def small_posterior():
    import warnings

    import multilevel as ml

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
                        chains=2, draws=120, warmup=150, seed=4, progress=False)


def test_thin_ac_lag_and_names_of_the_jags_table(small_posterior):
    from multilevel.bayes.tables import summary_table

    post = small_posterior
    t = post.table(style="jags", thin=3, ac_lag=4, names={"b_Intercept": "g0", "sigma": "s"})
    assert list(t.index) == ["g0", "b_Days", "sd_Subject__Intercept", "s"]
    assert "AC.4" in t.columns and "AC.10" not in t.columns
    thinned = {k: np.asarray(v)[:, ::3] for k, v in post.draws.items()}
    ref = summary_table(thinned, style="jags", ac_lag=4)
    np.testing.assert_allclose(t.to_numpy(dtype=float), ref.to_numpy(dtype=float), equal_nan=True)
    text = post.summary(style="jags", thin=3, names={"b_Intercept": "g0"})
    assert "from 80 samples (chains = 2; warmup = 150; thin = 3)" in text.splitlines()[0]
    assert any(line.startswith("g0 ") for line in text.splitlines())
    assert list(post.table(names={"b_Days": "slope"}).index)[1] == "slope"  # brms style too


@pytest.mark.parametrize("kw, err, match", [
    ({"thin": 0}, ValueError, "thin must be from 1 to 119"),
    ({"thin": 1.5}, TypeError, "thin must be a whole number"),
    ({"ac_lag": 0, "style": "jags"}, ValueError, "ac_lag must be at least 1"),
    ({"ac_lag": 5}, ValueError, "style='jags'"),
    ({"names": {"b_nope": "x"}}, ValueError, "no parameter 'b_nope'; the parameters are b_Intercept"),
    ({"names": {"b_Days": "sigma"}}, ValueError, "'sigma' would name two parameters"),
    ({"names": {"b_Days": ""}}, ValueError, "non-empty strings"),
    ({"names": ["g0"]}, TypeError, "names must be a mapping"),
])
def test_bad_table_options_say_what_is_wrong(small_posterior, kw, err, match):
    with pytest.raises(err, match=match):
        small_posterior.table(**kw)


def test_names_and_thin_in_the_brms_summary_and_small_posteriors(small_posterior):
    text = small_posterior.summary(names={"b_Days": "slope", "sd_Subject__Intercept": "tau"}, thin=3)
    lines = text.splitlines()
    assert any(line.startswith("slope ") for line in lines) and any(line.startswith("tau ") for line in lines)
    assert "thin = 3;" in text and "total post-warmup draws = 80" in text
    # a lag beyond the draws kept is NaN, not an error (and brms style does not look at it)
    t = small_posterior.table(style="jags", thin=100, ac_lag=10)
    assert np.isnan(t["AC.10"]).all()
    assert len(small_posterior.table(thin=100)) == 4
