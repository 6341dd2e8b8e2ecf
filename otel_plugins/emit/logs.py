"""Decided lines become OpenTelemetry log records."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider

from .. import names
from ..classify import Classified
from ..crash import CrashDump
from ..policy import SampleSummary
from ..redact import redact_text
from ..record import Severity
from ..sinks.telemetry import ExportStats

_PRIMITIVES = (str, int, float, bool)
# Fields the dialects fill from narrow patterns (a method, an address, a stage word):
# nothing secret fits in them, so they skip redaction, which is the costly part per record.
_NARROW_FIELDS = frozenset(
    {
        names.HTTP_METHOD, names.CLIENT_ADDRESS, names.SERVER_ADDRESS, names.HTTP_STAGE, names.CONNECTION,
        names.REQUEST_ID, names.LOAD_BUFFER, names.LOAD_DEVICE, names.RPC_ENDPOINT, names.NETWORK_PROTOCOL_VERSION,
    }
)


def exportable(text: str) -> str:
    """`text` made valid Unicode (and so valid for OTLP), its secrets redacted.

    Undecodable bytes were kept as surrogate escapes so the passthrough stays byte-exact;
    exporters need real UTF-8, so here they become U+FFFD.
    """
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return redact_text(text)


def record_attributes(classified: Classified) -> dict[str, Any]:
    record, decision = classified.record, classified.decision
    attributes: dict[str, Any] = {
        key: (exportable(value) if isinstance(value, str) and key not in _NARROW_FIELDS else value)
        for key, value in record.fields.items()
        if isinstance(value, _PRIMITIVES)
    }
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


class LogEmitter:
    """Emits records the policy lets through, and sampling summaries, to a LoggerProvider."""

    def __init__(
        self,
        provider: LoggerProvider,
        scope: str = "otel_plugins",
        trust_line_time: bool = True,
        stats: ExportStats | None = None,
    ) -> None:
        self.logger = provider.get_logger(scope)
        self.trust_line_time = trust_line_time
        self.stats = stats
        self.emitted = 0

    def _emit(self, record: LogRecord) -> None:
        self.logger.emit(record)
        self.emitted += 1
        if self.stats is not None:
            self.stats.count_emitted("logs")

    def emit(self, classified: Classified, extra: dict[str, Any] | None = None) -> None:
        if not classified.emit:
            return
        decision = classified.decision
        attributes = record_attributes(classified)
        if extra:
            attributes.update(extra)
        observed = time.time_ns()
        stamp = int(classified.time * 1e9) if self.trust_line_time else observed
        self._emit(
            LogRecord(
                timestamp=stamp,
                observed_timestamp=observed,
                severity_number=SeverityNumber(int(decision.severity)),
                severity_text=decision.severity.name,
                body=exportable(classified.record.text),
                attributes=attributes,
            )
        )

    def emit_event(self, severity: Severity, body: str, attributes: dict[str, Any], event_name: str | None = None) -> None:
        """A record of the wrapper's own making (a lost RPC peer, say), not a line of the server's;
        `event_name` is the record's EventName (names.EVENT_*)."""
        now = time.time_ns()
        self._emit(
            LogRecord(
                timestamp=now,
                observed_timestamp=now,
                severity_number=SeverityNumber(int(severity)),
                severity_text=severity.name,
                body=body,
                attributes=attributes,
                event_name=event_name,
            )
        )

    def emit_crash(self, dump: CrashDump, attributes: dict[str, Any] | None = None) -> None:
        """A crash and its backtrace as one ERROR record, with OTel's exception attributes."""
        self.emit_event(
            Severity.ERROR,
            exportable(dump.message),
            {
                names.EXCEPTION_TYPE: dump.kind,
                names.EXCEPTION_MESSAGE: exportable(dump.message),
                names.EXCEPTION_STACKTRACE: exportable(dump.stacktrace),
                names.ATTR_LOG_KIND: "error",
                **(attributes or {}),
            },
        )

    def emit_summary(self, summary: SampleSummary) -> None:
        attributes: dict[str, Any] = {names.ATTR_LOG_KIND: "probe", names.ATTR_REASON: "sampled", names.ATTR_SUPPRESSED_COUNT: summary.suppressed}
        if summary.method:
            attributes[names.HTTP_METHOD] = summary.method
        if summary.path:
            attributes[names.URL_PATH] = summary.path
        if summary.status is not None:
            attributes[names.HTTP_STATUS] = summary.status
        self._emit(
            LogRecord(
                timestamp=int((summary.start + summary.window_s) * 1e9) if self.trust_line_time else time.time_ns(),
                observed_timestamp=time.time_ns(),
                severity_number=SeverityNumber(int(Severity.INFO)),
                severity_text="INFO",
                body=summary.message,
                attributes=attributes,
            )
        )
