"""What follows a llama.cpp prefix (or stands alone when the producer prints none).

The same message can arrive as `load_tensors: ...`, `0.00.167.597 I load_tensors: ...`,
`[2025-05-15 16:41:00.460014] I load_tensors: ...` or inside a journald envelope, so the
content dialects are one ordered tuple used both by the top-level chain (bare lines) and by
the prefix dialect (after it has taken the clock and the level off: `CONTENT`, which ends
in a fallback that always answers).
"""

from __future__ import annotations

from otel_plugins.record import Severity

from .crash import CRASH_PARTS
from .generic import ERROR_WORDS, TAG_SHAPES
from .lifecycle import LIFECYCLE
from .llama_box import LLAMA_BOX
from .llamacpp_server import UPSTREAM_REQUEST
from .loading import LOADING
from .rpc import RPC
from .shape import Chain, Shape

CONTENT_DIALECTS = (*LLAMA_BOX, UPSTREAM_REQUEST, *LOADING, *RPC, *LIFECYCLE, *CRASH_PARTS)
CONTENT = Chain(
    "content",
    (
        *CONTENT_DIALECTS,
        *TAG_SHAPES,
        Shape("content.error", ERROR_WORDS + ".*", "llama.cpp", severity=Severity.ERROR, words=("err", "fail", "unable", "memory", "abort")),
        Shape("content.plain", r".*", "llama.cpp"),
    ),
)

__all__ = ["CONTENT", "CONTENT_DIALECTS"]
