"""What the fits without random effects share: their parameters' bookkeeping, so that
:func:`multilevel.anova` and the after-the-fit tools read them as they read mixed models."""

from __future__ import annotations

import pandas as pd

__all__ = ["FixedOnly"]


class FixedOnly:
    """Properties of a fit without random effects (``fixef``, ``loglik``, ``df`` and
    ``design`` come from the result class)."""

    @property
    def coef(self) -> pd.Series:
        """The coefficients (also ``fixef``)."""
        return self.fixef

    @property
    def nobs(self) -> int:
        """Rows used in the fit."""
        return self.design.n

    @property
    def theta(self) -> pd.Series:
        """No variance parameters: an empty Series (for model comparisons)."""
        return pd.Series(dtype=float)

    @property
    def aic(self) -> float:
        return -2 * self.loglik + 2 * self.df
