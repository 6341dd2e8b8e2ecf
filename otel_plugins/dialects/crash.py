"""Crashes: the head line that says the process died, and the backtrace that follows.

Heads (kind ERROR, event CRASH, `llama.crash.part` "head"): `GGML_ASSERT(...) failed`,
ggml_abort's `file.c:123: message`,
`terminate called ...`, Go `panic:` / `fatal error:`, `Segmentation fault`, `Aborted`.
Backtrace lines (kind ERROR, part "backtrace", no event): gdb's `[New LWP n]`,
`[Thread debugging using libthread_db enabled]`, `Using host libthread_db library ...`,
`#3  0x... in ggml_abort () from ...`, `[Inferior 1 (process N) detached]`, glibc
`backtrace_symbols` lines, C++ `  what():  ...`, Go `goroutine 40 [running]:`, frames and the
panic's `[signal ...]` line.
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
    trace(
        "goroutine", r"goroutine \d+(?: gp=\S+)?(?: m=\S+)?(?: mp=\S+)? \[[^\]]*\]:\s*$", "go",
        examples=("goroutine 40 [running]:", "goroutine 35 gp=0xc0005041c0 m=nil [GC worker (idle)]:"),
    ),
    trace(
        "gdb_bracket",
        r"\[(?:New LWP \d+|New Thread 0x[0-9a-f]+ \(LWP \d+\)|Thread debugging using libthread_db enabled"
        r"|Inferior \d+ \(process \d+\) detached|Detaching after (?:fork|vfork) from child process \d+)\]\s*$",
        "gdb", examples=("[New LWP 1234]",),
    ),
    trace("gdb_frame", r"#\d+ +(?:0x[0-9a-f]+ in )?\S+ \(.*", "gdb", examples=("#3  0x00007f1234 in ggml_abort () from /lib/libggml.so",)),
    trace("gdb_pc", r"0x[0-9a-f]+ in \S+ \(.*", "gdb"),
    trace("gdb_libthread", r"Using host libthread_db library .*", "gdb"),
    # gdb without symbols or sources: `No symbol table is loaded.`, `30\t../sysdeps/unix/sysv/linux/waitpid.c: No such file or directory.`
    trace(
        "gdb_session", r"(?:No symbol table is loaded\..*|No symbol \"[^\"]*\" in current context\.|\d+\t(?:in )?[\w./+-]+\.(?:c|cc|cpp|cxx|h|hpp|S|s)(?::.*)?)\s*$", "gdb",
        examples=('No symbol table is loaded.  Use the "file" command.',),
    ),
    # `\truntime/proc.go:435 +0xce fp=0x... sp=0x... pc=0x...` (a journal may glue the next entry on after `>`)
    trace("go_frame", r"[\t ]+\S+\.(?:go|s):\d+(?: \+0x[0-9a-f]+(?: .*)?)?\s*$", "go", examples=("        runtime/proc.go:435 +0xce fp=0xc00050af38 sp=0xc00050af18 pc=0x5604dba1e1ce",)),
    # `runtime.gopark(0x19dd1f9f31b?, 0x1?)`, `main.(*Server).run(...)`, `runtime.goexit({})`
    trace(
        "go_call", r"[\w./-]+\.(?:\(\*?\w+\)\.)?[\w.]+\((?:0x[0-9a-f]+\??|\{[^}]*\}|\.\.\.|, )*\)\s*$", "go", needle=")",
        examples=("runtime.gopark(0xc718f1d7439?, 0x0?, 0x0?, 0x0?, 0x0?)", "runtime.goexit({})"),
    ),
    trace("go_created_by", r"created by \S+.*", "go"),
    # After `panic: runtime error: ...`: `[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x...]`
    trace("go_signal", r"\[signal SIG[A-Z]+: [^\]]*\]\s*$", "go", examples=("[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x5604dba1e1ce]",)),
    trace("cxx_what", r" \s*what\(\): +.*", "c++", examples=("  what():  bad things",)),
    head(
        "signal", r"(?:(?:Segmentation fault|Aborted|Bus error|Illegal instruction)(?: \(core dumped\))?\s*$|SIG[A-Z]+: .*)",
        examples=("Segmentation fault (core dumped)", "Aborted"),
    ),
    # abseil's failure signal handler (Ray, TensorFlow): `PC: @     0x7fbb10670bba  (unknown)`
    trace("absl_frame", r"\s*(?:PC: )?@\s+0x[0-9a-f]+\s.*$", "absl", examples=("PC: @     0x7fbb10670bba  (unknown)  (unknown)",)),
    # The kernel's OOM report, line by line around the kill (`kernel: [107061.603565] 242688 pages RAM`).
    trace(
        "oom_report",
        r"(?:\[\s*\d+\.\d+\] )?(?:\d+ pages (?:RAM|HighMem/MovableOnly|reserved|cma reserved)|Tasks state \(memory values in pages\):"
        r"|\[\s*pid\s*\]\s+uid\s+tgid\s+total_vm.*|\[\s*\d+\]\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\s+-?\d+ \S.*)\s*$", "kernel",
        examples=("[107061.603565] 242688 pages RAM", "[107061.603685] [    379]     0   379    12038      852    94208        0          -250 systemd-journal"),
    ),
    trace("backtrace_symbols", r"[/.\[A-Za-z]\S*\([^()\s]*\+0x[0-9a-f]+\) ?\[0x[0-9a-f]+\]\s*$", "llama.cpp", needle="+0x", examples=("./libggml-base.so(+0x1234) [0x7f00deadbeef]",)),
    head("ggml_abort", r"(?:[A-Za-z]:[\w./\\-]+|[A-Za-z./][\w./\\-]*)\.(?:c|cc|cpp|cu):\d+: \S.*", "llama.cpp", "ggml_abort", needle=".c", examples=("/src/ggml/src/ggml-cuda/ggml-cuda.cu:75: CUDA error",)),
)

__all__ = ["CRASH"]
