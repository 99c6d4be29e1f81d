"""Parts of the report every kind of fit shares: guarded calls, data, reproduction."""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
import warnings

import pandas as pd

from .page import Section, note, preformatted, table

__all__ = ["Attempt", "attempt", "checks_panel", "data_section", "model_section", "reproduction_section",
           "settings_table"]


class Attempt:
    """What one call for the report gave: its value (None where it failed) and the
    notes to show beside it (the reason it failed, the warnings it issued)."""

    __slots__ = ("value", "notes")

    def __init__(self, value, notes: str):
        self.value = value
        self.notes = notes

    @property
    def ok(self) -> bool:
        return self.value is not None


def attempt(what: str, fn) -> Attempt:
    """Call ``fn()`` for the report's part ``what``.

    A ValueError or NotImplementedError (what the package raises for a quantity
    a model does not have) becomes a note that names the part and the reason;
    warnings the call issues are shown beside the part instead of on the
    console. Any other exception is a fault and propagates.

    Examples
    --------
    >>> def fails():
    ...     raise ValueError("no ICC for this family")
    >>> a = attempt("ICC", fails)
    >>> a.ok, "ICC not available: no ICC for this family" in a.notes
    (False, True)
    >>> attempt("sum", lambda: 1 + 1).value
    2
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            value = fn()
        except (ValueError, NotImplementedError) as exc:
            value, failed = None, note(f"{what} not available: {exc}")
        else:
            failed = ""
    seen: list[str] = []
    for w in caught:
        text = str(w.message)
        if text not in seen:
            seen.append(text)
    return Attempt(value, failed + "".join(note(f"{what}: {t}", "warn") for t in seen))


def checks_panel(pairs: dict, messages, clean: str) -> str:
    """What was checked (a two-column table), then each message to act on, or ``clean``
    in a green box when there is none."""
    body = settings_table(pairs)
    if messages:
        return body + "".join(note(m, "warn") for m in messages)
    return body + note(clean, "ok")


def model_section(pairs: dict, summary, layout: str) -> Section:
    """The model in a two-column table, then its printed summary (``summary()``, in
    ``layout``'s form) folded under it."""
    text = attempt("Summary", summary)
    body = settings_table(pairs)
    if text.ok:
        body += (f"<details><summary>The summary as printed ({layout}'s layout)</summary>"
                 + preformatted(text.value) + "</details>")
    return Section("Model", body + text.notes)


def settings_table(pairs: dict) -> str:
    """A two-column table of names and values (values shown as given)."""
    frame = pd.DataFrame({"": [str(v) for v in pairs.values()]}, index=list(pairs))
    return table(frame, header=False)


def data_section(fit, design, response: str | None) -> Section:
    """Rows used and dropped, the response, and the group sizes of each factor."""
    pairs = {}
    if getattr(fit, "data_name", None):
        pairs["Data"] = fit.data_name
    if response:
        pairs["Response"] = response
    pairs["Rows used"] = f"{fit.nobs:,}"
    dropped = getattr(design, "n_dropped", None) if design is not None else None
    if dropped is not None:
        pairs["Rows dropped for missing values"] = f"{dropped:,}"
    groups = ", ".join(f"{g} ({n:,} levels)" for g, n in fit.ngroups.items())
    pairs["Grouping factors"] = groups or "none"
    body = settings_table(pairs)
    if design is None:
        return Section("Data", body)
    sizes = attempt("Group sizes", design.group_sizes)
    if sizes.ok:
        shown = sizes.value.copy()
        for c in ("levels", "min", "max"):
            shown[c] = shown[c].astype(int)
        body += table(shown, "Rows per level of each grouping factor")
    return Section("Data", body + sizes.notes)


def _version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def reproduction_section(call: str, settings: dict, packages: tuple[str, ...]) -> Section:
    """The call that refits the model, its settings and the versions that made the report."""
    versions = {"python": platform.python_version()}
    for name in ("multilevel",) + packages:
        v = _version(name)
        if v is not None:
            versions[name] = v
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = ("<h3>Call</h3><pre>" + _escape(call) + "</pre>"
            + "<h3>Settings</h3>" + settings_table(settings)
            + "<h3>Versions</h3>" + settings_table(versions)
            + f"<p class=\"legend\">Written {stamp} on {_escape(platform.platform(terse=True))}.</p>")
    return Section("Reproduction", body)


def _escape(text: str) -> str:
    import html

    return html.escape(text)
