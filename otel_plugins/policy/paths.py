"""Probe path sets: exact paths, and patterns where `*` stands for one path segment.

The same patterns become the RE2 regex the rendered Collector config matches with
(`regex()`), so the Python side and the Collector recognise exactly the same paths.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SEGMENT = "[^/]+"


def regex(paths: Iterable[str]) -> str:
    """One anchored regex (Python `re` and RE2 alike) matching any of `paths`, a trailing slash allowed."""
    alternatives = sorted(re.escape(p.rstrip("/") or "/").replace(r"\*", _SEGMENT) for p in paths)
    return "^(?:" + "|".join(alternatives) + ")/?$" if alternatives else "^$.^"


class PathSet:
    """Membership for request paths: a set lookup for exact paths, one regex for patterns."""

    def __init__(self, paths: Iterable[str]) -> None:
        paths = list(paths)
        self._exact = frozenset(p.rstrip("/") or "/" for p in paths if "*" not in p)
        patterns = [p for p in paths if "*" in p]
        self._patterns = re.compile(regex(patterns)) if patterns else None

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        if path in self._exact:
            return True
        if len(path) > 1 and path.endswith("/") and path.rstrip("/") in self._exact:
            return True
        return self._patterns is not None and self._patterns.match(path) is not None
