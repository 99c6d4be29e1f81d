"""Fits without random effects, for complete- and no-pooling comparisons.

:func:`lm` (R's ``lm``), :func:`glm` (R's ``glm``: binomial, Poisson,
gaussian) and :func:`lmlist` (lme4's ``lmList``: one regression per group)
use the same formula syntax and designs as the mixed models, so their fits
compare with ``lmer`` and ``glmer`` fits in :func:`multilevel.anova`;
:func:`gls` (nlme's ``gls``) fits correlated and heteroscedastic residuals
within groups without random effects (MMRM).
"""

from .glm import GlmResult, glm
from .gls import GlsResult, gls
from .lmlist import LmList, lmlist
from .ols import LmResult, lm

__all__ = ["GlmResult", "GlsResult", "LmList", "LmResult", "glm", "gls", "lm", "lmlist"]
