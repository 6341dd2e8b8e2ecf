"""Lines that are objects: a JSON object, or a regex head followed by `key=value` pairs.

An `ObjectShape` is data like a `Shape`: which keys hold the level, the tag, the message
and the time, and `Case`s (conditions on keys, then the kind, event and keyed fields they
give); a line no case claims may still announce a lifecycle marker (`inner` rules). The
Python side decodes the object (json.loads, or the pairs, the head's named groups added as
keys); the Collector's `json_parser` (or one regex per key) reads the same keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from otel_plugins import names
from otel_plugins.record import Event, Kind, Record

from ._common import URL_QUERY, ascii_digits
from .shape import KIND_FOR, LEVELS, Conv, Keyed, Shape, merge

PRESENT = "<present>"  # a condition: the key is there, whatever its value
DIGITS = "<digits>"  # a condition: the value is a whole number
TARGET = "@target"  # a request target: `url.path`, and `url.query` after a `?`

_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('\\"', '"')
    return value


def pairs(text: str, unquote: Callable[[str], str] = _unquote) -> dict[str, str]:
    """`k=v k2="v 2"` -> {"k": "v", "k2": "v 2"} (the last of a repeated key wins)."""
    return {key: unquote(value) for key, value in _KV.findall(text)}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _whole(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and ascii_digits(value) else None


# Converters of object values (which may be numbers, not text).
TEXT = Conv("text", _text, "")
WHOLE = Conv("whole", _whole, "Int")


@dataclass(frozen=True)
class Key:
    """Object key `key` becomes attribute `attr` through `conv` (None or "": no attribute)."""

    key: str
    attr: str
    conv: Conv = TEXT


@dataclass(frozen=True)
class Case:
    """When every `when` (key, value) holds (value PRESENT, DIGITS or the exact text), the
    record takes `kind`, `event`, the `keys` and the `const` fields."""

    when: tuple[tuple[str, str], ...]
    kind: Kind
    event: Event | None = None
    keys: tuple[Key, ...] = ()
    const: tuple[tuple[str, Any], ...] = ()

    def holds(self, obj: dict) -> bool:
        for key, want in self.when:
            if key not in obj:
                return False
            if want is PRESENT:
                continue
            value = _text(obj[key])
            if want is DIGITS:
                if value is None or not ascii_digits(value):
                    return False
            elif value != want:
                return False
        return True


Keys = str | tuple[str, ...]  # a key, or several: the first the object has (`a.b`: key b of a)


def get(obj: dict, keys: Keys | None) -> Any:
    """The value at the first of `keys` the object has (None: none)."""
    if keys is None:
        return None
    for key in (keys,) if isinstance(keys, str) else keys:
        value: Any = obj
        for part in key.split(".") if "." in key and key not in obj else (key,):
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            return value
    return None


class ObjectShape:
    """A JSON line (no `head`), or a `head` Shape whose group `kv` holds `key=value` pairs
    (the head's other groups are keys too). `wrap`: the message is itself a line of the
    chain's (pino and `--log-jsonl` write each line of a server as a JSON `msg`)."""

    def __init__(
        self,
        name: str,
        dialect: str,
        *,
        producer: str | None = None,
        head: Shape | None = None,
        needles: tuple[str, ...] = (),
        any_of: tuple[str, ...] = (),
        level: Keys | None = None,
        tag: Keys | None = None,
        message: Keys | None = None,
        time: Keys | None = None,
        cases: tuple[Case, ...] = (),
        inner: tuple[Keyed, ...] = (),
        wrap: Any = None,
        examples: tuple[str, ...] = (),
    ) -> None:
        self.name, self.dialect, self.producer = name, dialect, producer
        self.head = head
        self.needles, self.any_of = needles, any_of
        self.level, self.tag, self.message, self.time = level, tag, message, time
        self.cases, self.inner, self.wrap, self.examples = cases, inner, wrap, examples
        self.first = "{" if head is None else head.first
        self.shapes = (self,)

    def __call__(self, text: str) -> Record | None:
        for needle in self.needles:
            if needle in text:
                break
        else:
            if self.needles:
                return None
        if self.head is None:
            if text[:1] != "{":
                return None
            try:
                obj = json.loads(text)
            except ValueError:
                return None
            if not isinstance(obj, dict) or (self.any_of and get(obj, self.any_of) is None):
                return None
            ts = get(obj, self.time)
            when = float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else None
        else:
            m = self.head.regex.match(text)
            if m is None:
                return None
            head = m.groupdict()
            obj = pairs(head.pop("kv", None) or "")
            obj.update((k, v) for k, v in head.items() if v is not None)
            ts = get(obj, self.time) or ""
            when = float(ts) if ascii_digits(ts) else None
        return self.record(text, obj, when)

    def record(self, text: str, obj: dict, when: float | None) -> Record:
        tag = _text(get(obj, self.tag)) or None
        message = _text(get(obj, self.message)) or ""
        word = get(obj, self.level)
        sev = LEVELS.get(str(word).upper()) if isinstance(word, (str, int)) and not isinstance(word, bool) else None
        rec = Record(text, self.dialect, KIND_FOR[sev], sev, when, producer=self.producer, tag=tag, message=message)
        if self.wrap is not None:
            found = self.wrap.parse(message.rstrip("\n"))
            if found is not None:
                return merge(rec, found, frozenset((None,)), frozenset())
        for case in self.cases:
            if case.holds(obj):
                rec.kind, rec.event = case.kind, case.event
                rec.fields.update(case.const)
                put(rec.fields, obj, case.keys)
                return rec
        for rules in self.inner:
            found = rules.parse(message, tag)
            if found is not None:
                return merge(rec, found, None, frozenset())
        return rec


def put(fields: dict, obj: dict, keys: tuple[Key, ...]) -> None:
    """The keyed values of `obj` into `fields`, converted; a request target split at `?`."""
    for key in keys:
        if key.key not in obj:
            continue
        value = key.conv.py(obj[key.key]) if key.conv.py is not None else obj[key.key]
        if value is None:
            continue
        if key.attr == TARGET:
            path, q, query = str(value).partition("?")
            fields[names.URL_PATH] = path
            if q:
                fields[URL_QUERY] = query
        else:
            fields[key.attr] = value


__all__ = ["DIGITS", "PRESENT", "TARGET", "TEXT", "WHOLE", "Case", "Key", "ObjectShape", "pairs"]
