"""How chains run: threads on a multi-core CPU give exactly the sequential draws."""

import warnings

import numpy as np
import pytest

import multilevel as ml
from multilevel.bayes.sampling import _layout, cpu_cores


@pytest.fixture(scope="module")
def sleepstudy():
    return ml.datasets.load("sleepstudy")


def _fit(data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ml.bayes("Reaction ~ Days + (1 | Subject)", data, chains=2, draws=60, warmup=60,
                        seed=11, progress=False, **kw)


def test_layout_on_cpu():
    threads = ("threads", min(4, cpu_cores())) if cpu_cores() > 1 else ("vectorized", 1)
    assert _layout(4, "auto") == threads
    assert _layout(1, "auto") == ("vectorized", 1)
    assert _layout(4, "sequential") == ("sequential", 1)
    assert _layout(4, "parallel")[0] == "threads"  # one CPU device: threads, not a warning


@pytest.mark.parametrize("sampler", ["nuts", "collapsed"])
def test_threads_equal_sequential(sleepstudy, sampler):
    # each chain runs the same compiled loop from the same key, whichever thread runs it
    seq = _fit(sleepstudy, chain_method="sequential", sampler=sampler)
    par = _fit(sleepstudy, chain_method="parallel", sampler=sampler)
    for name in ("b_Days", "sd_Subject__Intercept", "sigma"):
        np.testing.assert_array_equal(seq.draws[name], par.draws[name])
    np.testing.assert_array_equal(seq.stats["n_steps"], par.stats["n_steps"])
    assert not np.array_equal(par.draws["sigma"][0], par.draws["sigma"][1])  # chains differ
