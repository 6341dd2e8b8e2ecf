"""The probe policy inside the OpenTelemetry Collector: agent.yaml and gateway.yaml, rendered.

    from otel_plugins.collector import render_files
    render_files("collector-config")      # what `otel-plugins collector render` does

`stanza` builds the filelog receiver's operators (the dialect parsers in RE2), `ottl` turns
the Policy into transform statements, filter conditions and count metrics, `render`
assembles and writes the files, `validate` runs `otelcol validate` on them.
"""

from __future__ import annotations

from .render import agent_config, gateway_config, render_agent, render_files, render_gateway, to_yaml
from .validate import ValidationResult, find_otelcol, validate_file, validate_text

__all__ = [
    "ValidationResult",
    "agent_config",
    "find_otelcol",
    "gateway_config",
    "render_agent",
    "render_files",
    "render_gateway",
    "to_yaml",
    "validate_file",
    "validate_text",
]
