"""Probe path sets: exact paths, and patterns where `*` stands for one path segment's
characters and `**` for any number of segments (none included).

The same patterns become the RE2 regex the rendered Collector config matches with
(`regex()`), so the Python side and the Collector recognise exactly the same paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

def _pattern(path: str) -> str:
    out = []
    for segment in (path.rstrip("/") or "/").split("/")[1:]:
        if segment == "**":
            out.append("(?:/[^/]+)*")
        else:
            out.append("/" + re.escape(segment).replace(r"\*", "[^/]*"))
    return "".join(out) or "/"


def in_line_regex(paths: Iterable[str]) -> str:
    """A regex (RE2 and `re` alike) finding any of `paths` inside a log line: unanchored, never
    across a blank or a line end (a search over many lines must match on the line it is about),
    and ended by a blank, a quote, a query, a bar, a comma, a bracket or the line's end."""
    alternatives = []
    for path in sorted(paths):
        out = []
        for segment in (path.rstrip("/") or "/").split("/")[1:]:
            if segment == "**":
                out.append(r"(?:/[^/\s\"|?]+)*")
            else:
                out.append("/" + re.escape(segment).replace(r"\*", r"[^/\s\"|?]*"))
        alternatives.append("".join(out) or "/")
    if not alternatives:
        return "$.^"
    return "(?:" + "|".join(alternatives) + r")/?(?:[ \t\"?|,)\]]|$)"


def segment_words(paths: Iterable[str]) -> frozenset[str]:
    """The longest literal segment of each path (`/**/health` -> `health`): a line holding none
    of them names none of `paths`, unless a path has no literal segment (it gives no word)."""
    words = set()
    for path in paths:
        literals = [s for s in path.split("/") if s and "*" not in s]
        if literals:
            words.add(max(literals, key=len))
    # A word holding another is found by the other (`healthz` by `health`).
    return frozenset(w for w in words if not any(o != w and o in w for o in words))


def regex(paths: Iterable[str]) -> str:
    """One anchored regex (Python `re` and RE2 alike) matching any of `paths`, a trailing slash allowed."""
    alternatives = sorted(_pattern(p) for p in paths)
    return "^(?:" + "|".join(alternatives) + ")/?$" if alternatives else "^$.^"


# Longer paths are never probe paths (and a pattern is not tried on a path of any length).
MAX_PATH = 2048
_CACHE_LIMIT = 4096


class PathSet:
    """Membership for request paths: a set lookup for exact paths, one regex for patterns,
    the answers remembered (probe storms ask about the same few paths)."""

    def __init__(self, paths: Iterable[str]) -> None:
        paths = list(paths)
        self._exact = frozenset(p.rstrip("/") or "/" for p in paths if "*" not in p)
        patterns = [p for p in paths if "*" in p]
        self._patterns = re.compile(regex(patterns)) if patterns else None
        self._known: dict[str, bool] = {}

    def __contains__(self, path: object) -> bool:
        known = self._known.get(path)  # type: ignore[call-overload]
        if known is not None:
            return known
        if not isinstance(path, str) or len(path) > MAX_PATH:
            return False
        found = (
            path in self._exact
            or (len(path) > 1 and path.endswith("/") and path.rstrip("/") in self._exact)
            or (self._patterns is not None and self._patterns.match(path) is not None)
        )
        if len(self._known) >= _CACHE_LIMIT:
            self._known.clear()
        self._known[path] = found
        return found
