"""Go's structured console formats: zerolog's (LocalAI) and logfmt (`key=value` only, any order).

    4:31PM INF HTTP request method=GET path=/readyz status=200
    9:53AM INF Success ip=127.0.0.1 latency="43.604µs" method=GET status=200 url=/readyz
    level=info ts=2025-01-01T10:00:00Z caller=main.go:12 msg="server listening" addr=:8080

zerolog prints a time, a three-letter level, the message, then the event's fields; LocalAI puts
the backend it speaks of in brackets before the message (`[llama-cpp] Loads OK`): the tag. A line
whose fields say method, path (or url) and status is an access line; the rest keeps its
level, and a message may be a lifecycle marker. ollama's slog lines (`time=` first) are
`ollama.py`'s. Go's standard `log` lines (a date, the source file, the message) are here too.
"""

from __future__ import annotations

from otel_plugins import names
from otel_plugins.record import Kind

from ._common import LOG_TIME
from .lifecycle import TAGGED, WORDS
from .message import MESSAGE
from .objects import DIGITS, PRESENT, TARGET, WHOLE, Case, Key, ObjectShape
from .shape import F, Shape

_HTTP = ((names.HTTP_STAGE, "response"),)
_STATUS = Key("status", names.HTTP_STATUS, WHOLE)
_CLIENT = Key("ip", names.CLIENT_ADDRESS)
# An access line, whichever key names the target.
ACCESS_CASES = tuple(
    Case((("method", PRESENT), (target, PRESENT), ("status", DIGITS)), Kind.HTTP, keys=(Key("method", names.HTTP_METHOD), Key(target, TARGET), _STATUS, _CLIENT), const=_HTTP)
    for target in ("path", "url", "uri")
)

ZEROLOG = ObjectShape(
    "logfmt.zerolog", "logfmt",
    head=Shape(
        "logfmt.zerolog.head",
        r"(?:(?P<time>\d{1,2}:\d\d(?:AM|PM)) )?(?P<level>TRC|DBG|INF|WRN|ERR|FTL|PNC) (?:\[(?P<tag>[\w.-]+)\] )?(?P<msg>.*?)(?: (?P<kv>\w+=.*))?$",
    ),
    level="level", tag="tag", message="msg", cases=ACCESS_CASES, inner=(WORDS,),
    examples=("4:31PM INF HTTP request method=GET path=/readyz status=200", "9:53AM INF Success ip=127.0.0.1 latency=\"43.604µs\" method=GET status=200 url=/readyz"),
)
LOGFMT = ObjectShape(
    "logfmt", "logfmt",
    head=Shape("logfmt.head", r"(?P<kv>(?:[\w.]+=(?:\"(?:[^\"\\]|\\.)*\"|\S*)(?: +|$))*(?:level|lvl)=\w+ (?:[\w.]+=(?:\"(?:[^\"\\]|\\.)*\"|\S*)(?: +|$))+)$"),
    needles=("level=", "lvl="), level=("level", "lvl"), message=("msg", "message"), cases=ACCESS_CASES, inner=(TAGGED, WORDS),
    examples=('level=info ts=2025-01-01T10:00:00Z caller=main.go:12 msg="server listening" addr=:8080',),
)
# Go's standard `log` package: `2023/12/24 23:48:35 llama.go:525: llama runner stopped successfully`.
GO_LOG = Shape(
    "golog", r"(?P<when>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d)(?:\.\d+)? (?:(?P<src>[\w./-]+\.go:\d+): )?(?P<msg>.*)$", "golog",
    tag_group="src", message="msg", inner=MESSAGE, fields=(F("when", LOG_TIME),),
    examples=("2023/12/24 23:48:35 llama.go:525: llama runner stopped successfully",),
)
LOGFMTS = (ZEROLOG, LOGFMT, GO_LOG)

__all__ = ["ACCESS_CASES", "LOGFMT", "LOGFMTS", "ZEROLOG"]
