"""`decode` and `parse_line`: bytes to text, text to Record, never raising.

parse_line's layers, in order:
1. ANSI colour codes go (only looked for when the line has `\\x1b` or `^[`);
2. envelopes go, their information kept in fields (`envelope.peel`);
3. progress dots glued to the front of the next line are counted into `leading_dots`
   (a line of dots only is a PROGRESS record of its own);
4. the dialects in `DIALECTS` order; the last (`generic`) always answers.
"""

from __future__ import annotations

from otel_plugins import names
from otel_plugins.record import Record

from . import envelope
from ._common import first_char_table
from .fastpath import fast_parse
from .content import CONTENT
from .generic import GENERIC
from .gpustack import GPUSTACK
from .llama_swap import LLAMA_SWAP
from .llamacpp_prefix import LLAMACPP_PREFIX
from .llamacpp_server import STRUCTURED
from .loading import dots_record
from .ollama import OLLAMA
from .uvicorn import UVICORN

# Full-line formats first (each owns its prefix), then llama.cpp content that can stand
# without a prefix, then the fallback. Each entry is cheap to reject: a first-character or
# substring test runs before any regex.
DIALECTS = (STRUCTURED, LLAMACPP_PREFIX, UVICORN, GPUSTACK, LLAMA_SWAP, OLLAMA, *CONTENT, GENERIC)
_TABLE, _ANY = first_char_table(DIALECTS)
_NOT_DOTS = frozenset("/\\")


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
    line = text
    if "\x1b" in line or "^[" in line:
        line = envelope.strip_ansi(line)
    if envelope.maybe(line):
        body, env, hint = envelope.peel(line)
    else:
        body, env, hint = line, None, None
    dots = 0
    if body[:1] == ".":
        rest = body.lstrip(".")
        if not rest:
            rec = dots_record(line, len(body))
            _merge(rec, env)
            return rec
        if rest[0] not in _NOT_DOTS:
            dots = len(body) - len(rest)
            body = rest
    for dialect in _TABLE.get(body[:1], _ANY):
        rec = dialect(body)
        if rec is not None:
            break
    rec.text = line
    if env:
        _merge(rec, env)
    if hint is not None and rec.producer in (None, "uvicorn"):
        rec.producer = hint
    if dots:
        rec.leading_dots = dots
        rec.fields[names.LOAD_DOTS] = dots
    return rec


def _merge(rec: Record, env: dict | None) -> None:
    if not env:
        return
    when = env.pop("_time", None)
    for key, value in env.items():
        rec.fields.setdefault(key, value)
    if when is not None and rec.time_unix is None:
        rec.time_unix = when
