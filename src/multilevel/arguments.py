"""Checks of plain arguments (flags, counts) with one-line errors that name them."""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_bool", "as_choice", "as_int", "as_probability", "short_repr"]


def short_repr(value, width: int = 60) -> str:
    """A one-line description of an argument's value for an error message.

    Examples
    --------
    >>> short_repr("no"), short_repr(np.zeros((2, 2, 2)))
    ("'no'", 'ndarray of shape (2, 2, 2)')
    """
    shape = getattr(value, "shape", None)
    if shape is not None and not np.isscalar(value) and hasattr(value, "__len__"):
        return f"{type(value).__name__} of shape {tuple(shape)}"
    try:
        text = " ".join(repr(value).split())
    except Exception:  # a repr that fails is no reason to hide the real error
        text = f"a {type(value).__name__}"
    return text if len(text) <= width else text[: width - 3] + "..."


def as_choice(value, name: str, choices) -> str:
    """``value`` if it is one of the strings ``choices``; else a TypeError (not a
    string) or ValueError (another string) that names ``name`` and the choices.

    Examples
    --------
    >>> as_choice("link", "type", ("link", "response"))
    'link'
    >>> as_choice(["link"], "type", ("link", "response"))
    Traceback (most recent call last):
    ...
    TypeError: type must be one of 'link', 'response', not ['link']
    """
    options = ", ".join(repr(c) for c in choices)
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {options}, not {short_repr(value)}")
    if value not in choices:
        raise ValueError(f"{name} must be one of {options}, not {short_repr(value)}")
    return value


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
    raise TypeError(f"{name} must be True or False, not {short_repr(value)}")


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
    integral = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    if not integral and (isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real)
                         or not np.isfinite(value) or float(value) != int(value)):
        raise TypeError(f"{name} must be a whole number, not {short_repr(value)}")
    out = int(value)
    if minimum is not None and out < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {out}")
    return out


def as_probability(value, name: str) -> float:
    """``value`` as a float strictly between 0 and 1 (a level, an alpha, a probability).

    Examples
    --------
    >>> as_probability(0.9, "level")
    0.9
    >>> as_probability("high", "level")
    Traceback (most recent call last):
    ...
    TypeError: level must be a number between 0 and 1, not 'high'
    >>> as_probability(95, "level")
    Traceback (most recent call last):
    ...
    ValueError: level must be between 0 and 1, not 95
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number between 0 and 1, not {short_repr(value)}")
    if not 0 < float(value) < 1:
        raise ValueError(f"{name} must be between 0 and 1, not {value}")
    return float(value)
