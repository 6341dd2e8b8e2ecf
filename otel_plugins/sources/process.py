"""A child process and the threads that drain its pipes.

Pipes are drained continuously in chunks, whatever the telemetry downstream is doing,
so the child never waits on us; each complete line goes through `handler`, and what it
returns is written to the sink.
"""

from __future__ import annotations

import contextvars
import ctypes
import fcntl
import termios
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from typing import IO, Any

_log = logging.getLogger(__name__)
_CHUNK = 1 << 16
_PIPE_SIZE = 1 << 20
# More than this waiting in the pipe means we are falling behind the child: pass its output
# through unparsed until we catch up, rather than ever making it wait.
_SHED_AT = _PIPE_SIZE // 2
_F_SETPIPE_SZ = 1031
_PR_SET_PDEATHSIG = 1

LineHandler = Callable[[bytes], "bytes | None"]


def _die_with_parent() -> None:
    # The child must not outlive the wrapper, even when the wrapper is SIGKILLed.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


_LIBSTDBUF = ("/usr/libexec/coreutils/libstdbuf.so", "/usr/lib/coreutils/libstdbuf.so")


def line_buffered_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which a C program's stdout is line-buffered even into a pipe.

    rpc-server prints with printf: into a pipe its lines would wait in a 4 KiB buffer
    until exit. coreutils' libstdbuf (what `stdbuf -oL` preloads) fixes that.
    """
    env = dict(os.environ if env is None else env)
    library = next((p for p in _LIBSTDBUF if os.path.exists(p)), None)
    if library and library not in env.get("LD_PRELOAD", ""):
        env["LD_PRELOAD"] = f"{library} {env['LD_PRELOAD']}".strip() if env.get("LD_PRELOAD") else library
        env.setdefault("_STDBUF_O", "L")
    return env


# Set while otel-plugins itself starts a child, so that an instrumented `subprocess.Popen`
# (see otel_plugins.instrumentation) does not instrument it a second time.
spawning = contextvars.ContextVar("otel_plugins_spawning", default=False)


def die_with_parent(preexec_fn: Callable[[], Any] | None = None) -> Callable[[], None]:
    """A preexec_fn that arms the parent-death signal, then runs the caller's own."""

    def preexec() -> None:
        _die_with_parent()
        if preexec_fn is not None:
            preexec_fn()

    return preexec


def spawn(argv: Sequence[str], *, tie_to_parent: bool = True, **popen_kwargs: Any) -> subprocess.Popen:
    """Starts `argv` with its stdout and stderr as pipes.

    With `tie_to_parent`, the child is SIGKILLed if the thread that started it dies
    (Linux's parent-death signal follows the thread, so start it from a thread that
    lives as long as the child).
    """
    popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
    if tie_to_parent and sys.platform.startswith("linux"):
        popen_kwargs["preexec_fn"] = die_with_parent(popen_kwargs.get("preexec_fn"))
    # Its own session: a terminal's Ctrl-C reaches the wrapper, which forwards it once.
    popen_kwargs.setdefault("start_new_session", True)
    token = spawning.set(True)
    try:
        return subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen_kwargs)
    finally:
        spawning.reset(token)


class PipePump(threading.Thread):
    """Reads a pipe to its end; complete lines go to `handler`, its results to `sink`."""

    def __init__(self, pipe: IO[bytes], handler: LineHandler, sink: IO[bytes] | None, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.pipe = pipe
        self.handler = handler
        self.sink = sink
        self.lines = 0
        self.shed_lines = 0
        self.handler_errors = 0

    def run(self) -> None:
        fd = self.pipe.fileno()
        try:
            fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_SIZE)
        except OSError:
            pass  # a smaller pipe only means shedding starts sooner
        pending = bytearray()
        while True:
            try:
                chunk = os.read(fd, _CHUNK)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            cut = pending.rfind(b"\n") + 1
            if not cut:
                continue
            block = bytes(pending[:cut])
            del pending[:cut]
            if _waiting(fd) > _SHED_AT:
                self._shed(block)
            else:
                self._lines(block)
        if pending:
            self._lines(bytes(pending))
        try:
            self.pipe.close()
        except OSError:
            pass

    def _shed(self, block: bytes) -> None:
        self.shed_lines += block.count(b"\n")
        self._write(block)

    def _write(self, data: bytes) -> None:
        if self.sink is None:
            return
        try:
            self.sink.write(data)
            self.sink.flush()
        except (OSError, ValueError):
            pass

    def _lines(self, block: bytes) -> None:
        out = []
        parts = block.split(b"\n")
        tail = parts.pop()  # empty when the block ends with a newline
        lines = [part + b"\n" for part in parts]
        if tail:
            lines.append(tail)
        for line in lines:
            self.lines += 1
            try:
                result = self.handler(line)
            except Exception:  # our fault must never cost the server's output
                self.handler_errors += 1
                if self.handler_errors <= 3:
                    _log.warning("line handler failed; passing the line through unchanged", exc_info=True)
                result = line
            if result is not None:
                out.append(result)
        if out:
            self._write(b"".join(out))


def _waiting(fd: int) -> int:
    """Bytes the child has written that we have not read yet."""
    try:
        return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), "little")
    except OSError:
        return 0
