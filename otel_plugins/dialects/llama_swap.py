"""llama-swap, the model-swapping proxy in front of llama-server.

- old access log: `[llama-swap] ::1 [2025-03-20 11:27:15] "GET / HTTP/1.1" 200 390 "curl/8.5.0" 11.05µs`;
- new: `[INFO] Request 172.28.0.1 "POST /v1/chat/completions HTTP/1.1" 200 781 "UA" 17.09s`
  (users redact the client: `[INFO] Request [IP where ...] "GET ..."`, kept as printed);
- its own health check of the upstream: `!!! Health check error: status code: 503` is kind
  HTTP with only the status and `llama.health_check: True` (no client, no path); newer builds
  name the URL (`<model> Health check error on http://localhost:5805/health, status code: 503`,
  `Connection refused on http://127.0.0.1:8001/health, retrying in 725s` while it starts);
  `[INFO] <model> Health check passed on http://...` marks the upstream READY;
- `[DEBUG] <model> swapState() State transitioned from starting to ready`;
- `[LEVEL] message` for the rest (the same bracket shape GPUStack's start script uses:
  `[INFO] Starting gpustack.` gets producer and dialect gpustack from the lifecycle rules).
"""

from __future__ import annotations

from otel_plugins import names
from otel_plugins.record import Event, Kind

from ._common import GO_DURATION, HEALTH_CHECK, HTTP_VERSION, ISO_TIME, LOG_TIME, RESPONSE_SIZE, URL_FULL, URL_QUERY
from .lifecycle import WORD_MESSAGE, WORDS
from .llama_box import TARGET
from .shape import INT, TIME, F, Shape

_PRODUCER = "llama-swap"
_REQ = (
    r'"(?P<method>[A-Z]+) ' + TARGET + r' HTTP/(?P<version>[\d.]+)" (?P<status>\d{3}) (?:-1|(?P<size>-?\d+))'
    r' "(?P<agent>(?:[^"\\]|\\.)*)" (?P<took>\S+)\s*'
)
_ACCESS = (
    F("method", names.HTTP_METHOD), F("path", names.URL_PATH), F("query", URL_QUERY), F("client", names.CLIENT_ADDRESS),
    F("version", HTTP_VERSION), F("status", names.HTTP_STATUS, INT), F("size", RESPONSE_SIZE, INT), F("agent", names.USER_AGENT),
    F("took", names.REQUEST_COST_S, GO_DURATION),
)
_STAGE = ((names.HTTP_STAGE, "response"),)
_BRACKET = r"\[(?P<lvl>DEBUG|INFO|WARN|WARNING|ERROR|FATAL|PANIC)\] (?P<msg>"
_MODEL = _BRACKET + r"<(?P<model>[^>]+)> "
# The upstream's health URL in its own health-check lines, and the path in it.
_HEALTH_URL = r"(?P<url>https?://[^/\s,]+(?P<path>/[^\s,?]*)[^\s,]*)"
_HEALTH_GET = ((HEALTH_CHECK, True), (names.HTTP_METHOD, "GET"))


def _swap(name: str, pattern: str, **kw) -> Shape:
    kw.setdefault("producer", _PRODUCER)
    return Shape("llama_swap." + name, pattern, "llama-swap", message="msg", **kw)


def _model(name: str, body: str, **kw) -> Shape:
    return _swap(name, _MODEL + body + r")$", level="lvl", fields=(F("model", names.MODEL_NAME), *kw.pop("fields", ())), **kw)


LLAMA_SWAP = (
    _swap(
        "old_access", r"\[llama-swap\] (?P<msg>(?P<client>\S+) \[(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] " + _REQ + r")$",
        kind=Kind.HTTP, const=_STAGE, fields=(*_ACCESS, F("when", LOG_TIME), F("when", TIME, ISO_TIME)),
        examples=('[llama-swap] ::1 [2025-03-20 11:27:15] "GET / HTTP/1.1" 200 390 "curl/8.5.0" 11.05µs',),
    ),
    _swap(
        "request", _BRACKET + r"Request (?P<client>.+?) " + _REQ + r")$", level="lvl", kind=Kind.HTTP, const=_STAGE, fields=_ACCESS,
        examples=('[INFO] Request 172.28.0.1 "POST /v1/chat/completions HTTP/1.1" 200 781 "UA" 17.09s',),
    ),
    _model(
        "ready", r"Health check passed on (?P<url>\S+).*", kind=Kind.LIFECYCLE, event=Event.READY, fields=(F("url", URL_FULL),),
        examples=("[INFO] <qwen> Health check passed on http://localhost:5806/health",),
    ),
    _model("swap_ready", r"swapState\(\) State transitioned from \w+ to ready\b.*", kind=Kind.LIFECYCLE, event=Event.READY),
    _model("swap_starting", r"swapState\(\) State transitioned from \w+ to starting\b.*", kind=Kind.LIFECYCLE, event=Event.STARTING),
    _model(
        "swap_stopping", r"swapState\(\) State transitioned from \w+ to (?:stopping|stopped|shutdown)\b.*", kind=Kind.LIFECYCLE,
        event=Event.STOPPING, examples=("[DEBUG] <qwen> swapState() State transitioned from ready to stopping",),
    ),
    # Its own GET of the upstream's health path, failed: an HTTP answer when it names the status.
    _model(
        "health_answer", r"Health check (?:error|failed) on " + _HEALTH_URL + r",? status code: (?P<status>\d{3})\b.*",
        kind=Kind.HTTP, const=_HEALTH_GET,
        fields=(F("url", URL_FULL), F("path", names.URL_PATH), F("status", names.HTTP_STATUS, INT)),
        examples=("[DEBUG] <qwen> Health check error on http://localhost:5805/health, status code: 503 (normal during startup)",),
    ),
    _model("health_check", r"Health check (?:error|failed|timed out).*", const=((HEALTH_CHECK, True),)),
    # Its start-up health loop while the upstream does not listen yet (until `Health check passed`):
    # a probe without an answer, counting down to the start deadline.
    _swap(
        "health_refused",
        _BRACKET + r"(?:<(?P<model>[^>]+)> )?Connection refused on " + _HEALTH_URL + r", retrying in \d+s)$",
        level="lvl", kind=Kind.HTTP, const=_HEALTH_GET,
        fields=(F("model", names.MODEL_NAME), F("url", URL_FULL), F("path", names.URL_PATH)),
        examples=("[INFO] Connection refused on http://127.0.0.1:8001/health, retrying in 725s",),
    ),
    _model("child_stopped", r"Process stopped OK\b.*", kind=Kind.LIFECYCLE),
    _model("model", r".*"),
    _swap(
        "lifecycle", _BRACKET + WORD_MESSAGE + r")$", level="lvl", producer=None, default_producer=_PRODUCER, producer_names_dialect=True,
        inner=WORDS, required=True, examples=("[INFO] Starting gpustack.",),
    ),
    _swap("bracket", _BRACKET + r".*)$", level="lvl", examples=("[ERROR] llama-swap could not start the upstream",)),
    _swap(
        "health", r"!!! (?P<msg>Health check(?: error: status code: (?P<status>\d{3}))?.*)$", kind=Kind.HTTP,
        const=((HEALTH_CHECK, True),), fields=(F("status", names.HTTP_STATUS, INT),), examples=("!!! Health check error: status code: 503",),
    ),
    _swap("listening", r"(?P<msg>llama-swap .*)$", inner=WORDS, required=True, examples=("llama-swap listening on :8080",)),
)

__all__ = ["LLAMA_SWAP"]
