"""Figures (matplotlib, imported only when a plot is drawn).

Each function lives in the module named after what it shows and is looked up
on first use, so ``import multilevel`` never imports matplotlib.
"""

from __future__ import annotations

import importlib

# public name -> submodule that defines it
_WHERE: dict[str, str] = {
    "caterpillar": "ranef",
    "density": "mcmc",
    "effects": "marginal",
    "emm": "marginal",
    "forest": "forest_plot",
    "group_lines": "lines",
    "item_curves": "irt",
    "pooling": "lines",
    "ppc": "checks",
    "qq": "checks",
    "rank": "mcmc",
    "residuals": "checks",
    "shrinkage": "checks",
    "trace": "mcmc",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'multilevel.plots' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
