"""Tables of marginal means and contrasts: DataFrames that print as emmeans prints them.

An :class:`EMMTable` is a pandas DataFrame with emmeans' columns; behind it
is the family of estimates it shows, so ``.pairs()``, ``.contrast()``,
``.confint()``, ``.test()``, ``.summary()`` and ``.regrid()`` go on from
it, as they go on from an ``emmGrid`` in R. Any pandas operation gives a
plain DataFrame back.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..results.summary import format_column
from .state import Family, contrast, regrid, summarise

__all__ = ["EMMTable"]

_ESTIMATE_COLUMNS = ("emmean", "estimate", "prob", "rate", "response", "ratio", "odds.ratio")


class EMMTable(pd.DataFrame):
    """Estimated marginal means or contrasts (see :func:`multilevel.emmeans`).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("normexam ~ standLRT + sex + schgend + (1 | school)", ml.datasets.load("exam"))
    >>> emm = ml.emmeans(fit, "sex", by="schgend")
    >>> list(emm.columns)
    ['sex', 'schgend', 'emmean', 'SE', 'df', 'lower.CL', 'upper.CL']
    >>> emm.pairs()["contrast"].tolist()
    ['F - M', 'F - M', 'F - M']
    """

    _metadata = ["_family", "_notes"]

    @property
    def _constructor(self):
        return pd.DataFrame

    @classmethod
    def from_family(cls, fam: Family, infer=None, level: float | None = None,
                    adjust: str | None = None) -> "EMMTable":
        if infer is None:
            infer = (True, False) if fam.kind == "emmeans" else (False, True)
        frame, notes = summarise(fam, infer=infer, level=level, adjust=adjust)
        table = cls(frame)
        object.__setattr__(table, "_family", fam)
        object.__setattr__(table, "_notes", tuple(notes))
        return table

    # ----------------------------------------------------------------- access
    @property
    def notes(self) -> tuple[str, ...]:
        """The lines emmeans prints below the table (averaging, df method, level, adjustment).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("normexam ~ standLRT + sex + (1 | school)", ml.datasets.load("exam"))
        >>> ml.emmeans(fit, "sex").notes
        ('Degrees-of-freedom method: kenward-roger', 'Confidence level used: 0.95')
        """
        return self._notes

    @property
    def linfct(self) -> pd.DataFrame:
        """The linear functions of the fixed effects behind each row (link scale).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("normexam ~ standLRT + sex + (1 | school)", ml.datasets.load("exam"))
        >>> ml.emmeans(fit, "sex").linfct.round(4).to_numpy().tolist()
        [[1.0, 0.0018, 0.0], [1.0, 0.0018, 1.0]]
        """
        fam = self._family
        if fam.R is not None:
            raise ValueError("a regridded table's estimates are not linear in the fixed effects")
        names = fam.est.names if fam.est.names is not None else fam.est.design.fixed.names
        return pd.DataFrame(fam.L, columns=list(names))

    def _table(self, fam: Family, infer=None, level=None, adjust=None) -> "EMMTable":
        return EMMTable.from_family(fam, infer=infer, level=level, adjust=adjust)

    # ------------------------------------------------------------- follow-ups
    def pairs(self, reverse: bool = False, by=None, adjust: str | None = None) -> "EMMTable":
        """Pairwise differences within each by-group (Tukey-adjusted by default).

        Parameters
        ----------
        reverse : bool
            ``"b - a"`` in place of ``"a - b"`` (emmeans' ``revpairwise``).
        by : str or list of str, optional
            By-variables (default the table's).
        adjust : str, optional
            Multiplicity adjustment (default ``"tukey"``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("normexam ~ standLRT + schgend + (1 | school)", ml.datasets.load("exam"))
        >>> ml.emmeans(fit, "schgend").pairs()["contrast"].tolist()
        ['mixed - boys', 'mixed - girls', 'boys - girls']
        """
        method = "revpairwise" if reverse else "pairwise"
        return self._table(contrast(self._family, method, by=by, adjust=adjust))

    def contrast(self, method="eff", by=None, adjust: str | None = None, **options) -> "EMMTable":
        """Contrasts among the estimates of each by-group.

        Parameters
        ----------
        method : str or dict
            ``"pairwise"``, ``"revpairwise"``, ``"trt.vs.ctrl"`` (each level
            against the first, or ``ref=``; Dunnett-adjusted),
            ``"trt.vs.ctrlk"`` (against the last), ``"consec"``, ``"eff"``
            (each against the average), ``"del.eff"``, ``"poly"``, or a dict
            ``{name: coefficients}`` of custom contrasts.
        by : str or list of str, optional
        adjust : str, optional
            Multiplicity adjustment (default: the method's, as in emmeans).
        **options
            ``ref`` (trt.vs.ctrl), ``reverse``, ``max_degree`` (poly).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("normexam ~ standLRT + schgend + (1 | school)", ml.datasets.load("exam"))
        >>> ml.emmeans(fit, "schgend").contrast("trt.vs.ctrl")["contrast"].tolist()
        ['boys - mixed', 'girls - mixed']
        """
        return self._table(contrast(self._family, method, by=by, adjust=adjust, **options))

    def summary(self, infer=(True, True), level: float | None = None,
                adjust: str | None = None) -> "EMMTable":
        """The table with intervals and/or tests (``infer=(intervals, tests)``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("normexam ~ standLRT + sex + (1 | school)", ml.datasets.load("exam"))
        >>> list(ml.emmeans(fit, "sex").summary().columns)[-3:]
        ['upper.CL', 't.ratio', 'p.value']
        """
        return self._table(self._family, infer=infer, level=level, adjust=adjust)

    def confint(self, level: float = 0.95, adjust: str | None = None) -> "EMMTable":
        """Confidence intervals (simultaneous under ``adjust``).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("normexam ~ standLRT + schgend + (1 | school)", ml.datasets.load("exam"))
        >>> list(ml.emmeans(fit, "schgend").pairs().confint().columns)
        ['contrast', 'estimate', 'SE', 'df', 'lower.CL', 'upper.CL']
        """
        return self._table(self._family, infer=(True, False), level=level, adjust=adjust)

    def test(self, adjust: str | None = None) -> "EMMTable":
        """Tests of each estimate against 0 (1 for ratios).

        Examples
        --------
        >>> import multilevel as ml
        >>> fit = ml.lmer("normexam ~ standLRT + sex + (1 | school)", ml.datasets.load("exam"))
        >>> list(ml.emmeans(fit, "sex").test().columns)
        ['sex', 'emmean', 'SE', 'df', 't.ratio', 'p.value']
        """
        return self._table(self._family, infer=(False, True), adjust=adjust)

    def regrid(self) -> "EMMTable":
        """The means on the response scale: estimates, intervals, tests and later contrasts
        there (emmeans' ``regrid``; contrasts become differences of probabilities or rates).

        Examples
        --------
        >>> import multilevel as ml
        >>> d = ml.datasets.load("cbpp")
        >>> d["healthy"] = d["size"] - d["incidence"]
        >>> fit = ml.glmer("cbind(incidence, healthy) ~ period + (1 | herd)", d, family="binomial")
        >>> ml.emmeans(fit, "period").regrid()["prob"].round(3).tolist()
        [0.198, 0.084, 0.074, 0.048]
        """
        return self._table(regrid(self._family))

    # --------------------------------------------------------------- printing
    def to_text(self) -> str:
        """The table as emmeans prints it."""
        frame = pd.DataFrame(self)
        fam = self._family
        by = [b for b in fam.by if b in frame.columns]
        blocks = []
        if by:
            keys = frame[by].astype(str).agg("\x00".join, axis=1)
            for key in pd.unique(keys):
                part = frame[keys == key].drop(columns=by)
                head = ", ".join(f"{b} = {v}" for b, v in zip(by, key.split("\x00")))
                blocks.append(f"{head}:\n" + _text(part))
        else:
            blocks.append(_text(frame))
        out = "\n\n".join(blocks)
        if self._notes:
            out += "\n\n" + "\n".join(self._notes)
        return out

    def __repr__(self) -> str:
        try:
            return self.to_text()
        except Exception:  # noqa: BLE001 - a table edited beyond emmeans' layout: pandas's text
            return pd.DataFrame.__repr__(self)

    def __str__(self) -> str:
        return self.__repr__()

    def _repr_html_(self) -> str:
        notes = "".join(f"<br>{n}" for n in getattr(self, "_notes", ()))
        return pd.DataFrame(self).to_html(index=False, na_rep="nonEst") + (f"<p>{notes[4:]}</p>" if notes else "")


def _pvalue(p: float) -> str:
    if not math.isfinite(p):
        return "NA"
    return "<.0001" if p < 0.0001 else f"{p:.4f}"


def _df_text(values) -> list[str]:
    out = []
    for v in values:
        if not math.isfinite(v):
            out.append("Inf" if v == math.inf else "NA")
        elif abs(v - round(v)) < 1e-8:
            out.append(f"{v:.0f}")
        else:
            out.append(f"{v:.1f}" if v >= 10 else f"{v:.2f}")
    return out


_SE_SCALED = _ESTIMATE_COLUMNS + ("SE", "lower.CL", "upper.CL", "asymp.LCL", "asymp.UCL")


def _decimals(frame: pd.DataFrame) -> int | None:
    """Decimals that show the smallest standard error to three significant digits
    (estimates and limits take the same, as emmeans rounds to the precision of the SE)."""
    if "SE" not in frame.columns:
        return None
    se = frame["SE"].to_numpy(dtype=float)
    se = se[np.isfinite(se) & (se > 0)]
    if se.size == 0:
        return None
    return int(np.clip(2 - math.floor(math.log10(se.min())), 0, 12))


def _text(frame: pd.DataFrame) -> str:
    cols = []
    dec = _decimals(frame)
    for c in frame.columns:
        vals = frame[c]
        if c == "p.value":
            strs = [_pvalue(v) for v in vals]
        elif c == "df":
            strs = _df_text(vals)
        elif pd.api.types.is_numeric_dtype(vals) and not isinstance(vals.dtype, pd.CategoricalDtype):
            arr = vals.to_numpy(dtype=float)
            finite = np.isfinite(arr)
            digits = 3 if c in ("t.ratio", "z.ratio") else 4
            strs = ["nonEst" if c in _ESTIMATE_COLUMNS else "NA"] * len(arr)
            if finite.any():
                fmt = ([f"{v:.{dec}f}" for v in arr[finite]] if dec is not None and c in _SE_SCALED
                       else format_column(arr[finite], digits=digits))
                it = iter(fmt)
                strs = [next(it) if f else s for f, s in zip(finite, strs)]
        else:
            strs = [str(v) for v in vals]
            cols.append((c, strs, "left"))
            continue
        cols.append((c, strs, "right"))
    lines = []
    widths = [max(len(c), *(len(s) for s in strs)) if strs else len(c) for c, strs, _ in cols]
    header = " ".join((c.ljust(w) if al == "left" else c.rjust(w)) for (c, _, al), w in zip(cols, widths))
    lines.append(" " + header)
    for i in range(len(frame)):
        row = " ".join((strs[i].ljust(w) if al == "left" else strs[i].rjust(w))
                       for (_, strs, al), w in zip(cols, widths))
        lines.append(" " + row)
    return "\n".join(line.rstrip() for line in lines)
