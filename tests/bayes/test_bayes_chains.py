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


_TWO_DEVICES = """
import os, sys, warnings
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
warnings.simplefilter("ignore")
import numpy as np
import multilevel as ml
from multilevel.bayes.sampling import _layout
assert _layout(4, "parallel") == ("parallel", 2), _layout(4, "parallel")
post = ml.bayes("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"), chains=4,
                draws=200, warmup=200, seed=3, progress=False, chain_method="parallel")
d = post.draws["b_Days"]
assert d.shape == (4, 200) and np.isfinite(d).all()
assert not np.array_equal(d[0], d[2])  # the chains of the two devices differ
assert abs(d.mean() - 10.47) < 1.0, d.mean()  # lme4: 10.467
print("ok")
"""


def test_chains_split_over_two_devices():
    # the layout a machine with several GPUs gets (jax.pmap over the devices, chains
    # vectorised on each), on two CPU devices; the device count is fixed when JAX starts,
    # so in a process of its own
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", _TWO_DEVICES], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
