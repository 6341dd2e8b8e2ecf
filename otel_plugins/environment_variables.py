"""Every environment variable otel-plugins reads, in one place: its own (`OTEL_PLUGINS_*`)
and the standard OTEL_* ones it honours, with defaults and meaning.

The README's environment-variable reference is generated from `REFERENCE`
(`python -m otel_plugins.environment_variables`) and a test checks that the two agree.
The Collector configs' own variables are in `otel_plugins/collector/config.py`.
"""

from __future__ import annotations

from typing import NamedTuple

OTEL_PLUGINS_POLICY = "OTEL_PLUGINS_POLICY"
"""Path to a policy YAML file."""

OTEL_PLUGINS_PROBE_PATHS = "OTEL_PLUGINS_PROBE_PATHS"
"""Comma-separated probe paths, replacing the default list."""

OTEL_PLUGINS_PROBE_CLIENTS = "OTEL_PLUGINS_PROBE_CLIENTS"
"""Comma-separated orchestrator addresses or networks whose probes count as probes, besides loopback."""

OTEL_PLUGINS_LOADING_VERDICT = "OTEL_PLUGINS_LOADING_VERDICT"
"""Verdict for probe responses while the server starts or loads: keep, downgrade, drop, sample."""

OTEL_PLUGINS_READY_VERDICT = "OTEL_PLUGINS_READY_VERDICT"
"""Verdict for healthy probe responses after ready: keep, downgrade, drop, sample."""

OTEL_PLUGINS_SAMPLE_WINDOW = "OTEL_PLUGINS_SAMPLE_WINDOW"
"""Seconds per sampling window."""

OTEL_PLUGINS_LOAD_DEADLINE = "OTEL_PLUGINS_LOAD_DEADLINE"
"""Seconds after which a load still in progress is overdue (failing probes are then raised)."""

OTEL_PLUGINS_OUTPUT_DIR = "OTEL_PLUGINS_OUTPUT_DIR"
"""Where the `otel_plugins_json_file` exporters write (zero-code)."""

OTEL_PLUGINS_CACHE = "OTEL_PLUGINS_CACHE"
"""Where heavy test-bed builds are cached (default ~/.cache/otel-plugins)."""

OTEL_PLUGINS_CORPUS = "OTEL_PLUGINS_CORPUS"
"""The labelled corpus the tests read."""


class Variable(NamedTuple):
    name: str
    default: str
    meaning: str


# The project's own.
OWN: tuple[Variable, ...] = (
    Variable(OTEL_PLUGINS_POLICY, "built-in policy", "policy YAML file (`--policy` wins)"),
    Variable(OTEL_PLUGINS_PROBE_PATHS, "`/health,/v1/health,...`", "comma-separated probe paths, replacing the default list"),
    Variable(OTEL_PLUGINS_PROBE_CLIENTS, "loopback only", "comma-separated orchestrator addresses or networks whose probes count as probes"),
    Variable(OTEL_PLUGINS_LOADING_VERDICT, "`downgrade`", "verdict for probes while the server starts or loads: keep, downgrade, drop, sample"),
    Variable(OTEL_PLUGINS_READY_VERDICT, "`downgrade`", "verdict for healthy probes after ready: keep, downgrade, drop, sample"),
    Variable(OTEL_PLUGINS_SAMPLE_WINDOW, "`60`", "seconds per sampling window"),
    Variable(OTEL_PLUGINS_LOAD_DEADLINE, "none", "seconds after which a load still running is overdue"),
    Variable(OTEL_PLUGINS_OUTPUT_DIR, "`./otel-out`", "where the `otel_plugins_json_file` exporters write (zero-code)"),
    Variable(OTEL_PLUGINS_CACHE, "`~/.cache/otel-plugins`", "test bed: where heavy builds are cached"),
    Variable(OTEL_PLUGINS_CORPUS, "`../shared/corpus`", "tests: the labelled corpus"),
)  # fmt: skip

_S = "{SIGNAL}"  # TRACES, METRICS or LOGS: the per-signal variable wins over the generic one

# The standard ones, with the SDK's meaning; the defaults are otel-plugins' where they differ.
STANDARD: tuple[Variable, ...] = (
    Variable("OTEL_SDK_DISABLED", "`false`", "`true`: no exporter at all, nothing written or sent"),
    Variable("OTEL_SERVICE_NAME", "the executable's name", "`service.name`"),
    Variable("OTEL_RESOURCE_ATTRIBUTES", "", "more resource attributes, `key=value,...`"),
    Variable("OTEL_TRACES_EXPORTER", "see Export", "comma list of exporter names: `otlp`, `console`, `otlp_json_file`, any installed entry point; `none`"),
    Variable("OTEL_METRICS_EXPORTER", "see Export", "the same for metrics (`prometheus` too)"),
    Variable("OTEL_LOGS_EXPORTER", "see Export", "the same for logs"),
    Variable(f"OTEL_EXPORTER_OTLP_[{_S}_]PROTOCOL", "`http/protobuf`", "`grpc`, `http/protobuf` or `http/json`"),
    Variable(f"OTEL_EXPORTER_OTLP_[{_S}_]ENDPOINT", "none (files)", "collector URL; the generic one gets `/v1/<signal>` appended for HTTP"),
    Variable(f"OTEL_EXPORTER_OTLP_[{_S}_]HEADERS", "", "`key=value,...`, URL-encoded values"),
    Variable(f"OTEL_EXPORTER_OTLP_[{_S}_]TIMEOUT", "`10`", "seconds per export (the Python exporters' unit)"),
    Variable(f"OTEL_EXPORTER_OTLP_[{_S}_]COMPRESSION", "`none`", "`gzip`, `deflate` or `none`"),
    Variable(f"OTEL_EXPORTER_OTLP_[{_S}_]CERTIFICATE", "system CAs", "CA file to verify the collector's certificate"),
    Variable(f"OTEL_EXPORTER_OTLP_[{_S}_]CLIENT_KEY", "", "client key for mTLS"),
    Variable(f"OTEL_EXPORTER_OTLP_[{_S}_]CLIENT_CERTIFICATE", "", "client certificate for mTLS"),
    Variable(f"OTEL_EXPORTER_OTLP_[{_S}_]INSECURE", "from the URL scheme", "gRPC: `true` for plain text"),
    Variable("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "`cumulative`", "`delta` or `lowmemory` for delta backends"),
    Variable("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", "explicit buckets", "`base2_exponential_bucket_histogram`"),
    Variable("OTEL_BSP_SCHEDULE_DELAY", "`1000`", "ms between span exports"),
    Variable("OTEL_BSP_MAX_QUEUE_SIZE", "`4096`", "spans held for export; more are dropped and counted"),
    Variable("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "`512`", "spans per export"),
    Variable("OTEL_BSP_EXPORT_TIMEOUT", "`30000`", "ms per span export"),
    Variable("OTEL_BLRP_SCHEDULE_DELAY", "`1000`", "ms between log exports"),
    Variable("OTEL_BLRP_MAX_QUEUE_SIZE", "`4096`", "log records held for export; more are dropped and counted"),
    Variable("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "`512`", "log records per export"),
    Variable("OTEL_BLRP_EXPORT_TIMEOUT", "`30000`", "ms per log export"),
    Variable("OTEL_METRIC_EXPORT_INTERVAL", "`5000`", "ms between metric exports"),
    Variable("OTEL_METRIC_EXPORT_TIMEOUT", "`30000`", "ms per metric export"),
    Variable("OTEL_TRACES_SAMPLER", "`parentbased_always_on`", "the SDK's samplers; `OTEL_TRACES_SAMPLER_ARG` for the ratio"),
    Variable("OTEL_TRACES_SAMPLER_ARG", "", "sampler argument"),
    Variable("OTEL_PYTHON_ID_GENERATOR", "`random`", "trace and span id generator (entry point)"),
    Variable("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "none", "longer string attributes are cut"),
    Variable("OTEL_ATTRIBUTE_COUNT_LIMIT", "`128`", "attributes per span, event or record"),
    Variable("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "`128`", "attributes per span"),
    Variable("OTEL_SPAN_EVENT_COUNT_LIMIT", "`128`", "events per span"),
    Variable("OTEL_EXPERIMENTAL_RESOURCE_DETECTORS", "", "extra resource detectors (`host`, `process`, ...)"),
)  # fmt: skip

# Read by `opentelemetry-instrument`'s auto-configuration but not by `run`, `tail` and `replay`.
NOT_HONOURED: tuple[Variable, ...] = (
    Variable("OTEL_CONFIG_FILE", "", "declarative configuration: use OTEL_* variables instead"),
    Variable("OTEL_PYTHON_TRACER_CONFIGURATOR", "", "experimental; likewise the METER and LOGGER ones"),
    Variable("OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED", "", "deprecated; the wrapper never touches Python logging of a host"),
)  # fmt: skip

REFERENCE: tuple[tuple[str, tuple[Variable, ...]], ...] = (
    ("otel-plugins", OWN),
    ("standard, honoured by `run`, `tail`, `replay` and the library", STANDARD),
    ("standard, not honoured (the auto-configuration's own)", NOT_HONOURED),
)


def markdown_table() -> str:
    """The README's environment-variable reference."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for title, variables in REFERENCE:
        rows.append(f"| **{title}** | | |")
        rows += [f"| `{v.name}` | {v.default} | {v.meaning} |" for v in variables]
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
