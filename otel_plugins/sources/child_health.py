"""The child server's own `/health`, polled gently: readiness that no log verbosity can hide.

llama.cpp from late 2025 on logs neither its requests nor its load at the default
verbosity, so the wrapper asks the server itself, on the address its argv gives
(`--host`, `--port`; llama-server's defaults 127.0.0.1:8080). The poll:

- waits `min_interval_s` (at least 1 s) before the first request and between requests,
  the interval growing by `backoff` up to `max_interval_s` (back to `min_interval_s` once
  `imminent()`, e.g. the weights are all across): never faster than an orchestrator's probes;
- runs only while `should_poll()` says so (the log has not already proved readiness and
  the child runs), and stops for good after a 200;
- comes from its own loopback address when the server listens on loopback (any address of
  127.0.0.0/8 reaches it on Linux). Servers that log their requests (llama.cpp until mid
  2025, llama-box) then print that address, and `OwnPolls` recognises those lines so they
  never show up as probe noise in the wrapper's output. llama.cpp from late 2025 on never
  logs `/health` at all.

Answers go to `on_answer(status, body)`: the HTTP status (None when the connection failed)
and the JSON body (None when it is not JSON).
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any


__all__ = ["ChildHealthPoller", "OwnPolls", "health_target", "own_source_address"]

_log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
HEALTH_PATH = "/health"
_MAX_BODY = 64 * 1024

OnAnswer = Callable[[int | None, Any], None]


def health_target(host: str | None, port: int | None) -> tuple[str, int] | None:
    """Where the child's /health answers, from its --host/--port; None for a unix socket."""
    host = host or DEFAULT_HOST
    if host.endswith(".sock") or "/" in host:
        return None
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return host.strip("[]"), port or DEFAULT_PORT


def own_source_address(target_host: str, pid: int | None = None) -> str | None:
    """A loopback address of our own (127.128-254.x.y, from our pid) when the target is IPv4 loopback."""
    try:
        if not ipaddress.ip_address(target_host).is_loopback or ":" in target_host:
            return None
    except ValueError:
        if target_host != "localhost":
            return None
    pid = os.getpid() if pid is None else pid
    return f"127.{128 + (pid >> 16) % 127}.{(pid >> 8) & 255}.{(pid & 255) or 1}"


class OwnPolls:
    """Recognises the server's log lines about our own polls (by client address and path)."""

    def __init__(self, address: str | None, path: str = HEALTH_PATH) -> None:
        self.address = address
        self.path = path
        self.seen = 0

    def take(self, client: str | None, path: str | None) -> bool:
        """Whether a request line (its client address and path) is one of our polls; counts it."""
        if self.address is None or client != self.address or path != self.path:
            return False
        self.seen += 1
        return True


class ChildHealthPoller:
    """Polls `http://host:port/health` on a daemon thread (see the module docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        on_answer: OnAnswer,
        *,
        should_poll: Callable[[], bool] = lambda: True,
        imminent: Callable[[], bool] = lambda: False,
        source_address: str | None = None,
        min_interval_s: float = 1.0,
        max_interval_s: float = 4.0,
        backoff: float = 1.25,
        timeout_s: float = 2.0,
    ) -> None:
        if min_interval_s < 1.0:
            raise ValueError("min_interval_s: at least 1 s, never faster than a probe")
        self.host, self.port = host, port
        self.source_address = source_address
        self.min_interval_s, self.max_interval_s, self.backoff = min_interval_s, max(min_interval_s, max_interval_s), backoff
        self.timeout_s = timeout_s
        self.polls = 0
        self.last_status: int | None = None
        self._on_answer = on_answer
        self._should_poll = should_poll
        self._imminent = imminent
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> ChildHealthPoller:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="otel-plugins-child-health", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        interval = self.min_interval_s
        while not self._stop.wait(interval):
            if not self._should_poll():
                return
            status, body = self.poll_once()
            try:
                self._on_answer(status, body)
            except Exception:  # noqa: BLE001 - the wrapper's fault must not end the polling thread loudly
                _log.debug("child health: callback failed", exc_info=True)
            if status == 200:
                return
            # back off, unless readiness is imminent (the weights are all across)
            interval = self.min_interval_s if self._imminent() else min(self.max_interval_s, interval * self.backoff)

    def poll_once(self) -> tuple[int | None, Any]:
        """One GET /health; (status or None, parsed JSON or None)."""
        self.polls += 1
        source = (self.source_address, 0) if self.source_address else None
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s, source_address=source)
        try:
            conn.request("GET", HEALTH_PATH, headers={"User-Agent": "otel-plugins-child-health", "Connection": "close"})
            response = conn.getresponse()
            raw = response.read(_MAX_BODY)
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, OSError) and exc.errno == errno.EADDRNOTAVAIL and self.source_address:
                self.source_address = None  # this host's loopback is only 127.0.0.1: poll from it
            self.last_status = None
            return None, None
        finally:
            conn.close()
        self.last_status = status
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, None
