"""Marginal means of a cumulative link model (``ml.clmm``) in emmeans' modes for ordinal models.

The coefficients are clmm's: the thresholds ``theta_1 < ... < theta_{K-1}``
and the location coefficients ``beta``, with ``P(Y <= j) = F(theta_j - x'beta)``.
A reference grid row ``x`` (the intercept column included) becomes, by mode:

- ``"latent"`` (emmeans' default): ``x'beta - mean(theta)``, the latent
  variable measured from the thresholds' average;
- ``"linear.predictor"``: ``theta_j - x'beta`` for each cut ``j`` (a grid
  factor ``cut``, levels ``"1|2"``, ...);
- ``"cum.prob"`` / ``"exc.prob"``: ``F(theta_j - x'beta)`` and its complement
  per cut;
- ``"prob"``: the class probabilities ``F(theta_k - x'beta) - F(theta_{k-1} -
  x'beta)`` (a grid factor named as the response);
- ``"mean.class"``: the expected class ``K - sum_j F(theta_j - x'beta)``.

The probabilities are formed per grid cell and then averaged (emmeans
regrids them before averaging), with delta-method standard errors and
asymptotic intervals and tests on that scale.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .estimates import Estimates

__all__ = ["MODES", "ordinal_family"]

MODES = ("latent", "linear.predictor", "cum.prob", "exc.prob", "prob", "mean.class")
_NAMES = {"cum.prob": "cumprob", "exc.prob": "exc.prob", "prob": "prob", "mean.class": "mean.class"}


def check_mode(mode) -> str:
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"unknown mode={mode!r} for a cumulative link model; choose one of {', '.join(MODES)}")
    return mode


def _estimates(fit, link: str) -> Estimates:
    """clmm's coefficients (thresholds, then location) with their covariance."""
    b = np.r_[fit.thresholds.to_numpy(), fit.beta.to_numpy()]
    basis, vcov_w = getattr(fit, "_working_cov", (None, None))
    return Estimates(design=fit.design, beta=b, vcov=fit.vcov.to_numpy(), draws=None, method="asymptotic",
                     family="cumulative", link=link, names=tuple(fit.vcov.index), basis=basis, vcov_w=vcov_w)


def _grid_rows(fit, rg) -> tuple[np.ndarray, np.ndarray]:
    """The grid's intercept column and location columns, in clmm's order of ``beta``."""
    names = list(fit.glmm.fixef.index)
    X = np.asarray(rg.linfct, dtype=float)
    one = X[:, names.index("(Intercept)")]
    loc = X[:, [names.index(n) for n in fit.beta.index]]
    return one, loc


def _expanded(rg, name: str, levels: tuple, linfct: np.ndarray, offset=None):
    """The grid with a factor ``name`` of ``levels`` varying fastest, and ``linfct`` and ``offset``
    (one row per cell and level)."""
    from .grid import expand_grid

    m = len(levels)
    variables = {name: tuple(levels), **rg.variables}
    factors = (name,) + tuple(rg.factors)
    frame = expand_grid(variables, factors)

    def rep(a):
        return None if a is None else np.repeat(np.asarray(a), m, axis=0)

    return replace(rg, variables=variables, factors=factors, frame=frame, linfct=linfct, linfct_full=linfct,
                   null_basis=None, estimable=rep(rg.estimable), counts=rep(rg.counts), offset=offset,
                   valid=rep(rg.valid) if rg.valid is not None else None)


def ordinal_family(fit, rg, specs, by, weights, mode: str, level: float):
    """The :class:`~multilevel.marginal.state.Family` of marginal means of ``specs`` (and ``by``) of a
    clmm fit in ``mode`` over its reference grid ``rg``."""
    from .emmeans import _labels, _weights
    from .state import Family

    if rg.null_basis is not None:
        raise ValueError("marginal means of a cumulative link model with aliased (rank-deficient) fixed effects "
                         "are not available; drop the aliased terms")
    one, loc = _grid_rows(fit, rg)
    cuts = list(fit.thresholds.index)
    K1 = len(cuts)
    ncell = one.size
    if mode == "latent":
        lin = np.column_stack([-np.outer(one, np.full(K1, 1.0 / K1)), loc])
        return _linear(fit, replace(rg, linfct=lin, linfct_full=lin, null_basis=None), specs, by, weights, level,
                       "identity")
    # one row per (cell, cut): theta_j - x'beta, the cut varying fastest
    base = np.zeros((ncell * K1, K1 + loc.shape[1]))
    for j in range(K1):
        base[j::K1, j] = one
        base[j::K1, K1:] = -loc
    # an offset enters the linear predictor x'beta + offset: theta_j - x'beta - offset per cut
    base_offset = np.zeros(ncell * K1) if rg.offset is None else -np.repeat(np.asarray(rg.offset, float), K1)
    if mode == "linear.predictor":
        fam = _linear(fit, _expanded(rg, "cut", tuple(cuts), base, base_offset), specs, by, weights, level,
                      "identity")
        return replace(fam, notes=fam.notes + (f"Results are given on the {fit.link} (not the response) scale.",))
    if mode in ("cum.prob", "exc.prob"):
        grid, T = _expanded(rg, "cut", tuple(cuts), base), np.eye(K1) * (1.0 if mode == "cum.prob" else -1.0)
        const = np.full(K1, 0.0 if mode == "cum.prob" else 1.0)
    elif mode == "prob":
        K = K1 + 1
        name = fit.response or fit.design.response_name
        grid = _expanded(rg, name, tuple(fit.levels), np.zeros((ncell * K, base.shape[1])))
        T = np.zeros((K, K1))
        T[np.arange(K1), np.arange(K1)] = 1.0
        T[np.arange(1, K), np.arange(K1)] -= 1.0
        const = np.zeros(K)
        const[-1] = 1.0
    else:  # mean.class
        grid, T, const = rg, -np.ones((1, K1)), np.array([float(K1 + 1)])
    facs = list(specs) + list(by)
    unknown = [f for f in facs if f not in grid.variables]
    if unknown:
        raise ValueError(f"{unknown[0]!r} is not a variable of this table's reference grid "
                         f"({', '.join(grid.variables)}); mode={mode!r}")
    W, averaged = _weights(grid, facs, weights)
    good = np.all(np.isfinite(W), axis=1)
    Wz = np.where(np.isfinite(W), W, 0.0)
    # the cells' quantities: T h(base rows) + const, cell by cell (levels fastest, as the grid)
    Tfull = np.kron(np.eye(ncell), T)
    R = Wz @ Tfull
    notes = _averaged_note(averaged, grid.factors[0] if grid is not rg else None, first=mode == "prob")
    est = _estimates(fit, fit.link)
    return Family(est=est, L=base, offset=base_offset, Lfull=base, null_basis=None,
                  labels=_labels(grid, facs), by=tuple(by), kind="emmeans", scale="regrid", adjust="none",
                  R=R, const=Wz @ np.tile(const, ncell), notes=tuple(notes), level=level,
                  missing=None if good.all() else ~good, estimate=_NAMES[mode])


def _averaged_note(averaged, added, first: bool = False) -> list[str]:
    """emmeans' note on the variables averaged over, the grid's added factor last (``cut``) or
    first (the response's categories)."""
    if not averaged:
        return []
    rest, mine = [v for v in averaged if v != added], [v for v in averaged if v == added]
    order = mine + rest if first else rest + mine
    return [f"Results are averaged over the levels of: {', '.join(order)}"]


def _linear(fit, grid, specs, by, weights, level, link):
    from .emmeans import _family

    fam = _family(_estimates(fit, link), grid, list(specs), list(by), weights, "link", level)
    head = "Results are averaged over the levels of: "
    notes = []
    for n in fam.notes:
        if n.startswith(head):
            notes += _averaged_note(n[len(head):].split(", "), "cut" if "cut" in grid.variables else None)
        else:
            notes.append(n)
    return replace(fam, notes=tuple(notes))
