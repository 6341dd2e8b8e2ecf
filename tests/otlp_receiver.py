"""A minimal real OTLP receiver for tests: OTLP/HTTP (protobuf and JSON, gzip/deflate) and
OTLP/gRPC, built on the opentelemetry-proto service definitions, optionally over TLS.

It records every request as it arrived (transport, path, headers, content type and
encoding) with the decoded ExportRequest, so a test can see what an exporter sent and how.
`delay_s` makes it answer slowly (for timeouts). Plain module, no fixtures.
"""

from __future__ import annotations

import gzip
import json
import ssl
import subprocess
import threading
import time
import zlib
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict, ParseDict
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

REQUESTS = {
    "traces": (trace_service_pb2.ExportTraceServiceRequest, trace_service_pb2.ExportTraceServiceResponse),
    "metrics": (metrics_service_pb2.ExportMetricsServiceRequest, metrics_service_pb2.ExportMetricsServiceResponse),
    "logs": (logs_service_pb2.ExportLogsServiceRequest, logs_service_pb2.ExportLogsServiceResponse),
}


@dataclass
class Received:
    transport: str  # http | grpc
    signal: str
    path: str
    headers: dict[str, str]
    content_type: str = ""
    content_encoding: str = ""
    body: dict[str, Any] = field(default_factory=dict)  # the ExportRequest, as OTLP JSON


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (openssl)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


class OtlpReceiver:
    """HTTP on `http_port`, gRPC on `grpc_port`, both on 127.0.0.1 (TLS when `tls` gives a cert and key)."""

    def __init__(self, tls: tuple[Path, Path] | None = None, delay_s: float = 0.0) -> None:
        self.tls, self.delay_s = tls, delay_s
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._http: ThreadingHTTPServer | None = None
        self._grpc: grpc.Server | None = None

    # -- what arrived -------------------------------------------------------------------
    def requests(self, signal: str | None = None, transport: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if (signal is None or r.signal == signal) and (transport is None or r.transport == transport)]

    def items(self, signal: str) -> list[dict]:
        """Spans, log records or metrics received for `signal`, in arrival order."""
        key = {"traces": ("resourceSpans", "scopeSpans", "spans"), "logs": ("resourceLogs", "scopeLogs", "logRecords"),
               "metrics": ("resourceMetrics", "scopeMetrics", "metrics")}[signal]  # fmt: skip
        found = []
        for request in self.requests(signal):
            for resource in request.body.get(key[0], []):
                for scope in resource.get(key[1], []):
                    found += scope.get(key[2], [])
        return found

    def resources(self, signal: str) -> list[dict[str, Any]]:
        key = {"traces": "resourceSpans", "logs": "resourceLogs", "metrics": "resourceMetrics"}[signal]
        return [
            {a["key"]: next(iter(a["value"].values()), None) for a in r.get("resource", {}).get("attributes", [])}
            for request in self.requests(signal) for r in request.body.get(key, [])
        ]  # fmt: skip

    def wait(self, signal: str, count: int = 1, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(found := self.requests(signal)) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"no {signal} request arrived within {timeout}s (got {len(self.requests(signal))})")

    def _record(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)

    # -- serving ----------------------------------------------------------------------
    @property
    def http_port(self) -> int:
        assert self._http is not None
        return self._http.server_address[1]

    @property
    def http_url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.http_port}"

    def __enter__(self) -> OtlpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                data = gzip.decompress(raw) if encoding == "gzip" else zlib.decompress(raw) if encoding == "deflate" else raw
                signal = next((s for s in REQUESTS if self.path.endswith(f"/{s}")), None) or self.path.rsplit("/", 1)[-1]
                request_type, response_type = REQUESTS.get(signal, REQUESTS["logs"])
                content_type = self.headers.get("Content-Type", "")
                message = request_type()
                if content_type.startswith("application/json"):
                    ParseDict(json.loads(data), message, ignore_unknown_fields=True)
                else:
                    message.ParseFromString(data)
                receiver._record(Received("http", signal, self.path, {k.lower(): v for k, v in self.headers.items()},
                                          content_type, encoding, MessageToDict(message)))  # fmt: skip
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                body = response_type().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", content_type or "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._http.socket = context.wrap_socket(self._http.socket, server_side=True)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        for signal, servicer_base, add in (
            ("traces", trace_service_pb2_grpc.TraceServiceServicer, trace_service_pb2_grpc.add_TraceServiceServicer_to_server),
            ("metrics", metrics_service_pb2_grpc.MetricsServiceServicer, metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server),
            ("logs", logs_service_pb2_grpc.LogsServiceServicer, logs_service_pb2_grpc.add_LogsServiceServicer_to_server),
        ):
            add(self._servicer(signal, servicer_base), self._grpc)
        address = "127.0.0.1:0"
        if self.tls:
            credentials = grpc.ssl_server_credentials([(self.tls[1].read_bytes(), self.tls[0].read_bytes())])
            self.grpc_port = self._grpc.add_secure_port(address, credentials)
        else:
            self.grpc_port = self._grpc.add_insecure_port(address)
        self._grpc.start()
        return self

    def _servicer(self, signal: str, base: type) -> Any:
        receiver = self
        response_type = REQUESTS[signal][1]

        class Servicer(base):  # type: ignore[misc, valid-type]
            def Export(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802 - the service's name
                metadata = {k.lower(): v for k, v in context.invocation_metadata()}
                receiver._record(Received("grpc", signal, f"/{signal}", metadata, body=MessageToDict(request)))
                if receiver.delay_s:
                    time.sleep(receiver.delay_s)
                return response_type()

        return Servicer()

    def __exit__(self, *_exc: object) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(grace=0)
