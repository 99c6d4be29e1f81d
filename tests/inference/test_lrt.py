"""Likelihood-ratio model comparison against lme4's ``anova(m1, m2, ...)``
(tests/reference/lmertest.json, section "lrt"), and its bad-input checks."""

from __future__ import annotations

import json
import math
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

import multilevel as ml
from multilevel.inference.lrt import MIX_COLUMN, REFIT_NOTE, ModelComparison, anova

REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "lmertest.json")
                 .read_text(encoding="utf-8"))
LRT = {c["id"]: c for c in REF["lrt"]}


@lru_cache(maxsize=None)
def fit(formula: str, dataset: str, reml: bool) -> ml.LmerResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.lmer(formula, ml.datasets.load(dataset), reml=reml)


def close(a, b, rel):
    if b is None:
        return math.isnan(a)
    return a == pytest.approx(b, rel=rel, abs=1e-300)


@pytest.mark.parametrize("cid", list(LRT))
def test_table_matches_lme4(cid):
    case = LRT[cid]
    fits = [fit(m["formula"], m["dataset"], m["reml"]) for m in case["models"]]
    names = [m["name"] for m in case["models"]]
    # give the fits in reverse order: anova() sorts them by npar
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = anova(*fits[::-1], refit=case["refit"], names=names[::-1])
    tab = res.table
    assert list(tab.index) == case["row_order"]
    assert list(tab.columns) == case["columns"]
    assert (REFIT_NOTE in res.notes) == case["refitted_with_ml"]
    for name, row in case["table"].items():
        assert tab.loc[name, "npar"] == row["npar"]
        for col in ("AIC", "BIC", "logLik", "deviance"):
            assert close(tab.loc[name, col], row[col], 1e-6), (name, col)
        for col in ("Chisq", "Df", "Pr(>Chisq)"):
            assert close(tab.loc[name, col], row[col], 1e-4), (name, col)


def test_printout_reads_like_lme4():
    case = LRT["gcsemv_m1_m2_m3"]
    fits = [fit(m["formula"], m["dataset"], m["reml"]) for m in case["models"]]
    text = str(anova(*fits, names=["M1", "M2", "M3"]))
    lines = text.splitlines()
    assert lines[:5] == ["Data: gcsemv", "Models:", "M1: course ~ 1 + (1 | school)",
                         "M2: course ~ 1 + female + (1 | school)",
                         "M3: course ~ 1 + female + (1 + female | school)"]
    # R prints these rows (trailing blanks aside)
    assert lines[5] == "   npar   AIC   BIC  logLik deviance  Chisq Df Pr(>Chisq)"
    assert lines[6] == "M1    3 14111 14128 -7052.7    14105"
    assert lines[7] == "M2    4 14017 14039 -7004.7    14009 95.926  1  < 2.2e-16 ***"
    assert lines[8] == "M3    6 13983 14016 -6985.7    13971 37.986  2  5.641e-09 ***"
    assert lines[9:11] == ["---", "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"]
    html = anova(*fits)._repr_html_()
    assert "<table" in html and "course ~ 1 + female" in html


def test_default_names_and_sorting_note():
    small = fit("course ~ 1 + (1 | school)", "gcsemv", False)
    big = fit("course ~ 1 + female + (1 | school)", "gcsemv", False)
    res = anova(big, small)  # named m1 (big) and m2 (small) in the order given
    assert isinstance(res, ModelComparison)
    assert list(res.table.index) == ["m2", "m1"]
    assert res.notes == ("models sorted by number of parameters: m2, m1",)
    assert res.formulas == (small.formula, big.formula)
    assert math.isnan(res.table["Chisq"].iloc[0])
    assert res.table["npar"].tolist() == [3, 4]


def test_reml_same_fixed_effects_compared_as_they_are():
    """All REML with the same fixed effects: the REML criteria are compared
    (lme4's table with refit = FALSE), with refit True or False."""
    case = LRT["sleepstudy_int_vs_corr"]
    fits = [fit(m["formula"], m["dataset"], m["reml"]) for m in case["models"]]
    for refit in (True, False):
        res = anova(*fits, refit=refit)
        assert REFIT_NOTE not in res.notes
        assert res.table["deviance"].iloc[1] == pytest.approx(
            case["table"]["sleepstudy_corr"]["deviance"], rel=1e-6)


def test_reml_different_fixed_effects_without_refit_warns():
    a = fit("math ~ 1 + (1|schoolid)", "leebryk", True)
    b = fit("math ~ 1 + mses + sector + (1|schoolid)", "leebryk", True)
    with pytest.warns(UserWarning, match="not comparable"):
        res = anova(a, b, refit=False)
    assert res.table["deviance"].tolist() == [a.objective, b.objective]


def test_mixed_reml_and_ml_are_refitted():
    a = fit("course ~ 1 + (1 | school)", "gcsemv", True)
    b = fit("course ~ 1 + (1 | school)", "gcsemv", False)
    b2 = fit("course ~ 1 + female + (1 | school)", "gcsemv", False)
    res = anova(a, b2)
    assert REFIT_NOTE in res.notes
    assert res.table.loc["m1", "deviance"] == pytest.approx(b.deviance, rel=1e-8)
    with pytest.warns(UserWarning, match="some models fit with REML"):
        anova(a, b2, refit=False)


def test_boundary_mixture():
    case = LRT["sleepstudy_int_vs_corr"]
    fits = [fit(m["formula"], m["dataset"], m["reml"]) for m in case["models"]]
    tab = anova(*fits, boundary=True).table
    chisq, df = tab["Chisq"].iloc[1], tab["Df"].iloc[1]
    expect = 0.5 * scipy.stats.chi2.sf(chisq, df - 1) + 0.5 * scipy.stats.chi2.sf(chisq, df)
    assert tab[MIX_COLUMN].iloc[1] == pytest.approx(expect, rel=1e-12)
    assert tab[MIX_COLUMN].iloc[1] < tab["Pr(>Chisq)"].iloc[1]
    # one variance added (Df 1): half the chi-square(1) p-value
    m0 = fit("course ~ 1 + female + (1 | school)", "gcsemv", False)
    m1 = fit("course ~ 1 + female + (1 | school) + (1 | student)", "gcsemv", False)
    t1 = anova(m0, m1, boundary=True).table
    assert t1["Df"].iloc[1] == 1
    assert t1[MIX_COLUMN].iloc[1] == pytest.approx(0.5 * t1["Pr(>Chisq)"].iloc[1], rel=1e-12)


def test_boundary_mixture_not_for_fixed_effects_tests():
    m1 = fit("course ~ 1 + (1 | school)", "gcsemv", False)
    m2 = fit("course ~ 1 + female + (1 | school)", "gcsemv", False)
    res = anova(m1, m2, boundary=True)
    assert np.isnan(res.table[MIX_COLUMN]).all()
    assert any("mix" in n for n in res.notes)


def test_same_npar_gives_df_zero():
    m2 = fit("course ~ 1 + female + (1 | school)", "gcsemv", False)
    m2b = fit("course ~ 1 + (1 | school) + (1 | female)", "gcsemv", False)
    with pytest.warns(UserWarning, match="same number of parameters"):
        res = anova(m2, m2b)
    assert res.table["Df"].iloc[1] == 0
    assert res.table["Chisq"].iloc[1] == 0
    assert math.isnan(res.table["Pr(>Chisq)"].iloc[1])
    same = anova(m2, m2)
    assert any("same model" in n for n in same.notes)


# ----------------------------------------------------------------- bad input
def one_line(call, *words):
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert msg and "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_fewer_than_two_fits():
    m = fit("course ~ 1 + (1 | school)", "gcsemv", False)
    one_line(lambda: anova(m), "at least 2")
    one_line(lambda: anova(), "at least 2")


def test_not_a_fit():
    m = fit("course ~ 1 + (1 | school)", "gcsemv", False)
    one_line(lambda: anova(m, "m2"), "not a fitted model")


def test_different_number_of_observations():
    m = fit("course ~ 1 + (1 | school)", "gcsemv", False)
    w = fit("written ~ 1 + (1 | school)", "gcsemv", False)
    assert m.nobs != w.nobs
    one_line(lambda: anova(m, w), "same number of observations")


def test_different_response():
    data = ml.datasets.load("sleepstudy")
    data["Reaction2"] = data["Reaction"] * 2
    a = ml.lmer("Reaction ~ Days + (1 | Subject)", data, reml=False)
    b = ml.lmer("Reaction2 ~ Days + (Days | Subject)", data, reml=False)
    one_line(lambda: anova(a, b), "different response")


def test_different_rows():
    data = ml.datasets.load("sleepstudy")
    data["x1"] = data["Days"].astype(float)
    data["x2"] = data["Days"].astype(float)
    data.loc[0, "x1"] = np.nan
    data.loc[1, "x2"] = np.nan
    a = ml.lmer("Reaction ~ x1 + (1 | Subject)", data, reml=False)
    b = ml.lmer("Reaction ~ x2 + (x2 | Subject)", data, reml=False)
    assert a.nobs == b.nobs
    one_line(lambda: anova(a, b), "other rows")


def test_bad_names():
    m1 = fit("course ~ 1 + (1 | school)", "gcsemv", False)
    m2 = fit("course ~ 1 + female + (1 | school)", "gcsemv", False)
    one_line(lambda: anova(m1, m2, names=["a"]), "names")
    one_line(lambda: anova(m1, m2, names=["a", "a"]), "distinct")


def test_the_same_data_with_its_rows_in_another_order():
    """lme4 asks the models only for the same number of observations: the same rows shuffled (with
    their labels, or with the labels reset) were refused as "a different response"."""
    s = ml.datasets.load("sleepstudy")
    a = ml.lmer("Reaction ~ Days + (1 | Subject)", s, reml=False)
    for shuffled in (s.sample(frac=1, random_state=1), s.sample(frac=1, random_state=2).reset_index(drop=True)):
        b = ml.lmer("Reaction ~ Days + (Days | Subject)", shuffled, reml=False)
        assert ml.anova(a, b).table["Chisq"].iloc[1] == pytest.approx(42.1393, rel=1e-4)
    with pytest.raises(ValueError, match="different response"):
        ml.anova(a, ml.lmer("Reaction ~ Days + (1 | Subject)", s.assign(Reaction=s["Reaction"] + 1), reml=False))


def test_other_rows_or_a_shuffled_response_are_still_refused():
    s = ml.datasets.load("sleepstudy")
    a = ml.lmer("Reaction ~ Days + (1 | Subject)", s, reml=False)
    shuffled = s.assign(Reaction=s["Reaction"].sample(frac=1, random_state=3).to_numpy())
    with pytest.raises(ValueError, match="different response"):
        ml.anova(a, ml.lmer("Reaction ~ Days + (1 | Subject)", shuffled, reml=False))
    rng = np.random.default_rng(1)
    d = s.assign(y=(s["Reaction"] > 280).astype(int), x1=rng.normal(size=180), x2=rng.normal(size=180))
    ones = np.flatnonzero(d["y"] == 1)
    d.loc[d.index[ones[:2]], "x1"] = np.nan
    d.loc[d.index[ones[2:4]], "x2"] = np.nan
    g1 = ml.glmer("y ~ Days + x1 + (1 | Subject)", d, family="binomial")
    g2 = ml.glmer("y ~ Days + x2 + (1 | Subject)", d, family="binomial")
    with pytest.raises(ValueError, match="other rows"):
        ml.anova(g1, g2)
