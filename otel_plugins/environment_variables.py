"""Names of the environment variables otel-plugins reads (the OTEL_* ones are the SDK's)."""

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

OTEL_PLUGINS_CACHE = "OTEL_PLUGINS_CACHE"
"""Where heavy test-bed builds are cached (default ~/.cache/otel-plugins)."""
