"""`otel-plugins processor` as a service: what it does to records, and what it answers, over real
gRPC and HTTP, in front of a real Collector (the gateway, file exporter).

- per-stream state across protocols and batches; attributes added, never overwritten; records
  that are not a server's line pass through as sent; resources untouched;
- next hop down: 503 + Retry-After (HTTP) and UNAVAILABLE (gRPC); the sender's retry of the same
  batch is forwarded as decided the first time (each line counted once);
- at most --max-in-flight batches held: one more is refused at once while the others wait;
- requests it can never take (404, 415, 400, 413) are answered so, nothing is forwarded;
- SIGTERM and idle expiry close streams: the crash dump still open leaves as its record;
- bad flags: one line, exit 2.

Binaries: scripts/build_collector.sh (otelcol). Skips only when it is missing.
"""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import threading
import time
from collections import Counter

import grpc
import pytest
import requests
from google.protobuf import json_format
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2_grpc import LogsServiceStub
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from processor_bed import CLI, Gateway, ProcessorProcess, metric_totals, python_env, wait_stable
from services import free_port, missing_reason

pytestmark = pytest.mark.collector

LOADING_503 = "0.00.007.180 I srv  log_server_r: request: GET /health 127.0.0.1 503"


def probe_503(n: int) -> str:
    """Another 503 probe line, told apart by its timestamp."""
    return LOADING_503.replace("0.00.007", f"0.0{n}.007")


READY = "0.01.001.000 I main: server is listening on http://127.0.0.1:8080 - starting the main loop"
CRASH = ["GGML_ASSERT(ctx->mem_buffer != NULL) failed", "#3  0x00007f1234 in ggml_abort () from /lib/libggml.so"]
PROTOBUF = {"Content-Type": "application/x-protobuf"}


@pytest.fixture(autouse=True)
def _otelcol():
    reason = missing_reason("otelcol")
    if reason:
        pytest.skip(reason)


def request(records: list[LogRecord], resource: dict[str, str]) -> ExportLogsServiceRequest:
    out = ExportLogsServiceRequest()
    resource_logs = out.resource_logs.add()
    resource_logs.resource.attributes.extend(KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in resource.items())
    resource_logs.scope_logs.add().log_records.extend(records)
    return out


def line(text: str, **attributes: str) -> LogRecord:
    record = LogRecord(body=AnyValue(string_value=text))
    record.attributes.extend(KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attributes.items())
    return record


def by_body(gateway: Gateway) -> dict[str, list[tuple[dict, dict]]]:
    out: dict[str, list] = {}
    for resource, record in gateway.resource_records():
        body = record["body"]
        out.setdefault(body if isinstance(body, str) else json.dumps(body, sort_keys=True), []).append((resource, record))
    return out


def test_streams_keep_their_own_phase_across_protocols(tmp_path):
    """Stream a's 503 after its ready line is WARN, stream b's is DEBUG; attributes added not overwritten; others untouched."""
    structured = LogRecord(severity_number=13, severity_text="WARN")
    structured.body.kvlist_value.CopyFrom(KeyValueList(values=[KeyValue(key="event", value=AnyValue(string_value="login"))]))
    own = LogRecord(body=AnyValue(string_value="user alice logged in"), severity_number=13, severity_text="WARN")
    mine = line(LOADING_503, **{"llama.log.kind": "mine"})
    with Gateway(tmp_path / "gw") as gateway, ProcessorProcess(gateway.forward_url, log=tmp_path / "p.err") as processor:
        json_body = json_format.MessageToJson(request([line(LOADING_503), mine, structured, own], {"service.instance.id": "a", "k8s.pod.name": "pod-a"}))
        answer = requests.post(processor.http_url, data=json_body, headers={"Content-Type": "application/json"}, timeout=30)
        assert answer.status_code == 200 and answer.headers["Content-Type"] == "application/json", answer.text
        body = gzip.compress(request([line(READY)], {"service.instance.id": "a"}).SerializeToString())
        answer = requests.post(processor.http_url, data=body, headers={**PROTOBUF, "Content-Encoding": "gzip"}, timeout=30)
        assert answer.status_code == 200, answer.content
        with grpc.insecure_channel(f"127.0.0.1:{processor.grpc_port}") as channel:
            stub = LogsServiceStub(channel)
            stub.Export(request([line(probe_503(7))], {"service.instance.id": "a"}), timeout=30)
            stub.Export(request([line(probe_503(8))], {"service.instance.id": "b"}), timeout=30)
        wait_stable(lambda: sum(map(len, by_body(gateway).values())), 7)
        records = by_body(gateway)
    kinds = {record["attrs"]["llama.log.kind"]: (resource, record) for resource, record in records[LOADING_503]}
    first, with_mine = kinds["probe"], kinds["mine"]
    assert first[1]["severity"] == "DEBUG" and first[1]["attrs"]["llama.policy.reason"] == "probe_while_loading"
    assert first[0] == {"service.instance.id": "a", "k8s.pod.name": "pod-a"}, first[0]
    assert with_mine[1]["attrs"]["llama.log.kind"] == "mine" and with_mine[1]["attrs"]["llama.policy.verdict"] == "downgrade"
    after_ready = records[probe_503(7)][0][1]
    assert after_ready["severity"] == "WARN" and after_ready["attrs"]["llama.policy.reason"] == "probe_failed_after_ready"
    other_stream = records[probe_503(8)][0][1]
    assert other_stream["severity"] == "DEBUG" and other_stream["attrs"]["llama.policy.reason"] == "probe_while_loading"
    assert records[READY][0][1]["attrs"]["llama.log.event"] == "ready"
    untouched = records["user alice logged in"][0][1]
    assert untouched["severity"] == "WARN" and untouched["attrs"] == {}
    (kvlist,) = records[json.dumps(json_format.MessageToDict(structured.body), sort_keys=True)]
    assert kvlist[1]["severity"] == "WARN" and kvlist[1]["attrs"] == {}


def test_next_hop_down_is_retry_and_the_retry_is_decided_once(tmp_path):
    """Gateway down: 503 + Retry-After and UNAVAILABLE; the same batches sent again later are forwarded once, counted once."""
    port = free_port()
    http_batch = request([line(LOADING_503), line(READY)], {"service.instance.id": "a"}).SerializeToString()
    grpc_batch = request([line(probe_503(9))], {"service.instance.id": "a"})
    forward = f"grpc://127.0.0.1:{port}"
    with ProcessorProcess(forward, ("--forward-timeout", "2"), log=tmp_path / "p.err") as processor:
        refused = requests.post(processor.http_url, data=http_batch, headers=PROTOBUF, timeout=30)
        assert refused.status_code == 503 and refused.headers["Retry-After"].isdigit(), refused.headers
        assert Status.FromString(refused.content).code == 14  # UNAVAILABLE
        with grpc.insecure_channel(f"127.0.0.1:{processor.grpc_port}") as channel:
            with pytest.raises(grpc.RpcError) as failure:
                LogsServiceStub(channel).Export(grpc_batch, timeout=30)
            assert failure.value.code() is grpc.StatusCode.UNAVAILABLE
            gateway = Gateway(tmp_path / "gw", grpc_port=port).start()
            try:
                # As a sender's queue does: again until taken (the processor's channel reconnects on its own backoff).
                statuses = [503]
                while statuses[-1] == 503 and len(statuses) < 60:
                    time.sleep(0.5)
                    statuses.append(requests.post(processor.http_url, data=http_batch, headers=PROTOBUF, timeout=30).status_code)
                assert statuses[-1] == 200, statuses
                LogsServiceStub(channel).Export(grpc_batch, timeout=30)
                wait_stable(lambda: len(gateway.records()), 3)
                processor.stop()
                wait_stable(lambda: len(metric_totals(gateway.out)), 1, settle_s=2.0)
            finally:
                gateway.stop()
    assert Counter(r["body"] for r in gateway.records()) == {LOADING_503: 1, READY: 1, probe_503(9): 1}
    after = next(r for r in gateway.records() if r["body"] == probe_503(9))
    assert after["severity"] == "WARN"  # decided after READY: the first attempt's decision, kept
    records_counted = sum(v for (name, _attrs), v in metric_totals(gateway.out).items() if name == "llama.log.records")
    assert records_counted == 3  # each line once, though each batch was received twice


def test_batches_beyond_the_limit_are_refused_at_once(tmp_path):
    """--max-in-flight 2 with a next hop that never answers: a third batch is refused while the first two still wait."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # never accepted: connections open, requests never answered
    forward = f"http://127.0.0.1:{silent.getsockname()[1]}"
    try:
        with ProcessorProcess(forward, ("--max-in-flight", "2", "--forward-timeout", "5"), log=tmp_path / "p.err") as processor:
            answers: dict[int, requests.Response] = {}

            def send(n: int) -> None:
                body = request([line(probe_503(n))], {"service.instance.id": "a"}).SerializeToString()
                answers[n] = requests.post(processor.http_url, data=body, headers=PROTOBUF, timeout=60)

            held = [threading.Thread(target=send, args=(n,)) for n in (1, 2)]
            for thread in held:
                thread.start()
            time.sleep(1.0)  # both admitted and forwarding
            send(3)
            assert all(thread.is_alive() for thread in held), "the held batches were answered before the refused one"
            assert answers[3].status_code == 503 and answers[3].headers["Retry-After"] == "1"
            for thread in held:
                thread.join(30)
            assert [answers[n].status_code for n in (1, 2)] == [503, 503]  # the next hop timed out: retry
    finally:
        silent.close()


@pytest.mark.parametrize(
    ("path", "headers", "body", "status"),
    [
        ("/v1/traces", PROTOBUF, b"", 404),
        ("/v1/logs", {"Content-Type": "text/plain"}, b"hello", 415),
        ("/v1/logs", PROTOBUF, b"\xff\xff\xff", 400),
        ("/v1/logs", {"Content-Type": "application/json"}, b"{not json", 400),
        ("/v1/logs", {**PROTOBUF, "Content-Encoding": "br"}, b"x", 415),
        ("/v1/logs", {**PROTOBUF, "Content-Encoding": "gzip"}, gzip.compress(b"\0" * (3 << 20)), 413),
        ("/v1/logs", PROTOBUF, b"\0" * (3 << 20), 413),
    ],
)
def test_requests_that_can_never_succeed(tmp_path, path, headers, body, status):
    """Wrong path, type, encoding, body or size: answered with a 4xx and a Status, nothing forwarded."""
    with Gateway(tmp_path / "gw") as gateway, ProcessorProcess(gateway.forward_url, ("--max-request-mib", "2"), log=tmp_path / "p.err") as processor:
        answer = requests.post(f"http://127.0.0.1:{processor.http_port}{path}", data=body, headers=headers, timeout=30)
        assert answer.status_code == status, answer.content
        if answer.headers["Content-Type"] == "application/json":
            assert json.loads(answer.content)["message"]
        else:
            assert Status.FromString(answer.content).code == 3 and Status.FromString(answer.content).message  # INVALID_ARGUMENT
        # The processor still serves.
        ok = requests.post(processor.http_url, data=request([line(READY)], {}).SerializeToString(), headers=PROTOBUF, timeout=30)
        assert ok.status_code == 200
        wait_stable(lambda: len(gateway.records()), 1)
        assert [r["body"] for r in gateway.records()] == [READY]


def test_sigterm_closes_streams_and_sends_what_they_made(tmp_path):
    """A crash dump still open at SIGTERM leaves as one ERROR record; exit 0 and a summary."""
    with Gateway(tmp_path / "gw") as gateway:
        processor = ProcessorProcess(gateway.forward_url, log=tmp_path / "p.err").start()
        body = request([line(text) for text in CRASH], {"service.instance.id": "a"}).SerializeToString()
        assert requests.post(processor.http_url, data=body, headers=PROTOBUF, timeout=30).status_code == 200
        assert processor.stop() == 0
        wait_stable(lambda: len(gateway.records()), 1)
        records = gateway.resource_records()
    assert len(records) == 1
    resource, crash = records[0]
    assert resource == {"service.instance.id": "a"}
    assert crash["severity"] == "ERROR" and crash["attrs"]["exception.type"] == "GGML_ASSERT" and crash["body"] == CRASH[0]
    assert CRASH[1] in crash["attrs"]["exception.stacktrace"]
    assert "1 streams; batches forwarded 1" in processor.stderr() and "crash dumps folded 1" in processor.stderr()


def test_idle_stream_expires_and_its_crash_record_leaves(tmp_path):
    """--stream-idle 1: the open dump of a stream that went quiet is sent without a shutdown."""
    with Gateway(tmp_path / "gw") as gateway, ProcessorProcess(gateway.forward_url, ("--stream-idle", "1"), log=tmp_path / "p.err") as processor:
        body = request([line(text, **{"log.file.path": "/var/log/x.log"}) for text in CRASH], {"host.name": "n1"}).SerializeToString()
        assert requests.post(processor.http_url, data=body, headers=PROTOBUF, timeout=30).status_code == 200
        wait_stable(lambda: len(gateway.records()), 1, timeout=30)
        records = gateway.resource_records()
    assert [(resource, record["attrs"]["exception.type"]) for resource, record in records] == [({"host.name": "n1"}, "GGML_ASSERT")]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "processor", *args], env=python_env(), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--grpc", "nohost", "--forward", "grpc://127.0.0.1:1"), "--grpc"),
        (("--http", "127.0.0.1:99999", "--forward", "grpc://127.0.0.1:1"), "--http"),
        (("--forward", "ftp://127.0.0.1:1"), "--forward"),
        (("--forward", "http://127.0.0.1:notaport"), "--forward"),
        ((), "OTEL_EXPORTER_OTLP_ENDPOINT"),
        (("--forward", "grpc://127.0.0.1:1", "--max-in-flight", "0"), "--max-in-flight"),
        (("--forward", "grpc://127.0.0.1:1", "--forward-timeout", "soon"), "--forward-timeout"),
        (("--forward", "grpc://127.0.0.1:1", "--stream-idle", "nan"), "--stream-idle"),
        (("--forward", "grpc://127.0.0.1:1", "--grpc", "none", "--http", "none"), "nothing to receive"),
        (("--forward", "grpc://127.0.0.1:4317", "--grpc", "127.0.0.1:4317"), "own --grpc"),
        (("--forward", "grpc://127.0.0.1:1", "--policy", "/nonexistent/policy.yaml"), "/nonexistent/policy.yaml"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(args, named):
    """Every bad flag exits 2 with one line naming it, before anything listens."""
    done = _cli(*args)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("otel-plugins: ") and named in lines[0], lines[0]


def test_a_taken_port_is_one_line_and_exit_2():
    """Another process on the --grpc port: exit 2 naming the address (no silent port sharing)."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        done = _cli("--grpc", address, "--http", "127.0.0.1:0", "--forward", "grpc://127.0.0.1:1")
    finally:
        taken.close()
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and f"--grpc {address}: cannot listen" in lines[0], done.stderr


def test_a_batch_grown_past_the_gateway_limit_goes_in_parts(tmp_path):
    """10000 probe lines in one request (0.76 MB) grow to 4.5 MB when decided, past the gateway's 4 MiB: forwarded in parts, each record once."""
    lines = [probe_503(0).replace("127.0.0.1 503", f"127.0.0.{n % 250 + 1} 503").replace("0.00.007.180", f"0.{n // 1000:02d}.{n % 1000:03d}.180")
             for n in range(10_000)]
    body = request([line(text) for text in lines], {"service.instance.id": "a"}).SerializeToString()
    with Gateway(tmp_path / "gw") as gateway, ProcessorProcess(gateway.forward_url, log=tmp_path / "p.err") as processor:
        answer = requests.post(processor.http_url, data=body, headers=PROTOBUF, timeout=60)
        assert answer.status_code == 200, answer.content
        wait_stable(lambda: len(gateway.records()), len(lines))
        records = gateway.records()
    assert Counter(r["body"] for r in records) == Counter(lines)
    assert {r["severity"] for r in records} == {"DEBUG"}


@pytest.mark.parametrize(
    ("forward", "environ", "endpoint", "metrics"),
    [
        ("http://gw:4318", {}, "http://gw:4318/v1/logs", "http://gw:4318/v1/metrics"),
        ("https://gw/otlp/", {}, "https://gw/otlp/v1/logs", "https://gw/otlp/v1/metrics"),
        ("http://gw:4318/v1/logs", {}, "http://gw:4318/v1/logs", "http://gw:4318/v1/metrics"),
        ("grpc://gw", {}, "gw:4317", "http://gw:4317"),
        ("grpcs://[::1]:5317", {}, "[::1]:5317", "https://[::1]:5317"),
        (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://gw:4318"}, "http://gw:4318/v1/logs", "http://gw:4318/v1/metrics"),
        (None, {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://gw:9/in", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:1"}, "http://gw:9/in", "http://gw:9/v1/metrics"),
        (None, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://gw:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "gw:4317", "http://gw:4317"),
    ],
)
def test_next_hop_from_flag_or_environment(forward, environ, endpoint, metrics):
    """--forward wins; else the logs endpoint as given, else the base endpoint with /v1/logs; metrics go alongside."""
    from otel_plugins.sinks.otlp_forward import resolve_target

    target = resolve_target(forward, environ)
    assert target.endpoint == endpoint
    assert target.metrics_environ()["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"] == metrics


def test_headers_and_compression_from_the_environment_never_in_the_name():
    """OTEL_EXPORTER_OTLP_HEADERS are sent (keys lower-cased, values URL-decoded), and never shown."""
    from otel_plugins.sinks.otlp_forward import resolve_target

    target = resolve_target("grpc://gw:4317", {"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20s3cret,x-tenant=a", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"})
    assert target.headers == (("authorization", "Bearer s3cret"), ("x-tenant", "a")) and target.compression == "gzip"
    assert "s3cret" not in str(target) and "s3cret" not in repr(target.metrics_environ())


def test_split_request_keeps_order_resources_and_every_record():
    """A request over the limit becomes parts under it, records in order, each with its resource and scope."""
    from otel_plugins.sinks.otlp_forward import split_request

    big = request([line(f"line {n:05d} " + "x" * 200) for n in range(3000)], {"service.instance.id": "a"})
    second = big.resource_logs.add()
    second.resource.attributes.add(key="service.instance.id").value.string_value = "b"
    second.scope_logs.add(scope={"name": "s"}).log_records.extend(line(f"other {n}") for n in range(10))
    parts = split_request(big, 100_000)
    assert len(parts) > 1 and all(part.ByteSize() <= 100_000 for part in parts)
    flat = [(rl.resource.attributes[0].value.string_value, sl.scope.name, r.body.string_value)
            for part in parts for rl in part.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    expected = [(rl.resource.attributes[0].value.string_value, sl.scope.name, r.body.string_value)
                for rl in big.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    assert flat == expected
