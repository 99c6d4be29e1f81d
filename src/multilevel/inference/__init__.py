"""Inference for fitted mixed models: degrees of freedom, tests, intervals and
variance decomposition. The public entry points are methods of ``LmerResult``
(``coef_table``, ``contest``, ``anova``, ``confint``, ``icc``, ``r2``,
``shrinkage``, ``variance_partition``) and ``multilevel.anova`` /
``multilevel.bootstrap``; each module here is one method and usable alone.
"""

from .bootstrap import BootstrapResult, bootstrap
from .intervals import confint
from .kenward_roger import KenwardRoger, kenward_roger
from .lrt import ModelComparison, anova
from .parameters import parameter_names, wald_confint
from .profile import profile_confint
from .satterthwaite import VarparCovariance, contest1d, contest_md, varpar_covariance
from .variance import icc, r2_nakagawa, shrinkage, variance_partition
from .varpar import varpar_deviance, varpar_hat, vcov_beta_at

__all__ = ["BootstrapResult", "KenwardRoger", "ModelComparison", "VarparCovariance", "anova",
           "bootstrap", "confint", "contest1d", "contest_md", "icc", "kenward_roger",
           "parameter_names", "profile_confint", "r2_nakagawa", "shrinkage", "variance_partition",
           "varpar_covariance", "varpar_deviance", "varpar_hat", "vcov_beta_at", "wald_confint"]
