"""HTTP access lines that come without a level of their own, or inside another server's line.

- uvicorn's access message without its `INFO:` (loguru, Python logging and KServe print it
  after their own prefix): `192.168.10.100:58009 - "GET /api/version HTTP/1.1" 200`;
- the Common Log Format (Python's `http.server`, gunicorn, SageMaker's nginx):
  `127.0.0.1 - - [01/Mar/2024 15:50:45] "POST /v1/chat/completions HTTP/1.1" 200 -`;
- Ray Serve's replicas: `POST /v1/messages 200 3285.7ms` (after Ray Serve's own prefix; the
  route may be a method name, `POST __call__ 200 1.6ms`, which is no URL path);
- BentoML: `127.0.0.1:58786 (scheme=http,method=GET,path=/readyz,type=,length=) (status=503,...) 3.489ms`
  (its runners print the client `_` and an absolute URL).
"""

from __future__ import annotations

from otel_plugins import names
from otel_plugins.record import Kind

from ._common import HTTP_VERSION, MS_SECONDS, RESPONSE_SIZE, URL_QUERY
from .llama_box import TARGET
from .shape import INT, F, Shape

_STAGE = ((names.HTTP_STAGE, "response"),)
# The request line's client: `host:port`, `[v6]`, or a name.
UVICORN_REQUEST = (
    r"(?:(?P<client>\S+?):(?P<port>\d+)|\[(?P<host6>[^\]\s]*)\]|(?P<host>\S+?))(?: \d+)?"
    r' - "(?P<method>[A-Z]+) ' + TARGET + r' HTTP/(?P<version>[\d.]+)"'
)
UVICORN_ACCESS = UVICORN_REQUEST + r" (?P<status>\d{3})(?: .*)?"
UVICORN_REQUEST_FIELDS = (
    F("method", names.HTTP_METHOD), F("path", names.URL_PATH), F("query", URL_QUERY),
    F("client", names.CLIENT_ADDRESS), F("port", names.CLIENT_PORT, INT), F("host6", names.CLIENT_ADDRESS), F("host", names.CLIENT_ADDRESS),
    F("version", HTTP_VERSION),
)
UVICORN_FIELDS = (*UVICORN_REQUEST_FIELDS, F("status", names.HTTP_STATUS, INT))

ACCESS_BODY = Shape(
    "access.uvicorn", UVICORN_ACCESS + "$", "uvicorn", kind=Kind.HTTP, needle=" HTTP/", producer="uvicorn", fields=UVICORN_FIELDS, const=_STAGE,
    examples=('192.168.10.100:58009 - "GET /api/version HTTP/1.1" 200',),
)
COMMON_LOG = Shape(
    "access.common_log",
    r"(?P<client>[^\s\[\]]+) \S+ \S+ \[(?P<when>[^\]]+)\] \"(?P<method>[A-Z]+) " + TARGET + r" HTTP/(?P<version>[\d.]+)\" (?P<status>\d{3})"
    r"(?: (?:-|(?P<size>\d+)))?(?: \"[^\"]*\" \"(?P<agent>[^\"]*)\")?.*$",
    "access", kind=Kind.HTTP, const=_STAGE, needle=" HTTP/",
    fields=(
        F("method", names.HTTP_METHOD), F("path", names.URL_PATH), F("query", URL_QUERY), F("client", names.CLIENT_ADDRESS),
        F("version", HTTP_VERSION), F("status", names.HTTP_STATUS, INT), F("size", RESPONSE_SIZE, INT), F("agent", names.USER_AGENT),
    ),
    examples=('127.0.0.1 - - [01/Mar/2024 15:50:45] "POST /v1/chat/completions HTTP/1.1" 200 -',),
)
BENTOML_ACCESS = Shape(
    "access.bentoml",
    r"(?:_|(?P<client>[^\s(]+?)(?::(?P<port>\d+))?) \(scheme=\w+,method=(?P<method>[A-Z]+),path=(?:\w+://[^/,]*)?(?P<path>[^,?]*)(?:\?(?P<query>[^,]*))?,[^)]*\)"
    r" \(status=(?P<status>\d{3}),.*$",
    "access", kind=Kind.HTTP, producer="bentoml", const=_STAGE, needle=" (scheme=",
    fields=(
        F("method", names.HTTP_METHOD), F("path", names.URL_PATH, empty=True), F("query", URL_QUERY), F("client", names.CLIENT_ADDRESS),
        F("port", names.CLIENT_PORT, INT), F("status", names.HTTP_STATUS, INT),
    ),
    examples=("127.0.0.1:58786 (scheme=http,method=GET,path=/readyz,type=,length=) (status=503,type=text/plain; charset=utf-8,length=22) 3.489ms",),
)
ACCESS = (ACCESS_BODY, COMMON_LOG, BENTOML_ACCESS)
RAY_SERVE_ACCESS = Shape(
    "access.ray_serve", r"(?P<method>GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) (?:(?P<path>/[^\s?]*)(?:\?\S*)?|\S+) (?P<status>\d{3}) (?P<ms>\d+(?:\.\d+)?)ms$",
    "ray", kind=Kind.HTTP, producer="ray", const=_STAGE,
    fields=(F("method", names.HTTP_METHOD), F("path", names.URL_PATH), F("status", names.HTTP_STATUS, INT), F("ms", names.REQUEST_COST_S, MS_SECONDS)),
    examples=(
        "INFO 2026-08-19 18:02:15,711 app_LLMServer:qwen d2ngfytn 4493b8e2-932a-41ee-8e0f-a4b45319596d -- POST /v1/messages 200 3285.7ms",
        "INFO 2026-08-19 18:02:12,425 app_LLMRouter the5croz 4493b8e2-932a-41ee-8e0f-a4b45319596d -- POST __call__ 200 1.6ms",
    ),
)

# A message that is only a request line, the status after ` - ` once answered (Lemonade's C++
# server, after its own prefix: `GET /api/v1/models`, `GET /internal/config - 403`). Only read
# inside a format that wraps messages: a bare `GET /x` line alone says too little.
REQUEST_LINE = Shape(
    "access.request_line", r"(?P<method>GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) " + TARGET + r"(?: - (?P<status>\d{3}))?$",
    "access", kind=Kind.HTTP,
    fields=(F("method", names.HTTP_METHOD), F("path", names.URL_PATH), F("query", URL_QUERY), F("status", names.HTTP_STATUS, INT)),
    examples=("2026-05-06 21:10:13.092 [Debug] (Server) GET /internal/config - 403", "2026-05-06 21:10:24.695 [Debug] (Server) GET /api/v1/models"),
)

__all__ = ["ACCESS", "ACCESS_BODY", "BENTOML_ACCESS", "COMMON_LOG", "RAY_SERVE_ACCESS", "REQUEST_LINE", "UVICORN_ACCESS", "UVICORN_FIELDS"]
