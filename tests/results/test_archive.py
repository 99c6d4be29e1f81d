"""Saved results: pickling, fit.save(path) / ml.load(path), and the versioned format."""

from __future__ import annotations

import json
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.results.archive import FORMAT_VERSION

FIXTURE = Path(__file__).parent / "data" / "sleepstudy_v1.mlfit"


def _fits():
    s = ml.datasets.load("sleepstudy")
    cb = ml.datasets.load("cbpp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "lmer": ml.lmer("Reaction ~ Days + (Days | Subject)", s),
            "lmer_ml_weights_offset": ml.lmer("Reaction ~ Days + offset(Days) + (1 | Subject)", s, reml=False,
                                              weights=np.arange(1, 181.0), offset=np.ones(180)),
            "lmer_factor": ml.lmer("course ~ 1 + female + (1 + female | school)", ml.datasets.load("gcsemv")),
            "glmer": ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb),
            "glmer_agq": ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", cb, nagq=9),
            "glmer_poisson": ml.glmer("incidence ~ period + (1 | herd)", cb.assign(ls=np.log(cb["size"])),
                                      family="poisson", offset="ls"),
        }


FITS = _fits()


@pytest.mark.parametrize("name", sorted(FITS))
def test_save_and_load_give_the_same_fit(name, tmp_path):
    fit = FITS[name]
    path = fit.save(tmp_path / f"{name}.mlfit")
    again = ml.load(path)
    assert type(again) is type(fit)
    crit = "objective" if hasattr(fit, "objective") else "loglik"
    assert getattr(again, crit) == pytest.approx(getattr(fit, crit), rel=1e-12, abs=0)
    pd.testing.assert_series_equal(again.fixef, fit.fixef)
    pd.testing.assert_series_equal(again.theta, fit.theta)
    np.testing.assert_allclose(again.vcov, fit.vcov, rtol=1e-8)
    np.testing.assert_allclose(again.fitted, fit.fitted, rtol=1e-8)
    assert again.messages == fit.messages
    assert str(again) == str(fit)
    new = fit.design.data.head(4)
    kw = {"offset": np.ones(4)} if fit.design.offset_argument and not fit.offset_name else {}
    np.testing.assert_allclose(again.predict(new, **kw), fit.predict(new, **kw), rtol=1e-8)


@pytest.mark.parametrize("name", ["lmer", "glmer"])
def test_pickle(name):
    fit = FITS[name]
    again = pickle.loads(pickle.dumps(fit))
    pd.testing.assert_series_equal(again.fixef, fit.fixef)
    np.testing.assert_allclose(again.fitted, fit.fitted)


def test_reads_the_format_version_1_fixture():
    """A file written by an earlier release (the test suite's fixture) still loads."""
    fit = ml.load(FIXTURE)
    assert fit.objective == pytest.approx(1743.6282719584947, rel=1e-12)
    assert fit.fixef.round(4).tolist() == [251.4051, 10.4673]
    with zipfile.ZipFile(FIXTURE) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format"] == "multilevel-result" and manifest["format_version"] == 1


def _rewritten(path, dest, edit):
    """A copy of the saved result ``path`` at ``dest`` whose manifest ``edit`` changed in place."""
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        data = zf.read("data.csv")
    edit(manifest)
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("data.csv", data)
    return dest


def test_newer_or_foreign_files_are_refused(tmp_path):
    path = FITS["lmer"].save(tmp_path / "a.mlfit")
    newer = _rewritten(path, tmp_path / "newer.mlfit", lambda m: m.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ValueError, match="upgrade multilevel"):
        ml.load(newer)
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ValueError, match="not a result saved by multilevel"):
        ml.load(tmp_path / "x.txt")
    with pytest.raises(ValueError, match="no saved result"):
        ml.load(tmp_path / "missing.mlfit")


def test_posterior_pickles_saves_and_loads(tmp_path):
    post = ml.bayes("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"),
                    priors={"b": ml.priors.normal(0, 20)}, chains=2, draws=100, warmup=100, seed=3,
                    progress=False)
    again = pickle.loads(pickle.dumps(post))
    np.testing.assert_array_equal(again.draws["sigma"], post.draws["sigma"])
    loaded = ml.load(post.save(tmp_path / "post.mlfit"))
    assert loaded.names == post.names
    for name in post.names:
        np.testing.assert_array_equal(loaded.draws[name], post.draws[name])
    np.testing.assert_array_equal(loaded.draws("r_Subject"), post.draws("r_Subject"))
    pd.testing.assert_frame_equal(loaded.prior_summary(), post.prior_summary())
    assert str(loaded.summary()) == str(post.summary())
    new = pd.DataFrame({"Days": [1.0, 4.0], "Subject": ["308", "new"]})
    np.testing.assert_allclose(loaded.posterior_predictive(new, seed=1), post.posterior_predictive(new, seed=1))


def test_bayes_shows_its_signature_and_docstring():
    import inspect
    import pydoc

    params = inspect.signature(ml.bayes).parameters
    assert list(params)[:4] == ["formula", "data", "family", "link"]
    text = pydoc.render_doc(ml.bayes)
    assert "priors" in text and "Fit a Bayesian multilevel model" in text


def test_saved_glmer_and_clmm_fits_keep_their_standardised_covariances(tmp_path):
    """The standardised parameters' covariance (with its maps) is saved: a reloaded fit with a
    covariate at x + 1e9 gave its means' and predictions' SEs as 0 (glmer) or 1.4 for 0.18 (clmm)."""
    cb = ml.datasets.load("cbpp")
    cb = cb.assign(x=cb["period"].cat.codes + 1e9)
    g = ml.glmer("cbind(incidence, size - incidence) ~ x + (1 | herd)", cb, family="binomial")
    g.save(tmp_path / "g.zip")
    h = ml.load(tmp_path / "g.zip")
    np.testing.assert_allclose(ml.emmeans(h, "x")["SE"], ml.emmeans(g, "x")["SE"], rtol=1e-8)
    np.testing.assert_allclose(h.predict(cb.iloc[:3], se_fit=True)["se_fit"],
                               g.predict(cb.iloc[:3], se_fit=True)["se_fit"], rtol=1e-8)
    w = ml.datasets.load("wine")
    w["t"] = (w["temp"] == "warm") * 2.0 + np.arange(len(w)) % 3 + 1e9
    c = ml.clmm("rating ~ t + contact + (1 | judge)", w)
    c.save(tmp_path / "c.zip")
    d = ml.load(tmp_path / "c.zip")
    np.testing.assert_allclose(ml.emmeans(d, "contact", mode="mean.class")["SE"],
                               ml.emmeans(c, "contact", mode="mean.class")["SE"], rtol=1e-8)
    assert float(ml.emmeans(d, "contact", mode="mean.class")["SE"].iloc[0]) < 0.3


def test_labels_that_read_as_missing_values_survive_a_save(tmp_path):
    """Group and factor labels such as "NA", "null" and "N/A" are read back as labels: the loaded
    fit had dropped 12 rows (log-likelihood -196.4 for -217.6)."""
    o = ml.datasets.load("orthodont")
    s = o["Subject"].cat.categories
    o["Subject"] = o["Subject"].astype(str).replace({s[0]: "NA", s[2]: "null", s[3]: "N/A"})
    o["Sex"] = o["Sex"].astype(str).replace({"Male": "NA"})
    f = ml.lmer("distance ~ age + Sex + (age | Subject)", o)
    f.save(tmp_path / "f.zip")
    g = ml.load(tmp_path / "f.zip")
    assert g.nobs == f.nobs == 108 and g.ngroups == f.ngroups
    assert g.loglik == pytest.approx(f.loglik, rel=1e-12)


def test_a_multiindex_and_a_datetime_index_are_kept(tmp_path):
    o = ml.datasets.load("orthodont")
    o.index = pd.MultiIndex.from_arrays([o["Subject"].astype(str), o["age"]], names=["id", "age_i"])
    f = ml.lmer("distance ~ age + (1 | Subject)", o)
    f.save(tmp_path / "m.zip")
    assert ml.load(tmp_path / "m.zip").residuals().index.equals(f.residuals().index)
    o.index = pd.date_range("2020-01-01", periods=len(o), freq="D", tz="Europe/Paris")
    f = ml.lmer("distance ~ age + (1 | Subject)", o)
    f.save(tmp_path / "d.zip")
    assert ml.load(tmp_path / "d.zip").residuals().index.equals(f.residuals().index)
    o.index = pd.period_range("2020-01", periods=len(o), freq="M")
    f = ml.lmer("distance ~ age + (1 | Subject)", o)
    f.save(tmp_path / "p.zip")
    assert ml.load(tmp_path / "p.zip").residuals().index.equals(f.residuals().index)


def test_a_zero_inflation_offset_survives_a_save_and_older_files_with_one_are_refused(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = ml.glmer("count ~ mined + (1 | site)", ml.datasets.load("salamanders"), family="poisson",
                     zi="~ mined + offset(DOP)")
    path = m.save(tmp_path / "zi.mlfit")
    back = ml.load(path)
    assert back.loglik == pytest.approx(m.loglik, abs=1e-9)
    np.testing.assert_allclose(back.predict(type="zprob"), m.predict(type="zprob"), rtol=1e-9)
    # a file written when the zero-inflation offset was dropped holds another model's estimates
    older = _rewritten(path, tmp_path / "older.mlfit", lambda m: m["call"].pop("zi_offset"))
    with pytest.raises(ValueError, match="without the offset"):
        ml.load(older)
