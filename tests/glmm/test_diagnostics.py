"""GLMM diagnostics (glmm/diagnostics.py): separation, overdispersion and
convergence, each on a small data set that triggers it and one that does not;
the overdispersion statistic against performance::check_overdispersion 0.10.2
(tests/reference/lme4_glmm_extras.json)."""

from __future__ import annotations

import json
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

import multilevel as ml
from multilevel.glmm import diagnostics as dx

EXTRAS = json.loads((Path(__file__).parents[1] / "reference" / "lme4_glmm_extras.json").read_text())
OVERDISPERSION = {c["id"]: c for c in EXTRAS["overdispersion"]}


def _fit(formula, data, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = ml.glmer(formula, data, **kw)
    return fit, [str(w.message) for w in caught]


def _groups(n=300, seed=1):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, 20, n)
    return rng, g, rng.normal(0, 0.7, 20)[g]


# ------------------------------------------------------------------ separation
@pytest.fixture(scope="module")
def separated():
    rng, g, u = _groups()
    x = rng.choice(["a", "b", "c"], g.size)
    y = rng.binomial(1, 1 / (1 + np.exp(-(-0.3 + u + np.where(x == "b", 0.8, 0)))))
    y[x == "c"] = 0  # level c: every response 0
    return pd.DataFrame({"y": y, "x": x, "g": g.astype(str)})


def test_quasi_complete_separation_by_a_factor_level(separated):
    fit, warned = _fit("y ~ x + (1 | g)", separated)
    msgs = [m for m in fit.messages if "separation" in m]
    assert len(msgs) == 1 and msgs[0] in warned and msgs[0] in str(fit)
    assert "'xc'" in msgs[0] and "towards -Inf" in msgs[0] and "'xb'" not in msgs[0]
    assert "remove or merge" in msgs[0]


def test_complete_separation_by_a_continuous_predictor():
    rng, g, _ = _groups(seed=2)
    x = rng.normal(size=g.size)
    d = pd.DataFrame({"y": (x > 0.2).astype(int), "x": x, "g": g.astype(str)})
    fit, _ = _fit("y ~ x + (1 | g)", d)
    msg = next(m for m in fit.messages if "separation" in m)
    assert "'x'" in msg and "towards +Inf" in msg


def test_no_separation_in_ordinary_data(separated):
    rng, g, u = _groups(seed=3)
    x = rng.choice(["a", "b", "c"], g.size)
    y = rng.binomial(1, 1 / (1 + np.exp(-(u + np.where(x == "b", 0.8, 0)))))
    fit, warned = _fit("y ~ x + (1 | g)", pd.DataFrame({"y": y, "x": x, "g": g.astype(str)}))
    assert fit.messages == () and warned == []
    cbpp, _ = _fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    assert cbpp.messages == ()


def test_separated_coefficients_linear_program():
    X = np.column_stack([np.ones(8), [0, 0, 0, 0, 1, 1, 1, 1], [0, 1, 0, 1, 0, 1, 0, 1]])
    # proportions strictly inside (0, 1) never separate; trials of weight 0 are ignored
    y = np.array([0.2, 0.5, 0.3, 0.1, 1.0, 1.0, 1.0, 1.0])
    d = dx.separated_coefficients(X, y, np.full(8, 5.0))
    assert d[1] > 0 and d[0] == 0 and d[2] == 0
    y2 = y.copy()
    y2[4] = 0.5
    assert not np.any(dx.separated_coefficients(X, y2, np.full(8, 5.0)))
    w = np.full(8, 5.0)
    w[[5, 6, 7]] = 0.0  # only row 4 (y = 1) left in the x1 = 1 cell: still separated
    assert dx.separated_coefficients(X, y, w)[1] > 0
    # Poisson: a cell of zero counts has a coefficient at -Inf
    counts = np.array([3, 1, 2, 4, 0, 0, 0, 0.0])
    assert dx.separated_coefficients(X, counts, np.ones(8), "poisson")[1] < 0
    assert not np.any(dx.separated_coefficients(X, counts + 1, np.ones(8), "poisson"))


def test_large_problems_run_the_linear_program_only_on_a_symptom(monkeypatch):
    rng = np.random.default_rng(6)
    n = 20_000
    X = np.column_stack([np.ones(n), rng.normal(size=n), (np.arange(n) < 50).astype(float)])
    y = rng.binomial(1, 0.5, n).astype(float)
    y[:50] = 0.0  # the third column's cell is all 0: separated
    mu = np.full(n, 0.5)
    calls = []
    real = dx.optimize.linprog
    monkeypatch.setattr(dx.optimize, "linprog", lambda *a, **k: calls.append(1) or real(*a, **k))
    names, beta, se = ["(Intercept)", "x", "z"], np.zeros(3), np.ones(3)
    assert dx.separation(X, names, y, np.ones(n), mu, beta, se) == [] and calls == []
    mu[:50] = 1e-9  # the fitted values of the separated rows at the boundary
    msgs = dx.separation(X, names, y, np.ones(n), mu, beta, se)
    assert len(calls) == 1 and "'z'" in msgs[0] and "towards -Inf" in msgs[0]


def test_fitted_probabilities_numerically_0_or_1_message():
    X = np.ones((4, 1))
    msgs = dx.separation(X, ["(Intercept)"], np.array([0, 1, 0, 1.0]), np.ones(4),
                         np.array([1e-17, 0.5, 0.5, 0.5]), np.zeros(1), np.ones(1))
    assert len(msgs) == 1 and msgs[0].startswith("fitted probabilities numerically 0 or 1 occurred (1 ")


# -------------------------------------------------------------- overdispersion
@pytest.mark.parametrize("case_id", ["grouseticks_location", "cbpp_poisson_offset", "cbpp_binomial"])
def test_overdispersion_matches_performance(case_id):
    ref = OVERDISPERSION[case_id]
    data = ml.datasets.load(ref["dataset"])
    offset = None
    if ref["offset"]:
        data = data.assign(logsize=np.log(data["size"]))
        offset = "logsize"
    fit, _ = _fit(ref["formula"], data, family=ref["family"], link=ref["link"], offset=offset)
    od = fit.check_overdispersion()
    assert od["df"] == ref["df"]
    np.testing.assert_allclose([od["chisq"], od["ratio"]], [ref["chisq"], ref["ratio"]], rtol=1e-3)
    assert od["p"] == pytest.approx(ref["p"], rel=0.02, abs=1e-12)
    flagged = any(m.startswith("overdispersion:") for m in fit.messages)
    assert flagged == (ref["p"] < 0.05)


def test_overdispersed_counts_are_reported_with_what_to_do():
    rng, g, u = _groups(seed=4)
    mu = np.exp(1.0 + u) * rng.gamma(1.0, 1.0, g.size)  # gamma-Poisson mixture
    d = pd.DataFrame({"y": rng.poisson(mu), "g": g.astype(str), "obs": np.arange(g.size).astype(str)})
    fit, warned = _fit("y ~ 1 + (1 | g)", d, family="poisson")
    msg = next(m for m in fit.messages if m.startswith("overdispersion:"))
    assert msg in warned and "(1 | obs)" in msg and "negative binomial" in msg
    assert fit.check_overdispersion()["ratio"] > 2
    # the observation-level random effect absorbs it
    olre, _ = _fit("y ~ 1 + (1 | g) + (1 | obs)", d, family="poisson")
    assert not any(m.startswith("overdispersion:") for m in olre.messages)


def test_poisson_counts_are_not_flagged():
    rng, g, u = _groups(seed=5)
    d = pd.DataFrame({"y": rng.poisson(np.exp(1.0 + u)), "g": g.astype(str)})
    fit, warned = _fit("y ~ 1 + (1 | g)", d, family="poisson")
    assert fit.messages == () and warned == []
    assert fit.check_overdispersion()["p"] > 0.05


def test_overdispersion_check_refuses_bernoulli_responses(separated):
    fit, _ = _fit("y ~ 1 + (1 | g)", separated)
    with pytest.raises(ValueError, match="Bernoulli"):
        fit.check_overdispersion()


def test_overdispersion_statistic():
    out = dx.overdispersion(np.array([1.0, -1.0, 2.0, 0.0]), 2)
    assert out == {"chisq": 6.0, "ratio": 3.0, "df": 2, "p": pytest.approx(np.exp(-3.0))}
    assert dx.overdispersion_message({"chisq": 6.0, "ratio": 3.0, "df": 2, "p": 0.0498}, "poisson") \
        .startswith("overdispersion: Pearson chi-square / residual df = 3 (chi-square 6.0 on 2 df, p = 0.050)")


# ------------------------------------------------------------------ convergence
def test_convergence_gradient_check():
    f = lambda v: (v[0] - 1.0) ** 2 + 50 * (v[1] - 2.0) ** 2  # noqa: E731
    lower = np.array([0.0, -np.inf])
    assert dx.convergence(f, np.array([1.0, 2.0]), lower, singular=False) == []
    msgs = dx.convergence(f, np.array([1.0, 2.05]), lower, singular=False)
    assert len(msgs) == 1 and msgs[0].startswith("Model failed to converge: max|grad| = 0.5 ")  # (scaled: 5 / 10)
    assert dx.convergence(f, np.array([1.0, 2.05]), lower, singular=True) == []


@pytest.mark.parametrize("kw", [{"nagq": 0}, {"nagq": 1}, {"nagq": 25}, {"link": "probit"},
                                {"link": "cloglog"}])
def test_converged_fits_are_not_flagged(kw):
    fit, warned = _fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
                       **kw)
    assert fit.messages == () and warned == []


def test_result_built_away_from_the_optimum_reports_non_convergence():
    from multilevel.glmm.pirls import pirls
    from multilevel.linalg import ThetaLayout
    from multilevel.results.glmer_result import GlmerResult

    fit, _ = _fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    assert fit.messages == ()
    beta = fit.fixef.to_numpy() + np.array([0.0, 0.2, 0.0, 0.0])
    theta = fit.theta.to_numpy()
    res = pirls(fit.design, fit.family, theta, ThetaLayout.from_k([1]), fit._prior, beta=beta,
                u_start=fit._pirls.u)
    layout = ThetaLayout.from_k([1])

    def deviance(v):  # the Laplace criterion over (theta, beta), as the fit minimised it
        return pirls(fit.design, fit.family, v[:1], layout, fit._prior, beta=v[1:], u_start=res.u).laplace

    check = {"deviance": deviance, "x": np.concatenate([theta, beta]),
             "lower": np.array([0.0] + [-np.inf] * beta.size)}
    with pytest.warns(UserWarning, match="Model failed to converge"):
        bad = GlmerResult._build(design=fit.design, family=fit.family, theta=theta, beta=beta,
                                 vcov=fit.vcov.to_numpy(), pirls=res, prior_weights=fit._prior, nagq=1,
                                 opt=replace(fit.optinfo), response="incidence", formula=fit.formula,
                                 check=check)
    assert any("failed to converge" in m for m in bad.messages)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 80), st.integers(1, 5), st.sampled_from([1.0, 0.5, 1e-3, -7.25]), st.integers(0, 10_000))
def test_distinct_rows_as_numpy_unique(n, p, scale, seed):
    from multilevel.glmm.diagnostics import _distinct_rows

    A = np.random.default_rng(seed).integers(-2, 3, size=(n, p)).astype(float) * scale
    rows, inv = np.unique(A, axis=0, return_inverse=True)
    ours, ours_inv = _distinct_rows(A)
    np.testing.assert_array_equal(ours, rows)
    np.testing.assert_array_equal(ours_inv, inv.ravel())


def test_zero_inflation_coefficients_running_off_are_reported():
    # grouseticks: the count model explains every zero of 1996 and 1997, where the probability of
    # a structural zero goes to 0 and its coefficients to -Inf (BOBYQA stops near -16, the gradient
    # search near -37 and -18): reported, and no standard error of 0 with z = -Inf
    gt = ml.datasets.load("grouseticks")
    for optimizer in ("auto", "bobyqa"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m = ml.glmer("TICKS ~ YEAR + (1 | LOCATION)", gt, family="negative_binomial", zi="~ YEAR",
                         optimizer=optimizer)
        said = [s for s in m.messages if s.startswith("the zero-inflation model's coefficients")]
        assert len(said) == 1 and "'YEAR96'" in said[0] and "'(Intercept)'" not in said[0]
        assert not np.any(m.zi["Std. Error"] == 0)
    sal = ml.datasets.load("salamanders")
    fine = ml.glmer("count ~ spp + mined + (1 | site)", sal, family="poisson", zi="~ spp + mined")
    assert not [s for s in fine.messages if "zero-inflation" in s]


def test_a_steep_but_determined_zero_inflation_slope_is_not_reported():
    # logit(pi) = -1 + 12 z: pi is within 1e-6 of 1 at large z, but the slope is determined
    # (z = 7.8); the message had fired in these units and not with z * 100
    r = np.random.default_rng(3)
    g = np.repeat(np.arange(40), 25)
    z = r.uniform(-1.5, 1.5, 1000)
    y = r.poisson(np.exp(1.5 + r.normal(0, 0.4, 40)[g]))
    y = np.where(r.uniform(size=1000) < 1 / (1 + np.exp(1 - 12 * z)), 0, y)
    d = pd.DataFrame(dict(y=y, z=z, z100=100 * z, g=g.astype(str)))
    for c in ("z", "z100"):
        m = ml.glmer("y ~ 1 + (1 | g)", d, family="poisson", zi=f"~ {c}")
        assert not m.messages
        assert abs(m.zi["z value"].iloc[1]) > 5


def test_a_search_onto_a_zero_inflation_plateau_gives_the_interior_optimum():
    # grouseticks with zi = ~ cHEIGHT: the gradient search stopped where every zero-inflation
    # probability was numerically 0 (the criterion flat there; log-likelihood -905.6626, and a
    # run-off message); BOBYQA's interior optimum is 0.0037 higher, with coefficients -6.49, 0.026
    gt = ml.datasets.load("grouseticks")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ml.glmer("TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)", gt, family="negative_binomial", zi="~ cHEIGHT")
        b = ml.glmer("TICKS ~ YEAR + cHEIGHT + (1 | LOCATION)", gt, family="negative_binomial", zi="~ cHEIGHT",
                     optimizer="bobyqa")
    assert a.loglik >= b.loglik - 1e-6
    np.testing.assert_allclose(a.zi["Estimate"], [-6.49, 0.0256], rtol=1e-2)
    assert not a.messages


def test_standard_errors_that_cannot_be_computed_are_reported():
    # beta responses of 1e-9 and 1 - 1e-6 with a probit link: the Hessian is not finite at the
    # optimum and the standard errors are nan; that had come with no message
    r = np.random.default_rng(124)
    G, n = int(r.choice([5, 10, 20])), int(r.choice([3, 6, 12]))
    sd = float(r.choice([0, 0.3, 1.0]))
    g = np.repeat(np.arange(G), n)
    x = r.normal(size=G * n)
    b = r.normal(scale=sd, size=G)[g]
    p = 1 / (1 + np.exp(-(2.5 * x + b)))
    phi = float(r.choice([2, 20]))
    y = np.clip(r.beta(p * phi, (1 - p) * phi), 1e-6, 1 - 1e-6)
    k = r.choice(G * n, size=3, replace=False)
    y[k[0]], y[k[1]], y[k[2]] = 1e-6, 1 - 1e-6, 1e-9
    d = pd.DataFrame(dict(g=g.astype(str), x=x, y=y))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ml.glmer("y ~ x + (1 | g)", d, family="beta", link="probit")
        fine = ml.glmer("y ~ x + (1 | g)", d.assign(y=np.clip(y, 1e-3, 1 - 1e-3)), family="beta", link="probit")
    assert not np.any(np.isfinite(np.sqrt(np.diag(m.vcov))))
    said = [s for s in m.messages if s.startswith("the standard errors of")]
    assert len(said) == 1 and "'(Intercept)', 'x'" in said[0]
    assert np.all(np.isfinite(np.sqrt(np.diag(fine.vcov)))) and not fine.messages


@settings(max_examples=60, deadline=None)
@given(n=st.integers(5, 40), p=st.integers(1, 3), ordinal=st.booleans(), separate=st.booleans(),
       seed=st.integers(0, 2 ** 31 - 1))
def test_the_certificate_of_no_separation_agrees_with_the_linear_program(n, p, ordinal, separate, seed):
    # non-negative least squares certifies "no separation" (Farkas) before the linear program runs; with
    # and without that certificate each program gives the same direction, separated or not
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, size=(n, p)).astype(float)
    X[:, 0] = rng.normal(size=n) if seed % 2 else X[:, 0]
    score = X[:, 0] * (4.0 if separate else rng.normal()) + (0.0 if separate else rng.logistic(size=n))
    if ordinal:
        y = np.unique(np.digitize(score, np.quantile(score, [0.3, 0.7])), return_inverse=True)[1]
        k = int(y.max()) + 1
        if k < 2:
            return
        fast = dx.ordinal_separated_coefficients(X, y, k, np.ones(n))
        with pytest.MonkeyPatch.context() as m:
            m.setattr(dx, "_no_ray", lambda A, w: False)
            slow = dx.ordinal_separated_coefficients(X, y, k, np.ones(n))
    else:
        Xi = np.column_stack([np.ones(n), X])
        y = (score > np.median(score)).astype(float)
        fast = dx.separated_coefficients(Xi, y, np.ones(n))
        with pytest.MonkeyPatch.context() as m:
            m.setattr(dx, "_no_ray", lambda A, w: False)
            slow = dx.separated_coefficients(Xi, y, np.ones(n))
    np.testing.assert_array_equal(fast, slow)


def test_the_certificate_is_found_on_real_data():
    # (else the linear program, a millisecond, runs on every fit)
    X = np.asarray(pd.get_dummies(ml.datasets.load("wine")[["temp", "contact"]], drop_first=True), dtype=float)
    codes = ml.datasets.load("wine")["rating"].cat.codes.to_numpy()
    up, rows = codes < 4, X
    A = np.vstack([np.hstack([rows, -np.eye(4)[np.minimum(codes, 3)]])[up],
                   np.hstack([-rows, np.eye(4)[np.maximum(codes - 1, 0)]])[codes > 0]])
    assert dx._no_ray(A, np.ones(A.shape[0]))


def test_a_singular_message_names_the_users_zero_column():
    # the standardised basis mixes a term's columns, so its zero pivot can sit at another place
    # than the user's: the message names the column whose variance is zero in the user's order
    # (it had named 'fb' where fc's was the zero: theta g.fc 5e-18)
    import pandas as pd

    import multilevel as ml

    rng = np.random.default_rng(106)
    G = rng.integers(5, 30)
    sizes = rng.integers(1, 25, G)
    g = np.repeat(np.arange(G), sizes)
    n = len(g)
    x = rng.normal(size=n)
    f = rng.choice(["a", "b", "c"], n)
    sd0, sd1 = rng.choice([0, 0.3, 1.0]), rng.choice([0, 0.2, 0.6])
    b0, b1 = rng.normal(0, sd0, G), rng.normal(0, sd1, G)
    eta = -0.5 + 0.5 * x + (f == "b") * 0.4 + b0[g] + b1[g] * x
    df = pd.DataFrame(dict(x=x, f=f, g=[f"g{i}" for i in g]))
    df["c"] = rng.poisson(np.exp(eta + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.glmer("c ~ x + f + (1 + f | g)", df, family="poisson")
    zero = [name.split(".")[-1] for name, v in fit.theta.items() if name.count(".") == 1 and abs(v) < 1e-4]
    assert fit.singular and zero
    assert all(f"'{c}' in 'g'" in fit.messages[0] for c in zero)
