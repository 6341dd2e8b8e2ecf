"""The fast path for the lines that come in storms: probe and access lines.

Orchestrators probe every few seconds and clients poll; a few shapes are most of a busy
log. They are the declared shapes themselves (`HOT`: an access shape, alone or behind a
llama.cpp prefix), each tried after a substring test and one anchored regex:

    hot = match_hot(text)            # None: not a hot line, take parse_line
    hot.shape.name, hot.kind, hot.severity
    hot.key                          # (method, path, status, client, empty rid, health check)
    hot.record()                     # the Record parse_line builds, built only when asked

`match_hot`'s regex captures only what a decision reads (the declared pattern with its
other groups made non-capturing); `key` is what a probe decision depends on besides the
stated level (the policy's cache key), so a storm line is decided without a Record.
`record()` (and `fast_parse`, which parse_line tries first) matches the full declared
pattern once and builds through the declared shapes. `tests/test_dialects_fastpath.py`
holds both equal to the general path on generated lines of every shape.
"""

from __future__ import annotations

import re

from otel_plugins.record import Kind, Record, Severity

from .llama_box import LLAMA_BOX
from .llamacpp_prefix import UPTIME_HEAD, UPTIME_PREFIX, WALL_HEAD, WALL_PREFIX
from .llamacpp_server import UPSTREAM_REQUEST
from .regex import longest_literal, python_pattern, rename_groups, strip_groups
from .shape import LEVELS, TIME, UPTIME, Shape
from .uvicorn import ACCESS

# Access shapes, tried behind each prefix in the content chain's order (so the first that
# matches is the one the general path picks).
_ACCESS_LINES = tuple(s for s in LLAMA_BOX if "method" in s.regex.groupindex) + (UPSTREAM_REQUEST,)
HOT: tuple[tuple[Shape | None, str, tuple[Shape, ...]], ...] = (
    (UPTIME_PREFIX, UPTIME_HEAD, _ACCESS_LINES),
    (WALL_PREFIX, WALL_HEAD, _ACCESS_LINES),
    (None, "", _ACCESS_LINES),
    (None, "", (ACCESS,)),
)
_KEY = ("lvl", "method", "path", "status", "client", "host6", "host", "rid", "port")
_FLAGS = re.ASCII | re.DOTALL


class HotShape:
    """One access shape behind one prefix (or none): its lean and full regexes, and where
    the decision's values sit in the lean match."""

    def __init__(self, prefix: Shape | None, head: str, shape: Shape) -> None:
        self.prefix, self.shape, self.kind = prefix, shape, shape.kind
        self.needle = longest_literal(shape.regex)
        inner = rename_groups(shape.pattern, lambda n: "i_" + n)
        sep = " " if prefix is not None else ""
        # The prefix's clock stays in the lean match too: a replay places the line at its time.
        clocks = {f.group: f for f in (prefix.fields if prefix is not None else ()) if f.attr in (TIME, UPTIME)}
        lean = re.compile(
            python_pattern(strip_groups(head, lambda n: n == "lvl" or n in clocks) + sep + strip_groups(inner, lambda n: n[2:] in _KEY)), _FLAGS
        )
        self.lean = lean.match
        self.full = re.compile(python_pattern(head + sep + f"(?P<i_>{inner})"), _FLAGS)
        pos = {n[2:] if n.startswith("i_") else n: i - 1 for n, i in lean.groupindex.items()}
        self.level = pos.get("lvl", -1)
        self.method, self.path, self.status, self.rid = pos["method"], pos["path"], pos.get("status", -1), pos.get("rid", -1)
        self.port = pos.get("port", -1)
        self.client = tuple(pos[n] for n in ("client", "host6", "host") if n in pos)
        self.severity = shape.severity
        # (group index, Record slot, converter) of the line's clock, if the prefix has one.
        self.clock = next(((pos[g], f.attr, f.conv.py) for g, f in clocks.items()), None)
        # The full match's groups: the prefix's (its message last), then the content shape's.
        self.split = self.full.groupindex["i_"]
        assert [*(prefix.regex.groupindex if prefix else ["msg"])] == [*list(self.full.groupindex)[: self.split - 1], "msg"]

    def record(self, text: str, m: re.Match) -> Record:
        g, k = m.groups(), self.split
        if self.prefix is None:
            return self.shape.build(text, g[k:])
        return self.prefix.build(text, g[:k], self.shape.build(g[k - 1], g[k:]))


def _table() -> dict[str, tuple[HotShape, ...]]:
    table: dict[str, list[HotShape]] = {}
    for prefix, head, shapes in HOT:
        for shape in shapes:
            hot = HotShape(prefix, head, shape)
            for c in prefix.first if prefix is not None else shape.first:
                table.setdefault(c, []).append(hot)
    return {c: tuple(hots) for c, hots in table.items()}


_TABLE = _table()


class HotMatch:
    """A hot line, matched: its shape, kind, stated severity and decision key; the Record on demand."""

    __slots__ = ("hot", "text", "severity", "key", "_g")

    def __init__(self, hot: HotShape, text: str, g: tuple) -> None:
        self.hot, self.text, self._g = hot, text, g
        self.severity: Severity | None = LEVELS[g[hot.level]] if hot.level >= 0 else hot.severity
        status = g[hot.status] if hot.status >= 0 else None
        client = None
        for i in hot.client:
            if g[i] is not None:
                client = g[i]
                break
        self.key = (g[hot.method], g[hot.path], int(status) if status is not None else None, client, hot.rid >= 0 and g[hot.rid] == "", None)

    @property
    def shape(self) -> Shape:
        return self.hot.shape

    @property
    def port(self) -> int | None:
        """The client's port, as `record()` has it in `client.port`."""
        index = self.hot.port
        value = self._g[index] if index >= 0 else None
        return int(value) if value is not None else None

    def clock(self) -> tuple[float | None, float | None]:
        """(time_unix, uptime) as `record()` would have them, without building the Record."""
        clock = self.hot.clock
        if clock is None:
            return None, None
        index, slot, convert = clock
        value = convert(self._g[index])
        return (value, None) if slot == TIME else (None, value)

    @property
    def kind(self) -> Kind:
        return self.hot.kind

    def record(self) -> Record:
        """The Record `parse_line` makes of this line."""
        hot = self.hot
        return hot.record(self.text, hot.full.match(self.text))


def match_hot(text: str) -> HotMatch | None:
    """The hot line `text` matched (one anchored regex), or None when the general path must decide."""
    hots = _TABLE.get(text[:1])
    if hots is None or "\x1b" in text or "^[" in text or "#033[" in text:
        return None
    for hot in hots:
        if hot.needle in text:
            m = hot.lean(text)
            if m is not None:
                return HotMatch(hot, text, m.groups())
    return None


def fast_parse(text: str) -> Record | None:
    """The Record for a hot line (one regex match), or None when the general path must decide."""
    hots = _TABLE.get(text[:1])
    if hots is None or "\x1b" in text or "^[" in text or "#033[" in text:
        return None
    for hot in hots:
        if hot.needle in text:
            m = hot.full.match(text)
            if m is not None:
                return hot.record(text, m)
    return None


__all__ = ["HOT", "HotMatch", "HotShape", "fast_parse", "match_hot"]
