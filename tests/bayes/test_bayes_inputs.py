"""Bad input to ml.bayes fails early with one-line errors; the public API imports lazily."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import multilevel as ml
from multilevel.bayes.fit import prepare


@pytest.fixture(scope="module")
def df():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(5), 6)
    return pd.DataFrame({"y": rng.normal(size=30), "x": rng.normal(size=30), "g": g,
                         "cnt": rng.poisson(2, 30), "b01": rng.integers(0, 2, 30),
                         "sex": pd.Categorical(rng.choice(["F", "M"], 30), categories=["M", "F"])})


def _one_line(exc_info):
    assert "\n" not in str(exc_info.value)
    return str(exc_info.value)


@pytest.mark.parametrize("kwargs, message", [
    (dict(family="tweedie"),
     "unknown family 'tweedie' for ml.bayes; choose one of: gaussian, student, binomial, poisson, "
     "negative_binomial, nbinom1, gamma, beta, betabinomial, cumulative"),
    (dict(family="binomial", link="log"), "link 'log' is not available for the binomial family"),
    (dict(family="poisson", link="identity"), "link 'identity' is not available for the poisson family"),
    (dict(chains=0), "chains must be an integer >= 1"),
    (dict(draws=2.5), "draws must be an integer >= 1"),
    (dict(warmup=-1), "warmup must be an integer >= 0"),
    (dict(target_accept=1.0), "target_accept must be a number between 0 and 1"),
    (dict(max_tree_depth=0), "max_tree_depth must be an integer >= 1"),
    (dict(chain_method="pmap"), "chain_method must be one of auto, vectorized, parallel, sequential"),
    (dict(sampler="gibbs"), "sampler must be 'auto', 'collapsed' or 'nuts'"),
    (dict(seed=-4), "seed must be a non-negative integer"),
    (dict(priors={"b_z": ml.priors.normal(0, 1)}), "unknown prior key 'b_z'"),
])
def test_bad_arguments(df, kwargs, message):
    with pytest.raises(ValueError) as err:
        ml.bayes("y ~ x + (1 | g)", df, progress=False, **kwargs)
    assert message in _one_line(err)


def test_response_checks_reuse_family_checks(df):
    with pytest.raises(ValueError) as err:
        prepare("y ~ x + (1 | g)", df, family="binomial")
    assert "has values outside [0, 1]" in _one_line(err)
    neg = df.assign(cnt=df.cnt - 5)
    with pytest.raises(ValueError) as err:
        prepare("cnt ~ x + (1 | g)", neg, family="poisson")
    assert "has negative values" in _one_line(err)
    with pytest.raises(ValueError) as err:
        prepare("x2 ~ x + (1 | g)", df.assign(x2=df.x.abs()), family="poisson")
    assert "non-integer values" in _one_line(err)


def test_binomial_response_forms(df):
    m = prepare("sex ~ x + (1 | g)", df, family="binomial")  # factor: first level is failure
    np.testing.assert_array_equal(m.data["y"], (df.sex == "F").to_numpy(float))
    m = prepare("cbind(cnt, 3) ~ x + (1 | g)", df, family="binomial")
    np.testing.assert_array_equal(m.data["k"], df.cnt.to_numpy(float))
    np.testing.assert_array_equal(m.data["w"], df.cnt.to_numpy(float) + 3)
    prop = df.assign(p=df.cnt / 10)
    m = prepare("p ~ x + (1 | g)", prop, family="binomial", weights=np.full(30, 10.0))
    np.testing.assert_array_equal(m.data["k"], df.cnt.to_numpy(float))
    with pytest.raises(ValueError, match="do not pass weights="):
        prepare("cbind(cnt, 3) ~ x + (1 | g)", df, family="binomial", weights=np.ones(30))


def test_formula_errors(df):
    with pytest.raises(ml.FormulaError):
        prepare("y ~ x + (1 | )", df)
    with pytest.raises(ValueError) as err:
        prepare("y ~ nope + (1 | g)", df)
    assert "nope" in _one_line(err)


def test_collapsed_requirements(df):
    with pytest.raises(ValueError) as err:
        ml.bayes("b01 ~ x + (1 | g)", df, family="binomial", sampler="collapsed", progress=False)
    assert "sampler='collapsed' is for the gaussian family" in _one_line(err)
    with pytest.raises(ValueError) as err:
        ml.bayes("y ~ x + (1 | g)", df, sampler="collapsed", progress=False,
                 priors={"b": ml.priors.student_t(3, 0, 1)})
    assert "needs normal priors on the fixed effects" in _one_line(err)


def test_import_is_lazy_and_api_is_public():
    code = ("import sys, multilevel as ml; assert 'jax' not in sys.modules and 'numpyro' not in sys.modules; "
            "p = ml.priors.normal(0, 1); assert 'jax' not in sys.modules; "
            "assert callable(ml.bayes) and 'bayes' in ml.__all__ and 'priors' in ml.__all__; "
            "import multilevel.bayes.fit; assert callable(ml.bayes); print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
