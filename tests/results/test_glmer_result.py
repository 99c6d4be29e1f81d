"""GlmerResult accessors against lme4 1.1-31: predict (new data, new levels,
offset), coef, conditional variances of the random effects, VarCorr, to_dict
and the HTML repr.

References: tests/reference/lme4_glmm.json (lme4_glmm.R: conditional modes and
``postVar`` per model) and tests/reference/lme4_glmm_extras.json
(lme4_glmm_extras.R: predictions, coef, overdispersion).

lme4's ``postVar`` of a glmer fit comes from the Cholesky factor of its last
PIRLS iteration, whose weights lag the final conditional modes slightly: at
lme4's own estimates our values (at the final weights) differ from it by about
1e-4 relative, so conditional variances are compared to 2e-3 relative.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

REFDIR = Path(__file__).parents[1] / "reference"
GLMM = {m["id"]: m for m in json.loads((REFDIR / "lme4_glmm.json").read_text())["models"]}
EXTRAS = json.loads((REFDIR / "lme4_glmm_extras.json").read_text())
PREDICT = {c["id"]: c for c in EXTRAS["predict"]}
CBPP = "cbind(incidence, size - incidence) ~ period + (1 | herd)"


def _fit(formula, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.glmer(formula, data, **kw)


@pytest.fixture(scope="module")
def cbpp():
    return ml.datasets.load("cbpp").assign(logsize=lambda d: np.log(d["size"]))


@pytest.fixture(scope="module")
def m_binom(cbpp):
    return _fit(CBPP, cbpp)


@pytest.fixture(scope="module")
def m_pois(cbpp):
    return _fit("incidence ~ period + (1 | herd)", cbpp, family="poisson", offset="logsize")


def _check_predictions(fit, case, newdata, atol=1e-4, **kw):
    for type_ in ("link", "response"):
        cond = fit.predict(newdata, type=type_, **kw)
        pop = fit.predict(newdata, type=type_, random=False, **kw)
        np.testing.assert_allclose(cond, case[f"{type_}_conditional"], rtol=2e-3, atol=atol)
        np.testing.assert_allclose(pop, case[f"{type_}_population"], rtol=2e-3, atol=atol)
        assert list(cond.index) == list(newdata.index) and cond.name == "predicted"


# ---------------------------------------------------------------- predict
def test_predict_binomial_new_levels_matches_lme4(m_binom):
    case = PREDICT["cbpp_binomial"]
    new = pd.DataFrame(case["newdata"], index=[10, 11, 12, 13])
    _check_predictions(m_binom, case, new)
    # the new herd gets random effect 0: its conditional and population predictions agree
    assert m_binom.predict(new).iloc[2] == pytest.approx(m_binom.predict(new, random=False).iloc[2])


def test_predict_poisson_applies_the_offset_of_newdata(m_pois):
    case = PREDICT["cbpp_poisson_offset"]
    new = pd.DataFrame(case["newdata"]).assign(logsize=lambda d: np.log(d["size"]))
    _check_predictions(m_pois, case, new)
    # the offset column is read from newdata; an explicit offset= overrides it
    doubled = m_pois.predict(new, type="response", offset=new["logsize"] + np.log(2))
    np.testing.assert_allclose(doubled, 2 * m_pois.predict(new, type="response"), rtol=1e-12)


def test_predict_offset_given_as_values_needs_offset_for_newdata(cbpp):
    fit = _fit("incidence ~ period + (1 | herd)", cbpp, family="poisson", offset=np.log(cbpp["size"]))
    new = cbpp.head(3)
    with pytest.raises(ValueError, match="pass offset=") as info:
        fit.predict(new)
    assert "\n" not in str(info.value)
    np.testing.assert_allclose(fit.predict(new, offset=np.log(new["size"])), fit.predict().head(3), rtol=1e-10)


def test_predict_without_newdata_is_the_fit(m_binom, m_pois, cbpp):
    np.testing.assert_allclose(m_binom.predict(type="response"), m_binom.fitted, rtol=1e-12)
    np.testing.assert_allclose(m_binom.predict(), m_binom._pirls.eta, rtol=1e-12)
    # on the fitted rows, newdata reproduces the fitted values (offset included)
    np.testing.assert_allclose(m_pois.predict(cbpp, type="response"), m_pois.fitted, rtol=1e-10)
    pop = m_pois.predict(random=False)
    np.testing.assert_allclose(pop, m_pois.design.X @ m_pois.fixef.to_numpy() + cbpp["logsize"], rtol=1e-12)


def test_predict_refuses_new_levels_and_bad_type(m_binom):
    new = pd.DataFrame({"period": ["1"], "herd": ["new"]})
    with pytest.raises(ValueError, match="allow_new_levels=True"):
        m_binom.predict(new, allow_new_levels=False)
    with pytest.raises(ValueError, match="'link' or 'response'"):
        m_binom.predict(new, type="probability")
    with pytest.raises(ValueError, match="not seen in the fit"):
        m_binom.predict(pd.DataFrame({"period": ["9"], "herd": ["1"]}))


@pytest.mark.slow
def test_predict_crossed_verbagg_matches_lme4():
    case = PREDICT["verbagg_crossed"]
    fit = _fit(case["formula"], ml.datasets.load("verbagg"))
    # a sum of seven estimates, each within 1e-3 relative of glmer's
    _check_predictions(fit, case, pd.DataFrame(case["newdata"]), atol=1e-3)


def test_lmer_predict_still_works(sleepstudy):
    fit = ml.lmer("Reaction ~ Days + (Days | Subject)", sleepstudy)
    new = pd.DataFrame({"Days": [0, 5], "Subject": ["308", "new"]})
    assert fit.predict(new).round(1).tolist() == [253.7, 303.7]
    np.testing.assert_allclose(fit.predict(), fit.fitted, rtol=1e-12)


# ------------------------------------------------------------------- coef
def test_coef_matches_lme4(m_binom):
    ref = EXTRAS["coef"]
    cf = m_binom.coef["herd"]
    assert list(cf.index) == ref["levels"] and list(cf.columns) == ref["columns"]
    np.testing.assert_allclose(cf.to_numpy(), ref["values"], rtol=2e-3, atol=1e-3)
    np.testing.assert_allclose(cf.sub(m_binom.fixef, axis=1)["(Intercept)"], m_binom.ranef["herd"]["(Intercept)"])


# ---------------------------------------------------- conditional variances
def _check_ranef(fit, ref, atol_modes=2e-3):
    blocks = ref.get("ranef") or ref["ranef_head"]
    for g, r in blocks.items():
        levels = [str(v) for v in r["levels"]]
        modes = fit.ranef[g].loc[levels, r["columns"]]
        np.testing.assert_allclose(modes.to_numpy(), r["values"], atol=atol_modes)
        var = fit.ranef_var[g].loc[levels, r["columns"]].to_numpy()
        ref_var = np.array([np.diag(np.array(c, ndmin=2)) for c in r["condvar"]])
        np.testing.assert_allclose(var, ref_var, rtol=2e-3, atol=1e-6)
        # full per-level covariance, for the single (possibly vector-valued) term
        labels = [t.label for t in fit.design.terms if t.group == g]
        if len(labels) == 1:
            pos = fit.ranef[g].index.get_indexer(levels)
            cov = fit.ranef_cov[labels[0]][pos]
            np.testing.assert_allclose(cov, np.array(r["condvar"]).reshape(cov.shape), rtol=2e-3, atol=1e-6)


def test_condvar_cbpp_matches_lme4(m_binom):
    _check_ranef(m_binom, GLMM["cbpp_cbind"])


def test_condvar_poisson_offset_matches_lme4(m_pois):
    _check_ranef(m_pois, GLMM["cbpp_pois_offset_arg"])


def test_condvar_equals_the_inverse_at_the_final_weights(m_binom):
    # scalar term: Var(b_g | y) = t^2 / (1 + t^2 sum_i w_i) at the converged weights
    t = float(m_binom.theta.iloc[0])
    mu = m_binom.fitted.to_numpy()
    w = m_binom._prior * mu * (1 - mu)
    codes = m_binom.design.terms[0].codes
    expected = t**2 / (1 + t**2 * np.bincount(codes, weights=w))
    np.testing.assert_allclose(m_binom.ranef_var["herd"]["(Intercept)"], expected, rtol=1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("model_id", ["verbagg_laplace", "verbagg_slope", "grouseticks_pois"])
def test_condvar_slow_models_match_lme4(model_id):
    ref = GLMM[model_id]
    fit = _fit(ref["formula"], ml.datasets.load(ref["dataset"]), family=ref["family"], link=ref["link"])
    # the singular random-slope fit's modes agree to the precision of its optimum
    _check_ranef(fit, ref, atol_modes=5e-3)


# ------------------------------------------------------ varcorr and output
def test_varcorr_long_matches_lme4(m_binom):
    ref = GLMM["cbpp_cbind"]["varcorr"]
    vc = m_binom.varcorr_long
    assert vc["grp"].tolist() == [r["grp"] for r in ref]
    assert vc["var1"].tolist() == [r["var1"] for r in ref]
    np.testing.assert_allclose(vc["sdcor"], [r["sdcor"] for r in ref], rtol=2e-3)


def test_to_dict_is_json_ready(m_binom, m_pois):
    for fit in (m_binom, m_pois):
        d = json.loads(json.dumps(fit.to_dict()))
        assert d["nobs"] == 56 and d["ngroups"] == {"herd": 15}
        assert set(d["fixef"]) == set(fit.fixef.index) == set(d["z_tests"])
        assert d["loglik"] == pytest.approx(fit.loglik)
        assert d["df_resid"] == 51 and d["messages"] == list(fit.messages)
    assert m_pois.to_dict()["family"] == "poisson"


def test_html_repr(m_binom):
    page = m_binom._repr_html_()
    assert page.count("<table") == 3
    assert "binomial (logit)" in page and "z value" in page


def _one_per_level(n=40, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    latent = 0.8 * x + rng.normal(size=n)
    cats = list("abc")
    y = pd.Categorical([cats[k] for k in np.digitize(latent, [-0.5, 0.5])], categories=cats, ordered=True)
    return pd.DataFrame(dict(y=y, x=x, g=[f"g{i}" for i in range(n)], yb=(latent > 0).astype(int),
                             count=rng.poisson(2.0, n)))


def test_an_ordinal_response_with_one_observation_per_level_is_reported():
    # a random effect per observation of an ordinal response is the latent scale's own spread: with the
    # probit link exactly (the fits' standard errors depended on where the optimizer stopped); 0/1
    # responses have glmer's observation-level warning
    d = _one_per_level()
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        ordinal = ml.clmm("y ~ x + (1 | g)", d, link="probit")
        binary = ml.glmer("yb ~ x + (1 | g)", d, family="binomial")
        counts = ml.glmer("count ~ x + (1 | g)", d, family="poisson")        # (an observation-level effect)
        grouped = ml.glmer("yb ~ x + (1 | g)", d.assign(g=[f"g{i // 2}" for i in range(len(d))]),
                           family="binomial")
    assert any(m.startswith("every level of 'g' has one observation: with an ordinal response") for m in
               ordinal.messages)
    assert any(str(w.message).startswith("'g' has one level per observation: with 0/1 responses") for w in said)
    assert not any("one observation" in m for m in binary.messages)
    assert not any("one observation" in m for m in counts.messages + grouped.messages)
