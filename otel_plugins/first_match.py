"""Where an RE2 pattern first matches in bytes, without google-re2's Python match objects.

google-re2's `search` is a Python generator around the compiled RE2: each call builds a
generator and a `Match`, about 2 µs, where the scan itself of a 100-byte line takes a
tenth of that. The hot checks that only ask *whether* and *where* (the overload scan, the
redaction pre-check, once per line or per exported string) call the compiled RE2's own
`Match` and read the first span. That entry point is google-re2's internal one, so it is
probed once per pattern and, if a release ever changes it, the public `search` serves
instead (`tests/test_first_match.py` holds the two equal).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Finder", "first_match"]

# (data, pos, endpos) -> the offset where the first match starts, or -1.
Finder = Callable[[bytes, int, int], int]


def first_match(pattern: Any) -> Finder:
    """A finder for the compiled google-re2 `pattern` (a bytes pattern)."""
    try:
        from re2 import _Anchor

        match, unanchored = pattern._regexp.Match, _Anchor.UNANCHORED
        if match(unanchored, b"", 0, 0)[0][0] not in (0, -1):
            raise TypeError("unexpected span")
    except (ImportError, AttributeError, TypeError, IndexError):
        return _public(pattern)

    def find(data: bytes, pos: int, endpos: int) -> int:
        return match(unanchored, data, pos, endpos)[0][0]

    return find


def _public(pattern: Any) -> Finder:
    search = pattern.search

    def find(data: bytes, pos: int, endpos: int) -> int:
        found = search(data, pos, endpos)
        return -1 if found is None else found.start()

    return find
