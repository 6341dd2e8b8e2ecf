"""Where batches of pre-encoded line records go: the same OTLP exporters the SDK path uses.

The upstream OTLP exporters own everything about the next hop (endpoint, headers,
timeout, compression, TLS, retries with backoff, all read from the standard `OTEL_*`
variables). They are only asked to skip their own encoding step, because the batch
arrives as an encoded `ExportLogsServiceRequest` (`emit.otlp_encode`):

- gRPC: `OTLPLogExporter._translate_data` parses the request bytes back into the message
  its stub sends (C speed, the retry loop untouched);
- HTTP protobuf: the exporter's client posts the bytes as they are;
- the embedded default and `console`: OTLP/JSON lines appended to a file or stdout, the
  format the Collector's file exporter and the upstream JSON file exporter write.

Both gRPC and HTTP hooks are private methods of opentelemetry-exporter-otlp-proto-*,
pinned in pyproject.toml; `tests/test_log_senders.py` sends through each to a real
receiver, so an upstream change shows there.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ..emit.otlp_encode import WireFormat

# send(request, records) -> True when the next hop accepted the batch; close()
Sender = tuple[WireFormat, Callable[[Any, int], bool], Callable[[], None]]


def grpc_sender() -> Sender:
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.sdk._logs.export import LogRecordExportResult

    class EncodedGrpcExporter(OTLPLogExporter):
        def _translate_data(self, data: tuple[bytes, int]) -> ExportLogsServiceRequest:  # type: ignore[override]
            return ExportLogsServiceRequest.FromString(data[0])

        def _count_data(self, data: tuple[bytes, int]) -> int:  # type: ignore[override]
            return data[1]

    exporter = EncodedGrpcExporter()

    def send(request: bytes, count: int) -> bool:
        return exporter._export((request, count)) is LogRecordExportResult.SUCCESS

    return WireFormat.PROTOBUF, send, exporter.shutdown


def http_sender() -> Sender:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

    exporter = OTLPLogExporter()

    def send(request: bytes, count: int) -> bool:
        return bool(exporter._client.export(request).success)

    return WireFormat.PROTOBUF, send, exporter.shutdown


def stream_sender(stream: IO[str], owned: bool) -> Sender:
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


def file_sender(path: Path) -> Sender:
    path.parent.mkdir(parents=True, exist_ok=True)
    return stream_sender(open(path, "a", encoding="utf-8"), owned=True)  # noqa: SIM115 - closed by the sender


def console_sender() -> Sender:
    return stream_sender(sys.stdout, owned=False)


def otlp_sender(protocol: str) -> Sender:
    """The sender for `OTEL_EXPORTER_OTLP_[LOGS_]PROTOCOL`'s value (grpc or http/protobuf)."""
    return grpc_sender() if protocol == "grpc" else http_sender()


def sender_for(environ: os._Environ | dict, protocol: str, directory: Path | None) -> Sender:
    """The line records' sender where the SDK path's log exporter would send."""
    if directory is not None:
        return file_sender(directory / "logs.jsonl")
    return otlp_sender(protocol)
