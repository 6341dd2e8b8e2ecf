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

Go's regexp has no DFA: in the agent, the case-insensitive marker test alone took about 20 µs
a line and the rules on every attribute value about 35 µs a record (bench/throughput.py with
one statement at a time), together most of the agent's CPU. So a log record's body
is lower-cased once into the record's `cache` and searched for each marker literally
(`Index`, a SIMD substring search); the rules run only where one is found. In the agent,
every log attribute is cut from the body (or is `log.file.path`, scanned with it), so the same
scan guards the attributes there; a backslash in the line (a JSON escape can spell a marker
that the raw line does not hold) sends the attributes through the rules whatever the scan
says. The gateway's attributes come from anywhere: they always go through the rules.
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


_SCAN = 'log.cache["redact_scan"]'
_BACKSLASH = "\\"


def _scan_finds(literals: list[str]) -> str:
    """True where the scan holds one of `literals`, or where there is no scan (a body that is
    not a string, say): then the rules decide."""
    return " or ".join([f"{_SCAN} == nil", *(f"Index({_SCAN}, {_escaped(ottl_str(m))}) >= 0" for m in literals)])


def _log_statements(attributes_from_body: bool) -> list[str]:
    markers = [*redact.markers(), *redact.FOLDED_ONTO_ASCII]
    scanned = 'Concat([log.body, log.attributes["log.file.path"]], " ")' if attributes_from_body else "log.body"
    attributes = replace_in_map("log.attributes")
    if attributes_from_body:
        attributes += f" where {_scan_finds([*markers, _BACKSLASH])}"
    return [f"set({_SCAN}, ToLowerCase({scanned}))", f"{replace_in('log.body')} where {_scan_finds(markers)}", attributes]


def _statements(signal: str, attributes_from_body: bool) -> list[dict[str, Any]]:
    resource = {"context": "resource", "statements": [replace_in_map("resource.attributes")]}
    if signal == "logs":
        return [resource, {"context": "log", "statements": _log_statements(attributes_from_body)}]
    if signal == "traces":
        return [
            resource,
            {"context": "span", "statements": [replace_in("span.name"), replace_in("span.status.message"), replace_in_map("span.attributes")]},
            {"context": "spanevent", "statements": [replace_in("spanevent.name"), replace_in_map("spanevent.attributes")]},
        ]
    return [resource, {"context": "datapoint", "statements": [replace_in_map("datapoint.attributes")]}]


def processors(*signals: str, attributes_from_body: bool = False) -> dict[str, dict[str, Any]]:
    """The two processors for pipelines of `signals` ("logs", "traces", "metrics").
    `attributes_from_body`: every log attribute was parsed from the body (the agent's filelog)."""
    transform: dict[str, Any] = {"error_mode": "ignore"}
    for signal in signals:
        transform[_STATEMENTS[signal]] = _statements(signal, attributes_from_body)
    return {
        TRANSFORM: transform,
        KEYS: {"allow_all_keys": True, "blocked_key_patterns": [_escaped(redact.SECRET_KEY_PATTERN)], "summary": "silent"},
    }
