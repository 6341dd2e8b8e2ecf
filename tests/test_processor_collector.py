"""The real Collector around `otel-plugins processor`: agent (filelog, rendered agent-processor.yaml)
-> processor -> gateway (file exporter).

- the shared corpus, each excerpt one log file: the gateway's records equal `otel-plugins tail`'s
  on the same files, record for record; no "Collector louder" class is left (a failing probe
  while loading is DEBUG exactly where the Python side says so);
- a real llama-server load (tests/bed.py) with probes every 0.1 s: the same, and every 503
  probe before "model loaded" is DEBUG, every one after it WARN;
- kill -9 of the processor in the middle of a stream, then a new one on the same port: every
  line arrives; duplicates are counted and must come from batches in flight at the kill.

Binaries: scripts/build_collector.sh (otelcol), scripts/build_llama.sh (llama-server).
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import bed
from conftest import CORPUS_DIR
from processor_bed import CLI, Agent, Gateway, ProcessorProcess, by_stream, diff, python_env
from services import missing_reason

pytestmark = pytest.mark.collector

CORPUS = CORPUS_DIR / "excerpts.jsonl"


def need_otelcol() -> None:
    reason = missing_reason("otelcol")
    if reason:
        pytest.skip(reason)


def write_excerpts(directory: Path) -> dict[str, list[str]]:
    """Each corpus excerpt as one log file; returns path -> lines."""
    if not CORPUS.exists():
        pytest.skip(f"the shared corpus is not at {CORPUS}")
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for index, line in enumerate(CORPUS.read_text(encoding="utf-8").splitlines()):
        if line.strip():
            lines = json.loads(line)["lines"]
            path = directory / f"{index:03d}.log"
            path.write_bytes(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
            files[str(path)] = lines
    return files


def tail_records(directory: Path, out: Path, expected_lines: int, timeout: float = 120.0) -> list[tuple[str, dict]]:
    """`otel-plugins tail --from-start` over the files until it read them all, then SIGTERM."""
    import otlp_files

    proc = subprocess.Popen(
        [*CLI, "tail", "--from-start", "--output-dir", str(out), "--poll-interval", "0.05", str(directory / "*.log")],
        env=python_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    # Every line is decided once it is read; records reach the file within the batch delay.
    while time.monotonic() < deadline and len(otlp_files.logs(out)) < expected_lines:
        time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return [(r["attrs"]["log.file.path"], r) for r in otlp_files.logs(out)]


def gateway_streams(gateway: Gateway) -> list[tuple[str, dict]]:
    return [(resource["log.file.path"], record) for resource, record in gateway.resource_records()]


def run_agent_processor(tmp: Path, directory: Path, expected: int, processor_args: tuple[str, ...] = ()) -> tuple[list, str]:
    """The files through agent -> processor -> gateway; the processor stopped (SIGTERM) at the end."""
    with Gateway(tmp / "gateway") as gateway:
        processor = ProcessorProcess(gateway.forward_url, processor_args, log=tmp / "processor.err").start()
        try:
            with Agent(directory / "*.log", processor.grpc_port, tmp / "storage"):
                # Records the streams make when they close (a crash dump without gdb's end) come at the stop.
                gateway.wait_records(expected * 9 // 10, settle_s=3.0)
        finally:
            code = processor.stop()
        assert code == 0, processor.stderr()
        gateway.wait_records(expected, timeout=30.0, settle_s=1.0)
        return gateway_streams(gateway), processor.stderr()


def test_corpus_through_agent_processor_gateway_equals_tail(tmp_path, capsys):
    """Every corpus excerpt as a file: the gateway's records are `tail`'s, record for record (body, severity, attributes)."""
    need_otelcol()
    files = write_excerpts(tmp_path / "serve")
    python = tail_records(tmp_path / "serve", tmp_path / "tail", sum(len(v) for v in files.values()) // 2)
    # The filelog receiver emits no empty lines; the Python side makes each one a record.
    python = [(s, r) for s, r in python if r["body"].strip()]
    got, summary = run_agent_processor(tmp_path, tmp_path / "serve", len(python))
    expected, actual = by_stream(python), by_stream(got)
    assert set(actual) == set(expected)
    problems = {stream: diff(expected[stream], actual[stream]) for stream in expected if expected[stream] != actual[stream]}
    assert not problems, "\n".join(f"{s}:\n{p}" for s, p in list(problems.items())[:5])
    loading = [r for _s, r in got if r["attrs"].get("llama.policy.reason") == "probe_while_loading"]
    with capsys.disabled():
        print(f"\n[corpus] {len(got)} records at the gateway, {len(files)} streams, identical to tail; "
              f"{len(loading)} failing probes while loading at DEBUG\n{summary.strip().splitlines()[-2]}")
    assert loading and all(r["severity"] == "DEBUG" for r in loading)
