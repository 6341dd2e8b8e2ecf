"""OTLP logs in over gRPC: opentelemetry-proto's `LogsService`, served by grpcio.

Each call is admitted by the processor or answered `UNAVAILABLE` at once (too many
batches in flight, or shutting down), so the sender's queue keeps the batch and retries.
The answer waits for the next hop: `UNAVAILABLE` when it refused or was unreachable,
`INVALID_ARGUMENT` when it rejected the batch for good, its own response otherwise.
"""

from __future__ import annotations

import hashlib
import logging
import socket
from concurrent.futures import ThreadPoolExecutor

import grpc
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceServicer, add_LogsServiceServicer_to_server

from ..processor.reply import Outcome
from ..processor.service import LogProcessor

_logger = logging.getLogger(__name__)
_logger.propagate = False
# The sender must hear back before its own deadline, or it retries a batch we forwarded.
_DEADLINE_MARGIN_S = 0.2


class _LogsService(LogsServiceServicer):
    def __init__(self, processor: LogProcessor) -> None:
        self.processor = processor

    def Export(self, request: ExportLogsServiceRequest, context: grpc.ServicerContext) -> ExportLogsServiceResponse:  # noqa: N802 - the generated name
        with self.processor.admission() as admitted:
            if not admitted:
                context.abort(grpc.StatusCode.UNAVAILABLE, "otel-plugins processor: busy, retry later")
            remaining = context.time_remaining()
            timeout = None if remaining is None else max(0.1, remaining - _DEADLINE_MARGIN_S)
            try:
                digest = hashlib.blake2b(request.SerializeToString(deterministic=True), digest_size=16).digest()
                reply = self.processor.export(request, digest, timeout)
            except Exception:  # a bug of ours: the sender keeps the batch and retries
                _logger.exception("otel-plugins processor: batch failed")
                context.abort(grpc.StatusCode.UNAVAILABLE, "otel-plugins processor: internal error")
        if reply.outcome is Outcome.ACCEPTED:
            return reply.response or ExportLogsServiceResponse()
        code = grpc.StatusCode.UNAVAILABLE if reply.outcome is Outcome.RETRY else grpc.StatusCode.INVALID_ARGUMENT
        context.abort(code, reply.message)


def _check_free(host: str, port: int) -> None:
    """Raises OSError when something listens there already: gRPC would say so only in its own log format."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


class GrpcReceiver:
    """`address` is host:port ([v6]:port); port 0 takes a free one (see `port`)."""

    protocol = "grpc"

    def __init__(self, processor: LogProcessor, address: str, *, max_message_bytes: int, workers: int) -> None:
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            # Without this, a second processor on the same port would share it silently.
            ("grpc.so_reuseport", 0),
        ]
        self.server = grpc.server(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="otlp-grpc"), options=options)
        add_LogsServiceServicer_to_server(_LogsService(processor), self.server)
        host, port = address.rsplit(":", 1)
        _check_free(host.strip("[]"), int(port))
        try:
            self.port = self.server.add_insecure_port(address)
        except RuntimeError:
            self.port = 0
        if not self.port:
            raise OSError(f"cannot listen on {address}")
        self.address = f"{host}:{self.port}"

    def start(self) -> None:
        self.server.start()

    def stop(self, grace_s: float) -> None:
        """Stop taking calls; those running get `grace_s` to finish."""
        self.server.stop(grace_s).wait(grace_s + 1.0)
