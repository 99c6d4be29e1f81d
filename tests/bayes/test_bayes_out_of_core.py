"""ml.bayes on data in parts (Dask DataFrames, Parquet files): the collapsed sampler
from the summed cross-products.

The in-memory collapsed sampler is checked against brms long runs and by
simulation-based calibration (test_collapsed.py, test_sbc.py); here the data
in parts must give it the same density (the marginal log-likelihood to
rounding), the same priors and starting values, and so the same posterior.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

import multilevel as ml

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
jax = pytest.importorskip("jax")

from multilevel.bayes.collapsed import _loglik, collapsed_parts  # noqa: E402
from multilevel.bayes.collapsed_sampler import fixed_normal_prior  # noqa: E402
from multilevel.bayes.fit import initial_inverse_mass, prepare  # noqa: E402
from multilevel.bayes.moments import products_moments  # noqa: E402
from multilevel.bayes.out_of_core import OutOfCorePosterior, prepare_partitioned  # noqa: E402
from multilevel.bayes.posterior import Posterior  # noqa: E402
from multilevel.bayes.priors import column_sds  # noqa: E402
from multilevel.design import build_design  # noqa: E402
from multilevel.linalg.partial import partial_products  # noqa: E402


@pytest.fixture(autouse=True)
def _synchronous():
    with dask.config.set(scheduler="synchronous"):
        yield


def _data() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    s = ml.datasets.load("sleepstudy").copy()
    s["h"] = rng.integers(0, 5, len(s)).astype(str)
    s["w"] = rng.uniform(0.5, 2.0, len(s))
    s.loc[3, "w"] = 0.0
    s["off"] = rng.normal(size=len(s))
    s["x2"] = rng.normal(size=len(s)) + 1e3           # a column far from zero
    s["five"] = 5.0
    return s


CASES = [
    ("Reaction ~ Days + (Days | Subject)", {}),
    ("Reaction ~ Days + (Days || Subject) + (1 | h)", {}),   # the head joins two terms of Subject
    ("Reaction ~ Days + x2 + (1 | Subject) + (0 + x2 | Subject) + (1 | h)", dict(weights="w", offset="off")),
    ("Reaction ~ 0 + Days + (1 | h) + (1 | Subject)", {}),
]


@pytest.mark.parametrize("formula,kw", CASES)
def test_density_priors_and_start_equal_the_rows(formula, kw):
    s = _data()
    mem = prepare(formula, s, **kw)
    par = prepare_partitioned(formula, dd.from_pandas(s, npartitions=4, sort=False), **kw)
    assert par.rowless and not mem.rowless and par.data == {}
    pd.testing.assert_frame_equal(Posterior.prior_table(par), Posterior.prior_table(mem))
    np.testing.assert_allclose(par.x_means, mem.x_means, rtol=1e-12, atol=1e-12)
    for k, v in mem.start_scales().items():
        np.testing.assert_allclose(par.start_scales()[k], v, rtol=1e-10)
    for k, v in initial_inverse_mass(mem).items():
        np.testing.assert_allclose(initial_inverse_mass(par)[k], v, rtol=1e-10)
    m0, S0 = fixed_normal_prior(mem)
    m1, S1 = fixed_normal_prior(par)
    np.testing.assert_allclose(m1, m0, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(S1, S0, rtol=1e-10)
    with jax.enable_x64(True):
        st0, a0 = collapsed_parts(mem.design, m0, S0)
        st1, a1 = collapsed_parts(par.design, m0, S0, sums=par.sums)
        assert st1 == st0
        for scale in (0.1, 1.0, 10.0):
            sds = [np.full(k, 20.0 * scale) for k in st0[0]]
            cors = [None if k == 1 else np.array([[1.0, 0.0], [0.3, np.sqrt(0.91)]]) for k in st0[0]]
            v0 = float(_loglik(st0, a0, sds, cors, 25.0))
            v1 = float(_loglik(st1, a1, sds, cors, 25.0))
            assert abs(v1 - v0) <= 1e-10 * abs(v0), (v0, v1)


def test_moments_equal_the_rows():
    s = _data()
    d = build_design("Reaction ~ Days + x2 + (1 + x2 | Subject) + (0 + Days + five | h) + (1 | h)", s)
    one_z = (0, None, None)
    whole = partial_products(d, one_z)
    halves = [partial_products(build_design(d.formula.text, part), one_z) for part in (s.iloc[::2], s.iloc[1::2])]
    from multilevel.linalg.partial import merge_partials

    for pp in (whole, merge_partials(*halves)):
        m = products_moments(pp, np.arange(d.p), d.terms)
        assert m.n == d.n
        y = d.y
        np.testing.assert_allclose(m.y_mean, y.mean(), rtol=1e-13)
        np.testing.assert_allclose(m.y_sd, y.std(ddof=1), rtol=1e-12)
        np.testing.assert_allclose(m.x_mean, d.X.mean(axis=0), rtol=1e-13)
        np.testing.assert_allclose(m.x_sd, d.X.std(axis=0, ddof=1), rtol=1e-9, atol=1e-12)
        for t, sds in zip(d.terms, m.z_sd):
            want = column_sds(t)
            assert [s is None for s in sds] == [w is None for w in want]   # intercepts and five: constant
            np.testing.assert_allclose([s for s in sds if s is not None], [w for w in want if w is not None],
                                       rtol=1e-9)


@pytest.fixture(scope="module")
def both():
    s = ml.datasets.load("sleepstudy")
    kw = dict(chains=2, draws=1000, warmup=500, seed=3, progress=False)
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        par = ml.bayes("Reaction ~ Days + (Days | Subject)", dd.from_pandas(s, npartitions=3), **kw)
        mem = ml.bayes("Reaction ~ Days + (Days | Subject)", s, **kw)
    return mem, par


def test_posterior_equals_the_in_memory_one(both):
    mem, par = both
    assert isinstance(par, OutOfCorePosterior) and par.sampler == "collapsed"
    assert par.nobs == mem.nobs == 180 and par.ngroups == mem.ngroups
    assert par.names == mem.names
    for name in mem.names:   # two runs of one posterior: means within a fraction of its SD
        a, b = mem.draws[name], par.draws[name]
        assert abs(a.mean() - b.mean()) < 0.25 * a.std(), name
        assert 0.8 < b.std() / a.std() < 1.25, name
    r0, r1 = mem.ranef()["Subject"], par.ranef()["Subject"]
    assert r1.index.equals(r0.index)
    np.testing.assert_allclose(r1.xs("Estimate", axis=1, level=1), r0.xs("Estimate", axis=1, level=1),
                               atol=0.25 * float(r0.xs("Est.Error", axis=1, level=1).max().max()))
    assert "Number of observations: 180" in par.summary()


def test_predictions_for_new_rows(both):
    _, par = both
    s = ml.datasets.load("sleepstudy")
    new = pd.DataFrame({"Days": [0.0, 5.0], "Subject": ["308", "new"]})
    fixed = par.linpred(new, random=False)
    b0 = par.draws["b_Intercept"].reshape(-1)
    b1 = par.draws["b_Days"].reshape(-1)
    np.testing.assert_allclose(fixed, np.column_stack([b0, b0 + 5.0 * b1]), rtol=1e-12)
    cond = par.linpred(s.head(2))
    r = par.draws("r_Subject")[..., 0, :].reshape(-1, 2)   # Subject 308, its first level
    np.testing.assert_allclose(cond[:, 0], b0 + r[:, 0], rtol=1e-6)
    assert par.posterior_predictive(new, seed=1).shape == (2000, 2)
    assert par.epred(new, seed=1).shape == (2000, 2)
    idata = par.to_arviz()
    assert sorted(idata.groups()) == ["posterior", "sample_stats"]


@pytest.mark.parametrize("call", [
    lambda p: p.posterior_predictive(), lambda p: p.linpred(), lambda p: p.epred(), lambda p: p.loo_pit(),
    lambda p: p.log_likelihood(), lambda p: p.ppc_stats(), lambda p: p.to_arviz(log_likelihood=True),
    lambda p: p.save("never-written.zip"),
])
def test_what_needs_the_rows_is_refused(both, call):
    with pytest.raises(ValueError, match="not available for a fit to data in parts"):
        call(both[1])


def test_parquet_files_with_weights_and_offset(tmp_path):
    s = _data()
    for i in range(3):
        s.iloc[60 * i: 60 * (i + 1)].to_parquet(tmp_path / f"part{i}.parquet")
    path = str(tmp_path / "*.parquet")
    f = "Reaction ~ Days + (1 | Subject)"
    par = prepare_partitioned(f, path, weights="w", offset="off")
    mem = prepare(f, s, weights="w", offset="off")
    pd.testing.assert_frame_equal(Posterior.prior_table(par), Posterior.prior_table(mem))
    assert par.sums.n == 179                               # the row of weight zero does not count
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # (a short run)
        post = ml.bayes(f, path, weights="w", offset="off", chains=1, draws=200, warmup=200, seed=1,
                        progress=False)
    assert post.data_name == path and post.nobs == 180
    assert post.linpred(s.head(1), random=False).mean() == pytest.approx(
        post.draws["b_Intercept"].mean() + s["off"].iloc[0])


@pytest.mark.parametrize("kw,match", [
    (dict(family="binomial"), "gaussian family"),
    (dict(sampler="nuts"), "runs the collapsed sampler"),
    (dict(zi="~ 1"), "zi= models structural zeros"),
    (dict(priors={"b": ml.priors.student_t(3, 0, 10)}), "collapsed sampler, and it does not apply"),
])
def test_what_the_collapsed_sampler_cannot_do_is_refused(kw, match):
    ds = dd.from_pandas(ml.datasets.load("sleepstudy"), npartitions=2)
    with pytest.raises(ValueError, match=match):
        ml.bayes("Reaction ~ Days + (1 | Subject)", ds, chains=1, draws=10, warmup=10, progress=False, **kw)


def test_a_structured_term_on_data_in_parts_matches_the_in_memory_fit():
    s = ml.datasets.load("sleepstudy")
    s = s.assign(week=pd.Categorical(s["Days"] // 4, ordered=True))   # 3 occasions, several rows each
    kw = dict(chains=1, draws=300, warmup=300, seed=4, progress=False)
    mem = ml.bayes("Reaction ~ Days + ar1(0 + week | Subject)", s, **kw)
    parts = ml.bayes("Reaction ~ Days + ar1(0 + week | Subject)", dd.from_pandas(s, npartitions=3), **kw)
    assert parts.names == mem.names and "rho_Subject" in parts.names
    for name in mem.names:
        a, b = mem.draws[name], parts.draws[name]
        assert abs(a.mean() - b.mean()) < 0.3 * a.std(), name


@pytest.mark.parametrize("call", [lambda p: ml.emmeans(p, "Days"), lambda p: ml.slopes(p, "Days")])
def test_marginal_means_say_they_need_the_rows(both, call):
    with pytest.raises(ValueError, match="not available for a fit to data in parts"):
        call(both[1])


def test_terms_of_the_first_factor_beyond_the_dense_limit_are_refused_clearly(monkeypatch):
    monkeypatch.setattr("multilevel.lmm.out_of_core.MAX_REST", 400)
    rng = np.random.default_rng(0)
    g = np.repeat(np.arange(450), 2)
    df = pd.DataFrame({"y": rng.normal(size=g.size), "x": rng.normal(size=g.size), "g": g.astype(str)})
    with pytest.raises(ValueError, match="of the first term's grouping factor"):
        ml.bayes("y ~ x + (1 + x || g)", dd.from_pandas(df, npartitions=2), progress=False)
    c = np.repeat(np.arange(450), 2)
    df = df.assign(g=np.arange(g.size).astype(str), c=c.astype(str))
    with pytest.raises(ValueError, match=r"at most 400 are held as a dense block .* factor with the most levels"):
        ml.lmer("y ~ x + (1 | g) + (1 | c)", dd.from_pandas(df, npartitions=2))
