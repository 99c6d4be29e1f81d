"""What marginal means need from a fit: coefficients, their uncertainty and the df of a contrast.

One small object stands for an lmer fit (with Kenward-Roger, Satterthwaite or
asymptotic degrees of freedom, as emmeans' ``lmer.df``), a glmer fit
(asymptotic) and a Bayesian posterior (the draws of the coefficients), so the
rest of :mod:`multilevel.marginal` never asks which it holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

__all__ = ["Estimates", "estimates", "DF_METHODS"]

DF_METHODS = ("kenward-roger", "satterthwaite", "asymptotic")


@dataclass(frozen=True)
class Estimates:
    """Coefficients of a fit with what inference on ``L beta`` needs.

    Attributes
    ----------
    design : Design
    beta : ndarray (p,)
        Point estimates (for a posterior, the posterior means).
    vcov : ndarray (p, p) or None
        Their covariance (Kenward-Roger's adjusted one under that method);
        None for a posterior.
    draws : ndarray (m, p) or None
        Posterior draws of the coefficients.
    method : str
        "kenward-roger", "satterthwaite", "asymptotic" or "bayes".
    family, link : str
    note : str or None
        Why the df method differs from the one asked for.
    names : tuple of str or None
        The coefficients' names where they are not the design's fixed effects
        (a cumulative model's thresholds and location coefficients).
    basis, vcov_w : ndarray or None
        ``T`` and the standardised coefficients' covariance, ``vcov = T vcov_w T'``
        (see :meth:`cov`).
    """

    design: object
    beta: np.ndarray
    vcov: np.ndarray | None
    draws: np.ndarray | None
    method: str
    family: str
    link: str
    note: str | None = None
    _df: Callable | None = field(default=None, repr=False)
    names: tuple | None = None
    basis: np.ndarray | None = field(default=None, repr=False)
    vcov_w: np.ndarray | None = field(default=None, repr=False)

    def cov(self, L: np.ndarray) -> np.ndarray:
        """``L vcov L'`` for contrasts ``L`` (rows), through the standardised coefficients where
        the basis is known (``vcov = T vcov_w T'``): a predictor far from zero (``x + 1e9``)
        would otherwise cancel the digits of a mean's variance away."""
        L = np.atleast_2d(np.asarray(L, dtype=float))
        if self.basis is None:
            return L @ self.vcov @ L.T
        Lw = L @ self.basis
        return Lw @ self.vcov_w @ Lw.T

    def df(self, L: np.ndarray) -> np.ndarray:
        """Degrees of freedom of each row of ``L`` (inf: asymptotic)."""
        L = np.atleast_2d(L)
        if self._df is None:
            return np.full(L.shape[0], np.inf)
        return np.array([self._df(row) if np.any(row != 0) else np.nan for row in L])


def _kind(fit) -> str:
    from ..design.rowless import require_rows

    require_rows(fit, "computing marginal means, effects or slopes (their reference grid comes from the rows)")
    for cls in type(fit).__mro__:  # (subclasses: the fits to data in parts)
        if cls.__name__ in ("LmerResult", "GlmerResult", "Posterior", "GlsResult"):
            return cls.__name__
    if type(fit).__name__ == "ClmmResult":
        raise TypeError("trends, effects and slopes of a cumulative link model are not available; its "
                        "marginal means are: ml.emmeans(fit, specs, mode=...)")
    raise TypeError(f"marginal means need a fit from ml.lmer, ml.glmer, ml.gls, ml.clmm or ml.bayes, not "
                    f"{type(fit).__name__}")


def check_df_method(df) -> str | None:
    if df is None:
        return None
    if not isinstance(df, str) or df.lower().replace("_", "-") not in DF_METHODS + ("df.error",):
        raise ValueError(f"unknown df={df!r}; choose one of {', '.join(DF_METHODS)} (or None for "
                         "Kenward-Roger where it applies; 'df.error' for ml.gls fits)")
    return df.lower().replace("_", "-")


def _gls_estimates(fit, df: str | None) -> Estimates:
    """A generalized least squares fit: Satterthwaite's df (by default; emmeans' default for gls,
    "appx-satterthwaite", approximates them by random perturbations of the data), emmeans'
    ``mode = "df.error"`` (``n - p`` less the number of correlation and SD-model parameters) or
    asymptotic."""
    method = df or "satterthwaite"
    beta, vcov = fit.fixef.to_numpy(), fit.vcov.to_numpy()
    basis, vcov_w = fit._working_cov
    common = dict(design=fit.design, beta=beta, vcov=vcov, draws=None, family="gaussian", link="identity",
                  basis=basis, vcov_w=vcov_w)
    if method == "kenward-roger":
        raise ValueError("Kenward-Roger's df are not available for ml.gls fits (nor in emmeans); use "
                         "df='satterthwaite' (the default), 'df.error' or 'asymptotic'")
    if method == "satterthwaite":
        from ..inference.satterthwaite import satterthwaite_df

        vc = fit._varpar_cov
        return Estimates(method=method, _df=lambda row: satterthwaite_df(vc, row), **common)
    if method == "df.error":
        d = fit.design
        extra = (0 if d.residual is None else (d.residual.nparams if d.residual.kind == "us" else 1)) + \
            (0 if d.dispersion is None else len(d.dispersion.names))
        dfe = float(fit.df_resid - extra)
        return Estimates(method=method, _df=lambda row: dfe, **common)
    return Estimates(method="asymptotic", **common)


def estimates(fit, df: str | None = None) -> Estimates:
    """The :class:`Estimates` of a fit.

    Parameters
    ----------
    fit : LmerResult, GlmerResult, GlsResult or Posterior
    df : {"kenward-roger", "satterthwaite", "asymptotic"}, optional
        For lmer fits (default Kenward-Roger, as emmeans; an ML fit takes its
        covariance and df from the REML fit of the same model, as pbkrtest
        does). Models with more random effects than Kenward-Roger's dense
        matrices allow fall back to Satterthwaite.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> est = estimates(fit)
    >>> est.method, est.df([[0.0, 1.0]]).round(2).tolist()
    ('kenward-roger', [17.0])
    """
    kind = _kind(fit)
    df = check_df_method(df)
    if kind == "GlsResult":
        return _gls_estimates(fit, df)
    if df == "df.error":
        raise ValueError("df='df.error' applies to ml.gls fits; for lmer fits choose kenward-roger, "
                         "satterthwaite or asymptotic")
    if kind == "Posterior":
        if fit.family == "cumulative":
            raise ValueError("marginal means, effects and slopes of a cumulative model are not available "
                             "(its mean is a probability per category); use post.epred(newdata) for the "
                             "category probabilities at chosen predictor values")
        if df is not None:
            raise ValueError("df= applies to lmer fits; a posterior's intervals come from its draws")
        draws = fit._beta_flat()
        return Estimates(design=fit.model.design, beta=draws.mean(axis=0), vcov=None, draws=draws,
                         method="bayes", family=fit.family, link=fit.link)
    beta = fit.fixef.to_numpy()
    vcov = fit.vcov.to_numpy()
    if kind == "GlmerResult":
        if df not in (None, "asymptotic"):
            raise ValueError(f"df={df!r} applies to lmer fits; a glmer fit's tests are asymptotic (z)")
        basis, vcov_w = fit._working_cov
        return Estimates(design=fit.design, beta=beta, vcov=vcov, draws=None, method="asymptotic",
                         family=fit.family.name, link=fit.family.link.name, basis=basis, vcov_w=vcov_w)
    # (Kenward-Roger's needs a covariance linear in its parameters: Satterthwaite's for a structured term)
    structured = (any(t.structure is not None and t.structure.kind != "cs" for t in fit.design.terms)
                  or getattr(fit.design, "residual", None) is not None)
    method = df or ("satterthwaite" if structured else "kenward-roger")
    if method == "kenward-roger":
        from ..inference.kenward_roger import MAX_Q, kr_ddf

        q = sum(t.q for t in fit.design.terms)
        if q > MAX_Q:
            note = (f"Kenward-Roger needs dense {q} x {q} matrices (limit {MAX_Q}): "
                    "Satterthwaite's df are used instead")
            return replace(estimates(fit, "satterthwaite"), note=note)
        else:
            kr = (fit if fit.reml else fit.refit(reml=True))._kenward_roger
            # an ML fit: the adjusted covariance of its REML fit, and df from that
            # fit's derivatives around the ML fit's own covariance (pbkrtest's Lb_ddf
            # as emmeans calls it)
            kr_df = kr if fit.reml else kr.with_phi_working(*fit._working_cov) \
                if fit._working_cov[0] is not None else kr.with_phi_user(vcov)
            return Estimates(design=fit.design, beta=beta, vcov=kr.phi_adj_user, draws=None,
                             method=method, family="gaussian", link="identity",
                             _df=lambda row: kr_ddf(kr_df, row[None, :])[0], basis=kr.Tx, vcov_w=kr.phi_adj)
    if method == "satterthwaite":
        from ..inference.satterthwaite import satterthwaite_df

        vc = fit._varpar_cov
        return Estimates(design=fit.design, beta=beta, vcov=vcov, draws=None, method=method,
                         family="gaussian", link="identity",
                         _df=lambda row: satterthwaite_df(vc, row), basis=vc.basis, vcov_w=vc.vcov_beta_w)
    basis, vcov_w = fit._working_cov
    return Estimates(design=fit.design, beta=beta, vcov=vcov, draws=None, method="asymptotic",
                     family="gaussian", link="identity", basis=basis, vcov_w=vcov_w)
