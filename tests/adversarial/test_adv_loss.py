"""Issue 13, items 7, 8 and 11: no line lost silently.

- a checkpoint with a bad offset is refused, never followed into "nothing, forever", never saved back;
- a reader closing stdout (`| head -1`) ends the run with one clear line and a non-zero exit,
  after the telemetry already emitted is exported;
- `tail` saves a checkpoint only for records already exported: a SIGKILL right after a save
  loses nothing, and with the export failing the checkpoint does not advance.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time

import otlp_files
from advkit import assert_one_line_error, cli, cli_env, cli_popen


def wait_until(condition, timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def checkpoint_entry(path) -> dict:
    data = json.loads(path.read_text())
    (entry,) = data["files"]
    return entry


# --- item 7: a checkpoint with a negative offset ----------------------------------------


def test_negative_offset_in_an_otherwise_valid_checkpoint(tmp_path):
    """Before: `tail` delivered nothing from the file, forever, and saved -5 back."""
    log, state = tmp_path / "a.log", tmp_path / "cp.json"
    log.write_text("one\ntwo\n")
    proc = cli_popen("tail", "--from-start", "--checkpoint", str(state), "--output-dir", str(tmp_path / "o"), str(log),
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_until(lambda: state.exists() and checkpoint_entry(state)["offset"] == 8, what="the first checkpoint")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    good = checkpoint_entry(state)
    state.write_text(json.dumps({"version": 1, "files": [{**good, "offset": -5}]}))
    before = state.read_bytes()
    result = cli("tail", "--checkpoint", str(state), "--output-dir", str(tmp_path / "o2"), str(log), timeout=30)
    assert_one_line_error(result, "cp.json", "offset", "-5")
    assert state.read_bytes() == before


# --- item 8: a broken pipe on stdout ------------------------------------------------------


def many_lines(path, count: int = 20_000) -> None:
    path.write_text("".join(f"0.00.{i // 1000:03d}.{i % 1000:03d} I srv  update_slots: line {i} of the log\n" for i in range(count)))


def test_replay_into_head_ends_non_zero_after_exporting_what_it_emitted(tmp_path):
    many_lines(tmp_path / "many.log")
    out = tmp_path / "o3"
    pipeline = subprocess.run(
        f"set -o pipefail; {sys.executable} -m otel_plugins replay --output-dir {out} many.log | head -1",
        shell=True, executable="/bin/bash", cwd=tmp_path, capture_output=True, timeout=120,
        env=cli_env(),
    )
    err = pipeline.stderr.decode()
    assert pipeline.stdout.count(b"\n") == 1
    assert pipeline.returncode != 0, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("otel-plugins: stdout: ") and "broken pipe" in lines[-1], err
    summary = re.search(r"log records: emitted (\d+), exported (\d+), dropped (\d+)", err)
    assert summary, err
    emitted, exported, dropped = (int(summary.group(i)) for i in (1, 2, 3))
    assert emitted == exported and dropped == 0, err
    assert len(otlp_files.logs(out)) == exported
    assert 0 < exported < 20_000


def test_classify_into_head_ends_non_zero_with_one_line(tmp_path):
    many_lines(tmp_path / "many.log")
    pipeline = subprocess.run(
        f"set -o pipefail; {sys.executable} -m otel_plugins classify --json many.log | head -1",
        shell=True, executable="/bin/bash", cwd=tmp_path, capture_output=True, timeout=120,
        env=cli_env(),
    )
    err = pipeline.stderr.decode()
    assert pipeline.returncode != 0
    assert err.count("\n") == 1 and err.startswith("otel-plugins: stdout: ") and "broken pipe" in err, err


# --- item 11: tail's checkpoint follows the export -----------------------------------------


def test_sigkill_right_after_a_checkpoint_loses_no_record(tmp_path):
    """Every line the checkpoint counts is in logs.jsonl, even when tail dies by SIGKILL the moment the checkpoint moved.

    Before: the checkpoint was written right after the lines were handed to the SDK's batch
    queue, which exports a second later: a kill in between lost them for good."""
    log, state, out = tmp_path / "a.log", tmp_path / "cp.json", tmp_path / "o"
    log.write_text("")
    proc = cli_popen("tail", "--checkpoint", str(state), "--output-dir", str(out), str(log),
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: state.exists(), what="the first checkpoint")
        with open(log, "a") as f:
            for i in range(200):
                f.write(f"line {i}\n")
        size = log.stat().st_size
        wait_until(lambda: checkpoint_entry(state)["offset"] == size, what="the checkpoint to cover every line")
        proc.kill()
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    bodies = {r["body"] for r in otlp_files.logs(out)}
    assert {f"line {i}" for i in range(200)} <= bodies


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_failed_export_does_not_advance_the_checkpoint_and_a_restart_delivers(tmp_path):
    log, state, out = tmp_path / "a.log", tmp_path / "cp.json", tmp_path / "o"
    log.write_text("")
    down = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{_closed_port()}", "OTEL_EXPORTER_OTLP_TIMEOUT": "1",
            "OTEL_METRICS_EXPORTER": "none", "OTEL_TRACES_EXPORTER": "none"}
    proc = cli_popen("tail", "--checkpoint", str(state), str(log), env=down, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: state.exists(), what="the first checkpoint")
        assert checkpoint_entry(state)["offset"] == 0
        log.write_text("".join(f"line {i}\n" for i in range(50)))
        time.sleep(4)  # polls read the lines; exports fail
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert checkpoint_entry(state)["offset"] == 0, err.decode()[-2000:]
    assert b"not exported" in err, err.decode()[-2000:]
    # With a working export, the restart delivers every line.
    proc = cli_popen("tail", "--checkpoint", str(state), "--output-dir", str(out), str(log),
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: checkpoint_entry(state)["offset"] == log.stat().st_size, what="the restart to deliver")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
    assert [r["body"] for r in otlp_files.logs(out)] == [f"line {i}" for i in range(50)]
