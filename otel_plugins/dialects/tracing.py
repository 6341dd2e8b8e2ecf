"""Rust's `tracing` default format (text-generation-inference, SGLang's router, other Rust servers).

    2024-07-22T19:57:05.908774Z  INFO shard-manager: text_generation_launcher: shard terminated rank=3
    2025-11-04 10:05:37  INFO sglang_router_rs::server: src/server.rs:830: Starting router on 0.0.0.0:30000

An RFC 3339 time, the level word, the spans (`name{field=value}:` each), the target (a module
path, lower case as Rust's are: `launcher: Download: [8/19]` is a target and its message),
optionally the source file, then the message and the event's fields (`rank=3`). The
JSON format (`{"timestamp":...,"level":"INFO","fields":{"message":...},"target":...}`) is
`objects.JSON_LOG`'s. The message goes to `MESSAGE` (TGI's shard start, ready and
termination are lifecycle markers there).
"""

from __future__ import annotations

from ._common import ISO_TIME, LOG_TIME
from .message import MESSAGE
from .shape import PRODUCER, TIME, Conv, F, Shape

_PRODUCERS = {"text_generation_launcher": "text-generation-inference", "text_generation_router": "text-generation-inference", "sglang_router_rs": "sglang"}


def _producer(target: str) -> str:
    root = target.split("::", 1)[0]
    if root.startswith("text_embeddings_"):  # its router, core and every backend crate
        return "text-embeddings-inference"
    return _PRODUCERS.get(root, root)


TRACING = (
    Shape(
        "tracing",
        r"(?P<when>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?Z?) +(?P<lvl>TRACE|DEBUG|INFO|WARN|ERROR) +"
        r"(?:(?P<spans>[\w-]+(?:\{[^}]*\})?(?::[\w-]+(?:\{[^}]*\})?)*): )?(?P<target>[a-z_]\w*(?:::\w+)*):(?: (?P<file>[\w./-]+:\d+):)? (?P<msg>.*)$",
        "tracing", level="lvl", tag_group="target", message="msg", inner=MESSAGE,
        fields=(F("target", PRODUCER, Conv("tracing_producer", _producer)), F("when", LOG_TIME), F("when", TIME, ISO_TIME)),
        examples=(
            "2024-07-22T19:57:05.908774Z  INFO shard-manager: text_generation_launcher: shard terminated rank=3",
            "2025-11-04 10:05:37  INFO sglang_router_rs::server: src/server.rs:830: Starting router on 0.0.0.0:30000",
            # ERROR, DEBUG and TRACE are five wide: one blank after the time
            "2025-04-23T03:14:07.818830Z ERROR text_embeddings_backend: backends/src/lib.rs:255: Could not start Candle backend",
        ),
    ),
)

__all__ = ["TRACING"]
