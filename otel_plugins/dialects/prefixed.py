"""A known line behind a prefix nobody declared: a desktop app, `kubectl logs` across pods, k9s,
a CloudWatch export or a supervisor re-printing a backend's console with its own prefix.

    ms-pd-llm-d-...-vh88z routing-proxy E1027 22:25:32.427556 1 proxy.go:268] "waiting for vLLM..."
    2024-08-27 19:10:09 [GIN] 2024/08/27 - 17:10:09 | 200 | 36.584739ms | 127.0.0.1 | GET "/api/tags"
      | 2020-06-08T09:15:51.852+02:00 | 10.32.0.2 - - [08/Jun/2020:07:15:51 +0000] "GET /ping HTTP/1.1" 400 3

Only a line no dialect read reaches this shape. It cuts the line after a run of separators
(space, `|`, `]`, `>`, `│`) within its first 160 characters, at the first cut where a
distinctive shape starts (`behind` builds the list: no catch-alls, no shape that can start
with any word unless it needs a substring (an access line's ` HTTP/`), nothing that starts
with a separator), and parses the rest with it; the prefix is kept in `llama.log.prefix`.
"""

from __future__ import annotations

import re
from typing import Any

from otel_plugins import names
from otel_plugins.record import Record

from .regex import python_pattern, strip_groups
from .shape import Chain, F, Shape

LOG_PREFIX = names.LOG_PREFIX
_SEPARATORS = " \t|]>│"
_CUTS = re.compile(r"[ \t|\]>│]+")
_PREFIX_MAX = 160
_ANY_WORD = 52  # a shape that can start with any letter (`\w+: ...`) is not distinctive behind a prefix
_UNSET = object()


class Behind(Shape):
    """The declared pattern cuts at the first separator run (starting within 160 characters)
    after which a distinctive shape matches; here the same cuts are tried in turn, each
    rest first against one regex of the shapes that can start with its first character,
    instead of one regex of all the shapes at every cut (which Python's backtracking
    engine runs slowly, RE2 does not)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.union = None  # tried alone, last: only a line no dialect read pays for it
        self._needles = tuple(sorted({n for s in self.inner.shapes for n in _needles(s)}))
        self._unions: dict[tuple, Any] = {}
        self._gates: dict[tuple, dict[str, Any]] = {}

    def gate(self, present: tuple[bool, ...], first: str) -> Any:
        """One regex of the shapes a rest beginning with `first` may be, of those whose needles
        the line holds (`present`); None when there is none. Built when a line first needs it:
        building every character's at once cost the first unknown line most of a second."""
        absent = {n for n, here in zip(self._needles, present) if not here}
        strong = tuple(
            _union(s) for s in self.inner.shapes
            if not (_needles(s) and set(_needles(s)) <= absent) and (s.first is None or (first and first in s.first))
        )
        if not strong:
            return None
        union = self._unions.get(strong)
        if union is None:
            union = self._unions[strong] = re.compile(python_pattern("|".join(f"(?:{u})" for u in strong)), re.ASCII | re.DOTALL).match
        return union

    def __call__(self, text: str) -> Record | None:
        present = tuple(n in text for n in self._needles)
        gates = self._gates.get(present)
        if gates is None:
            gates = self._gates[present] = {}
        parse = self.inner.parse
        for m in _CUTS.finditer(text):
            if m.start() > _PREFIX_MAX:
                break
            rest = text[m.end() :]
            first = rest[:1]
            gate = gates.get(first, _UNSET)
            if gate is _UNSET:
                gate = gates[first] = self.gate(present, first)
            if gate is not None and gate(rest) is not None:
                found = parse(rest)
                if found is not None:
                    return self.build(text, (text[: m.start()], rest), found)
        return None


def behind(shapes: tuple) -> Shape:
    """The shape for a known line behind an unknown prefix, from the distinctive `shapes`."""
    strong = tuple(
        s for s in shapes
        if _union(s) is not None
        and (s.first is None and _needles(s) or s.first is not None and len(s.first) < _ANY_WORD and not set(s.first) & set(_SEPARATORS))
    )
    union = "|".join(f"(?:{_union(s)})" for s in strong)
    return Behind(
        "prefixed", r"(?P<prefix>.{0,160}?)[ \t|\]>│]+(?P<msg>(?:" + union + r").*)$", None, message="msg",
        inner=Chain("prefixed.line", strong), required=True, fields=(F("prefix", LOG_PREFIX),),
        examples=('2024-08-27 19:10:09 [GIN] 2024/08/27 - 17:10:09 | 200 |   36.584739ms |       127.0.0.1 | GET      "/api/tags"',),
    )


def _needles(shape) -> tuple[str, ...]:
    """The substrings one of which every line of `shape` holds (none: any line)."""
    needle = getattr(shape, "needle", None)
    return (needle,) if needle is not None else getattr(shape, "needles", ())


def _union(shape) -> str | None:
    if getattr(shape, "head", None) is not None:  # key=value objects: their head
        return strip_groups(shape.head.pattern)
    if not hasattr(shape, "pattern"):  # a JSON object
        return r"\{"
    return shape.union


__all__ = ["LOG_PREFIX", "behind"]
