"""lme4 formula syntax: random-effects bars on top of formulaic."""

from .parse import FormulaError, ParsedFormula, RandomBar, parse_formula

__all__ = ["FormulaError", "ParsedFormula", "RandomBar", "parse_formula"]
