"""Helpers for tests of `otel-plugins processor` with the real Collector (no pytest fixtures).

    with Gateway(tmp) as gateway, ProcessorProcess(gateway.forward_url) as processor, \\
            Agent(tmp / "serve" / "*.log", processor.grpc_port, tmp / "storage") as agent:
        ...; records = gateway.wait_records(expected_count)

`Gateway` is a Collector with an OTLP receiver writing logs and metrics with the file
exporter (OTLP JSON lines, read by `otlp_files`); `Agent` is the rendered
`agent-processor.yaml` (start_at beginning); `ProcessorProcess` runs the CLI on free ports.
Records are compared as `Normalized` tuples: body, severity, attributes without the
stream's own (`log.iostream`, `log.file.*`) and without timestamps.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import otlp_files
from services import Collector, http_request

from otel_plugins.collector import to_yaml
from otel_plugins.collector.agent_processor import agent_processor_config

REPO = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "otel_plugins"]
STREAM_ATTRIBUTES = frozenset({"log.iostream", "log.file.path", "log.file.name"})
LINE_METRICS = ("llama.probe.responses", "llama.log.suppressed", "llama.log.records")
# Attributes of a metric point that say which entry point counted, not what it counted.
ENTRY_ATTRIBUTES = frozenset({"llama.server.kind", "llama.instance.key", "llama.model.name"})

GATEWAY = """\
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:${env:OTELCOL_PORT_GRPC}
exporters:
  file/logs:
    path: ${env:GATEWAY_OUT}/logs.jsonl
    flush_interval: 100ms
  file/metrics:
    path: ${env:GATEWAY_OUT}/metrics.jsonl
    flush_interval: 100ms
service:
  pipelines:
    logs:
      receivers: [otlp]
      exporters: [file/logs]
    metrics:
      receivers: [otlp]
      exporters: [file/metrics]
"""


def python_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_EXPORTER_OTLP", "OTEL_PLUGINS_"))}
    env["PYTHONPATH"] = str(REPO)
    env.update(extra)
    return env


class Gateway(Collector):
    def __init__(self, out: Path, grpc_port: int | None = None) -> None:
        out.mkdir(parents=True, exist_ok=True)
        super().__init__(GATEWAY, env={"GATEWAY_OUT": str(out)}, ports=["grpc"])
        if grpc_port is not None:
            self.ports["grpc"] = grpc_port
        self.out = out

    @property
    def forward_url(self) -> str:
        return f"grpc://127.0.0.1:{self.ports['grpc']}"

    def records(self) -> list[dict]:
        return [record for _resource, record in self.resource_records()]

    def resource_records(self) -> list[tuple[dict, dict]]:
        """(resource attributes, record) for every record, the record as `otlp_files.logs` gives it."""
        out = []
        for line in otlp_files.complete_lines(self.out / "logs.jsonl"):
            for resource_logs in json.loads(line).get("resourceLogs", []):
                resource = otlp_files.attrs(resource_logs.get("resource", {}).get("attributes"))
                for scope in resource_logs.get("scopeLogs", []):
                    for record in scope.get("logRecords", []):
                        body = record.get("body", {})
                        out.append((resource, {
                            "body": body["stringValue"] if "stringValue" in body else body,
                            "severity": record.get("severityText"),
                            "attrs": otlp_files.attrs(record.get("attributes")),
                        }))
        return out

    def wait_records(self, at_least: int, timeout: float = 120.0, settle_s: float = 1.5) -> list[dict]:
        """The records once there are `at_least` and no more came for `settle_s`."""
        wait_stable(lambda: len(self.records()), at_least, timeout, settle_s)
        return self.records()


class ProcessorProcess:
    """`otel-plugins processor` on free ports (it says which in its first line)."""

    def __init__(self, forward: str, extra: tuple[str, ...] = (), grpc_port: int = 0, http_port: int = 0, log: Path | None = None) -> None:
        self.argv = [*CLI, "processor", "--grpc", f"127.0.0.1:{grpc_port}", "--http", f"127.0.0.1:{http_port}", "--forward", forward, *extra]
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.grpc_port = self.http_port = 0
        self.returncode: int | None = None

    def start(self, timeout: float = 30.0) -> ProcessorProcess:
        if self.log is None:
            import tempfile

            self.log = Path(tempfile.mkstemp(prefix="otel-plugins-processor-", suffix=".err")[1])
        self._err = open(self.log, "ab")
        offset = self.log.stat().st_size
        self.proc = subprocess.Popen(self.argv, env=python_env(), stdout=subprocess.DEVNULL, stderr=self._err, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log.read_bytes()[offset:].decode(errors="replace")
            found = re.search(r"grpc 127\.0\.0\.1:(\d+) and http 127\.0\.0\.1:(\d+)", text)
            if found:
                self.grpc_port, self.http_port = int(found.group(1)), int(found.group(2))
                return self
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"processor did not start ({self.proc.poll()}): {text}")
            time.sleep(0.05)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/logs"

    def stderr(self) -> str:
        return self.log.read_text(errors="replace") if self.log else ""

    def kill(self) -> None:
        """SIGKILL: no flush, no goodbye."""
        self.proc.send_signal(signal.SIGKILL)
        self.returncode = self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError("processor did not stop on SIGTERM within 30 s") from None
        self.returncode = self.proc.returncode if self.proc else None
        self._err.close()
        return self.returncode

    def __enter__(self) -> ProcessorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Agent(Collector):
    """The rendered agent-processor.yaml reading `glob` from the start, sending to one processor."""

    def __init__(self, glob: Path, processor_port: int, storage: Path, processors: list[str] | None = None) -> None:
        storage.mkdir(parents=True, exist_ok=True)
        env = {
            "GPUSTACK_SERVE_LOGS": str(glob),
            "GPUSTACK_RPC_SERVER_LOGS": str(storage / "no-rpc" / "*.log"),
            "FILELOG_START_AT": "beginning",
            "OTEL_PROCESSOR_HOSTNAME": "127.0.0.1",
            "OTEL_PROCESSOR_PORT": str(processor_port),
            "AGENT_HOST_NAME": "test-node",
            "AGENT_STORAGE_DIR": str(storage),
        }
        super().__init__(to_yaml(agent_processor_config(processors, health_check=False)), env=env)


def wait_stable(count, at_least: int, timeout: float = 120.0, settle_s: float = 1.5) -> int:
    """Polls `count()` until it is at least `at_least` and unchanged for `settle_s`; returns it."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while True:
        current = count()
        if current != last:
            last, since = current, time.monotonic()
        if current >= at_least and time.monotonic() - since >= settle_s:
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"{current} seen, waited for {at_least}")
        time.sleep(0.2)


class Prober(threading.Thread):
    """GETs probe paths every `interval` s, as an orchestrator does, until `stopping` is set."""

    def __init__(self, base: str, paths: tuple[str, ...], interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.base, self.paths, self.interval = base, paths, interval
        self.stopping = threading.Event()
        self.statuses: Counter = Counter()

    def run(self) -> None:
        while not self.stopping.is_set():
            for path in self.paths:
                try:
                    self.statuses[(path, http_request(self.base + path, timeout=2)[0])] += 1
                except OSError:
                    self.statuses[(path, 0)] += 1
            self.stopping.wait(self.interval)


Normalized = tuple[str, str, tuple[tuple[str, Any], ...]]


# A window that closes at the end of a stream says how long it was open, which depends on
# when the lines arrived (a pipe, a polled file, a replay at the lines' own times).
_WINDOW_SPAN = re.compile(r"\b(more times|probe responses [^\n]*?) in \d+(?:\.\d+)?s\b")


def normalized(record: dict) -> Normalized:
    attrs = tuple(sorted((k, v) for k, v in record["attrs"].items() if k not in STREAM_ATTRIBUTES))
    body = record["body"]
    if isinstance(body, str) and "llama.suppressed.count" in record["attrs"]:
        body = _WINDOW_SPAN.sub(r"\1 in <span>", body)
    return (body, record["severity"], attrs)


def by_stream(records: list[tuple[str, dict]]) -> dict[str, Counter]:
    """Stream name -> Counter of normalized records."""
    out: dict[str, Counter] = {}
    for stream, record in records:
        out.setdefault(stream, Counter())[normalized(record)] += 1
    return out


def metric_totals(directory: Path) -> dict[tuple[str, tuple], int]:
    """The line metrics' final values, by metric and attributes (without the entry point's own).

    Cumulative points: the last point of each series is its total; series of several
    senders (resources) are summed."""
    last: dict[tuple, int] = {}
    for request_line in otlp_files.complete_lines(directory / "metrics.jsonl"):
        for resource_metrics in json.loads(request_line).get("resourceMetrics", []):
            resource = json.dumps(resource_metrics.get("resource", {}), sort_keys=True)
            for scope in resource_metrics.get("scopeMetrics", []):
                for metric in scope.get("metrics", []):
                    if metric["name"] not in LINE_METRICS:
                        continue
                    for point in metric.get("sum", {}).get("dataPoints", []):
                        attrs = otlp_files.attrs(point.get("attributes"))
                        key = tuple(sorted((k, v) for k, v in attrs.items() if k not in ENTRY_ATTRIBUTES))
                        last[(resource, metric["name"], key)] = int(point.get("asInt", 0))
    totals: Counter = Counter()
    for (_resource, name, key), value in last.items():
        totals[(name, key)] += value
    return dict(totals)


def diff(expected: Counter, got: Counter, limit: int = 20) -> str:
    missing, extra = expected - got, got - expected
    lines = [f"missing {n}x {r}" for r, n in list(missing.items())[:limit]]
    lines += [f"extra {n}x {r}" for r, n in list(extra.items())[:limit]]
    return "\n".join(lines)
