"""The standard OTEL_* variables, each with its observed effect on the real exporters.

One table: (variables, what must be seen). Every row builds the providers with
`setup_telemetry` in an environment holding only that row's OTEL_* variables, emits five
spans, five log records and one counter, shuts down, and looks at what a real OTLP
receiver (`otlp_receiver.py`: OTLP/HTTP and OTLP/gRPC from the opentelemetry-proto
service definitions, TLS when asked), the output directory or stdout got.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from opentelemetry._logs import LogRecord, SeverityNumber

import otlp_files
from otlp_receiver import OtlpReceiver, self_signed
from otel_plugins.sinks.exporter_config import ConfigError, resolve_log_exporters
from otel_plugins.sinks.telemetry import setup_telemetry

REPO = Path(__file__).resolve().parent.parent
SPANS = LOGS = 5


@dataclass
class Run:
    """What one row produced."""

    receiver: OtlpReceiver
    out: Path
    stdout: str
    telemetry: Any
    seen_before_shutdown: dict[str, int] = field(default_factory=dict)
    child_stats: dict[str, dict[str, int]] = field(default_factory=dict)  # rows run in a child process

    def files(self) -> set[str]:
        return {p.name for p in self.out.glob("*.jsonl")} if self.out.exists() else set()


@pytest.fixture
def clean_env(monkeypatch):
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE win over the exporter's own
    # certificate (OTEL_EXPORTER_OTLP_CERTIFICATE): see the README's Troubleshooting.
    for key in [k for k in os.environ if k.startswith("OTEL_") or k in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")]:
        monkeypatch.delenv(key)
    return monkeypatch


def emit_and_shut_down(env: dict[str, str], tmp_path: Path, monkeypatch, receiver: OtlpReceiver,
                       pause_s: float = 0.0, spans: int = SPANS, logs: int = LOGS) -> Run:  # fmt: skip
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(http=receiver.http_url, grpc=f"127.0.0.1:{receiver.grpc_port}", tmp=tmp_path))
    out = tmp_path / "out"
    telemetry = setup_telemetry("svc-default", out)
    tracer = telemetry.tracer_provider.get_tracer("test")
    for i in range(spans):
        with tracer.start_as_current_span("s", attributes={"i": i, "j": -i}):
            pass
    logger = telemetry.logger_provider.get_logger("test")
    for i in range(logs):
        logger.emit(LogRecord(body=f"line {i}", severity_number=SeverityNumber.INFO, severity_text="INFO"))
        telemetry.stats.count_emitted("logs")
    telemetry.meter_provider.get_meter("test").create_counter("c").add(1)
    seen = {}
    if pause_s:
        time.sleep(pause_s)
        seen = {s: len(receiver.items(s)) for s in ("traces", "logs", "metrics")}
    telemetry.shutdown()
    return Run(receiver, out, "", telemetry, seen)


CHILD = """
import json, sys
from opentelemetry._logs import LogRecord
from otel_plugins.sinks.telemetry import setup_telemetry
telemetry = setup_telemetry("svc-default", sys.argv[1])
tracer = telemetry.tracer_provider.get_tracer("test")
for i in range({spans}):
    with tracer.start_as_current_span("s"):
        pass
logger = telemetry.logger_provider.get_logger("test")
for i in range({logs}):
    logger.emit(LogRecord(body=f"line {{i}}"))
    telemetry.stats.count_emitted("logs")
telemetry.shutdown()
stats = telemetry.stats
print(json.dumps({{"exported": stats.exported, "failed": stats.failed, "emitted": stats.emitted}}), file=sys.stderr)
"""


def run_in_child(env: dict[str, str], tmp_path: Path, receiver: OtlpReceiver) -> Run:
    """The same emission in a process of its own: the console exporters write to the real
    stdout (bound when the SDK is imported, so pytest's capture cannot see it in-process)."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    child_env.update({k: v.format(http=receiver.http_url, grpc=f"127.0.0.1:{receiver.grpc_port}", tmp=tmp_path) for k, v in env.items()})
    child_env["PYTHONPATH"] = str(REPO)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-c", CHILD.format(spans=SPANS, logs=LOGS), str(out)], env=child_env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return Run(receiver, out, done.stdout, None, child_stats=json.loads(done.stderr.strip().splitlines()[-1]))


def kinds(run: Run, signal: str) -> set[tuple[str, str]]:
    return {(r.transport, r.content_type.split(";")[0]) for r in run.receiver.requests(signal)}


# -- the rows: (id, variables, check) ---------------------------------------------------------------

def default_files(run: Run) -> None:
    assert run.files() == {"traces.jsonl", "metrics.jsonl", "logs.jsonl"}
    assert len(otlp_files.spans(run.out)) == SPANS and len(otlp_files.logs(run.out)) == LOGS
    assert not run.receiver.requests()
    assert run.telemetry.output_dir == run.out


def http_protobuf(run: Run) -> None:
    for signal in ("traces", "metrics", "logs"):
        assert kinds(run, signal) == {("http", "application/x-protobuf")}, signal
        assert {r.path for r in run.receiver.requests(signal)} == {f"/v1/{signal}"}
    assert len(run.receiver.items("traces")) == SPANS and len(run.receiver.items("logs")) == LOGS
    assert run.files() == set() and run.telemetry.output_dir is None


def http_json(run: Run) -> None:
    for signal in ("traces", "metrics", "logs"):
        assert kinds(run, signal) == {("http", "application/json")}, signal
    assert len(run.receiver.items("traces")) == SPANS and len(run.receiver.items("logs")) == LOGS


def grpc_all(run: Run) -> None:
    for signal in ("traces", "metrics", "logs"):
        assert {r.transport for r in run.receiver.requests(signal)} == {"grpc"}, signal
    assert len(run.receiver.items("traces")) == SPANS and len(run.receiver.items("logs")) == LOGS


def traces_grpc_logs_http(run: Run) -> None:
    assert {r.transport for r in run.receiver.requests("traces")} == {"grpc"}
    assert kinds(run, "logs") == {("http", "application/x-protobuf")}


def logs_endpoint_only(run: Run) -> None:
    assert {r.path for r in run.receiver.requests("logs")} == {"/custom/logs"}
    assert not run.receiver.requests("traces") and not run.receiver.requests("metrics")
    assert run.files() == {"traces.jsonl", "metrics.jsonl"}  # no endpoint for them: the embedded default


def headers(run: Run) -> None:
    for signal in ("metrics", "logs"):
        for request in run.receiver.requests(signal):
            assert request.headers["api-key"] == "abc" and request.headers["x-tenant"] == "team 1", signal
    assert all(r.headers["api-key"] == "traces-key" for r in run.receiver.requests("traces"))


def grpc_headers(run: Run) -> None:
    assert run.receiver.requests("logs") and all(r.headers.get("api-key") == "abc" for r in run.receiver.requests())


def gzip_compression(run: Run) -> None:
    assert run.receiver.requests() and {r.content_encoding for r in run.receiver.requests()} == {"gzip"}
    assert len(run.receiver.items("logs")) == LOGS


def deflate_logs(run: Run) -> None:
    assert {r.content_encoding for r in run.receiver.requests("logs")} == {"deflate"}
    assert {r.content_encoding for r in run.receiver.requests("traces")} == {""}


def timeout_short(run: Run) -> None:
    # The receiver answers after 2 s: a 0.5 s timeout fails every export, the default 10 s would not.
    assert run.telemetry.stats.failed["traces"] == SPANS and run.telemetry.stats.exported["traces"] == 0


def timeout_default(run: Run) -> None:
    assert run.telemetry.stats.exported["traces"] == SPANS


def resource(run: Run) -> None:
    for attributes in run.receiver.resources("logs"):
        assert attributes["service.name"] == "from-variable"
        assert attributes["deployment.environment.name"] == "prod"


def resource_service_name(run: Run) -> None:
    assert {a["service.name"] for a in run.receiver.resources("traces")} == {"from-attributes"}


def sdk_disabled(run: Run) -> None:
    assert not run.receiver.requests() and not run.out.exists()
    assert run.telemetry.stats.emitted["logs"] == 0 and run.telemetry.stats.dropped()["logs"] == 0


def console_traces(run: Run) -> None:
    assert run.stdout.count('"name": "s"') == SPANS  # ConsoleSpanExporter's JSON, one object per span
    assert run.files() == {"metrics.jsonl", "logs.jsonl"}


def none_two_signals(run: Run) -> None:
    assert run.files() == {"traces.jsonl"}
    assert run.telemetry.stats.emitted["logs"] == 0  # a signal turned off is not counted as dropped


def otlp_and_console(run: Run) -> None:
    assert len(run.receiver.items("traces")) == SPANS
    assert run.stdout.count('"name": "s"') == SPANS
    assert run.child_stats["exported"]["traces"] == SPANS  # counted once, not per exporter


def upstream_file_by_name(run: Run) -> None:
    assert len(otlp_files.spans(run.out)) == SPANS
    assert run.receiver.requests("logs")  # the other signals follow the endpoint


def sampler_off(run: Run) -> None:
    assert not run.receiver.requests("traces") and run.receiver.requests("logs")


def bsp_batch(run: Run) -> None:
    sizes = [sum(len(s.get("spans", [])) for rs in r.body["resourceSpans"] for s in rs["scopeSpans"]) for r in run.receiver.requests("traces")]
    assert sum(sizes) == SPANS and max(sizes) <= 2, sizes


def blrp_batch(run: Run) -> None:
    sizes = [sum(len(s.get("logRecords", [])) for rl in r.body["resourceLogs"] for s in rl["scopeLogs"]) for r in run.receiver.requests("logs")]
    assert sum(sizes) == LOGS and max(sizes) <= 3, sizes


def blrp_delay(run: Run) -> None:
    assert run.seen_before_shutdown["logs"] == 0  # the default (1 s) would have sent them during the pause
    assert len(run.receiver.items("logs")) == LOGS  # shutdown flushes


def bsp_delay(run: Run) -> None:
    assert run.seen_before_shutdown["traces"] == 0
    assert len(run.receiver.items("traces")) == SPANS


def blrp_queue(run: Run) -> None:
    # 200 records into a queue of 2: most are dropped (a 4096 queue would take them all), and
    # the accounting stays exact: emitted = exported + dropped, exported = what arrived.
    stats = run.telemetry.stats
    assert stats.emitted["logs"] == 200 and 0 < stats.dropped()["logs"]
    assert stats.exported["logs"] + stats.dropped()["logs"] == 200
    assert len(run.receiver.items("logs")) == stats.exported["logs"]


def bsp_queue(run: Run) -> None:
    assert 0 < len(run.receiver.items("traces")) < 200


def metric_interval(run: Run) -> None:
    assert run.seen_before_shutdown["metrics"] >= 3  # our default (5 s) would have sent none in 1.5 s


def delta_temporality(run: Run) -> None:
    sums = [m["sum"] for m in run.receiver.items("metrics") if m["name"] == "c"]
    assert sums and all(s["aggregationTemporality"] == "AGGREGATION_TEMPORALITY_DELTA" for s in sums)


def span_attribute_limit(run: Run) -> None:
    spans = run.receiver.items("traces")
    assert len(spans) == SPANS and all(len(s.get("attributes", [])) == 1 and s["droppedAttributesCount"] == 1 for s in spans)


def tls_http(run: Run) -> None:
    assert len(run.receiver.items("logs")) == LOGS and run.receiver.http_url.startswith("https://")


def tls_untrusted(run: Run) -> None:
    assert not run.receiver.requests() and run.telemetry.stats.failed["traces"] == SPANS


def tls_grpc(run: Run) -> None:
    assert {r.transport for r in run.receiver.requests()} == {"grpc"} and len(run.receiver.items("logs")) == LOGS


ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "{http}"}
GRPC = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://{grpc}", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
SLOW_BATCHES = {"OTEL_BLRP_SCHEDULE_DELAY": "60000", "OTEL_BSP_SCHEDULE_DELAY": "60000"}
ROWS: list[tuple[str, dict[str, str], Callable[[Run], None], dict[str, Any]]] = [
    ("nothing set: OTLP JSON files", {}, default_files, {}),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", ENDPOINT, http_protobuf, {}),
    ("OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf", {**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, http_protobuf, {}),
    ("OTEL_EXPORTER_OTLP_PROTOCOL=http/json", {**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, http_json, {}),
    ("OTEL_EXPORTER_OTLP_PROTOCOL=grpc", GRPC, grpc_all, {}),
    ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL and _ENDPOINT", {**ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
                                                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://{grpc}"}, traces_grpc_logs_http, {}),
    ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT alone", {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "{http}/custom/logs"}, logs_endpoint_only, {}),
    ("OTEL_EXPORTER_OTLP_HEADERS and _TRACES_HEADERS", {**ENDPOINT, "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc,x-tenant=team%201",
                                                       "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "api-key=traces-key"}, headers, {}),
    ("OTEL_EXPORTER_OTLP_HEADERS over gRPC", {**GRPC, "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc"}, grpc_headers, {}),
    ("OTEL_EXPORTER_OTLP_COMPRESSION=gzip", {**ENDPOINT, "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}, gzip_compression, {}),
    ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION=deflate", {**ENDPOINT, "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": "deflate"}, deflate_logs, {}),
    ("OTEL_EXPORTER_OTLP_TIMEOUT=0.5", {**ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "0.5"}, timeout_short, {"delay_s": 2.0}),
    ("OTEL_EXPORTER_OTLP_TIMEOUT unset", ENDPOINT, timeout_default, {"delay_s": 2.0}),
    ("OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES", {**ENDPOINT, "OTEL_SERVICE_NAME": "from-variable",
                                                       "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod"}, resource, {}),
    ("OTEL_RESOURCE_ATTRIBUTES service.name", {**ENDPOINT, "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes"}, resource_service_name, {}),
    ("OTEL_SDK_DISABLED=true", {**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, sdk_disabled, {}),
    ("OTEL_SDK_DISABLED=true, no endpoint", {"OTEL_SDK_DISABLED": "true"}, sdk_disabled, {}),
    ("OTEL_TRACES_EXPORTER=console", {"OTEL_TRACES_EXPORTER": "console"}, console_traces, {"child": True}),
    ("OTEL_METRICS_EXPORTER=none, OTEL_LOGS_EXPORTER=none", {"OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}, none_two_signals, {}),
    ("OTEL_TRACES_EXPORTER=otlp,console", {**ENDPOINT, "OTEL_TRACES_EXPORTER": "otlp,console"}, otlp_and_console, {"child": True}),
    ("OTEL_TRACES_EXPORTER=otlp_json_file", {**ENDPOINT, "OTEL_TRACES_EXPORTER": "otlp_json_file"}, upstream_file_by_name, {}),
    ("OTEL_TRACES_SAMPLER=always_off", {**ENDPOINT, "OTEL_TRACES_SAMPLER": "always_off"}, sampler_off, {}),
    ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2", {**ENDPOINT, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "2"}, bsp_batch, {}),
    ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=3", {**ENDPOINT, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "3"}, blrp_batch, {}),
    ("OTEL_BLRP_SCHEDULE_DELAY=60000", {**ENDPOINT, "OTEL_BLRP_SCHEDULE_DELAY": "60000"}, blrp_delay, {"pause_s": 2.5}),
    ("OTEL_BSP_SCHEDULE_DELAY=60000", {**ENDPOINT, "OTEL_BSP_SCHEDULE_DELAY": "60000"}, bsp_delay, {"pause_s": 2.5}),
    ("OTEL_BLRP_MAX_QUEUE_SIZE=2", {**ENDPOINT, **SLOW_BATCHES, "OTEL_BLRP_MAX_QUEUE_SIZE": "2",
                                    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "2"}, blrp_queue, {"logs": 200}),
    ("OTEL_BSP_MAX_QUEUE_SIZE=3", {**ENDPOINT, **SLOW_BATCHES, "OTEL_BSP_MAX_QUEUE_SIZE": "3",
                                   "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "3"}, bsp_queue, {"spans": 200}),
    ("OTEL_METRIC_EXPORT_INTERVAL=200", {**ENDPOINT, "OTEL_METRIC_EXPORT_INTERVAL": "200"}, metric_interval, {"pause_s": 1.5}),
    ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=delta", {**ENDPOINT, "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "delta"},
     delta_temporality, {}),
    ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=1", {**ENDPOINT, "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "1"}, span_attribute_limit, {}),
    ("OTEL_EXPORTER_OTLP_CERTIFICATE (HTTPS)", {**ENDPOINT, "OTEL_EXPORTER_OTLP_CERTIFICATE": "{tmp}/cert.pem"}, tls_http, {"tls": True}),
    ("HTTPS without OTEL_EXPORTER_OTLP_CERTIFICATE", ENDPOINT, tls_untrusted, {"tls": True}),
    ("OTEL_EXPORTER_OTLP_CERTIFICATE (gRPC)", {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://localhost:{grpc_port}", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                                               "OTEL_EXPORTER_OTLP_CERTIFICATE": "{tmp}/cert.pem"}, tls_grpc, {"tls": True}),
]  # fmt: skip


@pytest.mark.parametrize(("row", "env", "check", "options"), ROWS, ids=[r[0] for r in ROWS])
def test_variable_has_its_effect(row, env, check, options, tmp_path, clean_env):
    tls = self_signed(tmp_path) if options.get("tls") else None
    with OtlpReceiver(tls=tls, delay_s=options.get("delay_s", 0.0)) as receiver:
        env = {k: v.replace("{grpc_port}", str(receiver.grpc_port)) for k, v in env.items()}
        if options.get("child"):
            run = run_in_child(env, tmp_path, receiver)
        else:
            counts = {k: options[k] for k in ("spans", "logs") if k in options}
            run = emit_and_shut_down(env, tmp_path, clean_env, receiver, pause_s=options.get("pause_s", 0.0), **counts)
        check(run)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/xml", "OTEL_TRACES_EXPORTER": "otlp"}, "OTEL_EXPORTER_OTLP_PROTOCOL: 'http/xml' is not one of grpc, http/protobuf, http/json"),
        ({"OTEL_TRACES_EXPORTER": "zipkin_json"}, "OTEL_TRACES_EXPORTER: no traces exporter named 'zipkin_json' is installed"),
        ({"OTEL_LOGS_EXPORTER": "none,console"}, "OTEL_LOGS_EXPORTER: 'none' cannot be combined"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_COMPRESSION": "brotli"}, "OTEL_EXPORTER_OTLP_COMPRESSION: 'brotli' is not one of none, gzip, deflate"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "soon"}, "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: 'soon' is not a number of seconds"),
        ({"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "9000"}, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE (9000) must be greater than 0 and at most OTEL_BLRP_MAX_QUEUE_SIZE (4096)"),
        ({"OTEL_METRIC_EXPORT_INTERVAL": "often"}, "OTEL_METRIC_EXPORT_INTERVAL: 'often' is not a number"),
        ({"OTEL_PYTHON_ID_GENERATOR": "sequential"}, "OTEL_PYTHON_ID_GENERATOR: no id generator named 'sequential' is installed"),
    ],
    ids=lambda v: next(iter(v)) if isinstance(v, dict) else None,
)
def test_a_bad_value_is_one_line_naming_the_variable(env, message, tmp_path, clean_env):
    """The library raises ConfigError; the CLI prints that one line and exits with 2."""
    for key, value in env.items():
        clean_env.setenv(key, value)
    with pytest.raises(ConfigError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        setup_telemetry("svc", tmp_path / "out")
    log = tmp_path / "in.log"
    log.write_text("0.00.000.001 I main: loading model\n")
    done = subprocess.run([sys.executable, "-m", "otel_plugins", "replay", "--output-dir", str(tmp_path / "cli"), str(log)],
                          env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith(f"otel-plugins: {message}"), done.stderr


def test_one_resolution_for_every_log_path(tmp_path, clean_env):
    """`resolve_log_exporters` is the answer the LoggerProvider's exporter is built from: the
    values a path of its own would use (protocol, endpoint, headers, timeout, compression, TLS)."""
    clean_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    clean_env.setenv("OTEL_EXPORTER_OTLP_LOGS_HEADERS", "authorization=Bearer%20t")
    clean_env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "3")
    clean_env.setenv("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip")
    clean_env.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem")
    (config,) = resolve_log_exporters(os.environ, tmp_path)
    assert config.name == "otlp_proto_http"
    settings = config.otlp
    assert (settings.protocol, settings.endpoint, dict(settings.headers), settings.timeout_s, settings.compression, settings.certificate_file) == (
        "http/protobuf", "http://collector:4318/v1/logs", {"authorization": "Bearer t"}, 3.0, "gzip", "/etc/ca.pem"
    )
    clean_env.setenv("OTEL_LOGS_EXPORTER", "none")
    assert resolve_log_exporters(os.environ, tmp_path) == ()
    clean_env.delenv("OTEL_LOGS_EXPORTER")
    clean_env.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    (config,) = resolve_log_exporters(os.environ, tmp_path)
    assert (config.name, config.path) == ("otlp_json_file", tmp_path / "logs.jsonl")


def test_library_use_leaves_logging_alone(tmp_path, clean_env):
    """A host that calls setup_telemetry keeps its logging: no handler, filter or propagation change."""
    before = {name: (list(lg.handlers), list(lg.filters), lg.propagate, lg.level)
              for name, lg in (("", logging.getLogger()), ("opentelemetry", logging.getLogger("opentelemetry")))}  # fmt: skip
    telemetry = setup_telemetry("svc", tmp_path / "out")
    telemetry.shutdown()
    after = {name: (list(lg.handlers), list(lg.filters), lg.propagate, lg.level)
             for name, lg in (("", logging.getLogger()), ("opentelemetry", logging.getLogger("opentelemetry")))}  # fmt: skip
    assert after == before
