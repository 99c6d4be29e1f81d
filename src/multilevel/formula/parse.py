"""Parse lme4 model formulas into a fixed part and random-effects bars.

formulaic reads ``|`` as a multipart separator, not as lme4's bar, so the bars
are found here, at the character level, and each piece handed to formulaic.
"""

from __future__ import annotations

import functools

import re
from dataclasses import dataclass, field, replace

__all__ = ["ParsedFormula", "RandomBar", "FormulaError", "factor_response", "parse_formula"]


class FormulaError(ValueError):
    """A model formula that cannot be read, with the position of the problem.

    Examples
    --------
    >>> parse_formula("y ~ x + (1 | g")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    multilevel.formula.parse.FormulaError: formula syntax error at character 9 ...: unmatched '(' (missing ')')
    """


@dataclass(frozen=True)
class RandomBar:
    """One ``(expr | group)`` term after expansion of ``a/b``.

    Attributes
    ----------
    expr : str
        The per-level model formula, e.g. ``"1 + Days"`` (formulaic syntax).
    group : tuple of str
        Column names whose interaction forms the grouping factor; ``("a", "b")``
        for ``a:b``.
    correlated : bool
        False for ``||`` bars, which are split into independent scalar terms.
    structure : str
        The covariance structure of a correlated term (glmmTMB's and lme4
        2.0's): ``"us"`` (unstructured, a plain bar), ``"cs"`` (compound
        symmetry: one variance and one correlation), ``"hcs"`` (a variance
        per column, one correlation) or ``"ar1"`` (one variance, correlation
        ``rho^|i - j|`` between columns i and j). ``diag(x | g)`` is ``(x || g)``.

    Examples
    --------
    >>> parse_formula("y ~ x + (1 + x || g)").bars
    (RandomBar(expr='1 + x', group=('g',), correlated=False),)
    >>> parse_formula("y ~ ar1(0 + t | g)").bars[0].structure
    'ar1'
    """

    expr: str
    group: tuple[str, ...]
    correlated: bool = True
    structure: str = field(default="us", repr=False)

    @property
    def text(self) -> str:
        """The term as written in a formula (``cs(0 + t | g)``, ``(1 | g)``).

        Examples
        --------
        >>> [b.text for b in parse_formula("y ~ cs(0 + t | g) + (1 || h)").bars]
        ['cs(0 + t | g)', '(1 || h)']
        """
        inner = f"{self.expr} {'|' if self.correlated else '||'} {self.group_name}"
        return f"{self.structure}({inner})" if self.structure != "us" else f"({inner})"

    @property
    def group_name(self) -> str:
        """The grouping factor's name as lme4 prints it (``"b:a"``).

        Examples
        --------
        >>> RandomBar(expr="1", group=("b", "a")).group_name
        'b:a'
        >>> parse_formula("y ~ x + (1 | a/b)").bars[1].group_name
        'b:a'
        """
        return ":".join(self.group)


@dataclass(frozen=True)
class ParsedFormula:
    """A formula split into response, fixed-effects part and random bars.

    Attributes
    ----------
    text : str
        The formula as given.
    response : str
        The left-hand side.
    fixed : str
        The fixed-effects part of the right-hand side (``"1"`` when empty).
    bars : tuple of RandomBar
        The random-effects terms, nested factors expanded.
    offsets : tuple of str
        Expressions of the ``offset(...)`` terms of the formula, added to the
        linear predictor with coefficient 1 (also for new data in predict).

    Examples
    --------
    >>> p = parse_formula("Reaction ~ Days + (Days | Subject)")
    >>> p.response, p.fixed, len(p.bars)
    ('Reaction', 'Days', 1)
    """

    text: str
    response: str
    fixed: str
    bars: tuple[RandomBar, ...]
    offsets: tuple[str, ...] = ()

    @property
    def fixed_formula(self) -> str:
        """``response ~ fixed`` for formulaic.

        Examples
        --------
        >>> parse_formula("y ~ 1 + x + (1 + x | g)").fixed_formula
        'y ~ 1 + x'
        >>> parse_formula("y ~ (1 | g)").fixed_formula
        'y ~ 1'
        """
        return f"{self.response} ~ {self.fixed}"


def _error(text: str, pos: int, problem: str) -> FormulaError:
    return FormulaError(
        f"formula syntax error at character {pos + 1} of {text!r}: {problem}"
    )


def _match_parens(text: str, offset: int = 0) -> dict[int, int]:
    """Map each '(' position to its ')' position, checking balance."""
    stack: list[int] = []
    pairs: dict[int, int] = {}
    quote = None
    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"`":
            quote = ch
        elif ch == "(":
            stack.append(i)
        elif ch == ")":
            if not stack:
                raise _error(text, i + offset, "unmatched ')'")
            pairs[stack.pop()] = i
    if stack:
        raise _error(text, stack[-1] + offset, "unmatched '(' (missing ')')")
    if quote:
        raise _error(text, len(text) - 1 + offset, f"unterminated quote {quote}")
    return pairs


def _unquoted(text: str) -> str:
    """``text`` with everything inside backticks or quotes (a column name such as ``weight (kg)``
    or ``g|h``) replaced by ``_``, the positions kept: what the scanners below read.

    Examples
    --------
    >>> _unquoted("y ~ `weight (kg)` + (1 | `g|h`)")
    'y ~ `___________` + (1 | `___`)'
    """
    out, quote = [], None
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
                out.append(ch)
            else:
                out.append("_")
        else:
            if ch in "`'\"":
                quote = ch
            out.append(ch)
    return "".join(out)


def _split_unquoted(text: str, sep: str) -> list[str]:
    """``text.split(sep)``, not splitting inside backticks or quotes.

    Examples
    --------
    >>> _split_unquoted("a:`b:c`", ":")
    ['a', '`b:c`']
    """
    masked = _unquoted(text)
    out, start = [], 0
    for i, ch in enumerate(masked):
        if ch == sep:
            out.append(text[start:i])
            start = i + 1
    out.append(text[start:])
    return out


def _top_level_positions(text: str, char: str) -> list[int]:
    depth = 0
    out = []
    for i, ch in enumerate(_unquoted(text)):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == char and depth == 0:
            out.append(i)
    return out


_IDENT_END = re.compile(r"[A-Za-z0-9_.`\u0080-\uffff]$")


def _is_call(text: str, open_pos: int) -> bool:
    """Whether the '(' at ``open_pos`` opens a function call (a name before it)."""
    return bool(_IDENT_END.search(text[:open_pos].rstrip()))


def _powers_in_calls(text: str) -> str:
    """``^`` inside a function call is a power, as in R (``I(x^2)``, ``log(x^2)``);
    outside calls it stays formula syntax (``(a + b)^2``).

    Examples
    --------
    >>> _powers_in_calls("x + I(x^2) + (a + b)^2")
    'x + I(x**2) + (a + b)^2'
    """
    out, stack, quote = [], [], None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            stack.append(bool(stack and stack[-1]) or _is_call(text, i))
        elif ch == ")":
            if stack:
                stack.pop()
        elif ch == "^" and stack and stack[-1]:
            out.append("**")
            continue
        out.append(ch)
    return "".join(out)


_FACTOR_CALL = re.compile(r"(?<![A-Za-z0-9_.`])(?:as\.)?factor\s*\(")


_FACTOR_RESPONSE = re.compile(r"^(?:as\.)?factor\s*\(\s*(`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*)\s*\)$")


def factor_response(response: str) -> str | None:
    """The column of a response written as R's ``factor(y)`` or ``as.factor(y)``, else None.

    Examples
    --------
    >>> factor_response("factor(r2)"), factor_response("as.factor( `a b` )"), factor_response("log(y)")
    ('r2', 'a b', None)
    """
    m = _FACTOR_RESPONSE.match(response.strip())
    return m.group(1).strip("`") if m else None


def _r_calls(text: str) -> str:
    """R's calls that have another spelling here: ``factor(x)`` and ``as.factor(x)``
    are ``C(x)`` (a categorical of x's sorted values, treatment contrasts, as R's);
    and ``^`` inside a call is a power (:func:`_powers_in_calls`).

    Examples
    --------
    >>> _r_calls("y ~ factor(Days) + as.factor(cyl) + myfactor(x) + I(x^2) + `dose factor(mg)`")
    'y ~ C(Days) + C(cyl) + myfactor(x) + I(x**2) + `dose factor(mg)`'
    """
    masked = _unquoted(text)  # (not inside a backticked name: `dose factor(mg)`)
    for m in reversed(list(_FACTOR_CALL.finditer(masked))):
        text = text[: m.start()] + "C(" + text[m.end():]
    return _powers_in_calls(text)


def _top_level_groups(rhs: str) -> list[int]:
    """Positions of the '(' that are not inside other parentheses."""
    opens, depth = [], 0
    for i, ch in enumerate(_unquoted(rhs)):
        if ch == "(":
            if depth == 0:
                opens.append(i)
            depth += 1
        elif ch == ")":
            depth -= 1
    return opens


def _term_start(rhs: str, pos: int) -> bool:
    """Whether a term starting at ``pos`` begins the formula or follows '+'."""
    before = rhs[:pos].rstrip()
    return not before or before[-1] in "+~"


#: covariance structures written as a call around a bar term (``cs(0 + t | g)``); ``homcs``
#: is glmmTMB's name for the homogeneous compound symmetry that ``cs`` is here
STRUCTURES = ("cs", "hcs", "ar1", "homcs")
#: calls that are other spellings of plain bars: name -> the bar they become
_BAR_SPELLINGS = {"zerocorr": "||", "diag": "||", "us": "|"}


def _normalise_bars(rhs: str, text: str, offset: int) -> str:
    """Rewrite R spellings of random-effects terms into plain bars, keeping the
    positions of everything else: ``zerocorr(x | g)`` (MixedModels.jl) and
    ``diag(x | g)`` (glmmTMB, lme4 2.0) become ``(x || g)``, ``us(x | g)``
    becomes ``(x | g)``, and parentheses around bar terms (``((1 | g) + (0 +
    x | g))``, as lme4 prints a ``||`` model) are dropped."""
    while True:
        pairs = _match_parens(rhs, offset)
        changed = False
        for start in _top_level_groups(rhs):
            end = pairs[start]
            inner = rhs[start + 1: end]
            name = re.search(r"([A-Za-z_.][A-Za-z0-9_.]*)\s*$", rhs[:start])
            if name and name.group(1) in _BAR_SPELLINGS and _term_start(rhs, name.start(1)):
                call = name.group(1)
                bars = _top_level_positions(inner, "|")
                if len(bars) != 1:
                    raise _error(text, offset + start, f"{call}() takes one random-effects term, "
                                 f"{call}(x | g)")
                bar = _BAR_SPELLINGS[call]
                # (the bar keeps its position: a '||' takes the place of the name's first letter)
                rhs = (rhs[: name.start(1)] + " " * (len(call) + 1 - len(bar)) + "(" + inner[: bars[0]] + bar
                       + inner[bars[0] + 1:] + rhs[end:])
                changed = True
                break
            if _is_call(rhs, start) or "|" not in inner or _top_level_positions(inner, "|"):
                continue
            rhs = rhs[:start] + " " + inner + " " + rhs[end + 1:]
            changed = True
            break
        if not changed:
            return rhs


def _split_offsets(fixed: str, text: str) -> tuple[str, tuple[str, ...]]:
    """Remove the ``offset(...)`` terms of the fixed part; return it and their expressions."""
    offsets = []
    while True:
        m = None
        for cand in re.finditer(r"(?<![A-Za-z0-9_.])offset\s*\(", fixed):
            depth = sum(1 if c == "(" else -1 if c == ")" else 0 for c in fixed[: cand.start()])
            if depth == 0:
                m = cand
                break
        if m is None:
            return fixed, tuple(offsets)
        open_pos = m.end() - 1
        end = _match_parens(fixed)[open_pos]
        expr = fixed[open_pos + 1: end].strip()
        if not expr:
            raise FormulaError(f"offset() in formula {text!r} needs an expression, e.g. offset(log(n))")
        offsets.append(expr)
        left = fixed[: m.start()].rstrip()
        right = fixed[end + 1:].lstrip()
        if left and not left.endswith("+"):
            raise FormulaError(f"offset(...) in formula {text!r} must be added with '+'")
        left, right = left.rstrip(" +"), right.lstrip(" +")
        fixed = f"{left} + {right}" if left and right else (left or right)


_NAME = re.compile(r"^[^\W\d][\w.]*$|^\.[\w.]*$|^`[^`]+`$")


def _parse_group(text: str, full: str, pos: int) -> list[tuple[str, ...]]:
    """``a/b/c`` -> [(a,), (b, a), (c, b, a)] as lme4 expands nesting."""
    text = text.strip()
    if not text:
        raise _error(full, pos, "a random-effects bar needs a grouping factor after '|'")
    nested = [p.strip() for p in _split_unquoted(text, "/")]
    out: list[tuple[str, ...]] = []
    prefix: tuple[str, ...] = ()
    for part in nested:
        raw = [c.strip() for c in _split_unquoted(part, ":")]
        for c in raw:
            if not c or not _NAME.match(c):
                raise _error(
                    full, pos, f"grouping factor {part!r} must be column names joined by ':' or '/'"
                )
        cols = tuple(c.strip("`") for c in raw)
        prefix = cols + prefix
        out.append(prefix)
    return out


def parse_formula(formula: str) -> ParsedFormula:
    """Split an lme4 formula into its response, fixed part and random terms.

    Parameters
    ----------
    formula : str
        A formula such as ``"y ~ 1 + x + (1 + x | g)"``. Bars may be ``|``
        (correlated) or ``||`` (independent); the grouping factor may be
        ``g``, ``a:b`` or ``a/b`` (nested: ``(1|a) + (1|b:a)``).

    Returns
    -------
    ParsedFormula

    Raises
    ------
    FormulaError
        With the character position of the problem.

    Examples
    --------
    >>> p = parse_formula("y ~ 1 + x + (1 + x | g) + (1 | a/b)")
    >>> p.fixed
    '1 + x'
    >>> [(b.expr, b.group_name) for b in p.bars]
    [('1 + x', 'g'), ('1', 'a'), ('1', 'b:a')]
    """
    if not isinstance(formula, str):
        raise TypeError(f"formula must be a string such as 'y ~ x + (1 | g)', not {type(formula).__name__}")
    return _parse(formula)


@functools.lru_cache(maxsize=512)
def _parse(text: str) -> ParsedFormula:
    """:func:`parse_formula` of a string, remembered: a bootstrap, a profile or a
    simulation refits one formula thousands of times, and the result is immutable."""
    _match_parens(text)
    tildes = _top_level_positions(text, "~")
    if not tildes:
        raise FormulaError(
            f"formula {text!r} has no '~': write it as 'response ~ predictors', e.g. 'y ~ x + (1 | g)'"
        )
    if len(tildes) > 1:
        raise _error(text, tildes[1], "more than one '~'")
    response = text[: tildes[0]].strip()
    if not response:
        raise FormulaError(
            f"formula {text!r} has no response before '~': write it as 'y ~ ...'"
        )
    rhs_start = tildes[0] + 1
    rhs = text[rhs_start:]
    if not rhs.strip():
        raise _error(text, len(text) - 1, "nothing after '~'")
    rhs = _normalise_bars(rhs, text, rhs_start)
    pairs = _match_parens(rhs, rhs_start)
    bars: list[RandomBar] = []
    spans: list[tuple[int, int]] = []
    for start in _top_level_groups(rhs):
        end = pairs[start]
        inner = rhs[start + 1 : end]
        bar_pos = _top_level_positions(inner, "|")
        if not bar_pos:
            continue
        structure, span_start = "us", start
        name = re.search(r"([A-Za-z_.][A-Za-z0-9_.]*)\s*$", rhs[:start])
        if name and name.group(1) in STRUCTURES and _term_start(rhs, name.start(1)):
            structure, span_start = {"homcs": "cs"}.get(name.group(1), name.group(1)), name.start(1)
        prefix = rhs[:span_start].rstrip()
        if prefix and prefix[-1] not in "+~" and prefix.strip():
            raise _error(
                text, rhs_start + start,
                "a random-effects term '( ... | g)' must be added with '+'",
            )
        double = len(bar_pos) >= 2 and bar_pos[1] == bar_pos[0] + 1
        if len(bar_pos) > (2 if double else 1):
            raise _error(text, rhs_start + start + 1 + bar_pos[-1], "more than one bar in one term")
        expr = inner[: bar_pos[0]].strip()
        group_text = inner[bar_pos[0] + (2 if double else 1):]
        if not expr:
            raise _error(
                text, rhs_start + start + 1,
                "nothing before '|': write (1 | g) for a random intercept",
            )
        if double and structure != "us":
            raise _error(text, rhs_start + start + 1 + bar_pos[0],
                         f"{structure}() is a correlation structure: write {structure}(x | g), with one bar")
        for g in _parse_group(group_text, text, rhs_start + start + 1 + bar_pos[0]):
            bars.append(RandomBar(expr=expr, group=g, correlated=not double, structure=structure))
        spans.append((span_start, end))
    fixed = rhs
    for start, end in reversed(spans):
        # remove the term together with the '+' that joins it
        left = fixed[:start].rstrip()
        if left.endswith("+"):
            left = left[:-1]
        fixed = left + " " + fixed[end + 1 :]
    fixed = re.sub(r"^\s*\+", "", fixed.strip()).strip()
    fixed = re.sub(r"\s+", " ", fixed)
    if not fixed or fixed in {"+"}:
        fixed = "1"
    if "|" in fixed:
        pos = rhs_start + rhs.find("|")
        raise _error(
            text, pos,
            "a bar '|' outside parentheses: random-effects terms are written '(x | g)'",
        )
    seen = set()
    for b in bars:
        key = (re.sub(r"\s+", "", b.expr), b.group, b.correlated, b.structure)
        if key in seen:
            raise FormulaError(f"formula {text!r} has the random-effects term ({b.expr} | {b.group_name}) twice; "
                               "give each term once")
        seen.add(key)
    fixed, offsets = _split_offsets(fixed, text)
    if not fixed.strip() or fixed.strip() in {"+"}:
        fixed = "1"
    for expr in offsets:
        if "|" in expr:
            raise FormulaError(f"offset({expr}) in formula {text!r} cannot hold a random-effects bar")
    bars = [replace(b, expr=_r_calls(b.expr)) for b in bars]
    return ParsedFormula(text=text, response=_powers_in_calls(response), fixed=_r_calls(fixed),
                         bars=tuple(bars), offsets=tuple(_powers_in_calls(o) for o in offsets))
