"""The lazy matplotlib import shared by every plot."""

from __future__ import annotations

import numpy as np


def pyplot():
    """``matplotlib.pyplot``, or a one-line ImportError saying how to install it.

    Examples
    --------
    >>> plt = pyplot()
    >>> hasattr(plt, "subplots")
    True
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("plots need matplotlib: pip install 'multilevel[plots]'") from None
    return plt


def axes_list(ax, n: int, what: str) -> list:
    """The Axes given as ``ax`` (one or a sequence), checked: Axes objects, at least ``n``.

    Examples
    --------
    >>> fig, axes = pyplot().subplots(1, 2)
    >>> len(axes_list(axes, 2, "2 panels"))
    2
    >>> axes_list("x", 1, "a panel")
    Traceback (most recent call last):
    ...
    TypeError: ax must be a matplotlib Axes or a sequence of them, not 'x'
    >>> pyplot().close("all")
    """
    from ..arguments import short_repr

    axes = list(np.ravel(np.asarray(ax, dtype=object))) if not hasattr(ax, "plot") else [ax]
    if not axes or not all(hasattr(a, "plot") and hasattr(a, "figure") for a in axes):
        raise TypeError(f"ax must be a matplotlib Axes or a sequence of them, not {short_repr(ax)}")
    if len(axes) < n:
        raise ValueError(f"ax: {what} to draw but {len(axes)} axes given")
    return axes
