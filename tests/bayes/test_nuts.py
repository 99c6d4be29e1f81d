"""The NUTS kernel: Stan's warmup schedule, exact moments of known targets, and
agreement with NumPyro's own NUTS on a multilevel model."""

import warnings

import numpy as np
import pytest

jax = pytest.importorskip("jax")
numpyro = pytest.importorskip("numpyro")

import jax.numpy as jnp  # noqa: E402

import multilevel as ml  # noqa: E402
from multilevel.bayes.diagnostics import ess_bulk  # noqa: E402
from multilevel.bayes.fit import _enable_x64, prepare  # noqa: E402
from multilevel.bayes.nuts import NutsKernel, adaptation_windows  # noqa: E402
from multilevel.bayes.sampling import FlatLayout  # noqa: E402

_enable_x64()


def _windows(update):
    ends = np.flatnonzero(update) + 1
    return list(zip(np.r_[0, ends[:-1]], ends))


@pytest.mark.parametrize("warmup, ends", [
    (1000, [100, 150, 250, 450, 950]),  # Stan's default: 75 + 25, 50, 100, 200, 500 (stretched) + 50
    (500, [100, 150, 250, 450]),  # the last window, 200, ends at the terminal buffer
    (400, [100, 150, 350]),  # 75 + 25, 50, then 100 stretched to the terminal buffer
    (2000, [100, 150, 250, 450, 850, 1950]),
    (150, [100]),  # exactly init + base + term: one window
    (100, [90]),  # short warmup: 15% / 75% / 10%
])
def test_adaptation_windows_are_stans(warmup, ends):
    collect, update = adaptation_windows(warmup)
    assert (np.flatnonzero(update) + 1).tolist() == ends
    init = 75 if warmup >= 150 else int(0.15 * warmup)
    assert not collect[:init].any() and collect[init:ends[-1]].all() and not collect[ends[-1]:].any()


@pytest.mark.parametrize("warmup", [20, 60, 100, 149, 150, 300, 400, 500, 1000, 2000, 5000])
def test_adaptation_windows_match_numpyros_schedule(warmup):
    from numpyro.infer.hmc_util import build_adaptation_schedule

    windows = build_adaptation_schedule(warmup)[1:-1]  # without the initial and terminal buffers
    collect, update = adaptation_windows(warmup)
    assert (np.flatnonzero(update) + 1).tolist() == [w.end + 1 for w in windows]
    assert int(collect.sum()) == sum(w.end + 1 - w.start for w in windows)


def test_no_windows_for_tiny_warmup():
    collect, update = adaptation_windows(19)
    assert not collect.any() and not update.any()


def _gaussian(cov):
    prec = jnp.asarray(np.linalg.inv(cov))
    return jax.value_and_grad(lambda z, mu: 0.5 * (z - mu) @ prec @ (z - mu))


def _sample(kernel, mu, chains=4, draws=1000, seed=0):
    run = jax.jit(jax.vmap(kernel.run, in_axes=(0, 0, None, None)))
    rng = np.random.default_rng(seed)
    states = [kernel.init(rng.uniform(-2, 2, kernel.dim), np.ones(kernel.dim),
                          np.array([seed, c], dtype=np.uint32)) for c in range(chains)]
    states = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *states)
    st, bufs = run(states, kernel.buffers(draws, (chains,)), kernel.warmup + draws, mu)
    return st, jax.tree_util.tree_map(np.asarray, bufs)


@pytest.mark.parametrize("dense", [False, True])
def test_moments_of_a_correlated_gaussian(dense):
    d = 6
    sd = np.array([0.1, 0.5, 1.0, 2.0, 5.0, 20.0])
    R = 0.6 ** np.abs(np.subtract.outer(np.arange(d), np.arange(d)))
    cov = R * np.outer(sd, sd)
    mu = np.linspace(-3, 3, d)
    kernel = NutsKernel(_gaussian(cov), d, warmup=500, target_accept=0.8, max_tree_depth=10, dense_mass=dense)
    st, bufs = _sample(kernel, mu)
    z = bufs["z"]  # (chains, draws, d)
    assert np.all(np.asarray(st.iteration) == 1500)
    ess = np.array([ess_bulk(z[..., i]) for i in range(d)])
    assert ess.min() > 800
    mcse = sd / np.sqrt(ess)
    np.testing.assert_array_less(np.abs(z.mean(axis=(0, 1)) - mu), 5 * mcse)
    var = z.reshape(-1, d).var(axis=0)
    np.testing.assert_allclose(var, sd ** 2, rtol=0.15)
    assert not bufs["diverging"].any()
    # the adaptation reaches about the target acceptance statistic (dual averaging's final
    # step size, the average of the log step sizes, usually gives a little more)
    assert 0.7 < bufs["accept_prob"].mean() < 0.95
    # the adapted inverse metric estimates the covariance (its diagonal, when diagonal)
    imm = np.asarray(st.inv_mass)
    got = np.diagonal(imm, axis1=1, axis2=2) if dense else imm
    np.testing.assert_allclose(got, np.broadcast_to(sd ** 2, got.shape), rtol=0.35)


def test_dense_metric_takes_shorter_trajectories_on_a_narrow_ridge():
    cov = np.array([[1.0, 0.995], [0.995, 1.0]])
    mu = np.zeros(2)
    steps = {}
    for dense in (False, True):
        kernel = NutsKernel(_gaussian(cov), 2, warmup=400, target_accept=0.8, max_tree_depth=10,
                            dense_mass=dense)
        _, bufs = _sample(kernel, mu, chains=2, draws=400)
        steps[dense] = bufs["num_steps"].mean()
        np.testing.assert_allclose(bufs["z"].reshape(-1, 2).var(axis=0), 1.0, rtol=0.25)
    assert steps[True] < steps[False] / 3


def test_a_too_long_step_diverges():
    kernel = NutsKernel(_gaussian(np.eye(3)), 3, warmup=0, target_accept=0.8, max_tree_depth=10)
    z = jnp.ones(3)
    pe, g = kernel.vg(z, jnp.zeros(3))
    t = kernel._trajectory(z, pe, g, 50.0, 10, jax.random.PRNGKey(0), jnp.ones(3), jnp.ones(3), jnp.zeros(3))
    assert bool(t.diverging) and int(t.depth) == 1
    np.testing.assert_array_equal(np.asarray(t.z_prop), np.asarray(z))  # the divergent half is not taken
    t = kernel._trajectory(z, pe, g, 0.5, 10, jax.random.PRNGKey(0), jnp.ones(3), jnp.ones(3), jnp.zeros(3))
    assert not bool(t.diverging) and bool(t.turning)


def test_flat_layout_round_trip():
    lay = FlatLayout({"sigma": (), "_z1": (4, 2), "_z0": (3,), "b": (2,), "L": (3,)})
    assert lay.names == ("L", "b", "sigma", "_z0", "_z1") and lay.n_theta == 6 and lay.dim == 17
    rng = np.random.default_rng(1)
    values = {n: rng.normal(size=(5,) + s) for n, s in lay.shapes.items()}
    flat = lay.flatten(values, lead=(5,))
    assert flat.shape == (5, 17)
    back = lay.unflatten(flat)
    for n in lay.names:
        np.testing.assert_array_equal(back[n], values[n])


def test_agrees_with_numpyros_nuts_on_a_random_slope_model():
    # the same NumPyro model sampled by numpyro.infer.NUTS and by ml.bayes
    from numpyro.infer import MCMC, NUTS

    data = ml.datasets.load("sleepstudy")
    formula = "Reaction ~ Days + (Days | Subject)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = ml.bayes(formula, data, chains=4, draws=1000, warmup=1000, seed=3, progress=False,
                        keep_ranef=False)
    model = prepare(formula, data)
    args = model.jax_inputs()
    mcmc = MCMC(NUTS(model.model_fn()), num_warmup=1000, num_samples=1000, num_chains=4,
                chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(5), *args)
    ref = {k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}
    ours = post.draws
    pairs = {"sigma": ref["sigma"], "sd_Subject__Intercept": ref["_sd0"][..., 0],
             "sd_Subject__Days": ref["_sd0"][..., 1]}
    for name, r in pairs.items():
        a = ours[name]
        se = np.hypot(a.std() / np.sqrt(ess_bulk(a)), r.std() / np.sqrt(ess_bulk(r)))
        assert abs(a.mean() - r.mean()) < 4 * se, name
        assert abs(a.std() / r.std() - 1) < 0.12, name


def test_a_trajectory_of_about_one_period_turns():
    # a well-conditioned 200-d Gaussian with the exact metric: every coordinate turns back
    # after pi / 0.4 steps, so no trajectory needs more than 16 steps (depth 4, or 5 when the
    # doubling overshoots); the plain summed-momenta criterion missed such U-turns and ran on
    d = 200
    sd = np.exp(np.random.default_rng(0).uniform(-1, 1, d))
    kernel = NutsKernel(jax.value_and_grad(lambda z, s: 0.5 * jnp.sum((z / s) ** 2)), d, warmup=0,
                        target_accept=0.8, max_tree_depth=10)
    imm = jnp.asarray(sd ** 2)
    traj = jax.jit(jax.vmap(lambda z, key: kernel._trajectory(z, *kernel.vg(z, sd), 0.4, 10, key, imm,
                                                               1.0 / jnp.sqrt(imm), sd)))
    z = np.random.default_rng(1).normal(size=(100, d)) * sd
    t = traj(jnp.asarray(z), jax.random.split(jax.random.PRNGKey(0), 100))
    assert np.asarray(t.turning).all() and np.asarray(t.depth).max() <= 5
