"""What a rendered Collector config can be told from outside: env variables and their defaults.

Everything site-specific is a `${env:NAME:-default}` reference in the rendered YAML, so one
rendered pair of files serves every node; `Setting.ref` builds the reference.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    env: str
    default: str | None
    description: str

    @property
    def ref(self) -> str:
        return f"${{env:{self.env}}}" if self.default is None else f"${{env:{self.env}:-{self.default}}}"


# agent.yaml
SERVE_LOGS = Setting("GPUSTACK_SERVE_LOGS", "/var/lib/gpustack/log/serve/*.log", "Glob of the inference servers' log files")
RPC_LOGS = Setting("GPUSTACK_RPC_SERVER_LOGS", "/var/lib/gpustack/log/rpc_server/*.log", "Glob of the RPC servers' log files")
START_AT = Setting("FILELOG_START_AT", "end", "`end` (tail new lines) or `beginning` (read the files whole first)")
GATEWAY = Setting("OTEL_GATEWAY_ENDPOINT", None, "The gateway's OTLP gRPC endpoint, host:port (required)")
GATEWAY_INSECURE = Setting("OTEL_GATEWAY_INSECURE", "true", "Plain-text gRPC to the gateway (false: TLS)")
AGENT_SERVICE = Setting("AGENT_SERVICE_NAME", "llama-serve-logs", "service.name of the agent's log records and counts")
AGENT_MEMORY = Setting("AGENT_MEMORY_LIMIT_MIB", "256", "memory_limiter limit of the agent")
COUNT_INTERVAL = Setting("AGENT_COUNT_INTERVAL", "10s", "How often the probe and drop counts leave the agent")
STORAGE_DIR = Setting(
    "AGENT_STORAGE_DIR", "/var/lib/otelcol/file_storage",
    "file_storage directory: filelog offsets and the export queue survive an agent restart",
)  # fmt: skip

# gateway.yaml
OTLP_GRPC = Setting("OTLP_GRPC_ENDPOINT", "0.0.0.0:4317", "Where the gateway receives OTLP gRPC")
OTLP_HTTP = Setting("OTLP_HTTP_ENDPOINT", "0.0.0.0:4318", "Where the gateway receives OTLP HTTP")
TRACES = Setting("TRACES_ENDPOINT", None, "OTLP gRPC endpoint of Jaeger or Tempo, host:port (required)")
TRACES_INSECURE = Setting("TRACES_INSECURE", "true", "Plain-text gRPC to the trace backend (false: TLS)")
PROMETHEUS = Setting("PROMETHEUS_ENDPOINT", "0.0.0.0:8889", "Where the `prometheus` exporter serves /metrics")
LOGS_FILE = Setting("LOGS_FILE", "/var/lib/otelcol/llama-logs.jsonl", "File the gateway writes the log records to (OTLP JSON lines)")
LOGS_ENDPOINT = Setting("LOGS_ENDPOINT", "http://127.0.0.1:3100/otlp", "OTLP HTTP logs backend (Loki, ...), used when `otlp_http/logs` is in the logs pipeline")
GATEWAY_MEMORY = Setting("GATEWAY_MEMORY_LIMIT_MIB", "1024", "memory_limiter limit of the gateway")
HEALTH = Setting("HEALTH_CHECK_ENDPOINT", "0.0.0.0:13133", "health_check extension endpoint (both files)")

AGENT_SETTINGS = (SERVE_LOGS, RPC_LOGS, START_AT, GATEWAY, GATEWAY_INSECURE, AGENT_SERVICE, AGENT_MEMORY, COUNT_INTERVAL, STORAGE_DIR, HEALTH)
GATEWAY_SETTINGS = (OTLP_GRPC, OTLP_HTTP, TRACES, TRACES_INSECURE, PROMETHEUS, LOGS_FILE, LOGS_ENDPOINT, GATEWAY_MEMORY, HEALTH)
