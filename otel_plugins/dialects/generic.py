"""The fallback: any line nobody else claimed still gets a level when it states or shows one.

- a level word at the start (`ERROR: ...`, `warning: ...`, `INFO ...`) is the stated level;
- llama.cpp's `tag: message` shape keeps its tag (dialect "llama.cpp"), and a level word
  right after the tag counts as stated;
- with no stated level, a plainly failing message (`error loading model`, `failed to
  allocate`, `unable to ...`, `out of memory`) gets Severity.ERROR;
- Chromium's `[pid:MMDD/HHMMSS.mmm:LEVEL:file(line)]` (LM Studio's log) and LM Studio's own
  `YYYY-MM-DD HH:MM:SS [LEVEL]` header lines.
Whatever has neither tag nor level is dialect "other", kind OTHER, message = the line.
"""

from __future__ import annotations

import re

from otel_plugins.record import LEVEL_WORDS, Record, Severity

from ._common import KIND_FOR, LOG_TIME, kind_for, level, new, parse_iso, split_tag

_LEVEL_START = re.compile(
    r"(?:(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|FATAL|PANIC)(?::\s*|\s+-\s+|\s+(?=\S))"
    r"|(trace|debug|info|warn|warning|error|fatal|Warning|Error):\s*)(.*)\Z",
    re.S,
)
_LEVEL_INITIALS = frozenset("tdiwecfnTDIWECFNPEW")  # first letters of the level words
_BODY_LEVEL = re.compile(r"(?i)(trace|debug|info|warn|warning|error|err|critical|fatal):")
_ERRORISH = re.compile(r"(?i)\b(?:error|failed|failure|unable to|out of memory|abort(?:ed|ing)?)\b")
_CHROMIUM = re.compile(r"\[\d+:\d+/\d+\.\d+:([A-Z]+)(?:\d+)?:([^\]]+)\] (.*)\Z", re.S)
_STAMP_LEVEL = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \[(\w+)\]\s*(.*)\Z", re.S)


_ERROR_WORDS = ("err", "fail", "unable", "memory", "abort")


def infer_severity(message: str) -> Severity | None:
    """ERROR for a message that plainly reports a failure, else None (nothing stated)."""
    low = message.lower()
    for word in _ERROR_WORDS:  # substring tests first: the regex runs for few lines
        if word in low:
            return Severity.ERROR if _ERRORISH.search(message) is not None else None
    return None


class Generic:
    """Always returns a Record: the last entry of DIALECTS."""

    name = "generic"
    first = None

    def __call__(self, text: str) -> Record:
        first = text[:1]
        if first == "[":
            m = _CHROMIUM.match(text)
            if m is not None:
                sev = level(m.group(1))
                return new(text, self.name, kind=kind_for(sev), severity=sev, producer="chromium", tag=m.group(2), message=m.group(3))
        elif first.isdigit():
            m = _STAMP_LEVEL.match(text)
            if m is not None:
                sev = level(m.group(2))
                rec = new(text, self.name, kind=kind_for(sev), severity=sev, producer="lm-studio", message=m.group(3))
                rec.time_unix = parse_iso(m.group(1))
                rec.fields[LOG_TIME] = m.group(1)
                return rec
        m = _LEVEL_START.match(text) if first in _LEVEL_INITIALS else None
        if m is not None:
            sev = level(m.group(1) or m.group(2))
            return new(text, self.name, kind=kind_for(sev), severity=sev, message=m.group(3))
        parts = split_tag(text)
        if parts is not None:
            _comp, tag, body = parts
            return content_record(text, tag, body)
        sev = infer_severity(text)
        return new(text, "generic" if sev else "other", kind=kind_for(sev), severity=sev, message=text)


def content_record(text: str, tag: str | None, body: str, dialect: str = "llama.cpp") -> Record:
    """A llama.cpp `tag: message` line no dialect claimed: level from the words, if any."""
    sev = None
    if tag is not None and tag.isupper():
        sev = LEVEL_WORDS.get(tag)
        if sev is not None:  # `WARNING: ...` parsed as a tag
            tag = None
    if sev is None and body:
        m = _BODY_LEVEL.match(body) if body[:1] in _LEVEL_INITIALS else None
        sev = level(m.group(1)) if m is not None else infer_severity(body)
    return Record(text, dialect, KIND_FOR[sev], sev, producer="llama.cpp" if tag else None, tag=tag, message=body)


GENERIC = Generic()
