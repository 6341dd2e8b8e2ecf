"""Decided lines become OpenTelemetry log records."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber

from .. import names
from ..classify import Classified
from ..crash import CrashDump
from ..policy import SampleSummary
from ..record import Severity
from ..redact import exportable
from ..sinks.telemetry import SCOPE_NAME, Telemetry

_PRIMITIVES = (str, int, float, bool)


def record_attributes(classified: Classified) -> dict[str, Any]:
    """The attributes of a line's log record: its fields, then what the dialect and the policy said.
    Every string is redacted at the exporters' edge (emit.otlp_encode), not here."""
    record, decision = classified.record, classified.decision
    attributes: dict[str, Any] = {key: value for key, value in record.fields.items() if isinstance(value, _PRIMITIVES)}
    attributes[names.ATTR_LOG_DIALECT] = record.dialect
    attributes[names.ATTR_LOG_KIND] = decision.kind.value
    if record.producer:
        attributes[names.ATTR_LOG_PRODUCER] = record.producer
    if record.tag:
        attributes[names.ATTR_LOG_TAG] = record.tag
    if record.event is not None:
        attributes[names.ATTR_LOG_EVENT] = record.event.value
    if decision.reason:
        attributes[names.ATTR_REASON] = decision.reason
    attributes[names.ATTR_VERDICT] = decision.verdict.value
    return attributes


class SdkLogs:
    """Line records through an SDK LoggerProvider: when the host application owns the
    providers (library or zero-code use), its pipeline exports them."""

    def __init__(self, provider: Any, stats: Any = None) -> None:
        self.logger = provider.get_logger(SCOPE_NAME)
        self.stats = stats  # when this is the path a record is counted on

    def emit(
        self, time_ns: int, observed_ns: int, severity: int, severity_text: str, body: str, attributes: Any, event_name: str | None = None
    ) -> None:
        self.logger.emit(
            LogRecord(
                timestamp=time_ns, observed_timestamp=observed_ns, severity_number=SeverityNumber(severity),
                severity_text=severity_text, body=exportable(body),
                attributes={k: exportable(v) if isinstance(v, str) else v for k, v in attributes.items()},
                event_name=event_name,
            )
        )
        if self.stats is not None:
            self.stats.count_emitted("logs")


class LogEmitter:
    """Emits records the policy lets through, crash dumps, sampling summaries and the
    wrapper's own events, as OTLP log records (`sinks.log_batches.LineLogs`).

    With `trust_line_time` a record is stamped with the time its line was placed at
    (recorded logs); otherwise with the time it was emitted.
    """

    def __init__(self, telemetry: Telemetry, trust_line_time: bool = True) -> None:
        self.sinks: list[Any] = []
        if telemetry.line_logs is not None:
            self.sinks.append(telemetry.line_logs)
        # Providers the host application owns (library and zero-code use) take every line record.
        provider = telemetry.line_log_provider if telemetry.line_logs is not None else (telemetry.line_log_provider or telemetry.logger_provider)
        if provider is not None:
            self.sinks.append(SdkLogs(provider, None if self.sinks else telemetry.stats))
        self.trust_line_time = trust_line_time
        self.emitted = 0

    def _emit(self, time_ns: int, severity: Severity, body: str, attributes: dict[str, Any], event_name: str | None = None) -> None:
        self.emitted += 1
        observed = time.time_ns()
        for sink in self.sinks:
            sink.emit(time_ns, observed, int(severity), severity.name, body, attributes, event_name)

    def emit(self, classified: Classified, extra: Mapping[str, Any] | None = None) -> None:
        if not classified.emit:
            return
        attributes = record_attributes(classified)
        if extra:
            attributes.update(extra)
        stamp = int(classified.time * 1e9) if self.trust_line_time else time.time_ns()
        self._emit(stamp, classified.decision.severity, classified.record.text, attributes)

    def emit_event(self, severity: Severity, body: str, attributes: dict[str, Any], event_name: str | None = None) -> None:
        """A record of the wrapper's own making (a lost RPC peer, say), not a line of the server's;
        `event_name` is the record's EventName (names.EVENT_*)."""
        self._emit(time.time_ns(), severity, body, attributes, event_name)

    def emit_crash(self, dump: CrashDump, extra: Mapping[str, Any] | None = None) -> None:
        """A crash and its backtrace as one ERROR record, with OTel's exception attributes."""
        self.emit_event(Severity.ERROR, dump.message, crash_attributes(dump, extra))

    def emit_summary(self, summary: SampleSummary, extra: Mapping[str, Any] | None = None) -> None:
        stamp = int(summary_time(summary) * 1e9) if self.trust_line_time else time.time_ns()
        self._emit(stamp, summary.severity, summary.message, summary_attributes(summary, extra))


def crash_attributes(dump: CrashDump, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The attributes of a crash dump's record (body: `dump.message`, severity ERROR)."""
    return {
        names.EXCEPTION_TYPE: dump.kind,
        names.EXCEPTION_MESSAGE: dump.message,
        names.EXCEPTION_STACKTRACE: dump.stacktrace,
        names.ATTR_LOG_KIND: "error",
        **(extra or {}),
    }


def summary_attributes(summary: SampleSummary, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The attributes of a sampling summary's record (body: `summary.message`, severity `summary.severity`)."""
    attributes: dict[str, Any] = {
        **(extra or {}), names.ATTR_LOG_KIND: summary.kind, names.ATTR_REASON: summary.reason, names.ATTR_SUPPRESSED_COUNT: summary.suppressed,
    }
    if summary.method:
        attributes[names.HTTP_METHOD] = summary.method
    if summary.path:
        attributes[names.URL_PATH] = summary.path
    if summary.status is not None:
        attributes[names.HTTP_STATUS] = summary.status
    return attributes


def summary_time(summary: SampleSummary) -> float:
    """When a sampling window closed, in the stream's time."""
    return summary.start + summary.window_s
