"""One declaration per line shape: the Python parser, the fast path and the Collector's
stanza operators are all derived from it.

A `Shape` is data: a regex with named groups (RE2 syntax, matched at the start of the
text, `$` is the end of the text), what each group means (`F`: group, attribute,
converter), the constants of the Record it makes (dialect, kind, event, producer, tag,
constant fields), where the stated level comes from, and real example lines.

Shapes nest: a shape may hand its message to another `Chain` (`inner`). The result is
one Record built by one rule, `merge`: the inner record wins, except for the stated level
(the outer layer states it), a producer the outer layer refines, and fields declared
`outer`. That one rule covers a prefix handing its message to the content dialects, an
envelope handing the rest of the line to every dialect, and a message looked up in the
lifecycle tables (a `Rule` is a shape whose record is partial: no dialect, no message).

Regex dialect (what both engines agree on): `(?P<name>...)` groups, `$` only as the end,
`(?i:...)` scoped flags, no lookaround or backreferences. Python compiles with ASCII
classes and DOTALL; RE2 gets a `(?s)` prefix (its classes are ASCII already).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from otel_plugins.names import CRASH_PART
from otel_plugins.record import LEVEL_LETTERS, LEVEL_WORDS, Event, Kind, Record, Severity

from ._build import compile_build
from .regex import first_chars, python_pattern, strip_groups

# Every level spelling a line can state: words, llama.cpp letters, llama.cpp's 2024 `VERB`,
# zerolog's three letters, pino's numbers.
LEVELS: dict[str, Severity] = {
    **LEVEL_WORDS, **LEVEL_LETTERS, "VERB": Severity.DEBUG,
    "TRC": Severity.TRACE, "DBG": Severity.DEBUG, "INF": Severity.INFO, "WRN": Severity.WARN, "FTL": Severity.FATAL, "PNC": Severity.FATAL,
    "10": Severity.TRACE, "20": Severity.DEBUG, "30": Severity.INFO, "40": Severity.WARN, "50": Severity.ERROR, "60": Severity.FATAL,
}
KIND_FOR: dict = {None: Kind.OTHER, **{s: (Kind.ERROR if s >= Severity.ERROR else Kind.OTHER) for s in Severity}}
_PLAIN = (Kind.OTHER, Kind.ERROR)
_WEAK_DIALECTS = ("other", "generic")


@dataclass(frozen=True)
class Conv:
    """A typed converter: `py` on the Python side (None: the text as it is; a None result
    drops the field) and `ottl`, the OTTL converter the Collector applies (`""`: the text
    as it is; None: Python only, the Collector does not carry the attribute)."""

    name: str
    py: Callable[[str], Any] | None
    ottl: str | None = None

    @property
    def portable(self) -> bool:
        return self.ottl is not None


STR = Conv("str", None, "")
INT = Conv("int", int, "Int")
FLOAT = Conv("float", float, "Double")
LEN = Conv("len", len, "Len")

# Record slots a field can fill instead of `fields`.
TIME = "@time_unix"
UPTIME = "@uptime"
PRODUCER = "@producer"
EVENT = "@event"
MESSAGE = "@message"
DOTS = "@leading_dots"

Groups = str | tuple[str, ...]  # one group, or several: the first that took part (F: all of them, as a tuple)


@dataclass(frozen=True)
class F:
    """Group `group` becomes attribute `attr` (or a Record slot) through `conv`.

    An empty match counts only with `empty` (the group always takes part and "" means
    something, like llama-box's empty request id). A tuple of groups hands `conv` the
    tuple of their values (all must take part)."""

    group: Groups
    attr: str
    conv: Conv = STR
    empty: bool = False


@dataclass(eq=False)
class Shape:
    name: str
    pattern: str
    dialect: str | None = None
    kind: Kind | None = None  # None: from the severity (ERROR at ERROR and above, else OTHER)
    event: Event | None = None
    severity: Severity | None = None  # what the shape itself says (a crash head: FATAL)
    level: Groups | None = None  # group holding the stated level word or letter
    producer: str | None = None
    weak_producers: frozenset | None = None  # None: the producer replaces any inner one
    default_producer: str | None = None  # when nothing else named one
    producer_names_dialect: bool = False  # an inner producer other than the default becomes the dialect
    tag: str | None = None  # constant tag (the default when `tag_group` does not take part)
    tag_group: Groups | None = None
    message: Groups | None = None  # group holding the message (None: the whole text)
    message_conv: Conv | None = None  # applied to the message before `inner` reads it
    fields: tuple[F, ...] = ()
    const: tuple[tuple[str, Any], ...] = ()  # constant fields
    outer: tuple[str, ...] = ()  # fields whose value here wins over the inner record's (an envelope's kind)
    inner: Chain | Keyed | Later | None = None  # parses the message
    required: bool = False  # the shape fails when `inner` finds nothing
    needle: str | None = None  # a substring every matching text contains (cheap rejection)
    words: tuple[str, ...] | None = None  # lower-case substrings, one of which every match contains
    guard: str | None = None  # a pattern matching exactly the texts the shape accepts, where `pattern` says less
    examples: tuple[str, ...] = ()
    first: str | None = field(default=None, init=False)  # possible first characters (None: any)

    def __post_init__(self) -> None:
        self.regex = re.compile(python_pattern(self.pattern), re.ASCII | re.DOTALL)
        self._match = self.regex.match
        self.first = first_chars(self.regex)
        self.partial = self.dialect is None
        plain = [f for f in self.fields if f.attr[0] != "@"]
        self._fields = tuple((self._index(f.group), f.conv.py, f.attr, f.empty) for f in plain if isinstance(f.group, str))
        self._joined = tuple((self._index(f.group), f.conv.py, f.attr) for f in plain if not isinstance(f.group, str))
        self._slots = tuple((self._index(f.group), f.conv.py, f.attr[1:]) for f in self.fields if f.attr[0] == "@")
        self._outer = frozenset(self.outer)
        self._level = self._index(self.level)
        self._tag = self._index(self.tag_group)
        self._message = self._index(self.message)
        self._const = dict(self.const)
        self._kind = KIND_FOR[self.severity] if self.kind is None else self.kind
        # In a chain's union regex, unless a cheap pre-check must run before a scan of the line.
        self.union = None if (self.words or self.pattern.startswith(".*")) else strip_groups(self.guard or self.pattern)
        # build(text, groups, found=False) -> Record | None: the Record for a match, the inner
        # chain applied (or its record `found` already, by the fast path). See `merge`.
        # Generated when first called: most shapes never see a line in one process, and
        # generating all of them cost a CLI start a tenth of a second.
        self.build = self._build_when_called()

    def _build_when_called(self) -> Callable[..., Record | None]:
        compiled = None

        def build(text: str, g: tuple, found: Any = False) -> Record | None:
            nonlocal compiled
            if compiled is None:
                compiled = self.build = compile_build(self, KIND_FOR, LEVELS, _WEAK_DIALECTS, _PLAIN)
            return compiled(text, g, found)

        return build

    def _index(self, groups: Groups | None) -> int | tuple[int, ...] | None:
        if groups is None:
            return None
        if isinstance(groups, str):
            return self.regex.groupindex[groups] - 1
        return tuple(self.regex.groupindex[g] - 1 for g in groups)

    # -------------------------------------------------------------- Python side

    def __call__(self, text: str) -> Record | None:
        if self.needle is not None and self.needle not in text:
            return None
        if self.words is not None:
            low = text.lower()
            if not any(w in low for w in self.words):
                return None
        m = self._match(text)
        if m is None:
            return None
        return self.build(text, m.groups())


class Rule(Shape):
    """A message rule: the kind, event, fields, producer and level a message announces,
    merged into the record of the line that carries it. No dialect, no message."""

    def __init__(self, name: str, pattern: str, event: Event | None, *, kind: Kind | None = Kind.LIFECYCLE, **kw: Any) -> None:
        super().__init__(name, pattern, event=event, kind=kind, **kw)


def merge(outer: Record, inner: Record, weak: frozenset | None, outer_keys: frozenset) -> Record:
    """One record of two: `inner` (what the message says) within `outer` (the line).

    The rule every nesting follows; a shape's generated `build` applies it inline."""
    inner.text = outer.text
    if inner.dialect is None or (inner.dialect in _WEAK_DIALECTS and outer.dialect is not None):
        inner.dialect = outer.dialect
    sev = outer.severity
    # A crash part is a failure whatever level a relay printed it at (TorchServe's worker
    # output at INFO): its own severity stands.
    if sev is not None and CRASH_PART not in inner.fields:
        if inner.event is None and inner.kind in _PLAIN:
            inner.kind = KIND_FOR[sev]
        inner.severity = sev
    if outer.producer is not None and (weak is None or inner.producer in weak):
        inner.producer = outer.producer
    if inner.tag is None:
        inner.tag = outer.tag
    if inner.message is None:
        inner.message = outer.message
    if outer.fields:
        f = inner.fields
        for key, value in outer.fields.items():
            if key in outer_keys or key not in f:
                f[key] = value
    if inner.time_unix is None:
        inner.time_unix = outer.time_unix
    if inner.uptime is None:
        inner.uptime = outer.uptime
    if not inner.leading_dots:
        inner.leading_dots = outer.leading_dots
    return inner


class Chain:
    """An ordered choice: the first item (shape or chain) that matches decides.

    Per first character, the candidate shapes are tried in runs: one union regex (every
    shape's pattern, groups stripped, as one alternation) rejects a line for a whole run
    in one match, or names the first shape of the run that matches. Consecutive shapes that
    need the same substring (`needle`) make a run of their own, skipped whole when the line
    lacks it. A shape whose pattern scans the whole line (`.*` first, or `words` to check
    before) and a JSON object are tried alone."""

    def __init__(self, name: str, items: Iterable[Shape | Chain]) -> None:
        self.name = name
        self.items = tuple(items)
        self.shapes: tuple[Shape, ...] = tuple(s for item in self.items for s in (item.shapes if isinstance(item, Chain) else (item,)))
        # Runs are planned per first character when a line first needs them: compiling every
        # character's union regexes up front cost a CLI start about half a second.
        self._runs: dict[tuple, tuple] = {}
        self._any = self._plan(tuple(s for s in self.shapes if s.first is None))
        self._table: dict[str, tuple] = {"": self._any}

    def _plan(self, shapes: tuple) -> tuple:
        runs = self._runs.get(shapes)
        if runs is None:
            runs = self._runs[shapes] = _runs(shapes)
        return runs

    def _plan_for(self, first: str) -> tuple:
        """The runs of a line beginning with `first` (a character beyond ASCII: the shapes that
        may begin with anything)."""
        if len(first) != 1 or ord(first) >= 128:
            return self._any
        runs = self._table[first] = self._plan(tuple(s for s in self.shapes if s.first is None or first in s.first))
        return runs

    def parse(self, text: str, key: str | None = None) -> Record | None:
        first = text[:1]
        plan = self._table.get(first)
        if plan is None:
            plan = self._plan_for(first)
        for needle, union, shapes in plan:
            if needle is not None and needle not in text:
                continue
            if union is not None:
                m = union(text)
                if m is None:
                    continue
                shapes = shapes[m.lastindex - 1 :]
            for shape in shapes:
                rec = shape(text)
                if rec is not None:
                    return rec
        return None

    __call__ = parse


def _runs(shapes: tuple) -> tuple:
    """(needle or None, union match or None, shapes) runs: consecutive union shapes with the
    same needle share one regex."""
    out: list = []
    run: list = []

    def flush() -> None:
        needle = run[0].needle if run else None
        if len(run) > 1:
            union = "|".join(f"({s.union})" for s in run)
            out.append((needle, re.compile(python_pattern(union), re.ASCII | re.DOTALL).match, tuple(run)))
        elif run:
            out.append((needle, None, tuple(run)))
        run.clear()

    for shape in shapes:
        if getattr(shape, "union", None) is None:
            flush()
            out.append((getattr(shape, "needle", None), None, (shape,)))
        else:
            if run and run[0].needle != shape.needle:
                flush()
            run.append(shape)
    flush()
    return tuple(out)


class Later:
    """A chain named now and given later: the line chain, which envelopes (inside it) hand
    the rest of their line to."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.chain: Chain | None = None

    def parse(self, text: str, key: str | None = None) -> Record | None:
        return self.chain.parse(text, key) if self.chain is not None else None


class Keyed:
    """Rules looked up by a key, one dict probe per line: the tag of a `tag: message`
    line (`by_tag`), or else the message's first word."""

    def __init__(self, name: str, table: dict[str, tuple[Rule, ...]], by_tag: bool = False) -> None:
        self.name = name
        self.table = table
        self.by_tag = by_tag
        self.shapes = tuple(rule for rules in table.values() for rule in rules)

    def keys(self) -> str:
        """A pattern that matches exactly the keys (longest first)."""
        return "(?:" + "|".join(re.escape(k) for k in sorted(self.table, key=lambda k: (-len(k), k))) + ")"

    def rules(self, key: str | None = None) -> str:
        """A pattern that matches where one of the rules (of `key`) does."""
        rules = self.table[key] if key is not None else self.shapes
        return "(?:" + "|".join(strip_groups(rule.pattern) for rule in rules) + ")"

    def parse(self, text: str, key: str | None = None) -> Record | None:
        if not self.by_tag:
            space = text.find(" ")
            key = text if space < 0 else text[:space]
        for rule in self.table.get(key, ()) if key is not None else ():
            rec = rule(text)
            if rec is not None:
                return rec
        return None


__all__ = [
    "DOTS", "EVENT", "F", "FLOAT", "INT", "KIND_FOR", "LEN", "LEVELS", "MESSAGE", "PRODUCER", "STR", "TIME", "UPTIME",
    "Chain", "Conv", "Keyed", "Later", "Rule", "Shape", "merge",
]
