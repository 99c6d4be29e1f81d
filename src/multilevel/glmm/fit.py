"""``glmer``: generalized linear mixed models by the Laplace approximation."""

from __future__ import annotations

import re
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd

from ..design import build_design
from ..design.data import as_dataframe
from ..families import family as make_family
from ..inference.derivatives import hessian
from ..linalg import ThetaLayout
from ..lmm.optimize import minimize_theta
from ..formula import parse_formula
from .pirls import pirls

__all__ = ["glmer"]

_CBIND = re.compile(r"^\s*cbind\s*\((.*)\)\s*$")


def _split_cbind(inner: str) -> tuple[str, str]:
    depth = 0
    for i, ch in enumerate(inner):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            return inner[:i].strip(), inner[i + 1:].strip()
    raise ValueError(f"cbind() in the response needs two arguments, successes and failures: cbind({inner})")


def _response(parsed, data, weights, fam):
    """(data with a numeric response column, parsed formula, prior weights or None).

    A rewritten response keeps the formula's text, so errors quote what the user wrote.

    A factor response of a binomial model is coded as R codes it: the first
    level is failure (0), every other level success (1).
    """
    m = _CBIND.match(parsed.response)
    if not m:
        col = parsed.response
        if col in data.columns and fam.name == "binomial" and not pd.api.types.is_numeric_dtype(data[col]) \
                or col in data.columns and pd.api.types.is_bool_dtype(data[col]):
            s = data[col]
            if isinstance(s.dtype, pd.CategoricalDtype):
                first = s.cat.categories[0]
            else:
                first = sorted(s.dropna().unique())[0]
            y = np.where(s.isna(), np.nan, (s != first).astype(float))
            data = data.assign(__response__=y)
            return data, replace(parsed, response="__response__"), weights
        return data, parsed, weights
    succ, fail = _split_cbind(m.group(1))
    try:
        s = np.asarray(data.eval(succ), dtype=float)
        f = np.asarray(data.eval(fail), dtype=float)
    except Exception as exc:  # pandas raises several types for a bad expression
        raise ValueError(f"cannot evaluate cbind({succ}, {fail}) on the data: {exc}") from None
    if np.nanmin(f) < 0 or np.nanmin(s) < 0:
        raise ValueError(f"cbind({succ}, {fail}) has negative counts; give successes and failures (>= 0)")
    if weights is not None:
        raise ValueError("with cbind(successes, failures) the trials are the weights; do not pass weights=")
    n = s + f
    data = data.assign(__response__=np.where(n > 0, s / np.where(n > 0, n, 1.0), 0.0), __trials__=n)
    return data, replace(parsed, response="__response__"), "__trials__"


def glmer(formula: str, data, family="binomial", link=None, nagq: int = 1, weights=None,
          offset=None, optimizer: str = "bobyqa"):
    """Fit a generalized linear mixed model, as ``lme4::glmer``.

    Parameters
    ----------
    formula : str
        lme4 formula; the response may be 0/1, a proportion (with ``weights``
        = trials), or ``cbind(successes, failures)``.
    data : DataFrame
    family : {"binomial", "poisson"}
    link : str, optional
        binomial: logit (default), probit, cloglog; poisson: log.
    nagq : {0, 1}
        0: the fast first stage (fixed effects estimated inside PIRLS, as
        glmer's nAGQ = 0); 1: the Laplace approximation over theta and beta.
    weights, offset : str or array-like, optional

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
    """
    from ..results.glmer_result import GlmerResult

    fam = make_family(family, link)
    if fam.name == "gaussian":
        raise ValueError("for a gaussian response with the identity link use ml.lmer")
    if nagq not in (0, 1):
        if nagq > 1:
            raise NotImplementedError(
                "adaptive Gauss-Hermite quadrature (nagq > 1) is not available yet; use nagq=1 (Laplace)"
            )
        raise ValueError(f"nagq must be 0 or a positive integer, not {nagq}")
    parsed = parse_formula(formula)
    frame = as_dataframe(data)
    frame, parsed_y, weights = _response(parsed, frame, weights, fam)
    design = build_design(parsed_y, frame, weights=weights, offset=offset, observation_level=True)
    prior = np.ones(design.n) if design.weights is None else design.weights
    fam.check_response(design.y, None if design.weights is None else prior, parsed.response)
    # the design's weights are prior weights of the family, not of a working LMM
    design = replace(design, weights=None)
    layout = ThetaLayout.from_k(tuple(t.k for t in design.terms))
    p = design.p

    def dev0(theta):
        try:
            return pirls(design, fam, theta, layout, prior).laplace
        except (ArithmeticError, np.linalg.LinAlgError):
            return np.inf

    stage0 = minimize_theta(dev0, layout.start, layout.lower, optimizer=optimizer)
    r0 = pirls(design, fam, stage0.xopt, layout, prior)
    if nagq == 0:
        theta, beta, opt, res = stage0.xopt, r0.beta, stage0, r0
    else:
        nt = layout.ntheta
        last = {"u": r0.u}

        def dev1(x):
            try:
                r = pirls(design, fam, x[:nt], layout, prior, beta=x[nt:], u_start=last["u"])
            except (ArithmeticError, np.linalg.LinAlgError):
                return np.inf
            last["u"] = r.u
            return r.laplace

        x0 = np.concatenate([stage0.xopt, r0.beta])
        lower = np.concatenate([layout.lower, np.full(p, -np.inf)])
        opt = minimize_theta(dev1, x0, lower, optimizer=optimizer)
        theta, beta = opt.xopt[:nt], opt.xopt[nt:]
        res = pirls(design, fam, theta, layout, prior, beta=beta, u_start=last["u"])
    # covariance of beta: the beta block of 2 H^-1 over (theta, beta), as glmer's
    # default use.hessian = TRUE; for nAGQ = 0 the PIRLS approximation
    nt = layout.ntheta
    x = np.concatenate([theta, beta])

    def dev_all(v):
        return pirls(design, fam, v[:nt], layout, prior, beta=v[nt:], u_start=res.u).laplace

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        H = hessian(dev_all, x, h=np.maximum(1e-3 * np.abs(x), 1e-4), levels=1)
    try:
        V = 2.0 * np.linalg.inv(H)[nt:, nt:]
    except np.linalg.LinAlgError:
        V = np.full((p, p), np.nan)
    return GlmerResult._build(design=design, family=fam, theta=theta, beta=beta, vcov=V,
                              pirls=res, prior_weights=prior, nagq=nagq, opt=opt,
                              response=parsed.response, formula=formula,
                              data_name=getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None)
