"""Posterior summary tables, and their text laid out as brms and runjags print them.

:func:`summary_table` turns draws (a mapping of parameter name to an array of
shape ``(chains, draws)``) into a pandas DataFrame with brms's columns
(``Estimate Est.Error l-95% CI u-95% CI Rhat Bulk_ESS Tail_ESS``) or runjags's
(``Lower95 Median Upper95 Mean SD Mode MCerr MC%ofSD SSeff AC.10 psrf``).
:func:`format_brms` and :func:`format_jags` print such tables the way
``print.brmssummary`` and ``print.runjags`` do, including R's habit of
wrapping a table that is wider than 80 characters into blocks of columns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from . import diagnostics as dg
from ..arguments import short_repr

__all__ = ["BRMS_FOOTER", "format_brms", "format_jags", "summary_table"]

#: The closing note brms prints under a summary of draws from Stan's NUTS sampler.
BRMS_FOOTER = [
    "Draws were sampled using sampling(NUTS). For each parameter, Bulk_ESS",
    "and Tail_ESS are effective sample size measures, and Rhat is the potential",
    "scale reduction factor on split chains (at convergence, Rhat = 1).",
]

_STYLES = ("brms", "jags")
_INTERVALS = ("eti", "hpd")


# ----------------------------------------------------------------------------- tables


def _expand(draws: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Row names and one (chains, draws, columns) array from a mapping of draws.

    A parameter with trailing dimensions gives one row per element, named with
    1-based indices as Stan and JAGS do: ``b[1]``, ``Sigma[1,2]``.
    """
    if not isinstance(draws, Mapping) or len(draws) == 0:
        raise ValueError("draws must be a non-empty mapping of parameter name -> "
                         "array of shape (chains, draws)")
    names: list[str] = []
    blocks: list[np.ndarray] = []
    dims = None
    for name, value in draws.items():
        a = np.asarray(value, dtype=float)
        if a.ndim < 2:
            raise ValueError(f"draws of {name!r} must have shape (chains, draws, ...), "
                             f"got {a.shape}")
        if dims is None:
            dims = a.shape[:2]
        elif a.shape[:2] != dims:
            raise ValueError(f"draws of {name!r} have shape {a.shape}, but earlier parameters "
                             f"have {dims[0]} chains of {dims[1]} draws")
        shape = a.shape[2:]
        if shape == ():
            names.append(str(name))
        else:
            names.extend(f"{name}[{','.join(str(i + 1) for i in idx)}]"
                         for idx in np.ndindex(*shape))
        blocks.append(a.reshape(a.shape[0], a.shape[1], -1))
    return names, np.concatenate(blocks, axis=2)


def _percent(prob: float) -> str:
    """``prob * 100`` as R's ``paste`` writes it (15 significant digits)."""
    return format(prob * 100, ".15g")


def _interval(x: np.ndarray, prob: float, kind: str) -> np.ndarray:
    return dg.hpd_interval(x, prob) if kind == "hpd" else dg.eti_interval(x, prob)


def summary_table(draws: Mapping[str, np.ndarray], prob: float = 0.95,
                  interval: str | None = None, style: str = "brms",
                  ac_lag: int = 10) -> pd.DataFrame:
    """One row of posterior summaries per parameter, with brms's or runjags's columns.

    Parameters
    ----------
    draws : mapping of str to array_like
        Parameter name -> draws of shape ``(chains, draws)``; an array with
        more dimensions gives one row per element (``b[1]``, ``b[2]``, ...).
        All parameters must have the same numbers of chains and draws.
    prob : float, default 0.95
        Probability mass of the credible interval; the interval columns are
        named after it (``l-90% CI`` / ``u-90% CI``, ``Lower90`` / ``Upper90``).
    interval : {"eti", "hpd"}, optional
        Equal-tailed quantiles or the highest-density (shortest) interval of
        the pooled draws.  By default brms's choice (``"eti"``) for
        ``style="brms"`` and runjags's (``"hpd"``) for ``style="jags"``.
    style : {"brms", "jags"}, default "brms"
        ``"brms"``: ``Estimate`` (mean), ``Est.Error`` (sd), the interval,
        ``Rhat`` (rank-normalised split R-hat), ``Bulk_ESS``, ``Tail_ESS``.
        ``"jags"``: ``Lower95 Median Upper95 Mean SD Mode MCerr MC%ofSD SSeff
        AC.10 psrf`` as runjags computes them: ``SSeff`` is coda's
        spectral effective size (rounded), ``MCerr`` is ``SD / sqrt(SSeff)``,
        ``MC%ofSD`` is ``100 * MCerr / SD`` rounded to one decimal, ``AC.10``
        the lag-10 autocorrelation averaged over chains and ``psrf`` the
        Gelman-Rubin point estimate (NaN with one chain).
    ac_lag : int, default 10
        The lag of the autocorrelation column of the ``"jags"`` style
        (named ``AC.<lag>``).

    Returns
    -------
    pandas.DataFrame
        Indexed by parameter name.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> draws = {"b_Intercept": 2 + 0.1 * rng.normal(size=(4, 1000)),
    ...          "sigma": np.exp(rng.normal(size=(4, 1000)) / 20)}
    >>> tab = summary_table(draws, prob=0.9)
    >>> list(tab.columns)
    ['Estimate', 'Est.Error', 'l-90% CI', 'u-90% CI', 'Rhat', 'Bulk_ESS', 'Tail_ESS']
    >>> float(round(tab.loc["b_Intercept", "Estimate"], 2))
    2.0
    >>> list(summary_table(draws, style="jags").columns)[:6]
    ['Lower95', 'Median', 'Upper95', 'Mean', 'SD', 'Mode']
    """
    if style not in _STYLES:
        raise ValueError(f"style must be one of {_STYLES}, got {short_repr(style)}")
    if interval is None:
        interval = "eti" if style == "brms" else "hpd"
    if interval not in _INTERVALS:
        raise ValueError(f"interval must be one of {_INTERVALS}, got {short_repr(interval)}")
    if not 0 < prob < 1:
        raise ValueError(f"prob must lie in (0, 1), got {prob}")
    names, x = _expand(draws)
    pooled = x.reshape(-1, x.shape[2])
    mean = pooled.mean(axis=0)
    sd = pooled.std(axis=0, ddof=1) if pooled.shape[0] > 1 else np.full(len(names), np.nan)
    lo_hi = _interval(x, prob, interval)

    if style == "brms":
        pct = _percent(prob)
        data = {
            "Estimate": mean,
            "Est.Error": sd,
            f"l-{pct}% CI": lo_hi[:, 0],
            f"u-{pct}% CI": lo_hi[:, 1],
            "Rhat": dg.rhat(x),
            "Bulk_ESS": dg.ess_bulk(x),
            "Tail_ESS": dg.ess_tail(x),
        }
    else:
        pct = str(int(round(prob * 100)))
        sseff = dg.ess_coda(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            mcerr = sd / np.sqrt(sseff)
            mc_pct = np.round(mcerr / sd * 100, 1)
        data = {
            f"Lower{pct}": lo_hi[:, 0],
            "Median": np.median(pooled, axis=0),
            f"Upper{pct}": lo_hi[:, 1],
            "Mean": mean,
            "SD": sd,
            "Mode": dg.mode_estimate(x),
            "MCerr": mcerr,
            "MC%ofSD": mc_pct,
            "SSeff": np.round(sseff),
            f"AC.{int(ac_lag)}": dg.autocorr(x, ac_lag),
            "psrf": dg.psrf(x) if x.shape[0] > 1 else np.full(len(names), np.nan),
        }
    data = {k: np.atleast_1d(np.asarray(v, dtype=float)) for k, v in data.items()}
    return pd.DataFrame(data, index=pd.Index(names, name=None))


# ------------------------------------------------------------------ R's matrix printing


def _r_matrix(rownames: Sequence[str], colnames: Sequence[str],
              cells: Sequence[Sequence[str]], width: int = 80) -> list[str]:
    """Lines of R's ``print`` of a character matrix (``quote = FALSE``, ``right = TRUE``).

    Row names are left-justified, columns right-justified and separated by one
    space; columns that do not fit in ``width`` characters continue in further
    blocks, each repeating the row names (as R does for ``options(width = 80)``).
    """
    rownames = [str(r) for r in rownames]
    rlabw = max((len(r) for r in rownames), default=0)
    ncol = len(colnames)
    w = [max([len(colnames[j])] + [len(row[j]) for row in cells]) for j in range(ncol)]
    lines: list[str] = []
    jmin = 0
    while jmin < ncol:
        jmax = jmin
        used = rlabw
        while True:
            used += w[jmax] + 1
            jmax += 1
            if not (jmax < ncol and used + w[jmax] + 1 < width):
                break
        cols = range(jmin, jmax)
        lines.append((" " * rlabw + "".join(" " + colnames[j].rjust(w[j]) for j in cols)).rstrip())
        for name, row in zip(rownames, cells):
            lines.append((name.ljust(rlabw) + "".join(" " + row[j].rjust(w[j]) for j in cols))
                         .rstrip())
        jmin = jmax
    return lines


def _sprintf(value: float, fmt: str) -> str:
    """R's ``sprintf`` of one double, with R's spelling of NA and infinities."""
    if np.isnan(value):
        return "NA"
    if np.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    return fmt % value


def _brms_table(df: pd.DataFrame, digits: int, width: int) -> list[str]:
    """brms's ``print_format``: ``digits`` decimals, ESS columns as whole numbers."""
    no_digits = {"Bulk_ESS", "Tail_ESS"}
    cells = []
    for _, row in df.iterrows():
        cells.append([_sprintf(float(v), "%.0f" if col in no_digits else f"%.{digits}f")
                      for col, v in row.items()])
    return _r_matrix([str(i) for i in df.index], [str(c) for c in df.columns], cells, width)


def format_brms(header_lines: Sequence[str],
                sections: Sequence[tuple[str, pd.DataFrame | None]],
                footer_lines: Sequence[str] = (), digits: int = 2, width: int = 80) -> str:
    """Text laid out like brms's ``print`` of a model summary.

    Parameters
    ----------
    header_lines : sequence of str
        The lines above the tables (``" Family: gaussian"``, ``"  Links: ..."``,
        ``"Formula: ..."``, ``"   Data: ..."``, ``"  Draws: ..."``); a blank
        line follows them.
    sections : sequence of (str, DataFrame or None)
        Each title (may hold several lines, e.g. ``"Multilevel Hyperparameters:\\n~school
        (Number of levels: 73)"``) is followed by its table and a blank line; a
        title with ``None`` prints alone, which suits a heading over several
        grouping factors.  Tables are printed as brms's ``print_format``:
        ``digits`` decimals, ``Bulk_ESS`` and ``Tail_ESS`` as whole numbers,
        NaN as ``NA``.
    footer_lines : sequence of str, optional
        The closing lines, e.g. :data:`BRMS_FOOTER`.
    digits : int, default 2
        Decimals of the estimates, errors, interval limits and ``Rhat``.
    width : int, default 80
        Line width at which a wide table continues below (R's ``options("width")``).

    Returns
    -------
    str
        The text, lines joined by newlines (trailing spaces removed).

    Examples
    --------
    >>> fixed = pd.DataFrame({"Estimate": [69.43, 7.1349], "Est.Error": [1.35, 1.13],
    ...                       "l-95% CI": [66.8, 4.91], "u-95% CI": [72.1, 9.35],
    ...                       "Rhat": [1.0012, 1.0], "Bulk_ESS": [1520.6, 2811.2],
    ...                       "Tail_ESS": [2210.0, 2833.5]},
    ...                      index=["Intercept", "femaleF"])
    >>> sd = pd.DataFrame({"Estimate": [10.27], "Est.Error": [1.06], "l-95% CI": [8.38],
    ...                    "u-95% CI": [12.53], "Rhat": [1.0], "Bulk_ESS": [1161.0],
    ...                    "Tail_ESS": [1853.0]}, index=["sd(Intercept)"])
    >>> print(format_brms([" Family: gaussian"],
    ...                   [("Multilevel Hyperparameters:", None),
    ...                    ("~school (Number of levels: 73)", sd),
    ...                    ("Regression Coefficients:", fixed)]))
     Family: gaussian
    <BLANKLINE>
    Multilevel Hyperparameters:
    ~school (Number of levels: 73)
                  Estimate Est.Error l-95% CI u-95% CI Rhat Bulk_ESS Tail_ESS
    sd(Intercept)    10.27      1.06     8.38    12.53 1.00     1161     1853
    <BLANKLINE>
    Regression Coefficients:
              Estimate Est.Error l-95% CI u-95% CI Rhat Bulk_ESS Tail_ESS
    Intercept    69.43      1.35    66.80    72.10 1.00     1521     2210
    femaleF       7.13      1.13     4.91     9.35 1.00     2811     2834
    <BLANKLINE>
    """
    lines: list[str] = [str(h).rstrip() for h in header_lines]
    if lines:
        lines.append("")
    for title, table in sections:
        lines.extend(t.rstrip() for t in str(title).split("\n"))
        if table is not None:
            lines.extend(_brms_table(table, digits, width))
            lines.append("")
    lines.extend(str(f).rstrip() for f in footer_lines)
    return "\n".join(lines)


def _format_fg(value: float, digits: int) -> str:
    """R's ``formatC(value, format = "fg", digits = digits)``: significant digits, fixed."""
    if value == 0:
        return "0"
    xx = value
    mag = abs(value)
    iex = int(np.floor(np.log10(mag) + 1e-12))
    scaled = round(mag / 10.0**iex + 1e-12, digits - 1)
    if iex > 0 and scaled >= 10:
        # R rebuilds the number from its absolute value here, which drops the sign of
        # e.g. -99999.99 (printed "100000"); the sign is kept.
        xx = np.copysign(scaled * 10.0**iex, value)
        iex += 1
    if iex == -4 and mag < 1e-4:
        iex = -5
    if iex < -4:
        text = "%.*f" % (digits - 1 - iex, xx)
        return text.rstrip("0")
    return "%.*g" % (iex + 1 if iex >= digits else digits, xx)


def _runjags_cell(value: float, digits: int) -> str:
    """One number as runjags's ``prettifytable`` writes it; NA as ``--``."""
    if np.isnan(value):
        return "--"
    if np.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    if abs(value) < 10.0**-digits:
        return "%.*g" % (digits, value)
    return _format_fg(value, digits)


def format_jags(df: pd.DataFrame, digits: int = 5, width: int = 80) -> str:
    """A summary table as runjags's ``print`` lays it out.

    Every number is written with ``digits`` significant digits in fixed
    notation (R's ``formatC(format = "fg")``; numbers below ``10^-digits`` in
    ``%g`` form), NaN as ``--``; the column names form the first row and each
    column is right-justified to its widest entry.  As R prints that
    character matrix, a blank line heads each block of columns, and columns
    beyond ``width`` characters continue in a further block.

    Parameters
    ----------
    df : pandas.DataFrame
        Numbers, one row per parameter, typically
        ``summary_table(draws, style="jags")``.
    digits : int, default 5
        Significant digits (``print.runjags``'s default).
    width : int, default 80
        Line width of the printed blocks (R's ``options("width")``).

    Returns
    -------
    str
        The table text, lines joined by newlines (trailing spaces removed).

    Examples
    --------
    >>> df = pd.DataFrame({"Lower95": [74.50312, 0.98671234], "Median": [77.678, 2.78873],
    ...                    "Mean": [77.6751, 2.3], "SSeff": [37589.0, float("nan")]},
    ...                   index=["g0", "g1"])
    >>> print(format_jags(df))
    <BLANKLINE>
       Lower95 Median   Mean SSeff
    g0  74.503 77.678 77.675 37589
    g1 0.98671 2.7887    2.3    --
    """
    columns = [str(c) for c in df.columns]
    body = [[_runjags_cell(float(v), digits) for v in row] for row in df.to_numpy(dtype=float)]
    table = [columns] + body
    widths = [max(len(r[j]) for r in table) for j in range(len(columns))]
    padded = [[r[j].rjust(widths[j]) for j in range(len(columns))] for r in table]
    rownames = [""] + [str(i) for i in df.index]
    return "\n".join(_r_matrix(rownames, [""] * len(columns), padded, width))
