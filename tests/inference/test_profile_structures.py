"""Profile intervals of structured random-effects terms (cs, hcs, ar1): at each limit the ML
deviance, with the parameter held there and the others re-optimised, is the optimum's plus
qnorm(0.975)^2 -- checked with the marginal likelihood computed directly from the dense
covariance ``Z Sigma Z' + sigma^2 I`` (no blocked factor) and a general-purpose optimizer;
and the limits of glmmTMB's profiles (tests/reference/profile_structures.R), for a linear
and a binomial model."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.optimize as so
from scipy import stats

import multilevel as ml


def _dense_deviance(fit):
    """-2 log L(sds, rho, sigma) of a one-term structured model, beta by generalized least squares."""
    d = fit.design
    t = d.terms[0]
    n, k = t.Z.shape
    Z = np.zeros((n, t.nlevels * k))
    for j in range(k):
        Z[np.arange(n), t.codes * k + j] = t.Z[:, j]
    X, y, kind = d.X, d.y, t.structure.kind
    i = np.arange(k)

    def dev(sds, rho, sigma):
        C = rho ** np.abs(i[:, None] - i[None, :]) if kind == "ar1" else np.where(i[:, None] == i[None, :], 1.0, rho)
        S = C * np.outer(np.broadcast_to(sds, (k,)), np.broadcast_to(sds, (k,)))
        V = Z @ np.kron(np.eye(t.nlevels), S) @ Z.T + sigma ** 2 * np.eye(n)
        try:
            L = np.linalg.cholesky(V)
        except np.linalg.LinAlgError:
            return np.inf
        Xw, yw = np.linalg.solve(L, X), np.linalg.solve(L, y)
        r = yw - Xw @ np.linalg.lstsq(Xw, yw, rcond=None)[0]
        return n * np.log(2 * np.pi) + 2 * np.sum(np.log(np.diag(L))) + r @ r

    return dev


def _cases():
    o = ml.datasets.load("orthodont")
    o["occ"] = pd.Categorical(o["age"], ordered=True)
    m = ml.datasets.load("machines")
    return {"orthodont_ar1": ("distance ~ age * Sex + ar1(0 + occ | Subject)", o),
            "machines_cs": ("score ~ Machine + cs(0 + Machine | Worker)", m),
            "machines_hcs": ("score ~ Machine + hcs(0 + Machine | Worker)", m)}


@pytest.mark.parametrize("case", sorted(_cases()))
def test_limits_raise_the_deviance_by_the_quantile(case):
    formula, data = _cases()[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = ml.lmer(formula, data, reml=False)
    ci = fit.confint(method="profile", parm="theta_")
    st = fit.design.terms[0].structure
    dev = _dense_deviance(fit)
    th = fit.theta.to_numpy()
    nsd = st.nsd
    best = np.r_[fit.sigma * th[:nsd], st.rho(th[-1]), fit.sigma]
    d0 = dev(best[:nsd], best[nsd], best[-1])
    assert d0 == pytest.approx(-2 * fit.loglik, rel=1e-9)
    target = stats.norm.ppf(0.975) ** 2

    def increase(which, x):
        free = [i for i in range(best.size) if i != which]

        def f(v):
            p = best.copy()
            p[free], p[which] = v, x
            if np.any(p[:nsd] < 0) or p[-1] <= 0 or not st.rho_lower < p[nsd] < 1:
                return np.inf
            return dev(p[:nsd], p[nsd], p[-1])

        r = so.minimize(f, best[free], method="Nelder-Mead", options=dict(xatol=1e-7, fatol=1e-9, maxiter=3000))
        return r.fun - d0

    assert list(ci.index)[:nsd + 1] == list(fit.confint(method="wald", parm="theta_").index)[:nsd + 1]
    for which, name in enumerate(ci.index):
        for x in ci.loc[name]:
            if which == nsd and x >= 1.0 - 1e-9:  # the boundary rho = 1: not reached by the profile
                assert increase(which, 1.0 - 1e-6) < target
                continue
            assert increase(which, x) == pytest.approx(target, abs=2e-3), (name, x)


REF = json.loads((Path(__file__).resolve().parents[1] / "reference" / "profile_structures.json").read_text())


@pytest.mark.parametrize("model", REF["models"], ids=lambda m: m["id"])
def test_limits_equal_glmmtmbs_profiles(model):
    """glmmTMB's profile limits over its own parameters (log SD, the correlation's transform), mapped
    to SDs and correlations (tests/reference/profile_structures.R)."""
    if model["id"].startswith("cbpp"):
        data = ml.datasets.load("cbpp")
        data["per"] = data["period"].cat.as_ordered()
        fit = ml.glmer(model["formula"], data, family="binomial")
    else:
        fit = ml.lmer(model["formula"], ml.datasets.load("machines"), reml=False)
    assert fit.loglik == pytest.approx(model["loglik"], rel=1e-6)
    ci = fit.confint(method="profile", parm="theta_").loc[model["names"]]
    np.testing.assert_allclose(ci.iloc[:, 0], model["lower"], rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(ci.iloc[:, 1], model["upper"], rtol=2e-4, atol=2e-4)
