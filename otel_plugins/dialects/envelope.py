"""What wraps a producer's line on its way to us, removed before any dialect looks at it.

- ANSI colour codes, real (`\\x1b[0;36m`) or pasted (`^[[0;36m`), and cursor moves (`^[[C`);
- journald / classic syslog: `Apr 07 15:39:08 host prog[pid]: `;
- RFC 3339 syslog: `2026-07-28T20:08:36.626065-04:00 host prog[pid]: `;
- docker compose: `service  | `;
- Python multiprocess servers: `(APIServer pid=34165) `, `(SGLangWorker pid=1107016) `;
- llama-server router mode: `[42751] ` (the child instance's port);
- LM Studio's one-space indent and a user's `**bold**` around a pasted line.
The envelope's own information is kept as fields; its time goes to `time_unix` only when it
names a year (journald's `Apr 07` does not).
"""

from __future__ import annotations

import re

from otel_plugins import names

from ._common import (
    CONTAINER_NAME,
    ENVELOPE,
    ENVELOPE_TIME,
    HOST_NAME,
    PROCESS_NAME,
    PROCESS_ROLE,
    ROUTER_PORT,
    parse_iso,
)

_ANSI = re.compile(r"(?:\x1b|\^\[)\[[0-9;?]*[ -/]*[@-~]")
_JOURNALD = re.compile(r"([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ")
_RFC3339 = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ")
_COMPOSE = re.compile(r"([A-Za-z0-9][\w.-]*) +\| ")
_PROCESS = re.compile(r"\(([A-Za-z_][\w ]*?)(?: \w+=\d+)*? ?pid=(\d+)\) ")
_ROUTER = re.compile(r"\[(\d{2,5})\] ")
_PRODUCERS = (("sglang", "sglang"), ("vllm", "vllm"), ("apiserver", "vllm"), ("enginecore", "vllm"))


def maybe(text: str) -> bool:
    """Cheap test: can this line start with an envelope? (False for most lines.)"""
    first = text[:1]
    if first in "([ *":
        return first != ""
    if (first.isupper() and text[3:4] == " ") or (first.isdigit() and text[10:11] == "T"):
        return True
    i = text.find(" | ", 0, 64)
    return i > 0 and not text[text.find(" ") : i].strip(" ")  # compose: `name   | `


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def peel(text: str) -> tuple[str, dict | None, str | None]:
    """Remove envelopes (they nest: syslog around a router prefix). Returns (inner, fields, producer hint)."""
    fields: dict | None = None
    hint: str | None = None
    for _ in range(6):
        first = text[:1]
        m = None
        if first == "(":
            m = _PROCESS.match(text)
            if m is not None:
                fields = fields if fields is not None else {}
                role = m.group(1).strip()
                fields.setdefault(ENVELOPE, "process")
                fields[PROCESS_ROLE] = role
                fields[names.PID] = int(m.group(2))
                low = role.lower()
                for key, producer in _PRODUCERS:
                    if key in low:
                        hint = producer
                        break
        elif first == "[":
            if text[1:2].isdigit():
                m = _ROUTER.match(text)
                if m is not None:
                    fields = fields if fields is not None else {}
                    fields.setdefault(ENVELOPE, "router")
                    fields[ROUTER_PORT] = int(m.group(1))
        elif first.isupper():
            if text[3:4] == " " and text[6:7] == " ":
                m = _JOURNALD.match(text)
                if m is not None:
                    fields = _syslog(fields, "journald", m)
        elif first.isdigit():
            if text[10:11] == "T":
                m = _RFC3339.match(text)
                if m is not None:
                    fields = _syslog(fields, "syslog", m)
                    fields["_time"] = parse_iso(m.group(1))
        elif first == " ":
            if text[1:2] not in (" ", "") and text[1:2] != "\t":
                text = text[1:]
                continue
        elif first == "*" and text.startswith("**") and text.endswith("**") and len(text) > 4:
            text = text[2:-2]
            continue
        if m is None and first.isalnum() and text.find(" | ", 0, 64) > 0:
            m = _COMPOSE.match(text)
            if m is not None:
                fields = fields if fields is not None else {}
                fields.setdefault(ENVELOPE, "compose")
                fields[CONTAINER_NAME] = m.group(1)
        if m is None:
            break
        text = text[m.end() :]
    return text, fields, hint


def _syslog(fields: dict | None, kind: str, m: re.Match) -> dict:
    fields = fields if fields is not None else {}
    fields.setdefault(ENVELOPE, kind)
    fields[ENVELOPE_TIME] = m.group(1)
    fields[HOST_NAME] = m.group(2)
    fields[PROCESS_NAME] = m.group(3)
    if m.group(4):
        fields[names.PID] = int(m.group(4))
    return fields
