"""The processor's LogSink: a decided line edits the OTLP record it arrived in.

`LinePipeline` calls `emit` for a line the policy keeps while that line's record is
`current`: the record gets the decided severity and the attributes `record_attributes`
gives every exported line (added, never overwriting one the record already has); its body
becomes what the Python side exports (ANSI codes stripped, secrets redacted), and is left
alone when that is the text it already holds. A line the pipeline does not emit (dropped,
sampled away, folded into a crash dump) is left `kept = False` for the caller to remove.

Crash dumps and sampling summaries are records of the pipeline's own making: the
`LogEmitter` builds them, exactly as for the wrapper, into a logger that turns each into a
new protobuf record (`made`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from ..classify import Classified
from ..crash import CrashDump
from ..emit.logs import LogEmitter, exportable, record_attributes
from ..policy import SampleSummary
from ..record import Severity

_VALUE_FIELDS = ((bool, "bool_value"), (int, "int_value"), (float, "double_value"), (str, "string_value"))
# A record serialized as a `LogRecord` holding only this severity: merged as bytes, it sets both fields.
_SEVERITY_BYTES = {
    severity: LogRecord(severity_number=int(severity), severity_text=severity.name).SerializeToString() for severity in Severity
}


def any_value(value: Any) -> AnyValue:
    for kind, field in _VALUE_FIELDS:  # bool first: it is an int too
        if isinstance(value, kind):
            return AnyValue(**{field: value})
    return AnyValue(string_value=str(value))


class AttributeBytes:
    """`LogRecord.attributes` entries serialized by protobuf, one per (key, value).

    Most records get the same few attributes (dialect, kind, verdict, method, path...):
    each is encoded once and a record takes them all in one `MergeFromString`, which
    appends to a repeated field. Values seen once (ports, request ids) fill the cache
    up to `limit` entries, then it starts over.
    """

    def __init__(self, limit: int = 1 << 16) -> None:
        self.limit = limit
        # (key, value) for text values; (key, type, value) for the others (1, 1.0 and True are equal keys).
        self._cache: dict[tuple, bytes] = {}

    def _encode(self, key: str, value: Any, cache_key: tuple) -> bytes:
        encoded = LogRecord(attributes=[KeyValue(key=key, value=any_value(value))]).SerializeToString()
        if len(self._cache) >= self.limit:
            self._cache.clear()
        self._cache[cache_key] = encoded
        return encoded

    def encode(self, attributes: Mapping[str, Any], present: frozenset[str] | set[str] = frozenset()) -> bytes:
        get = self._cache.get
        parts = []
        for item in attributes.items():
            key, value = item
            if present and key in present:
                continue
            cache_key = item if type(value) is str else (key, type(value), value)
            encoded = get(cache_key)
            parts.append(encoded if encoded is not None else self._encode(key, value, cache_key))
        return b"".join(parts)


class _MadeRecords:
    """Stands in for a LoggerProvider and its Logger: what the LogEmitter emits becomes protobuf."""

    def __init__(self, sink: RecordSink) -> None:
        self.sink = sink

    def get_logger(self, *_args: Any, **_kwargs: Any) -> _MadeRecords:
        return self

    def emit(self, record: Any) -> None:
        made = LogRecord(
            time_unix_nano=record.timestamp or 0,
            observed_time_unix_nano=record.observed_timestamp or 0,
            severity_number=int(record.severity_number.value),
            severity_text=record.severity_text or "",
        )
        made.body.string_value = str(record.body)
        made.MergeFromString(self.sink.attributes.encode(record.attributes or {}))
        self.sink.made.append(made)


class RecordSink:
    """The `pipeline.LogSink` of the processor. One per processor: batches are decided one at a time."""

    def __init__(self) -> None:
        self.attributes = AttributeBytes()
        self.emitter = LogEmitter(_MadeRecords(self), trust_line_time=False)  # type: ignore[arg-type]
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
        record.MergeFromString(_SEVERITY_BYTES[classified.decision.severity] + self.attributes.encode(attributes, self.present))
        body = exportable(classified.record.text)
        if body != self.text:
            record.body.string_value = body

    def emit_crash(self, dump: CrashDump, extra: Mapping[str, Any] | None = None) -> None:
        self.emitter.emit_crash(dump, dict(extra) if extra else None)

    def emit_summary(self, summary: SampleSummary, extra: Mapping[str, Any] | None = None) -> None:
        self.emitter.emit_summary(summary, dict(extra) if extra else None)
