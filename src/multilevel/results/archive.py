"""Saved results: ``fit.save(path)`` and ``ml.load(path)``.

The file is a zip archive that a later release can read, because it holds
what defines a fit, never Python objects:

``manifest.json``
    ``{"format": "multilevel-result", "format_version": 1, "kind": "lmer" |
    "glmer" | "bayes", "package_version": ..., "call": {...},
    "optimizer": {...}, "estimates": {...}, "columns": {...}}``: the call
    (formula, method, family, link, nAGQ, optimizer, Bayesian settings), the
    optimizer's record, the estimates for reference, and one entry per data
    column with its type (``float64``, ``int64``, ``bool``, ``string``, or
    ``category`` with its levels in order and whether they are ordered).
``data.csv``
    The rows the fit used, the columns its formula names (numbers written with
    17 significant digits, so they read back exactly), the weights and offset
    given as values (``__weights__``, ``__offset__``) and the data's index
    (``__index__``).
``draws.npz`` (Bayesian results)
    The draws, the sampler statistics and the random effects' draws.

Loading rebuilds the design from the data and the call and the result at the
saved optimum, without a new search: the same numbers, and every method of a
fresh fit (predict, confint, anova, ...). A later format version will read
version 1 files; a file of a newer version than this release knows is refused
with a message.
"""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..arguments import short_repr

__all__ = ["FORMAT", "FORMAT_VERSION", "load", "save"]

FORMAT = "multilevel-result"
FORMAT_VERSION = 1


def _package_version() -> str:
    from .. import __version__

    return __version__


# ----------------------------------------------------------------- columns
def _column_schema(s: pd.Series) -> dict:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return {"dtype": "category", "categories": [str(c) for c in s.cat.categories],
                "category_dtype": str(s.cat.categories.dtype), "ordered": bool(s.cat.ordered)}
    if pd.api.types.is_bool_dtype(s.dtype):
        return {"dtype": "bool"}
    if pd.api.types.is_datetime64_any_dtype(s.dtype):   # (an index of dates)
        tz = getattr(s.dtype, "tz", None)
        return {"dtype": "datetime", "tz": None if tz is None else str(tz)}
    if pd.api.types.is_timedelta64_dtype(s.dtype):
        return {"dtype": "timedelta"}
    if isinstance(s.dtype, pd.PeriodDtype):
        return {"dtype": "period", "freq": str(s.dtype)}   # ("period[M]")
    if pd.api.types.is_integer_dtype(s.dtype):
        return {"dtype": "int64" if not s.isna().any() else "Int64"}
    if pd.api.types.is_numeric_dtype(s.dtype):
        return {"dtype": "float64"}
    return {"dtype": "string"}


def _restore_column(s: pd.Series, schema: dict) -> pd.Series:
    kind = schema["dtype"]
    if kind == "category":
        cats = pd.Index(schema["categories"])
        if schema.get("category_dtype", "object").startswith(("int", "Int")):
            cats = cats.astype("int64")
            s = s.astype("Int64")
        elif schema.get("category_dtype", "object").startswith("float"):
            cats = cats.astype(float)
            s = s.astype(float)
        else:
            s = s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v))
        return pd.Series(pd.Categorical(s, categories=cats, ordered=schema["ordered"]), index=s.index)
    if kind == "bool":
        return s.astype(bool)
    if kind == "datetime":
        out = pd.to_datetime(s, utc=schema.get("tz") is not None)
        return out.dt.tz_convert(schema["tz"]) if schema.get("tz") is not None else out
    if kind == "timedelta":
        return pd.to_timedelta(s)
    if kind == "period":
        return s.astype(str).astype(schema["freq"]) if str(schema["freq"]).startswith("period[") else s
    if kind in ("int64", "Int64"):
        return s.astype(kind)
    if kind == "float64":
        return s.astype(float)
    return s.astype(object).where(s.notna(), None).map(lambda v: v if v is None else str(v))


def model_frame(design, formula: str, *names) -> tuple[pd.DataFrame, dict]:
    """The rows a fit used, in the columns its formula (and ``names``) name, with
    the index as a column; and the columns' types."""
    from ..design.data import identifiers

    wanted = set(identifiers(formula)) | {n for n in names if n}
    data = design.data
    cols = [c for c in data.columns if c in wanted]
    frame = data[cols].copy()
    frame.columns = [str(c) for c in cols]
    schema = {str(c): _column_schema(data[c]) for c in cols}
    index = data.index
    if isinstance(index, pd.MultiIndex):  # one column per level
        for i in range(index.nlevels):
            level = index.get_level_values(i)
            frame.insert(i, f"__index_{i}__", np.asarray(level))
            schema[f"__index_{i}__"] = _column_schema(pd.Series(level))
        schema["__index_names__"] = {"dtype": "names", "names": [None if n is None else str(n) for n in index.names]}
        return frame, schema
    frame.insert(0, "__index__", np.asarray(index))
    schema["__index__"] = _column_schema(pd.Series(index))
    return frame, schema


def _frame(result) -> tuple[pd.DataFrame, dict]:
    formula = result.formula
    family = getattr(result, "family", None)
    zi = family.zi_formula if family is not None and family.zero_inflated else ""
    if zi:  # the zero-inflation model's columns too
        formula = f"{formula} + {zi.strip().lstrip('~')}"
    dm = getattr(result.design, "dispersion", None)
    if dm is not None:  # and the residual SD model's
        formula = f"{formula} + {dm.formula.strip().lstrip('~')}"
    rc = getattr(result.design, "residual", None)
    if rc is not None:  # and the residual correlation's time and groups
        formula = " + ".join([formula] + ([rc.time_name] if rc.time_name else []) + list(rc.group_columns))
    return model_frame(result.design, formula, getattr(result, "offset_name", None),
                       getattr(result, "weights_name", None))


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, float_format="%.17g").encode("utf-8")


def _read_frame(raw: bytes, schema: dict) -> pd.DataFrame:
    schema = dict(schema)
    names = schema.pop("__index_names__", None)
    labels = {c for c, s in schema.items() if s["dtype"] in ("string", "category")}
    # labels are read as written ("NA", "null" and "" are labels like any other: the rows a fit used
    # have no missing values in its columns); only the other columns' empty fields are missing
    frame = pd.read_csv(io.BytesIO(raw), dtype={c: str for c in labels}, keep_default_na=False,
                        na_values={c: [""] for c in schema if c not in labels})
    for c, s in schema.items():
        frame[c] = _restore_column(frame[c], s)
    if names is not None:
        levels = [frame.pop(f"__index_{i}__") for i in range(len(names["names"]))]
        frame.index = pd.MultiIndex.from_arrays([lv.to_numpy() for lv in levels], names=names["names"])
        return frame
    index = frame.pop("__index__")
    frame.index = pd.Index(index.to_numpy() if not isinstance(index.dtype, pd.DatetimeTZDtype) else index,
                           name=None)
    return frame


def _opt_record(opt, internal) -> dict:
    """The optimizer's record; ``xopt_internal`` is the optimum in the fit's
    standardised parameters (:mod:`multilevel.design.standardize`), which
    restores the fit exactly (the user-scale ``xopt`` is kept for reading)."""
    return {"xopt_internal": np.asarray(internal).tolist(), "optimizer": opt.optimizer, "x0": np.asarray(opt.x0).tolist(), "lower": np.asarray(opt.lower).tolist(),
            "xopt": np.asarray(opt.xopt).tolist(), "fopt": float(opt.fopt), "feval": int(opt.feval),
            "result": opt.result, "xtol_abs": float(opt.xtol_abs), "ftol_abs": float(opt.ftol_abs),
            "seconds": float(opt.seconds)}


def _opt_summary(rec: dict):
    from ..lmm.optimize import OptSummary

    return rec.get("xopt_internal"), OptSummary(rec["optimizer"], np.asarray(rec["x0"], dtype=float),
                      np.asarray(rec["lower"], dtype=float), np.asarray(rec["xopt"], dtype=float),
                      float(rec["fopt"]), int(rec["feval"]), rec["result"], float(rec["xtol_abs"]),
                      float(rec["ftol_abs"]), float(rec["seconds"]))


# -------------------------------------------------------------------- save
def _weights_offset(result, frame: pd.DataFrame, call: dict) -> None:
    """Weights and offset of the call: by column name, or as values in the frame."""
    design = result.design
    from ..design.design import formula_offset

    off = design.offset
    if off is not None and design.offset_argument:
        name = getattr(result, "offset_name", None)
        if name:
            call["offset"] = name
        else:
            in_formula = formula_offset(design.formula, design.data)
            frame["__offset__"] = off - (in_formula if in_formula is not None else 0.0)
            call["offset"] = "__offset__"
    if call.get("kind_weights") == "values":
        frame["__weights__"] = design.weights
        call["weights"] = "__weights__"
    call.pop("kind_weights", None)


def _as_path(path, saving: bool) -> Path:
    """``path`` as a Path, checked: a file name, not a folder; for saving, in a folder that exists."""
    import os

    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name (a string or a pathlib.Path), not {short_repr(path)}")
    if str(path) == "":
        raise ValueError("path is empty: give a file name, e.g. 'fit.mlfit'")
    out = Path(path)
    if out.is_dir():
        raise ValueError(f"path {str(out)!r} is a folder: give a file name, e.g. {str(out / 'fit.mlfit')!r}")
    if saving and not out.parent.exists():
        raise ValueError(f"path {str(out)!r} is in a folder that does not exist ({str(out.parent)!r}); "
                         "create it first")
    return out


def save(result, path) -> Path:
    """Write a fitted model to ``path`` (a zip archive; see the module's description).

    Examples
    --------
    >>> import tempfile, os
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> path = os.path.join(tempfile.mkdtemp(), "sleep.mlfit")
    >>> _ = fit.save(path)
    >>> again = ml.load(path)
    >>> again.objective == fit.objective, again.fixef.equals(fit.fixef)
    (True, True)
    """
    from ..bayes.posterior import Posterior
    from .clmm_result import ClmmResult
    from .glmer_result import GlmerResult
    from .lmer_result import LmerResult

    path = _as_path(path, saving=True)
    files: dict[str, bytes] = {}
    if isinstance(result, LmerResult):
        frame, schema = _frame(result)
        call = {"formula": result.formula, "reml": bool(result.reml)}
        dm = result.design.dispersion
        if dm is not None:  # its columns, its prior weights (not the fitted ones) and its estimates
            call["dispformula"] = dm.formula
            call["dispersion"] = {"coef": [float(v) for v in dm.coef],
                                  "se": [float(v) for v in (dm.se if dm.se is not None else np.full(len(dm.coef), np.nan))]}
            if dm.prior is not None:
                frame["__weights__"] = dm.prior
                call["weights"] = "__weights__"
        elif result.design.weights is not None:
            call["kind_weights"] = "values"
        rc = result.design.residual
        if rc is not None:  # the correlation model and its estimate
            call["residual"] = {"spec": rc.text, "rho": float(rc.rho), "r": float(rc.r),
                                 "se": None if rc.se is None else float(rc.se)}
        _weights_offset(result, frame, call)
        manifest = {"kind": "lmer", "call": call,
                    "optimizer": _opt_record(result.optinfo, result._theta_internal),
                    "estimates": result.to_dict(), "n_dropped": int(result.n_dropped)}
    elif isinstance(result, ClmmResult):
        g = result.glmm
        frame, schema = _frame(g)
        # the fit's response holds category codes: the archive keeps the categories
        col = result.response
        frame[col] = pd.Categorical.from_codes(frame[col].astype(int), categories=list(result.levels),
                                               ordered=True)
        schema[col] = _column_schema(frame[col])
        call = {"formula": result.formula, "link": result.link, "nagq": int(result.nagq)}
        if g.weights_name is not None:
            call["weights"] = g.weights_name
        elif not np.all(g._prior == 1):
            frame["__weights__"] = g._prior
            call["weights"] = "__weights__"
        _weights_offset(g, frame, call)
        manifest = {"kind": "clmm", "call": call, "optimizer": _opt_record(g.optinfo, g._x_internal),
                    "estimates": g.to_dict(), "n_dropped": int(g.design.n_dropped)}
    elif isinstance(result, GlmerResult):
        if result.family.name == "cumulative":
            raise TypeError("save the ml.clmm result (it keeps the response's categories), not its .glmm")
        frame, schema = _frame(result)
        call = {"formula": result.formula, "family": result.family.name, "link": result.family.link.name,
                "nagq": int(result.nagq)}
        if result.family.zero_inflated:
            call["zi"] = result.family.zi_formula
            call["zi_offset"] = True  # (a zero-inflation offset() is in the fit: earlier files had dropped it)
        if result.weights_name is not None:
            call["weights"] = result.weights_name
        elif result._prior is not None and not np.all(result._prior == 1) and "cbind(" not in result.formula:
            frame["__weights__"] = result._prior
            call["weights"] = "__weights__"
        _weights_offset(result, frame, call)
        manifest = {"kind": "glmer", "call": call,
                    "optimizer": {**_opt_record(result.optinfo, result._x_internal),
                                  # the internal parameters' units (identity and inverse links)
                                  "eta_scale": float(result.family.eta_scale(result.design.y, result._prior))},
                    "estimates": result.to_dict(), "n_dropped": int(result.design.n_dropped)}
    elif isinstance(result, Posterior):
        return result._save(path)
    else:
        raise TypeError(f"cannot save a {type(result).__name__}; save an lmer, glmer, clmm or Bayesian result")
    schema.update({c: {"dtype": "float64"} for c in ("__weights__", "__offset__") if c in frame.columns})
    manifest.update(format=FORMAT, format_version=FORMAT_VERSION, package_version=_package_version(),
                    columns=schema, data_name=result.data_name)
    files["data.csv"] = _csv(frame)
    write_archive(path, manifest, files)
    return path


def write_archive(path: Path, manifest: dict, files: dict[str, bytes]) -> None:
    """The zip archive: the manifest first, then the other files."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=1, default=_json_default))
        for name, raw in files.items():
            zf.writestr(name, raw)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return str(value)


# -------------------------------------------------------------------- load
def read_archive(path) -> tuple[dict, zipfile.ZipFile]:
    """The manifest of a saved result (checked) and the open archive."""
    path = _as_path(path, saving=False)
    if not path.exists():
        raise ValueError(f"no saved result at path {str(path)!r}")
    try:
        zf = zipfile.ZipFile(path)
        manifest = json.loads(zf.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError):
        raise ValueError(f"{str(path)!r} is not a result saved by multilevel (fit.save(path))") from None
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a result saved by multilevel (fit.save(path))")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} was saved in format version {short_repr(version)}"
            + (f" by multilevel {manifest['package_version']}" if manifest.get("package_version") else "")
            + f"; this release reads versions up to {FORMAT_VERSION}: upgrade multilevel to load it"
        )
    return manifest, zf


def _restore_working(g, est: dict):
    """A glmer fit with the saved covariances of its standardised parameters (their maps
    included), where the file has them: the saved ``vcov`` replaces the refit's, so these must
    come from the file too."""
    from dataclasses import replace

    w, x = est.get("vcov_working"), est.get("cov_extra_working")
    if w is not None:
        g = replace(g, _working=tuple(np.asarray(a, dtype=float) for a in w))
    if x is not None:
        g = replace(g, _cov_extra_working=tuple(np.asarray(a, dtype=float) for a in x))
    return g


def load(path):
    """Read a result written by ``fit.save(path)``.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    LmerResult, GlmerResult or Posterior

    Examples
    --------
    >>> import tempfile, os
    >>> import multilevel as ml
    >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)", ml.datasets.load("cbpp"))
    >>> path = os.path.join(tempfile.mkdtemp(), "cbpp.mlfit")
    >>> _ = m.save(path)
    >>> bool(abs(ml.load(path).loglik - m.loglik) < 1e-9)   # (SIMD kernels may round the last bit)
    True
    """
    from dataclasses import replace

    manifest, zf = read_archive(path)
    with zf:
        kind = manifest.get("kind")
        if kind == "bayes":
            from ..bayes.posterior import Posterior

            return Posterior._load(manifest, zf)
        data = _read_frame(zf.read("data.csv"), manifest["columns"])
    data.attrs["name"] = manifest.get("data_name")
    call = manifest["call"]
    internal, opt = _opt_summary(manifest["optimizer"])
    with warnings.catch_warnings():
        # the fit's messages are kept in the result; they were issued when it was fitted
        warnings.simplefilter("ignore")
        if kind == "lmer":
            from ..design import build_design
            from ..lmm.fit import fit_design

            design = build_design(call["formula"], data, weights=call.get("weights"), offset=call.get("offset"))
            dm = None
            if call.get("dispformula") is not None:  # the saved estimates of the residual SD model
                from ..design.dispersion import dispersion_model

                saved = call["dispersion"]
                dm = dispersion_model(call["dispformula"], data, design, design.formula.response)
                dm = replace(dm.with_coef(saved["coef"]), se=np.asarray(saved["se"], dtype=float))
                design = replace(design, weights=dm.weights())
            rc, logdet = None, 0.0
            if call.get("residual") is not None:  # the saved correlation: the fit of the whitened rows
                from ..design.correlation import residual_correlation
                from ..lmm.correlation import whitened_design

                saved = call["residual"]
                rc = residual_correlation(saved["spec"], data, design)
                # (the correlation at the lag unit; a file without it holds rho per unit of time)
                r = saved["r"] if saved.get("r") is not None else \
                    float(np.sign(saved["rho"]) * abs(saved["rho"]) ** rc.lag_unit)
                rc = rc.with_rho(r, saved["se"])
                user_design = design
                design, logdet = whitened_design(design, rc, rc.r)
            fit = fit_design(design, reml=call["reml"], optimizer=opt.optimizer, data_name=manifest.get("data_name"),
                             _restore=(opt, internal))
            if dm is not None:
                fit = replace(fit, design=replace(fit.design, dispersion=dm))
            if rc is not None:
                fit = replace(fit, design=replace(user_design, residual=rc, dispersion=dm),
                              objective=fit.objective + logdet)
            offset = call.get("offset")
            if isinstance(offset, str) and offset != "__offset__":
                fit = replace(fit, offset_name=offset)
        elif kind == "glmer":
            from ..glmm.fit import glmer

            if "offset(" in (call.get("zi") or "").replace(" ", "") and not call.get("zi_offset"):
                raise ValueError(f"{str(path)!r} was saved by an earlier release, which fitted its zero-inflation "
                                 f"model {call['zi']!r} without the offset(): its estimates are those of another "
                                 "model; fit it again (ml.glmer) to get the model with the offset")

            if call["link"] in ("identity", "inverse", "1/mu^2") and "eta_scale" not in manifest["optimizer"]:
                # written before the internal parameters took the linear predictor's
                # units: restore from the user-scale optimum instead
                internal = None
            fit = glmer(call["formula"], data, family=call["family"], link=call["link"], nagq=call["nagq"],
                        zi=call.get("zi"),
                        weights=call.get("weights"), offset=call.get("offset"), optimizer=opt.optimizer,
                        _restore=(opt, internal))
            if call.get("offset") == "__offset__":
                fit = replace(fit, offset_name=None)
            # the covariance of a GLMM's fixed effects comes from finite differences of
            # a criterion solved by PIRLS: the saved matrix, not a recomputation
            saved = manifest.get("estimates", {}).get("vcov")
            if saved is not None:
                fit = replace(fit, vcov=pd.DataFrame(np.asarray(saved, dtype=float), index=fit.vcov.index,
                                                     columns=fit.vcov.columns))
            saved_cov = manifest.get("estimates", {}).get("cov_beta_extra")
            if saved_cov is not None:
                fit = replace(fit, _cov_beta_extra=np.asarray(saved_cov, dtype=float))
            fit = _restore_working(fit, manifest.get("estimates", {}))
            saved_se = manifest.get("estimates", {}).get("dispersion_se_log")
            if saved_se:
                fit = replace(fit, dispersion_se=pd.Series(saved_se, dtype=float, name="se(log)"))
        elif kind == "clmm":
            from ..glmm.clmm import clmm

            fit = clmm(call["formula"], data, link=call["link"], nagq=call["nagq"], weights=call.get("weights"),
                       offset=call.get("offset"), optimizer=opt.optimizer, _restore=(opt, internal))
            est = manifest.get("estimates", {})
            g = fit.glmm
            if est.get("vcov") is not None:
                g = replace(g, vcov=pd.DataFrame(np.asarray(est["vcov"], dtype=float), index=g.vcov.index,
                                                 columns=g.vcov.columns))
            if est.get("cov_beta_extra") is not None:
                g = replace(g, _cov_beta_extra=np.asarray(est["cov_beta_extra"], dtype=float))
            g = _restore_working(g, est)
            g = replace(g, design=replace(g.design, n_dropped=int(manifest.get("n_dropped", 0))))
            return replace(fit, glmm=g)
        else:
            raise ValueError(f"{str(path)!r} holds a result of unknown kind {kind!r}")
    design = replace(fit.design, n_dropped=int(manifest.get("n_dropped", 0)))
    return replace(fit, design=design, n_dropped=design.n_dropped) if kind == "lmer" else replace(fit, design=design)
