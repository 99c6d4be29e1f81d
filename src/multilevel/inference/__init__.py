"""Inference for fitted mixed models: degrees of freedom, tests, intervals."""

from .satterthwaite import VarparCovariance, contest1d, contest_md, varpar_covariance
from .varpar import varpar_deviance, varpar_hat, vcov_beta_at

__all__ = ["VarparCovariance", "contest1d", "contest_md", "varpar_covariance",
           "varpar_deviance", "varpar_hat", "vcov_beta_at"]
