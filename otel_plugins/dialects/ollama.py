"""ollama's server: the gin access log and Go's slog text lines.

- `[GIN] 2024/07/12 - 14:13:22 | 200 |  1.418235476s |       127.0.0.1 | POST     "/api/embeddings"`
- `time=2024-07-12T14:13:22.804-03:00 level=DEBUG source=sched.go:348 msg="context for request finished" k=v ...`
The embedded llama.cpp server's JSON lines belong to `llamacpp_server`.
"""

from __future__ import annotations

from otel_plugins import names
from otel_plugins.record import Kind

from ._common import GO_DURATION, ISO_TIME, LOG_TIME, UNQUOTE, URL_QUERY, epoch, unquote
from .lifecycle import WORDS
from .objects import pairs
from .shape import INT, TIME, Conv, F, Shape


def _gin_time(s: str) -> float | None:
    # `2024/07/12 - 14:13:22`
    return epoch(int(s[0:4]), int(s[5:7]), int(s[8:10]), int(s[13:15]), int(s[16:18]), int(s[19:21]))


def _model_path(rest: str) -> str | None:
    """`modelPath=...`, or a `model=` that is a path, among slog's key=value pairs."""
    found = None
    for key, value in pairs(rest, unquote).items():
        if key == "modelPath" or (key == "model" and ("/" in value or "\\" in value)):
            found = value
    return found


_RESPONSE = ((names.HTTP_STAGE, "response"),)
# slog's text handler: `time=... level=... source=file.go:12 msg=...` (source only with AddSource)
_SLOG_HEAD = r'time=(?P<when>\S+) level=(?P<lvl>\w+)(?: source=(?P<src>\S+))? msg=(?P<msg>"(?:[^"\\]|\\.)*"|\S*)'

GIN = Shape(
    "ollama.gin",
    r"\[GIN\] (?P<msg>(?P<when>\d{4}/\d\d/\d\d - \d\d:\d\d:\d\d) \| +(?P<status>\d{3}) \| +(?P<took>\S+) \| +(?P<client>\S+)"
    r' \| +(?P<method>[A-Z]+) +"(?P<path>[^"?]*)(?:\?(?P<query>[^"]*))?".*)$',
    "ollama", kind=Kind.HTTP, producer="ollama", tag="GIN", message="msg", const=_RESPONSE,
    fields=(
        F("method", names.HTTP_METHOD), F("path", names.URL_PATH, empty=True), F("query", URL_QUERY), F("client", names.CLIENT_ADDRESS),
        F("status", names.HTTP_STATUS, INT), F("took", names.REQUEST_COST_S, GO_DURATION),
        F("when", LOG_TIME), F("when", TIME, Conv("gin_time", _gin_time)),
    ),
    examples=('[GIN] 2024/07/12 - 14:13:22 | 200 |  1.418235476s |       127.0.0.1 | POST     "/api/embeddings"',),
)
SLOG = Shape(
    "ollama.slog", _SLOG_HEAD + r"(?P<rest>.*)$",
    "ollama", level="lvl", producer="ollama", tag_group="src", message="msg", message_conv=UNQUOTE, inner=WORDS,
    fields=(
        F("rest", names.MODEL_PATH, Conv("slog_model_path", _model_path)),
        F("when", LOG_TIME), F("when", TIME, ISO_TIME),
    ),
    examples=('time=2024-07-12T14:13:22.804-03:00 level=DEBUG source=sched.go:348 msg="context for request finished"',),
)
# slog's `http` group on a request the server answered (ollama's desktop app, 2025: `msg=site.serveHTTP
# http.method=GET http.path=/api/v1/me http.pattern="GET /api/v1/me" http.status=200 http.d=247.4702ms`).
SLOG_HTTP = Shape(
    "ollama.slog_http",
    _SLOG_HEAD + r'(?: \S+)*? http\.method=(?P<method>[A-Z]+) http\.path=(?P<path>[^\s"?]*)(?:\?(?P<query>\S*))?'
    r'.*? http\.status=(?P<status>\d{3})(?: http\.d=(?P<took>\S+))?(?: .*)?$',
    "ollama", kind=Kind.HTTP, level="lvl", producer="ollama", tag_group="src", message="msg", message_conv=UNQUOTE,
    const=_RESPONSE, needle="http.status=",
    fields=(
        F("method", names.HTTP_METHOD), F("path", names.URL_PATH, empty=True), F("query", URL_QUERY),
        F("status", names.HTTP_STATUS, INT), F("took", names.REQUEST_COST_S, GO_DURATION),
        F("when", LOG_TIME), F("when", TIME, ISO_TIME),
    ),
    examples=(
        'time=2025-10-13T17:45:51.096+08:00 level=INFO source=ui.go:171 msg=site.serveHTTP http.method=GET http.path=/api/v1/me '
        'http.pattern="GET /api/v1/me" http.status=200 http.d=247.4702ms request_id=1760348750848631800 version=0.12.5',
    ),
)
OLLAMA = (GIN, SLOG_HTTP, SLOG)

__all__ = ["OLLAMA"]
