"""The regex dialect the declarations are written in, and what is read off a pattern.

Patterns are RE2 (what the Collector runs) and Python's `re` reads them too: `(?P<name>...)`
groups, `$` only as the end of the text, scoped `(?i:...)` flags, no lookaround or
backreferences (`re2_problems` finds those). Python compiles them through `python_pattern`
with ASCII classes and DOTALL. From the parse tree of `re` come the characters a match can
start with (a chain's dispatch), the longest literal every match contains (the fast path's
substring test) and the groups every match fills (the Collector's unconditional moves).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any


def python_pattern(pattern: str) -> str:
    """The RE2 pattern for Python's `re`: `$` (end of text) becomes `\\Z`."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]" or pattern[i - 1] == "["
        elif c == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                out.append("[^")
                i += 2
                if pattern[i : i + 1] == "]":
                    out.append("]")
                    i += 1
                continue
        elif c == "$":
            c = r"\Z"
        out.append(c)
        i += 1
    return "".join(out)


def rename_groups(pattern: str, rename: Callable[[str], str]) -> str:
    return re.sub(r"\(\?P<(\w+)>", lambda m: f"(?P<{rename(m.group(1))}>", pattern)


def strip_groups(pattern: str, keep: Callable[[str], bool] = lambda name: False) -> str:
    """The pattern with its named groups made non-capturing (but those `keep` names)."""
    return re.sub(r"\(\?P<(\w+)>", lambda m: m.group(0) if keep(m.group(1)) else "(?:", pattern)


_FORBIDDEN = re.compile(r"\(\?(?:=|!|<=|<!|P=|>)|\\[1-9]|\\Z|\\A|\\z")


def re2_problems(pattern: str) -> list[str]:
    """Constructs RE2 lacks (or that mean something else there), found in `pattern`."""
    return [m.group(0) for m in _FORBIDDEN.finditer(pattern.replace("\\\\", ""))]


# ---------------------------------------------------------------- first characters

try:  # the parser of `re`, to read which characters a pattern can start with
    from re import _parser as _sre  # type: ignore[attr-defined]
except ImportError:  # Python 3.10
    import sre_parse as _sre  # type: ignore[no-redef]

_CATEGORY = {
    "CATEGORY_DIGIT": frozenset("0123456789"),
    "CATEGORY_WORD": frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"),
    "CATEGORY_SPACE": frozenset(" \t\n\r\f\v"),
}


def first_chars(regex: re.Pattern) -> str | None:
    """The characters a match can start with (ASCII only), or None when it could be any."""
    try:
        chars, nullable = _seq(_sre.parse(regex.pattern, regex.flags))
    except Exception:  # an unfamiliar parse tree: the shape is simply tried for every line
        return None
    if chars is None or nullable:
        return None
    if regex.flags & re.IGNORECASE:
        chars = chars | {c.swapcase() for c in chars}
    return "".join(sorted(chars))


def longest_literal(regex: re.Pattern) -> str:
    """The longest run of literal characters every match contains (a cheap substring test)."""
    runs = [""]

    def walk(items: Any) -> None:
        for op, av in items:
            name = str(op)
            if name == "LITERAL":
                runs[-1] += chr(av)
            elif name == "SUBPATTERN" and not av[1] and not av[2]:
                walk(av[-1])
            elif name == "MAX_REPEAT" and av[0] == av[1] == 1:
                walk(av[2])
            else:
                runs.append("")

    try:
        walk(_sre.parse(regex.pattern, regex.flags))
    except Exception:  # an unfamiliar parse tree: no pre-check
        return ""
    return max(runs, key=len)


def sure_groups(regex: re.Pattern) -> set[str]:
    """The groups that take part, non-empty, in every match (not optional, not in an alternative)."""
    names = {i: n for n, i in regex.groupindex.items()}
    sure: set[str] = set()

    def walk(items: Any) -> None:
        for op, av in items:
            name = str(op)
            if name == "SUBPATTERN":
                if av[0] in names and av[-1].getwidth()[0] > 0:
                    sure.add(names[av[0]])
                walk(av[-1])
            elif name == "MAX_REPEAT" or name == "MIN_REPEAT":
                if av[0] >= 1:
                    walk(av[2])

    try:
        walk(_sre.parse(regex.pattern, regex.flags))
    except Exception:  # an unfamiliar parse tree: no group is sure
        return set()
    return sure


def _item(name: str, av: Any) -> tuple[frozenset | None, bool]:
    if name == "LITERAL":
        return frozenset(chr(av)) if av < 128 else None, False
    if name == "IN":
        chars: set = set()
        for op, a in av:
            kind = str(op)
            if kind == "LITERAL":
                if a >= 128:
                    return None, False
                chars.add(chr(a))
            elif kind == "RANGE":
                if a[1] >= 128:
                    return None, False
                chars |= {chr(c) for c in range(a[0], a[1] + 1)}
            elif kind == "CATEGORY" and str(a) in _CATEGORY:
                chars |= _CATEGORY[str(a)]
            else:  # negation, other categories
                return None, False
        return frozenset(chars), False
    if name == "SUBPATTERN":
        got, nullable = _seq(av[-1])
        if got is not None and av[1] & re.IGNORECASE:  # a scoped `(?i:...)`
            got = got | {c.swapcase() for c in got}
        return got, nullable
    if name == "BRANCH":
        chars = set()
        nullable = False
        for branch in av[1]:
            got, null = _seq(branch)
            if got is None:
                return None, False
            chars |= got
            nullable = nullable or null
        return frozenset(chars), nullable
    if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
        lo, _hi, sub = av
        got, null = _seq(sub)
        return got, null or lo == 0
    return None, False


def _seq(items: Any) -> tuple[frozenset | None, bool]:
    """FIRST set of a sequence and whether it can match the empty string."""
    chars: set = set()
    for op, av in items:
        name = str(op)
        if name == "AT":
            continue
        got, nullable = _item(name, av)
        if got is None:
            return None, False
        chars |= got
        if not nullable:
            return frozenset(chars), False
    return frozenset(chars), True



__all__ = ["first_chars", "longest_literal", "python_pattern", "re2_problems", "rename_groups", "strip_groups", "sure_groups"]
