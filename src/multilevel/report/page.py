"""The report's page: sections, tables, figures and notes as one self-contained HTML file.

Nothing here knows about models. A page is a title, a line under it and a list
of :class:`Section`; each section's body is HTML made by the helpers below.
Tables keep R's number formats (:func:`multilevel.results.summary.format_column`
and ``format_pvalues``); figures are PNG images inlined as ``data:`` URLs; the
page carries its CSS and a Content-Security-Policy that forbids the browser
any request, so the file shows the same offline, mailed or archived.
"""

from __future__ import annotations

import base64
import html
import io
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..results.summary import coef_block, format_column, format_pvalues, stars, stat_column

__all__ = ["Section", "figure", "note", "page", "preformatted", "table"]

# the browser may load nothing: no script, no font, no image but the inlined ones
POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 margin:0;color:#1f2328;background:#fff;line-height:1.45}
header{background:#24292f;color:#fff;padding:1.2em 2em}
header h1{margin:0 0 .2em;font-size:1.5em}
header p{margin:0;color:#d0d7de}
nav{padding:.6em 2em;border-bottom:1px solid #d0d7de;background:#f6f8fa;font-size:.92em}
nav a{margin-right:1.1em;color:#0969da;text-decoration:none}
main{padding:0 2em 2em;max-width:72em}
section{margin-top:1.6em}
h2{font-size:1.25em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
h3{font-size:1.02em;margin:1.1em 0 .4em}
table{border-collapse:collapse;margin:.4em 0 .8em;font-size:.9em;
 font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:.2em 0}
th,td{padding:.22em .7em;border-bottom:1px solid #eaeef2;text-align:right;white-space:nowrap}
th{background:#f6f8fa}
th:first-child,td:first-child{text-align:left}
td.text{text-align:left;white-space:normal}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.85em}
figure{margin:.6em 0 1.2em}
figure img{max-width:100%;height:auto;border:1px solid #eaeef2}
figcaption{font-size:.88em;color:#57606a}
.note{padding:.5em .8em;margin:.5em 0;border-left:4px solid #0969da;background:#ddf4ff}
.note.warn{border-color:#bf8700;background:#fff8c5}
.note.ok{border-color:#1a7f37;background:#dafbe1}
.legend{font-size:.82em;color:#57606a}
"""

_P_COLUMN = re.compile(r"^(Pr\(|p[._ ]?value$|p$)", re.IGNORECASE)
_BOUND = re.compile(r"^(\d+(\.\d+)? ?%|[lu]-\d+% CI|Q\d+(\.\d+)?)$")


@dataclass(frozen=True)
class Section:
    """One part of the page: a heading, its anchor in the contents and its HTML body.

    Examples
    --------
    >>> Section("Model", "<p>fitted</p>").anchor
    'model'
    """

    title: str
    body: str

    @property
    def anchor(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-") or "section"


def _nonfinite(v: float) -> str:
    return "NA" if np.isnan(v) else ("Inf" if v > 0 else "-Inf")


def _numbers(values: np.ndarray, fmt) -> list[str]:
    """``fmt`` applied to the finite values (negative zero as zero); R's NA, Inf, -Inf
    for the others."""
    values = np.asarray(values, dtype=float) + 0.0
    finite = np.isfinite(values)
    cells = [_nonfinite(v) if not f else "" for v, f in zip(values, finite)]
    shown = fmt(values[finite]) if finite.any() else []
    for i, text in zip(np.flatnonzero(finite), shown):
        cells[i] = text.strip()
    return cells


def _formatted(df: pd.DataFrame, digits: int) -> tuple[pd.DataFrame, bool, set]:
    """The table's cells as text, as R prints them: a coefficient block (``Estimate``,
    ``Std. Error``, ``df``) formatted together and the test statistic as
    ``printCoefmat`` does; interval bounds (``2.5 %``, ``97.5 %``) in one layout as R
    formats a matrix; p-values as ``format.pval`` with a column of significance stars;
    every other numeric column in its own layout (``format(x, digits=)``)."""
    out = pd.DataFrame(index=df.index)
    numeric = [c for c in df.columns
               if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])]
    groups: list[list] = []
    if "Estimate" in numeric and "Std. Error" in numeric:
        groups.append([c for c in ("Estimate", "Std. Error", "df") if c in numeric])
    bounds = [c for c in numeric if _BOUND.match(str(c))]
    if bounds:
        groups.append(bounds)
    done: dict = {}
    for group in groups:
        flat = np.concatenate([df[c].to_numpy(dtype=float, na_value=np.nan) for c in group])
        if group is bounds:  # as R prints confint's matrix: seven significant digits
            cells = _numbers(flat, lambda v: format_column(v, 7))
        else:
            cells = _numbers(flat, lambda v: [c for col in coef_block([v], digits) for c in col])
        for k, c in enumerate(group):
            done[c] = cells[k * len(df):(k + 1) * len(df)]
    last_p, text = None, set()
    for name in df.columns:
        col = df[name]
        if name in done:
            out[name] = done[name]
        elif pd.api.types.is_bool_dtype(col):
            out[name] = col.map(lambda v: "yes" if v else "no")
        elif name in numeric:
            values = col.to_numpy(dtype=float, na_value=np.nan)
            if _P_COLUMN.match(str(name)):
                out[name] = format_pvalues(values)
                last_p = name
            elif str(name) in ("t value", "z value"):
                out[name] = _numbers(values, lambda v: stat_column(v, digits))
            elif pd.api.types.is_integer_dtype(col):
                out[name] = _numbers(values, lambda v: [str(int(x)) for x in v])
            else:
                out[name] = _numbers(values, lambda v: format_column(v, digits))
        else:
            text.add(name)
            out[name] = col.map(lambda v: "" if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                                else str(v))
    if last_p is not None:  # the stars beside the p-values, as printCoefmat puts them
        text.add("")
        marks = [stars(p) if np.isfinite(p) else "" for p in df[last_p].to_numpy(dtype=float, na_value=np.nan)]
        out.insert(list(out.columns).index(last_p) + 1, "", marks)
    return out, last_p is not None, text


def table(df: pd.DataFrame, caption: str | None = None, digits: int = 4, index: bool = True,
          header: bool = True) -> str:
    """A DataFrame as an HTML table, its numbers formatted as R prints them.

    Numeric columns take one layout each (R's ``format(x, digits=)``); columns
    named as p-values (``Pr(>|t|)``, ``p.value``) take ``format.pval``'s and a
    column of significance stars with R's legend under the table.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"Estimate": [251.405, 10.467], "Pr(>|t|)": [1e-17, 3.26e-06]},
    ...                  index=["(Intercept)", "Days"])
    >>> html_text = table(t, "Fixed effects")
    >>> "<caption>Fixed effects</caption>" in html_text, "3.26e-06" in html_text, "***" in html_text
    (True, True, True)
    """
    cells, has_p, text = _formatted(pd.DataFrame(df), digits)
    kinds = [' class="text"' if c in text else "" for c in cells.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ([""] if index else []) + list(cells.columns))
    rows = []
    for label, row in zip(cells.index, cells.itertuples(index=False)):
        first = f"<th>{html.escape(str(label))}</th>" if index else ""
        tds = "".join(f"<td{k}>{html.escape(v)}</td>" for k, v in zip(kinds, row))
        rows.append(f"<tr>{first}{tds}</tr>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    legend = ("<p class=\"legend\">Signif. codes: 0 '***' 0.001 '**' 0.01 '*' 0.05 '.' 0.1 ' ' 1</p>"
              if has_p else "")
    thead = f"<thead><tr>{head}</tr></thead>" if header else ""
    return f"<table>{cap}{thead}<tbody>{''.join(rows)}</tbody></table>{legend}"


def figure(fig, caption: str, dpi: int = 96) -> str:
    """A matplotlib Figure as an inlined PNG with its caption; the figure is closed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> fig, ax = plt.subplots(figsize=(2, 2))
    >>> _ = ax.plot([0, 1], [0, 1])
    >>> figure(fig, "A line").startswith('<figure><img src="data:image/png;base64,')
    True
    """
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    alt = html.escape(caption, quote=True)
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def note(text: str, kind: str = "info") -> str:
    """A boxed remark: ``kind`` "info", "warn" (something to act on) or "ok".

    Examples
    --------
    >>> note("boundary (singular) fit", "warn")
    '<div class="note warn">boundary (singular) fit</div>'
    """
    cls = "note" if kind == "info" else f"note {kind}"
    return f'<div class="{cls}">{html.escape(text)}</div>'


def preformatted(text: str) -> str:
    """Text shown as printed (R's layout), escaped.

    Examples
    --------
    >>> preformatted("a < b")
    '<pre>a &lt; b</pre>'
    """
    return f"<pre>{html.escape(text)}</pre>"


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole HTML document: contents bar, sections, inline CSS, no requests.

    Examples
    --------
    >>> text = page("Report", "a model", [Section("Model", "<p>x</p>")])
    >>> text.startswith("<!DOCTYPE html>"), 'href="#model"' in text, "://" in text
    (True, True, False)
    """
    nav = "".join(f'<a href="#{s.anchor}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(f'<section id="{s.anchor}"><h2>{html.escape(s.title)}</h2>{s.body}</section>'
                   for s in sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{POLICY}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{html.escape(title)}</h1><p>{html.escape(subtitle)}</p></header>"
            f"<nav>{nav}</nav><main>{body}</main></body></html>\n")
