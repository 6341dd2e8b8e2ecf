"""`otel-plugins processor`: an OTLP log processor with state, between a Collector agent and its gateway.

Receives OTLP logs (gRPC and HTTP), decides each server line with the pipeline of its
stream (the same chain as `run`, `tail` and `replay`), forwards the decided batch to the
next hop and only then answers the sender. Its own metrics (probe responses, suppressed
lines, log records by severity) go to the same next hop unless OTEL_EXPORTER_OTLP_*
says otherwise.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import socket
import sys
import threading

from .. import names
from ..emit.metrics import InstanceMetrics
from ..pipeline import describe_lines
from ..processor.reply import Outcome
from ..processor.service import LogProcessor
from ..sinks.otlp_forward import TargetError, forwarder, resolve_target
from ..sinks.telemetry import setup_telemetry
from ..sources.otlp_grpc import GrpcReceiver
from ..sources.otlp_http import HttpReceiver
from .common import UsageError, add_policy_argument, load_policy

_EPILOG = """\
Streams: one per resource service.instance.id, else per log file (log.file.path or
log.file.name, on the resource or the record) and host.name, else per resource. Each keeps
its own phase, so a probe answered 503 before "model loaded" is DEBUG and after it WARN.
Records whose body is not text, and records a producer already gave a severity that no
dialect recognises, pass through as they came.

A batch is answered only once the next hop took it; when the next hop is down or more
than --max-in-flight batches are held, the answer is gRPC UNAVAILABLE or HTTP 503 with
Retry-After, and the sender's queue keeps the batch. SIGTERM or SIGINT: stop taking
batches, finish those in flight, close every stream, flush, exit 0."""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "processor", help="OTLP log processor with state: the probe policy per stream, for Collector pipelines",
        description="An OTLP log processor with state, between a Collector agent and its gateway: each stream's lines"
        " are decided by the same pipeline as run, tail and replay (phase included), the batch is forwarded, and the"
        " sender is answered only once the next hop took it.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_policy_argument(parser)
    parser.add_argument("--grpc", default="127.0.0.1:4317", metavar="HOST:PORT", help="OTLP/gRPC address (default 127.0.0.1:4317; none: off)")
    parser.add_argument("--http", default="127.0.0.1:4318", metavar="HOST:PORT", help="OTLP/HTTP address (default 127.0.0.1:4318; none: off)")
    parser.add_argument(
        "--forward", metavar="URL",
        help="next hop: grpc://host:port, or http(s)://host:port (/v1/logs added); default: OTEL_EXPORTER_OTLP_[LOGS_]ENDPOINT",
    )
    parser.add_argument("--forward-timeout", default="10", metavar="SECONDS", help="seconds one forward may take (default 10)")
    parser.add_argument("--max-in-flight", default="8", metavar="N", help="batches held at once; more are answered 'retry' (default 8)")
    parser.add_argument("--max-request-mib", default="16", metavar="MIB", help="largest batch taken, after decompression (default 16)")
    parser.add_argument("--stream-idle", default="3600", metavar="SECONDS", help="a stream without a line for this long is closed (default 3600)")
    parser.add_argument("--max-streams", default="10000", metavar="N", help="open streams at most; the least recent is closed (default 10000)")
    parser.add_argument("--service-name", metavar="NAME", default="otel-plugins-processor", help="service.name of its own metrics unless OTEL_SERVICE_NAME says otherwise")
    parser.set_defaults(handler=run)


def _positive(option: str, text: str, kind: type = float) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise UsageError(f"{option} {text!r}: not {'an integer' if kind is int else 'a number'}") from None
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{option} {text!r}: must be greater than 0")
    return value


def _address(option: str, text: str) -> tuple[str, int] | None:
    if text.strip().lower() == "none":
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"{option} {text!r}: not HOST:PORT (or none)")
    return host, int(port)


def _own_metrics_environ(target_environ: dict[str, str]) -> dict[str, str]:
    """The environment the telemetry setup reads: metrics to the next hop unless configured, no traces or logs of its own."""
    if not (os.environ.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        # The SDK's exporters read os.environ themselves.
        os.environ.update(target_environ)
    return {**os.environ, "OTEL_TRACES_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}


def _listen(
    processor: LogProcessor, grpc_address: tuple[str, int] | None, http_address: tuple[str, int] | None, max_bytes: int, max_in_flight: int
) -> list[GrpcReceiver | HttpReceiver]:
    receivers: list[GrpcReceiver | HttpReceiver] = []
    for option, address in (("--grpc", grpc_address), ("--http", http_address)):
        if address is None:
            continue
        host, port = address
        try:
            if option == "--grpc":
                # Calls beyond the admitted ones are answered "retry" at once by a free worker.
                receivers.append(GrpcReceiver(processor, f"{host}:{port}", max_message_bytes=max_bytes, workers=2 * max_in_flight + 2))
            else:
                receivers.append(HttpReceiver(processor, host, port, max_body_bytes=max_bytes))
        except OSError as exc:
            raise UsageError(f"{option} {host}:{port}: cannot listen ({exc.strerror or exc})") from None
    return receivers


def run(args: argparse.Namespace) -> int:
    timeout = _positive("--forward-timeout", args.forward_timeout)
    max_in_flight = int(_positive("--max-in-flight", args.max_in_flight, int))
    max_bytes = int(_positive("--max-request-mib", args.max_request_mib) * (1 << 20))
    idle = _positive("--stream-idle", args.stream_idle)
    max_streams = int(_positive("--max-streams", args.max_streams, int))
    grpc_address, http_address = _address("--grpc", args.grpc), _address("--http", args.http)
    if grpc_address is None and http_address is None:
        raise UsageError("--grpc none and --http none: nothing to receive on")
    try:
        target = resolve_target(args.forward, os.environ)
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    if target.protocol == "grpc" and grpc_address is not None and target.endpoint == f"{grpc_address[0]}:{grpc_address[1]}":
        raise UsageError(f"--forward {target}: that is this processor's own --grpc address")
    policy = load_policy(args.policy)

    environ = _own_metrics_environ(target.metrics_environ())
    resource = {} if "service.instance.id=" in environ.get("OTEL_RESOURCE_ATTRIBUTES", "") else {
        "service.instance.id": f"{socket.gethostname()}-{os.getpid()}"
    }
    telemetry = setup_telemetry(args.service_name, None, resource_attributes=resource, environ=environ)
    metrics = InstanceMetrics(
        telemetry.meter_provider.get_meter("otel_plugins"), None, {names.ATTR_SERVER_KIND: "processor"}, export_stats=telemetry.stats
    )
    forward = forwarder(target, timeout, connections=max_in_flight)
    processor = LogProcessor(
        policy, forward, metrics=metrics, stats=telemetry.stats, max_in_flight=max_in_flight, idle_s=idle, max_streams=max_streams
    )
    try:
        receivers = _listen(processor, grpc_address, http_address, max_bytes, max_in_flight)
    except UsageError:
        forward.close()
        telemetry.shutdown()
        raise
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda _signum, _frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for receiver in receivers:
            receiver.start()
        listening = " and ".join(f"{r.protocol} {r.address}" for r in receivers)
        print(f"otel-plugins: processor: OTLP in on {listening}, forwarding to {target}", file=sys.stderr, flush=True)
        while not stop.wait(1.0):
            try:
                processor.housekeeping()
            except Exception:  # a bug of ours: say it, keep serving
                logging.getLogger(__name__).exception("otel-plugins processor: housekeeping failed")
    finally:
        for receiver in receivers:
            receiver.stop(5.0)
        lost = processor.close(5.0)
        forward.close()
        telemetry.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    batches = processor.batches
    print(
        f"otel-plugins: processor: {processor.streams.opened} streams; batches forwarded {batches[Outcome.ACCEPTED]}"
        f" ({telemetry.stats.exported['logs']} records), refused by the next hop {batches[Outcome.RETRY]} (left with their"
        f" senders), rejected {batches[Outcome.REJECTED]}; records made at close and not delivered {lost}\n"
        f"{describe_lines(processor.line_counts())}",
        file=sys.stderr,
    )
    return 0
