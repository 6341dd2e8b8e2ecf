"""llama-swap, the model-swapping proxy in front of llama-server.

- old access log: `[llama-swap] ::1 [2025-03-20 11:27:15] "GET / HTTP/1.1" 200 390 "curl/8.5.0" 11.05µs`;
- new: `[INFO] Request 172.28.0.1 "POST /v1/chat/completions HTTP/1.1" 200 781 "UA" 17.09s`
  (users redact the client: `[INFO] Request [IP where ...] "GET ..."`, kept as printed);
- its own health check of the upstream: `!!! Health check error: status code: 503` is kind
  HTTP with only the status and `llama.health_check: True` (no client, no path);
  `[INFO] <model> Health check passed on http://...` marks the upstream READY;
- `[DEBUG] <model> swapState() State transitioned from starting to ready`;
- `[LEVEL] message` for the rest (the same bracket shape GPUStack's start script uses:
  `[INFO] Starting gpustack.` gets producer gpustack from the lifecycle table).
"""

from __future__ import annotations

import re

from otel_plugins import names
from otel_plugins.record import Event, Kind, Record

from . import lifecycle
from ._common import (
    HEALTH_CHECK,
    HTTP_VERSION,
    LOG_TIME,
    RESPONSE_SIZE,
    URL_FULL,
    go_duration,
    kind_for,
    level,
    new,
    parse_iso,
    put_http,
)

_PRODUCER = "llama-swap"
_REQ = r'"([A-Z]+) (\S+) HTTP/([\d.]+)" (\d{3}) (-?\d+) "((?:[^"\\]|\\.)*)" (\S+)\s*\Z'
_OLD_ACCESS = re.compile(r"\[llama-swap\] (\S+) \[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] " + _REQ)
_REQUEST = re.compile(r"Request (.+?) " + _REQ)
_BRACKET = re.compile(r"\[(DEBUG|INFO|WARN|WARNING|ERROR|FATAL|PANIC)\] (.*)\Z", re.S)
_MODEL = re.compile(r"<([^>]+)> (.*)\Z", re.S)
_PASSED = re.compile(r"Health check passed on (\S+)")
_HC_FAILED = re.compile(r"Health check (?:error|failed|timed out)")
_SWAP = re.compile(r"swapState\(\) State transitioned from (\w+) to (\w+)")
_HC_BANG = re.compile(r"!!! Health check error(?:: status code: (\d{3}))?")
_STATES = {"ready": Event.READY, "starting": Event.STARTING, "stopping": Event.STOPPING, "stopped": Event.STOPPING, "shutdown": Event.STOPPING}


class LlamaSwap:
    name = "llama-swap"
    first = "[!l"

    def __call__(self, text: str) -> Record | None:
        first = text[:1]
        if first == "[":
            if text.startswith("[llama-swap] "):
                return self._old_access(text)
            if text[1:2].isupper():
                return self._bracket(text)
            return None
        if first == "!":
            if text.startswith("!!! Health check"):
                return self._bang(text)
            return None
        if first == "l" and text.startswith("llama-swap "):
            hit = lifecycle.match_message(text)
            if hit is not None:
                return lifecycle.to_record(text, self.name, hit, producer=_PRODUCER, message=text)
        return None

    def _access(self, text: str, msg: str, client: str, groups: tuple, sev=None) -> Record:
        method, target, version, status, size, agent, took = groups
        rec = new(text, self.name, kind=Kind.HTTP, severity=sev, producer=_PRODUCER, message=msg)
        f = rec.fields
        put_http(f, method, target)
        f[names.CLIENT_ADDRESS] = client
        f[HTTP_VERSION] = version
        f[names.HTTP_STATUS] = int(status)
        f[names.HTTP_STAGE] = "response"
        if size != "-1":
            f[RESPONSE_SIZE] = int(size)
        if agent:
            f[names.USER_AGENT] = agent
        cost = go_duration(took)
        if cost is not None:
            f[names.REQUEST_COST_S] = cost
        return rec

    def _old_access(self, text: str) -> Record | None:
        m = _OLD_ACCESS.match(text)
        if m is None:
            return None
        rec = self._access(text, text[13:], m.group(1), m.groups()[2:])
        rec.fields[LOG_TIME] = m.group(2)
        rec.time_unix = parse_iso(m.group(2))
        return rec

    def _bracket(self, text: str) -> Record | None:
        m = _BRACKET.match(text)
        if m is None:
            return None
        sev = level(m.group(1))
        msg = m.group(2)
        if msg.startswith("Request "):
            r = _REQUEST.match(msg)
            if r is not None:
                return self._access(text, msg, r.group(1), r.groups()[1:], sev)
        if msg.startswith("<"):
            mm = _MODEL.match(msg)
            if mm is not None:
                return self._model(text, sev, msg, mm.group(1), mm.group(2))
        hit = lifecycle.match_message(msg)
        if hit is not None:
            rec = lifecycle.to_record(text, self.name, hit, severity=sev, message=msg)
            if rec.producer is None:
                rec.producer = _PRODUCER
            elif rec.producer != _PRODUCER:
                rec.dialect = rec.producer
            return rec
        return new(text, self.name, kind=kind_for(sev), severity=sev, producer=_PRODUCER, message=msg)

    def _model(self, text: str, sev, msg: str, model: str, body: str) -> Record:
        rec = new(text, self.name, kind=kind_for(sev), severity=sev, producer=_PRODUCER, message=msg)
        rec.fields[names.MODEL_NAME] = model
        m = _PASSED.match(body)
        if m is not None:
            rec.kind, rec.event = Kind.LIFECYCLE, Event.READY
            rec.fields[URL_FULL] = m.group(1)
            return rec
        m = _SWAP.match(body)
        if m is not None and m.group(2) in _STATES:
            rec.kind, rec.event = Kind.LIFECYCLE, _STATES[m.group(2)]
            return rec
        if _HC_FAILED.match(body) is not None:
            rec.fields[HEALTH_CHECK] = True
        return rec

    def _bang(self, text: str) -> Record:
        m = _HC_BANG.match(text)
        rec = new(text, self.name, kind=Kind.HTTP, producer=_PRODUCER, message=text[4:])
        rec.fields[HEALTH_CHECK] = True
        if m is not None and m.group(1):
            rec.fields[names.HTTP_STATUS] = int(m.group(1))
        return rec


LLAMA_SWAP = LlamaSwap()
