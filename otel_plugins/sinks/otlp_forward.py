"""The processor's next hop: decided batches go on as OTLP, over gRPC or HTTP/protobuf.

The target is `--forward URL` (`grpc://host:port`, `grpcs://`, or an `http(s)://` base URL
to which `/v1/logs` is added unless the path is given), else the standard variables:
`OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` (used as it is) or `OTEL_EXPORTER_OTLP_ENDPOINT`
(`/v1/logs` added), with `OTEL_EXPORTER_OTLP_[LOGS_]PROTOCOL` (`grpc` or `http/protobuf`),
`..._HEADERS` and `..._COMPRESSION` (`gzip`).

`send` makes one attempt and says what happened, in the processor's `Reply`: retrying is
the sender's business (its queue holds the data while we answer "retry"), so nothing
waits here beyond one timeout and nothing is buffered.

Deciding adds attributes, so a batch grows on its way through (about 3x for probe lines);
`split_request` keeps each forwarded request under the next hop's limit (the Collector's
OTLP receiver takes 4 MiB by default).
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import grpc
import requests
from requests.adapters import HTTPAdapter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest, ExportLogsServiceResponse
from google.rpc.error_details_pb2 import RetryInfo
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub

from ..processor.reply import Reply

MAX_MESSAGE_BYTES = 64 << 20
PART_BYTES = 3 << 20
# The OTLP specification's retryable answers (RESOURCE_EXHAUSTED only with a RetryInfo).
_RETRYABLE_GRPC = frozenset(
    {
        grpc.StatusCode.CANCELLED, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED, grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DATA_LOSS,
    }
)
_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})


class TargetError(ValueError):
    """A next hop that cannot be used as given (one line, naming it)."""


@dataclass(frozen=True)
class Target:
    protocol: str  # "grpc" | "http"
    endpoint: str  # grpc: host:port; http: the URL of /v1/logs
    secure: bool
    origin: str  # scheme://host:port, for the processor's own metrics
    headers: tuple[tuple[str, str], ...] = ()
    compression: str | None = None

    def __str__(self) -> str:  # never the headers: they may hold credentials
        return f"grpc{'s' if self.secure else ''}://{self.endpoint}" if self.protocol == "grpc" else self.endpoint

    def metrics_environ(self) -> dict[str, str]:
        """The SDK variables that send the processor's own metrics to the same place."""
        if self.protocol == "grpc":
            return {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": self.origin, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "grpc"}
        path = urlsplit(self.endpoint).path
        metrics = path[: -len("v1/logs")] + "v1/metrics" if path.endswith("v1/logs") else "/v1/metrics"
        return {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": self.origin + metrics, "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf"}


def _headers(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            pairs.append((unquote(key.strip()).lower(), unquote(value.strip())))
    return tuple(pairs)


def resolve_target(forward: str | None, environ: Mapping[str, str]) -> Target:
    def env(name: str) -> str:
        return (environ.get(f"OTEL_EXPORTER_OTLP_LOGS_{name}") or environ.get(f"OTEL_EXPORTER_OTLP_{name}") or "").strip()

    headers = _headers(env("HEADERS"))
    compression = "gzip" if env("COMPRESSION").lower() == "gzip" else None
    if forward:
        where, url, full = "--forward", forward, False
        scheme = urlsplit(url).scheme.lower()
        protocol = "grpc" if scheme in ("grpc", "grpcs") else "http"
    else:
        url = (environ.get("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT") or "").strip()
        where, full = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", True
        if not url:
            url, where, full = (environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or "").strip(), "OTEL_EXPORTER_OTLP_ENDPOINT", False
        if not url:
            raise TargetError("no next hop: give --forward URL or set OTEL_EXPORTER_OTLP_ENDPOINT")
        wanted = env("PROTOCOL") or "http/protobuf"
        if wanted not in ("grpc", "http/protobuf"):
            raise TargetError(f"OTEL_EXPORTER_OTLP_PROTOCOL={wanted!r}: the processor forwards grpc or http/protobuf")
        protocol = "grpc" if wanted == "grpc" else "http"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"{where} {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "grpc", "grpcs") or not parts.hostname:
        raise TargetError(f"{where} {url!r}: not a URL of the form http(s)://host:port or grpc://host:port")
    secure = scheme in ("https", "grpcs")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if protocol == "grpc":
        port = port or 4317
        origin = f"{'https' if secure else 'http'}://{host}:{port}"
        return Target("grpc", f"{host}:{port}", secure, origin, headers, compression)
    origin = f"{scheme}://{parts.netloc}"
    path = parts.path if full or parts.path.endswith("/v1/logs") else parts.path.rstrip("/") + "/v1/logs"
    return Target("http", f"{origin}{path}", secure, origin, headers, compression)


def split_request(request: ExportLogsServiceRequest, max_bytes: int = PART_BYTES) -> list[ExportLogsServiceRequest]:
    """`request` as requests of at most `max_bytes` each (but for a single record over it), in order.

    Records are cut into runs of equal count (slices copied by protobuf, not one by one); a
    run that is still too big, its records being larger than the others, is cut again."""
    size = request.ByteSize()
    count = sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
    if size <= max_bytes or count < 2:
        return [request]
    per_part = -(-count // min(count, -(-size // max_bytes) + 1))
    parts: list[ExportLogsServiceRequest] = []
    current, room, target_rl, source_rl = ExportLogsServiceRequest(), per_part, None, None
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            records, start = sl.log_records, 0
            while start < len(records):
                if source_rl is not rl or target_rl is None:
                    target_rl, source_rl = current.resource_logs.add(resource=rl.resource, schema_url=rl.schema_url), rl
                take = min(room, len(records) - start)
                target_rl.scope_logs.add(scope=sl.scope, schema_url=sl.schema_url).log_records.extend(records[start : start + take])
                start, room = start + take, room - take
                if room == 0:
                    parts.append(current)
                    current, room, target_rl = ExportLogsServiceRequest(), per_part, None
    if room < per_part:
        parts.append(current)
    return [piece for part in parts for piece in split_request(part, max_bytes)]


def _within(deadline_s: float | None, timeout_s: float) -> float:
    """The forward's timeout: ours, or less when the sender's own deadline comes sooner."""
    return min(deadline_s, timeout_s) if deadline_s else timeout_s


def _retryable(exc: grpc.RpcError, code: grpc.StatusCode) -> bool:
    if code is not grpc.StatusCode.RESOURCE_EXHAUSTED:
        return code in _RETRYABLE_GRPC
    for key, value in getattr(exc, "trailing_metadata", lambda: ())() or ():
        if key == "grpc-status-details-bin":
            return any(detail.Is(RetryInfo.DESCRIPTOR) for detail in Status.FromString(value).details)
    return False


class GrpcForwarder:
    def __init__(self, target: Target, timeout_s: float) -> None:
        self.target, self.timeout_s = target, timeout_s
        options = [
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            # A next hop back from an outage is used within seconds, not after gRPC's 2-minute backoff.
            ("grpc.initial_reconnect_backoff_ms", 500),
            ("grpc.max_reconnect_backoff_ms", 5000),
        ]
        compression = grpc.Compression.Gzip if target.compression == "gzip" else None
        if target.secure:
            self.channel = grpc.secure_channel(target.endpoint, grpc.ssl_channel_credentials(), options, compression)
        else:
            self.channel = grpc.insecure_channel(target.endpoint, options, compression)
        self.stub = LogsServiceStub(self.channel)

    def send(self, request: ExportLogsServiceRequest, timeout_s: float | None = None) -> Reply:
        try:
            response = self.stub.Export(request, timeout=_within(timeout_s, self.timeout_s), metadata=self.target.headers or None)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            message = f"next hop {self.target}: {code.name}"
            return Reply.retry(message) if _retryable(exc, code) else Reply.rejected(f"{message}: {exc.details()}")
        return Reply.accepted(response)

    def close(self) -> None:
        self.channel.close()


class HttpForwarder:
    def __init__(self, target: Target, timeout_s: float, connections: int = 16) -> None:
        self.target, self.timeout_s = target, timeout_s
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=connections, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.headers = {"Content-Type": "application/x-protobuf", **dict(target.headers)}
        if target.compression == "gzip":
            self.headers["Content-Encoding"] = "gzip"

    def send(self, request: ExportLogsServiceRequest, timeout_s: float | None = None) -> Reply:
        data = request.SerializeToString()
        if self.target.compression == "gzip":
            data = gzip.compress(data, 1)
        try:
            answer = self.session.post(self.target.endpoint, data=data, headers=self.headers, timeout=_within(timeout_s, self.timeout_s))
        except requests.RequestException as exc:
            return Reply.retry(f"next hop {self.target}: {type(exc).__name__}")
        status = answer.status_code
        if 200 <= status < 300:
            response = ExportLogsServiceResponse()
            if answer.content and "protobuf" in answer.headers.get("Content-Type", ""):
                try:
                    response.ParseFromString(answer.content)
                except Exception:  # noqa: BLE001 - the batch was taken; an odd answer body changes nothing
                    pass
            return Reply.accepted(response)
        message = f"next hop {self.target} answered {status}"
        if status in _RETRYABLE_HTTP:
            after = answer.headers.get("Retry-After", "")
            return Reply.retry(message, int(after) if after.isascii() and after.isdigit() else 1)
        return Reply.rejected(message)

    def close(self) -> None:
        self.session.close()


def forwarder(target: Target, timeout_s: float, connections: int = 16) -> GrpcForwarder | HttpForwarder:
    return GrpcForwarder(target, timeout_s) if target.protocol == "grpc" else HttpForwarder(target, timeout_s, connections)
