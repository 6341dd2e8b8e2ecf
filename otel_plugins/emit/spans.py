"""The trace of one instance launch: the instance span, its load, one transfer per RPC endpoint.

Launches given the same instance key (on any machine) share a trace id derived from the
key, so an instance and its rpc-servers appear in one trace.
"""

from __future__ import annotations

import hashlib
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext, Status, StatusCode, TraceFlags, Tracer

from .. import names
from ..argv import LaunchSpec
from ..state import EndpointProgress
from ..redact import exportable

# The SDK keeps at most 128 events per span; error lines beyond this budget are counted.
MAX_ERROR_EVENTS = 64


def parent_for_key(instance_key: str) -> Any:
    """A remote parent context whose trace id is derived from `instance_key`."""
    digest = hashlib.sha256(instance_key.encode("utf-8")).digest()
    trace_id = int.from_bytes(digest[:16], "big") or 1
    span_id = int.from_bytes(digest[16:24], "big") or 1
    context = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(context))


def instance_attributes(spec: LaunchSpec, pid: int | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        names.PROCESS_EXECUTABLE_NAME: spec.executable,
        names.PROCESS_COMMAND_ARGS: list(spec.redacted_argv),
        names.ATTR_SERVER_KIND: spec.kind.value,
    }
    if pid is not None:
        attributes[names.PID] = pid
    if spec.port is not None:
        attributes[names.SERVER_PORT] = spec.port
    if spec.model_name:
        attributes[names.MODEL_NAME] = spec.model_name
    if spec.rpc_endpoints:
        attributes[names.ATTR_RPC_ENDPOINTS] = list(spec.rpc_endpoints)
    if spec.tensor_split:
        attributes[names.ATTR_TENSOR_SPLIT] = spec.tensor_split
    if spec.listen:  # an rpc-server's host:port; its port is server.port already
        attributes[names.SERVER_ADDRESS] = spec.listen.rpartition(":")[0]
    return attributes


def progress_attributes(progress: EndpointProgress | None, ratio: float | None, source: str) -> dict[str, Any]:
    attributes: dict[str, Any] = {names.ATTR_SOURCE: source}
    if ratio is not None:
        attributes[names.ATTR_PROGRESS_RATIO] = round(ratio, 4)
    if progress is not None:
        attributes[names.ATTR_BYTES_DONE] = progress.bytes_done
        if progress.bytes_total is not None:
            attributes[names.ATTR_BYTES_TOTAL] = progress.bytes_total
        if progress.rate_bps is not None:
            attributes[names.ATTR_RATE] = round(progress.rate_bps, 1)
        if progress.eta_s is not None:
            attributes[names.ATTR_ETA] = round(progress.eta_s, 2)
        if progress.bytes_cached:
            attributes[names.ATTR_BYTES_CACHED] = progress.bytes_cached
        attributes[names.RPC_ENDPOINT] = progress.endpoint
    return attributes


class InstanceSpans:
    """Owns the spans of one launch; every method is safe to call in any phase, and twice."""

    def __init__(self, tracer: Tracer, spec: LaunchSpec, instance_key: str | None = None) -> None:
        self.tracer = tracer
        self.spec = spec
        context = parent_for_key(instance_key) if instance_key else None
        name = names.SPAN_RPC_SERVER if spec.kind.is_rpc_server else names.SPAN_INSTANCE
        self.instance: Span = tracer.start_span(name, context=context, attributes=instance_attributes(spec, None))
        if instance_key:
            self.instance.set_attribute(names.ATTR_INSTANCE_KEY, instance_key)
        self._instance_context = trace.set_span_in_context(self.instance)
        self.load: Span | None = None
        if spec.kind.is_model_server:
            self.load = tracer.start_span(names.SPAN_LOAD, context=self._instance_context)
        self.transfers: dict[str, Span] = {}
        self.error_events = 0
        self.errors_uncounted = 0

    def spawned(self, pid: int) -> None:
        self.instance.set_attribute(names.PID, pid)

    def transfer_started(self, endpoint: str, size_bytes: int) -> None:
        if endpoint in self.transfers or self.load is None:
            return
        span = self.tracer.start_span(
            names.SPAN_TRANSFER,
            context=trace.set_span_in_context(self.load),
            attributes={names.RPC_ENDPOINT: endpoint, names.ATTR_BYTES_TOTAL: size_bytes},
        )
        self.transfers[endpoint] = span

    def progress(self, overall: dict[str, Any], per_endpoint: dict[str, dict[str, Any]]) -> None:
        if self.load is not None and self.load.is_recording():
            self.load.add_event(names.EVENT_PROGRESS, overall)
        for endpoint, attributes in per_endpoint.items():
            span = self.transfers.get(endpoint)
            if span is not None and span.is_recording():
                span.add_event(names.EVENT_PROGRESS, attributes)

    def event(self, name: str, attributes: dict[str, Any] | None = None) -> None:
        self.instance.add_event(name, attributes or {})

    def error_line(self, text: str, attributes: dict[str, Any]) -> None:
        if self.error_events >= MAX_ERROR_EVENTS:
            self.errors_uncounted += 1
            return
        self.error_events += 1
        self.instance.add_event(names.EVENT_LOG_ERROR, {names.ATTR_LOG_BODY: exportable(text[:1024]), **attributes})

    def crash(self, kind: str, message: str, stacktrace: str) -> None:
        """OTel's `exception` event, on the instance span; `kind` is the abort kind."""
        self.instance.add_event(
            names.EVENT_EXCEPTION,
            {
                names.EXCEPTION_TYPE: kind,
                names.EXCEPTION_MESSAGE: exportable(message),
                names.EXCEPTION_STACKTRACE: exportable(stacktrace),
            },
        )

    def ready(self, load_seconds: float | None) -> None:
        attributes = {} if load_seconds is None else {names.ATTR_LOAD_DURATION: round(load_seconds, 3)}
        self.instance.add_event(names.EVENT_READY, attributes)
        self._end_load(ok=True)

    def load_failed(self, reason: str) -> None:
        self._end_load(ok=False, reason=reason)

    def _end_load(self, ok: bool, reason: str | None = None) -> None:
        for endpoint, span in self.transfers.items():
            if span.is_recording():
                if not ok:
                    span.set_status(Status(StatusCode.ERROR, reason or "load failed"))
                span.end()
        if self.load is not None and self.load.is_recording():
            if not ok:
                self.load.set_status(Status(StatusCode.ERROR, reason or "load failed"))
            self.load.end()

    def finish_transfer(self, endpoint: str, bytes_done: int, source: str) -> None:
        span = self.transfers.get(endpoint)
        if span is not None and span.is_recording():
            span.set_attribute(names.ATTR_BYTES_DONE, bytes_done)
            span.set_attribute(names.ATTR_SOURCE, source)

    def exited(
        self, code: int | None, signal_name: str | None, failed: bool, cause: str | None = None, requested: bool = False
    ) -> None:
        """Ends the spans. `requested`: the exit followed a stop the wrapper forwarded, so an
        abort while stopping leaves the status unset (the abort is an `exception` event)."""
        if not self.instance.is_recording():
            return
        if self.load is not None and self.load.is_recording():
            self._end_load(ok=False, reason=cause or "exited before ready")
        if code is not None:
            self.instance.set_attribute(names.ATTR_EXIT_CODE, code)
        if signal_name:
            self.instance.set_attribute(names.ATTR_EXIT_SIGNAL, signal_name)
        if requested:
            self.instance.set_attribute(names.ATTR_EXIT_REQUESTED, True)
        if self.errors_uncounted:
            self.instance.set_attribute(names.ATTR_ERROR_EVENTS_DROPPED, self.errors_uncounted)
        if cause:
            self.instance.set_attribute(names.ATTR_EXIT_CAUSE, exportable(cause))
        if failed:
            self.instance.set_status(Status(StatusCode.ERROR, cause or f"exit code {code}"))
        self.instance.end()
