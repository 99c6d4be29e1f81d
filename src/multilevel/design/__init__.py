"""Designs: the numbers every estimation route works on."""

from .design import Design, build_design
from .fixed import FixedDesign, independent_columns
from .random import RandomTerm, group_codes, theta_template
from .standardize import Standardization, standardize

__all__ = ["Design", "FixedDesign", "RandomTerm", "build_design", "group_codes",
           "independent_columns", "standardize", "Standardization", "theta_template"]
