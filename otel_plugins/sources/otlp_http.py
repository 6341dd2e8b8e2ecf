"""OTLP logs in over HTTP: `POST /v1/logs`, protobuf or JSON, plain or gzip.

The body is read only once the processor admitted the batch, so what is held is bounded
by `max_in_flight` x `max_body_bytes` (after decompression too). Answers follow the
OTLP/HTTP specification: 200 with an `ExportLogsServiceResponse` in the request's
encoding; 503 with `Retry-After` when the batch should be sent again (busy, next hop
down); 400, 404, 411, 413 or 415 for a request that can never succeed; errors carry a
`google.rpc.Status`.

OTLP/JSON differs from protobuf's JSON mapping in one point that matters here: trace
and span ids are hex, not base64.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import socket
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from ..processor.reply import Outcome
from ..processor.service import LogProcessor

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_HEX_IDS = ("traceId", "spanId")
# gRPC's codes in google.rpc.Status bodies, as the specification asks.
_UNAVAILABLE, _INVALID_ARGUMENT, _INTERNAL = 14, 3, 13

_logger = logging.getLogger(__name__)
_logger.propagate = False


class BadRequest(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _inflate(body: bytes, encoding: str, limit: int) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise BadRequest(415, f"Content-Encoding {encoding!r} is not supported (gzip, deflate)")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | (16 if encoding == "gzip" else 0))
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequest(400, f"body is not valid {encoding}: {exc}") from None
    if len(data) > limit:
        raise BadRequest(413, f"body inflates past {limit} bytes")
    return data


def _from_json(body: bytes) -> ExportLogsServiceRequest:
    try:
        data = json.loads(body)
        for resource_logs in data.get("resourceLogs") or ():
            for scope_logs in resource_logs.get("scopeLogs") or ():
                for record in scope_logs.get("logRecords") or ():
                    for key in _HEX_IDS:
                        if record.get(key):
                            record[key] = base64.b64encode(bytes.fromhex(record[key])).decode()
        return json_format.ParseDict(data, ExportLogsServiceRequest(), ignore_unknown_fields=True)
    except (ValueError, TypeError, AttributeError, json_format.ParseError) as exc:
        raise BadRequest(400, f"body is not an OTLP/JSON ExportLogsServiceRequest: {exc}") from None


def _from_protobuf(body: bytes) -> ExportLogsServiceRequest:
    try:
        return ExportLogsServiceRequest.FromString(body)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise BadRequest(400, f"body is not an OTLP ExportLogsServiceRequest: {exc}") from None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # a sender that stalls mid-request loses its connection, not a thread forever
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # one line per request on stderr would drown the service's own

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        try:
            if urlsplit(self.path).path != "/v1/logs":
                raise BadRequest(404, f"{self.path}: this processor takes logs only, at /v1/logs")
            if kind not in (PROTOBUF, JSON):
                raise BadRequest(415, f"Content-Type {kind!r} is not {PROTOBUF} or {JSON}")
            length = self.headers.get("Content-Length")
            if length is None or not (length.isascii() and length.isdigit()):
                raise BadRequest(411, "a Content-Length is required")
            if int(length) > self.server.max_body_bytes:
                raise BadRequest(413, f"body of {length} bytes is over {self.server.max_body_bytes}")
        except BadRequest as exc:
            self.close_connection = True  # the body was not read
            return self._error(exc.status, _INVALID_ARGUMENT, str(exc), kind)
        processor = self.server.processor
        with processor.admission() as admitted:
            if not admitted:
                self.close_connection = True
                return self._error(503, _UNAVAILABLE, "otel-plugins processor: busy, retry later", kind, retry_after=1)
            body = self.rfile.read(int(length))
            try:
                body = _inflate(body, self.headers.get("Content-Encoding", "").strip().lower(), self.server.max_body_bytes)
                request = _from_json(body) if kind == JSON else _from_protobuf(body)
            except BadRequest as exc:
                return self._error(exc.status, _INVALID_ARGUMENT, str(exc), kind)
            try:
                reply = processor.export(request, hashlib.blake2b(body, digest_size=16).digest())
            except Exception:  # a bug of ours: the sender keeps the batch and retries
                _logger.exception("otel-plugins processor: batch failed")
                return self._error(503, _INTERNAL, "otel-plugins processor: internal error", kind, retry_after=1)
        if reply.outcome is Outcome.RETRY:
            return self._error(503, _UNAVAILABLE, reply.message, kind, retry_after=reply.retry_after_s)
        if reply.outcome is Outcome.REJECTED:
            return self._error(400, _INVALID_ARGUMENT, reply.message, kind)
        response = reply.response
        if kind == JSON:
            self._send(200, JSON, json_format.MessageToJson(response, indent=None).encode() if response else b"{}")
        else:
            self._send(200, PROTOBUF, response.SerializeToString() if response else b"")

    def _error(self, status: int, code: int, message: str, kind: str, retry_after: int | None = None) -> None:
        if kind == JSON:
            body, kind = json.dumps({"code": code, "message": message}).encode(), JSON
        else:
            body, kind = Status(code=code, message=message).SerializeToString(), PROTOBUF
        self._send(status, kind, body, {"Retry-After": str(retry_after)} if retry_after is not None else None)

    def _send(self, status: int, kind: str, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    processor: LogProcessor
    max_body_bytes: int


class HttpReceiver:
    """`host`, `port` (0: a free one, see `port`); serves on a thread of its own."""

    protocol = "http"

    def __init__(self, processor: LogProcessor, host: str, port: int, *, max_body_bytes: int) -> None:
        server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6}) if ":" in host else _Server
        self.server = server_class((host.strip("[]"), port), _Handler)
        self.server.processor = processor
        self.server.max_body_bytes = max_body_bytes
        self.port = self.server.server_address[1]
        self.address = f"{host}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.2,), name="otlp-http", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, grace_s: float = 0.0) -> None:
        """Stop taking requests; those running finish on their own threads (the processor waits for them)."""
        self.server.shutdown()
        self.server.server_close()
