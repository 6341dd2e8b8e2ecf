"""LM Studio's server, in the lines its log prints without a level of their own.

Its `[ERROR]` header sits on the line before (`2025-05-03 06:10:25 [ERROR] `, `pylog.py`'s), so
the message lines are read by what they say: a request it received, a request to an endpoint it
does not serve, a request whose JSON it cannot read. Its bracketed `[INFO] [LM STUDIO SERVER] ...`
lines are `pylog.py`'s.
"""

from __future__ import annotations

from otel_plugins import names
from otel_plugins.record import Kind, Severity

from ._common import URL_QUERY
from .llama_box import TARGET
from .shape import F, Shape


def _error(name: str, pattern: str, **kw) -> Shape:
    return Shape("lmstudio." + name, pattern, "lm-studio", kind=Kind.ERROR, severity=Severity.ERROR, producer="lm-studio", **kw)


LMSTUDIO = (
    # A request as its `[DEBUG]` entry's message line (indented by one blank): no client, no status.
    Shape(
        "lmstudio.request", r"\s*Received request: (?P<method>[A-Z]+) to " + TARGET + r"\s*$", "lm-studio", kind=Kind.HTTP, producer="lm-studio",
        fields=(F("method", names.HTTP_METHOD), F("path", names.URL_PATH), F("query", URL_QUERY)),
        examples=(" Received request: GET to /api/v0/models",),
    ),
    _error("unexpected_endpoint", r"Unexpected endpoint or method\. \([A-Z]+ [^)\s]*\)\. Returning 200 anyway.*$", examples=("Unexpected endpoint or method. (GET /slots). Returning 200 anyway",)),
    _error(
        "invalid_request", r"\[LM STUDIO SERVER\] (?P<msg>Received request for \S+ with invalid JSON.*)$", message="msg", tag="LM STUDIO SERVER",
        examples=("[LM STUDIO SERVER] Received request for /api/v1/chat with invalid JSON: Expected ',' or ']' after array element in JSON at position 150 (line 6 column 5)",),
    ),
)

__all__ = ["LMSTUDIO"]
