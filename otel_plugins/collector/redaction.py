"""redact.py's rules rendered for the Collector: a `transform` and a `redaction` processor.

The Python side and the Collector run the same RE2 text (`redact.combined_pattern()`), so a
line comes out of the agent exactly as `redact_text` makes it:

- `transform/redact`: OTTL `replace_pattern` on the log body (where a marker is present),
  `replace_all_patterns` on log, span, span event, data point and resource attributes,
  and the span name and status message;
- `redaction/secret_keys`: the `redaction` processor's `blocked_key_patterns`, for
  attributes whose key names a secret (`x-api-key`, `password`): their value becomes `****`
  (the processor's mask; Python writes `[REDACTED]`).

`$` is doubled: the Collector's config expansion reads `${...}` itself.
"""

from __future__ import annotations

from typing import Any

from .. import redact
from .ottl import ottl_str

_STATEMENTS = {"logs": "log_statements", "traces": "trace_statements", "metrics": "metric_statements"}
TRANSFORM = "transform/redact"
KEYS = "redaction/secret_keys"
PROCESSORS = (TRANSFORM, KEYS)


def _escaped(text: str) -> str:
    return text.replace("$", "$$")


def _pattern() -> str:
    return _escaped(ottl_str(redact.combined_pattern()))


def _replacement() -> str:
    return _escaped(ottl_str(redact.replacement("${{{}}}")))


def replace_in(target: str) -> str:
    """Redact one string field."""
    return f"replace_pattern({target}, {_pattern()}, {_replacement()})"


def replace_in_map(target: str) -> str:
    """Redact every string value of a map."""
    return f'replace_all_patterns({target}, "value", {_pattern()}, {_replacement()})'


def _statements(signal: str) -> list[dict[str, Any]]:
    resource = {"context": "resource", "statements": [replace_in_map("resource.attributes")]}
    if signal == "logs":
        marker = f"IsMatch(log.body, {_escaped(ottl_str(redact.marker_pattern()))})"
        return [resource, {"context": "log", "statements": [f"{replace_in('log.body')} where {marker}", replace_in_map("log.attributes")]}]
    if signal == "traces":
        return [
            resource,
            {"context": "span", "statements": [replace_in("span.name"), replace_in("span.status.message"), replace_in_map("span.attributes")]},
            {"context": "spanevent", "statements": [replace_in("spanevent.name"), replace_in_map("spanevent.attributes")]},
        ]
    return [resource, {"context": "datapoint", "statements": [replace_in_map("datapoint.attributes")]}]


def processors(*signals: str) -> dict[str, dict[str, Any]]:
    """The two processors for pipelines of `signals` ("logs", "traces", "metrics")."""
    transform: dict[str, Any] = {"error_mode": "ignore"}
    for signal in signals:
        transform[_STATEMENTS[signal]] = _statements(signal)
    return {
        TRANSFORM: transform,
        KEYS: {"allow_all_keys": True, "blocked_key_patterns": [_escaped(redact.SECRET_KEY_PATTERN)], "summary": "silent"},
    }
