"""Every attribute, span, event and metric name the project emits, in one place.

Semantic-convention names where one exists (`url.path`, `process.exit.code`,
`exception.type`, ...); everything of the project's own under `llama.*`, never inside a
namespace the conventions own (`rpc.*`, `otel.*`, `process.*`, `log.record.*`). The
load span takes vLLM's name for the same stretch of time ("Overall Loading",
vllm-project/vllm#31162), so one query finds the loads of both.

`REFERENCE` describes each name (what it is on, its type or unit, its meaning); the
README's name table is generated from it (`python -m otel_plugins.names`) and a test
checks that every name a real run emits is in it. Change a name here or nowhere.
"""

from __future__ import annotations

from typing import NamedTuple

SERVICE_NAME = "service.name"  # resource

# Record fields: what the dialects read from a line, exported as log record attributes.
HTTP_METHOD = "http.request.method"
URL_PATH = "url.path"
URL_QUERY = "url.query"
URL_FULL = "url.full"
HTTP_STATUS = "http.response.status_code"
HTTP_RESPONSE_SIZE = "http.response.body.size"
NETWORK_PROTOCOL_VERSION = "network.protocol.version"
CLIENT_ADDRESS = "client.address"
CLIENT_PORT = "client.port"
SERVER_ADDRESS = "server.address"
SERVER_PORT = "server.port"
USER_AGENT = "user_agent.original"
HOST_NAME = "host.name"
CONTAINER_NAME = "container.name"
PROCESS_EXECUTABLE_NAME = "process.executable.name"
PROCESS_COMMAND_ARGS = "process.command_args"
PID = "process.pid"
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"
EXCEPTION_STACKTRACE = "exception.stacktrace"
REQUEST_ID = "llama.request.id"
REQUEST_COST_S = "llama.request.cost_s"
HTTP_STAGE = "llama.http.stage"  # request | response | exception
CONNECTION = "llama.http.connection"  # opened | closed (llama-box v2)
HEALTH_CHECK = "llama.health_check"
LOAD_BUFFER = "llama.load.buffer"  # as printed: CPU, CUDA0, Metal, RPC[host:port], RPC0[host:port]
LOAD_DEVICE = "llama.load.device"  # CPU, CUDA0, Metal, RPC
LOAD_SIZE_BYTES = "llama.load.size_bytes"
LOAD_PERCENT = "llama.load.percent"
LOAD_DOTS = "llama.load.dots"
LOAD_MMAP = "llama.load.mmap"
RPC_ENDPOINT = "llama.rpc.endpoint"  # host:port of an RPC server
RPC_MEMORY_BYTES = "llama.rpc.memory_bytes"
RPC_CAPACITY_BYTES = "llama.rpc.capacity_bytes"
RPC_VERSION = "llama.rpc.version"
GPU_INDEX = "llama.gpu.index"
MODEL_PATH = "llama.model.path"
MODEL_NAME = "llama.model.name"
ROUTER_PORT = "llama.router.port"
CRASH_PART = "llama.crash.part"  # head | backtrace | exception
RPC_CACHE_DIR = "llama.rpc.cache.dir"
RPC_CACHE_FILE = "llama.rpc.cache.file"
LOG_PREFIX = "llama.log.prefix"
LOG_TIME = "llama.log.time"
LOG_ENVELOPE = "llama.log.envelope"
LOG_ENVELOPE_TIME = "llama.log.envelope.time"
LOG_PROCESS = "llama.log.process"

# Attributes the pipeline adds to log records.
LOG_IOSTREAM = "log.iostream"  # stdout | stderr
LOG_FILE_PATH = "log.file.path"
LOG_FILE_NAME = "log.file.name"
ATTR_LOG_DIALECT = "llama.log.dialect"
ATTR_LOG_KIND = "llama.log.kind"
ATTR_LOG_PRODUCER = "llama.log.producer"
ATTR_LOG_TAG = "llama.log.tag"
ATTR_LOG_EVENT = "llama.log.event"
ATTR_SUPPRESSED_COUNT = "llama.suppressed.count"

# Span and event names.
SPAN_INSTANCE = "llama.instance"
SPAN_LOAD = "Overall Loading"  # vLLM's name for the same stretch: start until ready to serve
SPAN_TRANSFER = "llama.rpc.transfer"
SPAN_RPC_SERVER = "llama.rpc_server"
EVENT_PROGRESS = "llama.load.progress"
EVENT_READY = "llama.ready"
EVENT_LOG_ERROR = "llama.log.error"
EVENT_EXCEPTION = "exception"
EVENT_RPC_ACCEPTED = "llama.rpc.client.accepted"
EVENT_RPC_CLOSED = "llama.rpc.client.closed"
EVENT_PEER_LOST = "llama.rpc.peer.lost"
EVENT_PEER_DEGRADED = "llama.rpc.peer.degraded"
EVENT_PEER_RECOVERED = "llama.rpc.peer.recovered"

# Span, event and metric attributes beyond the semantic conventions.
ATTR_SERVER_KIND = "llama.server.kind"
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
ATTR_LOAD_DURATION = "llama.load.duration_s"
ATTR_INSTANCE_KEY = "llama.instance.key"
ATTR_EXIT_CODE = "process.exit.code"
ATTR_EXIT_SIGNAL = "llama.exit.signal"  # SIGTERM, SIGKILL, ...: the signal that ended the process
ATTR_EXIT_CAUSE = "llama.exit.cause"
ATTR_EXIT_REQUESTED = "llama.exit.requested"
ATTR_ERROR_EVENTS_DROPPED = "llama.log.error_events_dropped"
ATTR_LOG_BODY = "llama.log.body"
ATTR_PEER_SINCE_ACK = "llama.rpc.peer.since_last_ack_s"
ATTR_PEER_REASON = "llama.rpc.peer.reason"
ATTR_VERDICT = "llama.policy.verdict"
ATTR_REASON = "llama.policy.reason"
ATTR_LOAD_OUTCOME = "llama.load.outcome"  # ready | failed | exited
ATTR_LOG_SEVERITY = "llama.log.severity"  # a Severity name
ATTR_SIGNAL = "llama.telemetry.signal"  # traces | metrics | logs

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
METRIC_TELEMETRY_DROPPED = "llama.telemetry.dropped"
METRIC_TELEMETRY_EXPORTED = "llama.telemetry.exported"

METRICS: tuple[tuple[str, str, str, str], ...] = (
    (METRIC_PHASE, "gauge", "{phase}", "1 for the phase the instance is in (attribute llama.phase), 0 for the others"),
    (METRIC_PROGRESS, "gauge", "1", "Load progress ratio 0..1, per llama.rpc.endpoint (\"all\" for the whole load)"),
    (METRIC_BYTES_DONE, "gauge", "By", "Bytes of weights delivered so far, per llama.rpc.endpoint"),
    (METRIC_BYTES_TOTAL, "gauge", "By", "Bytes of weights to deliver, per llama.rpc.endpoint (from the buffer-size lines)"),
    (METRIC_RATE, "gauge", "By/s", "Transfer rate over the last progress interval, per llama.rpc.endpoint"),
    (METRIC_ETA, "gauge", "s", "Estimated seconds until the load completes, per llama.rpc.endpoint"),
    (METRIC_LOAD_DURATION, "histogram", "s", "Time from spawn until ready or failure, by llama.load.outcome"),
    (METRIC_DEADLINE, "gauge", "s", "Unix time at which a load still running is overdue (start + expected-load deadline), while loading"),
    (METRIC_PROBES, "counter", "{response}", "Probe responses seen, by url.path, http.response.status_code, llama.policy.verdict and llama.policy.reason"),
    (METRIC_SUPPRESSED, "counter", "{record}", "Lines dropped or sampled away (or shed: passed through unparsed under overload), by url.path, http.response.status_code and llama.policy.reason"),
    (METRIC_LOG_RECORDS, "counter", "{record}", "Log records after the policy, by llama.log.severity"),
    (METRIC_EXITS, "counter", "{exit}", "Instance exits, by process.exit.code, llama.exit.signal and llama.exit.requested"),
    (METRIC_PEER_STATE, "gauge", "{state}", "RPC peer state per llama.rpc.endpoint: 0 up, 1 degraded, 2 lost"),
    (METRIC_PEER_LOSSES, "counter", "{loss}", "RPC peers declared lost, per llama.rpc.endpoint"),
    (METRIC_TELEMETRY_DROPPED, "counter", "{record}", "Telemetry records dropped because the export queue was full or the export failed, by llama.telemetry.signal"),
    (METRIC_TELEMETRY_EXPORTED, "counter", "{record}", "Telemetry records exported successfully, by llama.telemetry.signal"),
)  # fmt: skip


class Name(NamedTuple):
    name: str
    on: str  # where it appears: log, span, event, metric (attributes), or span / event / metric names
    unit: str  # the value's type or unit
    meaning: str


_ATTRIBUTES: tuple[tuple[str, str, str, str], ...] = (
    # Semantic conventions.
    (SERVICE_NAME, "resource", "string", "OTEL_SERVICE_NAME, else the executable's name (`llama-serve-logs` for the Collector agent)"),
    (HTTP_METHOD, "log", "string", "HTTP method of an access line"),
    (URL_PATH, "log, metric", "string", "request path, without the query"),
    (URL_QUERY, "log", "string", "query string of the request target"),
    (URL_FULL, "log", "string", "absolute request URL, when the line prints one"),
    (HTTP_STATUS, "log, metric", "int", "HTTP status of an access line"),
    (HTTP_RESPONSE_SIZE, "log", "By", "response body size an access line prints"),
    (NETWORK_PROTOCOL_VERSION, "log", "string", "HTTP version an access line prints (1.1, 2)"),
    (CLIENT_ADDRESS, "log, event", "string", "client address of a request, or of an rpc-server connection"),
    (CLIENT_PORT, "log, event", "int", "client port"),
    (SERVER_ADDRESS, "log, span", "string", "address a server listens on"),
    (SERVER_PORT, "log, span", "int", "port a server listens on"),
    (USER_AGENT, "log", "string", "User-Agent of a request"),
    (HOST_NAME, "log", "string", "host name from a journald/syslog envelope"),
    (CONTAINER_NAME, "log", "string", "docker compose service of a prefixed line"),
    (PROCESS_EXECUTABLE_NAME, "log, span", "string", "executable of the instance, or the journald/syslog identifier"),
    (PROCESS_COMMAND_ARGS, "span", "string[]", "argv of the instance, secrets redacted"),
    (PID, "log, span", "int", "process id"),
    (EXCEPTION_TYPE, "log, event", "string", "what failed: the abort kind (GGML_ASSERT, std::terminate, a C++ exception type) or a Python exception class"),
    (EXCEPTION_MESSAGE, "log, event", "string", "the crash line or exception message"),
    (EXCEPTION_STACKTRACE, "log, event", "string", "the backtrace printed after a crash"),
    (LOG_IOSTREAM, "log", "string", "stdout or stderr: the stream the line came on"),
    (LOG_FILE_PATH, "log", "string", "the file a tailed line came from"),
    (LOG_FILE_NAME, "log", "string", "its base name"),
    (ATTR_EXIT_CODE, "span, metric", "int", "exit code as a shell reports it (128 + N when killed by signal N)"),
    # The project's own.
    (REQUEST_ID, "log", "string", "request id (llama-box `rid`, llama.cpp task id); empty while llama-box loads"),
    (REQUEST_COST_S, "log", "s", "request duration the server prints"),
    (HTTP_STAGE, "log", "string", "request, response or exception (llama-box v2)"),
    (CONNECTION, "log", "string", "opened or closed (llama-box v2)"),
    (HEALTH_CHECK, "log", "bool", "a proxy's own health-check result line (llama-swap)"),
    (LOAD_BUFFER, "log", "string", "buffer of a load line as printed: CPU, CUDA0, RPC[host:port]"),
    (LOAD_DEVICE, "log", "string", "its device: CPU, CUDA0, Metal, RPC"),
    (LOAD_SIZE_BYTES, "log", "By", "model buffer size of a load line"),
    (LOAD_PERCENT, "log", "%", "llama-box's `loaded N% model tensors` progress"),
    (LOAD_DOTS, "log", "int", "llama.cpp progress dots on the line (a heartbeat, not a percentage)"),
    (LOAD_MMAP, "log", "bool", "whether the load line says the model is memory-mapped"),
    (RPC_ENDPOINT, "log, span, event, metric", "string", "host:port of an RPC server the instance sends weights to"),
    (RPC_MEMORY_BYTES, "log", "By", "memory an rpc-server reports or allocates"),
    (RPC_CAPACITY_BYTES, "log", "By", "an rpc-server's announced capacity"),
    (RPC_VERSION, "log", "string", "rpc-server protocol version"),
    (GPU_INDEX, "log", "int", "GPU index of a GPUStack rpc-server line"),
    (MODEL_PATH, "log", "string", "model path a line names"),
    (MODEL_NAME, "log, span, metric", "string", "model name (the -m file's stem, or --alias)"),
    (ROUTER_PORT, "log", "int", "llama-server router child port of a `[port]` prefixed line"),
    (CRASH_PART, "log", "string", "head, backtrace or exception: the part of a crash dump or Python traceback a line is (`run` folds them into one record)"),
    (RPC_CACHE_DIR, "log", "string", "an rpc-server's tensor cache directory (`-c`)"),
    (RPC_CACHE_FILE, "log", "string", "one tensor file the rpc-server saved to its cache"),
    (LOG_PREFIX, "log", "string", "an unknown prefix in front of a known line (a supervisor's or app's own), as printed"),
    (LOG_TIME, "log", "string", "the line's wall-clock time as printed"),
    (LOG_ENVELOPE, "log", "string", "envelope peeled off the line: journald, syslog, compose, process, rank, router, container_time, ..."),
    (LOG_ENVELOPE_TIME, "log", "string", "the envelope's time as printed"),
    (LOG_PROCESS, "log", "string", "vLLM/SGLang process role of `(APIServer pid=1)`"),
    (ATTR_LOG_DIALECT, "log, event", "string", "the dialect that parsed the line"),
    (ATTR_LOG_KIND, "log", "string", "probe, access, load, lifecycle, rpc, error, other"),
    (ATTR_LOG_PRODUCER, "log", "string", "the program that printed the line (llama-box, llama.cpp, uvicorn, ...)"),
    (ATTR_LOG_TAG, "log", "string", "function or tag the line names (`srv`, `load_tensors`, ...)"),
    (ATTR_LOG_EVENT, "log", "string", "lifecycle or RPC event the line marks"),
    (ATTR_SUPPRESSED_COUNT, "log", "int", "probe lines a sampling summary stands for"),
    (ATTR_VERDICT, "log, metric", "string", "the policy's verdict: keep, downgrade, drop, sample"),
    (ATTR_REASON, "log, metric", "string", "why: probe_while_loading, probe_failed_after_ready, probe_failure_repeated, sampled, phase_change, repeated_under_overload, ..."),
    (ATTR_SERVER_KIND, "span, metric", "string", "llama-box, llama-server, rpc-server, ... (generic for any other command)"),
    (ATTR_RPC_ENDPOINTS, "span", "string[]", "the --rpc endpoints of the launch"),
    (ATTR_TENSOR_SPLIT, "span", "string", "the --tensor-split of the launch"),
    (ATTR_INSTANCE_KEY, "span, metric", "string", "--instance-key: launches sharing it share one trace"),
    (ATTR_PHASE, "metric", "string", "starting, loading, ready, failed, exited"),
    (ATTR_PROGRESS_RATIO, "event", "1", "load progress 0..1"),
    (ATTR_BYTES_DONE, "span, event", "By", "weight bytes delivered"),
    (ATTR_BYTES_TOTAL, "span, event", "By", "weight bytes to deliver"),
    (ATTR_BYTES_CACHED, "span, event", "By", "of the bytes delivered, those the RPC server took from its tensor cache"),
    (ATTR_RATE, "event", "By/s", "transfer rate"),
    (ATTR_ETA, "event", "s", "estimated time to the end of the load"),
    (ATTR_SOURCE, "span, event", "string", "where progress comes from: tcp, percent, dots, buffer"),
    (ATTR_LOAD_DURATION, "event", "s", "spawn to ready"),
    (ATTR_LOAD_OUTCOME, "metric", "string", "ready, failed, exited"),
    (ATTR_EXIT_SIGNAL, "span, metric", "string", "signal that ended the process (SIGTERM, SIGKILL, ...)"),
    (ATTR_EXIT_CAUSE, "span", "string", "the crash line and the last RPC event before a failed exit"),
    (ATTR_EXIT_REQUESTED, "span, metric", "bool", "true when the exit followed a stop the wrapper forwarded"),
    (ATTR_ERROR_EVENTS_DROPPED, "span", "int", "ERROR lines beyond the span's event budget"),
    (ATTR_LOG_BODY, "event", "string", "the ERROR line of a llama.log.error event"),
    (ATTR_PEER_SINCE_ACK, "log, event", "s", "seconds since the RPC peer last acknowledged a byte"),
    (ATTR_PEER_REASON, "log, event", "string", "why the peer was declared degraded or lost"),
    (ATTR_LOG_SEVERITY, "metric", "string", "severity name after the policy"),
    (ATTR_SIGNAL, "metric", "string", "traces, metrics or logs"),
)  # fmt: skip

_SPANS_AND_EVENTS: tuple[tuple[str, str, str, str], ...] = (
    (SPAN_INSTANCE, "span name", "", "one launch of a server, spawn to exit"),
    (SPAN_RPC_SERVER, "span name", "", "one launch of an rpc-server"),
    (SPAN_LOAD, "span name", "", "spawn until ready or failure; vLLM's name for its own load span"),
    (SPAN_TRANSFER, "span name", "", "the weight transfer to one RPC endpoint"),
    (EVENT_PROGRESS, "event name", "", "load progress, throttled (5 % and 2 s)"),
    (EVENT_READY, "event name", "", "the instance is ready to serve"),
    (EVENT_LOG_ERROR, "event name", "", "an ERROR line of the server"),
    (EVENT_EXCEPTION, "event name", "", "a crash dump folded into one (exception.* attributes)"),
    (EVENT_RPC_ACCEPTED, "event name, log event", "", "an rpc-server accepted a client"),
    (EVENT_RPC_CLOSED, "event name, log event", "", "an rpc-server's client went away"),
    (EVENT_PEER_DEGRADED, "event name, log event", "", "an RPC peer is slow or not acknowledging"),
    (EVENT_PEER_LOST, "event name, log event", "", "an RPC peer is gone"),
    (EVENT_PEER_RECOVERED, "event name, log event", "", "an RPC peer works again"),
)  # fmt: skip

REFERENCE: tuple[Name, ...] = (
    *(Name(*row) for row in _SPANS_AND_EVENTS),
    *(Name(name, f"metric ({kind})", unit, description) for name, kind, unit, description in METRICS),
    *(Name(*row) for row in _ATTRIBUTES),
)


def markdown_table() -> str:
    """The README's table of names, generated from REFERENCE."""
    rows = ["| name | on | type / unit | meaning |", "|---|---|---|---|"]
    for entry in REFERENCE:
        unit = f"`{entry.unit}`" if entry.unit else ""
        rows.append(f"| `{entry.name}` | {entry.on} | {unit} | {entry.meaning} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
