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

from otel_plugins import names
from otel_plugins.record import Kind

from ._common import EXCEPTION_MESSAGE, MS_SECONDS, URL_QUERY
from .shape import FLOAT, INT, F, Shape

_PRODUCER = "llama-box"
# The request target, split at the first `?`; the client `host:port`, IPv6 in brackets.
TARGET = r"(?P<path>[^\s?]+)(?:\?(?P<query>\S*))?"
_CLIENT = r"(?:\[(?P<host6>[^\s\]]*)\]|(?P<host>\S+)):(?P<port>\d+)"
_REQUEST = (
    F("rid", names.REQUEST_ID, empty=True),
    F("method", names.HTTP_METHOD),
    F("path", names.URL_PATH),
    F("query", URL_QUERY),
    F("host6", names.CLIENT_ADDRESS),
    F("host", names.CLIENT_ADDRESS),
    F("port", names.CLIENT_PORT, INT),
)
_RESPONSE = (*_REQUEST, F("status", names.HTTP_STATUS, INT))
_V1_COST = r"(?: \| status (?P<status>\d+) \| cost (?P<cost>-?\d+(?:\.\d+)?)s)?"
_V2_COST = r" \| status (?P<status>\d+) \| cost (?:(?P<ms>-?\d+(?:\.\d+)?)ms|(?P<s>-?\d+(?:\.\d+)?)s)"
_V1_FIELDS = (*_RESPONSE, F("cost", names.REQUEST_COST_S, FLOAT))
_V2_FIELDS = (*_RESPONSE, F("ms", names.REQUEST_COST_S, MS_SECONDS), F("s", names.REQUEST_COST_S, FLOAT))


def _box(name: str, pattern: str, stage: str, fields: tuple, kind: Kind = Kind.HTTP, **kw) -> Shape:
    const = ((names.HTTP_STAGE, stage),) if stage else ()
    return Shape(
        "llama_box." + name, "srv +" + pattern, "llama-box", kind=kind, producer=_PRODUCER, tag_group="tag", message="msg",
        const=const, fields=fields, **kw,
    )


LLAMA_BOX = (
    _box(
        "v1_request", r"(?P<tag>log_server_request): (?P<msg>rid (?P<rid>\S*) \| (?P<method>[A-Z]+) " + TARGET + " " + _CLIENT + _V1_COST + r")\s*$",
        "request", _V1_FIELDS, examples=("srv        log_server_request: rid 86116693555 | POST /v1/chat/completions 192.168.50.13:51794",),
    ),
    _box(
        "v1_response", r"(?P<tag>log_server_response): (?P<msg>rid (?P<rid>\S*) \| (?P<method>[A-Z]+) " + TARGET + " " + _CLIENT + _V1_COST + r")\s*$",
        "response", _V1_FIELDS,
        examples=("srv       log_server_response: rid  | GET /v1/models 127.0.0.1:60838 | status 503 | cost 28.33s",),
    ),
    _box(
        "v2_response",
        r"(?P<tag>response): (?P<msg>rid (?P<rid>\S*) \| +(?P<method>[A-Z]+) " + TARGET + " " + _CLIENT
        + r"(?:" + _V2_COST + r"(?: \| (?P<tail>\s*(?:(?P<conn>opened|closed)|(?P<exc>.*?))\s*))?)?)\s*$",
        "response", (*_V2_FIELDS, F("conn", names.CONNECTION), F("exc", EXCEPTION_MESSAGE)),
        examples=("srv                  response: rid 77 |  GET /health 10.0.0.1:40003 | status 200 | cost 0.12ms | closed",),
    ),
    _box(
        "v2_request_exception",
        r"(?P<tag>request|exception): (?P<msg>rid (?P<rid>\S*) \| +(?P<method>[A-Z]+) " + TARGET + " " + _CLIENT
        + r"(?:" + _V2_COST + r"(?: \| (?P<tail>\s*(?P<exc>.*?)\s*))?)?)\s*$",
        "", (*_V2_FIELDS, F("exc", EXCEPTION_MESSAGE), F("tag", names.HTTP_STAGE)),
        examples=("srv                   request: rid 78 |  GET /health 10.0.0.1:40005",),
    ),
    # v1: `rid %s | exception = %s`, whatever function logs it.
    _box(
        "v1_exception", r"(?P<tag>\S+): (?P<msg>rid (?P<rid>\S*) \| exception = (?P<exc>.*))$", "exception",
        (F("rid", names.REQUEST_ID, empty=True), F("exc", EXCEPTION_MESSAGE, empty=True)),
    ),
    _box("rid", r"(?P<tag>\S+): (?P<msg>rid (?P<rid>\S*) \| .*)$", "", (F("rid", names.REQUEST_ID, empty=True),), kind=Kind.OTHER),
)

__all__ = ["LLAMA_BOX", "TARGET"]
