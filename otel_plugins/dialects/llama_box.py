"""llama-box's own HTTP log lines (reference section 2).

v1 (v0.0.84 - v0.0.139), function names padded to 25 columns:
  `srv       log_server_response: rid  | GET /v1/models 127.0.0.1:60838 | status 503 | cost 28.33s`
  `srv        log_server_request: rid 86116693555 | POST /v1/chat/completions 192.168.50.13:51794`
  `srv ...: rid %s | exception = %s`
While the model loads the rid is empty (`rid  |`): kept as "" because it marks a probe.

v2 (v0.0.140+), method right-aligned in 4 columns, cost in ms or s:
  `srv                   request: rid %s | %4s %s %s:%d`
  `srv                  response: rid %s | %4s %s %s:%d | status %d | cost %.2f(ms|s) | (opened|closed)`
  `srv                 exception: rid %s | %4s %s %s:%d | status %d | cost %.2f(ms|s) | <message>`

Other `rid`-carrying lines (`oaicompat_completions_req: rid 86116693555 | {...}`) are not
access lines; they keep kind OTHER but carry the request id for correlation.
"""

from __future__ import annotations

import re

from otel_plugins import names
from otel_plugins.record import Kind, Record

from ._common import EXCEPTION_MESSAGE, URL_QUERY

_PRODUCER = "llama-box"
_HTTP = Kind.HTTP
# One regex per version for the whole line (one match, one groups() call on the hot path).
_V1 = re.compile(
    r"srv +(log_server_re(?:quest|sponse)): (rid (\S*) \| ([A-Z]+) (\S+) (\S+):(\d+)"
    r"(?: \| status (\d+) \| cost (-?\d+(?:\.\d+)?)s)?)\s*\Z"
)
_V2 = re.compile(
    r"srv +(request|response|exception): (rid (\S*) \| +([A-Z]+) (\S+) (\S+):(\d+)"
    r"(?: \| status (\d+) \| cost (-?\d+(?:\.\d+)?)(ms|s)(?: \| (.*))?)?)\s*\Z",
    re.S,
)
_OTHER = re.compile(r"srv +(\S+): (rid (\S*) \| (.*))\Z", re.S)
_STAGES = {
    "log_server_request": "request",
    "log_server_response": "response",
    "request": "request",
    "response": "response",
    "exception": "exception",
}


def _fields(rid: str, method: str, target: str, host: str, port: str, stage: str) -> dict:
    path, q, query = target.partition("?") if "?" in target else (target, "", "")
    if host[:1] == "[" and host[-1:] == "]":
        host = host[1:-1]
    f = {
        names.REQUEST_ID: rid,
        names.HTTP_METHOD: method,
        names.URL_PATH: path,
        names.CLIENT_ADDRESS: host,
        names.CLIENT_PORT: int(port),
        names.HTTP_STAGE: stage,
    }
    if q:
        f[URL_QUERY] = query
    return f


class LlamaBox:
    name = "llama-box"
    first = "s"

    def __call__(self, text: str) -> Record | None:
        if "rid " not in text or text[:4] != "srv ":
            return None
        m = _V1.match(text)
        if m is not None:
            tag, body, rid, method, target, host, port, status, cost = m.groups()
            f = _fields(rid, method, target, host, port, _STAGES[tag])
            if status is not None:
                f[names.HTTP_STATUS] = int(status)
                f[names.REQUEST_COST_S] = float(cost)
            return Record(text, self.name, _HTTP, producer=_PRODUCER, tag=tag, message=body, fields=f)
        m = _V2.match(text)
        if m is not None:
            tag, body, rid, method, target, host, port, status, cost, unit, tail = m.groups()
            f = _fields(rid, method, target, host, port, tag)
            if status is not None:
                f[names.HTTP_STATUS] = int(status)
                f[names.REQUEST_COST_S] = round(float(cost) / 1000.0, 9) if unit == "ms" else float(cost)
                if tail is not None:
                    tail = tail.strip()
                    if tag == "response" and tail in ("opened", "closed"):
                        f[names.CONNECTION] = tail
                    elif tail:
                        f[EXCEPTION_MESSAGE] = tail
            return Record(text, self.name, _HTTP, producer=_PRODUCER, tag=tag, message=body, fields=f)
        m = _OTHER.match(text)
        if m is None:
            return None
        tag, body, rid, rest = m.groups()
        f = {names.REQUEST_ID: rid}
        kind = Kind.OTHER
        if rest.startswith("exception = "):  # v1 exception, whatever function logs it
            kind = _HTTP
            f[names.HTTP_STAGE] = "exception"
            f[EXCEPTION_MESSAGE] = rest[12:]
        return Record(text, self.name, kind, producer=_PRODUCER, tag=tag, message=body, fields=f)


LLAMA_BOX = LlamaBox()
