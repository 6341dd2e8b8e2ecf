"""Log dialect parsers: one line of text in, one `Record` out.

Pure functions of the line: no I/O, no state, no policy (a dialect never decides that a
request is a probe; it reports Kind.HTTP and the policy decides). `parse_line` never raises.

    from otel_plugins.dialects import decode, parse_line
    rec = parse_line(decode(b"0.30.031.579 I srv       log_server_response: rid  | GET /v1/models 127.0.0.1:13788 | status 503 | cost 28.33s\\n"))
    rec.kind, rec.status, rec.fields["llama.request.id"]   # Kind.HTTP, 503, ""
"""

from __future__ import annotations

from .pipeline import DIALECTS, decode, parse_line

__all__ = ["DIALECTS", "decode", "parse_line"]
