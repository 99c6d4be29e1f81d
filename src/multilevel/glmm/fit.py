"""``glmer``: generalized linear mixed models by Laplace or adaptive Gauss-Hermite quadrature."""

from __future__ import annotations

import contextlib
import re
import time
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..design import build_design, standardize
from ..design.data import as_dataframe, as_factor
from ..design.design import quote_dotted
from ..linalg.threads import SMALL_BLOCK, blas_threads
from ..families import family as make_family
from ..inference.derivatives import central_gradient, gradient_hessian
from ..linalg import ThetaLayout
from ..lmm.convergence import GRAD_TOL, SINGULAR_TOL
from ..lmm.fit import off_the_boundary
from ..lmm.optimize import OptSummary, best_of_restarts, minimize_theta
from ..formula import parse_formula
from ..formula.parse import _top_level_positions, factor_response
from .laplace_gradient import NEWTON_TOL, SEARCH_ACCEPT, hessian_of_gradient, scalar_gradient
from .laplace_gradient import search as gradient_search
from .diagnostics import convergence, run_off_rows
from .agq import MAX_NAGQ, agq_deviance, agq_loglik, agq_outside, check_agq
from .pirls import pirls, pirls_plan, random_part
from ..arguments import as_choice, short_repr

#: glmer's optimizer choices ("quasi-newton", a fit's record of the exact gradient's search, refits as "auto")
OPTIMIZERS = ("auto", "bobyqa", "cobyqa", "nelder-mead", "quasi-newton")

__all__ = ["glmer"]

_CBIND = re.compile(r"^\s*cbind\s*\((.*)\)\s*$")


def _split_cbind(inner: str) -> tuple[str, str]:
    commas = _top_level_positions(inner, ",")
    if not commas:
        raise ValueError(f"cbind() in the response needs two arguments, successes and failures: cbind({inner})")
    if len(commas) > 1:
        raise ValueError(f"cbind() in the response takes two arguments, successes and failures, not more: "
                         f"cbind({inner})")
    return inner[:commas[0]].strip(), inner[commas[0] + 1:].strip()


def _response(parsed, data, weights, fam):
    """(data with a numeric response column, parsed formula, prior weights or None).

    A rewritten response keeps the formula's text, so errors quote what the user wrote.

    A factor response of a binomial model is coded as R codes it: the first
    level is failure (0), every other level success (1).
    """
    m = _CBIND.match(parsed.response)
    if not m:
        col = parsed.response
        factor_of = factor_response(col)
        if factor_of is not None and factor_of in data.columns:
            if fam.name != "binomial":
                raise ValueError(f"the response {col} is a factor, which only family='binomial' models (its "
                                 f"first level is failure); for a {fam.name} model give the numeric column "
                                 f"{factor_of!r}, or for ordered levels use ml.clmm")
            data = data.assign(__response__=as_factor(data[factor_of], factor_of))
            parsed, col = replace(parsed, response="__response__"), "__response__"
        if col in data.columns and fam.name == "binomial" and not pd.api.types.is_numeric_dtype(data[col]) \
                or col in data.columns and pd.api.types.is_bool_dtype(data[col]):
            s = data[col]
            if isinstance(s.dtype, pd.CategoricalDtype):  # (its first category that occurs, as R's droplevels)
                codes = s.cat.codes.to_numpy()
                present = codes[codes >= 0]
                first = s.cat.categories[int(present.min())] if present.size else s.cat.categories[0]
            else:
                first = sorted(s.dropna().unique())[0]
            y = np.where(s.isna(), np.nan, (s != first).astype(float))
            data = data.assign(__response__=y)
            return data, replace(parsed, response="__response__"), weights
        return data, parsed, weights
    if fam.name not in ("binomial", "betabinomial"):
        raise ValueError(f"cbind(successes, failures) is a binomial response, not a {fam.name} one: use "
                         "family='binomial' (or, for overdispersed trials, family='betabinomial' or "
                         "(1 | observation))")
    succ, fail = _split_cbind(m.group(1))
    s, f = cbind_counts(parsed.response, data)
    if np.nanmin(f) < 0 or np.nanmin(s) < 0:
        raise ValueError(f"cbind({succ}, {fail}) has negative counts; give successes and failures (>= 0)")
    if weights is not None:
        raise ValueError("with cbind(successes, failures) the trials are the weights; do not pass weights=")
    n = s + f
    data = data.assign(__response__=np.where(n > 0, s / np.where(n > 0, n, 1.0), 0.0), __trials__=n)
    return data, replace(parsed, response="__response__"), "__trials__"


def cbind_counts(response: str, data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The successes and failures of a ``cbind(successes, failures)`` response, evaluated on ``data``.

    Examples
    --------
    >>> import pandas as pd
    >>> s, f = cbind_counts("cbind(k, n - k)", pd.DataFrame({"k": [1, 2], "n": [3, 5]}))
    >>> s.tolist(), f.tolist()
    ([1.0, 2.0], [2.0, 3.0])
    """
    succ, fail = _split_cbind(_CBIND.match(response).group(1))
    try:
        # R-style dotted column names (final.snail.density) are one name, not attributes
        s = np.asarray(data.eval(quote_dotted(succ, data)), dtype=float)
        f = np.asarray(data.eval(quote_dotted(fail, data)), dtype=float)
    except Exception as exc:  # pandas raises several types for a bad expression
        raise ValueError(f"cannot evaluate cbind({succ}, {fail}) on the data: {exc}") from None
    return s, f


def glmer(formula: str, data, family="binomial", link=None, nagq: int = 1, weights=None,
          offset=None, optimizer: str = "auto", zi: str | None = None, _restore=None):
    """Fit a generalized linear mixed model, as ``lme4::glmer``.

    Parameters
    ----------
    formula : str
        lme4 formula; the response may be 0/1, a proportion (with ``weights``
        = trials), or ``cbind(successes, failures)``.
    data : DataFrame or str
        pandas or polars; or data larger than memory, a Dask DataFrame or a
        path to Parquet files (``"data/*.parquet"``), for binomial and
        Poisson models (``nagq`` 0 or 1), fitted by a pass over the parts per
        PIRLS iteration with the in-memory result (see
        :mod:`multilevel.glmm.out_of_core`).
    family : str
        ``"binomial"``, ``"poisson"``, or a family with a dispersion
        parameter estimated jointly with theta and beta (as glmmTMB; the
        Laplace curvature is then the observed information, as glmmTMB's):
        ``"negative_binomial"`` (NB2, also ``"nbinom2"``: variance
        ``mu + mu^2 / theta``), ``"nbinom1"`` (variance ``mu (1 + phi)``),
        ``"gamma"`` (variance ``mu^2 / shape``), ``"beta"`` (proportions in
        (0, 1), variance ``mu (1 - mu) / (1 + phi)``), ``"betabinomial"``
        (``cbind(successes, failures)`` of overdispersed trials: the
        proportion's variance is the binomial's times ``(m + phi) / (1 + phi)``
        for ``m`` trials, glmmTMB's ``betabinomial``) or ``"gaussian"`` with a
        log or inverse link (residual SD ``sigma``). The estimate is
        ``fit.dispersion``.
    link : str, optional
        binomial: logit (default), probit, cloglog; poisson, negative
        binomial: log; gamma: inverse (default, as R), log, identity; beta:
        logit (default), probit, cloglog; gaussian: log, inverse.
    nagq : int, 0 to 25
        0: the fast first stage (fixed effects estimated inside PIRLS, as
        glmer's nAGQ = 0); 1 (default): the Laplace approximation over theta
        and beta; 2 to 25: adaptive Gauss-Hermite quadrature with ``nagq``
        nodes per level, as glmer's nAGQ > 1, for models with a single scalar
        random-effects term such as ``(1 | g)`` (others raise a ValueError).
        The reported ``loglik`` is then the quadrature log-likelihood on the
        absolute scale, comparable with the Laplace one (glmer's logLik omits
        the saturated model's term for binomial responses with trials), and
        the standard errors come from the Hessian of the quadrature deviance.
    weights, offset : str or array-like, optional
    zi : str, optional
        A zero-inflation model for a Poisson or negative binomial response,
        as glmmTMB's ``ziformula``: the right-hand side of a fixed-effects
        formula such as ``"~ spp + mined"`` (``"~ 1"``: one probability of a
        structural zero). ``logit(pi) = X_zi gamma`` (plus an ``offset()`` term's
        values where it has one), estimated with the rest; ``fit.zi`` tables gamma.
    optimizer : {"auto", "bobyqa", "cobyqa", "nelder-mead"}
        "auto" (default; "quasi-newton", a fit's record of it, means the same):
        with one scalar random-effects term and a family whose Laplace
        curvature is the observed one (negative binomial, Gamma, beta,
        zero-inflated, cumulative; not binomial or Poisson, whose scalar-term
        fits are counted solves), L-BFGS-B on the criterion's exact gradient
        (:mod:`multilevel.glmm.laplace_gradient`), finished by Newton steps;
        elsewhere, and where that search stops away from an optimum (a saddle
        at theta = 0, a plateau of zero-inflation probabilities of 0 or 1, a
        gradient the convergence check would report), glmer's route: a first
        stage, then BOBYQA. The others: that derivative-free method throughout.

    Returns
    -------
    GlmerResult

    Examples
    --------
    >>> import multilevel as ml
    >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              ml.datasets.load("cbpp"), family="binomial")
    >>> m.fixef.round(2).tolist()
    [-1.4, -0.99, -1.13, -1.58]

    Adaptive Gauss-Hermite quadrature with 25 nodes (glmer's nAGQ = 25):

    >>> q = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              ml.datasets.load("cbpp"), nagq=25)
    >>> round(q.loglik, 3), round(float(q.theta.iloc[0]), 4)
    (-91.983, 0.6475)

    Overdispersed counts, negative binomial (glmmTMB's nbinom2):

    >>> nb = ml.glmer("count ~ spp + mined + (1 | site)", ml.datasets.load("salamanders"),
    ...               family="negative_binomial")
    >>> round(nb.loglik, 3), nb.dispersion.round(4).to_dict()
    (-826.202, {'theta': 0.9424})
    """
    as_choice(optimizer, "optimizer", OPTIMIZERS)
    fam = make_family(family, link)
    if fam.name == "gaussian" and fam.link.name == "identity":
        raise ValueError("for a gaussian response with the identity link use ml.lmer")
    if fam.name == "cumulative":
        raise ValueError("an ordinal response is fitted by ml.clmm(formula, data, link=...)")
    nagq = _check_nagq(nagq)
    from ..design.partitioned import is_partitioned

    if is_partitioned(data):
        if zi is not None:
            raise ValueError("zi= is not available for data in parts (a Dask DataFrame or Parquet files); fit a "
                             "zero-inflated model in memory")
        import os

        from .out_of_core import glmer_partitioned

        name = os.fspath(data) if isinstance(data, (str, os.PathLike)) else None
        return glmer_partitioned(formula, data, family=fam, nagq=nagq, weights=weights, offset=offset,
                                 optimizer=optimizer, data_name=name)
    parsed = parse_formula(formula)
    frame = as_dataframe(data)
    weights_name = weights if isinstance(weights, str) else None
    frame, parsed_y, weights = _response(parsed, frame, weights, fam)
    if not parsed.bars:
        raise ValueError(
            "the formula has no random-effects term such as (1 | group); glmer fits mixed models: "
            "for a generalized linear model without random effects use ml.glm"
        )
    design = build_design(parsed_y, frame, weights=weights, offset=offset, observation_level=True)
    prior = np.ones(design.n) if design.weights is None else design.weights
    if fam.name == "betabinomial":
        # the trials enter its likelihood through k and m: they are the family's, not weights
        if "cbind(" not in parsed.response.replace(" ", ""):
            raise ValueError("a beta-binomial response is cbind(successes, failures)")
        make_family("binomial").check_response(design.y, prior, parsed.response)  # (counts of trials)
        fam, prior = fam.with_trials(prior), np.ones(design.n)
    fam.check_response(design.y, None if design.weights is None else prior, parsed.response)
    if zi is not None:
        fam = _zero_inflated(fam, zi, frame, design, parsed.response)
    # the design's weights are prior weights of the family, not of a working LMM
    design = replace(design, weights=None)
    check_agq(design.terms, nagq)
    if fam.name == "binomial" and np.all(prior == 1):
        for t in design.terms:
            if t.nlevels == design.n:
                warnings.warn(observation_level_message(t.group), stacklevel=2)
    return fit_glmm_design(design, fam, prior, nagq=nagq, optimizer=optimizer, formula=formula,
                           response=parsed.response, offset_name=offset if isinstance(offset, str) else None,
                           weights_name=weights_name,
                           data_name=getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None,
                           _restore=_restore)


def observation_level_message(group: str) -> str:
    """The warning for a term with one level per observation of 0/1 responses.

    Examples
    --------
    >>> observation_level_message("obs")[:35]
    "'obs' has one level per observation"
    """
    return (f"{group!r} has one level per observation: with 0/1 responses an observation-level "
            "random effect is not identified (its variance cannot be told apart from the "
            f"binomial variance); remove the term (1 | {group})")


def _zero_inflated(fam, zi, frame, design, response):
    """The zero-inflated family of ``fam`` with the model ``zi`` on the design's rows."""
    from ..design.standardize import orthogonal_basis
    from ..families.zero_inflated import ZeroInflated

    zd = zero_inflation_design(zi, fam.name, frame, design, response)
    basis = orthogonal_basis(zd.X) if zd.p else None
    if basis is None:
        raise ValueError(f"the zero-inflation model's columns ({', '.join(zd.fixed.names)}) are not linearly "
                         "independent; remove the redundant terms")
    return ZeroInflated.wrap(fam, basis[0], basis[1], zd.fixed.names, formula=zi, design=zd,
                             offset=None if zd.offset is None else np.asarray(zd.offset, dtype=float))


def zero_inflation_design(zi, family_name: str, frame, design, response):
    """The design of the zero-inflation model ``zi`` (a fixed-effects right-hand
    side, glmmTMB's ``ziformula``) on the rows ``design`` uses, or a one-line error.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> frame = ml.datasets.load("cbpp").assign(n=lambda d: d["incidence"])
    >>> d = build_design("n ~ period + (1 | herd)", frame)
    >>> zero_inflation_design("~ period", "poisson", frame, d, "n").fixed.names
    ('(Intercept)', 'period2', 'period3', 'period4')
    """
    from ..design.side import side_design

    if not isinstance(zi, str):
        raise TypeError(f"zi must be a formula's right-hand side such as '~ x', not {short_repr(zi)}")
    if family_name not in ("poisson", "negative_binomial", "nbinom1"):
        raise ValueError(f"zi= models structural zeros of counts (poisson, negative_binomial, nbinom1), not of a "
                         f"{family_name} response")
    zd = side_design("zi", zi, frame, design, response, "the zero-inflation predictors", offset=True)
    if not zd.p:
        raise ValueError(f"zi={zi!r} has no columns: give '~ 1' for a constant probability of a structural zero")
    return zd


def _check_nagq(nagq) -> int:
    """``nagq`` as an int from 0 to MAX_NAGQ, or a one-line ValueError."""
    if isinstance(nagq, bool) or not isinstance(nagq, (int, float, np.integer, np.floating)) \
            or not float(nagq).is_integer() or not 0 <= nagq <= MAX_NAGQ:
        raise ValueError(f"nagq must be an integer from 0 to {MAX_NAGQ} (0: first stage only, 1: Laplace, "
                         f"> 1: adaptive Gauss-Hermite quadrature), not {short_repr(nagq)}")
    return int(nagq)


def _no_fit_message(fam) -> str:
    """Why a GLMM could not be fitted at all, in words that say what to try."""
    if fam.name == "cumulative":
        return ("the cumulative model could not be fitted: no thresholds and random effects give a finite "
                "likelihood at the start; check that every category has observations and simplify the "
                "random effects")
    if fam.link.name in ("identity", "inverse", "1/mu^2"):
        return (f"the {fam.name} model with the {fam.link.name} link could not be fitted: its mean leaves the "
                f"family's range (a {fam.link.name} link cannot keep it valid); use the log link")
    return (f"the {fam.name} model could not be fitted: no random effects give a finite likelihood at the "
            "start; check the response and simplify the random effects")


def _start_extra(design, fam, layout, prior, plan) -> np.ndarray:
    """A start for the family's own parameters (internal scale): its estimate at
    the conditional means of PIRLS at theta's start and the family's defaults."""
    if not fam.start_uses_means:  # (no PIRLS run for a start that does not use the means)
        return fam.start_extra(np.asarray(design.y, dtype=float)[np.asarray(prior) > 0], None)
    try:
        r = pirls(design, fam, layout.start, layout, prior,
                  plan=replace(plan, deviance=fam.deviance_function(design.y, prior)))
        data = np.asarray(prior) > 0  # (the moments of the rows of positive weight: the data)
        return fam.start_extra(np.asarray(design.y, dtype=float)[data], np.asarray(r.mu)[data])
    except (ArithmeticError, np.linalg.LinAlgError):
        return fam.extra_internal()


def fit_glmm_design(design, fam, prior, nagq: int = 1, optimizer: str = "auto", formula: str | None = None,
                    response: str | None = None, offset_name=None, weights_name=None, data_name=None,
                    _restore=None):
    """Fit a GLMM to a built design (the stage of :func:`glmer` after the design;
    refits of a parametric bootstrap call it with a simulated response).

    ``design`` carries no weights: ``prior`` holds the family's prior weights
    (binomial trials).

    Examples
    --------
    >>> import multilevel as ml
    >>> from dataclasses import replace
    >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    >>> again = fit_glmm_design(m.design, m.family, m._prior, formula=m.formula)
    >>> bool(abs(again.loglik - m.loglik) < 1e-8)
    True
    """
    # the PIRLS blocks are small (InstEval-sized crossed designs aside): on
    # OpenBLAS's thread pool they cost more than they gain, most of all on a busy machine
    rest = sum(t.q for t in design.terms[1:]) + design.p + 1
    with blas_threads(1) if rest <= SMALL_BLOCK else contextlib.nullcontext():
        return _fit_glmm(design, fam, prior, nagq, optimizer, formula, response, offset_name,
                         weights_name, data_name, _restore)


@dataclass(frozen=True)
class PirlsEngine:
    """Where a GLMM fit's rows are, and how PIRLS reaches them.

    :func:`_fit_glmm` minimises the same criteria whether the rows are in
    memory (:func:`memory_engine`) or in parts, one pass over the parts per
    PIRLS iteration (:mod:`multilevel.glmm.out_of_core`).

    Attributes
    ----------
    user_design : Design
        The design on the user's scale (the result's).
    st : Standardization
    design : Design
        The standardised design (its names and terms; rows where they are).
    plan : object
        The PIRLS plan passed back to ``run``.
    run : callable
        ``run(fam, theta, plan=..., beta=None, u_start=None, eta_start=None,
        tol=..., maxit=..., inside=False) -> PirlsResult``, as :func:`pirls`.
    eta_at : callable
        ``eta_at(beta, u, theta)``: a warm start for ``run``'s ``eta_start``.
    result_class : type
        The result built at the optimum.
    gradient : ScalarGradient or None
        The Laplace criterion's gradient (:mod:`multilevel.glmm.laplace_gradient`) where the
        rows are in memory and the model has one (one scalar term, observed curvature).
    """

    user_design: object
    st: object
    design: object
    plan: object
    run: object
    eta_at: object
    result_class: object
    gradient: object = None


def memory_engine(design, fam, prior) -> PirlsEngine:
    """The :class:`PirlsEngine` of a design in memory: the fit runs on a standardised
    copy (its columns orthogonal, of root mean square 1), so that it does not
    depend on the predictors' units.

    Examples
    --------
    >>> import multilevel as ml
    >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    >>> e = memory_engine(m.design, m.family, m._prior)
    >>> round(e.run(m.family, np.array([0.6]), plan=e.plan).laplace, 3)
    100.209
    """
    from ..results.glmer_result import GlmerResult

    st, inner = standardize(design, response=False, eta_scale=fam.eta_scale(design.y, prior),
                            rows=np.asarray(prior) > 0)
    layout = ThetaLayout.from_terms(inner.terms)
    plan = pirls_plan(inner, fam, prior)

    def run(f, theta, **kw):
        return pirls(inner, f, theta, layout, prior, **kw)

    def eta_at(beta, u, theta):
        return plan.offset + inner.X @ beta + random_part(inner.terms, layout.factors(theta), u)

    return PirlsEngine(user_design=design, st=st, design=inner, plan=plan, run=run, eta_at=eta_at,
                       result_class=GlmerResult, gradient=scalar_gradient(inner, fam, prior, plan.offset,
                                                                        st.scale))


def _limit_message(fam, mu: np.ndarray, prior: np.ndarray) -> str | None:
    """The message where a dispersion ran off towards the limit at which the family is another one
    (negative binomial counts with no overdispersion: theta to infinity, the Poisson model): where
    the variance it adds is below a thousandth of the limit family's at every mean (NB2: mu / theta;
    NB1: phi; beta-binomial: (trials - 1) / (1 + phi)), whatever point of that flat ridge the
    optimizer stopped at.

    Examples
    --------
    >>> from multilevel.families import family
    >>> nb = family("negative_binomial").with_dispersion(1e6)
    >>> print(_limit_message(nb, np.array([2.0, 30.0]), np.ones(2))[:62])
    the negative_binomial theta ran off towards its limit (1e+06):
    >>> _limit_message(nb.with_dispersion(2.0), np.array([2.0, 30.0]), np.ones(2)) is None
    True
    """
    base = getattr(fam, "base", fam)
    if prior is None or not isinstance(mu, np.ndarray):  # (data in parts: no row-wise means here)
        return None
    pos = np.asarray(prior) > 0
    if base.name == "negative_binomial":
        added, other = float(np.max(mu[pos], initial=0.0)) / base.dispersion, "poisson"
    elif base.name == "nbinom1":
        added, other = base.dispersion, "poisson"
    elif base.name == "betabinomial" and base.trials is not None:
        trials = float(np.max(np.asarray(base.trials)[pos], initial=1.0))
        added, other = (trials - 1.0) / (1.0 + base.dispersion), "binomial"
    else:
        return None
    if not added < 1e-3:
        return None
    zi = " zero-inflated" if getattr(fam, "zero_inflated", False) else ""
    return (f"the {base.name} {base.dispersion_name} ran off towards its limit ({base.dispersion:.3g}): these data "
            f"show no overdispersion beyond the{zi} {other} model's, which is this fit's limit (fit it with "
            f"family='{other}'); the estimate is wherever the optimizer stopped on a flat likelihood, its "
            f"standard error means nothing, and a likelihood-ratio test against the {other} fit is on the "
            "boundary of the parameter space")


def _covariance(H: np.ndarray) -> np.ndarray:
    """``2 H^-1``, the covariance of the parameters from the criterion's Hessian, with those whose
    curvature is numerically zero (below 1e-12 of the largest) left out (nan): a dispersion gone
    to infinity (negative binomial counts with no overdispersion, at the limit of its internal
    scale) leaves the criterion flat along it, and the others' covariance is the one given it (the
    Poisson model's); so does a zero-inflation coefficient at the end of its scale (the run-off
    message then says that its estimate means nothing).

    Examples
    --------
    >>> _covariance(np.array([[2.0, 0.0], [0.0, 0.0]])).tolist()
    [[1.0, nan], [nan, nan]]
    """
    d = np.abs(np.diag(H))
    keep = d > 1e-12 * max(float(np.max(d, initial=0.0)), 1e-300)
    out = np.full(H.shape, np.nan)
    try:
        out[np.ix_(keep, keep)] = 2.0 * np.linalg.inv(H[np.ix_(keep, keep)])
    except np.linalg.LinAlgError:
        pass
    return out


def _fit_glmm(design, fam, prior, nagq, optimizer, formula, response, offset_name, weights_name,
              data_name, _restore, engine: PirlsEngine | None = None):
    again_by_bobyqa = (design, fam, prior, nagq, "bobyqa", formula, response, offset_name, weights_name,
                       data_name, _restore)
    formula = design.formula.text if formula is None else formula
    response = design.response_name if response is None else response
    if engine is None:
        engine = memory_engine(design, fam, prior)
    user_design, st, design, plan, run = engine.user_design, engine.st, engine.design, engine.plan, engine.run
    # "auto": the exact gradient's search where there is one, else BOBYQA ("quasi-newton": a refit
    # of a fit that search found)
    searching = optimizer in ("auto", "quasi-newton")
    optimizer = "bobyqa" if searching else optimizer
    layout = ThetaLayout.from_terms(design.terms)
    p = design.p
    # the family's own parameters (a log-dispersion, ordinal thresholds' log
    # gaps) are optimised with theta (and beta), after them in x
    nd = fam.n_extra
    if nd:
        fam = fam.with_extra(_start_extra(design, fam, layout, prior, plan))

    def bound(extra):
        """(family, plan) at the family's parameters ``extra`` (empty: the fit's family)."""
        if not nd:
            return fam, plan
        f = fam.with_extra(extra)
        return f, replace(plan, deviance=f.deviance_function(design.y, prior))

    warm = {"r": None, "best": np.inf, "inside": False}
    gradient = engine.gradient if nagq == 1 else None
    # the criterion, its modes and gradient in one compiled call (a cumulative link model, zero-inflated
    # Poisson or NB2 counts: families/kernels.py)
    compiled = gradient is not None and gradient.compiled

    def fam_at(extra):
        return fam.with_extra(extra) if nd else fam

    def dev0(v):
        # warm start from the modes (beta, u) of the best evaluation so far, at
        # the new theta; an evaluation that does not converge from there is
        # redone from R's mustart
        theta = v[:nt]
        f, pl = bound(v[nt:])
        last, eta, u = warm["r"], None, None
        if last is not None:
            u = last.u
            eta = engine.eta_at(last.beta, u, theta)
        try:
            r = run(f, theta, plan=pl, eta_start=eta, u_start=u,
                      inside=warm["inside"])
            if last is not None and not r.converged:
                r = run(f, theta, plan=pl, inside=warm["inside"])
        except (ArithmeticError, np.linalg.LinAlgError):
            return np.inf
        if warm["inside"] and not r.converged:  # (no value from modes that were not reached)
            return np.inf
        if r.converged and r.laplace < warm["best"]:
            warm["r"], warm["best"] = r, r.laplace
        return r.laplace

    nt = layout.ntheta
    lower0 = np.concatenate([layout.lower, np.full(nd, -np.inf)])
    if _restore is not None:
        # a saved result (multilevel.results.archive): its optimum, not a new search
        def inner(x):
            x = np.asarray(x, dtype=float)
            if x.size == nt + nd:  # nagq = 0: theta (and the log-dispersion) only
                return np.concatenate([st.theta_to_internal(x[:nt]), x[nt:]])
            return np.concatenate([st.theta_to_internal(x[:nt]), st.beta_to_internal(x[nt:nt + p]),
                                   x[nt + p:]])

        saved, internal = _restore
        saved = replace(saved, x0=inner(saved.x0), xopt=np.asarray(internal, dtype=float)
                        if internal is not None else inner(saved.xopt))
        pick = np.r_[0:nt, saved.xopt.size - nd:saved.xopt.size]
        stage0 = replace(saved, xopt=saved.xopt[pick], x0=saved.x0[pick], lower=lower0)

    def first_stage():
        """The search over theta (and the family's parameters) with beta estimated by PIRLS."""
        # with nAGQ >= 1 the first stage only gives the second its start (and
        # trust region): a looser stop saves a third of its evaluations (VerbAgg:
        # 43 -> 28) and leaves the optimum of the second stage as it was
        loose = {} if nagq == 0 else {"xtol_abs": 1e-4, "ftol_abs": 1e-6}
        x00 = np.concatenate([layout.start, fam.extra_internal()])
        step0 = np.concatenate([np.full(nt, 0.2), np.full(nd, 0.5)]) if nd else None
        stage0 = minimize_theta(dev0, x00, lower0, optimizer=optimizer, initial_step=step0, **loose)
        # a structured term whose correlation is not identified where the search ended (its SDs at 0,
        # or some with the correlation at an end of its interval): search again
        # with the correlation near either end (a Bernoulli cs fit stopped at the GLM there)
        restarts = [np.concatenate([x, stage0.xopt[nt:]])
                    for x in layout.restarts(stage0.xopt[:nt], SINGULAR_TOL)]
        stage0 = best_of_restarts(dev0, stage0, restarts, lower0, optimizer, step0, **loose)
        if not stage0.fopt < 1e300 and fam.link.name in ("identity", "inverse", "1/mu^2") \
                and fam.name != "cumulative":
            # with an identity or inverse link the first IRLS step from R's
            # mustart can leave the mean's range at every theta: start again
            # from the mean response, halving steps that leave the range
            warm["inside"] = True
            stage0 = minimize_theta(dev0, x00, lower0, optimizer=optimizer,
                                    initial_step=np.concatenate([np.full(nt, 0.2), np.full(nd, 0.5)])
                                    if nd else None, **loose)
        return stage0

    def modes_at(stage0):
        """The conditional modes (and beta) at the first stage's optimum."""
        fam0, plan0 = bound(stage0.xopt[nt:])
        try:
            r0 = run(fam0, stage0.xopt[:nt], plan=plan0, inside=warm["inside"])
        except (ArithmeticError, np.linalg.LinAlgError):
            r0 = None
        if (r0 is None or not np.isfinite(r0.laplace)) and warm["r"] is not None:
            # the modes from R's mustart diverge where the fixed effects have no
            # finite estimate (separated data): those of the best evaluation, reached
            # from warm starts, stand (the separation checks of binomial, Poisson and
            # cumulative fits then report it)
            r0 = warm["r"]
        if (r0 is None or not np.isfinite(r0.laplace)) and _restore is not None:
            # a saved fit whose modes are not reached from R's mustart (separated
            # data, an identity link near zero): from the mean response, or with its
            # fixed effects held at the saved ones
            saved_beta = saved.xopt[nt:nt + p] if saved.xopt.size == nt + p + nd else None
            for kw in ({"inside": True}, {"beta": saved_beta}, {"beta": saved_beta, "inside": True}):
                if kw.get("beta", 0) is None:
                    continue
                try:
                    r0 = run(fam0, stage0.xopt[:nt], plan=plan0, **kw)
                except (ArithmeticError, np.linalg.LinAlgError):
                    continue
                if np.isfinite(r0.laplace):
                    break
        if r0 is None or not np.isfinite(r0.laplace):
            raise ValueError(_no_fit_message(fam))
        return r0

    # with the Laplace criterion's gradient the search over everything starts from theta's and the
    # family's starts, without the first stage (wine's clmm: 42 fewer PIRLS runs; zero-inflated
    # NB2: 315); the first stage and BOBYQA remain where that search does not converge
    direct = gradient is not None and _restore is None and searching
    if direct:
        x00 = np.concatenate([layout.start, fam.extra_internal()])
        stage0 = OptSummary("none", x00, lower0, x00, np.nan, 0, "the start of the gradient search", 0.0, 0.0, 0.0)
        # (a cumulative link model starts where its thresholds give the marginal proportions, with no
        # PIRLS run: the compiled search is cheaper than the run, and falls back where it cannot start)
        r0 = gradient.start(fam, p) if compiled else None
        if r0 is None:
            try:
                r0 = modes_at(stage0)
            except ValueError:
                direct = False
    if not direct:
        if _restore is None:
            stage0 = first_stage()
        r0 = modes_at(stage0)
    if nagq == 0:
        theta, beta, logd, opt, res = stage0.xopt[:nt], r0.beta, stage0.xopt[nt:], stage0, r0
    else:
        last = {"u": r0.u, "best": np.inf}
        # Fisher scoring with a non-canonical link (probit, cloglog) converges
        # linearly: a tighter stop keeps PIRLS noise out of the criterion that
        # BOBYQA minimises (and whose gradient is checked at the end)
        # (a dispersion family's Newton steps converge quadratically, but its
        # criterion is a log-likelihood with constants: the same relative stop)
        pirls_tol = 1e-10 if fam.canonical else 1e-13

        def modes(x):
            """(PIRLS at ``x`` warm-started from the modes of the best evaluation so far, or None
            where it fails; the family there)."""
            f, pl = bound(x[nt + p:])
            b = x[nt:nt + p]
            try:
                r = run(f, x[:nt], beta=b, u_start=last["u"], plan=pl, tol=pirls_tol)
                if not r.converged:
                    r = run(f, x[:nt], beta=b, plan=pl, tol=pirls_tol)
            except (ArithmeticError, np.linalg.LinAlgError):
                return None, f
            return r, f

        def dev1(x):
            r, f = modes(x)
            if r is None:
                return np.inf
            value = r.laplace if nagq == 1 else agq_deviance(design, f, x[:nt], r, prior, nagq)
            if r.converged and value < last["best"]:
                last["u"], last["best"] = r.u, value
            return value

        def second_start(stage0, r0):
            """The second stage's start and BOBYQA's first steps: the first stage's optimum is
            close to this one, so BOBYQA starts with a trust region of a tenth of each theta
            and 0.1 on each beta (the standardised X has columns of root mean square 1, so 0.1
            moves the linear predictor by about a tenth of a unit), which halves its evaluations
            on the reference models (VerbAgg: 153 -> 67) with the same optimum."""
            return (np.concatenate([stage0.xopt[:nt], r0.beta, stage0.xopt[nt:]]),
                    np.concatenate([np.maximum(0.1 * np.abs(stage0.xopt[:nt]), 0.02), np.full(p, 0.1),
                                    np.full(nd, 0.1)]))

        x0, step = second_start(stage0, r0)
        lower = np.concatenate([layout.lower, np.full(p + nd, -np.inf)])
        searched = False
        if gradient is not None and _restore is None and searching:
            # one scalar term and the Laplace criterion's gradient: L-BFGS-B, one PIRLS run an
            # evaluation (wine's clmm: 91 -> ~25 evaluations); BOBYQA where it does not converge
            def fg(x):
                if compiled:  # (the criterion, its modes and gradient in one compiled call)
                    value, g, u = gradient.criterion(x, p, last["u"])
                    if not np.isfinite(value):
                        return np.inf, None
                    if value < last["best"]:
                        last["u"], last["best"] = u, value
                    return value, g
                r, _ = modes(x)
                if r is None or not (r.converged and np.isfinite(r.laplace)):
                    return np.inf, None
                if r.laplace < last["best"]:
                    last["u"], last["best"] = r.u, r.laplace
                return r.laplace, gradient(fam_at, x, nt, p, r.u)

            t0 = time.perf_counter()
            if compiled:  # (BFGS in the same compiled call; L-BFGS-B where an iterate reached theta = 0)
                xg, fg_opt, nev, searched, g_end, u_end = gradient.search(x0, lower, p, last["u"])
                if searched:
                    last["u"], last["best"] = u_end, fg_opt
            if not searched:
                xg, fg_opt, nev, searched, g_end = gradient_search(fg, x0, lower)
            # theta = 0 is a stationary point of the criterion (it is even in theta): a search that
            # ends there may have stepped onto it; the derivative-free route decides singular fits.
            # A stop where the gradient is far from zero (modes that PIRLS reaches differently from
            # different warm starts) is no optimum either.
            searched = searched and float(np.max(np.abs(g_end))) < SEARCH_ACCEPT
            if searched and np.any(xg[:nt] <= layout.lower + 1e-8):
                # on theta = 0: a minimum along theta (a singular fit) where the criterion rises
                # away from it, which the gradient just off it tells; a saddle (soup's probit clmm,
                # stepped onto from theta = 1) else
                off = xg.copy()
                off[:nt] = np.maximum(off[:nt], layout.lower + 1e-3)
                _, g_off = fg(off)
                searched = g_off is not None and bool(np.all(g_off[:nt] > 0))
            if searched:
                opt = OptSummary("quasi-newton", x0, lower, xg, fg_opt, nev, "success", 0.0, 0.0,
                                 time.perf_counter() - t0)
            else:  # the first stage (where the search skipped it), then BOBYQA from its optimum
                if direct:
                    stage0 = first_stage()
                    r0 = modes_at(stage0)
                last["u"], last["best"] = r0.u, np.inf
                x0, step = second_start(stage0, r0)
        if not searched:
            opt = minimize_theta(dev1, x0, lower, optimizer=optimizer, initial_step=step) if _restore is None \
                else replace(saved, lower=lower)
        if _restore is None and not searched and fam.observed_curvature and st.scale != 1.0:
            # with an identity or inverse link the criterion can be steep near
            # the edge of the mean's range: where the optimizer's trust region
            # shrank before the gradient vanished, a fresh start from its optimum
            # goes on (a converged fit stops again within a few evaluations)
            again = minimize_theta(dev1, opt.xopt, lower, optimizer=optimizer,
                                   initial_step=np.maximum(0.1 * step, 1e-3))
            if again.fopt < opt.fopt:
                opt = replace(again, x0=opt.x0, feval=opt.feval + again.feval)
            else:
                opt = replace(opt, feval=opt.feval + again.feval)
        if _restore is None and not searched:
            # a variance that ended at 0 next to an interior optimum (a step onto the bound):
            # probed just off it, as lmer's searches are
            opt = off_the_boundary(dev1, opt, lower, layout)
        theta, beta, logd = opt.xopt[:nt], opt.xopt[nt:nt + p], opt.xopt[nt + p:]
        f, pl = bound(logd)
        res = gradient.modes(f, opt.xopt, p, last["u"]) if compiled \
            else run(f, theta, beta=beta, u_start=last["u"], plan=pl)
    # covariance of beta: the beta block of 2 H^-1 over (theta, beta), as glmer's
    # default use.hessian = TRUE (for nAGQ = 0 at the first-stage estimates).
    # PIRLS is solved tightly here: with a non-canonical link its default
    # tolerance leaves noise in the deviance that differences would amplify.
    x = np.concatenate([theta, beta, logd])
    tight = {"tol": 1e-14, "maxit": 200}

    def dev_all(v):
        if compiled:
            return gradient.criterion(v, p, res.u, gradient=False)[0]
        f, pl = bound(v[nt + p:])
        try:
            r = run(f, v[:nt], beta=v[nt:nt + p], u_start=res.u, plan=pl, **tight)
        except (ArithmeticError, np.linalg.LinAlgError):
            return np.inf
        return r.laplace if nagq <= 1 else agq_deviance(design, f, v[:nt], r, prior, nagq)

    def grad_all(v):
        if compiled:
            value, g, _ = gradient.criterion(v, p, res.u)
            return g if np.isfinite(value) else np.full(v.size, np.nan)
        f, pl = bound(v[nt + p:])
        try:
            r = run(f, v[:nt], beta=v[nt:nt + p], u_start=res.u, plan=pl, **tight)
        except (ArithmeticError, np.linalg.LinAlgError):
            return np.full(v.size, np.nan)
        return gradient(fam_at, v, nt, p, r.u) if r.converged else np.full(v.size, np.nan)

    def derivatives(v, h):
        # the exact gradient and central differences of it where there is one (2n PIRLS runs,
        # not 1 + 2n + n(n - 1) of the criterion)
        if gradient is None:
            return gradient_hessian(dev_all, v, h=h)
        if compiled:
            return grad_all(v), gradient.hessian(v, p, res.u, h)
        return grad_all(v), hessian_of_gradient(grad_all, v, h)

    # difference steps: a thousandth of each value, at least 1e-4 (the internal
    # parameters are in the units of the linear predictor's scale)
    floor = 1e-4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grad, H = derivatives(x, np.maximum(1e-3 * np.abs(x), floor))
        exact = gradient is not None  # (nagq = 1 only)
        # BOBYQA can stop a little short of the optimum (a flat criterion, or
        # PIRLS noise with a non-canonical link): polish with Newton steps on
        # the derivatives just computed, kept only where they lower the criterion
        # (with the exact gradient, L-BFGS-B's loose stop is finished here: Newton
        # steps on the Hessian the standard errors need, recomputed where they moved
        # the parameters by more than 1e-3 in all)
        moved = 0.0
        steps, stop = (4, NEWTON_TOL) if exact else (2, GRAD_TOL)
        for _ in range(steps if nagq >= 1 and _restore is None else 0):
            if np.max(np.abs(grad)) < stop or np.any(theta <= layout.lower + 1e-8):
                break
            try:
                step = np.linalg.solve(H, grad)
            except np.linalg.LinAlgError:
                break
            x_new = x - step
            if np.any(x_new[:nt] < layout.lower) or not dev_all(x_new) < dev_all(x):
                break
            x, theta, beta, logd = x_new, x_new[:nt], x_new[nt:nt + p], x_new[nt + p:]
            f, pl = bound(logd)
            res = gradient.modes(f, x, p, res.u) if compiled else run(f, theta, beta=beta, u_start=res.u,
                                                                        plan=pl, **tight)
            if exact:  # (the Hessian stands while the steps are small)
                grad = grad_all(x)
                moved += float(np.max(np.abs(step)))
                continue
            h = np.maximum(1e-3 * np.abs(x), floor)
            # the gradient alone first (2n evaluations, not 1 + n(n + 1)): where
            # the step converged, the Hessian of one small Newton step ago stands
            grad = central_gradient(dev_all, x, h)
            if np.max(np.abs(grad)) < GRAD_TOL:
                break
            grad, H = derivatives(x, h)
        if moved > 1e-3:  # (steps that far move the Hessian too)
            grad, H = derivatives(x, np.maximum(1e-3 * np.abs(x), floor))
        if nagq >= 1 and not np.array_equal(x, opt.xopt):  # the optimizer's record: the polished optimum
            opt = replace(opt, xopt=x.copy(), fopt=float(dev_all(x)))
    if opt.optimizer == "quasi-newton" and _restore is None and (
            convergence(dev_all, x, np.concatenate([layout.lower, np.full(p + nd, -np.inf)]),
                        bool(np.any(theta <= layout.lower + 1e-8)), grad=grad, hessian=H)
            or (fam.zero_inflated and bool(np.any(run_off_rows(bound(x[nt + p:])[0])[np.asarray(prior) > 0])))):
        # the search and its Newton steps left a gradient that the convergence check reports (an
        # estimate running off to a bound, as a dispersion to infinity), or zero-inflation
        # probabilities of 0 or 1, where the criterion is flat and the search may stop on a plateau
        # away from an interior optimum: the derivative-free route from the first stage, glmer's,
        # unless this optimum is lower by more than a thousandth of a deviance unit (its messages
        # are given only where it is the answer)
        with warnings.catch_warnings(record=True) as said:
            warnings.simplefilter("always")
            other = _fit_glmm(*again_by_bobyqa, engine=engine)
        if not opt.fopt < other.optinfo.fopt - 1e-3:
            for w in said:
                warnings.warn(w.message, stacklevel=2)
            return other
    fam, plan = bound(logd)
    if nagq >= 1:
        # the modes at the optimum from R's mustart, tightly: a function of
        # (theta, beta, dispersion) alone, so that a saved fit restores to the last digit
        try:
            again = gradient.modes(fam, x, p, np.zeros_like(res.u)) if compiled \
                else run(fam, theta, beta=beta, plan=plan, **tight)
        except (ArithmeticError, np.linalg.LinAlgError):
            again = None
        if again is not None and again.converged:
            res = again
    Hinv = _covariance(H)
    V = Hinv[nt:nt + p, nt:nt + p]
    logd_var = np.diag(Hinv)[nt + p:]
    # the covariance of (beta, the family's parameters) on the user's scale
    Jb = st.scale * st.Tx if p else np.zeros((0, 0))
    Jall = np.block([[Jb, np.zeros((p, nd))], [np.zeros((nd, p)), np.eye(nd)]])
    # (a parameter left out of the covariance, nan, is held at its estimate in the others': zero
    # there, so that it spreads no nan through the products, then nan in its own rows)
    held = np.all(np.isnan(Hinv), axis=0)[nt:]
    given = np.where(np.isnan(Hinv[nt:, nt:]), 0.0, Hinv[nt:, nt:]) if held.any() and not held.all() \
        else Hinv[nt:, nt:]
    cov_beta_extra = Jall @ given @ Jall.T
    if held.any():
        touched = (np.abs(Jall) @ held.astype(float)) > 0
        cov_beta_extra[touched, :] = np.nan
        cov_beta_extra[:, touched] = np.nan
    lower_all = np.concatenate([layout.lower, np.full(p + nd, -np.inf)])
    if nagq == 0:
        # the first stage minimised over theta (and the dispersion): check its gradient there
        def dev0_at(v):
            f, pl = bound(v[nt:])
            eta = engine.eta_at(r0.beta, r0.u, v[:nt])
            try:
                # (with the steps kept inside the mean's range where the fit needed them)
                return run(f, v[:nt], eta_start=eta, u_start=r0.u, plan=pl,
                             inside=warm["inside"], **tight).laplace
            except (ArithmeticError, np.linalg.LinAlgError):
                return np.inf

        check = {"deviance": dev0_at, "x": np.concatenate([theta, logd]), "lower": lower0}
    else:
        check = {"deviance": dev_all, "x": x, "lower": lower_all, "grad": grad, "hessian": H}
    tail = slice(opt.xopt.size - nd, opt.xopt.size)
    opt = replace(opt, x0=np.concatenate([st.theta_to_user(opt.x0[:nt]), st.beta_to_user(opt.x0[nt:nt + p]),
                                          opt.x0[tail]]),
                  xopt=np.concatenate([st.theta_to_user(opt.xopt[:nt]), st.beta_to_user(opt.xopt[nt:nt + p]),
                                       opt.xopt[tail]])) \
        if nagq else replace(opt, x0=np.concatenate([st.theta_to_user(opt.x0[:nt]), opt.x0[tail]]),
                             xopt=np.concatenate([st.theta_to_user(opt.xopt[:nt]), opt.xopt[tail]]))
    notes = []
    if (limit := _limit_message(fam, res.mu, prior)) is not None:
        notes.append(limit)
    if nagq > 1 and (outside := agq_outside(design, fam, theta, res, prior, nagq)):
        nodes = nagq - nagq % 2  # (the node at 0 is the mode, always in range)
        notes.append(f"adaptive quadrature: {outside} of the {nodes} x {design.terms[0].nlevels} (node, level) "
                     f"pairs put the {fam.name} mean outside its range ({fam.link.name} link), where the model "
                     "has no density and they count as zero; the log link keeps every mean in range, and "
                     "nagq=1 (Laplace) does not leave the modes")
    return engine.result_class._build(design=user_design, standardization=st, family=fam, theta=theta, beta=beta, vcov=V,
                              pirls=res, prior_weights=prior, nagq=nagq, opt=opt, check=check,
                              dispersion_se=np.sqrt(np.where(logd_var[:1] >= 0, logd_var[:1], np.nan))
                              if fam.dispersion_name else None, cov_beta_extra=cov_beta_extra,
                              cov_extra_working=(Jall, given),
                              loglik=agq_loglik(design, fam, theta, res, prior, nagq) if nagq > 1 else None,
                              response=response, formula=formula, offset_name=offset_name,
                              weights_name=weights_name, data_name=data_name, notes=tuple(notes))
