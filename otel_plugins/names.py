"""Every attribute, span, event and metric name the project emits, in one place.

The README's reference tables, the Grafana dashboard and the alert rules are checked
against this module, so a name changes here or nowhere.
"""

from __future__ import annotations

# Record fields (semantic conventions where they exist).
HTTP_METHOD = "http.request.method"
URL_PATH = "url.path"
HTTP_STATUS = "http.response.status_code"
CLIENT_ADDRESS = "client.address"
CLIENT_PORT = "client.port"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
USER_AGENT = "user_agent.original"
REQUEST_ID = "llama.request.id"
REQUEST_COST_S = "llama.request.cost_s"
HTTP_STAGE = "llama.http.stage"  # request | response | exception
CONNECTION = "llama.http.connection"  # opened | closed (llama-box v2)
LOAD_BUFFER = "llama.load.buffer"  # as printed: CPU, CUDA0, Metal, RPC[host:port], RPC0[host:port]
LOAD_DEVICE = "llama.load.device"  # CPU, CUDA0, Metal, RPC
LOAD_SIZE_BYTES = "llama.load.size_bytes"
LOAD_PERCENT = "llama.load.percent"
LOAD_DOTS = "llama.load.dots"
RPC_ENDPOINT = "rpc.endpoint"  # host:port
RPC_MEMORY_BYTES = "rpc.memory_bytes"
RPC_VERSION = "rpc.version"
MODEL_PATH = "llama.model.path"
MODEL_NAME = "llama.model.name"
PID = "process.pid"
CRASH_PART = "llama.crash.part"  # head | backtrace

# Span and event names.
SPAN_INSTANCE = "llama.instance"
SPAN_LOAD = "llama.load"
SPAN_TRANSFER = "llama.rpc.transfer"
SPAN_RPC_SERVER = "llama.rpc_server"
EVENT_PROGRESS = "llama.load.progress"
EVENT_READY = "llama.ready"
EVENT_LOG_ERROR = "llama.log.error"
EVENT_RPC_ACCEPTED = "rpc.client.accepted"
EVENT_RPC_CLOSED = "rpc.client.closed"
EVENT_PEER_LOST = "rpc.peer.lost"
EVENT_PEER_DEGRADED = "rpc.peer.degraded"
EVENT_PEER_RECOVERED = "rpc.peer.recovered"

# Span attributes beyond the semantic conventions.
ATTR_RPC_ENDPOINTS = "llama.rpc.endpoints"
ATTR_TENSOR_SPLIT = "llama.tensor_split"
ATTR_PHASE = "llama.phase"
ATTR_PROGRESS_RATIO = "llama.load.progress.ratio"
ATTR_BYTES_DONE = "llama.load.bytes.done"
ATTR_BYTES_TOTAL = "llama.load.bytes.total"
ATTR_BYTES_CACHED = "llama.load.bytes.cached"  # of bytes.done: taken from the RPC server's tensor cache
ATTR_RATE = "llama.load.rate"
ATTR_ETA = "llama.load.eta_s"
ATTR_SOURCE = "llama.load.progress.source"  # tcp | percent | dots | buffer | router
ATTR_INSTANCE_KEY = "llama.instance.key"
ATTR_EXIT_SIGNAL = "process.exit.signal"
ATTR_EXIT_CODE = "process.exit.code"
ATTR_VERDICT = "llama.policy.verdict"
ATTR_REASON = "llama.policy.reason"
ATTR_LOAD_OUTCOME = "llama.load.outcome"  # ready | failed | exited
ATTR_LOG_SEVERITY = "llama.log.severity"  # a Severity name
ATTR_SIGNAL = "otel.signal"  # traces | metrics | logs

# Metric instruments: (name, instrument kind, unit, description).
METRIC_PHASE = "llama.instance.phase"
METRIC_PROGRESS = "llama.load.progress.ratio"
METRIC_BYTES_DONE = "llama.load.bytes"
METRIC_BYTES_TOTAL = "llama.load.size"
METRIC_RATE = "llama.load.rate"
METRIC_ETA = "llama.load.eta"
METRIC_LOAD_DURATION = "llama.load.duration"
METRIC_DEADLINE = "llama.load.deadline.timestamp"
METRIC_PROBES = "llama.probe.responses"
METRIC_SUPPRESSED = "llama.log.suppressed"
METRIC_LOG_RECORDS = "llama.log.records"
METRIC_EXITS = "llama.instance.exits"
METRIC_PEER_STATE = "llama.rpc.peer.state"
METRIC_PEER_LOSSES = "llama.rpc.peer.losses"
METRIC_TELEMETRY_DROPPED = "otel_plugins.telemetry.dropped"
METRIC_TELEMETRY_EXPORTED = "otel_plugins.telemetry.exported"

METRICS: tuple[tuple[str, str, str, str], ...] = (
    (METRIC_PHASE, "gauge", "{phase}", "1 for the phase the instance is in (attribute llama.phase), 0 for the others"),
    (METRIC_PROGRESS, "gauge", "1", "Load progress ratio 0..1, per rpc.endpoint (\"all\" for the whole load)"),
    (METRIC_BYTES_DONE, "gauge", "By", "Bytes of weights delivered so far, per rpc.endpoint"),
    (METRIC_BYTES_TOTAL, "gauge", "By", "Bytes of weights to deliver, per rpc.endpoint (from the buffer-size lines)"),
    (METRIC_RATE, "gauge", "By/s", "Transfer rate over the last progress interval, per rpc.endpoint"),
    (METRIC_ETA, "gauge", "s", "Estimated seconds until the load completes, per rpc.endpoint"),
    (METRIC_LOAD_DURATION, "histogram", "s", "Time from spawn until ready or failure, by llama.load.outcome"),
    (METRIC_DEADLINE, "gauge", "s", "Unix time at which a load still running is overdue (start + expected-load deadline), while loading"),
    (METRIC_PROBES, "counter", "{response}", "Probe responses seen, by url.path, http.response.status_code, llama.policy.verdict and llama.policy.reason"),
    (METRIC_SUPPRESSED, "counter", "{record}", "Lines dropped or sampled away, by url.path, http.response.status_code and llama.policy.reason"),
    (METRIC_LOG_RECORDS, "counter", "{record}", "Log records after the policy, by llama.log.severity"),
    (METRIC_EXITS, "counter", "{exit}", "Instance exits, by process.exit.code"),
    (METRIC_PEER_STATE, "gauge", "{state}", "RPC peer state per rpc.endpoint: 0 up, 1 degraded, 2 lost"),
    (METRIC_PEER_LOSSES, "counter", "{loss}", "RPC peers declared lost, per rpc.endpoint"),
    (METRIC_TELEMETRY_DROPPED, "counter", "{record}", "Telemetry records dropped because the export queue was full or the export failed, by otel.signal"),
    (METRIC_TELEMETRY_EXPORTED, "counter", "{record}", "Telemetry records exported successfully, by otel.signal"),
)
