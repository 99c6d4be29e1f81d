"""The lazy matplotlib import shared by every plot."""

from __future__ import annotations


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
