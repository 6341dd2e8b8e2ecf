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
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from ..dialects.suspect import find_suspect
from ..first_match import Finder

_log = logging.getLogger(__name__)
_PIPE_SIZE = 1 << 20
# More than this waiting in the pipe means we are falling behind the
# child: pass its output through unparsed until we catch up, rather than ever making it wait.
_SHED_AT = _PIPE_SIZE // 2
# Longer lines are passed through unparsed, so one endless line cannot grow memory.
_MAX_LINE = 4 * _PIPE_SIZE
# While deciding lines, look this often whether we have fallen behind.
_CHECK_EVERY = 16
# Once behind, pass through unparsed for this long before trying to parse again; the
# hold doubles, up to the maximum, each time we fall behind again at once, so that a
# sustained flood costs us a few tries a second, not a core.
_SHED_HOLD_S = 0.01
_SHED_HOLD_MAX_S = 0.32
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

    It reads up to 1 MiB at a time into one reused buffer. When more than `_SHED_AT`
    bytes wait in the pipe, it sheds: one RE2 scan of the chunk (`dialects.suspect.SUSPECT`, or `scan`)
    finds the lines that could be a failure or move the lifecycle; of those, the ones `quiet`
    proves harmless (a probe's 503 while the model loads) join the rest, passed through as
    deciding them would print them (at DEBUG, or not at all, as the policy says), and a line
    `must_decide` claims for a record begun before it (a crash dump) is taken. Only what
    remains is decided; the rest pass through as they came. All that is not decided is
    counted in `shed_lines`. It keeps shedding for a while (`_SHED_HOLD_S`, doubling while
    the flood lasts) before it decides every line again: a flood then costs us little more
    than copying it, the server keeps the CPU it would have had without us, and no failure
    in the flood goes unparsed. One thread, because on a small machine a second one (a
    reader handing chunks to a parser) costs the server more in wake-ups and GIL hand-offs
    than it saves.
    """

    def __init__(
        self,
        pipe: IO[bytes],
        handler: LineHandler,
        sink: IO[bytes] | None,
        name: str,
        quiet: Callable[[bytes], bytes | None] | None = None,
        on_shed: Callable[[int], None] | None = None,
        must_decide: Callable[[bytes], bool] | None = None,
        scan: Callable[[], Finder] | None = None,
    ) -> None:
        super().__init__(name=name, daemon=True)
        self.pipe = pipe
        self.handler = handler
        self.sink = sink
        # A second, still cheap look at a line the scan suspects (its 4xx/5xx status may be a
        # probe's loading answer): bytes prove it harmless and are what to pass through for it
        # (the line itself, rewritten, or b"" when the policy drops it); it makes no record.
        # None: the line is decided.
        self.quiet = quiet
        # Told each time lines are shed, as it happens: an operator sees a flood being shed
        # while it lasts, not at the child's exit.
        self.on_shed = on_shed
        # Asked of the next line while shedding: True when it may belong to a record of several
        # lines begun before it (a crash dump), so that it is decided whatever the scan says and
        # a traceback's frames or a goroutine's stack, which hold no suspect word, stay with it.
        self.must_decide = must_decide
        # Asked before each search while shedding: the scan to use now (it may change with the
        # phase: until the server is ready, a probe's 2xx matters too). None: `find_suspect`.
        self.scan = scan
        self.lines = 0  # decided by the handler
        self.shed_lines = 0  # passed through undecided under overload, or too long to decide
        self.handler_errors = 0
        self._shed_until = 0.0
        self._hold = _SHED_HOLD_S
        self._fd = -1

    def run(self) -> None:
        fd = self._fd = self.pipe.fileno()
        try:
            fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_SIZE)
        except OSError:
            pass  # a smaller pipe only means shedding starts sooner
        buf = bytearray(_PIPE_SIZE)
        pending = b""  # the start of a line whose end has not arrived yet
        raw_line = False  # a line already partly passed through unparsed
        while True:
            try:
                n = os.readv(fd, [buf])
            except OSError:
                break
            if not n:
                break
            with memoryview(buf)[:n] as view:
                start = 0
                if raw_line:
                    start = buf.find(b"\n", 0, n) + 1
                    self._write(view[:start] if start else view)
                    if not start:
                        continue
                    self._count_shed(1)
                    raw_line = False
                data = b"".join((pending, view[start:]))
            cut = data.rfind(b"\n") + 1
            pending = data[cut:]
            if cut:
                if self._behind():
                    self.shed(data, 0, cut)
                elif self._lines(data, cut):
                    self._hold = _SHED_HOLD_S  # a whole chunk decided without falling behind
            if len(pending) > _MAX_LINE:
                # A longer line is passed through unparsed, so that one endless line cannot grow memory.
                self._write(pending)
                pending, raw_line = b"", True
        if pending:
            self._lines(pending, len(pending))
        elif raw_line:
            self._count_shed(1)
        try:
            self.pipe.close()
        except OSError:
            pass

    def _behind(self) -> bool:
        """More waits in the pipe than we should parse (or did lately)."""
        now = time.monotonic()
        if now < self._shed_until:
            return True  # not asking the pipe: FIONREAD takes its lock, which the child's writes hold
        if _waiting(self._fd) > _SHED_AT:
            # Behind again soon after trying to parse: the flood goes on, so wait longer
            # before the next try (while we try, the pipe may fill and the child wait).
            self._shed_until = now + self._hold
            self._hold = min(2 * self._hold, _SHED_HOLD_MAX_S)
            return True
        return False

    def _count_shed(self, lines: int) -> None:
        self.shed_lines += lines
        if self.on_shed is None or not lines:
            return
        try:
            self.on_shed(lines)
        except Exception:  # our fault must never cost the server's output
            self.handler_errors += 1
            if self.handler_errors <= 3:
                _log.warning("shed counter failed", exc_info=True)

    def _write(self, data: bytes | memoryview) -> None:
        if self.sink is None:
            return
        try:
            self.sink.write(data)
            self.sink.flush()
        except Exception:  # noqa: BLE001 - a failing sink must not stop the draining, or the child blocks
            pass

    def _decide(self, line: bytes) -> bytes | None:
        self.lines += 1
        try:
            return self.handler(line)
        except Exception:  # our fault must never cost the server's output
            self.handler_errors += 1
            if self.handler_errors <= 3:
                _log.warning("line handler failed; passing the line through unchanged", exc_info=True)
            return line

    def _ask(self, check: Callable[[bytes], Any], line: bytes, what: str) -> Any:
        """`check(line)`, or None when it fails: our fault, so the line is treated as if there
        were no check (`quiet`: decided; `must_decide`: left to the scan)."""
        try:
            return check(line)
        except Exception:
            self.handler_errors += 1
            if self.handler_errors <= 3:
                _log.warning("overload check %s failed", what, exc_info=True)
            return None

    def _scan_now(self) -> Finder:
        """`scan()`, or `find_suspect` when asking fails: our fault, so the fixed scan serves."""
        try:
            return self.scan()  # type: ignore[misc]
        except Exception:
            self.handler_errors += 1
            if self.handler_errors <= 3:
                _log.warning("overload check scan failed", exc_info=True)
            return find_suspect

    def _lines(self, data: bytes, cut: int) -> bool:
        """Decides the lines of `data[:cut]`; if we fall behind midway, the rest is shed (returns False)."""
        out = []
        start = 0
        checked = 0
        while start < cut:
            end = data.find(b"\n", start, cut) + 1 or cut
            result = self._decide(data[start:end])
            start = end
            if result is not None:
                out.append(result)
            checked += 1
            if checked % _CHECK_EVERY == 0 and start < cut and self._behind():
                if out:
                    self._write(b"".join(out))
                self.shed(data, start, cut)
                return False
        if out:
            self._write(b"".join(out))
        return True

    def shed(self, data: bytes, begin: int, cut: int) -> None:
        """Decides only the lines of `data[begin:cut]` that could matter; the others pass through as they came.
        What the pump does once behind; public so that tests and `bench/overload_check.py` can drive it on a block."""
        out = []
        shed = 0
        done = begin  # data[begin:done] is accounted for
        at = begin  # the start of the next line to look at
        quiet, must_decide, scan = self.quiet, self.must_decide, self.scan
        while at < cut:
            end = data.find(b"\n", at, cut) + 1 or cut
            claimed = must_decide is not None and bool(self._ask(must_decide, data[at:end], "must_decide"))
            if claimed:
                start = at  # part of a record begun before it: decided, whatever it holds
            else:
                found = (find_suspect if scan is None else self._scan_now())(data, at, cut)
                if found < 0:
                    break
                start = data.rfind(b"\n", at, found) + 1 or at
                if start != at:
                    end = data.find(b"\n", start, cut) + 1 or cut
            at = end
            line = data[start:end]
            passed = self._ask(quiet, line, "quiet") if quiet is not None and not claimed else None
            if passed is line:
                continue  # passed through with the shed lines around it
            if start > done:
                out.append(data[done:start])
                shed += data.count(b"\n", done, start)
            if passed is not None:  # shed too, but printed as deciding it would print it
                out.append(passed)
                shed += line.endswith(b"\n")
                done = end
                continue
            result = self._decide(line)
            if result is not None:
                out.append(result)
            done = end
        if done < cut:
            out.append(data[done:cut])
            shed += data.count(b"\n", done, cut)
        self._write(b"".join(out))
        self._count_shed(shed)


def _waiting(fd: int) -> int:
    """Bytes the child has written that we have not read yet."""
    try:
        return int.from_bytes(fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"), "little")
    except OSError:
        return 0
