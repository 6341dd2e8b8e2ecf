"""`decode` and `parse_line`: bytes to text, text to Record, never raising.

parse_line's layers, in order:
1. the fast path for the lines that come in storms (`fastpath.match_hot`);
2. ANSI colour codes go (only looked for when the line has `\\x1b`, `^[` or `#033[`);
3. `LINE`: envelopes (each hands the rest of the line to `LINE` again, so they nest),
   progress dots alone or glued to the front of the next line, then `DIALECTS` in order;
   the last (`other`) always answers;
4. `failures.mark`: words that say a process died make any line an ERROR.
"""

from __future__ import annotations

from typing import Any

from otel_plugins import names
from otel_plugins.record import Record

from .content import CONTENT_DIALECTS
from . import envelope, failures
from .envelope import ENVELOPES, JOURNAL_FIELD, PASTED, PROCESS, strip_ansi
from .fastpath import fast_parse
from .access import ACCESS
from .generic import CHROMIUM, FALLBACK, LEVELS_FIRST
from .glog import GLOG
from .kubernetes import KUBERNETES
from .jsonlog import JSON_LOG
from .logfmt import LOGFMTS
from .pylog import PYLOG
from .tracing import TRACING
from .gpustack import GPUSTACK
from .llama_swap import LLAMA_SWAP
from .llamacpp_prefix import LLAMACPP_PREFIX
from .llamacpp_server import STRUCTURED
from .lmstudio import LMSTUDIO
from .loading import DOTS_ONLY, PROGRESS_BAR
from .ollama import OLLAMA
from .prefixed import behind
from .objects import ObjectShape
from .shape import DOTS, LEN, Chain, F, Later, Shape
from .systemd import SYSTEMD
from .uvicorn import UVICORN

# Full-line formats first (each owns its prefix), then llama.cpp content that can stand
# without a prefix, then the fallbacks. Each shape is only tried for the first characters
# it can start with.
_FORMATS = (
    *STRUCTURED, JSON_LOG, *LLAMACPP_PREFIX, GPUSTACK, *PYLOG, *UVICORN, *LLAMA_SWAP, *OLLAMA, *LOGFMTS, *TRACING, *GLOG,
    *ACCESS, *LMSTUDIO, *KUBERNETES, *SYSTEMD, *CONTENT_DIALECTS,
)
# Behind an unknown prefix, a Python server's process envelope too: a supervisor re-printing a
# vLLM's console (`... [Info] (Process) (APIServer pid=42406)   File "..."`).
DIALECTS = Chain("dialects", (*_FORMATS, *LEVELS_FIRST, behind((*_FORMATS, CHROMIUM, PROCESS)), *FALLBACK))
# Progress dots (`LLAMA_LOG_CONT`, no prefix) glued to the front of the next line.
DOTS_GLUED = Shape(
    "loading.dots_glued", r"(?P<dots>\.+)(?P<msg>[^./\\].*)$", None, message="msg", inner=DIALECTS,
    fields=(F("dots", names.LOAD_DOTS, LEN), F("dots", DOTS, LEN)), examples=("....0.03.008.559 I main: model loaded",),
)
# Rust `tracing` before the envelopes: its ERROR, DEBUG and TRACE lines have one blank after
# the time (the level is padded to five), which RFC 3339 syslog would read as host `ERROR`
# and program `target`. A syslog line never matches tracing (its time has an offset, then a host).
LINE = envelope.LINE.chain = Chain(
    "line", (*TRACING, *ENVELOPES, *PASTED, JOURNAL_FIELD, DOTS_ONLY, PROGRESS_BAR, DOTS_GLUED, DIALECTS)
)


def decode(raw: bytes) -> str:
    """UTF-8 with surrogate escapes (so `decode(raw).encode("utf-8", "surrogateescape") == raw`
    for the line), without one trailing `\\n` and then one `\\r`."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return raw.decode("utf-8", "surrogateescape")


def parse_line(text: str) -> Record:
    """One line (no line ending) to a Record. Never raises: an unparseable line is "other"."""
    try:
        return fast_parse(text) or _parse(text)
    except Exception:  # a parser bug must not lose the line or reach the wrapped server
        return Record(text=text, dialect="other", message=text)


def _parse(text: str) -> Record:
    line = strip_ansi(text) if ("\x1b" in text or "^[" in text or "#033[" in text) else text
    rec = LINE.parse(line)
    rec.text = line
    return failures.mark(rec)


def all_shapes() -> list[Shape | ObjectShape]:
    """Every shape and rule the line chain can reach."""
    seen: dict[int, Any] = {}

    def visit(item: Any) -> None:
        if id(item) in seen:
            return
        seen[id(item)] = item
        inner = getattr(item, "inner", None)
        for sub in inner if isinstance(inner, tuple) else (inner,):
            sub = sub.chain if isinstance(sub, Later) else sub
            for shape in sub.shapes if sub is not None else ():
                visit(shape)

    for shape in (*LINE.shapes, *(rule for _words, rule in failures.FAILURES)):
        visit(shape)
    return [s for s in seen.values() if isinstance(s, (Shape, ObjectShape))]
