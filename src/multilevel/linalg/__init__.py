"""Blocked storage and Cholesky factorisation of the mixed-model system: pure functions."""

from .blocked import BlockedFactor, NotPositiveDefinite, ThetaLayout, factorize
from .crossprod import CrossProducts, cross_products, term_matrix

__all__ = ["BlockedFactor", "CrossProducts", "NotPositiveDefinite", "ThetaLayout",
           "cross_products", "factorize", "term_matrix"]
