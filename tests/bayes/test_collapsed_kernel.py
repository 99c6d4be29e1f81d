"""The compiled collapsed density (one grouping factor) against the JAX expression it replaces.

The JAX expression (:func:`multilevel.bayes.collapsed._loglik`) is itself checked
against dense normal algebra in ``test_collapsed.py``; here the compiled value and
its hand-derived gradient must equal it and its automatic derivative.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

jax = pytest.importorskip("jax")

from multilevel.bayes import collapsed_kernel as ck  # noqa: E402
from multilevel.bayes.collapsed import _loglik, collapsed_parts  # noqa: E402
from multilevel.design import build_design  # noqa: E402

pytestmark = pytest.mark.skipif(not ck.available(), reason="the compiled density needs JAX on a CPU")


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def _data(seed, n_groups, per_group):
    rng = np.random.default_rng(seed)
    g = np.repeat(np.arange(n_groups), per_group)
    n = g.size
    df = pd.DataFrame({"x": rng.normal(size=n), "z": rng.normal(size=n), "u": rng.normal(size=n),
                       "g": [f"g{i}" for i in g], "w": rng.uniform(0.3, 3.0, n),
                       "off": rng.normal(scale=0.2, size=n)})
    df["y"] = (1.0 + df.x - 0.5 * df.z + rng.normal(size=n_groups)[g] * 2
               + rng.normal(size=n_groups)[g] * df.x + rng.normal(size=n))
    return df


RANDOM = {1: "(1 | g)", 2: "(1 + x | g)", 3: "(1 + x + z | g)", 4: "(1 + x + z + u | g)",
          -2: "(1 + x || g)", -3: "(1 + x + z || g)"}
FIXED = {1: "1", 2: "1 + x", 3: "1 + x + z", 4: "1 + x + z + u"}


def _variance_parameters(design, rng):
    sds, chols = [], []
    for t in design.terms:
        sds.append(rng.uniform(0.05, 3.0, t.k))
        A = rng.normal(size=(t.k, t.k))
        C = A @ A.T + t.k * np.eye(t.k)
        d = np.sqrt(np.diag(C))
        chols.append(np.linalg.cholesky(C / np.outer(d, d)))
    return tuple(sds), tuple(chols)


def _prior(kind, p, rng):
    m0 = rng.normal(size=p) * 3
    if kind == "flat":
        return m0, np.inf
    if kind == "partly flat":
        return m0, np.r_[np.inf, rng.uniform(0.5, 20.0, p - 1)]
    A = rng.normal(size=(p, p))
    return m0, A @ A.T + p * np.eye(p)


def _both(struct, arrays, sds, chols, sigma):
    def grads(f):
        return jax.value_and_grad(lambda s, c, sg: f(struct, arrays, s, c, sg), argnums=(0, 1, 2))

    return grads(_loglik)(sds, chols, sigma), grads(ck.loglik_one_factor)(sds, chols, sigma)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.sampled_from(sorted(RANDOM)), p=st.integers(1, 4),
       n_groups=st.integers(3, 9), per_group=st.integers(2, 6), weighted=st.booleans(),
       prior=st.sampled_from(["flat", "partly flat", "full"]))
def test_value_and_gradient_equal_the_jax_expression(seed, k, p, n_groups, per_group, weighted, prior):
    rng = np.random.default_rng(seed)
    df = _data(seed, n_groups, per_group)
    formula = f"y ~ {FIXED[p]} + {RANDOM[k]}"
    try:
        d = build_design(formula, df, weights="w" if weighted else None,
                         offset="off" if weighted else None)
    except ValueError:  # more random effects than rows, and the like: not a model to compare on
        assume(False)
    m0, S0 = _prior(prior if p > 1 or prior != "partly flat" else "full", p, rng)
    struct, arrays = collapsed_parts(d, m0, S0)
    assert not struct[3]  # one factor: no dense part
    sds, chols = _variance_parameters(d, rng)
    sigma = float(rng.uniform(0.3, 3.0))
    (v_ref, g_ref), (v, g) = _both(struct, arrays, sds, chols, sigma)
    scale = max(1.0, abs(float(v_ref)))
    assert abs(float(v) - float(v_ref)) <= 1e-10 * scale
    for a, b in zip(jax.tree_util.tree_leaves(g_ref), jax.tree_util.tree_leaves(g)):
        a, b = np.asarray(a), np.asarray(b)
        assert np.allclose(b, a, rtol=1e-7, atol=1e-8 * scale), (a, b)


def test_a_real_model_and_its_jit_and_vmap():
    """The brms notes' shape in small: four correlated effects and a proper prior; jitted, and
    vmapped over draws of the variance parameters (the chains' vectorised method)."""
    import multilevel as ml

    d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    struct, arrays = collapsed_parts(d, [250.0, 10.0], [100.0**2, 10.0**2])
    L = np.array([[1.0, 0.0], [0.07, np.sqrt(1 - 0.07**2)]])
    sds = np.array([[24.7, 5.9], [20.0, 7.0], [30.0, 4.0]])
    sigma = np.array([25.6, 27.0, 24.0])

    def one(sd, s):
        return jax.value_and_grad(lambda a, b: ck.loglik_one_factor(struct, arrays, (a,), (L,), b),
                                  argnums=(0, 1))(sd, s)

    def ref(sd, s):
        return jax.value_and_grad(lambda a, b: _loglik(struct, arrays, (a,), (L,), b),
                                  argnums=(0, 1))(sd, s)

    got, want = jax.jit(jax.vmap(one))(sds, sigma), jax.vmap(ref)(sds, sigma)
    for a, b in zip(jax.tree_util.tree_leaves(want), jax.tree_util.tree_leaves(got)):
        assert np.allclose(np.asarray(b), np.asarray(a), rtol=1e-9)


def test_a_singular_fixed_effects_block_gives_nan_as_the_jax_expression():
    """Flat prior and no information on a fixed effect: the Schur complement is singular."""
    k, p, n0 = 2, 2, 3
    T = np.eye(k)
    D0 = np.tile(np.eye(k), (n0, 1, 1))
    B0x = np.zeros((n0, k, p))
    b0y = np.ones((n0, k))
    Cxx, Q0 = np.zeros((p, p)), np.zeros((p, p))
    dT = np.zeros((k, k))
    v, ds2 = ck.value_and_grad(T, 1.0, D0, B0x, b0y, Cxx, np.zeros(p), Q0, np.zeros(p),
                               np.array([6.0, 0.0, 3.0, 0.0, 0.0]), dT)
    assert np.isnan(v) and np.isnan(ds2) and np.all(np.isnan(dT))


def test_zero_or_infinite_residual_variance_gives_nan():
    """sigma^2 underflowing to 0 (or overflowing) must not give a finite density (a NUTS
    trajectory there would be favoured by it)."""
    import multilevel as ml

    d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    _, a = collapsed_parts(d, 0.0, 1e4)
    A = {k: np.asarray(v) for k, v in a.items()}
    scal = np.array([A["n"], A["log_w"], A["syy"], A["mQm"], A["prior_const"]], dtype=float)
    for s2 in (0.0, np.inf, np.nan):
        dT = np.zeros((1, 1))
        v, ds2 = ck.value_and_grad(np.array([[1e3]]), s2, A["D0"], A["B0x"], A["b0y"], A["Cxx"],
                                   A["cxy"], A["Q0"], A["Q0m"], scal, dT)
        assert np.isnan(v) and np.isnan(ds2) and np.isnan(dT).all()


def test_outside_64_bit_mode_it_refuses_clearly():
    import multilevel as ml

    d = build_design("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    struct, a = collapsed_parts(d, 0.0, 1e4)
    with jax.enable_x64(False):
        with pytest.raises(TypeError, match="64-bit mode"):
            ck.loglik_one_factor(struct, a, (np.array([30.0]),), (None,), 25.0)


def test_the_metadata_query_without_an_api_table_reports_the_header_version():
    """Some XLA releases ask for the handler's metadata at registration with a call frame that
    carries no API table: the answer must come from the handler itself."""
    import ctypes

    class ApiVersion(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_size_t), ("ext", ctypes.c_void_p),
                    ("major", ctypes.c_int), ("minor", ctypes.c_int)]

    class Metadata(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_size_t), ("api_version", ApiVersion),
                    ("traits", ctypes.c_uint32), ("state_type_id", ctypes.c_int64)]

    class ExtensionBase(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_size_t), ("type", ctypes.c_int),
                    ("next", ctypes.c_void_p)]

    class MetadataExtension(ctypes.Structure):
        _fields_ = [("base", ExtensionBase), ("metadata", ctypes.POINTER(Metadata))]

    class Frame(ctypes.Structure):  # the head of XLA_FFI_CallFrame, the rest zeroed
        _fields_ = [("struct_size", ctypes.c_size_t), ("ext", ctypes.c_void_p),
                    ("api", ctypes.c_void_p), ("ctx", ctypes.c_void_p), ("stage", ctypes.c_int),
                    ("rest", ctypes.c_byte * 128)]

    assert Metadata.traits.offset == 32 and Frame.stage.offset == 32
    assert ck.available()
    major, minor = ck._header_version()
    handler = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p)(ck._STATE["handler"].address)
    try:
        for version in ((major, minor), (0, 99)):  # the version set now, not at compile time
            ck._VERSION[:] = version
            md = Metadata(36, ApiVersion(0, None, -1, -1), 7)
            ext = MetadataExtension(ExtensionBase(32, 1, None), ctypes.pointer(md))
            frame = Frame(168, ctypes.addressof(ext), None, None, 3)
            assert handler(ctypes.addressof(frame)) is None  # NULL: success
            assert (md.api_version.struct_size, md.api_version.major, md.api_version.minor,
                    md.traits) == (24, *version, 0)
    finally:
        ck._VERSION[:] = (major, minor)


@pytest.mark.parametrize("value, on", [("1", False), ("yes", False), ("0", True), ("", True)])
def test_switched_off_by_the_environment(monkeypatch, value, on):
    monkeypatch.setitem(ck._STATE, "registered", None)
    monkeypatch.setenv("MULTILEVEL_NO_FFI", value)
    assert ck.available() is on
    monkeypatch.delenv("MULTILEVEL_NO_FFI")
    monkeypatch.setitem(ck._STATE, "registered", None)
    assert ck.available() is True


def test_a_failure_while_registering_means_not_available(monkeypatch):
    monkeypatch.setitem(ck._STATE, "registered", None)
    monkeypatch.delitem(ck._STATE, "handler", raising=False)  # as in a new process

    def broken(*args):
        raise AttributeError("module 'jax' has no attribute 'ffi'")

    monkeypatch.setattr(ck, "_header_version", broken)
    assert ck.available() is False
    monkeypatch.undo()
    assert ck.available() is True


def test_the_collapsed_sampler_uses_it_for_one_factor_float64_models_only():
    from multilevel.bayes.collapsed_sampler import _collapsed_model, compiled_density

    one = build_design("y ~ x + (1 + x || g)", _data(1, 5, 4))
    struct, arrays = collapsed_parts(one, 0.0, 10.0)
    assert compiled_density(struct, arrays["D0"].dtype)
    assert not compiled_density(struct, np.float32)
    assert _collapsed_model(struct, None, True) is _collapsed_model(struct, None, True)  # memoised
    assert _collapsed_model(struct, None, True) is not _collapsed_model(struct, None, False)
    df = _data(2, 6, 3)
    df["h"] = np.tile(["a", "b", "c"], 6)
    struct2, arrays2 = collapsed_parts(build_design("y ~ x + (1 | g) + (1 | h)", df), 0.0, 10.0)
    assert not compiled_density(struct2, arrays2["D0"].dtype)  # a dense part: the JAX expression


def test_posterior_draws_match_the_jax_expression_path():
    """Same seed, same model: the compiled density's sampler gives the JAX path's draws (the two
    densities differ by rounding only, which a short run does not amplify beyond 1e-6)."""
    import multilevel as ml
    from multilevel.bayes import collapsed_sampler as cs
    from multilevel.bayes.fit import prepare
    from multilevel.bayes.sampling import SamplerConfig

    m = prepare("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    cfg = SamplerConfig(chains=1, draws=30, warmup=30, chain_method="sequential", target_accept=0.8,
                        max_tree_depth=6, progress=False)
    fast = cs.sample_collapsed(m, cfg, seed=3)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cs, "compiled_density", lambda *a: False)
        slow = cs.sample_collapsed(m, cfg, seed=3)
    assert np.allclose(fast[1], slow[1], rtol=1e-6, atol=1e-6)
    for name in fast[0].samples:
        assert np.allclose(np.asarray(fast[0].samples[name]), np.asarray(slow[0].samples[name]),
                           rtol=1e-6, atol=1e-8)
