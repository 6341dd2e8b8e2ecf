"""Upstream llama.cpp `llama-server` request lines, in the three shapes it has used.

- text (2024 - mid 2025, also llama-cpp-python 0.3.8): `srv  log_server_r: request: GET /health 127.0.0.1 503`,
  newer `... done request: POST /v1/chat/completions ::1 400`, and older bare `request: GET /models 127.0.0.1 200`;
- 2024 JSON (`--log-format json`, also ollama's embedded server):
  `{"function":"log_server_request","level":"INFO",...,"method":"GET","path":"/health","remote_addr":...}`;
- 2024 text: `DEBUG [log_server_request] request | method="POST" ... path="/embedding" ... status=200`.

The request line is logged after the response is sent, so it carries the status: stage "response".
"""

from __future__ import annotations

import json
import re

from otel_plugins import names
from otel_plugins.record import Event, Kind, Record, Severity

from . import lifecycle
from ._common import kind_for, level, new, put_client, put_http

_PRODUCER = "llama.cpp"
_REQUEST = re.compile(
    r"(?:srv +(?P<tag>\w+): )?(?P<msg>(?:done )?request: (?P<method>[A-Z]+) (?P<target>\S+) (?P<client>\S+) (?P<status>\d{3}))\s*\Z"
)
_OLD_TEXT = re.compile(r"(?P<level>DEBUG|VERB|INFO|WARN|WARNING|ERROR) \[ *(?P<func>\w+)\] (?P<msg>.*?)(?: \|(?P<kv>.*))?\Z", re.S)
_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
_LEVELS = {"VERB": Severity.DEBUG}


def _http(rec: Record, method: str, path: str, addr, port, status) -> None:
    rec.kind = Kind.HTTP
    f = rec.fields
    put_http(f, method, path)
    if addr is not None:
        put_client(f, str(addr), port)
    if status is not None and str(status).isdigit():
        f[names.HTTP_STATUS] = int(status)
        f[names.HTTP_STAGE] = "response"
    else:
        f[names.HTTP_STAGE] = "request"


def _structured(rec: Record, obj: dict, func: str, msg: str) -> Record:
    """Fill a JSON / key=value record: an access line, a lifecycle marker, or the rest."""
    if func == "log_server_request" and "method" in obj and "path" in obj:
        _http(rec, str(obj["method"]), str(obj["path"]), obj.get("remote_addr"), obj.get("remote_port"), obj.get("status"))
        return rec
    if func == "main" and msg == "HTTP server listening":
        rec.kind = Kind.LIFECYCLE
        rec.event = Event.LISTENING
        if obj.get("hostname"):
            rec.fields[names.SERVER_ADDRESS] = str(obj["hostname"])
        if str(obj.get("port", "")).isdigit():
            rec.fields[names.SERVER_PORT] = int(obj["port"])
        return rec
    hit = lifecycle.match_tagged(func, msg) or lifecycle.match_message(msg)
    if hit is not None:
        rec.kind, rec.event = hit.kind, hit.event
        rec.fields.update(hit.fields)
    else:
        rec.kind = kind_for(rec.severity)
    return rec


class UpstreamRequest:
    """`srv  log_server_r: request: GET /health 127.0.0.1 503` and its variants."""

    name = "llama-server"
    first = "sr"

    def __call__(self, text: str) -> Record | None:
        if "request: " not in text:
            return None
        m = _REQUEST.match(text)
        if m is None:
            return None
        tag = m.group("tag") or "request"
        rec = new(text, self.name, producer=_PRODUCER, tag=tag, message=m.group("msg"))
        _http(rec, m.group("method"), m.group("target"), m.group("client"), None, m.group("status"))
        return rec


class Structured:
    """The 2024 JSON and `LEVEL [function] msg | k=v` formats."""

    name = "llama-server"
    first = "{DVIWE"

    def __call__(self, text: str) -> Record | None:
        first = text[:1]
        if first == "{":
            return self._json(text)
        if first in "DVIWE" and " [" in text[:9]:
            return self._text(text)
        return None

    def _json(self, text: str) -> Record | None:
        if '"level"' not in text and '"function"' not in text:
            return None
        try:
            obj = json.loads(text)
        except ValueError:
            return None
        if not isinstance(obj, dict) or ("function" not in obj and "level" not in obj):
            return None
        func, msg = str(obj.get("function", "")), str(obj.get("msg", ""))
        rec = new(text, self.name, producer=_PRODUCER, tag=func or None, message=msg)
        lvl = obj.get("level")
        if isinstance(lvl, str):
            rec.severity = level(lvl) or _LEVELS.get(lvl)
        ts = obj.get("timestamp")
        if isinstance(ts, (int, float)) and not isinstance(ts, bool):
            rec.time_unix = float(ts)
        return _structured(rec, obj, func, msg)

    def _text(self, text: str) -> Record | None:
        m = _OLD_TEXT.match(text)
        if m is None:
            return None
        lvl, func, msg, kv = m.group("level", "func", "msg", "kv")
        obj = {}
        for key, value in _KV.findall(kv or ""):
            if value.startswith('"') and value.endswith('"') and len(value) >= 2:
                value = value[1:-1].replace('\\"', '"')
            obj[key] = value
        rec = new(text, self.name, producer=_PRODUCER, tag=func, message=msg, severity=level(lvl) or _LEVELS.get(lvl))
        ts = obj.get("timestamp", "")
        if ts.isdigit():
            rec.time_unix = float(ts)
        return _structured(rec, obj, func, msg)


UPSTREAM_REQUEST = UpstreamRequest()
STRUCTURED = Structured()
