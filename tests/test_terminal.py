"""The live terminal progress of `otel-plugins run`, under a real pseudo-terminal."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

CHILD = Path(__file__).resolve().parent / "children" / "fake_loader.py"
REPO = Path(__file__).resolve().parent.parent


def env(tmp_path: Path) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_EXPORTER_OTLP")}
    return dict(clean, PYTHONPATH=str(REPO), COLUMNS="120", TERM="xterm-256color")


def test_progress_is_shown_on_a_terminal(tmp_path):
    """On a TTY the wrapper shows the buffer's bytes and percentage, the phase, and the server's lines."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_plugins", "run", "--output-dir", str(tmp_path), "--", sys.executable, str(CHILD), "0.3"],
        stdin=slave, stdout=slave, stderr=slave, env=env(tmp_path), close_fds=True,
    )
    os.close(slave)
    output = b""
    deadline = time.time() + 60
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif proc.poll() is not None:
            break
    proc.wait(10)
    os.close(master)
    text = output.decode("utf-8", "replace")
    assert proc.returncode == 0, text[-2000:]
    assert "\x1b[" in text, "a live display draws with terminal escapes"
    assert "CUDA0" in text and "phase" in text and "loading" in text
    assert "100.0%" in text and "ready" in text
    assert "loaded  50% model tensors into buffer" in text, "the server's own lines are still shown"


def test_no_display_when_output_is_not_a_terminal(tmp_path):
    """Piped output is the server's output, byte for byte (nothing was downgraded here but the ready probe)."""
    result = subprocess.run(
        [sys.executable, "-m", "otel_plugins", "run", "--quiet", "--output-dir", str(tmp_path), "--", sys.executable, str(CHILD), "0"],
        capture_output=True, env=env(tmp_path), timeout=60,
    )
    expected = subprocess.run([sys.executable, str(CHILD), "0"], capture_output=True, timeout=60).stdout
    assert result.returncode == 0
    assert b"\x1b[" not in result.stdout + result.stderr
    assert result.stdout == expected.replace(b" I srv  log_server_r: request: GET /health", b" D srv  log_server_r: request: GET /health")
