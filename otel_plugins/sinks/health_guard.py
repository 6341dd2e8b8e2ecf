"""What keeps `/health` answering when a client misbehaves, and its log from flooding.

uvicorn's h11 protocol waits forever for a request that never completes, accepts every
connection, logs every malformed request, and the event loop reports every failed
`accept()` with a traceback. `/health` shares the wrapper's file descriptors and stderr with
the server it watches, so here:

- a request must arrive whole within `REQUEST_TIMEOUT_S` of the connection or of the
  previous response (slow or half-sent requests are closed);
- beyond `max_connections()` open connections, the oldest one without a request in flight
  is closed to make room: a flood of idle connections cannot lock a prober out, and file
  descriptors stay well below the process limit;
- warnings, uvicorn's and the event loop's, go through one logger that lets `BURST` of
  them out per minute (at most one with a traceback) and then says how many it held back.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import time
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

REQUEST_TIMEOUT_S = 5.0
MAX_CONNECTIONS = 64
BURST = 5
WINDOW_S = 60.0


def max_connections() -> int:
    """64, or a quarter of the file descriptors the process may open, if that is less."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else max(4, min(MAX_CONNECTIONS, soft // 4))


class BoundedWarnings(logging.Filter):
    """At most `burst` records per `window_s` (one with a traceback); the next window's
    first record says how many were held back."""

    def __init__(self, burst: int = BURST, window_s: float = WINDOW_S) -> None:
        super().__init__()
        self.burst, self.window_s = burst, window_s
        self._start, self._passed, self._held, self._tracebacks = -window_s, 0, 0, 0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self._start >= self.window_s:
            held, self._start, self._passed, self._held, self._tracebacks = self._held, now, 0, 0, 0
            if held:
                record.msg = f"{record.getMessage()} ({held} more warnings held back in the last {self.window_s:.0f}s)"
                record.args = ()
        self._passed += 1
        if self._passed > self.burst:
            self._held += 1
            return False
        if record.exc_info:
            self._tracebacks += 1
            if self._tracebacks > 1:
                record.exc_info, record.exc_text = None, None
        return True


def bounded_logger(name: str) -> logging.Logger:
    """A logger of our own (the host's logging configuration is left alone) with bounded output."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, BoundedWarnings) for f in logger.filters):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("otel-plugins: /health: %(message)s"))
        logger.addHandler(handler)
        logger.addFilter(BoundedWarnings())
        logger.propagate = False  # our own faults must not land in the host's log pipeline
    return logger


_log = bounded_logger("otel_plugins.sinks.health")


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a request deadline, a connection limit and bounded warnings."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.logger = _log  # "Invalid HTTP request received." would otherwise come once per request
        self._deadline: asyncio.TimerHandle | None = None
        self.idle_since = time.monotonic()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        open_now = [c for c in self.connections if not c.transport.is_closing()]
        if len(open_now) > max_connections():
            idle = [c for c in open_now if c is not self and not getattr(c, "busy", True)]
            victim = min(idle, key=lambda c: c.idle_since) if idle else self
            victim.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self.idle_since = time.monotonic()
        self._arm()

    @property
    def busy(self) -> bool:
        """A request is being answered."""
        return self.cycle is not None and not self.cycle.response_complete

    def _arm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(REQUEST_TIMEOUT_S, self._expired)

    def _expired(self) -> None:
        self._deadline = None
        if self.busy:
            self._arm()
        elif not self.transport.is_closing():
            self.transport.close()


def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    _log.warning("%s", context.get("message", "event loop error"), exc_info=(type(exc), exc, exc.__traceback__) if exc else None)


class GuardedServer(uvicorn.Server):
    """uvicorn's server whose event loop reports its errors through the bounded logger."""

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        asyncio.get_running_loop().set_exception_handler(_loop_exception)
        await super().serve(sockets)
