"""Start values of theta from a two-stage (per-group least squares) moment estimate.

lme4 starts every fit at identity relative covariance factors. A start near the
optimum saves many objective evaluations on large problems (about half of them
on InstEval's crossed intercepts), so each scalar term is started at a
method-of-moments estimate: the spread of per-group least-squares coefficients
of the OLS residuals, less their average sampling variance, relative to the
residual variance. Vector-valued terms keep lme4's identity start: measured on
the reference models, moment starts there cost BOBYQA more evaluations, not fewer.
"""

from __future__ import annotations

import numpy as np

from ..design import Design

__all__ = ["moment_start", "moment_start_from_products", "scalar_start"]

_MIN, _MAX = 0.05, 10.0


def _per_group(term, Zw: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-group Z'Z blocks, Z'r vectors and observation counts."""
    k, nl = term.k, term.nlevels
    ZtZ = np.empty((nl, k, k))
    for a in range(k):
        for b in range(a, k):
            ZtZ[:, a, b] = ZtZ[:, b, a] = np.bincount(term.codes, Zw[:, a] * Zw[:, b], nl)
    Ztr = np.stack([np.bincount(term.codes, Zw[:, a] * r, nl) for a in range(k)], axis=1)
    counts = np.bincount(term.codes, minlength=nl)
    return ZtZ, Ztr, counts


def scalar_start(d0: np.ndarray, t0: np.ndarray, counts: np.ndarray, s2: float) -> float | None:
    """The moment estimate of a scalar term's relative SD from its per-level ``z'z``
    (``d0``), ``z'r`` (``t0``) and row counts, or None where too few levels tell.

    Examples
    --------
    >>> d0 = np.full(4, 10.0)
    >>> t0 = np.array([-10.0, 0.0, 10.0, 20.0])
    >>> round(scalar_start(d0, t0, np.full(4, 10), 1.0), 4)
    1.2517
    """
    ok = (counts > 1) & (d0 > 0)
    if ok.sum() < 3:
        return None
    b = t0[ok] / d0[ok]
    rel = (float(np.var(b, ddof=1)) - s2 * float(np.mean(1.0 / d0[ok]))) / s2
    sd = float(np.sqrt(np.clip(rel, _MIN**2, _MAX**2)))
    return sd if np.isfinite(sd) else None


def moment_start_from_products(cp, layout, counts) -> np.ndarray:
    """:func:`moment_start` from a design's cross-products and its levels' row
    counts (data that are only summed, never held): the same numbers.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.linalg import ThetaLayout, cross_products
    >>> d = build_design("math ~ 1 + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> cp, layout = cross_products(d), ThetaLayout.from_k([1])
    >>> counts = [np.bincount(d.terms[0].codes)]
    >>> bool(np.isclose(moment_start_from_products(cp, layout, counts)[0], moment_start(d, layout, cp)[0]))
    True
    """
    theta = layout.start.copy()
    if all(k > 1 for k in cp.k):
        return theta
    p = cp.p
    beta = np.linalg.solve(cp.Cxx[:p, :p], cp.Cxx[:p, p]) if p else np.zeros(0)
    rss = float(cp.Cxx[p, p] - beta @ cp.Cxx[:p, p])
    s2 = rss / max(cp.n - p, 1)
    if not np.isfinite(s2) or s2 <= 0:
        return theta
    start = 0
    for i, (k, nl) in enumerate(zip(cp.k, cp.nlevels)):
        if k == 1:
            if i == 0:
                d0 = cp.D0[:, 0, 0]
                t0 = cp.Bx0[p, :, 0] - beta @ cp.Bx0[:p, :, 0]
            else:
                block = slice(start, start + nl)
                d0 = cp.Crr.diagonal()[block]
                t0 = cp.Crx[block, p] - cp.Crx[block, :p] @ beta
            sd = scalar_start(d0, t0, np.asarray(counts[i]), s2)
            if sd is not None:
                theta[layout.offsets[i]] = sd
        if i > 0:
            start += k * nl
    return theta


def moment_start(design: Design, layout, cp=None) -> np.ndarray:
    """Theta start values from per-group least squares on OLS residuals.

    Falls back to lme4's identity start for a term whose estimate is not usable.
    ``cp``, the design's cross-products, saves the least-squares pass.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> from multilevel.linalg import ThetaLayout
    >>> d = build_design("math ~ 1 + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> th = moment_start(d, ThetaLayout.from_k([1]))
    >>> bool(0.3 < th[0] < 0.7)   # the ML/REML optimum is 0.469
    True
    """
    theta = layout.start.copy()
    if all(t.k > 1 for t in design.terms):
        return theta
    y = design.y if design.offset is None else design.y - design.offset
    X = design.X
    sw = None if design.weights is None else np.sqrt(design.weights)
    if sw is not None:
        y, X = y * sw, X * sw[:, None]
    if X.shape[1]:
        if cp is not None:  # the normal equations are already formed
            p = X.shape[1]
            beta = np.linalg.solve(cp.Cxx[:p, :p], cp.Cxx[:p, p])
        else:
            beta, *_ = np.linalg.lstsq(X, y, rcond=None)
        r = y - X @ beta
    else:
        r = y.copy()
    n = y.size
    s2 = float(r @ r) / max(n - X.shape[1], 1)
    if not np.isfinite(s2) or s2 <= 0:
        return theta
    for i, term in enumerate(design.terms):
        if term.k > 1:
            continue
        Zw = term.Z if sw is None else term.Z * sw[:, None]
        ZtZ, Ztr, counts = _per_group(term, Zw, r)
        k = term.k
        if k == 1:  # scalar: the same estimate without the batched matrix routines
            sd = scalar_start(ZtZ[:, 0, 0], Ztr[:, 0], counts, s2)
            if sd is not None:
                theta[layout.offsets[i]] = sd
            continue
        try:
            ok = (counts > k) & (np.linalg.cond(ZtZ) < 1e8)
        except np.linalg.LinAlgError:
            continue
        if ok.sum() < max(3, k + 1):
            continue
        inv = np.linalg.inv(ZtZ[ok])
        b = np.einsum("gab,gb->ga", inv, Ztr[ok])
        S = np.cov(b, rowvar=False).reshape(k, k) - s2 * inv.mean(axis=0)
        rel = S / s2
        d = np.clip(np.diag(rel), _MIN**2, _MAX**2)
        sd = np.sqrt(d)
        corr = np.clip(rel / np.sqrt(np.outer(np.abs(np.diag(rel)) + 1e-300,
                                              np.abs(np.diag(rel)) + 1e-300)), -0.9, 0.9)
        np.fill_diagonal(corr, 1.0)
        try:
            T = np.linalg.cholesky(corr * np.outer(sd, sd))
        except np.linalg.LinAlgError:
            T = np.diag(sd)
        seg = T[layout.rows[i], layout.cols[i]]
        if np.all(np.isfinite(seg)):
            theta[layout.offsets[i]: layout.offsets[i + 1]] = seg
    return theta
