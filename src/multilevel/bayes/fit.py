"""``ml.bayes``: Bayesian multilevel models sampled by NUTS."""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from ..design import build_design
from ..design.data import as_dataframe
from ..formula import parse_formula
from .model import FAMILY_LINKS, BayesModel
from .sampling import SamplerConfig, blas_threads, run_nuts
from ..arguments import as_bool, short_repr

__all__ = ["bayes", "compilation_cache"]

_CHAIN_METHODS = ("auto", "vectorized", "parallel", "sequential")


def _family(family, link):
    from ..families import Family

    from ..families import ALIASES

    name = family.name if isinstance(family, Family) else str(family).lower()
    if isinstance(family, Family) and link is None:
        # (a cumulative family's link is its cdf: its linear predictor is its own "mean")
        link = family.cdf if name == "cumulative" else family.link.name
    name = {"student_t": "student", "negbinomial": "negative_binomial"}.get(name, ALIASES.get(name, name))
    if name not in FAMILY_LINKS:
        raise ValueError(f"unknown family {short_repr(family)} for ml.bayes; choose one of: {', '.join(FAMILY_LINKS)}")
    allowed = FAMILY_LINKS[name]
    chosen = allowed[0] if link is None else str(link).lower()
    if chosen not in allowed:
        raise ValueError(f"link {short_repr(link)} is not available for the {name} family in ml.bayes; "
                         f"choose one of: {', '.join(allowed)}")
    return name, chosen


def _int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, not {short_repr(value)}")
    return int(value)


def _enable_x64() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    compilation_cache()


def compilation_cache() -> str | None:
    """Keep JAX's compiled samplers on disk, so a new process reuses them.

    Compiling a model's sampler takes seconds, several times the sampling of
    a small model; JAX's persistent compilation cache stores the compiled code
    keyed by the model's shapes (never its data), and a later process that
    fits a model of the same shapes loads it instead. ``ml.bayes`` switches the
    cache on in ``$MULTILEVEL_JAX_CACHE``, or else
    ``$XDG_CACHE_HOME/multilevel/jax`` (``~/.cache/multilevel/jax``), unless
    JAX's cache is already configured (``jax_compilation_cache_dir`` set by
    the user is left as it is) or ``MULTILEVEL_JAX_CACHE`` is ``0`` or ``off``.
    A model's compiled sampler takes 1-3 MB there; JAX does not evict entries
    (its size limit needs the ``filelock`` package and a folder written with
    it from the start), so deleting the folder now and then is the way to
    reclaim the space, and is safe.

    Returns
    -------
    str or None
        The cache folder in use, None when there is none.

    Examples
    --------
    >>> path = compilation_cache()
    >>> path is None or isinstance(path, str)
    True
    """
    import jax

    current = jax.config.jax_compilation_cache_dir
    if current:
        return current
    env = os.environ.get("MULTILEVEL_JAX_CACHE", "")
    if env.strip().lower() in ("0", "off", "false", "no"):
        return None
    path = Path(env) if env.strip() else (
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "multilevel" / "jax")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    # every compilation of a fit is cached, the small ones too (each costs ~15 ms to redo)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return str(path)


def check_call(parsed, fam: str, zi) -> None:
    """Refuse what ``ml.bayes`` does not take: ``zi=`` for a family without structural zeros.

    Examples
    --------
    >>> check_call(parse_formula("y ~ x + (1 | g)"), "gaussian", None) is None
    True
    """
    if zi is not None and fam not in ("poisson", "negative_binomial", "nbinom1"):
        raise ValueError(f"zi= models structural zeros of counts (families poisson, negative_binomial, nbinom1), "
                         f"not of a {fam} response")


def prepare(formula, data, family="gaussian", link=None, priors=None, weights=None, offset=None,
            center: bool = True, zi=None) -> BayesModel:
    """Parse, build the design, check the response and resolve the priors of a Bayesian model.

    Parameters are those of :func:`bayes`.

    Returns
    -------
    BayesModel

    Examples
    --------
    >>> import multilevel as ml
    >>> m = prepare("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> m.sd_names, m.cor_names
    (('sd_Subject__Intercept', 'sd_Subject__Days'), ('cor_Subject',))
    """
    from ..families import family as make_family
    from ..glmm.fit import _response, zero_inflation_design

    fam, lnk = _family(family, link)
    parsed = parse_formula(formula)
    check_call(parsed, fam, zi)
    frame = as_dataframe(data)
    if fam == "cumulative":
        return _prepare_cumulative(parsed, frame, lnk, priors, weights, offset, center)
    check = make_family("gaussian") if fam in ("gaussian", "student") else make_family(fam, lnk)
    frame, parsed_y, weights = _response(parsed, frame, weights, check)
    design = build_design(parsed_y, frame, weights=weights, offset=offset,
                          observation_level=fam not in ("gaussian", "student"))
    if fam in ("gaussian", "student") and any(t.structure is not None for t in design.terms):
        from ..lmm.fit import identifiability

        identifiability(design)  # (a cs term over every row is the random intercept model: said so)
    if fam not in ("gaussian", "student"):
        # (a beta-binomial response is checked as binomial successes of its trials)
        (make_family("binomial") if fam == "betabinomial" else check).check_response(
            design.y, design.weights, parsed.response)
    if fam == "betabinomial" and not (design.weights is not None and np.any(design.weights > 1)):
        raise ValueError("a beta-binomial model needs observations of more than one trial (with one trial its "
                         "precision is not identified): give cbind(successes, failures), or use family='binomial'")
    zd = None
    if zi is not None:
        zd = zero_inflation_design(zi, fam, frame, design, parsed.response)  # (redundant columns dropped)
        if not np.any(design.y == 0):
            raise ValueError("zi= models structural zeros, but the response has no zeros: drop zi=")
    return BayesModel.build(design, fam, lnk, priors=priors, center=center, zi_design=zd, zi_formula=zi)


def _prepare_cumulative(parsed, frame, link, priors, weights, offset, center) -> BayesModel:
    """The BayesModel of a cumulative model: category codes as y, X without its intercept."""
    from dataclasses import replace

    from ..glmm.clmm import _ordered_response

    frame, levels = _ordered_response(frame, parsed.response)
    design = build_design(parsed, frame, weights=weights, offset=offset, observation_level=True)
    names = design.fixed.names
    if "(Intercept)" not in names:
        raise ValueError("a cumulative model's thresholds take the place of the intercept: remove '0 +' or "
                         "'- 1' from the formula")
    seen = set(np.unique(design.y.astype(int)).tolist())
    missing = [lv for k, lv in enumerate(levels) if k not in seen]
    if missing:  # rows dropped for missing values left a category empty
        raise ValueError(f"after dropping rows with missing values the response has no {', '.join(missing)}: "
                         "drop the incomplete rows first (data.dropna(subset=[...the model's columns])), then "
                         "the empty categories (cat.remove_unused_categories())")
    j = names.index("(Intercept)")
    keep = [i for i in range(len(names)) if i != j]
    fixed = replace(design.fixed, X=np.asarray(design.fixed.X)[:, keep], names=tuple(names[i] for i in keep),
                    dropped=design.fixed.dropped + ("(Intercept)",))
    design = replace(design, fixed=fixed)
    model = BayesModel.build(design, "cumulative", link, priors=priors, center=center, ncat=len(levels))
    return replace(model, categories=levels)


def bayes(formula, data, family="gaussian", link=None, priors=None, chains: int = 4, draws: int = 1000,
          warmup: int = 1000, seed=None, progress: bool = True, sampler: str = "auto", weights=None,
          offset=None, target_accept: float = 0.8, max_tree_depth: int = 10,
          chain_method: str = "auto", center: bool = True, keep_ranef: bool = True, zi=None):
    """Fit a Bayesian multilevel model written in lme4's formula syntax.

    The model is the one :func:`multilevel.lmer` / :func:`multilevel.glmer`
    fit, with priors on every parameter, sampled by the No-U-Turn
    sampler (:mod:`multilevel.bayes.nuts`): random effects are non-centred (``z ~ N(0, 1)`` scaled by each
    term's covariance factor), a correlated term's covariance is
    ``diag(sd) R diag(sd)`` with an LKJ prior on ``R``, and the whole log
    density is one vectorised JAX function compiled on the first call.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"course ~ 1 + female + (1 + female | school)"``:
        correlated ``(x | g)``, uncorrelated ``(x || g)``, crossed and nested
        (``(1 | a/b)``) terms, and structured ones (glmmTMB's): ``cs(0 + occ | g)``
        (compound symmetry: one SD ``sd_<group>`` and one correlation
        ``rho_<group>``), ``hcs(...)`` (an SD per column and one correlation),
        ``ar1(0 + occ | g)`` (an ordered factor's occasions, correlation
        ``rho^|i - j|``), each with a uniform prior on its correlation's
        interval unless ``priors={"rho": ...}`` says otherwise. For binomial models the response may be 0/1, a
        factor (first level = failure), a proportion with ``weights`` =
        trials, or ``cbind(successes, failures)``.
    data : DataFrame or str
        pandas or polars; rows with missing values in used columns are dropped.
        Or data larger than memory, a Dask DataFrame or a path to Parquet
        files (``"data/*.parquet"``), for the gaussian family: the collapsed
        sampler then runs on the cross-products summed over the parts in two
        passes (see :mod:`multilevel.bayes.out_of_core`).
    family : {"gaussian", "student", "binomial", "poisson", "negative_binomial", "nbinom1", "gamma", "beta", \
"betabinomial", "cumulative"}
        ``student`` is a Student-t likelihood with degrees of freedom ``nu``;
        ``negative_binomial`` (alias ``"nbinom2"``) has variance
        ``mu + mu^2 / shape``, ``nbinom1`` variance ``mu (1 + phi)``;
        ``betabinomial`` (overdispersed trials, given as for binomial) a
        proportion's variance the binomial's times ``(m + phi) / (1 + phi)``; ``gamma`` has shape ``shape`` and mean ``mu``;
        ``beta`` (a proportion strictly between 0 and 1) has precision ``phi``
        (variance ``mu (1 - mu) / (1 + phi)``), as brms's ``negbinomial``,
        ``Gamma`` and ``Beta`` families. ``cumulative`` fits an ordered
        categorical response, ``P(Y <= k) = F(b_Intercept[k] - eta)`` with
        ordered thresholds in place of the intercept (brms's ``cumulative``,
        ordinal's ``clmm``).
    link : str, optional
        binomial, betabinomial, beta and cumulative: ``logit`` (default), ``probit``,
        ``cloglog``; poisson, negative_binomial, nbinom1 and gamma: ``log``;
        gaussian, student: ``identity``.
    priors : dict, optional
        Priors by brms-style class: ``"b"``, ``"b_<coef>"``, ``"Intercept"``,
        ``"sd"``, ``"sd_<group>"``, ``"sd_<group>__<coef>"``, ``"cor"``,
        ``"cor_<group>"``, ``"rho"``, ``"rho_<group>"`` (a structured term's
        correlation: ``uniform(a, b)`` within its interval), ``"sigma"``, ``"nu"``,
        ``"shape"``, ``"phi"``; values made with
        :mod:`multilevel.priors` (``ml.priors.normal(0, 10)``, ...). Anything
        not given gets the default:

        - gaussian and student, with ``sy = sd(y)`` and ``my = mean(y)`` (offset
          subtracted), ``sx`` the SD of each predictor column:
          ``Intercept ~ normal(my, 2.5 sy)``, ``b ~ normal(0, 2.5 sy / sx)``,
          ``sd ~ half_student_t(3, 2.5 sy)``, ``sigma ~ exponential(1 / sy)``,
          ``nu ~ gamma(2, 0.1)``;
        - binomial and poisson: ``Intercept ~ normal(0, 2.5)``,
          ``b ~ normal(0, 2.5 / sx)``, ``sd ~ half_student_t(3, 2.5)``; for the
          probit link these scales are multiplied by dnorm(0)/dlogis(0) = 1.596;
        - negative_binomial, gamma and beta: as binomial and poisson, with the
          Intercept's prior centred on the link of the median response (as
          brms), and ``shape`` or ``phi ~ gamma(0.01, 0.01)`` (brms's default);
          cumulative: each threshold ``~ normal(0, 2.5)`` (``"Intercept"``,
          a prior on the whole real line), the rest as binomial;
        - ``cor ~ lkj(1)``.

        These follow rstanarm's autoscaled defaults for the coefficients and
        sigma, and brms's for the SDs (whose scale brms sets to
        ``max(2.5, mad(y))``; here ``2.5 sy``). ``post.prior_summary()`` lists
        every prior used, with the autoscaled numbers.
    chains, draws, warmup : int
        Number of chains, and of draws kept and warmup iterations per chain.
    seed : int, optional
        Makes the run reproducible (same seed, data and settings give the same
        draws on the same machine); drawn at random and recorded in
        ``post.seed`` when not given.
    progress : bool, default True
        Show a progress bar (tqdm) of warmup and sampling.
    sampler : {"auto", "collapsed", "nuts"}
        ``"collapsed"`` (gaussian family, normal priors on the fixed effects)
        samples only the variance parameters with NUTS, with the fixed and
        random effects integrated out exactly, then draws the effects exactly
        from their conditional normal: several times the effective draws per
        second of NUTS on the full model. ``"nuts"`` samples all parameters.
        ``"auto"`` (the default) runs the collapsed sampler where it applies
        and NUTS elsewhere, and the summary says which ran and why
        (``post.sampler_note``).
    weights : str or array-like, optional
        gaussian and student: precision weights (residual SD ``sigma / sqrt(w)``,
        as ``lmer``); binomial: number of trials for a proportion response;
        poisson, negative_binomial, gamma, beta and cumulative: prior weights
        multiplying each log-likelihood term.
    offset : str or array-like, optional
        Added to the linear predictor (e.g. ``np.log(exposure)`` for poisson).
    target_accept : float, default 0.8
        NUTS's target acceptance probability; raise it (0.95, 0.99) when
        there are divergent transitions.
    max_tree_depth : int, default 10
    chain_method : {"auto", "vectorized", "parallel", "sequential"}
        How chains run. ``"auto"`` (the default): on a CPU with several cores,
        in parallel threads, each chain its own compiled loop; on a GPU,
        vectorised. ``"vectorized"``: all chains at once on one device (each
        iteration waits for the chain with the longest trajectory);
        ``"parallel"``: one chain per device (several GPUs), or in threads
        when the only device is a CPU; ``"sequential"``: one after another.
    center : bool, default True
        Centre the predictors internally, as brms and rstanarm do: the
        ``"Intercept"`` prior is then on the intercept at the predictors'
        means, and the reported ``b_Intercept`` draws are of the raw intercept
        (at predictors = 0). With ``center=False`` the ``"Intercept"`` prior is
        on the raw intercept, as in JAGS code such as ``g0 ~ dnorm(0, prec)``.
    keep_ranef : bool, default True
        Keep the draws of every random effect (float32, chains x draws x
        levels x k per term). False saves memory for very many levels;
        ``ranef()``, ``posterior_predictive()`` and the log-likelihood in
        ``to_arviz()`` then need them and are unavailable.
    zi : str, optional
        Zero inflation of a poisson, negative_binomial or nbinom1 model, as
        ``ml.glmer``'s ``zi=`` and brms's ``zi ~ ...``: the right-hand side of
        a fixed-effects model (``"~ x"``, ``"~ 1"``) for the probability
        ``pi`` that a count is a structural zero, ``logit(pi) = X_zi gamma``;
        ``P(y = 0) = pi + (1 - pi) f(0)``. Its coefficients are drawn as
        ``b_zi_Intercept``, ``b_zi_<coef>`` (priors ``"Intercept_zi"``,
        default ``logistic(0, 1)`` at the other columns' means, and
        ``"b_zi"``, default ``normal(0, 2.5 / sx)``). ``epred`` gives the
        mean ``(1 - pi) mu``, ``epred(dpar="mu")`` the count part's mean and
        ``epred(dpar="zi")`` the probability ``pi``.

    Returns
    -------
    Posterior

    Notes
    -----
    JAX runs in 64-bit mode for this route (``ml.bayes`` switches
    ``jax_enable_x64`` on). The same code runs on a GPU with the CUDA build
    of jaxlib.

    Examples
    --------
    >>> import multilevel as ml
    >>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
    ...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
    >>> post.draws["b_Days"].shape
    (2, 200)
    >>> bool(9 < post.draws["b_Days"].mean() < 12)
    True
    """
    from .posterior import Posterior

    chains = _int("chains", chains, 1)
    draws = _int("draws", draws, 1)
    warmup = _int("warmup", warmup, 0)
    max_tree_depth = _int("max_tree_depth", max_tree_depth, 1)
    if isinstance(target_accept, bool) or not (isinstance(target_accept, (int, float)) and 0 < target_accept < 1):
        raise ValueError(f"target_accept must be a number between 0 and 1, not {short_repr(target_accept)}")
    if not isinstance(chain_method, str) or chain_method not in _CHAIN_METHODS:
        raise ValueError(f"chain_method must be one of {', '.join(_CHAIN_METHODS)}, not {short_repr(chain_method)}")
    if not isinstance(sampler, str) or sampler not in ("auto", "nuts", "collapsed"):
        raise ValueError(f"sampler must be 'auto', 'collapsed' or 'nuts', not {short_repr(sampler)}")
    progress = as_bool(progress, "progress")
    center = as_bool(center, "center")
    keep_ranef = as_bool(keep_ranef, "keep_ranef")
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0])
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {short_repr(seed)}")
    seed = int(seed)
    t0 = time.perf_counter()
    from ..design.partitioned import is_partitioned

    in_parts = is_partitioned(data)
    if in_parts:
        if sampler == "nuts":
            raise ValueError("on data in parts (a Dask DataFrame or Parquet files) ml.bayes runs the collapsed "
                             "sampler, which needs only the data's cross-products; NUTS on the full model needs "
                             "every row in memory: use sampler='auto' or 'collapsed'")
        from .out_of_core import prepare_partitioned

        model = prepare_partitioned(formula, data, family, link, priors, weights, offset, center, zi)
    else:
        model = prepare(formula, data, family, link, priors, weights, offset, center, zi)
    _enable_x64()
    cfg = SamplerConfig(chains=chains, draws=draws, warmup=warmup, chain_method=chain_method,
                        target_accept=float(target_accept), max_tree_depth=max_tree_depth,
                        progress=bool(progress), keep_ranef=bool(keep_ranef))
    note = None
    if sampler in ("auto", "collapsed"):
        from .collapsed_sampler import CollapsedNotApplicable, sample_collapsed

        try:
            run, beta, bs = sample_collapsed(model, cfg, seed)
            sampler = "collapsed"
        except CollapsedNotApplicable as exc:
            if in_parts:
                raise ValueError("on data in parts ml.bayes runs the collapsed sampler, and it does not apply: "
                                 + str(exc).split(";")[0].replace("sampler='collapsed' ", "it ")
                                 + "; fit the data in memory") from None
            if sampler == "collapsed":
                raise
            # its checks run before any sampling: nothing is lost
            note = "the collapsed sampler does not apply: " + str(exc).split(";")[0].replace(
                "sampler='collapsed' ", "it ")
            sampler = "nuts"
    if sampler == "nuts":
        run, beta, bs = _sample_nuts(model, cfg, seed)
    attrs = getattr(data, "attrs", None)
    data_name = attrs.get("name") if isinstance(attrs, dict) else None
    result = Posterior
    if in_parts:
        from .out_of_core import OutOfCorePosterior as result

        data_name = os.fspath(data) if isinstance(data, (str, os.PathLike)) else None
    post = result._build(model, run, beta, bs, cfg, seed=seed, sampler=sampler, sampler_note=note,
                            data_name=data_name,
                            seconds=time.perf_counter() - t0,
                            offset_spec=offset if isinstance(offset, str) else None)
    for msg in post.messages:
        warnings.warn(msg, post._warning_class(), stacklevel=3)  # the caller of ml.bayes(...)
    return post


def _sample_nuts(model: BayesModel, cfg: SamplerConfig, seed: int):
    """Run NUTS on the full model; return the run, raw-scale fixed effects and random effects.

    Returns
    -------
    run : RunResult
    beta : ndarray (chains, draws, p)
        Fixed effects on the scale of the design's X (raw intercept).
    bs : list of ndarray (chains, draws, levels, k) float32, or None
        Random effects per term (None without ``keep_ranef``).
    """
    data, pv = model.jax_inputs()
    with blas_threads(1):  # the only matrices factorised are the k x k correlation factors
        run = run_nuts(model.model_fn(), (data, pv), model.sites(), cfg, seed, scale=model.start_scales(),
                       cache_key=model.struct,
                       inverse_mass=initial_inverse_mass(model))
    s = run.samples
    st = model.struct
    C, D = cfg.chains, cfg.draws
    beta_c = np.zeros((C, D, st.p))
    for g, (_, pos) in enumerate(st.fixed_groups):
        beta_c[..., list(pos)] = s[f"_b{g}"]
    beta = beta_c.copy()
    if model.centered and model.intercept is not None:
        beta[..., model.intercept] -= beta_c @ model.x_means
    sds, chols = varpar_draws(model, s, C, D)
    bs = None
    if cfg.keep_ranef:
        bs = []
        for t, (k, _, _) in enumerate(st.terms):
            F = (sds[t][..., :, None] * chols[t]).astype(np.float32)  # (C, D, k, k)
            bs.append(np.einsum("cdjk,cdlk->cdjl", s[f"_z{t}"], F, optimize=True).astype(np.float32))
            del s[f"_z{t}"]
    return run, beta, bs


def varpar_draws(model: BayesModel, s: dict, C: int, D: int):
    """Per term, SD draws (C, D, k) and correlation Cholesky draws (C, D, k, k) from the sites.

    Examples
    --------
    >>> import multilevel as ml
    >>> m = prepare("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> sds, chols = varpar_draws(m, {"_sd0": np.full((2, 5, 1), 30.0)}, 2, 5)
    >>> sds[0].shape, chols[0].shape
    ((2, 5, 1), (2, 5, 1, 1))
    """
    from .varpar import structured_chol

    vs = model.struct.varpar
    sd_all = np.zeros((C, D, vs.nsd))
    for g, (_, pos) in enumerate(vs.sd_groups):
        sd_all[..., list(pos)] = s[f"_sd{g}"]
    off = vs.sd_offsets
    sds, chols = [], []
    for t, k in enumerate(vs.term_k):
        sd = sd_all[..., off[t]:off[t + 1]]
        st = vs.structure(t)
        if st is not None:  # one SD (cs, ar1) or one per column (hcs), and rho
            sds.append(np.broadcast_to(sd, (C, D, k)).copy())
            chols.append(structured_chol(st.kind, k, np.asarray(s[f"_rho{t}"], dtype=float), xp=np))
        else:
            sds.append(sd)
            chols.append(np.asarray(s[f"_L{t}"]) if k > 1 else np.ones((C, D, 1, 1)))
    return sds, chols


def initial_inverse_mass(model: BayesModel) -> dict:
    """Rough posterior variances of the unconstrained parameters, to start mass-matrix adaptation.

    Without them the first warmup window works with the identity, and
    parameters whose posterior scales differ a hundredfold (an intercept in
    the data's units next to a log standard deviation) make NUTS build its
    longest trajectories until the first adaptation window ends. The guesses
    are large-sample standard errors: ``s / (sd(x_j) sqrt(n))`` for a slope,
    ``s / sqrt(levels)`` for the intercept, ``1 / sqrt(2 levels)`` for a log
    SD and ``1 / sqrt(2 n)`` for log sigma, with ``s = sd(y)`` (gaussian),
    2 (logit), ``1 / sqrt(mean y)`` (poisson), the coefficient of variation
    ``sd(y) / mean(y)`` (negative_binomial, gamma) or ``sd(g(y))`` (beta); a
    family's log shape or log precision gets ``2 / n``.

    Examples
    --------
    >>> import multilevel as ml
    >>> m = prepare("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"))
    >>> {k: v.round(3).tolist() for k, v in initial_inverse_mass(m).items()}
    {'_b0': [176.274, 2.137], '_sd0': [0.028], 'sigma': 0.003}
    """
    st = model.struct
    if model.rowless:  # (a gaussian model of data in parts: the rows' moments)
        n, y = model.moments.n, None
        x_sd = np.asarray(model.moments.x_sd, dtype=float) * np.sqrt((n - 1) / n)
    else:
        from .model import data_rows

        rows = data_rows(model.design)  # (the rows of positive weight: the data)
        X = model.data["X"] if rows is None else model.data["X"][rows]
        n = X.shape[0]
        y = model.data["y"] if rows is None else model.data["y"][rows]
        x_sd = [float(np.std(X[:, j])) for j in range(X.shape[1])]
    if st.family in ("gaussian", "student"):
        s = model.y_scale
    elif st.family in ("binomial", "betabinomial", "cumulative"):
        s = 1.25 if st.link == "probit" else 2.0
    elif st.family in ("negative_binomial", "nbinom1", "gamma"):
        s = float(np.std(y) / max(float(np.mean(y)), 1e-3)) or 1.0
    elif st.family == "beta":
        from ..families.links import LINKS

        s = float(np.std(LINKS[st.link].fun(y))) or 1.0
    else:
        s = 1.0 / np.sqrt(max(float(np.mean(y)), 0.1))
    levels = [nl for (k, nl, _), term in zip(st.terms, model.design.terms) if "(Intercept)" in term.columns]
    n_int = min(levels) if levels else n
    var = np.empty(st.p)
    for j in range(st.p):
        if j == model.intercept:
            var[j] = s ** 2 / n_int
        else:
            sx = float(x_sd[j])
            var[j] = s ** 2 / ((sx if sx > 0 else 1.0) ** 2 * n)
    out = {}
    for g, (_, pos) in enumerate(st.fixed_groups):
        out[f"_b{g}"] = var[list(pos)]
    sd_var = np.concatenate([np.full(m, 1.0 / (2.0 * nl)) for m, (_, nl, _) in zip(st.varpar.term_nsd, st.terms)]
                            or [np.zeros(0)])
    for g, (_, pos) in enumerate(st.varpar.sd_groups):
        out[f"_sd{g}"] = sd_var[list(pos)]
    if st.varpar.sigma_kind is not None:
        out["sigma"] = np.array(1.0 / (2.0 * n))
    if st.varpar.aux_kind is not None:
        out[st.varpar.aux_name] = np.array(2.0 / n)
    if st.ncat:  # the first threshold and the log gaps
        out["_thr"] = np.full(st.ncat - 1, s ** 2 / n_int)
    if st.pzi:  # logistic-regression standard errors: 4 / (n sd(x)^2), the intercept's 4 / n
        Xzi = model.data["Xzi"]
        sx = np.where(np.arange(st.pzi) == model.zi_intercept, 1.0, np.std(Xzi, axis=0))
        var = 4.0 / (n * np.where(sx > 0, sx, 1.0) ** 2)
        for g, (_, pos) in enumerate(st.zi_groups):
            out[f"_bzi{g}"] = var[list(pos)]
    return out
