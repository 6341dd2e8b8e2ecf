"""The health endpoint, served for real by uvicorn on 127.0.0.1, driven through a whole life."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import sys
import time

import httpx
import jsonschema
import pytest
from opentelemetry.sdk.metrics import MeterProvider

from otel_plugins import names
from otel_plugins.emit.metrics import InstanceMetrics
from otel_plugins.record import Phase
from otel_plugins.sinks.health import HEALTH_SCHEMA_PATH, HealthServer, health_status, prometheus_reader
from otel_plugins.state import EndpointProgress, InstanceState, PeerHealth, Snapshot

SCHEMA = json.loads(HEALTH_SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
PEER = "10.0.0.2:50052"

# What the Prometheus exporter (opentelemetry-exporter-prometheus 0.66b2) makes of each
# name in names.METRICS: dots become "_", the unit is appended unless the name already ends
# with it ("1" and "{...}" add nothing), and counters get "_total". Dashboards use these.
EXPOSITION = {
    names.METRIC_PHASE: "llama_instance_phase",
    names.METRIC_PROGRESS: "llama_load_progress_ratio",
    names.METRIC_BYTES_DONE: "llama_load_bytes",
    names.METRIC_BYTES_TOTAL: "llama_load_size_bytes",
    names.METRIC_RATE: "llama_load_rate_bytes_per_second",
    names.METRIC_ETA: "llama_load_eta_seconds",
    names.METRIC_LOAD_DURATION: "llama_load_duration_seconds",
    names.METRIC_DEADLINE: "llama_load_deadline_timestamp_seconds",
    names.METRIC_PROBES: "llama_probe_responses_total",
    names.METRIC_SUPPRESSED: "llama_log_suppressed_total",
    names.METRIC_LOG_RECORDS: "llama_log_records_total",
    names.METRIC_EXITS: "llama_instance_exits_total",
    names.METRIC_PEER_STATE: "llama_rpc_peer_state",
    names.METRIC_PEER_LOSSES: "llama_rpc_peer_losses_total",
    names.METRIC_TELEMETRY_DROPPED: "llama_telemetry_dropped_total",
    names.METRIC_TELEMETRY_EXPORTED: "llama_telemetry_exported_total",
}


@pytest.fixture()
def served():
    state = InstanceState()
    reader, metrics_text = prometheus_reader()
    provider = MeterProvider(metric_readers=[reader])
    metrics = InstanceMetrics(provider.get_meter("otel_plugins"), state, {names.ATTR_INSTANCE_KEY: "box-0"})
    server = HealthServer(state, metrics_text=metrics_text)
    server.start()
    with httpx.Client(base_url=server.url, timeout=5) as client:
        yield state, metrics, server, client
    server.stop()
    provider.shutdown()


def health(client: httpx.Client) -> tuple[int, dict]:
    response = client.get("/health")
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    VALIDATOR.validate(body)
    assert "/" not in response.text  # no paths, and so no argv[0] or model file either
    assert sys.argv[0] not in response.text
    return response.status_code, body


def test_a_whole_life_starting_loading_ready_peer_lost_exited(served):
    """Status and body follow the state from spawn to exit, each body valid against the schema."""
    state, _, _, client = served
    assert health(client) == (503, {"status": "loading", "progress": None, "eta_seconds": None})

    state.update(phase=Phase.LOADING)
    seen = []
    for done in (0, 250, 420, 900, 1000):
        state.set_endpoint(EndpointProgress(PEER, bytes_total=1000, bytes_done=done, source="tcp"))
        state.update(progress=done / 1000, eta_s=(1000 - done) / 10)
        code, body = health(client)
        assert code == 503 and body["status"] == "loading"
        seen.append(body["progress"])
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert body["eta_seconds"] == 0.0

    state.update(phase=Phase.READY)
    assert health(client) == (200, {"status": "ok"})

    state.set_peer(PeerHealth(PEER, "degraded"))
    assert health(client) == (200, {"status": "ok"})  # degraded is not lost
    state.set_peer(PeerHealth(PEER, "lost", reason="no ack for 10 s"))
    assert health(client) == (503, {"status": "degraded", "reason": "rpc_peer_lost", "peer": PEER})

    state.update(phase=Phase.EXITED, exit_code=134)
    assert health(client) == (503, {"status": "exited", "exit_code": 134})


def test_failed_load(served):
    state, _, _, client = served
    state.update(phase=Phase.FAILED)
    assert health(client) == (503, {"status": "failed"})


def test_every_status_matches_exactly_one_schema_branch():
    """health_status's five shapes are the schema's five branches, and nothing else fits."""
    snapshots = [
        Snapshot(phase=Phase.STARTING),
        Snapshot(phase=Phase.LOADING, progress=0.42, eta_s=37.0),
        Snapshot(phase=Phase.READY),
        Snapshot(phase=Phase.READY, peers=(PeerHealth("[::1]:50052", "lost"),)),
        Snapshot(phase=Phase.FAILED),
        Snapshot(phase=Phase.EXITED, exit_code=-9),
        Snapshot(phase=Phase.EXITED),
    ]
    for snap in snapshots:
        VALIDATOR.validate(health_status(snap)[1])
    for bad in (
        {"status": "ok", "argv": ["llama-server", "-m", "/models/x.gguf"]},
        {"status": "loading", "progress": 0.5},
        {"status": "loading", "progress": 1.5, "eta_seconds": None},
        {"status": "degraded", "reason": "rpc_peer_lost", "peer": "/tmp/sock"},
        {"status": "exited", "exit_code": 1, "env": {}},
        {"status": "sleeping"},
    ):
        assert not VALIDATOR.is_valid(bad), bad


def test_head_answers_the_status_without_a_body(served):
    state, _, server, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("HEAD", "/health")
    response = conn.getresponse()
    assert response.status == 503 and response.read() == b""
    state.update(phase=Phase.READY)
    conn.request("HEAD", "/health")  # same keep-alive connection
    response = conn.getresponse()
    assert response.status == 200 and response.read() == b""
    conn.close()


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("POST", "/health", 405),
        ("PUT", "/health", 405),
        ("DELETE", "/metrics", 405),
        ("OPTIONS", "/health", 405),
        ("GET", "/nope", 404),
        ("POST", "/nope", 404),
        ("GET", "/docs", 404),
        ("GET", "/openapi.json", 404),
        ("GET", "/health/", 404),
    ],
)
def test_unknown_paths_are_404_and_other_methods_405(served, method, path, status):
    _, _, _, client = served
    assert client.request(method, path).status_code == status


def test_metrics_exposes_every_instrument_under_its_prometheus_name(served):
    """/metrics is Prometheus text holding every names.METRICS instrument, as EXPOSITION spells it."""
    state, metrics, _, client = served
    state.update(phase=Phase.LOADING, progress=0.5, eta_s=10.0, deadline_unix=1_700_000_100.0)
    state.set_endpoint(EndpointProgress(PEER, bytes_total=1000, bytes_done=500, rate_bps=50.0, eta_s=10.0))
    state.set_peer(PeerHealth(PEER, "up"))
    metrics.count_probe("/health", 503, "drop")
    metrics.count_suppressed("/health", 503, "sampled")
    metrics.count_log(9)
    metrics.count_exit(0, None)
    metrics.record_load_duration(5.0, "ready")
    metrics.count_peer_loss(PEER)
    metrics.count_telemetry("logs", exported=1, dropped=1)
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    types = dict(
        line.split(" ")[2:4] for line in response.text.splitlines() if line.startswith("# TYPE ")
    )
    assert set(EXPOSITION) == {row[0] for row in names.METRICS}
    for name, kind, _, _ in names.METRICS:
        family = EXPOSITION[name]
        expected = {"counter": "counter", "gauge": "gauge", "histogram": "histogram"}[kind]
        assert types.get(family) == expected, (name, family, types)
    assert 'llama_load_progress_ratio{llama_instance_key="box-0"' in response.text
    assert any('llama_rpc_endpoint="all"' in line and line.endswith(" 0.5") for line in response.text.splitlines())
    assert 'llama_instance_phase{llama_instance_key="box-0",llama_phase="loading"' in response.text


def test_metrics_negotiates_openmetrics(served):
    """A scraper that asks for OpenMetrics (as Prometheus does, with the text format as a
    fallback) gets OpenMetrics, ended by `# EOF`; one that does not gets the text format."""
    _state, metrics, _, client = served
    metrics.count_probe("/health", 503, "drop")
    prometheus_accept = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1"
    open_metrics = client.get("/metrics", headers={"Accept": prometheus_accept})
    assert open_metrics.status_code == 200
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text; version=1.0.0")
    assert open_metrics.text.rstrip().endswith("# EOF")
    assert "# TYPE llama_probe_responses counter" in open_metrics.text  # OpenMetrics names the family without _total
    plain = client.get("/metrics", headers={"Accept": "text/plain"})
    assert plain.headers["content-type"].startswith("text/plain; version=0.0.4")
    assert "# EOF" not in plain.text


def test_metrics_is_404_without_a_generator():
    server = HealthServer(InstanceState())
    server.start()
    try:
        assert httpx.get(f"{server.url}/metrics").status_code == 404
        assert httpx.get(f"{server.url}/health").status_code == 503
    finally:
        server.stop()


def test_start_and_stop_are_idempotent_and_stop_is_prompt_with_open_connections():
    """Port 0 gives a real port; stop within 2 s even with a keep-alive client; the port is freed."""
    server = HealthServer(InstanceState(), port=0)
    port = server.start()
    assert port > 0 and server.start() == port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/health")
    conn.getresponse().read()  # an idle keep-alive connection stays open
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.0
    server.stop()
    conn.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_its_own_requests_are_never_logged_at_info(served):
    """uvicorn's access log is off and its own loggers say nothing below WARNING."""
    _, _, _, client = served
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep(level=logging.DEBUG)
    loggers = [logging.getLogger(n) for n in ("", "uvicorn", "uvicorn.access", "uvicorn.error", "fastapi")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        for _ in range(5):
            client.get("/health")
            client.get("/nope")
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert [r for r in records if r.levelno < logging.WARNING] == []


def test_keep_alive_responses_do_not_wait_for_delayed_acks(served):
    """TCP_NODELAY reaches the accepted sockets (without it every keep-alive response waited
    ~40 ms for a delayed ACK): read on the server's own side of a live connection."""
    _, _, server, _ = served
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    conn.request("GET", "/health")
    conn.getresponse().read()
    try:
        # Only our own connection, read while it is open: other connections of the fixture may
        # be closing on the server's loop while this thread looks at them.
        ours = conn.sock.getsockname()
        connections = list(server._server.server_state.connections)
        transports = [c.transport for c in connections if c.transport is not None]
        mine = [t.get_extra_info("socket") for t in transports if t.get_extra_info("peername") == ours]
        assert len(mine) == 1
        assert mine[0].getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        conn.close()
