"""`agent-processor.yaml`: an agent that only tails and ships, the policy applied by `otel-plugins processor`.

    from otel_plugins.collector.agent_processor import render_agent_processor
    text = render_agent_processor()       # the committed collector-config/agent-processor.yaml

The agent parses nothing. Each log file is one stream, and the agent makes the file its
records' resource (`log.file.path`, `host.name`), so that:
- the processor keys its per-stream state on exactly that resource;
- `load_balancing` with `routing_key: resource` sends every record of one stream to one
  processor replica, however many there are (a hash ring over the resolved replicas).

Nothing is lost on the way: filelog offsets and the sending queue live in `file_storage`,
the queue blocks the receiver when full (`block_on_overflow`), the receiver retries, and
a batch leaves the queue only once a processor answered, which it does only after the
gateway took it. One consumer keeps each agent's batches in order: a stream's state
follows its lines in the order they were written.

`processors=["host:port", ...]` renders a static list of replicas instead of the DNS
resolver (a hostname that resolves to every replica: a Kubernetes headless Service, a
Compose service).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import config as cfg
from .render import filelog_receiver, header, health_extension, to_yaml

AGENT_PROCESSOR_FILE = "agent-processor.yaml"

PROCESSOR_HOST = cfg.Setting(
    "OTEL_PROCESSOR_HOSTNAME", "127.0.0.1", "Hostname resolving to every `otel-plugins processor` replica (DNS, re-resolved every 5s)"
)
PROCESSOR_PORT = cfg.Setting("OTEL_PROCESSOR_PORT", "4317", "The replicas' OTLP gRPC port")
PROCESSOR_INSECURE = cfg.Setting("OTEL_PROCESSOR_INSECURE", "true", "Plain-text gRPC to the replicas (false: TLS)")
HOST_NAME = cfg.Setting("AGENT_HOST_NAME", None, "host.name of this node (e.g. the Kubernetes node name): keeps two nodes' same-named files apart")
STORAGE_DIR = cfg.Setting("AGENT_STORAGE_DIR", "/var/lib/otelcol/agent", "Where file_storage keeps read offsets and the sending queue")
QUEUE_SIZE = cfg.Setting("AGENT_QUEUE_RECORDS", "200000", "Records the persistent queue holds while no replica answers")
SETTINGS = (cfg.SERVE_LOGS, cfg.RPC_LOGS, cfg.START_AT, PROCESSOR_HOST, PROCESSOR_PORT, PROCESSOR_INSECURE, HOST_NAME, STORAGE_DIR,
            QUEUE_SIZE, cfg.AGENT_MEMORY, cfg.HEALTH)  # fmt: skip

STORAGE = "file_storage/agent"
EXPORTER = "load_balancing/processor"


def agent_processor_config(processors: Sequence[str] | None = None, *, health_check: bool = True) -> dict[str, Any]:
    """The agent as a mapping; `processors`: a static list of replicas (default: DNS, see above)."""
    resolver: dict[str, Any]
    if processors:
        resolver = {"static": {"hostnames": list(processors)}}
    else:
        resolver = {"dns": {"hostname": PROCESSOR_HOST.ref, "port": PROCESSOR_PORT.ref, "interval": "5s"}}
    config: dict[str, Any] = {"extensions": {**health_extension(health_check), STORAGE: {"directory": STORAGE_DIR.ref, "create_directory": True}}}
    config["receivers"] = {
        "file_log/llama": {
            **filelog_receiver(STORAGE),  # with retry_on_failure: a refusing queue makes the file wait
            "operators": [
                {"type": "move", "id": "stream_file", "from": 'attributes["log.file.path"]', "to": 'resource["log.file.path"]'},
                {"type": "add", "id": "stream_host", "field": 'resource["host.name"]', "value": HOST_NAME.ref},
            ],
        }
    }
    config["processors"] = {"memory_limiter": {"check_interval": "1s", "limit_mib": cfg.AGENT_MEMORY.ref}}
    config["exporters"] = {
        EXPORTER: {
            "routing_key": "resource",
            "protocol": {
                "otlp": {
                    "tls": {"insecure": PROCESSOR_INSECURE.ref},
                    "timeout": "10s",
                    # No queue per replica: a batch stays in the persistent queue below until a replica took it.
                    "sending_queue": {"enabled": False},
                    "retry_on_failure": {"enabled": True, "initial_interval": "1s", "max_interval": "5s", "max_elapsed_time": "60s"},
                }
            },
            "resolver": resolver,
            "timeout": "30s",
            # Then the whole batch is routed again (a lost replica's streams move to the others) until delivered.
            "retry_on_failure": {"enabled": True, "initial_interval": "1s", "max_interval": "30s", "max_elapsed_time": "0s"},
            "sending_queue": {
                "enabled": True,
                "storage": STORAGE,
                "num_consumers": 1,
                "block_on_overflow": True,
                "sizer": "items",
                "queue_size": QUEUE_SIZE.ref,
                # Deciding triples a batch's size: 4096 records stay well under the gateway's 4 MiB.
                "batch": {"flush_timeout": "500ms", "min_size": 2048, "max_size": 4096},
            },
        }
    }
    service: dict[str, Any] = {"extensions": [*(["health_check"] if health_check else []), STORAGE]}
    service["pipelines"] = {"logs": {"receivers": ["file_log/llama"], "processors": ["memory_limiter"], "exporters": [EXPORTER]}}
    config["service"] = service
    return config


def render_agent_processor(processors: Sequence[str] | None = None, *, source: str = "default policy", **kw: Any) -> str:
    return header(
        "Agent for `otel-plugins processor`: one per node. Tails the servers' logs; the processor applies the policy per stream.",
        source,
        "file_log, memory_limiter, load_balancing, file_storage, health_check",
        SETTINGS,
    ) + to_yaml(agent_processor_config(processors, **kw))
