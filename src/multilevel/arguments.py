"""Checks of plain arguments (flags, counts) with one-line errors that name them."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_bool", "as_int"]


def as_bool(value, name: str) -> bool:
    """``value`` if it is a boolean (numpy's too); a TypeError naming ``name`` otherwise.

    A string such as ``"no"`` is truthy in Python: it is refused, not read as True.

    Examples
    --------
    >>> as_bool(False, "reml")
    False
    >>> as_bool("no", "reml")
    Traceback (most recent call last):
    ...
    TypeError: reml must be True or False, not 'no'
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, not {value!r}")


def as_int(value, name: str, minimum: int | None = None) -> int:
    """``value`` as an int when it is a whole number (at least ``minimum``).

    Examples
    --------
    >>> as_int(20.0, "nsim", 1)
    20
    >>> as_int("a", "nsim", 1)
    Traceback (most recent call last):
    ...
    TypeError: nsim must be a whole number, not 'a'
    >>> as_int(0, "nsim", 1)
    Traceback (most recent call last):
    ...
    ValueError: nsim must be at least 1, not 0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not np.isfinite(value) or float(value) != int(value):
        raise TypeError(f"{name} must be a whole number, not {value!r}")
    out = int(value)
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {out}")
    return out
