"""Providers for traces, metrics and logs, configured by the standard OTEL_* variables.

Which exporters each signal goes to is `exporter_config.resolve_exporters`' answer; with no
exporter variable and no OTLP endpoint set, the embedded default writes OTLP JSON lines
(`traces.jsonl`, `metrics.jsonl`, `logs.jsonl`) under the output directory with
opentelemetry-exporter-otlp-json-file. Export runs in the SDK's batch processors with
bounded queues, so a slow or absent backend costs dropped telemetry, never a blocked
caller; what each signal's first exporter delivered or lost is counted (`ExportStats`).
The processors, the metric reader, the id generator and the resource take their
OTEL_* variables through `sdk_settings`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from .export_stats import ExportStats
from .exporter_config import FILE, ExporterConfig, resolve_exporters
from .log_senders import line_logs_for
from .sdk_settings import METRIC_INTERVAL_S, QUEUE_SIZE, batch_settings, id_generator, metric_reader_settings, resource_for
from .redacting import RedactingLogExporter, RedactingMetricExporter, RedactingSpanExporter

SCOPE_NAME = "otel_plugins"
# How long the wrapper may spend flushing telemetry once its server has exited: within
# `docker stop`'s 10 s grace period, with time left for the server's own shutdown.
SHUTDOWN_TIMEOUT_S = 5.0
_METRICS_SHARE = 0.4
# Of the metrics' share, what a final metric export keeps for itself however long log sends take
# (past the deadline, when a log send in flight took the rest).
_METRIC_EXPORT_RESERVE_S = 1.0


class _CountingExporter:
    """Counts what an exporter delivered or failed, and lets `Telemetry.shutdown` end its
    work at the deadline.

    The SDK's batch processors wait up to 30 s for their worker at shutdown, and the OTLP
    exporters retry each batch for up to 10 s: with the backend down, the wrapper would
    outlive its server by most of a minute, past any supervisor's grace period. After
    `abort()`, a retry in progress stops and the batches still queued are not sent; they
    count as dropped once the stats are settled. Only a signal's first exporter is
    counted (`counted`), so that a record sent to two exporters is one record.
    """

    signal: str
    success: Any
    failure: Any
    aborted = False
    _inner_closed = False

    def __init__(self, inner: Any, stats: ExportStats, counted: bool = True) -> None:
        self.inner, self.stats, self.counted = inner, stats, counted

    def export(self, batch: Sequence[Any]) -> Any:
        if self.aborted:
            return self.failure
        try:
            result = self.inner.export(batch)
        except Exception:  # an exporter fault is a failed export, not a crash
            result = self.failure
        if self.counted:
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


@dataclass
class Telemetry:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    logger_provider: LoggerProvider
    stats: ExportStats
    output_dir: Path | None  # where the OTLP JSON files go, when a signal goes to them
    log_queue_size: int = QUEUE_SIZE
    # The server's lines as log records: encoded and sent without the SDK's per-record
    # objects (sinks/log_batches.py) to every log exporter that takes them so, and through
    # `line_log_provider` (an SDK LoggerProvider) to the others. Host applications' own
    # records use `logger_provider`, which exports to every log exporter.
    line_logs: Any = None
    line_log_provider: Any = None
    _closed: bool = False
    _exporters: list[Any] = field(default_factory=list)

    def flush_logs(self, timeout_s: float = 30.0) -> bool:
        """Export every log record emitted so far (line records and the SDK path's); True when
        all of it went out within `timeout_s` each."""
        done = self.line_logs.force_flush(timeout_s) if self.line_logs is not None else True
        return self.logger_provider.force_flush(int(timeout_s * 1000)) and done

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
            if self.line_logs is not None:
                self.line_logs.shutdown(max(0.1, timeout_s * (1 - _METRICS_SHARE)))
                # A batch still on the wire when its share of the time ran out (a slow link) lands
                # or fails before the last metric export reads the counts; else that export would
                # say fewer records went out than did.
                self.line_logs.join(deadline - time.monotonic() - _METRIC_EXPORT_RESERVE_S)
            # Metrics last, so that their final export carries the settled drop counts.
            for provider in (self.tracer_provider, self.logger_provider, self.meter_provider):
                try:
                    if provider is self.meter_provider:
                        self.stats.settle()
                        # Its reader takes a timeout, and shuts its exporter down when it runs out. It
                        # keeps its reserve even when a batch on a slow link outlived the logs' share
                        # (the batcher waits for a send in flight rather than count as lost what may land).
                        left = max(_METRIC_EXPORT_RESERVE_S, deadline - time.monotonic())
                        provider.shutdown(timeout_millis=left * 1000)
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
    metric_interval_s: float = METRIC_INTERVAL_S,
    extra_metric_readers: Sequence[MetricReader] = (),
    environ: Mapping[str, str] | None = None,
) -> Telemetry:
    """Providers for one service, their exporters chosen by the OTEL_* variables in `environ`
    (default `os.environ`). Leaves global state alone: nothing is set as the global
    provider, and logging is not configured. Raises `exporter_config.ConfigError` naming a bad variable."""
    environ = os.environ if environ is None else environ
    resource = resource_for(service_name, resource_attributes, environ)
    chosen = {signal: resolve_exporters(signal, environ, output_dir) for signal in ("traces", "metrics", "logs")}
    stats = ExportStats(off=frozenset(s for s, configs in chosen.items() if not configs))
    span_settings, log_settings = batch_settings(environ, "BSP"), batch_settings(environ, "BLRP")
    reader_settings = metric_reader_settings(environ, metric_interval_s)
    exporters: list[_CountingExporter] = []

    def wrapped(config: ExporterConfig, counting: type[_CountingExporter], first: bool) -> _CountingExporter:
        # Secrets never leave: every exported string is redacted at this edge (line records at theirs).
        edge = RedactingSpanExporter if counting is _CountingSpanExporter else RedactingLogExporter
        exporter = counting(edge(config.create()), stats, counted=first)
        exporters.append(exporter)
        return exporter

    tracer_provider = TracerProvider(resource=resource, id_generator=id_generator(environ))
    for i, config in enumerate(chosen["traces"]):
        tracer_provider.add_span_processor(BatchSpanProcessor(wrapped(config, _CountingSpanExporter, i == 0), **span_settings))
    logger_provider = LoggerProvider(resource=resource)
    for i, config in enumerate(chosen["logs"]):
        logger_provider.add_log_record_processor(BatchLogRecordProcessor(wrapped(config, _CountingLogExporter, i == 0), **log_settings))
    line_logs, rest = line_logs_for(chosen["logs"], resource, SCOPE_NAME, stats, log_settings)
    line_log_provider = None if line_logs is not None else logger_provider
    if line_logs is not None:
        exporters.append(line_logs)
        if rest:  # a third-party exporter: the SDK path, to it alone
            line_log_provider = LoggerProvider(resource=resource)
            for config in rest:
                line_log_provider.add_log_record_processor(BatchLogRecordProcessor(wrapped(config, _CountingLogExporter, False), **log_settings))
    readers = list(extra_metric_readers)
    for config in chosen["metrics"]:
        exporter = config.create()
        # A pull exporter (OTEL_METRICS_EXPORTER=prometheus) is a reader of its own.
        readers.append(
            exporter if isinstance(exporter, MetricReader) else PeriodicExportingMetricReader(RedactingMetricExporter(exporter), **reader_settings)
        )
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    files = [c.path for configs in chosen.values() for c in configs if c.name == FILE and c.path is not None]
    return Telemetry(
        tracer_provider, meter_provider, logger_provider, stats,
        output_dir=files[0].parent if files else None,
        log_queue_size=log_settings["max_queue_size"],
        line_logs=line_logs,
        line_log_provider=line_log_provider,
        _exporters=exporters,
    )  # fmt: skip
