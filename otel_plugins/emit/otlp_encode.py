"""Line records to OTLP log records, encoded once, without the SDK's per-record objects.

Logs are the signal that comes in storms (one record per server line). Through the SDK a
record costs about 24 µs to emit and as much again to encode; building `opentelemetry-proto`
messages field by field costs about 34 µs (upb allocates a Python object per nested
message). Measured with `bench/emit_bench.py`. Here a record is encoded straight to
the two standard OTLP forms, from pieces that repeat and are cached:

- protobuf: the `LogRecord` wire bytes (field numbers and wire types read from the
  `opentelemetry-proto` descriptors, not typed in). The resource and scope around a batch
  are encoded once by `opentelemetry-proto` itself. A batch is then one
  `ExportLogsServiceRequest`, byte for byte what the protobuf library would write for the
  same record (`tests/test_emit_wire.py` parses both and compares them with the SDK path's);
- OTLP/JSON: the record as the OTLP JSON mapping writes it (camelCase keys, 64-bit
  integers as strings), as the upstream JSON exporters and the Collector's file exporter do.

Every string is made exportable (valid UTF-8, secrets redacted) before it is encoded:
this is the exporters' edge for line records.
"""

from __future__ import annotations

import enum
import json
import struct
from collections.abc import Mapping
from json.encoder import encode_basestring
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from ..redact import exportable

# Distinct values cached per encoder: attribute values repeat (methods, paths, kinds), bodies do not.
_CACHE_LIMIT = 1 << 16
_WIRE_VARINT, _WIRE_FIXED64, _WIRE_LEN, _WIRE_FIXED32 = 0, 1, 2, 5
_PACK_FIXED64 = struct.Struct("<Q").pack
_PACK_DOUBLE = struct.Struct("<d").pack


class WireFormat(str, enum.Enum):
    PROTOBUF = "protobuf"
    JSON = "json"


def _tag(message: Any, field: str, wire_type: int) -> bytes:
    return _varint(message.DESCRIPTOR.fields_by_name[field].number << 3 | wire_type)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


_SMALL_VARINTS = tuple(_varint(n) for n in range(1 << 14))


def _length(value: int) -> bytes:
    return _SMALL_VARINTS[value] if value < 16384 else _varint(value)


_TIME = _tag(LogRecord, "time_unix_nano", _WIRE_FIXED64)
_OBSERVED = _tag(LogRecord, "observed_time_unix_nano", _WIRE_FIXED64)
_EVENT_NAME = _tag(LogRecord, "event_name", _WIRE_LEN)
_BODY = _tag(LogRecord, "body", _WIRE_LEN)
_ATTRIBUTE = _tag(LogRecord, "attributes", _WIRE_LEN)
_STRING_VALUE = _tag(AnyValue, "string_value", _WIRE_LEN)
_LOG_RECORDS = _tag(ScopeLogs, "log_records", _WIRE_LEN)
_SCOPE_LOGS = _tag(ResourceLogs, "scope_logs", _WIRE_LEN)
_RESOURCE_LOGS = _tag(ExportLogsServiceRequest, "resource_logs", _WIRE_LEN)


def _any_value(value: Any) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=exportable(value))
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=exportable(str(value)))


def _json_value(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"stringValue": exportable(value)}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    return {"stringValue": exportable(str(value))}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


# A string alone is written by the encoder `json.dumps` would build (ensure_ascii=False),
# without building one per call: a quarter of the cost, the same text.
_json_string = encode_basestring


def _json_entry(key: str, item: Any) -> str:
    """`{"key":…,"value":…}` as `_dumps` writes it, assembled for the common value types."""
    head = '{"key":' + _json_string(key) + ',"value":'
    if isinstance(item, str):
        return head + '{"stringValue":' + _json_string(exportable(item)) + "}}"
    if isinstance(item, bool):
        return head + ('{"boolValue":true}}' if item else '{"boolValue":false}}')
    if isinstance(item, int):
        return head + '{"intValue":"' + str(int(item)) + '"}}'
    return _dumps({"key": key, "value": _json_value(item)})


class LogEncoder:
    """Encodes records of one resource and scope, in one wire format.

    `record()` returns one encoded `LogRecord`; `request()` wraps a batch of them in an
    `ExportLogsServiceRequest` (bytes for protobuf, a JSON text line for JSON).
    """

    def __init__(
        self,
        wire_format: WireFormat,
        resource: Mapping[str, Any],
        scope_name: str,
        scope_version: str | None = None,
        schema_url: str = "",
    ) -> None:
        self.format = wire_format
        # key -> value -> (value's class, encoded entry): 1, 1.0 and True are equal keys, so the class is checked.
        self._by_key: dict[str, dict[Any, tuple[type, Any]]] = {}
        self._cached = 0
        self._severities: dict[tuple[int, str], bytes | str] = {}
        resource_message = Resource(attributes=[KeyValue(key=k, value=_any_value(v)) for k, v in resource.items()])
        scope = InstrumentationScope(name=scope_name, version=scope_version or "")
        if wire_format is WireFormat.PROTOBUF:
            # The request minus its records: every byte before the records is fixed for the batch.
            self._resource_bytes = ResourceLogs(resource=resource_message, schema_url=schema_url).SerializeToString()
            self._scope_bytes = ScopeLogs(scope=scope).SerializeToString()
            self.record = self._protobuf_record  # type: ignore[method-assign]
            self.request = self._protobuf_request  # type: ignore[method-assign]
        else:
            resource_json: dict[str, Any] = {"attributes": [{"key": k, "value": _json_value(v)} for k, v in resource.items()]}
            scope_json = {k: v for k, v in (("name", scope_name), ("version", scope_version)) if v}
            resource_part = _dumps(resource_json)
            self._json_head = '{"resourceLogs":[{"resource":' + resource_part + ',"scopeLogs":[{"scope":' + _dumps(scope_json)
            self._json_tail = "]}]" + (',"schemaUrl":' + _dumps(schema_url) if schema_url else "") + "}]}"
            self.record = self._json_record  # type: ignore[method-assign]
            self.request = self._json_request  # type: ignore[method-assign]

    # The two methods every format provides (bound in __init__ to the format's own).
    def record(
        self, time_ns: int, observed_ns: int, severity: int, severity_text: str, body: str, attributes: Mapping[str, Any],
        event_name: str | None = None,
    ) -> Any:
        raise NotImplementedError

    def request(self, records: list[Any]) -> bytes | str:
        raise NotImplementedError

    # -- protobuf ---------------------------------------------------------------------
    def _protobuf_record(
        self, time_ns: int, observed_ns: int, severity: int, severity_text: str, body: str, attributes: Mapping[str, Any],
        event_name: str | None = None,
    ) -> bytes:
        head = self._severities.get((severity, severity_text))
        if head is None:
            head = self._severities[(severity, severity_text)] = LogRecord(
                severity_number=severity, severity_text=severity_text
            ).SerializeToString()
        text = exportable(body).encode("utf-8")
        value = _STRING_VALUE + _length(len(text)) + text
        # In field-number order, as the protobuf library writes them.
        parts = [_TIME + _PACK_FIXED64(time_ns) if time_ns else b"", head, _BODY, _length(len(value)), value]
        if attributes:
            parts += self._entries(attributes)
        if observed_ns:
            parts.append(_OBSERVED + _PACK_FIXED64(observed_ns))
        if event_name:
            name = event_name.encode("utf-8")
            parts.append(_EVENT_NAME + _length(len(name)) + name)
        return b"".join(parts)

    def attributes(self, attributes: Mapping[str, Any], skip: frozenset[str] | set[str] = frozenset()) -> bytes:
        """Protobuf `LogRecord.attributes` entries for `attributes` (but the keys in `skip`), to merge
        into a record that exists already (`MergeFromString` appends to a repeated field)."""
        if skip:
            attributes = {key: item for key, item in attributes.items() if key not in skip}
        return b"".join(self._entries(attributes))

    def _entries(self, attributes: Mapping[str, Any]) -> list[Any]:
        """Each attribute encoded as an entry of this format, from the cache where it was seen before."""
        by_key = self._by_key
        out = []
        for key, item in attributes.items():
            values = by_key.get(key)
            if values is None:
                values = by_key[key] = {}
            hit = values.get(item)
            if hit is None or hit[0] is not item.__class__:
                hit = self._encode_entry(values, key, item)
            out.append(hit[1])
        return out

    def _encode_entry(self, values: dict[Any, tuple[type, Any]], key: str, item: Any) -> tuple[type, Any]:
        if self.format is WireFormat.PROTOBUF:
            kv = KeyValue(key=key, value=_any_value(item)).SerializeToString()
            encoded: Any = _ATTRIBUTE + _length(len(kv)) + kv
        else:
            encoded = _json_entry(key, item)
        if self._cached >= _CACHE_LIMIT:  # values seen once (ports, request ids) fill it: start over
            self._by_key.clear()
            self._cached = 0
            values = self._by_key[key] = {}
        self._cached += 1
        hit = values[item] = (item.__class__, encoded)
        return hit

    def _protobuf_request(self, records: list[bytes]) -> bytes:
        scope = b"".join([self._scope_bytes, *(_LOG_RECORDS + _length(len(r)) + r for r in records)])
        resource = b"".join((self._resource_bytes, _SCOPE_LOGS, _length(len(scope)), scope))
        return _RESOURCE_LOGS + _length(len(resource)) + resource

    # -- JSON -------------------------------------------------------------------------
    def _json_record(
        self, time_ns: int, observed_ns: int, severity: int, severity_text: str, body: str, attributes: Mapping[str, Any],
        event_name: str | None = None,
    ) -> str:
        parts = ["{"]
        if time_ns:
            parts.append(f'"timeUnixNano":"{time_ns}",')
        if observed_ns:
            parts.append(f'"observedTimeUnixNano":"{observed_ns}",')
        head = self._severities.get((severity, severity_text))
        if head is None:
            head = self._severities[(severity, severity_text)] = f'"severityNumber":{severity},"severityText":{_dumps(severity_text)},'
        parts.append(head)
        parts.append('"body":{"stringValue":' + _json_string(exportable(body)) + "}")
        if attributes:
            parts.append(',"attributes":[' + ",".join(self._entries(attributes)) + "]")
        if event_name:
            parts.append(',"eventName":' + _dumps(event_name))
        parts.append("}")
        return "".join(parts)

    def _json_request(self, records: list[str]) -> str:
        return self._json_head + ',"logRecords":[' + ",".join(records) + self._json_tail
