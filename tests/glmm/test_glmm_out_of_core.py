"""glmer on data in parts (Dask DataFrames, Parquet files): a pass per PIRLS iteration,
the in-memory fit's answer.

The in-memory glmer is checked against lme4 (test_glmer*.py); here the parts
must give its criterion to rounding (the log-likelihood to 1e-8) and its
estimates to the optimizer's tolerance (the same steps on sums added in
another order), with the same messages, conditional variances and residuals.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")


@pytest.fixture(autouse=True)
def _synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _cbpp():
    return ml.datasets.load("cbpp").assign(p=lambda d: d["incidence"] / d["size"])


def _salamanders():
    return ml.datasets.load("salamanders").assign(lw=lambda d: 0.2 * d["cover"])


def _verbagg():
    return ml.datasets.load("verbagg").assign(y=lambda d: (d["r2"] == "Y").astype(float))


CASES = {
    "cbpp": ("p ~ period + (1 | herd)", _cbpp, dict(weights="size")),
    "cbpp nagq=0": ("p ~ period + (1 | herd)", _cbpp, dict(weights="size", nagq=0)),
    "cbpp probit": ("p ~ period + (1 | herd)", _cbpp, dict(weights="size", link="probit")),
    "salamanders offset": ("count ~ spp + mined + (1 | site)", _salamanders, dict(family="poisson", offset="lw")),
    "verbagg crossed": ("y ~ Anger + Gender + btype + situ + (1 | id) + (1 | item)", _verbagg, {}),
}


def _without_numbers(messages) -> list[str]:
    """Messages with their numbers blanked: an estimate that runs off to infinity (separation)
    stops at a point that depends on the order of the sums."""
    import re

    return [re.sub(r"-?\d[\d.e+-]*", "#", str(m)) for m in messages]


def _fit_both(formula, df, nparts=4, exact_messages=True, **kw):
    with warnings.catch_warnings(record=True) as w0:
        warnings.simplefilter("always")
        f0 = ml.glmer(formula, df, **kw)
    with warnings.catch_warnings(record=True) as w1:
        warnings.simplefilter("always")
        f1 = ml.glmer(formula, dd.from_pandas(df, npartitions=nparts, sort=False), **kw)
    seen = [str(w.message) for w in w1], [str(w.message) for w in w0]
    if not exact_messages:
        seen = tuple(_without_numbers(m) for m in seen)
    assert seen[0] == seen[1]
    return f0, f1


@pytest.fixture(scope="module")
def fits():
    with dask.config.set(scheduler="synchronous"):
        return {name: _fit_both(f, make(), **kw) for name, (f, make, kw) in CASES.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_the_in_memory_fit(fits, name):
    f0, f1 = fits[name]
    assert abs(f1.loglik - f0.loglik) <= 1e-8 * abs(f0.loglik)
    assert f1.nobs == f0.nobs and f1.ngroups == f0.ngroups and f1.nagq == f0.nagq
    assert list(f1.fixef.index) == list(f0.fixef.index) and list(f1.theta.index) == list(f0.theta.index)
    np.testing.assert_allclose(f1.fixef, f0.fixef, atol=1e-4 * f0.se.min())
    np.testing.assert_allclose(f1.theta, f0.theta, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(f1.se, f0.se, rtol=1e-3)
    assert f1.messages == f0.messages
    assert f1.design.passes > 3
    for g in f0.ranef:
        # (modes near 0 to the optimizer's tolerance: about 1e-6 on the link scale)
        pd.testing.assert_frame_equal(f1.ranef[g], f0.ranef[g], rtol=1e-4, atol=1e-5)
        pd.testing.assert_frame_equal(f1.ranef_var[g], f0.ranef_var[g], rtol=1e-4, atol=1e-10)


@pytest.mark.parametrize("kind", ["deviance", "pearson", "response", "working"])
def test_residuals_and_fitted_are_lazy_and_equal(fits, kind):
    f0, f1 = fits["salamanders offset"]
    r1 = f1.residuals(kind)
    assert hasattr(r1, "dask")
    r1 = r1.compute()
    r0 = f0.residuals(kind)
    assert r1.index.equals(r0.index)
    # (to the optimizer's tolerance: the estimates agree to about 1e-6 relative)
    np.testing.assert_allclose(r1, r0, rtol=1e-4, atol=1e-5 * np.abs(r0).max())
    np.testing.assert_allclose(f1.fitted.compute(), f0.fitted, rtol=1e-4)
    np.testing.assert_allclose(f1.predict(type="response").compute(), f0.fitted, rtol=1e-4)


def test_predictions_for_new_rows(fits):
    f0, f1 = fits["salamanders offset"]
    new = _salamanders().iloc[:5].assign(site=["R-1", "R-2", "new", "R-1", "R-2"])
    for kw in ({}, dict(type="response"), dict(random=False), dict(se_fit=True)):
        a, b = f0.predict(new, **kw), f1.predict(new, **kw)
        np.testing.assert_allclose(np.asarray(b, dtype=float), np.asarray(a, dtype=float), rtol=1e-4)
    lazy = f1.predict(dd.from_pandas(new, npartitions=2), type="response").compute()
    np.testing.assert_allclose(lazy, f0.predict(new, type="response"), rtol=1e-4)


def test_overdispersion_summary_and_tables(fits):
    f0, f1 = fits["salamanders offset"]
    pd.testing.assert_series_equal(f1.check_overdispersion(), f0.check_overdispersion(), rtol=1e-6)
    pd.testing.assert_frame_equal(f1.coef_table(), f0.coef_table(), rtol=1e-4)
    pd.testing.assert_frame_equal(f1.confint(), f0.confint(method="Wald"), rtol=1e-4)
    text = f1.summary()
    assert "Number of obs: 644, groups:  site, 23" in text and "Scaled residuals" in text
    with pytest.raises(ValueError, match="Bernoulli"):
        fits["verbagg crossed"][1].check_overdispersion()


def test_parquet_files_and_warnings(tmp_path):
    cb = _cbpp().assign(p=lambda d: d["p"] * 0.7)       # non-integer successes: glmer warns
    for i in range(3):
        cb.iloc[20 * i: 20 * (i + 1)].to_parquet(tmp_path / f"part{i}.parquet")
    path = str(tmp_path / "*.parquet")
    f0, f1 = None, None
    with warnings.catch_warnings(record=True) as w0:
        warnings.simplefilter("always")
        f0 = ml.glmer("p ~ period + (1 | herd)", cb, weights="size")
    with warnings.catch_warnings(record=True) as w1:
        warnings.simplefilter("always")
        f1 = ml.glmer("p ~ period + (1 | herd)", path, weights="size")
    assert [str(w.message) for w in w1] == [str(w.message) for w in w0]
    assert "non-integer number of successes" in str(w1[0].message)
    assert f1.data_name == path
    assert abs(f1.loglik - f0.loglik) <= 1e-8 * abs(f0.loglik)


@pytest.mark.parametrize("kw,match", [
    (dict(family="gamma"), "binomial .* and poisson"),
    (dict(nagq=3), "nagq=0 or nagq=1"),
    (dict(zi="~ 1", family="poisson"), "zi= is not available for data in parts"),
])
def test_what_parts_do_not_take(kw, match):
    ds = dd.from_pandas(_salamanders(), npartitions=2)
    with pytest.raises(ValueError, match=match):
        ml.glmer("count ~ mined + (1 | site)", ds, **kw)


def test_cbind_names_the_columns_to_add():
    with pytest.raises(ValueError, match="add the proportion and the trials as columns"):
        ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
                 dd.from_pandas(_cbpp(), npartitions=2))


def test_a_bad_response_is_refused_as_in_memory():
    sal = _salamanders().assign(count=lambda d: d["count"] - 0.5)
    with pytest.raises(ValueError) as mem:
        ml.glmer("count ~ mined + (1 | site)", sal, family="poisson")
    with pytest.raises(ValueError) as parts:
        ml.glmer("count ~ mined + (1 | site)", dd.from_pandas(sal, npartitions=3), family="poisson")
    assert str(parts.value) == str(mem.value)


@pytest.mark.parametrize("call", [
    lambda f: f.confint(method="profile"), lambda f: f.save("never-written.mlfit"),
    lambda f: ml.bootstrap(f, nsim=2), lambda f: f.simulate(1),
])
def test_what_needs_every_row_is_refused(fits, call):
    with pytest.raises(ValueError, match="data in parts"):
        call(fits["cbpp nagq=0"][1])


@pytest.mark.skipif(sys.platform == "win32", reason="worker processes")
def test_a_local_cluster_of_two_processes_gives_the_same_fit():
    distributed = pytest.importorskip("distributed")
    cb = _cbpp()
    f0 = ml.glmer("p ~ period + (1 | herd)", cb, weights="size", nagq=0)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  memory_limit=0) as cluster, distributed.Client(cluster):
        f1 = ml.glmer("p ~ period + (1 | herd)", dd.from_pandas(cb, npartitions=4), weights="size", nagq=0)
        resid = f1.residuals().compute()
    assert abs(f1.loglik - f0.loglik) <= 1e-8 * abs(f0.loglik)
    np.testing.assert_allclose(f1.fixef, f0.fixef, atol=1e-4 * f0.se.min())
    np.testing.assert_allclose(resid, f0.residuals(), atol=1e-6)


def test_separation_is_found_as_in_memory():
    rng = np.random.default_rng(3)
    n = 400
    df = pd.DataFrame({"g": rng.integers(0, 20, n).astype(str), "x": rng.normal(size=n),
                       "f": rng.choice(["a", "b", "c"], n)})
    eta = 0.5 * df["x"] + rng.normal(size=20)[df["g"].astype(int)]
    df["y"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float)
    df.loc[df["f"] == "c", "y"] = 1.0                     # level c: every trial succeeded
    f0, f1 = _fit_both("y ~ x + f + (1 | g)", df, exact_messages=False)
    assert any("separation" in m and "'fc'" in m for m in f1.messages)
    assert _without_numbers(f1.messages) == _without_numbers(f0.messages)


def test_no_false_separation_alarm_for_small_poisson_means():
    rng = np.random.default_rng(2)
    n = 400
    d = pd.DataFrame({"g": rng.integers(0, 20, n).astype(str), "x": rng.uniform(-5, 5, n)})
    eta = 0.5 + 3.0 * d["x"] + rng.normal(0, 0.5, 20)[d["g"].astype(int)]
    d["y"] = rng.poisson(np.exp(np.minimum(eta, 10)))
    d = d[d["x"] < 1.0]
    f0, f1 = _fit_both("y ~ x + (1 | g)", d, family="poisson")   # (the same warnings: none about separation)
    assert not any("separat" in m for m in f1.messages)


def test_an_observation_level_term_of_0_1_responses_warns_with_unit_weights():
    vb = _verbagg()
    vb = vb[vb["id"].astype(int) <= 40].copy()
    vb["id"] = vb["id"].cat.remove_unused_categories()
    vb["obs"] = np.arange(len(vb)).astype(str)
    vb["one"] = 1.0
    f0, f1 = _fit_both("y ~ Anger + (1 | id) + (1 | obs)", vb, weights="one", nagq=0)
    assert f1.nobs == f0.nobs


def test_latent_scale_icc_and_r2_of_a_poisson_fit(fits):
    f0, f1 = fits["salamanders offset"]
    pd.testing.assert_series_equal(f1.icc(), f0.icc(), rtol=1e-4)
    pd.testing.assert_series_equal(f1.r2(), f0.r2(), rtol=1e-4)


def test_a_factor_response_says_to_code_it():
    vb = dd.from_pandas(_verbagg(), npartitions=2)
    with pytest.raises(ValueError, match="code it 0/1 first"):
        ml.glmer("r2 ~ Anger + (1 | id)", vb)


def test_the_null_model_of_icc_uses_the_rows_of_the_fit():
    sal = _salamanders()
    sal["cover2"] = sal["cover"]
    sal.loc[sal.index[::5], "cover2"] = np.nan            # missing only in a fixed-effects predictor
    f0, f1 = _fit_both("count ~ spp + mined + cover2 + (1 | site)", sal, family="poisson")
    assert f1.nobs == f0.nobs == 515
    pd.testing.assert_series_equal(f1.icc(), f0.icc(), rtol=1e-4)


def test_parts_read_again_each_pass_where_memory_is_short(monkeypatch):
    from multilevel.glmm import out_of_core

    monkeypatch.setattr(out_of_core, "HOLD_SHARE", 0.0)   # as for data larger than this machine's memory
    assert not out_of_core.hold_parts(10, 3)
    f0, f1 = _fit_both("p ~ period + (1 | herd)", _cbpp(), weights="size", nagq=0)
    assert abs(f1.loglik - f0.loglik) <= 1e-8 * abs(f0.loglik)
    np.testing.assert_allclose(f1.fixef, f0.fixef, atol=1e-4 * f0.se.min())
