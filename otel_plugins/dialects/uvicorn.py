"""uvicorn and the Python servers that run on it: vLLM, SGLang, KServe.

- uvicorn default: `INFO:     10.101.56.92:49632 - "GET /health HTTP/1.1" 200 OK` and
  `INFO:     Application startup complete.` (uvicorn pads `INFO:` to 9 columns, so a
  message after one space only, `WARNING: Host ...`, is someone else's unless it is an
  access or lifecycle line);
- SGLang wraps every line in `[YYYY-MM-DD HH:MM:SS] ` or `[YYYY-MM-DD HH:MM:SS TP0] `
  (older: `[HH:MM:SS TP0] `) and states no level of its own;
- vLLM: `INFO 05-06 21:00:52 [api_server.py:602] message` (older without the `[`), the
  year is not printed so the time stays in `llama.log.time` only;
- KServe: `2025-05-14 17:45:10.901 uvicorn.access INFO:     127.0.0.1:42226 1647689 - "POST ..."`
  and `2025-05-14 17:45:10.901 1647689 kserve.trace message`.
The `(APIServer pid=1) ` process prefix is an envelope, removed before these run.
"""

from __future__ import annotations

from otel_plugins import names
from otel_plugins.record import Kind

from ._common import ISO_TIME, LOG_TIME
from .access import (
    UVICORN_ACCESS,
    UVICORN_FIELDS,
    UVICORN_REQUEST,
    UVICORN_REQUEST_FIELDS,
)
from .lifecycle import WORD_MESSAGE, WORDS
from .shape import INT, TIME, Chain, F, Shape

_LEVEL = r"(?P<lvl>INFO|WARNING|ERROR|DEBUG|CRITICAL|TRACE):"
_ACCESS = "(?P<msg>" + UVICORN_ACCESS + ")$"


def _uv(name: str, pattern: str, **kw) -> Shape:
    kw.setdefault("producer", "uvicorn")
    return Shape("uvicorn." + name, pattern, "uvicorn", level="lvl", message="msg", **kw)


# uvicorn pads `INFO:` to 9 columns; rich-styled consoles drop the colon (`INFO   10.42.0.1:43976 - ...`).
ACCESS = _uv(
    "access", _LEVEL + r"?\s+" + _ACCESS, kind=Kind.HTTP, fields=UVICORN_FIELDS, const=((names.HTTP_STAGE, "response"),),
    examples=('INFO:     10.101.56.92:49632 - "GET /health HTTP/1.1" 200 OK',),
)
# SGLang prints a request's line when it arrives, without a status: `... - "POST /v1/completions HTTP/1.1"`.
REQUEST = _uv(
    "request", _LEVEL + r"?\s+(?P<msg>" + UVICORN_REQUEST + ")$", kind=Kind.HTTP, fields=UVICORN_REQUEST_FIELDS,
    const=((names.HTTP_STAGE, "request"),), examples=('INFO:     127.0.0.1:37560 - "POST /v1/completions HTTP/1.1"',),
)
LIFECYCLE = _uv("lifecycle", _LEVEL + r"\s+(?P<msg>" + WORD_MESSAGE + ")$", inner=WORDS, required=True, examples=("INFO:     Application startup complete.",))
# uvicorn pads the level to 9 columns; inside SGLang's and KServe's prefixes any spacing goes.
PLAIN = _uv("plain", _LEVEL + r"\s\s+(?P<msg>.*)$", examples=("WARNING:  something to note",))
LOOSE = _uv("loose", _LEVEL + r"\s+(?P<msg>.*)$")
VLLM = Shape(
    "uvicorn.vllm",
    r"(?P<lvl>DEBUG|INFO|WARNING|ERROR|CRITICAL) (?P<when>\d\d-\d\d \d\d:\d\d:\d\d)(?:\.\d+)? \[?(?P<src>[\w.\-]+?)(?::\d+)?\] (?P<msg>.*)$",
    "uvicorn", level="lvl", producer="vllm", tag_group="src", message="msg", fields=(F("when", LOG_TIME),), inner=WORDS,
    examples=("INFO 05-06 21:00:52 [api_server.py:602] Starting vLLM server on http://0.0.0.0:8000",),
)
_INNER = (ACCESS, REQUEST, LIFECYCLE, LOOSE)
SGLANG = Shape(
    "uvicorn.sglang", r"\[(?P<when>(?:\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d)(?: (?P<rank>[A-Za-z][^\]]*))?\] (?P<msg>.*)$", "uvicorn",
    producer="sglang", tag_group="rank", message="msg", fields=(F("when", LOG_TIME), F("when", TIME, ISO_TIME)),
    inner=Chain(
        "sglang.message",
        (*_INNER, Shape("sglang.lifecycle", WORD_MESSAGE + "$", "uvicorn", inner=WORDS, required=True), Shape("sglang.plain", r".*", "uvicorn", kind=Kind.OTHER)),
    ),
    examples=("[2025-11-30 11:18:01 TP0] Prefill batch, #new-seq: 1",),
)
KSERVE = Shape(
    "uvicorn.kserve", r"(?P<when>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) (?:(?P<pid>\d+) )?(?P<logger>[A-Za-z_][\w.]*) (?P<msg>.*)$",
    "uvicorn", producer="kserve", tag_group="logger", message="msg",
    fields=(F("pid", names.PID, INT), F("when", LOG_TIME), F("when", TIME, ISO_TIME)),
    inner=Chain("kserve.message", (*_INNER, Shape("kserve.plain", r".*", "uvicorn", kind=Kind.OTHER))),
    examples=("2025-05-14 17:45:10.901 1647689 kserve.trace Received request",),
)
UVICORN = (ACCESS, REQUEST, LIFECYCLE, PLAIN, VLLM, SGLANG, KSERVE)

__all__ = ["UVICORN"]
