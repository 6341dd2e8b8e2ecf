"""OTLP JSON files: one ExportRequest per line, as the Collector's file exporter writes them.

The SDK's own protobuf encoders build the requests; only the JSON mapping is done here,
where the OTLP spec departs from protobuf's (trace and span ids are hex, not base64).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .otlp_json_logs import logs_request

_HEX_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})
OUTPUT_DIR_ENV = "OTEL_PLUGINS_OUTPUT_DIR"


def _default_path(file_name: str) -> Path:
    # Exporters named by OTEL_*_EXPORTER=otlp_json_file are built without arguments.
    return Path(os.environ.get(OUTPUT_DIR_ENV) or "otel-out") / file_name


def to_otlp_json(message: Any) -> dict[str, Any]:
    data = MessageToDict(message, use_integers_for_enums=True)
    _hex_ids(data)
    return data


def _hex_ids(node: Any) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _HEX_KEYS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


class _JsonLinesFile:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in shutdown
        self._lock = threading.Lock()

    def write(self, message: Any) -> None:
        data = message if isinstance(message, dict) else to_otlp_json(message)
        line = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


class FileSpanExporter(SpanExporter):
    def __init__(self, path: str | Path | None = None) -> None:
        self._out = _JsonLinesFile(Path(path) if path else _default_path("traces.jsonl"))

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            self._out.write(encode_spans(spans))
        except (OSError, ValueError):
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        self._out.close()


class FileLogExporter(LogRecordExporter):
    def __init__(self, path: str | Path | None = None) -> None:
        self._out = _JsonLinesFile(Path(path) if path else _default_path("logs.jsonl"))

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        try:
            self._out.write(logs_request(batch))
        except (OSError, ValueError):
            return LogRecordExportResult.FAILURE
        return LogRecordExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        self._out.close()


class FileMetricExporter(MetricExporter):
    def __init__(self, path: str | Path | None = None) -> None:
        super().__init__(preferred_temporality={}, preferred_aggregation={})
        self._out = _JsonLinesFile(Path(path) if path else _default_path("metrics.jsonl"))

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        try:
            self._out.write(encode_metrics(metrics_data))
        except (OSError, ValueError):
            return MetricExportResult.FAILURE
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._out.close()


__all__ = ["FileLogExporter", "FileMetricExporter", "FileSpanExporter", "to_otlp_json"]
