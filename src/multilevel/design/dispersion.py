"""A model for the residual variance of a linear mixed model (glmmTMB's ``dispformula``).

``log sigma_i = log sigma + (x_i - c)' delta``: the residual standard
deviation of row i is ``sigma`` (the fit's) times ``exp((x_i - c)' delta)``,
with ``x_i`` the dispersion formula's columns without its intercept (which
``sigma`` carries) and ``c`` their reference: 0 for a factor's indicator
columns (``sigma`` is the first level's SD) and the mean of a numeric column
(``sigma`` is the SD at its mean, so that shifting the column, ``x + 1e9``,
leaves every number as it is; nlme and glmmTMB report the SD at ``x = 0``,
``sigma exp(-c' delta)``). A factor gives one SD ratio per level against the first
(nlme's ``varIdent(form = ~ 1 | Sex)``), a numeric column an exponential
trend (nlme's ``varExp(form = ~ age)``). The model enters the fit as precision
weights ``w_i = prior_i exp(-2 (x_i - c)' delta)``, so everything that takes
weights (the cross-products, the criterion's log-determinant of the weights,
residuals, simulation, prediction intervals) follows it.

Examples
--------
>>> import multilevel as ml
>>> from multilevel.design import build_design
>>> orth = ml.datasets.load("orthodont")
>>> d = build_design("distance ~ age + (1 | Subject)", orth)
>>> dm = dispersion_model("~ Sex", orth, d, "distance")
>>> dm.names, dm.X.shape
(('SexFemale',), (108, 1))
>>> dm.with_coef([np.log(0.5)]).weights()[[0, 100]].round(3).tolist()  # boys 1, girls 1 / 0.5^2
[1.0, 4.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["DispersionModel", "dispersion_model"]


@dataclass(frozen=True)
class DispersionModel:
    """The residual SD model of a fit, and its coefficients once estimated.

    Attributes
    ----------
    formula : str
        The ``dispformula`` argument as given.
    names : tuple of str
        Its columns (lme4 names), the intercept left out.
    X : ndarray (n, m)
        Those columns at the design's rows.
    prior : ndarray (n,) or None
        The prior (precision) weights the model's weights multiply.
    center : ndarray (m,)
        The columns' reference ``c``: 0 for 0/1 columns, else the mean.
    coef : ndarray (m,) or None
        ``delta``, the log SD ratio per unit of each column (None before the fit).
    se : ndarray (m,) or None
        Their standard errors.
    design : Design
        The formula's design (its encodings build the columns of new data).
    """

    formula: str
    names: tuple
    X: np.ndarray = field(repr=False)
    prior: np.ndarray | None = field(default=None, repr=False)
    center: np.ndarray | None = field(default=None, repr=False)
    coef: np.ndarray | None = None
    se: np.ndarray | None = None
    design: object = field(default=None, repr=False, compare=False)

    @property
    def col_scale(self) -> np.ndarray:
        """Root mean square of each centred numeric column (1 for a constant one or a factor's
        0/1 indicator, which has no units): ``delta * col_scale`` are the coefficients in units
        that do not change with the columns' (where searches and derivatives run over them).

        Examples
        --------
        >>> m = DispersionModel("~ x", ("x",), np.array([[1.0], [3.0]]), center=np.array([2.0]))
        >>> m.col_scale.tolist()
        [1.0]
        """
        X = np.asarray(self.X, dtype=float)
        if self.prior is not None and not np.all(self.prior > 0):
            X = X[self.prior > 0]  # (rows of weight 0 are not data)
        Xc = X - (0.0 if self.center is None else self.center)
        rms = np.sqrt(np.mean(Xc * Xc, axis=0)) if Xc.shape[0] else np.ones(Xc.shape[1])
        indicator = np.all((X == 0.0) | (X == 1.0), axis=0)   # (a factor's columns have no units)
        return np.where((rms > 0) & np.isfinite(rms) & ~indicator, rms, 1.0)

    def with_coef(self, coef) -> "DispersionModel":
        """The model with coefficients ``coef``."""
        return replace(self, coef=np.asarray(coef, dtype=float))

    def log_sd_ratio(self, coef=None, X=None) -> np.ndarray:
        """``(x_i - c)' delta`` per row (of the fit's rows, or of ``X``)."""
        coef = self.coef if coef is None else np.asarray(coef, dtype=float)
        X = self.X if X is None else np.asarray(X, dtype=float)
        return (X - self.center) @ coef

    def weights(self, coef=None) -> np.ndarray:
        """The precision weights ``prior exp(-2 (x - c)' delta)`` of the fit's rows."""
        if self.prior is None:
            return np.exp(-2.0 * self.log_sd_ratio(coef))
        data = self.prior > 0   # (a row of weight 0 keeps 0, whatever its columns hold)
        with np.errstate(over="ignore"):
            w = np.exp(-2.0 * np.where(data, self.log_sd_ratio(coef), 0.0))
        return np.where(data, self.prior * w, 0.0)

    def new_X(self, newdata) -> np.ndarray:
        """The model's columns for new rows (the intercept left out)."""
        from .data import as_dataframe
        from ..predict import _fixed_matrix

        X = np.asarray(_fixed_matrix(self.design, as_dataframe(newdata)), dtype=float)
        keep = [i for i, n in enumerate(self.design.fixed.names) if n != "(Intercept)"]
        return X[:, keep]

    def subset(self, keep) -> "DispersionModel":
        """The model at the rows where ``keep`` is true."""
        keep = np.asarray(keep, dtype=bool)
        return replace(self, X=self.X[keep], prior=None if self.prior is None else self.prior[keep])


def dispersion_model(dispformula, frame, design, response: str) -> DispersionModel:
    """The residual SD model ``dispformula`` (a right-hand side such as ``"~ Sex"``)
    on the rows of ``design``, or a one-line error.

    Examples
    --------
    >>> import multilevel as ml
    >>> from multilevel.design import build_design
    >>> ss = ml.datasets.load("sleepstudy")
    >>> d = build_design("Reaction ~ Days + (1 | Subject)", ss)
    >>> dispersion_model("~ 0 + Days", ss, d, "Reaction")
    Traceback (most recent call last):
    ...
    ValueError: dispformula='~ 0 + Days' has no intercept: the residual SD model is log sigma_i = log sigma + (x_i - c)' delta, sigma carrying the intercept; remove '0 +' (dispformula='~ 0' alone, no residual variance apart from a structured term's, is available in ml.lmer)
    """
    from .side import side_design

    dd = side_design("dispformula", dispformula, frame, design, response, "the dispersion predictors")
    names = list(dd.fixed.names)
    if "(Intercept)" not in names:
        raise ValueError(f"dispformula={dispformula!r} has no intercept: the residual SD model is log sigma_i = "
                         "log sigma + (x_i - c)' delta, sigma carrying the intercept; remove '0 +' (dispformula='~ 0' alone, "
                         "no residual variance apart from a structured term's, is available in ml.lmer)")
    keep = [i for i, n in enumerate(names) if n != "(Intercept)"]
    if not keep:
        raise ValueError(f"dispformula={dispformula!r} has only an intercept, the model's own residual SD: "
                         "leave dispformula out")
    X = np.ascontiguousarray(np.asarray(dd.X, dtype=float)[:, keep])
    prior = None if design.weights is None else np.asarray(design.weights, dtype=float)
    Xd = X if prior is None or np.all(prior > 0) else X[prior > 0]  # (rows of weight 0 are not data)
    empty = [names[keep[j]] for j in range(X.shape[1]) if not np.any(Xd[:, j] != 0)]
    if empty:
        raise ValueError(f"dispformula={dispformula!r}: the column {empty[0]!r} is 0 in every row of positive "
                         "weight, so its SD ratio is not identified; drop the rows of weight 0 (or the level "
                         "only they hold) from the data")
    indicator = np.all((Xd == 0) | (Xd == 1), axis=0)
    center = np.where(indicator, 0.0, Xd.mean(axis=0))
    return DispersionModel(formula=dispformula, names=tuple(names[i] for i in keep), X=X, center=center,
                           prior=prior, design=dd)
