"""Prediction for new data: rebuild X and Z with the fitted specs, look up levels.

One machinery serves both routes: :func:`linear_predictor` gives X beta + Z b
(+ offset) for any fit that carries a design, fixed effects and per-term random
effects ``_b``; :func:`predict_lmm` and :func:`predict_glmm` are thin wrappers
(the GLMM one adds the offset of new data and the response scale).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .arguments import as_bool, as_probability, short_repr
from .design.data import as_dataframe, as_vector, check_columns, label_text, plain_label, plain_number
from .design.design import check_column_types, formula_offset, term_variables
from .design.spec_matrix import spec_matrix

__all__ = ["linear_predictor", "predict_lmm", "predict_glmm"]


_norm = label_text  # (a level's label as R writes it; group ids and factor levels match by it)


def _level_positions(term, newdata: pd.DataFrame, data: pd.DataFrame | None = None) -> np.ndarray:
    """Position of each new row's group among the fitted levels (-1 if new).

    Levels match by label as R writes it: a number by its value (an integer id 1 fitted from an int
    column matches 1.0 from a float column, and the label "1"), a label exactly ("1.1" is not
    "1.10", "01" not "1"). A term of several columns (``a:b``) matches each column's value; with
    the fitted rows (``data``) the fitted levels' values are read from them, so labels that hold
    ":" themselves match too.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> t = SimpleNamespace(group_columns=("g",), levels=["1.10", "2.1"])
    >>> _level_positions(t, pd.DataFrame({"g": ["1.1", "1.10", "2.1"]})).tolist()
    [-1, 0, 1]
    >>> t = SimpleNamespace(group_columns=("g",), levels=[308.0, 309.0])
    >>> _level_positions(t, pd.DataFrame({"g": ["309", 308]})).tolist()
    [1, 0]
    """
    cols = [newdata[c].astype(object).to_numpy() for c in term.group_columns]
    new = [":".join(_norm(v) for v in row) for row in zip(*cols)] if len(cols) > 1 else [_norm(v) for v in cols[0]]
    if len(term.group_columns) == 1:
        fitted = [_norm(v) for v in term.levels]
    elif data is not None and getattr(term, "codes", None) is not None and len(term.codes) == len(data):
        codes = np.asarray(term.codes)
        first = np.full(len(term.levels), -1)
        first[codes[::-1]] = np.arange(len(codes))[::-1]   # each level's first row
        vals = [data[c].astype(object).to_numpy()[first] for c in term.group_columns]
        fitted = [":".join(_norm(v) for v in row) for row in zip(*vals)]
    else:
        fitted = [str(lab) if len(str(lab).split(":")) != len(term.group_columns) else
                  ":".join(_norm(_number_or_label(p)) for p in str(lab).split(":")) for lab in term.levels]
    if len(set(fitted)) < len(fitted):
        raise ValueError(f"the levels of {term.group!r} cannot be told apart by their labels; give the new data's "
                         f"{', '.join(term.group_columns)} as the fitted data has them")
    return pd.Index(fitted).get_indexer(new)


def _number_or_label(piece: str):
    """A piece of a fitted interaction label: the number it writes, if it is one."""
    try:
        return float(piece)
    except ValueError:
        return piece


def _new_frame(newdata) -> pd.DataFrame:
    """``newdata`` as a pandas frame, pandas' string columns (``string``,
    ``string[pyarrow]``, Dask's default) as plain strings, which formulaic's
    fitted specs read (missing values as NaN).

    Examples
    --------
    >>> _new_frame(pd.DataFrame({"g": pd.array(["a", None], dtype="string")}))["g"].tolist()
    ['a', nan]
    """
    new = as_dataframe(newdata)
    fix = {c: v for c in new.columns if (v := plain_label(new[c])) is not None or (v := plain_number(new[c])) is not None}
    if fix:
        new = new.copy()
        for c, v in fix.items():
            new[c] = v
    return new


def _is_number(dtype) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _aligned(design, new: pd.DataFrame) -> pd.DataFrame:
    """``new`` with each column the model reads as labels given as its labels, and each it reads
    as numbers given as numbers, where newdata holds them otherwise: a factor fitted from the
    labels "1", "2", "3" and given as the numbers 1, 2, 3, or fitted from the integers and
    given as text (each value then matches the fitted label that writes it, as group ids do;
    formulaic put the raw number into every dummy column of the factor); numbers given as
    text (converted, or refused in one line); a logical column given as 0 and 1. Columns the
    model does not read are left as they are.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from multilevel.formula import parse_formula
    >>> d = SimpleNamespace(data=pd.DataFrame({"f": ["1", "2", "10"], "x": [0.5, 1.0, 2.0], "n": [1, 2, 3]}),
    ...                     formula=parse_formula("y ~ f + x + (1 | g)"))
    >>> new = _aligned(d, pd.DataFrame({"f": [10, 2], "x": ["1.5", "3"], "n": ["a", "b"]}))
    >>> new["f"].tolist(), new["x"].tolist(), new["n"].tolist()
    (['10', '2'], [1.5, 3.0], ['a', 'b'])
    """
    fitted = getattr(design, "data", None)
    if fitted is None:
        return new
    out = None
    # (the columns the model's terms read: not the response, nor ids, which match by label)
    for c in term_variables(design.formula, response=False) & set(new.columns) & set(fitted.columns):
        a, b = fitted[c], new[c]
        column = None
        if pd.api.types.is_bool_dtype(a.dtype):
            if _is_number(b.dtype) and b.dropna().isin([0, 1]).all():
                # (0 and 1 as the fitted logicals)
                column = (b == 1) if not b.isna().any() else (b == 1).astype("boolean").where(b.notna())
        elif _is_number(a.dtype):
            text = b.dtype == object or isinstance(b.dtype, (pd.StringDtype, pd.CategoricalDtype))
            if text:  # numbers as text (dates and durations are refused as the fit refuses them)
                column = pd.to_numeric(b.astype(object), errors="coerce")
                bad = column.isna() & b.notna()
                if bad.any():
                    raise ValueError(f"column {c!r} is numeric in the fit but newdata holds text in it "
                                     f"({short_repr(b[bad].iloc[0])}); give it as numbers")
                column = column.astype(float)
        elif not pd.api.types.is_bool_dtype(b.dtype):
            labels = a.cat.categories if isinstance(a.dtype, pd.CategoricalDtype) else pd.unique(a.dropna())
            present = pd.unique(b.dropna().astype(object))
            text = all(isinstance(v, str) for v in labels)
            if not _is_number(b.dtype) and (text or pd.Index(labels, dtype=object).get_indexer(
                    pd.Index(present, dtype=object)).min(initial=0) >= 0):
                continue  # (labels of the fitted kind)
            lookup = {}
            for v in labels:
                lookup.setdefault(_norm(v), v)
            mapping = {v: lookup.get(_norm(v), _norm(v)) for v in present}
            column = b.astype(object).map(mapping).where(b.notna(), b.astype(object)).astype(object)
        if column is None:
            continue
        if out is None:
            out = new.copy()
        out[c] = column
    return new if out is None else out


def _fixed_matrix(design, new: pd.DataFrame, aligned: bool = False) -> np.ndarray:
    """The fixed-effects model matrix of ``new``, encoded as in the fit (``aligned``: ``new``
    has been through :func:`_aligned` already)."""
    new = new if aligned else _aligned(design, new)
    if design.data is not None:
        check_column_types(design.formula, new, [c for c in new.columns if c in design.data.columns])
    fast = spec_matrix(design.fixed.spec, new)  # (None where formulaic must build it)
    if fast is not None:
        return fast[:, design.fixed.keep]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            X = np.asarray(design.fixed.spec.get_model_matrix(new, na_action="ignore"), dtype=float)
    except Exception as exc:  # formulaic and pandas raise many types; give one line
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot build the fixed-effects matrix for newdata: {msg}") from None
    for w in caught:
        if "categories" in str(w.message) and "not seen" in str(w.message):
            detail = str(w.message).split(":", 1)[1].split(".")[0].strip()
            fitted = design.data
            cols = [c for c in new.columns if fitted is not None and c in fitted.columns
                    and not pd.api.types.is_numeric_dtype(fitted[c])
                    and set(new[c].dropna().astype(str)) - set(fitted[c].dropna().astype(str))]
            where = f"column {cols[0]!r}" if cols else "a factor"
            raise ValueError(
                f"newdata has a level of {where} not seen in the fit ({detail}); "
                "a fixed effect cannot be predicted for a new level"
            )
    return X[:, design.fixed.keep]


def _term_rows(design, new: pd.DataFrame, allow_new_levels: bool,
               aligned: bool = False) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per random term, the rows of its Z for ``new`` and each row's level (-1: not in the fit)."""
    out = []
    new = new if aligned else _aligned(design, new)
    for term in design.terms:
        check_columns(term.group_columns, new, "newdata (grouping factor)")
        Zall = spec_matrix(term.spec, new)
        if Zall is None:
            try:
                Zall = np.asarray(term.spec.get_model_matrix(new, na_action="ignore"), dtype=float)
            except Exception as exc:  # formulaic and pandas raise many types; give one line
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ValueError(f"cannot build the random-effects matrix of {term.label!r} for newdata: "
                                 f"{msg}") from None
        Z = Zall if term.column_index is None else Zall[:, list(term.column_index)]
        pos = _level_positions(term, new, design.data)
        unknown = pos < 0
        if unknown.any() and not allow_new_levels:
            raise ValueError(
                f"newdata has {int(unknown.sum())} row(s) with levels of {term.group!r} not in "
                "the fit; pass allow_new_levels=True to predict them at the population level"
            )
        out.append((Z, pos))
    return out


def _random_part(design, b_terms, new: pd.DataFrame, allow_new_levels: bool, aligned: bool = False) -> np.ndarray:
    """Z b for the rows of ``new``; unseen levels contribute 0 (or raise)."""
    zb = np.zeros(len(new))
    for (Z, pos), b in zip(_term_rows(design, new, allow_new_levels, aligned), b_terms):
        unknown = pos < 0
        bb = np.where(unknown[:, None], 0.0, b[np.where(unknown, 0, pos)])
        zb = zb + np.einsum("ij,ij->i", Z, bb)
    return zb


def linear_predictor(fit, newdata=None, random: bool = True, allow_new_levels: bool = True,
                     offset=None) -> pd.Series:
    """X beta (+ Z b) (+ offset) of a fitted mixed model, for new or the fitted data.

    Parameters
    ----------
    fit : LmerResult or GlmerResult
        Anything with ``design``, ``fixef`` and per-term random effects ``_b``
        (arrays ``(levels, k)`` in the design's term order).
    newdata : DataFrame, optional
        pandas or polars data; defaults to the fitted data (whose offset, if
        any, is then included).
    random : bool, default True
        Add the random effects of known groups (False: population level).
    allow_new_levels : bool, default True
        Give unseen levels random effects of zero; if False they raise a ValueError.
    offset : str or array-like, optional
        Offset of ``newdata`` (a column name or one value per row); ignored
        without ``newdata``.

    Returns
    -------
    pandas.Series
        Named ``"predicted"``, with the index of ``newdata`` (or of the rows
        used in the fit).

    Examples
    --------
    >>> import multilevel as ml, pandas as pd
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> new = pd.DataFrame({"Days": [0, 5], "Subject": ["308", "new"]})
    >>> linear_predictor(fit, new).round(1).tolist()
    [253.7, 303.7]
    >>> linear_predictor(fit, new, offset=[1.0, 1.0]).round(1).tolist()
    [254.7, 304.7]
    """
    random = as_bool(random, "random")
    allow_new_levels = as_bool(allow_new_levels, "allow_new_levels")
    if newdata is None and offset is not None:
        raise ValueError("offset= is for newdata: the fitted data's predictions use the model's own offset")
    design = fit.design
    if newdata is None:
        eta = design.X @ fit.fixef.to_numpy()
        if design.offset is not None:
            eta = eta + design.offset
        if random:
            for t, b in zip(design.terms, fit._b):
                eta = eta + np.einsum("ij,ij->i", t.Z, b[t.codes])
        return pd.Series(eta, index=design.data_index, name="predicted")
    new = _aligned(design, _new_frame(newdata))
    eta = _fixed_matrix(design, new, aligned=True) @ fit.fixef.to_numpy()
    if offset is not None:
        eta = eta + as_vector(offset, new, "offset")
    in_formula = formula_offset(design.formula, new)
    if in_formula is not None:
        eta = eta + in_formula
    if random:
        eta = eta + _random_part(design, fit._b, new, allow_new_levels, aligned=True)
    return pd.Series(eta, index=new.index, name="predicted")


def _newdata_offset(fit, newdata, offset):
    """The offset for ``newdata``: the one given, or the model's offset column; None without one.

    A model fitted with an offset given as values cannot know the offset of new
    rows: a ValueError asks for it.
    """
    if newdata is None or offset is not None or not fit.design.offset_argument:
        return offset
    name = getattr(fit, "offset_name", None)
    if name is None:
        raise ValueError(
            "the model has an offset given as values, not as a column name; "
            "pass offset= (a column of newdata or one value per row) to predict newdata"
        )
    return name


def predict_lmm(fit, newdata=None, random: bool = True, allow_new_levels: bool = True,
                offset=None) -> pd.Series:
    """Predictions of a fitted linear mixed model; see ``LmerResult.predict``.

    Parameters
    ----------
    fit : LmerResult
        The fitted model.
    newdata : DataFrame, optional
        pandas or polars data; defaults to the fitted data.
    random : bool, default True
        Add the random effects of known groups (False: population level).
    allow_new_levels : bool, default True
        Give unseen levels random effects of zero; if False they raise a ValueError.

    offset : str or array-like, optional
        Offset of ``newdata``; by default the model's offset column, when it
        was given to ``lmer`` as a column name.

    Returns
    -------
    pandas.Series
        Named ``"predicted"``, with the index of ``newdata`` (or of the rows used
        in the fit).

    Examples
    --------
    >>> import multilevel as ml, pandas as pd
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> new = pd.DataFrame({"Days": [0, 5], "Subject": ["308", "new"]})
    >>> predict_lmm(fit, new).round(1).tolist()
    [253.7, 303.7]
    >>> predict_lmm(fit, new, random=False).round(1).tolist()
    [251.4, 303.7]
    >>> predict_lmm(fit, new, allow_new_levels=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: newdata has 1 row(s) with levels of 'Subject' not in the fit; pass allow_new_levels=True ...
    """
    return linear_predictor(fit, newdata, random=random, allow_new_levels=allow_new_levels,
                            offset=_newdata_offset(fit, newdata, offset))


def predict_glmm(fit, newdata=None, type: str = "link", random: bool = True,
                 allow_new_levels: bool = True, offset=None) -> pd.Series:
    """Predictions of a fitted GLMM; see ``GlmerResult.predict``.

    Parameters
    ----------
    fit : GlmerResult
    newdata : DataFrame, optional
        Defaults to the fitted data.
    type : {"link", "response"}
        The linear predictor (default, as lme4) or the mean (inverse link).
    random : bool, default True
        Add the random effects of known groups (False: population level).
    allow_new_levels : bool, default True
        Levels not in the fit get random effects of zero (lme4's
        ``allow.new.levels = TRUE``); if False they raise a ValueError.
    offset : str or array-like, optional
        Offset for ``newdata``. When the model has an offset given as a
        column name, that column of ``newdata`` is used by default, as lme4
        evaluates the offset in ``newdata``.

    Returns
    -------
    pandas.Series
        Named ``"predicted"``.

    Examples
    --------
    >>> import multilevel as ml, numpy as np, pandas as pd
    >>> cbpp = ml.datasets.load("cbpp").assign(logsize=lambda d: np.log(d["size"]))
    >>> m = ml.glmer("incidence ~ period + (1 | herd)", cbpp, family="poisson", offset="logsize")
    >>> new = pd.DataFrame({"period": ["1", "2"], "herd": ["1", "new"], "logsize": np.log([10, 10])})
    >>> predict_glmm(m, new, type="response").round(3).tolist()
    [3.003, 0.827]
    """
    if not isinstance(type, str) or type not in ("link", "response"):
        raise ValueError(f"unknown prediction type {short_repr(type)}; use 'link' or 'response'")
    eta = linear_predictor(fit, newdata, random=random, allow_new_levels=allow_new_levels,
                           offset=_newdata_offset(fit, newdata, offset))
    if type == "response":
        return pd.Series(fit.family.link.inverse(eta.to_numpy()), index=eta.index, name="predicted")
    return eta


_INTERVALS = (None, "confidence", "prediction")


def prediction_table(fit, newdata=None, type: str = "link", random: bool = True,
                     allow_new_levels: bool = True, offset=None, interval: str | None = None,
                     level: float = 0.95, conditional: bool = False) -> pd.DataFrame:
    """Predictions with standard errors and intervals; see ``LmerResult.predict``.

    The standard error is that of ``x'beta`` from the fixed effects'
    covariance; with ``conditional=True`` (and ``random=True``) the
    conditional variance of each row's random effects is added (the prior
    covariance for a level not in the fit), their covariance with the fixed
    effects left out, as merTools and lme4's users usually compute it.
    Intervals are normal (``fit +- z se``); a prediction interval of an lmer
    fit adds the residual variance, and the random effects' variance of a
    row whose group is not in the fit (or of every row with ``random=False``:
    a new observation of an unknown group). On the response scale of a glmer fit the
    standard error is the delta method's and the limits are back-transformed.

    Returns
    -------
    DataFrame
        Columns ``fit``, ``se_fit`` and, with ``interval``, ``lower`` and
        ``upper``; indexed like ``newdata``.

    Examples
    --------
    >>> import multilevel as ml, pandas as pd
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> new = pd.DataFrame({"Days": [0, 9], "Subject": ["308", "308"]})
    >>> prediction_table(fit, new, random=False, interval="confidence").round(2).to_numpy().tolist()
    [[251.41, 6.82, 238.03, 264.78], [345.61, 14.63, 316.94, 374.28]]
    """
    from scipy import stats

    random = as_bool(random, "random")
    conditional = as_bool(conditional, "conditional")
    if interval not in _INTERVALS:
        raise ValueError(f"interval must be None, 'confidence' or 'prediction', not {short_repr(interval)}")
    level = as_probability(level, "level")
    glmm = hasattr(fit, "family")
    if interval == "prediction" and glmm:
        raise ValueError("prediction intervals are for lmer fits; a glmer fit's new responses are "
                         "discrete: use fit.simulate or interval='confidence'")
    if type not in ("link", "response"):
        raise ValueError(f"unknown prediction type {short_repr(type)}; use 'link' or 'response'")
    if type == "response" and not glmm:
        type = "link"
    eta = linear_predictor(fit, newdata, random=random, allow_new_levels=allow_new_levels,
                           offset=_newdata_offset(fit, newdata, offset))
    design = fit.design
    if newdata is None:
        X = design.X
        rows = [(t.Z, np.asarray(t.codes)) for t in design.terms]
    else:
        new = _new_frame(newdata)
        X = _fixed_matrix(design, new)
        rows = _term_rows(design, new, allow_new_levels) if random and conditional else []
    T, Vw = getattr(fit, "_working_cov", (None, None))  # (the standardised coordinates keep the digits)
    if T is None:
        V = fit.vcov.to_numpy()
        var = np.einsum("ij,jk,ik->i", X, V, X)
    else:
        XT = X @ T
        var = np.einsum("ij,jk,ik->i", XT, Vw, XT)
    group_var = np.zeros(len(var))  # a new observation's unknown group effects (prediction intervals)
    # (the random effects' quadratic forms in the standardised bases where the fit has them: z'Sz of
    # a random slope's covariate at x + 1e9 cancels its digits in the user's)
    if (random and conditional) or interval == "prediction":
        bases, priors, conds = _working_covariances(fit, conditional=random and conditional)
    if interval == "prediction" and not (random and conditional):
        new_rows = rows if newdata is None else _term_rows(design, _new_frame(newdata), True)
        for (Z, pos), B, Sigma in zip(new_rows, bases, priors):
            unknown = (pos < 0) | (not random)
            Zb = Z @ B
            group_var = group_var + np.where(unknown, np.einsum("ij,jk,ik->i", Zb, Sigma, Zb), 0.0)
    if random and conditional:
        for (Z, pos), B, C, Sigma in zip(rows, bases, conds, priors):
            known = pos >= 0
            S = np.where(known[:, None, None], C[np.where(known, pos, 0)], Sigma[None, :, :])
            Zb = Z @ B
            var = var + np.einsum("ij,ijk,ik->i", Zb, S, Zb)
    se = np.sqrt(np.clip(var, 0, None))
    out = pd.DataFrame({"fit": eta.to_numpy(), "se_fit": se}, index=eta.index)
    if interval is not None:
        z = stats.norm.ppf(0.5 + level / 2)
        if interval == "prediction":
            resid_var = fit.sigma ** 2
            dm = getattr(fit.design, "dispersion", None)
            if dm is not None:  # a residual SD model: each row's own residual SD
                ratio = dm.log_sd_ratio() if newdata is None else dm.log_sd_ratio(X=dm.new_X(newdata))
                resid_var = resid_var * np.exp(2.0 * ratio)
            half = z * np.sqrt(se ** 2 + group_var + resid_var)
        else:
            half = z * se
        out["lower"], out["upper"] = out["fit"] - half, out["fit"] + half
    if type == "response":
        link = fit.family.link
        e = out["fit"].to_numpy()
        out["se_fit"] = out["se_fit"] * np.abs(link.mu_eta(e))
        out["fit"] = link.inverse(e)
        if interval is not None:
            a, b = link.inverse(out["lower"].to_numpy()), link.inverse(out["upper"].to_numpy())
            out["lower"], out["upper"] = np.minimum(a, b), np.maximum(a, b)
    return out


def _working_covariances(fit, conditional: bool) -> tuple[list, list, list | None]:
    """Per term ``(B, Sigma_int, C_int)`` with the prior covariance ``B Sigma_int B'`` and the
    conditional ones ``B C_int B'`` (None unless ``conditional``): the fit's standardised bases
    and internal factors where it has them (lmer fits, and glmer fits' priors), else ``B = I``."""
    from .inference.variance import working_factors

    terms = fit.design.terms
    working = working_factors(fit)
    cond_int = getattr(fit, "_condcov_internal", None) if conditional else None
    if working is None or (conditional and cond_int is None):
        return [np.eye(t.k) for t in terms], _prior_covariances(fit), (list(fit._condcov) if conditional else None)
    return [B for B, _ in working], [F @ F.T for _, F in working], cond_int


def _prior_covariances(fit) -> list[np.ndarray]:
    """Each term's covariance of the random effects (for levels not in the fit)."""
    return [fit._term_cov(i) for i in range(len(fit.design.terms))]
