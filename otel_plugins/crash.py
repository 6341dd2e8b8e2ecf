"""Crash dumps become one record: an abort's head line and the backtrace printed after it.

llama.cpp's `ggml_abort` prints `GGML_ASSERT(...) failed` on stderr, then runs gdb,
whose `[New LWP ...]`, `#N 0x... in fn () from lib` and `[Inferior 1 (process N)
detached]` arrive on stdout, so parts come from both streams in either order. The
dialects mark each part (`llama.crash.part` = head | backtrace); this stage folds
them. A dump is complete at gdb's `[Inferior ... detached]`, when the process exits,
or after `quiet_s` without a new part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .classify import Classified
from .names import CRASH_PART
# gdb echoes the source line of a frame: "30\t../sysdeps/unix/sysv/linux/wait4.c: No such file".
_GDB_SOURCE_LINE = re.compile(r"^\d+\t")
_THROWN = re.compile(r"terminate called after throwing an instance of '([^']+)'")


@dataclass
class CrashDump:
    head: str | None = None
    lines: list[str] = field(default_factory=list)
    last_part_at: float = 0.0
    complete: bool = False

    @property
    def message(self) -> str:
        return self.head or (self.lines[0] if self.lines else "crash")

    @property
    def kind(self) -> str:
        """The abort kind, as `exception.type`: the C++ exception type, std::terminate,
        GGML_ASSERT or GGML_ABORT, else `abort`."""
        text = self.message
        if thrown := _THROWN.search(text):
            return thrown.group(1)
        if "terminate called" in text:
            return "std::terminate"
        for marker in ("GGML_ASSERT", "GGML_ABORT"):
            if marker in text:
                return marker
        return "abort"

    @property
    def stacktrace(self) -> str:
        return "\n".join(self.lines)


class CrashFolder:
    def __init__(self, quiet_s: float = 1.0) -> None:
        self.quiet_s = quiet_s
        self._open: CrashDump | None = None

    def take(self, classified: Classified) -> bool:
        """True if the line is part of a crash dump (and must not be emitted on its own)."""
        record = classified.record
        part = record.fields.get(CRASH_PART)
        if part is None and not (self._open is not None and _GDB_SOURCE_LINE.match(record.text)):
            return False
        dump = self._open
        if dump is None:
            dump = self._open = CrashDump()
        if part == "head" and dump.head is None:
            dump.head = record.text
        else:
            dump.lines.append(record.text)
        if record.text.startswith("[Inferior "):
            dump.complete = True
        dump.last_part_at = classified.time
        return True

    def finished(self, now: float, force: bool = False) -> CrashDump | None:
        """The open dump, if it is complete (or `force`, at exit)."""
        dump = self._open
        if dump is None:
            return None
        if force or dump.complete or now - dump.last_part_at > self.quiet_s:
            self._open = None
            return dump
        return None
