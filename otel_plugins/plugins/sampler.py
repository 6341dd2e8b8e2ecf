"""A sampler that keeps probe requests out of traces.

ASGI/FastAPI instrumentation starts one server span per request with the method, path
and client among its attributes; when those are a probe's, the span is not recorded,
and its children (which follow their parent under `ParentBased`) are not either.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

from ..policy import Policy, ProbePolicy
from .http_record import http_record

_METHOD_KEYS = ("http.request.method", "http.method")
_PATH_KEYS = ("url.path", "http.target", "http.route")
_CLIENT_KEYS = ("client.address", "net.peer.ip", "http.client_ip")


def _first(attributes: Attributes, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = attributes.get(key) if attributes else None
        if value:
            return str(value)
    return None


class ProbeSampler(Sampler):
    """Drops server spans of probes; defers every other decision to `delegate`."""

    def __init__(self, delegate: Sampler | None = None, policy: Policy | ProbePolicy | None = None) -> None:
        self.delegate = delegate or ParentBased(ALWAYS_ON)
        self.policy = policy if isinstance(policy, ProbePolicy) else ProbePolicy(policy)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state=None,
    ) -> SamplingResult:
        if kind is SpanKind.SERVER and attributes:
            record = http_record(
                _first(attributes, _METHOD_KEYS), _first(attributes, _PATH_KEYS), None, _first(attributes, _CLIENT_KEYS)
            )
            if self.policy.matcher.is_probe(record):
                return SamplingResult(Decision.DROP, None, trace_state)
        return self.delegate.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return f"ProbeSampler{{{self.delegate.get_description()}}}"
