"""Text and HTML summaries that read like lme4's ``summary(fit)``."""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

__all__ = ["format_column", "lmer_summary", "lmer_html", "glmer_html"]


#: R's legend of the significance stars
SIGNIF_LEGEND = "Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1"


def _fmt(v: float, dec: int) -> str:
    if math.isfinite(v):
        return f"{v:.{dec}f}"
    return "NaN" if math.isnan(v) else ("Inf" if v > 0 else "-Inf")


def format_column(values, digits: int = 4) -> list[str]:
    """Format numbers with a common layout, as R's ``format(x, digits=)``.

    Each value needs the fewest significant digits (at most ``digits``) that
    show it to ``digits`` significant digits; the column takes fixed notation
    with the largest number of decimals so needed, or scientific notation when
    that is narrower (R's rule with ``scipen = 0``).

    Examples
    --------
    >>> format_column([102.93, 47.94, 169.79])
    ['102.93', '47.94', '169.79']
    >>> format_column([69.7297, 0.678])
    ['69.730', '0.678']
    >>> format_column([66.4001])
    ['66.4']
    >>> format_column([2.002483e-11, 0.9988471])
    ['2.002e-11', '9.988e-01']
    """
    vals = [float(v) for v in values]
    finite = [v for v in vals if math.isfinite(v)]
    if not finite:
        return [_fmt(v, 0) for v in vals]
    sig, exps = [], []
    for v in finite:
        if v == 0:
            sig.append(1)
            exps.append(0)
            continue
        mant, exp = f"{abs(v):.{digits - 1}e}".split("e")
        sig.append(len(mant.replace(".", "").rstrip("0")) or 1)
        exps.append(int(exp))
    neg = int(any(v < 0 for v in finite))
    rgt = max(0, max(s_ - 1 - e for s_, e in zip(sig, exps)))
    left = max((v < 0) + max(1, e + 1) for v, e in zip(finite, exps))  # R: each value's own sign
    width_fixed = left + (rgt > 0) + rgt
    msig = max(sig)
    width_sci = neg + msig + (msig > 1) + (5 if max(abs(e) for e in exps) >= 100 else 4)
    if width_fixed <= width_sci:
        return [_fmt(v, min(rgt, 15)) for v in vals]
    return [f"{v:.{msig - 1}e}" if math.isfinite(v) else _fmt(v, 0) for v in vals]


def coef_block(columns, digits: int = 4) -> list[list[str]]:
    """Columns formatted together as ``printCoefmat`` formats its coefficient columns
    (``cs.ind``: the estimates, their standard errors and, in lmerTest's tables, the df):
    rounded to the decimals the smallest nonzero value needs, then one layout for all.

    Examples
    --------
    >>> coef_block([[12.0994, 5.3336], [0.19862, 0.36847], [160.5492, 151.0049]])
    [[' 12.0994', '  5.3336'], ['  0.1986', '  0.3685'], ['160.5492', '151.0049']]
    """
    cols = [np.asarray(c, float) for c in columns]
    both = np.concatenate(cols)
    acs = np.abs(both[np.isfinite(both) & (both != 0)])
    digmin = 1 + (math.floor(math.log10(acs.min())) if acs.size else 0)
    f = format_column(np.round(both, max(1, digits - digmin)), digits)
    width = max((len(s) for s in f), default=0)  # R formats the block as one matrix: one width
    f = [s.rjust(width) for s in f]
    out, start = [], 0
    for c in cols:
        out.append(f[start:start + len(c)])
        start += len(c)
    return out


def stat_column(values, digits: int = 4) -> list[str]:
    """Test-statistic column, as ``printCoefmat`` rounds and formats it.

    Parameters
    ----------
    values : array-like
        The statistics (e.g. t values).
    digits : int, default 4
        Significant digits, as R's ``digits``.

    Returns
    -------
    list of str

    Examples
    --------
    >>> stat_column([36.83781, 6.77148])
    ['36.838', '6.771']
    """
    return format_column(np.round(np.asarray(values, float), max(1, min(5, digits - 1))), digits)


def _aligned(strings: list[str]) -> list[str]:
    """Right-justify to a common width (as R pads a formatted column)."""
    w = max((len(s) for s in strings), default=0)
    return [s.rjust(w) for s in strings]


def _table(header: list[str], rows: list[list[str]], align: list[str]) -> list[str]:
    widths = [max(len(h), *(len(r[j]) for r in rows)) if rows else len(h) for j, h in enumerate(header)]
    lines = []
    for r in [header] + rows:
        cells = [c.ljust(w) if a == "l" else c.rjust(w) for c, w, a in zip(r, widths, align)]
        lines.append(" ".join(cells).rstrip())
    return lines


def _abbrev(name: str, width: int = 6) -> str:
    """Abbreviate a name as R's ``abbreviate`` does for the correlation header.

    Lower-case vowels go first, then lower-case letters, from the right, never
    the first character of a word.

    Examples
    --------
    >>> _abbrev("(Intercept)"), _abbrev("mses:ses"), _abbrev("sector:ses")
    ('(Intr)', 'mss:ss', 'sctr:s')
    """
    chars = list(name)
    for pool in ("aeiou", "abcdefghijklmnopqrstuvwxyz"):
        i = len(chars) - 1
        while len(chars) > width and i > 0:
            if chars[i] in pool and chars[i - 1].isalnum():
                del chars[i]
            i -= 1
    return "".join(chars[:width])


def _random_effects(fit) -> list[str]:
    vc = fit.varcorr
    var_s = _aligned(format_column(vc["variance"]))
    sd_s = _aligned(format_column(vc["std_dev"]))
    # a structured term prints as glmmTMB prints it: its one variance (a row per column for
    # hcs) and its correlation, tagged with the structure, on its first row
    structures = {t.label: t.structure for t in getattr(fit.design, "terms", ()) if t.structure is not None}
    shown, first = [], {}
    for i, r in vc.iterrows():
        s = structures.get(r["group"])
        if s is None:
            shown.append((i, [f"{c:.2f}" if math.isfinite(c) else "NaN" for c in r["corr"]]))
            continue
        seen = first.setdefault(r["group"], i)
        if seen == i:
            rho = vc["corr"][i + 1][0] if i + 1 < len(vc) and vc["group"][i + 1] == r["group"] else float("nan")
            shown.append((i, [(f"{rho:.2f}" if math.isfinite(rho) else "NaN") + f" ({s.kind})"]))
        elif s.nsd > 1:
            shown.append((i, []))
    maxk = max((len(c) for _, c in shown), default=0)
    header = ["Groups", "Name", "Variance", "Std.Dev."] + (["Corr"] + [""] * (maxk - 1) if maxk else [])
    rows = []
    prev = None
    for i, corr in shown:
        r = vc.loc[i]
        grp = r["group"] if r["group"] != prev else ""
        prev = r["group"]
        rows.append([grp, r["name"], var_s[i], sd_s[i]] + corr + [""] * (maxk - len(corr)))
    align = ["l", "l", "l", "l"] + ["r"] * maxk
    return [" " + line for line in _table(header, rows, align)]


def _pformat(p: float) -> str:
    if p < 2e-16:
        return "< 2e-16"
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.2e}"


def format_pvalues(p, digits: int = 3, na: str = "NA") -> list[str]:
    """P-values as R's ``format.pval(p, digits, eps = .Machine$double.eps)`` (R 4.2).

    Values of 1e-4 and above (1e-3 and above when ``digits`` is 1) share one
    layout, smaller ones another; values below machine epsilon print as
    ``<2e-16`` or ``< 2e-16`` (R's rule for the digits and the space, which
    depend on the widths of the others).

    Examples
    --------
    >>> format_pvalues([1e-20, 0.000104, 0.0018288, 0.5])
    ['< 2e-16', '0.000104', '0.001829', '0.500000']
    >>> format_pvalues([1e-20, 1e-30]), format_pvalues([1e-20, 0.5])
    (['<2e-16', '<2e-16'], ['<2e-16', '0.5'])
    >>> format_pvalues([1e-20, float("nan")], digits=4, na="")
    ['< 2.2e-16', '']
    """
    p = np.asarray(p, dtype=float)
    out = [na] * p.size
    eps = np.finfo(float).eps
    ok = ~np.isnan(p)
    tiny = ok & (p < eps)
    rest = ok & ~tiny
    expo = np.floor(np.log10(np.where(p > 0, p, 1e-50)))
    fixp = rest & ((expo >= -3) | ((expo == -4) & (digits > 1)))
    for mask in (fixp, rest & ~fixp):
        idx = np.nonzero(mask)[0]
        if idx.size:
            for i, txt in zip(idx, format_column(p[idx], digits)):
                out[i] = txt
    if tiny.any():
        d = max(1, digits - 2)
        if rest.any():
            nc = max(len(out[i]) for i in np.nonzero(rest)[0])
            if d > 1 and d + 6 > nc:
                d = max(1, nc - 7)
            sep = "" if (d == 1 and nc <= 6) else " "
        else:
            sep = "" if d == 1 else " "
        eps_text = "<" + sep + format_column([eps], d)[0]
        for i in np.nonzero(tiny)[0]:
            out[i] = eps_text
    return out


def _zapsmall(x: np.ndarray, digits: int) -> np.ndarray:
    """R's ``zapsmall``: round to ``digits - log10(max |x|)`` decimals (to the nearest whole
    number of decimals, as R's ``round`` takes it; none where the maximum is infinite)."""
    known = ~np.isnan(x)
    if not known.any():
        return x
    mx = float(np.max(np.abs(x[known])))
    if mx > 0:
        d = max(0.0, digits - math.log10(mx))
        dec = int(math.floor(d + 0.5)) if math.isfinite(d) else 0
    else:
        dec = digits
    return np.round(x, dec)


def _format_col(x: np.ndarray, digits: int) -> list[str]:
    out = [""] * len(x)
    fin = np.isfinite(x)
    if fin.any():
        for i, s in zip(np.nonzero(fin)[0], format_column(x[fin], digits)):
            out[i] = s
    return out


def anova_lines(table, digits: int = 5) -> list[str]:
    """An ANOVA-like table as R's ``print.anova`` shows it (5 significant digits).

    Test statistics (``Chisq``, ``F value``) are rounded to ``digits - 1``
    decimals, p-values (columns ``Pr(...)``) formatted as ``format.pval``,
    ``Df`` columns shown as they are and the others to ``digits`` significant
    digits; stars follow the first p-value column (``Pr(>Chisq)`` when there
    is one), with R's legend below when any p-value is under 0.1.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"NumDF": [1.0], "DenDF": [151.04], "F value": [209.52211],
    ...                   "Pr(>F)": [1e-20]}, index=["mses"])
    >>> print("\\n".join(anova_lines(t)))
         NumDF  DenDF F value    Pr(>F)
    mses     1 151.04  209.52 < 2.2e-16 ***
    ---
    Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
    """
    pcols = [c for c in table.columns if str(c).startswith("Pr(")]
    star_col = "Pr(>Chisq)" if "Pr(>Chisq)" in pcols else (pcols[0] if pcols else None)
    p = table[star_col].to_numpy(dtype=float) if star_col is not None else np.array([])
    starred = bool(np.any(np.isfinite(p) & (p < 0.1)))
    cols, header = [], [""]
    for c in table.columns:
        x = table[c].to_numpy(dtype=float)
        if c.startswith("Pr("):
            cols.append(format_pvalues(x, max(1, min(5, digits - 1)), na=""))
        elif c in ("Chisq", "F value"):
            cols.append(_format_col(np.round(x, max(1, min(5, digits - 1))), digits))
        elif c == "Df":
            cols.append(_format_col(x, digits))
        else:
            cols.append(_format_col(_zapsmall(x, digits), digits))
        header.append(c)
        if c == star_col and starred:  # stars follow the chi-square p-value, as in lme4
            cols.append([stars(v).ljust(3) for v in p])
            header.append("")
    names = [str(n) for n in table.index]
    rows = [[n] + [c[i] for c in cols] for i, n in enumerate(names)]
    widths = [max(len(r[j]) for r in [header] + rows) for j in range(len(header))]
    lines = []
    for r in [header] + rows:
        cells = [r[0].ljust(widths[0])] + [s.rjust(w) for s, w in zip(r[1:], widths[1:])]
        lines.append(" ".join(cells).rstrip())
    if starred:
        lines += ["---", SIGNIF_LEGEND]
    return lines


def coef_lines(tab) -> list[str]:
    """A coefficient table as R's ``printCoefmat`` shows it, with significance stars.

    ``tab`` has ``Estimate`` and ``Std. Error``, optionally ``df``, a ``t value``
    or ``z value`` column and optionally its p-value column (``Pr(...)``).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"Estimate": [12.1, 2.19], "Std. Error": [0.2, 0.12], "df": [160.5, 151.0],
    ...                   "t value": [60.5, 18.25], "Pr(>|t|)": [1e-90, 2e-40]}, index=["(Intercept)", "mses"])
    >>> print("\\n".join(coef_lines(t)))
                Estimate Std. Error     df t value Pr(>|t|)
    (Intercept)    12.10       0.20 160.50   60.50   <2e-16 ***
    mses            2.19       0.12 151.00   18.25   <2e-16 ***
    ---
    Signif. codes:  0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1
    """
    # as lmerTest's printCoefmat call: the df column is formatted with the coefficients
    block = ["Estimate", "Std. Error"] + (["df"] if "df" in tab.columns else [])
    cols, header = coef_block([tab[c] for c in block]), [""] + block
    stat = next((c for c in ("t value", "z value") if c in tab.columns), None)
    if stat is not None:
        cols.append(stat_column(tab[stat]))
        header.append(stat)
    pcol = next((c for c in tab.columns if str(c).startswith("Pr(")), None)
    starred = False
    if pcol is not None:
        pv = tab[pcol].to_numpy(dtype=float)
        cols.append(format_pvalues(pv))
        header.append(pcol)
        # R shows the stars and their legend only when a p-value is below 0.1
        starred = bool(np.any(np.isfinite(pv) & (pv < 0.1)))
        if starred:
            cols.append([stars(v) for v in pv])
            header.append("")
    rows = [[str(name)] + [c[i] for c in cols] for i, name in enumerate(tab.index)]
    align = ["l"] + ["r"] * (len(header) - 1 - starred) + (["l"] if starred else [])
    lines = _table(header, rows, align)
    if starred:
        lines += ["---", SIGNIF_LEGEND]
    return lines


def stars(p: float) -> str:
    """Significance stars as R's ``symnum`` gives them: each cut point belongs to the
    interval below it (p = 0.05 is ``*``); empty for NaN."""
    if not math.isfinite(p):
        return ""
    return "***" if p <= 0.001 else "**" if p <= 0.01 else "*" if p <= 0.05 else "." if p <= 0.1 else ""


def _criteria_lines(fit, df_resid: int) -> list[str]:
    vals = [f"{fit.aic:.1f}", f"{fit.bic:.1f}", f"{fit.loglik:.1f}", f"{fit.deviance:.1f}", f"{df_resid}"]
    return [" " + line for line in _table(["AIC", "BIC", "logLik", "deviance", "df.resid"],
                                          [vals], ["r"] * 5)]


#: a fit to data in parts with at most this many rows brings its residuals to the client for
#: the summary's exact quartiles; beyond, one pass gives Dask's estimates of them
EXACT_QUARTILES = 2_000_000


def _residual_lines(resid, nobs: int | None = None) -> list[str]:
    title = "Scaled residuals: "
    if hasattr(resid, "dask") and nobs is not None and nobs <= EXACT_QUARTILES:
        resid = resid.compute()
    if hasattr(resid, "dask"):  # a Dask Series (data in parts): one pass, the quartiles Dask's estimates
        import dask

        lo, mid, hi = dask.compute(resid.min(), resid.quantile([0.25, 0.5, 0.75]), resid.max())
        q = np.r_[float(lo), np.asarray(mid, dtype=float), float(hi)]
        title = "Scaled residuals (quartiles approximate, from the parts): "
    else:
        q = np.quantile(np.asarray(resid, dtype=float), [0, 0.25, 0.5, 0.75, 1.0])
    return [title] + _table(["Min", "1Q", "Median", "3Q", "Max"], [format_column(q)],
                                           ["r"] * 5)


def _groups_line(fit) -> str:
    groups = ", ".join(f"{g}, {n}" for g, n in fit.ngroups.items())
    return f"Number of obs: {fit.nobs}, groups:  {groups}"


def _correlation_lines(vcov: pd.DataFrame) -> list[str]:
    """lme4's "Correlation of Fixed Effects" block (empty for one coefficient)."""
    names = list(vcov.index)
    if len(names) < 2:
        return []
    V = vcov.to_numpy()
    d = np.sqrt(np.diag(V))
    C = V / np.outer(d, d)
    rows = [[names[i]] + [f"{C[i, j]:.3f}" for j in range(i)] + [""] * (len(names) - 1 - i)
            for i in range(1, len(names))]
    return ["", "Correlation of Fixed Effects:"] + _table(
        [""] + [_abbrev(n) for n in names[:-1]], rows, ["l"] + ["r"] * (len(names) - 1))


def lmer_summary(fit, ddf: str | None = "satterthwaite") -> str:
    """lme4-style summary of an :class:`~multilevel.results.LmerResult`.

    With ``ddf="satterthwaite"`` (default) the fixed-effects table has lmerTest's
    df and Pr(>|t|) columns; with ``ddf=None`` it is lme4's own.

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> print(lmer_summary(fit).splitlines()[0])
    Linear mixed model fit by REML. t-tests use Satterthwaite's method [lmerModLmerTest]
    >>> print(lmer_summary(fit, ddf=None).splitlines()[0])
    Linear mixed model fit by REML ['lmerMod']
    """
    method = "REML" if fit.reml else "maximum likelihood"
    table = None
    if ddf is not None and len(fit.fixef):
        table = fit.coef_table(ddf)
        how = "Kenward-Roger's" if "kenward" in str(ddf).lower() or str(ddf).lower() == "kr" else "Satterthwaite's"
        out = [f"Linear mixed model fit by {method}. t-tests use {how} method [lmerModLmerTest]"]
    else:
        out = [f"Linear mixed model fit by {method} ['lmerMod']"]
    out.append(f"Formula: {fit.formula}")
    if fit.data_name:
        out.append(f"   Data: {fit.data_name}")
    dm = getattr(fit.design, "dispersion", None)
    # (a design of data in parts says whether it has them without holding them)
    weighted = getattr(fit.design, "has_weights", None)
    weighted = fit.design.weights is not None if weighted is None else weighted
    offset = getattr(fit.design, "has_offset", None)
    offset = fit.design.offset is not None if offset is None else offset
    if weighted and (dm is None or dm.prior is not None):
        out.append("Weights: (prior weights)")
    if offset:
        out.append(" Offset: (offset)")
    out.append("")
    if fit.reml:
        out.append(f"REML criterion at convergence: {fit.objective:.1f}")
    else:
        out.extend(_criteria_lines(fit, fit.df_resid))
    out.append("")
    out.extend(_residual_lines(fit.residuals("scaled"), fit.nobs))
    out.append("")
    out.append("Random effects:")
    out.extend(_random_effects(fit))
    out.append(_groups_line(fit))
    rc = getattr(fit.design, "residual", None)
    if rc is not None:  # as nlme's "Correlation Structure"
        iv = fit.residual_correlation
        if rc.kind == "ar1" and rc.lag_unit != 1.0:  # (at the lag unit, where it is read; per unit of time too)
            line = (f"Residual correlation {rc.text}: {rc.r:.4g} at its lag unit of {rc.lag_unit:.4g} (95% CI "
                    f"{iv['lower_at_lag_unit']:.3g} to {iv['upper_at_lag_unit']:.3g}); rho per unit of time "
                    f"{rc.rho:.4g}")
        else:
            line = f"Residual correlation {rc.text}: rho = {rc.rho:.4g} (95% CI {iv['lower']:.3g} to {iv['upper']:.3g})"
        out.append(line)
    dm = getattr(fit.design, "dispersion", None)
    if dm is not None:  # the residual SD model, as glmmTMB's "Dispersion model" (with the SD ratios)
        disp = fit.dispersion
        out += ["", f"Residual SD model (dispformula = {dm.formula.strip()}; log sigma_i = log sigma + (x_i - c)' delta):"]
        out.extend(coef_lines(disp.drop(columns="SD ratio")))
        out.append("SD ratios exp(delta): " + ", ".join(f"{n} {v:.4g}" for n, v in disp["SD ratio"].items()))
    if fit.n_dropped:
        out.append(f"({fit.n_dropped} observation{'s' if fit.n_dropped > 1 else ''} "
                   "deleted due to missingness)")
    if fit.design.fixed.dropped:
        out.append("fixed-effect model matrix is rank deficient so dropping "
                   f"{len(fit.design.fixed.dropped)} column(s): {', '.join(fit.design.fixed.dropped)}")
    out.append("")
    if len(fit.fixef):
        out.append("Fixed effects:")
        if table is None:
            est, se = fit.fixef.to_numpy(), fit.se.to_numpy()
            table = pd.DataFrame({"Estimate": est, "Std. Error": se, "t value": est / se},
                                 index=fit.fixef.index)
        out.extend(coef_lines(table))
        out.extend(_correlation_lines(fit.vcov))
    if fit.messages:
        out.append("")
        out.extend(fit.messages)
    return "\n".join(out)


def glmer_summary(fit) -> str:
    """glmer-style summary of a :class:`~multilevel.results.glmer_result.GlmerResult`.

    Examples
    --------
    >>> import multilevel as ml
    >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              ml.datasets.load("cbpp"))
    >>> print(glmer_summary(m).splitlines()[1])
     Family: binomial  ( logit )
    """
    how = ("Laplace Approximation" if fit.nagq == 1
           else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {fit.nagq}")
    out = [f"Generalized linear mixed model fit by maximum likelihood ({how}) ['glmerMod']",
           f" Family: {fit.family.name}  ( {fit.family.link.name} )", f"Formula: {fit.formula}"]
    if fit.data_name:
        out.append(f"   Data: {fit.data_name}")
    out.append("")
    out.extend(_criteria_lines(fit, fit.nobs - fit.df))
    out.append("")
    out.extend(_residual_lines(fit.residuals("pearson"), fit.nobs))
    out.append("")
    out.append("Random effects:")
    out.extend(_random_effects(fit))
    out.append(_groups_line(fit))
    if len(fit.dispersion):
        out.append("")
        out.append(_dispersion_line(fit))
    out.append("")
    out.append("Fixed effects:")
    out.extend(coef_lines(fit.coef_table()))
    out.extend(_correlation_lines(fit.vcov))
    if getattr(fit, "zi", None) is not None:
        out += ["", "Zero-inflation model (logit of the probability of a structural zero):"]
        out.extend(coef_lines(fit.zi))
    if fit.messages:
        out.append("")
        out.extend(fit.messages)
    return "\n".join(out)


def _dispersion_line(fit) -> str:
    """glmmTMB's "Dispersion parameter for nbinom2 family (): 0.942" line, with its name."""
    (name, value), = fit.dispersion.items()
    se = float(fit.dispersion_se.iloc[0])
    ci = ""
    if np.isfinite(se):  # a Wald interval on the log scale
        lo, hi = value * np.exp(-1.959964 * se), value * np.exp(1.959964 * se)
        ci = f" (95% CI {lo:.4g} to {hi:.4g})"
    return f"Dispersion parameter {name} of the {fit.family.name} family: {value:.4g}{ci}"


def _html_table(df: pd.DataFrame, caption: str) -> str:
    return (f"<p><b>{html.escape(caption)}</b></p>"
            + df.to_html(float_format=lambda v: f"{v:.4g}", na_rep="", border=0))


def lmer_html(fit) -> str:
    """HTML summary for notebooks.

    Parameters
    ----------
    fit : LmerResult

    Returns
    -------
    str
        HTML with the criteria, random-effects and fixed-effects tables (what
        Jupyter shows for a fit).

    Examples
    --------
    >>> import multilevel as ml
    >>> fit = ml.lmer("Reaction ~ Days + (Days | Subject)", ml.datasets.load("sleepstudy"))
    >>> page = lmer_html(fit)
    >>> page.startswith("<p><b>Linear mixed model fit by REML</b>"), page.count("<table")
    (True, 3)
    """
    method = "REML" if fit.reml else "maximum likelihood"
    head = (f"<p><b>Linear mixed model fit by {method}</b><br>"
            f"Formula: <code>{html.escape(fit.formula)}</code><br>"
            f"Number of obs: {fit.nobs}; groups: "
            + html.escape(", ".join(f"{g} {n}" for g, n in fit.ngroups.items())) + "</p>")
    crit = pd.DataFrame({"AIC": [fit.aic], "BIC": [fit.bic], "logLik": [fit.loglik],
                         ("REML crit." if fit.reml else "deviance"): [fit.objective]})
    vc = fit.varcorr.copy()
    vc["corr"] = vc["corr"].map(lambda c: " ".join(f"{v:.2f}" for v in c))
    fe = pd.DataFrame({"Estimate": fit.fixef, "Std. Error": fit.se, "t value": fit.fixef / fit.se})
    msgs = "".join(f"<p><i>{html.escape(m)}</i></p>" for m in fit.messages)
    return (head + _html_table(crit, "Criteria") + _html_table(vc, "Random effects")
            + _html_table(fe, "Fixed effects") + msgs)


def glmer_html(fit) -> str:
    """HTML summary of a GLMM for notebooks.

    Parameters
    ----------
    fit : GlmerResult

    Returns
    -------
    str
        HTML with the criteria, random-effects and fixed-effects (z tests)
        tables and the fit's messages.

    Examples
    --------
    >>> import multilevel as ml
    >>> m = ml.glmer("cbind(incidence, size - incidence) ~ period + (1 | herd)",
    ...              ml.datasets.load("cbpp"))
    >>> page = glmer_html(m)
    >>> page.startswith("<p><b>Generalized linear mixed model"), page.count("<table")
    (True, 3)
    """
    how = ("Laplace approximation" if fit.nagq == 1 else "nAGQ = 0" if fit.nagq == 0
           else f"adaptive Gauss-Hermite quadrature, nAGQ = {fit.nagq}")
    head = (f"<p><b>Generalized linear mixed model fit by maximum likelihood ({html.escape(how)})</b><br>"
            f"Family: {html.escape(fit.family.name)} ({html.escape(fit.family.link.name)})<br>"
            f"Formula: <code>{html.escape(fit.formula)}</code><br>"
            f"Number of obs: {fit.nobs}; groups: "
            + html.escape(", ".join(f"{g} {n}" for g, n in fit.ngroups.items())) + "</p>")
    crit = pd.DataFrame({"AIC": [fit.aic], "BIC": [fit.bic], "logLik": [fit.loglik],
                         "deviance": [fit.deviance], "df.resid": [fit.nobs - fit.df]})
    vc = fit.varcorr.copy()
    vc["corr"] = vc["corr"].map(lambda c: " ".join(f"{v:.2f}" for v in c))
    msgs = "".join(f"<p><i>{html.escape(m)}</i></p>" for m in fit.messages)
    return (head + _html_table(crit, "Criteria") + _html_table(vc, "Random effects")
            + _html_table(fit.coef_table(), "Fixed effects") + msgs)
