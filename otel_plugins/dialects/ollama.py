"""ollama's server: the gin access log and Go's slog text lines.

- `[GIN] 2024/07/12 - 14:13:22 | 200 |  1.418235476s |       127.0.0.1 | POST     "/api/embeddings"`
- `time=2024-07-12T14:13:22.804-03:00 level=DEBUG source=sched.go:348 msg="context for request finished" k=v ...`
The embedded llama.cpp server's JSON lines belong to `llamacpp_server`.
"""

from __future__ import annotations

import re

from otel_plugins import names
from otel_plugins.record import Kind, Record

from . import lifecycle
from ._common import LOG_TIME, epoch, go_duration, kind_for, level, new, parse_iso, put_http

_PRODUCER = "ollama"
_GIN = re.compile(
    r"\[GIN\] (\d{4})/(\d\d)/(\d\d) - (\d\d):(\d\d):(\d\d) \| +(\d{3}) \| +(\S+) \| +(\S+) \| +([A-Z]+) +\"([^\"]*)\""
)
_SLOG = re.compile(r'time=(\S+) level=(\w+)(?: source=(\S+))? msg=("(?:[^"\\]|\\.)*"|\S*)(.*)\Z', re.S)
_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return value


class Ollama:
    name = "ollama"
    first = "[t"

    def __call__(self, text: str) -> Record | None:
        if text.startswith("[GIN] "):
            return self._gin(text)
        if text.startswith("time="):
            return self._slog(text)
        return None

    def _gin(self, text: str) -> Record | None:
        m = _GIN.match(text)
        if m is None:
            return None
        y, mo, d, h, mi, s, status, took, client, method, target = m.groups()
        rec = new(text, self.name, kind=Kind.HTTP, producer=_PRODUCER, tag="GIN", message=text[6:])
        f = rec.fields
        put_http(f, method, target)
        f[names.CLIENT_ADDRESS] = client
        f[names.HTTP_STATUS] = int(status)
        f[names.HTTP_STAGE] = "response"
        cost = go_duration(took)
        if cost is not None:
            f[names.REQUEST_COST_S] = cost
        f[LOG_TIME] = f"{y}/{mo}/{d} - {h}:{mi}:{s}"
        rec.time_unix = epoch(int(y), int(mo), int(d), int(h), int(mi), int(s))
        return rec

    def _slog(self, text: str) -> Record | None:
        m = _SLOG.match(text)
        if m is None:
            return None
        when, lvl, source, msg, rest = m.groups()
        msg = _unquote(msg)
        sev = level(lvl)
        hit = lifecycle.match_message(msg)
        if hit is not None:
            rec = lifecycle.to_record(text, self.name, hit, severity=sev, producer=_PRODUCER, tag=source, message=msg)
        else:
            rec = new(text, self.name, kind=kind_for(sev), severity=sev, producer=_PRODUCER, tag=source, message=msg)
        for key, value in _KV.findall(rest):
            value = _unquote(value)
            if key == "modelPath" or (key == "model" and ("/" in value or "\\" in value)):
                rec.fields[names.MODEL_PATH] = value
        rec.fields[LOG_TIME] = when
        rec.time_unix = parse_iso(when)
        return rec


OLLAMA = Ollama()
