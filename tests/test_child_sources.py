"""The verbosity-proof sources on their own: the child /health poller (against a real local
HTTP server), own-poll recognition, the lifecycle hook, router model loads and their
/health, and the upload timing fit."""

from __future__ import annotations

import http.server
import json
import threading
import time

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_plugins import names
from otel_plugins.lifecycle import Lifecycle
from otel_plugins.record import Phase
from otel_plugins.router_models import RouterModels
from otel_plugins.sinks.health import model_health_status
from otel_plugins.sources.child_health import ChildHealthPoller, OwnPolls, health_target, own_source_address
from otel_plugins.state import InstanceState
from otel_plugins.upload_track import UploadTiming


class _Health(http.server.BaseHTTPRequestHandler):
    answers: list[int] = []
    seen: list[tuple[float, str]] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        type(self).seen.append((time.monotonic(), self.client_address[0]))
        status = type(self).answers.pop(0) if type(self).answers else 200
        body = json.dumps({"status": "ok"} if status == 200 else {"error": {"code": status}}).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    _Health.answers, _Health.seen = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_poller_is_gentle_backs_off_and_stops_at_ok(health_server):
    _Health.answers = [503, 503, 503, 200]
    answers = []
    source = own_source_address("127.0.0.1")
    poller = ChildHealthPoller("127.0.0.1", health_server.server_address[1], lambda s, b: answers.append((s, b)),
                               source_address=source, min_interval_s=1.0, backoff=1.5)
    started = time.monotonic()
    poller.start()
    poller._thread.join(20)
    assert [s for s, _ in answers] == [503, 503, 503, 200]
    assert answers[-1][1] == {"status": "ok"}
    times = [t for t, _ in _Health.seen]
    gaps = [b - a for a, b in zip([started, *times], times)]
    assert all(gap >= 0.99 for gap in gaps), gaps  # never faster than once a second
    assert gaps[2] > gaps[1] > gaps[0] - 0.05, gaps  # backing off
    assert {address for _, address in _Health.seen} == {source}, "polls come from our own loopback address"


def test_poller_stops_when_the_log_proved_readiness(health_server):
    loading = [True]
    poller = ChildHealthPoller("127.0.0.1", health_server.server_address[1], lambda s, b: None, should_poll=lambda: loading[0])
    poller.start()
    time.sleep(1.3)
    loading[0] = False
    poller._thread.join(5)
    assert not poller._thread.is_alive()
    assert poller.polls <= 1
    with pytest.raises(ValueError):
        ChildHealthPoller("127.0.0.1", 1, lambda s, b: None, min_interval_s=0.5)


def test_no_answer_is_none_and_targets_follow_the_argv():
    poller = ChildHealthPoller("127.0.0.1", 1, lambda s, b: None)
    assert poller.poll_once() == (None, None)
    assert health_target(None, None) == ("127.0.0.1", 8080)
    assert health_target("0.0.0.0", 9000) == ("127.0.0.1", 9000)
    assert health_target("::", 9000) == ("::1", 9000)
    assert health_target("/run/llama.sock", None) is None
    assert own_source_address("10.0.0.5") is None and own_source_address("::1") is None
    assert own_source_address("127.0.0.1", pid=0x12345).startswith("127.")


def test_own_polls_are_recognised_by_address_and_path():
    own = OwnPolls("127.200.1.2")
    assert own.take("127.200.1.2", "/health")
    assert not own.take("127.0.0.1", "/health")
    assert not own.take("127.200.1.2", "/v1/models")
    assert not OwnPolls(None).take(None, "/health")
    assert own.seen == 1


def test_lifecycle_follows_the_child_health():
    life = Lifecycle(started_at=0.0)
    assert life.health_answered(503, 1.0) is Phase.LOADING
    assert life.health_answered(503, 2.0) is None
    assert life.health_answered(200, 3.0) is Phase.READY
    assert life.health_answered(503, 4.0) is None, "after ready, health belongs to the orchestrator"


def _spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("t"), exporter


def test_router_models_become_load_spans_and_model_health():
    tracer, exporter = _spans()
    parent = tracer.start_span("llama.instance")
    state = InstanceState()
    now = [0.0]
    models = RouterModels(tracer, parent, state, clock=lambda: now[0])
    models.on_event("big", "model_status", {"status": "loading"})
    assert model_health_status(state.snapshot(), "big") == (503, {"status": "loading", "progress": None, "eta_seconds": None})
    for t, value in ((1.0, 0.0), (3.0, 0.2), (5.0, 0.4), (7.0, 0.6)):
        now[0] = t
        models.on_event("big", "status_change", {"status": "loading", "progress": {"value": value}})
    code, body = model_health_status(state.snapshot(), "big")
    assert code == 503 and body["progress"] == pytest.approx(0.6) and body["eta_seconds"] == pytest.approx(4.0, rel=0.2)
    now[0] = 9.0
    models.on_event("big", "status_change", {"status": "loaded", "info": {}})
    assert model_health_status(state.snapshot(), "big") == (200, {"status": "ok"})
    models.on_event("tiny", "model_status", {"status": "loading"})
    models.on_event("tiny", "status_change", {"status": "unloaded", "exit_code": 1})
    assert model_health_status(state.snapshot(), "tiny") == (503, {"status": "failed"})
    assert model_health_status(state.snapshot(), "nope") is None
    models.on_event("tiny", "model_remove", {})
    assert model_health_status(state.snapshot(), "tiny") is None
    spans = {s.attributes[names.MODEL_NAME]: s for s in exporter.get_finished_spans()}
    big = spans["big"]
    assert big.name == names.SPAN_LOAD and big.parent.span_id == parent.get_span_context().span_id
    ratios = [e.attributes[names.ATTR_PROGRESS_RATIO] for e in big.events]
    assert ratios == sorted(ratios) and ratios[-1] == 1.0
    assert not spans["tiny"].status.is_ok


def test_upload_timing_separates_wire_from_cached_bytes():
    timing = UploadTiming(forget=1.0, first_interval_s=0.25)
    a, b = 40e-9, 5e-9  # 25 MB/s on the wire, 200 MB/s from the cache
    t = wire = cached = 0.0
    timing.observe(t, wire, cached)
    for dw, dc in [(8e6, 0), (2e6, 60e6), (10e6, 0), (1e6, 100e6), (9e6, 0), (0, 0), (5e6, 20e6)]:
        t += dw * a + dc * b + (0.3 if dw == dc == 0 else 0.0)
        wire, cached = wire + dw, cached + dc
        timing.observe(t, wire, cached)
    fa, fb = timing.seconds_per_byte()
    # the idle 0.3 s is added to the next interval: it counts, spread over its bytes
    assert fa == pytest.approx(a, rel=0.2) and fb == pytest.approx(b, rel=0.5)
    assert timing.eta(50e6, 100e6) == pytest.approx(50e6 * fa + 100e6 * fb)
    fresh = UploadTiming()
    fresh.observe(0.0, 0, 0)
    fresh.observe(1.0, 1000, 0)  # device queries before the upload: no rate from them
    assert fresh.seconds_per_byte() == (None, None) and fresh.eta(1e6, 0) is None
    fresh.observe(2.0, 25e6, 0)
    # 25 MB in the last second: 40 ns a byte; 35 MB left, cached ones priced like wire ones until seen
    assert fresh.eta(25e6, 10e6) == pytest.approx(1.4, rel=0.01)
