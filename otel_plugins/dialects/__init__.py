"""Log dialect parsers: one line of text in, one `Record` out.

Pure functions of the line: no I/O, no state, no policy (a dialect never decides that a
request is a probe; it reports Kind.HTTP and the policy decides). `parse_line` never raises.
Each line shape is declared once (`shape.Shape`, data); the parser, the fast path and the
Collector's stanza operators (`otel_plugins.collector.stanza`) are derived from it.

    from otel_plugins.dialects import decode, match_hot, parse_line
    rec = parse_line(decode(b"0.30.031.579 I srv       log_server_response: rid  | GET /v1/models 127.0.0.1:13788 | status 503 | cost 28.33s\\n"))
    rec.kind, rec.status, rec.fields["llama.request.id"]   # Kind.HTTP, 503, ""
    hot = match_hot("INFO:     10.0.0.5:4123 - \\"GET /health HTTP/1.1\\" 200 OK")
    hot.key, hot.severity                                  # ("GET", "/health", 200, "10.0.0.5", False, None), INFO
"""

from __future__ import annotations

from .fastpath import HotMatch, match_hot
from .pipeline import DIALECTS, LINE, decode, parse_line

__all__ = ["DIALECTS", "LINE", "HotMatch", "decode", "match_hot", "parse_line"]
