"""Likelihood-ratio comparison of fitted mixed models, as lme4's ``anova(m1, m2, ...)``."""

from __future__ import annotations

import html
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

from ..results.summary import anova_lines
from ..arguments import as_bool, short_repr

__all__ = ["ModelComparison", "anova"]

COLUMNS = ("npar", "AIC", "BIC", "logLik", "deviance", "Chisq", "Df", "Pr(>Chisq)")
MIX_COLUMN = "Pr(>Chisq) mix"
REFIT_NOTE = "refitting model(s) with ML (instead of REML)"


@dataclass(frozen=True, eq=False)
class ModelComparison:
    """Result of :func:`anova`: a likelihood-ratio table of nested models.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per model, sorted by number of parameters, indexed by model
        name, with lme4's columns ``npar, AIC, BIC, logLik, deviance, Chisq,
        Df, Pr(>Chisq)`` (NaN in the first row's test columns), plus
        ``Pr(>Chisq) mix`` when the boundary correction was asked for.
    notes : tuple of str
        What was done or is worth knowing (refits by ML, reordering, tests
        that are not meaningful).
    formulas : tuple of str
        The models' formulas, in the table's row order.
    data_name : str or None
        Name of the data the models were fitted to, when known.
    fits : tuple
        The fits that were compared (ML refits where REML fits were refitted),
        in the table's row order.

    Examples
    --------
    >>> import multilevel as ml
    >>> gcse = ml.datasets.load("gcsemv")
    >>> m1 = ml.lmer("course ~ 1 + (1 | school)", gcse, reml=False)
    >>> m2 = ml.lmer("course ~ 1 + female + (1 | school)", gcse, reml=False)
    >>> cmp = anova(m1, m2)
    >>> cmp.table.index.tolist(), cmp.notes
    (['m1', 'm2'], ())
    >>> print(cmp)
    Data: gcsemv
    Models:
    m1: course ~ 1 + (1 | school)
    m2: course ~ 1 + female + (1 | school)
       npar   AIC   BIC  logLik deviance  Chisq Df Pr(>Chisq)
    m1    3 14111 14128 -7052.7    14105
    m2    4 14017 14039 -7004.7    14009 95.926  1  < 2.2e-16 ***
    ---
    Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
    """

    table: pd.DataFrame
    notes: tuple[str, ...] = ()
    formulas: tuple[str, ...] = ()
    data_name: str | None = None
    fits: tuple = ()

    def __str__(self) -> str:
        out = []
        if self.data_name:
            out.append(f"Data: {self.data_name}")
        out.append("Models:")
        out.extend(f"{name}: {form}" for name, form in zip(self.table.index, self.formulas))
        out.extend(anova_lines(self.table))
        if self.notes:
            out.append("")
            out.extend(self.notes)
        return "\n".join(out)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        head = []
        if self.data_name:
            head.append(f"Data: <code>{html.escape(self.data_name)}</code>")
        head.extend(f"{html.escape(str(n))}: <code>{html.escape(f)}</code>"
                    for n, f in zip(self.table.index, self.formulas))
        page = ("<p><b>Likelihood-ratio tests</b><br>" + "<br>".join(head) + "</p>"
                + self.table.to_html(float_format=lambda v: f"{v:.6g}", na_rep="", border=0))
        if self.notes:
            page += "<p>" + "<br>".join(html.escape(n) for n in self.notes) + "</p>"
        return page


def _loglik(fit, fits) -> float:
    """A fit's log-likelihood as the table compares it: a binomial glm beside a GLMM takes the
    GLMM's convention (``sum w log p`` with non-integer weights, not R's glm rounding, which
    drops rows of weight below 0.5), so that the two are the same model's likelihood."""
    from ..regression import GlmResult

    if isinstance(fit, GlmResult) and fit.family.name == "binomial" and not all(isinstance(f, GlmResult)
                                                                                 for f in fits):
        y = np.asarray(fit.design.y, dtype=float)
        return float(fit.family.loglik(y, fit.fitted.to_numpy(), np.asarray(fit.prior_weights, dtype=float)))
    return float(fit.loglik)


# --------------------------------------------------------------------- checks
def _check_fits(fits, names) -> list[str]:
    from ..results import LmerResult
    from ..results.glmer_result import GlmerResult

    if len(fits) < 2:
        raise ValueError(f"anova() needs at least 2 fitted models to compare, got {len(fits)}")
    from ..regression import GlmResult, GlsResult, LmResult

    from ..results.clmm_result import ClmmResult

    kinds = {LmerResult: "linear", LmResult: "linear", GlsResult: "linear", GlmerResult: "glm", GlmResult: "glm",
             ClmmResult: "clmm"}
    def kind(f):  # (a subclass: the fit of data in parts is an LmerResult)
        return next((v for k, v in kinds.items() if isinstance(f, k)), None)

    for i, f in enumerate(fits):
        if kind(f) is None:
            raise ValueError(f"argument {i + 1} is a {type(f).__name__}, not a fitted model "
                             "(from ml.lmer, ml.glmer, ml.clmm, ml.gls, ml.lm or ml.glm)")
    if len({kind(f) for f in fits}) > 1:
        raise ValueError("anova() compares linear models (lmer, lm) with linear models and GLMMs (glmer, "
                         "glm) with GLMMs; refit them as one kind")
    if kind(fits[0]) == "clmm" and len({(f.link, f.levels, f.nagq > 1) for f in fits}) > 1:
        raise ValueError("the cumulative link models differ in link, response categories or quadrature: "
                         "their likelihoods are not comparable")
    if all(isinstance(f, (LmResult, GlmResult)) for f in fits):
        raise ValueError("anova() compares mixed models (with one model without random effects at most "
                         "among them); compare regressions without random effects with an F test")
    if kind(fits[0]) == "glm":
        fams = {(f.family.name, f.family.link.name) for f in fits}
        # a Poisson GLMM is nested in a negative binomial one (NB2's limit as
        # theta grows, NB1's as phi shrinks: the test is on a boundary and its p
        # value conservative, as glmmTMB's anova reports it); NB1 and NB2 are not nested
        # (and a binomial one in a beta-binomial one, its limit as phi grows)
        nested = [{("poisson", "log"), ("negative_binomial", "log")}, {("poisson", "log"), ("nbinom1", "log")}]
        nested += [{("binomial", lk), ("betabinomial", lk)} for lk in ("logit", "probit", "cloglog")]
        if len(fams) > 1 and not any(fams <= pair for pair in nested):
            raise ValueError("the GLMMs have different families or links that are not nested "
                             f"({', '.join(f'{a}({b})' for a, b in sorted(fams))}): a likelihood-ratio test "
                             "compares nested models (Poisson within a negative binomial, binomial within a "
                             "beta-binomial); compare the others' "
                             "AIC")
        if len({f.nagq > 1 for f in fits}) > 1:
            raise ValueError("some GLMMs were fitted by adaptive quadrature (nagq > 1), some by the Laplace "
                             "approximation: their log-likelihoods are not comparable; refit them alike")
    if names is None:
        names = [f"m{i + 1}" for i in range(len(fits))]
    else:
        if isinstance(names, str) or not isinstance(names, (list, tuple, pd.Index, np.ndarray)) \
                or not all(isinstance(n, str) for n in names):
            raise TypeError(f"names must be a list of strings, one per model, not {short_repr(names)}")
        names = [str(n) for n in names]
        if len(names) != len(fits):
            raise ValueError(f"names has {len(names)} entries for {len(fits)} models")
        if len(set(names)) != len(names):
            raise ValueError(f"model names must be distinct, got {names}")
    nobs = [f.nobs for f in fits]
    if len(set(nobs)) > 1:
        raise ValueError(
            f"models were not all fitted to the same number of observations ({', '.join(map(str, nobs))})"
        )
    prints = [getattr(f.design, "fingerprint", None) for f in fits]
    if any(p is not None for p in prints):
        # fits to data in parts hold no rows: they must read the same data (the same Dask
        # collection or files), with the same response, and use the same rows of it
        for name, p in zip(names[1:], prints[1:]):
            if p is None or prints[0] is None or p != prints[0]:
                raise ValueError(
                    f"model {name} was fitted to other data, rows or another response than {names[0]}; fits to "
                    "data in parts compare when they read the same Dask frame or files and use the same rows")
        return names
    y0, rows0 = fits[0].design.y, np.asarray(fits[0].design.rows)
    for name, f in zip(names[1:], fits[1:]):
        if np.array_equal(np.asarray(f.design.rows), rows0) and np.array_equal(f.design.y, y0):
            continue
        if _same_rows_reordered(fits[0].design, f.design):  # (the same data with its rows in another order)
            continue
        if not np.array_equal(np.asarray(f.design.rows), rows0) and f.design.n == fits[0].design.n:
            raise ValueError(f"model {name} was fitted to other rows of the data than {names[0]}")
        raise ValueError(f"model {name} has a different response than {names[0]}")
    return names


def _same_fixed(fits) -> bool:
    if getattr(fits[0].design, "fingerprint", None) is not None:
        # data in parts (the same rows of the same data): the same columns by name and formula
        return all(tuple(f.design.fixed.names) == tuple(fits[0].design.fixed.names)
                   and f.design.formula.fixed == fits[0].design.formula.fixed for f in fits[1:])
    X0, n0 = fits[0].design.X, tuple(fits[0].design.fixed.names)
    return all(tuple(f.design.fixed.names) == n0 and f.design.X.shape == X0.shape
               and np.array_equal(f.design.X, X0) for f in fits[1:])


def _refit_ml(fit):
    """ML refit of a REML fit, started from its theta (as lme4's ``refitML``)."""
    return fit.refit(reml=False)


def _chi2_sf(x: float, df: float) -> float:
    """P(chi-square(df) >= x), with chi-square(0) the point mass at 0."""
    if not math.isfinite(x):
        return math.nan
    if df == 0:
        return 1.0 if x <= 0 else 0.0
    return float(scipy.stats.chi2.sf(x, df))


# ---------------------------------------------------------------------- anova
def _same_rows_reordered(a, b) -> bool:
    """Whether two designs hold the same rows of the same data in another order.

    Where the row labels identify the rows (both unique, the same set, and the rows' columns the
    same under them) the responses must agree under them; where they do not (labels reset after a
    shuffle), the rows, response included, must be the same as a multiset. Rows dropped for
    missing values of different columns, or a response shuffled under the same rows, do not pass.
    """
    da, db = getattr(a, "data", None), getattr(b, "data", None)
    if da is None or db is None or len(da) != len(db):
        return False
    common = [c for c in da.columns if c in db.columns]
    ya, yb = np.asarray(a.y, dtype=float), np.asarray(b.y, dtype=float)
    ia, ib = pd.Index(da.index), pd.Index(db.index)
    if ia.is_unique and ib.is_unique:
        if set(ia) != set(ib):
            return False
        pos = ib.get_indexer(ia)
        if _frames_equal(da[common], db[common].iloc[pos]):
            return bool(np.array_equal(yb[pos], ya))     # the same rows by label: the same response?
    key_a = pd.util.hash_pandas_object(da[common].assign(__y__=ya), index=False).to_numpy()
    key_b = pd.util.hash_pandas_object(db[common].assign(__y__=yb), index=False).to_numpy()
    return bool(np.array_equal(np.sort(key_a), np.sort(key_b)))


def _frames_equal(x: pd.DataFrame, y: pd.DataFrame) -> bool:
    try:
        return bool(np.array_equal(pd.util.hash_pandas_object(x, index=False).to_numpy(),
                                   pd.util.hash_pandas_object(y, index=False).to_numpy()))
    except TypeError:
        return False


def anova(*fits, refit: bool = True, boundary: bool = False, names=None) -> ModelComparison:
    """Likelihood-ratio tests of nested mixed models, as lme4's ``anova(m1, m2, ...)``.

    Linear mixed models (``lmer``) or GLMMs (``glmer``, compared on their Laplace
    or quadrature log-likelihoods, with the same family and link).

    The models are sorted by number of parameters ``npar`` (fixed effects,
    theta and sigma) and each is tested against the one before it:
    ``Chisq = 2 * max(0, logLik_i - logLik_{i-1})`` on ``Df = npar_i -
    npar_{i-1}`` degrees of freedom.

    REML criteria are comparable only between models with the same fixed
    effects. If any fit is by REML and ``refit`` is True, the REML fits are
    refitted by maximum likelihood (``fit.refit(reml=False)``) unless all fits
    are REML fits with the same fixed effects (same fixed-effects columns), in
    which case their REML criteria are compared as they are. (lme4 1.1-31
    refits in that case too; ``refit=False`` there gives this table.)

    Parameters
    ----------
    *fits : LmerResult or GlmerResult
        Two or more models fitted to the same observations of the same response.
    refit : bool, default True
        Refit REML fits by ML when the fixed effects differ (or when REML and
        ML fits are mixed). With False the criteria are compared as they are
        (a warning says when that is not meaningful).
    boundary : bool, default False
        Add a column ``Pr(>Chisq) mix``: for a test that adds variance
        components (same fixed effects), the p-value from the 50:50 mixture of
        chi-square(Df - 1) and chi-square(Df) (Self & Liang 1987; Stram & Lee
        1994), the null distribution when the extra random effect's variance
        sits on the boundary. It is exact for adding one random effect to a
        term with Df - 1 others (a variance and its covariances), an
        approximation otherwise. NaN for other tests.
    names : sequence of str, optional
        Model names, in the order the fits are given (default ``m1, m2, ...``).

    Returns
    -------
    ModelComparison
        ``.table`` (DataFrame), ``.notes`` (tuple of str); ``print`` shows the
        table as lme4 does.

    Raises
    ------
    ValueError
        Fewer than two fits, objects that are not fits, fits to different
        observations or different responses, bad ``names``.

    Examples
    --------
    >>> import multilevel as ml
    >>> sleep = ml.datasets.load("sleepstudy")
    >>> m_int = ml.lmer("Reaction ~ Days + (1 | Subject)", sleep)
    >>> m_slope = ml.lmer("Reaction ~ Days + (Days | Subject)", sleep)
    >>> cmp = anova(m_slope, m_int, boundary=True, names=["slope", "int"])
    >>> cmp.table[["npar", "Chisq", "Df"]].round(3)
           npar   Chisq   Df
    int       4     NaN  NaN
    slope     6  42.837  2.0
    >>> float(cmp.table["Pr(>Chisq) mix"].iloc[1]) < float(cmp.table["Pr(>Chisq)"].iloc[1])
    True
    >>> cmp.notes[0]
    'models sorted by number of parameters: int, slope'
    """
    fits = list(fits)
    refit = as_bool(refit, "refit")
    boundary = as_bool(boundary, "boundary")
    names = _check_fits(fits, names)
    notes: list[str] = []

    reml = [bool(getattr(f, "reml", False)) for f in fits]
    same_fixed = _same_fixed(fits)
    if any(reml):
        if refit and (not same_fixed or not all(reml)):
            notes.append(REFIT_NOTE)
            done: dict[int, object] = {}
            new = []
            for f in fits:
                if f.reml:
                    if id(f) not in done:
                        done[id(f)] = _refit_ml(f)
                    new.append(done[id(f)])
                else:
                    new.append(f)
            fits = new
        elif not all(reml):
            msg = "some models fit with REML = TRUE, some not: their criteria are not comparable"
            warnings.warn(msg, UserWarning, stacklevel=2)
            notes.append(msg)
        elif not same_fixed:
            msg = ("REML fits with different fixed effects compared without refitting: "
                   "REML criteria of models with different fixed effects are not comparable")
            warnings.warn(msg, UserWarning, stacklevel=2)
            notes.append(msg)
        else:
            notes.append("all models fit by REML with the same fixed effects: "
                         "REML criteria compared as they are")

    npar = np.array([f.df for f in fits], dtype=float)
    order = np.argsort(npar, kind="stable")
    if not np.array_equal(order, np.arange(len(fits))):
        notes.insert(0, "models sorted by number of parameters: "
                     + ", ".join(names[i] for i in order))
    fits = [fits[i] for i in order]
    names = [names[i] for i in order]
    npar = npar[order]

    llk = np.array([_loglik(f, fits) for f in fits], dtype=float)
    nobs = fits[0].nobs
    dev = -2.0 * llk
    aic = dev + 2.0 * npar
    bic = dev + math.log(nobs) * npar
    chisq = np.full(len(fits), np.nan)
    dfs = np.full(len(fits), np.nan)
    pval = np.full(len(fits), np.nan)
    pmix = np.full(len(fits), np.nan)
    mix_skipped = []
    for i in range(1, len(fits)):
        d = llk[i] - llk[i - 1]
        chisq[i] = 2.0 * max(0.0, d)
        dfs[i] = npar[i] - npar[i - 1]
        if dfs[i] == 0:
            same = fits[i].formula == fits[i - 1].formula
            msg = (f"{names[i - 1]} and {names[i]} "
                   + ("are the same model" if same else "have the same number of parameters")
                   + ": no likelihood-ratio test (Df = 0)")
            notes.append(msg)
            if not same:
                warnings.warn(msg, UserWarning, stacklevel=2)
            continue
        pval[i] = _chi2_sf(chisq[i], dfs[i])
        if d < -1e-6 * max(1.0, abs(llk[i])):
            notes.append(f"{names[i]} has a lower log-likelihood than {names[i - 1]} with more "
                         "parameters: the models are not nested (or a fit did not converge); "
                         "Chisq set to 0")
        if boundary:
            if _same_fixed([fits[i - 1], fits[i]]) and fits[i].theta.size > fits[i - 1].theta.size:
                pmix[i] = 0.5 * _chi2_sf(chisq[i], dfs[i] - 1) + 0.5 * _chi2_sf(chisq[i], dfs[i])
            else:
                mix_skipped.append(f"{names[i - 1]} vs {names[i]}")
    if mix_skipped:
        notes.append("Pr(>Chisq) mix is given only for tests that add variance components "
                     "with the same fixed effects; not for " + ", ".join(mix_skipped))

    table = pd.DataFrame({"npar": npar.astype(int), "AIC": aic, "BIC": bic, "logLik": llk,
                          "deviance": dev, "Chisq": chisq, "Df": dfs, "Pr(>Chisq)": pval},
                         index=pd.Index(names))
    if boundary:
        table[MIX_COLUMN] = pmix
    data_names = {f.data_name for f in fits if f.data_name}
    data_name = fits[0].data_name if len(data_names) == 1 else None
    return ModelComparison(table=table, notes=tuple(notes),
                           formulas=tuple(f.formula for f in fits), data_name=data_name,
                           fits=tuple(fits))


# ------------------------------------------------------------------- printing
