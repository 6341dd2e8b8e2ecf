"""Providers for traces, metrics and logs, configured by the standard OTEL_* variables.

With no OTLP endpoint configured, the embedded default writes OTLP JSON files
(`traces.jsonl`, `metrics.jsonl`, `logs.jsonl`) under the output directory. Export runs
in the SDK's batch processors with bounded queues, so a slow or absent backend costs
dropped telemetry, never a blocked caller; what each exporter delivered or lost is counted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from .otlp_json import FileLogExporter, FileMetricExporter, FileSpanExporter
from .redacting import redacting

_ENDPOINT_VARS = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
)
QUEUE_SIZE = 4096
# How long the wrapper may spend flushing telemetry once its server has exited: within
# `docker stop`'s 10 s grace period, with time left for the server's own shutdown.
SHUTDOWN_TIMEOUT_S = 5.0
_METRICS_SHARE = 0.4


@dataclass
class ExportStats:
    """Telemetry records by signal: emitted, exported, failed in export. Thread-safe.

    The SDK's batch processors drop records silently when their queue is full, and drop
    what is still queued when shutdown times out. So until shutdown, `dropped()` counts
    failed exports; once the log pipeline is shut down (`settle()`), every log record
    emitted and not exported is dropped, and `emitted == exported + dropped` exactly.
    """

    emitted: Counter = field(default_factory=Counter)
    exported: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    settled: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, signal: str, ok: bool, count: int) -> None:
        with self._lock:
            (self.exported if ok else self.failed)[signal] += count

    def count_emitted(self, signal: str, count: int = 1) -> None:
        with self._lock:
            self.emitted[signal] += count

    def settle(self) -> None:
        self.settled = True

    def dropped(self) -> Counter:
        with self._lock:
            dropped = Counter(self.failed)
            if self.settled:
                for signal, emitted in self.emitted.items():
                    dropped[signal] = max(0, emitted - self.exported[signal])
            return dropped


class _RateLimited(logging.Filter):
    """The SDK warns on every dropped record and failed export; say each thing once a minute."""

    def __init__(self, interval_s: float = 60.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        key = f"{record.name}:{record.msg}"
        if now - self._last.get(key, -self.interval_s) < self.interval_s:
            return False
        self._last[key] = now
        return True


def quiet_sdk_logging() -> None:
    """SDK and exporter warnings go to stderr once a minute each, prefixed, not per record."""
    logger = logging.getLogger("opentelemetry")
    if any(isinstance(f, _RateLimited) for f in logger.filters):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("otel-plugins: %(name)s: %(message)s"))
    handler.addFilter(_RateLimited())
    logger.addHandler(handler)
    logger.addFilter(_RateLimited())
    logger.propagate = False


class _CountingExporter:
    """Counts what an exporter delivered or failed, and lets `Telemetry.shutdown` end its
    work at the deadline.

    The SDK's batch processors wait up to 30 s for their worker at shutdown, and the OTLP
    exporters retry each batch for up to 10 s: with the backend down, the wrapper would
    outlive its server by most of a minute, past any supervisor's grace period. After
    `abort()`, a retry in progress stops and the batches still queued are not sent; they
    count as dropped once the stats are settled.
    """

    signal: str
    success: Any
    failure: Any
    aborted = False
    _inner_closed = False

    def __init__(self, inner: Any, stats: ExportStats) -> None:
        self.inner, self.stats = inner, stats

    def export(self, batch: Sequence[Any]) -> Any:
        if self.aborted:
            return self.failure
        try:
            result = self.inner.export(batch)
        except Exception:  # an exporter fault is a failed export, not a crash
            result = self.failure
        self.stats.add(self.signal, result is self.success, len(batch))
        return result

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return getattr(self.inner, "force_flush", lambda *_: True)(timeout_millis)

    def abort(self) -> None:
        self.aborted = True
        self._close_inner()

    def _close_inner(self) -> None:
        if not self._inner_closed:
            self._inner_closed = True
            # Wakes an exporter sleeping between retries; shutting down must not fail the caller.
            with contextlib.suppress(Exception):
                self.inner.shutdown()

    def shutdown(self) -> None:
        self._close_inner()


class _CountingSpanExporter(_CountingExporter, SpanExporter):
    signal, success, failure = "traces", SpanExportResult.SUCCESS, SpanExportResult.FAILURE


class _CountingLogExporter(_CountingExporter, LogRecordExporter):
    signal, success, failure = "logs", LogRecordExportResult.SUCCESS, LogRecordExportResult.FAILURE


def otlp_configured(environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return any(environ.get(v) for v in _ENDPOINT_VARS)


def _enabled(environ: Mapping[str, str], signal: str) -> bool:
    return environ.get(f"OTEL_{signal.upper()}_EXPORTER", "").strip().lower() != "none"


def _protocol(environ: Mapping[str, str], signal: str) -> str:
    return (
        environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()


def _otlp_exporters(environ: Mapping[str, str]) -> tuple[SpanExporter, Any, LogRecordExporter]:
    # The exporters read endpoint, headers, timeout, compression and certificates from the
    # environment themselves; only the protocol choice is ours to make.
    if _protocol(environ, "traces") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Spans
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Spans
    if _protocol(environ, "metrics") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as Metrics
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as Metrics
    if _protocol(environ, "logs") == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as Logs
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as Logs
    return Spans(), Metrics(), Logs()


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    stats: ExportStats
    output_dir: Path | None
    _closed: bool = False
    _exporters: list[_CountingExporter] = field(default_factory=list)

    def shutdown(self, timeout_s: float | None = None) -> None:
        """Flush and stop every provider within `timeout_s` (default SHUTDOWN_TIMEOUT_S);
        what is not exported by then is dropped and counted. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        timeout_s = SHUTDOWN_TIMEOUT_S if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        # Spans and logs stop a little early, so that the last metric export (which
        # carries the settled drop counts) keeps some of the time even when they used it all.
        timer = threading.Timer(timeout_s * (1 - _METRICS_SHARE), lambda: [e.abort() for e in self._exporters])
        timer.daemon = True
        timer.start()
        try:
            # Metrics last, so that their final export carries the settled drop counts.
            for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
                try:
                    if provider is self.meter_provider:
                        self.stats.settle()
                        # Its reader takes a timeout, and shuts its exporter down when it runs out.
                        provider.shutdown(timeout_millis=max(0.0, deadline - time.monotonic()) * 1000)
                    else:
                        provider.shutdown()
                except Exception:  # noqa: BLE001 - shutting down must finish whatever a provider does
                    pass
        finally:
            timer.cancel()


def setup_telemetry(
    service_name: str,
    output_dir: str | Path | None = "otel-out",
    *,
    resource_attributes: Mapping[str, Any] | None = None,
    metric_interval_s: float = 5.0,
    extra_metric_readers: Sequence[MetricReader] = (),
    environ: Mapping[str, str] | None = None,
) -> Telemetry:
    environ = os.environ if environ is None else environ
    quiet_sdk_logging()
    attributes = dict(resource_attributes or {})
    if not environ.get("OTEL_SERVICE_NAME") and "service.name=" not in environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes["service.name"] = service_name
    resource = Resource.create(attributes)
    stats = ExportStats()
    if otlp_configured(environ):
        spans, metrics, logs = _otlp_exporters(environ)
        directory = None
    else:
        directory = Path(output_dir or "otel-out")
        spans = FileSpanExporter(directory / "traces.jsonl")
        metrics = FileMetricExporter(directory / "metrics.jsonl")
        logs = FileLogExporter(directory / "logs.jsonl")
    spans, metrics, logs = redacting(spans, metrics, logs)  # secrets never leave: every exported string, here
    # OTEL_<SIGNAL>_EXPORTER=none turns a signal off, e.g. for a backend that takes traces only.
    tracer_provider = TracerProvider(resource=resource)
    counting_spans, counting_logs = _CountingSpanExporter(spans, stats), _CountingLogExporter(logs, stats)
    if _enabled(environ, "traces"):
        tracer_provider.add_span_processor(
            BatchSpanProcessor(counting_spans, max_queue_size=QUEUE_SIZE, schedule_delay_millis=1000)
        )
    readers = list(extra_metric_readers)
    if _enabled(environ, "metrics"):
        readers.append(PeriodicExportingMetricReader(metrics, export_interval_millis=int(metric_interval_s * 1000)))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    logger_provider = LoggerProvider(resource=resource)
    if _enabled(environ, "logs"):
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(counting_logs, max_queue_size=QUEUE_SIZE, schedule_delay_millis=1000)
        )
    return Telemetry(tracer_provider, meter_provider, logger_provider, stats, directory, _exporters=[counting_spans, counting_logs])
