"""Log batches straight to OTLP JSON, without building protobuf messages first.

Logs are the high-volume signal (one record per server line); going through protobuf
and `MessageToDict` cost about 200 µs a record, this about a tenth of it. The output
follows the OTLP/JSON mapping the Collector's file exporter writes: camelCase keys,
64-bit integers as strings, trace and span ids as hex, enums as numbers.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord


def any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": key_values(value)}}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [any_value(v) for v in value]}}
    return {"stringValue": str(value)} if value is not None else {}


def key_values(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    return [{"key": key, "value": any_value(value)} for key, value in (attributes or {}).items()]


def _record(readable: ReadableLogRecord) -> dict[str, Any]:
    record = readable.log_record
    out: dict[str, Any] = {}
    if record.timestamp:
        out["timeUnixNano"] = str(record.timestamp)
    if record.observed_timestamp:
        out["observedTimeUnixNano"] = str(record.observed_timestamp)
    if record.severity_number is not None:
        out["severityNumber"] = record.severity_number.value
    if record.severity_text:
        out["severityText"] = record.severity_text
    if record.body is not None:
        out["body"] = any_value(record.body)
    if record.attributes:
        out["attributes"] = key_values(record.attributes)
    if readable.dropped_attributes:
        out["droppedAttributesCount"] = readable.dropped_attributes
    if record.trace_flags:
        out["flags"] = int(record.trace_flags)
    if record.trace_id:
        out["traceId"] = f"{record.trace_id:032x}"
    if record.span_id:
        out["spanId"] = f"{record.span_id:016x}"
    if getattr(record, "event_name", None):
        out["eventName"] = record.event_name
    return out


def logs_request(batch: Sequence[ReadableLogRecord]) -> dict[str, Any]:
    """One ExportLogsServiceRequest in OTLP JSON."""
    grouped: dict[int, tuple[Any, dict[int, tuple[Any, list]]]] = {}
    for readable in batch:
        resource, scope = readable.resource, readable.instrumentation_scope
        scopes = grouped.setdefault(id(resource), (resource, {}))[1]
        scopes.setdefault(id(scope), (scope, []))[1].append(_record(readable))
    resource_logs = []
    for resource, scopes in grouped.values():
        scope_logs = []
        for scope, records in scopes.values():
            entry: dict[str, Any] = {"scope": {}, "logRecords": records}
            if scope is not None:
                entry["scope"] = {k: v for k, v in (("name", scope.name), ("version", scope.version)) if v}
                if scope.schema_url:
                    entry["schemaUrl"] = scope.schema_url
            scope_logs.append(entry)
        item: dict[str, Any] = {"resource": {"attributes": key_values(resource.attributes if resource else None)}, "scopeLogs": scope_logs}
        if resource is not None and resource.schema_url:
            item["schemaUrl"] = resource.schema_url
        resource_logs.append(item)
    return {"resourceLogs": resource_logs}
