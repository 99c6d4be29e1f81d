"""Contrast matrices for type I and type III F tests of each fixed-effects term.

Type I contrasts come from the Doolittle (unit upper-triangular) factor of
``X'X``: each term is tested after the terms before it. Type III contrasts are
the estimable functions of lmerTest's ``get_contrasts_type3`` (SAS-style): the
over-parameterised design with every factor level is mapped onto the model's
coefficients, and each term's columns are made orthogonal to those of the
higher-order terms that contain it, so the tests do not depend on the order of
the terms.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["fixed_terms", "type1_contrasts", "type3_contrasts"]


def fixed_terms(design) -> list[tuple[str, tuple[str, ...], list[int]]]:
    """Fixed-effects terms as ``(label, factors, column positions in X)``, without the intercept.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("weight ~ time * treatment + (1 | girl)", ml.datasets.load("anorexia"))
    >>> [(lab, cols) for lab, _, cols in fixed_terms(d)]
    [('time', [1]), ('treatment', [2, 3]), ('time:treatment', [4, 5])]
    """
    spec = design.fixed.spec
    keep = list(design.fixed.keep)
    pos = {full: i for i, full in enumerate(keep)}
    out = []
    if hasattr(spec, "term_indices"):
        from ..design.names import lme4_names

        for term, idx in spec.term_indices.items():
            factors = tuple(str(f) for f in term.factors)
            if factors == ("1",) or not factors:
                continue
            cols = [pos[i] for i in idx if i in pos]
            if not cols:
                continue
            label = lme4_names([str(term)], design.formula.fixed)[0]
            out.append((label, factors, cols))
    else:  # SimpleSpec: main effects only, a numeric column or a factor's dummies per term
        for label, idx in spec.term_indices_simple():
            cols = [pos[i] for i in idx if i in pos]
            if cols:
                out.append((label, (label,), cols))
    return out


def type1_contrasts(design) -> dict[str, np.ndarray]:
    """Sequential (type I) contrasts of each term, from the Doolittle factor of X'X.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("math ~ mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> type1_contrasts(d)["sector"].round(3).tolist()
    [[0.0, 0.0, 1.0]]
    """
    # X = QR: R is the Doolittle factor up to row signs
    R = _upper_factor(design)
    U = R / np.diag(R)[:, None]
    return {label: U[cols] for label, _, cols in fixed_terms(design)}


def _upper_factor(design, perm=None) -> np.ndarray:
    """``R`` of ``X[:, perm] = QR`` (the rows of positive weight), or of the Cholesky factor of
    the permuted X'X of data in parts: the Doolittle factor of X'X is ``R / diag(R)``."""
    G = getattr(design, "gram", None)   # (data in parts: X'X from the sums)
    perm = np.arange(design.X.shape[1] if G is None else G.shape[0]) if perm is None else np.asarray(perm)
    if G is None:
        # (QR, not a Cholesky of X'X, which fails with a column at x + 1e9)
        X = np.asarray(design.X, dtype=float)
        w = getattr(design, "weights", None)
        if w is not None and not np.all(np.asarray(w) > 0):
            X = X[np.asarray(w) > 0]  # (the rows of positive weight, the data, as the sums of parts')
        return np.linalg.qr(X[:, perm], mode="r")
    return np.linalg.cholesky(np.asarray(G)[np.ix_(perm, perm)]).T  # upper: X'X = R'R


def _numeric_factors(design) -> set[str]:
    """The factors (formulaic's variables of the fixed part) that are numeric, not categorical."""
    state = getattr(design.fixed.spec, "encoder_state", None) or {}
    return {name for name, (kind, _) in state.items() if str(getattr(kind, "value", kind)) == "numerical"}


def type2_contrasts(design) -> dict[str, np.ndarray]:
    """Type II contrasts of each term, as lmerTest's ``anova(type = 2)``: a term that no other
    term contains is tested marginally (its coefficients are 0); a contained one after every
    term that does not contain it, from the Doolittle factor of X'X with its columns ordered
    so (the others, the term, the terms containing it). A term contains another when its
    variables include the other's and more, with the same numeric variables (so ``x`` is in
    ``x:f``, but a factor ``f`` is not in ``x:f``: lmerTest's rule).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("weight ~ time * treatment + (1 | girl)", ml.datasets.load("anorexia"))
    >>> L = type2_contrasts(d)
    >>> L["treatment"].round(3).tolist()     # not contained in time:treatment (time is numeric)
    [[0.0, 0.0, 1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0]]
    >>> bool(np.all(L["time"][0, 4:] != 0))  # time, with the interaction's columns
    True
    """
    terms = fixed_terms(design)
    numeric = _numeric_factors(design)
    p = design.p
    variables = {label: set(f) for label, f, _ in terms}
    colmap = {label: cols for label, _, cols in terms}

    def contains(outer: str, inner: str) -> bool:
        a, b = variables[inner], variables[outer]
        return a < b and (a & numeric) == (b & numeric)

    out = {}
    for label, _, cols in terms:
        containing = [lab for lab in variables if lab != label and contains(lab, label)]
        if not containing:
            out[label] = np.eye(p)[cols]
            continue
        last = list(cols) + [c for lab in containing for c in colmap[lab]]
        perm = [c for c in range(p) if c not in set(last)] + last
        R = _upper_factor(design, perm)
        U = R / np.diag(R)[:, None]
        start = p - len(last)
        L = np.zeros((len(cols), p))
        L[:, perm] = U[start: start + len(cols)]
        out[label] = np.where(np.abs(L) < 1e-12, 0.0, L)
    return out


def _residualize(Y: np.ndarray, Xc: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(Xc, Y, rcond=None)
    return Y - Xc @ coef


def type3_contrasts(design, data: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """Type III contrasts of each term (lmerTest's, for treatment-coded factors).

    Parameters
    ----------
    design : Design
    data : DataFrame, optional
        The rows the model was fitted to (default ``design.data``; read only
        for a model with factors).

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> d = build_design("weight ~ time * treatment + (1 | girl)", ml.datasets.load("anorexia"))
    >>> type3_contrasts(d, d.data)["treatment"].shape
    (2, 6)
    """
    terms = fixed_terms(design)
    p = design.p
    if not terms:
        return {}
    spec = design.fixed.spec
    if not hasattr(spec, "term_indices"):  # numeric columns only: each term is its own column
        return {label: np.eye(p)[cols] for label, _, cols in terms}
    sample = getattr(design, "sample", None)
    if sample is not None:  # data in parts: the codings compared on a sample of the rows
        X, data = design.sample_X, sample
        if np.linalg.matrix_rank(X) < p:
            from ..design.rowless import rows_not_here

            raise rows_not_here("type III contrasts, whose codings the first 5,000 rows do not determine; "
                                "use type=1")
    else:
        X = design.X
        data = design.data if data is None else data
    from ..design.names import lme4_names

    from formulaic import model_matrix

    # a fresh materialisation: the fitted spec remembers its reduced-rank encoding
    rdX_df = model_matrix(spec.formula, data, ensure_full_rank=False, na_action="ignore")
    rd_names = lme4_names(rdX_df.columns, design.formula.fixed)
    rdX = np.asarray(rdX_df, dtype=float)
    names = list(design.fixed.names)
    missing = [n for n in names if n not in rd_names]
    if missing:
        raise ValueError(
            f"type III contrasts need treatment-coded factors; coefficient {missing[0]!r} is "
            "coded otherwise (use type=1, or the default coding)"
        )
    L = np.linalg.pinv(X) @ rdX  # (p, ncol rdX): each row of rdX's columns in X's coefficients
    L = np.where(np.abs(L) < 1e-10, 0.0, L).T  # rows: rdX columns, cols: X columns
    facsets = {label: set(f) for label, f, _ in terms}
    colmap = {label: cols for label, _, cols in terms}
    order = sorted(terms, key=lambda t: len(t[1]), reverse=True)
    for label, factors, cols in order:
        containing = [lab for lab, fs in facsets.items() if lab != label and facsets[label] < fs]
        if not containing:
            continue
        ccols = [c for lab in containing for c in colmap[lab]]
        L[:, cols] = _residualize(L[:, cols], L[:, ccols])
        L[:, cols] = np.where(np.abs(L[:, cols]) < 1e-10, 0.0, L[:, cols])
    rows = [rd_names.index(n) for n in names]
    L = L[rows]
    out = {}
    for label, _, cols in terms:
        Lt = L[:, cols].T
        out[label] = Lt[np.abs(Lt).sum(axis=1) > 1e-8]
    return out
