"""Tables that are DataFrames and print as R prints them.

``fit.anova()`` and ``fit.coef_table()`` return these: every pandas operation
works on them as on any DataFrame (and gives a plain DataFrame back), while
``print(table)`` and the interactive display show lmerTest's and lme4's text,
with the title, formatted numbers, significance stars and R's legend. The
numbers themselves are never rounded.
"""

from __future__ import annotations

import pandas as pd

from .summary import anova_lines, coef_lines

__all__ = ["AnovaTable", "CoefTable"]


class _RTable(pd.DataFrame):
    """A DataFrame whose text form is R's; derived frames are plain DataFrames."""

    @property
    def _constructor(self):
        return pd.DataFrame

    def _lines(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_text(self) -> str:
        """The table as R prints it."""
        return "\n".join(self._lines())

    def __repr__(self) -> str:
        try:
            return self.to_text()
        except Exception:  # noqa: BLE001 - edited in place beyond R's layout: pandas's text
            return pd.DataFrame.__repr__(self)

    def __str__(self) -> str:
        return self.__repr__()

    def _repr_html_(self) -> str:
        title = self.attrs.get("title")
        table = pd.DataFrame(self).to_html()
        return (f"<p><b>{title}</b></p>" if title else "") + table


class AnovaTable(_RTable):
    """An ANOVA table (``fit.anova()``): a DataFrame that prints as lmerTest's ``anova``.

    The title (``table.attrs["title"]``, also ``table.title``) names the type
    of hypotheses and the denominator-df method.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> table = fit.anova()
    >>> print(table)
    Type III Analysis of Variance Table with Satterthwaite's method
           Sum Sq Mean Sq NumDF DenDF F value    Pr(>F)
    mses   8205.1  8205.1     1 151.0 209.522 < 2.2e-16 ***
    sector  622.9   622.9     1 149.6  15.907 0.0001038 ***
    ---
    Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
    >>> round(float(table.loc["mses", "F value"]), 3), type(table.round(2)).__name__
    (209.522, 'DataFrame')
    """

    @property
    def title(self) -> str:
        """What the table tests, as lmerTest's heading says it."""
        return self.attrs.get("title", "Analysis of Variance Table")

    def _lines(self) -> list[str]:
        return [self.title] + anova_lines(pd.DataFrame(self))


class CoefTable(_RTable):
    """The fixed effects with their tests (``fit.coef_table()``): a DataFrame that prints as
    the coefficient block of lme4's / lmerTest's ``summary``.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("math ~ 1 + mses + sector + (1 | schoolid)", ml.datasets.load("leebryk"))
    >>> print(fit.coef_table())
                Estimate Std. Error       df t value Pr(>|t|)
    (Intercept)  12.0994     0.1986 160.5492  60.919  < 2e-16 ***
    mses          5.3336     0.3685 151.0049  14.475  < 2e-16 ***
    sector        1.2196     0.3058 149.5960   3.988 0.000104 ***
    ---
    Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
    >>> fit.coef_table()["df"].round(1).tolist()
    [160.5, 151.0, 149.6]
    """

    def _lines(self) -> list[str]:
        return coef_lines(pd.DataFrame(self))
