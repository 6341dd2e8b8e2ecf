"""Issue 13, item 10: one bad client must not take `/health` down or flood the server's log.

Each abuse runs against a real `otel-plugins run --health-port 0 -- sleep ...`; meanwhile a
well-behaved client must get its answer, and the wrapper's stderr stays a few lines.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import threading
import time

import pytest
from advkit import cli_popen, limits, run_child

REQUEST = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
MAX_STDERR_LINES = 12  # the /health line, the exit summary (5 lines), a few rate-limited warnings


class Wrapped:
    """`otel-plugins run --health-port 0 -- <child sleeping>`, with its stderr collected."""

    def __init__(self, tmp_path, open_files: int | None = None) -> None:
        self.proc = cli_popen(
            "run", "--health-port", "0", "--output-dir", str(tmp_path / "o"), "--", *run_child("import time; time.sleep(120)"),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=limits(open_files=open_files) if open_files else None,
        )
        first = self.proc.stderr.readline().decode()
        match = re.search(r"127\.0\.0\.1:(\d+)/health", first)
        assert match, first
        self.port = int(match.group(1))
        self.err = bytearray(first.encode())
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while chunk := self.proc.stderr.read1(1 << 16):
            self.err += chunk

    def ask(self, timeout: float = 3.0) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(REQUEST)
            answer = b""
            while chunk := s.recv(4096):
                answer += chunk
            return answer

    def answers_well_behaved_client(self, within_s: float = 10.0) -> bytes:
        deadline, last = time.monotonic() + within_s, None
        while time.monotonic() < deadline:
            try:
                answer = self.ask()
                if answer.startswith(b"HTTP/1.1 503") and b'"status":"loading"' in answer or answer.startswith(b"HTTP/1.1 200"):
                    return answer
                last = answer
            except OSError as exc:
                last = exc
            time.sleep(0.2)
        raise AssertionError(f"/health did not answer within {within_s}s: {last!r}")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.reader.join(10)
        return self.err.decode("utf-8", "replace")


@pytest.fixture
def wrapped(tmp_path):
    w = Wrapped(tmp_path)
    yield w
    if w.proc.poll() is None:
        w.stop()


def half_sent(port: int, count: int) -> list[socket.socket]:
    out = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # the blank line never comes
        out.append(s)
    return out


def closed_by_server(s: socket.socket) -> bool:
    s.settimeout(0)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_300_half_sent_connections_are_not_held_and_health_answers(wrapped):
    """Before: all 300 held for good."""
    held = half_sent(wrapped.port, 300)
    try:
        wrapped.answers_well_behaved_client()
        time.sleep(7)  # past the request timeout
        still_open = sum(not closed_by_server(s) for s in held)
        assert still_open == 0, f"{still_open} half-sent connections still held"
        wrapped.answers_well_behaved_client()
    finally:
        for s in held:
            s.close()
    err = wrapped.stop()
    assert "Traceback" not in err
    assert len(err.splitlines()) <= MAX_STDERR_LINES, err[-3000:]


def test_200_garbage_requests_write_a_few_warning_lines(wrapped):
    """Before: one `Invalid HTTP request received.` line per request."""
    for _ in range(200):
        with socket.create_connection(("127.0.0.1", wrapped.port), timeout=5) as s:
            s.sendall(b"\x00\x01garbage\r\n\r\n")
            s.settimeout(5)
            try:
                while s.recv(4096):
                    pass
            except OSError:
                pass
    wrapped.answers_well_behaved_client()
    err = wrapped.stop()
    assert "Traceback" not in err
    assert len(err.splitlines()) <= MAX_STDERR_LINES, err[-3000:]


def test_under_ulimit_n_128_300_connections_neither_silence_health_nor_flood_stderr(tmp_path):
    """Before: /health stopped answering and asyncio wrote tens of thousands of tracebacks."""
    w = Wrapped(tmp_path, open_files=128)
    held = []
    try:
        held = half_sent(w.port, 300)
        w.answers_well_behaved_client(within_s=15)
        time.sleep(3)
        w.answers_well_behaved_client(within_s=15)
    finally:
        for s in held:
            s.close()
        err = w.stop()
    assert len(err) < 20_000, f"{len(err)} bytes of stderr"
    assert err.count("Traceback") <= 1, err[-3000:]
    assert len(err.splitlines()) <= MAX_STDERR_LINES + 30, err[-3000:]


def test_idle_keep_alive_connections_are_closed(wrapped):
    s = socket.create_connection(("127.0.0.1", wrapped.port), timeout=15)
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    started, answer = time.monotonic(), b""
    while chunk := s.recv(4096):  # ends when the server closes the idle connection
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 503") and answer.endswith(b"}")
    assert time.monotonic() - started < 15
    s.close()
