"""multilevel: multilevel (hierarchical, mixed-effects) regression in Python.

Fit linear mixed models written in lme4's formula syntax by maximum likelihood
or REML, with results that match lme4 and summaries that read like it.

Examples
--------
>>> import multilevel as ml
>>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
>>> round(float(fit.fixef["Days"]), 3)
10.467
"""

from . import bayes, datasets, irt, plots
from .formula import FormulaError
from .glmm.clmm import clmm
from .glmm.fit import glmer
from .inference.bootstrap import BootstrapResult, bootstrap
from .inference.lrt import ModelComparison, anova
from .inference.pbtest import pbtest
from .inference.power import power
from .lmm import lmer
from .marginal import EMMTable, effects, emmeans, emtrends, slopes
from .regression import glm, gls, lm, lmlist
from .report import report
from .results import LmerResult
from .results.archive import load

__version__ = "0.1.0"

__all__ = ["BootstrapResult", "EMMTable", "FormulaError", "LmerResult", "ModelComparison", "anova", "bayes",
           "bootstrap", "clmm", "datasets", "effects", "emmeans", "emtrends", "glm", "glmer", "gls", "irt", "lm", "lmlist", "load", "pbtest", "plots", "power", "lmer", "report", "slopes", "priors", "__version__"]


def __getattr__(name: str):
    # ``ml.priors`` is imported on first use (``ml.bayes`` is the callable package
    # ``multilevel.bayes``, which imports JAX only when a model is fitted)
    if name == "priors":
        from .bayes import priors

        return priors
    raise AttributeError(f"module 'multilevel' has no attribute {name!r}")
