"""The Laplace criterion's exact gradient (one scalar term) against central differences of the
criterion, and the search on it against BOBYQA's optimum."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.glmm.fit import memory_engine
from multilevel.glmm.laplace_gradient import scalar_gradient
from multilevel.inference.derivatives import central_gradient

SAL = "count ~ spp + mined + (1 | site)"


def _models():
    sal, ss = ml.datasets.load("salamanders"), ml.datasets.load("sleepstudy")
    rng = np.random.default_rng(3)
    w = rng.uniform(0.2, 3.0, len(ss))
    w[::17] = 0.0  # rows of weight 0 are not data
    return {
        "nbinom1": lambda: ml.glmer(SAL, sal, family="nbinom1"),
        "zinb": lambda: ml.glmer(SAL, sal, family="negative_binomial", zi="~ spp + mined"),
        "zip": lambda: ml.glmer(SAL, sal, family="poisson", zi="~ mined"),
        "clmm": lambda: ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine")),
        "clmm_cloglog": lambda: ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"),
                                        link="cloglog"),
        "gamma_inverse_ms": lambda: ml.glmer("R ~ Days + (1 | Subject)", ss.assign(R=ss.Reaction * 1000),
                                             family="gamma", link="inverse"),
        "gamma_slope_weighted": lambda: ml.glmer("Reaction ~ Days + (0 + Days | Subject)", ss.assign(w=w),
                                                 family="gamma", link="log", weights="w"),
        "beta": lambda: ml.glmer("seatbelt ~ enforce + speed65 + drinkage + (1 | state)",
                                 ml.datasets.load("seatbelts"), family="beta"),
        "betabinomial": lambda: ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                                         ml.datasets.load("cbpp"), family="betabinomial"),
        "nbinom2_offset": lambda: ml.glmer("SiblingNegotiation ~ FoodTreatment + offset(logBroodSize) + (1 | Nest)",
                                           ml.datasets.load("owls"), family="negative_binomial"),
    }


MODELS = _models()


def _fit(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = MODELS[name]()
    return getattr(m, "glmm", m)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradient_is_the_criterions(name):
    m = _fit(name)
    e = memory_engine(m.design, m.family, m._prior)
    fam, prior = m.family, m._prior
    p, nt = e.design.p, 1
    theta = np.array([0.7])
    start = e.run(fam, theta, plan=e.plan)
    # away from the optimum, where the gradient is not zero
    x = np.concatenate([theta, start.beta + 0.05, fam.extra_internal() + 0.05])

    def at(v):
        f = fam.with_extra(v[nt + p:]) if fam.n_extra else fam
        plan = replace(e.plan, deviance=f.deviance_function(e.design.y, prior))
        return e.run(f, v[:nt], beta=v[nt:nt + p], plan=plan, tol=1e-15, maxit=200)

    exact = e.gradient(lambda v: fam.with_extra(v) if fam.n_extra else fam, x, nt, p, at(x).u)
    differences = central_gradient(lambda v: at(v).laplace, x, 1e-5 * np.maximum(1.0, np.abs(x)))
    assert np.max(np.abs(exact)) > 1.0
    np.testing.assert_allclose(exact, differences, rtol=1e-6, atol=1e-5 * np.max(np.abs(differences)))


@pytest.mark.parametrize("name", ["nbinom1", "zinb", "clmm", "gamma_slope_weighted"])
def test_search_reaches_bobyqas_optimum(name):
    m = _fit(name)
    assert m.optinfo.optimizer == "quasi-newton"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name.startswith("clmm"):
            b = ml.clmm("rating ~ temp + contact + (1 | judge)", ml.datasets.load("wine"), optimizer="bobyqa").glmm
        else:
            b = ml.glmer(m.formula, _data(name), family=_family(name),
                         link=m.family.link.name, zi=getattr(m.family, "zi_formula", None) or None,
                         weights="w" if name == "gamma_slope_weighted" else None, optimizer="bobyqa")
    assert b.optinfo.optimizer == "bobyqa"
    assert m.loglik >= b.loglik - 1e-7
    np.testing.assert_allclose(m.fixef, b.fixef, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(m.vcov)), np.sqrt(np.diag(b.vcov)), rtol=2e-3)
    assert not m.messages


def _data(name):
    ss = ml.datasets.load("sleepstudy")
    if name == "gamma_slope_weighted":
        rng = np.random.default_rng(3)
        w = rng.uniform(0.2, 3.0, len(ss))
        w[::17] = 0.0
        return ss.assign(w=w)
    return ml.datasets.load("salamanders")


def _family(name):
    return {"nbinom1": "nbinom1", "zinb": "negative_binomial", "gamma_slope_weighted": "gamma"}[name]


def test_a_search_ending_at_theta_zero_falls_back_to_bobyqa(monkeypatch):
    # soup's probit clmm: from theta = 1 the first L-BFGS-B step lands on theta = 0, a stationary
    # point of the criterion (it is even in theta); BOBYQA from the first stage finds ordinal's optimum
    # (the compiled BFGS of a cumulative link model, whose steps stop short of the bound, finds it itself)
    from multilevel.families import kernels

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = ml.clmm("SURENESS ~ PROD + (1 | RESP)", ml.datasets.load("soup"), link="probit")
        monkeypatch.setattr(kernels, "available", lambda: False)
        m = ml.clmm("SURENESS ~ PROD + (1 | RESP)", ml.datasets.load("soup"), link="probit")
    assert m.glmm.optinfo.optimizer == "bobyqa"
    assert m.loglik == pytest.approx(-2676.1136, abs=1e-3)
    assert compiled.glmm.optinfo.optimizer == "quasi-newton"
    assert compiled.loglik >= m.loglik - 1e-7


def test_only_one_scalar_term_with_observed_curvature_has_it():
    from multilevel.design import build_design
    from multilevel.families import family

    sal = ml.datasets.load("salamanders")
    one = build_design(SAL, sal)
    two = build_design("count ~ mined + (1 | site) + (1 | spp)", sal)
    ones = np.ones(one.n)
    assert scalar_gradient(one, family("negative_binomial"), ones, np.zeros(one.n)) is not None
    assert scalar_gradient(two, family("negative_binomial"), ones, np.zeros(one.n)) is None
    assert scalar_gradient(one, family("poisson"), ones, np.zeros(one.n)) is None
    # and a fit without it, or with another optimizer asked for, searches by BOBYQA
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert ml.glmer("count ~ mined + (1 | site) + (1 | spp)", sal,
                        family="negative_binomial").optinfo.optimizer == "bobyqa"
        assert ml.glmer(SAL, sal, family="negative_binomial",
                        optimizer="nelder-mead").optinfo.optimizer == "nelder-mead"


def test_a_refit_of_a_quasi_newton_fit(tmp_path):
    m = _fit("nbinom1")
    back = ml.load(m.save(tmp_path / "nb1.mlfit"))
    assert back.loglik == pytest.approx(m.loglik, abs=1e-9)
    boot = ml.bootstrap(m, nsim=3, seed=1, fun=lambda f: f.fixef.iloc[1], n_jobs=1)
    assert boot.n_failed == 0 and np.all(np.isfinite(np.asarray(boot.draws)))


def test_bad_optimizer_is_refused():
    with pytest.raises(ValueError, match="optimizer"):
        ml.clmm("rating ~ temp + (1 | judge)", ml.datasets.load("wine"), optimizer="newton")


def _slope_only(seed, unit=1.0, scale=1.0):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(30), 10)
    x = rng.normal(size=300)
    b = rng.normal(0, 1, 30)[g]
    y = scale * (np.abs(np.exp(0.7 + 0.5 * x + b * x) + rng.normal(0, 0.3, 300)) + 0.05)
    return pd.DataFrame(dict(y=y, x=x * unit, g=g.astype(str)))


@pytest.mark.parametrize("seed, unit, scale", [(0, 1.0, 1.0), (5, 1e-5, 1000.0)])
def test_a_search_stopped_away_from_an_optimum_is_not_taken(seed, unit, scale):
    # a slope-only gaussian model with an inverse link, where PIRLS reaches different modes from
    # different warm starts: L-BFGS-B reported success with max|gradient| = 138 at a log-likelihood
    # of -737.5 (BOBYQA: -622.5)
    d = _slope_only(seed, unit, scale)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ml.glmer("y ~ x + (0 + x | g)", d, family="gaussian", link="inverse")
        b = ml.glmer("y ~ x + (0 + x | g)", d, family="gaussian", link="inverse", optimizer="bobyqa")
    assert a.loglik >= b.loglik - 1e-6
    assert not a.messages


def test_a_dispersion_running_to_infinity_is_reported_as_its_limit():
    # Poisson counts fitted as NB2: theta runs off to infinity along a flat ridge, where each
    # optimizer stops somewhere else (here 1.3e5 and 6.3e4); the same optimum to 1e-4 in the
    # log-likelihood, the same fixed effects, and the same message, which says that the
    # Poisson model is the limit (no false convergence message)
    rng = np.random.default_rng(109)
    g = np.repeat(np.arange(15), 10)
    x = rng.normal(size=150)
    b = rng.normal(0, 0.5, 15)[g]
    d = pd.DataFrame(dict(y=rng.poisson(np.exp(1 + 0.4 * x + b)), x=x, g=g.astype(str)))
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        m = ml.glmer("y ~ x + (1 | g)", d, family="negative_binomial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = ml.glmer("y ~ x + (1 | g)", d, family="negative_binomial", optimizer="bobyqa")
    assert m.loglik >= b.loglik - 1e-6
    np.testing.assert_allclose(m.fixef, b.fixef, rtol=1e-4)

    def kinds(messages):
        return [s.split("(")[0] for s in messages]

    assert kinds(m.messages) == kinds(b.messages) == ["the negative_binomial theta ran off towards its limit "]
    assert [str(w.message) for w in said] == list(m.messages)


def test_a_singular_fit_found_by_the_search_is_kept():
    # cbpp's beta-binomial: the herd variance is zero (glmmTMB: a singular fit); the search ends on
    # theta = 0 and the gradient just off it is positive, so it is a minimum along theta, as
    # BOBYQA's route finds (theta 7e-9) at twice the cost
    cbpp = ml.datasets.load("cbpp")
    f = "cbind(incidence, size - incidence) ~ period + (1 | herd)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ml.glmer(f, cbpp, family="betabinomial")
        b = ml.glmer(f, cbpp, family="betabinomial", optimizer="bobyqa")
    assert a.optinfo.optimizer == "quasi-newton" and float(a.theta.iloc[0]) == 0.0
    assert a.loglik >= b.loglik - 1e-8
    assert a.messages == b.messages and a.messages[0].startswith("boundary (singular) fit")
    np.testing.assert_allclose(np.sqrt(np.diag(a.vcov)), np.sqrt(np.diag(b.vcov)), rtol=1e-5)
    assert a.dispersion.iloc[0] == pytest.approx(b.dispersion.iloc[0], rel=1e-5)


def test_a_dispersion_at_infinity_leaves_the_other_standard_errors():
    # zero-inflated NB2 of counts with no overdispersion: the search takes theta to the end of its
    # internal scale (1e13), where the criterion is flat along it and its Hessian row zero; every
    # standard error had been nan. The others are the zero-inflated Poisson fit's, as BOBYQA's
    d = pd.DataFrame({"g": list("000001111122222"),
                      "x": [0.822, 0.0096, -0.0134, 0.2195, 0.2653, -1.2481, 0.6405, 0.1256, 0.0443, 0.5163,
                            -0.9905, 0.4716, -1.5784, -0.3209, 0.1384],
                      "y": [0, 0, 0, 1, 3, 0, 2, 0, 0, 2, 0, 0, 0, 6, 0]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nb = ml.glmer("y ~ x + (1 | g)", d, family="negative_binomial", zi="~ 1")
        zip_ = ml.glmer("y ~ x + (1 | g)", d, family="poisson", zi="~ 1")
    assert nb.dispersion.iloc[0] > 1e5
    np.testing.assert_allclose(np.sqrt(np.diag(nb.vcov)), np.sqrt(np.diag(zip_.vcov)), rtol=1e-3)
    np.testing.assert_allclose(nb.zi["Std. Error"], zip_.zi["Std. Error"], rtol=1e-3)
    # (its own standard error, on the log scale, is nan where the search reached the end of the scale
    # and the curvature is exactly zero, else huge; the message says it means nothing)
    se = nb.dispersion_se.iloc[0]
    assert np.isnan(se) or se > 100.0
    assert any("ran off towards its limit" in s for s in nb.messages)


def test_a_restored_quasi_newton_fit_is_not_searched_again(tmp_path, monkeypatch):
    # a search's answer kept beside BOBYQA's, though the checks had asked for BOBYQA: restoring it
    # had run those checks again, and the refit they call restored again, without end
    from multilevel.results import archive

    record = archive._opt_record
    monkeypatch.setattr(archive, "_opt_record",
                        lambda opt, internal: {**record(opt, internal), "optimizer": "quasi-newton"})
    rng = np.random.default_rng(1)
    g = rng.integers(0, 10, 200)
    f = np.where(rng.random(200) < 0.25, "b", "a")
    x = rng.normal(size=200)
    y = rng.poisson(np.exp(0.8 + 0.3 * x + rng.normal(0, 0.5, 10)[g])) * (rng.random(200) > 0.3)
    y[f == "b"] = 0  # (the zero-inflation coefficient of b runs off to +Inf)
    d = pd.DataFrame(dict(y=y, x=x, g=g.astype(str), f=f))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ml.glmer("y ~ x + (1 | g)", d, family="poisson", zi="~ f")
        back = ml.load(m.save(tmp_path / "zip.mlfit"))
    assert back.loglik == pytest.approx(m.loglik, abs=1e-8)
