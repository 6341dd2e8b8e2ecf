"""What follows a llama.cpp prefix (or stands alone when the producer prints none).

The same message can arrive as `load_tensors: ...`, `0.00.167.597 I load_tensors: ...`,
`[2025-05-15 16:41:00.460014] I load_tensors: ...` or inside a journald envelope, so the
content dialects are one ordered tuple used both by `parse_line` (bare lines) and by the
prefix dialect (after it has taken the clock and the level off).
"""

from __future__ import annotations

from otel_plugins.record import Record

from ._common import first_char_table, kind_for, new, split_tag
from .crash import CRASH
from .generic import content_record, infer_severity
from .lifecycle import LIFECYCLE
from .llama_box import LLAMA_BOX
from .llamacpp_server import UPSTREAM_REQUEST
from .loading import LOADING
from .rpc import RPC

CONTENT = (LLAMA_BOX, UPSTREAM_REQUEST, LOADING, RPC, LIFECYCLE, CRASH)
_TABLE, _ANY = first_char_table(CONTENT)


def parse_content(text: str) -> Record:
    """The message after a prefix: a content dialect's record, or a generic llama.cpp one."""
    for dialect in _TABLE.get(text[:1], _ANY):
        rec = dialect(text)
        if rec is not None:
            return rec
    parts = split_tag(text)
    if parts is not None:
        return content_record(text, parts[1], parts[2])
    sev = infer_severity(text)
    return new(text, "llama.cpp", kind=kind_for(sev), severity=sev, message=text)
