"""Families of contrasts among k estimates, as emmeans' ``*.emmc`` functions build them.

Each function returns ``(names, C, adjust)``: the contrasts' labels, their
coefficients (one row per contrast, one column per estimate) and the
multiplicity adjustment emmeans uses for that family by default.
"""

from __future__ import annotations

import numpy as np

__all__ = ["METHODS", "contrast_family"]

_POLY_NAMES = ["linear", "quadratic", "cubic", "quartic"] + [f"degree {d}" for d in range(5, 21)]


def _pairwise(levs, reverse=False, **_):
    k = len(levs)
    names, rows = [], []
    pairs = ([(i, j) for i in range(k - 1) for j in range(i + 1, k)] if not reverse
             else [(i, j) for i in range(1, k) for j in range(i)])
    for i, j in pairs:
        c = np.zeros(k)
        c[i], c[j] = 1.0, -1.0
        names.append(f"{levs[i]} - {levs[j]}")
        rows.append(c)
    return names, np.array(rows).reshape(-1, k), "tukey"


def _ref_index(levs, ref) -> list[int]:
    refs = ref if isinstance(ref, (list, tuple)) else [ref]
    out = []
    for r in refs:
        if isinstance(r, (int, np.integer)) and not isinstance(r, bool):
            if not 1 <= r <= len(levs):
                raise ValueError(f"ref={r} is out of range: give a position from 1 to {len(levs)} "
                                 "or a level's label")
            out.append(int(r) - 1)
        elif str(r) in levs:
            out.append(levs.index(str(r)))
        else:
            raise ValueError(f"ref={r!r} is not one of the levels ({', '.join(levs[:8])})")
    return out


def _trt_vs_ctrl(levs, ref=1, reverse=False, **_):
    k = len(levs)
    refs = _ref_index(levs, ref)
    cname = levs[refs[0]] if len(refs) == 1 else "avg(" + ",".join(levs[r] for r in refs) + ")"
    names, rows = [], []
    for i in range(k):
        if i in refs:
            continue
        c = np.zeros(k)
        c[refs] = -1.0 / len(refs)
        c[i] = 1.0
        names.append(f"{cname} - {levs[i]}" if reverse else f"{levs[i]} - {cname}")
        rows.append(-c if reverse else c)
    return names, np.array(rows).reshape(-1, k), "dunnettx"


def _eff(levs, **_):
    k = len(levs)
    C = np.eye(k) - 1.0 / k
    return [f"{lv} effect" for lv in levs], C, "fdr"


def _del_eff(levs, **_):
    names, C, adj = _eff(levs)
    return names, C / np.diag(C)[:, None], adj


def _consec(levs, reverse=False, **_):
    k = len(levs)
    names, rows = [], []
    for i in range(k - 1):
        c = np.zeros(k)
        c[i], c[i + 1] = (1.0, -1.0) if reverse else (-1.0, 1.0)
        names.append(f"{levs[i]} - {levs[i + 1]}" if reverse else f"{levs[i + 1]} - {levs[i]}")
        rows.append(c)
    return names, np.array(rows).reshape(-1, k), "mvt"


def _poly(levs, max_degree=None, **_):
    """Orthogonal polynomials over equally spaced levels, scaled to integers (emmeans' poly.emmc)."""
    k = len(levs)
    deg = min(6, k - 1) if max_degree is None else min(int(max_degree), k - 1)
    x = np.arange(1, k + 1, dtype=float)
    V = np.vander(x - x.mean(), deg + 1, increasing=True)
    Q, _ = np.linalg.qr(V)
    rows = []
    for j in range(1, deg + 1):
        con = Q[:, j] * np.sign(Q[-1, j])
        pos = con[con > 0.01]
        con = con / pos.min()
        z = np.max(np.abs(con - np.round(con)))
        while z > 0.05:
            con = con / z
            z = np.max(np.abs(con - np.round(con)))
        rows.append(np.round(con))
    return _POLY_NAMES[:deg], np.array(rows).reshape(-1, k), "none"


METHODS = {
    "pairwise": _pairwise,
    "revpairwise": lambda levs, **kw: _pairwise(levs, reverse=True),
    "trt.vs.ctrl": _trt_vs_ctrl,
    "trt.vs.ctrl1": _trt_vs_ctrl,
    "trt.vs.ctrlk": lambda levs, **kw: _trt_vs_ctrl(levs, **{"ref": len(levs), **kw}),
    "dunnett": _trt_vs_ctrl,
    "eff": _eff,
    "del.eff": _del_eff,
    "consec": _consec,
    "poly": _poly,
}


def contrast_family(method, levs: list[str], **options) -> tuple[list[str], np.ndarray, str, bool]:
    """The contrasts of ``method`` among estimates labelled ``levs``.

    Parameters
    ----------
    method : str or dict
        A name in :data:`METHODS`, or a dict ``{name: coefficients}`` of
        custom contrasts (each of length ``len(levs)``).
    levs : list of str
    **options
        ``ref`` (trt.vs.ctrl: the control's position from 1 or label),
        ``reverse``, ``max_degree`` (poly).

    Returns
    -------
    names, C, adjust, pairwise

    Examples
    --------
    >>> names, C, adjust, _ = contrast_family("pairwise", ["a", "b", "c"])
    >>> names, adjust
    (['a - b', 'a - c', 'b - c'], 'tukey')
    >>> contrast_family("poly", ["1", "2", "3", "4"])[1].tolist()
    [[-3.0, -1.0, 1.0, 3.0], [1.0, -1.0, -1.0, 1.0], [-1.0, 3.0, -3.0, 1.0]]
    """
    if isinstance(method, dict):
        names, rows = [], []
        for name, coef in method.items():
            c = np.asarray(coef, dtype=float).ravel()
            if c.size != len(levs) or not np.all(np.isfinite(c)):
                raise ValueError(f"contrast {name!r} needs {len(levs)} finite coefficients (one per "
                                 f"estimate: {', '.join(levs[:8])}), not {c.size}")
            names.append(str(name))
            rows.append(c)
        if not rows:
            raise ValueError("the dict of custom contrasts is empty")
        return names, np.array(rows), "none", False
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"unknown contrast method {method!r}; choose one of {', '.join(METHODS)} "
                         "or give a dict of custom contrasts")
    allowed = {"ref", "reverse", "max_degree"}
    bad = set(options) - allowed
    if bad:
        raise TypeError(f"unknown option {sorted(bad)[0]!r} for contrasts; use ref, reverse or max_degree")
    names, C, adjust = METHODS[method](list(levs), **options)
    return names, C, adjust, method in ("pairwise", "revpairwise")
