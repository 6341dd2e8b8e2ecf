"""A JSON object per line that carries another line in its message: pino (`{"level":50,
"msg":"time=... level=ERROR ..."}`, Msty re-printing ollama), llama.cpp 0.3.36's
`--log-jsonl` (`{"type":"log","time":6802,"level":"info","msg":"srv    load_model: ...\\n"}`)
and Rust `tracing`'s JSON format (`{"timestamp":...,"level":"INFO","fields":{"message":...},
"target":...}`).

The level is the object's (a word, or pino's number); the message is parsed again, as
ollama's, Rust's or llama.cpp's content (the 2024 llama.cpp objects with a `function` key
are `llamacpp_server.JSON`'s).
"""

from __future__ import annotations

from .content import CONTENT
from .objects import ObjectShape
from .ollama import OLLAMA
from .shape import Chain
from .tracing import TRACING

_MESSAGE = ("msg", "message", "fields.message")
JSON_LINE = Chain("json.message", (*OLLAMA, *TRACING, *CONTENT.items))

JSON_LOG = ObjectShape(
    "json.log", "json", needles=('"msg"', '"message"'), any_of=_MESSAGE,
    level="level", tag="target", message=_MESSAGE, time=("time", "timestamp"), wrap=JSON_LINE,
    examples=(
        '{"type":"log","time":6802,"level":"info","msg":"srv    load_model: loading model \'/models/x.gguf\'\\n"}',
        '{"level":30,"time":1752516972752,"pid":10104,"hostname":"Ryzen7","msg":"[GIN] 2025/07/14 - 19:16:12 | 500 |    1.5308332s |       127.0.0.1 | POST     \\"/api/chat\\"\\n"}',
    ),
)

__all__ = ["JSON_LINE", "JSON_LOG"]
