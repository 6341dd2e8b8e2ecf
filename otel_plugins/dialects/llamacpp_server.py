"""Upstream llama.cpp `llama-server` request lines, in the three shapes it has used.

- text (2024 - mid 2025, also llama-cpp-python 0.3.8): `srv  log_server_r: request: GET /health 127.0.0.1 503`,
  newer `... done request: POST /v1/chat/completions ::1 400`, and older bare `request: GET /models 127.0.0.1 200`;
- 2024 JSON (`--log-format json`, also ollama's embedded server):
  `{"function":"log_server_request","level":"INFO",...,"method":"GET","path":"/health","remote_addr":...}`;
- 2024 text: `DEBUG [log_server_request] request | method="POST" ... path="/embedding" ... status=200`.

The request line is logged after the response is sent, so it carries the status: stage "response".
"""

from __future__ import annotations

from otel_plugins import names
from otel_plugins.record import Event, Kind

from ._common import URL_QUERY
from .lifecycle import TAGGED, WORDS
from .llama_box import TARGET
from .objects import DIGITS, PRESENT, WHOLE, Case, Key, ObjectShape
from .objects import TARGET as TARGET_KEY
from .shape import INT, Conv, F, Shape

_PRODUCER = "llama.cpp"

UPSTREAM_REQUEST = Shape(
    "llama_server.request",
    r"(?:srv +(?P<tag>\w+): )?(?P<msg>(?:done )?request: (?P<method>[A-Z]+) " + TARGET + r" (?P<client>\S+) (?P<status>\d{3}))\s*$",
    "llama-server", kind=Kind.HTTP, producer=_PRODUCER, tag="request", tag_group="tag", message="msg",
    const=((names.HTTP_STAGE, "response"),),
    fields=(
        F("method", names.HTTP_METHOD), F("path", names.URL_PATH), F("query", URL_QUERY),
        F("client", names.CLIENT_ADDRESS), F("status", names.HTTP_STATUS, INT),
    ),
    examples=("srv  log_server_r: request: GET /health 127.0.0.1 503", "srv  log_server_r: done request: POST /v1/chat/completions ::1 400"),
)

_NONEMPTY = Conv("nonempty", lambda v: str(v) if v else None, "")
_REQUEST_KEYS = (
    Key("method", names.HTTP_METHOD), Key("path", TARGET_KEY), Key("remote_addr", names.CLIENT_ADDRESS),
    Key("remote_port", names.CLIENT_PORT, WHOLE),
)
# What the JSON and the `LEVEL [function] msg | k=v` forms say, by key.
_CASES = (
    Case(
        (("function", "log_server_request"), ("method", PRESENT), ("path", PRESENT), ("status", DIGITS)), Kind.HTTP,
        keys=(*_REQUEST_KEYS, Key("status", names.HTTP_STATUS, WHOLE)), const=((names.HTTP_STAGE, "response"),),
    ),
    Case(
        (("function", "log_server_request"), ("method", PRESENT), ("path", PRESENT)), Kind.HTTP,
        keys=_REQUEST_KEYS, const=((names.HTTP_STAGE, "request"),),
    ),
    *(
        Case(
            (("function", "main"), (message, "HTTP server listening")), Kind.LIFECYCLE, Event.LISTENING,
            keys=(Key("hostname", names.SERVER_ADDRESS, _NONEMPTY), Key("port", names.SERVER_PORT, WHOLE)),
        )
        for message in ("msg", "message")  # 2024 builds say `msg`, 2023 builds `message`
    ),
)

JSON = ObjectShape(
    "llama_server.json", "llama-server", producer=_PRODUCER, needles=('"function"',), any_of=("function",),
    level="level", tag="function", message=("msg", "message"), time="timestamp", cases=_CASES, inner=(TAGGED, WORDS),
    examples=('{"function":"log_server_request","level":"INFO","line":2734,"method":"GET","msg":"request","params":{},"path":"/health","remote_addr":"127.0.0.1","remote_port":5003,"status":200}',),
)
OLD_TEXT = ObjectShape(
    "llama_server.text", "llama-server", producer=_PRODUCER,
    head=Shape("llama_server.text.head", r"(?P<level>DEBUG|VERB|INFO|WARN|WARNING|ERROR) \[ *(?P<function>\w+)\] (?P<msg>.*?)(?: \|(?P<kv>.*))?$"),
    level="level", tag="function", message="msg", time="timestamp", cases=_CASES, inner=(TAGGED, WORDS),
    examples=('DEBUG [log_server_request] request | method="POST" params={} path="/embedding" remote_addr="127.0.0.1" remote_port=36972 status=200 tid="1"',),
)
STRUCTURED = (JSON, OLD_TEXT)

__all__ = ["STRUCTURED", "UPSTREAM_REQUEST"]
