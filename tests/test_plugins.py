"""The plugins for Python OpenTelemetry pipelines, exercised through the examples."""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
import urllib.request
from pathlib import Path

from opentelemetry._logs import LogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_plugins.plugins import ProbeSampler, UvicornProbeFilter
from otel_plugins.record import Phase

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def test_log_processor_downgrades_loading_probe_and_raises_failing_one():
    """The wrapped processor sees the loading probe at DEBUG and the post-ready failure at WARN."""
    example = load_example("log_processor")
    exporter = InMemoryLogRecordExporter()
    logger = example.build(exporter).get_logger("test")
    for line in example.LINES:
        logger.emit(LogRecord(body=line))
    got = [(r.log_record.body, r.log_record.severity_text) for r in exporter.get_finished_logs()]
    assert [sev for _, sev in got] == ["DEBUG", "INFO", "WARN", "WARN"], got


def test_log_processor_drop_never_reaches_downstream():
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    from otel_plugins.plugins import ProbePolicyLogProcessor
    from otel_plugins.policy import Policy, Verdict

    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    processor = ProbePolicyLogProcessor(SimpleLogRecordProcessor(exporter), Policy(loading_verdict=Verdict.DROP))
    provider.add_log_record_processor(processor)
    logger = provider.get_logger("t")
    logger.emit(LogRecord(body="srv  log_server_r: request: GET /health 127.0.0.1 503"))
    logger.emit(LogRecord(body="a line nobody recognises"))
    logger.emit(LogRecord(body="x", attributes={"http.request.method": "GET", "url.path": "/v1/models", "client.address": "127.0.0.1", "http.response.status_code": 503}))
    assert [r.log_record.body for r in exporter.get_finished_logs()] == ["a line nobody recognises"]
    assert processor.dropped == 2


def test_uvicorn_filter_reads_record_args():
    probe_filter = UvicornProbeFilter(phase=lambda: Phase.READY)
    logger = logging.getLogger("uvicorn.access.test")
    logger.setLevel(logging.INFO)

    def record(path, status, client="127.0.0.1:5000"):
        return logger.makeRecord(logger.name, logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', (client, "GET", path, "1.1", status), None)

    ok = record("/health", 200)
    assert probe_filter.filter(ok) is False  # downgraded to DEBUG, below the logger's INFO
    failing = record("/health", 503)
    assert probe_filter.filter(failing) is True and failing.levelname == "WARNING"
    business = record("/v1/models", 200, client="10.1.1.1:4000")
    assert probe_filter.filter(business) is True and business.levelname == "INFO"
    odd = logger.makeRecord(logger.name, logging.INFO, __file__, 1, "no args", None, None)
    assert probe_filter.filter(odd) is True


def test_fastapi_example_keeps_probes_out_of_access_log_and_traces(tmp_path):
    """Real uvicorn serving the example: /health is neither logged at INFO nor traced."""
    import socket

    import uvicorn

    example = load_example("fastapi_probe_filter")
    spans = InMemorySpanExporter()
    example.build(spans)
    capture = Capture()
    access = logging.getLogger("uvicorn.access")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(example.app, host="127.0.0.1", port=port, log_level="info"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 10
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        access.addHandler(capture)
        for _ in range(3):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5).read()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/chat/completions", data=b'{"messages": []}', headers={"Content-Type": "application/json"}
        )
        urllib.request.urlopen(request, timeout=5).read()
    finally:
        access.removeHandler(capture)
        server.should_exit = True
        thread.join(timeout=10)
    paths = [r.args[2] for r in capture.records]
    assert paths == ["/v1/chat/completions"]
    server_spans = [s for s in spans.get_finished_spans() if s.kind.name == "SERVER"]
    assert [s.name for s in server_spans] == ["POST /v1/chat/completions"]


def test_sampler_delegates_non_probe_spans():
    from opentelemetry.sdk.trace.sampling import Decision
    from opentelemetry.trace import SpanKind

    sampler = ProbeSampler()
    attrs = {"http.request.method": "GET", "url.path": "/healthz", "client.address": "127.0.0.1"}
    assert sampler.should_sample(None, 1, "GET /healthz", SpanKind.SERVER, attrs).decision is Decision.DROP
    attrs["url.path"] = "/v1/embeddings"
    assert sampler.should_sample(None, 1, "GET", SpanKind.SERVER, attrs).decision is Decision.RECORD_AND_SAMPLE
    assert "ProbeSampler" in sampler.get_description()
