"""``dispformula="~ 0"``: a structured random-effects term that carries the whole residual covariance.

glmmTMB's ``y ~ x + us(0 + visit | id), dispformula = ~ 0`` has no residual
variance apart from the term's: each subject's rows (one per visit) have the
term's covariance over their visits, which is generalized least squares with
that covariance within subjects. So the term is fitted as the residual model
it is, by :func:`~multilevel.regression.gls` (or by ``ml.lmer``'s
``residual=`` and ``dispformula=`` where other random-effects terms remain):

=====================  =========================================================
term                   residual model
=====================  =========================================================
``us(0 + f | g)``      ``residual="us(f | g)"``, ``dispformula="~ f"`` (corSymm, varIdent)
``hcs(0 + f | g)``     ``residual="cs(1 | g)"``, ``dispformula="~ f"`` (glmmTMB's ``cs``)
``cs(0 + f | g)``      ``residual="cs(1 | g)"`` (corCompSymm)
``ar1(0 + f | g)``     ``residual="ar1(f's level position | g)"`` (corAR1)
``diag(0 + f | g)``    ``dispformula="~ f"`` (varIdent, independent rows)
=====================  =========================================================

``f`` is a factor of occasions, at most one row per occasion within a group.
"""

from __future__ import annotations

import re

import numpy as np

__all__ = ["is_no_residual", "fit_term_as_residual"]


def is_no_residual(dispformula) -> bool:
    """Whether ``dispformula`` asks for no residual variance of its own (``"~ 0"``, ``"~ -1"``).

    Examples
    --------
    >>> is_no_residual("~ 0"), is_no_residual("~0"), is_no_residual("~ Sex")
    (True, True, False)
    """
    return isinstance(dispformula, str) and re.fullmatch(r"\s*~\s*(0|-\s*1)\s*", dispformula) is not None


def _occasion(expr: str) -> str | None:
    """``f`` of ``0 + f`` (or ``f + 0``, ``-1 + f``, ``f - 1``, with ``C(f)`` for ``f``), else None.

    Examples
    --------
    >>> [_occasion(e) for e in ["0 + visit", "visit-1", "-1 + C(visit)", "1 + visit", "0 + a + b"]]
    ['visit', 'visit', 'C(visit)', None, None]
    """
    text = re.sub(r"\s+", "", expr)
    parts = [p for p in re.split(r"(?=[+-])", text) if p]
    parts = [p[1:] if p.startswith("+") else p for p in parts]
    rest = [p for p in parts if p not in ("0", "-1")]
    if len(parts) == 2 and len(rest) == 1 and re.fullmatch(r"[A-Za-z_.][\w.]*|C\([A-Za-z_.][\w.]*\)", rest[0]):
        return rest[0]
    return None


def fit_term_as_residual(formula: str, data, reml: bool, weights, offset, optimizer: str, residual):
    """The fit of ``formula`` with ``dispformula="~ 0"`` (see the module's description),
    or a one-line error.

    Examples
    --------
    >>> import multilevel as ml
    >>> import pandas as pd
    >>> orth = ml.datasets.load("orthodont")
    >>> orth["visit"] = pd.Categorical(orth["age"].astype(str), categories=["8", "10", "12", "14"], ordered=True)
    >>> fit = ml.lmer("distance ~ age * Sex + ar1(0 + visit | Subject)", orth, dispformula="~ 0", reml=False)
    >>> type(fit).__name__, round(fit.loglik, 4)
    ('GlsResult', -220.3405)
    """
    from dataclasses import replace

    from ..design import build_design
    from ..design.data import as_dataframe
    from ..formula import parse_formula

    parsed = parse_formula(formula)
    carriers = [b for b in parsed.bars if b.structure != "us" or not b.correlated or _occasion(b.expr)]
    structured = [b for b in parsed.bars if b.structure != "us" or not b.correlated]
    if residual is not None:
        raise ValueError("dispformula='~ 0' makes a structured term the residual covariance: residual= cannot "
                         "be given too")
    if len(structured) == 1:
        bar = structured[0]
    elif len(structured) == 0 and len([b for b in carriers if _occasion(b.expr)]) == 1:
        bar = next(b for b in carriers if _occasion(b.expr))  # us(0 + f | g), written (0 + f | g)
    else:
        raise ValueError("dispformula='~ 0' needs exactly one term that carries the residual covariance, such as "
                         "us(0 + visit | id), cs(0 + visit | id) or ar1(0 + visit | id)"
                         + (f"; the formula has {len(structured)} ({', '.join(b.text for b in structured)}, "
                            "nested grouping factors a/b making one term each)" if structured else ""))
    kind = bar.structure if bar.correlated else "diag"
    occ = _occasion(bar.expr)
    if occ is None:
        raise ValueError(f"dispformula='~ 0': the term {bar.text} must be (0 + occasion | group) with a factor of "
                         "occasions, e.g. us(0 + visit | id), to carry the residual covariance")
    frame = as_dataframe(data)
    design = build_design(formula, data, weights=weights, offset=offset)
    mine = [t for t in design.terms if t.group == bar.group_name and any(occ in c for c in t.columns)]
    mine = mine if kind == "diag" else mine[:1]  # (a diagonal term is one scalar term per column)
    Z = np.column_stack([np.asarray(t.Z, dtype=float) for t in mine])
    if not (np.all((Z == 0) | (Z == 1)) and np.all(Z.sum(axis=1) == 1)):
        raise ValueError(f"dispformula='~ 0': the term {bar.text} must have one indicator column per occasion "
                         f"(a factor {occ!r}, not a numeric column) to carry the residual covariance")
    position = np.argmax(Z, axis=1).astype(float)
    pos_name = f"{occ[2:-1] if occ.startswith('C(') else occ}_position"
    while pos_name in frame.columns:
        pos_name += "_"
    frame = frame.assign(**{pos_name: np.nan})
    frame.iloc[np.asarray(design.rows), frame.columns.get_loc(pos_name)] = position
    rows = frame.iloc[np.asarray(design.rows)]
    group = bar.group_name
    if kind in ("cs", "hcs", "diag"):
        key = rows[list(bar.group)].astype(str).agg(":".join, axis=1) + "|" + rows[pos_name].astype(str)
        if key.duplicated().any():
            raise ValueError(f"dispformula='~ 0': two rows of one group of {group} are on the same occasion of "
                             f"{occ}; the term {bar.text} carries the residual covariance only with one row per "
                             "occasion within a group")
    column = occ[2:-1] if occ.startswith("C(") else occ  # (C(visit): the occasions are visit's values)
    spec_resid = {"us": f"us({column} | {group})", "cs": f"cs(1 | {group})", "hcs": f"cs(1 | {group})",
                  "ar1": f"ar1({pos_name} | {group})", "diag": None}[kind]
    spec_disp = f"~ {occ}" if kind in ("us", "hcs", "diag") else None
    others = [b for b in parsed.bars if b is not bar]
    fixed = parsed.fixed_formula + "".join(f" + offset({o})" for o in parsed.offsets)
    how = {"us": "nlme's corSymm with varIdent", "hcs": "nlme's corCompSymm with varIdent",
           "cs": "nlme's corCompSymm", "ar1": "nlme's corAR1 over the occasions' positions",
           "diag": "nlme's varIdent"}[kind]
    note = f"dispformula='~ 0': the term {bar.text} carries the residual covariance ({how})"
    if not others:
        from .gls import gls_of_design

        name = getattr(data, "attrs", {}).get("name") if hasattr(data, "attrs") else None
        fit = gls_of_design(formula, design, frame, spec_resid, spec_disp, reml, optimizer, name)
        return replace(fit, note=note)
    if kind == "us":
        raise ValueError(f"dispformula='~ 0' with {bar.text} and other random-effects terms: an unstructured "
                         "residual correlation with random effects is not available yet; fit it without the other "
                         "terms (ml.gls), or with cs/ar1")
    from ..lmm.fit import lmer

    rest = fixed + "".join(f" + {b.text}" for b in others)
    try:
        return lmer(rest, rows, reml=reml, weights=weights if isinstance(weights, str) or weights is None
                    else np.asarray(design.weights), offset=offset if isinstance(offset, str) or offset is None
                    else np.asarray(design.offset), optimizer=optimizer, residual=spec_resid,
                    dispformula=spec_disp)
    except ValueError as exc:  # in the terms the user wrote
        raise ValueError(f"dispformula='~ 0' fits {bar.text} as the residual model residual={spec_resid!r}"
                         + (f", dispformula={spec_disp!r}" if spec_disp else "") + f" beside {rest!r}: {exc}") from None
