"""Column names in lme4's style (``(Intercept)``, ``femaleF``, ``mses:ses``)."""

from __future__ import annotations

import re

__all__ = ["lme4_name", "lme4_names"]

_LEVEL = re.compile(r"\[(?:T\.)?(.*)\]$")


def _part(name: str) -> tuple[str, str]:
    """Return (base variable expression, lme4-style name) of one factor of a column."""
    if name == "Intercept":
        return "", "(Intercept)"
    m = _LEVEL.search(name)
    if m and name.count("[") >= 1:
        base = name[: m.start()]
        return base, base + m.group(1)
    return name, name


def lme4_name(name: str, order: dict[str, int] | None = None) -> str:
    """Translate one formulaic column name to lme4's.

    Interaction parts are ordered by the first appearance of their variable in
    the formula, as R orders them.

    Examples
    --------
    >>> lme4_name("Intercept")
    '(Intercept)'
    >>> lme4_name("female[T.F]")
    'femaleF'
    >>> lme4_name("ses:mses", {"mses": 0, "ses": 1})
    'mses:ses'
    """
    parts = [_part(p) for p in _split_interaction(name)]
    if order and len(parts) > 1:
        parts = sorted(parts, key=lambda bp: order.get(bp[0], len(order)))
    return ":".join(p for _, p in parts)


def _split_interaction(name: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in name:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == ":" and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def lme4_names(names, formula_text: str) -> list[str]:
    """Translate a list of formulaic names, ordering interactions as R does.

    Parameters
    ----------
    names : iterable
        formulaic column names (``Intercept``, ``female[T.F]``, ``ses:mses``).
    formula_text : str
        The formula (or formula part) the columns come from; the order in
        which its variables first appear orders the parts of interactions.

    Returns
    -------
    list of str

    Examples
    --------
    >>> lme4_names(["Intercept", "female[T.F]", "ses:mses"], "y ~ female + mses * ses")
    ['(Intercept)', 'femaleF', 'mses:ses']
    >>> lme4_names(["I(Days ** 2)"], "y ~ I(Days**2)")
    ['I(Days^2)']
    """
    order: dict[str, int] = {}
    for term in re.split(r"[+\-*~:/]", formula_text):
        t = term.strip()
        if t and t not in order:
            order[t] = len(order)
    # a power is written as R writes it: the formula's I(x^2) reaches formulaic as I(x**2)
    return [re.sub(r"\s*\*\*\s*", "^", lme4_name(str(n), order)) for n in names]
