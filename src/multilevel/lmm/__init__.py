"""Linear mixed models by ML and REML: objective, optimizer, fit."""

from .fit import fit_design, lmer
from .objective import LmmObjective, conditional_variances, criterion, solve_effects
from .optimize import OptSummary, minimize_theta

__all__ = ["LmmObjective", "OptSummary", "conditional_variances", "criterion", "fit_design",
           "lmer", "minimize_theta", "solve_effects"]
