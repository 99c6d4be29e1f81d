"""``sampler="collapsed"``: NUTS on the variance parameters, effects drawn exactly.

For a gaussian model with normal priors on the fixed effects, the fixed and
random effects can be integrated out (:mod:`multilevel.bayes.collapsed`). NUTS
then samples only the variance parameters, with the same priors and transforms
as the full model (:func:`~multilevel.bayes.varpar.sample_varpar`), under the
log density ``log prior(varpar) + log p(y | varpar)``, with a dense mass matrix
(up to 40 parameters; they are few and often correlated); afterwards one exact
draw of ``(beta, b)`` from their conditional normal is made per posterior draw.
Where every random term groups by one factor, the density and its gradient run
as one compiled call (:mod:`multilevel.bayes.collapsed_kernel`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .collapsed import CollapsedNotApplicable
from .model import BayesModel
from .sampling import RunResult, SamplerConfig, blas_threads, run_nuts, site_transforms
from .varpar import sample_varpar, varpar_sites

__all__ = ["sample_collapsed", "fixed_normal_prior", "compiled_density"]

#: posterior draws per batch when drawing the effects
_BATCH = 256
#: most unconstrained variance parameters for which NUTS adapts a dense mass matrix
_DENSE_MASS_MAX = 40
#: largest dense block (random effects outside the first term plus fixed effects) factorised
#: with OpenBLAS on one thread; larger blocks keep its threads
_SINGLE_THREAD_DENSE = 512


def fixed_normal_prior(model: BayesModel) -> tuple[np.ndarray, np.ndarray]:
    """Mean (p,) and covariance (p, p) of the fixed effects' normal prior on the scale of X.

    With centring, the priors are independent normals on the centred
    coefficients ``beta_c = A beta`` (``A`` adds ``x_means . beta`` to the
    intercept), so on the raw scale the prior is ``N(A^-1 m, A^-1 D A^-T)``.

    Raises
    ------
    ValueError
        When a fixed effect has a prior other than an untruncated normal.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.bayes.fit import prepare
    >>> m = prepare("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> m0, S0 = fixed_normal_prior(m)
    >>> m0.round(1).tolist(), S0.shape
    ([298.5, 0.0], (2, 2))
    """
    names = model.design.fixed.names
    by = {s.name: s for s in model.slots}
    from .priors import coef_name

    mu, sd = [], []
    for nm in names:
        slot = by[f"b_{coef_name(nm)}"]
        pr = slot.prior
        if pr.dist != "normal" or pr.lower is not None:
            raise CollapsedNotApplicable(
                f"sampler='collapsed' needs normal priors on the fixed effects, but {slot.name} has "
                f"{pr}; use a normal prior or sampler='nuts'"
            )
        mu.append(pr.params[0])
        sd.append(pr.params[1])
    mu, var = np.array(mu), np.array(sd) ** 2
    p = len(names)
    Ainv = np.eye(p)
    if model.centered:
        Ainv[model.intercept, :] -= model.x_means
        Ainv[model.intercept, model.intercept] = 1.0
    return Ainv @ mu, Ainv @ np.diag(var) @ Ainv.T


_MODELS: dict = {}


def compiled_density(cstruct: tuple, dtype) -> bool:
    """Whether the sampler evaluates the collapsed density as one compiled call.

    It does where every random term groups by one factor (no dense part), in
    float64, on a CPU (:mod:`multilevel.bayes.collapsed_kernel`): about five
    times faster than the JAX expression for the brms notes' classroom model.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.bayes.collapsed import collapsed_parts
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> cstruct, _ = collapsed_parts(d, 0.0, 1e4, dtype=np.float32)
    >>> compiled_density(cstruct, np.float32)
    False
    """
    from . import collapsed_kernel

    return not cstruct[3] and np.dtype(dtype) == np.float64 and collapsed_kernel.available()


def _collapsed_model(cstruct: tuple, vs, compiled: bool):
    """The NumPyro model ``model(pv_var, arrays)`` of a collapsed structure (memoised, so the
    compiled sampler kept under the structure is reused); ``compiled``: its density through
    :mod:`multilevel.bayes.collapsed_kernel`."""
    key = (cstruct, vs, compiled)
    if key in _MODELS:
        return _MODELS[key]
    import numpyro

    from .collapsed import _loglik
    from .collapsed_kernel import loglik_one_factor

    density = loglik_one_factor if compiled else _loglik

    def collapsed_model(pv_var, arrays):
        vp = sample_varpar(vs, pv_var)
        numpyro.factor("_marginal", density(cstruct, arrays, vp.sds, vp.corr_chols, vp.sigma))

    if len(_MODELS) > 32:
        _MODELS.clear()
    _MODELS[key] = collapsed_model
    return collapsed_model


def sample_collapsed(model: BayesModel, cfg: SamplerConfig, seed: int):
    """Sample a gaussian model with the effects integrated out, then draw the effects.

    Returns
    -------
    run : RunResult
    beta : ndarray (chains, draws, p)
    bs : list of ndarray (chains, draws, levels, k) float32, or None

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.bayes.fit import prepare
    >>> m = prepare("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> cfg = SamplerConfig(chains=1, draws=50, warmup=50, chain_method="vectorized", target_accept=0.8,
    ...                     max_tree_depth=5, progress=False)
    >>> run, beta, bs = sample_collapsed(m, cfg, seed=1)
    >>> beta.shape, bs[0].shape, bool(abs(beta[..., 1].mean() - 10.5) < 1.5)
    ((1, 50, 2), (1, 50, 18, 1), True)
    """
    from .collapsed import collapsed_parts

    if model.struct.family != "gaussian":
        raise CollapsedNotApplicable(f"sampler='collapsed' is for the gaussian family, not "
                                     f"{model.struct.family!r}; use sampler='nuts'")
    if not model.design.terms:
        raise CollapsedNotApplicable("sampler='collapsed' needs at least one random-effects term; "
                                     "use sampler='nuts'")
    m0, S0 = fixed_normal_prior(model)
    cstruct, arrays = collapsed_parts(model.design, m0, S0, sums=model.sums)
    vs = model.struct.varpar
    _, pv = model.jax_inputs()
    dense = arrays["Crr"].shape[0] + arrays["Cxx"].shape[0]
    with blas_threads(1 if dense <= _SINGLE_THREAD_DENSE else None):
        return _sample_collapsed(model, cfg, seed, cstruct, arrays, vs, pv)


def _sample_collapsed(model, cfg, seed, cstruct, arrays, vs, pv):
    import jax

    from .collapsed import _sample_batch
    from .fit import initial_inverse_mass, varpar_draws
    from .sampling import _raw_keys

    sites = varpar_sites(vs, model.pv["varpar"])
    # few variance parameters, often correlated (an SD with its correlations, sigma with the
    # SDs): a dense mass matrix, adapted as Stan's dense_e, costs nothing at this size
    dim = sum(int(np.prod(shape)) for _, shape, _ in site_transforms(sites).values())
    cfg = dataclasses.replace(cfg, dense_mass=dim <= _DENSE_MASS_MAX)
    C, D = cfg.chains, cfg.draws
    batch = min(_BATCH, C * D)
    dtype = arrays["D0"].dtype

    def shaped(*shape, dt=dtype):
        return jax.ShapeDtypeStruct((batch,) + shape, dt)

    def compile_effects():  # while the sampler compiles
        key = jax.eval_shape(lambda: jax.random.PRNGKey(0))
        _sample_batch.lower(cstruct, arrays, shaped(*key.shape, dt=key.dtype),
                            tuple(shaped(k) for k in vs.term_k),
                            tuple(None if k == 1 else shaped(k, k) for k in vs.term_k),
                            shaped()).compile()

    compiled = compiled_density(cstruct, dtype)
    # the cross-products are traced arguments, so the compiled sampler is kept (under the
    # structure) and reused by the next fit of a model of the same structure
    run = run_nuts(_collapsed_model(cstruct, vs, compiled), (pv["varpar"], arrays), sites, cfg, seed,
                   scale=model.start_scales(),
                   cache_key=("collapsed", cstruct, vs, compiled), inverse_mass=initial_inverse_mass(model),
                   background=compile_effects)
    sds, chols = varpar_draws(model, run.samples, C, D)
    sigma = np.asarray(run.samples["sigma"]).reshape(C * D)
    flat_sd = [x.reshape(C * D, -1) for x in sds]
    flat_L = [None if k == 1 else c.reshape(C * D, k, k) for c, k in zip(chols, vs.term_k)]
    keys = _raw_keys(seed + 1, C * D)

    def chunk(x, a):  # rows a .. a + batch - 1, the last chunk padded by repeating its last row
        part = np.asarray(x[a:a + batch], dtype=keys.dtype if x is keys else dtype)
        if part.shape[0] < batch:
            part = np.concatenate([part, np.repeat(part[-1:], batch - part.shape[0], axis=0)])
        return jax.device_put(part)

    betas, bparts = [], [[] for _ in vs.term_k]
    for a in range(0, C * D, batch):
        m = min(batch, C * D - a)  # one compilation: every chunk has the same shape
        beta, b = _sample_batch(cstruct, arrays, chunk(keys, a), tuple(chunk(x, a) for x in flat_sd),
                                tuple(None if L is None else chunk(L, a) for L in flat_L),
                                chunk(sigma, a))
        betas.append(np.asarray(beta)[:m])
        if cfg.keep_ranef:
            for t, bt in enumerate(b):
                bparts[t].append(np.asarray(bt, dtype=np.float32)[:m])
    beta = np.concatenate(betas).reshape(C, D, -1)
    bs = None
    if cfg.keep_ranef:
        bs = [np.concatenate(parts).reshape((C, D) + parts[0].shape[1:]) for parts in bparts]
    return RunResult(samples=run.samples, stats=run.stats, seconds=run.seconds), beta, bs
