"""lmer on data in parts (Dask DataFrames, Parquet files): the in-memory fit's answer.

The criterion agrees to rounding (1e-10 relative and much less); the
estimates agree to the optimizer's stopping tolerance, which is how far the
in-memory fit itself moves when its rows are shuffled (1e-7 relative on
Penicillin): the sums are the same numbers added in another order.
"""

from __future__ import annotations

import os
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


def _fit_both(formula, df, nparts=5, **kw):
    with warnings.catch_warnings(record=True) as w0:
        warnings.simplefilter("always")
        f0 = ml.lmer(formula, df, **kw)
    with warnings.catch_warnings(record=True) as w1:
        warnings.simplefilter("always")
        f1 = ml.lmer(formula, dd.from_pandas(df, npartitions=nparts, sort=False), **kw)
    assert [str(w.message) for w in w0] == [str(w.message) for w in w1]
    return f0, f1


def _same(f0, f1, est_rtol=1e-6):
    assert abs(f1.objective - f0.objective) <= 1e-10 * abs(f0.objective)
    assert f1.nobs == f0.nobs and f1.n_dropped == f0.n_dropped and f1.ngroups == f0.ngroups
    assert list(f1.fixef.index) == list(f0.fixef.index)
    assert list(f1.theta.index) == list(f0.theta.index)
    np.testing.assert_allclose(f1.fixef, f0.fixef, rtol=est_rtol, atol=1e-9 * np.abs(f0.fixef).max())
    np.testing.assert_allclose(f1.se, f0.se, rtol=est_rtol)
    np.testing.assert_allclose(f1.theta, f0.theta, rtol=est_rtol, atol=1e-8)
    np.testing.assert_allclose(f1.sigma, f0.sigma, rtol=est_rtol)
    for g in f0.ranef:
        pd.testing.assert_frame_equal(f1.ranef[g], f0.ranef[g], rtol=1e-5, atol=1e-8 * f0.sigma)
    r0, r1 = f0.residuals(), f1.residuals().compute()
    assert r1.index.equals(r0.index)
    np.testing.assert_allclose(r1, r0, atol=1e-6 * f0.sigma)


rng = np.random.default_rng(11)
_s = ml.datasets.load("sleepstudy")
_w = _s.assign(w=rng.uniform(0.5, 2.0, len(_s)), off=rng.normal(size=len(_s)))
_na = _s.copy()
_na.loc[rng.choice(len(_s), 20, replace=False), "Days"] = np.nan
# a string factor whose level "c" appears only in the last part, and an aliased column
_f = _s.assign(grp=np.where(_s.index < 150, np.where(_s.Days < 5, "a", "b"), "c"), dup=_s.Days * 2.0)
_cat = _s.assign(grp=pd.Categorical(np.where(_s.Days < 3, "lo", np.where(_s.Days < 7, "mid", "hi")),
                                    categories=["mid", "lo", "hi", "none"]))

_r = np.random.default_rng(1)
_df = pd.DataFrame({"x": _r.normal(size=400), "z": _r.normal(size=400), "f": _r.choice(["a", "b", "c"], 400),
                    "g": _r.integers(0, 20, 400), "h": _r.integers(0, 5, 400),
                    "year": 1990.0 + _r.integers(0, 31, 400)})
_df["y"] = 1 + 0.5 * _df.x + _r.normal(size=20)[_df.g] + 0.2 * _df.h + _r.normal(size=400)

CASES = [
    ("Reaction ~ Days + (Days | Subject)", _s, {}),
    ("Reaction ~ Days + (Days | Subject)", _s.assign(Days=_s.Days * 86400.0 + 1e9), {}),
    ("Reaction ~ Days + (Days || Subject)", _s, {"reml": False}),
    ("diameter ~ 1 + (1 | plate) + (1 | sample)", ml.datasets.load("penicillin"), {}),
    ("strength ~ 1 + (1 | batch/cask)", ml.datasets.load("pastes"), {}),
    ("course ~ 1 + female + (1 + female | school)", ml.datasets.load("gcsemv"), {"reml": False}),
    ("Reaction ~ Days + (Days | Subject)", _w, {"weights": "w", "offset": "off"}),
    ("Reaction ~ Days + offset(off) + (Days | Subject)", _w, {}),
    ("Reaction ~ Days + (Days | Subject)", _na, {}),
    ("Reaction ~ Days + grp + dup + (1 | Subject)", _f, {}),
    ("Reaction ~ Days * grp + (Days | Subject)", _cat, {"reml": False}),
    ("log(Reaction) ~ I(Days**2) + Days + (1 | Subject:grp)", _f, {}),
    ("Reaction ~ 0 + Days + (1 | Subject)", _s, {}),
    # C(h) codes h as a factor there only; x:h and (h | g) keep it a number
    ("y ~ C(h) + x + x:h + (1 | g)", _df, {}),
    ("y ~ C(h) + (h | g)", _df, {}),
    # no intercept and a response far from zero; nearly aliased columns (a third pass)
    ("y ~ 0 + f + (1 | g)", _df.assign(y=_df.y + 1e8), {}),
    ("y ~ 0 + f + x + (1 | g)", _df.assign(x=_df.x + 1e8), {}),
    ("y ~ x + x2 + (1 | g)", _df.assign(x2=_df.x + 1e-8 * _df.z), {}),
    ("y ~ year + I(year**2) + (1 + year | g)", _df, {}),
    ("y ~ x + (1 | g)", _df.assign(g=_df.g.astype("Int64")), {}),
]


@pytest.mark.parametrize("formula, df, kw", CASES, ids=[f"{i}" for i in range(len(CASES))])
def test_same_fit_as_in_memory(formula, df, kw):
    f0, f1 = _fit_both(formula, df, **kw)
    _same(f0, f1)
    assert f1.design.passes == (3 if "+ 1e8" in formula or "x2" in formula or "year" in formula
                                or "0 + f" in formula else 2)
    for g in f0.ranef:
        assert f1.ranef[g].index.equals(f0.ranef[g].index) and f1.ranef[g].index.dtype == f0.ranef[g].index.dtype


def test_the_in_memory_checks_of_the_data():
    for formula, df in [("y ~ x + f + (1 | g)", _df.assign(f="a")), ("y ~ x + y + (1 | g)", _df),
                        ("y ~ 0 + x + (1 | g)", _df.assign(y=5.0))]:
        with pytest.raises(ValueError) as e0:
            ml.lmer(formula, df)
        with pytest.raises(ValueError) as e1:
            ml.lmer(formula, dd.from_pandas(df, npartitions=3))
        assert str(e1.value) == str(e0.value)


def test_likelihood_ratio_test_of_fits_in_parts():
    parts = dd.from_pandas(_s, npartitions=3)
    small, large = (ml.lmer(f, parts, reml=False) for f in ("Reaction ~ Days + (1 | Subject)",
                                                             "Reaction ~ Days + (Days | Subject)"))
    ref = ml.anova(*(ml.lmer(f, _s, reml=False) for f in ("Reaction ~ Days + (1 | Subject)",
                                                           "Reaction ~ Days + (Days | Subject)")))
    pd.testing.assert_frame_equal(ml.anova(small, large).table, ref.table, rtol=1e-6)
    other = ml.lmer("Reaction ~ Days + (1 | Subject)", dd.from_pandas(_s.assign(Reaction=_s.Reaction + 1.0),
                                                                      npartitions=2), reml=False)
    with pytest.raises(ValueError, match="other data, rows or another response"):
        ml.anova(other, large)


def test_structured_term_and_one_part():
    m = ml.datasets.load("machines")
    f0, f1 = _fit_both("score ~ Machine + cs(0 + Machine | Worker)", m, nparts=1)
    _same(f0, f1)


def test_tests_and_tables_from_the_estimates():
    f0, f1 = _fit_both("Reaction ~ Days + (Days | Subject)", _s)
    pd.testing.assert_frame_equal(f1.coef_table(), f0.coef_table(), rtol=1e-6)
    pd.testing.assert_frame_equal(f1.anova(), f0.anova(), rtol=1e-6)
    pd.testing.assert_frame_equal(f1.varcorr, f0.varcorr, rtol=1e-6)
    pd.testing.assert_frame_equal(f1.confint(), f0.confint(method="Wald"), rtol=1e-6)
    # the same summary, exact quartiles included (the data's name aside)
    assert [ln for ln in str(f0).splitlines() if not ln.startswith("   Data:")] == str(f1).splitlines()
    from multilevel.results import summary

    with pytest.MonkeyPatch.context() as mp:   # a large fit's summary: one pass, Dask's quartiles
        mp.setattr(summary, "EXACT_QUARTILES", 100)
        text = str(f1)
    assert "Scaled residuals (quartiles approximate" in text and "Number of obs: 180" in text


@pytest.mark.parametrize("formula, df", [("Reaction ~ Days + (Days | Subject)", _s),
                                         ("Reaction ~ Days + (1 | Subject)", _s.assign(Days=_s.Days + 1e9))])
def test_variance_summaries_from_the_products(formula, df):
    f0, f1 = _fit_both(formula, df)
    pd.testing.assert_series_equal(f1.icc(), f0.icc(), rtol=1e-7)
    pd.testing.assert_series_equal(f1.r2(), f0.r2(), rtol=1e-7)
    pd.testing.assert_frame_equal(f1.variance_partition(), f0.variance_partition(), rtol=1e-7)
    pd.testing.assert_frame_equal(f1.shrinkage(), f0.shrinkage(), rtol=1e-7)


def test_fitted_and_predictions_are_lazy_and_right():
    f0, f1 = _fit_both("Reaction ~ Days + (Days | Subject)", _na)
    fitted = f1.fitted
    assert hasattr(fitted, "dask")
    np.testing.assert_allclose(fitted.compute(), f0.fitted, rtol=1e-7)
    for kind in ("marginal", "scaled", "pearson"):
        np.testing.assert_allclose(f1.residuals(kind).compute(), f0.residuals(kind), atol=1e-6 * f0.sigma)
    f2, f3 = _fit_both("y ~ x * f + (1 | g)", _df)   # a string factor: Dask's string[pyarrow] newdata
    np.testing.assert_allclose(f3.predict(dd.from_pandas(_df.head(30), npartitions=2)).compute(),
                               f2.predict(_df.head(30)), rtol=1e-7)
    new = pd.DataFrame({"Days": [0.0, 5.0, 2.0], "Subject": ["308", "new", "309"]})
    np.testing.assert_allclose(f1.predict(new), f0.predict(new), rtol=1e-7)
    lazy = f1.predict(dd.from_pandas(new, npartitions=2), interval="prediction")
    np.testing.assert_allclose(lazy.compute(), f0.predict(new, interval="prediction"), rtol=1e-6)


def test_parquet_path(tmp_path):
    for i, part in enumerate(np.array_split(np.arange(len(_s)), 3)):
        _s.iloc[part].to_parquet(tmp_path / f"part.{i}.parquet")
    f0 = ml.lmer("Reaction ~ Days + (Days | Subject)", _s)
    f1 = ml.lmer("Reaction ~ Days + (Days | Subject)", str(tmp_path / "*.parquet"))
    _same(f0, f1)
    f2 = f1.refit(reml=False)
    assert abs(f2.objective - ml.lmer("Reaction ~ Days + (Days | Subject)", _s, reml=False).objective) < 1e-6


def test_what_needs_every_row_is_refused():
    _, f1 = _fit_both("Reaction ~ Days + (Days | Subject)", _s)
    calls = [f1.hatvalues, f1.cooks_distance, lambda: f1.confint(method="profile"),
             lambda: f1.save("x.json"), lambda: f1.coef_table(ddf="kenward-roger"),
             lambda: f1.group_coefficients(), lambda: ml.bootstrap(f1, nsim=3),
             lambda: ml.power(f1, "Days", effect=1.0, nsim=3), lambda: ml.emmeans(f1, "Days"),
             lambda: f1.design.y, lambda: f1.design.X, lambda: f1.design.terms[0].Z]
    for call in calls:
        with pytest.raises(ValueError, match="data in parts"):
            call()


def _parts(frames, meta=None):
    return dd.from_delayed([dask.delayed(f) for f in frames], meta=meta if meta is not None else frames[0].iloc[:0],
                           verify_meta=False)


def test_bad_input_is_refused_with_a_clear_message(tmp_path):
    ddf = dd.from_pandas(_s, npartitions=3)
    with pytest.raises(ValueError, match="learns from the rows it sees"):
        ml.lmer("Reaction ~ scale(Days) + (1 | Subject)", ddf)
    with pytest.raises(TypeError, match="must be a column name"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", ddf, weights=np.ones(len(_s)))
    with pytest.raises(ValueError, match="not available yet for data in parts"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", ddf, dispformula="~ Days")
    with pytest.raises(ValueError, match="cannot read Parquet data"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", str(tmp_path / "none*.parquet"))
    with pytest.raises(ValueError, match="'Nope'"):
        ml.lmer("Reaction ~ Nope + (1 | Subject)", ddf)
    with pytest.raises(ValueError, match="constant"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", dd.from_pandas(_s.assign(Reaction=3.0), npartitions=2))
    # parts that disagree on a column's type, or on a categorical's categories
    a, b = _s.iloc[:90].copy(), _s.iloc[90:].copy()
    b["Days"] = b["Days"].astype(str)
    with pytest.raises(ValueError, match="'Days' holds number values in one part"):
        ml.lmer("Reaction ~ Days + (1 | Subject)", _parts([a, b]))
    a, b = _cat.iloc[:90].copy(), _cat.iloc[90:].copy()
    b["grp"] = b["grp"].cat.set_categories(["hi", "lo", "mid"])
    with pytest.raises(ValueError, match="different categories in different parts"):
        ml.lmer("Reaction ~ grp + (1 | Subject)", _parts([a, b]))


def test_levels_seen_only_in_later_parts():
    # each part holds different subjects: the grouping factor's levels come from all of them
    s = _s.sort_values("Subject", kind="stable")
    f0, f1 = _fit_both("Reaction ~ Days + (Days | Subject)", s, nparts=6)
    _same(f0, f1)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_local_cluster_of_two_processes_million_rows(tmp_path):
    """1M rows, 10,000 groups, a random slope, read from Parquet by 2 worker processes."""
    distributed = pytest.importorskip("distributed")
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
    from simulate import FORMULA, simulate

    df = simulate(rows=1_000_000, groups=10_000)
    for i, part in enumerate(np.array_split(np.arange(len(df)), 8)):
        df.iloc[part].to_parquet(tmp_path / f"part.{i}.parquet")
    f0 = ml.lmer(FORMULA, df, reml=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        f1 = ml.lmer(FORMULA, str(tmp_path / "*.parquet"), reml=False)
        r1 = f1.residuals().compute()
    assert abs(f1.objective - f0.objective) <= 1e-10 * abs(f0.objective)
    np.testing.assert_allclose(f1.theta, f0.theta, rtol=1e-6)
    np.testing.assert_allclose(f1.fixef, f0.fixef, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(r1.sort_index(), f0.residuals().sort_index(), atol=1e-6)


def _part_that_kills_its_worker_once(i, frame, flag_dir):
    """Part ``i`` of ``frame``; the second time part 2 is read (pass 2), the worker process dies."""
    calls = os.path.join(flag_dir, f"calls.{i}")
    with open(calls, "a") as fh:
        fh.write(".")
    if i == 2 and os.path.getsize(calls) == 2:
        os._exit(1)
    return frame.iloc[i::4]


@pytest.mark.filterwarnings("ignore")
def test_a_worker_lost_mid_pass_is_not_counted_twice(tmp_path):
    distributed = pytest.importorskip("distributed")
    f0 = ml.lmer("Reaction ~ Days + (Days | Subject)", _s)
    ddf = dd.from_map(_part_that_kills_its_worker_once, range(4), frame=_s, flag_dir=str(tmp_path),
                      meta=_s.iloc[:0], enforce_metadata=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        f1 = ml.lmer("Reaction ~ Days + (Days | Subject)", ddf)
    assert os.path.getsize(tmp_path / "calls.2") >= 3  # the part was read again after its worker died
    assert f1.nobs == f0.nobs == 180
    assert abs(f1.objective - f0.objective) <= 1e-10 * abs(f0.objective)


def test_second_review_cases():
    """Fits in parts against memory where a review found them apart."""
    s = _s.copy()
    s["D2"] = s.Days + 1e-8 * np.random.default_rng(3).normal(size=len(s))
    s["half"] = np.where(s.Days < 5, "early", "late")
    for formula, df in [("Reaction ~ Days + D2 + (1 | Subject)", s),
                        ("Reaction ~ 0 + half + Days + (1 | Subject)", s.assign(Reaction=s.Reaction + 1e9))]:
        f0, f1 = _fit_both(formula, df)
        pd.testing.assert_series_equal(f1.r2(), f0.r2(), rtol=1e-6)
        pd.testing.assert_series_equal(f1.icc(), f0.icc(), rtol=1e-6)
    # the ANOVA tables of a model with factors, type III and I
    f0, f1 = _fit_both("Reaction ~ Days * half + (1 | Subject)", s)
    for t in (3, 1):
        pd.testing.assert_frame_equal(f1.anova(type=t), f0.anova(type=t), rtol=1e-6)
    # an offset column is read from newdata
    w = _w.copy()
    f0, f1 = _fit_both("Reaction ~ Days + (Days | Subject)", w, offset="off")
    np.testing.assert_allclose(f1.predict(w.head(5)), f0.predict(w.head(5)), rtol=1e-7)
    # C() of an expression would learn its levels per part
    with pytest.raises(ValueError, match="C\\(...\\) of an expression"):
        ml.lmer("Reaction ~ C(np.floor(Days / 4)) + (1 | Subject)", dd.from_pandas(_s, npartitions=2))


def test_anova_tells_data_apart(tmp_path):
    s = _s.assign(Reaction=_s.Reaction - _s.Reaction.mean())
    s.iloc[:100].to_parquet(tmp_path / "a.parquet")
    s.iloc[100:].to_parquet(tmp_path / "b.parquet")
    a = ml.lmer("Reaction ~ Days + (1 | Subject)", str(tmp_path), reml=False)
    b = ml.lmer("Reaction ~ Days + (Days | Subject)", str(tmp_path), reml=False)
    ml.anova(a, b)   # the same files read again: accepted
    c = ml.lmer("Reaction ~ Days + offset(Days) + (Days | Subject)", str(tmp_path), reml=False)
    ml.anova(a, c)   # an offset does not change the response
    na = s.copy()
    na.loc[[3, 150], "Days"] = np.nan
    parts = dd.from_pandas(na, npartitions=3)
    e = ml.lmer("Reaction ~ 1 + (1 | Subject)", parts, reml=False)
    f = ml.lmer("Reaction ~ Days + (1 | Subject)", parts, reml=False)
    with pytest.raises(ValueError, match="number of observations"):
        ml.anova(e, f)   # rows dropped for missing values
    # another response, or the same one permuted: other data
    perm = s.assign(Reaction=np.random.default_rng(0).permutation(s.Reaction.to_numpy()))
    for other in (perm, s.assign(Reaction=s.Reaction + 1e9)):
        d = ml.lmer("Reaction ~ Days + (Days | Subject)", dd.from_pandas(other, npartitions=2), reml=False)
        with pytest.raises(ValueError, match="other data, rows or another response"):
            ml.anova(a, d)


def test_parts_that_differ_in_what_they_hold(tmp_path):
    # an occasion missing from one part (the whole data has it) and a C(x) level first seen later
    rng = np.random.default_rng(5)
    df = pd.DataFrame({"g": np.repeat(np.arange(30), 12), "t": np.tile(np.repeat([0, 1, 2, 3], 3), 30)})
    b = rng.normal(size=(30, 4)) @ np.linalg.cholesky(0.6 ** np.abs(np.subtract.outer(np.arange(4), np.arange(4)))).T
    df["y"] = rng.normal(size=len(df)) + b[df.g, df.t] + 0.3 * df.t
    parts = [df[df.t != 2], df[df.t == 2]]     # the first part has no occasion 2
    whole = pd.concat(parts)
    f0 = ml.lmer("y ~ 1 + ar1(0 + C(t) | g)", whole)
    f1 = ml.lmer("y ~ 1 + ar1(0 + C(t) | g)", _parts(parts))
    assert abs(f1.objective - f0.objective) <= 1e-10 * abs(f0.objective)
    # occasions 0, 1, 2 in one part and 2, 4 in another: not equally spaced, refused as in memory
    gap = pd.concat([df[df.t < 3], df[df.t == 3].assign(t=4)])
    with pytest.raises(ValueError) as e0:
        ml.lmer("y ~ 1 + ar1(0 + C(t) | g)", gap)
    with pytest.raises(ValueError) as e1:
        ml.lmer("y ~ 1 + ar1(0 + C(t) | g)", _parts([gap[gap.t < 3], gap[gap.t == 4]]))
    assert str(e1.value) == str(e0.value)
    # nullable integers, a level of C(x) only in a later part
    s = _s.assign(Days=_s.Days.astype("Int64")).sort_values("Days", kind="stable")
    f0, f1 = _fit_both("Reaction ~ C(Days) + (1 | Subject)", s, nparts=3)
    _same(f0, f1)
    # a file whose column is all missing (read as objects) is a part like any other
    a = _s.iloc[:150]
    b = _s.iloc[150:].assign(Days=None)
    f1 = ml.lmer("Reaction ~ Days + (1 | Subject)", _parts([a, b.astype({"Days": object})], meta=_s.iloc[:0]))
    assert f1.nobs == 150 and f1.n_dropped == 30


def test_a_level_with_all_weights_zero_is_dropped_as_in_memory():
    """Rows of weight 0 are not data (as in R's lm): a factor level that only they hold makes the
    fixed effects rank deficient over the data, and a column is dropped with a warning, in memory
    and in parts alike (in memory it had given an unidentified fit with a convergence warning);
    the fit is the fit of the rows of positive weight."""
    s = _s.assign(w=(_s.Days != 0).astype(float))
    formula = "Reaction ~ C(Days) + (1 | Subject)"
    with pytest.warns(UserWarning, match="rank deficient so dropping 1 column: C\\(Days\\)9"):
        parts = ml.lmer(formula, dd.from_pandas(s, npartitions=2), weights="w")
    with pytest.warns(UserWarning, match="rank deficient so dropping 1 column: C\\(Days\\)9"):
        mem = ml.lmer(formula, s, weights="w")
    np.testing.assert_allclose(parts.fixef, mem.fixef, rtol=1e-8)
    assert parts.objective == pytest.approx(mem.objective, rel=1e-10)
    assert mem.objective == pytest.approx(ml.lmer(formula, s[s.w > 0]).objective, rel=1e-10)


def test_rows_of_weight_zero_holding_extreme_values_change_nothing():
    """The standardisation and the parts' centres come from the rows of positive weight: a row of
    weight 0 holding y = 1e10 had centred the parts' products at 1e9 (criterion 1834.0 for
    1732.2), and x = 1e10 had set the in-memory basis (a convergence warning, a wrong optimum).
    A row of weight 0 counts in no n (REML's n - p, sigma): the fit is the fit of the others."""
    s = _s.assign(w=1.0)
    s.loc[:19, "w"] = 0.0
    formula = "Reaction ~ Days + (Days | Subject)"
    ref = ml.lmer(formula, s[s.w > 0])
    for col in ("Reaction", "Days"):
        t = s.copy()
        t.loc[:19, col] = 1e10
        for fit in (ml.lmer(formula, t, weights="w"), ml.lmer(formula, dd.from_pandas(t, npartitions=3), weights="w")):
            assert fit.objective == pytest.approx(ref.objective, rel=1e-9)
            np.testing.assert_allclose(fit.fixef, ref.fixef, rtol=1e-6)
            assert fit.sigma == pytest.approx(ref.sigma, rel=1e-6)
            np.testing.assert_allclose(fit.icc(), ref.icc(), rtol=1e-5)
    # glmer in memory: x = 1e10 in rows of weight 0 had made the start fail
    cb = ml.datasets.load("cbpp").assign(w=1.0, x=lambda d: (np.arange(len(d)) % 5).astype(float),
                                         y=lambda d: (d.incidence > 0).astype(float))
    cb.loc[:5, "w"] = 0.0
    base = ml.glmer("y ~ x + (1 | herd)", cb, weights="w")
    far = ml.glmer("y ~ x + (1 | herd)", cb.assign(x=np.where(cb.w > 0, cb.x, 1e10)), weights="w")
    assert far.loglik == pytest.approx(base.loglik, rel=1e-9)


def test_rows_of_weight_zero_with_several_random_effects_terms():
    """Several terms take the count-based products, which had counted rows of weight 0 in n
    (penicillin's REML criterion 309.19 for 303.77)."""
    p = ml.datasets.load("penicillin").assign(w=1.0)
    p.loc[:9, "w"] = 0.0
    formula = "diameter ~ 1 + (1 | plate) + (1 | sample)"
    for reml in (True, False):
        ref = ml.lmer(formula, p[p.w > 0], reml=reml)
        for fit in (ml.lmer(formula, p, weights="w", reml=reml),
                    ml.lmer(formula, dd.from_pandas(p, npartitions=2), weights="w", reml=reml)):
            assert fit.objective == pytest.approx(ref.objective, rel=1e-9)
            assert fit.sigma == pytest.approx(ref.sigma, rel=1e-6)


def test_a_response_constant_over_the_rows_of_positive_weight_is_refused():
    s = _s.assign(w=(_s.Days < 5).astype(float), y=np.where(_s.Days < 5, 2.0, _s.Reaction))
    for data in (s, dd.from_pandas(s, npartitions=2)):
        with pytest.raises(ValueError, match="constant"):
            ml.lmer("y ~ Days + (1 | Subject)", data, weights="w")


def test_refits_read_the_offset_column_of_newdata():
    f0, f1 = _fit_both("Reaction ~ Days + (Days | Subject)", _w, offset="off")
    ml_fit = ml.lmer("Reaction ~ Days + (Days | Subject)", _w, offset="off", reml=False)
    for refit in (f0.refit(reml=False), f1.refit(reml=False)):   # in memory and in parts
        assert refit.offset_name == "off"
        np.testing.assert_allclose(refit.predict(_w.head(5)), ml_fit.predict(_w.head(5)), rtol=1e-6)


def test_icc_and_r2_on_data_in_parts_with_a_covariate_far_from_zero():
    """Each term's mean z' Sigma z from the centred columns' factor in the standardised basis: at
    Days + 1e9 the ICC of data in parts came out 1.06 and 1.15, its marginal R2 -0.09."""
    s = ml.datasets.load("sleepstudy").assign(D=lambda d: d["Days"] + 1e9)
    mem = ml.lmer("Reaction ~ D + (D | Subject)", s)
    parts = ml.lmer("Reaction ~ D + (D | Subject)", dd.from_pandas(s, npartitions=3))
    np.testing.assert_allclose(parts.icc(), mem.icc(), rtol=1e-5)
    np.testing.assert_allclose(parts.r2(), mem.r2(), rtol=1e-5)


def test_unused_categories_are_dropped_in_parts_as_in_memory():
    """An unordered categorical's unused categories are dropped on both paths (an unused first
    category had become the reference level of the fit to data in parts only)."""
    m = ml.datasets.load("machines")
    m2 = m.assign(Machine=pd.Categorical(m["Machine"].astype(str), categories=["Z", "A", "B", "C"]))
    f0, f1 = _fit_both("score ~ Machine + (1 + Machine | Worker)", m2, nparts=3, reml=False)
    assert list(f1.fixef.index) == list(f0.fixef.index) == ["(Intercept)", "MachineB", "MachineC"]
    assert f1.aic == pytest.approx(f0.aic, rel=1e-8)


def test_dask_newdata_for_a_fit_in_memory_is_a_clear_error():
    fit = ml.lmer("Reaction ~ Days + (1 | Subject)", _s)
    with pytest.raises(TypeError, match=r"not dask\.DataFrame; a Dask DataFrame is taken where a fit was made on data"):
        fit.predict(dd.from_pandas(_s, npartitions=2))
