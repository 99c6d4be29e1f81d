"""``lmer``: fit a linear mixed model by ML or REML."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import replace

import numpy as np

from ..design import build_design, standardize
from ..linalg.dense import LARGE
from ..linalg.threads import SMALL_BLOCK, ThreadChoice, blas_threads
from ..arguments import as_bool, as_choice, short_repr
from .convergence import (SINGULAR_TOL, check_convergence, finite_gradient, singular_message,
                          singular_terms)
from .objective import LmmObjective, solve_effects
from .optimize import best_of_restarts, minimize_theta
from .gradient import applies as scalar_terms
from .quasi_newton import CONVERGED, minimize_with_gradient, minimize_with_gradient_function
from .start import moment_start

__all__ = ["lmer", "fit_design", "fit_from"]


def check_start(start, lower) -> np.ndarray:
    """Explicit start values of theta, checked: one finite number per theta, the
    diagonal elements (lower bound 0) not negative.

    Examples
    --------
    >>> check_start([1.0, 0.5, 2.0], np.array([0.0, -np.inf, 0.0])).tolist()
    [1.0, 0.5, 2.0]
    >>> check_start([-1.0, 0.0, 1.0], np.array([0.0, -np.inf, 0.0]))
    Traceback (most recent call last):
    ...
    ValueError: start value 1 of theta is -1, below its lower bound 0 (a diagonal element of a relative covariance factor is a standard deviation ratio, >= 0)
    """
    try:
        x0 = np.asarray(start, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"start must be 'moments', 'identity' or numbers (one per theta), not {short_repr(start)}") from None
    if x0.ndim > 1:
        raise ValueError(f"start must be a flat list of numbers (one per theta), not an array of shape {x0.shape}")
    x0 = x0.ravel()
    if x0.shape != lower.shape:
        raise ValueError(f"start must have {lower.size} values (one per theta), not {x0.size}")
    if not np.all(np.isfinite(x0)):
        raise ValueError(f"start values must be finite numbers, not {x0.tolist()}")
    below = np.nonzero(x0 < lower)[0]
    if below.size:
        i = int(below[0])
        raise ValueError(
            f"start value {i + 1} of theta is {x0[i]:g}, below its lower bound {lower[i]:g} (a diagonal "
            "element of a relative covariance factor is a standard deviation ratio, >= 0)"
        )
    return x0


def identifiability(design, counts=None) -> list[str]:
    """Refuse a linear mixed model with at least as many random effects in one term
    as observations (as lme4 does); say when the residual variance cannot be told
    apart from the variances of a grouping factor's random effects. ``counts``,
    each term's rows per level, stands in for the level codes of a design
    without rows (data in parts).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> an = ml.datasets.load("anorexia")
    >>> identifiability(build_design("weight ~ time + (1 + time || girl)", an))[0][:60]
    "every level of 'girl' has at most 2 observations for its 2 r"
    """
    n = design.n
    for t in design.terms:
        if t.structure is not None and t.q >= n:
            # a few parameters for many random effects: identified with the residual variance,
            # except compound symmetry's common variance, which adds to it on every occasion
            indicators = counts is None and bool(np.all((t.Z == 0) | (t.Z == 1)) and np.all(t.Z.sum(axis=1) == 1))
            if t.structure.kind == "cs" and indicators:
                raise ValueError(
                    f"{t.text} has {t.q} random effects for {n} observations: with at most one observation "
                    "per column and level its variance (1 - rho) cannot be told apart from the residual "
                    f"variance, and the model is the random intercept model (1 | {t.group}); write that")
            if t.structure.kind == "cs":
                raise ValueError(
                    f"{t.text} has {t.q} random effects for {n} observations: its common variance cannot "
                    f"be told apart from the residual variance; use fewer columns, or hcs(...)")
            continue
        if t.q >= n:
            raise ValueError(
                f"the random-effects term {t.text} has {t.q} random effects ({t.k} for each of "
                f"{t.nlevels} levels of {t.group!r}) for {n} observations: its variances cannot be told "
                "apart from the residual variance (lme4 refuses such a model too); use fewer random "
                f"effects, e.g. (1 | {t.group}), or more data"
            )
    out = []
    by_group: dict[str, list] = {}
    for t in design.terms:
        by_group.setdefault(t.group, []).append(t)
    for group, terms in by_group.items():
        terms = [t for t in terms if t.structure is None]  # (a structure has few parameters)
        if not terms:
            continue
        K = sum(t.k for t in terms)
        first = next(i for i, t in enumerate(design.terms) if t is terms[0])
        most = int(np.max(counts[first]) if counts is not None else np.bincount(terms[0].codes).max())
        if K > 1 and most <= K:
            out.append(
                f"every level of {group!r} has at most {most} observations for its {K} random effects: "
                "the residual variance and the variances of these random effects cannot be told apart "
                "(they are not identified), so their estimates are arbitrary; use fewer random effects "
                f"per level, e.g. (1 | {group})"
            )
    return out


def _check(obj, opt, lower, layout, grad=None) -> list[str]:
    """Convergence messages at the optimizer's stop (none on the boundary, where
    the gradient need not vanish, as lme4 skips singular fits); ``grad``, the
    exact gradient where the optimizer had it, saves the finite differences."""
    x = opt.xopt
    if x.size == 0 or np.any(layout.diagonal & (x < SINGULAR_TOL)):
        return []
    if grad is not None:
        return check_convergence(obj, x, lower, False, grad=grad)
    g, curv = finite_gradient(obj, x, lower, f0=opt.fopt, curvature=True)
    return check_convergence(obj, x, lower, False, grad=g, curvature=curv)


def _optimize(obj, fun, x0, lower, layout, optimizer: str):
    """The optimum of the criterion from ``x0``: by BFGS with the compiled exact
    gradient where ``optimizer`` is "auto", the model has one random-effects term
    and the optimum is inside the bounds (by L-BFGS-B with the exact gradient in
    Python for a model of scalar terms only whose criterion is not compiled:
    crossed intercepts with many levels); by the derivative-free ``optimizer``
    (BOBYQA for "auto") otherwise, from the same start. Returns the summary and
    the exact gradient at the optimum (None where not known).

    On the boundary the gradient misleads: the criterion depends on each term's
    factor only through ``T T'``, so its derivative in a diagonal element that
    is zero vanishes by symmetry and BFGS would stay there. A start with such an
    element (a refit of a singular fit) goes to BOBYQA directly, and so does an
    optimum that BFGS finds next to the boundary."""
    if optimizer == "auto":
        args = obj.gradient_arguments()
        near_bound = layout.diagonal & (x0 - lower < SINGULAR_TOL)
        fg = None
        dense = obj.cp.q_rest + obj.cp.p + 1
        if args is None and obj._best.get("kernel") is None and scalar_terms(obj.cp, layout) \
                and dense <= LARGE:
            # all-scalar terms without a compiled criterion (InstEval's crossed
            # intercepts): the gradient costs an inverse of the dense block
            # (BLAS threads chosen by timing where the dense block is large, as for the criterion);
            # not beyond LARGE, where the inverse runs on one thread (linalg.dense) and costs
            # three factorisations: BOBYQA's evaluations are cheaper there
            large = dense > SMALL_BLOCK
            fg = ThreadChoice(obj.value_and_gradient) if large else obj.value_and_gradient
        if (args is not None or fg is not None) and not near_bound.any():
            opt, grad, status = minimize_with_gradient(args, x0, lower) if fg is None \
                else minimize_with_gradient_function(fg, x0, lower, near=SINGULAR_TOL)
            if status == CONVERGED and not np.any(layout.diagonal & (opt.xopt - lower < SINGULAR_TOL)):
                return opt, grad
            # a variance heading for zero: BOBYQA handles the bound, from the same start
            again = minimize_theta(fun, x0, lower, optimizer="bobyqa")
            if np.isfinite(opt.fopt) and opt.fopt < again.fopt - 1e-6 * max(1.0, abs(again.fopt)):
                # BFGS got well below where BOBYQA stopped (a local optimum): go on from its point
                better = minimize_theta(fun, opt.xopt, lower, optimizer="bobyqa")
                if better.fopt < again.fopt:
                    again = replace(better, x0=again.x0, feval=better.feval + again.feval,
                                    seconds=better.seconds + again.seconds)
            return replace(again, feval=again.feval + opt.feval, seconds=again.seconds + opt.seconds), None
        optimizer = "bobyqa"
    return minimize_theta(fun, x0, lower, optimizer=optimizer), None


def off_the_boundary(fun, opt, lower, layout):
    """``opt``, or a lower optimum where a derivative-free search that ended with a variance at
    0 stepped onto the bound from an interior optimum: the criterion is probed with those
    elements at 0.01 and 0.001 (two evaluations), and where it falls there BOBYQA searches on
    from the lower probe. (From the moment start near such an optimum, 0.027 on a crossed
    model, BOBYQA's first steps landed on 0 and stayed: a false singular fit, 0.014 above
    lme4's.) A boundary optimum rises away from 0 (the criterion is even in each element).

    Examples
    --------
    >>> from multilevel.linalg import ThetaLayout
    >>> lay = ThetaLayout.from_k((1,))
    >>> f = lambda x: float((x[0] ** 2 - 0.03 ** 2) ** 2 * 1e6)   # minima at +-0.03, 0 a stationary point
    >>> stuck = minimize_theta(f, np.array([0.0]), lay.lower, initial_step=np.array([1e-9]))
    >>> round(float(off_the_boundary(f, stuck, lay.lower, lay).xopt[0]), 4)
    0.03
    """
    x = np.asarray(opt.xopt, dtype=float)
    diagonal = np.zeros(x.size, dtype=bool)
    diagonal[: layout.ntheta] = layout.diagonal  # (a joint search's further parameters after theta)
    zero = diagonal & (x - lower < SINGULAR_TOL)
    if not zero.any() or not np.isfinite(opt.fopt):
        return opt
    best, fbest = None, opt.fopt - 1e-10 * max(1.0, abs(opt.fopt))
    evals = 0
    for delta in (1e-2, 1e-3):
        probe = x.copy()
        probe[zero] = lower[zero] + delta
        value = float(fun(probe))
        evals += 1
        if value < fbest:
            best, fbest = probe, value
    if best is None:
        return replace(opt, feval=opt.feval + evals)
    method = opt.optimizer if opt.optimizer in ("bobyqa", "cobyqa", "nelder-mead") else "bobyqa"
    again = minimize_theta(fun, best, lower, optimizer=method)
    if again.fopt < opt.fopt:
        return replace(again, x0=opt.x0, feval=opt.feval + evals + again.feval,
                       seconds=opt.seconds + again.seconds)
    return replace(opt, feval=opt.feval + evals + again.feval)


def snap_to_boundary(obj, theta: np.ndarray, fopt: float, layout) -> np.ndarray:
    """Set diagonal elements below the singular tolerance to exactly zero when the
    criterion there is no worse (to 1e-10 relative): BOBYQA approaches a bound
    without always landing on it, and a variance of 7e-7 that should be 0 is
    the same fit, reported more plainly."""
    small = layout.diagonal & (np.abs(theta) < SINGULAR_TOL) & (theta != 0)
    if not small.any():
        return theta
    snapped = np.where(small, 0.0, theta)
    f = obj(snapped)
    return snapped if f - fopt <= 1e-10 * max(1.0, abs(fopt)) else theta


def fit_design(design, reml: bool = True, optimizer: str = "auto", start=None,
               data_name: str | None = None, _restore=None, _like=None):
    """Fit a linear mixed model to a built :class:`~multilevel.design.Design`.

    The stages are exposed so each can be called on its own: ``build_design``
    (parse and materialise), ``LmmObjective`` (theta -> criterion),
    ``minimize_theta`` (optimize) and this function (result).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> round(fit_design(d).objective, 3)
    1743.628
    """
    reml = as_bool(reml, "reml")
    if not design.terms:
        raise ValueError(
            "the formula has no random-effects term such as (1 | group); "
            "for a model without random effects use ml.lm"
        )
    if design.dispersion is not None and _restore is None:
        from .dispersion import fit_with_dispersion

        return fit_with_dispersion(design, reml, optimizer, start, data_name, fit_design)
    if design.residual is not None and _restore is None:
        from .correlation import fit_with_correlation

        return fit_with_correlation(design, reml, optimizer, start, data_name, fit_design)
    unidentified = identifiability(design)
    # the optimisation runs on a standardised copy of the design, so that it
    # does not depend on the units of the predictors or the response
    st, inner = standardize(design, like=_like)
    obj = LmmObjective.from_design(inner, reml=reml)
    layout = obj.layout
    lower = layout.lower
    from .joint import theta_start

    x0 = theta_start(start, inner, layout, st, moments=lambda: moment_start(inner, layout, obj.cp))
    if optimizer == "quasi-newton":  # a refit of a fit that the compiled BFGS found
        optimizer = "auto"
    # BLAS threads: one for a small dense block (or the compiled kernel), for the rest of the
    # fit too (OpenBLAS's triangular solves wake their threads even for a 2 x 2 matrix, which
    # next to a busy process made small fits 2-3x slower); timed against the default for a
    # large block
    if obj._best.get("kernel") is not None or obj.cp.q_rest + obj.cp.p + 1 <= SMALL_BLOCK:
        scope, fun = blas_threads(1), obj.evaluator()
    else:
        scope, fun = contextlib.nullcontext(), ThreadChoice(obj)
    with scope:
        return _fit_and_build(design, obj, st, fun, x0, lower, layout, optimizer, unidentified,
                              data_name, _restore)


def _fit_and_build(design, obj, st, fun, x0, lower, layout, optimizer, unidentified, data_name,
                   _restore, result_class=None):
    """The optimisation and the result of :func:`fit_design` (an ``LmerResult``,
    or ``result_class``)."""
    from ..results import LmerResult

    result_class = LmerResult if result_class is None else result_class

    if _restore is not None:
        # a saved result: its optimum, not a new search (multilevel.results.archive)
        saved, internal = _restore
        xopt = np.asarray(internal, dtype=float) if internal is not None else st.theta_to_internal(saved.xopt)
        opt = replace(saved, x0=st.theta_to_internal(saved.x0), xopt=xopt, lower=lower)
        grad = None
    else:
        opt, grad = _optimize(obj, fun, x0, lower, layout, optimizer)
    conv = _check(fun, opt, lower, layout, grad)
    if conv and _restore is None:
        # a trust-region method can stop on a small improvement far from the
        # optimum: restart once from where it stopped, with a fresh region
        method = "bobyqa" if opt.optimizer == "quasi-newton" else opt.optimizer
        again = minimize_theta(fun, opt.xopt, lower, optimizer=method)
        if again.fopt <= opt.fopt:
            opt = replace(again, x0=opt.x0, feval=opt.feval + again.feval,
                          seconds=opt.seconds + again.seconds)
            conv = _check(fun, opt, lower, layout)
    if _restore is None:
        searched = opt
        opt = off_the_boundary(fun, opt, lower, layout)
        if opt.xopt is not searched.xopt:
            conv = _check(fun, opt, lower, layout)
    if _restore is None and layout.structured:
        # a structured term whose correlation is not identified where the search ended (its SDs at 0,
        # or some with the correlation at an end of its interval): search again
        # with the correlation near either end (Structure.restarts)
        searched = opt
        opt = best_of_restarts(fun, opt, layout.restarts(opt.xopt, SINGULAR_TOL), lower, opt.optimizer)
        if opt.xopt is not searched.xopt:
            conv = _check(fun, opt, lower, layout)
    theta = opt.xopt
    theta = snap_to_boundary(fun, theta, opt.fopt, layout)
    fac = obj.factor(theta)
    beta, u0, u_rest = solve_effects(fac, obj.cp)
    labels = [t.label for t in design.terms]
    columns = [t.columns for t in design.terms]
    sing = singular_terms(theta, layout, labels, columns, bases=st.B)
    messages = list(unidentified)
    if not opt.converged:
        messages.append(
            f"optimizer stopped early ({opt.result}) after {opt.feval} evaluations; "
            "estimates may not be at the optimum"
        )
    if sing:
        messages.append(singular_message(sing))
    if not sing:
        messages.extend(conv if np.array_equal(theta, opt.xopt)
                        else check_convergence(fun, theta, lower, False))
    for m in messages:
        warnings.warn(m, stacklevel=4)  # the caller of lmer (lmer -> fit_design -> here)
    # the optimizer's record on the user's scale
    opt = replace(opt, x0=st.theta_to_user(opt.x0), xopt=st.theta_to_user(opt.xopt))
    return result_class._build(
        design=design, objective=obj, factor=fac, theta=theta, beta=beta, u0=u0,
        u_rest=u_rest, opt=opt, messages=tuple(messages), singular=bool(sing),
        data_name=data_name, standardization=st,
    )


def fit_from(design, reml: bool, optimizer: str, start, singular: bool, data_name=None, _like=None):
    """:func:`fit_design` from ``start`` (a fit's theta: a refit of that fit).

    Where that fit is ``singular`` its theta has a variance of zero, from where
    the optimizer can stop at a local optimum above the refit's (11 of 40
    bootstrap refits of a random-slope model did): the refit then also starts as
    a fresh fit does and keeps the lower optimum.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> round(fit_from(d, False, "auto", [0.93, 0.02, 0.22], singular=False).objective, 2)
    1751.94
    """
    if not singular or start is None:
        return fit_design(design, reml=reml, optimizer=optimizer, start=start, data_name=data_name, _like=_like)
    method = "auto" if optimizer in ("bobyqa", "quasi-newton") else optimizer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the kept fit's messages are issued below, once
        refit = fit_design(design, reml=reml, optimizer=optimizer, start=start, data_name=data_name, _like=_like)
        fresh = fit_design(design, reml=reml, optimizer=method, start=None, data_name=data_name, _like=_like)
    if fresh.objective < refit.objective:
        refit = fresh
    for m in refit.messages:
        warnings.warn(m, stacklevel=2)
    return refit


def lmer(formula: str, data, reml: bool = True, weights=None, offset=None,
         optimizer: str = "auto", start=None, dispformula: str | None = None, residual: str | None = None):
    """Fit a linear mixed model, as ``lme4::lmer``.

    Parameters
    ----------
    formula : str
        lme4 formula, e.g. ``"y ~ 1 + x + z + x:z + (1 + x | g)"``; ``(x || g)``
        for uncorrelated effects, ``(1 | a/b)`` for nested, several bars for
        crossed factors.
    data : DataFrame or str
        pandas or polars. Rows with missing values in the variables used are
        dropped (the count is kept in ``n_dropped`` and printed). Or data
        larger than memory: a Dask DataFrame, or a path to Parquet files
        (``"data/*.parquet"``), fitted in two passes over its parts on the
        current Dask scheduler (a ``distributed.Client`` if one is running)
        with the same result as in memory; fitted values, residuals and
        predictions are then Dask Series (see
        :mod:`multilevel.lmm.out_of_core`).
    reml : bool, default True
        REML (as lmer's default) or maximum likelihood (``reml=False``).
    weights, offset : str or array-like, optional
        Prior weights and an offset: a column name or one value per row.
    optimizer : {"auto", "bobyqa", "cobyqa", "nelder-mead"}
        How theta is optimised. ``"auto"`` (default): a model with one
        random-effects term is optimised by BFGS with the criterion's exact
        gradient, compiled (``fit.optinfo.optimizer`` is then
        ``"quasi-newton"``), unless its optimum lies on the boundary (a
        variance estimated as zero) or the start does, where BOBYQA takes over
        from the same start; other models by BOBYQA (NLopt, lme4's default for
        ``lmer``).
        Or one of the derivative-free methods by name: BOBYQA, scipy's COBYQA,
        NLopt's bounded Nelder-Mead.
    start : {"moments", "identity"} or array-like, optional
        Start values of theta: ``"moments"`` (default) from per-group least
        squares, which saves evaluations on large problems; ``"identity"`` as
        lme4 starts; or explicit values.
    dispformula : str, optional
        A model for the residual standard deviation, glmmTMB's
        ``dispformula``: the right-hand side of a fixed-effects formula,
        ``log sigma_i = log sigma + (x_i - c)' delta`` (``"~ Sex"``: a residual SD
        per level, nlme's ``varIdent(form = ~ 1 | Sex)``; ``"~ age"``: an
        exponential trend, nlme's ``varExp(form = ~ age)``), estimated with
        theta by ML or REML; ``c`` is 0 for a factor's indicators and a
        numeric column's mean, so ``fit.sigma`` is the residual SD at a
        factor's first level and at the mean of a numeric column.
        ``fit.dispersion`` tables ``delta`` (log SD ratios) with standard
        errors and the SD ratios ``exp(delta)``. ``"~ 0"``: no residual
        variance apart from a structured term's, which then carries the
        residual covariance (``us(0 + visit | id)``: an MMRM); the fit is
        generalized least squares, a :class:`~multilevel.regression.GlsResult`
        (see :func:`multilevel.gls`), or, with other random-effects terms,
        this function's fit with ``residual=``.
    residual : str, optional
        Correlated residuals within groups, nlme's ``correlation=``:
        ``"ar1(time | g)"`` (``cor(e_i, e_j) = rho^|t_i - t_j|`` within each
        level of ``g``: ``corAR1(form = ~ time | g)``, gaps in integer times
        allowed) or ``"cs(1 | g)"`` (one correlation, ``corCompSymm``),
        estimated with theta by ML or REML; ``g`` must be nested in every
        random-effects grouping factor. ``fit.residual_correlation`` gives
        rho; ``fit.residuals("normalized")`` the residuals with the
        correlation undone (nlme's ``type = "normalized"``).

    Returns
    -------
    LmerResult

    Examples
    --------
    >>> import multilevel as ml
    >>> gcse = ml.datasets.load("gcsemv")
    >>> m3 = ml.lmer("course ~ 1 + female + (1 + female | school)", data=gcse, reml=False)
    >>> round(m3.aic, 1)
    13983.4
    >>> m3.fixef.round(3).to_dict()
    {'(Intercept)': 69.425, 'femaleF': 7.128}
    """
    reml = as_bool(reml, "reml")
    as_choice(optimizer, "optimizer", ("auto", "bobyqa", "cobyqa", "nelder-mead"))
    from ..design.partitioned import is_partitioned
    from ..regression.term_as_residual import fit_term_as_residual, is_no_residual

    if is_no_residual(dispformula) and not is_partitioned(data):
        if start is not None:
            raise ValueError("start= sets theta, and with dispformula='~ 0' the structured term is fitted as the "
                             "residual covariance: leave start out")
        return fit_term_as_residual(formula, data, reml, weights, offset, optimizer, residual)
    if is_partitioned(data):
        if dispformula is not None or residual is not None:
            raise ValueError("dispformula= and residual= are not available yet for data in parts (a Dask "
                             "DataFrame or Parquet files); fit such a model in memory")
        from .out_of_core import lmer_partitioned

        import os

        name = os.fspath(data) if isinstance(data, (str, os.PathLike)) else None
        fit = lmer_partitioned(formula, data, reml=reml, weights=weights, offset=offset,
                               optimizer=optimizer, start=start, data_name=name)
        return replace(fit, offset_name=offset) if isinstance(offset, str) else fit
    design = build_design(formula, data, weights=weights, offset=offset)
    if dispformula is not None:
        from ..design.data import as_dataframe
        from ..design.dispersion import dispersion_model

        design = replace(design, dispersion=dispersion_model(dispformula, as_dataframe(data), design,
                                                             design.formula.response))
    if residual is not None:
        from ..design.correlation import residual_correlation
        from ..design.data import as_dataframe

        design = replace(design, residual=residual_correlation(residual, as_dataframe(data), design))
        if design.residual.kind == "us":
            raise ValueError(f"residual={residual!r}: an unstructured residual correlation is available without "
                             "random effects, in ml.gls (nlme's gls with corSymm); with random effects use "
                             "'ar1(time | g)' or 'cs(1 | g)'")
    name = None
    attrs = getattr(data, "attrs", None)
    if isinstance(attrs, dict):
        name = attrs.get("name")
    fit = fit_design(design, reml=reml, optimizer=optimizer, start=start, data_name=name)
    if isinstance(offset, str):  # new data for predict() carry it in this column
        fit = replace(fit, offset_name=offset)
    return fit
