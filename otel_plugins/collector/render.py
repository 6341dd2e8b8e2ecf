"""Assemble `agent.yaml` and `gateway.yaml` from a Policy, and write them in the Collector's style.

    from otel_plugins.collector import render_agent, render_gateway
    text = render_agent(Policy())          # the committed collector-config/agent.yaml

`agent_config(..., exporter="file")` is the same agent with the gateway export swapped for
the file exporter (tests), `exporter="debug"` for benchmarks.

Only the production agent (`exporter="otlp"`) keeps state in `file_storage`: the filelog
offsets and a persistent sending queue, so that a restarted agent neither loses nor
re-reads a file (at-least-once: what was exported but not yet checkpointed when it was
killed is sent again). The test variants read each file once, from a fresh state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from .. import names
from ..policy import Policy
from . import config as cfg
from . import ottl, redaction, stanza

AGENT_FILE = "agent.yaml"
GATEWAY_FILE = "gateway.yaml"
FILE_EXPORT = cfg.Setting("AGENT_FILE_EXPORT", None, "file the test agent writes (exporter=file)")

_HEADER = """\
# {title}
# Rendered by `otel-plugins collector render` from the {policy}; do not edit by hand:
# change the policy and render again (a test compares this file with the renderer).
# Collector: contrib v0.158.0 components ({components}).
#
# Environment ({{env:NAME}} references below; NAME=default):
{settings}
"""


def header(title: str, source: str, components: str, settings: Sequence[cfg.Setting]) -> str:
    """The comment block every rendered file starts with: what it is, where it came from, and
    the environment variables it reads with their defaults."""
    lines = "\n".join(f"#   {s.env}={s.default if s.default is not None else '(required)'}  {s.description}" for s in settings)
    return _HEADER.format(title=title, policy=source, components=components, settings=lines)


def filelog_receiver(storage: str | None) -> dict[str, Any]:
    """The filelog receiver every agent reads the servers' logs with: the files, whole lines, and
    the storage extension its read offsets go to (None: none)."""
    receiver: dict[str, Any] = {
        "include": [cfg.SERVE_LOGS.ref, cfg.RPC_LOGS.ref],
        "start_at": cfg.START_AT.ref,
        "include_file_path": True,
        "include_file_name": False,
        "preserve_leading_whitespaces": True,
        "preserve_trailing_whitespaces": True,
        # A batch the pipeline refuses (the memory_limiter above its limit, a full export queue)
        # is sent again, for as long as it takes, and the file waits meanwhile: without this,
        # filelog drops the refused lines.
        "retry_on_failure": {"enabled": True, "initial_interval": "1s", "max_interval": "30s", "max_elapsed_time": "0s"},
    }
    if storage is not None:
        receiver["storage"] = storage
    return receiver


def health_extension(enabled: bool) -> dict[str, Any]:
    return {"health_check": {"endpoint": cfg.HEALTH.ref}} if enabled else {}


_STORAGE = "file_storage"


def _storage() -> dict[str, Any]:
    return {_STORAGE: {"directory": cfg.STORAGE_DIR.ref, "create_directory": True}}


def agent_config(policy: Policy | None = None, *, exporter: str = "otlp", health_check: bool = True) -> dict[str, Any]:
    """The agent as a mapping. `exporter`: "otlp" (to the gateway), "file" or "debug"."""
    policy = policy or Policy()
    persistent = exporter == "otlp"
    if exporter == "otlp":
        exporters = {
            "otlp_grpc/gateway": {
                "endpoint": cfg.GATEWAY.ref,
                "tls": {"insecure": cfg.GATEWAY_INSECURE.ref},
                # Records wait on disk until the gateway has them, across restarts; batching
                # happens here, after they are on disk (a batch processor would hold them in
                # memory after filelog has moved its offset past them).
                "sending_queue": {"enabled": True, "storage": _STORAGE, "batch": {"flush_timeout": "1s", "min_size": 8192}},
            },
        }
        logs_out = metrics_out = ["otlp_grpc/gateway"]
    elif exporter == "file":
        exporters = {
            "file/logs": {"path": FILE_EXPORT.ref, "flush_interval": "100ms"},
            "file/metrics": {"path": FILE_EXPORT.ref + ".metrics", "flush_interval": "100ms"},
        }
        logs_out, metrics_out = ["file/logs"], ["file/metrics"]
    elif exporter == "debug":
        exporters = {"debug": {"verbosity": "basic", "sampling_initial": 1, "sampling_thereafter": 1000}}
        logs_out = metrics_out = ["debug"]
    else:
        raise ValueError(f"exporter: {exporter!r} is not one of otlp, file, debug")
    config: dict[str, Any] = {}
    extensions = {**health_extension(health_check), **(_storage() if persistent else {})}
    if extensions:
        config["extensions"] = extensions
    # With storage, read offsets persist: a restart resumes where the last run stopped.
    filelog = filelog_receiver(_STORAGE if persistent else None)
    filelog["operators"] = stanza.operators()
    config["receivers"] = {"filelog/llama": filelog}
    config["processors"] = {
        "memory_limiter": {"check_interval": "1s", "limit_mib": cfg.AGENT_MEMORY.ref},
        "transform/llama_policy": {
            "error_mode": "ignore",
            "log_statements": [
                {
                    "context": "resource",
                    "statements": [
                        f'set(resource.attributes["{names.SERVICE_NAME}"], {ottl.ottl_str(cfg.AGENT_SERVICE.ref)})'
                        f' where resource.attributes["{names.SERVICE_NAME}"] == nil'
                    ],
                },
                {"context": "log", "statements": ottl.log_statements(policy)},
            ],
        },
        **redaction.processors("logs", attributes_from_body=True),  # secrets never leave the agent: redact.py's rules
        "filter/llama_policy": {"error_mode": "ignore", "log_conditions": ottl.drop_conditions(policy)},
        **({} if persistent else {"batch": {"timeout": "1s", "send_batch_size": 8192}}),
        # The count connector emits one delta per export call: fewer, larger calls. The batch
        # holds whole records, though: 65,536 of them took the agent's heap over the
        # memory_limiter on a fast read (bench/throughput.py), which then refused lines.
        "batch/count": {"timeout": cfg.COUNT_INTERVAL.ref, "send_batch_size": 8192},
    }
    config["exporters"] = exporters
    config["connectors"] = {"forward/llama_policy": {}, "count/llama_policy": {"logs": ottl.count_metrics()}}
    batch = [] if persistent else ["batch"]
    service: dict[str, Any] = {}
    if extensions:
        service["extensions"] = list(extensions)
    service["pipelines"] = {
        "logs/intake": {
            "receivers": ["filelog/llama"],
            "processors": ["memory_limiter", "transform/llama_policy", *redaction.PROCESSORS],
            "exporters": ["forward/llama_policy"],
        },
        # Sees every decided record, dropped ones too.
        "logs/count": {"receivers": ["forward/llama_policy"], "processors": ["batch/count"], "exporters": ["count/llama_policy"]},
        "logs/export": {"receivers": ["forward/llama_policy"], "processors": ["filter/llama_policy", *batch], "exporters": logs_out},
        "metrics/count": {"receivers": ["count/llama_policy"], **({"processors": batch} if batch else {}), "exporters": metrics_out},
    }
    config["service"] = service
    return config


def gateway_config(*, health_check: bool = True) -> dict[str, Any]:
    """The gateway: OTLP in; traces to Jaeger/Tempo, metrics on `prometheus`, logs to a file."""
    config: dict[str, Any] = {}
    if health_check:
        config["extensions"] = health_extension(True)
    config["receivers"] = {"otlp": {"protocols": {"grpc": {"endpoint": cfg.OTLP_GRPC.ref}, "http": {"endpoint": cfg.OTLP_HTTP.ref}}}}
    config["processors"] = {
        "memory_limiter": {"check_interval": "1s", "limit_mib": cfg.GATEWAY_MEMORY.ref},
        **redaction.processors("traces", "metrics", "logs"),  # whatever sends to the gateway
        "batch": {"timeout": "1s", "send_batch_size": 8192},
        # The agents' count connector sends deltas; Prometheus serves cumulative series.
        "deltatocumulative": {},
    }
    config["exporters"] = {
        "otlp_grpc/traces": {"endpoint": cfg.TRACES.ref, "tls": {"insecure": cfg.TRACES_INSECURE.ref}},
        "prometheus": {"endpoint": cfg.PROMETHEUS.ref, "resource_to_telemetry_conversion": {"enabled": True}},
        "file/logs": {"path": cfg.LOGS_FILE.ref, "flush_interval": "1s"},
        # Not in a pipeline by default: put it in `logs` for an OTLP logs backend.
        "otlp_http/logs": {"endpoint": cfg.LOGS_ENDPOINT.ref},
    }
    service: dict[str, Any] = {}
    if health_check:
        service["extensions"] = ["health_check"]
    service["pipelines"] = {
        "traces": {"receivers": ["otlp"], "processors": ["memory_limiter", *redaction.PROCESSORS, "batch"], "exporters": ["otlp_grpc/traces"]},
        "metrics": {
            "receivers": ["otlp"],
            "processors": ["memory_limiter", *redaction.PROCESSORS, "deltatocumulative", "batch"],
            "exporters": ["prometheus"],
        },
        "logs": {"receivers": ["otlp"], "processors": ["memory_limiter", *redaction.PROCESSORS, "batch"], "exporters": ["file/logs"]},
    }
    config["service"] = service
    return config


class _Dumper(yaml.SafeDumper):
    """Block style, sequences indented under their key, as the Collector's docs write YAML;
    a value used twice is written twice, never as an `&id001` anchor and `*id001` alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002 - always indented
        return super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    # Expressions and regexes read best single-quoted (no escapes); env refs stay plain.
    style = None
    if any(c in value for c in "\\\"'[]{}*|&!%@`#") and not value.startswith("${env:"):
        style = "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def to_yaml(config: Mapping[str, Any]) -> str:
    return yaml.dump(dict(config), Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100000, allow_unicode=True)


def render_agent(policy: Policy | None = None, *, source: str = "default policy", **kw: Any) -> str:
    return header(
        "Agent: one per node, next to the servers. Tails their logs and applies the probe policy.",
        source,
        "filelog, transform, redaction, filter, batch, memory_limiter, count, forward, otlp_grpc, health_check, file_storage",
        cfg.AGENT_SETTINGS,
    ) + to_yaml(agent_config(policy, **kw))


def render_gateway(*, source: str = "default policy", **kw: Any) -> str:
    return header(
        "Gateway: in front of the backends. Traces to Jaeger/Tempo, metrics to Prometheus, logs to a file or OTLP backend.",
        source,
        "otlp, memory_limiter, batch, transform, redaction, deltatocumulative, otlp_grpc, prometheus, file, otlp_http, health_check",
        cfg.GATEWAY_SETTINGS,
    ) + to_yaml(gateway_config(**kw))


def render_files(out_dir: str | Path, policy: Policy | None = None, *, source: str = "default policy") -> list[Path]:
    """Write agent.yaml and gateway.yaml into `out_dir`; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in ((AGENT_FILE, render_agent(policy, source=source)), (GATEWAY_FILE, render_gateway(source=source))):
        path = out / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
