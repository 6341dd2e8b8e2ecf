"""The fast log encoder writes what the SDK path writes.

Every line of the shared corpus (and generated lines of every dialect) is turned into a
log record twice: through the OpenTelemetry SDK (LoggerProvider, then the OTLP exporters'
own `encode_logs`) and through `emit.otlp_encode.LogEncoder`. The protobuf requests must
be equal message for message and byte for byte, and the OTLP/JSON text must be the
protobuf library's own JSON mapping of the same request.
"""

from __future__ import annotations

import json

import pytest
from google.protobuf import json_format
from opentelemetry._logs import LogRecord as ApiLogRecord
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource

from conftest import CORPUS_DIR
from otel_plugins.classify import Classifier
from otel_plugins.emit.logs import record_attributes
from otel_plugins.emit.otlp_encode import LogEncoder, WireFormat
from otel_plugins.redact import exportable

RESOURCE = {"service.name": "llama-server", "service.instance.id": "box-0", "host.name": "node-1", "llama.version": 3}


def corpus_lines() -> list[str]:
    path = CORPUS_DIR / "labeled.jsonl"
    if not path.exists():
        pytest.skip(f"the shared corpus is not at {path}")
    lines = [json.loads(row)["line"] for row in path.read_text(encoding="utf-8").splitlines()]
    # Secrets, surrogate escapes and non-ASCII text are exactly where encoders part ways.
    return lines + [
        "srv  log_server_r: request: POST /v1/chat/completions?api_key=sk-abcdef0123456789abcdef 10.0.0.1 500",
        "load_model: loading model '/models/\udcff\udcfe-broken.gguf' — 模型",
        "",
    ]


def records(lines: list[str]) -> list[tuple[int, int, int, str, str, dict]]:
    classifier = Classifier()
    out = []
    for number, line in enumerate(lines):
        classified = classifier.classify(line)
        severity = classified.decision.severity
        out.append((1_700_000_000_000_000_000 + number, 1_700_000_000_500_000_000 + number, int(severity), severity.name, line, record_attributes(classified)))
    return out


def sdk_request(items) -> ExportLogsServiceRequest:
    provider = LoggerProvider(resource=Resource(RESOURCE))
    exporter = InMemoryLogRecordExporter()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    logger = provider.get_logger("otel_plugins")
    for time_ns, observed_ns, severity, text, body, attributes in items:
        # What reaches the exporter on the SDK path: exportable strings (the encoder does this itself).
        clean = {k: exportable(v) if isinstance(v, str) else v for k, v in attributes.items()}
        logger.emit(
            ApiLogRecord(
                timestamp=time_ns, observed_timestamp=observed_ns, severity_number=SeverityNumber(severity),
                severity_text=text, body=exportable(body), attributes=clean,
            )
        )
    return encode_logs(exporter.get_finished_logs())


def test_protobuf_requests_equal_the_sdk_paths_byte_for_byte():
    items = records(corpus_lines())
    encoder = LogEncoder(WireFormat.PROTOBUF, RESOURCE, "otel_plugins")
    ours = encoder.request([encoder.record(*item) for item in items])
    theirs = sdk_request(items)
    assert ExportLogsServiceRequest.FromString(ours) == theirs
    assert ours == theirs.SerializeToString()


def test_json_requests_are_the_otlp_json_mapping_of_the_same_request():
    items = records(corpus_lines())
    encoder = LogEncoder(WireFormat.JSON, RESOURCE, "otel_plugins")
    ours = json.loads(encoder.request([encoder.record(*item) for item in items]))
    theirs = json_format.MessageToDict(sdk_request(items), use_integers_for_enums=True)
    assert ours == theirs


def test_secrets_and_broken_bytes_never_reach_the_wire():
    items = records(corpus_lines())
    for wire in WireFormat:
        encoder = LogEncoder(wire, RESOURCE, "otel_plugins")
        payload = encoder.request([encoder.record(*item) for item in items])
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        assert b"sk-abcdef0123456789abcdef" not in data
        assert b"[REDACTED]" in data and "\ufffd\ufffd-broken".encode() in data
