"""A llama-server router's event stream: each model's status and load progress, exactly.

llama.cpp's router mode (llama-server without a model, `server-models.cpp`, late 2025 on)
runs one child server per model and broadcasts to every client of `GET /models/sse`
server-sent events of the form

    data: {"model": "<name>", "event": "status_change",
           "data": {"status": "loading", "progress": {"stages": [...], "current": "text_model", "value": 0.42}}}

(`status` one of downloading, downloaded, unloaded, loading, loaded, sleeping; `value` the
model loader's own fraction, sent at most every 200 ms). `RouterEvents` keeps one such
connection open on a daemon thread, reconnecting gently while the server runs, and hands
each event to `on_event(model, event, data)`. A 404 means the server is no router: the
source stops for good. Lines are bounded; a malformed event is skipped.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["RouterEvents", "parse_event"]

_log = logging.getLogger(__name__)
SSE_PATH = "/models/sse"
MAX_LINE = 256 * 1024

OnEvent = Callable[[str, str, dict[str, Any]], None]


def parse_event(line: bytes) -> tuple[str, str, dict[str, Any]] | None:
    """(model, event, data) of one `data: {...}` line; None for anything else."""
    if not line.startswith(b"data:"):
        return None
    try:
        obj = json.loads(line[5:].strip())
    except ValueError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("model"), str) or not isinstance(obj.get("event"), str):
        return None
    data = obj.get("data")
    return obj["model"], obj["event"], data if isinstance(data, dict) else {}


class RouterEvents:
    """Follows `GET /models/sse` of a router (see the module docstring)."""

    def __init__(
        self,
        host: str,
        port: int,
        on_event: OnEvent,
        *,
        running: Callable[[], bool] = lambda: True,
        retry_s: float = 1.0,
        max_retry_s: float = 5.0,
    ) -> None:
        self.host, self.port = host, port
        self.retry_s, self.max_retry_s = retry_s, max_retry_s
        self.connected = threading.Event()
        self.not_a_router = False
        self.events = 0
        self._on_event = on_event
        self._running = running
        self._stop = threading.Event()
        self._conn: http.client.HTTPConnection | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> RouterEvents:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="otel-plugins-router-events", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(2)  # wakes the reader blocked on the stream
            except OSError:
                pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        wait = self.retry_s
        while not self._stop.wait(wait) and self._running():
            if self._follow():
                wait = self.retry_s  # it streamed, then closed: reconnect soon
            elif self.not_a_router:
                return
            else:
                wait = min(self.max_retry_s, wait * 1.5)

    def _follow(self) -> bool:
        """One connection; True if the stream was open."""
        conn = self._conn = http.client.HTTPConnection(self.host, self.port, timeout=None)
        try:
            conn.connect()
            conn.sock.settimeout(None)
            conn.request("GET", SSE_PATH, headers={"Accept": "text/event-stream", "User-Agent": "otel-plugins-router-events"})
            response = conn.getresponse()
            if response.status == 404:
                self.not_a_router = True
                return False
            if response.status != 200:
                return False
            self.connected.set()
            while not self._stop.is_set():
                line = response.readline(MAX_LINE)
                if not line:
                    return True
                event = parse_event(line)
                if event is None:
                    continue
                self.events += 1
                try:
                    self._on_event(*event)
                except Exception:  # noqa: BLE001 - the wrapper's fault must not end the stream
                    _log.debug("router event callback failed", exc_info=True)
            return True
        except (OSError, http.client.HTTPException):
            return self.connected.is_set()
        finally:
            self.connected.clear()
            conn.close()
            self._conn = None
