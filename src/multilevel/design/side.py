"""A second formula on a model's rows: the zero-inflation model (``zi=``) and the
residual SD model (``dispformula=``) are fixed-effects right-hand sides whose
columns are built on exactly the rows the model uses."""

from __future__ import annotations

import numpy as np

__all__ = ["side_design"]


def side_design(argument: str, value, frame, design, response: str, what: str, offset: bool = False):
    """The design of ``value`` (``"~ x"``), given as the argument ``argument``, on the rows
    of ``design``, or a one-line error naming the argument.

    ``what`` names its columns in the missing-values message ("the zero-inflation
    predictors"); ``offset``: whether the formula may have ``offset()`` terms (the
    design's ``offset``), else they are refused.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> ss = ml.datasets.load("sleepstudy")
    >>> d = build_design("Reaction ~ Days + (1 | Subject)", ss)
    >>> side_design("dispformula", "~ Days", ss, d, "Reaction", "the dispersion predictors").fixed.names
    ('(Intercept)', 'Days')
    >>> side_design("zi", "~ (1 | Subject)", ss, d, "Reaction", "the zero-inflation predictors")
    Traceback (most recent call last):
    ...
    ValueError: zi must be a fixed-effects right-hand side such as '~ x' or '~ 1', not '~ (1 | Subject)'
    >>> side_design("dispformula", "~ offset(Days)", ss, d, "Reaction", "the dispersion predictors")
    Traceback (most recent call last):
    ...
    ValueError: dispformula='~ offset(Days)' has an offset(), which dispformula= does not take: give its column as a predictor (its coefficient is then estimated) or leave it out
    """
    from . import build_design
    from ..arguments import short_repr
    from ..formula import parse_formula

    if not isinstance(value, str):
        raise TypeError(f"{argument} must be a formula's right-hand side such as '~ x', not {short_repr(value)}")
    rhs = value.strip()
    rhs = rhs[1:].strip() if rhs.startswith("~") else rhs
    if not rhs or "|" in rhs:
        raise ValueError(f"{argument} must be a fixed-effects right-hand side such as '~ x' or '~ 1', not {value!r}")
    try:
        # (by position: an index with repeated labels would repeat rows)
        out = build_design(parse_formula(f"{response} ~ {rhs}"), frame.iloc[np.asarray(design.rows)])
    except ValueError as exc:  # name the argument the problem is in
        raise ValueError(f"in {argument}={value!r}: {exc}") from None
    if out.offset is not None and not offset:  # (an offset here would be dropped: a wrong model, not a fit)
        raise ValueError(f"{argument}={value!r} has an offset(), which {argument}= does not take: give its column as "
                         f"a predictor (its coefficient is then estimated) or leave it out")
    if out.n != design.n:
        raise ValueError(f"{what} ({rhs}) have missing values in rows the model uses; drop those rows first")
    return out
