"""What wraps a producer's line on its way to us, taken off before the dialects look at it.

- ANSI colour codes, real (`\\x1b[0;36m`), pasted (`^[[0;36m`) or exported by CloudWatch
  (`#033[0;36m`), and cursor moves (`^[[C`):
  removed first (`strip_ansi`);
- journald / classic syslog: `Apr 07 15:39:08 host prog[pid]: `, its day in the host's locale
  (`2月 06`, `d’ag. 27`, `mar 12`, `06.05`);
- RFC 3339 syslog: `2026-07-28T20:08:36.626065-04:00 host prog[pid]: `;
- docker compose: `service  | `;
- a container runtime's time: `docker logs -t` (`2025-01-06T01:31:12.123550019Z `), and a
  Kubernetes node's CRI log files (`2025-01-06T01:31:12.123550019Z stdout F `);
- Python multiprocess servers: `(APIServer pid=34165) `, `(SGLangWorker pid=1107016) `, and
  torch.distributed's ranks: `[rank0]: `;
- llama-server router mode: `[42751] ` (the child instance's port);
- `journalctl -o verbose`: the entry's `    MESSAGE=` field (its other `    _FIELD=` lines are
  the dialect "journald", kind OTHER);
- Docker's time (`docker logs -t`, Docker Desktop's log view) in front of a crash's or a
  traceback's line: `2025-10-07 09:27:03   File "/x/api.py", line 418, in send`;
- LocalAI relaying its backends' output: `12:47AM DBG GRPC(model-127.0.0.1:36309): stderr `
  (the relay's level is LocalAI's, not the backend line's);
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
from .crash import CRASH_PARTS
from .regex import strip_groups
from .shape import INT, PRODUCER, TIME, Chain, Conv, F, Later, Shape

ANSI = r"(?:\x1b|\^\[|#033)\[[0-9;?]*[ -/]*[@-~]"  # real, pasted as `^[`, or CloudWatch's `#033`
ANSI_MARK = r"\x1b|\^\[|#033\["  # a line that may hold one (pipeline.py tests the same three)
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


# journalctl's day in the host's locale: `Apr 07`, `Apr  7`, `mar 12`, `d’ag. 27`, `2月 06`,
# `27 août`, `06.05` (day.month). The host may be empty.
_MONTH = r"[^\s\d:\[\]()|<>{}=\"',;]{2,6}\.?"
_LOCAL_DAY = r"(?:(?:" + _MONTH + r"|\d{1,2}月) {1,2}\d{1,2}|\d{1,2}\.? " + _MONTH + r"|\d\d\.\d\d\.?)"
_SYSLOG = (F("when", ENVELOPE_TIME), F("host", HOST_NAME), F("prog", PROCESS_NAME), F("pid", names.PID, INT))
_PROGRAM = r" (?P<host>\S*) (?P<prog>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: "

_DOCKER_TIME = r"(?P<when>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?) "
_SUPERVISOR = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \[[A-Za-z]+\] \(\w+\) "

PROCESS = _envelope(
    "process", r"\((?P<role>[A-Za-z_][\w ]*?)(?: \w+=\d+)*? ?pid=(?P<pid>\d+)\) ",
    (F("role", PROCESS_ROLE, STRIP), F("pid", names.PID, INT), F("role", PRODUCER, Conv("role_producer", _role_producer))),
    examples=('(APIServer pid=1) INFO:     127.0.0.1:5002 - "GET /health HTTP/1.1" 200 OK',),
)
ENVELOPES = (
    PROCESS,
    # torch.distributed's elastic launcher: each rank's output (a multi-GPU vLLM, SGLang or Aphrodite)
    _envelope(
        "rank", r"\[(?P<role>rank\d+)\]: ?", (F("role", PROCESS_ROLE),),
        examples=(
            '[rank0]:   File "/usr/lib/python3.11/site-packages/vllm/worker/worker.py", line 90, in load_model',
            "[rank1]:[E ProcessGroupNCCL.cpp:1153] [PG 2 Rank 1] ProcessGroupNCCL preparing to dump debug info.",
        ),
    ),
    _envelope("router", r"\[(?P<port>\d{2,5})\] ", (F("port", ROUTER_PORT, INT),), examples=("[42751] srv  log_server_r: request: GET /health 127.0.0.1 200",)),
    _envelope(
        "journald", r"(?P<when>" + _LOCAL_DAY + r" \d\d:\d\d:\d\d)" + _PROGRAM, _SYSLOG,
        examples=(
            "Apr 07 15:39:08 host llama-swap[2631815]: main: model loaded", "2月 06 10:58:20 tm-C660-G3 systemd[1]: Started Ollama Service.",
            "d’ag. 27 16:56:21 z590i systemd[1]: ollama.service: Main process exited, code=dumped, status=6/ABRT",
            "mar 12 16:09:44  ollama[1942066]: load_backend: loaded CPU backend", "06.05 13:15:31 ASTOR ollama[2690]: runtime.goexit({})",
        ),
    ),
    _envelope(
        "syslog", r"(?P<when>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))" + _PROGRAM, (*_SYSLOG, F("when", TIME, ISO_TIME)),
        examples=("2026-07-28T20:08:36.626065-04:00 host llama-server[7]: E srv  x: bad",),
    ),
    # A container runtime's own time in front of every line: `docker logs -t` (nine digits), and a
    # Kubernetes node's CRI log files, which add the stream and whether the line is whole (F) or a part (P).
    _envelope(
        "container_time", r"(?P<when>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(?:Z|[+-]\d\d:\d\d)) (?:(?:stdout|stderr) [FP] )?",
        (F("when", ENVELOPE_TIME), F("when", TIME, ISO_TIME)),
        examples=(
            "2025-01-06T01:31:12.123550019Z .......request: GET /health 127.0.0.1 503",
            '2024-05-02T10:04:11.123456789Z stdout F INFO:     10.244.0.1:51234 - "GET /health HTTP/1.1" 200 OK',
        ),
    ),
    _envelope("compose", r"(?P<name>[A-Za-z0-9][\w.-]*) +\| ", (F("name", CONTAINER_NAME),), needle=" | ", examples=('vllm-1  | INFO:     10.0.0.1:5004 - "GET /health HTTP/1.1" 200 OK',)),
    # Only in front of a crash's or a traceback's part: a date and a time also begin formats of
    # their own (Python logging, KServe's), which take their lines whole.
    Shape(
        "envelope.docker_time", _DOCKER_TIME + r"(?P<msg>.*)$", None,
        message="msg", const=((ENVELOPE, "docker_time"),), outer=(ENVELOPE,), fields=(F("when", ENVELOPE_TIME),),
        inner=Chain("docker_time.crash", CRASH_PARTS), required=True,
        guard=strip_groups(_DOCKER_TIME) + "(?:" + "|".join(strip_groups(s.pattern) for s in CRASH_PARTS) + ")",
        examples=('2025-10-07 09:27:03   File "/usr/local/lib/python3.10/dist-packages/xoscar/api.py", line 418, in __on_receive__',),
    ),
    # LocalAI relaying a backend's output at its own level (DBG): the backend's line states its own.
    _envelope(
        "relay", r"\d{1,2}:\d\d[AP]M [A-Z]{3} GRPC\([^()]*\): (?:stderr|stdout) ?", needle="GRPC(",
        examples=("12:47AM DBG GRPC(luna-ai-llama2-127.0.0.1:36309): stderr runtime.goexit()",),
    ),
    # A supervisor relaying a Python server's console at its own level (Lemonade:
    # `2026-06-09 14:01:54.604 [Info] (Process) (APIServer pid=42406)   File "..."`): only in front of
    # a process envelope, and the child's line states its own level.
    _envelope(
        "supervisor", _SUPERVISOR, needle="pid=", guard=strip_groups(_SUPERVISOR + PROCESS.pattern),
        examples=('2026-06-09 14:01:54.604 [Info] (Process) (APIServer pid=42406)   File "/x/async_llm.py", line 146, in __init__',),
    ),
    _envelope("journal_verbose", r"    MESSAGE=", examples=('    MESSAGE=[INFO] Request 192.168.88.12 "GET /ui/ HTTP/1.1" 200 482915 "Mozilla/5.0" 1.2ms',)),
)
# The other fields of a `journalctl -o verbose` entry.
JOURNAL_FIELD = Shape(
    "journald.field", r"    (?P<key>_?[A-Z][A-Z0-9_]*)=(?P<value>.*)$", "journald", tag_group="key", message="value",
    examples=("    _SYSTEMD_UNIT=llama-swap.service",),
)
# Not envelopes of their own (no fields): a pasted line's one-space indent and **bold**.
PASTED = (
    Shape("pasted.indent", r" (?P<msg>[^ \t].*)$", None, message="msg", inner=LINE),
    Shape("pasted.bold", r"\*\*(?P<msg>.+)\*\*$", None, message="msg", inner=LINE),
)

__all__ = ["ANSI", "ANSI_MARK", "ENVELOPES", "JOURNAL_FIELD", "LINE", "PASTED", "PROCESS", "strip_ansi"]
