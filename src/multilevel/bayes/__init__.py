"""Full Bayesian multilevel models: priors, a JAX log density, NUTS and the collapsed sampler.

``ml.bayes(formula, data, ...)`` fits a model and returns a
:class:`~multilevel.bayes.posterior.Posterior`; see
:func:`multilevel.bayes.fit.bayes` for every argument. Priors are made with
:mod:`multilevel.bayes.priors` (also ``ml.priors``).

Nothing here imports JAX until a model is fitted: this package module is
itself callable, so ``ml.bayes(...)`` works whether or not its submodules
have been imported.

Examples
--------
>>> import multilevel as ml
>>> post = ml.bayes("Reaction ~ Days + (1 | Subject)", ml.datasets.load("sleepstudy"),
...                 priors={"b": ml.priors.normal(0, 20)},
...                 chains=2, draws=200, warmup=200, seed=1, progress=False)
>>> post.prior_summary().loc["b_Days", "prior"]
'normal(0, 20)'
"""

from __future__ import annotations

import importlib
import sys
import types

__all__ = ["bayes", "Posterior", "SamplerWarning", "priors"]


def __getattr__(name: str):
    if name == "bayes":
        return importlib.import_module(".fit", __name__).bayes
    if name == "Posterior":
        return importlib.import_module(".posterior", __name__).Posterior
    if name == "priors":
        return importlib.import_module(".priors", __name__)
    if name == "SamplerWarning":  # divergences, poor mixing: warnings.simplefilter("ignore", ...) to silence
        return importlib.import_module(".checks", __name__).SamplerWarning
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """This package, callable as ``ml.bayes(formula, data, ...)``.

    Importing a submodule binds the package to its parent's ``bayes``
    attribute, so the function and the package must be one object.
    """

    def __call__(self, *args, **kwargs):
        """Fit a Bayesian multilevel model: see :func:`multilevel.bayes.fit.bayes`."""
        return importlib.import_module(".fit", __name__).bayes(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule


def _present_as_function() -> None:
    """``help(ml.bayes)`` and ``inspect.signature(ml.bayes)`` show the function's
    arguments and docstring: ``__wrapped__`` leads inspect to it, and the
    package's docstring is the function's (fit.py imports no JAX)."""
    import inspect

    from .fit import bayes as function

    module = sys.modules[__name__]
    module.__wrapped__ = function
    module.__signature__ = inspect.signature(function)
    module.__doc__ = f"bayes{module.__signature__}\n\n{inspect.getdoc(function)}"


_present_as_function()
