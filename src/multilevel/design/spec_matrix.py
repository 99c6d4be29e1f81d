"""Model matrices of new rows from a fitted formula's recorded structure, without formulaic's materialiser.

A fitted formulaic ``ModelSpec`` records, per term, its scoped terms (which
factors, each coded with full or reduced rank, and a scale) and the columns
they made. Where every factor is a plain data column, numeric or coded by
treatment contrasts, the columns of new rows are products of those columns
and level indicators, which this module forms directly: a reference grid of a
few rows then costs tens of microseconds, where formulaic's materialiser
spends about a millisecond whatever the number of rows. Anything else (a
transform such as ``log(x)`` or ``C(x, Sum)``, other contrasts, a level the
fit did not see, a missing value) returns None, and the caller asks formulaic.

Examples
--------
>>> import multilevel as ml
>>> an = ml.datasets.load("anorexia")
>>> spec = ml.lmer("weight ~ time * treatment + (1 | girl)", an).design.fixed.spec
>>> new = an.iloc[[0, 40, 80]]
>>> fast = spec_matrix(spec, new)
>>> bool(np.array_equal(fast, np.asarray(spec.get_model_matrix(new), dtype=float)))
True
>>> spec_matrix(spec, new.assign(treatment=["CBT", "Cont", "new"])) is None   # an unseen level
True
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

__all__ = ["spec_matrix"]


def spec_matrix(spec, frame: pd.DataFrame) -> np.ndarray | None:
    """The model matrix of ``frame``'s rows under ``spec`` (a fitted formulaic ``ModelSpec``),
    columns in ``spec.column_names`` order; None where a factor is not a plain column coded
    as this module codes it (see the module's description).

    Examples
    --------
    >>> import multilevel as ml
    >>> ss = ml.datasets.load("sleepstudy")
    >>> spec = ml.lmer("Reaction ~ log(Days + 1) + (1 | Subject)", ss).design.fixed.spec
    >>> spec_matrix(spec, ss.head(2)) is None    # a transform: formulaic evaluates it
    True
    """
    structure = getattr(spec, "structure", None)
    if not structure or not isinstance(frame, pd.DataFrame):
        return None
    state = getattr(spec, "encoder_state", None) or {}
    n = len(frame)
    encoded: dict = {}
    cols: dict = {}
    for s in structure:
        for st in s.scoped_terms:
            scale = float(st.scale)
            if not st.factors:
                cols["Intercept"] = np.full(n, scale)
                continue
            parts = []
            for sf in st.factors:
                key = (sf.factor.factor.expr, bool(sf.reduced))
                if key not in encoded:
                    encoded[key] = _encode(sf, frame, state)
                if encoded[key] is None:
                    return None
                parts.append(encoded[key])
            for combo in itertools.product(*parts):
                values = combo[0][1]
                for _, v in combo[1:]:
                    values = values * v
                cols[":".join(name for name, _ in combo)] = values * scale if scale != 1.0 else values
    names = list(spec.column_names)
    if len(names) != len(cols) or any(c not in cols for c in names):
        return None
    if not names:
        return np.zeros((n, 0))
    return np.column_stack([np.asarray(cols[c], dtype=float) for c in names])


def _encode(scoped_factor, frame: pd.DataFrame, state: dict) -> list | None:
    """``[(column name, values)]`` of one factor of a scoped term, or None."""
    factor = scoped_factor.factor.factor
    if getattr(factor.eval_method, "value", None) != "lookup":
        return None
    name = factor.expr
    if name not in frame.columns or name not in state:
        return None
    kind, info = state[name][0], state[name][1]
    col = frame[name]
    kind = getattr(kind, "value", None)
    if kind == "numerical":
        if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            return None
        return [(name, col.to_numpy(dtype=float))]
    if kind != "categorical":
        return None
    contrasts = info.get("contrasts")
    if contrasts is None or type(contrasts.contrasts).__name__ != "TreatmentContrasts":
        return None
    levels = list(contrasts.levels)
    if pd.api.types.is_bool_dtype(col) or not all(isinstance(v, str) for v in levels):
        return None  # (formulaic's names of non-string levels: let it make them)
    if getattr(getattr(contrasts.contrasts, "base", None), "name", None) != "UNSET":
        return None  # (a chosen base level: only C(...), which is not a plain column, sets one)
    pos = {lev: i for i, lev in enumerate(levels)}
    if isinstance(col.dtype, pd.CategoricalDtype):
        own, values = col.cat.categories, np.asarray(col.cat.codes)
    else:
        values, own = pd.factorize(col, use_na_sentinel=True)
    lut = np.array([pos.get(c, -1) if isinstance(c, str) else -1 for c in own] + [-1], dtype=np.int64)
    codes = lut[values]  # (a missing value, code -1, takes the last entry: -1)
    if np.any(codes < 0):
        return None  # a missing value or a level the fit did not see
    if scoped_factor.reduced:
        return [(f"{name}[T.{lev}]", (codes == i).astype(float)) for i, lev in enumerate(levels) if i > 0]
    return [(f"{name}[{lev}]", (codes == i).astype(float)) for i, lev in enumerate(levels)]
