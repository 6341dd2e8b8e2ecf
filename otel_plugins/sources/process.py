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
from collections import deque
from collections.abc import Callable, Sequence
from typing import IO, Any

_log = logging.getLogger(__name__)
_PIPE_SIZE = 1 << 20
# More than this waiting for us (read or still in the pipe) means we are falling behind the
# child: pass its output through unparsed until we catch up, rather than ever making it wait.
_SHED_AT = _PIPE_SIZE // 2
# Read but not yet passed through: the reader stops here, which only a slow sink can cause.
_MAX_BACKLOG = 32 * _PIPE_SIZE
# Longer lines are passed through unparsed, so one endless line cannot grow memory.
_MAX_LINE = 4 * _PIPE_SIZE
# While deciding lines, look this often whether we have fallen behind.
_CHECK_EVERY = 32
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
    """Reads a pipe to its end; complete lines go to `handler`, its results to `sink`.

    Two threads share the work. A reader (`<name>-reader`) only moves the pipe's bytes
    into memory, so the child never waits while a line is being decided; this thread
    takes them in order, decides lines, and writes the passthrough. When more than
    `_SHED_AT` bytes wait (in memory and in the pipe), it passes chunks through
    unparsed (`shed_lines`) until it has caught up: at 1 GB/s a single thread that also
    parsed would make the child wait on a full pipe for most of its writes.
    """

    def __init__(self, pipe: IO[bytes], handler: LineHandler, sink: IO[bytes] | None, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.pipe = pipe
        self.handler = handler
        self.sink = sink
        self.lines = 0
        self.shed_lines = 0
        self.handler_errors = 0
        self.peak_backlog = 0
        self._chunks: deque[bytes] = deque()
        self._backlog = 0  # bytes read from the pipe and not yet taken by this thread
        self._eof = False
        self._ready = threading.Condition()
        self._fd = -1

    def run(self) -> None:
        self._fd = self.pipe.fileno()
        try:
            fcntl.fcntl(self._fd, _F_SETPIPE_SZ, _PIPE_SIZE)
        except OSError:
            pass  # a smaller pipe only means shedding starts sooner
        reader = threading.Thread(target=self._read, name=f"{self.name}-reader", daemon=True)
        reader.start()
        pending = b""  # the start of a line whose end has not arrived yet
        raw_line = False  # a line already partly passed through unparsed
        while (chunk := self._take()) is not None:
            if self._behind():
                # Shedding: out as it came; a line cut at the chunk's end ends unparsed too.
                self._write(pending + chunk if pending else chunk)
                self.shed_lines += chunk.count(b"\n")
                pending, raw_line = b"", not chunk.endswith(b"\n")
                continue
            if raw_line:
                first = chunk.find(b"\n") + 1
                self._write(chunk[:first] if first else chunk)
                if not first:
                    continue
                self.shed_lines += 1
                raw_line, chunk = False, chunk[first:]
            data = pending + chunk if pending else chunk
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            if cut:
                self._lines(data, cut)
            if len(pending) > _MAX_LINE:
                # A longer line is passed through unparsed, so that one endless line cannot grow memory.
                self._write(pending)
                pending, raw_line = b"", True
        if pending:
            self._lines(pending, len(pending))
        elif raw_line:
            self.shed_lines += 1
        reader.join()
        try:
            self.pipe.close()  # here, not in the reader: `_behind` may still ask about the pipe
        except OSError:
            pass

    def _read(self) -> None:
        """The reader thread: the pipe into memory, as fast as the child writes."""
        fd = self._fd
        try:
            while True:
                try:
                    chunk = os.read(fd, _PIPE_SIZE)
                except OSError:
                    break
                if not chunk:
                    break
                with self._ready:
                    self._chunks.append(chunk)
                    self._backlog += len(chunk)
                    self.peak_backlog = max(self.peak_backlog, self._backlog)
                    self._ready.notify()
                    # Only a sink slower than the child (a blocked terminal, a full disk)
                    # holds us here, and then the child waits as it would without us.
                    while self._backlog > _MAX_BACKLOG:
                        self._ready.wait()
        finally:
            with self._ready:
                self._eof = True
                self._ready.notify()

    def _take(self) -> bytes | None:
        with self._ready:
            while not self._chunks:
                if self._eof:
                    return None
                self._ready.wait()
            chunk = self._chunks.popleft()
            self._backlog -= len(chunk)
            self._ready.notify()
            return chunk

    def _behind(self) -> bool:
        """More waits for us, in memory and in the pipe, than we should parse."""
        return self._backlog + (0 if self._eof else _waiting(self._fd)) > _SHED_AT

    def _write(self, data: bytes) -> None:
        if self.sink is None:
            return
        try:
            self.sink.write(data)
            self.sink.flush()
        except (OSError, ValueError):
            pass

    def _lines(self, data: bytes, cut: int) -> None:
        """Decides the lines of `data[:cut]`; if we fall behind midway, the rest is shed."""
        out = []
        start = 0
        while start < cut:
            end = data.find(b"\n", start, cut) + 1 or cut
            line = data[start:end]
            start = end
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
            if self.lines % _CHECK_EVERY == 0 and start < cut and self._behind():
                out.append(data[start:cut])
                self.shed_lines += data.count(b"\n", start, cut) + (data[cut - 1] != 10)
                break
        if out:
            self._write(b"".join(out))


def _waiting(fd: int) -> int:
    """Bytes the child has written that we have not read yet."""
    try:
        return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), "little")
    except OSError:
        return 0
