"""Running NUTS on a NumPyro model: starting values, compiled drivers cached per model shape.

The model, its distributions and its constraining transforms are NumPyro's;
the kernel is :mod:`multilevel.bayes.nuts` (multinomial NUTS with Stan's
windowed step-size and mass-matrix adaptation) working on one flat vector of
the unconstrained parameters (:class:`FlatLayout`). Initialisation, warmup and
sampling are one compiled loop, compiled once per model structure and settings
(model arguments, data and prior values, are traced arguments) and reused by
later fits of the same shape (another seed, other data of the same size).
Chains run vectorised (``jax.vmap``), on several devices (``jax.pmap``) or one
after another; the loop runs in chunks so a progress bar can follow it.

Each draw is stored constrained, mapped inside the loop by the transforms
NumPyro uses for the sites' supports (their parameters traced, so fits with
other prior values share the compiled loop); the standardised random effects
are stored as float32.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from ..linalg.threads import blas_threads  # noqa: F401  (re-exported: the samplers scope their BLAS with it)

__all__ = ["SamplerConfig", "RunResult", "run_nuts", "site_transforms", "blas_threads", "cpu_cores"]

#: compiled drivers kept for reuse, keyed by model structure and settings
_RUNNERS: "OrderedDict[tuple, _Runner]" = OrderedDict()
_RUNNERS_SIZE = 8
#: number of progress-bar updates per run
_CHUNKS = 20
#: chain layouts that run the compiled one-chain functions (one after another or in threads)
_ONE_CHAIN = ("sequential", "threads")


@dataclass(frozen=True)
class SamplerConfig:
    """Settings of one NUTS run.

    Attributes
    ----------
    chains, draws, warmup : int
    chain_method : {"vectorized", "parallel", "sequential"}
    target_accept : float
    max_tree_depth : int
    progress : bool
    keep_ranef : bool
        Collect the standardised random effects (``_z`` sites).
    dense_mass : bool
        Adapt a dense mass matrix (Stan's ``dense_e``) instead of a diagonal one.

    Examples
    --------
    >>> SamplerConfig(chains=2, draws=100, warmup=100, chain_method="vectorized", target_accept=0.8,
    ...               max_tree_depth=10, progress=False).chains
    2
    """

    chains: int
    draws: int
    warmup: int
    chain_method: str
    target_accept: float
    max_tree_depth: int
    progress: bool
    keep_ranef: bool = True
    dense_mass: bool = False


@dataclass(frozen=True)
class RunResult:
    """Raw output of a run.

    Attributes
    ----------
    samples : dict of ndarray (chains, draws, ...)
        Constrained values of every collected site (``_z`` sites float32).
    stats : dict of ndarray (chains, draws)
        ``diverging``, ``n_steps``, ``tree_depth``, ``energy``, ``acceptance_rate``,
        ``step_size``, ``lp`` (log density, Jacobians included, on the sampler's scale).
    seconds : float
        Wall time of the run, compilation included.

    Examples
    --------
    >>> RunResult(samples={}, stats={}, seconds=0.0).seconds
    0.0
    """

    samples: dict
    stats: dict
    seconds: float


def site_transforms(sites: dict) -> dict:
    """``{site: (bijector, unconstrained shape, distribution)}`` from ``{site: distribution}``.

    Examples
    --------
    >>> import numpyro.distributions as dist
    >>> t = site_transforms({"L": dist.LKJCholesky(3, 1.0), "s": dist.HalfNormal(1.0)})
    >>> t["L"][1], t["s"][1]
    ((3,), ())
    """
    from numpyro.distributions import biject_to

    out = {}
    for name, fn in sites.items():
        t = biject_to(fn.support)
        out[name] = (t, tuple(t.inverse_shape(fn.shape())), fn)
    return out


def _base(fn):
    import numpyro.distributions as dist

    return fn.base_dist if isinstance(fn, dist.Independent) else fn


def _center_value(name: str, fn, scale: float):
    """A constrained starting point for a site, before jitter (None: unconstrained zero)."""
    from numpyro.distributions import constraints

    supp = fn.support
    base = getattr(supp, "base_constraint", supp)
    shape = tuple(fn.shape())
    if name.startswith("_z") or base is constraints.corr_cholesky:
        return None  # z = 0; the identity correlation matrix
    if base is constraints.ordered_vector:  # ordered thresholds: the given start
        return np.asarray(scale[name], dtype=float)
    if base is constraints.real:
        loc = getattr(_base(fn), "loc", None)
        return np.broadcast_to(np.zeros(()) if loc is None else np.asarray(loc, dtype=float), shape)
    # positive or interval support: the data's scale, kept inside the support
    lo = np.broadcast_to(np.asarray(getattr(base, "lower_bound", 0.0), dtype=float), shape)
    hi = np.broadcast_to(np.asarray(getattr(base, "upper_bound", np.inf), dtype=float), shape)
    per_site = scale.get(name) if isinstance(scale, dict) else None
    default = scale.get("", 1.0) if isinstance(scale, dict) else scale
    target = np.broadcast_to(np.asarray(per_site, dtype=float), shape) if per_site is not None \
        else np.full(shape, 10.0 if name == "nu" else default)
    finite = np.isfinite(hi)
    width = np.where(finite, hi - lo, 1.0)
    return np.clip(target, lo + 0.01 * width, np.where(finite, hi - 0.01 * width, np.inf))


def init_params(transforms: dict, chains: int, seed: int, scale: float, radius: float = 1.0) -> dict:
    """Unconstrained starting values (chains, ...), jittered ``U(-radius, radius)``.

    Random effects start near zero, correlations near the identity, fixed
    effects near their prior's location (jittered by a tenth of its scale), and
    standard deviations near the data's scale ``scale``, each chain a little apart.
    ``scale`` may be a dict: per-site starting values of positive parameters
    (e.g. each SD in the units of its effect), with ``""`` for the others.

    Examples
    --------
    >>> import numpyro.distributions as dist
    >>> u = init_params(site_transforms({"sd": dist.HalfNormal(5.0)}), chains=4, seed=0, scale=2.0)
    >>> u["sd"].shape, bool(np.all(np.abs(u["sd"] - np.log(2.0)) <= 1))
    ((4,), True)
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, (t, ushape, fn) in transforms.items():
        jitter = rng.uniform(-radius, radius, size=(chains,) + ushape)
        center = _center_value(name, fn, scale)
        u0 = np.zeros(ushape) if center is None else np.asarray(_transform()(t.inv, center))
        if name.startswith("_b"):
            spread = np.asarray(getattr(_base(fn), "scale", 1.0), dtype=float)
            jitter = jitter * 0.1 * np.broadcast_to(spread, ushape)
        out[name] = u0 + jitter
    return out


class FlatLayout:
    """Where each site's unconstrained value lies in the flat vector the kernel samples.

    Sites other than the standardised random effects (``_z``) come first,
    then the ``_z`` sites, each group in name order, so the draws can be kept
    as two slices: the few parameters in float64 and the many random effects
    in float32.

    Examples
    --------
    >>> lay = FlatLayout({"sigma": (), "_z0": (3, 2), "b": (2,)})
    >>> lay.names, lay.n_theta, lay.dim
    (('b', 'sigma', '_z0'), 3, 9)
    """

    def __init__(self, shapes: dict):
        names = sorted(n for n in shapes if not n.startswith("_z")) + sorted(n for n in shapes if n.startswith("_z"))
        self.names = tuple(names)
        self.shapes = {n: tuple(shapes[n]) for n in names}
        self.sizes = {n: int(np.prod(self.shapes[n], dtype=int)) for n in names}
        self.offsets, o = {}, 0
        for n in names:
            self.offsets[n] = o
            o += self.sizes[n]
        self.dim = o
        self.n_theta = sum(self.sizes[n] for n in names if not n.startswith("_z"))

    def key(self) -> tuple:
        return tuple((n, self.shapes[n]) for n in self.names)

    def unflatten(self, flat) -> dict:
        """``{site: value}`` from a flat vector (JAX or NumPy; leading axes kept)."""
        lead = flat.shape[:-1]
        return {n: flat[..., self.offsets[n]:self.offsets[n] + self.sizes[n]].reshape(lead + self.shapes[n])
                for n in self.names}

    def flatten(self, values: dict, lead: tuple = ()) -> np.ndarray:
        """A flat NumPy vector (or ``lead + (dim,)`` array) from ``{site: value}``."""
        parts = [np.broadcast_to(np.asarray(values[n], dtype=float), lead + self.shapes[n]).reshape(lead + (-1,))
                 for n in self.names]
        return np.concatenate(parts, axis=-1) if parts else np.zeros(lead + (0,))


class _Runner:
    """The compiled sampling loop of one model and settings (the kernel in
    :mod:`multilevel.bayes.nuts`, the potential energy from the NumPyro model).

    The loop's arguments are ``(model arguments, {site: transform})``: each draw
    is recorded constrained (the transforms to the sites' supports, whose
    parameters, e.g. a uniform prior's bounds, are traced), the standardised
    random effects (``_z`` sites) as one float32 vector.
    """

    def __init__(self, model, cfg: SamplerConfig, layout: FlatLayout):
        import jax
        import jax.numpy as jnp
        from numpyro.infer.util import potential_energy

        from .nuts import NutsKernel
        from .xla import compiler_options

        T = layout.n_theta
        keep = cfg.keep_ranef and layout.dim > T
        params = [n for n in layout.names if not n.startswith("_z")]

        def potential(flat, args):
            return potential_energy(model, args[0], {}, layout.unflatten(flat))

        def record(z, args):
            transforms = args[1]
            out = {}
            for n in params:
                o = layout.offsets[n]
                out[n] = transforms[n](z[o:o + layout.sizes[n]].reshape(layout.shapes[n]))
            if keep:
                out["_z"] = z[T:].astype(jnp.float32)
            return out

        self.kernel = NutsKernel(jax.value_and_grad(potential), layout.dim, cfg.warmup, cfg.target_accept,
                                 cfg.max_tree_depth, dense_mass=cfg.dense_mass, record=record)
        self.method = cfg.chain_method
        run = self.kernel.run
        opts = compiler_options()
        if self.method in _ONE_CHAIN:
            self.step = jax.jit(run, donate_argnums=(0, 1), compiler_options=opts)
        elif self.method == "parallel":
            self.step = jax.pmap(jax.vmap(run, in_axes=(0, 0, None, None)), in_axes=(0, 0, None, None))
        else:
            self.step = jax.jit(jax.vmap(run, in_axes=(0, 0, None, None)), donate_argnums=(0, 1),
                                compiler_options=opts)


def _runner(model, cfg: SamplerConfig, key, layout: FlatLayout) -> _Runner:
    if key is None:
        return _Runner(model, cfg, layout)
    chains = "one-chain" if cfg.chain_method in _ONE_CHAIN else cfg.chain_method
    full = (key, layout.key(), cfg.chains, cfg.warmup, chains, cfg.target_accept, cfg.max_tree_depth,
            cfg.keep_ranef, cfg.dense_mass)
    if full in _RUNNERS:
        _RUNNERS.move_to_end(full)
        return _RUNNERS[full]
    r = _Runner(model, cfg, layout)
    _RUNNERS[full] = r
    while len(_RUNNERS) > _RUNNERS_SIZE:
        _RUNNERS.popitem(last=False)
    return r


_TRANSFORM: list = []


def _transform():
    """``f(transform, x) = transform(x)``, compiled once per kind of transform and shape.

    NumPyro's transforms are pytrees (their parameters, e.g. a uniform prior's
    bounds, are leaves), so the compiled function is shared by every fit whose
    sites have transforms of the same kinds; applied eagerly instead, each of
    a transform's operations would compile on its own in a new process. Pass
    ``t`` to constrain and ``t.inv`` to unconstrain.
    """
    if not _TRANSFORM:
        import jax

        _TRANSFORM.append(jax.jit(lambda t, x: t(x)))
    return _TRANSFORM[0]


def _raw_keys(seed: int, n: int) -> np.ndarray:
    """``n`` PRNG keys of JAX's default implementation from ``seed``, made in NumPy.

    Random key data is a valid key for JAX's counter-based generators; made
    here it costs no compilation (``jax.random.split`` compiles two functions
    in each new process).
    """
    import jax

    proto = jax.eval_shape(lambda: jax.random.PRNGKey(0))
    rng = np.random.default_rng([seed, 0x5EED])
    return rng.integers(0, 2 ** 32, size=(n,) + tuple(proto.shape), dtype=np.uint64).astype(proto.dtype)


def _chunks(total: int, progress: bool) -> list[int]:
    if total <= 0:
        return []
    if not progress:
        return [total]
    size = max(1, -(-total // _CHUNKS))
    return [min(size, total - a) for a in range(0, total, size)]


def cpu_cores() -> int:
    """Cores this process may run on.

    Examples
    --------
    >>> cpu_cores() >= 1
    True
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _layout(chains: int, method: str) -> tuple[str, int]:
    """The chain layout actually used and its width (devices or threads).

    ``"auto"`` runs the chains in threads on a CPU with several cores (each
    chain its own compiled loop, so no chain waits for another's longer
    trajectories, and the cores work at once) and vectorised on an
    accelerator. ``"parallel"`` spreads the chains over several devices, or
    over threads when the only device is a CPU.
    """
    import jax

    if method == "auto":
        if jax.default_backend() == "cpu" and chains > 1 and cpu_cores() > 1:
            return "threads", min(chains, cpu_cores())
        return "vectorized", 1
    if method != "parallel":
        return method, 1
    ndev = jax.local_device_count()
    if ndev == 1 and jax.default_backend() == "cpu":
        return "threads", max(1, min(chains, cpu_cores()))
    if ndev < 2 or chains % ndev:
        warnings.warn(f"chain_method='parallel' needs the chains ({chains}) to divide evenly over "
                      f"several devices ({ndev} found); running them vectorized instead", stacklevel=4)
        return "vectorized", 1
    return "parallel", ndev


def run_nuts(model, args: tuple, sites: dict, cfg: SamplerConfig, seed: int, scale: float = 1.0,
             cache_key=None, inverse_mass: dict | None = None, background=None) -> RunResult:
    """Sample ``model(*args)`` with NUTS and return constrained draws and sampler statistics.

    Parameters
    ----------
    model : callable
        A NumPyro model.
    args : tuple
        Its arguments (pytrees of JAX arrays), traced by the compiled functions.
    sites : dict
        ``{site: distribution}`` of the model's latent sites, with concrete
        parameters (they give the transforms to the constrained values).
    cfg : SamplerConfig
    seed : int
    scale : float
        Typical scale of standard deviations (for starting values).
    cache_key : hashable, optional
        Identifies ``model`` (its structure): the compiled functions are kept
        under it and reused by the next run with the same key and settings.
    inverse_mass : dict, optional
        Initial diagonal of the inverse mass matrix per site (unconstrained
        variances); the rest start at 1. Adaptation replaces it during warmup.
    background : callable, optional
        Run (without arguments) while the sampler compiles, in another
        thread: e.g. compiling the function applied to the draws afterwards.

    Returns
    -------
    RunResult

    Examples
    --------
    >>> import numpyro, numpyro.distributions as dist
    >>> def model(y):
    ...     mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    ...     numpyro.factor("lik", dist.Normal(mu, 1.0).log_prob(y).sum())
    >>> cfg = SamplerConfig(chains=1, draws=50, warmup=50, chain_method="vectorized", target_accept=0.8,
    ...                     max_tree_depth=4, progress=False)
    >>> run = run_nuts(model, (np.array([1.0, 2.0, 3.0]),), {"mu": dist.Normal(0.0, 10.0)}, cfg, seed=0)
    >>> run.samples["mu"].shape, bool(abs(run.samples["mu"].mean() - 2.0) < 1.0)
    ((1, 50), True)
    """
    import jax

    t0 = time.perf_counter()
    transforms = site_transforms(sites)
    layout = FlatLayout({nm: shp for nm, (_, shp, _) in transforms.items()})
    method, ndev = _layout(cfg.chains, cfg.chain_method)
    cfg_used = cfg if method == cfg.chain_method else SamplerConfig(**{**cfg.__dict__, "chain_method": method})
    runner = _runner(model, cfg_used, cache_key, layout)
    kernel = runner.kernel
    one_chain = method in _ONE_CHAIN
    C = cfg.chains
    u0 = layout.flatten(init_params(transforms, C, seed, scale), lead=(C,))
    imm = layout.flatten({nm: (inverse_mass or {}).get(nm, 1.0) for nm in layout.names})
    keys = _raw_keys(seed, C)
    states = [kernel.init(u0[c], imm, keys[c]) for c in range(C)]
    lead = () if one_chain else (ndev, C // ndev) if method == "parallel" else (C,)
    if not one_chain:  # one state with the chains stacked (and split over the devices)
        stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *states)
        states = jax.tree_util.tree_map(lambda x: x.reshape(lead + x.shape[1:]), stacked)

    # the model's arguments and the transforms to the constrained values of the draws
    args = (args, {nm: transforms[nm][0] for nm in layout.names if not nm.startswith("_z")})

    empty = kernel.buffers(cfg.draws, lead, args)  # zero buffers for the draws, (..., draws, ...)

    def alloc():  # a fresh set of them on the device, filled in place
        return jax.device_put(jax.tree_util.tree_map(np.zeros_like, empty))

    # compile the sampling loop (and ``background``, e.g. the collapsed sampler's effect
    # draws) at the same time, on a multi-core CPU; on a refit they are found compiled. The
    # loop, the longer compilation, is traced here first: tracing holds Python's lock, so
    # traced in two threads at once the two would both start compiling late
    jobs = []
    if method != "parallel":  # jax.pmap compiles on its first call
        proto = states[0] if one_chain else states
        shapes = jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype),
                                        (proto, empty))
        jobs.append(runner.step.lower(*shapes, 0, args).compile)
    if background is not None:
        jobs.append(background)
    if len(jobs) > 1 and cpu_cores() > 1:
        with ThreadPoolExecutor(max_workers=min(len(jobs), cpu_cores())) as pool:
            for f in [pool.submit(j) for j in jobs]:
                f.result()
    else:
        for j in jobs:
            j()

    total = cfg.warmup + cfg.draws
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total * (C if one_chain else 1), desc="warmup", leave=True)

    stop = threading.Event()  # set when the caller is interrupted: threads end after their chunk

    def advance(state, b, label="", chunked=cfg.progress):
        done = 0
        for n in _chunks(total, chunked):
            if stop.is_set():
                raise KeyboardInterrupt
            state, b = runner.step(state, b, done + n, args)
            done += n
            if bar is not None or chunked:
                jax.block_until_ready(state)
            if bar is not None:
                bar.update(n)
                bar.set_description(label + ("warmup" if done < cfg.warmup else "sample"))
        return b

    try:
        if method == "sequential":
            outs = [jax.device_get(advance(states[c], alloc(), f"chain {c + 1}/{C} ")) for c in range(C)]
            draws = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *outs)
        elif method == "threads":
            bufs = [alloc() for _ in range(C)]
            pool = ThreadPoolExecutor(max_workers=ndev)
            try:
                # in chunks, so that an interrupted call returns after the current chunk
                futures = [pool.submit(lambda c: jax.device_get(advance(states[c], bufs[c], chunked=True)), c)
                           for c in range(C)]
                outs = [f.result() for f in futures]
            except BaseException:
                stop.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            pool.shutdown(wait=True)
            draws = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *outs)
        else:
            draws = jax.device_get(advance(states, alloc()))
            if method == "parallel":
                draws = jax.tree_util.tree_map(lambda x: x.reshape((C,) + x.shape[2:]), draws)
    finally:
        if bar is not None:
            bar.close()
    samples = {}
    T = layout.n_theta
    for name in layout.names:
        if not name.startswith("_z"):
            samples[name] = np.asarray(draws[name])
        elif "_z" in draws:
            o = layout.offsets[name] - T
            samples[name] = np.asarray(draws["_z"][..., o:o + layout.sizes[name]], dtype=np.float32).reshape(
                (C, cfg.draws) + layout.shapes[name])
    stats = {
        "diverging": np.asarray(draws["diverging"], dtype=bool),
        "n_steps": np.asarray(draws["num_steps"]).astype(np.int64),
        "tree_depth": np.asarray(draws["tree_depth"]).astype(np.int64),
        "energy": np.asarray(draws["energy"], dtype=float),
        "acceptance_rate": np.asarray(draws["accept_prob"], dtype=float),
        "step_size": np.asarray(draws["step_size"], dtype=float),
        "lp": -np.asarray(draws["potential_energy"], dtype=float),
    }
    return RunResult(samples=samples, stats=stats, seconds=time.perf_counter() - t0)
