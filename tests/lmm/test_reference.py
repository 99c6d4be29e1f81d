"""Every model of tests/reference/lme4_lmm.json, compared with lme4 quantity by quantity.

Tolerances: the objective within 1e-6 relative (or lower than lme4's: a better
optimum is not an error); theta within 1e-4 * max(1, |theta|); sigma within
1e-4 relative; fixed effects and standard errors within 1e-5 relative (see
``test_fixef`` and ``_se_rtol`` for coefficients near zero and for models where
lme4 itself stopped short of the optimum); variances within 1e-4 relative,
covariances within 1e-4 of the product of the standard deviations, correlations
within 1e-4; conditional modes within 1e-4 of the random effect's standard
deviation; conditional variances within 1e-3 relative.  Variances, standard
deviations and conditional variances of a term at the boundary also pass within
the absolute error that the theta tolerance allows there, (1e-4 sigma)^2 and
1e-4 sigma: lme4 may stop at theta ~ 1e-5 where we reach 0 (anorexia model 5
by REML: intercept variance 4.7e-9 in lme4, 0 here, same criterion).

The model "insteval_ml" (73421 observations) is marked ``slow``: run it with
``python -m pytest -m slow``.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest


def _close(actual, expected, rtol, atol=1e-8):
    actual = np.asarray(actual, dtype=float)
    expected = np.asarray(expected, dtype=float)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@pytest.fixture
def pair(reference_id, reference_models, fitted):
    """(our fit, lme4's reference record) for one model."""
    return fitted(reference_id), reference_models[reference_id]


def test_objective(pair):
    fit, ref = pair
    obj = ref["objective"]
    assert fit.objective <= obj + 1e-6 * abs(obj), (fit.objective, obj)
    # "lower" must still be the same optimum, not a different model
    assert fit.objective >= obj - 1e-3 * abs(obj)


def test_theta(pair):
    fit, ref = pair
    expected = pd.Series(ref["theta"], dtype=float)
    assert list(fit.theta.index) == list(expected.index)
    tol = 1e-4 * np.maximum(1.0, np.abs(expected.to_numpy()))
    diff = np.abs(fit.theta.to_numpy() - expected.to_numpy())
    assert np.all(diff <= tol), dict(zip(expected.index, diff))


def test_sigma(pair):
    fit, ref = pair
    assert fit.sigma == pytest.approx(ref["sigma"], rel=1e-4)


def test_fixef(pair):
    """1e-5 relative; a coefficient near zero (|estimate| much smaller than its
    standard error, e.g. 0.0056 with se 0.08 in insteval) is compared to 1e-5 of
    its standard error, with an absolute floor of 1e-8."""
    fit, ref = pair
    expected = pd.Series(ref["fixef"], dtype=float)
    se = pd.Series(ref["se"], dtype=float).to_numpy()
    assert list(fit.fixef.index) == list(expected.index)
    diff = np.abs(fit.fixef.to_numpy() - expected.to_numpy())
    tol = np.maximum(1e-5 * np.maximum(np.abs(expected.to_numpy()), se), 1e-8)
    assert np.all(diff <= tol), dict(zip(expected.index, diff / tol))


# Our optimizer stops measurably above the optimum for this model: the REML
# criterion is 5e-8 above both lme4's value and a tightly converged optimum,
# and the standard error of the intercept is off by 3.2e-5 relative (lme4 is
# within 6e-6 of the converged value).  lme4 stops at ftol_abs = 1e-8 too, but
# closer to the optimum.
EARLY_STOP: dict[str, str] = {}


def _se_rtol(fit, ref):
    """1e-5; but where lme4 stopped measurably above our optimum its standard
    errors are themselves off by up to 3e-5 (sleepstudy ML, penicillin), so they
    are compared at 1e-4, the tolerance of theta."""
    if fit.objective < ref["objective"] - 1e-9:
        return 1e-4
    return 1e-5


def test_se_and_vcov(pair, reference_id, request):
    fit, ref = pair
    if reference_id in EARLY_STOP:
        request.applymarker(pytest.mark.xfail(reason=EARLY_STOP[reference_id], strict=True))
    rtol = _se_rtol(fit, ref)
    expected = pd.Series(ref["se"], dtype=float)
    assert list(fit.se.index) == list(expected.index)
    _close(fit.se, expected, rtol=rtol)
    V = np.asarray(ref["vcov"], dtype=float).reshape(len(expected), len(expected))
    scale = np.sqrt(np.outer(np.diag(V), np.diag(V)))
    np.testing.assert_allclose(fit.vcov.to_numpy() / scale, V / scale, atol=2 * rtol)


def test_criterion_at_lme4_theta(reference_id, reference_models, fitted):
    """The profiled criterion, evaluated at lme4's own theta, is lme4's value:
    this checks the formula independently of where the optimizer stops."""
    from multilevel.lmm import LmmObjective

    fit, ref = fitted(reference_id), reference_models[reference_id]
    f = LmmObjective.from_design(fit.design, reml=fit.reml)
    theta = np.asarray(list(ref["theta"].values()), dtype=float)
    assert f(theta) == pytest.approx(ref["objective"], rel=1e-10)


def test_information_criteria(pair):
    fit, ref = pair
    rtol = 1e-6
    assert fit.df == ref["df"]
    assert fit.nobs - fit.df == ref["df_resid"]
    assert fit.loglik == pytest.approx(ref["loglik"], rel=rtol)
    assert fit.aic == pytest.approx(ref["aic"], rel=rtol)
    assert fit.bic == pytest.approx(ref["bic"], rel=rtol)
    # internal consistency
    assert fit.loglik == pytest.approx(-0.5 * fit.objective, rel=1e-12)
    assert fit.aic == pytest.approx(-2 * fit.loglik + 2 * fit.df, rel=1e-12)
    assert fit.bic == pytest.approx(-2 * fit.loglik + math.log(fit.nobs) * fit.df, rel=1e-12)


def test_nobs_and_ngroups(pair):
    fit, ref = pair
    assert fit.nobs == ref["nobs"]
    assert fit.ngroups == ref["ngroups"]


def test_singular(pair):
    fit, ref = pair
    assert fit.singular == ref["singular"]
    assert bool(fit.messages) == bool(ref["messages"])


def test_varcorr_long(pair):
    fit, ref = pair
    ours = fit.varcorr_long
    expected = pd.DataFrame(ref["varcorr"])
    assert list(ours.columns) == ["grp", "var1", "var2", "vcov", "sdcor"]
    key = lambda df: [tuple(None if pd.isna(v) else v for v in r)  # noqa: E731
                      for r in df[["grp", "var1", "var2"]].itertuples(index=False)]
    assert key(ours) == key(expected)
    # variances and standard deviations: relative, with the absolute floor
    # that theta's tolerance (1e-4) implies at the boundary
    var = expected["var2"].isna().to_numpy()
    floor = 1e-4 * ref["sigma"]
    _close(ours["vcov"][var], expected["vcov"][var], rtol=1e-4, atol=floor ** 2)
    _close(ours["sdcor"][var], expected["sdcor"][var], rtol=1e-4, atol=floor)
    # covariances relative to the product of the two standard deviations, correlations absolute
    ev = expected[var]
    sd = dict(zip(zip(ev["grp"], ev["var1"]), ev["sdcor"]))
    for i in np.nonzero(~var)[0]:
        g, a, b = expected.loc[i, ["grp", "var1", "var2"]]
        scale = sd[(g, a)] * sd[(g, b)]
        assert ours.loc[i, "vcov"] == pytest.approx(expected.loc[i, "vcov"], abs=1e-4 * scale)
        assert ours.loc[i, "sdcor"] == pytest.approx(expected.loc[i, "sdcor"], abs=1e-4)


def _ranef_refs(ref):
    if ref["ranef"] is None:
        pytest.skip("the reference has no conditional modes for this model")
    return ref["ranef"]


def test_ranef_modes(pair):
    fit, ref = pair
    refs = _ranef_refs(ref)
    assert set(fit.ranef) == set(refs)
    vc = fit.varcorr_long
    for g, r in refs.items():
        ours = fit.ranef[g]
        assert [str(v) for v in ours.index] == r["levels"]
        assert list(ours.columns) == r["columns"]
        values = np.asarray(r["values"], dtype=float)
        # tolerance: 1e-4 of each column's random-effect standard deviation
        sds = []
        of_group = (vc["grp"] == g) | vc["grp"].str.startswith(g + ".")  # g.1 for (x || g)
        for c in r["columns"]:
            rows = vc[of_group & (vc["var1"] == c) & vc["var2"].isna()]
            assert len(rows) == 1, (g, c)
            sds.append(float(rows["sdcor"].iloc[0]))
        tol = 1e-4 * np.maximum(np.asarray(sds), 1e-3)
        diff = np.abs(ours.to_numpy() - values)
        assert np.all(diff <= tol[None, :]), (g, diff.max(axis=0), tol)


def test_ranef_condvar(pair):
    fit, ref = pair
    refs = _ranef_refs(ref)
    for g, r in refs.items():
        k = len(r["columns"])
        cv = np.array([[[np.nan if v is None else v for v in row] for row in lvl]
                       for lvl in r["condvar"]], dtype=float).reshape(-1, k, k)
        # diagonal: ranef_var, shaped as ranef
        ours_var = fit.ranef_var[g]
        assert list(ours_var.columns) == r["columns"]
        assert [str(v) for v in ours_var.index] == r["levels"]
        # absolute floor as for the variances (test_varcorr_long)
        _close(ours_var.to_numpy(), np.diagonal(cv, axis1=1, axis2=2), rtol=1e-3,
               atol=(1e-4 * ref["sigma"]) ** 2)
        # full blocks: ranef_cov by term label; between-term blocks (null) are not compared
        labels = [lab for lab in fit.ranef_cov if lab == g or lab.startswith(g + ".")]
        pos = 0
        for lab in labels:
            block = fit.ranef_cov[lab]
            kk = block.shape[1]
            expected = cv[:, pos:pos + kk, pos:pos + kk]
            assert not np.isnan(expected).any()
            _close(block, expected, rtol=1e-3,
                   atol=max(1e-6 * np.abs(expected).max(), (1e-4 * ref["sigma"]) ** 2))
            pos += kk
        assert pos == k


def test_fitted_and_residuals_head(pair):
    fit, ref = pair
    rows = np.asarray(ref["fitted_head_rows"]) - 1  # 1-based rows of the data file
    fv = fit.fitted
    res = fit.residuals()
    assert len(fv) == fit.nobs and len(res) == fit.nobs
    _close(fv.loc[rows], ref["fitted_head"], rtol=1e-5, atol=1e-6)
    _close(res.loc[rows], ref["resid_head"], rtol=1e-4, atol=1e-4 * fit.sigma)


def test_scaled_residual_quantiles(pair):
    fit, ref = pair
    q = np.quantile(fit.residuals("scaled").to_numpy(), [0, 0.25, 0.5, 0.75, 1])
    _close(q, ref["scaled_resid_quantiles"], rtol=1e-3, atol=1e-3)


def test_result_is_immutable(pair):
    fit, _ = pair
    with pytest.raises(AttributeError):
        fit.sigma = 1.0  # frozen dataclass
