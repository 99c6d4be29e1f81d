"""Cumulative link mixed models against ordinal::clmm (tests/reference/ordinal_clmm.json,
written by ordinal_clmm.R): log-likelihood within 1e-4 (or above clmm's),
coefficients, thresholds and standard deviations within 1e-3 relative."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

REF = json.loads((Path(__file__).parents[1] / "reference" / "ordinal_clmm.json").read_text())
MODELS = {m["id"]: m for m in REF["models"]}
_CACHE: dict = {}


def _fit(model_id: str):
    if model_id not in _CACHE:
        m = MODELS[model_id]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _CACHE[model_id] = ml.clmm(m["formula"], ml.datasets.load(m["dataset"]), link=m["link"],
                                       nagq=m["nAGQ"])
    return _CACHE[model_id]


# ordinal's clmm fits the log-log distribution when asked for cloglog (see
# ordinal_clmm.R): that case is checked by direct integration below instead
CLMM = [m for m in MODELS if m != "wine_cloglog"]


@pytest.mark.parametrize("model_id", CLMM)
def test_against_clmm(model_id):
    ref = MODELS[model_id]
    fit = _fit(model_id)
    assert fit.loglik >= ref["loglik"] - 1e-4
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-3)
    assert fit.df == ref["df"] and fit.nobs == ref["nobs"]
    beta = pd.Series(ref["beta"])
    np.testing.assert_allclose(fit.beta[beta.index], beta, rtol=1e-3)
    np.testing.assert_allclose(fit.se[beta.index], list(ref["beta_se"].values()), rtol=2e-3)
    np.testing.assert_allclose(fit.thresholds, ref["thresholds"], rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(fit.threshold_se, ref["threshold_se"], rtol=2e-3)
    sd = np.atleast_1d(ref["sd"])
    np.testing.assert_allclose(fit.varcorr["std_dev"], sd, rtol=1e-3, atol=1e-3)
    if sd[0] > 0.1:
        first = next(iter(fit.ranef.values())).iloc[:5, 0].to_numpy()
        np.testing.assert_allclose(first, ref["ranef"], atol=2e-3 * sd[0])


def test_anova_and_summary():
    tab = ml.anova(_fit("wine_temp"), _fit("wine_logit")).table
    assert tab["Chisq"].iloc[1] == pytest.approx(REF["anova"]["chisq"], abs=1e-3)
    assert tab["Pr(>Chisq)"].iloc[1] == pytest.approx(REF["anova"]["p"], rel=1e-2)
    text = _fit("wine_logit").summary()
    assert "Threshold coefficients:" in text and "1|2" in text and "tempwarm" in text
    assert text.startswith("Cumulative Link Mixed Model fitted with the Laplace approximation")


def test_predictions_are_category_probabilities():
    fit = _fit("wine_logit")
    p = fit.predict()
    assert list(p.columns) == ["1", "2", "3", "4", "5"] and np.allclose(p.sum(axis=1), 1)
    # population-level cumulative probabilities are F(theta_j - x'beta)
    new = pd.DataFrame({"temp": ["warm"], "contact": ["yes"], "judge": ["new"]})
    pop = fit.predict(new, random=False).to_numpy()[0]
    eta = fit.beta["tempwarm"] + fit.beta["contactyes"]
    cum = 1 / (1 + np.exp(-(fit.thresholds.to_numpy() - eta)))
    np.testing.assert_allclose(np.cumsum(pop)[:-1], cum, rtol=1e-10)
    assert fit.predict(new, type="class", random=False).iloc[0] == "4"
    fitted = fit.fitted.to_numpy()
    assert np.all((fitted > 0) & (fitted < 1))
    sims = fit.simulate(3, seed=1)
    assert sims.shape == (72, 3) and list(sims.iloc[:, 0].cat.categories) == ["1", "2", "3", "4", "5"]


def test_units_relabelling_and_row_order():
    wine = ml.datasets.load("wine")
    base = _fit("wine_logit")
    shuffled = wine.sample(frac=1.0, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = ml.clmm("rating ~ temp + contact + (1 | judge)", shuffled)
        # a numeric predictor in other units, shifted: the same fit
        w = wine.assign(x=(wine.temp == "warm") * 30.0 + 1000.0)
        shifted = ml.clmm("rating ~ x + contact + (1 | judge)", w)
    assert again.loglik == pytest.approx(base.loglik, abs=1e-7)
    assert shifted.loglik == pytest.approx(base.loglik, abs=1e-6)
    assert shifted.beta["x"] * 30 == pytest.approx(base.beta["tempwarm"], rel=1e-5)
    np.testing.assert_allclose(shifted.thresholds - 1000 * shifted.beta["x"], base.thresholds, atol=1e-4)


def test_bad_ordinal_input():
    wine = ml.datasets.load("wine")
    with pytest.raises(ValueError, match="not an ordered categorical: make it one"):
        ml.clmm("response ~ temp + (1 | judge)", wine)
    unordered = wine.assign(rating=wine.rating.astype(str).astype("category"))
    with pytest.raises(ValueError, match="not an ordered categorical"):
        ml.clmm("rating ~ temp + (1 | judge)", unordered)
    extra = wine.assign(rating=wine.rating.cat.add_categories(["6"]))
    with pytest.raises(ValueError, match=r"categories without observations \(6\)"):
        ml.clmm("rating ~ temp + (1 | judge)", extra)
    with pytest.raises(ValueError, match="thresholds take the place of the intercept"):
        ml.clmm("rating ~ 0 + temp + (1 | judge)", wine)
    with pytest.raises(ValueError, match="link"):
        ml.clmm("rating ~ temp + (1 | judge)", wine, link="cauchit")


def test_cloglog_against_direct_integration():
    # the complementary log-log model, F(x) = 1 - exp(-exp(x)) (as ordinal::clm):
    # the quadrature log-likelihood at the optimum equals an integral over each judge
    from scipy import integrate

    wine = ml.datasets.load("wine")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.clmm("rating ~ temp + contact + (1 | judge)", wine, link="cloglog", nagq=15)
    y = wine.rating.cat.codes.to_numpy()
    x = np.column_stack([(wine.temp == "warm"), (wine.contact == "yes")]).astype(float)
    judge = wine.judge.cat.codes.to_numpy()
    c = np.concatenate([[-np.inf], fit.thresholds.to_numpy(), [np.inf]])
    sd = float(fit.varcorr["std_dev"].iloc[0])
    F = lambda t: -np.expm1(-np.exp(t))  # noqa: E731
    total = 0.0
    for g in range(9):
        r = judge == g

        def f(b):
            eta = x[r] @ fit.beta.to_numpy() + b
            p = np.maximum(F(c[y[r] + 1] - eta) - F(c[y[r]] - eta), 1e-300)
            return np.exp(np.sum(np.log(p)) + 20.0) \
                * np.exp(-0.5 * (b / sd) ** 2) / (sd * np.sqrt(2 * np.pi))

        total += np.log(integrate.quad(f, -10 * sd, 10 * sd, epsrel=1e-11, limit=200)[0]) - 20.0
    assert fit.loglik == pytest.approx(total, abs=1e-5)


def test_weights_count_observations_and_unsupported_calls(tmp_path):
    wine = ml.datasets.load("wine")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = ml.clmm("rating ~ temp + contact + (1 | judge)", wine.assign(w=2.0), weights="w")
        twice = ml.clmm("rating ~ temp + contact + (1 | judge)", pd.concat([wine, wine], ignore_index=True))
    # a weight of 2 is a row counted twice; clmm counts the weights as observations
    assert w.nobs == twice.nobs == 144 and w.loglik == pytest.approx(twice.loglik, abs=1e-6)
    np.testing.assert_allclose(w.thresholds, twice.thresholds, atol=1e-4)
    # a saved fit restores to the last digit, its categories and weights with it
    back = ml.load(w.save(tmp_path / "clmm.mlfit"))
    assert back.loglik == w.loglik and back.levels == w.levels and back.nobs == 144
    np.testing.assert_allclose(back.thresholds, w.thresholds, rtol=1e-12)
    np.testing.assert_allclose(back.vcov, w.vcov, rtol=1e-12)
    assert back.summary() == w.summary()
    with pytest.raises(TypeError, match="save the ml.clmm result"):
        _fit("wine_logit").glmm.save(tmp_path / "clmm.mlfit")
    with pytest.raises(ValueError, match="ml.clmm"):
        ml.glm("rating ~ temp", wine, family="cumulative")
    with pytest.raises(ValueError, match="ml.clmm"):
        ml.glmer("rating ~ temp + (1 | judge)", wine, family="cumulative")
    with pytest.raises(ValueError, match="refit them as one kind"):
        ml.anova(_fit("wine_logit"), ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                              ml.datasets.load("cbpp")))


def test_separation_is_reported_not_a_failure(tmp_path):
    # at x = 1 every response is the top category: the slope has no finite
    # estimate (ordinal::clmm stops at 46.5 with a numerically singular Hessian
    # and no standard errors); the fit says so, where it failed with a message
    # about links
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(10), 8)
    x = np.tile([0, 1], 40)
    y = np.where(x == 1, 2, rng.integers(0, 2, 80))
    d = pd.DataFrame({"y": pd.Categorical.from_codes(y, ["a", "b", "c"], ordered=True), "x": x,
                      "g": g.astype(str)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        m = ml.clmm("y ~ x + (1 | g)", d)
    sep = [str(w.message) for w in caught if "separation" in str(w.message)]
    assert len(sep) == 1 and "coefficients 'x' (" in sep[0]
    assert m.beta["x"] > 10
    back = ml.load(m.save(tmp_path / "separated.mlfit"))  # its modes are not reached from R's start either
    assert back.loglik == m.loglik and back.beta.equals(m.beta)
    # quasi-complete: at x = 1 only the two top categories, one of them reached elsewhere too
    y2 = np.where(x == 1, np.where(rng.random(80) < 0.5, 2, 1), rng.integers(0, 3, 80))
    from multilevel.glmm.diagnostics import ordinal_separated_coefficients

    assert ordinal_separated_coefficients(x[:, None].astype(float), y2, 3, np.ones(80)).tolist() == [0.0]
    assert ordinal_separated_coefficients(x[:, None].astype(float), np.where(x == 1, 2, y2 % 2), 3,
                                          np.ones(80)).tolist() == [1.0]
    # the reference fits are not separated: no message
    for model_id in ("wine_logit", "soup_probit", "wine_crossed"):
        assert not [s for s in _fit(model_id).messages if "separation" in s]


def _cloglog_data(seed=0, groups=20, per=10, ncat=8):
    """Ordered categories from a cloglog latent model, with a sparse top category: its upper-tail
    probabilities, exp(-e^b), underflow for b above 6.5."""
    r = np.random.default_rng(seed)
    g = np.repeat(np.arange(groups), per)
    x = r.normal(size=g.size)
    lat = 0.8 * x + r.normal(scale=1.5, size=groups)[g] - np.log(-np.log(r.random(g.size)))
    cuts = np.quantile(lat, np.r_[0.02, np.sort(r.uniform(0.1, 0.9, ncat - 3)), 0.98])
    y = np.digitize(lat, cuts) + 1
    return pd.DataFrame(dict(g=g.astype(str), x=x, y=pd.Categorical(y, ordered=True)))


@pytest.mark.parametrize("seed, ncat", [(0, 8), (8, 10)])
def test_cloglog_upper_tail_in_logs(seed, ncat):
    # the cloglog's upper-tail probabilities had been floored at 1e-300, where their gradient is
    # zero: a fit stopped with a log-likelihood of -9395 (the integral: -279), and with ten
    # categories none started. In logs, the quadrature fit equals a direct integral over each group
    from scipy import integrate

    d = _cloglog_data(seed, ncat=ncat)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.clmm("y ~ x + (1 | g)", d, link="cloglog", nagq=15)
    y = d.y.cat.codes.to_numpy()
    c = np.concatenate([[-np.inf], fit.thresholds.to_numpy(), [np.inf]])
    sd = float(fit.varcorr["std_dev"].iloc[0])
    beta = float(fit.beta.iloc[0])

    def log_p(eta, yy):  # log(S(b) - S(a)), S(t) = exp(-e^t), in logs
        a, b = c[yy + 1] - eta, c[yy] - eta
        with np.errstate(over="ignore", invalid="ignore"):
            ls_a = np.where(np.isinf(a), -np.inf, -np.exp(np.where(np.isinf(a), 0.0, a)))
            ls_b = np.where(np.isinf(b), 0.0, -np.exp(np.where(np.isinf(b), 0.0, b)))
            return ls_b + np.log(-np.expm1(ls_a - ls_b))

    total = 0.0
    for lev in np.unique(d.g):
        r = (d.g == lev).to_numpy()
        top = float(np.sum(log_p(d.x.to_numpy()[r] * beta, y[r])))

        def f(u):
            s = np.sum(log_p(d.x.to_numpy()[r] * beta + u, y[r])) - top
            return np.exp(s) * np.exp(-0.5 * (u / sd) ** 2) / (sd * np.sqrt(2 * np.pi))

        total += np.log(integrate.quad(f, -10 * sd, 10 * sd, epsrel=1e-11, limit=200)[0]) + top
    assert fit.loglik == pytest.approx(total, abs=1e-4)
    assert fit.loglik > -40.0 * len(np.unique(d.g))  # (about -1.4 a row, not the floor's -690)
