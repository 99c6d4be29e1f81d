"""A family of estimates (marginal means or contrasts of them) and their inference.

:class:`Family` is what an :class:`~multilevel.marginal.table.EMMTable` holds
behind its rows. Its estimates are ``R h(L beta + offset)``: ``L`` holds
linear functions of the coefficients on the link scale, ``h`` is the
identity, or the inverse link once regridded (``R`` then holds contrasts of
the response-scale values; without regridding ``R`` is folded into ``L``).
:func:`summarise` gives the columns emmeans prints (estimates, SE, df,
intervals, tests, adjusted within each by-group); :func:`contrast` makes the
family of contrasts among the estimates of each by-group.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..arguments import as_probability
from .adjust import adjust_p, check_adjust, ci_method, critical_value
from .contrasts import contrast_family
from .estimates import Estimates
from .grid import ESTIMABLE_TOL

__all__ = ["Family", "summarise", "contrast", "regrid"]



@dataclass(frozen=True)
class Family:
    """Estimates of one table (see the module's description).

    Attributes
    ----------
    est : Estimates
    L : ndarray (k0, p)
    offset : ndarray (k0,)
    Lfull : ndarray (k0, p_all)
        ``L`` over every column of the fixed model matrix, aliased ones
        included (for the estimability check).
    null_basis : ndarray or None
        Basis of the null space of the full fixed model matrix.
    labels : DataFrame
        The label columns of the k rows, by-variables last.
    by : tuple of str
    kind : {"emmeans", "contrast"}
    scale : {"link", "response", "regrid", "ratio"}
        Shown on the link scale; back-transformed (tests on the link scale);
        regridded (estimates and tests on the response scale); or ratios
        (contrasts on the log or logit scale, exponentiated).
    adjust : str
        The family's default multiplicity adjustment.
    R : ndarray (k, k0) or None
        Contrasts of the response-scale values of a regridded family.
    pairwise : bool
    means : int or None
        Estimates compared in each by-group (Tukey's family size).
    notes : tuple of str
        Lines printed below the table.
    level : float
    missing : ndarray of bool (k0,) or None
        Base rows with no value (a mean whose cells all have weight 0).
    estimate : str or None
        The estimate column's name where it is not emmeans' (``x.trend``).
    const : ndarray (k,) or None
        A constant added to a regridded family's estimates (``R h(L beta) +
        const``: an ordinal model's exceedance probabilities and mean class).
    """

    est: Estimates
    L: np.ndarray
    offset: np.ndarray
    Lfull: np.ndarray
    null_basis: np.ndarray | None
    labels: pd.DataFrame
    by: tuple
    kind: str
    scale: str
    adjust: str = "none"
    R: np.ndarray | None = None
    pairwise: bool = False
    means: int | None = None
    notes: tuple = ()
    level: float = 0.95
    missing: np.ndarray | None = None
    estimate: str | None = None
    const: np.ndarray | None = None

    @property
    def k(self) -> int:
        return len(self.labels)

    def _link(self):
        from ..families import link

        return link(self.est.link)

    def estimable(self) -> np.ndarray:
        """Whether each base linear function lies in the row space of X."""
        ok = np.ones(self.L.shape[0], dtype=bool)
        if self.null_basis is not None:
            size = np.maximum(np.linalg.norm(self.Lfull, axis=1), 1.0)
            ok = np.linalg.norm(self.Lfull @ self.null_basis, axis=1) <= ESTIMABLE_TOL * size
        if self.missing is not None:
            ok &= ~self.missing
        return ok

    def working(self) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
        """Estimates, their covariance (or None), draws (or None) and df on the working scale."""
        ok = self.estimable()
        eta = self.L @ self.est.beta + self.offset
        draws = None if self.est.draws is None else self.est.draws @ self.L.T + self.offset
        V = None if self.est.vcov is None else self.est.cov(self.L)
        if self.R is None:
            df = self.est.df(self.L) if self.est.vcov is not None else np.full(len(eta), np.nan)
            w = np.where(ok, eta, np.nan)
            return w, V, draws, df
        link = self._link()
        ok_rows = np.all((self.R == 0) | ok[None, :], axis=1)
        w = np.where(ok_rows, self.R @ link.inverse(eta) + (0.0 if self.const is None else self.const), np.nan)
        if V is not None:
            J = self.R * link.mu_eta(eta)[None, :]
            V = J @ V @ J.T
        if draws is not None:
            draws = link.inverse(draws) @ self.R.T + (0.0 if self.const is None else self.const)
        df = np.full(len(w), np.inf if self.est.vcov is not None else np.nan)
        return w, V, draws, df

    def by_groups(self) -> list[np.ndarray]:
        """Row positions of each by-group, in order of first appearance."""
        if not self.by:
            return [np.arange(self.k)]
        cols = [self.labels[b].astype(object).to_numpy() for b in self.by]
        keys = np.array(["\x00".join(map(str, row)) for row in zip(*cols)], dtype=object)
        _, first, codes = np.unique(keys, return_index=True, return_inverse=True)
        order = np.argsort(first)
        return [np.flatnonzero(codes == c) for c in order]


# ------------------------------------------------------------------ summaries
def _hpd(x: np.ndarray, prob: float) -> tuple[float, float]:
    """The shortest interval holding ``prob`` of the draws (coda's HPDinterval)."""
    x = np.sort(x[np.isfinite(x)])
    n = x.size
    if n == 0:
        return np.nan, np.nan
    m = max(1, int(np.floor(prob * n)))
    if m >= n:
        return float(x[0]), float(x[-1])
    widths = x[m:] - x[:n - m]
    i = int(np.argmin(widths))
    return float(x[i]), float(x[i + m])


def _display(fam: Family, values: np.ndarray) -> np.ndarray:
    if fam.scale == "response":
        return fam._link().inverse(values)
    if fam.scale == "ratio":
        return np.exp(values)
    return values


def estimate_name(fam: Family) -> str:
    if fam.scale == "ratio":
        return "odds.ratio" if fam.est.link == "logit" else "ratio"
    if fam.kind == "contrast":
        return "estimate"
    if fam.estimate is not None:
        return fam.estimate
    if fam.scale in ("response", "regrid"):
        return {"binomial": "prob", "poisson": "rate"}.get(fam.est.family, "response")
    return "emmean"


def summarise(fam: Family, infer=(True, False), level: float | None = None, adjust: str | None = None
              ) -> tuple[pd.DataFrame, list[str]]:
    """The table's columns and the notes printed below them.

    Parameters
    ----------
    fam : Family
    infer : (bool, bool)
        Whether to give confidence intervals and tests.
    level : float, optional
        Confidence level (default the family's).
    adjust : str, optional
        Multiplicity adjustment (default the family's).
    """
    level = fam.level if level is None else as_probability(level, "level")
    adjust = fam.adjust if adjust is None else check_adjust(adjust)
    ci, test = _check_infer(infer)
    w, V, draws, df = fam.working()
    name = estimate_name(fam)
    out = {c: fam.labels[c].to_numpy() if not isinstance(fam.labels[c].dtype, pd.CategoricalDtype)
           else fam.labels[c].array for c in fam.labels.columns}
    notes: list[str] = list(fam.notes)
    if draws is not None:
        # summaries on the working scale, then shown back-transformed (as emmeans)
        draws = np.where(np.isfinite(w)[None, :], draws, np.nan)
        out[name] = _display(fam, np.median(draws, axis=0)) if draws.size else np.nan
        limits = np.array([_hpd(draws[:, j], level) for j in range(draws.shape[1])]).reshape(-1, 2)
        a, b = _display(fam, limits[:, 0]), _display(fam, limits[:, 1])
        out["lower.HPD"], out["upper.HPD"] = np.minimum(a, b), np.maximum(a, b)
        notes += ["Point estimate displayed: median", f"HPD interval probability: {_num(level)}"]
        return pd.DataFrame(out), notes
    se = np.sqrt(np.clip(np.diag(V), 0, None))
    se = np.where(np.isfinite(w), se, np.nan)
    df = np.where(np.isfinite(w), df, np.nan)
    asymptotic = bool(np.all(np.isinf(df[np.isfinite(df)]))) if np.isfinite(df).any() else True
    shown = _display(fam, w)
    out[name] = shown
    out["SE"] = se * np.abs(_derivative(fam, w))
    out["df"] = df
    groups = fam.by_groups()
    if fam.est.method not in ("asymptotic",) and fam.est.family == "gaussian":
        notes.append(f"Degrees-of-freedom method: {fam.est.method}")
    elif fam.est.method == "asymptotic" and fam.est.family == "gaussian":
        notes.append("Degrees-of-freedom method: asymptotic")
    if fam.est.note:
        notes.append(fam.est.note)
    trans = {"response": fam.est.link, "ratio": "log odds ratio" if fam.est.link == "logit" else "log"}
    if ci:
        lo = np.full(fam.k, np.nan)
        hi = np.full(fam.k, np.nan)
        meth = ci_method(adjust)
        for rows in groups:
            good = rows[np.isfinite(w[rows])]
            if good.size == 0:
                continue
            meth_g = _tukey_ok(fam, meth)
            cv = critical_value(level, df[good], meth_g, n=rows.size, means=fam.means,
                                rank=_rank(fam, rows) if meth_g == "scheffe" else None,
                                V=V[np.ix_(good, good)])
            a = _display(fam, w[good] - cv * se[good])
            b = _display(fam, w[good] + cv * se[good])
            lo[good], hi[good] = np.minimum(a, b), np.maximum(a, b)
        cols = ("asymp.LCL", "asymp.UCL") if asymptotic else ("lower.CL", "upper.CL")
        out[cols[0]], out[cols[1]] = lo, hi
        notes.append(f"Confidence level used: {_num(level)}")
        notes.extend(_adjust_note(fam, meth, groups, w, "Conf-level adjustment", "estimates"))
        if fam.scale in trans:
            notes.append(f"Intervals are back-transformed from the {trans[fam.scale]} scale")
    if test:
        t = w / se
        p = np.full(fam.k, np.nan)
        for rows in groups:
            meth_g = _tukey_ok(fam, adjust)
            good = rows[np.isfinite(w[rows])]
            p[rows] = adjust_p(t[rows], df[rows], meth_g, means=fam.means,
                               rank=_rank(fam, rows) if meth_g == "scheffe" else None, V=V[np.ix_(rows, rows)])
        if fam.scale in trans:
            out["null"] = _display(fam, np.zeros(fam.k))
        out["z.ratio" if asymptotic else "t.ratio"] = t
        out["p.value"] = p
        notes.extend(_adjust_note(fam, adjust, groups, w, "P value adjustment", "tests"))
        if fam.scale in trans:
            notes.append(f"Tests are performed on the {trans[fam.scale]} scale")
    return pd.DataFrame(out), notes


def _derivative(fam: Family, w: np.ndarray) -> np.ndarray:
    if fam.scale == "response":
        return fam._link().mu_eta(w)
    if fam.scale == "ratio":
        return np.exp(w)
    return np.ones_like(w)


def _tukey_ok(fam: Family, method: str) -> str:
    return "sidak" if method == "tukey" and not fam.pairwise else method


def _rank(fam: Family, rows: np.ndarray) -> int:
    if rows.size == 0:
        return 1
    # over every column of the model matrix, aliased ones included: non-estimable contrasts
    # count in the family as emmeans counts them
    M = fam.Lfull[rows] if fam.R is None else fam.R[rows]
    return max(1, int(np.linalg.matrix_rank(M)))


def _adjust_note(fam: Family, method: str, groups, w, what: str, items: str) -> list[str]:
    method = _tukey_ok(fam, method)
    if method == "none":
        return []
    n = max(len(g) for g in groups)  # the family, non-estimable estimates included (emmeans)
    if n <= 1 and method != "scheffe":
        return []
    if method == "tukey":
        k = fam.means or int(round((1 + np.sqrt(1 + 8 * n)) / 2))
        if k < 3:
            return []
        return [f"{what}: tukey method for comparing a family of {k} estimates"]
    if method == "scheffe":
        return [f"{what}: scheffe method with rank {_rank(fam, groups[0])}"]
    return [f"{what}: {method} method for {n} {items}"]


def _num(x: float) -> str:
    return f"{x:g}"


def _check_infer(infer) -> tuple[bool, bool]:
    if isinstance(infer, bool):
        return infer, infer
    try:
        ci, test = infer
    except (TypeError, ValueError):
        raise TypeError("infer must be a bool or a pair (intervals, tests), e.g. (True, True)") from None
    return bool(ci), bool(test)


# ------------------------------------------------------------------ contrasts
_PARENS = ("-", "+", "/", "*")


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def level_labels(labels: pd.DataFrame, by: tuple) -> list[str]:
    """Each row's label as emmeans forms it for contrasts: the non-by columns' values
    joined by spaces, numeric levels prefixed with their variable's name, and
    parenthesised where the label holds an operator."""
    cols = [c for c in labels.columns if c not in by]
    parts = []
    for c in cols:
        vals = [str(v) for v in labels[c].tolist()]
        if c != "contrast" and all(_is_number(v) for v in vals):
            vals = [f"{c}{v}" for v in vals]
        parts.append(vals)
    levs = [" ".join(p) for p in zip(*parts)] if parts else [""] * len(labels)
    if any(any(op in lev for op in _PARENS) for lev in levs):
        levs = [f"({lev})" if any(op in lev for op in _PARENS) else lev for lev in levs]
    return levs


def contrast(fam: Family, method, by=None, adjust: str | None = None, **options) -> Family:
    """Contrasts among the estimates of each by-group of ``fam``.

    ``by`` (default the family's) names the label columns that split the
    rows into groups; contrasts are formed within each.
    """
    by = fam.by if by is None else _as_by(by, fam.labels)
    relabel = replace(fam, by=by)
    groups = relabel.by_groups()
    sizes = {g.size for g in groups}
    if len(sizes) != 1:
        raise ValueError("the by-groups have different numbers of estimates; contrasts need equal groups")
    all_levs = level_labels(fam.labels, by)
    names, C, default_adjust, pairwise = contrast_family(method, [all_levs[i] for i in groups[0]], **options)
    k0 = fam.k
    blocks = np.zeros((len(groups) * C.shape[0], k0))
    label_rows = []
    for g, rows in enumerate(groups):
        blocks[g * C.shape[0]:(g + 1) * C.shape[0], rows] = C
        label_rows.extend((nm, rows[0]) for nm in names)
    first = np.array([r for _, r in label_rows], dtype=np.int64)
    labels = pd.DataFrame({"contrast": [nm for nm, _ in label_rows],
                           **{b: fam.labels[b].to_numpy(dtype=object)[first] for b in by}})
    for b in by:
        labels[b] = pd.Categorical(labels[b], categories=_categories(fam.labels[b]))
    scale, notes = _contrast_scale(fam, C)
    if scale == "ratio":
        labels["contrast"] = labels["contrast"].str.replace(" - ", " / ", regex=False)
    kept = [n for n in fam.notes if n.startswith("Results are averaged") or n.startswith("NOTE:")]
    new = dict(kind="contrast", scale=scale, labels=labels, by=by, pairwise=pairwise,
               means=(len(groups[0]) if pairwise else None), notes=tuple(kept + notes),
               adjust=check_adjust(adjust) if adjust is not None else default_adjust)
    if fam.R is not None:
        return replace(fam, R=blocks @ fam.R, const=None if fam.const is None else blocks @ fam.const, **new)
    missing = None if fam.missing is None else (np.abs(blocks) @ fam.missing.astype(float)) > 0
    return replace(fam, L=blocks @ fam.L, offset=blocks @ fam.offset, Lfull=blocks @ fam.Lfull,
                   missing=missing, **new)


def _categories(col: pd.Series) -> list:
    return list(col.cat.categories) if isinstance(col.dtype, pd.CategoricalDtype) else list(pd.unique(col))


def _as_by(by, labels: pd.DataFrame) -> tuple:
    by = (by,) if isinstance(by, str) else tuple(by)
    bad = [b for b in by if b not in labels.columns or b == "contrast"]
    if bad:
        raise ValueError(f"by={bad[0]!r} is not one of the table's variables "
                         f"({', '.join(c for c in labels.columns if c != 'contrast')})")
    return by


def _contrast_scale(fam: Family, C: np.ndarray) -> tuple[str, list[str]]:
    if fam.scale in ("link", "regrid"):
        return fam.scale, []
    true_contrast = bool(np.all(np.abs(C.sum(axis=1)) <= 1e-6 * (1e-6 + np.abs(C).max(axis=1))))
    if fam.scale == "ratio" or (true_contrast and fam.est.link in ("log", "logit")):
        return "ratio", []
    return "link", [f"Note: contrasts are still on the {fam.est.link} scale; use .regrid() for "
                    "contrasts of back-transformed estimates"]


def regrid(fam: Family) -> Family:
    """The family moved to the response scale: estimates, intervals, tests and later
    contrasts on that scale (emmeans' ``regrid``)."""
    if fam.R is not None or fam.est.link == "identity":
        return replace(fam, scale="regrid" if fam.est.link != "identity" else fam.scale)
    if fam.scale == "ratio" or fam.kind == "contrast":
        raise ValueError("regrid() applies to a table of marginal means, not to contrasts")
    return replace(fam, R=np.eye(fam.k), scale="regrid")
