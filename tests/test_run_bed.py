"""`otel-plugins run` around the real llama.cpp servers (built by scripts/build_llama.sh).

Probes hit /health and /v1/models every 0.2 s during the load, as GPUStack does; a chat
request runs after ready and one request fails with 404; then SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import bed
import otlp_files
from otel_plugins import names

pytestmark = pytest.mark.bed

LLAMA_SERVER = bed.bin_path("llama-server")
RPC_SERVER = bed.bin_path("rpc-server")
needs_bed = pytest.mark.skipif(
    LLAMA_SERVER is None or RPC_SERVER is None, reason="llama-server/rpc-server not built: run scripts/build_llama.sh"
)
WRAPPER = [sys.executable, "-m", "otel_plugins"]
SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "otel_plugins" / "health_schema.json").read_text())


class Prober(threading.Thread):
    """Probes the server like an orchestrator and samples the wrapper's /health."""

    def __init__(self, server_url: str, health_url: str, interval: float = 0.2):
        super().__init__(daemon=True)
        self.server_url, self.health_url, self.interval = server_url, health_url, interval
        self.stop = threading.Event()
        self.server_statuses: list[int] = []
        self.health: list[tuple[int, dict]] = []

    def run(self):
        while not self.stop.is_set():
            for path in ("/health", "/v1/models"):
                try:
                    self.server_statuses.append(bed.http_request(self.server_url + path, timeout=2)[0])
                except OSError:
                    self.server_statuses.append(0)
            try:
                status, body = bed.http_request(self.health_url, timeout=2)
                self.health.append((status, json.loads(body)))
            except (OSError, ValueError):
                pass
            self.stop.wait(self.interval)


def start_wrapped(argv, out_dir: Path, health_port: int | None, extra=(), netns=None, log_name="server"):
    command = [*WRAPPER, "run", "--output-dir", str(out_dir), "--log-file", str(out_dir / f"{log_name}.log"), *extra]
    if health_port is not None:
        command += ["--health-port", str(health_port)]
    command += ["--", *map(str, argv)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    for key in [k for k in env if k.startswith("OTEL_EXPORTER_OTLP")]:
        del env[key]
    stderr = open(out_dir / f"{log_name}.wrapper.err", "wb")
    if netns is not None:
        return netns.run(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, env=env, start_new_session=True)


def wait_health(url: str, want: str, timeout: float, proc) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"wrapper exited early with {proc.returncode}"
        try:
            status, body = bed.http_request(url, timeout=2)
            data = json.loads(body)
            if data.get("status") == want:
                return data
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} never said {want}")


def probe_logs(records, path=None, status=503):
    return [
        r for r in records
        if r["attrs"].get("llama.log.kind") == "probe" and r["attrs"].get("http.response.status_code") == status
        and (path is None or r["attrs"].get("url.path") == path)
    ]


@needs_bed
def test_run_wraps_llama_server(tmp_path):
    """Load, probes, chat, 404 and SIGTERM on a local llama-server: spans, logs, metrics, passthrough, exit code."""
    jsonschema = pytest.importorskip("jsonschema")
    model = bed.ensure_model(256, 2)
    port, health_port = bed.free_port(), bed.free_port()
    wrapper = start_wrapped(bed.llama_server_argv(model, port), tmp_path, health_port, ["--instance-key", "local-1"])
    prober = Prober(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{health_port}/health", interval=0.05)
    try:
        bed.wait_tcp("127.0.0.1", health_port, timeout=30, proc=wrapper)
        prober.start()
        wait_health(f"http://127.0.0.1:{health_port}/health", "ok", 60, wrapper)
        time.sleep(0.3)
        prober.stop.set()
        prober.join(5)
        status, body = bed.http_request(
            f"http://127.0.0.1:{port}/v1/chat/completions", "POST", {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}, timeout=60
        )
        assert status == 200, body
        assert bed.http_request(f"http://127.0.0.1:{port}/no-such-route")[0] == 404
        time.sleep(0.3)
        wrapper.send_signal(signal.SIGTERM)
        code = wrapper.wait(30)
    finally:
        prober.stop.set()
        bed.stop_process(wrapper)
    # The child's own exit, as the shell reports it: 143 (SIGTERM) or 134 (it aborts while stopping).
    assert code in (0, 134, 143), code
    for status, body in prober.health:
        jsonschema.validate(body, SCHEMA)
    assert prober.health[-1][1] == {"status": "ok"}

    spans = otlp_files.spans(tmp_path)
    by_name = {s["name"]: s for s in spans}
    instance, load = by_name[names.SPAN_INSTANCE], by_name[names.SPAN_LOAD]
    assert instance["attrs"][names.ATTR_EXIT_CODE] == code
    assert instance["attrs"]["server.port"] == port
    assert instance["attrs"]["process.executable.name"] == "llama-server"
    assert instance["attrs"]["llama.model.name"] == model.name
    assert load["parentSpanId"] == instance["spanId"]
    assert any(e["name"] == "llama.ready" for e in instance["events"])
    # A stop it was asked for, however llama-server ends it (0.3.8 often aborts): not an error.
    assert instance["status"].get("code") != 2, instance["status"]
    assert instance["attrs"][names.ATTR_EXIT_REQUESTED] is True
    if code == 134:  # the abort stays on record as an event
        assert any(e["name"] == names.EVENT_EXCEPTION for e in instance["events"])

    records = otlp_files.logs(tmp_path)
    chat = [r for r in records if r["attrs"].get("url.path") == "/v1/chat/completions"]
    assert chat and chat[0]["severity"] == "INFO"
    missing = [r for r in records if r["attrs"].get("url.path") == "/no-such-route"]
    assert missing and missing[0]["severity"] == "WARN"
    for record in probe_logs(records):
        assert record["severity"] == "DEBUG", record
    healthy_probes = probe_logs(records, status=200)
    assert healthy_probes and all(r["severity"] == "DEBUG" for r in healthy_probes)

    passthrough = (tmp_path / "server.log").read_bytes()
    assert b"POST /v1/chat/completions 127.0.0.1 200" in passthrough
    assert b" I srv  log_server_r: request: GET /health 127.0.0.1 200" not in passthrough
    assert b" D srv  log_server_r: request: GET /health 127.0.0.1 200" in passthrough

    metrics = otlp_files.metric_points(tmp_path)
    probes = metrics["llama.probe.responses"]
    assert any(p["attrs"].get("url.path") == "/health" and p["attrs"].get("llama.policy.verdict") == "downgrade" for p in probes)
    exits = metrics["llama.instance.exits"]
    assert any(p["attrs"].get(names.ATTR_EXIT_CODE) == code for p in exits)
    assert metrics["llama.load.duration"]


@needs_bed
def test_distributed_load_over_rate_limited_link(tmp_path):
    """266 MB model to an rpc-server in a namespace at 200 Mbit/s: transfer span, progress, /health."""
    available, why = bed.NetNS.available()
    if not available:
        pytest.skip(f"network namespaces not permitted here: {why}")
    model = bed.ensure_model(1024, 4)
    port, health_port, rpc_port = bed.free_port(), bed.free_port(), 50052
    with bed.NetNS(rate="200mbit") as ns:
        rpc_dir = tmp_path / "rpc"
        rpc_dir.mkdir()
        rpc = start_wrapped(
            ["stdbuf", "-oL", RPC_SERVER, "-H", ns.ns_ip, "-p", rpc_port], rpc_dir, None, ["--instance-key", "dist-1"], netns=ns, log_name="rpc"
        )
        bed.wait_tcp(ns.ns_ip, rpc_port, timeout=30, proc=rpc)
        endpoint = f"{ns.ns_ip}:{rpc_port}"
        main_dir = tmp_path / "main"
        main_dir.mkdir()
        wrapper = start_wrapped(
            bed.llama_server_argv(model, port, rpc=endpoint), main_dir, health_port,
            ["--instance-key", "dist-1", "--policy", str(write_policy(tmp_path, "loading_verdict: drop\n")), "--bandwidth", "200Mbit/s"],
        )
        prober = Prober(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{health_port}/health")
        try:
            bed.wait_tcp("127.0.0.1", health_port, timeout=30, proc=wrapper)
            prober.start()
            wait_health(f"http://127.0.0.1:{health_port}/health", "ok", 120, wrapper)
            prober.stop.set()
            prober.join(5)
            wrapper.send_signal(signal.SIGTERM)
            code = wrapper.wait(30)
            rpc.send_signal(signal.SIGTERM)
            rpc.wait(30)
        finally:
            prober.stop.set()
            bed.stop_process(wrapper)
    loading = [body for status, body in prober.health if body.get("status") == "loading"]
    progress = [b["progress"] for b in loading if b.get("progress") is not None]
    assert len(progress) >= 5, loading
    assert progress == sorted(progress), "progress must only rise"
    assert 0 < progress[0] < 0.5 and progress[-1] > 0.8, progress
    assert any(b.get("eta_seconds") for b in loading)
    assert 503 in prober.server_statuses

    spans = otlp_files.spans(main_dir)
    by_name = {s["name"]: s for s in spans}
    instance, load, transfer = by_name[names.SPAN_INSTANCE], by_name[names.SPAN_LOAD], by_name[names.SPAN_TRANSFER]
    assert transfer["parentSpanId"] == load["spanId"]
    total = int(190.54 * 1024 * 1024)
    assert abs(transfer["attrs"]["llama.load.bytes.total"] - total) < 1024 * 1024
    assert transfer["attrs"]["llama.load.progress.source"] == "tcp"
    assert transfer["attrs"]["llama.load.bytes.done"] > 0.95 * total
    events = [e for e in load["events"] if e["name"] == "llama.load.progress"]
    assert 3 <= len(events) <= 128
    ratios = [e["attrs"]["llama.load.progress.ratio"] for e in events]
    assert ratios == sorted(ratios) and ratios[-1] == 1.0
    assert any(e["attrs"].get("llama.load.rate", 0) > 10e6 for e in events)
    assert all(e["attrs"]["llama.load.progress.source"] == "tcp" for e in events[:-1])
    assert instance["attrs"]["llama.rpc.endpoints"] == [endpoint]
    duration_s = (int(load["endTimeUnixNano"]) - int(load["startTimeUnixNano"])) / 1e9
    assert duration_s > 5, "at 200 Mbit/s the weights take about 9 s"

    rpc_spans = otlp_files.spans(rpc_dir)
    rpc_instance = next(s for s in rpc_spans if s["name"] == "llama.rpc_server")
    assert rpc_instance["traceId"] == instance["traceId"], "one instance key, one trace"
    assert any(e["name"] == names.EVENT_RPC_ACCEPTED for e in rpc_instance["events"])

    records = otlp_files.logs(main_dir)
    # Loading probes are dropped by this policy until the load's deadline; a load that outlasts
    # it (a busy machine) has its failing probes raised from then on, as the policy says.
    raised = probe_logs(records, status=503)
    assert all(r["attrs"].get("llama.policy.reason") == "probe_failed_load_overdue" for r in raised), raised[:3]
    passthrough = (main_dir / "server.log").read_bytes()
    assert passthrough.count(b"log_server_r: request: GET /health 127.0.0.1 503") == len(probe_logs(records, "/health", 503))
    metrics = otlp_files.metric_points(main_dir)
    # --bandwidth: the estimate (266 MB over 200 Mbit/s x 1.3 = 14 s) is the load's deadline.
    deadline = metrics["llama.load.deadline.timestamp"][0]["value"]
    load_start = int(load["startTimeUnixNano"]) / 1e9
    assert 12 <= deadline - load_start <= 16, deadline - load_start
    suppressed = metrics["llama.log.suppressed"]
    assert max(p["value"] for p in suppressed if p["attrs"].get("url.path") == "/health") >= 5
    assert code in (0, 134, 143)


def write_policy(directory: Path, text: str) -> Path:
    path = directory / "policy.yaml"
    path.write_text(text)
    return path
