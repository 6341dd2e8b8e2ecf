"""Crash dumps become one record: an abort's head line and the backtrace printed after it.

llama.cpp's `ggml_abort` prints `GGML_ASSERT(...) failed` on stderr, then runs gdb,
whose `[New LWP ...]`, `#N 0x... in fn () from lib` and `[Inferior 1 (process N)
detached]` arrive on stdout, so parts come from both streams in either order. A Python
traceback (`Traceback (most recent call last):`, its frames and code lines, chained
tracebacks) ends with the exception line, `ExcType: message`. The dialects mark each part
(`llama.crash.part` = head | backtrace | exception); this stage folds them into one record
with `exception.type` and `exception.message` (the last exception line's, else the abort
kind and the head). A dump is complete at gdb's `[Inferior ... detached]`, at the first
line that is not a part (nor empty) after an exception line, at a new head after a line of
the server's own, when the process exits, or after `quiet_s` without a new part (ten seconds
once gdb speaks: it ends its dump itself, and reads symbols between frames). Lines that
say nothing alone (`_GOES_ON`, a head's rest) go on a dump only while it is open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .classify import Classified
from .names import CRASH_PART, EXCEPTION_MESSAGE, EXCEPTION_TYPE

# Lines that belong to an open dump but say nothing on their own, so no dialect claims them:
# gdb's echo of a frame's source line (`30\t../sysdeps/unix/sysv/linux/wait4.c: No such file`),
# a rule around a report (`-----`, `=====`: UCX, Open MPI's mpirun), and a Rust backtrace's
# frames (`   3: crate::module::fn`) and their places (`             at src/main.rs:4:5`), and
# any line indented four or more (the rest of a statement a traceback quotes over several lines).
_GOES_ON = re.compile(r"^(?:\d+\t|\s*[-=]{5,}\s*$|\s*\d+: \S|\s+at \S+:\d+|\s{4,}\S)")
_TRACEBACK_HEAD = "(most recent call last):"
# gdb, attached by ggml's crash handler, stops between frames to read symbols: on a loaded
# machine a second or more passes between two lines of its backtrace. Its dump ends with its
# own `[Inferior N (process P) detached]`, so it is given this long before silence ends it.
_GDB_QUIET_S = 10.0
_THROWN = re.compile(r"terminate called after throwing an instance of '([^']+)'")
# gdb's echo of a frame's source line (`30\t../sysdeps/unix/sysv/linux/wait4.c: No such file or
# directory.`) goes to stderr while its frames go to stdout, so it may arrive after `[Inferior N
# (process P) detached]` closed the dump it belongs to: alone, it is no crash of its own.
_SOURCE_ECHO = re.compile(r"\d+\t")


@dataclass
class CrashDump:
    head: str | None = None
    lines: list[str] = field(default_factory=list)
    last_part_at: float = 0.0
    complete: bool = False
    exception_type: str | None = None  # the last exception line's (a Python traceback)
    exception_message: str | None = None
    ended: bool = False  # an exception line came: the next line that is not a part closes the dump
    interrupted: bool = False  # a line of the server's own came after the last part: a new head is a new crash
    # The line after a head that ends in ':' is the rest of it (a Rust panic's message, the file an
    # Intel GPU runtime abort names): it is taken whatever it says. A traceback's head is not one:
    # its frames follow, and they are parts of their own.
    awaiting_rest: bool = False
    rest: str | None = None  # the rest of the first head, for the message
    quiet_s: float | None = None  # how long silence takes to end it, when not the folder's

    @property
    def message(self) -> str:
        if self.exception_message is not None:
            return self.exception_message
        if self.head and self.rest:
            return f"{self.head} {self.rest.strip()}"
        return self.head or (self.lines[0] if self.lines else "crash")

    @property
    def kind(self) -> str:
        """What failed, as `exception.type`: a Python exception's class, else the abort kind
        (the C++ exception type, std::terminate, GGML_ASSERT or GGML_ABORT, else `abort`)."""
        if self.exception_type is not None:
            return self.exception_type
        text = self.message
        if thrown := _THROWN.search(text):
            return thrown.group(1)
        if "terminate called" in text or "libc++abi: terminating" in text:
            return "std::terminate"
        if "' panicked at " in text:
            return "panic"
        for marker in ("GGML_ASSERT", "GGML_ABORT"):
            if marker in text:
                return marker
        return "abort"

    @property
    def stacktrace(self) -> str:
        return "\n".join([self.head, *self.lines] if self.head else self.lines)


class CrashFolder:
    def __init__(self, quiet_s: float = 1.0) -> None:
        self.quiet_s = quiet_s
        self._open: CrashDump | None = None
        self._done: list[CrashDump] = []  # complete, not yet handed out

    @property
    def open_dump(self) -> CrashDump | None:
        """The dump the last line went on, while it is being folded (a report places it by that line)."""
        return self._open

    @property
    def collecting(self) -> bool:
        """A dump is open and its next line may belong to it."""
        return self._open is not None and not self._open.complete

    def take(self, classified: Classified) -> bool:
        """True if the line is part of a crash dump (and must not be emitted on its own)."""
        record = classified.record
        part = record.fields.get(CRASH_PART)
        dump = self._open
        # An empty line (Python's around `During handling ...`), a head's rest and the lines of
        # `_GOES_ON` go on an open dump.
        goes_on = dump is not None and not dump.complete and (
            not (record.message or "").strip() or dump.awaiting_rest or _GOES_ON.match(record.message or record.text) is not None
        )
        if part is None and not goes_on:
            if dump is not None:
                dump.complete = dump.complete or dump.ended
                dump.interrupted = True
            return False
        if (dump is None or dump.complete) and _SOURCE_ECHO.match(record.text):
            return False
        # A new traceback, not a chained one; a new crash after the server went on printing.
        if dump is not None and (dump.ended or dump.interrupted) and part == "head":
            dump.complete = True
            self._done.append(dump)
            dump = None
        if dump is None:
            dump = self._open = CrashDump()
        if part == "head" and dump.head is None:
            dump.head = record.text
        else:
            if part is None and dump.awaiting_rest and not dump.lines:
                dump.rest = record.message or record.text
            dump.lines.append(record.text)
        text = record.text.rstrip()
        dump.awaiting_rest = part == "head" and text.endswith(":") and not text.endswith(_TRACEBACK_HEAD)
        if part == "exception":
            dump.exception_type = record.fields.get(EXCEPTION_TYPE) or dump.exception_type
            dump.exception_message = record.fields.get(EXCEPTION_MESSAGE, "")
            dump.ended = True
        elif part is not None:
            dump.ended = False  # a chained traceback goes on
        if record.producer == "gdb":
            dump.quiet_s = _GDB_QUIET_S
        if record.text.startswith("[Inferior "):
            dump.complete = True
        dump.last_part_at = classified.time
        return True

    def finished(self, now: float, force: bool = False) -> CrashDump | None:
        """A complete dump (the open one if complete, or `force`, at exit)."""
        if self._done:
            return self._done.pop(0)
        dump = self._open
        if dump is None:
            return None
        quiet_s = self.quiet_s if dump.quiet_s is None else dump.quiet_s
        if force or dump.complete or now - dump.last_part_at > quiet_s:
            self._open = None
            return dump
        return None
