"""The exporters' edge: every string that leaves the process goes through `redact.py` here.

`redacting(spans, metrics, logs)` wraps the three exporters `setup_telemetry` builds. Each
wrapper exports a redacted *copy* of what it is given (span name, status message, events,
links and attributes; log bodies and attributes; metric point attributes; resources), so
whatever produced the telemetry, and whichever field a secret reached, it is redacted once,
here. A record with nothing to redact is passed on as it is: the cost is a marker search
per string.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk._logs import ReadableLogRecord
from opentelemetry.sdk._logs.export import LogRecordExporter, LogRecordExportResult
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link
from opentelemetry.trace.status import Status

from ..redact import redact_text, redact_value

__all__ = ["RedactingLogExporter", "RedactingMetricExporter", "RedactingSpanExporter", "ResourceCache", "redact_metrics", "redacting"]


def attributes(original: Mapping[str, Any] | None, *, nested: bool = False, dropped: int = 0) -> Mapping[str, Any] | None:
    """Redacted attributes, the same object when nothing changed; a copy keeps the `dropped`
    count the SDK's limits left. `nested`: log attributes and bodies, whose values may be
    maps and mixed lists."""
    if not original:
        return original
    out = {key: _value(key, value, nested) for key, value in original.items()}
    if all(out[key] is value for key, value in original.items()):
        return original
    if not dropped:
        return out
    bounded = BoundedAttributes(attributes=out, immutable=False, extended_attributes=nested)
    bounded.dropped = dropped
    return bounded


def _value(key: str, value: Any, nested: bool) -> Any:
    if nested and isinstance(value, Mapping):
        return attributes(value, nested=True)
    if nested and isinstance(value, list | tuple) and not all(isinstance(v, str) for v in value):
        return any_value(value)
    return redact_value(key, value)


def any_value(value: Any) -> Any:
    """A log body (AnyValue): strings redacted, maps and lists walked."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return attributes(value, nested=True)
    if isinstance(value, list | tuple):
        out = [any_value(v) for v in value]
        return value if _same(out, value) else type(value)(out)
    return value


class ResourceCache:
    """Resources are shared by every record: each is redacted once."""

    def __init__(self) -> None:
        self._seen: tuple[Resource | None, Resource | None] = (None, None)

    def __call__(self, resource: Resource) -> Resource:
        if self._seen[0] is not resource:
            redacted = attributes(resource.attributes)
            self._seen = (resource, resource if redacted is resource.attributes else Resource(dict(redacted), resource.schema_url))
        return self._seen[1]


def _bounded_list(original: Sequence[Any], items: list[Any]) -> Sequence[Any]:
    dropped = getattr(original, "dropped", 0)
    if not dropped:
        return tuple(items)
    out = BoundedList.from_seq(None, items)
    out.dropped = dropped
    return out


def _event(event: Event) -> Event:
    name, attrs = redact_text(event.name), attributes(event.attributes, dropped=event.dropped_attributes)
    return event if name is event.name and attrs is event.attributes else Event(name, attrs, event.timestamp)


def _link(link: Link) -> Link:
    attrs = attributes(link.attributes, dropped=link.dropped_attributes)
    return link if attrs is link.attributes else Link(link.context, attrs)


def _same(new: Sequence[Any], old: Sequence[Any]) -> bool:
    return all(a is b for a, b in zip(new, old))


def redact_span(span: ReadableSpan, resource: Resource) -> ReadableSpan:
    original = span.attributes  # a new read-only view at each access: read it once
    name, attrs = redact_text(span.name), attributes(original, dropped=span.dropped_attributes)
    events, links = [_event(e) for e in span.events], [_link(link) for link in span.links]
    status = span.status
    description = redact_text(status.description) if status.description else status.description
    if attrs is original:  # unchanged: the SDK's own bounded mapping, which carries the dropped count
        attrs = getattr(span, "_attributes", original)
    if (name is span.name and attrs is getattr(span, "_attributes", original) and description is status.description
            and resource is span.resource and _same(events, span.events) and _same(links, span.links)):
        return span
    return ReadableSpan(
        name=name, context=span.context, parent=span.parent, resource=resource, attributes=attrs,
        # The SDK's bounded lists carry the dropped counts the encoders export.
        events=_bounded_list(getattr(span, "_events", ()), events), links=_bounded_list(getattr(span, "_links", ()), links),
        kind=span.kind, status=Status(status.status_code, description), start_time=span.start_time,
        end_time=span.end_time, instrumentation_scope=span.instrumentation_scope,
    )


def redact_log(record: ReadableLogRecord, resource: Resource) -> ReadableLogRecord:
    log = record.log_record
    body, attrs = any_value(log.body), attributes(log.attributes, nested=True, dropped=record.dropped_attributes)
    if body is log.body and attrs is log.attributes and resource is record.resource:
        return record
    copied = copy.copy(log)
    copied.body, copied.attributes = body, attrs
    return dataclasses.replace(record, log_record=copied, resource=resource)


def redact_metrics(data: MetricsData, resources: ResourceCache) -> MetricsData:
    resource_metrics = []
    for rm in data.resource_metrics:
        scopes = []
        for sm in rm.scope_metrics:
            metrics = []
            for metric in sm.metrics:
                points = [p if (a := attributes(p.attributes)) is p.attributes else dataclasses.replace(p, attributes=a)
                          for p in metric.data.data_points]
                if not _same(points, metric.data.data_points):
                    metric = dataclasses.replace(metric, data=dataclasses.replace(metric.data, data_points=points))
                metrics.append(metric)
            scopes.append(dataclasses.replace(sm, metrics=metrics))
        resource_metrics.append(dataclasses.replace(rm, resource=resources(rm.resource), scope_metrics=scopes))
    return dataclasses.replace(data, resource_metrics=resource_metrics)


class _Wrapper:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.resources = ResourceCache()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class RedactingSpanExporter(_Wrapper, SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([redact_span(s, self.resources(s.resource)) for s in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()


class RedactingLogExporter(_Wrapper, LogRecordExporter):
    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        return self.inner.export([redact_log(r, self.resources(r.resource)) for r in batch])

    def shutdown(self) -> None:
        self.inner.shutdown()


class RedactingMetricExporter(_Wrapper, MetricExporter):
    def __init__(self, inner: MetricExporter) -> None:
        # The reader asks the exporter which temporality and aggregation it wants.
        MetricExporter.__init__(self, getattr(inner, "_preferred_temporality", None), getattr(inner, "_preferred_aggregation", None))
        _Wrapper.__init__(self, inner)

    def export(self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any) -> MetricExportResult:
        return self.inner.export(redact_metrics(metrics_data, self.resources), timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.inner.shutdown(timeout_millis=timeout_millis, **kwargs)


def redacting(spans: SpanExporter, metrics: MetricExporter, logs: LogRecordExporter) -> tuple[Any, Any, Any]:
    """The three exporters, each behind its redacting edge."""
    return RedactingSpanExporter(spans), RedactingMetricExporter(metrics), RedactingLogExporter(logs)
