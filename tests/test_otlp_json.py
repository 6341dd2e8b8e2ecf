"""The OTLP JSON files are opentelemetry-exporter-otlp-json-file's: the embedded default and
`otel_plugins_json_file` (the same exporters, writing under OTEL_PLUGINS_OUTPUT_DIR) write
exactly what upstream's `otlp_json_file` writes for the same batch, as valid JSON."""

from __future__ import annotations

import io
import json
import math

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.exporter.otlp.json.file import FileMetricExporter as UpstreamMetrics
from opentelemetry.exporter.otlp.json.file import FileSpanExporter as UpstreamSpans
from opentelemetry.exporter.otlp.json.file._log_exporter import FileLogExporter as UpstreamLogs
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._importlib_metadata import entry_points

from otel_plugins.sinks import otlp_json
from otel_plugins.sinks.exporter_config import resolve_exporters

RESOURCE = Resource.create({"service.name": "svc"})
SCOPE_ATTRIBUTES = {"llama.scope.test": "kept"}


def batches():
    """One batch per signal with what the old hand-written encoder got wrong: scope
    attributes, NaN and infinities, nested values, bytes, ids."""
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=RESOURCE)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    tracer = tracer_provider.get_tracer("otel_plugins", "1.0", attributes=SCOPE_ATTRIBUTES)
    with tracer.start_as_current_span("s", attributes={"ratio": math.nan, "rate": math.inf, "args": ["a", "b"]}) as span:
        span.add_event("e", {"n": 1})
    logs = InMemoryLogRecordExporter()
    logger_provider = LoggerProvider(resource=RESOURCE)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(logs))
    logger = logger_provider.get_logger("otel_plugins", "1.0", attributes=SCOPE_ATTRIBUTES)
    logger.emit(LogRecord(body={"k": [1, 2.5, b"\x00\xff"]}, severity_number=SeverityNumber.WARN, attributes={"x": -math.inf}, event_name="llama.test"))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = meter_provider.get_meter("otel_plugins", "1.0", attributes=SCOPE_ATTRIBUTES)
    meter.create_histogram("h", "s").record(1.5)
    return spans.get_finished_spans(), logs.get_finished_logs(), reader.get_metrics_data()


def upstream_lines(batch_spans, batch_logs, metrics) -> dict[str, str]:
    out = {}
    for name, cls, batch in (("traces", UpstreamSpans, batch_spans), ("logs", UpstreamLogs, batch_logs), ("metrics", UpstreamMetrics, metrics)):
        stream = io.StringIO()
        exporter = cls(stream=stream)
        exporter.export(batch)
        out[name] = stream.getvalue()
    return out


def test_our_entry_point_writes_upstreams_format_under_the_output_dir(tmp_path, monkeypatch):
    """`otel_plugins_json_file`, built without arguments as opentelemetry-instrument builds
    it, appends to <OTEL_PLUGINS_OUTPUT_DIR>/<signal>.jsonl exactly upstream's bytes."""
    monkeypatch.setenv(otlp_json.OUTPUT_DIR_ENV, str(tmp_path))
    batch_spans, batch_logs, metrics = batches()
    expected = upstream_lines(batch_spans, batch_logs, metrics)
    for signal, batch in (("traces", batch_spans), ("logs", batch_logs), ("metrics", metrics)):
        (entry_point,) = entry_points(group=f"opentelemetry_{signal}_exporter", name="otel_plugins_json_file")
        exporter = entry_point.load()()
        exporter.export(batch)
        exporter.shutdown()
        written = (tmp_path / f"{signal}.jsonl").read_text(encoding="utf-8")
        assert written == expected[signal], signal


def test_the_embedded_default_is_upstreams_exporter(tmp_path):
    """With nothing set, each signal goes to upstream's otlp_json_file at <out>/<signal>.jsonl."""
    batch_spans, batch_logs, metrics = batches()
    expected = upstream_lines(batch_spans, batch_logs, metrics)
    for signal, batch in (("traces", batch_spans), ("logs", batch_logs), ("metrics", metrics)):
        (config,) = resolve_exporters(signal, {}, tmp_path)
        assert (config.name, config.path) == ("otlp_json_file", tmp_path / f"{signal}.jsonl")
        exporter = config.create()
        assert type(exporter).__module__.startswith("opentelemetry.exporter.otlp.json.file")
        exporter.export(batch)
        exporter.shutdown()
        assert (tmp_path / f"{signal}.jsonl").read_text(encoding="utf-8") == expected[signal]


def test_the_files_are_strict_json_with_scope_attributes():
    """NaN and infinities are strings (OTLP/JSON's mapping), not bare NaN; scope attributes
    and hex ids are there."""
    batch_spans, batch_logs, metrics = batches()
    lines = upstream_lines(batch_spans, batch_logs, metrics)

    def strict(text):
        return json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"bare {c}")))

    traces, logs, metric = (strict(lines[s]) for s in ("traces", "logs", "metrics"))
    scope_spans = traces["resourceSpans"][0]["scopeSpans"][0]
    assert scope_spans["scope"]["attributes"] == [{"key": "llama.scope.test", "value": {"stringValue": "kept"}}]
    span = scope_spans["spans"][0]
    assert {a["key"]: a["value"] for a in span["attributes"]}["ratio"] == {"doubleValue": "NaN"}
    assert len(span["traceId"]) == 32 and all(c in "0123456789abcdef" for c in span["traceId"])
    record = logs["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert record["eventName"] == "llama.test"
    assert {a["key"]: a["value"] for a in record["attributes"]}["x"] == {"doubleValue": "-Infinity"}
    assert metric["resourceMetrics"][0]["scopeMetrics"][0]["scope"]["attributes"]
