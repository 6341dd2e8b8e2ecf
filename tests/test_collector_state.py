"""The rendered agent and gateway keep their promises across time, on the real Collector:

- the agent's `file_storage` (filelog offsets and a persistent sending queue): an agent
  killed with SIGKILL in the middle of a file and started again loses no line, and sends
  again only what it had exported but not yet checkpointed (at-least-once);
- the agent's filelog `retry_on_failure`: lines its memory_limiter refuses are read again, not
  dropped;
- the gateway's `deltatocumulative`: the agent's count deltas, arriving in several exports,
  add up in the gateway's Prometheus endpoint to exactly the number of lines counted.

Binaries: scripts/build_collector.sh (otelcol). Skips only when it is missing.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from otel_plugins.collector import agent_config, gateway_config, to_yaml
from otel_plugins.policy import Policy
from services import Collector, http_request, missing_reason

pytestmark = pytest.mark.collector

LINES = 150_000
MARK = re.compile(r"seq=(\d{7})")


@pytest.fixture(autouse=True)
def _need_otelcol():
    if reason := missing_reason("otelcol"):
        pytest.skip(reason)


def gateway(tmp_path: Path) -> Collector:
    """The rendered gateway: logs to a file, metrics on its prometheus exporter, traces nowhere."""
    collector = Collector(to_yaml(gateway_config(health_check=False)), ports=["grpc", "http", "prom", "traces"])
    collector.extra_env.update(
        OTLP_GRPC_ENDPOINT=f"127.0.0.1:{collector.ports['grpc']}",
        OTLP_HTTP_ENDPOINT=f"127.0.0.1:{collector.ports['http']}",
        TRACES_ENDPOINT=f"127.0.0.1:{collector.ports['traces']}",  # nothing listens: no traces here
        PROMETHEUS_ENDPOINT=f"127.0.0.1:{collector.ports['prom']}",
        LOGS_FILE=str(tmp_path / "gateway-logs.jsonl"),
    )
    return collector


def agent(logs: Path, storage: Path, gateway_grpc: int) -> Collector:
    """The rendered production agent (exporter otlp, file_storage) on `logs/*.log`."""
    env = {
        "GPUSTACK_SERVE_LOGS": str(logs / "*.log"),
        "GPUSTACK_RPC_SERVER_LOGS": str(logs / "*.none"),
        "FILELOG_START_AT": "beginning",
        "OTEL_GATEWAY_ENDPOINT": f"127.0.0.1:{gateway_grpc}",
        "AGENT_STORAGE_DIR": str(storage),
        "AGENT_COUNT_INTERVAL": "1s",
    }
    return Collector(to_yaml(agent_config(Policy(), health_check=False)), env=env)


def delivered(path: Path) -> list[str]:
    """The bodies of every log record the gateway wrote (a torn last line is skipped)."""
    if not path.exists():
        return []
    bodies = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            request = json.loads(line)
        except ValueError:
            continue
        for resource in request.get("resourceLogs", []):
            for scope in resource.get("scopeLogs", []):
                bodies += [r.get("body", {}).get("stringValue", "") for r in scope.get("logRecords", [])]
    return bodies


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class Writer(threading.Thread):
    """Appends LINES numbered lines to a log file in chunks, as a busy server does.

    5,000 lines/s: busy, but within what the agent reads on one core. filelog saves its
    offsets when a poll has read every file to its end, so a writer that outruns the agent
    leaves no checkpoint to resume from (collector-config/README.md, "Agent restarts")."""

    def __init__(self, path: Path, chunk: int = 500, interval_s: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.path, self.chunk, self.interval_s = path, chunk, interval_s

    def run(self) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            for start in range(0, LINES, self.chunk):
                f.write("".join(
                    f"0.00.{i // 1000 % 1000:03d}.{i % 1000:03d} I srv  update_slots: id  0 | task 1 | seq={i:07d} prompt done\n"
                    for i in range(start, min(start + self.chunk, LINES))
                ))  # fmt: skip
                f.flush()
                time.sleep(self.interval_s)


def test_agent_killed_mid_file_resumes_without_loss(tmp_path, capsys):
    """SIGKILL the agent while a server writes its log, start it again on the same storage:
    every line arrives, and what arrives twice is the at-least-once window only (what had
    been exported since the last offset checkpoint), not the file again from its start."""
    logs, storage = tmp_path / "serve", tmp_path / "storage"
    logs.mkdir()
    out = tmp_path / "gateway-logs.jsonl"
    writer = Writer(logs / "1.log")
    with gateway(tmp_path) as gw:
        first = agent(logs, storage, gw.ports["grpc"]).start()
        writer.start()
        try:
            wait_for(lambda: len(delivered(out)) >= LINES // 5, 120, "a fifth of the lines at the gateway")
            first.proc.send_signal(signal.SIGKILL)
            first.proc.wait(10)
        finally:
            first.stop()
        time.sleep(2)  # the server writes on while no agent runs; what was in flight lands
        at_kill = len(delivered(out))
        assert writer.is_alive(), "the server had finished writing before the agent was killed"
        with agent(logs, storage, gw.ports["grpc"]):
            wait_for(lambda: len({m.group(1) for b in delivered(out) if (m := MARK.search(b))}) == LINES, 180, "every line")
            time.sleep(2)  # nothing more is coming
        writer.join(5)
    marks = Counter(m.group(1) for b in delivered(out) if (m := MARK.search(b)))
    assert set(marks) == {f"{i:07d}" for i in range(LINES)}  # nothing lost
    duplicates = sum(marks.values()) - LINES
    # The restart resumed at the last checkpoint: far less than the part delivered before the kill.
    assert duplicates < at_kill // 2, (duplicates, at_kill)
    with capsys.disabled():
        print(f"\nfile_storage restart: {LINES} lines written while the agent ran, was killed and restarted:"
              f" {at_kill} delivered before the restart, {duplicates} delivered twice, 0 lost")


def prometheus_value(url: str, metric: str, labels: dict[str, str]) -> float | None:
    status, body = http_request(url, timeout=5)
    if status != 200:
        return None
    total = None
    for line in body.decode().splitlines():
        if line.startswith(metric + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total = (total or 0.0) + float(line.rsplit(" ", 1)[1])
    return total


def test_agent_count_deltas_add_up_at_the_gateway(tmp_path):
    """Probe lines written in three bursts: the agent counts each burst in its own delta
    exports; the gateway's Prometheus endpoint serves their sum, exactly."""
    logs, storage = tmp_path / "serve", tmp_path / "storage"
    logs.mkdir()
    probe = "0.00.{:03d}.000 I srv  log_server_r: request: GET /health 127.0.0.1 200\n"
    bursts = (300, 200, 100)
    with gateway(tmp_path) as gw, agent(logs, storage, gw.ports["grpc"]):
        url = f"http://127.0.0.1:{gw.ports['prom']}/metrics"
        labels = {"url_path": "/health", "http_response_status_code": "200", "service_name": "llama-serve-logs"}
        written = 0
        for burst in bursts:
            with open(logs / "1.log", "a", encoding="utf-8") as f:
                f.write("".join(probe.format(i % 1000) for i in range(burst)))
            written += burst
            wait_for(lambda: prometheus_value(url, "llama_probe_responses_total", labels) == written, 60,
                     f"llama_probe_responses_total == {written}")
        time.sleep(3)  # later count exports (empty deltas) must not change the sum
        assert prometheus_value(url, "llama_probe_responses_total", labels) == sum(bursts)


def test_lines_the_memory_limiter_refuses_are_read_again(tmp_path, capsys):
    """An agent over its memory limit refuses what filelog hands it; filelog sends the refused
    batches again (and waits meanwhile), so every line is exported all the same."""
    lines = 100_000
    log = tmp_path / "serve" / "1.log"
    log.parent.mkdir()
    shapes = (  # access lines: each record carries a dozen attributes
        "{t} I srv       log_server_response: rid  | GET /v1/models 127.0.0.1:{port} | status 503 | cost 0.{n}s\n",
        "{t} I srv       log_server_response: rid 86{port} | POST /v1/chat/completions 10.0.3.7:{port} | status 200 | cost 1.{n}s\n",
        'INFO:     10.0.3.7:{port} - "GET /health HTTP/1.1" 200 OK\n',
    )
    log.write_text("".join(
        shapes[i % 3].format(t=f"0.00.{i // 1000 % 1000:03d}.{i % 1000:03d}", port=30000 + i % 30000, n=i % 97)
        for i in range(lines)
    ))
    env = {
        "GPUSTACK_SERVE_LOGS": str(log),
        "GPUSTACK_RPC_SERVER_LOGS": str(tmp_path / "none" / "*.log"),
        "FILELOG_START_AT": "beginning",
        "AGENT_COUNT_INTERVAL": "1s",
        "AGENT_MEMORY_LIMIT_MIB": "40",  # well below what reading this file at full speed takes
    }
    with Collector(to_yaml(agent_config(Policy(), exporter="debug", health_check=False)), env=env) as collector:
        def total(metric: str) -> float:
            return prometheus_value(collector.telemetry_url, metric, {}) or 0.0

        wait_for(lambda: total("otelcol_exporter_sent_log_records") >= lines, 240, "every line exported")
        refused = total("otelcol_processor_memory_limiter_refused_log_records")
        accepted, sent = total("otelcol_receiver_accepted_log_records"), total("otelcol_exporter_sent_log_records")
    assert refused > 0, "the memory limit was never reached: the test shows nothing"
    assert accepted == lines and sent == lines, (accepted, sent)
    with capsys.disabled():
        print(f"\nmemory_limiter at 40 MiB: {lines} lines read, {refused:.0f} refused on the way and sent again, all exported")
