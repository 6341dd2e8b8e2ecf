"""What wraps a producer's line on its way to us, taken off before the dialects look at it.

- ANSI colour codes, real (`\\x1b[0;36m`) or pasted (`^[[0;36m`), and cursor moves (`^[[C`):
  removed first (`strip_ansi`);
- journald / classic syslog: `Apr 07 15:39:08 host prog[pid]: `;
- RFC 3339 syslog: `2026-07-28T20:08:36.626065-04:00 host prog[pid]: `;
- docker compose: `service  | `;
- Python multiprocess servers: `(APIServer pid=34165) `, `(SGLangWorker pid=1107016) `;
- llama-server router mode: `[42751] ` (the child instance's port);
- LM Studio's one-space indent and a user's `**bold**` around a pasted line.
Each is a shape whose inner chain is the whole line chain again (envelopes nest: syslog
around a router prefix). The envelope's own information is kept as fields (its kind names
the outermost one); its time goes to `time_unix` only when it names a year (journald's
`Apr 07` does not) and the line inside carries none.
"""

from __future__ import annotations

import re

from otel_plugins import names

from ._common import CONTAINER_NAME, ENVELOPE, ENVELOPE_TIME, HOST_NAME, ISO_TIME, PROCESS_NAME, PROCESS_ROLE, ROUTER_PORT, STRIP
from .shape import INT, PRODUCER, TIME, Conv, F, Later, Shape

ANSI = r"(?:\x1b|\^\[)\[[0-9;?]*[ -/]*[@-~]"
_ANSI = re.compile(ANSI)
LINE = Later("line")  # what an envelope holds is a line again: the pipeline's chain
_PRODUCERS = (("sglang", "sglang"), ("vllm", "vllm"), ("apiserver", "vllm"), ("enginecore", "vllm"))


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def _role_producer(role: str) -> str | None:
    low = role.lower()
    for key, producer in _PRODUCERS:
        if key in low:
            return producer
    return None


def _envelope(name: str, pattern: str, fields: tuple = (), **kw) -> Shape:
    return Shape(
        "envelope." + name, pattern + r"(?P<msg>.*)$", None, message="msg", const=((ENVELOPE, name),), outer=(ENVELOPE,),
        fields=fields, weak_producers=frozenset((None, "uvicorn")), inner=LINE, **kw,
    )


_SYSLOG = (F("when", ENVELOPE_TIME), F("host", HOST_NAME), F("prog", PROCESS_NAME), F("pid", names.PID, INT))
_PROGRAM = r" (?P<host>\S+) (?P<prog>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: "

ENVELOPES = (
    _envelope(
        "process", r"\((?P<role>[A-Za-z_][\w ]*?)(?: \w+=\d+)*? ?pid=(?P<pid>\d+)\) ",
        (F("role", PROCESS_ROLE, STRIP), F("pid", names.PID, INT), F("role", PRODUCER, Conv("role_producer", _role_producer))),
        examples=('(APIServer pid=1) INFO:     127.0.0.1:5002 - "GET /health HTTP/1.1" 200 OK',),
    ),
    _envelope("router", r"\[(?P<port>\d{2,5})\] ", (F("port", ROUTER_PORT, INT),), examples=("[42751] srv  log_server_r: request: GET /health 127.0.0.1 200",)),
    _envelope("journald", r"(?P<when>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d)" + _PROGRAM, _SYSLOG, examples=("Apr 07 15:39:08 host llama-swap[2631815]: main: model loaded",)),
    _envelope(
        "syslog", r"(?P<when>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))" + _PROGRAM, (*_SYSLOG, F("when", TIME, ISO_TIME)),
        examples=("2026-07-28T20:08:36.626065-04:00 host llama-server[7]: E srv  x: bad",),
    ),
    _envelope("compose", r"(?P<name>[A-Za-z0-9][\w.-]*) +\| ", (F("name", CONTAINER_NAME),), needle=" | ", examples=('vllm-1  | INFO:     10.0.0.1:5004 - "GET /health HTTP/1.1" 200 OK',)),
)
# Not envelopes of their own (no fields): a pasted line's one-space indent and **bold**.
PASTED = (
    Shape("pasted.indent", r" (?P<msg>[^ \t].*)$", None, message="msg", inner=LINE),
    Shape("pasted.bold", r"\*\*(?P<msg>.+)\*\*$", None, message="msg", inner=LINE),
)

__all__ = ["ANSI", "ENVELOPES", "LINE", "PASTED", "strip_ansi"]
