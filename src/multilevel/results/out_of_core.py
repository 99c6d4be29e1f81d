"""The result of ``lmer`` on data in parts: the fit is an :class:`LmerResult`;
what is per row (fitted values, residuals, predictions) comes back as Dask
collections, computed when asked for.

Tools that refit or need every row at once on the client (profiles, the
bootstrap, influence) are refused with a message, not run on empty rows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..arguments import as_choice
from .glmer_result import GlmerResult, convergence_messages
from .lmer_result import LmerResult

__all__ = ["GlmmRowModel", "OutOfCoreGlmerResult", "OutOfCoreLmerResult", "RowModel"]


def _part_rows(pdf: pd.DataFrame, schema, keep: np.ndarray, beta: np.ndarray):
    """A part's used rows (their frame), their design (None without rows) and the
    fixed part of their linear predictor, offset included."""
    from ..design.partitioned import part_design, prepare_part

    frame, w, off = prepare_part(pdf, schema)
    if len(frame) == 0:
        return frame, None, None
    d = part_design(frame, w, off, schema)
    marginal = d.X[:, keep] @ beta
    if d.offset is not None:
        marginal = marginal + d.offset
    return frame, d, marginal


def _map_rows(design, row_model, what: str, name: str):
    """``row_model(part, what)`` of every part of the data, a Dask Series (lazy)."""
    meta = pd.Series(np.zeros(0), name=name, index=design.source._meta.index)
    return design.source[list(design.schema.columns)].map_partitions(row_model, what, meta=meta)


def _random_part(d, b: tuple) -> np.ndarray:
    """``Z b`` of a part's rows, every term's random effects ``b`` on the user's scale."""
    zb = np.zeros(d.n)
    for t, bt in zip(d.terms, b):
        zb += np.einsum("ij,ij->i", t.Z, bt[t.codes])
    return zb


@dataclass(frozen=True)
class RowModel:
    """What a part's rows need to compute their fitted values and residuals: the
    schema, the fixed effects of the kept columns, the random effects, sigma.
    Small and picklable: it travels to the workers (the fit, holding the Dask
    graph of the data, does not).

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> s = ml.datasets.load("sleepstudy")
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", dd.from_pandas(s, npartitions=2))
    >>> rm = fit._row_model
    >>> rm(s.iloc[:2], "fitted").round(2).tolist()
    [253.66, 273.33]
    """

    schema: object
    keep: np.ndarray
    beta: np.ndarray
    b: tuple
    sigma: float

    def __call__(self, pdf: pd.DataFrame, what: str) -> pd.Series:
        name = what if what == "fitted" else f"{what} residuals"
        frame, d, marginal = _part_rows(pdf, self.schema, self.keep, self.beta)
        if d is None:
            return pd.Series(np.zeros(0), index=frame.index, name=name)
        if what == "marginal":
            return pd.Series(d.y - marginal, index=frame.index, name=name)
        fitted = marginal + _random_part(d, self.b)
        if what == "fitted":
            return pd.Series(fitted, index=frame.index, name=name)
        r = d.y - fitted
        if what in ("scaled", "pearson", "normalized") and d.weights is not None:
            r = r * np.sqrt(d.weights)
        if what in ("scaled", "normalized"):
            r = r / self.sigma
        return pd.Series(r, index=frame.index, name=name)


def _predict_parts(newdata, predict, se_fit: bool, interval):
    """``predict`` (of a pandas frame) part by part of a Dask frame: a Dask Series of
    predictions, or a Dask DataFrame with their standard errors and intervals."""
    from ..design.partitioned import as_partitioned

    new = as_partitioned(newdata)
    if se_fit or interval is not None:
        cols = ["fit", "se_fit"] + (["lower", "upper"] if interval is not None else [])
        meta = pd.DataFrame({c: np.zeros(0) for c in cols}, index=new._meta.index)
    else:
        meta = pd.Series(np.zeros(0), index=new._meta.index, name="predicted")
    return new.map_partitions(predict, meta=meta)


def _refuse(what: str, alternative: str = ""):
    from ..design.rowless import not_in_parts

    raise not_in_parts(what, alternative)


@dataclass(frozen=True, repr=False)
class OutOfCoreLmerResult(LmerResult):
    """An :class:`LmerResult` of data in parts (``fit.design.source``).

    ``fitted``, ``residuals()`` and ``predict()`` return Dask Series, computed
    lazily (``.compute()``), indexed like the data's used rows; everything
    computed from the estimates alone (fixed effects, variance components,
    random effects, Satterthwaite tests, ANOVA, Wald intervals) is as for a
    fit in memory.

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> s = dd.from_pandas(ml.datasets.load("sleepstudy"), npartitions=3)
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", s)
    >>> fit.fixef.round(3).tolist(), fit.design.passes
    ([251.405, 10.467], 2)
    >>> fit.residuals().compute().head(2).round(2).tolist()
    [-4.1, -14.63]
    """

    @property
    def _row_model(self) -> RowModel:
        d = self.design
        return RowModel(schema=d.schema, keep=d.keep, beta=self.fixef.to_numpy(), b=tuple(self._b),
                        sigma=float(self.sigma))

    def _rows(self, what: str):
        return _map_rows(self.design, self._row_model, what, what if what == "fitted" else f"{what} residuals")

    @property
    def fitted(self):
        """Fitted values of the rows used, a Dask Series (lazy)."""
        return self._rows("fitted")

    @property
    def _marginal(self):
        return _refuse("the marginal fitted values as an array", "; use fit.residuals('marginal')")

    def _zb(self):
        return _refuse("the random part of the fitted values as an array", "; use fit.fitted")

    def residuals(self, type: str = "conditional"):
        """Residuals of the rows used, a Dask Series (lazy); types as for a fit in memory
        (``"normalized"`` is ``"scaled"``: there is no residual correlation)."""
        as_choice(type, "type", ("conditional", "marginal", "scaled", "pearson", "normalized"))
        return self._rows(type)

    def predict(self, newdata=None, random: bool = True, allow_new_levels: bool = True,
                offset=None, se_fit: bool = False, interval: str | None = None,
                level: float = 0.95, conditional: bool = False):
        """Predictions: for the fitted rows (``newdata=None``: the fitted values, a
        Dask Series), for a Dask DataFrame (a Dask Series or DataFrame, part by
        part), or for a pandas frame (as for a fit in memory)."""
        from ..design.partitioned import is_partitioned

        kw = dict(random=random, allow_new_levels=allow_new_levels, offset=offset, se_fit=se_fit,
                  interval=interval, level=level, conditional=conditional)
        if newdata is None:
            if se_fit or interval is not None or not random:
                _refuse("predict() of the fitted rows with se_fit, interval or random=False",
                        "; pass the rows as newdata")
            return self.fitted
        light = replace(self, design=self.design.without_source())
        if is_partitioned(newdata):
            return _predict_parts(newdata, lambda part: LmerResult.predict(light, part, **kw), se_fit, interval)
        return LmerResult.predict(light, newdata, **kw)

    # ------------------------------------------------------ what needs every row
    def hatvalues(self, kind: str = "leverage"):
        _refuse("hatvalues()")

    def cooks_distance(self, kind: str = "leverage"):
        _refuse("cooks_distance()")

    def refit(self, reml: bool | None = None, start=None):
        """A refit: ``ml.lmer`` again on the same data (two more passes)."""
        from ..lmm.out_of_core import lmer_partitioned

        fit = lmer_partitioned(self.formula, self.design.source, reml=self.reml if reml is None else reml,
                               weights=self.design.schema.weights, offset=self.design.schema.offset,
                               start=start, data_name=self.data_name)
        return replace(fit, offset_name=self.offset_name) if self.offset_name is not None else fit

    def confint(self, method: str = "Wald", level: float = 0.95, parm=None, **kw) -> pd.DataFrame:
        """Confidence intervals: ``"Wald"`` (the default here; profiles and the
        bootstrap refit on every row and are not available for data in parts)."""
        if str(method).lower() != "wald":
            _refuse(f"confint(method={method!r})", "; use method='Wald'")
        return LmerResult.confint(self, method="Wald", level=level, parm=parm, **kw)

    @property
    def _kenward_roger(self):
        return _refuse("Kenward-Roger's method", "; use ddf='satterthwaite'")

    @property
    def _user_objective(self):
        return _refuse("the criterion of the rows", "")

    @property
    def _standardized(self):
        return _refuse("a refit to another response (the bootstrap, simulation)", "")

    def save(self, path):
        _refuse("save()", "; save the estimates (fit.to_dict()) instead")


@dataclass(frozen=True)
class GlmmRowModel:
    """What a part's rows need for a GLMM's fitted means and residuals: the
    schema, the fixed effects of the kept columns, the random effects, the
    family. Small and picklable (it travels to the workers).

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> cb = ml.datasets.load("cbpp").assign(p=lambda d: d["incidence"] / d["size"])
    >>> fit = ml.glmer("p ~ period + (1 | herd)", dd.from_pandas(cb, npartitions=2), weights="size")
    >>> fit._row_model(cb.iloc[:2], "fitted").round(3).tolist()
    [0.308, 0.142]
    """

    schema: object
    keep: np.ndarray
    beta: np.ndarray
    b: tuple
    family: object

    def __call__(self, pdf: pd.DataFrame, what: str) -> pd.Series:
        name = what if what in ("fitted", "link") else f"{what} residuals"
        frame, d, marginal = _part_rows(pdf, self.schema, self.keep, self.beta)
        if d is None:
            return pd.Series(np.zeros(0), index=frame.index, name=name)
        eta = marginal + _random_part(d, self.b)
        fam = self.family
        if what == "link":
            return pd.Series(eta, index=frame.index, name=name)
        mu = fam.link.inverse(eta)
        y = d.y
        prior = np.ones(d.n) if d.weights is None else np.asarray(d.weights, dtype=float)
        if what == "fitted":
            r = mu
        elif what == "deviance":
            r = np.sign(y - mu) * np.sqrt(np.maximum(fam.deviance_residuals(y, mu, prior), 0))
        elif what == "pearson":
            r = (y - mu) * np.sqrt(prior / fam.variance(mu))
        elif what == "response":
            r = y - mu
        else:  # working
            r = (y - mu) / fam.link.mu_eta(eta)
        return pd.Series(r, index=frame.index, name=name)


@dataclass(frozen=True, eq=False)
class OutOfCoreGlmerResult(GlmerResult):
    """A :class:`GlmerResult` of data in parts (``fit.design.source``): the
    estimates, tests and conditional modes as in memory; fitted means,
    residuals and predictions of the rows as Dask Series, computed lazily.

    The log-likelihood, the overdispersion check and the conditional
    variances come from one more pass at the optimum; ``fit.design.passes``
    counts every pass.

    Examples
    --------
    >>> import dask.dataframe as dd, multilevel as ml
    >>> cb = ml.datasets.load("cbpp").assign(p=lambda d: d["incidence"] / d["size"])
    >>> fit = ml.glmer("p ~ period + (1 | herd)", dd.from_pandas(cb, npartitions=3), weights="size")
    >>> round(fit.loglik, 3), fit.residuals().compute().round(3).head(2).tolist()
    (-92.026, [-1.438, 0.989])
    """

    @classmethod
    def _build(cls, design, family, theta, beta, vcov, pirls, prior_weights, nagq, opt, response, formula,
               data_name=None, loglik=None, offset_name=None, check=None, standardization=None,
               weights_name=None, dispersion_se=None, cov_beta_extra=None, cov_extra_working=None, notes=()):
        at = pirls.eta
        runner = at.runner
        # one pass more at the optimum: the log-likelihood and the per-row checks' sums
        sums = runner.sums(at.state, family, at.fixed_beta, summaries=True)
        at = replace(at, sums=sums)
        ll = sums.loglik - 0.5 * (float(pirls.u @ pirls.u) + pirls.logdet)
        object.__setattr__(design, "passes", design.passes + runner.passes)
        return super()._build(design, family, theta, beta, vcov, replace(pirls, eta=at), prior_weights, nagq,
                              opt, response, formula, data_name=data_name, loglik=ll, offset_name=offset_name,
                              check=check, standardization=standardization, weights_name=weights_name,
                              dispersion_se=dispersion_se, cov_beta_extra=cov_beta_extra,
                              cov_extra_working=cov_extra_working, notes=notes)

    @staticmethod
    def _checks(design, family, theta, beta, vcov, pirls, prior, singular, check, zi_se=None) -> list[str]:
        """The in-memory checks, from the pass sums: separation (the linear program on
        the parts' distinct rows, one more pass), overdispersion (the Pearson
        chi-square), the optimizer's gradient (data in parts take no zero-inflation model:
        ``zi_se`` is None)."""
        from ..glmm import diagnostics as dx

        _pearson_test = dx.pearson_test
        sums = pirls.eta.sums
        out = []
        dv = np.diag(np.asarray(vcov, dtype=float))
        se = np.sqrt(np.where(dv >= 0, dv, np.nan))
        if family.discrete and family.name != "cumulative":   # as in memory: the linear program on a symptom
            from ..glmm.out_of_core import separation_direction

            symptom = sums.extreme or not np.all(np.isfinite(se))
            kind = "binomial" if family.name == "binomial" else "poisson"
            d = separation_direction(design, kind, dx._LP_MAX_CELLS if symptom else dx._LP_ALWAYS_CELLS)
            object.__setattr__(design, "passes", design.passes + 1)
            out.extend(dx.separation_messages(d, sums.edge, list(design.fixed.names), np.asarray(beta, dtype=float),
                                              se, kind))
        if not (family.name == "binomial" and sums.prior_max <= 1):
            msg = dx.overdispersion_message(_pearson_test(sums.pearson, design.n - len(beta) - np.size(theta)),
                                            family.name)
            if msg:
                out.append(msg)
        return out + convergence_messages(check, singular)

    @property
    def _sums(self):
        return self._pirls.eta.sums

    @property
    def _row_model(self) -> GlmmRowModel:
        d = self.design
        return GlmmRowModel(schema=d.schema, keep=d.keep, beta=self.fixef.to_numpy(), b=tuple(self._b),
                            family=self.family)

    def _rows(self, what: str):
        return _map_rows(self.design, self._row_model, what,
                         what if what in ("fitted", "link") else f"{what} residuals")

    @property
    def fitted(self):
        """Fitted means of the rows used, a Dask Series (lazy)."""
        return self._rows("fitted")

    def residuals(self, type: str | None = None):
        """Residuals of the rows used, a Dask Series (lazy): ``deviance`` (default),
        ``pearson``, ``response`` or ``working``."""
        type = "deviance" if type is None else type
        as_choice(type, "type", ("deviance", "pearson", "response", "working"))
        return self._rows(type)

    def predict(self, newdata=None, type: str = "link", random: bool = True, allow_new_levels: bool = True,
                offset=None, se_fit: bool = False, interval: str | None = None, level: float = 0.95,
                conditional: bool = False):
        """Predictions: for the fitted rows (``newdata=None``, a Dask Series of the
        linear predictor or, with ``type="response"``, the means), for a Dask
        DataFrame (part by part), or for a pandas frame (as in memory)."""
        from ..design.partitioned import is_partitioned

        kw = dict(type=type, random=random, allow_new_levels=allow_new_levels, offset=offset, se_fit=se_fit,
                  interval=interval, level=level, conditional=conditional)
        if newdata is None:
            if se_fit or interval is not None or not random or type not in ("link", "response"):
                _refuse("predict() of the fitted rows with se_fit, interval, random=False or this type",
                        "; pass the rows as newdata")
            return self._rows("link" if type == "link" else "fitted")
        light = replace(self, design=self.design.without_source())
        if is_partitioned(newdata):
            return _predict_parts(newdata, lambda part: GlmerResult.predict(light, part, **kw), se_fit, interval)
        return GlmerResult.predict(light, newdata, **kw)

    @property
    def _condcov(self) -> list[np.ndarray]:
        from ..glmm.out_of_core import conditional_covariances

        nt = len(self.theta)
        return conditional_covariances(self._sums.cp, self.design.terms, self._x_internal[:nt], self._T)

    def check_overdispersion(self) -> pd.Series:
        """Pearson chi-square test of overdispersion (see :meth:`GlmerResult.check_overdispersion`),
        from the pass at the optimum."""
        from ..glmm.diagnostics import pearson_test as _pearson_test

        if self.family.name == "binomial" and self._sums.prior_max <= 1:
            raise ValueError("an overdispersion check needs counts or binomial trials > 1; "
                             "a 0/1 (Bernoulli) response cannot be overdispersed")
        return pd.Series(_pearson_test(self._sums.pearson, self.nobs - self.df), name="overdispersion",
                         dtype=float)

    def confint(self, method: str = "Wald", level: float = 0.95, parm=None, **kw) -> pd.DataFrame:
        """Wald intervals (profiles and the bootstrap refit on every row: not for data in parts)."""
        if str(method).lower() != "wald":
            _refuse(f"confint(method={method!r})", "; use method='Wald'")
        return GlmerResult.confint(self, method="Wald", level=level, parm=parm, **kw)

    def hatvalues(self, kind: str = "leverage"):
        _refuse("hatvalues()")

    def cooks_distance(self, kind: str = "leverage"):
        _refuse("cooks_distance()")

    def save(self, path):
        _refuse("save()", "; save the estimates (fit.to_dict()) instead")

