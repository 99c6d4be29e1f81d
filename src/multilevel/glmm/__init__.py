"""Generalized linear mixed models: PIRLS, Laplace and adaptive Gauss-Hermite."""

from .pirls import PirlsResult, pirls, random_part

__all__ = ["PirlsResult", "pirls", "random_part"]
