"""Where batches of pre-encoded line records go: the same exporters the SDK path would use.

`exporter_config.resolve_log_exporters` says where logs go (the one answer for every log
path). For the exporters that speak standard OTLP, the upstream exporter is built exactly
as the SDK path builds it, owning everything about the next hop (endpoint, headers,
timeout, compression, TLS, retries with backoff); it is only asked to skip its own
encoding step, because the batch arrives as an encoded `ExportLogsServiceRequest`
(`emit.otlp_encode`):

- OTLP/gRPC: `OTLPLogExporter._translate_data` parses the request bytes back into the
  message its stub sends (C speed; the retry loop untouched);
- OTLP/HTTP protobuf and JSON: the exporter's HTTP client posts the bytes as they are;
- the embedded default (`otlp_json_file`) and `console`: OTLP/JSON lines appended to the
  file or stdout, the format the upstream JSON file exporter writes.

Any other exporter (a third-party entry point) gets line records through the SDK's
LoggerProvider. The gRPC and HTTP hooks are private methods of the upstream exporters,
whose versions pyproject.toml pins; `tests/test_log_senders.py` sends through each to a
real receiver, so an upstream change shows there.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any

from ..emit.otlp_encode import LogEncoder, WireFormat
from .exporter_config import FILE, PROTOCOLS, ExporterConfig, otlp_arguments
from .log_batches import LineLogs, LogBatcher

# (wire format, send(request, records) -> True when the next hop accepted it, close())
Sender = tuple[WireFormat, Callable[[Any, int], bool], Callable[[], None]]


def _grpc(config: ExporterConfig) -> Sender:
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.sdk._logs.export import LogRecordExportResult

    class EncodedGrpcExporter(OTLPLogExporter):
        def _translate_data(self, data: tuple[bytes, int]) -> ExportLogsServiceRequest:  # type: ignore[override]
            return ExportLogsServiceRequest.FromString(data[0])

        def _count_data(self, data: tuple[bytes, int]) -> int:  # type: ignore[override]
            return data[1]

    exporter = EncodedGrpcExporter(**otlp_arguments(config.otlp))

    def send(request: bytes, count: int) -> bool:
        return exporter._export((request, count)) is LogRecordExportResult.SUCCESS

    return WireFormat.PROTOBUF, send, exporter.shutdown


def _http(config: ExporterConfig, wire: WireFormat) -> Sender:
    exporter = config.create()

    def send(request: bytes | str, count: int) -> bool:
        body = request.encode("utf-8") if isinstance(request, str) else request
        return bool(exporter._client.export(body).success)

    return wire, send, exporter.shutdown


def _stream(stream: IO[str], owned: bool) -> Sender:
    lock = threading.Lock()

    def send(request: str, count: int) -> bool:
        with lock:
            stream.write(request + "\n")
            stream.flush()
        return True

    def close() -> None:
        if owned:
            with lock:
                stream.close()

    return WireFormat.JSON, send, close


def sender(config: ExporterConfig) -> Sender | None:
    """The fast path's sender for one configured log exporter, or None where only the SDK path can serve it."""
    if config.name == PROTOCOLS["grpc"]:
        return _grpc(config)
    if config.name == PROTOCOLS["http/protobuf"]:
        return _http(config, WireFormat.PROTOBUF)
    if config.name == PROTOCOLS["http/json"]:
        return _http(config, WireFormat.JSON)
    if config.name == FILE and config.path is not None:
        config.path.parent.mkdir(parents=True, exist_ok=True)
        return _stream(open(config.path, "a", encoding="utf-8"), owned=True)  # noqa: SIM115 - closed by the sender
    if config.name == "console":
        return _stream(sys.stdout, owned=False)
    return None


def line_logs_for(
    configs: Sequence[ExporterConfig], resource: Any, scope: str, stats: Any, settings: Mapping[str, Any]
) -> tuple[LineLogs | None, list[ExporterConfig]]:
    """Line records' fast path to every configured exporter that can take it, and the
    configurations left to the SDK's LoggerProvider. Only the first exporter of all is
    counted in `stats`, as the SDK path counts one (a record sent twice is one record)."""
    targets, rest = [], []
    attributes = dict(resource.attributes)
    for config in configs:
        found = sender(config)
        if found is None:
            rest.append(config)
            continue
        wire, send, close = found
        encoder = LogEncoder(wire, attributes, scope, schema_url=resource.schema_url or "")
        batcher = LogBatcher(
            encoder.request, send, stats, counted=not targets,
            max_queue=settings["max_queue_size"], max_batch=settings["max_export_batch_size"],
            delay_s=settings["schedule_delay_millis"] / 1000, close_send=close,
        )  # fmt: skip
        targets.append((encoder, batcher))
    return (LineLogs(targets) if targets else None), rest

