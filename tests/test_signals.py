"""Signals and exits of `otel-plugins run`: forwarded, reported truthfully, nothing orphaned.

Each test starts `python -m otel_plugins run` around tests/children/chatty.py (a stand-in
for llama-server that prints a few lines and its pid, then waits), in its own temp dir,
with no OTLP endpoint (so telemetry goes to OTLP JSON files there), and stops everything
it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import otlp_files
import pytest

from otel_plugins import names

REPO = Path(__file__).resolve().parent.parent
CHATTY = Path(__file__).resolve().parent / "children" / "chatty.py"
WRAPPER = [sys.executable, "-m", "otel_plugins", "run"]


def wrapper_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PYTHONPATH"] = str(REPO)
    return env


class Wrapped:
    """`otel-plugins run -- chatty.py MODE` in `directory`; stderr, passthrough and telemetry kept there."""

    def __init__(self, directory: Path, mode: str) -> None:
        self.directory = directory
        self.events = directory / "events.txt"
        self.out = directory / "otel"
        self.passthrough = directory / "passthrough.log"
        self.stderr_path = directory / "wrapper.err"
        command = [*WRAPPER, "--output-dir", str(self.out), "--log-file", str(self.passthrough),
                   "--", sys.executable, str(CHATTY), mode, str(self.events)]
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=wrapper_env(), start_new_session=True)

    def child_pid(self, timeout: float = 30.0) -> int:
        """The child's pid, once it has printed its lines and installed its handlers."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.event_lines():
                if line.startswith("pid "):
                    return int(line.split()[1])
            assert self.proc.poll() is None, f"wrapper exited early with {self.proc.returncode}: {self.stderr()}"
            time.sleep(0.02)
        raise TimeoutError(f"child never started: {self.stderr()}")

    def event_lines(self) -> list[str]:
        with contextlib.suppress(FileNotFoundError):
            return self.events.read_text().splitlines()
        return []

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait(self, timeout: float = 60.0) -> int:
        return self.proc.wait(timeout)


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (a killed orphan may wait to be reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = next((line.split()[1] for line in status.splitlines() if line.startswith("State:")), "?")
    return state not in ("Z", "X")


@contextlib.contextmanager
def wrapped(directory: Path, mode: str) -> Iterator[Wrapped]:
    w = Wrapped(directory, mode)
    child = None
    try:
        yield w
    finally:
        with contextlib.suppress(Exception):
            child = w.child_pid(timeout=0.1)
        if w.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(w.proc.pid, signal.SIGKILL)
            w.proc.wait(10)
        if child is not None and alive(child):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_is_forwarded_and_the_exit_status_is_the_childs(tmp_path, sig):
    """A signal sent to the wrapper reaches the child, and the wrapper exits 128+N when the child dies of it."""
    with wrapped(tmp_path, "reraise") as w:
        child = w.child_pid()
        w.proc.send_signal(sig)
        code = w.wait()
        assert f"got {sig.name}" in w.event_lines(), w.stderr()
        assert code == 128 + sig, w.stderr()
        assert not alive(child)
        assert f"exited with code {128 + sig}" in w.stderr()
        assert f"received {sig.name}" in w.passthrough.read_text()


def test_child_that_handles_sigterm_decides_the_exit_code(tmp_path):
    """A child that catches SIGTERM and exits 3 makes the wrapper exit 3, not 143."""
    with wrapped(tmp_path, "exit3") as w:
        w.child_pid()
        w.proc.send_signal(signal.SIGTERM)
        code = w.wait()
        assert "got SIGTERM" in w.event_lines()
        assert code == 3, w.stderr()


def test_sigkill_of_the_wrapper_takes_the_child_down(tmp_path):
    """SIGKILL to the wrapper leaves no orphan: the parent-death signal kills the child within 2 s."""
    with wrapped(tmp_path, "wait") as w:
        child = w.child_pid()
        assert alive(child)
        w.proc.send_signal(signal.SIGKILL)
        assert w.wait() == -signal.SIGKILL
        deadline = time.monotonic() + 2.0
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not alive(child), f"child {child} still running 2 s after the wrapper was SIGKILLed"


@pytest.mark.parametrize(("mode", "sig"), [("abort", signal.SIGABRT), ("segv", signal.SIGSEGV)])
def test_crash_is_reported_in_exit_code_span_and_metric(tmp_path, mode, sig):
    """A child dying of SIGABRT/SIGSEGV gives exit 128+N, an ERROR llama.instance span with the code and signal, and an exits point."""
    with wrapped(tmp_path, mode) as w:
        code = w.wait()
    assert code == 128 + sig, w.stderr()
    spans = [s for s in otlp_files.spans(w.out) if s["name"] == names.SPAN_INSTANCE]
    assert len(spans) == 1, [s["name"] for s in otlp_files.spans(w.out)]
    span = spans[0]
    assert span.get("status", {}).get("code") == 2, span.get("status")  # STATUS_CODE_ERROR
    assert span["attrs"][names.ATTR_EXIT_CODE] == 128 + sig
    assert span["attrs"][names.ATTR_EXIT_SIGNAL] == sig.name
    exits = otlp_files.metric_points(w.out).get("llama.instance.exits", [])
    ours = [p for p in exits if p["attrs"].get(names.ATTR_EXIT_CODE) == 128 + sig]
    assert ours and ours[-1]["value"] == 1, exits
    assert {p["attrs"].get(names.ATTR_EXIT_CODE) for p in exits} == {128 + sig}
    assert {p["attrs"].get(names.ATTR_EXIT_SIGNAL) for p in exits} == {sig.name}


def test_missing_command_is_a_one_line_error_with_exit_2(tmp_path):
    """A command that does not exist gives one line on stderr and exit code 2."""
    result = subprocess.run(
        [*WRAPPER, "--output-dir", str(tmp_path / "otel"), "--", str(tmp_path / "no-such-server"), "--port", "1"],
        capture_output=True, text=True, env=wrapper_env(), timeout=60, check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "no-such-server" in lines[0] and lines[0].startswith("otel-plugins:"), lines[0]


@pytest.mark.parametrize("argv", [[], ["--"]], ids=["nothing", "dash-dash"])
def test_run_without_a_command_exits_2(tmp_path, argv):
    """`run` with no command to run is a usage error: exit code 2, one line."""
    result = subprocess.run([*WRAPPER, "--output-dir", str(tmp_path / "otel"), *argv],
                            capture_output=True, text=True, env=wrapper_env(), timeout=60, check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
