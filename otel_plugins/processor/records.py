"""The processor's LogSink: a decided line edits the OTLP record it arrived in.

`LinePipeline` calls `emit` for a line the policy keeps while that line's record is
`current`: the record gets the decided severity and the attributes `record_attributes`
gives every exported line (added, never overwriting one the record already has); its body
becomes what the Python side exports (ANSI codes stripped, secrets redacted), and is left
alone when that is the text it already holds. A line the pipeline does not emit (dropped,
sampled away, folded into a crash dump) is left `kept = False` for the caller to remove.

Crash dumps and sampling summaries are records of the pipeline's own making, with the
attributes `emit.logs` gives them on every path: each becomes a new protobuf record (`made`).
Attribute entries are encoded, and redacted, by the same encoder as the exporters' edge.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from ..classify import Classified
from ..crash import CrashDump
from ..emit.logs import crash_attributes, record_attributes, summary_attributes
from ..emit.otlp_encode import LogEncoder, WireFormat
from ..redact import exportable
from ..sinks.telemetry import SCOPE_NAME
from ..policy import SampleSummary
from ..record import Severity

# A record serialized as a `LogRecord` holding only this severity: merged as bytes, it sets both fields.
_SEVERITY_BYTES = {
    severity: LogRecord(severity_number=int(severity), severity_text=severity.name).SerializeToString() for severity in Severity
}


class RecordSink:
    """The `pipeline.LogSink` of the processor. One per processor: batches are decided one at a time."""

    def __init__(self) -> None:
        # Attribute entries are encoded (and redacted) as the exporters' edge does: once per value.
        self.encoder = LogEncoder(WireFormat.PROTOBUF, {}, SCOPE_NAME)
        self.current: LogRecord | None = None
        self.text = ""
        self.present: frozenset[str] | set[str] = frozenset()
        self.kept = False
        self.made: list[LogRecord] = []

    def begin(self, record: LogRecord, text: str, present: frozenset[str] | set[str]) -> None:
        """The next line fed to a pipeline is `text`, the body of `record`, which has the attributes `present`."""
        self.current, self.text, self.present, self.kept = record, text, present, False

    def take_made(self) -> list[LogRecord]:
        made, self.made = self.made, []
        return made

    # pipeline.LogSink

    def emit(self, classified: Classified, extra: Mapping[str, Any] | None = None) -> None:
        record = self.current
        if record is None or not classified.emit:
            return
        self.kept = True
        attributes = record_attributes(classified)
        if extra:
            attributes.update(extra)
        record.MergeFromString(_SEVERITY_BYTES[classified.decision.severity] + self.encoder.attributes(attributes, self.present))
        body = exportable(classified.record.text)
        if body != self.text:
            record.body.string_value = body

    def emit_crash(self, dump: CrashDump, extra: Mapping[str, Any] | None = None) -> None:
        self._make(Severity.ERROR, dump.message, crash_attributes(dump, extra))

    def emit_summary(self, summary: SampleSummary, extra: Mapping[str, Any] | None = None) -> None:
        self._make(summary.severity, summary.message, summary_attributes(summary, extra))

    def _make(self, severity: Severity, body: str, attributes: dict[str, Any]) -> None:
        """A record of the pipeline's own making (a crash dump, a sampling summary), placed now."""
        now = time.time_ns()
        made = LogRecord(time_unix_nano=now, observed_time_unix_nano=now)
        made.MergeFromString(_SEVERITY_BYTES[severity] + self.encoder.attributes(attributes))
        made.body.string_value = exportable(body)
        self.made.append(made)
