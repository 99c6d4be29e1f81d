"""``sampler="auto"``: the collapsed sampler where it applies, NUTS (and why) elsewhere."""

from __future__ import annotations

import warnings

import pytest

import multilevel as ml
from multilevel.bayes import priors as P

pytest.importorskip("jax")

SMALL = dict(chains=2, draws=100, warmup=100, seed=3, progress=False)


def _fit(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.bayes(*args, **{**SMALL, **kwargs})


def test_gaussian_default_runs_the_collapsed_sampler():
    post = _fit("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    assert post.sampler == "collapsed" and post.sampler_note is None
    assert "collapsed sampler" in str(post)


def test_binomial_default_runs_nuts_and_says_why():
    post = _fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
                family="binomial")
    assert post.sampler == "nuts"
    assert post.sampler_note == "the collapsed sampler does not apply: it is for the gaussian family, not 'binomial'"
    assert "NUTS ran because the collapsed sampler does not apply" in str(post)


def test_a_non_normal_fixed_effect_prior_runs_nuts():
    post = _fit("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
                priors={"b_Days": P.student_t(3, 0, 10)})
    assert post.sampler == "nuts" and "b_Days has student_t" in post.sampler_note


def test_explicit_choices_are_kept():
    s = ml.datasets.load("sleepstudy")
    assert _fit("Reaction ~ Days + (1 | Subject)", s, sampler="nuts").sampler_note is None
    with pytest.raises(ValueError, match="gaussian family"):
        _fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
             family="binomial", sampler="collapsed")


def test_the_note_survives_save_and_load(tmp_path):
    post = _fit("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"),
                family="binomial")
    path = post.save(tmp_path / "cbpp.mlfit")
    again = ml.load(path)
    assert again.sampler == "nuts" and again.sampler_note == post.sampler_note
