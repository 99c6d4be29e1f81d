"""Compiler options of the samplers' programs and the lazily made jitted functions."""

import numpy as np
import pytest

jax = pytest.importorskip("jax")

import jax.numpy as jnp  # noqa: E402

from multilevel.bayes import xla  # noqa: E402


def test_cpu_options_are_accepted_or_left_out():
    opts = xla.compiler_options()
    if jax.default_backend() != "cpu":
        assert opts is None
    elif opts is not None:  # this XLA has the option: a program compiles with it
        assert opts == xla.CPU_OPTIONS
        f = jax.jit(lambda x: jnp.exp(x).sum(), compiler_options=opts)
        assert float(f(jnp.zeros(3))) == 3.0


def test_lazy_jit_compiles_on_first_use_and_once():
    calls = []

    def f(x, n):
        calls.append(1)  # runs while tracing only
        return x * n

    g = xla.LazyJit(f, static_argnums=1)
    assert g._jitted is None
    np.testing.assert_allclose(g(jnp.arange(3.0), 2), [0.0, 2.0, 4.0])
    g(jnp.arange(3.0) + 1, 2)
    assert len(calls) == 1
    lowered = g.lower(jnp.arange(3.0), 3)
    assert "multiply" in lowered.as_text() or "mul" in lowered.as_text()
