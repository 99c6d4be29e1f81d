"""Parametric bootstrap of a linear mixed model, as lme4's ``bootMer``.

Each simulation draws a new response from the fitted model,

    y* = X beta + offset + sum_i Z_i b_i* + e*,   b_i* ~ N(0, Sigma_i),
    e* ~ N(0, sigma^2 / w),

refits the model to it (same design, same ML/REML criterion, starting from the
fit's theta) and records a statistic of the refit: by default the parameters on
the scale of :func:`~multilevel.inference.profile.profile_confint` (standard
deviations and correlations of the random effects, ``sigma``, the fixed
effects).

Simulation ``i`` draws from its own random generator, seeded by the ``i``-th
child of ``numpy.random.SeedSequence(seed)``, so the draws depend on the seed
only, not on how the simulations are spread over processes.

A refit that raises, or whose optimizer reports non-convergence, is a failure:
its row of ``draws`` is NaN and it is listed in ``failures``; intervals leave
failures out and say how many.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import sys
import time
import uuid
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from ..arguments import as_int, short_repr
from ..results.labels import label_index
from .parameters import has_sigma, parameter_names, percent_labels

__all__ = ["BootstrapResult", "bootstrap", "confint_parameters", "simulate_response"]

# Messages of fit_design that mean the refit did not converge (a failure); a
# singular fit is a valid refit and is only counted.
_FAILURE_MARKERS = ("optimizer stopped early", "Model failed to converge",
                    "Model is nearly unidentifiable")
_SINGULAR_MARKER = "boundary (singular) fit"


# ---------------------------------------------------------------- statistic
def confint_parameters(fit) -> pd.Series:
    """A fit's parameters on lme4's confint scale: sd's, correlations, sigma, fixed effects.

    Named as :func:`~multilevel.inference.profile.parameter_names`; this is the
    default statistic of :func:`bootstrap` (lme4's ``bootFun`` in
    ``confint(fit, method = "boot")``). A correlation of an effect with zero
    variance is NaN.

    Parameters
    ----------
    fit : LmerResult

    Returns
    -------
    pandas.Series

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> confint_parameters(fit).round(3).tolist()
    [24.74, 0.066, 5.922, 25.592, 251.405, 10.467]
    """
    return pd.Series(_parameter_values(fit), index=label_index(parameter_names(fit)), name="estimate")


def _parameter_values(fit) -> np.ndarray:
    """The values of :func:`confint_parameters` (what the bootstrap's refits
    compute, without naming them: the names are the original fit's)."""
    vals = []
    glmm = not has_sigma(fit)
    for T, term in zip(_factors(fit), fit.design.terms):
        S = T @ T.T if glmm else fit.sigma**2 * (T @ T.T)
        sd = np.sqrt(np.diag(S))
        k = T.shape[0]
        if term.structure is not None:  # the structure's SDs and correlation
            vals.extend(sd if term.structure.nsd > 1 else sd[:1])
            vals.append(S[1, 0] / (sd[0] * sd[1]) if sd[0] * sd[1] > 0 else np.nan)
            continue
        for c in range(k):
            for r in range(c, k):
                if r == c:
                    vals.append(sd[r])
                else:
                    den = sd[r] * sd[c]
                    vals.append(S[r, c] / den if den > 0 else np.nan)
    if not glmm:
        vals.append(fit.sigma)
    d = fit.design
    if getattr(d, "residual", None) is not None:
        vals.append(d.residual.r)  # (at the lag unit: parameter_names says which)
    if getattr(d, "dispersion", None) is not None:
        vals.extend(np.asarray(d.dispersion.coef, dtype=float))
    vals.extend(fit.fixef.to_numpy())
    return np.asarray(vals, dtype=float)


def _factors(fit) -> list[np.ndarray]:
    from ..linalg import ThetaLayout

    layout = ThetaLayout.from_terms(fit.design.terms)
    return layout.factors(fit.theta.to_numpy())


# --------------------------------------------------------------- simulation
def simulate_response(fit, rng: np.random.Generator) -> np.ndarray:
    """One response vector drawn from the fitted model (unconditional on the random effects).

    ``X beta + offset + Z b* + e*`` with ``b*`` drawn from the estimated
    random-effects distribution and ``e* ~ N(0, sigma^2 / w)``, as lme4's
    ``simulate(fit)``. The draws are taken in a fixed order: each term's
    standard-normal effects (levels x columns), then the residuals.

    Parameters
    ----------
    fit : LmerResult
    rng : numpy.random.Generator

    Returns
    -------
    ndarray (n,)

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> y = simulate_response(fit, np.random.default_rng(1))
    >>> y.shape, bool(abs(y.mean() - fit.design.y.mean()) < 30)
    ((180,), True)
    """
    d = fit.design
    glmm = not has_sigma(fit)
    sigma = 1.0 if glmm else fit.sigma
    y = d.X @ fit.fixef.to_numpy()
    if d.offset is not None:
        y = y + d.offset
    for term, T in zip(d.terms, _factors(fit)):
        u = rng.standard_normal((term.nlevels, term.k))
        b = sigma * (u @ T.T)
        y = y + np.einsum("ij,ij->i", term.Z, b[term.codes])
    if glmm:
        return _draw_glmm(fit, y, rng)
    e = rng.standard_normal(d.n) * sigma
    if getattr(d, "residual", None) is not None:  # correlated within the groups of a residual correlation
        e = d.residual.correlate(e, d.residual.r)
    if d.weights is not None:
        with np.errstate(divide="ignore"):
            e = e / np.sqrt(d.weights)
        e[~np.isfinite(e)] = 0.0
    return y + e


def _draw_glmm(fit, eta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Responses of a GLMM at the linear predictor ``eta``: binomial proportions of
    the prior weights' trials, or Poisson counts (as ``simulate`` of a glmer fit)."""
    mu = fit.family.link.inverse(np.array(eta, dtype=float))
    return fit.family.simulate(mu, fit._prior, rng)


def _refit(fit, ystar: np.ndarray, start):
    """The model refitted to a simulated response."""
    design = replace(fit.design, y=ystar)
    if not has_sigma(fit):
        from ..glmm.fit import fit_glmm_design

        return fit_glmm_design(design, fit.family, fit._prior, nagq=fit.nagq, optimizer=fit.optinfo.optimizer,
                               formula=fit.formula)
    from ..lmm.fit import fit_from

    return fit_from(design, fit.reml, fit.optinfo.optimizer, start, singular=fit.singular,
                    _like=fit._standardized)


def _one(fit, fun, start, child: np.random.SeedSequence):
    """(values or None, failure message or None, singular) of one simulation."""
    rng = np.random.Generator(np.random.PCG64(child))
    try:
        ystar = simulate_response(fit, rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            refit = _refit(fit, ystar, start)
        bad = [m for m in refit.messages if m.startswith(_FAILURE_MARKERS)]
        if bad:
            return None, bad[0], False
        values = _parameter_values(refit) if fun is confint_parameters else _as_values(fun(refit))
        return values, None, bool(refit.singular)
    except Exception as exc:  # a failed refit is reported, never dropped silently
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return None, f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__, False


# jobs handed to forked workers: key -> (fit, fun, start, children)
_JOBS: dict[str, tuple] = {}


def _run_chunk(key: str, lo: int, hi: int, payload=None):
    fit, fun, start, children = payload if payload is not None else _JOBS[key]
    return [(i, *_one(fit, fun, start, children[i])) for i in range(lo, hi)]


def _single_thread_blas() -> None:
    """Limit the BLAS of this (worker) process to one thread: the refits use
    small matrices, and with one BLAS thread pool per worker the workers would
    otherwise compete for the same cores."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")


def _process_context():
    """How to start workers: ``"fork"`` on Linux (nothing to pickle); once JAX is
    loaded (a Bayesian fit in this process) forking is unsafe, since JAX runs
    threads (JAX warns of deadlocks), so a fork server where the main program is
    interactive, and no workers at all (``"here"``) where it is a script, which
    a fork server would run again in every worker. Elsewhere None: the
    platform's default."""
    methods = multiprocessing.get_all_start_methods()
    if not sys.platform.startswith("linux"):
        return None
    if "jax" in sys.modules:
        interactive = getattr(sys.modules.get("__main__"), "__file__", None) is None
        return multiprocessing.get_context("forkserver") if interactive and "forkserver" in methods else "here"
    if "fork" in methods:
        return multiprocessing.get_context("fork")
    return None


# ------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Draws of a parametric bootstrap (see :func:`bootstrap`).

    Attributes
    ----------
    draws : pandas.DataFrame
        One row per simulation (index 0 .. nsim - 1), one column per
        statistic; rows of failed refits are NaN.
    estimate : pandas.Series
        The statistic on the original fit.
    failures : list of (int, str)
        Simulation index and message of every failed refit (an exception, or
        an optimizer that did not converge).
    singular : int
        Number of refits that were singular (kept: a variance estimated as
        zero is a valid estimate).
    nsim : int
    seed : int
        Entropy of the ``SeedSequence`` the simulations were drawn from (pass it
        as ``seed`` to repeat them).
    n_jobs : int
        Processes used.
    reml : bool
        Criterion of the refits (that of the fit).
    seconds : float

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> b = bootstrap(fit, nsim=20, seed=1, n_jobs=1)
    >>> b.draws.shape, len(b.failures), b.nsim
    ((20, 6), 0, 20)
    """

    draws: pd.DataFrame
    estimate: pd.Series
    failures: list = field(default_factory=list)
    singular: int = 0
    nsim: int = 0
    seed: int | None = None
    n_jobs: int = 1
    reml: bool = True
    seconds: float = 0.0

    @property
    def n_failed(self) -> int:
        """Number of failed refits.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> bootstrap(fit, nsim=5, seed=2, n_jobs=1).n_failed
        0
        """
        return len(self.failures)

    def confint(self, level: float = 0.95, method: str = "percentile") -> pd.DataFrame:
        """Bootstrap confidence intervals from the successful refits.

        Parameters
        ----------
        level : float, default 0.95
        method : {"percentile", "basic", "normal"}
            As ``boot::boot.ci`` (lme4's ``boot.type`` "perc", "basic", "norm"):
            order statistics interpolated on the normal scale; the basic
            (reflected) interval; or the bias-corrected normal interval.

        Returns
        -------
        pandas.DataFrame
            Index the statistics, columns ``"2.5 %"`` and ``"97.5 %"`` (for
            ``level = 0.95``); ``attrs["n_used"]``, ``attrs["n_failed"]`` and
            ``attrs["notes"]``. Failed refits are left out, with a warning that
            says how many.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> ci = bootstrap(fit, nsim=40, seed=1, n_jobs=1).confint()
        >>> list(ci.columns), ci.attrs["n_used"]
        (['2.5 %', '97.5 %'], 40)
        >>> bool(ci.loc["Days", "2.5 %"] < 10.47 < ci.loc["Days", "97.5 %"])
        True
        """
        cols = percent_labels(level)
        methods = ("percentile", "basic", "normal")
        if method not in methods:
            raise ValueError(f"unknown method {short_repr(method)}; use one of {', '.join(methods)}")
        a = (1.0 - level) / 2.0
        alpha = np.array([a, 1.0 - a])
        used = self.draws.drop(index=[i for i, _ in self.failures])
        notes = []
        rows = []
        # by position: a fixed effect may carry a variance parameter's name ("sigma")
        for j in range(self.draws.shape[1]):
            t = used.iloc[:, j].to_numpy(dtype=float)
            t = t[np.isfinite(t)]
            t0 = float(self.estimate.iloc[j])
            if t.size < 2:
                rows.append((np.nan, np.nan))
                continue
            if method == "percentile":
                rows.append(tuple(_norm_inter(t, alpha)))
            elif method == "basic":
                q = _norm_inter(t, alpha[::-1])
                rows.append((2 * t0 - q[0], 2 * t0 - q[1]))
            else:
                bias = t.mean() - t0
                half = stats.norm.ppf(1.0 - a) * t.std(ddof=1)
                rows.append((t0 - bias - half, t0 - bias + half))
        out = pd.DataFrame(np.array(rows, dtype=float).reshape(-1, 2),
                           index=list(self.draws.columns), columns=cols)
        if self.failures:
            msg = (f"{self.n_failed} of {self.nsim} bootstrap refits failed and are left out "
                   f"of the intervals (see .failures)")
            notes.append(msg)
            warnings.warn(msg, stacklevel=2)
        out.attrs["n_used"] = int(len(used))
        out.attrs["n_failed"] = self.n_failed
        out.attrs["notes"] = notes
        return out

    def summary(self) -> pd.DataFrame:
        """Original value, bias and standard error of each statistic, as ``boot``'s print.

        Returns
        -------
        pandas.DataFrame
            Columns ``original``, ``bias``, ``std. error``.

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
        >>> list(bootstrap(fit, nsim=5, seed=3, n_jobs=1).summary().columns)
        ['original', 'bias', 'std. error']
        """
        d = self.draws
        return pd.DataFrame({"original": self.estimate, "bias": d.mean() - self.estimate,
                             "std. error": d.std(ddof=1)})

    def __str__(self) -> str:
        head = (f"Parametric bootstrap ({'REML' if self.reml else 'ML'} refits): "
                f"{self.nsim} simulations, {self.nsim - self.n_failed} refits used, "
                f"{self.n_failed} failed, {self.singular} singular; seed {self.seed}")
        lines = [head, "", self.summary().to_string(float_format=lambda v: f"{v:.5g}")]
        if self.failures:
            lines += ["", "Failed refits:"]
            for i, msg in self.failures[:10]:
                lines.append(f"  {i}: {msg}")
            if len(self.failures) > 10:
                lines.append(f"  ... and {len(self.failures) - 10} more")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<BootstrapResult {self.nsim} simulations, {self.draws.shape[1]} statistics, "
                f"{self.n_failed} failed>")


def _norm_inter(t: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Quantiles of t as ``boot``'s ``norm.inter``: order statistics at (R + 1) alpha,
    interpolated on the normal quantile scale."""
    t = np.sort(t[np.isfinite(t)])
    R = t.size
    rk = (R + 1) * alpha
    k = np.trunc(rk).astype(int)
    out = np.empty(alpha.size)
    for m in range(alpha.size):
        if k[m] == rk[m] and 1 <= k[m] <= R:
            out[m] = t[k[m] - 1]
        elif k[m] <= 0:
            out[m] = t[0]
        elif k[m] >= R:
            out[m] = t[R - 1]
        else:
            z1 = stats.norm.ppf(alpha[m])
            z2 = stats.norm.ppf(k[m] / (R + 1))
            z3 = stats.norm.ppf((k[m] + 1) / (R + 1))
            tk, tk1 = t[k[m] - 1], t[k[m]]
            out[m] = tk + (z1 - z2) / (z3 - z2) * (tk1 - tk)
    return out


# --------------------------------------------------------------------- main
def bootstrap(fit, nsim: int = 1000, seed=None, fun=None,
              n_jobs: int | None = 2) -> BootstrapResult:
    """Parametric bootstrap of a fitted linear mixed model, as ``lme4::bootMer``.

    Parameters
    ----------
    fit : LmerResult
    nsim : int, default 1000
        Number of simulations.
    seed : int or numpy.random.SeedSequence, optional
        Seed of the simulations; the same seed gives the same draws for any
        ``n_jobs``. None draws fresh entropy (kept in the result's ``seed``).
    fun : callable, optional
        ``refit -> statistic`` (a number, a sequence, a dict or a pandas
        Series); by default :func:`confint_parameters` (sd's, correlations,
        sigma and fixed effects, named as lme4 names them).
    n_jobs : int, default 2
        Processes to spread the simulations over (None or -1: all cores; 1:
        this process only). Workers are forked where the platform allows;
        once a Bayesian fit has loaded JAX, which cannot be forked safely, they
        are started by a fork server in an interactive session (a notebook) and
        the refits run in this process when the main program is a script.

    Returns
    -------
    BootstrapResult

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> b = bootstrap(fit, nsim=10, seed=42)
    >>> b.draws.shape, b.n_failed
    ((10, 6), 0)
    >>> b2 = bootstrap(fit, nsim=10, seed=42, n_jobs=1)
    >>> bool(np.allclose(b.draws, b2.draws))
    True
    >>> days = bootstrap(fit, nsim=5, seed=1, n_jobs=1, fun=lambda f: f.fixef["Days"])
    >>> list(days.draws.columns)
    ['t1']
    """
    from ..results import LmerResult
    from ..results.glmer_result import GlmerResult

    t_start = time.perf_counter()
    if not isinstance(fit, (LmerResult, GlmerResult)):
        raise TypeError(f"fit must be a fitted model (ml.lmer or ml.glmer), not {short_repr(fit)}")
    from ..design.rowless import require_rows

    require_rows(fit, "the parametric bootstrap")
    nsim = as_int(nsim, "nsim", 1)
    ss = _seed_sequence(seed)
    children = ss.spawn(nsim)
    if fun is not None and not callable(fun):
        raise TypeError(f"fun must be a function of a fitted model, not {short_repr(fun)}")
    fun = confint_parameters if fun is None else fun
    try:
        est_raw = fun(fit)
    except TypeError as exc:
        if "positional argument" not in str(exc):
            raise
        raise TypeError(f"fun must take the fitted model as its one argument ({exc})") from None
    names = _stat_names(est_raw)
    estimate = pd.Series(_as_values(est_raw), index=names, name="original")

    start = fit.theta.to_numpy()
    if n_jobs is None or (isinstance(n_jobs, (int, np.integer)) and not isinstance(n_jobs, bool) and n_jobs == -1):
        n_jobs = os.cpu_count() or 1
    n_jobs = max(1, min(as_int(n_jobs, "n_jobs", 1), nsim))
    if n_jobs == 1:
        results = _run_chunk("", 0, nsim, payload=(fit, fun, start, children))
    else:
        results = _parallel(fit, fun, start, children, nsim, n_jobs)

    vals = np.full((nsim, len(names)), np.nan)
    failures, singular = [], 0
    for i, v, msg, sing in sorted(results, key=lambda r: r[0]):
        if msg is not None:
            failures.append((i, msg))
            continue
        if v.size != len(names):
            failures.append((i, f"the statistic has {v.size} values, not {len(names)}"))
            continue
        vals[i] = v
        singular += int(sing)
    draws = pd.DataFrame(vals, columns=names)
    return BootstrapResult(draws=draws, estimate=estimate, failures=failures, singular=singular,
                           nsim=nsim, seed=ss.entropy, n_jobs=n_jobs, reml=bool(getattr(fit, "reml", False)),
                           seconds=time.perf_counter() - t_start)


def _seed_sequence(seed) -> np.random.SeedSequence:
    """numpy's SeedSequence of a ``seed``: None (fresh entropy), a non-negative integer,
    a sequence of them, or a SeedSequence."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    ok = seed is None or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0)
    if not ok and isinstance(seed, (list, tuple)) and seed:
        ok = all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0 for s in seed)
    if not ok:
        raise TypeError(f"seed must be None, a non-negative integer or a list of them, not {short_repr(seed)}")
    return np.random.SeedSequence(seed)


def _as_values(value) -> np.ndarray:
    """A statistic's values as a flat float array (a dict in its key order)."""
    if isinstance(value, dict):
        value = list(value.values())
    if value is None:
        raise ValueError("fun returned None; it must return numbers (a number, a sequence, a dict or a Series)")
    try:
        out = np.asarray(value, dtype=float).ravel()
    except (TypeError, ValueError):
        raise ValueError(f"fun must return numbers (a number, a sequence, a dict or a Series), "
                         f"not {short_repr(value)}") from None
    if out.size == 0:
        raise ValueError("fun returned no values; it must return at least one number")
    return out


def _stat_names(value) -> list[str]:
    if isinstance(value, pd.Series):
        return [str(i) for i in value.index]
    if isinstance(value, dict):
        return [str(k) for k in value]
    size = _as_values(value).size
    return [f"t{i + 1}" for i in range(size)]


def _parallel(fit, fun, start, children, nsim: int, n_jobs: int) -> list:
    """Run the simulations in chunks over ``n_jobs`` processes."""
    nchunks = min(nsim, 4 * n_jobs)
    bounds = np.linspace(0, nsim, nchunks + 1).round().astype(int)
    chunks = [(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
    ctx = _process_context()
    key = uuid.uuid4().hex
    payload = (fit, fun, start, children)
    results: list = []
    if ctx == "here":
        return [(i, *_one(fit, fun, start, children[i])) for i in range(nsim)]
    if ctx is not None and ctx.get_start_method() == "fork":
        _JOBS[key] = payload
        try:
            with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx,
                                     initializer=_single_thread_blas) as ex:
                futs = [ex.submit(_run_chunk, key, a, b) for a, b in chunks]
                for f in futs:
                    results.extend(f.result())
        finally:
            _JOBS.pop(key, None)
        return results
    # no fork: the fit and the statistic travel to the workers by pickling; a
    # statistic that cannot be pickled (a lambda) runs here, in this process
    try:
        pickle.dumps(payload)
    except Exception:  # pickling raises many types (PicklingError, AttributeError, TypeError)
        return [(i, *_one(fit, fun, start, children[i])) for i in range(nsim)]
    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx, initializer=_single_thread_blas) as ex:
        futs = [ex.submit(_run_chunk, key, a, b, payload) for a, b in chunks]
        for f in futs:
            results.extend(f.result())
    return results
