"""Frozen result objects and their printing."""

from .lmer_result import LmerResult
from .summary import format_column, lmer_summary

__all__ = ["LmerResult", "format_column", "lmer_summary"]
