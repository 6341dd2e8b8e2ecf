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

from otel_plugins.names import CRASH_PART
from otel_plugins.record import Event, Kind, Severity

from ._common import EXCEPTION_TYPE
from .shape import F, Shape


def head(name: str, pattern: str, producer: str | None = None, tag: str | None = None, **kw) -> Shape:
    return Shape(
        "crash." + name, pattern, "crash", kind=Kind.ERROR, severity=Severity.FATAL, event=Event.CRASH, producer=producer, tag=tag,
        const=((CRASH_PART, "head"),), **kw,
    )


def trace(name: str, pattern: str, producer: str, **kw) -> Shape:
    return Shape("crash." + name, pattern, "crash", kind=Kind.ERROR, severity=Severity.ERROR, producer=producer, const=((CRASH_PART, "backtrace"),), **kw)


CRASH = (
    head("ggml_assert", r".*GGML_ASSERT\(.*\) failed.*", "llama.cpp", "GGML_ASSERT", needle="GGML_ASSERT(", examples=("GGML_ASSERT(ctx->mem_buffer != NULL) failed",)),
    head(
        "terminate", r"terminate called (?:without an active exception|after throwing an instance of '(?P<type>[^']*)').*", "c++", "terminate",
        fields=(F("type", EXCEPTION_TYPE),), examples=("terminate called after throwing an instance of 'std::runtime_error'",),
    ),
    head("go_panic", r"(?P<tag>panic|fatal error): .*", "go", tag_group="tag", examples=("panic: runtime error: index out of range",)),
    trace("goroutine", r"goroutine \d+ \[[^\]]*\]:\s*$", "go", examples=("goroutine 40 [running]:",)),
    trace(
        "gdb_bracket",
        r"\[(?:New LWP \d+|New Thread 0x[0-9a-f]+ \(LWP \d+\)|Thread debugging using libthread_db enabled"
        r"|Inferior \d+ \(process \d+\) detached|Detaching after (?:fork|vfork) from child process \d+)\]\s*$",
        "gdb", examples=("[New LWP 1234]",),
    ),
    trace("gdb_frame", r"#\d+ +(?:0x[0-9a-f]+ in )?\S+ \(.*", "gdb", examples=("#3  0x00007f1234 in ggml_abort () from /lib/libggml.so",)),
    trace("gdb_pc", r"0x[0-9a-f]+ in \S+ \(.*", "gdb"),
    trace("gdb_libthread", r"Using host libthread_db library .*", "gdb"),
    trace("go_frame", r"\t\S+\.(?:go|s):\d+(?: \+0x[0-9a-f]+)?\s*$", "go"),
    trace("go_created_by", r"created by \S+.*", "go"),
    trace("cxx_what", r" \s*what\(\): +.*", "c++", examples=("  what():  bad things",)),
    head(
        "signal", r"(?:(?:Segmentation fault|Aborted|Bus error|Illegal instruction)(?: \(core dumped\))?\s*$|SIG[A-Z]+: .*)",
        examples=("Segmentation fault (core dumped)", "Aborted"),
    ),
    trace("backtrace_symbols", r"[/.\[A-Za-z]\S*\([^()\s]*\+0x[0-9a-f]+\) ?\[0x[0-9a-f]+\]\s*$", "llama.cpp", examples=("./libggml-base.so(+0x1234) [0x7f00deadbeef]",)),
    head("ggml_abort", r"(?:[A-Za-z]:[\w./\\-]+|[A-Za-z./][\w./\\-]*)\.(?:c|cc|cpp|cu):\d+: \S.*", "llama.cpp", "ggml_abort", examples=("/src/ggml/src/ggml-cuda/ggml-cuda.cu:75: CUDA error",)),
)

__all__ = ["CRASH"]
