"""Crashes: the head line that says the process died, and the backtrace that follows.

Heads (kind ERROR, event CRASH, `llama.crash.part` "head"): `GGML_ASSERT(...) failed`,
ggml_abort's `file.c:123: message`,
`terminate called ...`, Go `panic:` / `fatal error:`, `Segmentation fault`, `Aborted`.
Backtrace lines (kind ERROR, part "backtrace", no event): gdb's `[New LWP n]`,
`[Thread debugging using libthread_db enabled]`, `Using host libthread_db library ...`,
`#3  0x... in ggml_abort () from ...`, `[Inferior 1 (process N) detached]`, glibc
`backtrace_symbols` lines, C++ `  what():  ...`, Go `goroutine 40 [running]:` and frames.
A later stage folds a head and its backtrace into one record; each line here stands alone.
Severity: FATAL for a head (the process is gone), ERROR for backtrace lines; none is stated.
"""

from __future__ import annotations

import re

from otel_plugins.names import CRASH_PART
from otel_plugins.record import Event, Kind, Record, Severity

from ._common import EXCEPTION_TYPE, new

_ASSERT = re.compile(r"(?:(?P<loc>\S+:\d+): )?GGML_ASSERT\((?P<cond>.*)\) failed")
_TERMINATE = re.compile(r"terminate called (?:without an active exception|after throwing an instance of '(?P<type>[^']*)')")
_WHAT = re.compile(r"\s+what\(\): +(?P<what>.*)")
_GO_HEAD = re.compile(r"(?:panic|fatal error): (?P<msg>.*)")
_GOROUTINE = re.compile(r"goroutine \d+ \[[^\]]*\]:\s*\Z")
_GO_FRAME = re.compile(r"\t\S+\.(?:go|s):\d+(?: \+0x[0-9a-f]+)?\s*\Z")
_CREATED_BY = re.compile(r"created by \S+")
_GDB_BRACKET = re.compile(
    r"\[(?:New LWP \d+|New Thread 0x[0-9a-f]+ \(LWP \d+\)|Thread debugging using libthread_db enabled"
    r"|Inferior \d+ \(process \d+\) detached|Detaching after (?:fork|vfork) from child process \d+)\]\s*\Z"
)
_GDB_FRAME = re.compile(r"#\d+ +(?:0x[0-9a-f]+ in )?\S+ \(")
_GDB_PC = re.compile(r"0x[0-9a-f]+ in \S+ \(")
_LIBTHREAD = re.compile(r"Using host libthread_db library ")
_BT_SYMBOLS = re.compile(r"\S+\([^()\s]*\+0x[0-9a-f]+\) ?\[0x[0-9a-f]+\]\s*\Z")
# ggml_abort(): `file:line: message`, e.g. `/src/ggml/src/ggml-cuda/ggml-cuda.cu:75: CUDA error`
_ABORT = re.compile(r"(?:[A-Za-z]:)?[\w./\\-]+\.(?:c|cc|cpp|cu):\d+: \S")
_SIGNAL_HEAD = re.compile(r"(?:Segmentation fault|Aborted|Bus error|Illegal instruction)(?: \(core dumped\))?\s*\Z|SIG[A-Z]+: ")


class Crash:
    name = "crash"
    first = None  # GGML_ASSERT can follow any source path

    def __call__(self, text: str) -> Record | None:
        first = text[:1]
        if "GGML_ASSERT(" in text:
            m = _ASSERT.search(text)
            if m is not None:
                return self._head(text, "llama.cpp", "GGML_ASSERT")
        if first == "t":
            m = _TERMINATE.match(text)
            if m is not None:
                rec = self._head(text, "c++", "terminate")
                if m.group("type"):
                    rec.fields[EXCEPTION_TYPE] = m.group("type")
                return rec
        elif first == "p" or first == "f":
            if _GO_HEAD.match(text) is not None:
                return self._head(text, "go", text.split(":", 1)[0])
        elif first == "g":
            if _GOROUTINE.match(text) is not None:
                return self._trace(text, "go")
        elif first == "[":
            if _GDB_BRACKET.match(text) is not None:
                return self._trace(text, "gdb")
        elif first == "#":
            if _GDB_FRAME.match(text) is not None:
                return self._trace(text, "gdb")
        elif first == "0":
            if _GDB_PC.match(text) is not None:
                return self._trace(text, "gdb")
        elif first == "U":
            if _LIBTHREAD.match(text) is not None:
                return self._trace(text, "gdb")
        elif first == "\t":
            if _GO_FRAME.match(text) is not None:
                return self._trace(text, "go")
        elif first == "c":
            if _CREATED_BY.match(text) is not None:
                return self._trace(text, "go")
        elif first == " ":
            if _WHAT.match(text) is not None:
                return self._trace(text, "c++")
        elif first in "SABI" and _SIGNAL_HEAD.match(text) is not None:
            return self._head(text, None, None)
        if first in "/.[" or first.isalpha():
            if "+0x" in text and _BT_SYMBOLS.match(text) is not None:
                return self._trace(text, "llama.cpp")
            if ".c" in text and ": " in text:
                m = _ABORT.match(text)
                if m is not None:
                    return self._head(text, "llama.cpp", "ggml_abort")
        return None

    def _head(self, text: str, producer: str | None, tag: str | None) -> Record:
        rec = new(text, self.name, kind=Kind.ERROR, severity=Severity.FATAL, event=Event.CRASH, producer=producer, tag=tag, message=text)
        rec.fields[CRASH_PART] = "head"
        return rec

    def _trace(self, text: str, producer: str) -> Record:
        rec = new(text, self.name, kind=Kind.ERROR, severity=Severity.ERROR, producer=producer, message=text)
        rec.fields[CRASH_PART] = "backtrace"
        return rec


CRASH = Crash()
