"""Generalized least squares (``ml.gls``) against nlme's gls with corCompSymm, corAR1,
corCAR1 and corSymm, with and without varIdent, ML and REML (tests/reference/gls.R):
log-likelihood at or above nlme's and within 1e-6 relative, coefficients, standard
errors, the residual SD of every row, the correlations within 1e-3; the normalized
residuals by their definition; invariance to the units of the data and to row order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import multilevel as ml

REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "gls.json").read_text())
CASES = {f"{m['id']}-{'reml' if m['reml'] else 'ml'}": m for m in REF["models"]}


def reference_data(name: str) -> pd.DataFrame:
    """The data sets of tests/reference/gls.R, built as it builds them."""
    if name in ("orthodont", "orth_gaps"):
        d = ml.datasets.load("orthodont")
        d["visit"] = ((d["age"] - 8) // 2 + 1).astype(int)
        d["visitf"] = pd.Categorical(d["visit"].astype(str), categories=["1", "2", "3", "4"], ordered=True)
        return d if name == "orthodont" else d[(np.arange(len(d)) + 1) % 5 != 0]
    d = ml.datasets.load("sleepstudy")
    d["dayf"] = pd.Categorical(d["Days"].astype(str), categories=[str(i) for i in range(10)], ordered=True)
    if name == "sleep_gap":
        d = d[d["Days"] != 3].copy()
        d["when"] = d["Days"] + 0.25 * (d["Days"] % 2)
    return d


@pytest.fixture(scope="module")
def fits():
    return {key: ml.gls(m["formula"], reference_data(m["dataset"]), residual=m["residual"],
                        dispformula=m["dispformula"] or None, reml=m["reml"]) for key, m in CASES.items()}


@pytest.mark.parametrize("key", sorted(CASES))
def test_against_nlme(fits, key):
    fit, m = fits[key], CASES[key]
    assert fit.loglik >= m["loglik"] - 1e-6 * abs(m["loglik"])
    assert fit.loglik == pytest.approx(m["loglik"], rel=1e-6)
    assert fit.df == m["df"]
    assert fit.aic == pytest.approx(m["aic"], rel=1e-6)
    assert fit.bic == pytest.approx(m["bic"], rel=1e-6)
    np.testing.assert_allclose(fit.fixef[list(m["coef"])], list(m["coef"].values()), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov)), list(m["se"].values()), rtol=1e-3)
    rc = fit.design.residual
    np.testing.assert_allclose(rc.lower() if rc.kind == "us" else [rc.rho], np.ravel(m["corr"]), atol=1e-3)
    # the residual SD of every row: sigma times its SD ratio (nlme's reference stratum may be another level)
    ours = fit.sigma * (1.0 if fit.design.dispersion is None else np.exp(fit.design.dispersion.log_sd_ratio()))
    if m["var_ratios"]:
        column = m["dispformula"].split("~")[1].strip()
        levels = fit.design.data[column].astype(str).to_numpy()[np.asarray(fit.design.rows)]
        theirs = m["sigma"] * np.array([m["var_ratios"].get(v, 1.0) for v in levels])
    else:
        theirs = m["sigma"]
    np.testing.assert_allclose(ours, theirs, rtol=1e-3)
    if not (m["var_ratios"] and m["dataset"] == "orth_gaps"):
        # (nlme's normalized residuals with varIdent and missing visits are not whitened by the rows'
        # own covariance; tested by their definition below)
        np.testing.assert_allclose(fit.residuals("normalized").to_numpy()[:6], m["normalized"], atol=1e-4)


@pytest.mark.parametrize("key", ["orth_gaps_us-reml", "orth_gaps_cs_hetero-ml", "sleep_gap_car1-ml"])
def test_normalized_residuals_by_definition(fits, key):
    """Per group: ``L^-1 r`` with ``L L'`` the covariance of the group's rows (their SDs and the
    correlation of their occasions) for the unstructured and AR(1) models; for compound
    symmetry nlme's own factor, whose cross-product is that covariance's inverse too."""
    fit = fits[key]
    d, rc = fit.design, fit.design.residual
    r = d.y - fit.fitted.to_numpy()
    sd = fit.sigma * (1.0 if d.dispersion is None else np.exp(d.dispersion.log_sd_ratio()))
    sd = np.broadcast_to(sd, r.shape)
    got = fit.residuals("normalized").to_numpy()
    for g in np.unique(rc.group):
        rows = np.flatnonzero(rc.group == g)
        if rc.kind == "us":
            rows = rows[np.argsort(rc.code[rows])]
            C = rc.correlation()[np.ix_(rc.code[rows], rc.code[rows])]
        elif rc.kind == "ar1":
            rows = rows[np.argsort(rc.time[rows])]
            C = rc.rho ** np.abs(rc.time[rows][:, None] - rc.time[rows][None, :])
        else:
            m = rows.size
            C = np.where(np.eye(m, dtype=bool), 1.0, rc.rho)
        V = C * np.outer(sd[rows], sd[rows])
        e = got[rows]
        if rc.kind == "cs":  # any factor F with F'F = V^-1: e'e = r'V^-1 r and the first row is the mean's
            assert e @ e == pytest.approx(r[rows] @ np.linalg.solve(V, r[rows]), rel=1e-8)
        else:
            np.testing.assert_allclose(e, np.linalg.solve(np.linalg.cholesky(V), r[rows]), rtol=1e-8, atol=1e-10)


@settings(max_examples=8, deadline=None)
@given(scale=st.sampled_from([1e-6, 1e-3, 1e3, 1e6]), shift=st.sampled_from([0.0, -5e3, 1e8]),
       seed=st.integers(0, 2**16))
def test_units_and_row_order_change_nothing(scale, shift, seed):
    """A predictor in other units, a response shifted by a large constant and shuffled rows give the
    same ML fit: log-likelihood, correlations, SD ratios and fitted values."""
    base = reference_data("orth_gaps")
    kw = dict(residual="us(visitf | Subject)", dispformula="~ visitf", reml=False)
    ref = ml.gls("distance ~ age * Sex", base, **kw)
    other = base.assign(age=base["age"] * scale, distance=base["distance"] + shift).sample(
        frac=1.0, random_state=seed)
    fit = ml.gls("distance ~ age * Sex", other, **kw)
    assert fit.loglik == pytest.approx(ref.loglik, rel=1e-7)
    np.testing.assert_allclose(fit.correlation.to_numpy(), ref.correlation.to_numpy(), atol=2e-5)
    # (the criterion is flat along the SD ratios: seed 287 with age in millionths stops 1.6e-8 from
    # the other fit's log-likelihood with ratios 2.3e-5 apart)
    np.testing.assert_allclose(fit.sd_ratios.to_numpy(), ref.sd_ratios.to_numpy(), rtol=5e-5)
    # (each fit stops within the optimizer's tolerance of the optimum: 1e-7 relative in the fitted values)
    np.testing.assert_allclose(fit.fitted.loc[base.index].to_numpy() - shift, ref.fitted.to_numpy(), rtol=1e-5)
    assert fit.fixef["age"] * scale == pytest.approx(ref.fixef["age"], rel=1e-5)


def test_structured_term_without_residual_variance_is_glmmtmbs():
    """``dispformula="~ 0"``: the structured term carries the residual covariance, as glmmTMB fits
    it (its log-likelihood in gls.json; glmmTMB's cs() is this package's hcs())."""
    checked = 0
    for m in REF["models"]:
        tmb = m.get("glmmtmb")
        if not tmb:
            continue
        formula = tmb["formula"].replace("+ cs(", "+ hcs(")
        fit = ml.lmer(formula, reference_data(m["dataset"]), dispformula="~ 0", reml=False)
        assert isinstance(fit, ml.regression.GlsResult)
        assert fit.loglik >= tmb["loglik"] - 1e-6 * abs(tmb["loglik"]), formula
        assert fit.loglik == pytest.approx(tmb["loglik"], rel=1e-6), formula
        assert "carries the residual covariance" in fit.summary()
        checked += 1
    assert checked == 5


def test_structured_term_without_residual_variance_by_reml_is_nlmes_gls():
    """The same models by REML equal nlme's gls fits of the same covariance (corSymm with
    varIdent for ``us``, corAR1 for ``ar1``, corCompSymm with varIdent for ``hcs``), the
    unbalanced repeated-measures design (Orthodont with every 5th row dropped) included:
    an MMRM."""
    by_id = {(m["id"], m["reml"]): m for m in REF["models"]}
    checked = 0
    for m in REF["models"]:
        tmb = m.get("glmmtmb")
        if not tmb:
            continue
        ref = by_id[(m["id"], True)]
        formula = tmb["formula"].replace("+ cs(", "+ hcs(")
        fit = ml.lmer(formula, reference_data(m["dataset"]), dispformula="~ 0", reml=True)
        assert fit.loglik == pytest.approx(ref["loglik"], rel=1e-7), formula
        np.testing.assert_allclose(fit.fixef.to_numpy(float), np.asarray(list(ref["coef"].values()) if isinstance(ref["coef"], dict) else ref["coef"], float),
                                   rtol=1e-4, atol=1e-6)
        checked += 1
    assert checked == 5


def test_term_without_residual_variance_beside_other_terms():
    """``cs(0 + visit | id)`` with ``dispformula="~ 0"`` next to a random intercept of a factor the
    subjects are nested in is lme with corCompSymm: equal to ml.lmer with residual=."""
    d = reference_data("orthodont")
    d["clinic"] = np.where(d["Subject"].astype(str).str[1:].astype(int) % 3 == 0, "a", "b")
    d["clinic"] = d["clinic"] + d["Sex"].astype(str).str[0]
    a = ml.lmer("distance ~ age + (1 | clinic) + ar1(0 + visitf | Subject)", d, dispformula="~ 0", reml=False)
    b = ml.lmer("distance ~ age + (1 | clinic)", d.assign(pos=d["visit"] - 1.0), residual="ar1(pos | Subject)",
                reml=False)
    assert isinstance(a, ml.LmerResult)
    assert a.loglik == pytest.approx(b.loglik, rel=1e-9)
    assert a.residual_correlation["rho"] == pytest.approx(b.residual_correlation["rho"], abs=1e-6)


def test_anova_between_structures():
    d = reference_data("orthodont")
    cs = ml.gls("distance ~ age * Sex", d, residual="cs(1 | Subject)", reml=False)
    us = ml.gls("distance ~ age * Sex", d, residual="us(visitf | Subject)", dispformula="~ visitf", reml=False)
    table = ml.anova(cs, us).table
    assert table["Chisq"].iloc[1] == pytest.approx(2 * (us.loglik - cs.loglik), rel=1e-9)
    assert table["Df"].iloc[1] == us.df - cs.df == 8
    # compound symmetry with a positive correlation is the random-intercept model
    ri = ml.lmer("distance ~ age * Sex + (1 | Subject)", d, reml=False)
    assert cs.loglik == pytest.approx(ri.loglik, rel=1e-8)


def test_predict_confint_and_refit():
    d = reference_data("orthodont")
    fit = ml.gls("distance ~ age + Sex", d, residual="ar1(visit | Subject)")
    new = pd.DataFrame({"age": [8, 14], "Sex": ["Male", "Female"]})
    X = np.array([[1.0, 8.0, 0.0], [1.0, 14.0, 1.0]])
    np.testing.assert_allclose(fit.predict(new).to_numpy(), X @ fit.fixef.to_numpy())
    ci = fit.confint(0.9)
    se = np.sqrt(np.diag(fit.vcov))
    from scipy import stats

    q = stats.t.ppf(0.95, fit.nobs - 3)
    np.testing.assert_allclose(ci.iloc[:, 1] - fit.fixef, q * se)
    ml_fit = fit.refit(reml=False)
    assert not ml_fit.reml and ml_fit.loglik > fit.loglik
    again = ml.gls("distance ~ age + Sex", d, residual="ar1(visit | Subject)", reml=False)
    assert ml_fit.loglik == pytest.approx(again.loglik, rel=1e-9)


def test_offsets_enter_as_fixed_terms():
    """An offset (argument or ``offset(...)``) is a term with coefficient 1: the fit equals the
    fit of the response less the offset, with the offset added back to the fitted values."""
    d = reference_data("orthodont").assign(base=lambda x: 0.5 * x["age"] + 3.0)
    a = ml.gls("distance ~ Sex", d, residual="ar1(visit | Subject)", offset="base")
    b = ml.gls("distance ~ Sex + offset(base)", d, residual="ar1(visit | Subject)")
    c = ml.gls("y ~ Sex", d.assign(y=d["distance"] - d["base"]), residual="ar1(visit | Subject)")
    for fit in (a, b):
        assert fit.loglik == pytest.approx(c.loglik, rel=1e-10)
        np.testing.assert_allclose(fit.fitted - d["base"], c.fitted, rtol=1e-8)
        np.testing.assert_allclose(fit.residuals("normalized"), c.residuals("normalized"), atol=1e-8)
    np.testing.assert_allclose(a.predict(d.head(3)), a.fitted.head(3))
    tmb = ml.lmer("distance ~ Sex + offset(base) + ar1(0 + visitf | Subject)", d, dispformula="~ 0")
    assert tmb.loglik == pytest.approx(c.loglik, rel=1e-8)


def test_occasion_terms_written_other_ways():
    d = reference_data("orthodont")
    ref = ml.lmer("distance ~ age + us(0 + visitf | Subject)", d, dispformula="~ 0", reml=False)
    for formula in ["distance ~ age + us(visitf - 1 | Subject)", "distance ~ age + us(visitf-1 | Subject)",
                    "distance ~ age + (0 + visitf | Subject)", "distance ~ age + us(0 + C(visit) | Subject)"]:
        fit = ml.lmer(formula, d, dispformula="~ 0", reml=False)
        assert fit.loglik == pytest.approx(ref.loglik, rel=1e-7), formula


@pytest.mark.parametrize("call, message", [
    (lambda d: ml.gls("distance ~ age", d.assign(w=np.r_[0.0, np.ones(len(d) - 1)]), weights="w",
                      dispformula="~ Sex"), "prior weight of 0"),
    (lambda d: ml.gls("distance ~ age", d[d["Subject"] == "M01"], residual="us(visitf | Subject)"),
     "too few|needs several groups"),
    (lambda d: ml.gls("distance ~ age", d.iloc[:8], residual="us(visitf | Subject)"), "too few"),
    (lambda d: ml.gls("distance ~ age", d.assign(v=np.where(d["visit"] > 2, d["visit"].astype(str), d["visit"])
                                                 .astype(object)), residual="us(v | Subject)"), "mixes numbers and text"),
    (lambda d: ml.lmer("distance ~ age + diag(0 + visitf | Sex)", d, dispformula="~ 0"), "same occasion"),
    (lambda d: ml.gls("distance ~ age + (1 | Subject)", d), "gls fits fixed effects only"),
    (lambda d: ml.gls("distance ~ age", d, residual="us(Sex | Subject)"), "same occasion"),
    (lambda d: ml.gls("distance ~ age", d, residual="us(1 | Subject)"), "name the occasion variable"),
    (lambda d: ml.gls("distance ~ age", d, residual="toep(visit | Subject)"), r"write 'ar1\(time \| g\)'"),
    (lambda d: ml.lmer("distance ~ age + (1 | Subject)", d, residual="us(visitf | Subject)"),
     "available without random effects, in ml.gls"),
    (lambda d: ml.lmer("distance ~ age + (1 | Subject)", d, dispformula="~ 0"),
     "needs exactly one term that carries the residual covariance"),
    (lambda d: ml.lmer("distance ~ age + us(0 + visitf | Subject) + (1 | Sex)", d, dispformula="~ 0"),
     "not available yet"),
    (lambda d: ml.lmer("distance ~ age + cs(0 + visitf | Subject)", d, dispformula="~ 0", residual="cs(1 | Subject)"),
     "residual= cannot be given too"),
    (lambda d: ml.lmer("distance ~ age + (0 + age | Subject)", d, dispformula="~ 0"), "one indicator column"),
    (lambda d: ml.lmer("distance ~ age + cs(0 + visitf | Sex)", d, dispformula="~ 0"), "same occasion"),
    (lambda d: ml.lmer("distance ~ age + cs(0 + visitf | Subject)", d, dispformula="~ 0", start=[1.0, 0.0]),
     "leave start out"),
])
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call(reference_data("orthodont"))


ANOVA = json.loads((Path(__file__).resolve().parents[1] / "reference" / "gls_anova.json").read_text())


@pytest.mark.parametrize("case", ANOVA["cases"], ids=lambda c: f"{c['id']}-{c['type']}")
def test_anova_equals_nlme(case):
    """Sequential and marginal F tests against nlme's anova.gls (tests/reference/gls_anova.R)."""
    d = reference_data("orthodont").assign(visitf=lambda x: x["visit"].astype(str))
    fit = ml.gls(case["formula"], d, residual=case["residual"], dispformula=case["dispformula"] or None,
                 reml=case["reml"])
    table = fit.anova(case["type"])
    assert list(table.index) == case["terms"]
    assert table["numDF"].tolist() == case["numDF"]
    np.testing.assert_allclose(table["F-value"], case["F"], rtol=1e-4)
    np.testing.assert_allclose(table["p-value"], case["p"], rtol=1e-3, atol=1e-12)
    assert table.attrs["denominator_df"] == case["denDF"]


def test_satterthwaite_coefficient_tests_equal_the_random_intercept_models():
    """Compound symmetry with a positive correlation is the random-intercept model: its t tests with
    Satterthwaite's df equal lmer's (lmerTest's, checked elsewhere), within and between subjects."""
    d = reference_data("orthodont")
    gls = ml.gls("distance ~ age * Sex", d, residual="cs(1 | Subject)").coef_table(ddf="satterthwaite")
    lmer = ml.lmer("distance ~ age * Sex + (1 | Subject)", d).coef_table()
    np.testing.assert_allclose(gls["df"], lmer["df"], rtol=1e-4)
    np.testing.assert_allclose(gls["Pr(>|t|)"], lmer["Pr(>|t|)"], rtol=1e-4)
    with pytest.raises(ValueError, match="ddf"):
        ml.gls("distance ~ age", d, residual="cs(1 | Subject)").coef_table(ddf="kenward-roger")


HARD = {c["id"]: c for c in json.loads((Path(__file__).resolve().parents[1] / "reference"
                                        / "gls_hard_cases.json").read_text())["cases"]}


def _hard_data(name):
    return pd.read_csv(Path(__file__).resolve().parents[1] / "reference" / "data" / f"{name}.csv")


@pytest.mark.parametrize("case, data", [("two_optima", "gls_two_optima"), ("car1_near_zero", "gls_car1_near_zero")])
def test_searches_that_could_stop_early_reach_nlmes_optimum(case, data):
    """An unstructured correlation whose criterion has a second optimum near the zero start (the
    search also starts from the residuals' own correlations), and a correlation over real times
    whose optimum is 0 (rho = 0 is the model's edge there; the search starts at 0.2, as nlme's):
    both reach nlme's log-likelihood (tests/reference/gls_hard_cases.R)."""
    c = HARD[case]
    fit = ml.gls(c["formula"], _hard_data(data), residual=c["residual"], dispformula=c["dispformula"],
                 reml=c["reml"])
    assert fit.loglik >= c["loglik"] - 1e-6 * abs(c["loglik"])
    assert fit.loglik == pytest.approx(c["loglik"], rel=1e-6)


def test_anova_with_a_predictor_far_from_zero():
    """x + 1e8 beside the intercept: the F tests come from the whitened regression's own factor
    (not an inverse of vcov), equal to nlme's on x - 1e8 (the intercept's marginal test aside,
    which the shift changes)."""
    c = HARD["large_offset"]
    fit = ml.gls(c["formula"], _hard_data("gls_large_offset"), residual=c["residual"], reml=True)
    assert fit.loglik == pytest.approx(c["loglik"], rel=1e-6)
    np.testing.assert_allclose(fit.anova()["F-value"], c["F_sequential"], rtol=1e-5)
    np.testing.assert_allclose(fit.anova("marginal")["F-value"].iloc[1:], c["F_marginal"][1:], rtol=1e-5)


@pytest.mark.parametrize("scale", [1e6, 1e-6])
def test_satterthwaite_df_do_not_move_with_the_responses_units(scale):
    """sigma's curvature in the units of Reaction x 1e6 fell under the Hessian's tolerance and was
    dropped as not identified: 1,573 df for the slope's 90.2."""
    s = ml.datasets.load("sleepstudy")
    ref = ml.gls("Reaction ~ Days", s, residual="ar1(Days | Subject)")
    got = ml.gls("Reaction ~ Days", s.assign(Reaction=s["Reaction"] * scale), residual="ar1(Days | Subject)")
    np.testing.assert_allclose(got.coef_table(ddf="satterthwaite")["df"], ref.coef_table(ddf="satterthwaite")["df"],
                               rtol=1e-4)
    np.testing.assert_allclose(ml.emmeans(got, "Days")["df"], ml.emmeans(ref, "Days")["df"], rtol=1e-4)


@pytest.mark.parametrize("scale", [1e-6, 86400.0])
def test_an_sd_models_column_in_other_units(scale):
    """The SD model's coefficients are searched, and differentiated, per unit of their columns'
    RMS: with age x 1e-6 the search stopped at its start (delta 0) and the df moved."""
    o = ml.datasets.load("orthodont")
    moved = o.assign(age=o["age"] * scale)
    ref = ml.gls("distance ~ age + Sex", o, residual="cs(1 | Subject)", dispformula="~ age")
    got = ml.gls("distance ~ age + Sex", moved, residual="cs(1 | Subject)", dispformula="~ age")
    assert got.design.dispersion.coef[0] * scale == pytest.approx(ref.design.dispersion.coef[0], rel=1e-4)
    assert got.sigma == pytest.approx(ref.sigma, rel=1e-6)
    np.testing.assert_allclose(ml.effects(got, "age")["df"], ml.effects(ref, "age")["df"], rtol=1e-4)
    a = ml.lmer("distance ~ age + Sex + (1 | Subject)", o, dispformula="~ age").anova()
    b = ml.lmer("distance ~ age + Sex + (1 | Subject)", moved, dispformula="~ age").anova()
    np.testing.assert_allclose(b["DenDF"], a["DenDF"], rtol=1e-4)
