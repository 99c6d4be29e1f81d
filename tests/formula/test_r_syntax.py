"""Syntax that R users write: powers in calls, parenthesised bars, zerocorr, offsets, names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.formula import FormulaError, parse_formula


def test_power_inside_calls_is_a_power(sleepstudy):
    """``I(Days^2)`` on an integer column is Days squared (not Python's XOR)."""
    a = ml.lmer("Reaction ~ Days + I(Days^2) + (Days | Subject)", sleepstudy, reml=False)
    b = ml.lmer("Reaction ~ Days + I(Days**2) + (Days | Subject)", sleepstudy, reml=False)
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    assert a.fixef.index[-1] == "I(Days^2)"
    assert parse_formula("y ~ (a + b)^2 + log(x^2) + (1 | g)").fixed == "(a + b)^2 + log(x**2)"


def test_parenthesised_bars_as_lme4_prints_them(sleepstudy):
    ref = ml.lmer("Reaction ~ Days + (Days || Subject)", sleepstudy)
    for f in ["Reaction ~ Days + ((1 | Subject) + (0 + Days | Subject))",
              "Reaction ~ Days + zerocorr(Days | Subject)", "Reaction ~ Days + (((1 | Subject))) + (0 + Days | Subject)"]:
        assert ml.lmer(f, sleepstudy).objective == pytest.approx(ref.objective, rel=1e-12)
    with pytest.raises(FormulaError, match="zerocorr"):
        parse_formula("y ~ zerocorr(x) + (1 | g)")


def test_offset_terms_in_the_formula(sleepstudy):
    d = sleepstudy.assign(off=sleepstudy.Days * 2.0)
    a = ml.lmer("Reaction ~ Days + offset(2 * Days) + (1 | Subject)", d)
    b = ml.lmer("Reaction ~ Days + (1 | Subject)", d, offset="off")
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    np.testing.assert_allclose(a.fitted, b.fitted)
    new = pd.DataFrame({"Days": [1.0, 2.0], "Subject": ["308", "309"]})
    # applied again to new data, with no offset argument needed
    np.testing.assert_allclose(a.predict(new), b.predict(new.assign(off=[2.0, 4.0])))
    both = ml.lmer("Reaction ~ Days + offset(Days) + (1 | Subject)", d, offset=d.Days.to_numpy())
    assert both.objective == pytest.approx(a.objective, rel=1e-12)
    assert parse_formula("y ~ 0 + offset(log(n)) + x + (1 | g)").fixed == "0 + x"


def test_glmer_offset_term_and_dotted_cbind():
    cb = ml.datasets.load("cbpp")
    a = ml.glmer("incidence ~ period + offset(log(size)) + (1 | herd)", cb, family="poisson")
    cb = cb.assign(ls=np.log(cb["size"]))
    b = ml.glmer("incidence ~ period + (1 | herd)", cb, family="poisson", offset="ls")
    assert a.loglik == pytest.approx(b.loglik, rel=1e-10)
    np.testing.assert_allclose(a.predict(cb.head(5), type="response"),
                               b.predict(cb.head(5), type="response"), rtol=1e-10)
    dotted = cb.rename(columns={"incidence": "final.snail.density", "size": "n"})
    c = ml.glmer("cbind(final.snail.density, n - final.snail.density) ~ period + (1 | herd)", dotted)
    d = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb)
    assert c.loglik == pytest.approx(d.loglik, rel=1e-12)


def test_non_ascii_names(sleepstudy):
    d = sleepstudy.rename(columns={"Subject": "sujet_é", "Days": "durée"})
    fit = ml.lmer("Reaction ~ durée + (durée | sujet_é)", d)
    ref = ml.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    assert fit.objective == pytest.approx(ref.objective, rel=1e-12)
    assert fit.ngroups == {"sujet_é": 18}


def test_factor_response_is_read_as_r_reads_it():
    """``glmer(factor(y) ~ ...)``: the first of the sorted levels is failure (10 sorts after 2 as a
    number); ``clmm(factor(y) ~ ...)`` orders the levels; a linear model says it needs numbers."""
    v = ml.datasets.load("verbagg").iloc[:2000]
    ref = ml.glmer("r2 ~ Anger + (1 | id)", v, family="binomial")
    coded = v.assign(n=np.where(v.r2 == "Y", 10, 2), t=v.r2.astype(str))
    for f in ["factor(r2)", "as.factor(n)", "factor(t)"]:
        got = ml.glmer(f"{f} ~ Anger + (1 | id)", coded, family="binomial")
        assert got.loglik == pytest.approx(ref.loglik, rel=1e-10), f
        np.testing.assert_allclose(got.fixef, ref.fixef, rtol=1e-6)
    wine = ml.datasets.load("wine")
    ordered = ml.clmm("rating ~ temp + (1 | judge)", wine)
    as_int = ml.clmm("factor(r) ~ temp + (1 | judge)", wine.assign(r=wine.rating.astype(int)))
    assert as_int.loglik == pytest.approx(ordered.loglik, rel=1e-10)
    with pytest.raises(ValueError, match="only family='binomial'"):
        ml.glmer("factor(n) ~ Anger + (1 | id)", coded, family="poisson")
    with pytest.raises(ValueError, match=r"factor\(n\) .* needs a numeric response"):
        ml.lmer("factor(n) ~ Anger + (1 | id)", coded)
    with pytest.raises(ValueError, match="unknown column 'r22'.*did you mean 'r2'"):
        ml.glmer("factor(r22) ~ Anger + (1 | id)", coded, family="binomial")


def test_clmm_of_a_factor_response_saves_and_loads(tmp_path):
    wine = ml.datasets.load("wine")
    fit = ml.clmm("factor(r) ~ temp + (1 | judge)", wine.assign(r=wine.rating.astype(int)))
    assert fit.response == "r"
    back = ml.load(fit.save(tmp_path / "clmm.zip"))
    assert back.loglik == pytest.approx(fit.loglik, rel=1e-12)
    np.testing.assert_allclose(back.predict(wine.assign(r=1).iloc[:5]), fit.predict(wine.assign(r=1).iloc[:5]))
